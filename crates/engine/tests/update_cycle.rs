//! The server's periodic cycle: a database update from a local feed server
//! (the public feeds' layout), then a re-match of the stored inventories.

mod support;

use std::sync::Arc;
use std::time::Duration;

use engine::fleet::{UpdateSchedule, update_and_rematch};
use engine::rematch::RematchConfig;
use engine::update::UpdateOptions;
use feeds::{FeedId, FeedsConfig};
use k8s::DigestKind;
use model::{ImageInventory, OsFamily, OsInfo, Package, PackageKind};
use store::{ScanRecord, SqliteStore, Store};
use support::*;
use testkit::feed_server::FeedServer;
use time::OffsetDateTime;
use vulndb::VulnDb;

/// Stores one scanned Debian 12 image with openssl 3.0.9-1, matched
/// against an empty database (version 0, no findings).
async fn stored_image(store: &SqliteStore) -> model::Digest {
    let digest = store::fixtures::digest("cycle-image");
    let snapshot = fleet_snapshot(
        "prod",
        &[(
            "registry.example.com/app:1.0".to_owned(),
            digest.clone(),
            DigestKind::Manifest,
            "linux/amd64",
        )],
    );
    ingest(store, &snapshot).await;
    let now = OffsetDateTime::now_utc();
    let job = store
        .claim_scan_jobs(1, now)
        .await
        .expect("claim")
        .remove(0);
    let mut package = Package::new(PackageKind::Deb, "openssl", "3.0.9-1");
    package.evidence.path = "var/lib/dpkg/status".to_owned();
    package.evidence.layer_index = Some(0);
    let record = ScanRecord {
        metadata: store::fixtures::metadata("registry.example.com/app", Some("1.0"), &digest, 1),
        inventory: ImageInventory {
            os: Some(OsInfo {
                family: OsFamily::Debian,
                id: "debian".to_owned(),
                version_id: Some("12".to_owned()),
                codename: Some("bookworm".to_owned()),
                pretty_name: None,
                path: "etc/os-release".to_owned(),
            }),
            packages: vec![package],
            diagnostics: Vec::new(),
        },
        analyzer_versions: store::fixtures::analyzers(),
        findings: Vec::new(),
        packages: Vec::new(),
        db_version: 0,
    };
    store
        .complete_scan(job.target.id, &record, now)
        .await
        .expect("stored");
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_commits_is_followed_by_a_rematch_and_one_that_does_not_is_not() {
    install_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("feeds");
    std::fs::create_dir_all(root.join("debian-tracker")).expect("mkdir");
    let tracker = demo_advisories(dir.path(), &["debian-tracker"]);
    std::fs::copy(&tracker[0], root.join("debian-tracker/json")).expect("copy");
    let server = FeedServer::start(&root);

    let store = Arc::new(
        SqliteStore::open(&dir.path().join("store"))
            .await
            .expect("store"),
    );
    let data_dir = dir.path().join("data");
    let db = VulnDb::open(&data_dir).await.expect("db");
    let digest = stored_image(&store).await;

    let schedule = UpdateSchedule {
        data_dir: data_dir.clone(),
        feeds: FeedsConfig::with_mirror(&server.base).expect("mirror"),
        options: UpdateOptions {
            feeds: vec![FeedId::DebianTracker],
            ..UpdateOptions::default()
        },
        interval: Duration::from_secs(3600),
        rematch: RematchConfig::default(),
    };
    let first = update_and_rematch(&*store, &db, &schedule)
        .await
        .expect("cycle");
    assert_eq!(first.update.committed, Some(1));
    let rematch = first.rematch.expect("re-matched");
    assert_eq!((rematch.db_version, rematch.images), (1, 1));
    assert_eq!(rematch.findings_added, 5, "openssl 3.0.9-1's five CVEs");
    let details = store
        .image(&digest, OffsetDateTime::now_utc())
        .await
        .expect("image")
        .expect("stored");
    assert_eq!(details.db_version, Some(1));
    assert_eq!(details.counts.total(), 5);

    // The tracker has not changed: not modified, nothing committed, no re-match.
    let second = update_and_rematch(&*store, &db, &schedule)
        .await
        .expect("cycle");
    assert_eq!(second.update.committed, None);
    assert!(second.rematch.is_none());
    assert_eq!(second.update.database_version, 1);
}
