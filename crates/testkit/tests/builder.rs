//! The builders and the layout writer, checked by reading their output back
//! with independent readers (`tar`, `flate2`, `zstd`, `serde_json`).

use std::io::Read;

use testkit::{
    Artifact, Compression, Corruption, Flavor, ImageBuilder, IndexBuilder, LayerBuilder,
    LayoutWriter, RawEntry, sha256_digest, type_flag,
};

/// (path bytes, type flag, link target, content, mode) as the `tar` crate reads them.
type Seen = (Vec<u8>, u8, Option<Vec<u8>>, Vec<u8>, u32);

fn read_tar(bytes: &[u8]) -> Vec<Seen> {
    let mut archive = tar::Archive::new(bytes);
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type().as_byte();
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let mode = entry.header().mode().unwrap();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        seen.push((path, kind, link, content, mode));
    }
    seen
}

fn seen(path: &str, kind: u8, link: Option<&str>, content: &[u8], mode: u32) -> Seen {
    (
        path.as_bytes().to_vec(),
        kind,
        link.map(|l| l.as_bytes().to_vec()),
        content.to_vec(),
        mode,
    )
}

#[test]
fn layer_entries_read_back_as_written() {
    let long_name = format!("usr/share/{}/file.txt", "d".repeat(120));
    let long_target = format!("/{}", "t".repeat(150));
    let cases: Vec<(LayerBuilder, Vec<Seen>)> = vec![
        (
            LayerBuilder::new().file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644),
            vec![seen(
                "etc/passwd",
                b'0',
                None,
                b"root:x:0:0::/root:/bin/sh\n",
                0o644,
            )],
        ),
        (
            LayerBuilder::new()
                .dir("usr/bin")
                .dir_with_mode("/tmp/", 0o1777),
            vec![
                seen("usr/bin/", b'5', None, b"", 0o755),
                seen("tmp/", b'5', None, b"", 0o1777),
            ],
        ),
        (
            LayerBuilder::new()
                .symlink("bin", "usr/bin")
                .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
                .hardlink("usr/bin/python3", "/usr/bin/python3.11"),
            vec![
                seen("bin", b'2', Some("usr/bin"), b"", 0o777),
                seen(
                    "etc/localtime",
                    b'2',
                    Some("/usr/share/zoneinfo/UTC"),
                    b"",
                    0o777,
                ),
                seen(
                    "usr/bin/python3",
                    b'1',
                    Some("usr/bin/python3.11"),
                    b"",
                    0o644,
                ),
            ],
        ),
        (
            LayerBuilder::new()
                .whiteout("etc/apt/sources.list")
                .whiteout("toplevel")
                .opaque_dir("var/lib/apt/lists/")
                .opaque_dir("/"),
            vec![
                seen("etc/apt/.wh.sources.list", b'0', None, b"", 0o600),
                seen(".wh.toplevel", b'0', None, b"", 0o600),
                seen("var/lib/apt/lists/.wh..wh..opq", b'0', None, b"", 0o600),
                seen(".wh..wh..opq", b'0', None, b"", 0o600),
            ],
        ),
        (
            LayerBuilder::new()
                .raw(RawEntry::file("../../etc/passwd", b"evil".to_vec()))
                .raw(RawEntry::new("/abs/path", type_flag::DIRECTORY).mode(0o700))
                .raw(RawEntry::new("dev/null", type_flag::CHAR_DEVICE).mode(0o666))
                .raw(
                    RawEntry::new("link", type_flag::SYMLINK).link_target("../../../../etc/shadow"),
                ),
            vec![
                seen("../../etc/passwd", b'0', None, b"evil", 0o644),
                seen("/abs/path", b'5', None, b"", 0o700),
                seen("dev/null", b'3', None, b"", 0o666),
                seen("link", b'2', Some("../../../../etc/shadow"), b"", 0o777),
            ],
        ),
        (
            LayerBuilder::new()
                .file(&long_name, "long", 0o600)
                .symlink("short", &long_target),
            vec![
                seen(&long_name, b'0', None, b"long", 0o600),
                seen("short", b'2', Some(&long_target), b"", 0o777),
            ],
        ),
    ];
    for (builder, expected) in cases {
        let layer = builder.build(Flavor::Oci).unwrap();
        assert_eq!(read_tar(&layer.tar), expected);
    }
}

