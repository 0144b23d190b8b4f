//! The OSV bulk export: `<ECO>/all.zip` in full, or, given a cursor, the
//! records `<ECO>/modified_id.csv` lists as changed since, one `<ID>.json`
//! each. The cursor is the newest timestamp of `modified_id.csv`.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use reqwest::Url;
use reqwest::header::HeaderMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::FeedsConfig;
use crate::error::FetchError;
use crate::feed::{FeedFormat, FeedId};
use crate::http::{Counters, Fetcher, LineConsumer, Outcome, Request, Sink, shown};
use crate::progress::NoProgress;
use crate::{FetchMode, FetchStats, Fetched};

/// `<base>/<segments...>`, each segment percent-encoded (`Rocky Linux`).
fn osv_url(config: &FeedsConfig, segments: &[&str]) -> Result<Url, FetchError> {
    let mut url = config.osv.base_url.clone();
    url.path_segments_mut()
        .map_err(|()| FetchError::InvalidUrl {
            what: "the OSV base".to_owned(),
            message: format!("{} cannot be a base", shown(&config.osv.base_url)),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The ecosystems the OSV export offers (`ecosystems.txt`, one per line).
pub async fn list_osv_ecosystems(
    client: &reqwest::Client,
    config: &FeedsConfig,
) -> Result<Vec<String>, FetchError> {
    let counters = Counters::default();
    let label = FeedId::osv("ecosystems.txt");
    let fetcher = Fetcher {
        client,
        http: &config.http,
        feed: &label,
        progress: &NoProgress,
        counters: &counters,
    };
    let url = osv_url(config, &["ecosystems.txt"])?;
    let url_text = shown(&url);
    let request = Request {
        url,
        headers: HeaderMap::new(),
        limit: config.limits.osv_ecosystems,
        extra_retry_statuses: &[],
    };
    let Outcome::Complete(body) = fetcher.get(request, Sink::Memory).await? else {
        return Err(FetchError::Malformed {
            url: url_text,
            message: "304 Not Modified to an unconditional request".to_owned(),
        });
    };
    let text = String::from_utf8(body.data).map_err(|_| FetchError::Malformed {
        url: url_text,
        message: "not UTF-8 text".to_owned(),
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|name| FeedId::osv(*name).validate().is_ok())
        .map(str::to_owned)
        .collect())
}

/// Reads `modified_id.csv` (newest first) up to the first record not newer
/// than `since`, or, without `since`, up to the first readable record.
struct ModifiedScan {
    since: Option<OffsetDateTime>,
    /// Stop collecting past this many changed records.
    threshold: usize,
    newest: Option<OffsetDateTime>,
    changed: Vec<String>,
    seen: HashSet<String>,
    malformed: u64,
    over_threshold: bool,
}

impl ModifiedScan {
    fn new(since: Option<OffsetDateTime>, threshold: usize) -> ModifiedScan {
        ModifiedScan {
            since,
            threshold,
            newest: None,
            changed: Vec::new(),
            seen: HashSet::new(),
            malformed: 0,
            over_threshold: false,
        }
    }
}

/// An OSV ID as it may appear in a URL and a file name: `GHSA-…`,
/// `ALSA-2023:1234`, `DEBIAN-CVE-2024-1`.
fn is_record_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+'))
}

fn parse_modified_line(line: &[u8]) -> Option<(OffsetDateTime, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (timestamp, id) = line.split_once(',')?;
    let timestamp = OffsetDateTime::parse(timestamp.trim(), &Rfc3339).ok()?;
    let id = id.trim();
    is_record_id(id).then_some((timestamp, id))
}

impl LineConsumer for ModifiedScan {
    fn reset(&mut self) {
        *self = ModifiedScan::new(self.since, self.threshold);
    }

    fn line(&mut self, line: &[u8]) -> ControlFlow<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return ControlFlow::Continue(());
        }
        let Some((timestamp, id)) = parse_modified_line(line) else {
            self.malformed += 1;
            return ControlFlow::Continue(());
        };
        if self.newest.is_none_or(|newest| timestamp > newest) {
            self.newest = Some(timestamp);
        }
        let Some(since) = self.since else {
            return ControlFlow::Break(());
        };
        if timestamp <= since {
            return ControlFlow::Break(());
        }
        if self.seen.insert(id.to_owned()) {
            self.changed.push(id.to_owned());
        }
        if self.changed.len() > self.threshold {
            self.over_threshold = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn format_cursor(timestamp: OffsetDateTime) -> Option<String> {
    timestamp.format(&Rfc3339).ok()
}

pub(crate) async fn fetch(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    ecosystem: &str,
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

    let mut scan = ModifiedScan::new(since, config.osv.incremental_threshold);
    let csv_url = osv_url(config, &[ecosystem, "modified_id.csv"])?;
    let request = Request {
        url: csv_url,
        headers: HeaderMap::new(),
        limit: config.limits.osv_modified_csv,
        extra_retry_statuses: &[],
    };
    // Read before the archive: a record changed during a long download is
    // then newer than the cursor and fetched again next time.
    let listed = match fetcher.get(request, Sink::Lines(&mut scan)).await {
        Ok(_) => true,
        Err(error) if error.status() == Some(404) => {
            stats.notes.push(
                "modified_id.csv is missing: full download, no cursor for an incremental update"
                    .to_owned(),
            );
            false
        }
        Err(error) => return Err(error),
    };
    stats.malformed_lines = scan.malformed;
    let cursor = scan.newest.and_then(format_cursor);

    if listed && since.is_some() && !scan.over_threshold {
        if scan.changed.is_empty() {
            return Ok(Fetched {
                feed: fetcher.feed.clone(),
                format: FeedFormat::OsvJson,
                mode: FetchMode::NotModified,
                files: Vec::new(),
                cursor: previous_cursor.map(str::to_owned),
                stats,
            });
        }
        let (files, removed_ids) =
            fetch_records(fetcher, config, ecosystem, &scan.changed, staging_dir).await?;
        return Ok(Fetched {
            feed: fetcher.feed.clone(),
            format: FeedFormat::OsvJson,
            mode: FetchMode::Incremental { removed_ids },
            files,
            cursor,
            stats,
        });
    }
    if scan.over_threshold {
        stats.notes.push(format!(
            "more than {} records changed since the cursor: downloading all.zip instead",
            config.osv.incremental_threshold
        ));
    }
    let target = staging_dir.join("all.zip");
    let request = Request {
        url: osv_url(config, &[ecosystem, "all.zip"])?,
        headers: HeaderMap::new(),
        limit: config.limits.osv_archive,
        extra_retry_statuses: &[],
    };
    fetcher.progress.files_planned(fetcher.feed, 1);
    fetcher.get(request, Sink::File(&target)).await?;
    Ok(Fetched {
        feed: fetcher.feed.clone(),
        format: FeedFormat::OsvZip,
        mode: FetchMode::Full,
        files: vec![target],
        cursor: if listed { cursor } else { None },
        stats,
    })
}

/// Downloads `<ECO>/<ID>.json` for each ID, a few at a time. A record that
/// is gone (404) was withdrawn from the export: its ID is returned as removed.
async fn fetch_records(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    ecosystem: &str,
    ids: &[String],
    staging_dir: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), FetchError> {
    fetcher
        .progress
        .files_planned(fetcher.feed, ids.len() as u64);
    // Collected first: a lazy `map` adapter inside the stream makes the
    // future's `Send` bound unprovable ("FnOnce is not general enough"), and callers
    // spawn fetches on a multi-threaded runtime.
    let downloads: Vec<_> = ids
        .iter()
        .map(|id| async move {
            let file_name = format!("{id}.json");
            // `:` (AlmaLinux's ALSA-2023:1234) is not portable in file names;
            // the importer reads the ID from the record, not the name.
            let target = staging_dir.join(file_name.replace(':', "_"));
            let request = Request {
                url: osv_url(config, &[ecosystem, &file_name])?,
                headers: HeaderMap::new(),
                limit: config.limits.osv_record,
                extra_retry_statuses: &[],
            };
            match fetcher.get(request, Sink::File(&target)).await {
                Ok(_) => Ok(Ok(target)),
                Err(error) if error.status() == Some(404) => Ok(Err(id.clone())),
                Err(error) => Err(error),
            }
        })
        .collect();
    let results: Vec<Result<Result<PathBuf, String>, FetchError>> =
        futures_util::stream::iter(downloads)
            .buffer_unordered(config.osv.concurrency.max(1))
            .collect()
            .await;
    let mut files = Vec::new();
    let mut removed = Vec::new();
    for result in results {
        match result? {
            Ok(file) => files.push(file),
            Err(id) => removed.push(id),
        }
    }
    files.sort();
    removed.sort();
    Ok((files, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(since: Option<&str>, threshold: usize, lines: &[&str]) -> ModifiedScan {
        let since = since.map(|s| OffsetDateTime::parse(s, &Rfc3339).unwrap());
        let mut scan = ModifiedScan::new(since, threshold);
        for line in lines {
            if scan.line(line.as_bytes()).is_break() {
                break;
            }
        }
        scan
    }

    #[test]
    fn modified_lines() {
        let lines = [
            "2024-05-03T10:00:00Z,GO-2024-0003",
            "not a line",
            "2024-05-02T10:00:00.5+02:00,ALSA-2024:0002",
            "2024-05-02T08:00:00.4Z,../../etc/passwd",
            "2024-05-01T10:00:00Z,GO-2024-0001",
            "2024-04-01T10:00:00Z,GO-2024-0000",
        ];
        // (since, threshold, changed, malformed, over threshold)
        type Case<'a> = (Option<&'a str>, usize, &'a [&'a str], u64, bool);
        let cases: [Case<'_>; 5] = [
            (None, 10, &[], 0, false),
            (
                Some("2024-05-01T10:00:00Z"),
                10,
                &["GO-2024-0003", "ALSA-2024:0002"],
                2,
                false,
            ),
            (
                Some("2024-01-01T00:00:00Z"),
                10,
                &[
                    "GO-2024-0003",
                    "ALSA-2024:0002",
                    "GO-2024-0001",
                    "GO-2024-0000",
                ],
                2,
                false,
            ),
            (
                Some("2024-01-01T00:00:00Z"),
                1,
                &["GO-2024-0003", "ALSA-2024:0002"],
                1,
                true,
            ),
            (Some("2024-05-03T10:00:00Z"), 10, &[], 0, false),
        ];
        for (since, threshold, changed, malformed, over) in cases {
            let scan = scan(since, threshold, &lines);
            assert_eq!(scan.changed, changed, "{since:?}");
            assert_eq!(scan.malformed, malformed, "{since:?}");
            assert_eq!(scan.over_threshold, over, "{since:?}");
            assert_eq!(
                scan.newest.and_then(format_cursor).as_deref(),
                Some("2024-05-03T10:00:00Z")
            );
        }
    }

    #[test]
    fn record_ids() {
        for (id, ok) in [
            ("GHSA-xxxx-yyyy-zzzz", true),
            ("ALSA-2023:1234", true),
            ("DEBIAN-CVE-2024-1", true),
            ("", false),
            (".hidden", false),
            ("a/b", false),
            ("a b", false),
            ("%2e%2e", false),
        ] {
            assert_eq!(is_record_id(id), ok, "{id:?}");
        }
    }
}
