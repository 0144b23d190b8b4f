use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use model::Digest;
use ureq::http;

use crate::Artifact;
use crate::{TestkitError, media_type, sha256_digest};

/// Largest response body the client reads; the registry under test only
/// serves what tests pushed, so this is a safety net, not a tuning knob.
const MAX_RESPONSE_BYTES: u64 = 512 * 1024 * 1024;

/// A status, headers and body, whatever the status was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text, for error messages and assertions.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `Basic` or `Bearer` (as sent).
    pub scheme: String,
    /// `key="value"` parameters (`realm`, `service`, `scope`, `error`, ...).
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses `Bearer realm="...",service="...",scope="a,b"` (commas inside
    /// quotes are kept).
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ',') {
                    value.push(c);
                }
            }
            params.push((key.trim().to_ascii_lowercase(), value));
        }
        Some(Challenge {
            scheme: scheme.to_owned(),
            params,
        })
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A small blocking registry client: pushes artifacts and fetches
/// manifests/blobs, answering `Basic` and `Bearer` (token) challenges.
///
/// Tests that assert on raw behaviour (a 401 without credentials, headers)
/// use [`send`](Self::send), which never fails on HTTP status.
///
/// ```
/// use testkit::{ImageBuilder, LayerBuilder, RegistryAuth, RegistryClient, TestRegistry};
/// let Some(registry) = TestRegistry::start_with(RegistryAuth::htpasswd(&[("alice", "s3cret")])) else {
///     return Ok(());
/// };
/// let image = ImageBuilder::docker().layer(LayerBuilder::new().dir("tmp")).build()?;
/// let alice = RegistryClient::new(registry.host()).with_basic_auth("alice", "s3cret");
/// alice.push("team/app", "v1", &image)?;
/// let anonymous = RegistryClient::new(registry.host());
/// assert_eq!(anonymous.get_manifest("team/app", "v1")?.status, 401);
/// # Ok::<(), testkit::TestkitError>(())
/// ```
#[derive(Debug)]
pub struct RegistryClient {
    base_url: String,
    agent: ureq::Agent,
    basic: Option<(String, String)>,
    /// The `Authorization` header that last worked (or was just obtained).
    authorization: Mutex<Option<String>>,
}

