//! Who is asking, and may they: API tokens (`Authorization: Bearer`),
//! browser sessions (a cookie plus a CSRF token on every state-changing
//! request), and agent tokens that can only ingest for their own cluster.
//! Nothing is anonymous except the health endpoints.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use store::{Role, Store, TokenId, UserId};

use crate::AppState;
use crate::error::ApiError;
use crate::secret::{Secret, constant_time_eq, hash_secret};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shipshape_session";
/// How stale a token's recorded last use may be.
const TOKEN_USE_PRECISION: time::Duration = time::Duration::minutes(1);

/// The header a browser session sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub enum PrincipalKind {
    /// A person, through a browser session.
    Session {
        user: UserId,
        name: String,
        /// Logged in with a one-time password not yet changed.
        must_change_password: bool,
    },
    /// An API token (of a user or a service).
    Token { token: TokenId, name: String },
    /// An agent token: may only ingest for `cluster`.
    Agent { token: TokenId, cluster: String },
}

impl Principal {
    /// The name recorded as the author of what this caller does.
    pub fn display_name(&self) -> String {
        match &self.kind {
            PrincipalKind::Session { name, .. } => name.clone(),
            PrincipalKind::Token { name, .. } => format!("token:{name}"),
            PrincipalKind::Agent { cluster, .. } => format!("agent:{cluster}"),
        }
    }

    pub fn must_change_password(&self) -> bool {
        matches!(
            self.kind,
            PrincipalKind::Session {
                must_change_password: true,
                ..
            }
        )
    }

    /// Refuses agents (they only ingest) and roles below `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if let PrincipalKind::Agent { .. } = self.kind {
            return Err(ApiError::forbidden(
                "agent tokens may only send inventory to the ingest endpoint",
            ));
        }
        if self.role < role {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role; you have {}",
                role.as_str(),
                self.role.as_str()
            )));
        }
        Ok(())
    }

    /// The cluster an agent token may ingest for.
    pub fn agent_cluster(&self) -> Result<&str, ApiError> {
        match &self.kind {
            PrincipalKind::Agent { cluster, .. } => Ok(cluster),
            _ => Err(ApiError::forbidden(
                "only an agent token (one issued for a cluster) may ingest inventory",
            )),
        }
    }
}

/// What a session with a one-time password may reach until the password is
/// changed (logout is public). API tokens are not held back: a token is a
/// credential an admin created deliberately (through the API after changing
/// the password, or with `shipshape token` on the server's data directory,
/// which needs no password at all), so the one-time password never stood
/// behind it.
const ALLOWED_BEFORE_PASSWORD_CHANGE: &[&str] = &["/api/v1/me", "/api/v1/me/password"];

/// Middleware: resolves the caller or answers 401; checks CSRF for browser
/// sessions on state-changing methods.
pub async fn authenticate<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = resolve(&state, request.method(), request.headers()).await?;
    if principal.must_change_password()
        && !ALLOWED_BEFORE_PASSWORD_CHANGE.contains(&request.uri().path())
    {
        return Err(ApiError::forbidden(
            "you logged in with a one-time password: change it first with PUT /api/v1/me/password \
             (current_password, new_password)",
        ));
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

async fn resolve<S: Store>(
    state: &AppState<S>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let now = state.now();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        let hash = Secret::from_client(token.trim()).hash();
        let Some(token) = state.store.token_by_hash(&hash).await.map_err(internal)? else {
            return Err(ApiError::unauthorized("unknown or revoked token"));
        };
        // A failed bookkeeping write must not refuse a valid caller. Once a
        // minute is precise enough for "last used", and keeps a write (one
        // writer connection, serialized) off nearly every request.
        let recently_used = token
            .last_used
            .is_some_and(|used| now - used < TOKEN_USE_PRECISION && used <= now);
        if !recently_used && let Err(e) = state.store.touch_token(token.id, now).await {
            tracing::warn!(error = %e, token = token.id.0, "could not record token use");
        }
        let kind = match token.cluster {
            Some(cluster) => PrincipalKind::Agent {
                token: token.id,
                cluster,
            },
            None => PrincipalKind::Token {
                token: token.id,
                name: token.name,
            },
        };
        return Ok(Principal {
            kind,
            role: token.role,
        });
    }
    if let Some(session_id) = session_cookie(headers) {
        let Some(session) = state
            .store
            .session_by_hash(&hash_secret(session_id), now)
            .await
            .map_err(internal)?
        else {
            return Err(ApiError::unauthorized(
                "your session has expired: log in again",
            ));
        };
        if !is_safe(method) {
            let sent = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if sent.is_empty() || !constant_time_eq(&hash_secret(sent), &session.csrf_hash) {
                return Err(ApiError::forbidden(
                    "missing or wrong CSRF token (send the one from the login answer in X-CSRF-Token)",
                ));
            }
        }
        return Ok(Principal {
            kind: PrincipalKind::Session {
                user: session.user.id,
                name: session.user.name.clone(),
                must_change_password: session.user.must_change_password,
            },
            role: session.user.role,
        });
    }
    Err(ApiError::unauthorized(
        "authentication required: send `Authorization: Bearer <token>` or log in",
    ))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session id from the `Cookie` header(s), if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

pub(crate) fn internal(e: store::StoreError) -> ApiError {
    crate::api::store_error(e)
}
