//! Pull secrets on demand: GET a secret by name (RBAC: `get secrets` only,
//! no list/watch, so the agent never holds every secret of the cluster),
//! parse its docker config with `oci`'s parser, cache it briefly. Secret
//! values never appear in logs, errors or `Debug` output.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use tokio::sync::Mutex;

use crate::types::SecretRef;

/// Rotated secrets are picked up after this long.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("get secret {namespace}/{name}: {reason}")]
    Get {
        namespace: String,
        name: String,
        reason: String,
    },
    #[error("secret {namespace}/{name} is of type {kind:?}, not a docker config")]
    NotDockerConfig {
        namespace: String,
        name: String,
        kind: String,
    },
    #[error("secret {namespace}/{name}: {source}")]
    Parse {
        namespace: String,
        name: String,
        #[source]
        source: oci::OciError,
    },
}

type CacheEntry = (Instant, Result<Vec<(String, oci::Credentials)>, String>);

/// Resolves [`SecretRef`]s to registry credentials.
pub struct PullSecretResolver {
    client: Client,
    cache: Mutex<HashMap<(String, String), CacheEntry>>,
}

impl std::fmt::Debug for PullSecretResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PullSecretResolver")
    }
}

/// The docker config payload of a secret's data, by secret type.
pub fn docker_config_of(secret: &Secret) -> Option<&[u8]> {
    let key = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => ".dockerconfigjson",
        Some("kubernetes.io/dockercfg") => ".dockercfg",
        _ => return None,
    };
    secret.data.as_ref()?.get(key).map(|b| b.0.as_slice())
}

impl PullSecretResolver {
    pub fn new(client: Client) -> PullSecretResolver {
        PullSecretResolver {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials from all `secrets` (later ones win per registry, so a
    /// service account's secrets do not override the pod's own: pass the
    /// pod's last). Secrets that cannot be read are returned as errors next
    /// to the credentials that could: one broken secret does not hide the others.
    pub async fn credentials(
        &self,
        secrets: &[SecretRef],
    ) -> (oci::CredentialStore, Vec<SecretError>) {
        let mut store = oci::CredentialStore::new();
        let mut errors = Vec::new();
        for secret in secrets {
            match self.entries(secret).await {
                Ok(entries) => {
                    for (registry, credentials) in entries {
                        // Keys came out of `parse_docker_config`, so they are valid.
                        let _ = store.insert(&registry, credentials);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        (store, errors)
    }

    async fn entries(
        &self,
        secret: &SecretRef,
    ) -> Result<Vec<(String, oci::Credentials)>, SecretError> {
        let key = (secret.namespace.clone(), secret.name.clone());
        let mut cache = self.cache.lock().await;
        if let Some((at, result)) = cache.get(&key)
            && at.elapsed() < SECRET_CACHE_TTL
        {
            return result.clone().map_err(|reason| SecretError::Get {
                namespace: secret.namespace.clone(),
                name: secret.name.clone(),
                reason,
            });
        }
        let result = self.fetch(secret).await;
        cache.insert(
            key,
            (
                Instant::now(),
                result.as_ref().map(Clone::clone).map_err(|e| match e {
                    SecretError::Get { reason, .. } => reason.clone(),
                    other => other.to_string(),
                }),
            ),
        );
        result
    }

    async fn fetch(
        &self,
        secret: &SecretRef,
    ) -> Result<Vec<(String, oci::Credentials)>, SecretError> {
        let api = kube::Api::<Secret>::namespaced(self.client.clone(), &secret.namespace);
        let object = api.get(&secret.name).await.map_err(|e| SecretError::Get {
            namespace: secret.namespace.clone(),
            name: secret.name.clone(),
            // kube's errors carry the API status message (never the secret's data).
            reason: match e {
                kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
                other => other.to_string(),
            },
        })?;
        let Some(payload) = docker_config_of(&object) else {
            return Err(SecretError::NotDockerConfig {
                namespace: secret.namespace.clone(),
                name: secret.name.clone(),
                kind: object.type_.clone().unwrap_or_default(),
            });
        };
        let origin = format!("secret {}/{}", secret.namespace, secret.name);
        oci::parse_docker_config(payload, &origin).map_err(|source| SecretError::Parse {
            namespace: secret.namespace.clone(),
            name: secret.name.clone(),
            source,
        })
    }
}
