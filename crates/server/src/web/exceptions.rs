//! The exception forms: `POST /exceptions` (except repositories, or one
//! vulnerability in a repository or everywhere) and `POST /exceptions/cancel`.
//! They go through the API's own `create_exceptions_as` /
//! `cancel_exceptions_as`, so a form and a JSON call refuse the same things,
//! then send the browser back to the page it came from with a notice
//! (`?notice=…&count=…`, words chosen here, never taken from the URL).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use store::{ExceptionId, ExceptionScope, Role, Store};
use time::{Date, Month, OffsetDateTime, Time};

use super::{Viewer, error_page, form_fields, local_path, same_origin, see_other};
use crate::AppState;
use crate::api::{cancel_exceptions_as, create_exceptions_as};
use crate::error::ApiError;
use crate::secret::constant_time_eq;

/// The query parameters that carry a notice (taken off before a page parses
/// its query with the API's parser, which refuses unknown names).
const NOTICE_PARAMS: [&str; 2] = ["notice", "count"];

/// What a form did, told on the page it returns to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    RepositoriesExcepted,
    VulnerabilityExcepted,
    ExceptionsCancelled,
}

impl Notice {
    const ALL: [(Notice, &'static str); 3] = [
        (Notice::RepositoriesExcepted, "excepted"),
        (Notice::VulnerabilityExcepted, "vulnerability-excepted"),
        (Notice::ExceptionsCancelled, "cancelled"),
    ];

    fn name(self) -> &'static str {
        Notice::ALL
            .iter()
            .find(|(n, _)| *n == self)
            .map_or("excepted", |(_, name)| name)
    }

    fn message(self, count: u64) -> String {
        let repositories = if count == 1 {
            "1 repository".to_owned()
        } else {
            format!("{count} repositories")
        };
        match self {
            Notice::RepositoriesExcepted => format!(
                "{repositories} excepted: they are in the Excepted view and out of the statistics."
            ),
            Notice::VulnerabilityExcepted => {
                "The vulnerability is excepted: it no longer counts in the report.".to_owned()
            }
            Notice::ExceptionsCancelled => format!(
                "Exception cancelled for {}: back in the list and the statistics.",
                if count == 1 {
                    "1 repository".to_owned()
                } else {
                    format!("{count} exceptions")
                }
            ),
        }
    }
}

/// Splits the notice parameters off a raw query string: the rest (for the
/// page's own parser) and the notice's words, if the parameters name one.
pub(crate) fn take_notice(raw: Option<String>) -> (Option<String>, Option<String>) {
    let Some(raw) = raw else { return (None, None) };
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    let (mut notice, mut count) = (None, 1u64);
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "notice" => {
                notice = Notice::ALL
                    .iter()
                    .find(|(_, name)| *name == v)
                    .map(|(n, _)| *n);
            }
            "count" => count = v.parse().unwrap_or(1),
            _ => {
                rest.append_pair(&k, &v);
            }
        }
    }
    (Some(rest.finish()), notice.map(|n| n.message(count)))
}

/// `back` (a path of this site) with the notice appended, any older
/// notice parameters left out.
fn back_with_notice(back: &str, notice: Notice, count: usize) -> String {
    let back = local_path(back);
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if !NOTICE_PARAMS.contains(&k.as_ref()) {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("notice", notice.name());
    out.append_pair("count", &count.to_string());
    format!("{path}?{}", out.finish())
}

/// The checks every exception form passes first: same origin, this
/// session's form token, and the editor role. `Some` is the refusal page.
fn refusal(viewer: &Viewer, headers: &HeaderMap, fields: &[(String, String)]) -> Option<Response> {
    let why = if let Err(why) = same_origin(headers) {
        why
    } else if !constant_time_eq(super::field(fields, "token"), &viewer.form_token) {
        "This form is out of date (its token does not match your session). Go back, reload and try again."
    } else if viewer.role < Role::Editor {
        "Managing exceptions needs the editor role; you are a viewer."
    } else {
        return None;
    };
    Some(error_page(Some(viewer.clone()), StatusCode::FORBIDDEN, why))
}

fn all<'a>(fields: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    fields
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The form's optional expiry date (`YYYY-MM-DD`, as `<input type=date>`
/// sends it): the exception lapses at the end of that day, UTC.
fn parse_expiry(value: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let refused = || ApiError::bad_request(format!("expiry {value:?} is not a date (YYYY-MM-DD)"));
    let mut parts = value.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(refused());
    };
    let year: i32 = year.parse().map_err(|_| refused())?;
    let month: u8 = month.parse().map_err(|_| refused())?;
    let day: u8 = day.parse().map_err(|_| refused())?;
    let month = Month::try_from(month).map_err(|_| refused())?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| refused())?;
    let end_of_day = date.next_day().ok_or_else(refused)?;
    Ok(Some(end_of_day.with_time(Time::MIDNIGHT).assume_utc()))
}

