//! Retry, auth and verification behaviour against a tiny scripted HTTP server
//! on 127.0.0.1, for what a real registry cannot be made to do (fail on
//! purpose, rate-limit, serve wrong bytes).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{drain, fast_retries, install_crypto};
use model::DigestAlgorithm;
use oci::{CredentialStore, Credentials, OciError, Reference, RegistryClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
    }
}

type Handler = Arc<dyn Fn(&Request, usize) -> Reply + Send + Sync>;

/// Serves `handler(request, request_number)` on 127.0.0.1; records requests.
async fn serve(handler: Handler) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let log = log2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or_default().split(' ');
                let request = Request {
                    method: first.next().unwrap_or_default().to_owned(),
                    path: first.next().unwrap_or_default().to_owned(),
                    headers: lines
                        .take_while(|l| !l.is_empty())
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                        .collect(),
                };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len()
                };
                let r = handler(&request, n);
                let mut out = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    r.status,
                    r.body.len()
                );
                for (k, v) in &r.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = socket.write_all(out.as_bytes()).await;
                let _ = socket.write_all(&r.body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (host, log)
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},"layers":[]}"#;

fn manifest_digest() -> String {
    oci::digest_of(DigestAlgorithm::Sha256, MANIFEST.as_bytes()).to_string()
}

fn make_client(max_attempts: u32, creds: CredentialStore) -> RegistryClient {
    install_crypto();
    RegistryClient::new(fast_retries(max_attempts), creds).unwrap()
}

#[tokio::test]
async fn retries_503_and_429_then_succeeds() {
    let (host, log) = serve(Arc::new(|_req: &Request, n| match n {
        1 => reply(
            503,
            &[],
            r#"{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}"#,
        ),
        2 => reply(429, &[("Retry-After", "1")], ""),
        _ => reply(
            200,
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            MANIFEST,
        ),
    }))
    .await;
    let client = make_client(4, CredentialStore::new());
    let started = Instant::now();
    let fetched = client
        .fetch_manifest(&format!("{host}/a/b:1").parse().unwrap())
        .await
        .expect("third attempt succeeds");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(fetched.digest.to_string(), manifest_digest());
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|r| r.method == "GET" && r.path == "/v2/a/b/manifests/1")
    );
    assert!(
        log[0]
            .header("accept")
            .unwrap_or_default()
            .contains("application/vnd.oci.image.index.v1+json")
    );
}

