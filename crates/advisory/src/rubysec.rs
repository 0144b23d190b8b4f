//! RubySec advisories (`gems/<gem>/<ID>.yml`, one YAML record per file).
//!
//! RubySec publishes no ranges: a gem is affected unless its version satisfies
//! one of the `patched_versions` or `unaffected_versions` requirement strings
//! (RubyGems syntax, e.g. `~> 5.2.4, >= 5.2.4.3`). Each record becomes one
//! affected package with a range from `0` and those requirements, kept as
//! written, as [`UnaffectedRequirement`]s for the RubyGems matcher to evaluate.
//!
//! The ID is `CVE-…` when the record names a CVE, else `GHSA-…`, else the file
//! stem (`OSVDB-…`); the other identifiers become aliases. CVSS fields are bare
//! base scores, kept as `CVSS_V{2,3,4}_SCORE` severities.

use crate::input::{self, MAX_FILE_BYTES};
use crate::report::{ImportError, ImportReport};
use model::{
    Advisory, AdvisoryReference, AdvisorySource, AffectedPackage, AffectedRange, RangeEvent,
    RangeKind, RequirementKind, SeverityScore, UnaffectedRequirement,
};
use serde::Deserialize;
use std::path::Path;

pub const RUBYGEMS_ECOSYSTEM: &str = "RubyGems";

/// Every scalar is read into a `String`, which gives the text as written:
/// `cvss_v3: 9.8` is `"9.8"`, `osvdb: 127779` is `"127779"`, `date: 2017-10-24`
/// is `"2017-10-24"`.
#[derive(Debug, Deserialize)]
struct RawRubySec {
    #[serde(default)]
    gem: Option<String>,
    #[serde(default)]
    cve: Option<String>,
    #[serde(default)]
    ghsa: Option<String>,
    #[serde(default)]
    osvdb: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    cvss_v2: Option<String>,
    #[serde(default)]
    cvss_v3: Option<String>,
    #[serde(default)]
    cvss_v4: Option<String>,
    #[serde(default)]
    patched_versions: Option<Vec<String>>,
    #[serde(default)]
    unaffected_versions: Option<Vec<String>>,
    #[serde(default)]
    related: Option<RawRelated>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRelated {
    #[serde(default)]
    url: Option<Vec<String>>,
}

/// Parses one RubySec YAML advisory. `location` is the file's path: its stem
/// is the ID of last resort. A malformed record is skipped and counted.
pub fn parse_rubysec(bytes: &[u8], location: &str, report: &mut ImportReport) -> Vec<Advisory> {
    let raw = match serde_yaml_ng::from_slice::<RawRubySec>(bytes) {
        Ok(raw) => raw,
        Err(error) => {
            report.skip(location, format!("malformed RubySec YAML: {error}"));
            return Vec::new();
        }
    };
    let stem = Path::new(location)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    match convert(raw, stem) {
        Ok(advisory) => {
            report.imported += 1;
            report.count_ecosystem(RUBYGEMS_ECOSYSTEM);
            vec![advisory]
        }
        Err(why) => {
            report.skip(location, why);
            Vec::new()
        }
    }
}

fn convert(raw: RawRubySec, stem: &str) -> Result<Advisory, String> {
    let gem = nonempty(raw.gem).ok_or("advisory names no gem")?;
    let cve = nonempty(raw.cve).map(|id| prefixed("CVE-", &id));
    let ghsa = nonempty(raw.ghsa).map(|id| prefixed("GHSA-", &id));
    let osvdb = nonempty(raw.osvdb).map(|id| prefixed("OSVDB-", &id));
    let stem = Some(stem.trim().to_owned()).filter(|stem| !stem.is_empty());

    let mut identifiers = Vec::new();
    for id in [cve, ghsa, osvdb, stem].into_iter().flatten() {
        if !identifiers.contains(&id) {
            identifiers.push(id);
        }
    }
    if identifiers.is_empty() {
        return Err("advisory has no CVE, GHSA or file name to identify it".into());
    }
    let id = identifiers.remove(0);

    let severity = [
        ("CVSS_V4_SCORE", raw.cvss_v4),
        ("CVSS_V3_SCORE", raw.cvss_v3),
        ("CVSS_V2_SCORE", raw.cvss_v2),
    ]
    .into_iter()
    .filter_map(|(kind, score)| {
        Some(SeverityScore {
            kind: kind.to_owned(),
            score: nonempty(score)?,
        })
    })
    .collect();

    let requirements = |kind, list: Option<Vec<String>>| {
        list.unwrap_or_default()
            .into_iter()
            .filter_map(move |requirement| {
                Some(UnaffectedRequirement {
                    kind,
                    requirement: nonempty(Some(requirement))?,
                })
            })
    };
    let unaffected_requirements = requirements(RequirementKind::Patched, raw.patched_versions)
        .chain(requirements(
            RequirementKind::Unaffected,
            raw.unaffected_versions,
        ))
        .collect();

    let mut references = Vec::new();
    if let Some(url) = nonempty(raw.url) {
        references.push(AdvisoryReference {
            kind: "ADVISORY".to_owned(),
            url,
        });
    }
    for url in raw.related.unwrap_or_default().url.unwrap_or_default() {
        if let Some(url) = nonempty(Some(url))
            && !references.iter().any(|seen| seen.url == url)
        {
            references.push(AdvisoryReference {
                kind: "WEB".to_owned(),
                url,
            });
        }
    }

    Ok(Advisory {
        id,
        source: AdvisorySource::RubySec,
        aliases: identifiers,
        upstream: Vec::new(),
        related: Vec::new(),
        summary: nonempty(raw.title),
        details: nonempty(raw.description),
        published: nonempty(raw.date),
        modified: None,
        withdrawn: None,
        severity,
        database_severity: None,
        affected: vec![AffectedPackage {
            ecosystem: RUBYGEMS_ECOSYSTEM.to_owned(),
            purl: Some(format!("pkg:gem/{gem}")),
            name: gem,
            ranges: vec![AffectedRange {
                kind: RangeKind::Ecosystem,
                events: vec![RangeEvent::Introduced("0".to_owned())],
            }],
            versions: Vec::new(),
            distro_status: None,
            severity: None,
            severity_scores: Vec::new(),
            unaffected_requirements,
        }],
        references,
    })
}

/// RubySec writes `cve: 2008-7248` and `ghsa: 8fqx-7pv4-3jwm` without the
/// scheme prefix; some records include it anyway.
fn prefixed(prefix: &str, id: &str) -> String {
    match (id.get(..prefix.len()), id.get(prefix.len()..)) {
        (Some(head), Some(rest)) if head.eq_ignore_ascii_case(prefix) => format!("{prefix}{rest}"),
        _ => format!("{prefix}{id}"),
    }
}

fn nonempty(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// Imports every `.yml`/`.yaml` advisory under `root` (the repository root or
/// its `gems/` directory), handing each to `sink` as it is read. In a
/// repository checkout only `gems/` is walked: its other YAML files (CI
/// workflows, `rubies/` interpreter advisories) are not gem advisories.
pub fn import_rubysec_dir(
    root: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let gems = root.join("gems");
    let root = if gems.is_dir() { gems.as_path() } else { root };
    for path in input::files_with_extensions(root, &["yml", "yaml"], report)? {
        let location = path.display().to_string();
        match input::read_file_capped(&path, MAX_FILE_BYTES) {
            Ok(bytes) => parse_rubysec(&bytes, &location, report)
                .into_iter()
                .for_each(&mut *sink),
            Err(error) => report.skip(location, error.to_string()),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "rubysec_tests.rs"]
mod tests;
