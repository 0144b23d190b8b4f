use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestkitError;
use crate::client::RegistryClient;
use crate::token::{TokenPolicy, TokenRequest, TokenServer};

/// Where Debian installs the CNCF distribution registry.
const DEFAULT_BINARY: &str = "/usr/bin/docker-registry";
/// Overrides [`DEFAULT_BINARY`], e.g. for a registry built from source.
const BINARY_ENV: &str = "SHIPSHAPE_DOCKER_REGISTRY";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Runs `docker-registry serve CONFIG` ($1, $2) and, when stdin reaches EOF,
/// kills it and removes its temporary directory ($3). EOF comes when the test
/// process closes the pipe on drop *or dies without unwinding* (Ctrl-C,
/// SIGKILL, abort): registries and their storage must not outlive the test
/// run on a shared machine. Asynchronous lists get /dev/null as stdin, hence
/// the copy to fd 3. The shell exits when the registry does, so a registry
/// that fails to start is noticed at once.
const WATCHDOG: &str = r#"exec 3<&0
"$1" serve "$2" </dev/null 3<&- &
registry=$!
{
  cat <&3 >/dev/null
  kill "$registry" 2>/dev/null
  tries=0
  while kill -0 "$registry" 2>/dev/null && [ "$tries" -lt 50 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  rm -rf -- "$3"
} &
exec 3<&-
wait "$registry"
"#;
/// Attempts when another process grabs the free port between probe and bind.
const START_ATTEMPTS: usize = 3;

/// The `service` (JWT audience) a token-auth registry expects.
pub const TOKEN_SERVICE: &str = "shipshape-testkit-registry";
/// The `iss` a token-auth registry trusts.
pub const TOKEN_ISSUER: &str = "shipshape-testkit-token-issuer";

/// How the test registry authenticates clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// No authentication: everyone may pull and push.
    Anonymous,
    /// HTTP basic auth against a bcrypt htpasswd file of `(user, password)`.
    Htpasswd(Vec<(String, String)>),
    /// Docker token auth served by an in-process token server.
    Token(TokenPolicy),
}

impl RegistryAuth {
    /// Basic auth with these `(user, password)` pairs.
    pub fn htpasswd(users: &[(&str, &str)]) -> RegistryAuth {
        RegistryAuth::Htpasswd(
            users
                .iter()
                .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
                .collect(),
        )
    }
}

/// A real `docker-registry` (distribution 2.8) on 127.0.0.1, with its own
/// port and temporary storage; killed on drop.
///
/// ```
/// use testkit::{ImageBuilder, LayerBuilder, RegistryAuth, RegistryClient, TestRegistry, TokenPolicy};
/// let policy = TokenPolicy::new()
///     .user("alice", "pw")
///     .allow("alice", "team/*", &["pull", "push"]);
/// let Some(registry) = TestRegistry::start_with(RegistryAuth::Token(policy)) else { return Ok(()) };
/// let image = ImageBuilder::oci().layer(LayerBuilder::new().file("x", "y", 0o644)).build()?;
/// RegistryClient::new(registry.host())
///     .with_basic_auth("alice", "pw")
///     .push("team/app", "latest", &image)?;
/// assert!(registry.token_realm().unwrap().ends_with("/token"));
/// assert_eq!(registry.token_requests().last().unwrap().account.as_deref(), Some("alice"));
/// # Ok::<(), testkit::TestkitError>(())
/// ```
pub struct TestRegistry {
    /// The watchdog shell (see [`WATCHDOG`]); the registry is its child.
    child: Child,
    /// Write end of the watchdog's stdin: closing it stops the registry.
    lifeline: Option<ChildStdin>,
    port: u16,
    dir: tempfile::TempDir,
    token_server: Option<TokenServer>,
}

impl std::fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRegistry")
            .field("host", &self.host())
            .field("dir", &self.dir.path())
            .field("token_realm", &self.token_realm())
            .finish()
    }
}

impl TestRegistry {
    /// Starts an anonymous registry, or returns `None` (after printing why
    /// to stderr) when `docker-registry` is not installed, so tests can skip:
    ///
    /// ```
    /// let Some(registry) = testkit::TestRegistry::start() else { return };
    /// assert!(registry.url().starts_with("http://127.0.0.1:"));
    /// ```
    ///
    /// # Panics
    /// When the binary exists but the registry does not come up: a broken
    /// test environment should fail tests loudly, not skip them.
    pub fn start() -> Option<TestRegistry> {
        TestRegistry::start_with(RegistryAuth::Anonymous)
    }

    /// Like [`start`](Self::start) with the given auth mode.
    ///
    /// # Panics
    /// When the binary exists but the registry does not come up.
    pub fn start_with(auth: RegistryAuth) -> Option<TestRegistry> {
        match TestRegistry::try_start(auth) {
            Ok(registry) => registry,
            Err(e) => panic!("test registry failed to start: {e}"),
        }
    }

    /// Whether the `docker-registry` binary can be found (`$SHIPSHAPE_DOCKER_REGISTRY`,
    /// `/usr/bin/docker-registry`, or `PATH`), without starting anything.
    pub fn is_installed() -> bool {
        find_binary().is_some()
    }

