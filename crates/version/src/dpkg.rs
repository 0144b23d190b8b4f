//! Debian package versions, ordered exactly as `dpkg --compare-versions`
//! (Debian Policy §5.6.12): `[epoch:]upstream[-revision]`.
//!
//! Within upstream and revision, non-digit runs compare character by character
//! with `~` before the end of the string, the end before letters, and letters
//! before every other character; digit runs compare numerically. A missing
//! epoch is `0` and a missing revision equals `0`, so `1.0`, `0:1.0` and `1.0-0`
//! are one version — `Eq` and `Hash` follow that.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::{Scheme, VersionError};

/// Longest accepted version string. Real versions are far shorter; the cap
/// bounds work on hostile input and lets offsets fit in `u16`.
const MAX_LEN: usize = 1024;

/// dpkg rejects larger epochs (`epoch in version is too big`).
const MAX_EPOCH: u32 = i32::MAX as u32;

/// A parsed Debian version. Comparison works on the original string through
/// stored offsets, so it allocates nothing.
#[derive(Debug, Clone)]
pub struct DpkgVersion {
    original: Box<str>,
    epoch: u32,
    upstream_start: u16,
    upstream_end: u16,
    /// Start of the revision; equal to the string length when there is none.
    revision_start: u16,
}

impl DpkgVersion {
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn upstream(&self) -> &str {
        &self.original[usize::from(self.upstream_start)..usize::from(self.upstream_end)]
    }

    /// The Debian revision; empty when the version has none.
    pub fn revision(&self) -> &str {
        &self.original[usize::from(self.revision_start)..]
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }
}

impl FromStr for DpkgVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<DpkgVersion, VersionError> {
        let error = |reason: &str| VersionError::new(Scheme::Dpkg, value, reason);
        if value.is_empty() {
            return Err(error("version string is empty"));
        }
        if value.len() > MAX_LEN {
            return Err(error("version string is longer than 1024 bytes"));
        }
        if value.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(error("version string contains whitespace"));
        }

        let (epoch, upstream_start) = match value.find(':') {
            Some(colon) => {
                let digits = &value[..colon];
                if digits.is_empty() {
                    return Err(error("epoch in version is empty"));
                }
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(error("epoch in version is not a number"));
                }
                let epoch = digits
                    .parse::<u32>()
                    .ok()
                    .filter(|&e| e <= MAX_EPOCH)
                    .ok_or_else(|| error("epoch in version is too big"))?;
                if colon + 1 == value.len() {
                    return Err(error("nothing after colon in version number"));
                }
                (epoch, colon + 1)
            }
            None => (0, 0),
        };

        let rest = &value[upstream_start..];
        let (upstream_end, revision_start) = match rest.rfind('-') {
            Some(hyphen) => {
                if hyphen + 1 == rest.len() {
                    return Err(error("revision number is empty"));
                }
                (upstream_start + hyphen, upstream_start + hyphen + 1)
            }
            None => (value.len(), value.len()),
        };

        // Policy wants the upstream part to start with a digit, but dpkg only
        // warns and still orders such versions; refusing them would leave a
        // third-party package unmatched for no gain.
        let upstream = &value[upstream_start..upstream_end];
        if upstream.is_empty() {
            return Err(error("version number is empty"));
        }
        // Characters outside dpkg's set are refused rather than ordered: dpkg
        // itself only warns, but it weighs non-ASCII bytes through a signed
        // `char`, so its order for them differs between architectures.
        if let Some(bad) = upstream
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || ".-+~:".contains(c)))
        {
            return Err(error(&format!(
                "invalid character {bad:?} in version number"
            )));
        }
        if let Some(bad) = value[revision_start..]
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || ".+~".contains(c)))
        {
            return Err(error(&format!(
                "invalid character {bad:?} in revision number"
            )));
        }

        // The length cap above guarantees every offset fits.
        let offset = |n: usize| u16::try_from(n).map_err(|_| error("version string is too long"));
        Ok(DpkgVersion {
            original: value.into(),
            epoch,
            upstream_start: offset(upstream_start)?,
            upstream_end: offset(upstream_end)?,
            revision_start: offset(revision_start)?,
        })
    }
}

