//! The OS package database analyzers on real-format fixtures, this machine's
//! own dpkg database, and damaged or hostile variants of them.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use analyze::analyzers::rpm::sqlite::{Database, Value};
use analyze::analyzers::{ApkAnalyzer, DpkgAnalyzer, RpmAnalyzer};
use analyze::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};
use model::DiagnosticLevel;

fn fixture(relative: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn analyze(
    analyzer: &dyn Analyzer,
    path: &str,
    bytes: &[u8],
) -> Result<AnalysisOutput, AnalyzerError> {
    let meta = FileMeta {
        path,
        size: bytes.len() as u64,
        mode: 0o644,
    };
    assert!(
        analyzer.wants(&meta),
        "{} does not want {path}",
        analyzer.id()
    );
    let mut body = Cursor::new(bytes);
    let mut out = AnalysisOutput::default();
    analyzer.analyze(
        FileInput {
            meta,
            body: &mut body,
        },
        &mut out,
    )?;
    Ok(out)
}

/// One line per package, then one per diagnostic.
fn render(out: &AnalysisOutput) -> String {
    let mut text = String::new();
    for p in &out.packages {
        let source = match &p.source {
            Some(s) => format!("{}@{}", s.name, s.version.as_deref().unwrap_or("?")),
            None => "-".to_owned(),
        };
        text.push_str(&format!(
            "{} {} {} arch={} source={} licenses={:?}{}\n",
            p.kind,
            p.name,
            p.version,
            p.arch.as_deref().unwrap_or("-"),
            source,
            p.licenses,
            p.module
                .as_deref()
                .map(|m| format!(" module={m}"))
                .unwrap_or_default()
        ));
    }
    for d in &out.diagnostics {
        text.push_str(&format!("{d}\n"));
    }
    text
}

#[test]
fn dpkg_status_fixture() {
    let out = analyze(
        &DpkgAnalyzer,
        "var/lib/dpkg/status",
        &fixture("dpkg/status"),
    )
    .unwrap();
    insta::assert_snapshot!(render(&out));
}

#[test]
fn dpkg_distroless_status_d_fixtures() {
    let mut text = String::new();
    for name in ["base-files", "libssl3"] {
        let path = format!("var/lib/dpkg/status.d/{name}");
        let out = analyze(
            &DpkgAnalyzer,
            &path,
            &fixture(&format!("dpkg/status.d/{name}")),
        )
        .unwrap();
        text.push_str(&render(&out));
    }
    let md5sums = FileMeta {
        path: "var/lib/dpkg/status.d/libssl3.md5sums",
        size: 71,
        mode: 0o644,
    };
    assert!(!DpkgAnalyzer.wants(&md5sums));
    insta::assert_snapshot!(text);
}

/// Compares with dpkg-query itself, on a private copy of this machine's dpkg
/// database so that a concurrent apt run cannot change it between the reads.
#[test]
#[allow(
    clippy::print_stderr,
    reason = "a skipped test says why it was skipped"
)]
fn dpkg_matches_dpkg_query_on_this_machine() {
    let real = Path::new("/var/lib/dpkg/status");
    let Ok(bytes) = std::fs::read(real) else {
        eprintln!(
            "skipped: {} is not readable on this machine",
            real.display()
        );
        return;
    };
    let admin_dir = tempfile::tempdir().unwrap();
    std::fs::write(admin_dir.path().join("status"), &bytes).unwrap();
    std::fs::create_dir(admin_dir.path().join("info")).unwrap();
    std::fs::create_dir(admin_dir.path().join("updates")).unwrap();
    let query = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin_dir.path().display()))
        .args(["-W", "-f=${db:Status-Abbrev}|${Package}|${Version}|${Architecture}|${source:Package}|${source:Version}\\n"])
        .output();
    let Some(query) = query.ok().filter(|q| q.status.success()) else {
        eprintln!("skipped: dpkg-query is not available");
        return;
    };
    let mut expected: Vec<String> = String::from_utf8(query.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (status, rest) = line.split_once('|')?;
            matches!(status.trim_end(), "ii" | "hi").then(|| rest.to_owned())
        })
        .collect();
    let out = analyze(&DpkgAnalyzer, "var/lib/dpkg/status", &bytes).unwrap();
    assert_eq!(
        out.diagnostics,
        [],
        "a real database has no malformed paragraph"
    );
    let mut got: Vec<String> = out
        .packages
        .iter()
        .map(|p| {
            let source = p.source.as_ref().unwrap();
            format!(
                "{}|{}|{}|{}|{}",
                p.name,
                p.version,
                p.arch.as_deref().unwrap_or(""),
                source.name,
                source.version.as_deref().unwrap_or("")
            )
        })
        .collect();
    expected.sort();
    got.sort();
    assert!(got.len() > 10, "only {} packages found", got.len());
    assert_eq!(got, expected);
}

