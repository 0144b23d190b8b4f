//! A throwaway real API server (etcd + kube-apiserver + controller-manager
//! v1.20) per test, from `shared/tools/kube-test-cluster`, on free loopback ports.

#![allow(dead_code)]
// The skip message is for whoever runs the tests.
#![allow(clippy::print_stderr)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s::collector::{ClusterSource, client_config};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

pub const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn tools_dir() -> PathBuf {
    std::env::var_os("KUBE_TEST_CLUSTER_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/tools/kube-test-cluster")
        })
}

fn bin_dir() -> PathBuf {
    let home = std::env::var_os("KUBE_TEST_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/kube-test-cluster")
        });
    home.join("bin")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl TestCluster {
    /// Starts a cluster, or returns None (with a message) when the binaries are absent.
    pub fn start() -> Option<TestCluster> {
        if !bin_dir().join("kube-apiserver").exists() || !tools_dir().join("start.sh").exists() {
            eprintln!(
                "SKIPPED: no kube-test-cluster binaries in {} (run shared/tools/kube-test-cluster/build.sh)",
                bin_dir().display()
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let output = Command::new("bash")
            .arg(tools_dir().join("start.sh"))
            .arg(dir.path())
            .env("ETCD_PORT", free_port().to_string())
            .env("ETCD_PEER_PORT", free_port().to_string())
            .env("APISERVER_PORT", port.to_string())
            .env("KCM_PORT", free_port().to_string())
            .output()
            .expect("run start.sh");
        let cluster = TestCluster { dir, port };
        assert!(
            output.status.success(),
            "start.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(cluster)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub async fn config(&self) -> kube::Config {
        client_config(&ClusterSource::Kubeconfig {
            path: Some(self.kubeconfig()),
            context: None,
        })
        .await
        .expect("kubeconfig")
    }

    pub async fn admin(&self) -> Client {
        Client::try_from(self.config().await).expect("client")
    }

    /// Kills the API server at once (a crash: a SIGTERM'd API server keeps its
    /// watches open for up to a minute while it drains).
    pub fn kill_apiserver(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("apiserver.pid")) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.trim()).status();
        }
    }

    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(tools_dir().join("stop.sh"))
            .arg(self.dir.path())
            .status();
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Creates any object from JSON at its collection path (POST), as kubectl would.
pub async fn create(client: &Client, path: &str, body: Value) {
    let request = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("request");
    let _: Value = client
        .request(request)
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
}

pub async fn namespace(client: &Client, name: &str) {
    create(
        client,
        "/api/v1/namespaces",
        json!({"metadata": {"name": name, "labels": {"team": name}}}),
    )
    .await;
}

pub async fn node(client: &Client, name: &str, arch: &str) {
    create(client, "/api/v1/nodes", json!({"metadata": {"name": name}})).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let status = json!({"status": {"nodeInfo": {"operatingSystem": "linux", "architecture": arch,
        "bootID": "", "containerRuntimeVersion": "containerd://1.7", "kernelVersion": "6.1", "kubeProxyVersion": "v1.20.2",
        "kubeletVersion": "v1.20.2", "machineID": "", "osImage": "Debian", "systemUUID": ""}}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("node status");
}

/// Acts as scheduler + kubelet: binds the pod to a node and reports its containers running with `image_id`.
pub async fn run_pod(client: &Client, ns: &str, name: &str, node: &str, image_id: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = pods.get(name).await.expect("pod");
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_none()
    {
        create(
            client,
            &format!("/api/v1/namespaces/{ns}/pods/{name}/binding"),
            json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}),
        )
        .await;
    }
    let statuses: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            json!({"name": c.name, "image": c.image, "imageID": image_id, "ready": true, "restartCount": 0,
                   "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}})
        })
        .collect();
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"phase": "Running", "containerStatuses": statuses}})),
    )
    .await
    .expect("pod status");
}

pub async fn pod_names(client: &Client, ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = pods
        .list(&Default::default())
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

/// Polls `check` until it returns Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn post_params() -> PostParams {
    PostParams::default()
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read file")
}
