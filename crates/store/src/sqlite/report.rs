//! The report queries. Every list and statistic starts from the same scope,
//! built by [`scope_ctes`]:
//!
//! - `sc`: the containers in scope (cluster, namespace, labels), with a target;
//! - `st`: their targets (the containers grouped by target first, so each
//!   target is looked up once) after the target/image conditions
//!   (repository exceptions, scan status, severities, fixable, text,
//!   running), one row per target with whether any of its containers in
//!   scope runs.
//!
//! Counts come from `image_summary` (per-image counts kept by the writers),
//! so no query scans findings except an image's own list and a text search
//! by vulnerability ID (through the small `vulnerability` table).

use std::collections::BTreeMap;

use model::Severity;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection};

use super::exceptions::active_sql;
use super::inventory::{parse_container_type, parse_state};
use super::{count, from_ts, from_ts_opt, parse_digest, parse_platform};
use crate::codec::Decoder;
use crate::filter::{Direction, ImageStatus, LabelRequirement};
use crate::{
    AnalyzerVersions, BaseImageRow, ExceptionId, ExceptionSummary, ImageDetails, ImageId,
    LayerFilter, OtherDigest, PackageRow, PackageSummary, Page, Paged, RemediationRow,
    ReportFilter, RepositoryRow, RepositorySortField, ResourceRow, Result, ScanCoverage,
    ScanStatus, SeverityCounts, Sort, Statistics, StoreError, SuggestedBase, TagSeen,
    VulnerabilityRow, VulnerabilitySortField,
};

/// A query under construction: text with `$n` placeholders and the values
/// to bind, in order.
#[derive(Default)]
pub(crate) struct Sql {
    text: String,
    params: Vec<Param>,
}

#[derive(Clone)]
enum Param {
    Int(i64),
    Text(String),
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Adds a parameter and returns its placeholder.
    fn param(&mut self, param: Param) -> String {
        self.params.push(param);
        format!("${}", self.params.len())
    }

    fn int(&mut self, value: i64) -> String {
        self.param(Param::Int(value))
    }

    fn text(&mut self, value: &str) -> String {
        self.param(Param::Text(value.to_owned()))
    }

