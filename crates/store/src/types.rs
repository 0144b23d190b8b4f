//! The values the store takes and returns. They are the store's API, not its
//! rows: the backends convert rows to these by hand.

use std::collections::BTreeMap;

use k8s::{ContainerState, ContainerType, LabelMap, SecretRef, WorkloadKind};
use model::{Digest, Finding, ImageInventory, ImageMetadata, OsInfo, PackageKind, Platform};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A scan target (what the engine pulls).
    TargetId
);
id_type!(
    /// A stored image (one per-platform manifest digest).
    ImageId
);
id_type!(
    /// An exception.
    ExceptionId
);
id_type!(
    /// A user.
    UserId
);
id_type!(
    /// An API token.
    TokenId
);

/// Where a cluster's inventory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventorySource {
    /// An agent in the cluster, through the ingest endpoint.
    Agent,
    /// The server's own collector (a kubeconfig context).
    Local,
}

/// A cluster as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub name: String,
    pub source: InventorySource,
    pub status: k8s::ClusterStatus,
    /// The last agent message applied (agents only).
    pub last_sequence: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// What applying one snapshot did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotOutcome {
    pub workloads: u64,
    pub containers: u64,
    /// Containers (seen before) that this snapshot marked not running.
    pub stopped: u64,
    /// Scan targets created (new images to scan).
    pub new_targets: u64,
}

/// Scan state of a target and of its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    Pending,
    Scanning,
    Scanned,
    Failed,
    Unsupported,
}

impl ScanStatus {
    pub const ALL: [ScanStatus; 5] = [
        ScanStatus::Pending,
        ScanStatus::Scanning,
        ScanStatus::Scanned,
        ScanStatus::Failed,
        ScanStatus::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Pending => "pending",
            ScanStatus::Scanning => "scanning",
            ScanStatus::Scanned => "scanned",
            ScanStatus::Failed => "failed",
            ScanStatus::Unsupported => "unsupported",
        }
    }

    pub(crate) fn from_str_stored(s: &str) -> Option<ScanStatus> {
        ScanStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// How the engine pulls a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum TargetReference {
    /// By manifest digest (per-platform or index: the engine picks the platform).
    Digest { digest: Digest },
    /// The kubelet reported a local image ID: pull by tag, then check that
    /// the pulled image's config digest is `expected_config`.
    Tag {
        tag: String,
        expected_config: Digest,
    },
}

/// One thing to scan, deduplicated over every container that uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanTarget {
    pub id: TargetId,
    /// Registry + path (`docker.io/library/nginx`).
    pub repository: String,
    pub reference: TargetReference,
    /// The node platform the containers run on; `None`: not reported (the
    /// engine's default applies).
    pub platform: Option<Platform>,
}

/// A claimed target and what is needed to pull it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanJob {
    pub target: ScanTarget,
    /// Attempts before this one.
    pub attempts: u32,
    /// The union of the pull secret references of the containers using the
    /// target, with their cluster (secrets are per cluster).
    pub pull_secrets: Vec<ClusterSecretRef>,
}

/// A pull secret reference in one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterSecretRef {
    pub cluster: String,
    pub secret: SecretRef,
}

/// The state of a target as stored (for the queue's views and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    pub target: ScanTarget,
    pub status: ScanStatus,
    pub attempts: u32,
    /// Failure or unsupported reason.
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt: Option<OffsetDateTime>,
    /// The image the target resolved to, once scanned.
    pub image: Option<Digest>,
}

/// Analyzer (or matcher) names and versions a scan ran with: a change
/// queues a rescan (`requeue_stale_analyzers`).
pub type AnalyzerVersions = BTreeMap<String, u32>;

/// Everything one successful scan produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    pub metadata: ImageMetadata,
    pub inventory: ImageInventory,
    pub analyzer_versions: AnalyzerVersions,
    pub findings: Vec<Finding>,
    pub packages: Vec<PackageSummary>,
    /// The advisory database version the findings were matched against.
    pub db_version: i64,
}

/// One package of an image with its vulnerability count and the smallest
/// version that fixes all of them (computed by the caller with `version`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackageSummary {
    pub kind: PackageKind,
    pub name: String,
    pub version: String,
    pub layer_index: Option<u32>,
    pub path: String,
    pub vulnerabilities: u32,
    pub fix_all_version: Option<String>,
}

