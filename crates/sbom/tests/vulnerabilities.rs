//! The writers with findings: real matching (`matching::match_image`) of
//! the test image against hand-written advisories shaped like the real
//! records (Debian tracker, DSA, GHSA, Go, RustSec, RubySec, NVD/EPSS/KEV
//! enrichment), then every format validated against its official schema,
//! snapshotted, and checked for determinism.

use matching::{AdvisoryIndex, MatchResult};
use model::{
    Advisory, AdvisoryReference, AdvisorySource, AffectedPackage, AffectedRange, CveEnrichment,
    DistroStatus, FixState, ImageInventory, RangeEvent, RangeKind, SeverityScore,
};
use sbom::table::TableOptions;
use sbom::{DatabaseInfo, Vulnerabilities};
use serde_json::Value;

#[path = "support/image.rs"]
mod image;
use image::{TIMESTAMP, deb, inventory, metadata, tool};

// The SPDX checks are formats.rs's.
#[allow(dead_code)]
#[path = "support/schema.rs"]
mod schema;
use schema::{assert_valid, check_cyclonedx_refs, validation_errors};

const SARIF_SCHEMA: &str = "sarif-schema-2.1.0.json";
const CDX_SCHEMA: &str = "bom-1.5.schema.json";

// --- advisory data -------------------------------------------------------------

struct A {
    id: &'static str,
    source: AdvisorySource,
    aliases: &'static [&'static str],
    summary: Option<&'static str>,
    details: Option<&'static str>,
    severity: &'static [(&'static str, &'static str)],
    database_severity: Option<&'static str>,
    affected: Vec<AffectedPackage>,
    references: &'static [&'static str],
}

fn advisory(a: A) -> Advisory {
    Advisory {
        id: a.id.to_owned(),
        source: a.source,
        aliases: a.aliases.iter().map(|s| s.to_string()).collect(),
        upstream: Vec::new(),
        related: Vec::new(),
        summary: a.summary.map(str::to_owned),
        details: a.details.map(str::to_owned),
        published: None,
        modified: None,
        withdrawn: None,
        severity: a
            .severity
            .iter()
            .map(|(kind, score)| SeverityScore {
                kind: kind.to_string(),
                score: score.to_string(),
            })
            .collect(),
        database_severity: a.database_severity.map(str::to_owned),
        affected: a.affected,
        references: a
            .references
            .iter()
            .map(|url| AdvisoryReference {
                kind: "WEB".to_owned(),
                url: url.to_string(),
            })
            .collect(),
    }
}

/// `introduced`/`fixed`/`last_affected` events written as `i=0 f=1.2`.
fn affected(ecosystem: &str, name: &str, kind: RangeKind, events: &str) -> AffectedPackage {
    let events = events
        .split_whitespace()
        .map(|e| match e.split_once('=') {
            Some(("i", v)) => RangeEvent::Introduced(v.to_owned()),
            Some(("f", v)) => RangeEvent::Fixed(v.to_owned()),
            Some(("l", v)) => RangeEvent::LastAffected(v.to_owned()),
            _ => panic!("bad event {e}"),
        })
        .collect();
    AffectedPackage {
        ecosystem: ecosystem.to_owned(),
        name: name.to_owned(),
        ranges: vec![AffectedRange { kind, events }],
        ..AffectedPackage::default()
    }
}

fn debian(
    name: &str,
    events: &str,
    status: Option<DistroStatus>,
    urgency: Option<&str>,
) -> AffectedPackage {
    AffectedPackage {
        distro_status: status,
        severity: urgency.map(str::to_owned),
        ..affected("Debian:12", name, RangeKind::Ecosystem, events)
    }
}

const CRITICAL_V31: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";

