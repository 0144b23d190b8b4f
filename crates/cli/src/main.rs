//! `shipshape`: the command-line entry point.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod agent;
mod db;
mod inventory;
mod progress;
mod report;
mod scan;
mod serve;
mod token;
mod update;

#[derive(Parser)]
#[command(
    name = "shipshape",
    version,
    about = "Image security report for Kubernetes: scan images, list what is inside, find what is vulnerable",
    propagate_version = true
)]
struct Cli {
    /// Log level filter (error, warn, info, debug, trace); also RUST_LOG.
    #[arg(long, global = true, default_value = "warn", env = "SHIPSHAPE_LOG")]
    log: String,
    /// Where the advisory database lives [default: $XDG_DATA_HOME/shipshape or ~/.local/share/shipshape].
    #[arg(long, global = true, env = "SHIPSHAPE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan one image (registry or OCI layout): its packages, and their
    /// vulnerabilities from the advisory database in the data directory.
    /// Exit codes: 0 done, 1 failed, 2 usage error, 3 a vulnerability at or
    /// above --severity-threshold.
    Scan(Box<scan::ScanArgs>),
    /// Manage the advisory database in the data directory.
    Db(db::DbArgs),
    /// List every cluster's namespaces, workloads and containers with the image
    /// digests they run. Exit codes: 0 done (also when a cluster is degraded:
    /// the reasons are printed), 1 a cluster is unreachable or failed.
    Inventory(inventory::InventoryArgs),
    /// Run inside a cluster and send its inventory to the Shipshape server: a
    /// snapshot, then the changes, with retries and a bounded buffer. Exit
    /// codes: 0 on SIGTERM/ctrl-c, 1 when the server refuses the token or a
    /// message, or the cluster cannot be configured.
    Agent(Box<agent::AgentArgs>),
    /// Run the report server: REST API, agent ingest, scans of what the
    /// watched clusters run. `--demo` shows a full report with no cluster.
    Serve(Box<serve::ServeArgs>),
    /// The fleet report in the terminal (table, JSON or CSV), from a running
    /// server (--server) or the data directory.
    Report(Box<report::ReportArgs>),
    /// Issue, list and revoke API and agent tokens in the data directory.
    Token(token::TokenArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits with 2 for usage errors and 0 for --help/--version.
            e.exit();
        }
    };
    init_logging(&cli.log);
    // kube and oci-client style stacks may bring two rustls providers; pick ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();

    // The async side only moves bytes and hashes compressed blobs; decompression,
    // diffID hashing and analysis run on blocking threads. Half the cores for the
    // async workers keeps them from crowding the walkers (on 2 cores: 0.65 s
    // instead of 0.68 s for the benchmark image, bench/run.sh).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads((cores / 2).max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&anyhow::anyhow!(e).context("starting the async runtime"));
            return ExitCode::from(1);
        }
    };
    let outcome = match cli.command {
        Command::Scan(args) => {
            let data_dir = cli.data_dir.or_else(default_data_dir);
            runtime.block_on(scan::run(*args, data_dir.as_deref()))
        }
        Command::Inventory(args) => runtime.block_on(inventory::run(args)),
        Command::Agent(args) => runtime.block_on(agent::run(*args)),
        Command::Report(args) => {
            let data_dir = cli.data_dir.or_else(default_data_dir);
            runtime.block_on(report::run(*args, data_dir.as_deref()))
        }
        Command::Token(args) => match cli.data_dir.or_else(default_data_dir) {
            Some(data_dir) => runtime.block_on(token::run(args, &data_dir)),
            None => Err(anyhow::anyhow!(
                "no data directory: set --data-dir, SHIPSHAPE_DATA_DIR or HOME"
            )),
        },
        Command::Serve(args) => runtime.block_on(serve::run(*args, cli.data_dir)),
        Command::Db(args) => match cli.data_dir.or_else(default_data_dir) {
            Some(data_dir) => runtime.block_on(db::run(args, &data_dir)),
            None => Err(anyhow::anyhow!(
                "no data directory: set --data-dir, SHIPSHAPE_DATA_DIR or HOME"
            )),
        },
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            ExitCode::from(1)
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn report_error(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    for cause in e.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {cause}");
    }
}

/// The user's cache directory for Shipshape (`$XDG_CACHE_HOME/shipshape`, `~/.cache/shipshape`).
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("shipshape"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("shipshape"))
}

/// The user's data directory for Shipshape (`$XDG_DATA_HOME/shipshape`, `~/.local/share/shipshape`).
pub(crate) fn default_data_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("shipshape"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| {
        PathBuf::from(h)
            .join(".local")
            .join("share")
            .join("shipshape")
    })
}
