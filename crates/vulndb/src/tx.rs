//! The import transaction: feeds are replaced or updated inside one SQLite
//! transaction, written in batches through cached prepared statements, and
//! become visible together at commit. Dropping an [`ImportTx`] (an error, a
//! killed process) rolls everything back.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use advisory::ImportReport;
use model::{Advisory, CveEnrichment};
use sqlx::{AssertSqlSafe, Sqlite, SqlitePool, Transaction};

use crate::codec::Encoder;
use crate::{Result, VulnDbError};

/// Advisory rows per INSERT (5 values each).
const ADVISORY_BATCH: usize = 200;
/// Affected rows per INSERT (4 values each).
const AFFECTED_BATCH: usize = 500;
/// Enrichment rows per INSERT (3 values each).
const ENRICHMENT_BATCH: usize = 500;
/// Parsed records in flight between a streaming parser and the writer: a
/// feed never sits in memory whole (OSV's Debian export is hundreds of MB).
const RECORD_CHANNEL: usize = 256;

/// A parser for [`ImportTx::replace_feed_streamed`]: it hands each record to
/// the first (advisories) or second (enrichments) sink and returns its report.
pub type FeedParser =
    Box<dyn FnOnce(&mut dyn FnMut(Advisory), &mut dyn FnMut(CveEnrichment)) -> ImportReport + Send>;

/// What [`ImportTx::replace_feed_streamed`] did.
#[derive(Debug, Clone)]
pub struct StreamedFeed {
    pub advisories: u64,
    pub enrichments: u64,
    pub report: ImportReport,
    /// False when the feed yielded nothing but skipped records and
    /// [`KeepUnreadable::No`] asked to keep the previous rows instead.
    pub replaced: bool,
}

/// What to do when a feed yields no record at all but skipped some (a
/// corrupt archive, an error page saved as the download).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepUnreadable {
    /// Replace the feed anyway (a local import of what the user pointed at).
    Yes,
    /// Keep the feed's previous rows (a download that went wrong).
    No,
}

enum Record {
    Advisory(Advisory),
    Enrichment(CveEnrichment),
}

/// Which feed rows belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedInfo {
    /// `osv:/path/to/osv/Go` for a local import; `osv/Go`, `nvd`, `epss`,
    /// `alpine-secdb/v3.19/main`, … for `db update`.
    pub name: String,
    /// The format (`osv`, `debian-tracker`, `nvd`, …).
    pub kind: String,
    /// Where the data came from: a canonical path or a URL.
    pub origin: String,
    /// Opaque text the updater keeps for its next incremental run.
    pub cursor: Option<String>,
}

/// An open import; see the module docs.
pub struct ImportTx {
    tx: Transaction<'static, Sqlite>,
    /// Advisory row IDs are assigned here: the transaction holds the write
    /// lock (`BEGIN IMMEDIATE`), so no one else allocates meanwhile, and
    /// affected rows can reference their advisory without a round trip.
    next_id: i64,
    encoder: Encoder,
}

