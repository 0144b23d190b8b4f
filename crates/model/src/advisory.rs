//! Vulnerability advisories as Shipshape understands them, whatever feed they
//! came from. Importers (crate `advisory`) convert each source's records into
//! these; matchers (crate `matching`) read only these.

use serde::{Deserialize, Serialize};

/// Where an advisory came from. Kept on every finding as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdvisorySource {
    /// An OSV record (JSON or YAML, one file or a bulk `all.zip`).
    Osv,
    /// The Debian security tracker JSON (per source package, per CVE, per release).
    DebianTracker,
    /// The Debian tracker's `data/DSA/list` / `data/DLA/list` text files.
    DebianAdvisoryList,
    /// Alpine secdb (`secfixes` per package and branch).
    AlpineSecdb,
    /// The RubySec advisory database (YAML per advisory).
    RubySec,
    /// Red Hat's CSAF 2.0 documents: RHSA advisories and per-CVE VEX files.
    RedHatCsaf,
}

impl AdvisorySource {
    pub fn as_str(&self) -> &'static str {
        match self {
            AdvisorySource::Osv => "osv",
            AdvisorySource::DebianTracker => "debian-tracker",
            AdvisorySource::DebianAdvisoryList => "debian-advisory-list",
            AdvisorySource::AlpineSecdb => "alpine-secdb",
            AdvisorySource::RubySec => "rubysec",
            AdvisorySource::RedHatCsaf => "redhat-csaf",
        }
    }
}

/// A CVSS (or other scoring system) vector as published.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeverityScore {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, … as the source names it.
    /// Sources that publish a bare base score without a vector (RubySec) use
    /// `CVSS_V2_SCORE`, `CVSS_V3_SCORE`, `CVSS_V4_SCORE`, so nothing tries to
    /// parse `7.5` as a vector.
    pub kind: String,
    /// The vector (`CVSS:3.1/AV:N/…`) or, for kinds without vectors, the value.
    pub score: String,
}

/// One event of an OSV-style range, in the order published.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RangeEvent {
    /// Affected from this version on (`"0"` = from the beginning).
    Introduced(String),
    /// Not affected from this version on (exclusive upper bound).
    Fixed(String),
    /// Affected up to and including this version.
    LastAffected(String),
    /// Stop the walk here (exclusive), whatever else the range says.
    Limit(String),
}

/// How the versions in a range compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RangeKind {
    /// SemVer 2.0 precedence.
    Semver,
    /// The ecosystem's own order (dpkg for Debian, PEP 440 for PyPI, …).
    Ecosystem,
    /// Git commits: needs the commit graph, so matchers rely on explicit `versions`.
    Git,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AffectedRange {
    pub kind: RangeKind,
    pub events: Vec<RangeEvent>,
}

/// What a distro says about a package and a vulnerability, beyond version ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistroStatus {
    /// Fixed in the version given by the ranges.
    Fixed,
    /// Affected, no fix published yet.
    NotFixed,
    /// Affected, and the distro will not fix it (Debian `nodsa`, `postponed`,
    /// `ignored`, `end-of-life`); the reason as the distro wrote it.
    WontFix(String),
    /// The distro has not decided yet (Debian `undetermined`).
    Undetermined,
    /// The package version in this release was never affected (Debian `fixed_version "0"`).
    NotAffected,
}

/// Why a version satisfying an [`UnaffectedRequirement`] is not affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequirementKind {
    /// The fix is in these versions (RubySec `patched_versions`): its lowest
    /// bound is a fixed version to report.
    Patched,
    /// These versions never had the flaw (RubySec `unaffected_versions`).
    Unaffected,
}

/// A version requirement under which a package is *not* affected, kept as the
/// source wrote it so the ecosystem's own requirement syntax decides (RubyGems:
/// `~> 1.2.3, >= 1.2.3.4`, a comma-separated conjunction of constraints).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnaffectedRequirement {
    pub kind: RequirementKind,
    pub requirement: String,
}

/// One package an advisory affects, in one ecosystem.
///
/// A version is affected when it is listed in `versions` or falls in one of
/// `ranges`, and satisfies none of `unaffected_requirements` (sources that
/// publish requirement strings instead of ranges, like RubySec, give a range
/// from `0` and carve the patched and unaffected versions out with these).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// The ecosystem string exactly as the source wrote it (`Debian:12`, `PyPI`,
    /// `Go`, `Alpine:v3.19`, `crates.io`, `AlmaLinux:9`, …). Unknown ones are kept.
    pub ecosystem: String,
    /// Package name as the source wrote it (a *source* package for distros).
    pub name: String,
    pub purl: Option<String>,
    pub ranges: Vec<AffectedRange>,
    /// Explicitly listed affected versions.
    pub versions: Vec<String>,
    /// Distro triage state, when the source gives one.
    pub distro_status: Option<DistroStatus>,
    /// Severity the source gives for this package (Debian urgency, OSV
    /// `ecosystem_specific`/`database_specific` severity), as written.
    pub severity: Option<String>,
    /// Severity vectors given for this package alone (OSV `affected[].severity`),
    /// which take precedence over the advisory's own for this package.
    #[serde(default)]
    pub severity_scores: Vec<SeverityScore>,
    /// Versions satisfying any of these are not affected, whatever `ranges`
    /// and `versions` say; empty for sources that publish only ranges.
    #[serde(default)]
    pub unaffected_requirements: Vec<UnaffectedRequirement>,
}

/// A reference link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AdvisoryReference {
    /// `ADVISORY`, `FIX`, `WEB`, `REPORT`, … as the source names it.
    pub kind: String,
    pub url: String,
}

/// One record from one source (DSA-5380-1, GHSA-…, GO-2024-…, RUSTSEC-…, a
/// Debian tracker CVE entry, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Advisory {
    /// The record's own ID in its source.
    pub id: String,
    pub source: AdvisorySource,
    /// Other IDs of the same vulnerability (CVE, GHSA, …).
    pub aliases: Vec<String>,
    /// IDs of the upstream records this one derives from (OSV `upstream`).
    pub upstream: Vec<String>,
    /// IDs of records about a related but not identical vulnerability (OSV
    /// `related`): shown, never merged into one finding.
    #[serde(default)]
    pub related: Vec<String>,
    pub summary: Option<String>,
    pub details: Option<String>,
    /// RFC 3339 times as published.
    pub published: Option<String>,
    pub modified: Option<String>,
    /// Set when the source withdrew the record: matchers ignore it.
    pub withdrawn: Option<String>,
    pub severity: Vec<SeverityScore>,
    /// Record-level severity word the source gives (`HIGH`, `moderate`), as written.
    pub database_severity: Option<String>,
    pub affected: Vec<AffectedPackage>,
    pub references: Vec<AdvisoryReference>,
}

/// Enrichment for one CVE, from NVD, EPSS and CISA KEV.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CveEnrichment {
    pub cve: String,
    /// NVD CVSS vectors, primary (NVD's own) before secondary (CNA) ones, newest version first.
    pub cvss: Vec<SeverityScore>,
    pub description: Option<String>,
    /// EPSS probability (0–1) and percentile (0–1).
    pub epss: Option<(f64, f64)>,
    /// In CISA's Known Exploited Vulnerabilities catalog: date added.
    pub kev_date_added: Option<String>,
    /// KEV `knownRansomwareCampaignUse` as CISA writes it (`Known`, `Unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev_ransomware_use: Option<String>,
}
