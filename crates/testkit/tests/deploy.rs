//! The agent's deployment files: the plain manifest is the chart rendered
//! (written once, no drift), the ClusterRole is least privilege exactly, and
//! the pod runs locked down. No cluster needed.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};
use testkit::chart::{Release, render_chart, render_template};
use testkit::kube::{agent_cluster_role_json, agent_manifest_path, repo_root, yaml_documents};

fn release() -> Release {
    Release {
        name: "shipshape-agent".into(),
        namespace: "shipshape".into(),
    }
}

fn chart_dir() -> std::path::PathBuf {
    repo_root().join("deploy/helm/shipshape-agent")
}

fn manifest() -> Vec<Value> {
    yaml_documents(&std::fs::read_to_string(agent_manifest_path()).unwrap()).unwrap()
}

fn rendered_chart() -> Vec<Value> {
    render_chart(&chart_dir(), &release())
        .unwrap()
        .iter()
        .flat_map(|(_, text)| yaml_documents(text).unwrap())
        .collect()
}

fn by_kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let mut found = documents.iter().filter(|d| d["kind"] == kind);
    let first = found.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(found.next().is_none(), "more than one {kind}");
    first
}

#[test]
fn plain_manifest_is_the_rendered_chart_plus_the_namespace() {
    let manifest = manifest();
    let (namespaces, rest): (Vec<Value>, Vec<Value>) =
        manifest.into_iter().partition(|d| d["kind"] == "Namespace");
    assert_eq!(
        namespaces,
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipshape"}})]
    );
    assert_eq!(
        rest,
        rendered_chart(),
        "deploy/kubernetes/agent.yaml drifted from the chart: regenerate it with \
         `cargo run -p testkit --example render-agent-manifest > deploy/kubernetes/agent.yaml`"
    );
}

#[test]
fn cluster_role_is_exactly_least_privilege() {
    // (api group, resource, verbs): everything the agent reads, and nothing more: the
    // collector only lists and watches; secrets are read one by name.
    let expected: BTreeSet<(&str, &str, &str)> = [
        ("", "pods", "list,watch"),
        ("", "namespaces", "list,watch"),
        ("", "nodes", "list,watch"),
        ("", "replicationcontrollers", "list,watch"),
        ("", "serviceaccounts", "list,watch"),
        ("", "secrets", "get"),
        ("apps", "replicasets", "list,watch"),
        ("apps", "deployments", "list,watch"),
        ("apps", "statefulsets", "list,watch"),
        ("apps", "daemonsets", "list,watch"),
        ("batch", "jobs", "list,watch"),
        ("batch", "cronjobs", "list,watch"),
    ]
    .into_iter()
    .collect();
    let role = agent_cluster_role_json().unwrap();
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        let keys: BTreeSet<&str> = rule
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // No resourceNames/nonResourceURLs tricks, no wildcards.
        assert_eq!(
            keys,
            BTreeSet::from(["apiGroups", "resources", "verbs"]),
            "{rule}"
        );
        let verbs = strings(&rule["verbs"]);
        let mut sorted = verbs.clone();
        sorted.sort();
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                let entry = (group.clone(), resource, sorted.join(","));
                assert!(granted.insert(entry.clone()), "granted twice: {entry:?}");
            }
        }
    }
    let granted: BTreeSet<(&str, &str, &str)> = granted
        .iter()
        .map(|(g, r, v)| (g.as_str(), r.as_str(), v.as_str()))
        .collect();
    assert_eq!(granted, expected);
    // The chart's role is the same role.
    assert_eq!(by_kind(&rendered_chart(), "ClusterRole"), &role);
}

