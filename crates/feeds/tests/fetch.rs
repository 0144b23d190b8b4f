//! `fetch` against a local server with the public layout, serving files
//! generated from `shared/vulndata`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use feeds::{
    ApiKey, FeedFormat, FeedId, FeedsConfig, FetchError, FetchMode, Fetched, NoProgress,
    RedHatCsafKind, RetryPolicy, build_client, fetch, list_osv_ecosystems,
};
use testkit::feed_server::layout::{
    json_files, nvd_cves, redhat_csaf_samples, stamp, write_documents, write_modified,
    write_redhat_csaf, write_redhat_csv, zip_files,
};
use testkit::feed_server::{Fault, FeedServer as Server, NVD_PATH, vulndata};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    build_client(&FeedsConfig::default()).unwrap()
}

fn config(server: &Server) -> FeedsConfig {
    let mut config = FeedsConfig::with_mirror(&server.base).unwrap();
    config.http.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    };
    config.http.request_timeout = Duration::from_secs(20);
    config.nvd.request_interval = Some(Duration::ZERO);
    config
}

async fn get(
    config: &FeedsConfig,
    feed: &FeedId,
    cursor: Option<&str>,
    staging: &Path,
) -> Result<Fetched, FetchError> {
    fetch(&client(), config, feed, cursor, staging, &NoProgress).await
}

