use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{AnalyzerId, DiffId, Package};

/// Operating-system family, derived from `/etc/os-release` `ID` and `ID_LIKE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsFamily {
    Debian,
    Ubuntu,
    Alpine,
    Wolfi,
    Chainguard,
    RedHat,
    CentOS,
    Rocky,
    AlmaLinux,
    Fedora,
    Oracle,
    Amazon,
    Suse,
    Photon,
    Mariner,
    /// Anything else: the `ID` value as written.
    Other(String),
}

impl OsFamily {
    /// Maps an os-release `ID` (falling back through `ID_LIKE`) to a family.
    pub fn from_os_release(id: &str, id_like: &[&str]) -> OsFamily {
        let known = |s: &str| -> Option<OsFamily> {
            Some(match s {
                "debian" => OsFamily::Debian,
                "ubuntu" => OsFamily::Ubuntu,
                "alpine" => OsFamily::Alpine,
                "wolfi" => OsFamily::Wolfi,
                "chainguard" => OsFamily::Chainguard,
                "rhel" | "redhat" => OsFamily::RedHat,
                "centos" => OsFamily::CentOS,
                "rocky" => OsFamily::Rocky,
                "almalinux" => OsFamily::AlmaLinux,
                "fedora" => OsFamily::Fedora,
                "ol" | "oracle" => OsFamily::Oracle,
                "amzn" => OsFamily::Amazon,
                "sles" | "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "suse" => {
                    OsFamily::Suse
                }
                "photon" => OsFamily::Photon,
                "mariner" | "azurelinux" => OsFamily::Mariner,
                _ => return None,
            })
        };
        let id = id.to_ascii_lowercase();
        known(&id)
            .or_else(|| id_like.iter().find_map(|l| known(&l.to_ascii_lowercase())))
            .unwrap_or(OsFamily::Other(id))
    }
}

/// The operating system of an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OsInfo {
    pub family: OsFamily,
    /// os-release `ID` as written (`debian`, `alpine`, `rhel`, …).
    pub id: String,
    /// os-release `VERSION_ID` (`12`, `3.19.1`, `9.4`); `None` for rolling releases.
    pub version_id: Option<String>,
    /// os-release `VERSION_CODENAME` (`bookworm`).
    pub codename: Option<String>,
    pub pretty_name: Option<String>,
    /// Path of the file it was read from.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiagnosticLevel {
    /// Something was skipped or approximated; the result is still sound.
    Warning,
    /// Part of the image could not be analysed; the result may be incomplete.
    Error,
}

/// A problem met while scanning, kept on the result instead of failing the scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    pub level: DiagnosticLevel,
    /// Stable machine-readable code, e.g. `unsupported-rpmdb-format`, `path-escapes-root`.
    pub code: String,
    pub message: String,
    pub layer_diff_id: Option<DiffId>,
    pub path: Option<String>,
    pub analyzer: Option<AnalyzerId>,
}

impl Diagnostic {
    pub fn new(level: DiagnosticLevel, code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level,
            code: code.to_owned(),
            message: message.into(),
            layer_diff_id: None,
            path: None,
            analyzer: None,
        }
    }

    pub fn warning(code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(DiagnosticLevel::Warning, code, message)
    }

    pub fn error(code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(DiagnosticLevel::Error, code, message)
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Diagnostic {
        self.path = Some(path.into());
        self
    }

    pub fn with_layer(mut self, diff_id: DiffId) -> Diagnostic {
        self.layer_diff_id = Some(diff_id);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            DiagnosticLevel::Warning => "warning",
            DiagnosticLevel::Error => "error",
        };
        write!(f, "{level}[{}]: {}", self.code, self.message)?;
        if let Some(p) = &self.path {
            write!(f, " (at {p})")?;
        }
        Ok(())
    }
}

/// Counters from walking one layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStats {
    pub entries: u64,
    pub uncompressed_bytes: u64,
    pub files_analyzed: u64,
}

/// What the analyzers found in one layer, before layers are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInventory {
    pub diff_id: DiffId,
    /// Packages with `evidence.path` and `evidence.analyzer` set; the layer
    /// fields are stamped by `apply_layers`.
    pub packages: Vec<Package>,
    /// Every file path an analyzer looked at in this layer, whether or not it
    /// yielded packages: a rewritten file replaces the lower layer's version.
    pub analyzed_paths: BTreeSet<String>,
    /// OS release files found in this layer (normally at most one).
    pub os: Vec<OsInfo>,
    /// Paths deleted by `.wh.<name>` entries (the deleted path, not the marker).
    pub whiteouts: BTreeSet<String>,
    /// Directories made opaque by `.wh..wh..opq`: lower layers' content below them is hidden.
    pub opaque_dirs: BTreeSet<String>,
    pub diagnostics: Vec<Diagnostic>,
    pub stats: LayerStats,
}

impl LayerInventory {
    pub fn new(diff_id: DiffId) -> LayerInventory {
        LayerInventory {
            diff_id,
            packages: Vec::new(),
            analyzed_paths: BTreeSet::new(),
            os: Vec::new(),
            whiteouts: BTreeSet::new(),
            opaque_dirs: BTreeSet::new(),
            diagnostics: Vec::new(),
            stats: LayerStats::default(),
        }
    }
}

/// The software bill of materials of a whole image, layers applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInventory {
    pub os: Option<OsInfo>,
    /// Sorted by (kind, name, version, path); each with its introducing layer.
    pub packages: Vec<Package>,
    pub diagnostics: Vec<Diagnostic>,
}