    /// `$a, $b, …` for a list of texts.
    fn text_list(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.text(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn query(&self) -> sqlx::query::Query<'_, Sqlite, SqliteArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.text.as_str()));
        for param in &self.params {
            query = match param {
                Param::Int(v) => query.bind(*v),
                Param::Text(v) => query.bind(v.as_str()),
            };
        }
        query
    }
}

const SEVERITIES: [(Severity, &str); 6] = [
    (Severity::Critical, "critical"),
    (Severity::High, "high"),
    (Severity::Medium, "medium"),
    (Severity::Low, "low"),
    (Severity::Negligible, "negligible"),
    (Severity::Unknown, "unknown"),
];

/// The summary column counted for `severity` under `filter`, or `None`
/// when the filter leaves that severity out.
fn severity_column(filter: &ReportFilter, severity: Severity, name: &str) -> Option<String> {
    if !filter.severities.is_empty() && !filter.severities.contains(&severity) {
        return None;
    }
    Some(if filter.fixable_only {
        format!("s.fixable_{name}")
    } else {
        format!("s.{name}")
    })
}

/// `SUM`s of the six severity counts and the fixable count, as columns
/// `critical, high, medium, low, negligible, unknown, fixable`.
fn count_columns(filter: &ReportFilter) -> String {
    let mut columns: Vec<String> = SEVERITIES
        .iter()
        .map(
            |(severity, name)| match severity_column(filter, *severity, name) {
                Some(column) => format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT) AS {name}"),
                None => format!("0 AS {name}"),
            },
        )
        .collect();
    let fixable = if filter.severities.is_empty() {
        "s.fixable".to_owned()
    } else {
        SEVERITIES
            .iter()
            .filter(|(severity, _)| filter.severities.contains(severity))
            .map(|(_, name)| format!("s.fixable_{name}"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    columns.push(format!(
        "CAST(COALESCE(SUM({fixable}), 0) AS BIGINT) AS fixable"
    ));
    columns.join(", ")
}

/// Appends `WITH sc AS (…), st AS (…)` for `filter` at `now`.
fn scope_ctes(sql: &mut Sql, filter: &ReportFilter, now: i64) {
    sql.push(
        // `sc` is not materialized: each use reads the covering index
        // `container_scope` (by target, in order), which is cheaper than a
        // copy without an index.
        "WITH sc AS (SELECT c.workload_id, c.cluster_id, c.running, c.target_id \
         FROM container c WHERE c.target_id IS NOT NULL",
    );
    if !filter.clusters.is_empty() {
        let list = sql.text_list(&filter.clusters);
        sql.push(&format!(
            " AND c.cluster_id IN (SELECT id FROM cluster WHERE name IN ({list}))"
        ));
    }
    if !filter.namespaces.is_empty() {
        let list = sql.text_list(&filter.namespaces);
        sql.push(&format!(" AND c.namespace IN ({list})"));
    }
    for requirement in &filter.labels {
        let (negated, key, value) = match requirement {
            LabelRequirement::Equals { key, value } => (false, key, Some(value)),
            LabelRequirement::NotEquals { key, value } => (true, key, Some(value)),
            LabelRequirement::Exists { key } => (false, key, None),
            LabelRequirement::NotExists { key } => (true, key, None),
        };
        let key = sql.text(key);
        let value = match value {
            Some(value) => format!(" AND value = {}", sql.text(value)),
            None => String::new(),
        };
        sql.push(&format!(
            " AND c.workload_id {}IN (SELECT workload_id FROM workload_label WHERE key = {key}{value})",
            if negated { "NOT " } else { "" }
        ));
    }
    let now = sql.int(now);
    sql.push(&format!(
        "), st AS MATERIALIZED (SELECT t.id, t.repository, t.status, t.image_id, g.running \
         FROM (SELECT target_id, MAX(CASE WHEN running THEN 1 ELSE 0 END) AS running \
         FROM sc GROUP BY target_id{}) g \
         JOIN scan_target t ON t.id = g.target_id{} \
         WHERE t.repository {}IN (SELECT e.repository FROM exception e \
         WHERE e.scope = 'repository' AND {})",
        // Running: any of the target's containers in scope runs.
        match filter.image_status {
            Some(ImageStatus::Running) => " HAVING MAX(CASE WHEN running THEN 1 ELSE 0 END) = 1",
            Some(ImageStatus::NotRunning) => " HAVING MAX(CASE WHEN running THEN 1 ELSE 0 END) = 0",
            None => "",
        },
        // Only the severity and fixable conditions read the summaries.
        if filter.severities.is_empty() && !filter.fixable_only {
            ""
        } else {
            " LEFT JOIN image_summary s ON s.image_id = t.image_id"
        },
        if filter.excepted { "" } else { "NOT " },
        active_sql("e", &now)
    ));
    if !filter.scan_statuses.is_empty() {
        let statuses: Vec<String> = filter
            .scan_statuses
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let list = sql.text_list(&statuses);
        sql.push(&format!(" AND t.status IN ({list})"));
    }
    let wanted: Vec<String> = SEVERITIES
        .iter()
        .filter_map(|(severity, name)| severity_column(filter, *severity, name))
        .map(|column| format!("{column} > 0"))
        .collect();
    if !filter.severities.is_empty() {
        sql.push(&format!(" AND ({})", wanted.join(" OR ")));
    } else if filter.fixable_only {
        sql.push(" AND s.fixable > 0");
    }
    if let Some(text) = &filter.text {
        let p = sql.text(&text.like_pattern());
        sql.push(&format!(
            " AND (LOWER(t.repository) LIKE {p} ESCAPE '\\' \
             OR LOWER(t.reference) LIKE {p} ESCAPE '\\' \
             OR t.image_id IN (SELECT image_id FROM image_tag WHERE LOWER(tag) LIKE {p} ESCAPE '\\') \
             OR t.image_id IN (SELECT id FROM image WHERE digest LIKE {p} ESCAPE '\\') \
             OR t.image_id IN (SELECT f.image_id FROM finding f WHERE f.vulnerability_id IN \
               (SELECT id FROM vulnerability WHERE LOWER(name) LIKE {p} ESCAPE '\\')))"
        ));
    }
    sql.push(")");
}

fn severity_counts(row: &SqliteRow, first: usize) -> Result<SeverityCounts> {
    Ok(SeverityCounts {
        critical: count(row.try_get(first)?),
        high: count(row.try_get(first + 1)?),
        medium: count(row.try_get(first + 2)?),
        low: count(row.try_get(first + 3)?),
        negligible: count(row.try_get(first + 4)?),
        unknown: count(row.try_get(first + 5)?),
    })
}

pub(crate) async fn statistics(
    conn: &mut SqliteConnection,
    filter: &ReportFilter,
    now: i64,
) -> Result<Statistics> {
    filter.check()?;
    let mut sql = Sql::default();
    scope_ctes(&mut sql, filter, now);
    sql.push(&format!(
        ", imgs AS (SELECT DISTINCT image_id FROM st WHERE image_id IS NOT NULL) \
         SELECT a.images, a.critical, a.high, a.medium, a.low, a.negligible, a.unknown, a.fixable, \
         b.repositories, b.targets, b.scanned, d.clusters, d.running \
         FROM (SELECT COUNT(*) AS images, {} FROM imgs \
               JOIN image_summary s ON s.image_id = imgs.image_id) a, \
              (SELECT COUNT(DISTINCT repository) AS repositories, COUNT(*) AS targets, \
               COUNT(CASE WHEN status = 'scanned' THEN 1 END) AS scanned FROM st) b, \
              (SELECT COUNT(DISTINCT sc.cluster_id) AS clusters, \
               COUNT(DISTINCT CASE WHEN sc.running THEN sc.workload_id END) AS running \
               FROM sc WHERE sc.target_id IN (SELECT id FROM st)) d",
        count_columns(filter)
    ));
    let row = sql.query().fetch_one(&mut *conn).await?;
    Ok(Statistics {
        images: count(row.try_get(0)?),
        vulnerabilities: severity_counts(&row, 1)?,
        fixable: count(row.try_get(7)?),
        repositories: count(row.try_get(8)?),
        scan_coverage: ScanCoverage {
            targets: count(row.try_get(9)?),
            scanned: count(row.try_get(10)?),
        },
        clusters: count(row.try_get(11)?),
        running_resources: count(row.try_get(12)?),
    })
}

fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Ascending => "ASC",
        Direction::Descending => "DESC",
    }
}

fn status_from_rank(rank: i64) -> ScanStatus {
    match rank {
        0 => ScanStatus::Failed,
        1 => ScanStatus::Scanning,
        2 => ScanStatus::Pending,
        3 => ScanStatus::Unsupported,
        _ => ScanStatus::Scanned,
    }
}

fn exception_summary(row: &SqliteRow) -> Result<ExceptionSummary> {
    Ok(ExceptionSummary {
        id: ExceptionId(row.try_get(0)?),
        reason: row.try_get(1)?,
        author: row.try_get(2)?,
        created: from_ts("exception created", row.try_get(3)?)?,
        expires: from_ts_opt("exception expiry", row.try_get(4)?)?,
    })
}

async fn repository_exception(
    conn: &mut SqliteConnection,
    repository: &str,
    now: i64,
) -> Result<Option<ExceptionSummary>> {
    let row = sqlx::query(sql_text!(
        "SELECT e.id, e.reason, e.author, e.created, e.expires FROM exception e \
         WHERE e.scope = 'repository' AND e.repository = $1 AND {} \
         ORDER BY e.created DESC, e.id DESC LIMIT 1",
        active_sql("e", "$2")
    ))
    .bind(repository)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(exception_summary).transpose()
}

fn page_params(sql: &mut Sql, page: Page) -> String {
    let limit = sql.int(i64::from(page.limit()));
    let offset = sql.int(i64::try_from(page.offset()).unwrap_or(i64::MAX));
    format!(" LIMIT {limit} OFFSET {offset}")
}

/// Runs a paged query whose last column is `COUNT(*) OVER ()`. A page past
/// the end has no row to carry the total: it is counted again from offset 0.
async fn paged_rows(
    conn: &mut SqliteConnection,
    build: impl Fn(Page) -> Sql,
    page: Page,
    total_column: usize,
) -> Result<(u64, Vec<SqliteRow>)> {
    let sql = build(page);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    if let Some(row) = rows.first() {
        return Ok((count(row.try_get(total_column)?), rows));
    }
    if page.offset() == 0 {
        return Ok((0, rows));
    }
    let first = build(Page::first(1));
    let total = match first.query().fetch_optional(&mut *conn).await? {
        Some(row) => count(row.try_get(total_column)?),
        None => 0,
    };
    Ok((total, rows))
}

pub(crate) async fn repositories(
    conn: &mut SqliteConnection,
    filter: &ReportFilter,
    sort: Sort<RepositorySortField>,
    page: Page,
    now: i64,
) -> Result<Paged<RepositoryRow>> {
    filter.check()?;
    let dir = direction(sort.direction);
    let order = match sort.field {
        RepositorySortField::Repository => format!("repository {dir}"),
        RepositorySortField::Images => format!("images {dir}"),
        RepositorySortField::Severity => format!(
            "critical {dir}, high {dir}, medium {dir}, low {dir}, negligible {dir}, unknown {dir}"
        ),
        RepositorySortField::Critical => format!("critical {dir}"),
        RepositorySortField::High => format!("high {dir}"),
        RepositorySortField::Fixable => format!("fixable {dir}"),
        RepositorySortField::Clusters => format!("clusters {dir}"),
        RepositorySortField::Resources => format!("resources {dir}"),
        RepositorySortField::LastScanned => format!("last_scanned {dir}"),
    };
    // Clusters and resources (distinct counts over the containers) are the
    // dear part: unless the sort needs them for every repository, they are
    // counted for the page's repositories only.
    let usage_sort = matches!(
        sort.field,
        RepositorySortField::Clusters | RepositorySortField::Resources
    );
    let build = |page: Page| {
        let mut sql = Sql::default();
        scope_ctes(&mut sql, filter, now);
        // CTEs only name earlier ones (PostgreSQL's rule): `usage` comes
        // before `page` when the sort reads it, after it when it reads the page.
        let usage = |restriction: &str| {
            format!(
                "usage AS (SELECT st.repository, COUNT(DISTINCT sc.cluster_id) AS clusters, \
                 COUNT(DISTINCT sc.workload_id) AS resources \
                 FROM st JOIN sc ON sc.target_id = st.id {restriction} GROUP BY st.repository)"
            )
        };
        sql.push(&format!(
            ", ri AS (SELECT DISTINCT repository, image_id FROM st WHERE image_id IS NOT NULL), \
             agg AS (SELECT ri.repository, COUNT(*) AS images, {}, MAX(i.scanned_at) AS last_scanned \
               FROM ri JOIN image_summary s ON s.image_id = ri.image_id \
               JOIN image i ON i.id = ri.image_id GROUP BY ri.repository), \
             {} \
             rt AS (SELECT repository, MIN(CASE status WHEN 'failed' THEN 0 WHEN 'scanning' THEN 1 \
               WHEN 'pending' THEN 2 WHEN 'unsupported' THEN 3 ELSE 4 END) AS worst \
               FROM st GROUP BY repository), \
             page AS (SELECT rt.repository AS repository, COALESCE(agg.images, 0) AS images, \
               COALESCE(agg.critical, 0) AS critical, COALESCE(agg.high, 0) AS high, \
               COALESCE(agg.medium, 0) AS medium, COALESCE(agg.low, 0) AS low, \
               COALESCE(agg.negligible, 0) AS negligible, COALESCE(agg.unknown, 0) AS unknown, \
               COALESCE(agg.fixable, 0) AS fixable, {} \
               COALESCE(agg.last_scanned, -1) AS last_scanned, rt.worst AS worst, \
               COUNT(*) OVER () AS total \
               FROM rt LEFT JOIN agg ON agg.repository = rt.repository {} \
               ORDER BY {order}, repository ASC",
            count_columns(filter),
            if usage_sort {
                format!("{},", usage(""))
            } else {
                String::new()
            },
            if usage_sort {
                "COALESCE(usage.clusters, 0) AS clusters, COALESCE(usage.resources, 0) AS resources,"
            } else {
                ""
            },
            if usage_sort {
                "LEFT JOIN usage ON usage.repository = rt.repository"
            } else {
                ""
            },
        ));
        let limit = page_params(&mut sql, page);
        sql.push(&limit);
        sql.push(")");
        if !usage_sort {
            sql.push(&format!(
                ", {}",
                usage("WHERE st.repository IN (SELECT repository FROM page)")
            ));
        }
        sql.push(&format!(
            " SELECT page.repository AS repository, page.images, page.critical AS critical, \
             page.high AS high, page.medium AS medium, page.low AS low, \
             page.negligible AS negligible, page.unknown AS unknown, page.fixable AS fixable, \
             {} page.last_scanned AS last_scanned, page.worst, page.total \
             FROM page {} ORDER BY {order}, repository ASC",
            if usage_sort {
                "page.clusters AS clusters, page.resources AS resources,"
            } else {
                "COALESCE(usage.clusters, 0) AS clusters, COALESCE(usage.resources, 0) AS resources,"
            },
            if usage_sort {
                ""
            } else {
                "LEFT JOIN usage ON usage.repository = page.repository"
            },
        ));
        sql
    };
    let (total, rows) = paged_rows(conn, build, page, 13).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let repository: String = row.try_get(0)?;
        let last_scanned: i64 = row.try_get(11)?;
        let latest_scanned_tag: Option<String> = sqlx::query_scalar(
            "SELECT it.tag FROM scan_target t JOIN image i ON i.id = t.image_id \
             JOIN image_tag it ON it.image_id = i.id WHERE t.repository = $1 \
             ORDER BY i.scanned_at DESC, it.last_seen DESC, it.tag LIMIT 1",
        )
        .bind(&repository)
        .fetch_optional(&mut *conn)
        .await?;
        let latest_digest: Option<String> = sqlx::query_scalar(
            "SELECT i.digest FROM scan_target t JOIN image i ON i.id = t.image_id \
             WHERE t.repository = $1 \
             ORDER BY CASE WHEN i.scanned_at IS NULL THEN 1 ELSE 0 END, i.scanned_at DESC, i.id DESC \
             LIMIT 1",
        )
        .bind(&repository)
        .fetch_optional(&mut *conn)
        .await?;
        let exception = if filter.excepted {
            repository_exception(conn, &repository, now).await?
        } else {
            None
        };
        items.push(RepositoryRow {
            images: count(row.try_get(1)?),
            vulnerabilities: severity_counts(&row, 2)?,
            fixable: count(row.try_get(8)?),
            clusters: count(row.try_get(9)?),
            resources: count(row.try_get(10)?),
            latest_scanned_tag,
            latest_digest: latest_digest
                .map(|d| parse_digest("image digest", &d))
                .transpose()?,
            last_scanned: if last_scanned < 0 {
                None
            } else {
                Some(from_ts("last scanned", last_scanned)?)
            },
            scan_status: status_from_rank(row.try_get(12)?),
            exception,
            repository,
        });
    }
    Ok(Paged { total, items })
}

