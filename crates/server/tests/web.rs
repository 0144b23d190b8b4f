//! The web UI through the router (`oneshot`), on a real SQLite store with a
//! fixed clock: sign-in, redirects, form tokens, the pages' content, the
//! filter in the URL, escaping of hostile data, assets and the 404 page.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use k8s::{ClusterStatus, DigestKind};
use model::Severity;
use server::secret::{Secret, hash_password};
use server::{AppState, Settings};
use store::fixtures::{self, at};
use store::{InventorySource, NewUser, Role, SqliteStore, Store};
use tower::ServiceExt;

const NOW: i64 = 86_400 * 30;
const PASSWORD: &str = "web-test-password";
const HOSTILE: &str = "<script>alert(1)</script>";

struct App {
    router: Router,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn app() -> App {
    app_with(true).await
}

async fn app_with(data: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let password_hash = hash_password(&Secret::from_client(PASSWORD)).unwrap();
    store
        .create_user(
            &NewUser {
                name: "ada".to_owned(),
                role: Role::Editor,
                password_hash,
                must_change_password: false,
            },
            at(0),
        )
        .await
        .unwrap();
    let password_hash = hash_password(&Secret::from_client(PASSWORD)).unwrap();
    store
        .create_user(
            &NewUser {
                name: "vera".to_owned(),
                role: Role::Viewer,
                password_hash,
                must_change_password: false,
            },
            at(0),
        )
        .await
        .unwrap();
    if data {
        seed(&store).await;
    }
    let state = Arc::new(AppState::with_clock(
        store,
        Settings::default(),
        Arc::new(|| at(NOW)),
    ));
    state.set_ready(true);
    App {
        router: server::router(state),
        _dir: dir,
    }
}

/// Two clusters; nginx (two digests, findings in layers 0 and 1), an API
/// image whose tag, labels and advisory text are hostile, and a clean pause.
async fn seed(store: &SqliteStore) {
    use fixtures::{container, finding, inventory, metadata, scan_record, workload};
    let d = fixtures::digest;
    let (nginx_old, nginx_new, api, pause) = (
        d("nginx-1.25"),
        d("nginx-1.27"),
        d("api-2.0"),
        d("pause-3.9"),
    );
    let prod = inventory(
        "prod",
        at(NOW - 600),
        ClusterStatus::Ok,
        vec![
            workload(
                "web",
                "frontend",
                &[("app", "frontend")],
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
                &[("app", HOSTILE)],
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
                        Some((pause.clone(), DigestKind::Manifest)),
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
            &[("app", "frontend")],
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
        store
            .apply_snapshot(inv, InventorySource::Local, at(NOW - 600))
            .await
            .unwrap();
    }
    let jobs = store.claim_scan_jobs(100, at(NOW - 500)).await.unwrap();
    assert_eq!(jobs.len(), 4);
    for job in jobs {
        let store::TargetReference::Digest { digest } = &job.target.reference else {
            panic!("manifest digests only here")
        };
        let (tag, findings) = if *digest == nginx_old {
            (
                "1.25",
                vec![
                    finding(
                        "CVE-2023-4911",
                        Severity::High,
                        Some(7.8),
                        ("glibc", "2.36-9"),
                        0,
                        Some("2.36-9+deb12u3"),
                    ),
                    finding(
                        "CVE-2023-44487",
                        Severity::Critical,
                        Some(9.8),
                        ("nghttp2", "1.52.0-1"),
                        1,
                        Some("1.52.0-1+deb12u1"),
                    ),
                    finding(
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
                vec![finding(
                    "CVE-2022-0563",
                    Severity::Low,
                    Some(5.5),
                    ("util-linux", "2.38.1-5"),
                    0,
                    None,
                )],
            )
        } else if *digest == api {
            let mut hostile = finding(
                "CVE-2024-6345",
                Severity::High,
                Some(8.8),
                ("setuptools", "65.5.0"),
                2,
                Some("70.0.0"),
            );
            hostile.description = Some(model::SharedText::from(format!(
                "{HOSTILE} in the description"
            )));
            (HOSTILE, vec![hostile])
        } else {
            ("3.9", vec![])
        };
        let repository = job.target.repository.clone();
        // nginx 1.27 is scanned last: the repository links to it.
        let scanned = if *digest == nginx_new {
            NOW - 300
        } else {
            NOW - 400
        };
        store
            .complete_scan(
                job.target.id,
                &scan_record(metadata(&repository, Some(tag), digest, 3), findings, 7),
                at(scanned),
            )
            .await
            .unwrap();
    }
}

impl App {
    async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match body {
            Some(form) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form)
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
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Signs in through the login form; returns the `Cookie` header value.
    async fn sign_in(&self) -> String {
        self.sign_in_as("ada").await
    }

    async fn sign_in_as(&self, name: &str) -> String {
        let answer = self
            .request(
                Method::POST,
                "/login",
                &[
                    ("origin", "http://shipshape.test"),
                    ("host", "shipshape.test"),
                ],
                Some(format!("name={name}&password={PASSWORD}&next=%2F")),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
        let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        cookie.split(';').next().unwrap().to_owned()
    }

    /// A form post from our own origin.
    async fn post(&self, uri: &str, cookie: &str, body: &str) -> Answer {
        self.request(
            Method::POST,
            uri,
            &[
                ("cookie", cookie),
                ("origin", "http://shipshape.test"),
                ("host", "shipshape.test"),
            ],
            Some(body.to_owned()),
        )
        .await
    }

    async fn page(&self, uri: &str, cookie: &str) -> Answer {
        self.request(Method::GET, uri, &[("cookie", cookie)], None)
            .await
    }
}

fn form_token(html: &str) -> String {
    let at = html.find("name=\"token\" value=\"").expect("a form token") + 20;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_send_you_back_after_login() {
    let app = app().await;
    for (uri, login) in [
        ("/", "/login"),
        ("/images/sha256:00", "/login?next=%2Fimages%2Fsha256%3A00"),
        ("/?cluster=prod", "/login?next=%2F%3Fcluster%3Dprod"),
    ] {
        let answer = app.request(Method::GET, uri, &[], None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(answer.location(), login, "{uri}");
    }
    let login = app
        .request(Method::GET, "/login?next=%2F%3Fcluster%3Dprod", &[], None)
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login.text.contains("value=\"/?cluster=prod\""),
        "{}",
        login.text
    );

    // The form sends you where you were going, and only within the site.
    for (next, to) in [
        ("%2F%3Fcluster%3Dprod", "/?cluster=prod"),
        ("%2F%2Fevil.test", "/"),
        ("https%3A%2F%2Fevil.test", "/"),
        ("%2F%5Cevil.test", "/"),
    ] {
        let answer = app
            .request(
                Method::POST,
                "/login",
                &[],
                Some(format!("name=ada&password={PASSWORD}&next={next}")),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.location(), to, "next={next}");
    }
    let wrong = app
        .request(
            Method::POST,
            "/login",
            &[],
            Some("name=ada&password=nope".to_owned()),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("wrong name or password") && wrong.text.contains("value=\"ada\""));
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());

    // Signed in, the header says who and what role; /login sends you on.
    let cookie = app.sign_in().await;
    let overview = app.page("/", &cookie).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.text.contains("<span class=\"user\">ada</span>"));
    assert!(overview.text.contains("<span class=\"role\">editor</span>"));
    assert_eq!(overview.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        overview.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(app.page("/login", &cookie).await.location(), "/");
    // A made-up cookie is no session.
    assert_eq!(
        app.page("/", "shipshape_session=sss_forged")
            .await
            .location(),
        "/login"
    );
}

#[tokio::test]
async fn login_and_logout_refuse_other_sites_and_logout_needs_the_form_token() {
    let app = app().await;
    for headers in [
        vec![("origin", "https://evil.test"), ("host", "shipshape.test")],
        vec![("origin", "null"), ("host", "shipshape.test")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let answer = app
            .request(
                Method::POST,
                "/login",
                &headers,
                Some(format!("name=ada&password={PASSWORD}")),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(answer.headers.get(header::SET_COOKIE).is_none());
    }
    let cookie = app.sign_in().await;
    let token = form_token(&app.page("/", &cookie).await.text);
    for (body, status) in [
        (String::new(), StatusCode::FORBIDDEN),
        ("token=ssc_wrong".to_owned(), StatusCode::FORBIDDEN),
        (format!("token={token}"), StatusCode::SEE_OTHER),
    ] {
        let answer = app
            .request(
                Method::POST,
                "/logout",
                &[("cookie", &cookie)],
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, status, "{body}");
    }
    // The session is gone.
    assert_eq!(app.page("/", &cookie).await.location(), "/login");
}

#[tokio::test]
async fn the_web_login_token_also_works_as_the_api_csrf_header() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let token = form_token(&app.page("/", &cookie).await.text);
    let body = r#"{"scopes":[{"scope":"repository","repository":"registry.k8s.io/pause"}],"reason":"clean image"}"#;
    for (csrf, status) in [
        ("ssc_wrong", StatusCode::FORBIDDEN),
        (token.as_str(), StatusCode::CREATED),
    ] {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/exceptions")
            .header("cookie", &cookie)
            .header("x-csrf-token", csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
    }
}

#[tokio::test]
async fn overview_lists_repositories_and_follows_the_filter_in_the_url() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let all = app.page("/", &cookie).await;
    assert_eq!(all.status, StatusCode::OK);
    for repository in [
        "docker.io/library/nginx",
        "ghcr.io/acme/api",
        "registry.k8s.io/pause",
    ] {
        assert!(
            all.text.contains(&format!(">{repository}</a>")),
            "{repository} in\n{}",
            all.text
        );
    }
    let stat = |text: &str, id: &str| -> String {
        let at = text
            .find(&format!("id=\"stat-{id}\">"))
            .unwrap_or_else(|| panic!("stat {id}"));
        text[at..]
            .split('>')
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(stat(&all.text, "clusters"), "2");
    assert_eq!(stat(&all.text, "images"), "4");
    // The repository links to its newest image.
    assert!(all.text.contains(&format!(
        "href=\"/images/{}\"",
        fixtures::digest("nginx-1.27")
    )));

    // The filter lives in the URL; the statistics follow it; the form shows it.
    let staging = app
        .page("/?cluster=staging&namespace=&labels=&q=", &cookie)
        .await;
    assert_eq!(staging.status, StatusCode::OK, "{}", staging.text);
    assert_eq!(stat(&staging.text, "clusters"), "1");
    assert_eq!(stat(&staging.text, "images"), "1");
    assert_eq!(stat(&staging.text, "critical"), "1");
    assert!(!staging.text.contains(">ghcr.io/acme/api</a>"));
    assert!(staging.text.contains("<option value=\"staging\" selected>"));
    // Sort links keep the filter and drop the page offset.
    assert!(
        staging
            .text
            .contains("href=\"?cluster=staging&#38;sort=repository\""),
        "{}",
        staging.text
    );

    let sorted = app.page("/?sort=repository", &cookie).await;
    let order: Vec<usize> = [
        "docker.io/library/nginx",
        "ghcr.io/acme/api",
        "registry.k8s.io/pause",
    ]
    .iter()
    .map(|r| sorted.text.find(&format!(">{r}</a>")).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(sorted.text.contains("aria-sort=\"ascending\""));

    // Pagination: one per page, a link to the next.
    let first = app.page("/?limit=1", &cookie).await;
    assert!(first.text.contains("1–1 of 3"), "{}", first.text);
    assert!(first.text.contains("href=\"?limit=1&#38;offset=1\""));

    // Nothing matches → the empty state; a bad filter → a 400 page in words.
    let none = app.page("/?q=no-such-thing", &cookie).await;
    assert!(none.text.contains("Nothing matches these filters"));
    let bad = app.page("/?scan_status=sideways", &cookie).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("scan_status &#34;sideways&#34; is not one of")
            || bad.text.contains("scan_status &quot;sideways&quot;"),
        "{}",
        bad.text
    );
    let unknown = app.page("/?colour=red", &cookie).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_empty_store_says_there_is_no_data_yet() {
    let app = app_with(false).await;
    let cookie = app.sign_in().await;
    let page = app.page("/", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("No data yet"), "{}", page.text);
    assert!(!page.text.contains("id=\"repositories\""));
    assert!(page.text.contains("id=\"stat-images\">0<"));
}

#[tokio::test]
async fn image_page_shows_digests_hierarchy_and_tabs_narrowed_by_layers() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let old = fixtures::digest("nginx-1.25");
    let page = app.page(&format!("/images/{old}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let text = &page.text;
    assert!(text.contains("docker.io/library/nginx"));
    // The drop-down: this digest selected, the other one offered, with tags.
    assert!(text.contains(&format!("<option value=\"{old}\" selected>")));
    assert!(text.contains(&format!(
        "<option value=\"{}\">",
        fixtures::digest("nginx-1.27")
    )));
    assert!(text.contains("(1.27)"));
    for needle in [
        "RUN step 0",
        "RUN step 2",
        "Debian GNU/Linux 12 (bookworm)",
        "CVE-2023-44487",
        "CVE-2023-4911",
        "CVE-2022-0563",
        "nghttp2",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    // CVSS order: the critical 9.8 before the 7.8.
    assert!(text.find("CVE-2023-44487").unwrap() < text.find("CVE-2023-4911").unwrap());

    let layer1 = app
        .page(
            &format!("/images/{old}?tab=vulnerabilities&layers=1"),
            &cookie,
        )
        .await;
    assert!(layer1.text.contains("CVE-2023-44487"));
    assert!(!layer1.text.contains("CVE-2023-4911") && !layer1.text.contains("CVE-2022-0563"));
    assert!(layer1.text.contains("name=\"layers\" value=\"1\" checked"));
    assert!(!layer1.text.contains("name=\"layers\" value=\"0\" checked"));

    let packages = app
        .page(&format!("/images/{old}?tab=packages&layers=0"), &cookie)
        .await;
    assert!(packages.text.contains("glibc") && !packages.text.contains("nghttp2"));
    let resources = app
        .page(&format!("/images/{old}?tab=resources"), &cookie)
        .await;
    assert!(resources.text.contains("staging") && resources.text.contains("frontend"));

    // The digest form's target redirects to the chosen digest.
    let go = app.page(&format!("/images?digest={old}"), &cookie).await;
    assert_eq!(go.status, StatusCode::SEE_OTHER);
    assert_eq!(go.location(), format!("/images/{old}"));
    assert_eq!(
        app.page("/images?digest=nope", &cookie).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.page(&format!("/images/{old}?tab=secrets"), &cookie)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn hostile_names_labels_and_advisory_text_are_escaped() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let api = fixtures::digest("api-2.0");
    let pages = [
        app.page(
            &format!("/?q={}", "%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
            &cookie,
        )
        .await,
        app.page("/", &cookie).await,
        app.page(&format!("/images/{api}"), &cookie).await,
        app.page(&format!("/images/{api}?tab=resources"), &cookie)
            .await,
        app.page("/no/such/page?x=%3Cscript%3E", &cookie).await,
    ];
    for page in &pages {
        assert!(
            !page.text.contains("<script>alert(1)"),
            "unescaped in\n{}",
            page.text
        );
    }
    assert!(
        pages[0]
            .text
            .contains("value=\"&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;\""),
        "{}",
        pages[0].text
    );
    assert!(
        pages[2]
            .text
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; in the description")
    );
    assert!(pages[3].text.contains("app=&#60;script&#62;"));
}

#[tokio::test]
async fn unknown_pages_and_images_get_the_404_page_and_the_api_keeps_json() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let missing = app
        .page(&format!("/images/{}", fixtures::digest("nowhere")), &cookie)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text.contains("There is no image with this digest"));
    let nowhere = app.request(Method::GET, "/no/such/page", &[], None).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert!(
        nowhere.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(nowhere.text.contains("There is no page here"));
    let api = app.request(Method::GET, "/api/v1/nothing", &[], None).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(api.text.contains("\"not-found\""), "{}", api.text);
    assert_eq!(
        app.request(Method::GET, "/healthz", &[], None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.request(Method::GET, "/api/v1/statistics", &[], None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn assets_are_compiled_in_with_hashed_names_and_etags() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let page = app.page("/", &cookie).await;
    for asset in server::web::assets::all() {
        assert!(page.text.contains(&asset.url), "{} linked", asset.url);
        let answer = app.request(Method::GET, &asset.url, &[], None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(answer.headers[header::CONTENT_TYPE], asset.content_type);
        assert_eq!(answer.text.as_bytes(), asset.body);
        let etag = answer.headers[header::ETAG].to_str().unwrap().to_owned();
        let again = app
            .request(Method::GET, &asset.url, &[("if-none-match", &etag)], None)
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.text.is_empty());
        let plain = app
            .request(Method::GET, &format!("/assets/{}", asset.name), &[], None)
            .await;
        assert_eq!(plain.headers[header::CACHE_CONTROL], "no-cache");
    }
    assert_eq!(
        app.request(Method::GET, "/assets/style.000000000000.css", &[], None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Server-side render time of the two heaviest pages on this small fleet
/// (the figures for the 10,000-image fleet come from the store's bench).
#[tokio::test]
#[allow(clippy::print_stderr)] // the figures are the point: `cargo test -- --nocapture`
async fn render_times_are_reported() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let old = fixtures::digest("nginx-1.25");
    for uri in ["/".to_owned(), format!("/images/{old}")] {
        let started = Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            assert_eq!(app.page(&uri, &cookie).await.status, StatusCode::OK);
        }
        let per = started.elapsed() / rounds;
        let weight = app.page(&uri, &cookie).await.text.len();
        let assets: usize = server::web::assets::all()
            .iter()
            .map(|a| a.body.len())
            .sum();
        eprintln!("render {uri}: {per:?} per page, {weight} B HTML + {assets} B assets");
    }
}

/// A user whose password is a one-time one.
async fn one_time_user(app: &App, store: &SqliteStore) {
    let _ = app;
    let password_hash = hash_password(&Secret::from_client("one-time-password")).unwrap();
    store
        .create_user(
            &NewUser {
                name: "grace".to_owned(),
                role: Role::Admin,
                password_hash,
                must_change_password: true,
            },
            at(0),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_one_time_password_leads_to_the_password_page_until_it_is_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let state = Arc::new(AppState::with_clock(
        store.clone(),
        Settings::default(),
        Arc::new(|| at(NOW)),
    ));
    let app = App {
        router: server::router(state),
        _dir: dir,
    };
    one_time_user(&app, &store).await;
    let same_site = [
        ("origin", "http://shipshape.test"),
        ("host", "shipshape.test"),
    ];
    let login = app
        .request(
            Method::POST,
            "/login",
            &same_site,
            Some("name=grace&password=one-time-password&next=%2F%3Fcluster%3Dprod".to_owned()),
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text);
    let cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // Every page but the password page sends the person there first.
    let overview = app.page("/?cluster=prod", &cookie).await;
    assert_eq!(overview.status, StatusCode::SEE_OTHER);
    assert_eq!(overview.location(), "/password?next=%2F%3Fcluster%3Dprod");
    let form = app
        .page("/password?next=%2F%3Fcluster%3Dprod", &cookie)
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("one-time password"), "{}", form.text);
    let token = form_token(&form.text);
    let mut headers = same_site.to_vec();
    headers.push(("cookie", cookie.as_str()));
    let post = |current: &str, new: &str, confirm: &str, token: &str| {
        format!(
            "token={token}&next=%2F%3Fcluster%3Dprod&current_password={current}&new_password={new}&confirm_password={confirm}"
        )
    };
    // (form, status, words on the page)
    for (body, status, words) in [
        (
            post(
                "one-time-password",
                "a-long-new-password",
                "another-password",
                &token,
            ),
            StatusCode::BAD_REQUEST,
            "differ",
        ),
        (
            post("one-time-password", "short", "short", &token),
            StatusCode::BAD_REQUEST,
            "at least 12 characters",
        ),
        (
            post(
                "wrong-password",
                "a-long-new-password",
                "a-long-new-password",
                &token,
            ),
            StatusCode::FORBIDDEN,
            "current password is wrong",
        ),
        (
            post(
                "one-time-password",
                "a-long-new-password",
                "a-long-new-password",
                "ssc_forged",
            ),
            StatusCode::FORBIDDEN,
            "out of date",
        ),
    ] {
        let answer = app
            .request(Method::POST, "/password", &headers, Some(body))
            .await;
        assert_eq!(answer.status, status, "{}", answer.text);
        assert!(answer.text.contains(words), "{words}: {}", answer.text);
    }
    let changed = app
        .request(
            Method::POST,
            "/password",
            &headers,
            Some(post(
                "one-time-password",
                "a-long-new-password",
                "a-long-new-password",
                &token,
            )),
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.text);
    assert_eq!(changed.location(), "/?cluster=prod");
    // The same session goes on, now to the page it asked for.
    let overview = app.page("/?cluster=prod", &cookie).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text);
    let user = store.user_by_name("grace").await.unwrap().unwrap();
    assert!(!user.must_change_password);
}

#[tokio::test]
async fn the_web_login_shares_the_api_login_limit() {
    let app = app_with(false).await;
    let same_site = [
        ("origin", "http://shipshape.test"),
        ("host", "shipshape.test"),
    ];
    let attempt = |password: &str| format!("name=ada&password={password}&next=%2F");
    for _ in 0..5 {
        let answer = app
            .request(Method::POST, "/login", &same_site, Some(attempt("wrong")))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now, on the form and on the API.
    let limited = app
        .request(Method::POST, "/login", &same_site, Some(attempt(PASSWORD)))
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert!(
        limited.text.contains("Try again in 15 minutes"),
        "{}",
        limited.text
    );
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    let api = app
        .router
        .clone()
        .oneshot(
            Request::post("/api/v1/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(
                    r#"{{"name":"ada","password":"{PASSWORD}"}}"#
                )))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// The text of the element with this id (`<… id="x">text<`).
fn stat(text: &str, id: &str) -> String {
    let at = text
        .find(&format!("id=\"stat-{id}\">"))
        .unwrap_or_else(|| panic!("stat {id}"));
    text[at..]
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

/// The exception id in a row's checkbox of the Excepted view.
fn exception_ids(html: &str) -> Vec<String> {
    html.match_indices("name=\"exception\" value=\"")
        .map(|(at, m)| html[at + m.len()..].split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn viewers_see_no_exception_forms_and_cannot_post_them() {
    let app = app().await;
    let viewer = app.sign_in_as("vera").await;
    let page = app.page("/", &viewer).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("name=\"repository\""), "{}", page.text);
    assert!(!page.text.contains("Except repositories"));
    let excepted = app.page("/?view=excepted", &viewer).await;
    assert!(!excepted.text.contains("Cancel exception"));
    let token = form_token(&page.text);
    for uri in ["/exceptions", "/exceptions/cancel"] {
        let answer = app
            .post(
                uri,
                &viewer,
                &form_encode(&[
                    ("token", &token),
                    ("repository", "ghcr.io/acme/api"),
                    ("exception", "1"),
                    ("reason", "viewer tries"),
                ]),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(answer.text.contains("editor role"), "{}", answer.text);
    }
    let editor = app.sign_in().await;
    let page = app.page("/", &editor).await;
    assert!(
        page.text
            .contains("name=\"repository\" value=\"ghcr.io/acme/api\"")
    );
    assert!(page.text.contains("Except repositories"));
}

#[tokio::test]
async fn exception_forms_refuse_forged_tokens_other_sites_and_missing_reasons() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let token = form_token(&app.page("/", &cookie).await.text);
    // (form fields, extra headers, status, words on the page)
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
        StatusCode,
        &'a str,
    );
    let cases: &[Case<'_>] = &[
        (
            &[
                ("token", "ssc_forged"),
                ("repository", "ghcr.io/acme/api"),
                ("reason", "r"),
            ],
            &[
                ("origin", "http://shipshape.test"),
                ("host", "shipshape.test"),
            ],
            StatusCode::FORBIDDEN,
            "out of date",
        ),
        (
            &[("repository", "ghcr.io/acme/api"), ("reason", "r")],
            &[
                ("origin", "http://shipshape.test"),
                ("host", "shipshape.test"),
            ],
            StatusCode::FORBIDDEN,
            "out of date",
        ),
        (
            &[
                ("token", "TOKEN"),
                ("repository", "ghcr.io/acme/api"),
                ("reason", "r"),
            ],
            &[("origin", "https://evil.test"), ("host", "shipshape.test")],
            StatusCode::FORBIDDEN,
            "another site",
        ),
        (
            &[
                ("token", "TOKEN"),
                ("repository", "ghcr.io/acme/api"),
                ("reason", "r"),
            ],
            &[("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
            "another site",
        ),
        (
            &[
                ("token", "TOKEN"),
                ("repository", "ghcr.io/acme/api"),
                ("reason", "  "),
            ],
            &[],
            StatusCode::BAD_REQUEST,
            "A reason is required",
        ),
        (
            &[("token", "TOKEN"), ("reason", "nothing selected")],
            &[],
            StatusCode::BAD_REQUEST,
            "Select at least one repository",
        ),
        (
            &[
                ("token", "TOKEN"),
                ("repository", "ghcr.io/acme/api"),
                ("reason", "r"),
                ("expires", "1970-01-01"),
            ],
            &[],
            StatusCode::BAD_REQUEST,
            "Expires must be in the future",
        ),
        (
            &[
                ("token", "TOKEN"),
                ("repository", "ghcr.io/acme/api"),
                ("reason", "r"),
                ("expires", "soon"),
            ],
            &[],
            StatusCode::BAD_REQUEST,
            "is not a date",
        ),
    ];
    for (fields, headers, status, message) in cases {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (*k, if *v == "TOKEN" { token.as_str() } else { *v }))
            .collect();
        let mut all_headers = vec![("cookie", cookie.as_str())];
        all_headers.extend(headers.iter().copied());
        let answer = app
            .request(
                Method::POST,
                "/exceptions",
                &all_headers,
                Some(form_encode(&fields)),
            )
            .await;
        assert_eq!(answer.status, *status, "{fields:?} {headers:?}");
        assert!(
            answer.text.contains(message),
            "{message} in {}",
            answer.text
        );
    }
    // Nothing was excepted by any of them.
    let excepted = app.page("/?view=excepted", &cookie).await;
    assert!(
        excepted.text.contains("No excepted repositories"),
        "{}",
        excepted.text
    );
    // Cancelling needs a reason too.
    let answer = app
        .post(
            "/exceptions/cancel",
            &cookie,
            &form_encode(&[("token", &token), ("exception", "1"), ("reason", "")]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn excepted_repositories_leave_the_list_and_statistics_and_cancelling_returns_them() {
    let app = app().await;
    let cookie = app.sign_in().await;
    let before = app.page("/?cluster=prod", &cookie).await;
    assert_eq!(stat(&before.text, "repositories"), "3");
    assert_eq!(stat(&before.text, "high"), "1");
    let token = form_token(&before.text);
    let reason = format!("accepted risk {HOSTILE}");
    let answer = app
        .post(
            "/exceptions",
            &cookie,
            &form_encode(&[
                ("token", &token),
                ("back", "/?cluster=prod"),
                ("repository", "ghcr.io/acme/api"),
                ("repository", "registry.k8s.io/pause"),
                ("reason", &reason),
                ("expires", "2026-03-01"),
            ]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let to = answer.location().to_owned();
    assert_eq!(to, "/?cluster=prod&notice=excepted&count=2");
    let after = app.page(&to, &cookie).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert!(
        after.text.contains("2 repositories excepted"),
        "{}",
        after.text
    );
    assert!(!after.text.contains(">ghcr.io/acme/api</a>"));
    assert!(!after.text.contains(">registry.k8s.io/pause</a>"));
    assert!(after.text.contains(">docker.io/library/nginx</a>"));
    assert_eq!(stat(&after.text, "repositories"), "1");
    assert_eq!(stat(&after.text, "high"), "0");

    let excepted = app.page("/?view=excepted", &cookie).await;
    assert_eq!(excepted.status, StatusCode::OK);
    for repository in ["ghcr.io/acme/api", "registry.k8s.io/pause"] {
        assert!(
            excepted.text.contains(&format!(">{repository}</a>")),
            "{}",
            excepted.text
        );
    }
    assert!(!excepted.text.contains(">docker.io/library/nginx</a>"));
    assert!(excepted.text.contains("Exception set on"));
    assert!(
        excepted
            .text
            .contains("accepted risk &#60;script&#62;alert(1)&#60;/script&#62;")
            || excepted
                .text
                .contains("accepted risk &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        excepted.text
    );
    assert!(!excepted.text.contains(HOSTILE));
    // Set on: the store's clock, exact in the title; set by: the editor.
    assert!(
        excepted
            .text
            .contains("title=\"2026-01-31T00:00:00Z\">just now</time>"),
        "{}",
        excepted.text
    );
    assert!(excepted.text.contains("<td>ada</td>"));
    let ids = exception_ids(&excepted.text);
    assert_eq!(ids.len(), 2, "{}", excepted.text);

    // Cancel one: back to the main list, where it is again.
    let answer = app
        .post(
            "/exceptions/cancel",
            &cookie,
            &form_encode(&[
                ("token", &token),
                ("back", "/"),
                ("exception", &ids[0]),
                ("reason", "fixed upstream"),
            ]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(answer.location(), "/?notice=cancelled&count=1");
    let main = app.page(answer.location(), &cookie).await;
    assert!(main.text.contains("Exception cancelled for 1 repository"));
    assert_eq!(stat(&main.text, "repositories"), "2");
    let excepted = app.page("/?view=excepted", &cookie).await;
    assert_eq!(exception_ids(&excepted.text).len(), 1);
    // Cancelling it again is refused (it is no longer active).
    let again = app
        .post(
            "/exceptions/cancel",
            &cookie,
            &form_encode(&[
                ("token", &token),
                ("exception", &ids[0]),
                ("reason", "twice"),
            ]),
        )
        .await;
    assert!(again.status.is_client_error(), "{}", again.status);
}

#[tokio::test]
async fn the_image_page_excepts_and_cancels_its_repository_and_single_vulnerabilities() {
    let app = app().await;
    let old = fixtures::digest("nginx-1.25");
    let uri = format!("/images/{old}");
    let viewer = app.sign_in_as("vera").await;
    let seen = app.page(&uri, &viewer).await;
    assert_eq!(seen.status, StatusCode::OK);
    for absent in [
        "Except repository",
        "Cancel exception",
        "<summary>Except</summary>",
    ] {
        assert!(!seen.text.contains(absent), "{absent} shown to a viewer");
    }

    let cookie = app.sign_in().await;
    let page = app.page(&uri, &cookie).await;
    assert!(
        page.text.contains("id=\"except-repository\""),
        "{}",
        page.text
    );
    assert_eq!(page.text.matches("<summary>Except</summary>").count(), 3);
    let token = form_token(&page.text);

    // One vulnerability, in this repository: it leaves the list.
    let answer = app
        .post(
            "/exceptions",
            &cookie,
            &form_encode(&[
                ("token", &token),
                ("back", &format!("{uri}?tab=vulnerabilities")),
                ("repository", "docker.io/library/nginx"),
                ("vulnerability", "CVE-2023-4911"),
                ("scope", "repository"),
                ("reason", "not reachable: no setuid binaries"),
            ]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(
        answer.location(),
        format!("{uri}?tab=vulnerabilities&notice=vulnerability-excepted&count=1")
    );
    let page = app.page(answer.location(), &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("The vulnerability is excepted"));
    assert!(!page.text.contains("CVE-2023-4911"));
    assert!(page.text.contains("CVE-2023-44487"));

    // Another, everywhere; a scope that is neither is refused.
    let everywhere = |scope: &'static str| {
        form_encode(&[
            ("token", &token),
            ("back", &uri),
            ("repository", "docker.io/library/nginx"),
            ("vulnerability", "CVE-2022-0563"),
            ("scope", scope),
            ("reason", "util-linux is not used at run time"),
        ])
    };
    let refused = app
        .post("/exceptions", &cookie, &everywhere("galaxy"))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let answer = app
        .post("/exceptions", &cookie, &everywhere("everywhere"))
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let newer = app
        .page(
            &format!("/images/{}", fixtures::digest("nginx-1.27")),
            &cookie,
        )
        .await;
    assert!(!newer.text.contains("CVE-2022-0563"), "{}", newer.text);
    let listed = app.page("/api/v1/exceptions", &cookie).await;
    let listed: serde_json::Value = serde_json::from_str(&listed.text).unwrap();
    let scopes: Vec<(String, Option<String>)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["scope"]["vulnerability"].as_str().unwrap().to_owned(),
                e["scope"]["repository"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert!(
        scopes.contains(&("CVE-2022-0563".to_owned(), None)),
        "{scopes:?}"
    );
    assert!(scopes.contains(&(
        "CVE-2023-4911".to_owned(),
        Some("docker.io/library/nginx".to_owned())
    )));

    // The repository: excepted from its page, then cancelled from it.
    let answer = app
        .post(
            "/exceptions",
            &cookie,
            &form_encode(&[
                ("token", &token),
                ("back", &uri),
                ("repository", "docker.io/library/nginx"),
                ("reason", "legacy, replaced next quarter"),
            ]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let page = app.page(answer.location(), &cookie).await;
    assert!(page.text.contains("1 repository excepted"));
    assert!(page.text.contains("id=\"cancel-repository\""));
    assert!(!page.text.contains("id=\"except-repository\""));
    assert!(page.text.contains("legacy, replaced next quarter"));
    let id = exception_ids(&page.text);
    assert_eq!(id.len(), 1, "{}", page.text);
    let answer = app
        .post(
            "/exceptions/cancel",
            &cookie,
            &form_encode(&[
                ("token", &token),
                ("back", &uri),
                ("exception", &id[0]),
                ("reason", "not replaced after all"),
            ]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let page = app.page(answer.location(), &cookie).await;
    assert!(page.text.contains("id=\"except-repository\""));
    let main = app.page("/", &cookie).await;
    assert!(main.text.contains(">docker.io/library/nginx</a>"));
}
