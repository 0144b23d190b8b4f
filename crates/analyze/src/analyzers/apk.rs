//! Alpine (and Wolfi) packages from apk's database, `lib/apk/db/installed`.
//!
//! The database is a sequence of records separated by blank lines; each line
//! is a one-letter key, a colon and a value (`P:musl`). Only the package
//! fields are kept: the file lists (`F:`, `R:`, `Z:`, …) that make up most of
//! the file are read past as a stream.

use std::io::{BufRead, BufReader};

use model::{AnalyzerId, Package, PackageKind, SourcePackage};

use super::pkgdb::{self, Line, RecordDiagnostics};
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

const INSTALLED_DB: &str = "lib/apk/db/installed";

/// Reads apk's installed-packages database.
pub struct ApkAnalyzer;

impl Analyzer for ApkAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("apk", 1)
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path == INSTALLED_DB
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let mut reader = BufReader::with_capacity(64 * 1024, file.body);
        let mut diagnostics = RecordDiagnostics::new(file.meta.path, self.id());
        let mut records = RecordReader {
            reader: &mut reader,
            line: Vec::new(),
            line_number: 0,
        };
        while let Some(record) = records.next_record()? {
            match package_from_record(&record) {
                Ok(package) => out.packages.push(package),
                Err(problem) => diagnostics.skipped_record(format!(
                    "apk record at line {} skipped: {problem}",
                    record.start_line
                )),
            }
        }
        diagnostics.finish(&mut out.diagnostics);
        Ok(())
    }
}

/// Keys kept from a record.
const KEYS: [u8; 5] = [b'P', b'V', b'A', b'o', b'L'];
const NAME: usize = 0;
const VERSION: usize = 1;
const ARCH: usize = 2;
const ORIGIN: usize = 3;
const LICENSE: usize = 4;

struct Record {
    start_line: u64,
    values: [Option<Vec<u8>>; KEYS.len()],
    problem: Option<String>,
}

impl Record {
    fn note_problem(&mut self, problem: impl FnOnce() -> String) {
        if self.problem.is_none() {
            self.problem = Some(problem());
        }
    }

    fn text(&self, key: usize) -> Result<Option<&str>, String> {
        match &self.values[key] {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| format!("{}: is not valid UTF-8", KEYS[key] as char)),
        }
    }
}

struct RecordReader<'r> {
    reader: &'r mut dyn BufRead,
    line: Vec<u8>,
    line_number: u64,
}

impl RecordReader<'_> {
    fn next_record(&mut self) -> std::io::Result<Option<Record>> {
        let mut record: Option<Record> = None;
        while let Some(kind) = pkgdb::read_line(self.reader, &mut self.line)? {
            self.line_number += 1;
            let line_number = self.line_number;
            if matches!(kind, Line::Text) && pkgdb::is_blank(&self.line) {
                if record.is_some() {
                    return Ok(record);
                }
                continue;
            }
            let current = record.get_or_insert_with(|| Record {
                start_line: line_number,
                values: Default::default(),
                problem: None,
            });
            if matches!(kind, Line::TooLong) {
                current.note_problem(|| format!("line {line_number} is longer than 1 MiB"));
                continue;
            }
            let line = self.line.as_slice();
            let key = line[0];
            if line.get(1) != Some(&b':') || !key.is_ascii_alphanumeric() {
                current.note_problem(|| format!("line {line_number} is not a `K:value` line"));
                continue;
            }
            let Some(slot) = KEYS.iter().position(|k| *k == key) else {
                continue;
            };
            if current.values[slot].is_some() {
                // Two names in one record mean a lost separator between two
                // packages: neither can be told apart reliably.
                current
                    .note_problem(|| format!("duplicate {}: on line {line_number}", key as char));
                continue;
            }
            current.values[slot] = Some(line[2..].trim_ascii().to_vec());
        }
        Ok(record)
    }
}

