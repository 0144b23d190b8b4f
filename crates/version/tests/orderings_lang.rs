//! Every comparator agrees with the ecosystems' own tools on the real
//! orderings in `shared/vulndata/version-orderings` (lines `a < b`, `a > b`,
//! `a = b`; `//` and `#` comments; blank lines between groups).

// The skip notice and pair counts are the point of this test's output.
#![allow(clippy::print_stderr)]

use std::cmp::Ordering;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

use version::{GemVersion, MavenVersion, Pep440Version, SemverVersion};

fn orderings_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vulndata/version-orderings");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent; the real version orderings are not checked",
            dir.display()
        );
        None
    }
}

/// Checks every pair of `files` and returns how many were checked.
fn check_files<V>(files: &[&str]) -> usize
where
    V: FromStr + Ord + Display + std::hash::Hash,
    V::Err: Display,
{
    let Some(dir) = orderings_dir() else {
        return 0;
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in files {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is unreadable: {e}", path.display()));
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [left, op, right] = fields[..] else {
                panic!("{file}:{}: malformed line {line:?}", index + 1);
            };
            let expected = match op {
                "<" => Ordering::Less,
                ">" => Ordering::Greater,
                "=" => Ordering::Equal,
                _ => panic!("{file}:{}: unknown operator in {line:?}", index + 1),
            };
            checked += 1;
            let (a, b) = match (left.parse::<V>(), right.parse::<V>()) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    failures.push(format!("{file}:{}: {line}: {e}", index + 1));
                    continue;
                }
            };
            let (forward, backward) = (a.cmp(&b), b.cmp(&a));
            if forward != expected || backward != expected.reverse() {
                failures.push(format!(
                    "{file}:{}: {line}: got {left} {forward:?} {right}, {right} {backward:?} {left}",
                    index + 1
                ));
            }
            if expected == Ordering::Equal && hash(&a) != hash(&b) {
                failures.push(format!(
                    "{file}:{}: {line}: equal but hashes differ",
                    index + 1
                ));
            }
            if a.to_string() != left || b.to_string() != right {
                failures.push(format!(
                    "{file}:{}: {line}: Display does not round-trip",
                    index + 1
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} pairs disagree:\n{}",
        failures.len(),
        failures
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("{files:?}: {checked} pairs agree");
    checked
}

fn hash<V: std::hash::Hash>(value: &V) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // One fixed state per process, so equal values hash alike.
    thread_local!(static STATE: RandomState = RandomState::new());
    STATE.with(|state| state.hash_one(value))
}

#[test]
fn pep440_agrees_with_packaging() {
    let checked =
        check_files::<Pep440Version>(&["pypi-versions-generated.txt", "pypi-versions.txt"]);
    assert!(checked == 0 || checked > 12_000, "only {checked} pairs");
}

#[test]
fn semver_agrees_with_semver_precedence() {
    let checked = check_files::<SemverVersion>(&["semver-versions.txt"]);
    assert!(checked == 0 || checked > 80, "only {checked} pairs");
}

#[test]
fn maven_agrees_with_comparable_version() {
    let checked =
        check_files::<MavenVersion>(&["maven-versions-generated.txt", "maven-versions.txt"]);
    assert!(checked == 0 || checked > 14_000, "only {checked} pairs");
}

#[test]
fn rubygems_agrees_with_gem_version() {
    let checked =
        check_files::<GemVersion>(&["rubygems-versions-generated.txt", "rubygems-versions.txt"]);
    assert!(checked == 0 || checked > 4_000, "only {checked} pairs");
}