impl ImportTx {
    pub(crate) async fn begin(pool: &SqlitePool) -> Result<ImportTx> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM advisory")
            .fetch_one(&mut *tx)
            .await?;
        let encoder = Encoder::new().map_err(|message| VulnDbError::Encode {
            what: "zstd encoder".to_owned(),
            message,
        })?;
        Ok(ImportTx {
            tx,
            next_id: max + 1,
            encoder,
        })
    }

    /// Replaces everything `feed` held with `advisories` and `enrichments`;
    /// `report` gives the skipped count kept with the feed. Returns the rows
    /// written (advisories, enrichments).
    pub async fn replace_feed(
        &mut self,
        feed: FeedInfo,
        advisories: impl IntoIterator<Item = Advisory>,
        enrichments: impl IntoIterator<Item = CveEnrichment>,
        report: &ImportReport,
    ) -> Result<(u64, u64)> {
        // Cascades to the feed's advisories, their affected rows and its enrichments.
        sqlx::query("DELETE FROM feed WHERE name = ?")
            .bind(&feed.name)
            .execute(&mut *self.tx)
            .await?;
        self.write_feed_row(&feed, report).await?;
        let advisories = self.insert_advisories(&feed.name, advisories).await?;
        let enrichments = self.insert_enrichments(&feed.name, enrichments).await?;
        self.update_counts(&feed.name).await?;
        Ok((advisories, enrichments))
    }

    /// Like [`Self::replace_feed`], but the records come from `parse`, run
    /// on a blocking thread and streamed in batches, so memory stays bounded
    /// whatever the feed's size. The replacement happens inside a savepoint:
    /// with [`KeepUnreadable::No`], a feed that yields only skipped records
    /// is rolled back to its previous rows.
    pub async fn replace_feed_streamed(
        &mut self,
        feed: FeedInfo,
        parse: FeedParser,
        unreadable: KeepUnreadable,
    ) -> Result<StreamedFeed> {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Record>(RECORD_CHANNEL);
        let worker = tokio::task::spawn_blocking(move || {
            let advisory_sender = sender.clone();
            // A closed channel means the writer failed: the rest is dropped.
            parse(
                &mut |advisory| {
                    let _ = advisory_sender.blocking_send(Record::Advisory(advisory));
                },
                &mut |enrichment| {
                    let _ = sender.blocking_send(Record::Enrichment(enrichment));
                },
            )
        });
        sqlx::query("SAVEPOINT replace_feed")
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("DELETE FROM feed WHERE name = ?")
            .bind(&feed.name)
            .execute(&mut *self.tx)
            .await?;
        self.write_feed_row(&feed, &ImportReport::default()).await?;
        let mut advisories: Vec<Advisory> = Vec::with_capacity(ADVISORY_BATCH);
        let mut enrichments: Vec<CveEnrichment> = Vec::with_capacity(ENRICHMENT_BATCH);
        let (mut advisories_written, mut enrichments_written) = (0u64, 0u64);
        while let Some(record) = receiver.recv().await {
            match record {
                Record::Advisory(advisory) => {
                    advisories.push(advisory);
                    if advisories.len() == ADVISORY_BATCH {
                        advisories_written += self
                            .insert_advisories(&feed.name, advisories.drain(..))
                            .await?;
                    }
                }
                Record::Enrichment(enrichment) => {
                    enrichments.push(enrichment);
                    if enrichments.len() == ENRICHMENT_BATCH {
                        enrichments_written += self
                            .insert_enrichments(&feed.name, enrichments.drain(..))
                            .await?;
                    }
                }
            }
        }
        advisories_written += self.insert_advisories(&feed.name, advisories).await?;
        enrichments_written += self.insert_enrichments(&feed.name, enrichments).await?;
        let report = worker
            .await
            .map_err(|e| VulnDbError::Worker(e.to_string()))?;
        let unreadable_feed =
            advisories_written == 0 && enrichments_written == 0 && report.skipped > 0;
        if unreadable_feed && unreadable == KeepUnreadable::No {
            sqlx::query("ROLLBACK TO replace_feed")
                .execute(&mut *self.tx)
                .await?;
            sqlx::query("RELEASE replace_feed")
                .execute(&mut *self.tx)
                .await?;
            return Ok(StreamedFeed {
                advisories: 0,
                enrichments: 0,
                report,
                replaced: false,
            });
        }
        self.write_feed_row(&feed, &report).await?;
        self.update_counts(&feed.name).await?;
        sqlx::query("RELEASE replace_feed")
            .execute(&mut *self.tx)
            .await?;
        Ok(StreamedFeed {
            advisories: advisories_written,
            enrichments: enrichments_written,
            report,
            replaced: true,
        })
    }

    /// Incremental update of `feed`: rows with the IDs of `advisories` or
    /// listed in `removed_ids` are deleted, `advisories` inserted, and
    /// `enrichments` replace the feed's records for the same CVEs. The feed's
    /// cursor, origin and skip count become those given. Returns the rows
    /// written (advisories, enrichments).
    pub async fn upsert(
        &mut self,
        feed: FeedInfo,
        advisories: Vec<Advisory>,
        removed_ids: &[String],
        enrichments: impl IntoIterator<Item = CveEnrichment>,
        report: &ImportReport,
    ) -> Result<(u64, u64)> {
        self.write_feed_row(&feed, report).await?;
        let replaced: BTreeSet<&str> = advisories
            .iter()
            .map(|a| a.id.as_str())
            .chain(removed_ids.iter().map(String::as_str))
            .collect();
        let replaced = serde_json::to_string(&replaced).map_err(|e| VulnDbError::Encode {
            what: "advisory IDs".to_owned(),
            message: e.to_string(),
        })?;
        sqlx::query(
            "DELETE FROM advisory WHERE feed = ?1 AND advisory_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(&feed.name)
        .bind(replaced)
        .execute(&mut *self.tx)
        .await?;
        let written = self.insert_advisories(&feed.name, advisories).await?;
        let enriched = self.insert_enrichments(&feed.name, enrichments).await?;
        self.update_counts(&feed.name).await?;
        Ok((written, enriched))
    }

    /// Makes the import visible and bumps `database_version`.
    pub async fn commit(mut self) -> Result<i64> {
        let version: i64 = sqlx::query_scalar(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'database_version' \
             RETURNING CAST(value AS INTEGER)",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES ('updated_at', ?)")
            .bind(now().to_string())
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(version)
    }

    async fn write_feed_row(&mut self, feed: &FeedInfo, report: &ImportReport) -> Result<()> {
        sqlx::query(
            "INSERT INTO feed (name, kind, origin, imported_at, advisories, enrichments, skipped, cursor) \
             VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?6) \
             ON CONFLICT (name) DO UPDATE SET kind = ?2, origin = ?3, imported_at = ?4, skipped = ?5, cursor = ?6",
        )
        .bind(&feed.name)
        .bind(&feed.kind)
        .bind(&feed.origin)
        .bind(now())
        .bind(i64::try_from(report.skipped).unwrap_or(i64::MAX))
        .bind(&feed.cursor)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn update_counts(&mut self, feed: &str) -> Result<()> {
        sqlx::query(
            "UPDATE feed SET \
             advisories = (SELECT COUNT(*) FROM advisory WHERE feed = ?1), \
             enrichments = (SELECT COUNT(*) FROM enrichment WHERE feed = ?1) \
             WHERE name = ?1",
        )
        .bind(feed)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn insert_advisories(
        &mut self,
        feed: &str,
        advisories: impl IntoIterator<Item = Advisory>,
    ) -> Result<u64> {
        let mut rows: Vec<(i64, String, Option<String>, Vec<u8>)> = Vec::new();
        let mut affected: Vec<(i64, String, String, String)> = Vec::new();
        let mut written = 0u64;
        for advisory in advisories {
            let body = self
                .encoder
                .encode(&advisory)
                .map_err(|message| VulnDbError::Encode {
                    what: format!("advisory {}", advisory.id),
                    message,
                })?;
            let id = self.next_id;
            self.next_id += 1;
            // One row per distinct key: an advisory naming a package twice
            // (two ranges) is found once.
            let mut keys = BTreeSet::new();
            for package in &advisory.affected {
                let ecosystem_key = matching::ecosystem_key(&package.ecosystem);
                let name_key = matching::normalise_name(&ecosystem_key, &package.name);
                if keys.insert((ecosystem_key.clone(), name_key.clone(), &package.ecosystem)) {
                    affected.push((id, package.ecosystem.clone(), ecosystem_key, name_key));
                }
            }
            rows.push((id, advisory.id, advisory.modified, body));
            written += 1;
            if rows.len() == ADVISORY_BATCH {
                self.flush_advisories(feed, &mut rows).await?;
            }
            if affected.len() >= AFFECTED_BATCH {
                // Advisories first: affected rows reference them.
                self.flush_advisories(feed, &mut rows).await?;
                self.flush_affected(&mut affected).await?;
            }
        }
        self.flush_advisories(feed, &mut rows).await?;
        self.flush_affected(&mut affected).await?;
        Ok(written)
    }

    async fn flush_advisories(
        &mut self,
        feed: &str,
        rows: &mut Vec<(i64, String, Option<String>, Vec<u8>)>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = values_sql(
            "INSERT INTO advisory (id, feed, advisory_id, modified, body) VALUES ",
            5,
            rows.len(),
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (id, advisory_id, modified, body) in rows.drain(..) {
            query = query
                .bind(id)
                .bind(feed.to_owned())
                .bind(advisory_id)
                .bind(modified)
                .bind(body);
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    async fn flush_affected(
        &mut self,
        rows: &mut Vec<(i64, String, String, String)>,
    ) -> Result<()> {
        for chunk in rows.chunks(AFFECTED_BATCH) {
            let sql = values_sql(
                "INSERT INTO affected (advisory, ecosystem, ecosystem_key, name_key) VALUES ",
                4,
                chunk.len(),
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (id, ecosystem, ecosystem_key, name_key) in chunk {
                query = query
                    .bind(*id)
                    .bind(ecosystem.clone())
                    .bind(ecosystem_key.clone())
                    .bind(name_key.clone());
            }
            query.execute(&mut *self.tx).await?;
        }
        rows.clear();
        Ok(())
    }

    async fn insert_enrichments(
        &mut self,
        feed: &str,
        enrichments: impl IntoIterator<Item = CveEnrichment>,
    ) -> Result<u64> {
        let mut rows: Vec<(String, Vec<u8>)> = Vec::new();
        let mut written = 0u64;
        for enrichment in enrichments {
            let body = self
                .encoder
                .encode(&enrichment)
                .map_err(|message| VulnDbError::Encode {
                    what: format!("enrichment {}", enrichment.cve),
                    message,
                })?;
            rows.push((enrichment.cve, body));
            written += 1;
            if rows.len() == ENRICHMENT_BATCH {
                self.flush_enrichments(feed, &mut rows).await?;
            }
        }
        self.flush_enrichments(feed, &mut rows).await?;
        Ok(written)
    }

    async fn flush_enrichments(
        &mut self,
        feed: &str,
        rows: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // A feed lists a CVE once; should one repeat it, the last record wins.
        let sql = values_sql(
            "INSERT OR REPLACE INTO enrichment (feed, cve, body) VALUES ",
            3,
            rows.len(),
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (cve, body) in rows.drain(..) {
            query = query.bind(feed.to_owned()).bind(cve).bind(body);
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }
}

/// `prefix (?, ?, …), (?, ?, …), …`: `rows` groups of `columns` placeholders.
/// Only full batches and one final partial batch occur per feed, so sqlx's
/// statement cache prepares each shape once.
fn values_sql(prefix: &str, columns: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    let mut sql = String::with_capacity(prefix.len() + rows * (group.len() + 2));
    sql.push_str(prefix);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&group);
    }
    sql
}

/// Unix seconds now (0 if the clock is before 1970).
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
