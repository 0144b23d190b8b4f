//! `shipshape db update` end to end: the built binary against a local server
//! with the public feeds' layout generated from `shared/vulndata`
//! (`testkit::feed_server`). First update, incremental second update (changed,
//! withdrawn and deleted OSV records; a changed and a deleted Red Hat CSAF
//! document), a failing feed, a killed update,
//! `--mirror` / `SHIPSHAPE_MIRROR` and the per-source URL flags, and the NVD
//! API key never shown.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::feed_server::layout::{
    ALPINE_V315_MAIN, DEBIAN_TRACKER, EPSS, KEV, json_files, nvd_cves, redhat_csaf_samples,
    write_documents, write_modified, write_osv_ecosystem, write_redhat_csaf, write_redhat_csv,
};
use testkit::feed_server::{Fault, FeedServer, NVD_PATH, vulndata};

const API_KEY: &str = "nvd-k3y-n0t-for-print";

fn shipshape(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipshape"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("NVD_API_KEY")
        .env_remove("SHIPSHAPE_MIRROR");
    command
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

impl Run {
    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn status(data_dir: &Path) -> serde_json::Value {
    let run = run(shipshape(data_dir).args(["db", "status", "--format", "json"])).expect(0);
    serde_json::from_str(&run.stdout).unwrap()
}

/// (name, advisories, enrichments, cursor, origin) per feed.
fn feed_rows(status: &serde_json::Value) -> Vec<(String, u64, u64, Option<String>, String)> {
    status["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["advisories"].as_u64().unwrap(),
                f["enrichments"].as_u64().unwrap(),
                f["cursor"].as_str().map(str::to_owned),
                f["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn feed<'a>(
    rows: &'a [(String, u64, u64, Option<String>, String)],
    name: &str,
) -> &'a (String, u64, u64, Option<String>, String) {
    rows.iter()
        .find(|row| row.0 == name)
        .unwrap_or_else(|| panic!("feed {name} missing: {rows:?}"))
}

fn withdrawn_in_index(data_dir: &Path) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = vulndb::VulnDb::open_existing(data_dir)
            .await
            .unwrap()
            .unwrap();
        let loaded = db.load_index().await.unwrap();
        db.close().await;
        loaded.index.withdrawn()
    })
}

/// The single documents (Alpine v3.15 served as both main and community).
fn serve_documents(data: &Path, root: &Path) {
    write_documents(data, root);
    std::fs::copy(
        root.join(ALPINE_V315_MAIN),
        root.join("alpine/v3.15/community.json"),
    )
    .unwrap();
}

fn touch(root: &Path, relative: &str) {
    let path = root.join(relative);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'\n');
    std::fs::write(path, bytes).unwrap();
}

/// Paths the server was asked for since the last `clear_log`, sorted.
fn requested(server: &FeedServer) -> Vec<String> {
    let mut paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    paths.sort();
    paths
}

fn assert_key_hidden(run: &Run) {
    assert!(!run.stdout.contains(API_KEY), "{}", run.stdout);
    assert!(!run.stderr.contains(API_KEY), "{}", run.stderr);
}

