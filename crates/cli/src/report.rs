//! `shipshape report`: the fleet report in the terminal (statistics and the
//! repository list), as a table, JSON or CSV — from a running server
//! (`--server`, with a token) or straight from a data directory's store.
//! Both paths answer with the same store query results.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use comfy_table::{Cell, ContentArrangement, Table};
use serde::{Deserialize, Serialize};
use server::exports::repositories_csv;
use store::{
    Direction, Page, ReportFilter, RepositoryRow, RepositorySortField, SearchText, Sort,
    SqliteStore, Statistics, Store, parse_selector,
};
use time::OffsetDateTime;
use url::Url;

#[derive(Args)]
pub struct ReportArgs {
    /// A running Shipshape server (else the data directory's store is read).
    #[arg(long, env = "SHIPSHAPE_SERVER", value_name = "URL")]
    server: Option<Url>,
    /// A file holding the API token for --server (or SHIPSHAPE_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Only these clusters (repeatable).
    #[arg(long = "cluster", value_name = "NAME")]
    clusters: Vec<String>,
    /// Only these namespaces (repeatable).
    #[arg(long = "namespace", value_name = "NAME")]
    namespaces: Vec<String>,
    /// Label selector on workload labels: `key=value,key!=value,key,!key`.
    #[arg(long, value_name = "SELECTOR")]
    labels: Option<String>,
    /// Only fixable findings.
    #[arg(long)]
    fixable: bool,
    /// Substring of a repository, tag, digest or vulnerability ID.
    #[arg(long, short = 'q', value_name = "TEXT")]
    query: Option<String>,
    /// Show the excepted repositories instead.
    #[arg(long)]
    excepted: bool,
    /// At most this many repositories.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Table,
    Json,
    Csv,
}

/// What the report shows; the JSON format writes exactly this.
#[derive(Serialize, Deserialize)]
struct FleetReport {
    #[serde(with = "time::serde::rfc3339")]
    generated: OffsetDateTime,
    statistics: Statistics,
    repositories_total: u64,
    repositories: Vec<RepositoryRow>,
}

#[derive(Deserialize)]
struct ListAnswer<T> {
    total: u64,
    items: Vec<T>,
}

