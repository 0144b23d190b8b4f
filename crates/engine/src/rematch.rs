//! Re-matching stored inventories when the advisory database changes,
//! without pulling anything: matching is pure, so a stored SBOM and the new
//! data give exactly the findings a fresh scan would.
//!
//! One full index is loaded; images are read in batches
//! (`inventories_for_rematch`), matched on worker threads, and written a few
//! images per transaction (`replace_findings_batch`, bounded by images and
//! findings), so scans recording their results interleave with a re-match
//! instead of waiting for it. The store writes only what changed: an image
//! whose findings are the same costs a hash comparison and a version
//! update. Images already matched against the current version are skipped,
//! which makes an interrupted re-match cheap to resume.

use std::sync::Arc;
use std::time::{Duration, Instant};

use model::Finding;
use serde::Serialize;
use store::{FindingsHashes, FindingsWrite, ImageId, PackageSummary, Store, StoredInventory};
use time::OffsetDateTime;
use vulndb::VulnDb;

use crate::summary::package_summaries;

#[derive(Debug, Clone)]
pub struct RematchConfig {
    /// Inventories read (and held in memory) at once.
    pub batch: u32,
    /// Threads matching a batch.
    pub workers: usize,
    /// Re-match images already matched against the current version too.
    pub force: bool,
    /// Images written per store transaction, at most.
    pub write_images: usize,
    /// Findings written per store transaction, at most (an image with more
    /// is written alone): bounds how long the shared writer is held.
    pub write_findings: usize,
}

impl Default for RematchConfig {
    fn default() -> RematchConfig {
        RematchConfig {
            batch: 200,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            force: false,
            write_images: 50,
            write_findings: 10_000,
        }
    }
}

/// What a re-match changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RematchSummary {
    /// The advisory database version matched against.
    pub db_version: i64,
    /// Images re-matched.
    pub images: u64,
    /// Images already at `db_version`, left alone.
    pub skipped: u64,
    /// Findings new since the previous database.
    pub findings_added: u64,
    /// Findings the new database no longer reports.
    pub findings_removed: u64,
    /// Wall time in total, and spent loading the index, matching (on the
    /// workers, overlapping the writes) and writing to the store.
    #[serde(skip)]
    pub elapsed: Duration,
    #[serde(skip)]
    pub loading: Duration,
    #[serde(skip)]
    pub matching: Duration,
    #[serde(skip)]
    pub writing: Duration,
    /// The longest single store write (one image's transaction): how long
    /// the re-match held the shared writer at once.
    #[serde(skip)]
    pub longest_write: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RematchError {
    #[error("advisory database: {0}")]
    Database(#[from] vulndb::VulnDbError),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("a matching worker failed: {0}")]
    Worker(String),
}

/// Re-matches every stored inventory against the current database.
pub async fn rematch_all<S: Store>(
    store: &S,
    db: &VulnDb,
    config: &RematchConfig,
) -> Result<RematchSummary, RematchError> {
    let started = Instant::now();
    let loaded = Arc::new(db.load_index().await?);
    let db_version = loaded.database_version;
    let mut summary = RematchSummary {
        db_version,
        loading: started.elapsed(),
        ..RematchSummary::default()
    };
    // Matching of the next batch (worker threads) overlaps the store
    // writes of the previous one (the store's single writer).
    let mut after: Option<ImageId> = None;
    let mut exhausted = false;
    let mut in_flight: Option<Matching> = None;
    loop {
        let next = if exhausted {
            None
        } else {
            let batch = store
                .inventories_for_rematch(after, config.batch.max(1))
                .await?;
            match batch.last() {
                None => {
                    exhausted = true;
                    None
                }
                Some(last) => {
                    after = Some(last.image);
                    let (stale, current): (Vec<StoredInventory>, Vec<StoredInventory>) = batch
                        .into_iter()
                        .partition(|stored| config.force || stored.db_version != Some(db_version));
                    summary.skipped += current.len() as u64;
                    (!stale.is_empty()).then(|| Matching::start(stale, &loaded, config))
                }
            }
        };
        if let Some(matching) = in_flight.take() {
            let (matched, took) = matching.finish().await?;
            summary.matching += took;
            let writing_started = Instant::now();
            let now = OffsetDateTime::now_utc();
            for chunk in write_chunks(&matched, config.write_images, config.write_findings) {
                let writes: Vec<FindingsWrite<'_>> = chunk
                    .iter()
                    .map(|(image, findings, packages, hashes)| FindingsWrite {
                        image: *image,
                        findings,
                        packages,
                        hashes,
                    })
                    .collect();
                let write_started = Instant::now();
                let outcomes = store
                    .replace_findings_batch(&writes, db_version, now)
                    .await?;
                summary.longest_write = summary.longest_write.max(write_started.elapsed());
                for outcome in outcomes {
                    summary.images += 1;
                    summary.findings_added += outcome.added;
                    summary.findings_removed += outcome.removed;
                }
            }
            summary.writing += writing_started.elapsed();
        }
        in_flight = next;
        if exhausted && in_flight.is_none() {
            break;
        }
    }
    summary.elapsed = started.elapsed();
    tracing::info!(
        db_version,
        images = summary.images,
        added = summary.findings_added,
        removed = summary.findings_removed,
        elapsed_ms = summary.elapsed.as_millis() as u64,
        "re-matched stored inventories"
    );
    Ok(summary)
}

type Matched = (ImageId, Vec<Finding>, Vec<PackageSummary>, FindingsHashes);

/// Splits matched images into consecutive write transactions of at most
/// `images` images and `findings` findings (an image with more findings
/// than that is a transaction of its own).
fn write_chunks(matched: &[Matched], images: usize, findings: usize) -> Vec<&[Matched]> {
    let (images, findings) = (images.max(1), findings.max(1));
    let mut chunks = Vec::new();
    let (mut start, mut held) = (0, 0);
    for (i, (_, image_findings, _, _)) in matched.iter().enumerate() {
        if i > start && (i - start >= images || held + image_findings.len() > findings) {
            chunks.push(&matched[start..i]);
            (start, held) = (i, 0);
        }
        held += image_findings.len();
    }
    if start < matched.len() {
        chunks.push(&matched[start..]);
    }
    chunks
}

/// One batch being matched on a blocking thread.
struct Matching {
    task: tokio::task::JoinHandle<Result<(Vec<Matched>, Duration), RematchError>>,
}

impl Matching {
    fn start(
        batch: Vec<StoredInventory>,
        loaded: &Arc<vulndb::LoadedIndex>,
        config: &RematchConfig,
    ) -> Matching {
        let index = loaded.clone();
        let workers = config.workers.max(1);
        Matching {
            task: tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                let matched = match_batch(batch, &index, workers)?;
                Ok((matched, started.elapsed()))
            }),
        }
    }

    async fn finish(self) -> Result<(Vec<Matched>, Duration), RematchError> {
        self.task
            .await
            .map_err(|e| RematchError::Worker(e.to_string()))?
    }
}

