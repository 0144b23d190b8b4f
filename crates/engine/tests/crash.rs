//! `kill -9` of a scanning process: the store stays consistent and the next
//! run finishes the queue. The worker is this test binary run again (the
//! ignored `fleet_worker_process` test, driven by environment variables),
//! so the kill hits a real process in the middle of real scans.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::fleet::{FleetConfig, FleetScanner};
use engine::locate::{RegistryLocator, StaticCredentials};
use k8s::DigestKind;
use store::{ScanStatus, SqliteStore, Store};
use support::*;
use testkit::TestRegistry;
use time::OffsetDateTime;
use vulndb::VulnDb;

const STORE_ENV: &str = "SHIPSHAPE_TEST_FLEET_WORKER_STORE";
const DATA_ENV: &str = "SHIPSHAPE_TEST_FLEET_WORKER_DATA";

async fn open(store: &std::path::Path, data: &std::path::Path) -> (Arc<SqliteStore>, VulnDb) {
    (
        Arc::new(SqliteStore::open(store).await.expect("store")),
        VulnDb::open(data).await.expect("db"),
    )
}

fn scanner(
    store: &Arc<SqliteStore>,
    db: &VulnDb,
) -> FleetScanner<SqliteStore, RegistryLocator<StaticCredentials>> {
    let credentials =
        StaticCredentials::new(client_config(), oci::CredentialStore::new()).expect("client");
    FleetScanner::new(
        store.clone(),
        Arc::new(RegistryLocator::new(credentials)),
        db.clone(),
        Arc::new(analyze::default_analyzers()),
        FleetConfig {
            concurrency: 2,
            poll_interval: Duration::from_millis(100),
            ..FleetConfig::default()
        },
    )
}

/// The worker: scans forever (until killed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process started by kill_9_leaves_a_consistent_store_and_the_next_run_finishes"]
async fn fleet_worker_process() {
    let (Ok(store), Ok(data)) = (std::env::var(STORE_ENV), std::env::var(DATA_ENV)) else {
        return;
    };
    install_crypto();
    let (store, db) = open(store.as_ref(), data.as_ref()).await;
    let scanner = scanner(&store, &db);
    scanner.start_up().await.expect("start-up");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    scanner.run(stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_leaves_a_consistent_store_and_the_next_run_finishes() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    install_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store_dir, data_dir) = (dir.path().join("store"), dir.path().join("data"));
    let (store, db) = open(&store_dir, &data_dir).await;
    import(&db, &demo_advisories(dir.path(), &["debian-tracker"])).await;
    // Slow answers, so the kill lands while scans are in flight.
    let proxy = Proxy::start(
        &registry.url(),
        Duration::from_millis(250),
        SharedActivity::default(),
    )
    .await;
    let client = registry.client();
    let mut running = Vec::new();
    for i in 0..8 {
        let repository = format!("crash/image-{i}");
        let digest = client
            .push(&repository, "1.0", &debian_image(&repository, "3.0.9-1"))
            .expect("push");
        running.push((
            format!("{}/{repository}:1.0", proxy.host()),
            digest,
            DigestKind::Manifest,
            "linux/amd64",
        ));
    }
    ingest(&store, &fleet_snapshot("prod", &running)).await;

    let mut worker = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "fleet_worker_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(STORE_ENV, &store_dir)
        .env(DATA_ENV, &data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker starts");
    // Kill once some images are stored and others are being scanned.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let states = targets(&store).await;
        let count = |status| states.iter().filter(|s| s.status == status).count();
        if count(ScanStatus::Scanned) >= 2 && count(ScanStatus::Scanning) >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker made no progress: {states:#?}"
        );
        assert!(
            worker.try_wait().expect("wait").is_none(),
            "the worker exited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill().expect("SIGKILL");
    worker.wait().expect("reaped");

    // Consistent: every target is scanned (with its findings and summary
    // agreeing), or still marked scanning; nothing half-written.
    let states = targets(&store).await;
    let mut interrupted = 0;
    for state in &states {
        match state.status {
            ScanStatus::Scanned => {
                let digest = state.image.as_ref().expect("scanned target has its image");
                let details = store
                    .image(digest, OffsetDateTime::now_utc())
                    .await
                    .expect("image")
                    .expect("stored");
                let packages = store
                    .image_packages(digest, &None, store::Page::first(100))
                    .await
                    .expect("packages");
                let vulnerable: u64 = packages
                    .items
                    .iter()
                    .map(|p| u64::from(p.package.vulnerabilities))
                    .sum();
                assert!(details.counts.total() > 0);
                assert_eq!(details.counts.total(), vulnerable, "{state:?}");
            }
            ScanStatus::Scanning | ScanStatus::Pending => interrupted += 1,
            other => panic!("unexpected {other:?}: {state:?}"),
        }
    }
    assert!(interrupted >= 1);

    // The next run resumes the queue and finishes it.
    let next = scanner(&store, &db);
    let start_up = next.start_up().await.expect("start-up");
    assert!(start_up.interrupted >= 1, "{start_up:?}");
    next.run_until_idle().await;
    for state in targets(&store).await {
        assert_eq!(state.status, ScanStatus::Scanned, "{state:?}");
    }
}
