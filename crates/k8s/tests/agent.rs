//! The agent loop (`k8s::agent::run`) against a real API server and the
//! protocol-faithful ingest receiver of `testkit::ingest`: snapshot, deltas
//! as pods run, drift, scale to zero and deletion; retried messages that the
//! receiver had applied; a resnapshot demand; the server down for a while
//! (queued deltas in order) and long enough to overflow the buffer (a
//! snapshot instead). Skips with a message without the binaries.

// The test prints the latency it measured (a figure for the README).
#![allow(clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::*;
use k8s::agent::{self, AgentConfig, IngestClient, RetryPolicy, RunSummary, TokenSource};
use k8s::collector;
use k8s::state::Change;
use k8s::wire::MessageBody;
use serde_json::json;
use testkit::ingest::{IngestFault, IngestServer, Outcome};
use testkit::kube::objects::Resource;
use tokio::sync::oneshot;

const TOKEN: &str = "agent-token-5f2c9a";
const HEX_C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const HEX_D: &str = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

fn id(hex: &str) -> String {
    format!("docker-pullable://example@sha256:{hex}")
}

struct Agent {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<RunSummary, agent::AgentError>>,
    /// `http://127.0.0.1:PORT` of the agent's health endpoints.
    health: String,
}

impl Agent {
    async fn start(cluster: &TestCluster, server: &IngestServer, buffer: usize) -> Agent {
        let mut config = AgentConfig::new(
            server.base.clone(),
            TokenSource::Value(TOKEN.into()),
            "test".into(),
        );
        config.interval = Duration::from_secs(1);
        config.debounce = Duration::from_millis(200);
        config.buffer = buffer;
        config.request_timeout = Duration::from_secs(5);
        config.retry = RetryPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
            auth_attempts: 2,
        };
        let client = IngestClient::new(
            &config.server,
            config.token.clone(),
            None,
            config.request_timeout,
        )
        .expect("ingest client");
        let handle = collector::connect("test", cluster.config().await)
            .await
            .expect("connect");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("health listener");
        let health = format!("http://{}", listener.local_addr().expect("address"));
        // Stops with the test's runtime.
        tokio::spawn(k8s::health::serve(
            listener,
            config.health.clone(),
            std::future::pending(),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut handle = handle;
            agent::run(&mut handle, &client, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Agent { stop, task, health }
    }

    /// The status of `GET path` on the health endpoints.
    async fn probe(&self, path: &str) -> u16 {
        reqwest::get(format!("{}{path}", self.health))
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    async fn stop(self) -> RunSummary {
        let _ = self.stop.send(());
        self.task.await.expect("agent task").expect("agent run")
    }
}

/// `namespace/Kind/name container hex4` of the receiver's running images.
fn running(server: &IngestServer) -> Vec<String> {
    let mut rows: Vec<String> = server
        .cluster("test")
        .map(|view| {
            view.running
                .iter()
                .map(|k| {
                    format!(
                        "{}/{}/{} {} {}",
                        k.workload.namespace,
                        k.workload.kind,
                        k.workload.name,
                        k.container,
                        &k.digest.hex()[..4]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    rows.sort();
    rows
}

async fn until_running(server: &IngestServer, expected: &[&str]) {
    eventually(
        &format!("receiver to hold {expected:?}"),
        Duration::from_secs(40),
        || (running(server) == expected).then_some(()),
    )
    .await;
}

/// Every applied delta follows the message applied before it.
fn assert_chain(applied: &[String]) {
    let mut previous: Option<u64> = None;
    for label in applied {
        if let Some(rest) = label.strip_prefix('d') {
            let (seq, follows) = rest.split_once('/').expect("delta label");
            let (seq, follows): (u64, u64) =
                (seq.parse().expect("seq"), follows.parse().expect("follows"));
            assert_eq!(Some(follows), previous, "{label} in {applied:?}");
            assert_eq!(seq, follows + 1, "{label}");
            previous = Some(seq);
        } else {
            let seq: u64 = label[1..].parse().expect("snapshot seq");
            assert!(previous.is_none_or(|p| seq > p), "{label} in {applied:?}");
            previous = Some(seq);
        }
    }
}

fn bare_pod(api: &KubeApi, ns: &str, name: &str, image: &str, hex: &str) {
    create(
        api,
        &format!("/api/v1/namespaces/{ns}/pods"),
        json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "image": image}]}}),
    );
    run_pod(api, ns, name, "node-a", &id(hex));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sends_a_snapshot_then_deltas() {
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    init_tls();
    let api = cluster.api();
    namespace(api, "web");
    node(api, "node-a", "amd64");
    create(
        api,
        "/apis/apps/v1/namespaces/web/deployments",
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}}),
    );
    let web_pod = api.wait_for_pods("web", "app=web", 1).expect("web pod")[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    run_pod(api, "web", &web_pod, "node-a", &id(HEX_A));
    bare_pod(api, "web", "debug", "busybox:1.36", HEX_C);

    let server = IngestServer::start(TOKEN);
    let agent = Agent::start(&cluster, &server, 16).await;
    until_running(
        &server,
        &["web/Deployment/web app aaaa", "web/Pod/debug app cccc"],
    )
    .await;
    assert_eq!(server.applied()[0], "s1");

    // The receiver applies the drift delta but the connection drops: the
    // agent retries, the receiver acknowledges the duplicate, nothing doubles.
    server.fail_next(1, IngestFault::ApplyThenClose);
    let patched = std::time::Instant::now();
    run_pod(api, "web", "debug", "node-a", &id(HEX_D));
    until_running(
        &server,
        &["web/Deployment/web app aaaa", "web/Pod/debug app dddd"],
    )
    .await;
    let latency = patched.elapsed();
    eprintln!("pod status patch -> delta applied (debounce 200 ms, one retry): {latency:?}");
    assert!(latency < Duration::from_secs(3), "{latency:?}");
    let view = server.cluster("test").expect("view");
    assert_eq!(view.drifts.len(), 1, "{:?}", view.drifts);
    let received = server.received();
    let duplicate = received
        .iter()
        .find(|r| r.outcome == Outcome::Duplicate)
        .expect("a retried message");
    assert!(
        received
            .iter()
            .any(|r| r.outcome == Outcome::Applied && r.label() == duplicate.label())
    );

    // The server lost its state: the agent answers with a snapshot; the
    // first one is refused too (backoff, then another snapshot).
    server.fail_next(2, IngestFault::Resnapshot);
    bare_pod(api, "web", "extra", "redis:7", HEX_B);
    until_running(
        &server,
        &[
            "web/Deployment/web app aaaa",
            "web/Pod/debug app dddd",
            "web/Pod/extra app bbbb",
        ],
    )
    .await;
    assert_eq!(
        server.cluster("test").expect("view").snapshots,
        2,
        "{:?}",
        server.applied()
    );

    // Scaled to zero, then a bare pod deleted: no longer running, still seen.
    api.scale("web", &Resource::DEPLOYMENTS, "web", 0)
        .expect("scale");
    eventually("web pod terminating", Duration::from_secs(30), || {
        pods(api, "web")
            .iter()
            .any(|p| {
                p["metadata"]["name"] == web_pod.as_str()
                    && !p["metadata"]["deletionTimestamp"].is_null()
            })
            .then_some(())
    })
    .await;
    api.delete_now(Some("web"), &Resource::PODS, &web_pod)
        .expect("confirm deletion");
    until_running(
        &server,
        &["web/Pod/debug app dddd", "web/Pod/extra app bbbb"],
    )
    .await;
    // Quiet for a few intervals (nothing for the collector to report), then
    // a deletion: the image was seen until the last tick, not only until the
    // last change (the ticks touch the state without assembling it).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let deleted = time::OffsetDateTime::now_utc();
    api.delete_now(Some("web"), &Resource::PODS, "debug")
        .expect("delete");
    until_running(&server, &["web/Pod/extra app bbbb"]).await;
    let last_seen = server
        .received()
        .iter()
        .filter_map(|r| r.message.as_ref())
        .filter_map(|m| match &m.body {
            MessageBody::Delta(d) => Some(&d.changes),
            MessageBody::Snapshot(_) => None,
        })
        .flatten()
        .find_map(|c| match c {
            Change::NoLongerRunning { key, last_seen }
                if key.workload.name == "debug" && key.digest.hex() == HEX_D =>
            {
                Some(*last_seen)
            }
            _ => None,
        })
        .expect("debug is no longer running");
    assert!(
        deleted - last_seen < time::Duration::seconds(3),
        "last seen {last_seen}, deleted {deleted}"
    );
    let view = server.cluster("test").expect("view");
    assert_eq!(view.seen.len(), 4, "history is kept: {:?}", view.seen);

    let applied = server.applied();
    assert_chain(&applied);
    assert!(received.iter().all(|r| r.had_authorization));
    let summary = agent.stop().await;
    assert_eq!(summary.snapshots, 3, "{summary:?}");
    assert!(summary.retries >= 1, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_queues_while_the_server_is_down_and_snapshots_on_overflow() {
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    init_tls();
    let api = cluster.api();
    namespace(api, "jobs");
    node(api, "node-a", "amd64");
    let server = IngestServer::start(TOKEN);
    // Down from the start: alive, not ready until the first snapshot is accepted.
    server.set_down(true);
    let agent = Agent::start(&cluster, &server, 3).await;
    eventually("a refused snapshot", Duration::from_secs(40), || {
        (!server.received().is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        (agent.probe("/healthz").await, agent.probe("/readyz").await),
        (200, 503)
    );
    server.set_down(false);
    eventually("first snapshot", Duration::from_secs(40), || {
        (server.applied() == ["s1"]).then_some(())
    })
    .await;
    let mut ready = 0;
    for _ in 0..50 {
        ready = agent.probe("/readyz").await;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "ready once the snapshot was accepted");
    assert_eq!(agent.probe("/metrics").await, 404);
    let pause = || tokio::time::sleep(Duration::from_millis(1200));

    // Down for a while, two changes: both deltas wait in the buffer and
    // arrive in order once the server is back.
    server.set_down(true);
    bare_pod(api, "jobs", "p1", "alpine:3.19", HEX_A);
    pause().await;
    bare_pod(api, "jobs", "p2", "alpine:3.19", HEX_B);
    pause().await;
    assert!(running(&server).is_empty());
    // A server away later does not make the agent unready (it buffers).
    assert_eq!(agent.probe("/readyz").await, 200);
    server.set_down(false);
    until_running(&server, &["jobs/Pod/p1 app aaaa", "jobs/Pod/p2 app bbbb"]).await;
    let applied = server.applied();
    assert_chain(&applied);
    assert_eq!(
        applied.iter().filter(|l| l.starts_with('s')).count(),
        1,
        "{applied:?}"
    );
    assert!(applied.len() >= 3, "{applied:?}");
    assert!(
        server
            .received()
            .iter()
            .any(|r| r.outcome == Outcome::Faulted(IngestFault::Status(503, None)))
    );

    // Down long enough for more deltas than the buffer holds: they are
    // dropped and one snapshot carries the state.
    server.set_down(true);
    api.delete_now(Some("jobs"), &Resource::PODS, "p1")
        .expect("delete");
    pause().await;
    for (name, hex) in [("p3", HEX_C), ("p4", HEX_D), ("p5", HEX_A)] {
        bare_pod(api, "jobs", name, "alpine:3.19", hex);
        pause().await;
    }
    server.set_down(false);
    until_running(
        &server,
        &[
            "jobs/Pod/p2 app bbbb",
            "jobs/Pod/p3 app cccc",
            "jobs/Pod/p4 app dddd",
            "jobs/Pod/p5 app aaaa",
        ],
    )
    .await;
    let applied = server.applied();
    assert_chain(&applied);
    assert_eq!(
        applied.iter().filter(|l| l.starts_with('s')).count(),
        2,
        "{applied:?}"
    );
    let summary = agent.stop().await;
    assert!(summary.overflows >= 1, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_stops_on_a_refused_token() {
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    init_tls();
    let server = IngestServer::start("another-token");
    let agent = Agent::start(&cluster, &server, 4).await;
    eventually("a refused message", Duration::from_secs(40), || {
        (!server.received().is_empty()).then_some(())
    })
    .await;
    assert_eq!(agent.probe("/readyz").await, 503, "never accepted");
    let result = tokio::time::timeout(Duration::from_secs(60), agent.task)
        .await
        .expect("agent gave up in time")
        .expect("agent task");
    let err = result.expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            agent::AgentError::Unauthorized {
                status: 401,
                attempts: 2,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("refused the agent's token"), "{text}");
    assert!(
        !text.contains(TOKEN) && !format!("{err:?}").contains(TOKEN),
        "{text}"
    );
    assert!(
        server
            .received()
            .iter()
            .all(|r| r.outcome == Outcome::Unauthorized)
    );
}
