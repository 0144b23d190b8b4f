//! Red Hat's CSAF 2.0 documents, as published under
//! `https://security.access.redhat.com/data/csaf/v2/`: security advisories
//! (`advisories/YYYY/rhsa-*.json`, category `csaf_security_advisory`, and the
//! bulk `csaf_advisories_*.tar.zst`) and the per-CVE VEX files
//! (`vex/YYYY/cve-*.json`, category `csaf_vex`).
//!
//! A CSAF document names products indirectly. `product_tree.branches` holds
//! *platforms* (a `product_name` with a CPE, `AppStream-9.4.0.Z.MAIN.EUS` →
//! `cpe:/a:redhat:enterprise_linux:9::appstream`) and *components* (a
//! `product_version` with a purl, `pkg:rpm/redhat/python3.9@3.9.18-3.el9_4.5?arch=src`);
//! `relationships` join them into the full product IDs that the
//! vulnerabilities' `product_status` lists (`AppStream-9.4.0.Z.MAIN.EUS:python3.9-0:…src`).
//! Product IDs are never split as strings (module streams and versions put
//! `:` and `-` in them): every ID is resolved through the relationships.
//!
//! What becomes an [`AffectedPackage`]:
//! - **Only source RPMs.** Red Hat's fixes are per source package; binary
//!   RPM products (`.x86_64`, `.noarch`) are passed over, and the matcher
//!   looks installed packages up by their source RPM name.
//! - **Ecosystem from the platform's CPE.** Mainline RHEL
//!   (`cpe:/[ao]:redhat:enterprise_linux:N…`, whatever the repository suffix
//!   or minor) is `Red Hat:N`, the key RHEL, CentOS and UBI images route to.
//!   Pinned-minor and extended streams get their own keys so an EUS-only fix
//!   never marks a mainline package fixed: `rhel_eus:9.2` → `Red Hat:9.2+eus`
//!   (likewise `+aus`, `+e4s`, `+tus`), `rhel_els:6` → `Red Hat:6+els`. Other
//!   Red Hat products (OpenShift, Satellite, …) are not RHEL releases and are
//!   left out.
//! - **Module streams** (a purl `rpmmod=ruby:2.7:8080020230427102918:63b34585`
//!   qualifier, or a component nested in a module product) append the stream:
//!   `Red Hat:8/ruby:2.7`. A modular build is only comparable with builds of
//!   the same stream; the rpm database records the stream in each package's
//!   `MODULARITYLABEL` (`model::Package::module`), and the matcher looks a
//!   modular package up under its own stream's key only, so it never
//!   compares a modular build with another stream's fix.
//! - `fixed` → range introduced `0`, fixed at the source EVR (epoch from the
//!   purl's `epoch` qualifier; epoch 0 is written as none, as rpm compares
//!   them equal), [`DistroStatus::Fixed`]. `known_affected` → range from `0`
//!   with [`DistroStatus::NotFixed`], or [`DistroStatus::WontFix`] with the
//!   remediation's words when its category is `no_fix_planned` (`Will not
//!   fix`, `Out of support scope`). `known_not_affected` →
//!   [`DistroStatus::NotAffected`], no range. A package fixed in a stream
//!   wins over a contradicting status for the same stream in one document.
//!
//! One [`Advisory`] per document: the RHSA (aliases: its CVEs) or the CVE of
//! a VEX file. Severity (`aggregate_severity`, per-CVE `threats` impact) and
//! CVSS vectors (`scores`) are put on the advisory only where they hold for
//! every CVE it lists: an erratum fixing a Moderate and an Important CVE
//! must not make both Important. Documents about no RHEL package produce no
//! advisory and are not errors; a document that is not CSAF, or a product ID
//! that resolves to nothing, is counted in the [`ImportReport`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use model::{
    Advisory, AdvisoryReference, AdvisorySource, AffectedPackage, AffectedRange, DistroStatus,
    RangeEvent, RangeKind, SeverityScore,
};
use serde::Deserialize;

use crate::capped_read::{LimitedReader, MAX_DOCUMENT_BYTES, read_capped, read_file_capped};
use crate::file_walk::{files_under, has_extension};
use crate::{ImportError, ImportReport, ZipLimits};

