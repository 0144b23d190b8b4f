//! Exports: the fleet report (JSON, CSV) for a scope, and the exceptions as
//! an OpenVEX document.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use store::{
    Direction, ExceptionListFilter, ExceptionScope, Page, RepositoryRow, RepositorySortField, Role,
    Sort, Statistics, Store,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::api::{FILTER_PARAMS, Query, store_error};
use crate::auth::Principal;
use crate::error::ApiError;

/// The most repositories one fleet report holds.
const MAX_REPORT_ROWS: u64 = 20_000;

#[derive(Serialize)]
pub struct FleetReport {
    #[serde(with = "time::serde::rfc3339")]
    pub generated: OffsetDateTime,
    pub statistics: Statistics,
    pub repositories_total: u64,
    pub repositories: Vec<RepositoryRow>,
}

async fn fleet_report<S: Store>(
    state: &AppState<S>,
    raw: Option<String>,
) -> Result<FleetReport, ApiError> {
    let query = Query::parse(raw, FILTER_PARAMS)?;
    let filter = query.filter()?;
    let now = state.now();
    let statistics = state
        .store
        .statistics(&filter, now)
        .await
        .map_err(store_error)?;
    let sort = Sort {
        field: RepositorySortField::Severity,
        direction: Direction::Descending,
    };
    let mut repositories = Vec::new();
    let mut total;
    let mut offset = 0u64;
    loop {
        let page = Page::new(store::filter::MAX_PAGE_LIMIT, offset)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let rows = state
            .store
            .repositories(&filter, sort, page, now)
            .await
            .map_err(store_error)?;
        total = rows.total;
        let got = rows.items.len() as u64;
        repositories.extend(rows.items);
        offset += got;
        if got == 0 || offset >= total || offset >= MAX_REPORT_ROWS {
            break;
        }
    }
    Ok(FleetReport {
        generated: now,
        statistics,
        repositories_total: total,
        repositories,
    })
}

pub async fn report_json<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let report = fleet_report(&state, raw).await?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"shipshape-report.json\"",
        )],
        Json(report),
    )
        .into_response())
}

pub async fn report_csv<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let report = fleet_report(&state, raw).await?;
    let out = repositories_csv(&report.repositories);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"shipshape-report.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// The repository list as CSV (a header row, then one row per repository):
/// the server's `report.csv` and `shipshape report --format csv`.
pub fn repositories_csv(repositories: &[RepositoryRow]) -> String {
    let mut out = String::from(
        "repository,images,critical,high,medium,low,negligible,unknown,fixable,clusters,resources,latest_scanned_tag,last_scanned,scan_status\n",
    );
    for r in repositories {
        let c = &r.vulnerabilities;
        let last_scanned = r
            .last_scanned
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.repository),
            r.images,
            c.critical,
            c.high,
            c.medium,
            c.low,
            c.negligible,
            c.unknown,
            r.fixable,
            r.clusters,
            r.resources,
            csv_field(r.latest_scanned_tag.as_deref().unwrap_or("")),
            last_scanned,
            r.scan_status.as_str()
        );
    }
    out
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` gets a `'` so a
/// spreadsheet never runs a cell as a formula (repository names and tags
/// come from clusters, i.e. from anyone who can create a pod).
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// OpenVEX v0.2.0 (https://github.com/openvex/spec): one `not_affected`
/// statement per active vulnerability exception, its reason as the impact
/// statement. Repository exceptions hide a whole repository rather than
/// state anything about a vulnerability, so they are not VEX statements.
#[derive(Serialize)]
pub struct OpenVex {
    #[serde(rename = "@context")]
    pub context: &'static str,
    #[serde(rename = "@id")]
    pub id: String,
    pub author: String,
    pub timestamp: String,
    pub version: u32,
    pub tooling: String,
    pub statements: Vec<VexStatement>,
}

#[derive(Serialize)]
pub struct VexStatement {
    pub vulnerability: VexVulnerability,
    pub products: Vec<VexProduct>,
    pub status: &'static str,
    pub impact_statement: String,
    pub timestamp: String,
}

#[derive(Serialize)]
pub struct VexVulnerability {
    pub name: String,
}

#[derive(Serialize)]
pub struct VexProduct {
    #[serde(rename = "@id")]
    pub id: String,
}

