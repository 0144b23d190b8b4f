//! Ruby gem versions, ordered as `Gem::Version#<=>` orders them, and
//! requirements as `Gem::Requirement` checks them.
//!
//! A version is `[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`
//! (surrounding whitespace ignored; `-` reads as `.pre.`). Its segments are
//! the runs of digits and of letters; it is a pre-release when it contains a
//! letter. Order compares the *canonical* segments — trailing zeros dropped
//! from the numeric part and from the part starting at the first letters —
//! pairwise, a missing segment counting as 0, letters before numbers, numbers
//! by value, letters by bytes (case-sensitive). **Equality is `<=>` == 0**
//! (`1.0` == `1`, `1.0.a2` == `1.0.a.2`), not Ruby's stricter `eql?`.
//!
//! Unlike Ruby, an empty string is an error, not version `0`, and letters may
//! directly follow the first number (`1beta`, as in OSV's data).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::decimal::{Decimal, check_len};
use crate::{Scheme, VersionError};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Number(Decimal),
    Letters(Box<str>),
}

const ZERO: Segment = Segment::Number(Decimal::ZERO);

fn cmp_segment(a: &Segment, b: &Segment) -> Ordering {
    match (a, b) {
        (Segment::Number(a), Segment::Number(b)) => a.cmp(b),
        (Segment::Letters(_), Segment::Number(_)) => Ordering::Less,
        (Segment::Number(_), Segment::Letters(_)) => Ordering::Greater,
        (Segment::Letters(a), Segment::Letters(b)) => a.cmp(b),
    }
}

/// Pairwise with 0 for a missing segment.
fn cmp_segments(a: &[Segment], b: &[Segment]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|index| cmp_segment(a.get(index).unwrap_or(&ZERO), b.get(index).unwrap_or(&ZERO)))
        .find(|result| result.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// A RubyGems version.
#[derive(Debug, Clone)]
pub struct GemVersion {
    original: Box<str>,
    /// `Gem::Version#canonical_segments`.
    canonical: Vec<Segment>,
    /// Length of the canonical numeric part (before the first letters).
    release_len: usize,
    prerelease: bool,
}

/// `[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`
fn check_pattern(text: &str) -> Result<(), String> {
    let (main, pre) = match text.split_once('-') {
        Some((main, pre)) => (main, Some(pre)),
        None => (text, None),
    };
    let mut parts = main.split('.');
    // Ruby demands digits only in the first segment; letters right after
    // them (`1beta`) are accepted here because OSV's RubyGems data uses them.
    let first = parts.next().unwrap_or("");
    if !first.starts_with(|c: char| c.is_ascii_digit())
        || !first.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err("a gem version starts with a number".to_owned());
    }
    for part in parts {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("malformed segment {part:?}"));
        }
    }
    if let Some(pre) = pre {
        for part in pre.split('.') {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("malformed pre-release segment {part:?}"));
            }
        }
    }
    Ok(())
}

/// `Gem::Version#segments`: runs of digits and of letters (`-` is `.pre.`,
/// which only adds the letters `pre`).
fn raw_segments(text: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let byte = bytes[pos];
        if byte == b'-' {
            segments.push(Segment::Letters("pre".into()));
            pos += 1;
            continue;
        }
        let pred: fn(&u8) -> bool = if byte.is_ascii_digit() {
            u8::is_ascii_digit
        } else if byte.is_ascii_alphabetic() {
            u8::is_ascii_alphabetic
        } else {
            pos += 1;
            continue;
        };
        let end = bytes[pos..]
            .iter()
            .position(|b| !pred(b))
            .map_or(bytes.len(), |offset| pos + offset);
        let run = &text[pos..end];
        segments.push(if byte.is_ascii_digit() {
            Segment::Number(Decimal::from_digits(run))
        } else {
            Segment::Letters(run.into())
        });
        pos = end;
    }
    segments
}

fn numeric_prefix_len(segments: &[Segment]) -> usize {
    segments
        .iter()
        .position(|segment| matches!(segment, Segment::Letters(_)))
        .unwrap_or(segments.len())
}

fn trim_zeros(segments: &mut Vec<Segment>) {
    while segments.last() == Some(&ZERO) {
        segments.pop();
    }
}

