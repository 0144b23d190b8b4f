//! Python versions: PEP 440, as the `packaging` library parses and orders them.
//!
//! Accepted spellings follow PEP 440's normalisation rules: case-insensitive,
//! surrounding whitespace and a leading `v` ignored, `-`/`_`/`.` separators
//! around pre/post/dev markers optional, spelled-out aliases (`alpha`,
//! `beta`, `c`/`pre`/`preview` = `rc`, `rev`/`r` = `post`), missing numbers =
//! 0, implicit post releases (`1.0-1`), local versions (`+ubuntu1`).
//!
//! Order: epoch, release (trailing zeros ignored: `1.0` == `1.0.0`), then
//! `.devN` < `aN` < `bN` < `rcN` < release < `.postN`, dev releases of a
//! pre/post release just before it, and a local version after the same public
//! version (local segments: numbers above strings, numbers by value).
//!
//! Strings that are not PEP 440 but were versions to `setuptools` (and to
//! `packaging` before 22.0), such as `0.9-doduo`, are *legacy* versions: they
//! sort before every PEP 440 version, among themselves by the old
//! `pkg_resources` rules. [`Pep440Version::is_legacy`] tells them apart and
//! [`Pep440Version::parse_strict`] refuses them.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::decimal::{Decimal, check_len};
use crate::{Scheme, VersionError};

/// A Python package version.
#[derive(Debug, Clone)]
pub struct Pep440Version {
    original: Box<str>,
    key: Key,
}

// Variant order is the order: legacy versions come before PEP 440 ones
// (`packaging` gives them epoch -1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Legacy(Vec<Box<str>>),
    Modern(Modern),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Modern {
    epoch: Decimal,
    /// Release numbers without trailing zeros.
    release: Vec<Decimal>,
    pre: Pre,
    post: Option<Decimal>,
    dev: Dev,
    local: Option<Vec<LocalSegment>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum PreKind {
    Alpha,
    Beta,
    Rc,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Pre {
    /// A dev release of a final release (`1.0.dev1`) sorts before its pre-releases.
    DevOfFinal,
    Marked(PreKind, Decimal),
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Dev {
    Dev(Decimal),
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum LocalSegment {
    // Strings sort before numbers.
    Text(Box<str>),
    Number(Decimal),
}

impl Pep440Version {
    /// Parses only PEP 440 versions, refusing legacy ones.
    pub fn parse_strict(value: &str) -> Result<Pep440Version, VersionError> {
        check_len(Scheme::Pep440, value)?;
        match parse_modern(value) {
            Some(modern) => Ok(Pep440Version {
                original: value.into(),
                key: Key::Modern(modern),
            }),
            None => Err(VersionError::new(
                Scheme::Pep440,
                value,
                "not a PEP 440 version",
            )),
        }
    }

    /// True for a pre-PEP 440 (setuptools) version, which sorts before all
    /// PEP 440 versions.
    pub fn is_legacy(&self) -> bool {
        matches!(self.key, Key::Legacy(_))
    }

    /// True for pre-releases and dev releases.
    pub fn is_prerelease(&self) -> bool {
        match &self.key {
            Key::Modern(modern) => {
                !matches!(modern.pre, Pre::None) || matches!(modern.dev, Dev::Dev(_))
            }
            Key::Legacy(_) => false,
        }
    }

    /// True when the version has a local segment (`+ubuntu1`).
    pub fn has_local(&self) -> bool {
        matches!(&self.key, Key::Modern(modern) if modern.local.is_some())
    }
}

struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.text[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// The first of `words` that matches here (callers list a word before its prefixes).
    fn eat_any<'w>(&mut self, words: &[&'w str]) -> Option<&'w str> {
        words.iter().copied().find(|word| self.eat_word(word))
    }

    fn digits(&mut self) -> Option<Decimal> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = std::str::from_utf8(&self.text[start..self.pos]).ok()?;
        (!digits.is_empty()).then(|| Decimal::from_digits(digits))
    }

    /// `[-_.]? WORD [-_.]? DIGITS?` where WORD is one of `words`; restores the
    /// position when no word matches.
    fn marker<'w>(&mut self, words: &[&'w str]) -> Option<(&'w str, Decimal)> {
        let start = self.pos;
        self.eat_separator();
        let Some(word) = self.eat_any(words) else {
            self.pos = start;
            return None;
        };
        self.eat_separator();
        Some((word, self.digits().unwrap_or(Decimal::ZERO)))
    }
}

