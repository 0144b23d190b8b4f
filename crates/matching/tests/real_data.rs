//! Matching over the real advisory snapshots in `shared/vulndata`, imported
//! with the `advisory` crate. Each expectation was checked by reading the
//! advisory it names.

use std::path::{Path, PathBuf};

use matching::{AdvisoryIndex, match_image};
use model::{
    Advisory, CveEnrichment, Evidence, FixState, ImageInventory, OsFamily, OsInfo, Package,
    PackageKind, SourcePackage,
};

fn vulndata() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndata");
    path.is_dir().then_some(path)
}

fn load(root: &Path) -> (Vec<Advisory>, Vec<CveEnrichment>) {
    let mut report = advisory::ImportReport::default();
    let mut advisories = Vec::new();
    let mut sink = |a: Advisory| advisories.push(a);
    for dir in ["osv/Go", "osv/crates.io", "osv/AlmaLinux", "osv-yaml/PyPI"] {
        advisory::import_osv_dir(&root.join(dir), &mut report, &mut sink).unwrap();
    }
    advisory::import_rubysec_dir(&root.join("rubysec"), &mut report, &mut sink).unwrap();
    advisory::import_alpine_secdb_dir(&root.join("alpine-secdb"), &mut report, &mut sink).unwrap();
    advisory::import_debian_advisory_lists_dir(
        &root.join("debian-tracker"),
        &mut report,
        &mut sink,
    )
    .unwrap();
    advisory::import_debian_tracker_file(
        &root.join("samples/debian/test-fixtures/input/debian.json"),
        &mut report,
        &mut sink,
    )
    .unwrap();
    let mut enrichments = Vec::new();
    advisory::import_kev_file(
        &root.join("kev/known_exploited_vulnerabilities.json"),
        &mut report,
        &mut |e| enrichments.push(e),
    )
    .unwrap();
    (advisories, enrichments)
}

fn os(family: OsFamily, version_id: &str) -> Option<OsInfo> {
    Some(OsInfo {
        family,
        id: "real".to_owned(),
        version_id: Some(version_id.to_owned()),
        codename: None,
        pretty_name: None,
        path: "etc/os-release".to_owned(),
    })
}

struct Case {
    os: Option<OsInfo>,
    kind: PackageKind,
    name: &'static str,
    source: Option<&'static str>,
    version: &'static str,
    /// The vulnerability ID that must (or must not) be reported.
    id: &'static str,
    /// `Some(fixed)`: reported with this smallest fixed version (`""`: none);
    /// `None`: not reported.
    fixed: Option<&'static str>,
}

