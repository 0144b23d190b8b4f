use advisory::ImportReport;
use model::{
    AdvisorySource, AffectedPackage, AffectedRange, CveEnrichment, ImageInventory, OsFamily,
    OsInfo, Package, PackageKind, RangeEvent, RangeKind,
};

use super::*;

fn advisory(id: &str, ecosystem: &str, name: &str, fixed: &str) -> model::Advisory {
    model::Advisory {
        id: id.to_owned(),
        source: AdvisorySource::Osv,
        aliases: vec![format!("CVE-{id}")],
        upstream: Vec::new(),
        related: Vec::new(),
        summary: Some(format!("summary of {id}")),
        details: None,
        published: None,
        modified: Some("2024-01-01T00:00:00Z".to_owned()),
        withdrawn: None,
        severity: Vec::new(),
        database_severity: None,
        affected: vec![AffectedPackage {
            ecosystem: ecosystem.to_owned(),
            name: name.to_owned(),
            ranges: vec![AffectedRange {
                kind: RangeKind::Ecosystem,
                events: vec![
                    RangeEvent::Introduced("0".to_owned()),
                    RangeEvent::Fixed(fixed.to_owned()),
                ],
            }],
            ..AffectedPackage::default()
        }],
        references: Vec::new(),
    }
}

fn feed(name: &str) -> FeedInfo {
    FeedInfo {
        name: name.to_owned(),
        kind: "osv".to_owned(),
        origin: format!("/data/{name}"),
        cursor: None,
    }
}

fn enrichment(cve: &str, epss: f64) -> CveEnrichment {
    CveEnrichment {
        cve: cve.to_owned(),
        epss: Some((epss, 0.5)),
        ..CveEnrichment::default()
    }
}

fn python_image(packages: &[(&str, &str)]) -> ImageInventory {
    ImageInventory {
        os: None,
        packages: packages
            .iter()
            .map(|&(name, version)| Package::new(PackageKind::Python, name, version))
            .collect(),
        diagnostics: Vec::new(),
    }
}

