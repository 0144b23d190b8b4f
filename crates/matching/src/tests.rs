use model::{
    AdvisoryReference, AdvisorySource, AffectedRange, CveEnrichment, Evidence, RangeEvent,
    RangeKind, RequirementKind, SeverityScore, SourcePackage, UnaffectedRequirement,
};

use super::*;

fn advisory(id: &str, aliases: &[&str], affected: Vec<AffectedPackage>) -> Advisory {
    Advisory {
        id: id.to_owned(),
        source: AdvisorySource::Osv,
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        upstream: Vec::new(),
        related: Vec::new(),
        summary: Some(format!("summary of {id}")),
        details: None,
        published: None,
        modified: None,
        withdrawn: None,
        severity: Vec::new(),
        database_severity: None,
        affected,
        references: vec![AdvisoryReference {
            kind: "WEB".to_owned(),
            url: format!("https://example.invalid/{id}"),
        }],
    }
}

fn events(spec: &str) -> Vec<RangeEvent> {
    spec.split_whitespace()
        .map(|e| {
            let (kind, v) = e.split_once('=').unwrap();
            match kind {
                "i" => RangeEvent::Introduced(v.to_owned()),
                "f" => RangeEvent::Fixed(v.to_owned()),
                "l" => RangeEvent::LastAffected(v.to_owned()),
                "lim" => RangeEvent::Limit(v.to_owned()),
                _ => panic!("bad event {e}"),
            }
        })
        .collect()
}

fn affected(ecosystem: &str, name: &str, kind: RangeKind, spec: &str) -> AffectedPackage {
    AffectedPackage {
        ecosystem: ecosystem.to_owned(),
        name: name.to_owned(),
        ranges: if spec.is_empty() {
            Vec::new()
        } else {
            vec![AffectedRange {
                kind,
                events: events(spec),
            }]
        },
        ..AffectedPackage::default()
    }
}

fn package(kind: PackageKind, name: &str, version: &str) -> Package {
    let mut p = Package::new(kind, name, version);
    p.evidence = Evidence {
        path: format!("/{name}"),
        layer_index: Some(1),
        layer_diff_id: None,
        analyzer: None,
    };
    p
}

fn inventory(os: Option<(OsFamily, &str)>, packages: Vec<Package>) -> ImageInventory {
    ImageInventory {
        os: os.map(|(family, version)| OsInfo {
            family,
            id: "test".to_owned(),
            version_id: Some(version.to_owned()),
            codename: None,
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }),
        packages,
        diagnostics: Vec::new(),
    }
}

fn run(advisories: Vec<Advisory>, inv: &ImageInventory) -> MatchResult {
    let index = AdvisoryIndex::new(advisories, Vec::<CveEnrichment>::new());
    match_image(inv, &index)
}

