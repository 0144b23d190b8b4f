//! The demo fleet: three clusters of a small company, as the inventory
//! collector would report them. Everything a report distinguishes appears:
//! every workload kind (and an operator's custom kind), init containers, a
//! rollout leaving an old digest not running, a container still pending
//! resolution, a degraded cluster, and a DaemonSet on amd64 and arm64 nodes.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s::{
    ClusterInventory, ClusterStatus, ContainerImage, ContainerState, ContainerType, DigestKind,
    Namespace, Workload, WorkloadKind,
};
use time::{Duration, OffsetDateTime};

use crate::images::Arch;
use crate::{DemoError, DemoImage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Running,
    /// Every pod finished (a Job), or the pods of an old ReplicaSet are gone
    /// after a rollout but the collector still saw them terminate.
    Terminated,
    /// Scheduled, image not pulled yet: no imageID.
    Pending,
}

struct Container {
    name: &'static str,
    kind: ContainerType,
    repository: &'static str,
    tag: &'static str,
    run: Run,
    pods: u32,
    node: &'static str,
    arch: Arch,
}

fn container(name: &'static str, repository: &'static str, tag: &'static str) -> Container {
    Container {
        name,
        kind: ContainerType::Regular,
        repository,
        tag,
        run: Run::Running,
        pods: 1,
        node: "",
        arch: Arch::Amd64,
    }
}

impl Container {
    fn init(mut self) -> Container {
        self.kind = ContainerType::Init;
        // Init containers have finished once the pod runs.
        self.run = Run::Terminated;
        self
    }
    fn pods(mut self, pods: u32) -> Container {
        self.pods = pods;
        self
    }
    fn run(mut self, run: Run) -> Container {
        self.run = run;
        self
    }
    fn on(mut self, node: &'static str, arch: Arch) -> Container {
        self.node = node;
        self.arch = arch;
        self
    }
}

struct Spec {
    namespace: &'static str,
    kind: WorkloadKind,
    name: &'static str,
    team: &'static str,
    tier: &'static str,
    age_days: i64,
    containers: Vec<Container>,
}

fn workload(
    namespace: &'static str,
    kind: WorkloadKind,
    name: &'static str,
    team: &'static str,
    tier: &'static str,
    age_days: i64,
    containers: Vec<Container>,
) -> Spec {
    Spec {
        namespace,
        kind,
        name,
        team,
        tier,
        age_days,
        containers,
    }
}

const NGINX: &str = "docker.io/library/nginx";
const POSTGRES: &str = "docker.io/library/postgres";
const REDIS: &str = "docker.io/library/redis";
const ALPINE: &str = "docker.io/library/alpine";
const CHECKOUT: &str = "ghcr.io/acme/checkout-api";
const STOREFRONT: &str = "ghcr.io/acme/storefront";
const BILLING: &str = "ghcr.io/acme/billing";
const REPORT_WORKER: &str = "ghcr.io/acme/report-worker";
const FEATURE_FLAGS: &str = "ghcr.io/acme/feature-flags";
const NODE_EXPORTER: &str = "quay.io/prometheus/node-exporter";

struct Cluster {
    name: &'static str,
    env: &'static str,
    /// The node a container runs on when its spec names none.
    default_node: &'static str,
    status: ClusterStatus,
    namespaces: &'static [(&'static str, &'static str)],
    workloads: Vec<Spec>,
}

