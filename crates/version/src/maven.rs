//! Maven versions, ordered as Maven's `ComparableVersion` orders them.
//!
//! A version splits into items at `.`, at `-` and where digits and letters
//! meet; a `-` or a digit/letter transition opens a nested sub-list. Items
//! are numbers (any size) or lower-cased qualifiers, with `ga`/`final`/
//! `release` = "" and `cr` = `rc`, and `a`/`b`/`m` = `alpha`/`beta`/`milestone`
//! when directly followed by a digit. Trailing "null" items (`0`, "", an empty
//! sub-list) are trimmed from every list, so `1` == `1.0` == `1-0` == `1.ga`.
//!
//! Qualifiers order `alpha` < `beta` < `milestone` < `rc` < `snapshot` < ""
//! < `sp` < any other qualifier (alphabetically); a qualifier sorts before a
//! number, and a sub-list before a number but after a qualifier.
//!
//! Because each sub-list is always the *last* item of its parent, the tree is
//! a chain; it is stored as one list of levels and compared iteratively, so
//! deeply nested input costs no recursion. Only ASCII digits count as digits.
//!
//! **Known limit: not a total order on odd inputs.** The published orderings
//! follow the `ComparableVersion` of Maven before 3.8.7 (Maven 3.8.7 disagrees
//! with 19 of their 14,854 pairs), and that comparator is not transitive when
//! a number 0 or a `.qualifier` meets a `-sub-list` at the same position:
//! `1.0.alpha` < `1` < `1.sp` < `1.0.alpha`. We agree with the data, so such
//! triples cycle here too; every pair of ordinary versions (numbers with
//! qualifiers) orders as Maven does. A later fix should follow Maven 3.9's
//! parser (which treats `.X` as `-X`) once data from it is available.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::decimal::{Decimal, check_len};
use crate::{Scheme, VersionError};

/// A Maven artifact version. Any string parses; only the length is capped.
#[derive(Debug, Clone)]
pub struct MavenVersion {
    original: Box<str>,
    /// Level `k + 1` is the sub-list that ends level `k`.
    levels: Vec<Vec<Leaf>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Leaf {
    Number(Decimal),
    Qualifier(Box<str>),
}

/// Qualifier ranks; unknown qualifiers come after all known ones.
const KNOWN_QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE_RANK: usize = 5;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum QualifierRank<'a> {
    Known(usize),
    Unknown(&'a str),
}

fn rank(qualifier: &str) -> QualifierRank<'_> {
    KNOWN_QUALIFIERS
        .iter()
        .position(|known| *known == qualifier)
        .map_or(QualifierRank::Unknown(qualifier), QualifierRank::Known)
}

impl Leaf {
    fn number(digits: &str) -> Leaf {
        Leaf::Number(Decimal::from_digits(digits))
    }

    fn qualifier(text: &str, followed_by_digit: bool) -> Leaf {
        let text = match text {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            other => other,
        };
        let text = match text {
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            other => other,
        };
        Leaf::Qualifier(text.into())
    }

    fn is_null(&self) -> bool {
        match self {
            Leaf::Number(number) => number.is_zero(),
            Leaf::Qualifier(text) => text.is_empty(),
        }
    }

    fn cmp_leaf(&self, other: &Leaf) -> Ordering {
        match (self, other) {
            (Leaf::Number(a), Leaf::Number(b)) => a.cmp(b),
            (Leaf::Number(_), Leaf::Qualifier(_)) => Ordering::Greater,
            (Leaf::Qualifier(_), Leaf::Number(_)) => Ordering::Less,
            (Leaf::Qualifier(a), Leaf::Qualifier(b)) => rank(a).cmp(&rank(b)),
        }
    }

    /// Comparison with a missing item (the other version is shorter).
    fn cmp_null(&self) -> Ordering {
        match self {
            Leaf::Number(number) if number.is_zero() => Ordering::Equal,
            Leaf::Number(_) => Ordering::Greater,
            Leaf::Qualifier(text) => rank(text).cmp(&QualifierRank::Known(RELEASE_RANK)),
        }
    }
}

/// An item of a list: a leaf, or the sub-list that ends it.
#[derive(Clone, Copy)]
enum Item<'a> {
    Leaf(&'a Leaf),
    SubList,
}

