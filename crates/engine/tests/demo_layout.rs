//! The demo fleet through the layout locator (`serve --demo`): every demo
//! image is scanned by the fleet scanner from the OCI layout, matched and
//! stored, and the stored findings are the ones the demo crate's own test
//! pins in its snapshot.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::fleet::{FleetConfig, FleetScanner};
use engine::locate::{LayoutImage, LayoutLocator};
use k8s::DigestKind;
use store::{Page, ScanStatus, Sort, SqliteStore, Store, VulnerabilitySortField};
use support::*;
use time::OffsetDateTime;
use vulndb::VulnDb;

/// The demo test's `now`, so the images (and the snapshot) are the same.
fn demo_now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_736_935_200).expect("valid timestamp")
}

/// The demo crate's snapshot: one JSON object per image.
fn demo_snapshot() -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../demo/tests/snapshots/demo__demo_summary.snap");
    let text = std::fs::read_to_string(&path).expect("the demo snapshot");
    // insta's header is YAML between two `---` lines; the JSON follows.
    let body = text.splitn(3, "---\n").nth(2).expect("snapshot body");
    serde_json::from_str(body).expect("snapshot JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_image_scans_through_the_layout_with_the_demo_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = demo::build(&dir.path().join("demo"), demo_now()).expect("demo builds");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("store"))
            .await
            .expect("store"),
    );
    let db = VulnDb::open(&dir.path().join("data")).await.expect("db");
    let db_version = import(&db, &set.advisory_files).await;

    // One workload per demo image, so all sixteen are targets.
    let running: Vec<(String, model::Digest, DigestKind, String)> = set
        .images
        .iter()
        .map(|image| {
            (
                image.reference(),
                image.manifest_digest.clone(),
                DigestKind::Manifest,
                image.platform.to_string(),
            )
        })
        .collect();
    let running: Vec<(String, model::Digest, DigestKind, &str)> = running
        .iter()
        .map(|(r, d, k, p)| (r.clone(), d.clone(), *k, p.as_str()))
        .collect();
    assert_eq!(ingest(&store, &fleet_snapshot("demo", &running)).await, 16);

    let layout = oci::OciLayout::open(&set.layout).await.expect("layout");
    let images = set
        .images
        .iter()
        .map(|image| LayoutImage {
            repository: image.repository.clone(),
            tag: image.tag.clone(),
            manifest_digest: image.manifest_digest.clone(),
            ref_name: image.ref_name.clone(),
        })
        .collect();
    let scanner = FleetScanner::new(
        store.clone(),
        Arc::new(LayoutLocator::new(layout, images)),
        db.clone(),
        Arc::new(analyze::default_analyzers()),
        FleetConfig::default(),
    );
    let summary = scanner.run_until_idle().await;
    assert_eq!(summary.scanned, 16, "{summary:?}");

    let expected = demo_snapshot();
    assert_eq!(expected.len(), set.images.len());
    for image in &set.images {
        let label = format!("{} ({})", image.reference(), image.platform);
        let want = expected
            .iter()
            .find(|entry| entry["image"] == label.as_str())
            .unwrap_or_else(|| panic!("{label} not in the demo snapshot"));
        let details = store
            .image(&image.manifest_digest, OffsetDateTime::now_utc())
            .await
            .expect("image")
            .expect("stored");
        assert_eq!(details.status, ScanStatus::Scanned);
        assert_eq!(details.db_version, Some(db_version));
        assert_eq!(details.repository, image.repository);
        assert!(
            details.tags.iter().any(|t| t.tag == image.tag),
            "{label}: {:?}",
            details.tags
        );
        let sort = Sort {
            field: VulnerabilitySortField::Id,
            direction: store::Direction::Ascending,
        };
        let rows = store
            .image_vulnerabilities(&image.manifest_digest, &None, sort, Page::first(500), true)
            .await
            .expect("vulnerabilities")
            .items;
        let mut by_severity: BTreeMap<&str, u64> = BTreeMap::new();
        for row in &rows {
            *by_severity
                .entry(row.finding.severity.as_str())
                .or_default() += 1;
        }
        let mut kev: Vec<&str> = rows
            .iter()
            .filter(|r| r.finding.kev_date_added.is_some())
            .map(|r| r.finding.id.as_str())
            .collect();
        kev.sort_unstable();
        kev.dedup();
        let got = serde_json::json!({
            "findings": rows.len(),
            "fixable": details.fixable,
            "by_severity": by_severity,
            "kev": kev,
            "layers": details.metadata.layers.len(),
        });
        for field in ["findings", "fixable", "by_severity", "kev", "layers"] {
            assert_eq!(got[field], want[field], "{label}: {field}");
        }
    }
}
