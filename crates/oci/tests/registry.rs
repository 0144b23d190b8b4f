//! Against a real registry: Debian's `docker-registry`, started on 127.0.0.1
//! by testkit. Skipped (with a note on stderr) when it is not installed.

mod common;

use common::{client, drain};
use model::Platform;
use oci::{CredentialStore, Credentials, ImageSource, OciError, Reference};
use testkit::{
    Compression, Flavor, ImageBuilder, IndexBuilder, LayerBuilder, RawManifest, RegistryAuth,
    TestRegistry, TokenPolicy,
};

fn amd64() -> Platform {
    Platform::linux_amd64()
}

fn two_layer_image(flavor: Flavor) -> testkit::BuiltImage {
    ImageBuilder::new(flavor)
        .env("PATH", "/usr/local/bin:/usr/bin")
        .entrypoint(["/entry"])
        .cmd(["serve", "--port=8080"])
        .label("org.opencontainers.image.version", "1.2.3")
        .user("app")
        .working_dir("/srv")
        .layer(
            LayerBuilder::new()
                .file("etc/os-release", "ID=debian\nVERSION_ID=12\n", 0o644)
                .created_by("ADD rootfs.tar /"),
        )
        .empty_history("ENV PATH=/usr/local/bin:/usr/bin")
        .layer(
            LayerBuilder::new()
                .compression(Compression::Zstd)
                .file("srv/app", vec![7u8; 300_000], 0o755)
                .created_by("COPY app /srv/app"),
        )
        .build()
        .expect("image builds")
}

fn source(client: &std::sync::Arc<oci::RegistryClient>, reference: &str) -> ImageSource {
    ImageSource::Registry {
        client: client.clone(),
        reference: reference.parse::<Reference>().expect("reference"),
    }
}

#[tokio::test]
async fn resolves_by_tag_and_by_digest_and_streams_layers() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let host = registry.host();
    let client = client(CredentialStore::new());
    for (flavor, repo) in [
        (Flavor::Oci, "team/oci-app"),
        (Flavor::Docker, "team/docker-app"),
    ] {
        let image = two_layer_image(flavor);
        registry.client().push(repo, "1.0", &image).expect("push");

        let by_tag = source(&client, &format!("{host}/{repo}:1.0"));
        let resolved = by_tag.resolve(&amd64()).await.expect("resolve by tag");
        let m = &resolved.metadata;
        assert_eq!(m.reference, format!("{host}/{repo}:1.0"));
        assert_eq!(m.repository, format!("{host}/{repo}"));
        assert_eq!(m.tag.as_deref(), Some("1.0"));
        assert_eq!(m.manifest_digest, image.manifest.digest);
        assert_eq!(m.manifest_media_type, image.manifest.media_type);
        assert_eq!(m.index_digest, None);
        assert_eq!(m.config_digest, image.config.digest);
        assert_eq!(m.platform, amd64());
        assert_eq!(m.config.env, vec!["PATH=/usr/local/bin:/usr/bin"]);
        assert_eq!(m.config.entrypoint, vec!["/entry"]);
        assert_eq!(m.config.cmd, vec!["serve", "--port=8080"]);
        assert_eq!(m.config.user.as_deref(), Some("app"));
        assert_eq!(m.config.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            m.config
                .labels
                .get("org.opencontainers.image.version")
                .map(String::as_str),
            Some("1.2.3")
        );
        assert_eq!(m.layers.len(), 2);
        let history: Vec<(Option<&str>, bool, Option<u32>)> = m
            .history
            .iter()
            .map(|h| (h.created_by.as_deref(), h.empty_layer, h.layer_index))
            .collect();
        assert_eq!(
            history,
            vec![
                (Some("ADD rootfs.tar /"), false, Some(0)),
                (Some("ENV PATH=/usr/local/bin:/usr/bin"), true, None),
                (Some("COPY app /srv/app"), false, Some(1)),
            ]
        );
        assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
        for (layer, built) in m.layers.iter().zip(&image.layers) {
            assert_eq!(layer.blob_digest, built.digest);
            assert_eq!(layer.diff_id, built.diff_id);
            assert_eq!(layer.compressed_size, built.size());
            assert_eq!(layer.media_type, built.media_type);
            let bytes = drain(by_tag.open_layer(&resolved, layer).await.expect("open"))
                .await
                .expect("stream");
            assert_eq!(bytes, built.blob);
        }
        assert_eq!(
            oci::Compression::from_media_type(&m.layers[1].media_type),
            oci::Compression::Zstd
        );

        let by_digest = source(&client, &format!("{host}/{repo}@{}", image.manifest.digest));
        let pinned = by_digest
            .resolve(&amd64())
            .await
            .expect("resolve by digest");
        assert_eq!(pinned.metadata.manifest_digest, image.manifest.digest);
        assert_eq!(pinned.metadata.tag, None);
        assert_eq!(pinned.metadata.layers, m.layers);
    }
}

