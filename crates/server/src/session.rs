//! Browser sessions: log in with a name and password, get an HttpOnly
//! cookie and a CSRF token to send back on every state-changing request;
//! log out; change one's password. Failed logins are rate limited per user
//! name and per client address ([`LoginLimiter`]). And the first admin,
//! created at start-up.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use store::{NewSession, NewUser, PasswordChange, Role, Store};
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::{Principal, PrincipalKind, SESSION_COOKIE, session_cookie};
use crate::error::ApiError;
use crate::secret::{self, Secret, SecretKind};

/// The longest user name and password accepted (bytes).
const MAX_NAME: usize = 128;
const MAX_PASSWORD: usize = 1024;
/// The shortest password a person may choose (characters). The generated
/// one-time password is 24.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Checks a password a person chose: long enough, not absurdly long.
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD {
        return Err(ApiError::bad_request(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters (and at most {MAX_PASSWORD} bytes)"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub name: String,
    pub password: String,
}

#[derive(Serialize)]
pub struct LoginAnswer {
    pub name: String,
    pub role: Role,
    /// Send this in `X-CSRF-Token` with every POST, PUT, PATCH and DELETE.
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// The password was a one-time password: until it is changed with
    /// `PUT /api/v1/me/password`, everything else answers 403.
    pub must_change_password: bool,
}

#[derive(Serialize)]
pub struct WhoAmI {
    pub name: String,
    pub role: Role,
    /// `session`, `token` or `agent`.
    pub via: &'static str,
    pub must_change_password: bool,
}

pub async fn login<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let request: LoginRequest = crate::api::json_body(&body)?;
    let address = client.map(|Extension(ConnectInfo(addr))| addr.ip());
    let user = match check_password(&state, &request.name, &request.password, address).await {
        Ok(user) => user,
        Err(LoginRefused::Error(error)) => return Err(error),
        Err(LoginRefused::Limited(limited)) => return Ok(limited.into_response()),
    };
    let session_id = Secret::generate(SecretKind::Session).map_err(|e| ApiError::internal(&e))?;
    let csrf = Secret::generate(SecretKind::Csrf).map_err(|e| ApiError::internal(&e))?;
    let (cookie, expires) = open_session(&state, &user, &session_id, &csrf).await?;
    let answer = LoginAnswer {
        name: user.name,
        role: user.role,
        csrf_token: csrf.expose().to_owned(),
        expires,
        must_change_password: user.must_change_password,
    };
    let mut response = (StatusCode::OK, Json(answer)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Why a login was refused.
pub(crate) enum LoginRefused {
    /// 4xx/5xx: a bad request, wrong credentials (401), a store failure.
    Error(ApiError),
    /// Too many failed attempts for the name or the client address.
    Limited(RateLimited),
}

/// The user `name` if `password` is theirs and they are not disabled; a
/// 401 otherwise (the same answer, and the same Argon2id work, whether or
/// not the name exists). Failures count against the name and the client
/// `address` in `state.login_limiter`, checked before any hashing. Shared by
/// the API's and the web UI's login.
pub(crate) async fn check_password<S: Store>(
    state: &AppState<S>,
    name: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<store::User, LoginRefused> {
    if name.is_empty() || name.len() > MAX_NAME || password.len() > MAX_PASSWORD {
        return Err(LoginRefused::Error(ApiError::bad_request(format!(
            "name must be 1 to {MAX_NAME} bytes and password at most {MAX_PASSWORD}"
        ))));
    }
    let limiter = &state.login_limiter;
    let now = state.now();
    // Checked before hashing, so a refused attempt costs no Argon2 work.
    limiter
        .check(name, address, now)
        .map_err(LoginRefused::Limited)?;
    let user = state
        .store
        .user_by_name(name)
        .await
        .map_err(|e| LoginRefused::Error(crate::api::store_error(e)))?;
    // Hash even for unknown names, so timing does not tell which names exist.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = Secret::from_client(password);
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(stored) => secret::verify_password(&password, &stored),
        None => dummy_hash().and_then(|dummy| secret::verify_password(&password, dummy)),
    })
    .await
    .map_err(|e| LoginRefused::Error(ApiError::internal(&e)))?
    .map_err(|e| LoginRefused::Error(ApiError::internal(&e)))?;
    let Some(user) = user.filter(|u| matches && !u.disabled) else {
        limiter.failed(name, address, now);
        return Err(LoginRefused::Error(ApiError::unauthorized(
            "wrong name or password",
        )));
    };
    limiter.succeeded(name);
    Ok(user)
}

/// Stores a session for `user` whose browser proves itself with
/// `session_id` (the cookie) and `csrf`; returns the `Set-Cookie` value and
/// when the session ends.
pub(crate) async fn open_session<S: Store>(
    state: &AppState<S>,
    user: &store::User,
    session_id: &Secret,
    csrf: &Secret,
) -> Result<(HeaderValue, OffsetDateTime), ApiError> {
    let now = state.now();
    let expires = now + state.settings.session_ttl;
    state
        .store
        .create_session(
            &NewSession {
                session_hash: session_id.hash(),
                user: user.id,
                csrf_hash: csrf.hash(),
                expires,
            },
            now,
        )
        .await
        .map_err(crate::api::store_error)?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session_id.expose(),
        state.settings.session_ttl.as_secs(),
        if state.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(&e))?;
    Ok((cookie, expires))
}

/// The `Set-Cookie` value that ends the browser's session cookie.
pub(crate) const CLEARED_COOKIE: &str =
    "shipshape_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";

pub async fn logout<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(id) = session_cookie(&headers) {
        state
            .store
            .delete_session(&secret::hash_secret(id))
            .await
            .map_err(crate::api::store_error)?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEARED_COOKIE));
    Ok(response)
}

