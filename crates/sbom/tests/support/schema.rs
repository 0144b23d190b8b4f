//! Validates exported documents against the official schemas committed in
//! `crates/sbom/tests/schemas/`, offline. Shared by the sbom tests and the
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
