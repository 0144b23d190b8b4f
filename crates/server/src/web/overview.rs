//! `/`: the statistics panel and the repositories list, with the filters
//! in the URL (the API's parameters: `cluster`, `namespace`, `labels`,
//! `status`, `scan_status`, `severity`, `fixable`, `q`, `sort`, `offset`).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use model::Severity;
use store::{
    ClusterRecord, Direction, Paged, RepositoryRow, RepositorySortField, ScanStatus, Statistics,
    Store,
};

use super::exceptions::take_notice;
use super::format::{SEVERITIES, When, severity_label};
use super::{Layout, QueryPairs, Viewer, api_error_page, html, without_empty_values};
use crate::AppState;
use crate::api::{FILTER_PARAMS, Query, store_error, with};
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    layout: Layout,
    stats: StatsView,
    form: FilterForm,
    degraded: Vec<String>,
    columns: Vec<Column>,
    rows: Vec<RowView>,
    pager: Pager,
    empty: Option<Empty>,
    /// The Excepted view (`?view=excepted`): excepted repositories with
    /// their reason, date and author, and "Cancel exception".
    excepted: bool,
    /// Editors and admins get the checkboxes and the exception drawer.
    can_edit: bool,
    form_token: String,
    /// This page's address, where the exception forms return.
    back: String,
    /// The Active / Excepted switch (top right), keeping the filters.
    active_href: String,
    excepted_href: String,
}

pub(crate) enum Empty {
    /// Nothing in the store at all.
    NoData,
    /// The filters leave nothing.
    NothingMatches,
    /// The Excepted view, with no repository excepted (in this scope).
    NoneExcepted,
}

struct StatsView {
    images: u64,
    repositories: u64,
    vulnerabilities: u64,
    severities: Vec<SeverityStat>,
    fixable: u64,
    clusters: u64,
    running_resources: u64,
    scanned: u64,
    targets: u64,
    coverage_percent: u64,
}

