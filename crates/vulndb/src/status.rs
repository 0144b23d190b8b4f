//! `db status`: what the database holds, per feed and per ecosystem.

use std::path::PathBuf;

use serde::Serialize;
use sqlx::Row;

use crate::{Result, VulnDb};

/// The whole database at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbStatus {
    pub path: PathBuf,
    /// The database file plus its write-ahead log.
    pub size_bytes: u64,
    /// Bumped by every committed import or update; 0 = never imported.
    pub database_version: i64,
    /// Unix seconds of the last commit.
    pub updated_at: Option<i64>,
    pub feeds: Vec<FeedStatus>,
    /// Advisories per ecosystem string (as the sources write it).
    pub ecosystems: Vec<EcosystemCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedStatus {
    pub name: String,
    pub kind: String,
    pub origin: String,
    /// Unix seconds.
    pub imported_at: i64,
    pub advisories: u64,
    pub enrichments: u64,
    pub skipped: u64,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EcosystemCount {
    pub ecosystem: String,
    /// Advisories with at least one affected package in this ecosystem.
    pub advisories: u64,
    /// Whether some matcher looks packages up here; `false` = kept but
    /// never matched (an ecosystem we do not support yet).
    pub matched: bool,
}

impl VulnDb {
    pub async fn status(&self) -> Result<DbStatus> {
        let mut connection = self.pool.acquire().await?;
        let meta = sqlx::query("SELECT key, value FROM meta")
            .fetch_all(&mut *connection)
            .await?;
        let mut database_version = 0;
        let mut updated_at = None;
        for row in meta {
            let key: String = row.try_get(0)?;
            let value: String = row.try_get(1)?;
            match key.as_str() {
                "database_version" => database_version = value.parse().unwrap_or(0),
                "updated_at" => updated_at = value.parse().ok(),
                _ => {}
            }
        }
        let feeds = sqlx::query(
            "SELECT name, kind, origin, imported_at, advisories, enrichments, skipped, cursor \
             FROM feed ORDER BY name",
        )
        .fetch_all(&mut *connection)
        .await?
        .into_iter()
        .map(|row| {
            Ok(FeedStatus {
                name: row.try_get(0)?,
                kind: row.try_get(1)?,
                origin: row.try_get(2)?,
                imported_at: row.try_get(3)?,
                advisories: count(row.try_get(4)?),
                enrichments: count(row.try_get(5)?),
                skipped: count(row.try_get(6)?),
                cursor: row.try_get(7)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let ecosystems = sqlx::query(
            "SELECT ecosystem, COUNT(DISTINCT advisory) FROM affected GROUP BY ecosystem ORDER BY ecosystem",
        )
        .fetch_all(&mut *connection)
        .await?
        .into_iter()
        .map(|row| {
            let ecosystem: String = row.try_get(0)?;
            Ok(EcosystemCount {
                matched: matching::routes_ecosystem(&ecosystem),
                advisories: count(row.try_get(1)?),
                ecosystem,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let size = |path: PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Ok(DbStatus {
            path: self.path.clone(),
            size_bytes: size(self.path.clone()) + size(PathBuf::from(wal)),
            database_version,
            updated_at,
            feeds,
            ecosystems,
        })
    }
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Unix seconds as an RFC 3339 UTC time (`2026-11-27T06:05:36Z`).
pub fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let seconds = unix_seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}
