//! Imports of the real OSV, PyPA and RubySec snapshots in `shared/vulndata`
//! (beside the repository, as in CI),
//! asserting counts and records checked by reading the files. Skipped, with a
//! message, where the data is absent.

use advisory::{ImportReport, import_osv_dir, import_osv_zip_file, import_rubysec_dir};
use model::{
    Advisory, AdvisorySource, DistroStatus, RangeEvent, RangeKind, RequirementKind,
    UnaffectedRequirement,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[allow(clippy::print_stderr)] // the skip must be visible in test output
fn vulndata(sub: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vulndata")
        .join(sub);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} is absent", path.display());
        None
    }
}

type Importer =
    fn(&Path, &mut ImportReport, &mut dyn FnMut(Advisory)) -> Result<(), advisory::ImportError>;

fn import_all(importer: Importer, root: &Path) -> (BTreeMap<String, Advisory>, ImportReport) {
    let mut report = ImportReport::default();
    let mut by_id = BTreeMap::new();
    importer(root, &mut report, &mut |advisory| {
        by_id.insert(advisory.id.clone(), advisory);
    })
    .expect("import runs");
    (by_id, report)
}

fn ranges_of(advisory: &Advisory, package: &str) -> Vec<(RangeKind, Vec<RangeEvent>)> {
    advisory
        .affected
        .iter()
        .filter(|affected| affected.name == package)
        .flat_map(|affected| &affected.ranges)
        .map(|range| (range.kind, range.events.clone()))
        .collect()
}

fn events(list: &[(&str, &str)]) -> Vec<RangeEvent> {
    list.iter()
        .map(|(kind, version)| {
            let version = (*version).to_owned();
            match *kind {
                "introduced" => RangeEvent::Introduced(version),
                "fixed" => RangeEvent::Fixed(version),
                "last_affected" => RangeEvent::LastAffected(version),
                other => panic!("unknown event kind {other}"),
            }
        })
        .collect()
}

#[test]
fn go_vulndb() {
    let Some(root) = vulndata("osv/Go") else {
        return;
    };
    let (by_id, report) = import_all(import_osv_dir, &root);
    assert_eq!(report.skipped_records, []);
    assert_eq!((by_id.len(), report.imported), (4291, 4291));
    assert_eq!(report.ecosystems, BTreeMap::from([("Go".to_owned(), 6125)]));

    // Go stdlib 1.19.8 is affected by the html/template CSS flaw fixed in 1.19.9.
    let css = &by_id["GO-2023-1751"];
    assert_eq!(css.source, AdvisorySource::Osv);
    assert_eq!(css.aliases, ["CVE-2023-24539"]);
    assert_eq!(
        css.summary.as_deref(),
        Some("Improper sanitization of CSS values in html/template")
    );
    assert_eq!(
        ranges_of(css, "stdlib"),
        [(
            RangeKind::Semver,
            events(&[
                ("introduced", "0"),
                ("fixed", "1.19.9"),
                ("introduced", "1.20.0-0"),
                ("fixed", "1.20.4"),
            ])
        )]
    );
    assert_eq!(css.affected[0].distro_status, None);
    assert_eq!(by_id.values().filter(|a| a.withdrawn.is_some()).count(), 17);
}

#[test]
fn rustsec() {
    let Some(root) = vulndata("osv/crates.io") else {
        return;
    };
    let (by_id, report) = import_all(import_osv_dir, &root);
    assert_eq!(report.skipped_records, []);
    assert_eq!((by_id.len(), report.imported), (1206, 1206));
    assert_eq!(
        report.ecosystems,
        BTreeMap::from([("crates.io".to_owned(), 1206)])
    );

    // smallvec 1.6.0 falls in RUSTSEC-2021-0003 (fixed in 1.6.1).
    let smallvec = &by_id["RUSTSEC-2021-0003"];
    assert_eq!(smallvec.aliases, ["CVE-2021-25900", "GHSA-43w2-9j62-hq99"]);
    assert_eq!(
        ranges_of(smallvec, "smallvec"),
        [(
            RangeKind::Semver,
            events(&[
                ("introduced", "0.6.3"),
                ("fixed", "0.6.14"),
                ("introduced", "1.0.0"),
                ("fixed", "1.6.1"),
            ])
        )]
    );
    assert_eq!(by_id.values().filter(|a| a.withdrawn.is_some()).count(), 13);
    let with_vectors = by_id.values().filter(|a| !a.severity.is_empty()).count();
    assert!(
        with_vectors > 300,
        "{with_vectors} RustSec advisories with CVSS vectors"
    );
}

