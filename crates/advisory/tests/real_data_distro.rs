//! Importers over the real data in `../shared/vulndata` (never committed):
//! record counts and records checked by reading the files. Skipped, with a
//! message, when the data is absent.

// The skip message goes to stderr so a run without the data says so.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};

use advisory::{
    ImportReport, import_alpine_secdb_file, import_debian_advisory_list_file,
    import_debian_tracker_file, import_epss_file, import_kev_file, import_nvd_page_file,
};
use model::{Advisory, CveEnrichment, DistroStatus, RangeEvent};

fn vulndata() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndata");
    let path = if path.is_dir() {
        path
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vulndata")
    };
    if path.is_dir() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: real advisory data not found at {} (see shared/vulndata/README.md)",
            path.display()
        );
        None
    }
}

fn fixed_in(advisory: &Advisory, ecosystem: &str, name: &str) -> Vec<String> {
    advisory
        .affected
        .iter()
        .filter(|p| p.ecosystem == ecosystem && p.name == name)
        .flat_map(|p| p.ranges.iter().flat_map(|r| r.events.iter()))
        .filter_map(|event| match event {
            RangeEvent::Fixed(version) => Some(version.clone()),
            _ => None,
        })
        .collect()
}

fn collect_advisories(
    import: impl FnOnce(
        &mut ImportReport,
        &mut dyn FnMut(Advisory),
    ) -> Result<(), advisory::ImportError>,
) -> (Vec<Advisory>, ImportReport) {
    let mut report = ImportReport::default();
    let mut advisories = Vec::new();
    import(&mut report, &mut |a| advisories.push(a)).unwrap();
    (advisories, report)
}

#[test]
fn debian_dsa_and_dla_lists() {
    let Some(data) = vulndata() else { return };
    // (file, advisories, affected packages, not-affected entries)
    let table = [
        ("debian-tracker/data/DSA/list", 5406, 6988, 55),
        ("debian-tracker/data/DLA/list", 3534, 3535, 0),
    ];
    for (file, advisories, affected, not_affected) in table {
        let (got, report) =
            collect_advisories(|r, s| import_debian_advisory_list_file(&data.join(file), r, s));
        assert_eq!(got.len(), advisories, "{file}");
        assert_eq!(report.imported, advisories as u64, "{file}");
        assert_eq!(report.skipped, 0, "{file}: {:?}", report.skipped_records);
        let packages: Vec<_> = got.iter().flat_map(|a| &a.affected).collect();
        assert_eq!(packages.len(), affected, "{file}");
        assert_eq!(
            packages
                .iter()
                .filter(|p| p.distro_status == Some(DistroStatus::NotAffected))
                .count(),
            not_affected,
            "{file}"
        );
    }

    let (dsa, report) = collect_advisories(|r, s| {
        import_debian_advisory_list_file(&data.join("debian-tracker/data/DSA/list"), r, s)
    });
    let find = |id: &str| dsa.iter().find(|a| a.id == id).unwrap();
    let xorg = find("DSA-5380-1");
    assert_eq!(xorg.aliases, ["CVE-2023-1393"]);
    assert_eq!(xorg.summary.as_deref(), Some("security update"));
    assert_eq!(xorg.published.as_deref(), Some("2023-03-29T00:00:00Z"));
    assert_eq!(
        fixed_in(xorg, "Debian:11", "xorg-server"),
        ["2:1.20.11-1+deb11u6"]
    );
    let libpng = find("DSA-140");
    assert_eq!(libpng.aliases, ["CVE-2002-0660", "CVE-2002-0728"]);
    assert_eq!(
        fixed_in(libpng, "Debian:3.0", "libpng3"),
        ["1.2.1-1.1.woody.2"]
    );
    let end_of_life = find("DSA-4205-1");
    assert!(end_of_life.affected.is_empty() && end_of_life.aliases.is_empty());
    assert!(report.ecosystems.contains_key("Debian:8"));
    assert!(!report.ecosystems.keys().any(|e| e == "Debian:"));

    // Both lists through the directory walker.
    let (both, report) = collect_advisories(|r, s| {
        advisory::import_debian_advisory_lists_dir(&data.join("debian-tracker/data"), r, s)
    });
    assert_eq!(both.len(), 5406 + 3534);
    assert_eq!(report.skipped, 0);

    let (dla, _) = collect_advisories(|r, s| {
        import_debian_advisory_list_file(&data.join("debian-tracker/data/DLA/list"), r, s)
    });
    let xorg = dla.iter().find(|a| a.id == "DLA-3372-1").unwrap();
    assert_eq!(
        fixed_in(xorg, "Debian:10", "xorg-server"),
        ["2:1.20.4-1+deb10u9"]
    );
}