#[test]
fn compression_media_types_and_digests() {
    let cases = [
        (
            Flavor::Oci,
            Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            Flavor::Oci,
            Compression::Zstd,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            Flavor::Oci,
            Compression::None,
            "application/vnd.oci.image.layer.v1.tar",
        ),
        (
            Flavor::Docker,
            Compression::Gzip,
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        (
            Flavor::Docker,
            Compression::Zstd,
            "application/vnd.docker.image.rootfs.diff.tar.zstd",
        ),
        (
            Flavor::Docker,
            Compression::None,
            "application/vnd.docker.image.rootfs.diff.tar",
        ),
    ];
    for (flavor, compression, media_type) in cases {
        let layer = LayerBuilder::new()
            .file("a/b", "content", 0o644)
            .compression(compression)
            .build(flavor)
            .unwrap();
        assert_eq!(layer.media_type, media_type);
        assert_eq!(layer.digest, sha256_digest(&layer.blob));
        assert_eq!(layer.diff_id.0, sha256_digest(&layer.tar));
        assert_eq!(layer.size(), layer.blob.len() as u64);
        let decompressed = match compression {
            Compression::None => layer.blob.clone(),
            Compression::Gzip => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&layer.blob[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Compression::Zstd => zstd::decode_all(&layer.blob[..]).unwrap(),
        };
        assert_eq!(decompressed, layer.tar, "{media_type}");
        assert_eq!(
            compression == Compression::None,
            layer.digest == layer.diff_id.0,
            "{media_type}"
        );
    }
    let custom = LayerBuilder::new()
        .media_type("application/x-unknown")
        .build(Flavor::Oci)
        .unwrap();
    assert_eq!(custom.media_type, "application/x-unknown");
}

#[test]
fn hostile_streams() {
    let liar = LayerBuilder::new()
        .raw(RawEntry::file("big", b"short".to_vec()).declared_size(1 << 40))
        .build(Flavor::Oci)
        .unwrap();
    let mut archive = tar::Archive::new(&liar.tar[..]);
    let mut entries = archive.entries().unwrap();
    let mut first = entries.next().unwrap().unwrap();
    assert_eq!(first.header().size().unwrap(), 1 << 40);
    let mut sink = Vec::new();
    assert!(first.read_to_end(&mut sink).is_err() || sink.len() < 1 << 20);

    let pax = LayerBuilder::new()
        .raw(RawEntry::file("x", b"abc".to_vec()).pax_record("path", "renamed/by/pax"))
        .build(Flavor::Oci)
        .unwrap();
    assert_eq!(read_tar(&pax.tar)[0].0, b"renamed/by/pax".to_vec());

    let no_end = LayerBuilder::new()
        .file("a", "b", 0o644)
        .omit_end_marker()
        .build(Flavor::Oci)
        .unwrap();
    let with_end = LayerBuilder::new()
        .file("a", "b", 0o644)
        .build(Flavor::Oci)
        .unwrap();
    assert_eq!(no_end.tar.len() + 1024, with_end.tar.len());

    let truncated_gzip = {
        let real = LayerBuilder::new()
            .file("a", "b", 0o644)
            .build(Flavor::Oci)
            .unwrap();
        real.blob[..real.blob.len() / 2].to_vec()
    };
    let broken = LayerBuilder::new()
        .file("a", "b", 0o644)
        .blob_override(truncated_gzip.clone())
        .build(Flavor::Oci)
        .unwrap();
    assert_eq!(broken.blob, truncated_gzip);
    assert_eq!(broken.digest, sha256_digest(&truncated_gzip));
    assert_eq!(broken.diff_id, with_end.diff_id);

    let liar_diff_id = testkit::sha256_digest(b"something else");
    let image = ImageBuilder::oci()
        .layer(LayerBuilder::new().diff_id_override(model::DiffId(liar_diff_id.clone())))
        .build()
        .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"][0], liar_diff_id.to_string());

    let garbage = LayerBuilder::from_raw_tar(b"not a tar at all".to_vec())
        .build(Flavor::Oci)
        .unwrap();
    assert_eq!(garbage.tar, b"not a tar at all");
}

#[test]
fn file_from_host_copies_content_and_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("status");
    std::fs::write(&host, "Package: base-files\nStatus: install ok installed\n").unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o640)).unwrap();
    let layer = LayerBuilder::new()
        .file_from_host("/var/lib/dpkg/status", &host)
        .build(Flavor::Oci)
        .unwrap();
    assert_eq!(
        read_tar(&layer.tar),
        vec![seen(
            "var/lib/dpkg/status",
            b'0',
            None,
            b"Package: base-files\nStatus: install ok installed\n",
            0o640
        )]
    );
    let missing = LayerBuilder::new()
        .file_from_host("x", dir.path().join("absent"))
        .build(Flavor::Oci);
    assert!(matches!(missing, Err(testkit::ImageBuildError::Io { .. })));
}

