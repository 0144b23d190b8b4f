//! The feed downloader behind `shipshape db update`: fetches advisory data
//! from the public locations (or a mirror) into a staging directory and says
//! what it fetched. Parsing is the `advisory` crate's job; storing it the
//! database's. Incremental where the source allows it (OSV `modified_id.csv`,
//! NVD `lastModStartDate`, Red Hat CSAF `changes.csv`), conditional requests (ETag / Last-Modified) for
//! the single-document feeds. Each feed's progress is an opaque cursor string
//! the caller keeps and hands back next time.
//!
//! ```no_run
//! # async fn run() -> Result<(), feeds::FetchError> {
//! let _ = rustls::crypto::ring::default_provider().install_default();
//! let config = feeds::FeedsConfig::default();
//! let client = feeds::build_client(&config)?;
//! let feed: feeds::FeedId = "osv/Go".parse()?;
//! let staging = std::path::Path::new("/tmp/staging/osv-Go");
//! let fetched = feeds::fetch(&client, &config, &feed, None, staging, &feeds::NoProgress).await?;
//! # let _ = fetched;
//! # Ok(()) }
//! ```

mod config;
mod error;
mod feed;
mod http;
mod nvd;
mod osv;
mod progress;
mod redhat;
mod simple;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

pub use config::{
    AlpineConfig, ApiKey, DEFAULT_ALPINE_BRANCHES, DEFAULT_ALPINE_REPOSITORIES,
    DEFAULT_OSV_ECOSYSTEMS, FeedsConfig, HttpConfig, NvdConfig, NvdEnabled, OsvConfig,
    RedHatCsafConfig, RetryPolicy, SimpleFeedConfig, SizeLimits,
};
pub use error::FetchError;
pub use feed::{FeedFormat, FeedId, FeedIdError, RedHatCsafKind};
pub use http::build_client;
pub use osv::list_osv_ecosystems;
pub use progress::{FetchProgress, NoProgress};

/// What one fetch left in the staging directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub feed: FeedId,
    /// Which importer reads `files`.
    pub format: FeedFormat,
    pub mode: FetchMode,
    /// Complete files in the staging directory, in a stable order.
    pub files: Vec<PathBuf>,
    /// Hand back to the next [`fetch`] of this feed; `None` when the source
    /// offers nothing to resume from (the next fetch is full again).
    pub cursor: Option<String>,
    pub stats: FetchStats,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchMode {
    /// `files` replace everything stored for the feed.
    Full,
    /// `files` update the records they hold; `removed_ids` are gone upstream
    /// (an OSV record listed as changed that no longer exists, a Red Hat
    /// document in `deletions.csv`), as the importer spells their IDs.
    Incremental { removed_ids: Vec<String> },
    /// Nothing changed since the cursor; no files.
    NotModified,
}

/// Figures about one fetch, and what went wrong without failing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Lines of OSV's `modified_id.csv` or Red Hat's `changes.csv` /
    /// `deletions.csv` that could not be read (skipped).
    pub malformed_lines: u64,
    /// Why the fetch did something other than the obvious (a cursor it could
    /// not read, an incremental update that fell back to a full one, …).
    pub notes: Vec<String>,
}

/// Fetches `feed` into `staging_dir` (created if missing; meant for this
/// feed alone: files of the same names are replaced). `previous_cursor` is
/// the cursor of the last successful fetch of this feed; an unreadable one
/// means a full fetch (noted in the stats). Nothing is printed; `progress`
/// hears about requests, bytes and files.
pub async fn fetch(
    client: &reqwest::Client,
    config: &FeedsConfig,
    feed: &FeedId,
    previous_cursor: Option<&str>,
    staging_dir: &Path,
    progress: &dyn FetchProgress,
) -> Result<Fetched, FetchError> {
    feed.validate()?;
    tokio::fs::create_dir_all(staging_dir)
        .await
        .map_err(|error| FetchError::io(staging_dir, error))?;
    let counters = http::Counters::default();
    let fetcher = http::Fetcher {
        client,
        http: &config.http,
        feed,
        progress,
        counters: &counters,
    };
    let mut fetched = match feed {
        FeedId::Osv { ecosystem } => {
            osv::fetch(&fetcher, config, ecosystem, previous_cursor, staging_dir).await?
        }
        FeedId::Nvd => nvd::fetch(&fetcher, config, previous_cursor, staging_dir).await?,
        FeedId::RedHatCsaf { kind } => {
            redhat::fetch(&fetcher, config, *kind, previous_cursor, staging_dir).await?
        }
        FeedId::DebianTracker | FeedId::AlpineSecdb { .. } | FeedId::Epss | FeedId::Kev => {
            simple::fetch(&fetcher, config, previous_cursor, staging_dir).await?
        }
    };
    fetched.stats.requests = counters.requests.load(Ordering::Relaxed);
    fetched.stats.retries = counters.retries.load(Ordering::Relaxed);
    fetched.stats.bytes = counters.bytes.load(Ordering::Relaxed);
    Ok(fetched)
}
