//! Installed Python distributions: `*.dist-info/METADATA` (wheels) and
//! `*.egg-info/PKG-INFO`, `EGG-INFO/PKG-INFO` or a bare `*.egg-info` file
//! (setuptools eggs), and zipped `*.egg` archives (their `EGG-INFO/PKG-INFO`).
//!
//! All are "core metadata": RFC 822 style headers, then a blank line, then
//! the long description. Only the headers are read.
//!
//! Like Trivy, a `License-File` is not classified here (the analyzer sees one
//! file at a time), so such packages may have no license.

use std::io::{BufRead, BufReader, Read, Seek};

use zip::ZipArchive;

use model::{AnalyzerId, Diagnostic, Package, PackageKind};

use super::lang_common::{BoundedLines, dedup_in_order};
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

/// Upper bound on the header section. Real headers are a few KiB; old
/// `PKG-INFO` files put the whole description into a folded `Description:`
/// header, which reaches a few hundred KiB at most.
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// Entries of a zipped egg scanned for its metadata file.
const MAX_EGG_ENTRIES: usize = 100_000;

/// A `License:` value longer than this is the license text itself (some
/// projects paste it there), not a name worth reporting.
const MAX_LICENSE_NAME_LEN: usize = 128;

const FORMAT: &str = "python core metadata";

/// Finds installed Python distributions from their core metadata files.
#[derive(Debug, Clone, Copy, Default)]
pub struct PythonPackageAnalyzer;

impl Analyzer for PythonPackageAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("python-metadata", 1)
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        let path = file.path;
        path.ends_with(".dist-info/METADATA")
            || path.ends_with(".egg-info/PKG-INFO")
            || path.ends_with("EGG-INFO/PKG-INFO")
            || path.ends_with(".egg-info")
            || path.ends_with(".egg")
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let path = file.meta.path;
        let headers = if path.ends_with(".egg") {
            match read_egg_headers(file.body)? {
                Some(headers) => headers,
                // An egg without metadata (Trivy skips those too).
                None => return Ok(()),
            }
        } else {
            read_headers(BufReader::new(file.body))?
        };
        if headers.truncated {
            out.diagnostics.push(
                Diagnostic::warning(
                    "python-metadata-truncated",
                    format!(
                        "metadata headers exceed {MAX_HEADER_BYTES} bytes; only the first part was read"
                    ),
                )
                .with_path(path),
            );
        }
        let licenses = headers.licenses();
        let name = headers
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| AnalyzerError::malformed(FORMAT, "no Name header"))?;
        let version = headers
            .version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AnalyzerError::malformed(FORMAT, "no Version header"))?;
        let mut package = Package::new(PackageKind::Python, name, version);
        package.licenses = licenses;
        out.packages.push(package);
        Ok(())
    }
}

/// The headers we need from a core metadata file.
#[derive(Debug, Default, PartialEq, Eq)]
struct CoreMetadata {
    name: Option<String>,
    version: Option<String>,
    license_expression: Option<String>,
    license: Option<String>,
    /// `License:` was folded over several lines: it holds license text.
    license_multiline: bool,
    license_classifiers: Vec<String>,
    truncated: bool,
}

impl CoreMetadata {
    /// PEP 639 `License-Expression` first (`License` is deprecated by it),
    /// then a short `License`, then the `License ::` trove classifiers.
    fn licenses(&self) -> Vec<String> {
        if let Some(expr) = self.license_expression.as_deref().filter(|e| !e.is_empty()) {
            return vec![expr.to_owned()];
        }
        if let Some(license) = self.license.as_deref()
            && !self.license_multiline
            && !license.is_empty()
            && !license.eq_ignore_ascii_case("UNKNOWN")
            && license.len() <= MAX_LICENSE_NAME_LEN
        {
            return vec![license.to_owned()];
        }
        dedup_in_order(self.license_classifiers.iter().cloned())
    }
}

/// Which header a continuation line belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Current {
    License,
    Other,
}

/// The headers of the metadata file inside a zipped egg; `None` when it has none.
fn read_egg_headers(body: impl Read + Seek) -> Result<Option<CoreMetadata>, AnalyzerError> {
    let mut zip = ZipArchive::new(body)
        .map_err(|e| AnalyzerError::malformed("python egg", format!("not a readable zip: {e}")))?;
    if zip.len() > MAX_EGG_ENTRIES {
        return Err(AnalyzerError::Limit(format!(
            "egg has {} entries, more than {MAX_EGG_ENTRIES}",
            zip.len()
        )));
    }
    let found = (0..zip.len()).find(|&index| {
        zip.name_for_index(index)
            .and_then(Result::ok)
            .is_some_and(|name| is_egg_metadata(&name))
    });
    let Some(index) = found else {
        return Ok(None);
    };
    let entry = zip
        .by_index(index)
        .map_err(|e| AnalyzerError::malformed("python egg", format!("metadata entry: {e}")))?;
    read_headers(BufReader::new(entry)).map(Some)
}

