//! Installed npm packages: every `package.json` with a `name` and a `version`.
//!
//! Like Trivy's `node-pkg` analyzer, any `package.json` counts, not only those
//! under `node_modules/`: the ones outside are the applications themselves
//! (marked `is_application`). `private: true` does not hide a package (Trivy
//! ignores it too): a private app can still bundle vulnerable code.
//! Dependency ranges in the file are not packages and are ignored.

use serde::Deserialize;
use serde_json::Value;

use model::{AnalyzerId, Diagnostic, Package, PackageKind};

use super::lang_common::{dedup_in_order, read_capped};
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

/// Real manifests are a few KiB; those that old npm versions stuffed with the
/// README reach a few hundred KiB.
const MAX_PACKAGE_JSON_BYTES: u64 = 8 << 20;

const FORMAT: &str = "package.json";

/// Finds npm packages from `package.json` files.
#[derive(Debug, Clone, Copy, Default)]
pub struct NpmPackageAnalyzer;

/// Only the fields we read; serde skips the rest without allocating them.
#[derive(Deserialize)]
struct RawPackageJson {
    name: Option<Value>,
    version: Option<Value>,
    license: Option<Value>,
    licenses: Option<Value>,
}

impl Analyzer for NpmPackageAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("npm-package-json", 1)
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.file_name() == "package.json"
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let path = file.meta.path;
        let bytes = read_capped(file.body, MAX_PACKAGE_JSON_BYTES, "package.json")?;
        // Some editors write a byte-order mark, which JSON parsers reject.
        let json = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let raw: RawPackageJson = serde_json::from_slice(json)
            .map_err(|e| AnalyzerError::malformed(FORMAT, e.to_string()))?;

        // Manifests without a name or version (build configs, `{"type":
        // "module"}` markers inside packages) are common and not packages.
        let (Some(Value::String(name)), Some(Value::String(version))) = (&raw.name, &raw.version)
        else {
            return Ok(());
        };
        if name.is_empty() || version.is_empty() {
            return Ok(());
        }
        if !is_valid_name(name) {
            out.diagnostics.push(
                Diagnostic::warning(
                    "npm-invalid-name",
                    format!("package name {name:?} is not a valid npm name; skipped"),
                )
                .with_path(path),
            );
            return Ok(());
        }

        let mut package = Package::new(PackageKind::Npm, name.as_str(), version.as_str());
        package.licenses = licenses(raw.license.as_ref(), raw.licenses.as_ref());
        package.is_application = !is_in_node_modules(path);
        out.packages.push(package);
        Ok(())
    }
}

/// Whether the manifest belongs to an installed dependency rather than to the
/// application being shipped.
fn is_in_node_modules(path: &str) -> bool {
    path.split('/').any(|component| component == "node_modules")
}

/// npm's rule for published names, as Trivy checks it: an optional `@scope/`
/// and a URL-safe name.
fn is_valid_name(name: &str) -> bool {
    let url_safe = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) => url_safe(scope) && url_safe(rest),
            None => false,
        },
        None => url_safe(name),
    }
}