async fn rows(db: &VulnDb, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

fn feed_counts(status: &DbStatus) -> Vec<(String, u64, u64)> {
    status
        .feeds
        .iter()
        .map(|f| (f.name.clone(), f.advisories, f.enrichments))
        .collect()
}

#[tokio::test]
async fn replace_upsert_duplicates_cascade_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::open(dir.path()).await.unwrap();
    assert_eq!(db.status().await.unwrap().database_version, 0);
    assert_eq!(db.version().await.unwrap(), crate::DbVersion::default());

    // Duplicate IDs within a feed are kept (the tracker emits one per package).
    let mut tx = db.begin_import().await.unwrap();
    let written = tx
        .replace_feed(
            feed("pypi"),
            vec![
                advisory("A-1", "PyPI", "Django", "2.2.1"),
                advisory("A-1", "PyPI", "django-extra", "1.0"),
                advisory("A-2", "PyPI", "PyYAML", "5.4"),
            ],
            vec![enrichment("CVE-A-1", 0.1)],
            &ImportReport::default(),
        )
        .await
        .unwrap();
    assert_eq!(written, (3, 1));
    tx.replace_feed(
        feed("other"),
        vec![advisory("B-1", "Packagist", "x/y", "1")],
        Vec::new(),
        &ImportReport::default(),
    )
    .await
    .unwrap();
    assert_eq!(tx.commit().await.unwrap(), 1);
    let status = db.status().await.unwrap();
    assert_eq!(status.database_version, 1);
    assert!(status.updated_at.is_some());
    let version = db.version().await.unwrap();
    assert_eq!(
        (version.database_version, version.updated_at),
        (1, status.updated_at)
    );
    assert_eq!(
        feed_counts(&status),
        [("other".to_owned(), 1, 0), ("pypi".to_owned(), 3, 1)]
    );
    let ecosystems: Vec<(&str, u64, bool)> = status
        .ecosystems
        .iter()
        .map(|e| (e.ecosystem.as_str(), e.advisories, e.matched))
        .collect();
    assert_eq!(ecosystems, [("Packagist", 1, false), ("PyPI", 3, true)]);
    assert_eq!(rows(&db, "affected").await, 4);

    // Upsert: A-1 (both rows) replaced by one, A-2 removed, A-3 added.
    let mut tx = db.begin_import().await.unwrap();
    let mut info = feed("pypi");
    info.cursor = Some("2024-06-01T00:00:00Z".to_owned());
    tx.upsert(
        info,
        vec![
            advisory("A-1", "PyPI", "Django", "2.2.2"),
            advisory("A-3", "PyPI", "requests", "2.0"),
        ],
        &["A-2".to_owned()],
        vec![enrichment("CVE-A-1", 0.9)],
        &ImportReport::default(),
    )
    .await
    .unwrap();
    assert_eq!(tx.commit().await.unwrap(), 2);
    let status = db.status().await.unwrap();
    assert_eq!(
        feed_counts(&status),
        [("other".to_owned(), 1, 0), ("pypi".to_owned(), 2, 1)]
    );
    assert_eq!(
        db.feed_cursor("pypi").await.unwrap().as_deref(),
        Some("2024-06-01T00:00:00Z")
    );
    assert_eq!(db.feed_cursor("missing").await.unwrap(), None);
    // Deleted advisories took their affected rows with them.
    assert_eq!(rows(&db, "affected").await, 3);
    let loaded = db
        .load_index_for(&python_image(&[("django", "2.2.1"), ("PyYAML", "5.1")]))
        .await
        .unwrap();
    let findings = matching::match_image(
        &python_image(&[("django", "2.2.1"), ("PyYAML", "5.1")]),
        &loaded.index,
    )
    .findings;
    let found: Vec<(&str, Option<&str>, Option<f64>)> = findings
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.fixed_version.as_deref(),
                f.epss.map(|e| e.0),
            )
        })
        .collect();
    assert_eq!(found, [("CVE-A-1", Some("2.2.2"), Some(0.9))]);
    assert_eq!(loaded.database_version, 2);

    // Replacing a feed with nothing empties it (cascade through feed → advisory → affected).
    let mut tx = db.begin_import().await.unwrap();
    tx.replace_feed(
        feed("pypi"),
        Vec::new(),
        Vec::new(),
        &ImportReport::default(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows(&db, "affected").await, 1);
    assert_eq!(rows(&db, "enrichment").await, 0);
    assert_eq!(db.load_index().await.unwrap().index.len(), 1);
}

