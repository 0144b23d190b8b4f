//! Walking an advisory directory tree with bounds: a hostile or mistaken path
//! (a symlink loop, millions of files) must not make an import run forever.

use std::path::{Path, PathBuf};

use crate::{ImportError, ImportReport};

/// Directory levels below the root that are looked into.
pub const MAX_WALK_DEPTH: usize = 16;
/// Files considered in one walk.
pub const MAX_WALK_FILES: usize = 2_000_000;

/// Files under `root` (or `root` itself if it is a file) for which `wanted`
/// holds, sorted so imports are reproducible. Symlinks are not followed.
/// Unreadable subdirectories are counted in `report` and passed over; an
/// unreadable root is an error.
pub fn files_under(
    root: &Path,
    report: &mut ImportReport,
    wanted: &dyn Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, ImportError> {
    let metadata = std::fs::symlink_metadata(root).map_err(|source| ImportError::Io {
        what: root.display().to_string(),
        source,
    })?;
    if metadata.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if dir == root => {
                return Err(ImportError::Io {
                    what: root.display().to_string(),
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
            let Ok(kind) = entry.file_type() else {
                report.skip(path.display().to_string(), "unreadable file type");
                continue;
            };
            if kind.is_dir() {
                if depth < MAX_WALK_DEPTH {
                    pending.push((path, depth + 1));
                } else {
                    report.skip(
                        path.display().to_string(),
                        format!("deeper than {MAX_WALK_DEPTH} levels"),
                    );
                }
            } else if kind.is_file() && wanted(&path) {
                if found.len() >= MAX_WALK_FILES {
                    return Err(ImportError::TooLarge {
                        what: format!("{} (file count)", root.display()),
                        limit: MAX_WALK_FILES as u64,
                    });
                }
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

pub fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        extensions
            .iter()
            .any(|wanted| e.eq_ignore_ascii_case(wanted))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_filtered_and_bounded_in_depth() {
        let root = tempfile::tempdir().unwrap();
        let make = |relative: &str| {
            let path = root.path().join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        };
        make("v3.9/main.yaml");
        make("v3.10/community.YAML");
        make("v3.10/notes.txt");
        make("a.json");
        let deep: String = (0..=MAX_WALK_DEPTH).map(|i| format!("d{i}/")).collect();
        make(&format!("{deep}too-deep.json"));
        let mut report = ImportReport::default();
        let found = files_under(root.path(), &mut report, &|p| {
            has_extension(p, &["yaml", "json"])
        })
        .unwrap();
        let relative: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(root.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            relative,
            ["a.json", "v3.10/community.YAML", "v3.9/main.yaml"]
        );
        assert_eq!(report.skipped, 1);

        let single = files_under(&root.path().join("a.json"), &mut report, &|_| false).unwrap();
        assert_eq!(single.len(), 1, "a file named directly is taken as it is");
        assert!(files_under(&root.path().join("missing"), &mut report, &|_| true).is_err());
    }
}
