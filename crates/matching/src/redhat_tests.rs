//! Red Hat routing: RHEL, CentOS and UBI images against Red Hat's CSAF data
//! (`Red Hat:N`, source RPM names), with the advisories built as the
//! `advisory::redhat_csaf` importer emits them.

use model::{
    AdvisorySource, AffectedRange, CveEnrichment, Evidence, RangeEvent, RangeKind, SourcePackage,
};

use super::*;

fn red_hat(
    id: &str,
    cves: &[&str],
    ecosystem: &str,
    name: &str,
    fixed: Option<&str>,
    status: DistroStatus,
) -> Advisory {
    let mut events = vec![RangeEvent::Introduced("0".to_owned())];
    events.extend(fixed.map(|f| RangeEvent::Fixed(f.to_owned())));
    let ranges = match status {
        DistroStatus::NotAffected => Vec::new(),
        _ => vec![AffectedRange {
            kind: RangeKind::Ecosystem,
            events,
        }],
    };
    Advisory {
        id: id.to_owned(),
        source: AdvisorySource::RedHatCsaf,
        aliases: cves
            .iter()
            .filter(|c| **c != id)
            .map(|c| c.to_string())
            .collect(),
        upstream: Vec::new(),
        related: Vec::new(),
        summary: Some(format!("{name} security update")),
        details: None,
        published: None,
        modified: None,
        withdrawn: None,
        severity: Vec::new(),
        database_severity: Some("Moderate".to_owned()),
        affected: vec![AffectedPackage {
            ecosystem: ecosystem.to_owned(),
            name: name.to_owned(),
            ranges,
            distro_status: Some(status),
            ..AffectedPackage::default()
        }],
        references: Vec::new(),
    }
}

/// The Red Hat data the table runs against, shaped after the real samples
/// (RHSA-2024:6163, RHSA-2024:9371, RHSA-2024:0811) plus VEX statuses.
fn data() -> Vec<Advisory> {
    use DistroStatus::*;
    vec![
        red_hat(
            "RHSA-2024:6163",
            &["CVE-2024-8088"],
            "Red Hat:9",
            "python3.9",
            Some("3.9.18-3.el9_4.5"),
            Fixed,
        ),
        red_hat(
            "RHSA-2024:9371",
            &["CVE-2024-8088"],
            "Red Hat:9",
            "python3.9",
            Some("3.9.19-8.el9"),
            Fixed,
        ),
        red_hat(
            "RHSA-2024:0811",
            &["CVE-2023-42465"],
            "Red Hat:9",
            "sudo",
            Some("1.9.5p2-10.el9_3"),
            Fixed,
        ),
        red_hat(
            "RHSA-2024:0811",
            &["CVE-2023-42465"],
            "Red Hat:9.2+eus",
            "sudo",
            Some("1.9.5p2-9.el9_2.2"),
            Fixed,
        ),
        red_hat(
            "RHSA-2024:0811",
            &["CVE-2023-42465"],
            "Red Hat:8",
            "sudo",
            Some("1.9.5p2-1.el8_9"),
            Fixed,
        ),
        red_hat(
            "RHSA-2099:1",
            &["CVE-2099-0001"],
            "Red Hat:9",
            "openssl",
            Some("1:3.0.7-28.el9_4"),
            Fixed,
        ),
        red_hat(
            "CVE-2099-0002",
            &[],
            "Red Hat:9",
            "libxml2",
            None,
            WontFix("Will not fix".to_owned()),
        ),
        red_hat("CVE-2099-0003", &[], "Red Hat:8", "curl", None, NotFixed),
        // The same CVE: fixed in RHEL 9, never affecting RHEL 8's build.
        red_hat(
            "CVE-2099-0004",
            &[],
            "Red Hat:9",
            "glibc",
            Some("2.34-100.el9_4.2"),
            Fixed,
        ),
        red_hat(
            "CVE-2099-0004",
            &[],
            "Red Hat:8",
            "glibc",
            None,
            NotAffected,
        ),
        red_hat(
            "RHSA-2023:3821",
            &["CVE-2023-28755"],
            "Red Hat:8/ruby:2.7",
            "ruby",
            Some("2.7.8-139.module+el8.8.0+18745+f1bef313"),
            Fixed,
        ),
        // The same CVE fixed again in the stream's next minor release.
        red_hat(
            "RHSA-2023:7025",
            &["CVE-2023-28755"],
            "Red Hat:8/ruby:2.7",
            "ruby",
            Some("2.7.8-140.module+el8.9.0+19870+a10c7ba5"),
            Fixed,
        ),
        red_hat(
            "RHSA-2023:3820",
            &["CVE-2023-28755"],
            "Red Hat:8/ruby:3.1",
            "ruby",
            Some("3.1.4-141.module+el8.8.0+18760+5e4a45b8"),
            Fixed,
        ),
        red_hat(
            "RHSA-2099:18",
            &["CVE-2099-0018"],
            "Red Hat:9/nodejs:18",
            "nodejs",
            Some("1:18.19.0-1.module+el9.3.0+21036+4ad6bea4"),
            Fixed,
        ),
        // Mainline nodejs (the non-modular default stream) fixed later.
        red_hat(
            "RHSA-2099:16",
            &["CVE-2099-0018"],
            "Red Hat:9",
            "nodejs",
            Some("1:16.20.9-1.el9_3"),
            Fixed,
        ),
        // AlmaLinux's OSV (binary names) must not leak into RHEL images.
        red_hat(
            "ALSA-2099:1",
            &["CVE-2099-0005"],
            "AlmaLinux:9",
            "openssl-libs",
            Some("1:9.9.9-1.el9"),
            Fixed,
        ),
    ]
}