#[tokio::test]
async fn an_uncommitted_import_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::open(dir.path()).await.unwrap();
    let mut tx = db.begin_import().await.unwrap();
    tx.replace_feed(
        feed("pypi"),
        vec![advisory("A-1", "PyPI", "Django", "2.2.1")],
        Vec::new(),
        &ImportReport::default(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin_import().await.unwrap();
    tx.replace_feed(
        feed("pypi"),
        Vec::new(),
        Vec::new(),
        &ImportReport::default(),
    )
    .await
    .unwrap();
    drop(tx);
    let status = db.status().await.unwrap();
    assert_eq!(status.database_version, 1);
    assert_eq!(feed_counts(&status), [("pypi".to_owned(), 1, 0)]);
}

#[tokio::test]
async fn open_existing_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    assert!(VulnDb::open_existing(&missing).await.unwrap().is_none());
    assert!(!missing.exists(), "a reader must not create the directory");

    std::fs::write(dir.path().join(DATABASE_FILE), vec![b'x'; 8192]).unwrap();
    let error = VulnDb::open_existing(dir.path()).await.unwrap_err();
    assert!(
        matches!(error, VulnDbError::NotADatabase { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("not an advisory database"),
        "{error}"
    );

    let good = tempfile::tempdir().unwrap();
    VulnDb::open(good.path()).await.unwrap().close().await;
    let db = VulnDb::open_existing(good.path()).await.unwrap().unwrap();
    assert_eq!(db.status().await.unwrap().feeds, []);
}

#[tokio::test]
async fn corrupt_bodies_are_diagnosed_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::open(dir.path()).await.unwrap();
    let mut tx = db.begin_import().await.unwrap();
    tx.replace_feed(
        feed("pypi"),
        vec![
            advisory("A-1", "PyPI", "Django", "2.2.1"),
            advisory("A-2", "PyPI", "Django", "3.0"),
        ],
        Vec::new(),
        &ImportReport::default(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE advisory SET body = x'28b52ffd00' WHERE advisory_id = 'A-1'")
        .execute(&db.pool)
        .await
        .unwrap();
    let loaded = db.load_index().await.unwrap();
    assert_eq!(loaded.index.len(), 1);
    assert_eq!(loaded.diagnostics.len(), 1);
    assert!(loaded.diagnostics[0].message.starts_with("A-1: "));
}

#[test]
fn rfc3339_table() {
    for (seconds, text) in [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_795_759_536, "2026-11-27T06:05:36Z"),
    ] {
        assert_eq!(rfc3339(seconds), text);
    }
}

#[test]
fn os_inventory_keys_are_routed() {
    let inventory = ImageInventory {
        os: Some(OsInfo {
            family: OsFamily::Debian,
            id: "debian".to_owned(),
            version_id: Some("12".to_owned()),
            codename: Some("bookworm".to_owned()),
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }),
        packages: vec![Package::new(PackageKind::Deb, "bash", "5.2.15-2")],
        diagnostics: Vec::new(),
    };
    let keys = matching::lookup_keys(&inventory);
    assert!(keys.contains(&("debian:12".to_owned(), "bash".to_owned())));
}

/// A parser yielding `count` advisories (more than several write batches)
/// and one enrichment, and skipping `skipped` records.
fn generated_feed(count: usize, skipped: usize) -> FeedParser {
    Box::new(move |advisories, enrichments| {
        let mut report = ImportReport::default();
        for n in 0..count {
            advisories(advisory(
                &format!("S-{n}"),
                "PyPI",
                &format!("pkg{n}"),
                "1.0",
            ));
        }
        if count > 0 {
            enrichments(enrichment("CVE-S-0", 0.3));
        }
        for n in 0..skipped {
            report.skip(format!("record {n}"), "not an advisory");
        }
        report
    })
}

#[tokio::test]
async fn streamed_replace_writes_in_batches_and_can_keep_an_unreadable_feed() {
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::open(dir.path()).await.unwrap();
    let mut tx = db.begin_import().await.unwrap();
    let streamed = tx
        .replace_feed_streamed(feed("big"), generated_feed(1_234, 2), KeepUnreadable::No)
        .await
        .unwrap();
    assert!(streamed.replaced);
    assert_eq!((streamed.advisories, streamed.enrichments), (1_234, 1));
    assert_eq!(streamed.report.skipped, 2);
    tx.commit().await.unwrap();
    assert_eq!(rows(&db, "advisory").await, 1_234);
    assert_eq!(rows(&db, "affected").await, 1_234);
    let status = db.status().await.unwrap();
    assert_eq!(feed_counts(&status), [("big".to_owned(), 1_234, 1)]);
    assert_eq!(status.feeds[0].skipped, 2);
    let loaded = db
        .load_index_for(&python_image(&[("pkg1000", "0.9"), ("pkg7", "1.0")]))
        .await
        .unwrap();
    let found = matching::match_image(
        &python_image(&[("pkg1000", "0.9"), ("pkg7", "1.0")]),
        &loaded.index,
    );
    let ids: Vec<&str> = found.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["CVE-S-1000"]);

    // A download that yields only skipped records keeps the previous rows…
    let mut tx = db.begin_import().await.unwrap();
    let kept = tx
        .replace_feed_streamed(feed("big"), generated_feed(0, 3), KeepUnreadable::No)
        .await
        .unwrap();
    assert!(!kept.replaced);
    assert_eq!(kept.report.skipped, 3);
    tx.commit().await.unwrap();
    assert_eq!(rows(&db, "advisory").await, 1_234);
    assert_eq!(db.status().await.unwrap().feeds[0].skipped, 2);

    // …unless asked to replace anyway (a local import of what the user named).
    let mut tx = db.begin_import().await.unwrap();
    let replaced = tx
        .replace_feed_streamed(feed("big"), generated_feed(0, 3), KeepUnreadable::Yes)
        .await
        .unwrap();
    assert!(replaced.replaced);
    tx.commit().await.unwrap();
    assert_eq!(rows(&db, "advisory").await, 0);
    assert_eq!(rows(&db, "affected").await, 0);
    assert_eq!(
        feed_counts(&db.status().await.unwrap()),
        [("big".to_owned(), 0, 0)]
    );
}