fn paths(server: &Server) -> Vec<String> {
    server.requests().into_iter().map(|r| r.path).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osv_full_then_incremental_then_not_modified() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    let go = root.path().join("osv/Go");
    let sources = json_files(&data.join("osv/Go"));
    assert!(sources.len() > 4000, "{} Go records", sources.len());
    zip_files(&go.join("all.zip"), &sources);
    let mut records: Vec<(i64, String)> = sources
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let id = path.file_stem().unwrap().to_str().unwrap().to_owned();
            (i as i64, id)
        })
        .collect();
    write_modified(&go, &records, &[]);
    let server = Server::start(root.path());
    let config = config(&server);
    let feed: FeedId = "osv/Go".parse().unwrap();

    // Full: the cursor is the newest line, the archive parses as OSV.
    let staging = tempfile::tempdir().unwrap();
    let full = get(&config, &feed, None, staging.path()).await.unwrap();
    assert_eq!(full.mode, FetchMode::Full);
    assert_eq!(full.format, FeedFormat::OsvZip);
    assert_eq!(full.files, vec![staging.path().join("all.zip")]);
    let newest = stamp(sources.len() as i64 - 1);
    assert_eq!(full.cursor.as_deref(), Some(newest.as_str()));
    assert_eq!(
        paths(&server),
        ["/osv/Go/modified_id.csv", "/osv/Go/all.zip"]
    );
    let mut report = advisory::ImportReport::default();
    let mut imported = 0;
    advisory::import_osv_zip_file(&full.files[0], &mut report, &mut |_| imported += 1).unwrap();
    assert_eq!(imported, sources.len(), "{report:?}");

    // Three records change upstream, one of them was withdrawn (no file),
    // and two malformed lines appear among them.
    let changed = [&sources[10], &sources[20]];
    for source in changed {
        std::fs::copy(source, go.join(source.file_name().unwrap())).unwrap();
    }
    let later = sources.len() as i64 + 100;
    records[10].0 = later;
    records[20].0 = later + 1;
    records.push((later + 2, "GO-2099-9999".to_owned()));
    write_modified(
        &go,
        &records,
        &["garbage", &format!("{},../../etc/passwd", stamp(later + 3))],
    );
    server.clear_log();
    let staging = tempfile::tempdir().unwrap();
    let update = get(&config, &feed, full.cursor.as_deref(), staging.path())
        .await
        .unwrap();
    assert_eq!(
        update.mode,
        FetchMode::Incremental {
            removed_ids: vec!["GO-2099-9999".to_owned()]
        }
    );
    assert_eq!(update.format, FeedFormat::OsvJson);
    assert_eq!(update.stats.malformed_lines, 2);
    // The malformed lines do not move the cursor, whatever their dates.
    assert_eq!(update.cursor.as_deref(), Some(stamp(later + 2).as_str()));
    let mut fetched_paths = paths(&server);
    fetched_paths.sort();
    let mut expected = vec![
        "/osv/Go/modified_id.csv".to_owned(),
        "/osv/Go/GO-2099-9999.json".to_owned(),
    ];
    for source in changed {
        expected.push(format!(
            "/osv/Go/{}",
            source.file_name().unwrap().to_str().unwrap()
        ));
    }
    expected.sort();
    assert_eq!(fetched_paths, expected, "only the changed records");
    let mut report = advisory::ImportReport::default();
    let mut ids = Vec::new();
    advisory::import_osv_dir(staging.path(), &mut report, &mut |advisory| {
        ids.push(advisory.id.clone())
    })
    .unwrap();
    ids.sort();
    let mut expected_ids: Vec<String> = changed
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    expected_ids.sort();
    assert_eq!(ids, expected_ids);

    // Nothing newer: not modified, one request, the cursor stays.
    server.clear_log();
    let again = get(&config, &feed, update.cursor.as_deref(), staging.path())
        .await
        .unwrap();
    assert_eq!(again.mode, FetchMode::NotModified);
    assert_eq!(again.cursor, update.cursor);
    assert!(again.files.is_empty());
    assert_eq!(paths(&server), ["/osv/Go/modified_id.csv"]);

    // Too many changes for single requests: all.zip instead.
    let mut small_threshold = config.clone();
    small_threshold.osv.incremental_threshold = 1;
    server.clear_log();
    let staging = tempfile::tempdir().unwrap();
    let fallback = get(
        &small_threshold,
        &feed,
        full.cursor.as_deref(),
        staging.path(),
    )
    .await
    .unwrap();
    assert_eq!(fallback.mode, FetchMode::Full);
    assert_eq!(fallback.format, FeedFormat::OsvZip);
    assert_eq!(
        paths(&server),
        ["/osv/Go/modified_id.csv", "/osv/Go/all.zip"]
    );
    assert_eq!(fallback.stats.notes.len(), 1, "{:?}", fallback.stats.notes);

    // An unreadable cursor means a full download, said so.
    let staging = tempfile::tempdir().unwrap();
    let reset = get(&config, &feed, Some("yesterday"), staging.path())
        .await
        .unwrap();
    assert_eq!(reset.mode, FetchMode::Full);
    assert_eq!(reset.stats.notes.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osv_ecosystem_names_with_spaces_and_listing() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    let rocky = root.path().join("osv/Rocky Linux");
    let sources = json_files(&data.join("samples/rocky/test-fixtures/osv"));
    zip_files(&rocky.join("all.zip"), &sources);
    std::fs::write(
        root.path().join("osv/ecosystems.txt"),
        "Go\nRocky Linux\n\nbad/name\ncrates.io\n",
    )
    .unwrap();
    let server = Server::start(root.path());
    let config = config(&server);

    let listed = list_osv_ecosystems(&client(), &config).await.unwrap();
    assert_eq!(listed, ["Go", "Rocky Linux", "crates.io"]);

    // No modified_id.csv: a full download without a cursor.
    let staging = tempfile::tempdir().unwrap();
    let feed = FeedId::osv("Rocky Linux");
    let fetched = get(&config, &feed, None, staging.path()).await.unwrap();
    assert_eq!(fetched.mode, FetchMode::Full);
    assert_eq!(fetched.cursor, None);
    assert_eq!(fetched.stats.notes.len(), 1);
    let requests = server.requests();
    assert_eq!(requests.last().unwrap().path, "/osv/Rocky Linux/all.zip");
    let mut report = advisory::ImportReport::default();
    let mut imported = 0;
    advisory::import_osv_zip_file(&fetched.files[0], &mut report, &mut |_| imported += 1).unwrap();
    assert_eq!(imported, sources.len());
}

