//! What the writers share about findings: which inventory package a finding
//! is about, where a vulnerability ID is published, and the counts a summary
//! shows.

use std::collections::HashMap;

use model::{Finding, FixState, OsInfo, Package, PackageKind, PackageUrl, Severity};

/// A package as a finding names it. Findings carry no architecture, so on a
/// multi-arch system (`libc6:amd64` and `libc6:i386` in one dpkg database)
/// one key can name several packages: the writers then point at all of them
/// rather than guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PackageKey<'a> {
    kind: PackageKind,
    name: &'a str,
    version: &'a str,
    path: &'a str,
    layer_index: Option<u32>,
}

impl<'a> PackageKey<'a> {
    fn of_package(package: &'a Package) -> PackageKey<'a> {
        PackageKey {
            kind: package.kind,
            name: &package.name,
            version: &package.version,
            path: &package.evidence.path,
            layer_index: package.evidence.layer_index,
        }
    }

    fn of_finding(finding: &'a Finding) -> PackageKey<'a> {
        let package = &finding.package;
        PackageKey {
            kind: package.kind,
            name: &package.name,
            version: &package.installed_version,
            path: &package.path,
            layer_index: package.layer_index,
        }
    }
}

/// The inventory's packages, found from a finding.
pub(crate) struct PackageIndex<'a> {
    packages: Vec<&'a Package>,
    by_key: HashMap<PackageKey<'a>, Vec<usize>>,
}

impl<'a> PackageIndex<'a> {
    /// `packages` in the order positions refer to.
    pub(crate) fn new(packages: Vec<&'a Package>) -> PackageIndex<'a> {
        let mut by_key: HashMap<PackageKey<'a>, Vec<usize>> = HashMap::new();
        for (position, package) in packages.iter().enumerate() {
            by_key
                .entry(PackageKey::of_package(package))
                .or_default()
                .push(position);
        }
        PackageIndex { packages, by_key }
    }

    /// Positions of the packages `finding` is about, in `packages` order;
    /// empty when the finding comes from another inventory.
    pub(crate) fn positions<'s>(&'s self, finding: &'s Finding) -> &'s [usize] {
        let key = PackageKey::of_finding(finding);
        self.by_key.get(&key).map_or(&[], Vec::as_slice)
    }

    /// The finding's package URL, when the packages it may be about agree on one.
    pub(crate) fn purl(&self, finding: &Finding, os: Option<&OsInfo>) -> Option<String> {
        let mut purls = self
            .positions(finding)
            .iter()
            .filter_map(|&p| self.packages.get(p))
            .map(|p| PackageUrl::for_package(p, os).map(|purl| purl.to_string()));
        let first = purls.next()??;
        purls
            .all(|other| other.as_deref() == Some(first.as_str()))
            .then_some(first)
    }
}

/// Where a vulnerability ID is published, by its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdSource {
    pub name: &'static str,
    pub url: String,
}

/// The database that assigns IDs of this form and the ID's page there.
/// `None` for prefixes we do not know, and for IDs that would not make a
/// clean URL (IDs come from advisory data: never trusted to be well formed).
pub(crate) fn id_source(id: &str) -> Option<IdSource> {
    let clean = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !clean {
        return None;
    }
    let osv = |name| IdSource {
        name,
        url: format!("https://osv.dev/vulnerability/{id}"),
    };
    let (prefix, _) = id.split_once('-')?;
    Some(match prefix {
        "CVE" => IdSource {
            name: "NVD",
            url: format!("https://nvd.nist.gov/vuln/detail/{id}"),
        },
        "GHSA" => IdSource {
            name: "GitHub Advisory Database",
            url: format!("https://github.com/advisories/{id}"),
        },
        "GO" => IdSource {
            name: "Go Vulnerability Database",
            url: format!("https://pkg.go.dev/vuln/{id}"),
        },
        "RUSTSEC" => IdSource {
            name: "RustSec Advisory Database",
            url: format!("https://rustsec.org/advisories/{id}.html"),
        },
        "PYSEC" => osv("PyPA Advisory Database"),
        "DSA" | "DLA" | "DTSA" => IdSource {
            name: "Debian Security Tracker",
            url: format!("https://security-tracker.debian.org/tracker/{id}"),
        },
        "USN" => IdSource {
            name: "Ubuntu Security Notices",
            url: format!("https://ubuntu.com/security/notices/{id}"),
        },
        "RHSA" | "RHBA" | "RHEA" => IdSource {
            name: "Red Hat Product Security",
            url: format!("https://access.redhat.com/errata/{id}"),
        },
        "ALSA" => osv("AlmaLinux Security Advisories"),
        "RLSA" => osv("Rocky Linux Security Advisories"),
        "CGA" => osv("Chainguard Security Advisories"),
        "MAL" => osv("OpenSSF Malicious Packages"),
        "OSV" | "GSD" | "BIT" | "PSF" | "RSEC" => osv("OSV"),
        _ => return None,
    })
}

/// Whether `url` is a plain http(s) URL that every consumer accepts as a
/// URI (the schemas check `uri`/`iri-reference` formats): advisory
/// references are copied from feeds and may hold anything.
pub(crate) fn is_plain_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let bytes = url.as_bytes();
    let escapes_ok = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    !host.is_empty()
        && url.len() <= 2048
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
        && url.bytes().all(|b| {
            // RFC 3986 unreserved and reserved characters, less the IPv6 brackets.
            b.is_ascii_alphanumeric() || b"-._~:/?#@!$&'()*+,;=%".contains(&b)
        })
        && url.bytes().filter(|&b| b == b'#').count() <= 1
        && escapes_ok
}

