use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use model::Digest;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{RequestBuilder, Response, StatusCode, Url};

use crate::auth::{AuthCache, Challenge, RegistryScheme, TokenResponse, parse_challenges};
use crate::blob::BlobStream;
use crate::manifest::{DEFAULT_MAX_MANIFEST_BYTES, Descriptor, MANIFEST_ACCEPT};
use crate::reference::split_host_port;
use crate::retry::{RetryPolicy, is_retryable_status};
use crate::verify::{digest_of, verify_descriptor, verify_digest};
use crate::{CredentialStore, Credentials, OciError, Reference};

/// Registry error bodies and token replies are small; more is not worth reading.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
const MAX_TOKEN_BODY_BYTES: u64 = 1024 * 1024;

/// Settings of a [`RegistryClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Registries (`host` or `host:port`) that may be reached over plain HTTP.
    /// Loopback hosts always may; everything else is HTTPS only.
    pub insecure_registries: Vec<String>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Longest silence while reading a response; layers can take long in
    /// total, so there is no overall request timeout.
    pub read_timeout: Duration,
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            insecure_registries: Vec::new(),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            user_agent: format!("shipshape/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Whether `host[:port]` may be spoken to over plain HTTP.
fn allows_plain_http(registry: &str, insecure: &[String]) -> bool {
    let lowered = registry.to_ascii_lowercase();
    let host = split_host_port(&lowered)
        .map(|(h, _)| h)
        .unwrap_or(&lowered);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare == "localhost"
        || bare.ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback
        || insecure.iter().any(|i| {
            let i = i.trim().to_ascii_lowercase();
            i == lowered || i == host
        })
}

/// A manifest's bytes as fetched, with the digest they were verified against.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    /// The `Content-Type` the registry sent.
    pub content_type: Option<String>,
}

