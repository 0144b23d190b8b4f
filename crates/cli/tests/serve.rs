//! `shipshape serve`: the real binary, its real HTTP port, its store.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::serve::Server;

const PASSWORD: &str = "serve-test-password";

/// `shipshape [--data-dir DIR] serve ARGS` with the admin password preset.
fn serve(data_dir: Option<&Path>, args: &[&str]) -> Server {
    support::serve::serve(data_dir, args, Some(PASSWORD), Duration::from_secs(60))
}

async fn login(client: &reqwest::Client, url: &str) -> (String, String) {
    let (cookie, answer) = support::serve::login(client, url, PASSWORD).await;
    let csrf = answer["csrf_token"].as_str().expect("csrf").to_owned();
    (cookie, csrf)
}

async fn get(client: &reqwest::Client, url: &str, cookie: &str) -> (u16, Value) {
    let response = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("get");
    let status = response.status().as_u16();
    let body =
        serde_json::from_slice(&response.bytes().await.expect("body")).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_full_report_with_no_cluster() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = serve(None, &["--demo"]);
    assert!(
        server
            .stderr
            .iter()
            .any(|l| l.starts_with("Demo fleet ready")),
        "{:#?}",
        server.stderr
    );
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let anonymous = client
        .get(format!("{}/api/v1/statistics", server.url))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.status(), 401);

    let (cookie, _csrf) = login(&client, &server.url).await;
    let (status, stats) = get(
        &client,
        &format!("{}/api/v1/statistics", server.url),
        &cookie,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stats["clusters"], 3, "{stats}");
    assert_eq!(stats["repositories"], 10, "{stats}");
    assert_eq!(
        stats["scan_coverage"]["scanned"], stats["scan_coverage"]["targets"],
        "{stats}"
    );
    for severity in ["critical", "high", "medium", "low"] {
        assert!(
            stats["vulnerabilities"][severity].as_u64().unwrap_or(0) > 0,
            "{severity}: {stats}"
        );
    }
    let (_, prod) = get(
        &client,
        &format!("{}/api/v1/statistics?cluster=staging", server.url),
        &cookie,
    )
    .await;
    assert!(
        prod["images"].as_u64().unwrap_or(0) < stats["images"].as_u64().unwrap_or(0),
        "{prod}"
    );
    let (_, repos) = get(
        &client,
        &format!("{}/api/v1/repositories?sort=-critical", server.url),
        &cookie,
    )
    .await;
    let first = &repos["items"][0];
    assert!(
        first["vulnerabilities"]["critical"].as_u64().unwrap_or(0) > 0,
        "{repos}"
    );
    assert_eq!(first["scan_status"], "scanned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_its_data_and_stops_cleanly_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = serve(Some(dir.path()), &["--demo"]);
    assert!(
        server
            .stderr
            .iter()
            .any(|l| l.contains("Created the first admin user.")),
        "{:#?}",
        server.stderr
    );
    let client = reqwest::Client::new();
    let (cookie, csrf) = login(&client, &server.url).await;
    let created = client
        .post(format!("{}/api/v1/exceptions", server.url))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body(
            json!({"scopes": [{"scope": "repository", "repository": "docker.io/library/redis"}],
                   "reason": "cache only, not exposed"})
            .to_string(),
        )
        .send()
        .await
        .expect("except");
    assert_eq!(created.status(), 201);

    let pid = server.child.id();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit}");
    drop(server);

    // Restarted on the same data directory: the exception and the admin are there.
    // (No feed downloads in tests: --db-update-hours 0.)
    let server = serve(Some(dir.path()), &["--db-update-hours", "0"]);
    assert!(
        !server
            .stderr
            .iter()
            .any(|l| l.contains("Created the first admin")),
        "{:#?}",
        server.stderr
    );
    let (cookie, _) = login(&client, &server.url).await;
    let (_, excepted) = get(
        &client,
        &format!("{}/api/v1/repositories?view=excepted", server.url),
        &cookie,
    )
    .await;
    assert_eq!(excepted["total"], 1, "{excepted}");
    assert_eq!(excepted["items"][0]["exception"]["author"], "admin");
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("shipshape.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nsesion_hours = 3\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not valid"), "{stderr}");
    assert!(stderr.contains("unknown field `sesion_hours`"), "{stderr}");
}

#[test]
fn an_empty_allowed_registry_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("shipshape.toml");
    std::fs::write(&config, "allowed_registries = [\"ghcr.io\", \" \"]\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("an allowed registry must not be empty"),
        "{stderr}"
    );
}