type Expected<'a> = Option<(&'a str, Option<&'a str>, FixState)>;
/// OS, VERSION_ID, binary, installed, source (name, version), expected finding.
type Row<'a> = (
    OsFamily,
    &'a str,
    &'a str,
    &'a str,
    Option<(&'a str, &'a str)>,
    Expected<'a>,
);

#[test]
fn red_hat_images_match_by_source_rpm() {
    use FixState as S;
    use OsFamily as F;
    let table: [Row<'_>; 17] = [
        // RHEL 9.4: the smallest fix above the installed build, by source name.
        (
            F::RedHat,
            "9.4",
            "python3-libs",
            "3.9.18-3.el9_4.3",
            Some(("python3.9", "3.9.18-3.el9_4.3")),
            Some(("CVE-2024-8088", Some("3.9.18-3.el9_4.5"), S::Fixed)),
        ),
        // Patched on the 9.4 z-stream: the later 9.5 erratum does not re-open it.
        (
            F::RedHat,
            "9.4",
            "python3-libs",
            "3.9.18-3.el9_4.5",
            Some(("python3.9", "3.9.18-3.el9_4.5")),
            None,
        ),
        (
            F::RedHat,
            "9.5",
            "python3-libs",
            "3.9.19-8.el9",
            Some(("python3.9", "3.9.19-8.el9")),
            None,
        ),
        // The binary name alone finds nothing: Red Hat names sources.
        (
            F::RedHat,
            "9.4",
            "python3.9",
            "3.9.18-1.el9",
            None,
            Some(("CVE-2024-8088", Some("3.9.18-3.el9_4.5"), S::Fixed)),
        ),
        (F::RedHat, "9.4", "python3-libs", "3.9.18-1.el9", None, None),
        // Epoch: the source RPM file name has none; the binary's is the source's.
        (
            F::RedHat,
            "9.4",
            "openssl-libs",
            "1:3.0.7-27.el9",
            Some(("openssl", "3.0.7-27.el9")),
            Some(("CVE-2099-0001", Some("1:3.0.7-28.el9_4"), S::Fixed)),
        ),
        (
            F::RedHat,
            "9.4",
            "openssl-libs",
            "1:3.0.7-28.el9_4",
            Some(("openssl", "3.0.7-28.el9_4")),
            None,
        ),
        // An EUS-only fix does not make a mainline package fixed.
        (
            F::RedHat,
            "9.4",
            "sudo",
            "1.9.5p2-9.el9_2.2",
            Some(("sudo", "1.9.5p2-9.el9_2.2")),
            Some(("CVE-2023-42465", Some("1.9.5p2-10.el9_3"), S::Fixed)),
        ),
        // UBI 8 (os-release ID rhel) and CentOS 8 use the RHEL 8 data.
        (
            F::RedHat,
            "8.9",
            "sudo",
            "1.9.5p2-0.1.el8",
            Some(("sudo", "1.9.5p2-0.1.el8")),
            Some(("CVE-2023-42465", Some("1.9.5p2-1.el8_9"), S::Fixed)),
        ),
        (
            F::CentOS,
            "8",
            "sudo",
            "1.9.5p2-1.el8_9",
            Some(("sudo", "1.9.5p2-1.el8_9")),
            None,
        ),
        // VEX: won't fix, not fixed, not affected.
        (
            F::RedHat,
            "9.4",
            "libxml2",
            "2.9.13-6.el9_4",
            Some(("libxml2", "2.9.13-6.el9_4")),
            Some(("CVE-2099-0002", None, S::WontFix("Will not fix".to_owned()))),
        ),
        (
            F::RedHat,
            "8.10",
            "libcurl",
            "7.61.1-34.el8",
            Some(("curl", "7.61.1-34.el8")),
            Some(("CVE-2099-0003", None, S::NotFixed)),
        ),
        (
            F::RedHat,
            "8.10",
            "glibc",
            "2.28-251.el8",
            Some(("glibc", "2.28-251.el8")),
            None,
        ),
        (
            F::RedHat,
            "9.4",
            "glibc",
            "2.34-100.el9_4.1",
            Some(("glibc", "2.34-100.el9_4.1")),
            Some(("CVE-2099-0004", Some("2.34-100.el9_4.2"), S::Fixed)),
        ),
        // A build from a module stream: its stream is unknown, so not compared.
        (
            F::RedHat,
            "8.8",
            "ruby-libs",
            "2.7.8-138.module+el8.8.0+1+abc",
            Some(("ruby", "2.7.8-138.module+el8.8.0+1+abc")),
            None,
        ),
        // AlmaLinux data stays with AlmaLinux images.
        (
            F::RedHat,
            "9.4",
            "openssl-libs",
            "1:3.0.7-28.el9_4",
            None,
            None,
        ),
        (
            F::AlmaLinux,
            "9.4",
            "openssl-libs",
            "1:3.0.7-28.el9_4",
            None,
            Some(("CVE-2099-0005", Some("1:9.9.9-1.el9"), S::Fixed)),
        ),
    ];
    let index = AdvisoryIndex::new(data(), Vec::<CveEnrichment>::new());
    for (family, version_id, binary, installed, source, expected) in table {
        let mut package = Package::new(PackageKind::Rpm, binary, installed);
        package.evidence = Evidence {
            path: "var/lib/rpm/rpmdb.sqlite".to_owned(),
            layer_index: Some(0),
            layer_diff_id: None,
            analyzer: None,
        };
        package.source = source.map(|(name, version)| SourcePackage {
            name: name.to_owned(),
            version: Some(version.to_owned()),
        });
        let inventory = ImageInventory {
            os: Some(OsInfo {
                family: family.clone(),
                id: "rhel".to_owned(),
                version_id: Some(version_id.to_owned()),
                codename: None,
                pretty_name: None,
                path: "etc/os-release".to_owned(),
            }),
            packages: vec![package],
            diagnostics: Vec::new(),
        };
        let result = match_image(&inventory, &index);
        let got: Vec<_> = result
            .findings
            .iter()
            .map(|f| (f.id.as_str(), f.fixed_version.as_deref(), f.state.clone()))
            .collect();
        let want: Vec<_> = expected.clone().into_iter().collect();
        assert_eq!(got, want, "{family:?} {version_id} {binary} {installed}");
        let modular = installed.contains(".module+");
        assert_eq!(
            result
                .diagnostics
                .iter()
                .map(|d| d.code.as_str())
                .collect::<Vec<_>>(),
            if modular {
                vec!["matching.rpm-module-stream-unknown"]
            } else {
                vec![]
            },
            "{binary} {installed}"
        );
    }
}