/// `packaging.version.VERSION_PATTERN`, hand-written. `None` when `value` is not PEP 440.
fn parse_modern(value: &str) -> Option<Modern> {
    let lowered = value.trim().to_ascii_lowercase();
    let mut cursor = Cursor {
        text: lowered.as_bytes(),
        pos: 0,
    };
    cursor.eat(b'v');
    let first = cursor.digits()?;
    let (epoch, first_release) = if cursor.eat(b'!') {
        (first, cursor.digits()?)
    } else {
        (Decimal::ZERO, first)
    };
    let mut release = vec![first_release];
    while cursor.peek() == Some(b'.')
        && cursor
            .text
            .get(cursor.pos + 1)
            .is_some_and(u8::is_ascii_digit)
    {
        cursor.pos += 1;
        release.push(cursor.digits()?);
    }
    while release.last().is_some_and(Decimal::is_zero) {
        release.pop();
    }

    let pre = cursor
        .marker(&["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"])
        .map(|(word, number)| {
            let kind = match word {
                "alpha" | "a" => PreKind::Alpha,
                "beta" | "b" => PreKind::Beta,
                _ => PreKind::Rc,
            };
            (kind, number)
        });

    let implicit_post = {
        let start = cursor.pos;
        if cursor.eat(b'-')
            && let Some(number) = cursor.digits()
        {
            Some(number)
        } else {
            cursor.pos = start;
            None
        }
    };
    let post = implicit_post.or_else(|| {
        cursor
            .marker(&["post", "rev", "r"])
            .map(|(_, number)| number)
    });
    let dev = cursor.marker(&["dev"]).map(|(_, number)| number);

    let local = if cursor.eat(b'+') {
        let rest = std::str::from_utf8(&cursor.text[cursor.pos..]).ok()?;
        cursor.pos = cursor.text.len();
        let mut segments = Vec::new();
        for segment in rest.split(['-', '_', '.']) {
            if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            segments.push(if segment.bytes().all(|b| b.is_ascii_digit()) {
                LocalSegment::Number(Decimal::from_digits(segment))
            } else {
                LocalSegment::Text(segment.into())
            });
        }
        Some(segments)
    } else {
        None
    };
    if cursor.pos != cursor.text.len() {
        return None;
    }

    let pre = match (pre, &post, &dev) {
        (Some((kind, number)), _, _) => Pre::Marked(kind, number),
        (None, None, Some(_)) => Pre::DevOfFinal,
        (None, _, _) => Pre::None,
    };
    Some(Modern {
        epoch,
        release,
        pre,
        post,
        dev: dev.map_or(Dev::None, Dev::Dev),
        local,
    })
}

