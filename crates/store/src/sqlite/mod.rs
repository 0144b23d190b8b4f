//! The SQLite backend: `<data-dir>/shipshape.sqlite` in WAL mode, one writer
//! connection (SQLite has one writer anyway; a pool of one makes writers
//! queue in the process instead of spinning on `SQLITE_BUSY`) and a pool of
//! readers, which WAL lets read a committed snapshot while the writer works.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use model::{Digest, Platform};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use time::OffsetDateTime;

use k8s::ClusterInventory;
use k8s::wire::{AgentMessage, IngestResponse};
use model::Finding;

use crate::{
    AnalyzerVersions, ApiToken, BaseImageRow, ClusterRecord, Exception, ExceptionEvent,
    ExceptionId, ExceptionListFilter, FindingsHashes, FindingsWrite, ImageDetails, ImageId,
    InventorySource, LayerFilter, NewException, NewSession, NewToken, NewUser, PackageRow,
    PackageSummary, Page, Paged, PasswordChange, RematchOutcome, RemediationRow, ReportFilter,
    RepositoryRow, RepositorySortField, ResourceRow, Result, ScanJob, ScanRecord, Session,
    SnapshotOutcome, Sort, Statistics, Store, StoreError, StoredInventory, TargetId, TargetState,
    TokenId, User, UserId, UserUpdate, VulnerabilityRow, VulnerabilitySortField,
};

/// SQL assembled from this crate's constant fragments and `$n` placeholders
/// only: every value is bound, never formatted in.
macro_rules! sql_text {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

mod auth;
mod exceptions;
mod images;
mod inventory;
mod remediation;
mod report;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "shipshape.sqlite";

/// A writer waits this long for the file lock (another process) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Reader connections: two per core, 2 to 8. More readers than that only
/// time-slice the same cores (a report query is CPU-bound once the pages are
/// cached) while each holds its own page cache (`cache_size`, 64 MiB), which
/// is most of the server's memory; two per core lets a short image query run
/// beside a long scope query instead of queueing behind it.
fn readers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    u32::try_from(cores * 2).unwrap_or(8).clamp(2, 8)
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Token and session lookups, which every request makes: on their own
    /// small pool so they never queue behind the report's long scope
    /// queries (a cached answer then costs microseconds even when every
    /// reader is busy).
    auth_reader: SqlitePool,
    path: PathBuf,
    /// `Store::data_generation`: bumped after each committed report-data write.
    generation: Arc<AtomicU64>,
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
        // Images stored before the remediation rows existed get them now.
        let mut tx = writer.begin().await?;
        remediation::backfill(&mut tx).await?;
        tx.commit().await?;
        let read_only = options.read_only(true);
        let auth_reader = SqlitePoolOptions::new()
            .max_connections(2)
            // Single-row lookups by primary key: a small page cache.
            .connect_with(read_only.clone().pragma("cache_size", "-2048"))
            .await
            .map_err(|source| StoreError::open(path, source))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers())
            .connect_with(read_only)
            .await
            .map_err(|source| StoreError::open(path, source))?;
        Ok(SqliteStore {
            writer,
            reader,
            auth_reader,
            path: path.to_owned(),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.auth_reader.close().await;
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
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "store".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("../../migrations/sqlite/0001_store.sql")),
            false,
        ),
        Migration::new(
            2,
            "rematch hashes".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!(
                "../../migrations/sqlite/0002_rematch_hashes.sql"
            )),
            false,
        ),
        Migration::new(
            3,
            "remediation".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("../../migrations/sqlite/0003_remediation.sql")),
            false,
        ),
        Migration::new(
            4,
            "auth".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("../../migrations/sqlite/0004_auth.sql")),
            false,
        ),
    ])
}

/// Unix seconds, as stored.
pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn from_ts(what: &'static str, seconds: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| StoreError::decode(what, e))
}

pub(crate) fn from_ts_opt(
    what: &'static str,
    seconds: Option<i64>,
) -> Result<Option<OffsetDateTime>> {
    seconds.map(|s| from_ts(what, s)).transpose()
}

/// A platform as stored: `os/arch[/variant]`, or '' when unknown.
pub(crate) fn platform_text(platform: Option<&Platform>) -> String {
    platform.map(Platform::to_string).unwrap_or_default()
}

