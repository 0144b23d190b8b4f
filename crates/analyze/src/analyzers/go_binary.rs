//! Go binaries: the module list the Go linker embeds in `.go.buildinfo`.
//!
//! The blob starts with a 32-byte header (`\xff Go buildinf:`, pointer size,
//! flags). Go 1.18+ follows it with two varint-prefixed strings (toolchain
//! version, module info); older toolchains store two pointers to Go string
//! headers elsewhere in the data segment instead. Both are read here, as
//! `debug/buildinfo` does, and the module info is parsed as
//! `runtime/debug.ParseBuildInfo` does.
//!
//! What is reported follows Trivy's `golang/binary` parser, because our
//! package set is compared with Trivy's: the toolchain as `stdlib` with a
//! `v`-prefixed version, each dependency (its replacement when replaced),
//! `(devel)` versions blanked, and the main module's version recovered from
//! `-ldflags -X …version=` or, failing that, from `….version.str` symbols.

use std::collections::BTreeMap;

use model::{AnalyzerId, Diagnostic, Package, PackageKind};

use super::elf::{self, ElfFile};
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta, ReadSeek};

const FORMAT: &str = "Go build info";

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_SIZE: usize = 32;
/// The linker aligns the header to 16 bytes within the data it searches.
const HEADER_ALIGN: usize = 16;
/// Without a `.go.buildinfo` section the header sits near the start of the
/// first writable segment; `debug/buildinfo` searches this much of it.
const SEGMENT_SEARCH_BYTES: u64 = 64 * 1024;
/// A real `.go.buildinfo` is a few tens of KiB even for Kubernetes.
const MAX_SECTION_BYTES: u64 = 16 << 20;
/// Longest toolchain version or module info string we accept.
const MAX_STRING_BYTES: u64 = 8 << 20;
/// `cmd/go` frames the module info with 16-byte sentinels.
const SENTINEL_LEN: usize = 16;
/// The longest value read behind a `….version.str` symbol.
const MAX_SYMBOL_VALUE_BYTES: u64 = 4096;

/// Finds Go modules compiled into ELF executables.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoBinaryAnalyzer;

impl Analyzer for GoBinaryAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("go-binary", 1)
    }

    /// Any executable, as Trivy: Go binaries have no telling name or place.
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.is_executable()
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let body = file.body;
        if !elf::has_elf_magic(body)? {
            return Ok(());
        }
        let elf = ElfFile::parse(body)?;
        let Some(raw) = read_build_info(&elf, body)? else {
            return Ok(());
        };
        let (info, problems) = ModInfo::parse(&raw.modinfo);
        for problem in problems {
            out.diagnostics.push(
                Diagnostic::warning("malformed-go-buildinfo", problem).with_path(file.meta.path),
            );
        }
        let symbol_version = |main_path: &str| -> Result<String, AnalyzerError> {
            elf_symbol_version(&elf, body, main_path)
        };
        out.packages
            .extend(packages(&raw.go_version, &info, symbol_version)?);
        Ok(())
    }
}

/// The two strings of a Go build info blob.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawBuildInfo {
    /// Toolchain version as written, e.g. `go1.22.3` or `go1.26.0-X:nodwarf5`.
    go_version: String,
    /// Module info with its sentinels removed; empty for binaries built
    /// outside module mode.
    modinfo: String,
}

/// Locates and decodes the build info blob. `Ok(None)` means "not a Go
/// binary"; an error means the blob is there but broken.
fn read_build_info(
    elf: &ElfFile,
    body: &mut dyn ReadSeek,
) -> Result<Option<RawBuildInfo>, AnalyzerError> {
    let Some(region) = search_region(elf, body)? else {
        return Ok(None);
    };
    let Some(start) = find_header(&region.bytes) else {
        return Ok(None);
    };
    let header = &region.bytes[start..start + HEADER_SIZE];
    let header_addr = checked_addr(region.addr, start as u64)?;
    let mut memory = Memory {
        elf,
        body,
        region: &region,
    };

    let ptr_size = header[14];
    let flags = header[15];
    let (version, modinfo) = if flags & 0x2 != 0 {
        let (version, next) =
            memory.varint_string(checked_addr(header_addr, HEADER_SIZE as u64)?)?;
        let (modinfo, _) = memory.varint_string(next)?;
        (version, modinfo)
    } else {
        let big_endian = flags & 0x1 != 0;
        let pointer = Pointer::new(ptr_size, big_endian)?;
        let version_at = pointer.read(&header[16..]);
        let modinfo_at = pointer.read(&header[16 + usize::from(ptr_size)..]);
        (
            memory.string_header(pointer, version_at)?,
            memory.string_header(pointer, modinfo_at)?,
        )
    };
    if version.is_empty() {
        return Err(AnalyzerError::malformed(FORMAT, "empty Go version"));
    }
    Ok(Some(RawBuildInfo {
        go_version: String::from_utf8_lossy(&version).into_owned(),
        modinfo: String::from_utf8_lossy(strip_sentinels(&modinfo)).into_owned(),
    }))
}

