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
use support::{Sandbox, closed_port, diagnostic_codes, fixture, gunzipped_fixture, package_rows, rows};
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
        .replace("Source: openssl (3.0.11-1~deb12u2)", "Source: openssl (3.0.9-1)")
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
        .file("var/lib/rpm/rpmdb.sqlite", fixture("rpm/rpmdb.sqlite"), 0o644)
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
        .file("srv/www/package.json", fixture("npm/lodash-4.17.21.json"), 0o644);
    ImageBuilder::oci()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
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

// --- 1. the realistic image -------------------------------------------------

#[test]
fn realistic_image_package_set_with_layers_and_evidence() {
    let Some(reference) = realistic_reference() else {
        return;
    };
    let report = Sandbox::new().scan_json(reference, &[]);

    let expected = rows(&[
        // Layer 0's dpkg status, kept by layer 1's rewrite: lowest layer of the run.
        ("deb", "base-files", "12.4+deb12u5", 0, "var/lib/dpkg/status"),
        ("deb", "zlib1g", "1:1.2.13.dfsg-1", 0, "var/lib/dpkg/status"),
        ("deb", "mawk", "1.3.4.20200120-3.1", 0, "var/lib/dpkg/status"),
        ("deb", "crlf-tool", "2.0-1", 0, "var/lib/dpkg/status"),
        ("deb", "lowercase-fields", "0.1-1", 0, "var/lib/dpkg/status"),
        // Upgraded and newly installed by the apt layer.
        ("deb", "libssl3", "3.0.11-1~deb12u2+b1", 1, "var/lib/dpkg/status"),
        ("deb", "tzdata", "2024a-0+deb12u1", 1, "var/lib/dpkg/status"),
        // Distroless status.d files.
        ("deb", "base-files", "12.4+deb12u5", 2, "var/lib/dpkg/status.d/base-files"),
        ("deb", "libssl3", "3.0.11-1~deb12u2+b1", 2, "var/lib/dpkg/status.d/libssl3"),
        ("rpm", "shipshape-hello", "2:1.2.3-4.el9", 2, "var/lib/rpm/rpmdb.sqlite"),
        ("rpm", "shipshape-hello-libs", "2:1.2.3-4.el9", 2, "var/lib/rpm/rpmdb.sqlite"),
        ("rpm", "shipshape-data", "0.9-1", 2, "var/lib/rpm/rpmdb.sqlite"),
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
        ("npm", "@babel/core", "7.24.0", 2, "app/node_modules/@babel/core/package.json"),
        ("gem", "rack", "2.2.22", 2, "usr/local/bundle/specifications/rack-2.2.22.gemspec"),
        ("maven", "org.slf4j:slf4j-nop", "1.7.32", 2, "opt/app/lib/slf4j-nop-1.7.32.jar"),
        // The war, and the same war nested in the ear: each archive level is evidence.
        ("maven", "com.example:shop", "2.1.0", 2, "opt/app/webapps/shop-2.1.0.war"),
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
        ("maven", "com.example:shop-ear", "2.1.0", 2, "opt/app/shop-ear.ear"),
        ("maven", "com.example:shop", "2.1.0", 2, "opt/app/shop-ear.ear!/shop-2.1.0.war"),
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
        ("go-module", "example.com/hello", "1.2.3", 3, "usr/local/bin/hello"),
        ("go-module", "example.com/greet", "v1.1.0", 3, "usr/local/bin/hello"),
        ("go-module", "example.com/other", "v0.3.0", 3, "usr/local/bin/hello"),
        // A `replace => ./local` directory module has no version.
        ("go-module", "./local", "", 3, "usr/local/bin/hello"),
        ("go-module", "stdlib", "v1.19.8", 3, "usr/local/bin/hello"),
        ("cargo", "auditable-hello", "0.3.1", 3, "usr/local/bin/auditable-hello"),
        ("cargo", "cfg-if", "1.0.0", 3, "usr/local/bin/auditable-hello"),
        ("cargo", "itoa", "1.0.11", 3, "usr/local/bin/auditable-hello"),
        // Re-added under the opaque directory: the image's application.
        ("npm", "lodash", "4.17.21", 3, "srv/www/package.json"),
    ]);
    assert_eq!(package_rows(&report), expected);

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
        .map(|h| (h["emptyLayer"].as_bool().unwrap_or(false), h["layerIndex"].as_u64()))
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

    // The dpkg paragraphs without a usable Version are reported, not silently dropped.
    assert_eq!(
        diagnostic_codes(&report),
        vec![("malformed-package-record".to_owned(), "var/lib/dpkg/status".to_owned()); 2],
        "{:#?}",
        report["diagnostics"]
    );
}
