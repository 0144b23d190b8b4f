//! Whether one installed version is affected by one `AffectedPackage`, as
//! `shared/vulndata/README.md` "How OSV ranges are evaluated" defines it.

use std::cmp::Ordering;

use model::{AffectedPackage, AffectedRange, RangeEvent, RangeKind, RequirementKind};
use version::VersionError;

use crate::scheme::VersionScheme;

/// Why an installed version is affected, and what fixes it.
#[derive(Debug)]
pub(crate) struct Verdict<V> {
    /// The range, listed version or rule that matched, as text.
    pub rule: String,
    /// Every fixed version the entry names, as written, with its parsed form.
    pub fixed: Vec<(String, V)>,
}

/// Evaluates `affected` for `installed`. `Ok(None)`: not affected.
/// An advisory version that does not parse is an error: the caller reports
/// it and skips the entry rather than call the package unaffected.
pub(crate) fn evaluate<S: VersionScheme>(
    installed: &S::Version,
    installed_text: &str,
    affected: &AffectedPackage,
) -> Result<Option<Verdict<S::Version>>, VersionError> {
    let mut rule = None;
    for listed in &affected.versions {
        // Parsing every listed version (PyPI lists hold hundreds) dominates
        // matching time; versions whose leading numbers differ cannot be equal.
        if listed == installed_text
            || (may_be_equal(listed, installed_text, S::DOTTED_RELEASE)
                && S::parse_advisory(listed)?.cmp(installed) == Ordering::Equal)
        {
            rule = Some(format!("version {listed} listed as affected"));
            break;
        }
    }
    for range in &affected.ranges {
        if range.kind == RangeKind::Git {
            continue;
        }
        let hit = if S::SORTABLE {
            in_range_sorted::<S>(installed, range)?
        } else {
            in_range_paired::<S>(installed, range)?
        };
        if hit && rule.is_none() {
            rule = Some(describe_range(range));
        }
    }
    // Distro triage without ranges (an open or ignored CVE): every version
    // of the release is affected.
    if rule.is_none()
        && affected.ranges.is_empty()
        && affected.versions.is_empty()
        && affected.unaffected_requirements.is_empty()
        && matches!(
            affected.distro_status,
            Some(
                model::DistroStatus::NotFixed
                    | model::DistroStatus::WontFix(_)
                    | model::DistroStatus::Undetermined
            )
        )
    {
        rule = Some("distro status without version range: all versions".to_owned());
    }
    // RubySec-style entries: a range from 0 with the patched and unaffected
    // versions carved out by requirement strings.
    for requirement in &affected.unaffected_requirements {
        match S::satisfies(&requirement.requirement, installed) {
            Some(result) => {
                if result? {
                    return Ok(None);
                }
            }
            None => {
                return Err(VersionError::new(
                    S::SCHEME,
                    &requirement.requirement,
                    "requirement strings are not supported in this ecosystem",
                ));
            }
        }
    }
    let Some(mut rule) = rule else {
        return Ok(None);
    };
    let mut fixed = Vec::new();
    for range in &affected.ranges {
        if range.kind == RangeKind::Git {
            continue;
        }
        for event in &range.events {
            if let RangeEvent::Fixed(text) = event {
                fixed.push((text.clone(), S::parse_advisory(text)?));
            }
        }
    }
    let mut patched = Vec::new();
    for requirement in &affected.unaffected_requirements {
        if requirement.kind == RequirementKind::Patched {
            patched.push(requirement.requirement.as_str());
            for floor in S::requirement_floors(&requirement.requirement) {
                let parsed = S::parse_advisory(&floor)?;
                fixed.push((floor, parsed));
            }
        }
    }
    if !patched.is_empty() {
        rule.push_str(&format!("; not patched ({})", patched.join(" | ")));
    }
    Ok(Some(Verdict { rule, fixed }))
}

/// Whether two versions can be equal, judged from their leading numeric
/// release (`v`/`=` prefixes and zero epochs dropped, leading zeros and
/// trailing `.0` groups ignored). `full`: compare every release group (PEP
/// 440, where the release is dot-separated numbers); otherwise only the
/// first, since some orders (rpm) treat any separator alike.
fn may_be_equal(a: &str, b: &str, full: bool) -> bool {
    let mut x = release_groups(a);
    let mut y = release_groups(b);
    if !full {
        return x.next().unwrap_or("0") == y.next().unwrap_or("0");
    }
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (p, q) => {
                if p.unwrap_or("0") != q.unwrap_or("0") {
                    return false;
                }
            }
        }
    }
}

