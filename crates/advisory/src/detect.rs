//! Telling advisory formats apart, for `db import PATH...`: [`sniff`] looks
//! at a file's name and first bytes (pure), [`plan`] walks a path and groups
//! the files it recognises into feeds, and [`import_feed_files`] runs the
//! matching importer over a feed's files.
//!
//! Detection goes by content, not by directory names: an OSV record is a JSON
//! or YAML object with an `id` and OSV fields, a KEV catalog has a
//! `catalogVersion`, and so on. Files nothing recognises are reported, never
//! guessed at.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use model::{Advisory, CveEnrichment};

use crate::file_walk::{MAX_WALK_DEPTH, MAX_WALK_FILES};
use crate::{ImportError, ImportReport, MAX_FILE_BYTES};

/// How many leading bytes [`sniff`] needs: enough to get past a long OSV
/// `details` text to the next top-level keys.
pub const SNIFF_BYTES: usize = 16 * 1024;

/// The formats `db import` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// OSV records, JSON or YAML, one per file (or a JSON array of them).
    Osv,
    /// An OSV bulk export (`all.zip`).
    OsvZip,
    /// RubySec advisory YAML.
    RubySec,
    /// Alpine/Wolfi/Chainguard secdb, YAML or JSON.
    AlpineSecdb,
    /// The Debian security tracker JSON.
    DebianTracker,
    /// The tracker's DSA/DLA text lists.
    DebianAdvisoryList,
    /// NVD API 2.0 response pages.
    Nvd,
    /// EPSS scores CSV, plain or gzip.
    Epss,
    /// CISA Known Exploited Vulnerabilities JSON.
    Kev,
    /// Red Hat CSAF 2.0 documents (RHSA advisories, per-CVE VEX), one per file.
    RedHatCsaf,
    /// Red Hat's bulk CSAF archive (`csaf_advisories_*.tar.zst`, `csaf_vex_*.tar.zst`).
    RedHatCsafArchive,
}

impl Format {
    /// The name used in feed names and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Osv => "osv",
            Format::OsvZip => "osv-zip",
            Format::RubySec => "rubysec",
            Format::AlpineSecdb => "alpine-secdb",
            Format::DebianTracker => "debian-tracker",
            Format::DebianAdvisoryList => "debian-advisory-list",
            Format::Nvd => "nvd",
            Format::Epss => "epss",
            Format::Kev => "kev",
            Format::RedHatCsaf => "redhat-csaf",
            Format::RedHatCsafArchive => "redhat-csaf-archive",
        }
    }

    /// Enrichment feeds give per-CVE data, not advisories.
    pub fn is_enrichment(self) -> bool {
        matches!(self, Format::Nvd | Format::Epss | Format::Kev)
    }
}

/// OSV fields; an object with an `id` and one of these is an OSV record.
const OSV_FIELDS: &[&str] = &[
    "affected",
    "modified",
    "published",
    "schema_version",
    "aliases",
    "summary",
    "details",
];

/// Recognises a file's format from its name and first bytes (at most
/// [`SNIFF_BYTES`] are looked at). `None`: not a format we import.
pub fn sniff(path: &Path, head: &[u8]) -> Option<Format> {
    let head = &head[..head.len().min(SNIFF_BYTES)];
    if head.starts_with(b"PK\x03\x04") {
        return Some(Format::OsvZip);
    }
    // Red Hat ships its CSAF bulk archives as zstd-compressed tar; nothing
    // else we read is zstd.
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some(Format::RedHatCsafArchive);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return is_epss_header(&gunzip_prefix(head)).then_some(Format::Epss);
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    let text = &text[start..];
    if is_epss_header(text) {
        return Some(Format::Epss);
    }
    if is_advisory_list(text) {
        return Some(Format::DebianAdvisoryList);
    }
    match text.first() {
        Some(b'{') | Some(b'[') => sniff_json(text),
        _ if has_yaml_extension(path) || looks_like_yaml(text) => sniff_yaml(text),
        _ => None,
    }
}

