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

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark: stdout is its report

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::rematch::{RematchConfig, rematch_all};
use futures_util::TryStreamExt;
use k8s::{ClusterStatus, DigestKind};
use model::{
    Advisory, Evidence, ImageInventory, OsFamily, OsInfo, Package, PackageKind, RangeEvent,
    RequirementKind, SourcePackage,
};
use sqlx::Row;
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
    let first = rematch_all(&store, &db, &config).await?;
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
    let second = rematch_all(&store, &db, &config).await?;
    println!(
        "second re-match (nothing stale): {} re-matched, {} skipped in {:.1} s",
        second.images,
        second.skipped,
        second.elapsed.as_secs_f64()
    );
    Ok(())
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

// ---- The inventory generator of `vulndb`'s `rematch` bench ----------------

/// Advisory ecosystem (`Debian:11`) → package name → versions the
/// advisories name (range bounds, listed versions, patched floors).
#[derive(Default)]
struct Pools {
    by_ecosystem: BTreeMap<String, Vec<(String, Vec<String>)>>,
}

impl Pools {
    async fn read(advisory_db: &Path) -> Result<Pools, BoxError> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(advisory_db)
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let mut names: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        let mut rows = sqlx::query("SELECT body FROM advisory ORDER BY id").fetch(&pool);
        while let Some(row) = rows.try_next().await? {
            let body: &[u8] = row.try_get(0)?;
            let json = zstd::decode_all(body)?;
            let advisory: Advisory = serde_json::from_slice(&json)?;
            for affected in &advisory.affected {
                let versions = names
                    .entry(affected.ecosystem.clone())
                    .or_default()
                    .entry(affected.name.clone())
                    .or_default();
                for event in affected.ranges.iter().flat_map(|r| &r.events) {
                    match event {
                        RangeEvent::Introduced(v) if v == "0" => {}
                        RangeEvent::Introduced(v)
                        | RangeEvent::Fixed(v)
                        | RangeEvent::LastAffected(v) => {
                            versions.insert(v.clone());
                        }
                        RangeEvent::Limit(_) => {}
                    }
                }
                versions.extend(affected.versions.iter().cloned());
                for requirement in &affected.unaffected_requirements {
                    if requirement.kind != RequirementKind::Patched {
                        continue;
                    }
                    for constraint in requirement.requirement.split(',') {
                        let floor = constraint.trim().trim_start_matches(['>', '=', '~', ' ']);
                        if !floor.is_empty() && !constraint.trim().starts_with('<') {
                            versions.insert(floor.to_owned());
                        }
                    }
                }
            }
        }
        drop(rows);
        pool.close().await;
        let by_ecosystem = names
            .into_iter()
            .map(|(ecosystem, names)| {
                let names = names
                    .into_iter()
                    .filter(|(_, versions)| !versions.is_empty())
                    .map(|(name, versions)| (name, versions.into_iter().collect()))
                    .collect();
                (ecosystem, names)
            })
            .collect();
        Ok(Pools { by_ecosystem })
    }

    fn names(&self, ecosystem: &str) -> &[(String, Vec<String>)] {
        self.by_ecosystem.get(ecosystem).map_or(&[], Vec::as_slice)
    }
}

const NPM: [(&str, &str); 8] = [
    ("lodash", "4.17.20"),
    ("express", "4.17.1"),
    ("minimist", "1.2.5"),
    ("axios", "0.21.1"),
    ("semver", "7.3.5"),
    ("debug", "2.6.9"),
    ("qs", "6.7.0"),
    ("ws", "7.4.5"),
];
const MAVEN: [(&str, &str); 6] = [
    ("org.apache.logging.log4j:log4j-core", "2.14.1"),
    ("com.fasterxml.jackson.core:jackson-databind", "2.12.3"),
    ("org.springframework:spring-core", "5.3.8"),
    ("org.yaml:snakeyaml", "1.29"),
    ("commons-io:commons-io", "2.6"),
    ("com.google.guava:guava", "30.1-jre"),
];

#[derive(Clone, Copy)]
enum Base {
    Debian11,
    Debian12,
    Ubuntu2204,
    Alpine(u8),
    AlmaLinux(u8),
}

impl Base {
    fn pick(rng: &mut fastrand::Rng) -> Base {
        match rng.u32(0..100) {
            0..30 => Base::Debian11,
            30..45 => Base::Debian12,
            45..55 => Base::Ubuntu2204,
            55..80 => Base::Alpine(rng.u8(3..=11)),
            80..92 => Base::AlmaLinux(8),
            _ => Base::AlmaLinux(9),
        }
    }

