//! Java archives (`.jar`, `.war`, `.ear`, `.par`, and Jenkins' `.jpi`/`.hpi`),
//! identified by Maven coordinates the way Trivy's jar parser does, minus its
//! Java DB and Maven Central look-ups:
//!
//! 1. every `pom.properties` in the archive is a package (shaded jars carry
//!    several);
//! 2. when none of them describes the archive itself (the artifact and version
//!    in its file name), the main section of `META-INF/MANIFEST.MF` names it;
//! 3. failing that, when the archive has no pom.properties at all, the file
//!    name `artifact-1.2.3.jar` gives an artifact and version without a
//!    group, reported with a `maven-group-unknown` warning (Trivy finds the
//!    group in its Java DB instead, and also tries archives whose
//!    pom.properties name another artifact);
//! 4. nested archives (`WEB-INF/lib/*.jar`, `BOOT-INF/lib/*.jar`, jars in
//!    ears) are read the same way, to a bounded depth, and their packages'
//!    evidence path is `outer.war!/WEB-INF/lib/x.jar`.
//!
//! Deliberate differences from Trivy: the manifest's display-name fields
//! (`Implementation-Vendor`, `Specification-Vendor`) are not used as a group,
//! and group or artifact ids containing whitespace are rejected: they are
//! never Maven coordinates, and Trivy only keeps them when its Java DB is
//! missing. Only `META-INF/MANIFEST.MF` is read, not any file of that name.
//!
//! Every archive is hostile: entry counts, the size of each entry read into
//! memory, the nesting depth and the total bytes inflated are all bounded.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read, Seek};

use zip::ZipArchive;

use model::{AnalyzerId, Diagnostic, Package, PackageKind};

use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta, ReadSeek};

/// Extensions handled at the top level (case-insensitive), as Trivy's jar analyzer.
const ARCHIVE_EXTENSIONS: [&str; 6] = ["jar", "war", "ear", "par", "jpi", "hpi"];
/// Extensions of nested entries that are opened, as Trivy's `isArtifact`.
const NESTED_EXTENSIONS: [&str; 3] = ["jar", "war", "ear"];

/// Bounds on the work done for one top-level file.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Archives nested deeper than this are not opened (an ear of wars of
    /// jars is depth 2; anything past a handful is a zip quine or an attack).
    max_depth: usize,
    /// A nested archive is inflated into memory to be read; larger ones are
    /// skipped with a diagnostic.
    max_nested_archive_bytes: u64,
    /// Total bytes inflated while reading one top-level file and everything
    /// inside it. Only metadata entries and nested archives are inflated,
    /// never classes, so real archives stay far below this.
    max_total_inflated_bytes: u64,
    /// Entries per archive; the largest real uber-jars hold some tens of thousands.
    max_entries: usize,
    /// Nested archives opened for one top-level file: real ears and fat jars
    /// hold hundreds; a fan-out of small archives copies must not run for hours.
    max_nested_archives: usize,
}

const LIMITS: Limits = Limits {
    max_depth: 8,
    max_nested_archive_bytes: 64 << 20,
    max_total_inflated_bytes: 1 << 30,
    max_entries: 500_000,
    max_nested_archives: 10_000,
};
const MAX_POM_PROPERTIES_BYTES: u64 = 64 << 10;
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
const MAX_POM_XML_BYTES: u64 = 1 << 20;

const FORMAT: &str = "java archive";

/// Finds Maven artifacts in Java archives, including archives nested in them.
#[derive(Debug, Clone, Copy, Default)]
pub struct JavaArchiveAnalyzer;

impl Analyzer for JavaArchiveAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("java-archive", 1)
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        has_extension(file.file_name(), &ARCHIVE_EXTENSIONS)
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        analyze_with_limits(file.body, file.meta.path, LIMITS, out)
    }
}

