//! Red Hat's CSAF data (`https://security.access.redhat.com/data/csaf/v2/`),
//! security advisories or per-CVE VEX documents, each kind in its own
//! directory (`advisories/`, `vex/`) with the same layout:
//! - `archive_latest.txt` names the newest bulk archive
//!   (`csaf_advisories_2025-02-15.tar.zst`), which holds every document as
//!   of that date;
//! - `changes.csv` lists `"2024/rhsa-2024_0010.json","2025-02-18T14:28:08+00:00"`
//!   for every document changed, `deletions.csv` every document withdrawn
//!   (neither is reliably sorted, so both are read whole);
//! - the documents themselves, `<year>/<name>.json`.
//!
//! A full fetch is the archive, streamed to disk. Its cursor is midnight
//! (UTC) of the archive's date: documents changed on that day may or may
//! not be in it, so the next update fetches them again (an upsert of the
//! same document is harmless). Given a cursor, the documents `changes.csv`
//! dates after it are fetched one by one, a few at a time, and
//! `deletions.csv` names the removed ones; the new cursor is the newest
//! timestamp read. More changes than the threshold, and one archive is
//! cheaper than that many requests.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use reqwest::Url;
use reqwest::header::HeaderMap;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::config::FeedsConfig;
use crate::error::FetchError;
use crate::feed::{FeedFormat, RedHatCsafKind};
use crate::http::{Fetcher, LineConsumer, Outcome, Request, Sink, shown};
use crate::{FetchMode, FetchStats, Fetched};

/// `archive_latest.txt` is one file name.
const ARCHIVE_LATEST_LIMIT: u64 = 4 * 1024;

/// `<base>/<kind>/<segments...>`, each segment percent-encoded.
fn csaf_url(
    config: &FeedsConfig,
    kind: RedHatCsafKind,
    segments: &[&str],
) -> Result<Url, FetchError> {
    let mut url = config.redhat_csaf.base_url.clone();
    url.path_segments_mut()
        .map_err(|()| FetchError::InvalidUrl {
            what: "the Red Hat CSAF base".to_owned(),
            message: format!("{} cannot be a base", shown(&config.redhat_csaf.base_url)),
        })?
        .pop_if_empty()
        .push(kind.as_str())
        .extend(segments);
    Ok(url)
}

/// A document path as the CSV files list it: `<year>/<name>.json`, the
/// name in Red Hat's lowercase spelling. Anything else (`..`, deeper paths,
/// other characters) is refused: the path becomes a URL and a file name.
fn document_path(path: &str) -> Option<(&str, &str)> {
    let (year, file) = path.split_once('/')?;
    let name = file.strip_suffix(".json")?;
    let year_ok = year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit());
    let name_ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    (year_ok && name_ok).then_some((year, file))
}

/// The ID the importer gives a document, from its file name: the erratum
/// (`rhsa-2024_0010.json` → `RHSA-2024:0010`) or the CVE of a VEX file
/// (`cve-2024-8088.json` → `CVE-2024-8088`), so a removal deletes the rows
/// the import wrote.
fn document_id(file: &str) -> Option<String> {
    let name = file.strip_suffix(".json")?.to_ascii_uppercase();
    if name.starts_with("CVE-") {
        return Some(name);
    }
    let is_erratum = ["RHSA-", "RHBA-", "RHEA-"]
        .iter()
        .any(|prefix| name.starts_with(prefix));
    if !is_erratum {
        return None;
    }
    let (year, number) = name.split_once('_')?;
    Some(format!("{year}:{number}"))
}

/// `"2024/rhsa-2024_0010.json","2025-02-18T14:28:08+00:00"` → path, time.
fn parse_csv_line(line: &[u8]) -> Option<(&str, OffsetDateTime)> {
    let line = std::str::from_utf8(line).ok()?;
    let (path, timestamp) = line.split_once(',')?;
    let path = unquote(path);
    let timestamp = OffsetDateTime::parse(unquote(timestamp), &Rfc3339).ok()?;
    document_path(path)?;
    Some((path, timestamp))
}

