//! Fills a test cluster with a fleet (namespaces, nodes, running pods) fast,
//! for benchmarks: bare pods created already bound to a node by parallel
//! REST calls, then their statuses patched as running, as kubelets would.
//! Deployments would make the controller manager create the pods, which is
//! far slower on a small machine and measures the wrong thing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::api::{ContainerStatus, KubeApi, PodStatusPatch};
use super::objects;
use crate::TestkitError;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    /// Namespaces `fleet-0000`…
    pub namespaces: usize,
    /// Pods in all, spread evenly over the namespaces.
    pub pods: usize,
    /// Distinct images the pods run (`127.0.0.1:5000/fleet/app-N:1.0`).
    pub images: usize,
    /// Nodes `fleet-node-N`, alternately linux/amd64 and linux/arm64.
    pub nodes: usize,
    /// Concurrent REST calls.
    pub parallelism: usize,
}

impl Default for FleetSpec {
    /// The benchmark: 10,000 pods in 200 namespaces.
    fn default() -> FleetSpec {
        FleetSpec {
            namespaces: 200,
            pods: 10_000,
            images: 500,
            nodes: 20,
            parallelism: 16,
        }
    }
}

/// How long each phase took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetReport {
    pub namespaces_and_nodes: Duration,
    pub pods_created: Duration,
    pub statuses_patched: Duration,
}

impl FleetReport {
    pub fn total(&self) -> Duration {
        self.namespaces_and_nodes + self.pods_created + self.statuses_patched
    }
}

/// The image of pod `index` and the digest a node would report for it.
pub fn fleet_image(spec: &FleetSpec, index: usize) -> (String, String) {
    let n = index % spec.images.max(1);
    let image = format!("127.0.0.1:5000/fleet/app-{n}:1.0");
    let digest = hex::encode(Sha256::digest(image.as_bytes()));
    let image_id = format!("docker-pullable://127.0.0.1:5000/fleet/app-{n}@sha256:{digest}");
    (image, image_id)
}

/// Namespace and name of pod `index`.
pub fn fleet_pod(spec: &FleetSpec, index: usize) -> (String, String) {
    let namespace = index % spec.namespaces.max(1);
    (format!("fleet-{namespace:04}"), format!("pod-{index:05}"))
}

/// Runs `task(i)` for `0..count` on `parallelism` threads; the first error wins.
fn parallel(
    count: usize,
    parallelism: usize,
    task: impl Fn(usize) -> Result<(), TestkitError> + Sync,
) -> Result<(), TestkitError> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<TestkitError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..parallelism.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return;
                    }
                    if let Err(e) = task(index) {
                        // Stop handing out work; keep the first error.
                        next.store(count, Ordering::Relaxed);
                        let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Creates the fleet and reports how long each phase took.
pub fn populate_fleet(api: &KubeApi, spec: &FleetSpec) -> Result<FleetReport, TestkitError> {
    let nodes = spec.nodes.max(1);
    let started = Instant::now();
    parallel(spec.namespaces + nodes, spec.parallelism, |i| {
        let object = if i < spec.namespaces {
            objects::namespace(
                &format!("fleet-{i:04}"),
                &[("shipshape.dev/bench", "fleet")],
            )
        } else {
            let n = i - spec.namespaces;
            let arch = if n.is_multiple_of(2) {
                "amd64"
            } else {
                "arm64"
            };
            objects::node(&format!("fleet-node-{n}"), "linux", arch)
        };
        api.create_object(&object).map(drop)
    })?;
    let namespaces_and_nodes = started.elapsed();

    let started = Instant::now();
    parallel(spec.pods, spec.parallelism, |i| {
        let (namespace, name) = fleet_pod(spec, i);
        let (image, _) = fleet_image(spec, i);
        let pod = objects::pod(&namespace, &name, &[("app", &image)], &[("app", "fleet")])
            .node_name(&format!("fleet-node-{}", i % nodes));
        api.create_object(&pod).map(drop)
    })?;
    let pods_created = started.elapsed();

    let started = Instant::now();
    // Created bound, so no binding call: the status patch is all a kubelet adds.
    let bound = json!({"spec": {"nodeName": "fleet-node"}});
    parallel(spec.pods, spec.parallelism, |i| {
        let (namespace, name) = fleet_pod(spec, i);
        let (image, image_id) = fleet_image(spec, i);
        let patch = PodStatusPatch {
            phase: "Running".into(),
            node: String::new(),
            containers: vec![ContainerStatus::running("app", &image, &image_id)],
        };
        api.patch_pod_status_with(&namespace, &name, &bound, &patch)
            .map(drop)
    })?;
    Ok(FleetReport {
        namespaces_and_nodes,
        pods_created,
        statuses_patched: started.elapsed(),
    })
}

/// The slow path, for comparison: one Deployment per namespace with
/// `pods / namespaces` replicas, timed until the controller manager has
/// created every pod (1.20's controller manager talks to the API server at
/// 20 requests/s by default, which bounds this). Pods stay `Pending`.
pub fn populate_via_deployments(api: &KubeApi, spec: &FleetSpec) -> Result<Duration, TestkitError> {
    let namespaces = spec.namespaces.max(1);
    let replicas = u32::try_from(spec.pods / namespaces)
        .map_err(|_| TestkitError::Protocol("too many replicas".into()))?;
    let started = Instant::now();
    parallel(namespaces, spec.parallelism, |i| {
        let namespace = format!("deploy-{i:04}");
        api.create_object(&objects::namespace(&namespace, &[]))?;
        let (image, _) = fleet_image(spec, i);
        let deployment = objects::deployment(&namespace, "app", replicas, &[("app", &image)], &[]);
        api.create_object(&deployment).map(drop)
    })?;
    let expected = namespaces * replicas as usize;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let count = api
            .list(None, &super::Resource::PODS, Some("app=app"))?
            .len();
        if count >= expected {
            return Ok(started.elapsed());
        }
        if Instant::now() > deadline {
            return Err(TestkitError::Timeout(format!(
                "{expected} pods from Deployments (have {count})"
            )));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
