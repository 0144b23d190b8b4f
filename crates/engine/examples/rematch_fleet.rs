//! Figure (issue #5): re-match of every stored inventory of a 10,000-image
//! fleet after an advisory database update, through the real path —
//! `engine::rematch::rematch_all` over a `SqliteStore` and the advisory
//! database of all of `shared/vulndata` (findings and package summaries
//! written back with `replace_findings`).
//!
//! `cargo run -p engine --example rematch_fleet [--release] -- [DIR] [IMAGES]`
//!
//! DIR (default: a temporary directory) holds the advisory database
//! (`DIR/data`, imported from `shared/vulndata` unless it exists or
//! `REMATCH_ADVISORY_DIR` names another data directory) and the store
//! (`DIR/store`, generated unless it already holds the fleet). The fleet:
//! IMAGES (default 10,000) images, each stored as scanned against database
//! version 0 with an inventory generated from the advisory data (the
//! generator of `vulndb`'s `rematch` bench: Debian/Ubuntu/Alpine/AlmaLinux
//! bases with 100–400 OS packages at versions the advisories name, half of
//! them with PyPI/Go/crates.io/RubyGems/npm/Maven packages). Then it times
//! one re-match against the current version (every image stale) and a second
//! one (every image current: skipped). `REMATCH_FORCE=1` re-matches a
//! reused fleet that is already current (the same findings rewritten).
//!
//! The first re-match of a generated fleet writes every finding (no findings
//! → 3.95 M), which is a first scan's write rather than an update's. A
//! realistic update follows: `REMATCH_UPDATE_SHARE` (default 0.05; 0 skips
//! it) of the advisory IDs are changed through one `vulndb::ImportTx` — half
//! withdrawn, half revised (their details text) — and every image is
//! re-matched against the new version.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark: stdout is its report

use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::rematch::{RematchConfig, rematch_all};
use k8s::{ClusterStatus, DigestKind};
use store::fixtures::{analyzers, container, digest, inventory as cluster, metadata, workload};
use store::{InventorySource, ScanRecord, SqliteStore, Store};
use time::OffsetDateTime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SEED: u64 = 0x5eed_0005;
const CLAIM_BATCH: u32 = 500;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) the process used so far: with other work
/// on the machine, wall time alone misleads.
fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, after the parenthesised name, in
    // clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let scratch;
    let dir = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_owned()
        }
    };
    let images: usize = args.next().map_or(Ok(10_000), |n| n.parse())?;
    let vulndata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndata");

    let data_dir =
        std::env::var_os("REMATCH_ADVISORY_DIR").map_or_else(|| dir.join("data"), PathBuf::from);
    let db = match vulndb::VulnDb::open_existing(&data_dir).await? {
        Some(db) if db.version().await?.database_version > 0 => db,
        _ => {
            if !vulndata.is_dir() {
                eprintln!("skipped: {} not found", vulndata.display());
                return Ok(());
            }
            let db = vulndb::VulnDb::open(&data_dir).await?;
            let started = Instant::now();
            vulndb::import_paths(&db, &[vulndata], &mut |_| {}).await?;
            println!("import of shared/vulndata: {:.1?}", started.elapsed());
            db
        }
    };
    let version = db.version().await?.database_version;

    let store = SqliteStore::open(&dir.join("store")).await?;
    let stored = store.targets(store::Page::first(1)).await?.total;
    if stored < images as u64 {
        let started = Instant::now();
        let pools = Pools::read(db.path()).await?;
        let packages = generate(&store, &pools, images).await?;
        println!(
            "generated and stored {images} scanned images ({packages} packages) in {:.1?}",
            started.elapsed()
        );
    } else {
        println!("reusing the {stored} stored images in {}", dir.display());
    }

    // REMATCH_FORCE=1: re-match a fleet already matched against this
    // version (a reused DIR) as if the database had changed.
    let config = RematchConfig {
        force: std::env::var_os("REMATCH_FORCE").is_some_and(|v| v == "1"),
        ..RematchConfig::default()
    };
    println!(
        "re-matching against database version {version} (batches of {}, {} workers)",
        config.batch, config.workers
    );
    let cpu = cpu_seconds();
    let first = rematch_all(&store, &db, &config).await?;
    println!("  (process CPU {:.1} s)", cpu_seconds() - cpu);
    println!(
        "FIGURE (issue #5, target < 60 s): re-matched {} stored inventories in {:.1} s; \
         {} findings new since the previous database, {} gone (index load {:.1} s, matching {:.1} s, \
         store writes {:.1} s); peak RSS {:.0} MiB",
        first.images,
        first.elapsed.as_secs_f64(),
        first.findings_added,
        first.findings_removed,
        first.loading.as_secs_f64(),
        first.matching.as_secs_f64(),
        first.writing.as_secs_f64(),
        peak_rss_mib()
    );
    let second = rematch_all(&store, &db, &RematchConfig::default()).await?;
    println!(
        "second re-match (nothing stale): {} re-matched, {} skipped in {:.1} s",
        second.images,
        second.skipped,
        second.elapsed.as_secs_f64()
    );

    let share: f64 = std::env::var("REMATCH_UPDATE_SHARE")
        .ok()
        .map_or(Ok(0.05), |v| v.parse())?;
    if share > 0.0 {
        let started = Instant::now();
        let (withdrawn, revised, version) = simulate_update(&db, share).await?;
        println!(
            "database update to version {version}: {withdrawn} advisory IDs withdrawn, \
             {revised} revised ({:.0}% of IDs) in {:.1?}",
            share * 100.0,
            started.elapsed()
        );
        let cpu = cpu_seconds();
        let update = rematch_all(&store, &db, &RematchConfig::default()).await?;
        println!("  (process CPU {:.1} s)", cpu_seconds() - cpu);
        println!(
            "FIGURE (issue #5, target < 60 s), realistic update: re-matched {} stored inventories \
             in {:.1} s; {} findings new since the previous database, {} gone (index load {:.1} s, \
             matching {:.1} s, store writes {:.1} s, longest write {:.0} ms); peak RSS {:.0} MiB",
            update.images,
            update.elapsed.as_secs_f64(),
            update.findings_added,
            update.findings_removed,
            update.loading.as_secs_f64(),
            update.matching.as_secs_f64(),
            update.writing.as_secs_f64(),
            update.longest_write.as_secs_f64() * 1000.0,
            peak_rss_mib()
        );
    }
    Ok(())
}

