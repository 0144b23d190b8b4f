//! Where the fleet scanner pulls a scan target from: a registry (with the
//! credentials that came with the image) or an OCI layout on disk (the demo).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use k8s::PullSecretResolver;
use model::Digest;
use oci::{ClientConfig, CredentialStore, ImageSource, OciLayout, Reference, RegistryClient};
use store::{ScanJob, ScanTarget, TargetReference};

/// Why a target could not be located. Never carries credentials.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// The target's repository is not a valid reference: it will never be.
    #[error("cannot pull {repository}: {source}")]
    InvalidRepository {
        repository: String,
        #[source]
        source: Box<oci::OciError>,
    },
    /// The layout has no image for the target.
    #[error("no image for {what} in the OCI layout")]
    NotInLayout { what: String },
    /// Building the client failed (TLS set-up): a configuration problem.
    #[error(transparent)]
    Client(Box<oci::OciError>),
}

/// A located image: where to read it and how to name it in the store.
#[derive(Debug, Clone)]
pub struct Located {
    pub source: ImageSource,
    /// The tag to record for the image when the source's own naming is not
    /// the fleet's (a layout's `ref.name` is not the cluster's tag).
    pub tag: Option<String>,
}

/// Turns a scan job into an image source.
pub trait ImageLocator: Send + Sync + 'static {
    /// The registry host the target is pulled from: the key of the
    /// per-registry concurrency limit.
    fn registry_host(&self, target: &ScanTarget) -> String;

    fn locate(&self, job: &ScanJob) -> impl Future<Output = Result<Located, LocateError>> + Send;
}

/// The registry reference a target is pulled by: `repository@digest`, or
/// `repository:tag` for a local image ID (checked against the config digest
/// after the pull).
pub fn target_reference(target: &ScanTarget) -> Result<Reference, LocateError> {
    let text = match &target.reference {
        TargetReference::Digest { digest } => format!("{}@{digest}", target.repository),
        TargetReference::Tag { tag, .. } => format!("{}:{tag}", target.repository),
    };
    text.parse()
        .map_err(|source| LocateError::InvalidRepository {
            repository: target.repository.clone(),
            source: Box::new(source),
        })
}

/// Registry credentials for a job: the client to pull it with.
pub trait CredentialProvider: Send + Sync + 'static {
    fn client(
        &self,
        job: &ScanJob,
        registry: &str,
    ) -> impl Future<Output = Result<Arc<RegistryClient>, LocateError>> + Send;
}

/// The docker config / explicit credentials the server was started with:
/// one client (and its bearer-token cache) shared by every pull.
#[derive(Debug, Clone)]
pub struct StaticCredentials {
    client: Arc<RegistryClient>,
}

impl StaticCredentials {
    pub fn new(
        config: ClientConfig,
        credentials: CredentialStore,
    ) -> Result<StaticCredentials, oci::OciError> {
        Ok(StaticCredentials {
            client: Arc::new(RegistryClient::new(config, credentials)?),
        })
    }

    pub fn client(&self) -> Arc<RegistryClient> {
        self.client.clone()
    }
}

impl CredentialProvider for StaticCredentials {
    async fn client(
        &self,
        _job: &ScanJob,
        _registry: &str,
    ) -> Result<Arc<RegistryClient>, LocateError> {
        Ok(self.client.clone())
    }
}

/// The job's own pull secrets, read from its clusters through
/// [`PullSecretResolver`] (one per cluster the server can reach); without
/// a secret for the target's registry, the static credentials. The first
/// cluster (by name) whose secrets name the registry wins. A secret that
/// cannot be read is logged by name (never by content) and skipped.
pub struct ClusterPullSecrets {
    resolvers: HashMap<String, Arc<PullSecretResolver>>,
    config: ClientConfig,
    fallback: StaticCredentials,
}

impl std::fmt::Debug for ClusterPullSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut clusters: Vec<&String> = self.resolvers.keys().collect();
        clusters.sort();
        f.debug_struct("ClusterPullSecrets")
            .field("clusters", &clusters)
            .finish_non_exhaustive()
    }
}

impl ClusterPullSecrets {
    pub fn new(
        resolvers: HashMap<String, Arc<PullSecretResolver>>,
        config: ClientConfig,
        fallback: StaticCredentials,
    ) -> ClusterPullSecrets {
        ClusterPullSecrets {
            resolvers,
            config,
            fallback,
        }
    }
}

