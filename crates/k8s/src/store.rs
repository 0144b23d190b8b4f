//! What the watchers keep: small records mapped from the slim objects as they
//! arrive, in tables that follow the watcher's Init/InitApply/InitDone protocol
//! (a relist, e.g. after 410 Gone, replaces a table atomically on InitDone).

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::runtime::watcher::Event;
use model::Platform;
use time::OffsetDateTime;

use crate::objects::{ContainerStatus, MetaObject, NodeObject, PodObject, ServiceAccountObject};
use crate::owners::{OwnerLookup, OwnerMeta, OwnerRef};
use crate::types::{ContainerState, ContainerType, Labels};

/// Labels beyond this many on one object are dropped (with a diagnostic): the
/// inventory repeats pod labels per container row, and a hostile object with
/// thousands of labels must not blow up memory or the report.
pub const MAX_LABELS: usize = 128;

/// A table of records keyed by uid (or name), with the relist buffer.
#[derive(Debug)]
pub struct Table<T> {
    items: HashMap<String, T>,
    relisting: Option<HashMap<String, T>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            items: HashMap::new(),
            relisting: None,
        }
    }
}

impl<T> Table<T> {
    /// Applies one watcher event already mapped to `(key, record)`.
    pub fn apply(&mut self, event: Event<(String, T)>) {
        match event {
            Event::Apply((key, record)) => {
                self.items.insert(key, record);
            }
            Event::Delete((key, _)) => {
                self.items.remove(&key);
            }
            Event::Init => self.relisting = Some(HashMap::new()),
            Event::InitApply((key, record)) => {
                self.relisting
                    .get_or_insert_with(HashMap::new)
                    .insert(key, record);
            }
            Event::InitDone => {
                if let Some(items) = self.relisting.take() {
                    self.items = items;
                }
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        self.items.get(key)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.items.values()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One container of a pod as the inventory needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub name: String,
    pub container_type: ContainerType,
    /// Empty when the spec has no image (there is a diagnostic later).
    pub image: String,
    pub image_id: String,
    pub state: ContainerState,
}

/// A pod as the inventory needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRecord {
    /// Name, namespace, uid, labels, creation time and controller, as for owners.
    pub meta: OwnerMeta,
    pub labels_truncated: bool,
    pub node: Option<String>,
    pub service_account: String,
    pub pull_secrets: Vec<String>,
    pub containers: Vec<ContainerRecord>,
}

/// A namespace's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRecord {
    pub name: String,
    pub labels: Labels,
}

/// Everything the collector knows about one cluster.
#[derive(Debug, Default)]
pub struct ClusterStore {
    pub pods: Table<PodRecord>,
    pub namespaces: Table<NamespaceRecord>,
    /// Node name → its platform (None when the node reports no nodeInfo).
    pub nodes: Table<Option<Platform>>,
    /// `namespace/name` → pull secret names.
    pub service_accounts: Table<Vec<String>>,
    /// Owner tables by resource (`replicasets`, `deployments`, …), keyed by uid.
    pub owners: HashMap<&'static str, Table<OwnerMeta>>,
}

impl OwnerLookup for ClusterStore {
    fn owner(&self, uid: &str) -> Option<&OwnerMeta> {
        self.owners.values().find_map(|table| table.get(uid))
    }
}

pub(crate) fn to_offset(time: &Time) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(time.0.as_nanosecond()).ok()
}

fn capped_labels(meta: &ObjectMeta) -> (Labels, bool) {
    match &meta.labels {
        None => (Labels::default(), false),
        Some(labels) if labels.len() <= MAX_LABELS => (Labels::new(labels.clone()), false),
        Some(labels) => (
            Labels::new(
                labels
                    .iter()
                    .take(MAX_LABELS)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            true,
        ),
    }
}

/// The controller ownerReference (the one with `controller: true`).
fn controller_of(meta: &ObjectMeta) -> Option<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| OwnerRef {
            kind: r.kind.clone(),
            name: r.name.clone(),
            uid: r.uid.clone(),
        })
}

fn owner_meta(kind: &str, meta: &ObjectMeta) -> (OwnerMeta, bool) {
    let (labels, truncated) = capped_labels(meta);
    (
        OwnerMeta {
            kind: kind.to_owned(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels,
            created: meta.creation_timestamp.as_ref().and_then(to_offset),
            controller: controller_of(meta),
        },
        truncated,
    )
}

/// The key of an object in its table: its uid, or namespace/name when it has none.
fn key_of(meta: &ObjectMeta) -> String {
    match &meta.uid {
        Some(uid) if !uid.is_empty() => uid.clone(),
        _ => format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        ),
    }
}

pub fn owner_record(kind: &str, object: MetaObject) -> (String, OwnerMeta) {
    (
        key_of(&object.metadata),
        owner_meta(kind, &object.metadata).0,
    )
}

pub fn namespace_record(object: MetaObject) -> (String, NamespaceRecord) {
    let name = object.metadata.name.clone().unwrap_or_default();
    let (labels, _) = capped_labels(&object.metadata);
    (name.clone(), NamespaceRecord { name, labels })
}

