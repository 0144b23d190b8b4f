//! RPM packages from rpm's SQLite database (`rpmdb.sqlite`, rpm ≥ 4.16: RHEL
//! 9, Fedora 33+, Amazon Linux 2023, …). The Berkeley DB (`Packages`) and
//! NDB (`Packages.db`) formats of older or SUSE images are reported as
//! unsupported rather than passed over in silence.

pub mod header;
pub mod sqlite;

use model::{AnalyzerId, Diagnostic, Package, PackageKind, SourcePackage};

use self::header::{
    Header, HeaderError, TAG_ARCH, TAG_EPOCH, TAG_LICENSE, TAG_MODULARITYLABEL, TAG_NAME,
    TAG_RELEASE, TAG_SOURCERPM, TAG_VERSION,
};
use self::sqlite::{Database, Record, SqliteError, Value};
use super::pkgdb::RecordDiagnostics;
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

const SQLITE_PATHS: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];
const BERKELEY_DB_PATHS: [&str; 2] = ["var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages"];
const NDB_PATHS: [&str; 2] = [
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages.db",
];

/// Code of the diagnostic for an rpm database in a format not read yet.
pub const UNSUPPORTED_RPMDB: &str = "unsupported-rpmdb-format";
/// Code of the diagnostic for parts of an rpmdb.sqlite that could not be read.
pub const DAMAGED_RPMDB: &str = "damaged-rpmdb";

const FORMAT: &str = "rpm sqlite database";

/// Reads rpm's SQLite package database.
pub struct RpmAnalyzer;

impl Analyzer for RpmAnalyzer {
    fn id(&self) -> AnalyzerId {
        // 2: packages carry their module stream (MODULARITYLABEL).
        AnalyzerId::new("rpm", 2)
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        SQLITE_PATHS.contains(&file.path)
            || BERKELEY_DB_PATHS.contains(&file.path)
            || NDB_PATHS.contains(&file.path)
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let path = file.meta.path;
        let unsupported = if BERKELEY_DB_PATHS.contains(&path) {
            Some("Berkeley DB")
        } else if NDB_PATHS.contains(&path) {
            Some("NDB")
        } else {
            None
        };
        if let Some(format) = unsupported {
            let mut diagnostic = Diagnostic::warning(
                UNSUPPORTED_RPMDB,
                format!(
                    "unsupported rpm database format ({format}) at {path}: packages not listed"
                ),
            )
            .with_path(path);
            diagnostic.analyzer = Some(self.id());
            out.diagnostics.push(diagnostic);
            return Ok(());
        }

        let mut db = Database::open(file.body).map_err(to_analyzer_error)?;
        let root = db
            .table_root_page("Packages")
            .map_err(to_analyzer_error)?
            .ok_or_else(|| {
                AnalyzerError::malformed(FORMAT, "the database has no Packages table")
            })?;
        let mut diagnostics = RecordDiagnostics::new(path, self.id());
        let mut packages = Vec::new();
        let report = db
            .scan_table(
                root,
                &mut |_, rowid, record| match package_from_row(record) {
                    Ok(Row::Package(package, warning)) => {
                        packages.push(*package);
                        if let Some(warning) = warning {
                            diagnostics.push(Diagnostic::warning(
                                super::pkgdb::MALFORMED_RECORD,
                                format!("rpm header in row {rowid}: {warning}"),
                            ));
                        }
                    }
                    Ok(Row::NotAPackage) => {}
                    Err(problem) => diagnostics
                        .skipped_record(format!("rpm header in row {rowid} skipped: {problem}")),
                },
            )
            .map_err(to_analyzer_error)?;
        for problem in report.problems {
            diagnostics.push(Diagnostic::error(
                DAMAGED_RPMDB,
                format!(
                    "part of the rpm database could not be read, packages may be missing: {problem}"
                ),
            ));
        }
        if report.more_problems > 0 {
            diagnostics.push(Diagnostic::error(
                DAMAGED_RPMDB,
                format!(
                    "{} more unreadable parts of the rpm database",
                    report.more_problems
                ),
            ));
        }
        out.packages.extend(packages);
        diagnostics.finish(&mut out.diagnostics);
        Ok(())
    }
}

fn to_analyzer_error(err: SqliteError) -> AnalyzerError {
    match err {
        SqliteError::Io(io) => AnalyzerError::Io(io),
        other => AnalyzerError::malformed(FORMAT, other.to_string()),
    }
}

