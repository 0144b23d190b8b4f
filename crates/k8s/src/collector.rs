//! Connecting to clusters and watching them.
//!
//! One task per resource runs `kube::runtime::watcher` (initial list in pages
//! of [`PAGE_SIZE`], then a watch with bookmarks; on a dropped connection the
//! watcher resumes from the last resourceVersion, on 410 Gone it relists —
//! the `Init`/`InitApply`/`InitDone` events then replace the table atomically)
//! behind kube's default exponential backoff. Objects are deserialized into
//! the slim types of [`crate::objects`] and mapped to records at once.
//!
//! A resource that fails (403 on list or watch, a cluster that does not
//! answer) only marks itself failed: the other resources and clusters go on,
//! and [`ClusterHandle::status`] names each failed resource and verb.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::assemble::assemble;
use crate::objects::{MetaObject, NodeObject, PodObject, ServiceAccountObject};
use crate::store::{
    self, ClusterStore, Table, namespace_record, node_record, owner_record, pod_record,
    service_account_record,
};
use crate::types::{ClusterInventory, ClusterStatus};

/// Objects per list page: big enough for few round trips, small enough that a
/// page of full pod objects (a few MiB) is all that is ever parsed at once.
pub const PAGE_SIZE: u32 = 500;

/// A transient watch error on a resource that was listed counts as degraded
/// for this long; without a new error, the watcher has resumed.
const RECONNECT_GRACE: Duration = Duration::from_secs(15);

