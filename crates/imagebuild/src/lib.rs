//! Builds container images in code: layers (files, dirs, links, whiteouts;
//! gzip, zstd or none), configs with history, OCI or Docker manifests,
//! multi-platform indexes, and OCI image layout directories.
//!
//! Everything is deterministic: the same builder gives the same digests
//! (fixed owners and mtimes, gzip without a timestamp). It is a runtime crate,
//! not only a test helper: `shipshape serve --demo` builds its demo fleet's
//! images with it (`crates/demo`), and `testkit` re-exports it for tests.
//!
//! Because the tests of the layer walker and the registry client use it too,
//! the builders can also write what no well-behaved tool writes, on explicit
//! request only: [`RawEntry`] (hostile tar headers),
//! [`LayerBuilder::from_raw_tar`], [`LayerBuilder::blob_override`],
//! [`LayerBuilder::diff_id_override`], [`ImageBuilder::raw_config`],
//! [`RawManifest`], [`LayoutWriter::corrupt_blob`] and
//! [`LayoutWriter::remove_blob`].
//!
//! ```
//! use imagebuild::{ImageBuilder, LayerBuilder, LayoutWriter};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = ImageBuilder::oci()
//!     .layer(LayerBuilder::new().file("etc/os-release", "ID=alpine\n", 0o644))
//!     .build()?;
//! let mut layout = LayoutWriter::create(dir.path())?;
//! layout.add(&image, Some("demo"))?;
//! assert!(layout.blob_path(&image.manifest.digest).exists());
//! # Ok::<(), imagebuild::ImageBuildError>(())
//! ```

mod image;
mod layer;
mod layout;
mod tar;

use std::path::PathBuf;

use model::DigestAlgorithm;
use sha2::{Digest as _, Sha256};

pub use image::{
    Artifact, BlobRef, BuiltImage, BuiltIndex, ImageBuilder, IndexBuilder, ManifestBlob,
    RawManifest,
};
pub use layer::{BuiltLayer, Compression, LayerBuilder};
pub use layout::{Corruption, LayoutWriter};
pub use model::{DiffId, Digest, Platform};
pub use tar::{DEFAULT_MTIME, RawEntry, type_flag};

/// Which family of media types an image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// `application/vnd.oci.image.*`.
    Oci,
    /// Docker v2 schema 2 (`application/vnd.docker.*`).
    Docker,
}

/// Media type strings, by flavour.
pub mod media_type {
    use crate::{Compression, Flavor};

    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// containerd's name for zstd layers in Docker manifests.
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

    /// Every manifest media type, for an `Accept` header.
    pub const ALL_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

    pub fn manifest(flavor: Flavor) -> &'static str {
        match flavor {
            Flavor::Oci => OCI_MANIFEST,
            Flavor::Docker => DOCKER_MANIFEST,
        }
    }

    pub fn index(flavor: Flavor) -> &'static str {
        match flavor {
            Flavor::Oci => OCI_INDEX,
            Flavor::Docker => DOCKER_MANIFEST_LIST,
        }
    }

    pub fn config(flavor: Flavor) -> &'static str {
        match flavor {
            Flavor::Oci => OCI_CONFIG,
            Flavor::Docker => DOCKER_CONFIG,
        }
    }

    pub fn layer(flavor: Flavor, compression: Compression) -> &'static str {
        match (flavor, compression) {
            (Flavor::Oci, Compression::None) => OCI_LAYER,
            (Flavor::Oci, Compression::Gzip) => OCI_LAYER_GZIP,
            (Flavor::Oci, Compression::Zstd) => OCI_LAYER_ZSTD,
            (Flavor::Docker, Compression::None) => DOCKER_LAYER,
            (Flavor::Docker, Compression::Gzip) => DOCKER_LAYER_GZIP,
            (Flavor::Docker, Compression::Zstd) => DOCKER_LAYER_ZSTD,
        }
    }
}

/// What can go wrong while building or writing an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageBuildError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// sha256 of `bytes` as a [`Digest`].
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest::from_raw(DigestAlgorithm::Sha256, &Sha256::digest(bytes))
}
