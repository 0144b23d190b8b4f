//! Routes and handlers of the REST API. Every list is paginated (`limit`,
//! `offset`; the answer carries `total`) and sortable where it has an order
//! (`sort=field` ascending, `sort=-field` descending). Unknown query
//! parameters are refused, so a typo is an error rather than a silently
//! ignored filter.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use model::{Digest, Severity};
use serde::{Deserialize, Serialize};
use store::{
    Direction, ExceptionId, ExceptionListFilter, ExceptionScope, FilterError, ImageStatus,
    NewException, NewToken, NewUser, Page, Paged, ReportFilter, RepositorySortField, Role,
    ScanStatus, SearchText, Sort, Store, StoreError, TokenId, UserId, UserUpdate,
    VulnerabilitySortField, parse_selector,
};
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::metrics::Gauge;
use crate::secret::{self, Secret, SecretKind};
use crate::session;

/// Bodies other than agent messages are small JSON documents.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most exceptions created or cancelled in one request.
const MAX_BATCH: usize = 500;

/// The OpenAPI 3.1 description of this API (kept true by a test that
/// compares it with the routes and validates answers against its schemas).
pub const OPENAPI: &str = include_str!("../openapi.json");

pub fn routes<S: Store>(state: Arc<AppState<S>>) -> Router {
    let ingest_limit = state.settings.max_ingest_bytes;
    // Read-only report answers, kept by the response cache (`cache.rs`)
    // until the store's data generation moves.
    let cached = Router::new()
        .route("/api/v1/statistics", get(statistics::<S>))
        .route("/api/v1/repositories", get(repositories::<S>))
        .route("/api/v1/images/{digest}", get(image::<S>))
        .route(
            "/api/v1/images/{digest}/vulnerabilities",
            get(image_vulnerabilities::<S>),
        )
        .route("/api/v1/images/{digest}/packages", get(image_packages::<S>))
        .route(
            "/api/v1/images/{digest}/resources",
            get(image_resources::<S>),
        )
        .route("/api/v1/remediation", get(remediation::<S>))
        .route(
            "/api/v1/remediation/base-images",
            get(base_image_remediation::<S>),
        )
        .route("/api/v1/clusters", get(clusters::<S>))
        .route("/api/v1/exceptions/history", get(exception_history::<S>))
        .route("/api/v1/exceptions/stale", get(stale_exceptions::<S>))
        // POST passes through the cache to its handler.
        .route(
            "/api/v1/exceptions",
            get(exceptions::<S>).post(create_exceptions::<S>),
        )
        .route_layer(from_fn_with_state(state.clone(), crate::cache::cached::<S>));
    let authenticated = Router::new()
        .route("/api/v1/me", get(session::whoami))
        .route("/api/v1/me/password", put(session::change_password::<S>))
        .merge(cached)
        .route("/api/v1/exceptions/cancel", post(cancel_exceptions::<S>))
        .route("/api/v1/tokens", get(tokens::<S>).post(create_token::<S>))
        .route("/api/v1/tokens/{id}", delete(revoke_token::<S>))
        .route("/api/v1/users", get(users::<S>).post(create_user::<S>))
        .route("/api/v1/users/{id}", patch(update_user::<S>))
        .route(
            "/api/v1/agents/ingest",
            post(ingest::<S>).layer(DefaultBodyLimit::max(ingest_limit)),
        )
        .route(
            "/api/v1/images/{digest}/sbom",
            get(crate::exports::image_sbom::<S>),
        )
        .route(
            "/api/v1/images/{digest}/sarif",
            get(crate::exports::image_sarif::<S>),
        )
        .route("/api/v1/report.json", get(crate::exports::report_json::<S>))
        .route("/api/v1/report.csv", get(crate::exports::report_csv::<S>))
        .route(
            "/api/v1/exceptions/openvex",
            get(crate::exports::openvex::<S>),
        )
        .route("/api/openapi.json", get(openapi))
        .route("/metrics", get(metrics::<S>))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate::<S>));
    let public = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/api/v1/login", post(session::login::<S>))
        .route("/api/v1/logout", post(session::logout::<S>));
    Router::new()
        .merge(public)
        .merge(authenticated)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), count_requests::<S>))
        .with_state(state)
}

