//! A token server speaking the Docker registry token protocol, signing JWTs
//! that distribution 2.8 accepts (`ES256`, certificate in the `x5c` header,
//! verified against the `rootcertbundle` the registry is configured with).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Serialize;

use crate::TestkitError;

/// Who a [`Grant`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Requests without credentials.
    Anonymous,
    /// Any user who authenticated successfully.
    AnyUser,
    /// One named user.
    User(String),
}

/// Permission for a subject to perform actions on matching repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who.
    pub subject: Subject,
    /// Exact repository name, or a prefix ending in `*` (`team/*`, `*`).
    pub repository: String,
    /// Allowed actions: `pull`, `push`, `delete`, or `*`.
    pub actions: Vec<String>,
}

impl Grant {
    fn covers(&self, account: Option<&str>, repository: &str) -> bool {
        let subject_ok = match (&self.subject, account) {
            (Subject::Anonymous, None) => true,
            (Subject::AnyUser, Some(_)) => true,
            (Subject::User(user), Some(account)) => user == account,
            _ => false,
        };
        let repository_ok = match self.repository.strip_suffix('*') {
            Some(prefix) => repository.starts_with(prefix),
            None => self.repository == repository,
        };
        subject_ok && repository_ok
    }
}

/// Users and grants for a token-auth [`TestRegistry`](crate::TestRegistry).
///
/// ```
/// use testkit::TokenPolicy;
/// let policy = TokenPolicy::new()
///     .user("alice", "alice-pw")
///     .user("bob", "bob-pw")
///     .allow("alice", "team/*", &["pull", "push"])
///     .allow("bob", "team/app", &["pull"])
///     .allow_anonymous("public/*", &["pull"]);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    pub(crate) users: Vec<(String, String)>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) expires_in: u64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy::new()
    }
}

impl TokenPolicy {
    /// No users, no grants, 300 s token lifetime.
    pub fn new() -> TokenPolicy {
        TokenPolicy {
            users: Vec::new(),
            grants: Vec::new(),
            expires_in: 300,
        }
    }

    /// Adds a user the token server authenticates with HTTP basic credentials.
    pub fn user(mut self, name: &str, password: &str) -> TokenPolicy {
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }

    /// Lets `user` perform `actions` on repositories matching `repository`
    /// (exact, or prefix ending in `*`).
    pub fn allow(self, user: &str, repository: &str, actions: &[&str]) -> TokenPolicy {
        self.grant(Subject::User(user.to_owned()), repository, actions)
    }

    /// Lets requests without credentials perform `actions`.
    pub fn allow_anonymous(self, repository: &str, actions: &[&str]) -> TokenPolicy {
        self.grant(Subject::Anonymous, repository, actions)
    }

    /// Adds any grant.
    pub fn grant(mut self, subject: Subject, repository: &str, actions: &[&str]) -> TokenPolicy {
        self.grants.push(Grant {
            subject,
            repository: repository.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        });
        self
    }

    /// Token lifetime reported in `expires_in` and written in `exp`.
    /// (The registry allows 60 s of clock-skew leeway past `exp`.)
    pub fn expires_in(mut self, seconds: u64) -> TokenPolicy {
        self.expires_in = seconds;
        self
    }

    fn actions_for(&self, account: Option<&str>, repository: &str, wanted: &[&str]) -> Vec<String> {
        let allowed: Vec<&str> = self
            .grants
            .iter()
            .filter(|g| g.covers(account, repository))
            .flat_map(|g| g.actions.iter().map(String::as_str))
            .collect();
        wanted
            .iter()
            .filter(|w| allowed.iter().any(|a| a == *w || *a == "*"))
            .map(|w| (*w).to_owned())
            .collect()
    }
}

/// One request the token server answered, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The authenticated user, `None` for anonymous requests.
    pub account: Option<String>,
    /// The `scope` parameters as sent.
    pub scopes: Vec<String>,
    /// HTTP status the server answered.
    pub status: u16,
    /// Granted access as `(type, name, actions)`.
    pub granted: Vec<(String, String, Vec<String>)>,
}

