use std::collections::BTreeMap;

use model::{Digest, Platform};
use serde::Serialize;

use crate::layer::{BuiltLayer, LayerBuilder};
use crate::{Flavor, ImageBuildError, media_type, sha256_digest};

/// A manifest-like document (image manifest, index, manifest list, or any
/// JSON a test wants to push): its bytes, their digest and its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestBlob {
    /// Content-Type to push it with, and `mediaType` of descriptors pointing at it.
    pub media_type: String,
    /// sha256 of `bytes`.
    pub digest: Digest,
    /// The exact bytes.
    pub bytes: Vec<u8>,
}

impl ManifestBlob {
    /// Wraps bytes, computing their digest.
    pub fn new(media_type: impl Into<String>, bytes: Vec<u8>) -> ManifestBlob {
        ManifestBlob {
            media_type: media_type.into(),
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    /// Size in bytes, as written in a descriptor.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// A plain blob (config or layer) to upload or write into a layout.
#[derive(Debug, Clone, Copy)]
pub struct BlobRef<'a> {
    /// sha256 of `bytes` (unless a test corrupted it on purpose).
    pub digest: &'a Digest,
    /// The content.
    pub bytes: &'a [u8],
}

/// Something that can be pushed or written into a layout: plain blobs, then
/// manifests in dependency order (children before the index that lists them;
/// the last one is the top-level manifest that a tag points at).
pub trait Artifact {
    /// Config and layer blobs, deduplicated.
    fn blobs(&self) -> Vec<BlobRef<'_>>;
    /// Manifests in push order; the last is the top-level one.
    fn manifests(&self) -> Vec<&ManifestBlob>;
    /// The top-level manifest.
    fn top(&self) -> &ManifestBlob;
}

/// Any manifest bytes (valid or not) with a chosen media type; no blobs.
///
/// ```
/// use imagebuild::{Artifact, RawManifest};
/// let broken = RawManifest::new("application/vnd.oci.image.manifest.v1+json", br#"{"schemaVersion": 2, "layers": "nope"}"#.to_vec());
/// assert!(broken.blobs().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest(pub ManifestBlob);

impl RawManifest {
    /// Wraps arbitrary bytes as a manifest of the given media type.
    pub fn new(media_type: impl Into<String>, bytes: Vec<u8>) -> RawManifest {
        RawManifest(ManifestBlob::new(media_type, bytes))
    }
}

impl Artifact for RawManifest {
    fn blobs(&self) -> Vec<BlobRef<'_>> {
        Vec::new()
    }
    fn manifests(&self) -> Vec<&ManifestBlob> {
        vec![&self.0]
    }
    fn top(&self) -> &ManifestBlob {
        &self.0
    }
}

#[derive(Debug, Clone)]
enum Step {
    Layer(LayerBuilder),
    EmptyHistory {
        created_by: String,
        comment: Option<String>,
    },
}

/// Builds one single-platform image: layers, config (with history) and
/// manifest, in the OCI or Docker v2 schema 2 flavour.
///
/// ```
/// use imagebuild::{Flavor, ImageBuilder, LayerBuilder};
/// let image = ImageBuilder::new(Flavor::Docker)
///     .platform("linux/arm64/v8".parse().unwrap())
///     .env("PATH", "/usr/local/bin:/usr/bin:/bin")
///     .entrypoint(["/bin/sh", "-c"])
///     .cmd(["echo hi"])
///     .label("org.opencontainers.image.source", "https://example.invalid/repo")
///     .created("2024-05-01T12:00:00Z")
///     .layer(LayerBuilder::new().file("etc/hostname", "box\n", 0o644).created_by("ADD hostname /etc/"))
///     .empty_history("ENV PATH=/usr/local/bin:/usr/bin:/bin")
///     .layer(LayerBuilder::new().dir("app"))
///     .build()?;
/// assert_eq!(image.layers.len(), 2);
/// assert_eq!(image.manifest.media_type, "application/vnd.docker.distribution.manifest.v2+json");
/// let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
/// assert_eq!(config["history"][1]["empty_layer"], true);
/// assert_eq!(config["rootfs"]["diff_ids"][0], image.layers[0].diff_id.to_string());
/// # Ok::<(), imagebuild::ImageBuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    flavor: Flavor,
    platform: Platform,
    created: Option<String>,
    env: Vec<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    labels: BTreeMap<String, String>,
    user: Option<String>,
    working_dir: Option<String>,
    steps: Vec<Step>,
    with_history: bool,
    raw_config: Option<Vec<u8>>,
    manifest_annotations: BTreeMap<String, String>,
}

