//! Exceptions and their append-only history. A vulnerability exception
//! flags the findings it covers (`finding.excepted`) and refreshes their
//! images' summaries; a repository exception is applied by the report
//! queries themselves (it hides whole rows, not counts).

use std::collections::BTreeSet;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{from_ts, from_ts_opt, images::refresh_summaries, ts};
use crate::types::MAX_REASON_LEN;
use crate::{
    Exception, ExceptionEvent, ExceptionEventKind, ExceptionId, ExceptionListFilter,
    ExceptionScope, ExceptionState, NewException, Page, Paged, Result, StoreError,
};

/// Longest vulnerability ID, repository or author accepted (bytes).
const MAX_NAME_LEN: usize = 512;

/// `e` is active at `$n`.
pub(crate) fn active_sql(alias: &str, now_param: &str) -> String {
    format!(
        "{alias}.cancelled_at IS NULL AND ({alias}.expires IS NULL OR {alias}.expires > {now_param})"
    )
}

fn check_text(what: &'static str, value: &str, max: usize) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(StoreError::invalid(what, "must not be empty"));
    }
    if trimmed.len() > max {
        return Err(StoreError::invalid(
            what,
            format!("longer than {max} bytes"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(StoreError::invalid(what, "contains control characters"));
    }
    Ok(trimmed.to_owned())
}

async fn record_event(
    conn: &mut SqliteConnection,
    id: i64,
    kind: &str,
    actor: &str,
    at: i64,
    reason: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO exception_event (exception_id, kind, actor, at, reason) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(kind)
    .bind(actor)
    .bind(at)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Re-flags the findings of `vulnerability` and refreshes their images.
async fn refresh_vulnerability(
    conn: &mut SqliteConnection,
    vulnerability: &str,
    now: i64,
) -> Result<()> {
    let Some(id): Option<i64> = sqlx::query_scalar("SELECT id FROM vulnerability WHERE name = $1")
        .bind(vulnerability)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(());
    };
    sqlx::query(sql_text!(
        "UPDATE finding SET excepted = EXISTS (SELECT 1 FROM exception e \
         WHERE e.scope = 'vulnerability' AND e.vulnerability = $1 AND {} \
         AND (e.repository IS NULL OR e.repository = \
         (SELECT i.repository FROM image i WHERE i.id = finding.image_id))) \
         WHERE vulnerability_id = $3",
        active_sql("e", "$2")
    ))
    .bind(vulnerability)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let touched = "SELECT image_id FROM finding WHERE vulnerability_id = $1";
    refresh_summaries(conn, touched, Some(id)).await?;
    super::remediation::findings_flagged(conn, touched, Some(id)).await
}

pub(crate) async fn create(
    conn: &mut SqliteConnection,
    exceptions: &[NewException],
    now: OffsetDateTime,
) -> Result<Vec<ExceptionId>> {
    let now_s = ts(now);
    let mut ids = Vec::with_capacity(exceptions.len());
    let mut touched = BTreeSet::new();
    for new in exceptions {
        let reason = check_text("exception reason", &new.reason, MAX_REASON_LEN)?;
        let author = check_text("exception author", &new.author, MAX_NAME_LEN)?;
        if new.expires.is_some_and(|expires| expires <= now) {
            return Err(StoreError::invalid(
                "exception expiry",
                "the expiry must be in the future",
            ));
        }
        let (scope, repository, vulnerability) = match &new.scope {
            ExceptionScope::Repository { repository } => (
                "repository",
                Some(check_text("repository", repository, MAX_NAME_LEN)?),
                None,
            ),
            ExceptionScope::Vulnerability {
                vulnerability,
                repository,
            } => (
                "vulnerability",
                repository
                    .as_deref()
                    .map(|r| check_text("repository", r, MAX_NAME_LEN))
                    .transpose()?,
                Some(check_text("vulnerability", vulnerability, MAX_NAME_LEN)?),
            ),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO exception (scope, repository, vulnerability, reason, author, created, expires) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(scope)
        .bind(&repository)
        .bind(&vulnerability)
        .bind(&reason)
        .bind(&author)
        .bind(now_s)
        .bind(new.expires.map(ts))
        .fetch_one(&mut *conn)
        .await?;
        record_event(conn, id, "created", &author, now_s, Some(&reason)).await?;
        touched.extend(vulnerability);
        ids.push(ExceptionId(id));
    }
    for vulnerability in touched {
        refresh_vulnerability(conn, &vulnerability, now_s).await?;
    }
    Ok(ids)
}

pub(crate) async fn cancel(
    conn: &mut SqliteConnection,
    ids: &[ExceptionId],
    reason: &str,
    author: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let now_s = ts(now);
    let reason = check_text("cancel reason", reason, MAX_REASON_LEN)?;
    let author = check_text("cancel author", author, MAX_NAME_LEN)?;
    let mut touched = BTreeSet::new();
    for id in ids {
        let row: Option<(Option<String>,)> = sqlx::query_as(sql_text!(
            "UPDATE exception SET cancelled_at = $1, cancelled_by = $2, cancel_reason = $3 \
             WHERE id = $4 AND {} RETURNING vulnerability",
            active_sql("exception", "$1")
        ))
        .bind(now_s)
        .bind(&author)
        .bind(&reason)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((vulnerability,)) = row else {
            return Err(StoreError::NotFound {
                what: "active exception",
                key: id.to_string(),
            });
        };
        record_event(conn, id.0, "cancelled", &author, now_s, Some(&reason)).await?;
        touched.extend(vulnerability);
    }
    for vulnerability in touched {
        refresh_vulnerability(conn, &vulnerability, now_s).await?;
    }
    Ok(())
}

pub(crate) async fn lapse_expired(conn: &mut SqliteConnection, now: OffsetDateTime) -> Result<u64> {
    let now_s = ts(now);
    let lapsed: Vec<(i64, Option<String>)> = sqlx::query_as(
        "UPDATE exception SET lapsed_at = $1 WHERE cancelled_at IS NULL AND lapsed_at IS NULL \
         AND expires IS NOT NULL AND expires <= $1 RETURNING id, vulnerability",
    )
    .bind(now_s)
    .fetch_all(&mut *conn)
    .await?;
    let mut touched = BTreeSet::new();
    for (id, vulnerability) in &lapsed {
        record_event(conn, *id, "expired", "system", now_s, None).await?;
        touched.extend(vulnerability.clone());
    }
    for vulnerability in touched {
        refresh_vulnerability(conn, &vulnerability, now_s).await?;
    }
    Ok(lapsed.len() as u64)
}

const EXCEPTION_COLUMNS: &str = "e.id, e.scope, e.repository, e.vulnerability, e.reason, e.author, \
     e.created, e.expires, e.cancelled_at, e.cancelled_by, e.cancel_reason";

fn exception_from_row(row: &SqliteRow, now: i64) -> Result<Exception> {
    let scope: String = row.try_get(1)?;
    let repository: Option<String> = row.try_get(2)?;
    let vulnerability: Option<String> = row.try_get(3)?;
    let scope = match (scope.as_str(), repository, vulnerability) {
        ("repository", Some(repository), _) => ExceptionScope::Repository { repository },
        ("vulnerability", repository, Some(vulnerability)) => ExceptionScope::Vulnerability {
            vulnerability,
            repository,
        },
        (other, ..) => return Err(StoreError::decode("exception scope", other)),
    };
    let expires: Option<i64> = row.try_get(7)?;
    let cancelled_at: Option<i64> = row.try_get(8)?;
    let state = if cancelled_at.is_some() {
        ExceptionState::Cancelled
    } else if expires.is_some_and(|e| e <= now) {
        ExceptionState::Expired
    } else {
        ExceptionState::Active
    };
    Ok(Exception {
        id: ExceptionId(row.try_get(0)?),
        scope,
        reason: row.try_get(4)?,
        author: row.try_get(5)?,
        created: from_ts("exception created", row.try_get(6)?)?,
        expires: from_ts_opt("exception expiry", expires)?,
        state,
        cancelled_by: row.try_get(9)?,
        cancel_reason: row.try_get(10)?,
        cancelled_at: from_ts_opt("exception cancelled", cancelled_at)?,
    })
}

pub(crate) async fn list(
    conn: &mut SqliteConnection,
    filter: ExceptionListFilter,
    page: Page,
    now: OffsetDateTime,
) -> Result<Paged<Exception>> {
    let now_s = ts(now);
    let condition = match filter {
        ExceptionListFilter::Active => active_sql("e", "$1"),
        ExceptionListFilter::Cancelled => "e.cancelled_at IS NOT NULL AND $1 = $1".to_owned(),
        ExceptionListFilter::Expired => {
            "e.cancelled_at IS NULL AND e.expires IS NOT NULL AND e.expires <= $1".to_owned()
        }
        ExceptionListFilter::All => "$1 = $1".to_owned(),
    };
    let rows = sqlx::query(sql_text!(
        "SELECT {EXCEPTION_COLUMNS}, COUNT(*) OVER () FROM exception e WHERE {condition} \
         ORDER BY e.created DESC, e.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(now_s)
    .bind(i64::from(page.limit()))
    .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    let total = match rows.first() {
        Some(row) => super::count(row.try_get(11)?),
        None => total_without_rows(conn, &condition, now_s).await?,
    };
    Ok(Paged {
        total,
        items: rows
            .iter()
            .map(|row| exception_from_row(row, now_s))
            .collect::<Result<_>>()?,
    })
}

/// A page past the end has no row to carry the window count.
async fn total_without_rows(conn: &mut SqliteConnection, condition: &str, now: i64) -> Result<u64> {
    let total: i64 = sqlx::query_scalar(sql_text!(
        "SELECT COUNT(*) FROM exception e WHERE {condition}"
    ))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(super::count(total))
}

pub(crate) async fn stale(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
) -> Result<Vec<Exception>> {
    let now_s = ts(now);
    let rows = sqlx::query(sql_text!(
        "SELECT {EXCEPTION_COLUMNS} FROM exception e WHERE {} AND CASE \
         WHEN e.scope = 'repository' THEN NOT EXISTS \
           (SELECT 1 FROM scan_target t WHERE t.repository = e.repository) \
         ELSE NOT EXISTS (SELECT 1 FROM finding f JOIN vulnerability v ON v.id = f.vulnerability_id \
           JOIN image i ON i.id = f.image_id \
           WHERE v.name = e.vulnerability AND (e.repository IS NULL OR i.repository = e.repository)) \
         END ORDER BY e.id",
        active_sql("e", "$1")
    ))
    .bind(now_s)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| exception_from_row(row, now_s))
        .collect()
}

pub(crate) async fn history(
    conn: &mut SqliteConnection,
    exception: Option<ExceptionId>,
    page: Page,
) -> Result<Paged<ExceptionEvent>> {
    // -1 never names an exception: "all".
    let selected = exception.map_or(-1, |id| id.0);
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM exception_event WHERE $1 = -1 OR exception_id = $1",
    )
    .bind(selected)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<(i64, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT exception_id, kind, actor, at, reason FROM exception_event \
         WHERE $1 = -1 OR exception_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
    )
    .bind(selected)
    .bind(i64::from(page.limit()))
    .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    let items = rows
        .into_iter()
        .map(|(id, kind, actor, at, reason)| {
            Ok(ExceptionEvent {
                exception: ExceptionId(id),
                kind: match kind.as_str() {
                    "created" => ExceptionEventKind::Created,
                    "cancelled" => ExceptionEventKind::Cancelled,
                    "expired" => ExceptionEventKind::Expired,
                    other => return Err(StoreError::decode("exception event", other)),
                },
                actor,
                at: from_ts("exception event time", at)?,
                reason,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Paged {
        total: super::count(total),
        items,
    })
}
