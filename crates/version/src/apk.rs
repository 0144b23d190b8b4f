//! Alpine package versions, ordered like apk-tools:
//! `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`.
//!
//! Suffixes `_alpha _beta _pre _rc` sort before the release they lead up to;
//! `_cvs _svn _git _hg _p` sort after it. A non-initial number with a leading
//! zero compares as a string (the Gentoo rule: `1.05` < `1.1`); all other
//! numbers compare by value. Where two versions agree on a common prefix and
//! one goes on, the longer one is greater unless what follows is a
//! pre-release suffix.
//!
//! Validity follows apk's grammar, with one allowance: digits after the
//! letter (`5.7.1p1`, OpenSSH's and sudo's upstream style). Alpine shipped
//! such versions for years and apk-tools 2.x ordered them; apk-tools 3
//! rejects them, which would leave those packages unmatched. Anything else
//! apk calls invalid is an error here, not a guess.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::{Scheme, VersionError};

/// Longest accepted version string; bounds work on hostile input and lets
/// offsets fit in `u16`.
const MAX_LEN: usize = 1024;

/// Token kinds in apk's order: a version that goes on with a higher kind
/// where the other goes on with a lower one is the lesser (`1.2` < `1.2.1`,
/// `1.2-r1` < `1.2_p1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    InitialNumber,
    Number,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    End,
}

/// Suffixes in sort order; `Release` is the pivot between pre- and post-release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    Release,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