#[test]
fn a_red_hat_finding_names_its_errata_and_source() {
    let mut package = Package::new(PackageKind::Rpm, "python3-libs", "3.9.18-3.el9_4.3");
    package.source = Some(SourcePackage {
        name: "python3.9".to_owned(),
        version: Some("3.9.18-3.el9_4.3".to_owned()),
    });
    let inventory = ImageInventory {
        os: Some(OsInfo {
            family: OsFamily::RedHat,
            id: "rhel".to_owned(),
            version_id: Some("9.4".to_owned()),
            codename: None,
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }),
        packages: vec![package],
        diagnostics: Vec::new(),
    };
    let index = AdvisoryIndex::new(data(), Vec::<CveEnrichment>::new());
    let result = match_image(&inventory, &index);
    let [finding] = result.findings.as_slice() else {
        panic!("one finding: {:?}", result.findings);
    };
    assert_eq!(finding.aliases, ["RHSA-2024:6163", "RHSA-2024:9371"]);
    assert_eq!(finding.package.matched_name, "python3.9");
    assert_eq!(finding.package.name, "python3-libs");
    assert_eq!(finding.fixed_versions, ["3.9.18-3.el9_4.5", "3.9.19-8.el9"]);
    assert_eq!(finding.severity, Severity::Medium);
    assert!(
        finding
            .evidence
            .iter()
            .all(|e| e.source == AdvisorySource::RedHatCsaf
                && e.ecosystem == "Red Hat:9"
                && e.matcher == "rpm")
    );
}