#[test]
fn almalinux_errata() {
    let Some(root) = vulndata("osv/AlmaLinux") else {
        return;
    };
    let (by_id, report) = import_all(import_osv_dir, &root);
    assert_eq!(report.skipped_records, []);
    // 37 errata are published identically under two or three of almalinux8/9/10.
    assert_eq!((report.imported, by_id.len()), (5680, 5637));
    assert_eq!(
        report.ecosystems,
        BTreeMap::from([
            ("AlmaLinux:10".to_owned(), 6479),
            ("AlmaLinux:8".to_owned(), 40867),
            ("AlmaLinux:9".to_owned(), 23983),
        ])
    );
    // Every AlmaLinux erratum publishes the fixed build.
    assert!(
        by_id
            .values()
            .flat_map(|a| &a.affected)
            .all(|p| p.distro_status == Some(DistroStatus::Fixed))
    );
    let avahi = &by_id["ALSA-2024:2433"];
    assert_eq!(avahi.affected.len(), 10);
    assert_eq!(avahi.affected[0].ecosystem, "AlmaLinux:9");
    assert_eq!(
        ranges_of(avahi, "avahi"),
        [(
            RangeKind::Ecosystem,
            events(&[("introduced", "0"), ("fixed", "0.8-20.el9")])
        )]
    );
}

#[test]
fn pypa_yaml() {
    let Some(root) = vulndata("osv-yaml/PyPI") else {
        return;
    };
    let (by_id, report) = import_all(import_osv_dir, &root);
    assert_eq!(report.skipped_records, []);
    assert_eq!((by_id.len(), report.imported), (2661, 2661));
    let git_ranges = by_id
        .values()
        .flat_map(|a| &a.affected)
        .flat_map(|p| &p.ranges)
        .filter(|r| r.kind == RangeKind::Git)
        .count();
    assert_eq!(git_ranges, 1391);

    // PyYAML 5.1 is affected by CVE-2019-20477 (introduced 5.1, fixed 5.2b1).
    let pyyaml = &by_id["PYSEC-2020-176"];
    assert_eq!(pyyaml.aliases, ["CVE-2019-20477", "GHSA-3pqx-4fqf-j49f"]);
    assert_eq!(
        ranges_of(pyyaml, "pyyaml"),
        [(
            RangeKind::Ecosystem,
            events(&[("introduced", "5.1"), ("fixed", "5.2b1")])
        )]
    );
    // Django 2.2 (quoted '2.2') up to 2.2.3 (unquoted): both read as written.
    let django = &by_id["PYSEC-2019-10"];
    assert_eq!(
        ranges_of(django, "django")[0].1,
        events(&[
            ("introduced", "2.1"),
            ("fixed", "2.1.10"),
            ("introduced", "2.2"),
            ("fixed", "2.2.3"),
            ("introduced", "1.11"),
            ("fixed", "1.11.22"),
        ])
    );
    assert!(django.affected[0].versions.iter().any(|v| v == "1.11.10"));
}