/// (ecosystem, range kind, events, package kind, package name, installed, expected fixed or None = not affected)
#[test]
#[allow(clippy::type_complexity)]
fn language_ranges_table() {
    use PackageKind::*;
    use RangeKind::*;
    let table: &[(
        &str,
        RangeKind,
        &str,
        PackageKind,
        &str,
        &str,
        &str,
        Option<Option<&str>>,
    )] = &[
        // PyPI: PEP 440 order, PEP 503 names.
        (
            "PyPI",
            Ecosystem,
            "i=0 f=2.2.1",
            Python,
            "Django",
            "2.2",
            "django",
            Some(Some("2.2.1")),
        ),
        (
            "PyPI",
            Ecosystem,
            "i=0 f=2.2.1",
            Python,
            "Django",
            "2.2.1",
            "django",
            None,
        ),
        (
            "PyPI",
            Ecosystem,
            "i=0 f=5.4",
            Python,
            "PyYAML",
            "5.1",
            "pyyaml",
            Some(Some("5.4")),
        ),
        (
            "PyPI",
            Ecosystem,
            "i=1.0 f=1.0.1",
            Python,
            "zope.interface",
            "1.0rc1",
            "zope-interface",
            None,
        ),
        (
            "PyPI",
            Ecosystem,
            "i=1.0 f=1.0.1",
            Python,
            "Zope_Interface",
            "1.0",
            "zope.interface",
            Some(Some("1.0.1")),
        ),
        // Multiple intervals, last_affected inclusive, limit.
        (
            "PyPI",
            Ecosystem,
            "i=1.0 f=1.5 i=2.0 f=2.5",
            Python,
            "p",
            "1.7",
            "p",
            None,
        ),
        (
            "PyPI",
            Ecosystem,
            "i=1.0 f=1.5 i=2.0 f=2.5",
            Python,
            "p",
            "2.1",
            "p",
            Some(Some("2.5")),
        ),
        (
            "PyPI",
            Ecosystem,
            "i=0 l=3.0",
            Python,
            "p",
            "3.0",
            "p",
            Some(None),
        ),
        (
            "PyPI",
            Ecosystem,
            "i=0 l=3.0",
            Python,
            "p",
            "3.0.post1",
            "p",
            None,
        ),
        (
            "PyPI",
            Ecosystem,
            "i=0 lim=2.0",
            Python,
            "p",
            "2.0",
            "p",
            None,
        ),
        (
            "PyPI",
            Ecosystem,
            "i=0 lim=2.0",
            Python,
            "p",
            "1.9",
            "p",
            Some(None),
        ),
        // Events out of order are sorted first.
        (
            "PyPI",
            Ecosystem,
            "f=2.5 i=2.0 f=1.5 i=1.0",
            Python,
            "p",
            "2.1",
            "p",
            Some(Some("2.5")),
        ),
        // Go: modules (v prefix installed) and the toolchain.
        (
            "Go",
            Semver,
            "i=0 f=1.19.9 i=1.20.0-0 f=1.20.4",
            GoModule,
            "stdlib",
            "go1.19.8",
            "stdlib",
            Some(Some("1.19.9")),
        ),
        // As our analyzer (like Trivy and Syft) reports a binary's stdlib.
        (
            "Go",
            Semver,
            "i=0 f=1.19.9 i=1.20.0-0 f=1.20.4",
            GoModule,
            "stdlib",
            "v1.19.8",
            "stdlib",
            Some(Some("1.19.9")),
        ),
        (
            "Go",
            Semver,
            "i=0 f=1.19.9 i=1.20.0-0 f=1.20.4",
            GoModule,
            "stdlib",
            "go1.19.9",
            "stdlib",
            None,
        ),
        (
            "Go",
            Semver,
            "i=0 f=1.19.9 i=1.20.0-0 f=1.20.4",
            GoModule,
            "stdlib",
            "go1.20rc2",
            "stdlib",
            Some(Some("1.20.4")),
        ),
        (
            "Go",
            Semver,
            "i=0 f=0.7.0",
            GoModule,
            "golang.org/x/net",
            "v0.6.0",
            "golang.org/x/net",
            Some(Some("0.7.0")),
        ),
        (
            "Go",
            Semver,
            "i=0 f=0.7.0",
            GoModule,
            "golang.org/x/net",
            "v0.0.0-20220127200216-cd36cc0744dd",
            "golang.org/x/net",
            Some(Some("0.7.0")),
        ),
        (
            "Go",
            Semver,
            "i=0 f=0.7.0",
            GoModule,
            "golang.org/x/net",
            "v0.7.0",
            "golang.org/x/net",
            None,
        ),
        // crates.io
        (
            "crates.io",
            Semver,
            "i=0.6.10 f=0.6.14 i=1.0.0-0 f=1.6.1",
            Cargo,
            "smallvec",
            "1.6.0",
            "smallvec",
            Some(Some("1.6.1")),
        ),
        (
            "crates.io",
            Semver,
            "i=0.6.10 f=0.6.14 i=1.0.0-0 f=1.6.1",
            Cargo,
            "smallvec",
            "1.6.1",
            "smallvec",
            None,
        ),
        (
            "crates.io",
            Semver,
            "i=0 f=0.3.0",
            Cargo,
            "foo_bar",
            "0.2.0",
            "foo-bar",
            Some(Some("0.3.0")),
        ),
        // npm (SEMVER events, npm versions)
        (
            "npm",
            Semver,
            "i=0 f=4.17.21",
            Npm,
            "lodash",
            "4.17.20",
            "lodash",
            Some(Some("4.17.21")),
        ),
        (
            "npm",
            Semver,
            "i=0 f=4.17.21",
            Npm,
            "lodash",
            "4.17.21",
            "lodash",
            None,
        ),
        // Maven: group:artifact, published-order pairs.
        (
            "Maven",
            Ecosystem,
            "i=2.0-beta9 f=2.15.0",
            Maven,
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
            "org.apache.logging.log4j:log4j-core",
            Some(Some("2.15.0")),
        ),
        (
            "Maven",
            Ecosystem,
            "i=2.0-beta9 f=2.15.0",
            Maven,
            "org.apache.logging.log4j:log4j-core",
            "2.15.0",
            "org.apache.logging.log4j:log4j-core",
            None,
        ),
        (
            "Maven",
            Ecosystem,
            "i=2.0-beta9 f=2.15.0",
            Maven,
            "org.apache.logging.log4j:log4j-core",
            "1.2.17",
            "org.apache.logging.log4j:log4j-core",
            None,
        ),
        (
            "Maven",
            Ecosystem,
            "i=0 l=1.5 i=2.0 f=2.3",
            Maven,
            "g:a",
            "1.5",
            "g:a",
            Some(Some("2.3")),
        ),
        (
            "Maven",
            Ecosystem,
            "i=0 l=1.5 i=2.0 f=2.3",
            Maven,
            "g:a",
            "1.6",
            "g:a",
            None,
        ),
        (
            "Maven",
            Ecosystem,
            "i=0 l=1.5 i=2.0 f=2.3",
            Maven,
            "g:a",
            "2.2",
            "g:a",
            Some(Some("2.3")),
        ),
        // RubyGems ranges
        (
            "RubyGems",
            Ecosystem,
            "i=0 f=2.2.3",
            Gem,
            "rack",
            "2.2.2",
            "rack",
            Some(Some("2.2.3")),
        ),
    ];
    for (ecosystem, kind, spec, pkind, pname, installed, advisory_name, expected) in table {
        let adv = advisory(
            "GHSA-test",
            &["CVE-2099-0001"],
            vec![affected(ecosystem, advisory_name, *kind, spec)],
        );
        let inv = inventory(None, vec![package(*pkind, pname, installed)]);
        let result = run(vec![adv], &inv);
        assert!(
            result.diagnostics.is_empty(),
            "{pname} {installed}: {:?}",
            result.diagnostics
        );
        match expected {
            None => assert!(
                result.findings.is_empty(),
                "{pname} {installed} in {spec}: {:?}",
                result.findings
            ),
            Some(fixed) => {
                assert_eq!(result.findings.len(), 1, "{pname} {installed} in {spec}");
                let f = &result.findings[0];
                assert_eq!(f.id, "CVE-2099-0001");
                assert_eq!(f.aliases, vec!["GHSA-test".to_owned()]);
                assert_eq!(
                    f.fixed_version.as_deref(),
                    *fixed,
                    "{pname} {installed} in {spec}"
                );
                let state = if fixed.is_some() {
                    FixState::Fixed
                } else {
                    FixState::NotFixed
                };
                assert_eq!(f.state, state);
                assert!(MATCHERS.contains(&f.evidence[0].matcher.as_str()));
                assert_eq!(f.package.name, *pname);
            }
        }
    }
}

