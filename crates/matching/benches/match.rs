//! Matching benchmark over the real `shared/vulndata` snapshots.
//!
//! `cargo bench -p matching --bench match` — imports every advisory source,
//! times the index build, builds a 1,000-package inventory from real package
//! names (Debian packages plus PyPI, Go, crates.io and RubyGems), and reports
//! the median `match_image` time over many runs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use matching::{AdvisoryIndex, match_image};
use model::{
    Advisory, Evidence, ImageInventory, OsFamily, OsInfo, Package, PackageKind, RangeEvent,
};

const PACKAGES: usize = 1_000;
const RUNS: usize = 200;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndata");
    if !root.is_dir() {
        eprintln!("skipped: {} not found", root.display());
        return;
    }
    let started = Instant::now();
    let (advisories, enrichments) = load(&root);
    let import_time = started.elapsed();
    let inventory = inventory(&advisories);
    let count = advisories.len();
    let started = Instant::now();
    let index = AdvisoryIndex::new(advisories, enrichments);
    let build_time = started.elapsed();
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut findings = 0;
    let mut diagnostics = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let result = match_image(&inventory, &index);
        times.push(started.elapsed());
        findings = result.findings.len();
        diagnostics = result.diagnostics.len();
    }
    times.sort();
    // Identical findings before and after a change give the same digest.
    let digest = {
        use sha2::Digest as _;
        let result = match_image(&inventory, &index);
        let json = serde_json::to_vec(&result.findings).unwrap_or_default();
        let text = serde_json::to_vec(&result.diagnostics).unwrap_or_default();
        let mut hasher = sha2::Sha256::new();
        hasher.update(&json);
        hasher.update(&text);
        let digest = hasher.finalize();
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    println!("findings digest (SHA-256 of their JSON): {digest}");
    println!("advisories imported: {count} (import {import_time:.2?})");
    println!(
        "index: {} advisories, {} package keys, build {build_time:.2?}, ~{:.1} MiB heap",
        index.len(),
        index.package_keys(),
        index.approximate_heap_bytes() as f64 / (1024.0 * 1024.0)
    );
    for kind in model::PackageKind::ALL {
        let slice = ImageInventory {
            os: inventory.os.clone(),
            packages: inventory
                .packages
                .iter()
                .filter(|p| p.kind == kind)
                .cloned()
                .collect(),
            diagnostics: Vec::new(),
        };
        if slice.packages.is_empty() {
            continue;
        }
        let mut slice_times: Vec<Duration> = (0..RUNS / 4)
            .map(|_| {
                let started = Instant::now();
                let _ = match_image(&slice, &index);
                started.elapsed()
            })
            .collect();
        slice_times.sort();
        println!(
            "  {kind}: {} packages, {} findings, median {:.2?}",
            slice.packages.len(),
            match_image(&slice, &index).findings.len(),
            slice_times[slice_times.len() / 2]
        );
        if std::env::var_os("BENCH_SLOWEST").is_some() {
            let mut each: Vec<(Duration, &str, usize)> = slice
                .packages
                .iter()
                .map(|p| {
                    let one = ImageInventory {
                        os: inventory.os.clone(),
                        packages: vec![p.clone()],
                        diagnostics: Vec::new(),
                    };
                    let started = Instant::now();
                    let n = match_image(&one, &index).findings.len();
                    (started.elapsed(), p.name.as_str(), n)
                })
                .collect();
            each.sort();
            for (time, name, n) in each.iter().rev().take(5) {
                println!("    {name}: {time:.2?}, {n} findings");
            }
        }
    }
    println!(
        "match_image over {} packages: median {:.2?}, min {:.2?}, max {:.2?} ({RUNS} runs, {findings} findings, {diagnostics} diagnostics)",
        inventory.packages.len(),
        times[RUNS / 2],
        times[0],
        times[RUNS - 1]
    );
    println!(
        "FIGURE (issue #3, target < 5 ms): median match_image over {} packages = {:.3} ms",
        inventory.packages.len(),
        times[RUNS / 2].as_secs_f64() * 1000.0
    );
}

