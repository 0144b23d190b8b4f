//! The advisory database update (`shipshape db update`, and the server's
//! periodic update): downloads every feed (the `feeds` crate) into a staging
//! directory under the data directory, a few at a time, then writes all
//! that arrived in ONE database transaction. A feed that fails to download
//! keeps its previous rows and cursor; the others are committed. A killed
//! update leaves the previous database as it was (SQLite rolls the
//! uncommitted transaction back) and stale staging is removed by the next
//! run. An OS file lock (`update.lock`) keeps two updates — two CLI runs, or
//! the CLI and a server — from sharing the staging directory.

use std::fs::TryLockError;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use advisory::detect::{Format, import_feed_files};
use advisory::{ImportReport, ZipLimits};
use feeds::{FeedFormat, FeedId, FeedsConfig, FetchError, FetchMode, FetchProgress, Fetched};
use futures_util::StreamExt as _;
use model::{Advisory, CveEnrichment};
use url::Url;
use vulndb::{FeedInfo, KeepUnreadable, VulnDb};

/// Feeds downloading at once: enough to hide one slow source behind the
/// others without opening dozens of connections to the same host.
const FETCH_CONCURRENCY: usize = 4;

/// Staging directories live here, one per feed, removed after each run.
pub const STAGING_DIR: &str = "staging";
/// Held (an OS file lock) while an update runs, so two updates never share
/// the staging directory. The OS releases it when the process dies.
pub const LOCK_FILE: &str = "update.lock";

/// Bound on what one Red Hat CSAF archive may unpack to while imported
/// (a zstd-bomb bound; the VEX archive unpacks to tens of GB).
pub const DEFAULT_RED_HAT_UNPACKED_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// What to update.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// These feeds (duplicates ignored); empty: every enabled feed of the config.
    pub feeds: Vec<FeedId>,
    /// Ignore the stored cursors: download every feed in full.
    pub full: bool,
    /// Bound on a Red Hat CSAF archive's unpacked size, in bytes.
    pub red_hat_unpacked_bytes: u64,
}

impl Default for UpdateOptions {
    fn default() -> UpdateOptions {
        UpdateOptions {
            feeds: Vec::new(),
            full: false,
            red_hat_unpacked_bytes: DEFAULT_RED_HAT_UNPACKED_BYTES,
        }
    }
}

/// Download progress, plus each feed's stage (`connecting`, `not
/// modified`, `downloaded, waiting to import`, `failed`, `importing`,
/// `imported, to be committed`).
pub trait UpdateProgress: FetchProgress {
    fn stage(&self, _feed: &FeedId, _stage: &str) {}
}

impl UpdateProgress for feeds::NoProgress {}

/// What happened to one feed.
#[derive(Debug)]
pub struct FeedOutcome {
    pub feed: FeedId,
    pub fetch_time: Duration,
    /// `Err`: why the feed kept its previous data.
    pub result: Result<Applied, String>,
    pub stats: Option<feeds::FetchStats>,
}

#[derive(Debug)]
pub enum Applied {
    NotModified,
    Written {
        /// `full` or `incremental`.
        mode: &'static str,
        files: usize,
        advisories: u64,
        enrichments: u64,
        removed: usize,
        report: ImportReport,
    },
}

/// What an update did.
#[derive(Debug)]
pub struct UpdateSummary {
    /// One per feed, in the order asked.
    pub outcomes: Vec<FeedOutcome>,
    /// The committed version; `None` when nothing was written (the version stays).
    pub committed: Option<i64>,
    /// The database version after the update.
    pub database_version: i64,
    pub elapsed: Duration,
}

