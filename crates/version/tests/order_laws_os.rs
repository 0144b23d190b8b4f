//! Order laws for every scheme on generated versions: the strategies use
//! small alphabets so that equal and nearly equal versions are common, which
//! is where a comparator that is not a total order shows itself.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use proptest::prelude::*;
use version::{ApkVersion, DpkgVersion, RpmVersion, VersionError};

const DPKG: &str = "(0?[0-2]:)?[0-2a~][0-2a~.+]{0,6}(-[0-2a~.+]{1,4})?";
const RPM: &str = "([0-2]{0,2}:)?[0-2ab.~^_]{1,6}(-[0-2ab.~^]{0,4})?";
const APK: &str = "0?[0-2](\\.0?[0-2]){0,2}[ab]?[0-2]?(_(alpha|rc|p|git)[0-2]?){0,2}(~[0-9a-f]{1,2})?(-r0?[0-2])?";

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fn parse<V: FromStr<Err = VersionError>>(s: &str) -> V {
    match s.parse() {
        Ok(v) => v,
        Err(e) => panic!("generated version {s:?} must parse: {e}"),
    }
}

fn check_laws<V>(a: &str, b: &str, c: &str)
where
    V: FromStr<Err = VersionError> + Ord + Hash + Debug + ToString,
{
    let (a, b, c): (V, V, V) = (parse(a), parse(b), parse(c));
    for (x, y) in [(&a, &b), (&b, &c), (&a, &c)] {
        assert_eq!(x.cmp(y), y.cmp(x).reverse(), "antisymmetry: {x:?} {y:?}");
        if x == y {
            assert_eq!(hash_of(x), hash_of(y), "equal must hash alike: {x:?} {y:?}");
        }
    }
    assert_eq!(a.cmp(&a), Ordering::Equal);
    let all = [&a, &b, &c];
    for (i, j, k) in [
        (0, 1, 2),
        (0, 2, 1),
        (1, 0, 2),
        (1, 2, 0),
        (2, 0, 1),
        (2, 1, 0),
    ] {
        let (x, y, z) = (all[i], all[j], all[k]);
        if x <= y && y <= z {
            assert!(x <= z, "transitivity: {x:?} <= {y:?} <= {z:?}");
        }
    }
    // Equality is substitutable: equal versions order alike against a third.
    if a == b {
        assert_eq!(a.cmp(&c), b.cmp(&c), "{a:?} = {b:?} against {c:?}");
    }
    assert_eq!(a.to_string().parse::<V>().map(|v| v == a), Ok(true));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn dpkg_is_a_total_order(a in DPKG, b in DPKG, c in DPKG) {
        check_laws::<DpkgVersion>(&a, &b, &c);
    }

    #[test]
    fn rpm_is_a_total_order(a in RPM, b in RPM, c in RPM) {
        check_laws::<RpmVersion>(&a, &b, &c);
    }

    #[test]
    fn apk_is_a_total_order(a in APK, b in APK, c in APK) {
        check_laws::<ApkVersion>(&a, &b, &c);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        for result in [
            s.parse::<DpkgVersion>().map(|v| v.to_string()),
            s.parse::<RpmVersion>().map(|v| v.to_string()),
            s.parse::<ApkVersion>().map(|v| v.to_string()),
        ] {
            match result {
                Ok(shown) => prop_assert_eq!(&shown, &s),
                Err(error) => prop_assert_eq!(&error.value, &s),
            }
        }
    }
}
