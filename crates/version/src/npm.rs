//! npm versions and ranges, as node-semver (in loose mode) reads them.
//!
//! Versions: `MAJOR.MINOR.PATCH[-pre][+build]`, leading `v`/`=`/whitespace
//! ignored, leading zeros allowed, numbers up to 2^53 − 1 (JavaScript's safe
//! integers, node-semver's limit), and the `-` before a pre-release optional
//! (`1.2.3beta`). SemVer precedence; **equality ignores build metadata**.
//!
//! Ranges: `||`-separated sets of comparators that must all hold: `<`, `<=`,
//! `>`, `>=`, `=`, x-ranges (`*`, `1.x`, `1.2`), `~1.2.3` / `~>1.2.3`,
//! `^1.2.3`, hyphen ranges (`1.2 - 2.3.4`), each rewritten to primitive
//! comparators exactly as node-semver does. A pre-release version only
//! satisfies a set when some comparator of that set has a pre-release on the
//! same `MAJOR.MINOR.PATCH` (`1.3.0-beta` is not in `^1.2.3`, but is in
//! `>=1.3.0-alpha`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::decimal::{Decimal, check_len};
use crate::semver::{Identifier, Precedence, Prerelease, check_build};
use crate::{Scheme, VersionError};

/// JavaScript's `Number.MAX_SAFE_INTEGER`, node-semver's bound on version numbers.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// An npm package version.
#[derive(Debug, Clone)]
pub struct NpmVersion {
    original: Box<str>,
    key: Precedence,
}

impl NpmVersion {
    pub fn is_prerelease(&self) -> bool {
        !self.key.pre.is_empty()
    }
}

fn safe_number(digits: &str) -> Result<u64, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{digits:?} is not a number"));
    }
    match Decimal::from_digits(digits).as_u64() {
        Some(value) if value <= MAX_SAFE_INTEGER => Ok(value),
        _ => Err(format!("{digits} is larger than 2^53 - 1")),
    }
}

fn precedence(major: u64, minor: u64, patch: u64, pre: Prerelease) -> Precedence {
    Precedence {
        major: Decimal::Small(major),
        minor: Decimal::Small(minor),
        patch: Decimal::Small(patch),
        pre,
    }
}

/// A version with any of its numbers possibly wild (`*`, `x`, `X` or missing).
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Prerelease,
}

/// The part after `MAJOR.MINOR.PATCH`: `[-]pre[+build]` (loose: `-` optional).
fn parse_tail(tail: &str) -> Result<Prerelease, String> {
    let (pre, build) = match tail.split_once('+') {
        Some((pre, build)) => (pre, Some(build)),
        None => (tail, None),
    };
    if let Some(build) = build {
        check_build(build)?;
    }
    let pre = pre.strip_prefix('-').unwrap_or(pre);
    if pre.is_empty() {
        if tail.starts_with('-') {
            return Err("empty pre-release".to_owned());
        }
        return Ok(Prerelease::default());
    }
    Prerelease::parse(pre)
}

/// `[v=\s]*` then `xr(.xr(.xr tail?)?)?` where `xr` is digits, `x`, `X` or `*`.
fn parse_partial(text: &str, allow_wild: bool) -> Result<Partial, String> {
    let text = text.trim_start_matches(|c: char| c == 'v' || c == '=' || c.is_whitespace());
    let mut numbers = [None; 3];
    let mut rest = text;
    let mut count = 0;
    for (index, slot) in numbers.iter_mut().enumerate() {
        if index > 0 {
            match rest.strip_prefix('.') {
                Some(after) => rest = after,
                None => break,
            }
        }
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end > 0 {
            *slot = Some(safe_number(&rest[..end])?);
            rest = &rest[end..];
        } else if allow_wild && rest.starts_with(['x', 'X', '*']) {
            rest = &rest[1..];
        } else {
            return Err(format!("expected a version number at {rest:?}"));
        }
        count += 1;
    }
    if count < 3 && !allow_wild {
        return Err("a version needs major, minor and patch numbers".to_owned());
    }
    let pre = if count == 3 {
        parse_tail(rest)?
    } else if rest.is_empty() {
        Prerelease::default()
    } else {
        return Err(format!("unexpected {rest:?}"));
    };
    let [major, minor, patch] = numbers;
    // node-semver ignores numbers after a wildcard (`1.x.3` is `1.x`).
    let minor = major.and(minor);
    let patch = minor.and(patch);
    Ok(Partial {
        major,
        minor,
        patch,
        pre,
    })
}

impl FromStr for NpmVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_len(Scheme::Npm, value)?;
        let error = |reason: String| VersionError::new(Scheme::Npm, value, reason);
        let partial = parse_partial(value.trim(), false).map_err(error)?;
        let (Some(major), Some(minor), Some(patch)) = (partial.major, partial.minor, partial.patch)
        else {
            return Err(error(
                "a version needs major, minor and patch numbers".to_owned(),
            ));
        };
        Ok(NpmVersion {
            original: value.into(),
            key: precedence(major, minor, patch, partial.pre),
        })
    }
}

