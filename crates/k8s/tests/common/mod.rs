//! Test scene setting on `testkit::kube`: a real control plane per test (free
//! ports) and its REST client, which is deliberately not kube-rs, so a kube-rs
//! bug cannot hide by being on both sides of a test.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use k8s::collector::{ClusterSource, client_config};
use serde_json::{Value, json};
pub use testkit::kube::{Component, KubeApi, KubeTestCluster};

pub const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

pub struct TestCluster {
    pub kube: KubeTestCluster,
}

impl TestCluster {
    /// Starts a cluster, or returns None (testkit prints why) when the binaries are absent.
    pub fn start() -> Option<TestCluster> {
        KubeTestCluster::start().map(|kube| TestCluster { kube })
    }

    pub fn api(&self) -> &KubeApi {
        self.kube.api()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.kube.kubeconfig_path()
    }

    pub async fn config(&self) -> kube::Config {
        client_config(&ClusterSource::Kubeconfig {
            path: Some(self.kubeconfig()),
            context: None,
        })
        .await
        .expect("kubeconfig")
    }

    /// A kubeconfig file for `token`, as the CLI and the agent would read it.
    pub fn kubeconfig_for(&self, name: &str, token: &str) -> PathBuf {
        let path = self.kube.state_dir().join(format!("{name}.kubeconfig"));
        self.kube
            .write_kubeconfig_with_token(&path, token, name)
            .expect("write kubeconfig");
        path
    }

    /// Kills the API server at once (a crash: a SIGTERM'd API server keeps its
    /// watches open for up to a minute while it drains).
    pub fn kill_apiserver(&self) {
        if let Some(pid) = self.kube.pid(Component::ApiServer) {
            let _ = std::process::Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// POSTs any object from JSON at its collection path, as kubectl would.
pub fn create(api: &KubeApi, path: &str, body: Value) -> Value {
    let bytes = serde_json::to_vec(&body).expect("json");
    let response = api
        .send("POST", path, Some("application/json"), Some(&bytes))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert!(
        (200..300).contains(&response.status),
        "POST {path}: {} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

pub fn namespace(api: &KubeApi, name: &str) {
    create(
        api,
        "/api/v1/namespaces",
        json!({"metadata": {"name": name, "labels": {"team": name}}}),
    );
}

pub fn node(api: &KubeApi, name: &str, arch: &str) {
    api.create_object(&testkit::kube::objects::node(name, "linux", arch))
        .expect("node");
}

/// Acts as scheduler + kubelet: binds the pod and reports its containers running with `image_id`.
pub fn run_pod(api: &KubeApi, ns: &str, name: &str, node: &str, image_id: &str) {
    let pod = api
        .get_path(&format!("/api/v1/namespaces/{ns}/pods/{name}"))
        .expect("pod");
    let containers: Vec<(String, String)> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["image"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let statuses: Vec<(&str, &str, &str, bool)> = containers
        .iter()
        .map(|(n, i)| (n.as_str(), i.as_str(), image_id, true))
        .collect();
    api.patch_pod_status(ns, name, "Running", node, &statuses)
        .unwrap_or_else(|e| panic!("kubelet for {ns}/{name}: {e}"));
}

pub fn pods(api: &KubeApi, ns: &str) -> Vec<Value> {
    api.get_path(&format!("/api/v1/namespaces/{ns}/pods"))
        .expect("list pods")["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn pod_names(api: &KubeApi, ns: &str) -> Vec<String> {
    let mut names: Vec<String> = pods(api, ns)
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Polls `check` until it returns Some, or panics after `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