enum Row {
    /// A package, and a problem worth a warning that did not stop it.
    Package(Box<Package>, Option<String>),
    /// An entry that describes no installed software (`gpg-pubkey`).
    NotAPackage,
}

#[derive(Debug, thiserror::Error)]
enum RowError {
    #[error("the row has no blob column")]
    NoBlob,
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("missing {0} tag")]
    MissingTag(&'static str),
    #[error("{what} {value:?} is empty or contains whitespace")]
    BadValue { what: &'static str, value: String },
}

fn package_from_row(record: &Record) -> Result<Row, RowError> {
    // rpm's table is (hnum INTEGER PRIMARY KEY, blob BLOB): hnum is the rowid
    // and stored as NULL, so the header is the row's one blob.
    let blob = (0..record.len())
        .find_map(|i| match record.value(i) {
            Value::Blob(blob) => Some(blob),
            _ => None,
        })
        .ok_or(RowError::NoBlob)?;
    let header = Header::parse(blob)?;
    let name = required(&header, TAG_NAME, "NAME")?;
    // Imported signing keys are stored as pseudo-packages.
    if name == "gpg-pubkey" {
        return Ok(Row::NotAPackage);
    }
    let version = required(&header, TAG_VERSION, "VERSION")?;
    let release = required(&header, TAG_RELEASE, "RELEASE")?;
    let epoch = header.int32(TAG_EPOCH)?;
    // Epoch 0 and no epoch compare equal in rpm; writing neither keeps the
    // version as rpm -q prints it.
    let full_version = match epoch {
        Some(epoch) if epoch > 0 => format!("{epoch}:{version}-{release}"),
        _ => format!("{version}-{release}"),
    };
    let mut package = Package::new(PackageKind::Rpm, name, full_version);
    if let Some(arch) = header.string(TAG_ARCH)? {
        package.arch = Some(checked("ARCH", arch)?.to_owned());
    }
    if let Some(license) = header.string_bytes(TAG_LICENSE)? {
        // Old packages carry Latin-1 here; a license is worth keeping lossily.
        let license = String::from_utf8_lossy(license);
        let license = license.trim();
        if !license.is_empty() {
            package.licenses.push(license.to_owned());
        }
    }
    let mut warning = None;
    if let Some(source_rpm) = header.string(TAG_SOURCERPM)? {
        match parse_source_rpm(source_rpm) {
            Some(source) => package.source = Some(source),
            None => {
                warning = Some(format!(
                    "SOURCERPM {source_rpm:?} is not name-version-release.src.rpm"
                ))
            }
        }
    }
    if let Some(label) = header.string(TAG_MODULARITYLABEL)? {
        match module_stream(label) {
            Some(module) => package.module = Some(module),
            // Without its stream a modular build cannot be matched; the
            // matcher diagnoses it by its `.module+el` release.
            None if warning.is_none() => {
                warning = Some(format!(
                    "MODULARITYLABEL {label:?} is not name:stream:version:context"
                ))
            }
            None => {}
        }
    }
    Ok(Row::Package(Box::new(package), warning))
}

/// `ruby:2.7:8030020200721064123:9f9e2e7e` → `ruby:2.7`: the name and
/// stream that Red Hat keys modular fixes by. Version and context change
/// with every rebuild of the module and say nothing about the stream.
fn module_stream(label: &str) -> Option<String> {
    let mut parts = label.split(':');
    let name = parts.next()?;
    let stream = parts.next()?;
    let valid = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    };
    (valid(name) && valid(stream)).then(|| format!("{name}:{stream}"))
}

fn required<'a>(header: &Header<'a>, tag: u32, what: &'static str) -> Result<&'a str, RowError> {
    let value = header.string(tag)?.ok_or(RowError::MissingTag(what))?;
    checked(what, value)
}

fn checked<'a>(what: &'static str, value: &'a str) -> Result<&'a str, RowError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RowError::BadValue {
            what,
            value: value.to_owned(),
        });
    }
    Ok(value)
}

