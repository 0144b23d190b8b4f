//! A real Kubernetes control plane for tests: etcd, `kube-apiserver` and
//! `kube-controller-manager` (v1.20.2, built by
//! `shared/tools/kube-test-cluster/build.sh`) on 127.0.0.1 with free ports, so
//! several clusters run at once, plus a small typed REST client.
//!
//! The REST client is deliberately *not* kube-rs: the `k8s` crate's tests use
//! this kit to set the scene, and a bug in kube-rs must not be able to hide
//! itself by being on both sides of the test.
//!
//! There is no scheduler and no kubelet. Controllers create pods, which stay
//! `Pending` until a test plays kubelet with
//! [`KubeApi::patch_pod_status`] (binding the pod to a node, then patching the
//! status subresource). Pod specs built here set
//! `terminationGracePeriodSeconds: 0`, because no kubelet would ever confirm a
//! graceful deletion: without it a deleted pod that is bound to a node stays
//! `Terminating` for ever.
//!
//! ```no_run
//! use testkit::kube::{KubeTestCluster, objects};
//! let Some(cluster) = KubeTestCluster::start() else { return Ok(()) }; // skip without binaries
//! cluster.create_object(&objects::namespace("shop", &[("team", "web")]))?;
//! cluster.create_object(&objects::deployment("shop", "web", 2, &[("nginx", "nginx:1.25")], &[]))?;
//! let pods = cluster.wait_for_pods("shop", "app=web", 2)?;
//! # Ok::<(), testkit::TestkitError>(())
//! ```

mod api;
mod fleet;
mod heartbeat;
pub mod objects;
mod restart;

use std::ffi::OsString;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use api::{
    ContainerList, ContainerState, ContainerStatus, DEFAULT_WAIT, KubeApi, PodStatusPatch,
};
pub use fleet::{
    FleetReport, FleetSpec, fleet_image, fleet_pod, populate_fleet, populate_via_deployments,
};
pub use objects::{KubeObject, Resource};
pub use restart::SideApiServer;

use crate::TestkitError;
use heartbeat::Heartbeat;
pub use heartbeat::{HEARTBEAT_LABEL, HEARTBEAT_PERIOD};

/// Where `build.sh` puts the binaries, unless `$KUBE_TEST_HOME` says otherwise.
const DEFAULT_HOME: &str = ".cache/kube-test-cluster";
const HOME_ENV: &str = "KUBE_TEST_HOME";
/// Overrides the folder holding `start.sh` and `stop.sh`.
const TOOLS_ENV: &str = "KUBE_TEST_CLUSTER_TOOLS";
const BINARIES: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];
/// The context (and cluster) name `start.sh` writes in its kubeconfig.
const CONTEXT_NAME: &str = "test";
/// Attempts when another process grabs one of the free ports between probe and bind.
const START_ATTEMPTS: usize = 3;
/// `start.sh` itself gives the API server 60 s; the controller manager then
/// needs a few seconds more to create the default service account. Generous,
/// because several helpers share two cores.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `start.sh STATE` ($1, $3) and, when stdin reaches EOF, `stop.sh STATE`
/// ($2), waits for the processes to exit and removes the state folder. EOF
/// comes when the test process closes the pipe on drop *or dies without
/// unwinding* (Ctrl-C, SIGKILL, abort): a control plane must not outlive the
/// test run on a shared machine. `start.sh` returns once the processes run
/// in the background, so its outcome is published in `watchdog.started` for
/// the owner to poll.
const WATCHDOG: &str = r#"exec 3<&0
if bash "$1" "$3" </dev/null 3<&-; then
  echo ok > "$3/watchdog.started"
else
  echo failed > "$3/watchdog.started"