/// The image config as written (OCI and Docker share this shape).
#[derive(Serialize)]
struct ConfigJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: RuntimeConfig<'a>,
    rootfs: RootFs,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<HistoryJson>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuntimeConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct HistoryJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    empty_layer: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorJson<'a> {
    media_type: &'a str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: DescriptorJson<'a>,
    layers: Vec<DescriptorJson<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<DescriptorJson<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

impl ImageBuilder {
    /// An image for linux/amd64 with no layers yet.
    pub fn new(flavor: Flavor) -> ImageBuilder {
        ImageBuilder {
            flavor,
            platform: Platform::linux_amd64(),
            created: Some("2024-01-01T00:00:00Z".to_owned()),
            env: Vec::new(),
            entrypoint: None,
            cmd: None,
            labels: BTreeMap::new(),
            user: None,
            working_dir: None,
            steps: Vec::new(),
            with_history: true,
            raw_config: None,
            manifest_annotations: BTreeMap::new(),
        }
    }

    /// Shorthand for `ImageBuilder::new(Flavor::Oci)`.
    pub fn oci() -> ImageBuilder {
        ImageBuilder::new(Flavor::Oci)
    }

    /// Shorthand for `ImageBuilder::new(Flavor::Docker)`.
    pub fn docker() -> ImageBuilder {
        ImageBuilder::new(Flavor::Docker)
    }

    /// The config's `os`, `architecture` and `variant` (and the platform of
    /// this image's entry in an index).
    pub fn platform(mut self, platform: Platform) -> ImageBuilder {
        self.platform = platform;
        self
    }

    /// The config's `created` timestamp (RFC 3339), also used for history entries.
    pub fn created(mut self, created: impl Into<String>) -> ImageBuilder {
        self.created = Some(created.into());
        self
    }

    /// Leaves `created` out of the config and history.
    pub fn no_created(mut self) -> ImageBuilder {
        self.created = None;
        self
    }

