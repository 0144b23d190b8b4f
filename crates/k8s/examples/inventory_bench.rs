//! Benchmark: 10,000 pods in 200 namespaces on a real API server
//! (shared/tools/kube-test-cluster), then
//! 1. time from connect to a complete initial inventory (lists + assembly),
//! 2. peak RSS of the process during that (the population phase's peak is reset first),
//! 3. latency of a watch event: patch a pod's imageID, time until the collector's store shows it.
//!
//! `cargo run -p k8s --example inventory_bench [PODS] [NAMESPACES]`

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

fn tools() -> PathBuf {
    std::env::var_os("KUBE_TEST_CLUSTER_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/tools/kube-test-cluster")
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn post(client: &Client, path: &str, body: &Value) -> Result<(), kube::Error> {
    let request = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap_or_default())
        .map_err(kube::Error::HttpError)?;
    client.request::<Value>(request).await.map(|_| ())
}

fn image_id(i: usize) -> String {
    format!(
        "docker-pullable://registry.example.com/app-{}@sha256:{:064x}",
        i % 50,
        i
    )
}

struct Stop(PathBuf);
impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(tools().join("stop.sh"))
            .arg(&self.0)
            .status();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let pods: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let namespaces: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);

    let dir = tempfile::tempdir()?;
    let output = Command::new("bash")
        .arg(tools().join("start.sh"))
        .arg(dir.path())
        .env("ETCD_PORT", free_port().to_string())
        .env("ETCD_PEER_PORT", free_port().to_string())
        .env("APISERVER_PORT", free_port().to_string())
        .env("KCM_PORT", free_port().to_string())
        .output()?;
    let _stop = Stop(dir.path().to_owned());
    if !output.status.success() {
        return Err(format!("start.sh: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    let source = k8s::ClusterSource::Kubeconfig {
        path: Some(dir.path().join("kubeconfig")),
        context: None,
    };
    let admin = Client::try_from(k8s::collector::client_config(&source).await?)?;

    let started = Instant::now();
    futures_util::stream::iter(0..namespaces)
        .map(|n| {
            let admin = admin.clone();
            async move { post(&admin, "/api/v1/namespaces", &json!({"metadata": {"name": format!("ns-{n}"), "labels": {"team": format!("t{}", n % 10)}}})).await }
        })
        .buffer_unordered(16)
        .for_each(|r| async { if let Err(e) = r { println!("namespace: {e}") } })
        .await;
    futures_util::stream::iter(0..pods)
        .map(|i| {
            let admin = admin.clone();
            async move {
                let ns = format!("ns-{}", i % namespaces);
                let name = format!("pod-{i}");
                let body = json!({"metadata": {"name": name, "labels": {"app": format!("app-{}", i % 50), "tier": "backend",
                        "version": "v1", "team": "payments", "env": "prod", "pod-template-hash": format!("{:x}", i % 97)}},
                    "spec": {"nodeName": "node-1", "imagePullSecrets": [{"name": "regcred"}],
                        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                        "containers": [{"name": "app", "image": format!("registry.example.com/app-{}:1.0", i % 50)},
                                       {"name": "sidecar", "image": "envoyproxy/envoy:v1.29"}]}});
                post(&admin, &format!("/api/v1/namespaces/{ns}/pods"), &body).await?;
                let statuses = json!({"status": {"phase": "Running", "containerStatuses": [
                    {"name": "app", "image": "x", "imageID": image_id(i), "ready": true, "restartCount": 0, "state": {"running": {}}},
                    {"name": "sidecar", "image": "x", "imageID": format!("docker-pullable://envoyproxy/envoy@sha256:{:064x}", 7), "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
                Api::<k8s_openapi::api::core::v1::Pod>::namespaced(admin.clone(), &ns)
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&statuses))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(32)
        .for_each(|r| async { if let Err(e) = r { println!("pod: {e}") } })
        .await;
    post(
        &admin,
        "/api/v1/nodes",
        &json!({"metadata": {"name": "node-1"}}),
    )
    .await?;
    println!(
        "populated {pods} pods in {namespaces} namespaces in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Forget the population phase's peak (Linux: writing 5 to clear_refs resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    let started = Instant::now();
    let mut handle = k8s::connect("bench", k8s::collector::client_config(&source).await?).await?;
    let settled = handle.wait_settled(Duration::from_secs(120)).await;
    let listed = started.elapsed();
    let rss_listed = status_kib("VmRSS:");
    let hwm_listed = status_kib("VmHWM:");
    let inventory = handle.snapshot();
    let complete = started.elapsed();
    let containers: u32 = inventory
        .workloads
        .iter()
        .flat_map(|w| &w.containers)
        .map(|c| c.pods)
        .sum();
    println!(
        "initial inventory: settled={settled} status={:?} workloads={} container instances={containers} \
         lists {:.2} s, complete (with assembly) {:.2} s",
        inventory.status,
        inventory.workloads.len(),
        listed.as_secs_f64(),
        complete.as_secs_f64()
    );
    println!(
        "RSS after the lists: {} MiB (peak so far {} MiB); with the snapshot: {} MiB",
        rss_listed / 1024,
        hwm_listed / 1024,
        status_kib("VmRSS:") / 1024
    );
    drop(inventory);
    let assembly = Instant::now();
    let again = handle.snapshot();
    println!(
        "snapshot assembly alone: {:.0} ms ({} workloads)",
        assembly.elapsed().as_secs_f64() * 1000.0,
        again.workloads.len()
    );
    drop(again);

    // Watch latency: patch one pod's imageID, wait until the store shows it.
    let mut latencies = Vec::new();
    for round in 0..10 {
        let i = round * 997 % pods;
        let ns = format!("ns-{}", i % namespaces);
        let name = format!("pod-{i}");
        let new_id = image_id(pods + 1000 + round);
        let patch = json!({"status": {"containerStatuses": [
            {"name": "app", "image": "x", "imageID": new_id, "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "sidecar", "image": "x", "imageID": format!("docker-pullable://envoyproxy/envoy@sha256:{:064x}", 7), "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        let t0 = Instant::now();
        Api::<k8s_openapi::api::core::v1::Pod>::namespaced(admin.clone(), &ns)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        loop {
            let seen = handle.with_store(|s| {
                s.pods.values().any(|p| {
                    p.meta.name == name && p.containers.iter().any(|c| c.image_id == new_id)
                })
            });
            if seen {
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                println!("round {round}: not seen after 10 s");
                break;
            }
            handle.changed(Duration::from_millis(50)).await;
        }
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    println!(
        "watch event latency (patch → store), 10 rounds: median {:.0} ms, max {:.0} ms",
        latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
        latencies[latencies.len() - 1].as_secs_f64() * 1000.0
    );
    println!(
        "RSS: {} MiB before connecting, peak {} MiB (VmHWM since reset), now {} MiB",
        rss_before / 1024,
        status_kib("VmHWM:") / 1024,
        status_kib("VmRSS:") / 1024
    );
    Ok(())
}
