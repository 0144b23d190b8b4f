//! Builds a [`ClusterInventory`] from a [`ClusterStore`]: owner resolution,
//! imageID parsing, node platforms, pull secrets and grouping (pure).

use std::collections::{BTreeMap, BTreeSet};

use model::Platform;
use time::OffsetDateTime;

use crate::image_id::{normalize_reference, parse_image_id};
use crate::owners::resolve_top_owner;
use crate::store::{ClusterStore, MAX_LABELS, PodRecord};
use crate::types::{
    ClusterInventory, ClusterStatus, ContainerImage, ContainerState, ContainerType, Diagnostic,
    Namespace, SecretRef, SecretSource, Workload, WorkloadKey,
};

/// More diagnostics than this on one cluster are summarised in one last entry:
/// one broken image in a 10,000-replica Deployment must not make a 10,000-line report.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// How containers of a workload are deduplicated (see [`crate::types`]).
/// Borrowed from the store, so building the groups copies no strings.
type ContainerKey<'a> = (
    ContainerType,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a Platform>,
);

/// Orders states by how much they say: running beats waiting beats pending beats terminated.
fn state_rank(state: ContainerState) -> u8 {
    match state {
        ContainerState::Running => 3,
        ContainerState::Waiting => 2,
        ContainerState::PendingResolution => 1,
        ContainerState::Terminated => 0,
    }
}

/// The pull secrets a pod would use: its own, then its service account's.
pub fn pull_secrets_of(pod: &PodRecord, store: &ClusterStore) -> Vec<SecretRef> {
    let namespace = &pod.meta.namespace;
    let mut secrets: Vec<SecretRef> = pod
        .pull_secrets
        .iter()
        .map(|name| SecretRef {
            namespace: namespace.clone(),
            name: name.clone(),
            source: SecretSource::Pod,
        })
        .collect();
    let account_key = format!("{namespace}/{}", pod.service_account);
    if let Some(names) = store.service_accounts.get(&account_key) {
        secrets.extend(names.iter().map(|name| SecretRef {
            namespace: namespace.clone(),
            name: name.clone(),
            source: SecretSource::ServiceAccount,
        }));
    }
    secrets
}

