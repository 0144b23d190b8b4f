use std::io::Write;
use std::path::PathBuf;

use model::{DiffId, Digest};

use crate::tar::{self, RawEntry, type_flag};
use crate::{Flavor, ImageBuildError, media_type, sha256_digest};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// The blob is the tar stream itself.
    None,
    /// gzip (deterministic: no timestamp in the gzip header).
    Gzip,
    /// zstd at level 3.
    Zstd,
}

#[derive(Debug, Clone)]
enum Item {
    Entry(RawEntry),
    /// Read at build time so the builder chain stays infallible.
    HostFile {
        path_in_image: String,
        host_path: PathBuf,
    },
}

/// Builds one layer: a tar stream of entries, then compression.
///
/// Paths are written as given minus a leading `/` (layers use relative
/// paths); directories get a trailing `/`. Owner is root, mtime is
/// [`DEFAULT_MTIME`](crate::DEFAULT_MTIME), so the same builder always yields
/// the same digests.
///
/// ```
/// use imagebuild::{Compression, Flavor, LayerBuilder};
/// let layer = LayerBuilder::new()
///     .dir("etc")
///     .file("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n", 0o644)
///     .symlink("usr/lib/os-release", "../../etc/os-release")
///     .hardlink("etc/os-release.bak", "etc/os-release")
///     .whiteout("var/cache/old.bin")
///     .opaque_dir("var/lib/apt/lists")
///     .compression(Compression::Zstd)
///     .build(Flavor::Oci)?;
/// assert_eq!(layer.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
/// assert_ne!(layer.digest, layer.diff_id.0); // compressed blob vs. tar stream
/// # Ok::<(), imagebuild::ImageBuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LayerBuilder {
    items: Vec<Item>,
    compression: Compression,
    media_type: Option<String>,
    created_by: Option<String>,
    raw_tar: Option<Vec<u8>>,
    blob_override: Option<Vec<u8>>,
    diff_id_override: Option<DiffId>,
    omit_end_marker: bool,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder::new()
    }
}

fn relative(path: &str) -> String {
    path.trim_start_matches('/').to_owned()
}

impl LayerBuilder {
    /// An empty gzip layer.
    pub fn new() -> LayerBuilder {
        LayerBuilder {
            items: Vec::new(),
            compression: Compression::Gzip,
            media_type: None,
            created_by: None,
            raw_tar: None,
            blob_override: None,
            diff_id_override: None,
            omit_end_marker: false,
        }
    }

    /// A layer whose uncompressed stream is exactly `tar_bytes` (garbage,
    /// truncated archives, ...). Entries added later are ignored.
    pub fn from_raw_tar(tar_bytes: Vec<u8>) -> LayerBuilder {
        LayerBuilder {
            raw_tar: Some(tar_bytes),
            ..LayerBuilder::new()
        }
    }

    /// Blob compression (default gzip).
    pub fn compression(mut self, compression: Compression) -> LayerBuilder {
        self.compression = compression;
        self
    }

    /// Overrides the layer media type written in the manifest (e.g. an unknown
    /// or mismatched one); by default it follows the flavour and compression.
    pub fn media_type(mut self, media_type: impl Into<String>) -> LayerBuilder {
        self.media_type = Some(media_type.into());
        self
    }

    /// The `created_by` of this layer's history entry in the image config.
    pub fn created_by(mut self, created_by: impl Into<String>) -> LayerBuilder {
        self.created_by = Some(created_by.into());
        self
    }

    /// Uses these bytes as the blob instead of compressing the tar stream
    /// (truncated gzip, zstd garbage, a blob whose compression does not match
    /// its media type). The blob digest is computed over these bytes, so
    /// registries accept it; the diff ID still describes the tar stream.
    pub fn blob_override(mut self, blob: Vec<u8>) -> LayerBuilder {
        self.blob_override = Some(blob);
        self
    }

    /// Writes this diff ID in the config instead of the real one (a config
    /// that lies about its layers).
    pub fn diff_id_override(mut self, diff_id: DiffId) -> LayerBuilder {
        self.diff_id_override = Some(diff_id);
        self
    }

    /// Leaves out the two zero blocks that end a tar archive.
    pub fn omit_end_marker(mut self) -> LayerBuilder {
        self.omit_end_marker = true;
        self
    }

    /// A regular file.
    pub fn file(mut self, path: &str, content: impl Into<Vec<u8>>, mode: u32) -> LayerBuilder {
        let entry = RawEntry::file(relative(path), content.into()).mode(mode);
        self.items.push(Item::Entry(entry));
        self
    }

    /// A regular file whose content is copied from `host_path` when the layer
    /// is built (e.g. this machine's `/var/lib/dpkg/status`). The mode is taken
    /// from the host file's permission bits.
    pub fn file_from_host(
        mut self,
        path_in_image: &str,
        host_path: impl Into<PathBuf>,
    ) -> LayerBuilder {
        self.items.push(Item::HostFile {
            path_in_image: relative(path_in_image),
            host_path: host_path.into(),
        });
        self
    }

    /// A directory (mode 0755).
    pub fn dir(self, path: &str) -> LayerBuilder {
        self.dir_with_mode(path, 0o755)
    }

