//! Turning the license strings packages declare into SPDX license
//! expressions, without ever emitting an invalid one.

/// Longest license string we try to interpret; anything longer is kept as
/// text only (it is a license body or garbage, not an identifier).
const MAX_EXPRESSION_LEN: usize = 256;

const SYNTAX_ONLY: spdx::ParseMode = spdx::ParseMode {
    allow_slash_as_or_operator: true,
    allow_imprecise_license_names: false,
    allow_postfix_plus_on_gpl: true,
    allow_deprecated: true,
    allow_unknown: false,
};

/// A license string as declared by a package, interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum License {
    /// One license of the SPDX license list (`MIT`).
    Id(String),
    /// A valid compound SPDX expression (`MIT OR Apache-2.0`).
    Expression(String),
    /// Anything else, as written (`Custom license`, `see LICENSE.txt`).
    Other(String),
}

impl License {
    pub(crate) fn parse(raw: &str) -> Option<License> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let Some(expression) = spdx_expression(raw).or_else(|| named_license(raw)) else {
            return Some(License::Other(raw.to_owned()));
        };
        Some(match spdx::license_id(&expression) {
            Some(id) if id.name == expression => License::Id(expression),
            _ => License::Expression(expression),
        })
    }
}

/// A valid SPDX expression for `raw`, as written or canonicalised
/// (`Apache 2.0` → `Apache-2.0`, `MIT/X11` → `MIT OR X11`).
fn spdx_expression(raw: &str) -> Option<String> {
    if raw.len() > MAX_EXPRESSION_LEN {
        return None;
    }
    // References to licenses defined elsewhere would dangle in our document:
    // the package's own text is all we have.
    if ["LicenseRef-", "DocumentRef-", "AdditionRef-"]
        .iter()
        .any(|r| raw.contains(r))
    {
        return None;
    }
    // Fix only the syntax (`/` for OR, lowercase operators, GNU `+`): the
    // crate's guesses from vague names ("BSD" → BSD-2-Clause) would declare a
    // license the package never named.
    if spdx::Expression::parse_mode(raw, SYNTAX_ONLY).is_err() {
        return None;
    }
    match spdx::Expression::canonicalize(raw) {
        // Canonical operators are uppercase, whatever the parser accepts.
        Ok(Some(canonical)) if spdx::Expression::parse(&canonical).is_ok() => Some(canonical),
        Ok(None) if spdx::Expression::parse(raw).is_ok() => Some(raw.to_owned()),
        _ => None,
    }
}

/// The SPDX id of a license written by name rather than id, where the name
/// is unambiguous: the license list's own full name (`MIT License`,
/// `Apache License 2.0`), or a Debian copyright-format short name for the
/// GNU licenses (`GPL-2+` → `GPL-2.0-or-later`, `LGPL-2.1` → `LGPL-2.1-only`).
fn named_license(raw: &str) -> Option<String> {
    if raw.len() > MAX_EXPRESSION_LEN {
        return None;
    }
    if let Some(license) = spdx::identifiers::LICENSES
        .iter()
        .filter(|l| l.full_name.eq_ignore_ascii_case(raw))
        .filter_map(|l| spdx::license_id(l.name))
        .find(|id| !id.is_deprecated())
    {
        return Some(license.name.to_owned());
    }
    debian_gnu_license(raw)
}

fn debian_gnu_license(raw: &str) -> Option<String> {
    let (family, version) = raw.split_once('-')?;
    if !matches!(family, "GPL" | "LGPL" | "AGPL" | "GFDL") {
        return None;
    }
    let (version, or_later) = match version.strip_suffix('+') {
        Some(v) => (v, true),
        None => (version, false),
    };
    let numeric = !version.is_empty()
        && version.split('.').count() <= 2
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric {
        return None;
    }
    let version = if version.contains('.') {
        version.to_owned()
    } else {
        format!("{version}.0")
    };
    let suffix = if or_later { "or-later" } else { "only" };
    let id = format!("{family}-{version}-{suffix}");
    spdx::license_id(&id).map(|_| id)
}

/// Characters allowed in an SPDX idstring (`LicenseRef-<idstring>`, `SPDXRef-<idstring>`).
pub(crate) fn spdx_idstring(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    // Collapse runs so ids stay readable.
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-');
    if out.is_empty() {
        "unnamed".to_owned()
    } else {
        out.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interprets_declared_licenses() {
        let id = |s: &str| Some(License::Id(s.to_owned()));
        let expr = |s: &str| Some(License::Expression(s.to_owned()));
        let other = |s: &str| Some(License::Other(s.to_owned()));
        let cases = [
            ("MIT", id("MIT")),
            ("  Apache-2.0 ", id("Apache-2.0")),
            ("MIT OR Apache-2.0", expr("MIT OR Apache-2.0")),
            (
                "Apache-2.0 WITH LLVM-exception",
                expr("Apache-2.0 WITH LLVM-exception"),
            ),
            ("MIT/Apache-2.0", expr("MIT OR Apache-2.0")),
            ("GPL-2.0+", id("GPL-2.0-or-later")),
            ("mit or apache-2.0", other("mit or apache-2.0")),
            ("MIT or Apache-2.0", expr("MIT OR Apache-2.0")),
            ("BSD", other("BSD")),
            ("apache 2.0", other("apache 2.0")),
            ("MIT License", id("MIT")),
            ("apache license 2.0", id("Apache-2.0")),
            ("GNU General Public License v2.0 only", id("GPL-2.0-only")),
            ("GPL-2+", id("GPL-2.0-or-later")),
            ("GPL-2", id("GPL-2.0-only")),
            ("LGPL-2.1", id("LGPL-2.1-only")),
            ("LGPL-2.1+", id("LGPL-2.1-or-later")),
            ("GFDL-1.3+", id("GFDL-1.3-or-later")),
            ("GPL-9+", other("GPL-9+")),
            ("GPL-2.x", other("GPL-2.x")),
            ("GPL-", other("GPL-")),
            ("Artistic", other("Artistic")),
            (
                "Custom: https://example.com/l",
                other("Custom: https://example.com/l"),
            ),
            ("LicenseRef-foo", other("LicenseRef-foo")),
            ("MIT AND", other("MIT AND")),
            ("(MIT", other("(MIT")),
            ("", None),
            ("   ", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(License::parse(raw), expected, "{raw:?}");
        }
        let long = "MIT OR ".repeat(100) + "MIT";
        assert_eq!(License::parse(&long), Some(License::Other(long.clone())));
    }

    #[test]
    fn idstrings() {
        let cases = [
            ("MIT License", "MIT-License"),
            ("a__b", "a-b"),
            ("--x--", "x"),
            ("é", "unnamed"),
            ("libc6@2.36", "libc6-2.36"),
        ];
        for (raw, expected) in cases {
            assert_eq!(spdx_idstring(raw), expected, "{raw:?}");
        }
    }
}
