//! Debian codenames → the ecosystem strings Shipshape matches dpkg packages by.

/// Codename → release number, as `/etc/debian_version` and OSV's `Debian:N`
/// ecosystems number them (3.0 and 3.1 are woody and sarge; from etch on the
/// major number alone names the release).
const CODENAMES: &[(&str, &str)] = &[
    ("woody", "3.0"),
    ("sarge", "3.1"),
    ("etch", "4"),
    ("lenny", "5"),
    ("squeeze", "6"),
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
    ("duke", "15"),
];

/// The ecosystem string for a Debian release codename.
///
/// `sid` becomes `Debian:unstable`: sid never gets a number, and an image built
/// on it has no `VERSION_ID` in os-release, so the matcher routes it by that
/// name. Codenames not known here (a future release, a suite such as
/// `experimental`) are kept as `Debian:<codename>` rather than dropped, so the
/// data is there once the table learns them; the import report counts them.
pub fn debian_ecosystem(codename: &str) -> String {
    let codename = codename.trim();
    let lower = codename.to_ascii_lowercase();
    // The tracker's lists sometimes name an LTS/ELTS suite (`squeeze-lts`); the
    // packages are the release's own.
    let base = lower
        .strip_suffix("-lts")
        .or_else(|| lower.strip_suffix("-security"))
        .unwrap_or(&lower);
    if base == "sid" || base == "unstable" {
        return "Debian:unstable".to_owned();
    }
    match CODENAMES.iter().find(|(name, _)| *name == base) {
        Some((_, number)) => format!("Debian:{number}"),
        None => format!("Debian:{codename}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codenames_map_to_release_numbers() {
        let table = [
            ("woody", "Debian:3.0"),
            ("sarge", "Debian:3.1"),
            ("etch", "Debian:4"),
            ("jessie", "Debian:8"),
            ("buster", "Debian:10"),
            ("bullseye", "Debian:11"),
            ("bookworm", "Debian:12"),
            ("trixie", "Debian:13"),
            ("forky", "Debian:14"),
            ("sid", "Debian:unstable"),
            ("squeeze-lts", "Debian:6"),
            ("Bookworm", "Debian:12"),
            ("experimental", "Debian:experimental"),
            ("", "Debian:"),
        ];
        for (codename, expected) in table {
            assert_eq!(debian_ecosystem(codename), expected, "{codename}");
        }
    }
}