#[test]
fn apk_installed_fixture() {
    let out = analyze(
        &ApkAnalyzer,
        "lib/apk/db/installed",
        &fixture("apk/installed"),
    )
    .unwrap();
    insta::assert_snapshot!(render(&out));
}

#[test]
fn rpm_sqlite_fixture_written_by_rpm() {
    let bytes = fixture("rpm/rpmdb.sqlite");
    let out = analyze(&RpmAnalyzer, "var/lib/rpm/rpmdb.sqlite", &bytes).unwrap();
    assert_eq!(out.diagnostics, []);
    insta::assert_snapshot!(render(&out));
    let sysimage = analyze(&RpmAnalyzer, "usr/lib/sysimage/rpm/rpmdb.sqlite", &bytes).unwrap();
    assert_eq!(render(&sysimage), render(&out));
}

#[test]
fn sqlite_reader_walks_deep_trees_and_overflow_chains() {
    let bytes = fixture("sqlite/deep.sqlite");
    let mut body = Cursor::new(bytes.as_slice());
    let mut db = Database::open(&mut body).unwrap();
    let root = db.table_root_page("Packages").unwrap().unwrap();
    let mut rows = Vec::new();
    let report = db
        .scan_table(root, &mut |_, rowid, record| {
            let Value::Blob(blob) = record.value(1) else {
                panic!("row {rowid} has no blob");
            };
            rows.push((rowid, blob.to_vec()));
        })
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let mut expected: Vec<(i64, Vec<u8>)> = (1..=3000)
        .map(|i| (i, format!("row-{i:05}").into_bytes()))
        .collect();
    for i in 5000..=5002 {
        let digits = format!("{:02}", i % 100);
        expected.push((i, digits.repeat(1500).into_bytes()));
    }
    assert_eq!(rows.len(), expected.len());
    assert!(rows == expected, "rows differ from what sqlite3 wrote");
    assert_eq!(report.rows, 3003);
}

#[test]
fn sqlite_reader_decodes_utf16_schemas() {
    let bytes = fixture("sqlite/utf16.sqlite");
    let mut body = Cursor::new(bytes.as_slice());
    let mut db = Database::open(&mut body).unwrap();
    let root = db
        .table_root_page("packages")
        .unwrap()
        .expect("table found by UTF-16 name");
    let mut rows = Vec::new();
    db.scan_table(root, &mut |_, rowid, record| {
        rows.push((rowid, record.value(1) == Value::Blob(&[0, 1, 2, 3])));
    })
    .unwrap();
    assert_eq!(rows, [(7, true)]);
    assert_eq!(db.table_root_page("Missing").unwrap(), None);
}

fn page_size_of(db: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([db[16], db[17]]))
}

#[test]
fn btree_loop_is_reported_and_other_rows_still_listed() {
    let mut bytes = fixture("sqlite/deep.sqlite");
    let page_size = page_size_of(&bytes);
    let root = {
        let mut body = Cursor::new(bytes.as_slice());
        Database::open(&mut body)
            .unwrap()
            .table_root_page("Packages")
            .unwrap()
            .unwrap()
    };
    let root_at = (root as usize - 1) * page_size;
    assert_eq!(
        bytes[root_at], 0x05,
        "the root of a 3000-row table is an interior page"
    );
    // The right-most child now points back at the root.
    bytes[root_at + 8..root_at + 12].copy_from_slice(&root.to_be_bytes());
    let mut body = Cursor::new(bytes.as_slice());
    let mut db = Database::open(&mut body).unwrap();
    let mut rows = 0;
    let report = db.scan_table(root, &mut |_, _, _| rows += 1).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].to_string().contains("loop"),
        "{}",
        report.problems[0]
    );
    assert!(rows > 0 && rows < 3003, "{rows} rows");
}

