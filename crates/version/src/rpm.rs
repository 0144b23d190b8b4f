//! RPM versions, `[epoch:]version[-release]`, ordered like rpm: epochs
//! numerically (missing = 0), then version and release with `rpmvercmp`.
//!
//! `rpmvercmp` splits a string into alphabetic and numeric segments; every
//! other character only separates segments. Numeric segments beat alphabetic
//! ones and compare by value; alphabetic ones compare bytewise. `~` sorts
//! before everything, even the end of the string (pre-releases: `1.0~rc1` <
//! `1.0`); `^` sorts after the end but before any segment (snapshots after a
//! release: `1.0` < `1.0^git1` < `1.0.1`).
//!
//! rpm itself skips the release when only one side has one. A total order
//! cannot have such a wildcard, so a version without release sorts before
//! the same version with any release (`1` < `1-` < `1-0`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::{Scheme, VersionError};

/// Longest accepted version string; bounds work on hostile input and lets
/// offsets fit in `u16`.
const MAX_LEN: usize = 1024;

/// A parsed RPM EVR. Comparison walks the original string through stored
/// offsets, so it allocates nothing.
#[derive(Debug, Clone)]
pub struct RpmVersion {
    original: Box<str>,
    /// Epoch digits (possibly empty, which means 0) before the first `:`.
    epoch_end: Option<u16>,
    version_start: u16,
    version_end: u16,
    /// Start of the release; `None` when there is no `-`.
    release_start: Option<u16>,
}

impl RpmVersion {
    /// Builds a version from the separate fields of an rpm header or
    /// advisory. `None` epoch means "no epoch" (which orders as 0).
    pub fn from_evr(
        epoch: Option<u64>,
        version: &str,
        release: Option<&str>,
    ) -> Result<RpmVersion, VersionError> {
        let mut text = String::new();
        if let Some(epoch) = epoch {
            text.push_str(&epoch.to_string());
            text.push(':');
        }
        text.push_str(version);
        if let Some(release) = release {
            text.push('-');
            text.push_str(release);
        }
        let parsed: RpmVersion = text.parse()?;
        // A `-` in the release or an epoch-like prefix in the version would
        // make the joined string split differently than the fields given.
        if parsed.version() != version || parsed.release() != release {
            return Err(VersionError::new(
                Scheme::Rpm,
                &text,
                "version contains an epoch-like prefix or release contains '-'",
            ));
        }
        Ok(parsed)
    }

    /// The epoch digits as written; `None` when there is no epoch.
    pub fn epoch(&self) -> Option<&str> {
        self.epoch_end.map(|end| &self.original[..usize::from(end)])
    }

    pub fn version(&self) -> &str {
        &self.original[usize::from(self.version_start)..usize::from(self.version_end)]
    }

    pub fn release(&self) -> Option<&str> {
        self.release_start
            .map(|start| &self.original[usize::from(start)..])
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }

    fn epoch_digits(&self) -> &[u8] {
        self.epoch().map_or(b"", str::as_bytes)
    }
}

impl FromStr for RpmVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<RpmVersion, VersionError> {
        let error = |reason: &str| VersionError::new(Scheme::Rpm, value, reason);
        if value.is_empty() {
            return Err(error("version string is empty"));
        }
        if value.len() > MAX_LEN {
            return Err(error("version string is longer than 1024 bytes"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error(
                "version string contains whitespace or control characters",
            ));
        }
        // Like rpm's parseEVR: an epoch is a run of digits ended by `:`;
        // `a:1` or `1.m:1` have no epoch, the colon is part of the version.
        let digits = value.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch_end, version_start) = if value.as_bytes().get(digits) == Some(&b':') {
            (Some(digits), digits + 1)
        } else {
            (None, 0)
        };
        let (version_end, release_start) = match value[version_start..].rfind('-') {
            Some(hyphen) => (version_start + hyphen, Some(version_start + hyphen + 1)),
            None => (value.len(), None),
        };
        if version_start == version_end {
            return Err(error("version part is empty"));
        }
        let offset = |n: usize| u16::try_from(n).map_err(|_| error("version string is too long"));
        Ok(RpmVersion {
            original: value.into(),
            epoch_end: epoch_end.map(offset).transpose()?,
            version_start: offset(version_start)?,
            version_end: offset(version_end)?,
            release_start: release_start.map(offset).transpose()?,
        })
    }
}

