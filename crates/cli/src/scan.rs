//! `shipshape scan`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use engine::{LayerCache, NoProgress, ScanOptions, ScanProgress, ScanReport};
use model::{Diagnostic, Finding, FixState, Platform, Severity};

use crate::progress::TerminalProgress;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// Shipshape's JSON report.
    Json,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON (packages only: SPDX 2.3 has no place for vulnerabilities).
    Spdx,
    /// SARIF 2.1.0: the vulnerabilities, for code-scanning dashboards.
    Sarif,
}

/// A severity level for `--severity-threshold`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SeverityLevel {
    Critical,
    High,
    Medium,
    Low,
    Negligible,
    /// Any finding, including those without a known severity.
    Unknown,
}

impl SeverityLevel {
    fn severity(self) -> Severity {
        match self {
            SeverityLevel::Critical => Severity::Critical,
            SeverityLevel::High => Severity::High,
            SeverityLevel::Medium => Severity::Medium,
            SeverityLevel::Low => Severity::Low,
            SeverityLevel::Negligible => Severity::Negligible,
            SeverityLevel::Unknown => Severity::Unknown,
        }
    }
}

/// Exit code when a finding at or above `--severity-threshold` remains.
pub const EXIT_THRESHOLD: u8 = 3;

/// An advisory database older than this gets a warning.
const STALE_AFTER_DAYS: i64 = 7;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["image", "oci_layout"])))]
pub struct ScanArgs {
    /// Image reference: `name[:tag][@digest]` (e.g. `nginx:1.25`, `127.0.0.1:5000/app@sha256:…`).
    pub image: Option<String>,
    /// Scan an OCI image layout on disk instead: `DIR[:TAG]`.
    #[arg(long, value_name = "DIR[:TAG]")]
    pub oci_layout: Option<String>,
    /// Platform to pick from a multi-arch index: os/arch[/variant].
    #[arg(long, default_value = "linux/amd64")]
    pub platform: Platform,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the output to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Allow plain HTTP to this registry host (repeatable). Loopback hosts always may.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Registry user name.
    #[arg(long, env = "SHIPSHAPE_REGISTRY_USERNAME", requires = "password")]
    pub username: Option<String>,
    /// Registry password or token (prefer the environment variable).
    #[arg(
        long,
        env = "SHIPSHAPE_REGISTRY_PASSWORD",
        hide_env_values = true,
        requires = "username"
    )]
    pub password: Option<String>,
    /// Docker config file with registry credentials (default: $DOCKER_CONFIG/config.json, ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    /// Layer cache directory (default: ~/.cache/shipshape).
    #[arg(long, value_name = "DIR", env = "SHIPSHAPE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the layer cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Layers downloaded and analysed at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub layer_concurrency: u16,
    /// Stop analysing a layer after this many decompressed bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_layer_bytes: Option<u64>,
    /// Stop analysing a layer after this many tar entries.
    #[arg(long, value_name = "N")]
    pub max_layer_entries: Option<u64>,
    /// Skip files larger than this (bytes) instead of analysing them.
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// No progress display and no warnings, even on a terminal (errors still show).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// List packages only: do not match them against the advisory database.
    #[arg(long, conflicts_with_all = ["severity_threshold", "ignore_unfixed"])]
    pub sbom_only: bool,
    /// Leave out vulnerabilities that have no fix yet (not fixed, won't fix).
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// Exit with code 3 when a vulnerability at or above LEVEL is found
    /// (after --ignore-unfixed). Needs the advisory database.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub severity_threshold: Option<SeverityLevel>,
}