fn two_layer_image(flavor: Flavor) -> ImageBuilder {
    ImageBuilder::new(flavor)
        .platform("linux/arm/v7".parse().unwrap())
        .created("2024-05-01T12:00:00Z")
        .env("PATH", "/usr/bin:/bin")
        .entrypoint(["/docker-entrypoint.sh"])
        .cmd(["nginx", "-g", "daemon off;"])
        .label("maintainer", "tests")
        .user("nginx")
        .working_dir("/srv")
        .layer(
            LayerBuilder::new()
                .file("etc/os-release", "ID=debian\n", 0o644)
                .created_by("/bin/sh -c #(nop) ADD file:abc in / "),
        )
        .empty_history("/bin/sh -c #(nop)  CMD [\"bash\"]")
        .layer(
            LayerBuilder::new()
                .dir("srv")
                .compression(Compression::Zstd),
        )
}

#[test]
fn image_config_and_manifest() {
    for (flavor, manifest_type, config_type) in [
        (
            Flavor::Oci,
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
        ),
        (
            Flavor::Docker,
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
        ),
    ] {
        let image = two_layer_image(flavor).build().unwrap();
        let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
        let expected_config = serde_json::json!({
            "created": "2024-05-01T12:00:00Z",
            "architecture": "arm",
            "os": "linux",
            "variant": "v7",
            "config": {
                "User": "nginx",
                "Env": ["PATH=/usr/bin:/bin"],
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "WorkingDir": "/srv",
                "Labels": {"maintainer": "tests"},
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": [image.layers[0].diff_id.to_string(), image.layers[1].diff_id.to_string()],
            },
            "history": [
                {"created": "2024-05-01T12:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
                {"created": "2024-05-01T12:00:00Z", "created_by": "/bin/sh -c #(nop)  CMD [\"bash\"]", "empty_layer": true},
                {"created": "2024-05-01T12:00:00Z", "created_by": "imagebuild: layer 1"},
            ],
        });
        assert_eq!(config, expected_config);

        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], manifest_type);
        assert_eq!(manifest["config"]["mediaType"], config_type);
        assert_eq!(
            manifest["config"]["digest"],
            image.config.digest.to_string()
        );
        assert_eq!(manifest["config"]["size"], image.config.bytes.len());
        for (descriptor, layer) in manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&image.layers)
        {
            assert_eq!(descriptor["digest"], layer.digest.to_string());
            assert_eq!(descriptor["size"], layer.blob.len());
            assert_eq!(descriptor["mediaType"], layer.media_type);
        }
        assert_eq!(image.manifest.digest, sha256_digest(&image.manifest.bytes));
        assert_eq!(image.blobs().len(), 3);
        // Same builder, same bytes: tests can hard-code nothing and still compare runs.
        assert_eq!(two_layer_image(flavor).build().unwrap(), image);
    }
}

#[test]
fn image_variants_without_history_and_raw_config() {
    let image = ImageBuilder::oci()
        .without_history()
        .no_created()
        .layer(LayerBuilder::new())
        .manifest_annotation("org.opencontainers.image.title", "t")
        .build()
        .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
    assert!(config.get("history").is_none());
    assert!(config.get("created").is_none());
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "t"
    );

    let raw = ImageBuilder::oci()
        .raw_config(b"{\"rootfs\": 12}".to_vec())
        .build()
        .unwrap();
    assert_eq!(raw.config.bytes, b"{\"rootfs\": 12}");
}

