use std::path::{Path, PathBuf};

use model::Digest;
use serde_json::{Value, json};

use crate::ImageBuildError;
use crate::image::Artifact;

/// How [`LayoutWriter::corrupt_blob`] damages a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corruption {
    /// XOR the byte at this offset with 0xff (offset past the end: last byte).
    FlipByte(usize),
    /// Keep only the first N bytes.
    Truncate(usize),
    /// Replace the whole content.
    Replace(Vec<u8>),
}

/// Writes an OCI image layout directory: `oci-layout`, `index.json` and
/// `blobs/sha256/<hex>`. `index.json` is rewritten after every
/// [`add`](Self::add), so the directory is always complete.
///
/// ```
/// use imagebuild::{Corruption, ImageBuilder, LayerBuilder, LayoutWriter};
/// let dir = tempfile::tempdir().unwrap();
/// let image = ImageBuilder::oci().layer(LayerBuilder::new().file("a", "x", 0o644)).build()?;
/// let mut layout = LayoutWriter::create(dir.path())?;
/// layout.add(&image, Some("demo:1.0"))?;
/// assert!(layout.blob_path(&image.layers[0].digest).exists());
/// layout.corrupt_blob(&image.layers[0].digest, Corruption::Truncate(10))?;
/// # Ok::<(), imagebuild::ImageBuildError>(())
/// ```
#[derive(Debug)]
pub struct LayoutWriter {
    root: PathBuf,
    descriptors: Vec<Value>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImageBuildError + '_ {
    move |source| ImageBuildError::Io {
        path: path.to_owned(),
        source,
    }
}

impl LayoutWriter {
    /// Creates (or reuses) `root` and writes `oci-layout` and an empty `index.json`.
    pub fn create(root: impl AsRef<Path>) -> Result<LayoutWriter, ImageBuildError> {
        let root = root.as_ref().to_owned();
        let blobs = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let marker = root.join("oci-layout");
        std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(&marker))?;
        let writer = LayoutWriter {
            root,
            descriptors: Vec::new(),
        };
        writer.write_index()?;
        Ok(writer)
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives: `blobs/<algorithm>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Writes the artifact's blobs and manifests and lists its top-level
    /// manifest in `index.json`, annotated with
    /// `org.opencontainers.image.ref.name` when `ref_name` is given.
    pub fn add(
        &mut self,
        artifact: &dyn Artifact,
        ref_name: Option<&str>,
    ) -> Result<(), ImageBuildError> {
        for blob in artifact.blobs() {
            self.write_blob(blob.digest, blob.bytes)?;
        }
        for manifest in artifact.manifests() {
            self.write_blob(&manifest.digest, &manifest.bytes)?;
        }
        let top = artifact.top();
        let mut descriptor = json!({
            "mediaType": top.media_type,
            "digest": top.digest.to_string(),
            "size": top.size(),
        });
        if let Some(name) = ref_name {
            descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": name });
        }
        self.descriptors.push(descriptor);
        self.write_index()
    }

    /// Writes one blob under its digest (content is not checked, so a test
    /// can store a blob under the wrong name).
    pub fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), ImageBuildError> {
        let path = self.blob_path(digest);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io_err(&path))
    }

    /// Damages a written blob, so its content no longer matches its digest.
    pub fn corrupt_blob(&self, digest: &Digest, how: Corruption) -> Result<(), ImageBuildError> {
        let path = self.blob_path(digest);
        let mut bytes = std::fs::read(&path).map_err(io_err(&path))?;
        match how {
            Corruption::FlipByte(offset) => {
                if let Some(last) = bytes.len().checked_sub(1) {
                    bytes[offset.min(last)] ^= 0xff;
                } else {
                    bytes.push(0xff);
                }
            }
            Corruption::Truncate(len) => bytes.truncate(len),
            Corruption::Replace(new) => bytes = new,
        }
        std::fs::write(&path, bytes).map_err(io_err(&path))
    }

    /// Deletes a written blob (a layout with a dangling reference).
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), ImageBuildError> {
        let path = self.blob_path(digest);
        std::fs::remove_file(&path).map_err(io_err(&path))
    }

    /// Replaces `index.json` with arbitrary bytes.
    pub fn write_raw_index(&self, bytes: &[u8]) -> Result<(), ImageBuildError> {
        let path = self.root.join("index.json");
        std::fs::write(&path, bytes).map_err(io_err(&path))
    }

    fn write_index(&self) -> Result<(), ImageBuildError> {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": crate::media_type::OCI_INDEX,
            "manifests": self.descriptors,
        });
        self.write_raw_index(&serde_json::to_vec_pretty(&index)?)
    }
}
