//! A realistic image for the writers' tests: five layers with history, a
//! Debian base, Python, npm (one package installed twice), Go, Rust, Maven
//! and RubyGems packages, and diagnostics. Shared by the test files with
//! `#[path]`; each uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use model::{
    AnalyzerId, Diagnostic, DiffId, Digest, Evidence, HistoryEntry, ImageConfigSummary,
    ImageInventory, ImageMetadata, LayerDescriptor, OsFamily, OsInfo, Package, PackageKind,
    Platform, SourcePackage,
};
use sbom::ToolInfo;

pub const TIMESTAMP: &str = "2024-05-06T07:08:09Z";

pub fn digest(seed: &str) -> Digest {
    let hex: String = seed
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .cycle()
        .take(64)
        .collect();
    format!("sha256:{hex}").parse().unwrap()
}

pub fn diff_id(i: u32) -> DiffId {
    DiffId(digest(&format!("{i}-diff-id-of-layer")))
}

pub fn tool() -> ToolInfo {
    ToolInfo::new("shipshape", "0.1.0")
}

pub fn history(created_by: &str, layer_index: Option<u32>) -> HistoryEntry {
    HistoryEntry {
        created: Some("2024-04-30T10:00:00Z".to_owned()),
        created_by: Some(created_by.to_owned()),
        comment: layer_index
            .is_some()
            .then(|| "buildkit.dockerfile.v0".to_owned()),
        author: None,
        empty_layer: layer_index.is_none(),
        layer_index,
    }
}

pub fn metadata() -> ImageMetadata {
    let layer = |index: u32, compressed_size: u64| LayerDescriptor {
        index,
        diff_id: diff_id(index),
        blob_digest: digest(&format!("{index}-blob")),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
        compressed_size,
        uncompressed_size: Some(compressed_size * 3),
    };
    ImageMetadata {
        reference: "registry.example.com:5000/acme/shop-api:1.4.2".to_owned(),
        repository: "registry.example.com:5000/acme/shop-api".to_owned(),
        tag: Some("1.4.2".to_owned()),
        manifest_digest: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            .parse()
            .unwrap(),
        index_digest: Some(digest("the-index")),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        config_digest: digest("the-config"),
        platform: Platform::linux_amd64(),
        config: ImageConfigSummary {
            created: Some("2024-04-30T10:05:00Z".to_owned()),
            author: None,
            user: Some("10001".to_owned()),
            working_dir: Some("/srv/app".to_owned()),
            env: vec![
                "PATH=/usr/local/bin:/usr/bin:/bin".to_owned(),
                "PYTHONUNBUFFERED=1".to_owned(),
            ],
            entrypoint: vec!["/usr/local/bin/shop-api".to_owned()],
            cmd: vec!["serve".to_owned()],
            exposed_ports: vec!["8080/tcp".to_owned()],
            labels: BTreeMap::from([
                (
                    "org.opencontainers.image.source".to_owned(),
                    "https://git.example.com/acme/shop".to_owned(),
                ),
                (
                    "org.opencontainers.image.version".to_owned(),
                    "1.4.2".to_owned(),
                ),
            ]),
        },
        layers: vec![
            layer(0, 29_123_456),
            layer(1, 8_400_120),
            layer(2, 12_001_000),
            layer(3, 3_500_000),
            layer(4, 15_250_333),
        ],
        history: vec![
            history("/bin/sh -c #(nop) ADD file:3b1c4e5f6a7b8c9d in / ", Some(0)),
            history("/bin/sh -c #(nop)  CMD [\"bash\"]", None),
            history("ENV PYTHONUNBUFFERED=1", None),
            history(
                "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends libssl3 libstdc++6 python3 && rm -rf /var/lib/apt/lists/* # buildkit",
                Some(1),
            ),
            history(
                "RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # buildkit",
                Some(2),
            ),
            history("WORKDIR /srv/app", None),
            history("COPY frontend/ /srv/app/frontend/ # buildkit", Some(3)),
            history(
                "COPY --from=build /out/ /usr/local/bin/ # buildkit",
                Some(4),
            ),
            history("EXPOSE map[8080/tcp:{}]", None),
            history("USER 10001", None),
            history("ENTRYPOINT [\"/usr/local/bin/shop-api\"]", None),
        ],
    }
}

pub struct P {
    pub kind: PackageKind,
    pub name: &'static str,
    pub version: &'static str,
    pub layer: u32,
    pub path: &'static str,
    pub analyzer: &'static str,
}

pub fn package(p: P) -> Package {
    let mut pkg = Package::new(p.kind, p.name, p.version);
    pkg.evidence = Evidence {
        path: p.path.to_owned(),
        layer_index: Some(p.layer),
        layer_diff_id: Some(diff_id(p.layer)),
        analyzer: Some(AnalyzerId::new(p.analyzer, 1)),
    };
    pkg
}

pub fn deb(
    name: &'static str,
    version: &'static str,
    layer: u32,
    source: Option<(&str, Option<&str>)>,
    licenses: &[&str],
) -> Package {
    let mut pkg = package(P {
        kind: PackageKind::Deb,
        name,
        version,
        layer,
        path: "var/lib/dpkg/status",
        analyzer: "dpkg",
    });
    pkg.arch = Some("amd64".to_owned());
    pkg.source = source.map(|(name, version)| SourcePackage {
        name: name.to_owned(),
        version: version.map(str::to_owned),
    });
    pkg.licenses = licenses.iter().map(|s| s.to_string()).collect();
    pkg
}

