//! `shipshape scan` with findings, end to end: advisories imported with
//! `shipshape db import` into a data directory, an image built in code and
//! written as an OCI layout, the real binary matching one against the other
//! in every output format, with `--ignore-unfixed`, `--severity-threshold`
//! (exit code 3) and `--sbom-only`.

#![allow(clippy::print_stderr)]

mod support;

#[path = "../../sbom/tests/support/schema.rs"]
#[allow(dead_code)]
mod schema;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Run, Sandbox, fixture, gunzipped_fixture};
use testkit::{ImageBuilder, LayerBuilder, LayoutWriter};

const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A Debian 12 image with openssl (source 3.0.11-1~deb12u2) in the base
/// layer, Python `requests` 2.32.3 and a global lodash 4.17.21 in the second,
/// and a Go binary built with go1.19.8 in the third.
fn image() -> testkit::BuiltImage {
    ImageBuilder::oci()
        .layer(
            LayerBuilder::new()
                .created_by("/bin/sh -c #(nop) ADD file:bookworm-rootfs in / ")
                .file("etc/os-release", DEBIAN_OS_RELEASE, 0o644)
                .file("var/lib/dpkg/status", fixture("dpkg/status"), 0o644),
        )
        .layer(
            LayerBuilder::new()
                .created_by("RUN pip install requests && npm install -g lodash")
                .file(
                    "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA",
                    fixture("python/requests-2.32.3.METADATA"),
                    0o644,
                )
                .file(
                    "usr/lib/node_modules/lodash/package.json",
                    fixture("npm/lodash-4.17.21.json"),
                    0o644,
                ),
        )
        .layer(
            LayerBuilder::new()
                .created_by("COPY hello /usr/local/bin/")
                .file(
                    "usr/local/bin/hello",
                    gunzipped_fixture("go/hello-ldflags.gz"),
                    0o755,
                ),
        )
        .build()
        .expect("building the image")
}

/// Advisories shaped like the real feeds' (OSV JSON as Debian, GitHub and
/// npm publish it), about this image's packages: one fixed critical, one
/// fixed medium, one low without a fix; and one about a version the image
/// does not have.
fn write_advisories(dir: &Path) {
    let records = [
        json!({
            "id": "DSA-9001-1", "modified": "2024-03-01T00:00:00Z",
            "aliases": ["CVE-2024-9001"],
            "summary": "openssl: remote code execution in the TLS handshake",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}],
            "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/DSA-9001-1"}]
        }),
        json!({
            "id": "GHSA-9hjg-9r4m-mvj7", "modified": "2025-06-09T00:00:00Z",
            "aliases": ["CVE-2024-47081"],
            "summary": "Requests vulnerable to .netrc credentials leak via malicious URLs",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"}],
            "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.4"}]}]}]
        }),
        json!({
            "id": "GHSA-lodash-0000-0001", "modified": "2025-01-01T00:00:00Z",
            "aliases": ["CVE-2025-9002"],
            "summary": "lodash: prototype pollution in a rarely used helper",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}],
            "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "4.0.0"}]}]}]
        }),
        json!({
            "id": "GHSA-old-requests", "modified": "2023-05-22T00:00:00Z",
            "aliases": ["CVE-2023-32681"],
            "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}]}]
        }),
    ];
    std::fs::create_dir_all(dir).expect("advisory dir");
    for record in records {
        let id = record["id"].as_str().expect("id");
        std::fs::write(dir.join(format!("{id}.json")), record.to_string()).expect("write");
    }
}