#[test]
fn explicit_versions_and_git_ranges() {
    let mut entry = affected("PyPI", "pkg", RangeKind::Git, "i=abc f=def");
    entry.versions = vec!["1.0".to_owned(), "1.1".to_owned()];
    let adv = advisory("PYSEC-1", &[], vec![entry]);
    for (installed, hit) in [("1.0", true), ("1.1.0", true), ("1.2", false)] {
        let result = run(
            vec![adv.clone()],
            &inventory(None, vec![package(PackageKind::Python, "pkg", installed)]),
        );
        assert_eq!(result.findings.len(), usize::from(hit), "{installed}");
        if hit {
            assert_eq!(result.findings[0].id, "PYSEC-1");
            assert_eq!(result.findings[0].state, FixState::NotFixed);
            assert!(result.findings[0].evidence[0].rule.contains("listed"));
        }
    }
}

#[test]
fn rubygems_requirements() {
    let mut entry = affected("RubyGems", "rack", RangeKind::Ecosystem, "i=0");
    entry.unaffected_requirements = vec![
        UnaffectedRequirement {
            kind: RequirementKind::Patched,
            requirement: "~> 2.1.4.1".to_owned(),
        },
        UnaffectedRequirement {
            kind: RequirementKind::Patched,
            requirement: ">= 2.2.3.1".to_owned(),
        },
        UnaffectedRequirement {
            kind: RequirementKind::Unaffected,
            requirement: "< 1.1.0".to_owned(),
        },
    ];
    let adv = advisory("CVE-2023-1", &["GHSA-x"], vec![entry]);
    let table = [
        ("1.0.0", None),
        ("2.1.4", Some("2.1.4.1")),
        ("2.1.4.1", None),
        ("2.2.3", Some("2.2.3.1")),
        ("2.2.3.1", None),
        ("3.0.0", None),
    ];
    for (installed, expected) in table {
        let result = run(
            vec![adv.clone()],
            &inventory(None, vec![package(PackageKind::Gem, "rack", installed)]),
        );
        assert!(result.diagnostics.is_empty());
        match expected {
            None => assert!(result.findings.is_empty(), "{installed}"),
            Some(fixed) => {
                assert_eq!(result.findings.len(), 1, "{installed}");
                assert_eq!(
                    result.findings[0].fixed_version.as_deref(),
                    Some(fixed),
                    "{installed}"
                );
            }
        }
    }
}