pub async fn whoami(Extension(principal): Extension<Principal>) -> Json<WhoAmI> {
    let (name, via) = match &principal.kind {
        PrincipalKind::Session { name, .. } => (name.clone(), "session"),
        PrincipalKind::Token { name, .. } => (name.clone(), "token"),
        PrincipalKind::Agent { cluster, .. } => (cluster.clone(), "agent"),
    };
    Json(WhoAmI {
        name,
        role: principal.role,
        via,
        must_change_password: principal.must_change_password(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// `PUT /api/v1/me/password`: a person changes their own password, proving
/// the current one. The session making the change stays logged in; the
/// user's other sessions are deleted (whoever else knew the old password is
/// logged out). API tokens are separate credentials and stay.
pub async fn change_password<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let PrincipalKind::Session { user, name, .. } = &principal.kind else {
        return Err(ApiError::forbidden(
            "only a person logged in with a password can change it: log in at /api/v1/login",
        ));
    };
    let request: ChangePassword = crate::api::json_body(&body)?;
    let keep_session = session_cookie(&headers).map(secret::hash_secret);
    match set_own_password(
        &state,
        *user,
        name,
        &request.current_password,
        &request.new_password,
        keep_session,
    )
    .await
    {
        Ok(()) => {}
        Err(LoginRefused::Error(error)) => return Err(error),
        Err(LoginRefused::Limited(limited)) => return Ok(limited.into_response()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A person's own password change, proving the current one: the checks of
/// `PUT /api/v1/me/password` and of the web UI's password page. Wrong
/// current passwords count against `name` in the login limiter. The session
/// `keep_session` (its hash) stays; the user's other sessions are deleted.
pub(crate) async fn set_own_password<S: Store>(
    state: &AppState<S>,
    user: store::UserId,
    name: &str,
    current_password: &str,
    new_password: &str,
    keep_session: Option<String>,
) -> Result<(), LoginRefused> {
    let error = LoginRefused::Error;
    if current_password.len() > MAX_PASSWORD {
        return Err(error(ApiError::bad_request(format!(
            "current_password must be at most {MAX_PASSWORD} bytes"
        ))));
    }
    check_new_password(new_password).map_err(error)?;
    if new_password == current_password {
        return Err(error(ApiError::bad_request(
            "the new password must differ from the current one",
        )));
    }
    let now = state.now();
    let limiter = &state.login_limiter;
    // A stolen session must not become a way to guess the password.
    limiter
        .check(name, None, now)
        .map_err(LoginRefused::Limited)?;
    let stored = state
        .store
        .user(user)
        .await
        .map_err(|e| error(crate::api::store_error(e)))?
        .ok_or_else(|| error(ApiError::unauthorized("your user no longer exists")))?;
    let current = Secret::from_client(current_password);
    let new = Secret::from_client(new_password);
    let hashed = tokio::task::spawn_blocking(move || {
        if !secret::verify_password(&current, &stored.password_hash)? {
            return Ok(None);
        }
        secret::hash_password(&new).map(Some)
    })
    .await
    .map_err(|e| error(ApiError::internal(&e)))?
    .map_err(|e| error(ApiError::internal(&e)))?;
    let Some(password_hash) = hashed else {
        limiter.failed(name, None, now);
        return Err(error(ApiError::forbidden("the current password is wrong")));
    };
    limiter.succeeded(name);
    state
        .store
        .set_password(
            user,
            &PasswordChange {
                password_hash,
                must_change_password: false,
                keep_session,
            },
        )
        .await
        .map_err(|e| error(crate::api::store_error(e)))
}

/// Failed password attempts, counted per user name and per client address
/// in fixed windows: after `NAME_LIMIT` failures for a name (or
/// `ADDRESS_LIMIT` from an address) within `WINDOW`, attempts are refused
/// with 429 and `Retry-After` until the window ends, before any password is
/// hashed. Each table holds at most `MAX_ENTRIES` keys, so a flood of made-up
/// names cannot grow memory: expired windows go first, then the oldest.
///
/// Behind a reverse proxy every client has the proxy's address, so the
/// per-address limit then counts everyone together (forwarded headers are
/// not trusted: any client could set them).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    by_name: Mutex<Windows<String>>,
    by_address: Mutex<Windows<IpAddr>>,
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const NAME_LIMIT: u32 = 5;
const ADDRESS_LIMIT: u32 = 30;
const MAX_ENTRIES: usize = 10_000;

impl LoginLimiter {
    /// Refuses while the name or the address is over its limit.
    pub fn check(
        &self,
        name: &str,
        address: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<(), RateLimited> {
        let by_name = lock(&self.by_name).blocked_for(name, NAME_LIMIT, now);
        let by_address =
            address.and_then(|a| lock(&self.by_address).blocked_for(&a, ADDRESS_LIMIT, now));
        match by_name.max(by_address) {
            Some(wait) => Err(RateLimited { wait }),
            None => Ok(()),
        }
    }

    pub fn failed(&self, name: &str, address: Option<IpAddr>, now: OffsetDateTime) {
        lock(&self.by_name).count_failure(name.to_owned(), now);
        if let Some(address) = address {
            lock(&self.by_address).count_failure(address, now);
        }
    }

    /// A correct password clears the name's failures (not the address's:
    /// one valid account must not reset an address guessing others).
    pub fn succeeded(&self, name: &str) {
        lock(&self.by_name).entries.remove(name);
    }

    /// How many names and addresses are tracked (for tests of the bound).
    pub fn tracked(&self) -> (usize, usize) {
        (
            lock(&self.by_name).entries.len(),
            lock(&self.by_address).entries.len(),
        )
    }
}

/// 429 with `Retry-After` (whole seconds, rounded up).
#[derive(Debug)]
pub struct RateLimited {
    pub wait: Duration,
}

impl RateLimited {
    /// The wait in whole seconds, rounded up (`Retry-After`).
    pub fn seconds(&self) -> u64 {
        self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0)
    }
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let seconds = self.seconds();
        let body = serde_json::json!({
            "error": {
                "code": "too-many-requests",
                "message": format!(
                    "too many failed password attempts: try again in {seconds} s"
                ),
            }
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

/// A poisoned lock only means another request panicked mid-update; the
/// counters are still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct Windows<K> {
    entries: HashMap<K, Window>,
}

impl<K> Default for Windows<K> {
    fn default() -> Windows<K> {
        Windows {
            entries: HashMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: OffsetDateTime,
    failures: u32,
}

impl Window {
    fn ends(&self) -> OffsetDateTime {
        self.started + WINDOW
    }
}

impl<K: Hash + Eq + Clone> Windows<K> {
    fn blocked_for<Q>(&self, key: &Q, limit: u32, now: OffsetDateTime) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let window = self.entries.get(key)?;
        let left = window.ends() - now;
        (window.failures >= limit && left.is_positive())
            .then(|| Duration::try_from(left).unwrap_or(WINDOW))
    }

    fn count_failure(&mut self, key: K, now: OffsetDateTime) {
        if let Some(window) = self.entries.get_mut(&key) {
            if window.ends() > now {
                window.failures = window.failures.saturating_add(1);
            } else {
                *window = Window {
                    started: now,
                    failures: 1,
                };
            }
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, w| w.ends() > now);
        }
        if self.entries.len() >= MAX_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            key,
            Window {
                started: now,
                failures: 1,
            },
        );
    }
}

/// An Argon2id hash of a random secret nobody knows, made once: verified
/// against when the user name is unknown.
fn dummy_hash() -> Result<&'static str, secret::SecretError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = secret::hash_password(&secret::one_time_password()?)?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// Creates the first admin when there are no users yet, with `preset` as
/// its password or else a generated one-time password. Returns the name and
/// the generated password to print (never logged); `None` when users exist.
pub async fn ensure_first_admin<S: Store>(
    store: &S,
    now: OffsetDateTime,
    preset: Option<String>,
) -> Result<Option<(String, Option<Secret>)>, FirstAdminError> {
    // Made now, so the first login with an unknown name costs no more
    // than later ones (the dummy is hashed once, then only verified).
    tokio::task::spawn_blocking(dummy_hash)
        .await
        .map_err(|e| FirstAdminError::Task(e.to_string()))??;
    if !store.users().await?.is_empty() {
        return Ok(None);
    }
    let (password, generated) = match preset {
        Some(preset) => (Secret::from_client(&preset), false),
        None => (secret::one_time_password()?, true),
    };
    let for_hash = password.clone();
    let password_hash = tokio::task::spawn_blocking(move || secret::hash_password(&for_hash))
        .await
        .map_err(|e| FirstAdminError::Task(e.to_string()))??;
    store
        .create_user(
            &NewUser {
                name: "admin".to_owned(),
                role: Role::Admin,
                password_hash,
                // A generated password was printed to a terminal: it must
                // be replaced. A preset one was chosen by the operator.
                must_change_password: generated,
            },
            now,
        )
        .await?;
    Ok(Some(("admin".to_owned(), generated.then_some(password))))
}

#[derive(Debug, thiserror::Error)]
pub enum FirstAdminError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error("password hashing task failed: {0}")]
    Task(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(seconds)
    }

    #[test]
    fn the_limiter_tables_stay_bounded() {
        let limiter = LoginLimiter::default();
        let flood = MAX_ENTRIES + 500;
        for n in 0..flood {
            let address = IpAddr::from(std::net::Ipv6Addr::from(n as u128));
            limiter.failed(&format!("made-up-{n}"), Some(address), t(0));
        }
        assert_eq!(limiter.tracked(), (MAX_ENTRIES, MAX_ENTRIES));
        // Once the windows have ended, a new failure sweeps them out.
        limiter.failed("late", None, t(WINDOW.as_secs() as i64 + 1));
        assert_eq!(limiter.tracked(), (1, MAX_ENTRIES));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        // (wait, Retry-After)
        for (wait, header) in [
            (Duration::from_secs(840), "840"),
            (Duration::from_millis(1500), "2"),
            (Duration::from_millis(1), "1"),
        ] {
            let response = RateLimited { wait }.into_response();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()[header::RETRY_AFTER], header);
        }
    }
}
