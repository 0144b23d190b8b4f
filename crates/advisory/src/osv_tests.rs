use super::*;
use std::io::{Cursor, Write};

fn parse_one(json: &str) -> Result<Advisory, String> {
    let mut report = ImportReport::default();
    let mut advisories = parse_osv_json(json.as_bytes(), "t.json", &mut report);
    match (advisories.pop(), report.skipped_records.first()) {
        (Some(advisory), None) if advisories.is_empty() => Ok(advisory),
        (None, Some(skip)) => Err(skip.reason.clone()),
        other => panic!("expected one advisory or one skip, got {other:?}"),
    }
}

fn package_json(ecosystem: &str, events: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"X-1","affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"p"}},
            "ranges":[{{"type":"ECOSYSTEM","events":[{events}]}}]{extra}}}]}}"#
    )
}

#[test]
fn a_full_record_maps_every_field() {
    let json = r#"{
      "schema_version": "1.6.0",
      "id": "GHSA-aaaa-bbbb-cccc",
      "modified": "2024-02-01T00:00:00Z",
      "published": "2023-01-01T00:00:00Z",
      "aliases": ["CVE-2023-0001", " CVE-2023-0001", "PYSEC-2023-9"],
      "upstream": ["CVE-2023-0001"],
      "related": ["CVE-2023-0002"],
      "summary": " Bad thing ",
      "details": "Details.",
      "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
                   {"type": "CVSS_V4", "score": ""}],
      "affected": [{
        "package": {"ecosystem": "PyPI", "name": "Django", "purl": "pkg:pypi/django"},
        "severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}],
        "ranges": [
          {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.2.28"},
                                           {"introduced": "3.0"}, {"last_affected": "3.2.1"}],
           "database_specific": {"x": 1}},
          {"type": "GIT", "repo": "https://example.invalid/r",
           "events": [{"introduced": "abc"}, {"limit": "def"}]}
        ],
        "versions": ["2.2", "", "2.2.1"],
        "ecosystem_specific": {"affected_functions": ["f"]},
        "database_specific": {"severity": "MODERATE"}
      }, {
        "ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}]}]
      }],
      "references": [{"type": "ADVISORY", "url": "https://example.invalid/a"},
                     {"url": "https://example.invalid/b"}, {"type": "WEB"}],
      "database_specific": {"severity": "HIGH", "cwe_ids": ["CWE-79"]},
      "unknown_field": {"anything": [1, 2]}
    }"#;
    let expected = Advisory {
        id: "GHSA-aaaa-bbbb-cccc".into(),
        source: AdvisorySource::Osv,
        aliases: vec!["CVE-2023-0001".into(), "PYSEC-2023-9".into()],
        upstream: vec!["CVE-2023-0001".into()],
        related: vec!["CVE-2023-0002".into()],
        summary: Some("Bad thing".into()),
        details: Some("Details.".into()),
        published: Some("2023-01-01T00:00:00Z".into()),
        modified: Some("2024-02-01T00:00:00Z".into()),
        withdrawn: None,
        severity: vec![SeverityScore {
            kind: "CVSS_V3".into(),
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
        }],
        database_severity: Some("HIGH".into()),
        affected: vec![AffectedPackage {
            ecosystem: "PyPI".into(),
            name: "Django".into(),
            purl: Some("pkg:pypi/django".into()),
            ranges: vec![
                AffectedRange {
                    kind: RangeKind::Ecosystem,
                    events: vec![
                        RangeEvent::Introduced("0".into()),
                        RangeEvent::Fixed("2.2.28".into()),
                        RangeEvent::Introduced("3.0".into()),
                        RangeEvent::LastAffected("3.2.1".into()),
                    ],
                },
                AffectedRange {
                    kind: RangeKind::Git,
                    events: vec![
                        RangeEvent::Introduced("abc".into()),
                        RangeEvent::Limit("def".into()),
                    ],
                },
            ],
            versions: vec!["2.2".into(), "2.2.1".into()],
            distro_status: None,
            severity: Some("MODERATE".into()),
            severity_scores: vec![SeverityScore {
                kind: "CVSS_V2".into(),
                score: "AV:N/AC:L/Au:N/C:P/I:P/A:P".into(),
            }],
            unaffected_requirements: Vec::new(),
        }],
        references: vec![
            AdvisoryReference {
                kind: "ADVISORY".into(),
                url: "https://example.invalid/a".into(),
            },
            AdvisoryReference {
                kind: "WEB".into(),
                url: "https://example.invalid/b".into(),
            },
        ],
    };
    assert_eq!(parse_one(json), Ok(expected));
}