pub async fn run(args: ScanArgs, data_dir: Option<&Path>) -> Result<ExitCode> {
    if args.sbom_only && matches!(args.format, OutputFormat::Sarif) {
        bail!("--format sarif lists vulnerabilities: it cannot be combined with --sbom-only");
    }
    // Open the database before the (long) scan, so a missing one fails fast.
    let database = if args.sbom_only {
        None
    } else {
        open_database(&args, data_dir).await?
    };
    let source = build_source(&args).await?;
    let source = Arc::new(source);

    let mut options = ScanOptions {
        platform: args.platform.clone(),
        layer_concurrency: usize::from(args.layer_concurrency),
        ..ScanOptions::default()
    };
    if let Some(v) = args.max_layer_bytes {
        options.walk.limits.max_uncompressed_bytes = v;
    }
    if let Some(v) = args.max_layer_entries {
        options.walk.limits.max_entries = v;
    }
    if let Some(v) = args.max_file_size {
        options.walk.limits.max_analyzed_file_size = v;
    }
    if !args.no_cache {
        let dir = args
            .cache_dir
            .clone()
            .or_else(crate::default_cache_dir)
            .context("no cache directory: set --cache-dir, SHIPSHAPE_CACHE_DIR or HOME (or pass --no-cache)")?;
        let cache = LayerCache::open(&dir)
            .with_context(|| format!("opening the layer cache at {}", dir.display()))?;
        options.walk.spool_dir = Some(cache.dir().join("spool"));
        std::fs::create_dir_all(cache.dir().join("spool"))
            .with_context(|| format!("creating {}", cache.dir().join("spool").display()))?;
        options.cache = Some(cache);
    }

    let what = args
        .image
        .clone()
        .or_else(|| args.oci_layout.clone())
        .unwrap_or_default();
    let terminal = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| Arc::new(TerminalProgress::new(&what)));
    let progress: Arc<dyn ScanProgress> = match &terminal {
        Some(t) => t.clone(),
        None => Arc::new(NoProgress),
    };

    let analyzers = Arc::new(analyze::default_analyzers());
    let result = engine::scan_image(source, &options, analyzers, progress).await;
    if let Some(t) = &terminal {
        t.finish();
    }
    let report = result.with_context(|| format!("scanning {what}"))?;
    let matched = match &database {
        Some(db) => Some(match_report(db, &report, args.ignore_unfixed).await?),
        None => None,
    };
    write_output(&args, &report, matched.as_ref())?;
    if let (Some(threshold), Some(matched)) = (args.severity_threshold, &matched) {
        let threshold = threshold.severity();
        // `Severity` orders the most severe first.
        if matched.findings.iter().any(|f| f.severity <= threshold) {
            return Ok(ExitCode::from(EXIT_THRESHOLD));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Findings of one image and what they were matched against.
struct Matched {
    findings: Vec<Finding>,
    diagnostics: Vec<Diagnostic>,
    database: sbom::DatabaseInfo,
}

/// The advisory database in the data directory, or `None` (with a warning)
/// when there is none and nothing asked for vulnerabilities explicitly.
async fn open_database(args: &ScanArgs, data_dir: Option<&Path>) -> Result<Option<vulndb::VulnDb>> {
    let needed = args.severity_threshold.is_some()
        || args.ignore_unfixed
        || matches!(args.format, OutputFormat::Sarif);
    let db = match data_dir {
        Some(dir) => vulndb::VulnDb::open_existing(dir)
            .await
            .with_context(|| format!("opening the advisory database in {}", dir.display()))?,
        None => None,
    };
    let shown_dir = data_dir.map_or_else(
        || "the data directory".to_owned(),
        |dir| dir.display().to_string(),
    );
    let Some(db) = db else {
        let hint = format!(
            "no advisory database in {shown_dir}: run `shipshape db update` (online) or \
             `shipshape db import PATH...` (local files) first"
        );
        if needed {
            bail!("{hint}");
        }
        warn(args, &format!("{hint}; listing packages only"));
        return Ok(None);
    };
    let version = db
        .version()
        .await
        .context("reading the advisory database")?;
    if version.database_version == 0 {
        let hint = format!(
            "the advisory database in {shown_dir} is empty: run `shipshape db update` or \
             `shipshape db import PATH...`"
        );
        if needed {
            bail!("{hint}");
        }
        warn(args, &format!("{hint}; listing packages only"));
        return Ok(None);
    }
    if let Some(updated_at) = version.updated_at {
        let age_days = (unix_now() - updated_at) / 86_400;
        if age_days >= STALE_AFTER_DAYS {
            warn(
                args,
                &format!(
                    "the advisory database was last updated {age_days} days ago ({}); \
                 run `shipshape db update` for current results",
                    vulndb::rfc3339(updated_at)
                ),
            );
        }
    }
    Ok(Some(db))
}

async fn match_report(
    db: &vulndb::VulnDb,
    report: &ScanReport,
    ignore_unfixed: bool,
) -> Result<Matched> {
    let loaded = db
        .load_index_for(&report.inventory)
        .await
        .context("loading advisories for the image's packages")?;
    let version = db
        .version()
        .await
        .context("reading the advisory database")?;
    let result = matching::match_image(&report.inventory, &loaded.index);
    let mut findings = result.findings;
    if ignore_unfixed {
        findings.retain(|finding| finding.state == FixState::Fixed);
    }
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(result.diagnostics);
    Ok(Matched {
        findings,
        diagnostics,
        database: sbom::DatabaseInfo {
            version: loaded.database_version.to_string(),
            updated_at: version.updated_at.map(vulndb::rfc3339).unwrap_or_default(),
        },
    })
}

fn warn(args: &ScanArgs, message: &str) {
    if args.quiet {
        return;
    }
    let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn build_source(args: &ScanArgs) -> Result<oci::ImageSource> {
    if let Some(layout) = &args.oci_layout {
        return oci::ImageSource::layout(layout)
            .await
            .with_context(|| format!("opening OCI layout {layout}"));
    }
    let Some(image) = &args.image else {
        bail!("give an image reference or --oci-layout DIR[:TAG]");
    };
    let reference: oci::Reference = image
        .parse()
        .with_context(|| format!("invalid image reference {image:?}"))?;

    let mut credentials = oci::CredentialStore::default();
    match (&args.docker_config, default_docker_config()) {
        (Some(path), _) => credentials
            .add_docker_config_file(path)
            .with_context(|| format!("reading credentials from {}", path.display()))?,
        (None, Some(path)) if path.is_file() => credentials
            .add_docker_config_file(&path)
            .with_context(|| format!("reading credentials from {}", path.display()))?,
        (None, _) => {}
    }
    if let (Some(user), Some(password)) = (&args.username, &args.password) {
        credentials
            .insert(
                reference.registry(),
                oci::Credentials::basic(user.clone(), password.clone()),
            )
            .context("using the credentials given on the command line")?;
    }
    let config = oci::ClientConfig {
        insecure_registries: args.insecure_registries.clone(),
        ..oci::ClientConfig::default()
    };
    let client =
        oci::RegistryClient::new(config, credentials).context("creating the registry client")?;
    Ok(oci::ImageSource::registry(Arc::new(client), reference))
}

pub(crate) fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

fn write_output(args: &ScanArgs, report: &ScanReport, matched: Option<&Matched>) -> Result<()> {
    let tool = sbom::ToolInfo::new("shipshape", env!("CARGO_PKG_VERSION"))
        .with_information_uri(env!("CARGO_PKG_REPOSITORY"));
    let vulnerabilities = matched.map(|m| sbom::Vulnerabilities {
        findings: &m.findings,
        diagnostics: &m.diagnostics,
        database: Some(&m.database),
    });
    let vulnerabilities = vulnerabilities.as_ref();
    let timestamp = now_rfc3339();
    let color = args.output.is_none() && std::io::stdout().is_terminal();
    let rendered: Vec<u8> = match args.format {
        OutputFormat::Table => {
            let options = sbom::table::TableOptions {
                color,
                width: terminal_width(args.output.is_none()),
            };
            sbom::table::render_with(&report.image, &report.inventory, vulnerabilities, options)
                .into_bytes()
        }
        OutputFormat::Json => sbom::report::to_json_with(
            &report.image,
            &report.inventory,
            vulnerabilities,
            &tool,
            &timestamp,
        )?
        .into_bytes(),
        OutputFormat::Cyclonedx => sbom::cyclonedx::to_json_with(
            &report.image,
            &report.inventory,
            vulnerabilities,
            &tool,
            &timestamp,
        )?
        .into_bytes(),
        OutputFormat::Spdx => {
            sbom::spdx::to_json(&report.image, &report.inventory, &tool, &timestamp)?.into_bytes()
        }
        OutputFormat::Sarif => {
            let vulnerabilities = vulnerabilities
                .context("SARIF needs the findings, and no advisory database was loaded")?;
            sbom::sarif::to_json(
                &report.image,
                &report.inventory,
                vulnerabilities,
                &tool,
                &timestamp,
            )?
            .into_bytes()
        }
    };
    match &args.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| std::path::Path::new("."));
            let mut tmp = output_temp_file(path, dir)
                .with_context(|| format!("writing {}", path.display()))?;
            tmp.write_all(&rendered)?;
            tmp.persist(path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&rendered)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// The temporary file that becomes `path` once complete. Temporary files are
/// private (0600) by default, which would leave the report unreadable to the
/// CI job or teammate it is for: a new report gets the permissions of any
/// newly created file (0666 less the umask), a replaced one keeps its own.
fn output_temp_file(
    path: &std::path::Path,
    dir: &std::path::Path,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".shipshape-output");
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => existing.permissions(),
        Err(_) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::Permissions::from_mode(0o666)
            }
            #[cfg(not(unix))]
            {
                return builder.tempfile_in(dir);
            }
        }
    };
    builder.permissions(permissions).tempfile_in(dir)
}

/// The terminal's width when writing to one (`COLUMNS`, as shells export it).
fn terminal_width(to_stdout: bool) -> Option<u16> {
    if !to_stdout || !std::io::stdout().is_terminal() {
        return None;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or(Some(120))
}

/// The current UTC time as RFC 3339, without pulling a date crate in.
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