fn prod_eu() -> Cluster {
    use WorkloadKind::*;
    let node_a = "ip-10-0-1-17.eu-west-1.compute.internal";
    let node_b = "ip-10-0-2-41.eu-west-1.compute.internal";
    Cluster {
        name: "prod-eu-1",
        env: "prod",
        default_node: node_a,
        status: ClusterStatus::Ok,
        namespaces: &[
            ("shop", "web"),
            ("payments", "payments"),
            ("data", "platform"),
            ("edge", "platform"),
            ("monitoring", "sre"),
        ],
        workloads: vec![
            workload(
                "shop",
                Deployment,
                "storefront",
                "web",
                "frontend",
                300,
                vec![
                    container("wait-for-api", ALPINE, "3.19.1").init().pods(4),
                    container("storefront", STOREFRONT, "3.9.2").pods(4),
                    // The rollout from 3.8.0 left one old pod terminating.
                    container("storefront", STOREFRONT, "3.8.0")
                        .run(Run::Terminated)
                        .on(node_b, Arch::Amd64),
                ],
            ),
            workload(
                "shop",
                Deployment,
                "checkout-api",
                "checkout",
                "backend",
                420,
                vec![container("checkout-api", CHECKOUT, "2.5.0").pods(3)],
            ),
            workload(
                "shop",
                Deployment,
                "checkout-worker",
                "checkout",
                "backend",
                410,
                vec![
                    container("worker", CHECKOUT, "2.5.0")
                        .pods(2)
                        .on(node_b, Arch::Amd64),
                ],
            ),
            workload(
                "shop",
                Job,
                "checkout-db-migrate-2-5-0",
                "checkout",
                "backend",
                150,
                vec![container("migrate", CHECKOUT, "2.5.0").run(Run::Terminated)],
            ),
            workload(
                "payments",
                Deployment,
                "billing",
                "payments",
                "backend",
                500,
                vec![container("billing", BILLING, "1.14.0").pods(2)],
            ),
            workload(
                "payments",
                CronJob,
                "billing-invoice-run",
                "payments",
                "batch",
                480,
                vec![container("invoice-run", BILLING, "1.14.0").run(Run::Terminated)],
            ),
            workload(
                "data",
                StatefulSet,
                "postgres",
                "platform",
                "database",
                600,
                vec![
                    container("postgres", POSTGRES, "15.8")
                        .pods(3)
                        .on(node_b, Arch::Amd64),
                ],
            ),
            workload(
                "data",
                StatefulSet,
                "redis",
                "platform",
                "cache",
                600,
                vec![container("redis", REDIS, "7.2.4-alpine").pods(3)],
            ),
            workload(
                "data",
                CronJob,
                "nightly-report",
                "data",
                "batch",
                200,
                vec![container("report", REPORT_WORKER, "0.9.3").run(Run::Terminated)],
            ),
            workload(
                "edge",
                Deployment,
                "edge-proxy",
                "platform",
                "edge",
                700,
                vec![container("nginx", NGINX, "1.27.1").pods(2)],
            ),
            workload(
                "edge",
                Deployment,
                "feature-flags",
                "platform",
                "backend",
                90,
                vec![container("feature-flags", FEATURE_FLAGS, "1.3.0").pods(2)],
            ),
            workload(
                "monitoring",
                DaemonSet,
                "node-exporter",
                "sre",
                "monitoring",
                700,
                vec![container("node-exporter", NODE_EXPORTER, "v1.7.0").pods(2)],
            ),
        ],
    }
}

fn prod_us() -> Cluster {
    use WorkloadKind::*;
    let node_a = "ip-10-1-3-12.us-east-2.compute.internal";
    let node_arm = "ip-10-1-7-23.us-east-2.compute.internal";
    Cluster {
        name: "prod-us-1",
        env: "prod",
        default_node: node_a,
        status: ClusterStatus::Degraded {
            reasons: vec![
                "cronjobs.batch is forbidden: User \"system:serviceaccount:shipshape:shipshape-agent\" cannot watch resource \"cronjobs\" in API group \"batch\" at the cluster scope".to_owned(),
            ],
            incomplete: vec!["cronjobs".to_owned()],
        },
        namespaces: &[
            ("shop", "web"),
            ("payments", "payments"),
            ("data", "platform"),
            ("edge", "platform"),
            ("monitoring", "sre"),
            ("default", "sre"),
        ],
        workloads: vec![
            // Argo Rollouts owns the storefront's ReplicaSets here.
            workload("shop", Other("Rollout".to_owned()), "storefront", "web", "frontend", 250, vec![
                container("wait-for-api", ALPINE, "3.19.1").init().pods(3),
                container("storefront", STOREFRONT, "3.9.2").pods(3),
            ]),
            // The US region still runs the older checkout release.
            workload("shop", Deployment, "checkout-api", "checkout", "backend", 380, vec![
                container("checkout-api", CHECKOUT, "2.4.1").pods(2),
            ]),
            workload("shop", Deployment, "checkout-worker", "checkout", "backend", 380, vec![
                container("worker", CHECKOUT, "2.4.1"),
            ]),
            workload("payments", Deployment, "billing", "payments", "backend", 450, vec![
                container("billing", BILLING, "1.14.0").pods(2),
            ]),
            workload("data", StatefulSet, "postgres", "platform", "database", 520, vec![
                container("postgres", POSTGRES, "15.5").pods(2),
            ]),
            workload("data", StatefulSet, "redis", "platform", "cache", 520, vec![
                container("redis", REDIS, "7.2.4-alpine").pods(3),
            ]),
            workload("edge", Deployment, "edge-proxy", "platform", "edge", 640, vec![
                container("nginx", NGINX, "1.27.1").pods(2),
            ]),
            workload("monitoring", DaemonSet, "node-exporter", "sre", "monitoring", 640, vec![
                container("node-exporter", NODE_EXPORTER, "v1.7.0").pods(3),
                container("node-exporter", NODE_EXPORTER, "v1.7.0").on(node_arm, Arch::Arm64),
            ]),
            // Someone's debugging shell, started by hand.
            workload("default", Pod, "debug-shell", "sre", "tools", 3, vec![
                container("shell", ALPINE, "3.19.1"),
            ]),
        ],
    }
}

