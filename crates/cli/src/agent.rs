//! `shipshape agent`: runs in a cluster and sends its inventory to the
//! Shipshape server (protocol v1, `docs/agent-protocol.md`); the loop lives in
//! `k8s::agent` so it is tested without the binary.
//!
//! Exit codes: 0 after SIGTERM or ctrl-c (the request in flight is finished
//! first), 1 on a fatal error: the token refused repeatedly (401/403), a
//! message rejected (another 4xx), bad arguments, no cluster configuration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use k8s::agent::{self, AgentConfig, IngestClient, TokenSource};
use k8s::collector::{self, ClusterSource};
use k8s::health;

#[derive(Args)]
pub struct AgentArgs {
    /// The Shipshape server, e.g. https://shipshape.example.com (messages go to
    /// <server>/api/v1/agents/ingest).
    #[arg(long, value_name = "URL")]
    server: url::Url,
    /// File holding the agent's bearer token (re-read before every request, so a rotated Secret takes effect).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "token",
        conflicts_with = "token"
    )]
    token_file: Option<PathBuf>,
    /// The bearer token itself; prefer --token-file (command lines are visible to other processes).
    #[arg(
        long,
        env = "SHIPSHAPE_AGENT_TOKEN",
        hide = true,
        hide_env_values = true
    )]
    token: Option<String>,
    /// The cluster's stable name in the server's report.
    #[arg(long, value_name = "NAME")]
    cluster_name: String,
    /// Kubeconfig context to watch [default: the current context].
    #[arg(long, value_name = "NAME", conflicts_with = "in_cluster")]
    context: Option<String>,
    /// Kubeconfig file [default: $KUBECONFIG, then ~/.kube/config].
    #[arg(long, value_name = "FILE", conflicts_with = "in_cluster")]
    kubeconfig: Option<PathBuf>,
    /// Use the pod's service account [default when KUBERNETES_SERVICE_HOST is set and no kubeconfig option is given].
    #[arg(long)]
    in_cluster: bool,
    /// How often to diff the inventory and send the changes, in seconds (changes are also sent about a second after they happen).
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// Unacknowledged messages kept while the server does not answer; on overflow the deltas are dropped and a snapshot is sent instead.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    buffer: u64,
    /// Extra CA certificates (PEM) to trust for the server.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Where to serve GET /healthz (alive) and /readyz (the server accepted a snapshot) for the kubelet's probes.
    #[arg(long, default_value = "0.0.0.0:8081", value_name = "ADDRESS:PORT")]
    health_listen: std::net::SocketAddr,
    /// First retry delay in milliseconds (doubles up to a minute, with jitter).
    #[arg(long, default_value_t = 1000, value_name = "MS", hide = true)]
    retry_initial_ms: u64,
}

fn source(args: &AgentArgs) -> ClusterSource {
    let explicit_kubeconfig = args.context.is_some() || args.kubeconfig.is_some();
    let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty());
    if args.in_cluster || (in_pod && !explicit_kubeconfig) {
        ClusterSource::InCluster
    } else {
        ClusterSource::Kubeconfig {
            path: args.kubeconfig.clone(),
            context: args.context.clone(),
        }
    }
}

pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    if args.cluster_name.trim().is_empty() {
        bail!("--cluster-name must not be empty");
    }
    let token = match (&args.token_file, &args.token) {
        (Some(path), _) => TokenSource::File(path.clone()),
        (None, Some(value)) => TokenSource::Value(value.clone()),
        (None, None) => bail!("give the agent's token with --token-file"),
    };
    let ca_pem = match &args.ca_file {
        Some(path) => Some(
            std::fs::read(path).with_context(|| format!("reading --ca-file {}", path.display()))?,
        ),
        None => None,
    };
    let mut config = AgentConfig::new(args.server.clone(), token, args.cluster_name.clone());
    config.interval = Duration::from_secs(args.interval);
    config.buffer = usize::try_from(args.buffer).unwrap_or(usize::MAX);
    config.ca_pem = ca_pem;
    config.retry.initial = Duration::from_millis(args.retry_initial_ms.max(1));

    let client = IngestClient::new(
        &config.server,
        config.token.clone(),
        config.ca_pem.as_deref(),
        config.request_timeout,
    )?;
    // Bound before connecting: a port already taken fails at once, clearly.
    let health_listener = tokio::net::TcpListener::bind(args.health_listen)
        .await
        .with_context(|| format!("--health-listen {}", args.health_listen))?;
    let health_address = health_listener
        .local_addr()
        .context("the health listener's address")?;
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
    let health_server = tokio::spawn(health::serve(
        health_listener,
        config.health.clone(),
        async {
            let _ = health_stopped.await;
        },
    ));
    tracing::info!("health endpoints on http://{health_address} (/healthz, /readyz)");

    let cluster_config = collector::client_config(&source(&args))
        .await
        .with_context(|| format!("cluster {}", args.cluster_name))?;
    let mut handle = collector::connect(&args.cluster_name, cluster_config).await?;
    tracing::info!(cluster = %args.cluster_name, server = %client.url(), "agent started");

    let summary = agent::run(&mut handle, &client, &config, shutdown_signal()).await;
    let _ = stop_health.send(());
    let _ = health_server.await;
    let summary = summary?;
    tracing::info!(
        acknowledged = summary.acknowledged,
        snapshots = summary.snapshots,
        retries = summary.retries,
        overflows = summary.overflows,
        "agent stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (what Kubernetes sends) or ctrl-c.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); only ctrl-c stops the agent");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