/// (os family, VERSION_ID, advisory ecosystem, package kind, binary, source, installed, source version, events, expected finding fixed version)
#[test]
fn os_routing_table() {
    use OsFamily as F;
    use PackageKind::*;
    #[allow(clippy::type_complexity)]
    let table: &[(
        F,
        &str,
        &str,
        PackageKind,
        &str,
        Option<(&str, &str)>,
        &str,
        &str,
        Option<Option<&str>>,
    )] = &[
        (
            F::Debian,
            "12",
            "Debian:12",
            Deb,
            "libssl3",
            Some(("openssl", "3.0.11-1~deb12u1")),
            "3.0.11-1~deb12u1",
            "i=0 f=3.0.11-1~deb12u2",
            Some(Some("3.0.11-1~deb12u2")),
        ),
        (
            F::Debian,
            "12",
            "Debian:12",
            Deb,
            "libssl3",
            Some(("openssl", "3.0.11-1~deb12u2")),
            "3.0.11-1~deb12u2",
            "i=0 f=3.0.11-1~deb12u2",
            None,
        ),
        // Another release's data never applies.
        (
            F::Debian,
            "11",
            "Debian:12",
            Deb,
            "libssl3",
            Some(("openssl", "1.1.1n-0")),
            "1.1.1n-0",
            "i=0 f=3.0.11-1~deb12u2",
            None,
        ),
        // No source: binary name and version.
        (
            F::Debian,
            "12",
            "Debian:12",
            Deb,
            "openssl",
            None,
            "3.0.9-1",
            "i=0 f=3.0.11-1",
            Some(Some("3.0.11-1")),
        ),
        (
            F::Ubuntu,
            "22.04",
            "Ubuntu:22.04:LTS",
            Deb,
            "libc6",
            Some(("glibc", "2.35-0ubuntu3.1")),
            "2.35-0ubuntu3.1",
            "i=0 f=2.35-0ubuntu3.4",
            Some(Some("2.35-0ubuntu3.4")),
        ),
        (
            F::Alpine,
            "3.19.1",
            "Alpine:v3.19",
            Apk,
            "libcrypto3",
            Some(("openssl", "3.1.4-r1")),
            "3.1.4-r1",
            "i=0 f=3.1.4-r3",
            Some(Some("3.1.4-r3")),
        ),
        (
            F::Alpine,
            "3.19.1",
            "Alpine:v3.19",
            Apk,
            "libcrypto3",
            Some(("openssl", "3.1.4-r3")),
            "3.1.4-r3",
            "i=0 f=3.1.4-r3",
            None,
        ),
        (
            F::Wolfi,
            "20230201",
            "Wolfi",
            Apk,
            "openssl",
            None,
            "3.1.4-r0",
            "i=0 f=3.1.4-r1",
            Some(Some("3.1.4-r1")),
        ),
        // rpm: binary names; an advisory epoch 1 beats an installed version without epoch.
        (
            F::AlmaLinux,
            "9.3",
            "AlmaLinux:9",
            Rpm,
            "openssl-libs",
            Some(("openssl", "")),
            "3.0.7-24.el9",
            "i=0 f=1:3.0.7-25.el9_3",
            Some(Some("1:3.0.7-25.el9_3")),
        ),
        (
            F::AlmaLinux,
            "9.3",
            "AlmaLinux:9",
            Rpm,
            "openssl-libs",
            Some(("openssl", "")),
            "1:3.0.7-25.el9_3",
            "i=0 f=1:3.0.7-25.el9_3",
            None,
        ),
        (
            F::Rocky,
            "8.9",
            "Rocky Linux:8",
            Rpm,
            "curl",
            None,
            "7.61.1-30.el8",
            "i=0 f=7.61.1-34.el8",
            Some(Some("7.61.1-34.el8")),
        ),
    ];
    for (family, version_id, ecosystem, kind, binary, source, installed, spec, expected) in table {
        let adv = advisory(
            "DSA-1",
            &["CVE-2099-7"],
            vec![affected(
                ecosystem,
                source.map_or(*binary, |s| if *kind == Rpm { binary } else { s.0 }),
                RangeKind::Ecosystem,
                spec,
            )],
        );
        let mut p = package(*kind, binary, installed);
        if let Some((name, version)) = source {
            p.source = Some(SourcePackage {
                name: name.to_string(),
                version: (!version.is_empty()).then(|| version.to_string()),
            });
        }
        let result = run(
            vec![adv],
            &inventory(Some((family.clone(), version_id)), vec![p]),
        );
        assert!(
            result.diagnostics.is_empty(),
            "{binary} {installed}: {:?}",
            result.diagnostics
        );
        match expected {
            None => assert!(
                result.findings.is_empty(),
                "{family:?} {binary} {installed}"
            ),
            Some(fixed) => {
                assert_eq!(result.findings.len(), 1, "{family:?} {binary} {installed}");
                assert_eq!(result.findings[0].fixed_version.as_deref(), *fixed);
                assert_eq!(result.findings[0].package.name, *binary);
            }
        }
    }
}

