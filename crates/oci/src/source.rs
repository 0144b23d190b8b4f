use std::sync::Arc;

use model::{Diagnostic, Digest, ImageMetadata, LayerDescriptor, Platform};

use crate::blob::BlobStream;
use crate::layout::OciLayout;
use crate::manifest::{
    DEFAULT_MAX_CONFIG_BYTES, Descriptor, Manifest, pair_history, pair_layers, parse_config,
    parse_manifest, select_platform,
};
use crate::{OciError, Reference, RegistryClient};

/// Indexes may nest (an index entry pointing at another index); real images
/// use one level, a loop or a deep chain is hostile.
pub const MAX_INDEX_DEPTH: usize = 4;

/// One per-platform image, resolved and verified: its metadata and any
/// warnings met on the way (history that does not pair up, platform mismatch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    pub metadata: ImageMetadata,
    pub warnings: Vec<Diagnostic>,
}

/// Where an image comes from; the caller treats both the same.
#[derive(Debug, Clone)]
pub enum ImageSource {
    Registry {
        client: Arc<RegistryClient>,
        reference: Reference,
    },
    Layout {
        layout: OciLayout,
        /// `org.opencontainers.image.ref.name` to select; `None` takes the only image.
        tag: Option<String>,
    },
}

impl ImageSource {
    /// An image in a registry, fetched through a shared client.
    pub fn registry(client: Arc<RegistryClient>, reference: Reference) -> ImageSource {
        ImageSource::Registry { client, reference }
    }

    /// An image in an OCI layout named by a CLI-style `DIR[:TAG]` argument.
    pub async fn layout(location: &str) -> Result<ImageSource, OciError> {
        let (dir, tag) = OciLayout::parse_location(location);
        Ok(ImageSource::Layout {
            layout: OciLayout::open(dir).await?,
            tag,
        })
    }

    /// Resolves the image for `platform`: manifest (via the index if there is
    /// one), config and layers, every digest verified.
    pub async fn resolve(&self, platform: &Platform) -> Result<ResolvedImage, OciError> {
        match self {
            ImageSource::Registry { client, reference } => {
                let fetched = client.fetch_manifest(reference).await?;
                let shown = reference.to_string();
                let root = parse_manifest(&fetched.bytes, fetched.content_type.as_deref(), &shown)?;
                let naming = Naming {
                    reference: shown,
                    repository: reference.full_repository(),
                    tag: reference.tag().map(str::to_owned),
                };
                let fetcher = RegistryFetcher { client, reference };
                resolve_with(&fetcher, root, Some(fetched.digest), platform, naming).await
            }
            ImageSource::Layout { layout, tag } => layout.resolve(tag.as_deref(), platform).await,
        }
    }

    /// Opens one of the image's layers as a verified stream of chunks.
    pub async fn open_layer(
        &self,
        image: &ResolvedImage,
        layer: &LayerDescriptor,
    ) -> Result<BlobStream, OciError> {
        let known = image.metadata.layers.iter().any(|l| {
            l.blob_digest == layer.blob_digest && l.compressed_size == layer.compressed_size
        });
        if !known {
            return Err(OciError::LayerNotInImage {
                reference: image.metadata.reference.clone(),
                digest: layer.blob_digest.clone(),
            });
        }
        match self {
            ImageSource::Registry { client, reference } => {
                client
                    .open_blob(reference, &layer.blob_digest, layer.compressed_size)
                    .await
            }
            ImageSource::Layout { layout, .. } => {
                layout
                    .open_blob(&layer.blob_digest, layer.compressed_size)
                    .await
            }
        }
    }
}

/// How an image is named in its metadata.
pub(crate) struct Naming {
    pub reference: String,
    pub repository: String,
    pub tag: Option<String>,
}

/// Fetches manifests and configs by descriptor, verified against it.
pub(crate) trait Fetcher {
    async fn manifest(
        &self,
        descriptor: &Descriptor,
        reference: &str,
    ) -> Result<Manifest, OciError>;
    async fn config(&self, descriptor: &Descriptor, what: &str) -> Result<Vec<u8>, OciError>;
}