impl fmt::Display for NpmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl PartialEq for NpmVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for NpmVersion {}

impl Hash for NpmVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl Ord for NpmVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for NpmVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Precedence,
}

impl Comparator {
    fn test(&self, version: &Precedence) -> bool {
        let ordering = version.cmp(&self.version);
        match self.op {
            Op::Lt => ordering.is_lt(),
            Op::Le => ordering.is_le(),
            Op::Gt => ordering.is_gt(),
            Op::Ge => ordering.is_ge(),
            Op::Eq => ordering.is_eq(),
        }
    }
}

/// An npm version range (`^1.2.3 || >=2.0.0 <2.1.0`).
#[derive(Debug, Clone)]
pub struct NpmRange {
    original: Box<str>,
    /// Alternatives; an empty set matches every release (it was `*` or empty).
    sets: Vec<Vec<Comparator>>,
}

/// `-0`: the lowest pre-release, used for exclusive upper bounds.
fn lowest_pre() -> Prerelease {
    Prerelease(vec![Identifier::Numeric(Decimal::ZERO)])
}

fn bound(op: Op, major: u64, minor: u64, patch: u64, pre: Prerelease) -> Comparator {
    Comparator {
        op,
        version: precedence(major, minor, patch, pre),
    }
}

/// `<0.0.0-0`: matches nothing.
fn nothing() -> Comparator {
    bound(Op::Lt, 0, 0, 0, lowest_pre())
}

fn tilde(p: Partial, out: &mut Vec<Comparator>) {
    let Some(major) = p.major else { return };
    match (p.minor, p.patch) {
        (None, _) => {
            out.push(bound(Op::Ge, major, 0, 0, Prerelease::default()));
            out.push(bound(Op::Lt, major + 1, 0, 0, lowest_pre()));
        }
        (Some(minor), None) => {
            out.push(bound(Op::Ge, major, minor, 0, Prerelease::default()));
            out.push(bound(Op::Lt, major, minor + 1, 0, lowest_pre()));
        }
        (Some(minor), Some(patch)) => {
            out.push(bound(Op::Ge, major, minor, patch, p.pre));
            out.push(bound(Op::Lt, major, minor + 1, 0, lowest_pre()));
        }
    }
}

fn caret(p: Partial, out: &mut Vec<Comparator>) {
    let Some(major) = p.major else { return };
    match (p.minor, p.patch) {
        (None, _) => {
            out.push(bound(Op::Ge, major, 0, 0, Prerelease::default()));
            out.push(bound(Op::Lt, major + 1, 0, 0, lowest_pre()));
        }
        (Some(minor), None) => {
            out.push(bound(Op::Ge, major, minor, 0, Prerelease::default()));
            out.push(if major == 0 {
                bound(Op::Lt, major, minor + 1, 0, lowest_pre())
            } else {
                bound(Op::Lt, major + 1, 0, 0, lowest_pre())
            });
        }
        (Some(minor), Some(patch)) => {
            out.push(bound(Op::Ge, major, minor, patch, p.pre));
            out.push(match (major, minor) {
                (0, 0) => bound(Op::Lt, 0, 0, patch + 1, lowest_pre()),
                (0, _) => bound(Op::Lt, 0, minor + 1, 0, lowest_pre()),
                _ => bound(Op::Lt, major + 1, 0, 0, lowest_pre()),
            });
        }
    }
}

/// node-semver's `replaceXRange` for `op` (`None` = no operator).
fn xrange(op: Option<Op>, p: Partial, out: &mut Vec<Comparator>) {
    let Some(major) = p.major else {
        if matches!(op, Some(Op::Lt | Op::Gt)) {
            out.push(nothing());
        }
        return;
    };
    let any_wild = p.patch.is_none();
    let op = if op == Some(Op::Eq) && any_wild {
        None
    } else {
        op
    };
    match (op, p.minor, p.patch) {
        (Some(op), minor, None) => {
            let (mut major, mut minor_n) = (major, minor.unwrap_or(0));
            let op = match op {
                Op::Gt => {
                    if minor.is_none() {
                        major += 1;
                        minor_n = 0;
                    } else {
                        minor_n += 1;
                    }
                    Op::Ge
                }
                Op::Le => {
                    if minor.is_none() {
                        major += 1;
                    } else {
                        minor_n += 1;
                    }
                    Op::Lt
                }
                other => other,
            };
            let pre = if op == Op::Lt {
                lowest_pre()
            } else {
                Prerelease::default()
            };
            out.push(bound(op, major, minor_n, 0, pre));
        }
        (None, None, _) => {
            out.push(bound(Op::Ge, major, 0, 0, Prerelease::default()));
            out.push(bound(Op::Lt, major + 1, 0, 0, lowest_pre()));
        }
        (None, Some(minor), None) => {
            out.push(bound(Op::Ge, major, minor, 0, Prerelease::default()));
            out.push(bound(Op::Lt, major, minor + 1, 0, lowest_pre()));
        }
        // A patch number implies a minor number (see `parse_partial`).
        (op, minor, Some(patch)) => {
            out.push(bound(
                op.unwrap_or(Op::Eq),
                major,
                minor.unwrap_or(0),
                patch,
                p.pre,
            ));
        }
    }
}