#[test]
fn first_update_then_incremental() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    let go_records = write_osv_ecosystem(root.path(), "Go", &data.join("osv/Go"));
    let crates_records = write_osv_ecosystem(root.path(), "crates.io", &data.join("osv/crates.io"));
    serve_documents(&data, root.path());
    write_redhat_csaf(root.path(), "advisories", &redhat_csaf_samples(&data));
    let server = FeedServer::start(root.path());
    let cves = nvd_cves(&data);
    server.set_nvd(cves.clone());
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let update = || {
        let mut command = shipshape(&data_dir);
        command
            .args(["db", "update", "--retries", "1", "--mirror"])
            .arg(server.base.as_str())
            .args(["--osv-ecosystem", "Go", "--osv-ecosystem", "crates.io"])
            .args(["--alpine-branch", "v3.15"])
            .env("NVD_API_KEY", API_KEY);
        command
    };

    let started = Instant::now();
    let first = run(&mut update()).expect(0);
    eprintln!(
        "first update from the local server: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_key_hidden(&first);
    assert!(
        first.stdout.contains("updated 9 of 9 feeds"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("database version 1"));
    // Nothing drawn on a pipe.
    assert!(first.stderr.is_empty(), "{}", first.stderr);
    let nvd_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == NVD_PATH)
        .collect();
    assert!(!nvd_requests.is_empty());
    assert!(
        nvd_requests
            .iter()
            .all(|r| r.header("apiKey") == Some(API_KEY))
    );

    let status1 = status(&data_dir);
    assert_eq!(status1["database_version"], 1);
    assert!(!status1.to_string().contains(API_KEY));
    let rows = feed_rows(&status1);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "alpine-secdb/v3.15/community",
            "alpine-secdb/v3.15/main",
            "debian-tracker",
            "epss",
            "kev",
            "nvd",
            "osv/Go",
            "osv/crates.io",
            "redhat-csaf/advisories",
        ]
    );
    let go = feed(&rows, "osv/Go");
    assert_eq!(go.1, go_records.len() as u64);
    assert_eq!(go.3.as_deref(), Some(stamp_of(&go_records).as_str()));
    assert_eq!(go.4, format!("{}osv/Go/", server.base));
    assert_eq!(feed(&rows, "osv/crates.io").1, crates_records.len() as u64);
    assert!(feed(&rows, "debian-tracker").1 > 0);
    let alpine = feed(&rows, "alpine-secdb/v3.15/main");
    assert!(alpine.1 > 0);
    assert_eq!(alpine.4, format!("{}alpine/v3.15/main.json", server.base));
    assert_eq!(feed(&rows, "nvd").2, cves.len() as u64);
    assert!(feed(&rows, "epss").2 > 0);
    assert_eq!(feed(&rows, "kev").2, 1404);
    let withdrawn_before = withdrawn_in_index(&data_dir);

    // Upstream: two Go records change, one is withdrawn, one is deleted.
    let go_dir = root.path().join("osv/Go");
    let sources = json_files(&data.join("osv/Go"));
    let mut records = go_records.clone();
    let later = records.len() as i64 + 100;
    let edit = |index: usize, change: &dyn Fn(&mut serde_json::Value)| {
        let mut record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&sources[index]).unwrap()).unwrap();
        assert_eq!(record["withdrawn"], serde_json::Value::Null);
        change(&mut record);
        std::fs::write(
            go_dir.join(sources[index].file_name().unwrap()),
            record.to_string(),
        )
        .unwrap();
    };
    edit(10, &|r| r["summary"] = "changed upstream".into());
    edit(20, &|r| r["summary"] = "changed upstream too".into());
    edit(30, &|r| r["withdrawn"] = "2024-06-01T00:00:00Z".into());
    for (offset, index) in [10, 20, 30, 40].into_iter().enumerate() {
        records[index].0 = later + offset as i64;
    }
    write_modified(&go_dir, &records, &[]);
    server.clear_log();

    let second = run(&mut update()).expect(0);
    assert_key_hidden(&second);
    assert!(
        second.stdout.contains("database version 2"),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("incremental"), "{}", second.stdout);
    assert!(second.stdout.contains("not modified"), "{}", second.stdout);
    let osv_requests: Vec<String> = requested(&server)
        .into_iter()
        .filter(|p| p.starts_with("/osv/"))
        .collect();
    let mut expected: Vec<String> = [10, 20, 30, 40]
        .iter()
        .map(|i| format!("/osv/Go/{}.json", records[*i].1))
        .chain([
            "/osv/Go/modified_id.csv".to_owned(),
            "/osv/crates.io/modified_id.csv".to_owned(),
        ])
        .collect();
    expected.sort();
    assert_eq!(osv_requests, expected, "only the changed records");
    let status2 = status(&data_dir);
    assert_eq!(status2["database_version"], 2);
    let rows2 = feed_rows(&status2);
    let go2 = feed(&rows2, "osv/Go");
    assert_eq!(
        go2.1,
        go_records.len() as u64 - 1,
        "the deleted one is gone"
    );
    assert_eq!(go2.3.as_deref(), Some(stamp_of(&records).as_str()));
    // Documents answered 304: rows and cursors as they were.
    for name in [
        "debian-tracker",
        "kev",
        "epss",
        "alpine-secdb/v3.15/main",
        "redhat-csaf/advisories",
    ] {
        assert_eq!(feed(&rows2, name), feed(&rows, name), "{name}");
    }
    assert_eq!(feed(&rows2, "osv/crates.io"), feed(&rows, "osv/crates.io"));
    // The withdrawn record replaced the stored one, so the index drops it.
    assert_eq!(withdrawn_in_index(&data_dir), withdrawn_before + 1);
}