fn advisories() -> Vec<Advisory> {
    use AdvisorySource::*;
    use RangeKind::*;
    vec![
        // Debian tracker: fixed in bookworm (the source package is openssl).
        advisory(A {
            id: "CVE-2023-5678",
            source: DebianTracker,
            aliases: &[],
            summary: None,
            details: Some("Generating excessively long X9.42 DH keys may be slow."),
            severity: &[],
            database_severity: None,
            affected: vec![debian(
                "openssl",
                "i=0 f=3.0.13-1~deb12u1",
                Some(DistroStatus::Fixed),
                Some("low"),
            )],
            references: &[],
        }),
        // A DSA fixing two CVEs: merges into each CVE's finding.
        advisory(A {
            id: "DSA-5585-1",
            source: DebianAdvisoryList,
            aliases: &["CVE-2023-5363", "CVE-2023-5678"],
            summary: Some("openssl security update"),
            details: None,
            severity: &[],
            database_severity: None,
            affected: vec![debian("openssl", "i=0 f=3.0.13-1~deb12u1", None, None)],
            references: &["https://www.debian.org/security/2023/dsa-5585"],
        }),
        // Won't fix, with a vendor severity far below NVD's score.
        advisory(A {
            id: "CVE-2023-45853",
            source: DebianTracker,
            aliases: &[],
            summary: None,
            details: Some("MiniZip in zlib through 1.3 has an integer overflow."),
            severity: &[],
            database_severity: None,
            affected: vec![debian(
                "zlib",
                "i=0",
                Some(DistroStatus::WontFix(
                    "ignored: contrib/minizip not built".to_owned(),
                )),
                Some("unimportant"),
            )],
            references: &[],
        }),
        // Open, no fix: severity from NVD's score.
        advisory(A {
            id: "CVE-2019-1010022",
            source: DebianTracker,
            aliases: &[],
            summary: None,
            details: Some("GNU Libc stack guard protection bypass."),
            severity: &[],
            database_severity: None,
            affected: vec![debian("glibc", "i=0", Some(DistroStatus::NotFixed), None)],
            references: &[],
        }),
        advisory(A {
            id: "GHSA-9wx4-h78v-vm56",
            source: Osv,
            aliases: &["CVE-2024-35195"],
            summary: Some(
                "Requests `Session` object does not verify requests after making first request with verify=False",
            ),
            details: Some(
                "When making requests through a Requests `Session`, if the first request is made with `verify=False` to disable cert verification, all subsequent requests to the same origin will continue to ignore cert verification.",
            ),
            severity: &[("CVSS_V3", "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N")],
            database_severity: Some("MODERATE"),
            affected: vec![affected("PyPI", "requests", Ecosystem, "i=0 f=2.32.0")],
            references: &[
                "https://github.com/psf/requests/security/advisories/GHSA-9wx4-h78v-vm56",
                "https://nvd.nist.gov/vuln/detail/CVE-2024-35195",
            ],
        }),
        advisory(A {
            id: "GHSA-jfh8-c2jp-5v3q",
            source: Osv,
            aliases: &["CVE-2021-44228"],
            summary: Some("Remote code injection in Log4j"),
            details: Some(
                "Apache Log4j2 JNDI features do not protect against attacker controlled LDAP and other JNDI related endpoints.",
            ),
            severity: &[("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H")],
            database_severity: Some("CRITICAL"),
            affected: vec![affected(
                "Maven",
                "org.apache.logging.log4j:log4j-core",
                Ecosystem,
                "i=2.13.0 f=2.15.0",
            )],
            references: &[
                "https://logging.apache.org/log4j/2.x/security.html",
                // Feeds carry odd references: left out where a URI is required.
                "not a url",
            ],
        }),
        // npm, affecting both installs of lodash; CVSS v4 only.
        advisory(A {
            id: "GHSA-xxjr-mmjv-4gpg",
            source: Osv,
            aliases: &["CVE-2025-13465"],
            summary: Some(
                "Lodash has Prototype Pollution Vulnerability in `_.unset` and `_.omit` functions",
            ),
            details: None,
            severity: &[(
                "CVSS_V4",
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:L/SC:N/SI:N/SA:N",
            )],
            database_severity: Some("MODERATE"),
            affected: vec![affected("npm", "lodash", Semver, "i=4.0.0 f=4.17.23")],
            references: &[],
        }),
        // No CVE: the finding is keyed by the smallest ID.
        advisory(A {
            id: "RUSTSEC-2025-0009",
            source: Osv,
            aliases: &["GHSA-4p46-pwfr-66x6"],
            summary: Some("Some AES functions may panic when overflow checking is enabled."),
            details: None,
            severity: &[],
            database_severity: None,
            affected: vec![affected("crates.io", "ring", Semver, "i=0 f=0.17.12")],
            references: &["https://rustsec.org/advisories/RUSTSEC-2025-0009.html"],
        }),
        // RubySec without any score: severity unknown.
        advisory(A {
            id: "CVE-2024-26146",
            source: RubySec,
            aliases: &["GHSA-54rr-7fvw-6x8f"],
            summary: Some("Possible Denial of Service Vulnerability in Rack Header Parsing"),
            details: None,
            severity: &[],
            database_severity: None,
            affected: vec![affected("RubyGems", "rack", Ecosystem, "i=3.0.0 f=3.0.9.1")],
            references: &[],
        }),
        // A bad version in the data: matching reports it, the writers carry it.
        advisory(A {
            id: "GO-2099-0001",
            source: Osv,
            aliases: &[],
            summary: Some("broken range"),
            details: None,
            severity: &[],
            database_severity: None,
            affected: vec![affected(
                "Go",
                "github.com/gin-gonic/gin",
                Semver,
                "i=0 f=not-a-version",
            )],
            references: &[],
        }),
    ]
}

