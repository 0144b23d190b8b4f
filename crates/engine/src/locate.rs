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
    /// The server may not pull from this registry (`allowed registries`).
    #[error(
        "registry {registry} is not among the registries this server may pull from (--allowed-registry)"
    )]
    RegistryNotAllowed { registry: String },
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
    allowed: Option<AllowedRegistries>,
}

impl<C: CredentialProvider> RegistryLocator<C> {
    pub fn new(credentials: C) -> RegistryLocator<C> {
        RegistryLocator {
            credentials,
            allowed: None,
        }
    }

    /// Pull only from these registries. Repository names come from
    /// clusters and agents, so without a list anyone who can create a pod
    /// (or holds an agent token) chooses which hosts the server contacts
    /// (link-local addresses, where cloud metadata services answer, are
    /// refused even then).
    pub fn with_allowed_registries(mut self, allowed: AllowedRegistries) -> RegistryLocator<C> {
        self.allowed = Some(allowed);
        self
    }
}

/// Whether `registry` (`host[:port]`) is a link-local IP address: cloud
/// metadata services live there (169.254.169.254, fd00:ec2::254 aside) and no
/// registry does, so without an allow-list these are refused; an explicit
/// list may still name one.
fn is_link_local_literal(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        // `[v6]:port` or `v4:port`; a bare v6 address has several colons.
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => {
            host
        }
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
        Err(_) => false,
    }
}

/// Registry hosts the server may pull from: `host[:port]` exactly, or
/// `*.example.com` for every subdomain. Case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedRegistries(Vec<String>);

impl AllowedRegistries {
    pub fn new(patterns: impl IntoIterator<Item = String>) -> AllowedRegistries {
        AllowedRegistries(
            patterns
                .into_iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .collect(),
        )
    }

    pub fn allows(&self, registry: &str) -> bool {
        let registry = registry.to_ascii_lowercase();
        self.0
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => registry
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => *pattern == registry,
            })
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
        let allowed = match &self.allowed {
            Some(allowed) => allowed.allows(reference.registry()),
            None => !is_link_local_literal(reference.registry()),
        };
        if !allowed {
            return Err(LocateError::RegistryNotAllowed {
                registry: reference.registry().to_owned(),
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_registries_match_hosts_and_subdomains() {
        let allowed = AllowedRegistries::new(
            [
                "registry.example.com",
                "*.internal.example",
                "localhost:5000",
                "Docker.IO",
            ]
            .map(String::from),
        );
        for (registry, expected) in [
            ("registry.example.com", true),
            ("REGISTRY.example.com", true),
            ("evil-registry.example.com", false),
            ("a.internal.example", true),
            ("a.b.internal.example", true),
            ("internal.example", false),
            ("xinternal.example", false),
            ("localhost:5000", true),
            ("localhost:5001", false),
            ("127.0.0.1:5000", false),
            ("docker.io", true),
        ] {
            assert_eq!(allowed.allows(registry), expected, "{registry}");
        }
    }

    #[test]
    fn link_local_literals_are_recognised() {
        for (registry, expected) in [
            ("169.254.169.254", true),
            ("169.254.169.254:80", true),
            ("169.254.1.1:5000", true),
            ("[fe80::1]:5000", true),
            ("[fd00:ec2::254]", true),
            ("[::ffff:169.254.169.254]:80", true),
            ("127.0.0.1:5000", false),
            ("10.0.0.1:5000", false),
            ("[::1]:5000", false),
            ("registry.example.com", false),
            ("169.254.169.254.nip.io", false),
            ("localhost:5000", false),
        ] {
            assert_eq!(is_link_local_literal(registry), expected, "{registry}");
        }
    }

    #[tokio::test]
    async fn without_a_list_metadata_addresses_are_refused_and_others_pass() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let credentials =
            StaticCredentials::new(ClientConfig::default(), CredentialStore::default()).unwrap();
        let locator = RegistryLocator::new(credentials);
        let job = |repository: &str| ScanJob {
            target: ScanTarget {
                id: store::TargetId(1),
                repository: repository.to_owned(),
                reference: TargetReference::Digest {
                    digest: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
                },
                platform: None,
            },
            attempts: 0,
            pull_secrets: Vec::new(),
        };
        assert!(matches!(
            locator
                .locate(&job("169.254.169.254/latest/meta-data"))
                .await,
            Err(LocateError::RegistryNotAllowed { .. })
        ));
        // Locating only builds the client; nothing is contacted yet.
        assert!(locator.locate(&job("127.0.0.1:5000/app")).await.is_ok());
    }

    #[tokio::test]
    async fn a_registry_outside_the_list_is_never_contacted() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let credentials =
            StaticCredentials::new(ClientConfig::default(), CredentialStore::default()).unwrap();
        let locator = RegistryLocator::new(credentials)
            .with_allowed_registries(AllowedRegistries::new(["ghcr.io".to_owned()]));
        let job = |repository: &str| ScanJob {
            target: ScanTarget {
                id: store::TargetId(1),
                repository: repository.to_owned(),
                reference: TargetReference::Digest {
                    digest: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
                },
                platform: None,
            },
            attempts: 0,
            pull_secrets: Vec::new(),
        };
        match locator.locate(&job("127.0.0.1:8080/internal/admin")).await {
            Err(LocateError::RegistryNotAllowed { registry }) => {
                assert_eq!(registry, "127.0.0.1:8080")
            }
            other => panic!("{other:?}"),
        }
        assert!(locator.locate(&job("ghcr.io/acme/api")).await.is_ok());
    }
}
