//! Parsing the kubelet's `status.containerStatuses[].imageID` and normalising
//! the pod spec's image reference.
//!
//! Runtimes report the image in several spellings:
//! - `docker-pullable://repo@sha256:…` (dockershim, image pulled by a registry): a manifest digest;
//! - `repo@sha256:…` (containerd, CRI-O): a manifest digest (possibly an index's);
//! - `docker://sha256:…` (dockershim, image without a repo digest, e.g. built locally): an image ID;
//! - bare `sha256:…` (some CRI implementations): an image (config) ID, *not* a
//!   manifest digest — it cannot be pulled by; it can be checked against a
//!   manifest's config digest.

use model::Digest;

use crate::types::DigestKind;

/// Longest imageID accepted; real ones are a reference plus 71 characters.
const MAX_IMAGE_ID_LEN: usize = 4096;

/// A parsed imageID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageId {
    pub digest: Digest,
    pub kind: DigestKind,
    /// The repository part, when the runtime wrote one (`docker.io/library/nginx`).
    pub repository: Option<String>,
}

/// Why an imageID could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageIdError {
    #[error("imageID is empty")]
    Empty,
    #[error("imageID is longer than {MAX_IMAGE_ID_LEN} bytes")]
    TooLong,
    #[error("imageID {0:?} has an unknown scheme")]
    UnknownScheme(String),
    #[error("imageID {input:?} has no valid digest: {reason}")]
    BadDigest { input: String, reason: String },
}

/// Parses an imageID as a runtime reports it (see the module docs).
pub fn parse_image_id(raw: &str) -> Result<ImageId, ImageIdError> {
    let input = raw.trim();
    if input.is_empty() {
        return Err(ImageIdError::Empty);
    }
    if input.len() > MAX_IMAGE_ID_LEN {
        return Err(ImageIdError::TooLong);
    }
    let bad = |reason: String| ImageIdError::BadDigest {
        input: input.to_owned(),
        reason,
    };
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, input),
    };
    let kind_for_repo_digest = match scheme {
        None | Some("docker-pullable") => DigestKind::Manifest,
        Some("docker") => DigestKind::ImageId,
        Some(other) => return Err(ImageIdError::UnknownScheme(other.to_owned())),
    };
    match rest.rsplit_once('@') {
        Some((repository, digest)) => {
            if repository.is_empty() {
                return Err(bad("empty repository before '@'".to_owned()));
            }
            if repository
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(bad("repository contains whitespace".to_owned()));
            }
            let digest: Digest = digest.parse().map_err(|e| bad(format!("{e}")))?;
            Ok(ImageId {
                digest,
                kind: kind_for_repo_digest,
                repository: Some(repository.to_owned()),
            })
        }
        None => {
            // Without a repository the value is the local image ID, whatever the scheme.
            let digest: Digest = rest.parse().map_err(|e| bad(format!("{e}")))?;
            Ok(ImageId {
                digest,
                kind: DigestKind::ImageId,
                repository: None,
            })
        }
    }
}

/// Normalises a pod spec image reference with Docker's defaults
/// (`nginx` → `docker.io/library/nginx:latest`).
pub fn normalize_reference(image: &str) -> Result<oci::Reference, oci::OciError> {
    let reference: oci::Reference = image.parse()?;
    // A reference without tag or digest means `latest` to the kubelet.
    if reference.tag().is_none() && reference.digest().is_none() {
        return format!("{image}:latest").parse();
    }
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac";

    #[test]
    fn image_ids() {
        let d = format!("sha256:{HEX}");
        // (input, Ok((kind, repository)) or Err(error prefix))
        type Expected = Result<(DigestKind, Option<&'static str>), &'static str>;
        let cases: Vec<(String, Expected)> = vec![
            (
                format!("docker-pullable://nginx@{d}"),
                Ok((DigestKind::Manifest, Some("nginx"))),
            ),
            (
                format!("docker-pullable://localhost:5000/team/app@{d}"),
                Ok((DigestKind::Manifest, Some("localhost:5000/team/app"))),
            ),
            (format!("docker://{d}"), Ok((DigestKind::ImageId, None))),
            (d.clone(), Ok((DigestKind::ImageId, None))),
            (
                format!("docker.io/library/nginx@{d}"),
                Ok((DigestKind::Manifest, Some("docker.io/library/nginx"))),
            ),
            (
                format!("  ghcr.io/a/b@{d}\n"),
                Ok((DigestKind::Manifest, Some("ghcr.io/a/b"))),
            ),
            (String::new(), Err("imageID is empty")),
            ("   ".to_owned(), Err("imageID is empty")),
            (
                "garbage".to_owned(),
                Err("imageID \"garbage\" has no valid digest"),
            ),
            (
                format!("rkt://{d}"),
                Err("imageID \"rkt\" has an unknown scheme"),
            ),
            (format!("@{d}"), Err("imageID")),
            (
                "nginx@sha256:short".to_owned(),
                Err("imageID \"nginx@sha256:short\" has no valid digest"),
            ),
            (format!("nginx@md5:{HEX}"), Err("imageID")),
            (
                format!("nginx@sha256:{}", HEX.to_uppercase()),
                Err("imageID"),
            ),
            ("x".repeat(5000), Err("imageID is longer")),
            (format!("ngi nx@{d}"), Err("imageID")),
        ];
        for (input, expected) in cases {
            let got = parse_image_id(&input);
            match (expected, got) {
                (Ok((kind, repo)), Ok(id)) => {
                    assert_eq!(id.kind, kind, "{input}");
                    assert_eq!(id.repository.as_deref(), repo, "{input}");
                    assert_eq!(id.digest.to_string(), d, "{input}");
                }
                (Err(prefix), Err(e)) => {
                    assert!(e.to_string().starts_with(prefix), "{input}: {e}");
                }
                (expected, got) => panic!("{input:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn references() {
        let d = format!("sha256:{HEX}");
        let cases: Vec<(String, Option<String>)> = vec![
            (
                "nginx".into(),
                Some("docker.io/library/nginx:latest".into()),
            ),
            (
                "nginx:1.25".into(),
                Some("docker.io/library/nginx:1.25".into()),
            ),
            (
                "bitnami/redis:7".into(),
                Some("docker.io/bitnami/redis:7".into()),
            ),
            (
                "index.docker.io/library/busybox".into(),
                Some("docker.io/library/busybox:latest".into()),
            ),
            (
                "localhost:5000/app".into(),
                Some("localhost:5000/app:latest".into()),
            ),
            (format!("ghcr.io/a/b@{d}"), Some(format!("ghcr.io/a/b@{d}"))),
            (
                format!("quay.io/a/b:v1@{d}"),
                Some(format!("quay.io/a/b:v1@{d}")),
            ),
            ("".into(), None),
            ("UPPER/case".into(), None),
            ("nginx:bad tag".into(), None),
            ("nginx@sha256:123".into(), None),
        ];
        for (input, expected) in cases {
            let got = normalize_reference(&input).ok().map(|r| r.to_string());
            assert_eq!(got, expected, "{input:?}");
        }
    }
}
