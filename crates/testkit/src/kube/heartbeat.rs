//! The kubelet heartbeat, played for the nodes tests create. Without it the
//! node lifecycle controller marks a node `Unknown` about 40 s after its last
//! heartbeat, taints it (`unreachable`: no new DaemonSet pods) and, five
//! minutes later, evicts its pods — a benchmark left running would see its
//! 10,000 pods deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;

use super::api::KubeApi;
use super::objects::Resource;

/// Nodes with this label set to `"true"` get heartbeats ([`node`](super::objects::node)
/// sets it; remove it to let a node go `Unknown`).
pub const HEARTBEAT_LABEL: &str = "testkit.shipshape.dev/heartbeat";
/// Where kubelets keep their leases.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Well inside the controller's 40 s grace period.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(10);

/// A thread that renews the leases of labelled nodes; stopped
/// (and joined) on drop.
pub(crate) struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    pub(crate) fn start(api: KubeApi) -> Heartbeat {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("testkit-node-heartbeat".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    // Errors are left for the next round: a test that deleted a
                    // node, or a control plane shutting down, is not a failure here.
                    let _ = beat(&api);
                    let next = Instant::now() + HEARTBEAT_PERIOD;
                    while Instant::now() < next && !stopped.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
            .ok();
        Heartbeat { stop, thread }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Renews each labelled node's Lease in `kube-node-lease`, as kubelets do
/// (the node lifecycle controller counts a renewed lease as a heartbeat, and
/// the Node object itself is not written, so watchers see no churn).
fn beat(api: &KubeApi) -> Result<(), crate::TestkitError> {
    let now = OffsetDateTime::now_utc();
    // metav1.MicroTime: RFC 3339 with exactly six fractional digits.
    let renew_time = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    );
    let selector = format!("{HEARTBEAT_LABEL}=true");
    for node in api.list(None, &Resource::NODES, Some(&selector))? {
        let Some(name) = node["metadata"]["name"].as_str() else {
            continue;
        };
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE},
            "spec": {
                "holderIdentity": name,
                "leaseDurationSeconds": 40,
                "renewTime": renew_time,
            },
        });
        api.apply_json(
            &format!(
                "/apis/coordination.k8s.io/v1/namespaces/{NODE_LEASE_NAMESPACE}/leases/{}",
                super::objects::path_segment(name)
            ),
            &lease,
        )?;
    }
    Ok(())
}