fn item(levels: &[Vec<Leaf>], level: usize, index: usize) -> Option<Item<'_>> {
    let leaves = &levels[level];
    match index.cmp(&leaves.len()) {
        Ordering::Less => Some(Item::Leaf(&leaves[index])),
        Ordering::Equal if level + 1 < levels.len() => Some(Item::SubList),
        _ => None,
    }
}

/// `ComparableVersion.parseVersion` (Maven 3.x).
fn parse_levels(value: &str) -> Vec<Vec<Leaf>> {
    let lowered = value.to_lowercase();
    let text = lowered.as_bytes();
    let mut levels: Vec<Vec<Leaf>> = vec![Vec::new()];
    let mut is_digit = false;
    let mut start = 0;
    // Slices below start and end at ASCII bytes, so they are char boundaries.
    let item_at = |is_digit: bool, start: usize, end: usize| {
        let slice = &lowered[start..end];
        if is_digit {
            Leaf::number(slice)
        } else {
            Leaf::qualifier(slice, false)
        }
    };
    for (index, &byte) in text.iter().enumerate() {
        let current = levels.len() - 1;
        match byte {
            b'.' | b'-' => {
                let leaf = if index == start {
                    Leaf::Number(Decimal::ZERO)
                } else {
                    item_at(is_digit, start, index)
                };
                levels[current].push(leaf);
                start = index + 1;
                if byte == b'-' {
                    levels.push(Vec::new());
                }
            }
            b'0'..=b'9' => {
                if !is_digit && index > start {
                    levels[current].push(Leaf::qualifier(&lowered[start..index], true));
                    start = index;
                    levels.push(Vec::new());
                }
                is_digit = true;
            }
            _ => {
                // Only an ASCII byte can end a digit run, so `index` is a char boundary.
                if is_digit && index > start {
                    levels[current].push(item_at(true, start, index));
                    start = index;
                    levels.push(Vec::new());
                }
                is_digit = false;
            }
        }
    }
    if text.len() > start {
        let current = levels.len() - 1;
        let leaf = item_at(is_digit, start, text.len());
        levels[current].push(leaf);
    }
    // ListItem.normalize, innermost list first: drop trailing null leaves
    // (skipping over a non-empty sub-list), and drop a sub-list left empty.
    // A sub-list left with nothing but its own sub-list is dropped too, so
    // that `1-ga-1` == `1-1` as the published orderings (and Maven's version
    // order specification) require, where Maven 3.8's tree keeps `[1, [[1]]]`.
    for leaves in &mut levels {
        while leaves.last().is_some_and(Leaf::is_null) {
            leaves.pop();
        }
    }
    let mut depth = 0;
    levels.retain(|leaves| {
        depth += 1;
        depth == 1 || !leaves.is_empty()
    });
    levels
}

/// `ListItem.compareTo(null)` from `level` on: the first item that differs from null decides.
fn cmp_levels_null(levels: &[Vec<Leaf>], mut level: usize) -> Ordering {
    loop {
        for leaf in &levels[level] {
            let result = leaf.cmp_null();
            if result != Ordering::Equal {
                return result;
            }
        }
        level += 1;
        if level >= levels.len() {
            return Ordering::Equal;
        }
    }
}

fn cmp_versions(a: &[Vec<Leaf>], b: &[Vec<Leaf>]) -> Ordering {
    let (mut level_a, mut level_b) = (0, 0);
    'lists: loop {
        let mut index = 0;
        loop {
            let result = match (item(a, level_a, index), item(b, level_b, index)) {
                (None, None) => return Ordering::Equal,
                (Some(Item::Leaf(left)), Some(Item::Leaf(right))) => left.cmp_leaf(right),
                (Some(Item::Leaf(left)), None) => left.cmp_null(),
                (None, Some(Item::Leaf(right))) => right.cmp_null().reverse(),
                (Some(Item::SubList), Some(Item::SubList)) => {
                    level_a += 1;
                    level_b += 1;
                    continue 'lists;
                }
                (Some(Item::SubList), None) => return cmp_levels_null(a, level_a + 1),
                (None, Some(Item::SubList)) => return cmp_levels_null(b, level_b + 1).reverse(),
                (Some(Item::SubList), Some(Item::Leaf(Leaf::Number(_)))) => Ordering::Less,
                (Some(Item::SubList), Some(Item::Leaf(Leaf::Qualifier(_)))) => Ordering::Greater,
                (Some(Item::Leaf(Leaf::Number(_))), Some(Item::SubList)) => Ordering::Greater,
                (Some(Item::Leaf(Leaf::Qualifier(_))), Some(Item::SubList)) => Ordering::Less,
            };
            if result != Ordering::Equal {
                return result;
            }
            index += 1;
        }
    }
}

