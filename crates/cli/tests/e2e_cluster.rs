//! The end-to-end test: a real registry (Debian's `docker-registry`),
//! a real API server (`testkit::kube`) and the real `shipshape serve`
//! binary. Images built here (with real dpkg databases) are pushed, run as
//! Deployments and a bare Pod (kubelet-style statuses give them imageIDs),
//! and the server, watching the cluster through a kubeconfig context,
//! scans them and answers the report. Skips with a message when the
//! registry or the cluster binaries are absent.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::serve::Server;
use testkit::kube::{KubeTestCluster, Resource, objects};
use testkit::{BuiltImage, ImageBuilder, LayerBuilder, TestRegistry};

const PASSWORD: &str = "e2e-admin-password";
/// The whole test (after the registry and cluster are up) stays under a minute.
const BUDGET: Duration = Duration::from_secs(60);

const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";

fn dpkg_status(packages: &[(&str, &str)]) -> String {
    packages
        .iter()
        .map(|(name, version)| {
            format!(
                "Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: {version}\nDescription: {name}\n\n"
            )
        })
        .collect()
}

/// A Debian 12 image: a base layer with os-release and a dpkg database, and
/// an application layer unique to `label`.
fn debian_image(label: &str, packages: &[(&str, &str)]) -> BuiltImage {
    ImageBuilder::oci()
        .layer(
            LayerBuilder::new()
                .file("etc/os-release", OS_RELEASE, 0o644)
                .file("var/lib/dpkg/status", dpkg_status(packages), 0o644),
        )
        .layer(LayerBuilder::new().file("srv/app/label", format!("{label}\n"), 0o644))
        .build()
        .expect("image builds")
}

/// `shipshape --data-dir DATA serve ARGS` with the admin password preset and
/// no periodic database update.
fn serve(data_dir: &Path, args: &[&str]) -> Server {
    serve_with(data_dir, args, Some(PASSWORD))
}

/// [`serve`], optionally without a preset admin password.
fn serve_with(data_dir: &Path, args: &[&str], preset: Option<&str>) -> Server {
    let mut args = args.to_vec();
    args.extend(["--db-update-hours", "0"]);
    support::serve::serve(Some(data_dir), &args, preset, Duration::from_secs(30))
}

struct Api {
    client: reqwest::Client,
    url: String,
    cookie: String,
}

