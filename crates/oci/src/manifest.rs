//! Manifests, indexes and image configs: raw serde shapes at the edge, checked
//! types inside (`TryFrom`-style parse functions), and the pure steps of
//! resolution — platform choice and metadata building.

use std::collections::BTreeMap;

use model::{
    Diagnostic, DiffId, Digest, HistoryEntry, ImageConfigSummary, LayerDescriptor, Platform,
};
use serde::Deserialize;

use crate::OciError;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The `Accept` header for manifest requests: every type we can read.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifests and indexes are small JSON documents; the distribution registry
/// itself refuses manifests over 4 MiB.
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Image configs carry history and env but nothing bulky.
pub const DEFAULT_MAX_CONFIG_BYTES: u64 = 8 * 1024 * 1024;

/// A content descriptor from a manifest or index, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub platform: Option<Platform>,
    pub annotations: BTreeMap<String, String>,
}

/// A per-platform image manifest (Docker v2 schema 2 or OCI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A multi-platform index (OCI index or Docker manifest list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageIndex {
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    size: i64,
    #[serde(default)]
    platform: Option<RawPlatform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    /// Present only in schema 1 manifests.
    #[serde(default)]
    fs_layers: Option<serde_json::Value>,
}

fn malformed(what: &str, reason: impl Into<String>) -> OciError {
    OciError::Malformed {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

fn check_descriptor(raw: RawDescriptor, what: &str) -> Result<Descriptor, OciError> {
    let digest = raw
        .digest
        .parse::<Digest>()
        .map_err(|e| malformed(what, format!("descriptor digest: {e}")))?;
    let size = u64::try_from(raw.size)
        .map_err(|_| malformed(what, format!("descriptor {digest} has a negative size")))?;
    let platform = raw.platform.map(|p| Platform {
        os: p.os.to_ascii_lowercase(),
        architecture: p.architecture.to_ascii_lowercase(),
        variant: p
            .variant
            .filter(|v| !v.is_empty())
            .map(|v| v.to_ascii_lowercase()),
    });
    Ok(Descriptor {
        media_type: raw.media_type.unwrap_or_default(),
        digest,
        size,
        platform,
        annotations: raw.annotations.unwrap_or_default(),
    })
}

fn strip_params(content_type: &str) -> &str {
    content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim()
}

/// Parses a manifest or index. The media type comes from the document's own
/// `mediaType`, else the `Content-Type` the registry sent, else the shape.
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
    reference: &str,
) -> Result<Manifest, OciError> {
    let what = format!("manifest of {reference}");
    if bytes.len() as u64 > DEFAULT_MAX_MANIFEST_BYTES {
        return Err(OciError::TooLarge {
            what,
            size: bytes.len() as u64,
            limit: DEFAULT_MAX_MANIFEST_BYTES,
        });
    }
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| malformed(&what, e.to_string()))?;
    let header_type = content_type
        .map(strip_params)
        .filter(|t| !t.is_empty() && *t != "application/json" && *t != "text/plain");
    let media_type = match (raw.media_type.as_deref(), header_type) {
        (Some(t), _) if !t.is_empty() => t.to_owned(),
        (_, Some(t)) => t.to_owned(),
        _ if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        _ if raw.config.is_some() => OCI_MANIFEST.to_owned(),
        _ if raw.schema_version == Some(1) => DOCKER_SCHEMA1.to_owned(),
        _ => return Err(malformed(&what, "neither a manifest nor an index")),
    };
    if raw.schema_version == Some(1)
        || raw.fs_layers.is_some()
        || media_type == DOCKER_SCHEMA1
        || media_type == DOCKER_SCHEMA1_SIGNED
    {
        return Err(OciError::Schema1 {
            reference: reference.to_owned(),
        });
    }
    if raw.schema_version != Some(2) {
        return Err(malformed(&what, "schemaVersion must be 2"));
    }
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let manifests = raw
                .manifests
                .ok_or_else(|| malformed(&what, "index without \"manifests\""))?
                .into_iter()
                .map(|d| check_descriptor(d, &what))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Manifest::Index(ImageIndex {
                media_type,
                manifests,
            }))
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = raw
                .config
                .ok_or_else(|| malformed(&what, "manifest without \"config\""))?;
            let config = check_descriptor(config, &what)?;
            let layers = raw
                .layers
                .ok_or_else(|| malformed(&what, "manifest without \"layers\""))?
                .into_iter()
                .map(|d| check_descriptor(d, &what))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Manifest::Image(ImageManifest {
                media_type,
                config,
                layers,
            }))
        }
        other => Err(OciError::UnsupportedMediaType {
            reference: reference.to_owned(),
            media_type: other.to_owned(),
        }),
    }
}

fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_MANIFEST | DOCKER_MANIFEST | OCI_INDEX | DOCKER_MANIFEST_LIST | ""
    )
}

/// Chooses the entry of an index that serves `wanted`: an exact platform match
/// first, then (for a request without variant) the architecture's default
/// variant (`arm` → `v7`, `arm64` → `v8`), then the first entry
/// `Platform::matches` accepts. Entries that are not manifests (attestations,
/// signatures) are never chosen.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    wanted: &Platform,
    reference: &str,
) -> Result<&'a Descriptor, OciError> {
    let candidates = || {
        index
            .manifests
            .iter()
            .filter(|d| is_manifest_type(&d.media_type))
            .filter_map(|d| d.platform.as_ref().map(|p| (d, p)))
    };
    let default_variant = match (wanted.variant.as_deref(), wanted.architecture.as_str()) {
        (None, "arm") => Some("v7"),
        (None, "arm64") => Some("v8"),
        _ => None,
    };
    let with_default = default_variant.map(|v| Platform {
        variant: Some(v.to_owned()),
        ..wanted.clone()
    });
    let chosen = candidates()
        .find(|(_, p)| *p == wanted)
        .or_else(|| {
            let preferred = with_default.as_ref()?;
            candidates().find(|(_, p)| preferred.matches(p))
        })
        .or_else(|| candidates().find(|(_, p)| wanted.matches(p)));
    if let Some((d, _)) = chosen {
        return Ok(d);
    }
    let mut available: Vec<Platform> = candidates()
        .map(|(_, p)| p.clone())
        .filter(|p| p.os != "unknown" && p.architecture != "unknown")
        .collect();
    available.sort();
    available.dedup();
    Err(OciError::PlatformNotFound {
        reference: reference.to_owned(),
        wanted: wanted.clone(),
        available,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawContainerConfig {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawHistory {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    empty_layer: Option<bool>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<RawContainerConfig>,
    rootfs: RawRootfs,
    #[serde(default)]
    history: Option<Vec<RawHistory>>,
}

/// An image config, checked: diff IDs parsed, empty values normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    pub platform: Option<Platform>,
    pub summary: ImageConfigSummary,
    pub diff_ids: Vec<DiffId>,
    /// History entries in order, not yet paired with layers.
    pub history: Vec<HistoryEntry>,
}

pub fn parse_config(bytes: &[u8], reference: &str) -> Result<ImageConfig, OciError> {
    let what = format!("image config of {reference}");
    if bytes.len() as u64 > DEFAULT_MAX_CONFIG_BYTES {
        return Err(OciError::TooLarge {
            what,
            size: bytes.len() as u64,
            limit: DEFAULT_MAX_CONFIG_BYTES,
        });
    }
    let raw: RawConfig =
        serde_json::from_slice(bytes).map_err(|e| malformed(&what, e.to_string()))?;
    let diff_ids = raw
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            d.parse::<DiffId>()
                .map_err(|e| malformed(&what, format!("rootfs.diff_ids: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let platform = match (raw.os, raw.architecture) {
        (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => Some(Platform {
            os: os.to_ascii_lowercase(),
            architecture: arch.to_ascii_lowercase(),
            variant: raw
                .variant
                .filter(|v| !v.is_empty())
                .map(|v| v.to_ascii_lowercase()),
        }),
        _ => None,
    };
    let c = raw.config.unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let summary = ImageConfigSummary {
        created: non_empty(raw.created),
        author: non_empty(raw.author),
        user: non_empty(c.user),
        working_dir: non_empty(c.working_dir),
        env: c.env.unwrap_or_default(),
        entrypoint: c.entrypoint.unwrap_or_default(),
        cmd: c.cmd.unwrap_or_default(),
        exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
        labels: c.labels.unwrap_or_default(),
    };
    let history = raw
        .history
        .unwrap_or_default()
        .into_iter()
        .map(|h| HistoryEntry {
            created: h.created,
            created_by: h.created_by,
            comment: h.comment,
            author: h.author,
            empty_layer: h.empty_layer.unwrap_or(false),
            layer_index: None,
        })
        .collect();
    Ok(ImageConfig {
        platform,
        summary,
        diff_ids,
        history,
    })
}

/// The layers of an image, each paired with its diff ID by position.
pub fn pair_layers(
    manifest: &ImageManifest,
    config: &ImageConfig,
    reference: &str,
) -> Result<Vec<LayerDescriptor>, OciError> {
    if manifest.layers.len() != config.diff_ids.len() {
        return Err(OciError::LayerCountMismatch {
            reference: reference.to_owned(),
            layers: manifest.layers.len(),
            diff_ids: config.diff_ids.len(),
        });
    }
    manifest
        .layers
        .iter()
        .zip(&config.diff_ids)
        .enumerate()
        .map(|(i, (layer, diff_id))| {
            let index = u32::try_from(i).map_err(|_| malformed(reference, "too many layers"))?;
            Ok(LayerDescriptor {
                index,
                diff_id: diff_id.clone(),
                blob_digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
                compressed_size: layer.size,
                uncompressed_size: None,
            })
        })
        .collect()
}

/// Pairs non-empty history entries with layers in order. When the counts
/// disagree the entries are kept unpaired and a warning says why: history is
/// informational, not worth failing a scan over.
pub fn pair_history(
    mut history: Vec<HistoryEntry>,
    layer_count: usize,
) -> (Vec<HistoryEntry>, Option<Diagnostic>) {
    let non_empty = history.iter().filter(|h| !h.empty_layer).count();
    if history.is_empty() {
        return (history, None);
    }
    if non_empty != layer_count {
        for h in &mut history {
            h.layer_index = None;
        }
        let warning = Diagnostic::warning(
            "history-layer-mismatch",
            format!(
                "image history has {non_empty} layer-producing entries but the image has {layer_count} layers; history is shown unpaired"
            ),
        );
        return (history, Some(warning));
    }
    let mut next = 0u32;
    for h in &mut history {
        if h.empty_layer {
            h.layer_index = None;
        } else {
            h.layer_index = Some(next);
            next += 1;
        }
    }
    (history, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn index_json(entries: &[(&str, &str)]) -> String {
        let manifests: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(i, (platform, mt))| {
                let parts: Vec<&str> = platform.split('/').collect();
                let variant = parts.get(2).map(|v| format!(r#","variant":"{v}""#)).unwrap_or_default();
                format!(
                    r#"{{"mediaType":"{mt}","digest":"sha256:{:064x}","size":100,"platform":{{"os":"{}","architecture":"{}"{variant}}}}}"#,
                    i + 1,
                    parts[0],
                    parts[1]
                )
            })
            .collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            manifests.join(",")
        )
    }

    #[test]
    fn parses_manifest_kinds() {
        let oci = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{D1}","size":10}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":20}}]}}"#
        );
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{D1}","size":10}},"layers":[]}}"#
        );
        let no_media_type =
            format!(r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":10}},"layers":[]}}"#);
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{D3}","size":5,"platform":{{"os":"linux","architecture":"ARM64","variant":"v8"}}}}]}}"#
        );
        let docker_with_params = format!("{DOCKER_MANIFEST}; charset=utf-8");
        // (body, content type, expected media type, is index)
        let cases: Vec<(&str, Option<&str>, &str, bool)> = vec![
            (&oci, None, OCI_MANIFEST, false),
            (&docker, Some("application/json"), DOCKER_MANIFEST, false),
            (
                &no_media_type,
                Some(&docker_with_params),
                DOCKER_MANIFEST,
                false,
            ),
            (&no_media_type, None, OCI_MANIFEST, false),
            (&list, None, DOCKER_MANIFEST_LIST, true),
        ];
        for (body, ct, expected, is_index) in cases {
            let m = parse_manifest(body.as_bytes(), ct, "ref")
                .unwrap_or_else(|e| panic!("{body}: {e}"));
            match m {
                Manifest::Image(m) => {
                    assert!(!is_index);
                    assert_eq!(m.media_type, expected);
                    assert_eq!(m.config.digest.to_string(), D1);
                }
                Manifest::Index(i) => {
                    assert!(is_index);
                    assert_eq!(i.media_type, expected);
                    assert_eq!(
                        i.manifests[0].platform,
                        Some("linux/arm64/v8".parse().unwrap())
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_malformed_manifests() {
        let big = format!(
            r#"{{"schemaVersion":2,"x":"{}"}}"#,
            "a".repeat(5 * 1024 * 1024)
        );
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "malformed manifest of ref"),
            ("{".into(), "malformed"),
            ("[]".into(), "malformed"),
            (r#"{"schemaVersion":1,"fsLayers":[]}"#.into(), "schema 1"),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_SCHEMA1_SIGNED}"}}"#),
                "schema 1",
            ),
            (
                r#"{"schemaVersion":2}"#.into(),
                "neither a manifest nor an index",
            ),
            (
                format!(
                    r#"{{"schemaVersion":3,"config":{{"digest":"{D1}","size":1}},"layers":[]}}"#
                ),
                "schemaVersion must be 2",
            ),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#),
                "without \"config\"",
            ),
            (
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{D1}","size":1}}}}"#
                ),
                "without \"layers\"",
            ),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#),
                "without \"manifests\"",
            ),
            (
                r#"{"schemaVersion":2,"config":{"digest":"sha256:zz","size":1},"layers":[]}"#
                    .to_owned(),
                "descriptor digest",
            ),
            (
                format!(
                    r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":-1}},"layers":[]}}"#
                ),
                "negative size",
            ),
            (
                r#"{"schemaVersion":2,"config":{"digest":"../../etc","size":1},"layers":[]}"#
                    .to_owned(),
                "descriptor digest",
            ),
            (
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json","config":{{"digest":"{D1}","size":1}},"layers":[]}}"#
                ),
                "unsupported manifest media type",
            ),
            (big, "larger than"),
        ];
        for (body, reason) in cases {
            let err = parse_manifest(body.as_bytes(), None, "ref")
                .expect_err(&body[..body.len().min(80)])
                .to_string();
            assert!(
                err.contains(reason),
                "{}: {err}",
                &body[..body.len().min(80)]
            );
        }
    }

    #[test]
    fn platform_selection() {
        let index_body = index_json(&[
            ("linux/amd64", OCI_MANIFEST),
            ("linux/arm64/v8", OCI_MANIFEST),
            ("linux/arm/v6", OCI_MANIFEST),
            ("linux/arm/v7", OCI_MANIFEST),
            ("windows/amd64", OCI_MANIFEST),
            ("unknown/unknown", OCI_MANIFEST),
            ("linux/s390x", "application/vnd.in-toto+json"),
        ]);
        let Manifest::Index(index) = parse_manifest(index_body.as_bytes(), None, "r").unwrap()
        else {
            panic!("expected an index")
        };
        // (wanted, chosen entry number or None)
        let cases = [
            ("linux/amd64", Some(1)),
            ("linux/arm64", Some(2)),
            ("linux/arm64/v8", Some(2)),
            ("linux/arm/v7", Some(4)),
            ("linux/arm/v6", Some(3)),
            ("linux/arm", Some(4)),
            ("windows/amd64", Some(5)),
            ("linux/s390x", None),
            ("linux/riscv64", None),
        ];
        for (wanted, expected) in cases {
            let got = select_platform(&index, &wanted.parse().unwrap(), "r")
                .ok()
                .map(|d| d.digest.clone());
            let expected =
                expected.map(|n: usize| format!("sha256:{n:064x}").parse::<Digest>().unwrap());
            assert_eq!(got, expected, "{wanted}");
        }
        // Fallbacks when the preferred variant is absent.
        let sparse_body = index_json(&[
            ("linux/arm/v6", OCI_MANIFEST),
            ("linux/arm64", OCI_MANIFEST),
        ]);
        let Manifest::Index(sparse) = parse_manifest(sparse_body.as_bytes(), None, "r").unwrap()
        else {
            panic!("expected an index")
        };
        for (wanted, expected) in [
            ("linux/arm", Some(1)),
            ("linux/arm64/v8", Some(2)),
            ("linux/arm/v7", None),
        ] {
            let got = select_platform(&sparse, &wanted.parse().unwrap(), "r")
                .ok()
                .map(|d| d.digest.clone());
            let expected =
                expected.map(|n: usize| format!("sha256:{n:064x}").parse::<Digest>().unwrap());
            assert_eq!(got, expected, "sparse {wanted}");
        }
        let err = select_platform(&index, &"linux/riscv64".parse().unwrap(), "reg/app:1")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no image for platform linux/riscv64 in reg/app:1; it offers: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, windows/amd64"
        );
    }

    fn config_json(diff_ids: &[&str], history: &str) -> String {
        let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"{d}\"")).collect();
        format!(
            r#"{{"created":"2024-01-02T03:04:05Z","architecture":"arm64","variant":"v8","os":"linux",
               "config":{{"User":"app","Env":["PATH=/usr/bin","A=b"],"Entrypoint":["/init"],"Cmd":null,
                 "WorkingDir":"/srv","Labels":{{"org.opencontainers.image.version":"1.2"}},"ExposedPorts":{{"8080/tcp":{{}},"53/udp":{{}}}}}},
               "rootfs":{{"type":"layers","diff_ids":[{}]}},"history":{history}}}"#,
            ids.join(",")
        )
    }

    #[test]
    fn parses_config() {
        let body = config_json(
            &[D1, D2],
            r#"[{"created_by":"ADD x","created":"t1"},{"created_by":"ENV A=b","empty_layer":true},{"created_by":"RUN y","comment":"c","author":"me"}]"#,
        );
        let config = parse_config(body.as_bytes(), "r").unwrap();
        assert_eq!(config.platform, Some("linux/arm64/v8".parse().unwrap()));
        assert_eq!(config.summary.user.as_deref(), Some("app"));
        assert_eq!(config.summary.working_dir.as_deref(), Some("/srv"));
        assert_eq!(config.summary.env, vec!["PATH=/usr/bin", "A=b"]);
        assert_eq!(config.summary.entrypoint, vec!["/init"]);
        assert!(config.summary.cmd.is_empty());
        assert_eq!(config.summary.exposed_ports, vec!["53/udp", "8080/tcp"]);
        assert_eq!(
            config
                .summary
                .labels
                .get("org.opencontainers.image.version")
                .map(String::as_str),
            Some("1.2")
        );
        assert_eq!(
            config.summary.created.as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(config.diff_ids.len(), 2);
        assert_eq!(config.history.len(), 3);
        assert!(config.history[1].empty_layer);

        let minimal = format!(r#"{{"rootfs":{{"diff_ids":["{D1}"]}}}}"#);
        let config = parse_config(minimal.as_bytes(), "r").unwrap();
        assert_eq!(config.platform, None);
        assert_eq!(config.summary, ImageConfigSummary::default());

        for (body, reason) in [
            ("{}".to_owned(), "missing field `rootfs`"),
            (
                r#"{"rootfs":{"diff_ids":["nope"]}}"#.to_owned(),
                "rootfs.diff_ids",
            ),
            (
                r#"{"rootfs":{"diff_ids":[]},"config":{"Env":"x"}}"#.to_owned(),
                "malformed image config",
            ),
            ("null".to_owned(), "malformed"),
        ] {
            let err = parse_config(body.as_bytes(), "r").unwrap_err().to_string();
            assert!(err.contains(reason), "{body}: {err}");
        }
    }

    fn entry(empty: bool) -> HistoryEntry {
        HistoryEntry {
            created: None,
            created_by: Some(if empty { "ENV" } else { "RUN" }.into()),
            comment: None,
            author: None,
            empty_layer: empty,
            layer_index: None,
        }
    }

    #[test]
    fn history_pairing() {
        // (empty_layer flags, layer count, expected layer indexes, warning expected)
        type Case = (&'static [bool], usize, &'static [Option<u32>], bool);
        let cases: &[Case] = &[
            (
                &[false, true, false, true],
                2,
                &[Some(0), None, Some(1), None],
                false,
            ),
            (&[true, false], 1, &[None, Some(0)], false),
            (&[], 3, &[], false),
            (&[false, false, false], 2, &[None, None, None], true),
            (&[false, true], 2, &[None, None], true),
        ];
        for (flags, layers, expected, warns) in cases {
            let history = flags.iter().map(|e| entry(*e)).collect();
            let (paired, warning) = pair_history(history, *layers);
            let got: Vec<Option<u32>> = paired.iter().map(|h| h.layer_index).collect();
            assert_eq!(got, *expected, "{flags:?}");
            assert_eq!(paired.len(), flags.len());
            assert_eq!(warning.is_some(), *warns, "{flags:?}");
            if let Some(w) = warning {
                assert_eq!(w.code, "history-layer-mismatch");
            }
        }
    }

    #[test]
    fn layer_pairing_requires_matching_counts() {
        let manifest_body = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":20}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D3}","size":30}}]}}"#
        );
        let Manifest::Image(manifest) =
            parse_manifest(manifest_body.as_bytes(), None, "r").unwrap()
        else {
            panic!("expected a manifest")
        };
        let config = parse_config(config_json(&[D3, D1], "[]").as_bytes(), "r").unwrap();
        let layers = pair_layers(&manifest, &config, "r").unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(
            (
                layers[1].index,
                layers[1].diff_id.to_string(),
                layers[1].blob_digest.to_string(),
                layers[1].compressed_size
            ),
            (1, D1.to_owned(), D3.to_owned(), 30)
        );
        let short = parse_config(config_json(&[D3], "[]").as_bytes(), "r").unwrap();
        let err = pair_layers(&manifest, &short, "r").unwrap_err().to_string();
        assert_eq!(
            err,
            "config of r lists 1 diff_ids but the manifest has 2 layers"
        );
    }
}
