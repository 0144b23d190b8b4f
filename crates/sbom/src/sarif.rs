//! SARIF 2.1.0 (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/>) for the
//! findings of one image, the format code-scanning dashboards import.
//!
//! One run; one rule per vulnerability ID; one result per finding, located
//! at the file inside the image that declared the package (the dpkg status
//! file, a wheel's `METADATA`, a Go binary) and, logically, at the image.
//! The scan's diagnostics are the invocation's notifications.

use std::collections::{BTreeMap, HashMap};

use model::{
    Diagnostic, DiagnosticLevel, Finding, FixState, ImageInventory, ImageMetadata, Severity,
};
use serde::Serialize;

use crate::findings::{PackageIndex, id_source, is_plain_url};
use crate::{SbomError, ToolInfo, Vulnerabilities, ordered_packages, sorted_diagnostics};

pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The key of each result's `partialFingerprints` entry.
pub const FINGERPRINT_KEY: &str = "shipshapeFinding/v1";

#[derive(Debug, Clone, Serialize)]
pub struct SarifLog {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub version: &'static str,
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub tool: Tool,
    pub invocations: Vec<Invocation>,
    pub results: Vec<SarifResult>,
    pub properties: RunProperties,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub driver: Driver,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub information_uri: Option<String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub short_description: Message,
    pub full_description: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help_uri: Option<String>,
    pub help: Message,
    pub properties: RuleProperties,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleProperties {
    /// The highest CVSS score among the rule's findings, as GitHub code
    /// scanning reads it (`"9.8"`); without any score, a value inside the
    /// band of the rule's severity.
    #[serde(rename = "security-severity")]
    pub security_severity: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: String,
    pub rule_index: usize,
    pub level: &'static str,
    pub message: Message,
    pub locations: Vec<Location>,
    pub partial_fingerprints: BTreeMap<&'static str, String>,
    pub properties: ResultProperties,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_location: Option<PhysicalLocation>,
    pub logical_locations: Vec<LogicalLocation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    pub artifact_location: ArtifactLocation,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactLocation {
    /// The path inside the image, relative to its root, percent-encoded.
    pub uri: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogicalLocation {
    pub name: String,
    pub fully_qualified_name: String,
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultProperties {
    pub package_name: String,
    pub package_type: &'static str,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub purl: Option<String>,
    pub severity: &'static str,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub epss_score: Option<f64>,
    pub kev_date_added: Option<String>,
    pub layer_index: Option<u32>,
    pub layer_diff_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    /// The scan ran to the end; diagnostics say where it is incomplete.
    pub execution_successful: bool,
    pub end_time_utc: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_execution_notifications: Vec<Notification>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub level: &'static str,
    pub message: Message,
    pub descriptor: DescriptorReference,
}

#[derive(Debug, Clone, Serialize)]
pub struct DescriptorReference {
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunProperties {
    pub image_reference: String,
    pub manifest_digest: String,
    pub platform: String,
    pub database_version: Option<String>,
    pub database_updated_at: Option<String>,
}

/// Builds the SARIF log for an image's findings. `timestamp` (RFC 3339,
/// UTC) is when the scan ended.
pub fn log(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    vulnerabilities: &Vulnerabilities<'_>,
    tool: &ToolInfo,
    timestamp: &str,
) -> SarifLog {
    let os = inventory.os.as_ref();
    let packages = PackageIndex::new(ordered_packages(inventory));
    let image = LogicalLocation {
        name: meta.reference.clone(),
        fully_qualified_name: format!("{}@{}", meta.repository, meta.manifest_digest),
        kind: "resource",
    };

    // A vulnerability can be rated differently per package (vendor
    // severities): its rule takes the worst.
    let mut worst: HashMap<&str, (Severity, Option<f64>)> = HashMap::new();
    for finding in vulnerabilities.findings {
        let score = finding
            .cvss
            .as_ref()
            .map(|c| c.base_score)
            .filter(|s| s.is_finite());
        let entry = worst
            .entry(finding.id.as_str())
            .or_insert((finding.severity, score));
        entry.0 = entry.0.min(finding.severity);
        entry.1 = match (entry.1, score) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    let mut rules: Vec<Rule> = Vec::new();
    let mut rule_positions: HashMap<&str, usize> = HashMap::new();
    let mut results = Vec::with_capacity(vulnerabilities.findings.len());
    for finding in vulnerabilities.findings {
        let rule_index = *rule_positions
            .entry(finding.id.as_str())
            .or_insert_with(|| {
                let (severity, score) = worst
                    .get(finding.id.as_str())
                    .copied()
                    .unwrap_or((finding.severity, None));
                rules.push(rule(finding, severity, score));
                rules.len() - 1
            });
        results.push(result(
            finding,
            rule_index,
            packages.purl(finding, os),
            &image,
        ));
    }

    let mut diagnostics = inventory.diagnostics.clone();
    diagnostics.extend_from_slice(vulnerabilities.diagnostics);
    let notifications = sorted_diagnostics(&diagnostics)
        .into_iter()
        .map(notification)
        .collect();

    SarifLog {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: tool.name.clone(),
                    version: tool.version.clone(),
                    information_uri: tool.information_uri.clone().filter(|uri| is_plain_url(uri)),
                    rules,
                },
            },
            invocations: vec![Invocation {
                execution_successful: true,
                end_time_utc: timestamp.to_owned(),
                tool_execution_notifications: notifications,
            }],
            results,
            properties: RunProperties {
                image_reference: meta.reference.clone(),
                manifest_digest: meta.manifest_digest.to_string(),
                platform: meta.platform.to_string(),
                database_version: vulnerabilities.database.map(|d| d.version.clone()),
                database_updated_at: vulnerabilities.database.map(|d| d.updated_at.clone()),
            },
        }],
    }
}

/// The SARIF log as pretty-printed JSON.
pub fn to_json(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    vulnerabilities: &Vulnerabilities<'_>,
    tool: &ToolInfo,
    timestamp: &str,
) -> Result<String, SbomError> {
    Ok(serde_json::to_string_pretty(&log(
        meta,
        inventory,
        vulnerabilities,
        tool,
        timestamp,
    ))?)
}

/// The rule for `first`'s vulnerability ID, rated with the worst severity
/// and highest score among the findings with that ID.
fn rule(first: &Finding, severity: Severity, best_score: Option<f64>) -> Rule {
    let security_severity = match best_score {
        Some(score) => format!("{score:.1}"),
        // GitHub's bands: critical ≥ 9.0, high ≥ 7.0, medium ≥ 4.0, low > 0.
        None => match severity {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "2.0",
            Severity::Negligible | Severity::Unknown => "0.0",
        }
        .to_owned(),
    };
    let title = first.title.as_ref().map(ToString::to_string);
    let description = first.description.as_ref().map(ToString::to_string);
    let short = title.clone().unwrap_or_else(|| first.id.clone());
    let full = description
        .clone()
        .or(title)
        .unwrap_or_else(|| short.clone());
    let help_uri = id_source(&first.id).map(|s| s.url).or_else(|| {
        first
            .references
            .iter()
            .find(|r| is_plain_url(r))
            .map(ToString::to_string)
    });
    let mut help = vec![format!("{} ({})", first.id, severity.as_str())];
    if let Some(description) = description {
        help.push(description);
    }
    if !first.aliases.is_empty() {
        help.push(format!("Also known as: {}", first.aliases.join(", ")));
    }
    help.extend(
        first
            .references
            .iter()
            .filter(|r| is_plain_url(r))
            .map(ToString::to_string),
    );
    Rule {
        id: first.id.clone(),
        short_description: Message { text: short },
        full_description: Message { text: full },
        help_uri,
        help: Message {
            text: help.join("\n"),
        },
        properties: RuleProperties {
            security_severity,
            tags: vec![
                "security".to_owned(),
                "vulnerability".to_owned(),
                severity.as_str().to_owned(),
            ],
        },
    }
}

fn result(
    finding: &Finding,
    rule_index: usize,
    purl: Option<String>,
    image: &LogicalLocation,
) -> SarifResult {
    let package = &finding.package;
    let fix = match &finding.state {
        FixState::Fixed => match &finding.fixed_version {
            Some(fixed) => format!("fixed in {fixed}"),
            None => "fixed".to_owned(),
        },
        FixState::NotFixed => "no fix is available".to_owned(),
        FixState::WontFix(reason) => format!("the distribution will not fix it ({reason})"),
    };
    let layer = package
        .layer_index
        .map(|i| format!(", installed by layer {i}"))
        .unwrap_or_default();
    let text = format!(
        "{} {} is affected by {} ({}){layer}; {fix}.",
        package.name,
        package.installed_version,
        finding.id,
        finding.severity.as_str(),
    );
    let uri = path_uri(&package.path);
    SarifResult {
        rule_id: finding.id.clone(),
        rule_index,
        level: match finding.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Negligible | Severity::Unknown => "note",
        },
        message: Message { text },
        locations: vec![Location {
            physical_location: (!uri.is_empty()).then_some(PhysicalLocation {
                artifact_location: ArtifactLocation { uri },
            }),
            logical_locations: vec![image.clone()],
        }],
        partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, finding.fingerprint.clone())]),
        properties: ResultProperties {
            package_name: package.name.clone(),
            package_type: package.kind.as_str(),
            installed_version: package.installed_version.clone(),
            fixed_version: finding.fixed_version.clone(),
            purl,
            severity: finding.severity.as_str(),
            cvss_score: finding
                .cvss
                .as_ref()
                .map(|c| c.base_score)
                .filter(|s| s.is_finite()),
            cvss_vector: finding.cvss.as_ref().and_then(|c| c.vector.clone()),
            epss_score: finding
                .epss
                .map(|(score, _)| score)
                .filter(|s| s.is_finite()),
            kev_date_added: finding.kev_date_added.clone(),
            layer_index: package.layer_index,
            layer_diff_id: package.layer_diff_id.as_ref().map(ToString::to_string),
        },
    }
}

