//! The fleet scanner: a long-running worker that claims scan targets from
//! the store, scans each image ([`scan_image`]), matches its inventory
//! against the advisory database and stores the result.
//!
//! * **Concurrency** is bounded globally ([`FleetConfig::concurrency`]) and
//!   per registry host ([`FleetConfig::per_registry`]). One dispatcher
//!   claims jobs into a small local buffer and starts those whose host has
//!   room, so a busy registry never holds up the others.
//! * **Failures** never block other images. Each one is classified
//!   ([`disposition`]):
//!   - the image cannot be scanned as it is (no manifest for the platform,
//!     an unsupported media type or schema 1, a malformed or oversized
//!     manifest or config, an invalid repository, not in the layout) →
//!     `mark_unsupported`: never claimed again unless the analyzers change;
//!   - the image may come right but not soon (a digest mismatch, a tag that
//!     now names another config than the running image's, a manifest still
//!     unknown after [`FleetConfig::manifest_unknown_attempts`] attempts, a
//!     panic inside the scan: a bug met on this image) →
//!     `fail_scan` with the long retry ([`Backoff::long`], default 24 h);
//!   - everything else is transient (network, 5xx, 429, timeouts, auth,
//!     store or database trouble) → `fail_scan` with exponential backoff,
//!     1 min doubling to 6 h, ±20 % jitter.
//! * **Platforms**: a target without a node platform is scanned for
//!   [`FleetConfig::default_platform`] (linux/amd64), picked from an index.
//! * **Local image IDs** (`TargetReference::Tag`) are pulled by tag and the
//!   pulled config digest must equal the expected one.
//! * **Start-up** ([`FleetScanner::start_up`]) requeues targets a previous
//!   process left scanning and targets scanned with other analyzer versions.
//! * **Shutdown**: when the watch channel turns `true`, nothing more is
//!   claimed, in-flight scans get [`FleetConfig::shutdown_grace`] to finish
//!   and are then abandoned; claimed-but-unstarted and abandoned targets
//!   stay `scanning` in the store and are requeued at the next start. A
//!   `kill -9` leaves the same state (every store write is one transaction).

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use model::{Finding, ImageInventory, Platform};
use oci::OciError;
use serde::Serialize;
use store::{AnalyzerVersions, ScanJob, ScanRecord, Store, TargetReference};
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, watch};
use tokio::task::JoinSet;
use vulndb::{LoadedIndex, VulnDb};

use crate::locate::{ImageLocator, LocateError};
use crate::summary::package_summaries;
use crate::{AnalyzerSet, NoProgress, ScanError, ScanOptions, scan_image};

/// Retry delays after a failed scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// After the first failure.
    pub initial: Duration,
    /// The ceiling of the doubling.
    pub max: Duration,
    /// For failures that will not clear soon (see the module docs).
    pub long: Duration,
    /// Each delay is scaled by a random factor in `1 ± jitter`, so images
    /// that failed together (a registry outage) do not retry together.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(6 * 3600),
            long: Duration::from_secs(24 * 3600),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay after a transient failure, `attempts_before` failures
    /// having happened already: `initial · 2^attempts_before`, capped, jittered.
    pub fn transient(&self, attempts_before: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempts_before.min(20))
            .min(self.max);
        self.jittered(base)
    }

    /// The delay after a failure that will not clear soon.
    pub fn long(&self) -> Duration {
        self.jittered(self.long)
    }

    fn jittered(&self, base: Duration) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 - jitter + 2.0 * jitter * fastrand::f64())
    }
}

/// Where matching gets its advisories from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexMode {
    /// An index of just the image's lookup keys, per scan
    /// (`VulnDb::load_index_for`): little memory, one query per image.
    #[default]
    PerImage,
    /// One full index shared by every scan, reloaded when the database
    /// version changes: no query per image, the whole database in memory.
    Shared,
}

