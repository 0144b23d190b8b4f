//! The inventory's domain types: what runs where, per cluster.
//!
//! Grouping: a [`ClusterInventory`] holds its [`Workload`]s (the top owner of
//! each pod, or the bare pod). A workload's `containers` are deduplicated by
//! [`ContainerKey`] — (container type, container name, spec reference, raw
//! imageID, node platform) — and each entry counts the pods it stands for
//! (`pods`, `running_pods`). The per-instance fields (`pod`, `node`,
//! `pod_labels`) come from one representative pod: the one with the smallest
//! name, so the output is stable. Ten thousand replicas of one Deployment are
//! one row, while a rollout (two digests side by side) or a DaemonSet on
//! mixed-architecture nodes is one row per digest/platform.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use model::{Digest, Platform};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Labels as written on an object (sorted for stable output).
pub type LabelMap = BTreeMap<String, String>;

/// Labels, shared: a snapshot points at the collector's copy instead of
/// cloning it per container row (serialized as a plain map).
pub type Labels = Arc<LabelMap>;

/// Everything one cluster runs, as of `collected_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInventory {
    /// Stable name: the kubeconfig context name or `--cluster-name`.
    pub cluster: String,
    #[serde(with = "time::serde::rfc3339")]
    pub collected_at: OffsetDateTime,
    pub status: ClusterStatus,
    pub namespaces: Vec<Namespace>,
    pub workloads: Vec<Workload>,
    /// Objects that could not be understood completely (bad imageIDs, owner
    /// cycles, missing fields). They never stop the watch.
    pub diagnostics: Vec<Diagnostic>,
}

/// Whether the inventory of a cluster is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ClusterStatus {
    /// Every watched resource was listed and is being watched.
    Ok,
    /// Some resources could not be listed or watched (each reason names the
    /// resource and the verb); the others are complete.
    /// `incomplete` lists the resources (plural, e.g. `pods`) whose contents
    /// are not known, so consumers do not read their absence as deletion.
    Degraded {
        reasons: Vec<String>,
        incomplete: Vec<String>,
    },
    /// The API server did not answer (or refused every resource).
    Unreachable { reason: String },
}

/// A namespace and its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
}

/// The top owner of a set of pods: what a user deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
    /// The top owner's uid; for an owner the collector has not seen (dangling
    /// or not watched, e.g. a CRD), the uid written in the owner reference.
    pub uid: String,
    pub labels: Labels,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    pub containers: Vec<ContainerImage>,
}

impl Workload {
    pub fn key(&self) -> WorkloadKey {
        WorkloadKey {
            namespace: self.namespace.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
        }
    }
}

/// Identifies a workload within a cluster across snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkloadKey {
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
}

impl fmt::Display for WorkloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// The kind of a top owner. Kinds the collector does not know (operators'
/// custom resources) are kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    CronJob,
    Job,
    ReplicaSet,
    ReplicationController,
    Pod,
    Other(String),
}

impl WorkloadKind {
    pub fn from_kind(kind: &str) -> WorkloadKind {
        match kind {
            "Deployment" => WorkloadKind::Deployment,
            "StatefulSet" => WorkloadKind::StatefulSet,
            "DaemonSet" => WorkloadKind::DaemonSet,
            "CronJob" => WorkloadKind::CronJob,
            "Job" => WorkloadKind::Job,
            "ReplicaSet" => WorkloadKind::ReplicaSet,
            "ReplicationController" => WorkloadKind::ReplicationController,
            "Pod" => WorkloadKind::Pod,
            other => WorkloadKind::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Job => "Job",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::Pod => "Pod",
            WorkloadKind::Other(kind) => kind,
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Serialized as the Kubernetes kind string, so unknown kinds round-trip as written.
impl Serialize for WorkloadKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WorkloadKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(WorkloadKind::from_kind(&s))
    }
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerType {
    Init,
    Regular,
    Ephemeral,
}

/// What the kubelet reports about a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerState {
    Running,
    /// Not started yet (or no status at all): only the spec reference is known.
    PendingResolution,
    Waiting,
    Terminated,
}

/// A pull secret a pod would use, by namespace and name. The secret's content
/// is fetched on demand by [`crate::PullSecretResolver`] and never stored here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
    /// Where the pod gets it from.
    pub source: SecretSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// `spec.imagePullSecrets` of the pod.
    Pod,
    /// `imagePullSecrets` of the pod's service account.
    ServiceAccount,
}

/// What kind of identifier the kubelet's imageID holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestKind {
    /// A registry manifest digest (`repo@sha256:…`): per-platform manifest or
    /// an index; which one is only known by asking the registry.
    Manifest,
    /// A local image (config) ID (`docker://sha256:…`, bare `sha256:…`): it
    /// names the image config blob, not a registry manifest; it can be checked
    /// against a manifest's config digest but cannot be pulled by.
    ImageId,
}

/// One container of a workload, deduplicated over its pods (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerImage {
    /// The representative pod.
    pub pod: String,
    pub container: String,
    pub container_type: ContainerType,
    /// The reference as written in the pod spec.
    pub image_ref: String,
    /// The reference normalised with Docker's defaults (`docker.io/library/nginx:latest`);
    /// `None` when it does not parse (there is a diagnostic).
    pub normalized_ref: Option<String>,
    /// The raw `status.containerStatuses[].imageID`, empty when not reported.
    pub image_id: String,
    /// The digest parsed out of `image_id`.
    pub digest: Option<Digest>,
    pub digest_kind: Option<DigestKind>,
    /// Whether the digest is known to be an image index. `None`: unknown until
    /// the registry is asked (the scanner then picks the node's platform).
    pub digest_is_index: Option<bool>,
    /// The representative pod's node.
    pub node: Option<String>,
    /// The node's `status.nodeInfo` os/architecture (no variant: the
    /// matching rules of `model::Platform` read `arm` as v7, `arm64` as v8).
    /// `None`: unknown — the pod has no node yet, or its node is not visible
    /// or reports no nodeInfo (both diagnosed). The scanner then picks from
    /// the image index itself and never assumes linux/amd64 (ARCHITECTURE.md).
    pub platform: Option<Platform>,
    /// Whether any of the pods runs this container.
    pub running: bool,
    /// The most advanced state over the pods: running, else waiting, else
    /// pending resolution, else terminated.
    pub state: ContainerState,
    pub pods: u32,
    pub running_pods: u32,
    pub pod_labels: Labels,
    /// The union of the pods' pull secrets.
    pub pull_secrets: Vec<SecretRef>,
}

/// A problem with one object, kept on the inventory instead of failing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Stable code: `bad-image-id`, `bad-image-reference`, `owner-cycle`, …
    pub code: String,
    /// The object: `Pod ns/name`, `Node name`.
    pub object: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(code: &str, object: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code: code.to_owned(),
            object: object.into(),
            message: message.into(),
        }
    }
}

impl ClusterStatus {
    /// Whether the pods of this snapshot are complete (so a missing container
    /// really is no longer running).
    pub fn pods_complete(&self) -> bool {
        match self {
            ClusterStatus::Ok => true,
            ClusterStatus::Degraded { incomplete, .. } => !incomplete.iter().any(|r| r == "pods"),
            ClusterStatus::Unreachable { .. } => false,
        }
    }
}