/// Matches a batch on `workers` threads, keeping the batch order.
fn match_batch(
    batch: Vec<StoredInventory>,
    loaded: &vulndb::LoadedIndex,
    workers: usize,
) -> Result<Vec<Matched>, RematchError> {
    let chunk = batch.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|stored| {
                            let findings =
                                matching::match_image(&stored.inventory, &loaded.index).findings;
                            let packages = package_summaries(&stored.inventory, &findings);
                            // Hashed here, on the matching threads, so
                            // the store's writer only compares.
                            let hashes = FindingsHashes::of(&findings, &packages)?;
                            Ok((stored.image, findings, packages, hashes))
                        })
                        .collect::<Result<Vec<_>, RematchError>>()
                })
            })
            .collect();
        let mut matched = Vec::with_capacity(batch.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| RematchError::Worker("a matching thread panicked".to_owned()))?;
            matched.extend(part?);
        }
        Ok(matched)
    })
}

#[cfg(test)]
mod tests {
    use super::{Matched, write_chunks};
    use store::ImageId;

    fn finding(n: usize) -> model::Finding {
        let mut finding = store::fixtures::finding(
            &format!("CVE-2024-{n:04}"),
            model::Severity::High,
            None,
            ("pkg", "1.0"),
            0,
            None,
        );
        finding.fingerprint = format!("fp-{n}");
        finding
    }

    /// (findings per image, images bound, findings bound, chunk sizes).
    #[test]
    fn write_chunks_table() {
        let table: [(&[usize], usize, usize, &[usize]); 6] = [
            (&[], 50, 100, &[]),
            (&[1, 1, 1], 50, 100, &[3]),
            (&[1, 1, 1, 1, 1], 2, 100, &[2, 2, 1]),
            (&[40, 40, 40], 50, 100, &[2, 1]),
            (&[500, 1, 1], 50, 100, &[1, 2]),
            (&[1, 500, 1], 50, 100, &[1, 1, 1]),
        ];
        for (sizes, images, findings, want) in table {
            let matched: Vec<Matched> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let findings: Vec<_> = (0..*n).map(finding).collect();
                    let hashes = store::FindingsHashes::of(&findings, &[]).unwrap();
                    (ImageId(i as i64), findings, Vec::new(), hashes)
                })
                .collect();
            let got: Vec<usize> = write_chunks(&matched, images, findings)
                .iter()
                .map(|c| c.len())
                .collect();
            assert_eq!(got, want, "{sizes:?} by {images}/{findings}");
        }
    }
}
