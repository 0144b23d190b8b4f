//! Feeds that are one document at one URL (Debian tracker, Alpine secdb,
//! EPSS, KEV): always downloaded whole, but only when changed, judged by the
//! ETag / Last-Modified the server gave last time (kept in the cursor).

use std::path::Path;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};

use crate::config::FeedsConfig;
use crate::error::FetchError;
use crate::feed::FeedId;
use crate::http::{Fetcher, Outcome, Request, Sink, shown};
use crate::{FetchMode, FetchStats, Fetched};

/// The cursor of a single-document feed, as JSON.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
}

/// Where the feed lives, the staging file name, the size cap.
fn location(config: &FeedsConfig, feed: &FeedId) -> Result<(Url, &'static str, u64), FetchError> {
    let limits = &config.limits;
    Ok(match feed {
        FeedId::DebianTracker => (
            config.debian_tracker.url.clone(),
            "debian-tracker.json",
            limits.debian_tracker,
        ),
        FeedId::AlpineSecdb { branch, repository } => {
            let mut url = config.alpine.base_url.clone();
            url.path_segments_mut()
                .map_err(|()| FetchError::InvalidUrl {
                    what: "the Alpine secdb base".to_owned(),
                    message: format!("{} cannot be a base", shown(&config.alpine.base_url)),
                })?
                .pop_if_empty()
                .push(branch)
                .push(&format!("{repository}.json"));
            (url, "secdb.json", limits.alpine_secdb)
        }
        FeedId::Epss => (config.epss.url.clone(), "epss.csv.gz", limits.epss),
        FeedId::Kev => (config.kev.url.clone(), "kev.json", limits.kev),
        FeedId::Osv { .. } | FeedId::Nvd | FeedId::RedHatCsaf { .. } => {
            return Err(FetchError::InvalidUrl {
                what: feed.to_string(),
                message: "not a single-document feed".to_owned(),
            });
        }
    })
}

pub(crate) async fn fetch(
    fetcher: &Fetcher<'_>,
    config: &FeedsConfig,
    previous_cursor: Option<&str>,
    staging_dir: &Path,
) -> Result<Fetched, FetchError> {
    let feed = fetcher.feed;
    let (url, file_name, limit) = location(config, feed)?;
    let mut stats = FetchStats::default();
    let previous = match previous_cursor {
        None => Validators::default(),
        Some(text) => serde_json::from_str::<Validators>(text).unwrap_or_else(|_| {
            stats
                .notes
                .push("the previous cursor is unreadable: downloading in full".to_owned());
            Validators::default()
        }),
    };
    let mut headers = HeaderMap::new();
    // A validator that is not a valid header value is not sent: the
    // download is then unconditional, which is always correct.
    if let Some(value) = previous
        .etag
        .as_deref()
        .and_then(|etag| HeaderValue::from_str(etag).ok())
    {
        headers.insert(IF_NONE_MATCH, value);
    }
    if let Some(value) = previous
        .last_modified
        .as_deref()
        .and_then(|date| HeaderValue::from_str(date).ok())
    {
        headers.insert(IF_MODIFIED_SINCE, value);
    }
    let target = staging_dir.join(file_name);
    let request = Request {
        url,
        headers,
        limit,
        extra_retry_statuses: &[],
    };
    let outcome = fetcher.get(request, Sink::File(&target)).await?;
    let (mode, files, validators) = match outcome {
        Outcome::NotModified => (FetchMode::NotModified, Vec::new(), previous),
        Outcome::Complete(body) => (
            FetchMode::Full,
            vec![target],
            Validators {
                etag: body.etag,
                last_modified: body.last_modified,
            },
        ),
    };
    let cursor = if validators == Validators::default() {
        None
    } else {
        serde_json::to_string(&validators).ok()
    };
    Ok(Fetched {
        feed: feed.clone(),
        format: feed.full_format(),
        mode,
        files,
        cursor,
        stats,
    })
}
