//! Version schemes. Each scheme has its own parser and a total order that
//! agrees with the ecosystem's own tool (proven on the real orderings in
//! `shared/vulndata/version-orderings`). Pure: no I/O.
//!
//! An unparseable version is an error naming the value and the scheme —
//! never a silent "not affected".

pub mod apk;
mod decimal;
pub mod dpkg;
pub mod go;
pub mod maven;
pub mod npm;
pub mod pep440;
pub mod rpm;
pub mod rubygems;
pub mod semver;

pub use apk::ApkVersion;
pub use dpkg::DpkgVersion;
pub use go::GoVersion;
pub use maven::MavenVersion;
pub use npm::{NpmRange, NpmVersion};
pub use pep440::Pep440Version;
pub use rpm::RpmVersion;
pub use rubygems::{GemRequirement, GemVersion};
pub use semver::SemverVersion;

use std::fmt;

/// The version schemes we order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Debian/Ubuntu `dpkg --compare-versions`.
    Dpkg,
    /// RPM `rpmvercmp` over `[epoch:]version-release`.
    Rpm,
    /// Alpine `apk version -t`.
    Apk,
    /// Python PEP 440.
    Pep440,
    /// SemVer 2.0 precedence.
    Semver,
    /// Go module versions: SemVer with a `v` prefix, pseudo-versions, `+incompatible`.
    Go,
    /// npm (node-semver) versions.
    Npm,
    /// Maven `ComparableVersion`.
    Maven,
    /// RubyGems `Gem::Version`.
    RubyGems,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Pep440 => "PEP 440",
            Scheme::Semver => "SemVer",
            Scheme::Go => "Go",
            Scheme::Npm => "npm",
            Scheme::Maven => "Maven",
            Scheme::RubyGems => "RubyGems",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version (or range/requirement) string that the scheme cannot parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version {value:?}: {reason}")]
pub struct VersionError {
    pub scheme: Scheme,
    pub value: String,
    pub reason: String,
}

impl VersionError {
    pub fn new(scheme: Scheme, value: &str, reason: impl Into<String>) -> VersionError {
        VersionError {
            scheme,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}