/// Maps store errors to answers: the caller's mistakes are 4xx with the
/// store's words; the rest is logged and a 500.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Filter(e) => ApiError::bad_request(e.to_string()),
        StoreError::Invalid { .. } => ApiError::bad_request(e.to_string()),
        StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
        StoreError::Conflict { .. } | StoreError::LastAdmin => ApiError::conflict(e.to_string()),
        other => ApiError::internal(&other),
    }
}

async fn count_requests<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .record_request(&method, &route, response.status().as_u16());
    tracing::debug!(%method, %route, status = response.status().as_u16(), elapsed = ?started.elapsed(), "request");
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint (see /api/openapi.json)")
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz<S: Store>(State(state): State<Arc<AppState<S>>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn openapi(Extension(principal): Extension<Principal>) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response())
}

async fn metrics<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let now = state.now();
    let stats = state
        .store
        .statistics(&ReportFilter::default(), now)
        .await
        .map_err(store_error)?;
    let clusters = state.store.clusters().await.map_err(store_error)?;
    let gauges = [
        Gauge {
            name: "shipshape_images",
            help: "Images in the report.",
            values: vec![(vec![], stats.images as f64)],
        },
        Gauge {
            name: "shipshape_scan_targets",
            help: "Scan targets, and how many are scanned.",
            values: vec![
                (
                    vec![("state", "all".to_owned())],
                    stats.scan_coverage.targets as f64,
                ),
                (
                    vec![("state", "scanned".to_owned())],
                    stats.scan_coverage.scanned as f64,
                ),
            ],
        },
        Gauge {
            name: "shipshape_vulnerabilities",
            help: "Findings (not excepted) by severity.",
            values: [
                ("critical", stats.vulnerabilities.critical),
                ("high", stats.vulnerabilities.high),
                ("medium", stats.vulnerabilities.medium),
                ("low", stats.vulnerabilities.low),
                ("negligible", stats.vulnerabilities.negligible),
                ("unknown", stats.vulnerabilities.unknown),
            ]
            .into_iter()
            .map(|(severity, n)| (vec![("severity", severity.to_owned())], n as f64))
            .collect(),
        },
        Gauge {
            name: "shipshape_cluster_up",
            help: "1 when a cluster's inventory is complete (status ok).",
            values: clusters
                .iter()
                .map(|c| {
                    let up = matches!(c.status, k8s::ClusterStatus::Ok);
                    (
                        vec![("cluster", c.name.clone())],
                        if up { 1.0 } else { 0.0 },
                    )
                })
                .collect(),
        },
    ];
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&gauges),
    )
        .into_response())
}

// ---- Query parsing ---------------------------------------------------------