impl CredentialProvider for ClusterPullSecrets {
    async fn client(
        &self,
        job: &ScanJob,
        registry: &str,
    ) -> Result<Arc<RegistryClient>, LocateError> {
        let mut by_cluster: std::collections::BTreeMap<&str, Vec<k8s::SecretRef>> =
            std::collections::BTreeMap::new();
        for secret in &job.pull_secrets {
            by_cluster
                .entry(secret.cluster.as_str())
                .or_default()
                .push(secret.secret.clone());
        }
        for (cluster, mut secrets) in by_cluster {
            let Some(resolver) = self.resolvers.get(cluster) else {
                continue;
            };
            // The resolver lets later secrets win: the pod's own come last.
            secrets.sort_by_key(|s| s.source != k8s::SecretSource::ServiceAccount);
            let (found, errors) = resolver.credentials(&secrets).await;
            for error in errors {
                tracing::warn!(%cluster, %error, "pull secret not usable");
            }
            if let Some(credentials) = found.get(registry) {
                let mut store = CredentialStore::new();
                store
                    .insert(registry, credentials.clone())
                    .map_err(|e| LocateError::Client(Box::new(e)))?;
                let client = RegistryClient::new(self.config.clone(), store)
                    .map_err(|e| LocateError::Client(Box::new(e)))?;
                return Ok(Arc::new(client));
            }
        }
        Ok(self.fallback.client())
    }
}

/// Pulls targets from their registries.
#[derive(Debug)]
pub struct RegistryLocator<C> {
    credentials: C,
}

impl<C: CredentialProvider> RegistryLocator<C> {
    pub fn new(credentials: C) -> RegistryLocator<C> {
        RegistryLocator { credentials }
    }
}

impl<C: CredentialProvider> ImageLocator for RegistryLocator<C> {
    fn registry_host(&self, target: &ScanTarget) -> String {
        match target_reference(target) {
            Ok(reference) => reference.api_host().to_owned(),
            // Unparseable: it fails at once when located, under its own key.
            Err(_) => target.repository.clone(),
        }
    }

    async fn locate(&self, job: &ScanJob) -> Result<Located, LocateError> {
        let reference = target_reference(&job.target)?;
        let client = self.credentials.client(job, reference.registry()).await?;
        Ok(Located {
            source: ImageSource::registry(client, reference),
            tag: None,
        })
    }
}

/// One image of a layout as the fleet names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutImage {
    /// As clusters report it (`docker.io/library/nginx`).
    pub repository: String,
    pub tag: String,
    /// The per-platform manifest digest.
    pub manifest_digest: Digest,
    /// The layout's `org.opencontainers.image.ref.name` of the image or of
    /// its multi-platform index.
    pub ref_name: String,
}

/// Reads targets from one OCI layout (`serve --demo`: the layout
/// `demo::build` writes, with `DemoSet::images` mapped to [`LayoutImage`]s).
/// A digest target is found by its manifest digest; a tag target by
/// repository and tag. Every target counts as one "registry" (the disk).
#[derive(Debug, Clone)]
pub struct LayoutLocator {
    layout: OciLayout,
    images: Vec<LayoutImage>,
}

/// The per-registry key of layout targets.
pub const LAYOUT_HOST: &str = "oci-layout";

impl LayoutLocator {
    pub fn new(layout: OciLayout, images: Vec<LayoutImage>) -> LayoutLocator {
        LayoutLocator { layout, images }
    }

    fn find(&self, target: &ScanTarget) -> Option<&LayoutImage> {
        self.images.iter().find(|image| {
            image.repository == target.repository
                && match &target.reference {
                    TargetReference::Digest { digest } => &image.manifest_digest == digest,
                    TargetReference::Tag { tag, .. } => &image.tag == tag,
                }
        })
    }
}

impl ImageLocator for LayoutLocator {
    fn registry_host(&self, _target: &ScanTarget) -> String {
        LAYOUT_HOST.to_owned()
    }

    async fn locate(&self, job: &ScanJob) -> Result<Located, LocateError> {
        let image = self
            .find(&job.target)
            .ok_or_else(|| LocateError::NotInLayout {
                what: match &job.target.reference {
                    TargetReference::Digest { digest } => {
                        format!("{}@{digest}", job.target.repository)
                    }
                    TargetReference::Tag { tag, .. } => format!("{}:{tag}", job.target.repository),
                },
            })?;
        Ok(Located {
            source: ImageSource::Layout {
                layout: self.layout.clone(),
                tag: Some(image.ref_name.clone()),
            },
            tag: Some(image.tag.clone()),
        })
    }
}
