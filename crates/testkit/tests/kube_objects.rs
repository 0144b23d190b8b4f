//! The object builders, API paths and RBAC role editing, without a cluster.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use testkit::kube::{KubeObject, Resource, agent_cluster_role_json, cluster_role_without, objects};

#[test]
fn api_paths() {
    let cases = [
        (
            Resource::PODS,
            Some("shop"),
            "web-1",
            "/api/v1/namespaces/shop/pods/web-1",
        ),
        (Resource::NODES, Some("ignored"), "n1", "/api/v1/nodes/n1"),
        (
            Resource::NAMESPACES,
            None,
            "shop",
            "/api/v1/namespaces/shop",
        ),
        (
            Resource::DEPLOYMENTS,
            Some("a"),
            "d",
            "/apis/apps/v1/namespaces/a/deployments/d",
        ),
        (
            Resource::CRON_JOBS,
            Some("a"),
            "c",
            "/apis/batch/v1beta1/namespaces/a/cronjobs/c",
        ),
        (
            Resource::CLUSTER_ROLES,
            None,
            "r",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/r",
        ),
        // A hostile name stays one path segment.
        (
            Resource::PODS,
            Some("a/b"),
            "../x?y",
            "/api/v1/namespaces/a%2Fb/pods/..%2Fx%3Fy",
        ),
    ];
    for (resource, namespace, name, expected) in cases {
        assert_eq!(resource.object_path(namespace, name), expected);
    }
    assert_eq!(Resource::PODS.collection_path(None), "/api/v1/pods");
    assert_eq!(Resource::JOBS.api_version(), "batch/v1");
    assert_eq!(Resource::SECRETS.api_version(), "v1");
}

#[test]
fn builders_put_pod_specs_where_each_kind_keeps_them() {
    let containers = [("app", "app:1")];
    // (object, pointer to its pod spec, API version, kind)
    let cases: [(KubeObject, &str, &str, &str); 7] = [
        (
            objects::pod("ns", "p", &containers, &[]),
            "/spec",
            "v1",
            "Pod",
        ),
        (
            objects::deployment("ns", "d", 3, &containers, &[]),
            "/spec/template/spec",
            "apps/v1",
            "Deployment",
        ),
        (
            objects::statefulset("ns", "s", 1, &containers, &[]),
            "/spec/template/spec",
            "apps/v1",
            "StatefulSet",
        ),
        (
            objects::daemonset("ns", "ds", &containers, &[]),
            "/spec/template/spec",
            "apps/v1",
            "DaemonSet",
        ),
        (
            objects::job("ns", "j", &containers, &[]),
            "/spec/template/spec",
            "batch/v1",
            "Job",
        ),
        (
            objects::cronjob("ns", "c", "*/1 * * * *", &containers, &[]),
            "/spec/jobTemplate/spec/template/spec",
            "batch/v1beta1",
            "CronJob",
        ),
        (
            objects::replication_controller("ns", "rc", 1, &containers, &[]),
            "/spec/template/spec",
            "v1",
            "ReplicationController",
        ),
    ];
    for (object, pointer, api_version, kind) in cases {
        let object = object
            .init_containers(&[("init", "init:1")])
            .image_pull_secrets(&["pull"])
            .service_account_name("sa");
        let body = &object.body;
        assert_eq!(body["apiVersion"], api_version);
        assert_eq!(body["kind"], kind);
        assert_eq!(object.namespace(), Some("ns"));
        let spec = body
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{kind}: {body}"));
        assert_eq!(
            spec["containers"],
            json!([{"name": "app", "image": "app:1"}]),
            "{kind}"
        );
        assert_eq!(spec["initContainers"][0]["name"], "init", "{kind}");
        assert_eq!(
            spec["imagePullSecrets"],
            json!([{"name": "pull"}]),
            "{kind}"
        );
        assert_eq!(spec["serviceAccountName"], "sa", "{kind}");
        assert_eq!(spec["terminationGracePeriodSeconds"], 0, "{kind}");
    }
}

#[test]
fn workload_labels_reach_the_pods_and_the_selector_matches() {
    let deployment = objects::deployment("ns", "web", 2, &[("a", "a:1")], &[("tier", "front")]);
    let body = &deployment.body;
    assert_eq!(
        body["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        body["spec"]["template"]["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        body["spec"]["selector"]["matchLabels"],
        json!({"app": "web"})
    );
}

#[test]
fn owner_references_accumulate() {
    let owner = |kind: &str, uid: &str| json!({"apiVersion": "example.com/v1", "kind": kind, "metadata": {"name": "o", "uid": uid}});
    let pod = objects::pod("ns", "p", &[("a", "a:1")], &[])
        .owned_by(&owner("Widget", "u1"))
        .owned_by(&owner("Gadget", "u2"));
    let references = pod.body["metadata"]["ownerReferences"].as_array().unwrap();
    let kinds: Vec<&str> = references
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["Widget", "Gadget"]);
    assert_eq!(references[1]["uid"], "u2");
}

#[test]
fn nodes_carry_os_and_architecture() {
    let node = objects::node("n1", "windows", "arm64");
    assert_eq!(
        node.body["status"]["nodeInfo"]["operatingSystem"],
        "windows"
    );
    assert_eq!(node.body["status"]["nodeInfo"]["architecture"], "arm64");
    assert_eq!(
        node.body["metadata"]["labels"]["kubernetes.io/arch"],
        "arm64"
    );
    assert_eq!(node.namespace(), None);
}

#[test]
fn pull_secrets_hold_a_docker_config_and_never_show_in_debug() {
    use base64::Engine as _;
    let secret =
        objects::docker_config_secret("ns", "regcred", "registry.example:5000", "alice", "s3cret");
    assert_eq!(secret.body["type"], "kubernetes.io/dockerconfigjson");
    let encoded = secret.body["data"][".dockerconfigjson"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let config: Value = serde_json::from_slice(&decoded).unwrap();
    let entry = &config["auths"]["registry.example:5000"];
    assert_eq!(entry["username"], "alice");
    assert_eq!(entry["password"], "s3cret");
    assert_eq!(
        entry["auth"],
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    );
    let debug = format!("{secret:?}");
    assert!(
        !debug.contains("s3cret") && !debug.contains(encoded),
        "{debug}"
    );
    assert!(debug.contains("regcred"));
}

/// (api group, resource, verb) triples a role grants.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

#[test]
fn removing_one_verb_removes_exactly_that_grant() {
    let role = agent_cluster_role_json().unwrap();
    let all = grants(&role);
    let cases = [
        ("pods", "list", true),
        ("pods", "watch", true),
        ("cronjobs", "watch", true),
        ("cronjobs", "get", false), // the collector never GETs workloads
        ("secrets", "get", true),
        ("secrets", "list", false), // never granted: nothing changes
        ("configmaps", "get", false),
    ];
    for (resource, verb, granted) in cases {
        let narrowed = grants(&cluster_role_without(&role, resource, verb));
        let removed: Vec<_> = all.difference(&narrowed).cloned().collect();
        assert!(narrowed.is_subset(&all), "{resource} {verb}");
        if granted {
            assert_eq!(removed.len(), 1, "{resource} {verb}: {removed:?}");
            assert_eq!(
                (removed[0].1.as_str(), removed[0].2.as_str()),
                (resource, verb)
            );
        } else {
            assert!(removed.is_empty(), "{resource} {verb}: {removed:?}");
        }
    }
}