impl UpdateSummary {
    pub fn failed(&self) -> impl Iterator<Item = &FeedOutcome> {
        self.outcomes.iter().filter(|o| o.result.is_err())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no feed to update (every source is disabled)")]
    NoFeeds,
    #[error(transparent)]
    InvalidFeed(#[from] feeds::FeedIdError),
    #[error("another `shipshape db update` is running on {}", .0.display())]
    Locked(PathBuf),
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(FetchError),
    #[error(transparent)]
    Database(#[from] vulndb::VulnDbError),
    /// Writing the fetched feeds failed: nothing was committed.
    #[error(transparent)]
    Import(vulndb::VulnDbError),
    #[error("import worker failed: {0}")]
    Worker(String),
}

/// Updates the advisory database in `data_dir` from the feeds `config`
/// names; see the module docs. Feed failures are in the summary's
/// outcomes, not an error.
pub async fn update_database(
    data_dir: &Path,
    config: &FeedsConfig,
    options: &UpdateOptions,
    progress: &dyn UpdateProgress,
) -> Result<UpdateSummary, UpdateError> {
    let started = Instant::now();
    let feeds = if options.feeds.is_empty() {
        config.enabled_feeds()
    } else {
        let mut chosen = Vec::new();
        for feed in &options.feeds {
            if !chosen.contains(feed) {
                chosen.push(feed.clone());
            }
        }
        chosen
    };
    if feeds.is_empty() {
        return Err(UpdateError::NoFeeds);
    }
    // The names become URL segments; refuse bad ones before any download.
    for feed in &feeds {
        feed.validate()?;
    }

    let db = VulnDb::open(data_dir).await?;
    let _lock = lock_updates(data_dir)?;
    let staging_root = data_dir.join(STAGING_DIR);
    // Whatever is there was left by a killed run: the lock says none is running.
    remove_dir(&staging_root)?;

    let client = feeds::build_client(config).map_err(UpdateError::Client)?;
    let mut cursors = Vec::with_capacity(feeds.len());
    for feed in &feeds {
        let cursor = if options.full {
            None
        } else {
            db.feed_cursor(&feed.to_string()).await?
        };
        cursors.push(cursor);
    }
    let fetch_progress: &dyn FetchProgress = progress;
    // The futures are built first, then streamed: a stream that maps to
    // futures borrowing its items is not provably `Send` (a rustc limitation
    // with higher-ranked lifetimes), and the server runs updates on its runtime.
    let downloads: Vec<_> = feeds
        .iter()
        .zip(&cursors)
        .enumerate()
        .map(|(index, (feed, cursor))| {
            let client = &client;
            let staging = staging_root.join(staging_name(feed));
            async move {
                progress.stage(feed, "connecting");
                let begun = Instant::now();
                let result = feeds::fetch(
                    client,
                    config,
                    feed,
                    cursor.as_deref(),
                    &staging,
                    fetch_progress,
                )
                .await;
                progress.stage(
                    feed,
                    match &result {
                        Ok(f) if f.mode == FetchMode::NotModified => "not modified",
                        Ok(_) => "downloaded, waiting to import",
                        Err(_) => "failed",
                    },
                );
                (index, begun.elapsed(), result)
            }
        })
        .collect();
    let mut fetched: Vec<(usize, Duration, Result<Fetched, FetchError>)> =
        futures_util::stream::iter(downloads)
            .buffer_unordered(FETCH_CONCURRENCY)
            .collect()
            .await;
    fetched.sort_by_key(|(index, _, _)| *index);

    let applied = apply(
        &db,
        config,
        &feeds,
        fetched,
        options.red_hat_unpacked_bytes,
        progress,
    )
    .await;
    // Staging is only needed until the transaction is over, committed or not.
    let cleaned = remove_dir(&staging_root);
    let (outcomes, committed) = applied?;
    cleaned?;
    let status = db.status().await?;
    db.close().await;
    Ok(UpdateSummary {
        outcomes,
        committed,
        database_version: status.database_version,
        elapsed: started.elapsed(),
    })
}

/// A URL without user name or password, for the database and the terminal.
pub fn shown(url: &Url) -> String {
    let mut clean = url.clone();
    // Fails only for URLs that cannot carry user-info, which then have none.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

/// Where a feed's data comes from, as stored with it.
pub fn origin(config: &FeedsConfig, feed: &FeedId) -> String {
    let joined = |base: &Url, segments: &[&str]| {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        shown(&url)
    };
    match feed {
        FeedId::Osv { ecosystem } => joined(&config.osv.base_url, &[ecosystem, ""]),
        FeedId::DebianTracker => shown(&config.debian_tracker.url),
        FeedId::AlpineSecdb { branch, repository } => joined(
            &config.alpine.base_url,
            &[branch, &format!("{repository}.json")],
        ),
        FeedId::Nvd => shown(&config.nvd.url),
        FeedId::Epss => shown(&config.epss.url),
        FeedId::Kev => shown(&config.kev.url),
        FeedId::RedHatCsaf { kind } => joined(&config.redhat_csaf.base_url, &[kind.as_str(), ""]),
    }
}

/// The bounds an archive download is imported within: the importer's,
/// with the configured unpacked size for Red Hat's `tar.zst`.
fn archive_limits(format: Format, red_hat_unpacked: u64) -> ZipLimits {
    let mut limits = advisory::detect::archive_limits(format);
    if format == Format::RedHatCsafArchive {
        limits.max_total_bytes = red_hat_unpacked;
    }
    limits
}

/// The importer for a fetch's files.
fn import_format(format: FeedFormat) -> Format {
    match format {
        FeedFormat::OsvZip => Format::OsvZip,
        FeedFormat::OsvJson => Format::Osv,
        FeedFormat::DebianTrackerJson => Format::DebianTracker,
        FeedFormat::AlpineSecdbJson => Format::AlpineSecdb,
        FeedFormat::NvdApiPages => Format::Nvd,
        FeedFormat::EpssCsvGz => Format::Epss,
        FeedFormat::KevJson => Format::Kev,
        FeedFormat::RedHatCsafArchive => Format::RedHatCsafArchive,
        FeedFormat::RedHatCsafJson => Format::RedHatCsaf,
    }
}

/// A directory name for a feed: `/` becomes `_`, and every byte outside
/// `[A-Za-z0-9.-]` (`_` included) is `%XX`, so two feeds never share one.
fn staging_name(feed: &FeedId) -> String {
    let mut name = String::new();
    for byte in feed.to_string().bytes() {
        match byte {
            b'/' => name.push('_'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' => name.push(char::from(byte)),
            other => name.push_str(&format!("%{other:02X}")),
        }
    }
    name
}

fn remove_dir(dir: &Path) -> Result<(), UpdateError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(UpdateError::Io {
            action: "remove",
            path: dir.to_owned(),
            source,
        }),
    }
}

fn lock_updates(data_dir: &Path) -> Result<std::fs::File, UpdateError> {
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| UpdateError::Io {
            action: "open",
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(UpdateError::Locked(data_dir.to_owned())),
        Err(TryLockError::Error(source)) => Err(UpdateError::Io {
            action: "lock",
            path,
            source,
        }),
    }
}

/// Parses every fetched feed and writes it, all in one transaction.
/// Returns each feed's outcome and the committed version (`None` when
/// nothing was written, so the version stays).
async fn apply(
    db: &VulnDb,
    config: &FeedsConfig,
    feeds: &[FeedId],
    fetched: Vec<(usize, Duration, Result<Fetched, FetchError>)>,
    red_hat_unpacked: u64,
    progress: &dyn UpdateProgress,
) -> Result<(Vec<FeedOutcome>, Option<i64>), UpdateError> {
    let mut tx = db.begin_import().await.map_err(UpdateError::Import)?;
    let mut outcomes = Vec::with_capacity(fetched.len());
    let mut written_any = false;
    for (index, fetch_time, result) in fetched {
        let Some(feed) = feeds.get(index).cloned() else {
            continue;
        };
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(error) => {
                outcomes.push(FeedOutcome {
                    feed,
                    fetch_time,
                    result: Err(error.to_string()),
                    stats: None,
                });
                continue;
            }
        };
        let stats = Some(fetched.stats.clone());
        let removed_ids = match &fetched.mode {
            FetchMode::NotModified => {
                outcomes.push(FeedOutcome {
                    feed,
                    fetch_time,
                    result: Ok(Applied::NotModified),
                    stats,
                });
                continue;
            }
            FetchMode::Full => None,
            FetchMode::Incremental { removed_ids } => Some(removed_ids.clone()),
        };
        progress.stage(&feed, "importing");
        let format = import_format(fetched.format);
        let files = fetched.files.clone();
        let info = FeedInfo {
            name: feed.to_string(),
            kind: import_format(feed.full_format()).as_str().to_owned(),
            origin: origin(config, &feed),
            cursor: fetched.cursor.clone(),
        };
        let (mode, removed, advisories, enrichments, report) = match removed_ids {
            // A full download is streamed into the database: OSV's distro
            // exports are far too big to hold in memory.
            None => {
                let streamed = tx
                    .replace_feed_streamed(
                        info,
                        vulndb::files_parser_with(
                            format,
                            files,
                            archive_limits(format, red_hat_unpacked),
                        ),
                        // A full download that yielded nothing readable (a
                        // corrupt archive, an error page) keeps the old rows.
                        KeepUnreadable::No,
                    )
                    .await
                    .map_err(UpdateError::Import)?;
                if !streamed.replaced {
                    let report = streamed.report;
                    let reason = report
                        .skipped_records
                        .first()
                        .map_or_else(String::new, |r| format!(": {}", r.reason));
                    progress.stage(&feed, "failed");
                    outcomes.push(FeedOutcome {
                        feed,
                        fetch_time,
                        result: Err(format!(
                            "nothing readable in the download ({} skipped{reason}); the previous data is kept",
                            report.skipped
                        )),
                        stats,
                    });
                    continue;
                }
                (
                    "full",
                    0,
                    streamed.advisories,
                    streamed.enrichments,
                    streamed.report,
                )
            }
            // Incremental updates are small (a bounded number of records).
            Some(removed_ids) => {
                let (advisories, enrichments, report) =
                    tokio::task::spawn_blocking(move || read(format, &files))
                        .await
                        .map_err(|e| UpdateError::Worker(e.to_string()))?;
                let (advisories, enrichments) = tx
                    .upsert(info, advisories, &removed_ids, enrichments, &report)
                    .await
                    .map_err(UpdateError::Import)?;
                (
                    "incremental",
                    removed_ids.len(),
                    advisories,
                    enrichments,
                    report,
                )
            }
        };
        written_any = true;
        progress.stage(&feed, "imported, to be committed");
        outcomes.push(FeedOutcome {
            feed,
            fetch_time,
            result: Ok(Applied::Written {
                mode,
                files: fetched.files.len(),
                advisories,
                enrichments,
                removed,
                report,
            }),
            stats,
        });
    }
    if !written_any {
        // Rolls back: nothing changed, so the version stays.
        drop(tx);
        return Ok((outcomes, None));
    }
    let version = tx.commit().await.map_err(UpdateError::Import)?;
    Ok((outcomes, Some(version)))
}

fn read(format: Format, files: &[PathBuf]) -> (Vec<Advisory>, Vec<CveEnrichment>, ImportReport) {
    let mut report = ImportReport::default();
    let mut advisories = Vec::new();
    let mut enrichments = Vec::new();
    import_feed_files(
        format,
        files,
        &mut report,
        &mut |advisory| advisories.push(advisory),
        &mut |enrichment| enrichments.push(enrichment),
    );
    (advisories, enrichments, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_distinct_plain_names() {
        let cases = [
            ("osv/Go", "osv_Go"),
            ("osv/Rocky Linux", "osv_Rocky%20Linux"),
            ("osv/a_b", "osv_a%5Fb"),
            ("osv/crates.io", "osv_crates.io"),
            ("alpine-secdb/v3.19/main", "alpine-secdb_v3.19_main"),
            ("debian-tracker", "debian-tracker"),
        ];
        for (feed, expected) in cases {
            let feed: FeedId = feed.parse().unwrap();
            assert_eq!(staging_name(&feed), expected);
        }
    }

    #[test]
    fn origins_are_urls_without_credentials() {
        let base = Url::parse("https://user:pw@mirror.example/m").unwrap();
        let config = FeedsConfig::with_mirror(&base).unwrap();
        let cases = [
            (
                "osv/Rocky Linux",
                "https://mirror.example/m/osv/Rocky%20Linux/",
            ),
            (
                "alpine-secdb/v3.19/main",
                "https://mirror.example/m/alpine/v3.19/main.json",
            ),
            (
                "debian-tracker",
                "https://mirror.example/m/debian-tracker/json",
            ),
            ("nvd", "https://mirror.example/m/nvd/rest/json/cves/2.0"),
        ];
        for (feed, expected) in cases {
            let feed: FeedId = feed.parse().unwrap();
            assert_eq!(origin(&config, &feed), expected);
        }
    }
}
