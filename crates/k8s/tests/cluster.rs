//! The collector against a real Kubernetes API server (v1.20, from
//! shared/tools/kube-test-cluster). Skips with a message without the binaries.
//!
//! CronJob-made Jobs: the test creates the Job itself with a controller
//! ownerReference to the CronJob (as the CronJob controller does) instead of
//! waiting up to a minute for the controller's schedule.

mod common;

use std::time::Duration;

use common::*;
use k8s::collector::{self, ClusterSource};
use k8s::state::{Change, InventoryState};
use k8s::types::{ClusterInventory, ClusterStatus, ContainerState, SecretRef, SecretSource};
use serde_json::{Value, json};
use testkit::kube::objects::Resource;

const SETTLE: Duration = Duration::from_secs(60);

fn image_id(repo: &str, hex: &str) -> String {
    format!("docker-pullable://{repo}@sha256:{hex}")
}

fn pod_spec(image: &str) -> Value {
    json!({"containers": [{"name": "app", "image": image}]})
}

fn template(labels: Value, image: &str) -> Value {
    json!({"metadata": {"labels": labels}, "spec": pod_spec(image)})
}

/// `namespace/Kind/name container digest-hex-prefix arch running/pods`, sorted.
fn rows(inventory: &ClusterInventory) -> Vec<String> {
    let mut rows = Vec::new();
    for w in &inventory.workloads {
        for c in &w.containers {
            rows.push(format!(
                "{}/{}/{} {} {} {} {}/{}",
                w.namespace,
                w.kind,
                w.name,
                c.container,
                c.digest
                    .as_ref()
                    .map_or("-".to_owned(), |d| d.hex()[..4].to_owned()),
                c.platform.as_ref().map_or("-", |p| p.architecture.as_str()),
                c.running_pods,
                c.pods
            ));
        }
    }
    rows.sort();
    rows
}