/// The CVE-2024-8088 finding on a RHEL 9.4 image with python3.9
/// 3.9.18-1.el9, matched against the database: its aliases (the errata
/// fixing it) and title.
fn python39_finding(data_dir: &Path) -> Option<(Vec<String>, Option<String>)> {
    let mut package = model::Package::new(model::PackageKind::Rpm, "python3-libs", "3.9.18-1.el9");
    package.source = Some(model::SourcePackage {
        name: "python3.9".to_owned(),
        version: Some("3.9.18-1.el9".to_owned()),
    });
    let inventory = model::ImageInventory {
        os: Some(model::OsInfo {
            family: model::OsFamily::RedHat,
            id: "rhel".to_owned(),
            version_id: Some("9.4".to_owned()),
            codename: None,
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }),
        packages: vec![package],
        diagnostics: Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let loaded = runtime.block_on(async {
        let db = vulndb::VulnDb::open_existing(data_dir)
            .await
            .unwrap()
            .unwrap();
        let loaded = db.load_index_for(&inventory).await.unwrap();
        db.close().await;
        loaded
    });
    let result = matching::match_image(&inventory, &loaded.index);
    result
        .findings
        .iter()
        .find(|f| f.id == "CVE-2024-8088")
        .map(|f| (f.aliases.clone(), f.title.as_ref().map(|t| t.to_string())))
}

#[test]
fn red_hat_csaf_archive_then_changed_and_deleted_documents() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    let documents = redhat_csaf_samples(&data);
    let dir = write_redhat_csaf(root.path(), "advisories", &documents);
    let server = FeedServer::start(root.path());
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let update = || {
        let mut command = shipshape(&data_dir);
        command
            .args(["db", "update", "--retries", "0", "--mirror"])
            .arg(server.base.as_str())
            .args(["--feed", "redhat-csaf/advisories"]);
        command
    };

    let first = run(&mut update()).expect(0);
    assert!(
        first.stdout.contains("updated 1 of 1 feeds"),
        "{}",
        first.stdout
    );
    let rows = feed_rows(&status(&data_dir));
    let red_hat = feed(&rows, "redhat-csaf/advisories");
    // One advisory per erratum of the samples.
    assert_eq!(red_hat.1, documents.len() as u64, "{rows:?}");
    assert_eq!(red_hat.3.as_deref(), Some("2025-02-15T00:00:00Z"));
    assert_eq!(red_hat.4, format!("{}redhat-csaf/advisories/", server.base));
    let (aliases, title) = python39_finding(&data_dir).expect("CVE-2024-8088 found");
    assert_eq!(aliases, ["RHSA-2024:6163", "RHSA-2024:9371"]);
    assert_eq!(
        title.as_deref(),
        Some("Red Hat Security Advisory: python3.9 security update")
    );

    // Upstream: RHSA-2024:6163 is reissued, RHSA-2024:9371 deleted.
    let changed = dir.join("2024/rhsa-2024_6163.json");
    let mut document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&changed).unwrap()).unwrap();
    document["document"]["title"] = "python3.9 security update, reissued".into();
    std::fs::write(&changed, document.to_string()).unwrap();
    std::fs::remove_file(dir.join("2024/rhsa-2024_9371.json")).unwrap();
    write_redhat_csv(
        &dir,
        "changes.csv",
        &[("2024/rhsa-2024_6163.json", "2025-02-18T14:28:08+00:00")],
    );
    write_redhat_csv(
        &dir,
        "deletions.csv",
        &[("2024/rhsa-2024_9371.json", "2025-02-19T08:00:00+00:00")],
    );
    server.clear_log();
    let second = run(&mut update()).expect(0);
    assert!(second.stdout.contains("incremental"), "{}", second.stdout);
    assert_eq!(
        requested(&server),
        [
            "/redhat-csaf/advisories/2024/rhsa-2024_6163.json",
            "/redhat-csaf/advisories/changes.csv",
            "/redhat-csaf/advisories/deletions.csv",
        ]
    );
    let rows = feed_rows(&status(&data_dir));
    let red_hat = feed(&rows, "redhat-csaf/advisories");
    assert_eq!(red_hat.1, documents.len() as u64 - 1, "{rows:?}");
    assert_eq!(red_hat.3.as_deref(), Some("2025-02-19T08:00:00Z"));
    // The rows the import wrote are the ones replaced and removed.
    let (aliases, title) = python39_finding(&data_dir).expect("still found");
    assert_eq!(aliases, ["RHSA-2024:6163"]);
    assert_eq!(
        title.as_deref(),
        Some("python3.9 security update, reissued")
    );

    // Nothing newer: not modified, nothing written.
    let third = run(&mut update()).expect(0);
    assert!(third.stdout.contains("not modified"), "{}", third.stdout);
    assert_eq!(feed_rows(&status(&data_dir)), rows);

    // An archive over the configured cap fails the feed and keeps its rows;
    // so does one that unpacks to more than allowed.
    for flag in [
        "--redhat-archive-max-mib",
        "--redhat-archive-max-unpacked-gib",
    ] {
        let capped = run(update().args(["--full", flag, "0"])).expect(1);
        assert!(
            capped.stderr.contains("redhat-csaf/advisories"),
            "{flag}: {}",
            capped.stderr
        );
        assert_eq!(feed_rows(&status(&data_dir)), rows, "{flag}");
    }
}

