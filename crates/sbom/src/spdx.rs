//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>).
//!
//! The document describes the image (a package with purpose `CONTAINER`),
//! which contains the OS and every package found in it.

use std::collections::{BTreeMap, HashMap, HashSet};

use model::{ImageInventory, ImageMetadata, OsInfo, Package, PackageUrl};
use serde::Serialize;

use crate::licenses::{License, spdx_idstring};
use crate::{SbomError, ToolInfo, image_uuid, ordered_packages};

const NOASSERTION: &str = "NOASSERTION";
const NAMESPACE_BASE: &str = "https://github.com/shipshape-security/shipshape/spdx";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub spdx_version: &'static str,
    pub data_license: &'static str,
    #[serde(rename = "SPDXID")]
    pub spdx_id: &'static str,
    pub name: String,
    pub document_namespace: String,
    pub creation_info: CreationInfo,
    pub document_describes: Vec<String>,
    pub packages: Vec<SpdxPackage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub has_extracted_licensing_infos: Vec<ExtractedLicense>,
    pub relationships: Vec<Relationship>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
    pub license_list_version: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    pub download_location: &'static str,
    pub files_analyzed: bool,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: &'static str,
    pub reference_type: &'static str,
    pub reference_locator: String,
}

/// A license that is not on the SPDX list, defined in the document so that
/// `LicenseRef-…` expressions resolve.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    pub license_id: String,
    pub name: String,
    pub extracted_text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: &'static str,
    pub related_spdx_element: String,
}

/// Builds the SPDX document for an image.
pub fn document(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    tool: &ToolInfo,
    timestamp: &str,
) -> Document {
    let mut ids = IdAllocator::default();
    let mut extracted = ExtractedLicenses::default();

    let image_id = ids.allocate(&format!("Image-{}", meta.repository));
    let image_purl = PackageUrl::for_image(
        &meta.repository,
        &meta.manifest_digest,
        Some(&meta.platform.architecture),
    );
    let mut packages = vec![SpdxPackage {
        spdx_id: image_id.clone(),
        name: meta.repository.clone(),
        version_info: Some(meta.manifest_digest.to_string()),
        download_location: NOASSERTION,
        files_analyzed: false,
        license_concluded: NOASSERTION.to_owned(),
        license_declared: NOASSERTION.to_owned(),
        copyright_text: NOASSERTION,
        source_info: None,
        primary_package_purpose: Some("CONTAINER"),
        comment: Some(format!(
            "reference {}; platform {}; config {}",
            meta.reference, meta.platform, meta.config_digest
        )),
        external_refs: vec![purl_ref(&image_purl)],
    }];
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".to_owned(),
        relationship_type: "DESCRIBES",
        related_spdx_element: image_id.clone(),
    }];
    let mut contains = |packages: &mut Vec<SpdxPackage>, package: SpdxPackage| {
        relationships.push(Relationship {
            spdx_element_id: image_id.clone(),
            relationship_type: "CONTAINS",
            related_spdx_element: package.spdx_id.clone(),
        });
        packages.push(package);
    };

    if let Some(os) = &inventory.os {
        let package = os_package(os, &mut ids);
        contains(&mut packages, package);
    }
    for pkg in ordered_packages(inventory) {
        let package = package(pkg, inventory.os.as_ref(), &mut ids, &mut extracted);
        contains(&mut packages, package);
    }

    Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: meta.reference.clone(),
        document_namespace: format!(
            "{NAMESPACE_BASE}/{}-{}",
            spdx_idstring(&meta.repository),
            image_uuid(meta)
        ),
        creation_info: CreationInfo {
            created: timestamp.to_owned(),
            creators: vec![format!("Tool: {}-{}", tool.name, tool.version)],
            license_list_version: license_list_version(),
        },
        document_describes: vec![image_id],
        packages,
        has_extracted_licensing_infos: extracted.into_infos(),
        relationships,
    }
}