#[tokio::test]
async fn multi_arch_index_platform_choice() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let host = registry.host();
    let amd = ImageBuilder::oci()
        .layer(LayerBuilder::new().file("arch", "amd64", 0o644))
        .build()
        .unwrap();
    let arm = ImageBuilder::oci()
        .platform("linux/arm64/v8".parse().unwrap())
        .layer(LayerBuilder::new().file("arch", "arm64", 0o644))
        .build()
        .unwrap();
    let attestation = ImageBuilder::oci()
        .platform("unknown/unknown".parse().unwrap())
        .layer(LayerBuilder::new().file("att", "x", 0o644))
        .build()
        .unwrap();
    for flavor in [Flavor::Oci, Flavor::Docker] {
        let index = IndexBuilder::new(flavor)
            .image(amd.clone())
            .image(arm.clone())
            .entry(
                attestation.clone(),
                Some("unknown/unknown".parse().unwrap()),
                &[],
            )
            .build()
            .unwrap();
        registry
            .client()
            .push("multi/app", "latest", &index)
            .expect("push index");
        let client = client(CredentialStore::new());
        let src = source(&client, &format!("{host}/multi/app"));

        let cases = [
            ("linux/amd64", &amd),
            ("linux/arm64", &arm),
            ("linux/arm64/v8", &arm),
        ];
        for (wanted, expected) in cases {
            let resolved = src.resolve(&wanted.parse().unwrap()).await.expect(wanted);
            assert_eq!(
                resolved.metadata.manifest_digest, expected.manifest.digest,
                "{wanted}"
            );
            assert_eq!(
                resolved.metadata.index_digest.as_ref(),
                Some(&index.index.digest),
                "{wanted}"
            );
            assert_eq!(resolved.metadata.platform, expected.platform, "{wanted}");
            let layer = &resolved.metadata.layers[0];
            let bytes = drain(src.open_layer(&resolved, layer).await.unwrap())
                .await
                .unwrap();
            assert_eq!(bytes, expected.layers[0].blob);
        }

        let err = src
            .resolve(&"linux/s390x".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no image for platform linux/s390x in {host}/multi/app:latest; it offers: linux/amd64, linux/arm64/v8"
            )
        );
    }
}

