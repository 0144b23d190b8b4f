//! Loading an [`AdvisoryIndex`] from the database: all of it, or only the
//! advisories one image can look up (and the enrichments they refer to).
//! Both read in one transaction, so the index matches the version reported.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use matching::{AdvisoryIndex, IndexBuilder};
use model::{Advisory, CveEnrichment, Diagnostic, ImageInventory};
use sqlx::{Row, Sqlite, Transaction};

use crate::codec::Decoder;
use crate::{Result, VulnDb, VulnDbError};

/// An index and what it was built from.
#[derive(Debug)]
pub struct LoadedIndex {
    pub index: AdvisoryIndex,
    /// The `database_version` the index reflects.
    pub database_version: i64,
    /// Rows that could not be decoded (and were left out).
    pub diagnostics: Vec<Diagnostic>,
}

impl VulnDb {
    /// Every advisory and enrichment. Each row goes into the index as it
    /// is decoded: the decoded advisories are never all held next to the
    /// index being built (that doubled the peak memory of a load).
    pub async fn load_index(&self) -> Result<LoadedIndex> {
        let mut tx = self.pool.begin().await?;
        let database_version = database_version(&mut tx).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM advisory")
            .fetch_one(&mut *tx)
            .await?;
        let mut builder = IndexBuilder::new();
        builder.reserve(usize::try_from(count).unwrap_or(0));
        let mut diagnostics = Vec::new();
        decode_rows(
            sqlx::query("SELECT advisory_id, body FROM advisory ORDER BY id").fetch(&mut *tx),
            &mut diagnostics,
            |advisory: Advisory| builder.add_advisory(advisory),
        )
        .await?;
        decode_rows(
            sqlx::query("SELECT cve, body FROM enrichment ORDER BY feed, cve").fetch(&mut *tx),
            &mut diagnostics,
            |enrichment: CveEnrichment| builder.add_enrichment(enrichment),
        )
        .await?;
        tx.commit().await?;
        Ok(LoadedIndex {
            index: builder.finish(),
            database_version,
            diagnostics,
        })
    }

    /// Only the advisories with an affected package under one of the keys
    /// matching `inventory` looks up ([`matching::lookup_keys`]), and the
    /// enrichments of their IDs and aliases. Matching the inventory against
    /// it gives the same findings as against [`Self::load_index`]: rows are
    /// read in the same order.
    pub async fn load_index_for(&self, inventory: &ImageInventory) -> Result<LoadedIndex> {
        let keys: Vec<[String; 2]> = matching::lookup_keys(inventory)
            .into_iter()
            .map(|(ecosystem, name)| [ecosystem, name])
            .collect();
        let keys = to_json(&keys)?;
        let mut tx = self.pool.begin().await?;
        let database_version = database_version(&mut tx).await?;
        let mut diagnostics = Vec::new();
        let mut advisories: Vec<Advisory> = Vec::new();
        decode_rows(
            sqlx::query(
                "SELECT advisory_id, body FROM advisory WHERE id IN ( \
                   SELECT affected.advisory FROM json_each(?1) AS k \
                   JOIN affected ON affected.ecosystem_key = k.value ->> 0 \
                                AND affected.name_key = k.value ->> 1) \
                 ORDER BY id",
            )
            .bind(keys)
            .fetch(&mut *tx),
            &mut diagnostics,
            |advisory| advisories.push(advisory),
        )
        .await?;
        let ids: BTreeSet<&str> = advisories
            .iter()
            .flat_map(|a| {
                std::iter::once(&a.id)
                    .chain(&a.aliases)
                    .chain(&a.upstream)
                    .map(String::as_str)
            })
            .collect();
        let ids = to_json(&ids)?;
        let mut enrichments: Vec<CveEnrichment> = Vec::new();
        decode_rows(
            sqlx::query(
                "SELECT cve, body FROM enrichment WHERE cve IN (SELECT value FROM json_each(?1)) \
                 ORDER BY feed, cve",
            )
            .bind(ids)
            .fetch(&mut *tx),
            &mut diagnostics,
            |enrichment| enrichments.push(enrichment),
        )
        .await?;
        tx.commit().await?;
        Ok(LoadedIndex {
            index: AdvisoryIndex::new(advisories, enrichments),
            database_version,
            diagnostics,
        })
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| VulnDbError::Encode {
        what: "lookup keys".to_owned(),
        message: e.to_string(),
    })
}

async fn database_version(tx: &mut Transaction<'static, Sqlite>) -> Result<i64> {
    let value: Option<String> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'database_version'")
            .fetch_optional(&mut **tx)
            .await?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Decodes (label, body) rows as they stream in, handing each value to
/// `sink`; an undecodable row becomes a diagnostic naming it, not a failed
/// load.
async fn decode_rows<T: serde::de::DeserializeOwned>(
    mut rows: impl futures_util::Stream<Item = Result<sqlx::sqlite::SqliteRow, sqlx::Error>> + Unpin,
    diagnostics: &mut Vec<Diagnostic>,
    mut sink: impl FnMut(T),
) -> Result<()> {
    let mut decoder = Decoder::new().map_err(|message| VulnDbError::Decode {
        what: "zstd decoder".to_owned(),
        message,
    })?;
    while let Some(row) = rows.try_next().await? {
        let label: String = row.try_get(0)?;
        let body: &[u8] = row.try_get(1)?;
        match decoder.decode(body) {
            Ok(value) => sink(value),
            Err(message) => diagnostics.push(Diagnostic::warning(
                "vulndb.undecodable-row",
                format!("{label}: {message}; left out of the index"),
            )),
        }
    }
    Ok(())
}