#[test]
fn malformed_records_are_rejected_with_a_reason() {
    let cases: &[(&str, &str)] = &[
        (r#"{"summary": "no id"}"#, "record has no id"),
        (r#"{"id": "  "}"#, "record has no id"),
        (r#"{"id": "X", "aliases": 5}"#, "malformed OSV record"),
        (r#"{"id": "X", "affected": {}}"#, "malformed OSV record"),
        ("not json", "malformed OSV record"),
        ("", "malformed OSV record"),
        (r#"{"id": "X"} trailing"#, "malformed OSV record"),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go"}}]}"#,
            "affected[0]: package has no name",
        ),
        (
            r#"{"id":"X","affected":[{"package":{"name":"p"}}]}"#,
            "affected[0]: package has no ecosystem",
        ),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"p"},
                "ranges":[{"type":"NPM","events":[{"introduced":"0"}]}]}]}"#,
            r#"affected[0]: ranges[0]: unknown range type "NPM""#,
        ),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"p"},
                "ranges":[{"events":[{"introduced":"0"}]}]}]}"#,
            "ranges[0]: range has no type",
        ),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"p"},
                "ranges":[{"type":"SEMVER","events":[]}]}]}"#,
            "ranges[0]: range has no events",
        ),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"p"},
                "ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}"#,
            "events[0]: event has more than one",
        ),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"p"},
                "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{}]}]}]}"#,
            "events[1]: event has none",
        ),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"p"},
                "ranges":[{"type":"SEMVER","events":[{"fixed":" "}]}]}]}"#,
            "events[0]: event has an empty version",
        ),
        (
            r#"{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"p"},
                "ranges":[{"type":"SEMVER","events":[{"fixed":1.2}]}]}]}"#,
            "malformed OSV record",
        ),
    ];
    for (json, reason) in cases {
        let result = parse_one(json);
        assert!(
            matches!(&result, Err(why) if why.contains(reason)),
            "{json}: expected a skip containing {reason:?}, got {result:?}"
        );
    }
}

#[test]
fn distro_ecosystems_get_a_fix_state_from_their_ranges() {
    let cases: &[(&str, &str, Option<DistroStatus>)] = &[
        (
            "Debian:12",
            r#"{"introduced":"0"}"#,
            Some(DistroStatus::NotFixed),
        ),
        (
            "Debian:12",
            r#"{"introduced":"0"},{"fixed":"1.2-1"}"#,
            Some(DistroStatus::Fixed),
        ),
        (
            "Ubuntu:Pro:16.04:LTS",
            r#"{"introduced":"0"}"#,
            Some(DistroStatus::NotFixed),
        ),
        (
            "AlmaLinux:9",
            r#"{"introduced":"0"},{"fixed":"0.8-20.el9"}"#,
            Some(DistroStatus::Fixed),
        ),
        (
            "Rocky Linux:8",
            r#"{"introduced":"0"},{"last_affected":"1.0-1"}"#,
            Some(DistroStatus::Fixed),
        ),
        (
            "Alpine:v3.19",
            r#"{"introduced":"0"},{"limit":"2.0-r0"}"#,
            Some(DistroStatus::NotFixed),
        ),
        ("PyPI", r#"{"introduced":"0"}"#, None),
        ("Go", r#"{"introduced":"0"},{"fixed":"1.2.3"}"#, None),
        ("Debianish", r#"{"introduced":"0"}"#, None),
    ];
    for (ecosystem, events, expected) in cases {
        let advisory = parse_one(&package_json(ecosystem, events, "")).expect("valid record");
        assert_eq!(
            &advisory.affected[0].distro_status, expected,
            "{ecosystem} {events}"
        );
    }
    let versions_only = r#"{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"p"},
        "versions":["1.0-1"]}]}"#;
    assert_eq!(
        parse_one(versions_only).expect("valid").affected[0].distro_status,
        None
    );
}