fn enrichments() -> Vec<CveEnrichment> {
    let nvd = |cve: &str, vector: &str| CveEnrichment {
        cve: cve.to_owned(),
        cvss: vec![SeverityScore {
            kind: "CVSS_V3".to_owned(),
            score: vector.to_owned(),
        }],
        ..CveEnrichment::default()
    };
    vec![
        nvd("CVE-2023-45853", CRITICAL_V31),
        nvd("CVE-2019-1010022", CRITICAL_V31),
        nvd(
            "CVE-2023-5678",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L",
        ),
        nvd(
            "CVE-2023-5363",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        ),
        CveEnrichment {
            cve: "CVE-2021-44228".to_owned(),
            epss: Some((0.94358, 0.99957)),
            kev_date_added: Some("2021-12-10".to_owned()),
            ..CveEnrichment::default()
        },
    ]
}

fn matched(inventory: &ImageInventory) -> MatchResult {
    let index = AdvisoryIndex::new(advisories(), enrichments());
    matching::match_image(inventory, &index)
}

fn database() -> DatabaseInfo {
    DatabaseInfo {
        version: "1".to_owned(),
        updated_at: "2024-05-06T00:00:00Z".to_owned(),
    }
}

/// Every writer with findings, in one list, to compare runs.
fn all_outputs(inventory: &ImageInventory, result: &MatchResult) -> Vec<String> {
    let database = database();
    let v = Vulnerabilities {
        findings: &result.findings,
        diagnostics: &result.diagnostics,
        database: Some(&database),
    };
    let meta = metadata();
    let tool = tool().with_information_uri("https://github.com/shipshape-security/shipshape");
    vec![
        sbom::cyclonedx::to_json_with(&meta, inventory, Some(&v), &tool, TIMESTAMP).unwrap(),
        sbom::report::to_json_with(&meta, inventory, Some(&v), &tool, TIMESTAMP).unwrap(),
        sbom::sarif::to_json(&meta, inventory, &v, &tool, TIMESTAMP).unwrap(),
        sbom::table::render_with(
            &meta,
            inventory,
            Some(&v),
            TableOptions {
                color: false,
                width: Some(130),
            },
        ),
    ]
}

// --- the fixture is what it claims ----------------------------------------------

/// The advisories produce the findings the snapshots are about: one per
/// state, severities from vendors and from CVSS, a merged DSA, a package
/// installed twice, and a matching diagnostic.
#[test]
fn fixture_findings() {
    let result = matched(&inventory());
    let found: Vec<(&str, &str, &str, Option<&str>)> = result
        .findings
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.package.name.as_str(),
                f.severity.as_str(),
                f.fixed_version.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "CVE-2021-44228",
                "org.apache.logging.log4j:log4j-core",
                "critical",
                Some("2.15.0")
            ),
            ("CVE-2019-1010022", "libc6", "critical", None),
            ("CVE-2023-45853", "zlib1g", "negligible", None),
            ("CVE-2023-5363", "libssl3", "high", Some("3.0.13-1~deb12u1")),
            ("CVE-2025-13465", "lodash", "medium", Some("4.17.23")),
            ("CVE-2025-13465", "lodash", "medium", Some("4.17.23")),
            ("CVE-2024-35195", "requests", "medium", Some("2.32.0")),
            ("CVE-2023-5678", "libssl3", "low", Some("3.0.13-1~deb12u1")),
            ("CVE-2024-26146", "rack", "unknown", Some("3.0.9.1")),
            ("GHSA-4p46-pwfr-66x6", "ring", "unknown", Some("0.17.12")),
        ]
    );
    let zlib = &result.findings[2];
    assert_eq!(
        zlib.state,
        FixState::WontFix("ignored: contrib/minizip not built".to_owned())
    );
    assert_eq!(result.diagnostics.len(), 1, "{:#?}", result.diagnostics);
    assert_eq!(
        result.diagnostics[0].code,
        "matching.unparseable-advisory-version"
    );
}

