//! The Debian security tracker's advisory lists, `data/DSA/list` and
//! `data/DLA/list`:
//!
//! ```text
//! [29 Mar 2023] DSA-5380-1 xorg-server - security update
//!     {CVE-2023-1393}
//!     [bullseye] - xorg-server 2:1.20.11-1+deb11u6
//!     [lenny] - vlc <not-affected> (Vulnerable code not present)
//!     NOTE: fixed in testing at time of DSA
//! ```
//!
//! One [`Advisory`] per DSA/DLA, aliases = the CVEs in `{…}`, one
//! [`AffectedPackage`] per `[release] - package …` line: a version → range
//! introduced `0` / fixed version and [`DistroStatus::Fixed`]; `<not-affected>`
//! → [`DistroStatus::NotAffected`]; `<unfixed>` → [`DistroStatus::NotFixed`];
//! `<end-of-life>` → [`DistroStatus::WontFix`]. Old entries give an urgency in
//! the trailing notes (`(bug #332524; medium)`): it becomes the package severity.
//! Announcements without packages (`DSA-4205-1 jessie end-of-life`) are kept as
//! advisories with a summary and nothing affected.

use std::path::Path;

use model::{
    Advisory, AdvisorySource, AffectedPackage, AffectedRange, DistroStatus, RangeEvent, RangeKind,
};

use crate::ImportReport;
use crate::capped_read::{MAX_DOCUMENT_BYTES, read_file_capped};
use crate::debian_release::debian_ecosystem;
use crate::file_walk::files_under;

const URGENCIES: &[&str] = &["unimportant", "low", "medium", "high"];

/// Parses a whole DSA or DLA list.
pub fn parse_debian_advisory_list(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Vec<Advisory> {
    let mut advisories = Vec::new();
    read_debian_advisory_list(bytes, location, report, &mut |advisory| {
        advisories.push(advisory)
    });
    advisories
}

/// Reads a DSA/DLA list file (at most [`MAX_DOCUMENT_BYTES`]) into `sink`.
pub fn import_debian_advisory_list_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), crate::ImportError> {
    let bytes = read_file_capped(path, MAX_DOCUMENT_BYTES)?;
    read_debian_advisory_list(&bytes, &path.display().to_string(), report, sink);
    Ok(())
}

/// Imports every file named `list` under `root` (the tracker's `data/`
/// directory holds `DSA/list` and `DLA/list`); an unreadable file is counted
/// in `report` and the walk goes on.
pub fn import_debian_advisory_lists_dir(
    root: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) -> Result<(), crate::ImportError> {
    let wanted = |path: &Path| path.file_name().is_some_and(|name| name == "list");
    for file in files_under(root, report, &wanted)? {
        if let Err(error) = import_debian_advisory_list_file(&file, report, sink) {
            report.skip(file.display().to_string(), error.to_string());
        }
    }
    Ok(())
}

/// Parses a list, handing each advisory to `sink` as soon as its block ends.
pub fn read_debian_advisory_list(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(Advisory),
) {
    // `None` while inside a block whose header was skipped: its lines belong
    // to that skipped record and are not counted again.
    let mut current: Option<Advisory> = None;
    let mut in_skipped_block = false;
    let mut finish = |advisory: Option<Advisory>, report: &mut ImportReport| {
        if let Some(advisory) = advisory {
            report.imported += 1;
            for package in &advisory.affected {
                report.count_ecosystem(&package.ecosystem);
            }
            sink(advisory);
        }
    };
    for (index, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = String::from_utf8_lossy(raw_line);
        let line = line.trim_end();
        let line_location = || format!("{location}:{}", index + 1);
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            finish(current.take(), report);
            match parse_header(line) {
                Ok(advisory) => {
                    current = Some(advisory);
                    in_skipped_block = false;
                }
                Err(reason) => {
                    report.skip(line_location(), reason);
                    in_skipped_block = true;
                }
            }
            continue;
        }
        let Some(advisory) = current.as_mut() else {
            if !in_skipped_block {
                report.skip(line_location(), "indented line before any advisory header");
                in_skipped_block = true;
            }
            continue;
        };
        let body = line.trim();
        if let Some(inner) = body.strip_prefix('{') {
            let Some(inner) = inner.strip_suffix('}') else {
                report.skip(
                    format!("{}: {}", line_location(), advisory.id),
                    "unterminated {…} list of CVE IDs",
                );
                continue;
            };
            for id in inner.split_whitespace() {
                if !advisory.aliases.iter().any(|known| known == id) {
                    advisory.aliases.push(id.to_owned());
                }
            }
        } else if body.starts_with('[') {
            match parse_release_line(body) {
                Ok(package) => advisory.affected.push(package),
                Err(reason) => report.skip(format!("{}: {}", line_location(), advisory.id), reason),
            }
        } else if body.starts_with("NOTE:") {
            // Free-text remarks for the security team.
        } else {
            report.skip(
                format!("{}: {}", line_location(), advisory.id),
                format!("unrecognised line {body:?}"),
            );
        }
    }
    finish(current.take(), report);
}

