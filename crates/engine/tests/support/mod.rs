//! Test support: a counting, fault-injecting HTTP proxy in front of the test
//! registry, images with a real dpkg database, an advisory database from the
//! demo's advisory files, and a fleet snapshot that runs given images.

#![allow(dead_code)] // each test binary uses a part

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use k8s::{ClusterStatus, DigestKind};
use model::{Digest, Platform};
use store::fixtures::{container, inventory, workload};
use store::{InventorySource, SqliteStore, Store};
use testkit::{BuiltImage, ImageBuilder, LayerBuilder};
use time::OffsetDateTime;

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Which repositories have a request in flight, and the most seen at once.
#[derive(Default)]
pub struct Activity {
    per_repository: HashMap<String, usize>,
    peak: usize,
}

impl Activity {
    fn enter(&mut self, key: &str) {
        *self.per_repository.entry(key.to_owned()).or_default() += 1;
        let active = self.per_repository.values().filter(|n| **n > 0).count();
        self.peak = self.peak.max(active);
    }

    fn leave(&mut self, key: &str) {
        if let Some(n) = self.per_repository.get_mut(key) {
            *n = n.saturating_sub(1);
        }
    }

    pub fn peak(&self) -> usize {
        self.peak
    }
}

pub type SharedActivity = Arc<Mutex<Activity>>;

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    delay: Duration,
    local: SharedActivity,
    global: SharedActivity,
    /// Repository → HTTP status answered instead of forwarding.
    failing: Mutex<HashMap<String, u16>>,
    requests: AtomicU64,
}

/// An HTTP proxy on its own port in front of a registry: to the scanner a
/// registry host of its own. It delays every answer (so pulls overlap),
/// counts the repositories with a request in flight (each test image is in
/// its own repository, so that is the number of images being pulled at
/// once), and answers chosen repositories with an error status.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
}

impl Proxy {
    pub async fn start(upstream: &str, delay: Duration, global: SharedActivity) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            delay,
            local: SharedActivity::default(),
            global,
            failing: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { addr, state }
    }

    /// `127.0.0.1:PORT`, the registry host images are referenced by.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn fail(&self, repository: &str, status: u16) {
        self.state
            .failing
            .lock()
            .expect("lock")
            .insert(repository.to_owned(), status);
    }

    pub fn peak(&self) -> usize {
        self.state.local.lock().expect("lock").peak()
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}

/// `/v2/<repository>/(manifests|blobs)/…` → repository.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/"]
        .iter()
        .find_map(|marker| rest.find(marker).map(|at| rest[..at].to_owned()))
}

async fn handle(state: &ProxyState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let repository = repository_of(request.uri().path());
    let key = repository
        .as_ref()
        .map(|r| format!("{}/{r}", state.upstream));
    if let Some(key) = &key {
        state.local.lock().expect("lock").enter(key);
        state.global.lock().expect("lock").enter(key);
    }
    tokio::time::sleep(state.delay).await;
    let failing = repository
        .as_ref()
        .and_then(|r| state.failing.lock().expect("lock").get(r).copied());
    let response = match failing {
        Some(status) => Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(b"injected failure")))
            .expect("response"),
        None => forward(state, request, &path).await,
    };
    if let Some(key) = &key {
        state.local.lock().expect("lock").leave(key);
        state.global.lock().expect("lock").leave(key);
    }
    response
}

async fn forward(
    state: &ProxyState,
    request: Request<Incoming>,
    path: &str,
) -> Response<Full<Bytes>> {
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut upstream = state
        .client
        .request(method.clone(), format!("{}{path}", state.upstream));
    for (name, value) in request.headers() {
        if name != "host" && name != "connection" {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(_) => {
            return Response::builder()
                .status(502)
                .body(Full::new(Bytes::new()))
                .expect("response");
        }
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "connection" {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    let bytes = if method == reqwest::Method::HEAD {
        Bytes::new()
    } else {
        bytes
    };
    response.body(Full::new(bytes)).expect("response")
}

pub const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A dpkg status database with these (package, version) pairs.
pub fn dpkg_status(packages: &[(&str, &str)]) -> String {
    packages
        .iter()
        .map(|(name, version)| {
            format!(
                "Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: {version}\nDescription: {name}\n\n"
            )
        })
        .collect()
}

/// A small Debian 12 image: a base layer with os-release and a dpkg
/// database (`openssl` at `openssl_version`, `tar` 1.34+dfsg-1.2), and a
/// layer unique to `label` (so every image has its own digest).
pub fn debian_image(label: &str, openssl_version: &str) -> BuiltImage {
    debian_image_for(label, openssl_version, Platform::linux_amd64())
}

pub fn debian_image_for(label: &str, openssl_version: &str, platform: Platform) -> BuiltImage {
    ImageBuilder::oci()
        .platform(platform)
        .layer(
            LayerBuilder::new()
                .file("etc/os-release", OS_RELEASE, 0o644)
                .file(
                    "var/lib/dpkg/status",
                    dpkg_status(&[("openssl", openssl_version), ("tar", "1.34+dfsg-1.2")]),
                    0o644,
                ),
        )
        .layer(LayerBuilder::new().file("srv/app/label", format!("{label}\n"), 0o644))
        .build()
        .expect("image builds")
}

/// The demo's advisory files whose names start with one of `prefixes`.
pub fn demo_advisories(dir: &Path, prefixes: &[&str]) -> Vec<std::path::PathBuf> {
    let set = demo::build(&dir.join("demo-advisories"), OffsetDateTime::now_utc()).expect("demo");
    set.advisory_files
        .into_iter()
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|name| prefixes.iter().any(|p| name.starts_with(p)))
        })
        .collect()
}

pub async fn import(db: &vulndb::VulnDb, files: &[std::path::PathBuf]) -> i64 {
    let summary = vulndb::import_paths(db, files, &mut |_| {})
        .await
        .expect("advisories import");
    assert!(
        summary.skipped_paths.is_empty(),
        "{:?}",
        summary.skipped_paths
    );
    db.version().await.expect("version").database_version
}

/// One running container per `(image reference, digest, kind, platform)`.
pub fn fleet_snapshot(
    cluster: &str,
    images: &[(String, Digest, DigestKind, &str)],
) -> k8s::ClusterInventory {
    let workloads = images
        .iter()
        .enumerate()
        .map(|(index, (reference, digest, kind, platform))| {
            workload(
                "apps",
                &format!("app-{index}"),
                &[("app", "demo")],
                vec![container(
                    "main",
                    reference,
                    Some((digest.clone(), *kind)),
                    platform,
                    true,
                )],
            )
        })
        .collect();
    inventory(
        cluster,
        OffsetDateTime::now_utc(),
        ClusterStatus::Ok,
        workloads,
    )
}

pub async fn ingest(store: &SqliteStore, snapshot: &k8s::ClusterInventory) -> u64 {
    store
        .apply_snapshot(snapshot, InventorySource::Local, OffsetDateTime::now_utc())
        .await
        .expect("snapshot applies")
        .new_targets
}

/// Every target's state, by id.
pub async fn targets(store: &SqliteStore) -> Vec<store::TargetState> {
    store
        .targets(store::Page::first(1000))
        .await
        .expect("targets")
        .items
}

/// A registry client config for tests: one attempt per request, so an
/// injected failure reaches the fleet scanner at once.
pub fn client_config() -> oci::ClientConfig {
    oci::ClientConfig {
        retry: oci::RetryPolicy {
            max_attempts: 1,
            ..oci::RetryPolicy::default()
        },
        ..oci::ClientConfig::default()
    }
}
