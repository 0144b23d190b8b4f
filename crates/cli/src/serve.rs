//! `shipshape serve`: the report server. Opens the store in the data
//! directory, creates the first admin (printing a one-time password), keeps
//! the inventory of the kubeconfig contexts it was given, scans what runs,
//! and serves the REST API until SIGTERM or ctrl-c.
//!
//! Settings come from flags, then `SHIPSHAPE_*` environment variables, then
//! the TOML file given with `--config`, then defaults.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use engine::fleet::{FleetConfig, FleetScanner, UpdateSchedule, run_updates};
use engine::locate::{
    AllowedRegistries, ClusterPullSecrets, LayoutImage, LayoutLocator, RegistryLocator,
    StaticCredentials,
};
use k8s::collector::{self, ClusterHandle, ClusterSource};
use serde::Deserialize;
use server::{AppState, Settings};
use store::{InventorySource, SqliteStore, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Run the report server.
#[derive(Args)]
pub struct ServeArgs {
    /// A TOML file with the settings below (flags and environment win).
    #[arg(long, env = "SHIPSHAPE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SHIPSHAPE_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Watch this kubeconfig context (repeatable); its name is the cluster's name.
    #[arg(long = "context", value_name = "NAME")]
    contexts: Vec<String>,
    /// Watch every context of the kubeconfig.
    #[arg(long, conflicts_with = "contexts")]
    all_contexts: bool,
    /// The kubeconfig file [default: $KUBECONFIG or ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Seed a realistic demo fleet (three clusters, images built here, a small
    /// bundled advisory set): a full report with no cluster and no internet.
    /// Without --data-dir the demo lives in a temporary directory.
    #[arg(long)]
    demo: bool,
    /// Mark the session cookie Secure (when users reach the server over HTTPS).
    #[arg(long)]
    secure_cookies: bool,
    /// Hours between advisory database updates (then a re-match of every stored
    /// image); 0 turns them off [default: 24; never with --demo].
    #[arg(long, value_name = "HOURS")]
    db_update_hours: Option<u64>,
    /// One base URL serving every advisory feed's layout (an internal mirror).
    #[arg(long, env = "SHIPSHAPE_MIRROR", value_name = "URL")]
    mirror: Option<url::Url>,
    /// Pull only from this registry host (repeatable; `*.example.com` for
    /// subdomains). Image names come from clusters and agents: without a
    /// list, they decide which hosts the server contacts [default: any].
    #[arg(long = "allowed-registry", value_name = "HOST")]
    allowed_registries: Vec<String>,
    /// MiB of report answers kept until the data changes; 0 turns the
    /// response cache off [default: 64].
    #[arg(long, env = "SHIPSHAPE_RESPONSE_CACHE_MIB", value_name = "MIB")]
    response_cache_mib: Option<u64>,
    /// Serve the stored report without scanning anything (no registry
    /// traffic, no start-up rescan): a read-only look at a data directory,
    /// or a benchmark of the API alone. Agents may still ingest.
    #[arg(long, conflicts_with_all = ["contexts", "all_contexts", "demo"])]
    no_scanner: bool,
}

/// The `--config` file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<SocketAddr>,
    #[serde(default)]
    contexts: Vec<String>,
    all_contexts: Option<bool>,
    kubeconfig: Option<PathBuf>,
    secure_cookies: Option<bool>,
    /// How long a browser session lasts, in hours (default 12).
    session_hours: Option<u64>,
    /// How often the local clusters' inventory is stored, in seconds (default 30).
    inventory_interval_seconds: Option<u64>,
    /// Hours between advisory database updates; 0 turns them off (default 24).
    db_update_hours: Option<u64>,
    /// One base URL serving every advisory feed's layout.
    mirror: Option<String>,
    /// Registry hosts the server may pull from (default: any).
    allowed_registries: Option<Vec<String>>,
    /// MiB of report answers kept until the data changes; 0 turns it off (default 64).
    response_cache_mib: Option<u64>,
}

/// The settings after merging flags, environment and file.
#[derive(Debug)]
struct ServeSettings {
    listen: SocketAddr,
    clusters: Vec<(String, ClusterSource)>,
    demo: bool,
    router: Settings,
    inventory_interval: Duration,
    /// `None`: no periodic update.
    db_update: Option<Duration>,
    mirror: Option<url::Url>,
    allowed_registries: Option<Vec<String>>,
}

