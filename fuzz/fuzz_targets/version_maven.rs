#![no_main]
//! Parses up to three newline-separated strings as maven versions and checks
//! the order laws: Display round trip, antisymmetry, Eq/Ord agreement,
//! transitivity on triples of ordinary versions (Maven's comparator cycles on
//! odd shapes; see `version::maven`).

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use version::MavenVersion;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = text.splitn(3, '\n').collect();
    let mut versions: Vec<MavenVersion> = Vec::new();
    for part in &parts {
        if let Ok(version) = part.parse::<MavenVersion>() {
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
    let ordinary = |v: &&MavenVersion| {
        let text = v.to_string();
        !text.contains(".0")
            && !text.starts_with(|c: char| !c.is_ascii_digit())
            && text.matches(|c: char| c == '-').count() <= 1
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b.is_ascii_lowercase())
            && text
                .split('-')
                .next()
                .is_some_and(|head| head.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    };
    let checked: Vec<&MavenVersion> = versions.iter().filter(ordinary).collect();
    if let [a, b, c] = checked[..] {
        if a <= b && b <= c {
            assert!(a <= c, "transitivity: {a} {b} {c}");
        }
    }
});