pub(crate) fn parse_platform(text: &str) -> Result<Option<Platform>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| StoreError::decode("platform", e))
}

pub(crate) fn parse_digest(what: &'static str, text: &str) -> Result<Digest> {
    text.parse().map_err(|e| StoreError::decode(what, e))
}

/// Counts stored as INTEGER come back as i64; negative ones are corrupt.
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// One write transaction on the writer connection: `$body` gets `conn`.
/// When the transaction changed a row, the data generation moves after the
/// commit, so a cached answer computed before it is never served again. A
/// write that changed nothing (the scanner's claim poll finding no job)
/// leaves it alone; so do `auth_write_tx!`'s, which no report shows.
macro_rules! write_tx {
    ($self:ident, |$conn:ident| $body:expr) => {
        tx_with_generation!($self, true, |$conn| $body)
    };
}

/// A write transaction on users, tokens or sessions: no report answer
/// changes, and every authenticated request may record a token's use.
macro_rules! auth_write_tx {
    ($self:ident, |$conn:ident| $body:expr) => {
        tx_with_generation!($self, false, |$conn| $body)
    };
}

macro_rules! tx_with_generation {
    ($self:ident, $track:expr, |$conn:ident| $body:expr) => {{
        let mut tx = $self.writer.begin().await?;
        let before = if $track {
            total_changes(&mut tx).await?
        } else {
            0
        };
        let result = {
            let $conn: &mut sqlx::SqliteConnection = &mut tx;
            $body.await
        };
        match result {
            Ok(value) => {
                let changed = $track && total_changes(&mut tx).await? != before;
                tx.commit().await?;
                if changed {
                    $self.generation.fetch_add(1, Ordering::Release);
                }
                Ok(value)
            }
            // Dropping the transaction rolls it back.
            Err(error) => Err(error),
        }
    }};
}

/// Rows inserted, updated or deleted on this connection since it opened,
/// triggers included (SQLite's `total_changes()`; PostgreSQL would compare
/// `pg_stat_xact` counters or track it in the statements).
async fn total_changes(conn: &mut sqlx::SqliteConnection) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT total_changes()")
        .fetch_one(&mut *conn)
        .await?)
}

/// One read transaction on a reader connection: a consistent snapshot
/// across the queries of one call.
macro_rules! read_tx {
    ($self:ident, |$conn:ident| $body:expr) => {
        read_tx!($self.reader, |$conn| $body)
    };
    ($self:ident . $pool:ident, |$conn:ident| $body:expr) => {{
        let mut tx = $self.$pool.begin().await?;
        let $conn: &mut sqlx::SqliteConnection = &mut tx;
        $body.await
    }};
}

impl Store for SqliteStore {
    fn data_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    async fn apply_snapshot(
        &self,
        inventory: &ClusterInventory,
        source: InventorySource,
        now: OffsetDateTime,
    ) -> Result<SnapshotOutcome> {
        write_tx!(self, |conn| inventory::apply_snapshot(
            conn, inventory, source, now
        ))
    }

    async fn apply_agent_message(
        &self,
        message: &AgentMessage,
        now: OffsetDateTime,
    ) -> Result<IngestResponse> {
        write_tx!(self, |conn| inventory::apply_agent_message(
            conn, message, now
        ))
    }

    async fn clusters(&self) -> Result<Vec<ClusterRecord>> {
        read_tx!(self, |conn| inventory::clusters(conn))
    }

    async fn claim_scan_jobs(&self, limit: u32, now: OffsetDateTime) -> Result<Vec<ScanJob>> {
        write_tx!(self, |conn| images::claim(conn, limit, now))
    }

    async fn complete_scan(
        &self,
        target: TargetId,
        record: &ScanRecord,
        now: OffsetDateTime,
    ) -> Result<ImageId> {
        let hashes = FindingsHashes::of(&record.findings, &record.packages)?;
        let prepared = images::prepare(&record.findings, &record.packages, &hashes)?;
        write_tx!(self, |conn| images::complete(
            conn, target, record, &prepared, now
        ))
    }