fn hyphen(from: Partial, to: Partial, out: &mut Vec<Comparator>) {
    if let Some(major) = from.major {
        out.push(bound(
            Op::Ge,
            major,
            from.minor.unwrap_or(0),
            from.patch.unwrap_or(0),
            if from.patch.is_some() {
                from.pre
            } else {
                Prerelease::default()
            },
        ));
    }
    if let Some(major) = to.major {
        out.push(match (to.minor, to.patch) {
            (None, _) => bound(Op::Lt, major + 1, 0, 0, lowest_pre()),
            (Some(minor), None) => bound(Op::Lt, major, minor + 1, 0, lowest_pre()),
            (Some(minor), Some(patch)) => bound(Op::Le, major, minor, patch, to.pre),
        });
    }
}

fn parse_set(text: &str) -> Result<Vec<Comparator>, String> {
    let mut out = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    if let [from, "-", to] = words[..] {
        hyphen(
            parse_partial(from, true)?,
            parse_partial(to, true)?,
            &mut out,
        );
        return Ok(out);
    }
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let op_end = rest
            .find(|c: char| !matches!(c, '<' | '>' | '=' | '~' | '^'))
            .unwrap_or(rest.len());
        let (op, after) = rest.split_at(op_end);
        let after = after.trim_start();
        let word_end = after.find(char::is_whitespace).unwrap_or(after.len());
        let (word, after) = after.split_at(word_end);
        if word.is_empty() {
            return Err(format!("operator {op:?} without a version"));
        }
        let partial = parse_partial(word, true)?;
        match op {
            "~" | "~>" => tilde(partial, &mut out),
            "^" => caret(partial, &mut out),
            "" => xrange(None, partial, &mut out),
            "=" => xrange(Some(Op::Eq), partial, &mut out),
            "<" => xrange(Some(Op::Lt), partial, &mut out),
            "<=" => xrange(Some(Op::Le), partial, &mut out),
            ">" => xrange(Some(Op::Gt), partial, &mut out),
            ">=" => xrange(Some(Op::Ge), partial, &mut out),
            other => return Err(format!("unknown operator {other:?}")),
        }
        rest = after.trim_start();
    }
    Ok(out)
}

impl NpmRange {
    /// Parses a node-semver range.
    pub fn parse(value: &str) -> Result<NpmRange, VersionError> {
        check_len(Scheme::Npm, value)?;
        let sets = value
            .split("||")
            .map(parse_set)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| VersionError::new(Scheme::Npm, value, reason))?;
        Ok(NpmRange {
            original: value.into(),
            sets,
        })
    }

    /// node-semver's `satisfies(version, range)` (without `includePrerelease`).
    pub fn contains(&self, version: &NpmVersion) -> bool {
        let version = &version.key;
        self.sets.iter().any(|set| {
            if !set.iter().all(|comparator| comparator.test(version)) {
                return false;
            }
            if version.pre.is_empty() {
                return true;
            }
            // A pre-release is only in range when the range names a
            // pre-release of the same major.minor.patch.
            set.iter().any(|comparator| {
                let bound = &comparator.version;
                !bound.pre.is_empty()
                    && (&bound.major, &bound.minor, &bound.patch)
                        == (&version.major, &version.minor, &version.patch)
            })
        })
    }
}

impl FromStr for NpmRange {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        NpmRange::parse(value)
    }
}

impl fmt::Display for NpmRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> NpmVersion {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn order_table() {
        use Ordering::*;
        let cases = [
            ("v1.2.3", "1.2.3", Equal),
            ("=1.2.3", "1.2.3", Equal),
            (" =v1.2.3 ", "1.2.3", Equal),
            ("1.2.3+build", "1.2.3", Equal),
            ("01.02.03", "1.2.3", Equal),
            ("1.2.3beta", "1.2.3-beta", Equal),
            ("1.2.3-beta.2", "1.2.3-beta.11", Less),
            ("1.2.3-beta", "1.2.3", Less),
            ("1.2.3-0", "1.2.3-alpha", Less),
            ("9007199254740991.0.0", "1.0.0", Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "1.2",
            "1.2.x",
            "1.2.3.4",
            "9007199254740992.0.0",
            "1.2.3-",
            "1.2.3+",
            "a.b.c",
            "1.2.3-a..b",
        ] {
            let err = bad.parse::<NpmVersion>().expect_err(bad);
            assert_eq!((err.scheme, err.value.as_str()), (Scheme::Npm, bad));
        }
    }
}
