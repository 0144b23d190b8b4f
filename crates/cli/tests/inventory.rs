//! `shipshape inventory` end to end against a real API server (shared/tools/kube-test-cluster);
//! what the inventory contains is tested in the k8s crate, here: contexts, formats, exit codes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn tools() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/kube-test-cluster")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Cluster(tempfile::TempDir);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(tools().join("stop.sh"))
            .arg(self.0.path())
            .status();
    }
}

fn start() -> Option<Cluster> {
    let home = std::env::var_os("KUBE_TEST_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/kube-test-cluster")
        });
    if !home.join("bin/kube-apiserver").exists() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "SKIPPED: no kube-test-cluster binaries in {}",
                home.display()
            );
        }
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new("bash")
        .arg(tools().join("start.sh"))
        .arg(dir.path())
        .env("ETCD_PORT", free_port().to_string())
        .env("ETCD_PEER_PORT", free_port().to_string())
        .env("APISERVER_PORT", free_port().to_string())
        .env("KCM_PORT", free_port().to_string())
        .output()
        .expect("start.sh");
    let cluster = Cluster(dir);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    Some(cluster)
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
    let Some(cluster) = start() else { return };
    // A second context pointing at a port where nothing listens.
    let kubeconfig = cluster.0.path().join("kubeconfig");
    let text = std::fs::read_to_string(&kubeconfig).expect("kubeconfig");
    let server = text
        .lines()
        .find(|l| l.contains("server:"))
        .expect("server line")
        .to_owned();
    let dead_port = free_port();
    let dead_server = server
        .split("https://127.0.0.1:")
        .next()
        .map(|head| {
            format!("{head}https://127.0.0.1:{dead_port}\", insecure-skip-tls-verify: true}}")
        })
        .expect("server");
    let token_line = text
        .lines()
        .find(|l| l.contains("token:"))
        .expect("token")
        .to_owned();
    let two = format!("{text}\n")
        .replace(
            "clusters:\n",
            &format!(
                "clusters:\n- name: dead\n{}\n",
                dead_server.replace("- name: test\n", "")
            ),
        )
        .replace("users:\n", &format!("users:\n- name: dead\n{token_line}\n"))
        .replace(
            "contexts:\n",
            "contexts:\n- name: dead\n  context: {cluster: dead, user: dead}\n",
        );
    let two_path = cluster.0.path().join("two.kubeconfig");
    std::fs::write(&two_path, two).expect("write");
    let two_path = two_path.to_str().expect("utf-8 path");
    let one_path = kubeconfig.to_str().expect("utf-8 path");

    // (args, exit code, expected clusters with status)
    type Case<'a> = (Vec<&'a str>, i32, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (vec!["--kubeconfig", one_path], 0, vec![("test", "ok")]),
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
        stdout.contains("CLUSTER") && stdout.contains("test") && stdout.contains("kube-system"),
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