fn analyze_with_limits(
    body: &mut dyn ReadSeek,
    path: &str,
    limits: Limits,
    out: &mut AnalysisOutput,
) -> Result<(), AnalyzerError> {
    let archive = ZipArchive::new(body)
        .map_err(|e| AnalyzerError::malformed(FORMAT, format!("not a readable zip: {e}")))?;
    let mut walk = Walk {
        limits,
        inflate_budget: limits.max_total_inflated_bytes,
        nested_archives_left: limits.max_nested_archives,
        packages: Vec::new(),
        diagnostics: Vec::new(),
    };
    let result = walk.archive(archive, path, 0);
    let Walk {
        packages,
        diagnostics,
        ..
    } = walk;
    out.diagnostics.extend(diagnostics);
    // One artifact found twice in the same file (a shaded jar that also
    // declares itself in its manifest, two copies of a pom.properties) is one
    // package.
    let mut seen = HashSet::new();
    for package in packages {
        let key = (
            package.name.clone(),
            package.version.clone(),
            package.evidence.path.clone(),
        );
        if seen.insert(key) {
            out.packages.push(package);
        }
    }
    match result {
        Ok(()) => Ok(()),
        // Keep what was found before a limit was reached: it is sound, only
        // incomplete, and the diagnostic says so.
        Err(Stop::Limit(why)) => {
            out.diagnostics.push(
                Diagnostic::error(
                    "java-archive-limit",
                    format!("{why}; results are incomplete"),
                )
                .with_path(path),
            );
            Ok(())
        }
        Err(Stop::Fatal(e)) => Err(e),
    }
}

/// Why the walk of an archive stopped early.
enum Stop {
    /// A bound on the whole top-level file was reached (inflated bytes,
    /// nested archives): stop everything.
    Limit(String),
    /// The archive cannot be read at all.
    Fatal(AnalyzerError),
}

impl From<AnalyzerError> for Stop {
    fn from(e: AnalyzerError) -> Stop {
        Stop::Fatal(e)
    }
}

/// How reading one entry into memory ended.
enum EntryRead {
    Read(Vec<u8>),
    /// Larger than the per-entry cap; nothing kept.
    TooLarge,
    /// The entry could not be inflated (unsupported method, encryption,
    /// corrupt data).
    Failed(String),
}

/// What one archive's entries are for us.
enum EntryKind {
    PomProperties,
    /// `META-INF/maven/<g>/<a>/pom.xml`: licenses for `g:a`.
    PomXml(String),
    Manifest,
    Nested,
}

struct Walk {
    limits: Limits,
    inflate_budget: u64,
    nested_archives_left: usize,
    packages: Vec<Package>,
    diagnostics: Vec<Diagnostic>,
}

