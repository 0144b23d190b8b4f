//! The scan queue, scan results, findings and the per-image summaries.

use std::collections::{BTreeSet, HashMap, HashSet};

use model::{Digest, Finding, FixState, Severity};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{from_ts_opt, parse_digest, parse_platform, ts};
use crate::codec::{Decoder, Encoder};
use crate::types::MAX_REASON_LEN;
use crate::{
    AnalyzerVersions, ClusterSecretRef, FindingsHashes, ImageId, PackageSummary, RematchOutcome,
    Result, ScanJob, ScanRecord, ScanStatus, ScanTarget, StoreError, StoredInventory, TargetId,
    TargetReference, TargetState,
};

/// Rows per multi-row statement (18 columns × 200 = 3,600 bound
/// parameters, under SQLite's 32,766 and PostgreSQL's 65,535).
const INSERT_BATCH: usize = 200;

pub(crate) fn severity_code(severity: Severity) -> i64 {
    match severity {
        Severity::Critical => 0,
        Severity::High => 1,
        Severity::Medium => 2,
        Severity::Low => 3,
        Severity::Negligible => 4,
        Severity::Unknown => 5,
    }
}

fn fix_state_text(state: &FixState) -> &'static str {
    match state {
        FixState::Fixed => "fixed",
        FixState::NotFixed => "not-fixed",
        FixState::WontFix(_) => "wont-fix",
    }
}

/// Anonymous positional placeholders (`?, ?, …`) for the multi-row
/// statements, bound in order. Not `$n`: sqlx-sqlite looks a named
/// parameter up with `sqlite3_bind_parameter_name`, a walk over the
/// statement's parameter list, so binding `$n` costs the square of the
/// row count (a 50-row findings insert spent most of its time there);
/// anonymous ones are bound by position. (PostgreSQL spells them `$n`;
/// its backend builds these lists with its own helper.)
fn placeholders(sql: &mut String, count: usize) {
    for i in 0..count {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
    }
}

/// `(?, ?, …)` for `rows` rows of `columns` columns.
fn row_placeholders(sql: &mut String, rows: usize, columns: usize) {
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        placeholders(sql, columns);
        sql.push(')');
    }
}

const TARGET_COLUMNS: &str = "t.id, t.repository, t.reference_kind, t.reference, t.expected_config, \
     t.platform, t.status, t.attempts, t.reason, t.next_attempt, i.digest";

fn target_from_row(row: &SqliteRow) -> Result<TargetState> {
    let kind: String = row.try_get(2)?;
    let reference: String = row.try_get(3)?;
    let expected: String = row.try_get(4)?;
    let reference = match kind.as_str() {
        "digest" => TargetReference::Digest {
            digest: parse_digest("target digest", &reference)?,
        },
        "tag" => TargetReference::Tag {
            tag: reference,
            expected_config: parse_digest("target config digest", &expected)?,
        },
        other => return Err(StoreError::decode("target reference kind", other)),
    };
    let platform: String = row.try_get(5)?;
    let status: String = row.try_get(6)?;
    let image: Option<String> = row.try_get(10)?;
    Ok(TargetState {
        target: ScanTarget {
            id: TargetId(row.try_get(0)?),
            repository: row.try_get(1)?,
            reference,
            platform: parse_platform(&platform)?,
        },
        status: ScanStatus::from_str_stored(&status)
            .ok_or_else(|| StoreError::decode("scan status", &status))?,
        attempts: u32::try_from(row.try_get::<i64, _>(7)?).unwrap_or(u32::MAX),
        reason: row.try_get(8)?,
        next_attempt: from_ts_opt("next attempt", row.try_get(9)?)?,
        image: image
            .map(|d| parse_digest("image digest", &d))
            .transpose()?,
    })
}

