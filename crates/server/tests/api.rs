//! The REST API through the router (`oneshot`), on a real SQLite store in a
//! temp dir, with a fixed clock.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use k8s::wire::{AgentMessage, Delta, MessageBody, PROTOCOL_VERSION, Snapshot};
use k8s::{ClusterStatus, DigestKind};
use model::Severity;
use serde_json::{Value, json};
use server::secret::{Secret, SecretKind, hash_password};
use server::{AppState, Settings};
use store::fixtures::{self, at};
use store::{InventorySource, NewToken, NewUser, Role, SqliteStore, Store};
use tower::ServiceExt;

struct App {
    router: Router,
    store: Arc<SqliteStore>,
    /// Bearer tokens by who holds them: viewer, editor, admin, agent (cluster `prod`).
    tokens: BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

const NOW: i64 = 86_400 * 30;

async fn app() -> App {
    app_with_clock(Arc::new(|| at(NOW))).await
}

async fn app_with_clock(clock: server::Clock) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let tokens = support::tokens(
        &store,
        &[
            ("viewer", Role::Viewer, None),
            ("editor", Role::Editor, None),
            ("admin", Role::Admin, None),
            ("agent", Role::Viewer, Some("prod")),
        ],
    )
    .await;
    let state = Arc::new(AppState::with_clock(
        store.clone(),
        Settings {
            max_ingest_bytes: 256 * 1024,
            ..Settings::default()
        },
        clock,
    ));
    state.set_ready(true);
    App {
        router: server::router(state),
        store,
        tokens,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl App {
    async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match body {
            Some(bytes) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(builder.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    async fn get(&self, uri: &str, who: &str) -> Answer {
        let auth = format!("Bearer {}", self.tokens[who]);
        self.request(Method::GET, uri, &[("authorization", &auth)], None)
            .await
    }

    async fn post(&self, uri: &str, who: &str, body: Value) -> Answer {
        let auth = format!("Bearer {}", self.tokens[who]);
        self.request(
            Method::POST,
            uri,
            &[("authorization", &auth)],
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await
    }

    /// Two clusters, three repositories, scanned with findings of every severity.
    async fn seed(&self) {
        use fixtures::{container, inventory, metadata, scan_record, workload};
        let d = fixtures::digest;
        let nginx_old = d("nginx-1.25");
        let nginx_new = d("nginx-1.27");
        let api = d("api-2.0");
        let clean = d("pause-3.9");
        let prod = inventory(
            "prod",
            at(NOW - 600),
            ClusterStatus::Ok,
            vec![
                workload(
                    "web",
                    "frontend",
                    &[("app", "frontend"), ("team", "web")],
                    vec![container(
                        "nginx",
                        "nginx:1.27",
                        Some((nginx_new.clone(), DigestKind::Manifest)),
                        "linux/amd64",
                        true,
                    )],
                ),
                workload(
                    "payments",
                    "api",
                    &[("app", "api"), ("team", "payments")],
                    vec![
                        container(
                            "api",
                            "ghcr.io/acme/api:2.0",
                            Some((api.clone(), DigestKind::Manifest)),
                            "linux/amd64",
                            true,
                        ),
                        container(
                            "pause",
                            "registry.k8s.io/pause:3.9",
                            Some((clean.clone(), DigestKind::Manifest)),
                            "linux/amd64",
                            true,
                        ),
                    ],
                ),
            ],
        );
        let staging = inventory(
            "staging",
            at(NOW - 600),
            ClusterStatus::Ok,
            vec![workload(
                "web",
                "frontend",
                &[("app", "frontend"), ("team", "web")],
                vec![container(
                    "nginx",
                    "nginx:1.25",
                    Some((nginx_old.clone(), DigestKind::Manifest)),
                    "linux/amd64",
                    true,
                )],
            )],
        );
        for inv in [&prod, &staging] {
            self.store
                .apply_snapshot(inv, InventorySource::Local, at(NOW - 600))
                .await
                .unwrap();
        }
        let f = fixtures::finding;
        let jobs = self
            .store
            .claim_scan_jobs(100, at(NOW - 500))
            .await
            .unwrap();
        assert_eq!(jobs.len(), 4);
        for job in jobs {
            let store::TargetReference::Digest { digest } = &job.target.reference else {
                panic!("manifest digests only here")
            };
            let (tag, findings) = if *digest == nginx_old {
                (
                    "1.25",
                    vec![
                        f(
                            "CVE-2023-4911",
                            Severity::High,
                            Some(7.8),
                            ("glibc", "2.36-9"),
                            0,
                            Some("2.36-9+deb12u3"),
                        ),
                        f(
                            "CVE-2024-2961",
                            Severity::High,
                            Some(8.8),
                            ("glibc", "2.36-9"),
                            0,
                            Some("2.36-9+deb12u7"),
                        ),
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
                    ],
                )
            } else if *digest == nginx_new {
                (
                    "1.27",
                    vec![f(
                        "CVE-2022-0563",
                        Severity::Low,
                        Some(5.5),
                        ("util-linux", "2.38.1-5"),
                        0,
                        None,
                    )],
                )
            } else if *digest == api {
                (
                    "2.0",
                    vec![
                        f(
                            "CVE-2024-6345",
                            Severity::High,
                            Some(8.8),
                            ("setuptools", "65.5.0"),
                            2,
                            Some("70.0.0"),
                        ),
                        f(
                            "CVE-2023-5678",
                            Severity::Medium,
                            Some(5.3),
                            ("openssl", "3.0.11-1"),
                            0,
                            Some("3.0.13-1"),
                        ),
                    ],
                )
            } else {
                ("3.9", vec![])
            };
            let repository = job.target.repository.clone();
            self.store
                .complete_scan(
                    job.target.id,
                    &scan_record(metadata(&repository, Some(tag), digest, 3), findings, 7),
                    at(NOW - 400),
                )
                .await
                .unwrap();
        }
    }
}

/// (label, reference, layers, created, findings as (id, package, layer, fixed))
type SeededImage = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static [(&'static str, &'static str, u32, Option<&'static str>)],
);

impl App {
    /// A cluster `build` running Debian 12.1 and 12.5 and two applications
    /// built on 12.1 (its two layers, then their own).
    async fn seed_base_images(&self) {
        use fixtures::{container, inventory, metadata, scan_record, workload};
        let d = fixtures::digest;
        let images: [SeededImage; 4] = [
            (
                "debian-12.1",
                "debian:12.1",
                &["deb121-0", "deb121-1"],
                "2025-02-01T00:00:00Z",
                &[
                    ("CVE-2023-4911", "glibc", 0, Some("2.36-9+deb12u3")),
                    ("CVE-2022-0563", "util-linux", 1, None),
                ],
            ),
            (
                "debian-12.5",
                "debian:12.5",
                &["deb125-0", "deb125-1"],
                "2025-06-01T00:00:00Z",
                &[("CVE-2022-0563", "util-linux", 1, None)],
            ),
            (
                "shop-1",
                "ghcr.io/acme/shop:1",
                &["deb121-0", "deb121-1", "shop-0"],
                "2026-01-01T00:00:00Z",
                &[
                    ("CVE-2023-4911", "glibc", 0, Some("2.36-9+deb12u3")),
                    ("CVE-2022-0563", "util-linux", 1, None),
                    ("CVE-2024-6345", "setuptools", 2, Some("70.0.0")),
                ],
            ),
            (
                "cart-1",
                "ghcr.io/acme/cart:1",
                &["deb121-0", "deb121-1", "cart-0"],
                "2026-01-01T00:00:00Z",
                &[
                    ("CVE-2023-4911", "glibc", 0, Some("2.36-9+deb12u3")),
                    ("CVE-2022-0563", "util-linux", 1, None),
                ],
            ),
        ];
        let workloads = images
            .iter()
            .map(|(label, reference, ..)| {
                workload(
                    "apps",
                    label,
                    &[("app", label)],
                    vec![container(
                        "main",
                        reference,
                        Some((d(label), DigestKind::Manifest)),
                        "linux/amd64",
                        true,
                    )],
                )
            })
            .collect();
        let build = inventory("build", at(NOW - 600), ClusterStatus::Ok, workloads);
        self.store
            .apply_snapshot(&build, InventorySource::Local, at(NOW - 600))
            .await
            .unwrap();
        let jobs = self
            .store
            .claim_scan_jobs(100, at(NOW - 500))
            .await
            .unwrap();
        for job in jobs {
            let store::TargetReference::Digest { digest } = &job.target.reference else {
                panic!("manifest digests only here")
            };
            let (label, reference, layers, created, findings) = images
                .iter()
                .find(|(label, ..)| d(label) == *digest)
                .expect("a seeded image");
            let tag = reference.rsplit(':').next();
            let mut meta = metadata(&job.target.repository, tag, digest, 0);
            meta.layers = layers
                .iter()
                .enumerate()
                .map(|(index, layer)| model::LayerDescriptor {
                    index: index as u32,
                    diff_id: model::DiffId(d(layer)),
                    blob_digest: d(&format!("blob-{layer}-{label}")),
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                    compressed_size: 1000,
                    uncompressed_size: None,
                })
                .collect();
            meta.config.created = Some((*created).to_owned());
            let findings = findings
                .iter()
                .map(|(id, package, layer, fixed)| {
                    fixtures::finding(
                        id,
                        Severity::High,
                        Some(7.8),
                        (package, "1"),
                        *layer,
                        *fixed,
                    )
                })
                .collect();
            self.store
                .complete_scan(
                    job.target.id,
                    &scan_record(meta, findings, 7),
                    at(NOW - 400),
                )
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn remediation_packages_and_base_images() {
    let app = app().await;
    app.seed_base_images().await;
    let doc: Value = serde_json::from_str(server::api::OPENAPI).unwrap();
    let packages = app.get("/api/v1/remediation", "viewer").await;
    assert_eq!(packages.status, StatusCode::OK, "{}", packages.text);
    assert_valid(&doc, "GET", "/api/v1/remediation", &packages);
    insta::assert_json_snapshot!("remediation_packages", packages.body);
    let bases = app.get("/api/v1/remediation/base-images", "viewer").await;
    assert_eq!(bases.status, StatusCode::OK, "{}", bases.text);
    assert_valid(&doc, "GET", "/api/v1/remediation/base-images", &bases);
    insta::assert_json_snapshot!("remediation_base_images", bases.body);
    assert_eq!(bases.body["items"][0]["tags"], json!(["12.1"]));
    assert_eq!(bases.body["items"][0]["suggested"]["tags"], json!(["12.5"]));

    // The filters and pages of the report apply; unknown parameters are refused.
    // (query, status, total)
    let table: &[(&str, StatusCode, Option<u64>)] = &[
        ("?cluster=build", StatusCode::OK, Some(1)),
        ("?cluster=elsewhere", StatusCode::OK, Some(0)),
        ("?labels=app%3Dshop-1", StatusCode::OK, Some(1)),
        ("?labels=app%3Ddebian-12.1", StatusCode::OK, Some(0)),
        ("?limit=1&offset=1", StatusCode::OK, Some(1)),
        ("?kind=packages", StatusCode::BAD_REQUEST, None),
        ("?limit=many", StatusCode::BAD_REQUEST, None),
        ("?severity=worst", StatusCode::BAD_REQUEST, None),
    ];
    for (query, status, total) in table {
        let answer = app
            .get(&format!("/api/v1/remediation/base-images{query}"), "viewer")
            .await;
        assert_eq!(answer.status, *status, "{query}: {}", answer.text);
        if let Some(total) = total {
            assert_eq!(answer.body["total"], *total, "{query}: {}", answer.text);
        }
    }
}

fn digest_of(label: &str) -> String {
    fixtures::digest(label).to_string()
}

#[tokio::test]
async fn health_is_public_and_everything_else_needs_a_caller() {
    let app = app().await;
    let health = app.request(Method::GET, "/healthz", &[], None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.request(Method::GET, "/readyz", &[], None).await;
    assert_eq!(ready.status, StatusCode::OK);
    for uri in ENDPOINTS.iter().map(|e| e.1) {
        let uri = uri
            .replace("{digest}", &digest_of("x"))
            .replace("{id}", "1");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let answer = app
                .request(method.clone(), &uri, &[], Some(b"{}".to_vec()))
                .await;
            assert!(
                matches!(
                    answer.status,
                    StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED
                ),
                "{method} {uri} anonymously: {} {}",
                answer.status,
                answer.text
            );
        }
    }
    let bad = app
        .request(
            Method::GET,
            "/api/v1/statistics",
            &[("authorization", "Bearer ssp_nope")],
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.body["error"]["code"], "unauthorized");
    let basic = app
        .request(
            Method::GET,
            "/api/v1/statistics",
            &[("authorization", "Basic Zm9vOmJhcg==")],
            None,
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

/// Who may call an endpoint.
#[derive(Clone, Copy)]
enum Access {
    /// Any authenticated caller, agents included.
    Anyone,
    AtLeast(Role),
    Agents,
    /// A person logged in with a password (no token of any kind).
    Sessions,
}

/// Every endpoint: (method, path, who may call it).
const ENDPOINTS: &[(&str, &str, Access)] = &[
    ("GET", "/api/v1/me", Access::Anyone),
    ("PUT", "/api/v1/me/password", Access::Sessions),
    ("GET", "/api/v1/statistics", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/repositories", Access::AtLeast(Role::Viewer)),
    (
        "GET",
        "/api/v1/images/{digest}",
        Access::AtLeast(Role::Viewer),
    ),
    (
        "GET",
        "/api/v1/images/{digest}/vulnerabilities",
        Access::AtLeast(Role::Viewer),
    ),
    (
        "GET",
        "/api/v1/images/{digest}/packages",
        Access::AtLeast(Role::Viewer),
    ),
    (
        "GET",
        "/api/v1/images/{digest}/resources",
        Access::AtLeast(Role::Viewer),
    ),
    ("GET", "/api/v1/remediation", Access::AtLeast(Role::Viewer)),
    (
        "GET",
        "/api/v1/remediation/base-images",
        Access::AtLeast(Role::Viewer),
    ),
    ("GET", "/api/v1/clusters", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/exceptions", Access::AtLeast(Role::Viewer)),
    ("POST", "/api/v1/exceptions", Access::AtLeast(Role::Editor)),
    (
        "POST",
        "/api/v1/exceptions/cancel",
        Access::AtLeast(Role::Editor),
    ),
    (
        "GET",
        "/api/v1/exceptions/history",
        Access::AtLeast(Role::Viewer),
    ),
    (
        "GET",
        "/api/v1/exceptions/stale",
        Access::AtLeast(Role::Viewer),
    ),
    ("GET", "/api/v1/tokens", Access::AtLeast(Role::Admin)),
    ("POST", "/api/v1/tokens", Access::AtLeast(Role::Admin)),
    (
        "DELETE",
        "/api/v1/tokens/{id}",
        Access::AtLeast(Role::Admin),
    ),
    ("GET", "/api/v1/users", Access::AtLeast(Role::Admin)),
    ("POST", "/api/v1/users", Access::AtLeast(Role::Admin)),
    ("PATCH", "/api/v1/users/{id}", Access::AtLeast(Role::Admin)),
    ("POST", "/api/v1/agents/ingest", Access::Agents),
    ("GET", "/api/openapi.json", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/report.json", Access::AtLeast(Role::Viewer)),
    (
        "GET",
        "/api/v1/images/{digest}/sbom",
        Access::AtLeast(Role::Viewer),
    ),
    (
        "GET",
        "/api/v1/images/{digest}/sarif",
        Access::AtLeast(Role::Viewer),
    ),
    ("GET", "/api/v1/report.csv", Access::AtLeast(Role::Viewer)),
    (
        "GET",
        "/api/v1/exceptions/openvex",
        Access::AtLeast(Role::Viewer),
    ),
    ("GET", "/metrics", Access::AtLeast(Role::Viewer)),
];

#[tokio::test]
async fn every_endpoint_by_every_role() {
    let app = app().await;
    app.seed().await;
    for (method, path, least) in ENDPOINTS {
        let uri = path
            .replace("{digest}", &digest_of("nginx-1.27"))
            .replace("{id}", "999");
        for who in ["viewer", "editor", "admin", "agent"] {
            let role = match who {
                "viewer" => Some(Role::Viewer),
                "editor" => Some(Role::Editor),
                "admin" => Some(Role::Admin),
                _ => None,
            };
            let allowed = match (least, role) {
                (Access::Anyone, _) | (Access::Agents, None) => true,
                (Access::AtLeast(least), Some(role)) => role >= *least,
                _ => false,
            };
            let auth = format!("Bearer {}", app.tokens[who]);
            // An empty JSON object: enough to get past authorization, and
            // refused as a body (400) by every endpoint that takes one.
            let body = matches!(*method, "POST" | "PUT" | "PATCH").then(|| b"{}".to_vec());
            let answer = app
                .request(
                    method.parse().unwrap(),
                    &uri,
                    &[("authorization", &auth)],
                    body,
                )
                .await;
            if allowed {
                assert_ne!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{who} {method} {uri}: {}",
                    answer.text
                );
                assert_ne!(
                    answer.status,
                    StatusCode::UNAUTHORIZED,
                    "{who} {method} {uri}"
                );
                assert!(
                    answer.status.is_success()
                        || answer.status == StatusCode::BAD_REQUEST
                        || answer.status == StatusCode::NOT_FOUND,
                    "{who} {method} {uri}: {} {}",
                    answer.status,
                    answer.text
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{who} {method} {uri}: {}",
                    answer.text
                );
                assert_eq!(answer.body["error"]["code"], "forbidden");
            }
        }
    }
}

#[tokio::test]
async fn report_follows_the_filter() {
    let app = app().await;
    app.seed().await;
    let all = app.get("/api/v1/statistics", "viewer").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    insta::assert_json_snapshot!("statistics_all", all.body);

    let staging = app
        .get("/api/v1/statistics?cluster=staging", "viewer")
        .await;
    assert_eq!(staging.body["images"], 1);
    assert_eq!(staging.body["vulnerabilities"]["critical"], 1);
    let payments = app
        .get("/api/v1/statistics?labels=team%3Dpayments", "viewer")
        .await;
    assert_eq!(payments.status, StatusCode::OK, "{}", payments.text);
    assert_eq!(payments.body["images"], 2);
    assert_eq!(payments.body["vulnerabilities"]["critical"], 0);

    let repos = app
        .get("/api/v1/repositories?sort=-critical", "viewer")
        .await;
    assert_eq!(repos.status, StatusCode::OK, "{}", repos.text);
    insta::assert_json_snapshot!("repositories_by_critical", repos.body);
    assert_eq!(repos.body["total"], 3);
    assert_eq!(
        repos.body["items"][0]["repository"],
        "docker.io/library/nginx"
    );

    let paged = app
        .get(
            "/api/v1/repositories?sort=repository&limit=1&offset=1",
            "viewer",
        )
        .await;
    assert_eq!(paged.body["total"], 3);
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(paged.body["items"][0]["repository"], "ghcr.io/acme/api");

    let fixable = app
        .get(
            "/api/v1/repositories?fixable=true&severity=critical",
            "viewer",
        )
        .await;
    assert_eq!(fixable.body["total"], 1, "{}", fixable.text);

    let image = app
        .get(
            &format!("/api/v1/images/{}", digest_of("nginx-1.25")),
            "viewer",
        )
        .await;
    assert_eq!(image.status, StatusCode::OK, "{}", image.text);
    assert_eq!(image.body["repository"], "docker.io/library/nginx");
    assert_eq!(
        image.body["other_digests"][0]["digest"],
        digest_of("nginx-1.27")
    );

    let vulns = app
        .get(
            &format!("/api/v1/images/{}/vulnerabilities", digest_of("nginx-1.25")),
            "viewer",
        )
        .await;
    let ids: Vec<&str> = vulns.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["finding"]["id"].as_str().unwrap())
        .collect();
    // Sorted by CVSS, highest first.
    assert_eq!(
        ids,
        [
            "CVE-2023-44487",
            "CVE-2024-2961",
            "CVE-2023-4911",
            "CVE-2022-0563"
        ]
    );
    let layer1 = app
        .get(
            &format!(
                "/api/v1/images/{}/vulnerabilities?layers=1",
                digest_of("nginx-1.25")
            ),
            "viewer",
        )
        .await;
    assert_eq!(layer1.body["total"], 1);

    let resources = app
        .get(
            &format!("/api/v1/images/{}/resources", digest_of("nginx-1.27")),
            "viewer",
        )
        .await;
    assert_eq!(resources.body["items"][0]["cluster"], "prod");
    assert_eq!(resources.body["items"][0]["namespace"], "web");

    let remediation = app.get("/api/v1/remediation", "viewer").await;
    assert_eq!(remediation.status, StatusCode::OK, "{}", remediation.text);
    assert_eq!(
        remediation.body["items"][0]["name"], "glibc",
        "{}",
        remediation.text
    );
}

#[tokio::test]
async fn bad_queries_are_clear_400s() {
    let app = app().await;
    let long_selector = format!("labels={}", "a=b,".repeat(400));
    let huge_query = format!("q={}", "x".repeat(9000));
    let cases: &[(&str, &str)] = &[
        (
            "/api/v1/statistics?clustre=prod",
            "unknown query parameter \"clustre\"",
        ),
        ("/api/v1/statistics?labels=%3D%3D", "label selector"),
        (
            &format!("/api/v1/statistics?{long_selector}"),
            "label selector",
        ),
        ("/api/v1/statistics?severity=urgent", "severity \"urgent\""),
        ("/api/v1/statistics?status=maybe", "status must be"),
        (
            "/api/v1/statistics?fixable=yes",
            "fixable must be true or false",
        ),
        ("/api/v1/statistics?view=both", "view must be"),
        ("/api/v1/repositories?sort=-password", "unknown sort field"),
        (
            "/api/v1/repositories?limit=ten",
            "limit must be a whole number",
        ),
        ("/api/v1/repositories?offset=99999999999", "offset"),
        (
            "/api/v1/repositories?sort=images&sort=-images",
            "sort may be given once",
        ),
        ("/api/v1/images/latest", "is not a digest"),
        ("/api/v1/images/sha256:abc/packages", "is not a digest"),
        (
            &format!("/api/v1/repositories?{huge_query}"),
            "longer than 8192",
        ),
        ("/api/v1/exceptions?state=sleeping", "state must be"),
    ];
    for (uri, expected) in cases {
        let answer = app.get(uri, "viewer").await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            answer.text
        );
        assert_eq!(answer.body["error"]["code"], "bad-request", "{uri}");
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "{uri}: {message:?} lacks {expected:?}"
        );
    }
    // A huge limit is capped, not refused.
    let capped = app.get("/api/v1/repositories?limit=100000", "viewer").await;
    assert_eq!(capped.status, StatusCode::OK);
    assert_eq!(capped.body["limit"], 500);
    let missing = app
        .get(
            &format!("/api/v1/images/{}", digest_of("never-seen")),
            "viewer",
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let nowhere = app.get("/api/v1/nothing-here", "viewer").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn exceptions_leave_the_report_and_keep_their_history() {
    let app = app().await;
    app.seed().await;
    let created = app
        .post(
            "/api/v1/exceptions",
            "editor",
            json!({
                "scopes": [
                    {"scope": "repository", "repository": "docker.io/library/nginx"},
                    {"scope": "repository", "repository": "ghcr.io/acme/api"}
                ],
                "reason": "base images replaced next sprint (JIRA-42)"
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let ids = created.body["ids"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 2);

    let active = app.get("/api/v1/repositories", "viewer").await;
    assert_eq!(active.body["total"], 1, "{}", active.text);
    let excepted = app
        .get("/api/v1/repositories?view=excepted", "viewer")
        .await;
    assert_eq!(excepted.body["total"], 2);
    let row = &excepted.body["items"][0];
    assert_eq!(
        row["exception"]["reason"],
        "base images replaced next sprint (JIRA-42)"
    );
    assert_eq!(row["exception"]["author"], "token:editor");
    let stats = app.get("/api/v1/statistics", "viewer").await;
    assert_eq!(stats.body["repositories"], 1);
    assert_eq!(stats.body["vulnerabilities"]["critical"], 0);

    let first = ids[0].clone();
    let cancel = app
        .post(
            "/api/v1/exceptions/cancel",
            "editor",
            json!({"ids": [first], "reason": "sprint slipped"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::NO_CONTENT, "{}", cancel.text);
    let active = app.get("/api/v1/repositories", "viewer").await;
    assert_eq!(active.body["total"], 2);
    let history = app.get("/api/v1/exceptions/history", "viewer").await;
    let kinds: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "created", "cancelled"]);
    let cancelled = &history.body["items"][2];
    assert_eq!(cancelled["actor"], "token:editor");
    assert_eq!(cancelled["reason"], "sprint slipped");

    for (body, expected) in [
        (json!({"scopes": [], "reason": "x"}), "scopes must list"),
        (
            json!({"scopes": [{"scope": "repository", "repository": "r"}], "reason": "  "}),
            "a reason is required",
        ),
        (
            json!({"scopes": [{"scope": "repository", "repository": "r"}], "reason": "x", "expires": "2020-01-01T00:00:00Z"}),
            "expires must be in the future",
        ),
        (
            json!({"scopes": [{"scope": "galaxy"}], "reason": "x"}),
            "malformed JSON body",
        ),
        (
            json!({"scopes": [{"scope": "repository", "repository": "r"}], "reason": "x", "author": "someone else"}),
            "unknown field `author`",
        ),
    ] {
        let answer = app.post("/api/v1/exceptions", "editor", body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert!(
            answer.text.contains(expected),
            "{} lacks {expected}",
            answer.text
        );
    }
    let too_long = app
        .post(
            "/api/v1/exceptions",
            "editor",
            json!({"scopes": [{"scope": "repository", "repository": "r"}], "reason": "x".repeat(5000)}),
        )
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.text
    );
}

#[tokio::test]
async fn sessions_log_in_check_csrf_and_log_out() {
    let app = app().await;
    let password = Secret::from_client("correct horse battery staple");
    app.store
        .create_user(
            &NewUser {
                name: "ada".to_owned(),
                role: Role::Editor,
                password_hash: hash_password(&password).unwrap(),
                must_change_password: false,
            },
            at(0),
        )
        .await
        .unwrap();
    let login = |name: &str, password: &str| {
        serde_json::to_vec(&json!({"name": name, "password": password})).unwrap()
    };
    for (name, pw) in [("ada", "wrong"), ("nobody", "correct horse battery staple")] {
        let refused = app
            .request(Method::POST, "/api/v1/login", &[], Some(login(name, pw)))
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.body["error"]["message"], "wrong name or password");
    }
    let ok = app
        .request(
            Method::POST,
            "/api/v1/login",
            &[],
            Some(login("ada", "correct horse battery staple")),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let set_cookie = ok.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = ok.body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(ok.body["role"], "editor");

    let me = app
        .request(Method::GET, "/api/v1/me", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.body,
        json!({"name": "ada", "role": "editor", "via": "session", "must_change_password": false})
    );

    let body = serde_json::to_vec(&json!({
        "scopes": [{"scope": "vulnerability", "vulnerability": "CVE-2022-0563", "repository": null}],
        "reason": "util-linux: not reachable in containers"
    }))
    .unwrap();
    let no_csrf = app
        .request(
            Method::POST,
            "/api/v1/exceptions",
            &[("cookie", &cookie)],
            Some(body.clone()),
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let wrong_csrf = app
        .request(
            Method::POST,
            "/api/v1/exceptions",
            &[("cookie", &cookie), ("x-csrf-token", "ssc_forged")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(wrong_csrf.status, StatusCode::FORBIDDEN);
    let with_csrf = app
        .request(
            Method::POST,
            "/api/v1/exceptions",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            Some(body),
        )
        .await;
    assert_eq!(with_csrf.status, StatusCode::CREATED, "{}", with_csrf.text);
    let listed = app.get("/api/v1/exceptions", "viewer").await;
    assert_eq!(listed.body["items"][0]["author"], "ada");

    let out = app
        .request(Method::POST, "/api/v1/logout", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = app
        .request(Method::GET, "/api/v1/me", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

fn message(cluster: &str, sequence: u64, body: MessageBody) -> Vec<u8> {
    serde_json::to_vec(&AgentMessage {
        version: PROTOCOL_VERSION,
        cluster: cluster.to_owned(),
        run: "test-run".to_owned(),
        sequence,
        body,
    })
    .unwrap()
}

#[tokio::test]
async fn agents_ingest_only_for_their_cluster() {
    let app = app().await;
    let inventory = fixtures::inventory("prod", at(NOW), ClusterStatus::Ok, vec![]);
    let snapshot = |cluster: &str, sequence| {
        message(
            cluster,
            sequence,
            MessageBody::Snapshot(Snapshot {
                inventory: fixtures::inventory(cluster, at(NOW), ClusterStatus::Ok, vec![]),
            }),
        )
    };
    let auth = format!("Bearer {}", app.tokens["agent"]);
    let send = |bytes: Vec<u8>| {
        let auth = auth.clone();
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/api/v1/agents/ingest",
                &[("authorization", &auth)],
                Some(bytes),
            )
            .await
        }
    };
    let accepted = send(snapshot("prod", 1)).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.body, json!({"result": "accepted", "sequence": 1}));
    let again = send(snapshot("prod", 1)).await;
    assert_eq!(again.body, json!({"result": "accepted", "sequence": 1}));
    let gap = send(message(
        "prod",
        5,
        MessageBody::Delta(Delta {
            follows: 3,
            changes: vec![],
        }),
    ))
    .await;
    assert_eq!(gap.body["result"], "resnapshot", "{}", gap.text);

    let other = send(snapshot("staging", 2)).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let mut newer: Value = serde_json::from_slice(&snapshot("prod", 3)).unwrap();
    newer["version"] = json!(99);
    let version = send(serde_json::to_vec(&newer).unwrap()).await;
    assert_eq!(version.status, StatusCode::BAD_REQUEST);
    assert!(
        version.text.contains("version 99 is not supported"),
        "{}",
        version.text
    );
    let garbage = send(b"{\"version\": 1, \"cluster\": \"prod\"".to_vec()).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let huge = send(vec![b' '; 300 * 1024]).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);

    // A viewer token is not an agent token.
    let viewer = app
        .post(
            "/api/v1/agents/ingest",
            "viewer",
            serde_json::from_slice(&snapshot("prod", 9)).unwrap(),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let clusters = app.get("/api/v1/clusters", "viewer").await;
    assert_eq!(clusters.body[0]["name"], "prod");
    assert_eq!(clusters.body[0]["last_sequence"], 1);
    drop(inventory);
}

#[tokio::test]
async fn admins_issue_tokens_shown_once() {
    let app = app().await;
    let created = app
        .post(
            "/api/v1/tokens",
            "admin",
            json!({"name": "ci", "role": "editor"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let token = created.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ssp_"));
    let me = app
        .request(
            Method::GET,
            "/api/v1/me",
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await;
    assert_eq!(me.body["role"], "editor");
    let listed = app.get("/api/v1/tokens", "admin").await;
    assert!(
        !listed.text.contains(&token),
        "a token list never shows token values"
    );
    assert!(!listed.text.contains("hash"), "nor their hashes");
    let id = created.body["id"].as_i64().unwrap();
    let auth = format!("Bearer {}", app.tokens["admin"]);
    let revoked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let after = app
        .request(
            Method::GET,
            "/api/v1/me",
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    let agent = app
        .post(
            "/api/v1/tokens",
            "admin",
            json!({"name": "prod-agent", "cluster": "prod", "role": "admin"}),
        )
        .await;
    assert_eq!(
        agent.status,
        StatusCode::BAD_REQUEST,
        "an agent token has no role"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = app().await;
    app.seed().await;
    app.get(
        &format!("/api/v1/images/{}", digest_of("nginx-1.27")),
        "viewer",
    )
    .await;
    let metrics = app.get("/metrics", "viewer").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains(
            "shipshape_http_requests_total{method=\"GET\",route=\"/api/v1/images/{digest}\",status=\"200\"} 1"
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("shipshape_images 4"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("shipshape_cluster_up{cluster=\"prod\"} 1")
    );
}

/// The schema of an answer, as the OpenAPI document gives it, wrapped so
/// its `$ref`s resolve against the document's components.
fn answer_schema(doc: &Value, method: &str, template: &str, status: StatusCode) -> Value {
    let content = &doc["paths"][template][method.to_ascii_lowercase()]["responses"]
        [status.as_str()]["content"];
    let schema = content["application/json"]["schema"].clone();
    assert!(
        !schema.is_null(),
        "{method} {template} {status}: no JSON schema in openapi.json"
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"].clone(),
        "allOf": [schema],
    })
}

fn assert_valid(doc: &Value, method: &str, template: &str, answer: &Answer) {
    let schema = answer_schema(doc, method, template, answer.status);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&answer.body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template}: {errors:#?}\n{}",
        answer.text
    );
}

#[tokio::test]
async fn openapi_describes_every_endpoint_and_every_answer() {
    let doc: Value = serde_json::from_str(server::api::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut served: Vec<(String, String)> = ENDPOINTS
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .chain(
            [
                ("GET", "/healthz"),
                ("GET", "/readyz"),
                ("POST", "/api/v1/login"),
                ("POST", "/api/v1/logout"),
            ]
            .map(|(m, p)| (m.to_owned(), p.to_owned())),
        )
        .collect();
    served.sort();
    assert_eq!(documented, served, "openapi.json and the router disagree");

    let app = app().await;
    app.seed().await;
    let nginx = digest_of("nginx-1.25");
    let exception = app
        .post(
            "/api/v1/exceptions",
            "editor",
            json!({"scopes": [{"scope": "vulnerability", "vulnerability": "CVE-2022-0563", "repository": null}],
                   "reason": "not reachable", "expires": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_valid(&doc, "POST", "/api/v1/exceptions", &exception);
    for (template, uri, who) in [
        ("/api/v1/me", "/api/v1/me".to_owned(), "viewer"),
        (
            "/api/v1/statistics",
            "/api/v1/statistics?cluster=prod".to_owned(),
            "viewer",
        ),
        (
            "/api/v1/repositories",
            "/api/v1/repositories".to_owned(),
            "viewer",
        ),
        (
            "/api/v1/images/{digest}",
            format!("/api/v1/images/{nginx}"),
            "viewer",
        ),
        (
            "/api/v1/images/{digest}/vulnerabilities",
            format!("/api/v1/images/{nginx}/vulnerabilities?include_excepted=true"),
            "viewer",
        ),
        (
            "/api/v1/images/{digest}/packages",
            format!("/api/v1/images/{nginx}/packages"),
            "viewer",
        ),
        (
            "/api/v1/images/{digest}/resources",
            format!("/api/v1/images/{nginx}/resources"),
            "viewer",
        ),
        (
            "/api/v1/remediation",
            "/api/v1/remediation".to_owned(),
            "viewer",
        ),
        (
            "/api/v1/remediation/base-images",
            "/api/v1/remediation/base-images?cluster=prod".to_owned(),
            "viewer",
        ),
        ("/api/v1/clusters", "/api/v1/clusters".to_owned(), "viewer"),
        (
            "/api/v1/exceptions",
            "/api/v1/exceptions?state=all".to_owned(),
            "viewer",
        ),
        (
            "/api/v1/exceptions/history",
            "/api/v1/exceptions/history".to_owned(),
            "viewer",
        ),
        (
            "/api/v1/exceptions/stale",
            "/api/v1/exceptions/stale".to_owned(),
            "viewer",
        ),
        ("/api/v1/tokens", "/api/v1/tokens".to_owned(), "admin"),
        (
            "/api/v1/report.json",
            "/api/v1/report.json?cluster=prod".to_owned(),
            "viewer",
        ),
        (
            "/api/v1/exceptions/openvex",
            "/api/v1/exceptions/openvex".to_owned(),
            "viewer",
        ),
        ("/api/v1/users", "/api/v1/users".to_owned(), "admin"),
        (
            "/api/v1/statistics",
            "/api/v1/statistics?labels=nope%3D%3D".to_owned(),
            "viewer",
        ),
        (
            "/api/v1/images/{digest}",
            format!("/api/v1/images/{}", digest_of("unknown")),
            "viewer",
        ),
    ] {
        let answer = app.get(&uri, who).await;
        assert_valid(&doc, "GET", template, &answer);
    }
    let token = app
        .post("/api/v1/tokens", "admin", json!({"name": "ci"}))
        .await;
    assert_valid(&doc, "POST", "/api/v1/tokens", &token);
    let user = app
        .post(
            "/api/v1/users",
            "admin",
            json!({"name": "bob", "role": "viewer", "password": "a long enough password"}),
        )
        .await;
    assert_valid(&doc, "POST", "/api/v1/users", &user);
    let auth = format!("Bearer {}", app.tokens["admin"]);
    for body in [json!({"role": "editor", "disabled": true}), json!({})] {
        let patched = app
            .request(
                Method::PATCH,
                &format!("/api/v1/users/{}", user.body["id"]),
                &[("authorization", &auth)],
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert_valid(&doc, "PATCH", "/api/v1/users/{id}", &patched);
    }
    let ingest = app
        .post(
            "/api/v1/agents/ingest",
            "agent",
            serde_json::from_slice(&message(
                "prod",
                1,
                MessageBody::Snapshot(Snapshot {
                    inventory: fixtures::inventory("prod", at(NOW), ClusterStatus::Ok, vec![]),
                }),
            ))
            .unwrap(),
        )
        .await;
    assert_valid(&doc, "POST", "/api/v1/agents/ingest", &ingest);
    let refused = app.get("/api/v1/tokens", "viewer").await;
    assert_valid(&doc, "GET", "/api/v1/tokens", &refused);
}

#[tokio::test]
async fn exports_follow_the_filter() {
    let app = app().await;
    app.seed().await;
    let csv = app
        .get("/api/v1/report.csv?cluster=staging", "viewer")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 2, "{}", csv.text);
    assert!(lines[0].starts_with("repository,images,critical,high,"));
    assert!(
        lines[1].starts_with("docker.io/library/nginx,1,1,2,0,1,0,0,3,1,1,1.25,"),
        "{}",
        lines[1]
    );
    let json = app.get("/api/v1/report.json", "viewer").await;
    assert_eq!(json.body["repositories_total"], 3);
    assert_eq!(json.body["statistics"]["images"], 4);

    app.post(
        "/api/v1/exceptions",
        "editor",
        json!({"scopes": [
            {"scope": "vulnerability", "vulnerability": "CVE-2022-0563", "repository": "docker.io/library/nginx"},
            {"scope": "repository", "repository": "ghcr.io/acme/api"}
        ], "reason": "util-linux is not reachable"}),
    )
    .await;
    let vex = app.get("/api/v1/exceptions/openvex", "viewer").await;
    assert_eq!(vex.status, StatusCode::OK, "{}", vex.text);
    let statements = vex.body["statements"].as_array().unwrap();
    assert_eq!(
        statements.len(),
        1,
        "repository exceptions are not VEX statements"
    );
    assert_eq!(statements[0]["vulnerability"]["name"], "CVE-2022-0563");
    assert_eq!(
        statements[0]["products"][0]["@id"],
        "pkg:oci/nginx?repository_url=docker.io/library/nginx"
    );
    assert_eq!(statements[0]["status"], "not_affected");
    assert_eq!(
        statements[0]["impact_statement"],
        "util-linux is not reachable (excepted by token:editor)"
    );
}

#[tokio::test]
async fn per_image_documents_come_from_the_stored_sbom_and_findings() {
    let app = app().await;
    app.seed().await;
    let nginx = digest_of("nginx-1.25");
    let cdx = app
        .get(&format!("/api/v1/images/{nginx}/sbom"), "viewer")
        .await;
    assert_eq!(cdx.status, StatusCode::OK, "{}", cdx.text);
    assert_eq!(cdx.body["bomFormat"], "CycloneDX");
    assert_eq!(cdx.body["specVersion"], "1.5");
    let ids: Vec<&str> = cdx.body["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(ids.contains(&"CVE-2023-44487"));
    let spdx = app
        .get(
            &format!("/api/v1/images/{nginx}/sbom?format=spdx"),
            "viewer",
        )
        .await;
    assert_eq!(spdx.status, StatusCode::OK, "{}", spdx.text);
    assert_eq!(spdx.body["spdxVersion"], "SPDX-2.3");
    let names: Vec<&str> = spdx.body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"glibc") && names.contains(&"nghttp2"),
        "{names:?}"
    );
    let sarif = app
        .get(&format!("/api/v1/images/{nginx}/sarif"), "viewer")
        .await;
    assert_eq!(sarif.status, StatusCode::OK, "{}", sarif.text);
    assert_eq!(sarif.body["version"], "2.1.0");
    assert_eq!(
        sarif.body["runs"][0]["results"].as_array().unwrap().len(),
        4
    );

    // An excepted vulnerability leaves the documents too.
    app.post(
        "/api/v1/exceptions",
        "editor",
        json!({"scopes": [{"scope": "vulnerability", "vulnerability": "CVE-2023-44487", "repository": null}],
               "reason": "HTTP/2 is off"}),
    )
    .await;
    let sarif = app
        .get(&format!("/api/v1/images/{nginx}/sarif"), "viewer")
        .await;
    assert_eq!(
        sarif.body["runs"][0]["results"].as_array().unwrap().len(),
        3
    );

    let bad = app
        .get(
            &format!("/api/v1/images/{nginx}/sbom?format=swid"),
            "viewer",
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let missing = app
        .get(
            &format!("/api/v1/images/{}/sarif", digest_of("never")),
            "viewer",
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

// ---- Passwords, users, login limits ------------------------------------------

impl App {
    /// A request from a client address, as `serve` records it (connect info).
    async fn request_from(
        &self,
        client: std::net::SocketAddr,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder = builder.header(header::CONTENT_TYPE, "application/json");
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let mut request = builder.body(body).unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(client));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    async fn login(&self, name: &str, password: &str) -> Answer {
        self.request_from(
            client(1),
            Method::POST,
            "/api/v1/login",
            &[],
            Some(json!({"name": name, "password": password})),
        )
        .await
    }

    async fn add_user(&self, name: &str, role: Role, password: &str, must_change: bool) -> i64 {
        self.store
            .create_user(
                &NewUser {
                    name: name.to_owned(),
                    role,
                    password_hash: hash_password(&Secret::from_client(password)).unwrap(),
                    must_change_password: must_change,
                },
                at(0),
            )
            .await
            .unwrap()
            .0
    }
}

fn client(n: u8) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, n], 40_000))
}

/// A logged-in browser session: the cookie and the CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    fn from_login(answer: &Answer) -> Browser {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
        Browser {
            cookie: set_cookie.split(';').next().unwrap().to_owned(),
            csrf: answer.body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn send(&self, app: &App, method: Method, uri: &str, body: Option<Value>) -> Answer {
        app.request_from(
            client(1),
            method,
            uri,
            &[("cookie", &self.cookie), ("x-csrf-token", &self.csrf)],
            body,
        )
        .await
    }
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let app = app().await;
    let (name, generated) = server::session::ensure_first_admin(app.store.as_ref(), at(0), None)
        .await
        .unwrap()
        .unwrap();
    let one_time = generated.unwrap().expose().to_owned();
    let first = app.login(&name, &one_time).await;
    assert_eq!(first.body["must_change_password"], true);
    let browser = Browser::from_login(&first);
    let other = Browser::from_login(&app.login(&name, &one_time).await);

    // (method, uri, body, status while the one-time password stands)
    let held_back: &[(Method, &str, Option<Value>, StatusCode)] = &[
        (Method::GET, "/api/v1/me", None, StatusCode::OK),
        (
            Method::GET,
            "/api/v1/statistics",
            None,
            StatusCode::FORBIDDEN,
        ),
        (Method::GET, "/api/v1/users", None, StatusCode::FORBIDDEN),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "sneaky"})),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (method, uri, body, status) in held_back {
        let answer = browser.send(&app, method.clone(), uri, body.clone()).await;
        assert_eq!(answer.status, *status, "{method} {uri}: {}", answer.text);
        if *status == StatusCode::FORBIDDEN {
            assert!(
                answer.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("PUT /api/v1/me/password"),
                "{}",
                answer.text
            );
        }
    }
    let me = browser.send(&app, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.body["must_change_password"], true);
    // API tokens are not held back by a user's one-time password.
    assert_eq!(
        app.get("/api/v1/statistics", "admin").await.status,
        StatusCode::OK
    );

    // (current, new, status, error message fragment)
    let attempts = [
        (
            "wrong password!",
            "a brand new passphrase",
            StatusCode::FORBIDDEN,
            "current password is wrong",
        ),
        (
            one_time.as_str(),
            "short",
            StatusCode::BAD_REQUEST,
            "at least 12 characters",
        ),
        (
            one_time.as_str(),
            one_time.as_str(),
            StatusCode::BAD_REQUEST,
            "must differ",
        ),
    ];
    for (current, new, status, message) in attempts {
        let answer = browser
            .send(
                &app,
                Method::PUT,
                "/api/v1/me/password",
                Some(json!({"current_password": current, "new_password": new})),
            )
            .await;
        assert_eq!(answer.status, status, "{new}: {}", answer.text);
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{}",
            answer.text
        );
    }
    let changed = browser
        .send(
            &app,
            Method::PUT,
            "/api/v1/me/password",
            Some(json!({"current_password": one_time, "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);

    let now_allowed = browser
        .send(&app, Method::GET, "/api/v1/statistics", None)
        .await;
    assert_eq!(
        now_allowed.status,
        StatusCode::OK,
        "the changing session stays"
    );
    let revoked = other.send(&app, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        revoked.status,
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    assert_eq!(
        app.login(&name, &one_time).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app.login(&name, "a brand new passphrase").await;
    assert_eq!(again.body["must_change_password"], false);

    // A token may not change a password (it proves no person).
    let by_token = app
        .request(
            Method::PUT,
            "/api/v1/me/password",
            &[("authorization", &format!("Bearer {}", app.tokens["admin"]))],
            Some(
                json!({"current_password": "x", "new_password": "a brand new passphrase 2"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(by_token.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_change_roles_and_disable_users_at_once() {
    let app = app().await;
    let root = app
        .add_user("root", Role::Admin, "root password 123", false)
        .await;
    let ada = app
        .add_user("ada", Role::Admin, "ada's password 123", false)
        .await;
    let root_browser = Browser::from_login(&app.login("root", "root password 123").await);
    let ada_browser = Browser::from_login(&app.login("ada", "ada's password 123").await);
    let ada_token = Secret::generate(SecretKind::ApiToken).unwrap();
    app.store
        .create_token(
            &NewToken {
                name: "ada-ci".to_owned(),
                token_hash: ada_token.hash(),
                role: Role::Admin,
                user: Some(store::UserId(ada)),
                cluster: None,
            },
            at(0),
        )
        .await
        .unwrap();
    let ada_token_me = async || {
        app.request(
            Method::GET,
            "/api/v1/me",
            &[("authorization", &format!("Bearer {}", ada_token.expose()))],
            None,
        )
        .await
    };

    // (user, body, status, role after, disabled after, ada's session and token work)
    let cases: Vec<(i64, Value, StatusCode, &str, bool, bool)> = vec![
        (
            ada,
            json!({"role": "editor"}),
            StatusCode::OK,
            "editor",
            false,
            true,
        ),
        (
            root,
            json!({"role": "viewer"}),
            StatusCode::CONFLICT,
            "admin",
            false,
            true,
        ),
        (
            root,
            json!({"disabled": true}),
            StatusCode::CONFLICT,
            "admin",
            false,
            true,
        ),
        (
            ada,
            json!({"disabled": true}),
            StatusCode::OK,
            "editor",
            true,
            false,
        ),
        (
            ada,
            json!({"disabled": false, "role": "admin"}),
            StatusCode::OK,
            "admin",
            false,
            false,
        ),
        (
            ada,
            json!({}),
            StatusCode::BAD_REQUEST,
            "admin",
            false,
            false,
        ),
        (
            ada,
            json!({"role": "owner"}),
            StatusCode::BAD_REQUEST,
            "admin",
            false,
            false,
        ),
        (
            ada,
            json!({"name": "eve"}),
            StatusCode::BAD_REQUEST,
            "admin",
            false,
            false,
        ),
        (
            999,
            json!({"disabled": true}),
            StatusCode::NOT_FOUND,
            "admin",
            false,
            false,
        ),
    ];
    for (i, (id, body, status, role, disabled, ada_works)) in cases.into_iter().enumerate() {
        let answer = root_browser
            .send(
                &app,
                Method::PATCH,
                &format!("/api/v1/users/{id}"),
                Some(body),
            )
            .await;
        assert_eq!(answer.status, status, "case {i}: {}", answer.text);
        if status == StatusCode::CONFLICT {
            assert!(
                answer.text.contains("last enabled admin"),
                "{}",
                answer.text
            );
        }
        if id == 999 {
            continue;
        }
        let users = app.get("/api/v1/users", "admin").await;
        let listed = users
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .unwrap();
        assert_eq!(
            (
                listed["role"].as_str().unwrap(),
                listed["disabled"].as_bool().unwrap()
            ),
            (role, disabled),
            "case {i}: listed"
        );
        let user = app.store.user(store::UserId(id)).await.unwrap().unwrap();
        assert_eq!(
            (user.role.as_str(), user.disabled),
            (role, disabled),
            "case {i}"
        );
        let session = ada_browser
            .send(&app, Method::GET, "/api/v1/me", None)
            .await;
        let token = ada_token_me().await;
        assert_eq!(
            session.status == StatusCode::OK,
            ada_works,
            "case {i}: session"
        );
        assert_eq!(
            token.status == StatusCode::OK,
            !disabled || id != ada,
            "case {i}: token"
        );
    }
    // Re-enabled: the token works again (it was never revoked), capped at
    // the user's role; the deleted session does not come back.
    assert_eq!(ada_token_me().await.body["role"], "admin");
    let demoted = root_browser
        .send(
            &app,
            Method::PATCH,
            &format!("/api/v1/users/{ada}"),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(demoted.body["role"], "viewer", "{}", demoted.text);
    assert_eq!(ada_token_me().await.body["role"], "viewer");
}

#[tokio::test]
async fn logins_are_rate_limited_per_name_and_per_address() {
    let clock = Arc::new(std::sync::atomic::AtomicI64::new(NOW));
    let ticking = clock.clone();
    let app = app_with_clock(Arc::new(move || {
        at(ticking.load(std::sync::atomic::Ordering::SeqCst))
    }))
    .await;
    app.add_user("ada", Role::Viewer, "ada's password 123", false)
        .await;
    let attempt = async |name: &str, password: &str, from: u8| {
        app.request_from(
            client(from),
            Method::POST,
            "/api/v1/login",
            &[],
            Some(json!({"name": name, "password": password})),
        )
        .await
    };
    // Five wrong passwords for a name, each from another address.
    for from in 1..=5 {
        assert_eq!(
            attempt("ada", "wrong", from).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Now even the right password is refused for a while, from anywhere,
    // with a Retry-After; other names are not affected.
    clock.fetch_add(60, std::sync::atomic::Ordering::SeqCst);
    let limited = attempt("ada", "ada's password 123", 9).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert_eq!(limited.body["error"]["code"], "too-many-requests");
    assert_eq!(limited.headers[header::RETRY_AFTER], "840");
    assert_eq!(
        attempt("bob", "wrong", 9).await.status,
        StatusCode::UNAUTHORIZED
    );
    // When the 15-minute window ends, the right password works and clears the count.
    clock.fetch_add(841, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        attempt("ada", "ada's password 123", 9).await.status,
        StatusCode::OK
    );
    assert_eq!(
        attempt("ada", "wrong", 9).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        attempt("ada", "ada's password 123", 9).await.status,
        StatusCode::OK
    );

    // One address guessing many names (unknown ones too): 30 failures, then 429.
    for n in 0..30 {
        let answer = attempt(&format!("guess-{n}"), "wrong", 7).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let blocked = attempt("ada", "ada's password 123", 7).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        attempt("ada", "ada's password 123", 8).await.status,
        StatusCode::OK
    );
}

/// An unknown name costs what a wrong password costs (an Argon2id
/// verification of a dummy hash), so timing does not tell which names exist.
/// Compared as the fastest of several attempts each, loosely, as the
/// machine is shared.
#[tokio::test]
async fn unknown_names_take_as_long_as_wrong_passwords() {
    let app = app().await;
    app.add_user("ada", Role::Viewer, "ada's password 123", false)
        .await;
    // The dummy hash is made on first use (or at start-up by ensure_first_admin).
    server::session::ensure_first_admin(app.store.as_ref(), at(0), None)
        .await
        .unwrap();
    let fastest = async |name: &str, from: u8| {
        let mut best = std::time::Duration::MAX;
        // 4 tries: under the per-name limit of 5.
        for _ in 0..4 {
            let started = std::time::Instant::now();
            let answer = app
                .request_from(
                    client(from),
                    Method::POST,
                    "/api/v1/login",
                    &[],
                    Some(json!({"name": name, "password": "not the password"})),
                )
                .await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
            best = best.min(started.elapsed());
        }
        best
    };
    let wrong_password = fastest("ada", 1).await;
    let unknown_name = fastest("nobody-by-this-name", 2).await;
    // An unknown name without the Argon2 work would answer hundreds of times
    // faster; the wide bound keeps a busy machine's noise from failing it.
    assert!(
        unknown_name * 4 >= wrong_password && wrong_password * 4 >= unknown_name,
        "unknown name {unknown_name:?} vs wrong password {wrong_password:?}"
    );
}
