//! Fleet benchmark for the store (issue #5 figures). A deterministic, seeded
//! generator makes 100 clusters with 100,000 pods (≈33,000 workloads, 1,000
//! pods per cluster), 10,000 images in 2,000 repositories and 2,000,000
//! findings (200 per image), all written through the `Store` API (snapshots,
//! claim/complete_scan); then it measures, in one run:
//!
//! The last 50 images (10 repositories × 5 versions, 3 layers, created a
//! day apart) are base images; every other image is built on one of them
//! (their 3 layers, then 5 of its own), so base-image remediation has rows
//! and newer bases with fewer findings to suggest.
//!
//! 1. ingest of one 10,000-pod snapshot (a 101st cluster; first apply, then
//!    a steady-state re-apply),
//! 2. p50/p95 of each report query over many calls with varied filters,
//! 3. the database file size and the process's peak RSS.
//!
//! `cargo run -p store --example fleet [--profile release] -- [DIR] [SCALE] [MODE]`
//! (DIR: where to put the database, default a temp dir; SCALE: a fraction of
//! the fleet, default 1.0; MODE: `queries` reuses a fleet generated before in
//! DIR, `generate` only writes the fleet and stops, leaving DIR exactly the
//! 100-cluster fleet for `bench/server-load.sh`; `ingest-body FILE` writes
//! the 10,000-pod snapshot of phase 1 as an agent message (`k8s::wire`, JSON)
//! to FILE and stops, for the HTTP ingest figure — DIR is not touched).

#![allow(clippy::print_stdout)] // a command-line benchmark: stdout is its report

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s::wire::{AgentMessage, MessageBody, PROTOCOL_VERSION, Snapshot};
use k8s::{ClusterInventory, ClusterStatus, DigestKind, Workload};
use model::{Finding, Severity};
use store::fixtures::{
    Rng, at, container, digest, finding, inventory, metadata, scan_record, workload,
};
use store::{
    Direction, ExceptionScope, ImageStatus, NewException, Page, ReportFilter, RepositorySortField,
    SearchText, Sort, SqliteStore, Store, VulnerabilitySortField, parse_selector,
};

const SEED: u64 = 0x5eed_f1ee7;
const CLUSTERS: usize = 100;
const PODS_PER_CLUSTER: usize = 1_000;
const IMAGES: usize = 10_000;
const IMAGES_PER_REPOSITORY: usize = 5;
const FINDINGS_PER_IMAGE: usize = 200;
const VULNERABILITIES: u64 = 30_000;
const PACKAGES: u64 = 2_000;
const NAMESPACES: usize = 20;
const TEAMS: u64 = 20;
const SAMPLES: usize = 40;
/// The last `BASE_IMAGES` images are base images (`IMAGES_PER_REPOSITORY`
/// versions of each base repository), so a scaled-down fleet has them too.
const BASE_IMAGES: usize = 50;
const BASE_LAYERS: u32 = 3;
const APP_LAYERS: u32 = 5;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn repository(index: usize) -> String {
    format!(
        "registry.example.com/team{}/app-{index}",
        index % TEAMS as usize
    )
}

/// Image `i`: repository `i / 5`, tag `v{i % 5}`.
fn image_ref(image: usize) -> (String, model::Digest) {
    let repo = image / IMAGES_PER_REPOSITORY;
    (
        format!("{}:v{}", repository(repo), image % IMAGES_PER_REPOSITORY),
        digest(&format!("image-{image}")),
    )
}

