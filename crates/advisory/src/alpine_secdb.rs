//! Alpine secdb (`https://secdb.alpinelinux.org/v3.19/main.json`, and the
//! older YAML files), and the same shape as Wolfi and Chainguard publish it:
//!
//! ```yaml
//! distroversion: v3.11
//! reponame: main
//! packages:
//!   - pkg:
//!       name: ansible
//!       secfixes:
//!         2.9.3-r0:
//!           - CVE-2019-14904
//!         "0":
//!           - CVE-2019-1 XSA-207
//! ```
//!
//! Grouping: one [`Advisory`] per vulnerability ID per file (that is, per
//! branch and repository), with one [`AffectedPackage`] per (package, fixed
//! version) that lists it. So a CVE fixed in two packages of `v3.11/main` is
//! one advisory with two affected packages; the same CVE in `v3.10/main` is
//! another advisory with the same ID (a consumer keyed by (source, ID) appends
//! their `affected`). A fixed version `V` → range introduced `0` / fixed `V`
//! and [`DistroStatus::Fixed`]; the key `"0"` → [`DistroStatus::NotAffected`].
//!
//! One entry string may hold several IDs (`CVE-2017-8904 XSA-214`,
//! `CVE-2018-16452 (SMB)`): each CVE in it becomes an advisory and the other
//! IDs (XSA, TALOS, …) its aliases; an entry without a CVE gives one advisory
//! per ID. Sloppy spellings seen in the real files are repaired
//! (`CVE_2019-2426`, `CVE-2017-17434-1` for one part of a CVE,
//! `CVE-2017-8073.patch`); words that are not IDs are skipped and counted.
//!
//! Ecosystem: `Alpine:<distroversion>` (`Alpine:v3.19`); files without a
//! `distroversion` are recognised by their `urlprefix` as `Wolfi`
//! (packages.wolfi.dev) or `Chainguard` (*.cgr.dev), the OSV ecosystem names.
//!
//! YAML is read with every scalar as its original text: an unquoted `1.10`
//! key is the version `1.10`, not the float 1.1.

use std::collections::BTreeMap;
use std::path::Path;

