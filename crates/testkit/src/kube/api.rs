//! A small blocking REST client for the test API server (ureq + rustls/ring).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use ureq::http;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use super::objects::{KubeObject, Resource, path_segment};
use crate::{HttpResponse, TestkitError};

/// Largest response the client reads: a list of 10,000 pods is ~40 MB.
const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;
/// How long the `wait_*` helpers wait by default: controllers on a loaded
/// two-core machine can take a while.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);
/// The field manager for server-side apply.
const FIELD_MANAGER: &str = "shipshape-testkit";
/// Page size for lists (the API server's pagination, as a real client uses it).
const LIST_PAGE: usize = 500;

/// Which status list of a pod a container status goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    Init,
    Regular,
    /// `ephemeralContainerStatuses`: the spec side needs a feature gate that
    /// 1.20 leaves off, the status side is stored as given.
    Ephemeral,
}

/// A container's state, as a kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running,
    /// Not started yet (`ContainerCreating`, `ImagePullBackOff`…).
    Waiting(String),
    Terminated {
        exit_code: i32,
    },
}

/// One entry of a pod's container status lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub list: ContainerList,
    pub name: String,
    /// What the runtime reports as the image (often the resolved reference).
    pub image: String,
    /// `docker-pullable://repo@sha256:…`, `sha256:…`, or empty before the pull.
    pub image_id: String,
    pub state: ContainerState,
}

impl ContainerStatus {
    /// A running regular container.
    pub fn running(name: &str, image: &str, image_id: &str) -> ContainerStatus {
        ContainerStatus {
            list: ContainerList::Regular,
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: image_id.to_owned(),
            state: ContainerState::Running,
        }
    }

    /// A regular container still being created (no image ID yet).
    pub fn waiting(name: &str, image: &str) -> ContainerStatus {
        ContainerStatus {
            list: ContainerList::Regular,
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: String::new(),
            state: ContainerState::Waiting("ContainerCreating".into()),
        }
    }

    /// The same status in another list.
    pub fn in_list(mut self, list: ContainerList) -> ContainerStatus {
        self.list = list;
        self
    }

    /// The same status with another state.
    pub fn with_state(mut self, state: ContainerState) -> ContainerStatus {
        self.state = state;
        self
    }

    fn to_json(&self) -> Value {
        let running = self.state == ContainerState::Running;
        let state = match &self.state {
            ContainerState::Running => json!({"running": {"startedAt": "2024-01-01T00:00:00Z"}}),
            ContainerState::Waiting(reason) => json!({"waiting": {"reason": reason}}),
            ContainerState::Terminated { exit_code } => json!({"terminated": {
                "exitCode": exit_code,
                "reason": if *exit_code == 0 { "Completed" } else { "Error" },
                "startedAt": "2024-01-01T00:00:00Z",
                "finishedAt": "2024-01-01T00:00:01Z",
            }}),
        };
        let mut status = json!({
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": running,
            "started": running,
            "restartCount": 0,
            "state": state,
        });
        if !self.image_id.is_empty() {
            status["containerID"] = json!(format!("containerd://{}", hex::encode(&self.name)));
        }
        status
    }
}

/// What a kubelet would write into a pod's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodStatusPatch {
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// Binds the pod to this node first when it is not bound yet
    /// (`spec.nodeName` is not part of the status: the scheduler's
    /// `binding` subresource sets it). Empty: leave the pod where it is.
    pub node: String,
    /// Lists that have entries here replace the pod's lists of that kind.
    pub containers: Vec<ContainerStatus>,
}

