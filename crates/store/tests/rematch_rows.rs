//! SQLite-specific: a re-match writes only the rows that changed. The
//! conformance suite checks what the report shows; this looks at the finding
//! rows themselves (their ids), which no `Store` method exposes.

use std::collections::BTreeSet;

use k8s::{ClusterStatus, DigestKind};
use model::{Finding, Severity};
use store::fixtures::{
    at, container, digest, finding, inventory, metadata, package_summaries, scan_record, workload,
};
use store::{ImageId, InventorySource, SqliteStore, Store};

/// Finding row ids of an image.
async fn row_ids(store: &SqliteStore, image: ImageId) -> BTreeSet<i64> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", store.path().display()))
        .await
        .unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM finding WHERE image_id = $1")
        .bind(image.0)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    ids.into_iter().collect()
}

fn findings() -> [Finding; 3] {
    [
        finding(
            "CVE-2024-0001",
            Severity::Critical,
            Some(9.8),
            ("openssl", "3.0.1"),
            0,
            Some("3.0.9"),
        ),
        finding(
            "CVE-2024-0003",
            Severity::Medium,
            Some(5.0),
            ("nginx", "1.25.0"),
            1,
            None,
        ),
        finding(
            "CVE-2025-0005",
            Severity::High,
            Some(8.1),
            ("libxml2", "2.9.14"),
            2,
            None,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rematch_keeps_unchanged_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let workloads = ["one", "two"]
        .iter()
        .map(|name| {
            workload(
                "ns",
                name,
                &[("app", name)],
                vec![container(
                    "main",
                    &format!("registry.example.com/{name}:1"),
                    Some((digest(name), DigestKind::Manifest)),
                    "linux/amd64",
                    true,
                )],
            )
        })
        .collect();
    store
        .apply_snapshot(
            &inventory("c", at(0), ClusterStatus::Ok, workloads),
            InventorySource::Local,
            at(0),
        )
        .await
        .unwrap();
    let [a, c, e] = findings();
    let mut images = Vec::new();
    for job in store.claim_scan_jobs(10, at(1)).await.unwrap() {
        let store::TargetReference::Digest { digest } = &job.target.reference else {
            panic!("digest targets only");
        };
        let record = scan_record(
            metadata(&job.target.repository, Some("1"), digest, 2),
            vec![a.clone(), c.clone()],
            1,
        );
        images.push(
            store
                .complete_scan(job.target.id, &record, at(1))
                .await
                .unwrap(),
        );
    }
    let [one, two] = images[..] else {
        panic!("two images")
    };
    let mut a_rescored = a.clone();
    a_rescored.epss = Some((0.3, 0.9));

    // (db version, findings of one, rows of one kept from the previous
    // step, rows of one written); image two always gets [a, c] again.
    let table: Vec<(i64, Vec<Finding>, usize, usize)> = vec![
        (2, vec![a.clone(), c.clone()], 2, 0),
        (3, vec![a.clone(), c.clone(), e.clone()], 2, 1),
        (4, vec![a_rescored.clone(), c.clone(), e.clone()], 2, 1),
        (5, vec![a_rescored.clone(), e.clone()], 2, 0),
    ];
    for (version, one_findings, kept, written) in table {
        let before_one = row_ids(&store, one).await;
        let before_two = row_ids(&store, two).await;
        store
            .replace_findings(
                one,
                &one_findings,
                &package_summaries(&one_findings),
                version,
                at(2),
            )
            .await
            .unwrap();
        let two_findings = [a.clone(), c.clone()];
        store
            .replace_findings(
                two,
                &two_findings,
                &package_summaries(&two_findings),
                version,
                at(2),
            )
            .await
            .unwrap();
        let after_one = row_ids(&store, one).await;
        assert_eq!(
            after_one.intersection(&before_one).count(),
            kept,
            "db {version}"
        );
        assert_eq!(
            after_one.difference(&before_one).count(),
            written,
            "db {version}"
        );
        assert_eq!(
            row_ids(&store, two).await,
            before_two,
            "db {version}: two untouched"
        );
    }
}
