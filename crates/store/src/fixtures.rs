//! Deterministic builders of inventories, scan results and findings, for
//! the conformance suite (`tests/`) and the fleet benchmark
//! (`examples/fleet.rs`). Not used by the store itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s::{
    ClusterInventory, ClusterStatus, ContainerImage, ContainerState, ContainerType, DigestKind,
    Namespace, SecretRef, SecretSource, Workload, WorkloadKind,
};
use model::{
    CvssScore, DiffId, Digest, DigestAlgorithm, Finding, FindingPackage, FixState, HistoryEntry,
    ImageConfigSummary, ImageInventory, ImageMetadata, LayerDescriptor, OsFamily, OsInfo, Package,
    PackageKind, Platform, Severity,
};
use time::OffsetDateTime;

use crate::{AnalyzerVersions, PackageSummary, ScanRecord};

/// splitmix64: a tiny deterministic generator (seeded, no dependency).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A sha256 digest derived from a label (distinct labels, distinct digests).
pub fn digest(label: &str) -> Digest {
    let mut seed = 0xcbf2_9ce4_8422_2325u64;
    for b in label.bytes() {
        seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = Rng::new(seed);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
    }
    Digest::from_raw(DigestAlgorithm::Sha256, &bytes)
}

pub fn platform(text: &str) -> Platform {
    text.parse().unwrap_or_else(|_| Platform::linux_amd64())
}

pub fn labels(pairs: &[(&str, &str)]) -> Arc<BTreeMap<String, String>> {
    Arc::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// A container as the collector reports it. `digest`: (digest, kind), or
/// `None` for a container pending resolution.
pub fn container(
    name: &str,
    image_ref: &str,
    digest: Option<(Digest, DigestKind)>,
    platform_text: &str,
    running: bool,
) -> ContainerImage {
    let normalized = k8s::normalize_reference(image_ref)
        .ok()
        .map(|r| r.to_string());
    let state = match (&digest, running) {
        (None, _) => ContainerState::PendingResolution,
        (Some(_), true) => ContainerState::Running,
        (Some(_), false) => ContainerState::Terminated,
    };
    ContainerImage {
        pod: format!("{name}-pod"),
        container: name.to_owned(),
        container_type: ContainerType::Regular,
        image_ref: image_ref.to_owned(),
        normalized_ref: normalized,
        image_id: digest
            .as_ref()
            .map(|(d, _)| d.to_string())
            .unwrap_or_default(),
        digest_kind: digest.as_ref().map(|(_, kind)| *kind),
        digest: digest.map(|(d, _)| d),
        digest_is_index: None,
        node: Some("node-1".to_owned()),
        platform: Some(platform(platform_text)),
        running,
        state,
        pods: 1,
        running_pods: u32::from(running),
        pod_labels: labels(&[("pod", name)]),
        pull_secrets: Vec::new(),
    }
}

pub fn secret(namespace: &str, name: &str) -> SecretRef {
    SecretRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source: SecretSource::Pod,
    }
}

pub fn workload(
    namespace: &str,
    name: &str,
    labels_: &[(&str, &str)],
    containers: Vec<ContainerImage>,
) -> Workload {
    Workload {
        namespace: namespace.to_owned(),
        kind: WorkloadKind::Deployment,
        name: name.to_owned(),
        uid: format!("uid-{namespace}-{name}"),
        labels: labels(labels_),
        created: Some(OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)),
        containers,
    }
}

