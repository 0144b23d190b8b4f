//! The response cache (`server::cache`) through the router, on a real SQLite
//! store: a committed write makes every cached answer unreachable, answers
//! are byte for byte the ones computed without the cache, and one role's
//! entries never answer another role (nor an agent, nor an anonymous caller).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use k8s::{ClusterStatus, DigestKind};
use model::Severity;
use serde_json::{Value, json};
use server::cache::CACHE_HEADER;
use server::{AppState, Settings};
use store::fixtures::{self, at, container, inventory, metadata, scan_record, workload};
use store::{InventorySource, Role, SqliteStore, Store};
use tower::ServiceExt;

const NOW: i64 = 86_400 * 30;
const NGINX: &str = "docker.io/library/nginx";

struct App {
    cached: Router,
    uncached: Router,
    store: Arc<SqliteStore>,
    tokens: BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    /// `x-shipshape-cache`: hit, miss, or absent.
    cache: Option<String>,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

fn router(store: &Arc<SqliteStore>, cache_bytes: usize) -> Router {
    let state = Arc::new(AppState::with_clock(
        store.clone(),
        Settings {
            response_cache_bytes: cache_bytes,
            ..Settings::default()
        },
        Arc::new(|| at(NOW)),
    ));
    state.set_ready(true);
    server::router(state)
}

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let tokens = support::tokens(
        &store,
        &[
            ("viewer", Role::Viewer, None),
            ("viewer2", Role::Viewer, None),
            ("editor", Role::Editor, None),
            ("admin", Role::Admin, None),
            ("agent", Role::Viewer, Some("prod")),
        ],
    )
    .await;
    seed(&store).await;
    App {
        cached: router(&store, 1 << 20),
        uncached: router(&store, 0),
        store,
        tokens,
        _dir: dir,
    }
}

/// One cluster, two images (nginx with two findings, api with one).
async fn seed(store: &SqliteStore) {
    let f = fixtures::finding;
    let prod = inventory(
        "prod",
        at(NOW - 600),
        ClusterStatus::Ok,
        vec![workload(
            "web",
            "frontend",
            &[("app", "frontend"), ("team", "web")],
            vec![
                container(
                    "nginx",
                    "nginx:1.27",
                    Some((fixtures::digest("nginx"), DigestKind::Manifest)),
                    "linux/amd64",
                    true,
                ),
                container(
                    "api",
                    "ghcr.io/acme/api:2.0",
                    Some((fixtures::digest("api"), DigestKind::Manifest)),
                    "linux/amd64",
                    true,
                ),
            ],
        )],
    );
    store
        .apply_snapshot(&prod, InventorySource::Local, at(NOW - 600))
        .await
        .unwrap();
    for job in store.claim_scan_jobs(10, at(NOW - 500)).await.unwrap() {
        let store::TargetReference::Digest { digest } = &job.target.reference else {
            panic!("manifest digests only here")
        };
        let findings = if job.target.repository == NGINX {
            vec![
                f(
                    "CVE-2023-44487",
                    Severity::Critical,
                    Some(9.8),
                    ("nghttp2", "1.52.0-1"),
                    1,
                    Some("1.52.0-1+deb12u1"),
                ),
                f(
                    "CVE-2022-0563",
                    Severity::Low,
                    Some(5.5),
                    ("util-linux", "2.38.1-5"),
                    0,
                    None,
                ),
            ]
        } else {
            vec![f(
                "CVE-2024-2961",
                Severity::High,
                Some(8.8),
                ("glibc", "2.36-9"),
                0,
                Some("2.36-9+deb12u7"),
            )]
        };
        let record = scan_record(
            metadata(&job.target.repository, None, digest, 2),
            findings,
            1,
        );
        store
            .complete_scan(job.target.id, &record, at(NOW - 400))
            .await
            .unwrap();
    }
}

impl App {
    async fn send(
        &self,
        router: &Router,
        method: Method,
        uri: &str,
        who: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(who) = who {
            builder = builder.header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.tokens[who]),
            );
        }
        let body = match body {
            Some(value) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&value).unwrap())
            }
            None => Body::empty(),
        };
        let response = router
            .clone()
            .oneshot(builder.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let cache = response
            .headers()
            .get(CACHE_HEADER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            cache,
            bytes: bytes.to_vec(),
        }
    }

    async fn get(&self, uri: &str, who: &str) -> Answer {
        self.send(&self.cached, Method::GET, uri, Some(who), None)
            .await
    }

    async fn get_uncached(&self, uri: &str, who: &str) -> Answer {
        self.send(&self.uncached, Method::GET, uri, Some(who), None)
            .await
    }
}

