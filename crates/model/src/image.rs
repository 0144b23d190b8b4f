use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DiffId, Digest, Platform};

/// One layer of an image, in order (index 0 is the bottom layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDescriptor {
    pub index: u32,
    pub diff_id: DiffId,
    /// Digest of the blob as stored in the registry (compressed); for fetching only.
    pub blob_digest: Digest,
    pub media_type: String,
    /// Size of the blob in the registry.
    pub compressed_size: u64,
    /// Size of the uncompressed tar, once known.
    pub uncompressed_size: Option<u64>,
}

/// One entry of the image config's `history`, in order. Entries with
/// `empty_layer` produced no layer (ENV, LABEL, CMD…); the others are paired
/// with layers in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub created: Option<String>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub empty_layer: bool,
    /// The layer this entry produced; `None` for empty-layer entries, and for
    /// entries that cannot be paired because the history is inconsistent.
    pub layer_index: Option<u32>,
}

/// The parts of the image config a report shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfigSummary {
    pub created: Option<String>,
    pub author: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// An image: one per-platform manifest, with its config and layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMetadata {
    /// The fully qualified reference that was asked for (`docker.io/library/nginx:1.25`).
    pub reference: String,
    /// Registry + path (`docker.io/library/nginx`).
    pub repository: String,
    pub tag: Option<String>,
    /// Digest of the per-platform manifest: the image's identity.
    pub manifest_digest: Digest,
    /// Digest of the index the manifest was chosen from, if any.
    pub index_digest: Option<Digest>,
    pub manifest_media_type: String,
    pub config_digest: Digest,
    pub platform: Platform,
    pub config: ImageConfigSummary,
    pub layers: Vec<LayerDescriptor>,
    pub history: Vec<HistoryEntry>,
}

impl ImageMetadata {
    /// Sum of the layers' compressed sizes.
    pub fn compressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.compressed_size).sum()
    }
}