/// Where a cluster's connection settings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// A kubeconfig context (`None`: the file's current context) from a file
    /// (`None`: `$KUBECONFIG` or `~/.kube/config`).
    Kubeconfig {
        path: Option<std::path::PathBuf>,
        context: Option<String>,
    },
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`, mounted token).
    InCluster,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("reading kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    #[error("in-cluster configuration: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("building the Kubernetes client for cluster {cluster}: {source}")]
    Client {
        cluster: String,
        #[source]
        source: kube::Error,
    },
    #[error("kubeconfig has no current context; name one with --context")]
    NoCurrentContext,
}

fn read_kubeconfig(path: Option<&Path>) -> Result<Kubeconfig, CollectorError> {
    match path {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map_err(CollectorError::Kubeconfig)
}

/// The context names of a kubeconfig, in file order.
pub fn kubeconfig_contexts(path: Option<&Path>) -> Result<Vec<String>, CollectorError> {
    Ok(read_kubeconfig(path)?
        .contexts
        .into_iter()
        .map(|c| c.name)
        .collect())
}

/// The current context of a kubeconfig.
pub fn current_context(path: Option<&Path>) -> Result<String, CollectorError> {
    read_kubeconfig(path)?
        .current_context
        .filter(|c| !c.is_empty())
        .ok_or(CollectorError::NoCurrentContext)
}

/// Client configuration for a source.
pub async fn client_config(source: &ClusterSource) -> Result<kube::Config, CollectorError> {
    match source {
        ClusterSource::InCluster => kube::Config::incluster().map_err(CollectorError::InCluster),
        ClusterSource::Kubeconfig { path, context } => {
            let kubeconfig = read_kubeconfig(path.as_deref())?;
            let options = KubeConfigOptions {
                context: context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(CollectorError::Kubeconfig)
        }
    }
}

/// Where a resource's watcher is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceState {
    /// Initial list not complete yet.
    Listing,
    /// Listed and watching.
    Ready,
    /// The last attempt failed; `listed` says whether the table holds a complete list.
    Failed {
        reason: String,
        listed: bool,
        transport: bool,
        at: Instant,
    },
}

/// How far the initial lists are (for progress display).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub resources_settled: usize,
    pub resources: usize,
    pub pods: usize,
}

type States = Arc<Mutex<BTreeMap<&'static str, ResourceState>>>;
/// How many times each resource's (re)list began.
type Lists = Arc<Mutex<BTreeMap<&'static str, u64>>>;

/// A cluster being watched. Dropping it stops the watchers.
pub struct ClusterHandle {
    name: String,
    client: Client,
    store: Arc<RwLock<ClusterStore>>,
    states: States,
    lists: Lists,
    changed: watch::Receiver<u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Describes a watcher error as "VERB RESOURCE: reason", and whether it is a
/// transport problem (nothing answered) rather than an answer from the API server.
pub fn describe_error(resource: &str, error: &watcher::Error) -> (String, bool) {
    let (verb, source) = match error {
        watcher::Error::InitialListFailed(e) => ("list", Some(e)),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", Some(e)),
        watcher::Error::WatchError(status) => {
            return (
                format!("watch {resource}: {} ({})", status.message, status.code),
                false,
            );
        }
        watcher::Error::NoResourceVersion => ("watch", None),
    };
    match source {
        Some(kube::Error::Api(status)) => {
            let what = match status.code {
                401 => "unauthorized (401)".to_owned(),
                403 => "forbidden (403)".to_owned(),
                404 => "not found (404)".to_owned(),
                code => format!("error {code}"),
            };
            (
                format!("{verb} {resource}: {what}: {}", status.message),
                false,
            )
        }
        Some(
            e @ (kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_)),
        ) => (format!("{verb} {resource}: no answer: {e}"), true),
        Some(e) => (format!("{verb} {resource}: {e}"), false),
        None => (format!("{verb} {resource}: {error}"), false),
    }
}

/// Builds the client and starts watching a cluster.
pub async fn connect(cluster: &str, config: kube::Config) -> Result<ClusterHandle, CollectorError> {
    let client = Client::try_from(config).map_err(|source| CollectorError::Client {
        cluster: cluster.to_owned(),
        source,
    })?;
    Ok(start(cluster, client).await)
}

/// CronJob is `batch/v1` from Kubernetes 1.21 and `batch/v1beta1` before.
async fn cronjob_resource(client: &Client) -> ApiResource {
    let v1 = client
        .list_api_group_resources("batch/v1")
        .await
        .map(|list| list.resources.iter().any(|r| r.name == "cronjobs"))
        .unwrap_or(true);
    let version = if v1 { "v1" } else { "v1beta1" };
    ApiResource {
        group: "batch".into(),
        version: version.into(),
        api_version: format!("batch/{version}"),
        kind: "CronJob".into(),
        plural: "cronjobs".into(),
    }
}

fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Starts the watchers on an existing client.
pub async fn start(cluster: &str, client: Client) -> ClusterHandle {
    let store = Arc::new(RwLock::new(ClusterStore::default()));
    let states: States = Arc::new(Mutex::new(BTreeMap::new()));
    let lists: Lists = Arc::new(Mutex::new(BTreeMap::new()));
    let (notify, changed) = watch::channel(0u64);
    let notify = Arc::new(notify);
    let mut tasks = Vec::new();

    let ctx = WatchContext {
        store: store.clone(),
        states: states.clone(),
        lists: lists.clone(),
        notify: notify.clone(),
    };
    tasks.push(ctx.spawn(
        "pods",
        kube::Api::<PodObject>::all(client.clone()),
        pod_record,
        |s| &mut s.pods,
    ));
    tasks.push(ctx.spawn(
        "nodes",
        kube::Api::<NodeObject>::all(client.clone()),
        node_record,
        |s| &mut s.nodes,
    ));
    tasks.push(ctx.spawn(
        "serviceaccounts",
        kube::Api::<ServiceAccountObject>::all(client.clone()),
        service_account_record,
        |s| &mut s.service_accounts,
    ));
    let namespaces = api_resource("", "v1", "Namespace", "namespaces");
    tasks.push(ctx.spawn(
        "namespaces",
        kube::Api::<MetaObject>::all_with(client.clone(), &namespaces),
        namespace_record,
        |s| &mut s.namespaces,
    ));
    let cronjobs = cronjob_resource(&client).await;
    let owners: [(&'static str, ApiResource); 7] = [
        (
            "replicasets",
            api_resource("apps", "v1", "ReplicaSet", "replicasets"),
        ),
        (
            "deployments",
            api_resource("apps", "v1", "Deployment", "deployments"),
        ),
        (
            "statefulsets",
            api_resource("apps", "v1", "StatefulSet", "statefulsets"),
        ),
        (
            "daemonsets",
            api_resource("apps", "v1", "DaemonSet", "daemonsets"),
        ),
        ("jobs", api_resource("batch", "v1", "Job", "jobs")),
        ("cronjobs", cronjobs),
        (
            "replicationcontrollers",
            api_resource("", "v1", "ReplicationController", "replicationcontrollers"),
        ),
    ];
    for (resource, ar) in owners {
        let kind = ar.kind.clone();
        tasks.push(ctx.spawn(
            resource,
            kube::Api::<MetaObject>::all_with(client.clone(), &ar),
            move |o| owner_record(&kind, o),
            move |s| s.owners.entry(resource).or_default(),
        ));
    }
    ClusterHandle {
        name: cluster.to_owned(),
        client,
        store,
        states,
        lists,
        changed,
        tasks,
    }
}

#[derive(Clone)]
struct WatchContext {
    store: Arc<RwLock<ClusterStore>>,
    states: States,
    lists: Lists,
    notify: Arc<watch::Sender<u64>>,
}

impl WatchContext {
    fn set_state(&self, resource: &'static str, state: ResourceState) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.insert(resource, state);
    }

    fn spawn<K, T, M, S>(
        &self,
        resource: &'static str,
        api: kube::Api<K>,
        map: M,
        table: S,
    ) -> JoinHandle<()>
    where
        K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
        T: Send + Sync + 'static,
        M: Fn(K) -> (String, T) + Send + 'static,
        S: Fn(&mut ClusterStore) -> &mut Table<T> + Send + 'static,
    {
        self.set_state(resource, ResourceState::Listing);
        let ctx = self.clone();
        let config = watcher::Config::default().page_size(PAGE_SIZE);
        tokio::spawn(async move {
            let mut stream = watcher::watcher(api, config).default_backoff().boxed();
            let mut listed = false;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(event) => {
                        if matches!(event, Event::Init) {
                            let mut lists = ctx.lists.lock().unwrap_or_else(|e| e.into_inner());
                            *lists.entry(resource).or_default() += 1;
                        }
                        let done = matches!(event, Event::InitDone);
                        let settled = !matches!(event, Event::Init | Event::InitApply(_));
                        let event = map_event(event, &map);
                        {
                            let mut store = ctx.store.write().unwrap_or_else(|e| e.into_inner());
                            table(&mut store).apply(event);
                        }
                        if done {
                            listed = true;
                        }
                        if settled && listed {
                            ctx.set_state(resource, ResourceState::Ready);
                        }
                        ctx.notify.send_modify(|generation| *generation += 1);
                    }
                    Err(error) => {
                        let (reason, transport) = describe_error(resource, &error);
                        tracing::warn!(resource, %reason, "watcher error; retrying with backoff");
                        ctx.set_state(
                            resource,
                            ResourceState::Failed {
                                reason,
                                listed,
                                transport,
                                at: Instant::now(),
                            },
                        );
                        ctx.notify.send_modify(|generation| *generation += 1);
                    }
                }
            }
        })
    }
}

fn map_event<K, T>(event: Event<K>, map: &impl Fn(K) -> (String, T)) -> Event<(String, T)> {
    match event {
        Event::Apply(o) => Event::Apply(map(o)),
        Event::Delete(o) => Event::Delete(map(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(map(o)),
        Event::InitDone => Event::InitDone,
    }
}

/// Cluster status from the resources' states.
pub fn status_of(states: &BTreeMap<&'static str, ResourceState>, now: Instant) -> ClusterStatus {
    let mut reasons = Vec::new();
    let mut incomplete = Vec::new();
    let mut transport_only = true;
    let mut any_listed = false;
    for (resource, state) in states {
        match state {
            ResourceState::Ready => any_listed = true,
            ResourceState::Listing => {
                transport_only = false;
                reasons.push(format!("list {resource}: not complete yet"));
                incomplete.push((*resource).to_owned());
            }
            ResourceState::Failed {
                reason,
                listed,
                transport,
                at,
            } => {
                if *listed && *transport && now.duration_since(*at) > RECONNECT_GRACE {
                    // The watcher resumed quietly after a dropped connection.
                    any_listed = true;
                    continue;
                }
                any_listed |= *listed;
                transport_only &= *transport;
                reasons.push(reason.clone());
                if !*listed {
                    incomplete.push((*resource).to_owned());
                }
            }
        }
    }
    if reasons.is_empty() {
        ClusterStatus::Ok
    } else if transport_only && !any_listed {
        ClusterStatus::Unreachable {
            reason: reasons.into_iter().next().unwrap_or_default(),
        }
    } else {
        ClusterStatus::Degraded {
            reasons,
            incomplete,
        }
    }
}

impl ClusterHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client, for on-demand reads such as pull secrets.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn states(&self) -> BTreeMap<&'static str, ResourceState> {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times `resource`'s list began: 1 once the first list
    /// started, one more for every relist (after 410 Gone: the watch's
    /// resourceVersion was compacted away). A watch that resumed after a
    /// dropped connection does not count.
    pub fn lists(&self, resource: &str) -> u64 {
        self.lists
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(resource)
            .copied()
            .unwrap_or(0)
    }

    pub fn status(&self) -> ClusterStatus {
        status_of(&self.states(), Instant::now())
    }

    pub fn progress(&self) -> Progress {
        let states = self.states();
        let pods = self
            .store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .pods
            .len();
        Progress {
            resources_settled: states
                .values()
                .filter(|s| !matches!(s, ResourceState::Listing))
                .count(),
            resources: states.len(),
            pods,
        }
    }

    /// Whether every resource has either listed or failed at least once.
    pub fn settled(&self) -> bool {
        let p = self.progress();
        p.resources_settled == p.resources
    }

    /// Waits until [`settled`](Self::settled) or the timeout; returns whether it settled.
    pub async fn wait_settled(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.settled() {
            if tokio::time::timeout_at(deadline, self.changed.changed())
                .await
                .is_err()
            {
                return self.settled();
            }
        }
        true
    }

    /// A counter that moves with every change to any table or state: equal
    /// values mean an equal store (the status may still change with time, see
    /// [`status`](Self::status)).
    pub fn generation(&self) -> u64 {
        *self.changed.borrow()
    }

    /// Waits for the next change to any table or state (or the timeout).
    pub async fn changed(&mut self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.changed.changed()).await,
            Ok(Ok(()))
        )
    }

    /// The inventory as of now.
    pub fn snapshot(&self) -> ClusterInventory {
        let status = self.status();
        let store = self.store.read().unwrap_or_else(|e| e.into_inner());
        assemble(&self.name, &store, status, OffsetDateTime::now_utc())
    }

    /// Runs `f` on the store (tests and benchmarks look inside).
    pub fn with_store<R>(&self, f: impl FnOnce(&store::ClusterStore) -> R) -> R {
        let store = self.store.read().unwrap_or_else(|e| e.into_inner());
        f(&store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(reason: &str, listed: bool, transport: bool, at: Instant) -> ResourceState {
        ResourceState::Failed {
            reason: reason.into(),
            listed,
            transport,
            at,
        }
    }

    #[test]
    fn error_descriptions() {
        let api = |code: u16, message: &str| {
            kube::Error::Api(
                kube::core::Status::failure(message, "Forbidden")
                    .with_code(code)
                    .boxed(),
            )
        };
        let transport = || kube::Error::Service("connection refused".into());
        // (error, expected reason, transport?)
        let cases: Vec<(watcher::Error, &str, bool)> = vec![
            (
                watcher::Error::InitialListFailed(api(403, "nodes is forbidden")),
                "list nodes: forbidden (403): nodes is forbidden",
                false,
            ),
            (
                watcher::Error::WatchStartFailed(api(403, "no watch")),
                "watch nodes: forbidden (403): no watch",
                false,
            ),
            (
                watcher::Error::InitialListFailed(api(401, "bad token")),
                "list nodes: unauthorized (401): bad token",
                false,
            ),
            (
                watcher::Error::InitialListFailed(transport()),
                "list nodes: no answer: ServiceError: connection refused",
                true,
            ),
            (
                watcher::Error::WatchFailed(transport()),
                "watch nodes: no answer: ServiceError: connection refused",
                true,
            ),
            (
                watcher::Error::WatchError(
                    kube::core::Status::failure("too old", "Expired")
                        .with_code(410)
                        .boxed(),
                ),
                "watch nodes: too old (410)",
                false,
            ),
        ];
        for (error, reason, is_transport) in cases {
            assert_eq!(
                describe_error("nodes", &error),
                (reason.to_owned(), is_transport)
            );
        }
    }

    #[test]
    fn statuses() {
        let now = Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(60)).unwrap_or(now);
        type Case = (Vec<(&'static str, ResourceState)>, &'static str);
        let cases: Vec<Case> = vec![
            (
                vec![
                    ("pods", ResourceState::Ready),
                    ("nodes", ResourceState::Ready),
                ],
                "ok",
            ),
            (
                vec![
                    ("pods", ResourceState::Ready),
                    (
                        "nodes",
                        failed("list nodes: forbidden (403): x", false, false, now),
                    ),
                ],
                "degraded:list nodes: forbidden (403): x:nodes",
            ),
            (
                vec![
                    ("pods", failed("list pods: no answer", false, true, now)),
                    ("nodes", failed("list nodes: no answer", false, true, now)),
                ],
                "unreachable",
            ),
            (
                vec![
                    ("pods", failed("watch pods: no answer", true, true, now)),
                    ("nodes", ResourceState::Ready),
                ],
                "degraded:watch pods: no answer:",
            ),
            (
                vec![
                    (
                        "pods",
                        failed("watch pods: no answer", true, true, long_ago),
                    ),
                    ("nodes", ResourceState::Ready),
                ],
                "ok",
            ),
            (
                vec![
                    ("pods", ResourceState::Listing),
                    ("nodes", ResourceState::Ready),
                ],
                "degraded:list pods: not complete yet:pods",
            ),
        ];
        for (states, expected) in cases {
            let states: BTreeMap<_, _> = states.into_iter().collect();
            let got = match status_of(&states, now) {
                ClusterStatus::Ok => "ok".to_owned(),
                ClusterStatus::Unreachable { .. } => "unreachable".to_owned(),
                ClusterStatus::Degraded {
                    reasons,
                    incomplete,
                } => format!("degraded:{}:{}", reasons.join(","), incomplete.join(",")),
            };
            assert_eq!(got, expected, "{states:?}");
        }
    }
}