#[test]
fn severity_words_come_from_each_place_osv_puts_them() {
    // (record-level extra JSON, affected-level extra JSON, database_severity, package severity)
    let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
        (
            r#""database_specific":{"severity":"HIGH"}"#,
            "",
            Some("HIGH"),
            None,
        ),
        (
            r#""severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N"},{"type":"Ubuntu","score":"medium"}]"#,
            "",
            Some("medium"),
            None,
        ),
        (
            r#""severity":[{"type":"Ubuntu","score":"low"}],"database_specific":{"severity":"HIGH"}"#,
            "",
            Some("HIGH"),
            None,
        ),
        (
            r#""severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N"}]"#,
            "",
            None,
            None,
        ),
        (
            "",
            r#","ecosystem_specific":{"severity":"high"}"#,
            None,
            Some("high"),
        ),
        (
            "",
            r#","database_specific":{"severity":"Important"}"#,
            None,
            Some("Important"),
        ),
        (
            "",
            r#","ecosystem_specific":{"severity":"low"},"database_specific":{"severity":"x"}"#,
            None,
            Some("low"),
        ),
        (
            "",
            r#","database_specific":{"severity":{"v":1},"cvss":null}"#,
            None,
            None,
        ),
        (
            "",
            r#","database_specific":{"severity":[1,{"a":[]}]}"#,
            None,
            None,
        ),
        (r#""database_specific":{"severity":7.5}"#, "", None, None),
        (r#""database_specific":{"severity":null}"#, "", None, None),
    ];
    for (record_extra, affected_extra, database, package) in cases {
        let comma = if record_extra.is_empty() { "" } else { "," };
        let json = format!(
            r#"{{"id":"X"{comma}{record_extra},"affected":[{{"package":{{"ecosystem":"Go","name":"p"}}{affected_extra}}}]}}"#
        );
        let advisory = parse_one(&json).unwrap_or_else(|why| panic!("{json}: {why}"));
        assert_eq!(advisory.database_severity.as_deref(), *database, "{json}");
        assert_eq!(advisory.affected[0].severity.as_deref(), *package, "{json}");
    }
}

#[test]
fn a_json_array_skips_only_its_bad_elements() {
    let json = br#"[{"id":"A-1"}, {"id": 5}, {"summary":"no id"}, {"id":"A-2","withdrawn":"2024-01-01T00:00:00Z"}]"#;
    let mut report = ImportReport::default();
    let advisories = parse_osv_json(json, "all.json", &mut report);
    let ids: Vec<_> = advisories.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["A-1", "A-2"]);
    assert_eq!(
        advisories[1].withdrawn.as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    assert_eq!((report.imported, report.skipped), (2, 2));
    let locations: Vec<_> = report
        .skipped_records
        .iter()
        .map(|s| s.location.as_str())
        .collect();
    assert_eq!(locations, ["all.json[1]", "all.json[2]"]);

    let mut report = ImportReport::default();
    assert!(parse_osv_json(b"[{\"id\":\"A\"}, ", "cut.json", &mut report).is_empty());
    assert_eq!(report.skipped, 1);
    assert!(
        report.skipped_records[0]
            .reason
            .contains("not a JSON array")
    );
}

#[test]
fn yaml_scalars_are_read_as_written() {
    let yaml = br#"
id: PYSEC-2099-1
aliases:
- CVE-2099-1
affected:
- package:
    name: pyyaml
    ecosystem: PyPI
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: 0
    - fixed: 1.10
    - introduced: 2.0
    - last_affected: 3.2.0
  - type: GIT
    repo: https://example.invalid/pyyaml
    events:
    - introduced: 1e5
  versions:
  - 1.0
  - 1.10
  - 0x10
  - 2.0rc1
  - true
modified: "2021-07-15T02:22:07.728618Z"
published: 2007-10-30T19:46:00Z
"#;
    let mut report = ImportReport::default();
    let advisories = parse_osv_yaml(yaml, "pyyaml/PYSEC-2099-1.yaml", &mut report);
    assert_eq!(report.skipped_records, []);
    let package = &advisories[0].affected[0];
    assert_eq!(
        package.ranges[0].events,
        [
            RangeEvent::Introduced("0".into()),
            RangeEvent::Fixed("1.10".into()),
            RangeEvent::Introduced("2.0".into()),
            RangeEvent::LastAffected("3.2.0".into()),
        ]
    );
    assert_eq!(
        package.ranges[1].events,
        [RangeEvent::Introduced("1e5".into())]
    );
    assert_eq!(package.versions, ["1.0", "1.10", "0x10", "2.0rc1", "true"]);
    assert_eq!(
        advisories[0].published.as_deref(),
        Some("2007-10-30T19:46:00Z")
    );
    assert_eq!(report.ecosystems["PyPI"], 1);
}

#[test]
fn hostile_yaml_is_skipped_not_expanded() {
    let mut laughs = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..10 {
        let prev = (b'a' + level - 1) as char;
        let this = (b'a' + level) as char;
        laughs.push_str(&format!(
            "{this}: &{this} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    laughs.push_str("id: *j\n");
    let deep = format!(
        "id: X\naffected: {}{}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    for hostile in [
        laughs,
        deep,
        "id: [unclosed".to_owned(),
        "\u{0}\u{1}".to_owned(),
    ] {
        let mut report = ImportReport::default();
        assert!(parse_osv_yaml(hostile.as_bytes(), "h.yaml", &mut report).is_empty());
        assert_eq!(report.skipped, 1);
    }
    let mut report = ImportReport::default();
    let deep_json = format!(
        r#"{{"id":"X","affected":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(parse_osv_json(deep_json.as_bytes(), "h.json", &mut report).is_empty());
    assert_eq!(report.skipped, 1);
}

fn record(id: &str, ecosystem: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"p"}},
            "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}]}}]}}"#
    )
    .into_bytes()
}

#[test]
fn a_bulk_zip_is_imported_entry_by_entry() {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let entries: &[(&str, Vec<u8>)] = &[
        (
            "DEBIAN-CVE-2024-1.json",
            record("DEBIAN-CVE-2024-1", "Debian:12"),
        ),
        ("broken.json", b"{\"id\":".to_vec()),
        ("README.md", b"not a record".to_vec()),
        ("nested/GHSA-x.json", record("GHSA-x", "npm")),
        ("PYSEC-1.yaml", b"id: PYSEC-1\n".to_vec()),
    ];
    for (name, bytes) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start entry");
        writer.write_all(bytes).expect("write entry");
    }
    let archive = writer.finish().expect("finish").into_inner();

    let mut report = ImportReport::default();
    let mut ids = Vec::new();
    import_osv_zip(
        Cursor::new(archive),
        "Debian/all.zip",
        &ZipLimits::default(),
        &mut report,
        &mut |advisory| ids.push(advisory.id),
    )
    .expect("archive readable");
    assert_eq!(ids, ["DEBIAN-CVE-2024-1", "GHSA-x", "PYSEC-1"]);
    assert_eq!((report.imported, report.skipped), (3, 1));
    assert_eq!(
        report.skipped_records[0].location,
        "Debian/all.zip!broken.json"
    );
    assert_eq!(report.ecosystems.len(), 2);
}

#[test]
fn a_directory_import_survives_bad_and_oversized_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("Go")).expect("mkdir");
    std::fs::write(root.join("Go/GO-1.json"), record("GO-1", "Go")).expect("write");
    std::fs::write(root.join("Go/GO-2.json"), b"{").expect("write");
    std::fs::write(root.join("Go/LICENSE"), b"text").expect("write");
    std::fs::write(root.join("PYSEC-1.yaml"), b"id: PYSEC-1\n").expect("write");
    let big = std::fs::File::create(root.join("Go/huge.json")).expect("create");
    big.set_len(MAX_FILE_BYTES + 1).expect("sparse file");

    let mut report = ImportReport::default();
    let mut ids = Vec::new();
    import_osv_dir(root, &mut report, &mut |advisory| ids.push(advisory.id)).expect("walk");
    assert_eq!(ids, ["GO-1", "PYSEC-1"]);
    assert_eq!((report.imported, report.skipped), (2, 2));
    assert!(
        report
            .skipped_records
            .iter()
            .any(|s| s.reason.contains("exceeds the limit"))
    );

    let missing = import_osv_dir(&root.join("nope"), &mut report, &mut |_| {});
    assert!(matches!(missing, Err(ImportError::Io { .. })));
}