pub async fn run(args: ReportArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let report = match &args.server {
        Some(server) => from_server(&args, server).await?,
        None => {
            let Some(data_dir) = data_dir else {
                bail!(
                    "no data directory: set --data-dir, SHIPSHAPE_DATA_DIR or HOME (or --server)"
                );
            };
            from_store(&args, data_dir).await?
        }
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ReportFormat::Csv => write_csv(&mut out, &report)?,
        ReportFormat::Table => write_table(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn filter(args: &ReportArgs) -> anyhow::Result<ReportFilter> {
    let filter = ReportFilter {
        clusters: args.clusters.clone(),
        namespaces: args.namespaces.clone(),
        labels: match &args.labels {
            Some(selector) => parse_selector(selector)?,
            None => Vec::new(),
        },
        fixable_only: args.fixable,
        text: match &args.query {
            Some(q) => SearchText::parse(q)?,
            None => None,
        },
        excepted: args.excepted,
        ..ReportFilter::default()
    };
    filter.check()?;
    Ok(filter)
}

async fn from_store(args: &ReportArgs, data_dir: &Path) -> anyhow::Result<FleetReport> {
    if !data_dir.join(store::DATABASE_FILE).exists() {
        bail!(
            "no report in {}: run `shipshape serve` first (or use --server)",
            data_dir.display()
        );
    }
    let store = SqliteStore::open(data_dir)
        .await
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let filter = filter(args)?;
    let now = OffsetDateTime::now_utc();
    let statistics = store.statistics(&filter, now).await?;
    let sort = Sort {
        field: RepositorySortField::Severity,
        direction: Direction::Descending,
    };
    let repositories = store
        .repositories(&filter, sort, Page::first(args.limit), now)
        .await?;
    store.close().await;
    Ok(FleetReport {
        generated: now,
        statistics,
        repositories_total: repositories.total,
        repositories: repositories.items,
    })
}

async fn from_server(args: &ReportArgs, server: &Url) -> anyhow::Result<FleetReport> {
    if !server.username().is_empty() || server.password().is_some() {
        bail!("--server must not carry credentials; use --token-file or SHIPSHAPE_TOKEN");
    }
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the token file {}", path.display()))?
            .trim()
            .to_owned(),
        None => std::env::var("SHIPSHAPE_TOKEN")
            .context("--server needs a token: --token-file FILE or SHIPSHAPE_TOKEN")?,
    };
    filter(args)?; // The same checks as locally, before any request.
    let mut query: Vec<(&str, String)> = Vec::new();
    for c in &args.clusters {
        query.push(("cluster", c.clone()));
    }
    for n in &args.namespaces {
        query.push(("namespace", n.clone()));
    }
    if let Some(labels) = &args.labels {
        query.push(("labels", labels.clone()));
    }
    if args.fixable {
        query.push(("fixable", "true".to_owned()));
    }
    if let Some(q) = &args.query {
        query.push(("q", q.clone()));
    }
    if args.excepted {
        query.push(("view", "excepted".to_owned()));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let get = |path: &str, extra: Vec<(&str, String)>| {
        let mut url = server.clone();
        url.set_path(&format!("{}{path}", server.path().trim_end_matches('/')));
        url.query_pairs_mut().extend_pairs(
            query
                .iter()
                .chain(extra.iter())
                .map(|(k, v)| (*k, v.as_str())),
        );
        let request = client.get(url).bearer_auth(&token);
        async move {
            let response = request.send().await.context("asking the server")?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .context("reading the server's answer")?;
            if !status.is_success() {
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| {
                        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
                    });
                bail!("the server answered {status}: {message}");
            }
            Ok::<_, anyhow::Error>(body)
        }
    };
    let statistics: Statistics = serde_json::from_slice(&get("/api/v1/statistics", vec![]).await?)
        .context("the server's statistics are not what this shipshape expects")?;
    let repositories: ListAnswer<RepositoryRow> = serde_json::from_slice(
        &get(
            "/api/v1/repositories",
            vec![("limit", args.limit.to_string())],
        )
        .await?,
    )
    .context("the server's repository list is not what this shipshape expects")?;
    Ok(FleetReport {
        generated: OffsetDateTime::now_utc(),
        statistics,
        repositories_total: repositories.total,
        repositories: repositories.items,
    })
}

fn write_table(out: &mut impl Write, report: &FleetReport) -> anyhow::Result<()> {
    let s = &report.statistics;
    let v = &s.vulnerabilities;
    writeln!(
        out,
        "{} images in {} repositories, {} clusters, {} running resources; scanned {}/{}",
        s.images,
        s.repositories,
        s.clusters,
        s.running_resources,
        s.scan_coverage.scanned,
        s.scan_coverage.targets
    )?;
    writeln!(
        out,
        "Vulnerabilities: {} critical, {} high, {} medium, {} low, {} negligible, {} unknown; {} fixable",
        v.critical, v.high, v.medium, v.low, v.negligible, v.unknown, s.fixable
    )?;
    let mut table = Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "REPOSITORY",
            "IMAGES",
            "CRIT",
            "HIGH",
            "MED",
            "LOW",
            "FIXABLE",
            "CLUSTERS",
            "RESOURCES",
            "LATEST TAG",
            "SCAN",
        ]);
    for r in &report.repositories {
        let c = &r.vulnerabilities;
        table.add_row(vec![
            Cell::new(&r.repository),
            Cell::new(r.images),
            Cell::new(c.critical),
            Cell::new(c.high),
            Cell::new(c.medium),
            Cell::new(c.low),
            Cell::new(r.fixable),
            Cell::new(r.clusters),
            Cell::new(r.resources),
            Cell::new(r.latest_scanned_tag.as_deref().unwrap_or("-")),
            Cell::new(r.scan_status.as_str()),
        ]);
    }
    writeln!(out, "{table}")?;
    if report.repositories_total > report.repositories.len() as u64 {
        writeln!(
            out,
            "({} of {} repositories; --limit shows more)",
            report.repositories.len(),
            report.repositories_total
        )?;
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, report: &FleetReport) -> anyhow::Result<()> {
    out.write_all(repositories_csv(&report.repositories).as_bytes())?;
    Ok(())
}