struct RegistryFetcher<'a> {
    client: &'a RegistryClient,
    reference: &'a Reference,
}

impl Fetcher for RegistryFetcher<'_> {
    async fn manifest(&self, descriptor: &Descriptor, shown: &str) -> Result<Manifest, OciError> {
        let what = format!("manifest {} of {shown}", descriptor.digest);
        if descriptor.size > crate::manifest::DEFAULT_MAX_MANIFEST_BYTES {
            return Err(OciError::TooLarge {
                what,
                size: descriptor.size,
                limit: crate::manifest::DEFAULT_MAX_MANIFEST_BYTES,
            });
        }
        let pinned = self.reference.with_digest(descriptor.digest.clone());
        let fetched = self.client.fetch_manifest(&pinned).await?;
        if fetched.bytes.len() as u64 != descriptor.size {
            return Err(OciError::SizeMismatch {
                what,
                expected: descriptor.size,
                actual: fetched.bytes.len() as u64,
            });
        }
        let content_type = fetched
            .content_type
            .as_deref()
            .or(Some(descriptor.media_type.as_str()).filter(|t| !t.is_empty()));
        parse_manifest(&fetched.bytes, content_type, shown)
    }

    async fn config(&self, descriptor: &Descriptor, what: &str) -> Result<Vec<u8>, OciError> {
        self.client
            .fetch_blob_bytes(self.reference, descriptor, DEFAULT_MAX_CONFIG_BYTES, what)
            .await
    }
}

/// The resolution steps both sources share: walk indexes down to the
/// platform's manifest, then fetch the config and build the metadata.
pub(crate) async fn resolve_with<F: Fetcher>(
    fetcher: &F,
    root: Manifest,
    root_digest: Option<Digest>,
    wanted: &Platform,
    naming: Naming,
) -> Result<ResolvedImage, OciError> {
    let mut current = root;
    let mut current_digest = root_digest;
    let mut index_digest = None;
    let mut index_platform = None;
    let mut depth = 0;
    let manifest = loop {
        match current {
            Manifest::Image(m) => break m,
            Manifest::Index(index) => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(OciError::IndexTooDeep {
                        reference: naming.reference,
                        limit: MAX_INDEX_DEPTH,
                    });
                }
                let chosen = select_platform(&index, wanted, &naming.reference)?.clone();
                index_digest = current_digest.or(index_digest);
                index_platform = chosen.platform.clone();
                current = fetcher.manifest(&chosen, &naming.reference).await?;
                current_digest = Some(chosen.digest);
            }
        }
    };
    let manifest_digest = current_digest.ok_or_else(|| OciError::Malformed {
        what: naming.reference.clone(),
        reason: "image manifest without a digest".to_owned(),
    })?;

    let config_what = format!(
        "image config {} of {}",
        manifest.config.digest, naming.reference
    );
    let config_bytes = fetcher.config(&manifest.config, &config_what).await?;
    let config = parse_config(&config_bytes, &naming.reference)?;
    let layers = pair_layers(&manifest, &config, &naming.reference)?;
    let (history, history_warning) = pair_history(config.history.clone(), layers.len());

    let mut warnings: Vec<Diagnostic> = history_warning.into_iter().collect();
    let platform = config
        .platform
        .clone()
        .or(index_platform)
        .unwrap_or_else(|| wanted.clone());
    if !wanted.matches(&platform) {
        warnings.push(Diagnostic::warning(
            "platform-mismatch",
            format!(
                "{} is a single-platform image for {platform}, not the requested {wanted}",
                naming.reference
            ),
        ));
    }

    Ok(ResolvedImage {
        metadata: ImageMetadata {
            reference: naming.reference,
            repository: naming.repository,
            tag: naming.tag,
            manifest_digest,
            index_digest,
            manifest_media_type: manifest.media_type.clone(),
            config_digest: manifest.config.digest.clone(),
            platform,
            config: config.summary,
            layers,
            history,
        },
        warnings,
    })
}