impl MavenVersion {
    /// The canonical form, as `ComparableVersion.getCanonical()` prints it
    /// (`1.0-alpha-1` for `1a1`); equal versions have equal canonical forms.
    pub fn canonical(&self) -> String {
        let mut text = String::new();
        for (depth, leaves) in self.levels.iter().enumerate() {
            if depth > 0 {
                text.push('-');
            }
            for (index, leaf) in leaves.iter().enumerate() {
                if index > 0 {
                    text.push('.');
                }
                match leaf {
                    Leaf::Number(Decimal::Small(value)) => text.push_str(&value.to_string()),
                    Leaf::Number(Decimal::Big(digits)) => text.push_str(digits),
                    Leaf::Qualifier(word) => text.push_str(word),
                }
            }
        }
        text
    }
}

impl FromStr for MavenVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_len(Scheme::Maven, value)?;
        if value.is_empty() {
            return Err(VersionError::new(Scheme::Maven, value, "empty version"));
        }
        Ok(MavenVersion {
            original: value.into(),
            levels: parse_levels(value),
        })
    }
}

impl fmt::Display for MavenVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

// After normalisation every non-null item differs from null, so two versions
// compare equal exactly when their normalised levels are identical.
impl PartialEq for MavenVersion {
    fn eq(&self, other: &Self) -> bool {
        self.levels == other.levels
    }
}

impl Eq for MavenVersion {}

impl Hash for MavenVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.levels.hash(state);
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_versions(&self.levels, &other.levels)
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> MavenVersion {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    /// Pairs checked against Maven's own `ComparableVersion` (3.8.7).
    #[test]
    fn order_table() {
        use Ordering::*;
        let cases = [
            ("1.0-SNAPSHOT", "1.0-snapshot", Equal),
            ("1.0-snapshot", "1.0-RC1", Greater),
            ("1.0-RC1", "1.0-cr1", Equal),
            ("1.0-cr1", "1.0.0-sp", Less),
            ("1.0.0-sp", "1.0", Greater),
            ("1.0", "1.0-sp1", Less),
            ("1.0-sp1", "1.0.1", Less),
            ("1.0.1", "1.0-xyz", Greater),
            ("1.0-xyz", "1.0-sp", Greater),
            ("1.0-abc", "1.0-xyz", Less),
            ("1.0-xyz", "1.0-1", Less),
            ("1.0-1", "1.0.0.0.1", Less),
            ("1.0-final", "1.0.ga", Equal),
            ("1.0.ga", "1.0-m1", Greater),
            ("1.0-m1", "1.0-milestone-1", Equal),
            ("1.0-milestone-1", "1.0-a", Less),
            ("1.0-a", "1.0-alpha", Greater),
            ("1.0-2", "1.0.1", Less),
            ("1.0.0", "1.0-RELEASE", Equal),
            ("10.0", "9.9999999999", Greater),
            (
                "1.0.0.0000000000000000000001",
                "1.0.0.0000000000000000000000",
                Greater,
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
            assert_eq!(v(a) == v(b), expected == Equal, "{a} == {b}");
        }
    }

    #[test]
    fn canonical_forms() {
        for (text, canonical) in [
            ("1.0.0", "1"),
            ("1a1", "1-alpha-1"),
            ("1.0-RC-1-SNAPSHOT", "1-rc-1-snapshot"),
            ("1-ga-1", "1-1"),
            ("-1", "-1"),
        ] {
            assert_eq!(v(text).canonical(), canonical, "{text}");
        }
    }

    #[test]
    fn only_empty_and_oversized_are_errors() {
        assert_eq!(
            MavenVersion::from_str("").map_err(|e| e.scheme),
            Err(Scheme::Maven)
        );
        assert!(MavenVersion::from_str(&"1.".repeat(600)).is_err());
        assert!(MavenVersion::from_str(&"1-".repeat(500)).is_ok());
        assert!(MavenVersion::from_str("ünïcödé-1").is_ok());
    }
}