pub async fn openvex<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    Query::parse(raw, &[])?;
    let now = state.now();
    let mut statements = Vec::new();
    let mut offset = 0u64;
    loop {
        let page = Page::new(store::filter::MAX_PAGE_LIMIT, offset)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let rows = state
            .store
            .exceptions(ExceptionListFilter::Active, page, now)
            .await
            .map_err(store_error)?;
        let got = rows.items.len() as u64;
        for exception in rows.items {
            let ExceptionScope::Vulnerability {
                vulnerability,
                repository,
            } = exception.scope
            else {
                continue;
            };
            let product = match repository {
                // purl's oci type names the repository by its last segment
                // and says where it lives with `repository_url`.
                Some(repository) => {
                    let name = repository
                        .rsplit('/')
                        .next()
                        .unwrap_or(&repository)
                        .to_ascii_lowercase();
                    format!(
                        "pkg:oci/{name}?repository_url={}",
                        percent_encode(&repository)
                    )
                }
                None => "pkg:oci/*".to_owned(),
            };
            statements.push(VexStatement {
                vulnerability: VexVulnerability {
                    name: vulnerability,
                },
                products: vec![VexProduct { id: product }],
                status: "not_affected",
                impact_statement: format!(
                    "{} (excepted by {})",
                    exception.reason, exception.author
                ),
                timestamp: exception.created.format(&Rfc3339).unwrap_or_default(),
            });
        }
        offset += got;
        if got == 0 || offset >= rows.total {
            break;
        }
    }
    let timestamp = now.format(&Rfc3339).unwrap_or_default();
    let document = OpenVex {
        context: "https://openvex.dev/ns/v0.2.0",
        id: format!("urn:shipshape:vex:{}", now.unix_timestamp()),
        author: "Shipshape exceptions".to_owned(),
        timestamp,
        version: 1,
        tooling: format!("shipshape {}", env!("CARGO_PKG_VERSION")),
        statements,
    };
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"shipshape-exceptions.openvex.json\"",
        )],
        Json(document),
    )
        .into_response())
}

/// Percent-encodes what a purl qualifier value must not hold raw.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        for (input, expected) in [
            ("docker.io/library/nginx", "docker.io/library/nginx"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("-1", "'-1"),
        ] {
            assert_eq!(csv_field(input), expected, "{input}");
        }
    }

    #[test]
    fn purl_qualifiers_are_encoded() {
        assert_eq!(percent_encode("ghcr.io/acme/api"), "ghcr.io/acme/api");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }
}

/// Per-image documents: `GET /api/v1/images/{digest}/sbom?format=cyclonedx|spdx`
/// and `GET /api/v1/images/{digest}/sarif`, from the stored SBOM and
/// findings (excepted findings left out), as `shipshape scan` writes them.
pub async fn image_sbom<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    axum::extract::Path(digest): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let query = Query::parse(raw, &["format"])?;
    let format = match query.one("format")? {
        None | Some("cyclonedx") => ImageDocument::CycloneDx,
        Some("spdx") => ImageDocument::Spdx,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be cyclonedx or spdx, not {other:?}"
            )));
        }
    };
    image_document(&state, &digest, format).await
}

pub async fn image_sarif<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Extension(principal): Extension<Principal>,
    axum::extract::Path(digest): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    Query::parse(raw, &[])?;
    image_document(&state, &digest, ImageDocument::Sarif).await
}

#[derive(Clone, Copy)]
enum ImageDocument {
    CycloneDx,
    Spdx,
    Sarif,
}

/// The most findings one document carries (every one an image has, in practice).
const MAX_DOCUMENT_FINDINGS: u64 = 100_000;

async fn image_document<S: Store>(
    state: &AppState<S>,
    digest: &str,
    format: ImageDocument,
) -> Result<Response, ApiError> {
    let digest = crate::api::parse_digest(digest)?;
    let now = state.now();
    let not_found = || ApiError::not_found(format!("no scanned image {digest} in the report"));
    let details = state
        .store
        .image(&digest, now)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    let stored = state
        .store
        .image_inventory(&digest)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    let mut findings = Vec::new();
    let mut offset = 0u64;
    loop {
        let page = Page::new(store::filter::MAX_PAGE_LIMIT, offset)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let sort = Sort {
            field: store::VulnerabilitySortField::Cvss,
            direction: Direction::Descending,
        };
        let rows = state
            .store
            .image_vulnerabilities(&digest, &None, sort, page, false)
            .await
            .map_err(store_error)?;
        let got = rows.items.len() as u64;
        findings.extend(rows.items.into_iter().map(|row| row.finding));
        offset += got;
        if got == 0 || offset >= rows.total || offset >= MAX_DOCUMENT_FINDINGS {
            break;
        }
    }
    let tool = sbom::ToolInfo::new("shipshape", env!("CARGO_PKG_VERSION"))
        .with_information_uri(env!("CARGO_PKG_REPOSITORY"));
    let timestamp = now.format(&Rfc3339).unwrap_or_default();
    let database = details.db_version.map(|version| sbom::DatabaseInfo {
        version: version.to_string(),
        updated_at: details
            .scanned_at
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default(),
    });
    let vulnerabilities = sbom::Vulnerabilities {
        findings: &findings,
        diagnostics: &[],
        database: database.as_ref(),
    };
    let meta = &details.metadata;
    let inventory = &stored.inventory;
    let (body, name) = match format {
        ImageDocument::CycloneDx => (
            sbom::cyclonedx::to_json_with(
                meta,
                inventory,
                Some(&vulnerabilities),
                &tool,
                &timestamp,
            ),
            "cdx.json",
        ),
        ImageDocument::Spdx => (
            sbom::spdx::to_json(meta, inventory, &tool, &timestamp),
            "spdx.json",
        ),
        ImageDocument::Sarif => (
            sbom::sarif::to_json(meta, inventory, &vulnerabilities, &tool, &timestamp),
            "sarif",
        ),
    };
    let body = body.map_err(|e| ApiError::internal(&e))?;
    let disposition = format!("attachment; filename=\"{}.{name}\"", digest.short());
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