/// One cluster's workloads: `pods` pods in deployments of 1–5 replicas.
/// Images: the first containers cover every image once (so all 10,000 run
/// somewhere), the rest are random.
fn cluster_workloads(
    rng: &mut Rng,
    cluster: usize,
    pods: usize,
    next_image: &mut usize,
    first_image: usize,
) -> Vec<Workload> {
    let random_image =
        |rng: &mut Rng| first_image + rng.below((IMAGES - first_image) as u64) as usize;
    let mut workloads = Vec::new();
    let mut placed = 0;
    let mut index = 0;
    while placed < pods {
        let replicas = (1 + rng.below(5) as usize).min(pods - placed);
        placed += replicas;
        let image = if *next_image < IMAGES {
            *next_image += 1;
            *next_image - 1
        } else {
            random_image(rng)
        };
        let (reference, manifest) = image_ref(image);
        let running = rng.below(10) != 0;
        let mut c = container(
            "app",
            &reference,
            Some((manifest, DigestKind::Manifest)),
            "linux/amd64",
            running,
        );
        c.pods = replicas as u32;
        c.running_pods = if running { replicas as u32 } else { 0 };
        let mut containers = vec![c];
        // One in ten workloads has a sidecar.
        if rng.below(10) == 0 {
            let (reference, manifest) = image_ref(random_image(rng));
            containers.push(container(
                "sidecar",
                &reference,
                Some((manifest, DigestKind::Manifest)),
                "linux/amd64",
                running,
            ));
        }
        let team = format!("team{}", rng.below(TEAMS));
        let env = ["prod", "staging", "dev"][rng.below(3) as usize];
        let tier = ["front", "back", "data"][rng.below(3) as usize];
        let name = format!("svc-{cluster}-{index}");
        workloads.push(workload(
            &format!("ns-{}", rng.below(NAMESPACES as u64)),
            &name,
            &[
                ("app", &name),
                ("team", &team),
                ("env", env),
                ("tier", tier),
            ],
            containers,
        ));
        index += 1;
    }
    workloads
}

/// Image `image`'s metadata: a base image's own layers, or an application's
/// base layers followed by its own. Newer base versions are created later.
fn image_metadata(
    repository: &str,
    manifest: &model::Digest,
    image: usize,
) -> model::ImageMetadata {
    let first_base = IMAGES - BASE_IMAGES;
    let base = if image >= first_base {
        image
    } else {
        first_base + (image * 7_919) % BASE_IMAGES
    };
    let mut diff_ids: Vec<String> = (0..BASE_LAYERS)
        .map(|k| format!("base-{base}-{k}"))
        .collect();
    if image < first_base {
        diff_ids.extend((0..APP_LAYERS).map(|k| format!("app-{image}-{k}")));
    }
    let mut m = metadata(repository, None, manifest, diff_ids.len() as u32);
    for (layer, label) in m.layers.iter_mut().zip(&diff_ids) {
        layer.diff_id = model::DiffId(digest(label));
    }
    m.config.created = Some(if image >= first_base {
        format!("2025-01-{:02}T00:00:00Z", 1 + image % IMAGES_PER_REPOSITORY)
    } else {
        "2026-01-01T00:00:00Z".to_owned()
    });
    m
}

/// Findings per image: newer base versions carry fewer.
fn findings_count(image: usize) -> usize {
    if image >= IMAGES - BASE_IMAGES {
        FINDINGS_PER_IMAGE - 20 * (image % IMAGES_PER_REPOSITORY)
    } else {
        FINDINGS_PER_IMAGE
    }
}

fn findings_for(rng: &mut Rng, count: usize) -> Vec<Finding> {
    let severities = [
        (Severity::Critical, 9.5),
        (Severity::High, 7.8),
        (Severity::Medium, 5.5),
        (Severity::Medium, 4.3),
        (Severity::Low, 2.5),
        (Severity::Negligible, 0.0),
        (Severity::Unknown, 0.0),
    ];
    let mut seen = std::collections::HashSet::new();
    let mut findings = Vec::with_capacity(count);
    while findings.len() < count {
        let vuln = rng.below(VULNERABILITIES);
        let package = rng.below(PACKAGES);
        if !seen.insert((vuln, package)) {
            continue;
        }
        let (severity, cvss) = severities[(vuln % severities.len() as u64) as usize];
        let fixed = (vuln % 5 < 3).then(|| format!("1.{}.{}", package % 10, 1 + vuln % 3));
        let mut f = finding(
            &format!("CVE-20{}-{:05}", 15 + vuln % 10, vuln),
            severity,
            (cvss > 0.0).then_some(cvss),
            (&format!("pkg-{package}"), &format!("1.{}.0", package % 10)),
            (package % 8) as u32,
            fixed.as_deref(),
        );
        f.description = Some(format!("A flaw was found in pkg-{package}: a crafted input can cause a buffer over-read in the parser, leading to a crash or information disclosure (vulnerability {vuln}).").into());
        f.epss = Some(((vuln % 100) as f64 / 100.0, 0.5));
        findings.push(f);
    }
    findings
}