#[test]
fn distro_statuses_and_merging() {
    let mut tracker = affected(
        "Debian:12",
        "openssl",
        RangeKind::Ecosystem,
        "i=0 f=3.0.11-1~deb12u2",
    );
    tracker.severity = Some("high".to_owned());
    let mut tracker_adv = advisory("CVE-2023-5678", &[], vec![tracker]);
    tracker_adv.source = AdvisorySource::DebianTracker;
    let mut dsa_adv = advisory(
        "DSA-5532-1",
        &["CVE-2023-5678", "CVE-2023-5363"],
        vec![affected(
            "Debian:12",
            "openssl",
            RangeKind::Ecosystem,
            "i=0 f=3.0.11-1~deb12u2",
        )],
    );
    dsa_adv.source = AdvisorySource::DebianAdvisoryList;
    let mut wont = affected("Debian:12", "openssl", RangeKind::Ecosystem, "");
    wont.distro_status = Some(DistroStatus::WontFix("postponed".to_owned()));
    let mut wont_adv = advisory("CVE-2023-0001", &[], vec![wont]);
    wont_adv.source = AdvisorySource::DebianTracker;
    let mut undetermined = affected("Debian:12", "openssl", RangeKind::Ecosystem, "");
    undetermined.distro_status = Some(DistroStatus::Undetermined);
    let undetermined_adv = advisory("CVE-2023-0002", &[], vec![undetermined]);
    let mut not_affected = affected("Debian:12", "openssl", RangeKind::Ecosystem, "i=0");
    not_affected.distro_status = Some(DistroStatus::NotAffected);
    let not_affected_adv = advisory("CVE-2023-0003", &[], vec![not_affected]);
    let osv_same = advisory(
        "DEBIAN-CVE-2023-0003",
        &["CVE-2023-0003"],
        vec![affected(
            "Debian:12",
            "openssl",
            RangeKind::Ecosystem,
            "i=0",
        )],
    );
    let mut p = package(PackageKind::Deb, "libssl3", "3.0.11-1~deb12u1");
    p.source = Some(SourcePackage {
        name: "openssl".to_owned(),
        version: None,
    });
    let inv = inventory(Some((OsFamily::Debian, "12")), vec![p]);
    // Advisory order must not change the outcome.
    let advisories = vec![
        tracker_adv,
        dsa_adv,
        wont_adv,
        undetermined_adv,
        not_affected_adv,
        osv_same,
    ];
    let forward = run(advisories.clone(), &inv);
    let backward = run(advisories.into_iter().rev().collect(), &inv);
    assert_eq!(forward.findings, backward.findings);
    let ids: Vec<&str> = forward.findings.iter().map(|f| f.id.as_str()).collect();
    // CVE-2023-5678: high (vendor) sorts first among unscored ones.
    assert_eq!(
        ids,
        [
            "CVE-2023-5678",
            "CVE-2023-0001",
            "CVE-2023-0002",
            "CVE-2023-5363"
        ]
    );
    let merged = &forward.findings[0];
    assert_eq!(merged.aliases, ["DSA-5532-1"]);
    assert_eq!(merged.evidence.len(), 2);
    assert_eq!(merged.severity, Severity::High);
    assert_eq!(merged.state, FixState::Fixed);
    assert_eq!(
        forward.findings[1].state,
        FixState::WontFix("postponed".to_owned())
    );
    assert_eq!(forward.findings[2].state, FixState::NotFixed);
    assert!(
        forward.findings[2].evidence[0]
            .rule
            .contains("undetermined")
    );
    assert_eq!(forward.findings[3].aliases, ["DSA-5532-1"]);
    // Fingerprints differ per vulnerability and are stable.
    assert_ne!(
        forward.findings[0].fingerprint,
        forward.findings[1].fingerprint
    );
    assert_eq!(forward.findings[0].fingerprint.len(), 64);
}

#[test]
fn unparseable_versions_are_diagnosed() {
    let adv = advisory(
        "GHSA-1",
        &[],
        vec![affected("PyPI", "pkg", RangeKind::Ecosystem, "i=0 f=1.0")],
    );
    let bad_adv = advisory(
        "GHSA-2",
        &[],
        vec![affected(
            "crates.io",
            "c",
            RangeKind::Semver,
            "i=0 f=not.a.version",
        )],
    );
    let inv = inventory(
        None,
        vec![
            package(PackageKind::Python, "pkg", "%%%"),
            package(PackageKind::Cargo, "c", "1.0.0"),
        ],
    );
    let result = run(vec![adv, bad_adv], &inv);
    assert!(result.findings.is_empty());
    assert_eq!(result.diagnostics.len(), 2, "{:?}", result.diagnostics);
    assert!(
        result.diagnostics[0].message.contains("%%%"),
        "{}",
        result.diagnostics[0].message
    );
    assert!(
        result.diagnostics[1].message.contains("not.a.version"),
        "{}",
        result.diagnostics[1].message
    );
    assert!(result.diagnostics[1].message.contains("GHSA-2"));
}

