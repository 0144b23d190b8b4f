//! The Debian security tracker JSON
//! (`https://security-tracker.debian.org/tracker/data/json`):
//! `{source-package: {CVE-ID: {description, releases: {codename: {status,
//! fixed_version, urgency, nodsa, nodsa_reason, repositories}}}}}`.
//!
//! The real file is hundreds of megabytes, so it is read as a stream: the
//! top-level map and each package's map are walked by serde visitors, and only
//! one CVE entry is held at a time. That entry is captured raw and parsed on its
//! own, so an ill-typed entry is skipped and counted instead of aborting the
//! whole import; only broken JSON *syntax* ends the stream (what was read
//! before stays imported).
//!
//! Records: one [`Advisory`] per (source package, CVE), ID the CVE (or the
//! tracker's `TEMP-…` ID), with one [`AffectedPackage`] per release. The same
//! CVE under several source packages therefore arrives as several advisories
//! with the same ID, each holding its own package's entries: a consumer keyed
//! by (source, ID) appends their `affected` lists. Grouping them here would
//! mean holding the whole file.
//!
//! Per release:
//! - `resolved` with `fixed_version "0"` → [`DistroStatus::NotAffected`], no range;
//! - `resolved` with a version V → range introduced `0` / fixed V, [`DistroStatus::Fixed`];
//! - `open` → range introduced `0`; [`DistroStatus::WontFix`] when the tracker
//!   marks it `nodsa` (reason `postponed`, `ignored`, or plain no-DSA) or the
//!   urgency is `end-of-life`, else [`DistroStatus::NotFixed`];
//! - `undetermined` → range introduced `0`, [`DistroStatus::Undetermined`].
//!
//! The urgency (`low`, `medium`, `high**`, `unimportant`, `not yet assigned`,
//! `end-of-life`, …) is kept as written as the package's `severity`; the
//! trailing `**` the tracker uses for "taken from NVD, not assessed by Debian"
//! is part of what it wrote.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;

use model::{
    Advisory, AdvisorySource, AffectedPackage, AffectedRange, DistroStatus, RangeEvent, RangeKind,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::capped_read::{LimitedReader, open};
use crate::debian_release::debian_ecosystem;
use crate::{ImportError, ImportReport};

/// The whole tracker JSON may be this large (the real one is a few hundred MB).
pub const MAX_TRACKER_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// One CVE entry of one package; real ones are a few kilobytes.
pub const MAX_TRACKER_ENTRY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCve {
    description: Option<String>,
    /// Values kept loose so one ill-typed release does not cost the others.
    #[serde(deserialize_with = "releases_object_or_empty_array")]
    releases: BTreeMap<String, serde_json::Value>,
}

/// The tracker writes an entry without releases as `"releases": []` (an empty
/// list where an object is expected); any other array is an error.
fn releases_object_or_empty_array<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, serde_json::Value>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
        serde_json::Value::Array(list) if list.is_empty() => Ok(BTreeMap::new()),
        serde_json::Value::Null => Ok(BTreeMap::new()),
        other => Err(de::Error::custom(format!(
            "releases is {}, not an object",
            match other {
                serde_json::Value::Array(_) => "a non-empty array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                _ => "a boolean",
            }
        ))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRelease {
    status: Option<String>,
    fixed_version: Option<String>,
    urgency: Option<String>,
    /// The tracker's free-text comment of a `no-dsa` annotation ("Minor issue").
    nodsa: Option<String>,
    /// `postponed`, `ignored`, or empty for a plain no-DSA.
    nodsa_reason: Option<String>,
}

/// Reads a whole tracker JSON held in memory; see [`read_debian_tracker`].
pub fn parse_debian_tracker(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<Vec<Advisory>, ImportError> {
    let mut advisories = Vec::new();
    read_debian_tracker(bytes, location, report, &mut |advisory| {
        advisories.push(advisory)
    })?;
    Ok(advisories)
}

/// Opens and streams a tracker JSON file into `sink`.
pub fn import_debian_tracker_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    let file = open(path)?;
    read_debian_tracker(file, &path.display().to_string(), report, sink)
}

/// Streams the tracker JSON from `reader`, one advisory per (package, CVE)
/// into `sink`. Advisories already sunk stay valid when a later syntax error
/// or the size limit ends the stream with an error.
pub fn read_debian_tracker(
    reader: impl Read,
    location: &str,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), ImportError> {
    read_debian_tracker_limited(reader, location, report, sink, MAX_TRACKER_BYTES)
}

fn read_debian_tracker_limited(
    reader: impl Read,
    location: &str,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
    limit: u64,
) -> Result<(), ImportError> {
    let mut limited = LimitedReader::new(BufReader::new(reader), limit);
    let result = {
        let mut deserializer = serde_json::Deserializer::from_reader(&mut limited);
        deserializer
            .deserialize_map(TopVisitor {
                location,
                report,
                sink,
            })
            .and_then(|()| deserializer.end())
    };
    match result {
        Ok(()) => Ok(()),
        Err(_) if limited.hit_limit() => Err(ImportError::TooLarge {
            what: location.to_owned(),
            limit,
        }),
        Err(error) if error.is_io() => Err(ImportError::Io {
            what: location.to_owned(),
            source: error.into(),
        }),
        Err(error) => Err(ImportError::Malformed {
            what: location.to_owned(),
            format: "Debian tracker JSON",
            message: error.to_string(),
        }),
    }
}

struct TopVisitor<'a> {
    location: &'a str,
    report: &'a mut ImportReport,
    sink: &'a mut dyn FnMut(Advisory),
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of source packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(package) = map.next_key::<String>()? {
            map.next_value_seed(PackageSeed {
                package: &package,
                location: self.location,
                report: &mut *self.report,
                sink: &mut *self.sink,
            })?;
        }
        Ok(())
    }
}

