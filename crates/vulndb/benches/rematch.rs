//! Re-matching a fleet's stored inventories against the full advisory
//! database (issue #3: 10,000 stored inventories re-matched < 60 s on 2 cores).
//!
//! `cargo bench -p vulndb --bench rematch` — imports all of
//! `shared/vulndata` into a scratch advisory database (or uses
//! `REMATCH_ADVISORY_DIR`, a data directory holding one), loads the full
//! index, generates `REMATCH_INVENTORIES` (default 10,000) image inventories
//! from the advisory data with a fixed seed, stores them as the server will
//! (zstd-compressed serde JSON of `ImageInventory` in a SQLite table), then
//! reads every one back, deserializes and matches it on two worker threads,
//! and reports the total time, the per-inventory median, the findings count
//! and the peak RSS.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use model::ImageInventory;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_INVENTORIES: usize = 10_000;
const SEED: u64 = 0x5eed_0003;
const WORKERS: usize = 2;
/// zstd level for stored inventories, as for advisory bodies.
const LEVEL: i32 = 3;
/// A stored body never decompresses beyond this.
const MAX_BODY_BYTES: u64 = 256 << 20;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), BoxError> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndata");
    if !root.is_dir() {
        eprintln!("skipped: {} not found", root.display());
        return Ok(());
    }
    let inventories = std::env::var("REMATCH_INVENTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_INVENTORIES);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scratch = tempfile::tempdir()?;
    let (index, store) = runtime.block_on(prepare(&root, scratch.path(), inventories))?;
    let started = Instant::now();
    let outcome = rematch(&runtime, &store, &index)?;
    let total = started.elapsed();
    runtime.block_on(store.close());
    report(outcome, total);
    Ok(())
}

/// The advisory database and its full index, and the stored fleet.
async fn prepare(
    root: &Path,
    scratch: &Path,
    inventories: usize,
) -> Result<(matching::AdvisoryIndex, SqlitePool), BoxError> {
    let advisory_dir = match std::env::var_os("REMATCH_ADVISORY_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = scratch.join("advisories");
            let db = vulndb::VulnDb::open(&dir).await?;
            let started = Instant::now();
            vulndb::import_paths(&db, &[root.to_owned()], &mut |_| {}).await?;
            db.close().await;
            println!("import of vulndata: {:.2?}", started.elapsed());
            dir
        }
    };
    let Some(db) = vulndb::VulnDb::open_existing(&advisory_dir).await? else {
        return Err(format!("no advisory database in {}", advisory_dir.display()).into());
    };
    let started = Instant::now();
    let loaded = db.load_index().await?;
    println!(
        "load_index: {} advisories in {:.2?}; peak RSS so far {:.0} MiB",
        loaded.index.len(),
        started.elapsed(),
        peak_rss_mib()
    );

    let started = Instant::now();
    let pools = Pools::read(db.path()).await?;
    db.close().await;
    let store = open_store(&scratch.join("inventories.sqlite")).await?;
    let stored = generate_and_store(&store, &pools, inventories).await?;
    drop(pools);
    println!(
        "generated and stored {inventories} inventories ({} packages, {:.1} MiB compressed) in {:.2?}",
        stored.packages,
        stored.bytes as f64 / 1048576.0,
        started.elapsed()
    );

    Ok((loaded.index, store))
}

