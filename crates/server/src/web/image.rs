//! `/images/{digest}`: an image's repository, its other digests, tags,
//! details, status, hierarchy (history and layers) and the tabs
//! (`?tab=vulnerabilities|packages|resources`), narrowed by the layer
//! selection (`?layers=0&layers=2`, the API's parameter).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use model::FixState;
use store::{Direction, ImageDetails, Store, VulnerabilitySortField};

use super::exceptions::take_notice;
use super::format::{When, severity_label, short_digest, size};
use super::overview::Pager;
use super::{
    Layout, QueryPairs, Viewer, api_error_page, error_page, html, see_other, without_empty_values,
};
use crate::AppState;
use crate::api::{Query, layers, parse_digest, store_error};
use crate::error::ApiError;

/// `/images?digest=…` (the digest drop-down's GET form) → `/images/{digest}`.
pub(crate) async fn choose_digest(
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let chosen = Query::parse(raw, &["digest"])
        .and_then(|q| q.one("digest").map(|d| d.map(str::to_owned)))
        .and_then(|d| parse_digest(d.as_deref().unwrap_or("")));
    match chosen {
        Ok(digest) => see_other(&format!("/images/{digest}")),
        Err(e) => api_error_page(&viewer, e),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Vulnerabilities,
    Packages,
    Resources,
}

impl Tab {
    const ALL: [(Tab, &'static str, &'static str); 3] = [
        (Tab::Vulnerabilities, "vulnerabilities", "Vulnerabilities"),
        (Tab::Packages, "packages", "Packages"),
        (Tab::Resources, "resources", "Affected resources"),
    ];
}

#[derive(Template)]
#[template(path = "image.html")]
pub(crate) struct ImagePage {
    layout: Layout,
    repository: String,
    digest: String,
    digests: Vec<DigestChoice>,
    tags: Vec<(String, When)>,
    details: Vec<(&'static str, String)>,
    status: &'static str,
    scanned: Option<When>,
    scan_error: Option<String>,
    counts: Vec<(&'static str, &'static str, u64)>,
    excepted: Option<String>,
    base_image: Option<String>,
    hierarchy: Vec<HierarchyRow>,
    history_missing: bool,
    all_layers: bool,
    tab: &'static str,
    tabs: Vec<TabLink>,
    vulnerabilities: Vec<VulnView>,
    packages: Vec<PackageView>,
    resources: Vec<ResourceView>,
    pager: Pager,
    /// Editors and admins get "Except repository" / "Cancel exception" and
    /// the per-vulnerability "Except".
    can_edit: bool,
    form_token: String,
    /// This page's address, where the exception forms return.
    back: String,
    /// The active exception hiding this repository, to cancel.
    exception_id: Option<i64>,
}

struct DigestChoice {
    digest: String,
    label: String,
    selected: bool,
}

struct HierarchyRow {
    /// `None` for history entries that made no layer (greyed).
    layer: Option<u32>,
    command: String,
    size: String,
    created: String,
    selected: bool,
}

struct TabLink {
    label: &'static str,
    href: String,
    current: bool,
}

struct VulnView {
    id: String,
    href: Option<String>,
    severity: &'static str,
    severity_label: &'static str,
    cvss: String,
    package: String,
    installed: String,
    fix: String,
    fix_class: &'static str,
    layer: String,
    epss: String,
    kev: Option<String>,
    title: String,
    description: String,
    references: Vec<String>,
}

struct PackageView {
    name: String,
    kind: String,
    version: String,
    layer: String,
    vulnerabilities: u32,
    fix_all: String,
}

struct ResourceView {
    cluster: String,
    namespace: String,
    kind: String,
    name: String,
    container: String,
    labels: Vec<String>,
    created: Option<When>,
    first_seen: When,
    last_seen: When,
    running: bool,
}

pub(crate) async fn page<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(viewer): Extension<Viewer>,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    match render(&state, &viewer, &digest, raw).await {
        Ok(Some(page)) => html(StatusCode::OK, &page),
        Ok(None) => error_page(
            Some(viewer),
            StatusCode::NOT_FOUND,
            "There is no image with this digest in the report.",
        ),
        Err(e) => api_error_page(&viewer, e),
    }
}

async fn render<S: Store>(
    state: &AppState<S>,
    viewer: &Viewer,
    digest: &str,
    raw: Option<String>,
) -> Result<Option<ImagePage>, ApiError> {
    let digest = parse_digest(digest)?;
    let (raw, notice) = take_notice(raw);
    let raw = without_empty_values(raw)?;
    let query = Query::parse(raw.clone(), &["tab", "layers", "sort", "limit", "offset"])?;
    let tab = match query.one("tab")? {
        None => Tab::Vulnerabilities,
        Some(name) => Tab::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(tab, _, _)| *tab)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "tab must be vulnerabilities, packages or resources, not {name:?}"
                ))
            })?,
    };
    let layer_filter = layers(&query)?;
    let page = query.page()?;
    let now = state.now();
    let Some(image) = state.store.image(&digest, now).await.map_err(store_error)? else {
        return Ok(None);
    };
    let pairs = QueryPairs::parse(raw.as_deref());
    let (mut vulnerabilities, mut packages, mut resources) = (Vec::new(), Vec::new(), Vec::new());
    let (shown, total) = match tab {
        Tab::Vulnerabilities => {
            let sort = query.sort::<VulnerabilitySortField>(Direction::Descending)?;
            let rows = state
                .store
                .image_vulnerabilities(&digest, &layer_filter, sort, page, false)
                .await
                .map_err(store_error)?;
            vulnerabilities = rows
                .items
                .into_iter()
                .map(|r| vuln_view(r.finding))
                .collect();
            (vulnerabilities.len(), rows.total)
        }
        Tab::Packages => {
            let rows = state
                .store
                .image_packages(&digest, &layer_filter, page)
                .await
                .map_err(store_error)?;
            packages = rows
                .items
                .into_iter()
                .map(|r| {
                    let p = r.package;
                    PackageView {
                        kind: p.kind.to_string(),
                        version: p.version,
                        layer: layer_text(p.layer_index),
                        vulnerabilities: p.vulnerabilities,
                        fix_all: p.fix_all_version.unwrap_or_default(),
                        name: p.name,
                    }
                })
                .collect();
            (packages.len(), rows.total)
        }
        Tab::Resources => {
            let rows = state
                .store
                .image_resources(&digest, page)
                .await
                .map_err(store_error)?;
            resources = rows
                .items
                .into_iter()
                .map(|r| ResourceView {
                    cluster: r.cluster,
                    namespace: r.namespace,
                    kind: r.kind.to_string(),
                    name: r.name,
                    container: r.container,
                    labels: r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    created: r.created.map(|at| When::new(at, now)),
                    first_seen: When::new(r.first_seen, now),
                    last_seen: When::new(r.last_seen, now),
                    running: r.running,
                })
                .collect();
            (resources.len(), rows.total)
        }
    };
    let tab_name = Tab::ALL
        .iter()
        .find(|(t, _, _)| *t == tab)
        .map_or("vulnerabilities", |(_, name, _)| *name);
    let tabs = Tab::ALL
        .iter()
        .map(|(t, name, label)| TabLink {
            label,
            href: pairs.with(&[("tab", Some(name)), ("offset", None), ("sort", None)]),
            current: *t == tab,
        })
        .collect();
    let pager = Pager::new(&pairs, page.offset(), page.limit(), shown, total);
    Ok(Some(ImagePage {
        layout: Layout::new(image.repository.clone(), Some(viewer.clone())).with_notice(notice),
        can_edit: viewer.can_edit(),
        form_token: viewer.form_token.clone(),
        back: format!("/images/{}{}", image.digest, pairs.with(&[])),
        exception_id: image.repository_exception.as_ref().map(|e| e.id.0),
        digests: digest_choices(&image),
        tags: image
            .tags
            .iter()
            .map(|t| (t.tag.clone(), When::new(t.last_seen, now)))
            .collect(),
        details: details(&image),
        status: image.status.as_str(),
        scanned: image.scanned_at.map(|at| When::new(at, now)),
        scan_error: image.scan_error.clone(),
        counts: super::format::SEVERITIES
            .iter()
            .map(|&s| {
                let c = &image.counts;
                let n = match s {
                    model::Severity::Critical => c.critical,
                    model::Severity::High => c.high,
                    model::Severity::Medium => c.medium,
                    model::Severity::Low => c.low,
                    model::Severity::Negligible => c.negligible,
                    model::Severity::Unknown => c.unknown,
                };
                (s.as_str(), severity_label(s), n)
            })
            .collect(),
        excepted: image.repository_exception.as_ref().map(|e| {
            format!(
                "Excepted by {} on {}: {}",
                e.author,
                When::new(e.created, now).exact,
                e.reason
            )
        }),
        base_image: base_image(&image),
        history_missing: image.metadata.history.is_empty(),
        hierarchy: hierarchy(&image, &layer_filter),
        all_layers: layer_filter.is_none(),
        tab: tab_name,
        tabs,
        vulnerabilities,
        packages,
        resources,
        pager,
        repository: image.repository,
        digest: image.digest.to_string(),
    }))
}