fn settings(args: &ServeArgs) -> anyhow::Result<ServeSettings> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the config file {}", path.display()))?;
            toml::from_str::<ConfigFile>(&text)
                .with_context(|| format!("the config file {} is not valid", path.display()))?
        }
        None => ConfigFile::default(),
    };
    let listen = match args.listen.or(file.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse()?,
    };
    let kubeconfig = args.kubeconfig.clone().or(file.kubeconfig);
    let contexts = if args.contexts.is_empty() {
        file.contexts
    } else {
        args.contexts.clone()
    };
    let all_contexts = args.all_contexts || file.all_contexts.unwrap_or(false);
    let from_context = |context: String| {
        (
            context.clone(),
            ClusterSource::Kubeconfig {
                path: kubeconfig.clone(),
                context: Some(context),
            },
        )
    };
    let mut clusters: Vec<(String, ClusterSource)> = if all_contexts {
        collector::kubeconfig_contexts(kubeconfig.as_deref())?
            .into_iter()
            .map(from_context)
            .collect()
    } else {
        contexts.into_iter().map(from_context).collect()
    };
    clusters.dedup_by(|a, b| a.0 == b.0);
    let hours = file.session_hours.unwrap_or(12);
    if !(1..=24 * 30).contains(&hours) {
        bail!("session_hours must be between 1 and 720, not {hours}");
    }
    let interval = file.inventory_interval_seconds.unwrap_or(30);
    if !(5..=3600).contains(&interval) {
        bail!("inventory_interval_seconds must be between 5 and 3600, not {interval}");
    }
    let update_hours = args.db_update_hours.or(file.db_update_hours).unwrap_or(24);
    if update_hours > 24 * 365 {
        bail!("db_update_hours must be at most 8760, not {update_hours}");
    }
    let allowed_registries = if args.allowed_registries.is_empty() {
        file.allowed_registries
    } else {
        Some(args.allowed_registries.clone())
    };
    if allowed_registries
        .as_ref()
        .is_some_and(|hosts| hosts.iter().any(|h| h.trim().is_empty()))
    {
        bail!("an allowed registry must not be empty");
    }
    let cache_mib = args
        .response_cache_mib
        .or(file.response_cache_mib)
        .unwrap_or(64);
    if cache_mib > 4096 {
        bail!("response_cache_mib must be at most 4096, not {cache_mib}");
    }
    Ok(ServeSettings {
        allowed_registries,
        db_update: (update_hours > 0 && !args.demo)
            .then(|| Duration::from_secs(update_hours * 3600)),
        mirror: match (&args.mirror, file.mirror) {
            (Some(mirror), _) => Some(mirror.clone()),
            (None, Some(text)) => Some(
                url::Url::parse(&text).with_context(|| format!("mirror {text:?} is not a URL"))?,
            ),
            (None, None) => None,
        },
        listen,
        clusters,
        demo: args.demo,
        router: Settings {
            session_ttl: Duration::from_secs(hours * 3600),
            secure_cookies: args.secure_cookies || file.secure_cookies.unwrap_or(false),
            // At most 4096 MiB (checked above), so this fits a usize.
            response_cache_bytes: usize::try_from(cache_mib * 1024 * 1024).unwrap_or(usize::MAX),
            ..Settings::default()
        },
        inventory_interval: Duration::from_secs(interval),
    })
}