/// Modular builds with their stream from MODULARITYLABEL: looked up under
/// `Red Hat:N/name:stream`, fixed by any of the stream's errata at or below
/// the build, never compared with another stream's or mainline's fixes.
#[test]
#[allow(clippy::type_complexity)]
fn modular_red_hat_packages_match_their_stream() {
    use FixState as S;
    // VERSION_ID, binary, installed = source version, source, module, expected.
    let table: [(&str, &str, &str, &str, Option<&str>, Expected<'_>); 9] = [
        (
            "8.8",
            "ruby-libs",
            "2.7.8-138.module+el8.8.0+1+abc",
            "ruby",
            Some("ruby:2.7"),
            Some((
                "CVE-2023-28755",
                Some("2.7.8-139.module+el8.8.0+18745+f1bef313"),
                S::Fixed,
            )),
        ),
        // Patched on the 8.8 z-stream: 8.9's erratum does not re-open it.
        (
            "8.8",
            "ruby-libs",
            "2.7.8-139.module+el8.8.0+18745+f1bef313",
            "ruby",
            Some("ruby:2.7"),
            None,
        ),
        (
            "8.9",
            "ruby",
            "2.7.8-140.module+el8.9.0+19870+a10c7ba5",
            "ruby",
            Some("ruby:2.7"),
            None,
        ),
        // The 3.1 stream: the 2.7 stream's fix (a lower version) says nothing.
        (
            "8.8",
            "ruby-libs",
            "3.1.2-141.module+el8.7.0+17000+aaaaaaaa",
            "ruby",
            Some("ruby:3.1"),
            Some((
                "CVE-2023-28755",
                Some("3.1.4-141.module+el8.8.0+18760+5e4a45b8"),
                S::Fixed,
            )),
        ),
        // A stream without data: nothing, and no diagnostic.
        (
            "8.8",
            "ruby-libs",
            "3.3.0-1.module+el8.10.0+1+bbbbbbbb",
            "ruby",
            Some("ruby:3.3"),
            None,
        ),
        // nodejs 18 stream, epoch from the binary.
        (
            "9.3",
            "nodejs",
            "1:18.18.2-1.module+el9.3.0+20000+cccccccc",
            "nodejs",
            Some("nodejs:18"),
            Some((
                "CVE-2099-0018",
                Some("1:18.19.0-1.module+el9.3.0+21036+4ad6bea4"),
                S::Fixed,
            )),
        ),
        (
            "9.3",
            "nodejs",
            "1:18.19.0-1.module+el9.3.0+21036+4ad6bea4",
            "nodejs",
            Some("nodejs:18"),
            None,
        ),
        // Mainline nodejs 16 takes mainline's fix, not the stream's.
        (
            "9.3",
            "nodejs",
            "1:16.20.2-1.el9",
            "nodejs",
            None,
            Some(("CVE-2099-0018", Some("1:16.20.9-1.el9_3"), S::Fixed)),
        ),
        // A modular build without its label keeps the diagnostic.
        (
            "9.3",
            "nodejs",
            "1:18.18.2-1.module+el9.3.0+20000+cccccccc",
            "nodejs",
            None,
            None,
        ),
    ];
    let index = AdvisoryIndex::new(data(), Vec::<CveEnrichment>::new());
    for (version_id, binary, installed, source, module, expected) in table {
        let mut package = Package::new(PackageKind::Rpm, binary, installed);
        let source_version = installed.split_once(':').map_or(installed, |(_, v)| v);
        package.source = Some(SourcePackage {
            name: source.to_owned(),
            version: Some(source_version.to_owned()),
        });
        package.module = module.map(str::to_owned);
        let inventory = ImageInventory {
            os: Some(OsInfo {
                family: OsFamily::RedHat,
                id: "rhel".to_owned(),
                version_id: Some(version_id.to_owned()),
                codename: None,
                pretty_name: None,
                path: "etc/os-release".to_owned(),
            }),
            packages: vec![package],
            diagnostics: Vec::new(),
        };
        let result = match_image(&inventory, &index);
        let got: Vec<_> = result
            .findings
            .iter()
            .map(|f| (f.id.as_str(), f.fixed_version.as_deref(), f.state.clone()))
            .collect();
        let want: Vec<_> = expected.clone().into_iter().collect();
        assert_eq!(got, want, "{version_id} {binary} {installed} {module:?}");
        for finding in &result.findings {
            let stream = format!("Red Hat:{}", &version_id[..1]);
            let stream = match module {
                Some(module) => format!("{stream}/{module}"),
                None => stream,
            };
            assert!(
                finding.evidence.iter().all(|e| e.ecosystem == stream),
                "{binary} {installed}: {:?}",
                finding.evidence
            );
        }
        let unlabelled = module.is_none() && installed.contains(".module+");
        assert_eq!(
            result
                .diagnostics
                .iter()
                .map(|d| d.code.as_str())
                .collect::<Vec<_>>(),
            if unlabelled {
                vec!["matching.rpm-module-stream-unknown"]
            } else {
                vec![]
            },
            "{binary} {installed}"
        );
        let keys = lookup_keys(&inventory);
        let expected_keys: BTreeSet<(String, String)> = if unlabelled {
            BTreeSet::new()
        } else {
            let key = match module {
                Some(module) => format!("red hat:{}/{module}", &version_id[..1]),
                None => format!("red hat:{}", &version_id[..1]),
            };
            [(key, source.to_owned())].into_iter().collect()
        };
        assert_eq!(keys, expected_keys, "{binary} {installed}");
    }
}