pub(crate) async fn image_id(
    conn: &mut SqliteConnection,
    digest: &model::Digest,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM image WHERE digest = $1")
        .bind(digest.to_string())
        .fetch_optional(&mut *conn)
        .await?)
}

fn image_not_found(digest: &model::Digest) -> StoreError {
    StoreError::NotFound {
        what: "image",
        key: digest.to_string(),
    }
}

pub(crate) async fn image(
    conn: &mut SqliteConnection,
    digest: &model::Digest,
    now: i64,
) -> Result<Option<ImageDetails>> {
    let Some(row) = sqlx::query(
        "SELECT i.id, i.repository, i.digest, i.config_digest, i.platform, i.os, i.size, i.created, \
         i.metadata, i.status, i.scanned_at, i.scan_error, i.analyzer_versions, i.db_version, \
         s.critical, s.high, s.medium, s.low, s.negligible, s.unknown, s.fixable \
         FROM image i JOIN image_summary s ON s.image_id = i.id WHERE i.digest = $1",
    )
    .bind(digest.to_string())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let repository: String = row.try_get(1)?;
    let tags: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tag, last_seen FROM image_tag WHERE image_id = $1 ORDER BY last_seen DESC, tag",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let others: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, digest, first_seen FROM image WHERE repository = $1 AND id <> $2 \
         ORDER BY first_seen DESC, id DESC LIMIT 100",
    )
    .bind(&repository)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let other_tags: Vec<(i64, String)> = sqlx::query_as(
        "SELECT it.image_id, it.tag FROM image_tag it JOIN image i ON i.id = it.image_id \
         WHERE i.repository = $1 AND i.id <> $2 ORDER BY it.tag",
    )
    .bind(&repository)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut tags_by_image: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (image, tag) in other_tags {
        tags_by_image.entry(image).or_default().push(tag);
    }
    let running: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM container c JOIN scan_target t ON t.id = c.target_id \
         WHERE t.image_id = $1 AND c.running = TRUE)",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let mut decoder = Decoder::new()?;
    let metadata_body: Vec<u8> = row.try_get(8)?;
    let metadata: model::ImageMetadata = decoder.decode("image metadata", &metadata_body)?;
    let os: Option<String> = row.try_get(5)?;
    let platform: String = row.try_get(4)?;
    let status: String = row.try_get(9)?;
    let analyzers: String = row.try_get(12)?;
    let stored_digest: String = row.try_get(2)?;
    let config_digest: String = row.try_get(3)?;
    Ok(Some(ImageDetails {
        id: ImageId(id),
        digest: parse_digest("image digest", &stored_digest)?,
        tags: tags
            .into_iter()
            .map(|(tag, last_seen)| {
                Ok(TagSeen {
                    tag,
                    last_seen: from_ts("tag last seen", last_seen)?,
                })
            })
            .collect::<Result<_>>()?,
        other_digests: others
            .into_iter()
            .map(|(other, digest, first_seen)| {
                Ok(OtherDigest {
                    digest: parse_digest("image digest", &digest)?,
                    tags: tags_by_image.remove(&other).unwrap_or_default(),
                    first_seen: from_ts("image first seen", first_seen)?,
                })
            })
            .collect::<Result<_>>()?,
        platform: parse_platform(&platform)?
            .ok_or_else(|| StoreError::decode("image platform", "empty"))?,
        os: os
            .map(|os| serde_json::from_str(&os).map_err(|e| StoreError::decode("image os", e)))
            .transpose()?,
        size: count(row.try_get(6)?),
        created: row.try_get(7)?,
        config_digest: parse_digest("config digest", &config_digest)?,
        metadata,
        status: ScanStatus::from_str_stored(&status)
            .ok_or_else(|| StoreError::decode("scan status", &status))?,
        scanned_at: from_ts_opt("image scanned", row.try_get(10)?)?,
        scan_error: row.try_get(11)?,
        db_version: row.try_get(13)?,
        analyzer_versions: serde_json::from_str::<AnalyzerVersions>(&analyzers)
            .map_err(|e| StoreError::decode("analyzer versions", e))?,
        counts: severity_counts(&row, 14)?,
        fixable: count(row.try_get(20)?),
        running,
        repository_exception: repository_exception(conn, &repository, now).await?,
        repository,
    }))
}