impl GemVersion {
    fn parse(value: &str) -> Result<GemVersion, String> {
        let text = value.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
        check_pattern(text)?;
        let mut numbers = raw_segments(text);
        let mut rest = numbers.split_off(numeric_prefix_len(&numbers));
        trim_zeros(&mut numbers);
        trim_zeros(&mut rest);
        let release_len = numbers.len();
        numbers.append(&mut rest);
        Ok(GemVersion {
            original: value.into(),
            canonical: numbers,
            release_len,
            prerelease: text.bytes().any(|b| b.is_ascii_alphabetic()),
        })
    }

    /// True when the version contains a letter (`1.0.pre`, `2.0.0-rc1`).
    pub fn is_prerelease(&self) -> bool {
        self.prerelease
    }

    /// `Gem::Version#release`'s canonical segments: the numbers before the first letters.
    fn release_segments(&self) -> &[Segment] {
        &self.canonical[..self.release_len]
    }
}

impl FromStr for GemVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_len(Scheme::RubyGems, value)?;
        GemVersion::parse(value)
            .map_err(|reason| VersionError::new(Scheme::RubyGems, value, reason))
    }
}

impl fmt::Display for GemVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl PartialEq for GemVersion {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for GemVersion {}

impl Hash for GemVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_segments(&self.canonical, &other.canonical)
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A requirement operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GemOp {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    /// `~>`, the pessimistic operator: `~> 1.2.3` is `>= 1.2.3, < 1.3`.
    Pessimistic,
}

impl GemOp {
    pub fn as_str(self) -> &'static str {
        match self {
            GemOp::Eq => "=",
            GemOp::Ne => "!=",
            GemOp::Gt => ">",
            GemOp::Lt => "<",
            GemOp::Ge => ">=",
            GemOp::Le => "<=",
            GemOp::Pessimistic => "~>",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Constraint {
    op: GemOp,
    version: GemVersion,
    /// For `~>`: `Gem::Version#bump` of `version`, the exclusive upper bound.
    bump: Vec<Segment>,
}

/// A `Gem::Requirement`: comma-separated constraints that must all hold
/// (`~> 1.2, >= 1.2.3`). A constraint without operator means `=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GemRequirement {
    constraints: Vec<Constraint>,
}

/// `Gem::Version#bump`: drop everything from the first letters on, drop the
/// last number unless it is the only one, and increment the new last number.
fn bump(version: &GemVersion) -> Vec<Segment> {
    let text = version
        .original
        .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    let mut segments = raw_segments(text);
    segments.truncate(numeric_prefix_len(&segments));
    if segments.len() > 1 {
        segments.pop();
    }
    if let Some(Segment::Number(last)) = segments.last_mut() {
        *last = increment(last);
    }
    trim_zeros(&mut segments);
    segments
}

fn increment(number: &Decimal) -> Decimal {
    match number {
        Decimal::Small(value) => match value.checked_add(1) {
            Some(next) => Decimal::Small(next),
            None => Decimal::from_digits("18446744073709551616"),
        },
        Decimal::Big(digits) => {
            // Decimal add-one on the digit string: bounded by the input length cap.
            let mut bytes = digits.as_bytes().to_vec();
            let mut index = bytes.len();
            loop {
                if index == 0 {
                    bytes.insert(0, b'1');
                    break;
                }
                index -= 1;
                if bytes[index] == b'9' {
                    bytes[index] = b'0';
                } else {
                    bytes[index] += 1;
                    break;
                }
            }
            Decimal::from_digits(std::str::from_utf8(&bytes).unwrap_or("0"))
        }
    }
}

impl GemRequirement {
    /// Parses `"~> 1.2, >= 1.2.3"`-style requirement strings.
    pub fn parse(value: &str) -> Result<GemRequirement, VersionError> {
        check_len(Scheme::RubyGems, value)?;
        let error = |reason: String| VersionError::new(Scheme::RubyGems, value, reason);
        let mut constraints = Vec::new();
        for part in value.split(',') {
            let part = part.trim();
            let (op, rest) = [
                ("!=", GemOp::Ne),
                (">=", GemOp::Ge),
                ("<=", GemOp::Le),
                ("~>", GemOp::Pessimistic),
                ("=", GemOp::Eq),
                (">", GemOp::Gt),
                ("<", GemOp::Lt),
            ]
            .iter()
            .find_map(|(token, op)| part.strip_prefix(token).map(|rest| (*op, rest)))
            .unwrap_or((GemOp::Eq, part));
            let version = GemVersion::parse(rest.trim())
                .map_err(|reason| error(format!("requirement {part:?}: {reason}")))?;
            let bump = if op == GemOp::Pessimistic {
                bump(&version)
            } else {
                Vec::new()
            };
            constraints.push(Constraint { op, version, bump });
        }
        Ok(GemRequirement { constraints })
    }

