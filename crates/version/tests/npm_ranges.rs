//! `NpmRange::contains` agrees with node-semver on a table of ranges ×
//! versions (`tests/data/npm-ranges.tsv`, computed once with node-semver's
//! `satisfies`).

use version::{NpmRange, NpmVersion};

#[test]
fn ranges_agree_with_node_semver() {
    let table = include_str!("data/npm-ranges.tsv");
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in table.lines().filter(|line| !line.starts_with('#')) {
        let [range, version, expected] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("malformed line {line:?}");
        };
        let expected: bool = expected.parse().expect("true or false");
        let range = NpmRange::parse(range).unwrap_or_else(|e| panic!("{e}"));
        let version: NpmVersion = version.parse().unwrap_or_else(|e| panic!("{e}"));
        checked += 1;
        if range.contains(&version) != expected {
            failures.push(format!("{range:?} contains {version}: expected {expected}"));
        }
    }
    assert!(checked > 1000, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} of {checked} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn malformed_ranges_are_errors() {
    for bad in [
        ">=",
        "^",
        "1.2.3.4",
        "a.b.c",
        ">=1.2.3 <",
        "1.2.3 - ",
        "~>",
        "!1.2.3",
        "1.2.3-",
        "01.2.3.x",
    ] {
        let err = NpmRange::parse(bad).expect_err(bad);
        assert_eq!(err.value, bad);
    }
}
