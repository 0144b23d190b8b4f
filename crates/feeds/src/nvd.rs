//! NVD CVE API 2.0: paged (`startIndex`, `resultsPerPage`) until
//! `totalResults`; given a cursor, only CVEs modified since, in date windows
//! of at most 120 days (`lastModStartDate` / `lastModEndDate`). Each page is
//! saved as one file. The cursor is the time the fetch started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::FeedsConfig;
use crate::error::FetchError;
use crate::http::{Fetcher, Outcome, Request, Sink, shown};
use crate::{FetchMode, FetchStats, Fetched};

/// The API's ceiling for `resultsPerPage`.
const MAX_RESULTS_PER_PAGE: u32 = 2_000;

/// NVD answers rate limiting with 403 as well as 429 and 503.
const NVD_RETRY_STATUSES: &[u16] = &[403];

/// The part of a page needed to walk the pages; the CVEs are only counted.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageHeader {
    total_results: u64,
    #[serde(default)]
    vulnerabilities: Vec<serde::de::IgnoredAny>,
}

/// The date form the API documents: `2021-08-04T13:00:00.000+00:00`.
pub(crate) fn api_date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// `[start, end)` cut into consecutive windows no longer than `max`.
pub(crate) fn windows(
    start: OffsetDateTime,
    end: OffsetDateTime,
    max: time::Duration,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut windows = Vec::new();
    let mut from = start;
    while from < end {
        let to = from.saturating_add(max).min(end);
        windows.push((from, to));
        from = to;
    }
    windows
}

struct Throttle {
    interval: Duration,
    last: Option<Instant>,
}

impl Throttle {
    async fn wait(&mut self, fetcher: &Fetcher<'_>) {
        if let Some(last) = self.last {
            let wait = (last + self.interval).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                fetcher.progress.throttled(fetcher.feed, wait);
                tokio::time::sleep(wait).await;
            }
        }
        self.last = Some(Instant::now());
    }
}

pub(crate) async fn fetch(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    previous_cursor: Option<&str>,
    staging_dir: &Path,
) -> Result<Fetched, FetchError> {
    let nvd = &config.nvd;
    let started = OffsetDateTime::now_utc();
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
    let max_window = time::Duration::try_from(nvd.max_window)
        .ok()
        .filter(|window| window.is_positive())
        .ok_or_else(|| FetchError::InvalidUrl {
            what: "the NVD date window".to_owned(),
            message: format!("{:?} is not a usable window length", nvd.max_window),
        })?;
    let date_windows: Vec<Option<(OffsetDateTime, OffsetDateTime)>> = match since {
        Some(since) => windows(since, started, max_window)
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None],
    };

    let mut headers = HeaderMap::new();
    if let Some(key) = &nvd.api_key {
        let mut value =
            HeaderValue::from_str(key.expose()).map_err(|_| FetchError::InvalidUrl {
                what: "the NVD API key".to_owned(),
                message: "not a valid header value".to_owned(),
            })?;
        value.set_sensitive(true);
        headers.insert("apiKey", value);
    }
    let per_page = nvd.results_per_page.clamp(1, MAX_RESULTS_PER_PAGE);
    let mut throttle = Throttle {
        interval: nvd.interval(),
        last: None,
    };
    let mut files = Vec::new();
    let mut pages: u32 = 0;
    for (window_number, window) in date_windows.iter().enumerate() {
        let mut start_index: u64 = 0;
        loop {
            pages += 1;
            if pages > nvd.max_pages {
                return Err(FetchError::Malformed {
                    url: shown(&nvd.url),
                    message: format!("more than {} pages", nvd.max_pages),
                });
            }
            let mut url = nvd.url.clone();
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("resultsPerPage", &per_page.to_string())
                    .append_pair("startIndex", &start_index.to_string());
                if let Some((from, to)) = window {
                    query
                        .append_pair("lastModStartDate", &api_date(*from))
                        .append_pair("lastModEndDate", &api_date(*to));
                }
            }
            throttle.wait(fetcher).await;
            let (header, body) = fetch_page(fetcher, config, url, headers.clone()).await?;
            let count = header.vulnerabilities.len() as u64;
            if count > 0 {
                let path = page_path(staging_dir, window_number, start_index);
                tokio::fs::write(&path, &body)
                    .await
                    .map_err(|error| FetchError::io(&path, error))?;
                fetcher
                    .progress
                    .file_done(fetcher.feed, &path, body.len() as u64);
                files.push(path);
            }
            if start_index == 0 {
                let planned = header.total_results.div_ceil(u64::from(per_page));
                fetcher.progress.files_planned(fetcher.feed, planned);
            }
            start_index += count;
            if count == 0 || start_index >= header.total_results {
                break;
            }
        }
    }
    Ok(Fetched {
        feed: fetcher.feed.clone(),
        format: fetcher.feed.full_format(),
        mode: if since.is_some() {
            FetchMode::Incremental {
                removed_ids: Vec::new(),
            }
        } else {
            FetchMode::Full
        },
        files,
        cursor: started.format(&Rfc3339).ok(),
        stats,
    })
}

fn page_path(staging_dir: &Path, window: usize, start_index: u64) -> PathBuf {
    staging_dir.join(format!("nvd-{window:03}-{start_index:07}.json"))
}

async fn fetch_page(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    url: Url,
    headers: HeaderMap,
) -> Result<(PageHeader, Vec<u8>), FetchError> {
    let url_text = shown(&url);
    let request = Request {
        url,
        headers,
        limit: config.limits.nvd_page,
        extra_retry_statuses: NVD_RETRY_STATUSES,
    };
    let Outcome::Complete(body) = fetcher.get(request, Sink::Memory).await? else {
        return Err(FetchError::Malformed {
            url: url_text,
            message: "304 Not Modified to an unconditional request".to_owned(),
        });
    };
    let header: PageHeader =
        serde_json::from_slice(&body.data).map_err(|error| FetchError::Malformed {
            url: url_text,
            message: format!("not an NVD CVE API 2.0 page: {error}"),
        })?;
    Ok((header, body.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    }

    #[test]
    fn dates_as_the_api_wants_them() {
        let cases = [
            ("2021-08-04T13:00:00Z", "2021-08-04T13:00:00.000+00:00"),
            (
                "2021-08-04T14:00:00.1234+01:00",
                "2021-08-04T13:00:00.123+00:00",
            ),
            ("1999-12-31T23:59:59.999Z", "1999-12-31T23:59:59.999+00:00"),
        ];
        for (input, expected) in cases {
            assert_eq!(api_date(at(input)), expected, "{input}");
        }
    }

    #[test]
    fn windows_are_split_at_the_limit() {
        let day = time::Duration::days(1);
        let max = day * 120;
        let start = at("2024-01-01T00:00:00Z");
        // (span, windows expected)
        for (span, expected) in [
            (time::Duration::ZERO, 0),
            (day, 1),
            (max, 1),
            (max + day, 2),
            (day * 300, 3),
        ] {
            let windows = windows(start, start + span, max);
            assert_eq!(windows.len(), expected, "{span}");
            let mut from = start;
            for (window_start, window_end) in &windows {
                assert_eq!(*window_start, from);
                assert!(*window_end - *window_start <= max);
                from = *window_end;
            }
            if expected > 0 {
                assert_eq!(from, start + span);
            }
        }
    }
}
