//! Bounded reading of the inputs importers walk: single files, directory
//! trees and zip archives. Every input is hostile: sizes, entry counts and
//! depths are capped, symlinks are not followed, and one unreadable file is
//! reported rather than aborting the walk.

use crate::report::{ImportError, ImportReport};
use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// Largest single JSON/YAML file read into memory. Real advisory files are
/// kilobytes; bulk JSON arrays (a vendor's `all.json`) stay well under this.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Directory nesting beyond which a tree is not walked (OSV trees are 2–3 deep).
const MAX_DIR_DEPTH: usize = 16;

/// Bounds for reading a zip archive of advisories (an OSV `all.zip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Entries in the central directory (the largest OSV export has a few
    /// hundred thousand).
    pub max_entries: usize,
    /// Decompressed bytes of one entry; larger entries are skipped and counted.
    pub max_entry_bytes: u64,
    /// Decompressed bytes of all entries together: the zip-bomb bound.
    pub max_total_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_entries: 2_000_000,
            max_entry_bytes: 16 * 1024 * 1024,
            max_total_bytes: 8 * 1024 * 1024 * 1024,
        }
    }
}

impl ZipLimits {
    /// Red Hat's bulk CSAF archives (`csaf_advisories_*.tar.zst`,
    /// `csaf_vex_*.tar.zst`), larger than any OSV export: one entry may be
    /// as large as a single CSAF document may be (64 MiB, an erratum
    /// listing every OpenShift image runs to tens of MB); up to a million
    /// documents (advisories are tens of thousands, VEX a few hundred
    /// thousand); 64 GiB unpacked in all, above the VEX archive's tens of
    /// GB, and still a bound on a zstd bomb (about a minute of
    /// decompression, nothing written to disk).
    pub fn red_hat_csaf() -> ZipLimits {
        ZipLimits {
            max_entries: 1_000_000,
            max_entry_bytes: crate::capped_read::MAX_DOCUMENT_BYTES,
            max_total_bytes: 64 * 1024 * 1024 * 1024,
        }
    }
}

/// Reads a whole file, refusing one larger than `limit` bytes without reading
/// it (and, should it grow while read, stopping at the limit).
pub fn read_file_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ImportError> {
    let what = || path.display().to_string();
    let file = fs::File::open(path).map_err(|source| ImportError::Io {
        what: what(),
        source,
    })?;
    let len = file
        .metadata()
        .map_err(|source| ImportError::Io {
            what: what(),
            source,
        })?
        .len();
    if len > limit {
        return Err(ImportError::TooLarge {
            what: what(),
            limit,
        });
    }
    read_capped(file, limit, &what())
}

