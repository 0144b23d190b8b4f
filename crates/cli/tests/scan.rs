//! End to end: the real `shipshape` binary against a real `docker-registry`
//! (started by testkit on 127.0.0.1) and OCI layouts on disk, with images
//! built from the committed analyzer fixtures.
//!
//! Every test skips (passes with a message on stderr) when `docker-registry`
//! is not installed: `apt-get install docker-registry`.

mod support;

#[path = "../../sbom/tests/support/schema.rs"]
mod schema;

use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::Value;
use support::{
    Sandbox, closed_port, diagnostic_codes, fixture, gunzipped_fixture, package_rows, rows,
};
use testkit::{
    Artifact, BuiltImage, Compression, Corruption, Flavor, ImageBuilder, IndexBuilder,
    LayerBuilder, LayoutWriter, RawEntry, RegistryAuth, TestRegistry, TokenPolicy, type_flag,
};

// --- shared registry and images ---------------------------------------------

/// One anonymous registry for the tests that only read from it. Dropped with
/// the process: testkit's watchdog stops it when the test binary exits.
fn shared_registry() -> Option<&'static TestRegistry> {
    static REGISTRY: OnceLock<Option<TestRegistry>> = OnceLock::new();
    REGISTRY.get_or_init(TestRegistry::start).as_ref()
}

fn push(registry: &TestRegistry, repository: &str, tag: &str, artifact: &dyn Artifact) -> String {
    registry
        .client()
        .push(repository, tag, artifact)
        .unwrap_or_else(|e| panic!("pushing {repository}:{tag}: {e}\n{}", registry.log()));
    format!("{}/{repository}:{tag}", registry.host())
}

const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
const ALPINE_OS_RELEASE: &str =
    "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n";

/// The dpkg status of the base layer: the fixture as it was before the apt
/// layer upgraded libssl3 and installed tzdata.
fn dpkg_status_before_apt() -> String {
    let current = String::from_utf8(fixture("dpkg/status")).expect("status is UTF-8");
    let before = current
        .replace(
            "Source: openssl (3.0.11-1~deb12u2)",
            "Source: openssl (3.0.9-1)",
        )
        .replace("Version: 3.0.11-1~deb12u2+b1", "Version: 3.0.9-1");
    let tzdata_start = before.find("Package: tzdata\n").expect("tzdata paragraph");
    let tzdata_end = tzdata_start
        + before[tzdata_start..]
            .find("\n\n")
            .expect("tzdata paragraph end")
        + 2;
    let before = format!("{}{}", &before[..tzdata_start], &before[tzdata_end..]);
    assert!(before.contains("Version: 3.0.9-1") && !before.contains("tzdata"));
    before
}

/// A Debian-like application image spread over four layers (gzip, zstd,
/// uncompressed, gzip) and two empty-layer history entries:
///
/// 0. base: os-release, dpkg status (old libssl3, no tzdata), a Python
///    egg-info under `opt/legacy/` (deleted by a directory whiteout in 3), a
///    global lodash (deleted by a file whiteout in 3), a gem under `srv/www/`
///    (hidden by an opaque directory in 3).
/// 1. apt: the dpkg status rewritten (libssl3 upgraded, tzdata added).
/// 2. application: Python dist-infos, npm packages, gemspec, jar/war/ear, an
///    rpm database and distroless status.d files.
/// 3. binaries and cleanup: a Go and a Rust binary, the whiteouts, the opaque
///    `srv/www` with a new root `package.json` (an application).
fn realistic_image() -> BuiltImage {
    let base = LayerBuilder::new()
        .compression(Compression::Gzip)
        .created_by("/bin/sh -c #(nop) ADD file:bookworm-rootfs in / ")
        .dir("etc")
        .file("etc/os-release", DEBIAN_OS_RELEASE, 0o644)
        .dir("var/lib/dpkg")
        .file("var/lib/dpkg/status", dpkg_status_before_apt(), 0o644)
        .file(
            "opt/legacy/lib/python3.11/site-packages/six-1.16.0.egg-info/PKG-INFO",
            fixture("python/six-1.16.0.PKG-INFO"),
            0o644,
        )
        .file(
            "usr/lib/node_modules/lodash/package.json",
            fixture("npm/lodash-4.17.21.json"),
            0o644,
        )
        .file(
            "srv/www/vendor/bundle/ruby/3.1.0/specifications/json-2.6.3.gemspec",
            fixture("gemspec/json-2.6.3.gemspec"),
            0o644,
        );
    let apt = LayerBuilder::new()
        .compression(Compression::Zstd)
        .created_by("RUN /bin/sh -c apt-get update && apt-get install -y libssl3 tzdata # buildkit")
        .file("var/lib/dpkg/status", fixture("dpkg/status"), 0o644);
    let app = LayerBuilder::new()
        .compression(Compression::None)
        .created_by("COPY app / # buildkit")
        .file(
            "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA",
            fixture("python/requests-2.32.3.METADATA"),
            0o644,
        )
        .file(
            "usr/lib/python3/dist-packages/attrs-25.3.0.dist-info/METADATA",
            fixture("python/attrs-25.3.0.METADATA"),
            0o644,
        )
        .file(
            "app/node_modules/@babel/core/package.json",
            fixture("npm/babel-core-7.24.0.json"),
            0o644,
        )
        .file(
            "usr/local/bundle/specifications/rack-2.2.22.gemspec",
            fixture("gemspec/rack-2.2.22.gemspec"),
            0o644,
        )
        .file(
            "opt/app/lib/slf4j-nop-1.7.32.jar",
            fixture("java/slf4j-nop-1.7.32.jar"),
            0o644,
        )
        .file(
            "opt/app/webapps/shop-2.1.0.war",
            fixture("java/shop-2.1.0.war"),
            0o644,
        )
        .file("opt/app/shop-ear.ear", fixture("java/shop-ear.ear"), 0o644)
        .file(
            "var/lib/rpm/rpmdb.sqlite",
            fixture("rpm/rpmdb.sqlite"),
            0o644,
        )
        .file(
            "var/lib/dpkg/status.d/base-files",
            fixture("dpkg/status.d/base-files"),
            0o644,
        )
        .file(
            "var/lib/dpkg/status.d/libssl3",
            fixture("dpkg/status.d/libssl3"),
            0o644,
        )
        .file(
            "var/lib/dpkg/status.d/libssl3.md5sums",
            fixture("dpkg/status.d/libssl3.md5sums"),
            0o644,
        );
    let binaries = LayerBuilder::new()
        .compression(Compression::Gzip)
        .created_by("COPY --from=build /out/ /usr/local/bin/ # buildkit")
        .file(
            "usr/local/bin/hello",
            gunzipped_fixture("go/hello-ldflags.gz"),
            0o755,
        )
        .file(
            "usr/local/bin/auditable-hello",
            gunzipped_fixture("rust/auditable-hello.gz"),
            0o755,
        )
        .whiteout("usr/lib/node_modules/lodash/package.json")
        .whiteout("opt/legacy")
        .opaque_dir("srv/www")
        .file(
            "srv/www/package.json",
            fixture("npm/lodash-4.17.21.json"),
            0o644,
        );
    ImageBuilder::oci()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .label("org.opencontainers.image.title", "shop")
        .entrypoint(["/usr/local/bin/hello"])
        .created("2024-05-01T12:00:00Z")
        .layer(base)
        .empty_history("/bin/sh -c #(nop)  CMD [\"bash\"]")
        .layer(apt)
        .layer(app)
        .empty_history("WORKDIR /app")
        .layer(binaries)
        .build()
        .expect("building the realistic image")
}

/// `shop/app:1.0` on the shared registry (pushed once per test process).
fn realistic_reference() -> Option<&'static str> {
    static REFERENCE: OnceLock<Option<String>> = OnceLock::new();
    REFERENCE
        .get_or_init(|| {
            let registry = shared_registry()?;
            Some(push(registry, "shop/app", "1.0", &realistic_image()))
        })
        .as_deref()
}