/// The SPDX document as pretty-printed JSON.
pub fn to_json(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    tool: &ToolInfo,
    timestamp: &str,
) -> Result<String, SbomError> {
    Ok(serde_json::to_string_pretty(&document(
        meta, inventory, tool, timestamp,
    ))?)
}

/// The license list our identifiers are checked against, as `major.minor`
/// (the schema's pattern).
fn license_list_version() -> String {
    spdx::identifiers::VERSION
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
}

fn purl_ref(purl: &PackageUrl) -> ExternalRef {
    ExternalRef {
        reference_category: "PACKAGE-MANAGER",
        reference_type: "purl",
        reference_locator: purl.to_string(),
    }
}

fn os_package(os: &OsInfo, ids: &mut IdAllocator) -> SpdxPackage {
    SpdxPackage {
        spdx_id: ids.allocate(&format!("OperatingSystem-{}", os.id)),
        name: os.id.clone(),
        version_info: os.version_id.clone(),
        download_location: NOASSERTION,
        files_analyzed: false,
        license_concluded: NOASSERTION.to_owned(),
        license_declared: NOASSERTION.to_owned(),
        copyright_text: NOASSERTION,
        source_info: Some(format!("release file {}", os.path)),
        primary_package_purpose: Some("OPERATING_SYSTEM"),
        comment: os.pretty_name.clone(),
        external_refs: Vec::new(),
    }
}

fn package(
    pkg: &Package,
    os: Option<&OsInfo>,
    ids: &mut IdAllocator,
    extracted: &mut ExtractedLicenses,
) -> SpdxPackage {
    let spdx_id = ids.allocate(&format!(
        "Package-{}-{}-{}",
        pkg.kind, pkg.name, pkg.version
    ));

    let mut source_info = match (pkg.evidence.layer_index, &pkg.evidence.layer_diff_id) {
        (Some(index), Some(diff_id)) => format!(
            "found in layer {index} ({diff_id}) at {}",
            pkg.evidence.path
        ),
        (Some(index), None) => format!("found in layer {index} at {}", pkg.evidence.path),
        (None, Some(diff_id)) => format!("found in layer {diff_id} at {}", pkg.evidence.path),
        (None, None) => format!("found at {}", pkg.evidence.path),
    };
    if let Some(analyzer) = &pkg.evidence.analyzer {
        source_info.push_str(&format!(" by {analyzer}"));
    }
    if let Some(source) = &pkg.source {
        source_info.push_str(&format!("; built from source package {}", source.name));
        if let Some(version) = &source.version {
            source_info.push_str(&format!(" {version}"));
        }
    }

    SpdxPackage {
        spdx_id,
        name: pkg.name.clone(),
        version_info: (!pkg.version.is_empty()).then(|| pkg.version.clone()),
        download_location: NOASSERTION,
        files_analyzed: false,
        // We report what a package declares; concluding is a human's job.
        license_concluded: NOASSERTION.to_owned(),
        license_declared: declared_license(&pkg.licenses, extracted),
        copyright_text: NOASSERTION,
        source_info: Some(source_info),
        primary_package_purpose: Some(if pkg.is_application {
            "APPLICATION"
        } else {
            "LIBRARY"
        }),
        comment: None,
        external_refs: PackageUrl::for_package(pkg, os)
            .map(|p| purl_ref(&p))
            .into_iter()
            .collect(),
    }
}

