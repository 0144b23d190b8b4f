//! The collector across API server outages, against a real API server
//! (`testkit::kube`): the API server is killed, the cluster is changed
//! through a second API server over the same etcd (which the collector
//! cannot see), and the first one comes back on the same port.
//!
//! - Without compaction, and with the watch cache off, the restarted API
//!   server serves the old resourceVersion from etcd: the watchers resume and
//!   replay what they missed (no relist).
//! - After an etcd compaction that resourceVersion is gone: 410 Gone, and
//!   the watchers relist; the store must then hold exactly the pods that
//!   exist (no phantom of a pod deleted while down, none lost).
//!
//! Both check the inventory and the status, never the logs. Skips with a
//! message without the binaries.

mod common;

use std::time::Duration;

use common::*;
use k8s::collector::{self, ClusterHandle};
use k8s::types::ClusterStatus;
use testkit::kube::objects::{self, Resource};

const SETTLE: Duration = Duration::from_secs(60);
/// The watchers back off up to 30 s between attempts while the API server is
/// away, and a resumed watch counts as healthy 15 s after its last error.
const RECOVER: Duration = Duration::from_secs(90);

fn image_id(hex: &str) -> String {
    format!("docker-pullable://registry.example/shop@sha256:{hex}")
}

/// `pod digest-hex-prefix running`, sorted, from the pods of namespace `shop`.
fn pods(handle: &ClusterHandle) -> Vec<String> {
    let inventory = handle.snapshot();
    let mut rows: Vec<String> = inventory
        .workloads
        .iter()
        .filter(|w| w.namespace == "shop")
        .flat_map(|w| &w.containers)
        .map(|c| {
            format!(
                "{} {} {}",
                c.pod,
                c.digest
                    .as_ref()
                    .map_or("-".to_owned(), |d| d.hex()[..4].to_owned()),
                c.running
            )
        })
        .collect();
    rows.sort();
    rows
}

fn bare_pod(api: &KubeApi, name: &str, hex: &str) {
    api.create_object(&objects::pod(
        "shop",
        name,
        &[("app", "registry.example/shop:1")],
        &[],
    ))
    .unwrap_or_else(|e| panic!("create pod {name}: {e}"));
    run_pod(api, "shop", name, "node-a", &image_id(hex));
}

enum Outage {
    /// The API server comes back with the history intact.
    Restart,
    /// etcd is compacted while the API server is away.
    RestartAfterCompaction,
}

async fn outage(kind: Outage) {
    init_tls();
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    let api = cluster.api();
    namespace(api, "shop");
    node(api, "node-a", "amd64");
    for name in ["keep", "gone", "drift"] {
        bare_pod(api, name, HEX_A);
    }
    let mut handle = collector::connect("outage", cluster.config().await)
        .await
        .expect("connect");
    assert!(handle.wait_settled(SETTLE).await, "initial lists");
    let before = vec!["drift aaaa true", "gone aaaa true", "keep aaaa true"];
    eventually("the first inventory", SETTLE, || {
        (pods(&handle) == before).then_some(())
    })
    .await;
    assert_eq!(handle.status(), ClusterStatus::Ok);
    assert_eq!(handle.lists("pods"), 1);

    cluster.kube.stop_apiserver().expect("stop the API server");
    eventually("the collector to notice the outage", RECOVER, || {
        (handle.status() != ClusterStatus::Ok).then_some(())
    })
    .await;
    {
        // Changes the collector cannot see while its API server is away.
        let side = cluster.kube.side_apiserver().expect("side API server");
        let side = side.api();
        side.delete_now(Some("shop"), &Resource::PODS, "gone")
            .expect("delete pod gone");
        bare_pod(side, "new", HEX_B);
        run_pod(side, "shop", "drift", "node-a", &image_id(HEX_B));
    }
    if let Outage::RestartAfterCompaction = kind {
        cluster.kube.compact_etcd().expect("compact etcd");
    }
    // What the collector shows during the outage is the last it knew.
    assert_eq!(pods(&handle), before);
    assert!(
        matches!(
            handle.status(),
            ClusterStatus::Degraded { .. } | ClusterStatus::Unreachable { .. }
        ),
        "{:?}",
        handle.status()
    );

    // Without the watch cache, a watch from an old resourceVersion goes to
    // etcd: replayed when the history is there, 410 Gone when compacted.
    cluster
        .kube
        .start_apiserver(&["--watch-cache=false"])
        .expect("restart the API server");
    let after = vec!["drift bbbb true", "keep aaaa true", "new bbbb true"];
    eventually("the changes made during the outage", RECOVER, || {
        (pods(&handle) == after).then_some(())
    })
    .await;
    eventually("the status to be ok again", RECOVER, || {
        (handle.status() == ClusterStatus::Ok).then_some(())
    })
    .await;
    match kind {
        Outage::Restart => assert_eq!(handle.lists("pods"), 1, "resumed, not relisted"),
        Outage::RestartAfterCompaction => {
            assert_eq!(handle.lists("pods"), 2, "relisted after 410 Gone")
        }
    }

    // And the watch is live again.
    api.delete_now(Some("shop"), &Resource::PODS, "keep")
        .expect("delete pod keep");
    eventually("a change after the outage", RECOVER, || {
        (pods(&handle) == ["drift bbbb true", "new bbbb true"]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_resumes_after_an_api_server_restart() {
    outage(Outage::Restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_relists_after_etcd_compaction() {
    outage(Outage::RestartAfterCompaction).await;
}
