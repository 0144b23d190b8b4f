//! `shipshape serve` as a child process on a free loopback port, for the
//! tests that need the real binary and its HTTP port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `shipshape serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The lines it printed before it said where it serves.
    pub stderr: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `shipshape [--data-dir DIR] serve ARGS --listen 127.0.0.1:0` with
/// `preset` as `SHIPSHAPE_INITIAL_ADMIN_PASSWORD` (none: a generated
/// one-time password), HOME in the data dir (or nowhere), no kubeconfig
/// from the environment; waits up to `timeout` for its "serving" line, which
/// carries the port the OS gave it.
pub fn serve(
    data_dir: Option<&Path>,
    args: &[&str],
    preset: Option<&str>,
    timeout: Duration,
) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipshape"));
    match preset {
        Some(password) => command.env("SHIPSHAPE_INITIAL_ADMIN_PASSWORD", password),
        None => command.env_remove("SHIPSHAPE_INITIAL_ADMIN_PASSWORD"),
    };
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    let mut child = command
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("HOME", data_dir.unwrap_or(Path::new("/nonexistent")))
        .env_remove("SHIPSHAPE_DATA_DIR")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shipshape serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("serve exited with {status}: {lines:#?}");
            }
            continue;
        };
        if let Some(rest) = line.strip_prefix("Shipshape is serving the report on ") {
            let url = rest.split_whitespace().next().expect("url").to_owned();
            lines.push(line);
            // Keep draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return Server {
                child,
                url,
                stderr: lines,
            };
        }
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not start in {timeout:?}: {lines:#?}");
}

/// Logs in as `admin` through `POST /api/v1/login` (must answer 200);
/// returns the session cookie (`name=value`) and the JSON answer.
pub async fn login(
    client: &reqwest::Client,
    url: &str,
    password: &str,
) -> (String, serde_json::Value) {
    let response = client
        .post(format!("{url}/api/v1/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"name": "admin", "password": password}).to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_owned();
    let body = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    (cookie, body)
}
