//! The web UI (issue #6): server-rendered HTML pages over the same store
//! queries and the same query-string parsing as the REST API (`api::Query`),
//! so a page and its API call answer the same question the same way.
//!
//! Pages need a browser session (the API's `shipshape_session` cookie); a
//! request without one is sent to `/login`. Form posts (login, logout) check
//! that they come from our own origin (`Origin` / `Sec-Fetch-Site`), and
//! posts made in a session carry a form token bound to that session (see
//! [`form_token`]). Assets (`assets/`) are compiled in and served under
//! content-hashed names. Everything reads without JavaScript.

mod account;
pub mod assets;
mod exceptions;
mod format;
mod image;
mod overview;

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query as AxumQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use store::{Role, Store, UserId};
use tower::ServiceExt;

use crate::AppState;
use crate::auth::session_cookie;
use crate::error::ApiError;
use crate::secret::{Secret, SecretKind, constant_time_eq, hash_secret};
use crate::session::{self, LoginRefused};

/// Login and logout forms are a few hundred bytes.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// The longest `next` path a login form carries back.
const MAX_NEXT_LEN: usize = 2048;

/// The pages, with `api` (the REST router) behind them: requests for the
/// API's paths go there, anything else unknown gets the HTML 404 page.
pub fn routes<S: Store>(state: Arc<AppState<S>>, api: Router) -> Router {
    let pages = Router::new()
        .route("/", get(overview::page::<S>))
        .route("/images", get(image::choose_digest))
        .route("/images/{digest}", get(image::page::<S>))
        .route("/exceptions", post(exceptions::except::<S>))
        .route("/exceptions/cancel", post(exceptions::cancel::<S>))
        .route("/logout", post(logout::<S>))
        .route(
            "/password",
            get(account::password_page).post(account::change_password::<S>),
        )
        .route_layer(from_fn_with_state(state.clone(), require_session::<S>));
    let public = Router::new()
        .route("/login", get(login_page::<S>).post(login::<S>))
        .route("/assets/{file}", get(assets::serve));
    Router::new()
        .merge(pages)
        .merge(public)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
        .fallback(move |request: Request| fallback(api.clone(), request))
}

async fn fallback(api: Router, request: Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") || matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return match api.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    error_page(None, StatusCode::NOT_FOUND, "There is no page here.")
}

/// The signed-in person a page is rendered for.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    pub user: UserId,
    pub name: String,
    pub role: Role,
    /// Signed in with a one-time password: only the password page (and
    /// logout) until it is changed, as in the API.
    pub must_change_password: bool,
    /// The form token of this session (hidden field of every form that posts).
    pub form_token: String,
}

impl Viewer {
    /// Editors and admins manage exceptions; viewers see no forms for it.
    pub(crate) fn can_edit(&self) -> bool {
        self.role >= Role::Editor
    }
}

/// The form token of a session: derived from the session id (which only the
/// browser's HttpOnly cookie holds), so a page can render it on every
/// request without storing it, and a forged cross-site form cannot know it.
/// The web login stores its hash as the session's CSRF hash, so the same
/// token also works in the API's `X-CSRF-Token` header.
pub(crate) fn form_token(session_id: &str) -> String {
    format!(
        "ssc_{}",
        hash_secret(&format!("shipshape web form token\0{session_id}"))
    )
}

async fn signed_in<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, ApiError> {
    let Some(session_id) = session_cookie(headers) else {
        return Ok(None);
    };
    let session = state
        .store
        .session_by_hash(&hash_secret(session_id), state.now())
        .await
        .map_err(crate::api::store_error)?;
    Ok(session.filter(|s| !s.user.disabled).map(|session| Viewer {
        user: session.user.id,
        name: session.user.name,
        role: session.user.role,
        must_change_password: session.user.must_change_password,
        form_token: form_token(session_id),
    }))
}

/// Middleware of the pages: no session → `/login?next=<this page>`.
async fn require_session<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    mut request: Request,
    next: Next,
) -> Response {
    match signed_in(&state, request.headers()).await {
        Ok(Some(viewer))
            if viewer.must_change_password
                && !matches!(request.uri().path(), "/password" | "/logout") =>
        {
            see_other(&with_next("/password", &request))
        }
        Ok(Some(viewer)) => {
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        Ok(None) => see_other(&with_next("/login", &request)),
        Err(e) => error_page(None, e.status, &e.message),
    }
}

/// `page?next=<the requested page>` (no `next` for the overview).
fn with_next(page: &str, request: &Request) -> String {
    let here = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut to = String::from(page);
    if here != "/" {
        to.push('?');
        to.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", here)
                .finish(),
        );
    }
    to
}

/// What every page's frame shows: title, assets, who is signed in.
pub(crate) struct Layout {
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub viewer: Option<Viewer>,
    /// What the last form did (see `exceptions::take_notice`).
    pub notice: Option<String>,
}

impl Layout {
    pub(crate) fn new(title: impl Into<String>, viewer: Option<Viewer>) -> Layout {
        Layout {
            title: title.into(),
            css: assets::url("style.css"),
            js: assets::url("app.js"),
            viewer,
            notice: None,
        }
    }

    pub(crate) fn with_notice(mut self, notice: Option<String>) -> Layout {
        self.notice = notice;
        self
    }
}

/// Renders a page with the headers every page carries: never cached (it
/// holds a form token and private data), a strict content security policy
/// (our own scripts and styles only, no inline code), no framing.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                     form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    reason: &'static str,
    message: String,
}

