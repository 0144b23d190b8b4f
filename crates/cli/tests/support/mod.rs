//! Helpers for the end-to-end tests: run the real `shipshape` binary in a
//! sandbox (its own HOME, TMPDIR and working directory), read the committed
//! analyzer fixtures, and pick apart the JSON report.

#![allow(dead_code, clippy::print_stderr)]

pub mod serve;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A scan that takes longer than this is a hang, not a slow machine: every
/// test image is a few MiB at most.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// A temporary directory tree the binary runs in: `home/` (HOME, so the
/// default cache and docker config resolve inside it), `tmp/` (TMPDIR, for
/// anonymous spool files), `cwd/` (working directory) and `cache/`.
pub struct Sandbox {
    root: tempfile::TempDir,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with everything the binary said unless it exited with `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout as JSON (after checking the exit code was 0).
    pub fn json(self) -> Value {
        let run = self.expect_code(0);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout))
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().expect("temp dir");
        for dir in ["home", "tmp", "cwd", "cache"] {
            std::fs::create_dir_all(root.path().join(dir)).expect("sandbox dir");
        }
        Sandbox { root }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn cwd(&self) -> PathBuf {
        self.root().join("cwd")
    }

    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    /// Runs `shipshape ARGS` with a clean environment plus `env`.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_program(env!("CARGO_BIN_EXE_shipshape"), args, env)
    }

    /// Runs `shipshape ARGS` through `sh -c 'umask UMASK; exec …'`.
    pub fn run_with_umask(&self, umask: &str, args: &[&str]) -> Run {
        let mut sh_args = vec![
            "-c",
            "umask \"$0\" && shift && exec \"$@\"",
            umask,
            "--",
            env!("CARGO_BIN_EXE_shipshape"),
        ];
        // `$0` is the umask; `shift` drops the `--` so "$@" is the command.
        sh_args.extend_from_slice(args);
        self.run_program("sh", &sh_args, &[])
    }

    /// Runs `shipshape ARGS` with a pseudo-terminal as stdin, stdout and
    /// stderr (through util-linux `script`); what the terminal showed is
    /// `stdout`. `None` when `script` is not installed.
    pub fn run_in_terminal(&self, args: &[&str]) -> Option<Run> {
        if Command::new("script").arg("--version").output().is_err() {
            eprintln!("skipping terminal test: `script` (util-linux) not installed");
            return None;
        }
        let mut command_line = shell_quote(env!("CARGO_BIN_EXE_shipshape"));
        for arg in args {
            command_line.push(' ');
            command_line.push_str(&shell_quote(arg));
        }
        Some(self.run_program(
            "script",
            &[
                "--quiet",
                "--return",
                "--command",
                &command_line,
                "/dev/null",
            ],
            &[("TERM", "xterm"), ("COLUMNS", "120")],
        ))
    }

    fn run_program(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out_path = self.root().join("stdout");
        let err_path = self.root().join("stderr");
        let stdout = std::fs::File::create(&out_path).expect("stdout file");
        let stderr = std::fs::File::create(&err_path).expect("stderr file");
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("HOME", self.home())
            .env("TMPDIR", self.root().join("tmp"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.cwd())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawning shipshape");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for shipshape") {
                break status;
            }
            if started.elapsed() > RUN_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "shipshape {args:?} did not finish in {RUN_TIMEOUT:?}; stderr:\n{}",
                    read_lossy(&err_path)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            // A signal (a crash) has no code: make it fail every expectation.
            code: status.code().unwrap_or(-1),
            stdout: read_lossy(&out_path),
            stderr: read_lossy(&err_path),
        }
    }

    /// `shipshape scan IMAGE --format json` with the sandbox cache.
    pub fn scan_json(&self, image: &str, extra: &[&str]) -> Value {
        let cache = self.cache();
        let mut args = vec![
            "scan",
            image,
            "--format",
            "json",
            "--cache-dir",
            cache.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        self.run(&args, &[]).json()
    }

    /// Every path under the sandbox (relative, sorted).
    pub fn all_paths(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(self.root(), self.root(), &mut found);
        found.sort();
        found
    }
}

fn walk(base: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if let Ok(relative) = path.strip_prefix(base) {
            found.push(relative.to_owned());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(base, &path, found);
        }
    }
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A committed analyzer fixture (`crates/analyze/tests/fixtures/...`).
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../analyze/tests/fixtures")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A gzipped fixture (the Go and Rust binaries), decompressed.
pub fn gunzipped_fixture(relative: &str) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(fixture(relative).as_slice())
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("fixture {relative} is not gzip: {e}"));
    out
}

/// One package of the JSON report, reduced to what the tests compare:
/// (type, name, version, layer index, evidence path).
pub type PackageRow = (String, String, String, Option<u64>, String);

pub fn package_rows(report: &Value) -> Vec<PackageRow> {
    let mut rows: Vec<PackageRow> = report["packages"]
        .as_array()
        .expect("packages array")
        .iter()
        .map(|p| {
            (
                p["type"].as_str().unwrap_or_default().to_owned(),
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["version"].as_str().unwrap_or_default().to_owned(),
                p["evidence"]["layerIndex"].as_u64(),
                p["evidence"]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Table rows (`&str`s and a layer) to the owned form `package_rows` returns, sorted.
pub fn rows(expected: &[(&str, &str, &str, u64, &str)]) -> Vec<PackageRow> {
    let mut rows: Vec<PackageRow> = expected
        .iter()
        .map(|(kind, name, version, layer, path)| {
            (
                (*kind).to_owned(),
                (*name).to_owned(),
                (*version).to_owned(),
                Some(*layer),
                (*path).to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The report's diagnostics as (code, path) pairs, sorted.
pub fn diagnostic_codes(report: &Value) -> Vec<(String, String)> {
    let mut codes: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_owned(),
                d["path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    codes.sort();
    codes
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}