fn layer_condition(sql: &mut Sql, column: &str, layers: &LayerFilter) {
    if let Some(layers) = layers {
        if layers.is_empty() {
            sql.push(" AND FALSE");
            return;
        }
        let list: Vec<String> = layers.iter().map(|l| sql.int(i64::from(*l))).collect();
        sql.push(&format!(" AND {column} IN ({})", list.join(", ")));
    }
}

/// Layer filters are lists of layer indexes; images have at most a few
/// hundred layers.
const MAX_LAYER_FILTER: usize = 512;

fn check_layers(layers: &LayerFilter) -> Result<()> {
    if layers.as_ref().is_some_and(|l| l.len() > MAX_LAYER_FILTER) {
        return Err(StoreError::invalid(
            "layer filter",
            format!("more than {MAX_LAYER_FILTER} layers"),
        ));
    }
    Ok(())
}

pub(crate) async fn image_vulnerabilities(
    conn: &mut SqliteConnection,
    digest: &model::Digest,
    layers: &LayerFilter,
    sort: Sort<VulnerabilitySortField>,
    page: Page,
    include_excepted: bool,
) -> Result<Paged<VulnerabilityRow>> {
    check_layers(layers)?;
    let id = image_id(conn, digest)
        .await?
        .ok_or_else(|| image_not_found(digest))?;
    let dir = direction(sort.direction);
    // "Descending" severity is most severe first: code 0 is critical.
    let reverse = match sort.direction {
        Direction::Ascending => "DESC",
        Direction::Descending => "ASC",
    };
    let order = match sort.field {
        VulnerabilitySortField::Cvss => format!("f.cvss {dir} NULLS LAST, f.severity ASC"),
        VulnerabilitySortField::Severity => format!("f.severity {reverse}, f.cvss DESC NULLS LAST"),
        VulnerabilitySortField::Id => format!("v.name {dir}"),
        VulnerabilitySortField::Package => {
            format!("f.package_name {dir}, f.package_version {dir}")
        }
        VulnerabilitySortField::Epss => format!("f.epss {dir} NULLS LAST"),
        VulnerabilitySortField::Layer => format!("f.layer_index {dir} NULLS LAST"),
    };
    let build = |page: Page| {
        let mut sql = Sql::default();
        let image = sql.int(id);
        sql.push(&format!(
            "SELECT f.body, f.first_seen_db_version, f.excepted, COUNT(*) OVER () FROM finding f \
             JOIN vulnerability v ON v.id = f.vulnerability_id WHERE f.image_id = {image}"
        ));
        if !include_excepted {
            sql.push(" AND f.excepted = FALSE");
        }
        layer_condition(&mut sql, "f.layer_index", layers);
        sql.push(&format!(" ORDER BY {order}, f.id"));
        let limit = page_params(&mut sql, page);
        sql.push(&limit);
        sql
    };
    let (total, rows) = paged_rows(conn, build, page, 3).await?;
    let mut decoder = Decoder::new()?;
    let items = rows
        .iter()
        .map(|row| {
            let body: Vec<u8> = row.try_get(0)?;
            Ok(VulnerabilityRow {
                finding: decoder.decode("finding", &body)?,
                first_seen_db_version: row.try_get(1)?,
                excepted: row.try_get(2)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Paged { total, items })
}

pub(crate) async fn image_packages(
    conn: &mut SqliteConnection,
    digest: &model::Digest,
    layers: &LayerFilter,
    page: Page,
) -> Result<Paged<PackageRow>> {
    check_layers(layers)?;
    let id = image_id(conn, digest)
        .await?
        .ok_or_else(|| image_not_found(digest))?;
    let build = |page: Page| {
        let mut sql = Sql::default();
        let image = sql.int(id);
        sql.push(&format!(
            "SELECT kind, name, version, layer_index, path, vulnerabilities, fix_all_version, \
             COUNT(*) OVER () FROM image_package WHERE image_id = {image}"
        ));
        layer_condition(&mut sql, "layer_index", layers);
        sql.push(" ORDER BY vulnerabilities DESC, kind, name, version, path");
        let limit = page_params(&mut sql, page);
        sql.push(&limit);
        sql
    };
    let (total, rows) = paged_rows(conn, build, page, 7).await?;
    let items = rows
        .iter()
        .map(|row| {
            let kind: String = row.try_get(0)?;
            let layer: Option<i64> = row.try_get(3)?;
            Ok(PackageRow {
                package: PackageSummary {
                    kind: parse_kind(&kind)?,
                    name: row.try_get(1)?,
                    version: row.try_get(2)?,
                    layer_index: layer.and_then(|l| u32::try_from(l).ok()),
                    path: row.try_get(4)?,
                    vulnerabilities: u32::try_from(row.try_get::<i64, _>(5)?).unwrap_or(u32::MAX),
                    fix_all_version: row.try_get(6)?,
                },
            })
        })
        .collect::<Result<_>>()?;
    Ok(Paged { total, items })
}

fn parse_kind(text: &str) -> Result<model::PackageKind> {
    model::PackageKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| StoreError::decode("package kind", text))
}

pub(crate) async fn image_resources(
    conn: &mut SqliteConnection,
    digest: &model::Digest,
    page: Page,
) -> Result<Paged<ResourceRow>> {
    let id = image_id(conn, digest)
        .await?
        .ok_or_else(|| image_not_found(digest))?;
    let build = |page: Page| {
        let mut sql = Sql::default();
        let image = sql.int(id);
        sql.push(&format!(
            "SELECT cl.name, w.namespace, w.kind, w.name, c.container, c.container_type, c.image_ref, \
             w.id, w.created, c.first_seen, c.last_seen, c.running, c.state, COUNT(*) OVER () \
             FROM container c JOIN scan_target t ON t.id = c.target_id \
             JOIN workload w ON w.id = c.workload_id JOIN cluster cl ON cl.id = c.cluster_id \
             WHERE t.image_id = {image} \
             ORDER BY c.running DESC, cl.name, w.namespace, w.kind, w.name, c.container, c.id"
        ));
        let limit = page_params(&mut sql, page);
        sql.push(&limit);
        sql
    };
    let (total, rows) = paged_rows(conn, build, page, 13).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let workload: i64 = row.try_get(7)?;
        let labels: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM workload_label WHERE workload_id = $1")
                .bind(workload)
                .fetch_all(&mut *conn)
                .await?;
        let kind: String = row.try_get(2)?;
        let container_type: String = row.try_get(5)?;
        let state: String = row.try_get(12)?;
        items.push(ResourceRow {
            cluster: row.try_get(0)?,
            namespace: row.try_get(1)?,
            kind: k8s::WorkloadKind::from_kind(&kind),
            name: row.try_get(3)?,
            container: row.try_get(4)?,
            container_type: parse_container_type(&container_type)?,
            image_ref: row.try_get(6)?,
            labels: labels.into_iter().collect(),
            created: from_ts_opt("workload created", row.try_get(8)?)?,
            first_seen: from_ts("container first seen", row.try_get(9)?)?,
            last_seen: from_ts("container last seen", row.try_get(10)?)?,
            running: row.try_get(11)?,
            state: parse_state(&state)?,
        });
    }
    Ok(Paged { total, items })
}

/// Where the page's rows run: `key_sql` selects `(key, image_id)` pairs
/// (rows of `image_upgrade` or `image_base`) restricted to `keys`; returns
/// per key the distinct workloads and clusters of the containers in scope
/// of those images.
async fn usage_for_keys(
    conn: &mut SqliteConnection,
    filter: &ReportFilter,
    now: i64,
    key_sql: impl Fn(&str) -> String,
    keys: &[i64],
) -> Result<BTreeMap<i64, (u64, u64)>> {
    let mut sql = Sql::default();
    scope_ctes(&mut sql, filter, now);
    let list: Vec<String> = keys.iter().map(|key| sql.int(*key)).collect();
    sql.push(&format!(
        // From the page's keys to their images' containers; CROSS JOIN keeps
        // SQLite's planner from starting at the containers (the result is
        // the same on any backend).
        " SELECT k.key, COUNT(DISTINCT sc.workload_id), COUNT(DISTINCT sc.cluster_id) \
         FROM ({}) k CROSS JOIN st CROSS JOIN sc \
         WHERE st.image_id = k.image_id AND sc.target_id = st.id GROUP BY k.key",
        key_sql(&list.join(", "))
    ));
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<i64, _>(0)?,
                (count(row.try_get(1)?), count(row.try_get(2)?)),
            ))
        })
        .collect()
}