    /// Starts the registry; `Ok(None)` when the binary is not installed.
    pub fn try_start(auth: RegistryAuth) -> Result<Option<TestRegistry>, TestkitError> {
        let Some(binary) = find_binary() else {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "skipping: docker-registry not installed (apt-get install docker-registry)"
                );
            }
            return Ok(None);
        };
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match start_once(&binary, &auth) {
                Ok(registry) => return Ok(Some(registry)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| TestkitError::RegistryStart("no attempt made".into())))
    }

    /// `127.0.0.1:PORT`: what goes in an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The token server's realm URL in token mode.
    pub fn token_realm(&self) -> Option<String> {
        self.token_server.as_ref().map(TokenServer::realm)
    }

    /// The token `service` in token mode.
    pub fn token_service(&self) -> Option<&'static str> {
        self.token_server.as_ref().map(|_| TOKEN_SERVICE)
    }

    /// PEM of the certificate that signs tokens (the registry's root bundle).
    pub fn token_root_pem(&self) -> Option<&str> {
        self.token_server.as_ref().map(TokenServer::root_pem)
    }

    /// Every request the token server answered so far.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token_server
            .as_ref()
            .map(TokenServer::requests)
            .unwrap_or_default()
    }

    /// A client for this registry without credentials.
    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(self.host())
    }

    /// The registry's storage root (blobs and repositories as files).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log so far (for failing-test diagnostics).
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("registry.log"))
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let default = PathBuf::from(DEFAULT_BINARY);
    if default.is_file() {
        return Some(default);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("docker-registry"))
            .find(|candidate| candidate.is_file())
    })
}

fn free_port() -> Result<u16, TestkitError> {
    let io = |source| TestkitError::Io {
        path: "127.0.0.1:0".into(),
        source,
    };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    Ok(listener.local_addr().map_err(io)?.port())
}

fn write_file(path: &Path, content: &[u8]) -> Result<(), TestkitError> {
    std::fs::write(path, content).map_err(|source| TestkitError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

fn htpasswd_file(users: &[(String, String)]) -> Result<String, TestkitError> {
    let mut out = String::new();
    for (user, password) in users {
        // Cost 4 (the minimum): the registry verifies on every request and
        // test speed matters more than brute-force resistance here.
        let hash = bcrypt::hash_with_result(password, 4)
            .map_err(|e| TestkitError::Crypto(e.to_string()))?
            .format_for_version(bcrypt::Version::TwoY);
        out.push_str(&format!("{user}:{hash}\n"));
    }
    Ok(out)
}

fn start_once(binary: &Path, auth: &RegistryAuth) -> Result<TestRegistry, TestkitError> {
    let dir = tempfile::Builder::new()
        .prefix("shipshape-registry-")
        .tempdir()
        .map_err(|source| TestkitError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let port = free_port()?;
    let storage = dir.path().join("storage");
    let mut token_server = None;
    let auth_yaml = match auth {
        RegistryAuth::Anonymous => String::new(),
        RegistryAuth::Htpasswd(users) => {
            let path = dir.path().join("htpasswd");
            write_file(&path, htpasswd_file(users)?.as_bytes())?;
            format!(
                "auth:\n  htpasswd:\n    realm: shipshape-testkit\n    path: {}\n",
                path.display()
            )
        }
        RegistryAuth::Token(policy) => {
            let server = TokenServer::start(policy.clone(), TOKEN_SERVICE, TOKEN_ISSUER)?;
            let bundle = dir.path().join("token-root.pem");
            write_file(&bundle, server.root_pem().as_bytes())?;
            let yaml = format!(
                "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                server.realm(),
                bundle.display()
            );
            token_server = Some(server);
            yaml
        }
    };
    let config = format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: shipshape-testkit-secret\n\
         health:\n  storagedriver:\n    enabled: false\n\
         {auth_yaml}",
        storage = storage.display(),
    );
    let config_path = dir.path().join("config.yml");
    write_file(&config_path, config.as_bytes())?;
    let log_path = dir.path().join("registry.log");
    let log = std::fs::File::create(&log_path).map_err(|source| TestkitError::Io {
        path: log_path.clone(),
        source,
    })?;
    let log_err = log.try_clone().map_err(|source| TestkitError::Io {
        path: log_path.clone(),
        source,
    })?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("testkit-registry-watchdog")
        .arg(binary)
        .arg(&config_path)
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|source| TestkitError::Io {
            path: binary.to_owned(),
            source,
        })?;
    let lifeline = child.stdin.take();
    let mut registry = TestRegistry {
        child,
        lifeline,
        port,
        dir,
        token_server,
    };
    wait_until_ready(&mut registry)?;
    Ok(registry)
}

/// Polls `GET /v2/` until the registry answers (200, or 401 with auth).
fn wait_until_ready(registry: &mut TestRegistry) -> Result<(), TestkitError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let client = registry.client();
    loop {
        if let Ok(Some(status)) = registry.child.try_wait() {
            return Err(TestkitError::RegistryStart(format!(
                "docker-registry exited with {status}; log:\n{}",
                registry.log()
            )));
        }
        // "listening on" proves that *our* process bound the port, not some
        // other registry that grabbed it between probe and bind.
        let ours = registry.log().contains("listening on");
        if ours
            && client
                .send("GET", "/v2/", &[], None)
                .is_ok_and(|r| matches!(r.status, 200 | 401))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TestkitError::RegistryStart(format!(
                "no answer on {} within {STARTUP_TIMEOUT:?}; log:\n{}",
                registry.url(),
                registry.log()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