    async fn fail_scan(
        &self,
        target: TargetId,
        reason: &str,
        next_attempt: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        write_tx!(self, |conn| images::fail(
            conn,
            target,
            reason,
            next_attempt,
            now
        ))
    }

    async fn mark_unsupported(
        &self,
        target: TargetId,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        write_tx!(self, |conn| images::mark_unsupported(
            conn, target, reason, now
        ))
    }

    async fn requeue_interrupted(&self) -> Result<u64> {
        write_tx!(self, |conn| images::requeue_interrupted(conn))
    }

    async fn requeue_stale_analyzers(&self, current: &AnalyzerVersions) -> Result<u64> {
        write_tx!(self, |conn| images::requeue_stale_analyzers(conn, current))
    }

    async fn target(&self, target: TargetId) -> Result<Option<TargetState>> {
        read_tx!(self, |conn| images::target(conn, target))
    }

    async fn targets(&self, page: Page) -> Result<Paged<TargetState>> {
        read_tx!(self, |conn| images::targets(conn, page))
    }

    async fn image_inventory(&self, digest: &Digest) -> Result<Option<StoredInventory>> {
        read_tx!(self, |conn| images::image_inventory(conn, digest))
    }

    async fn inventories_for_rematch(
        &self,
        after: Option<ImageId>,
        limit: u32,
    ) -> Result<Vec<StoredInventory>> {
        read_tx!(self, |conn| images::inventories_for_rematch(
            conn, after, limit
        ))
    }

    async fn replace_findings(
        &self,
        image: ImageId,
        findings: &[Finding],
        packages: &[PackageSummary],
        db_version: i64,
        now: OffsetDateTime,
    ) -> Result<RematchOutcome> {
        let hashes = FindingsHashes::of(findings, packages)?;
        let prepared = images::prepare(findings, packages, &hashes)?;
        write_tx!(self, |conn| images::write_findings(
            conn,
            image.0,
            &prepared,
            db_version,
            ts(now)
        ))
    }