/// Makes a varied filter of one kind per call.
type FilterMaker = Box<dyn Fn(&mut Rng) -> ReportFilter>;

struct Timings {
    name: String,
    samples: Vec<Duration>,
}

impl Timings {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index]
    }
}

async fn time<T, F: std::future::Future<Output = T>>(samples: &mut Vec<Duration>, f: F) -> T {
    let start = Instant::now();
    let value = f.await;
    samples.push(start.elapsed());
    value
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Phases 1 and 2: the fleet's inventory (snapshots), its scans
/// (claim/complete_scan) and a few exceptions.
async fn generate_fleet(
    store: &SqliteStore,
    rng: &mut Rng,
    clusters: usize,
    images: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let now = at(0);
    // 1. Inventory of the fleet, through snapshots.
    let start = Instant::now();
    let mut next_image = IMAGES - images;
    let mut containers = 0;
    for cluster in 0..clusters {
        let workloads = cluster_workloads(
            rng,
            cluster,
            PODS_PER_CLUSTER,
            &mut next_image,
            IMAGES - images,
        );
        containers += workloads.iter().map(|w| w.containers.len()).sum::<usize>();
        let inv = inventory(
            &format!("cluster-{cluster:03}"),
            now,
            ClusterStatus::Ok,
            workloads,
        );
        store
            .apply_snapshot(&inv, store::InventorySource::Agent, now)
            .await?;
    }
    println!(
        "inventory: {clusters} snapshots, {containers} containers in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    // 2. Scan everything: claim in batches, complete with generated findings.
    let start = Instant::now();
    let mut scanned = 0;
    let mut total_findings = 0;
    let image_index: std::collections::HashMap<model::Digest, usize> = (0..IMAGES)
        .map(|image| (image_ref(image).1, image))
        .collect();
    loop {
        let jobs = store.claim_scan_jobs(500, now).await?;
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            let store::TargetReference::Digest { digest: manifest } = &job.target.reference else {
                continue;
            };
            let image = image_index.get(manifest).copied().unwrap_or(IMAGES - 1);
            let findings = findings_for(rng, findings_count(image));
            total_findings += findings.len();
            let record = scan_record(
                image_metadata(&job.target.repository, manifest, image),
                findings,
                1,
            );
            store.complete_scan(job.target.id, &record, now).await?;
            scanned += 1;
        }
    }
    let scan_secs = start.elapsed().as_secs_f64();
    println!(
        "scan results: {scanned} images, {total_findings} findings in {scan_secs:.1} s ({:.0} findings/s)",
        total_findings as f64 / scan_secs
    );

    // Some exceptions, so the queries pay for them.
    let mut exceptions = Vec::new();
    for i in 0..20u64 {
        exceptions.push(NewException {
            scope: ExceptionScope::Vulnerability {
                vulnerability: format!("CVE-20{}-{:05}", 15 + i % 10, i * 97),
                repository: None,
            },
            reason: "not reachable in our deployment".into(),
            author: "bench".into(),
            expires: None,
        });
    }
    for i in 0..10 {
        exceptions.push(NewException {
            scope: ExceptionScope::Repository {
                repository: repository(i * 37),
            },
            reason: "vendor image".into(),
            author: "bench".into(),
            expires: None,
        });
    }
    let start = Instant::now();
    store.create_exceptions(&exceptions, now).await?;
    println!(
        "30 exceptions (20 vulnerabilities everywhere) in {}",
        ms(start.elapsed())
    );

    Ok(())
}

/// The snapshot phase 3 applies (cluster `cluster-big`, 10,000 pods over the
/// fleet's images), as the agent's first message of a run.
fn big_cluster(rng: &mut Rng, images: usize) -> ClusterInventory {
    // Every image is covered already: the big cluster's images are random.
    let mut covered = IMAGES;
    let big = cluster_workloads(rng, 999, 10_000, &mut covered, IMAGES - images);
    inventory("cluster-big", at(60), ClusterStatus::Ok, big)
}

fn write_ingest_body(out: &std::path::Path, scale: f64) -> Result<(), Box<dyn std::error::Error>> {
    let images = ((IMAGES as f64 * scale).ceil() as usize).clamp(1, IMAGES);
    let inventory = big_cluster(&mut Rng::new(SEED ^ 0xb16), images);
    let message = AgentMessage {
        version: PROTOCOL_VERSION,
        cluster: inventory.cluster.clone(),
        run: k8s::wire::new_run_id(),
        sequence: 1,
        body: MessageBody::Snapshot(Snapshot { inventory }),
    };
    let file = std::io::BufWriter::new(std::fs::File::create(out)?);
    serde_json::to_writer(file, &message)?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let temp;
    let dir = match args.get(1).filter(|a| !a.is_empty() && *a != "-") {
        Some(dir) => PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    let scale: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    if args.get(3).map(String::as_str) == Some("ingest-body") {
        let out = args.get(4).ok_or("ingest-body needs an output file")?;
        return write_ingest_body(std::path::Path::new(out), scale);
    }
    let clusters = ((CLUSTERS as f64 * scale).ceil() as usize).max(1);
    let images = ((IMAGES as f64 * scale).ceil() as usize).clamp(1, IMAGES);
    let store = SqliteStore::open(&dir).await?;
    let mut rng = Rng::new(SEED);
    let now = at(0);
    println!(
        "fleet: {clusters} clusters x {PODS_PER_CLUSTER} pods, {images} images x {FINDINGS_PER_IMAGE} findings, in {}",
        dir.display()
    );

    // `queries` as the third argument reuses a fleet generated before in DIR.
    let generate = args.get(3).map(String::as_str) != Some("queries");
    if generate {
        generate_fleet(&store, &mut rng, clusters, images).await?;
    }
    if args.get(3).map(String::as_str) == Some("generate") {
        store.close().await;
        return Ok(());
    }

    // 3. One 10,000-pod snapshot.
    let inv = big_cluster(&mut rng, images);
    let big_containers: usize = inv.workloads.iter().map(|w| w.containers.len()).sum();
    let start = Instant::now();
    store
        .apply_snapshot(&inv, store::InventorySource::Agent, at(60))
        .await?;
    let first = start.elapsed();
    let mut again = inv.clone();
    again.collected_at = at(120);
    let start = Instant::now();
    store
        .apply_snapshot(&again, store::InventorySource::Agent, at(120))
        .await?;
    let steady = start.elapsed();
    println!(
        "10,000-pod snapshot ({} workloads, {big_containers} containers): first {} , re-apply {}",
        inv.workloads.len(),
        ms(first),
        ms(steady)
    );

    // 4. Report queries.
    let sort = Sort {
        field: RepositorySortField::Severity,
        direction: Direction::Descending,
    };
    let filters: Vec<(&str, FilterMaker)> = vec![
        ("unfiltered", Box::new(|_| ReportFilter::default())),
        (
            "by cluster",
            Box::new(move |rng| ReportFilter {
                clusters: vec![format!("cluster-{:03}", rng.below(clusters as u64))],
                ..Default::default()
            }),
        ),
        (
            "by namespace",
            Box::new(|rng| ReportFilter {
                namespaces: vec![format!("ns-{}", rng.below(NAMESPACES as u64))],
                ..Default::default()
            }),
        ),
        (
            "by label",
            Box::new(|rng| ReportFilter {
                labels: parse_selector(&format!("team=team{},env!=dev", rng.below(TEAMS)))
                    .unwrap_or_default(),
                ..Default::default()
            }),
        ),
        (
            "by severity",
            Box::new(|rng| ReportFilter {
                severities: vec![[Severity::Critical, Severity::High][rng.below(2) as usize]],
                ..Default::default()
            }),
        ),
        (
            "fixable, running",
            Box::new(|_| ReportFilter {
                fixable_only: true,
                image_status: Some(ImageStatus::Running),
                ..Default::default()
            }),
        ),
        (
            "text (repository)",
            Box::new(|rng| ReportFilter {
                text: SearchText::parse(&format!("app-{}", rng.below(2000)))
                    .ok()
                    .flatten(),
                ..Default::default()
            }),
        ),
        (
            "text (CVE id)",
            Box::new(|rng| ReportFilter {
                text: SearchText::parse(&format!(
                    "CVE-20{}-{:05}",
                    15 + rng.below(10),
                    rng.below(VULNERABILITIES)
                ))
                .ok()
                .flatten(),
                ..Default::default()
            }),
        ),
        (
            "excepted view",
            Box::new(|_| ReportFilter {
                excepted: true,
                ..Default::default()
            }),
        ),
    ];
    let mut results: Vec<Timings> = Vec::new();
    for (name, make) in &filters {
        let mut stats = Vec::new();
        let mut repos = Vec::new();
        let mut remediation = Vec::new();
        let mut base_images = Vec::new();
        for _ in 0..SAMPLES {
            let filter = make(&mut rng);
            time(&mut stats, store.statistics(&filter, now)).await?;
            let page = Page::new(50, rng.below(3) * 50)?;
            time(&mut repos, store.repositories(&filter, sort, page, now)).await?;
            time(
                &mut remediation,
                store.remediation(&filter, Page::first(20), now),
            )
            .await?;
            time(
                &mut base_images,
                store.base_image_remediation(&filter, Page::first(20), now),
            )
            .await?;
        }
        results.push(Timings {
            name: format!("statistics {name}"),
            samples: stats,
        });
        results.push(Timings {
            name: format!("repositories {name}"),
            samples: repos,
        });
        results.push(Timings {
            name: format!("remediation {name}"),
            samples: remediation,
        });
        results.push(Timings {
            name: format!("base images {name}"),
            samples: base_images,
        });
    }
    let mut details = Vec::new();
    let mut vulns = Vec::new();
    let mut packages = Vec::new();
    let mut resources = Vec::new();
    for _ in 0..SAMPLES {
        let (_, manifest) = image_ref(IMAGES - 1 - rng.below(images as u64) as usize);
        time(&mut details, store.image(&manifest, now)).await?;
        let vuln_sort = Sort {
            field: VulnerabilitySortField::Cvss,
            direction: Direction::Descending,
        };
        time(
            &mut vulns,
            store.image_vulnerabilities(&manifest, &None, vuln_sort, Page::first(50), false),
        )
        .await?;
        time(
            &mut packages,
            store.image_packages(&manifest, &Some(vec![0, 1, 2]), Page::first(50)),
        )
        .await?;
        time(
            &mut resources,
            store.image_resources(&manifest, Page::first(50)),
        )
        .await?;
    }
    results.push(Timings {
        name: "image details".into(),
        samples: details,
    });
    results.push(Timings {
        name: "image vulnerabilities (CVSS, 50)".into(),
        samples: vulns,
    });
    results.push(Timings {
        name: "image packages (3 layers)".into(),
        samples: packages,
    });
    results.push(Timings {
        name: "image resources".into(),
        samples: resources,
    });

    println!(
        "\n{:<40} {:>10} {:>10}   ({SAMPLES} calls each)",
        "query", "p50", "p95"
    );
    for timing in &results {
        println!(
            "{:<40} {:>10} {:>10}",
            timing.name,
            ms(timing.percentile(0.5)),
            ms(timing.percentile(0.95))
        );
    }

    // 5. Size and memory.
    store.close().await;
    let size = |suffix: &str| {
        std::fs::metadata(dir.join(format!("{}{suffix}", store::DATABASE_FILE)))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    println!(
        "\nfile: {:.0} MiB (+ WAL {:.0} MiB); peak RSS {} MiB",
        size("") as f64 / 1048576.0,
        size("-wal") as f64 / 1048576.0,
        status_kib("VmHWM:") / 1024
    );
    Ok(())
}