#[test]
fn index_lists_platform_images() {
    for (flavor, index_type) in [
        (Flavor::Oci, "application/vnd.oci.image.index.v1+json"),
        (
            Flavor::Docker,
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ),
    ] {
        let amd64 = ImageBuilder::new(flavor)
            .layer(LayerBuilder::new().file("arch", "amd64", 0o644))
            .build()
            .unwrap();
        let arm64 = ImageBuilder::new(flavor)
            .platform("linux/arm64/v8".parse().unwrap())
            .layer(LayerBuilder::new().file("arch", "arm64", 0o644))
            .build()
            .unwrap();
        let attestation = ImageBuilder::new(flavor).build().unwrap();
        let index = IndexBuilder::new(flavor)
            .image(amd64.clone())
            .image(arm64.clone())
            .entry(
                attestation.clone(),
                None,
                &[("vnd.docker.reference.type", "attestation-manifest")],
            )
            .annotation("org.opencontainers.image.created", "2024-01-01T00:00:00Z")
            .build()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&index.index.bytes).unwrap();
        assert_eq!(json["mediaType"], index_type);
        let expected_manifests = serde_json::json!([
            {"mediaType": amd64.manifest.media_type, "digest": amd64.manifest.digest.to_string(),
             "size": amd64.manifest.bytes.len(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": arm64.manifest.media_type, "digest": arm64.manifest.digest.to_string(),
             "size": arm64.manifest.bytes.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": attestation.manifest.media_type, "digest": attestation.manifest.digest.to_string(),
             "size": attestation.manifest.bytes.len(),
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        ]);
        assert_eq!(json["manifests"], expected_manifests);
        let pushed_order: Vec<_> = index.manifests().iter().map(|m| m.digest.clone()).collect();
        assert_eq!(
            pushed_order,
            vec![
                amd64.manifest.digest.clone(),
                arm64.manifest.digest.clone(),
                attestation.manifest.digest.clone(),
                index.index.digest.clone()
            ]
        );
        // Config blobs of the two real images differ, the layers too: 2 + 2 + 1.
        assert_eq!(index.blobs().len(), 5);
    }
}

#[test]
fn layout_structure_digests_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let image = two_layer_image(Flavor::Oci).build().unwrap();
    let index = IndexBuilder::new(Flavor::Oci)
        .image(image.clone())
        .build()
        .unwrap();
    let mut layout = LayoutWriter::create(dir.path()).unwrap();
    layout.add(&image, Some("app:1.0")).unwrap();
    layout.add(&index, None).unwrap();

    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(marker, serde_json::json!({"imageLayoutVersion": "1.0.0"}));
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index_json,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": image.manifest.digest.to_string(), "size": image.manifest.bytes.len(),
                 "annotations": {"org.opencontainers.image.ref.name": "app:1.0"}},
                {"mediaType": "application/vnd.oci.image.index.v1+json",
                 "digest": index.index.digest.to_string(), "size": index.index.bytes.len()},
            ],
        })
    );

    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = [
        &image.manifest.digest,
        &image.config.digest,
        &image.layers[0].digest,
        &image.layers[1].digest,
        &index.index.digest,
    ]
    .iter()
    .map(|d| d.hex().to_owned())
    .collect();
    expected.sort();
    assert_eq!(names, expected);
    for name in &names {
        let bytes = std::fs::read(dir.path().join("blobs/sha256").join(name)).unwrap();
        assert_eq!(sha256_digest(&bytes).hex(), name);
    }

    let layer = &image.layers[0];
    let cases = [
        (Corruption::FlipByte(3), {
            let mut b = layer.blob.clone();
            b[3] ^= 0xff;
            b
        }),
        (Corruption::Truncate(5), layer.blob[..5].to_vec()),
        (Corruption::Replace(b"zz".to_vec()), b"zz".to_vec()),
    ];
    for (corruption, expected) in cases {
        layout.write_blob(&layer.digest, &layer.blob).unwrap();
        layout
            .corrupt_blob(&layer.digest, corruption.clone())
            .unwrap();
        let bytes = std::fs::read(layout.blob_path(&layer.digest)).unwrap();
        assert_eq!(bytes, expected, "{corruption:?}");
        assert_ne!(sha256_digest(&bytes), layer.digest);
    }
    layout.remove_blob(&layer.digest).unwrap();
    assert!(!layout.blob_path(&layer.digest).exists());
    layout.write_raw_index(b"{").unwrap();
    assert_eq!(std::fs::read(dir.path().join("index.json")).unwrap(), b"{");
}