struct Setup {
    sandbox: Sandbox,
    layout: String,
    data_dir: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let sandbox = Sandbox::new();
        let layout_dir = sandbox.root().join("layout");
        LayoutWriter::create(&layout_dir)
            .expect("layout")
            .add(&image(), Some("app"))
            .expect("add image");
        let data_dir = sandbox.root().join("data");
        let advisories = sandbox.root().join("advisories");
        write_advisories(&advisories);
        let setup = Setup {
            layout: format!("{}:app", layout_dir.display()),
            data_dir,
            sandbox,
        };
        setup
            .run(&["db", "import", advisories.to_str().expect("utf-8")])
            .expect_code(0);
        setup
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--data-dir", self.data_dir.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        self.sandbox.run(&all, &[])
    }

    fn scan(&self, extra: &[&str]) -> Run {
        let cache = self.sandbox.cache();
        let mut args = vec![
            "scan",
            "--oci-layout",
            &self.layout,
            "--cache-dir",
            cache.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// (id, package, installed, fixed version, state, severity) of each finding, in report order.
fn finding_rows(report: &Value) -> Vec<(String, String, String, String, String, String)> {
    report["vulnerabilities"]
        .as_array()
        .unwrap_or_else(|| panic!("no vulnerabilities in {report:#}"))
        .iter()
        .map(|v| {
            let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
            (
                text(&v["id"]),
                text(&v["package"]["name"]),
                text(&v["package"]["version"]),
                text(&v["fixedVersion"]),
                text(&v["state"]),
                text(&v["severity"]),
            )
        })
        .collect()
}

fn ids(report: &Value) -> Vec<String> {
    finding_rows(report).into_iter().map(|row| row.0).collect()
}

#[test]
fn findings_in_every_format_sorted_by_cvss_with_evidence() {
    let setup = Setup::new();
    let report = setup.scan(&["--format", "json"]).json();
    let rows = finding_rows(&report);
    let expected: Vec<(&str, &str, &str, &str, &str, &str)> = vec![
        (
            "CVE-2024-9001",
            "libssl3",
            "3.0.11-1~deb12u2+b1",
            "3.0.13-1~deb12u1",
            "fixed",
            "critical",
        ),
        (
            "CVE-2024-47081",
            "requests",
            "2.32.3",
            "2.32.4",
            "fixed",
            "medium",
        ),
        ("CVE-2025-9002", "lodash", "4.17.21", "", "not-fixed", "low"),
    ];
    let rows_ref: Vec<(&str, &str, &str, &str, &str, &str)> = rows
        .iter()
        .filter(|row| row.1 != "stdlib")
        .map(|r| {
            (
                r.0.as_str(),
                r.1.as_str(),
                r.2.as_str(),
                r.3.as_str(),
                r.4.as_str(),
                r.5.as_str(),
            )
        })
        .collect();
    // openssl's advisory reaches every binary package built from it.
    let openssl_binaries: Vec<&str> = rows_ref
        .iter()
        .filter(|r| r.0 == "CVE-2024-9001")
        .map(|r| r.1)
        .collect();
    assert!(
        openssl_binaries.contains(&"libssl3"),
        "openssl finding on libssl3: {rows_ref:#?}"
    );
    let deduped: Vec<_> = rows_ref
        .iter()
        .filter(|r| r.0 != "CVE-2024-9001" || r.1 == "libssl3")
        .copied()
        .collect();
    assert_eq!(deduped, expected, "{report:#}");

    let openssl = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "CVE-2024-9001")
        .unwrap();
    assert!(
        openssl["aliases"]
            .as_array()
            .unwrap()
            .contains(&json!("DSA-9001-1")),
        "{openssl:#}"
    );
    assert_eq!(openssl["cvss"]["score"], json!(9.8), "{openssl:#}");
    assert_eq!(openssl["package"]["layerIndex"], json!(0), "{openssl:#}");
    let evidence = &openssl["evidence"][0];
    assert_eq!(evidence["advisoryId"], "DSA-9001-1", "{openssl:#}");
    assert_eq!(evidence["ecosystem"], "Debian:12", "{openssl:#}");
    assert_eq!(evidence["matcher"], "dpkg", "{openssl:#}");
    // Not affected: the requests advisory for < 2.31.0.
    assert!(!ids(&report).contains(&"CVE-2023-32681".to_owned()));
    assert_eq!(
        report["database"]["version"],
        json!("1"),
        "{:#}",
        report["database"]
    );

    // CycloneDX: every vulnerability affects a component of the document.
    let cyclonedx = setup.scan(&["--format", "cyclonedx"]).expect_code(0).stdout;
    schema::assert_valid("bom-1.5.schema.json", &cyclonedx);
    schema::check_cyclonedx_refs(&cyclonedx);
    let bom: Value = serde_json::from_str(&cyclonedx).expect("json");
    let cdx_ids: Vec<&str> = bom["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities section")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    for id in ["CVE-2024-9001", "CVE-2024-47081", "CVE-2025-9002"] {
        assert!(cdx_ids.contains(&id), "{id} in {cdx_ids:?}");
    }
    let requests = bom["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "CVE-2024-47081")
        .unwrap();
    assert!(
        requests["references"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "GHSA-9hjg-9r4m-mvj7"),
        "aliases under references: {requests:#}"
    );
    assert_eq!(requests["ratings"][0]["score"], json!(5.3), "{requests:#}");

    // SARIF 2.1.0: one result per finding, valid against the schema.
    let sarif = setup.scan(&["--format", "sarif"]).expect_code(0).stdout;
    schema::assert_valid("sarif-schema-2.1.0.json", &sarif);
    let log: Value = serde_json::from_str(&sarif).expect("json");
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), rows.len());
    assert_eq!(results[0]["ruleId"], "CVE-2024-9001");
    assert_eq!(results[0]["level"], "error");

    // The table: the vulnerabilities section, highest CVSS first.
    let table = setup.scan(&["--format", "table"]).expect_code(0).stdout;
    let critical = table.find("CVE-2024-9001").expect("openssl row");
    let medium = table.find("CVE-2024-47081").expect("requests row");
    let low = table.find("CVE-2025-9002").expect("lodash row");
    assert!(critical < medium && medium < low, "{table}");

    // SPDX has no vulnerabilities; the scan still matches and succeeds.
    setup.scan(&["--format", "spdx"]).expect_code(0);
}

