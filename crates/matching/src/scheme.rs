//! The version orders matchers compare with, one per ecosystem family.

use std::str::FromStr;

use model::AffectedPackage;

use version::rubygems::GemOp;

use crate::range::Prepared;
use version::{
    ApkVersion, DpkgVersion, GemRequirement, GemVersion, GoVersion, MavenVersion, NpmVersion,
    Pep440Version, RpmVersion, Scheme, SemverVersion, VersionError,
};

/// A version order as the range walk needs it.
pub(crate) trait VersionScheme {
    type Version: Ord + Clone;
    /// Maven's order is not transitive on odd inputs, so its range events
    /// must be paired in published order instead of sorted.
    const SORTABLE: bool = true;
    const SCHEME: Scheme;
    /// Equal versions have equal dot-separated numeric releases (PEP 440),
    /// which lets listed versions be skipped without parsing.
    const DOTTED_RELEASE: bool = false;

    fn parse_advisory(value: &str) -> Result<Self::Version, VersionError>;

    /// This scheme's preparation of an index entry, when the index built
    /// one for it (it does for every ecosystem the matchers route to).
    fn prepared(entry: &PreparedEntry) -> Option<&Prepared<Self::Version>>;

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

/// The `VersionScheme::prepared` method for a scheme whose index entries
/// are the given `PreparedEntry` variant.
macro_rules! prepared_as {
    ($variant:ident) => {
        fn prepared(entry: &PreparedEntry) -> Option<&Prepared<Self::Version>> {
            match entry {
                PreparedEntry::$variant(prepared) => Some(prepared),
                _ => None,
            }
        }
    };
}

pub(crate) struct Dpkg;
impl VersionScheme for Dpkg {
    prepared_as!(Dpkg);
    const SCHEME: Scheme = Scheme::Dpkg;
    type Version = DpkgVersion;
    fn parse_advisory(value: &str) -> Result<DpkgVersion, VersionError> {
        DpkgVersion::from_str(value)
    }
}

pub(crate) struct Rpm;
impl VersionScheme for Rpm {
    prepared_as!(Rpm);
    const SCHEME: Scheme = Scheme::Rpm;
    type Version = RpmVersion;
    fn parse_advisory(value: &str) -> Result<RpmVersion, VersionError> {
        RpmVersion::from_str(value)
    }
}

pub(crate) struct Apk;
impl VersionScheme for Apk {
    prepared_as!(Apk);
    const SCHEME: Scheme = Scheme::Apk;
    type Version = ApkVersion;
    fn parse_advisory(value: &str) -> Result<ApkVersion, VersionError> {
        ApkVersion::from_str(value)
    }
}

pub(crate) struct Pypi;
impl VersionScheme for Pypi {
    prepared_as!(Pep440);
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
    prepared_as!(Semver);
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
    prepared_as!(Semver);
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
    prepared_as!(Semver);
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
    prepared_as!(Npm);
    const SCHEME: Scheme = Scheme::Npm;
    type Version = NpmVersion;
    fn parse_advisory(value: &str) -> Result<NpmVersion, VersionError> {
        NpmVersion::from_str(value)
    }
}

pub(crate) struct Maven;
impl VersionScheme for Maven {
    prepared_as!(Maven);
    const SCHEME: Scheme = Scheme::Maven;
    type Version = MavenVersion;
    const SORTABLE: bool = false;
    fn parse_advisory(value: &str) -> Result<MavenVersion, VersionError> {
        MavenVersion::from_str(value)
    }
}

pub(crate) struct Gem;
impl VersionScheme for Gem {
    prepared_as!(Gem);
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

/// An affected entry with its advisory versions parsed in the order of the
/// ecosystem it is published under (see [`PreparedEntry::new`]).
#[derive(Debug)]
pub(crate) enum PreparedEntry {
    Dpkg(Box<Prepared<DpkgVersion>>),
    Rpm(Box<Prepared<RpmVersion>>),
    Apk(Box<Prepared<ApkVersion>>),
    Pep440(Box<Prepared<Pep440Version>>),
    /// Go modules, the Go toolchain and crates.io: one SemVer order.
    Semver(Box<Prepared<SemverVersion>>),
    Npm(Box<Prepared<NpmVersion>>),
    Maven(Box<Prepared<MavenVersion>>),
    Gem(Box<Prepared<GemVersion>>),
    /// An ecosystem no matcher routes to.
    Unmatched,
}

impl PreparedEntry {
    /// Prepares `affected` for the scheme its ecosystem key is matched with;
    /// this must agree with the routing in `Run::route`.
    pub(crate) fn new(ecosystem_key: &str, affected: &AffectedPackage) -> PreparedEntry {
        let distro = |prefix: &str| ecosystem_key.starts_with(prefix);
        match ecosystem_key {
            _ if distro("debian:") || distro("ubuntu:") => {
                PreparedEntry::Dpkg(Box::new(Prepared::new::<Dpkg>(affected)))
            }
            "wolfi" | "chainguard" => PreparedEntry::Apk(Box::new(Prepared::new::<Apk>(affected))),
            _ if distro("alpine:") => PreparedEntry::Apk(Box::new(Prepared::new::<Apk>(affected))),
            _ if distro("almalinux:") || distro("rocky linux:") || distro("red hat:") => {
                PreparedEntry::Rpm(Box::new(Prepared::new::<Rpm>(affected)))
            }
            "pypi" => PreparedEntry::Pep440(Box::new(Prepared::new::<Pypi>(affected))),
            "go" | "crates.io" => {
                PreparedEntry::Semver(Box::new(Prepared::new::<Semver>(affected)))
            }
            "npm" => PreparedEntry::Npm(Box::new(Prepared::new::<Npm>(affected))),
            "maven" => PreparedEntry::Maven(Box::new(Prepared::new::<Maven>(affected))),
            "rubygems" => PreparedEntry::Gem(Box::new(Prepared::new::<Gem>(affected))),
            _ => PreparedEntry::Unmatched,
        }
    }
}
