//! Imports all of `shared/vulndata` and checks per-feed record counts, then
//! that the per-image (selective) index gives byte-identical findings to the
//! full one for realistic inventories. Skipped when the data is absent.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};

use model::{ImageInventory, OsFamily, OsInfo, Package, PackageKind, SourcePackage};
use vulndb::VulnDb;

fn vulndata() -> Option<PathBuf> {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vulndata"
    ));
    if root.is_dir() {
        std::fs::canonicalize(root).ok()
    } else {
        eprintln!("skipped: {} not found", root.display());
        None
    }
}

fn os(family: OsFamily, id: &str, version: &str) -> Option<OsInfo> {
    Some(OsInfo {
        family,
        id: id.to_owned(),
        version_id: Some(version.to_owned()),
        codename: None,
        pretty_name: None,
        path: "etc/os-release".to_owned(),
    })
}

fn packages(kind: PackageKind, list: &[(&str, &str)]) -> Vec<Package> {
    list.iter()
        .map(|&(name, version)| Package::new(kind, name, version))
        .collect()
}

fn deb(name: &str, source: &str, version: &str) -> Package {
    let mut package = Package::new(PackageKind::Deb, name, version);
    package.source = Some(SourcePackage {
        name: source.to_owned(),
        version: Some(version.to_owned()),
    });
    package
}

fn inventories() -> Vec<(&'static str, ImageInventory)> {
    let image = |os, packages| ImageInventory {
        os,
        packages,
        diagnostics: Vec::new(),
    };
    vec![
        (
            "debian 10",
            image(
                os(OsFamily::Debian, "debian", "10"),
                vec![
                    deb("libssl1.1", "openssl", "1.1.1d-0+deb10u1"),
                    deb("curl", "curl", "7.64.0-4"),
                    deb("libc6", "glibc", "2.28-10"),
                    deb("sudo", "sudo", "1.8.27-1"),
                ],
            ),
        ),
        (
            "alpine 3.11",
            image(
                os(OsFamily::Alpine, "alpine", "3.11.3"),
                packages(
                    PackageKind::Apk,
                    &[
                        ("openssl", "1.1.1d-r2"),
                        ("musl", "1.1.24-r0"),
                        ("busybox", "1.31.1-r8"),
                    ],
                ),
            ),
        ),
        (
            "almalinux 8",
            image(
                os(OsFamily::AlmaLinux, "almalinux", "8.4"),
                packages(
                    PackageKind::Rpm,
                    &[
                        ("openssl-libs", "1:1.1.1g-15.el8_3"),
                        ("curl", "7.61.1-18.el8"),
                        ("sudo", "1.8.29-7.el8"),
                    ],
                ),
            ),
        ),
        (
            "languages",
            image(
                None,
                [
                    packages(
                        PackageKind::Python,
                        &[("Django", "2.2"), ("PyYAML", "5.1"), ("requests", "2.19.0")],
                    ),
                    packages(
                        PackageKind::GoModule,
                        &[("stdlib", "1.19.8"), ("golang.org/x/net", "v0.0.1")],
                    ),
                    packages(
                        PackageKind::Cargo,
                        &[("smallvec", "1.6.0"), ("tokio", "1.0.0")],
                    ),
                    packages(
                        PackageKind::Gem,
                        &[("rack", "2.0.0"), ("nokogiri", "1.10.0")],
                    ),
                ]
                .concat(),
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_all_of_vulndata_then_match_selectively() {
    let Some(root) = vulndata() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::open(dir.path()).await.unwrap();
    let summary = vulndb::import_paths(&db, std::slice::from_ref(&root), &mut |_| {})
        .await
        .unwrap();
    let root_text = root.display().to_string();
    let mut counts: Vec<(String, u64, u64, u64)> = db
        .status()
        .await
        .unwrap()
        .feeds
        .into_iter()
        .map(|f| {
            (
                f.name.replace(&root_text, ""),
                f.advisories,
                f.enrichments,
                f.skipped,
            )
        })
        .collect();
    counts.sort();
    let expected: Vec<(String, u64, u64, u64)> = [
        ("alpine-secdb:/alpine-secdb/v3.10", 1802, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.11", 1952, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.3", 458, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.4", 680, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.5", 899, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.6", 1063, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.7", 1415, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.8", 1551, 0, 0),
        ("alpine-secdb:/alpine-secdb/v3.9", 1634, 0, 0),
        ("debian-advisory-list:/debian-tracker", 8940, 0, 0),
        ("kev:/kev/known_exploited_vulnerabilities.json", 0, 1404, 0),
        ("osv:/osv-yaml", 2661, 0, 0),
        ("osv:/osv/AlmaLinux/almalinux10", 660, 0, 0),
        ("osv:/osv/AlmaLinux/almalinux8", 3237, 0, 0),
        ("osv:/osv/AlmaLinux/almalinux9", 1783, 0, 0),
        ("osv:/osv/Go", 4291, 0, 0),
        ("osv:/osv/crates.io", 1206, 0, 0),
        ("rubysec:/rubysec", 1234, 0, 0),
    ]
    .into_iter()
    .map(|(n, a, e, s)| (n.to_owned(), a, e, s))
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(summary.database_version, 1);
    let skipped: Vec<String> = summary
        .skipped_paths
        .iter()
        .map(|s| s.path.display().to_string().replace(&root_text, ""))
        .collect();
    assert!(
        skipped.contains(&"/version-orderings".to_owned()),
        "{skipped:?}"
    );
    assert!(
        skipped.contains(&"/samples/nvd/test-fixtures".to_owned()),
        "{skipped:?}"
    );

    let full = db.load_index().await.unwrap();
    assert!(full.diagnostics.is_empty());
    assert_eq!(full.index.len() + full.index.withdrawn(), 35466);
    for (label, inventory) in inventories() {
        let selective = db.load_index_for(&inventory).await.unwrap();
        assert!(selective.index.len() < full.index.len() / 10, "{label}");
        let a = matching::match_image(&inventory, &full.index);
        let b = matching::match_image(&inventory, &selective.index);
        assert!(!a.findings.is_empty(), "{label}: no findings at all");
        assert_eq!(
            serde_json::to_string(&a.findings).unwrap(),
            serde_json::to_string(&b.findings).unwrap(),
            "{label}"
        );
        assert_eq!(
            serde_json::to_string(&a.diagnostics).unwrap(),
            serde_json::to_string(&b.diagnostics).unwrap(),
            "{label}"
        );
    }
}