pub fn node_record(object: NodeObject) -> (String, Option<Platform>) {
    let name = object.metadata.name.clone().unwrap_or_default();
    let platform = object
        .status
        .and_then(|s| s.node_info)
        .filter(|info| !info.operating_system.is_empty() && !info.architecture.is_empty())
        .map(|info| Platform {
            os: info.operating_system,
            architecture: info.architecture,
            variant: None,
        });
    (name, platform)
}

pub fn service_account_record(object: ServiceAccountObject) -> (String, Vec<String>) {
    let key = format!(
        "{}/{}",
        object.metadata.namespace.as_deref().unwrap_or(""),
        object.metadata.name.as_deref().unwrap_or("")
    );
    let secrets = object
        .image_pull_secrets
        .into_iter()
        .flatten()
        .filter_map(|r| r.name.filter(|n| !n.is_empty()))
        .collect();
    (key, secrets)
}

fn container_state(status: Option<&ContainerStatus>) -> ContainerState {
    let Some(status) = status else {
        return ContainerState::PendingResolution;
    };
    match &status.state {
        Some(s) if s.running.is_some() => ContainerState::Running,
        Some(s) if s.terminated.is_some() => ContainerState::Terminated,
        // Waiting before the first pull (ContainerCreating) has no image yet.
        Some(s) if s.waiting.is_some() && !status.image_id.is_empty() => ContainerState::Waiting,
        _ => ContainerState::PendingResolution,
    }
}

pub fn pod_record(object: PodObject) -> (String, PodRecord) {
    let key = key_of(&object.metadata);
    let (meta, labels_truncated) = owner_meta("Pod", &object.metadata);
    let spec = object.spec.unwrap_or_default();
    let status = object.status.unwrap_or_default();
    let mut containers = Vec::new();
    for (container_type, specs, statuses) in [
        (
            ContainerType::Init,
            spec.init_containers,
            &status.init_container_statuses,
        ),
        (
            ContainerType::Regular,
            spec.containers,
            &status.container_statuses,
        ),
        (
            ContainerType::Ephemeral,
            spec.ephemeral_containers,
            &status.ephemeral_container_statuses,
        ),
    ] {
        for c in specs {
            let status = statuses.iter().find(|s| s.name == c.name);
            containers.push(ContainerRecord {
                state: container_state(status),
                image_id: status.map(|s| s.image_id.clone()).unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                name: c.name,
                container_type,
            });
        }
    }
    let record = PodRecord {
        meta,
        labels_truncated,
        node: spec.node_name.filter(|n| !n.is_empty()),
        service_account: spec
            .service_account_name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned()),
        pull_secrets: spec
            .image_pull_secrets
            .into_iter()
            .filter_map(|r| r.name.filter(|n| !n.is_empty()))
            .collect(),
        containers,
    };
    (key, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relist_replaces_the_table_on_init_done() {
        let mut table: Table<u32> = Table::default();
        let kv = |k: &str, v: u32| (k.to_owned(), v);
        table.apply(Event::Init);
        table.apply(Event::InitApply(kv("a", 1)));
        table.apply(Event::InitApply(kv("b", 2)));
        assert!(table.is_empty(), "nothing visible before InitDone");
        table.apply(Event::InitDone);
        assert_eq!(table.len(), 2);
        table.apply(Event::Apply(kv("c", 3)));
        table.apply(Event::Delete(kv("a", 0)));
        assert_eq!((table.get("a"), table.get("c")), (None, Some(&3)));
        // A relist (after 410 Gone): the old contents stay visible until InitDone.
        table.apply(Event::Init);
        table.apply(Event::InitApply(kv("d", 4)));
        assert_eq!(table.len(), 2);
        table.apply(Event::InitDone);
        assert_eq!((table.len(), table.get("d")), (1, Some(&4)));
    }

    #[test]
    fn container_states() {
        let cases = [
            (
                r#"{"name":"c","imageID":"x","state":{"running":{}}}"#,
                ContainerState::Running,
            ),
            (
                r#"{"name":"c","imageID":"x","state":{"terminated":{"exitCode":0}}}"#,
                ContainerState::Terminated,
            ),
            (
                r#"{"name":"c","imageID":"x","state":{"waiting":{"reason":"CrashLoopBackOff"}}}"#,
                ContainerState::Waiting,
            ),
            (
                r#"{"name":"c","imageID":"","state":{"waiting":{"reason":"ContainerCreating"}}}"#,
                ContainerState::PendingResolution,
            ),
            (r#"{"name":"c"}"#, ContainerState::PendingResolution),
        ];
        for (json, expected) in cases {
            let status: ContainerStatus = serde_json::from_str(json).unwrap();
            assert_eq!(container_state(Some(&status)), expected, "{json}");
        }
        assert_eq!(container_state(None), ContainerState::PendingResolution);
    }

    #[test]
    fn huge_label_sets_are_capped() {
        let labels: serde_json::Map<String, serde_json::Value> = (0..5000)
            .map(|i| (format!("k{i}"), serde_json::Value::String("v".into())))
            .collect();
        let json = serde_json::json!({"metadata": {"name": "p", "uid": "u", "labels": labels}});
        let pod: PodObject = serde_json::from_value(json).unwrap();
        let (_, record) = pod_record(pod);
        assert_eq!(record.meta.labels.len(), MAX_LABELS);
        assert!(record.labels_truncated);
    }
}
