//! Figure (issue #5): scans per minute of small images from a local
//! registry (Debian's `docker-registry` on 127.0.0.1, started by `testkit`)
//! through the fleet scanner: ingest → claim → pull → analyse → match
//! (the demo's advisory set) → store, no layer cache (every layer is pulled
//! and walked).
//!
//! `cargo run -p engine --example fleet_scan_rate [--release] -- [IMAGES] [CONCURRENCY] [PER_REGISTRY] [per-image|shared]`
//! (defaults 60, 4, 4, per-image: the advisory index each scan matches
//! against, `engine::fleet::IndexMode`). `REMATCH_ADVISORY_DIR` (a data
//! directory with a full database, e.g. the `rematch_fleet` example's)
//! replaces the demo's small advisory set.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark: stdout is its report

use std::sync::Arc;
use std::time::Instant;

use engine::fleet::{FleetConfig, FleetScanner, IndexMode};
use engine::locate::{RegistryLocator, StaticCredentials};
use k8s::{ClusterStatus, DigestKind};
use store::fixtures::{container, inventory, workload};
use store::{InventorySource, SqliteStore, Store};
use testkit::{ImageBuilder, LayerBuilder, TestRegistry};
use time::OffsetDateTime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
const PACKAGES: [(&str, &str); 6] = [
    ("openssl", "3.0.9-1"),
    ("tar", "1.34+dfsg-1.2"),
    ("curl", "7.88.1-10"),
    ("perl", "5.36.0-7"),
    ("zlib", "1:1.2.13.dfsg-1"),
    ("coreutils", "9.1-1"),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let images: usize = args.next().map_or(Ok(60), |n| n.parse())?;
    let concurrency: usize = args.next().map_or(Ok(4), |n| n.parse())?;
    let per_registry: usize = args.next().map_or(Ok(4), |n| n.parse())?;
    let index = match args.next().as_deref() {
        None | Some("per-image") => IndexMode::PerImage,
        Some("shared") => IndexMode::Shared,
        Some(other) => return Err(format!("unknown index mode {other:?}").into()),
    };
    let Some(registry) = TestRegistry::start() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let db = match std::env::var_os("REMATCH_ADVISORY_DIR") {
        Some(data_dir) => vulndb::VulnDb::open_existing(std::path::Path::new(&data_dir))
            .await?
            .ok_or("no advisory database in REMATCH_ADVISORY_DIR")?,
        None => {
            let set = demo::build(&dir.path().join("demo"), OffsetDateTime::now_utc())?;
            let db = vulndb::VulnDb::open(&dir.path().join("data")).await?;
            vulndb::import_paths(&db, &set.advisory_files, &mut |_| {}).await?;
            db
        }
    };

    let status: String = PACKAGES
        .iter()
        .map(|(name, version)| {
            format!("Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n")
        })
        .collect();
    let client = registry.client();
    let mut workloads = Vec::new();
    let mut bytes = 0;
    for i in 0..images {
        let repository = format!("rate/image-{i}");
        let image = ImageBuilder::oci()
            .layer(
                LayerBuilder::new()
                    .file("etc/os-release", OS_RELEASE, 0o644)
                    .file("var/lib/dpkg/status", status.clone(), 0o644)
                    .file("srv/label", format!("{i}\n"), 0o644),
            )
            .layer(LayerBuilder::new().file("srv/app/main.py", format!("print({i})\n"), 0o644))
            .build()?;
        bytes += image.layers.iter().map(|l| l.blob.len()).sum::<usize>();
        let digest = client.push(&repository, "1.0", &image)?;
        workloads.push(workload(
            "apps",
            &format!("app-{i}"),
            &[("app", "rate")],
            vec![container(
                "main",
                &format!("{}/{repository}:1.0", registry.host()),
                Some((digest, DigestKind::Manifest)),
                "linux/amd64",
                true,
            )],
        ));
    }
    let store = Arc::new(SqliteStore::open(&dir.path().join("store")).await?);
    let now = OffsetDateTime::now_utc();
    store
        .apply_snapshot(
            &inventory("rate", now, ClusterStatus::Ok, workloads),
            InventorySource::Local,
            now,
        )
        .await?;

    let credentials =
        StaticCredentials::new(oci::ClientConfig::default(), oci::CredentialStore::new())?;
    let scanner = FleetScanner::new(
        store.clone(),
        Arc::new(RegistryLocator::new(credentials)),
        db,
        Arc::new(analyze::default_analyzers()),
        FleetConfig {
            concurrency,
            per_registry,
            index,
            ..FleetConfig::default()
        },
    );
    let started = Instant::now();
    let summary = scanner.run_until_idle().await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "FIGURE (issue #5): {} small images ({} layers each, {:.1} KiB of layers on average) \
         scanned, matched and stored in {elapsed:.1} s at concurrency {concurrency} \
         ({per_registry} per registry, {index:?} index): {:.0} scans per minute; {} failed",
        summary.scanned,
        2,
        bytes as f64 / images.max(1) as f64 / 1024.0,
        summary.scanned as f64 * 60.0 / elapsed,
        summary.failed
    );
    Ok(())
}
