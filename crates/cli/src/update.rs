//! `shipshape db update`: downloads every feed (the `feeds` crate) into a
//! staging directory under the data directory, a few at a time, then writes
//! all that arrived in ONE database transaction. A feed that fails to
//! download keeps its previous rows and cursor; the others are committed.
//! A killed update leaves the previous database as it was (SQLite rolls the
//! uncommitted transaction back) and stale staging is removed by the next run.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use engine::update::{
    Applied, FeedOutcome, UpdateError, UpdateOptions, UpdateProgress, update_database,
};
use feeds::{ApiKey, FeedId, FeedsConfig, FetchProgress, NoProgress, NvdEnabled};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use url::Url;

use crate::db::{TOP_REASONS, reason_kind};

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

pub async fn run(args: UpdateArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let config = build_config(&args)?;
    let feeds = if args.feeds.is_empty() {
        config.enabled_feeds()
    } else {
        let mut chosen: Vec<FeedId> = Vec::new();
        for feed in &args.feeds {
            if !chosen.contains(feed) {
                chosen.push(feed.clone());
            }
        }
        chosen
    };
    let display = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| UpdateDisplay::new(&feeds))
        .flatten();
    let progress: &dyn UpdateProgress = match &display {
        Some(display) => display,
        None => &NoProgress,
    };
    let options = UpdateOptions {
        feeds: args.feeds.clone(),
        full: args.full,
        red_hat_unpacked_bytes: args
            .redhat_archive_max_unpacked_gib
            .saturating_mul(1024 * 1024 * 1024),
    };
    let result = update_database(data_dir, &config, &options, progress).await;
    if let Some(display) = &display {
        display.finish();
    }
    let summary = match result {
        Ok(summary) => summary,
        Err(error @ UpdateError::Import(_)) => {
            return Err(
                anyhow::Error::new(error).context("update failed; the database is unchanged")
            );
        }
        Err(error) => return Err(error.into()),
    };

    let failed: Vec<&FeedOutcome> = summary.failed().collect();
    if !args.quiet {
        let mut out = std::io::stdout().lock();
        write_summary(
            &mut out,
            &summary.outcomes,
            summary.committed,
            summary.database_version,
            summary.elapsed,
        )?;
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = failed.iter().map(|o| o.feed.to_string()).collect();
    let mut message = format!(
        "{} of {} feeds failed: {}",
        failed.len(),
        summary.outcomes.len(),
        names.join(", ")
    );
    if args.quiet {
        for outcome in &failed {
            if let Err(reason) = &outcome.result {
                message.push_str(&format!("\n  {}: {reason}", outcome.feed));
            }
        }
    }
    message.push_str(match summary.committed {
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
            .with_context(|| format!("invalid mirror URL {}", engine::update::shown(base)))?,
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

impl UpdateProgress for UpdateDisplay {
    fn stage(&self, feed: &FeedId, stage: &str) {
        self.state(feed, stage);
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