#[test]
fn debian_tracker_sample() {
    let Some(data) = vulndata() else { return };
    let path = data.join("samples/debian/test-fixtures/input/debian.json");
    let (got, report) = collect_advisories(|r, s| import_debian_tracker_file(&path, r, s));
    // chromium-browser/CVE-2022-0358 has `"releases": []`: kept, nothing affected.
    assert_eq!(got.len(), 7);
    assert_eq!(report.skipped, 0, "{:?}", report.skipped_records);
    assert_eq!(got.iter().map(|a| a.affected.len()).sum::<usize>(), 25);

    let chromium = got.iter().find(|a| a.id == "CVE-2022-0456").unwrap();
    let status_of = |ecosystem: &str| {
        chromium
            .affected
            .iter()
            .find(|p| p.ecosystem == ecosystem)
            .and_then(|p| p.distro_status.clone())
    };
    assert_eq!(
        status_of("Debian:10"),
        Some(DistroStatus::WontFix("end-of-life".into()))
    );
    assert_eq!(
        status_of("Debian:9"),
        Some(DistroStatus::WontFix("end-of-life".into()))
    );
    assert_eq!(status_of("Debian:12"), Some(DistroStatus::Fixed));
    assert_eq!(
        fixed_in(chromium, "Debian:11", "chromium"),
        ["98.0.4758.80-1~deb11u1"]
    );
    assert_eq!(
        fixed_in(chromium, "Debian:unstable", "chromium"),
        ["98.0.4758.80-1"]
    );

    let prototype = got.iter().find(|a| a.id == "CVE-2007-2383").unwrap();
    assert!(prototype.affected.iter().all(|p| {
        p.distro_status == Some(DistroStatus::NotAffected)
            && p.ranges.is_empty()
            && p.severity.as_deref() == Some("unimportant")
    }));
    let sope = got.iter().find(|a| a.id == "CVE-2025-53603").unwrap();
    assert_eq!(fixed_in(sope, "Debian:13", "sope"), ["5.12.1-2"]);
    assert_eq!(report.ecosystems["Debian:8"], 4);
}

#[test]
fn alpine_secdb_yaml_branches() {
    let Some(data) = vulndata() else { return };
    let mut report = ImportReport::default();
    let mut all = Vec::new();
    advisory::import_alpine_secdb_dir(&data.join("alpine-secdb"), &mut report, &mut |a| {
        all.push(a)
    })
    .unwrap();
    // Counted independently from the YAML: distinct IDs per file, and
    // (package, fixed version) pairs per ID.
    assert_eq!(all.len(), 11454);
    assert_eq!(all.iter().map(|a| a.affected.len()).sum::<usize>(), 12005);
    assert_eq!(report.skipped, 0, "{:?}", report.skipped_records);
    assert_eq!(report.ecosystems.len(), 9);

    let in_branch = |id: &str, ecosystem: &str| {
        all.iter()
            .find(|a| a.id == id && a.affected.iter().any(|p| p.ecosystem == ecosystem))
            .unwrap_or_else(|| panic!("{id} in {ecosystem}"))
    };
    let ansible = in_branch("CVE-2019-14904", "Alpine:v3.11");
    assert_eq!(fixed_in(ansible, "Alpine:v3.11", "ansible"), ["2.9.3-r0"]);
    let xen = in_branch("CVE-2016-6258", "Alpine:v3.11");
    assert_eq!(xen.aliases, ["XSA-182"]);
    assert_eq!(fixed_in(xen, "Alpine:v3.11", "xen"), ["4.7.0-r0"]);
    let db = in_branch("CVE-2016-0682", "Alpine:v3.8");
    let db_package = db.affected.iter().find(|p| p.name == "db").unwrap();
    assert_eq!(db_package.distro_status, Some(DistroStatus::NotAffected));
    assert!(db_package.ranges.is_empty());
    // Placeholder CVE, XSA kept as its own advisory.
    in_branch("XSA-295", "Alpine:v3.10");
}

#[test]
fn alpine_shaped_samples() {
    let Some(data) = vulndata() else { return };
    // (file, ecosystem, advisories)
    let table = [
        (
            "samples/alpine/test-fixtures/input/secdb/v3.15/main.yaml",
            "Alpine:v3.15",
            13,
        ),
        (
            "samples/alpine/test-fixtures/input/secdb/v3.15/community.yaml",
            "Alpine:v3.15",
            3,
        ),
        (
            "samples/wolfi/test-fixtures/input/secdb/security.json",
            "Wolfi",
            59,
        ),
        (
            "samples/chainguard/test-fixtures/input/secdb/security.json",
            "Chainguard",
            189,
        ),
    ];
    for (file, ecosystem, count) in table {
        let (got, report) =
            collect_advisories(|r, s| import_alpine_secdb_file(&data.join(file), r, s));
        assert_eq!(got.len(), count, "{file}");
        assert_eq!(report.skipped, 0, "{file}: {:?}", report.skipped_records);
        assert_eq!(
            report.ecosystems.keys().collect::<Vec<_>>(),
            [ecosystem],
            "{file}"
        );
    }
    let (wolfi, _) = collect_advisories(|r, s| {
        import_alpine_secdb_file(
            &data.join("samples/wolfi/test-fixtures/input/secdb/security.json"),
            r,
            s,
        )
    });
    let coreutils = wolfi.iter().find(|a| a.id == "CVE-2016-2781").unwrap();
    assert_eq!(
        coreutils.affected[0].distro_status,
        Some(DistroStatus::NotAffected)
    );
    let busybox = wolfi.iter().find(|a| a.id == "CVE-2022-28391").unwrap();
    assert_eq!(fixed_in(busybox, "Wolfi", "busybox"), ["1.35.0-r3"]);
}