#[tokio::test]
async fn basic_auth_accepts_good_and_rejects_bad_credentials() {
    let Some(registry) = TestRegistry::start_with(RegistryAuth::htpasswd(&[("alice", "right")]))
    else {
        return;
    };
    let host = registry.host();
    let image = two_layer_image(Flavor::Oci);
    registry
        .client()
        .with_basic_auth("alice", "right")
        .push("private/app", "1", &image)
        .expect("push");
    let reference = format!("{host}/private/app:1");

    let mut good = CredentialStore::new();
    good.insert(&host, Credentials::basic("alice", "right"))
        .unwrap();
    let c = client(good);
    let src = source(&c, &reference);
    let resolved = src.resolve(&amd64()).await.expect("authenticated resolve");
    assert_eq!(resolved.metadata.manifest_digest, image.manifest.digest);
    let layer = &resolved.metadata.layers[1];
    let bytes = drain(src.open_layer(&resolved, layer).await.unwrap())
        .await
        .unwrap();
    assert_eq!(bytes, image.layers[1].blob);

    // Credentials from a docker config.json work the same way.
    let auth = base64_basic("alice", "right");
    let mut from_file = CredentialStore::new();
    from_file
        .add_docker_config(
            format!(r#"{{"auths":{{"http://{host}/v2/":{{"auth":"{auth}"}}}}}}"#).as_bytes(),
            "config.json",
        )
        .unwrap();
    source(&client(from_file), &reference)
        .resolve(&amd64())
        .await
        .expect("config.json credentials");

    let mut wrong = CredentialStore::new();
    wrong
        .insert(&host, Credentials::basic("alice", "wrong"))
        .unwrap();
    for store in [wrong, CredentialStore::new()] {
        let err = source(&client(store), &reference)
            .resolve(&amd64())
            .await
            .unwrap_err();
        assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "authentication required / credentials rejected for {host}"
            )),
            "{text}"
        );
        assert!(!text.contains("wrong"), "{text}");
    }
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test]
async fn token_auth_flow_caches_tokens() {
    let policy = TokenPolicy::new()
        .user("alice", "pw")
        .allow("alice", "team/*", &["pull", "push"])
        .allow("alice", "public/*", &["pull", "push"])
        .allow_anonymous("public/*", &["pull"]);
    let Some(registry) = TestRegistry::start_with(RegistryAuth::Token(policy)) else {
        return;
    };
    let host = registry.host();
    let image = two_layer_image(Flavor::Oci);
    for repo in ["team/app", "public/app"] {
        let pusher = registry.client().with_basic_auth("alice", "pw");
        pusher.push(repo, "1", &image).expect("push");
    }

    let mut creds = CredentialStore::new();
    creds
        .insert(&host, Credentials::basic("alice", "pw"))
        .unwrap();
    let c = client(creds);
    let src = source(&c, &format!("{host}/team/app:1"));
    let before = registry.token_requests().len();
    let resolved = src.resolve(&amd64()).await.expect("token resolve");
    for layer in &resolved.metadata.layers {
        drain(src.open_layer(&resolved, layer).await.unwrap())
            .await
            .unwrap();
    }
    src.resolve(&amd64()).await.expect("second resolve");
    let requests = registry.token_requests();
    assert_eq!(
        requests.len() - before,
        1,
        "one token serves manifest, config, layers and the second resolve"
    );
    assert_eq!(
        requests.last().and_then(|r| r.account.as_deref()),
        Some("alice")
    );

    // Anonymous pulls get an anonymous token where the policy allows it…
    let anon = client(CredentialStore::new());
    let public = source(&anon, &format!("{host}/public/app:1"))
        .resolve(&amd64())
        .await;
    assert_eq!(
        public
            .expect("anonymous public pull")
            .metadata
            .manifest_digest,
        image.manifest.digest
    );
    // …and a clear error where it does not.
    let err = source(&anon, &format!("{host}/team/app:1"))
        .resolve(&amd64())
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");

    let mut bad = CredentialStore::new();
    bad.insert(&host, Credentials::basic("alice", "nope"))
        .unwrap();
    let err = source(&client(bad), &format!("{host}/team/app:1"))
        .resolve(&amd64())
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains(&host), "{err}");
}

#[tokio::test]
async fn unknown_manifests_and_blobs_are_clear_404s() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let host = registry.host();
    let image = two_layer_image(Flavor::Oci);
    registry.client().push("team/app", "1", &image).unwrap();
    let c = client(CredentialStore::new());

    for reference in [
        format!("{host}/team/app:nope"),
        format!("{host}/team/missing:1"),
    ] {
        let err = source(&c, &reference).resolve(&amd64()).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, OciError::ManifestUnknown { .. }), "{err:?}");
        assert!(
            text.starts_with(&format!("manifest unknown: {reference}")),
            "{text}"
        );
        assert!(text.contains("registry says"), "{text}");
    }

    let reference: Reference = format!("{host}/team/app:1").parse().unwrap();
    let absent = oci::digest_of(model::DigestAlgorithm::Sha256, b"never pushed");
    let err = c.open_blob(&reference, &absent, 12).await.unwrap_err();
    assert!(matches!(err, OciError::BlobUnknown { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("blob unknown: {absent} in {host}/team/app")),
        "{err}"
    );
}

#[tokio::test]
async fn descriptor_that_does_not_match_the_blob_is_detected() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let host = registry.host();
    let image = two_layer_image(Flavor::Oci);
    registry.client().push("team/app", "good", &image).unwrap();

    // A manifest whose first layer descriptor names the *second* layer's blob
    // while announcing the first layer's size: the registry accepts it (the
    // blob exists), and we must notice that the content is not what the
    // descriptor promises.
    let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    manifest["layers"][0]["digest"] = serde_json::Value::String(image.layers[1].digest.to_string());
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let raw = RawManifest::new(image.manifest.media_type.clone(), bytes);
    registry
        .client()
        .push("team/app", "lying", &raw)
        .expect("push lying manifest");

    let c = client(CredentialStore::new());
    let src = source(&c, &format!("{host}/team/app:lying"));
    let resolved = src
        .resolve(&amd64())
        .await
        .expect("metadata still resolves");
    let layer = &resolved.metadata.layers[0];
    let result = match src.open_layer(&resolved, layer).await {
        Ok(stream) => drain(stream).await.map(|_| ()),
        Err(e) => Err(e),
    };
    let err = result.expect_err("content does not match the descriptor");
    assert!(
        matches!(
            err,
            OciError::SizeMismatch { .. } | OciError::DigestMismatch { .. }
        ),
        "{err:?}"
    );
}
