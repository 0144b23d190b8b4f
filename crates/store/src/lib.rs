//! The report server's store (issue #5): the fleet's inventory, the scan
//! queue, images with their SBOMs and findings, exceptions with their full
//! history, users/tokens/sessions, and the report queries — behind one
//! trait, [`Store`], so a PostgreSQL backend can follow without touching
//! callers (they are generic over `S: Store`).
//!
//! [`SqliteStore`] is the first backend: `<data-dir>/shipshape.sqlite`, WAL,
//! foreign keys on, one writer connection and several readers (readers never
//! wait on the writer), migrations embedded and applied at open. Queries are
//! written to run on PostgreSQL too: `$n` parameters, `ON CONFLICT`,
//! `RETURNING`, `TRUE`/`FALSE`, no SQLite-only functions.
//!
//! Time is always a parameter (`now`), so tests control it; timestamps are
//! stored as Unix seconds.
//!
//! Model:
//! - a **container** row is one (workload, container, digest) of a cluster,
//!   as `k8s::state` tracks it: never deleted, `running` and first/last seen;
//!   a container pending resolution (no digest yet) is one row per spec
//!   reference until it resolves;
//! - a **scan target** is what the engine pulls, deduplicated: (repository,
//!   manifest digest, platform), or for a local image ID (repository, tag,
//!   platform) with the expected config digest;
//! - a target resolves to an **image** (per-platform manifest digest); many
//!   targets (an index digest and its platform's manifest, two tags) share one;
//! - an image's **findings** carry indexed columns for the report and the
//!   whole `Finding` as a zstd JSON body; per-image **summary** counts
//!   (excepted findings left out) are kept up to date by every write that
//!   changes them.

mod codec;
mod error;
pub mod filter;
pub mod fixtures;
mod hashes;
mod sqlite;
pub mod types;

use std::future::Future;

use k8s::ClusterInventory;
use k8s::wire::{AgentMessage, IngestResponse};
use model::{Digest, Finding};
use time::OffsetDateTime;

