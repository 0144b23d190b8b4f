use std::fmt;
use std::path::PathBuf;

use model::{Digest, Platform};

/// Everything that can go wrong between an image reference and a verified blob.
///
/// Messages are meant for the person running the scan: they name the registry,
/// the reference or the digest involved and, when the registry sent one, its own
/// error message. They never contain credentials or tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: String },

    #[error("invalid credentials in {origin}: {reason}")]
    InvalidCredentials { origin: String, reason: String },

    #[error("authentication required / credentials rejected for {registry}{}", RegistryMessage(.message))]
    Unauthorized {
        registry: String,
        message: Option<String>,
    },

    #[error("access to {what} denied by {registry}{}", RegistryMessage(.message))]
    Denied {
        registry: String,
        what: String,
        message: Option<String>,
    },

    #[error("manifest unknown: {reference}{}", RegistryMessage(.message))]
    ManifestUnknown {
        reference: String,
        message: Option<String>,
    },

    #[error("blob unknown: {digest} in {repository}{}", RegistryMessage(.message))]
    BlobUnknown {
        repository: String,
        digest: Digest,
        message: Option<String>,
    },

    #[error("registry {registry} answered HTTP {status} for {what}{}", RegistryMessage(.message))]
    UnexpectedStatus {
        registry: String,
        status: u16,
        what: String,
        message: Option<String>,
    },

    #[error("registry {registry} still failing after {attempts} attempts for {what}: {last}")]
    RetriesExhausted {
        registry: String,
        what: String,
        attempts: u32,
        last: String,
    },

    #[error("cannot reach registry {registry}: {detail}")]
    Connection { registry: String, detail: String },

    #[error("token service {realm} for {registry} failed: {detail}")]
    Token {
        registry: String,
        realm: String,
        detail: String,
    },

    #[error(
        "refusing plain HTTP to {host}: only loopback hosts and hosts listed as insecure registries may use HTTP"
    )]
    InsecureTransport { host: String },

    #[error("{what} is larger than the {limit}-byte limit (at least {size} bytes)")]
    TooLarge { what: String, size: u64, limit: u64 },

    #[error("digest mismatch for {what}: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("size mismatch for {what}: descriptor says {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },

    #[error("malformed {what}: {reason}")]
    Malformed { what: String, reason: String },

    #[error(
        "unsupported manifest media type {media_type:?} for {reference} (expected a Docker v2 schema 2 or OCI image manifest or index)"
    )]
    UnsupportedMediaType {
        reference: String,
        media_type: String,
    },

    #[error(
        "{reference} uses a Docker schema 1 manifest, which is deprecated and not supported; re-push the image with a current client"
    )]
    Schema1 { reference: String },

    #[error("no image for platform {wanted} in {reference}; it offers: {}", PlatformList(.available))]
    PlatformNotFound {
        reference: String,
        wanted: Platform,
        available: Vec<Platform>,
    },

    #[error("image indexes nested deeper than {limit} levels in {reference}")]
    IndexTooDeep { reference: String, limit: usize },

    #[error("config of {reference} lists {diff_ids} diff_ids but the manifest has {layers} layers")]
    LayerCountMismatch {
        reference: String,
        layers: usize,
        diff_ids: usize,
    },

    #[error("layer {digest} is not part of image {reference}")]
    LayerNotInImage { reference: String, digest: Digest },

    #[error("OCI layout {}: {reason}", .path.display())]
    Layout { path: PathBuf, reason: String },

    #[error("I/O error on {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot set up the HTTP client: {0}")]
    ClientSetup(String),
}

struct RegistryMessage<'a>(&'a Option<String>);

impl fmt::Display for RegistryMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) if !m.is_empty() => write!(f, " (registry says: {m})"),
            _ => Ok(()),
        }
    }
}

struct PlatformList<'a>(&'a [Platform]);

impl fmt::Display for PlatformList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no platforms");
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
