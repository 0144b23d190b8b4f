//! `shipshape inventory` end to end against a real API server (shared/tools/kube-test-cluster);
//! what the inventory contains is tested in the k8s crate, here: contexts, formats, exit codes.

use std::net::TcpListener;
use std::process::Command;

use serde_json::Value;
use testkit::kube::KubeTestCluster;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn shipshape(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run shipshape");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn contexts_formats_and_exit_codes() {
    let Some(cluster) = KubeTestCluster::start() else {
        return;
    };
    let kubeconfig = cluster.kubeconfig_path();
    // Two contexts: the cluster, and a port where nothing listens.
    let dead_port = free_port();
    let token = cluster.admin_token();
    let two = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n\
         - name: test\n  cluster: {{server: \"{}\", insecure-skip-tls-verify: true}}\n\
         - name: dead\n  cluster: {{server: \"https://127.0.0.1:{dead_port}\", insecure-skip-tls-verify: true}}\n\
         users:\n- name: admin\n  user: {{token: \"{token}\"}}\n\
         contexts:\n- name: test\n  context: {{cluster: test, user: admin}}\n\
         - name: dead\n  context: {{cluster: dead, user: admin}}\ncurrent-context: test\n",
        cluster.server_url()
    );
    let two_path = cluster.state_dir().join("two.kubeconfig");
    std::fs::write(&two_path, two).expect("write");
    let two_path = two_path.to_str().expect("utf-8 path");
    let one_path = kubeconfig.to_str().expect("utf-8 path");

    // (args, exit code, expected clusters with status)
    type Case<'a> = (Vec<&'a str>, i32, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["--kubeconfig", one_path],
            0,
            vec![(cluster.context_name(), "ok")],
        ),
        (
            vec!["--kubeconfig", one_path, "--cluster-name", "prod-eu"],
            0,
            vec![("prod-eu", "ok")],
        ),
        (
            vec!["--kubeconfig", two_path, "--context", "test"],
            0,
            vec![("test", "ok")],
        ),
        (
            vec![
                "--kubeconfig",
                two_path,
                "--all-contexts",
                "--timeout",
                "20",
            ],
            1,
            vec![("dead", "unreachable"), ("test", "ok")],
        ),
    ];
    for (args, code, expected) in cases {
        let mut full = vec!["inventory", "--format", "json"];
        full.extend(&args);
        let (got_code, stdout, stderr) = shipshape(&full);
        assert_eq!(got_code, code, "{args:?}: {stderr}");
        let json: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"));
        let mut clusters: Vec<(String, String)> = json["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .map(|c| {
                (
                    c["cluster"].as_str().unwrap_or_default().to_owned(),
                    c["status"]["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        clusters.sort();
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        assert_eq!(clusters, expected, "{args:?}");
    }

    let (code, stdout, stderr) = shipshape(&["inventory", "--kubeconfig", one_path]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("CLUSTER")
            && stdout.contains(cluster.context_name())
            && stdout.contains("kube-system"),
        "{stdout}"
    );

    let (code, _, stderr) = shipshape(&[
        "inventory",
        "--kubeconfig",
        two_path,
        "--all-contexts",
        "--cluster-name",
        "x",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--cluster-name names one cluster"),
        "{stderr}"
    );
    let (code, _, stderr) = shipshape(&["inventory", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("kubeconfig"), "{stderr}");
}
