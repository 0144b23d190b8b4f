//! Benchmark driver: starts a test Kubernetes control plane and fills it with
//! a fleet (default: 10,000 running pods in 200 namespaces, the figure of
//! issue #4), then prints how long each phase took and the API server's
//! memory. See `bench/kube/run.sh`.
//!
//! ```sh
//! cargo run -p testkit --example kube-fleet -- [--pods N] [--namespaces N] [--parallelism N] [--keep] [--via-deployments]
//! ```
//!
//! With `--keep` the cluster stays up after populating (its kubeconfig path is
//! printed) until stdin closes, so an inventory can be timed against it.
//! `--via-deployments` instead creates the pods through Deployments (one per
//! namespace) and times the controller manager.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line driver

use std::io::Read as _;
use std::process::ExitCode;
use std::time::Instant;

use testkit::kube::{
    Component, FleetSpec, KubeTestCluster, Resource, populate_fleet, populate_via_deployments,
};

/// (what to create, keep the cluster up, create pods through Deployments instead)
fn parse_args() -> Result<(FleetSpec, bool, bool), String> {
    let mut spec = FleetSpec::default();
    let mut keep = false;
    let mut via_deployments = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--pods" => spec.pods = number("--pods")?,
            "--namespaces" => spec.namespaces = number("--namespaces")?.max(1),
            "--images" => spec.images = number("--images")?.max(1),
            "--nodes" => spec.nodes = number("--nodes")?.max(1),
            "--parallelism" => spec.parallelism = number("--parallelism")?.max(1),
            "--keep" => keep = true,
            "--via-deployments" => via_deployments = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((spec, keep, via_deployments))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> ExitCode {
    let (spec, keep, via_deployments) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("kube-fleet: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let cluster = match KubeTestCluster::try_start() {
        Ok(Some(cluster)) => cluster,
        Ok(None) => return ExitCode::from(2),
        Err(e) => {
            eprintln!("kube-fleet: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "control plane ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let memory = |label: &str| {
        for component in [Component::ApiServer, Component::Etcd] {
            if let Some(m) = cluster.memory(component) {
                println!(
                    "{label}: {component:?} RSS {:.0} MiB (peak {:.0} MiB)",
                    mib(m.rss_bytes),
                    mib(m.peak_rss_bytes)
                );
            }
        }
    };
    memory("idle");
    if via_deployments {
        println!(
            "populating through {} Deployments of {} replicas (the controller manager creates the pods)",
            spec.namespaces,
            spec.pods / spec.namespaces
        );
        match populate_via_deployments(&cluster, &spec) {
            Ok(took) => println!(
                "pods created by the controller manager: {:.1} s ({:.0} pods/s)",
                took.as_secs_f64(),
                spec.pods as f64 / took.as_secs_f64().max(1e-9)
            ),
            Err(e) => {
                eprintln!("kube-fleet: {e}");
                return ExitCode::FAILURE;
            }
        }
        memory("populated");
        return ExitCode::SUCCESS;
    }
    println!(
        "populating: {} pods in {} namespaces on {} nodes, {} images, {} parallel calls",
        spec.pods, spec.namespaces, spec.nodes, spec.images, spec.parallelism
    );
    let report = match populate_fleet(&cluster, &spec) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("kube-fleet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rate = |d: std::time::Duration| spec.pods as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "namespaces + nodes: {:.1} s",
        report.namespaces_and_nodes.as_secs_f64()
    );
    println!(
        "pods created:       {:.1} s ({:.0} pods/s)",
        report.pods_created.as_secs_f64(),
        rate(report.pods_created)
    );
    println!(
        "statuses patched:   {:.1} s ({:.0} pods/s)",
        report.statuses_patched.as_secs_f64(),
        rate(report.statuses_patched)
    );
    println!("total:              {:.1} s", report.total().as_secs_f64());
    memory("populated");
    let listed = Instant::now();
    match cluster.list(None, &Resource::PODS, None) {
        Ok(pods) => println!(
            "admin list of all pods (pages of 500): {} pods in {:.1} s",
            pods.len(),
            listed.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!("kube-fleet: list: {e}"),
    }
    memory("after a full list");
    if keep {
        println!("KUBECONFIG={}", cluster.kubeconfig_path().display());
        println!("cluster kept until stdin closes");
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
    ExitCode::SUCCESS
}