#[test]
#[allow(clippy::print_stderr)] // the skip must say why
fn known_findings_in_real_data() {
    let Some(root) = vulndata() else {
        eprintln!("skipped: ../shared/vulndata not found next to the repository");
        return;
    };
    let (advisories, enrichments) = load(&root);
    let index = AdvisoryIndex::new(advisories, enrichments);
    assert!(index.len() > 10_000, "{}", index.len());
    use PackageKind::*;
    let case = |os: Option<OsInfo>, kind, name, source, version, id, fixed| Case {
        os,
        kind,
        name,
        source,
        version,
        id,
        fixed,
    };
    let cases = [
        // GO-2023-1751 (CVE-2023-24539): stdlib introduced 0, fixed 1.19.9.
        case(
            None,
            GoModule,
            "stdlib",
            None,
            "go1.19.8",
            "CVE-2023-24539",
            Some("1.19.9"),
        ),
        case(
            None,
            GoModule,
            "stdlib",
            None,
            "go1.19.9",
            "CVE-2023-24539",
            None,
        ),
        case(
            None,
            GoModule,
            "stdlib",
            None,
            "go1.20.3",
            "CVE-2023-24539",
            Some("1.20.4"),
        ),
        // PYSEC-2019-10 (CVE-2019-12781): django 2.2 before 2.2.3.
        case(
            None,
            Python,
            "Django",
            None,
            "2.2",
            "CVE-2019-12781",
            Some("2.2.3"),
        ),
        case(
            None,
            Python,
            "Django",
            None,
            "2.2.3",
            "CVE-2019-12781",
            None,
        ),
        // PYSEC-2020-176 (CVE-2019-20477): PyYAML 5.1 to before 5.2b1.
        case(
            None,
            Python,
            "PyYAML",
            None,
            "5.1",
            "CVE-2019-20477",
            Some("5.2b1"),
        ),
        case(
            None,
            Python,
            "PyYAML",
            None,
            "5.3.1",
            "CVE-2019-20477",
            None,
        ),
        // RUSTSEC-2021-0003 (CVE-2021-25900): smallvec 1.0.0 to before 1.6.1.
        case(
            None,
            Cargo,
            "smallvec",
            None,
            "1.6.0",
            "CVE-2021-25900",
            Some("1.6.1"),
        ),
        case(
            None,
            Cargo,
            "smallvec",
            None,
            "1.6.1",
            "CVE-2021-25900",
            None,
        ),
        // ALSA-2022:6224: openssl-libs fixed in 1:3.0.1-41.el9_0 (epoch 1 vs none).
        case(
            os(OsFamily::AlmaLinux, "9.0"),
            Rpm,
            "openssl-libs",
            Some("openssl"),
            "3.0.1-23.el9_0",
            "ALSA-2022:6224",
            Some("1:3.0.1-41.el9_0"),
        ),
        case(
            os(OsFamily::AlmaLinux, "9.0"),
            Rpm,
            "openssl-libs",
            Some("openssl"),
            "1:3.0.1-41.el9_0",
            "ALSA-2022:6224",
            None,
        ),
        // RubySec CVE-2019-16782: rack patched "~> 1.6.12", ">= 2.0.8".
        case(
            None,
            Gem,
            "rack",
            None,
            "2.0.7",
            "CVE-2019-16782",
            Some("2.0.8"),
        ),
        case(
            None,
            Gem,
            "rack",
            None,
            "1.6.11",
            "CVE-2019-16782",
            Some("1.6.12"),
        ),
        case(None, Gem, "rack", None, "2.0.8", "CVE-2019-16782", None),
        // Alpine secdb v3.10 main: openssl 1.1.1d-r0 fixes CVE-2019-1547.
        case(
            os(OsFamily::Alpine, "3.10.3"),
            Apk,
            "libcrypto1.1",
            Some("openssl"),
            "1.1.1c-r0",
            "CVE-2019-1547",
            Some("1.1.1d-r0"),
        ),
        case(
            os(OsFamily::Alpine, "3.10.3"),
            Apk,
            "libcrypto1.1",
            Some("openssl"),
            "1.1.1d-r0",
            "CVE-2019-1547",
            None,
        ),
        // Tracker sample: txt2man CVE-2013-1444 fixed in 1.5.5-4.1 (buster = Debian:10).
        case(
            os(OsFamily::Debian, "10"),
            Deb,
            "txt2man",
            None,
            "1.5.5-4",
            "CVE-2013-1444",
            Some("1.5.5-4.1"),
        ),
        case(
            os(OsFamily::Debian, "10"),
            Deb,
            "txt2man",
            None,
            "1.6.0-3",
            "CVE-2013-1444",
            None,
        ),
        // prototypejs: CVE-2007-2383 has fixed_version "0" (never affected).
        case(
            os(OsFamily::Debian, "10"),
            Deb,
            "libjs-prototype",
            Some("prototypejs"),
            "1.6.0.1-1",
            "CVE-2008-7220",
            Some("1.6.0.2-1"),
        ),
        case(
            os(OsFamily::Debian, "10"),
            Deb,
            "libjs-prototype",
            Some("prototypejs"),
            "1.6.0.1-1",
            "CVE-2007-2383",
            None,
        ),
    ];
    for case in cases {
        let mut package = Package::new(case.kind, case.name, case.version);
        package.source = case.source.map(|name| SourcePackage {
            name: name.to_owned(),
            version: None,
        });
        package.evidence = Evidence {
            path: "/real".to_owned(),
            layer_index: Some(0),
            layer_diff_id: None,
            analyzer: None,
        };
        let inventory = ImageInventory {
            os: case.os.clone(),
            packages: vec![package],
            diagnostics: Vec::new(),
        };
        let result = match_image(&inventory, &index);
        assert!(
            result.diagnostics.is_empty(),
            "{} {}: {:?}",
            case.name,
            case.version,
            result.diagnostics
        );
        let found = result.findings.iter().find(|f| f.id == case.id);
        match (case.fixed, found) {
            (None, None) => {}
            (None, Some(f)) => panic!("{} {}: unexpected {f:#?}", case.name, case.version),
            (Some(_), None) => panic!(
                "{} {}: {} missing; got {:?}",
                case.name,
                case.version,
                case.id,
                result.findings.iter().map(|f| &f.id).collect::<Vec<_>>()
            ),
            (Some(fixed), Some(f)) => {
                assert_eq!(
                    f.fixed_version.as_deref().unwrap_or(""),
                    fixed,
                    "{} {} {}",
                    case.name,
                    case.version,
                    case.id
                );
                if !fixed.is_empty() {
                    assert_eq!(f.state, FixState::Fixed);
                }
                assert!(!f.evidence.is_empty());
            }
        }
    }
}