    async fn replace_findings_batch(
        &self,
        writes: &[FindingsWrite<'_>],
        db_version: i64,
        now: OffsetDateTime,
    ) -> Result<Vec<RematchOutcome>> {
        let prepared = writes
            .iter()
            .map(|w| {
                Ok((
                    w.image.0,
                    images::prepare(w.findings, w.packages, w.hashes)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        write_tx!(self, |conn| images::write_findings_batch(
            conn,
            &prepared,
            db_version,
            ts(now)
        ))
    }

    async fn create_exceptions(
        &self,
        exceptions: &[NewException],
        now: OffsetDateTime,
    ) -> Result<Vec<ExceptionId>> {
        write_tx!(self, |conn| exceptions::create(conn, exceptions, now))
    }

    async fn cancel_exceptions(
        &self,
        ids: &[ExceptionId],
        reason: &str,
        author: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        write_tx!(self, |conn| exceptions::cancel(
            conn, ids, reason, author, now
        ))
    }

    async fn lapse_expired(&self, now: OffsetDateTime) -> Result<u64> {
        write_tx!(self, |conn| exceptions::lapse_expired(conn, now))
    }

    async fn stale_exceptions(&self, now: OffsetDateTime) -> Result<Vec<Exception>> {
        read_tx!(self, |conn| exceptions::stale(conn, now))
    }

    async fn exceptions(
        &self,
        filter: ExceptionListFilter,
        page: Page,
        now: OffsetDateTime,
    ) -> Result<Paged<Exception>> {
        read_tx!(self, |conn| exceptions::list(conn, filter, page, now))
    }

    async fn exception_history(
        &self,
        exception: Option<ExceptionId>,
        page: Page,
    ) -> Result<Paged<ExceptionEvent>> {
        read_tx!(self, |conn| exceptions::history(conn, exception, page))
    }

    async fn create_user(&self, user: &NewUser, now: OffsetDateTime) -> Result<UserId> {
        auth_write_tx!(self, |conn| auth::create_user(conn, user, now))
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        read_tx!(self.auth_reader, |conn| auth::user_by_name(conn, name))
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        read_tx!(self.auth_reader, |conn| auth::user_by_id(conn, id))
    }

    async fn update_user(&self, id: UserId, update: &UserUpdate) -> Result<User> {
        auth_write_tx!(self, |conn| auth::update_user(conn, id, update))
    }

    async fn set_password(&self, id: UserId, change: &PasswordChange) -> Result<()> {
        auth_write_tx!(self, |conn| auth::set_password(conn, id, change))
    }

    async fn users(&self) -> Result<Vec<User>> {
        read_tx!(self, |conn| auth::users(conn))
    }

    async fn create_token(&self, token: &NewToken, now: OffsetDateTime) -> Result<TokenId> {
        auth_write_tx!(self, |conn| auth::create_token(conn, token, now))
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        read_tx!(self.auth_reader, |conn| auth::token_by_hash(
            conn, token_hash
        ))
    }

    async fn touch_token(&self, id: TokenId, now: OffsetDateTime) -> Result<()> {
        auth_write_tx!(self, |conn| auth::set_token_time(
            conn,
            id,
            "last_used",
            now
        ))
    }

    async fn revoke_token(&self, id: TokenId, now: OffsetDateTime) -> Result<()> {
        auth_write_tx!(self, |conn| auth::set_token_time(conn, id, "revoked", now))
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>> {
        read_tx!(self, |conn| auth::tokens(conn))
    }

    async fn create_session(&self, session: &NewSession, now: OffsetDateTime) -> Result<()> {
        auth_write_tx!(self, |conn| auth::create_session(conn, session, now))
    }

    async fn session_by_hash(
        &self,
        session_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        read_tx!(self.auth_reader, |conn| auth::session_by_hash(
            conn,
            session_hash,
            now
        ))
    }

    async fn delete_session(&self, session_hash: &str) -> Result<()> {
        auth_write_tx!(self, |conn| async {
            sqlx::query("DELETE FROM session WHERE session_hash = $1")
                .bind(session_hash)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        auth_write_tx!(self, |conn| async {
            Ok(sqlx::query("DELETE FROM session WHERE expires <= $1")
                .bind(ts(now))
                .execute(&mut *conn)
                .await?
                .rows_affected())
        })
    }

    async fn statistics(&self, filter: &ReportFilter, now: OffsetDateTime) -> Result<Statistics> {
        read_tx!(self, |conn| report::statistics(conn, filter, ts(now)))
    }

    async fn repositories(
        &self,
        filter: &ReportFilter,
        sort: Sort<RepositorySortField>,
        page: Page,
        now: OffsetDateTime,
    ) -> Result<Paged<RepositoryRow>> {
        read_tx!(self, |conn| report::repositories(
            conn,
            filter,
            sort,
            page,
            ts(now)
        ))
    }

    async fn image(&self, digest: &Digest, now: OffsetDateTime) -> Result<Option<ImageDetails>> {
        read_tx!(self, |conn| report::image(conn, digest, ts(now)))
    }

    async fn image_vulnerabilities(
        &self,
        digest: &Digest,
        layers: &LayerFilter,
        sort: Sort<VulnerabilitySortField>,
        page: Page,
        include_excepted: bool,
    ) -> Result<Paged<VulnerabilityRow>> {
        read_tx!(self, |conn| report::image_vulnerabilities(
            conn,
            digest,
            layers,
            sort,
            page,
            include_excepted
        ))
    }

    async fn image_packages(
        &self,
        digest: &Digest,
        layers: &LayerFilter,
        page: Page,
    ) -> Result<Paged<PackageRow>> {
        read_tx!(self, |conn| report::image_packages(
            conn, digest, layers, page
        ))
    }

    async fn image_resources(&self, digest: &Digest, page: Page) -> Result<Paged<ResourceRow>> {
        read_tx!(self, |conn| report::image_resources(conn, digest, page))
    }

    async fn remediation(
        &self,
        filter: &ReportFilter,
        page: Page,
        now: OffsetDateTime,
    ) -> Result<Paged<RemediationRow>> {
        read_tx!(self, |conn| report::remediation(
            conn,
            filter,
            page,
            ts(now)
        ))
    }

    async fn base_image_remediation(
        &self,
        filter: &ReportFilter,
        page: Page,
        now: OffsetDateTime,
    ) -> Result<Paged<BaseImageRow>> {
        read_tx!(self, |conn| report::base_image_remediation(
            conn,
            filter,
            page,
            ts(now)
        ))
    }
}
