//! `shipshape inventory`: a one-shot list of what runs in one or many clusters.
//!
//! Exit codes: 0 when every cluster was inventoried (a *degraded* cluster —
//! some resource forbidden or not listed in time — still prints, with its
//! reasons, and exits 0: what was listed is true, and the reasons say what is
//! missing); 1 when a cluster is unreachable or no cluster could be set up.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use k8s::collector::{self, ClusterHandle, ClusterSource};
use k8s::{ClusterInventory, ClusterStatus};

#[derive(Args)]
pub struct InventoryArgs {
    /// Kubeconfig context to inventory; repeat for several clusters [default: the current context].
    #[arg(long = "context", value_name = "NAME")]
    contexts: Vec<String>,
    /// Every context of the kubeconfig.
    #[arg(long, conflicts_with_all = ["contexts", "in_cluster"])]
    all_contexts: bool,
    /// Kubeconfig file [default: $KUBECONFIG, then ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Use the pod's service account (when running inside a cluster).
    #[arg(long, conflicts_with_all = ["contexts", "kubeconfig"])]
    in_cluster: bool,
    /// Name for the cluster in the output [default: the context name; `in-cluster`]. Only with one cluster.
    #[arg(long, value_name = "NAME")]
    cluster_name: Option<String>,
    #[arg(long, value_enum, default_value_t = InventoryFormat::Table)]
    format: InventoryFormat,
    /// How long to wait for the initial lists of every cluster, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum InventoryFormat {
    Table,
    Json,
}

fn clusters(args: &InventoryArgs) -> anyhow::Result<Vec<(String, ClusterSource)>> {
    let kubeconfig = args.kubeconfig.clone();
    let from_context = |context: String| {
        (
            context.clone(),
            ClusterSource::Kubeconfig {
                path: kubeconfig.clone(),
                context: Some(context),
            },
        )
    };
    let mut clusters: Vec<(String, ClusterSource)> = if args.in_cluster {
        vec![("in-cluster".to_owned(), ClusterSource::InCluster)]
    } else if args.all_contexts {
        collector::kubeconfig_contexts(kubeconfig.as_deref())?
            .into_iter()
            .map(from_context)
            .collect()
    } else if args.contexts.is_empty() {
        vec![from_context(collector::current_context(
            kubeconfig.as_deref(),
        )?)]
    } else {
        let mut seen = Vec::new();
        for c in &args.contexts {
            if !seen.contains(c) {
                seen.push(c.clone());
            }
        }
        seen.into_iter().map(from_context).collect()
    };
    if clusters.is_empty() {
        bail!("the kubeconfig has no contexts");
    }
    if let Some(name) = &args.cluster_name {
        if clusters.len() != 1 {
            bail!(
                "--cluster-name names one cluster, but {} are selected",
                clusters.len()
            );
        }
        clusters[0].0 = name.clone();
    }
    Ok(clusters)
}

pub async fn run(args: InventoryArgs) -> anyhow::Result<ExitCode> {
    let selected = clusters(&args)?;
    let mut handles: Vec<ClusterHandle> = Vec::new();
    for (name, source) in &selected {
        let config = collector::client_config(source)
            .await
            .with_context(|| format!("cluster {name}"))?;
        handles.push(collector::connect(name, config).await?);
    }

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    loop {
        if let Some(bar) = &progress {
            let parts: Vec<String> = handles
                .iter()
                .map(|h| {
                    let p = h.progress();
                    format!(
                        "{}: {}/{} resources, {} pods",
                        h.name(),
                        p.resources_settled,
                        p.resources,
                        p.pods
                    )
                })
                .collect();
            bar.set_message(format!("listing {}", parts.join("; ")));
        }
        if handles.iter().all(ClusterHandle::settled) || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }

    let inventories: Vec<ClusterInventory> = handles.iter().map(ClusterHandle::snapshot).collect();
    drop(handles);
    let mut out = std::io::stdout().lock();
    match args.format {
        InventoryFormat::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({ "clusters": inventories }),
            )?;
            writeln!(out)?;
        }
        InventoryFormat::Table => write_table(&mut out, &inventories)?,
    }
    let unreachable = inventories
        .iter()
        .any(|i| matches!(i.status, ClusterStatus::Unreachable { .. }));
    Ok(if unreachable {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn status_text(status: &ClusterStatus) -> (String, Vec<String>) {
    match status {
        ClusterStatus::Ok => ("ok".into(), vec![]),
        ClusterStatus::Degraded { reasons, .. } => ("degraded".into(), reasons.clone()),
        ClusterStatus::Unreachable { reason } => ("unreachable".into(), vec![reason.clone()]),
    }
}

fn write_table(out: &mut impl Write, inventories: &[ClusterInventory]) -> anyhow::Result<()> {
    let mut clusters = comfy_table::Table::new();
    clusters.load_style(comfy_table::presets::NOTHING);
    clusters.set_header(["CLUSTER", "STATUS", "NAMESPACES", "WORKLOADS", "REASONS"]);
    for inv in inventories {
        let (status, reasons) = status_text(&inv.status);
        clusters.add_row([
            inv.cluster.clone(),
            status,
            inv.namespaces.len().to_string(),
            inv.workloads.len().to_string(),
            reasons.join("\n"),
        ]);
    }
    writeln!(out, "{clusters}\n")?;

    let mut images = comfy_table::Table::new();
    images.load_style(comfy_table::presets::NOTHING);
    images.set_header([
        "CLUSTER",
        "NAMESPACE",
        "WORKLOAD",
        "CONTAINER",
        "IMAGE",
        "DIGEST",
        "PLATFORM",
        "PODS",
        "STATE",
    ]);
    for inv in inventories {
        for w in &inv.workloads {
            for c in &w.containers {
                let container = match c.container_type {
                    k8s::ContainerType::Regular => c.container.clone(),
                    k8s::ContainerType::Init => format!("{} (init)", c.container),
                    k8s::ContainerType::Ephemeral => format!("{} (ephemeral)", c.container),
                };
                let digest = match (&c.digest, c.digest_kind) {
                    (Some(d), Some(k8s::DigestKind::ImageId)) => format!("{d} (image ID)"),
                    (Some(d), _) => d.to_string(),
                    (None, _) => "-".to_owned(),
                };
                let platform = c
                    .platform
                    .as_ref()
                    .map_or("-".to_owned(), |p| format!("{}/{}", p.os, p.architecture));
                let state = serde_json::to_value(c.state)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                images.add_row([
                    inv.cluster.clone(),
                    w.namespace.clone(),
                    format!("{}/{}", w.kind, w.name),
                    container,
                    c.image_ref.clone(),
                    digest,
                    platform,
                    format!("{}/{}", c.running_pods, c.pods),
                    state,
                ]);
            }
        }
    }
    writeln!(out, "{images}")?;

    for inv in inventories {
        if !inv.namespaces.is_empty() {
            let names: Vec<&str> = inv.namespaces.iter().map(|n| n.name.as_str()).collect();
            writeln!(out, "\n{} namespaces: {}", inv.cluster, names.join(", "))?;
        }
        if !inv.diagnostics.is_empty() {
            writeln!(out, "\n{} diagnostics:", inv.cluster)?;
            for d in &inv.diagnostics {
                writeln!(out, "  {} {}: {}", d.code, d.object, d.message)?;
            }
        }
    }
    Ok(())
}