pub(crate) async fn target(
    conn: &mut SqliteConnection,
    id: TargetId,
) -> Result<Option<TargetState>> {
    let row = sqlx::query(sql_text!(
        "SELECT {TARGET_COLUMNS} FROM scan_target t LEFT JOIN image i ON i.id = t.image_id WHERE t.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(target_from_row).transpose()
}

pub(crate) async fn targets(
    conn: &mut SqliteConnection,
    page: crate::Page,
) -> Result<crate::Paged<TargetState>> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scan_target")
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query(sql_text!(
        "SELECT {TARGET_COLUMNS} FROM scan_target t LEFT JOIN image i ON i.id = t.image_id \
         ORDER BY t.id LIMIT $1 OFFSET $2"
    ))
    .bind(i64::from(page.limit()))
    .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    Ok(crate::Paged {
        total: super::count(total),
        items: rows.iter().map(target_from_row).collect::<Result<_>>()?,
    })
}

pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    limit: u32,
    now: OffsetDateTime,
) -> Result<Vec<ScanJob>> {
    let now = ts(now);
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM scan_target WHERE status = 'pending' \
         OR (status = 'failed' AND next_attempt <= $1) ORDER BY id LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        sqlx::query("UPDATE scan_target SET status = 'scanning', updated = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        let Some(state) = target(conn, TargetId(id)).await? else {
            continue;
        };
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT cl.name, c.pull_secrets FROM container c \
             JOIN cluster cl ON cl.id = c.cluster_id WHERE c.target_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let mut secrets = BTreeSet::new();
        for (cluster, json) in rows {
            let refs: Vec<k8s::SecretRef> = serde_json::from_str(&json)
                .map_err(|e| StoreError::decode("pull secret references", e))?;
            secrets.extend(refs.into_iter().map(|secret| ClusterSecretRef {
                cluster: cluster.clone(),
                secret,
            }));
        }
        jobs.push(ScanJob {
            target: state.target,
            attempts: state.attempts,
            pull_secrets: secrets.into_iter().collect(),
        });
    }
    Ok(jobs)
}

fn bounded_reason(what: &'static str, reason: &str) -> Result<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::invalid(what, "a reason is required"));
    }
    // Failure reasons come from registries: keep their start, bounded.
    Ok(reason.chars().take(MAX_REASON_LEN).collect())
}

pub(crate) async fn fail(
    conn: &mut SqliteConnection,
    target: TargetId,
    reason: &str,
    next_attempt: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<()> {
    let reason = bounded_reason("failure reason", reason)?;
    let image: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE scan_target SET status = 'failed', attempts = attempts + 1, reason = $1, \
         next_attempt = $2, updated = $3 WHERE id = $4 RETURNING image_id",
    )
    .bind(&reason)
    .bind(ts(next_attempt))
    .bind(ts(now))
    .bind(target.0)
    .fetch_optional(&mut *conn)
    .await?;
    match image {
        None => Err(StoreError::NotFound {
            what: "scan target",
            key: target.to_string(),
        }),
        Some(Some(image)) => {
            // A rescan failed: the stored results stay, with the error.
            sqlx::query("UPDATE image SET scan_error = $1 WHERE id = $2")
                .bind(&reason)
                .bind(image)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Some(None) => Ok(()),
    }
}

pub(crate) async fn mark_unsupported(
    conn: &mut SqliteConnection,
    target: TargetId,
    reason: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let reason = bounded_reason("unsupported reason", reason)?;
    let updated = sqlx::query(
        "UPDATE scan_target SET status = 'unsupported', reason = $1, next_attempt = NULL, \
         updated = $2 WHERE id = $3",
    )
    .bind(&reason)
    .bind(ts(now))
    .bind(target.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound {
            what: "scan target",
            key: target.to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn requeue_interrupted(conn: &mut SqliteConnection) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE scan_target SET status = 'pending' WHERE status = 'scanning'")
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

pub(crate) async fn requeue_stale_analyzers(
    conn: &mut SqliteConnection,
    current: &AnalyzerVersions,
) -> Result<u64> {
    let images: Vec<(i64, String)> = sqlx::query_as("SELECT id, analyzer_versions FROM image")
        .fetch_all(&mut *conn)
        .await?;
    let mut requeued = 0;
    for (id, json) in images {
        let stored: AnalyzerVersions =
            serde_json::from_str(&json).map_err(|e| StoreError::decode("analyzer versions", e))?;
        if &stored != current {
            requeued += sqlx::query(
                "UPDATE scan_target SET status = 'pending', attempts = 0 \
                 WHERE image_id = $1 AND status = 'scanned'",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
    }
    Ok(requeued)
}

/// Vulnerability IDs an active exception covers for images of `repository`.
async fn excepted_vulnerabilities(
    conn: &mut SqliteConnection,
    repository: &str,
    now: i64,
) -> Result<HashSet<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT vulnerability FROM exception WHERE scope = 'vulnerability' \
         AND cancelled_at IS NULL AND (expires IS NULL OR expires > $1) \
         AND (repository IS NULL OR repository = $2)",
    )
    .bind(now)
    .bind(repository)
    .fetch_all(&mut *conn)
    .await?;
    Ok(names.into_iter().collect())
}

/// Ids of vulnerability names, creating the missing ones: one query per
/// batch of names rather than one per finding.
async fn vulnerability_ids<'a>(
    conn: &mut SqliteConnection,
    names: &[&'a str],
) -> Result<HashMap<&'a str, i64>> {
    let mut ids = HashMap::with_capacity(names.len());
    for batch in names.chunks(INSERT_BATCH) {
        let mut sql = String::from("SELECT name, id FROM vulnerability WHERE name IN (");
        placeholders(&mut sql, batch.len());
        sql.push(')');
        let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql.as_str()));
        for name in batch {
            query = query.bind(*name);
        }
        let found: HashMap<String, i64> = query.fetch_all(&mut *conn).await?.into_iter().collect();
        for name in batch {
            let id = match found.get(*name) {
                Some(id) => *id,
                None => {
                    sqlx::query_scalar("INSERT INTO vulnerability (name) VALUES ($1) RETURNING id")
                        .bind(*name)
                        .fetch_one(&mut *conn)
                        .await?
                }
            };
            ids.insert(*name, id);
        }
    }
    Ok(ids)
}

/// A finding about to be written, with its content hash.
struct Prepared<'a> {
    finding: &'a Finding,
    hash: i64,
}