    /// Adds `KEY=value` to `config.Env`.
    pub fn env(mut self, key: &str, value: &str) -> ImageBuilder {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// `config.Entrypoint`.
    pub fn entrypoint<S: Into<String>>(
        mut self,
        args: impl IntoIterator<Item = S>,
    ) -> ImageBuilder {
        self.entrypoint = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// `config.Cmd`.
    pub fn cmd<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> ImageBuilder {
        self.cmd = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a `config.Labels` entry.
    pub fn label(mut self, key: &str, value: &str) -> ImageBuilder {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// `config.User`.
    pub fn user(mut self, user: &str) -> ImageBuilder {
        self.user = Some(user.to_owned());
        self
    }

    /// `config.WorkingDir`.
    pub fn working_dir(mut self, dir: &str) -> ImageBuilder {
        self.working_dir = Some(dir.to_owned());
        self
    }

    /// Appends a layer; its history entry uses the layer's `created_by`, or
    /// `"imagebuild: layer N"`.
    pub fn layer(mut self, layer: LayerBuilder) -> ImageBuilder {
        self.steps.push(Step::Layer(layer));
        self
    }

    /// Appends an `empty_layer: true` history entry (an `ENV`, `CMD`, ... step).
    pub fn empty_history(mut self, created_by: &str) -> ImageBuilder {
        self.steps.push(Step::EmptyHistory {
            created_by: created_by.to_owned(),
            comment: None,
        });
        self
    }

    /// Like [`empty_history`](Self::empty_history) with a `comment`.
    pub fn empty_history_with_comment(mut self, created_by: &str, comment: &str) -> ImageBuilder {
        self.steps.push(Step::EmptyHistory {
            created_by: created_by.to_owned(),
            comment: Some(comment.to_owned()),
        });
        self
    }

    /// Leaves `history` out of the config entirely.
    pub fn without_history(mut self) -> ImageBuilder {
        self.with_history = false;
        self
    }

    /// Uses these exact bytes as the config blob (a hostile or hand-written
    /// config); the layers are still built and referenced by the manifest.
    pub fn raw_config(mut self, bytes: Vec<u8>) -> ImageBuilder {
        self.raw_config = Some(bytes);
        self
    }

    /// Adds an `annotations` entry to the image manifest.
    pub fn manifest_annotation(mut self, key: &str, value: &str) -> ImageBuilder {
        self.manifest_annotations
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Builds layers, config and manifest.
    pub fn build(&self) -> Result<BuiltImage, ImageBuildError> {
        let mut layers = Vec::new();
        let mut history = Vec::new();
        for step in &self.steps {
            match step {
                Step::Layer(builder) => {
                    let created_by = builder
                        .history_created_by()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("imagebuild: layer {}", layers.len()));
                    layers.push(builder.build(self.flavor)?);
                    history.push(HistoryJson {
                        created: self.created.clone(),
                        created_by,
                        comment: None,
                        empty_layer: false,
                    });
                }
                Step::EmptyHistory {
                    created_by,
                    comment,
                } => history.push(HistoryJson {
                    created: self.created.clone(),
                    created_by: created_by.clone(),
                    comment: comment.clone(),
                    empty_layer: true,
                }),
            }
        }
        let config_bytes = match &self.raw_config {
            Some(raw) => raw.clone(),
            None => {
                let config = ConfigJson {
                    created: self.created.as_deref(),
                    architecture: &self.platform.architecture,
                    os: &self.platform.os,
                    variant: self.platform.variant.as_deref(),
                    config: RuntimeConfig {
                        user: self.user.as_deref(),
                        env: &self.env,
                        entrypoint: self.entrypoint.as_deref(),
                        cmd: self.cmd.as_deref(),
                        working_dir: self.working_dir.as_deref(),
                        labels: &self.labels,
                    },
                    rootfs: RootFs {
                        kind: "layers",
                        diff_ids: layers.iter().map(|l| l.diff_id.to_string()).collect(),
                    },
                    history: self.with_history.then_some(history),
                };
                serde_json::to_vec(&config)?
            }
        };
        let config = ManifestBlob::new(media_type::config(self.flavor), config_bytes);
        let manifest_media_type = media_type::manifest(self.flavor);
        let manifest_json = ManifestJson {
            schema_version: 2,
            media_type: manifest_media_type,
            config: DescriptorJson {
                media_type: &config.media_type,
                digest: config.digest.to_string(),
                size: config.size(),
                platform: None,
                annotations: None,
            },
            layers: layers
                .iter()
                .map(|l| DescriptorJson {
                    media_type: &l.media_type,
                    digest: l.digest.to_string(),
                    size: l.size(),
                    platform: None,
                    annotations: None,
                })
                .collect(),
            annotations: &self.manifest_annotations,
        };
        let manifest = ManifestBlob::new(manifest_media_type, serde_json::to_vec(&manifest_json)?);
        Ok(BuiltImage {
            flavor: self.flavor,
            platform: self.platform.clone(),
            manifest,
            config,
            layers,
        })
    }
}

/// A built single-platform image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// OCI or Docker media types.
    pub flavor: Flavor,
    /// The platform written in the config.
    pub platform: Platform,
    /// The image manifest; `manifest.digest` is the image's identity.
    pub manifest: ManifestBlob,
    /// The config blob (`config.media_type` is the config media type).
    pub config: ManifestBlob,
    /// Layers, bottom first.
    pub layers: Vec<BuiltLayer>,
}

impl Artifact for BuiltImage {
    fn blobs(&self) -> Vec<BlobRef<'_>> {
        let mut blobs = vec![BlobRef {
            digest: &self.config.digest,
            bytes: &self.config.bytes,
        }];
        for layer in &self.layers {
            if !blobs.iter().any(|b| b.digest == &layer.digest) {
                blobs.push(BlobRef {
                    digest: &layer.digest,
                    bytes: &layer.blob,
                });
            }
        }
        blobs
    }
    fn manifests(&self) -> Vec<&ManifestBlob> {
        vec![&self.manifest]
    }
    fn top(&self) -> &ManifestBlob {
        &self.manifest
    }
}

/// Builds a multi-platform OCI index or Docker manifest list.
///
/// ```
/// use imagebuild::{Artifact, Flavor, ImageBuilder, IndexBuilder, LayerBuilder};
/// let amd64 = ImageBuilder::oci().layer(LayerBuilder::new().file("a", "amd64", 0o644)).build()?;
/// let arm64 = ImageBuilder::oci()
///     .platform("linux/arm64/v8".parse().unwrap())
///     .layer(LayerBuilder::new().file("a", "arm64", 0o644))
///     .build()?;
/// let index = IndexBuilder::new(Flavor::Oci).image(amd64).image(arm64).build()?;
/// assert_eq!(index.manifests().len(), 3); // two images, then the index
/// let json: serde_json::Value = serde_json::from_slice(&index.index.bytes).unwrap();
/// assert_eq!(json["manifests"][1]["platform"]["variant"], "v8");
/// # Ok::<(), imagebuild::ImageBuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    flavor: Flavor,
    entries: Vec<(BuiltImage, Option<Platform>, BTreeMap<String, String>)>,
    annotations: BTreeMap<String, String>,
}

impl IndexBuilder {
    /// An empty index (OCI) or manifest list (Docker).
    pub fn new(flavor: Flavor) -> IndexBuilder {
        IndexBuilder {
            flavor,
            entries: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// Adds an image under the platform from its config.
    pub fn image(mut self, image: BuiltImage) -> IndexBuilder {
        let platform = image.platform.clone();
        self.entries.push((image, Some(platform), BTreeMap::new()));
        self
    }

    /// Adds an image with an explicit entry platform (`None`: no `platform`
    /// field, as attestation manifests have) and entry annotations.
    pub fn entry(
        mut self,
        image: BuiltImage,
        platform: Option<Platform>,
        annotations: &[(&str, &str)],
    ) -> IndexBuilder {
        let annotations = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.entries.push((image, platform, annotations));
        self
    }

    /// Adds an `annotations` entry to the index itself.
    pub fn annotation(mut self, key: &str, value: &str) -> IndexBuilder {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Serializes the index.
    pub fn build(self) -> Result<BuiltIndex, ImageBuildError> {
        let media_type = media_type::index(self.flavor);
        let json = IndexJson {
            schema_version: 2,
            media_type,
            manifests: self
                .entries
                .iter()
                .map(|(image, platform, annotations)| DescriptorJson {
                    media_type: &image.manifest.media_type,
                    digest: image.manifest.digest.to_string(),
                    size: image.manifest.size(),
                    platform: platform.as_ref(),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                })
                .collect(),
            annotations: &self.annotations,
        };
        let index = ManifestBlob::new(media_type, serde_json::to_vec(&json)?);
        Ok(BuiltIndex {
            flavor: self.flavor,
            index,
            images: self
                .entries
                .into_iter()
                .map(|(image, _, _)| image)
                .collect(),
        })
    }
}

/// A built index / manifest list and the images it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltIndex {
    /// OCI index or Docker manifest list.
    pub flavor: Flavor,
    /// The index document; `index.digest` is what a multi-arch tag resolves to.
    pub index: ManifestBlob,
    /// The listed images, in index order.
    pub images: Vec<BuiltImage>,
}

impl Artifact for BuiltIndex {
    fn blobs(&self) -> Vec<BlobRef<'_>> {
        let mut blobs: Vec<BlobRef<'_>> = Vec::new();
        for image in &self.images {
            for blob in image.blobs() {
                if !blobs.iter().any(|b| b.digest == blob.digest) {
                    blobs.push(blob);
                }
            }
        }
        blobs
    }
    fn manifests(&self) -> Vec<&ManifestBlob> {
        let mut manifests: Vec<&ManifestBlob> = self.images.iter().map(|i| &i.manifest).collect();
        manifests.push(&self.index);
        manifests
    }
    fn top(&self) -> &ManifestBlob {
        &self.index
    }
}