/// How the fleet scanner works.
#[derive(Clone)]
pub struct FleetConfig {
    /// Images scanned at once.
    pub concurrency: usize,
    /// Images pulled from one registry host at once.
    pub per_registry: usize,
    /// How often an idle scanner looks for work (it is also woken through
    /// [`FleetScanner::waker`] when new targets arrive).
    pub poll_interval: Duration,
    /// How long in-flight scans may take to finish after shutdown.
    pub shutdown_grace: Duration,
    /// One image's scan (pull, analysis, matching) takes at most this long.
    pub scan_timeout: Duration,
    /// The platform of targets whose nodes did not report one.
    pub default_platform: Platform,
    /// Layer cache, layer concurrency and walk limits (the platform is set per target).
    pub scan: ScanOptions,
    pub backoff: Backoff,
    /// A manifest the registry does not know is retried with the transient
    /// backoff this many times (a push may be in progress), then with the long one.
    pub manifest_unknown_attempts: u32,
    pub index: IndexMode,
}

impl Default for FleetConfig {
    fn default() -> FleetConfig {
        FleetConfig {
            concurrency: 4,
            per_registry: 2,
            poll_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            scan_timeout: Duration::from_secs(30 * 60),
            default_platform: Platform::linux_amd64(),
            scan: ScanOptions::default(),
            backoff: Backoff::default(),
            manifest_unknown_attempts: 3,
            index: IndexMode::default(),
        }
    }
}

/// Why one job failed. Messages are stored as the target's reason: they
/// never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Locate(#[from] LocateError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(
        "{reference}: the tag now names an image with config {actual}, not the running image's {expected}"
    )]
    ConfigMismatch {
        reference: String,
        expected: model::Digest,
        actual: model::Digest,
    },
    #[error("the scan took longer than {0:?}")]
    TimedOut(Duration),
    #[error("advisory database: {0}")]
    Database(#[from] vulndb::VulnDbError),
    #[error("matching failed: {0}")]
    Matching(String),
    /// A bug met on this image: retried rarely, and the scanner goes on.
    #[error("internal error while scanning (please report it): {0}")]
    Panicked(String),
}

/// What to do with a failed target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Disposition {
    /// `fail_scan`, claimable again after this long.
    Retry(Duration),
    /// `mark_unsupported`.
    Unsupported,
}

/// The classification described in the module docs. `attempts_before`:
/// the job's failed attempts before this one.
pub fn disposition(error: &JobError, attempts_before: u32, config: &FleetConfig) -> Disposition {
    let backoff = &config.backoff;
    let oci = match error {
        JobError::Locate(
            LocateError::InvalidRepository { .. } | LocateError::NotInLayout { .. },
        ) => {
            return Disposition::Unsupported;
        }
        // A configuration change may allow it: tried again, rarely.
        JobError::ConfigMismatch { .. }
        | JobError::Panicked(_)
        | JobError::Locate(LocateError::RegistryNotAllowed { .. }) => {
            return Disposition::Retry(backoff.long());
        }
        JobError::Scan(ScanError::Source(oci)) => oci,
        _ => return Disposition::Retry(backoff.transient(attempts_before)),
    };
    match oci {
        OciError::PlatformNotFound { .. }
        | OciError::UnsupportedMediaType { .. }
        | OciError::Schema1 { .. }
        | OciError::IndexTooDeep { .. }
        | OciError::LayerCountMismatch { .. }
        | OciError::Malformed { .. }
        | OciError::TooLarge { .. }
        | OciError::InvalidReference { .. } => Disposition::Unsupported,
        OciError::DigestMismatch { .. } | OciError::SizeMismatch { .. } => {
            Disposition::Retry(backoff.long())
        }
        OciError::ManifestUnknown { .. } | OciError::BlobUnknown { .. }
            if attempts_before + 1 >= config.manifest_unknown_attempts =>
        {
            Disposition::Retry(backoff.long())
        }
        _ => Disposition::Retry(backoff.transient(attempts_before)),
    }
}

/// Counters since the scanner was created, for the server's status page
/// and `/metrics`.
#[derive(Debug, Default)]
pub struct FleetMetrics {
    claimed: AtomicU64,
    scanned: AtomicU64,
    failed: AtomicU64,
    unsupported: AtomicU64,
    in_flight: AtomicU64,
    /// Outcomes the store refused to record (the target stays scanning
    /// until the next start).
    unrecorded: AtomicU64,
}

