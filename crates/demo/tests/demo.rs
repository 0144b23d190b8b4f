//! The demo end to end, as `serve --demo` will run it: build the set, scan
//! every image from the layout with the real engine, import the advisories
//! into a real database, match, and check that the report has everything a
//! newcomer should see.

#![allow(clippy::print_stderr)] // the timings are the test's output

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use demo::{DemoImage, DemoSet};
use engine::{NoProgress, ScanOptions};
use k8s::{ClusterStatus, ContainerState, ContainerType, WorkloadKind};
use model::{Finding, FixState, ImageInventory, ImageMetadata, Severity};
use time::OffsetDateTime;

/// 2025-01-15T10:00:00Z: a fixed `now`, so the snapshot and digests are stable.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_736_935_200).expect("valid timestamp")
}

struct Scanned {
    image: DemoImage,
    metadata: ImageMetadata,
    inventory: ImageInventory,
    findings: Vec<Finding>,
}

async fn build_scan_match(dir: &std::path::Path) -> (DemoSet, Vec<Scanned>) {
    let started = Instant::now();
    let set = demo::build(&dir.join("demo"), now()).expect("demo builds");
    let built = started.elapsed();

    let layout = oci::OciLayout::open(&set.layout)
        .await
        .expect("layout opens");
    let analyzers: engine::AnalyzerSet = Arc::new(analyze::default_analyzers());
    let mut scans = tokio::task::JoinSet::new();
    for (index, image) in set.images.iter().enumerate() {
        let source = Arc::new(oci::ImageSource::Layout {
            layout: layout.clone(),
            tag: Some(image.ref_name.clone()),
        });
        let options = ScanOptions {
            platform: image.platform.clone(),
            ..ScanOptions::default()
        };
        let analyzers = analyzers.clone();
        scans.spawn(async move {
            let report = engine::scan_image(source, &options, analyzers, Arc::new(NoProgress))
                .await
                .expect("demo image scans");
            (index, report)
        });
    }
    let mut reports: Vec<Option<engine::ScanReport>> = vec![None; set.images.len()];
    while let Some(joined) = scans.join_next().await {
        let (index, report) = joined.expect("scan task");
        reports[index] = Some(report);
    }
    let scanned_at = started.elapsed();

    let db = vulndb::VulnDb::open(&dir.join("data")).await.expect("db");
    let summary = vulndb::import_paths(&db, &set.advisory_files, &mut |_| {})
        .await
        .expect("advisories import");
    assert!(
        summary.skipped_paths.is_empty(),
        "{:?}",
        summary.skipped_paths
    );
    assert_eq!(summary.feeds.len(), set.advisory_files.len());
    for feed in &summary.feeds {
        assert_eq!(
            feed.report.skipped, 0,
            "{}: {:?}",
            feed.name, feed.report.skipped_records
        );
        assert!(
            feed.advisories + feed.enrichments > 0,
            "{} imported nothing",
            feed.name
        );
    }
    let imported = started.elapsed();

    let mut scanned = Vec::new();
    for (image, report) in set.images.iter().zip(reports) {
        let report = report.expect("every image scanned");
        let loaded = db.load_index_for(&report.inventory).await.expect("index");
        let result = matching::match_image(&report.inventory, &loaded.index);
        assert!(
            result.diagnostics.is_empty(),
            "{}: {:?}",
            image.ref_name,
            result.diagnostics
        );
        scanned.push(Scanned {
            image: image.clone(),
            metadata: report.image,
            inventory: report.inventory,
            findings: result.findings,
        });
    }
    let total = started.elapsed();
    eprintln!(
        "demo: build {built:?}, scan {:?}, import {:?}, match {:?}; total {total:?} \
         ({} images, {} findings)",
        scanned_at - built,
        imported - scanned_at,
        total - imported,
        scanned.len(),
        scanned.iter().map(|s| s.findings.len()).sum::<usize>()
    );
    db.close().await;
    (set, scanned)
}