    /// A directory with an explicit mode.
    pub fn dir_with_mode(mut self, path: &str, mode: u32) -> LayerBuilder {
        let mut name = relative(path);
        if !name.ends_with('/') {
            name.push('/');
        }
        let entry = RawEntry::new(name, type_flag::DIRECTORY).mode(mode);
        self.items.push(Item::Entry(entry));
        self
    }

    /// A symbolic link at `path` pointing to `target` (written verbatim, so
    /// absolute and escaping targets are possible).
    pub fn symlink(mut self, path: &str, target: &str) -> LayerBuilder {
        let entry = RawEntry::new(relative(path), type_flag::SYMLINK).link_target(target);
        self.items.push(Item::Entry(entry));
        self
    }

    /// A hard link at `path` to the earlier entry `target` (a layer path).
    pub fn hardlink(mut self, path: &str, target: &str) -> LayerBuilder {
        let entry = RawEntry::new(relative(path), type_flag::HARDLINK)
            .link_target(relative(target))
            .mode(0o644);
        self.items.push(Item::Entry(entry));
        self
    }

    /// A whiteout deleting `path` from lower layers: writes `dir/.wh.name`.
    pub fn whiteout(mut self, path: &str) -> LayerBuilder {
        let path = relative(path);
        let path = path.trim_end_matches('/');
        let name = match path.rsplit_once('/') {
            Some((dir, base)) => format!("{dir}/.wh.{base}"),
            None => format!(".wh.{path}"),
        };
        self.items
            .push(Item::Entry(RawEntry::file(name, Vec::new()).mode(0o600)));
        self
    }

    /// An opaque-directory marker: `dir/.wh..wh..opq` hides everything lower
    /// layers put in `dir`.
    pub fn opaque_dir(mut self, dir: &str) -> LayerBuilder {
        let dir = relative(dir);
        let dir = dir.trim_end_matches('/');
        let name = if dir.is_empty() {
            ".wh..wh..opq".to_owned()
        } else {
            format!("{dir}/.wh..wh..opq")
        };
        self.items
            .push(Item::Entry(RawEntry::file(name, Vec::new()).mode(0o600)));
        self
    }

    /// Any entry, written exactly as described (hostile paths, odd types,
    /// lying sizes).
    pub fn raw(mut self, entry: RawEntry) -> LayerBuilder {
        self.items.push(Item::Entry(entry));
        self
    }

    pub(crate) fn history_created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    /// The uncompressed tar stream.
    pub fn tar_bytes(&self) -> Result<Vec<u8>, ImageBuildError> {
        if let Some(raw) = &self.raw_tar {
            return Ok(raw.clone());
        }
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Item::Entry(entry) => tar::write_entry(&mut out, entry),
                Item::HostFile {
                    path_in_image,
                    host_path,
                } => {
                    let io_err = |source| ImageBuildError::Io {
                        path: host_path.clone(),
                        source,
                    };
                    let content = std::fs::read(host_path).map_err(io_err)?;
                    let host_mode = {
                        use std::os::unix::fs::PermissionsExt;
                        let meta = std::fs::metadata(host_path).map_err(io_err)?;
                        meta.permissions().mode() & 0o7777
                    };
                    let entry = RawEntry::file(path_in_image.clone(), content).mode(host_mode);
                    tar::write_entry(&mut out, &entry);
                }
            }
        }
        if !self.omit_end_marker {
            tar::write_end(&mut out);
        }
        Ok(out)
    }

    /// Builds the tar stream, compresses it and computes both digests.
    pub fn build(&self, flavor: Flavor) -> Result<BuiltLayer, ImageBuildError> {
        let tar = self.tar_bytes()?;
        let blob = match &self.blob_override {
            Some(blob) => blob.clone(),
            None => compress(&tar, self.compression)?,
        };
        let media_type = self
            .media_type
            .clone()
            .unwrap_or_else(|| media_type::layer(flavor, self.compression).to_owned());
        Ok(BuiltLayer {
            media_type,
            digest: sha256_digest(&blob),
            diff_id: self
                .diff_id_override
                .clone()
                .unwrap_or_else(|| DiffId(sha256_digest(&tar))),
            compression: self.compression,
            blob,
            tar,
        })
    }
}

fn compress(tar: &[u8], compression: Compression) -> Result<Vec<u8>, ImageBuildError> {
    let io_err = |source| ImageBuildError::Io {
        path: PathBuf::from("<layer compression>"),
        source,
    };
    match compression {
        Compression::None => Ok(tar.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(tar).map_err(io_err)?;
            enc.finish().map_err(io_err)
        }
        Compression::Zstd => zstd::stream::encode_all(tar, 3).map_err(io_err),
    }
}

/// A built layer: the blob as pushed, and the tar stream it decompresses to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// Media type written in the manifest.
    pub media_type: String,
    /// Digest of the (compressed) blob: what the manifest references.
    pub digest: Digest,
    /// What the config's `rootfs.diff_ids` lists: the digest of `tar`, unless
    /// overridden with [`LayerBuilder::diff_id_override`].
    pub diff_id: DiffId,
    /// How `blob` was made from `tar` (unless overridden with
    /// [`LayerBuilder::blob_override`]).
    pub compression: Compression,
    /// The blob bytes.
    pub blob: Vec<u8>,
    /// The uncompressed tar stream.
    pub tar: Vec<u8>,
}

impl BuiltLayer {
    /// Blob size in bytes, as written in the manifest descriptor.
    pub fn size(&self) -> u64 {
        self.blob.len() as u64
    }
}