#[test]
fn distro_osv_samples() {
    let Some(samples) = vulndata("samples") else {
        return;
    };
    let cases: &[(&str, usize)] = &[
        ("ubuntu/test-fixtures/osv", 6),
        ("ubuntu/test-fixtures/osv-esm-cases", 3),
        ("rocky/test-fixtures/osv", 3),
        // Three single records and an all.json array of the same three.
        ("chainguard/test-fixtures/input/osv", 6),
        ("alma/test-fixtures/osv-database/advisories", 5),
        ("bitnami/test-fixtures/vulndb/data", 2),
    ];
    let mut all = BTreeMap::new();
    for (sub, count) in cases {
        let mut report = ImportReport::default();
        let mut n = 0;
        import_osv_dir(&samples.join(sub), &mut report, &mut |advisory| {
            n += 1;
            all.insert(advisory.id.clone(), advisory);
        })
        .expect("import runs");
        assert_eq!((n, report.skipped), (*count, 0), "{sub}");
    }

    let gitlab = &all["UBUNTU-CVE-2026-1403"];
    assert_eq!(gitlab.upstream, ["CVE-2026-1403"]);
    assert_eq!(gitlab.database_severity.as_deref(), Some("medium"));
    assert_eq!(gitlab.affected[0].ecosystem, "Ubuntu:16.04:LTS");
    assert_eq!(
        gitlab.affected[0].distro_status,
        Some(DistroStatus::NotFixed)
    );

    let netty = &all["UBUNTU-CVE-2022-24823"];
    let states: Vec<_> = netty
        .affected
        .iter()
        .take(2)
        .map(|p| (p.ecosystem.as_str(), p.distro_status.clone()))
        .collect();
    assert_eq!(
        states,
        [
            ("Ubuntu:Pro:14.04:LTS", Some(DistroStatus::NotFixed)),
            ("Ubuntu:Pro:16.04:LTS", Some(DistroStatus::Fixed)),
        ]
    );
    assert_eq!(netty.database_severity.as_deref(), Some("low"));
    // Published twice in the file, kept once.
    let vectors: Vec<_> = netty
        .severity
        .iter()
        .map(|s| (s.kind.as_str(), s.score.as_str()))
        .collect();
    assert_eq!(
        vectors,
        [
            ("CVSS_V3", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"),
            ("Ubuntu", "low"),
        ]
    );

    let usn = &all["USN-5614-1"];
    assert_eq!(usn.related, Vec::<String>::new());
    assert_eq!(usn.upstream, ["UBUNTU-CVE-2021-3782"]);

    let rocky = &all["RLSA-2021:3891"];
    assert_eq!(rocky.affected[0].ecosystem, "Rocky Linux:8");
    assert_eq!(
        rocky.affected[0].purl.as_deref(),
        Some("pkg:rpm/rocky-linux/java-11-openjdk?distro=rocky-linux-8-4-legacy&epoch=1")
    );
    assert_eq!(
        rocky.affected[0].ranges[0].events,
        events(&[("introduced", "0"), ("fixed", "1:11.0.13.0.8-1.el8_4")])
    );

    let consul = &all["BIT-consul-2021-37219"];
    assert_eq!(consul.database_severity.as_deref(), Some("High"));
    assert_eq!(consul.affected[0].distro_status, None);
}

#[test]
fn bulk_zip_matches_the_directory() {
    let Some(root) = vulndata("osv/crates.io") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let zip_path = dir.path().join("all.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip_path).expect("create"));
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    for path in &files {
        let name = path.file_name().expect("name").to_string_lossy();
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .expect("start");
        std::io::copy(&mut std::fs::File::open(path).expect("open"), &mut writer).expect("copy");
    }
    writer.finish().expect("finish");

    let (from_zip, zip_report) = import_all(import_osv_zip_file, &zip_path);
    let (from_dir, _) = import_all(import_osv_dir, &root);
    assert_eq!(zip_report.skipped, 0);
    assert_eq!(from_zip.len(), 1206);
    assert_eq!(from_zip, from_dir);
}

#[test]
fn rubysec_gems() {
    let Some(root) = vulndata("rubysec") else {
        return;
    };
    let (by_id, report) = import_all(import_rubysec_dir, &root);
    assert_eq!(report.skipped_records, []);
    // One CVE can affect several gems, each with its own file and requirements:
    // 95 files share 40 IDs, so IDs are unique only together with the gem.
    assert_eq!((by_id.len(), report.imported), (1174, 1234));
    let mut gollum = Vec::new();
    import_rubysec_dir(&root, &mut ImportReport::default(), &mut |advisory| {
        if advisory.id == "CVE-2014-9489" {
            gollum.push(advisory.affected[0].name.clone());
        }
    })
    .expect("import runs");
    assert_eq!(gollum, ["gollum", "gollum-grit_adapter", "gollum-lib"]);
    assert_eq!(
        report.ecosystems,
        BTreeMap::from([("RubyGems".to_owned(), 1234)])
    );

    let rack = &by_id["CVE-2011-5036"];
    assert_eq!(rack.source, AdvisorySource::RubySec);
    assert_eq!(rack.aliases, ["GHSA-v6j3-7jrw-hq2p", "OSVDB-78121"]);
    assert_eq!(rack.published.as_deref(), Some("2011-12-28"));
    assert_eq!(rack.severity[0].kind, "CVSS_V2_SCORE");
    assert_eq!(rack.severity[0].score, "5.0");
    let package = &rack.affected[0];
    assert_eq!(
        (package.ecosystem.as_str(), package.name.as_str()),
        ("RubyGems", "rack")
    );
    let patched = |requirement: &str| UnaffectedRequirement {
        kind: RequirementKind::Patched,
        requirement: requirement.to_owned(),
    };
    assert_eq!(
        package.unaffected_requirements,
        [
            patched("~> 1.1.3"),
            patched("~> 1.2.5"),
            patched("~> 1.3.6"),
            patched(">= 1.4.0"),
        ]
    );

    let actionpack = &by_id["CVE-2008-7248"];
    assert_eq!(
        actionpack.affected[0].unaffected_requirements,
        [
            patched("~> 2.1.3"),
            patched(">= 2.2.2"),
            UnaffectedRequirement {
                kind: RequirementKind::Unaffected,
                requirement: "< 2.1.0".to_owned(),
            },
        ]
    );
    let ids_from_stems = by_id.keys().filter(|id| id.starts_with("OSVDB-")).count();
    assert!(ids_from_stems > 0);
}