/// `data_dir`: the one named by --data-dir or SHIPSHAPE_DATA_DIR, if any.
pub async fn run(args: ServeArgs, data_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = settings(&args)?;
    // The demo never touches the user's real data unless a directory is named.
    let (data_dir, _demo_dir) = match data_dir {
        Some(dir) => (dir, None),
        None if settings.demo => {
            let temp = tempfile::Builder::new()
                .prefix("shipshape-demo-")
                .tempdir()
                .context("creating a temporary directory for the demo")?;
            (temp.path().to_owned(), Some(temp))
        }
        None => match crate::default_data_dir() {
            Some(dir) => (dir, None),
            None => bail!("no data directory: set --data-dir, SHIPSHAPE_DATA_DIR or HOME"),
        },
    };
    let store = Arc::new(
        SqliteStore::open(&data_dir)
            .await
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let requeued = store.requeue_interrupted().await?;
    if requeued > 0 {
        tracing::info!(requeued, "resuming scans a previous run left unfinished");
    }
    announce_first_admin(store.as_ref()).await?;

    let state = Arc::new(AppState::new(store.clone(), settings.router.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    if settings.demo {
        seed_demo(store.clone(), &data_dir).await?;
    }
    let mut resolvers = HashMap::new();
    let mut handles = Vec::new();
    for (name, source) in &settings.clusters {
        let config = collector::client_config(source)
            .await
            .with_context(|| format!("cluster {name}"))?;
        let handle = collector::connect(name, config).await?;
        resolvers.insert(
            name.clone(),
            Arc::new(k8s::PullSecretResolver::new(handle.client().clone())),
        );
        handles.push(handle);
    }
    if !settings.demo && !args.no_scanner {
        // Images of local clusters and of agents are pulled from their
        // registries: with the pod's pull secrets where this server can read
        // them, else with the docker config of the user running it.
        let scanner = registry_scanner(
            store.clone(),
            data_dir.as_path(),
            resolvers,
            settings.allowed_registries.clone(),
        )
        .await?;
        scanner.start_up().await?;
        let waker = scanner.waker();
        for handle in handles {
            tasks.spawn(keep_inventory(
                store.clone(),
                handle,
                settings.inventory_interval,
                waker.clone(),
                stop_rx.clone(),
            ));
        }
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            let summary = scanner.run(stop).await;
            tracing::info!(?summary, "scanner stopped");
        });
        if let Some(interval) = settings.db_update {
            let feeds = match &settings.mirror {
                Some(mirror) => feeds::FeedsConfig::with_mirror(mirror)
                    .with_context(|| format!("the mirror URL {mirror}"))?,
                None => feeds::FeedsConfig::default(),
            };
            let schedule = UpdateSchedule {
                data_dir: data_dir.clone(),
                feeds,
                options: engine::update::UpdateOptions::default(),
                interval,
                rematch: engine::rematch::RematchConfig::default(),
            };
            let db = vulndb::VulnDb::open(&data_dir)
                .await
                .context("opening the advisory database")?;
            let store = store.clone();
            let stop = stop_rx.clone();
            tasks.spawn(async move {
                run_updates(store.as_ref(), &db, &schedule, stop, log_update_cycle).await;
            });
        }
    }
    tasks.spawn(housekeeping(store.clone(), stop_rx.clone()));

    let listener = server::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    state.set_ready(true);
    writeln!(
        std::io::stderr().lock(),
        "Shipshape is serving the report on http://{address} (data in {})",
        data_dir.display()
    )?;
    let app = server::router(state.clone());
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    axum_serve(listener, app, shutdown).await?;
    state.set_ready(false);
    while tasks.join_next().await.is_some() {}
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The connect info gives login rate limiting the client's address.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP")
}

fn log_update_cycle(cycle: &Result<engine::fleet::UpdateCycle, engine::fleet::CycleError>) {
    match cycle {
        Ok(cycle) => tracing::info!(?cycle, "advisory database updated"),
        Err(e) => tracing::warn!(error = %e, "advisory database update failed"),
    }
}

/// The fleet scanner for registry images, matching against the data
/// directory's advisory database.
async fn registry_scanner(
    store: Arc<SqliteStore>,
    data_dir: &Path,
    resolvers: HashMap<String, Arc<k8s::PullSecretResolver>>,
    allowed_registries: Option<Vec<String>>,
) -> anyhow::Result<FleetScanner<SqliteStore, RegistryLocator<ClusterPullSecrets>>> {
    let mut credentials = oci::CredentialStore::default();
    if let Some(path) = crate::scan::default_docker_config().filter(|p| p.is_file()) {
        credentials
            .add_docker_config_file(&path)
            .with_context(|| format!("reading registry credentials from {}", path.display()))?;
    }
    let config = oci::ClientConfig::default();
    let fallback = StaticCredentials::new(config.clone(), credentials)
        .context("creating the registry client")?;
    let mut locator = RegistryLocator::new(ClusterPullSecrets::new(resolvers, config, fallback));
    if let Some(hosts) = allowed_registries {
        locator = locator.with_allowed_registries(AllowedRegistries::new(hosts));
    }
    let db = vulndb::VulnDb::open(data_dir)
        .await
        .context("opening the advisory database")?;
    // A layer shared by many images is analysed once.
    let cache = match crate::default_cache_dir() {
        Some(dir) => match engine::LayerCache::open(&dir) {
            Ok(cache) => Some(cache),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "no layer cache: every layer is analysed");
                None
            }
        },
        None => None,
    };
    let fleet = FleetConfig {
        scan: engine::ScanOptions {
            cache,
            ..engine::ScanOptions::default()
        },
        ..FleetConfig::default()
    };
    Ok(FleetScanner::new(
        store,
        Arc::new(locator),
        db,
        Arc::new(analyze::default_analyzers()),
        fleet,
    ))
}