/// `packaging` 21's `_legacy_cmpkey` (setuptools' pre-PEP 440 order).
fn legacy_key(value: &str) -> Vec<Box<str>> {
    let lowered = value.to_lowercase();
    let mut parts: Vec<Box<str>> = Vec::new();
    let mut push = |part: &str| {
        let part: Box<str> = match part {
            "pre" | "preview" | "rc" => "*c".into(),
            "-" => "*final-".into(),
            "dev" => "*@".into(),
            "" | "." => return,
            _ if part.starts_with(|c: char| c.is_ascii_digit()) => format!("{part:0>8}").into(),
            _ => format!("*{part}").into(),
        };
        if part.starts_with('*') {
            if &*part < "*final" {
                while parts.last().is_some_and(|last| &**last == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|last| &**last == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    };
    // `re.split(r"(\d+|[a-z]+|\.|-)")`: the matches and the text between them.
    let bytes = lowered.as_bytes();
    let mut between_start = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        let byte = bytes[pos];
        let run_end = |pred: fn(&u8) -> bool| {
            bytes[pos..]
                .iter()
                .position(|b| !pred(b))
                .map_or(bytes.len(), |offset| pos + offset)
        };
        let end = if byte.is_ascii_digit() {
            run_end(u8::is_ascii_digit)
        } else if byte.is_ascii_lowercase() {
            run_end(u8::is_ascii_lowercase)
        } else if byte == b'.' || byte == b'-' {
            pos + 1
        } else {
            pos += 1;
            continue;
        };
        push(&lowered[between_start..pos]);
        push(&lowered[pos..end]);
        pos = end;
        between_start = end;
    }
    push(&lowered[between_start..]);
    push("*final");
    parts
}

impl FromStr for Pep440Version {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_len(Scheme::Pep440, value)?;
        if let Some(modern) = parse_modern(value) {
            return Ok(Pep440Version {
                original: value.into(),
                key: Key::Modern(modern),
            });
        }
        // Legacy versions accept almost anything; demand at least something
        // version-like so that garbage is an error, not the lowest version.
        if !value.bytes().any(|b| b.is_ascii_alphanumeric()) {
            return Err(VersionError::new(
                Scheme::Pep440,
                value,
                "no letters or digits",
            ));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(VersionError::new(
                Scheme::Pep440,
                value,
                "not PEP 440, and legacy versions cannot contain whitespace or control characters",
            ));
        }
        Ok(Pep440Version {
            original: value.into(),
            key: Key::Legacy(legacy_key(value)),
        })
    }
}

impl fmt::Display for Pep440Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl PartialEq for Pep440Version {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Pep440Version {}

impl Hash for Pep440Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl Ord for Pep440Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for Pep440Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Pep440Version {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn order_table() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0.0", Equal),
            ("1.0", "v1.0", Equal),
            ("1.0RC1", "1.0rc1", Equal),
            ("1.0c1", "1.0rc1", Equal),
            ("1.0-preview_2", "1.0rc2", Equal),
            ("1.0alpha", "1.0a0", Equal),
            ("1.0.beta.3", "1.0b3", Equal),
            ("1.0-1", "1.0.post1", Equal),
            ("1.0-r", "1.0.post0", Equal),
            ("1.0rev4", "1.0.post4", Equal),
            ("1.0.DEV", "1.0.dev0", Equal),
            ("0!1.0", "1.0", Equal),
            (" 1.0\n", "1.0", Equal),
            ("1.0+Ubuntu.1", "1.0+ubuntu-1", Equal),
            ("1.0.dev1", "1.0a1", Less),
            ("1.0a1.dev1", "1.0a1", Less),
            ("1.0a1", "1.0b1", Less),
            ("1.0rc1", "1.0", Less),
            ("1.0", "1.0.post1.dev1", Less),
            ("1.0.post1.dev1", "1.0.post1", Less),
            ("1.0", "1.0+local", Less),
            ("1.0+abc", "1.0+1", Less),
            ("1.0+1.abc", "1.0+1.1", Less),
            ("1.0+1", "1.0+1.0", Less),
            ("1.0+9", "1.0+10", Less),
            ("1!0.1", "2.0", Greater),
            ("1.9", "1.10", Less),
            ("1.0.0.0.1", "1.0", Greater),
            (
                "99999999999999999999999.1",
                "99999999999999999999999",
                Greater,
            ),
            ("1.0a2", "1.0a10", Less),
            ("2013.10", "2013.10.post1.dev0", Less),
            // Legacy versions sort before every PEP 440 version.
            ("1.0-foo", "0.0.1", Less),
            ("1.0-foo", "1.0-bar", Greater),
            ("french toast", "1.0", Less),
        ];
        for (a, b, expected) in cases {
            if a.contains(' ') && a.trim().contains(' ') {
                assert!(a.parse::<Pep440Version>().is_err(), "{a:?}");
                continue;
            }
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
            assert_eq!(v(a) == v(b), expected == Equal, "{a} == {b}");
        }
    }

    #[test]
    fn legacy_and_strict() {
        for legacy in ["1.0-foo", "0.9-doduo", "2.0.0.final", "1.0+", "1.0+a+b"] {
            assert!(v(legacy).is_legacy(), "{legacy}");
            assert!(Pep440Version::parse_strict(legacy).is_err(), "{legacy}");
        }
        for modern in ["1.0", "1.0.post1", "1!2.0rc3.post4.dev5+abc.6"] {
            assert!(!v(modern).is_legacy(), "{modern}");
            assert!(Pep440Version::parse_strict(modern).is_ok(), "{modern}");
        }
        for bad in ["", "   ", "...", "-", "1.0 beta", "1.0\u{0}"] {
            let err = bad.parse::<Pep440Version>().expect_err(bad);
            assert_eq!((err.scheme, err.value.as_str()), (Scheme::Pep440, bad));
        }
    }

    #[test]
    fn flags() {
        assert!(v("1.0.dev1").is_prerelease());
        assert!(v("1.0rc1").is_prerelease());
        assert!(!v("1.0.post1").is_prerelease());
        assert!(v("1.0+deb1").has_local());
    }
}