fn layer_text(layer: Option<u32>) -> String {
    layer.map_or_else(|| "–".to_owned(), |l| l.to_string())
}

/// The image itself first (selected), then the repository's other digests
/// newest first, as the store orders them.
fn digest_choices(image: &ImageDetails) -> Vec<DigestChoice> {
    let tags: Vec<String> = image.tags.iter().map(|t| t.tag.clone()).collect();
    std::iter::once(DigestChoice {
        label: digest_label(&image.digest.to_string(), &tags),
        digest: image.digest.to_string(),
        selected: true,
    })
    .chain(image.other_digests.iter().map(|o| DigestChoice {
        label: digest_label(&o.digest.to_string(), &o.tags),
        digest: o.digest.to_string(),
        selected: false,
    }))
    .collect()
}

fn digest_label(digest: &str, tags: &[String]) -> String {
    if tags.is_empty() {
        format!("{} (untagged)", short_digest(digest))
    } else {
        format!("{} ({})", short_digest(digest), tags.join(", "))
    }
}

fn details(image: &ImageDetails) -> Vec<(&'static str, String)> {
    let os = image.os.as_ref().map(|os| {
        os.pretty_name
            .clone()
            .unwrap_or_else(|| format!("{} {}", os.id, os.version_id.clone().unwrap_or_default()))
    });
    vec![
        ("Platform", image.platform.to_string()),
        (
            "OS / distribution",
            os.unwrap_or_else(|| "unknown".to_owned()),
        ),
        ("Size", size(image.size)),
        (
            "Created",
            image
                .created
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
        ),
        ("Config digest", image.config_digest.to_string()),
        (
            "Database version",
            image
                .db_version
                .map_or_else(|| "not matched yet".to_owned(), |v| v.to_string()),
        ),
        (
            "Running",
            if image.running {
                "yes"
            } else {
                "no longer running"
            }
            .to_owned(),
        ),
    ]
}