/// Package upgrades in scope, from the per-image rows `image_upgrade`
/// (migration 0003). A scope holding more than half of the images starts
/// from the fleet-wide `upgrade_total` and subtracts the images it leaves
/// out; a narrower one adds up the images it holds. Either way the work is
/// bounded by the smaller side. The side not taken is emptied in a
/// materialized set (`pick` or `skip`), so it costs a scan of the image ids,
/// not of their upgrade rows; CROSS JOIN keeps SQLite starting from those
/// sets (same result on any backend).
pub(crate) async fn remediation(
    conn: &mut SqliteConnection,
    filter: &ReportFilter,
    page: Page,
    now: i64,
) -> Result<Paged<RemediationRow>> {
    filter.check()?;
    let build = |page: Page| {
        let mut sql = Sql::default();
        scope_ctes(&mut sql, filter, now);
        sql.push(
            ", imgs AS MATERIALIZED (SELECT DISTINCT image_id FROM st WHERE image_id IS NOT NULL), \
             n AS (SELECT 2 * (SELECT COUNT(*) FROM imgs) > (SELECT COUNT(*) FROM image) AS broad), \
             pick AS MATERIALIZED (SELECT image_id FROM imgs WHERE NOT (SELECT broad FROM n)), \
             skip AS MATERIALIZED (SELECT id AS image_id FROM image \
               WHERE (SELECT broad FROM n) AND id NOT IN (SELECT image_id FROM imgs)), \
             direct AS (SELECT r.upgrade_id, SUM(r.findings) AS findings, COUNT(*) AS images \
               FROM pick CROSS JOIN image_upgrade r WHERE r.image_id = pick.image_id \
               GROUP BY r.upgrade_id), \
             outside AS MATERIALIZED (SELECT r.upgrade_id, SUM(r.findings) AS findings, \
               COUNT(*) AS images FROM skip CROSS JOIN image_upgrade r \
               WHERE r.image_id = skip.image_id GROUP BY r.upgrade_id), \
             complement AS (SELECT t.upgrade_id, t.findings - COALESCE(o.findings, 0) AS findings, \
               t.images - COALESCE(o.images, 0) AS images FROM upgrade_total t \
               LEFT JOIN outside o ON o.upgrade_id = t.upgrade_id WHERE (SELECT broad FROM n)), \
             ranked AS (SELECT upgrade_id, findings, images FROM direct \
               UNION ALL SELECT upgrade_id, findings, images FROM complement) \
             SELECT u.id, u.kind, u.name, u.fix_version, CAST(r.findings AS BIGINT), \
             CAST(r.images AS BIGINT), COUNT(*) OVER () \
             FROM ranked r JOIN upgrade u ON u.id = r.upgrade_id WHERE r.findings > 0 \
             ORDER BY r.findings DESC, r.images DESC, u.kind, u.name, u.fix_version",
        );
        let limit = page_params(&mut sql, page);
        sql.push(&limit);
        sql
    };
    let (total, rows) = paged_rows(conn, build, page, 6).await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut items: Vec<RemediationRow> = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: String = row.try_get(1)?;
        ids.push(row.try_get::<i64, _>(0)?);
        items.push(RemediationRow {
            kind: parse_kind(&kind)?,
            name: row.try_get(2)?,
            to_version: row.try_get(3)?,
            findings: count(row.try_get(4)?),
            images: count(row.try_get(5)?),
            workloads: 0,
            clusters: 0,
        });
    }
    if items.is_empty() {
        return Ok(Paged { total, items });
    }
    let usage = usage_for_keys(
        conn,
        filter,
        now,
        |list| {
            format!(
                "SELECT upgrade_id AS key, image_id FROM image_upgrade WHERE upgrade_id IN ({list})"
            )
        },
        &ids,
    )
    .await?;
    for (item, id) in items.iter_mut().zip(&ids) {
        if let Some((workloads, clusters)) = usage.get(id) {
            item.workloads = *workloads;
            item.clusters = *clusters;
        }
    }
    Ok(Paged { total, items })
}