#[test]
fn withdrawn_ignored_and_unknown_os_diagnosed() {
    let mut adv = advisory(
        "GHSA-1",
        &[],
        vec![affected("PyPI", "pkg", RangeKind::Ecosystem, "i=0")],
    );
    adv.withdrawn = Some("2024-01-01T00:00:00Z".to_owned());
    let index = AdvisoryIndex::new(vec![adv], Vec::new());
    assert_eq!((index.len(), index.withdrawn()), (0, 1));
    let inv = inventory(
        None,
        vec![
            package(PackageKind::Python, "pkg", "1.0"),
            package(PackageKind::Deb, "bash", "5.2"),
        ],
    );
    let result = match_image(&inv, &index);
    assert!(result.findings.is_empty());
    assert_eq!(result.diagnostics.len(), 1);
    assert_eq!(result.diagnostics[0].code, "matching.os-unsupported");
}

#[test]
fn cvss_scores_enrichment_and_sorting() {
    let mut low = advisory(
        "GHSA-low",
        &["CVE-2000-1"],
        vec![affected("npm", "a", RangeKind::Semver, "i=0")],
    );
    low.severity = vec![SeverityScore {
        kind: "CVSS_V3".to_owned(),
        score: "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N".to_owned(),
    }];
    let mut critical = advisory(
        "GHSA-crit",
        &["CVE-2000-2"],
        vec![affected("npm", "a", RangeKind::Semver, "i=0")],
    );
    critical.severity = vec![
        SeverityScore {
            kind: "CVSS_V4".to_owned(),
            score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N".to_owned(),
        },
        SeverityScore {
            kind: "CVSS_V3".to_owned(),
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".to_owned(),
        },
    ];
    let unscored = advisory(
        "GHSA-none",
        &["CVE-2000-3"],
        vec![affected("npm", "a", RangeKind::Semver, "i=0")],
    );
    let enrichment = CveEnrichment {
        cve: "CVE-2000-3".to_owned(),
        cvss: vec![SeverityScore {
            kind: "CVSS_V3".to_owned(),
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N".to_owned(),
        }],
        epss: Some((0.5, 0.9)),
        kev_date_added: Some("2024-01-01".to_owned()),
        ..CveEnrichment::default()
    };
    let index = AdvisoryIndex::new(vec![low, unscored, critical], vec![enrichment]);
    let result = match_image(
        &inventory(None, vec![package(PackageKind::Npm, "a", "1.0.0")]),
        &index,
    );
    let summary: Vec<(&str, f64, Severity)> = result
        .findings
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.cvss.as_ref().map_or(-1.0, |c| c.base_score),
                f.severity,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("CVE-2000-2", 9.8, Severity::Critical),
            ("CVE-2000-3", 7.5, Severity::High),
            ("CVE-2000-1", 2.0, Severity::Low),
        ]
    );
    assert_eq!(
        result.findings[0].cvss_v4.as_ref().map(|c| c.base_score),
        Some(9.3)
    );
    assert_eq!(result.findings[1].epss, Some((0.5, 0.9)));
    assert_eq!(
        result.findings[1].kev_date_added.as_deref(),
        Some("2024-01-01")
    );
}

#[test]
fn pep503_names() {
    for (input, expected) in [
        ("Django", "django"),
        ("zope.interface", "zope-interface"),
        ("A__b-.C", "a-b-c"),
        ("PyYAML", "pyyaml"),
    ] {
        assert_eq!(index::pep503(input), expected);
    }
}

/// The fingerprint is lowercase hex SHA-256 of the NUL-separated identity,
/// exactly as `hex::encode` wrote it: stored fingerprints stay valid.
#[test]
fn fingerprint_is_hex_sha256_of_identity() {
    let mut package = Package::new(PackageKind::Python, "Django", "4.2.0");
    package.arch = Some("noarch".to_owned());
    package.evidence.path = "/app/site-packages".to_owned();
    for id in ["CVE-2024-1", "GHSA-xxxx-yyyy-zzzz", ""] {
        let identity = format!("python\0Django\04.2.0\0noarch\0/app/site-packages\0{id}\0");
        let expected = hex::encode(Sha256::digest(identity.as_bytes()));
        assert_eq!(fingerprint(&package, id), expected, "{id}");
    }
}

