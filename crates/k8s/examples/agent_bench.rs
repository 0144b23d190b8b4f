//! Benchmark: the agent (the `shipshape agent` binary, its own process, so its
//! memory and CPU are its own) against 10,000 pods in 200 namespaces on a real
//! API server (`testkit::kube::populate_fleet`), sending to `testkit::ingest`'s
//! receiver (protocol v1, over loopback HTTP):
//! 1. time from connect to the first snapshot the receiver accepted,
//! 2. bytes of that snapshot message,
//! 3. peak RSS of the agent process,
//! 4. CPU the process spends while nothing changes (the agent's ticks), and
//!    what one full re-assembly + diff of the inventory costs,
//! 5. delta latency: patch one pod's imageID, time until the receiver holds the new digest
//!    (includes the agent's 1 s debounce).
//!
//! `cargo build -p cli && cargo run -p k8s --example agent_bench [PODS] [NAMESPACES] [IDLE_SECONDS]`
//! (`$SHIPSHAPE_BIN` names another build of the binary).

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s::wire::MessageBody;
use testkit::ingest::{IngestServer, Outcome};
use testkit::kube::{FleetSpec, KubeTestCluster, fleet_pod, populate_fleet};

const TOKEN: &str = "bench-agent-token";

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process (`/proc/PID/stat`, USER_HZ = 100).
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The `shipshape` binary: `$SHIPSHAPE_BIN`, or the workspace's debug build.
fn shipshape_binary() -> PathBuf {
    std::env::var_os("SHIPSHAPE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| testkit::kube::repo_root().join("target/debug/shipshape"))
}

/// Kills the agent process when the benchmark ends, however it ends.
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let spec = FleetSpec {
        pods: args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000),
        namespaces: args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200),
        ..FleetSpec::default()
    };
    let idle = Duration::from_secs(args.get(3).and_then(|a| a.parse().ok()).unwrap_or(60));
    let binary = shipshape_binary();
    if !binary.is_file() {
        return Err(format!("{} missing: cargo build -p cli", binary.display()).into());
    }
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
    let server = IngestServer::start(TOKEN);
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN)?;

    // The shipped defaults: 10 s interval, 1 s debounce, buffer 64.
    let started = Instant::now();
    let agent = AgentProcess(
        Command::new(&binary)
            .arg("agent")
            .arg("--server")
            .arg(server.base.as_str())
            .arg("--token-file")
            .arg(&token_file)
            .arg("--cluster-name")
            .arg("bench")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig_path())
            .args(["--health-listen", "127.0.0.1:0", "--log", "warn"])
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .spawn()?,
    );
    let pid = agent.0.id().to_string();

    // 1 + 2: the first accepted snapshot.
    let snapshot = loop {
        let accepted = server.received().into_iter().find(|r| {
            r.outcome == Outcome::Applied
                && matches!(
                    r.message.as_ref().map(|m| &m.body),
                    Some(MessageBody::Snapshot(_))
                )
        });
        if let Some(received) = accepted {
            break received;
        }
        if started.elapsed() > Duration::from_secs(180) {
            return Err("no snapshot in 180 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let first = started.elapsed();
    let message = snapshot.message.as_ref().ok_or("undecoded snapshot")?;
    let bytes = serde_json::to_vec(message)?.len();
    let workloads = match &message.body {
        MessageBody::Snapshot(s) => s.inventory.workloads.len(),
        MessageBody::Delta(_) => 0,
    };
    drop(snapshot);
    println!(
        "first accepted snapshot: {:.2} s after the agent started (process start, lists, assembly, encoding, POST); \
         {workloads} workloads, {:.1} MiB of JSON ({bytes} bytes, re-encoded from the receiver's copy)",
        first.as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "agent RSS after the snapshot: {} MiB (peak so far {} MiB)",
        status_kib(&pid, "VmRSS:") / 1024,
        status_kib(&pid, "VmHWM:") / 1024
    );

    // 4: nothing changes for a while; the agent only ticks.
    let cpu0 = cpu_time(&pid);
    std::thread::sleep(idle);
    let idle_cpu = cpu_time(&pid).saturating_sub(cpu0);
    println!(
        "agent idle for {} s (interval 10 s): {:.2} s of CPU",
        idle.as_secs(),
        idle_cpu.as_secs_f64()
    );

    // 5: delta latency.
    let mut latencies = Vec::new();
    for round in 0..5 {
        let index = round * 997 % spec.pods;
        let (namespace, name) = fleet_pod(&spec, index);
        let hex = format!("{:064x}", 0xbe00 + round);
        let new_id = format!("docker-pullable://127.0.0.1:5000/fleet/app-new@sha256:{hex}");
        let t0 = Instant::now();
        cluster.api().patch_pod_status(
            &namespace,
            &name,
            "Running",
            "fleet-node-0",
            &[("app", "x", &new_id, true)],
        )?;
        loop {
            let seen = server.cluster("bench").is_some_and(|view| {
                view.running
                    .iter()
                    .any(|k| k.workload.name == name && k.digest.hex() == hex)
            });
            if seen || t0.elapsed() > Duration::from_secs(20) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        latencies.push(t0.elapsed());
        // Apart by more than the debounce, so each change is its own delta.
        std::thread::sleep(Duration::from_millis(1500));
    }
    latencies.sort();
    println!(
        "delta latency (status PATCH → receiver holds the new digest; 1 s debounce), 5 rounds: median {:.0} ms, max {:.0} ms",
        latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
        latencies[latencies.len() - 1].as_secs_f64() * 1000.0
    );
    let applied = server.applied();
    println!(
        "agent peak RSS (VmHWM): {} MiB; messages applied: {} ({} snapshots)",
        status_kib(&pid, "VmHWM:") / 1024,
        applied.len(),
        applied.iter().filter(|l| l.starts_with('s')).count()
    );
    drop(agent);

    // What one tick's full re-assembly + diff costs, in this process.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let source = k8s::ClusterSource::Kubeconfig {
            path: Some(cluster.kubeconfig_path()),
            context: None,
        };
        let mut handle =
            k8s::connect("bench", k8s::collector::client_config(&source).await?).await?;
        handle.wait_settled(Duration::from_secs(120)).await;
        // The first message's parts: assembly, the first diff (every image
        // new), encoding.
        let t0 = Instant::now();
        let inventory = handle.snapshot();
        let assembled = t0.elapsed();
        let mut state = k8s::InventoryState::new();
        let t0 = Instant::now();
        state.apply(&inventory);
        let diffed = t0.elapsed();
        let message = k8s::wire::AgentMessage {
            version: k8s::wire::PROTOCOL_VERSION,
            cluster: "bench".into(),
            run: k8s::wire::new_run_id(),
            sequence: 1,
            body: MessageBody::Snapshot(k8s::wire::Snapshot { inventory }),
        };
        let t0 = Instant::now();
        let encoded = serde_json::to_vec(&message)?.len();
        println!(
            "first message, in parts: assembly {:.0} ms, first diff {:.0} ms, JSON encoding {:.0} ms ({encoded} bytes)",
            assembled.as_secs_f64() * 1000.0,
            diffed.as_secs_f64() * 1000.0,
            t0.elapsed().as_secs_f64() * 1000.0
        );
        drop(message);
        let rounds = 5u32;
        let t0 = Instant::now();
        for _ in 0..rounds {
            let inventory = handle.snapshot();
            state.apply(&inventory);
        }
        println!(
            "one full re-assembly + diff (what a tick did before it checked for changes): {:.0} ms",
            t0.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds)
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