impl Suffix {
    fn from_name(name: &[u8]) -> Option<Suffix> {
        Some(match name {
            b"alpha" => Suffix::Alpha,
            b"beta" => Suffix::Beta,
            b"pre" => Suffix::Pre,
            b"rc" => Suffix::Rc,
            b"cvs" => Suffix::Cvs,
            b"svn" => Suffix::Svn,
            b"git" => Suffix::Git,
            b"hg" => Suffix::Hg,
            b"p" => Suffix::P,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    /// Meaningful for `Kind::Suffix` only.
    suffix: Suffix,
    /// The token's text in the original string (digits, the letter, the hash).
    start: u16,
    end: u16,
}

/// A parsed, valid apk version. Tokens are found once at parse time so that
/// comparison is a plain walk over two short arrays.
#[derive(Debug, Clone)]
pub struct ApkVersion {
    original: Box<str>,
    /// Always ends with one `Kind::End` token.
    tokens: Box<[Token]>,
}

impl ApkVersion {
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The package build number of `-rN`; `None` when absent.
    pub fn revision(&self) -> Option<&str> {
        self.tokens
            .iter()
            .find(|t| t.kind == Kind::Revision)
            .map(|t| self.text(t))
    }

    fn text(&self, token: &Token) -> &str {
        &self.original[usize::from(token.start)..usize::from(token.end)]
    }

    fn bytes(&self, token: &Token) -> &[u8] {
        self.text(token).as_bytes()
    }
}

impl FromStr for ApkVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<ApkVersion, VersionError> {
        let error = |reason: String| VersionError::new(Scheme::Apk, value, reason);
        if value.is_empty() {
            return Err(error("version string is empty".into()));
        }
        if value.len() > MAX_LEN {
            return Err(error("version string is longer than 1024 bytes".into()));
        }
        let bytes = value.as_bytes();
        let run = |from: usize, keep: fn(&u8) -> bool| {
            from + bytes[from..].iter().take_while(|b| keep(b)).count()
        };
        let mut tokens = Vec::new();
        let mut push = |kind, suffix, start: usize, end: usize| {
            // Both offsets are at most MAX_LEN.
            let start = u16::try_from(start).unwrap_or(u16::MAX);
            let end = u16::try_from(end).unwrap_or(u16::MAX);
            tokens.push(Token {
                kind,
                suffix,
                start,
                end,
            });
        };

        let first_end = run(0, u8::is_ascii_digit);
        if first_end == 0 {
            return Err(error("version must start with a digit".into()));
        }
        push(Kind::InitialNumber, Suffix::Release, 0, first_end);
        let mut previous = Kind::InitialNumber;
        let mut at = first_end;

        while let Some(&c) = bytes.get(at) {
            let invalid = |what: &str| error(format!("{what} at byte {at}"));
            let (kind, suffix, start, end) = match c {
                b'.' => {
                    if previous > Kind::Number {
                        return Err(invalid("'.' after the letter or a suffix"));
                    }
                    let end = run(at + 1, u8::is_ascii_digit);
                    if end == at + 1 {
                        return Err(invalid("'.' not followed by digits"));
                    }
                    (Kind::Number, Suffix::Release, at + 1, end)
                }
                b'a'..=b'z' => {
                    if previous > Kind::Number {
                        return Err(invalid(
                            "letter in the wrong place (only one, after the numbers)",
                        ));
                    }
                    (Kind::Letter, Suffix::Release, at, at + 1)
                }
                b'0'..=b'9' => {
                    let end = run(at, u8::is_ascii_digit);
                    match previous {
                        Kind::Letter => (Kind::Number, Suffix::Release, at, end),
                        Kind::Suffix => (Kind::SuffixNumber, Suffix::Release, at, end),
                        _ => return Err(invalid("digits in the wrong place")),
                    }
                }
                b'_' => {
                    if previous > Kind::SuffixNumber {
                        return Err(invalid("suffix after the hash or revision"));
                    }
                    let end = run(at + 1, u8::is_ascii_lowercase);
                    let Some(suffix) = Suffix::from_name(&bytes[at + 1..end]) else {
                        return Err(invalid(
                            "unknown suffix (expected alpha, beta, pre, rc, cvs, svn, git, hg or p)",
                        ));
                    };
                    (Kind::Suffix, suffix, at + 1, end)
                }
                b'~' => {
                    if previous >= Kind::CommitHash {
                        return Err(invalid("'~' after the hash or revision"));
                    }
                    let end = run(at + 1, |b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                    if end == at + 1 {
                        return Err(invalid("'~' not followed by a lowercase hex commit hash"));
                    }
                    (Kind::CommitHash, Suffix::Release, at + 1, end)
                }
                b'-' => {
                    if previous >= Kind::Revision {
                        return Err(invalid("second revision"));
                    }
                    if bytes.get(at + 1) != Some(&b'r') {
                        return Err(invalid("'-' not followed by 'r'"));
                    }
                    let end = run(at + 2, u8::is_ascii_digit);
                    if end == at + 2 {
                        return Err(invalid("'-r' not followed by digits"));
                    }
                    (Kind::Revision, Suffix::Release, at + 2, end)
                }
                _ => return Err(invalid("unexpected character")),
            };
            push(kind, suffix, start, end);
            previous = kind;
            at = end;
        }
        push(Kind::End, Suffix::Release, value.len(), value.len());
        Ok(ApkVersion {
            original: value.into(),
            tokens: tokens.into_boxed_slice(),
        })
    }
}

impl fmt::Display for ApkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &ApkVersion) -> Ordering {
        for (a, b) in self.tokens.iter().zip(other.tokens.iter()) {
            if a.kind != b.kind {
                return cmp_divergent(a, b);
            }
            let order = match a.kind {
                Kind::End => return Ordering::Equal,
                Kind::Number => {
                    let (x, y) = (self.bytes(a), other.bytes(b));
                    if x.first() == Some(&b'0') || y.first() == Some(&b'0') {
                        x.cmp(y)
                    } else {
                        cmp_number(x, y)
                    }
                }
                Kind::InitialNumber | Kind::SuffixNumber | Kind::Revision => {
                    cmp_number(self.bytes(a), other.bytes(b))
                }
                Kind::Suffix => a.suffix.cmp(&b.suffix),
                Kind::Letter | Kind::CommitHash => self.bytes(a).cmp(other.bytes(b)),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        // Unreachable for parsed versions: both token lists end with `End`,
        // which returns above once reached in step.
        self.tokens.len().cmp(&other.tokens.len())
    }
}

/// Equal so far, then different kinds of token: the version that ends or goes
/// on with the later part of the grammar is the lesser, except that a
/// pre-release suffix is always the lesser.
fn cmp_divergent(a: &Token, b: &Token) -> Ordering {
    let pre_release = |t: &Token| t.kind == Kind::Suffix && t.suffix < Suffix::Release;
    if pre_release(a) {
        return Ordering::Less;
    }
    if pre_release(b) {
        return Ordering::Greater;
    }
    b.kind.cmp(&a.kind)
}

impl PartialOrd for ApkVersion {
    fn partial_cmp(&self, other: &ApkVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApkVersion {
    fn eq(&self, other: &ApkVersion) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApkVersion {}

impl Hash for ApkVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for token in self.tokens.iter() {
            token.kind.hash(state);
            match token.kind {
                // Compared by value: `01` equals `1`.
                Kind::InitialNumber | Kind::SuffixNumber | Kind::Revision => {
                    strip_zeros(self.bytes(token)).hash(state);
                }
                Kind::Suffix => token.suffix.hash(state),
                // Numbers with a leading zero compare as strings and those
                // without have none to strip, so equal means byte-equal.
                Kind::Number | Kind::Letter | Kind::CommitHash => self.bytes(token).hash(state),
                Kind::End => {}
            }
        }
    }
}

fn strip_zeros(digits: &[u8]) -> &[u8] {
    &digits[digits.iter().take_while(|&&b| b == b'0').count()..]
}

/// Compares digit strings of any length by value.
fn cmp_number(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (strip_zeros(a), strip_zeros(b));
    a.len().cmp(&b.len()).then(a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApkVersion {
        s.parse().unwrap()
    }

    #[test]
    fn tricky_pairs() {
        use Ordering::*;
        let table = [
            ("1.2", "1.2.0", Less),
            ("1.2_alpha", "1.2", Less),
            ("1.2_alpha", "1.2_alpha1", Less),
            ("1.2_alpha9", "1.2_beta", Less),
            ("1.2_rc3", "1.2", Less),
            ("1.2", "1.2-r0", Less),
            ("1.2-r9", "1.2-r10", Less),
            ("1.2-r1", "1.2_p1", Less),
            ("1.2_p1", "1.2a", Less),
            ("1.2a", "1.2.1", Less),
            ("1.2_git20240101", "1.2_p0", Less),
            ("1.2_cvs", "1.2_svn", Less),
            ("1.2_rc1_p2", "1.2_rc1", Greater),
            ("1.2_rc1_alpha", "1.2_rc1", Less),
            ("1.05", "1.1", Less),
            ("1.0", "1.00", Less),
            ("01.1", "1.1", Equal),
            ("1.2-r01", "1.2-r1", Equal),
            ("5.7p1", "5.7p2", Less),
            ("5.7p1", "5.7p", Greater),
            ("5.7p1", "5.7q", Less),
            ("1.2~abc", "1.2", Greater),
            ("1.2~abc", "1.2~abd", Less),
            ("1.2~abc-r1", "1.2-r1", Greater),
            ("18446744073709551617", "18446744073709551616", Greater),
        ];
        for (a, b, expected) in table {
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn equal_versions_hash_alike() {
        use std::collections::HashSet;
        let set: HashSet<ApkVersion> = ["1.2_p01-r01", "01.2_p1-r1", "001.2_p001-r001"]
            .iter()
            .map(|s| v(s))
            .collect();
        assert_eq!(set.len(), 1);
        assert_eq!(v("1.2-r3").revision(), Some("3"));
        assert_eq!(v("1.2").revision(), None);
    }

    #[test]
    fn rejects_invalid() {
        let table = [
            ("", "empty"),
            ("a", "start with a digit"),
            (".1", "start with a digit"),
            ("1..2", "'.' not followed by digits"),
            ("1.", "'.' not followed by digits"),
            ("1ab", "letter in the wrong place"),
            ("1A", "unexpected character"),
            ("1_blah", "unknown suffix"),
            ("1_", "unknown suffix"),
            ("1-r", "'-r' not followed by digits"),
            ("1-1", "'-' not followed by 'r'"),
            ("1-r1-r2", "second revision"),
            ("1-r1_p1", "suffix after the hash or revision"),
            ("1-r1.2", "'.' after the letter or a suffix"),
            ("1_p1.2", "'.' after the letter or a suffix"),
            ("1~", "hex commit hash"),
            ("1~ABC", "hex commit hash"),
            ("1~ab~cd", "'~' after the hash"),
            ("1 ", "unexpected character"),
        ];
        for (input, reason) in table {
            let err = input.parse::<ApkVersion>().unwrap_err();
            assert_eq!(err.scheme, Scheme::Apk);
            assert_eq!(err.value, input);
            assert!(err.reason.contains(reason), "{input:?}: {err}");
        }
        assert!("1".repeat(MAX_LEN + 1).parse::<ApkVersion>().is_err());
    }
}
