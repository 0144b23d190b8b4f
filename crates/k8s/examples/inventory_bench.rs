//! Benchmark: 10,000 pods in 200 namespaces on a real API server
//! (`testkit::kube`: etcd + kube-apiserver v1.20 on loopback; pods created by
//! `testkit::kube::populate_fleet`: bare pods bound to nodes, statuses patched
//! as kubelets would), then
//! 1. time from connect to a complete initial inventory (lists + assembly),
//! 2. peak RSS of the process from connect on (the population phase's peak is reset first),
//! 3. latency of a watch event: patch a pod's imageID, time until the collector's store shows it.
//!
//! `cargo run -p k8s --example inventory_bench [PODS] [NAMESPACES]`

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use testkit::kube::{FleetSpec, KubeTestCluster, fleet_pod, populate_fleet};

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let spec = FleetSpec {
        pods: args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000),
        namespaces: args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200),
        ..FleetSpec::default()
    };
    let Some(cluster) = KubeTestCluster::start() else {
        return Err("no kube-test-cluster binaries".into());
    };
    let report = populate_fleet(cluster.api(), &spec)?;
    println!(
        "populated {} pods in {} namespaces in {:.1} s",
        spec.pods,
        spec.namespaces,
        report.total().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Forget the population phase's peak (Linux: writing 5 to clear_refs resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    runtime.block_on(async {
        let source = k8s::ClusterSource::Kubeconfig {
            path: Some(cluster.kubeconfig_path()),
            context: None,
        };
        let started = Instant::now();
        let mut handle =
            k8s::connect("bench", k8s::collector::client_config(&source).await?).await?;
        let settled = handle.wait_settled(Duration::from_secs(120)).await;
        let listed = started.elapsed();
        let rss_listed = status_kib("VmRSS:");
        let inventory = handle.snapshot();
        let complete = started.elapsed();
        let instances: u32 = inventory
            .workloads
            .iter()
            .flat_map(|w| &w.containers)
            .map(|c| c.pods)
            .sum();
        println!(
            "initial inventory: settled={settled} status={:?} workloads={} container instances={instances}; \
             lists {:.2} s, complete (with assembly) {:.2} s",
            inventory.status,
            inventory.workloads.len(),
            listed.as_secs_f64(),
            complete.as_secs_f64()
        );
        println!(
            "RSS after the lists: {} MiB; with the snapshot: {} MiB",
            rss_listed / 1024,
            status_kib("VmRSS:") / 1024
        );
        drop(inventory);

        // Watch latency: patch one pod's imageID, wait until the store shows it.
        let mut latencies = Vec::new();
        for round in 0..10 {
            let index = round * 997 % spec.pods;
            let (namespace, name) = fleet_pod(&spec, index);
            let new_id = format!(
                "docker-pullable://127.0.0.1:5000/fleet/app-new@sha256:{:064x}",
                round + 1
            );
            let api = cluster.api().clone();
            let t0 = Instant::now();
            let (ns, pod, id) = (namespace.clone(), name.clone(), new_id.clone());
            tokio::task::spawn_blocking(move || {
                api.patch_pod_status(&ns, &pod, "Running", "fleet-node-0", &[("app", "x", &id, true)])
            })
            .await??;
            loop {
                let seen = handle.with_store(|s| {
                    s.pods.values().any(|p| {
                        p.meta.name == name && p.containers.iter().any(|c| c.image_id == new_id)
                    })
                });
                if seen || t0.elapsed() > Duration::from_secs(10) {
                    break;
                }
                handle.changed(Duration::from_millis(50)).await;
            }
            latencies.push(t0.elapsed());
        }
        latencies.sort();
        println!(
            "watch event latency (GET + status PATCH → store), 10 rounds: median {:.0} ms, max {:.0} ms",
            latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
            latencies[latencies.len() - 1].as_secs_f64() * 1000.0
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    println!(
        "RSS: {} MiB before connecting, peak {} MiB from connect on (VmHWM after reset)",
        rss_before / 1024,
        status_kib("VmHWM:") / 1024
    );
    Ok(())
}
