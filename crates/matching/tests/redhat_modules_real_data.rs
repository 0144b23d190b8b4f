//! Modular RHEL 8 packages against Red Hat's real CSAF samples
//! (`shared/vulndata/samples/rhel`): RHSA-2023:3821 fixes the ruby:2.7
//! stream at `2.7.8-139.module+el8.8.0+18745+f1bef313`, RHSA-2023:7025 the
//! ruby:2.5 stream at `2.5.9-111.module+el8.9.0+19193+435404ae`, for the
//! same CVEs. Each stream's build must meet its own stream's fix only: a
//! 2.7 build is above the 2.5 fix, and without streams that fix would
//! pass it as fixed. RHSA-2024:1431 does the same for ruby:3.1. Skipped, with a message, where the data is absent.

use std::path::Path;

use advisory::{ImportReport, import_redhat_csaf_dir};
use matching::{AdvisoryIndex, lookup_keys, match_image};
use model::{
    CveEnrichment, FixState, ImageInventory, OsFamily, OsInfo, Package, PackageKind, SourcePackage,
};

#[allow(clippy::print_stderr)] // the skip must be visible in test output
fn index() -> Option<AdvisoryIndex> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vulndata/samples/rhel/test-fixtures/csaf");
    if !root.exists() {
        eprintln!("skipping: {} is absent", root.display());
        return None;
    }
    let mut report = ImportReport::default();
    let mut advisories = Vec::new();
    import_redhat_csaf_dir(&root, &mut report, &mut |advisory| {
        advisories.push(advisory)
    })
    .expect("import runs");
    Some(AdvisoryIndex::new(advisories, Vec::<CveEnrichment>::new()))
}

fn rhel(version_id: &str, package: Package) -> ImageInventory {
    ImageInventory {
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
    }
}

/// CVE-2023-28755's fixed version and the errata in the evidence.
type Expected<'a> = Option<(&'a str, &'a [&'a str])>;

#[test]
fn ruby_streams_meet_their_own_errata() {
    let Some(index) = index() else { return };
    // (installed ruby-libs build = source build, module, expected
    // (CVE-2023-28755 fixed version, errata in the evidence)).
    let table: [(&str, Option<&str>, Expected<'_>); 6] = [
        (
            "2.7.6-138.module+el8.7.0+15051+6a7b8b1c",
            Some("ruby:2.7"),
            Some((
                "2.7.8-139.module+el8.8.0+18745+f1bef313",
                &["RHSA-2023:3821"],
            )),
        ),
        (
            "2.7.8-139.module+el8.8.0+18745+f1bef313",
            Some("ruby:2.7"),
            None,
        ),
        (
            "2.5.9-110.module+el8.6.0+15956+aa803fc1",
            Some("ruby:2.5"),
            Some((
                "2.5.9-111.module+el8.9.0+19193+435404ae",
                &["RHSA-2023:7025"],
            )),
        ),
        // RHSA-2024:1431 (ruby:3.1) fixes it again for that stream.
        (
            "3.1.2-141.module+el8.7.0+1+aaaaaaaa",
            Some("ruby:3.1"),
            Some((
                "3.1.4-142.module+el8.9.0+21471+7d1e4a35",
                &["RHSA-2024:1431"],
            )),
        ),
        // A stream without errata in the samples.
        ("3.3.0-1.module+el8.10.0+1+bbbbbbbb", Some("ruby:3.3"), None),
        // Without its stream: diagnosed, not compared.
        ("2.7.6-138.module+el8.7.0+15051+6a7b8b1c", None, None),
    ];
    for (installed, module, expected) in table {
        let mut package = Package::new(PackageKind::Rpm, "ruby-libs", installed);
        package.source = Some(SourcePackage {
            name: "ruby".to_owned(),
            version: Some(installed.to_owned()),
        });
        package.module = module.map(str::to_owned);
        let inventory = rhel("8.8", package);
        let result = match_image(&inventory, &index);
        let finding = result.findings.iter().find(|f| f.id == "CVE-2023-28755");
        let got = finding.map(|f| {
            let errata: Vec<&str> = f.evidence.iter().map(|e| e.advisory_id.as_str()).collect();
            (f.fixed_version.clone(), f.state.clone(), errata)
        });
        let want = expected
            .map(|(fixed, errata)| (Some(fixed.to_owned()), FixState::Fixed, errata.to_vec()));
        assert_eq!(got, want, "{installed} {module:?}");
        let diagnosed = result
            .diagnostics
            .iter()
            .any(|d| d.code == "matching.rpm-module-stream-unknown");
        assert_eq!(diagnosed, module.is_none(), "{installed}");
        // The partial index a database loads holds exactly this stream.
        let keys: Vec<String> = lookup_keys(&inventory).into_iter().map(|k| k.0).collect();
        let want_keys: Vec<String> = module
            .map(|m| format!("red hat:8/{m}"))
            .into_iter()
            .collect();
        assert_eq!(keys, want_keys, "{installed}");
    }
}
