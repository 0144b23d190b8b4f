//! OCI image layouts on disk, written by testkit.

mod common;

use common::drain;
use model::Platform;
use oci::{ImageSource, OciError, OciLayout};
use testkit::{Corruption, Flavor, ImageBuilder, IndexBuilder, LayerBuilder, LayoutWriter};

fn image(platform: &str, content: &str) -> testkit::BuiltImage {
    ImageBuilder::oci()
        .platform(platform.parse().unwrap())
        .layer(LayerBuilder::new().file("etc/os-release", "ID=alpine\n", 0o644))
        .layer(LayerBuilder::new().file("app", content.as_bytes().to_vec(), 0o755))
        .build()
        .unwrap()
}

async fn resolve(
    dir: &std::path::Path,
    tag: Option<&str>,
    platform: &str,
) -> Result<oci::ResolvedImage, OciError> {
    let layout = OciLayout::open(dir).await?;
    let source = ImageSource::Layout {
        layout,
        tag: tag.map(str::to_owned),
    };
    source.resolve(&platform.parse::<Platform>().unwrap()).await
}

#[tokio::test]
async fn selects_by_tag_platform_and_streams_verified_layers() {
    let dir = tempfile::tempdir().unwrap();
    let single = image("linux/amd64", "single");
    let amd = image("linux/amd64", "amd");
    let arm = image("linux/arm64/v8", "arm");
    let index = IndexBuilder::new(Flavor::Oci)
        .image(amd.clone())
        .image(arm.clone())
        .build()
        .unwrap();
    let mut writer = LayoutWriter::create(dir.path()).unwrap();
    writer.add(&single, Some("1.0")).unwrap();
    writer.add(&index, Some("multi")).unwrap();

    // (tag, platform, expected manifest digest, expected index digest)
    let cases = [
        (Some("1.0"), "linux/amd64", &single.manifest.digest, None),
        (
            Some("multi"),
            "linux/amd64",
            &amd.manifest.digest,
            Some(&index.index.digest),
        ),
        (
            Some("multi"),
            "linux/arm64",
            &arm.manifest.digest,
            Some(&index.index.digest),
        ),
    ];
    for (tag, platform, manifest, index_digest) in cases {
        let layout = OciLayout::open(dir.path()).await.unwrap();
        let source = ImageSource::Layout {
            layout,
            tag: tag.map(str::to_owned),
        };
        let resolved = source
            .resolve(&platform.parse().unwrap())
            .await
            .expect("resolve");
        assert_eq!(
            &resolved.metadata.manifest_digest, manifest,
            "{tag:?} {platform}"
        );
        assert_eq!(
            resolved.metadata.index_digest.as_ref(),
            index_digest,
            "{tag:?} {platform}"
        );
        assert_eq!(resolved.metadata.tag.as_deref(), tag);
        for layer in &resolved.metadata.layers {
            let bytes = drain(source.open_layer(&resolved, layer).await.unwrap())
                .await
                .unwrap();
            assert_eq!(
                oci::digest_of(model::DigestAlgorithm::Sha256, &bytes),
                layer.blob_digest
            );
        }
    }

    let errors = [
        (
            None,
            "linux/amd64",
            "holds several images; choose one with DIR:TAG (tags: 1.0, multi)",
        ),
        (
            Some("2.0"),
            "linux/amd64",
            "no image tagged \"2.0\"; tags: 1.0, multi",
        ),
        (
            Some("multi"),
            "linux/ppc64le",
            "it offers: linux/amd64, linux/arm64/v8",
        ),
    ];
    for (tag, platform, message) in errors {
        let err = resolve(dir.path(), tag, platform)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{tag:?}: {err}");
    }
}