#[test]
fn overflow_loop_skips_only_its_row() {
    let mut bytes = fixture("sqlite/deep.sqlite");
    let page_size = page_size_of(&bytes);
    // Row 5000's blob is 3000 ASCII '0's: its overflow pages are the pages
    // holding nothing else. Point the first of them that has a successor
    // back at itself.
    let page = (0..bytes.len() / page_size)
        .find(|&i| {
            let p = &bytes[i * page_size..(i + 1) * page_size];
            p[..4] != [0, 0, 0, 0] && p[4..].iter().all(|&b| b == b'0')
        })
        .expect("an overflow page of row 5000");
    let page_number = (page + 1) as u32;
    bytes[page * page_size..page * page_size + 4].copy_from_slice(&page_number.to_be_bytes());
    let mut body = Cursor::new(bytes.as_slice());
    let mut db = Database::open(&mut body).unwrap();
    let root = db.table_root_page("Packages").unwrap().unwrap();
    let mut rowids = Vec::new();
    let report = db
        .scan_table(root, &mut |_, rowid, _| rowids.push(rowid))
        .unwrap();
    assert_eq!(rowids.len(), 3002);
    assert!(!rowids.contains(&5000));
    let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("row 5000: overflow chain:"),
        "{problems:?}"
    );
    assert!(problems[0].contains("(a loop)"), "{problems:?}");
}

#[test]
fn truncated_rpmdb_gives_partial_results_or_a_clear_error() {
    let bytes = fixture("rpm/rpmdb.sqlite");
    let page_size = page_size_of(&bytes);
    let mut lengths: Vec<usize> = (0..=bytes.len() / page_size)
        .map(|p| p * page_size)
        .collect();
    lengths.extend([1, 99, 100, 101, page_size + 1, bytes.len() - 1]);
    for len in lengths {
        match analyze(&RpmAnalyzer, "var/lib/rpm/rpmdb.sqlite", &bytes[..len]) {
            Ok(out) => {
                assert!(out.packages.len() <= 4, "truncated to {len}");
                if out.packages.len() < 4 {
                    assert!(
                        out.diagnostics
                            .iter()
                            .any(|d| d.level == DiagnosticLevel::Error),
                        "truncated to {len}: packages lost without an error diagnostic: {}",
                        render(&out)
                    );
                }
            }
            Err(err) => {
                assert!(
                    matches!(err, AnalyzerError::Malformed { .. }),
                    "truncated to {len}: {err}"
                );
            }
        }
    }
}

/// A deterministic xorshift generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random byte damage to each fixture: the analyzers must neither panic nor
/// take long, whatever they make of it.
#[test]
fn damaged_fixtures_do_not_panic_or_hang() {
    let cases: [(&dyn Analyzer, &str, PathBuf); 4] = [
        (&DpkgAnalyzer, "var/lib/dpkg/status", "dpkg/status".into()),
        (&ApkAnalyzer, "lib/apk/db/installed", "apk/installed".into()),
        (
            &RpmAnalyzer,
            "var/lib/rpm/rpmdb.sqlite",
            "rpm/rpmdb.sqlite".into(),
        ),
        (
            &RpmAnalyzer,
            "var/lib/rpm/rpmdb.sqlite",
            "sqlite/deep.sqlite".into(),
        ),
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for (analyzer, path, fixture_path) in cases {
        let original = fixture(fixture_path.to_str().unwrap());
        let started = Instant::now();
        for round in 0..400 {
            let mut bytes = original.clone();
            let damage = 1 + rng.below(8);
            for _ in 0..damage {
                let at = rng.below(bytes.len());
                bytes[at] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => bytes[at] ^ (1 << rng.below(8)),
                    _ => rng.next() as u8,
                };
            }
            if round % 10 == 0 {
                bytes.truncate(rng.below(bytes.len()));
            }
            let _ = analyze(analyzer, path, &bytes);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} damaged copies of {} took {:?}",
            400,
            fixture_path.display(),
            started.elapsed()
        );
    }
}