struct SeverityStat {
    label: &'static str,
    class: &'static str,
    count: u64,
    /// Where this severity's piece of the stacked bar starts and how wide it
    /// is, in percent of the bar (SVG attributes, not inline CSS: the
    /// content security policy allows no inline styles).
    x: String,
    width: String,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct FilterForm {
    clusters: Vec<Choice>,
    namespace: String,
    labels: String,
    statuses: Vec<Choice>,
    scan_statuses: Vec<Choice>,
    severities: Vec<Choice>,
    fixable: bool,
    q: String,
    sort: Option<String>,
    active: bool,
}

struct Column {
    label: &'static str,
    /// `None` for columns the store cannot sort by.
    href: Option<String>,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    aria_sort: &'static str,
    numeric: bool,
}

struct RowView {
    repository: String,
    href: Option<String>,
    counts: Vec<(&'static str, u64)>,
    fixable: u64,
    clusters: u64,
    resources: u64,
    tag: Option<String>,
    last_scanned: Option<When>,
    scan_status: &'static str,
    exception: Option<ExceptionView>,
}

struct ExceptionView {
    id: i64,
    reason: String,
    author: String,
    set_on: When,
    expires: Option<When>,
}

pub(crate) struct Pager {
    pub first: u64,
    pub last: u64,
    pub total: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub(crate) fn new(
        pairs: &QueryPairs,
        offset: u64,
        limit: u32,
        shown: usize,
        total: u64,
    ) -> Pager {
        let limit = u64::from(limit);
        let offset_link = |offset: u64| {
            let text = offset.to_string();
            pairs.with(&[("offset", (offset > 0).then_some(text.as_str()))])
        };
        Pager {
            first: if shown == 0 { 0 } else { offset + 1 },
            last: offset + shown as u64,
            total,
            prev: (offset > 0).then(|| offset_link(offset.saturating_sub(limit))),
            next: (offset + (shown as u64) < total).then(|| offset_link(offset + limit)),
        }
    }
}

const SORTABLE: &[(&str, Option<&str>, bool)] = &[
    ("Repository", Some("repository"), false),
    ("Vulnerabilities", Some("severity"), true),
    ("Fixable", Some("fixable"), true),
    ("Clusters", Some("clusters"), true),
    ("Resources", Some("resources"), true),
    ("Latest scanned tag", None, false),
    ("Last scanned", Some("last_scanned"), false),
    ("Scan status", None, false),
];

pub(crate) async fn page<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    match render(&state, &viewer, raw).await {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => api_error_page(&viewer, e),
    }
}

async fn render<S: Store>(
    state: &AppState<S>,
    viewer: &Viewer,
    raw: Option<String>,
) -> Result<OverviewPage, ApiError> {
    let (raw, notice) = take_notice(raw);
    let raw = without_empty_values(raw)?;
    // The API's parser: the same names, values and refusals as /api/v1/repositories.
    let query = Query::parse(raw.clone(), &with(&["sort", "limit", "offset"]))?;
    let filter = query.filter()?;
    let sort = query.sort::<RepositorySortField>(Direction::Descending)?;
    let page = query.page()?;
    let now = state.now();
    let (stats, rows, clusters) = tokio::join!(
        state.store.statistics(&filter, now),
        state.store.repositories(&filter, sort, page, now),
        state.store.clusters(),
    );
    let stats = stats.map_err(store_error)?;
    let rows = rows.map_err(store_error)?;
    let clusters = clusters.map_err(store_error)?;
    let pairs = QueryPairs::parse(raw.as_deref());
    let filtered = FILTER_PARAMS
        .iter()
        .any(|name| *name != "view" && pairs.get(name).is_some());
    let excepted = filter.excepted;
    let empty = if !rows.items.is_empty() {
        None
    } else if excepted {
        Some(Empty::NoneExcepted)
    } else if filtered && !clusters.is_empty() {
        Some(Empty::NothingMatches)
    } else if clusters.is_empty() && stats.scan_coverage.targets == 0 {
        Some(Empty::NoData)
    } else {
        Some(Empty::NothingMatches)
    };
    let current = pairs.get("sort").unwrap_or("-severity");
    let columns = SORTABLE
        .iter()
        .map(|(label, field, numeric)| {
            let Some(field) = field else {
                return Column {
                    label,
                    href: None,
                    aria_sort: "none",
                    numeric: *numeric,
                };
            };
            let descending = format!("-{field}");
            let (aria_sort, next) = if current == *field {
                ("ascending", descending.clone())
            } else if current == descending {
                ("descending", (*field).to_owned())
            } else if *numeric || *field == "last_scanned" {
                ("none", descending.clone())
            } else {
                ("none", (*field).to_owned())
            };
            Column {
                label,
                href: Some(pairs.with(&[("sort", Some(&next)), ("offset", None)])),
                aria_sort,
                numeric: *numeric,
            }
        })
        .collect();
    let pager = Pager::new(
        &pairs,
        page.offset(),
        page.limit(),
        rows.items.len(),
        rows.total,
    );
    let view_href = |view: Option<&str>| {
        format!(
            "/{}",
            pairs.with(&[("view", view), ("offset", None), ("sort", None)])
        )
    };
    Ok(OverviewPage {
        layout: Layout::new(
            if excepted {
                "Excepted repositories"
            } else {
                "Image security"
            },
            Some(viewer.clone()),
        )
        .with_notice(notice),
        excepted,
        can_edit: viewer.can_edit(),
        form_token: viewer.form_token.clone(),
        back: format!("/{}", pairs.with(&[])),
        active_href: view_href(None),
        excepted_href: view_href(Some("excepted")),
        stats: stats_view(&stats),
        form: filter_form(&pairs, &clusters, filtered),
        degraded: degraded(&clusters),
        columns,
        rows: row_views(rows, now),
        pager,
        empty,
    })
}

fn stats_view(stats: &Statistics) -> StatsView {
    let v = &stats.vulnerabilities;
    let total = v.total();
    let mut start = 0u64;
    let severities = SEVERITIES
        .iter()
        .map(|&severity| {
            let count = severity_count(v, severity);
            let (x, width) = if total == 0 {
                (0.0, 0.0)
            } else {
                (
                    start as f64 * 100.0 / total as f64,
                    count as f64 * 100.0 / total as f64,
                )
            };
            start += count;
            SeverityStat {
                label: severity_label(severity),
                class: severity.as_str(),
                count,
                x: format!("{x:.3}%"),
                width: format!("{width:.3}%"),
            }
        })
        .collect();
    let c = stats.scan_coverage;
    StatsView {
        images: stats.images,
        repositories: stats.repositories,
        vulnerabilities: total,
        severities,
        fixable: stats.fixable,
        clusters: stats.clusters,
        running_resources: stats.running_resources,
        scanned: c.scanned,
        targets: c.targets,
        coverage_percent: (c.scanned * 100).checked_div(c.targets).unwrap_or(0),
    }
}

fn severity_count(v: &store::SeverityCounts, severity: Severity) -> u64 {
    match severity {
        Severity::Critical => v.critical,
        Severity::High => v.high,
        Severity::Medium => v.medium,
        Severity::Low => v.low,
        Severity::Negligible => v.negligible,
        Severity::Unknown => v.unknown,
    }
}

fn filter_form(pairs: &QueryPairs, clusters: &[ClusterRecord], active: bool) -> FilterForm {
    let choices = |name: &str, options: &[(&str, &str)]| -> Vec<Choice> {
        options
            .iter()
            .map(|(value, label)| Choice {
                value: (*value).to_owned(),
                label: (*label).to_owned(),
                selected: pairs.has(name, value),
            })
            .collect()
    };
    let mut cluster_choices = vec![Choice {
        value: String::new(),
        label: "All clusters".to_owned(),
        selected: pairs.get("cluster").is_none(),
    }];
    cluster_choices.extend(clusters.iter().map(|c| Choice {
        selected: pairs.has("cluster", &c.name),
        value: c.name.clone(),
        label: c.name.clone(),
    }));
    let scan_statuses: Vec<(&str, &str)> = std::iter::once(("", "Any scan status"))
        .chain(ScanStatus::ALL.iter().map(|s| (s.as_str(), s.as_str())))
        .collect();
    let severities: Vec<(&str, &str)> = SEVERITIES
        .iter()
        .map(|&s| (s.as_str(), severity_label(s)))
        .collect();
    let mut statuses = choices(
        "status",
        &[
            ("", "Running or not"),
            ("running", "Running"),
            ("not_running", "No longer running"),
        ],
    );
    if let Some(any) = statuses.first_mut() {
        any.selected = pairs.get("status").is_none();
    }
    let mut scan_statuses = choices("scan_status", &scan_statuses);
    if let Some(any) = scan_statuses.first_mut() {
        any.selected = pairs.get("scan_status").is_none();
    }
    FilterForm {
        clusters: cluster_choices,
        namespace: pairs.get("namespace").unwrap_or("").to_owned(),
        labels: pairs.get("labels").unwrap_or("").to_owned(),
        statuses,
        scan_statuses,
        severities: choices("severity", &severities),
        fixable: pairs
            .get("fixable")
            .is_some_and(|v| v != "false" && v != "0"),
        q: pairs.get("q").unwrap_or("").to_owned(),
        sort: pairs.get("sort").map(str::to_owned),
        active,
    }
}

fn degraded(clusters: &[ClusterRecord]) -> Vec<String> {
    clusters
        .iter()
        .filter_map(|c| match &c.status {
            k8s::ClusterStatus::Ok => None,
            k8s::ClusterStatus::Degraded { reasons, .. } => {
                Some(format!("{} is degraded: {}", c.name, reasons.join("; ")))
            }
            k8s::ClusterStatus::Unreachable { reason } => {
                Some(format!("{} is unreachable: {reason}", c.name))
            }
        })
        .collect()
}

fn row_views(rows: Paged<RepositoryRow>, now: time::OffsetDateTime) -> Vec<RowView> {
    rows.items
        .into_iter()
        .map(|row| {
            let v = row.vulnerabilities;
            RowView {
                href: row.latest_digest.as_ref().map(|d| format!("/images/{d}")),
                counts: vec![
                    ("critical", v.critical),
                    ("high", v.high),
                    ("medium", v.medium),
                    ("low", v.low),
                ],
                fixable: row.fixable,
                clusters: row.clusters,
                resources: row.resources,
                tag: row.latest_scanned_tag,
                last_scanned: row.last_scanned.map(|at| When::new(at, now)),
                scan_status: row.scan_status.as_str(),
                exception: row.exception.map(|e| ExceptionView {
                    id: e.id.0,
                    reason: e.reason,
                    author: e.author,
                    set_on: When::new(e.created, now),
                    expires: e.expires.map(|at| When::new(at, now)),
                }),
                repository: row.repository,
            }
        })
        .collect()
}