/// The newest `modified_id.csv` time of `records`, as the cursor stores it.
fn stamp_of(records: &[(i64, String)]) -> String {
    let newest = records.iter().map(|r| r.0).max().unwrap();
    testkit::feed_server::layout::stamp(newest)
}

#[test]
fn a_failing_feed_is_named_and_the_others_are_committed() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    serve_documents(&data, root.path());
    let server = FeedServer::start(root.path());
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let update = |data_dir: &Path| {
        let mut command = shipshape(data_dir);
        command
            .args(["db", "update", "--retries", "1"])
            .args([
                "--feed",
                "debian-tracker",
                "--feed",
                "epss",
                "--feed",
                "kev",
            ])
            .env("SHIPSHAPE_MIRROR", server.base.as_str());
        command
    };
    run(&mut update(&data_dir)).expect(0);
    let before = feed_rows(&status(&data_dir));
    assert_eq!(before.len(), 3);

    // EPSS fails; the tracker changed upstream and is committed anyway.
    server.fail(&format!("/{EPSS}"), 100, Fault::Status(503, None));
    touch(root.path(), DEBIAN_TRACKER);
    let failed = run(&mut update(&data_dir)).expect(1);
    assert!(
        failed.stderr.contains("1 of 3 feeds failed: epss"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("the other feeds were committed"));
    assert!(failed.stdout.contains("epss"), "{}", failed.stdout);
    assert!(failed.stdout.contains("FAILED"), "{}", failed.stdout);
    assert!(failed.stdout.contains("503"), "{}", failed.stdout);
    let after = status(&data_dir);
    assert_eq!(after["database_version"], 2);
    let rows = feed_rows(&after);
    assert_eq!(feed(&rows, "epss"), feed(&before, "epss"), "kept as it was");
    assert_ne!(
        feed(&rows, "debian-tracker").3,
        feed(&before, "debian-tracker").3,
        "re-imported with the new validators"
    );

    // A download with nothing readable in it (an error page instead of the
    // catalog) must not replace the feed with nothing.
    std::fs::write(root.path().join(KEV), "<html>maintenance</html>").unwrap();
    let unreadable = run(&mut update(&data_dir)).expect(1);
    assert!(
        unreadable.stderr.contains("2 of 3 feeds failed: epss, kev"),
        "{}",
        unreadable.stderr
    );
    assert!(
        unreadable
            .stdout
            .contains("nothing readable in the download"),
        "{}",
        unreadable.stdout
    );
    let rows = feed_rows(&status(&data_dir));
    assert_eq!(feed(&rows, "kev"), feed(&before, "kev"), "kept as it was");
    assert!(feed(&rows, "kev").2 > 1000);

    // Every feed fails on an empty database: exit 1, nothing committed.
    let empty = work.path().join("empty");
    server.fail(&format!("/{KEV}"), 100, Fault::Status(503, None));
    server.fail(&format!("/{DEBIAN_TRACKER}"), 100, Fault::Status(503, None));
    let all_failed = run(&mut update(&empty)).expect(1);
    assert!(
        all_failed.stderr.contains("3 of 3 feeds failed"),
        "{}",
        all_failed.stderr
    );
    assert!(all_failed.stderr.contains("the database is unchanged"));
    let status = status(&empty);
    assert_eq!(status["database_version"], 0);
    assert!(feed_rows(&status).is_empty());
}

