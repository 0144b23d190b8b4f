//! The kit against the real `docker-registry`: every auth mode, push, and
//! fetch back over HTTP. Skips (with a message) when the registry is absent.

use testkit::{
    Artifact, BuiltImage, Challenge, Compression, Flavor, ImageBuilder, IndexBuilder, LayerBuilder,
    RegistryAuth, RegistryClient, TestRegistry, TestkitError, TokenPolicy, TokenRequest,
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

    // Deleting the manifest removes every tag pointing at it.
    let oci = two_layer_image(Flavor::Oci, "oci/app");
    let deleted = client
        .delete_manifest("oci/app", &oci.manifest.digest)
        .unwrap();
    assert_eq!(deleted.status, 202, "{}", deleted.text());
    assert_eq!(client.get_manifest("oci/app", "v1").unwrap().status, 404);
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

#[test]
fn htpasswd_basic_auth() {
    let auth = RegistryAuth::htpasswd(&[("alice", "alice-pw"), ("bob", "bob-pw")]);
    let Some(registry) = TestRegistry::start_with(auth) else {
        return;
    };

    let anonymous = registry.client();
    let ping = anonymous.send("GET", "/v2/", &[], None).unwrap();
    assert_eq!(ping.status, 401);
    let challenge = Challenge::parse(ping.header("www-authenticate").unwrap()).unwrap();
    assert_eq!(challenge.scheme, "Basic");
    assert_eq!(challenge.param("realm"), Some("shipshape-testkit"));

    let alice = RegistryClient::new(registry.host()).with_basic_auth("alice", "alice-pw");
    let image = two_layer_image(Flavor::Docker, "htpasswd");
    alice.push("team/app", "v1", &image).unwrap();
    assert_served(&alice, "team/app", "v1", &image);

    let bob = RegistryClient::new(registry.host()).with_basic_auth("bob", "bob-pw");
    assert_served(&bob, "team/app", "v1", &image);

    assert_eq!(
        anonymous.get_manifest("team/app", "v1").unwrap().status,
        401
    );
    let intruder = RegistryClient::new(registry.host()).with_basic_auth("alice", "wrong");
    assert_eq!(intruder.get_manifest("team/app", "v1").unwrap().status, 401);
    let push = intruder.push("team/app", "v2", &two_layer_image(Flavor::Oci, "intruder"));
    assert!(
        matches!(push, Err(TestkitError::Status { status: 401, .. })),
        "{push:?}"
    );
}

fn token_policy() -> TokenPolicy {
    TokenPolicy::new()
        .user("alice", "alice-pw")
        .user("bob", "bob-pw")
        .allow("alice", "team/*", &["pull", "push"])
        .allow("alice", "public/*", &["pull", "push"])
        .allow("bob", "team/app", &["pull"])
        .allow_anonymous("public/*", &["pull"])
        .expires_in(120)
}

fn decode_jwt_part(part: &str) -> serde_json::Value {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn token_auth_grants_per_user_and_repository() {
    let Some(registry) = TestRegistry::start_with(RegistryAuth::Token(token_policy())) else {
        return;
    };
    let realm = registry.token_realm().unwrap();
    assert!(realm.starts_with("http://127.0.0.1:") && realm.ends_with("/token"));
    assert!(
        registry
            .token_root_pem()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    let anonymous = registry.client();
    let ping = anonymous.get_manifest("team/app", "v1").unwrap();
    assert_eq!(ping.status, 401);
    let challenge = Challenge::parse(ping.header("www-authenticate").unwrap()).unwrap();
    assert_eq!(challenge.scheme, "Bearer");
    assert_eq!(challenge.param("realm"), Some(realm.as_str()));
    assert_eq!(challenge.param("service"), registry.token_service());
    assert_eq!(challenge.param("scope"), Some("repository:team/app:pull"));

    let alice = RegistryClient::new(registry.host()).with_basic_auth("alice", "alice-pw");
    let image = two_layer_image(Flavor::Oci, "token");
    alice.push("team/app", "v1", &image).unwrap();
    alice.push("public/lib", "v1", &image).unwrap();
    assert_served(&alice, "team/app", "v1", &image);

    // bob may pull team/app but not push to it, nor read team/other.
    let bob = RegistryClient::new(registry.host()).with_basic_auth("bob", "bob-pw");
    assert_served(&bob, "team/app", "v1", &image);
    let push = bob.push("team/app", "v2", &two_layer_image(Flavor::Oci, "bob"));
    assert!(
        matches!(push, Err(TestkitError::Status { status: 401, .. })),
        "{push:?}"
    );
    alice.push("team/other", "v1", &image).unwrap();
    assert_eq!(bob.get_manifest("team/other", "v1").unwrap().status, 401);

    // Anonymous: public pull works, private pull is a 401 even with a token.
    assert_served(&anonymous, "public/lib", "v1", &image);
    assert_eq!(
        anonymous.get_manifest("team/app", "v1").unwrap().status,
        401
    );
    let push = anonymous.push("public/lib", "v2", &image);
    assert!(
        matches!(push, Err(TestkitError::Status { status: 401, .. })),
        "{push:?}"
    );

    // Wrong password: the token server refuses.
    let intruder = RegistryClient::new(registry.host()).with_basic_auth("alice", "nope");
    let pull = intruder.get_manifest("team/app", "v1");
    match pull {
        Err(TestkitError::Status {
            status: 401, url, ..
        }) => assert!(url.starts_with(&realm)),
        other => panic!("expected the token server's 401, got {other:?}"),
    }

    let requests = registry.token_requests();
    // The registry builds challenge scopes from a Go map: action order varies.
    let alice_may_push = |r: &TokenRequest| {
        r.account.as_deref() == Some("alice")
            && r.status == 200
            && r.granted.iter().any(|(kind, name, actions)| {
                let mut actions = actions.clone();
                actions.sort();
                kind == "repository" && name == "team/app" && actions == ["pull", "push"]
            })
    };
    assert!(requests.iter().any(alice_may_push), "{requests:#?}");
    assert!(
        requests
            .iter()
            .any(|r| r.account.is_none() && r.status == 200 && r.granted.is_empty())
    );
    assert!(requests.iter().any(|r| r.status == 401));
}

#[test]
fn token_server_issues_distribution_style_jwts() {
    let Some(registry) = TestRegistry::start_with(RegistryAuth::Token(token_policy())) else {
        return;
    };
    let realm = registry.token_realm().unwrap();
    let url = format!(
        "{realm}?service={}&scope=repository%3Ateam%2Fapp%3Apull%2Cpush%2Cdelete&scope=repository%3Apublic%2Flib%3Apull",
        registry.token_service().unwrap()
    );
    // Docker clients send credentials to the realm up front: without them
    // the token server answers with an anonymous token.
    let alice = RegistryClient::new(registry.host()).with_basic_auth("alice", "alice-pw");
    let basic = {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:alice-pw");
        format!("Basic {encoded}")
    };
    let response = alice
        .send("GET", &url, &[("authorization", &basic)], None)
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["token"], body["access_token"]);

    let token = body["token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode_jwt_part(parts[0]);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["x5c"].as_array().unwrap().len(), 1);
    let claims = decode_jwt_part(parts[1]);
    assert_eq!(claims["iss"], "shipshape-testkit-token-issuer");
    assert_eq!(claims["aud"], registry.token_service().unwrap());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        claims["access"],
        serde_json::json!([
            {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "public/lib", "actions": ["pull"]},
        ])
    );

    // The registry accepts the token as is.
    alice
        .push("team/app", "v1", &two_layer_image(Flavor::Oci, "jwt"))
        .unwrap();
    let direct = RegistryClient::new(registry.host());
    let manifest = direct
        .send(
            "GET",
            "/v2/team/app/manifests/v1",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("accept", testkit::media_type::OCI_MANIFEST),
            ],
            None,
        )
        .unwrap();
    assert_eq!(manifest.status, 200, "{}", manifest.text());

    // A token for another service is refused by the token server.
    let wrong_service = alice
        .send(
            "GET",
            &format!("{realm}?service=elsewhere&scope=repository%3Ateam%2Fapp%3Apull"),
            &[],
            None,
        )
        .unwrap();
    assert_eq!(wrong_service.status, 400);
}
