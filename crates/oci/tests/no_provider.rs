//! Its own test binary: no rustls crypto provider is installed in this process.

use oci::{ClientConfig, CredentialStore, OciError, RegistryClient};

#[test]
fn client_without_crypto_provider_is_an_error_not_a_panic() {
    let err = RegistryClient::new(ClientConfig::default(), CredentialStore::new()).unwrap_err();
    assert!(matches!(err, OciError::ClientSetup(_)), "{err:?}");
    assert!(err.to_string().contains("install_default"), "{err}");
}
