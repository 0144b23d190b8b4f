//! dpkg version strings come from package databases and advisories: parsing
//! must never panic, a parsed version must survive a Display round trip, and
//! the order must be a total order. The input is split at newlines into up to
//! three versions so that order laws are checked on related strings.
#![no_main]

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use libfuzzer_sys::fuzz_target;
use version::DpkgVersion;

fn hash_of(value: &DpkgVersion) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut versions = Vec::new();
    for part in text.splitn(3, '\n') {
        match part.parse::<DpkgVersion>() {
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
});