// --- schema validation ---------------------------------------------------------

#[test]
fn cyclonedx_with_vulnerabilities_is_valid() {
    let outputs = all_outputs(&inventory(), &matched(&inventory()));
    assert_valid(CDX_SCHEMA, &outputs[0]);
    check_cyclonedx_refs(&outputs[0]);
}

#[test]
fn sarif_is_valid_against_the_official_schema() {
    let outputs = all_outputs(&inventory(), &matched(&inventory()));
    assert_valid(SARIF_SCHEMA, &outputs[2]);
}

/// The SARIF validator must be able to fail, or the test above proves nothing.
#[test]
fn sarif_validator_rejects_broken_logs() {
    let outputs = all_outputs(&inventory(), &matched(&inventory()));
    let log: Value = serde_json::from_str(&outputs[2]).unwrap();
    type Breaks = fn(&mut Value);
    let broken: [(&str, Breaks); 4] = [
        ("wrong version", |log| log["version"] = Value::from("2.0.0")),
        ("bad level", |log| {
            log["runs"][0]["results"][0]["level"] = Value::from("critical")
        }),
        ("unknown result property", |log| {
            log["runs"][0]["results"][0]["severity"] = Value::from("high")
        }),
        ("message without text", |log| {
            log["runs"][0]["results"][0]["message"] = serde_json::json!({})
        }),
    ];
    for (what, breaks) in broken {
        let mut log = log.clone();
        breaks(&mut log);
        assert!(!validation_errors(SARIF_SCHEMA, &log).is_empty(), "{what}");
    }
}

#[test]
fn no_findings_is_still_valid() {
    let inventory = inventory();
    let result = MatchResult::default();
    let outputs = all_outputs(&inventory, &result);
    assert_valid(CDX_SCHEMA, &outputs[0]);
    assert_valid(SARIF_SCHEMA, &outputs[2]);
    let bom: Value = serde_json::from_str(&outputs[0]).unwrap();
    assert_eq!(bom["vulnerabilities"], serde_json::json!([]));
    let report: Value = serde_json::from_str(&outputs[1]).unwrap();
    assert_eq!(report["vulnerabilities"], serde_json::json!([]));
    assert_eq!(report["vulnerabilitySummary"]["total"], 0);
    assert!(outputs[3].contains("No vulnerabilities found."));
}

/// Advisory text is hostile: IDs, references and descriptions with spaces,
/// control characters and markup, package paths that are not URIs, a score
/// that is not a number. The documents stay valid and the table clean.
#[test]
fn hostile_advisory_text_keeps_documents_valid() {
    let mut inventory = inventory();
    let mut odd = deb(
        "bad\u{1b}[31mpkg",
        "1.0",
        1,
        Some(("odd source", None)),
        &[],
    );
    odd.evidence.path = "/var/lib/dpkg/status.d/a b:c?d#e%".to_owned();
    inventory.packages.push(odd);
    let mut result = matched(&inventory);
    let mut hostile = result.findings[0].clone();
    hostile.id = "CVE-2024-1 <script>\u{7}".to_owned();
    hostile.aliases = vec![String::new(), "GHSA-\u{0}".to_owned(), "x y".to_owned()];
    hostile.references = vec![
        "javascript:alert(1)".into(),
        "https://exa mple.com/".into(),
        "https://example.com/%zz".into(),
        "".into(),
    ];
    hostile.title = Some("\u{1b}]0;owned\u{7}".into());
    hostile.description = Some("".into());
    hostile.package.name = "bad\u{1b}[31mpkg".to_owned();
    hostile.package.installed_version = "1.0".to_owned();
    hostile.package.layer_index = Some(1);
    hostile.package.kind = model::PackageKind::Deb;
    hostile.package.path = "/var/lib/dpkg/status.d/a b:c?d#e%".to_owned();
    hostile.fixed_version = Some("x".repeat(2000));
    if let Some(cvss) = hostile.cvss.as_mut() {
        cvss.base_score = f64::NAN;
    }
    result.findings.push(hostile);
    let outputs = all_outputs(&inventory, &result);
    assert_valid(CDX_SCHEMA, &outputs[0]);
    check_cyclonedx_refs(&outputs[0]);
    assert_valid(SARIF_SCHEMA, &outputs[2]);
    let table = &outputs[3];
    assert!(!table.contains('\u{1b}') && !table.contains('\u{7}') && !table.contains('\0'));
    let bom: Value = serde_json::from_str(&outputs[0]).unwrap();
    let last = bom["vulnerabilities"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["affects"].as_array().unwrap().len(), 1, "{last:#}");
}

