//! The writers on a realistic image: validated against the official
//! CycloneDX 1.5 and SPDX 2.3 JSON schemas, and snapshotted.

use std::collections::BTreeMap;

use model::{
    AnalyzerId, Diagnostic, DiffId, Digest, Evidence, HistoryEntry, ImageConfigSummary,
    ImageInventory, ImageMetadata, LayerDescriptor, OsFamily, OsInfo, Package, PackageKind,
    Platform, SourcePackage,
};
use sbom::ToolInfo;
use sbom::table::TableOptions;
use serde_json::Value;

const TIMESTAMP: &str = "2024-05-06T07:08:09Z";

fn digest(seed: &str) -> Digest {
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

fn diff_id(i: u32) -> DiffId {
    DiffId(digest(&format!("{i}-diff-id-of-layer")))
}

fn tool() -> ToolInfo {
    ToolInfo::new("shipshape", "0.1.0")
}

fn history(created_by: &str, layer_index: Option<u32>) -> HistoryEntry {
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

fn metadata() -> ImageMetadata {
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

struct P {
    kind: PackageKind,
    name: &'static str,
    version: &'static str,
    layer: u32,
    path: &'static str,
    analyzer: &'static str,
}

fn package(p: P) -> Package {
    let mut pkg = Package::new(p.kind, p.name, p.version);
    pkg.evidence = Evidence {
        path: p.path.to_owned(),
        layer_index: Some(p.layer),
        layer_diff_id: Some(diff_id(p.layer)),
        analyzer: Some(AnalyzerId::new(p.analyzer, 1)),
    };
    pkg
}

fn deb(
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

fn lang(
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

fn inventory() -> ImageInventory {
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

// --- schema validation -----------------------------------------------------

#[path = "support/schema.rs"]
mod schema;
use schema::{assert_valid, check_cyclonedx_refs, check_spdx_semantics, validation_errors};

#[test]
fn cyclonedx_is_valid_against_the_official_schema() {
    let json = sbom::cyclonedx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    assert_valid("bom-1.5.schema.json", &json);
}

#[test]
fn spdx_is_valid_against_the_official_schema() {
    let json = sbom::spdx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    assert_valid("spdx-2.3.schema.json", &json);
}

/// The validators must be able to fail, or the tests above prove nothing.
#[test]
fn validators_reject_broken_documents() {
    let cdx = sbom::cyclonedx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    let mut cdx: Value = serde_json::from_str(&cdx).unwrap();
    cdx["components"][1]["licenses"] = serde_json::json!([{"license": {"id": "Not-A-License"}}]);
    assert!(!validation_errors("bom-1.5.schema.json", &cdx).is_empty());
    cdx["specVersion"] = Value::from("1.5");
    cdx["components"][1]["type"] = Value::from("gadget");
    assert!(!validation_errors("bom-1.5.schema.json", &cdx).is_empty());

    let spdx = sbom::spdx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    let mut spdx: Value = serde_json::from_str(&spdx).unwrap();
    spdx["relationships"][0]["relationshipType"] = Value::from("OWNS");
    assert!(!validation_errors("spdx-2.3.schema.json", &spdx).is_empty());
    spdx["relationships"][0]["relationshipType"] = Value::from("DESCRIBES");
    assert!(validation_errors("spdx-2.3.schema.json", &spdx).is_empty());
    spdx["packages"][1]
        .as_object_mut()
        .unwrap()
        .remove("downloadLocation");
    assert!(!validation_errors("spdx-2.3.schema.json", &spdx).is_empty());
}

#[test]
fn spdx_ids_and_licenses_are_well_formed() {
    let json = sbom::spdx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    check_spdx_semantics(&json);
}

/// Names and versions come from the image: whatever they contain, the
/// documents stay valid.
#[test]
fn hostile_strings_keep_documents_valid() {
    let mut inventory = inventory();
    let hostile = [
        "",
        " ",
        "a\u{0}b\x1b[31m",
        "../../etc/passwd",
        "名前",
        "x?y#z@w&v=u%41",
        "LicenseRef-evil",
        "MIT AND (",
    ];
    for (i, s) in hostile.iter().enumerate() {
        let mut pkg = lang(
            PackageKind::Python,
            "placeholder",
            "1",
            2,
            "p",
            "python",
            &[],
        );
        pkg.name = (*s).to_owned();
        pkg.version = (*s).to_owned();
        pkg.licenses = vec![(*s).to_owned(), format!("{s}{i}")];
        pkg.evidence.path = (*s).to_owned();
        inventory.packages.push(pkg);
    }
    let meta = metadata();
    let cdx = sbom::cyclonedx::to_json(&meta, &inventory, &tool(), TIMESTAMP).unwrap();
    assert_valid("bom-1.5.schema.json", &cdx);
    let spdx = sbom::spdx::to_json(&meta, &inventory, &tool(), TIMESTAMP).unwrap();
    assert_valid("spdx-2.3.schema.json", &spdx);
    check_spdx_semantics(&spdx);
    let table = sbom::table::render(
        &meta,
        &inventory,
        TableOptions {
            color: false,
            width: Some(100),
        },
    );
    assert!(!table.contains('\x1b') && !table.contains('\0'));
}

// --- determinism -------------------------------------------------------------

#[test]
fn output_does_not_depend_on_input_order() {
    let meta = metadata();
    let forward = inventory();
    let mut backward = inventory();
    backward.packages.reverse();
    backward.diagnostics.reverse();
    let all = |inv: &ImageInventory| {
        [
            sbom::cyclonedx::to_json(&meta, inv, &tool(), TIMESTAMP).unwrap(),
            sbom::spdx::to_json(&meta, inv, &tool(), TIMESTAMP).unwrap(),
            sbom::report::to_json(&meta, inv, &tool(), TIMESTAMP).unwrap(),
            sbom::table::render(
                &meta,
                inv,
                TableOptions {
                    color: false,
                    width: Some(120),
                },
            ),
        ]
    };
    assert_eq!(all(&forward), all(&backward));
}

#[test]
fn cyclonedx_refs_are_unique_and_resolve() {
    let bom = sbom::cyclonedx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    check_cyclonedx_refs(&bom);
    let bom: Value = serde_json::from_str(&bom).unwrap();
    let refs: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    let mut unique = refs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), refs.len(), "{refs:#?}");
    let depends_on: Vec<&str> = bom["dependencies"][0]["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(depends_on, unique);
    assert_eq!(
        bom["dependencies"][0]["ref"],
        bom["metadata"]["component"]["bom-ref"]
    );
}

// --- snapshots ---------------------------------------------------------------

#[test]
fn cyclonedx_snapshot() {
    let json = sbom::cyclonedx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    insta::assert_snapshot!("cyclonedx", json);
}

#[test]
fn spdx_snapshot() {
    let json = sbom::spdx::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    insta::assert_snapshot!("spdx", json);
}

#[test]
fn report_snapshot() {
    let json = sbom::report::to_json(&metadata(), &inventory(), &tool(), TIMESTAMP).unwrap();
    insta::assert_snapshot!("report", json);
}

#[test]
fn table_snapshot() {
    let text = sbom::table::render(
        &metadata(),
        &inventory(),
        TableOptions {
            color: false,
            width: Some(110),
        },
    );
    insta::assert_snapshot!("table", text);
}

#[test]
fn table_with_colour_uses_ansi_and_without_does_not() {
    let colored = sbom::table::render(
        &metadata(),
        &inventory(),
        TableOptions {
            color: true,
            width: Some(110),
        },
    );
    assert!(colored.contains("\x1b["));
    let plain = sbom::table::render(
        &metadata(),
        &inventory(),
        TableOptions {
            color: false,
            width: Some(110),
        },
    );
    assert!(!plain.contains('\x1b'));
}

#[test]
fn empty_inventory_is_still_a_valid_document() {
    let mut meta = metadata();
    meta.history.clear();
    meta.index_digest = None;
    let empty = ImageInventory {
        os: None,
        packages: Vec::new(),
        diagnostics: Vec::new(),
    };
    assert_valid(
        "bom-1.5.schema.json",
        &sbom::cyclonedx::to_json(&meta, &empty, &tool(), TIMESTAMP).unwrap(),
    );
    assert_valid(
        "spdx-2.3.schema.json",
        &sbom::spdx::to_json(&meta, &empty, &tool(), TIMESTAMP).unwrap(),
    );
}