/// What a request is for, so failures name the right thing.
enum Target<'a> {
    Manifest(&'a str),
    Blob(&'a Digest),
}

/// A client for the OCI distribution API.
///
/// Built directly on `reqwest` rather than `oci-client`: we need our own
/// platform choice (never the host's), docker-config credentials, retries
/// with `Retry-After`, a bounded read of every JSON document, and blob bodies
/// streamed through our own digest verification. Share one client (in an
/// `Arc`) across images so bearer tokens are reused.
pub struct RegistryClient {
    http: reqwest::Client,
    config: ClientConfig,
    credentials: CredentialStore,
    auth: Mutex<AuthCache>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("config", &self.config)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Builds the client. A rustls crypto provider must be installed as the
    /// process default before (the binary installs `ring` at start-up).
    pub fn new(
        config: ClientConfig,
        credentials: CredentialStore,
    ) -> Result<RegistryClient, OciError> {
        // reqwest panics without a provider; an error the caller can report is kinder.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(OciError::ClientSetup(
                "no rustls crypto provider installed: call rustls::crypto::ring::default_provider().install_default() at start-up".to_owned(),
            ));
        }
        let insecure = config.insecure_registries.clone();
        // Registries redirect blob downloads to storage hosts; the transport
        // policy applies there too, so an HTTPS registry cannot bounce us to HTTP.
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error("too many redirects");
            }
            let url = attempt.url();
            let plain_ok = url
                .host_str()
                .is_some_and(|h| allows_plain_http(&host_port(h, url.port()), &insecure));
            if url.scheme() == "https" || (url.scheme() == "http" && plain_ok) {
                attempt.follow()
            } else {
                attempt.error("redirect to plain HTTP refused")
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(redirect)
            .build()
            .map_err(|e| OciError::ClientSetup(error_chain(&e)))?;
        Ok(RegistryClient {
            http,
            config,
            credentials,
            auth: Mutex::new(AuthCache::default()),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn base_url(&self, reference: &Reference) -> String {
        let scheme = if allows_plain_http(reference.registry(), &self.config.insecure_registries) {
            "http"
        } else {
            "https"
        };
        format!(
            "{scheme}://{}/v2/{}",
            reference.api_host(),
            reference.repository()
        )
    }

    /// Fetches the manifest or index `reference` names (its digest if it has
    /// one, else its tag) and verifies its digest: against the requested digest,
    /// else against `Docker-Content-Digest`; computed (sha256) in any case.
    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<FetchedManifest, OciError> {
        let selector = reference.manifest_selector();
        let shown = reference.to_string();
        let url = format!("{}/manifests/{selector}", self.base_url(reference));
        let response = self
            .get(
                reference,
                &url,
                Some(MANIFEST_ACCEPT),
                Target::Manifest(&shown),
            )
            .await?;
        let content_type = header_str(response.headers(), CONTENT_TYPE.as_str());
        let header_digest = header_str(response.headers(), "docker-content-digest");
        let what = format!("manifest of {shown}");
        let bytes = read_capped(
            response,
            DEFAULT_MAX_MANIFEST_BYTES,
            &what,
            reference.registry(),
        )
        .await?;
        let digest = match reference.digest() {
            Some(expected) => {
                verify_digest(&what, &bytes, expected)?;
                expected.clone()
            }
            None => match header_digest.as_deref().map(str::parse::<Digest>) {
                Some(Ok(announced)) => {
                    verify_digest(&what, &bytes, &announced)?;
                    announced
                }
                Some(Err(e)) => {
                    tracing::debug!(
                        registry = reference.registry(),
                        "ignoring unparseable Docker-Content-Digest: {e}"
                    );
                    digest_of(model::DigestAlgorithm::Sha256, &bytes)
                }
                None => digest_of(model::DigestAlgorithm::Sha256, &bytes),
            },
        };
        Ok(FetchedManifest {
            bytes,
            digest,
            content_type,
        })
    }

    /// Fetches a small blob (an image config) whole, refusing anything above
    /// `limit`, and verifies it against its descriptor.
    pub async fn fetch_blob_bytes(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, OciError> {
        if descriptor.size > limit {
            return Err(OciError::TooLarge {
                what: what.to_owned(),
                size: descriptor.size,
                limit,
            });
        }
        let url = format!("{}/blobs/{}", self.base_url(reference), descriptor.digest);
        let response = self
            .get(reference, &url, None, Target::Blob(&descriptor.digest))
            .await?;
        // Read one byte past the announced size so an oversized body is detected.
        let bytes = read_capped(
            response,
            descriptor.size.saturating_add(1),
            what,
            reference.registry(),
        )
        .await
        .map_err(|e| match e {
            OciError::TooLarge { size, .. } => OciError::SizeMismatch {
                what: what.to_owned(),
                expected: descriptor.size,
                actual: size,
            },
            other => other,
        })?;
        verify_descriptor(what, &bytes, &descriptor.digest, descriptor.size)?;
        Ok(bytes)
    }

    /// Opens a blob as a verified stream. Retries happen only until the first
    /// byte; a failure mid-stream is an error item in the stream.
    pub async fn open_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobStream, OciError> {
        let url = format!("{}/blobs/{digest}", self.base_url(reference));
        let response = self
            .get(reference, &url, None, Target::Blob(digest))
            .await?;
        let what = format!("blob {digest} of {}", reference.full_repository());
        if let Some(announced) = response.content_length()
            && announced != size
        {
            return Err(OciError::SizeMismatch {
                what,
                expected: size,
                actual: announced,
            });
        }
        let registry = reference.registry().to_owned();
        let chunks = futures_util::stream::try_unfold(response, move |mut response| {
            let registry = registry.clone();
            async move {
                match response.chunk().await {
                    Ok(Some(chunk)) => Ok(Some((chunk, response))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(OciError::Connection {
                        registry,
                        detail: format!("blob download interrupted: {}", error_chain(&e)),
                    }),
                }
            }
        });
        Ok(BlobStream::verified(
            what,
            digest.clone(),
            size,
            chunks.boxed(),
        ))
    }

    /// GET with authentication and retries; any non-success status becomes a typed error.
    async fn get(
        &self,
        reference: &Reference,
        url: &str,
        accept: Option<&str>,
        target: Target<'_>,
    ) -> Result<Response, OciError> {
        let registry = reference.registry();
        let scope = format!("repository:{}:pull", reference.repository());
        let what = match &target {
            Target::Manifest(r) => format!("manifest {r}"),
            Target::Blob(d) => format!("blob {d}"),
        };
        let mut authenticated_retry = false;
        loop {
            let authorization = self.authorization(registry, &scope);
            let response = self
                .send_with_retries(registry, &what, || {
                    let mut request = self.http.get(url);
                    if let Some(accept) = accept {
                        request = request.header(ACCEPT, accept);
                    }
                    if let Some(value) = &authorization {
                        request = request.header(AUTHORIZATION, value.clone());
                    }
                    request
                })
                .await?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && !authenticated_retry {
                authenticated_retry = true;
                self.answer_challenge(registry, &scope, response.headers())
                    .await?;
                continue;
            }
            return Err(status_error(response, reference, target).await);
        }
    }

    /// The `Authorization` value to send up front, from what the registry asked for before.
    fn authorization(&self, registry: &str, scope: &str) -> Option<HeaderValue> {
        let cache = self
            .auth
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let value = match cache.scheme(registry)? {
            RegistryScheme::Bearer { .. } => {
                format!("Bearer {}", cache.token(registry, scope, Instant::now())?)
            }
            RegistryScheme::Basic => match self.credentials.get(registry)? {
                Credentials::Basic { username, password } => basic_value(username, password),
                Credentials::IdentityToken(_) => return None,
            },
        };
        sensitive(&value)
    }

    /// Handles a 401: learns the scheme and, for bearer, fetches a token.
    async fn answer_challenge(
        &self,
        registry: &str,
        scope: &str,
        headers: &HeaderMap,
    ) -> Result<(), OciError> {
        let challenges: Vec<Challenge> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let unauthorized = || OciError::Unauthorized {
            registry: registry.to_owned(),
            message: None,
        };
        let bearer = challenges.iter().find_map(|c| match c {
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => Some((realm, service, scope)),
            _ => None,
        });
        if let Some((realm, service, challenge_scope)) = bearer {
            let wanted_scope = challenge_scope.as_deref().unwrap_or(scope);
            let (token, lifetime) = self
                .fetch_token(registry, realm, service.as_deref(), wanted_scope)
                .await?;
            let mut cache = self
                .auth
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            cache.set_scheme(
                registry,
                RegistryScheme::Bearer {
                    realm: realm.clone(),
                    service: service.clone(),
                },
            );
            cache.store_token(registry, scope, token, lifetime, Instant::now());
            return Ok(());
        }
        if challenges.contains(&Challenge::Basic) {
            return match self.credentials.get(registry) {
                Some(Credentials::Basic { .. }) => {
                    let mut cache = self
                        .auth
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    if cache.scheme(registry) == Some(&RegistryScheme::Basic) {
                        // We already sent these credentials and they were refused.
                        return Err(unauthorized());
                    }
                    cache.set_scheme(registry, RegistryScheme::Basic);
                    Ok(())
                }
                _ => Err(unauthorized()),
            };
        }
        Err(unauthorized())
    }

    /// Gets a bearer token from the realm, with our credentials if we have any.
    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(String, Duration), OciError> {
        let token_error = |detail: String| OciError::Token {
            registry: registry.to_owned(),
            realm: realm.to_owned(),
            detail,
        };
        let mut url =
            Url::parse(realm).map_err(|e| token_error(format!("invalid realm URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                let host = url
                    .host_str()
                    .map(|h| host_port(h, url.port()))
                    .unwrap_or_default();
                if !allows_plain_http(&host, &self.config.insecure_registries) {
                    return Err(OciError::InsecureTransport { host });
                }
            }
            other => return Err(token_error(format!("unsupported realm scheme {other:?}"))),
        }
        let credentials = self.credentials.get(registry).cloned();
        let what = format!("token from {realm}");
        let response = match &credentials {
            Some(Credentials::IdentityToken(refresh)) => {
                // OAuth2 refresh-token grant, as docker does for identity tokens.
                let mut form =
                    Url::parse("http://form.invalid/").map_err(|e| token_error(e.to_string()))?;
                {
                    let mut pairs = form.query_pairs_mut();
                    pairs.append_pair("grant_type", "refresh_token");
                    pairs.append_pair("client_id", "shipshape");
                    pairs.append_pair("refresh_token", refresh);
                    pairs.append_pair("scope", scope);
                    if let Some(s) = service {
                        pairs.append_pair("service", s);
                    }
                }
                let body = form.query().unwrap_or_default().to_owned();
                self.send_with_retries(registry, &what, || {
                    self.http
                        .post(url.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body.clone())
                })
                .await?
            }
            _ => {
                {
                    let mut pairs = url.query_pairs_mut();
                    if let Some(s) = service {
                        pairs.append_pair("service", s);
                    }
                    pairs.append_pair("scope", scope);
                }
                let authorization = match &credentials {
                    Some(Credentials::Basic { username, password }) => {
                        sensitive(&basic_value(username, password))
                    }
                    _ => None,
                };
                self.send_with_retries(registry, &what, || {
                    let request = self.http.get(url.clone());
                    match &authorization {
                        Some(value) => request.header(AUTHORIZATION, value.clone()),
                        None => request,
                    }
                })
                .await?
            }
        };
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let message = registry_message(response).await;
            return Err(OciError::Unauthorized {
                registry: registry.to_owned(),
                message,
            });
        }
        if !status.is_success() {
            let message = registry_message(response).await.unwrap_or_default();
            return Err(token_error(
                format!("HTTP {} {message}", status.as_u16())
                    .trim_end()
                    .to_owned(),
            ));
        }
        let body = read_capped(response, MAX_TOKEN_BODY_BYTES, &what, registry).await?;
        let reply: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| token_error(format!("reply is not a token: {e}")))?;
        reply.into_token().ok_or_else(|| {
            token_error("reply has neither \"token\" nor \"access_token\"".to_owned())
        })
    }

    /// Sends a request, retrying 429/5xx and connection failures with backoff.
    /// Returns the first response that is not worth retrying.
    async fn send_with_retries(
        &self,
        registry: &str,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, OciError> {
        let policy = &self.config.retry;
        let max_attempts = policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let (wait, failure) = match build().send().await {
                Ok(response) if is_retryable_status(response.status().as_u16()) => {
                    let wait = header_str(response.headers(), RETRY_AFTER.as_str())
                        .and_then(|v| policy.retry_after(&v, SystemTime::now()))
                        .unwrap_or_else(|| policy.backoff(attempt));
                    let status = response.status().as_u16();
                    let message = registry_message(response).await;
                    let failure = match message {
                        Some(m) => format!("HTTP {status} ({m})"),
                        None => format!("HTTP {status}"),
                    };
                    (wait, failure)
                }
                Ok(response) => return Ok(response),
                Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
                    (policy.backoff(attempt), error_chain(&e))
                }
                Err(e) => {
                    return Err(OciError::Connection {
                        registry: registry.to_owned(),
                        detail: error_chain(&e),
                    });
                }
            };
            if attempt >= max_attempts {
                return Err(if max_attempts == 1 {
                    OciError::Connection {
                        registry: registry.to_owned(),
                        detail: format!("{what}: {failure}"),
                    }
                } else {
                    OciError::RetriesExhausted {
                        registry: registry.to_owned(),
                        what: what.to_owned(),
                        attempts: attempt,
                        last: failure,
                    }
                });
            }
            tracing::debug!(registry, what, attempt, ?wait, failure, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn basic_value(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// A header value marked sensitive, so HTTP-level logging never prints it.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn host_port(host: &str, port: Option<u16>) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An error and its causes on one line: reqwest's top-level message alone
/// ("error sending request") does not say what went wrong.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Reads a whole body, refusing more than `limit` bytes.
async fn read_capped(
    mut response: Response,
    limit: u64,
    what: &str,
    registry: &str,
) -> Result<Vec<u8>, OciError> {
    if let Some(len) = response.content_length()
        && len > limit
    {
        return Err(OciError::TooLarge {
            what: what.to_owned(),
            size: len,
            limit,
        });
    }
    let mut body = Vec::new();
    loop {
        let chunk: Option<Bytes> = response.chunk().await.map_err(|e| OciError::Connection {
            registry: registry.to_owned(),
            detail: format!("reading {what}: {}", error_chain(&e)),
        })?;
        let Some(chunk) = chunk else { break };
        let total = body.len() as u64 + chunk.len() as u64;
        if total > limit {
            return Err(OciError::TooLarge {
                what: what.to_owned(),
                size: total,
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(serde::Deserialize)]
struct RegistryErrors {
    errors: Vec<RegistryErrorItem>,
}

#[derive(serde::Deserialize)]
struct RegistryErrorItem {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The registry's own explanation from its error JSON (`CODE: message; …`), if any.
pub(crate) fn parse_registry_errors(body: &[u8]) -> Option<String> {
    let parsed: RegistryErrors = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = parsed
        .errors
        .into_iter()
        .take(5)
        .filter_map(|e| match (e.code, e.message) {
            (Some(c), Some(m)) if !m.is_empty() => Some(format!("{c}: {m}")),
            (Some(c), _) => Some(c),
            (None, Some(m)) => Some(m),
            (None, None) => None,
        })
        .map(|s| s.chars().take(300).collect())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

async fn registry_message(response: Response) -> Option<String> {
    let body = read_capped(response, MAX_ERROR_BODY_BYTES, "error body", "")
        .await
        .ok()?;
    parse_registry_errors(&body)
}

async fn status_error(response: Response, reference: &Reference, target: Target<'_>) -> OciError {
    let status = response.status().as_u16();
    let registry = reference.registry().to_owned();
    let message = registry_message(response).await;
    match (status, target) {
        (401, _) => OciError::Unauthorized { registry, message },
        (403, _) => OciError::Denied {
            registry,
            what: reference.full_repository(),
            message,
        },
        (404, Target::Manifest(r)) => OciError::ManifestUnknown {
            reference: r.to_owned(),
            message,
        },
        (404, Target::Blob(d)) => OciError::BlobUnknown {
            repository: reference.full_repository(),
            digest: d.clone(),
            message,
        },
        (_, target) => OciError::UnexpectedStatus {
            registry,
            status,
            what: match target {
                Target::Manifest(r) => format!("manifest {r}"),
                Target::Blob(d) => format!("blob {d}"),
            },
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_policy() {
        let insecure = vec!["registry.lan:5000".to_owned(), "Plain.Example".to_owned()];
        let cases = [
            ("localhost:5000", true),
            ("localhost", true),
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:5000", true),
            ("registry.lan:5000", true),
            ("registry.lan", false),
            ("registry.lan:5001", false),
            ("plain.example", true),
            ("plain.example:8080", true),
            ("docker.io", false),
            ("10.0.0.1:5000", false),
            ("localhost.evil.com", false),
            ("127.0.0.1.nip.io", false),
        ];
        for (registry, plain) in cases {
            assert_eq!(allows_plain_http(registry, &insecure), plain, "{registry}");
        }
    }

    #[test]
    fn registry_error_messages() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
                Some("MANIFEST_UNKNOWN: manifest unknown"),
            ),
            (
                r#"{"errors":[{"code":"DENIED"},{"message":"m"}]}"#,
                Some("DENIED; m"),
            ),
            (r#"{"errors":[]}"#, None),
            ("<html>502</html>", None),
            ("", None),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_registry_errors(body.as_bytes()).as_deref(),
                *expected,
                "{body}"
            );
        }
    }

    #[test]
    fn host_port_formatting() {
        assert_eq!(host_port("::1", Some(5000)), "[::1]:5000");
        assert_eq!(host_port("localhost", None), "localhost");
        assert_eq!(host_port("a.b", Some(1)), "a.b:1");
    }
}