fn find<'a>(scanned: &'a [Scanned], ref_name: &str) -> &'a Scanned {
    scanned
        .iter()
        .find(|s| s.image.ref_name == ref_name && s.image.platform.architecture == "amd64")
        .unwrap_or_else(|| panic!("no demo image {ref_name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scans_and_matches_into_a_full_report() {
    let dir = tempfile::tempdir().unwrap();
    let (set, scanned) = build_scan_match(dir.path()).await;

    // The scanner sees each image as the demo says it built it.
    for s in &scanned {
        assert_eq!(s.metadata.manifest_digest, s.image.manifest_digest);
        assert_eq!(s.metadata.platform, s.image.platform);
        assert!(
            s.inventory.diagnostics.is_empty(),
            "{}: {:?}",
            s.image.ref_name,
            s.inventory.diagnostics
        );
    }
    assert!(
        scanned
            .iter()
            .map(|s| &s.image.repository)
            .collect::<BTreeSet<_>>()
            .len()
            >= 10
    );

    // Packages from every database format, each in the layer that brought it.
    let expected: &[(&str, &str, &str, u32)] = &[
        ("nginx-1.27.1", "libc6", "2.36-9+deb12u8", 0),
        ("nginx-1.27.1", "nginx", "1.27.1-1~bookworm", 1),
        ("nginx-1.25.3", "libnghttp2-14", "1.52.0-1", 1),
        ("postgres-15.5", "postgresql-15", "15.5-0+deb12u1", 2),
        ("redis-7.2.4-alpine", "busybox", "1.36.1-r15", 0),
        ("redis-7.2.4-alpine", "tzdata", "2024a-r0", 2),
        ("checkout-api-2.4.1", "curl", "7.88.1-10+deb12u1", 1),
        ("checkout-api-2.4.1", "pip", "23.0.1", 2),
        ("checkout-api-2.4.1", "django", "4.2.7", 4),
        ("checkout-api-2.5.0", "django", "4.2.11", 3),
        ("storefront-3.8.0", "nodejs", "20.11.1-r0", 1),
        ("storefront-3.8.0", "storefront", "3.8.0", 2),
        ("storefront-3.8.0", "@babel/traverse", "7.22.0", 3),
        ("billing-1.14.0", "rexml", "3.2.5", 1),
        ("billing-1.14.0", "rack", "2.2.6.2", 3),
        ("billing-1.14.0", "nokogiri", "1.15.4", 3),
        ("report-worker-0.9.3", "python3", "3.11.8-r0", 1),
        ("report-worker-0.9.3", "urllib3", "2.0.7", 2),
        ("feature-flags-1.3.0", "tzdata", "2024a-0+deb12u1", 0),
    ];
    for (ref_name, name, version, layer) in expected {
        let s = find(&scanned, ref_name);
        let package = s
            .inventory
            .packages
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name) && p.version == *version)
            .unwrap_or_else(|| panic!("{ref_name}: no {name} {version}"));
        assert_eq!(
            package.evidence.layer_index,
            Some(*layer),
            "{ref_name}: {name}"
        );
    }

    // Every kind of finding the report can show appears somewhere.
    let all: Vec<&Finding> = scanned.iter().flat_map(|s| &s.findings).collect();
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Negligible,
    ] {
        assert!(
            all.iter().any(|f| f.severity == severity),
            "no {severity:?}"
        );
    }
    assert!(all.iter().all(|f| f.severity != Severity::Unknown));
    assert!(all.iter().any(|f| f.state == FixState::Fixed));
    assert!(all.iter().any(|f| f.state == FixState::NotFixed));
    assert!(
        all.iter()
            .any(|f| matches!(&f.state, FixState::WontFix(reason) if reason.contains("postponed")))
    );
    assert!(all.iter().any(|f| f.kev_date_added.is_some()));
    assert!(all.iter().any(|f| f.epss.is_some()));
    assert!(all.iter().any(|f| f.cvss.is_some()));
    // Both KEV entries match: glibc's in the oldest checkout image, nghttp2's too.
    let checkout_old = find(&scanned, "checkout-api-2.4.1");
    for cve in ["CVE-2023-4911", "CVE-2023-44487"] {
        let finding = checkout_old
            .findings
            .iter()
            .find(|f| f.id == cve)
            .unwrap_or_else(|| panic!("{cve} not found"));
        assert!(finding.kev_date_added.is_some(), "{cve} not in KEV");
    }

    // The clean images have no findings; the vulnerable ones have some.
    for s in &scanned {
        let clean =
            ["feature-flags-1.3.0", "node-exporter-v1.7.0"].contains(&s.image.ref_name.as_str());
        assert_eq!(s.findings.is_empty(), clean, "{}", s.image.ref_name);
    }

    // A repository's newer images have fewer findings than its older ones.
    let mut by_repository: BTreeMap<&str, Vec<&Scanned>> = BTreeMap::new();
    for s in scanned
        .iter()
        .filter(|s| s.image.platform.architecture == "amd64")
    {
        by_repository
            .entry(&s.image.repository)
            .or_default()
            .push(s);
    }
    let mut compared = 0;
    for (repository, mut images) in by_repository {
        images.sort_by_key(|s| s.image.created);
        for pair in images.windows(2) {
            assert!(
                pair[1].findings.len() < pair[0].findings.len(),
                "{repository}: {} has {} findings, older {} has {}",
                pair[1].image.tag,
                pair[1].findings.len(),
                pair[0].image.tag,
                pair[0].findings.len()
            );
            compared += 1;
        }
    }
    assert!(compared >= 5, "{compared}");

    // History: the billing image has none (the UI notes it), the others have
    // layer commands and empty-layer steps.
    for s in &scanned {
        if s.image.ref_name == "billing-1.14.0" {
            assert!(s.metadata.history.is_empty());
        } else {
            assert!(
                s.metadata.history.iter().any(|h| h.empty_layer),
                "{}",
                s.image.ref_name
            );
        }
    }

    check_fleet(&set);

    let summary: Vec<serde_json::Value> = scanned
        .iter()
        .map(|s| {
            let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
            for f in &s.findings {
                *by_severity.entry(f.severity.as_str()).or_default() += 1;
            }
            serde_json::json!({
                "image": format!("{} ({})", s.image.reference(), s.image.platform),
                "created": s.image.created.date().to_string(),
                "os": s.inventory.os.as_ref().map(|os| format!("{} {}", os.id, os.version_id.as_deref().unwrap_or(""))),
                "layers": s.metadata.layers.len(),
                "packages": s.inventory.packages.len(),
                "findings": s.findings.len(),
                "by_severity": by_severity,
                "fixable": s.findings.iter().filter(|f| f.state == FixState::Fixed).count(),
                "kev": s.findings.iter().filter(|f| f.kev_date_added.is_some()).map(|f| f.id.clone()).collect::<BTreeSet<_>>(),
            })
        })
        .collect();
    insta::assert_json_snapshot!("demo_summary", summary);
}