/// The conjunction of everything a package declares: a package whose files
/// come under several licenses is under all of them.
fn declared_license(declared: &[String], extracted: &mut ExtractedLicenses) -> String {
    let mut terms: Vec<String> = Vec::new();
    for raw in declared {
        let term = match License::parse(raw) {
            None => continue,
            Some(License::Id(id)) => id,
            Some(License::Expression(e)) => format!("({e})"),
            Some(License::Other(text)) => extracted.reference(&text),
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    match terms.as_slice() {
        [] => NOASSERTION.to_owned(),
        [single] => single
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(single)
            .to_owned(),
        _ => terms.join(" AND "),
    }
}

#[derive(Default)]
struct ExtractedLicenses {
    /// Declared text → `LicenseRef-…`, sorted by text for stable output.
    by_text: BTreeMap<String, String>,
    ids: IdAllocator,
}

impl ExtractedLicenses {
    fn reference(&mut self, text: &str) -> String {
        if let Some(id) = self.by_text.get(text) {
            return id.clone();
        }
        let id = self.ids.allocate_with_prefix("LicenseRef-", text);
        self.by_text.insert(text.to_owned(), id.clone());
        id
    }

    fn into_infos(self) -> Vec<ExtractedLicense> {
        let mut infos: Vec<ExtractedLicense> = self
            .by_text
            .into_iter()
            .map(|(text, id)| ExtractedLicense {
                license_id: id,
                name: text.clone(),
                extracted_text: text,
            })
            .collect();
        infos.sort_by(|a, b| a.license_id.cmp(&b.license_id));
        infos
    }
}

/// Hands out SPDX ids (`<prefix><idstring>`) made from names, unique within
/// the document: a collision after sanitising gets a numeric suffix.
/// Allocation follows the (sorted) package order, so ids are stable.
#[derive(Default)]
struct IdAllocator {
    used: HashSet<String>,
    /// Next suffix to try per base id: keeps thousands of same-named
    /// packages (hostile or not) linear rather than quadratic.
    next_suffix: HashMap<String, u32>,
}

impl IdAllocator {
    fn allocate(&mut self, name: &str) -> String {
        self.allocate_with_prefix("SPDXRef-", name)
    }

    fn allocate_with_prefix(&mut self, prefix: &str, name: &str) -> String {
        let base = format!("{prefix}{}", spdx_idstring(name));
        let mut candidate = base.clone();
        let mut n = self.next_suffix.get(&base).copied().unwrap_or(1);
        while self.used.contains(&candidate) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
        self.next_suffix.insert(base, n);
        self.used.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_licenses() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "NOASSERTION"),
            (&["", " "], "NOASSERTION"),
            (&["MIT"], "MIT"),
            (&["MIT OR Apache-2.0"], "MIT OR Apache-2.0"),
            (&["MIT", "MIT"], "MIT"),
            (
                &["GPL-2.0-only", "MIT OR Apache-2.0"],
                "GPL-2.0-only AND (MIT OR Apache-2.0)",
            ),
            (&["MIT License"], "MIT"),
            (&["Apache 2.0"], "LicenseRef-Apache-2.0"),
            (&["BSD", "Custom"], "LicenseRef-BSD AND LicenseRef-Custom"),
        ];
        for (declared, expected) in cases {
            let mut extracted = ExtractedLicenses::default();
            let declared: Vec<String> = declared.iter().map(|s| s.to_string()).collect();
            let got = declared_license(&declared, &mut extracted);
            assert_eq!(got, *expected, "{declared:?}");
            assert!(
                got == NOASSERTION || spdx::Expression::parse(&got).is_ok(),
                "{got} must be a valid expression"
            );
        }
    }

    #[test]
    fn ids_are_unique_and_valid() {
        let mut ids = IdAllocator::default();
        let got: Vec<String> = ["a b", "a_b", "a-b", "", "x/y@1"]
            .iter()
            .map(|n| ids.allocate(n))
            .collect();
        assert_eq!(
            got,
            [
                "SPDXRef-a-b",
                "SPDXRef-a-b-2",
                "SPDXRef-a-b-3",
                "SPDXRef-unnamed",
                "SPDXRef-x-y-1"
            ]
        );
    }

    #[test]
    fn many_duplicates_stay_unique() {
        let mut ids = IdAllocator::default();
        let got: HashSet<String> = (0..5000).map(|_| ids.allocate("same")).collect();
        assert_eq!(got.len(), 5000);
        assert!(got.contains("SPDXRef-same") && got.contains("SPDXRef-same-5000"));
    }

    #[test]
    fn same_text_same_license_ref() {
        let mut extracted = ExtractedLicenses::default();
        let a = extracted.reference("Custom");
        let b = extracted.reference("Custom");
        let c = extracted.reference("custom!");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(extracted.into_infos().len(), 2);
    }
}
