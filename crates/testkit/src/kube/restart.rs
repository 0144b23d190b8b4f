//! Outages of the API server on a running control plane: stop it, start it
//! again on the same port, etcd, certificates and tokens (optionally with
//! other flags), run a second API server on another port over the same etcd
//! to change things the clients of the first cannot see, and compact etcd's
//! history so that resourceVersions from before are gone (410 Gone).
//!
//! The API server is started from the command line the running one was
//! started with (read from `/proc/PID/cmdline`), so whatever `start.sh` says
//! stays true after a restart; `apiserver.pid` is rewritten so the watchdog
//! still stops it when the test process dies.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::api::KubeApi;
use super::{Component, KubeTestCluster, is_running, read_text, tail};
use crate::TestkitError;

/// How long a (re)started API server may take to answer `/readyz`: it
/// re-reads every resource from etcd into its watch caches.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a killed process may take to disappear.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The pid file of a side API server: a `*.pid` in the state folder, so the
/// watchdog kills it too if the test process dies first.
const SIDE_PID_FILE: &str = "side-apiserver.pid";

/// A second API server over the same etcd on its own port (see
/// [`KubeTestCluster::side_apiserver`]); killed on drop.
pub struct SideApiServer {
    child: Child,
    pid_file: PathBuf,
    api: KubeApi,
}

impl std::fmt::Debug for SideApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideApiServer")
            .field("server", &self.api.server())
            .field("pid", &self.child.id())
            .finish()
    }
}

impl SideApiServer {
    /// A client of this API server as the cluster admin.
    pub fn api(&self) -> &KubeApi {
        &self.api
    }
}

impl Drop for SideApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl KubeTestCluster {
    /// Kills the API server (SIGKILL, like a crash: a SIGTERM'd API server
    /// keeps its watches open for up to a minute while it drains) and waits
    /// until it is gone. etcd and the controller manager keep running; the
    /// clients see connections refused until
    /// [`start_apiserver`](Self::start_apiserver).
    pub fn stop_apiserver(&self) -> Result<(), TestkitError> {
        let Some(pid) = self.pid(Component::ApiServer) else {
            return Err(TestkitError::Protocol(
                "the API server is not running".into(),
            ));
        };
        self.remember_apiserver_command(pid)?;
        let mut spawned = self.spawned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(position) = spawned.iter().position(|c| c.id() == pid) {
            let mut child = spawned.swap_remove(position);
            let _ = child.kill();
            let _ = child.wait();
        } else {
            kill(pid);
            wait_gone(pid)?;
        }
        let _ = std::fs::remove_file(self.state_dir().join("apiserver.pid"));
        Ok(())
    }

    /// Starts the API server again (stopping it first if it runs) on the same
    /// port, etcd, certificates and token file, with `flags` (`--name=value`)
    /// replacing or adding to the original ones — e.g.
    /// `--watch-cache=false`, so a watch from an old resourceVersion is
    /// served by etcd itself. Returns once `/readyz` answers 200.
    pub fn start_apiserver(&self, flags: &[&str]) -> Result<(), TestkitError> {
        if self.pid(Component::ApiServer).is_some_and(is_running) {
            self.stop_apiserver()?;
        }
        let command = self.apiserver_command()?;
        let child = self.spawn_apiserver(&with_flags(&command, flags), "apiserver.log")?;
        let pid = child.id();
        self.spawned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        write_pid(&self.state_dir().join("apiserver.pid"), pid)?;
        wait_ready(self.api(), "the restarted API server", || {
            is_running(pid)
                .then_some(())
                .ok_or_else(|| self.apiserver_failure("exited"))
        })
    }

    /// A second API server over the same etcd, on a free port: what it writes,
    /// the clients of the cluster's own API server only see through their
    /// watches — so with that one stopped, a test can change the cluster
    /// "while it was down".
    pub fn side_apiserver(&self) -> Result<SideApiServer, TestkitError> {
        if let Some(pid) = self.pid(Component::ApiServer) {
            self.remember_apiserver_command(pid)?;
        }
        let command = self.apiserver_command()?;
        let port = free_port()?;
        let port_flag = format!("--secure-port={port}");
        let child = self.spawn_apiserver(
            &with_flags(&command, &[port_flag.as_str()]),
            "side-apiserver.log",
        )?;
        let pid_file = self.state_dir().join(SIDE_PID_FILE);
        let pid = child.id();
        let ca = self.ca_pem().ok();
        let api = KubeApi::new(
            &format!("https://127.0.0.1:{port}"),
            self.admin_token(),
            ca.as_deref(),
        );
        // From here on the guard kills the process whatever happens.
        let side = SideApiServer {
            child,
            pid_file,
            api: api?,
        };
        write_pid(&side.pid_file, pid)?;
        wait_ready(&side.api, "the side API server", || {
            is_running(pid).then_some(()).ok_or_else(|| {
                TestkitError::KubeStart(format!(
                    "the side API server exited:\n{}",
                    tail(&read_text(&self.state_dir().join("side-apiserver.log")), 20)
                ))
            })
        })?;
        Ok(side)
    }