/// Token signing identity and settings shared with the server thread.
struct Issuer {
    service: String,
    issuer: String,
    key: EcdsaKeyPair,
    cert_der_b64: String,
    rng: SystemRandom,
    jti: AtomicU64,
    policy: TokenPolicy,
}

/// The running token server (a thread on 127.0.0.1); stops on drop.
pub(crate) struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    thread: Option<JoinHandle<()>>,
    root_pem: String,
}

const MAX_REQUEST_HEAD: usize = 16 * 1024;

impl TokenServer {
    pub(crate) fn start(
        policy: TokenPolicy,
        service: &str,
        issuer: &str,
    ) -> Result<TokenServer, TestkitError> {
        let crypto = |e: &dyn std::fmt::Display| TestkitError::Crypto(e.to_string());
        let key_pair = rcgen::KeyPair::generate().map_err(|e| crypto(&e))?;
        let mut params = rcgen::CertificateParams::new(vec!["shipshape-testkit-token".to_owned()])
            .map_err(|e| crypto(&e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "shipshape testkit token signer");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        let cert = params.self_signed(&key_pair).map_err(|e| crypto(&e))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .map_err(|e| crypto(&e))?;
        let issuer = Arc::new(Issuer {
            service: service.to_owned(),
            issuer: issuer.to_owned(),
            key,
            cert_der_b64: STANDARD.encode(cert.der()),
            rng,
            jti: AtomicU64::new(0),
            policy,
        });

        let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| TestkitError::Io {
            path: "token server socket".into(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| TestkitError::Io {
                path: "token server socket".into(),
                source,
            })?
            .port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let requests = Arc::clone(&requests);
            std::thread::Builder::new()
                .name("testkit-token-server".into())
                .spawn(move || serve(listener, &issuer, &stop, &requests))
                .map_err(|source| TestkitError::Io {
                    path: "token server thread".into(),
                    source,
                })?
        };
        Ok(TokenServer {
            port,
            stop,
            requests,
            thread: Some(thread),
            root_pem: cert.pem(),
        })
    }

    pub(crate) fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub(crate) fn root_pem(&self) -> &str {
        &self.root_pem
    }

    pub(crate) fn requests(&self) -> Vec<TokenRequest> {
        match self.requests.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the thread sees the flag.
        let _wake = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _joined = thread.join();
        }
    }
}

fn serve(
    listener: TcpListener,
    issuer: &Issuer,
    stop: &AtomicBool,
    requests: &Mutex<Vec<TokenRequest>>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let (status, body, record) = match read_head(&mut stream) {
            Some(head) => handle(issuer, &head),
            None => (400, error_json("malformed request"), None),
        };
        if let Some(record) = record {
            match requests.lock() {
                Ok(mut guard) => guard.push(record),
                Err(poisoned) => poisoned.into_inner().push(record),
            }
        }
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            _ => "Error",
        };
        let mut response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if status == 401 {
            response.push_str("WWW-Authenticate: Basic realm=\"shipshape-testkit-token\"\r\n");
        }
        response.push_str("\r\n");
        let _ = stream.write_all(response.as_bytes());
        let _ = stream.write_all(body.as_bytes());
        let _ = stream.flush();
    }
}

/// Reads the request line and headers (the token endpoint ignores bodies).
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return None;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(head).ok()
}

fn error_json(message: &str) -> String {
    serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]}).to_string()
}

#[derive(Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