fn has_yaml_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn looks_like_yaml(text: &[u8]) -> bool {
    text.starts_with(b"---") || top_level_yaml_keys(text).next().is_some()
}

/// The decompressed start of a gzip stream whose tail is cut off.
fn gunzip_prefix(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(head).take(512);
    // A truncated stream ends in an error after the bytes that did inflate.
    let mut buffer = [0u8; 512];
    while let Ok(n) = decoder.read(&mut buffer) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buffer[..n]);
    }
    out
}

fn is_epss_header(text: &[u8]) -> bool {
    text.starts_with(b"#model_version") || text.starts_with(b"cve,epss")
}

/// `[01 Apr 2023] DLA-3380-1 firmware-nonfree - security update`
fn is_advisory_list(text: &[u8]) -> bool {
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(close) = line.iter().position(|&b| b == b']') else {
        return false;
    };
    line.first() == Some(&b'[')
        && line
            .get(1..close)
            .is_some_and(|date| date.iter().any(u8::is_ascii_digit))
        && line
            .get(close + 1..)
            .is_some_and(|rest| rest.starts_with(b" DSA-") || rest.starts_with(b" DLA-"))
}

fn sniff_json(text: &[u8]) -> Option<Format> {
    let keys = json_keys(text);
    let at = |depth: usize| {
        keys.iter()
            .filter(move |(d, _)| *d == depth)
            .map(|(_, k)| k.as_str())
    };
    let has = |depth: usize, key: &str| at(depth).any(|k| k == key);
    let osv_record = |depth: usize| has(depth, "id") && OSV_FIELDS.iter().any(|f| has(depth, f));
    if text.first() == Some(&b'[') {
        return osv_record(2).then_some(Format::Osv);
    }
    if has(1, "$schema") {
        return None;
    }
    if has(1, "document") && has(2, "csaf_version") {
        return Some(Format::RedHatCsaf);
    }
    if has(1, "catalogVersion") {
        return Some(Format::Kev);
    }
    if has(1, "resultsPerPage") {
        return Some(Format::Nvd);
    }
    if ["apkurl", "distroversion", "reponame", "archs"]
        .iter()
        .any(|k| has(1, k))
    {
        return Some(Format::AlpineSecdb);
    }
    if osv_record(1) {
        return Some(Format::Osv);
    }
    let first_inner = at(2).next()?;
    (first_inner.starts_with("CVE-") || first_inner.starts_with("TEMP-"))
        .then_some(Format::DebianTracker)
}

/// Object keys in a (possibly cut-off) JSON text, with their nesting depth
/// (1 = top level). Enough JSON to find keys; not a validator.
fn json_keys(text: &[u8]) -> Vec<(usize, String)> {
    let mut keys = Vec::new();
    // Open brackets, innermost last: a string is a key right after `{` or
    // after a `,` inside an object.
    let mut open: Vec<u8> = Vec::new();
    let mut position = 0;
    let mut expecting_key = false;
    while let Some(&byte) = text.get(position) {
        match byte {
            b'{' | b'[' => {
                open.push(byte);
                expecting_key = byte == b'{';
            }
            b'}' | b']' => {
                open.pop();
            }
            b',' => expecting_key = open.last() == Some(&b'{'),
            b'"' => {
                let Some((string, end)) = json_string(text, position) else {
                    break;
                };
                if expecting_key {
                    keys.push((open.len(), string));
                    expecting_key = false;
                }
                position = end;
                continue;
            }
            _ => {}
        }
        position += 1;
    }
    keys
}

/// The string starting at the quote at `start`, and the position after its
/// closing quote; escapes are kept as written (keys we look for have none).
fn json_string(text: &[u8], start: usize) -> Option<(String, usize)> {
    let mut position = start + 1;
    while let Some(&byte) = text.get(position) {
        match byte {
            b'\\' => position += 2,
            b'"' => {
                let raw = text.get(start + 1..position)?;
                return Some((String::from_utf8_lossy(raw).into_owned(), position + 1));
            }
            _ => position += 1,
        }
    }
    None
}