impl RegistryClient {
    /// A client for `host` (`127.0.0.1:PORT`), over plain HTTP.
    pub fn new(host: impl AsRef<str>) -> RegistryClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        RegistryClient {
            base_url: format!("http://{}", host.as_ref()),
            agent: config.into(),
            basic: None,
            authorization: Mutex::new(None),
        }
    }

    /// Credentials for `Basic` challenges and for the token server.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> RegistryClient {
        self.basic = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// `http://host`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one request (path relative to the base URL, or an absolute URL)
    /// and returns the response whatever its status, after answering at most
    /// one auth challenge. When `headers` contain `authorization`, the
    /// request is sent once with exactly that header and no challenge is
    /// answered.
    pub fn send(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, TestkitError> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{}", self.base_url, path_or_url)
        };
        let explicit = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if explicit {
            // The caller is testing a specific credential: send exactly that.
            return self.raw(method, &url, headers, body, None);
        }
        let cached = self.cached_authorization();
        let first = self.raw(method, &url, headers, body, cached.as_deref())?;
        if first.status != 401 {
            return Ok(first);
        }
        let Some(challenge) = first.header("www-authenticate").and_then(Challenge::parse) else {
            return Ok(first);
        };
        let Some(authorization) = self.answer(&challenge)? else {
            return Ok(first);
        };
        if Some(&authorization) == cached.as_ref() && challenge.scheme.eq_ignore_ascii_case("basic")
        {
            return Ok(first);
        }
        let second = self.raw(method, &url, headers, body, Some(&authorization))?;
        if second.status != 401 {
            self.set_cached_authorization(Some(authorization));
        }
        Ok(second)
    }

    /// One request with no credentials and no challenge answering (the
    /// readiness probe must not show up in the token server's record).
    pub(crate) fn send_unauthenticated(&self, path: &str) -> Result<HttpResponse, TestkitError> {
        self.raw("GET", &format!("{}{path}", self.base_url), &[], None, None)
    }

    /// Pushes every blob (skipping those the registry has), then every
    /// manifest by digest, then the top-level manifest under `tag`. Returns
    /// the top-level manifest digest, checked against the registry's answer.
    pub fn push(
        &self,
        repository: &str,
        tag: &str,
        artifact: &dyn Artifact,
    ) -> Result<Digest, TestkitError> {
        for blob in artifact.blobs() {
            if !self.blob_exists(repository, blob.digest)? {
                self.upload_blob(repository, blob.digest, blob.bytes)?;
            }
        }
        let manifests = artifact.manifests();
        let Some((top, children)) = manifests.split_last() else {
            return Err(TestkitError::Protocol("artifact has no manifest".into()));
        };
        for child in children {
            let pushed = self.put_manifest(
                repository,
                &child.digest.to_string(),
                &child.media_type,
                &child.bytes,
            )?;
            check_digest("child manifest", &child.digest, &pushed)?;
        }
        let pushed = self.put_manifest(repository, tag, &top.media_type, &top.bytes)?;
        check_digest("manifest", &top.digest, &pushed)?;
        Ok(pushed)
    }

    /// Uploads `bytes` as a blob (computing its digest) unless present.
    pub fn push_blob(&self, repository: &str, bytes: &[u8]) -> Result<Digest, TestkitError> {
        let digest = sha256_digest(bytes);
        if !self.blob_exists(repository, &digest)? {
            self.upload_blob(repository, &digest, bytes)?;
        }
        Ok(digest)
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: 200 → true, 404 → false.
    pub fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, TestkitError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let response = self.send("HEAD", &path, &[], None)?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error("HEAD", &path, &response)),
        }
    }

    /// Monolithic upload: `POST /v2/<repo>/blobs/uploads/`, then
    /// `PUT <location>&digest=<digest>` with the whole content. The registry
    /// verifies the digest, so `digest` must match `bytes`.
    pub fn upload_blob(
        &self,
        repository: &str,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<(), TestkitError> {
        let path = format!("/v2/{repository}/blobs/uploads/");
        let started = self.send("POST", &path, &[("content-length", "0")], Some(&[]))?;
        if started.status != 202 {
            return Err(self.status_error("POST", &path, &started));
        }
        let location = started
            .header("location")
            .ok_or_else(|| TestkitError::Protocol(format!("POST {path}: 202 without Location")))?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{separator}digest={digest}");
        let headers = [("content-type", "application/octet-stream")];
        let done = self.send("PUT", &put_url, &headers, Some(bytes))?;
        if done.status != 201 {
            return Err(self.status_error("PUT", &put_url, &done));
        }
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with any bytes (valid or not)
    /// and `media_type` as Content-Type; returns the registry's
    /// `Docker-Content-Digest`.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, TestkitError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let response = self.send("PUT", &path, &[("content-type", media_type)], Some(bytes))?;
        if response.status != 201 {
            return Err(self.status_error("PUT", &path, &response));
        }
        let header = response.header("docker-content-digest").ok_or_else(|| {
            TestkitError::Protocol(format!("PUT {path}: no Docker-Content-Digest header"))
        })?;
        header
            .parse()
            .map_err(|e| TestkitError::Protocol(format!("PUT {path}: bad digest header: {e}")))
    }

    /// `GET /v2/<repo>/manifests/<reference>` accepting every manifest type;
    /// the response is returned whatever its status.
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<HttpResponse, TestkitError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        self.send("GET", &path, &[("accept", media_type::ALL_MANIFESTS)], None)
    }

    /// `DELETE /v2/<repo>/manifests/<digest>` (the test registry has deletes
    /// enabled); the response whatever its status (202 when deleted).
    pub fn delete_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<HttpResponse, TestkitError> {
        self.send(
            "DELETE",
            &format!("/v2/{repository}/manifests/{digest}"),
            &[],
            None,
        )
    }

    /// `GET /v2/<repo>/blobs/<digest>`; the response whatever its status.
    pub fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<HttpResponse, TestkitError> {
        self.send(
            "GET",
            &format!("/v2/{repository}/blobs/{digest}"),
            &[],
            None,
        )
    }

    /// Answers a challenge: the `Authorization` header to retry with, or
    /// `None` when this client cannot answer it.
    fn answer(&self, challenge: &Challenge) -> Result<Option<String>, TestkitError> {
        if challenge.scheme.eq_ignore_ascii_case("basic") {
            return Ok(self.basic_header());
        }
        if !challenge.scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let realm = challenge
            .param("realm")
            .ok_or_else(|| TestkitError::Protocol("Bearer challenge without realm".into()))?;
        let mut url = realm.to_owned();
        let mut separator = if realm.contains('?') { '&' } else { '?' };
        for key in ["service", "scope"] {
            if let Some(value) = challenge.param(key) {
                url.push(separator);
                url.push_str(key);
                url.push('=');
                url.push_str(&percent_encode(value));
                separator = '&';
            }
        }
        let basic = self.basic_header();
        let response = self.raw("GET", &url, &[], None, basic.as_deref())?;
        if response.status != 200 {
            return Err(self.status_error("GET", &url, &response));
        }
        let json: serde_json::Value = serde_json::from_slice(&response.body)?;
        let token = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                TestkitError::Protocol(format!("token response without token: {json}"))
            })?;
        Ok(Some(format!("Bearer {token}")))
    }

    fn basic_header(&self) -> Option<String> {
        self.basic.as_ref().map(|(user, password)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        })
    }

    fn cached_authorization(&self) -> Option<String> {
        match self.authorization.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_cached_authorization(&self, value: Option<String>) {
        match self.authorization.lock() {
            Ok(mut guard) => *guard = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    fn status_error(&self, method: &str, url: &str, response: &HttpResponse) -> TestkitError {
        let mut body = response.text();
        body.truncate(2000);
        TestkitError::Status {
            method: method.to_owned(),
            url: url.to_owned(),
            status: response.status,
            body,
        }
    }

    fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        authorization: Option<&str>,
    ) -> Result<HttpResponse, TestkitError> {
        let http_err = |source: ureq::Error| TestkitError::Http {
            method: method.to_owned(),
            url: url.to_owned(),
            source: Box::new(source),
        };
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(authorization) = authorization {
            builder = builder.header("authorization", authorization);
        }
        let result = match body {
            Some(bytes) => builder
                .body(bytes)
                .map_err(|e| http_err(ureq::Error::Http(e)))
                .and_then(|request| self.agent.run(request).map_err(http_err)),
            None => builder
                .body(())
                .map_err(|e| http_err(ureq::Error::Http(e)))
                .and_then(|request| self.agent.run(request).map_err(http_err)),
        };
        let response = result?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = if method.eq_ignore_ascii_case("HEAD") {
            Vec::new()
        } else {
            response
                .into_body()
                .into_with_config()
                .limit(MAX_RESPONSE_BYTES)
                .read_to_vec()
                .map_err(http_err)?
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn check_digest(what: &str, expected: &Digest, got: &Digest) -> Result<(), TestkitError> {
    if expected == got {
        Ok(())
    } else {
        Err(TestkitError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_string(),
            got: got.to_string(),
        })
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type ChallengeCase<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    #[test]
    fn parses_challenges() {
        let cases: &[ChallengeCase<'_>] = &[
            (
                r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#,
                "Bearer",
                &[
                    ("realm", "http://127.0.0.1:1/token"),
                    ("service", "reg"),
                    ("scope", "repository:a/b:pull,push"),
                ],
            ),
            (r#"Basic realm="x""#, "Basic", &[("realm", "x")]),
            (
                r#"Bearer realm="r", error="insufficient_scope""#,
                "Bearer",
                &[("realm", "r"), ("error", "insufficient_scope")],
            ),
            ("Basic", "Basic", &[]),
            (
                r#"Bearer a=b,c="d\"e""#,
                "Bearer",
                &[("a", "b"), ("c", "d\"e")],
            ),
        ];
        for (header, scheme, params) in cases {
            let challenge = Challenge::parse(header).unwrap();
            assert_eq!(challenge.scheme, *scheme, "{header}");
            let got: Vec<(&str, &str)> = challenge
                .params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, *params, "{header}");
        }
        assert_eq!(Challenge::parse(""), None);
    }

    #[test]
    fn percent_encodes_scopes() {
        assert_eq!(
            percent_encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