/// Tags of an image, most recently seen first.
async fn image_tags(conn: &mut SqliteConnection, image: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT tag FROM image_tag WHERE image_id = $1 ORDER BY last_seen DESC, tag",
    )
    .bind(image)
    .fetch_all(&mut *conn)
    .await?)
}

/// Total findings (not excepted) of an image's summary.
const SUMMARY_TOTAL: &str = "(s.critical + s.high + s.medium + s.low + s.negligible + s.unknown)";

/// Base images of the images in scope (`image_base`, migration 0003),
/// ranked by the findings their layers brought into those images.
pub(crate) async fn base_image_remediation(
    conn: &mut SqliteConnection,
    filter: &ReportFilter,
    page: Page,
    now: i64,
) -> Result<Paged<BaseImageRow>> {
    filter.check()?;
    let build = |page: Page| {
        let mut sql = Sql::default();
        scope_ctes(&mut sql, filter, now);
        sql.push(&format!(
            ", imgs AS MATERIALIZED (SELECT DISTINCT image_id FROM st WHERE image_id IS NOT NULL), \
             b AS (SELECT ib.base_image_id, SUM(ib.base_findings) AS findings, COUNT(*) AS images \
               FROM imgs JOIN image_base ib ON ib.image_id = imgs.image_id \
               WHERE ib.base_image_id IS NOT NULL GROUP BY ib.base_image_id) \
             SELECT b.base_image_id, i.repository, i.digest, i.platform, bb.layers, bb.created, \
             CAST(b.findings AS BIGINT), CAST(b.images AS BIGINT), \
             COALESCE({SUMMARY_TOTAL}, 0), COUNT(*) OVER () \
             FROM b JOIN image i ON i.id = b.base_image_id \
             JOIN image_base bb ON bb.image_id = b.base_image_id \
             LEFT JOIN image_summary s ON s.image_id = b.base_image_id \
             ORDER BY b.findings DESC, b.images DESC, i.repository, i.digest"
        ));
        let limit = page_params(&mut sql, page);
        sql.push(&limit);
        sql
    };
    let (total, rows) = paged_rows(conn, build, page, 9).await?;
    if rows.is_empty() {
        return Ok(Paged {
            total,
            items: Vec::new(),
        });
    }
    let ids: Vec<i64> = rows
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<std::result::Result<_, _>>()?;
    let usage = usage_for_keys(
        conn,
        filter,
        now,
        |list| {
            format!(
                "SELECT base_image_id AS key, image_id FROM image_base \
                 WHERE base_image_id IN ({list})"
            )
        },
        &ids,
    )
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for (row, id) in rows.iter().zip(&ids) {
        let repository: String = row.try_get(1)?;
        let digest: String = row.try_get(2)?;
        let platform: String = row.try_get(3)?;
        let created: Option<i64> = row.try_get(5)?;
        let own_findings: i64 = row.try_get(8)?;
        let (workloads, clusters) = usage.get(id).copied().unwrap_or_default();
        let suggested =
            suggested_base(conn, *id, &repository, &platform, created, own_findings).await?;
        items.push(BaseImageRow {
            tags: image_tags(conn, *id).await?,
            repository,
            digest: parse_digest("image digest", &digest)?,
            layers: u32::try_from(row.try_get::<i64, _>(4)?).unwrap_or(u32::MAX),
            created: from_ts_opt("image created", created)?,
            own_findings: count(own_findings),
            findings: count(row.try_get(6)?),
            images: count(row.try_get(7)?),
            workloads,
            clusters,
            suggested,
        });
    }
    Ok(Paged { total, items })
}