/// Keys at the start of a line (`key:` or `key: value`), not indented.
fn top_level_yaml_keys(text: &[u8]) -> impl Iterator<Item = &str> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let first = line.chars().next()?;
        if first.is_whitespace() || matches!(first, '#' | '-' | '"' | '\'' | '[' | '{') {
            return None;
        }
        let (key, _) = line.split_once(':')?;
        key.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            .then_some(key)
    })
}

fn sniff_yaml(text: &[u8]) -> Option<Format> {
    let keys: Vec<&str> = top_level_yaml_keys(text).collect();
    let has = |key: &str| keys.contains(&key);
    if has("gem") {
        Some(Format::RubySec)
    } else if has("distroversion") || has("apkurl") || has("reponame") {
        Some(Format::AlpineSecdb)
    } else if has("id") && OSV_FIELDS.iter().any(|f| has(f)) {
        Some(Format::Osv)
    } else {
        None
    }
}

/// One feed found under an import path: files of one format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFeed {
    /// `<format>:<canonical path>`: the directory (or single file) it covers.
    pub name: String,
    pub format: Format,
    /// The directory or file the feed was named after.
    pub origin: PathBuf,
    pub files: Vec<PathBuf>,
}

/// A part of an import path that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPath {
    pub path: PathBuf,
    pub reason: String,
}

/// What importing one path will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    pub feeds: Vec<PlannedFeed>,
    pub skipped: Vec<SkippedPath>,
}

/// Directories with this name hold upstream test inputs (often deliberately
/// malformed or synthetic): walked into only when named as the import path.
const TEST_FIXTURES: &str = "test-fixtures";

/// Walks `path` and groups what it recognises into feeds. A directory whose
/// recognised files all have one format is one feed, unless it holds no such
/// files itself but two or more subdirectories that do (a collection like
/// `osv/` holding `Go/` and `crates.io/`): then each subdirectory is planned on
/// its own. Otherwise the files directly in it form one feed per format and
/// its subdirectories are planned on their own. Fails only when `path` itself
/// cannot be read; unreadable entries below it are skipped with a reason.
pub fn plan(path: &Path) -> Result<ImportPlan, ImportError> {
    let io_error = |source| ImportError::Io {
        what: path.display().to_string(),
        source,
    };
    let root = std::fs::canonicalize(path).map_err(io_error)?;
    let metadata = std::fs::metadata(&root).map_err(io_error)?;
    let mut plan = ImportPlan::default();
    if metadata.is_file() {
        let head = read_head(&root).map_err(io_error)?;
        match sniff(&root, &head) {
            Some(format) => plan.feeds.push(PlannedFeed {
                name: feed_name(format, &root),
                format,
                origin: root.clone(),
                files: vec![root],
            }),
            None => plan.skipped.push(SkippedPath {
                path: root,
                reason: "not in a recognised advisory format".to_owned(),
            }),
        }
        return Ok(plan);
    }
    std::fs::read_dir(&root).map_err(io_error)?;
    let mut budget = MAX_WALK_FILES;
    let tree = scan(&root, 0, true, &mut budget, &mut plan.skipped);
    assign(&tree, &mut plan);
    Ok(plan)
}

