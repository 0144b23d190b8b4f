use model::{Digest, DigestAlgorithm};
use sha2::Digest as _;

use crate::OciError;

/// An incremental hasher for the algorithm a digest names.
pub(crate) enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub(crate) fn new(algorithm: DigestAlgorithm) -> Hasher {
        match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::from_raw(DigestAlgorithm::Sha256, &h.finalize()),
            Hasher::Sha512(h) => Digest::from_raw(DigestAlgorithm::Sha512, &h.finalize()),
        }
    }
}

/// The digest of `bytes` under `algorithm`.
pub fn digest_of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(algorithm);
    h.update(bytes);
    h.finish()
}

/// Checks that `bytes` hash to `expected`.
pub(crate) fn verify_digest(what: &str, bytes: &[u8], expected: &Digest) -> Result<(), OciError> {
    let actual = digest_of(expected.algorithm(), bytes);
    if &actual != expected {
        return Err(OciError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// Checks both the size and the digest a descriptor promises.
pub(crate) fn verify_descriptor(
    what: &str,
    bytes: &[u8],
    expected: &Digest,
    expected_size: u64,
) -> Result<(), OciError> {
    if bytes.len() as u64 != expected_size {
        return Err(OciError::SizeMismatch {
            what: what.to_owned(),
            expected: expected_size,
            actual: bytes.len() as u64,
        });
    }
    verify_digest(what, bytes, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            digest_of(DigestAlgorithm::Sha256, b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest_of(DigestAlgorithm::Sha512, b"abc").to_string(),
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        let d = digest_of(DigestAlgorithm::Sha256, b"abc");
        assert!(verify_descriptor("x", b"abc", &d, 3).is_ok());
        assert!(matches!(
            verify_descriptor("x", b"abc", &d, 4),
            Err(OciError::SizeMismatch { .. })
        ));
        assert!(matches!(
            verify_descriptor("x", b"abd", &d, 3),
            Err(OciError::DigestMismatch { .. })
        ));
    }
}