/// The query string as (name, value) pairs, checked against the names an
/// endpoint accepts.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<String>, allowed: &[&str]) -> Result<Query, ApiError> {
        let raw = raw.unwrap_or_default();
        if raw.len() > 8192 {
            return Err(ApiError::bad_request(
                "the query string is longer than 8192 bytes",
            ));
        }
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((name, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {name:?} (this endpoint takes: {})",
                allowed.join(", ")
            )));
        }
        Ok(Query(pairs))
    }

    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            // `cluster=a,b` and `cluster=a&cluster=b` mean the same.
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(format!("{name} may be given once")));
        }
        Ok(first)
    }

    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.one(name)? {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name} must be true or false, not {other:?}"
            ))),
        }
    }

    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        let number = |name: &str| -> Result<Option<u64>, ApiError> {
            self.one(name)?
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ApiError::bad_request(format!("{name} must be a whole number, not {v:?}"))
                    })
                })
                .transpose()
        };
        let limit = number("limit")?.unwrap_or(u64::from(store::filter::DEFAULT_PAGE_LIMIT));
        let offset = number("offset")?.unwrap_or(0);
        Page::new(u32::try_from(limit).unwrap_or(u32::MAX), offset).map_err(filter_error)
    }

    pub(crate) fn sort<F: std::str::FromStr<Err = FilterError> + Default>(
        &self,
        default_direction: Direction,
    ) -> Result<Sort<F>, ApiError> {
        match self.one("sort")? {
            None => Ok(Sort {
                field: F::default(),
                direction: default_direction,
            }),
            Some(spec) => {
                let (direction, field) = match spec.strip_prefix('-') {
                    Some(field) => (Direction::Descending, field),
                    None => (Direction::Ascending, spec),
                };
                Ok(Sort {
                    field: field.parse().map_err(filter_error)?,
                    direction,
                })
            }
        }
    }

    pub(crate) fn filter(&self) -> Result<ReportFilter, ApiError> {
        let clusters: Vec<String> = self.all("cluster").map(str::to_owned).collect();
        let namespaces: Vec<String> = self.all("namespace").map(str::to_owned).collect();
        let labels = match self.one("labels")? {
            Some(selector) => parse_selector(selector).map_err(filter_error)?,
            None => Vec::new(),
        };
        let image_status = match self.one("status")? {
            None | Some("") | Some("all") => None,
            Some("running") => Some(ImageStatus::Running),
            Some("not_running") => Some(ImageStatus::NotRunning),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "status must be running, not_running or all, not {other:?}"
                )));
            }
        };
        let scan_statuses = self
            .all("scan_status")
            .map(|v| {
                ScanStatus::ALL
                    .into_iter()
                    .find(|s| s.as_str() == v)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "scan_status {v:?} is not one of pending, scanning, scanned, failed, unsupported"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let severities = self
            .all("severity")
            .map(|v| {
                severity_from_str(v).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "severity {v:?} is not one of critical, high, medium, low, negligible, unknown"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let text = match self.one("q")? {
            Some(q) => SearchText::parse(q).map_err(filter_error)?,
            None => None,
        };
        let excepted = match self.one("view")? {
            None | Some("active") => false,
            Some("excepted") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "view must be active or excepted, not {other:?}"
                )));
            }
        };
        let filter = ReportFilter {
            clusters,
            namespaces,
            labels,
            image_status,
            scan_statuses,
            severities,
            fixable_only: self.flag("fixable")?,
            text,
            excepted,
        };
        filter.check().map_err(filter_error)?;
        Ok(filter)
    }
}

pub(crate) const FILTER_PARAMS: &[&str] = &[
    "cluster",
    "namespace",
    "labels",
    "status",
    "scan_status",
    "severity",
    "fixable",
    "q",
    "view",
];

pub(crate) fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    FILTER_PARAMS
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

fn severity_from_str(s: &str) -> Option<Severity> {
    [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Negligible,
        Severity::Unknown,
    ]
    .into_iter()
    .find(|sev| sev.as_str() == s)
}

fn filter_error(e: FilterError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

pub(crate) fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{text:?} is not a digest (sha256:<64 hex>)")))
}

/// A page of a list as the API writes it.
#[derive(Serialize)]
pub struct ListAnswer<T> {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    pub items: Vec<T>,
}

fn list<T>(paged: Paged<T>, page: Page) -> Json<ListAnswer<T>> {
    Json(ListAnswer {
        total: paged.total,
        limit: page.limit(),
        offset: page.offset(),
        items: paged.items,
    })
}

// ---- Report ----------------------------------------------------------------

async fn statistics<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let filter = Query::parse(raw, FILTER_PARAMS)?.filter()?;
    let stats = state
        .store
        .statistics(&filter, state.now())
        .await
        .map_err(store_error)?;
    Ok(Json(stats).into_response())
}

