//! The advisory database: advisories and CVE enrichments from every feed in
//! one embedded SQLite file, `<data-dir>/advisories.sqlite` (WAL mode).
//!
//! Writers go through an [`ImportTx`]: one SQLite transaction per import, so
//! a failed or killed import leaves the previous database as it was, and a
//! committed one bumps `database_version` (findings record which version
//! they were matched against). Readers load an [`matching::AdvisoryIndex`],
//! either of everything or only of what one image can look up.
//!
//! Rows are stored as zstd-compressed serde JSON of the `model` types; the
//! `affected` table holds the lookup keys (`matching::ecosystem_key`,
//! `matching::normalise_name`) so an image's advisories are found without
//! decoding the others.

mod codec;
mod error;
mod import;
mod load;
mod status;
mod tx;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

pub use error::VulnDbError;
pub use import::{
    FeedSummary, ImportEvent, ImportSummary, files_parser, files_parser_with, import_paths, parser,
};
pub use load::LoadedIndex;
pub use status::{DbStatus, EcosystemCount, FeedStatus, rfc3339};
pub use tx::{FeedInfo, FeedParser, ImportTx, KeepUnreadable, StreamedFeed};

pub type Result<T, E = VulnDbError> = std::result::Result<T, E>;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "advisories.sqlite";

/// A writer waits this long for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which data a database holds: its version (bumped by every committed
/// import or update; 0 = empty) and when it was last committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbVersion {
    pub database_version: i64,
    /// Unix seconds.
    pub updated_at: Option<i64>,
}

/// An open advisory database.
#[derive(Debug, Clone)]
pub struct VulnDb {
    pool: SqlitePool,
    path: PathBuf,
}

impl VulnDb {
    /// Opens `<data_dir>/advisories.sqlite`, creating the directory and an
    /// empty database when missing, and brings the schema up to date.
    pub async fn open(data_dir: &Path) -> Result<VulnDb> {
        std::fs::create_dir_all(data_dir).map_err(|source| VulnDbError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        Self::connect(&data_dir.join(DATABASE_FILE), true).await
    }

    /// Opens the database in `data_dir` if there is one; `None` when it does
    /// not exist (a reader such as `scan` must not create an empty one).
    pub async fn open_existing(data_dir: &Path) -> Result<Option<VulnDb>> {
        let path = data_dir.join(DATABASE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        Self::connect(&path, false).await.map(Some)
    }

    async fn connect(path: &Path, create: bool) -> Result<VulnDb> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| VulnDbError::open(path, source))?
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| VulnDbError::open(path, source))?;
        migrator()
            .run(&pool)
            .await
            .map_err(|source| VulnDbError::Migrate {
                path: path.to_owned(),
                source,
            })?;
        Ok(VulnDb {
            pool,
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The opaque cursor the updater stored for `feed` (for incremental
    /// updates), if the feed exists and has one.
    pub async fn feed_cursor(&self, feed: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT cursor FROM feed WHERE name = ?")
            .bind(feed)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|row| row.get::<Option<String>, _>(0)))
    }

    /// The database version and the time of its last commit (Unix seconds),
    /// without reading the data: what a scan reports it was matched against.
    pub async fn version(&self) -> Result<DbVersion> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, value FROM meta WHERE key IN ('database_version', 'updated_at')",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut version = DbVersion::default();
        for (key, value) in rows {
            match key.as_str() {
                "database_version" => version.database_version = value.parse().unwrap_or(0),
                _ => version.updated_at = value.parse().ok(),
            }
        }
        Ok(version)
    }

    /// Starts an import: everything written through the returned
    /// transaction becomes visible at [`ImportTx::commit`], or not at all.
    pub async fn begin_import(&self) -> Result<ImportTx> {
        ImportTx::begin(&self.pool).await
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// The schema migrations, embedded in the binary. Built by hand rather than
/// with `sqlx::migrate!`, which needs sqlx's proc-macro crate (the `macros`
/// feature) that nothing else here uses.
fn migrator() -> sqlx::migrate::Migrator {
    use sqlx::SqlStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(vec![Migration::new(
        1,
        "advisory database".into(),
        MigrationType::Simple,
        SqlStr::from_static(include_str!("../migrations/0001_advisory_database.sql")),
        false,
    )])
}

#[cfg(test)]
mod tests;
