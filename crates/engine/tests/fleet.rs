//! The fleet scanner end to end with real parts: Debian's `docker-registry`
//! (behind a counting proxy where the test needs one), a SQLite store, an
//! advisory database imported from the demo's advisory files, and images
//! with real dpkg databases. Skips when `docker-registry` is not installed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use engine::fleet::{FleetConfig, FleetScanner};
use engine::locate::{ImageLocator, LocateError, Located, RegistryLocator, StaticCredentials};
use engine::rematch::{RematchConfig, rematch_all};
use k8s::DigestKind;
use model::Digest;
use store::{
    Page, ScanJob, ScanStatus, ScanTarget, Sort, SqliteStore, Store, TargetState,
    VulnerabilitySortField,
};
use support::*;
use testkit::{IndexBuilder, TestRegistry};
use time::OffsetDateTime;
use vulndb::VulnDb;

type RegistryScanner = FleetScanner<SqliteStore, RegistryLocator<StaticCredentials>>;

fn config() -> FleetConfig {
    FleetConfig {
        poll_interval: Duration::from_millis(200),
        ..FleetConfig::default()
    }
}

fn scanner(store: &Arc<SqliteStore>, db: &VulnDb, config: FleetConfig) -> RegistryScanner {
    let credentials =
        StaticCredentials::new(client_config(), oci::CredentialStore::new()).expect("client");
    FleetScanner::new(
        store.clone(),
        Arc::new(RegistryLocator::new(credentials)),
        db.clone(),
        Arc::new(analyze::default_analyzers()),
        config,
    )
}

struct Setup {
    dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    db: VulnDb,
    db_version: i64,
}

/// A store and an advisory database holding the demo advisory files whose
/// names start with `feeds`.
async fn setup(feeds: &[&str]) -> Setup {
    install_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("store"))
            .await
            .expect("store"),
    );
    let db = VulnDb::open(&dir.path().join("data")).await.expect("db");
    let files = demo_advisories(dir.path(), feeds);
    assert_eq!(files.len(), feeds.len(), "{files:?}");
    let db_version = import(&db, &files).await;
    Setup {
        dir,
        store,
        db,
        db_version,
    }
}

fn state_of<'t>(targets: &'t [TargetState], repository_suffix: &str) -> &'t TargetState {
    targets
        .iter()
        .find(|t| t.target.repository.ends_with(repository_suffix))
        .unwrap_or_else(|| panic!("no target for {repository_suffix}: {targets:#?}"))
}

async fn packages(store: &SqliteStore, digest: &Digest) -> Vec<store::PackageSummary> {
    store
        .image_packages(digest, &None, Page::first(100))
        .await
        .expect("packages")
        .items
        .into_iter()
        .map(|row| row.package)
        .collect()
}