fn report(outcome: Outcome, total: Duration) {
    let mut times = outcome.times;
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len().max(1)).unwrap_or(1);
    let p99 = times
        .get(times.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    println!(
        "re-matched {} inventories on {WORKERS} workers in {total:.2?}: median {median:.2?} per inventory (mean {mean:.2?}, p99 {p99:.2?}, max {:.2?}); {} findings, {} diagnostics; {} with findings",
        times.len(),
        times.last().copied().unwrap_or_default(),
        outcome.findings,
        outcome.diagnostics,
        outcome.with_findings,
    );
    println!("diagnostics by code: {:?}", outcome.codes);
    if let Some(digest) = outcome.digest {
        println!("findings digest (REMATCH_DIGEST): {digest:016x}");
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
    println!(
        "FIGURE (issue #3, target < 60 s on 2 cores): {} stored inventories re-matched in {:.1} s",
        times.len(),
        total.as_secs_f64()
    );
}

#[path = "support/synthetic_fleet.rs"]
mod synthetic_fleet;
use synthetic_fleet::{Pools, inventory};

async fn open_store(path: &Path) -> Result<SqlitePool, BoxError> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE inventory (id INTEGER PRIMARY KEY, image TEXT NOT NULL, body BLOB NOT NULL)",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

struct Stored {
    packages: usize,
    bytes: usize,
}

/// Generates and inserts one inventory at a time (never the whole fleet in
/// memory), in one transaction.
async fn generate_and_store(
    store: &SqlitePool,
    pools: &Pools,
    count: usize,
) -> Result<Stored, BoxError> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
    let mut tx = store.begin().await?;
    let mut stored = Stored {
        packages: 0,
        bytes: 0,
    };
    for number in 0..count {
        let inventory = inventory(&mut rng, pools);
        stored.packages += inventory.packages.len();
        let json = serde_json::to_vec(&inventory)?;
        let body = compressor.compress(&json)?;
        stored.bytes += body.len();
        sqlx::query("INSERT INTO inventory (image, body) VALUES (?, ?)")
            .bind(format!("sha256:{number:064x}"))
            .bind(body)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// The bulk encoders (ours and `vulndb`'s) record the size: decompress in
/// one call into a reused buffer, with one reused context (creating one
/// per body costs more than decompressing it).
fn decompress(
    decompressor: &mut zstd::bulk::Decompressor<'_>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), BoxError> {
    let size = zstd::zstd_safe::get_frame_content_size(body)
        .ok()
        .flatten()
        .filter(|&size| size <= MAX_BODY_BYTES)
        .ok_or("compressed body without its size, or too large")?;
    out.clear();
    out.reserve(usize::try_from(size)?);
    decompressor.decompress_to_buffer(body, out)?;
    Ok(())
}

struct Outcome {
    /// Per inventory: decompress + deserialize + match.
    times: Vec<Duration>,
    findings: usize,
    diagnostics: usize,
    /// Diagnostic code → count.
    codes: BTreeMap<String, usize>,
    /// With `REMATCH_DIGEST` set: the wrapping sum over inventories of the
    /// first 8 bytes of SHA-256(findings JSON, diagnostics JSON), so two
    /// builds can be shown to give the same results whatever the order
    /// the workers took the inventories in.
    digest: Option<u64>,
    with_findings: usize,
}

/// Streams the stored bodies to [`WORKERS`] threads through a bounded
/// channel; each worker decompresses, deserializes and matches.
fn rematch(
    runtime: &tokio::runtime::Runtime,
    store: &SqlitePool,
    index: &matching::AdvisoryIndex,
) -> Result<Outcome, BoxError> {
    let (sender, receiver) = sync_channel::<Vec<u8>>(256);
    let receiver = Mutex::new(receiver);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| scope.spawn(|| worker(&receiver, index)))
            .collect();
        let read = async {
            let mut rows = sqlx::query("SELECT body FROM inventory ORDER BY id").fetch(store);
            while let Some(row) = rows.try_next().await? {
                let body: Vec<u8> = row.try_get(0)?;
                if sender.send(body).is_err() {
                    break;
                }
            }
            Ok::<(), BoxError>(())
        };
        // Reading is light next to matching: it runs on this thread
        // while the workers use the two cores.
        let read = runtime.block_on(read);
        drop(sender);
        let mut outcome = Outcome {
            times: Vec::new(),
            findings: 0,
            diagnostics: 0,
            codes: BTreeMap::new(),
            digest: None,
            with_findings: 0,
        };
        for worker in workers {
            let part = worker
                .join()
                .map_err(|_| BoxError::from("a worker panicked"))??;
            outcome.times.extend(part.times);
            outcome.findings += part.findings;
            outcome.diagnostics += part.diagnostics;
            if let Some(part) = part.digest {
                outcome.digest = Some(outcome.digest.unwrap_or(0).wrapping_add(part));
            }
            for (code, count) in part.codes {
                *outcome.codes.entry(code).or_default() += count;
            }
            outcome.with_findings += part.with_findings;
        }
        read.map(|()| outcome)
    })
}

fn worker(
    receiver: &Mutex<Receiver<Vec<u8>>>,
    index: &matching::AdvisoryIndex,
) -> Result<Outcome, BoxError> {
    let mut outcome = Outcome {
        times: Vec::new(),
        findings: 0,
        diagnostics: 0,
        codes: BTreeMap::new(),
        digest: std::env::var_os("REMATCH_DIGEST").map(|_| 0),
        with_findings: 0,
    };
    let mut decompressor = zstd::bulk::Decompressor::new()?;
    let mut json = Vec::new();
    loop {
        let next = receiver
            .lock()
            .map_err(|_| BoxError::from("a worker panicked"))?
            .recv();
        let Ok(body) = next else { break };
        let started = Instant::now();
        decompress(&mut decompressor, &body, &mut json)?;
        let inventory: ImageInventory = serde_json::from_slice(&json)?;
        let result = matching::match_image(&inventory, index);
        outcome.times.push(started.elapsed());
        if let Some(sum) = &mut outcome.digest {
            use sha2::Digest as _;
            let mut hasher = sha2::Sha256::new();
            hasher.update(serde_json::to_vec(&result.findings)?);
            hasher.update(serde_json::to_vec(&result.diagnostics)?);
            let digest = hasher.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            *sum = sum.wrapping_add(u64::from_le_bytes(first));
        }
        outcome.findings += result.findings.len();
        outcome.diagnostics += result.diagnostics.len();
        for diagnostic in &result.diagnostics {
            *outcome.codes.entry(diagnostic.code.clone()).or_default() += 1;
        }
        outcome.with_findings += usize::from(!result.findings.is_empty());
    }
    Ok(outcome)
}