impl fmt::Display for RpmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Ord for RpmVersion {
    fn cmp(&self, other: &RpmVersion) -> Ordering {
        cmp_number(self.epoch_digits(), other.epoch_digits())
            .then_with(|| rpmvercmp(self.version().as_bytes(), other.version().as_bytes()))
            .then_with(|| match (self.release(), other.release()) {
                (Some(a), Some(b)) => rpmvercmp(a.as_bytes(), b.as_bytes()),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

impl PartialOrd for RpmVersion {
    fn partial_cmp(&self, other: &RpmVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RpmVersion {
    fn eq(&self, other: &RpmVersion) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RpmVersion {}

impl Hash for RpmVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        strip_zeros(self.epoch_digits()).hash(state);
        for segment in Segments::new(self.version().as_bytes()) {
            segment.hash(state);
        }
        match self.release() {
            None => 0u8.hash(state),
            Some(release) => {
                1u8.hash(state);
                for segment in Segments::new(release.as_bytes()) {
                    segment.hash(state);
                }
            }
        }
    }
}

/// One unit of `rpmvercmp`. The variant order is the sort order; the end of
/// the string is a segment too, so comparison is plain lexicographic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Segment<'a> {
    Tilde,
    End,
    Caret,
    Alpha(&'a [u8]),
    /// Digits without leading zeros; ordered by `cmp_number` below.
    Number(&'a [u8]),
}

fn cmp_segment(a: Segment<'_>, b: Segment<'_>) -> Ordering {
    match (a, b) {
        (Segment::Number(x), Segment::Number(y)) => x.len().cmp(&y.len()).then(x.cmp(y)),
        _ => a.cmp(&b),
    }
}

/// Yields the segments of a string, ending with one `End`.
struct Segments<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Segments<'a> {
    fn new(s: &'a [u8]) -> Segments<'a> {
        Segments {
            rest: s,
            done: false,
        }
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        if self.done {
            return None;
        }
        let skip = self
            .rest
            .iter()
            .take_while(|&&b| !(b.is_ascii_alphanumeric() || b == b'~' || b == b'^'))
            .count();
        self.rest = &self.rest[skip..];
        let Some(&first) = self.rest.first() else {
            self.done = true;
            return Some(Segment::End);
        };
        let (len, segment) = match first {
            b'~' => (1, Segment::Tilde),
            b'^' => (1, Segment::Caret),
            b if b.is_ascii_digit() => {
                let len = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
                (len, Segment::Number(strip_zeros(&self.rest[..len])))
            }
            _ => {
                let len = self
                    .rest
                    .iter()
                    .take_while(|b| b.is_ascii_alphabetic())
                    .count();
                (len, Segment::Alpha(&self.rest[..len]))
            }
        };
        self.rest = &self.rest[len..];
        Some(segment)
    }
}

/// rpm's `rpmvercmp`, as a lexicographic comparison of segments.
fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    for (x, y) in Segments::new(a).zip(Segments::new(b)) {
        match cmp_segment(x, y) {
            Ordering::Equal if x == Segment::End => return Ordering::Equal,
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    Ordering::Equal
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

    fn v(s: &str) -> RpmVersion {
        s.parse().unwrap()
    }

    #[test]
    fn tricky_pairs() {
        use Ordering::*;
        let table = [
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc1~pre", Greater),
            ("1.0", "1.0^", Less),
            ("1.0^", "1.0^1", Less),
            ("1.0^1", "1.0.1", Less),
            ("1.0^1", "1.0a", Less),
            ("1.0a", "1.0.1", Less),
            ("1.0", "1.0a", Less),
            ("1a", "1.a", Equal),
            ("1.0-1", "1.0-1.el9", Less),
            ("1.0-1.el9", "1.0-1.el9_2", Less),
            ("1.0-1.el9_2", "1.0-2.el9", Less),
            ("2:1.0", "1:9.9", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("007:1", "7:1", Equal),
            (
                "99999999999999999999999:1",
                "99999999999999999999998:1",
                Greater,
            ),
            ("1.0", "1.0-0", Less),
            ("1.001", "1.1", Equal),
            ("1.10", "1.9", Greater),
            ("1.a", "1.B", Greater),
            ("2.0.1", "2.0.1a", Less),
            ("1.0.0", "1.0..0", Equal),
            ("a:1", "1", Less),
        ];
        for (a, b, expected) in table {
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn equal_versions_hash_alike() {
        use std::collections::HashSet;
        let groups = [
            vec!["1.0-1", "0:1.0-1", "1.00-01", "1_0-1.", "00:1..0-1"],
            vec!["1.0", "1.0.", "0:1_0"],
        ];
        for group in groups {
            let set: HashSet<RpmVersion> = group.iter().map(|s| v(s)).collect();
            assert_eq!(set.len(), 1, "{group:?}");
        }
    }

    #[test]
    fn evr_fields() {
        let table: [(&str, Option<&str>, &str, Option<&str>); 6] = [
            ("1:2.3-4.el9", Some("1"), "2.3", Some("4.el9")),
            ("2.3", None, "2.3", None),
            (":2.3-4", Some(""), "2.3", Some("4")),
            ("a:1-2", None, "a:1", Some("2")),
            ("1.2-3-4", None, "1.2-3", Some("4")),
            ("1-", None, "1", Some("")),
        ];
        for (input, epoch, version, release) in table {
            let parsed = v(input);
            assert_eq!(
                (parsed.epoch(), parsed.version(), parsed.release()),
                (epoch, version, release),
                "{input}"
            );
            assert_eq!(parsed.to_string(), input);
        }
    }

    #[test]
    fn from_evr() {
        let built = RpmVersion::from_evr(Some(1), "2.3", Some("4.el9")).unwrap();
        assert_eq!(built.to_string(), "1:2.3-4.el9");
        assert_eq!(built, v("1:2.3-4.el9"));
        let no_epoch = RpmVersion::from_evr(None, "2.3", Some("4")).unwrap();
        assert_eq!(no_epoch.to_string(), "2.3-4");
        assert_eq!(no_epoch, built.clone().min(no_epoch.clone()));
        for (epoch, version, release) in [
            (None, "2.3", Some("4-5")),
            (None, "1:2", Some("4")),
            (Some(1), "", Some("4")),
            (None, "1 2", None),
        ] {
            let err = RpmVersion::from_evr(epoch, version, release).unwrap_err();
            assert_eq!(err.scheme, Scheme::Rpm);
        }
    }

    #[test]
    fn rejects_invalid() {
        let table = [
            ("", "empty"),
            ("1:", "version part is empty"),
            ("-1", "version part is empty"),
            ("1:-1", "version part is empty"),
            ("1.0 1", "whitespace"),
            ("1.0\u{0}", "control"),
        ];
        for (input, reason) in table {
            let err = input.parse::<RpmVersion>().unwrap_err();
            assert_eq!(err.scheme, Scheme::Rpm);
            assert_eq!(err.value, input);
            assert!(err.reason.contains(reason), "{input:?}: {err}");
        }
        assert!("1".repeat(MAX_LEN + 1).parse::<RpmVersion>().is_err());
    }
}
