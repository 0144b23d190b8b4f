#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use oci::{BlobStream, ClientConfig, CredentialStore, OciError, RegistryClient, RetryPolicy};

pub fn install_crypto() {
    // Several tests race to install it; only the first wins, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn fast_retries(max_attempts: u32) -> ClientConfig {
    ClientConfig {
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        ..ClientConfig::default()
    }
}

pub fn client(credentials: CredentialStore) -> Arc<RegistryClient> {
    install_crypto();
    Arc::new(RegistryClient::new(fast_retries(3), credentials).expect("client"))
}

/// Reads a blob stream to its end: the bytes, or the first error item.
pub async fn drain(mut stream: BlobStream) -> Result<Vec<u8>, OciError> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}
