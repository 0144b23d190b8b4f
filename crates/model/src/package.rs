use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DiffId;

/// The packaging system a package belongs to. Decides the version scheme and
/// which advisories can match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    /// Debian/Ubuntu dpkg package.
    Deb,
    /// Alpine/Wolfi apk package.
    Apk,
    /// RPM package (Red Hat family, SUSE, Amazon, …).
    Rpm,
    /// Python distribution (`*.dist-info`, `*.egg-info`).
    Python,
    /// npm package (`node_modules/**/package.json`).
    Npm,
    /// Ruby gem (`specifications/*.gemspec`).
    Gem,
    /// Java archive identified by Maven coordinates; `name` is `group:artifact`.
    Maven,
    /// Go module compiled into a binary; the toolchain itself is the module `stdlib`.
    GoModule,
    /// Rust crate compiled into a binary (cargo-auditable).
    Cargo,
}

impl PackageKind {
    pub const ALL: [PackageKind; 9] = [
        PackageKind::Deb,
        PackageKind::Apk,
        PackageKind::Rpm,
        PackageKind::Python,
        PackageKind::Npm,
        PackageKind::Gem,
        PackageKind::Maven,
        PackageKind::GoModule,
        PackageKind::Cargo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Apk => "apk",
            PackageKind::Rpm => "rpm",
            PackageKind::Python => "python",
            PackageKind::Npm => "npm",
            PackageKind::Gem => "gem",
            PackageKind::Maven => "maven",
            PackageKind::GoModule => "go-module",
            PackageKind::Cargo => "cargo",
        }
    }

    /// Whether packages of this kind are installed by the OS package manager.
    pub fn is_os(self) -> bool {
        matches!(self, PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm)
    }
}

impl fmt::Display for PackageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Name and version of an analyzer. The version is part of the layer cache key:
/// bump it whenever the analyzer's output for the same bytes can change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AnalyzerId {
    pub name: String,
    pub version: u32,
}

impl AnalyzerId {
    pub fn new(name: &str, version: u32) -> AnalyzerId {
        AnalyzerId {
            name: name.to_owned(),
            version,
        }
    }
}

impl fmt::Display for AnalyzerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// Where and by whom a package was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Evidence {
    /// Path of the file inside the image (no leading `/`). Files inside
    /// archives are written `outer.jar!/inner.jar!/META-INF/…`.
    pub path: String,
    /// Index of the layer (0 = bottom) that introduced the package.
    pub layer_index: Option<u32>,
    /// DiffID of that layer.
    pub layer_diff_id: Option<DiffId>,
    /// The analyzer that reported it; `None` only before the layer walker stamps it.
    pub analyzer: Option<AnalyzerId>,
}

/// The source package a binary package was built from (dpkg `Source:`, rpm
/// `SOURCERPM`, apk `o:` origin). Distro advisories are written against it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourcePackage {
    pub name: String,
    /// Present when it differs from the binary's version or is known separately.
    pub version: Option<String>,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    pub kind: PackageKind,
    /// Name as the ecosystem writes it (Maven: `group:artifact`; Go: module path).
    pub name: String,
    /// Version exactly as installed (dpkg: with epoch `1:2.3-4`; rpm: `[epoch:]version-release`).
    pub version: String,
    pub arch: Option<String>,
    pub source: Option<SourcePackage>,
    /// The module stream (`name:stream`, e.g. `ruby:2.7`) an RPM was built
    /// in, from its `MODULARITYLABEL`. Red Hat fixes modular builds per
    /// stream, so a modular package is only comparable with its stream's
    /// fixes. Absent from the JSON when `None`, so older inventories read
    /// back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    pub licenses: Vec<String>,
    /// The application itself rather than one of its dependencies (npm root
    /// `package.json`, Go main module, the Rust binary's own crate).
    pub is_application: bool,
    pub evidence: Evidence,
}

impl Package {
    pub fn new(kind: PackageKind, name: impl Into<String>, version: impl Into<String>) -> Package {
        Package {
            kind,
            name: name.into(),
            version: version.into(),
            arch: None,
            source: None,
            module: None,
            licenses: Vec::new(),
            is_application: false,
            evidence: Evidence::default(),
        }
    }

    /// Identity of a package inside one file: used to follow it across layers
    /// that rewrite that file.
    pub fn identity(&self) -> (PackageKind, &str, &str, Option<&str>) {
        (self.kind, &self.name, &self.version, self.arch.as_deref())
    }
}