use model::{
    Advisory, AdvisorySource, AffectedPackage, AffectedRange, DistroStatus, RangeEvent, RangeKind,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::capped_read::{MAX_DOCUMENT_BYTES, read_file_capped};
use crate::file_walk::{files_under, has_extension};
use crate::{ImportError, ImportReport};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSecdb<P> {
    distroversion: Option<String>,
    reponame: Option<String>,
    urlprefix: Option<String>,
    packages: Vec<P>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPackageEntry {
    pkg: RawPackage,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPackage {
    name: String,
    /// Fixed version → entries; an empty key body (`1.0-r1:`) reads as `None`.
    secfixes: BTreeMap<String, Option<Vec<String>>>,
}

/// Reads a secdb file (at most [`MAX_DOCUMENT_BYTES`]) into `sink`.
pub fn import_alpine_secdb_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let bytes = read_file_capped(path, MAX_DOCUMENT_BYTES)?;
    for advisory in parse_alpine_secdb(&bytes, &path.display().to_string(), report)? {
        sink(advisory);
    }
    Ok(())
}

/// Imports every `.yaml`, `.yml` and `.json` secdb file under `root`
/// (`v3.19/main.json`, …); a file that cannot be read as a whole is counted
/// in `report` and the walk goes on.
pub fn import_alpine_secdb_dir(
    root: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let wanted = |path: &Path| has_extension(path, &["yaml", "yml", "json"]);
    for file in files_under(root, report, &wanted)? {
        if let Err(error) = import_alpine_secdb_file(&file, report, sink) {
            report.skip(file.display().to_string(), error.to_string());
        }
    }
    Ok(())
}

/// Parses one secdb document, JSON or YAML (told apart by the first
/// character). Fails only when the document as a whole is unreadable or does
/// not say which distribution it is for; bad packages are skipped and counted.
pub fn parse_alpine_secdb(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<Vec<Advisory>, ImportError> {
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(ImportError::TooLarge {
            what: location.to_owned(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let (header, packages) = if first == Some(&b'{') {
        read_json(bytes, location, report)?
    } else {
        read_yaml(bytes, location, report)?
    };
    let ecosystem = ecosystem_of(&header).ok_or_else(|| ImportError::Malformed {
        what: location.to_owned(),
        format: "secdb",
        message: "neither distroversion nor a known urlprefix names the distribution".to_owned(),
    })?;
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    for (index, package) in packages.into_iter().enumerate() {
        let package_location = format!("{location}: packages[{index}]");
        let name = package.name.trim();
        if name.is_empty() {
            report.skip(package_location, "package without a name");
            continue;
        }
        for (fixed_version, entries) in package.secfixes {
            let fixed_version = fixed_version.trim();
            let entry_location = format!("{package_location} {name} {fixed_version}");
            if fixed_version.is_empty() {
                report.skip(entry_location, "empty fixed version");
                continue;
            }
            for entry in entries.unwrap_or_default() {
                let ids = match parse_entry(&entry) {
                    Ok(ids) => ids,
                    Err(reason) => {
                        report.skip(entry_location.clone(), reason);
                        continue;
                    }
                };
                for (id, aliases) in ids {
                    let advisory = by_id.entry(id.clone()).or_insert_with(|| new_advisory(id));
                    for alias in aliases {
                        if !advisory.aliases.contains(&alias) {
                            advisory.aliases.push(alias);
                        }
                    }
                    let affected = affected_package(&ecosystem, name, fixed_version);
                    if !advisory.affected.contains(&affected) {
                        report.count_ecosystem(&ecosystem);
                        advisory.affected.push(affected);
                    }
                }
            }
        }
    }
    report.imported += by_id.len() as u64;
    Ok(by_id.into_values().collect())
}

type Parsed = (RawSecdb<()>, Vec<RawPackage>);

fn header_only<P>(raw: RawSecdb<P>) -> RawSecdb<()> {
    RawSecdb {
        distroversion: raw.distroversion,
        reponame: raw.reponame,
        urlprefix: raw.urlprefix,
        packages: Vec::new(),
    }
}

fn read_json(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<Parsed, ImportError> {
    // Each package captured raw, so an ill-typed one is skipped alone.
    let raw: RawSecdb<Box<RawValue>> =
        serde_json::from_slice(bytes).map_err(|error| ImportError::Malformed {
            what: location.to_owned(),
            format: "secdb JSON",
            message: error.to_string(),
        })?;
    let mut packages = Vec::with_capacity(raw.packages.len());
    for (index, value) in raw.packages.iter().enumerate() {
        match serde_json::from_str::<RawPackageEntry>(value.get()) {
            Ok(entry) => packages.push(entry.pkg),
            Err(error) => report.skip(format!("{location}: packages[{index}]"), error.to_string()),
        }
    }
    Ok((header_only(raw), packages))
}

fn read_yaml(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<Parsed, ImportError> {
    let malformed = |error: serde_yaml_ng::Error| ImportError::Malformed {
        what: location.to_owned(),
        format: "secdb YAML",
        message: error.to_string(),
    };
    // Typed first: it keeps every scalar's original text.
    match serde_yaml_ng::from_slice::<RawSecdb<RawPackageEntry>>(bytes) {
        Ok(raw) => {
            let RawSecdb {
                distroversion,
                reponame,
                urlprefix,
                packages,
            } = raw;
            let header = RawSecdb {
                distroversion,
                reponame,
                urlprefix,
                packages: Vec::new(),
            };
            Ok((
                header,
                packages.into_iter().map(|entry| entry.pkg).collect(),
            ))
        }
        Err(_) => {
            // Some package is ill-typed: go through the generic tree to keep
            // the others. (The tree holds numbers as numbers, so an unquoted
            // float-like version loses its text in this rare case.)
            let raw: RawSecdb<serde_yaml_ng::Value> =
                serde_yaml_ng::from_slice(bytes).map_err(malformed)?;
            let mut packages = Vec::with_capacity(raw.packages.len());
            for (index, value) in raw.packages.iter().enumerate() {
                match RawPackageEntry::deserialize(scalars_as_strings(value.clone())) {
                    Ok(entry) => packages.push(entry.pkg),
                    Err(error) => {
                        report.skip(format!("{location}: packages[{index}]"), error.to_string())
                    }
                }
            }
            Ok((header_only(raw), packages))
        }
    }
}

/// Turns the tree's numbers and booleans (keys included) back into strings,
/// so a package with an unquoted numeric version is kept on the fallback path.
fn scalars_as_strings(value: serde_yaml_ng::Value) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value;
    match value {
        Value::Number(number) => Value::String(number.to_string()),
        Value::Bool(flag) => Value::String(flag.to_string()),
        Value::Sequence(items) => {
            Value::Sequence(items.into_iter().map(scalars_as_strings).collect())
        }
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .map(|(key, value)| (scalars_as_strings(key), scalars_as_strings(value)))
                .collect(),
        ),
        Value::Tagged(tagged) => scalars_as_strings(tagged.value),
        other => other,
    }
}

fn ecosystem_of(header: &RawSecdb<()>) -> Option<String> {
    if let Some(version) = header.distroversion.as_deref().map(str::trim)
        && !version.is_empty()
    {
        // The secdb writes `v3.19`; OSV and os-release matching expect the `v`.
        let version = if version.starts_with(|c: char| c.is_ascii_digit()) {
            format!("v{version}")
        } else {
            version.to_owned()
        };
        return Some(format!("Alpine:{version}"));
    }
    let prefix = header.urlprefix.as_deref()?.to_ascii_lowercase();
    let host = prefix
        .split("://")
        .nth(1)
        .unwrap_or(&prefix)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if host == "wolfi.dev" || host.ends_with(".wolfi.dev") {
        Some("Wolfi".to_owned())
    } else if host == "cgr.dev" || host.ends_with(".cgr.dev") {
        Some("Chainguard".to_owned())
    } else {
        None
    }
}

fn new_advisory(id: String) -> Advisory {
    Advisory {
        related: Vec::new(),
        id,
        source: AdvisorySource::AlpineSecdb,
        aliases: Vec::new(),
        upstream: Vec::new(),
        summary: None,
        details: None,
        published: None,
        modified: None,
        withdrawn: None,
        severity: Vec::new(),
        database_severity: None,
        affected: Vec::new(),
        references: Vec::new(),
    }
}

fn affected_package(ecosystem: &str, name: &str, fixed_version: &str) -> AffectedPackage {
    let (ranges, status) = if fixed_version == "0" {
        (Vec::new(), DistroStatus::NotAffected)
    } else {
        (
            vec![AffectedRange {
                kind: RangeKind::Ecosystem,
                events: vec![
                    RangeEvent::Introduced("0".to_owned()),
                    RangeEvent::Fixed(fixed_version.to_owned()),
                ],
            }],
            DistroStatus::Fixed,
        )
    };
    AffectedPackage {
        severity_scores: Vec::new(),
        unaffected_requirements: Vec::new(),
        ecosystem: ecosystem.to_owned(),
        name: name.to_owned(),
        purl: None,
        ranges,
        versions: Vec::new(),
        distro_status: Some(status),
        severity: None,
    }
}

/// Longest entry string considered; real ones are under a hundred bytes.
const MAX_ENTRY_CHARS: usize = 4096;

/// One secfixes entry → (advisory ID, its aliases) pairs.
fn parse_entry(entry: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    if entry.len() > MAX_ENTRY_CHARS {
        return Err(format!("entry longer than {MAX_ENTRY_CHARS} bytes"));
    }
    let without_notes = strip_parenthesised(entry);
    let words: Vec<&str> = without_notes
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|word| !word.is_empty())
        .collect();
    let mut cves: Vec<String> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    let mut index = 0;
    while index < words.len() {
        let word = words[index];
        index += 1;
        // `CVE 2018-16859`: the ID split by a space.
        let joined;
        let word = if word.eq_ignore_ascii_case("CVE") && index < words.len() {
            joined = format!("CVE-{}", words[index]);
            index += 1;
            joined.as_str()
        } else {
            word
        };
        match normalise_id(word) {
            Some(id) if id.starts_with("CVE-") => push_unique(&mut cves, id),
            Some(id) => push_unique(&mut others, id),
            // Placeholders (`CVE-????-?????` before the CVE was assigned) and
            // names (`XPTI`) next to real IDs carry nothing to match on.
            None => {}
        }
    }
    if cves.is_empty() && others.is_empty() {
        return Err(format!("no vulnerability ID in {entry:?}"));
    }
    if cves.is_empty() {
        return Ok(others.into_iter().map(|id| (id, Vec::new())).collect());
    }
    Ok(cves.into_iter().map(|id| (id, others.clone())).collect())
}

fn push_unique(ids: &mut Vec<String>, id: String) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

/// Drops `(…)` notes; an unclosed `(` drops the rest.
fn strip_parenthesised(text: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `CVE-2019-1234`, `XSA-207`, `TALOS-2017-0499`, `GHSA-xxxx-…`, with the
/// sloppy CVE spellings of the real files repaired; `None` for other words.
fn normalise_id(word: &str) -> Option<String> {
    let upper = word.to_ascii_uppercase();
    if let Some(rest) = upper
        .strip_prefix("CVE-")
        .or_else(|| upper.strip_prefix("CVE_"))
    {
        let (year, rest) = rest.split_once('-')?;
        let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if year.len() != 4 || !year.chars().all(|c| c.is_ascii_digit()) || number.len() < 4 {
            return None;
        }
        return Some(format!("CVE-{year}-{number}"));
    }
    let (prefix, rest) = word.split_once('-')?;
    // XSA-207, TALOS-2017-0499, GHSA-…, wnpa-sec-2017-18 (Wireshark).
    let id_like = prefix.len() >= 2
        && prefix.chars().all(|c| c.is_ascii_alphabetic())
        && !prefix.eq_ignore_ascii_case("CVE")
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && rest.chars().any(|c| c.is_ascii_digit());
    id_like.then(|| word.to_owned())
}

// Expected-value tables spell their row types out where they are read.
#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn entries_table() {
        let ok = |pairs: &[(&str, &[&str])]| -> Result<Vec<(String, Vec<String>)>, ()> {
            Ok(pairs
                .iter()
                .map(|(id, aliases)| {
                    (
                        id.to_string(),
                        aliases.iter().map(|a| a.to_string()).collect(),
                    )
                })
                .collect())
        };
        let table: Vec<(&str, Result<Vec<(String, Vec<String>)>, ()>)> = vec![
            ("CVE-2019-14904", ok(&[("CVE-2019-14904", &[])])),
            (" CVE-2016-6263", ok(&[("CVE-2016-6263", &[])])),
            ("CVE-2017-11610  ", ok(&[("CVE-2017-11610", &[])])),
            (
                "CVE-2017-8904 XSA-214",
                ok(&[("CVE-2017-8904", &["XSA-214"])]),
            ),
            (
                "CVE-2017-14450 TALOS-2017-0499",
                ok(&[("CVE-2017-14450", &["TALOS-2017-0499"])]),
            ),
            ("XSA-207", ok(&[("XSA-207", &[])])),
            (
                "CVE-2019-1000 CVE-2019-2000",
                ok(&[("CVE-2019-1000", &[]), ("CVE-2019-2000", &[])]),
            ),
            (
                "CVE-2019-1000, CVE-2019-2000",
                ok(&[("CVE-2019-1000", &[]), ("CVE-2019-2000", &[])]),
            ),
            ("CVE_2019-2426", ok(&[("CVE-2019-2426", &[])])),
            ("CVE-2017-17434-1", ok(&[("CVE-2017-17434", &[])])),
            ("CVE-2017-8073.patch", ok(&[("CVE-2017-8073", &[])])),
            ("cve-2020-1234", ok(&[("CVE-2020-1234", &[])])),
            ("CVE-2018-16452 (SMB)", ok(&[("CVE-2018-16452", &[])])),
            (
                "CVE-2018-10105 (SMB - too unreliably reproduced, SMB printing disabled)",
                ok(&[("CVE-2018-10105", &[])]),
            ),
            ("CVE-2018-1 (unclosed", Err(())),
            ("", Err(())),
            ("   ", Err(())),
            ("see upstream", Err(())),
            (
                "CVE-2017-5753 CVE-2017-5715 XSA-254 XPTI",
                ok(&[
                    ("CVE-2017-5753", &["XSA-254"]),
                    ("CVE-2017-5715", &["XSA-254"]),
                ]),
            ),
            ("CVE-????-?????  XSA-295", ok(&[("XSA-295", &[])])),
            ("CVE 2018-16859", ok(&[("CVE-2018-16859", &[])])),
            ("wnpa-sec-2017-18", ok(&[("wnpa-sec-2017-18", &[])])),
            ("CVE-????-?????", Err(())),
            ("CVE", Err(())),
            ("CVE-19-1234", Err(())),
            ("CVE-2019-12", Err(())),
            ("CVE-2019", Err(())),
            ("a-12", Err(())),
            ("ab-cd", Err(())),
        ];
        for (entry, expected) in table {
            let got = parse_entry(entry).map_err(|_| ());
            assert_eq!(got, expected, "{entry:?}");
        }
        assert!(parse_entry(&"CVE-2019-1234 ".repeat(1000)).is_err());
    }

    const YAML: &str = r#"---
distroversion: v3.11
reponame: main
archs:
  - x86_64
packages:
  - pkg:
      name: xen
      secfixes:
        4.9.0-r0:
          - CVE-2017-8904 XSA-214
          - XSA-207
        1.10:
          - CVE-2020-0001
        "0":
          - CVE-2016-0001
  - pkg:
      name: xen-tools
      secfixes:
        4.9.0-r1:
          - CVE-2017-8904
        2.0-r0:
"#;

    fn summary(
        advisories: &[Advisory],
    ) -> Vec<(
        String,
        Vec<String>,
        Vec<(String, String, Option<DistroStatus>, Vec<RangeEvent>)>,
    )> {
        advisories
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    a.aliases.clone(),
                    a.affected
                        .iter()
                        .map(|p| {
                            (
                                p.ecosystem.clone(),
                                p.name.clone(),
                                p.distro_status.clone(),
                                p.ranges.iter().flat_map(|r| r.events.clone()).collect(),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn yaml_file_groups_by_id_and_keeps_version_text() {
        let mut report = ImportReport::default();
        let got = parse_alpine_secdb(YAML.as_bytes(), "main.yaml", &mut report).unwrap();
        let fixed = |v: &str| {
            vec![
                RangeEvent::Introduced("0".to_owned()),
                RangeEvent::Fixed(v.to_owned()),
            ]
        };
        let eco = "Alpine:v3.11".to_owned();
        assert_eq!(
            summary(&got),
            vec![
                (
                    "CVE-2016-0001".to_owned(),
                    vec![],
                    vec![(
                        eco.clone(),
                        "xen".to_owned(),
                        Some(DistroStatus::NotAffected),
                        vec![]
                    )]
                ),
                (
                    "CVE-2017-8904".to_owned(),
                    vec!["XSA-214".to_owned()],
                    vec![
                        (
                            eco.clone(),
                            "xen".to_owned(),
                            Some(DistroStatus::Fixed),
                            fixed("4.9.0-r0")
                        ),
                        (
                            eco.clone(),
                            "xen-tools".to_owned(),
                            Some(DistroStatus::Fixed),
                            fixed("4.9.0-r1")
                        ),
                    ]
                ),
                (
                    "CVE-2020-0001".to_owned(),
                    vec![],
                    vec![(
                        eco.clone(),
                        "xen".to_owned(),
                        Some(DistroStatus::Fixed),
                        fixed("1.10")
                    )]
                ),
                (
                    "XSA-207".to_owned(),
                    vec![],
                    vec![(
                        eco.clone(),
                        "xen".to_owned(),
                        Some(DistroStatus::Fixed),
                        fixed("4.9.0-r0")
                    )]
                ),
            ]
        );
        assert_eq!(report.imported, 4);
        assert_eq!(report.skipped, 0, "{report:?}");
        assert_eq!(report.ecosystems["Alpine:v3.11"], 5);
        assert!(got.iter().all(|a| a.source == AdvisorySource::AlpineSecdb));
    }

    #[test]
    fn json_and_yaml_of_the_same_data_agree() {
        let json = r#"{"distroversion": "v3.11", "reponame": "main", "packages": [
            {"pkg": {"name": "xen", "secfixes": {"4.9.0-r0": ["CVE-2017-8904 XSA-214", "XSA-207"],
                "1.10": ["CVE-2020-0001"], "0": ["CVE-2016-0001"]}}},
            {"pkg": {"name": "xen-tools", "secfixes": {"4.9.0-r1": ["CVE-2017-8904"], "2.0-r0": null}}}]}"#;
        let mut json_report = ImportReport::default();
        let mut yaml_report = ImportReport::default();
        let from_json = parse_alpine_secdb(json.as_bytes(), "j", &mut json_report).unwrap();
        let from_yaml = parse_alpine_secdb(YAML.as_bytes(), "y", &mut yaml_report).unwrap();
        assert_eq!(from_json, from_yaml);
        assert_eq!(json_report, yaml_report);
    }

    #[test]
    fn bad_packages_are_skipped_alone() {
        // (document, advisories, skipped)
        let table: &[(&str, usize, u64)] = &[
            (
                r#"{"distroversion": "v3.19", "packages": [{"pkg": {"name": ["x"]}}, {"pkg": {"name": "ok", "secfixes": {"1-r0": ["CVE-2024-0001"]}}}]}"#,
                1,
                1,
            ),
            (
                r#"{"distroversion": "v3.19", "packages": [{"pkg": {"name": "", "secfixes": {"1-r0": ["CVE-2024-0001"]}}}, 5]}"#,
                0,
                2,
            ),
            (
                r#"{"distroversion": "v3.19", "packages": [{"pkg": {"name": "a", "secfixes": {"1-r0": ["nonsense", "CVE-2024-0002"], " ": ["CVE-2024-0003"]}}}]}"#,
                1,
                2,
            ),
            (
                "distroversion: v3.19\npackages:\n  - pkg:\n      name: [a, b]\n  - pkg:\n      name: ok\n      secfixes:\n        1-r0:\n          - CVE-2024-0001\n",
                1,
                1,
            ),
            (
                "distroversion: v3.19\npackages:\n  - pkg:\n      name: a\n      secfixes: [1, 2]\n  - 7\n",
                0,
                2,
            ),
            // Next to a bad package, one with numeric versions is still kept.
            (
                "distroversion: v3.19\npackages:\n  - pkg:\n      name: [a]\n  - pkg:\n      name: b\n      secfixes:\n        2:\n          - CVE-2024-0001\n        1.5:\n          - CVE-2024-0002\n",
                2,
                1,
            ),
            ("distroversion: v3.19\n", 0, 0),
            ("distroversion: 3.19\npackages: []\n", 0, 0),
        ];
        for (document, advisories, skipped) in table {
            let mut report = ImportReport::default();
            let got = parse_alpine_secdb(document.as_bytes(), "t", &mut report)
                .unwrap_or_else(|e| panic!("{document}: {e}"));
            assert_eq!(got.len(), *advisories, "{document}: {got:?}");
            assert_eq!(report.skipped, *skipped, "{document}: {report:?}");
        }
    }

    #[test]
    fn whole_document_failures() {
        let table: &[&str] = &[
            "{",
            "{\"packages\": 5, \"distroversion\": \"v3.1\"}",
            "packages: [\n",
            "- a\n- b\n",
            // No way to tell which distribution the fixes are for.
            "{\"packages\": []}",
            "{\"urlprefix\": \"https://example.com\", \"packages\": []}",
            "reponame: main\npackages: []\n",
        ];
        for document in table {
            let mut report = ImportReport::default();
            let got = parse_alpine_secdb(document.as_bytes(), "t", &mut report);
            assert!(
                matches!(got, Err(ImportError::Malformed { .. })),
                "{document}: {got:?}"
            );
        }
    }

    #[test]
    fn ecosystem_from_header() {
        let table: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            (Some("v3.19"), None, Some("Alpine:v3.19")),
            (Some("3.19"), None, Some("Alpine:v3.19")),
            (Some("edge"), None, Some("Alpine:edge")),
            (None, Some("https://packages.wolfi.dev"), Some("Wolfi")),
            (
                None,
                Some("https://packages.cgr.dev/os"),
                Some("Chainguard"),
            ),
            (None, Some("https://libraries.cgr.dev"), Some("Chainguard")),
            (None, Some("https://evilcgr.dev"), None),
            (None, Some("https://example.com/wolfi.dev"), None),
            (Some(" "), None, None),
            (None, None, None),
        ];
        for (distroversion, urlprefix, expected) in table {
            let header = RawSecdb {
                distroversion: distroversion.map(str::to_owned),
                reponame: None,
                urlprefix: urlprefix.map(str::to_owned),
                packages: Vec::new(),
            };
            assert_eq!(
                ecosystem_of(&header).as_deref(),
                *expected,
                "{distroversion:?} {urlprefix:?}"
            );
        }
    }
}
