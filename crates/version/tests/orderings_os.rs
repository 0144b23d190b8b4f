//! Every comparator against the real orderings in
//! `shared/vulndata/version-orderings`: lines `a < b`, `a = b`, `a > b` in the
//! order each ecosystem's own tool gives (`#` starts a comment, blank lines
//! only separate groups). Skipped with a message when the data is absent.

// The pair counts and the skip notice are the point of this test's output.
#![allow(clippy::print_stderr)]

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::str::FromStr;

use version::{ApkVersion, DpkgVersion, RpmVersion, VersionError};

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vulndata/version-orderings");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent; the real version orderings were not checked",
            dir.display()
        );
        None
    }
}

struct Line {
    file: &'static str,
    number: usize,
    left: String,
    expected: Ordering,
    right: String,
}

fn read_lines(dir: &std::path::Path, file: &'static str) -> Vec<Line> {
    let text = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [left, op, right] = fields[..] else {
            panic!("{file}:{}: not `a OP b`: {raw:?}", index + 1);
        };
        let expected = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("{file}:{}: unknown operator {op:?}", index + 1),
        };
        lines.push(Line {
            file,
            number: index + 1,
            left: left.to_owned(),
            expected,
            right: right.to_owned(),
        });
    }
    assert!(!lines.is_empty(), "{file} has no comparisons");
    lines
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Checks every line; returns how many agreed and the versions the parser
/// rejected (each line with a rejected version is left out of the count).
fn check<V>(lines: &[Line]) -> (usize, BTreeSet<String>)
where
    V: FromStr<Err = VersionError> + Ord + Hash + Debug + ToString,
{
    let mut failures = Vec::new();
    let mut rejected = BTreeSet::new();
    let mut checked = 0;
    for line in lines {
        let (left, right) = match (line.left.parse::<V>(), line.right.parse::<V>()) {
            (Ok(left), Ok(right)) => (left, right),
            (left, right) => {
                for (text, result) in [(&line.left, left.err()), (&line.right, right.err())] {
                    if let Some(error) = result {
                        assert_eq!(&error.value, text, "error names the value");
                        rejected.insert(text.clone());
                    }
                }
                continue;
            }
        };
        assert_eq!(left.to_string(), line.left, "Display round-trips");
        let forward = left.cmp(&right);
        let backward = right.cmp(&left);
        if forward != line.expected || backward != line.expected.reverse() {
            failures.push(format!(
                "{}:{}: {} {:?} {} but got {forward:?} (reverse {backward:?})",
                line.file, line.number, line.left, line.expected, line.right
            ));
        }
        if line.expected == Ordering::Equal {
            assert_eq!(left, right, "{}:{}", line.file, line.number);
            assert_eq!(
                hash_of(&left),
                hash_of(&right),
                "{}:{}: equal versions hash alike",
                line.file,
                line.number
            );
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {} comparisons disagree:\n{}",
        failures.len(),
        lines.len(),
        failures.join("\n")
    );
    (checked, rejected)
}

#[test]
fn dpkg_agrees_with_dpkg() {
    let Some(dir) = data_dir() else { return };
    for file in ["debian-versions-generated.txt", "debian-versions.txt"] {
        let lines = read_lines(&dir, file);
        let (checked, rejected) = check::<DpkgVersion>(&lines);
        assert!(rejected.is_empty(), "{file}: rejected {rejected:?}");
        eprintln!("dpkg: {checked} pairs from {file} agree");
    }
}

#[test]
fn rpm_agrees_with_rpmvercmp() {
    let Some(dir) = data_dir() else { return };
    let lines = read_lines(&dir, "redhat-versions.txt");
    let (checked, rejected) = check::<RpmVersion>(&lines);
    assert!(rejected.is_empty(), "rejected {rejected:?}");
    eprintln!("rpm: {checked} pairs from redhat-versions.txt agree");
}

#[test]
fn apk_agrees_with_apk() {
    let Some(dir) = data_dir() else { return };
    let lines = read_lines(&dir, "alpine-versions-generated.txt");
    let (checked, rejected) = check::<ApkVersion>(&lines);
    assert!(rejected.is_empty(), "rejected {rejected:?}");
    eprintln!("apk: {checked} pairs from alpine-versions-generated.txt agree");

    // The hand-written list also records how lenient tools order strings apk
    // itself calls invalid (its own comments note apk 2 and 3 disagree on
    // them). We reject those with an error instead of guessing an order; the
    // exact set is pinned so that a parser change cannot widen it unnoticed.
    let lines = read_lines(&dir, "alpine-versions.txt");
    let (checked, rejected) = check::<ApkVersion>(&lines);
    let expected_rejected: BTreeSet<String> = APK_INVALID.iter().map(|s| s.to_string()).collect();
    assert_eq!(rejected, expected_rejected);
    let skipped = lines.len() - checked;
    eprintln!(
        "apk: {checked} pairs from alpine-versions.txt agree; {skipped} lines involve one of \
         {} versions apk's grammar rejects, and each is rejected with an error",
        rejected.len()
    );
}

/// Versions in `alpine-versions.txt` that are invalid under apk-tools'
/// grammar (`apk_version_validate`), with the rule each one breaks.
const APK_INVALID: &[&str] = &[
    // Must start with a digit.
    ".1",
    ".2",
    "a",
    "b",
    "c",
    // A '.' must be followed by digits.
    "0...1...0",
    "0...1...0.r1",
    "0...1...0.r2",
    "0...1...0r1",
    "0...1...0r2",
    "0...1...1",
    "0...8",
    "0..1..0",
    "0..1..1",
    "0..8",
    "0.8.21.r1",
    "0.8.21.r2",
    "0.r1",
    "10.2.22.r0",
    "10.2.24.r0",
    // `-` must start `-r<digits>`, and only once.
    "1--ruff1",
    "1-r",
    "1-r-0",
    "1-r-1",
    "1-r-2",
    "1-r0-1",
    "1-r0-2",
    "1-r0-ruff1",
    "1-r0-ruff2",
    "1-ruff",
    "1-ruff1",
    "1-ruff2",
    // One lowercase letter at most.
    "1.0bc",
    "1.2.0A",
    "1.2.0D",
    // Unknown suffixes.
    "1.2_blah",
    "1.2_csv2",
    "23_foo",
];
