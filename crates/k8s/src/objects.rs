//! Slim object types the watchers deserialize into.
//!
//! The API server sends whole objects (a pod with its managedFields is several
//! KiB); these types keep only what the inventory needs, and serde skips the
//! rest while parsing, so a 10,000-pod cluster costs a few MiB, not hundreds.
//! Every field is optional with a default: an object with missing fields is
//! still read (and diagnosed later), never a failed page that stops the watch.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::core::{ApiResource, DynamicResourceScope};
use serde::{Deserialize, Deserializer};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    owner_references: Option<Vec<RawOwnerReference>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawOwnerReference {
    api_version: String,
    kind: String,
    name: String,
    uid: String,
    controller: Option<bool>,
}

/// Reads only the metadata fields the inventory uses (no managedFields, no annotations).
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let raw = Option::<RawMeta>::deserialize(d)?.unwrap_or_default();
    Ok(ObjectMeta {
        name: raw.name,
        namespace: raw.namespace,
        uid: raw.uid,
        resource_version: raw.resource_version,
        labels: raw.labels,
        creation_timestamp: raw.creation_timestamp,
        owner_references: raw.owner_references.map(|refs| {
            refs.into_iter()
                .map(|r| OwnerReference {
                    api_version: r.api_version,
                    kind: r.kind,
                    name: r.name,
                    uid: r.uid,
                    controller: r.controller,
                    block_owner_deletion: None,
                })
                .collect()
        }),
        ..ObjectMeta::default()
    })
}

macro_rules! static_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = DynamicResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($group)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// Any object of which only the metadata matters (owners, namespaces), of
/// the kind given by its [`ApiResource`] (so CronJob can be `batch/v1` or
/// `batch/v1beta1` as discovery says).
#[derive(Debug, Clone, Deserialize)]
pub struct MetaObject {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
}

impl kube::Resource for MetaObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.api_version)
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A pod: its containers' images, statuses, node and pull secrets.
#[derive(Debug, Clone, Deserialize)]
pub struct PodObject {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<PodSpec>,
    #[serde(default)]
    pub status: Option<PodStatus>,
}
static_resource!(PodObject, "", "v1", "Pod", "pods");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    pub containers: Vec<ContainerSpec>,
    pub init_containers: Vec<ContainerSpec>,
    pub ephemeral_containers: Vec<ContainerSpec>,
    pub node_name: Option<String>,
    pub service_account_name: Option<String>,
    pub image_pull_secrets: Vec<NameRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    pub phase: Option<String>,
    pub container_statuses: Vec<ContainerStatus>,
    pub init_container_statuses: Vec<ContainerStatus>,
    pub ephemeral_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    pub name: String,
    #[serde(rename = "imageID")]
    pub image_id: String,
    pub state: Option<ContainerStateRaw>,
}

/// Which of `running`, `waiting`, `terminated` is set (their contents do not matter here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContainerStateRaw {
    pub running: Option<serde::de::IgnoredAny>,
    pub waiting: Option<serde::de::IgnoredAny>,
    pub terminated: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NameRef {
    pub name: Option<String>,
}

/// A node: only its os/architecture.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeObject {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<NodeStatus>,
}
static_resource!(NodeObject, "", "v1", "Node", "nodes");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeStatus {
    pub node_info: Option<NodeInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeInfo {
    pub operating_system: String,
    pub architecture: String,
}

/// A service account: only its pull secrets.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccountObject {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    #[serde(default, rename = "imagePullSecrets")]
    pub image_pull_secrets: Option<Vec<NameRef>>,
}
static_resource!(
    ServiceAccountObject,
    "",
    "v1",
    "ServiceAccount",
    "serviceaccounts"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_with_missing_or_extra_fields_are_read() {
        let cases = [
            r#"{}"#,
            r#"{"metadata":null,"spec":null,"status":null}"#,
            r#"{"metadata":{"name":"p","managedFields":[{"manager":"x","fieldsV1":{"f:a":{}}}],"annotations":{"a":"b"}},
                "spec":{"containers":[{"name":"c"}]},"status":{"containerStatuses":[{"name":"c"}]}}"#,
            r#"{"metadata":{"name":"p","ownerReferences":[{"kind":"ReplicaSet"}]},
                "status":{"containerStatuses":[{"name":"c","imageID":"","state":{"waiting":{"reason":"ContainerCreating"}}}]}}"#,
        ];
        for json in cases {
            let pod: PodObject =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert!(pod.metadata.managed_fields.is_none());
            assert!(pod.metadata.annotations.is_none());
        }
    }
}