fn staging() -> Cluster {
    use WorkloadKind::*;
    let node = "staging-pool-a-7f9c2";
    Cluster {
        name: "staging",
        env: "staging",
        default_node: node,
        status: ClusterStatus::Ok,
        namespaces: &[
            ("shop-staging", "web"),
            ("payments-staging", "payments"),
            ("data", "platform"),
            ("edge", "platform"),
            ("monitoring", "sre"),
        ],
        workloads: vec![
            workload(
                "shop-staging",
                Deployment,
                "storefront",
                "web",
                "frontend",
                300,
                vec![container("storefront", STOREFRONT, "3.9.2")],
            ),
            workload(
                "shop-staging",
                Deployment,
                "checkout-api",
                "checkout",
                "backend",
                420,
                vec![container("checkout-api", CHECKOUT, "2.5.0")],
            ),
            // The 2.6.0 canary was just scheduled: its image is still being pulled.
            workload(
                "shop-staging",
                Deployment,
                "checkout-api-canary",
                "checkout",
                "backend",
                0,
                vec![container("checkout-api", CHECKOUT, "2.6.0").run(Run::Pending)],
            ),
            workload(
                "payments-staging",
                Deployment,
                "billing",
                "payments",
                "backend",
                500,
                vec![container("billing", BILLING, "1.14.0")],
            ),
            workload(
                "payments-staging",
                CronJob,
                "billing-invoice-run",
                "payments",
                "batch",
                480,
                vec![container("invoice-run", BILLING, "1.14.0").run(Run::Terminated)],
            ),
            workload(
                "data",
                StatefulSet,
                "postgres",
                "platform",
                "database",
                600,
                vec![container("postgres", POSTGRES, "15.8")],
            ),
            workload(
                "data",
                StatefulSet,
                "redis",
                "platform",
                "cache",
                600,
                vec![container("redis", REDIS, "7.2.4-alpine")],
            ),
            workload(
                "data",
                Job,
                "report-backfill",
                "data",
                "batch",
                20,
                vec![container("report", REPORT_WORKER, "0.9.3").run(Run::Terminated)],
            ),
            // Staging's proxy was never upgraded.
            workload(
                "edge",
                Deployment,
                "edge-proxy",
                "platform",
                "edge",
                700,
                vec![container("nginx", NGINX, "1.25.3")],
            ),
            workload(
                "monitoring",
                DaemonSet,
                "node-exporter",
                "sre",
                "monitoring",
                700,
                vec![container("node-exporter", NODE_EXPORTER, "v1.7.0").pods(2)],
            ),
        ],
    }
}

/// The three clusters, collected at `now`, their containers pointing at `images`.
pub(crate) fn clusters(
    images: &[DemoImage],
    now: OffsetDateTime,
) -> Result<Vec<ClusterInventory>, DemoError> {
    [prod_eu(), prod_us(), staging()]
        .into_iter()
        .map(|cluster| inventory(cluster, images, now))
        .collect()
}

