//! Imports of Red Hat's real CSAF samples in `shared/vulndata/samples/rhel`,
//! asserting records checked by reading the JSON. Skipped, with a message,
//! where the data is absent.

use advisory::{ImportReport, import_redhat_csaf_dir};
use model::{Advisory, DistroStatus, RangeEvent};
use std::collections::BTreeMap;
use std::path::Path;

#[allow(clippy::print_stderr)] // the skip must be visible in test output
fn import() -> Option<(BTreeMap<String, Advisory>, ImportReport)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vulndata/samples/rhel/test-fixtures/csaf");
    if !root.exists() {
        eprintln!("skipping: {} is absent", root.display());
        return None;
    }
    let mut report = ImportReport::default();
    let mut by_id = BTreeMap::new();
    import_redhat_csaf_dir(&root, &mut report, &mut |advisory| {
        by_id.insert(advisory.id.clone(), advisory);
    })
    .expect("import runs");
    Some((by_id, report))
}

/// `ecosystem name <fixed` for every fixed package.
fn fixes(advisory: &Advisory) -> Vec<String> {
    advisory
        .affected
        .iter()
        .map(|a| {
            assert_eq!(a.distro_status, Some(DistroStatus::Fixed), "{}", a.name);
            let fixed: Vec<&str> = a
                .ranges
                .iter()
                .flat_map(|r| &r.events)
                .filter_map(|e| match e {
                    RangeEvent::Fixed(v) => Some(v.as_str()),
                    _ => None,
                })
                .collect();
            format!("{} {} <{}", a.ecosystem, a.name, fixed.join(","))
        })
        .collect()
}