/// What the realistic image holds: (type, name, version, layer, evidence path).
fn realistic_expected_rows() -> Vec<support::PackageRow> {
    rows(&[
        // Layer 0's dpkg status, kept by layer 1's rewrite: lowest layer of the run.
        (
            "deb",
            "base-files",
            "12.4+deb12u5",
            0,
            "var/lib/dpkg/status",
        ),
        ("deb", "zlib1g", "1:1.2.13.dfsg-1", 0, "var/lib/dpkg/status"),
        (
            "deb",
            "mawk",
            "1.3.4.20200120-3.1",
            0,
            "var/lib/dpkg/status",
        ),
        ("deb", "crlf-tool", "2.0-1", 0, "var/lib/dpkg/status"),
        ("deb", "lowercase-fields", "0.1-1", 0, "var/lib/dpkg/status"),
        // Upgraded and newly installed by the apt layer.
        (
            "deb",
            "libssl3",
            "3.0.11-1~deb12u2+b1",
            1,
            "var/lib/dpkg/status",
        ),
        ("deb", "tzdata", "2024a-0+deb12u1", 1, "var/lib/dpkg/status"),
        // Distroless status.d files.
        (
            "deb",
            "base-files",
            "12.4+deb12u5",
            2,
            "var/lib/dpkg/status.d/base-files",
        ),
        (
            "deb",
            "libssl3",
            "3.0.11-1~deb12u2+b1",
            2,
            "var/lib/dpkg/status.d/libssl3",
        ),
        (
            "rpm",
            "shipshape-hello",
            "2:1.2.3-4.el9",
            2,
            "var/lib/rpm/rpmdb.sqlite",
        ),
        (
            "rpm",
            "shipshape-hello-libs",
            "2:1.2.3-4.el9",
            2,
            "var/lib/rpm/rpmdb.sqlite",
        ),
        (
            "rpm",
            "shipshape-module",
            "2.7.8-139.module+el8.8.0+18745+f1bef313",
            2,
            "var/lib/rpm/rpmdb.sqlite",
        ),
        (
            "rpm",
            "shipshape-data",
            "0.9-1",
            2,
            "var/lib/rpm/rpmdb.sqlite",
        ),
        (
            "python",
            "requests",
            "2.32.3",
            2,
            "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA",
        ),
        (
            "python",
            "attrs",
            "25.3.0",
            2,
            "usr/lib/python3/dist-packages/attrs-25.3.0.dist-info/METADATA",
        ),
        (
            "npm",
            "@babel/core",
            "7.24.0",
            2,
            "app/node_modules/@babel/core/package.json",
        ),
        (
            "gem",
            "rack",
            "2.2.22",
            2,
            "usr/local/bundle/specifications/rack-2.2.22.gemspec",
        ),
        (
            "maven",
            "org.slf4j:slf4j-nop",
            "1.7.32",
            2,
            "opt/app/lib/slf4j-nop-1.7.32.jar",
        ),
        // The war, and the same war nested in the ear: each archive level is evidence.
        (
            "maven",
            "com.example:shop",
            "2.1.0",
            2,
            "opt/app/webapps/shop-2.1.0.war",
        ),
        (
            "maven",
            "atinject-jsr330-api",
            "1.0",
            2,
            "opt/app/webapps/shop-2.1.0.war!/WEB-INF/lib/atinject-jsr330-api-1.0.jar",
        ),
        (
            "maven",
            "com.google:guice-multibindings",
            "4.2.3",
            2,
            "opt/app/webapps/shop-2.1.0.war!/WEB-INF/lib/guice-multibindings.jar",
        ),
        (
            "maven",
            "org.slf4j:slf4j-nop",
            "1.7.32",
            2,
            "opt/app/webapps/shop-2.1.0.war!/WEB-INF/lib/slf4j-nop-1.7.32.jar",
        ),
        (
            "maven",
            "com.example:shop-ear",
            "2.1.0",
            2,
            "opt/app/shop-ear.ear",
        ),
        (
            "maven",
            "com.example:shop",
            "2.1.0",
            2,
            "opt/app/shop-ear.ear!/shop-2.1.0.war",
        ),
        (
            "maven",
            "atinject-jsr330-api",
            "1.0",
            2,
            "opt/app/shop-ear.ear!/shop-2.1.0.war!/WEB-INF/lib/atinject-jsr330-api-1.0.jar",
        ),
        (
            "maven",
            "com.google:guice-multibindings",
            "4.2.3",
            2,
            "opt/app/shop-ear.ear!/shop-2.1.0.war!/WEB-INF/lib/guice-multibindings.jar",
        ),
        (
            "maven",
            "org.slf4j:slf4j-nop",
            "1.7.32",
            2,
            "opt/app/shop-ear.ear!/shop-2.1.0.war!/WEB-INF/lib/slf4j-nop-1.7.32.jar",
        ),
        // The Go and Rust binaries.
        (
            "go-module",
            "example.com/hello",
            "1.2.3",
            3,
            "usr/local/bin/hello",
        ),
        (
            "go-module",
            "example.com/greet",
            "v1.1.0",
            3,
            "usr/local/bin/hello",
        ),
        (
            "go-module",
            "example.com/other",
            "v0.3.0",
            3,
            "usr/local/bin/hello",
        ),
        // A `replace => ./local` directory module has no version.
        ("go-module", "./local", "", 3, "usr/local/bin/hello"),
        ("go-module", "stdlib", "v1.19.8", 3, "usr/local/bin/hello"),
        (
            "cargo",
            "auditable-hello",
            "0.3.1",
            3,
            "usr/local/bin/auditable-hello",
        ),
        (
            "cargo",
            "cfg-if",
            "1.0.0",
            3,
            "usr/local/bin/auditable-hello",
        ),
        (
            "cargo",
            "itoa",
            "1.0.11",
            3,
            "usr/local/bin/auditable-hello",
        ),
        // Re-added under the opaque directory: the image's application.
        ("npm", "lodash", "4.17.21", 3, "srv/www/package.json"),
    ])
}

// --- 1. the realistic image -------------------------------------------------

#[test]
fn realistic_image_package_set_with_layers_and_evidence() {
    let Some(reference) = realistic_reference() else {
        return;
    };
    let report = Sandbox::new().scan_json(reference, &[]);
    assert_eq!(package_rows(&report), realistic_expected_rows());

    // Whiteouts and the opaque directory removed what lower layers had.
    let names: Vec<String> = package_rows(&report).into_iter().map(|r| r.1).collect();
    for gone in ["six", "json"] {
        assert!(!names.iter().any(|n| n == gone), "{gone} should be deleted");
    }

    let image = &report["image"];
    assert_eq!(report["os"]["id"], "debian");
    assert_eq!(report["os"]["versionId"], "12");
    let layers = image["layers"].as_array().expect("layers");
    let media_types: Vec<&str> = layers
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        media_types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ]
    );
    let built = realistic_image();
    for (layer, built_layer) in layers.iter().zip(&built.layers) {
        assert_eq!(layer["diffId"], built_layer.diff_id.to_string());
        assert_eq!(layer["compressedSize"], built_layer.size());
    }
    let history: Vec<(bool, Option<u64>)> = image["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["emptyLayer"].as_bool().unwrap_or(false),
                h["layerIndex"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            (false, Some(0)),
            (true, None),
            (false, Some(1)),
            (false, Some(2)),
            (true, None),
            (false, Some(3)),
        ]
    );
    assert_eq!(image["manifestDigest"], built.manifest.digest.to_string());
    assert_eq!(image["config"]["entrypoint"][0], "/usr/local/bin/hello");

    let mut applications: Vec<&str> = report["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["isApplication"] == true)
        .filter_map(|p| p["name"].as_str())
        .collect();
    applications.sort_unstable();
    assert_eq!(
        applications,
        // Binaries' main modules and the root package.json; archives are libraries.
        ["auditable-hello", "example.com/hello", "lodash"]
    );

    // The dpkg paragraphs without a usable Version are reported, not silently
    // dropped, once per layer that holds a version of the status file (the
    // product keeps every layer's diagnostics); jars named only by their file
    // name say so.
    let dpkg = ("malformed-package-record", "var/lib/dpkg/status");
    let group = "maven-group-unknown";
    let expected_diagnostics: Vec<(String, String)> = [
        dpkg,
        dpkg,
        dpkg,
        dpkg,
        (
            group,
            "opt/app/shop-ear.ear!/shop-2.1.0.war!/WEB-INF/lib/atinject-jsr330-api-1.0.jar",
        ),
        (
            group,
            "opt/app/webapps/shop-2.1.0.war!/WEB-INF/lib/atinject-jsr330-api-1.0.jar",
        ),
    ]
    .iter()
    .map(|(code, path)| ((*code).to_owned(), (*path).to_owned()))
    .collect();
    assert_eq!(
        diagnostic_codes(&report),
        expected_diagnostics,
        "{:#?}",
        report["diagnostics"]
    );
}

