#![no_main]
//! Parses up to three newline-separated strings as pep440 versions and checks
//! the order laws: Display round trip, antisymmetry, Eq/Ord agreement,
//! transitivity on triples.

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use version::Pep440Version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = text.splitn(3, '\n').collect();
    let mut versions: Vec<Pep440Version> = Vec::new();
    for part in &parts {
        if let Ok(version) = part.parse::<Pep440Version>() {
            assert_eq!(version.to_string(), *part, "Display must round-trip");
            versions.push(version);
        }
    }
    for a in &versions {
        for b in &versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "antisymmetry: {a} {b}");
            assert_eq!(a == b, a.cmp(b) == Ordering::Equal, "Eq vs Ord: {a} {b}");
        }
    }
    let checked: Vec<&Pep440Version> = versions.iter().collect();
    if let [a, b, c] = checked[..] {
        if a <= b && b <= c {
            assert!(a <= c, "transitivity: {a} {b} {c}");
        }
    }
});