fn handle(issuer: &Issuer, head: &str) -> (u16, String, Option<TokenRequest>) {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("/"),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != "/token" {
        // POST (OAuth2 password grant) is optional in the protocol; clients
        // fall back to GET on 404.
        return (404, error_json("only GET /token is served"), None);
    }
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.as_str());

    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_owned());
    let account = match authorization {
        None => None,
        Some(value) => match check_basic(&issuer.policy, &value) {
            Some(user) => Some(user),
            None => {
                let record = TokenRequest {
                    account: None,
                    scopes,
                    status: 401,
                    granted: Vec::new(),
                };
                return (401, error_json("bad credentials"), Some(record));
            }
        },
    };
    if service.is_some_and(|s| s != issuer.service) {
        let record = TokenRequest {
            account,
            scopes,
            status: 400,
            granted: Vec::new(),
        };
        return (400, error_json("unknown service"), Some(record));
    }

    let mut access = Vec::new();
    for scope in &scopes {
        // type:name:actions, where the name may itself contain ':' (a port).
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        if kind != "repository" {
            continue;
        }
        let wanted: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
        let granted = issuer.policy.actions_for(account.as_deref(), name, &wanted);
        if !granted.is_empty() {
            access.push(Access {
                kind: kind.to_owned(),
                name: name.to_owned(),
                actions: granted,
            });
        }
    }
    let granted = access
        .iter()
        .map(|a| (a.kind.clone(), a.name.clone(), a.actions.clone()))
        .collect();
    match sign_token(issuer, account.as_deref().unwrap_or(""), access) {
        Ok(token) => {
            let body = serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": issuer.policy.expires_in,
            })
            .to_string();
            let record = TokenRequest {
                account,
                scopes,
                status: 200,
                granted,
            };
            (200, body, Some(record))
        }
        Err(e) => (500, error_json(&e.to_string()), None),
    }
}

fn check_basic(policy: &TokenPolicy, header: &str) -> Option<String> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    policy
        .users
        .iter()
        .any(|(u, p)| u == user && p == password)
        .then(|| user.to_owned())
}

fn sign_token(issuer: &Issuer, subject: &str, access: Vec<Access>) -> Result<String, TestkitError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| TestkitError::Crypto(e.to_string()))?
        .as_secs();
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [issuer.cert_der_b64],
    });
    let claims = Claims {
        iss: &issuer.issuer,
        sub: subject,
        aud: &issuer.service,
        exp: now + issuer.policy.expires_in,
        nbf: now,
        iat: now,
        jti: format!(
            "testkit-{}-{now}",
            issuer.jti.fetch_add(1, Ordering::SeqCst)
        ),
        access,
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
    );
    let signature = issuer
        .key
        .sign(&issuer.rng, signing_input.as_bytes())
        .map_err(|e| TestkitError::Crypto(e.to_string()))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex_pair) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        let cases = [
            (
                "repository%3Aa%2Fb%3Apull%2Cpush",
                "repository:a/b:pull,push",
            ),
            ("a+b", "a b"),
            ("100%", "100%"),
            ("%zz%4", "%zz%4"),
            ("%41", "A"),
        ];
        for (input, expected) in cases {
            assert_eq!(percent_decode(input), expected, "{input}");
        }
    }

    #[test]
    fn grants_intersect_requested_actions() {
        let policy = TokenPolicy::new()
            .user("alice", "a")
            .allow("alice", "team/*", &["pull", "push"])
            .allow("bob", "team/app", &["*"])
            .allow_anonymous("public/app", &["pull"])
            .grant(Subject::AnyUser, "shared", &["pull"]);
        type Case<'a> = (Option<&'a str>, &'a str, &'a [&'a str], &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (
                Some("alice"),
                "team/app",
                &["pull", "push"],
                &["pull", "push"],
            ),
            (Some("alice"), "team/app", &["delete"], &[]),
            (Some("alice"), "other/app", &["pull"], &[]),
            (
                Some("bob"),
                "team/app",
                &["pull", "delete"],
                &["pull", "delete"],
            ),
            (Some("bob"), "team/other", &["pull"], &[]),
            (None, "public/app", &["pull", "push"], &["pull"]),
            (None, "team/app", &["pull"], &[]),
            (Some("alice"), "public/app", &["pull"], &[]),
            (Some("anyone"), "shared", &["pull"], &["pull"]),
            (None, "shared", &["pull"], &[]),
        ];
        for (account, repository, wanted, expected) in cases {
            assert_eq!(
                policy.actions_for(*account, repository, wanted),
                expected.to_vec(),
                "{account:?} {repository} {wanted:?}"
            );
        }
    }
}
