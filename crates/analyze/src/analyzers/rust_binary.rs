//! Rust binaries built with `cargo auditable`: the dependency tree it embeds
//! as zlib-compressed JSON in the `.dep-v0` section.
//!
//! Reported as Trivy reports them (`rust/binary` via `go-rustaudit`): every
//! runtime package, build-time-only packages left out, the root crate marked
//! as the application. Binaries without the section yield nothing: like
//! Trivy, we do not guess crates from panic strings.

use std::io::Read;

use flate2::read::ZlibDecoder;
use model::{AnalyzerId, Package, PackageKind};
use serde::Deserialize;

use super::elf::{self, ElfFile};
use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};

const FORMAT: &str = "cargo-auditable data";

/// `.rust-deps-v0` is where rust-audit 0.1 put the data.
const SECTIONS: [&str; 2] = [".dep-v0", ".rust-deps-v0"];
/// Compressed, the data of a thousand-crate binary is ~20 KiB.
const MAX_COMPRESSED_BYTES: u64 = 4 << 20;
/// Cap on the inflated JSON, so a zlib bomb costs at most this much.
pub const MAX_JSON_BYTES: u64 = 8 << 20;

/// Finds crates recorded by `cargo auditable` in ELF executables.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustBinaryAnalyzer;

impl Analyzer for RustBinaryAnalyzer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("rust-binary", 1)
    }

    /// Any executable, as Trivy.
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.is_executable()
    }

    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let body = file.body;
        if !elf::has_elf_magic(body)? {
            return Ok(());
        }
        let elf = ElfFile::parse(body)?;
        let Some(section) = SECTIONS.iter().find_map(|name| elf.section(name)) else {
            return Ok(());
        };
        let compressed = elf.read_section(body, section, MAX_COMPRESSED_BYTES)?;
        out.packages.extend(parse_dep_info(&compressed)?);
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct RawVersionInfo {
    packages: Vec<RawPackage>,
}

#[derive(Debug, Deserialize)]
struct RawPackage {
    name: String,
    version: String,
    /// `runtime` when absent, as cargo-auditable omits the default.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    root: bool,
}

/// Inflates and parses the contents of a `.dep-v0` section into packages.
pub fn parse_dep_info(compressed: &[u8]) -> Result<Vec<Package>, AnalyzerError> {
    let json = inflate(compressed)?;
    let info: RawVersionInfo = serde_json::from_slice(&json)
        .map_err(|e| AnalyzerError::malformed(FORMAT, format!("JSON: {e}")))?;
    Ok(info
        .packages
        .into_iter()
        .filter(|p| p.kind.as_deref().unwrap_or("runtime") == "runtime")
        .map(|p| {
            let mut package = Package::new(PackageKind::Cargo, p.name, p.version);
            package.is_application = p.root;
            package
        })
        .collect())
}

fn inflate(compressed: &[u8]) -> Result<Vec<u8>, AnalyzerError> {
    let mut json = Vec::new();
    ZlibDecoder::new(compressed)
        .take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| AnalyzerError::malformed(FORMAT, format!("zlib: {e}")))?;
    if json.len() as u64 > MAX_JSON_BYTES {
        return Err(AnalyzerError::Limit(format!(
            "cargo-auditable data inflates past {MAX_JSON_BYTES} bytes"
        )));
    }
    Ok(json)
}