fn unquote(field: &str) -> &str {
    let field = field.trim();
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

/// Collects the documents a CSV dates after `since`, stopping past
/// `threshold` of them.
struct CsvScan {
    since: OffsetDateTime,
    threshold: usize,
    newest: Option<OffsetDateTime>,
    paths: Vec<String>,
    seen: HashSet<String>,
    malformed: u64,
    over_threshold: bool,
}

impl CsvScan {
    fn new(since: OffsetDateTime, threshold: usize) -> CsvScan {
        CsvScan {
            since,
            threshold,
            newest: None,
            paths: Vec::new(),
            seen: HashSet::new(),
            malformed: 0,
            over_threshold: false,
        }
    }
}

impl LineConsumer for CsvScan {
    fn reset(&mut self) {
        *self = CsvScan::new(self.since, self.threshold);
    }

    fn line(&mut self, line: &[u8]) -> ControlFlow<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return ControlFlow::Continue(());
        }
        let Some((path, timestamp)) = parse_csv_line(line) else {
            self.malformed += 1;
            return ControlFlow::Continue(());
        };
        if timestamp <= self.since {
            return ControlFlow::Continue(());
        }
        if self.newest.is_none_or(|newest| timestamp > newest) {
            self.newest = Some(timestamp);
        }
        if self.seen.insert(path.to_owned()) {
            self.paths.push(path.to_owned());
        }
        if self.paths.len() > self.threshold {
            self.over_threshold = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// `csaf_advisories_2025-02-15.tar.zst` → the name and its date; the name
/// becomes a URL segment and a file name, so it is checked strictly.
fn parse_archive_name(text: &str) -> Option<(String, Date)> {
    let name = text.trim();
    let stem = name.strip_suffix(".tar.zst")?;
    let plain = !name.starts_with('.')
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !plain {
        return None;
    }
    let date_text = stem.get(stem.len().checked_sub(10)?..)?;
    let mut parts = date_text.split('-');
    let mut number = |digits: usize| {
        parts
            .next()
            .filter(|part| part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|part| part.parse::<u16>().ok())
    };
    let (year, month, day) = (number(4)?, number(2)?, number(2)?);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::from(year), month, u8::try_from(day).ok()?).ok()?;
    Some((name.to_owned(), date))
}

fn format_cursor(timestamp: OffsetDateTime) -> Option<String> {
    timestamp.format(&Rfc3339).ok()
}

pub(crate) async fn fetch(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    kind: RedHatCsafKind,
    previous_cursor: Option<&str>,
    staging_dir: &Path,
) -> Result<Fetched, FetchError> {
    let mut stats = FetchStats::default();
    let since = previous_cursor.and_then(|cursor| {
        let parsed = OffsetDateTime::parse(cursor, &Rfc3339).ok();
        if parsed.is_none() {
            stats
                .notes
                .push("the previous cursor is unreadable: downloading in full".to_owned());
        }
        parsed
    });
    if let Some(since) = since {
        let threshold = config.redhat_csaf.incremental_threshold;
        let mut changes = CsvScan::new(since, threshold);
        let listed = read_csv(fetcher, config, kind, "changes.csv", &mut changes).await?;
        let mut deletions = CsvScan::new(since, threshold);
        let deletions_listed = if listed && !changes.over_threshold {
            read_csv(fetcher, config, kind, "deletions.csv", &mut deletions).await?
        } else {
            false
        };
        stats.malformed_lines = changes.malformed + deletions.malformed;
        if !listed {
            stats
                .notes
                .push("changes.csv is missing: downloading the archive".to_owned());
        } else if changes.over_threshold || deletions.over_threshold {
            stats.notes.push(format!(
                "more than {threshold} documents changed since the cursor: downloading the archive instead"
            ));
        } else {
            if !deletions_listed {
                stats
                    .notes
                    .push("deletions.csv is missing: withdrawn documents are kept".to_owned());
            }
            return incremental(
                fetcher,
                config,
                kind,
                previous_cursor,
                staging_dir,
                stats,
                changes,
                deletions,
            )
            .await;
        }
    }
    full(fetcher, config, kind, staging_dir, stats).await
}

/// Reads one of the CSV files into `scan`; `false` when it does not exist.
async fn read_csv(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    kind: RedHatCsafKind,
    name: &str,
    scan: &mut CsvScan,
) -> Result<bool, FetchError> {
    let request = Request {
        url: csaf_url(config, kind, &[name])?,
        headers: HeaderMap::new(),
        limit: config.limits.redhat_csv,
        extra_retry_statuses: &[],
    };
    match fetcher.get(request, Sink::Lines(scan)).await {
        Ok(_) => Ok(true),
        Err(error) if error.status() == Some(404) => Ok(false),
        Err(error) => Err(error),
    }
}

#[allow(clippy::too_many_arguments)]
async fn incremental(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    kind: RedHatCsafKind,
    previous_cursor: Option<&str>,
    staging_dir: &Path,
    mut stats: FetchStats,
    changes: CsvScan,
    deletions: CsvScan,
) -> Result<Fetched, FetchError> {
    if changes.paths.is_empty() && deletions.paths.is_empty() {
        return Ok(Fetched {
            feed: fetcher.feed.clone(),
            format: FeedFormat::RedHatCsafJson,
            mode: FetchMode::NotModified,
            files: Vec::new(),
            cursor: previous_cursor.map(str::to_owned),
            stats,
        });
    }
    let newest = match (changes.newest, deletions.newest) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let (files, gone) = fetch_documents(fetcher, config, kind, &changes.paths, staging_dir).await?;
    let fetched: HashSet<&str> = changes
        .paths
        .iter()
        .filter(|path| !gone.contains(path))
        .map(String::as_str)
        .collect();
    let mut removed_ids = Vec::new();
    for path in deletions.paths.iter().chain(&gone) {
        // Deleted, then published again: the fetched document stands.
        if fetched.contains(path.as_str()) {
            continue;
        }
        let id = document_path(path).and_then(|(_, file)| document_id(file));
        match id {
            Some(id) => removed_ids.push(id),
            None => stats.notes.push(format!(
                "{path} was withdrawn but names no erratum or CVE: its rows are kept"
            )),
        }
    }
    removed_ids.sort();
    removed_ids.dedup();
    Ok(Fetched {
        feed: fetcher.feed.clone(),
        format: FeedFormat::RedHatCsafJson,
        mode: FetchMode::Incremental { removed_ids },
        files,
        cursor: newest
            .and_then(format_cursor)
            .or_else(|| previous_cursor.map(str::to_owned)),
        stats,
    })
}

async fn full(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    kind: RedHatCsafKind,
    staging_dir: &Path,
    stats: FetchStats,
) -> Result<Fetched, FetchError> {
    let latest_url = csaf_url(config, kind, &["archive_latest.txt"])?;
    let latest_text = shown(&latest_url);
    let request = Request {
        url: latest_url,
        headers: HeaderMap::new(),
        limit: ARCHIVE_LATEST_LIMIT,
        extra_retry_statuses: &[],
    };
    let Outcome::Complete(body) = fetcher.get(request, Sink::Memory).await? else {
        return Err(FetchError::Malformed {
            url: latest_text,
            message: "304 Not Modified to an unconditional request".to_owned(),
        });
    };
    let (name, date) = std::str::from_utf8(&body.data)
        .ok()
        .and_then(parse_archive_name)
        .ok_or_else(|| FetchError::Malformed {
            url: latest_text.clone(),
            message: "not the name of a dated .tar.zst archive".to_owned(),
        })?;
    let limit = match kind {
        RedHatCsafKind::Advisories => config.limits.redhat_advisories_archive,
        RedHatCsafKind::Vex => config.limits.redhat_vex_archive,
    };
    let target = staging_dir.join(&name);
    let request = Request {
        url: csaf_url(config, kind, &[&name])?,
        headers: HeaderMap::new(),
        limit,
        extra_retry_statuses: &[],
    };
    fetcher.progress.files_planned(fetcher.feed, 1);
    fetcher.get(request, Sink::File(&target)).await?;
    Ok(Fetched {
        feed: fetcher.feed.clone(),
        format: FeedFormat::RedHatCsafArchive,
        mode: FetchMode::Full,
        files: vec![target],
        cursor: format_cursor(date.midnight().assume_utc()),
        stats,
    })
}

/// Downloads each changed document, a few at a time. Returns the files and
/// the paths that are gone (404): withdrawn since they were listed.
async fn fetch_documents(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    kind: RedHatCsafKind,
    paths: &[String],
    staging_dir: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), FetchError> {
    fetcher
        .progress
        .files_planned(fetcher.feed, paths.len() as u64);
    // Collected first, as in `osv::fetch_records`: keeps the future `Send`.
    let downloads: Vec<_> = paths
        .iter()
        .filter_map(|path| document_path(path).map(|(year, file)| (path, year, file)))
        .map(|(path, year, file)| async move {
            // Names carry their year (`rhsa-2024_0010`, `cve-2024-8088`),
            // so they stay unique in one flat directory.
            let target = staging_dir.join(file);
            let request = Request {
                url: csaf_url(config, kind, &[year, file])?,
                headers: HeaderMap::new(),
                limit: config.limits.redhat_document,
                extra_retry_statuses: &[],
            };
            match fetcher.get(request, Sink::File(&target)).await {
                Ok(_) => Ok(Ok(target)),
                Err(error) if error.status() == Some(404) => Ok(Err(path.clone())),
                Err(error) => Err(error),
            }
        })
        .collect();
    let results: Vec<Result<Result<PathBuf, String>, FetchError>> =
        futures_util::stream::iter(downloads)
            .buffer_unordered(config.redhat_csaf.concurrency.max(1))
            .collect()
            .await;
    let mut files = Vec::new();
    let mut gone = Vec::new();
    for result in results {
        match result? {
            Ok(file) => files.push(file),
            Err(path) => gone.push(path),
        }
    }
    files.sort();
    gone.sort();
    Ok((files, gone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines() {
        let at = |text: &str| OffsetDateTime::parse(text, &Rfc3339).unwrap();
        let cases: [(&str, Option<(&str, &str)>); 9] = [
            (
                r#""2024/rhsa-2024_0010.json","2025-02-18T14:28:08+00:00""#,
                Some(("2024/rhsa-2024_0010.json", "2025-02-18T14:28:08Z")),
            ),
            (
                "2024/cve-2024-8088.json,2025-02-18T14:28:08+02:00",
                Some(("2024/cve-2024-8088.json", "2025-02-18T12:28:08Z")),
            ),
            (r#""2024/rhsa-2024_0010.json","yesterday""#, None),
            (r#""../etc/passwd.json","2025-02-18T14:28:08+00:00""#, None),
            (r#""2024/a/b.json","2025-02-18T14:28:08+00:00""#, None),
            (
                r#""2024/RHSA-2024_0010.json","2025-02-18T14:28:08+00:00""#,
                None,
            ),
            (
                r#""2024/rhsa-2024_0010.xml","2025-02-18T14:28:08+00:00""#,
                None,
            ),
            (
                r#""24/rhsa-2024_0010.json","2025-02-18T14:28:08+00:00""#,
                None,
            ),
            ("no comma", None),
        ];
        for (line, expected) in cases {
            let got = parse_csv_line(line.as_bytes());
            assert_eq!(got, expected.map(|(path, time)| (path, at(time))), "{line}");
        }
    }

    #[test]
    fn ids_from_file_names() {
        let cases = [
            ("rhsa-2024_0010.json", Some("RHSA-2024:0010")),
            ("rhea-2024_5245.json", Some("RHEA-2024:5245")),
            ("rhba-2023_1.json", Some("RHBA-2023:1")),
            ("cve-2024-8088.json", Some("CVE-2024-8088")),
            ("rhsa-2024-0010.json", None),
            ("readme.json", None),
            ("rhsa-2024_0010", None),
        ];
        for (file, expected) in cases {
            assert_eq!(document_id(file).as_deref(), expected, "{file}");
        }
    }

    #[test]
    fn archive_names() {
        let cases = [
            (
                "csaf_advisories_2025-02-15.tar.zst",
                Some(("csaf_advisories_2025-02-15.tar.zst", "2025-02-15")),
            ),
            (
                "csaf_vex_2024-11-03.tar.zst\n",
                Some(("csaf_vex_2024-11-03.tar.zst", "2024-11-03")),
            ),
            ("csaf_advisories_2025-02-15.tar.gz", None),
            ("csaf_advisories_2025-13-15.tar.zst", None),
            ("../csaf_advisories_2025-02-15.tar.zst", None),
            ("x y_2025-02-15.tar.zst", None),
            (
                "2025-02-15.tar.zst",
                Some(("2025-02-15.tar.zst", "2025-02-15")),
            ),
            (".tar.zst", None),
            ("", None),
        ];
        for (text, expected) in cases {
            let got = parse_archive_name(text);
            let got = got
                .as_ref()
                .map(|(name, date)| (name.as_str(), date.to_string()));
            assert_eq!(
                got,
                expected.map(|(name, date)| (name, date.to_owned())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn scans_collect_only_newer_documents_in_any_order() {
        let since = OffsetDateTime::parse("2025-02-15T00:00:00Z", &Rfc3339).unwrap();
        let lines = [
            r#""2024/rhsa-2024_0010.json","2025-02-18T14:28:08+00:00""#,
            r#""2024/rhsa-2024_4444.json","2025-02-14T14:27:54+00:00""#,
            "garbage",
            r#""2024/rhsa-2024_5555.json","2025-02-16T14:27:54+00:00""#,
            r#""2024/rhsa-2024_0010.json","2025-02-17T00:00:00+00:00""#,
            "",
        ];
        // (threshold, paths, over threshold)
        let cases: [(usize, &[&str], bool); 3] = [
            (
                10,
                &["2024/rhsa-2024_0010.json", "2024/rhsa-2024_5555.json"],
                false,
            ),
            (
                2,
                &["2024/rhsa-2024_0010.json", "2024/rhsa-2024_5555.json"],
                false,
            ),
            (
                1,
                &["2024/rhsa-2024_0010.json", "2024/rhsa-2024_5555.json"],
                true,
            ),
        ];
        for (threshold, paths, over) in cases {
            let mut scan = CsvScan::new(since, threshold);
            for line in lines {
                if scan.line(line.as_bytes()).is_break() {
                    break;
                }
            }
            assert_eq!(scan.paths, paths, "threshold {threshold}");
            assert_eq!(scan.over_threshold, over, "threshold {threshold}");
            assert_eq!(
                scan.newest.and_then(format_cursor).as_deref(),
                Some("2025-02-18T14:28:08Z")
            );
            if !over {
                assert_eq!(scan.malformed, 1);
            }
        }
    }
}
