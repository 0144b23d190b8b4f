//! The registry process never outlives its owner: not on drop, and not when
//! the test process dies without unwinding.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::TestRegistry;

const PORT_FILE_ENV: &str = "TESTKIT_LIFECYCLE_PORT_FILE";

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

fn wait_until_closed(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !answers(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn drop_stops_the_registry() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let port = registry.port();
    assert!(answers(port));
    drop(registry);
    assert!(
        wait_until_closed(port),
        "registry still listening on {port}"
    );
}

/// Run as a child process by `killed_owner_stops_the_registry`: starts a
/// registry, publishes its port, then waits to be killed.
#[test]
fn lifecycle_child_holds_a_registry() {
    let Some(port_file) = std::env::var_os(PORT_FILE_ENV) else {
        return;
    };
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let report = format!("{} {}", registry.port(), registry.storage_dir().display());
    std::fs::write(port_file, report).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn killed_owner_stops_the_registry() {
    if !TestRegistry::is_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lifecycle_child_holds_a_registry",
            "--test-threads=1",
        ])
        .env(PORT_FILE_ENV, &port_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (port, storage): (u16, std::path::PathBuf) = loop {
        let report = std::fs::read_to_string(&port_file).unwrap_or_default();
        if let Some((port, storage)) = report.split_once(' ') {
            break (port.parse().unwrap(), storage.into());
        }
        assert!(
            Instant::now() < deadline,
            "child never started its registry"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(answers(port));
    child.kill().unwrap(); // SIGKILL: no unwinding, no Drop
    child.wait().unwrap();
    assert!(
        wait_until_closed(port),
        "orphaned registry still listening on {port}"
    );
    let temp_dir = storage.parent().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while temp_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!temp_dir.exists(), "{} left behind", temp_dir.display());
}
