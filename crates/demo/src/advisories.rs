//! The demo's advisory set: a few dozen records written for the demo in the
//! upstream formats `db import` reads (Debian tracker JSON, Alpine secdb JSON,
//! OSV JSON for PyPI / npm / RubyGems, an NVD API page for the CVSS vectors of
//! the distro CVEs, CISA KEV, EPSS). The facts (IDs, fixed versions, CVSS
//! vectors) are the real ones for the package versions in the demo images.
//! Compiled into the binary, so the demo works from any directory, offline.

/// (file name, contents)
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "debian-tracker.json",
        include_str!("../data/debian-tracker.json"),
    ),
    (
        "alpine-secdb-v3.19-main.json",
        include_str!("../data/alpine-secdb-v3.19-main.json"),
    ),
    ("osv-pypi.json", include_str!("../data/osv-pypi.json")),
    ("osv-npm.json", include_str!("../data/osv-npm.json")),
    (
        "osv-rubygems.json",
        include_str!("../data/osv-rubygems.json"),
    ),
    ("nvd-cves.json", include_str!("../data/nvd-cves.json")),
    ("kev.json", include_str!("../data/kev.json")),
    ("epss.csv", include_str!("../data/epss.csv")),
];