fn load(root: &Path) -> (Vec<Advisory>, Vec<model::CveEnrichment>) {
    let mut report = advisory::ImportReport::default();
    let mut advisories = Vec::new();
    let mut sink = |a: Advisory| advisories.push(a);
    let dirs: [PathBuf; 4] =
        ["osv/Go", "osv/crates.io", "osv/AlmaLinux", "osv-yaml/PyPI"].map(|d| root.join(d));
    for dir in &dirs {
        if let Err(error) = advisory::import_osv_dir(dir, &mut report, &mut sink) {
            eprintln!("{}: {error}", dir.display());
        }
    }
    let results = [
        advisory::import_rubysec_dir(&root.join("rubysec"), &mut report, &mut sink),
        advisory::import_alpine_secdb_dir(&root.join("alpine-secdb"), &mut report, &mut sink),
        advisory::import_debian_advisory_lists_dir(
            &root.join("debian-tracker"),
            &mut report,
            &mut sink,
        ),
    ];
    for error in results.into_iter().filter_map(Result::err) {
        eprintln!("import: {error}");
    }
    let mut enrichments = Vec::new();
    if let Err(error) = advisory::import_kev_file(
        &root.join("kev/known_exploited_vulnerabilities.json"),
        &mut report,
        &mut |e| enrichments.push(e),
    ) {
        eprintln!("kev: {error}");
    }
    (advisories, enrichments)
}

/// Exactly [`PACKAGES`] real names, each with a version taken from the data
/// (an `introduced` or `fixed` bound, or the floor of a RubySec "patched"
/// requirement), so every package exercises version evaluation. Each
/// ecosystem gets its share; an ecosystem with too few names leaves its
/// remainder to the others, in order.
fn inventory(advisories: &[Advisory]) -> ImageInventory {
    let shares: [(&str, PackageKind, usize); 5] = [
        ("Debian:11", PackageKind::Deb, 250),
        ("PyPI", PackageKind::Python, 250),
        ("Go", PackageKind::GoModule, 200),
        ("crates.io", PackageKind::Cargo, 150),
        ("RubyGems", PackageKind::Gem, 150),
    ];
    let mut candidates: Vec<std::vec::IntoIter<Package>> = shares
        .iter()
        .map(|&(ecosystem, kind, _)| candidates(advisories, ecosystem, kind).into_iter())
        .collect();
    let mut packages = Vec::with_capacity(PACKAGES);
    for (names, &(_, _, share)) in candidates.iter_mut().zip(&shares) {
        packages.extend(names.take(share));
    }
    for names in &mut candidates {
        let missing = PACKAGES.saturating_sub(packages.len());
        packages.extend(names.take(missing));
    }
    if packages.len() != PACKAGES {
        eprintln!(
            "warning: the data gives only {} packages, not {PACKAGES}",
            packages.len()
        );
    }
    ImageInventory {
        os: Some(OsInfo {
            family: OsFamily::Debian,
            id: "debian".to_owned(),
            version_id: Some("11".to_owned()),
            codename: Some("bullseye".to_owned()),
            pretty_name: None,
            path: "etc/os-release".to_owned(),
        }),
        packages,
        diagnostics: Vec::new(),
    }
}

/// Every distinct package name of `ecosystem`, in data order, with a version
/// the data names for it.
fn candidates(advisories: &[Advisory], ecosystem: &str, kind: PackageKind) -> Vec<Package> {
    let mut seen = BTreeSet::new();
    let mut packages = Vec::new();
    for affected in advisories
        .iter()
        .flat_map(|a| &a.affected)
        .filter(|a| a.ecosystem == ecosystem)
    {
        if seen.contains(&affected.name) {
            continue;
        }
        let bound = affected
            .ranges
            .iter()
            .flat_map(|r| &r.events)
            .find_map(|e| match e {
                RangeEvent::Introduced(v) if v != "0" => Some(v.clone()),
                RangeEvent::Fixed(v) => Some(v.clone()),
                _ => None,
            })
            .or_else(|| {
                // RubySec: `>= 1.2.3, < 2` → `1.2.3`.
                let requirement = affected.unaffected_requirements.first()?;
                let first = requirement.requirement.split(',').next()?;
                let floor = first
                    .trim()
                    .trim_start_matches(['<', '>', '=', '~', '!', ' ']);
                (!floor.is_empty()).then(|| floor.trim().to_owned())
            });
        let Some(version) = bound else { continue };
        seen.insert(affected.name.clone());
        let version = match kind {
            PackageKind::GoModule if affected.name == "stdlib" => format!("go{version}"),
            PackageKind::GoModule => format!("v{version}"),
            _ => version,
        };
        let mut package = Package::new(kind, affected.name.clone(), version);
        package.evidence = Evidence {
            path: format!("/bench/{}", affected.name),
            layer_index: Some(0),
            layer_diff_id: None,
            analyzer: None,
        };
        packages.push(package);
    }
    packages
}