async fn repositories<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &with(&["sort", "limit", "offset"]))?;
    let filter = query.filter()?;
    let sort = query.sort::<RepositorySortField>(Direction::Descending)?;
    let page = query.page()?;
    let rows = state
        .store
        .repositories(&filter, sort, page, state.now())
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

async fn image<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    Query::parse(raw, &[])?;
    let digest = parse_digest(&digest)?;
    match state
        .store
        .image(&digest, state.now())
        .await
        .map_err(store_error)?
    {
        Some(details) => Ok(Json(details).into_response()),
        None => Err(ApiError::not_found(format!(
            "no image {digest} in the report"
        ))),
    }
}

pub(crate) fn layers(query: &Query) -> Result<store::LayerFilter, ApiError> {
    let values: Vec<&str> = query.all("layers").collect();
    if values.is_empty() {
        return Ok(None);
    }
    if values.len() > 1000 {
        return Err(ApiError::bad_request("more than 1000 layers selected"));
    }
    values
        .into_iter()
        .map(|v| {
            v.parse::<u32>()
                .map_err(|_| ApiError::bad_request(format!("layers: {v:?} is not a layer index")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

async fn image_vulnerabilities<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(
        raw,
        &["layers", "sort", "limit", "offset", "include_excepted"],
    )?;
    let digest = parse_digest(&digest)?;
    let page = query.page()?;
    let rows = state
        .store
        .image_vulnerabilities(
            &digest,
            &layers(&query)?,
            query.sort::<VulnerabilitySortField>(Direction::Descending)?,
            page,
            query.flag("include_excepted")?,
        )
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

async fn image_packages<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &["layers", "limit", "offset"])?;
    let digest = parse_digest(&digest)?;
    let page = query.page()?;
    let rows = state
        .store
        .image_packages(&digest, &layers(&query)?, page)
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

async fn image_resources<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &["limit", "offset"])?;
    let digest = parse_digest(&digest)?;
    let page = query.page()?;
    let rows = state
        .store
        .image_resources(&digest, page)
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

async fn remediation<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &with(&["limit", "offset"]))?;
    let filter = query.filter()?;
    let page = query.page()?;
    let rows = state
        .store
        .remediation(&filter, page, state.now())
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

async fn base_image_remediation<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &with(&["limit", "offset"]))?;
    let filter = query.filter()?;
    let page = query.page()?;
    let rows = state
        .store
        .base_image_remediation(&filter, page, state.now())
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

async fn clusters<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    Query::parse(raw, &[])?;
    let clusters = state.store.clusters().await.map_err(store_error)?;
    Ok(Json(clusters).into_response())
}

// ---- Exceptions ------------------------------------------------------------

async fn exceptions<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &["state", "limit", "offset"])?;
    let filter = match query.one("state")? {
        None | Some("active") => ExceptionListFilter::Active,
        Some("cancelled") => ExceptionListFilter::Cancelled,
        Some("expired") => ExceptionListFilter::Expired,
        Some("all") => ExceptionListFilter::All,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "state must be active, cancelled, expired or all, not {other:?}"
            )));
        }
    };
    let page = query.page()?;
    let rows = state
        .store
        .exceptions(filter, page, state.now())
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

/// `POST /api/v1/exceptions`: one reason (and expiry) for many scopes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateExceptions {
    pub scopes: Vec<ExceptionScope>,
    pub reason: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
}

#[derive(Serialize)]
pub struct Created {
    pub ids: Vec<ExceptionId>,
}

async fn create_exceptions<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Editor)?;
    let request: CreateExceptions = json_body(&body)?;
    let ids = create_exceptions_as(
        &state,
        &principal.display_name(),
        request.scopes,
        &request.reason,
        request.expires,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Created { ids })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelExceptions {
    pub ids: Vec<ExceptionId>,
    pub reason: String,
}