async fn findings(store: &SqliteStore, digest: &Digest) -> Vec<store::VulnerabilityRow> {
    let sort = Sort {
        field: VulnerabilitySortField::Id,
        direction: store::Direction::Ascending,
    };
    store
        .image_vulnerabilities(digest, &None, sort, Page::first(500), true)
        .await
        .expect("vulnerabilities")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_targets_are_scanned_matched_and_stored_with_fix_all_versions() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let setup = setup(&["debian-tracker"]).await;
    let old = debian_image("old", "3.0.9-1");
    let current = debian_image("current", "3.0.14-1~deb12u2");
    let client = registry.client();
    let mut running = Vec::new();
    for (repository, image) in [("team/old", &old), ("team/current", &current)] {
        let digest = client.push(repository, "1.0", image).expect("push");
        running.push((
            format!("{}/{repository}:1.0", registry.host()),
            digest,
            DigestKind::Manifest,
            "linux/amd64",
        ));
    }
    let new_targets = ingest(&setup.store, &fleet_snapshot("prod", &running)).await;
    assert_eq!(new_targets, 2);

    let scanner = scanner(&setup.store, &setup.db, config());
    assert_eq!(
        scanner.start_up().await.expect("start-up"),
        Default::default()
    );
    let summary = scanner.run_until_idle().await;
    assert_eq!(
        (summary.scanned, summary.failed, summary.unsupported),
        (2, 0, 0)
    );
    assert_eq!(scanner.metrics().counts().scanned, 2);

    for state in targets(&setup.store).await {
        assert_eq!(state.status, ScanStatus::Scanned, "{state:?}");
    }
    let details = setup
        .store
        .image(&old.manifest.digest, OffsetDateTime::now_utc())
        .await
        .expect("image")
        .expect("stored");
    assert_eq!(details.db_version, Some(setup.db_version));
    assert_eq!(details.repository, format!("{}/team/old", registry.host()));
    assert_eq!(details.os.as_ref().map(|os| os.id.as_str()), Some("debian"));
    assert!(details.analyzer_versions.contains_key("dpkg"));

    // openssl 3.0.9-1 has five fixed CVEs; the version fixing all is the
    // greatest of their smallest fixes. tar has one fixed and one open CVE.
    let old_packages = packages(&setup.store, &old.manifest.digest).await;
    insta::assert_json_snapshot!("old_image_packages", old_packages);
    let old_findings = findings(&setup.store, &old.manifest.digest).await;
    assert_eq!(
        u64::try_from(old_findings.len()).unwrap(),
        details.counts.total()
    );
    assert!(
        old_findings
            .iter()
            .all(|row| row.first_seen_db_version == setup.db_version)
    );

    let current_packages = packages(&setup.store, &current.manifest.digest).await;
    let openssl = current_packages
        .iter()
        .find(|p| p.name == "openssl")
        .expect("openssl listed");
    assert_eq!(
        (openssl.vulnerabilities, openssl.fix_all_version.as_deref()),
        (0, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_globally_and_per_registry_host() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let setup = setup(&["debian-tracker"]).await;
    let global = SharedActivity::default();
    let delay = Duration::from_millis(150);
    let proxies = [
        Proxy::start(&registry.url(), delay, global.clone()).await,
        Proxy::start(&registry.url(), delay, global.clone()).await,
    ];
    let client = registry.client();
    let mut running = Vec::new();
    for (p, proxy) in proxies.iter().enumerate() {
        for i in 0..5 {
            let repository = format!("host{p}/image-{i}");
            let image = debian_image(&repository, "3.0.9-1");
            let digest = client.push(&repository, "1.0", &image).expect("push");
            running.push((
                format!("{}/{repository}:1.0", proxy.host()),
                digest,
                DigestKind::Manifest,
                "linux/amd64",
            ));
        }
    }
    ingest(&setup.store, &fleet_snapshot("prod", &running)).await;

    let scanner = scanner(
        &setup.store,
        &setup.db,
        FleetConfig {
            concurrency: 3,
            per_registry: 2,
            ..config()
        },
    );
    let summary = scanner.run_until_idle().await;
    assert_eq!(summary.scanned, 10, "{summary:?}");
    // Pulls in flight as the registries saw them: never above the limits,
    // and the limits were reached (so the test can tell).
    for proxy in &proxies {
        assert_eq!(proxy.peak(), 2, "per registry host");
    }
    assert_eq!(global.lock().expect("lock").peak(), 3, "globally");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_images_back_off_or_are_unsupported_and_never_block_the_others() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let setup = setup(&["debian-tracker"]).await;
    let proxy = Proxy::start(&registry.url(), Duration::ZERO, SharedActivity::default()).await;
    let host = proxy.host();
    let client = registry.client();
    let mut running = Vec::new();
    let mut add = |reference: String, digest: Digest, kind: DigestKind, platform: &'static str| {
        running.push((reference, digest, kind, platform));
    };

    for name in ["ok/first", "ok/second", "broken/server"] {
        let image = debian_image(name, "3.0.9-1");
        let digest = client.push(name, "1.0", &image).expect("push");
        add(
            format!("{host}/{name}:1.0"),
            digest,
            DigestKind::Manifest,
            "linux/amd64",
        );
    }
    proxy.fail("broken/server", 500);

    // Never pushed: the registry does not know the manifest.
    let never_pushed = debian_image("gone", "3.0.9-1");
    add(
        format!("{host}/gone/image:1.0"),
        never_pushed.manifest.digest.clone(),
        DigestKind::Manifest,
        "linux/amd64",
    );

    // A local image ID: pulled by tag, then the config digest is checked.
    let tagged = debian_image("tagged", "3.0.9-1");
    client.push("local/good", "v1", &tagged).expect("push");
    add(
        format!("{host}/local/good:v1"),
        tagged.config.digest.clone(),
        DigestKind::ImageId,
        "linux/amd64",
    );
    let moved = debian_image("moved", "3.0.9-1");
    client.push("local/moved", "v1", &moved).expect("push");
    add(
        format!("{host}/local/moved:v1"),
        never_pushed.config.digest.clone(),
        DigestKind::ImageId,
        "linux/amd64",
    );

    // An index without the node's platform.
    let index = IndexBuilder::new(testkit::Flavor::Oci)
        .image(debian_image("amd64 only", "3.0.9-1"))
        .build()
        .expect("index");
    let index_digest = client
        .push("multi/amd64-only", "1.0", &index)
        .expect("push");
    add(
        format!("{host}/multi/amd64-only:1.0"),
        index_digest,
        DigestKind::Manifest,
        "linux/s390x",
    );
    ingest(&setup.store, &fleet_snapshot("prod", &running)).await;

    let scanner = scanner(&setup.store, &setup.db, config());
    let before = OffsetDateTime::now_utc();
    let summary = scanner.run_until_idle().await;
    assert_eq!(
        (summary.scanned, summary.failed, summary.unsupported),
        (3, 3, 1),
        "{summary:?}"
    );
    let states = targets(&setup.store).await;
    for name in ["ok/first", "ok/second", "local/good"] {
        assert_eq!(
            state_of(&states, name).status,
            ScanStatus::Scanned,
            "{name}"
        );
    }
    let retry_in =
        |state: &TargetState| (state.next_attempt.expect("next attempt") - before).whole_seconds();
    // (target, reason contains, retry window in seconds)
    let failed: [(&str, &str, std::ops::RangeInclusive<i64>); 3] = [
        ("broken/server", "500", 45..=75),
        ("gone/image", "manifest unknown", 45..=75),
        (
            "local/moved",
            "not the running image's",
            19 * 3600..=29 * 3600,
        ),
    ];
    for (name, reason, window) in failed {
        let state = state_of(&states, name);
        assert_eq!(state.status, ScanStatus::Failed, "{name}: {state:?}");
        assert_eq!(state.attempts, 1, "{name}");
        let text = state.reason.as_deref().unwrap_or_default();
        assert!(text.contains(reason), "{name}: {text}");
        assert!(
            window.contains(&retry_in(state)),
            "{name}: {}",
            retry_in(state)
        );
    }
    let unsupported = state_of(&states, "multi/amd64-only");
    assert_eq!(unsupported.status, ScanStatus::Unsupported);
    assert!(
        unsupported
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("linux/s390x"),
        "{unsupported:?}"
    );

    // Nothing is due: a second run claims nothing and contacts nobody.
    let requests = proxy.requests();
    assert_eq!(scanner.run_until_idle().await, Default::default());
    assert_eq!(proxy.requests(), requests);
}

/// Fault injection around the real locator: panics for repositories under
/// `panics/`, as a bug met on one image would.
struct PanicsFor(RegistryLocator<StaticCredentials>);

impl ImageLocator for PanicsFor {
    fn registry_host(&self, target: &ScanTarget) -> String {
        self.0.registry_host(target)
    }

    async fn locate(&self, job: &ScanJob) -> Result<Located, LocateError> {
        if job.target.repository.contains("/panics/") {
            panic!("injected bug for {}", job.target.repository);
        }
        self.0.locate(job).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_panics_fails_its_target_and_frees_its_registry_slot() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let setup = setup(&["debian-tracker"]).await;
    let client = registry.client();
    let host = registry.host();
    let mut running = Vec::new();
    // More panicking images than the registry's slots: leaked slots would
    // leave the good images unscanned.
    for name in ["panics/a", "panics/b", "panics/c", "good/one", "good/two"] {
        let digest = client
            .push(name, "1.0", &debian_image(name, "3.0.9-1"))
            .expect("push");
        running.push((
            format!("{host}/{name}:1.0"),
            digest,
            DigestKind::Manifest,
            "linux/amd64",
        ));
    }
    ingest(&setup.store, &fleet_snapshot("prod", &running)).await;

    let credentials =
        StaticCredentials::new(client_config(), oci::CredentialStore::new()).expect("client");
    let scanner = FleetScanner::new(
        setup.store.clone(),
        Arc::new(PanicsFor(RegistryLocator::new(credentials))),
        setup.db.clone(),
        Arc::new(analyze::default_analyzers()),
        FleetConfig {
            per_registry: 2,
            ..config()
        },
    );
    let before = OffsetDateTime::now_utc();
    let summary = tokio::time::timeout(Duration::from_secs(60), scanner.run_until_idle())
        .await
        .expect("the scanner does not hang on panicked jobs");
    assert_eq!((summary.scanned, summary.failed), (2, 3), "{summary:?}");
    assert_eq!(scanner.metrics().counts().in_flight, 0);
    let states = targets(&setup.store).await;
    for name in ["panics/a", "panics/b", "panics/c"] {
        let state = state_of(&states, name);
        assert_eq!(state.status, ScanStatus::Failed, "{state:?}");
        let reason = state.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("internal error") && reason.contains("injected bug"),
            "{reason}"
        );
        // Deterministic bugs are not retried every minute.
        let retry_in = (state.next_attempt.expect("next attempt") - before).whole_hours();
        assert!((19..=29).contains(&retry_in), "{retry_in}");
    }
    for name in ["good/one", "good/two"] {
        assert_eq!(state_of(&states, name).status, ScanStatus::Scanned);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_abandons_cleanly_and_the_next_start_resumes_the_queue() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let setup = setup(&["debian-tracker"]).await;
    let proxy = Proxy::start(
        &registry.url(),
        Duration::from_millis(300),
        SharedActivity::default(),
    )
    .await;
    let client = registry.client();
    let mut running = Vec::new();
    for i in 0..6 {
        let repository = format!("queue/image-{i}");
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
    ingest(&setup.store, &fleet_snapshot("prod", &running)).await;

    let first = scanner(
        &setup.store,
        &setup.db,
        FleetConfig {
            concurrency: 2,
            shutdown_grace: Duration::ZERO,
            ..config()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn({
        let first = first.clone();
        async move { first.run(stopped).await }
    });
    let metrics = first.metrics();
    tokio::time::timeout(Duration::from_secs(60), async {
        while metrics.counts().scanned == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a first image is scanned");
    stop.send(true).expect("stop");
    let summary = worker.await.expect("worker");
    assert!(summary.abandoned >= 1, "{summary:?}");

    let states = targets(&setup.store).await;
    let left_scanning = states
        .iter()
        .filter(|s| s.status == ScanStatus::Scanning)
        .count() as u64;
    assert_eq!(left_scanning, summary.abandoned, "{states:#?}");
    assert!(states.iter().all(|s| s.status != ScanStatus::Failed));

    // A new process: the abandoned targets go back to pending, then all scan.
    let second = scanner(&setup.store, &setup.db, config());
    let start_up = second.start_up().await.expect("start-up");
    assert_eq!(start_up.interrupted, left_scanning);
    second.run_until_idle().await;
    for state in targets(&setup.store).await {
        assert_eq!(state.status, ScanStatus::Scanned, "{state:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rematch_reports_findings_new_with_the_database_without_the_registry() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    // First only KEV: the images match nothing.
    let setup = setup(&["kev"]).await;
    let proxy = Proxy::start(&registry.url(), Duration::ZERO, SharedActivity::default()).await;
    let client = registry.client();
    let mut running = Vec::new();
    let mut digests = Vec::new();
    for name in ["rematch/one", "rematch/two"] {
        let digest = client
            .push(name, "1.0", &debian_image(name, "3.0.9-1"))
            .expect("push");
        running.push((
            format!("{}/{name}:1.0", proxy.host()),
            digest.clone(),
            DigestKind::Manifest,
            "linux/amd64",
        ));
        digests.push(digest);
    }
    ingest(&setup.store, &fleet_snapshot("prod", &running)).await;
    let summary = scanner(&setup.store, &setup.db, config())
        .run_until_idle()
        .await;
    assert_eq!(summary.scanned, 2);
    for digest in &digests {
        assert!(findings(&setup.store, digest).await.is_empty());
    }

    // The registry goes away; the database gains the Debian tracker.
    let requests = proxy.requests();
    drop(registry);
    let debian = demo_advisories(setup.dir.path(), &["debian-tracker"]);
    let version = import(&setup.db, &debian).await;
    assert!(version > setup.db_version);

    let summary = rematch_all(&*setup.store, &setup.db, &RematchConfig::default())
        .await
        .expect("re-match");
    assert_eq!(summary.images, 2);
    assert_eq!(summary.db_version, version);
    assert_eq!(summary.findings_removed, 0);
    let mut stored = 0;
    for digest in &digests {
        let rows = findings(&setup.store, digest).await;
        assert!(rows.iter().any(|r| r.finding.package.name == "openssl"));
        assert!(rows.iter().all(|r| r.first_seen_db_version == version));
        stored += rows.len() as u64;
        let openssl = packages(&setup.store, digest)
            .await
            .into_iter()
            .find(|p| p.name == "openssl")
            .expect("openssl");
        assert_eq!(openssl.fix_all_version.as_deref(), Some("3.0.14-1~deb12u2"));
        let details = setup
            .store
            .image(digest, OffsetDateTime::now_utc())
            .await
            .expect("image")
            .expect("stored");
        assert_eq!(details.db_version, Some(version));
    }
    assert_eq!(summary.findings_added, stored);
    assert_eq!(proxy.requests(), requests, "re-matching pulled nothing");

    // Up to date: nothing to do.
    let again = rematch_all(&*setup.store, &setup.db, &RematchConfig::default())
        .await
        .expect("re-match");
    assert_eq!(
        (again.images, again.skipped, again.findings_added),
        (0, 2, 0)
    );
}