/// `[29 Mar 2023] DSA-5380-1 xorg-server - security update`
fn parse_header(line: &str) -> Result<Advisory, String> {
    let rest = line
        .strip_prefix('[')
        .ok_or_else(|| format!("line is neither an advisory header nor indented: {line:?}"))?;
    let (date, rest) = rest
        .split_once(']')
        .ok_or_else(|| format!("advisory header without a closing ']': {line:?}"))?;
    let rest = rest.trim_start();
    let (id, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if id.is_empty() {
        return Err(format!("advisory header without an ID: {line:?}"));
    }
    // Package names before " - " only repeat what the release lines say;
    // without " - " the whole text is a title ("jessie end-of-life").
    let title = match rest.split_once(" - ") {
        Some((_packages, title)) => title.trim(),
        None => rest.trim(),
    };
    Ok(Advisory {
        related: Vec::new(),
        id: id.to_owned(),
        source: AdvisorySource::DebianAdvisoryList,
        aliases: Vec::new(),
        upstream: Vec::new(),
        summary: (!title.is_empty()).then(|| title.to_owned()),
        details: None,
        published: parse_date(date),
        modified: None,
        withdrawn: None,
        severity: Vec::new(),
        database_severity: None,
        affected: Vec::new(),
        references: Vec::new(),
    })
}

/// `29 Mar 2023` → `2023-03-29T00:00:00Z`; `None` when it is not such a date
/// (the advisory is still worth keeping without it).
fn parse_date(text: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_whitespace();
    let day: u8 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let year: u16 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=31).contains(&day) || !(1900..=9999).contains(&year) {
        return None;
    }
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))?
        + 1;
    Some(format!("{year:04}-{month:02}-{day:02}T00:00:00Z"))
}

/// `[bullseye] - xorg-server 2:1.20.11-1+deb11u6 (bug #1; medium)`
fn parse_release_line(body: &str) -> Result<AffectedPackage, String> {
    let rest = body
        .strip_prefix('[')
        .ok_or_else(|| format!("release line not starting with '[': {body:?}"))?;
    let (release, rest) = rest
        .split_once(']')
        .ok_or_else(|| format!("release line without a closing ']': {body:?}"))?;
    let release = release.trim();
    if release.is_empty() {
        return Err(format!("release line without a release: {body:?}"));
    }
    let rest = rest
        .trim_start()
        .strip_prefix('-')
        .ok_or_else(|| format!("release line without ' - ' after the release: {body:?}"))?;
    let mut tokens = rest.split_whitespace();
    let name = tokens
        .next()
        .ok_or_else(|| format!("release line without a package: {body:?}"))?;
    let state = tokens
        .next()
        .ok_or_else(|| format!("release line without a version or state: {body:?}"))?;
    let notes: Vec<&str> = tokens.collect();
    let notes = notes.join(" ");
    let from_the_beginning = || {
        vec![AffectedRange {
            kind: RangeKind::Ecosystem,
            events: vec![RangeEvent::Introduced("0".to_owned())],
        }]
    };
    let (ranges, status) = match state {
        "<not-affected>" => (Vec::new(), DistroStatus::NotAffected),
        "<unfixed>" => (from_the_beginning(), DistroStatus::NotFixed),
        "<end-of-life>" => (
            from_the_beginning(),
            DistroStatus::WontFix("end-of-life".to_owned()),
        ),
        marker if marker.starts_with('<') || marker.starts_with('(') => {
            return Err(format!("unknown state {marker:?} in {body:?}"));
        }
        version => (
            vec![AffectedRange {
                kind: RangeKind::Ecosystem,
                events: vec![
                    RangeEvent::Introduced("0".to_owned()),
                    RangeEvent::Fixed(version.to_owned()),
                ],
            }],
            DistroStatus::Fixed,
        ),
    };
    Ok(AffectedPackage {
        severity_scores: Vec::new(),
        unaffected_requirements: Vec::new(),
        ecosystem: debian_ecosystem(release),
        name: name.to_owned(),
        purl: None,
        ranges,
        versions: Vec::new(),
        distro_status: Some(status),
        severity: urgency_in_notes(&notes),
    })
}

