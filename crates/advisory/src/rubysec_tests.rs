use super::*;

fn parse_one(yaml: &str, location: &str) -> Result<Advisory, String> {
    let mut report = ImportReport::default();
    let mut advisories = parse_rubysec(yaml.as_bytes(), location, &mut report);
    match (advisories.pop(), report.skipped_records.first()) {
        (Some(advisory), None) => Ok(advisory),
        (None, Some(skip)) => Err(skip.reason.clone()),
        other => panic!("expected one advisory or one skip, got {other:?}"),
    }
}

#[test]
fn a_full_record_maps_every_field() {
    let yaml = r#"---
gem: actionpack
framework: rails
cve: 2020-8164
ghsa: xq5j-gw7f-jgj8
osvdb: 12345
url: https://example.invalid/advisory
title: Possible Strong Parameters Bypass
date: 2020-05-18
description: |
  A deserialization of untrusted data vulnerability
  exists in rails.
cvss_v2: 5.0
cvss_v3: 7.50
cvss_v4: 8.7
unaffected_versions:
  - "< 4.0.0"
patched_versions:
  - "~> 5.2.4, >= 5.2.4.3"
  - ">= 6.0.3.1"
related:
  url:
    - https://example.invalid/advisory
    - https://example.invalid/commit
notes: ignored
"#;
    let expected = Advisory {
        id: "CVE-2020-8164".into(),
        source: AdvisorySource::RubySec,
        aliases: vec![
            "GHSA-xq5j-gw7f-jgj8".into(),
            "OSVDB-12345".into(),
            "GHSA-2020-8164-file".into(),
        ],
        upstream: vec![],
        related: vec![],
        summary: Some("Possible Strong Parameters Bypass".into()),
        details: Some("A deserialization of untrusted data vulnerability\nexists in rails.".into()),
        published: Some("2020-05-18".into()),
        modified: None,
        withdrawn: None,
        severity: vec![
            SeverityScore {
                kind: "CVSS_V4_SCORE".into(),
                score: "8.7".into(),
            },
            SeverityScore {
                kind: "CVSS_V3_SCORE".into(),
                score: "7.50".into(),
            },
            SeverityScore {
                kind: "CVSS_V2_SCORE".into(),
                score: "5.0".into(),
            },
        ],
        database_severity: None,
        affected: vec![AffectedPackage {
            ecosystem: "RubyGems".into(),
            name: "actionpack".into(),
            purl: Some("pkg:gem/actionpack".into()),
            ranges: vec![AffectedRange {
                kind: RangeKind::Ecosystem,
                events: vec![RangeEvent::Introduced("0".into())],
            }],
            versions: vec![],
            distro_status: None,
            severity: None,
            severity_scores: vec![],
            unaffected_requirements: vec![
                UnaffectedRequirement {
                    kind: RequirementKind::Patched,
                    requirement: "~> 5.2.4, >= 5.2.4.3".into(),
                },
                UnaffectedRequirement {
                    kind: RequirementKind::Patched,
                    requirement: ">= 6.0.3.1".into(),
                },
                UnaffectedRequirement {
                    kind: RequirementKind::Unaffected,
                    requirement: "< 4.0.0".into(),
                },
            ],
        }],
        references: vec![
            AdvisoryReference {
                kind: "ADVISORY".into(),
                url: "https://example.invalid/advisory".into(),
            },
            AdvisoryReference {
                kind: "WEB".into(),
                url: "https://example.invalid/commit".into(),
            },
        ],
    };
    assert_eq!(
        parse_one(yaml, "gems/actionpack/GHSA-2020-8164-file.yml"),
        Ok(expected)
    );
}

#[test]
fn the_id_is_the_cve_then_the_ghsa_then_the_file_stem() {
    // (identifier lines, file name, expected id, expected aliases)
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "cve: 2019-1\nghsa: aaaa-bbbb-cccc",
            "CVE-2019-1.yml",
            "CVE-2019-1",
            &["GHSA-aaaa-bbbb-cccc"],
        ),
        (
            "ghsa: aaaa-bbbb-cccc",
            "GHSA-aaaa-bbbb-cccc.yml",
            "GHSA-aaaa-bbbb-cccc",
            &[],
        ),
        ("osvdb: 91452", "OSVDB-91452.yml", "OSVDB-91452", &[]),
        ("cve: CVE-2019-2", "CVE-2019-2.yml", "CVE-2019-2", &[]),
        ("cve: cve-2019-3", "x.yml", "CVE-2019-3", &["x"]),
        ("", "RUBYSEC-1.yml", "RUBYSEC-1", &[]),
        ("cve: ''\nghsa: ~", "OSVDB-1.yml", "OSVDB-1", &[]),
        ("cve: é", "a.yml", "CVE-é", &["a"]),
    ];
    for (ids, file, id, aliases) in cases {
        let yaml = format!("gem: g\n{ids}\n");
        let advisory = parse_one(&yaml, &format!("gems/g/{file}")).expect("valid");
        assert_eq!(&advisory.id, id, "{ids}");
        assert_eq!(&advisory.aliases, aliases, "{ids}");
    }
}

#[test]
fn a_gem_without_patches_is_affected_everywhere() {
    let advisory = parse_one("gem: abandoned\ncve: 2020-1\n", "CVE-2020-1.yml").expect("valid");
    let package = &advisory.affected[0];
    assert_eq!(
        package.ranges[0].events,
        [RangeEvent::Introduced("0".into())]
    );
    assert!(package.unaffected_requirements.is_empty());
}

#[test]
fn malformed_records_are_rejected_with_a_reason() {
    let cases: &[(&str, &str)] = &[
        ("cve: 2020-1\n", "names no gem"),
        ("gem: '  '\n", "names no gem"),
        (
            "gem: g\npatched_versions: {a: 1}\n",
            "malformed RubySec YAML",
        ),
        ("gem: [g]\n", "malformed RubySec YAML"),
        ("- just\n- a list\n", "malformed RubySec YAML"),
        ("gem: g\n  bad: indent: here\n", "malformed RubySec YAML"),
        ("", "names no gem"),
    ];
    for (yaml, reason) in cases {
        let result = parse_one(yaml, "gems/g/CVE-1.yml");
        assert!(
            matches!(&result, Err(why) if why.contains(reason)),
            "{yaml:?}: expected a skip containing {reason:?}, got {result:?}"
        );
    }
    let result = parse_one("gem: g\n", "");
    assert!(matches!(&result, Err(why) if why.contains("no CVE, GHSA or file name")));
}

#[test]
fn a_repository_checkout_is_walked_under_gems_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for sub in ["gems/rack", ".github/workflows", "rubies/ruby"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    std::fs::write(
        root.join("gems/rack/CVE-2020-1.yml"),
        "gem: rack\ncve: 2020-1\n",
    )
    .expect("write");
    std::fs::write(root.join("gems/rack/CVE-2020-2.yml"), "gem: [").expect("write");
    std::fs::write(root.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
    std::fs::write(root.join("rubies/ruby/CVE-2020-3.yml"), "engine: ruby\n").expect("write");

    let mut report = ImportReport::default();
    let mut ids = Vec::new();
    import_rubysec_dir(root, &mut report, &mut |advisory| ids.push(advisory.id)).expect("walk");
    assert_eq!(ids, ["CVE-2020-1"]);
    assert_eq!((report.imported, report.skipped), (1, 1));
    assert_eq!(report.ecosystems["RubyGems"], 1);
}