impl Walk {
    fn warn(&mut self, code: &str, path: &str, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::warning(code, message).with_path(path));
    }

    /// Reads one archive at `path` (`outer.war!/WEB-INF/lib/x.jar` when nested).
    fn archive<R: Read + Seek>(
        &mut self,
        mut zip: ZipArchive<R>,
        path: &str,
        depth: usize,
    ) -> Result<(), Stop> {
        let max_entries = self.limits.max_entries;
        if zip.len() > max_entries {
            return Err(Stop::Fatal(AnalyzerError::Limit(format!(
                "{path} has {} entries, more than {max_entries}",
                zip.len()
            ))));
        }

        // Names first: reading an entry borrows the archive mutably.
        let mut wanted: Vec<(usize, String, EntryKind)> = Vec::new();
        for index in 0..zip.len() {
            let Some(Ok(name)) = zip.name_for_index(index) else {
                continue;
            };
            let kind = if base_name(&name) == "pom.properties" {
                EntryKind::PomProperties
            } else if let Some(key) = embedded_pom_key(&name) {
                EntryKind::PomXml(key)
            } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
                EntryKind::Manifest
            } else if !name.ends_with('/') && has_extension(base_name(&name), &NESTED_EXTENSIONS) {
                EntryKind::Nested
            } else {
                continue;
            };
            wanted.push((index, name.into_owned(), kind));
        }

        let own = artifact_from_file_name(base_name(path));
        let mut found_own_pom = false;
        let mut saw_pom = false;
        let mut manifest: Option<Manifest> = None;
        let mut pom_licenses: HashMap<String, Vec<String>> = HashMap::new();
        let first_package = self.packages.len();

        for (index, name, kind) in wanted {
            match kind {
                EntryKind::PomXml(key) => {
                    if let Some(bytes) =
                        self.read_metadata(&mut zip, index, &name, path, MAX_POM_XML_BYTES)?
                    {
                        let licenses = pom_xml_licenses(&String::from_utf8_lossy(&bytes));
                        if !licenses.is_empty() {
                            pom_licenses.insert(key, licenses);
                        }
                    }
                }
                EntryKind::PomProperties => {
                    let Some(bytes) =
                        self.read_metadata(&mut zip, index, &name, path, MAX_POM_PROPERTIES_BYTES)?
                    else {
                        continue;
                    };
                    let props = PomProperties::parse(&bytes);
                    let Some((group, artifact, version)) = props.coordinates() else {
                        continue;
                    };
                    saw_pom = true;
                    if let Some((own_artifact, own_version)) = &own
                        && *own_artifact == artifact
                        && *own_version == version
                    {
                        found_own_pom = true;
                    }
                    self.push(format!("{group}:{artifact}"), version, path);
                }
                EntryKind::Manifest => {
                    if let Some(bytes) =
                        self.read_metadata(&mut zip, index, &name, path, MAX_MANIFEST_BYTES)?
                    {
                        manifest = Some(Manifest::parse(&bytes));
                    }
                }
                EntryKind::Nested => {
                    let nested_path = format!("{path}!/{name}");
                    let Limits {
                        max_depth,
                        max_nested_archive_bytes,
                        ..
                    } = self.limits;
                    if depth + 1 > max_depth {
                        self.warn(
                            "java-archive-too-deep",
                            &nested_path,
                            format!("archives nested deeper than {max_depth} levels are not read"),
                        );
                        continue;
                    }
                    if self.nested_archives_left == 0 {
                        return Err(Stop::Limit(format!(
                            "stopped after opening {} nested archives",
                            self.limits.max_nested_archives
                        )));
                    }
                    self.nested_archives_left -= 1;
                    let bytes = match self.read_entry(&mut zip, index, max_nested_archive_bytes)? {
                        EntryRead::Read(bytes) => bytes,
                        EntryRead::TooLarge => {
                            self.warn(
                                "java-nested-archive-too-large",
                                &nested_path,
                                format!(
                                    "nested archive larger than {max_nested_archive_bytes} bytes not read"
                                ),
                            );
                            continue;
                        }
                        EntryRead::Failed(why) => {
                            self.warn("java-archive-entry-unreadable", &nested_path, why);
                            continue;
                        }
                    };
                    match ZipArchive::new(Cursor::new(bytes)) {
                        Ok(inner) => match self.archive(inner, &nested_path, depth + 1) {
                            Ok(()) => {}
                            Err(Stop::Fatal(e)) => {
                                self.warn(
                                    "java-nested-archive-skipped",
                                    &nested_path,
                                    e.to_string(),
                                );
                            }
                            Err(stop @ Stop::Limit(_)) => return Err(stop),
                        },
                        Err(e) => self.warn(
                            "java-nested-archive-malformed",
                            &nested_path,
                            format!("not a readable zip: {e}"),
                        ),
                    }
                }
            }
        }

        // The pom.xml sits beside its pom.properties, so only this archive's
        // own packages can take its licenses (nested archives had their own).
        for package in &mut self.packages[first_package..] {
            if package.evidence.path != path || !package.licenses.is_empty() {
                continue;
            }
            if let Some(licenses) = pom_licenses.get(&package.name) {
                package.licenses = licenses.clone();
            }
        }

        if found_own_pom {
            return Ok(());
        }
        if let Some((group, artifact, version)) = manifest.as_ref().and_then(Manifest::coordinates)
        {
            let name = format!("{group}:{artifact}");
            let known = self.packages[first_package..]
                .iter()
                .any(|p| p.name == name && p.version == version);
            if !known {
                self.push(name, &version, path);
            }
            return Ok(());
        }
        // The file name is the weakest evidence: a pom.properties for a
        // differently spelt artifact (Debian renames `error_prone_x` to
        // `error-prone-x`) most likely describes the same archive.
        if saw_pom {
            return Ok(());
        }
        if let Some((artifact, version)) = own {
            self.warn(
                "maven-group-unknown",
                path,
                format!(
                    "no pom.properties or manifest identifies this archive; {artifact} {version} comes from its file name, without a group"
                ),
            );
            self.push(artifact.to_owned(), version, path);
        }
        Ok(())
    }

    fn push(&mut self, name: String, version: &str, path: &str) {
        let mut package = Package::new(PackageKind::Maven, name, version);
        package.evidence.path = path.to_owned();
        self.packages.push(package);
    }

    /// Reads a small metadata entry; a diagnostic and `None` when it cannot be.
    fn read_metadata<R: Read + Seek>(
        &mut self,
        zip: &mut ZipArchive<R>,
        index: usize,
        name: &str,
        archive_path: &str,
        cap: u64,
    ) -> Result<Option<Vec<u8>>, Stop> {
        let entry_path = format!("{archive_path}!/{name}");
        match self.read_entry(zip, index, cap)? {
            EntryRead::Read(bytes) => Ok(Some(bytes)),
            EntryRead::TooLarge => {
                self.warn(
                    "java-metadata-too-large",
                    &entry_path,
                    format!("larger than {cap} bytes; not read"),
                );
                Ok(None)
            }
            EntryRead::Failed(why) => {
                self.warn("java-archive-entry-unreadable", &entry_path, why);
                Ok(None)
            }
        }
    }

    /// Inflates one entry into memory, at most `cap` bytes, charging the bytes
    /// to the walk's budget. The sizes in the zip headers are not trusted.
    fn read_entry<R: Read + Seek>(
        &mut self,
        zip: &mut ZipArchive<R>,
        index: usize,
        cap: u64,
    ) -> Result<EntryRead, Stop> {
        let entry = match zip.by_index(index) {
            Ok(entry) => entry,
            Err(e) => return Ok(EntryRead::Failed(e.to_string())),
        };
        if entry.size() > cap {
            return Ok(EntryRead::TooLarge);
        }
        let limit = cap.min(self.inflate_budget);
        let mut bytes = Vec::new();
        let read = entry.take(limit.saturating_add(1)).read_to_end(&mut bytes);
        self.inflate_budget = self.inflate_budget.saturating_sub(bytes.len() as u64);
        if let Err(e) = read {
            return Ok(EntryRead::Failed(e.to_string()));
        }
        if bytes.len() as u64 > limit {
            if limit < cap {
                return Err(Stop::Limit(format!(
                    "stopped after inflating {} bytes (zip bomb?)",
                    self.limits.max_total_inflated_bytes
                )));
            }
            return Ok(EntryRead::TooLarge);
        }
        Ok(EntryRead::Read(bytes))
    }
}