pub(crate) fn fix_state_name(state: &FixState) -> &'static str {
    match state {
        FixState::Fixed => "fixed",
        FixState::NotFixed => "not-fixed",
        FixState::WontFix(_) => "wont-fix",
    }
}

/// Every severity, most severe first: the order summaries list them in.
pub(crate) const SEVERITIES: [Severity; 6] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Negligible,
    Severity::Unknown,
];

/// Counts over a list of findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub total: usize,
    /// Count per severity, in [`SEVERITIES`] order.
    pub by_severity: [usize; SEVERITIES.len()],
    pub fixed: usize,
    pub not_fixed: usize,
    pub wont_fix: usize,
}

pub(crate) fn summarise(findings: &[Finding]) -> Summary {
    let mut summary = Summary::default();
    for finding in findings {
        summary.total += 1;
        if let Some(slot) = SEVERITIES
            .iter()
            .position(|s| *s == finding.severity)
            .and_then(|i| summary.by_severity.get_mut(i))
        {
            *slot += 1;
        }
        match finding.state {
            FixState::Fixed => summary.fixed += 1,
            FixState::NotFixed => summary.not_fixed += 1,
            FixState::WontFix(_) => summary.wont_fix += 1,
        }
    }
    summary
}

/// The severity CVSS gives a base score (v3/v4 qualitative ratings; 0.0 is
/// "none"), in the words the formats share.
pub(crate) fn cvss_severity_word(score: f64) -> &'static str {
    if score <= 0.0 {
        "none"
    } else {
        Severity::from_cvss_score(score).as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_sources() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "CVE-2023-4863",
                Some(("NVD", "https://nvd.nist.gov/vuln/detail/CVE-2023-4863")),
            ),
            (
                "GHSA-jfh8-c2jp-5v3q",
                Some((
                    "GitHub Advisory Database",
                    "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q",
                )),
            ),
            (
                "GO-2023-2102",
                Some((
                    "Go Vulnerability Database",
                    "https://pkg.go.dev/vuln/GO-2023-2102",
                )),
            ),
            (
                "RUSTSEC-2021-0003",
                Some((
                    "RustSec Advisory Database",
                    "https://rustsec.org/advisories/RUSTSEC-2021-0003.html",
                )),
            ),
            (
                "PYSEC-2019-217",
                Some((
                    "PyPA Advisory Database",
                    "https://osv.dev/vulnerability/PYSEC-2019-217",
                )),
            ),
            (
                "DSA-5380-1",
                Some((
                    "Debian Security Tracker",
                    "https://security-tracker.debian.org/tracker/DSA-5380-1",
                )),
            ),
            (
                "DLA-3398-1",
                Some((
                    "Debian Security Tracker",
                    "https://security-tracker.debian.org/tracker/DLA-3398-1",
                )),
            ),
            (
                "ALSA-2024:1234",
                Some((
                    "AlmaLinux Security Advisories",
                    "https://osv.dev/vulnerability/ALSA-2024:1234",
                )),
            ),
            (
                "RHSA-2024:0010",
                Some((
                    "Red Hat Product Security",
                    "https://access.redhat.com/errata/RHSA-2024:0010",
                )),
            ),
            ("SNYK-PYTHON-X-1", None),
            ("CVE", None),
            ("", None),
            ("CVE-2023-1 /../x", None),
            ("CVE-2023-<script>", None),
        ];
        for (id, expected) in cases {
            let got = id_source(id);
            assert_eq!(
                got.as_ref().map(|s| (s.name, s.url.as_str())),
                *expected,
                "{id}"
            );
        }
    }

    #[test]
    fn plain_urls() {
        let cases = [
            ("https://example.com/a?b=c#d", true),
            ("http://example.com", true),
            ("https://example.com:8443/x", true),
            ("ftp://example.com/", false),
            ("https://", false),
            ("https:///path", false),
            ("https://exa mple.com/", false),
            ("https://example.com/a b", false),
            ("https://example.com/\u{1b}[31m", false),
            ("https://example.com/<x>", false),
            ("https://example.com/{x}", false),
            ("https://example.com/a%20b", true),
            ("https://example.com/a%2", false),
            ("https://example.com/a%zz", false),
            ("https://example.com/#a#b", false),
            ("https://example.com/[x]", false),
            ("https://ex\u{e4}mple.com/", false),
            ("javascript:alert(1)", false),
            ("", false),
        ];
        for (url, expected) in cases {
            assert_eq!(is_plain_url(url), expected, "{url:?}");
        }
    }

    #[test]
    fn cvss_severity_words() {
        let cases = [
            (0.0, "none"),
            (0.1, "low"),
            (3.9, "low"),
            (4.0, "medium"),
            (7.0, "high"),
            (9.0, "critical"),
            (10.0, "critical"),
        ];
        for (score, expected) in cases {
            assert_eq!(cvss_severity_word(score), expected, "{score}");
        }
    }
}