fn inventory(
    cluster: Cluster,
    images: &[DemoImage],
    now: OffsetDateTime,
) -> Result<ClusterInventory, DemoError> {
    let namespaces = cluster
        .namespaces
        .iter()
        .map(|(name, team)| Namespace {
            name: (*name).to_owned(),
            labels: labels(&[
                ("kubernetes.io/metadata.name", name),
                ("team", team),
                ("env", cluster.env),
            ]),
        })
        .collect();
    let mut workloads = Vec::new();
    for spec in cluster.workloads {
        let key = format!(
            "{}/{}/{}/{}",
            cluster.name, spec.namespace, spec.kind, spec.name
        );
        let labels_of_workload = labels(&[
            ("app", spec.name),
            ("team", spec.team),
            ("env", cluster.env),
            ("tier", spec.tier),
            ("app.kubernetes.io/managed-by", "helm"),
        ]);
        let mut containers = Vec::new();
        for c in &spec.containers {
            let node = if c.node.is_empty() {
                cluster.default_node
            } else {
                c.node
            };
            containers.push(container_image(&key, &spec, c, node, cluster.env, images)?);
        }
        workloads.push(Workload {
            namespace: spec.namespace.to_owned(),
            kind: spec.kind.clone(),
            name: spec.name.to_owned(),
            uid: uid(&key),
            labels: labels_of_workload,
            created: Some(now - Duration::days(spec.age_days) - Duration::minutes(37)),
            containers,
        });
    }
    Ok(ClusterInventory {
        cluster: cluster.name.to_owned(),
        collected_at: now,
        status: cluster.status,
        namespaces,
        workloads,
        diagnostics: Vec::new(),
    })
}

fn container_image(
    key: &str,
    spec: &Spec,
    c: &Container,
    node: &str,
    env: &str,
    images: &[DemoImage],
) -> Result<ContainerImage, DemoError> {
    let platform = c.arch.platform();
    let reference = format!("{}:{}", c.repository, c.tag);
    // Pod specs name Docker Hub's official images the short way.
    let image_ref = reference
        .strip_prefix("docker.io/library/")
        .unwrap_or(&reference)
        .to_owned();
    let image = images
        .iter()
        .find(|i| i.repository == c.repository && i.tag == c.tag && i.platform == platform)
        .ok_or_else(|| DemoError::MissingImage {
            reference: reference.clone(),
            platform: platform.to_string(),
        })?;
    let pod_hash = &hash_hex(&format!("{key}/{}", c.tag))[..10];
    let pod = match spec.kind {
        WorkloadKind::StatefulSet => format!("{}-0", spec.name),
        WorkloadKind::Pod => spec.name.to_owned(),
        WorkloadKind::DaemonSet | WorkloadKind::Job | WorkloadKind::CronJob => {
            format!("{}-{}", spec.name, &pod_hash[..5])
        }
        _ => format!("{}-{}-{}", spec.name, &pod_hash[..8], &pod_hash[5..10]),
    };
    let mut pod_labels = vec![
        ("app", spec.name),
        ("team", spec.team),
        ("env", env),
        ("tier", spec.tier),
    ];
    let hash_label = match spec.kind {
        WorkloadKind::Deployment | WorkloadKind::Other(_) => Some("pod-template-hash"),
        WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => Some("controller-revision-hash"),
        WorkloadKind::Job | WorkloadKind::CronJob => Some("batch.kubernetes.io/job-name"),
        _ => None,
    };
    let job_or_hash = match spec.kind {
        WorkloadKind::Job | WorkloadKind::CronJob => pod.clone(),
        _ => pod_hash[..8].to_owned(),
    };
    if let Some(label) = hash_label {
        pod_labels.push((label, &job_or_hash));
    }
    let (image_id, digest, digest_kind, digest_is_index, state) = match c.run {
        Run::Pending => (
            String::new(),
            None,
            None,
            None,
            ContainerState::PendingResolution,
        ),
        Run::Running | Run::Terminated => (
            format!("{}@{}", c.repository, image.manifest_digest),
            Some(image.manifest_digest.clone()),
            Some(DigestKind::Manifest),
            Some(false),
            if c.run == Run::Running {
                ContainerState::Running
            } else {
                ContainerState::Terminated
            },
        ),
    };
    let running = c.run == Run::Running;
    Ok(ContainerImage {
        pod,
        container: c.name.to_owned(),
        container_type: c.kind,
        image_ref,
        normalized_ref: Some(reference),
        image_id,
        digest,
        digest_kind,
        digest_is_index,
        node: Some(node.to_owned()),
        platform: Some(platform),
        running,
        state,
        pods: c.pods,
        running_pods: if running { c.pods } else { 0 },
        pod_labels: labels(&pod_labels),
        pull_secrets: Vec::new(),
    })
}

fn labels(pairs: &[(&str, &str)]) -> Arc<BTreeMap<String, String>> {
    Arc::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn hash_hex(text: &str) -> String {
    imagebuild::sha256_digest(text.as_bytes()).hex().to_owned()
}

/// A stable, UUID-shaped uid derived from the workload's identity.
fn uid(key: &str) -> String {
    let h = hash_hex(key);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