fn collect_enrichment(
    import: impl FnOnce(
        &mut ImportReport,
        &mut dyn FnMut(CveEnrichment),
    ) -> Result<(), advisory::ImportError>,
) -> (Vec<CveEnrichment>, ImportReport) {
    let mut report = ImportReport::default();
    let mut out = Vec::new();
    import(&mut report, &mut |e| out.push(e)).unwrap();
    (out, report)
}

#[test]
fn nvd_pages() {
    let Some(data) = vulndata() else { return };
    let (page, report) = collect_enrichment(|r, s| {
        import_nvd_page_file(&data.join("samples/nvd/test-fixtures/full-page.json"), r, s)
    });
    assert_eq!(page.len(), 38);
    assert_eq!(report.skipped, 0);
    let (both, report) = collect_enrichment(|r, s| {
        advisory::import_nvd_dir(&data.join("samples/nvd/test-fixtures"), r, s)
    });
    assert_eq!(both.len(), 38 + 1);
    assert_eq!(report.skipped, 0);
    // NVD and the CNA gave the same vector: listed once.
    let first = &page[0];
    assert_eq!(first.cve, "CVE-2023-27314");
    assert_eq!(first.cvss.len(), 1);
    assert_eq!(
        first.cvss[0].score,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
    );

    let (single, _) = collect_enrichment(|r, s| {
        import_nvd_page_file(
            &data.join("samples/nvd/test-fixtures/single-entry.json"),
            r,
            s,
        )
    });
    assert_eq!(single.len(), 1);
    let cve = &single[0];
    assert_eq!(cve.cve, "CVE-2022-1576");
    let vectors: Vec<(&str, &str)> = cve
        .cvss
        .iter()
        .map(|s| (s.kind.as_str(), s.score.as_str()))
        .collect();
    assert_eq!(
        vectors,
        [
            ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N"),
            ("CVSS_V2", "AV:N/AC:M/Au:N/C:N/I:P/A:N")
        ]
    );
    assert!(
        cve.description
            .as_deref()
            .unwrap()
            .starts_with("The WP Maintenance Mode")
    );
}

#[test]
fn epss_samples() {
    let Some(data) = vulndata() else { return };
    let dir = data.join("samples/epss/test-fixtures");
    let mut report = ImportReport::default();
    let mut scores = Vec::new();
    let metadata = import_epss_file(&dir.join("example-1.csv"), &mut report, &mut |e| {
        scores.push(e)
    })
    .unwrap();
    assert_eq!(
        metadata.score_date.as_deref(),
        Some("2025-02-20T00:00:00+0000")
    );
    assert_eq!(scores.len(), 5);
    assert_eq!(scores[4].cve, "CVE-1999-0005");
    assert_eq!(scores[4].epss, Some((0.91963, 0.99214)));

    let mut report = ImportReport::default();
    let metadata =
        import_epss_file(&dir.join("missing-date.csv"), &mut report, &mut |_| {}).unwrap();
    assert_eq!(metadata.model_version.as_deref(), Some("v2023.03.01"));
    assert_eq!(metadata.score_date, None);
    assert_eq!(report.imported, 5);

    let mut report = ImportReport::default();
    assert!(import_epss_file(&dir.join("invalid-header.csv"), &mut report, &mut |_| {}).is_err());
}

#[test]
fn kev_catalog() {
    let Some(data) = vulndata() else { return };
    let (kev, report) = collect_enrichment(|r, s| {
        import_kev_file(&data.join("kev/known_exploited_vulnerabilities.json"), r, s)
    });
    assert_eq!(kev.len(), 1404);
    assert_eq!(report.skipped, 0);
    assert_eq!(
        kev.iter()
            .filter(|e| e.kev_ransomware_use.as_deref() == Some("Known"))
            .count(),
        293
    );
    let log4shell = kev.iter().find(|e| e.cve == "CVE-2021-44228").unwrap();
    assert_eq!(log4shell.kev_date_added.as_deref(), Some("2021-12-10"));
    assert_eq!(log4shell.kev_ransomware_use.as_deref(), Some("Known"));

    let (samples, _) = collect_enrichment(|r, s| {
        import_kev_file(
            &data.join("samples/kev/test-fixtures/valid-catalog-1.json"),
            r,
            s,
        )
    });
    let ids: Vec<&str> = samples.iter().map(|e| e.cve.as_str()).collect();
    assert_eq!(ids, ["CVE-2025-0108", "CVE-2024-53704", "CVE-2024-57727"]);
    let (single, _) = collect_enrichment(|r, s| {
        import_kev_file(
            &data.join("samples/kev/test-fixtures/single-entry/example1.json"),
            r,
            s,
        )
    });
    assert_eq!(single[0].kev_date_added.as_deref(), Some("2025-02-18"));
}