/// An image's findings and packages with their hashes (computed before
/// taking the writer, so the shared write transaction holds only the SQL).
pub(crate) struct PreparedFindings<'a> {
    findings: Vec<Prepared<'a>>,
    findings_hash: &'a [u8],
    packages: &'a [PackageSummary],
    packages_hash: &'a [u8],
}

/// Pairs findings with their hashes; hashes of other findings are refused.
pub(crate) fn prepare<'a>(
    findings: &'a [Finding],
    packages: &'a [PackageSummary],
    hashes: &'a FindingsHashes,
) -> Result<PreparedFindings<'a>> {
    if hashes.per_finding.len() != findings.len() {
        return Err(StoreError::invalid(
            "findings hashes",
            format!(
                "{} hashes for {} findings",
                hashes.per_finding.len(),
                findings.len()
            ),
        ));
    }
    Ok(PreparedFindings {
        findings: findings
            .iter()
            .zip(&hashes.per_finding)
            .map(|(finding, hash)| Prepared {
                finding,
                hash: *hash,
            })
            .collect(),
        findings_hash: &hashes.findings,
        packages,
        packages_hash: &hashes.packages,
    })
}

/// Writes an image's findings and packages from a (re-)match against
/// `db_version` and refreshes its summary, touching only what changed:
/// the same findings and packages as stored (by hash) only record the
/// version; otherwise rows whose fingerprint and content are unchanged stay,
/// changed ones are replaced (keeping `first_seen_db_version`), gone ones
/// deleted and new ones inserted with `first_seen_db_version = db_version`.
pub(crate) async fn write_findings(
    conn: &mut SqliteConnection,
    image: i64,
    prepared: &PreparedFindings<'_>,
    db_version: i64,
    now: i64,
) -> Result<RematchOutcome> {
    type Stored = (String, Option<Vec<u8>>, Option<Vec<u8>>);
    let stored: Option<Stored> =
        sqlx::query_as("SELECT repository, findings_hash, packages_hash FROM image WHERE id = $1")
            .bind(image)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((repository, stored_findings_hash, stored_packages_hash)) = stored else {
        return Err(StoreError::NotFound {
            what: "image",
            key: image.to_string(),
        });
    };
    let mut outcome = RematchOutcome::default();
    let changed = stored_findings_hash.as_deref() != Some(prepared.findings_hash)
        || stored_packages_hash.as_deref() != Some(prepared.packages_hash);
    if stored_findings_hash.as_deref() != Some(prepared.findings_hash) {
        outcome = diff_findings(
            conn,
            image,
            &repository,
            &prepared.findings,
            db_version,
            now,
        )
        .await?;
        refresh_summaries(conn, "$1", Some(image)).await?;
    }
    if stored_packages_hash.as_deref() != Some(prepared.packages_hash) {
        diff_packages(conn, image, prepared.packages).await?;
    }
    sqlx::query(
        "UPDATE image SET db_version = $1, findings_hash = $2, packages_hash = $3 WHERE id = $4",
    )
    .bind(db_version)
    .bind(prepared.findings_hash)
    .bind(prepared.packages_hash)
    .bind(image)
    .execute(&mut *conn)
    .await?;
    if changed {
        super::remediation::image_written(conn, image).await?;
    }
    Ok(outcome)
}

