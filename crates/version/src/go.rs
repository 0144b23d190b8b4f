//! Go module versions, ordered as `golang.org/x/mod/semver.Compare` orders them.
//!
//! The `v` is required; `v1` and `v1.2` are shorthands for `v1.0.0` and
//! `v1.2.0` (without pre-release or build); numbers and numeric pre-release
//! identifiers have no leading zeros. Pseudo-versions
//! (`v0.0.0-20191109021931-daa7c04131f5`, `v1.2.4-0.20191109021931-daa7c04131f5`,
//! `v1.2.3-pre.0.20191109021931-daa7c04131f5`) are pre-releases, so ordinary
//! precedence already puts them where Go does. `+incompatible` is build
//! metadata: **equality ignores it**, as `semver.Compare` does.
//!
//! The Go toolchain (`stdlib`) names its releases differently (`go1.21.3`,
//! `go1.21rc2`, `go1.20`); [`GoVersion::toolchain`] maps them onto the SemVer
//! form that Go's vulnerability database uses (`v1.21.3`, `v1.21.0-rc.2`,
//! `v1.20.0`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::decimal::{Decimal, check_len};
use crate::semver::{Identifier, Precedence, Prerelease, check_build};
use crate::{Scheme, VersionError};

/// A Go module (or toolchain) version.
#[derive(Debug, Clone)]
pub struct GoVersion {
    original: Box<str>,
    key: Precedence,
    incompatible: bool,
}

impl GoVersion {
    /// Parses a Go toolchain version: `go1.21.3`, `v1.21.3`, `1.21.3`, `1.21`, `go1.21rc2`,
    /// `go1.9beta1`, optionally followed by space-separated build settings
    /// (`go1.21.3 X:boringcrypto`), as found in binaries' build info.
    pub fn toolchain(value: &str) -> Result<GoVersion, VersionError> {
        check_len(Scheme::Go, value)?;
        parse_toolchain(value)
            .map(|key| GoVersion {
                original: value.into(),
                key,
                incompatible: false,
            })
            .map_err(|reason| VersionError::new(Scheme::Go, value, reason))
    }

    /// True for `+incompatible` versions (a v2+ module without a go.mod path suffix).
    pub fn is_incompatible(&self) -> bool {
        self.incompatible
    }

    pub fn is_prerelease(&self) -> bool {
        !self.key.pre.is_empty()
    }

    /// The canonical SemVer spelling (`v1.2.0` for `v1.2`, `v1.21.0-rc.2` for
    /// `go1.21rc2`), without build metadata except `+incompatible`.
    pub fn canonical(&self) -> String {
        let Precedence {
            major,
            minor,
            patch,
            pre,
        } = &self.key;
        let mut text = format!("v{}.{}.{}", show(major), show(minor), show(patch));
        for (index, identifier) in pre.0.iter().enumerate() {
            text.push(if index == 0 { '-' } else { '.' });
            match identifier {
                Identifier::Numeric(number) => text.push_str(&show(number)),
                Identifier::Alphanumeric(word) => text.push_str(word),
            }
        }
        if self.incompatible {
            text.push_str("+incompatible");
        }
        text
    }
}

fn show(number: &Decimal) -> String {
    match number {
        Decimal::Small(value) => value.to_string(),
        Decimal::Big(digits) => digits.to_string(),
    }
}

/// A Go SemVer number: `0` or digits without a leading zero.
fn number(text: &str, what: &str) -> Result<Decimal, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} is not a number"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(format!("{what} {text:?} has a leading zero"));
    }
    Ok(Decimal::from_digits(text))
}

fn parse_module(value: &str) -> Result<(Precedence, bool), String> {
    let body = value
        .strip_prefix('v')
        .ok_or_else(|| "Go versions start with \"v\"".to_owned())?;
    let (body, build) = match body.split_once('+') {
        Some((body, build)) => (body, Some(build)),
        None => (body, None),
    };
    if let Some(build) = build {
        check_build(build)?;
    }
    let (numbers, pre) = match body.split_once('-') {
        Some((numbers, pre)) => (numbers, Some(pre)),
        None => (body, None),
    };
    let parts: Vec<&str> = numbers.splitn(4, '.').collect();
    if parts.len() > 3 {
        return Err("more than three version numbers".to_owned());
    }
    if parts.len() < 3 && (pre.is_some() || build.is_some()) {
        return Err("a shorthand version (v1, v1.2) cannot have a pre-release or build".to_owned());
    }
    let major = number(parts[0], "major")?;
    let minor = parts
        .get(1)
        .map_or(Ok(Decimal::ZERO), |p| number(p, "minor"))?;
    let patch = parts
        .get(2)
        .map_or(Ok(Decimal::ZERO), |p| number(p, "patch"))?;
    let pre = match pre {
        Some(text) => {
            let pre = Prerelease::parse(text)?;
            for (identifier, part) in pre.0.iter().zip(text.split('.')) {
                if matches!(identifier, Identifier::Numeric(_))
                    && part.len() > 1
                    && part.starts_with('0')
                {
                    return Err(format!(
                        "pre-release identifier {part:?} has a leading zero"
                    ));
                }
            }
            pre
        }
        None => Prerelease::default(),
    };
    let incompatible = build == Some("incompatible");
    Ok((
        Precedence {
            major,
            minor,
            patch,
            pre,
        },
        incompatible,
    ))
}