/// `license` as a string or the legacy `{ "type": … }` object; the legacy
/// `licenses` array (of either form) only when `license` says nothing.
fn licenses(license: Option<&Value>, legacy: Option<&Value>) -> Vec<String> {
    fn one(value: &Value) -> Option<String> {
        let text = match value {
            Value::String(s) => s.as_str(),
            Value::Object(map) => map.get("type")?.as_str()?,
            _ => return None,
        };
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
    if let Some(l) = license.and_then(one) {
        return vec![l];
    }
    match legacy {
        Some(Value::Array(items)) => dedup_in_order(items.iter().filter_map(one)),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(path: &str, bytes: &[u8]) -> Result<AnalysisOutput, AnalyzerError> {
        crate::analyzer::run_on_bytes(&NpmPackageAnalyzer, path, bytes)
    }

    #[test]
    fn wants_table() {
        let cases = [
            ("usr/lib/node_modules/npm/package.json", true),
            ("app/package.json", true),
            ("package.json", true),
            ("app/package-lock.json", false),
            ("app/package.json.bak", false),
            ("app/my-package.json", false),
        ];
        for (path, want) in cases {
            let meta = FileMeta {
                path,
                size: 1,
                mode: 0o644,
            };
            assert_eq!(NpmPackageAnalyzer.wants(&meta), want, "{path}");
        }
    }

    /// (path, json, expected (name, version, licenses, is_application))
    #[test]
    fn package_table() {
        type Want = Option<(&'static str, &'static str, &'static [&'static str], bool)>;
        let cases: &[(&str, &str, Want)] = &[
            (
                "app/node_modules/lodash/package.json",
                r#"{"name":"lodash","version":"4.17.21","license":"MIT"}"#,
                Some(("lodash", "4.17.21", &["MIT"], false)),
            ),
            (
                "app/node_modules/@babel/core/package.json",
                r#"{"name":"@babel/core","version":"7.24.0","license":{"type":"MIT","url":"x"}}"#,
                Some(("@babel/core", "7.24.0", &["MIT"], false)),
            ),
            (
                "app/node_modules/a/node_modules/b/package.json",
                r#"{"name":"b","version":"1.0.0","licenses":[{"type":"MIT"},"Apache-2.0",{"type":"MIT"}]}"#,
                Some(("b", "1.0.0", &["MIT", "Apache-2.0"], false)),
            ),
            (
                "srv/app/package.json",
                r#"{"name":"my-app","version":"0.0.1","private":true,"dependencies":{"x":"^1"}}"#,
                Some(("my-app", "0.0.1", &[], true)),
            ),
            (
                "app/node_modules/x/package.json",
                "\u{FEFF}{\"name\":\"x\",\"version\":\"1.2.3\",\"license\":null}",
                Some(("x", "1.2.3", &[], false)),
            ),
            // No name or no version: not a package, and not worth a diagnostic.
            (
                "app/node_modules/x/esm/package.json",
                r#"{"type":"module"}"#,
                None,
            ),
            ("app/package.json", r#"{"name":"x"}"#, None),
            ("app/package.json", r#"{"version":"1.0.0"}"#, None),
            ("app/package.json", r#"{"name":"","version":"1.0.0"}"#, None),
            // Non-string fields are treated as absent.
            ("app/package.json", r#"{"name":"x","version":1}"#, None),
        ];
        for (path, json, want) in cases {
            let out = analyze(path, json.as_bytes()).unwrap();
            assert!(out.diagnostics.is_empty(), "{json}");
            match want {
                None => assert!(out.packages.is_empty(), "{json}"),
                Some((name, version, licenses, app)) => {
                    assert_eq!(out.packages.len(), 1, "{json}");
                    let p = &out.packages[0];
                    assert_eq!(p.kind, PackageKind::Npm);
                    assert_eq!(p.name, *name);
                    assert_eq!(p.version, *version);
                    assert_eq!(p.licenses, *licenses, "{json}");
                    assert_eq!(p.is_application, *app, "{path}");
                }
            }
        }
    }

    #[test]
    fn invalid_names_are_skipped_with_a_warning() {
        for name in ["has space", "@scope", "@/x", "a/b", "<script>"] {
            let json = serde_json::json!({"name": name, "version": "1.0.0"}).to_string();
            let out = analyze("node_modules/x/package.json", json.as_bytes()).unwrap();
            assert!(out.packages.is_empty(), "{name}");
            assert_eq!(out.diagnostics.len(), 1, "{name}");
            assert_eq!(out.diagnostics[0].code, "npm-invalid-name");
        }
    }

    #[test]
    fn malformed_json_is_an_error() {
        let deep = "[".repeat(10_000);
        let cases: Vec<&[u8]> = vec![
            b"{",
            b"",
            b"\x00\xff\xfe garbage",
            b"[1,2,3]",
            b"{\"name\":\"a\",\"name\":\"b\",\"version\":\"1\"}",
            deep.as_bytes(),
        ];
        for input in cases {
            let err = analyze("node_modules/x/package.json", input).unwrap_err();
            assert!(
                matches!(err, AnalyzerError::Malformed { .. }),
                "{:?}: {err}",
                String::from_utf8_lossy(&input[..input.len().min(20)])
            );
        }
    }

    #[test]
    fn oversized_file_hits_the_limit() {
        let mut json = br#"{"name":"x","version":"1.0.0","readme":""#.to_vec();
        json.resize(MAX_PACKAGE_JSON_BYTES as usize + 10, b'a');
        json.extend_from_slice(b"\"}");
        let err = analyze("node_modules/x/package.json", &json).unwrap_err();
        assert!(matches!(err, AnalyzerError::Limit(_)), "{err}");
    }

    /// Real manifests as published to the npm registry.
    #[test]
    fn real_fixtures() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            ("lodash-4.17.21.json", "lodash", "4.17.21", &["MIT"]),
            ("babel-core-7.24.0.json", "@babel/core", "7.24.0", &["MIT"]),
        ];
        for (fixture, name, version, licenses) in cases {
            let path = format!(
                "{}/tests/fixtures/npm/{fixture}",
                env!("CARGO_MANIFEST_DIR")
            );
            let bytes = std::fs::read(&path).unwrap();
            let out = analyze("app/node_modules/x/package.json", &bytes).unwrap();
            let p = &out.packages[0];
            assert_eq!((p.name.as_str(), p.version.as_str()), (*name, *version));
            assert_eq!(p.licenses, *licenses, "{fixture}");
        }
    }
}
