//! Builders for the objects tests create: each gives a [`KubeObject`] (the
//! resource it belongs to + its JSON), which a test may still change
//! ([`KubeObject::with`]) before [`KubeApi::create_object`](super::KubeApi::create_object).
//!
//! Containers are `(name, image)` pairs; labels are `(key, value)` pairs.
//! Workloads select their pods by `app: <name>`; the given labels go on the
//! workload *and* on its pod template, as most charts do.

use serde_json::{Map, Value, json};

/// Where objects of one kind live in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural, lower-case: the URL segment.
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

impl Resource {
    const fn new(
        group: &'static str,
        version: &'static str,
        plural: &'static str,
        kind: &'static str,
        namespaced: bool,
    ) -> Resource {
        Resource {
            group,
            version,
            plural,
            kind,
            namespaced,
        }
    }

    pub const NAMESPACES: Resource = Resource::new("", "v1", "namespaces", "Namespace", false);
    pub const NODES: Resource = Resource::new("", "v1", "nodes", "Node", false);
    pub const PODS: Resource = Resource::new("", "v1", "pods", "Pod", true);
    pub const SERVICE_ACCOUNTS: Resource =
        Resource::new("", "v1", "serviceaccounts", "ServiceAccount", true);
    pub const SECRETS: Resource = Resource::new("", "v1", "secrets", "Secret", true);
    pub const REPLICATION_CONTROLLERS: Resource = Resource::new(
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        true,
    );
    pub const REPLICA_SETS: Resource =
        Resource::new("apps", "v1", "replicasets", "ReplicaSet", true);
    pub const DEPLOYMENTS: Resource =
        Resource::new("apps", "v1", "deployments", "Deployment", true);
    pub const STATEFUL_SETS: Resource =
        Resource::new("apps", "v1", "statefulsets", "StatefulSet", true);
    pub const DAEMON_SETS: Resource = Resource::new("apps", "v1", "daemonsets", "DaemonSet", true);
    pub const JOBS: Resource = Resource::new("batch", "v1", "jobs", "Job", true);
    /// `batch/v1beta1`: Kubernetes 1.20 has no `batch/v1` CronJob.
    pub const CRON_JOBS: Resource = Resource::new("batch", "v1beta1", "cronjobs", "CronJob", true);
    pub const CLUSTER_ROLES: Resource = Resource::new(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
    );
    pub const CLUSTER_ROLE_BINDINGS: Resource = Resource::new(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
    );

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1[/namespaces/NS]/PLURAL` or `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL`;
    /// the namespace is ignored for cluster-scoped resources.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => {
                format!("{root}/namespaces/{}/{}", path_segment(ns), self.plural)
            }
            _ => format!("{root}/{}", self.plural),
        }
    }

    /// The collection path + `/NAME`.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), path_segment(name))
    }
}

/// Percent-encodes everything but unreserved characters, so a hostile name
/// stays one path segment (the API server then rejects it by name).
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One object to send: the resource it belongs to and its JSON.
#[derive(Clone, PartialEq)]
pub struct KubeObject {
    pub resource: Resource,
    pub body: Value,
}

impl std::fmt::Debug for KubeObject {
    // Secrets carry registry passwords: their data never reaches Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.body.clone();
        if self.resource == Resource::SECRETS
            && let Some(object) = shown.as_object_mut()
        {
            for key in ["data", "stringData"] {
                if object.contains_key(key) {
                    object.insert(key.to_owned(), json!("<redacted>"));
                }
            }
        }
        f.debug_struct("KubeObject")
            .field("resource", &self.resource.plural)
            .field("body", &shown)
            .finish()
    }
}

impl KubeObject {
    /// An object of `resource` with `metadata.name` (and namespace when namespaced).
    pub fn new(resource: Resource, namespace: Option<&str>, name: &str) -> KubeObject {
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(name));
        if let (true, Some(ns)) = (resource.namespaced, namespace) {
            metadata.insert("namespace".into(), json!(ns));
        }
        KubeObject {
            resource,
            body: json!({
                "apiVersion": resource.api_version(),
                "kind": resource.kind,
                "metadata": metadata,
            }),
        }
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.body["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `metadata.namespace`, for namespaced objects.
    pub fn namespace(&self) -> Option<&str> {
        self.body["metadata"]["namespace"].as_str()
    }

    /// The object's API path.
    pub fn path(&self) -> String {
        self.resource.object_path(self.namespace(), self.name())
    }

    /// Changes the JSON in place (anything a builder does not cover).
    pub fn with(mut self, change: impl FnOnce(&mut Value)) -> KubeObject {
        change(&mut self.body);
        self
    }

    /// Adds a label to the object's metadata.
    pub fn label(mut self, key: &str, value: &str) -> KubeObject {
        self.body["metadata"]["labels"][key] = json!(value);
        self
    }

    /// Adds an annotation to the object's metadata.
    pub fn annotation(mut self, key: &str, value: &str) -> KubeObject {
        self.body["metadata"]["annotations"][key] = json!(value);
        self
    }

    /// Adds an owner reference to `owner`, an object as the API server
    /// returned it (it needs `apiVersion`, `kind`, `metadata.name` and
    /// `metadata.uid`); `controller: true` as a controller would set it.
    /// Works for any kind, including ones the API server does not know
    /// (an operator's CRD), and for owner cycles.
    pub fn owned_by(mut self, owner: &Value) -> KubeObject {
        let reference = json!({
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": false,
        });
        match self.body["metadata"]["ownerReferences"].as_array_mut() {
            Some(references) => references.push(reference),
            None => self.body["metadata"]["ownerReferences"] = json!([reference]),
        }
        self
    }

    /// The pod spec inside this object: a Pod's `spec`, a workload's
    /// `spec.template.spec`, a CronJob's `spec.jobTemplate.spec.template.spec`.
    pub fn pod_spec_mut(&mut self) -> Option<&mut Value> {
        let pointer = match self.resource {
            Resource::PODS => "/spec",
            Resource::CRON_JOBS => "/spec/jobTemplate/spec/template/spec",
            _ => "/spec/template/spec",
        };
        self.body.pointer_mut(pointer)
    }

    /// Sets the pod spec's init containers.
    pub fn init_containers(mut self, containers: &[(&str, &str)]) -> KubeObject {
        if let Some(spec) = self.pod_spec_mut() {
            spec["initContainers"] = container_list(containers);
        }
        self
    }

    /// Sets the pod spec's `imagePullSecrets`.
    pub fn image_pull_secrets(mut self, secrets: &[&str]) -> KubeObject {
        if let Some(spec) = self.pod_spec_mut() {
            spec["imagePullSecrets"] = secret_references(secrets);
        }
        self
    }

    /// Sets the pod spec's `serviceAccountName`.
    pub fn service_account_name(mut self, name: &str) -> KubeObject {
        if let Some(spec) = self.pod_spec_mut() {
            spec["serviceAccountName"] = json!(name);
        }
        self
    }

    /// Sets the pod spec's `nodeName` (a pod created bound to a node, as a
    /// scheduler would leave it).
    pub fn node_name(mut self, node: &str) -> KubeObject {
        if let Some(spec) = self.pod_spec_mut() {
            spec["nodeName"] = json!(node);
        }
        self
    }

    /// The JSON.
    pub fn into_json(self) -> Value {
        self.body
    }
}

fn label_map(labels: &[(&str, &str)]) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
    )
}

fn container_list(containers: &[(&str, &str)]) -> Value {
    Value::Array(
        containers
            .iter()
            .map(|(name, image)| json!({"name": name, "image": image}))
            .collect(),
    )
}

fn secret_references(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|name| json!({"name": name})).collect())
}

/// A pod spec with `restartPolicy` and a zero grace period (see the module
/// docs of [`kube`](super): no kubelet confirms graceful deletions).
fn pod_spec(containers: &[(&str, &str)], restart_policy: &str) -> Value {
    json!({
        "containers": container_list(containers),
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 0,
    })
}

/// Labels with `app: <name>` first (the selector), then the caller's.
fn workload_labels(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut map = label_map(labels);
    if let Some(object) = map.as_object_mut() {
        object.insert("app".into(), json!(name));
    }
    map
}

fn template(name: &str, labels: &[(&str, &str)], spec: Value) -> Value {
    json!({
        "metadata": {"labels": workload_labels(name, labels)},
        "spec": spec,
    })
}

fn workload(
    resource: Resource,
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
    spec: Value,
) -> KubeObject {
    KubeObject::new(resource, Some(namespace), name).with(|body| {
        body["metadata"]["labels"] = workload_labels(name, labels);
        body["spec"] = spec;
    })
}

/// A Namespace.
pub fn namespace(name: &str, labels: &[(&str, &str)]) -> KubeObject {
    KubeObject::new(Resource::NAMESPACES, None, name)
        .with(|body| body["metadata"]["labels"] = label_map(labels))
}

/// An `apps/v1` Deployment: the controller manager makes a ReplicaSet and
/// `replicas` pods.
pub fn deployment(
    namespace: &str,
    name: &str,
    replicas: u32,
    containers: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> KubeObject {
    workload(
        Resource::DEPLOYMENTS,
        namespace,
        name,
        labels,
        json!({
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, labels, pod_spec(containers, "Always")),
        }),
    )
}

/// A core/v1 ReplicationController (the pre-ReplicaSet owner kind).
pub fn replication_controller(
    namespace: &str,
    name: &str,
    replicas: u32,
    containers: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> KubeObject {
    workload(
        Resource::REPLICATION_CONTROLLERS,
        namespace,
        name,
        labels,
        json!({
            "replicas": replicas,
            "selector": {"app": name},
            "template": template(name, labels, pod_spec(containers, "Always")),
        }),
    )
}

/// An `apps/v1` StatefulSet (`serviceName` is required; the Service itself
/// need not exist). Pods `NAME-0`, `NAME-1`… are created one at a time, each
/// only once the previous is Running and Ready (`podManagementPolicy:
/// Parallel` is set so a test does not have to play kubelet in between).
pub fn statefulset(
    namespace: &str,
    name: &str,
    replicas: u32,
    containers: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> KubeObject {
    workload(
        Resource::STATEFUL_SETS,
        namespace,
        name,
        labels,
        json!({
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, labels, pod_spec(containers, "Always")),
        }),
    )
}

/// An `apps/v1` DaemonSet: one pod per schedulable Node object (create the
/// nodes with [`node`] first; without nodes it makes no pods).
pub fn daemonset(
    namespace: &str,
    name: &str,
    containers: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> KubeObject {
    workload(
        Resource::DAEMON_SETS,
        namespace,
        name,
        labels,
        json!({
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, labels, pod_spec(containers, "Always")),
        }),
    )
}

/// A `batch/v1` Job (one pod).
pub fn job(
    namespace: &str,
    name: &str,
    containers: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> KubeObject {
    // No selector: the API server adds `controller-uid` and `job-name` labels.
    let template = template(name, labels, pod_spec(containers, "Never"));
    workload(
        Resource::JOBS,
        namespace,
        name,
        labels,
        json!({"backoffLimit": 0, "template": template}),
    )
}

/// A `batch/v1beta1` CronJob. Its controller (1.20's) checks every 10 s, so
/// with `schedule` `"*/1 * * * *"` the first Job appears within about a minute.
pub fn cronjob(
    namespace: &str,
    name: &str,
    schedule: &str,
    containers: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> KubeObject {
    let template = template(name, labels, pod_spec(containers, "Never"));
    workload(
        Resource::CRON_JOBS,
        namespace,
        name,
        labels,
        json!({
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": template}},
        }),
    )
}

/// A bare Pod (no owner). Add init containers with
/// [`KubeObject::init_containers`]. Ephemeral containers cannot be created
/// on this API server: 1.20 has them behind the `EphemeralContainers`
/// feature gate, which `start.sh` leaves off; their *statuses* can still be
/// patched in (see [`ContainerList::Ephemeral`](super::ContainerList::Ephemeral)).
pub fn pod(
    namespace: &str,
    name: &str,
    containers: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> KubeObject {
    KubeObject::new(Resource::PODS, Some(namespace), name).with(|body| {
        body["metadata"]["labels"] = label_map(labels);
        body["spec"] = pod_spec(containers, "Always");
    })
}

/// A kubelet-less Node with `status.nodeInfo.operatingSystem` and
/// `architecture` (and the matching `kubernetes.io/os`/`arch` labels) and a
/// `Ready` condition. The API server keeps the status given on create; use
/// [`KubeApi::patch_merge_subresource`](super::KubeApi::patch_merge_subresource)
/// with `"status"` to change it later. The cluster keeps it `Ready` with
/// heartbeats as a kubelet would (see [`HEARTBEAT_LABEL`](super::HEARTBEAT_LABEL);
/// without them the node lifecycle controller marks it `Unknown` after
/// about 40 s and evicts its pods five minutes later).
pub fn node(name: &str, os: &str, arch: &str) -> KubeObject {
    KubeObject::new(Resource::NODES, None, name).with(|body| {
        body["metadata"]["labels"] = json!({
            "kubernetes.io/os": os,
            "kubernetes.io/arch": arch,
            "kubernetes.io/hostname": name,
            super::HEARTBEAT_LABEL: "true",
        });
        body["status"] = json!({
            "nodeInfo": {
                "operatingSystem": os,
                "architecture": arch,
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": "", "osImage": "",
                "containerRuntimeVersion": "containerd://1.7.0",
                "kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2",
            },
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "testkit node",
            }],
        });
    })
}

/// A ServiceAccount with `imagePullSecrets`.
pub fn service_account(namespace: &str, name: &str, image_pull_secrets: &[&str]) -> KubeObject {
    KubeObject::new(Resource::SERVICE_ACCOUNTS, Some(namespace), name)
        .with(|body| body["imagePullSecrets"] = secret_references(image_pull_secrets))
}

/// A `kubernetes.io/dockerconfigjson` Secret holding one registry login, as
/// `kubectl create secret docker-registry` makes it.
pub fn docker_config_secret(
    namespace: &str,
    name: &str,
    registry: &str,
    user: &str,
    password: &str,
) -> KubeObject {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let config = json!({
        "auths": {
            registry: {
                "username": user,
                "password": password,
                "auth": b64(format!("{user}:{password}").as_bytes()),
            }
        }
    });
    KubeObject::new(Resource::SECRETS, Some(namespace), name).with(|body| {
        body["type"] = json!("kubernetes.io/dockerconfigjson");
        body["data"] = json!({".dockerconfigjson": b64(config.to_string().as_bytes())});
    })
}