async fn set_up_fleet(client: &KubeApi) {
    for ns in ["web", "data", "infra", "batch"] {
        namespace(client, ns);
    }
    node(client, "node-amd", "amd64");
    node(client, "node-arm", "arm64");
    create(
        client,
        "/apis/apps/v1/namespaces/web/deployments",
        json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}), "nginx:1.25")}}),
    );
    create(
        client,
        "/apis/apps/v1/namespaces/data/statefulsets",
        json!({
        "metadata": {"name": "db"},
        "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template(json!({"app": "db"}), "postgres:16")}}),
    );
    create(
        client,
        "/apis/apps/v1/namespaces/infra/daemonsets",
        json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template(json!({"app": "agent"}), "busybox:1.36")}}),
    );
    create(
        client,
        "/api/v1/namespaces/infra/replicationcontrollers",
        json!({
        "metadata": {"name": "legacy"},
        "spec": {"replicas": 1, "selector": {"app": "legacy"}, "template": template(json!({"app": "legacy"}), "httpd:2.4")}}),
    );
    create(
        client,
        "/apis/batch/v1beta1/namespaces/batch/cronjobs",
        json!({
        "metadata": {"name": "backup"},
        "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "app", "image": "alpine:3.19"}]}}}}}}),
    );
    let cronjob = client
        .get_path("/apis/batch/v1beta1/namespaces/batch/cronjobs/backup")
        .expect("cronjob");
    let cron_uid = cronjob["metadata"]["uid"].as_str().expect("uid").to_owned();
    create(
        client,
        "/apis/batch/v1/namespaces/batch/jobs",
        json!({
        "metadata": {"name": "backup-28000000", "ownerReferences": [{"apiVersion": "batch/v1beta1", "kind": "CronJob",
            "name": "backup", "uid": cron_uid, "controller": true}]},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "alpine:3.19"}]}}}}),
    );
    create(
        client,
        "/api/v1/namespaces/web/secrets",
        json!({
        "metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": r#"{"auths":{"registry.example.com":{"username":"robot","password":"s3cret-value"}}}"#}}),
    );
    create(
        client,
        "/api/v1/namespaces/web/pods",
        json!({
        "metadata": {"name": "debug", "labels": {"purpose": "debug"}},
        "spec": {"imagePullSecrets": [{"name": "regcred"}], "containers": [{"name": "app", "image": "registry.example.com/tools/debug:1"}]}}),
    );
    create(
        client,
        "/api/v1/namespaces/batch/pods",
        json!({"metadata": {"name": "loner"}, "spec": pod_spec("alpine:3.19")}),
    );
    create(
        client,
        "/api/v1/namespaces/batch/pods",
        json!({"metadata": {"name": "pending"}, "spec": pod_spec("alpine:3.20")}),
    );
    // A label flood: more labels than the inventory keeps.
    let flood: serde_json::Map<String, Value> = (0..200)
        .map(|i| (format!("flood-{i:03}"), json!("x")))
        .collect();
    create(
        client,
        "/api/v1/namespaces/batch/pods",
        json!({"metadata": {"name": "flood", "labels": flood}, "spec": pod_spec("alpine:3.19")}),
    );

    // The controller manager creates the pods; wait for them, then act as kubelet.
    let expected = [("web", 2), ("data", 1), ("infra", 3), ("batch", 4)];
    for (ns, count) in expected {
        eventually(
            &format!("{count} pods in {ns}"),
            Duration::from_secs(60),
            || (pod_names(client, ns).len() >= count).then_some(()),
        )
        .await;
    }
    for ns in ["web", "data", "infra", "batch"] {
        for p in pods(client, ns) {
            let name = p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if name == "pending" {
                continue;
            }
            // A DaemonSet pod says which node it is for in its affinity; the others go to node-amd.
            let node = if p["spec"].to_string().contains("node-arm") {
                "node-arm"
            } else {
                "node-amd"
            };
            let image = p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default();
            let repo = image.split(':').next().unwrap_or_default().to_owned();
            let id = if name == "loner" {
                "garbage-image-id".to_owned()
            } else {
                image_id(&repo, HEX_A)
            };
            run_pod(client, ns, &name, node, &id);
        }
    }
}

async fn wait_for(
    handle: &mut collector::ClusterHandle,
    what: &str,
    check: impl Fn(&ClusterInventory) -> bool,
) -> ClusterInventory {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let snapshot = handle.snapshot();
        if check(&snapshot) {
            return snapshot;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:#?}",
            rows(&snapshot)
        );
        handle.changed(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_follows_a_real_cluster() {
    init_tls();
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    let admin = cluster.api();
    set_up_fleet(admin).await;

    let mut handle = collector::connect("test", cluster.config().await)
        .await
        .expect("connect");
    assert!(handle.wait_settled(SETTLE).await, "initial lists");
    let inventory = wait_for(&mut handle, "all pods running", |inv| {
        inv.workloads
            .iter()
            .flat_map(|w| &w.containers)
            .map(|c| c.running_pods)
            .sum::<u32>()
            == 10
    })
    .await;
    assert_eq!(inventory.status, ClusterStatus::Ok);
    assert_eq!(
        rows(&inventory),
        vec![
            "batch/CronJob/backup app aaaa amd64 1/1",
            "batch/Pod/flood app aaaa amd64 1/1",
            "batch/Pod/loner app - amd64 1/1",
            "batch/Pod/pending app - - 0/1",
            "data/StatefulSet/db app aaaa amd64 1/1",
            "infra/DaemonSet/agent app aaaa amd64 1/1",
            "infra/DaemonSet/agent app aaaa arm64 1/1",
            "infra/ReplicationController/legacy app aaaa amd64 1/1",
            "web/Deployment/web app aaaa amd64 2/2",
            "web/Pod/debug app aaaa amd64 1/1",
        ]
    );
    let pending = inventory
        .workloads
        .iter()
        .find(|w| w.name == "pending")
        .expect("pending pod");
    assert_eq!(
        pending.containers[0].state,
        ContainerState::PendingResolution
    );
    assert_eq!(pending.containers[0].image_ref, "alpine:3.20");
    let deployment = inventory
        .workloads
        .iter()
        .find(|w| w.name == "web" && w.kind.as_str() == "Deployment")
        .expect("web");
    assert_eq!(
        deployment.labels.get("app").map(String::as_str),
        Some("web")
    );
    assert!(deployment.created.is_some());
    let debug = inventory
        .workloads
        .iter()
        .find(|w| w.name == "debug")
        .expect("debug pod");
    let secrets = &debug.containers[0].pull_secrets;
    assert_eq!(
        secrets,
        &vec![SecretRef {
            namespace: "web".into(),
            name: "regcred".into(),
            source: SecretSource::Pod
        }]
    );
    let codes: Vec<(&str, &str)> = inventory
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), d.object.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("bad-image-id", "Pod batch/loner"),
            ("labels-truncated", "Pod batch/flood")
        ]
    );
    let namespaces: Vec<&str> = inventory
        .namespaces
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    for ns in ["batch", "data", "default", "infra", "web"] {
        assert!(namespaces.contains(&ns), "{namespaces:?}");
    }

    // Watch deltas: the state machine over snapshots taken as events arrive.
    let mut state = InventoryState::new();
    let first = state.apply(&inventory);
    assert_eq!(
        first
            .iter()
            .filter(|c| matches!(c, Change::Appeared { .. }))
            .count(),
        7,
        "{first:#?}"
    );

    // Tag drift: db-0 now runs another digest for the same tag.
    run_pod(
        admin,
        "data",
        "db-0",
        "node-amd",
        &image_id("postgres", HEX_B),
    );
    let snapshot = wait_for(&mut handle, "db-0 on the new digest", |inv| {
        rows(inv).contains(&"data/StatefulSet/db app bbbb amd64 1/1".to_owned())
    })
    .await;
    let changes = state.apply(&snapshot);
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::TagDrift { image_ref, .. } if image_ref == "postgres:16")),
        "{changes:#?}"
    );
    assert!(changes.iter().any(|c| matches!(c, Change::NoLongerRunning { key, .. } if key.workload.name == "db" && key.digest.hex() == HEX_A)));

    // Scale the Deployment to zero: its image is no longer running, not forgotten.
    admin
        .scale("web", &Resource::DEPLOYMENTS, "web", 0)
        .expect("scale");
    // No kubelet confirms the graceful deletion: do it as one would (grace period 0).
    eventually("web pods terminating", Duration::from_secs(30), || {
        let terminating: Vec<String> = pods(admin, "web")
            .iter()
            .filter(|p| !p["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        (terminating.len() == 2).then_some(terminating)
    })
    .await;
    for name in pod_names(admin, "web")
        .into_iter()
        .filter(|n| n.starts_with("web-"))
    {
        admin
            .delete_now(Some("web"), &Resource::PODS, &name)
            .expect("confirm deletion");
    }
    let snapshot = wait_for(&mut handle, "web scaled to zero", |inv| {
        !inv.workloads
            .iter()
            .any(|w| w.kind.as_str() == "Deployment")
    })
    .await;
    let changes = state.apply(&snapshot);
    assert!(
        changes.iter().any(
            |c| matches!(c, Change::NoLongerRunning { key, .. } if key.workload.name == "web")
        ),
        "{changes:#?}"
    );
    assert!(
        state
            .images()
            .any(|(k, r)| k.workload.name == "web" && !r.running)
    );

    // Delete a bare pod.
    admin
        .delete_now(Some("web"), &Resource::PODS, "debug")
        .expect("delete");
    let snapshot = wait_for(&mut handle, "debug deleted", |inv| {
        !inv.workloads.iter().any(|w| w.name == "debug")
    })
    .await;
    let changes = state.apply(&snapshot);
    assert!(
        changes.iter().any(
            |c| matches!(c, Change::NoLongerRunning { key, .. } if key.workload.name == "debug")
        ),
        "{changes:#?}"
    );

    rbac(&cluster).await;
}

fn token_for(admin: &KubeApi, account: &str, role: &str) -> String {
    admin
        .create_object(&testkit::kube::objects::service_account(
            "shipshape",
            account,
            &[],
        ))
        .expect("service account");
    admin
        .bind_cluster_role(role, "shipshape", account)
        .expect("binding");
    admin
        .service_account_token("shipshape", account)
        .expect("token")
}

async fn rbac(cluster: &TestCluster) {
    let admin = cluster.api();
    namespace(admin, "shipshape");
    // The ClusterRole exactly as shipped in deploy/kubernetes/agent.yaml.
    let role = testkit::kube::agent_cluster_role_json().expect("shipped agent ClusterRole");
    admin.apply_cluster_role_json(&role).expect("apply role");
    // The same role with one verb removed: `list` on nodes.
    let mut no_nodes = testkit::kube::cluster_role_without(&role, "nodes", "list");
    no_nodes["metadata"]["name"] = json!("shipshape-agent-no-nodes");
    admin
        .apply_cluster_role_json(&no_nodes)
        .expect("apply reduced role");

    let token = token_for(admin, "agent", "shipshape-agent");
    let source = ClusterSource::Kubeconfig {
        path: Some(cluster.kubeconfig_for("agent", &token)),
        context: None,
    };
    let mut handle = collector::connect(
        "agent",
        collector::client_config(&source).await.expect("config"),
    )
    .await
    .expect("connect");
    assert!(handle.wait_settled(SETTLE).await);
    let inventory = handle.snapshot();
    assert_eq!(
        inventory.status,
        ClusterStatus::Ok,
        "the shipped ClusterRole is enough"
    );
    assert!(rows(&inventory).contains(&"infra/DaemonSet/agent app aaaa arm64 1/1".to_owned()));

    // Pull secrets with `get secrets` only; the value never shows in Debug.
    let resolver = k8s::PullSecretResolver::new(handle.client().clone());
    let secret = SecretRef {
        namespace: "web".into(),
        name: "regcred".into(),
        source: SecretSource::Pod,
    };
    let missing = SecretRef {
        namespace: "web".into(),
        name: "nope".into(),
        source: SecretSource::Pod,
    };
    let (store, errors) = resolver.credentials(&[secret, missing]).await;
    let credentials = store
        .get("registry.example.com")
        .expect("credentials from the pull secret");
    assert_eq!(
        credentials,
        &oci::Credentials::basic("robot", "s3cret-value")
    );
    assert!(!format!("{store:?}{credentials:?}").contains("s3cret"));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().starts_with("get secret web/nope:"),
        "{}",
        errors[0]
    );

    let token = token_for(admin, "agent-no-nodes", "shipshape-agent-no-nodes");
    let source = ClusterSource::Kubeconfig {
        path: Some(cluster.kubeconfig_for("agent-no-nodes", &token)),
        context: None,
    };
    let mut handle = collector::connect(
        "limited",
        collector::client_config(&source).await.expect("config"),
    )
    .await
    .expect("connect");
    assert!(handle.wait_settled(SETTLE).await);
    let inventory = handle.snapshot();
    match &inventory.status {
        ClusterStatus::Degraded {
            reasons,
            incomplete,
        } => {
            assert_eq!(incomplete, &vec!["nodes".to_owned()]);
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert!(
                reasons[0].starts_with("list nodes: forbidden (403)"),
                "{reasons:?}"
            );
        }
        other => panic!("expected degraded, got {other:?}"),
    }
    // Everything else is still there; platforms are unknown.
    assert!(
        rows(&inventory).contains(&"data/StatefulSet/db app bbbb - 1/1".to_owned()),
        "{:#?}",
        rows(&inventory)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_and_one_that_does_not_answer() {
    init_tls();
    let Some(a) = TestCluster::start() else {
        return;
    };
    let Some(b) = TestCluster::start() else {
        return;
    };
    for (cluster, ns) in [(&a, "alpha"), (&b, "beta")] {
        let client = cluster.api();
        namespace(client, ns);
        node(client, "n1", "amd64");
        create(
            client,
            &format!("/api/v1/namespaces/{ns}/pods"),
            json!({"metadata": {"name": "p"}, "spec": pod_spec("nginx")}),
        );
        run_pod(client, ns, "p", "n1", &image_id("nginx", HEX_A));
    }
    // A third "cluster" whose API server is not there.
    let mut dead_config = a.config().await;
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    dead_config.cluster_url = format!("https://127.0.0.1:{dead_port}")
        .parse()
        .expect("url");

    let mut handles = vec![
        collector::connect("a", a.config().await).await.expect("a"),
        collector::connect("b", b.config().await).await.expect("b"),
        collector::connect("dead", dead_config).await.expect("dead"),
    ];
    for h in &mut handles {
        assert!(h.wait_settled(SETTLE).await, "{}", h.name());
    }
    let summary: Vec<(String, String, Vec<String>)> = handles
        .iter()
        .map(|h| {
            let inv = h.snapshot();
            let status = serde_json::to_value(&inv.status).expect("json")["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (inv.cluster.clone(), status, rows(&inv))
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "a".into(),
                "ok".into(),
                vec!["alpha/Pod/p app aaaa amd64 1/1".into()]
            ),
            (
                "b".into(),
                "ok".into(),
                vec!["beta/Pod/p app aaaa amd64 1/1".into()]
            ),
            ("dead".into(), "unreachable".into(), vec![]),
        ]
    );
    if let ClusterStatus::Unreachable { reason } = handles[2].status() {
        assert!(reason.contains("no answer"), "{reason}");
    }

    // Cluster b's API server dies: a keeps working and sees new pods; b reports the broken watch.
    b.kill_apiserver();
    let client = a.api();
    create(
        client,
        "/api/v1/namespaces/alpha/pods",
        json!({"metadata": {"name": "q"}, "spec": pod_spec("redis")}),
    );
    let (first, rest) = handles.split_at_mut(1);
    wait_for(&mut first[0], "pod q", |inv| {
        rows(inv).iter().any(|r| r.starts_with("alpha/Pod/q"))
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rest[0].status() == ClusterStatus::Ok {
        assert!(std::time::Instant::now() < deadline, "b never noticed");
        rest[0].changed(Duration::from_millis(500)).await;
    }
    assert!(
        matches!(rest[0].status(), ClusterStatus::Degraded { .. }),
        "{:?}",
        rest[0].status()
    );
}
