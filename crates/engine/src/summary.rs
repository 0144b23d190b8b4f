//! Per-package summaries of an image's findings: how many vulnerabilities
//! each package has and the one version that fixes them all.

use std::collections::BTreeMap;

use model::{Finding, ImageInventory, PackageKind};
use store::PackageSummary;

/// A package's identity within one image: the same name and version in two
/// layers or two paths are two packages (two rows of the report).
type PackageKey = (PackageKind, String, String, Option<u32>, String);

/// One row per package of `inventory` (clean packages with 0
/// vulnerabilities), in inventory order, plus any package only the findings
/// name. The fix-all version is [`matching::fix_all_version`] of the
/// package's findings' fixed versions, so it follows the package's own
/// version order; a fixed version that does not parse in it (which matching
/// never produces) leaves the package without one and is logged.
pub fn package_summaries(inventory: &ImageInventory, findings: &[Finding]) -> Vec<PackageSummary> {
    let mut order: Vec<PackageKey> = Vec::with_capacity(inventory.packages.len());
    let mut rows: BTreeMap<PackageKey, (u32, Vec<&str>)> = BTreeMap::new();
    for package in &inventory.packages {
        let key = (
            package.kind,
            package.name.clone(),
            package.version.clone(),
            package.evidence.layer_index,
            package.evidence.path.clone(),
        );
        if !rows.contains_key(&key) {
            rows.insert(key.clone(), (0, Vec::new()));
            order.push(key);
        }
    }
    for finding in findings {
        let package = &finding.package;
        let key = (
            package.kind,
            package.name.clone(),
            package.installed_version.clone(),
            package.layer_index,
            package.path.clone(),
        );
        let row = rows.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (0, Vec::new())
        });
        row.0 += 1;
        if let Some(fixed) = &finding.fixed_version {
            row.1.push(fixed);
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let (vulnerabilities, fixed) = rows.remove(&key)?;
            let (kind, name, version, layer_index, path) = key;
            let fix_all_version =
                match matching::fix_all_version(kind, &name, fixed.iter().copied()) {
                    Ok(version) => version,
                    Err(error) => {
                        tracing::warn!(package = %name, %error, "no fix-all version");
                        None
                    }
                };
            Some(PackageSummary {
                kind,
                name,
                version,
                layer_index,
                path,
                vulnerabilities,
                fix_all_version,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{FindingPackage, FixState, Package, Severity};

    fn package(kind: PackageKind, name: &str, version: &str, layer: u32) -> Package {
        let mut package = Package::new(kind, name, version);
        package.evidence.layer_index = Some(layer);
        package.evidence.path = "var/lib/dpkg/status".to_owned();
        package
    }

    fn finding(package: &Package, id: &str, fixed: Option<&str>) -> Finding {
        Finding {
            id: id.to_owned(),
            aliases: Vec::new(),
            package: FindingPackage {
                kind: package.kind,
                name: package.name.clone(),
                installed_version: package.version.clone(),
                matched_name: package.name.clone(),
                layer_index: package.evidence.layer_index,
                layer_diff_id: None,
                path: package.evidence.path.clone(),
            },
            fixed_versions: fixed.iter().map(|v| v.to_string()).collect(),
            fixed_version: fixed.map(str::to_owned),
            state: if fixed.is_some() {
                FixState::Fixed
            } else {
                FixState::NotFixed
            },
            severity: Severity::High,
            cvss: None,
            cvss_v3: None,
            cvss_v4: None,
            epss: None,
            kev_date_added: None,
            title: None,
            description: None,
            references: Vec::new(),
            evidence: Vec::new(),
            fingerprint: format!("{}-{id}", package.name),
        }
    }

    #[test]
    fn counts_and_fix_all_versions_follow_the_package_scheme() {
        let openssl = package(PackageKind::Deb, "openssl", "3.0.9-1", 0);
        let zlib = package(PackageKind::Deb, "zlib1g", "1:1.2.13.dfsg-1", 0);
        let bash = package(PackageKind::Deb, "bash", "5.2.15-2", 1);
        let inventory = ImageInventory {
            os: None,
            packages: vec![openssl.clone(), zlib.clone(), bash.clone()],
            diagnostics: Vec::new(),
        };
        let findings = vec![
            // String order would pick 3.0.9-…; dpkg order picks 3.0.11-….
            finding(&openssl, "CVE-1", Some("3.0.9-2")),
            finding(&openssl, "CVE-2", Some("3.0.11-1~deb12u2")),
            finding(&openssl, "CVE-3", None),
            finding(&bash, "CVE-4", None),
        ];
        let summaries = package_summaries(&inventory, &findings);
        let rows: Vec<(&str, u32, Option<&str>)> = summaries
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.vulnerabilities,
                    s.fix_all_version.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("openssl", 3, Some("3.0.11-1~deb12u2")),
                ("zlib1g", 0, None),
                ("bash", 1, None),
            ]
        );
        assert_eq!(summaries[2].layer_index, Some(1));
    }
}