    fn os(self) -> OsInfo {
        let (family, id, version, codename) = match self {
            Base::Debian11 => (
                OsFamily::Debian,
                "debian",
                "11".to_owned(),
                Some("bullseye"),
            ),
            Base::Debian12 => (
                OsFamily::Debian,
                "debian",
                "12".to_owned(),
                Some("bookworm"),
            ),
            Base::Ubuntu2204 => (
                OsFamily::Ubuntu,
                "ubuntu",
                "22.04".to_owned(),
                Some("jammy"),
            ),
            Base::Alpine(minor) => (OsFamily::Alpine, "alpine", format!("3.{minor}.2"), None),
            Base::AlmaLinux(major) => {
                (OsFamily::AlmaLinux, "almalinux", format!("{major}.4"), None)
            }
        };
        OsInfo {
            family,
            id: id.to_owned(),
            version_id: Some(version),
            codename: codename.map(str::to_owned),
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }
    }

    fn pool(self) -> (PackageKind, String) {
        match self {
            Base::Debian11 | Base::Debian12 | Base::Ubuntu2204 => {
                (PackageKind::Deb, "Debian:11".to_owned())
            }
            Base::Alpine(minor) => (PackageKind::Apk, format!("Alpine:v3.{minor}")),
            Base::AlmaLinux(major) => (PackageKind::Rpm, format!("AlmaLinux:{major}")),
        }
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    items.get(rng.usize(..items.len()))
}

fn package(kind: PackageKind, name: &str, version: String, layer: u32) -> Package {
    let mut package = Package::new(kind, name, version);
    package.evidence = Evidence {
        path: match kind {
            PackageKind::Deb => "var/lib/dpkg/status".to_owned(),
            PackageKind::Apk => "lib/apk/db/installed".to_owned(),
            PackageKind::Rpm => "var/lib/rpm/rpmdb.sqlite".to_owned(),
            _ => format!("app/{name}"),
        },
        layer_index: Some(layer),
        layer_diff_id: None,
        analyzer: None,
    };
    package
}

fn inventory(rng: &mut fastrand::Rng, pools: &Pools) -> ImageInventory {
    let base = Base::pick(rng);
    let (kind, ecosystem) = base.pool();
    let os_names = pools.names(&ecosystem);
    let mut packages = Vec::new();
    let mut seen = BTreeSet::new();
    let wanted = rng.usize(100..=400);
    for _ in 0..wanted.min(os_names.len()) {
        let Some((name, versions)) = pick(rng, os_names) else {
            break;
        };
        if !seen.insert(name.as_str()) {
            continue;
        }
        let Some(version) = pick(rng, versions) else {
            continue;
        };
        let mut os_package = package(kind, name, version.clone(), 0);
        if kind == PackageKind::Deb {
            os_package.source = Some(SourcePackage {
                name: name.clone(),
                version: None,
            });
        }
        packages.push(os_package);
    }
    if rng.bool() {
        for _ in 0..rng.usize(1..=2) {
            let count = rng.usize(20..=200);
            match rng.u8(0..6) {
                0 => language(
                    rng,
                    pools,
                    &mut packages,
                    "PyPI",
                    PackageKind::Python,
                    count,
                ),
                1 => language(
                    rng,
                    pools,
                    &mut packages,
                    "Go",
                    PackageKind::GoModule,
                    count,
                ),
                2 => language(
                    rng,
                    pools,
                    &mut packages,
                    "crates.io",
                    PackageKind::Cargo,
                    count,
                ),
                3 => language(
                    rng,
                    pools,
                    &mut packages,
                    "RubyGems",
                    PackageKind::Gem,
                    count,
                ),
                4 => fixed_list(&mut packages, PackageKind::Npm, &NPM),
                _ => fixed_list(&mut packages, PackageKind::Maven, &MAVEN),
            }
        }
    }
    packages.sort_by(|a, b| {
        (a.kind, &a.name, &a.version, &a.evidence.path).cmp(&(
            b.kind,
            &b.name,
            &b.version,
            &b.evidence.path,
        ))
    });
    ImageInventory {
        os: Some(base.os()),
        packages,
        diagnostics: Vec::new(),
    }
}

fn language(
    rng: &mut fastrand::Rng,
    pools: &Pools,
    packages: &mut Vec<Package>,
    ecosystem: &str,
    kind: PackageKind,
    count: usize,
) {
    let names = pools.names(ecosystem);
    for _ in 0..count {
        let Some((name, versions)) = pick(rng, names) else {
            return;
        };
        let Some(version) = pick(rng, versions) else {
            continue;
        };
        let version = match kind {
            PackageKind::GoModule if name == "stdlib" => format!("go{version}"),
            PackageKind::GoModule => format!("v{version}"),
            _ => version.clone(),
        };
        packages.push(package(kind, name, version, 1));
    }
}

fn fixed_list(packages: &mut Vec<Package>, kind: PackageKind, list: &[(&str, &str)]) {
    for (name, version) in list {
        packages.push(package(kind, name, (*version).to_owned(), 1));
    }
}