// --- 2. CycloneDX snapshot, CycloneDX and SPDX schemas ------------------------

/// Replaces what differs from run to run: the registry's port (in references,
/// purls and names) and the generation timestamp. Works on the text, so the
/// snapshot also pins the order in which the writer emits keys and components.
fn redact(document: &str, registry_host: &str) -> String {
    let encoded_host = registry_host.replace(':', "%3A");
    let text = document
        .replace(registry_host, "registry.test:5000")
        .replace(&encoded_host, "registry.test%3A5000");
    let value: Value = serde_json::from_str(&text).expect("document is JSON");
    let timestamp = value["metadata"]["timestamp"]
        .as_str()
        .expect("metadata.timestamp");
    let field = format!("\"timestamp\": \"{timestamp}\"");
    assert_eq!(text.matches(&field).count(), 1, "{field}");
    text.replace(&field, "\"timestamp\": \"[timestamp]\"")
}

#[test]
fn cyclonedx_snapshot_and_both_sboms_valid_against_their_schemas() {
    let Some(reference) = realistic_reference() else {
        return;
    };
    let Some(registry) = shared_registry() else {
        return;
    };
    let sandbox = Sandbox::new();
    let cache = sandbox.cache();
    let cache = cache.to_str().expect("utf-8");
    let cyclonedx = sandbox
        .run(
            &["scan", reference, "-f", "cyclonedx", "--cache-dir", cache],
            &[],
        )
        .expect_code(0)
        .stdout;
    schema::assert_valid("bom-1.5.schema.json", &cyclonedx);
    schema::check_cyclonedx_refs(&cyclonedx);
    let spdx = sandbox
        .run(
            &["scan", reference, "--format", "spdx", "--cache-dir", cache],
            &[],
        )
        .expect_code(0)
        .stdout;
    schema::assert_valid("spdx-2.3.schema.json", &spdx);
    schema::check_spdx_semantics(&spdx);

    // Every package is a component with its layer, in a stable order.
    let redacted = redact(&cyclonedx, &registry.host());
    let document: Value = serde_json::from_str(&redacted).expect("JSON");
    let components = document["components"].as_array().expect("components");
    let (systems, packages): (Vec<&Value>, Vec<&Value>) = components
        .iter()
        .partition(|c| c["type"] == "operating-system");
    assert_eq!(systems.len(), 1, "{systems:#?}");
    assert_eq!(packages.len(), realistic_expected_rows().len());
    for component in packages {
        let properties = component["properties"].as_array().expect("properties");
        for name in ["shipshape:layer:diff_id", "shipshape:layer:index"] {
            assert!(
                properties.iter().any(|p| p["name"] == name),
                "{name} missing on {component}"
            );
        }
    }
    insta::assert_snapshot!("realistic_image_cyclonedx", redacted);

    // The same image scanned again (from the cache now) gives the same document.
    let again = sandbox
        .run(
            &["scan", reference, "-f", "cyclonedx", "--cache-dir", cache],
            &[],
        )
        .expect_code(0)
        .stdout;
    assert_eq!(redact(&again, &registry.host()), redacted);
}

// --- 3. multi-arch index ------------------------------------------------------

fn multi_arch_index(flavor: Flavor) -> testkit::BuiltIndex {
    let amd64 = ImageBuilder::new(flavor)
        .layer(
            LayerBuilder::new()
                .file("etc/os-release", ALPINE_OS_RELEASE, 0o644)
                .file("lib/apk/db/installed", fixture("apk/installed"), 0o644),
        )
        .build()
        .expect("amd64 image");
    let arm64 = ImageBuilder::new(flavor)
        .platform("linux/arm64/v8".parse().expect("platform"))
        .layer(
            LayerBuilder::new()
                .file("etc/os-release", DEBIAN_OS_RELEASE, 0o644)
                .file(
                    "var/lib/dpkg/status.d/base-files",
                    fixture("dpkg/status.d/base-files"),
                    0o644,
                ),
        )
        .build()
        .expect("arm64 image");
    let arm_v7 = ImageBuilder::new(flavor)
        .platform("linux/arm/v7".parse().expect("platform"))
        .layer(LayerBuilder::new().file("etc/os-release", DEBIAN_OS_RELEASE, 0o644))
        .build()
        .expect("arm image");
    // BuildKit's provenance attestation: an image manifest with the
    // platform `unknown/unknown`, listed first; never a candidate.
    let attestation = ImageBuilder::new(flavor)
        .platform("unknown/unknown".parse().expect("platform"))
        .layer(LayerBuilder::new().file("provenance.json", "{}", 0o644))
        .build()
        .expect("attestation");
    IndexBuilder::new(flavor)
        .entry(
            attestation,
            Some("unknown/unknown".parse().expect("platform")),
            &[
                ("vnd.docker.reference.type", "attestation-manifest"),
                (
                    "vnd.docker.reference.digest",
                    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                ),
            ],
        )
        .image(amd64)
        .image(arm64)
        .image(arm_v7)
        .build()
        .expect("index")
}

#[test]
fn multi_arch_index_picks_the_requested_platform() {
    let Some(registry) = shared_registry() else {
        return;
    };
    for flavor in [Flavor::Oci, Flavor::Docker] {
        let index = multi_arch_index(flavor);
        let reference = push(
            registry,
            "multi/arch",
            &format!("{flavor:?}").to_lowercase(),
            &index,
        );
        let sandbox = Sandbox::new();
        // (platform flag, manifest picked, OS id, package names)
        let cases: [(Option<&str>, usize, &str, &[&str]); 3] = [
            (
                None,
                1,
                "alpine",
                &[
                    "alpine-baselayout-data",
                    "busybox",
                    "ca-certificates-bundle",
                    "libcrypto3",
                    "libssl3",
                    "musl",
                    "ssl_client",
                    "zlib",
                ],
            ),
            (Some("linux/arm64"), 2, "debian", &["base-files"]),
            (Some("linux/arm/v7"), 3, "debian", &[]),
        ];
        for (platform, picked, os, names) in cases {
            let extra: Vec<&str> = platform.map(|p| vec!["--platform", p]).unwrap_or_default();
            let report = sandbox.scan_json(&reference, &extra);
            let context = format!("{flavor:?} {platform:?}");
            assert_eq!(
                report["image"]["manifestDigest"],
                index.images[picked].manifest.digest.to_string(),
                "{context}"
            );
            assert_eq!(
                report["image"]["indexDigest"],
                index.index.digest.to_string(),
                "{context}"
            );
            assert_eq!(report["os"]["id"], os, "{context}");
            let mut found: Vec<String> = package_rows(&report).into_iter().map(|r| r.1).collect();
            found.dedup();
            assert_eq!(found, *names, "{context}");
        }

        let missing = sandbox
            .run(
                &[
                    "scan",
                    &reference,
                    "--platform",
                    "linux/s390x",
                    "--no-cache",
                ],
                &[],
            )
            .expect_code(1);
        for platform in [
            "linux/s390x",
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
        ] {
            assert!(
                missing.stderr.contains(platform),
                "{platform}: {}",
                missing.stderr
            );
        }
    }
}

