//! `shipshape db import` / `db status` end to end with the built binary,
//! including atomicity: a killed import and a failed import leave the
//! previously committed database intact.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn shipshape(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipshape"));
    command.arg("--data-dir").arg(data_dir);
    command
}

fn status(data_dir: &Path) -> serde_json::Value {
    let output = shipshape(data_dir)
        .args(["db", "status", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn feeds(status: &serde_json::Value) -> Vec<(String, u64)> {
    status["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
                f["advisories"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A small OSV tree written by the test.
fn osv_tree(root: &Path, ids: &[&str]) -> PathBuf {
    let dir = root.join("osv").join("PyPI");
    std::fs::create_dir_all(&dir).unwrap();
    for id in ids {
        let record = serde_json::json!({
            "id": id, "modified": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "django"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.2.1"}]}]},
                         {"package": {"ecosystem": "Packagist", "name": "x/y"}, "versions": ["1.0"]}]
        });
        std::fs::write(dir.join(format!("{id}.json")), record.to_string()).unwrap();
    }
    std::fs::write(
        dir.join("broken.json"),
        r#"{"id": "BROKEN", "affected": 7}"#,
    )
    .unwrap();
    dir
}

#[test]
fn import_then_status_json() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let tree = osv_tree(work.path(), &["PYSEC-1", "PYSEC-2"]);
    let output = shipshape(&data)
        .args(["db", "import"])
        .arg(&tree)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("2 advisories"), "{text}");
    assert!(text.contains("1 skipped"), "{text}");
    assert!(
        text.contains("not matched by any matcher: Packagist"),
        "{text}"
    );
    let status = status(&data);
    assert_eq!(status["database_version"], 1);
    assert_eq!(feeds(&status), [("PyPI".to_owned(), 2)]);
    assert_eq!(status["feeds"][0]["skipped"], 1);
    let ecosystems: Vec<(String, bool)> = status["ecosystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["ecosystem"].as_str().unwrap().to_owned(),
                e["matched"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ecosystems,
        [("Packagist".to_owned(), false), ("PyPI".to_owned(), true)]
    );
    assert!(status["size_bytes"].as_u64().unwrap() > 0);

    // No database: status says so instead of creating one.
    let empty = work.path().join("empty");
    let output = shipshape(&empty).args(["db", "status"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no advisory database"));
    assert!(!empty.exists());
}

#[test]
fn a_failed_import_commits_nothing() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let tree = osv_tree(work.path(), &["PYSEC-1"]);
    assert!(
        shipshape(&data)
            .args(["db", "import"])
            .arg(&tree)
            .status()
            .unwrap()
            .success()
    );
    let more = osv_tree(&work.path().join("more"), &["PYSEC-7", "PYSEC-8"]);
    // The first path is imported into the transaction, then the second fails.
    let output = shipshape(&data)
        .args(["db", "import"])
        .arg(&more)
        .arg(work.path().join("does-not-exist"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("the database is unchanged"));
    let status = status(&data);
    assert_eq!(status["database_version"], 1);
    assert_eq!(feeds(&status), [("PyPI".to_owned(), 1)]);
}

#[test]
fn a_killed_import_leaves_the_previous_database() {
    let vulndata = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vulndata"
    ));
    if !vulndata.is_dir() {
        eprintln!("skipped: {} not found", vulndata.display());
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let tree = osv_tree(work.path(), &["PYSEC-1"]);
    assert!(
        shipshape(&data)
            .args(["db", "import"])
            .arg(&tree)
            .status()
            .unwrap()
            .success()
    );
    let mut child = shipshape(&data)
        .args(["db", "import"])
        .arg(vulndata)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the import has written a few MB of uncommitted pages.
    let wal = data.join("advisories.sqlite-wal");
    let started = Instant::now();
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < 4 * 1024 * 1024 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "import ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "import never wrote"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let status = status(&data);
    assert_eq!(status["database_version"], 1);
    assert_eq!(feeds(&status), [("PyPI".to_owned(), 1)]);
}