/// A finding about a package the inventory does not have (the caller mixed
/// up scans) still appears, without `affects`.
#[test]
fn finding_without_its_package_has_no_affects() {
    let inventory = inventory();
    let mut result = matched(&inventory);
    result.findings[0].package.path = "elsewhere".to_owned();
    let outputs = all_outputs(&inventory, &result);
    assert_valid(CDX_SCHEMA, &outputs[0]);
    check_cyclonedx_refs(&outputs[0]);
    let bom: Value = serde_json::from_str(&outputs[0]).unwrap();
    assert!(bom["vulnerabilities"][0].get("affects").is_none());
    let report: Value = serde_json::from_str(&outputs[1]).unwrap();
    assert_eq!(report["vulnerabilities"][0]["package"]["purl"], Value::Null);
}

// --- what each format says ----------------------------------------------------------

fn vulnerability<'v>(bom: &'v Value, id: &str) -> Vec<&'v Value> {
    bom["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["id"] == id)
        .collect()
}

#[test]
fn cyclonedx_vulnerabilities_point_at_their_components() {
    let outputs = all_outputs(&inventory(), &matched(&inventory()));
    let bom: Value = serde_json::from_str(&outputs[0]).unwrap();
    let refs = |v: &Value| -> Vec<String> {
        v["affects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["ref"].as_str().unwrap().to_owned())
            .collect()
    };
    // (id, affected component refs, rating methods, source name)
    let cases: &[(&str, &[&str], &[&str], &str)] = &[
        (
            "CVE-2021-44228",
            &["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"],
            &["CVSSv31"],
            "NVD",
        ),
        (
            "CVE-2023-45853",
            &[
                "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&distro=debian-12&epoch=1&upstream=zlib",
            ],
            &["CVSSv31", "other"],
            "NVD",
        ),
        (
            "CVE-2019-1010022",
            &["pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"],
            &["CVSSv31"],
            "NVD",
        ),
        (
            "CVE-2025-13465",
            &["pkg:npm/lodash@4.17.21|srv/app/frontend/node_modules/lodash/package.json"],
            &["CVSSv4"],
            "NVD",
        ),
        (
            "GHSA-4p46-pwfr-66x6",
            &["pkg:cargo/ring@0.17.7"],
            &[],
            "GitHub Advisory Database",
        ),
    ];
    for (id, expected_refs, methods, source) in cases {
        let entries = vulnerability(&bom, id);
        let entry = entries.first().unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(refs(entry), *expected_refs, "{id}");
        let got: Vec<&str> = entry["ratings"]
            .as_array()
            .map(|r| r.iter().map(|r| r["method"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(got, *methods, "{id}");
        assert_eq!(entry["source"]["name"], *source, "{id}");
    }
    // The two lodash installs are two findings, each pointing at its own copy.
    assert_eq!(vulnerability(&bom, "CVE-2025-13465").len(), 2);
    // Won't fix: said in the analysis, with the distro's reason.
    let zlib = vulnerability(&bom, "CVE-2023-45853")[0];
    assert_eq!(
        zlib["analysis"]["response"],
        serde_json::json!(["will_not_fix"])
    );
    assert!(
        zlib["analysis"]["detail"]
            .as_str()
            .unwrap()
            .contains("contrib/minizip")
    );
    assert_eq!(zlib["ratings"][1]["severity"], "info");
    assert_eq!(
        zlib["ratings"][1]["source"]["name"],
        "Debian Security Tracker"
    );
    // Aliases are references with their own sources; bad URLs are left out.
    let log4j = vulnerability(&bom, "CVE-2021-44228")[0];
    assert_eq!(
        log4j["references"],
        serde_json::json!([{"id": "GHSA-jfh8-c2jp-5v3q", "source": {
            "name": "GitHub Advisory Database",
            "url": "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q"}}])
    );
    assert_eq!(
        log4j["advisories"],
        serde_json::json!([{"url": "https://logging.apache.org/log4j/2.x/security.html"}])
    );
    assert_eq!(
        log4j["recommendation"],
        "Upgrade org.apache.logging.log4j:log4j-core to 2.15.0 or later."
    );
}

/// Packages that differ only in architecture (multi-arch dpkg) give findings
/// the writers cannot tell apart: CycloneDX lists one vulnerability
/// affecting both, the report and SARIF keep both findings.
#[test]
fn multiarch_packages_share_one_cyclonedx_vulnerability() {
    let mut inventory = inventory();
    let mut i386 = deb("libc6", "2.36-9+deb12u4", 0, Some(("glibc", None)), &[]);
    i386.arch = Some("i386".to_owned());
    inventory.packages.push(i386);
    let result = matched(&inventory);
    let glibc: Vec<_> = result
        .findings
        .iter()
        .filter(|f| f.id == "CVE-2019-1010022")
        .collect();
    assert_eq!(glibc.len(), 2);
    let outputs = all_outputs(&inventory, &result);
    assert_valid(CDX_SCHEMA, &outputs[0]);
    check_cyclonedx_refs(&outputs[0]);
    let bom: Value = serde_json::from_str(&outputs[0]).unwrap();
    let entries = vulnerability(&bom, "CVE-2019-1010022");
    assert_eq!(entries.len(), 1);
    let smallest = glibc.iter().map(|f| &f.fingerprint).min().unwrap();
    assert_eq!(entries[0]["bom-ref"], format!("vulnerability:{smallest}"));
    assert_eq!(entries[0]["affects"].as_array().unwrap().len(), 2);
    let report: Value = serde_json::from_str(&outputs[1]).unwrap();
    let in_report: Vec<&Value> = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["id"] == "CVE-2019-1010022")
        .collect();
    assert_eq!(in_report.len(), 2);
    // Two candidate purls differ by arch: none is claimed.
    assert!(in_report.iter().all(|v| v["package"]["purl"].is_null()));
    let sarif: Value = serde_json::from_str(&outputs[2]).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ruleId"] == "CVE-2019-1010022")
            .count(),
        2
    );
}

#[test]
fn sarif_rules_results_and_levels() {
    let result = matched(&inventory());
    let outputs = all_outputs(&inventory(), &result);
    let sarif: Value = serde_json::from_str(&outputs[2]).unwrap();
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), result.findings.len());
    // One rule per ID: lodash's two findings share one.
    assert_eq!(rules.len(), result.findings.len() - 1);
    for (r, finding) in results.iter().zip(&result.findings) {
        let rule = &rules[r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], r["ruleId"]);
        assert_eq!(r["ruleId"], finding.id.as_str());
        assert_eq!(
            r["partialFingerprints"][sbom::sarif::FINGERPRINT_KEY],
            finding.fingerprint.as_str()
        );
    }
    // (rule, security-severity, result level, location uri)
    let cases = [
        (
            "CVE-2021-44228",
            "10.0",
            "error",
            "usr/local/bin/report.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar!/META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
        ),
        ("CVE-2023-45853", "9.8", "note", "var/lib/dpkg/status"),
        (
            "CVE-2024-35195",
            "5.6",
            "warning",
            "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
        ),
        (
            "CVE-2024-26146",
            "0.0",
            "note",
            "usr/local/bundle/specifications/rack-3.0.8.gemspec",
        ),
    ];
    for (id, security_severity, level, uri) in cases {
        let rule = rules.iter().find(|r| r["id"] == id).unwrap();
        assert_eq!(
            rule["properties"]["security-severity"], security_severity,
            "{id}"
        );
        let r = results.iter().find(|r| r["ruleId"] == id).unwrap();
        assert_eq!(r["level"], level, "{id}");
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], uri,
            "{id}"
        );
        assert_eq!(
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "registry.example.com:5000/acme/shop-api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        );
    }
    // The scan's diagnostics (two from the inventory, one from matching).
    let notifications = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(notifications.len(), 3);
    assert_eq!(notifications[0]["level"], "error");
}