    /// Compacts etcd's history up to its current revision (through etcd's
    /// JSON gateway, `/v3/kv/compaction`, physical), so a watch from any
    /// resourceVersion before it can only be answered with 410 Gone. Returns
    /// the revision.
    pub fn compact_etcd(&self) -> Result<u64, TestkitError> {
        let etcd = KubeApi::new(&format!("http://127.0.0.1:{}", self.ports().etcd), "", None)?;
        let post = |path: &str, body: Value| -> Result<Value, TestkitError> {
            let bytes = serde_json::to_vec(&body)?;
            let response = etcd.send("POST", path, Some("application/json"), Some(&bytes))?;
            if response.status != 200 {
                return Err(TestkitError::Status {
                    method: "POST".into(),
                    url: format!("{}{path}", etcd.server()),
                    status: response.status,
                    body: response.text(),
                });
            }
            Ok(serde_json::from_slice(&response.body)?)
        };
        // Any read answers with the store's current revision in its header.
        let key = base64::engine::general_purpose::STANDARD.encode("/registry/");
        let answer = post("/v3/kv/range", json!({"key": key, "count_only": true}))?;
        // The gateway writes int64 as a JSON string.
        let revision = answer["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
            .ok_or_else(|| {
                TestkitError::Protocol(format!("etcd range answer without a revision: {answer}"))
            })?;
        post(
            "/v3/kv/compaction",
            json!({"revision": revision.to_string(), "physical": true}),
        )?;
        Ok(revision)
    }

    /// Keeps the API server's command line the first time it is seen.
    pub(super) fn remember_apiserver_command(&self, pid: u32) -> Result<(), TestkitError> {
        let mut command = self
            .apiserver_command
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if command.is_none() {
            *command = Some(command_line(pid)?);
        }
        Ok(())
    }

    fn apiserver_command(&self) -> Result<Vec<OsString>, TestkitError> {
        self.apiserver_command
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                TestkitError::Protocol(
                    "the API server's command line is unknown (it was never seen running)".into(),
                )
            })
    }

    fn spawn_apiserver(&self, command: &[OsString], log: &str) -> Result<Child, TestkitError> {
        let (program, args) = command.split_first().ok_or_else(|| {
            TestkitError::Protocol("the API server's command line is empty".into())
        })?;
        let log_path = self.state_dir().join(log);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TestkitError::Io { path, source }
        };
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let err = out.try_clone().map_err(io(&log_path))?;
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(Path::new(program)))
    }

    fn apiserver_failure(&self, what: &str) -> TestkitError {
        TestkitError::KubeStart(format!(
            "the restarted API server {what}:\n{}",
            tail(&self.log(Component::ApiServer), 20)
        ))
    }
}

/// `command` with each `--name=value` of `flags` replacing the same flag.
fn with_flags(command: &[OsString], flags: &[&str]) -> Vec<OsString> {
    let name = |arg: &str| arg.split_once('=').map_or(arg, |(n, _)| n).to_owned();
    let replaced: Vec<String> = flags.iter().map(|f| name(f)).collect();
    let mut out: Vec<OsString> = command
        .iter()
        .enumerate()
        .filter(|(i, arg)| *i == 0 || !replaced.contains(&name(&arg.to_string_lossy())))
        .map(|(_, arg)| arg.clone())
        .collect();
    out.extend(flags.iter().map(OsString::from));
    out
}

/// A process's argv from `/proc/PID/cmdline` (NUL-separated).
fn command_line(pid: u32) -> Result<Vec<OsString>, TestkitError> {
    use std::os::unix::ffi::OsStringExt as _;
    let path = PathBuf::from(format!("/proc/{pid}/cmdline"));
    let bytes = std::fs::read(&path).map_err(|source| TestkitError::Io { path, source })?;
    Ok(bytes
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect())
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .status();
}

/// Waits until `pid` has exited (gone, or a zombie its parent has not reaped yet).
fn wait_gone(pid: u32) -> Result<(), TestkitError> {
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        let stat = read_text(Path::new(&format!("/proc/{pid}/stat")));
        // Field 3, after the parenthesised command name, is the state.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TestkitError::Timeout(format!("process {pid} to exit")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_pid(path: &Path, pid: u32) -> Result<(), TestkitError> {
    std::fs::write(path, format!("{pid}\n")).map_err(|source| TestkitError::Io {
        path: path.to_owned(),
        source,
    })
}

fn free_port() -> Result<u16, TestkitError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| TestkitError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })
}

/// Polls `/readyz` until 200; `alive` fails fast when the process died.
fn wait_ready(
    api: &KubeApi,
    what: &str,
    alive: impl Fn() -> Result<(), TestkitError>,
) -> Result<(), TestkitError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if api
            .send("GET", "/readyz", None, None)
            .is_ok_and(|r| r.status == 200)
        {
            return Ok(());
        }
        alive()?;
        if Instant::now() > deadline {
            return Err(TestkitError::Timeout(format!("{what} to be ready")));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_replace_or_add() {
        let command: Vec<OsString> = [
            "/bin/kube-apiserver",
            "--secure-port=6443",
            "--etcd-servers=http://127.0.0.1:2379",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        // (flags, expected command line)
        let cases: [(&[&str], &str); 3] = [
            (
                &[],
                "/bin/kube-apiserver --secure-port=6443 --etcd-servers=http://127.0.0.1:2379",
            ),
            (
                &["--secure-port=7000"],
                "/bin/kube-apiserver --etcd-servers=http://127.0.0.1:2379 --secure-port=7000",
            ),
            (
                &["--watch-cache=false"],
                "/bin/kube-apiserver --secure-port=6443 --etcd-servers=http://127.0.0.1:2379 --watch-cache=false",
            ),
        ];
        for (flags, expected) in cases {
            let got: Vec<String> = with_flags(&command, flags)
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert_eq!(got.join(" "), expected, "{flags:?}");
        }
    }
}
