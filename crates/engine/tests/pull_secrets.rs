//! Credentials that come with the image: a job's pull secrets are read from
//! its cluster (a real API server, `testkit::kube`) through
//! `k8s::PullSecretResolver` and used against a registry that requires them
//! (htpasswd); without a usable secret the static credentials apply. The
//! password never appears in a stored reason.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine::fleet::{FleetConfig, FleetScanner};
use engine::locate::{ClusterPullSecrets, RegistryLocator, StaticCredentials};
use k8s::DigestKind;
use k8s::collector::{self, ClusterSource};
use store::{ScanStatus, SqliteStore};
use support::*;
use testkit::kube::KubeTestCluster;
use testkit::{RegistryAuth, TestRegistry};
use vulndb::VulnDb;

const PASSWORD: &str = "pull-s3cret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_pull_secret_from_its_cluster_opens_the_registry() {
    let Some(registry) = TestRegistry::start_with(RegistryAuth::htpasswd(&[("robot", PASSWORD)]))
    else {
        return;
    };
    let Some(cluster) = KubeTestCluster::start() else {
        return;
    };
    install_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("store"))
            .await
            .expect("store"),
    );
    let db = VulnDb::open(&dir.path().join("data")).await.expect("db");
    import(&db, &demo_advisories(dir.path(), &["debian-tracker"])).await;

    let api = cluster.api();
    let post = |path: &str, body: serde_json::Value| {
        let bytes = serde_json::to_vec(&body).expect("json");
        let response = api
            .send("POST", path, Some("application/json"), Some(&bytes))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert!(response.status < 300, "POST {path}: {}", response.text());
    };
    post(
        "/api/v1/namespaces",
        serde_json::json!({"metadata": {"name": "web"}}),
    );
    let docker_config = serde_json::json!({"auths": {registry.host(): {"username": "robot", "password": PASSWORD}}});
    post(
        "/api/v1/namespaces/web/secrets",
        serde_json::json!({"metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": docker_config.to_string()}}),
    );

    let client = registry.client().with_basic_auth("robot", PASSWORD);
    let mut workloads = Vec::new();
    for (name, secret) in [("with-secret", Some("regcred")), ("without", None)] {
        let repository = format!("private/{name}");
        let digest = client
            .push(&repository, "1.0", &debian_image(name, "3.0.9-1"))
            .expect("push");
        let mut container = store::fixtures::container(
            "main",
            &format!("{}/{repository}:1.0", registry.host()),
            Some((digest, DigestKind::Manifest)),
            "linux/amd64",
            true,
        );
        container.pull_secrets = secret
            .map(|s| vec![store::fixtures::secret("web", s)])
            .unwrap_or_default();
        workloads.push(store::fixtures::workload("web", name, &[], vec![container]));
    }
    let snapshot = store::fixtures::inventory(
        "prod",
        time::OffsetDateTime::now_utc(),
        k8s::ClusterStatus::Ok,
        workloads,
    );
    ingest(&store, &snapshot).await;

    let config = collector::client_config(&ClusterSource::Kubeconfig {
        path: Some(cluster.kubeconfig_path()),
        context: None,
    })
    .await
    .expect("kubeconfig");
    let handle = collector::connect("prod", config).await.expect("connect");
    let resolver = Arc::new(k8s::PullSecretResolver::new(handle.client().clone()));
    let credentials = ClusterPullSecrets::new(
        HashMap::from([("prod".to_owned(), resolver)]),
        client_config(),
        StaticCredentials::new(client_config(), oci::CredentialStore::new()).expect("client"),
    );
    let scanner = FleetScanner::new(
        store.clone(),
        Arc::new(RegistryLocator::new(credentials)),
        db,
        Arc::new(analyze::default_analyzers()),
        FleetConfig {
            poll_interval: Duration::from_millis(200),
            ..FleetConfig::default()
        },
    );
    let summary = scanner.run_until_idle().await;
    assert_eq!((summary.scanned, summary.failed), (1, 1), "{summary:?}");
    let states = targets(&store).await;
    let with = states
        .iter()
        .find(|s| s.target.repository.ends_with("with-secret"))
        .expect("target");
    assert_eq!(with.status, ScanStatus::Scanned);
    let without = states
        .iter()
        .find(|s| s.target.repository.ends_with("without"))
        .expect("target");
    assert_eq!(without.status, ScanStatus::Failed);
    let reason = without.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("authentication required"), "{reason}");
    assert!(!format!("{states:?}").contains(PASSWORD));
}