/// `base + offset` in the program's address space, which hostile headers
/// can push past its end.
fn checked_addr(base: u64, offset: u64) -> Result<u64, AnalyzerError> {
    base.checked_add(offset).ok_or_else(|| {
        AnalyzerError::malformed(FORMAT, format!("address {base:#x}+{offset:#x} overflows"))
    })
}

/// Bytes searched for the header, and the address of their first byte.
struct Region {
    addr: u64,
    bytes: Vec<u8>,
}

fn search_region(elf: &ElfFile, body: &mut dyn ReadSeek) -> Result<Option<Region>, AnalyzerError> {
    if let Some(section) = elf.section(".go.buildinfo") {
        let bytes = elf.read_section(body, section, MAX_SECTION_BYTES)?;
        return Ok(Some(Region {
            addr: section.addr,
            bytes,
        }));
    }
    // Binaries whose section headers were stripped (or never had a
    // dedicated section) keep the blob at the start of the data segment:
    // the first loadable segment that is writable but not executable.
    const PF_X: u32 = 0x1;
    const PF_W: u32 = 0x2;
    let Some(segment) = elf
        .segments
        .iter()
        .find(|s| s.is_load() && s.flags & (PF_X | PF_W) == PF_W)
    else {
        return Ok(None);
    };
    let len = segment
        .file_size
        .min(segment.mem_size)
        .min(SEGMENT_SEARCH_BYTES);
    let bytes = elf.read_file_range(body, segment.offset, len)?;
    Ok(Some(Region {
        addr: segment.vaddr,
        bytes,
    }))
}

/// Offset of the first 16-byte-aligned magic with a whole header after it.
fn find_header(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len())
        .step_by(HEADER_ALIGN)
        .find(|&at| bytes.len() - at >= HEADER_SIZE && bytes[at..].starts_with(MAGIC))
}

fn strip_sentinels(modinfo: &[u8]) -> &[u8] {
    let len = modinfo.len();
    if len > 2 * SENTINEL_LEN && modinfo[len - SENTINEL_LEN - 1] == b'\n' {
        &modinfo[SENTINEL_LEN..len - SENTINEL_LEN]
    } else {
        &[]
    }
}

#[derive(Debug, Clone, Copy)]
struct Pointer {
    size: u8,
    big_endian: bool,
}

impl Pointer {
    fn new(size: u8, big_endian: bool) -> Result<Pointer, AnalyzerError> {
        if size != 4 && size != 8 {
            return Err(AnalyzerError::malformed(
                FORMAT,
                format!("pointer size {size} is neither 4 nor 8"),
            ));
        }
        Ok(Pointer { size, big_endian })
    }

    /// Reads one pointer from the start of `bytes`, which holds at least one.
    fn read(self, bytes: &[u8]) -> u64 {
        let mut word = [0u8; 8];
        let size = usize::from(self.size);
        word[..size].copy_from_slice(&bytes[..size]);
        if self.big_endian {
            word[..size].reverse();
        }
        u64::from_le_bytes(word)
    }
}

/// Reads the program's memory image: first from the searched region (which
/// is all there is when the file has a section but no segments), then
/// through the segments.
struct Memory<'a> {
    elf: &'a ElfFile,
    body: &'a mut dyn ReadSeek,
    region: &'a Region,
}

impl Memory<'_> {
    /// Up to `len` bytes at `addr`; shorter when the mapping ends first.
    fn read(&mut self, addr: u64, len: u64) -> Result<Vec<u8>, AnalyzerError> {
        if let Some(offset) = addr.checked_sub(self.region.addr)
            && let Ok(offset) = usize::try_from(offset)
            && let Some(available) = self.region.bytes.get(offset..)
            && (available.len() as u64 >= len || self.elf.segments.is_empty())
        {
            let take = available
                .len()
                .min(usize::try_from(len).unwrap_or(usize::MAX));
            return Ok(available[..take].to_vec());
        }
        Ok(self
            .elf
            .read_at_address(self.body, addr, len)?
            .unwrap_or_default())
    }

    fn read_exact(&mut self, addr: u64, len: u64, what: &str) -> Result<Vec<u8>, AnalyzerError> {
        if len > MAX_STRING_BYTES {
            return Err(AnalyzerError::Limit(format!(
                "Go build info {what} of {len} bytes"
            )));
        }
        let bytes = self.read(addr, len)?;
        if (bytes.len() as u64) < len {
            return Err(AnalyzerError::malformed(
                FORMAT,
                format!("{what} at {addr:#x} runs past the mapped data"),
            ));
        }
        Ok(bytes)
    }

    /// A Go 1.18+ inline string: uvarint length, then the bytes. Returns the
    /// string and the address after it.
    fn varint_string(&mut self, addr: u64) -> Result<(Vec<u8>, u64), AnalyzerError> {
        let prefix = self.read(addr, 10)?;
        let (len, used) = uvarint(&prefix).ok_or_else(|| {
            AnalyzerError::malformed(FORMAT, format!("bad string length at {addr:#x}"))
        })?;
        let data_at = checked_addr(addr, used as u64)?;
        let bytes = self.read_exact(data_at, len, "string")?;
        Ok((bytes, checked_addr(data_at, len)?))
    }

    /// A pre-1.18 string: `addr` points at a Go string header (data
    /// pointer, length), which points at the bytes.
    fn string_header(&mut self, pointer: Pointer, addr: u64) -> Result<Vec<u8>, AnalyzerError> {
        let header_len = 2 * u64::from(pointer.size);
        let header = self.read_exact(addr, header_len, "string header")?;
        let data_at = pointer.read(&header);
        let len = pointer.read(&header[usize::from(pointer.size)..]);
        self.read_exact(data_at, len, "string")
    }
}

