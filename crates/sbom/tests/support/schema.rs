//! Validates exported documents against the official schemas committed in
//! `crates/sbom/tests/schemas/`, offline, and checks what the schemas leave
//! to the specifications (unique ids, references that resolve). Shared by the sbom tests and the
//! CLI's end-to-end tests (included with `#[path]`), so both check against
//! the same copies in the same way.

use std::path::PathBuf;

use serde_json::Value;

/// `crates/sbom/tests/schemas`, whichever crate of the workspace includes this file.
fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sbom/tests/schemas")
}

fn load(name: &str) -> Value {
    let path = schema_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading schema {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing schema {name}: {e}"))
}

/// Resolves the schemas' cross-references to the committed copies; any
/// other URI is an error, so validation never touches the network.
struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let file = match uri.as_str() {
            "http://cyclonedx.org/schema/spdx.schema.json" => "spdx.schema.json",
            "http://cyclonedx.org/schema/jsf-0.82.schema.json" => "jsf-0.82.schema.json",
            other => return Err(format!("schema {other} is not available offline").into()),
        };
        Ok(load(file))
    }
}

/// Every violation of `schema_file` (e.g. `bom-1.5.schema.json`,
/// `spdx-2.3.schema.json`) in `document`, with its location.
pub fn validation_errors(schema_file: &str, document: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_retriever(LocalSchemas)
        .should_validate_formats(true)
        .build(&load(schema_file))
        .unwrap_or_else(|e| panic!("compiling schema {schema_file}: {e}"));
    validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Panics with every violation when `json` is not valid against `schema_file`.
pub fn assert_valid(schema_file: &str, json: &str) {
    let document: Value = serde_json::from_str(json).expect("document is JSON");
    let errors = validation_errors(schema_file, &document);
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

/// What the SPDX schema leaves to the spec: id syntax, unique ids,
/// relationships that resolve, license expressions that parse and whose
/// `LicenseRef-`s are defined in the document.
pub fn check_spdx_semantics(json: &str) {
    let doc: Value = serde_json::from_str(json).unwrap();
    let idstring = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    let packages = doc["packages"].as_array().unwrap();
    let mut ids: Vec<&str> = packages
        .iter()
        .map(|p| p["SPDXID"].as_str().unwrap())
        .collect();
    for id in &ids {
        let rest = id
            .strip_prefix("SPDXRef-")
            .unwrap_or_else(|| panic!("{id}"));
        assert!(idstring(rest), "{id}");
    }
    ids.push("SPDXRef-DOCUMENT");
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "SPDX ids must be unique");
    for r in doc["relationships"].as_array().unwrap() {
        for key in ["spdxElementId", "relatedSpdxElement"] {
            let id = r[key].as_str().unwrap();
            assert!(ids.binary_search(&id).is_ok(), "dangling {id}");
        }
    }
    let defined: Vec<&str> = doc["hasExtractedLicensingInfos"]
        .as_array()
        .map(|infos| {
            infos
                .iter()
                .map(|i| i["licenseId"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default();
    for id in &defined {
        assert!(idstring(id.strip_prefix("LicenseRef-").unwrap()), "{id}");
    }
    for p in packages {
        for key in ["licenseConcluded", "licenseDeclared"] {
            let expression = p[key].as_str().unwrap();
            if expression == "NOASSERTION" {
                continue;
            }
            let parsed = spdx::Expression::parse(expression)
                .unwrap_or_else(|e| panic!("{expression:?} is not a valid SPDX expression: {e}"));
            for requirement in parsed.requirements() {
                if let spdx::LicenseItem::Other(other) = &requirement.req.license {
                    let id = format!("LicenseRef-{}", other.lic_ref);
                    assert!(defined.contains(&id.as_str()), "{id} is not defined");
                }
            }
        }
    }
}

/// CycloneDX references: every `bom-ref` (components' and vulnerabilities')
/// is unique, every dependency names components that exist, starting from
/// the image itself, and every vulnerability affects existing components.
pub fn check_cyclonedx_refs(json: &str) {
    let bom: Value = serde_json::from_str(json).unwrap();
    let mut refs: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    let vulnerabilities = bom["vulnerabilities"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let vulnerability_refs: Vec<&str> = bom["vulnerabilities"]
        .as_array()
        .map(|v| v.iter().map(|v| v["bom-ref"].as_str().unwrap()).collect())
        .unwrap_or_default();
    let count = refs.len() + vulnerability_refs.len();
    let mut all: Vec<&str> = refs.iter().chain(&vulnerability_refs).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "bom-refs must be unique");
    refs.sort_unstable();
    for vulnerability in &vulnerabilities {
        for affects in vulnerability["affects"].as_array().into_iter().flatten() {
            let target = affects["ref"].as_str().unwrap();
            assert!(refs.binary_search(&target).is_ok(), "dangling {target}");
        }
    }
    let image = bom["metadata"]["component"]["bom-ref"].as_str().unwrap();
    assert_eq!(bom["dependencies"][0]["ref"], image);
    for dependency in bom["dependencies"].as_array().unwrap() {
        for target in dependency["dependsOn"].as_array().unwrap() {
            let target = target.as_str().unwrap();
            assert!(refs.binary_search(&target).is_ok(), "dangling {target}");
        }
    }
}