#[test]
fn real_rhsa_documents() {
    let Some((advisories, report)) = import() else {
        return;
    };
    // 8 RHSAs; the two Hydra API files and the CVE page list are not CSAF.
    assert_eq!(report.imported, 8);
    assert_eq!(advisories.len(), 8);
    assert_eq!(report.skipped, 3, "{:?}", report.skipped_records);
    assert!(
        report
            .skipped_records
            .iter()
            .all(|r| r.location.contains("/hydra/") || r.location.contains("min_pages"))
    );

    /// ID, aliases, severity, fixes.
    type Row<'a> = (&'a str, &'a [&'a str], Option<&'a str>, &'a [&'a str]);
    let table: [Row<'_>; 8] = [
        (
            "RHSA-2024:6163",
            &["CVE-2024-8088"],
            Some("Moderate"),
            &["Red Hat:9 python3.9 <3.9.18-3.el9_4.5"],
        ),
        (
            "RHSA-2024:9371",
            &["CVE-2024-8088"],
            Some("Moderate"),
            &["Red Hat:9 python3.9 <3.9.19-8.el9"],
        ),
        (
            // Binaries only are `fixed`, the source is "not affected": the
            // build of the binaries names the source. Two CVEs of different
            // impact (Moderate, Important): no severity fits both.
            "RHSA-2025:23414",
            &["CVE-2021-25220", "CVE-2025-40778"],
            None,
            &["Red Hat:6+els bind <32:9.8.2-0.68.rc1.el6_10.17"],
        ),
        (
            // EUS streams keep their own keys; only enterprise_linux CPEs are mainline.
            "RHSA-2024:0811",
            &["CVE-2023-28486", "CVE-2023-28487", "CVE-2023-42465"],
            Some("Moderate"),
            &[
                "Red Hat:8 sudo <1.9.5p2-1.el8_9",
                "Red Hat:8.6+eus sudo <1.9.5p2-1.el8_6",
                "Red Hat:8.8+eus sudo <1.9.5p2-1.el8_8",
                "Red Hat:9 sudo <1.9.5p2-10.el9_3",
                "Red Hat:9.0+eus sudo <1.9.5p2-7.el9_0.4",
                "Red Hat:9.2+eus sudo <1.9.5p2-9.el9_2.2",
            ],
        ),
        (
            "RHSA-2024:0010",
            &["CVE-2023-5367", "CVE-2023-6377", "CVE-2023-6478"],
            Some("Important"),
            &["Red Hat:9 tigervnc <1.13.1-3.el9_3.3"],
        ),
        (
            // Old-style modular product IDs (`….src.rpm-ruby:2.7`).
            "RHSA-2023:3821",
            &["CVE-2021-33621", "CVE-2023-28755", "CVE-2023-28756"],
            Some("Moderate"),
            &[
                "Red Hat:8/ruby:2.7 ruby <2.7.8-139.module+el8.8.0+18745+f1bef313",
                "Red Hat:8/ruby:2.7 rubygem-abrt <0.4.0-1.module+el8.3.0+7192+4e3a532a",
                "Red Hat:8/ruby:2.7 rubygem-bson <4.8.1-1.module+el8.3.0+7192+4e3a532a",
                "Red Hat:8/ruby:2.7 rubygem-mongo <2.11.3-1.module+el8.3.0+7192+4e3a532a",
                "Red Hat:8/ruby:2.7 rubygem-mysql2 <0.5.3-1.module+el8.3.0+7192+4e3a532a",
                "Red Hat:8/ruby:2.7 rubygem-pg <1.2.3-1.module+el8.3.0+7192+4e3a532a",
            ],
        ),
        (
            "RHSA-2023:7025",
            &[
                "CVE-2021-33621",
                "CVE-2022-28739",
                "CVE-2023-28755",
                "CVE-2023-28756",
            ],
            Some("Moderate"),
            &[
                "Red Hat:8/ruby:2.5 ruby <2.5.9-111.module+el8.9.0+19193+435404ae",
                "Red Hat:8/ruby:2.5 rubygem-abrt <0.3.0-4.module+el8.9.0+19193+435404ae",
                "Red Hat:8/ruby:2.5 rubygem-bson <4.3.0-2.module+el8.9.0+19193+435404ae",
                "Red Hat:8/ruby:2.5 rubygem-bundler <1.16.1-4.module+el8.9.0+19193+435404ae",
                "Red Hat:8/ruby:2.5 rubygem-mongo <2.5.1-2.module+el8.9.0+19193+435404ae",
                "Red Hat:8/ruby:2.5 rubygem-mysql2 <0.4.10-4.module+el8.9.0+19193+435404ae",
                "Red Hat:8/ruby:2.5 rubygem-pg <1.0.0-3.module+el8.9.0+19193+435404ae",
            ],
        ),
        (
            // New-style modular product IDs (`…src::ruby:3.1`).
            "RHSA-2024:1431",
            &[
                "CVE-2021-33621",
                "CVE-2023-28755",
                "CVE-2023-28756",
                "CVE-2023-36617",
            ],
            Some("Moderate"),
            &[
                "Red Hat:8/ruby:3.1 ruby <3.1.4-142.module+el8.9.0+21471+7d1e4a35",
                "Red Hat:8/ruby:3.1 rubygem-abrt <0.4.0-1.module+el8.9.0+21471+7d1e4a35",
                "Red Hat:8/ruby:3.1 rubygem-mysql2 <0.5.3-3.module+el8.9.0+21471+7d1e4a35",
                "Red Hat:8/ruby:3.1 rubygem-pg <1.3.2-1.module+el8.9.0+21471+7d1e4a35",
            ],
        ),
    ];
    for (id, aliases, severity, expected) in table {
        let advisory = &advisories[id];
        assert_eq!(advisory.aliases, aliases, "{id}");
        assert_eq!(advisory.database_severity.as_deref(), severity, "{id}");
        assert_eq!(fixes(advisory), expected, "{id}");
    }

    // One CVE: its CVSS vector and texts.
    let python = &advisories["RHSA-2024:6163"];
    assert_eq!(python.severity.len(), 1);
    assert_eq!(
        python.severity[0].score,
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:N/I:N/A:H"
    );
    assert_eq!(
        python.summary.as_deref(),
        Some("Red Hat Security Advisory: python3.9 security update")
    );
    assert_eq!(
        python.published.as_deref(),
        Some("2024-09-03T17:57:24+00:00")
    );
    assert!(
        python
            .references
            .iter()
            .any(|r| r.url == "https://access.redhat.com/errata/RHSA-2024:6163")
    );
    // Several CVEs with different vectors: none is put on the advisory.
    assert!(advisories["RHSA-2024:0811"].severity.is_empty());
    assert_eq!(report.ecosystems["Red Hat:9"], 4);
}