/// `encoding/binary.Uvarint`: value and bytes used; `None` when truncated
/// or longer than 64 bits.
fn uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        if i == 9 && *byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A module line of the module info.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    pub path: String,
    pub version: String,
    pub sum: String,
}

/// A dependency and, when `go.mod` replaced it, what was built instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub module: Module,
    pub replace: Option<Module>,
}

/// The module info text of a Go binary (`runtime/debug.BuildInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModInfo {
    /// Package path of the main package (`path` line).
    pub path: String,
    pub main: Option<Module>,
    pub deps: Vec<Dependency>,
    /// `build` settings, key and unquoted value, in order.
    pub settings: Vec<(String, String)>,
}

impl ModInfo {
    /// Parses module info as `runtime/debug.ParseBuildInfo`, except that a
    /// malformed line is skipped and reported instead of failing the whole
    /// binary.
    pub fn parse(text: &str) -> (ModInfo, Vec<String>) {
        let mut info = ModInfo::default();
        let mut problems = Vec::new();
        // Which module a `=>` line replaces: the main module or a dependency.
        #[derive(Clone, Copy)]
        enum Last {
            None,
            Main,
            Dep(usize),
        }
        let mut last = Last::None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if let Some(rest) = line.strip_prefix("path\t") {
                info.path = rest.to_owned();
                last = Last::None;
            } else if let Some(rest) = line.strip_prefix("mod\t") {
                match module_line(rest) {
                    Ok(module) => {
                        info.main = Some(module);
                        last = Last::Main;
                    }
                    Err(e) => {
                        problems.push(format!("line {number}: {e}"));
                        last = Last::None;
                    }
                }
            } else if let Some(rest) = line.strip_prefix("dep\t") {
                match module_line(rest) {
                    Ok(module) => {
                        info.deps.push(Dependency {
                            module,
                            replace: None,
                        });
                        last = Last::Dep(info.deps.len() - 1);
                    }
                    Err(e) => {
                        problems.push(format!("line {number}: {e}"));
                        last = Last::None;
                    }
                }
            } else if let Some(rest) = line.strip_prefix("=>\t") {
                let fields: Vec<&str> = rest.split('\t').collect();
                let [path, version, sum] = fields[..] else {
                    problems.push(format!(
                        "line {number}: expected 3 columns for replacement; got {}",
                        fields.len()
                    ));
                    continue;
                };
                let replacement = Module {
                    path: path.to_owned(),
                    version: version.to_owned(),
                    sum: sum.to_owned(),
                };
                match last {
                    Last::Main => {
                        // The main module is what was built; its
                        // replacement says nothing about dependencies.
                    }
                    Last::Dep(i) => info.deps[i].replace = Some(replacement),
                    Last::None => problems.push(format!(
                        "line {number}: replacement with no module on previous line"
                    )),
                }
                last = Last::None;
            } else if let Some(rest) = line.strip_prefix("build\t") {
                match build_setting(rest) {
                    Ok(setting) => info.settings.push(setting),
                    Err(e) => problems.push(format!("line {number}: {e}")),
                }
                last = Last::None;
            }
        }
        (info, problems)
    }

    fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn module_line(rest: &str) -> Result<Module, String> {
    let fields: Vec<&str> = rest.split('\t').collect();
    match fields[..] {
        [path, version] => Ok(Module {
            path: path.to_owned(),
            version: version.to_owned(),
            sum: String::new(),
        }),
        [path, version, sum] => Ok(Module {
            path: path.to_owned(),
            version: version.to_owned(),
            sum: sum.to_owned(),
        }),
        _ => Err(format!("expected 2 or 3 columns; got {}", fields.len())),
    }
}