/// Assembles the inventory of one cluster.
pub fn assemble(
    cluster: &str,
    store: &ClusterStore,
    status: ClusterStatus,
    collected_at: OffsetDateTime,
) -> ClusterInventory {
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut pods: Vec<&PodRecord> = store.pods.values().collect();
    // Sorted, so the representative pod of a group is the one with the smallest name.
    pods.sort_by(|a, b| (&a.meta.namespace, &a.meta.name).cmp(&(&b.meta.namespace, &b.meta.name)));

    let mut workloads: BTreeMap<
        WorkloadKey,
        (Workload, BTreeMap<ContainerKey<'_>, ContainerImage>),
    > = BTreeMap::new();
    for pod in pods {
        let object = format!("Pod {}/{}", pod.meta.namespace, pod.meta.name);
        if pod.labels_truncated {
            diagnostics.push(Diagnostic::new(
                "labels-truncated",
                &object,
                format!("more than {MAX_LABELS} labels; the rest are left out"),
            ));
        }
        let top = resolve_top_owner(&pod.meta, store, &mut diagnostics);
        let key = WorkloadKey {
            namespace: pod.meta.namespace.clone(),
            kind: top.kind.clone(),
            name: top.name.clone(),
        };
        let (_, containers) = workloads.entry(key).or_insert_with(|| {
            (
                Workload {
                    namespace: pod.meta.namespace.clone(),
                    kind: top.kind,
                    name: top.name,
                    uid: top.uid,
                    labels: top.labels,
                    created: top.created,
                    containers: Vec::new(),
                },
                BTreeMap::new(),
            )
        });
        // The node's os/architecture, or None: the platform is unknown and
        // the scanner picks from the image index (ARCHITECTURE.md, "An
        // image is its per-platform manifest digest"). A pod without a node
        // runs nothing yet; a node that is not visible or reports no
        // nodeInfo is diagnosed, never guessed (not linux/amd64).
        let platform: Option<&Platform> = match &pod.node {
            Some(node) => match store.nodes.get(node) {
                Some(Some(platform)) => Some(platform),
                Some(None) => {
                    diagnostics.push(Diagnostic::new(
                        "node-without-platform",
                        &object,
                        format!(
                            "node {node:?} reports no os/architecture (status.nodeInfo); platform unknown, the scanner picks from the image index"
                        ),
                    ));
                    None
                }
                None => {
                    diagnostics.push(Diagnostic::new(
                        "unknown-node",
                        &object,
                        format!(
                            "node {node:?} is not known; platform unknown, the scanner picks from the image index"
                        ),
                    ));
                    None
                }
            },
            None => None,
        };
        let secrets = pull_secrets_of(pod, store);
        for c in &pod.containers {
            let normalized_ref = if c.image.is_empty() {
                diagnostics.push(Diagnostic::new(
                    "missing-image",
                    &object,
                    format!("container {:?} has no image", c.name),
                ));
                None
            } else {
                match normalize_reference(&c.image) {
                    Ok(r) => Some(r.to_string()),
                    Err(e) => {
                        diagnostics.push(Diagnostic::new(
                            "bad-image-reference",
                            &object,
                            format!("container {:?}: {e}", c.name),
                        ));
                        None
                    }
                }
            };
            let (digest, digest_kind) = if c.image_id.is_empty() {
                if c.state == ContainerState::Running {
                    diagnostics.push(Diagnostic::new(
                        "missing-image-id",
                        &object,
                        format!("container {:?} runs but reports no imageID", c.name),
                    ));
                }
                (None, None)
            } else {
                match parse_image_id(&c.image_id) {
                    Ok(id) => (Some(id.digest), Some(id.kind)),
                    Err(e) => {
                        diagnostics.push(Diagnostic::new(
                            "bad-image-id",
                            &object,
                            format!("container {:?}: {e}", c.name),
                        ));
                        (None, None)
                    }
                }
            };
            let running = c.state == ContainerState::Running;
            let entry = containers
                .entry((
                    c.container_type,
                    c.name.as_str(),
                    c.image.as_str(),
                    c.image_id.as_str(),
                    platform,
                ))
                .or_insert_with(|| ContainerImage {
                    pod: pod.meta.name.clone(),
                    container: c.name.clone(),
                    container_type: c.container_type,
                    image_ref: c.image.clone(),
                    normalized_ref,
                    image_id: c.image_id.clone(),
                    digest,
                    digest_kind,
                    digest_is_index: None,
                    node: pod.node.clone(),
                    platform: platform.cloned(),
                    running: false,
                    state: c.state,
                    pods: 0,
                    running_pods: 0,
                    pod_labels: pod.meta.labels.clone(),
                    pull_secrets: Vec::new(),
                });
            entry.pods += 1;
            if running {
                entry.running = true;
                entry.running_pods += 1;
            }
            if state_rank(c.state) > state_rank(entry.state) {
                entry.state = c.state;
            }
            for s in &secrets {
                if !entry.pull_secrets.contains(s) {
                    entry.pull_secrets.push(s.clone());
                }
            }
        }
    }

    let workloads = workloads
        .into_values()
        .map(|(mut w, containers)| {
            w.containers = containers
                .into_values()
                .map(|mut c| {
                    c.pull_secrets.sort();
                    c
                })
                .collect();
            w
        })
        .collect();

    let mut namespaces: Vec<Namespace> = store
        .namespaces
        .values()
        .map(|n| Namespace {
            name: n.name.clone(),
            labels: n.labels.clone(),
        })
        .collect();
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));

    let diagnostics = summarise(diagnostics);
    ClusterInventory {
        cluster: cluster.to_owned(),
        collected_at,
        status,
        namespaces,
        workloads,
        diagnostics,
    }
}

fn summarise(diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let unique: BTreeSet<Diagnostic> = diagnostics.into_iter().collect();
    let total = unique.len();
    let mut kept: Vec<Diagnostic> = unique.into_iter().take(MAX_DIAGNOSTICS).collect();
    if total > MAX_DIAGNOSTICS {
        kept.push(Diagnostic::new(
            "diagnostics-truncated",
            "cluster",
            format!("{} more diagnostics left out", total - MAX_DIAGNOSTICS),
        ));
    }
    kept
}