#[test]
fn ignore_unfixed_and_severity_threshold_set_exit_code_3() {
    let setup = Setup::new();
    let unfixed = setup.scan(&["--format", "json", "--ignore-unfixed"]).json();
    let unfixed_ids = ids(&unfixed);
    assert!(
        !unfixed_ids.contains(&"CVE-2025-9002".to_owned()),
        "{unfixed_ids:?}"
    );
    assert!(
        unfixed_ids.contains(&"CVE-2024-47081".to_owned()),
        "{unfixed_ids:?}"
    );

    // (extra arguments, expected exit code)
    let cases: &[(&[&str], i32)] = &[
        (&["--severity-threshold", "critical"], 3),
        (&["--severity-threshold", "low"], 3),
        (&["--severity-threshold", "critical", "--ignore-unfixed"], 3),
    ];
    for (extra, code) in cases {
        let mut args = vec!["--format", "json", "-o", "/dev/null"];
        args.extend_from_slice(extra);
        setup.scan(&args).expect_code(*code);
    }
}

#[test]
fn threshold_counts_only_what_remains_after_ignore_unfixed() {
    // An image with only lodash: its one finding is low and has no fix.
    let sandbox_setup = Setup::new();
    let layout_dir = sandbox_setup.sandbox.root().join("lodash-layout");
    let lodash = ImageBuilder::oci()
        .layer(LayerBuilder::new().file(
            "usr/lib/node_modules/lodash/package.json",
            fixture("npm/lodash-4.17.21.json"),
            0o644,
        ))
        .build()
        .expect("image");
    LayoutWriter::create(&layout_dir)
        .expect("layout")
        .add(&lodash, Some("lodash"))
        .expect("add");
    let target = format!("{}:lodash", layout_dir.display());
    let cache = sandbox_setup.sandbox.cache();
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "--oci-layout",
            &target,
            "--cache-dir",
            cache.to_str().expect("utf-8"),
            "-o",
            "/dev/null",
        ];
        args.extend_from_slice(extra);
        sandbox_setup.run(&args)
    };
    let cases: &[(&[&str], i32)] = &[
        (&["--severity-threshold", "medium"], 0),
        (&["--severity-threshold", "low"], 3),
        (&["--severity-threshold", "unknown"], 3),
        (&["--severity-threshold", "low", "--ignore-unfixed"], 0),
        (&[], 0),
    ];
    for (extra, code) in cases {
        scan(extra).expect_code(*code);
    }
}

