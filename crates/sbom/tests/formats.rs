//! The writers on a realistic image: validated against the official
//! CycloneDX 1.5 and SPDX 2.3 JSON schemas, and snapshotted.

use model::{ImageInventory, PackageKind};
use sbom::table::TableOptions;
use serde_json::Value;

#[path = "support/image.rs"]
mod image;
use image::{TIMESTAMP, inventory, lang, metadata, tool};

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