#[test]
fn agent_pod_is_locked_down_and_wired_to_its_service_account_and_token() {
    let documents = manifest();
    let deployment = by_kind(&documents, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let account = by_kind(&documents, "ServiceAccount");
    let binding = by_kind(&documents, "ClusterRoleBinding");
    let secret = by_kind(&documents, "Secret");
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        account["metadata"]["namespace"]
    );
    assert_eq!(
        binding["roleRef"]["name"],
        by_kind(&documents, "ClusterRole")["metadata"]["name"]
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    for (pointer, expected) in [
        ("/securityContext/allowPrivilegeEscalation", json!(false)),
        ("/securityContext/readOnlyRootFilesystem", json!(true)),
        ("/securityContext/runAsNonRoot", json!(true)),
        ("/securityContext/privileged", json!(false)),
        ("/securityContext/capabilities/drop", json!(["ALL"])),
        ("/resources/limits/memory", json!("256Mi")),
        ("/resources/limits/cpu", json!("500m")),
        ("/args/0", json!("agent")),
    ] {
        assert_eq!(container.pointer(pointer), Some(&expected), "{pointer}");
    }
    // The token reaches the agent as a file from the Secret, never as an argument.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let token_file = args[args.iter().position(|a| *a == "--token-file").unwrap() + 1];
    let token = secret["stringData"]["token"].as_str().unwrap();
    assert!(!args.contains(&token));
    assert!(args.contains(&"--server") && args.contains(&"--cluster-name"));
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| token_file.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("the token file is on a mounted volume");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], secret["metadata"]["name"]);
    assert_eq!(
        token_file,
        format!("{}/token", mount["mountPath"].as_str().unwrap())
    );
}

/// The probes reach the port the agent is told to serve its health endpoints on.
#[test]
fn agent_probes_hit_the_health_listener() {
    let documents = manifest();
    let container = &by_kind(&documents, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let listen = args[args.iter().position(|a| *a == "--health-listen").unwrap() + 1];
    let port: u64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    let ports = container["ports"].as_array().unwrap();
    let health = ports.iter().find(|p| p["name"] == "health").unwrap();
    assert_eq!(health["containerPort"], json!(port));
    // (probe, path)
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], json!(path), "{probe}");
        assert_eq!(
            container[probe]["httpGet"]["port"],
            json!("health"),
            "{probe}"
        );
    }
}

#[test]
fn template_subset_renders_and_refuses_what_it_does_not_know() {
    let chart = json!({"name": "c", "version": "1.2.3", "appVersion": "4.5"});
    let values = json!({"a": {"b": "x\"y", "n": 3, "t": true}, "list": [1]});
    let release = release();
    let cases: [(&str, Result<&str, &str>); 9] = [
        (
            "{{ .Release.Name }}/{{ .Release.Namespace }}",
            Ok("shipshape-agent/shipshape"),
        ),
        (
            "v{{ .Chart.Version }} {{ .Chart.AppVersion | quote }}",
            Ok("v1.2.3 \"4.5\""),
        ),
        ("{{ .Values.a.b | quote }}", Ok("\"x\\\"y\"")),
        ("{{.Values.a.n}} {{ .Values.a.t }}", Ok("3 true")),
        ("no templates", Ok("no templates")),
        ("{{ .Values.missing }}", Err("not a scalar")),
        ("{{ .Values.list }}", Err("not a scalar")),
        (
            "{{ toYaml .Values.a }}",
            Err("unsupported template expression"),
        ),
        (
            "{{ .Values.a.b | upper }}",
            Err("unsupported template function"),
        ),
    ];
    for (template, expected) in cases {
        let got = render_template(template, &chart, &values, &release);
        match expected {
            Ok(text) => assert_eq!(got.as_deref(), Ok(text), "{template}"),
            Err(fragment) => assert!(
                got.as_ref().is_err_and(|e| e.contains(fragment)),
                "{template}: {got:?}"
            ),
        }
    }
    assert!(render_template("{{ .Release.Name", &chart, &values, &release).is_err());
}

/// Where Helm is installed, its own rendering must agree with ours.
#[test]
fn helm_renders_the_chart_as_we_do() {
    let Ok(output) = Command::new("helm")
        .args(["template", "shipshape-agent", "--namespace", "shipshape"])
        .arg(chart_dir())
        .output()
    else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipping: helm not installed; the chart is checked with our own renderer");
        }
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let helm = yaml_documents(&String::from_utf8_lossy(&output.stdout)).unwrap();
    let mut ours = rendered_chart();
    let mut theirs = helm;
    let key = |d: &Value| format!("{}/{}", d["kind"], d["metadata"]["name"]);
    ours.sort_by_key(key);
    theirs.sort_by_key(key);
    assert_eq!(ours, theirs);
}