/// The keys `lookup_keys` gives are exactly those matching looks up, and
/// every one of them is an ecosystem `routes_ecosystem` admits.
#[test]
#[allow(clippy::type_complexity)]
fn lookup_keys_follow_routing() {
    let mut deb = package(PackageKind::Deb, "libssl3", "3.0.11-1");
    deb.source = Some(SourcePackage {
        name: "openssl".to_owned(),
        version: Some("3.0.11-1".to_owned()),
    });
    let cases: Vec<(Option<(OsFamily, &str)>, Package, Option<(&str, &str)>)> = vec![
        (
            Some((OsFamily::Debian, "12")),
            deb,
            Some(("debian:12", "openssl")),
        ),
        (
            Some((OsFamily::Alpine, "3.19.1")),
            package(PackageKind::Apk, "musl", "1.2.4-r2"),
            Some(("alpine:v3.19", "musl")),
        ),
        (
            Some((OsFamily::AlmaLinux, "9.3")),
            package(PackageKind::Rpm, "openssl-libs", "1:3.0.7-24.el9"),
            Some(("almalinux:9", "openssl-libs")),
        ),
        (
            Some((OsFamily::Ubuntu, "22.04")),
            package(PackageKind::Deb, "bash", "5.1-6ubuntu1"),
            Some(("ubuntu:22.04", "bash")),
        ),
        (
            None,
            package(PackageKind::Python, "PyYAML", "5.1"),
            Some(("pypi", "pyyaml")),
        ),
        (
            None,
            package(PackageKind::Cargo, "Small_Vec", "1.6.0"),
            Some(("crates.io", "small-vec")),
        ),
        (
            None,
            package(PackageKind::GoModule, "stdlib", "1.19.8"),
            Some(("go", "stdlib")),
        ),
        (
            None,
            package(PackageKind::Gem, "rack", "2.0.0"),
            Some(("rubygems", "rack")),
        ),
        (
            Some((OsFamily::RedHat, "8.8")),
            red_hat_package(
                "ruby-libs",
                "2.7.8-139.module+el8.8.0+18745+f1bef313",
                "ruby",
                Some("ruby:2.7"),
            ),
            Some(("red hat:8/ruby:2.7", "ruby")),
        ),
        (
            Some((OsFamily::RedHat, "9.4")),
            red_hat_package("python3-libs", "3.9.18-3.el9_4.3", "python3.9", None),
            Some(("red hat:9", "python3.9")),
        ),
        // A modular build whose stream is unknown is looked up nowhere.
        (
            Some((OsFamily::CentOS, "8")),
            red_hat_package(
                "ruby-libs",
                "2.7.8-139.module+el8.8.0+18745+f1bef313",
                "ruby",
                None,
            ),
            None,
        ),
        (None, package(PackageKind::Deb, "bash", "5.1"), None),
        (
            Some((OsFamily::Suse, "15.5")),
            package(PackageKind::Rpm, "bash", "5.1"),
            None,
        ),
    ];
    for (os, package, expected) in cases {
        let name = package.name.clone();
        let keys = lookup_keys(&inventory(os, vec![package]));
        let expected: BTreeSet<(String, String)> = expected
            .into_iter()
            .map(|(e, n)| (e.to_owned(), n.to_owned()))
            .collect();
        assert_eq!(keys, expected, "{name}");
        for (ecosystem, _) in &keys {
            assert!(routes_ecosystem(ecosystem), "{ecosystem} is looked up");
        }
    }
}

fn red_hat_package(binary: &str, version: &str, source: &str, module: Option<&str>) -> Package {
    let mut package = package(PackageKind::Rpm, binary, version);
    package.source = Some(SourcePackage {
        name: source.to_owned(),
        version: Some(version.to_owned()),
    });
    package.module = module.map(str::to_owned);
    package
}

#[test]
fn routed_ecosystems_table() {
    let table = [
        ("Debian:12", true),
        ("debian:11", true),
        ("Debian:unstable", false),
        ("Ubuntu:22.04:LTS", true),
        ("Alpine:v3.19", true),
        ("Alpine:3.19", false),
        ("Wolfi", true),
        ("AlmaLinux:9", true),
        ("Rocky Linux:8", true),
        ("PyPI", true),
        ("Go", true),
        ("crates.io", true),
        ("npm", true),
        ("Maven", true),
        ("RubyGems", true),
        ("Red Hat:9", true),
        // Pinned-minor streams: no image routes there.
        ("Red Hat:9.2+eus", false),
        ("Red Hat:8/ruby:2.7", true),
        ("red hat:9/nodejs:18", true),
        ("Red Hat:8/ruby", false),
        ("Red Hat:8/:2.7", false),
        ("Red Hat:/ruby:2.7", false),
        ("Red Hat:8.6+eus/ruby:2.7", false),
        ("Packagist", false),
        ("NuGet", false),
        ("", false),
    ];
    for (ecosystem, routed) in table {
        assert_eq!(routes_ecosystem(ecosystem), routed, "{ecosystem}");
    }
}