fn notification(diagnostic: &Diagnostic) -> Notification {
    let mut text = diagnostic.message.clone();
    if let Some(path) = &diagnostic.path {
        text.push_str(&format!(" (path {path})"));
    }
    if let Some(layer) = &diagnostic.layer_diff_id {
        text.push_str(&format!(" (layer {layer})"));
    }
    Notification {
        level: match diagnostic.level {
            DiagnosticLevel::Warning => "warning",
            DiagnosticLevel::Error => "error",
        },
        message: Message { text },
        descriptor: DescriptorReference {
            id: diagnostic.code.clone(),
        },
    }
}

/// A path inside the image as a relative URI reference: leading slashes
/// dropped (the image root is the base), every byte outside RFC 3986's
/// unreserved set, sub-delimiters, `@` and `/` percent-encoded. `:` is
/// encoded too, or `a:b/c` would read as a URI with scheme `a`.
fn path_uri(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for byte in path.trim_start_matches('/').bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_relative_uri_references() {
        let cases = [
            ("var/lib/dpkg/status", "var/lib/dpkg/status"),
            ("/usr/local/bin/app", "usr/local/bin/app"),
            ("//etc/x", "etc/x"),
            (
                "app.jar!/BOOT-INF/lib/a-1.0.jar",
                "app.jar!/BOOT-INF/lib/a-1.0.jar",
            ),
            ("a b/c:d", "a%20b/c%3Ad"),
            ("x?y#z%", "x%3Fy%23z%25"),
            ("名", "%E5%90%8D"),
            ("\u{1b}[0m", "%1B%5B0m"),
            ("", ""),
            ("/", ""),
        ];
        for (path, expected) in cases {
            assert_eq!(path_uri(path), expected, "{path:?}");
        }
    }
}