// --- 4. authentication ----------------------------------------------------------

#[test]
fn htpasswd_registry_with_env_credentials_and_docker_config() {
    let Some(registry) =
        TestRegistry::start_with(RegistryAuth::htpasswd(&[("alice", "s3cret-pw")]))
    else {
        return;
    };
    let image = ImageBuilder::oci()
        .layer(LayerBuilder::new().file("lib/apk/db/installed", fixture("apk/installed"), 0o644))
        .build()
        .expect("image");
    registry
        .client()
        .with_basic_auth("alice", "s3cret-pw")
        .push("private/app", "1", &image)
        .expect("push");
    let reference = format!("{}/private/app:1", registry.host());
    let sandbox = Sandbox::new();

    let anonymous = sandbox
        .run(&["scan", &reference, "--no-cache"], &[])
        .expect_code(1);
    assert!(
        anonymous.stderr.contains("authentication required"),
        "{}",
        anonymous.stderr
    );

    let with_env = sandbox
        .run(
            &["scan", &reference, "--format", "json", "--no-cache"],
            &[
                ("SHIPSHAPE_REGISTRY_USERNAME", "alice"),
                ("SHIPSHAPE_REGISTRY_PASSWORD", "s3cret-pw"),
            ],
        )
        .json();
    assert_eq!(package_rows(&with_env).len(), 8);

    let config = sandbox.root().join("docker-config.json");
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw");
    std::fs::write(
        &config,
        // Shaped like Docker Desktop's: a credential store and empty entries
        // for other registries next to ours.
        serde_json::json!({
            "auths": {
                "https://index.docker.io/v1/": {},
                "ghcr.io": {},
                registry.host(): { "auth": auth },
            },
            "credsStore": "desktop",
            "currentContext": "desktop-linux",
        })
        .to_string(),
    )
    .expect("config.json");
    let config = config.to_str().expect("utf-8");
    let with_config = sandbox
        .run(
            &[
                "scan",
                &reference,
                "-f",
                "json",
                "--no-cache",
                "--docker-config",
                config,
            ],
            &[],
        )
        .json();
    assert_eq!(package_rows(&with_config), package_rows(&with_env));

    // The default docker config location under HOME is used too.
    std::fs::create_dir_all(sandbox.home().join(".docker")).expect("~/.docker");
    std::fs::copy(config, sandbox.home().join(".docker/config.json")).expect("copy config");
    let from_home = sandbox
        .run(&["scan", &reference, "-f", "json", "--no-cache"], &[])
        .json();
    assert_eq!(package_rows(&from_home), package_rows(&with_env));

    let wrong = sandbox
        .run(
            &["scan", &reference, "--no-cache"],
            &[
                ("SHIPSHAPE_REGISTRY_USERNAME", "alice"),
                ("SHIPSHAPE_REGISTRY_PASSWORD", "wrong-password-xyz"),
            ],
        )
        .expect_code(1);
    let stderr = wrong.stderr.to_lowercase();
    assert!(stderr.contains("credentials rejected"), "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains("wrong-password-xyz"),
        "{}",
        wrong.stderr
    );
    assert!(wrong.stdout.is_empty());

    // Not even in the most verbose log, for the right or the wrong password
    // (nor their base64 in an Authorization header).
    for password in ["s3cret-pw", "wrong-password-xyz"] {
        let traced = sandbox.run(
            &["scan", &reference, "--no-cache", "--log", "trace"],
            &[
                ("SHIPSHAPE_REGISTRY_USERNAME", "alice"),
                ("SHIPSHAPE_REGISTRY_PASSWORD", password),
            ],
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
        assert!(!traced.stderr.is_empty(), "trace logging produced nothing");
        for secret in [password, encoded.as_str()] {
            assert!(
                !traced.stderr.contains(secret),
                "{secret} in:\n{}",
                traced.stderr
            );
        }
    }
}

#[test]
fn token_auth_registry() {
    let policy =
        TokenPolicy::new()
            .user("bob", "token-pw")
            .allow("bob", "team/*", &["pull", "push"]);
    let Some(registry) = TestRegistry::start_with(RegistryAuth::Token(policy)) else {
        return;
    };
    let image = ImageBuilder::docker()
        .layer(LayerBuilder::new().file(
            "usr/local/bundle/specifications/rack-2.2.22.gemspec",
            fixture("gemspec/rack-2.2.22.gemspec"),
            0o644,
        ))
        .build()
        .expect("image");
    registry
        .client()
        .with_basic_auth("bob", "token-pw")
        .push("team/web", "2", &image)
        .expect("push");
    let reference = format!("{}/team/web:2", registry.host());
    let sandbox = Sandbox::new();
    let report = sandbox
        .run(
            &["scan", &reference, "-f", "json", "--no-cache"],
            &[
                ("SHIPSHAPE_REGISTRY_USERNAME", "bob"),
                ("SHIPSHAPE_REGISTRY_PASSWORD", "token-pw"),
            ],
        )
        .json();
    assert_eq!(
        package_rows(&report),
        rows(&[(
            "gem",
            "rack",
            "2.2.22",
            0,
            "usr/local/bundle/specifications/rack-2.2.22.gemspec"
        )])
    );
    let requests = registry.token_requests();
    assert!(
        requests.iter().any(|r| r.account.as_deref() == Some("bob")),
        "{requests:?}"
    );

    let wrong = sandbox
        .run(
            &["scan", &reference, "--no-cache"],
            &[
                ("SHIPSHAPE_REGISTRY_USERNAME", "bob"),
                ("SHIPSHAPE_REGISTRY_PASSWORD", "not-the-token-pw"),
            ],
        )
        .expect_code(1);
    assert!(
        !wrong.stderr.contains("not-the-token-pw"),
        "{}",
        wrong.stderr
    );
}

// --- 5. exit codes ----------------------------------------------------------------

#[test]
fn usage_errors_exit_with_2() {
    let sandbox = Sandbox::new();
    let cases: &[(&[&str], &str)] = &[
        (&["scan"], "IMAGE"),
        (&["scan", "alpine", "--platform", "linux"], "platform"),
        (
            &["scan", "alpine", "--platform", "linux/amd64/v1/extra"],
            "platform",
        ),
        (&["scan", "alpine", "--format", "xml"], "xml"),
        (
            &["scan", "alpine", "--layer-concurrency", "0"],
            "layer-concurrency",
        ),
        (&["scan", "alpine", "--oci-layout", "dir"], "oci-layout"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, mentioned) in cases {
        let run = sandbox.run(args, &[]).expect_code(2);
        assert!(run.stderr.contains(mentioned), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn scan_failures_exit_with_1_and_say_why() {
    let Some(registry) = shared_registry() else {
        return;
    };
    let sandbox = Sandbox::new();

    let layout_dir = sandbox.root().join("corrupt-layout");
    let image = ImageBuilder::oci()
        .layer(LayerBuilder::new().file("etc/os-release", DEBIAN_OS_RELEASE, 0o644))
        .build()
        .expect("image");
    let mut layout = LayoutWriter::create(&layout_dir).expect("layout");
    layout.add(&image, Some("1.0")).expect("add");
    let corrupt = format!("{}:1.0", layout_dir.display());
    // A second layout whose layer blob is another valid gzip stream: only
    // the digest check can notice.
    let swapped_dir = sandbox.root().join("swapped-layout");
    let mut swapped_layout = LayoutWriter::create(&swapped_dir).expect("layout");
    swapped_layout.add(&image, Some("1.0")).expect("add");
    let other = LayerBuilder::new()
        .file("etc/os-release", ALPINE_OS_RELEASE, 0o644)
        .build(Flavor::Oci)
        .expect("other layer");
    swapped_layout
        .corrupt_blob(&image.layers[0].digest, Corruption::Replace(other.blob))
        .expect("swap");
    let swapped = format!("{}:1.0", swapped_dir.display());
    // An uncompressed layer with one byte of file content flipped: a valid
    // tar of the right size, so only the digest can tell.
    let flipped_dir = sandbox.root().join("flipped-layout");
    let plain = ImageBuilder::oci()
        .layer(LayerBuilder::new().compression(Compression::None).file(
            "etc/os-release",
            DEBIAN_OS_RELEASE,
            0o644,
        ))
        .build()
        .expect("image");
    let mut flipped_layout = LayoutWriter::create(&flipped_dir).expect("layout");
    flipped_layout.add(&plain, None).expect("add");
    flipped_layout
        .corrupt_blob(&plain.layers[0].digest, Corruption::FlipByte(512 + 3))
        .expect("flip");
    let flipped = flipped_dir.display().to_string();
    layout
        .corrupt_blob(&image.layers[0].digest, Corruption::FlipByte(40))
        .expect("corrupt");

    let unknown = format!("{}/does/not-exist:1", registry.host());
    let unreachable = format!("127.0.0.1:{}/app:1", closed_port());
    // (arguments, what stderr must mention)
    let plain_digest = plain.layers[0].digest.to_string();
    let not_a_dir = sandbox.root().join("cache-is-a-file");
    std::fs::write(&not_a_dir, "").expect("file");
    let not_a_dir = not_a_dir.display().to_string();
    let missing_config = sandbox
        .root()
        .join("no-such-config.json")
        .display()
        .to_string();
    let broken_config = sandbox.root().join("broken-config.json");
    std::fs::write(
        &broken_config,
        r#"{"auths": {"x": {"auth": "%%%not base64"}}}"#,
    )
    .expect("config");
    let broken_config = broken_config.display().to_string();
    let image_ref = format!("{}/any/image:1", registry.host());
    let cases: [(Vec<&str>, &[&str]); 8] = [
        (
            vec!["scan", &unknown],
            &["does/not-exist", "manifest unknown"],
        ),
        (vec!["scan", &unreachable], &["127.0.0.1"]),
        (
            vec!["scan", "--oci-layout", &corrupt],
            &["layer 0", "corrupt or truncated gzip"],
        ),
        (
            vec!["scan", "--oci-layout", &swapped],
            &[
                "layer 0",
                "size mismatch",
                &image.layers[0].digest.to_string(),
            ],
        ),
        (
            vec!["scan", "--oci-layout", &flipped],
            &["layer 0", "digest", &plain_digest],
        ),
        (
            vec!["scan", &image_ref, "--cache-dir", &not_a_dir],
            &["cache", &not_a_dir],
        ),
        (
            vec!["scan", &image_ref, "--docker-config", &missing_config],
            &[&missing_config],
        ),
        (
            vec!["scan", &image_ref, "--docker-config", &broken_config],
            &[&broken_config, "base64"],
        ),
    ];
    for (mut args, mentioned) in cases {
        if !args.contains(&"--cache-dir") {
            args.push("--no-cache");
        }
        let run = sandbox.run(&args, &[]).expect_code(1);
        let stderr = run.stderr.to_lowercase();
        for word in mentioned {
            assert!(
                stderr.contains(&word.to_lowercase()),
                "{args:?}: {}",
                run.stderr
            );
        }
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

// --- 6. OCI layouts ----------------------------------------------------------------

#[test]
fn oci_layout_by_tag_and_untagged_single_image() {
    let sandbox = Sandbox::new();
    let apk = ImageBuilder::oci()
        .layer(LayerBuilder::new().file("lib/apk/db/installed", fixture("apk/installed"), 0o644))
        .build()
        .expect("image");
    let gems = ImageBuilder::oci()
        .layer(LayerBuilder::new().compression(Compression::Zstd).file(
            "usr/local/bundle/specifications/json-2.6.3.gemspec",
            fixture("gemspec/json-2.6.3.gemspec"),
            0o644,
        ))
        .build()
        .expect("image");

    let tagged = sandbox.root().join("tagged");
    let mut layout = LayoutWriter::create(&tagged).expect("layout");
    layout.add(&apk, Some("apk")).expect("add");
    layout.add(&gems, Some("gems")).expect("add");
    let index = multi_arch_index(Flavor::Oci);
    layout.add(&index, Some("multi")).expect("add");

    let untagged = sandbox.root().join("untagged");
    LayoutWriter::create(&untagged)
        .expect("layout")
        .add(&gems, None)
        .expect("add");

    let gem_rows = rows(&[(
        "gem",
        "json",
        "2.6.3",
        0,
        "usr/local/bundle/specifications/json-2.6.3.gemspec",
    )]);
    let scan = |target: String, extra: &[&str]| {
        let cache = sandbox.cache();
        let mut args = vec![
            "scan",
            "--oci-layout",
            &target,
            "-f",
            "json",
            "--cache-dir",
            cache.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        sandbox.run(&args, &[]).json()
    };
    let report = scan(format!("{}:gems", tagged.display()), &[]);
    assert_eq!(package_rows(&report), gem_rows);
    assert_eq!(
        report["image"]["manifestDigest"],
        gems.manifest.digest.to_string()
    );
    let report = scan(format!("{}:apk", tagged.display()), &[]);
    assert_eq!(package_rows(&report).len(), 8);
    assert_eq!(
        report["image"]["manifestDigest"],
        apk.manifest.digest.to_string()
    );
    let report = scan(
        format!("{}:multi", tagged.display()),
        &["--platform", "linux/arm64"],
    );
    assert_eq!(
        report["image"]["manifestDigest"],
        index.images[2].manifest.digest.to_string()
    );
    let report = scan(untagged.display().to_string(), &[]);
    assert_eq!(package_rows(&report), gem_rows);

    // A tag the layout lacks, and a layout with several images but no tag asked.
    for target in [
        format!("{}:nope", tagged.display()),
        tagged.display().to_string(),
    ] {
        let run = sandbox
            .run(&["scan", "--oci-layout", &target, "--no-cache"], &[])
            .expect_code(1);
        assert!(!run.stderr.is_empty());
    }
}

// --- 7. layer cache ---------------------------------------------------------------

/// Deletes the registry's copy of a blob, so only a cache can still provide it.
fn delete_registry_blob(registry: &TestRegistry, digest: &testkit::Digest) {
    let hex = digest.hex();
    let path = registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    std::fs::remove_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn without_timestamp(mut report: Value) -> Value {
    report["generatedAt"] = Value::Null;
    report
}

#[test]
fn warm_cache_needs_no_layer_blobs_and_shared_base_layers_are_reused() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let base = LayerBuilder::new()
        .file("etc/os-release", DEBIAN_OS_RELEASE, 0o644)
        .file("var/lib/dpkg/status", fixture("dpkg/status"), 0o644);
    let first = ImageBuilder::oci()
        .layer(base.clone())
        .layer(LayerBuilder::new().compression(Compression::Zstd).file(
            "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA",
            fixture("python/requests-2.32.3.METADATA"),
            0o644,
        ))
        .build()
        .expect("first image");
    let second = ImageBuilder::docker()
        .layer(base)
        .layer(LayerBuilder::new().file(
            "app/package.json",
            fixture("npm/lodash-4.17.21.json"),
            0o644,
        ))
        .build()
        .expect("second image");
    assert_eq!(first.layers[0].digest, second.layers[0].digest);
    let first_ref = push(&registry, "cache/first", "1", &first);
    let second_ref = push(&registry, "cache/second", "1", &second);
    let sandbox = Sandbox::new();

    let cold = sandbox.scan_json(&first_ref, &[]);
    assert!(
        sandbox
            .all_paths()
            .iter()
            .any(|p| p.starts_with("cache") && p.components().count() > 1),
        "the first scan left the cache empty"
    );
    for layer in &first.layers {
        delete_registry_blob(&registry, &layer.digest);
    }
    let warm = sandbox.scan_json(&first_ref, &[]);
    assert_eq!(without_timestamp(warm), without_timestamp(cold.clone()));

    let uncached = sandbox
        .run(&["scan", &first_ref, "--no-cache"], &[])
        .expect_code(1);
    assert!(
        uncached
            .stderr
            .contains(&first.layers[0].digest.to_string())
            || uncached
                .stderr
                .contains(&first.layers[1].digest.to_string()),
        "{}",
        uncached.stderr
    );

    // The second image's base layer is gone from the registry too: only the
    // cache entry the first image left can provide it.
    let shared = sandbox.scan_json(&second_ref, &[]);
    let base_rows: Vec<_> = package_rows(&shared)
        .into_iter()
        .filter(|r| r.0 == "deb")
        .collect();
    let cold_base_rows: Vec<_> = package_rows(&cold)
        .into_iter()
        .filter(|r| r.0 == "deb")
        .collect();
    assert_eq!(base_rows, cold_base_rows);
    assert!(
        package_rows(&shared)
            .iter()
            .any(|r| r.1 == "lodash" && r.3 == Some(1)),
        "{shared:#}"
    );
}

// --- 8. hostile images ---------------------------------------------------------------

#[test]
fn hostile_entries_stay_inside_and_the_scan_goes_on() {
    let Some(registry) = shared_registry() else {
        return;
    };
    let nonce = format!("{}-{}", std::process::id(), registry.port());
    let escape = format!("shipshape-escape-{nonce}");
    let absolute = format!("shipshape-absolute-{nonce}");
    let through = format!("shipshape-through-{nonce}");
    let passwd_before = std::fs::read("/etc/passwd").ok();
    let hostile = LayerBuilder::new()
        .raw(RawEntry::file(
            format!("../../{escape}"),
            b"escaped\n".to_vec(),
        ))
        .raw(RawEntry::file(
            format!("../../../../../../tmp/{escape}"),
            b"escaped\n".to_vec(),
        ))
        .raw(RawEntry::file(
            format!("/tmp/{absolute}"),
            b"absolute\n".to_vec(),
        ))
        // A link out of the image, then files written "through" it.
        .symlink("etc/passwd-link", "/etc/passwd")
        .raw(RawEntry::file(
            "etc/passwd-link",
            b"root::0:0:pwned:/:/bin/sh\n".to_vec(),
        ))
        .symlink("tmp-link", "/tmp")
        .raw(RawEntry::file(
            format!("tmp-link/{through}"),
            b"through\n".to_vec(),
        ))
        // The dpkg database is a link to the host's passwd: never followed.
        .symlink("var/lib/dpkg/status", "/etc/passwd")
        // Hard link loops and a self link.
        .raw(RawEntry::new("loop-a", type_flag::HARDLINK).link_target("loop-b"))
        .raw(RawEntry::new("loop-b", type_flag::HARDLINK).link_target("loop-a"))
        .raw(RawEntry::new("self", type_flag::HARDLINK).link_target("self"))
        .hardlink("lib/apk/db/installed", "loop-a")
        // After all that, a real package database.
        .file(
            "var/lib/dpkg/status.d/base-files",
            fixture("dpkg/status.d/base-files"),
            0o644,
        );
    let image = ImageBuilder::oci()
        .layer(LayerBuilder::new().file("etc/os-release", DEBIAN_OS_RELEASE, 0o644))
        .layer(hostile)
        .build()
        .expect("hostile image");
    let reference = push(registry, "hostile/entries", "1", &image);
    let sandbox = Sandbox::new();
    let report = sandbox.scan_json(&reference, &[]);
    assert_eq!(
        package_rows(&report),
        rows(&[(
            "deb",
            "base-files",
            "12.4+deb12u5",
            1,
            "var/lib/dpkg/status.d/base-files"
        )])
    );
    // No package from the host's /etc/passwd through the link.
    assert_eq!(report["os"]["id"], "debian");
    // Escaping entries are skipped and said so; links are never followed.
    assert_eq!(
        diagnostic_codes(&report),
        [
            (
                "path-escapes-root",
                format!("../../../../../../tmp/{escape}")
            ),
            ("path-escapes-root", format!("../../{escape}")),
        ]
        .map(|(code, path)| (code.to_owned(), path))
    );

    let names = [escape.as_str(), absolute.as_str(), through.as_str()];
    for path in sandbox.all_paths() {
        let text = path.to_string_lossy();
        assert!(!names.iter().any(|n| text.contains(n)), "written: {text}");
    }
    for dir in [std::path::Path::new("/tmp"), std::path::Path::new("/")] {
        for name in names {
            assert!(!dir.join(name).exists(), "{}/{name} exists", dir.display());
        }
    }
    assert_eq!(std::fs::read("/etc/passwd").ok(), passwd_before);
}

#[test]
fn gzip_bomb_stops_at_the_limit_with_a_diagnostic() {
    let Some(registry) = shared_registry() else {
        return;
    };
    // 64 MiB of zeros compress to ~64 KiB; the limit is 1 MiB. The package
    // database comes after the zeros, so the limit hides it.
    let bomb = LayerBuilder::new()
        .file("zeros.bin", vec![0u8; 64 << 20], 0o644)
        .file(
            "var/lib/dpkg/status.d/base-files",
            fixture("dpkg/status.d/base-files"),
            0o644,
        );
    let image = ImageBuilder::oci()
        .layer(bomb)
        .layer(LayerBuilder::new().file(
            "usr/local/bundle/specifications/rack-2.2.22.gemspec",
            fixture("gemspec/rack-2.2.22.gemspec"),
            0o644,
        ))
        .build()
        .expect("bomb image");
    assert!(image.layers[0].size() < 1 << 20);
    let reference = push(registry, "hostile/bomb", "1", &image);
    let sandbox = Sandbox::new();
    let limited = sandbox.scan_json(&reference, &["--max-layer-bytes", "1048576"]);
    let rack = (
        "gem",
        "rack",
        "2.2.22",
        1,
        "usr/local/bundle/specifications/rack-2.2.22.gemspec",
    );
    assert_eq!(package_rows(&limited), rows(&[rack]));
    let diagnostics = limited["diagnostics"].as_array().expect("diagnostics");
    assert!(
        diagnostics.iter().any(|d| {
            d["layerDiffId"] == image.layers[0].diff_id.to_string()
                && d["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("1048576")
        }),
        "{diagnostics:#?}"
    );

    // With the default limits and the same cache, the layer is read to the
    // end: a walk cut short by a limit must not have been cached.
    let full = sandbox.scan_json(&reference, &[]);
    assert_eq!(
        package_rows(&full),
        rows(&[
            (
                "deb",
                "base-files",
                "12.4+deb12u5",
                0,
                "var/lib/dpkg/status.d/base-files"
            ),
            rack,
        ])
    );
    assert_eq!(full["diagnostics"], serde_json::json!([]));
}

#[test]
fn truncated_gzip_layer_fails_the_scan_clearly() {
    let Some(registry) = shared_registry() else {
        return;
    };
    let layer = LayerBuilder::new().file("var/lib/dpkg/status", fixture("dpkg/status"), 0o644);
    let whole = layer.build(Flavor::Oci).expect("layer");
    let truncated = layer.blob_override(whole.blob[..whole.blob.len() / 2].to_vec());
    let image = ImageBuilder::oci().layer(truncated).build().expect("image");
    let reference = push(registry, "hostile/truncated", "1", &image);
    let sandbox = Sandbox::new();
    let run = sandbox
        .run(&["scan", &reference, "--no-cache"], &[])
        .expect_code(1);
    let stderr = run.stderr.to_lowercase();
    assert!(
        stderr.contains("layer 0")
            && (stderr.contains("gzip") || stderr.contains("unexpected end")),
        "{}",
        run.stderr
    );
    assert!(!stderr.contains("panicked"), "{}", run.stderr);
}

// --- 9. output and progress -----------------------------------------------------------

#[test]
fn no_progress_when_piped_and_output_file_leaves_stdout_empty() {
    let Some(reference) = realistic_reference() else {
        return;
    };
    let sandbox = Sandbox::new();
    let cache = sandbox.cache();
    let cache = cache.to_str().expect("utf-8");
    let table = sandbox
        .run(
            &["scan", reference, "--cache-dir", cache, "--sbom-only"],
            &[],
        )
        .expect_code(0);
    assert!(table.stderr.is_empty(), "stderr: {}", table.stderr);
    assert!(table.stdout.contains("libssl3"), "{}", table.stdout);
    assert!(
        !table.stdout.contains('\u{1b}'),
        "colour when piped: {}",
        table.stdout
    );

    let file = sandbox.cwd().join("out/report.json");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("out dir");
    let to_file = sandbox
        .run(
            &[
                "scan",
                reference,
                "-f",
                "json",
                "--cache-dir",
                cache,
                "--output",
                "out/report.json",
                "--sbom-only",
            ],
            &[],
        )
        .expect_code(0);
    assert!(to_file.stdout.is_empty(), "stdout: {}", to_file.stdout);
    assert!(to_file.stderr.is_empty(), "stderr: {}", to_file.stderr);
    let written: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("output file")).expect("JSON");
    assert_eq!(package_rows(&written), realistic_expected_rows());
    // Only the report itself: no temporary file left next to it.
    let siblings: Vec<_> = std::fs::read_dir(file.parent().expect("parent"))
        .expect("read out dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(siblings, ["report.json"]);
}

// --- references, anonymous tokens, where files go -----------------------------------

#[test]
fn references_by_digest_and_through_localhost() {
    let Some(reference) = realistic_reference() else {
        return;
    };
    let Some(registry) = shared_registry() else {
        return;
    };
    let digest = realistic_image().manifest.digest.to_string();
    let sandbox = Sandbox::new();
    let by_tag = sandbox.scan_json(reference, &[]);
    let port = registry.port();
    for alias in [
        format!("{}/shop/app@{digest}", registry.host()),
        format!("{reference}@{digest}"),
        format!("localhost:{port}/shop/app:1.0"),
    ] {
        let report = sandbox.scan_json(&alias, &[]);
        assert_eq!(package_rows(&report), package_rows(&by_tag), "{alias}");
        assert_eq!(
            report["image"]["manifestDigest"],
            digest.as_str(),
            "{alias}"
        );
    }

    // A digest that does not match what the tag (or repository) holds.
    let wrong = format!("{}/shop/app@sha256:{}", registry.host(), "0".repeat(64));
    let run = sandbox
        .run(&["scan", &wrong, "--no-cache"], &[])
        .expect_code(1);
    assert!(run.stderr.contains(&"0".repeat(64)), "{}", run.stderr);
}

#[test]
fn token_registry_grants_anonymous_pulls_where_the_policy_allows() {
    let policy = TokenPolicy::new()
        .user("carol", "pw")
        .allow("carol", "*", &["pull", "push"])
        .allow_anonymous("public/*", &["pull"]);
    let Some(registry) = TestRegistry::start_with(RegistryAuth::Token(policy)) else {
        return;
    };
    let image = ImageBuilder::oci()
        .layer(LayerBuilder::new().file(
            "app/node_modules/lodash/package.json",
            fixture("npm/lodash-4.17.21.json"),
            0o644,
        ))
        .build()
        .expect("image");
    let pusher = registry.client().with_basic_auth("carol", "pw");
    pusher.push("public/lib", "1", &image).expect("push");
    pusher.push("private/lib", "1", &image).expect("push");
    let sandbox = Sandbox::new();
    let public = sandbox
        .run(
            &[
                "scan",
                &format!("{}/public/lib:1", registry.host()),
                "-f",
                "json",
                "--no-cache",
            ],
            &[],
        )
        .json();
    assert_eq!(
        package_rows(&public),
        rows(&[(
            "npm",
            "lodash",
            "4.17.21",
            0,
            "app/node_modules/lodash/package.json"
        )])
    );
    let private = sandbox
        .run(
            &[
                "scan",
                &format!("{}/private/lib:1", registry.host()),
                "--no-cache",
            ],
            &[],
        )
        .expect_code(1);
    assert!(private.stderr.contains("private/lib"), "{}", private.stderr);
}

#[test]
fn files_are_written_only_to_the_cache_dir() {
    let Some(registry) = shared_registry() else {
        return;
    };
    // A Go binary padded past the walker's 8 MiB spool threshold: analysed
    // from an anonymous spool file, which must leave nothing behind.
    let mut big = gunzipped_fixture("go/hello-ldflags.gz");
    big.resize(big.len() + (9 << 20), 0);
    let image = ImageBuilder::oci()
        .layer(LayerBuilder::new().file("usr/local/bin/hello-big", big, 0o755))
        .build()
        .expect("image");
    let reference = push(registry, "spool/big", "1", &image);
    let sandbox = Sandbox::new();
    let expected = rows(&[
        ("go-module", "./local", "", 0, "usr/local/bin/hello-big"),
        (
            "go-module",
            "example.com/greet",
            "v1.1.0",
            0,
            "usr/local/bin/hello-big",
        ),
        (
            "go-module",
            "example.com/hello",
            "1.2.3",
            0,
            "usr/local/bin/hello-big",
        ),
        (
            "go-module",
            "example.com/other",
            "v0.3.0",
            0,
            "usr/local/bin/hello-big",
        ),
        (
            "go-module",
            "stdlib",
            "v1.19.8",
            0,
            "usr/local/bin/hello-big",
        ),
    ]);
    let outside_cache = || -> Vec<std::path::PathBuf> {
        sandbox
            .all_paths()
            .into_iter()
            .filter(|p| {
                !p.starts_with("cache") && !p.starts_with("stdout") && !p.starts_with("stderr")
            })
            .filter(|p| !["home", "tmp", "cwd"].iter().any(|d| p.as_os_str() == *d))
            .collect()
    };

    let cached = sandbox.scan_json(&reference, &[]);
    assert_eq!(package_rows(&cached), expected);
    assert_eq!(outside_cache(), Vec::<std::path::PathBuf>::new());
    let uncached = sandbox
        .run(&["scan", &reference, "-f", "json", "--no-cache"], &[])
        .json();
    assert_eq!(package_rows(&uncached), expected);
    assert_eq!(outside_cache(), Vec::<std::path::PathBuf>::new());

    // Without --cache-dir the cache lives under HOME (~/.cache/shipshape).
    let default = sandbox.run(&["scan", &reference, "-f", "json"], &[]).json();
    assert_eq!(package_rows(&default), expected);
    let home_cache = sandbox.home().join(".cache/shipshape");
    assert!(
        std::fs::read_dir(&home_cache).is_ok_and(|mut d| d.next().is_some()),
        "{} is empty",
        home_cache.display()
    );
    // SHIPSHAPE_CACHE_DIR is honoured as well.
    let env_cache = sandbox.root().join("env-cache");
    sandbox
        .run(
            &["scan", &reference, "-f", "json"],
            &[("SHIPSHAPE_CACHE_DIR", env_cache.to_str().expect("utf-8"))],
        )
        .expect_code(0);
    assert!(std::fs::read_dir(&env_cache).is_ok_and(|mut d| d.next().is_some()));
}

#[test]
fn output_errors_are_scan_failures() {
    let Some(reference) = realistic_reference() else {
        return;
    };
    let sandbox = Sandbox::new();
    let run = sandbox
        .run(
            &[
                "scan",
                reference,
                "--no-cache",
                "--output",
                "missing-dir/report.json",
            ],
            &[],
        )
        .expect_code(1);
    assert!(
        run.stderr.contains("missing-dir/report.json"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn output_file_gets_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let Some(reference) = realistic_reference() else {
        return;
    };
    let sandbox = Sandbox::new();
    let cache = sandbox.cache();
    let cache = cache.to_str().expect("utf-8");
    let report = sandbox.cwd().join("report.json");
    // (umask, mode of a new report)
    for (umask, mode) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let _ = std::fs::remove_file(&report);
        sandbox
            .run_with_umask(
                umask,
                &["scan", reference, "--cache-dir", cache, "-o", "report.json"],
            )
            .expect_code(0);
        let found = std::fs::metadata(&report)
            .expect("report")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(found, mode, "umask {umask}: {found:o}");
    }
    // A report written over an existing file keeps that file's mode.
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    sandbox
        .run_with_umask(
            "022",
            &["scan", reference, "--cache-dir", cache, "-o", "report.json"],
        )
        .expect_code(0);
    let found = std::fs::metadata(&report)
        .expect("report")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(found, 0o640, "{found:o}");
}

#[test]
fn terminal_shows_progress_and_quiet_hides_it() {
    let Some(reference) = realistic_reference() else {
        return;
    };
    let sandbox = Sandbox::new();
    let cache = sandbox.cache();
    let cache = cache.to_str().expect("utf-8");
    let piped = sandbox
        .run(
            &["scan", reference, "-f", "json", "--cache-dir", cache],
            &[],
        )
        .json();
    let Some(terminal) = sandbox.run_in_terminal(&[
        "scan",
        reference,
        "-f",
        "json",
        "--no-cache",
        "-o",
        "terminal.json",
    ]) else {
        return;
    };
    let terminal = terminal.expect_code(0);
    // The header names the image; per-layer bars count bytes.
    assert!(
        terminal.stdout.contains("shop/app"),
        "{:?}",
        terminal.stdout
    );
    assert!(terminal.stdout.contains("layer"), "{:?}", terminal.stdout);
    let written: Value = serde_json::from_slice(
        &std::fs::read(sandbox.cwd().join("terminal.json")).expect("report"),
    )
    .expect("JSON");
    assert_eq!(without_timestamp(written), without_timestamp(piped));

    let quiet = sandbox
        .run_in_terminal(&["scan", reference, "-q", "--no-cache", "-o", "quiet.txt"])
        .expect("script is installed")
        .expect_code(0);
    assert_eq!(quiet.stdout.trim(), "", "{:?}", quiet.stdout);
}

#[test]
fn a_config_lying_about_a_diff_id_fails_and_does_not_poison_the_cache() {
    let Some(registry) = shared_registry() else {
        return;
    };
    let honest_layer = LayerBuilder::new().file(
        "usr/local/bundle/specifications/rack-2.2.22.gemspec",
        fixture("gemspec/rack-2.2.22.gemspec"),
        0o644,
    );
    let honest = ImageBuilder::oci()
        .layer(honest_layer)
        .build()
        .expect("honest image");
    // Other content, filed under the honest layer's diffID.
    let liar = ImageBuilder::oci()
        .layer(
            LayerBuilder::new()
                .file(
                    "usr/local/bundle/specifications/json-2.6.3.gemspec",
                    fixture("gemspec/json-2.6.3.gemspec"),
                    0o644,
                )
                .diff_id_override(honest.layers[0].diff_id.clone()),
        )
        .build()
        .expect("lying image");
    let liar_ref = push(registry, "poison/liar", "1", &liar);
    let honest_ref = push(registry, "poison/honest", "1", &honest);
    let sandbox = Sandbox::new();
    let cache = sandbox.cache();
    let failed = sandbox
        .run(
            &[
                "scan",
                &liar_ref,
                "--cache-dir",
                cache.to_str().expect("utf-8"),
            ],
            &[],
        )
        .expect_code(1);
    let diff_id = honest.layers[0].diff_id.to_string();
    assert!(
        failed.stderr.contains("layer 0") && failed.stderr.contains(&diff_id),
        "{}",
        failed.stderr
    );
    let report = sandbox.scan_json(&honest_ref, &[]);
    assert_eq!(
        package_rows(&report),
        rows(&[(
            "gem",
            "rack",
            "2.2.22",
            0,
            "usr/local/bundle/specifications/rack-2.2.22.gemspec"
        )])
    );
}

#[test]
fn walk_limits_give_partial_results_with_diagnostics() {
    let Some(registry) = shared_registry() else {
        return;
    };
    let mut layer = LayerBuilder::new()
        .file(
            "usr/local/bundle/specifications/rack-2.2.22.gemspec",
            fixture("gemspec/rack-2.2.22.gemspec"),
            0o644,
        )
        .file(
            "usr/local/bin/hello",
            gunzipped_fixture("go/hello-ldflags.gz"),
            0o755,
        );
    for i in 0..20 {
        layer = layer.file(&format!("usr/share/doc/file-{i:02}"), "doc\n", 0o644);
    }
    layer = layer.file(
        "app/node_modules/lodash/package.json",
        fixture("npm/lodash-4.17.21.json"),
        0o644,
    );
    let image = ImageBuilder::oci().layer(layer).build().expect("image");
    let reference = push(registry, "limits/app", "1", &image);
    let rack = (
        "gem",
        "rack",
        "2.2.22",
        0,
        "usr/local/bundle/specifications/rack-2.2.22.gemspec",
    );
    let lodash = (
        "npm",
        "lodash",
        "4.17.21",
        0,
        "app/node_modules/lodash/package.json",
    );
    let go = |name, version| ("go-module", name, version, 0, "usr/local/bin/hello");
    let all_go = [
        go("./local", ""),
        go("example.com/greet", "v1.1.0"),
        go("example.com/hello", "1.2.3"),
        go("example.com/other", "v0.3.0"),
        go("stdlib", "v1.19.8"),
    ];
    let everything: Vec<_> = [rack, lodash].into_iter().chain(all_go).collect();
    // (extra flags, packages, diagnostic codes)
    let cases: [(&[&str], Vec<_>, &[&str]); 3] = [
        (&[], everything.clone(), &[]),
        // The entry limit stops the walk before the last file.
        (
            &["--max-layer-entries", "10"],
            [rack].into_iter().chain(all_go).collect(),
            &["layer-limit-exceeded"],
        ),
        // Files over the size limit are skipped, the walk goes on.
        (
            &["--max-file-size", "100000"],
            vec![rack, lodash],
            &["file-too-large"],
        ),
    ];
    for (flags, packages, codes) in cases {
        let sandbox = Sandbox::new();
        let report = sandbox.scan_json(&reference, flags);
        assert_eq!(package_rows(&report), rows(&packages), "{flags:?}");
        let found: Vec<String> = diagnostic_codes(&report).into_iter().map(|d| d.0).collect();
        assert_eq!(found, *codes, "{flags:?}: {:#}", report["diagnostics"]);
    }
}

#[test]
fn odd_but_real_world_images_scan() {
    let Some(registry) = shared_registry() else {
        return;
    };
    let gem_layer = || {
        LayerBuilder::new().file(
            "usr/local/bundle/specifications/rack-2.2.22.gemspec",
            fixture("gemspec/rack-2.2.22.gemspec"),
            0o644,
        )
    };
    let rack = rows(&[(
        "gem",
        "rack",
        "2.2.22",
        0,
        "usr/local/bundle/specifications/rack-2.2.22.gemspec",
    )]);
    // (name, image, packages)
    let cases = [
        ("no-layers", ImageBuilder::oci().build(), vec![]),
        (
            "no-history",
            ImageBuilder::docker()
                .without_history()
                .layer(gem_layer())
                .build(),
            rack.clone(),
        ),
        (
            "gzip-labelled-uncompressed",
            ImageBuilder::docker()
                .layer(gem_layer().media_type(testkit::media_type::DOCKER_LAYER))
                .build(),
            rack.clone(),
        ),
        (
            "octet-stream-zstd",
            ImageBuilder::oci()
                .layer(
                    gem_layer()
                        .compression(Compression::Zstd)
                        .media_type("application/octet-stream"),
                )
                .build(),
            rack.clone(),
        ),
    ];
    let sandbox = Sandbox::new();
    for (name, image, packages) in cases {
        let image = image.unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference = push(registry, "odd/images", name, &image);
        let report = sandbox.scan_json(&reference, &["--no-cache"]);
        assert_eq!(package_rows(&report), packages, "{name}");
    }
}
