//! `shipshape db import PATH...` and `shipshape db status`: fill the advisory
//! database in the data directory from local files, and report what it holds.
//! `shipshape db update` (downloading the feeds) lives in `update.rs`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vulndb::{DbStatus, ImportEvent, ImportSummary, VulnDb, rfc3339};

/// Skip reasons shown per feed; the rest are counted together.
pub(crate) const TOP_REASONS: usize = 5;

#[derive(Args)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Import advisory files and directories (formats are detected) in one transaction.
    Import {
        /// Files or directories: OSV JSON/YAML trees or all.zip, RubySec gems/,
        /// Alpine/Wolfi secdb, Debian tracker JSON, DSA/DLA lists, NVD pages, EPSS CSV, KEV JSON.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Download the advisory feeds (OSV, Debian tracker, Alpine secdb, NVD, EPSS, KEV)
    /// and update the database in one transaction, incrementally where the source allows.
    ///
    /// A feed that fails keeps its previous data; the feeds that succeeded are
    /// still committed and the exit status is 1, naming the failed feeds. An
    /// interrupted update leaves the previous database as it was.
    Update(Box<crate::update::UpdateArgs>),
    /// Show the sources, record counts, last update and ecosystems of the database.
    Status {
        #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
        format: StatusFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusFormat {
    Table,
    Json,
}

pub async fn run(args: DbArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    match args.command {
        DbCommand::Import { paths } => import(&paths, data_dir).await,
        DbCommand::Update(args) => crate::update::run(*args, data_dir).await,
        DbCommand::Status { format } => status(format, data_dir).await,
    }
}

async fn import(paths: &[PathBuf], data_dir: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let db = VulnDb::open(data_dir).await?;
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut on_event = |event: ImportEvent<'_>| {
        let Some(bar) = &spinner else { return };
        match event {
            ImportEvent::Planned { path, feeds } => {
                bar.set_message(format!("{}: {feeds} feeds", path.display()))
            }
            ImportEvent::FeedStarted { name, files } => {
                bar.set_message(format!("{name} ({files} files)"))
            }
            ImportEvent::FeedDone { summary } => bar.println(format!(
                "  {} : {} advisories, {} enrichments",
                summary.name, summary.advisories, summary.enrichments
            )),
            ImportEvent::Committing => bar.set_message("committing"),
        }
    };
    let outcome = vulndb::import_paths(&db, paths, &mut on_event).await;
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let summary = outcome.context("import failed; the database is unchanged")?;
    let status = db.status().await?;
    db.close().await;
    let mut out = std::io::stdout().lock();
    write_import_summary(&mut out, &summary, &status, started.elapsed())?;
    Ok(ExitCode::SUCCESS)
}

fn write_import_summary(
    out: &mut impl Write,
    summary: &ImportSummary,
    status: &DbStatus,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let advisories: u64 = summary.feeds.iter().map(|f| f.advisories).sum();
    let enrichments: u64 = summary.feeds.iter().map(|f| f.enrichments).sum();
    let skipped: u64 = summary.feeds.iter().map(|f| f.report.skipped).sum();
    writeln!(
        out,
        "imported {} feeds: {advisories} advisories, {enrichments} enrichments, {skipped} records skipped, in {:.1} s (database version {})",
        summary.feeds.len(),
        elapsed.as_secs_f64(),
        summary.database_version
    )?;
    for feed in &summary.feeds {
        writeln!(
            out,
            "  {}  {} files, {} advisories, {} enrichments, {} skipped",
            feed.name, feed.files, feed.advisories, feed.enrichments, feed.report.skipped
        )?;
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for record in &feed.report.skipped_records {
            *reasons.entry(reason_kind(&record.reason)).or_default() += 1;
        }
        let mut reasons: Vec<(String, u64)> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (reason, n) in reasons.iter().take(TOP_REASONS) {
            writeln!(out, "      {n} × {reason}")?;
        }
        let shown: u64 = reasons.iter().take(TOP_REASONS).map(|r| r.1).sum();
        if feed.report.skipped > shown {
            writeln!(out, "      {} × other reasons", feed.report.skipped - shown)?;
        }
    }
    // Many directories skipped for one reason (test fixtures) read as one line.
    let mut by_reason: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
    for skipped in &summary.skipped_paths {
        by_reason
            .entry(skipped.reason.as_str())
            .or_default()
            .push(&skipped.path);
    }
    for (reason, paths) in by_reason {
        match paths.as_slice() {
            [one] => writeln!(out, "  not imported: {}: {reason}", one.display())?,
            [first, ..] => writeln!(
                out,
                "  not imported: {} paths ({}, …): {reason}",
                paths.len(),
                first.display()
            )?,
            [] => {}
        }
    }
    let unknown: Vec<&str> = status
        .ecosystems
        .iter()
        .filter(|e| !e.matched)
        .map(|e| e.ecosystem.as_str())
        .collect();
    if !unknown.is_empty() {
        writeln!(
            out,
            "  ecosystems kept but not matched by any matcher: {}",
            unknown.join(", ")
        )?;
    }
    Ok(())
}

/// A skip reason without the values that make each one unique (versions,
/// positions), so like reasons count together.
pub(crate) fn reason_kind(reason: &str) -> String {
    let cut = reason.find([':', '"', '`']).unwrap_or(reason.len());
    let kind = reason[..cut].trim();
    if kind.is_empty() {
        reason.to_owned()
    } else {
        kind.to_owned()
    }
}

async fn status(format: StatusFormat, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let Some(db) = VulnDb::open_existing(data_dir).await? else {
        anyhow::bail!(
            "no advisory database in {}; run `shipshape db update` or `shipshape db import PATH...` first",
            data_dir.display()
        );
    };
    let status = db.status().await?;
    db.close().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let mut out = std::io::stdout().lock();
    match format {
        StatusFormat::Json => {
            let json = status_json(&status, now);
            serde_json::to_writer_pretty(&mut out, &json)?;
            writeln!(out)?;
        }
        StatusFormat::Table => write_status_table(&mut out, &status, now)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn status_json(status: &DbStatus, now: i64) -> serde_json::Value {
    serde_json::json!({
        "path": status.path,
        "size_bytes": status.size_bytes,
        "database_version": status.database_version,
        "updated_at": status.updated_at.map(rfc3339),
        "age_seconds": status.updated_at.map(|t| (now - t).max(0)),
        "feeds": status.feeds.iter().map(|f| serde_json::json!({
            "name": f.name,
            "kind": f.kind,
            "origin": f.origin,
            "imported_at": rfc3339(f.imported_at),
            "advisories": f.advisories,
            "enrichments": f.enrichments,
            "skipped": f.skipped,
            "cursor": f.cursor,
        })).collect::<Vec<_>>(),
        "ecosystems": status.ecosystems.iter().map(|e| serde_json::json!({
            "ecosystem": e.ecosystem,
            "advisories": e.advisories,
            "matched": e.matched,
        })).collect::<Vec<_>>(),
    })
}

fn write_status_table(out: &mut impl Write, status: &DbStatus, now: i64) -> anyhow::Result<()> {
    writeln!(out, "database  {}", status.path.display())?;
    writeln!(
        out,
        "size      {:.1} MiB",
        status.size_bytes as f64 / (1024.0 * 1024.0)
    )?;
    writeln!(out, "version   {}", status.database_version)?;
    match status.updated_at {
        Some(t) => writeln!(out, "updated   {} ({} ago)", rfc3339(t), age(now - t))?,
        None => writeln!(out, "updated   never")?,
    }
    let mut feeds = comfy_table::Table::new();
    feeds.load_style(comfy_table::presets::NOTHING);
    feeds.set_header([
        "feed",
        "kind",
        "advisories",
        "enrichments",
        "skipped",
        "imported",
    ]);
    for f in &status.feeds {
        feeds.add_row([
            f.name.clone(),
            f.kind.clone(),
            f.advisories.to_string(),
            f.enrichments.to_string(),
            f.skipped.to_string(),
            format!("{} ago", age(now - f.imported_at)),
        ]);
    }
    writeln!(out, "\n{feeds}")?;
    let mut ecosystems = comfy_table::Table::new();
    ecosystems.load_style(comfy_table::presets::NOTHING);
    ecosystems.set_header(["ecosystem", "advisories", "matched"]);
    for e in &status.ecosystems {
        ecosystems.add_row([
            e.ecosystem.clone(),
            e.advisories.to_string(),
            if e.matched { "yes" } else { "no (unknown)" }.to_owned(),
        ]);
    }
    writeln!(out, "\n{ecosystems}")?;
    Ok(())
}

fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{} min", seconds / 60),
        3_600..86_400 => format!("{} h", seconds / 3_600),
        _ => format!("{} d", seconds / 86_400),
    }
}