    /// `Gem::Requirement#satisfied_by?`: every constraint holds.
    pub fn satisfied_by(&self, version: &GemVersion) -> bool {
        self.constraints.iter().all(|constraint| {
            let ordering = version.cmp(&constraint.version);
            match constraint.op {
                GemOp::Eq => ordering.is_eq(),
                GemOp::Ne => ordering.is_ne(),
                GemOp::Gt => ordering.is_gt(),
                GemOp::Lt => ordering.is_lt(),
                GemOp::Ge => ordering.is_ge(),
                GemOp::Le => ordering.is_le(),
                GemOp::Pessimistic => {
                    ordering.is_ge()
                        && cmp_segments(version.release_segments(), &constraint.bump).is_lt()
                }
            }
        })
    }

    /// The constraints, as (operator, version) pairs.
    pub fn constraints(&self) -> impl Iterator<Item = (GemOp, &GemVersion)> {
        self.constraints.iter().map(|c| (c.op, &c.version))
    }
}

impl FromStr for GemRequirement {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        GemRequirement::parse(value)
    }
}

impl fmt::Display for GemRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, constraint) in self.constraints.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", constraint.op.as_str(), constraint.version)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> GemVersion {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    /// Pairs checked against RubyGems 3.3 (`Gem::Version#<=>`).
    #[test]
    fn order_table() {
        use Ordering::*;
        let cases = [
            ("1.0", "1", Equal),
            ("1.0.0.0", "1", Equal),
            ("1.0.a", "1.0", Less),
            ("1.0.a", "1.0.b", Less),
            ("1.0.A", "1.0.a", Less),
            ("1.0.a1", "1.0.a.1", Equal),
            ("1.0-rc1", "1.0.rc1", Less),
            ("1.0-1", "1.0", Less),
            ("1.0-1", "1.0.pre.1", Equal),
            ("2.0.0.rc1", "2.0.0", Less),
            ("1.a", "1.0.a", Equal),
            ("1.0.a.0", "1.0.a", Equal),
            ("1.9", "1.10", Less),
            ("1.0.0.1", "1.0.1", Less),
            ("0.0.0", "0", Equal),
            (" 1.2 ", "1.2", Equal),
            ("1.2.3.pre", "1.2.3.pre.0", Equal),
            ("1.1.a", "1.1.0.1", Less),
            ("1.0.0.a.0.b", "1.0.0.a.b", Greater),
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
            "", " ", "a", "1..2", "1.0-", "1.0-a..b", "1.0+b", "1_0", "1.0 1", ".1", "1.", "-1",
        ] {
            let err = bad.parse::<GemVersion>().expect_err(bad);
            assert_eq!((err.scheme, err.value.as_str()), (Scheme::RubyGems, bad));
        }
        for bad in ["", "~>", ">= 1.0,", "=> 1.0", "~> 1.0 2.0", ">= x"] {
            let err = GemRequirement::parse(bad).expect_err(bad);
            assert_eq!(err.scheme, Scheme::RubyGems);
        }
    }

    #[test]
    fn requirements_agree_with_rubygems() {
        let table = include_str!("../tests/data/rubygems-requirements.tsv");
        let mut checked = 0;
        for line in table.lines().filter(|line| !line.starts_with('#')) {
            let [requirement, version, expected] = line.split('\t').collect::<Vec<_>>()[..] else {
                panic!("malformed line {line:?}");
            };
            let requirement = GemRequirement::parse(requirement).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                requirement.satisfied_by(&v(version)),
                expected == "true",
                "{requirement} satisfied by {version}"
            );
            checked += 1;
        }
        assert!(checked > 200, "only {checked} cases");
    }

    #[test]
    fn requirement_display_and_constraints() {
        let requirement = GemRequirement::parse("~> 1.2,>=1.2.3").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(requirement.to_string(), "~> 1.2, >= 1.2.3");
        assert_eq!(requirement.constraints().count(), 2);
        let huge =
            GemRequirement::parse("~> 99999999999999999999999.9").unwrap_or_else(|e| panic!("{e}"));
        assert!(huge.satisfied_by(&v("99999999999999999999999.10")));
        assert!(!huge.satisfied_by(&v("100000000000000000000000")));
    }
}
