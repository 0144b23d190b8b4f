//! Debian packages from dpkg's database: `var/lib/dpkg/status`, and the
//! one-file-per-package `var/lib/dpkg/status.d/*` that distroless images use
//! instead.
//!
//! The database is a sequence of RFC 822-like paragraphs separated by blank
//! lines. It is read as a stream, keeping only the handful of fields needed,
//! so memory stays bounded by the longest line whatever the file size.

use std::io::{BufRead, BufReader};

use model::{AnalyzerId, Package, PackageKind, SourcePackage};

use super::pkgdb::{self, Line, RecordDiagnostics};
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

const STATUS_FILE: &str = "var/lib/dpkg/status";
const STATUS_DIR: &str = "var/lib/dpkg/status.d/";

/// Reads dpkg's status database and distroless `status.d` files.
pub struct DpkgAnalyzer;

impl Analyzer for DpkgAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("dpkg", 1)
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        if file.path == STATUS_FILE {
            return true;
        }
        file.path.strip_prefix(STATUS_DIR).is_some_and(|name| {
            !name.is_empty() && !name.contains('/') && !name.ends_with(".md5sums")
        })
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        // A distroless status.d file describes a package that is installed by
        // construction; those files are written without a Status field.
        let status_required = file.meta.path == STATUS_FILE;
        let mut reader = BufReader::with_capacity(64 * 1024, file.body);
        let mut paragraphs = ParagraphReader::new(&mut reader);
        let mut diagnostics = RecordDiagnostics::new(file.meta.path, self.id());
        while let Some(paragraph) = paragraphs.next_paragraph()? {
            match package_from_paragraph(&paragraph, status_required) {
                Ok(Some(package)) => out.packages.push(package),
                Ok(None) => {}
                Err(problem) => diagnostics.skipped_record(format!(
                    "dpkg paragraph at line {} skipped: {problem}",
                    paragraph.start_line
                )),
            }
        }
        diagnostics.finish(&mut out.diagnostics);
        Ok(())
    }
}

/// The fields kept from a paragraph, matched case-insensitively as dpkg does.
const FIELDS: [&str; 5] = ["Package", "Status", "Version", "Architecture", "Source"];
const PACKAGE: usize = 0;
const STATUS: usize = 1;
const VERSION: usize = 2;
const ARCHITECTURE: usize = 3;
const SOURCE: usize = 4;

struct Paragraph {
    /// 1-based line number of the paragraph's first line.
    start_line: u64,
    values: [Option<Vec<u8>>; FIELDS.len()],
    /// The first reason the paragraph cannot be trusted.
    problem: Option<String>,
}

impl Paragraph {
    fn new(start_line: u64) -> Paragraph {
        Paragraph {
            start_line,
            values: Default::default(),
            problem: None,
        }
    }

    fn note_problem(&mut self, problem: impl FnOnce() -> String) {
        if self.problem.is_none() {
            self.problem = Some(problem());
        }
    }

    fn text(&self, field: usize) -> Result<Option<&str>, String> {
        match &self.values[field] {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| format!("{} is not valid UTF-8", FIELDS[field])),
        }
    }

    fn required_text(&self, field: usize) -> Result<&str, String> {
        self.text(field)?
            .ok_or_else(|| format!("missing {} field", FIELDS[field]))
    }
}

/// Which field the previous line belonged to, for continuation lines.
enum Previous {
    Nothing,
    Kept(usize),
    Ignored,
}

struct ParagraphReader<'r> {
    reader: &'r mut dyn BufRead,
    line: Vec<u8>,
    line_number: u64,
}