/// Reads at most `limit` bytes; more is an error, not a truncation.
fn read_capped(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, ImportError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ImportError::Io {
            what: what.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(ImportError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Every regular file under `root` whose name ends in one of `extensions`
/// (compared case-insensitively, without the dot), sorted by path so imports
/// are deterministic. Symlinks are skipped: a tree must not lead the walk out
/// of itself or into a cycle. Unreadable subdirectories are counted as skipped.
pub fn files_with_extensions(
    root: &Path,
    extensions: &[&str],
    report: &mut ImportReport,
) -> Result<Vec<PathBuf>, ImportError> {
    let meta = fs::symlink_metadata(root).map_err(|source| ImportError::Io {
        what: root.display().to_string(),
        source,
    })?;
    if meta.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![(root.to_owned(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if depth == 0 => {
                return Err(ImportError::Io {
                    what: dir.display().to_string(),
                    source: error,
                });
            }
            Err(error) => {
                report.skip(
                    dir.display().to_string(),
                    format!("unreadable directory: {error}"),
                );
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    report.skip(
                        dir.display().to_string(),
                        format!("unreadable entry: {error}"),
                    );
                    continue;
                }
            };
            let path = entry.path();
            let Ok(file_type) = entry.file_type() else {
                report.skip(path.display().to_string(), "cannot stat");
                continue;
            };
            if file_type.is_dir() {
                if depth + 1 > MAX_DIR_DEPTH {
                    report.skip(
                        path.display().to_string(),
                        format!("nested deeper than {MAX_DIR_DEPTH} directories"),
                    );
                } else {
                    pending.push((path, depth + 1));
                }
            } else if file_type.is_file() && has_extension(&path, extensions) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

pub fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| extensions.iter().any(|want| ext.eq_ignore_ascii_case(want)))
}

/// Calls `visit(entry_name, bytes)` for each file entry of a zip archive,
/// within `limits`. An entry that cannot be read or is too large is counted
/// as skipped; exceeding the entry count or the total size stops the walk
/// with an error (the archive is not what it claims to be).
pub fn for_each_zip_entry<R: Read + Seek>(
    reader: R,
    location: &str,
    limits: &ZipLimits,
    report: &mut ImportReport,
    visit: &mut dyn FnMut(&str, &[u8], &mut ImportReport),
) -> Result<(), ImportError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|error| ImportError::Malformed {
        what: location.to_owned(),
        format: "zip",
        message: error.to_string(),
    })?;
    if archive.len() > limits.max_entries {
        return Err(ImportError::Malformed {
            what: location.to_owned(),
            format: "zip",
            message: format!(
                "{} entries, more than the limit of {}",
                archive.len(),
                limits.max_entries
            ),
        });
    }
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = match archive.by_index(index) {
            Ok(entry) => entry,
            Err(error) => {
                report.skip(
                    format!("{location}!#{index}"),
                    format!("unreadable zip entry: {error}"),
                );
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let name = match entry.name() {
            Ok(name) => format!("{location}!{name}"),
            Err(error) => {
                report.skip(
                    format!("{location}!#{index}"),
                    format!("bad entry name: {error}"),
                );
                continue;
            }
        };
        // The declared size can lie; the read below is capped on its own.
        if entry.size() > limits.max_entry_bytes {
            report.skip(
                name,
                format!(
                    "entry exceeds the limit of {} bytes",
                    limits.max_entry_bytes
                ),
            );
            continue;
        }
        let remaining = limits.max_total_bytes.saturating_sub(total);
        let cap = limits.max_entry_bytes.min(remaining);
        let bytes = match read_capped(entry, cap, &name) {
            Ok(bytes) => bytes,
            Err(ImportError::TooLarge { .. }) if cap < limits.max_entry_bytes => {
                return Err(ImportError::TooLarge {
                    what: location.to_owned(),
                    limit: limits.max_total_bytes,
                });
            }
            Err(error) => {
                report.skip(name, error.to_string());
                continue;
            }
        };
        total += bytes.len() as u64;
        visit(&name, &bytes, report);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .expect("start entry");
            writer.write_all(bytes).expect("write entry");
        }
        writer.finish().expect("finish zip").into_inner()
    }

    fn visited(archive: &[u8], limits: &ZipLimits) -> (Result<Vec<String>, String>, ImportReport) {
        let mut report = ImportReport::default();
        let mut names = Vec::new();
        let result = for_each_zip_entry(
            Cursor::new(archive),
            "all.zip",
            limits,
            &mut report,
            &mut |name, bytes, _| names.push(format!("{name}:{}", bytes.len())),
        );
        (result.map(|()| names).map_err(|e| e.to_string()), report)
    }

    #[test]
    fn zip_limits_are_enforced() {
        let archive = zip_of(&[
            ("a.json", vec![b' '; 10]),
            ("big.json", vec![b' '; 5000]),
            ("b.json", vec![b' '; 20]),
        ]);
        let generous = ZipLimits::default();
        let (result, report) = visited(&archive, &generous);
        assert_eq!(
            result.unwrap(),
            [
                "all.zip!a.json:10",
                "all.zip!big.json:5000",
                "all.zip!b.json:20"
            ]
        );
        assert_eq!(report.skipped, 0);

        let small_entries = ZipLimits {
            max_entry_bytes: 100,
            ..generous
        };
        let (result, report) = visited(&archive, &small_entries);
        assert_eq!(result.unwrap(), ["all.zip!a.json:10", "all.zip!b.json:20"]);
        assert_eq!(report.skipped, 1);
        assert_eq!(report.skipped_records[0].location, "all.zip!big.json");

        let small_total = ZipLimits {
            max_total_bytes: 1000,
            ..generous
        };
        let (result, _) = visited(&archive, &small_total);
        assert!(result.unwrap_err().contains("exceeds the limit of 1000"));

        let few_entries = ZipLimits {
            max_entries: 2,
            ..generous
        };
        let (result, _) = visited(&archive, &few_entries);
        assert!(result.unwrap_err().contains("3 entries"));

        let (result, _) = visited(b"not a zip at all", &generous);
        assert!(result.unwrap_err().contains("not valid zip"));
    }

    #[test]
    fn file_reads_are_capped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        fs::write(&path, vec![b'x'; 100]).expect("write");
        assert_eq!(read_file_capped(&path, 100).expect("fits").len(), 100);
        assert!(matches!(
            read_file_capped(&path, 99),
            Err(ImportError::TooLarge { limit: 99, .. })
        ));
    }

    #[test]
    fn walk_finds_matching_files_sorted_and_skips_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).expect("mkdir");
        for name in ["b/c/z.json", "a.JSON", "b/y.yaml", "b/readme.md"] {
            fs::write(root.join(name), b"{}").expect("write");
        }
        std::os::unix::fs::symlink(root.join("b"), root.join("b/c/loop")).expect("symlink");
        let mut report = ImportReport::default();
        let found = files_with_extensions(root, &["json", "yaml"], &mut report).expect("walk");
        let relative: Vec<_> = found
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(relative, ["a.JSON", "b/c/z.json", "b/y.yaml"]);
        assert_eq!(report.skipped, 0);
        assert!(files_with_extensions(&root.join("missing"), &["json"], &mut report).is_err());
    }
}