async fn cancel_exceptions<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Editor)?;
    let request: CancelExceptions = json_body(&body)?;
    cancel_exceptions_as(
        &state,
        &principal.display_name(),
        &request.ids,
        &request.reason,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Creates exceptions with one reason (and expiry) for many scopes, as
/// `author`: the API's `POST /api/v1/exceptions` and the web UI's forms
/// both come here, so both refuse the same things. The caller has checked
/// the role.
pub(crate) async fn create_exceptions_as<S: Store>(
    state: &AppState<S>,
    author: &str,
    scopes: Vec<ExceptionScope>,
    reason: &str,
    expires: Option<OffsetDateTime>,
) -> Result<Vec<ExceptionId>, ApiError> {
    if scopes.is_empty() || scopes.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "scopes must list 1 to {MAX_BATCH} repositories or vulnerabilities"
        )));
    }
    if reason.trim().is_empty() {
        return Err(ApiError::bad_request("a reason is required"));
    }
    let now = state.now();
    if expires.is_some_and(|e| e <= now) {
        return Err(ApiError::bad_request("expires must be in the future"));
    }
    let new: Vec<NewException> = scopes
        .into_iter()
        .map(|scope| NewException {
            scope,
            reason: reason.to_owned(),
            author: author.to_owned(),
            expires,
        })
        .collect();
    state
        .store
        .create_exceptions(&new, now)
        .await
        .map_err(store_error)
}

/// Cancels active exceptions with a reason, as `author` (API and web UI).
/// The caller has checked the role.
pub(crate) async fn cancel_exceptions_as<S: Store>(
    state: &AppState<S>,
    author: &str,
    ids: &[ExceptionId],
    reason: &str,
) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "ids must list 1 to {MAX_BATCH} exceptions"
        )));
    }
    if reason.trim().is_empty() {
        return Err(ApiError::bad_request("a reason is required"));
    }
    state
        .store
        .cancel_exceptions(ids, reason, author, state.now())
        .await
        .map_err(store_error)
}

async fn exception_history<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &["exception", "limit", "offset"])?;
    let exception = query
        .one("exception")?
        .map(|v| {
            v.parse::<i64>()
                .map(ExceptionId)
                .map_err(|_| ApiError::bad_request(format!("exception {v:?} is not an id")))
        })
        .transpose()?;
    let page = query.page()?;
    let rows = state
        .store
        .exception_history(exception, page)
        .await
        .map_err(store_error)?;
    Ok(list(rows, page).into_response())
}

async fn stale_exceptions<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    Query::parse(raw, &[])?;
    let rows = state
        .store
        .stale_exceptions(state.now())
        .await
        .map_err(store_error)?;
    Ok(Json(rows).into_response())
}

// ---- Agent ingest ----------------------------------------------------------

async fn ingest<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cluster = principal.agent_cluster()?.to_owned();
    let message = k8s::wire::decode(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if message.cluster != cluster {
        state.metrics.record_ingest(&cluster, "refused");
        return Err(ApiError::forbidden(format!(
            "this agent token ingests for cluster {cluster:?}, not {:?}",
            message.cluster
        )));
    }
    let answer = state
        .store
        .apply_agent_message(&message, state.now())
        .await
        .map_err(store_error)?;
    let result = match &answer {
        k8s::wire::IngestResponse::Accepted { .. } => "accepted",
        k8s::wire::IngestResponse::Resnapshot { .. } => "resnapshot",
    };
    state.metrics.record_ingest(&cluster, result);
    Ok(Json(answer).into_response())
}

// ---- Tokens and users (admin) ----------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// viewer, editor or admin; agent tokens are always viewer.
    #[serde(default)]
    pub role: Option<Role>,
    /// Makes an agent token that may only ingest for this cluster.
    #[serde(default)]
    pub cluster: Option<String>,
}

#[derive(Serialize)]
pub struct TokenCreated {
    pub id: TokenId,
    pub name: String,
    /// Shown once: the server keeps only its hash.
    pub token: String,
}