/// A snapshot of [`FleetMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FleetCounts {
    pub claimed: u64,
    pub scanned: u64,
    pub failed: u64,
    pub unsupported: u64,
    pub in_flight: u64,
    pub unrecorded: u64,
}

impl FleetMetrics {
    pub fn counts(&self) -> FleetCounts {
        FleetCounts {
            claimed: self.claimed.load(Ordering::Relaxed),
            scanned: self.scanned.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            unsupported: self.unsupported.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            unrecorded: self.unrecorded.load(Ordering::Relaxed),
        }
    }
}

/// What [`FleetScanner::start_up`] requeued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StartUp {
    pub interrupted: u64,
    pub stale_analyzers: u64,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub scanned: u64,
    pub failed: u64,
    pub unsupported: u64,
    /// Claimed but not finished when the run stopped (requeued at next start).
    pub abandoned: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Scanned,
    Failed,
    Unsupported,
    Unrecorded,
}

/// The fleet scanner; cheap to clone (clones share everything).
pub struct FleetScanner<S, L> {
    inner: Arc<Inner<S, L>>,
}

impl<S, L> Clone for FleetScanner<S, L> {
    fn clone(&self) -> Self {
        FleetScanner {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S, L> {
    store: Arc<S>,
    locator: Arc<L>,
    db: VulnDb,
    analyzers: AnalyzerSet,
    config: FleetConfig,
    metrics: Arc<FleetMetrics>,
    wake: Arc<Notify>,
    shared_index: Mutex<Option<Arc<LoadedIndex>>>,
}

/// The analyzer versions a scan with `analyzers` records.
pub fn analyzer_versions(analyzers: &AnalyzerSet) -> AnalyzerVersions {
    analyze::analyzer_ids(analyzers)
        .into_iter()
        .map(|id| (id.name, id.version))
        .collect()
}

impl<S: Store, L: ImageLocator> FleetScanner<S, L> {
    pub fn new(
        store: Arc<S>,
        locator: Arc<L>,
        db: VulnDb,
        analyzers: AnalyzerSet,
        config: FleetConfig,
    ) -> FleetScanner<S, L> {
        FleetScanner {
            inner: Arc::new(Inner {
                store,
                locator,
                db,
                analyzers,
                config,
                metrics: Arc::new(FleetMetrics::default()),
                wake: Arc::new(Notify::new()),
                shared_index: Mutex::new(None),
            }),
        }
    }

    pub fn metrics(&self) -> Arc<FleetMetrics> {
        self.inner.metrics.clone()
    }

    /// Notify it when new targets arrive, so the scanner does not wait for
    /// its next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.inner.wake.clone()
    }

    /// Requeues what a previous process left scanning and what was scanned
    /// with other analyzer versions. Call once before [`Self::run`].
    pub async fn start_up(&self) -> Result<StartUp, store::StoreError> {
        let interrupted = self.inner.store.requeue_interrupted().await?;
        let stale_analyzers = self
            .inner
            .store
            .requeue_stale_analyzers(&analyzer_versions(&self.inner.analyzers))
            .await?;
        if interrupted + stale_analyzers > 0 {
            tracing::info!(interrupted, stale_analyzers, "requeued scan targets");
        }
        Ok(StartUp {
            interrupted,
            stale_analyzers,
        })
    }

    /// Scans until `shutdown` turns `true` (or its sender is dropped).
    pub async fn run(&self, shutdown: watch::Receiver<bool>) -> RunSummary {
        self.drive(Some(shutdown), false).await
    }

    /// Scans until nothing is claimable and nothing is in flight (failed
    /// targets waiting for their retry time are not claimable).
    pub async fn run_until_idle(&self) -> RunSummary {
        self.drive(None, false).await
    }

    /// Like [`Self::run_until_idle`], stopping early on `shutdown`.
    pub async fn run_until_idle_or(&self, shutdown: watch::Receiver<bool>) -> RunSummary {
        self.drive(Some(shutdown), true).await
    }

    async fn drive(
        &self,
        mut shutdown: Option<watch::Receiver<bool>>,
        until_idle_with_shutdown: bool,
    ) -> RunSummary {
        let until_idle = shutdown.is_none() || until_idle_with_shutdown;
        let inner = &self.inner;
        let concurrency = inner.config.concurrency.max(1);
        let per_registry = inner.config.per_registry.max(1);
        // Claimed jobs wait here for their host to have room: enough that
        // every slot can be refilled, few enough that a restart requeues little.
        let buffer_limit = concurrency * 2;
        let mut buffer: VecDeque<(String, ScanJob)> = VecDeque::new();
        let mut running: JoinSet<(String, Outcome)> = JoinSet::new();
        let mut per_host: HashMap<String, usize> = HashMap::new();
        let mut summary = RunSummary::default();
        let mut claim_due = true;
        let mut last_claim_empty = false;
        loop {
            if shutdown.as_ref().is_some_and(|rx| *rx.borrow()) {
                break;
            }
            let mut position = 0;
            while running.len() < concurrency && position < buffer.len() {
                let busy = per_host.get(&buffer[position].0).copied().unwrap_or(0);
                if busy >= per_registry {
                    position += 1;
                    continue;
                }
                let Some((host, job)) = buffer.remove(position) else {
                    break;
                };
                *per_host.entry(host.clone()).or_default() += 1;
                let inner = inner.clone();
                running.spawn(async move { (host, inner.process(job).await) });
            }
            if claim_due && buffer.len() < buffer_limit {
                let wanted = buffer_limit - buffer.len();
                match inner
                    .store
                    .claim_scan_jobs(wanted as u32, OffsetDateTime::now_utc())
                    .await
                {
                    Ok(jobs) => {
                        last_claim_empty = jobs.is_empty();
                        // A full batch: there may be more.
                        claim_due = jobs.len() == wanted;
                        inner
                            .metrics
                            .claimed
                            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
                        for job in jobs {
                            buffer.push_back((inner.locator.registry_host(&job.target), job));
                        }
                        if !last_claim_empty {
                            continue;
                        }
                    }
                    Err(error) => {
                        // Retried at the next wake-up or poll.
                        last_claim_empty = true;
                        tracing::warn!(%error, "claiming scan jobs failed");
                    }
                }
            }
            if until_idle && running.is_empty() && buffer.is_empty() {
                if last_claim_empty {
                    break;
                }
                claim_due = true;
                continue;
            }
            tokio::select! {
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    record(&mut summary, &mut per_host, joined);
                    claim_due = true;
                }
                () = tokio::time::sleep(inner.config.poll_interval) => claim_due = true,
                () = inner.wake.notified() => claim_due = true,
                () = stopped(&mut shutdown) => break,
            }
        }

        // Shutdown: unstarted jobs stay claimed (requeued at next start);
        // in-flight ones get the grace period.
        summary.abandoned += buffer.len() as u64;
        let deadline = tokio::time::Instant::now() + inner.config.shutdown_grace;
        while !running.is_empty() {
            match tokio::time::timeout_at(deadline, running.join_next()).await {
                Ok(Some(joined)) => record(&mut summary, &mut per_host, joined),
                Ok(None) => break,
                Err(_) => {
                    summary.abandoned += running.len() as u64;
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                    break;
                }
            }
        }
        summary
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Resolves when the shutdown flag turns true or its sender goes away;
/// never without a channel.
async fn stopped(shutdown: &mut Option<watch::Receiver<bool>>) {
    match shutdown {
        Some(rx) => {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
        None => std::future::pending().await,
    }
}

fn record(
    summary: &mut RunSummary,
    per_host: &mut HashMap<String, usize>,
    joined: Result<(String, Outcome), tokio::task::JoinError>,
) {
    let (host, outcome) = match joined {
        Ok(done) => done,
        Err(error) => {
            // Only when the outcome could not be recorded either (panics
            // inside the scan are caught in `process`): the target stays
            // scanning until the next start requeues it.
            tracing::error!(%error, "a scan task failed");
            return;
        }
    };
    if let Some(busy) = per_host.get_mut(&host) {
        *busy = busy.saturating_sub(1);
    }
    match outcome {
        Outcome::Scanned => summary.scanned += 1,
        Outcome::Failed => summary.failed += 1,
        Outcome::Unsupported => summary.unsupported += 1,
        Outcome::Unrecorded => {}
    }
}

impl<S: Store, L: ImageLocator> Inner<S, L> {
    async fn process(self: Arc<Self>, job: ScanJob) -> Outcome {
        self.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        // A panic must not leave the target claimed (scanning) or its
        // registry slot taken: it becomes this job's failure.
        let scan = AssertUnwindSafe(self.scan_job(&job)).catch_unwind();
        let result = match tokio::time::timeout(self.config.scan_timeout, scan).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(JobError::Panicked(panic_message(panic.as_ref()))),
            Err(_) => Err(JobError::TimedOut(self.config.scan_timeout)),
        };
        let target = job.target.id;
        let now = OffsetDateTime::now_utc();
        let (outcome, written) = match result {
            Ok(record) => {
                let written = self.store.complete_scan(target, &record, now).await;
                if written.is_ok() {
                    tracing::info!(
                        %target,
                        repository = %job.target.repository,
                        findings = record.findings.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "scanned"
                    );
                }
                (Outcome::Scanned, written.map(|_| ()))
            }
            Err(error) => {
                let reason = error.to_string();
                match disposition(&error, job.attempts, &self.config) {
                    Disposition::Unsupported => {
                        tracing::warn!(%target, %reason, "cannot be scanned");
                        (
                            Outcome::Unsupported,
                            self.store.mark_unsupported(target, &reason, now).await,
                        )
                    }
                    Disposition::Retry(after) => {
                        tracing::warn!(%target, %reason, retry_in_s = after.as_secs(), "scan failed");
                        (
                            Outcome::Failed,
                            self.store
                                .fail_scan(target, &reason, now + after, now)
                                .await,
                        )
                    }
                }
            }
        };
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        let counter = match (&written, outcome) {
            (Err(error), _) => {
                tracing::error!(%target, %error, "could not record the scan outcome");
                return self.count(&self.metrics.unrecorded, Outcome::Unrecorded);
            }
            (Ok(()), Outcome::Scanned) => &self.metrics.scanned,
            (Ok(()), Outcome::Failed) => &self.metrics.failed,
            (Ok(()), Outcome::Unsupported) => &self.metrics.unsupported,
            (Ok(()), Outcome::Unrecorded) => &self.metrics.unrecorded,
        };
        self.count(counter, outcome)
    }

    fn count(&self, counter: &AtomicU64, outcome: Outcome) -> Outcome {
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    async fn scan_job(&self, job: &ScanJob) -> Result<ScanRecord, JobError> {
        let target = &job.target;
        let located = self.locator.locate(job).await?;
        let mut options = self.config.scan.clone();
        options.platform = target
            .platform
            .clone()
            .unwrap_or_else(|| self.config.default_platform.clone());
        let report = scan_image(
            Arc::new(located.source),
            &options,
            self.analyzers.clone(),
            Arc::new(NoProgress),
        )
        .await?;
        let mut metadata = report.image;
        if let TargetReference::Tag {
            tag,
            expected_config,
        } = &target.reference
            && &metadata.config_digest != expected_config
        {
            return Err(JobError::ConfigMismatch {
                reference: format!("{}:{tag}", target.repository),
                expected: expected_config.clone(),
                actual: metadata.config_digest.clone(),
            });
        }
        // The fleet's names, not the source's (a layout's path and ref.name).
        metadata.repository = target.repository.clone();
        if let Some(tag) = located.tag {
            metadata.reference = format!("{}:{tag}", target.repository);
            metadata.tag = Some(tag);
        }
        let inventory = report.inventory;
        let (findings, db_version) = self.match_inventory(&inventory).await?;
        let packages = package_summaries(&inventory, &findings);
        Ok(ScanRecord {
            metadata,
            inventory,
            analyzer_versions: report
                .analyzers
                .into_iter()
                .map(|id| (id.name, id.version))
                .collect(),
            findings,
            packages,
            db_version,
        })
    }

    async fn match_inventory(
        &self,
        inventory: &ImageInventory,
    ) -> Result<(Vec<Finding>, i64), JobError> {
        let loaded = match self.config.index {
            IndexMode::PerImage => Arc::new(self.db.load_index_for(inventory).await?),
            IndexMode::Shared => self.shared_index().await?,
        };
        let version = loaded.database_version;
        let inventory = inventory.clone();
        let findings = tokio::task::spawn_blocking(move || {
            matching::match_image(&inventory, &loaded.index).findings
        })
        .await
        .map_err(|e| JobError::Matching(e.to_string()))?;
        Ok((findings, version))
    }

    /// The full index of the current database version, loaded once per version.
    async fn shared_index(&self) -> Result<Arc<LoadedIndex>, JobError> {
        let current = self.db.version().await?.database_version;
        let mut cached = self.shared_index.lock().await;
        if let Some(index) = cached.as_ref()
            && index.database_version == current
        {
            return Ok(index.clone());
        }
        let loaded = Arc::new(self.db.load_index().await?);
        *cached = Some(loaded.clone());
        Ok(loaded)
    }
}

/// Where the periodic database update gets its data and what it does after.
#[derive(Debug, Clone)]
pub struct UpdateSchedule {
    /// The data directory holding `advisories.sqlite`.
    pub data_dir: std::path::PathBuf,
    pub feeds: feeds::FeedsConfig,
    pub options: crate::update::UpdateOptions,
    /// Time between the end of one cycle and the start of the next.
    pub interval: Duration,
    pub rematch: crate::rematch::RematchConfig,
}

/// One update → re-match cycle.
#[derive(Debug)]
pub struct UpdateCycle {
    pub update: crate::update::UpdateSummary,
    /// `None` when the update committed nothing (nothing to re-match).
    pub rematch: Option<crate::rematch::RematchSummary>,
}

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("advisory database update: {0}")]
    Update(#[from] crate::update::UpdateError),
    #[error("re-match: {0}")]
    Rematch(#[from] crate::rematch::RematchError),
}

/// Updates the advisory database, then, when a new version was committed,
/// re-matches every stored inventory against it. Feed failures are in the
/// update summary (the other feeds are still committed and re-matched).
pub async fn update_and_rematch<S: Store>(
    store: &S,
    db: &VulnDb,
    schedule: &UpdateSchedule,
) -> Result<UpdateCycle, CycleError> {
    let update = crate::update::update_database(
        &schedule.data_dir,
        &schedule.feeds,
        &schedule.options,
        &feeds::NoProgress,
    )
    .await?;
    for failed in update.failed() {
        if let Err(reason) = &failed.result {
            tracing::warn!(feed = %failed.feed, %reason, "feed not updated");
        }
    }
    let rematch = match update.committed {
        Some(_) => Some(crate::rematch::rematch_all(store, db, &schedule.rematch).await?),
        None => None,
    };
    Ok(UpdateCycle { update, rematch })
}

/// Runs [`update_and_rematch`] now and then every `schedule.interval` until
/// `shutdown` turns `true`; each cycle's result goes to `on_cycle` (the
/// server's status page). A failed cycle is retried at the next interval.
/// Before the first update, inventories not matched against the current
/// database (stored by an older version, or while an update was killed)
/// are re-matched.
pub async fn run_updates<S: Store>(
    store: &S,
    db: &VulnDb,
    schedule: &UpdateSchedule,
    mut shutdown: watch::Receiver<bool>,
    on_cycle: impl Fn(&Result<UpdateCycle, CycleError>) + Send + Sync,
) {
    let mut receiver = Some(shutdown.clone());
    if let Err(error) = crate::rematch::rematch_all(store, db, &schedule.rematch).await {
        tracing::warn!(%error, "catching up the re-match failed");
    }
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        let cycle = tokio::select! {
            cycle = update_and_rematch(store, db, schedule) => cycle,
            () = stopped(&mut receiver) => return,
        };
        if let Err(error) = &cycle {
            tracing::warn!(%error, "advisory database update failed");
        }
        on_cycle(&cycle);
        tokio::select! {
            () = tokio::time::sleep(schedule.interval) => {}
            () = stopped(&mut receiver) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> model::Digest {
        model::Digest::from_raw(model::DigestAlgorithm::Sha256, &[byte; 32])
    }

    fn oci(error: OciError) -> JobError {
        JobError::Scan(ScanError::Source(error))
    }

    #[test]
    fn backoff_doubles_from_a_minute_to_six_hours_with_jitter() {
        let backoff = Backoff::default();
        // (failures before, base delay in seconds)
        let cases = [
            (0, 60),
            (1, 120),
            (2, 240),
            (5, 1920),
            (9, 21_600),
            (40, 21_600),
        ];
        for (attempts, base) in cases {
            for _ in 0..50 {
                let delay = backoff.transient(attempts).as_secs_f64();
                let base = f64::from(base);
                assert!(
                    (base * 0.8..=base * 1.2).contains(&delay),
                    "{attempts}: {delay}"
                );
            }
        }
        let long = backoff.long().as_secs_f64();
        assert!((86_400.0 * 0.8..=86_400.0 * 1.2).contains(&long), "{long}");
    }

    #[test]
    fn failures_are_classified() {
        let config = FleetConfig {
            backoff: Backoff {
                jitter: 0.0,
                ..Backoff::default()
            },
            ..FleetConfig::default()
        };
        let minute = Disposition::Retry(Duration::from_secs(60));
        let four_minutes = Disposition::Retry(Duration::from_secs(240));
        let day = Disposition::Retry(Duration::from_secs(86_400));
        let unknown = || {
            oci(OciError::ManifestUnknown {
                reference: "r".into(),
                message: None,
            })
        };
        // (error, failures before, expected)
        let cases: Vec<(JobError, u32, Disposition)> = vec![
            (
                oci(OciError::Connection {
                    registry: "r".into(),
                    detail: "refused".into(),
                }),
                0,
                minute,
            ),
            (
                oci(OciError::UnexpectedStatus {
                    registry: "r".into(),
                    status: 503,
                    what: "manifest".into(),
                    message: None,
                }),
                2,
                four_minutes,
            ),
            (
                oci(OciError::Unauthorized {
                    registry: "r".into(),
                    message: None,
                }),
                0,
                minute,
            ),
            (unknown(), 0, minute),
            (unknown(), 1, Disposition::Retry(Duration::from_secs(120))),
            (unknown(), 2, day),
            (
                oci(OciError::DigestMismatch {
                    what: "blob".into(),
                    expected: digest(1),
                    actual: digest(2),
                }),
                0,
                day,
            ),
            (
                JobError::ConfigMismatch {
                    reference: "r:1".into(),
                    expected: digest(1),
                    actual: digest(2),
                },
                0,
                day,
            ),
            (
                oci(OciError::PlatformNotFound {
                    reference: "r".into(),
                    wanted: Platform::linux_amd64(),
                    available: Vec::new(),
                }),
                0,
                Disposition::Unsupported,
            ),
            (
                oci(OciError::UnsupportedMediaType {
                    reference: "r".into(),
                    media_type: "text/html".into(),
                }),
                0,
                Disposition::Unsupported,
            ),
            (
                oci(OciError::Schema1 {
                    reference: "r".into(),
                }),
                0,
                Disposition::Unsupported,
            ),
            (
                JobError::Locate(LocateError::NotInLayout { what: "x".into() }),
                0,
                Disposition::Unsupported,
            ),
            (
                JobError::TimedOut(Duration::from_secs(1)),
                1,
                Disposition::Retry(Duration::from_secs(120)),
            ),
        ];
        for (error, attempts, expected) in cases {
            assert_eq!(
                disposition(&error, attempts, &config),
                expected,
                "{error} after {attempts}"
            );
        }
    }
}