/// `key=value`, where either side may be a Go-quoted string.
fn build_setting(rest: &str) -> Result<(String, String), String> {
    let (key, raw_value) = match rest.as_bytes().first() {
        None => return Err("build line missing '='".to_owned()),
        Some(b'=') => return Err("build line with missing key".to_owned()),
        Some(b'`' | b'"') => {
            let (key, after) = go_unquote_prefix(rest)
                .ok_or_else(|| format!("invalid quoted key in build line: {rest}"))?;
            let value = after
                .strip_prefix('=')
                .ok_or_else(|| "build line missing '=' after quoted key".to_owned())?;
            (key, value)
        }
        Some(_) => {
            let (key, value) = rest
                .split_once('=')
                .ok_or_else(|| format!("build line missing '=': {rest}"))?;
            (key.to_owned(), value)
        }
    };
    let value = if raw_value.starts_with('"') || raw_value.starts_with('`') {
        match go_unquote_prefix(raw_value) {
            Some((value, "")) => value,
            _ => return Err(format!("invalid quoted value in build line: {raw_value}")),
        }
    } else {
        raw_value.to_owned()
    };
    Ok((key, value))
}

/// Unquotes the Go string literal at the start of `s` (as `strconv.Unquote`
/// would), returning it and what follows the closing quote.
fn go_unquote_prefix(s: &str) -> Option<(String, &str)> {
    if let Some(raw) = s.strip_prefix('`') {
        let end = raw.find('`')?;
        return Some((raw[..end].replace('\r', ""), &raw[end + 1..]));
    }
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\n' => return None,
            '\\' => {
                let (_, escape) = chars.next()?;
                match escape {
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\u{b}'),
                    '\\' | '"' | '\'' => out.push(escape),
                    'x' | 'u' | 'U' => {
                        let digits = match escape {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut value = 0u32;
                        for _ in 0..digits {
                            let (_, d) = chars.next()?;
                            value = value * 16 + d.to_digit(16)?;
                        }
                        // `\x` escapes are bytes; Go strings may hold
                        // invalid UTF-8, which we can only approximate.
                        out.push(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    '0'..='7' => {
                        let mut value = escape.to_digit(8)?;
                        for _ in 0..2 {
                            let (_, d) = chars.next()?;
                            value = value * 8 + d.to_digit(8)?;
                        }
                        if value > 255 {
                            return None;
                        }
                        out.push(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    _ => return None,
                }
            }
            _ => out.push(c),
        }
    }
    None
}

/// Builds the package list as Trivy's Go binary parser does.
fn packages(
    go_version: &str,
    info: &ModInfo,
    symbol_version: impl FnOnce(&str) -> Result<String, AnalyzerError>,
) -> Result<Vec<Package>, AnalyzerError> {
    let mut packages = Vec::with_capacity(info.deps.len() + 2);
    if let Some(main) = info.main.as_ref().filter(|m| !m.path.is_empty()) {
        let version = main_version(main, info, symbol_version)?;
        let mut package = Package::new(PackageKind::GoModule, &main.path, version);
        package.is_application = true;
        packages.push(package);
    }
    packages.push(Package::new(
        PackageKind::GoModule,
        "stdlib",
        stdlib_version(go_version),
    ));
    for dep in &info.deps {
        // Old toolchains listed the main module among the deps with an
        // empty path; Trivy skips it, and so do we.
        if dep.module.path.is_empty() {
            continue;
        }
        let built = dep.replace.as_ref().unwrap_or(&dep.module);
        packages.push(Package::new(
            PackageKind::GoModule,
            &built.path,
            devel_to_empty(&built.version),
        ));
    }
    Ok(packages)
}

/// `go1.22.3` → `v1.22.3`; GOEXPERIMENT suffixes (`go1.22.3 X:boringcrypto`,
/// `go1.26.0-X:nodwarf5`) dropped, as Trivy does.
pub fn stdlib_version(go_version: &str) -> String {
    let version = go_version.strip_prefix("go").unwrap_or(go_version);
    let version = version.split(' ').next().unwrap_or(version);
    let version = version.split("-X:").next().unwrap_or(version);
    format!("v{version}")
}

/// `(devel)` means "built from a checkout": no version at all.
fn devel_to_empty(version: &str) -> &str {
    if version == "(devel)" { "" } else { version }
}

/// The main module's version, or the one stamped with `-ldflags -X` when
/// the module has none (a plain `go build`) or only a pseudo-version (a VCS
/// checkout, Go 1.24+), or else the value of a `….version` symbol.
fn main_version(
    main: &Module,
    info: &ModInfo,
    symbol_version: impl FnOnce(&str) -> Result<String, AnalyzerError>,
) -> Result<String, AnalyzerError> {
    let version = devel_to_empty(&main.version);
    if !version.is_empty() && !version.starts_with("v0.0.0") {
        return Ok(version.to_owned());
    }
    let stamped = info
        .setting("-ldflags")
        .map(|flags| ldflags_version(&main.path, flags))
        .unwrap_or_default();
    if !stamped.is_empty() {
        return Ok(stamped);
    }
    let symbol = symbol_version(&main.path)?;
    if !symbol.is_empty() {
        return Ok(symbol);
    }
    Ok(version.to_owned())
}

/// The version set with `-X <pkg>.version=<semver>` in the recorded
/// `-ldflags`, chosen as Trivy chooses it; empty when none or ambiguous.
pub fn ldflags_version(main_path: &str, ldflags: &str) -> String {
    let Some(args) = shell_words(ldflags) else {
        return String::new();
    };
    let Some(assignments) = x_flag_assignments(&args) else {
        return String::new();
    };
    choose_version(
        main_path,
        assignments
            .iter()
            .map(|(key, value)| (key.trim_start_matches('\''), value.trim_end_matches('\''))),
    )
}

/// Trivy's ranking of `-X` keys: `<module>/cmd/…` first, then packages
/// named main/common/version/cmd, then anything else. Two candidates of
/// the best rank make the answer unknown.
fn choose_version<'a>(
    main_path: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut ranked: [Vec<&str>; 3] = Default::default();
    let cmd_prefix = format!("{main_path}/cmd/");
    for (key, value) in candidates {
        if !is_version_key(key) || !is_valid_semver_loose(value) {
            continue;
        }
        let rank = if key.starts_with(&cmd_prefix) {
            0
        } else if ["main", "common", "version", "cmd"].contains(&version_prefix(key).as_str()) {
            1
        } else {
            2
        };
        ranked[rank].push(value);
    }
    match ranked.iter().find(|r| !r.is_empty()).map(Vec::as_slice) {
        Some([only]) => (*only).to_owned(),
        _ => String::new(),
    }
}

fn is_version_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.ends_with(".version") || key.ends_with(".ver")
}

/// `github.com/x/y/pkg/Version.version` → `version`: the package name.
fn version_prefix(key: &str) -> String {
    let last = match key.rfind('/') {
        Some(i) if i > 0 => &key[i + 1..],
        _ => key,
    };
    last.split('.').next().unwrap_or(last).to_lowercase()
}

/// `golang.org/x/mod/semver.IsValid`, with or without the leading `v`.
fn is_valid_semver_loose(version: &str) -> bool {
    is_valid_go_semver(version) || is_valid_go_semver(&format!("v{version}"))
}

fn is_valid_go_semver(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let Some(rest) = numeric(rest) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix('.').and_then(numeric) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(mut rest) = rest.strip_prefix('.').and_then(numeric) else {
        return false;
    };
    if let Some(pre) = rest.strip_prefix('-') {
        let end = pre.find('+').unwrap_or(pre.len());
        let valid = pre[..end].split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !(id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
        });
        if !valid {
            return false;
        }
        rest = &pre[end..];
    }
    if let Some(build) = rest.strip_prefix('+') {
        return build.split('.').all(|id| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    }
    rest.is_empty()
}

/// Consumes a semver numeric identifier (no leading zeros).
fn numeric(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits > 1 && s.starts_with('0')) {
        return None;
    }
    Some(&s[digits..])
}