#[tokio::test]
async fn gives_up_after_max_attempts_and_does_not_retry_client_errors() {
    // (status, attempts allowed, requests expected, error text)
    let cases = [
        (503u16, 3u32, 3usize, "still failing after 3 attempts"),
        (500, 2, 2, "HTTP 500"),
        (404, 3, 1, "manifest unknown"),
        (403, 3, 1, "denied"),
        (400, 3, 1, "answered HTTP 400"),
        (501, 3, 1, "answered HTTP 501"),
    ];
    for (status, attempts, expected_requests, text) in cases {
        let (host, log) = serve(Arc::new(move |_: &Request, _| {
            reply(status, &[], r#"{"errors":[{"code":"X","message":"nope"}]}"#)
        }))
        .await;
        let client = make_client(attempts, CredentialStore::new());
        let err = client
            .fetch_manifest(&format!("{host}/a/b:1").parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(text), "{status}: {err}");
        assert!(err.to_string().contains("X: nope"), "{status}: {err}");
        assert_eq!(log.lock().unwrap().len(), expected_requests, "{status}");
    }
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // Bind and drop to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = make_client(2, CredentialStore::new());
    let err = client
        .fetch_manifest(&format!("127.0.0.1:{port}/a:1").parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::RetriesExhausted { attempts: 2, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn bearer_challenge_with_access_token_and_basic_credentials() {
    let realm_host = Arc::new(Mutex::new(String::new()));
    let realm_for_handler = realm_host.clone();
    let (host, log) = serve(Arc::new(move |req: &Request, _| {
        if req.path.starts_with("/token") {
            return reply(200, &[], r#"{"access_token":"tok-1","expires_in":300}"#);
        }
        if req.header("authorization") == Some("Bearer tok-1") {
            return reply(
                200,
                &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                MANIFEST,
            );
        }
        let realm = format!(
            r#"Bearer realm="http://{}/token",service="svc",scope="repository:a/b:pull""#,
            realm_for_handler.lock().unwrap()
        );
        reply(401, &[("WWW-Authenticate", realm.as_str())], "")
    }))
    .await;
    *realm_host.lock().unwrap() = host.clone();

    let mut creds = CredentialStore::new();
    creds.insert(&host, Credentials::basic("u", "p")).unwrap();
    let client = make_client(2, creds);
    let reference: Reference = format!("{host}/a/b:1").parse().unwrap();
    client
        .fetch_manifest(&reference)
        .await
        .expect("bearer flow");
    client
        .fetch_manifest(&reference)
        .await
        .expect("cached token");
    let log = log.lock().unwrap();
    let paths: Vec<&str> = log.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/v2/a/b/manifests/1",
            "/token?service=svc&scope=repository%3Aa%2Fb%3Apull",
            "/v2/a/b/manifests/1",
            "/v2/a/b/manifests/1"
        ]
    );
    // basic credentials go to the token service only: base64("u:p")
    assert_eq!(log[1].header("authorization"), Some("Basic dTpw"));
    assert_eq!(log[0].header("authorization"), None);
    assert_eq!(log[3].header("authorization"), Some("Bearer tok-1"));
}

#[tokio::test]
async fn token_realm_over_plain_http_to_a_remote_host_is_refused() {
    let (host, _log) = serve(Arc::new(|_: &Request, _| {
        reply(
            401,
            &[(
                "WWW-Authenticate",
                r#"Bearer realm="http://auth.example.com/token",service="s""#,
            )],
            "",
        )
    }))
    .await;
    let mut creds = CredentialStore::new();
    creds
        .insert(&host, Credentials::basic("u", "secret-pw"))
        .unwrap();
    let err = make_client(1, creds)
        .fetch_manifest(&format!("{host}/a:1").parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::InsecureTransport { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret-pw"));
}

#[tokio::test]
async fn manifest_and_blob_digests_are_verified() {
    let wrong_digest = oci::digest_of(DigestAlgorithm::Sha256, b"something else").to_string();
    let wrong_for_handler = wrong_digest.clone();
    let (host, _log) = serve(Arc::new(move |req: &Request, _| {
        if req.path.contains("/manifests/lying-header") {
            return reply(
                200,
                &[("Docker-Content-Digest", wrong_for_handler.as_str())],
                MANIFEST,
            );
        }
        if req.path.contains("/manifests/") {
            return reply(200, &[], MANIFEST);
        }
        // Right length, wrong content.
        reply(200, &[], "hello worlD")
    }))
    .await;
    let client = make_client(1, CredentialStore::new());

    let by_wrong_digest: Reference = format!("{host}/a@{wrong_digest}").parse().unwrap();
    let err = client.fetch_manifest(&by_wrong_digest).await.unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err:?}");

    let err = client
        .fetch_manifest(&format!("{host}/a:lying-header").parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err:?}");

    let ok = client
        .fetch_manifest(&format!("{host}/a:plain").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(ok.digest.to_string(), manifest_digest());

    let blob_digest = oci::digest_of(DigestAlgorithm::Sha256, b"hello world");
    let reference: Reference = format!("{host}/a:1").parse().unwrap();
    let stream = client
        .open_blob(&reference, &blob_digest, 11)
        .await
        .unwrap();
    let err = drain(stream).await.unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err:?}");

    let err = client
        .open_blob(&reference, &blob_digest, 12)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::SizeMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn oversized_manifests_are_refused_before_parsing() {
    let (host, _log) = serve(Arc::new(|_: &Request, _| {
        reply(200, &[], vec![b' '; 5 * 1024 * 1024])
    }))
    .await;
    let err = make_client(1, CredentialStore::new())
        .fetch_manifest(&format!("{host}/a:1").parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn identity_tokens_use_the_oauth2_refresh_grant() {
    let realm_host = Arc::new(Mutex::new(String::new()));
    let realm_for_handler = realm_host.clone();
    let (host, log) = serve(Arc::new(move |req: &Request, _| {
        if req.path == "/token" && req.method == "POST" {
            return reply(200, &[], r#"{"access_token":"oauth-tok"}"#);
        }
        if req.header("authorization") == Some("Bearer oauth-tok") {
            return reply(200, &[], MANIFEST);
        }
        let realm = format!(
            r#"Bearer realm="http://{}/token",service="svc""#,
            realm_for_handler.lock().unwrap()
        );
        reply(401, &[("WWW-Authenticate", realm.as_str())], "")
    }))
    .await;
    *realm_host.lock().unwrap() = host.clone();
    let mut creds = CredentialStore::new();
    creds
        .insert(&host, Credentials::IdentityToken("refresh-me".into()))
        .unwrap();
    make_client(1, creds)
        .fetch_manifest(&format!("{host}/a/b:1").parse().unwrap())
        .await
        .expect("oauth flow");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[1].method, "POST");
    assert_eq!(
        log[1].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(log[1].header("authorization"), None);
}
