//! Shipshape's test kit: build realistic container images in code and serve
//! them from a real registry. Used only from tests and benchmarks.
//!
//! * [`LayerBuilder`] / [`ImageBuilder`] / [`IndexBuilder`] build layers
//!   (files, dirs, links, whiteouts, hostile raw entries; gzip, zstd or none),
//!   configs with history, OCI or Docker manifests, and multi-arch indexes.
//!   Everything is deterministic: the same builder gives the same digests.
//! * [`LayoutWriter`] writes an OCI image layout directory, and can corrupt
//!   or remove blobs afterwards.
//! * [`TestRegistry`] runs Debian's `docker-registry` on 127.0.0.1 with
//!   anonymous, htpasswd or token (JWT) auth; [`RegistryClient`] pushes to it.
//!
//! * [`feed_server::FeedServer`] serves the public advisory feeds' layout
//!   (OSV, Debian tracker, Alpine secdb, NVD API, EPSS, KEV) on 127.0.0.1 for
//!   `db update` and the `feeds` crate; [`feed_server::layout`] writes it from
//!   `shared/vulndata`.
//!
//! * [`kube::KubeTestCluster`] starts a real Kubernetes control plane (etcd,
//!   kube-apiserver, kube-controller-manager 1.20) on free ports, with a REST
//!   client and builders for workloads, nodes, pull secrets and RBAC;
//!   [`kube::populate_fleet`] fills one for benchmarks.
//!
//! Use it as a dev-dependency (`testkit.workspace = true` under
//! `[dev-dependencies]`). It talks to 127.0.0.1 only: plain HTTP, except for
//! the Kubernetes API server, which it reaches with rustls and the ring
//! provider passed explicitly, so it never installs (or needs) a process-wide
//! default provider and cannot clash with the one of the code under test.
//! Tests that need the registry skip when it is not installed
//! (`let Some(registry) = TestRegistry::start() else { return };`); the
//! registry and its temporary storage go away when the handle is dropped, and
//! also when the test process is killed.
//!
//! Broken inputs on purpose: [`RawEntry`] (hostile tar headers),
//! [`LayerBuilder::from_raw_tar`], [`LayerBuilder::blob_override`],
//! [`LayerBuilder::diff_id_override`], [`ImageBuilder::raw_config`],
//! [`RawManifest`] / [`RegistryClient::put_manifest`] (any manifest bytes),
//! [`LayoutWriter::corrupt_blob`] and [`LayoutWriter::remove_blob`]. The
//! registry verifies blob digests on upload, so a blob that does not match its
//! digest can only be served from a layout.
//!
//! ```
//! use testkit::{ImageBuilder, LayerBuilder, TestRegistry};
//!
//! let Some(registry) = TestRegistry::start() else { return Ok(()) }; // skip if not installed
//! let image = ImageBuilder::oci()
//!     .layer(LayerBuilder::new().file("etc/os-release", "ID=alpine\n", 0o644))
//!     .build()?;
//! let digest = registry.client().push("library/demo", "1.0", &image)?;
//! assert_eq!(digest, image.manifest.digest);
//! # Ok::<(), testkit::TestkitError>(())
//! ```

pub mod chart;
mod client;
pub mod feed_server;
pub mod ingest;
pub mod kube;
mod registry;
mod token;

use std::path::PathBuf;

pub use client::{Challenge, HttpResponse, RegistryClient};
// The image builders live in `imagebuild` (the demo fleet builds images at run
// time); tests keep reaching them through the kit.
pub use imagebuild::{
    Artifact, BlobRef, BuiltImage, BuiltIndex, BuiltLayer, Compression, Corruption, DEFAULT_MTIME,
    DiffId, Digest, Flavor, ImageBuildError, ImageBuilder, IndexBuilder, LayerBuilder,
    LayoutWriter, ManifestBlob, Platform, RawEntry, RawManifest, media_type, sha256_digest,
    type_flag,
};
pub use registry::{RegistryAuth, TestRegistry};
pub use token::{Grant, Subject, TokenPolicy, TokenRequest};

/// Everything that can go wrong in the kit.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP {method} {url}: {source}")]
    Http {
        method: String,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{method} {url} answered HTTP {status}: {body}")]
    Status {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("registry stored {what} as {got}, expected {expected}")]
    DigestMismatch {
        what: String,
        expected: String,
        got: String,
    },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Build(#[from] ImageBuildError),
    #[error("docker-registry did not start: {0}")]
    RegistryStart(String),
    #[error("crypto: {0}")]
    Crypto(String),
    #[error("test Kubernetes cluster did not start: {0}")]
    KubeStart(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}
