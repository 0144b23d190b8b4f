//! `shipshape db update`: downloads every feed (the `feeds` crate) into a
//! staging directory under the data directory, a few at a time, then writes
//! all that arrived in ONE database transaction. A feed that fails to
//! download keeps its previous rows and cursor; the others are committed.
//! A killed update leaves the previous database as it was (SQLite rolls the
//! uncommitted transaction back) and stale staging is removed by the next run.

use std::collections::{BTreeMap, HashMap};
use std::fs::TryLockError;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use advisory::detect::{Format, import_feed_files};
use advisory::{ImportReport, ZipLimits};
use anyhow::Context as _;
use clap::Args;
use feeds::{
    ApiKey, FeedFormat, FeedId, FeedsConfig, FetchError, FetchMode, FetchProgress, Fetched,
    NoProgress, NvdEnabled,
};
use futures_util::StreamExt as _;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::{Advisory, CveEnrichment};
use url::Url;
use vulndb::{FeedInfo, KeepUnreadable, VulnDb};

use crate::db::{TOP_REASONS, reason_kind};

/// Feeds downloading at once: enough to hide one slow source behind the
/// others without opening dozens of connections to the same host.
const FETCH_CONCURRENCY: usize = 4;

/// Staging directories live here, one per feed, removed after each run.
const STAGING_DIR: &str = "staging";
/// Held (an OS file lock) while an update runs, so two updates never share
/// the staging directory. The OS releases it when the process dies.
const LOCK_FILE: &str = "update.lock";

/// Download the advisory feeds and update the database in one transaction.
///
/// Incremental where the source allows it (OSV modified_id.csv, NVD
/// lastModStartDate, ETag/Last-Modified for single documents). A feed that
/// fails is named and keeps what the database held for it; the feeds that
/// succeeded are still committed, and the exit status is 1.
#[derive(Args)]
pub struct UpdateArgs {
    /// Only this feed (repeatable): osv/<ECOSYSTEM>, debian-tracker,
    /// alpine-secdb/<BRANCH>/<REPOSITORY>, nvd, epss, kev, redhat-csaf/advisories,
    /// redhat-csaf/vex [default: every enabled feed; redhat-csaf/vex only on request].
    #[arg(long = "feed", value_name = "NAME")]
    feeds: Vec<FeedId>,
    /// One base URL serving the whole layout (osv/, debian-tracker/json, alpine/,
    /// nvd/rest/json/cves/2.0, epss/…, kev/…, redhat-csaf/) instead of the public locations.
    #[arg(long, env = "SHIPSHAPE_MIRROR", value_name = "URL")]
    mirror: Option<Url>,
    /// Base of the OSV bulk export (holds <ECOSYSTEM>/all.zip and modified_id.csv).
    #[arg(long, value_name = "URL")]
    osv_url: Option<Url>,
    /// The Debian security tracker JSON document.
    #[arg(long, value_name = "URL")]
    debian_tracker_url: Option<Url>,
    /// Base of the Alpine secdb (holds <BRANCH>/<REPOSITORY>.json).
    #[arg(long, value_name = "URL")]
    alpine_secdb_url: Option<Url>,
    /// The NVD CVE API 2.0 endpoint.
    #[arg(long, value_name = "URL")]
    nvd_url: Option<Url>,
    /// The EPSS scores file (gzip-compressed CSV).
    #[arg(long, value_name = "URL")]
    epss_url: Option<Url>,
    /// The CISA KEV catalog JSON.
    #[arg(long, value_name = "URL")]
    kev_url: Option<Url>,
    /// Base of Red Hat's CSAF data (holds advisories/ and vex/, each with
    /// archive_latest.txt, changes.csv and deletions.csv).
    #[arg(long, value_name = "URL")]
    redhat_csaf_url: Option<Url>,
    /// Largest compressed Red Hat CSAF archive downloaded, in MiB
    /// [default: 4096 for advisories, 16384 for VEX].
    #[arg(long, value_name = "MIB")]
    redhat_archive_max_mib: Option<u64>,
    /// Bound on what one Red Hat CSAF archive may unpack to while imported,
    /// in GiB (a zstd-bomb bound; the VEX archive unpacks to tens of GB).
    #[arg(long, value_name = "GIB", default_value_t = 64)]
    redhat_archive_max_unpacked_gib: u64,
    /// OSV ecosystem to fetch, as OSV names it (repeatable) [default: the ones Shipshape matches].
    #[arg(long = "osv-ecosystem", value_name = "ECOSYSTEM")]
    osv_ecosystems: Vec<String>,
    /// Alpine secdb branch to fetch, e.g. v3.20 or edge (repeatable) [default: the supported ones].
    #[arg(long = "alpine-branch", value_name = "BRANCH")]
    alpine_branches: Vec<String>,
    /// NVD API key; the NVD feed is fetched only with one (or with --feed nvd).
    /// Prefer the environment variable: arguments are visible to other users.
    #[arg(long, env = "NVD_API_KEY", hide_env_values = true, value_name = "KEY")]
    nvd_api_key: Option<String>,
    /// Ignore the stored cursors: download every feed in full.
    #[arg(long)]
    full: bool,
    /// Retries of a failed request (429, 5xx, timeouts, cut-short bodies), with backoff.
    #[arg(long, value_name = "N", default_value_t = 4)]
    retries: u32,
    /// No progress display and no summary; failures are still reported.
    #[arg(long, short)]
    quiet: bool,
}