/// An error as a page (the API's errors are JSON; a browser gets words).
pub(crate) fn error_page(viewer: Option<Viewer>, status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    html(
        status,
        &ErrorPage {
            layout: Layout::new(reason, viewer),
            status: status.as_u16(),
            reason,
            message: message.to_owned(),
        },
    )
}

pub(crate) fn api_error_page(viewer: &Viewer, e: ApiError) -> Response {
    error_page(Some(viewer.clone()), e.status, &e.message)
}

pub(crate) fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
    }
}

/// Only a path of this site: never `//host` or `/\host` (both leave the
/// site in browsers), never a scheme.
pub(crate) fn local_path(next: &str) -> &str {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= MAX_NEXT_LEN
        && !next.chars().any(char::is_control);
    if safe { next } else { "/" }
}

/// Refuses a form post that a browser says comes from another site: the
/// `Origin` header must name this host (the `Host` header), and
/// `Sec-Fetch-Site`, when sent, must not be cross-site. Clients that send
/// neither (scripts, old browsers) are not browsers posting on someone's
/// behalf, and the session cookie is `SameSite=Strict` besides.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err("this form was posted from another site");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
        let origin = origin.as_bytes();
        let origin_host = origin
            .strip_prefix(b"https://")
            .or_else(|| origin.strip_prefix(b"http://"));
        if origin_host.is_none() || origin_host != host {
            return Err("this form was posted from another site");
        }
    }
    Ok(())
}

pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    name: String,
    next: String,
    message: Option<String>,
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    query: Result<AxumQuery<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query
        .ok()
        .and_then(|AxumQuery(q)| q.next)
        .unwrap_or_default();
    let next = local_path(&next).to_owned();
    if let Ok(Some(_)) = signed_in(&state, &headers).await {
        return see_other(&next);
    }
    html(
        StatusCode::OK,
        &LoginPage {
            layout: Layout::new("Sign in", None),
            name: String::new(),
            next,
            message: None,
        },
    )
}

async fn login<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    client: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = same_origin(&headers) {
        return error_page(None, StatusCode::FORBIDDEN, why);
    }
    let fields = form_fields(&body);
    let name = field(&fields, "name");
    let next = local_path(field(&fields, "next")).to_owned();
    let again = |status: StatusCode, message: String| {
        html(
            status,
            &LoginPage {
                layout: Layout::new("Sign in", None),
                name: name.to_owned(),
                next: next.clone(),
                message: Some(message),
            },
        )
    };
    let address = client.map(|axum::Extension(ConnectInfo(addr))| addr.ip());
    let password = field(&fields, "password");
    let user = match session::check_password(&state, name, password, address).await {
        Ok(user) => user,
        Err(LoginRefused::Limited(limited)) => {
            let mut page = again(StatusCode::TOO_MANY_REQUESTS, limited_message(&limited));
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(limited.seconds()));
            return page;
        }
        Err(LoginRefused::Error(e)) if e.status.is_client_error() => {
            return again(e.status, e.message);
        }
        Err(LoginRefused::Error(e)) => return error_page(None, e.status, &e.message),
    };
    let opened = async {
        let session_id =
            Secret::generate(SecretKind::Session).map_err(|e| ApiError::internal(&e))?;
        let csrf = Secret::from_client(&form_token(session_id.expose()));
        session::open_session(&state, &user, &session_id, &csrf).await
    };
    match opened.await {
        Ok((cookie, _)) => {
            let mut response = see_other(&next);
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => error_page(None, e.status, &e.message),
    }
}

/// "Too many failed attempts" in words a person reads.
pub(crate) fn limited_message(limited: &session::RateLimited) -> String {
    let minutes = limited.seconds().div_ceil(60);
    format!(
        "Too many failed password attempts. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )
}

async fn logout<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    axum::Extension(viewer): axum::Extension<Viewer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = same_origin(&headers) {
        return error_page(Some(viewer), StatusCode::FORBIDDEN, why);
    }
    let fields = form_fields(&body);
    if !constant_time_eq(field(&fields, "token"), &viewer.form_token) {
        return error_page(
            Some(viewer),
            StatusCode::FORBIDDEN,
            "This form is out of date (its token does not match your session). Go back, reload and try again.",
        );
    }
    if let Some(session_id) = session_cookie(&headers)
        && let Err(e) = state.store.delete_session(&hash_secret(session_id)).await
    {
        let e = crate::api::store_error(e);
        return error_page(Some(viewer), e.status, &e.message);
    }
    let mut response = see_other("/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(session::CLEARED_COOKIE),
    );
    response
}

/// The query string without empty values: a GET form sends every field,
/// and an empty one means "no filter", as leaving the parameter out does.
pub(crate) fn without_empty_values(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.len() > 8192 {
        return Err(ApiError::bad_request(
            "the query string is longer than 8192 bytes",
        ));
    }
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if !v.trim().is_empty() {
            out.append_pair(&k, &v);
        }
    }
    Ok(Some(out.finish()))
}

/// A query string as pairs, to write links that change one parameter.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    pub(crate) fn parse(raw: Option<&str>) -> QueryPairs {
        QueryPairs(
            raw.map(|raw| form_fields(raw.as_bytes()))
                .unwrap_or_default(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str, value: &str) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k == name && v.split(',').any(|v| v.trim() == value))
    }

    /// `?…` with `changes` applied: each name's values replaced by the
    /// given one, or removed for `None`.
    pub(crate) fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if !changes.iter().any(|(name, _)| name == k) {
                out.append_pair(k, v);
            }
        }
        for (name, value) in changes {
            if let Some(value) = value {
                out.append_pair(name, value);
            }
        }
        let query = out.finish();
        if query.is_empty() {
            "?".to_owned()
        } else {
            format!("?{query}")
        }
    }
}