/// `write_findings` for several images in one transaction.
pub(crate) async fn write_findings_batch(
    conn: &mut SqliteConnection,
    writes: &[(i64, PreparedFindings<'_>)],
    db_version: i64,
    now: i64,
) -> Result<Vec<RematchOutcome>> {
    let mut outcomes = Vec::with_capacity(writes.len());
    for (image, prepared) in writes {
        outcomes.push(write_findings(conn, *image, prepared, db_version, now).await?);
    }
    Ok(outcomes)
}

/// Brings an image's finding rows to `prepared`, writing only the rows
/// that differ.
async fn diff_findings(
    conn: &mut SqliteConnection,
    image: i64,
    repository: &str,
    prepared: &[Prepared<'_>],
    db_version: i64,
    now: i64,
) -> Result<RematchOutcome> {
    let previous: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, fingerprint, first_seen_db_version, content_hash FROM finding \
         WHERE image_id = $1",
    )
    .bind(image)
    .fetch_all(&mut *conn)
    .await?;
    // Fingerprints are unique per image in practice; a duplicate keeps the
    // earliest version it was seen at.
    let mut first_seen: HashMap<&str, i64> = HashMap::with_capacity(previous.len());
    let mut unchanged: HashMap<(&str, i64), Vec<i64>> = HashMap::with_capacity(previous.len());
    for (id, fingerprint, seen_at, hash) in &previous {
        first_seen
            .entry(fingerprint.as_str())
            .and_modify(|v| *v = (*v).min(*seen_at))
            .or_insert(*seen_at);
        unchanged
            .entry((fingerprint.as_str(), *hash))
            .or_default()
            .push(*id);
    }
    let mut outcome = RematchOutcome::default();
    let mut inserts = Vec::new();
    for p in prepared {
        let kept = unchanged
            .get_mut(&(p.finding.fingerprint.as_str(), p.hash))
            .and_then(Vec::pop);
        if kept.is_none() {
            if !first_seen.contains_key(p.finding.fingerprint.as_str()) {
                outcome.added += 1;
            }
            inserts.push(p);
        }
    }
    let current: HashSet<&str> = prepared
        .iter()
        .map(|p| p.finding.fingerprint.as_str())
        .collect();
    outcome.removed = first_seen
        .keys()
        .filter(|fingerprint| !current.contains(*fingerprint))
        .count() as u64;

    let deletes: Vec<i64> = unchanged.into_values().flatten().collect();
    for batch in deletes.chunks(INSERT_BATCH) {
        let mut sql = String::from("DELETE FROM finding WHERE id IN (");
        placeholders(&mut sql, batch.len());
        sql.push(')');
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for id in batch {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    if inserts.is_empty() {
        return Ok(outcome);
    }

    let excepted = excepted_vulnerabilities(conn, repository, now).await?;
    let mut names: Vec<&str> = inserts.iter().map(|p| p.finding.id.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let vulnerability_ids = vulnerability_ids(conn, &names).await?;
    let mut encoder = Encoder::new()?;
    for batch in inserts.chunks(INSERT_BATCH) {
        let mut sql = String::from(
            "INSERT INTO finding (image_id, fingerprint, vulnerability_id, severity, cvss, package_kind, \
             package_name, package_version, layer_index, fixed_version, fix_state, fixable, epss, kev, \
             excepted, first_seen_db_version, content_hash, body) VALUES ",
        );
        row_placeholders(&mut sql, batch.len(), 18);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for p in batch {
            let finding = p.finding;
            let first_seen = first_seen
                .get(finding.fingerprint.as_str())
                .copied()
                .unwrap_or(db_version);
            query = query
                .bind(image)
                .bind(&finding.fingerprint)
                .bind(vulnerability_ids.get(finding.id.as_str()).copied())
                .bind(severity_code(finding.severity))
                .bind(finding.cvss.as_ref().map(|c| c.base_score))
                .bind(finding.package.kind.as_str())
                .bind(&finding.package.name)
                .bind(&finding.package.installed_version)
                .bind(finding.package.layer_index.map(i64::from))
                .bind(&finding.fixed_version)
                .bind(fix_state_text(&finding.state))
                .bind(matches!(finding.state, FixState::Fixed))
                .bind(finding.epss.map(|(probability, _)| probability))
                .bind(finding.kev_date_added.is_some())
                .bind(excepted.contains(&finding.id))
                .bind(first_seen)
                .bind(p.hash)
                .bind(encoder.encode("finding", finding)?);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(outcome)
}

/// (kind, name, version, path, layer index or -1): a package row's identity.
type PackageKey<'a> = (&'a str, &'a str, &'a str, &'a str, i64);

/// Brings an image's package summaries to `packages`, deleting and
/// inserting only the rows that differ (a re-match changes the counts of
/// the few packages whose findings changed). Duplicate identities, which
/// the diff cannot tell apart, fall back to a full rewrite.
async fn diff_packages(
    conn: &mut SqliteConnection,
    image: i64,
    packages: &[PackageSummary],
) -> Result<()> {
    type StoredRow = (
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
        Option<String>,
    );
    let stored: Vec<StoredRow> = sqlx::query_as(
        "SELECT kind, name, version, path, layer_index, vulnerabilities, fix_all_version          FROM image_package WHERE image_id = $1",
    )
    .bind(image)
    .fetch_all(&mut *conn)
    .await?;
    let mut stored_by_key: HashMap<PackageKey<'_>, (i64, Option<&str>)> =
        HashMap::with_capacity(stored.len());
    for (kind, name, version, path, layer, vulnerabilities, fix_all) in &stored {
        let key = (
            kind.as_str(),
            name.as_str(),
            version.as_str(),
            path.as_str(),
            layer.unwrap_or(-1),
        );
        if stored_by_key
            .insert(key, (*vulnerabilities, fix_all.as_deref()))
            .is_some()
        {
            return replace_packages(conn, image, packages).await;
        }
    }
    let mut new_by_key: HashMap<PackageKey<'_>, (i64, Option<&str>)> =
        HashMap::with_capacity(packages.len());
    let mut inserts = Vec::new();
    for package in packages {
        let key = (
            package.kind.as_str(),
            package.name.as_str(),
            package.version.as_str(),
            package.path.as_str(),
            package.layer_index.map_or(-1, i64::from),
        );
        let value = (
            i64::from(package.vulnerabilities),
            package.fix_all_version.as_deref(),
        );
        if new_by_key.insert(key, value).is_some() {
            return replace_packages(conn, image, packages).await;
        }
        if stored_by_key.get(&key) != Some(&value) {
            inserts.push(package);
        }
    }
    // Rows gone or changed: deleted one by one, so a diff touching most
    // rows is cheaper as a rewrite.
    let deletes: Vec<PackageKey<'_>> = stored_by_key
        .iter()
        .filter(|(key, value)| new_by_key.get(*key) != Some(*value))
        .map(|(key, _)| *key)
        .collect();
    if deletes.len() * 2 > stored.len().max(1) {
        return replace_packages(conn, image, packages).await;
    }
    for (kind, name, version, path, layer) in deletes {
        sqlx::query(
            "DELETE FROM image_package WHERE image_id = $1 AND kind = $2 AND name = $3 \
             AND version = $4 AND path = $5 AND COALESCE(layer_index, -1) = $6",
        )
        .bind(image)
        .bind(kind)
        .bind(name)
        .bind(version)
        .bind(path)
        .bind(layer)
        .execute(&mut *conn)
        .await?;
    }
    insert_packages(conn, image, &inserts).await
}

/// Replaces an image's package summaries.
async fn replace_packages(
    conn: &mut SqliteConnection,
    image: i64,
    packages: &[PackageSummary],
) -> Result<()> {
    sqlx::query("DELETE FROM image_package WHERE image_id = $1")
        .bind(image)
        .execute(&mut *conn)
        .await?;
    insert_packages(conn, image, &packages.iter().collect::<Vec<_>>()).await
}

async fn insert_packages(
    conn: &mut SqliteConnection,
    image: i64,
    packages: &[&PackageSummary],
) -> Result<()> {
    for batch in packages.chunks(INSERT_BATCH) {
        let mut sql = String::from(
            "INSERT INTO image_package (image_id, kind, name, version, layer_index, path, \
             vulnerabilities, fix_all_version) VALUES ",
        );
        row_placeholders(&mut sql, batch.len(), 8);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for package in batch {
            query = query
                .bind(image)
                .bind(package.kind.as_str())
                .bind(&package.name)
                .bind(&package.version)
                .bind(package.layer_index.map(i64::from))
                .bind(&package.path)
                .bind(i64::from(package.vulnerabilities))
                .bind(&package.fix_all_version);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Recomputes the summary rows of the images `selection` names (an SQL
/// expression giving image ids, using `$1` = `param` when present).
pub(crate) async fn refresh_summaries(
    conn: &mut SqliteConnection,
    selection: &str,
    param: Option<i64>,
) -> Result<()> {
    let delete = format!("DELETE FROM image_summary WHERE image_id IN ({selection})");
    let insert = format!(
        "INSERT INTO image_summary (image_id, critical, high, medium, low, negligible, unknown, fixable, \
         fixable_critical, fixable_high, fixable_medium, fixable_low, fixable_negligible, fixable_unknown) \
         SELECT i.id, \
         COUNT(CASE WHEN f.severity = 0 THEN 1 END), COUNT(CASE WHEN f.severity = 1 THEN 1 END), \
         COUNT(CASE WHEN f.severity = 2 THEN 1 END), COUNT(CASE WHEN f.severity = 3 THEN 1 END), \
         COUNT(CASE WHEN f.severity = 4 THEN 1 END), COUNT(CASE WHEN f.severity = 5 THEN 1 END), \
         COUNT(CASE WHEN f.fixable THEN 1 END), \
         COUNT(CASE WHEN f.fixable AND f.severity = 0 THEN 1 END), \
         COUNT(CASE WHEN f.fixable AND f.severity = 1 THEN 1 END), \
         COUNT(CASE WHEN f.fixable AND f.severity = 2 THEN 1 END), \
         COUNT(CASE WHEN f.fixable AND f.severity = 3 THEN 1 END), \
         COUNT(CASE WHEN f.fixable AND f.severity = 4 THEN 1 END), \
         COUNT(CASE WHEN f.fixable AND f.severity = 5 THEN 1 END) \
         FROM image i LEFT JOIN finding f ON f.image_id = i.id AND f.excepted = FALSE \
         WHERE i.id IN ({selection}) GROUP BY i.id"
    );
    for sql in [delete, insert] {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        if let Some(param) = param {
            query = query.bind(param);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn complete(
    conn: &mut SqliteConnection,
    target: TargetId,
    record: &ScanRecord,
    prepared: &PreparedFindings<'_>,
    now: OffsetDateTime,
) -> Result<ImageId> {
    let now = ts(now);
    let repository: Option<String> =
        sqlx::query_scalar("SELECT repository FROM scan_target WHERE id = $1")
            .bind(target.0)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(repository) = repository else {
        return Err(StoreError::NotFound {
            what: "scan target",
            key: target.to_string(),
        });
    };
    let metadata = &record.metadata;
    let mut encoder = Encoder::new()?;
    let os = record
        .inventory
        .os
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Encode {
            what: "os",
            message: e.to_string(),
        })?;
    let analyzers =
        serde_json::to_string(&record.analyzer_versions).map_err(|e| StoreError::Encode {
            what: "analyzer versions",
            message: e.to_string(),
        })?;
    let image: i64 = sqlx::query_scalar(
        "INSERT INTO image (digest, repository, config_digest, platform, os, size, created, metadata, \
         inventory, status, scanned_at, scan_error, analyzer_versions, db_version, first_seen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scanned', $10, NULL, $11, $12, $10) \
         ON CONFLICT (digest) DO UPDATE SET config_digest = excluded.config_digest, \
         platform = excluded.platform, os = excluded.os, size = excluded.size, \
         created = excluded.created, metadata = excluded.metadata, inventory = excluded.inventory, \
         status = 'scanned', scanned_at = excluded.scanned_at, scan_error = NULL, \
         analyzer_versions = excluded.analyzer_versions, db_version = excluded.db_version \
         RETURNING id",
    )
    .bind(metadata.manifest_digest.to_string())
    .bind(&repository)
    .bind(metadata.config_digest.to_string())
    .bind(metadata.platform.to_string())
    .bind(os)
    .bind(i64::try_from(metadata.compressed_size()).unwrap_or(i64::MAX))
    .bind(&metadata.config.created)
    .bind(encoder.encode("image metadata", metadata)?)
    .bind(encoder.encode("image inventory", &record.inventory)?)
    .bind(now)
    .bind(analyzers)
    .bind(record.db_version)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE scan_target SET status = 'scanned', image_id = $1, reason = NULL, \
         next_attempt = NULL, updated = $2 WHERE id = $3",
    )
    .bind(image)
    .bind(now)
    .bind(target.0)
    .execute(&mut *conn)
    .await?;
    // Tags: the one scanned, and every tag the target's containers name.
    let mut tags: BTreeSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT tag FROM container WHERE target_id = $1 AND tag IS NOT NULL",
    )
    .bind(target.0)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    tags.extend(metadata.tag.clone());
    for tag in tags {
        sqlx::query(
            "INSERT INTO image_tag (image_id, tag, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (image_id, tag) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(image)
        .bind(tag)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    write_findings(conn, image, prepared, record.db_version, now).await?;
    Ok(ImageId(image))
}

/// One scanned image's stored SBOM, by manifest digest.
pub(crate) async fn image_inventory(
    conn: &mut SqliteConnection,
    digest: &Digest,
) -> Result<Option<StoredInventory>> {
    let row = sqlx::query("SELECT id, inventory, db_version FROM image WHERE digest = $1")
        .bind(digest.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let body: Vec<u8> = row.try_get(1)?;
    Ok(Some(StoredInventory {
        image: ImageId(row.try_get(0)?),
        digest: digest.clone(),
        inventory: Decoder::new()?.decode("image inventory", &body)?,
        db_version: row.try_get(2)?,
    }))
}

pub(crate) async fn inventories_for_rematch(
    conn: &mut SqliteConnection,
    after: Option<ImageId>,
    limit: u32,
) -> Result<Vec<StoredInventory>> {
    let rows = sqlx::query(
        "SELECT id, digest, inventory, db_version FROM image WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after.map_or(i64::MIN, |id| id.0))
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(&mut *conn)
    .await?;
    let mut decoder = Decoder::new()?;
    rows.iter()
        .map(|row| {
            let digest: String = row.try_get(1)?;
            let body: Vec<u8> = row.try_get(2)?;
            Ok(StoredInventory {
                image: ImageId(row.try_get(0)?),
                digest: parse_digest("image digest", &digest)?,
                inventory: decoder.decode("image inventory", &body)?,
                db_version: row.try_get(3)?,
            })
        })
        .collect()
}