/// A cluster inventory; namespaces are those the workloads name.
pub fn inventory(
    cluster: &str,
    at: OffsetDateTime,
    status: ClusterStatus,
    workloads: Vec<Workload>,
) -> ClusterInventory {
    let mut names: Vec<&str> = workloads.iter().map(|w| w.namespace.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    ClusterInventory {
        cluster: cluster.to_owned(),
        collected_at: at,
        status,
        namespaces: names
            .into_iter()
            .map(|name| Namespace {
                name: name.to_owned(),
                labels: labels(&[("team", name)]),
            })
            .collect(),
        workloads,
        diagnostics: Vec::new(),
    }
}

/// Image metadata with `layers` layers and matching history.
pub fn metadata(
    repository: &str,
    tag: Option<&str>,
    manifest: &Digest,
    layers: u32,
) -> ImageMetadata {
    ImageMetadata {
        reference: match tag {
            Some(tag) => format!("{repository}:{tag}"),
            None => format!("{repository}@{manifest}"),
        },
        repository: repository.to_owned(),
        tag: tag.map(str::to_owned),
        manifest_digest: manifest.clone(),
        index_digest: None,
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        config_digest: digest(&format!("config-{manifest}")),
        platform: Platform::linux_amd64(),
        config: ImageConfigSummary {
            created: Some("2026-01-01T00:00:00Z".to_owned()),
            ..ImageConfigSummary::default()
        },
        layers: (0..layers)
            .map(|index| LayerDescriptor {
                index,
                diff_id: DiffId(digest(&format!("diff-{manifest}-{index}"))),
                blob_digest: digest(&format!("blob-{manifest}-{index}")),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                compressed_size: 1_000_000 + u64::from(index),
                uncompressed_size: None,
            })
            .collect(),
        history: (0..layers)
            .map(|index| HistoryEntry {
                created: None,
                created_by: Some(format!("RUN step {index}")),
                comment: None,
                author: None,
                empty_layer: false,
                layer_index: Some(index),
            })
            .collect(),
    }
}

/// A finding of `id` in `package` (`name@version`, in `layer`), fixed in
/// `fixed` when given.
pub fn finding(
    id: &str,
    severity: Severity,
    cvss: Option<f64>,
    package: (&str, &str),
    layer: u32,
    fixed: Option<&str>,
) -> Finding {
    let (name, version) = package;
    let fingerprint = digest(&format!("deb/{name}/{version}/{id}"))
        .hex()
        .to_owned();
    Finding {
        id: id.to_owned(),
        aliases: Vec::new(),
        package: FindingPackage {
            kind: PackageKind::Deb,
            name: name.to_owned(),
            installed_version: version.to_owned(),
            matched_name: name.to_owned(),
            layer_index: Some(layer),
            layer_diff_id: None,
            path: "var/lib/dpkg/status".to_owned(),
        },
        fixed_versions: fixed.iter().map(|f| (*f).to_owned()).collect(),
        fixed_version: fixed.map(str::to_owned),
        state: if fixed.is_some() {
            FixState::Fixed
        } else {
            FixState::NotFixed
        },
        severity,
        cvss: cvss.map(|base_score| CvssScore {
            version: "3.1".to_owned(),
            base_score,
            vector: None,
        }),
        cvss_v3: None,
        cvss_v4: None,
        epss: None,
        kev_date_added: None,
        title: Some(format!("{id} in {name}").into()),
        description: None,
        references: Vec::new(),
        evidence: Vec::new(),
        fingerprint,
    }
}

/// Per-package rows for `findings` (count, and the greatest fixed version
/// by plain string order: fixtures only; the engine uses `version`).
pub fn package_summaries(findings: &[Finding]) -> Vec<PackageSummary> {
    let mut packages: BTreeMap<(String, String, Option<u32>), PackageSummary> = BTreeMap::new();
    for f in findings {
        let key = (
            f.package.name.clone(),
            f.package.installed_version.clone(),
            f.package.layer_index,
        );
        let entry = packages.entry(key).or_insert_with(|| PackageSummary {
            kind: f.package.kind,
            name: f.package.name.clone(),
            version: f.package.installed_version.clone(),
            layer_index: f.package.layer_index,
            path: f.package.path.clone(),
            vulnerabilities: 0,
            fix_all_version: None,
        });
        entry.vulnerabilities += 1;
        if let Some(fixed) = &f.fixed_version
            && entry.fix_all_version.as_ref().is_none_or(|v| v < fixed)
        {
            entry.fix_all_version = Some(fixed.clone());
        }
    }
    packages.into_values().collect()
}

/// The analyzer versions fixtures scan with.
pub fn analyzers() -> AnalyzerVersions {
    [("dpkg".to_owned(), 1), ("os-release".to_owned(), 1)]
        .into_iter()
        .collect()
}

/// A scan result: the metadata's image with a Debian inventory of the
/// findings' packages.
pub fn scan_record(metadata: ImageMetadata, findings: Vec<Finding>, db_version: i64) -> ScanRecord {
    let packages = package_summaries(&findings);
    let inventory = ImageInventory {
        os: Some(OsInfo {
            family: OsFamily::Debian,
            id: "debian".to_owned(),
            version_id: Some("12".to_owned()),
            codename: Some("bookworm".to_owned()),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".to_owned()),
            path: "etc/os-release".to_owned(),
        }),
        packages: packages
            .iter()
            .map(|p| {
                let mut package = Package::new(p.kind, &p.name, &p.version);
                package.evidence.path = p.path.clone();
                package.evidence.layer_index = p.layer_index;
                package
            })
            .collect(),
        diagnostics: Vec::new(),
    };
    ScanRecord {
        metadata,
        inventory,
        analyzer_versions: analyzers(),
        findings,
        packages,
        db_version,
    }
}

/// A time `seconds` after a fixed origin (2026-01-01T00:00:00Z).
pub fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600 + seconds)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