/// Prints the first admin's one-time password to the terminal (stderr), once.
/// `SHIPSHAPE_INITIAL_ADMIN_PASSWORD` sets it instead (for automation).
async fn announce_first_admin(store: &SqliteStore) -> anyhow::Result<()> {
    let preset = std::env::var("SHIPSHAPE_INITIAL_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let created = server::session::ensure_first_admin(store, OffsetDateTime::now_utc(), preset)
        .await
        .context("creating the first admin")?;
    if let Some((name, password)) = created {
        let mut err = std::io::stderr().lock();
        writeln!(err, "Created the first admin user.")?;
        writeln!(err, "  user:     {name}")?;
        match password {
            Some(password) => {
                writeln!(err, "  password: {}   (shown once)", password.expose())?;
                writeln!(
                    err,
                    "  Sign in and choose your own password: the web UI asks for it at once \
                     (the API: PUT /api/v1/me/password; until then it answers 403 to this user)."
                )?;
            }
            None => writeln!(
                err,
                "  password: as set in SHIPSHAPE_INITIAL_ADMIN_PASSWORD"
            )?,
        }
    }
    Ok(())
}

/// Stores a local cluster's inventory whenever the collector saw a change,
/// and at least every `interval` (so last-seen times move).
async fn keep_inventory<S: Store>(
    store: Arc<S>,
    handle: ClusterHandle,
    interval: Duration,
    new_targets: Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut stored_generation = None;
    let mut last_store = tokio::time::Instant::now();
    loop {
        let generation = handle.generation();
        let due = last_store.elapsed() >= interval;
        if handle.settled() && (stored_generation != Some(generation) || due) {
            let snapshot = handle.snapshot();
            match store
                .apply_snapshot(&snapshot, InventorySource::Local, OffsetDateTime::now_utc())
                .await
            {
                Ok(outcome) => {
                    tracing::debug!(cluster = handle.name(), ?outcome, "inventory stored");
                    if outcome.new_targets > 0 {
                        new_targets.notify_one();
                    }
                    stored_generation = Some(generation);
                    last_store = tokio::time::Instant::now();
                }
                Err(e) => {
                    tracing::warn!(cluster = handle.name(), error = %e, "could not store the inventory")
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            // A debounce: a rollout is many events, one store.
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Lapses expired exceptions and drops expired sessions, every minute.
async fn housekeeping<S: Store>(store: Arc<S>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = OffsetDateTime::now_utc();
        match store.lapse_expired(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(exceptions = n, "exceptions expired"),
            Err(e) => tracing::warn!(error = %e, "could not lapse expired exceptions"),
        }
        if let Err(e) = store.delete_expired_sessions(now).await {
            tracing::warn!(error = %e, "could not drop expired sessions");
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

/// Builds the demo fleet into `<data-dir>/demo`, imports its advisories,
/// stores its three clusters and scans every image through the layout: the
/// report is complete before the server answers. Prints the report.
async fn seed_demo(store: Arc<SqliteStore>, data_dir: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let now = OffsetDateTime::now_utc();
    let set = demo::build(&data_dir.join("demo"), now).context("building the demo fleet")?;
    let db = vulndb::VulnDb::open(data_dir)
        .await
        .context("opening the advisory database")?;
    let imported = vulndb::import_paths(&db, &set.advisory_files, &mut |_| {})
        .await
        .context("importing the demo advisories")?;
    tracing::debug!(?imported, "demo advisories imported");
    for cluster in &set.clusters {
        store
            .apply_snapshot(cluster, InventorySource::Local, now)
            .await
            .with_context(|| format!("storing the demo cluster {}", cluster.cluster))?;
    }
    let layout = oci::OciLayout::open(&set.layout)
        .await
        .context("opening the demo images")?;
    let images = set
        .images
        .iter()
        .map(|image| LayoutImage {
            repository: image.repository.clone(),
            tag: image.tag.clone(),
            manifest_digest: image.manifest_digest.clone(),
            ref_name: image.ref_name.clone(),
        })
        .collect();
    let scanner = FleetScanner::new(
        store.clone(),
        Arc::new(LayoutLocator::new(layout, images)),
        db,
        Arc::new(analyze::default_analyzers()),
        FleetConfig::default(),
    );
    scanner.start_up().await?;
    let summary = scanner.run_until_idle().await;
    if summary.failed + summary.unsupported > 0 {
        bail!("the demo images did not all scan: {summary:?}");
    }
    let statistics = store
        .statistics(&store::ReportFilter::default(), OffsetDateTime::now_utc())
        .await?;
    let v = &statistics.vulnerabilities;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "Demo fleet ready in {:.1} s: {} clusters, {} running resources, {} images in {} repositories scanned;",
        started.elapsed().as_secs_f64(),
        statistics.clusters,
        statistics.running_resources,
        statistics.images,
        statistics.repositories,
    )?;
    writeln!(
        err,
        "  vulnerabilities: {} critical, {} high, {} medium, {} low ({} fixable).",
        v.critical, v.high, v.medium, v.low, statistics.fixable
    )?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