/// `META-INF/maven/<g>/<a>/pom.properties`, a Java properties file.
#[derive(Debug, Default, PartialEq, Eq)]
struct PomProperties {
    group_id: String,
    artifact_id: String,
    version: String,
}

impl PomProperties {
    fn parse(bytes: &[u8]) -> PomProperties {
        let text = String::from_utf8_lossy(bytes);
        let mut props = PomProperties::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', '!']) {
                continue;
            }
            let Some(split) = line.find(['=', ':']) else {
                continue;
            };
            let (key, value) = (line[..split].trim(), line[split + 1..].trim());
            match key {
                "groupId" => props.group_id = value.to_owned(),
                "artifactId" => props.artifact_id = value.to_owned(),
                "version" => props.version = value.to_owned(),
                _ => {}
            }
        }
        props
    }

    fn coordinates(&self) -> Option<(&str, &str, &str)> {
        (!self.group_id.is_empty() && !self.artifact_id.is_empty() && !self.version.is_empty())
            .then_some((&self.group_id, &self.artifact_id, &self.version))
    }
}

/// `META-INF/maven/<g>/<a>/pom.xml` → `g:a`.
fn embedded_pom_key(name: &str) -> Option<String> {
    let rest = name
        .strip_prefix("META-INF/maven/")?
        .strip_suffix("/pom.xml")?;
    let (group, artifact) = rest.split_once('/')?;
    (!group.is_empty() && !artifact.is_empty() && !artifact.contains('/'))
        .then(|| format!("{group}:{artifact}"))
}

/// The `<name>` of each `<license>` in a POM's `<licenses>`, as written.
///
/// A POM written by Maven is regular enough that a scan for the elements does
/// the job of an XML parser here: comments are dropped first so a
/// commented-out license is not reported, and the five predefined entities
/// are decoded.
fn pom_xml_licenses(xml: &str) -> Vec<String> {
    let mut text = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        text.push_str(&rest[..start]);
        rest = match rest[start..].find("-->") {
            Some(end) => &rest[start + end + 3..],
            None => "",
        };
    }
    text.push_str(rest);

    let Some(block) = element_text(&text, "licenses") else {
        return Vec::new();
    };
    let mut licenses = Vec::new();
    let mut rest = block;
    while let Some(start) = rest.find("<license>") {
        rest = &rest[start + "<license>".len()..];
        let end = rest.find("</license>").unwrap_or(rest.len());
        if let Some(name) = element_text(&rest[..end], "name") {
            let name = decode_entities(name.trim());
            if !name.is_empty() {
                licenses.push(name);
            }
        }
        rest = &rest[end..];
    }
    licenses
}