/// What a re-match changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RematchOutcome {
    /// Fingerprints not present before this write.
    pub added: u64,
    /// Fingerprints present before and gone now.
    pub removed: u64,
}

/// One image's findings and package summaries from a (re-)match, for
/// `Store::replace_findings_batch`.
#[derive(Debug, Clone, Copy)]
pub struct FindingsWrite<'a> {
    pub image: ImageId,
    pub findings: &'a [Finding],
    pub packages: &'a [PackageSummary],
    /// `FindingsHashes::of(findings, packages)`, computed by the caller
    /// (a re-match does it on its matching threads).
    pub hashes: &'a crate::FindingsHashes,
}

/// A stored inventory, for re-matching without pulling.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInventory {
    pub image: ImageId,
    pub digest: Digest,
    pub inventory: ImageInventory,
    /// The database version of the stored findings.
    pub db_version: Option<i64>,
}

/// What an exception covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum ExceptionScope {
    /// The whole repository leaves the report.
    Repository { repository: String },
    /// One vulnerability ID, in one repository (`Some`) or everywhere.
    Vulnerability {
        vulnerability: String,
        repository: Option<String>,
    },
}

/// The longest reason accepted (bytes).
pub const MAX_REASON_LEN: usize = 2000;

/// An exception to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewException {
    pub scope: ExceptionScope,
    /// Why; required, at most [`MAX_REASON_LEN`] bytes.
    pub reason: String,
    pub author: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
}

/// Lifecycle state of an exception at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionState {
    Active,
    Cancelled,
    Expired,
}

/// Which exceptions a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionListFilter {
    #[default]
    Active,
    Cancelled,
    Expired,
    All,
}

/// A stored exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exception {
    pub id: ExceptionId,
    pub scope: ExceptionScope,
    pub reason: String,
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    pub state: ExceptionState,
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
}

/// One event of the append-only exception history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionEventKind {
    Created,
    Cancelled,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionEvent {
    pub exception: ExceptionId,
    pub kind: ExceptionEventKind,
    /// Who did it (`system` for expiry).
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: Option<String>,
}

/// Roles, from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    /// May manage exceptions.
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub(crate) fn from_str_stored(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Editor, Role::Admin]
            .into_iter()
            .find(|role| role.as_str() == s)
    }
}

/// A user to create. `password_hash` is whatever the server's hasher wrote.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    /// The password was generated (a one-time password): the user must
    /// choose a new one before doing anything else.
    pub must_change_password: bool,
}

/// A stored user. `Debug` leaves the password hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created: OffsetDateTime,
    pub disabled: bool,
    pub must_change_password: bool,
}

/// What an admin changes on a user; `None` leaves the field as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// A new password hash for a user (`Debug` leaves the hash and the kept
/// session's hash out).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordChange {
    pub password_hash: String,
    pub must_change_password: bool,
    /// The hash of the session that made the change: it stays logged in,
    /// every other session of the user is deleted.
    pub keep_session: Option<String>,
}

/// An API token to create: `token_hash` is the SHA-256 hex of the token.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub token_hash: String,
    pub role: Role,
    pub user: Option<UserId>,
    /// Agent tokens ingest for this cluster only.
    pub cluster: Option<String>,
}

/// A stored token. `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    pub user: Option<UserId>,
    pub cluster: Option<String>,
    pub created: OffsetDateTime,
    pub last_used: Option<OffsetDateTime>,
    pub revoked: Option<OffsetDateTime>,
}

/// A browser session to create; both hashes come from the server.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSession {
    pub session_hash: String,
    pub user: UserId,
    pub csrf_hash: String,
    pub expires: OffsetDateTime,
}

/// A stored session (with its user, as every lookup needs both).
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_hash: String,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
}

macro_rules! redacted_debug {
    ($ty:ty, $($field:ident),+) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))+
                    .finish_non_exhaustive()
            }
        }
    };
}

redacted_debug!(NewUser, name, role, must_change_password);
redacted_debug!(
    User,
    id,
    name,
    role,
    created,
    disabled,
    must_change_password
);
redacted_debug!(PasswordChange, must_change_password);
redacted_debug!(NewToken, name, role, user, cluster);
redacted_debug!(
    ApiToken, id, name, role, user, cluster, created, last_used, revoked
);
redacted_debug!(NewSession, user, expires);
redacted_debug!(Session, user, created, expires);

/// Counts by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub negligible: u64,
    pub unknown: u64,
}

