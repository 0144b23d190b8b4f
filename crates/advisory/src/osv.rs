//! OSV records (<https://ossf.github.io/osv-schema/>), as JSON (one file per
//! advisory, a JSON array of them, a directory tree, or the bulk `all.zip`)
//! and as YAML (the PyPA advisory database writes the same schema as YAML).
//!
//! The raw serde types below mirror the schema loosely (everything optional,
//! unknown fields ignored); [`convert`] turns one into a [`model::Advisory`]
//! and rejects what the schema forbids (no ID, an event that is not exactly
//! one of introduced/fixed/last_affected/limit, an unknown range type).

use crate::input::{self, MAX_FILE_BYTES, ZipLimits};
use crate::report::{ImportError, ImportReport};
use model::{
    Advisory, AdvisoryReference, AdvisorySource, AffectedPackage, AffectedRange, DistroStatus,
    RangeEvent, RangeKind, SeverityScore,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::fs;
use std::io::{Read, Seek};
use std::path::Path;

/// Ecosystems (the part before the first `:`) whose packages are OS
/// distribution packages. Their OSV records say "no fix yet" by publishing a
/// range with only an `introduced` event, so they get a [`DistroStatus`].
const DISTRO_ECOSYSTEMS: &[&str] = &[
    "AlmaLinux",
    "Alpaquita",
    "Alpine",
    "Azure Linux",
    "BellSoft Hardened Containers",
    "Chainguard",
    "CleanStart",
    "Debian",
    "Echo",
    "Mageia",
    "MinimOS",
    "openEuler",
    "openSUSE",
    "Photon OS",
    "Red Hat",
    "Rocky Linux",
    "SUSE",
    "Ubuntu",
    "Wolfi",
];

/// Severity `type`s that are scoring-system vectors; any other type (Ubuntu's
/// `Ubuntu` with `low`/`medium`/…) is a vendor's severity word.
const VECTOR_SEVERITY_TYPES: &[&str] = &["CVSS_V2", "CVSS_V3", "CVSS_V4"];

#[derive(Debug, Deserialize)]
struct RawRecord {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    upstream: Option<Vec<String>>,
    #[serde(default)]
    related: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    affected: Option<Vec<RawAffected>>,
    #[serde(default)]
    references: Option<Vec<RawReference>>,
    #[serde(default)]
    database_specific: Option<SeverityHolder>,
}

#[derive(Debug, Deserialize)]
struct RawSeverity {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    score: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    ranges: Option<Vec<RawRange>>,
    #[serde(default)]
    versions: Option<Vec<String>>,
    #[serde(default)]
    ecosystem_specific: Option<SeverityHolder>,
    #[serde(default)]
    database_specific: Option<SeverityHolder>,
}

#[derive(Debug, Deserialize)]
struct RawPackage {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawRange {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    events: Option<Vec<RawEvent>>,
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawReference {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// A free-form `*_specific` object, of which only a string `severity` (or,
/// in Debian's records, `urgency`) matters. Sources put anything in these
/// objects (RustSec a CVSS vector or `null`, Go symbol lists), so a
/// non-string value is ignored, not an error.
#[derive(Debug, Default, Deserialize)]
struct SeverityHolder {
    #[serde(default)]
    severity: Option<LooseString>,
    #[serde(default)]
    urgency: Option<LooseString>,
}

#[derive(Debug)]
struct LooseString(Option<String>);

impl<'de> Deserialize<'de> for LooseString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = LooseString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LooseString, E> {
                Ok(LooseString(Some(v.to_owned())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<LooseString, E> {
                Ok(LooseString(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<LooseString, E> {
                Ok(LooseString(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<LooseString, E> {
                Ok(LooseString(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<LooseString, E> {
                Ok(LooseString(None))
            }
            fn visit_unit<E>(self) -> Result<LooseString, E> {
                Ok(LooseString(None))
            }
            fn visit_none<E>(self) -> Result<LooseString, E> {
                Ok(LooseString(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<LooseString, D::Error> {
                LooseString::deserialize(deserializer)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LooseString, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LooseString(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LooseString, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LooseString(None))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl SeverityHolder {
    fn severity(self) -> Option<String> {
        let word = |loose: Option<LooseString>| {
            loose
                .and_then(|loose| loose.0)
                .map(|word| word.trim().to_owned())
                .filter(|word| !word.is_empty())
        };
        word(self.severity).or_else(|| word(self.urgency))
    }
}

/// A JSON array of records in which each element is parsed on its own, so
/// one bad record does not take its neighbours down with it. Only one
/// element's DOM is held at a time.
struct LenientRecords(Vec<Result<RawRecord, String>>);

impl<'de> Deserialize<'de> for LenientRecords {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = LenientRecords;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of OSV records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LenientRecords, A::Error> {
                let mut records = Vec::new();
                while let Some(value) = seq.next_element::<serde_json::Value>()? {
                    records.push(RawRecord::deserialize(value).map_err(|error| error.to_string()));
                }
                Ok(LenientRecords(records))
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

/// Why one record was rejected.
#[derive(Debug, PartialEq, Eq)]
struct Rejected(String);

/// Converts one raw record. Affected entries without a package (GIT-only
/// entries naming a repository) are dropped: nothing in an image inventory
/// can match them, and the rest of the record is still sound.
fn convert(raw: RawRecord, report: &mut ImportReport) -> Result<Advisory, Rejected> {
    let id = nonempty(raw.id).ok_or_else(|| Rejected("record has no id".into()))?;
    let severity = convert_severities(raw.severity.unwrap_or_default());
    let database_severity = raw
        .database_specific
        .and_then(SeverityHolder::severity)
        .or_else(|| vendor_severity_word(&severity));

    let mut affected = Vec::new();
    for (index, entry) in raw.affected.unwrap_or_default().into_iter().enumerate() {
        if let Some(package) = convert_affected(entry)
            .map_err(|Rejected(why)| Rejected(format!("affected[{index}]: {why}")))?
        {
            affected.push(package);
        }
    }
    for package in &affected {
        report.count_ecosystem(&package.ecosystem);
    }

    let references = raw
        .references
        .unwrap_or_default()
        .into_iter()
        .filter_map(|reference| {
            let url = nonempty(reference.url)?;
            Some(AdvisoryReference {
                kind: nonempty(reference.kind).unwrap_or_else(|| "WEB".to_owned()),
                url,
            })
        })
        .collect();

    Ok(Advisory {
        id,
        source: AdvisorySource::Osv,
        aliases: ids(raw.aliases),
        upstream: ids(raw.upstream),
        related: ids(raw.related),
        summary: nonempty(raw.summary),
        details: nonempty(raw.details),
        published: nonempty(raw.published),
        modified: nonempty(raw.modified),
        withdrawn: nonempty(raw.withdrawn),
        severity,
        database_severity,
        affected,
        references,
    })
}

fn convert_affected(raw: RawAffected) -> Result<Option<AffectedPackage>, Rejected> {
    let Some(package) = raw.package else {
        return Ok(None);
    };
    let ecosystem =
        nonempty(package.ecosystem).ok_or_else(|| Rejected("package has no ecosystem".into()))?;
    let name = nonempty(package.name).ok_or_else(|| Rejected("package has no name".into()))?;

    let mut ranges = Vec::new();
    for (index, range) in raw.ranges.unwrap_or_default().into_iter().enumerate() {
        ranges.push(
            convert_range(range)
                .map_err(|Rejected(why)| Rejected(format!("ranges[{index}]: {why}")))?,
        );
    }
    let versions: Vec<String> = raw
        .versions
        .unwrap_or_default()
        .into_iter()
        .filter(|version| !version.trim().is_empty())
        .collect();

    let distro_status = is_distro(&ecosystem)
        .then(|| distro_status(&ranges))
        .flatten();
    let severity = raw
        .ecosystem_specific
        .and_then(SeverityHolder::severity)
        .or_else(|| raw.database_specific.and_then(SeverityHolder::severity));

    Ok(Some(AffectedPackage {
        ecosystem,
        name,
        purl: nonempty(package.purl),
        ranges,
        versions,
        distro_status,
        severity,
        severity_scores: convert_severities(raw.severity.unwrap_or_default()),
        unaffected_requirements: Vec::new(),
    }))
}

fn convert_range(raw: RawRange) -> Result<AffectedRange, Rejected> {
    let kind = match raw.kind.as_deref().map(str::trim) {
        Some("SEMVER") => RangeKind::Semver,
        Some("ECOSYSTEM") => RangeKind::Ecosystem,
        Some("GIT") => RangeKind::Git,
        Some(other) => return Err(Rejected(format!("unknown range type {other:?}"))),
        None => return Err(Rejected("range has no type".into())),
    };
    let raw_events = raw.events.unwrap_or_default();
    if raw_events.is_empty() {
        return Err(Rejected("range has no events".into()));
    }
    let mut events = Vec::with_capacity(raw_events.len());
    for (index, event) in raw_events.into_iter().enumerate() {
        events.push(
            convert_event(event)
                .map_err(|Rejected(why)| Rejected(format!("events[{index}]: {why}")))?,
        );
    }
    Ok(AffectedRange { kind, events })
}

fn convert_event(raw: RawEvent) -> Result<RangeEvent, Rejected> {
    let mut present = [
        raw.introduced.map(RangeEvent::Introduced),
        raw.fixed.map(RangeEvent::Fixed),
        raw.last_affected.map(RangeEvent::LastAffected),
        raw.limit.map(RangeEvent::Limit),
    ]
    .into_iter()
    .flatten();
    let event = present
        .next()
        .ok_or_else(|| Rejected("event has none of introduced/fixed/last_affected/limit".into()))?;
    if present.next().is_some() {
        return Err(Rejected(
            "event has more than one of introduced/fixed/last_affected/limit".into(),
        ));
    }
    let version = match &event {
        RangeEvent::Introduced(v)
        | RangeEvent::Fixed(v)
        | RangeEvent::LastAffected(v)
        | RangeEvent::Limit(v) => v,
    };
    if version.trim().is_empty() {
        return Err(Rejected("event has an empty version".into()));
    }
    Ok(event)
}

fn is_distro(ecosystem: &str) -> bool {
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    DISTRO_ECOSYSTEMS.contains(&base)
}

/// A distro range that only opens (no `fixed`, no `last_affected`) is the
/// distro saying "affected, no fix yet"; one that closes carries the fix.
/// Without ranges (only explicit versions) the record says nothing about a fix.
fn distro_status(ranges: &[AffectedRange]) -> Option<DistroStatus> {
    if ranges.is_empty() {
        return None;
    }
    let closes = ranges
        .iter()
        .flat_map(|range| &range.events)
        .any(|event| matches!(event, RangeEvent::Fixed(_) | RangeEvent::LastAffected(_)));
    Some(if closes {
        DistroStatus::Fixed
    } else {
        DistroStatus::NotFixed
    })
}

/// Severities with a type and a score, in published order; exact repeats
/// (Ubuntu lists one vector per CVE source, often the same) are kept once.
fn convert_severities(raw: Vec<RawSeverity>) -> Vec<SeverityScore> {
    let mut out: Vec<SeverityScore> = Vec::new();
    for severity in raw {
        let (Some(kind), Some(score)) = (nonempty(severity.kind), nonempty(severity.score)) else {
            continue;
        };
        let score = SeverityScore { kind, score };
        if !out.contains(&score) {
            out.push(score);
        }
    }
    out
}

/// The record-level word a vendor gives as a severity "score" (Ubuntu).
fn vendor_severity_word(scores: &[SeverityScore]) -> Option<String> {
    scores
        .iter()
        .find(|score| !VECTOR_SEVERITY_TYPES.contains(&score.kind.as_str()))
        .map(|score| score.score.clone())
}

fn nonempty(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// Trimmed, non-empty IDs, first occurrence kept.
fn ids(values: Option<Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values.unwrap_or_default() {
        let value = value.trim();
        if !value.is_empty() && !out.iter().any(|seen| seen == value) {
            out.push(value.to_owned());
        }
    }
    out
}

fn accept(raw: RawRecord, location: &str, report: &mut ImportReport, out: &mut Vec<Advisory>) {
    let id = raw.id.clone();
    match convert(raw, report) {
        Ok(advisory) => {
            report.imported += 1;
            out.push(advisory);
        }
        Err(Rejected(why)) => report.skip(located(location, id.as_deref()), why),
    }
}

fn located(location: &str, id: Option<&str>) -> String {
    match id.map(str::trim).filter(|id| !id.is_empty()) {
        Some(id) => format!("{location} ({id})"),
        None => location.to_owned(),
    }
}

/// Parses one OSV JSON document: a single record, or an array of records
/// (vendors publish both). Each bad record is skipped and counted; a document
/// that is not JSON at all counts as one skipped record.
pub fn parse_osv_json(bytes: &[u8], location: &str, report: &mut ImportReport) -> Vec<Advisory> {
    let mut out = Vec::new();
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first == Some(&b'[') {
        // Each element is parsed on its own so that one bad record does not
        // take its neighbours down with it.
        match serde_json::from_slice::<LenientRecords>(bytes) {
            Ok(LenientRecords(elements)) => {
                for (index, element) in elements.into_iter().enumerate() {
                    let here = format!("{location}[{index}]");
                    match element {
                        Ok(raw) => accept(raw, &here, report, &mut out),
                        Err(error) => report.skip(here, format!("malformed OSV record: {error}")),
                    }
                }
            }
            Err(error) => report.skip(
                location,
                format!("not a JSON array of OSV records: {error}"),
            ),
        }
    } else {
        match serde_json::from_slice::<RawRecord>(bytes) {
            Ok(raw) => accept(raw, location, report, &mut out),
            Err(error) => report.skip(location, format!("malformed OSV record: {error}")),
        }
    }
    out
}

/// Parses one OSV record written as YAML (PyPA). Every scalar is read as the
/// text written: `fixed: 1.10` stays `"1.10"`, never the float `1.1`.
pub fn parse_osv_yaml(bytes: &[u8], location: &str, report: &mut ImportReport) -> Vec<Advisory> {
    let mut out = Vec::new();
    match serde_yaml_ng::from_slice::<RawRecord>(bytes) {
        Ok(raw) => accept(raw, location, report, &mut out),
        Err(error) => report.skip(location, format!("malformed OSV YAML record: {error}")),
    }
    out
}

/// Parses an OSV document by its file name: `.yaml`/`.yml` as YAML, anything
/// else as JSON.
pub fn parse_osv(bytes: &[u8], location: &str, report: &mut ImportReport) -> Vec<Advisory> {
    if input::has_extension(Path::new(location), &["yaml", "yml"]) {
        parse_osv_yaml(bytes, location, report)
    } else {
        parse_osv_json(bytes, location, report)
    }
}

/// Imports every OSV file (`.json`, `.yaml`, `.yml`) under `root` (or `root`
/// itself when it is a file), handing each advisory to `sink` as it is read.
/// Unreadable or oversized files are skipped and counted.
pub fn import_osv_dir(
    root: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    for path in input::files_with_extensions(root, &["json", "yaml", "yml"], report)? {
        let location = path.display().to_string();
        match input::read_file_capped(&path, MAX_FILE_BYTES) {
            Ok(bytes) => parse_osv(&bytes, &location, report)
                .into_iter()
                .for_each(&mut *sink),
            Err(error) => report.skip(location, error.to_string()),
        }
    }
    Ok(())
}

/// Imports an OSV bulk archive (`<ecosystem>/all.zip`: one record per entry),
/// within `limits`. Entries that are not `.json`/`.yaml` are ignored.
pub fn import_osv_zip<R: Read + Seek>(
    reader: R,
    location: &str,
    limits: &ZipLimits,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    input::for_each_zip_entry(
        reader,
        location,
        limits,
        report,
        &mut |name, bytes, report| {
            if input::has_extension(Path::new(name), &["json", "yaml", "yml"]) {
                parse_osv(bytes, name, report)
                    .into_iter()
                    .for_each(&mut *sink);
            }
        },
    )
}

/// [`import_osv_zip`] over a file, with the default limits.
pub fn import_osv_zip_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let file = fs::File::open(path).map_err(|source| ImportError::Io {
        what: path.display().to_string(),
        source,
    })?;
    import_osv_zip(
        std::io::BufReader::new(file),
        &path.display().to_string(),
        &ZipLimits::default(),
        report,
        sink,
    )
}

#[cfg(test)]
#[path = "osv_tests.rs"]
mod tests;