fn package_from_record(record: &Record) -> Result<Package, String> {
    if let Some(problem) = &record.problem {
        return Err(problem.clone());
    }
    let name = record.text(NAME)?.ok_or("missing P: (name)")?;
    check_token("name", name)?;
    let version = record.text(VERSION)?.ok_or("missing V: (version)")?;
    check_token("version", version)?;
    let mut package = Package::new(PackageKind::Apk, name, version);
    if let Some(arch) = record.text(ARCH)? {
        check_token("arch", arch)?;
        package.arch = Some(arch.to_owned());
    }
    // Subpackages (`libcrypto3`) share their origin's (`openssl`) version:
    // apk builds every subpackage of an APKBUILD together. Secdb advisories
    // are written against the origin.
    let origin = match record.text(ORIGIN)? {
        Some(origin) => {
            check_token("origin", origin)?;
            origin
        }
        None => name,
    };
    package.source = Some(SourcePackage {
        name: origin.to_owned(),
        version: Some(version.to_owned()),
    });
    if let Some(license) = record.text(LICENSE)?
        && !license.is_empty()
    {
        package.licenses.push(license.to_owned());
    }
    Ok(package)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::pkgdb::testing::{run, summary};

    #[test]
    fn wants_only_the_installed_db() {
        for (path, expected) in [
            ("lib/apk/db/installed", true),
            ("lib/apk/db/installed.new", false),
            ("lib/apk/db/triggers", false),
            ("usr/lib/apk/db/installed", false),
        ] {
            let meta = FileMeta {
                path,
                size: 1,
                mode: 0o644,
            };
            assert_eq!(ApkAnalyzer.wants(&meta), expected, "{path}");
        }
    }

    /// (installed db, packages as `name version arch origin=version [licenses]`, messages)
    #[test]
    fn records_to_packages() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\nL:Apache-2.0\no:openssl\nF:lib\nR:libcrypto.so.3\n",
                &["libcrypto3 3.1.4-r5 x86_64 openssl=3.1.4-r5 [\"Apache-2.0\"]"],
                &[],
            ),
            (
                "P:musl\nV:1.2.4-r2\n\nP:busybox\nV:1.36.1-r15\nA:aarch64\nL:GPL-2.0-only\n",
                &[
                    "musl 1.2.4-r2 - musl=1.2.4-r2",
                    "busybox 1.36.1-r15 aarch64 busybox=1.36.1-r15 [\"GPL-2.0-only\"]",
                ],
                &[],
            ),
            (
                "P:a\r\nV:1-r0\r\nL:MIT AND BSD-2-Clause\r\n\r\n\r\nP:b\r\nV:2-r0",
                &[
                    "a 1-r0 - a=1-r0 [\"MIT AND BSD-2-Clause\"]",
                    "b 2-r0 - b=2-r0",
                ],
                &[],
            ),
            (
                "V:1-r0\nA:x86_64\n\nP:ok\nV:1-r0\n",
                &["ok 1-r0 - ok=1-r0"],
                &["apk record at line 1 skipped: missing P: (name)"],
            ),
            (
                "P:noversion\n\nP:ok\nV:1-r0\n",
                &["ok 1-r0 - ok=1-r0"],
                &["apk record at line 1 skipped: missing V: (version)"],
            ),
            (
                "P:a\nV:1-r0\nP:b\nV:2-r0\n",
                &[],
                &["apk record at line 1 skipped: duplicate P: on line 3"],
            ),
            (
                "P:a\nV:1-r0\nthis is not a field\n",
                &[],
                &["apk record at line 1 skipped: line 3 is not a `K:value` line"],
            ),
            (
                "P:a b\nV:1-r0\n",
                &[],
                &["apk record at line 1 skipped: name \"a b\" contains whitespace"],
            ),
            ("\n\n", &[], &[]),
        ];
        for (input, packages, messages) in cases {
            let out = run(&ApkAnalyzer, INSTALLED_DB, input.as_bytes()).unwrap();
            let (got_packages, got_messages) = summary(&out);
            assert_eq!(&got_packages, packages, "packages of {input:?}");
            assert_eq!(&got_messages, messages, "diagnostics of {input:?}");
        }
    }
}