#[test]
fn report_summary_counts() {
    let outputs = all_outputs(&inventory(), &matched(&inventory()));
    let report: Value = serde_json::from_str(&outputs[1]).unwrap();
    assert_eq!(
        report["vulnerabilitySummary"],
        serde_json::json!({
            "total": 10,
            "bySeverity": {"critical": 2, "high": 1, "medium": 3, "low": 1, "negligible": 1, "unknown": 2},
            "fixed": 8, "notFixed": 1, "wontFix": 1
        })
    );
    assert_eq!(
        report["database"],
        serde_json::json!({"version": "1", "updatedAt": "2024-05-06T00:00:00Z"})
    );
    assert_eq!(report["matchingDiagnostics"].as_array().unwrap().len(), 1);
}

// --- None changes nothing; determinism ---------------------------------------------

/// Without findings the writers write exactly what the SBOM-only functions do.
#[test]
fn none_is_the_sbom_alone() {
    let (meta, inventory, tool) = (metadata(), inventory(), tool());
    assert_eq!(
        sbom::cyclonedx::to_json_with(&meta, &inventory, None, &tool, TIMESTAMP).unwrap(),
        sbom::cyclonedx::to_json(&meta, &inventory, &tool, TIMESTAMP).unwrap()
    );
    assert_eq!(
        sbom::report::to_json_with(&meta, &inventory, None, &tool, TIMESTAMP).unwrap(),
        sbom::report::to_json(&meta, &inventory, &tool, TIMESTAMP).unwrap()
    );
    let options = TableOptions {
        color: false,
        width: Some(120),
    };
    assert_eq!(
        sbom::table::render_with(&meta, &inventory, None, options),
        sbom::table::render(&meta, &inventory, options)
    );
}