fn check_fleet(set: &DemoSet) {
    let digests: BTreeSet<_> = set.images.iter().map(|i| &i.manifest_digest).collect();
    let references: BTreeSet<String> = set.images.iter().map(DemoImage::reference).collect();
    assert_eq!(
        set.clusters
            .iter()
            .map(|c| c.cluster.as_str())
            .collect::<Vec<_>>(),
        ["prod-eu-1", "prod-us-1", "staging"]
    );
    let workloads: Vec<_> = set.clusters.iter().flat_map(|c| &c.workloads).collect();
    assert!((25..=40).contains(&workloads.len()), "{}", workloads.len());
    let namespaces: BTreeSet<_> = set
        .clusters
        .iter()
        .flat_map(|c| c.namespaces.iter().map(|n| n.name.as_str()))
        .collect();
    assert!(namespaces.len() >= 8, "{namespaces:?}");
    let kinds: BTreeSet<_> = workloads.iter().map(|w| w.kind.clone()).collect();
    for kind in [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::CronJob,
        WorkloadKind::Job,
        WorkloadKind::Pod,
        WorkloadKind::Other("Rollout".to_owned()),
    ] {
        assert!(kinds.contains(&kind), "no {kind}");
    }
    for w in &workloads {
        for label in ["app", "team", "env", "tier"] {
            assert!(w.labels.contains_key(label), "{} lacks {label}", w.name);
        }
    }
    let containers: Vec<_> = workloads.iter().flat_map(|w| &w.containers).collect();
    for c in &containers {
        assert!(
            c.normalized_ref
                .as_ref()
                .is_some_and(|r| references.contains(r)),
            "{:?} is not a demo image",
            c.normalized_ref
        );
        match &c.digest {
            Some(digest) => assert!(digests.contains(digest), "{digest} is not in the layout"),
            None => assert_eq!(c.state, ContainerState::PendingResolution),
        }
        assert!(c.pod_labels.contains_key("app"));
    }
    assert!(
        containers
            .iter()
            .any(|c| c.container_type == ContainerType::Init)
    );
    assert!(
        containers
            .iter()
            .any(|c| c.state == ContainerState::PendingResolution)
    );
    assert!(containers.iter().any(|c| !c.running && c.digest.is_some()));
    assert!(containers.iter().any(|c| {
        c.platform
            .as_ref()
            .is_some_and(|p| p.architecture == "arm64")
    }));
    assert!(set.clusters.iter().any(
        |c| matches!(&c.status, ClusterStatus::Degraded { reasons, .. } if !reasons.is_empty())
    ));
    // A rollout: the same workload runs one digest and no longer runs another.
    assert!(workloads.iter().any(|w| {
        let running: BTreeSet<_> = w
            .containers
            .iter()
            .filter(|c| c.running)
            .map(|c| &c.digest)
            .collect();
        w.containers.iter().any(|c| {
            !c.running && c.container_type == ContainerType::Regular && !running.contains(&c.digest)
        }) && !running.is_empty()
    }));
    // The newest checkout image runs nowhere yet.
    let newest = set
        .images
        .iter()
        .find(|i| i.ref_name == "checkout-api-2.6.0")
        .unwrap();
    assert!(
        !containers
            .iter()
            .any(|c| c.digest.as_ref() == Some(&newest.manifest_digest))
    );
}

#[test]
fn the_demo_is_deterministic_given_now() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = demo::build(a.path(), now()).unwrap();
    // Later the same day: same images (digests), fresher inventory.
    let later = now() + time::Duration::hours(5);
    let second = demo::build(b.path(), later).unwrap();
    assert_eq!(first.images, second.images);
    let again = demo::build(b.path(), now()).unwrap();
    assert_eq!(first.clusters, again.clusters);
    // The whole layout stays small.
    let bytes: u64 = walk_size(&first.layout);
    eprintln!("demo layout: {bytes} bytes");
    assert!(bytes < 4 << 20, "{bytes}");
    // Written files are readable from the set's paths.
    for path in &first.advisory_files {
        assert!(path.is_file(), "{}", path.display());
    }
}

fn walk_size(path: &std::path::Path) -> u64 {
    let meta = std::fs::metadata(path).unwrap();
    if meta.is_file() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| walk_size(&entry.unwrap().path()))
        .sum()
}