/// A client of one API server with one bearer token. Every method that
/// returns `Result<Value, _>` fails on a non-2xx answer with
/// [`TestkitError::Status`] (its body is the API server's `Status` JSON);
/// [`send`](Self::send) never fails on status.
#[derive(Clone)]
pub struct KubeApi {
    server: String,
    token: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for KubeApi {
    // The bearer token is a credential: never in Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApi")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl KubeApi {
    /// A client for `server` (`https://127.0.0.1:PORT`). With `ca_pem` the
    /// server certificate is verified against it; without, verification is
    /// skipped, as the kubeconfig's `insecure-skip-tls-verify` says.
    pub fn new(server: &str, token: &str, ca_pem: Option<&str>) -> Result<KubeApi, TestkitError> {
        // ring, passed explicitly: the process-wide default provider belongs
        // to the code under test.
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
        let tls = match ca_pem {
            Some(pem) => {
                let certificates = ureq::tls::parse_pem(pem.as_bytes())
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
                        _ => None,
                    })
                    .collect::<Vec<Certificate<'static>>>();
                if certificates.is_empty() {
                    return Err(TestkitError::Protocol(
                        "no certificate in the API server's CA PEM".into(),
                    ));
                }
                tls.root_certs(RootCerts::Specific(Arc::new(certificates)))
            }
            None => tls.disable_verification(true),
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(120)))
            .max_idle_connections(256)
            .max_idle_connections_per_host(256)
            .tls_config(tls.build())
            .build();
        Ok(KubeApi {
            server: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            agent: config.into(),
        })
    }

    /// The same server with another bearer token (e.g. a service account's).
    pub fn with_token(&self, token: &str) -> KubeApi {
        KubeApi {
            server: self.server.clone(),
            token: token.to_owned(),
            agent: self.agent.clone(),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// One request; the answer whatever its status.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, TestkitError> {
        let url = format!("{}{}", self.server, path);
        let http_err = |source: ureq::Error| TestkitError::Http {
            method: method.to_owned(),
            url: url.clone(),
            source: Box::new(source),
        };
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("accept", "application/json");
        if !self.token.is_empty() {
            builder = builder.header("authorization", format!("Bearer {}", self.token));
        }
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        let result = match body {
            Some(bytes) => builder
                .body(bytes)
                .map_err(|e| http_err(ureq::Error::Http(e)))
                .and_then(|request| self.agent.run(request).map_err(http_err)),
            None => builder
                .body(())
                .map_err(|e| http_err(ureq::Error::Http(e)))
                .and_then(|request| self.agent.run(request).map_err(http_err)),
        };
        let response = result?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .into_with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(http_err)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// A request with a JSON body (or none) whose answer must be 2xx JSON.
    fn json(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> Result<Value, TestkitError> {
        let bytes = body.map(serde_json::to_vec).transpose()?;
        let response = self.send(method, path, Some(content_type), bytes.as_deref())?;
        if !(200..300).contains(&response.status) {
            return Err(TestkitError::Status {
                method: method.to_owned(),
                url: format!("{}{path}", self.server),
                status: response.status,
                body: response.text(),
            });
        }
        Ok(serde_json::from_slice(&response.body)?)
    }

    /// GET any API path (`/api/v1/…`, `/apis/…`, `/version`).
    pub fn get_path(&self, path: &str) -> Result<Value, TestkitError> {
        self.json("GET", path, "application/json", None)
    }

    /// GET one object.
    pub fn get(
        &self,
        namespace: Option<&str>,
        resource: &Resource,
        name: &str,
    ) -> Result<Value, TestkitError> {
        self.get_path(&resource.object_path(namespace, name))
    }

    /// Every object of a resource (in `namespace`, or in all namespaces with
    /// `None`), optionally filtered by a label selector; pages through with
    /// `limit`/`continue`.
    pub fn list(
        &self,
        namespace: Option<&str>,
        resource: &Resource,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, TestkitError> {
        let mut items = Vec::new();
        let mut continue_token = String::new();
        loop {
            let mut query = format!("?limit={LIST_PAGE}");
            if let Some(selector) = label_selector {
                query.push_str(&format!("&labelSelector={}", query_value(selector)));
            }
            if !continue_token.is_empty() {
                query.push_str(&format!("&continue={}", query_value(&continue_token)));
            }
            let mut page =
                self.get_path(&format!("{}{query}", resource.collection_path(namespace)))?;
            if let Some(page_items) = page["items"].as_array_mut() {
                items.append(page_items);
            }
            match page["metadata"]["continue"].as_str() {
                Some(token) if !token.is_empty() => continue_token = token.to_owned(),
                _ => return Ok(items),
            }
        }
    }

    /// POST an object into its collection.
    pub fn create(
        &self,
        namespace: Option<&str>,
        resource: &Resource,
        object: &Value,
    ) -> Result<Value, TestkitError> {
        self.json(
            "POST",
            &resource.collection_path(namespace),
            "application/json",
            Some(object),
        )
    }

    /// POST a built object.
    pub fn create_object(&self, object: &KubeObject) -> Result<Value, TestkitError> {
        self.create(object.namespace(), &object.resource, &object.body)
    }

    /// Server-side apply (create or update) of `body` at its object `path`,
    /// taking ownership of conflicting fields.
    pub fn apply_json(&self, path: &str, body: &Value) -> Result<Value, TestkitError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        self.json(
            "PATCH",
            &format!("{path}{separator}fieldManager={FIELD_MANAGER}&force=true"),
            "application/apply-patch+yaml",
            Some(body),
        )
    }

    /// Server-side apply of a built object.
    pub fn apply_object(&self, object: &KubeObject) -> Result<Value, TestkitError> {
        self.apply_json(&object.path(), &object.body)
    }

    /// JSON merge patch (RFC 7386) of one object.
    pub fn patch_merge(
        &self,
        namespace: Option<&str>,
        resource: &Resource,
        name: &str,
        patch: &Value,
    ) -> Result<Value, TestkitError> {
        self.json(
            "PATCH",
            &resource.object_path(namespace, name),
            "application/merge-patch+json",
            Some(patch),
        )
    }

    /// JSON merge patch of a subresource (`status`, `scale`).
    pub fn patch_merge_subresource(
        &self,
        namespace: Option<&str>,
        resource: &Resource,
        name: &str,
        subresource: &str,
        patch: &Value,
    ) -> Result<Value, TestkitError> {
        self.json(
            "PATCH",
            &format!(
                "{}/{}",
                resource.object_path(namespace, name),
                path_segment(subresource)
            ),
            "application/merge-patch+json",
            Some(patch),
        )
    }

    /// Sets `spec.replicas` (Deployment, ReplicaSet, StatefulSet, RC).
    pub fn scale(
        &self,
        namespace: &str,
        resource: &Resource,
        name: &str,
        replicas: u32,
    ) -> Result<Value, TestkitError> {
        self.patch_merge(
            Some(namespace),
            resource,
            name,
            &json!({"spec": {"replicas": replicas}}),
        )
    }

    /// DELETE one object; dependents go in the background (garbage collector).
    pub fn delete(
        &self,
        namespace: Option<&str>,
        resource: &Resource,
        name: &str,
    ) -> Result<Value, TestkitError> {
        self.json(
            "DELETE",
            &resource.object_path(namespace, name),
            "application/json",
            Some(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})),
        )
    }

    /// DELETE with a zero grace period: gone at once, as a kubelet's
    /// confirmation would make it.
    pub fn delete_now(
        &self,
        namespace: Option<&str>,
        resource: &Resource,
        name: &str,
    ) -> Result<Value, TestkitError> {
        self.json(
            "DELETE",
            &resource.object_path(namespace, name),
            "application/json",
            Some(&json!({
                "kind": "DeleteOptions", "apiVersion": "v1",
                "propagationPolicy": "Background", "gracePeriodSeconds": 0,
            })),
        )
    }

    /// Waits (up to [`DEFAULT_WAIT`]) until exactly `count` pods that are not
    /// being deleted match `selector` in `namespace`, and returns them.
    pub fn wait_for_pods(
        &self,
        namespace: &str,
        selector: &str,
        count: usize,
    ) -> Result<Vec<Value>, TestkitError> {
        self.wait_for_pods_within(namespace, selector, count, DEFAULT_WAIT)
    }

    /// [`wait_for_pods`](Self::wait_for_pods) with a deadline.
    pub fn wait_for_pods_within(
        &self,
        namespace: &str,
        selector: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Value>, TestkitError> {
        let deadline = Instant::now() + timeout;
        loop {
            let pods: Vec<Value> = self
                .list(Some(namespace), &Resource::PODS, Some(selector))?
                .into_iter()
                .filter(|pod| pod["metadata"]["deletionTimestamp"].is_null())
                .collect();
            if pods.len() == count {
                return Ok(pods);
            }
            if Instant::now() > deadline {
                let names: Vec<&str> = pods
                    .iter()
                    .filter_map(|p| p["metadata"]["name"].as_str())
                    .collect();
                return Err(TestkitError::Timeout(format!(
                    "{count} pods matching {selector:?} in {namespace:?} after {timeout:?}; found {}: {names:?}",
                    pods.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Binds a pending pod to a node, as the scheduler does.
    pub fn bind_pod(&self, namespace: &str, pod: &str, node: &str) -> Result<Value, TestkitError> {
        self.json(
            "POST",
            &format!(
                "{}/binding",
                Resource::PODS.object_path(Some(namespace), pod)
            ),
            "application/json",
            Some(&json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": pod, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            })),
        )
    }

    /// Plays kubelet: binds the pod to `node` (when it is not bound yet),
    /// then merge-patches its status with `phase` and one status per
    /// `(name, image, image_id, running)`. Each name goes to the list of the
    /// spec that has it (init or regular); a name the spec lacks goes to
    /// `ephemeralContainerStatuses` (ephemeral containers have no spec here).
    /// A container that is not running is `Waiting` (`ContainerCreating`).
    pub fn patch_pod_status(
        &self,
        namespace: &str,
        pod: &str,
        phase: &str,
        node: &str,
        container_statuses: &[(&str, &str, &str, bool)],
    ) -> Result<Value, TestkitError> {
        let current = self.get(Some(namespace), &Resource::PODS, pod)?;
        let names = |key: &str| -> HashSet<String> {
            current["spec"][key]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|c| c["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (init, regular) = (names("initContainers"), names("containers"));
        let containers = container_statuses
            .iter()
            .map(|(name, image, image_id, running)| {
                let list = if regular.contains(*name) {
                    ContainerList::Regular
                } else if init.contains(*name) {
                    ContainerList::Init
                } else {
                    ContainerList::Ephemeral
                };
                let state = if *running {
                    ContainerState::Running
                } else {
                    ContainerState::Waiting("ContainerCreating".into())
                };
                ContainerStatus {
                    list,
                    name: (*name).to_owned(),
                    image: (*image).to_owned(),
                    image_id: (*image_id).to_owned(),
                    state,
                }
            })
            .collect();
        let patch = PodStatusPatch {
            phase: phase.to_owned(),
            node: node.to_owned(),
            containers,
        };
        self.patch_pod_status_with(namespace, pod, &current, &patch)
    }

    /// The general form of [`patch_pod_status`](Self::patch_pod_status):
    /// explicit lists and states. `current` is the pod as last read (to see
    /// whether it is bound already).
    pub fn patch_pod_status_with(
        &self,
        namespace: &str,
        pod: &str,
        current: &Value,
        patch: &PodStatusPatch,
    ) -> Result<Value, TestkitError> {
        let bound = current["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        if !patch.node.is_empty() && !bound {
            self.bind_pod(namespace, pod, &patch.node)?;
        }
        let mut status = json!({"phase": patch.phase});
        for (list, key) in [
            (ContainerList::Init, "initContainerStatuses"),
            (ContainerList::Regular, "containerStatuses"),
            (ContainerList::Ephemeral, "ephemeralContainerStatuses"),
        ] {
            let entries: Vec<Value> = patch
                .containers
                .iter()
                .filter(|c| c.list == list)
                .map(ContainerStatus::to_json)
                .collect();
            if !entries.is_empty() {
                status[key] = Value::Array(entries);
            }
        }
        if patch.phase == "Running" {
            status["hostIP"] = json!("127.0.0.1");
            status["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        }
        self.patch_merge_subresource(
            Some(namespace),
            &Resource::PODS,
            pod,
            "status",
            &json!({"status": status}),
        )
    }

    /// The token of a service account, from the secret 1.20's token
    /// controller creates for it (waits up to [`DEFAULT_WAIT`] for it).
    pub fn service_account_token(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<String, TestkitError> {
        let deadline = Instant::now() + DEFAULT_WAIT;
        loop {
            let account = self.get(
                Some(namespace),
                &Resource::SERVICE_ACCOUNTS,
                service_account,
            )?;
            for reference in account["secrets"].as_array().into_iter().flatten() {
                let Some(name) = reference["name"].as_str() else {
                    continue;
                };
                let secret = self.get(Some(namespace), &Resource::SECRETS, name)?;
                if secret["type"] != "kubernetes.io/service-account-token" {
                    continue;
                }
                if let Some(encoded) = secret["data"]["token"].as_str() {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .map_err(|e| TestkitError::Protocol(format!("token secret {name}: {e}")))?;
                    return String::from_utf8(bytes).map_err(|_| {
                        TestkitError::Protocol(format!("token secret {name} is not UTF-8"))
                    });
                }
            }
            if Instant::now() > deadline {
                return Err(TestkitError::Timeout(format!(
                    "no token secret for service account {namespace}/{service_account}"
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Applies a ClusterRole given as YAML or JSON (one document, or a
    /// multi-document manifest holding exactly one ClusterRole).
    pub fn apply_cluster_role(&self, yaml_or_json: &str) -> Result<Value, TestkitError> {
        let mut roles = super::yaml_documents(yaml_or_json)?
            .into_iter()
            .filter(|doc| doc["kind"] == "ClusterRole");
        let (Some(role), None) = (roles.next(), roles.next()) else {
            return Err(TestkitError::Protocol(
                "expected exactly one ClusterRole document".into(),
            ));
        };
        self.apply_cluster_role_json(&role)
    }

    /// Applies a ClusterRole given as JSON.
    pub fn apply_cluster_role_json(&self, role: &Value) -> Result<Value, TestkitError> {
        let Some(name) = role["metadata"]["name"].as_str() else {
            return Err(TestkitError::Protocol("ClusterRole without a name".into()));
        };
        self.apply_json(&Resource::CLUSTER_ROLES.object_path(None, name), role)
    }

    /// Binds `role` to the service account `namespace/service_account`
    /// (ClusterRoleBinding `ROLE--NS--SA`).
    pub fn bind_cluster_role(
        &self,
        role: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Value, TestkitError> {
        let name = format!("{role}--{namespace}--{service_account}");
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        });
        self.apply_json(
            &Resource::CLUSTER_ROLE_BINDINGS.object_path(None, &name),
            &binding,
        )
    }
}

fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
