//! Property tests: every scheme's order is a total order consistent with Eq,
//! Hash and Display, on generated version strings shaped like real ones.

use std::cmp::Ordering;
use std::fmt::Display;
use std::hash::{BuildHasher, Hash, RandomState};
use std::str::FromStr;

use proptest::prelude::*;
use version::{GemVersion, GoVersion, MavenVersion, NpmVersion, Pep440Version, SemverVersion};

fn check_laws<V>(a: &str, b: &str, c: &str) -> Result<(), TestCaseError>
where
    V: FromStr + Ord + Hash + Display,
{
    let parse = |text: &str| text.parse::<V>().ok();
    let (Some(x), Some(y), Some(z)) = (parse(a), parse(b), parse(c)) else {
        // Generated strings are mostly valid; the invalid ones must only fail cleanly.
        return Ok(());
    };
    let state = RandomState::new();
    for (value, text) in [(&x, a), (&y, b), (&z, c)] {
        prop_assert_eq!(value.to_string(), text);
        prop_assert_eq!(value.cmp(value), Ordering::Equal);
    }
    for (p, q) in [(&x, &y), (&y, &z), (&x, &z)] {
        prop_assert_eq!(p.cmp(q), q.cmp(p).reverse(), "antisymmetry");
        prop_assert_eq!(p == q, p.cmp(q) == Ordering::Equal, "Eq agrees with Ord");
        if p == q {
            prop_assert_eq!(state.hash_one(p), state.hash_one(q), "Hash agrees with Eq");
        }
    }
    let mut sorted = [&x, &y, &z];
    sorted.sort();
    prop_assert!(sorted[0] <= sorted[2], "transitivity");
    if x.cmp(&y) == Ordering::Equal {
        prop_assert_eq!(x.cmp(&z), y.cmp(&z), "equal values compare alike");
    }
    Ok(())
}

const PEP440: &str = "v?([0-9]!)?[0-9]{1,3}(\\.[0-9]{1,2}){0,3}([-_.]?(a|b|rc|alpha|c|pre)[0-9]?)?(\\.post[0-9]?|-[0-9])?(\\.dev[0-9]?)?(\\+[a-z0-9]{1,3}([._-][a-z0-9]{1,2})?)?|[0-9a-z.-]{1,8}";
const SEMVER: &str = "v?[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-[0-9a-zA-Z-]{1,3}(\\.[0-9a-zA-Z]{1,3}){0,2})?(\\+[a-z0-9]{1,3})?";
const GO: &str = "v[1-9]?[0-9](\\.[1-9]?[0-9](\\.[1-9]?[0-9](-(alpha|beta|rc|0|[1-9])(\\.(0|[1-9][0-9]?|x|20191109021931-daa7c04131f5)){0,2})?(\\+incompatible)?)?)?";
const NPM: &str = "[v=]?[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-?[a-z][a-z0-9]{0,2}(\\.[0-9a-z]{1,2}){0,2}|-[0-9]{1,2})?(\\+b[0-9])?";
// Maven's comparator is not transitive when zeros or `.qualifiers` meet
// `-sub-lists` (see `version::maven`), so generate the shapes where it is:
// non-zero numbers, then at most one `-qualifier[-number]` suffix.
const MAVEN: &str = "[1-9][0-9]?(\\.[1-9][0-9]?){0,3}(-(alpha|beta|m|cr|rc|sp|ga|final|release|snapshot|[a-z]{1,3})(-?[1-9])?)?";
const GEM: &str =
    "[0-9]{1,2}(\\.([0-9]{1,2}|[a-cA]{1,2}|0)){0,4}(-[a-z0-9]{1,2}(\\.[0-9a-z]{1,2})?)?";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn pep440_is_a_total_order(a in PEP440, b in PEP440, c in PEP440) {
        check_laws::<Pep440Version>(&a, &b, &c)?;
    }

    #[test]
    fn semver_is_a_total_order(a in SEMVER, b in SEMVER, c in SEMVER) {
        check_laws::<SemverVersion>(&a, &b, &c)?;
    }

    #[test]
    fn go_is_a_total_order(a in GO, b in GO, c in GO) {
        check_laws::<GoVersion>(&a, &b, &c)?;
    }

    #[test]
    fn npm_is_a_total_order(a in NPM, b in NPM, c in NPM) {
        check_laws::<NpmVersion>(&a, &b, &c)?;
    }

    #[test]
    fn maven_is_a_total_order(a in MAVEN, b in MAVEN, c in MAVEN) {
        check_laws::<MavenVersion>(&a, &b, &c)?;
    }

    #[test]
    fn rubygems_is_a_total_order(a in GEM, b in GEM, c in GEM) {
        check_laws::<GemVersion>(&a, &b, &c)?;
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,40}") {
        let _ = text.parse::<Pep440Version>();
        let _ = text.parse::<SemverVersion>();
        let _ = text.parse::<GoVersion>();
        let _ = GoVersion::toolchain(&text);
        let _ = text.parse::<NpmVersion>();
        let _ = version::NpmRange::parse(&text);
        let _ = text.parse::<MavenVersion>();
        let _ = text.parse::<GemVersion>();
        let _ = version::GemRequirement::parse(&text);
    }
}