#[test]
fn per_source_urls_and_origins() {
    let Some(data) = vulndata() else { return };
    // Each feed somewhere else than the mirror layout puts it.
    let root = tempfile::tempdir().unwrap();
    let documents = tempfile::tempdir().unwrap();
    serve_documents(&data, documents.path());
    let moves = [
        (DEBIAN_TRACKER, "deb/tracker.json"),
        (ALPINE_V315_MAIN, "sec/v3.15/main.json"),
        (EPSS, "scores/epss.csv.gz"),
        (KEV, "cisa/kev.json"),
    ];
    for (from, to) in moves {
        let target = root.path().join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(documents.path().join(from), target).unwrap();
    }
    write_redhat_csaf(
        &root.path().join("access"),
        "advisories",
        &redhat_csaf_samples(&data),
    );
    let osv = root.path().join("mirror/osv-export");
    let records = write_osv_ecosystem(&osv, "crates.io", &data.join("osv/crates.io"));
    let server = FeedServer::start(root.path());
    server.set_nvd(nvd_cves(&data));
    let base = server.base.as_str();
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let first = run(shipshape(&data_dir)
        .args(["db", "update", "--retries", "0"])
        .args(["--feed", "osv/crates.io", "--feed", "debian-tracker"])
        .args(["--feed", "alpine-secdb/v3.15/main", "--feed", "epss"])
        .args(["--feed", "kev", "--feed", "nvd"])
        .args(["--feed", "redhat-csaf/advisories"])
        .args(["--redhat-csaf-url", &format!("{base}access/redhat-csaf")])
        .args(["--osv-url", &format!("{base}mirror/osv-export/osv")])
        .args(["--debian-tracker-url", &format!("{base}deb/tracker.json")])
        .args(["--alpine-secdb-url", &format!("{base}sec")])
        .args(["--epss-url", &format!("{base}scores/epss.csv.gz")])
        .args(["--kev-url", &format!("{base}cisa/kev.json")])
        .args(["--nvd-url", &format!("{base}{}", &NVD_PATH[1..])])
        .args(["--nvd-api-key", API_KEY]))
    .expect(0);
    assert_key_hidden(&first);
    let rows = feed_rows(&status(&data_dir));
    let origins: Vec<(&str, String)> = rows.iter().map(|r| (r.0.as_str(), r.4.clone())).collect();
    assert_eq!(
        origins,
        [
            (
                "alpine-secdb/v3.15/main",
                format!("{base}sec/v3.15/main.json")
            ),
            ("debian-tracker", format!("{base}deb/tracker.json")),
            ("epss", format!("{base}scores/epss.csv.gz")),
            ("kev", format!("{base}cisa/kev.json")),
            ("nvd", format!("{base}nvd/rest/json/cves/2.0")),
            (
                "osv/crates.io",
                format!("{base}mirror/osv-export/osv/crates.io/")
            ),
            (
                "redhat-csaf/advisories",
                format!("{base}access/redhat-csaf/advisories/")
            ),
        ]
    );
    assert_eq!(feed(&rows, "osv/crates.io").1, records.len() as u64);
    assert!(rows.iter().all(|r| r.1 + r.2 > 0), "{rows:?}");
    // Unknown feed names are refused before anything is fetched.
    server.clear_log();
    let refused = run(shipshape(&data_dir).args(["db", "update", "--feed", "osv/../x"])).expect(2);
    assert!(refused.stderr.contains("osv/../x"), "{}", refused.stderr);
    assert!(server.requests().is_empty());
}

#[test]
fn a_killed_update_leaves_the_previous_database() {
    let Some(data) = vulndata() else { return };
    let root = tempfile::tempdir().unwrap();
    serve_documents(&data, root.path());
    let server = FeedServer::start(root.path());
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let update = || {
        let mut command = shipshape(&data_dir);
        command
            .args(["db", "update", "--retries", "0", "--full", "--mirror"])
            .arg(server.base.as_str())
            .args(["--feed", "epss", "--feed", "kev"]);
        command
    };
    run(&mut update()).expect(0);
    let before = status(&data_dir);

    // EPSS arrives, KEV hangs: kill while the update waits for it.
    server.fail(&format!("/{KEV}"), 1, Fault::Delay(Duration::from_secs(30)));
    let mut child = update()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staged: PathBuf = data_dir.join("staging/epss/epss.csv.gz");
    let started = Instant::now();
    while !staged.exists() {
        assert!(child.try_wait().unwrap().is_none(), "update ended early");
        assert!(started.elapsed() < Duration::from_secs(20), "never staged");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second update meanwhile is refused rather than sharing the staging.
    let concurrent = run(&mut update()).expect(1);
    assert!(
        concurrent
            .stderr
            .contains("another `shipshape db update` is running"),
        "{}",
        concurrent.stderr
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let after = status(&data_dir);
    assert_eq!(after["database_version"], before["database_version"]);
    assert_eq!(feed_rows(&after), feed_rows(&before));
    assert!(data_dir.join("staging").exists(), "left by the killed run");

    // The next run cleans up the stale staging and commits.
    run(&mut update()).expect(0);
    assert!(!data_dir.join("staging").exists());
    assert_eq!(status(&data_dir)["database_version"], 2);
}