/// Streaming records into an `IndexBuilder` in any order (enrichments
/// first, advisories interleaved with them) gives the index
/// `AdvisoryIndex::new` builds: the same findings, byte for byte.
#[test]
fn builder_in_any_order_matches_new() {
    let advisories = || {
        let mut listed = affected("PyPI", "Django", RangeKind::Ecosystem, "");
        listed.versions = ["2.2rc1", "2.2", "2.2.1", "3.0", "not a version"]
            .map(str::to_owned)
            .to_vec();
        let mut scored = advisory(
            "GHSA-range",
            &["CVE-2000-2"],
            vec![affected(
                "PyPI",
                "django",
                RangeKind::Ecosystem,
                "i=2.0 f=2.2.2",
            )],
        );
        scored.severity = vec![SeverityScore {
            kind: "CVSS_V3".to_owned(),
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".to_owned(),
        }];
        let mut withdrawn = advisory(
            "GHSA-gone",
            &[],
            vec![affected("PyPI", "django", RangeKind::Ecosystem, "i=0")],
        );
        withdrawn.withdrawn = Some("2024-01-01T00:00:00Z".to_owned());
        vec![
            advisory("PYSEC-listed", &["CVE-2000-1"], vec![listed]),
            withdrawn,
            scored,
        ]
    };
    let enrichments = || {
        ["CVE-2000-1", "CVE-2000-2", "CVE-2000-1"]
            .into_iter()
            .enumerate()
            .map(|(n, cve)| CveEnrichment {
                cve: cve.to_owned(),
                description: Some(format!("description {n}")),
                epss: (n == 2).then_some((0.25, 0.5)),
                ..CveEnrichment::default()
            })
            .collect::<Vec<_>>()
    };
    let inventory = inventory(
        None,
        ["2.2", "2.2.0", "2.2.1", "3.0", "1.0"]
            .map(|version| package(PackageKind::Python, "django", version))
            .to_vec(),
    );
    let expected = match_image(&inventory, &AdvisoryIndex::new(advisories(), enrichments()));
    let mut builder = IndexBuilder::new();
    builder.reserve(1);
    let mut enrichments = enrichments().into_iter();
    builder.add_enrichment(enrichments.next().unwrap());
    for advisory in advisories() {
        builder.add_advisory(advisory);
        if let Some(enrichment) = enrichments.next() {
            builder.add_enrichment(enrichment);
        }
    }
    let index = builder.finish();
    assert_eq!((index.len(), index.withdrawn()), (2, 1));
    let got = match_image(&inventory, &index);
    assert!(!expected.findings.is_empty());
    assert_eq!(
        serde_json::to_string(&got.findings).unwrap(),
        serde_json::to_string(&expected.findings).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&got.diagnostics).unwrap(),
        serde_json::to_string(&expected.diagnostics).unwrap()
    );
}

#[test]
fn fix_all_version_is_the_greatest_fix_in_the_package_scheme() {
    // (kind, name, fixed versions, expected): string order would be wrong in
    // every row but the last.
    let cases: &[(PackageKind, &str, &[&str], Option<&str>)] = &[
        (
            PackageKind::Deb,
            "openssl",
            &["3.0.9-1", "3.0.11-1~deb12u2", "3.0.10-1"],
            Some("3.0.11-1~deb12u2"),
        ),
        (
            PackageKind::Deb,
            "bash",
            &["5.2-1", "5.2~rc1-1"],
            Some("5.2-1"),
        ),
        (
            PackageKind::Apk,
            "busybox",
            &["1.36.1-r10", "1.36.1-r9"],
            Some("1.36.1-r10"),
        ),
        (
            PackageKind::Rpm,
            "glibc",
            &["2.34-100.el9", "2.34-60.el9_2.7"],
            Some("2.34-100.el9"),
        ),
        (
            PackageKind::Python,
            "django",
            &["4.2.10", "4.2.9", "4.2.10rc1"],
            Some("4.2.10"),
        ),
        (
            PackageKind::Npm,
            "lodash",
            &["4.17.21", "4.17.9"],
            Some("4.17.21"),
        ),
        (
            PackageKind::GoModule,
            "stdlib",
            &["1.21.10", "1.21.9"],
            Some("1.21.10"),
        ),
        (
            PackageKind::GoModule,
            "golang.org/x/net",
            &["0.23.0", "0.7.0"],
            Some("0.23.0"),
        ),
        (
            PackageKind::Cargo,
            "hyper",
            &["0.14.10", "0.14.9"],
            Some("0.14.10"),
        ),
        (
            PackageKind::Maven,
            "log4j-core",
            &["2.17.1", "2.3.1", "2.12.4"],
            Some("2.17.1"),
        ),
        (
            PackageKind::Gem,
            "rack",
            &["2.2.10", "2.2.8.1"],
            Some("2.2.10"),
        ),
        (PackageKind::Deb, "zlib", &[], None),
    ];
    for (kind, name, fixed, expected) in cases {
        let got = fix_all_version(*kind, name, fixed.iter().copied()).unwrap();
        assert_eq!(got.as_deref(), *expected, "{kind} {name} {fixed:?}");
    }
    let error = fix_all_version(PackageKind::Python, "x", ["1.0", "not a version!"]).unwrap_err();
    assert!(error.to_string().contains("not a version!"), "{error}");
}