/// The urgency word in `(bug #332524; medium)`-style notes, if any.
fn urgency_in_notes(notes: &str) -> Option<String> {
    let inner = notes.trim().strip_prefix('(')?;
    let inner = inner.strip_suffix(')').unwrap_or(inner);
    inner
        .split([';', ','])
        .map(str::trim)
        .find(|part| URGENCIES.contains(part))
        .map(str::to_owned)
}

// Expected-value tables spell their row types out where they are read.
#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    fn fixed(version: &str) -> Vec<AffectedRange> {
        vec![AffectedRange {
            kind: RangeKind::Ecosystem,
            events: vec![
                RangeEvent::Introduced("0".to_owned()),
                RangeEvent::Fixed(version.to_owned()),
            ],
        }]
    }

    #[test]
    fn release_lines_table() {
        let open = || {
            vec![AffectedRange {
                kind: RangeKind::Ecosystem,
                events: vec![RangeEvent::Introduced("0".to_owned())],
            }]
        };
        let table: Vec<(
            &str,
            Result<(&str, &str, Vec<AffectedRange>, DistroStatus, Option<&str>), ()>,
        )> = vec![
            (
                "[bullseye] - xorg-server 2:1.20.11-1+deb11u6",
                Ok((
                    "Debian:11",
                    "xorg-server",
                    fixed("2:1.20.11-1+deb11u6"),
                    DistroStatus::Fixed,
                    None,
                )),
            ),
            (
                "[wheezy] - curl  7.26.0-1+wheezy5",
                Ok((
                    "Debian:7",
                    "curl",
                    fixed("7.26.0-1+wheezy5"),
                    DistroStatus::Fixed,
                    None,
                )),
            ),
            (
                "[sarge] - awstats 6.4-1sarge1 (bug #322591; bug #334833; medium)",
                Ok((
                    "Debian:3.1",
                    "awstats",
                    fixed("6.4-1sarge1"),
                    DistroStatus::Fixed,
                    Some("medium"),
                )),
            ),
            (
                "[sarge] - mozilla-firefox 1.0.4-2sarge4 (medium; bug #327452)",
                Ok((
                    "Debian:3.1",
                    "mozilla-firefox",
                    fixed("1.0.4-2sarge4"),
                    DistroStatus::Fixed,
                    Some("medium"),
                )),
            ),
            (
                "[lenny] - vlc <not-affected> (Vulnerable code not present)",
                Ok(("Debian:5", "vlc", vec![], DistroStatus::NotAffected, None)),
            ),
            (
                "[woody] - phpmyadmin <unfixed>",
                Ok((
                    "Debian:3.0",
                    "phpmyadmin",
                    open(),
                    DistroStatus::NotFixed,
                    None,
                )),
            ),
            (
                "[woody] - foo <unfixed> (high)",
                Ok((
                    "Debian:3.0",
                    "foo",
                    open(),
                    DistroStatus::NotFixed,
                    Some("high"),
                )),
            ),
            (
                "[jessie] - virtualbox <end-of-life>",
                Ok((
                    "Debian:8",
                    "virtualbox",
                    open(),
                    DistroStatus::WontFix("end-of-life".to_owned()),
                    None,
                )),
            ),
            ("[jessie] - virtualbox <removed>", Err(())),
            ("[jessie] - virtualbox", Err(())),
            ("[jessie] -", Err(())),
            ("[jessie] virtualbox 1.0", Err(())),
            ("[jessie - virtualbox 1.0", Err(())),
            ("[] - virtualbox 1.0", Err(())),
        ];
        for (line, expected) in table {
            let got = parse_release_line(line);
            match expected {
                Ok((ecosystem, name, ranges, status, severity)) => {
                    let got = got.unwrap_or_else(|e| panic!("{line}: {e}"));
                    assert_eq!(got.ecosystem, ecosystem, "{line}");
                    assert_eq!(got.name, name, "{line}");
                    assert_eq!(got.ranges, ranges, "{line}");
                    assert_eq!(got.distro_status, Some(status), "{line}");
                    assert_eq!(got.severity.as_deref(), severity, "{line}");
                }
                Err(()) => assert!(got.is_err(), "{line}: {got:?}"),
            }
        }
    }

    #[test]
    fn headers_table() {
        // (line, id, summary, published)
        let table: &[(&str, Option<(&str, Option<&str>, Option<&str>)>)] = &[
            (
                "[29 Mar 2023] DSA-5380-1 xorg-server - security update",
                Some((
                    "DSA-5380-1",
                    Some("security update"),
                    Some("2023-03-29T00:00:00Z"),
                )),
            ),
            (
                "[01 Aug 2002] DSA-141 mpack - buffer overflow",
                Some((
                    "DSA-141",
                    Some("buffer overflow"),
                    Some("2002-08-01T00:00:00Z"),
                )),
            ),
            (
                "[18 Apr 2018] DSA-4205-1 jessie end-of-life",
                Some((
                    "DSA-4205-1",
                    Some("jessie end-of-life"),
                    Some("2018-04-18T00:00:00Z"),
                )),
            ),
            (
                "[16 Dec 2013] DSA-2819-1 iceape - several",
                Some(("DSA-2819-1", Some("several"), Some("2013-12-16T00:00:00Z"))),
            ),
            (
                "[17 Aug 2010] DSA-2092-1  lxr-cvs - cross-site scripting",
                Some((
                    "DSA-2092-1",
                    Some("cross-site scripting"),
                    Some("2010-08-17T00:00:00Z"),
                )),
            ),
            ("[32 Foo 2010] DLA-1-1", Some(("DLA-1-1", None, None))),
            ("[date] DLA-1-1 x - y", Some(("DLA-1-1", Some("y"), None))),
            ("[01 Aug 2002]", None),
            ("[01 Aug 2002 DSA-1", None),
            ("DSA-1 foo", None),
        ];
        for (line, expected) in table {
            let got = parse_header(line);
            match expected {
                Some((id, summary, published)) => {
                    let got = got.unwrap_or_else(|e| panic!("{line}: {e}"));
                    assert_eq!(got.id, *id, "{line}");
                    assert_eq!(got.summary.as_deref(), *summary, "{line}");
                    assert_eq!(got.published.as_deref(), *published, "{line}");
                }
                None => assert!(got.is_err(), "{line}: {got:?}"),
            }
        }
    }

    #[test]
    fn a_list_with_good_and_bad_blocks() {
        let list = "\
[05 Aug 2002] DSA-140 libpng - buffer overflow
\t{CVE-2002-0660 CVE-2002-0728}
\t[woody] - libpng 1.0.12-3.woody.2
\t[woody] - libpng3 1.2.1-1.1.woody.2
\tNOTE: fixed in testing at time of DSA
not a header
\t[woody] - lost 1.0
\t{CVE-1}
[17 Mar 2023] DSA-5356-2 sox - regression update
\t[bullseye] - sox 14.4.2+git20190427-2+deb11u2
\t{CVE-2 CVE-2 CVE-3
\tgarbage here
\t[bullseye] - broken

[16 Dec 2013] DSA-2819-1 iceape - several
";
        let mut report = ImportReport::default();
        let got = parse_debian_advisory_list(list.as_bytes(), "list", &mut report);
        let summary: Vec<(&str, Vec<&str>, Vec<&str>)> = got
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    a.aliases.iter().map(String::as_str).collect(),
                    a.affected.iter().map(|p| p.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "DSA-140",
                    vec!["CVE-2002-0660", "CVE-2002-0728"],
                    vec!["libpng", "libpng3"]
                ),
                ("DSA-5356-2", vec![], vec!["sox"]),
                ("DSA-2819-1", vec![], vec![]),
            ]
        );
        // The bad header (its block not counted again), the unterminated CVE
        // list, the garbage line and the broken release line.
        assert_eq!(report.skipped, 4, "{report:?}");
        assert_eq!(report.imported, 3);
        assert_eq!(report.ecosystems["Debian:3.0"], 2);
        assert_eq!(report.skipped_records[0].location, "list:6");
        assert!(
            got.iter()
                .all(|a| a.source == AdvisorySource::DebianAdvisoryList)
        );
    }

    #[test]
    fn indented_lines_before_any_header_are_counted_once() {
        let mut report = ImportReport::default();
        let got = parse_debian_advisory_list(b"\t{CVE-1}\n\t[sid] - a 1\n", "l", &mut report);
        assert!(got.is_empty());
        assert_eq!(report.skipped, 1);
    }

    #[test]
    fn invalid_utf8_does_not_stop_the_list() {
        let mut report = ImportReport::default();
        let got = parse_debian_advisory_list(
            b"[01 Aug 2002] DSA-1 a\xff - t\xfe\n\t[sid] - a 1\n",
            "l",
            &mut report,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].affected.len(), 1);
    }
}