/// A database update touching `share` of the advisory IDs (picked with a
/// seed derived from the current version, so repeated runs change others):
/// half withdrawn, half revised. Every row under a picked (feed, ID) is
/// rewritten, since `ImportTx::upsert` replaces by ID. Returns (withdrawn,
/// revised, the new database version).
async fn simulate_update(db: &vulndb::VulnDb, share: f64) -> Result<(usize, usize, i64), BoxError> {
    use futures_util::TryStreamExt;
    use sqlx::Row;
    use std::collections::BTreeMap;

    let version = db.version().await?.database_version;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.path())
                .read_only(true),
        )
        .await?;
    let feeds: Vec<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT name, kind, origin, cursor FROM feed ORDER BY name")
            .fetch_all(&pool)
            .await?;
    let mut rng = fastrand::Rng::with_seed(SEED ^ version.unsigned_abs());
    // (feed, advisory ID) → Some(withdraw?) when picked, None when kept.
    let mut choices: BTreeMap<(String, String), Option<bool>> = BTreeMap::new();
    let mut revised: BTreeMap<String, Vec<model::Advisory>> = BTreeMap::new();
    let mut rows =
        sqlx::query("SELECT feed, advisory_id, body FROM advisory ORDER BY id").fetch(&pool);
    while let Some(row) = rows.try_next().await? {
        let feed: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let choice = *choices
            .entry((feed.clone(), id))
            .or_insert_with(|| (rng.f64() < share).then(|| rng.bool()));
        if choice == Some(false) {
            let body: &[u8] = row.try_get(2)?;
            let mut advisory: model::Advisory = serde_json::from_slice(&zstd::decode_all(body)?)?;
            advisory.details = Some(format!(
                "{} (revised in database version {})",
                advisory.details.unwrap_or_default(),
                version + 1
            ));
            revised.entry(feed).or_default().push(advisory);
        }
    }
    drop(rows);
    pool.close().await;

    let mut withdrawn_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut withdrawn, mut revised_ids) = (0, 0);
    for ((feed, id), choice) in choices {
        match choice {
            Some(true) => {
                withdrawn += 1;
                withdrawn_ids.entry(feed).or_default().push(id);
            }
            Some(false) => revised_ids += 1,
            None => {}
        }
    }
    let mut tx = db.begin_import().await?;
    for (name, kind, origin, cursor) in feeds {
        let advisories = revised.remove(&name).unwrap_or_default();
        let removed = withdrawn_ids.remove(&name).unwrap_or_default();
        if advisories.is_empty() && removed.is_empty() {
            continue;
        }
        let report = advisory::ImportReport {
            imported: advisories.len() as u64,
            ..advisory::ImportReport::default()
        };
        tx.upsert(
            vulndb::FeedInfo {
                name,
                kind,
                origin,
                cursor,
            },
            advisories,
            &removed,
            Vec::new(),
            &report,
        )
        .await?;
    }
    let version = tx.commit().await?;
    Ok((withdrawn, revised_ids, version))
}

/// Ingests one cluster running `count` images, then claims and completes
/// every target with a generated inventory matched against nothing (db 0).
async fn generate(store: &SqliteStore, pools: &Pools, count: usize) -> Result<usize, BoxError> {
    let now = OffsetDateTime::now_utc();
    let workloads = (0..count)
        .map(|i| {
            workload(
                &format!("ns-{}", i % 50),
                &format!("app-{i}"),
                &[("app", "bench")],
                vec![container(
                    "main",
                    &format!("registry.example.com/team{}/app-{i}:1.0", i % 20),
                    Some((digest(&format!("bench-image-{i}")), DigestKind::Manifest)),
                    "linux/amd64",
                    true,
                )],
            )
        })
        .collect();
    store
        .apply_snapshot(
            &cluster("bench", now, ClusterStatus::Ok, workloads),
            InventorySource::Local,
            now,
        )
        .await?;
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut packages = 0;
    loop {
        let jobs = store.claim_scan_jobs(CLAIM_BATCH, now).await?;
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            let store::TargetReference::Digest { digest } = &job.target.reference else {
                continue;
            };
            let inventory = inventory(&mut rng, pools);
            packages += inventory.packages.len();
            let record = ScanRecord {
                metadata: metadata(&job.target.repository, Some("1.0"), digest, 2),
                inventory,
                analyzer_versions: analyzers(),
                findings: Vec::new(),
                packages: Vec::new(),
                db_version: 0,
            };
            store.complete_scan(job.target.id, &record, now).await?;
        }
    }
    Ok(packages)
}

// The inventory generator shared with `vulndb`'s `rematch` bench.
#[path = "../../vulndb/benches/support/synthetic_fleet.rs"]
mod synthetic_fleet;
use synthetic_fleet::{Pools, inventory};