impl<'r> ParagraphReader<'r> {
    fn new(reader: &'r mut dyn BufRead) -> ParagraphReader<'r> {
        ParagraphReader {
            reader,
            line: Vec::new(),
            line_number: 0,
        }
    }

    fn next_paragraph(&mut self) -> std::io::Result<Option<Paragraph>> {
        let mut paragraph: Option<Paragraph> = None;
        let mut previous = Previous::Nothing;
        while let Some(kind) = pkgdb::read_line(self.reader, &mut self.line)? {
            self.line_number += 1;
            let line_number = self.line_number;
            if matches!(kind, Line::Text) && pkgdb::is_blank(&self.line) {
                if paragraph.is_some() {
                    return Ok(paragraph);
                }
                continue;
            }
            let current = paragraph.get_or_insert_with(|| Paragraph::new(line_number));
            if matches!(kind, Line::TooLong) {
                current.note_problem(|| format!("line {line_number} is longer than 1 MiB"));
                previous = Previous::Ignored;
                continue;
            }
            let line = self.line.as_slice();
            if line[0] == b' ' || line[0] == b'\t' {
                match previous {
                    Previous::Nothing => current.note_problem(|| {
                        format!("line {line_number} continues a field but no field precedes it")
                    }),
                    // Single-line fields cannot be folded (dpkg rejects the
                    // embedded newline in a version or name).
                    Previous::Kept(field) => current.note_problem(|| {
                        format!(
                            "{} continues on line {line_number}; it must be one line",
                            FIELDS[field]
                        )
                    }),
                    Previous::Ignored => {}
                }
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                current.note_problem(|| format!("line {line_number} is not a `Field: value` line"));
                previous = Previous::Ignored;
                continue;
            };
            let name = &line[..colon];
            if name.is_empty()
                || name
                    .iter()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                current.note_problem(|| format!("line {line_number} has an invalid field name"));
                previous = Previous::Ignored;
                continue;
            }
            let Some(field) = FIELDS
                .iter()
                .position(|wanted| name.eq_ignore_ascii_case(wanted.as_bytes()))
            else {
                previous = Previous::Ignored;
                continue;
            };
            previous = Previous::Kept(field);
            if current.values[field].is_some() {
                current.note_problem(|| {
                    format!("duplicate {} field on line {line_number}", FIELDS[field])
                });
                continue;
            }
            current.values[field] = Some(line[colon + 1..].trim_ascii().to_vec());
        }
        Ok(paragraph)
    }
}

/// `Ok(None)` for a paragraph that is well-formed but not an installed package.
fn package_from_paragraph(
    paragraph: &Paragraph,
    status_required: bool,
) -> Result<Option<Package>, String> {
    if let Some(problem) = &paragraph.problem {
        return Err(problem.clone());
    }
    match paragraph.text(STATUS)? {
        Some(status) if !is_installed(status)? => return Ok(None),
        Some(_) => {}
        None if status_required => return Err("missing Status field".to_owned()),
        None => {}
    }
    let name = paragraph.required_text(PACKAGE)?;
    check_package_name(name)?;
    let version = paragraph.required_text(VERSION)?;
    check_version(version)?;
    let arch = match paragraph.text(ARCHITECTURE)? {
        Some(arch) => {
            check_token("Architecture", arch)?;
            Some(arch.to_owned())
        }
        None => None,
    };
    let source = match paragraph.text(SOURCE)? {
        Some(source) => parse_source(source)?,
        None => (name, None),
    };
    let mut package = Package::new(PackageKind::Deb, name, version);
    package.arch = arch;
    package.source = Some(SourcePackage {
        name: source.0.to_owned(),
        version: Some(source.1.unwrap_or(version).to_owned()),
    });
    Ok(Some(package))
}

/// dpkg's `Status: want flag state`. A package is on disk when its state is
/// `installed`, whether the admin wants it installed or held.
fn is_installed(status: &str) -> Result<bool, String> {
    let words: Vec<&str> = status.split_ascii_whitespace().collect();
    let [want, flag, state] = words.as_slice() else {
        return Err(format!("Status {status:?} is not three words"));
    };
    Ok(matches!(*want, "install" | "hold") && *flag == "ok" && *state == "installed")
}

/// `name` or `name (version)`.
fn parse_source(value: &str) -> Result<(&str, Option<&str>), String> {
    let Some((name, rest)) = value.split_once('(') else {
        check_package_name(value).map_err(|e| format!("Source: {e}"))?;
        return Ok((value, None));
    };
    let name = name.trim_ascii();
    let version = rest
        .trim_ascii_end()
        .strip_suffix(')')
        .map(str::trim_ascii)
        .ok_or_else(|| format!("Source {value:?} has an unclosed version"))?;
    check_package_name(name).map_err(|e| format!("Source: {e}"))?;
    check_version(version).map_err(|e| format!("Source: {e}"))?;
    Ok((name, Some(version)))
}

