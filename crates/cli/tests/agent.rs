//! `shipshape agent` end to end: the real binary against a real API server
//! and `testkit::ingest`'s receiver. The loop's behaviour (deltas, outages,
//! overflow, resnapshots) is tested in the k8s crate; here: arguments, exit
//! codes, SIGTERM, and that the token never reaches the logs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::ingest::{IngestServer, Outcome};
use testkit::kube::KubeTestCluster;

const TOKEN: &str = "tok-7d1e0c-agent-secret";

struct Run {
    code: i32,
    stderr: String,
    stdout: String,
}

/// Starts the agent with stderr in a file (debug logs would fill a pipe) and
/// its health endpoints on a free loopback port; `until` (given the log so
/// far) decides when to send SIGTERM (None: wait for the agent to exit).
fn agent(args: &[&str], env_token: Option<&str>, until: Option<&dyn Fn(&str) -> bool>) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let err_path = dir.path().join("stderr");
    let out_path = dir.path().join("stdout");
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipshape"));
    command
        .arg("agent")
        .args(args)
        // Not the default 0.0.0.0:8081: tests run side by side.
        .args(if args.contains(&"--health-listen") {
            &[][..]
        } else {
            &["--health-listen", "127.0.0.1:0"][..]
        })
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("SHIPSHAPE_AGENT_TOKEN")
        .stdout(Stdio::from(
            std::fs::File::create(&out_path).expect("stdout file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(&err_path).expect("stderr file"),
        ));
    if let Some(token) = env_token {
        command.env("SHIPSHAPE_AGENT_TOKEN", token);
    }
    let mut child = command.spawn().expect("start shipshape agent");
    let deadline = Instant::now() + Duration::from_secs(90);
    if let Some(until) = until {
        while !until(&std::fs::read_to_string(&err_path).unwrap_or_default()) {
            assert!(
                Instant::now() < deadline,
                "timed out: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
            assert!(
                child.try_wait().expect("poll").is_none(),
                "agent exited early: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "agent did not exit: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stderr: std::fs::read_to_string(&err_path).expect("stderr"),
        stdout: std::fs::read_to_string(&out_path).expect("stdout"),
    }
}

/// The status code of `GET path` on the agent's health address, which the
/// agent logs as "health endpoints on http://ADDRESS".
fn probe(log: &str, path: &str) -> Option<u16> {
    use std::io::{Read as _, Write as _};
    let address = log
        .split("health endpoints on http://")
        .nth(1)?
        .split_whitespace()
        .next()?;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn agent_sends_stops_on_sigterm_and_on_a_refused_token() {
    let Some(cluster) = KubeTestCluster::start() else {
        return;
    };
    let kubeconfig = cluster.kubeconfig_path();
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let token_file = token_file.to_str().expect("utf-8 path");

    // Accepted: a snapshot arrives; SIGTERM → exit 0; the debug log says what
    // was sent and never shows the token.
    let server = IngestServer::start(TOKEN);
    let base = server.base.to_string();
    let args = [
        "--server",
        &base,
        "--token-file",
        token_file,
        "--cluster-name",
        "prod-eu",
        "--kubeconfig",
        kubeconfig,
        "--interval",
        "1",
        "--log",
        "debug",
    ];
    // Stopped once the snapshot is in and the probes say alive and ready.
    let run = agent(
        &args,
        None,
        Some(&|log: &str| {
            server.applied().first().is_some_and(|l| l == "s1")
                && probe(log, "/healthz") == Some(200)
                && probe(log, "/readyz") == Some(200)
        }),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("sending"), "{}", run.stderr);
    assert!(
        !run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN),
        "token in the output"
    );
    let view = server.cluster("prod-eu").expect("cluster prod-eu");
    assert_eq!(view.snapshots, 1);

    // Refused: the token (from the environment this time) is wrong for this server.
    let refusing = IngestServer::start("some-other-token");
    let base = refusing.base.to_string();
    let args = [
        "--server",
        &base,
        "--cluster-name",
        "prod-eu",
        "--kubeconfig",
        kubeconfig,
        "--retry-initial-ms",
        "50",
        "--log",
        "debug",
    ];
    let run = agent(&args, Some(TOKEN), None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("refused the agent's token (401, 3 times in a row)"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN),
        "token in the output"
    );
    let received = refusing.received();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r.outcome == Outcome::Unauthorized && r.had_authorization)
    );
}

#[test]
fn agent_argument_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").expect("write");
    let empty = empty.to_str().expect("utf-8 path");
    let missing = dir.path().join("missing");
    let missing = missing.to_str().expect("utf-8 path");
    let token = dir.path().join("token");
    std::fs::write(&token, "t0k3n\n").expect("write");
    let token = token.to_str().expect("utf-8 path");
    // Held for the whole test: the agent must fail to bind it, at once.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("address").to_string();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &[
                "--server",
                "http://127.0.0.1:9",
                "--token-file",
                token,
                "--cluster-name",
                "c",
                "--health-listen",
                &taken,
            ],
            1,
            "--health-listen 127.0.0.1:",
        ),
        (
            &[
                "--server",
                "http://127.0.0.1:9",
                "--token-file",
                token,
                "--cluster-name",
                "c",
                "--health-listen",
                "8081",
            ],
            2,
            "--health-listen",
        ),
        (
            &["--server", "http://127.0.0.1:9", "--cluster-name", "c"],
            2,
            "--token-file",
        ),
        (
            &["--server", "http://127.0.0.1:9", "--token-file", empty],
            2,
            "--cluster-name",
        ),
        (
            &[
                "--server",
                "https://u:hunter2@s.example",
                "--token-file",
                empty,
                "--cluster-name",
                "c",
            ],
            1,
            "credentials in the URL",
        ),
        (
            &[
                "--server",
                "ftp://s.example",
                "--token-file",
                empty,
                "--cluster-name",
                "c",
            ],
            1,
            "only http",
        ),
        (
            &[
                "--server",
                "http://127.0.0.1:9",
                "--token-file",
                empty,
                "--cluster-name",
                "c",
            ],
            1,
            "token is empty",
        ),
        (
            &[
                "--server",
                "http://127.0.0.1:9",
                "--token-file",
                missing,
                "--cluster-name",
                "c",
            ],
            1,
            "reading the agent token",
        ),
        (
            &[
                "--server",
                "http://127.0.0.1:9",
                "--token-file",
                empty,
                "--cluster-name",
                "c",
                "--interval",
                "0",
            ],
            2,
            "--interval",
        ),
        (
            &[
                "--server",
                "http://127.0.0.1:9",
                "--token-file",
                empty,
                "--cluster-name",
                "c",
                "--buffer",
                "0",
            ],
            2,
            "--buffer",
        ),
    ];
    for (args, code, message) in cases {
        let run = agent(args, None, None);
        assert_eq!(run.code, *code, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    }
}