fn release_groups(version: &str) -> impl Iterator<Item = &str> {
    let mut rest = version.trim().trim_start_matches(['v', 'V', '=']);
    if let Some(position) = rest.find([':', '!'])
        && rest[..position].bytes().all(|b| b == b'0')
    {
        rest = &rest[position + 1..];
    }
    let end = rest
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(rest.len());
    rest[..end].split('.').filter(|g| !g.is_empty()).map(|g| {
        let trimmed = g.trim_start_matches('0');
        if trimmed.is_empty() { "0" } else { trimmed }
    })
}

/// Sorted walk: the last event at or below the installed version decides.
fn in_range_sorted<S: VersionScheme>(
    installed: &S::Version,
    range: &AffectedRange,
) -> Result<bool, VersionError> {
    // `None` = introduced "0", below every version.
    let mut events: Vec<(&RangeEvent, Option<S::Version>)> = Vec::with_capacity(range.events.len());
    for event in &range.events {
        let parsed = match event {
            RangeEvent::Introduced(v) if v == "0" => None,
            RangeEvent::Introduced(v)
            | RangeEvent::Fixed(v)
            | RangeEvent::LastAffected(v)
            | RangeEvent::Limit(v) => Some(S::parse_advisory(v)?),
        };
        events.push((event, parsed));
    }
    events.sort_by(|a, b| a.1.cmp(&b.1));
    let mut affected = false;
    for (event, version) in &events {
        let Some(version) = version else {
            affected = true;
            continue;
        };
        match event {
            RangeEvent::Introduced(_) => {
                if installed >= version {
                    affected = true;
                } else {
                    break;
                }
            }
            RangeEvent::Fixed(_) => {
                if installed >= version {
                    affected = false;
                } else {
                    break;
                }
            }
            RangeEvent::LastAffected(_) => {
                if installed > version {
                    affected = false;
                } else {
                    break;
                }
            }
            RangeEvent::Limit(_) => {
                if installed >= version {
                    affected = false;
                }
                break;
            }
        }
    }
    Ok(affected)
}

/// Published-order walk for orders that must not be sorted: each
/// `introduced` opens an interval that the next `fixed`/`last_affected`
/// closes; an interval left open runs to the limit (or forever).
fn in_range_paired<S: VersionScheme>(
    installed: &S::Version,
    range: &AffectedRange,
) -> Result<bool, VersionError> {
    let mut open: Option<bool> = None;
    let mut affected = false;
    for event in &range.events {
        match event {
            RangeEvent::Introduced(v) => {
                let from_start = v == "0" || installed >= &S::parse_advisory(v)?;
                open = Some(from_start);
            }
            RangeEvent::Fixed(v) => {
                if let Some(started) = open.take() {
                    affected |= started && installed < &S::parse_advisory(v)?;
                }
            }
            RangeEvent::LastAffected(v) => {
                if let Some(started) = open.take() {
                    affected |= started && installed <= &S::parse_advisory(v)?;
                }
            }
            RangeEvent::Limit(v) => {
                if installed >= &S::parse_advisory(v)? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(affected || open == Some(true))
}

fn describe_range(range: &AffectedRange) -> String {
    let kind = match range.kind {
        RangeKind::Semver => "SEMVER",
        RangeKind::Ecosystem => "ECOSYSTEM",
        RangeKind::Git => "GIT",
    };
    let events: Vec<String> = range
        .events
        .iter()
        .map(|event| match event {
            RangeEvent::Introduced(v) => format!("introduced {v}"),
            RangeEvent::Fixed(v) => format!("fixed {v}"),
            RangeEvent::LastAffected(v) => format!("last_affected {v}"),
            RangeEvent::Limit(v) => format!("limit {v}"),
        })
        .collect();
    format!("{kind} range: {}", events.join(", "))
}

#[cfg(test)]
mod tests {
    use super::may_be_equal;

    /// (a, b, full, may be equal): equal versions must never be ruled out.
    #[test]
    fn equality_pre_check() {
        let table = [
            ("1.0", "1.0.0", true, true),
            ("1.0", "1", true, true),
            ("v1.2.3", "1.2.3", true, true),
            ("0!1.0", "1.0", true, true),
            ("01.2", "1.02", true, true),
            ("1.0rc1", "1.0-rc1", true, true),
            ("1.0.dev0", "1.0dev0", true, true),
            ("1.1", "1.2", true, false),
            ("2.0", "1.9", true, false),
            ("1_2", "1.2", false, true),
            ("0:2.0", "2.0", false, true),
            ("1:2.0", "1:2.0", false, true),
            ("2.0", "3.0", false, false),
        ];
        for (a, b, full, expected) in table {
            assert_eq!(may_be_equal(a, b, full), expected, "{a} {b}");
            assert_eq!(may_be_equal(b, a, full), expected, "{b} {a}");
        }
    }
}