#[tokio::test]
async fn untagged_single_image_and_untagged_platform_index() {
    let dir = tempfile::tempdir().unwrap();
    let only = image("linux/amd64", "only");
    let mut writer = LayoutWriter::create(dir.path()).unwrap();
    writer.add(&only, None).unwrap();
    let resolved = resolve(dir.path(), None, "linux/amd64").await.unwrap();
    assert_eq!(resolved.metadata.manifest_digest, only.manifest.digest);
    assert!(resolved.metadata.reference.starts_with("oci:"));
    let by_arg = ImageSource::layout(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let again = by_arg.resolve(&Platform::linux_amd64()).await.unwrap();
    assert_eq!(again.metadata, resolved.metadata);

    // A single-platform image asked for another platform: a warning, not a failure.
    let resolved = resolve(dir.path(), None, "linux/arm64").await.unwrap();
    assert_eq!(resolved.warnings.len(), 1);
    assert_eq!(resolved.warnings[0].code, "platform-mismatch");

    // index.json listing per-platform manifests directly, without names.
    let dir = tempfile::tempdir().unwrap();
    let amd = image("linux/amd64", "amd");
    let arm = image("linux/arm64/v8", "arm");
    let mut writer = LayoutWriter::create(dir.path()).unwrap();
    writer.add(&amd, None).unwrap();
    writer.add(&arm, None).unwrap();
    let index_json = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": amd.manifest.media_type, "digest": amd.manifest.digest.to_string(), "size": amd.manifest.size(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": arm.manifest.media_type, "digest": arm.manifest.digest.to_string(), "size": arm.manifest.size(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ]
    });
    writer
        .write_raw_index(&serde_json::to_vec(&index_json).unwrap())
        .unwrap();
    let resolved = resolve(dir.path(), None, "linux/arm64").await.unwrap();
    assert_eq!(resolved.metadata.manifest_digest, arm.manifest.digest);
}

#[tokio::test]
async fn corrupted_and_missing_blobs_are_detected() {
    let build = || {
        let dir = tempfile::tempdir().unwrap();
        let img = image("linux/amd64", "payload payload payload");
        let mut writer = LayoutWriter::create(dir.path()).unwrap();
        writer.add(&img, Some("t")).unwrap();
        (dir, img, writer)
    };

    // Layer corruption surfaces in the stream, at the end.
    for (how, expected) in [
        (Corruption::FlipByte(40), "digest mismatch"),
        (Corruption::Truncate(10), "descriptor says"),
        (Corruption::Replace(vec![0u8; 100_000]), "descriptor says"),
    ] {
        let (dir, img, writer) = build();
        writer
            .corrupt_blob(&img.layers[1].digest, how.clone())
            .unwrap();
        let source = ImageSource::Layout {
            layout: OciLayout::open(dir.path()).await.unwrap(),
            tag: Some("t".into()),
        };
        let resolved = source.resolve(&Platform::linux_amd64()).await.unwrap();
        let stream = source
            .open_layer(&resolved, &resolved.metadata.layers[1])
            .await
            .unwrap();
        let err = drain(stream)
            .await
            .expect_err("corruption must be reported")
            .to_string();
        assert!(err.contains(expected), "{how:?}: {err}");
    }

    // Config and manifest corruption fail resolution.
    for target in ["config", "manifest"] {
        let (dir, img, writer) = build();
        let digest = if target == "config" {
            &img.config.digest
        } else {
            &img.manifest.digest
        };
        writer
            .corrupt_blob(digest, Corruption::FlipByte(5))
            .unwrap();
        let err = resolve(dir.path(), Some("t"), "linux/amd64")
            .await
            .unwrap_err();
        assert!(
            matches!(err, OciError::DigestMismatch { .. }),
            "{target}: {err:?}"
        );
    }

    let (dir, img, writer) = build();
    writer.remove_blob(&img.config.digest).unwrap();
    let err = resolve(dir.path(), Some("t"), "linux/amd64")
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::BlobUnknown { .. }), "{err:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn blob_symlinks_cannot_escape_the_layout() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let img = image("linux/amd64", "x");
    let mut writer = LayoutWriter::create(dir.path()).unwrap();
    writer.add(&img, Some("t")).unwrap();
    let config_path = writer.blob_path(&img.config.digest);
    let stolen = outside.path().join("config");
    std::fs::write(&stolen, &img.config.bytes).unwrap();
    std::fs::remove_file(&config_path).unwrap();
    std::os::unix::fs::symlink(&stolen, &config_path).unwrap();
    let err = resolve(dir.path(), Some("t"), "linux/amd64")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("resolves outside the layout"), "{err}");
}