#[test]
fn same_input_same_bytes() {
    let first = all_outputs(&inventory(), &matched(&inventory()));
    let second = all_outputs(&inventory(), &matched(&inventory()));
    assert_eq!(first, second);
    // Inventory order does not matter either: matching sorts its findings
    // and the writers sort everything else.
    let mut backward = inventory();
    backward.packages.reverse();
    backward.diagnostics.reverse();
    assert_eq!(first, all_outputs(&backward, &matched(&backward)));
}

#[test]
fn table_colours_severities_only_with_colour() {
    let result = matched(&inventory());
    let v = Vulnerabilities {
        findings: &result.findings,
        diagnostics: &result.diagnostics,
        database: None,
    };
    let render = |color| {
        sbom::table::render_with(
            &metadata(),
            &inventory(),
            Some(&v),
            TableOptions {
                color,
                width: Some(130),
            },
        )
    };
    assert!(render(true).contains("\u{1b}["));
    assert!(!render(false).contains('\u{1b}'));
}

// --- snapshots ------------------------------------------------------------------------

#[test]
fn snapshots() {
    let outputs = all_outputs(&inventory(), &matched(&inventory()));
    insta::assert_snapshot!("cyclonedx_vulnerabilities", outputs[0]);
    insta::assert_snapshot!("report_vulnerabilities", outputs[1]);
    insta::assert_snapshot!("sarif", outputs[2]);
    insta::assert_snapshot!("table_vulnerabilities", outputs[3]);
}

#[test]
fn source_packages_are_what_debian_findings_name() {
    // Sanity of the fixture: libssl3's findings come from its source package.
    let result = matched(&inventory());
    let ssl = result
        .findings
        .iter()
        .find(|f| f.package.name == "libssl3")
        .unwrap();
    assert_eq!(ssl.package.matched_name, "openssl");
    assert!(
        ssl.evidence.iter().any(|e| e.advisory_id == "DSA-5585-1"),
        "{:#?}",
        ssl.evidence
    );
}
