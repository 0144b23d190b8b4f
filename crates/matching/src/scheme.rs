//! The version orders matchers compare with, one per ecosystem family.

use std::str::FromStr;

use version::rubygems::GemOp;
use version::{
    ApkVersion, DpkgVersion, GemRequirement, GemVersion, GoVersion, MavenVersion, NpmVersion,
    Pep440Version, RpmVersion, Scheme, SemverVersion, VersionError,
};

/// A version order as the range walk needs it.
pub(crate) trait VersionScheme {
    type Version: Ord;
    /// Maven's order is not transitive on odd inputs, so its range events
    /// must be paired in published order instead of sorted.
    const SORTABLE: bool = true;
    const SCHEME: Scheme;
    /// Equal versions have equal dot-separated numeric releases (PEP 440),
    /// which lets listed versions be skipped without parsing.
    const DOTTED_RELEASE: bool = false;

    fn parse_advisory(value: &str) -> Result<Self::Version, VersionError>;

    fn parse_installed(value: &str) -> Result<Self::Version, VersionError> {
        Self::parse_advisory(value)
    }

    /// Whether `version` satisfies a requirement string in this ecosystem's
    /// syntax; `None` when the ecosystem has no requirement syntax.
    fn satisfies(
        _requirement: &str,
        _version: &Self::Version,
    ) -> Option<Result<bool, VersionError>> {
        None
    }

    /// The lowest versions a "patched" requirement admits, reported as fixed versions.
    fn requirement_floors(_requirement: &str) -> Vec<String> {
        Vec::new()
    }
}

pub(crate) struct Dpkg;
impl VersionScheme for Dpkg {
    const SCHEME: Scheme = Scheme::Dpkg;
    type Version = DpkgVersion;
    fn parse_advisory(value: &str) -> Result<DpkgVersion, VersionError> {
        DpkgVersion::from_str(value)
    }
}

pub(crate) struct Rpm;
impl VersionScheme for Rpm {
    const SCHEME: Scheme = Scheme::Rpm;
    type Version = RpmVersion;
    fn parse_advisory(value: &str) -> Result<RpmVersion, VersionError> {
        RpmVersion::from_str(value)
    }
}

pub(crate) struct Apk;
impl VersionScheme for Apk {
    const SCHEME: Scheme = Scheme::Apk;
    type Version = ApkVersion;
    fn parse_advisory(value: &str) -> Result<ApkVersion, VersionError> {
        ApkVersion::from_str(value)
    }
}

pub(crate) struct Pypi;
impl VersionScheme for Pypi {
    const SCHEME: Scheme = Scheme::Pep440;
    const DOTTED_RELEASE: bool = true;
    type Version = Pep440Version;
    fn parse_advisory(value: &str) -> Result<Pep440Version, VersionError> {
        Pep440Version::from_str(value)
    }
}

/// crates.io: SemVer 2.0.
pub(crate) struct Semver;
impl VersionScheme for Semver {
    const SCHEME: Scheme = Scheme::Semver;
    type Version = SemverVersion;
    fn parse_advisory(value: &str) -> Result<SemverVersion, VersionError> {
        SemverVersion::from_str(value)
    }
}

/// Go modules: the installed version must be a valid Go module version;
/// OSV's Go ranges are SEMVER events without the `v`.
pub(crate) struct GoModule;
impl VersionScheme for GoModule {
    const SCHEME: Scheme = Scheme::Go;
    type Version = SemverVersion;
    fn parse_advisory(value: &str) -> Result<SemverVersion, VersionError> {
        SemverVersion::from_str(value)
    }
    fn parse_installed(value: &str) -> Result<SemverVersion, VersionError> {
        let go = GoVersion::from_str(value)?;
        SemverVersion::from_str(&go.canonical())
    }
}

/// The Go toolchain (`stdlib`, `toolchain`): `go1.21rc2` → `v1.21.0-rc.2`.
pub(crate) struct GoToolchain;
impl VersionScheme for GoToolchain {
    const SCHEME: Scheme = Scheme::Go;
    type Version = SemverVersion;
    fn parse_advisory(value: &str) -> Result<SemverVersion, VersionError> {
        SemverVersion::from_str(value)
    }
    fn parse_installed(value: &str) -> Result<SemverVersion, VersionError> {
        let go = GoVersion::toolchain(value)?;
        SemverVersion::from_str(&go.canonical())
    }
}

pub(crate) struct Npm;
impl VersionScheme for Npm {
    const SCHEME: Scheme = Scheme::Npm;
    type Version = NpmVersion;
    fn parse_advisory(value: &str) -> Result<NpmVersion, VersionError> {
        NpmVersion::from_str(value)
    }
}

pub(crate) struct Maven;
impl VersionScheme for Maven {
    const SCHEME: Scheme = Scheme::Maven;
    type Version = MavenVersion;
    const SORTABLE: bool = false;
    fn parse_advisory(value: &str) -> Result<MavenVersion, VersionError> {
        MavenVersion::from_str(value)
    }
}

pub(crate) struct Gem;
impl VersionScheme for Gem {
    const SCHEME: Scheme = Scheme::RubyGems;
    type Version = GemVersion;
    fn parse_advisory(value: &str) -> Result<GemVersion, VersionError> {
        GemVersion::from_str(value)
    }
    fn satisfies(requirement: &str, version: &GemVersion) -> Option<Result<bool, VersionError>> {
        Some(GemRequirement::parse(requirement).map(|r| r.satisfied_by(version)))
    }
    fn requirement_floors(requirement: &str) -> Vec<String> {
        let Ok(parsed) = GemRequirement::parse(requirement) else {
            return Vec::new();
        };
        parsed
            .constraints()
            .filter(|(op, _)| matches!(op, GemOp::Ge | GemOp::Pessimistic | GemOp::Eq))
            .map(|(_, v)| v.to_string())
            .collect()
    }
}