/// Mirrors Go's `GoTagToSemver`: `go(\d+\.\d+)(\.\d+)?((beta|rc|-pre)(\d+))?`.
fn parse_toolchain(value: &str) -> Result<Precedence, String> {
    let tag = value.split_whitespace().next().unwrap_or("");
    // Go binaries' build info says `go1.21.5`; SBOM tools (ours, Trivy, Syft)
    // report the stdlib as `v1.21.5`.
    let tag = tag
        .strip_prefix("go")
        .or_else(|| tag.strip_prefix('v'))
        .unwrap_or(tag);
    let numbers_end = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tag.len());
    let (numbers, suffix) = tag.split_at(numbers_end);
    let parts: Vec<&str> = numbers.splitn(4, '.').collect();
    let (major, minor, patch) = match parts[..] {
        // The first release was tagged plain `go1`.
        [major] if major == "1" && suffix.is_empty() => ("1", "0", "0"),
        [major, minor] => (major, minor, "0"),
        [major, minor, patch] => (major, minor, patch),
        _ => return Err("expected go1.N, go1.N.P, go1.NrcK or go1.NbetaK".to_owned()),
    };
    let pre = if suffix.is_empty() {
        Prerelease::default()
    } else {
        let (kind, serial) = ["beta", "rc", "-pre"]
            .iter()
            .find_map(|kind| {
                suffix
                    .strip_prefix(kind)
                    .map(|serial| (kind.trim_start_matches('-'), serial))
            })
            .ok_or_else(|| format!("unknown toolchain pre-release {suffix:?}"))?;
        Prerelease(vec![
            Identifier::Alphanumeric(kind.into()),
            Identifier::Numeric(number(serial, "pre-release number")?),
        ])
    };
    Ok(Precedence {
        major: number(major, "major")?,
        minor: number(minor, "minor")?,
        patch: number(patch, "patch")?,
        pre,
    })
}

impl FromStr for GoVersion {
    type Err = VersionError;

    /// Parses a Go module version (`v1.2.3`, pseudo-versions, `+incompatible`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_len(Scheme::Go, value)?;
        let (key, incompatible) =
            parse_module(value).map_err(|reason| VersionError::new(Scheme::Go, value, reason))?;
        Ok(GoVersion {
            original: value.into(),
            key,
            incompatible,
        })
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl PartialEq for GoVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for GoVersion {}

impl Hash for GoVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl Ord for GoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for GoVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> GoVersion {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn t(text: &str) -> GoVersion {
        GoVersion::toolchain(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn module_order_table() {
        use Ordering::*;
        let cases = [
            ("v1", "v1.0.0", Equal),
            ("v1.2", "v1.2.0", Equal),
            ("v0.0.0-20191109021931-daa7c04131f5", "v0.0.1", Less),
            (
                "v0.0.0-20191109021931-daa7c04131f5",
                "v0.0.0-20200101000000-000000000000",
                Less,
            ),
            // A pseudo-version after v1.2.3 sorts between it and v1.2.4.
            ("v1.2.3", "v1.2.4-0.20191109021931-daa7c04131f5", Less),
            ("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4", Less),
            ("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4-alpha", Less),
            (
                "v1.2.3-pre.0.20191109021931-daa7c04131f5",
                "v1.2.3-pre",
                Greater,
            ),
            (
                "v1.2.3-pre.0.20191109021931-daa7c04131f5",
                "v1.2.3-pre.1",
                Less,
            ),
            ("v2.0.0+incompatible", "v2.0.0", Equal),
            ("v2.0.0+incompatible", "v2.0.1", Less),
            ("v1.0.0-rc.2", "v1.0.0-rc.10", Less),
        ];
        for (a, b, expected) in cases {
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn module_rejects() {
        for bad in [
            "1.2.3",
            "v",
            "v1.2.3.4",
            "v01.2.3",
            "v1.02.3",
            "v1.2-pre",
            "v1+build",
            "v1.2.3-01",
            "v1.2.3-",
            "v1.2.3+",
            "v1.2.3-a..b",
            "V1.2.3",
            "v1.2.3 ",
            "vx.y.z",
        ] {
            let err = bad.parse::<GoVersion>().expect_err(bad);
            assert_eq!((err.scheme, err.value.as_str()), (Scheme::Go, bad));
        }
    }

    #[test]
    fn toolchain_table() {
        let cases = [
            ("go1.21.3", "v1.21.3"),
            ("1.21.3", "v1.21.3"),
            ("1.21", "v1.21.0"),
            ("go1.20", "v1.20.0"),
            ("go1", "v1.0.0"),
            ("go1.21rc2", "v1.21.0-rc.2"),
            ("go1.9beta1", "v1.9.0-beta.1"),
            ("go1.9.2rc2", "v1.9.2-rc.2"),
            ("go1.22.1 X:boringcrypto", "v1.22.1"),
            ("v1.21.5", "v1.21.5"),
            ("v1.22rc1", "v1.22.0-rc.1"),
        ];
        for (toolchain, canonical) in cases {
            let version = t(toolchain);
            assert_eq!(version.canonical(), canonical, "{toolchain}");
            assert_eq!(version, v(canonical), "{toolchain}");
            assert_eq!(version.to_string(), toolchain);
        }
        assert!(t("go1.21rc2") < t("go1.21.0"));
        assert!(t("go1.20.14") < t("go1.21rc1"));
        for bad in [
            "",
            "devel go1.22-abcdef",
            "go1.21.x",
            "go1.21alpha1",
            "go1.21rc",
            "go",
            "go1.2.3.4",
            "vgo1.21",
            "v",
        ] {
            let err = GoVersion::toolchain(bad).expect_err(bad);
            assert_eq!(err.scheme, Scheme::Go);
        }
    }
}