impl fmt::Display for DpkgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &DpkgVersion) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| verrevcmp(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl PartialOrd for DpkgVersion {
    fn partial_cmp(&self, other: &DpkgVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DpkgVersion {
    fn eq(&self, other: &DpkgVersion) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DpkgVersion {}

impl Hash for DpkgVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        hash_canonical(self.upstream().as_bytes(), state);
        hash_canonical(self.revision().as_bytes(), state);
    }
}

/// dpkg's weight of a character in a non-digit run. `None` is the end of the
/// string; digits weigh like the end because they close the run.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Hashes the form `verrevcmp` cannot tell apart: each non-digit run as is,
/// each digit run without leading zeros. A part made only of zeros equals
/// the empty part (`1.0-0` = `1.0`), so it hashes as nothing.
fn hash_canonical<H: Hasher>(part: &[u8], state: &mut H) {
    if part.iter().all(|&b| b == b'0') {
        0xffu8.hash(state);
        return;
    }
    let mut rest = part;
    while !rest.is_empty() {
        let text_len = rest.iter().take_while(|b| !b.is_ascii_digit()).count();
        let (text, after) = rest.split_at(text_len);
        let digits_len = after.iter().take_while(|b| b.is_ascii_digit()).count();
        let (digits, after) = after.split_at(digits_len);
        let significant = &digits[digits.iter().take_while(|&&b| b == b'0').count()..];
        text.hash(state);
        significant.hash(state);
        rest = after;
    }
    0xffu8.hash(state);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DpkgVersion {
        s.parse().unwrap()
    }

    #[test]
    fn tricky_pairs() {
        use Ordering::*;
        let table = [
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("1.0.", "1.0.0", Equal),
            ("1.0.", "1.0.1", Less),
            ("1.00", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0", "0:1.0-00", Equal),
            ("1:0.1", "2.0", Greater),
            ("2.0-1", "2.0-1ubuntu1", Less),
            ("2.0-1+deb12u1", "2.0-1ubuntu1", Greater),
            ("1.2-3-4", "1.2-3-5", Less),
            ("1:2:3-4", "1:2:3-5", Less),
            ("10", "9", Greater),
            ("1.18446744073709551617", "1.18446744073709551616", Greater),
            ("0001", "1", Equal),
            ("1a", "1A", Greater),
            ("1-a", "1-1", Greater),
            ("~1", "0", Less),
            ("a", "1", Greater),
            ("1:a", "1:+", Less),
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
            vec!["1.0", "0:1.0", "1.0-0", "00:1.0-000", "1.00"],
            vec!["1.0-a", "1.0-a0", "0:1.0-a00"],
        ];
        for group in groups {
            let set: HashSet<DpkgVersion> = group.iter().map(|s| v(s)).collect();
            assert_eq!(set.len(), 1, "{group:?}");
        }
    }

    #[test]
    fn accessors_and_display() {
        let version = v("2:1.2-3-4ubuntu1");
        assert_eq!(version.epoch(), 2);
        assert_eq!(version.upstream(), "1.2-3");
        assert_eq!(version.revision(), "4ubuntu1");
        assert_eq!(version.to_string(), "2:1.2-3-4ubuntu1");
        assert_eq!(v("1.0").revision(), "");
    }

    #[test]
    fn rejects_invalid() {
        let table = [
            ("", "empty"),
            (":1.0", "epoch in version is empty"),
            ("a:1.0", "not a number"),
            ("-1:1.0", "not a number"),
            ("2147483648:1.0", "too big"),
            ("1:", "nothing after colon"),
            ("1.0-", "revision number is empty"),
            ("-1", "version number is empty"),
            ("1.0_1", "invalid character '_' in version"),
            ("1:1.0-1:2", "invalid character ':' in revision"),
            ("1.0 ", "whitespace"),
            ("1.é", "invalid character"),
        ];
        for (input, reason) in table {
            let err = input.parse::<DpkgVersion>().unwrap_err();
            assert_eq!(err.scheme, Scheme::Dpkg);
            assert_eq!(err.value, input);
            assert!(err.reason.contains(reason), "{input:?}: {err}");
        }
        let long = format!("1.{}", "0".repeat(MAX_LEN));
        assert!(long.parse::<DpkgVersion>().is_err());
    }
}