/// What an exception form asks for: repositories, or one vulnerability.
fn scopes(fields: &[(String, String)]) -> Result<(Vec<ExceptionScope>, Notice), ApiError> {
    let repositories: Vec<String> = all(fields, "repository")
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let vulnerability = super::field(fields, "vulnerability").trim();
    if vulnerability.is_empty() {
        if repositories.is_empty() {
            return Err(ApiError::bad_request("select at least one repository"));
        }
        let scopes = repositories
            .into_iter()
            .map(|repository| ExceptionScope::Repository { repository })
            .collect();
        return Ok((scopes, Notice::RepositoriesExcepted));
    }
    let repository = match super::field(fields, "scope") {
        "everywhere" => None,
        "repository" | "" => match repositories.as_slice() {
            [one] => Some(one.clone()),
            _ => {
                return Err(ApiError::bad_request(
                    "a vulnerability is excepted in one repository or everywhere",
                ));
            }
        },
        other => {
            return Err(ApiError::bad_request(format!(
                "scope must be repository or everywhere, not {other:?}"
            )));
        }
    };
    Ok((
        vec![ExceptionScope::Vulnerability {
            vulnerability: vulnerability.to_owned(),
            repository,
        }],
        Notice::VulnerabilityExcepted,
    ))
}

/// `POST /exceptions`.
pub(crate) async fn except<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(viewer): Extension<Viewer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    if let Some(refused) = refusal(&viewer, &headers, &fields) {
        return refused;
    }
    let created = async {
        let (scopes, notice) = scopes(&fields)?;
        let expires = parse_expiry(super::field(&fields, "expires"))?;
        let ids = create_exceptions_as(
            &state,
            &viewer.name,
            scopes,
            super::field(&fields, "reason"),
            expires,
        )
        .await?;
        Ok::<_, ApiError>((notice, ids.len()))
    };
    match created.await {
        Ok((notice, count)) => see_other(&back_with_notice(
            super::field(&fields, "back"),
            notice,
            count,
        )),
        Err(e) => error_page(Some(viewer), e.status, &sentence(&e.message)),
    }
}

/// `POST /exceptions/cancel`.
pub(crate) async fn cancel<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(viewer): Extension<Viewer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    if let Some(refused) = refusal(&viewer, &headers, &fields) {
        return refused;
    }
    let cancelled = async {
        let ids = all(&fields, "exception")
            .map(|v| {
                v.parse::<i64>()
                    .map(ExceptionId)
                    .map_err(|_| ApiError::bad_request(format!("exception {v:?} is not an id")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(ApiError::bad_request("select at least one exception"));
        }
        cancel_exceptions_as(&state, &viewer.name, &ids, super::field(&fields, "reason")).await?;
        Ok::<_, ApiError>(ids.len())
    };
    match cancelled.await {
        Ok(count) => see_other(&back_with_notice(
            super::field(&fields, "back"),
            Notice::ExceptionsCancelled,
            count,
        )),
        Err(e) => error_page(Some(viewer), e.status, &sentence(&e.message)),
    }
}

/// The API's messages start in lower case; a page's sentences do not.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_end_at_the_end_of_the_day_and_bad_ones_are_refused() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("2027-01-31", Some("2027-02-01 0:00:00.0 +00:00:00")),
            ("2027-12-31", Some("2028-01-01 0:00:00.0 +00:00:00")),
        ];
        for (input, want) in cases {
            let got = parse_expiry(input).unwrap().map(|t| t.to_string());
            assert_eq!(got.as_deref(), *want, "{input}");
        }
        for bad in [
            "2027-02-30",
            "2027-13-01",
            "tomorrow",
            "2027-01",
            "-1-01-01x",
        ] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn notices_go_back_to_the_page_and_only_known_words_are_shown() {
        assert_eq!(
            back_with_notice(
                "/?view=excepted&notice=cancelled&count=9",
                Notice::RepositoriesExcepted,
                2
            ),
            "/?view=excepted&notice=excepted&count=2"
        );
        assert_eq!(
            back_with_notice("https://evil.test/", Notice::ExceptionsCancelled, 1),
            "/?notice=cancelled&count=1"
        );
        let (rest, notice) = take_notice(Some("cluster=prod&notice=excepted&count=2".to_owned()));
        assert_eq!(rest.as_deref(), Some("cluster=prod"));
        assert_eq!(
            notice.as_deref(),
            Some(
                "2 repositories excepted: they are in the Excepted view and out of the statistics."
            )
        );
        let (_, notice) = take_notice(Some("notice=%3Cscript%3E".to_owned()));
        assert_eq!(notice, None);
    }
}