fn check_token(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("empty {what}"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{what} {value:?} contains whitespace"));
    }
    Ok(())
}

fn check_package_name(name: &str) -> Result<(), String> {
    check_token("package name", name)?;
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "package name {name:?} must start with a letter or digit"
        ));
    }
    Ok(())
}

/// `[epoch:]upstream[-revision]`; dpkg refuses a non-numeric epoch and an
/// empty upstream version.
fn check_version(version: &str) -> Result<(), String> {
    check_token("version", version)?;
    let upstream = match version.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("version {version:?} has a non-numeric epoch"));
            }
            rest
        }
        None => version,
    };
    if upstream.is_empty() || upstream.starts_with('-') {
        return Err(format!("version {version:?} has an empty upstream part"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::pkgdb::testing::{run, summary};

    const PATH: &str = "var/lib/dpkg/status";

    #[test]
    fn wants_status_and_status_d_files_only() {
        let cases = [
            ("var/lib/dpkg/status", true),
            ("var/lib/dpkg/status.d/libc6", true),
            ("var/lib/dpkg/status.d/base-files", true),
            ("var/lib/dpkg/status.d/libc6.md5sums", false),
            ("var/lib/dpkg/status.d/", false),
            ("var/lib/dpkg/status.d/nested/x", false),
            ("var/lib/dpkg/status-old", false),
            ("var/lib/dpkg/available", false),
            ("usr/var/lib/dpkg/status", false),
        ];
        for (path, expected) in cases {
            let meta = FileMeta {
                path,
                size: 1,
                mode: 0o644,
            };
            assert_eq!(DpkgAnalyzer.wants(&meta), expected, "{path}");
        }
    }

    /// (status file, packages as `name version arch source`, diagnostics' messages)
    #[test]
    fn paragraphs_to_packages() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "Package: a\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n",
                &["a 1.0-1 amd64 a=1.0-1"],
                &[],
            ),
            (
                "Package: libz\nStatus: hold ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSource: zlib\n",
                &["libz 1:1.2.13.dfsg-1 amd64 zlib=1:1.2.13.dfsg-1"],
                &[],
            ),
            (
                "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl (3.0.11-1~deb12u2+b1)\nArchitecture: amd64\n",
                &["libssl3 3.0.11-1~deb12u2 amd64 openssl=3.0.11-1~deb12u2+b1"],
                &[],
            ),
            (
                "package: lower\nSTATUS: install ok installed\nversion: 2\n",
                &["lower 2 - lower=2"],
                &[],
            ),
            (
                "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: purged\nStatus: purge ok not-installed\n\nPackage: half\nStatus: install ok half-installed\nVersion: 1\n\nPackage: broken\nStatus: install reinstreq installed\nVersion: 1\n",
                &[],
                &[],
            ),
            (
                "Package: a\r\nStatus: install ok installed\r\nVersion: 1\r\nDescription: x\r\n more\r\n .\r\n\r\nPackage: b\r\nStatus: install ok installed\r\nVersion: 2\r\n",
                &["a 1 - a=1", "b 2 - b=2"],
                &[],
            ),
            (
                "\n\n  \nPackage: a\nStatus: install ok installed\nVersion: 1\n\n\n \t\nPackage: b\nStatus: install ok installed\nVersion: 2",
                &["a 1 - a=1", "b 2 - b=2"],
                &[],
            ),
            (
                "Package: noversion\nStatus: install ok installed\n\nPackage: ok\nStatus: install ok installed\nVersion: 1\n",
                &["ok 1 - ok=1"],
                &["dpkg paragraph at line 1 skipped: missing Version field"],
            ),
            (
                "Status: install ok installed\nVersion: 1\n",
                &[],
                &["dpkg paragraph at line 1 skipped: missing Package field"],
            ),
            (
                "Package: nostatus\nVersion: 1\n",
                &[],
                &["dpkg paragraph at line 1 skipped: missing Status field"],
            ),
            (
                "Package: a\nStatus: install ok installed\nVersion: 1\n 2\n",
                &[],
                &[
                    "dpkg paragraph at line 1 skipped: Version continues on line 4; it must be one line",
                ],
            ),
            (
                " leading continuation\nPackage: a\nStatus: install ok installed\nVersion: 1\n",
                &[],
                &[
                    "dpkg paragraph at line 1 skipped: line 1 continues a field but no field precedes it",
                ],
            ),
            (
                "Package: a\nPackage: b\nStatus: install ok installed\nVersion: 1\n",
                &[],
                &["dpkg paragraph at line 1 skipped: duplicate Package field on line 2"],
            ),
            (
                "Package: a\nStatus: installed\nVersion: 1\n",
                &[],
                &["dpkg paragraph at line 1 skipped: Status \"installed\" is not three words"],
            ),
            (
                "Package: a\nStatus: install ok installed\nVersion: x:1\n",
                &[],
                &["dpkg paragraph at line 1 skipped: version \"x:1\" has a non-numeric epoch"],
            ),
            (
                "Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (1.0\n",
                &[],
                &["dpkg paragraph at line 1 skipped: Source \"b (1.0\" has an unclosed version"],
            ),
            (
                "Package: a\nStatus: install ok installed\nVersion: 1\ngarbage line\n",
                &[],
                &["dpkg paragraph at line 1 skipped: line 4 is not a `Field: value` line"],
            ),
            (
                "Package: -a\nStatus: install ok installed\nVersion: 1\n",
                &[],
                &[
                    "dpkg paragraph at line 1 skipped: package name \"-a\" must start with a letter or digit",
                ],
            ),
            (
                "Package: a\nStatus: install ok installed\nVersion: \n",
                &[],
                &["dpkg paragraph at line 1 skipped: empty version"],
            ),
        ];
        for (input, packages, messages) in cases {
            let out = run(&DpkgAnalyzer, PATH, input.as_bytes()).unwrap();
            let (got_packages, got_messages) = summary(&out);
            assert_eq!(&got_packages, packages, "packages of {input:?}");
            assert_eq!(&got_messages, messages, "diagnostics of {input:?}");
        }
    }

    #[test]
    fn non_utf8_outside_kept_fields_is_ignored() {
        let input = b"Package: a\nStatus: install ok installed\nVersion: 1\nDescription: caf\xe9\n\nPackage: b\xff\nStatus: install ok installed\nVersion: 1\n";
        let out = run(&DpkgAnalyzer, PATH, input).unwrap();
        let (packages, messages) = summary(&out);
        assert_eq!(packages, ["a 1 - a=1"]);
        assert_eq!(
            messages,
            ["dpkg paragraph at line 6 skipped: Package is not valid UTF-8"]
        );
    }

    #[test]
    fn status_d_files_need_no_status() {
        let input = "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n";
        let out = run(
            &DpkgAnalyzer,
            "var/lib/dpkg/status.d/base-files",
            input.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            summary(&out).0,
            ["base-files 12.4+deb12u5 amd64 base-files=12.4+deb12u5"]
        );
        let config_files = "Package: x\nStatus: deinstall ok config-files\nVersion: 1\n";
        let out = run(
            &DpkgAnalyzer,
            "var/lib/dpkg/status.d/x",
            config_files.as_bytes(),
        )
        .unwrap();
        assert!(out.packages.is_empty());
    }

    #[test]
    fn overlong_line_skips_only_its_paragraph() {
        let mut input =
            b"Package: a\nStatus: install ok installed\nVersion: 1\nDescription: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', pkgdb::MAX_LINE_BYTES + 1));
        input.extend_from_slice(b"\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n");
        let out = run(&DpkgAnalyzer, PATH, &input).unwrap();
        let (packages, messages) = summary(&out);
        assert_eq!(packages, ["b 2 - b=2"]);
        assert_eq!(
            messages,
            ["dpkg paragraph at line 1 skipped: line 4 is longer than 1 MiB"]
        );
    }
}