fi
cat <&3 >/dev/null
exec 3<&-
pids=$(cat "$3"/*.pid 2>/dev/null)
bash "$2" "$3"
for pid in $pids; do
  tries=0
  while kill -0 "$pid" 2>/dev/null && [ "$tries" -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  kill -9 "$pid" 2>/dev/null
done
rm -rf -- "$3"
"#;

/// The four ports one control plane listens on (all on 127.0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubePorts {
    pub etcd: u16,
    pub etcd_peer: u16,
    pub apiserver: u16,
    pub controller_manager: u16,
}

/// One process of the control plane, for its log and its memory figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Etcd,
    ApiServer,
    ControllerManager,
}

impl Component {
    /// The stem `start.sh` uses for the component's `.log` and `.pid` files.
    fn file_stem(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "apiserver",
            Component::ControllerManager => "kcm",
        }
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    /// `VmRSS`: resident now.
    pub rss_bytes: u64,
    /// `VmHWM`: the peak resident set so far.
    pub peak_rss_bytes: u64,
}

/// A throwaway control plane; everything stops (and its state folder goes)
/// on drop, and also when the test process is killed.
///
/// The REST methods of [`KubeApi`] (authenticated as the cluster admin) are
/// available directly on the cluster through `Deref`, because nearly every
/// test wants exactly that client; [`KubeApi::with_token`] gives one for a
/// service account.
pub struct KubeTestCluster {
    /// The watchdog shell (see [`WATCHDOG`]).
    child: Child,
    /// Write end of the watchdog's stdin: closing it stops the control plane.
    lifeline: Option<ChildStdin>,
    state: tempfile::TempDir,
    ports: KubePorts,
    api: KubeApi,
    /// Plays the kubelets' heartbeat for the nodes tests create (see [`heartbeat`]).
    heartbeat: Option<Heartbeat>,
    /// The API server's command line as `start.sh` ran it, for restarts ([`restart`]).
    apiserver_command: Mutex<Option<Vec<OsString>>>,
    /// API servers this process (re)started; killed and reaped on drop.
    spawned: Mutex<Vec<Child>>,
}

impl std::fmt::Debug for KubeTestCluster {
    // The admin token stays out: Debug output ends up in test logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTestCluster")
            .field("server_url", &self.server_url())
            .field("state_dir", &self.state.path())
            .field("ports", &self.ports)
            .finish()
    }
}

impl std::ops::Deref for KubeTestCluster {
    type Target = KubeApi;

    fn deref(&self) -> &KubeApi {
        &self.api
    }
}

impl KubeTestCluster {
    /// Starts a control plane, or returns `None` (after printing why to
    /// stderr) when the binaries or the scripts are not there, so tests can
    /// skip:
    ///
    /// ```no_run
    /// let Some(cluster) = testkit::kube::KubeTestCluster::start() else { return };
    /// assert!(cluster.server_url().starts_with("https://127.0.0.1:"));
    /// ```
    ///
    /// # Panics
    /// When the binaries exist but the control plane does not come up: a
    /// broken test environment should fail tests loudly, not skip them.
    pub fn start() -> Option<KubeTestCluster> {
        match KubeTestCluster::try_start() {
            Ok(cluster) => cluster,
            Err(e) => panic!("test Kubernetes cluster failed to start: {e}"),
        }
    }

    /// Starts a control plane; `Ok(None)` when binaries or scripts are missing.
    pub fn try_start() -> Result<Option<KubeTestCluster>, TestkitError> {
        let binaries = binaries_dir();
        let Some(missing) = missing_binary(&binaries) else {
            let Some(tools) = tools_dir() else {
                skip_message(&format!(
                    "skipping: kube-test-cluster scripts (start.sh, stop.sh) not found in {} (set ${TOOLS_ENV} to their folder)",
                    tools_dir_candidate().display()
                ));
                return Ok(None);
            };
            let mut last_error = None;
            for _ in 0..START_ATTEMPTS {
                match start_once(&tools) {
                    Ok(cluster) => return Ok(Some(cluster)),
                    Err(e) => last_error = Some(e),
                }
            }
            return Err(
                last_error.unwrap_or_else(|| TestkitError::KubeStart("no attempt made".into()))
            );
        };
        skip_message(&format!(
            "skipping: kube-test-cluster binaries not found in {} ({missing} missing); run /work/shared/tools/kube-test-cluster/build.sh",
            binaries.display()
        ));
        Ok(None)
    }

    /// Whether the binaries and the scripts are all there, without starting anything.
    pub fn is_available() -> bool {
        missing_binary(&binaries_dir()).is_none() && tools_dir().is_some()
    }

    /// The kubeconfig `start.sh` wrote: one context ([`context_name`](Self::context_name)),
    /// the admin token, `insecure-skip-tls-verify` (the serving certificate is
    /// self-signed; see [`ca_pem`](Self::ca_pem) to verify it instead).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.state.path().join("kubeconfig")
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.apiserver)
    }

    /// The bearer token of the `admin` user (group `system:masters`).
    pub fn admin_token(&self) -> &str {
        self.api.token()
    }

    /// The kubeconfig's (only) context name.
    pub fn context_name(&self) -> &'static str {
        CONTEXT_NAME
    }

    /// The ports this control plane listens on.
    pub fn ports(&self) -> KubePorts {
        self.ports
    }

    /// The state folder (etcd data, certificates, logs, pid files).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// The API server's self-signed serving certificate chain (PEM), for
    /// clients that verify TLS rather than skip verification.
    pub fn ca_pem(&self) -> Result<String, TestkitError> {
        let path = self.state.path().join("certs").join("apiserver.crt");
        std::fs::read_to_string(&path).map_err(|source| TestkitError::Io { path, source })
    }

    /// A kubeconfig (YAML text) for this API server with another bearer
    /// token, e.g. a service account's, under the given context name.
    pub fn kubeconfig_with_token(&self, token: &str, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}\nusers:\n- name: {context}\n  user: {{token: \"{token}\"}}\ncontexts:\n- name: {context}\n  context: {{cluster: {context}, user: {context}}}\ncurrent-context: {context}\n",
            server = self.server_url(),
        )
    }

    /// Writes [`kubeconfig_with_token`](Self::kubeconfig_with_token) to `path`.
    pub fn write_kubeconfig_with_token(
        &self,
        path: &Path,
        token: &str,
        context: &str,
    ) -> Result<(), TestkitError> {
        std::fs::write(path, self.kubeconfig_with_token(token, context)).map_err(|source| {
            TestkitError::Io {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// The admin client (also reachable through `Deref`).
    pub fn api(&self) -> &KubeApi {
        &self.api
    }

    /// A component's log so far (for failing-test diagnostics).
    pub fn log(&self, component: Component) -> String {
        read_text(
            &self
                .state
                .path()
                .join(format!("{}.log", component.file_stem())),
        )
    }

    /// The process id of a component, while it runs.
    pub fn pid(&self, component: Component) -> Option<u32> {
        read_pid(self.state.path(), component)
    }

    /// Resident memory of a component (Linux `/proc`).
    pub fn memory(&self, component: Component) -> Option<ProcessMemory> {
        let status = read_text(&PathBuf::from(format!(
            "/proc/{}/status",
            self.pid(component)?
        )));
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kib| kib * 1024)
        };
        Some(ProcessMemory {
            rss_bytes: kib("VmRSS:")?,
            peak_rss_bytes: kib("VmHWM:")?,
        })
    }
}

impl Drop for KubeTestCluster {
    fn drop(&mut self) {
        drop(self.heartbeat.take());
        // Restarted API servers are this process's children: reap them here
        // (the watchdog would only kill them, by their pid file), and drop
        // the pid file so the watchdog never signals a recycled pid.
        let state = self.state.path().to_owned();
        for mut child in self
            .spawned
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = child.kill();
            let _ = child.wait();
            if read_pid(&state, Component::ApiServer) == Some(child.id()) {
                let _ = std::fs::remove_file(state.join("apiserver.pid"));
            }
        }
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$KUBE_TEST_HOME/bin`, or `~/.cache/kube-test-cluster/bin`.
pub fn binaries_dir() -> PathBuf {
    let home = std::env::var_os(HOME_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(DEFAULT_HOME)
        });
    home.join("bin")
}

/// The checkout's root (testkit lives in `<root>/crates/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn default_tools_dir() -> PathBuf {
    repo_root().join("../shared/tools/kube-test-cluster")
}

/// The folder with `start.sh` and `stop.sh`: `$KUBE_TEST_CLUSTER_TOOLS`, or
/// `shared/tools/kube-test-cluster` beside the checkout.
pub fn tools_dir() -> Option<PathBuf> {
    let dir = tools_dir_candidate();
    (dir.join("start.sh").is_file() && dir.join("stop.sh").is_file()).then_some(dir)
}

fn tools_dir_candidate() -> PathBuf {
    std::env::var_os(TOOLS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(default_tools_dir)
}

fn missing_binary(dir: &Path) -> Option<&'static str> {
    BINARIES
        .into_iter()
        .find(|binary| !dir.join(binary).is_file())
}

fn skip_message(message: &str) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{message}");
    }
}

fn read_text(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

fn read_pid(state: &Path, component: Component) -> Option<u32> {
    read_text(&state.join(format!("{}.pid", component.file_stem())))
        .trim()
        .parse()
        .ok()
}

fn is_running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Four distinct free ports: the listeners are held together so the kernel
/// cannot hand out the same port twice.
fn free_ports() -> Result<KubePorts, TestkitError> {
    let io = |source| TestkitError::Io {
        path: "127.0.0.1:0".into(),
        source,
    };
    let listeners = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(io))
        .collect::<Result<Vec<_>, _>>()?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(io))
        .collect::<Result<Vec<_>, _>>()?;
    match ports.as_slice() {
        [etcd, etcd_peer, apiserver, controller_manager] => Ok(KubePorts {
            etcd: *etcd,
            etcd_peer: *etcd_peer,
            apiserver: *apiserver,
            controller_manager: *controller_manager,
        }),
        _ => Err(TestkitError::KubeStart(
            "could not reserve four ports".into(),
        )),
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn start_once(tools: &Path) -> Result<KubeTestCluster, TestkitError> {
    let state = tempfile::Builder::new()
        .prefix("shipshape-kube-")
        .tempdir()
        .map_err(|source| TestkitError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let ports = free_ports()?;
    let home = private_home(state.path())?;
    let log_path = state.path().join("watchdog.log");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TestkitError::Io { path, source }
    };
    let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
    let log_err = log.try_clone().map_err(io(&log_path))?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("testkit-kube-watchdog")
        .arg(tools.join("start.sh"))
        .arg(tools.join("stop.sh"))
        .arg(state.path())
        .env(HOME_ENV, &home)
        .env("ETCD_PORT", ports.etcd.to_string())
        .env("ETCD_PEER_PORT", ports.etcd_peer.to_string())
        .env("APISERVER_PORT", ports.apiserver.to_string())
        .env("KCM_PORT", ports.controller_manager.to_string())
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(io(Path::new("/bin/sh")))?;
    let lifeline = child.stdin.take();
    // From here on, dropping `cluster` stops whatever did start.
    let server = format!("https://127.0.0.1:{}", ports.apiserver);
    let mut cluster = KubeTestCluster {
        child,
        lifeline,
        state,
        ports,
        api: KubeApi::new(&server, "", None)?,
        heartbeat: None,
        apiserver_command: Mutex::new(None),
        spawned: Mutex::new(Vec::new()),
    };
    wait_until_ready(&mut cluster)?;
    if let Some(pid) = cluster.pid(Component::ApiServer) {
        // Now, while it surely runs: a test may crash it before restarting it.
        cluster.remember_apiserver_command(pid)?;
    }
    cluster.heartbeat = Some(Heartbeat::start(cluster.api.clone()));
    Ok(cluster)
}

/// 1.20's controller manager also serves plain HTTP on 0.0.0.0:10252 unless
/// told `--port=0`, which `start.sh` does not say: a second cluster's
/// controller manager would then die on "address already in use". So each
/// cluster gets its own `$KUBE_TEST_HOME` whose `bin/` links to the real
/// binaries, except for a `kube-controller-manager` wrapper that adds
/// `--port=0` (and `exec`s, so the pid `start.sh` records stays right).
fn private_home(state: &Path) -> Result<PathBuf, TestkitError> {
    let home = state.join("home");
    let bin = home.join("bin");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TestkitError::Io { path, source }
    };
    std::fs::create_dir_all(&bin).map_err(io(&bin))?;
    let real = binaries_dir();
    for binary in ["etcd", "kube-apiserver"] {
        let link = bin.join(binary);
        std::os::unix::fs::symlink(real.join(binary), &link).map_err(io(&link))?;
    }
    let wrapper = bin.join("kube-controller-manager");
    let script = format!(
        "#!/bin/sh\nexec '{}' --port=0 \"$@\"\n",
        real.join("kube-controller-manager").display()
    );
    std::fs::write(&wrapper, script).map_err(io(&wrapper))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .map_err(io(&wrapper))?;
    Ok(home)
}

fn startup_failure(cluster: &KubeTestCluster, what: &str) -> TestkitError {
    TestkitError::KubeStart(format!(
        "{what}\n--- start.sh:\n{}\n--- etcd.log:\n{}\n--- apiserver.log:\n{}\n--- kcm.log:\n{}",
        tail(&read_text(&cluster.state.path().join("watchdog.log")), 20),
        tail(&cluster.log(Component::Etcd), 10),
        tail(&cluster.log(Component::ApiServer), 20),
        tail(&cluster.log(Component::ControllerManager), 20),
    ))
}

/// Waits for `start.sh`, then for the controller manager to create the
/// default service account, which proves that the whole control plane works
/// (a controller manager that could not bind its port would have exited).
fn wait_until_ready(cluster: &mut KubeTestCluster) -> Result<(), TestkitError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let marker = cluster.state.path().join("watchdog.started");
    loop {
        match read_text(&marker).trim() {
            "ok" => break,
            "failed" => return Err(startup_failure(cluster, "start.sh failed")),
            _ => {}
        }
        if let Ok(Some(status)) = cluster.child.try_wait() {
            return Err(startup_failure(
                cluster,
                &format!("watchdog exited with {status}"),
            ));
        }
        if Instant::now() > deadline {
            return Err(startup_failure(cluster, "start.sh did not finish in time"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let tokens = read_text(&cluster.state.path().join("pki").join("tokens.csv"));
    let Some(token) = tokens.split(',').next().filter(|t| !t.trim().is_empty()) else {
        return Err(startup_failure(cluster, "start.sh wrote no admin token"));
    };
    let ca = cluster.ca_pem().ok();
    cluster.api = KubeApi::new(&cluster.server_url(), token.trim(), ca.as_deref())?;
    loop {
        // Another test's etcd on "our" port would make the API server share its
        // data: only a running etcd of our own counts.
        for component in [
            Component::Etcd,
            Component::ApiServer,
            Component::ControllerManager,
        ] {
            if !read_pid(cluster.state.path(), component).is_some_and(is_running) {
                return Err(startup_failure(
                    cluster,
                    &format!("{component:?} is not running (port taken?)"),
                ));
            }
        }
        let response = cluster.api.send(
            "GET",
            "/api/v1/namespaces/default/serviceaccounts/default",
            None,
            None,
        );
        if response.is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(startup_failure(
                cluster,
                "the default service account did not appear",
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every YAML document in `text`, as JSON values (empty documents skipped).
pub fn yaml_documents(text: &str) -> Result<Vec<serde_json::Value>, TestkitError> {
    use serde::Deserialize as _;
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(document)
            .map_err(|e| TestkitError::Protocol(format!("YAML: {e}")))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// The agent's shipped manifest, `deploy/kubernetes/agent.yaml`.
pub fn agent_manifest_path() -> PathBuf {
    repo_root().join("deploy/kubernetes/agent.yaml")
}

/// The agent's ClusterRole exactly as shipped in `deploy/kubernetes/agent.yaml`,
/// so RBAC tests run against the real role rather than a copy.
pub fn agent_cluster_role_json() -> Result<serde_json::Value, TestkitError> {
    let path = agent_manifest_path();
    let text = std::fs::read_to_string(&path).map_err(|source| TestkitError::Io {
        path: path.clone(),
        source,
    })?;
    let mut roles = yaml_documents(&text)?
        .into_iter()
        .filter(|doc| doc["kind"] == "ClusterRole");
    match (roles.next(), roles.next()) {
        (Some(role), None) => Ok(role),
        _ => Err(TestkitError::Protocol(format!(
            "{} must hold exactly one ClusterRole",
            path.display()
        ))),
    }
}

/// A copy of a ClusterRole without `verb` on `resource` (rules left empty
/// of verbs or resources are dropped), for "remove a verb, see a clear
/// degraded status" tests.
pub fn cluster_role_without(
    role: &serde_json::Value,
    resource: &str,
    verb: &str,
) -> serde_json::Value {
    let mut role = role.clone();
    let Some(rules) = role.get_mut("rules").and_then(|r| r.as_array_mut()) else {
        return role;
    };
    let mut split = Vec::new();
    for rule in rules.iter() {
        let names = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let resources = names("resources");
        let verbs = names("verbs");
        if !resources.iter().any(|r| r == resource) || !verbs.iter().any(|v| v == verb) {
            split.push(rule.clone());
            continue;
        }
        // The other resources of the rule keep every verb; `resource` keeps the rest.
        let others: Vec<&String> = resources.iter().filter(|r| *r != resource).collect();
        if !others.is_empty() {
            let mut kept = rule.clone();
            kept["resources"] = serde_json::json!(others);
            split.push(kept);
        }
        let remaining: Vec<&String> = verbs.iter().filter(|v| *v != verb).collect();
        if !remaining.is_empty() {
            let mut narrowed = rule.clone();
            narrowed["resources"] = serde_json::json!([resource]);
            narrowed["verbs"] = serde_json::json!(remaining);
            split.push(narrowed);
        }
    }
    *rules = split;
    role
}