/// Relationship levels followed from a full product ID to its platform
/// (platform → module → package is two); deeper chains are malformed.
const MAX_RELATIONSHIP_DEPTH: usize = 4;

/// Product IDs that did not resolve, reported per document at most; the
/// rest are only counted.
const MAX_UNRESOLVED_REPORTED: usize = 5;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCsaf {
    document: Option<RawDocument>,
    product_tree: RawProductTree,
    vulnerabilities: Vec<RawVulnerability>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawDocument {
    category: Option<String>,
    csaf_version: Option<String>,
    title: Option<String>,
    aggregate_severity: Option<RawText>,
    notes: Vec<RawNote>,
    references: Vec<RawReference>,
    tracking: RawTracking,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawText {
    text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawNote {
    category: Option<String>,
    text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawReference {
    category: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawTracking {
    id: Option<String>,
    initial_release_date: Option<String>,
    current_release_date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawProductTree {
    branches: Vec<RawBranch>,
    relationships: Vec<RawRelationship>,
    full_product_names: Vec<RawProduct>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawBranch {
    product: Option<RawProduct>,
    branches: Vec<RawBranch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawProduct {
    product_id: String,
    product_identification_helper: Option<RawHelper>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawHelper {
    cpe: Option<String>,
    purl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRelationship {
    full_product_name: RawProduct,
    product_reference: String,
    relates_to_product_reference: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawVulnerability {
    cve: Option<String>,
    title: Option<String>,
    notes: Vec<RawNote>,
    product_status: RawProductStatus,
    remediations: Vec<RawRemediation>,
    scores: Vec<RawScore>,
    threats: Vec<RawThreat>,
    references: Vec<RawReference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawProductStatus {
    fixed: Vec<String>,
    known_affected: Vec<String>,
    known_not_affected: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRemediation {
    category: Option<String>,
    details: Option<String>,
    product_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawScore {
    cvss_v2: Option<RawCvss>,
    cvss_v3: Option<RawCvss>,
    cvss_v4: Option<RawCvss>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCvss {
    #[serde(rename = "vectorString")]
    vector_string: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawThreat {
    category: Option<String>,
    details: Option<String>,
}

/// Imports one CSAF JSON file.
pub fn import_redhat_csaf_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let bytes = read_file_capped(path, MAX_DOCUMENT_BYTES)?;
    if let Some(advisory) = parse_redhat_csaf(&bytes, &path.display().to_string(), report)? {
        sink(advisory);
    }
    Ok(())
}

/// Imports every `.json` file under `root` (an `advisories/` or `vex/`
/// tree); a file that is not a CSAF document is counted as skipped.
pub fn import_redhat_csaf_dir(
    root: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let wanted = |path: &Path| has_extension(path, &["json"]);
    for file in files_under(root, report, &wanted)? {
        if let Err(error) = import_redhat_csaf_file(&file, report, sink) {
            report.skip(file.display().to_string(), error.to_string());
        }
    }
    Ok(())
}

/// Imports Red Hat's bulk archive file (`csaf_advisories_*.tar.zst`,
/// `csaf_vex_*.tar.zst`).
pub fn import_redhat_csaf_archive(
    path: &Path,
    limits: &ZipLimits,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let file = crate::capped_read::open(path)?;
    read_redhat_csaf_archive(file, &path.display().to_string(), limits, report, sink)
}

/// Reads a zstd-compressed tar of CSAF JSON files, within `limits`: the
/// decompressed stream as a whole (`max_total_bytes`, the zstd-bomb bound),
/// each entry (`max_entry_bytes`; larger ones are skipped and counted) and
/// the number of entries. Entry names are only labels, never paths opened.
pub fn read_redhat_csaf_archive(
    reader: impl Read,
    location: &str,
    limits: &ZipLimits,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let decoder =
        zstd::stream::read::Decoder::new(reader).map_err(|error| ImportError::Malformed {
            what: location.to_owned(),
            format: "zstd",
            message: error.to_string(),
        })?;
    let mut limited = LimitedReader::new(decoder, limits.max_total_bytes);
    let result = read_tar_entries(&mut limited, location, limits, report, sink);
    // The bound ends the stream early, which tar reports as a truncated
    // archive; the bound is the real cause then.
    if limited.hit_limit() {
        return Err(ImportError::TooLarge {
            what: location.to_owned(),
            limit: limits.max_total_bytes,
        });
    }
    result
}

fn read_tar_entries(
    reader: &mut dyn Read,
    location: &str,
    limits: &ZipLimits,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    // A broken stream cannot be resynchronised: stop, keeping what was read.
    let broken = |error: std::io::Error| ImportError::Malformed {
        what: location.to_owned(),
        format: "tar.zst",
        message: error.to_string(),
    };
    let mut archive = tar::Archive::new(reader);
    let mut seen = 0usize;
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        seen += 1;
        if seen > limits.max_entries {
            return Err(ImportError::Malformed {
                what: location.to_owned(),
                format: "tar.zst",
                message: format!("more entries than the limit of {}", limits.max_entries),
            });
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = format!(
            "{location}!{}",
            String::from_utf8_lossy(&entry.path_bytes())
        );
        if !name.to_ascii_lowercase().ends_with(".json") {
            continue;
        }
        let declared = entry.header().size().unwrap_or(u64::MAX);
        if declared > limits.max_entry_bytes {
            report.skip(
                name,
                format!(
                    "entry exceeds the limit of {} bytes",
                    limits.max_entry_bytes
                ),
            );
            // The tar reader skips the unread body when advancing.
            continue;
        }
        let bytes = match read_capped(&mut entry, &name, limits.max_entry_bytes) {
            Ok(bytes) => bytes,
            Err(ImportError::Io { source, .. }) => return Err(broken(source)),
            Err(error) => {
                report.skip(name, error.to_string());
                continue;
            }
        };
        match parse_redhat_csaf(&bytes, &name, report) {
            Ok(Some(advisory)) => sink(advisory),
            Ok(None) => {}
            Err(error) => report.skip(name, error.to_string()),
        }
    }
    Ok(())
}

/// Parses one CSAF document. `Ok(None)`: a valid document about no RHEL
/// source package (another product, or binary packages only).
pub fn parse_redhat_csaf(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<Option<Advisory>, ImportError> {
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(ImportError::TooLarge {
            what: location.to_owned(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let malformed = |message: String| ImportError::Malformed {
        what: location.to_owned(),
        format: "Red Hat CSAF",
        message,
    };
    let raw: RawCsaf =
        serde_json::from_slice(bytes).map_err(|error| malformed(error.to_string()))?;
    let document = raw
        .document
        .as_ref()
        .ok_or_else(|| malformed("no `document` object".to_owned()))?;
    let category = document.category.as_deref().unwrap_or("");
    if document.csaf_version.as_deref() != Some("2.0")
        || !matches!(category, "csaf_security_advisory" | "csaf_vex")
    {
        return Err(malformed(format!(
            "not a CSAF 2.0 advisory or VEX document (category {category:?})"
        )));
    }
    let id = document
        .tracking
        .id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 200)
        .ok_or_else(|| malformed("no `document.tracking.id`".to_owned()))?
        .to_owned();
    let location = format!("{location} ({id})");

    let tree = Tree::new(&raw.product_tree);
    let builds = tree.source_builds();
    let mut packages: BTreeMap<(String, String), PackageState> = BTreeMap::new();
    let mut unresolved = 0usize;
    let mut note_unresolved = |report: &mut ImportReport, reason: String| {
        unresolved += 1;
        if unresolved <= MAX_UNRESOLVED_REPORTED {
            report.skip(location.clone(), reason);
        }
    };
    for vulnerability in &raw.vulnerabilities {
        let wont_fix = wont_fix_reasons(vulnerability);
        let status = &vulnerability.product_status;
        let lists = [
            (&status.fixed, Status::Fixed),
            (&status.known_affected, Status::Affected),
            (&status.known_not_affected, Status::NotAffected),
        ];
        for (product_ids, status) in lists {
            for product_id in product_ids {
                let component = match tree.resolve(product_id) {
                    Resolution::Component(component) => component,
                    Resolution::NotRhelRpm => continue,
                    Resolution::Unresolved(reason) => {
                        note_unresolved(report, format!("product {product_id:?}: {reason}"));
                        continue;
                    }
                };
                let Component {
                    ecosystem,
                    name,
                    version,
                    source,
                } = component;
                match (status, version) {
                    (Status::Fixed, Some(version)) if source => {
                        packages
                            .entry((ecosystem, name))
                            .or_default()
                            .fixed
                            .insert(version);
                    }
                    // Errata sometimes list only the binaries as fixed (and
                    // the source under another status); the binaries' build
                    // names its source when one source has that build.
                    (Status::Fixed, Some(version)) => {
                        let key = (ecosystem, version);
                        if let Some(sources) = builds.get(&key)
                            && let [source] = sources.as_slice()
                        {
                            let (ecosystem, version) = key;
                            packages
                                .entry((ecosystem, source.clone()))
                                .or_default()
                                .fixed
                                .insert(version);
                        }
                    }
                    (Status::Fixed, None) => {
                        note_unresolved(
                            report,
                            format!("fixed product {product_id:?} has no version"),
                        );
                    }
                    (_, _) if !source => {}
                    (Status::Affected, _) => {
                        let state = packages.entry((ecosystem, name)).or_default();
                        match wont_fix.get(product_id.as_str()) {
                            Some(reason) => state.wont_fix = Some(reason.clone()),
                            None => state.affected = true,
                        }
                    }
                    // Only an unversioned component says the package is not
                    // affected; a versioned one speaks of that build alone
                    // (errata list their new builds so).
                    (Status::NotAffected, None) => {
                        packages.entry((ecosystem, name)).or_default().not_affected = true;
                    }
                    (Status::NotAffected, Some(_)) => {}
                }
            }
        }
    }
    if unresolved > MAX_UNRESOLVED_REPORTED {
        // Each unresolved product is one skipped record; only the first
        // few carry their reason.
        report.skipped += (unresolved - MAX_UNRESOLVED_REPORTED) as u64;
    }

    let mut affected = Vec::new();
    for ((ecosystem, name), state) in packages {
        let Some((ranges, status)) = state.into_ranges() else {
            continue;
        };
        report.count_ecosystem(&ecosystem);
        affected.push(AffectedPackage {
            ecosystem,
            name,
            ranges,
            distro_status: Some(status),
            ..AffectedPackage::default()
        });
    }
    if affected.is_empty() {
        return Ok(None);
    }

    let cves: BTreeSet<String> = raw
        .vulnerabilities
        .iter()
        .filter_map(|v| v.cve.as_deref().map(str::trim))
        .filter(|cve| !cve.is_empty())
        .map(str::to_owned)
        .collect();
    let aliases = cves.iter().filter(|cve| **cve != id).cloned().collect();
    let single = raw.vulnerabilities.len() == 1;
    let database_severity = common_severity(document, &raw.vulnerabilities);
    let severity = common_vectors(&raw.vulnerabilities);
    let vex = category == "csaf_vex";
    let first = raw.vulnerabilities.first().filter(|_| single);
    let summary = if vex {
        first
            .and_then(|v| v.title.clone())
            .or_else(|| document.title.clone())
    } else {
        document.title.clone()
    };
    let details = if vex {
        first.and_then(|v| note(&v.notes, "description"))
    } else {
        note(&document.notes, "general")
    };
    let mut references: Vec<AdvisoryReference> = Vec::new();
    let vulnerability_references = raw.vulnerabilities.iter().flat_map(|v| &v.references);
    for reference in document.references.iter().chain(vulnerability_references) {
        let Some(url) = reference.url.as_deref().filter(|u| !u.is_empty()) else {
            continue;
        };
        if references.iter().any(|known| known.url == url) {
            continue;
        }
        let kind = match reference.category.as_deref() {
            Some("self") => "ADVISORY",
            _ => "WEB",
        };
        references.push(AdvisoryReference {
            kind: kind.to_owned(),
            url: url.to_owned(),
        });
    }
    report.imported += 1;
    Ok(Some(Advisory {
        id,
        source: AdvisorySource::RedHatCsaf,
        aliases,
        upstream: Vec::new(),
        related: Vec::new(),
        summary,
        details,
        published: document.tracking.initial_release_date.clone(),
        modified: document.tracking.current_release_date.clone(),
        withdrawn: None,
        severity,
        database_severity,
        affected,
        references,
    }))
}

#[derive(Clone, Copy)]
enum Status {
    Fixed,
    Affected,
    NotAffected,
}

/// What one document says about one source package in one stream.
#[derive(Default)]
struct PackageState {
    fixed: BTreeSet<String>,
    affected: bool,
    wont_fix: Option<String>,
    not_affected: bool,
}

impl PackageState {
    /// A fix outranks "affected" (the stream has one), and any affected
    /// status outranks "not affected" (never hide a known flaw).
    fn into_ranges(self) -> Option<(Vec<AffectedRange>, DistroStatus)> {
        let from_start = || RangeEvent::Introduced("0".to_owned());
        if !self.fixed.is_empty() {
            let ranges = self
                .fixed
                .into_iter()
                .map(|version| AffectedRange {
                    kind: RangeKind::Ecosystem,
                    events: vec![from_start(), RangeEvent::Fixed(version)],
                })
                .collect();
            return Some((ranges, DistroStatus::Fixed));
        }
        let open = || {
            vec![AffectedRange {
                kind: RangeKind::Ecosystem,
                events: vec![from_start()],
            }]
        };
        if self.affected {
            return Some((open(), DistroStatus::NotFixed));
        }
        if let Some(reason) = self.wont_fix {
            return Some((open(), DistroStatus::WontFix(reason)));
        }
        self.not_affected
            .then(|| (Vec::new(), DistroStatus::NotAffected))
    }
}

/// Product ID → the words of its `no_fix_planned` remediation.
fn wont_fix_reasons(vulnerability: &RawVulnerability) -> HashMap<&str, String> {
    let mut reasons = HashMap::new();
    for remediation in &vulnerability.remediations {
        if remediation.category.as_deref() != Some("no_fix_planned") {
            continue;
        }
        let reason = remediation
            .details
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .unwrap_or("no fix planned")
            .to_owned();
        for product_id in &remediation.product_ids {
            reasons.insert(product_id.as_str(), reason.clone());
        }
    }
    reasons
}

fn note(notes: &[RawNote], category: &str) -> Option<String> {
    notes
        .iter()
        .find(|n| n.category.as_deref() == Some(category))
        .and_then(|n| n.text.clone())
        .filter(|t| !t.trim().is_empty())
}

/// The impact Red Hat gives a vulnerability: its `threats` of category
/// `impact`, when they agree.
fn vulnerability_impact(vulnerability: &RawVulnerability) -> Option<&str> {
    let mut impacts = vulnerability
        .threats
        .iter()
        .filter(|t| t.category.as_deref() == Some("impact"))
        .filter_map(|t| t.details.as_deref().map(str::trim));
    let first = impacts.next()?;
    impacts.all(|other| other == first).then_some(first)
}

/// The severity word that holds for every CVE of the document: the single
/// CVE's impact (else the aggregate), or the impact all CVEs share.
fn common_severity(document: &RawDocument, vulnerabilities: &[RawVulnerability]) -> Option<String> {
    let aggregate = document
        .aggregate_severity
        .as_ref()
        .and_then(|s| s.text.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let severity = match vulnerabilities {
        [] => aggregate,
        [only] => vulnerability_impact(only).or(aggregate),
        [first, rest @ ..] => {
            let shared = vulnerability_impact(first)?;
            rest.iter()
                .all(|v| vulnerability_impact(v) == Some(shared))
                .then_some(shared)
        }
    };
    severity.map(str::to_owned)
}

fn vectors(vulnerability: &RawVulnerability) -> BTreeSet<SeverityScore> {
    let mut found = BTreeSet::new();
    for score in &vulnerability.scores {
        let kinds = [
            ("CVSS_V2", &score.cvss_v2),
            ("CVSS_V3", &score.cvss_v3),
            ("CVSS_V4", &score.cvss_v4),
        ];
        for (kind, cvss) in kinds {
            if let Some(vector) = cvss
                .as_ref()
                .and_then(|c| c.vector_string.as_deref())
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                found.insert(SeverityScore {
                    kind: kind.to_owned(),
                    score: vector.to_owned(),
                });
            }
        }
    }
    found
}

/// The CVSS vectors, when every CVE of the document has the same ones.
fn common_vectors(vulnerabilities: &[RawVulnerability]) -> Vec<SeverityScore> {
    let Some((first, rest)) = vulnerabilities.split_first() else {
        return Vec::new();
    };
    let shared = vectors(first);
    if rest.iter().all(|v| vectors(v) == shared) {
        shared.into_iter().collect()
    } else {
        Vec::new()
    }
}

/// The product tree, indexed by product ID.
struct Tree<'a> {
    helpers: HashMap<&'a str, &'a RawHelper>,
    /// Full product ID → (component, the product it is part of).
    relationships: HashMap<&'a str, (&'a str, &'a str)>,
}

/// A source RPM in one RHEL stream.
#[derive(Debug, PartialEq, Eq)]
struct Component {
    ecosystem: String,
    name: String,
    /// `[epoch:]version-release`; `None` for VEX components without a version.
    version: Option<String>,
    /// A source RPM (`arch=src`, or no arch as VEX components are written),
    /// not a binary one.
    source: bool,
}

enum Resolution {
    Component(Component),
    /// A container, another non-RPM component, or a product that is not a
    /// RHEL release.
    NotRhelRpm,
    Unresolved(&'static str),
}

impl<'a> Tree<'a> {
    fn new(tree: &'a RawProductTree) -> Tree<'a> {
        let mut helpers = HashMap::new();
        // Iterative: nesting depth is the document's, bounded only by the
        // JSON parser's own recursion limit.
        let mut pending: Vec<&RawBranch> = tree.branches.iter().collect();
        while let Some(branch) = pending.pop() {
            if let Some(product) = &branch.product
                && let Some(helper) = &product.product_identification_helper
            {
                helpers.insert(product.product_id.as_str(), helper);
            }
            pending.extend(&branch.branches);
        }
        for product in &tree.full_product_names {
            if let Some(helper) = &product.product_identification_helper {
                helpers.insert(product.product_id.as_str(), helper);
            }
        }
        let relationships = tree
            .relationships
            .iter()
            .map(|r| {
                (
                    r.full_product_name.product_id.as_str(),
                    (
                        r.product_reference.as_str(),
                        r.relates_to_product_reference.as_str(),
                    ),
                )
            })
            .collect();
        Tree {
            helpers,
            relationships,
        }
    }

    fn resolve(&self, full_product_id: &str) -> Resolution {
        let Some(&(component, mut platform)) = self.relationships.get(full_product_id) else {
            return Resolution::Unresolved("no relationship names it");
        };
        // A component inside a module inside a platform: the middle level
        // is the module product.
        let mut module_product = None;
        let mut depth = 1;
        while let Some(&(inner_component, inner_platform)) = self.relationships.get(platform) {
            depth += 1;
            if depth > MAX_RELATIONSHIP_DEPTH {
                return Resolution::Unresolved("relationships nest too deep");
            }
            module_product.get_or_insert(inner_component);
            platform = inner_platform;
        }
        let Some(cpe) = self.helpers.get(platform).and_then(|h| h.cpe.as_deref()) else {
            return Resolution::Unresolved("its platform has no CPE");
        };
        let Some(stream) = stream_of_cpe(cpe) else {
            return Resolution::NotRhelRpm;
        };
        let Some(purl) = self.helpers.get(component).and_then(|h| h.purl.as_deref()) else {
            return Resolution::NotRhelRpm;
        };
        let Some(purl) = RpmPurl::parse(purl) else {
            return Resolution::NotRhelRpm;
        };
        let source = purl.arch.as_deref().is_none_or(|arch| arch == "src");
        let module = purl.module.clone().or_else(|| {
            let product = module_product?;
            let purl = self.helpers.get(product)?.purl.as_deref()?;
            module_of_rpmmod_purl(purl)
        });
        let ecosystem = match module {
            Some(module) => format!("{stream}/{module}"),
            None => stream,
        };
        let version = purl.version.map(|version| match purl.epoch.as_deref() {
            Some(epoch) if epoch != "0" => format!("{epoch}:{version}"),
            _ => version,
        });
        Resolution::Component(Component {
            ecosystem,
            name: purl.name,
            version,
            source,
        })
    }

    /// (ecosystem, source EVR) → the source RPMs with that build, from
    /// every product the document names.
    fn source_builds(&self) -> HashMap<(String, String), Vec<String>> {
        let mut builds: HashMap<(String, String), Vec<String>> = HashMap::new();
        for full_product_id in self.relationships.keys() {
            let Resolution::Component(Component {
                ecosystem,
                name,
                version: Some(version),
                source: true,
            }) = self.resolve(full_product_id)
            else {
                continue;
            };
            let names = builds.entry((ecosystem, version)).or_default();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        builds
    }
}

/// The ecosystem of a RHEL platform CPE (see the module documentation).
fn stream_of_cpe(cpe: &str) -> Option<String> {
    let rest = cpe
        .strip_prefix("cpe:/o:redhat:")
        .or_else(|| cpe.strip_prefix("cpe:/a:redhat:"))?;
    let mut parts = rest.split(':');
    let product = parts.next()?;
    let version = parts.next()?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut numbers = version.split('.');
    let major = numbers.next().filter(|m| numeric(m))?;
    if !numbers.all(numeric) {
        return None;
    }
    match product {
        "enterprise_linux" => Some(format!("Red Hat:{major}")),
        "rhel_eus" | "rhel_aus" | "rhel_e4s" | "rhel_tus" => {
            let kind = product.strip_prefix("rhel_")?;
            Some(format!("Red Hat:{version}+{kind}"))
        }
        "rhel_els" => Some(format!("Red Hat:{major}+els")),
        _ => None,
    }
}

/// The parts of a `pkg:rpm/…` purl the importer needs.
#[derive(Debug, PartialEq, Eq)]
struct RpmPurl {
    name: String,
    version: Option<String>,
    arch: Option<String>,
    epoch: Option<String>,
    /// `name:stream` from the `rpmmod` qualifier.
    module: Option<String>,
}

impl RpmPurl {
    fn parse(purl: &str) -> Option<RpmPurl> {
        let rest = purl.strip_prefix("pkg:rpm/")?;
        let (path, qualifiers) = match rest.split_once('?') {
            Some((path, qualifiers)) => (path, Some(qualifiers)),
            None => (rest, None),
        };
        let path = path.split_once('#').map_or(path, |(p, _)| p);
        let (path, version) = match path.split_once('@') {
            Some((path, version)) => (path, Some(percent_decode(version)?)),
            None => (path, None),
        };
        let name = percent_decode(path.rsplit('/').next()?)?;
        if name.is_empty() || version.as_deref().is_some_and(str::is_empty) {
            return None;
        }
        let mut parsed = RpmPurl {
            name,
            version,
            arch: None,
            epoch: None,
            module: None,
        };
        let qualifiers = qualifiers.map(|q| q.split_once('#').map_or(q, |(q, _)| q));
        for pair in qualifiers.unwrap_or("").split('&') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = percent_decode(value)?;
            match key {
                "arch" => parsed.arch = Some(value),
                "epoch" => parsed.epoch = Some(value),
                "rpmmod" => parsed.module = module_stream(&value),
                _ => {}
            }
        }
        Some(parsed)
    }
}

/// `ruby:2.7:8080020230427102918:63b34585` → `ruby:2.7`.
fn module_stream(rpmmod: &str) -> Option<String> {
    let mut parts = rpmmod.split(':');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let stream = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{name}:{stream}"))
}

/// `pkg:rpmmod/redhat/ruby@2.7:8080020230427102918:63b34585` → `ruby:2.7`.
fn module_of_rpmmod_purl(purl: &str) -> Option<String> {
    let rest = purl.strip_prefix("pkg:rpmmod/")?;
    let rest = rest.split(['?', '#']).next()?;
    let (path, version) = rest.split_once('@')?;
    let name = percent_decode(path.rsplit('/').next()?)?;
    let version = percent_decode(version)?;
    let stream = version.split(':').next().filter(|s| !s.is_empty())?;
    module_stream(&format!("{name}:{stream}"))
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[path = "redhat_csaf_tests.rs"]
mod tests;
