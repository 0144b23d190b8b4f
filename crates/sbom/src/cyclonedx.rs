//! CycloneDX 1.5 JSON (<https://cyclonedx.org/docs/1.5/json/>).
//!
//! The image is the BOM's subject (`metadata.component`, type `container`)
//! and carries its layers and history as properties; every package is a
//! component whose properties say which layer introduced it. Findings, when
//! given, are the `vulnerabilities`, each pointing at its component.

use std::collections::{BTreeMap, HashMap, HashSet};

use model::{
    AdvisorySource, CvssScore, Finding, FixState, ImageInventory, ImageMetadata, OsInfo, Package,
    PackageKind, PackageUrl, Severity,
};
use serde::Serialize;

use crate::findings::{PackageIndex, cvss_severity_word, id_source, is_plain_url};
use crate::licenses::License;
use crate::{
    SbomError, ToolInfo, Vulnerabilities, history_for_layer, image_uuid, ordered_packages,
};

const SCHEMA: &str = "http://cyclonedx.org/schema/bom-1.5.schema.json";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bom {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub bom_format: &'static str,
    pub spec_version: &'static str,
    pub serial_number: String,
    pub version: u32,
    pub metadata: Metadata,
    pub components: Vec<Component>,
    pub dependencies: Vec<Dependency>,
    /// Absent (not empty) when the image was not matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<Vec<Vulnerability>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub timestamp: String,
    pub tools: Tools,
    pub component: Component,
    /// The advisory database matched against.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tools {
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentType {
    Application,
    Container,
    Library,
    OperatingSystem,
}

/// One entry of a component's `licenses`: either named licenses, or a single
/// SPDX expression (the schema forbids mixing the two).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum LicenseChoice {
    License { license: LicenseRef },
    Expression { expression: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct LicenseRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Property {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    #[serde(rename = "ref")]
    pub reference: String,
    pub depends_on: Vec<String>,
}

/// One finding (or several that differ only in a package's architecture).
#[derive(Debug, Clone, Serialize)]
pub struct Vulnerability {
    #[serde(rename = "bom-ref")]
    pub bom_ref: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<VulnerabilitySource>,
    /// The vulnerability's other IDs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<VulnerabilityReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ratings: Vec<Rating>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<AdvisoryLink>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affects: Vec<Affects>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VulnerabilitySource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VulnerabilityReference {
    pub id: String,
    pub source: VulnerabilitySource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rating {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<VulnerabilitySource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub severity: &'static str,
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdvisoryLink {
    pub url: String,
}

/// The impact analysis: only said where the distro has decided not to fix.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub response: Vec<&'static str>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Affects {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<AffectedVersion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AffectedVersion {
    pub version: String,
    pub status: &'static str,
}

/// Builds the CycloneDX document for an image, without findings.
pub fn bom(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    tool: &ToolInfo,
    timestamp: &str,
) -> Bom {
    bom_with(meta, inventory, None, tool, timestamp)
}

/// Builds the CycloneDX document for an image and, when given, its findings
/// as the `vulnerabilities` section.
pub fn bom_with(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    vulnerabilities: Option<&Vulnerabilities<'_>>,
    tool: &ToolInfo,
    timestamp: &str,
) -> Bom {
    let image = image_component(meta, inventory.os.as_ref());
    let image_ref = image.bom_ref.clone().unwrap_or_default();

    let mut components = Vec::new();
    if let Some(os) = &inventory.os {
        components.push(os_component(os));
    }
    let packages = ordered_packages(inventory);
    let refs = package_refs(&packages, inventory.os.as_ref());
    for (pkg, bom_ref) in packages.iter().zip(&refs) {
        components.push(package_component(
            pkg,
            inventory.os.as_ref(),
            bom_ref.clone(),
        ));
    }
    let package_index = PackageIndex::new(packages);

    let mut depends_on: Vec<String> = components
        .iter()
        .filter_map(|c| c.bom_ref.clone())
        .collect();
    depends_on.sort();
    let dependencies = vec![Dependency {
        reference: image_ref,
        depends_on,
    }];

    Bom {
        schema: SCHEMA,
        bom_format: "CycloneDX",
        spec_version: "1.5",
        serial_number: format!("urn:uuid:{}", image_uuid(meta)),
        version: 1,
        metadata: Metadata {
            timestamp: timestamp.to_owned(),
            tools: Tools {
                components: vec![Component {
                    bom_ref: None,
                    component_type: ComponentType::Application,
                    group: None,
                    name: tool.name.clone(),
                    version: Some(tool.version.clone()),
                    description: None,
                    licenses: Vec::new(),
                    purl: None,
                    properties: Vec::new(),
                }],
            },
            component: image,
            properties: vulnerabilities
                .and_then(|v| v.database)
                .map(|d| {
                    vec![
                        property("shipshape:database:version", &d.version),
                        property("shipshape:database:updated_at", &d.updated_at),
                    ]
                })
                .unwrap_or_default(),
        },
        components,
        dependencies,
        vulnerabilities: vulnerabilities
            .map(|v| vulnerability_entries(v.findings, &package_index, &refs)),
    }
}

/// The CycloneDX document as pretty-printed JSON, without findings.
pub fn to_json(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    tool: &ToolInfo,
    timestamp: &str,
) -> Result<String, SbomError> {
    to_json_with(meta, inventory, None, tool, timestamp)
}

/// The CycloneDX document as pretty-printed JSON, with findings when given.
pub fn to_json_with(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    vulnerabilities: Option<&Vulnerabilities<'_>>,
    tool: &ToolInfo,
    timestamp: &str,
) -> Result<String, SbomError> {
    Ok(serde_json::to_string_pretty(&bom_with(
        meta,
        inventory,
        vulnerabilities,
        tool,
        timestamp,
    ))?)
}

/// One entry per finding, in the findings' order, except that findings of
/// one vulnerability whose package key names the same components (packages
/// differing only in architecture) are one entry affecting all of them.
fn vulnerability_entries(
    findings: &[Finding],
    packages: &PackageIndex<'_>,
    refs: &[String],
) -> Vec<Vulnerability> {
    // The smallest fingerprint of each merged group names it, whichever
    // finding comes first.
    let mut group_names: HashMap<(&str, &[usize]), &str> = HashMap::new();
    for finding in findings {
        let positions = packages.positions(finding);
        if positions.is_empty() {
            continue;
        }
        let name = group_names
            .entry((finding.id.as_str(), positions))
            .or_insert(finding.fingerprint.as_str());
        if finding.fingerprint.as_str() < *name {
            *name = finding.fingerprint.as_str();
        }
    }
    let mut done: HashSet<(&str, &[usize])> = HashSet::new();
    let mut used_refs: HashSet<String> = HashSet::new();
    let mut entries = Vec::new();
    for finding in findings {
        let positions = packages.positions(finding);
        let fingerprint = if positions.is_empty() {
            finding.fingerprint.as_str()
        } else {
            if !done.insert((finding.id.as_str(), positions)) {
                continue;
            }
            group_names
                .get(&(finding.id.as_str(), positions))
                .copied()
                .unwrap_or(finding.fingerprint.as_str())
        };
        // Fingerprints are unique per package and vulnerability; a caller
        // passing the same finding twice still gets unique references.
        let base = format!("vulnerability:{fingerprint}");
        let mut bom_ref = base.clone();
        let mut n = 1;
        while !used_refs.insert(bom_ref.clone()) {
            n += 1;
            bom_ref = format!("{base}|{n}");
        }
        let affected: Vec<&String> = positions.iter().filter_map(|&p| refs.get(p)).collect();
        entries.push(vulnerability_entry(finding, bom_ref, &affected));
    }
    entries
}

fn vulnerability_entry(finding: &Finding, bom_ref: String, affected: &[&String]) -> Vulnerability {
    let package = &finding.package;
    let installed = &package.installed_version;
    // The schema bounds a version's length; an odd one is left out rather than cut.
    let versions = if installed.is_empty() || installed.chars().count() > 1024 {
        Vec::new()
    } else {
        vec![AffectedVersion {
            version: installed.clone(),
            status: "affected",
        }]
    };
    let mut properties = vec![
        property("shipshape:fingerprint", &finding.fingerprint),
        property(
            "shipshape:fix:state",
            crate::findings::fix_state_name(&finding.state),
        ),
    ];
    if let Some(fixed) = &finding.fixed_version {
        properties.push(property("shipshape:fix:version", fixed));
    }
    if let Some((score, percentile)) = finding.epss {
        properties.push(property("shipshape:epss:score", score.to_string()));
        properties.push(property(
            "shipshape:epss:percentile",
            percentile.to_string(),
        ));
    }
    if let Some(date) = &finding.kev_date_added {
        properties.push(property("shipshape:kev:date_added", date));
    }
    for (i, evidence) in finding.evidence.iter().enumerate() {
        let key = |field: &str| format!("shipshape:evidence:{i}:{field}");
        properties.push(property(key("source"), evidence.source.as_str()));
        properties.push(property(key("advisory_id"), &evidence.advisory_id));
        properties.push(property(key("ecosystem"), &evidence.ecosystem));
        properties.push(property(key("matcher"), &evidence.matcher));
        properties.push(property(key("rule"), &evidence.rule));
    }
    let (description, detail) = match (&finding.title, &finding.description) {
        (Some(title), description) => (
            Some(title.to_string()),
            description.as_ref().map(ToString::to_string),
        ),
        (None, description) => (description.as_ref().map(ToString::to_string), None),
    };
    Vulnerability {
        bom_ref,
        id: finding.id.clone(),
        source: Some(source_of(finding, &finding.id)).filter(|s| s.name.is_some()),
        references: finding
            .aliases
            .iter()
            .map(|alias| VulnerabilityReference {
                id: alias.clone(),
                source: source_of(finding, alias),
            })
            .collect(),
        ratings: ratings(finding),
        description,
        detail,
        recommendation: finding
            .fixed_version
            .as_ref()
            .map(|fixed| format!("Upgrade {} to {fixed} or later.", package.name)),
        advisories: finding
            .references
            .iter()
            .filter(|url| is_plain_url(url))
            .map(|url| AdvisoryLink {
                url: url.to_string(),
            })
            .collect(),
        analysis: match &finding.state {
            FixState::WontFix(reason) => Some(Analysis {
                response: vec!["will_not_fix"],
                detail: format!("The distribution will not fix this ({reason})."),
            }),
            FixState::Fixed | FixState::NotFixed => None,
        },
        affects: affected
            .iter()
            .map(|reference| Affects {
                reference: (*reference).clone(),
                versions: versions.clone(),
            })
            .collect(),
        properties,
    }
}

/// Where `id` is published: the database its prefix names, else the
/// source of the advisory the finding took it from; empty when neither.
fn source_of(finding: &Finding, id: &str) -> VulnerabilitySource {
    if let Some(source) = id_source(id) {
        return VulnerabilitySource {
            name: Some(source.name.to_owned()),
            url: Some(source.url),
        };
    }
    let name = finding
        .evidence
        .iter()
        .find(|e| e.advisory_id == id)
        .map(|e| feed_name(&e.source).to_owned());
    VulnerabilitySource { name, url: None }
}

fn feed_name(source: &AdvisorySource) -> &'static str {
    match source {
        AdvisorySource::Osv => "OSV",
        AdvisorySource::DebianTracker => "Debian Security Tracker",
        AdvisorySource::DebianAdvisoryList => "Debian Security Advisories",
        AdvisorySource::AlpineSecdb => "Alpine secdb",
        AdvisorySource::RubySec => "RubySec",
        AdvisorySource::RedHatCsaf => "Red Hat Product Security",
    }
}

/// Every CVSS score the finding has (the one it is ordered by first), then
/// the vendor's severity when it is not the one the score gives.
fn ratings(finding: &Finding) -> Vec<Rating> {
    let mut ratings: Vec<Rating> = Vec::new();
    let mut seen: Vec<&CvssScore> = Vec::new();
    for score in [&finding.cvss, &finding.cvss_v3, &finding.cvss_v4]
        .into_iter()
        .flatten()
    {
        if seen.contains(&score) {
            continue;
        }
        seen.push(score);
        let finite = score.base_score.is_finite().then_some(score.base_score);
        ratings.push(Rating {
            source: None,
            score: finite,
            severity: finite.map_or("unknown", cvss_severity_word),
            method: match score.version.as_str() {
                "3.1" => "CVSSv31",
                "3.0" => "CVSSv3",
                "4.0" => "CVSSv4",
                "2.0" => "CVSSv2",
                _ => "other",
            },
            vector: score.vector.clone(),
        });
    }
    let cvss_severity = finding
        .cvss
        .as_ref()
        .map(|c| Severity::from_cvss_score(c.base_score));
    if finding.severity != Severity::Unknown && cvss_severity != Some(finding.severity) {
        let source = finding.evidence.first().map(|e| VulnerabilitySource {
            name: Some(match id_source(&e.advisory_id) {
                Some(known) if e.source == AdvisorySource::Osv => known.name.to_owned(),
                _ => feed_name(&e.source).to_owned(),
            }),
            url: None,
        });
        ratings.push(Rating {
            source,
            score: None,
            severity: match finding.severity {
                // CycloneDX has no "negligible": Debian's `unimportant` is informational.
                Severity::Negligible => "info",
                other => other.as_str(),
            },
            method: "other",
            vector: None,
        });
    }
    ratings
}

fn property(name: impl Into<String>, value: impl Into<String>) -> Property {
    Property {
        name: name.into(),
        value: value.into(),
    }
}

fn image_component(meta: &ImageMetadata, os: Option<&OsInfo>) -> Component {
    let purl = PackageUrl::for_image(
        &meta.repository,
        &meta.manifest_digest,
        Some(&meta.platform.architecture),
    )
    .to_string();

    let mut properties = vec![
        property("shipshape:image:reference", &meta.reference),
        property("shipshape:image:platform", meta.platform.to_string()),
        property(
            "shipshape:image:manifest_digest",
            meta.manifest_digest.to_string(),
        ),
        property(
            "shipshape:image:config_digest",
            meta.config_digest.to_string(),
        ),
    ];
    if let Some(tag) = &meta.tag {
        properties.push(property("shipshape:image:tag", tag));
    }
    if let Some(index) = &meta.index_digest {
        properties.push(property("shipshape:image:index_digest", index.to_string()));
    }
    if let Some(created) = &meta.config.created {
        properties.push(property("shipshape:image:created", created));
    }
    if let Some(os) = os {
        properties.push(property("shipshape:image:os", os_label(os)));
    }
    properties.push(property(
        "shipshape:image:compressed_size",
        meta.compressed_size().to_string(),
    ));
    for layer in &meta.layers {
        let key = |field: &str| format!("shipshape:layer:{}:{field}", layer.index);
        properties.push(property(key("diff_id"), layer.diff_id.to_string()));
        properties.push(property(key("blob_digest"), layer.blob_digest.to_string()));
        properties.push(property(
            key("compressed_size"),
            layer.compressed_size.to_string(),
        ));
        if let Some(size) = layer.uncompressed_size {
            properties.push(property(key("uncompressed_size"), size.to_string()));
        }
        if let Some(command) =
            history_for_layer(meta, layer.index).and_then(|h| h.created_by.as_ref())
        {
            properties.push(property(key("command"), command));
        }
    }
    // The full history, empty-layer steps (ENV, CMD, …) included, in order.
    for (i, entry) in meta.history.iter().enumerate() {
        let key = |field: &str| format!("shipshape:history:{i}:{field}");
        if let Some(created) = &entry.created {
            properties.push(property(key("created"), created));
        }
        if let Some(created_by) = &entry.created_by {
            properties.push(property(key("created_by"), created_by));
        }
        if let Some(comment) = &entry.comment {
            properties.push(property(key("comment"), comment));
        }
        if entry.empty_layer {
            properties.push(property(key("empty_layer"), "true"));
        }
        if let Some(index) = entry.layer_index {
            properties.push(property(key("layer_index"), index.to_string()));
        }
    }

    Component {
        bom_ref: Some(purl.clone()),
        component_type: ComponentType::Container,
        group: None,
        name: meta.repository.clone(),
        version: Some(meta.manifest_digest.to_string()),
        description: None,
        licenses: Vec::new(),
        purl: Some(purl),
        properties,
    }
}

fn os_label(os: &OsInfo) -> String {
    match &os.version_id {
        Some(v) => format!("{} {v}", os.id),
        None => os.id.clone(),
    }
}

fn os_component(os: &OsInfo) -> Component {
    let mut properties = vec![property("shipshape:os:release_file", &os.path)];
    if let Some(codename) = &os.codename {
        properties.push(property("shipshape:os:codename", codename));
    }
    Component {
        bom_ref: Some(format!("os:{}", os_label(os).replace(' ', "@"))),
        component_type: ComponentType::OperatingSystem,
        group: None,
        name: os.id.clone(),
        version: os.version_id.clone(),
        description: os.pretty_name.clone(),
        licenses: Vec::new(),
        purl: None,
        properties,
    }
}

/// Unique, stable `bom-ref`s: the purl where it is unique, else the purl
/// plus where the package was found (the same package can be installed at
/// several paths), else plus its position.
fn package_refs(packages: &[&Package], os: Option<&OsInfo>) -> Vec<String> {
    let base: Vec<String> = packages
        .iter()
        .map(|p| match PackageUrl::for_package(p, os) {
            Some(purl) => purl.to_string(),
            None => format!("{}:{}@{}", p.kind, p.name, p.version),
        })
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for b in &base {
        *counts.entry(b.as_str()).or_default() += 1;
    }
    let with_path: Vec<String> = base
        .iter()
        .zip(packages)
        .map(|(b, p)| {
            if counts.get(b.as_str()).copied().unwrap_or(0) > 1 {
                format!("{b}|{}", p.evidence.path)
            } else {
                b.clone()
            }
        })
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    with_path
        .iter()
        .map(|r| {
            let n = seen.entry(r.as_str()).or_default();
            *n += 1;
            if *n > 1 {
                format!("{r}|{n}")
            } else {
                r.clone()
            }
        })
        .collect()
}

fn package_component(pkg: &Package, os: Option<&OsInfo>, bom_ref: String) -> Component {
    let (group, name) = match pkg.kind {
        PackageKind::Maven => match pkg.name.split_once(':') {
            Some((group, artifact)) => (Some(group.to_owned()), artifact.to_owned()),
            None => (None, pkg.name.clone()),
        },
        _ => (None, pkg.name.clone()),
    };

    let mut properties: BTreeMap<&str, String> = BTreeMap::new();
    properties.insert("shipshape:package:type", pkg.kind.as_str().to_owned());
    properties.insert("shipshape:package:path", pkg.evidence.path.clone());
    if let Some(diff_id) = &pkg.evidence.layer_diff_id {
        properties.insert("shipshape:layer:diff_id", diff_id.to_string());
    }
    if let Some(index) = pkg.evidence.layer_index {
        properties.insert("shipshape:layer:index", index.to_string());
    }
    if let Some(analyzer) = &pkg.evidence.analyzer {
        properties.insert("shipshape:analyzer", analyzer.to_string());
    }
    if let Some(arch) = &pkg.arch {
        properties.insert("shipshape:package:arch", arch.clone());
    }
    if pkg.is_application {
        properties.insert("shipshape:package:application", "true".to_owned());
    }
    if let Some(source) = pkg.source.as_ref().filter(|_| pkg.kind.is_os()) {
        properties.insert("shipshape:source:name", source.name.clone());
        if let Some(version) = &source.version {
            properties.insert("shipshape:source:version", version.clone());
        }
    }

    Component {
        bom_ref: Some(bom_ref),
        component_type: if pkg.is_application {
            ComponentType::Application
        } else {
            ComponentType::Library
        },
        group,
        name,
        version: (!pkg.version.is_empty()).then(|| pkg.version.clone()),
        description: None,
        licenses: licenses(&pkg.licenses),
        purl: PackageUrl::for_package(pkg, os).map(|p| p.to_string()),
        properties: properties
            .into_iter()
            .map(|(name, value)| property(name, value))
            .collect(),
    }
}

fn licenses(declared: &[String]) -> Vec<LicenseChoice> {
    let mut parsed: Vec<License> = declared.iter().filter_map(|l| License::parse(l)).collect();
    parsed.dedup();
    if let [License::Expression(expression)] = parsed.as_slice() {
        return vec![LicenseChoice::Expression {
            expression: expression.clone(),
        }];
    }
    parsed
        .into_iter()
        .map(|l| {
            let (id, name) = match l {
                License::Id(id) => (Some(id), None),
                // Among several licenses an expression can only be named.
                License::Expression(s) | License::Other(s) => (None, Some(s)),
            };
            LicenseChoice::License {
                license: LicenseRef { id, name },
            }
        })
        .collect()
}