/// The stored image of the base's repository and platform created after it
/// (config `created`) with the fewest findings of its own, fewer than the
/// base's; the newest among equals. A base without a creation time has no
/// suggestion: "newer" cannot be decided.
async fn suggested_base(
    conn: &mut SqliteConnection,
    base: i64,
    repository: &str,
    platform: &str,
    created: Option<i64>,
    own_findings: i64,
) -> Result<Option<SuggestedBase>> {
    let Some(created) = created else {
        return Ok(None);
    };
    let row: Option<(i64, String, Option<i64>, i64)> = sqlx::query_as(sql_text!(
        "SELECT i.id, i.digest, ib.created, {SUMMARY_TOTAL} AS findings \
         FROM image i JOIN image_base ib ON ib.image_id = i.id \
         JOIN image_summary s ON s.image_id = i.id \
         WHERE i.repository = $1 AND i.platform = $2 AND i.id <> $3 AND ib.created > $4 \
         AND {SUMMARY_TOTAL} < $5 \
         ORDER BY findings, ib.created DESC, i.id LIMIT 1"
    ))
    .bind(repository)
    .bind(platform)
    .bind(base)
    .bind(created)
    .bind(own_findings)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, digest, created, findings)) = row else {
        return Ok(None);
    };
    Ok(Some(SuggestedBase {
        digest: parse_digest("image digest", &digest)?,
        tags: image_tags(conn, id).await?,
        created: from_ts_opt("image created", created)?,
        findings: count(findings),
    }))
}