/// The base image as the image's own labels name it (OCI annotations
/// copied to labels by BuildKit and most builders); nothing else records it.
fn base_image(image: &ImageDetails) -> Option<String> {
    let labels = &image.metadata.config.labels;
    let name = labels.get("org.opencontainers.image.base.name");
    let digest = labels.get("org.opencontainers.image.base.digest");
    match (name, digest) {
        (Some(n), Some(d)) => Some(format!("{n}@{d}")),
        (Some(n), None) => Some(n.clone()),
        (None, Some(d)) => Some(d.clone()),
        (None, None) => None,
    }
}

fn hierarchy(image: &ImageDetails, selection: &store::LayerFilter) -> Vec<HierarchyRow> {
    let metadata = &image.metadata;
    let selected = |index: u32| selection.as_ref().is_none_or(|s| s.contains(&index));
    let layer_size = |index: u32| {
        metadata
            .layers
            .iter()
            .find(|l| l.index == index)
            .map_or_else(String::new, |l| size(l.compressed_size))
    };
    let mut rows: Vec<HierarchyRow> = metadata
        .history
        .iter()
        .map(|h| HierarchyRow {
            layer: if h.empty_layer { None } else { h.layer_index },
            command: h
                .created_by
                .clone()
                .or_else(|| h.comment.clone())
                .unwrap_or_else(|| "(no command recorded)".to_owned()),
            size: h.layer_index.map(layer_size).unwrap_or_default(),
            created: h.created.clone().unwrap_or_default(),
            selected: h.layer_index.is_some_and(selected),
        })
        .collect();
    // Layers no history entry accounts for (history missing or inconsistent).
    for layer in &metadata.layers {
        if !metadata
            .history
            .iter()
            .any(|h| h.layer_index == Some(layer.index))
        {
            rows.push(HierarchyRow {
                layer: Some(layer.index),
                command: format!("layer {} (no history entry)", layer.diff_id),
                size: size(layer.compressed_size),
                created: String::new(),
                selected: selected(layer.index),
            });
        }
    }
    rows
}

fn vuln_view(f: model::Finding) -> VulnView {
    let href = if f.id.starts_with("CVE-") {
        Some(format!("https://nvd.nist.gov/vuln/detail/{}", f.id))
    } else if f.id.starts_with("GHSA-") {
        Some(format!("https://github.com/advisories/{}", f.id))
    } else {
        f.references
            .iter()
            .map(|r| r.as_str())
            .find(|r| r.starts_with("https://"))
            .map(str::to_owned)
    };
    let (fix, fix_class) = match &f.state {
        FixState::Fixed => (f.fixed_version.clone().unwrap_or_default(), "fixed"),
        FixState::NotFixed => ("no fix".to_owned(), "nofix"),
        FixState::WontFix(reason) if reason.is_empty() => ("won't fix".to_owned(), "wontfix"),
        FixState::WontFix(reason) => (format!("won't fix ({reason})"), "wontfix"),
    };
    VulnView {
        href,
        severity: f.severity.as_str(),
        severity_label: severity_label(f.severity),
        cvss: f
            .cvss
            .as_ref()
            .map_or_else(|| "–".to_owned(), |c| format!("{:.1}", c.base_score)),
        package: f.package.name.clone(),
        installed: f.package.installed_version.clone(),
        fix,
        fix_class,
        layer: layer_text(f.package.layer_index),
        epss: f
            .epss
            .map_or_else(|| "–".to_owned(), |(p, _)| format!("{:.2}%", p * 100.0)),
        kev: f.kev_date_added.clone(),
        title: f
            .title
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        description: f
            .description
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        references: f
            .references
            .iter()
            .filter(|r| r.as_str().starts_with("https://") || r.as_str().starts_with("http://"))
            .take(20)
            .map(|r| r.as_str().to_owned())
            .collect(),
        id: f.id,
    }
}