impl Api {
    async fn login(url: &str) -> Api {
        let client = reqwest::Client::new();
        let (cookie, body) = support::serve::login(&client, url, PASSWORD).await;
        assert_eq!(
            body["must_change_password"], false,
            "a preset password is the operator's choice"
        );
        Api {
            client,
            url: url.to_owned(),
            cookie,
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// Polls `path` until `done` holds, within what is left of `deadline`.
    async fn until(
        &self,
        what: &str,
        deadline: Instant,
        path: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        loop {
            let answer = self.get(path).await;
            if done(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "{what}: still {answer:#}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn ids(list: &Value, pointer: &str) -> Vec<String> {
    let mut ids: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| {
            row.pointer(pointer)
                .and_then(Value::as_str)
                .expect(pointer)
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// One image the test runs: where it runs and what it must be found to hold.
struct Running {
    repository: &'static str,
    packages: &'static [(&'static str, &'static str)],
    namespace: &'static str,
    /// `Deployment` (one replica) or `Pod`.
    kind: &'static str,
    name: &'static str,
    /// The advisory IDs the demo's Debian data gives these packages.
    vulnerabilities: &'static [&'static str],
}

const FLEET: &[Running] = &[
    Running {
        repository: "shop/api",
        packages: &[("openssl", "3.0.9-1"), ("tar", "1.34+dfsg-1.2")],
        namespace: "shop",
        kind: "Deployment",
        name: "api",
        vulnerabilities: &[
            "CVE-2005-2541",
            "CVE-2023-39804",
            "CVE-2023-5363",
            "CVE-2023-5678",
            "CVE-2024-0727",
            "CVE-2024-5535",
            "CVE-2024-6119",
        ],
    },
    Running {
        repository: "shop/web",
        packages: &[
            ("openssl", "3.0.14-1~deb12u2"),
            ("curl", "7.88.1-10+deb12u3"),
        ],
        namespace: "shop",
        kind: "Deployment",
        name: "web",
        vulnerabilities: &["CVE-2023-38545", "CVE-2023-38546", "CVE-2023-46218"],
    },
    Running {
        repository: "tools/toolbox",
        packages: &[("tar", "1.34+dfsg-1.2+deb12u1")],
        namespace: "tools",
        kind: "Pod",
        name: "toolbox",
        vulnerabilities: &["CVE-2005-2541"],
    },
];

// The elapsed time is printed: it is the figure this test exists to keep low.
#[allow(clippy::print_stderr)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_images_are_scanned_and_reported() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let Some(cluster) = KubeTestCluster::start() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("data");

    // The advisory database: the demo's bundled Debian tracker and NVD data.
    let demo =
        demo::build(&work.path().join("demo"), time::OffsetDateTime::now_utc()).expect("demo set");
    let advisories: Vec<_> = demo
        .advisory_files
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("debian-tracker") || n.starts_with("nvd"))
        })
        .collect();
    assert_eq!(advisories.len(), 2, "{:?}", demo.advisory_files);
    let import = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .arg("--data-dir")
        .arg(&data)
        .args(["db", "import"])
        .args(&advisories)
        .env("HOME", work.path())
        .stdin(Stdio::null())
        .output()
        .expect("db import");
    assert!(import.status.success(), "{import:?}");

    // The images, pushed; the workloads, running them.
    let api = cluster.api();
    let client = registry.client();
    for ns in ["shop", "tools"] {
        api.create_object(&objects::namespace(ns, &[("team", ns)]))
            .expect("namespace");
    }
    api.create_object(&objects::node("node-1", "linux", "amd64"))
        .expect("node");
    let mut digests = Vec::new();
    for running in FLEET {
        let digest = client
            .push(
                running.repository,
                "1.0",
                &debian_image(running.name, running.packages),
            )
            .expect("push");
        let image = format!("{}/{}:1.0", registry.host(), running.repository);
        let containers = [("main", image.as_str())];
        let labels = [("app", running.name), ("tier", running.namespace)];
        let object = match running.kind {
            "Deployment" => {
                objects::deployment(running.namespace, running.name, 1, &containers, &labels)
            }
            _ => objects::pod(running.namespace, running.name, &containers, &labels),
        };
        api.create_object(&object).expect("workload");
        let pods = api
            .wait_for_pods(running.namespace, &format!("app={}", running.name), 1)
            .expect("pod");
        let pod = pods[0]["metadata"]["name"].as_str().expect("pod name");
        let image_id = format!("{}/{}@{digest}", registry.host(), running.repository);
        api.patch_pod_status(
            running.namespace,
            pod,
            "Running",
            "node-1",
            &[("main", &image, &image_id, true)],
        )
        .expect("pod status");
        digests.push(digest.to_string());
    }

    let context = cluster.context_name();
    let kubeconfig = cluster.kubeconfig_path();
    let host = registry.host();
    let server = serve(
        &data,
        &[
            "--kubeconfig",
            kubeconfig.to_str().expect("utf-8 path"),
            "--context",
            context,
            "--allowed-registry",
            &host,
        ],
    );
    let report = Api::login(&server.url).await;
    let deadline = started + BUDGET;

    // Statistics: every image found and scanned.
    let statistics = report
        .until("all images scanned", deadline, "/api/v1/statistics", |s| {
            s["scan_coverage"]["scanned"] == FLEET.len()
        })
        .await;
    let total_findings: usize = FLEET.iter().map(|r| r.vulnerabilities.len()).sum();
    assert_eq!(statistics["images"], FLEET.len(), "{statistics:#}");
    assert_eq!(statistics["repositories"], FLEET.len(), "{statistics:#}");
    assert_eq!(statistics["clusters"], 1, "{statistics:#}");
    assert_eq!(
        statistics["running_resources"],
        FLEET.len(),
        "{statistics:#}"
    );
    assert_eq!(statistics["scan_coverage"]["targets"], FLEET.len());
    let by_severity: u64 = statistics["vulnerabilities"]
        .as_object()
        .expect("severity counts")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    assert_eq!(by_severity as usize, total_findings, "{statistics:#}");

    // Repositories with their counts; a namespace filter narrows them.
    let repositories = report.get("/api/v1/repositories?limit=10").await;
    let names: Vec<&str> = FLEET.iter().map(|r| r.repository).collect();
    let mut expected_names: Vec<String> = names.iter().map(|n| format!("{host}/{n}")).collect();
    expected_names.sort();
    assert_eq!(ids(&repositories, "/repository"), expected_names);
    for row in repositories["items"].as_array().expect("rows") {
        let name = row["repository"].as_str().expect("name");
        let running = FLEET
            .iter()
            .find(|r| name.ends_with(r.repository))
            .expect("known repository");
        let counted: u64 = row["vulnerabilities"]
            .as_object()
            .expect("counts")
            .values()
            .map(|v| v.as_u64().expect("count"))
            .sum();
        assert_eq!(counted as usize, running.vulnerabilities.len(), "{row:#}");
        assert_eq!(
            (row["clusters"].as_u64(), row["resources"].as_u64()),
            (Some(1), Some(1)),
            "{row:#}"
        );
        assert_eq!(row["scan_status"], "scanned");
        assert_eq!(row["latest_scanned_tag"], "1.0");
    }
    // The numbers, as a reviewer reads them (severities come from the demo's NVD data).
    let rows: Vec<Value> = repositories["items"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            json!({
                "repository": row["repository"].as_str().expect("name").replace(&host, "REGISTRY"),
                "vulnerabilities": row["vulnerabilities"],
                "fixable": row["fixable"],
                "images": row["images"],
            })
        })
        .collect();
    insta::assert_json_snapshot!(
        "e2e_report",
        json!({"statistics": statistics, "repositories": rows})
    );
    let shop = report.get("/api/v1/repositories?namespace=shop").await;
    assert_eq!(shop["total"], 2, "{shop:#}");

    // Each image: layers, packages, vulnerabilities with known IDs, and
    // where it runs.
    for (running, digest) in FLEET.iter().zip(&digests) {
        let details = report.get(&format!("/api/v1/images/{digest}")).await;
        assert_eq!(details["status"], "scanned", "{details:#}");
        assert_eq!(details["running"], true);
        assert_eq!(details["os"]["id"], "debian", "{details:#}");
        let layers = details["metadata"]["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 2, "{details:#}");

        let packages = report
            .get(&format!("/api/v1/images/{digest}/packages?limit=100"))
            .await;
        let mut found: Vec<(String, String)> = packages["items"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| {
                (
                    p["package"]["name"].as_str().expect("name").to_owned(),
                    p["package"]["version"]
                        .as_str()
                        .expect("version")
                        .to_owned(),
                )
            })
            .collect();
        found.sort();
        let mut want: Vec<(String, String)> = running
            .packages
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        want.sort();
        assert_eq!(found, want, "{}", running.repository);

        let vulnerabilities = report
            .get(&format!(
                "/api/v1/images/{digest}/vulnerabilities?limit=100"
            ))
            .await;
        assert_eq!(
            ids(&vulnerabilities, "/finding/id"),
            running.vulnerabilities,
            "{}",
            running.repository
        );

        let resources = report
            .get(&format!("/api/v1/images/{digest}/resources"))
            .await;
        let rows = resources["items"].as_array().expect("resources");
        assert_eq!(rows.len(), 1, "{resources:#}");
        let row = &rows[0];
        assert_eq!(
            (
                row["cluster"].as_str(),
                row["namespace"].as_str(),
                row["kind"].as_str(),
                row["name"].as_str(),
                row["container"].as_str(),
                row["running"].as_bool(),
            ),
            (
                Some(context),
                Some(running.namespace),
                Some(running.kind),
                Some(running.name),
                Some("main"),
                Some(true),
            ),
            "{row:#}"
        );
        assert_eq!(row["labels"]["app"], running.name, "{row:#}");
    }

    // The packages fixing the most: openssl's fix-all version for shop/api.
    let api_packages = report
        .get(&format!("/api/v1/images/{}/packages?limit=100", digests[0]))
        .await;
    let openssl = api_packages["items"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["package"]["name"] == "openssl")
        .expect("openssl");
    assert_eq!(openssl["package"]["vulnerabilities"], 5, "{openssl:#}");
    assert_eq!(openssl["package"]["fix_all_version"], "3.0.14-1~deb12u2");

    // Deleting a Deployment: its image is no longer running, not forgotten.
    api.delete(Some("shop"), &Resource::DEPLOYMENTS, "web")
        .expect("delete deployment");
    // No kubelet confirms the pods' graceful deletion: do it as one would.
    let terminating = Instant::now() + Duration::from_secs(20);
    loop {
        let pods = api
            .list(Some("shop"), &Resource::PODS, Some("app=web"))
            .expect("pods");
        if pods.is_empty() {
            break;
        }
        for pod in pods
            .iter()
            .filter(|p| !p["metadata"]["deletionTimestamp"].is_null())
        {
            let name = pod["metadata"]["name"].as_str().expect("name");
            let _ = api.delete_now(Some("shop"), &Resource::PODS, name);
        }
        assert!(
            Instant::now() < terminating,
            "web's pods are still there: {pods:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let web = report
        .until(
            "shop/web no longer running",
            deadline,
            &format!("/api/v1/images/{}", digests[1]),
            |d| d["running"] == false,
        )
        .await;
    assert_eq!(web["status"], "scanned");
    let resources = report
        .get(&format!("/api/v1/images/{}/resources", digests[1]))
        .await;
    assert_eq!(resources["items"][0]["running"], false, "{resources:#}");
    let running_now = report.get("/api/v1/statistics?status=running").await;
    assert_eq!(running_now["images"], FLEET.len() - 1, "{running_now:#}");
    let not_running = report.get("/api/v1/repositories?status=not_running").await;
    assert_eq!(
        ids(&not_running, "/repository"),
        vec![format!("{host}/shop/web")],
        "{not_running:#}"
    );

    let elapsed = started.elapsed();
    eprintln!("end to end: {elapsed:?} after the registry and API server were up");
    assert!(elapsed < BUDGET, "took {elapsed:?}");
}

/// The first admin's one-time password, through the real binary and its
/// real TCP port: printed once, good for nothing but changing it; wrong
/// guesses are limited (per name, and per client address from the socket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_time_password_is_changed_before_use_and_guesses_are_limited() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().expect("tempdir");
    let server = serve_with(&work.path().join("data"), &[], None);
    let printed = server.stderr.clone();
    let password = printed
        .iter()
        .find_map(|line| line.trim().strip_prefix("password: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password printed: {printed:#?}"))
        .to_owned();
    assert!(
        printed
            .iter()
            .any(|l| l.contains("PUT /api/v1/me/password")),
        "{printed:#?}"
    );
    let client = reqwest::Client::new();
    let login = async |password: &str| {
        client
            .post(format!("{}/api/v1/login", server.url))
            .header("content-type", "application/json")
            .body(json!({"name": "admin", "password": password}).to_string())
            .send()
            .await
            .expect("login")
    };
    let first = login(&password).await;
    assert_eq!(first.status(), 200);
    let cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_owned();
    let body: Value = serde_json::from_slice(&first.bytes().await.expect("body")).expect("json");
    assert_eq!(body["must_change_password"], true);
    let csrf = body["csrf_token"].as_str().expect("csrf").to_owned();
    let get = async |path: &str| {
        client
            .get(format!("{}{path}", server.url))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get")
            .status()
    };
    assert_eq!(get("/api/v1/statistics").await, 403);
    assert_eq!(get("/api/v1/me").await, 200);
    let changed = client
        .put(format!("{}/api/v1/me/password", server.url))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body(
            json!({"current_password": password, "new_password": "chosen by the admin"})
                .to_string(),
        )
        .send()
        .await
        .expect("change");
    assert_eq!(changed.status(), 204);
    assert_eq!(get("/api/v1/statistics").await, 200);

    // Five wrong guesses, then even the right password waits.
    for _ in 0..5 {
        assert_eq!(login("a wrong guess").await.status(), 401);
    }
    let limited = login("chosen by the admin").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}