/// Splits a command line as `mattn/go-shellwords` does (Trivy's choice):
/// quotes group, backslash escapes outside single quotes, and an unquoted
/// `;`, `&`, `|`, `<` or `>` ends the command. `None` for an unclosed quote.
fn shell_words(line: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut started = false;
    let mut escaped = false;
    let mut single = false;
    let mut double = false;
    for c in line.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            started = true;
            continue;
        }
        match c {
            '\\' if !single => escaped = true,
            ' ' | '\t' | '\r' | '\n' if !single && !double => {
                if started {
                    args.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            '"' if !single => {
                double = !double;
                started = true;
            }
            '\'' if !double => {
                single = !single;
                started = true;
            }
            ';' | '&' | '|' | '<' | '>' if !single && !double => break,
            _ => {
                current.push(c);
                started = true;
            }
        }
    }
    if escaped || single || double {
        return None;
    }
    if started {
        args.push(current);
    }
    Some(args)
}

/// The `-X key=value` assignments of an `-ldflags` argument list, parsed
/// as Trivy parses them with `spf13/pflag` (unknown flags tolerated, `-h`
/// a boolean). `None` when pflag would fail, which makes Trivy give up.
fn x_flag_assignments(args: &[String]) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = args;
    while let Some((arg, tail)) = rest.split_first() {
        rest = tail;
        let Some(flag) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            continue;
        };
        if let Some(long) = flag.strip_prefix('-') {
            if long.is_empty() {
                break;
            }
            if long.starts_with('-') || long.starts_with('=') {
                return None;
            }
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            match (name, value) {
                ("help", Some(value)) => {
                    parse_go_bool(value)?;
                }
                ("help", None) => {}
                (_, Some(_)) => {}
                (_, None) => rest = strip_unknown_flag_value(rest),
            }
            continue;
        }
        // A run of shorthand letters (`-sw`); each letter sees the same
        // following arguments, as in pflag.
        let following = rest;
        let mut shorthands = flag;
        while let Some(letter) = shorthands.chars().next() {
            if shorthands.starts_with("test.") {
                break;
            }
            let after = &shorthands[letter.len_utf8()..];
            // `-X=value`: pflag only takes it as a value with something after `=`.
            let inline_value = if after.len() > 1 {
                after.strip_prefix('=')
            } else {
                None
            };
            match letter {
                'X' => {
                    let value = if let Some(value) = inline_value {
                        value
                    } else if !after.is_empty() {
                        after
                    } else if let Some((value, tail)) = following.split_first() {
                        rest = tail;
                        value.as_str()
                    } else {
                        return None;
                    };
                    set_string_to_string(&mut out, value)?;
                    shorthands = "";
                }
                'h' => {
                    if let Some(value) = inline_value {
                        parse_go_bool(value)?;
                        shorthands = "";
                    } else {
                        shorthands = after;
                    }
                }
                _ => {
                    if inline_value.is_some() {
                        shorthands = "";
                    } else {
                        rest = strip_unknown_flag_value(following);
                        shorthands = after;
                    }
                }
            }
        }
    }
    Some(out)
}

