//! The kit against the real `docker-registry`: every auth mode, push, and
//! fetch back over HTTP. Skips (with a message) when the registry is absent.

use testkit::{
    Artifact, BuiltImage, Compression, Flavor, ImageBuilder, IndexBuilder, LayerBuilder,
    RegistryClient, TestRegistry, TestkitError,
};

fn two_layer_image(flavor: Flavor, marker: &str) -> BuiltImage {
    ImageBuilder::new(flavor)
        .layer(LayerBuilder::new().dir("etc").file(
            "etc/os-release",
            format!("ID=debian\nMARKER={marker}\n"),
            0o644,
        ))
        .empty_history("CMD [\"sh\"]")
        .layer(
            LayerBuilder::new()
                .file("usr/bin/app", marker, 0o755)
                .compression(Compression::Zstd),
        )
        .build()
        .unwrap()
}

/// Fetches manifest and blobs back and compares them byte for byte.
fn assert_served(client: &RegistryClient, repository: &str, tag: &str, image: &BuiltImage) {
    let response = client.get_manifest(repository, tag).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, image.manifest.bytes);
    assert_eq!(
        response.header("content-type"),
        Some(image.manifest.media_type.as_str())
    );
    assert_eq!(
        response.header("docker-content-digest"),
        Some(image.manifest.digest.to_string().as_str())
    );
    for blob in image.blobs() {
        let response = client.get_blob(repository, blob.digest).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, blob.bytes);
    }
}

#[test]
fn anonymous_push_and_fetch() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    assert!(registry.url().starts_with("http://127.0.0.1:"));
    assert_eq!(registry.token_realm(), None);
    let client = registry.client();

    for (flavor, repository) in [(Flavor::Oci, "oci/app"), (Flavor::Docker, "docker/app")] {
        let image = two_layer_image(flavor, repository);
        let digest = client.push(repository, "v1", &image).unwrap();
        assert_eq!(digest, image.manifest.digest);
        assert_served(&client, repository, "v1", &image);
        assert_served(&client, repository, &digest.to_string(), &image);
        // A second push finds every blob present and only re-tags.
        assert_eq!(client.push(repository, "v2", &image).unwrap(), digest);
    }

    // An unknown tag is a 404, not an error of the client.
    assert_eq!(client.get_manifest("oci/app", "nope").unwrap().status, 404);
}

#[test]
fn anonymous_multi_arch_index() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let client = registry.client();
    for flavor in [Flavor::Oci, Flavor::Docker] {
        let amd64 = two_layer_image(flavor, "amd64");
        let arm64 = ImageBuilder::new(flavor)
            .platform("linux/arm64/v8".parse().unwrap())
            .layer(LayerBuilder::new().file("arch", "arm64", 0o644))
            .build()
            .unwrap();
        let index = IndexBuilder::new(flavor)
            .image(amd64.clone())
            .image(arm64.clone())
            .build()
            .unwrap();
        let digest = client.push("multi/app", "latest", &index).unwrap();
        assert_eq!(digest, index.index.digest);
        let response = client.get_manifest("multi/app", "latest").unwrap();
        assert_eq!(response.body, index.index.bytes);
        assert_eq!(
            response.header("content-type"),
            Some(index.index.media_type.as_str())
        );
        assert_served(
            &client,
            "multi/app",
            &amd64.manifest.digest.to_string(),
            &amd64,
        );
        assert_served(
            &client,
            "multi/app",
            &arm64.manifest.digest.to_string(),
            &arm64,
        );
    }
}

#[test]
fn raw_manifests_and_blobs() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let client = registry.client();

    // The registry refuses a manifest whose blobs it does not have...
    let image = two_layer_image(Flavor::Oci, "raw");
    let refused = client.put_manifest(
        "raw/app",
        "t",
        &image.manifest.media_type,
        &image.manifest.bytes,
    );
    assert!(
        matches!(refused, Err(TestkitError::Status { status: 400, .. })),
        "{refused:?}"
    );
    // ...and unparsable JSON.
    let garbage = client.put_manifest(
        "raw/app",
        "t",
        testkit::media_type::OCI_MANIFEST,
        b"{not json",
    );
    assert!(
        matches!(garbage, Err(TestkitError::Status { status: 400, .. })),
        "{garbage:?}"
    );

    // Blobs pushed one by one, then a hand-written manifest referencing them.
    for blob in image.blobs() {
        assert_eq!(
            &client.push_blob("raw/app", blob.bytes).unwrap(),
            blob.digest
        );
        assert!(client.blob_exists("raw/app", blob.digest).unwrap());
    }
    let digest = client
        .put_manifest(
            "raw/app",
            "t",
            &image.manifest.media_type,
            &image.manifest.bytes,
        )
        .unwrap();
    assert_eq!(digest, image.manifest.digest);

    // The registry checks uploads against their digest.
    let wrong = client.upload_blob("raw/app", &testkit::sha256_digest(b"other"), b"content");
    assert!(
        matches!(wrong, Err(TestkitError::Status { status: 400, .. })),
        "{wrong:?}"
    );
}
