//! Shared by the version fuzz targets: version strings come from package
//! databases and advisories, so parsing must never panic, a parsed version must
//! survive a Display round trip, and the order must be a total order. The input
//! is split at newlines into up to three versions so that order laws are
//! checked on related strings.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::fmt::{Debug, Display};
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use version::VersionError;

fn hash_of<V: Hash>(value: &V) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

pub fn check<V>(data: &[u8])
where
    V: FromStr<Err = VersionError> + Ord + Hash + Debug + Display,
{
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut versions: Vec<V> = Vec::new();
    for part in text.splitn(3, '\n') {
        match part.parse::<V>() {
            Ok(version) => {
                assert_eq!(version.to_string(), part, "Display must round-trip");
                versions.push(version);
            }
            Err(error) => assert_eq!(error.value, part, "the error names the value"),
        }
    }
    for a in &versions {
        assert_eq!(a.cmp(a), Ordering::Equal);
        for b in &versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "antisymmetry: {a:?} {b:?}");
            if a == b {
                assert_eq!(hash_of(a), hash_of(b), "equal must hash alike: {a:?} {b:?}");
            }
            for c in &versions {
                if a <= b && b <= c {
                    assert!(a <= c, "transitivity: {a:?} <= {b:?} <= {c:?}");
                }
                if a == b {
                    assert_eq!(a.cmp(c), b.cmp(c), "substitutable: {a:?} = {b:?} vs {c:?}");
                }
            }
        }
    }
}