/// What happened to one feed.
struct FeedOutcome {
    feed: FeedId,
    fetch_time: Duration,
    result: Result<Applied, String>,
    stats: Option<feeds::FetchStats>,
}

enum Applied {
    NotModified,
    Written {
        mode: &'static str,
        files: usize,
        advisories: u64,
        enrichments: u64,
        removed: usize,
        report: ImportReport,
    },
}

pub async fn run(args: UpdateArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let config = build_config(&args)?;
    let feeds = if args.feeds.is_empty() {
        config.enabled_feeds()
    } else {
        let mut chosen = Vec::new();
        for feed in &args.feeds {
            if !chosen.contains(feed) {
                chosen.push(feed.clone());
            }
        }
        chosen
    };
    anyhow::ensure!(
        !feeds.is_empty(),
        "no feed to update (every source is disabled)"
    );

    let db = VulnDb::open(data_dir).await?;
    let _lock = lock_updates(data_dir)?;
    let staging_root = data_dir.join(STAGING_DIR);
    // Whatever is there was left by a killed run: the lock says none is running.
    remove_dir(&staging_root)?;

    let client = feeds::build_client(&config)?;
    let display = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| UpdateDisplay::new(&feeds))
        .flatten();
    let progress: &dyn FetchProgress = match &display {
        Some(display) => display,
        None => &NoProgress,
    };

    let mut cursors = Vec::with_capacity(feeds.len());
    for feed in &feeds {
        let cursor = if args.full {
            None
        } else {
            db.feed_cursor(&feed.to_string()).await?
        };
        cursors.push(cursor);
    }
    let mut fetched: Vec<(usize, Duration, Result<Fetched, FetchError>)> =
        futures_util::stream::iter(feeds.iter().zip(&cursors).enumerate())
            .map(|(index, (feed, cursor))| {
                let client = &client;
                let config = &config;
                let display = &display;
                let staging = staging_root.join(staging_name(feed));
                async move {
                    progress_state(display, feed, "connecting");
                    let begun = Instant::now();
                    let result =
                        feeds::fetch(client, config, feed, cursor.as_deref(), &staging, progress)
                            .await;
                    progress_state(
                        display,
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
            .buffer_unordered(FETCH_CONCURRENCY)
            .collect()
            .await;
    fetched.sort_by_key(|(index, _, _)| *index);

    let red_hat_unpacked = args
        .redhat_archive_max_unpacked_gib
        .saturating_mul(1024 * 1024 * 1024);
    let applied = apply(&db, &config, &feeds, fetched, red_hat_unpacked, &display).await;
    if let Some(display) = &display {
        display.finish();
    }
    // Staging is only needed until the transaction is over, committed or not.
    let cleaned = remove_dir(&staging_root);
    let (outcomes, committed) = applied.context("update failed; the database is unchanged")?;
    cleaned?;
    let status = db.status().await?;
    db.close().await;

    let failed: Vec<&FeedOutcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if !args.quiet {
        let mut out = std::io::stdout().lock();
        write_summary(
            &mut out,
            &outcomes,
            committed,
            status.database_version,
            started.elapsed(),
        )?;
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = failed.iter().map(|o| o.feed.to_string()).collect();
    let mut message = format!(
        "{} of {} feeds failed: {}",
        failed.len(),
        outcomes.len(),
        names.join(", ")
    );
    if args.quiet {
        for outcome in &failed {
            if let Err(reason) = &outcome.result {
                message.push_str(&format!("\n  {}: {reason}", outcome.feed));
            }
        }
    }
    message.push_str(match committed {
        Some(_) => "; the other feeds were committed",
        None => "; the database is unchanged",
    });
    anyhow::bail!(message)
}

/// The feeds configuration the flags ask for: public locations, or a
/// mirror, with per-source overrides on top.
fn build_config(args: &UpdateArgs) -> anyhow::Result<FeedsConfig> {
    let mut config = match &args.mirror {
        Some(base) => FeedsConfig::with_mirror(base)
            .with_context(|| format!("invalid mirror URL {}", shown(base)))?,
        None => FeedsConfig::default(),
    };
    if let Some(url) = &args.osv_url {
        config.osv.base_url = as_base(url);
    }
    if let Some(url) = &args.debian_tracker_url {
        config.debian_tracker.url = url.clone();
    }
    if let Some(url) = &args.alpine_secdb_url {
        config.alpine.base_url = as_base(url);
    }
    if let Some(url) = &args.nvd_url {
        config.nvd.url = url.clone();
    }
    if let Some(url) = &args.epss_url {
        config.epss.url = url.clone();
    }
    if let Some(url) = &args.kev_url {
        config.kev.url = url.clone();
    }
    if let Some(url) = &args.redhat_csaf_url {
        config.redhat_csaf.base_url = as_base(url);
    }
    if let Some(mib) = args.redhat_archive_max_mib {
        let bytes = mib.saturating_mul(1024 * 1024);
        config.limits.redhat_advisories_archive = bytes;
        config.limits.redhat_vex_archive = bytes;
    }
    if !args.osv_ecosystems.is_empty() {
        config.osv.ecosystems = args.osv_ecosystems.clone();
    }
    if !args.alpine_branches.is_empty() {
        config.alpine.branches = args.alpine_branches.clone();
    }
    // An empty NVD_API_KEY (`NVD_API_KEY= shipshape …`) means no key.
    config.nvd.api_key = args
        .nvd_api_key
        .as_deref()
        .filter(|key| !key.trim().is_empty())
        .map(|key| ApiKey::new(key.trim()));
    if args.feeds.contains(&FeedId::Nvd) {
        config.nvd.enabled = NvdEnabled::Always;
    }
    config.http.retry.max_attempts = args.retries.saturating_add(1);
    // The names become URL segments; refuse bad ones before any download.
    for feed in config.enabled_feeds() {
        feed.validate()?;
    }
    Ok(config)
}

/// A base URL that `join`s below itself (`…/osv` → `…/osv/`).
fn as_base(url: &Url) -> Url {
    if url.path().ends_with('/') {
        return url.clone();
    }
    let mut base = url.clone();
    base.set_path(&format!("{}/", url.path()));
    base
}

/// A URL without user name or password, for the database and the terminal.
fn shown(url: &Url) -> String {
    let mut clean = url.clone();
    // Fails only for URLs that cannot carry user-info, which then have none.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

/// Where a feed's data comes from, as stored with it.
fn origin(config: &FeedsConfig, feed: &FeedId) -> String {
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

fn remove_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot remove {}", dir.display())),
    }
}

fn lock_updates(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "another `shipshape db update` is running on {}",
            data_dir.display()
        ),
        Err(TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock {}", path.display()))
        }
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
    display: &Option<UpdateDisplay>,
) -> anyhow::Result<(Vec<FeedOutcome>, Option<i64>)> {
    let mut tx = db.begin_import().await?;
    let mut outcomes = Vec::with_capacity(fetched.len());
    let mut written_any = false;
    for (index, fetch_time, result) in fetched {
        let feed = feeds[index].clone();
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
        progress_state(display, &feed, "importing");
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
                    .await?;
                if !streamed.replaced {
                    let report = streamed.report;
                    let reason = report
                        .skipped_records
                        .first()
                        .map_or_else(String::new, |r| format!(": {}", r.reason));
                    progress_state(display, &feed, "failed");
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
                        .context("import worker failed")?;
                let (advisories, enrichments) = tx
                    .upsert(info, advisories, &removed_ids, enrichments, &report)
                    .await?;
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
        progress_state(display, &feed, "imported, to be committed");
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
    let version = tx.commit().await?;
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

fn write_summary(
    out: &mut impl Write,
    outcomes: &[FeedOutcome],
    committed: Option<i64>,
    database_version: i64,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let version = match committed {
        Some(version) => format!("database version {version}"),
        None => format!("nothing to commit, database version {database_version} unchanged"),
    };
    writeln!(
        out,
        "updated {} of {} feeds in {:.1} s ({version})",
        outcomes.len() - failed,
        outcomes.len(),
        elapsed.as_secs_f64(),
    )?;
    let width = outcomes
        .iter()
        .map(|o| o.feed.to_string().len())
        .max()
        .unwrap_or(0);
    for outcome in outcomes {
        let name = outcome.feed.to_string();
        let transfer = outcome.stats.as_ref().map(|stats| {
            format!(
                "{} in {} requests ({} retries), {:.2} s",
                HumanBytes(stats.bytes),
                stats.requests,
                stats.retries,
                outcome.fetch_time.as_secs_f64()
            )
        });
        match &outcome.result {
            Err(reason) => writeln!(out, "  {name:<width$}  FAILED: {reason}")?,
            Ok(Applied::NotModified) => writeln!(
                out,
                "  {name:<width$}  not modified; {}",
                transfer.unwrap_or_default()
            )?,
            Ok(Applied::Written {
                mode,
                files,
                advisories,
                enrichments,
                removed,
                report,
            }) => {
                let mut records = format!("{advisories} advisories");
                if *enrichments > 0 || *advisories == 0 {
                    records = format!("{records}, {enrichments} enrichments");
                }
                if *removed > 0 {
                    records = format!("{records}, {removed} removed");
                }
                writeln!(
                    out,
                    "  {name:<width$}  {mode}: {files} files, {records}, {} skipped; {}",
                    report.skipped,
                    transfer.unwrap_or_default()
                )?;
                let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
                for record in &report.skipped_records {
                    *reasons.entry(reason_kind(&record.reason)).or_default() += 1;
                }
                let mut reasons: Vec<(String, u64)> = reasons.into_iter().collect();
                reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                for (reason, n) in reasons.iter().take(TOP_REASONS) {
                    writeln!(out, "      {n} × {reason}")?;
                }
            }
        }
        if let Some(stats) = &outcome.stats {
            if stats.malformed_lines > 0 {
                writeln!(
                    out,
                    "      {} unreadable lines in modified_id.csv",
                    stats.malformed_lines
                )?;
            }
            for note in &stats.notes {
                writeln!(out, "      note: {note}")?;
            }
        }
    }
    Ok(())
}

fn progress_state(display: &Option<UpdateDisplay>, feed: &FeedId, state: &str) {
    if let Some(display) = display {
        display.state(feed, state);
    }
}

/// One line per feed on the terminal: bytes so far, files, and what it is
/// doing. Drawn on stderr only, so stdout stays the summary.
struct UpdateDisplay {
    multi: MultiProgress,
    bars: HashMap<FeedId, ProgressBar>,
    /// (files planned, files done) per feed.
    files: Mutex<HashMap<FeedId, (u64, u64)>>,
}

impl UpdateDisplay {
    fn new(feeds: &[FeedId]) -> Option<UpdateDisplay> {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let width = feeds.iter().map(|f| f.to_string().len()).max().unwrap_or(0);
        let template = format!("{{spinner}} {{prefix:<{width}}} {{bytes:>10}}  {{msg}}");
        let style = ProgressStyle::with_template(&template).ok()?;
        let mut bars = HashMap::new();
        for feed in feeds {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(feed.to_string());
            bar.set_message("waiting");
            bars.insert(feed.clone(), bar);
        }
        Some(UpdateDisplay {
            multi,
            bars,
            files: Mutex::new(HashMap::new()),
        })
    }

    fn state(&self, feed: &FeedId, state: &str) {
        if let Some(bar) = self.bars.get(feed) {
            match state {
                "connecting" => bar.enable_steady_tick(Duration::from_millis(120)),
                "importing" => {}
                _ => bar.disable_steady_tick(),
            }
            bar.set_message(state.to_owned());
            bar.tick();
        }
    }

    fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn files_message(&self, feed: &FeedId) -> Option<String> {
        let files = self.files.lock().ok()?;
        let (planned, done) = files.get(feed).copied()?;
        Some(format!("files {done}/{planned}"))
    }
}

impl FetchProgress for UpdateDisplay {
    fn request(&self, feed: &FeedId, url: &str) {
        if let Some(bar) = self.bars.get(feed) {
            let what = self
                .files_message(feed)
                .unwrap_or_else(|| format!("GET {}", url.rsplit('/').next().unwrap_or(url)));
            bar.set_message(what);
        }
    }

    fn bytes(&self, feed: &FeedId, bytes: u64) {
        if let Some(bar) = self.bars.get(feed) {
            bar.inc(bytes);
        }
    }

    fn files_planned(&self, feed: &FeedId, files: u64) {
        if let Ok(mut map) = self.files.lock() {
            map.entry(feed.clone()).or_default().0 = files;
        }
    }

    fn file_done(&self, feed: &FeedId, _path: &Path, _bytes: u64) {
        if let Ok(mut map) = self.files.lock() {
            map.entry(feed.clone()).or_default().1 += 1;
        }
        if let (Some(bar), Some(message)) = (self.bars.get(feed), self.files_message(feed)) {
            bar.set_message(message);
        }
    }

    fn retry(&self, feed: &FeedId, _url: &str, attempt: u32, wait: Duration, reason: &str) {
        if let Some(bar) = self.bars.get(feed) {
            bar.set_message(format!(
                "retry {attempt} in {:.1} s: {reason}",
                wait.as_secs_f64()
            ));
        }
    }

    fn throttled(&self, feed: &FeedId, wait: Duration) {
        if let Some(bar) = self.bars.get(feed) {
            bar.set_message(format!(
                "waiting {:.1} s for the rate limit",
                wait.as_secs_f64()
            ));
        }
    }
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

    #[test]
    fn bases_end_with_a_slash() {
        let cases = [
            ("http://h/osv", "http://h/osv/"),
            ("http://h/osv/", "http://h/osv/"),
            ("http://h", "http://h/"),
        ];
        for (url, expected) in cases {
            assert_eq!(as_base(&Url::parse(url).unwrap()).as_str(), expected);
        }
    }
}