/// pflag drops the value of an unknown flag when one follows it.
fn strip_unknown_flag_value(args: &[String]) -> &[String] {
    match args.split_first() {
        Some((next, tail)) if !next.starts_with('-') => tail,
        _ => args,
    }
}

fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// pflag's `StringToString` value: one `k=v`, or several comma-separated
/// (CSV-quoted) pairs when more than one `=` appears.
fn set_string_to_string(out: &mut BTreeMap<String, String>, value: &str) -> Option<()> {
    let pairs = match value.matches('=').count() {
        0 => return None,
        1 => vec![value.trim_matches('"').to_owned()],
        _ => csv_record(value)?,
    };
    for pair in pairs {
        let (key, value) = pair.split_once('=')?;
        out.insert(key.to_owned(), value.to_owned());
    }
    Some(())
}

/// The first record of `encoding/csv` input with default settings.
fn csv_record(input: &str) -> Option<Vec<String>> {
    let line = input.split('\n').next().unwrap_or(input);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut field = String::new();
            let mut chars = quoted.char_indices().peekable();
            let after = loop {
                let (i, c) = chars.next()?;
                if c == '"' {
                    if let Some((_, '"')) = chars.peek() {
                        chars.next();
                        field.push('"');
                        continue;
                    }
                    break &quoted[i + 1..];
                }
                field.push(c);
            };
            fields.push(field);
            match after.strip_prefix(',') {
                Some(next) => rest = next,
                None if after.is_empty() => return Some(fields),
                None => return None,
            }
        } else {
            let (field, next) = match rest.split_once(',') {
                Some((field, next)) => (field, Some(next)),
                None => (rest, None),
            };
            if field.contains('"') {
                return None;
            }
            fields.push(field.to_owned());
            match next {
                Some(next) => rest = next,
                None => return Some(fields),
            }
        }
    }
}