/// `openssl-3.0.7-27.el9.src.rpm` → `openssl` + `3.0.7-27.el9`. The name
/// may contain dashes; version and release cannot.
fn parse_source_rpm(file_name: &str) -> Option<SourcePackage> {
    let stem = file_name
        .strip_suffix(".src.rpm")
        .or_else(|| file_name.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    let valid = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !(valid(name) && valid(version) && valid(release)) {
        return None;
    }
    Some(SourcePackage {
        name: name.to_owned(),
        version: Some(format!("{version}-{release}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::pkgdb::testing::{run, summary};

    #[test]
    fn wants_rpm_databases() {
        let cases = [
            ("var/lib/rpm/rpmdb.sqlite", true),
            ("usr/lib/sysimage/rpm/rpmdb.sqlite", true),
            ("var/lib/rpm/Packages", true),
            ("var/lib/rpm/Packages.db", true),
            ("usr/lib/sysimage/rpm/Packages.db", true),
            ("var/lib/rpm/rpmdb.sqlite-wal", false),
            ("var/lib/rpm/rpmdb.sqlite-shm", false),
            ("var/lib/rpm/Name", false),
            ("opt/var/lib/rpm/rpmdb.sqlite", false),
        ];
        for (path, expected) in cases {
            let meta = FileMeta {
                path,
                size: 1,
                mode: 0o644,
            };
            assert_eq!(RpmAnalyzer.wants(&meta), expected, "{path}");
        }
    }

    #[test]
    fn unsupported_formats_are_reported() {
        let cases = [
            ("var/lib/rpm/Packages", "Berkeley DB"),
            ("usr/lib/sysimage/rpm/Packages", "Berkeley DB"),
            ("var/lib/rpm/Packages.db", "NDB"),
            ("usr/lib/sysimage/rpm/Packages.db", "NDB"),
        ];
        for (path, format) in cases {
            let out = run(&RpmAnalyzer, path, b"\0\0\0\0whatever").unwrap();
            assert!(out.packages.is_empty());
            assert_eq!(out.diagnostics.len(), 1, "{path}");
            let diagnostic = &out.diagnostics[0];
            assert_eq!(diagnostic.code, UNSUPPORTED_RPMDB);
            assert_eq!(diagnostic.level, model::DiagnosticLevel::Warning);
            assert_eq!(diagnostic.path.as_deref(), Some(path));
            assert_eq!(
                diagnostic.message,
                format!(
                    "unsupported rpm database format ({format}) at {path}: packages not listed"
                )
            );
        }
    }

    #[test]
    fn source_rpm_names() {
        let cases = [
            (
                "openssl-3.0.7-27.el9.src.rpm",
                Some(("openssl", "3.0.7-27.el9")),
            ),
            (
                "python3-pip-21.3.1-1.fc40.src.rpm",
                Some(("python3-pip", "21.3.1-1.fc40")),
            ),
            ("foo-1-2.nosrc.rpm", Some(("foo", "1-2"))),
            ("foo-1.src.rpm", None),
            ("-1-2.src.rpm", None),
            ("foo-1-2.rpm", None),
            ("foo-1-.src.rpm", None),
            ("(none)", None),
        ];
        for (input, expected) in cases {
            let got = parse_source_rpm(input);
            let got = got
                .as_ref()
                .map(|s| (s.name.as_str(), s.version.as_deref().unwrap_or("")));
            assert_eq!(got, expected, "{input}");
        }
    }

    #[test]
    fn module_streams_from_modularity_labels() {
        use super::header::testing::Builder;
        let cases: [(&str, Option<&str>, Option<&str>); 7] = [
            (
                "ruby:2.7:8030020200721064123:9f9e2e7e",
                Some("ruby:2.7"),
                None,
            ),
            (
                "nodejs:18:9020020230530095208:rhel9",
                Some("nodejs:18"),
                None,
            ),
            // Streams may hold dots and dashes; only name and stream count.
            ("postgresql:15-rc:1:c", Some("postgresql:15-rc"), None),
            ("perl-DBD-MySQL:4.046", Some("perl-DBD-MySQL:4.046"), None),
            (
                "ruby",
                None,
                Some("MODULARITYLABEL \"ruby\" is not name:stream:version:context"),
            ),
            (
                ":2.7:1:c",
                None,
                Some("MODULARITYLABEL \":2.7:1:c\" is not name:stream:version:context"),
            ),
            // A `/` would split the matcher's `Red Hat:8/name:stream` key.
            (
                "ruby:2/7:1:c",
                None,
                Some("MODULARITYLABEL \"ruby:2/7:1:c\" is not name:stream:version:context"),
            ),
        ];
        for (label, module, warning) in cases {
            let blob = Builder::new()
                .string(TAG_NAME, "ruby-libs")
                .string(TAG_VERSION, "2.7.8")
                .string(TAG_RELEASE, "139.module+el8.8.0+18745+f1bef313")
                .string(TAG_MODULARITYLABEL, label)
                .build();
            let header = Header::parse(&blob).unwrap();
            assert_eq!(header.string(TAG_MODULARITYLABEL).unwrap(), Some(label));
            let record = record_of(&blob);
            let Ok(Row::Package(package, got_warning)) = package_from_row(&record) else {
                panic!("{label}: not a package");
            };
            assert_eq!(package.module.as_deref(), module, "{label}");
            assert_eq!(got_warning.as_deref(), warning, "{label}");
        }
        // No label: a mainline package.
        let blob = Builder::new()
            .string(TAG_NAME, "bash")
            .string(TAG_VERSION, "5.1.8")
            .string(TAG_RELEASE, "9.el9")
            .build();
        let Ok(Row::Package(package, None)) = package_from_row(&record_of(&blob)) else {
            panic!("bash: not a clean package");
        };
        assert_eq!(package.module, None);
    }

    /// A record of (NULL, blob), as rpm's Packages table stores it.
    /// Header: its length (4), NULL (0), blob serial type as a 2-byte varint.
    fn record_of(blob: &[u8]) -> sqlite::Record {
        let serial = 12 + 2 * blob.len();
        assert!(serial < 1 << 14, "test blob too large for a 2-byte varint");
        let mut payload = vec![4, 0, 0x80 | (serial >> 7) as u8, (serial & 0x7f) as u8];
        payload.extend_from_slice(blob);
        sqlite::Record::parse_for_tests(payload)
    }

    #[test]
    fn headers_to_packages() {
        use super::header::testing::Builder;
        let base = || {
            Builder::new()
                .string(TAG_NAME, "openssl-libs")
                .string(TAG_VERSION, "3.0.7")
                .string(TAG_RELEASE, "27.el9")
        };
        let cases: Vec<(Vec<u8>, Result<&str, &str>)> = vec![
            (
                base()
                    .int32(TAG_EPOCH, 1)
                    .string(TAG_ARCH, "x86_64")
                    .string(TAG_SOURCERPM, "openssl-3.0.7-27.el9.src.rpm")
                    .string(TAG_LICENSE, "Apache-2.0")
                    .build(),
                Ok("openssl-libs 1:3.0.7-27.el9 x86_64 openssl=3.0.7-27.el9 [\"Apache-2.0\"]"),
            ),
            (
                base()
                    .string(
                        TAG_SOURCERPM,
                        "ruby-2.7.8-139.module+el8.8.0+18745+f1bef313.src.rpm",
                    )
                    .string(TAG_MODULARITYLABEL, "ruby:2.7:8080020230427102918:63b34585")
                    .build(),
                Ok(
                    "openssl-libs 3.0.7-27.el9 - ruby=2.7.8-139.module+el8.8.0+18745+f1bef313 module=ruby:2.7",
                ),
            ),
            (
                base().int32(TAG_EPOCH, 0).build(),
                Ok("openssl-libs 3.0.7-27.el9 - -"),
            ),
            (
                base().string(TAG_LICENSE, "  ").build(),
                Ok("openssl-libs 3.0.7-27.el9 - -"),
            ),
            (
                Builder::new()
                    .string(TAG_NAME, "x")
                    .string(TAG_VERSION, "1")
                    .build(),
                Err("missing RELEASE tag"),
            ),
            (
                base().string(TAG_ARCH, "x 86").build(),
                Err("ARCH \"x 86\" is empty or contains whitespace"),
            ),
            (
                Builder::new().string(TAG_NAME, "gpg-pubkey").build(),
                Err("not a package"),
            ),
        ];
        for (blob, expected) in cases {
            let record = record_of(&blob);
            let got = match package_from_row(&record) {
                Ok(Row::Package(package, _)) => {
                    let out = AnalysisOutput {
                        packages: vec![*package],
                        ..Default::default()
                    };
                    Ok(summary(&out).0.remove(0))
                }
                Ok(Row::NotAPackage) => Err("not a package".to_owned()),
                Err(err) => Err(err.to_string()),
            };
            assert_eq!(got.as_deref().map_err(|e| e.as_str()), expected);
        }
    }
}
