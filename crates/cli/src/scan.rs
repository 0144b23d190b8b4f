//! `shipshape scan`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use engine::{LayerCache, NoProgress, ScanOptions, ScanProgress, ScanReport};
use model::Platform;

use crate::progress::TerminalProgress;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// Shipshape's JSON report.
    Json,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

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
    /// No progress display, even on a terminal.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub async fn run(args: ScanArgs) -> Result<ExitCode> {
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
    write_output(&args, &report)?;
    Ok(ExitCode::SUCCESS)
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

fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

fn write_output(args: &ScanArgs, report: &ScanReport) -> Result<()> {
    let tool = sbom::ToolInfo::new("shipshape", env!("CARGO_PKG_VERSION"));
    let timestamp = now_rfc3339();
    let color = args.output.is_none() && std::io::stdout().is_terminal();
    let rendered: Vec<u8> = match args.format {
        OutputFormat::Table => {
            let options = sbom::table::TableOptions {
                color,
                width: terminal_width(args.output.is_none()),
            };
            sbom::table::render(&report.image, &report.inventory, options).into_bytes()
        }
        OutputFormat::Json => {
            sbom::report::to_json(&report.image, &report.inventory, &tool, &timestamp)?.into_bytes()
        }
        OutputFormat::Cyclonedx => {
            sbom::cyclonedx::to_json(&report.image, &report.inventory, &tool, &timestamp)?
                .into_bytes()
        }
        OutputFormat::Spdx => {
            sbom::spdx::to_json(&report.image, &report.inventory, &tool, &timestamp)?.into_bytes()
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
