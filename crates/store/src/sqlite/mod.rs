//! The SQLite backend: `<data-dir>/shipshape.sqlite` in WAL mode, one writer
//! connection (SQLite has one writer anyway; a pool of one makes writers
//! queue in the process instead of spinning on `SQLITE_BUSY`) and a pool of
//! readers, which WAL lets read a committed snapshot while the writer works.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Result, StoreError};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "shipshape.sqlite";

/// A writer waits this long for the file lock (another process) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Reader connections: enough for the server's concurrent report requests.
const READERS: u32 = 8;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when missing) `<data_dir>/shipshape.sqlite` and
    /// brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        Self::open_file(&data_dir.join(DATABASE_FILE)).await
    }

    /// Opens the store at a file path (creating it when missing).
    pub async fn open_file(path: &Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| StoreError::open(path, source))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // The report's CTEs sort and group tens of thousands of rows.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|source| StoreError::open(path, source))?;
        migrator()
            .run(&writer)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_owned(),
                source,
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.read_only(true))
            .await
            .map_err(|source| StoreError::open(path, source))?;
        Ok(SqliteStore {
            writer,
            reader,
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// The schema migrations, embedded in the binary. Built by hand rather than
/// with `sqlx::migrate!`, which needs sqlx's proc-macro crate (the `macros`
/// feature) that nothing else in the workspace uses (as in `vulndb`).
fn migrator() -> sqlx::migrate::Migrator {
    use sqlx::SqlStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(vec![Migration::new(
        1,
        "store".into(),
        MigrationType::Simple,
        SqlStr::from_static(include_str!("../../migrations/sqlite/0001_store.sql")),
        false,
    )])
}