#[tokio::test]
async fn not_a_layout_and_broken_index() {
    let empty = tempfile::tempdir().unwrap();
    let err = OciLayout::open(empty.path()).await.unwrap_err().to_string();
    assert!(err.contains("not an OCI image layout"), "{err}");
    let err = OciLayout::open(empty.path().join("nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot open directory"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let writer = LayoutWriter::create(dir.path()).unwrap();
    let cases: &[(&[u8], &str)] = &[
        (b"{", "malformed"),
        (br#"{"schemaVersion":2,"manifests":[]}"#, "lists no images"),
        (br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:../../../etc/passwd","size":1}]}"#, "descriptor digest"),
    ];
    for (index, expected) in cases {
        writer.write_raw_index(index).unwrap();
        let err = resolve(dir.path(), None, "linux/amd64")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(expected),
            "{}: {err}",
            String::from_utf8_lossy(index)
        );
    }
}

#[test]
fn layout_locations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let cases = [
        (d.to_owned(), d.to_owned(), None),
        (format!("{d}:v1"), d.to_owned(), Some("v1")),
        (
            "/no/such/dir:tag".to_owned(),
            "/no/such/dir".to_owned(),
            Some("tag"),
        ),
        ("/no/such/dir".to_owned(), "/no/such/dir".to_owned(), None),
        ("relative:a/b".to_owned(), "relative:a/b".to_owned(), None),
    ];
    for (arg, path, tag) in cases {
        let (p, t) = OciLayout::parse_location(&arg);
        assert_eq!(p, std::path::PathBuf::from(&path), "{arg}");
        assert_eq!(t.as_deref(), tag, "{arg}");
    }
}

#[tokio::test]
async fn nested_indexes_resolve_until_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    let img = image("linux/arm64/v8", "nested");
    let mut writer = LayoutWriter::create(dir.path()).unwrap();
    writer.add(&img, None).unwrap();

    // Wrap the image in `levels` indexes, each pointing at the one below.
    let wrap = |levels: usize| {
        let (mut media_type, mut digest, mut size) = (
            img.manifest.media_type.clone(),
            img.manifest.digest.clone(),
            img.manifest.size(),
        );
        let mut top_index_digest = None;
        for _ in 0..levels {
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{"mediaType": media_type, "digest": digest.to_string(), "size": size,
                               "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]
            });
            let bytes = serde_json::to_vec(&index).unwrap();
            digest = testkit::sha256_digest(&bytes);
            size = bytes.len() as u64;
            media_type = "application/vnd.oci.image.index.v1+json".to_owned();
            writer.write_blob(&digest, &bytes).unwrap();
            top_index_digest = Some(digest.clone());
        }
        let index_json = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": media_type, "digest": digest.to_string(), "size": size,
                           "annotations": {"org.opencontainers.image.ref.name": "t"}}]
        });
        writer
            .write_raw_index(&serde_json::to_vec(&index_json).unwrap())
            .unwrap();
        top_index_digest
    };

    for levels in 1..=oci::MAX_INDEX_DEPTH {
        // The manifest is chosen from the innermost index, which is the same
        // document (same digest) whatever the number of levels above it.
        let innermost = wrap(1);
        let _ = wrap(levels);
        let resolved = resolve(dir.path(), Some("t"), "linux/arm64")
            .await
            .expect("within the limit");
        assert_eq!(
            resolved.metadata.manifest_digest, img.manifest.digest,
            "{levels}"
        );
        assert_eq!(resolved.metadata.index_digest, innermost, "{levels}");
    }
    wrap(oci::MAX_INDEX_DEPTH + 1);
    let err = resolve(dir.path(), Some("t"), "linux/arm64")
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::IndexTooDeep { .. }), "{err:?}");
}