pub fn lang(
    kind: PackageKind,
    name: &'static str,
    version: &'static str,
    layer: u32,
    path: &'static str,
    analyzer: &'static str,
    licenses: &[&str],
) -> Package {
    let mut pkg = package(P {
        kind,
        name,
        version,
        layer,
        path,
        analyzer,
    });
    pkg.licenses = licenses.iter().map(|s| s.to_string()).collect();
    pkg
}

pub fn inventory() -> ImageInventory {
    use PackageKind::*;
    let mut app = lang(
        Npm,
        "shop-frontend",
        "1.4.2",
        3,
        "srv/app/frontend/package.json",
        "npm",
        &["UNLICENSED"],
    );
    app.is_application = true;
    let mut main_module = lang(
        GoModule,
        "github.com/acme/shop-api",
        "(devel)",
        4,
        "usr/local/bin/shop-api",
        "go-binary",
        &[],
    );
    main_module.is_application = true;
    let packages = vec![
        deb("base-files", "12.4+deb12u5", 0, None, &["GPL-2.0-or-later"]),
        deb(
            "libc6",
            "2.36-9+deb12u4",
            0,
            Some(("glibc", None)),
            &["LGPL-2.1-or-later", "GPL-2+"],
        ),
        deb(
            "zlib1g",
            "1:1.2.13.dfsg-1",
            0,
            Some(("zlib", None)),
            &["Zlib"],
        ),
        deb(
            "libssl3",
            "3.0.11-1~deb12u2",
            1,
            Some(("openssl", None)),
            &["Apache-2.0", "Artistic", "GPL-1+"],
        ),
        deb(
            "libstdc++6",
            "12.2.0-14",
            1,
            Some(("gcc-12", Some("12.2.0-14"))),
            &[],
        ),
        lang(
            Python,
            "Flask",
            "3.0.0",
            2,
            "usr/local/lib/python3.11/site-packages/flask-3.0.0.dist-info/METADATA",
            "python",
            &["BSD-3-Clause"],
        ),
        lang(
            Python,
            "typing_extensions",
            "4.9.0",
            2,
            "usr/local/lib/python3.11/site-packages/typing_extensions-4.9.0.dist-info/METADATA",
            "python",
            &["Python Software Foundation License"],
        ),
        lang(
            Python,
            "requests",
            "2.31.0",
            2,
            "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
            "python",
            &["Apache 2.0"],
        ),
        app,
        lang(
            Npm,
            "@babel/runtime",
            "7.23.7",
            3,
            "srv/app/frontend/node_modules/@babel/runtime/package.json",
            "npm",
            &["MIT"],
        ),
        lang(
            Npm,
            "lodash",
            "4.17.21",
            3,
            "srv/app/frontend/node_modules/lodash/package.json",
            "npm",
            &["MIT"],
        ),
        // The same package installed twice (nested node_modules).
        lang(
            Npm,
            "lodash",
            "4.17.21",
            3,
            "srv/app/frontend/node_modules/webpack/node_modules/lodash/package.json",
            "npm",
            &["MIT"],
        ),
        main_module,
        lang(
            GoModule,
            "stdlib",
            "v1.21.5",
            4,
            "usr/local/bin/shop-api",
            "go-binary",
            &[],
        ),
        lang(
            GoModule,
            "github.com/gin-gonic/gin",
            "v1.9.1",
            4,
            "usr/local/bin/shop-api",
            "go-binary",
            &[],
        ),
        lang(
            Cargo,
            "serde",
            "1.0.195",
            4,
            "usr/local/bin/shop-probe",
            "cargo-auditable",
            &["MIT OR Apache-2.0"],
        ),
        lang(
            Cargo,
            "ring",
            "0.17.7",
            4,
            "usr/local/bin/shop-probe",
            "cargo-auditable",
            &[],
        ),
        lang(
            Maven,
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
            4,
            "usr/local/bin/report.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar!/META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
            "java-archive",
            &["Apache-2.0"],
        ),
        lang(
            Gem,
            "rack",
            "3.0.8",
            4,
            "usr/local/bundle/specifications/rack-3.0.8.gemspec",
            "gemspec",
            &["MIT"],
        ),
    ];
    let mut diagnostic = Diagnostic::warning(
        "malformed-package-metadata",
        "METADATA has no Version field; package skipped",
    )
    .with_path("usr/local/lib/python3.11/site-packages/broken-0.dist-info/METADATA")
    .with_layer(diff_id(2));
    diagnostic.analyzer = Some(AnalyzerId::new("python", 1));
    ImageInventory {
        os: Some(OsInfo {
            family: OsFamily::Debian,
            id: "debian".to_owned(),
            version_id: Some("12".to_owned()),
            codename: Some("bookworm".to_owned()),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".to_owned()),
            path: "etc/os-release".to_owned(),
        }),
        packages,
        diagnostics: vec![
            diagnostic,
            Diagnostic::error(
                "layer-truncated",
                "layer 4 ended early; its packages may be incomplete",
            )
            .with_layer(diff_id(4)),
        ],
    }
}