impl SeverityCounts {
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.negligible + self.unknown
    }
}

/// Scanned targets over all targets in scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCoverage {
    pub scanned: u64,
    pub targets: u64,
}

/// The statistics header of the report, for a scope. "Vulnerabilities" are
/// findings (one per image × package × vulnerability), excepted ones left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    pub images: u64,
    pub repositories: u64,
    pub vulnerabilities: SeverityCounts,
    pub fixable: u64,
    pub clusters: u64,
    /// Workloads with a running container in scope.
    pub running_resources: u64,
    pub scan_coverage: ScanCoverage,
}

/// The active exception that hides a repository (Excepted view, image details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionSummary {
    pub id: ExceptionId,
    pub reason: String,
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
}

/// One row of the repository list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryRow {
    pub repository: String,
    pub images: u64,
    pub vulnerabilities: SeverityCounts,
    pub fixable: u64,
    pub clusters: u64,
    pub resources: u64,
    /// A tag of the most recently scanned image.
    pub latest_scanned_tag: Option<String>,
    /// The most recently scanned image (where the web UI's repository link
    /// goes); `None` while no image of the repository is stored.
    pub latest_digest: Option<Digest>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_scanned: Option<OffsetDateTime>,
    /// The "worst" scan status over the repository's images (failed over
    /// scanning over pending over unsupported over scanned).
    pub scan_status: ScanStatus,
    /// Excepted view only.
    pub exception: Option<ExceptionSummary>,
}

/// A tag and when it was last seen on the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSeen {
    pub tag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// Another digest of the same repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherDigest {
    pub digest: Digest,
    pub tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
}

/// Image details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageDetails {
    pub id: ImageId,
    pub repository: String,
    pub digest: Digest,
    pub tags: Vec<TagSeen>,
    /// Newest first.
    pub other_digests: Vec<OtherDigest>,
    pub platform: Platform,
    pub os: Option<OsInfo>,
    pub size: u64,
    pub created: Option<String>,
    pub config_digest: Digest,
    pub metadata: ImageMetadata,
    pub status: ScanStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub scanned_at: Option<OffsetDateTime>,
    pub scan_error: Option<String>,
    pub db_version: Option<i64>,
    pub analyzer_versions: AnalyzerVersions,
    pub counts: SeverityCounts,
    pub fixable: u64,
    pub running: bool,
    pub repository_exception: Option<ExceptionSummary>,
}

/// Which layers to show (image hierarchy selection); `None` = all.
pub type LayerFilter = Option<Vec<u32>>;

/// One finding in an image's vulnerability list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnerabilityRow {
    pub finding: Finding,
    /// The database version that first reported it for this image.
    pub first_seen_db_version: i64,
    pub excepted: bool,
}

/// One package of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRow {
    pub package: PackageSummary,
}

/// One place an image runs (or ran).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub cluster: String,
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
    pub container: String,
    pub container_type: ContainerType,
    pub image_ref: String,
    pub labels: LabelMap,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    pub running: bool,
    pub state: ContainerState,
}

/// A package upgrade and what it fixes in scope: the fixable findings (not
/// excepted) of the package in the images in scope, and where those run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationRow {
    pub kind: PackageKind,
    pub name: String,
    pub to_version: String,
    pub findings: u64,
    pub images: u64,
    pub workloads: u64,
    pub clusters: u64,
}

/// A base image of images in scope: a stored image whose layers are a
/// strict prefix of theirs (the longest such one for each image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImageRow {
    pub repository: String,
    pub digest: Digest,
    /// Tags the fleet has seen for it, most recently seen first.
    pub tags: Vec<String>,
    pub layers: u32,
    /// The config's creation time, when it has a readable one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    /// The base image's own findings (not excepted).
    pub own_findings: u64,
    /// Findings (not excepted) that its layers brought into the images in
    /// scope built on it, summed over those images.
    pub findings: u64,
    pub images: u64,
    pub workloads: u64,
    pub clusters: u64,
    /// A newer image of the same repository and platform the fleet holds,
    /// with fewer findings of its own; `None` when there is none.
    pub suggested: Option<SuggestedBase>,
}

/// A stored image suggested as the new base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestedBase {
    pub digest: Digest,
    /// Tags the fleet has seen for it (never made up), most recent first.
    pub tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    /// Its own findings (not excepted).
    pub findings: u64,
}