/// Trivy's egg metadata paths.
fn is_egg_metadata(name: &str) -> bool {
    name.ends_with("EGG-INFO/PKG-INFO")
        || name.ends_with(".egg-info/PKG-INFO")
        || name.ends_with(".egg-info")
}

fn read_headers(reader: impl BufRead) -> Result<CoreMetadata, AnalyzerError> {
    let mut lines = BoundedLines::new(reader, MAX_HEADER_BYTES);
    let mut meta = CoreMetadata::default();
    let mut current = Current::Other;
    while let Some(line) = lines.next_line()? {
        if line.is_empty() {
            // The blank line ends the headers; the description follows.
            break;
        }
        if line.starts_with([' ', '\t']) {
            if current == Current::License {
                let license = meta.license.get_or_insert_with(String::new);
                let more = line.trim();
                if !more.is_empty() {
                    if !license.is_empty() {
                        license.push(' ');
                    }
                    license.push_str(more);
                    meta.license_multiline = true;
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            // Not a header line: like Go's textproto (which Trivy uses) stop
            // here rather than risk reading description text as headers.
            break;
        };
        let value = value.trim();
        current = Current::Other;
        let key = key.trim();
        if key.eq_ignore_ascii_case("Name") {
            meta.name.get_or_insert_with(|| value.to_owned());
        } else if key.eq_ignore_ascii_case("Version") {
            meta.version.get_or_insert_with(|| value.to_owned());
        } else if key.eq_ignore_ascii_case("License-Expression") {
            meta.license_expression
                .get_or_insert_with(|| value.to_owned());
        } else if key.eq_ignore_ascii_case("License") {
            if meta.license.is_none() {
                meta.license = Some(value.to_owned());
                current = Current::License;
            }
        } else if key.eq_ignore_ascii_case("Classifier")
            && let Some(rest) = value.strip_prefix("License :: ")
            && let Some(last) = rest.rsplit(" :: ").next()
        {
            let last = last.trim();
            // A bare "License :: OSI Approved" names no license.
            if !last.is_empty() && last != "OSI Approved" {
                meta.license_classifiers.push(last.to_owned());
            }
        }
    }
    meta.truncated = lines.hit_limit();
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn analyze(path: &str, bytes: &[u8]) -> Result<AnalysisOutput, AnalyzerError> {
        crate::analyzer::run_on_bytes(&PythonPackageAnalyzer, path, bytes)
    }

    #[test]
    fn wants_table() {
        let cases = [
            (
                "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
                true,
            ),
            ("usr/lib/python3/dist-packages/crcmod-1.7.egg-info", true),
            (
                "usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO",
                true,
            ),
            ("opt/app/foo-1.0-py3.9.egg/EGG-INFO/PKG-INFO", true),
            (
                "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/RECORD",
                false,
            ),
            (
                "usr/lib/python3.11/site-packages/requests/METADATA.py",
                false,
            ),
            (
                "usr/lib/python2.7/site-packages/kitchen-1.2.6-py2.7.egg",
                true,
            ),
            ("srv/PKG-INFO", false),
        ];
        for (path, want) in cases {
            let meta = FileMeta {
                path,
                size: 1,
                mode: 0o644,
            };
            assert_eq!(PythonPackageAnalyzer.wants(&meta), want, "{path}");
        }
    }

    /// (input, name, version, licenses)
    #[test]
    fn header_table() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n\nbody",
                "requests",
                "2.31.0",
                &["Apache 2.0"],
            ),
            // License-Expression wins over License.
            (
                "Metadata-Version: 2.4\nName: Foo_Bar\nVersion: 1.0\nLicense: old\nLicense-Expression: MIT OR Apache-2.0\n",
                "Foo_Bar",
                "1.0",
                &["MIT OR Apache-2.0"],
            ),
            // UNKNOWN falls through to the classifiers, deduplicated.
            (
                "Name: x\nVersion: 0.1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved :: MIT License\nClassifier: Programming Language :: Python\nClassifier: License :: OSI Approved :: BSD License\n",
                "x",
                "0.1",
                &["MIT License", "BSD License"],
            ),
            // A folded License header is license text, not a name.
            (
                "Name: numpy\nVersion: 1.26.4\nLicense: Copyright (c) 2005\n        All rights reserved.\nClassifier: License :: OSI Approved :: BSD License\n",
                "numpy",
                "1.26.4",
                &["BSD License"],
            ),
            // CRLF line ends, key case, whitespace around values.
            (
                "name:  six \r\nVERSION: 1.16.0\r\n\r\nName: other\n",
                "six",
                "1.16.0",
                &[],
            ),
            // Headers after the blank line belong to the description.
            ("Name: a\nVersion: 1\n\nLicense: GPL\n", "a", "1", &[]),
            // A bare "OSI Approved" classifier names nothing.
            (
                "Name: a\nVersion: 1\nClassifier: License :: OSI Approved\n",
                "a",
                "1",
                &[],
            ),
        ];
        for (input, name, version, licenses) in cases {
            let out = analyze("x.dist-info/METADATA", input.as_bytes()).unwrap();
            assert_eq!(out.packages.len(), 1, "{input:?}");
            let p = &out.packages[0];
            assert_eq!(p.kind, PackageKind::Python);
            assert_eq!(p.name, *name, "{input:?}");
            assert_eq!(p.version, *version, "{input:?}");
            assert_eq!(p.licenses, *licenses, "{input:?}");
            assert!(out.diagnostics.is_empty());
        }
    }

    #[test]
    fn missing_fields_and_garbage_are_malformed() {
        let cases: &[&[u8]] = &[
            b"Name: a\n\nVersion: 1\n",
            b"Version: 1\n",
            b"Name: \nVersion: 1\n",
            b"",
            b"\x00\x01\x02\xff\xfe binary garbage \x89PNG",
            b"this is not a header\nName: a\nVersion: 1\n",
        ];
        for input in cases {
            let err = analyze("x.egg-info", input).unwrap_err();
            assert!(
                matches!(err, AnalyzerError::Malformed { .. }),
                "{input:?}: {err}"
            );
        }
    }

    #[test]
    fn huge_headers_are_cut_with_a_warning() {
        let mut input = b"Name: big\nVersion: 9\nDescription: start\n".to_vec();
        let filler = b"        a line of a description folded into the header\n";
        while (input.len() as u64) < MAX_HEADER_BYTES + 10 {
            input.extend_from_slice(filler);
        }
        let out = analyze("big.egg-info/PKG-INFO", &input).unwrap();
        assert_eq!(out.packages[0].name, "big");
        assert_eq!(out.diagnostics.len(), 1);
        assert_eq!(out.diagnostics[0].code, "python-metadata-truncated");
    }

    /// A real egg built by `setup.py bdist_egg` (setuptools) from six's sdist.
    #[test]
    fn zipped_egg() {
        let path = format!(
            "{}/tests/fixtures/python/six-1.16.0-py3.11.egg",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = analyze(
            "site-packages/six-1.16.0-py3.11.egg",
            &std::fs::read(path).unwrap(),
        )
        .unwrap();
        let p = &out.packages[0];
        assert_eq!((p.name.as_str(), p.version.as_str()), ("six", "1.16.0"));
        assert_eq!(p.licenses, ["MIT"]);
    }

    #[test]
    fn eggs_without_metadata_or_not_zips() {
        let mut empty = zip::ZipWriter::new(Cursor::new(Vec::new()));
        empty
            .start_file("six.py", zip::write::SimpleFileOptions::default())
            .unwrap();
        let empty = empty.finish().unwrap().into_inner();
        let out = analyze("x.egg", &empty).unwrap();
        assert!(out.packages.is_empty() && out.diagnostics.is_empty());

        let err = analyze("x.egg", b"Name: x\nVersion: 1\n").unwrap_err();
        assert!(matches!(err, AnalyzerError::Malformed { .. }), "{err}");
    }

    /// Real metadata files: a wheel's METADATA (PEP 639 era), an sdist-era
    /// PKG-INFO and a Debian `.egg-info` file.
    #[test]
    fn real_fixtures() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "requests-2.32.3.METADATA",
                "requests",
                "2.32.3",
                &["Apache-2.0"],
            ),
            ("attrs-25.3.0.METADATA", "attrs", "25.3.0", &["MIT"]),
            ("six-1.16.0.PKG-INFO", "six", "1.16.0", &["MIT"]),
        ];
        for (fixture, name, version, licenses) in cases {
            let path = format!(
                "{}/tests/fixtures/python/{fixture}",
                env!("CARGO_MANIFEST_DIR")
            );
            let bytes = std::fs::read(&path).unwrap();
            let out = analyze("x.dist-info/METADATA", &bytes).unwrap();
            let p = &out.packages[0];
            assert_eq!(
                (p.name.as_str(), p.version.as_str()),
                (*name, *version),
                "{fixture}"
            );
            assert_eq!(p.licenses, *licenses, "{fixture}");
        }
    }
}