#[tokio::test]
async fn a_committed_write_makes_cached_answers_unreachable() {
    let app = app().await;
    let uri = "/api/v1/statistics";
    let first = app.get(uri, "viewer").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.cache.as_deref(), Some("miss"));
    assert_eq!(first.json()["vulnerabilities"]["critical"], 1);
    // Every request records its token's use: that write must not count.
    let again = app.get(uri, "viewer").await;
    assert_eq!(again.cache.as_deref(), Some("hit"));
    assert_eq!(again.bytes, first.bytes);

    // A write through the API: the nginx repository is excepted.
    let created = app
        .send(
            &app.cached,
            Method::POST,
            "/api/v1/exceptions",
            Some("editor"),
            Some(json!({
                "scopes": [{"scope": "repository", "repository": NGINX}],
                "reason": "replaced next sprint"
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let after = app.get(uri, "viewer").await;
    assert_eq!(after.cache.as_deref(), Some("miss"));
    assert_eq!(after.json()["vulnerabilities"]["critical"], 0);
    assert_eq!(app.get(uri, "viewer").await.cache.as_deref(), Some("hit"));

    // A write straight to the store (the scanner, an agent, housekeeping):
    // a second cluster appears in the cluster list.
    let clusters = app.get("/api/v1/clusters", "viewer").await;
    assert_eq!(clusters.json().as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/v1/clusters", "viewer").await.cache.as_deref(),
        Some("hit")
    );
    let staging = inventory("staging", at(NOW - 60), ClusterStatus::Ok, vec![]);
    app.store
        .apply_snapshot(&staging, InventorySource::Local, at(NOW - 60))
        .await
        .unwrap();
    let clusters = app.get("/api/v1/clusters", "viewer").await;
    assert_eq!(clusters.cache.as_deref(), Some("miss"));
    assert_eq!(clusters.json().as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn answers_are_the_same_with_and_without_the_cache() {
    let app = app().await;
    let nginx = fixtures::digest("nginx");
    let uris = [
        "/api/v1/statistics".to_owned(),
        "/api/v1/statistics?severity=critical".to_owned(),
        "/api/v1/statistics?cluster=prod&labels=team%3Dweb".to_owned(),
        "/api/v1/repositories?sort=-critical&limit=1".to_owned(),
        "/api/v1/repositories?limit=1&offset=1".to_owned(),
        "/api/v1/repositories?view=excepted".to_owned(),
        format!("/api/v1/images/{nginx}"),
        format!("/api/v1/images/{nginx}/vulnerabilities?sort=-cvss"),
        format!("/api/v1/images/{nginx}/packages?layers=0"),
        format!("/api/v1/images/{nginx}/resources"),
        "/api/v1/remediation".to_owned(),
        "/api/v1/clusters".to_owned(),
        "/api/v1/exceptions?state=all".to_owned(),
        "/api/v1/exceptions/history".to_owned(),
        "/api/v1/exceptions/stale".to_owned(),
    ];
    for uri in &uris {
        let computed = app.get_uncached(uri, "viewer").await;
        assert_eq!(computed.status, StatusCode::OK, "{uri}");
        assert_eq!(computed.cache, None, "{uri}: the cache is off");
        let miss = app.get(uri, "viewer").await;
        let hit = app.get(uri, "viewer").await;
        assert_eq!(
            (miss.cache.as_deref(), hit.cache.as_deref()),
            (Some("miss"), Some("hit")),
            "{uri}"
        );
        for answer in [&miss, &hit] {
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            assert_eq!(answer.bytes, computed.bytes, "{uri}");
        }
    }
    // Errors are never kept: a bad filter is refused each time.
    for _ in 0..2 {
        let bad = app
            .get("/api/v1/statistics?severity=urgent", "viewer")
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.cache.as_deref(), Some("miss"));
    }
}

#[tokio::test]
async fn roles_keep_their_own_entries_and_refusals_never_read_the_cache() {
    let app = app().await;
    let uri = "/api/v1/repositories";
    assert_eq!(app.get(uri, "admin").await.cache.as_deref(), Some("miss"));
    assert_eq!(app.get(uri, "admin").await.cache.as_deref(), Some("hit"));
    // Another role computes its own answer.
    assert_eq!(app.get(uri, "viewer").await.cache.as_deref(), Some("miss"));
    // Another caller with the same role shares it (answers depend on the
    // role at most).
    assert_eq!(app.get(uri, "viewer2").await.cache.as_deref(), Some("hit"));

    // An agent token is refused by the handler, never answered from the cache.
    for _ in 0..2 {
        let agent = app.get(uri, "agent").await;
        assert_eq!(agent.status, StatusCode::FORBIDDEN);
        assert_eq!(agent.cache, None);
    }
    // Nor is anyone without credentials.
    let anonymous = app.send(&app.cached, Method::GET, uri, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.cache, None);
    // Nor a revoked token, whose answer was cached a moment ago.
    let tokens = app.store.tokens().await.unwrap();
    let viewer = tokens.iter().find(|t| t.name == "viewer2").unwrap();
    app.store.revoke_token(viewer.id, at(NOW)).await.unwrap();
    let revoked = app.get(uri, "viewer2").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(uri, "viewer").await.cache.as_deref(), Some("hit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_view_compute_it_once() {
    let app = Arc::new(app().await);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.get("/api/v1/repositories?sort=-critical", "viewer")
                .await
        }));
    }
    let mut outcomes = BTreeMap::new();
    let mut bodies = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        *outcomes.entry(answer.cache.unwrap()).or_insert(0) += 1;
        bodies.push(answer.bytes);
    }
    assert_eq!(outcomes.get("miss"), Some(&1), "{outcomes:?}");
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}