pub use error::StoreError;
pub use filter::{
    Direction, FilterError, ImageStatus, LabelRequirement, Page, Paged, ReportFilter,
    RepositorySortField, SearchText, Sort, VulnerabilitySortField, parse_selector,
};
pub use hashes::FindingsHashes;
pub use sqlite::{DATABASE_FILE, SqliteStore};
pub use types::*;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Opens the store a database URL names: `sqlite://PATH` (or a plain
/// path). Other schemes are refused with [`StoreError::UnsupportedUrl`]
/// until their backend exists.
pub async fn open_url(url: &str) -> Result<SqliteStore> {
    match url.split_once("://") {
        Some(("sqlite", path)) => SqliteStore::open_file(std::path::Path::new(path)).await,
        Some((scheme, _)) => Err(StoreError::UnsupportedUrl(scheme.to_owned())),
        None => SqliteStore::open_file(std::path::Path::new(url)).await,
    }
}

/// The store. Every method is one transaction (or one consistent read).
pub trait Store: Send + Sync + 'static {
    /// A counter that grows with every committed write that changed a row
    /// a report can show (inventory, scans, findings, exceptions), so a
    /// caller may keep answers computed at one value until it moves. Writes
    /// that changed nothing (a claim finding no job) and writes to users,
    /// tokens and sessions leave it alone: no report shows those, and
    /// authenticated requests record their token's use. Counts this
    /// process's writes only; another process writing the same database is
    /// not seen.
    fn data_generation(&self) -> u64;

    // ---- Inventory -------------------------------------------------------

    /// Applies a cluster's whole inventory in one transaction: upserts the
    /// cluster, namespaces, workloads and containers, and creates the scan
    /// targets of new digests. When the snapshot's pods are complete
    /// (`ClusterStatus::pods_complete`), the cluster's containers absent from
    /// it become not running; nothing is ever deleted.
    fn apply_snapshot(
        &self,
        inventory: &ClusterInventory,
        source: InventorySource,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<SnapshotOutcome>> + Send;

    /// Checks an agent message's sequence against the stored one
    /// (`k8s::wire::check_sequence`) and applies it (a snapshot, or each
    /// change of a delta) with the new sequence, all in one transaction: a
    /// retried message is a duplicate, a gap asks for a resnapshot.
    fn apply_agent_message(
        &self,
        message: &AgentMessage,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<IngestResponse>> + Send;

    /// Every cluster, by name.
    fn clusters(&self) -> impl Future<Output = Result<Vec<ClusterRecord>>> + Send;

    // ---- Scan queue ------------------------------------------------------

    /// Moves up to `limit` targets that are pending, or failed and due
    /// (`next_attempt <= now`), to scanning and returns them with their pull
    /// secret references. Oldest first.
    fn claim_scan_jobs(
        &self,
        limit: u32,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<ScanJob>>> + Send;

    /// Records a successful scan of `target`: upserts the image (by
    /// manifest digest), its tags, SBOM, findings and package summaries, and
    /// marks the target scanned.
    fn complete_scan(
        &self,
        target: TargetId,
        record: &ScanRecord,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<ImageId>> + Send;

    /// Records a failed attempt; the target is claimed again at `next_attempt`.
    fn fail_scan(
        &self,
        target: TargetId,
        reason: &str,
        next_attempt: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The target cannot be scanned (e.g. no manifest for its platform);
    /// never claimed again.
    fn mark_unsupported(
        &self,
        target: TargetId,
        reason: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// At start-up: targets left scanning by a previous process go back to
    /// pending, so a restart resumes the queue. Returns how many.
    fn requeue_interrupted(&self) -> impl Future<Output = Result<u64>> + Send;

    /// Scanned targets whose image was scanned with other analyzer versions
    /// than `current` go back to pending (their stored results stay until
    /// the rescan completes). Unsupported targets stay unsupported: their
    /// reason is the image's (no manifest for the platform), not the
    /// analyzers'. Returns how many.
    fn requeue_stale_analyzers(
        &self,
        current: &AnalyzerVersions,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// One target's state.
    fn target(&self, target: TargetId) -> impl Future<Output = Result<Option<TargetState>>> + Send;

    /// Every target, by id (the queue view; paginated).
    fn targets(&self, page: Page) -> impl Future<Output = Result<Paged<TargetState>>> + Send;

    // ---- Images and findings ---------------------------------------------

    /// One scanned image's stored SBOM (for exports), by manifest digest.
    fn image_inventory(
        &self,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<StoredInventory>>> + Send;

    /// Stored SBOMs of scanned images with an id above `after`, in id order,
    /// at most `limit` (a re-match walks them in batches).
    fn inventories_for_rematch(
        &self,
        after: Option<ImageId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredInventory>>> + Send;

    /// Replaces an image's findings and package summaries with a re-match
    /// against `db_version`; findings whose fingerprint is new get
    /// `first_seen_db_version = db_version`, the others keep theirs.
    fn replace_findings(
        &self,
        image: ImageId,
        findings: &[Finding],
        packages: &[PackageSummary],
        db_version: i64,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<RematchOutcome>> + Send;

    /// `replace_findings` for several images in one write transaction (all
    /// or none), outcomes in the order of `writes`: a re-match writes a few
    /// images at a time, so the writer is held for one bounded batch.
    fn replace_findings_batch(
        &self,
        writes: &[FindingsWrite<'_>],
        db_version: i64,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<RematchOutcome>>> + Send;

    // ---- Exceptions ------------------------------------------------------

    /// Creates exceptions (all or none) and their `created` events;
    /// refreshes the summaries they change.
    fn create_exceptions(
        &self,
        exceptions: &[NewException],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<ExceptionId>>> + Send;

    /// Cancels active exceptions (all or none) with a reason and author.
    fn cancel_exceptions(
        &self,
        ids: &[ExceptionId],
        reason: &str,
        author: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records `expired` events for exceptions whose expiry has passed and
    /// refreshes the summaries. Returns how many lapsed.
    fn lapse_expired(&self, now: OffsetDateTime) -> impl Future<Output = Result<u64>> + Send;

    /// Active exceptions that match nothing currently stored.
    fn stale_exceptions(
        &self,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Exception>>> + Send;

    /// Exceptions by state, newest first.
    fn exceptions(
        &self,
        filter: ExceptionListFilter,
        page: Page,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Paged<Exception>>> + Send;

    /// The history (of one exception, or all), oldest first.
    fn exception_history(
        &self,
        exception: Option<ExceptionId>,
        page: Page,
    ) -> impl Future<Output = Result<Paged<ExceptionEvent>>> + Send;

    // ---- Users, tokens, sessions -----------------------------------------

    fn create_user(
        &self,
        user: &NewUser,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<UserId>> + Send;
    fn user_by_name(&self, name: &str) -> impl Future<Output = Result<Option<User>>> + Send;
    fn user(&self, id: UserId) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Changes a user's role and/or disabled flag in one transaction, and
    /// returns the user as it is now. Refused with [`StoreError::LastAdmin`]
    /// when no enabled admin would remain. Disabling deletes the user's
    /// sessions; their tokens stop authenticating (see `token_by_hash`).
    fn update_user(
        &self,
        id: UserId,
        update: &UserUpdate,
    ) -> impl Future<Output = Result<User>> + Send;
    /// Stores a new password hash and the must-change flag, and deletes the
    /// user's sessions except `keep_session` (the one that made the change).
    fn set_password(
        &self,
        id: UserId,
        change: &PasswordChange,
    ) -> impl Future<Output = Result<()>> + Send;
    fn users(&self) -> impl Future<Output = Result<Vec<User>>> + Send;

    fn create_token(
        &self,
        token: &NewToken,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<TokenId>> + Send;
    /// A token that is not revoked and whose user (if it has one) is enabled,
    /// by the SHA-256 hex of its value; its role is capped at its user's.
    fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<ApiToken>>> + Send;
    fn touch_token(
        &self,
        id: TokenId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    fn revoke_token(
        &self,
        id: TokenId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    fn tokens(&self) -> impl Future<Output = Result<Vec<ApiToken>>> + Send;

    fn create_session(
        &self,
        session: &NewSession,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// An unexpired session of an enabled user.
    fn session_by_hash(
        &self,
        session_hash: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Session>>> + Send;
    fn delete_session(&self, session_hash: &str) -> impl Future<Output = Result<()>> + Send;
    /// Removes expired sessions; returns how many.
    fn delete_expired_sessions(
        &self,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64>> + Send;

    // ---- Report queries --------------------------------------------------

    /// The statistics header for a scope.
    fn statistics(
        &self,
        filter: &ReportFilter,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Statistics>> + Send;

    /// Repositories in scope, grouped, sorted and paginated.
    fn repositories(
        &self,
        filter: &ReportFilter,
        sort: Sort<RepositorySortField>,
        page: Page,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Paged<RepositoryRow>>> + Send;

    /// An image's details by manifest digest.
    fn image(
        &self,
        digest: &Digest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<ImageDetails>>> + Send;

    /// An image's findings (CVSS descending by default).
    fn image_vulnerabilities(
        &self,
        digest: &Digest,
        layers: &LayerFilter,
        sort: Sort<VulnerabilitySortField>,
        page: Page,
        include_excepted: bool,
    ) -> impl Future<Output = Result<Paged<VulnerabilityRow>>> + Send;

    /// An image's packages with their vulnerability counts and fix-all versions.
    fn image_packages(
        &self,
        digest: &Digest,
        layers: &LayerFilter,
        page: Page,
    ) -> impl Future<Output = Result<Paged<PackageRow>>> + Send;

    /// Where an image runs or ran.
    fn image_resources(
        &self,
        digest: &Digest,
        page: Page,
    ) -> impl Future<Output = Result<Paged<ResourceRow>>> + Send;

    /// Package upgrades ranked by how many findings in scope they fix
    /// (fixable findings, not excepted, of images not in an excepted
    /// repository unless the filter asks for the excepted view).
    fn remediation(
        &self,
        filter: &ReportFilter,
        page: Page,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Paged<RemediationRow>>> + Send;

    /// Base images of the images in scope, ranked by the findings their
    /// layers brought into those images, each with a suggested newer base
    /// the fleet holds when there is one.
    fn base_image_remediation(
        &self,
        filter: &ReportFilter,
        page: Page,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Paged<BaseImageRow>>> + Send;
}
