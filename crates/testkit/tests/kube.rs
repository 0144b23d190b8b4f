//! The kit against a real Kubernetes control plane (etcd + kube-apiserver +
//! kube-controller-manager 1.20). Skips (with a message) without the binaries.

use serde_json::{Value, json};
use testkit::TestkitError;
use testkit::kube::{
    Component, ContainerList, ContainerState, ContainerStatus, KubeTestCluster, PodStatusPatch,
    Resource, agent_cluster_role_json, cluster_role_without, objects,
};

fn names(objects: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = objects
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn owner_kind(object: &Value) -> Option<&str> {
    object["metadata"]["ownerReferences"][0]["kind"].as_str()
}

fn status_code(result: Result<Value, TestkitError>) -> u16 {
    match result {
        Err(TestkitError::Status { status, .. }) => status,
        Err(e) => panic!("expected an HTTP status error, got {e}"),
        Ok(v) => panic!("expected an HTTP status error, got {v}"),
    }
}

/// One cluster for the whole workload story, because a control plane costs
/// seconds of two shared cores to start.
#[test]
fn workloads_pods_status_and_rbac_on_one_cluster() {
    let Some(cluster) = KubeTestCluster::start() else {
        return;
    };
    // The kubeconfig points at this server with the admin token.
    let kubeconfig = std::fs::read_to_string(cluster.kubeconfig_path()).unwrap();
    assert!(kubeconfig.contains(&cluster.server_url()));
    assert!(kubeconfig.contains(cluster.admin_token()));
    assert!(kubeconfig.contains(&format!("current-context: {}", cluster.context_name())));
    assert!(!format!("{cluster:?}").contains(cluster.admin_token()));
    assert_eq!(
        cluster.get_path("/version").unwrap()["gitVersion"],
        "v1.20.2"
    );

    cluster
        .create_object(&objects::namespace("shop", &[("team", "web")]))
        .unwrap();
    // First, because 1.20's CronJob controller starts a Job only at the next full minute.
    let cron = objects::cronjob(
        "shop",
        "nightly",
        "*/1 * * * *",
        &[("report", "reporter:2")],
        &[],
    );
    assert_eq!(cron.body["apiVersion"], "batch/v1beta1");
    cluster.create_object(&cron).unwrap();
    let ns = cluster.get(None, &Resource::NAMESPACES, "shop").unwrap();
    assert_eq!(ns["metadata"]["labels"]["team"], "web");
    for (name, os, arch) in [("node-a", "linux", "amd64"), ("node-b", "linux", "arm64")] {
        cluster
            .create_object(&objects::node(name, os, arch))
            .unwrap();
        let node = cluster.get(None, &Resource::NODES, name).unwrap();
        assert_eq!(node["status"]["nodeInfo"]["operatingSystem"], os, "{node}");
        assert_eq!(node["status"]["nodeInfo"]["architecture"], arch, "{node}");
    }

    // Controllers create pods with real owner references: (workload, pods, pod owner kind).
    let containers = [("web", "nginx:1.25"), ("sidecar", "busybox:1.36")];
    let workloads = [
        (
            objects::deployment("shop", "web", 2, &containers, &[("tier", "front")]),
            2,
            "ReplicaSet",
        ),
        (
            objects::statefulset("shop", "db", 2, &[("db", "postgres:16")], &[]),
            2,
            "StatefulSet",
        ),
        (
            objects::daemonset("shop", "agent", &[("agent", "fluentd:1")], &[]),
            2,
            "DaemonSet",
        ),
        (
            objects::job("shop", "migrate", &[("migrate", "flyway:10")], &[]),
            1,
            "Job",
        ),
        (
            objects::replication_controller("shop", "legacy", 1, &[("old", "httpd:2")], &[]),
            1,
            "ReplicationController",
        ),
    ];
    for (workload, _, _) in &workloads {
        cluster.create_object(workload).unwrap();
    }
    for (workload, count, kind) in &workloads {
        let pods = cluster
            .wait_for_pods("shop", &format!("app={}", workload.name()), *count)
            .unwrap();
        for pod in &pods {
            assert_eq!(owner_kind(pod), Some(*kind), "{pod}");
            assert_eq!(pod["status"]["phase"], "Pending");
        }
    }
    let web = cluster.wait_for_pods("shop", "app=web", 2).unwrap();
    assert_eq!(web[0]["metadata"]["labels"]["tier"], "front");
    let replica_set_name = web[0]["metadata"]["ownerReferences"][0]["name"]
        .as_str()
        .unwrap();
    let replica_set = cluster
        .get(Some("shop"), &Resource::REPLICA_SETS, replica_set_name)
        .unwrap();
    assert_eq!(owner_kind(&replica_set), Some("Deployment"));

    // Play kubelet on one web pod: bind, then status; read back.
    let pod_name = web[0]["metadata"]["name"].as_str().unwrap().to_owned();
    let id = "docker-pullable://nginx@sha256:0000000000000000000000000000000000000000000000000000000000000001";
    cluster
        .patch_pod_status(
            "shop",
            &pod_name,
            "Running",
            "node-a",
            &[
                ("web", "docker.io/library/nginx:1.25", id, true),
                ("sidecar", "busybox:1.36", "", false),
            ],
        )
        .unwrap();
    let pod = cluster
        .get(Some("shop"), &Resource::PODS, &pod_name)
        .unwrap();
    assert_eq!(pod["spec"]["nodeName"], "node-a");
    assert_eq!(pod["status"]["phase"], "Running");
    let statuses = pod["status"]["containerStatuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "{pod}");
    let by_name = |name: &str| statuses.iter().find(|s| s["name"] == name).unwrap();
    assert_eq!(by_name("web")["imageID"], id);
    assert!(by_name("web")["state"]["running"].is_object());
    assert_eq!(by_name("sidecar")["imageID"], "");
    assert_eq!(
        by_name("sidecar")["state"]["waiting"]["reason"],
        "ContainerCreating"
    );

    // A bare pod with an init container, a pull secret and its service account's secret;
    // statuses land in the list of the spec that names them, unknown names as ephemeral.
    cluster
        .create_object(&objects::docker_config_secret(
            "shop",
            "regcred",
            "registry.example:5000",
            "alice",
            "s3cret",
        ))
        .unwrap();
    cluster
        .create_object(&objects::service_account("shop", "builder", &["regcred"]))
        .unwrap();
    let bare = objects::pod("shop", "bare", &[("main", "app:1")], &[("kind", "bare")])
        .init_containers(&[("setup", "alpine:3.19")])
        .image_pull_secrets(&["regcred"])
        .service_account_name("builder");
    assert!(
        !format!(
            "{:?}",
            objects::docker_config_secret("shop", "x", "r", "u", "s3cret")
        )
        .contains("s3cret")
    );
    cluster.create_object(&bare).unwrap();
    cluster
        .patch_pod_status(
            "shop",
            "bare",
            "Running",
            "node-b",
            &[
                ("setup", "alpine:3.19", "sha256:aa", false),
                ("main", "app:1", "sha256:bb", true),
                ("debugger", "busybox:1.36", "sha256:cc", true),
            ],
        )
        .unwrap();
    let pod = cluster.get(Some("shop"), &Resource::PODS, "bare").unwrap();
    for (list, name, image_id) in [
        ("initContainerStatuses", "setup", "sha256:aa"),
        ("containerStatuses", "main", "sha256:bb"),
        ("ephemeralContainerStatuses", "debugger", "sha256:cc"),
    ] {
        assert_eq!(pod["status"][list][0]["name"], name, "{list}: {pod}");
        assert_eq!(pod["status"][list][0]["imageID"], image_id, "{list}: {pod}");
    }
    assert_eq!(pod["spec"]["imagePullSecrets"][0]["name"], "regcred");
    let account = cluster
        .get(Some("shop"), &Resource::SERVICE_ACCOUNTS, "builder")
        .unwrap();
    assert_eq!(account["imagePullSecrets"][0]["name"], "regcred");

    // The explicit form: a terminated init container.
    let current = cluster.get(Some("shop"), &Resource::PODS, "bare").unwrap();
    let patch = PodStatusPatch {
        phase: "Running".into(),
        node: "node-b".into(),
        containers: vec![
            ContainerStatus::running("setup", "alpine:3.19", "sha256:aa")
                .in_list(ContainerList::Init)
                .with_state(ContainerState::Terminated { exit_code: 0 }),
        ],
    };
    let pod = cluster
        .patch_pod_status_with("shop", "bare", &current, &patch)
        .unwrap();
    assert_eq!(
        pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"],
        0
    );
    assert_eq!(pod["status"]["containerStatuses"][0]["name"], "main");

    // Owner references to kinds the API server does not know (operators' CRDs) are kept.
    let crd_owned = objects::pod("shop", "operated", &[("x", "x:1")], &[]).owned_by(&json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "uid": "00000000-0000-0000-0000-000000000001"},
    }));
    let created = cluster.create_object(&crd_owned).unwrap();
    assert_eq!(owner_kind(&created), Some("Widget"));

    // Scale down and delete: pods really go (zero grace period, no kubelet needed).
    cluster
        .scale("shop", &Resource::DEPLOYMENTS, "web", 1)
        .unwrap();
    cluster.wait_for_pods("shop", "app=web", 1).unwrap();
    cluster
        .delete(Some("shop"), &Resource::DEPLOYMENTS, "web")
        .unwrap();
    cluster.wait_for_pods("shop", "app=web", 0).unwrap();
    cluster
        .delete(Some("shop"), &Resource::PODS, "bare")
        .unwrap();
    assert_eq!(
        status_code(cluster.get(Some("shop"), &Resource::PODS, "bare")),
        404
    );

    // RBAC: a service account bound to the shipped agent role can list pods
    // everywhere and read a secret by name, but not list secrets or write.
    cluster
        .create_object(&objects::service_account("shop", "agent", &[]))
        .unwrap();
    let role = agent_cluster_role_json().unwrap();
    let role_name = role["metadata"]["name"].as_str().unwrap().to_owned();
    cluster
        .apply_cluster_role(&serde_json::to_string(&role).unwrap())
        .unwrap();
    cluster
        .bind_cluster_role(&role_name, "shop", "agent")
        .unwrap();
    let token = cluster.service_account_token("shop", "agent").unwrap();
    let agent = cluster.with_token(&token);
    assert!(!format!("{agent:?}").contains(&token));
    // RBAC caches take a moment to see the new binding.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while agent.list(None, &Resource::PODS, None).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let checks: [(&str, Result<Value, TestkitError>, Option<u16>); 5] = [
        (
            "list pods",
            agent.list(None, &Resource::PODS, None).map(Value::from),
            None,
        ),
        (
            "get secret",
            agent.get(Some("shop"), &Resource::SECRETS, "regcred"),
            None,
        ),
        (
            "list secrets",
            agent
                .list(Some("shop"), &Resource::SECRETS, None)
                .map(Value::from),
            Some(403),
        ),
        (
            "delete pod",
            agent.delete(Some("shop"), &Resource::PODS, "operated"),
            Some(403),
        ),
        (
            "list cronjobs",
            agent
                .list(None, &Resource::CRON_JOBS, None)
                .map(Value::from),
            None,
        ),
    ];
    for (what, result, expected) in checks {
        match expected {
            None => assert!(result.is_ok(), "{what}: {:?}", result.err()),
            Some(code) => assert_eq!(status_code(result), code, "{what}"),
        }
    }
    // Remove `list` on pods: the same token is now refused.
    cluster
        .apply_cluster_role_json(&cluster_role_without(&role, "pods", "list"))
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while agent.list(None, &Resource::PODS, None).is_ok() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        status_code(agent.list(None, &Resource::PODS, None).map(Value::from)),
        403
    );
    // Never granted: the collector only lists and watches workloads.
    assert_eq!(
        status_code(agent.get(Some("shop"), &Resource::PODS, "operated")),
        403
    );
    assert!(agent.list(None, &Resource::NAMESPACES, None).is_ok());
    assert!(
        cluster
            .memory(Component::ApiServer)
            .is_some_and(|m| m.rss_bytes > 0)
    );

    // Pod → Job → CronJob, made by the controllers.
    let pods = cluster
        .wait_for_pods_within(
            "shop",
            "app=nightly",
            1,
            std::time::Duration::from_secs(150),
        )
        .unwrap();
    assert_eq!(owner_kind(&pods[0]), Some("Job"));
    let job_name = pods[0]["metadata"]["ownerReferences"][0]["name"]
        .as_str()
        .unwrap();
    let job = cluster
        .get(Some("shop"), &Resource::JOBS, job_name)
        .unwrap();
    assert_eq!(owner_kind(&job), Some("CronJob"));
    assert_eq!(
        job["metadata"]["ownerReferences"][0]["apiVersion"],
        "batch/v1beta1"
    );

    // The kit renews the nodes' leases as kubelets would, so they stay Ready
    // (a node created just after a round gets its lease in the next one).
    let deadline = std::time::Instant::now() + 3 * testkit::kube::HEARTBEAT_PERIOD;
    let lease = loop {
        match cluster
            .get_path("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a")
        {
            Ok(lease) => break lease,
            Err(e) if std::time::Instant::now() > deadline => panic!("no lease for node-a: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    };
    assert_eq!(lease["spec"]["holderIdentity"], "node-a");
    assert!(
        lease["spec"]["renewTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let node = cluster.get(None, &Resource::NODES, "node-a").unwrap();
    assert_eq!(
        node["metadata"]["labels"][testkit::kube::HEARTBEAT_LABEL],
        "true"
    );
    assert_eq!(node["status"]["conditions"][0]["status"], "True", "{node}");
    assert!(node["spec"]["taints"].is_null(), "{node}");
}

/// Two control planes at once are two clusters: separate ports, data and tokens.
#[test]
fn two_clusters_run_side_by_side() {
    let Some(first) = KubeTestCluster::start() else {
        return;
    };
    let Some(second) = KubeTestCluster::start() else {
        return;
    };
    assert_ne!(first.server_url(), second.server_url());
    assert_ne!(first.admin_token(), second.admin_token());
    first
        .create_object(&objects::namespace("only-in-first", &[]))
        .unwrap();
    second
        .create_object(&objects::namespace("only-in-second", &[]))
        .unwrap();
    let namespaces = |cluster: &KubeTestCluster| {
        names(&cluster.list(None, &Resource::NAMESPACES, None).unwrap())
    };
    assert!(namespaces(&first).contains(&"only-in-first".to_owned()));
    assert!(!namespaces(&first).contains(&"only-in-second".to_owned()));
    assert!(namespaces(&second).contains(&"only-in-second".to_owned()));
    // One cluster's token means nothing to the other.
    let foreign = second.with_token(first.admin_token());
    assert_eq!(status_code(foreign.get_path("/api/v1/namespaces")), 401);
    // Stopping one leaves the other working.
    let first_port = first.ports().apiserver;
    let state = first.state_dir().to_owned();
    drop(first);
    assert!(std::net::TcpStream::connect(("127.0.0.1", first_port)).is_err());
    assert!(!state.exists());
    assert_eq!(
        second.send("GET", "/readyz", None, None).unwrap().status,
        200
    );
}

const STATE_FILE_ENV: &str = "TESTKIT_KUBE_LIFECYCLE_FILE";

/// Run as a child process by `killed_owner_stops_the_cluster`: starts a
/// cluster, publishes its API server port and state folder, then waits to be killed.
#[test]
fn lifecycle_child_holds_a_cluster() {
    let Some(report_file) = std::env::var_os(STATE_FILE_ENV) else {
        return;
    };
    let Some(cluster) = KubeTestCluster::start() else {
        return;
    };
    let report = format!(
        "{} {}",
        cluster.ports().apiserver,
        cluster.state_dir().display()
    );
    std::fs::write(report_file, report).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
}

/// SIGKILL of the test process stops etcd, the API server and the
/// controller manager, and removes the state folder.
#[test]
fn killed_owner_stops_the_cluster() {
    if !KubeTestCluster::is_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("report");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lifecycle_child_holds_a_cluster",
            "--test-threads=1",
        ])
        .env(STATE_FILE_ENV, &report_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(200);
    let (port, state): (u16, std::path::PathBuf) = loop {
        let report = std::fs::read_to_string(&report_file).unwrap_or_default();
        if let Some((port, state)) = report.split_once(' ') {
            break (port.parse().unwrap(), state.into());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "child never started a cluster"
        );
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let pids: Vec<u32> = ["etcd", "apiserver", "kcm"]
        .iter()
        .map(|p| {
            std::fs::read_to_string(state.join(format!("{p}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let running = |pid: &u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    while (pids.iter().any(running) || state.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !pids.iter().any(running),
        "control plane outlived its owner: {pids:?}"
    );
    assert!(
        !state.exists(),
        "state folder left behind: {}",
        state.display()
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
