//! Imports of the hand-written fixtures in `tests/fixtures`: one table row per
//! advisory, with what a matcher needs from it.

use advisory::{ImportReport, import_osv_dir, import_rubysec_dir};
use model::{Advisory, DistroStatus, RangeEvent, RangeKind};
use std::path::Path;

fn fixtures(sub: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

/// `id | ecosystem/name | range kind: events | versions | distro status | package severity`
fn describe(advisory: &Advisory) -> Vec<String> {
    advisory
        .affected
        .iter()
        .map(|package| {
            let ranges: Vec<String> = package
                .ranges
                .iter()
                .map(|range| {
                    let events: Vec<String> = range
                        .events
                        .iter()
                        .map(|event| match event {
                            RangeEvent::Introduced(v) => format!(">={v}"),
                            RangeEvent::Fixed(v) => format!("<{v}"),
                            RangeEvent::LastAffected(v) => format!("<={v}"),
                            RangeEvent::Limit(v) => format!("limit {v}"),
                        })
                        .collect();
                    let kind = match range.kind {
                        RangeKind::Semver => "SEMVER",
                        RangeKind::Ecosystem => "ECOSYSTEM",
                        RangeKind::Git => "GIT",
                    };
                    format!("{kind}: {}", events.join(" "))
                })
                .collect();
            let status = match &package.distro_status {
                None => "-".to_owned(),
                Some(DistroStatus::Fixed) => "fixed".to_owned(),
                Some(DistroStatus::NotFixed) => "not-fixed".to_owned(),
                Some(other) => format!("{other:?}"),
            };
            let requirements: Vec<String> = package
                .unaffected_requirements
                .iter()
                .map(|r| format!("{:?} {}", r.kind, r.requirement))
                .collect();
            format!(
                "{} | {}/{} | {} | {} | {} | {} | {}",
                advisory.id,
                package.ecosystem,
                package.name,
                ranges.join("; "),
                package.versions.join(","),
                status,
                package.severity.as_deref().unwrap_or("-"),
                requirements.join("; "),
            )
        })
        .collect()
}

#[test]
fn osv_fixture_tree() {
    let mut report = ImportReport::default();
    let mut rows = Vec::new();
    let mut severities = Vec::new();
    import_osv_dir(&fixtures("osv"), &mut report, &mut |advisory| {
        severities.push(format!(
            "{} {:?} {:?}",
            advisory.id, advisory.aliases, advisory.database_severity
        ));
        rows.extend(describe(&advisory));
    })
    .expect("fixtures readable");
    assert_eq!(
        rows,
        [
            "DEBIAN-CVE-2099-0002 | Debian:12/demo-src | ECOSYSTEM: >=0 |  | not-fixed | low | ",
            "DEBIAN-CVE-2099-0002 | Debian:13/demo-src | ECOSYSTEM: >=0 <2.1-3 |  | fixed | medium | ",
            "DEBIAN-CVE-2099-0003 | Debian:11/other-src | ECOSYSTEM: >=0 <1:1.0-1+deb11u1 |  | fixed | - | ",
            "GHSA-demo-0001-0001 | npm/demo-lib | SEMVER: >=0 <1.4.2 |  | - | - | ",
            "PYSEC-2099-5 | PyPI/demo | GIT: >=0 <1f2e3d4c; ECOSYSTEM: >=0 <1.10 | 1.0,1.9 | - | - | ",
        ]
    );
    assert_eq!(
        severities,
        [
            r#"DEBIAN-CVE-2099-0002 [] None"#,
            r#"DEBIAN-CVE-2099-0003 [] None"#,
            r#"GHSA-demo-0001-0001 ["CVE-2099-0001"] Some("HIGH")"#,
            r#"PYSEC-2099-5 ["CVE-2099-0005"] None"#,
        ]
    );
    assert_eq!((report.imported, report.skipped), (4, 1));
    assert!(
        report.skipped_records[0]
            .location
            .ends_with("all.json[1] (DEBIAN-CVE-2099-0004)")
    );
    assert!(report.skipped_records[0].reason.contains("more than one"));
    assert_eq!(report.ecosystems.len(), 5);
}

#[test]
fn rubysec_fixture_tree() {
    let mut report = ImportReport::default();
    let mut rows = Vec::new();
    import_rubysec_dir(&fixtures("rubysec"), &mut report, &mut |advisory| {
        rows.push(format!("{:?} {:?}", advisory.aliases, advisory.severity));
        rows.extend(describe(&advisory));
    })
    .expect("fixtures readable");
    assert_eq!(
        rows,
        [
            r#"["GHSA-demo-0006-0006"] [SeverityScore { kind: "CVSS_V3_SCORE", score: "6.10" }]"#,
            "CVE-2099-0006 | RubyGems/demo | ECOSYSTEM: >=0 |  | - | - | Patched ~> 1.9.12; Patched >= 2.3.4; Unaffected < 1.0.0",
            "[] []",
            "OSVDB-99 | RubyGems/demo | ECOSYSTEM: >=0 |  | - | - | ",
        ]
    );
    assert_eq!((report.imported, report.skipped), (2, 0));
}