async fn create_token<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let request: CreateToken = json_body(&body)?;
    if request.name.trim().is_empty() || request.name.len() > 128 {
        return Err(ApiError::bad_request("name must be 1 to 128 bytes"));
    }
    if let Some(cluster) = &request.cluster
        && (cluster.is_empty() || cluster.len() > 253)
    {
        return Err(ApiError::bad_request("cluster must be 1 to 253 bytes"));
    }
    let role = match (&request.cluster, request.role) {
        (Some(_), None | Some(Role::Viewer)) => Role::Viewer,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "an agent token (with a cluster) has no role: it may only ingest",
            ));
        }
        (None, role) => role.unwrap_or(Role::Viewer),
    };
    let token = Secret::generate(SecretKind::ApiToken).map_err(|e| ApiError::internal(&e))?;
    let id = state
        .store
        .create_token(
            &NewToken {
                name: request.name.clone(),
                token_hash: token.hash(),
                role,
                user: None,
                cluster: request.cluster,
            },
            state.now(),
        )
        .await
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id,
            name: request.name,
            token: token.expose().to_owned(),
        }),
    )
        .into_response())
}

#[derive(Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    pub cluster: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked: Option<OffsetDateTime>,
}

async fn tokens<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let tokens = state.store.tokens().await.map_err(store_error)?;
    let views: Vec<TokenView> = tokens
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            name: t.name,
            role: t.role,
            cluster: t.cluster,
            created: t.created,
            last_used: t.last_used,
            revoked: t.revoked,
        })
        .collect();
    Ok(Json(views).into_response())
}

async fn revoke_token<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let id = id
        .parse::<i64>()
        .map(TokenId)
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a token id")))?;
    state
        .store
        .revoke_token(id, state.now())
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: String,
    pub role: Role,
    pub password: String,
}

#[derive(Serialize)]
pub struct UserView {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub disabled: bool,
    pub must_change_password: bool,
}

impl From<store::User> for UserView {
    fn from(u: store::User) -> UserView {
        UserView {
            id: u.id,
            name: u.name,
            role: u.role,
            created: u.created,
            disabled: u.disabled,
            must_change_password: u.must_change_password,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// `PATCH /api/v1/users/{id}` (admin): role and/or disabled. A disabled
/// user's sessions are deleted and their tokens refused from this request
/// on; the last enabled admin cannot be disabled or demoted (409).
async fn update_user<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let id = id
        .parse::<i64>()
        .map(UserId)
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a user id")))?;
    let request: PatchUser = json_body(&body)?;
    if request.role.is_none() && request.disabled.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: send role and/or disabled",
        ));
    }
    let user = state
        .store
        .update_user(
            id,
            &UserUpdate {
                role: request.role,
                disabled: request.disabled,
            },
        )
        .await
        .map_err(store_error)?;
    tracing::info!(
        user = user.name,
        role = user.role.as_str(),
        disabled = user.disabled,
        by = principal.display_name(),
        "user changed"
    );
    Ok(Json(UserView::from(user)).into_response())
}

async fn create_user<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let request: CreateUser = json_body(&body)?;
    if request.name.trim().is_empty() || request.name.len() > 128 {
        return Err(ApiError::bad_request("name must be 1 to 128 bytes"));
    }
    session::check_new_password(&request.password)?;
    let password = Secret::from_client(&request.password);
    let password_hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    let id = state
        .store
        .create_user(
            &NewUser {
                name: request.name.clone(),
                role: request.role,
                password_hash,
                // The admin chose this password and hands it over: the new
                // user should replace it with one only they know.
                must_change_password: true,
            },
            state.now(),
        )
        .await
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "name": request.name, "role": request.role })),
    )
        .into_response())
}

async fn users<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let users = state.store.users().await.map_err(store_error)?;
    let views: Vec<UserView> = users.into_iter().map(UserView::from).collect();
    Ok(Json(views).into_response())
}

/// Parses a JSON body with a 400 that says what is wrong (axum's `Json`
/// rejection would answer 422 with its own words).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}
