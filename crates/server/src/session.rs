//! Browser sessions: log in with a name and password, get an HttpOnly
//! cookie and a CSRF token to send back on every state-changing request;
//! log out. And the first admin, created at start-up.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use store::{NewSession, NewUser, Role, Store};
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::{Principal, PrincipalKind, SESSION_COOKIE, session_cookie};
use crate::error::ApiError;
use crate::secret::{self, Secret, SecretKind};

/// The longest user name and password accepted (bytes).
const MAX_NAME: usize = 128;
const MAX_PASSWORD: usize = 1024;

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
}

#[derive(Serialize)]
pub struct WhoAmI {
    pub name: String,
    pub role: Role,
    /// `session`, `token` or `agent`.
    pub via: &'static str,
}

pub async fn login<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let request: LoginRequest = crate::api::json_body(&body)?;
    let user = check_password(&state, &request.name, &request.password).await?;
    let session_id = Secret::generate(SecretKind::Session).map_err(|e| ApiError::internal(&e))?;
    let csrf = Secret::generate(SecretKind::Csrf).map_err(|e| ApiError::internal(&e))?;
    let (cookie, expires) = open_session(&state, &user, &session_id, &csrf).await?;
    let answer = LoginAnswer {
        name: user.name,
        role: user.role,
        csrf_token: csrf.expose().to_owned(),
        expires,
    };
    let mut response = (StatusCode::OK, Json(answer)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The user `name` if `password` is theirs and they are not disabled; a
/// 401 otherwise (the same answer, and the same Argon2id work, whether or
/// not the name exists). Shared by the API's and the web UI's login.
pub(crate) async fn check_password<S: Store>(
    state: &AppState<S>,
    name: &str,
    password: &str,
) -> Result<store::User, ApiError> {
    if name.is_empty() || name.len() > MAX_NAME || password.len() > MAX_PASSWORD {
        return Err(ApiError::bad_request(format!(
            "name must be 1 to {MAX_NAME} bytes and password at most {MAX_PASSWORD}"
        )));
    }
    let user = state
        .store
        .user_by_name(name)
        .await
        .map_err(crate::api::store_error)?;
    // Hash even for unknown names, so timing does not tell which names exist.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = Secret::from_client(password);
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(stored) => secret::verify_password(&password, &stored),
        None => dummy_hash().and_then(|dummy| secret::verify_password(&password, dummy)),
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    user.filter(|u| matches && !u.disabled)
        .ok_or_else(|| ApiError::unauthorized("wrong name or password"))
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

pub async fn whoami(axum::Extension(principal): axum::Extension<Principal>) -> Json<WhoAmI> {
    let (name, via) = match &principal.kind {
        PrincipalKind::Session { name, .. } => (name.clone(), "session"),
        PrincipalKind::Token { name, .. } => (name.clone(), "token"),
        PrincipalKind::Agent { cluster, .. } => (cluster.clone(), "agent"),
    };
    Json(WhoAmI {
        name,
        role: principal.role,
        via,
    })
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