struct PackageSeed<'a> {
    package: &'a str,
    location: &'a str,
    report: &'a mut ImportReport,
    sink: &'a mut dyn FnMut(Advisory),
}

impl PackageSeed<'_> {
    fn skip_package(self, what: &str) {
        self.report.skip(
            format!("{}: {}", self.location, self.package),
            format!("package entry is {what}, not an object of CVEs"),
        );
    }
}

impl<'de> DeserializeSeed<'de> for PackageSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // `any`, not `map`: a package whose value is not an object is skipped
        // and counted instead of failing the stream.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PackageSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of CVE entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(cve) = map.next_key::<String>()? {
            let raw: Box<RawValue> = map.next_value()?;
            let entry_location = format!("{}: {}/{}", self.location, self.package, cve);
            if raw.get().len() > MAX_TRACKER_ENTRY_BYTES {
                self.report.skip(
                    entry_location,
                    format!("entry exceeds {MAX_TRACKER_ENTRY_BYTES} bytes"),
                );
                continue;
            }
            let parsed = match serde_json::from_str::<RawCve>(raw.get()) {
                Ok(parsed) => parsed,
                Err(error) => {
                    self.report.skip(entry_location, error.to_string());
                    continue;
                }
            };
            if let Some(advisory) =
                convert_entry(self.package, &cve, parsed, &entry_location, self.report)
            {
                self.report.imported += 1;
                (self.sink)(advisory);
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.skip_package("an array");
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.skip_package("a string");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.skip_package("a boolean");
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.skip_package("a number");
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.skip_package("a number");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.skip_package("a number");
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.skip_package("null");
        Ok(())
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// One (package, CVE) entry → an advisory; `None` (counted) when the entry
/// cannot name what it is about.
fn convert_entry(
    package: &str,
    cve: &str,
    raw: RawCve,
    location: &str,
    report: &mut ImportReport,
) -> Option<Advisory> {
    let id = cve.trim();
    if id.is_empty() {
        report.skip(location, "empty vulnerability ID");
        return None;
    }
    let package = package.trim();
    if package.is_empty() {
        report.skip(location, "empty source package name");
        return None;
    }
    let mut affected = Vec::with_capacity(raw.releases.len());
    for (codename, value) in raw.releases {
        let release_location = format!("{location}/{codename}");
        if codename.trim().is_empty() {
            report.skip(release_location, "empty release codename");
            continue;
        }
        let release = match RawRelease::deserialize(value) {
            Ok(release) => release,
            Err(error) => {
                report.skip(release_location, error.to_string());
                continue;
            }
        };
        match convert_release(package, &codename, release) {
            Ok(entry) => {
                report.count_ecosystem(&entry.ecosystem);
                affected.push(entry);
            }
            Err(reason) => report.skip(release_location, reason),
        }
    }
    Some(Advisory {
        related: Vec::new(),
        id: id.to_owned(),
        source: AdvisorySource::DebianTracker,
        aliases: Vec::new(),
        upstream: Vec::new(),
        summary: None,
        details: non_empty(raw.description),
        published: None,
        modified: None,
        withdrawn: None,
        severity: Vec::new(),
        database_severity: None,
        affected,
        references: Vec::new(),
    })
}

fn from_the_beginning() -> AffectedRange {
    AffectedRange {
        kind: RangeKind::Ecosystem,
        events: vec![RangeEvent::Introduced("0".to_owned())],
    }
}

fn convert_release(
    package: &str,
    codename: &str,
    release: RawRelease,
) -> Result<AffectedPackage, String> {
    let urgency = non_empty(release.urgency);
    let fixed_version = non_empty(release.fixed_version);
    let status = non_empty(release.status).unwrap_or_default();
    let (ranges, distro_status) = match status.as_str() {
        "resolved" => match fixed_version {
            Some(version) if version == "0" => (Vec::new(), DistroStatus::NotAffected),
            Some(version) => (
                vec![AffectedRange {
                    kind: RangeKind::Ecosystem,
                    events: vec![
                        RangeEvent::Introduced("0".to_owned()),
                        RangeEvent::Fixed(version),
                    ],
                }],
                DistroStatus::Fixed,
            ),
            None => return Err("status resolved without a fixed_version".to_owned()),
        },
        "open" => {
            let status = match wont_fix_reason(&release.nodsa, &release.nodsa_reason, &urgency) {
                Some(reason) => DistroStatus::WontFix(reason),
                None => DistroStatus::NotFixed,
            };
            (vec![from_the_beginning()], status)
        }
        "undetermined" => (vec![from_the_beginning()], DistroStatus::Undetermined),
        "" => return Err("release without a status".to_owned()),
        other => return Err(format!("unknown status {other:?}")),
    };
    Ok(AffectedPackage {
        severity_scores: Vec::new(),
        unaffected_requirements: Vec::new(),
        ecosystem: debian_ecosystem(codename),
        name: package.to_owned(),
        purl: None,
        ranges,
        versions: Vec::new(),
        distro_status: Some(distro_status),
        severity: urgency,
    })
}

/// Why an open issue will not be fixed in a release, if the tracker says so.
///
/// The tracker emits `nodsa` (the comment) only for issues annotated
/// `<no-dsa>`, `<postponed>` or `<ignored>`; `nodsa_reason` names which
/// (`postponed`, `ignored`, empty for plain no-DSA). An `end-of-life` urgency
/// marks packages whose security support ended in that release.
fn wont_fix_reason(
    nodsa: &Option<String>,
    nodsa_reason: &Option<String>,
    urgency: &Option<String>,
) -> Option<String> {
    let comment = nodsa.as_deref().map(str::trim);
    let reason = nodsa_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if comment.is_some() || reason.is_some() {
        let reason = reason.unwrap_or("no-dsa");
        return Some(match comment.filter(|c| !c.is_empty()) {
            Some(comment) => format!("{reason}: {comment}"),
            None => reason.to_owned(),
        });
    }
    if urgency.as_deref() == Some("end-of-life") {
        return Some("end-of-life".to_owned());
    }
    None
}

// Expected-value tables spell their row types out where they are read.
#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    fn only_package(json: &str) -> (AffectedPackage, ImportReport) {
        let mut report = ImportReport::default();
        let advisories = parse_debian_tracker(json.as_bytes(), "t.json", &mut report).unwrap();
        assert_eq!(advisories.len(), 1, "{advisories:?}");
        assert_eq!(advisories[0].affected.len(), 1, "{advisories:?}");
        (advisories[0].affected[0].clone(), report)
    }

    fn release(body: &str) -> String {
        format!(r#"{{"zlib": {{"CVE-2023-45853": {{"releases": {{"bookworm": {body}}}}}}}}}"#)
    }

    #[test]
    fn release_states_map_to_distro_status_and_ranges() {
        let introduced = || RangeEvent::Introduced("0".to_owned());
        let table: Vec<(&str, DistroStatus, Vec<RangeEvent>, Option<&str>)> = vec![
            (
                r#"{"status": "resolved", "fixed_version": "1:1.2.13.dfsg-1", "urgency": "high**"}"#,
                DistroStatus::Fixed,
                vec![
                    introduced(),
                    RangeEvent::Fixed("1:1.2.13.dfsg-1".to_owned()),
                ],
                Some("high**"),
            ),
            (
                r#"{"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}"#,
                DistroStatus::NotAffected,
                vec![],
                Some("unimportant"),
            ),
            (
                r#"{"status": "open", "fixed_version": "", "urgency": "low"}"#,
                DistroStatus::NotFixed,
                vec![introduced()],
                Some("low"),
            ),
            (
                r#"{"status": "open", "urgency": "unimportant", "nodsa": "Minor issue", "nodsa_reason": "postponed"}"#,
                DistroStatus::WontFix("postponed: Minor issue".to_owned()),
                vec![introduced()],
                Some("unimportant"),
            ),
            (
                r#"{"status": "open", "nodsa": "contrib/minizip not built", "nodsa_reason": "ignored"}"#,
                DistroStatus::WontFix("ignored: contrib/minizip not built".to_owned()),
                vec![introduced()],
                None,
            ),
            (
                r#"{"status": "open", "nodsa": "Minor issue", "nodsa_reason": ""}"#,
                DistroStatus::WontFix("no-dsa: Minor issue".to_owned()),
                vec![introduced()],
                None,
            ),
            (
                r#"{"status": "open", "nodsa": null, "nodsa_reason": null, "urgency": null}"#,
                DistroStatus::NotFixed,
                vec![introduced()],
                None,
            ),
            (
                r#"{"status": "open", "urgency": "end-of-life"}"#,
                DistroStatus::WontFix("end-of-life".to_owned()),
                vec![introduced()],
                Some("end-of-life"),
            ),
            (
                r#"{"status": "undetermined", "urgency": "not yet assigned"}"#,
                DistroStatus::Undetermined,
                vec![introduced()],
                Some("not yet assigned"),
            ),
        ];
        for (body, status, events, severity) in table {
            let (package, report) = only_package(&release(body));
            assert_eq!(package.distro_status, Some(status), "{body}");
            let got_events: Vec<RangeEvent> = package
                .ranges
                .iter()
                .flat_map(|r| r.events.clone())
                .collect();
            assert_eq!(got_events, events, "{body}");
            assert!(
                package
                    .ranges
                    .iter()
                    .all(|r| r.kind == RangeKind::Ecosystem)
            );
            assert_eq!(package.severity.as_deref(), severity, "{body}");
            assert_eq!(package.ecosystem, "Debian:12");
            assert_eq!(package.name, "zlib");
            assert_eq!(report.skipped, 0, "{body}");
            assert_eq!(report.imported, 1);
            assert_eq!(report.ecosystems["Debian:12"], 1);
        }
    }

    #[test]
    fn bad_entries_are_skipped_and_counted_without_losing_the_rest() {
        // (input, advisories kept, affected packages kept, skipped)
        let table: &[(&str, usize, usize, u64)] = &[
            (r#"{}"#, 0, 0, 0),
            (r#"{"pkg": "not an object"}"#, 0, 0, 1),
            (
                r#"{"pkg": [1, {"a": 2}], "ok": {"CVE-1": {"releases": {}}}}"#,
                1,
                0,
                1,
            ),
            (
                r#"{"pkg": null, "other": 5, "x": true, "y": -1.5}"#,
                0,
                0,
                4,
            ),
            // The ill-typed entry goes; its neighbour stays.
            (
                r#"{"pkg": {"CVE-1": {"releases": "nope"}, "CVE-2": {"releases": {"sid": {"status": "open"}}}}}"#,
                1,
                1,
                1,
            ),
            // An ill-typed release goes; its sibling release stays.
            (
                r#"{"pkg": {"CVE-1": {"releases": {"sid": {"status": 3}, "bookworm": {"status": "open"}}}}}"#,
                1,
                1,
                1,
            ),
            (
                r#"{"pkg": {"CVE-1": {"releases": {"sid": {"status": "resolved"}, "trixie": {"status": "weird"}, "forky": {}}}}}"#,
                1,
                0,
                3,
            ),
            (r#"{"pkg": {"": {"releases": {}}}}"#, 0, 0, 1),
            (r#"{"": {"CVE-1": {"releases": {}}}}"#, 0, 0, 1),
            (
                r#"{"pkg": {"CVE-1": {"releases": {"": {"status": "open"}}}}}"#,
                1,
                0,
                1,
            ),
            (r#"{"pkg": {"CVE-1": 7}}"#, 0, 0, 1),
            // How the real tracker writes "no releases".
            (r#"{"pkg": {"CVE-1": {"releases": []}}}"#, 1, 0, 0),
            (r#"{"pkg": {"CVE-1": {"releases": null}}}"#, 1, 0, 0),
            (
                r#"{"pkg": {"CVE-1": {"releases": [{"sid": {}}]}}}"#,
                0,
                0,
                1,
            ),
        ];
        for (input, advisories, affected, skipped) in table {
            let mut report = ImportReport::default();
            let got = parse_debian_tracker(input.as_bytes(), "t", &mut report).unwrap();
            assert_eq!(got.len(), *advisories, "{input}: {got:?}");
            assert_eq!(
                got.iter().map(|a| a.affected.len()).sum::<usize>(),
                *affected,
                "{input}"
            );
            assert_eq!(report.skipped, *skipped, "{input}: {report:?}");
            assert_eq!(report.imported, *advisories as u64, "{input}");
        }
    }

    #[test]
    fn broken_syntax_is_a_whole_input_error_after_the_records_before_it() {
        let table: &[(&str, usize)] = &[
            ("", 0),
            ("[]", 0),
            ("\"x\"", 0),
            ("{", 0),
            (r#"{"a": {"CVE-1": {"releases": {}}}, "b": {"#, 1),
            (r#"{"a": {"CVE-1": {"releases": {}}}} trailing"#, 1),
        ];
        for (input, before) in table {
            let mut report = ImportReport::default();
            let mut sunk = 0;
            let result =
                read_debian_tracker(input.as_bytes(), "t", &mut report, &mut |_| sunk += 1);
            assert!(
                matches!(result, Err(ImportError::Malformed { .. })),
                "{input}: {result:?}"
            );
            assert_eq!(sunk, *before, "{input}");
        }
    }

    #[test]
    fn input_beyond_the_limit_is_too_large_after_what_fit() {
        let json = r#"{"a": {"CVE-1": {"releases": {}}}, "b": {"CVE-2": {"releases": {}}}}"#;
        let cut = json.find("\"b\"").unwrap() as u64;
        let mut report = ImportReport::default();
        let mut sunk = Vec::new();
        let result = read_debian_tracker_limited(
            json.as_bytes(),
            "t",
            &mut report,
            &mut |a| sunk.push(a.id),
            cut,
        );
        assert!(
            matches!(result, Err(ImportError::TooLarge { .. })),
            "{result:?}"
        );
        assert_eq!(sunk, ["CVE-1"]);
        // Exactly at the limit is fine.
        let mut report = ImportReport::default();
        let exact = read_debian_tracker_limited(
            json.as_bytes(),
            "t",
            &mut report,
            &mut |_| {},
            json.len() as u64,
        );
        assert!(exact.is_ok(), "{exact:?}");
    }

    #[test]
    fn same_cve_under_two_packages_is_two_advisories_with_one_id() {
        let json = r#"{
            "openssl": {"CVE-2024-1": {"description": " d ", "releases": {"bullseye": {"status": "open"}}}},
            "openssl1.1": {"CVE-2024-1": {"description": "d", "releases": {"sid": {"status": "resolved", "fixed_version": "1.1.1w-1"}}}}
        }"#;
        let mut report = ImportReport::default();
        let got = parse_debian_tracker(json.as_bytes(), "t", &mut report).unwrap();
        let names: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    a.affected[0].name.as_str(),
                    a.affected[0].ecosystem.as_str(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("CVE-2024-1", "openssl", "Debian:11"),
                ("CVE-2024-1", "openssl1.1", "Debian:unstable")
            ]
        );
        assert!(got.iter().all(|a| a.details.as_deref() == Some("d")));
        assert!(
            got.iter()
                .all(|a| a.source == AdvisorySource::DebianTracker)
        );
    }

    #[test]
    fn streams_a_large_generated_tracker_in_bounded_steps() {
        // Realistic volume: tens of thousands of (package, CVE) entries, each
        // with several releases, generated in the tracker's shape.
        let mut json = String::from("{");
        let packages = 1_000;
        let cves_per_package = 20;
        for p in 0..packages {
            if p > 0 {
                json.push(',');
            }
            json.push_str(&format!("\"pkg{p}\":{{"));
            for c in 0..cves_per_package {
                if c > 0 {
                    json.push(',');
                }
                json.push_str(&format!(
                    r#""CVE-2024-{p}{c:03}":{{"scope":"remote","debianbug":1,"description":"x","releases":{{"bookworm":{{"status":"resolved","repositories":{{"bookworm":"1.0-1"}},"fixed_version":"1.0-2","urgency":"low"}},"sid":{{"status":"open","repositories":{{"sid":"1.0-1"}},"urgency":"not yet assigned"}}}}}}"#
                ));
            }
            json.push('}');
        }
        json.push('}');
        let mut report = ImportReport::default();
        let mut count = 0u64;
        let mut affected = 0usize;
        read_debian_tracker(json.as_bytes(), "big", &mut report, &mut |a| {
            count += 1;
            affected += a.affected.len();
        })
        .unwrap();
        let expected = (packages * cves_per_package) as u64;
        assert_eq!(count, expected);
        assert_eq!(report.imported, expected);
        assert_eq!(affected as u64, expected * 2);
        assert_eq!(report.ecosystems["Debian:12"], expected);
        assert_eq!(report.ecosystems["Debian:unstable"], expected);
    }
}
