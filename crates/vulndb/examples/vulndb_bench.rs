//! Advisory database figures over `shared/vulndata`, one process per step so
//! each peak RSS (VmHWM) is that step's own:
//!
//! `cargo run -p vulndb --example vulndb_bench -- import DIR` — import all of
//! vulndata into DIR (time, file size);
//! `cargo run -p vulndb --example vulndb_bench -- load DIR` — load the full
//! index (time, advisories, peak RSS).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(step), Some(dir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: vulndb_bench import|load DIR");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    match step.as_str() {
        "import" => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndata");
            if !root.is_dir() {
                eprintln!("skipped: {} not found", root.display());
                return Ok(());
            }
            let db = vulndb::VulnDb::open(&dir).await?;
            let started = Instant::now();
            let summary = vulndb::import_paths(&db, &[root], &mut |_| {}).await?;
            let elapsed = started.elapsed();
            let status = db.status().await?;
            db.close().await;
            let size = std::fs::metadata(dir.join(vulndb::DATABASE_FILE))?.len();
            println!(
                "import: {} feeds, {} advisories in {:.2} s; database {:.1} MiB (status before close {:.1} MiB); peak RSS {:.0} MiB",
                summary.feeds.len(),
                status.feeds.iter().map(|f| f.advisories).sum::<u64>(),
                elapsed.as_secs_f64(),
                size as f64 / 1048576.0,
                status.size_bytes as f64 / 1048576.0,
                peak_rss_mib()
            );
        }
        "load" => {
            let Some(db) = vulndb::VulnDb::open_existing(&dir).await? else {
                eprintln!("no database in {}", dir.display());
                std::process::exit(1);
            };
            let started = Instant::now();
            let loaded = db.load_index().await?;
            println!(
                "load_index: {} advisories in {:.2} s; peak RSS {:.0} MiB",
                loaded.index.len(),
                started.elapsed().as_secs_f64(),
                peak_rss_mib()
            );
        }
        _ => {
            eprintln!("usage: vulndb_bench import|load DIR");
            std::process::exit(2);
        }
    }
    Ok(())
}
