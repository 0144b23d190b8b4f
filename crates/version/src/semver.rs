//! SemVer 2.0 precedence, as OSV's `SEMVER` ranges use it.
//!
//! Precedence follows semver.org §11: numeric major.minor.patch, then a
//! version with a pre-release sorts before the same version without one, and
//! pre-release identifiers compare numerically when both are digits, else in
//! ASCII order, numeric before alphanumeric, a shorter prefix first.
//!
//! The parser is lenient where OSV data is (the real orderings in
//! `semver-versions.txt` demand it): a leading `v`, missing minor/patch
//! (`1.2` = `1.2.0`), leading zeros, numbers of any size, and components after
//! the third (`1.1.3.4.5`) which — like OSV's own comparator — count as build
//! metadata.
//!
//! **Equality ignores build metadata**: `1.2.3+a` == `1.2.3+b`, because
//! precedence does and an advisory range cannot tell them apart. `Display`
//! still prints the original string.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::decimal::{Decimal, check_len};
use crate::{Scheme, VersionError};

/// One dot-separated pre-release identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Identifier {
    // Variant order is precedence order: numeric identifiers sort first.
    Numeric(Decimal),
    Alphanumeric(Box<str>),
}

impl Identifier {
    fn parse(text: &str) -> Identifier {
        if text.bytes().all(|b| b.is_ascii_digit()) {
            Identifier::Numeric(Decimal::from_digits(text))
        } else {
            Identifier::Alphanumeric(text.into())
        }
    }
}

/// Pre-release identifiers; empty means a release, which sorts after every
/// pre-release of the same version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Prerelease(pub(crate) Vec<Identifier>);

impl Prerelease {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits on `.`; every identifier must be non-empty `[0-9A-Za-z-]`.
    pub(crate) fn parse(text: &str) -> Result<Prerelease, String> {
        let mut identifiers = Vec::new();
        for part in text.split('.') {
            check_identifier(part, "pre-release")?;
            identifiers.push(Identifier::parse(part));
        }
        Ok(Prerelease(identifiers))
    }
}

impl Ord for Prerelease {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.0.is_empty(), other.0.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            // Vec's lexicographic order puts a shorter prefix first, as §11.4.4 asks.
            (false, false) => self.0.cmp(&other.0),
        }
    }
}

impl PartialOrd for Prerelease {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub(crate) fn check_identifier(part: &str, what: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("empty {what} identifier"));
    }
    if let Some(bad) = part
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!("{what} identifier {part:?} contains {bad:?}"));
    }
    Ok(())
}

/// Build metadata: `.`-separated non-empty `[0-9A-Za-z-]` identifiers.
pub(crate) fn check_build(text: &str) -> Result<(), String> {
    text.split('.')
        .try_for_each(|part| check_identifier(part, "build metadata"))
}

/// What SemVer precedence looks at: everything but build metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Precedence {
    pub(crate) major: Decimal,
    pub(crate) minor: Decimal,
    pub(crate) patch: Decimal,
    pub(crate) pre: Prerelease,
}

/// A SemVer 2.0 version (leniently parsed, see the module docs).
#[derive(Debug, Clone)]
pub struct SemverVersion {
    original: Box<str>,
    key: Precedence,
}

impl SemverVersion {
    pub fn major(&self) -> Option<u64> {
        self.key.major.as_u64()
    }

    pub fn is_prerelease(&self) -> bool {
        !self.key.pre.is_empty()
    }

    fn parse(value: &str) -> Result<SemverVersion, String> {
        let body = value.strip_prefix('v').unwrap_or(value);
        // The first `+` starts build metadata; the first `-` after the numbers
        // starts the pre-release (identifiers may themselves contain `-`).
        let (body, build) = match body.split_once('+') {
            Some((body, build)) => (body, Some(build)),
            None => (body, None),
        };
        if let Some(build) = build {
            check_build(build)?;
        }
        let numbers_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (numbers, rest) = body.split_at(numbers_end);
        let pre = match rest.strip_prefix('-') {
            Some(pre) => Prerelease::parse(pre)?,
            None if rest.is_empty() => Prerelease::default(),
            None => return Err(format!("unexpected {rest:?} after the version numbers")),
        };
        let mut components = numbers.split('.');
        let mut next_number = |name: &str, required: bool| -> Result<Decimal, String> {
            match components.next() {
                Some("") => Err(format!("empty {name} version number")),
                Some(digits) => Ok(Decimal::from_digits(digits)),
                None if required => Err(format!("missing {name} version number")),
                None => Ok(Decimal::ZERO),
            }
        };
        let major = next_number("major", true)?;
        let minor = next_number("minor", false)?;
        let patch = next_number("patch", false)?;
        // Components past the third are build metadata to OSV's comparator;
        // they only need to be well-formed.
        for extra in components {
            if extra.is_empty() {
                return Err("empty version component".to_owned());
            }
        }
        Ok(SemverVersion {
            original: value.into(),
            key: Precedence {
                major,
                minor,
                patch,
                pre,
            },
        })
    }
}

impl FromStr for SemverVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_len(Scheme::Semver, value)?;
        SemverVersion::parse(value)
            .map_err(|reason| VersionError::new(Scheme::Semver, value, reason))
    }
}

impl fmt::Display for SemverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl PartialEq for SemverVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for SemverVersion {}

impl Hash for SemverVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl Ord for SemverVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for SemverVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> SemverVersion {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn precedence_table() {
        use Ordering::*;
        let cases = [
            ("1.0.0-alpha", "1.0.0-alpha.0", Less),
            ("1.0.0-alpha.99", "1.0.0-alpha.100", Less),
            ("1.0.0-alpha.99", "1.0.0-alpha.x", Less),
            ("1.0.0-Beta", "1.0.0-alpha", Less),
            ("1.0.0-rc.1", "1.0.0", Less),
            ("1.0.0-0", "1.0.0-a", Less),
            ("1.0.0-x-y", "1.0.0-x", Greater),
            ("1.2", "1.2.0", Equal),
            ("v1", "1.0.0", Equal),
            ("1.2.3+build.5", "1.2.3", Equal),
            ("1.2.3-rc.1+b", "1.2.3-rc.1+c", Equal),
            ("01.002.0003", "1.2.3", Equal),
            ("1.2.3.9", "1.2.3", Equal),
            ("1.2.3-01", "1.2.3-1", Equal),
            (
                "18446744073709551616.0.0",
                "18446744073709551615.0.0",
                Greater,
            ),
            ("0.0.1", "0.1.0", Less),
        ];
        for (a, b, expected) in cases {
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
            assert_eq!(v(a) == v(b), expected == Equal, "{a} == {b}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "v",
            "x.y.z",
            "1..2",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3+",
            "1.2.3+a_b",
            "1.2.3 ",
            "1.2.3-é",
            "1.2.3beta",
            ".1",
        ] {
            let err = bad.parse::<SemverVersion>().expect_err(bad);
            assert_eq!(err.scheme, Scheme::Semver);
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["v1.2.3-rc.1+build", "1.1.3.4.5", "01.2"] {
            assert_eq!(v(text).to_string(), text);
        }
    }
}
