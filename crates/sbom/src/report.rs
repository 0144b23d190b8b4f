//! Shipshape's own JSON report, `schemaVersion: 1`.
//!
//! Fields are only ever added within a schema version; renaming or removing
//! one means a new version. The DTOs here are converted from the model by
//! hand so the model can change without changing this format.

use std::collections::BTreeMap;

use model::{
    CvssScore, Diagnostic, DiagnosticLevel, Finding, FixState, HistoryEntry, ImageInventory,
    ImageMetadata, LayerDescriptor, OsFamily, OsInfo, Package, PackageUrl,
};
use serde::Serialize;

use crate::findings::{PackageIndex, fix_state_name, summarise};
use crate::{
    SbomError, ToolInfo, Vulnerabilities, history_for_layer, ordered_diagnostics, ordered_packages,
    sorted_diagnostics,
};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub generated_at: String,
    pub image: Image,
    pub os: Option<Os>,
    pub packages: Vec<ReportPackage>,
    pub diagnostics: Vec<ReportDiagnostic>,
    /// The advisory database the image was matched against; absent for an
    /// SBOM-only report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    /// Findings in the order matching gives them (CVSS, severity, ID);
    /// absent (not empty) when the image was not matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<Vec<ReportVulnerability>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerability_summary: Option<VulnerabilitySummary>,
    /// What matching reported: findings may be missing where these say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching_diagnostics: Option<Vec<ReportDiagnostic>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    pub version: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportVulnerability {
    pub id: String,
    pub aliases: Vec<String>,
    pub package: VulnerablePackage,
    /// The smallest fixed version above the installed one.
    pub fixed_version: Option<String>,
    /// Every fixed version the advisories give, as written.
    pub fixed_versions: Vec<String>,
    /// `fixed`, `not-fixed` or `wont-fix`.
    pub state: &'static str,
    /// Why the distro will not fix it (`wont-fix` only).
    pub state_reason: Option<String>,
    pub severity: &'static str,
    /// The score findings are ordered by: v3.x when known, else v4.0, else v2.
    pub cvss: Option<Cvss>,
    pub cvss_v3: Option<Cvss>,
    pub cvss_v4: Option<Cvss>,
    pub epss: Option<Epss>,
    pub kev: Option<Kev>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub references: Vec<String>,
    pub evidence: Vec<FindingEvidence>,
    /// Stable across data updates: the same package and vulnerability keep it.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerablePackage {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub version: String,
    /// Absent when the finding names no package of this inventory, or
    /// several with different package URLs (multi-arch installs).
    pub purl: Option<String>,
    /// The name advisories were looked up by (distro source package,
    /// normalised PyPI name, …).
    pub matched_name: String,
    pub layer_index: Option<u32>,
    pub layer_diff_id: Option<String>,
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cvss {
    pub version: String,
    pub score: f64,
    pub vector: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Epss {
    /// Probability of exploitation in the next 30 days (0–1).
    pub score: f64,
    pub percentile: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kev {
    pub date_added: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingEvidence {
    pub source: &'static str,
    pub advisory_id: String,
    pub ecosystem: String,
    pub matcher: String,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub negligible: usize,
    pub unknown: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerabilitySummary {
    pub total: usize,
    pub by_severity: SeverityCounts,
    /// Findings with a fixed version above the installed one.
    pub fixed: usize,
    pub not_fixed: usize,
    pub wont_fix: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub reference: String,
    pub repository: String,
    pub tag: Option<String>,
    pub manifest_digest: String,
    pub index_digest: Option<String>,
    pub manifest_media_type: String,
    pub config_digest: String,
    pub platform: String,
    pub purl: String,
    pub compressed_size: u64,
    pub config: Config,
    pub layers: Vec<Layer>,
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub created: Option<String>,
    pub author: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub index: u32,
    pub diff_id: String,
    pub blob_digest: String,
    pub media_type: String,
    pub compressed_size: u64,
    pub uncompressed_size: Option<u64>,
    /// The history entry that produced this layer.
    pub history: Option<History>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub created: Option<String>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub empty_layer: bool,
    pub layer_index: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Os {
    pub family: String,
    pub id: String,
    pub version_id: Option<String>,
    pub codename: Option<String>,
    pub pretty_name: Option<String>,
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportPackage {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub purl: Option<String>,
    pub source: Option<Source>,
    pub licenses: Vec<String>,
    pub is_application: bool,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub name: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub path: String,
    pub layer_index: Option<u32>,
    pub layer_diff_id: Option<String>,
    pub analyzer: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDiagnostic {
    pub level: &'static str,
    pub code: String,
    pub message: String,
    pub layer_diff_id: Option<String>,
    pub path: Option<String>,
    pub analyzer: Option<String>,
}

/// Builds the report for an image, without findings.
pub fn report(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    tool: &ToolInfo,
    timestamp: &str,
) -> Report {
    report_with(meta, inventory, None, tool, timestamp)
}

/// Builds the report for an image and, when given, what matching found in it.
pub fn report_with(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    vulnerabilities: Option<&Vulnerabilities<'_>>,
    tool: &ToolInfo,
    timestamp: &str,
) -> Report {
    let os = inventory.os.as_ref();
    let packages = PackageIndex::new(ordered_packages(inventory));
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: tool.name.clone(),
            version: tool.version.clone(),
        },
        generated_at: timestamp.to_owned(),
        image: image(meta),
        os: os.map(os_dto),
        packages: ordered_packages(inventory)
            .into_iter()
            .map(|p| package(p, os))
            .collect(),
        diagnostics: ordered_diagnostics(inventory)
            .into_iter()
            .map(diagnostic)
            .collect(),
        database: vulnerabilities.and_then(|v| v.database).map(|d| Database {
            version: d.version.clone(),
            updated_at: d.updated_at.clone(),
        }),
        vulnerabilities: vulnerabilities.map(|v| {
            v.findings
                .iter()
                .map(|f| vulnerability(f, packages.purl(f, os)))
                .collect()
        }),
        vulnerability_summary: vulnerabilities.map(|v| summary(v.findings)),
        matching_diagnostics: vulnerabilities.map(|v| {
            sorted_diagnostics(v.diagnostics)
                .into_iter()
                .map(diagnostic)
                .collect()
        }),
    }
}

/// The report as pretty-printed JSON, without findings.
pub fn to_json(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    tool: &ToolInfo,
    timestamp: &str,
) -> Result<String, SbomError> {
    to_json_with(meta, inventory, None, tool, timestamp)
}

/// The report as pretty-printed JSON, with findings when given.
pub fn to_json_with(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    vulnerabilities: Option<&Vulnerabilities<'_>>,
    tool: &ToolInfo,
    timestamp: &str,
) -> Result<String, SbomError> {
    Ok(serde_json::to_string_pretty(&report_with(
        meta,
        inventory,
        vulnerabilities,
        tool,
        timestamp,
    ))?)
}

fn vulnerability(finding: &Finding, purl: Option<String>) -> ReportVulnerability {
    let package = &finding.package;
    let text = |t: &Option<model::SharedText>| t.as_ref().map(|t| t.as_str().to_owned());
    ReportVulnerability {
        id: finding.id.clone(),
        aliases: finding.aliases.clone(),
        package: VulnerablePackage {
            kind: package.kind.as_str().to_owned(),
            name: package.name.clone(),
            version: package.installed_version.clone(),
            purl,
            matched_name: package.matched_name.clone(),
            layer_index: package.layer_index,
            layer_diff_id: package.layer_diff_id.as_ref().map(ToString::to_string),
            path: package.path.clone(),
        },
        fixed_version: finding.fixed_version.clone(),
        fixed_versions: finding.fixed_versions.clone(),
        state: fix_state_name(&finding.state),
        state_reason: match &finding.state {
            FixState::WontFix(reason) => Some(reason.clone()),
            FixState::Fixed | FixState::NotFixed => None,
        },
        severity: finding.severity.as_str(),
        cvss: finding.cvss.as_ref().map(cvss),
        cvss_v3: finding.cvss_v3.as_ref().map(cvss),
        cvss_v4: finding.cvss_v4.as_ref().map(cvss),
        epss: finding
            .epss
            .map(|(score, percentile)| Epss { score, percentile }),
        kev: finding.kev_date_added.as_ref().map(|date| Kev {
            date_added: date.clone(),
        }),
        title: text(&finding.title),
        description: text(&finding.description),
        references: finding
            .references
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        evidence: finding
            .evidence
            .iter()
            .map(|e| FindingEvidence {
                source: e.source.as_str(),
                advisory_id: e.advisory_id.clone(),
                ecosystem: e.ecosystem.clone(),
                matcher: e.matcher.clone(),
                rule: e.rule.clone(),
            })
            .collect(),
        fingerprint: finding.fingerprint.clone(),
    }
}

fn cvss(score: &CvssScore) -> Cvss {
    Cvss {
        version: score.version.clone(),
        score: score.base_score,
        vector: score.vector.clone(),
    }
}

fn summary(findings: &[Finding]) -> VulnerabilitySummary {
    let counts = summarise(findings);
    let [critical, high, medium, low, negligible, unknown] = counts.by_severity;
    VulnerabilitySummary {
        total: counts.total,
        by_severity: SeverityCounts {
            critical,
            high,
            medium,
            low,
            negligible,
            unknown,
        },
        fixed: counts.fixed,
        not_fixed: counts.not_fixed,
        wont_fix: counts.wont_fix,
    }
}

fn image(meta: &ImageMetadata) -> Image {
    let c = &meta.config;
    Image {
        reference: meta.reference.clone(),
        repository: meta.repository.clone(),
        tag: meta.tag.clone(),
        manifest_digest: meta.manifest_digest.to_string(),
        index_digest: meta.index_digest.as_ref().map(ToString::to_string),
        manifest_media_type: meta.manifest_media_type.clone(),
        config_digest: meta.config_digest.to_string(),
        platform: meta.platform.to_string(),
        purl: PackageUrl::for_image(
            &meta.repository,
            &meta.manifest_digest,
            Some(&meta.platform.architecture),
        )
        .to_string(),
        compressed_size: meta.compressed_size(),
        config: Config {
            created: c.created.clone(),
            author: c.author.clone(),
            user: c.user.clone(),
            working_dir: c.working_dir.clone(),
            env: c.env.clone(),
            entrypoint: c.entrypoint.clone(),
            cmd: c.cmd.clone(),
            exposed_ports: c.exposed_ports.clone(),
            labels: c.labels.clone(),
        },
        layers: meta.layers.iter().map(|l| layer(meta, l)).collect(),
        history: meta.history.iter().map(history).collect(),
    }
}

fn layer(meta: &ImageMetadata, layer: &LayerDescriptor) -> Layer {
    Layer {
        index: layer.index,
        diff_id: layer.diff_id.to_string(),
        blob_digest: layer.blob_digest.to_string(),
        media_type: layer.media_type.clone(),
        compressed_size: layer.compressed_size,
        uncompressed_size: layer.uncompressed_size,
        history: history_for_layer(meta, layer.index).map(history),
    }
}

fn history(h: &HistoryEntry) -> History {
    History {
        created: h.created.clone(),
        created_by: h.created_by.clone(),
        comment: h.comment.clone(),
        author: h.author.clone(),
        empty_layer: h.empty_layer,
        layer_index: h.layer_index,
    }
}

fn os_dto(os: &OsInfo) -> Os {
    Os {
        family: family_name(&os.family).to_owned(),
        id: os.id.clone(),
        version_id: os.version_id.clone(),
        codename: os.codename.clone(),
        pretty_name: os.pretty_name.clone(),
        path: os.path.clone(),
    }
}

fn family_name(family: &OsFamily) -> &str {
    match family {
        OsFamily::Debian => "debian",
        OsFamily::Ubuntu => "ubuntu",
        OsFamily::Alpine => "alpine",
        OsFamily::Wolfi => "wolfi",
        OsFamily::Chainguard => "chainguard",
        OsFamily::RedHat => "redhat",
        OsFamily::CentOS => "centos",
        OsFamily::Rocky => "rocky",
        OsFamily::AlmaLinux => "almalinux",
        OsFamily::Fedora => "fedora",
        OsFamily::Oracle => "oracle",
        OsFamily::Amazon => "amazon",
        OsFamily::Suse => "suse",
        OsFamily::Photon => "photon",
        OsFamily::Mariner => "mariner",
        OsFamily::Other(id) => id,
    }
}

fn package(pkg: &Package, os: Option<&OsInfo>) -> ReportPackage {
    ReportPackage {
        kind: pkg.kind.as_str().to_owned(),
        name: pkg.name.clone(),
        version: pkg.version.clone(),
        arch: pkg.arch.clone(),
        purl: PackageUrl::for_package(pkg, os).map(|p| p.to_string()),
        source: pkg.source.as_ref().map(|s| Source {
            name: s.name.clone(),
            version: s.version.clone(),
        }),
        licenses: pkg.licenses.clone(),
        is_application: pkg.is_application,
        evidence: Evidence {
            path: pkg.evidence.path.clone(),
            layer_index: pkg.evidence.layer_index,
            layer_diff_id: pkg.evidence.layer_diff_id.as_ref().map(ToString::to_string),
            analyzer: pkg.evidence.analyzer.as_ref().map(ToString::to_string),
        },
    }
}

fn diagnostic(d: &Diagnostic) -> ReportDiagnostic {
    ReportDiagnostic {
        level: match d.level {
            DiagnosticLevel::Warning => "warning",
            DiagnosticLevel::Error => "error",
        },
        code: d.code.clone(),
        message: d.message.clone(),
        layer_diff_id: d.layer_diff_id.as_ref().map(ToString::to_string),
        path: d.path.clone(),
        analyzer: d.analyzer.as_ref().map(ToString::to_string),
    }
}