#[test]
fn without_a_database_packages_only_with_a_warning_and_thresholds_refuse() {
    let sandbox = Sandbox::new();
    let layout_dir = sandbox.root().join("layout");
    LayoutWriter::create(&layout_dir)
        .expect("layout")
        .add(&image(), Some("app"))
        .expect("add");
    let target = format!("{}:app", layout_dir.display());
    let data_dir = sandbox.root().join("empty-data");
    let data = data_dir.to_str().expect("utf-8");
    let cache = sandbox.cache();
    let cache = cache.to_str().expect("utf-8");
    let base = [
        "--data-dir",
        data,
        "scan",
        "--oci-layout",
        &target,
        "--cache-dir",
        cache,
    ];

    let mut args = base.to_vec();
    args.extend(["--format", "json"]);
    let run = sandbox.run(&args, &[]).expect_code(0);
    assert!(
        run.stderr.contains("no advisory database") && run.stderr.contains("db update"),
        "{}",
        run.stderr
    );
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert!(report.get("vulnerabilities").is_none(), "{report:#}");
    assert!(!data_dir.exists(), "a scan must not create the database");

    for extra in [
        &["--severity-threshold", "high"][..],
        &["--ignore-unfixed"][..],
        &["--format", "sarif"][..],
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let run = sandbox.run(&args, &[]).expect_code(1);
        assert!(
            run.stderr.contains("db update"),
            "{extra:?}: {}",
            run.stderr
        );
    }

    let mut args = base.to_vec();
    args.extend(["--format", "json", "--sbom-only"]);
    let run = sandbox.run(&args, &[]).expect_code(0);
    assert!(!run.stderr.contains("advisory database"), "{}", run.stderr);

    let mut args = base.to_vec();
    args.extend(["--sbom-only", "--severity-threshold", "high"]);
    sandbox.run(&args, &[]).expect_code(2);
}

/// The real Go vulnerability database against a real Go binary built with
/// go1.19.8: the toolchain's own advisories are found (read from the data:
/// GO-2023-1751, html/template, fixed in 1.19.9).
#[test]
fn real_go_database_finds_the_stdlib_vulnerabilities_of_a_real_binary() {
    let go_data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndata/osv/Go");
    if !go_data.is_dir() {
        eprintln!("skipped: {} not found", go_data.display());
        return;
    }
    let sandbox = Sandbox::new();
    let layout_dir = sandbox.root().join("layout");
    LayoutWriter::create(&layout_dir)
        .expect("layout")
        .add(&image(), Some("app"))
        .expect("add");
    let data_dir = sandbox.root().join("data");
    let data = data_dir.to_str().expect("utf-8");
    sandbox
        .run(
            &[
                "--data-dir",
                data,
                "db",
                "import",
                go_data.to_str().expect("utf-8"),
            ],
            &[],
        )
        .expect_code(0);
    let target = format!("{}:app", layout_dir.display());
    let cache = sandbox.cache();
    let report = sandbox
        .run(
            &[
                "--data-dir",
                data,
                "scan",
                "--oci-layout",
                &target,
                "--cache-dir",
                cache.to_str().expect("utf-8"),
                "--format",
                "json",
            ],
            &[],
        )
        .json();
    let stdlib: Vec<&Value> = report["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .filter(|v| v["package"]["name"] == "stdlib")
        .collect();
    let html_template = stdlib
        .iter()
        .find(|v| {
            v["id"] == "GO-2023-1751"
                || v["aliases"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!("GO-2023-1751")))
        })
        .unwrap_or_else(|| panic!("GO-2023-1751 among {stdlib:#?}"));
    assert_eq!(html_template["fixedVersion"], "1.19.9", "{html_template:#}");
    assert_eq!(html_template["package"]["version"], "v1.19.8");
    assert!(
        stdlib.len() >= 10,
        "go1.19.8 has many fixed advisories: {}",
        stdlib.len()
    );
    // Every stdlib finding is fixed in a version above the installed one.
    for finding in &stdlib {
        assert_eq!(finding["state"], "fixed", "{finding:#}");
    }
}
