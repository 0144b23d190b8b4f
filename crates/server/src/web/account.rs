//! The password page: a person changes their own password (the web side of
//! `PUT /api/v1/me/password`, through the same `session::set_own_password`).
//! A session opened with a one-time password is sent here before any other
//! page.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use store::Store;

use super::{
    Layout, Viewer, error_page, field, form_fields, html, limited_message, local_path, same_origin,
    see_other,
};
use crate::AppState;
use crate::auth::session_cookie;
use crate::secret::{constant_time_eq, hash_secret};
use crate::session::{self, LoginRefused, MIN_PASSWORD_CHARS};

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    form_token: String,
    next: String,
    forced: bool,
    min_chars: usize,
    message: Option<String>,
}

#[derive(serde::Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

fn page(viewer: Viewer, next: String, status: StatusCode, message: Option<String>) -> Response {
    html(
        status,
        &PasswordPage {
            form_token: viewer.form_token.clone(),
            forced: viewer.must_change_password,
            layout: Layout::new("Change your password", Some(viewer)),
            next,
            min_chars: MIN_PASSWORD_CHARS,
            message,
        },
    )
}

pub(super) async fn password_page(
    Extension(viewer): Extension<Viewer>,
    query: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.ok().and_then(|Query(q)| q.next).unwrap_or_default();
    page(viewer, local_path(&next).to_owned(), StatusCode::OK, None)
}

pub(super) async fn change_password<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(viewer): Extension<Viewer>,
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
    let next = local_path(field(&fields, "next")).to_owned();
    let new = field(&fields, "new_password");
    if new != field(&fields, "confirm_password") {
        return page(
            viewer,
            next,
            StatusCode::BAD_REQUEST,
            Some("The two new passwords differ.".to_owned()),
        );
    }
    let keep_session = session_cookie(&headers).map(hash_secret);
    let changed = session::set_own_password(
        &state,
        viewer.user,
        &viewer.name,
        field(&fields, "current_password"),
        new,
        keep_session,
    )
    .await;
    match changed {
        Ok(()) => see_other(&next),
        Err(LoginRefused::Limited(limited)) => {
            let mut response = page(
                viewer,
                next,
                StatusCode::TOO_MANY_REQUESTS,
                Some(limited_message(&limited)),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(limited.seconds()));
            response
        }
        Err(LoginRefused::Error(e)) if e.status.is_client_error() => {
            page(viewer, next, e.status, Some(capitalised(&e.message)))
        }
        Err(LoginRefused::Error(e)) => error_page(Some(viewer), e.status, &e.message),
    }
}

/// The API's messages start in lower case; a page's sentences do not.
fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