/// The text between `<tag>` and the next `</tag>`.
fn element_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The identity fields of a manifest's main section.
#[derive(Debug, Default, PartialEq, Eq)]
struct Manifest {
    implementation_vendor_id: Option<String>,
    implementation_title: Option<String>,
    implementation_version: Option<String>,
    specification_title: Option<String>,
    specification_version: Option<String>,
    bundle_symbolic_name: Option<String>,
    bundle_name: Option<String>,
    bundle_version: Option<String>,
}

impl Manifest {
    /// Reads the main section: it ends at the first empty line, and the
    /// per-entry sections after it describe files, not the archive. Lines end
    /// in CRLF, LF or a lone CR; a line starting with one space continues the
    /// previous one.
    fn parse(bytes: &[u8]) -> Manifest {
        let text = String::from_utf8_lossy(bytes);
        let mut manifest = Manifest::default();
        let mut attribute = String::new();
        for line in split_manifest_lines(&text) {
            if line.is_empty() {
                break;
            }
            if let Some(continued) = line.strip_prefix(' ') {
                attribute.push_str(continued);
                continue;
            }
            manifest.add(&attribute);
            attribute.clear();
            attribute.push_str(line);
        }
        manifest.add(&attribute);
        manifest
    }

    fn add(&mut self, attribute: &str) {
        let Some((key, value)) = attribute.split_once(':') else {
            return;
        };
        let value = value.trim();
        // `%name` values are OSGi localisation keys, not values.
        if value.is_empty() || value.starts_with('%') {
            return;
        }
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "implementation-vendor-id" => &mut self.implementation_vendor_id,
            "implementation-title" => &mut self.implementation_title,
            "implementation-version" => &mut self.implementation_version,
            "specification-title" => &mut self.specification_title,
            "specification-version" => &mut self.specification_version,
            "bundle-symbolicname" => &mut self.bundle_symbolic_name,
            "bundle-name" => &mut self.bundle_name,
            "bundle-version" => &mut self.bundle_version,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    /// Group, artifact and version in Trivy's order of preference.
    fn coordinates(&self) -> Option<(String, String, String)> {
        let group = match (&self.implementation_vendor_id, &self.bundle_symbolic_name) {
            (Some(id), _) => id.clone(),
            (None, Some(symbolic)) => {
                // `com.fasterxml.jackson.core.jackson-databind;singleton:=true`
                // → `com.fasterxml.jackson.core`
                let symbolic = symbolic.split(';').next().unwrap_or(symbolic).trim();
                match symbolic.rsplit_once('.') {
                    Some((prefix, _)) => prefix.to_owned(),
                    None => symbolic.to_owned(),
                }
            }
            (None, None) => return None,
        };
        let artifact = self
            .implementation_title
            .as_ref()
            .or(self.specification_title.as_ref())
            .or(self.bundle_name.as_ref())?
            .clone();
        let version = self
            .implementation_version
            .as_ref()
            .or(self.specification_version.as_ref())
            .or(self.bundle_version.as_ref())?
            .clone();
        let is_id = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
        (is_id(&group) && is_id(&artifact)).then_some((group, artifact, version))
    }
}

/// Splits on CRLF, LF or a lone CR, the line ends the JAR manifest grammar allows.
fn split_manifest_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

/// `spring-core-5.3.4-SNAPSHOT.jar` → (`spring-core`, `5.3.4-SNAPSHOT`), the
/// way Trivy's `^([a-zA-Z0-9\._-]*[^-*])-(\d\S*(?:-SNAPSHOT)?).jar$` reads it:
/// the version starts at the last `-<digit>` that leaves a valid artifact id.
fn artifact_from_file_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = file_name.strip_suffix(".jar")?;
    let bytes = stem.as_bytes();
    let candidates = (1..bytes.len().saturating_sub(1))
        .rev()
        .filter(|&i| bytes[i] == b'-' && bytes[i + 1].is_ascii_digit());
    for split in candidates {
        let (artifact, version) = (&stem[..split], &stem[split + 1..]);
        let Some(last) = artifact.chars().last() else {
            continue;
        };
        let head = &artifact[..artifact.len() - last.len_utf8()];
        let head_ok = head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if head_ok && last != '-' && last != '*' && !version.contains(char::is_whitespace) {
            return Some((artifact, version));
        }
    }
    None
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn has_extension(file_name: &str, extensions: &[&str]) -> bool {
    match file_name.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty() && extensions.iter().any(|e| ext.eq_ignore_ascii_case(e))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