/// The version behind a `….version.str` symbol (what `-X` writes), for
/// binaries built with `-trimpath`, which leaves `-ldflags` unrecorded.
fn elf_symbol_version(
    elf: &ElfFile,
    body: &mut dyn ReadSeek,
    main_path: &str,
) -> Result<String, AnalyzerError> {
    // Any name ending in a `….version.str` name ends in `.version.str`
    // itself, as `symbols_named` requires of its filter.
    let wanted = |name: &[u8]| {
        name.strip_suffix(b".str")
            .and_then(|key| std::str::from_utf8(key).ok())
            .is_some_and(is_version_key)
    };
    let symbols = match elf.symbols_named(body, wanted) {
        Ok(symbols) => symbols,
        // A broken symbol table only costs us this fallback.
        Err(AnalyzerError::Malformed { .. } | AnalyzerError::Limit(_)) => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    let mut candidates: Vec<(String, String)> = Vec::new();
    for symbol in symbols {
        let Some(key) = symbol.name.strip_suffix(b".str") else {
            continue;
        };
        let Ok(key) = std::str::from_utf8(key) else {
            continue;
        };
        if symbol.size == 0 || symbol.size > MAX_SYMBOL_VALUE_BYTES || !is_version_key(key) {
            continue;
        }
        let Some(section) = elf.sections.get(symbol.section_index) else {
            continue;
        };
        let Some(offset) = symbol
            .value
            .checked_sub(section.addr)
            .filter(|o| o.saturating_add(symbol.size) <= section.size)
        else {
            continue;
        };
        let Ok(bytes) =
            elf.read_file_range(body, section.offset.saturating_add(offset), symbol.size)
        else {
            continue;
        };
        let value = String::from_utf8_lossy(&bytes)
            .trim_end_matches('\0')
            .to_owned();
        if !value.is_empty() {
            candidates.push((key.to_owned(), value));
        }
    }
    Ok(choose_version(
        main_path,
        candidates.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldflags_versions() {
        let trivy = "github.com/aquasecurity/trivy";
        let cases = [
            // (main module, recorded -ldflags, expected version)
            (
                trivy,
                "-s -w -X=foo=bar -X='github.com/aquasecurity/trivy/pkg/version/app.ver=v0.50.1'",
                "v0.50.1",
            ),
            (
                trivy,
                "-s -w -X='github.com/aquasecurity/trivy/pkg/version.Version=v0.50.1'",
                "v0.50.1",
            ),
            (
                trivy,
                "-X='github.com/aquasecurity/trivy/pkg/version.Ver=v0.50.1'",
                "v0.50.1",
            ),
            (
                trivy,
                "-X=\"github.com/aquasecurity/trivy/pkg/version.Ver=0.50.1\"",
                "0.50.1",
            ),
            (
                trivy,
                "-X github.com/aquasecurity/trivy/pkg/version.Ver=0.50.1",
                "0.50.1",
            ),
            (
                trivy,
                "-Xgithub.com/aquasecurity/trivy/pkg/version.Ver=0.50.1",
                "0.50.1",
            ),
            // <module>/cmd/ beats the default package names, which beat the rest.
            (
                trivy,
                "-X='github.com/aquasecurity/trivy/cmd/Any.Ver=0.50.0' -X='github.com/aquasecurity/trivy/pkg/version.Ver=0.50.1'",
                "0.50.0",
            ),
            (
                trivy,
                "-X='github.com/aquasecurity/trivy/cmd/Any.Ver=0.50.0' -X='github.com/aquasecurity/trivy/pkg/Any.Ver=0.50.1'",
                "0.50.0",
            ),
            (
                trivy,
                "-X='github.com/aquasecurity/trivy/pkg/Any.Ver=0.50.0' -X='github.com/aquasecurity/trivy/pkg/Common.Ver=0.50.1'",
                "0.50.1",
            ),
            (
                trivy,
                "-X='github.com/aquasecurity/trivy/pkg/Any.Ver=0.50.1'",
                "0.50.1",
            ),
            // Two candidates of the same rank: unknown.
            (
                trivy,
                "-X='github.com/aquasecurity/trivy/pkg/Common.Ver=0.50.0' -X='github.com/aquasecurity/trivy/pkg/Main.Ver=0.50.1'",
                "",
            ),
            (
                trivy,
                "-X='github.com/aquasecurity/trivy/pkg/Any.Ver=0.50.1' -X='github.com/aquasecurity/trivy/pkg/Any-pref.Ver=0.50.0'",
                "",
            ),
            // Not a version key, not a semver, no flags.
            (
                "github.com/argoproj/argo-cd/v2",
                "-s -w -X='github.com/argoproj/argo-cd/v2/common.kubectlVersion=v0.26.11'",
                "",
            ),
            (trivy, "-X main.version=latest", ""),
            (trivy, "", ""),
            // syft's real flags: nested quotes, several -X, one version.
            (
                "github.com/anchore/syft",
                "-w -s -extldflags '-static' -X main.version=1.18.1 -X main.gitCommit=5e16e50 -X main.buildDate=2024-12-13T18:41:10Z -X main.gitDescription=v1.18.1 ",
                "1.18.1",
            ),
            // An unknown flag swallows the non-flag argument after it.
            (trivy, "-linkmode main.version=1.0.0", ""),
            // pflag failures make Trivy give up on -ldflags altogether.
            (trivy, "-X main.version=1.0.0 -X", ""),
            (trivy, "-X main.version=1.0.0 -X novalue", ""),
            (trivy, "-X main.version=1.0.0 -h=maybe", ""),
            (trivy, "-X 'main.version=1.0.0", ""),
            // Several pairs in one -X value are CSV.
            (trivy, "-X main.version=1.0.0,main.commit=abc", "1.0.0"),
            (trivy, "-X 'main.version=1.0.0,\"main.commit=a\"b'", ""),
            // `--` ends the flags; a shell separator ends the command.
            (trivy, "-- -X main.version=1.0.0", ""),
            (trivy, "-s; -X main.version=1.0.0", ""),
            // A later -X for the same key wins.
            (
                trivy,
                "-X main.version=1.0.0 -X main.version=2.0.0",
                "2.0.0",
            ),
        ];
        for (main, flags, expected) in cases {
            assert_eq!(ldflags_version(main, flags), expected, "{flags}");
        }
    }

    #[test]
    fn go_semver_validity() {
        let cases = [
            ("v1", true),
            ("v1.2", true),
            ("v1.2.3", true),
            ("v1.2.3-rc.1+build.5", true),
            ("v1.2.3-0.20200101-abcdef", true),
            ("v1.2.3+meta", true),
            ("1.2.3", false),
            ("v01.2.3", false),
            ("v1.2-rc1", false),
            ("v1.2.3-01", false),
            ("v1.2.3-", false),
            ("v1.2.3+", false),
            ("v1.2.3.4", false),
            ("v", false),
        ];
        for (version, valid) in cases {
            assert_eq!(is_valid_go_semver(version), valid, "{version}");
        }
    }

    #[test]
    fn shell_word_splitting() {
        let cases: [(&str, Option<&[&str]>); 8] = [
            ("-s -w", Some(&["-s", "-w"])),
            ("-X 'a=b c'", Some(&["-X", "a=b c"])),
            ("-X \"a=\\\"b\\\"\"", Some(&["-X", "a=\"b\""])),
            ("a\\ b", Some(&["a b"])),
            ("''", Some(&[""])),
            ("a | b", Some(&["a"])),
            ("'unclosed", None),
            ("trailing\\", None),
        ];
        for (line, expected) in cases {
            let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(shell_words(line), expected, "{line}");
        }
    }

    #[test]
    fn build_settings_unquote_like_go() {
        let cases = [
            ("CGO_ENABLED=0", Some(("CGO_ENABLED", "0"))),
            ("-ldflags=\"-s -w\"", Some(("-ldflags", "-s -w"))),
            ("-tags=`a b`", Some(("-tags", "a b"))),
            ("\"key with space\"=v", Some(("key with space", "v"))),
            (
                "k=\"tab\\there\\x41\\u00e9\\101\"",
                Some(("k", "tab\there\u{41}é\u{41}")),
            ),
            ("k=v=w", Some(("k", "v=w"))),
            ("k=\"unterminated", None),
            ("k=\"bad\\q\"", None),
            ("=v", None),
            ("", None),
            ("novalue", None),
        ];
        for (line, expected) in cases {
            let got = build_setting(line).ok();
            let expected = expected.map(|(k, v)| (k.to_owned(), v.to_owned()));
            assert_eq!(got, expected, "{line}");
        }
    }

    #[test]
    fn main_module_version_choice() {
        let info = |version: &str, ldflags: Option<&str>| ModInfo {
            main: Some(Module {
                path: "example.com/app".to_owned(),
                version: version.to_owned(),
                sum: String::new(),
            }),
            settings: ldflags
                .map(|f| vec![("-ldflags".to_owned(), f.to_owned())])
                .unwrap_or_default(),
            ..ModInfo::default()
        };
        let stamped = Some("-X main.version=1.2.3");
        let cases = [
            // (module version, -ldflags, symbol value, expected)
            ("v1.0.0", stamped, "v9.9.9", "v1.0.0"),
            ("(devel)", stamped, "v9.9.9", "1.2.3"),
            ("(devel)", None, "v9.9.9", "v9.9.9"),
            ("(devel)", None, "", ""),
            ("v0.0.0-20240101000000-abcdef123456", stamped, "", "1.2.3"),
            (
                "v0.0.0-20240101000000-abcdef123456+dirty",
                None,
                "",
                "v0.0.0-20240101000000-abcdef123456+dirty",
            ),
            ("", Some("-X main.version=oops"), "v2.0.0", "v2.0.0"),
        ];
        for (version, ldflags, symbol, expected) in cases {
            let info = info(version, ldflags);
            let main = info.main.clone().unwrap_or_default();
            let got = main_version(&main, &info, |_| Ok(symbol.to_owned())).unwrap();
            assert_eq!(got, expected, "{version} {ldflags:?} {symbol}");
        }
    }

    #[test]
    fn module_info_parsing() {
        let text = "go\tgo1.21.0\npath\tcmd/app\nmod\texample.com/app\tv1.0.0\th1:x=\n=>\t../app\t\t\n\
dep\ta.com/x\tv1.0.0\n=>\tb.com/y\tv2.0.0\th1:y=\nunknown line\nbuild\t-trimpath=true\n";
        let (info, problems) = ModInfo::parse(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(info.path, "cmd/app");
        assert_eq!(
            info.main.as_ref().map(|m| m.version.as_str()),
            Some("v1.0.0")
        );
        assert_eq!(info.deps.len(), 1);
        assert_eq!(
            info.deps[0].replace.as_ref().map(|r| r.path.as_str()),
            Some("b.com/y")
        );
        assert_eq!(info.setting("-trimpath"), Some("true"));
    }

    #[test]
    fn uvarints() {
        type Decoded = Option<(u64, usize)>;
        let cases: [(&[u8], Decoded); 6] = [
            (&[0], Some((0, 1))),
            (&[0x7f], Some((127, 1))),
            (&[0x80, 0x01], Some((128, 2))),
            (&[0x80], None),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                Some((u64::MAX, 10)),
            ),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                None,
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(uvarint(bytes), expected, "{bytes:?}");
        }
    }

    #[test]
    fn sentinel_stripping() {
        let framed = [vec![b'<'; 16], b"mod\tx\tv1\n".to_vec(), vec![b'>'; 16]].concat();
        assert_eq!(strip_sentinels(&framed), b"mod\tx\tv1\n");
        assert_eq!(strip_sentinels(b"too short"), b"");
        let no_newline = [vec![b'<'; 16], b"mod\tx\tv1".to_vec(), vec![b'>'; 16]].concat();
        assert_eq!(strip_sentinels(&no_newline), b"");
    }
}