/// Serves the single-document feeds from the samples; returns the root.
fn documents(data: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write_documents(data, root.path());
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_download_parse_and_honour_304() {
    let Some(data) = vulndata() else { return };
    let root = documents(&data);
    let server = Server::start(root.path());
    let config = config(&server);

    // (feed, path served, importer → records read)
    type Import = fn(&Path) -> usize;
    let cases: [(&str, &str, Import); 4] = [
        ("debian-tracker", "/debian-tracker/json", |path| {
            let mut n = 0;
            let mut report = advisory::ImportReport::default();
            advisory::import_debian_tracker_file(path, &mut report, &mut |_| n += 1).unwrap();
            n
        }),
        (
            "alpine-secdb/v3.15/main",
            "/alpine/v3.15/main.json",
            |path| {
                let mut n = 0;
                let mut report = advisory::ImportReport::default();
                advisory::import_alpine_secdb_file(path, &mut report, &mut |_| n += 1).unwrap();
                n
            },
        ),
        ("epss", "/epss/epss_scores-current.csv.gz", |path| {
            let mut n = 0;
            let mut report = advisory::ImportReport::default();
            advisory::import_epss_file(path, &mut report, &mut |_| n += 1).unwrap();
            n
        }),
        ("kev", "/kev/known_exploited_vulnerabilities.json", |path| {
            let mut n = 0;
            let mut report = advisory::ImportReport::default();
            advisory::import_kev_file(path, &mut report, &mut |_| n += 1).unwrap();
            n
        }),
    ];
    for (name, served, import) in cases {
        let feed: FeedId = name.parse().unwrap();
        let staging = tempfile::tempdir().unwrap();
        server.clear_log();
        let first = get(&config, &feed, None, staging.path()).await.unwrap();
        assert_eq!(first.mode, FetchMode::Full, "{name}");
        assert_eq!(first.format, feed.full_format());
        assert_eq!(first.files.len(), 1);
        assert!(import(&first.files[0]) > 0, "{name}: nothing imported");
        assert_eq!(paths(&server), [served], "{name}");
        let cursor = first.cursor.clone().expect("validators kept");

        server.clear_log();
        let second = get(&config, &feed, Some(&cursor), staging.path())
            .await
            .unwrap();
        assert_eq!(second.mode, FetchMode::NotModified, "{name}");
        assert!(second.files.is_empty());
        assert_eq!(second.cursor.as_deref(), Some(cursor.as_str()));
        let request = &server.requests()[0];
        assert!(request.header("if-none-match").is_some(), "{name}");
        assert_eq!(
            request.header("if-modified-since"),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        assert_eq!(request.status, 304);

        // Changed upstream: downloaded again.
        let file = root.path().join(served.trim_start_matches('/'));
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.push(b'\n');
        std::fs::write(&file, bytes).unwrap();
        let third = get(&config, &feed, Some(&cursor), staging.path())
            .await
            .unwrap();
        assert_eq!(third.mode, FetchMode::Full, "{name}");
        assert_ne!(third.cursor.as_deref(), Some(cursor.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nvd_pages_windows_key_and_interval() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(root.path());
    let cves = nvd_cves(&data);
    let total = cves.len();
    server.set_nvd(cves.clone());
    let mut config = config(&server);
    config.nvd.results_per_page = 10;
    config.nvd.api_key = Some(ApiKey::new("k3y-s3cret"));
    config.nvd.request_interval = Some(Duration::from_millis(100));

    // Full: pages of 10 until totalResults, the key on every request, paced.
    let staging = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let full = get(&config, &FeedId::Nvd, None, staging.path())
        .await
        .unwrap();
    let pages = total.div_ceil(10);
    assert!(started.elapsed() >= Duration::from_millis(100 * (pages as u64 - 1)));
    assert_eq!(full.mode, FetchMode::Full);
    assert_eq!(full.files.len(), pages);
    let requests = server.requests();
    assert_eq!(requests.len(), pages);
    for (n, request) in requests.iter().enumerate() {
        assert_eq!(
            request.param("startIndex"),
            Some((n * 10).to_string().as_str())
        );
        assert_eq!(request.param("resultsPerPage"), Some("10"));
        assert_eq!(request.param("lastModStartDate"), None);
        assert_eq!(request.header("apiKey"), Some("k3y-s3cret"));
    }
    let mut report = advisory::ImportReport::default();
    let mut enriched = 0;
    advisory::import_nvd_dir(staging.path(), &mut report, &mut |_| enriched += 1).unwrap();
    assert_eq!(enriched, total, "{report:?}");
    let cursor = full.cursor.clone().unwrap();
    let cursor_time = OffsetDateTime::parse(&cursor, &Rfc3339).unwrap();
    assert!((OffsetDateTime::now_utc() - cursor_time).whole_seconds() < 60);

    // Incremental from before the samples' modification dates: windows of
    // at most 120 days, contiguous, up to now; only modified CVEs come back.
    let since = "2023-10-18T17:50:00Z";
    let since_time = OffsetDateTime::parse(since, &Rfc3339).unwrap();
    config.nvd.request_interval = Some(Duration::ZERO);
    server.clear_log();
    let staging = tempfile::tempdir().unwrap();
    let update = get(&config, &FeedId::Nvd, Some(since), staging.path())
        .await
        .unwrap();
    assert_eq!(
        update.mode,
        FetchMode::Incremental {
            removed_ids: vec![]
        }
    );
    let requests = server.requests();
    let windows: Vec<(OffsetDateTime, OffsetDateTime)> = requests
        .iter()
        .filter(|r| r.param("startIndex") == Some("0"))
        .map(|r| {
            let parse = |name| OffsetDateTime::parse(r.param(name).unwrap(), &Rfc3339).unwrap();
            (parse("lastModStartDate"), parse("lastModEndDate"))
        })
        .collect();
    let days = (OffsetDateTime::now_utc() - since_time).whole_days();
    assert_eq!(windows.len() as i64, (days + 119) / 120, "{windows:?}");
    assert_eq!(windows[0].0, since_time);
    for pair in windows.windows(2) {
        assert_eq!(pair[0].1, pair[1].0);
    }
    for (start, end) in &windows {
        assert!(*end - *start <= time::Duration::days(120));
    }
    let modified_since = cves
        .iter()
        .filter(|cve| {
            let text = format!("{}Z", cve["cve"]["lastModified"].as_str().unwrap());
            OffsetDateTime::parse(&text, &Rfc3339).unwrap() >= since_time
        })
        .count();
    assert!(modified_since > 0 && modified_since < total);
    let mut enriched = 0;
    let mut report = advisory::ImportReport::default();
    advisory::import_nvd_dir(staging.path(), &mut report, &mut |_| enriched += 1).unwrap();
    assert_eq!(enriched, modified_since);
    assert!(update.cursor.unwrap() >= cursor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_503_429_and_nvd_403() {
    let Some(data) = vulndata() else { return };
    let root = documents(&data);
    let server = Server::start(root.path());
    server.set_nvd(nvd_cves(&data));
    let config = config(&server);
    let kev = "/kev/known_exploited_vulnerabilities.json";

    // (fault, times, expected requests, expected minimum duration)
    let cases = [
        (Fault::Status(503, None), 2, 3, Duration::ZERO),
        (Fault::Status(429, Some("1")), 1, 2, Duration::from_secs(1)),
        (Fault::Status(502, None), 1, 2, Duration::ZERO),
    ];
    for (fault, times, requests, minimum) in cases {
        server.clear_log();
        server.fail(kev, times, fault.clone());
        let staging = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let fetched = get(&config, &FeedId::Kev, None, staging.path())
            .await
            .unwrap();
        assert!(started.elapsed() >= minimum, "{fault:?}");
        assert_eq!(fetched.mode, FetchMode::Full);
        assert_eq!(fetched.stats.requests, requests, "{fault:?}");
        assert_eq!(fetched.stats.retries, requests - 1);
        assert_eq!(server.requests().len() as u64, requests);
    }

    // Three failures with three attempts: the error names the URL and status.
    server.fail(kev, 3, Fault::Status(503, None));
    let staging = tempfile::tempdir().unwrap();
    let error = get(&config, &FeedId::Kev, None, staging.path())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(503));
    let message = error.to_string();
    assert!(
        message.contains(&format!("{}kev/known_exploited", server.base)),
        "{message}"
    );
    assert!(message.contains("after 3 attempt"), "{message}");

    // 404 is not retried.
    server.clear_log();
    let mut missing = config.clone();
    missing.kev.url = server.base.join("kev/nothing.json").unwrap();
    let error = get(&missing, &FeedId::Kev, None, staging.path())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert_eq!(server.requests().len(), 1);

    // NVD signals its rate limit with 403; the key never shows in errors.
    let mut keyed = config.clone();
    keyed.nvd.api_key = Some(ApiKey::new("k3y-s3cret"));
    server.clear_log();
    server.fail(NVD_PATH, 1, Fault::Status(403, None));
    let fetched = get(&keyed, &FeedId::Nvd, None, staging.path())
        .await
        .unwrap();
    assert_eq!(fetched.stats.retries, 1);
    server.fail(NVD_PATH, 3, Fault::Status(403, None));
    let error = get(&keyed, &FeedId::Nvd, None, staging.path())
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("k3y"), "{error}");
    assert!(!format!("{error:?}").contains("k3y"));
    assert!(!format!("{keyed:?}").contains("k3y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_oversized_bodies_fail_cleanly() {
    let Some(data) = vulndata() else { return };
    let root = documents(&data);
    let server = Server::start(root.path());
    let config = config(&server);
    let kev = "/kev/known_exploited_vulnerabilities.json";
    let size = std::fs::metadata(root.path().join(kev.trim_start_matches('/')))
        .unwrap()
        .len();

    // A body cut short is retried, then reported; no file is left behind.
    server.fail(kev, 3, Fault::Truncate);
    let staging = tempfile::tempdir().unwrap();
    let error = get(&config, &FeedId::Kev, None, staging.path())
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Truncated { expected, attempts: 3, .. } if expected == size),
        "{error:?}"
    );
    assert_eq!(std::fs::read_dir(staging.path()).unwrap().count(), 0);

    // Cut short once: the retry completes it.
    server.fail(kev, 1, Fault::Truncate);
    let fetched = get(&config, &FeedId::Kev, None, staging.path())
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&fetched.files[0]).unwrap().len(), size);

    // Over the cap: refused from Content-Length, or while streaming without
    // one; never retried, nothing left behind.
    let mut small = config.clone();
    small.limits.kev = size / 2;
    for fault in [None, Some(Fault::NoLength)] {
        server.clear_log();
        if let Some(fault) = fault.clone() {
            server.fail(kev, 1, fault);
        }
        let staging = tempfile::tempdir().unwrap();
        let error = get(&small, &FeedId::Kev, None, staging.path())
            .await
            .unwrap_err();
        assert!(
            matches!(error, FetchError::TooLarge { limit, .. } if limit == size / 2),
            "{fault:?}: {error:?}"
        );
        assert_eq!(server.requests().len(), 1, "{fault:?}");
        assert_eq!(std::fs::read_dir(staging.path()).unwrap().count(), 0);
    }

    // Without Content-Length and under the cap, a streamed body is complete.
    server.fail(kev, 1, Fault::NoLength);
    let staging = tempfile::tempdir().unwrap();
    let fetched = get(&config, &FeedId::Kev, None, staging.path())
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&fetched.files[0]).unwrap().len(), size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_servers_time_out_and_are_retried() {
    let Some(data) = vulndata() else { return };
    let root = documents(&data);
    let server = Server::start(root.path());
    let mut config = config(&server);
    config.http.request_timeout = Duration::from_millis(200);
    let kev = "/kev/known_exploited_vulnerabilities.json";

    server.fail(kev, 1, Fault::Delay(Duration::from_secs(2)));
    let staging = tempfile::tempdir().unwrap();
    let fetched = get(&config, &FeedId::Kev, None, staging.path())
        .await
        .unwrap();
    assert_eq!(fetched.stats.retries, 1);

    server.fail(kev, 3, Fault::Delay(Duration::from_secs(2)));
    let started = Instant::now();
    let error = get(&config, &FeedId::Kev, None, staging.path())
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Timeout { attempts: 3, .. }),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Records what the progress hooks hear.
#[derive(Default)]
struct Recorder {
    events: std::sync::Mutex<Vec<String>>,
    bytes: std::sync::atomic::AtomicU64,
}

impl feeds::FetchProgress for Recorder {
    fn request(&self, feed: &FeedId, url: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("request {feed} {url}"));
    }
    fn bytes(&self, _feed: &FeedId, bytes: u64) {
        self.bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }
    fn files_planned(&self, feed: &FeedId, files: u64) {
        self.events
            .lock()
            .unwrap()
            .push(format!("planned {feed} {files}"));
    }
    fn file_done(&self, feed: &FeedId, path: &Path, bytes: u64) {
        let name = path.file_name().unwrap().to_string_lossy();
        self.events
            .lock()
            .unwrap()
            .push(format!("done {feed} {name} {bytes}"));
    }
    fn retry(&self, feed: &FeedId, _url: &str, attempt: u32, _wait: Duration, _reason: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("retry {feed} {attempt}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_hears_requests_bytes_files_and_retries() {
    let Some(data) = vulndata() else { return };
    let root = documents(&data);
    let server = Server::start(root.path());
    server.set_nvd(nvd_cves(&data));
    let mut config = config(&server);
    config.nvd.results_per_page = 20;
    let kev = "/kev/known_exploited_vulnerabilities.json";
    let size = std::fs::metadata(root.path().join(kev.trim_start_matches('/')))
        .unwrap()
        .len();
    server.fail(kev, 1, Fault::Status(503, None));

    let recorder = Recorder::default();
    let staging = tempfile::tempdir().unwrap();
    let client = client();
    let fetched = fetch(
        &client,
        &config,
        &FeedId::Kev,
        None,
        staging.path(),
        &recorder,
    )
    .await
    .unwrap();
    let url = format!("{}kev/known_exploited_vulnerabilities.json", server.base);
    assert_eq!(
        *recorder.events.lock().unwrap(),
        [
            format!("request kev {url}"),
            "retry kev 1".to_owned(),
            format!("request kev {url}"),
            format!("done kev kev.json {size}"),
        ]
    );
    assert_eq!(
        recorder.bytes.load(std::sync::atomic::Ordering::Relaxed),
        size
    );
    assert_eq!(fetched.stats.bytes, size);

    let recorder = Recorder::default();
    let staging = tempfile::tempdir().unwrap();
    let fetched = fetch(
        &client,
        &config,
        &FeedId::Nvd,
        None,
        staging.path(),
        &recorder,
    )
    .await
    .unwrap();
    let events = recorder.events.lock().unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("planned nvd 2"))
            .count(),
        1
    );
    assert_eq!(
        events.iter().filter(|e| e.starts_with("done nvd")).count(),
        2
    );
    assert_eq!(fetched.files.len(), 2);
}

/// The CLI runs fetches on a multi-threaded runtime, several at a time.
#[test]
fn fetch_futures_can_be_spawned() {
    fn spawnable<T: Send + 'static>(_: &T) {}
    let config = FeedsConfig::default();
    let client = client();
    let future = async move {
        let staging = PathBuf::from("/nonexistent");
        let _ = fetch(&client, &config, &FeedId::Kev, None, &staging, &NoProgress).await;
    };
    spawnable(&future);
}

/// The advisory IDs the importer reads from Red Hat CSAF `files`.
fn red_hat_ids(files: &[PathBuf]) -> Vec<String> {
    let mut report = advisory::ImportReport::default();
    let mut ids = Vec::new();
    for file in files {
        if file.extension().is_some_and(|ext| ext == "zst") {
            advisory::import_redhat_csaf_archive(
                file,
                &advisory::ZipLimits::red_hat_csaf(),
                &mut report,
                &mut |advisory| ids.push(advisory.id),
            )
            .unwrap();
        } else {
            advisory::import_redhat_csaf_file(file, &mut report, &mut |advisory| {
                ids.push(advisory.id)
            })
            .unwrap();
        }
    }
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redhat_csaf_archive_then_changes_and_deletions() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    let documents = redhat_csaf_samples(&data);
    assert_eq!(documents.len(), 8, "the Red Hat CSAF samples");
    let dir = write_redhat_csaf(root.path(), "advisories", &documents);
    let server = Server::start(root.path());
    let mut config = config(&server);
    let feed: FeedId = "redhat-csaf/advisories".parse().unwrap();
    let base = "/redhat-csaf/advisories";

    // Full: archive_latest.txt names the archive; the cursor is its date.
    let staging = tempfile::tempdir().unwrap();
    let full = get(&config, &feed, None, staging.path()).await.unwrap();
    assert_eq!(full.mode, FetchMode::Full);
    assert_eq!(full.format, FeedFormat::RedHatCsafArchive);
    let archive = staging.path().join("csaf_advisories_2025-02-15.tar.zst");
    assert_eq!(full.files, vec![archive.clone()]);
    assert_eq!(full.cursor.as_deref(), Some("2025-02-15T00:00:00Z"));
    assert_eq!(
        paths(&server),
        [
            format!("{base}/archive_latest.txt"),
            format!("{base}/csaf_advisories_2025-02-15.tar.zst"),
        ]
    );
    // The archive holds every sample; its IDs are those of the documents.
    let singles: Vec<PathBuf> = documents.iter().map(|(path, _)| dir.join(path)).collect();
    let ids = red_hat_ids(&full.files);
    assert_eq!(ids, red_hat_ids(&singles));
    assert!(ids.contains(&"RHSA-2024:6163".to_owned()), "{ids:?}");

    // Nothing in either CSV is newer than the archive.
    server.clear_log();
    let staging = tempfile::tempdir().unwrap();
    let same = get(&config, &feed, full.cursor.as_deref(), staging.path())
        .await
        .unwrap();
    assert_eq!(same.mode, FetchMode::NotModified);
    assert_eq!(same.cursor, full.cursor);
    assert_eq!(
        paths(&server),
        [
            format!("{base}/changes.csv"),
            format!("{base}/deletions.csv")
        ]
    );

    // Upstream, out of order as Red Hat's files are: one document changes,
    // one is deleted, one listed as changed is already gone, one line is
    // garbage and one is older than the cursor.
    let changed = dir.join("2024/rhsa-2024_6163.json");
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes.push(b'\n');
    std::fs::write(&changed, bytes).unwrap();
    std::fs::remove_file(dir.join("2024/rhsa-2024_9371.json")).unwrap();
    write_redhat_csv(
        &dir,
        "changes.csv",
        &[
            ("2024/rhsa-2024_0811.json", "2025-02-14T10:00:00+00:00"),
            ("2024/rhsa-2024_6163.json", "2025-02-18T14:28:08+00:00"),
            ("../../etc/passwd", "2025-02-18T14:28:08+00:00"),
            ("2024/rhsa-2024_7777.json", "2025-02-16T09:00:00+00:00"),
        ],
    );
    write_redhat_csv(
        &dir,
        "deletions.csv",
        &[
            ("2024/rhsa-2024_2106.json", "2024-12-01T21:27:56+00:00"),
            ("2024/rhsa-2024_9371.json", "2025-02-19T08:00:00+00:00"),
        ],
    );
    server.clear_log();
    let staging = tempfile::tempdir().unwrap();
    let update = get(&config, &feed, full.cursor.as_deref(), staging.path())
        .await
        .unwrap();
    assert_eq!(
        update.mode,
        FetchMode::Incremental {
            removed_ids: vec!["RHSA-2024:7777".to_owned(), "RHSA-2024:9371".to_owned()]
        }
    );
    assert_eq!(update.format, FeedFormat::RedHatCsafJson);
    assert_eq!(
        update.files,
        vec![staging.path().join("rhsa-2024_6163.json")]
    );
    assert_eq!(red_hat_ids(&update.files), ["RHSA-2024:6163"]);
    assert_eq!(update.stats.malformed_lines, 1);
    assert_eq!(update.cursor.as_deref(), Some("2025-02-19T08:00:00Z"));
    let mut requested = paths(&server);
    requested.sort();
    assert_eq!(
        requested,
        [
            format!("{base}/2024/rhsa-2024_6163.json"),
            format!("{base}/2024/rhsa-2024_7777.json"),
            format!("{base}/changes.csv"),
            format!("{base}/deletions.csv"),
        ]
    );

    // More changes than the threshold: the archive instead.
    config.redhat_csaf.incremental_threshold = 1;
    server.clear_log();
    let staging = tempfile::tempdir().unwrap();
    let fallback = get(&config, &feed, full.cursor.as_deref(), staging.path())
        .await
        .unwrap();
    assert_eq!(fallback.mode, FetchMode::Full);
    assert_eq!(fallback.cursor.as_deref(), Some("2025-02-15T00:00:00Z"));
    assert!(
        fallback.stats.notes[0].starts_with("more than 1 documents changed"),
        "{:?}",
        fallback.stats.notes
    );
    assert_eq!(
        paths(&server).last().map(String::as_str),
        Some("/redhat-csaf/advisories/csaf_advisories_2025-02-15.tar.zst")
    );

    // An unreadable cursor, or no changes.csv: the archive, with a note.
    config.redhat_csaf.incremental_threshold = 2_000;
    let staging = tempfile::tempdir().unwrap();
    let unreadable = get(&config, &feed, Some("last tuesday"), staging.path())
        .await
        .unwrap();
    assert_eq!(unreadable.mode, FetchMode::Full);
    assert_eq!(unreadable.stats.notes.len(), 1);
    std::fs::remove_file(dir.join("changes.csv")).unwrap();
    let missing = get(&config, &feed, full.cursor.as_deref(), staging.path())
        .await
        .unwrap();
    assert_eq!(missing.mode, FetchMode::Full);
    assert_eq!(
        missing.stats.notes,
        ["changes.csv is missing: downloading the archive"]
    );

    // A hostile archive_latest.txt names nothing fetched; the archive is capped.
    std::fs::write(dir.join("archive_latest.txt"), "../../etc/passwd.tar.zst").unwrap();
    server.clear_log();
    let error = get(&config, &feed, None, staging.path()).await.unwrap_err();
    assert!(matches!(error, FetchError::Malformed { .. }), "{error:?}");
    assert_eq!(paths(&server), [format!("{base}/archive_latest.txt")]);
    std::fs::write(
        dir.join("archive_latest.txt"),
        "csaf_advisories_2025-02-15.tar.zst\n",
    )
    .unwrap();
    let mut small = config.clone();
    small.limits.redhat_advisories_archive = 1024;
    let staging = tempfile::tempdir().unwrap();
    let error = get(&small, &feed, None, staging.path()).await.unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { limit: 1024, .. }),
        "{error:?}"
    );
    assert_eq!(std::fs::read_dir(staging.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redhat_csaf_vex_layout_and_cve_ids() {
    let Some(data) = vulndata() else { return };
    // The feed never parses: the VEX layout only needs VEX names.
    let documents: Vec<(String, Vec<u8>)> = redhat_csaf_samples(&data)
        .into_iter()
        .take(2)
        .zip(["2024/cve-2024-8088.json", "2021/cve-2021-25220.json"])
        .map(|((_, bytes), path)| (path.to_owned(), bytes))
        .collect();
    let root = tempfile::tempdir().unwrap();
    let dir = write_redhat_csaf(root.path(), "vex", &documents);
    let server = Server::start(root.path());
    let config = config(&server);
    let feed = FeedId::RedHatCsaf {
        kind: RedHatCsafKind::Vex,
    };
    assert_eq!(feed.to_string(), "redhat-csaf/vex");
    let staging = tempfile::tempdir().unwrap();
    let full = get(&config, &feed, None, staging.path()).await.unwrap();
    assert_eq!(
        full.files,
        vec![staging.path().join("csaf_vex_2025-02-15.tar.zst")]
    );
    std::fs::remove_file(dir.join("2021/cve-2021-25220.json")).unwrap();
    write_redhat_csv(
        &dir,
        "deletions.csv",
        &[("2021/cve-2021-25220.json", "2025-03-01T00:00:00Z")],
    );
    let staging = tempfile::tempdir().unwrap();
    let update = get(&config, &feed, full.cursor.as_deref(), staging.path())
        .await
        .unwrap();
    assert_eq!(
        update.mode,
        FetchMode::Incremental {
            removed_ids: vec!["CVE-2021-25220".to_owned()]
        }
    );
    assert!(update.files.is_empty());
    assert_eq!(update.cursor.as_deref(), Some("2025-03-01T00:00:00Z"));
}