fn feed_name(format: Format, path: &Path) -> String {
    format!("{}:{}", format.as_str(), path.display())
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// A directory as sniffed: its recognised files, its subdirectories, and
/// every format found anywhere below it.
struct Dir {
    path: PathBuf,
    files: Vec<(PathBuf, Format)>,
    unrecognised: usize,
    subdirs: Vec<Dir>,
    formats: BTreeMap<Format, usize>,
    unrecognised_below: usize,
}

fn scan(
    path: &Path,
    depth: usize,
    is_root: bool,
    budget: &mut usize,
    skipped: &mut Vec<SkippedPath>,
) -> Dir {
    let mut dir = Dir {
        path: path.to_owned(),
        files: Vec::new(),
        unrecognised: 0,
        subdirs: Vec::new(),
        formats: BTreeMap::new(),
        unrecognised_below: 0,
    };
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(error) => {
            skip(
                skipped,
                path.to_owned(),
                format!("unreadable directory: {error}"),
            );
            return dir;
        }
    };
    let mut children: Vec<(PathBuf, std::fs::FileType)> = Vec::new();
    for entry in entries {
        match entry.and_then(|e| Ok((e.path(), e.file_type()?))) {
            Ok(child) => children.push(child),
            Err(error) => skip(
                skipped,
                path.to_owned(),
                format!("unreadable entry: {error}"),
            ),
        }
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (child, file_type) in children {
        if file_type.is_dir() {
            let name = child.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if name == TEST_FIXTURES && !is_root {
                skip(
                    skipped,
                    child,
                    "upstream test fixtures (import the directory itself to read them)".to_owned(),
                );
            } else if depth + 1 > MAX_WALK_DEPTH {
                skip(
                    skipped,
                    child,
                    format!("nested deeper than {MAX_WALK_DEPTH} directories"),
                );
            } else {
                let sub = scan(&child, depth + 1, false, budget, skipped);
                for (format, n) in &sub.formats {
                    *dir.formats.entry(*format).or_default() += n;
                }
                dir.unrecognised_below += sub.unrecognised_below;
                dir.subdirs.push(sub);
            }
        } else if file_type.is_file() {
            if *budget == 0 {
                skip(
                    skipped,
                    child,
                    format!("more than {MAX_WALK_FILES} files under the import path"),
                );
                continue;
            }
            *budget -= 1;
            match read_head(&child) {
                Ok(head) => match sniff(&child, &head) {
                    Some(format) => {
                        *dir.formats.entry(format).or_default() += 1;
                        dir.files.push((child, format));
                    }
                    None => {
                        dir.unrecognised += 1;
                        dir.unrecognised_below += 1;
                    }
                },
                Err(error) => skip(skipped, child, format!("unreadable file: {error}")),
            }
        }
        // Symlinks and special files are never followed: a tree must not
        // lead the walk out of itself or into a cycle.
    }
    dir
}

fn skip(skipped: &mut Vec<SkippedPath>, path: PathBuf, reason: String) {
    skipped.push(SkippedPath { path, reason });
}

fn assign(dir: &Dir, plan: &mut ImportPlan) {
    if dir.formats.is_empty() {
        if dir.unrecognised_below > 0 {
            plan.skipped.push(SkippedPath {
                path: dir.path.clone(),
                reason: format!(
                    "{} file(s), none in a recognised advisory format",
                    dir.unrecognised_below
                ),
            });
        }
        return;
    }
    let populated_subdirs = dir.subdirs.iter().filter(|s| !s.formats.is_empty()).count();
    let collection = dir.files.is_empty() && populated_subdirs >= 2;
    if dir.formats.len() == 1 && !collection {
        let Some(format) = dir.formats.keys().next().copied() else {
            return;
        };
        let mut files = Vec::new();
        collect_files(dir, &mut files);
        if dir.unrecognised_below > 0 {
            plan.skipped.push(SkippedPath {
                path: dir.path.clone(),
                reason: format!(
                    "{} file(s) in it not in a recognised advisory format",
                    dir.unrecognised_below
                ),
            });
        }
        let origin = match files.as_slice() {
            [only] => only.clone(),
            _ => dir.path.clone(),
        };
        plan.feeds.push(PlannedFeed {
            name: feed_name(format, &origin),
            format,
            origin,
            files,
        });
        return;
    }
    let mut by_format: BTreeMap<Format, Vec<PathBuf>> = BTreeMap::new();
    for (file, format) in &dir.files {
        by_format.entry(*format).or_default().push(file.clone());
    }
    for (format, files) in by_format {
        let origin = match files.as_slice() {
            [only] => only.clone(),
            _ => dir.path.clone(),
        };
        plan.feeds.push(PlannedFeed {
            name: feed_name(format, &origin),
            format,
            origin,
            files,
        });
    }
    if dir.unrecognised > 0 {
        plan.skipped.push(SkippedPath {
            path: dir.path.clone(),
            reason: format!(
                "{} file(s) directly in it not in a recognised advisory format",
                dir.unrecognised
            ),
        });
    }
    for sub in &dir.subdirs {
        assign(sub, plan);
    }
}

fn collect_files(dir: &Dir, out: &mut Vec<PathBuf>) {
    out.extend(dir.files.iter().map(|(path, _)| path.clone()));
    for sub in &dir.subdirs {
        collect_files(sub, out);
    }
}

/// The bounds an archive of `format` is read within by default.
pub fn archive_limits(format: Format) -> crate::ZipLimits {
    match format {
        Format::RedHatCsafArchive => crate::ZipLimits::red_hat_csaf(),
        _ => crate::ZipLimits::default(),
    }
}

/// Runs the importer for `format` over `files`, handing advisories and
/// enrichments to the sinks as they are read. A file that cannot be read
/// or parsed as a whole is one skipped record in `report`; nothing aborts.
pub fn import_feed_files(
    format: Format,
    files: &[PathBuf],
    report: &mut ImportReport,
    advisories: &mut dyn FnMut(Advisory),
    enrichments: &mut dyn FnMut(CveEnrichment),
) {
    let limits = archive_limits(format);
    import_feed_files_with(format, files, &limits, report, advisories, enrichments);
}

/// [`import_feed_files`] with other bounds for Red Hat's `tar.zst`
/// archives (the OSV zip importer keeps its own).
pub fn import_feed_files_with(
    format: Format,
    files: &[PathBuf],
    limits: &crate::ZipLimits,
    report: &mut ImportReport,
    advisories: &mut dyn FnMut(Advisory),
    enrichments: &mut dyn FnMut(CveEnrichment),
) {
    for file in files {
        let result = match format {
            Format::Osv | Format::RubySec => {
                match crate::input::read_file_capped(file, MAX_FILE_BYTES) {
                    Ok(bytes) => {
                        let location = file.display().to_string();
                        let parsed = if format == Format::Osv {
                            crate::parse_osv(&bytes, &location, report)
                        } else {
                            crate::parse_rubysec(&bytes, &location, report)
                        };
                        parsed.into_iter().for_each(&mut *advisories);
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            Format::OsvZip => crate::import_osv_zip_file(file, report, advisories),
            Format::AlpineSecdb => crate::import_alpine_secdb_file(file, report, advisories),
            Format::DebianTracker => crate::import_debian_tracker_file(file, report, advisories),
            Format::DebianAdvisoryList => {
                crate::import_debian_advisory_list_file(file, report, advisories)
            }
            Format::Nvd => crate::import_nvd_page_file(file, report, enrichments),
            Format::Epss => crate::import_epss_file(file, report, enrichments).map(|_| ()),
            Format::Kev => crate::import_kev_file(file, report, enrichments),
            Format::RedHatCsaf => crate::import_redhat_csaf_file(file, report, advisories),
            Format::RedHatCsafArchive => {
                crate::import_redhat_csaf_archive(file, limits, report, advisories)
            }
        };
        if let Err(error) = result {
            report.skip(file.display().to_string(), error.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (file name, first bytes, expected format)
    #[test]
    fn sniff_table() {
        let gz = {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder
                .write_all(b"#model_version:v2025.03.14,score_date:2025-08-25T00:00:00Z\ncve,epss,percentile\n")
                .unwrap();
            encoder.finish().unwrap()
        };
        let table: &[(&str, &[u8], Option<Format>)] = &[
            ("GO-2020-0001.json", br#"{"schema_version":"1.3.1","id":"GO-2020-0001","modified":"0001-01-01T00:00:00Z"}"#, Some(Format::Osv)),
            ("ALSA.json", b"{\n  \"id\": \"ALSA-2023:4520\",\n  \"summary\": \"x\"", Some(Format::Osv)),
            ("all.json", br#"[{"id":"CGA-1","affected":[]}]"#, Some(Format::Osv)),
            ("PYSEC-1.yaml", b"id: PYSEC-2021-1\nmodified: 2021-01-01\naffected:\n- package:\n", Some(Format::Osv)),
            ("CVE-2020-1.yml", b"---\ngem: rack\ncve: 2020-1\n", Some(Format::RubySec)),
            ("main.yaml", b"---\ndistroversion: v3.5\nreponame: main\n", Some(Format::AlpineSecdb)),
            ("security.json", br#"{"apkurl":"{{urlprefix}}","archs":["x86_64"],"packages":[]}"#, Some(Format::AlpineSecdb)),
            ("debian.json", b"{\n  \"prototypejs\": {\n    \"CVE-2008-7220\": {\"scope\": \"remote\"", Some(Format::DebianTracker)),
            ("list", b"[01 Apr 2023] DLA-3380-1 firmware-nonfree - security update\n", Some(Format::DebianAdvisoryList)),
            ("page.json", br#"{"resultsPerPage":1,"startIndex":0,"format":"NVD_CVE"}"#, Some(Format::Nvd)),
            ("rhsa-2024_0010.json", b"{\n  \"document\": {\n    \"aggregate_severity\": {\"text\": \"Moderate\"},\n    \"category\": \"csaf_security_advisory\",\n    \"csaf_version\": \"2.0\"", Some(Format::RedHatCsaf)),
            ("csaf_advisories_2025-02-15.tar.zst", b"\x28\xb5\x2f\xfd\x04\x58", Some(Format::RedHatCsafArchive)),
            ("other.json", br#"{"document": {"title": "not CSAF"}}"#, None),
            ("kev.json", br#"{"title":"CISA Catalog","catalogVersion":"2025.08.25","vulnerabilities":[]}"#, Some(Format::Kev)),
            ("schema.json", br#"{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"catalogVersion":{}}}"#, None),
            ("epss.csv", b"#model_version:v1,score_date:2025-01-01\ncve,epss,percentile\n", Some(Format::Epss)),
            ("epss.csv", b"cve,epss,percentile\nCVE-1,0.1,0.2\n", Some(Format::Epss)),
            ("epss.csv.gz", &gz, Some(Format::Epss)),
            ("all.zip", b"PK\x03\x04rest", Some(Format::OsvZip)),
            ("pypi-generated.txt", b"1.0 < 1.1\n1.1 = 1.1.0\n", None),
            ("README.md", b"# Title\n\nSome text: here\n", None),
            ("empty.json", b"", None),
            ("other.json", br#"{"name":"x","version":"1"}"#, None),
            ("binary", b"\x00\x01\x02", None),
        ];
        for (name, head, expected) in table {
            assert_eq!(sniff(Path::new(name), head), *expected, "{name}");
        }
    }

    #[test]
    fn plan_groups_feeds_and_names_what_it_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let osv = |id: &str| {
            format!(r#"{{"id":"{id}","modified":"2024-01-01T00:00:00Z","affected":[]}}"#)
        };
        write("osv/Go/GO-1.json", &osv("GO-1"));
        write("osv/Go/GO-2.json", &osv("GO-2"));
        write("osv/crates.io/R-1.json", &osv("R-1"));
        write(
            "kev/kev.json",
            r#"{"catalogVersion":"1","vulnerabilities":[]}"#,
        );
        write("kev/schema.json", r#"{"$schema":"x"}"#);
        write("orderings/a.txt", "1 < 2\n");
        write("samples/x/test-fixtures/GO-3.json", &osv("GO-3"));
        let plan = plan(root).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let names: Vec<(String, usize)> = plan
            .feeds
            .iter()
            .map(|f| {
                (
                    f.name.replace(&root.display().to_string(), ""),
                    f.files.len(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("kev:/kev/kev.json".to_owned(), 1),
                ("osv:/osv/Go".to_owned(), 2),
                ("osv:/osv/crates.io/R-1.json".to_owned(), 1),
            ]
        );
        let skipped: Vec<String> = plan
            .skipped
            .iter()
            .map(|s| s.path.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(skipped, ["samples/x/test-fixtures", "kev", "orderings"]);
        assert!(plan.skipped[0].reason.contains("test fixtures"));
        assert!(plan.skipped[2].reason.contains("none in a recognised"));
        assert!(super::plan(&root.join("missing")).is_err());
    }
}
