//! Whether one installed version is affected by one `AffectedPackage`, as
//! `shared/vulndata/README.md` "How OSV ranges are evaluated" defines it.
//!
//! Range bounds and fixed versions are parsed once, when the index is built
//! ([`Prepared`]); matching compares parsed versions only. Listed affected
//! versions are indexed by a hash of their release key and parsed only when
//! that makes one a candidate (few per evaluation; kept parsed, PyPI's
//! 140,000 would hold 30 MiB). A version that does not parse is kept as its
//! error and reported exactly where evaluation would have met it, so
//! preparing changes neither findings nor diagnostics.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use model::{AffectedPackage, AffectedRange, RangeEvent, RangeKind, RequirementKind};
use version::VersionError;

use crate::scheme::VersionScheme;

/// Why an installed version is affected, and what fixes it.
#[derive(Debug)]
pub(crate) struct Verdict<V> {
    /// The range, listed version or rule that matched, as text.
    pub rule: String,
    /// Every fixed version the entry names, as written, with its parsed
    /// form; shared with the prepared entry.
    pub fixed: Arc<[(String, V)]>,
}

/// A range's events with their parsed bounds (`None` = introduced "0").
type SortedEvents<V> = Vec<(EventKind, Option<V>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
    Limit,
}

/// What made a version affected, described once it is known to be.
enum Rule<'a> {
    Listed(&'a str),
    Range(&'a AffectedRange),
    AllVersions,
}

/// The installed version of one package, as every entry is evaluated for it.
pub(crate) struct Installed<'t, V> {
    pub version: V,
    pub text: &'t str,
    /// [`release_hash`] of `text`, computed once per package.
    pub release_hash: u64,
}

impl<'t, V> Installed<'t, V> {
    pub(crate) fn new<S: VersionScheme<Version = V>>(version: V, text: &'t str) -> Self {
        Installed {
            version,
            text,
            release_hash: release_hash(text, S::DOTTED_RELEASE),
        }
    }
}

/// One affected entry with its range and fixed versions parsed for one scheme.
#[derive(Debug)]
pub(crate) struct Prepared<V> {
    /// Listed versions as ([`release_hash`], position in
    /// `AffectedPackage::versions`), sorted: only versions with the
    /// installed version's hash can equal it, and within one hash they
    /// are in published order. A flat slice rather than a map of buckets
    /// (PyPI entries list 140,000 versions in all; a map of small vectors
    /// of parsed versions cost over 60 MiB of the loaded index). Parsed
    /// only when their hash makes them a candidate: a few per evaluation,
    /// most equal to the installed text and not parsed at all.
    listed: Box<[(u64, u32)]>,
    /// Boxed: a `Vec` collected through a filter keeps room for four.
    ranges: Box<[PreparedRange<V>]>,
    /// Fixed events, then the floors of "patched" requirements, in the
    /// order evaluation reports them; the first unparseable one as error.
    fixed: Result<Arc<[(String, V)]>, VersionError>,
    /// `; not patched (…)` when the entry has patched requirements.
    patched_note: Option<String>,
    /// Distro triage without ranges, listed versions or requirements (an
    /// open or ignored CVE): every version of the release is affected.
    triaged_all_versions: bool,
    /// Whether the entry has requirement strings to evaluate; with the flag
    /// above, spares evaluation a visit to the entry itself.
    has_requirements: bool,
}

#[derive(Debug)]
struct PreparedRange<V> {
    /// Position in `AffectedPackage::ranges`: the range is described (for
    /// the finding's evidence) only when it matches.
    position: usize,
    events: RangeEvents<V>,
}

#[derive(Debug)]
enum RangeEvents<V> {
    /// Sortable orders: events sorted once (`None` = introduced "0"), or
    /// the first event that does not parse.
    Sorted(Result<SortedEvents<V>, VersionError>),
    /// Published order, each event parsed on its own (`None` = introduced
    /// "0"), errors kept where they stand: the walk meets them only on
    /// some paths.
    Paired(Vec<(EventKind, Option<Result<V, VersionError>>)>),
}

fn split(event: &RangeEvent) -> (EventKind, &str) {
    match event {
        RangeEvent::Introduced(v) => (EventKind::Introduced, v),
        RangeEvent::Fixed(v) => (EventKind::Fixed, v),
        RangeEvent::LastAffected(v) => (EventKind::LastAffected, v),
        RangeEvent::Limit(v) => (EventKind::Limit, v),
    }
}

impl<V: Ord> Prepared<V> {
    pub(crate) fn new<S: VersionScheme<Version = V>>(affected: &AffectedPackage) -> Prepared<V> {
        let mut listed: Vec<(u64, u32)> = affected
            .versions
            .iter()
            .zip(0u32..)
            .map(|(text, position)| (release_hash(text, S::DOTTED_RELEASE), position))
            .collect();
        // Positions are distinct: published order within one hash.
        listed.sort_unstable();
        let ranges = affected
            .ranges
            .iter()
            .enumerate()
            .filter(|(_, range)| range.kind != RangeKind::Git)
            .map(|(position, range)| PreparedRange {
                position,
                events: if S::SORTABLE {
                    RangeEvents::Sorted(sorted_events::<S>(range))
                } else {
                    RangeEvents::Paired(
                        range
                            .events
                            .iter()
                            .map(|event| match split(event) {
                                (EventKind::Introduced, "0") => (EventKind::Introduced, None),
                                (kind, text) => (kind, Some(S::parse_advisory(text))),
                            })
                            .collect(),
                    )
                },
            })
            .collect();
        let mut patched = Vec::new();
        for requirement in &affected.unaffected_requirements {
            if requirement.kind == RequirementKind::Patched {
                patched.push(requirement.requirement.as_str());
            }
        }
        let patched_note =
            (!patched.is_empty()).then(|| format!("; not patched ({})", patched.join(" | ")));
        let triaged_all_versions = affected.ranges.is_empty()
            && affected.versions.is_empty()
            && affected.unaffected_requirements.is_empty()
            && matches!(
                affected.distro_status,
                Some(
                    model::DistroStatus::NotFixed
                        | model::DistroStatus::WontFix(_)
                        | model::DistroStatus::Undetermined
                )
            );
        Prepared {
            triaged_all_versions,
            has_requirements: !affected.unaffected_requirements.is_empty(),
            listed: listed.into_boxed_slice(),
            ranges,
            fixed: fixed_versions::<S>(affected).map(Arc::from),
            patched_note,
        }
    }
}

fn sorted_events<S: VersionScheme>(
    range: &AffectedRange,
) -> Result<SortedEvents<S::Version>, VersionError> {
    let mut events = Vec::with_capacity(range.events.len());
    for event in &range.events {
        let parsed = match split(event) {
            (EventKind::Introduced, "0") => None,
            (_, text) => Some(S::parse_advisory(text)?),
        };
        events.push((split(event).0, parsed));
    }
    // Stable: events that compare equal keep their published order.
    events.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(events)
}

fn fixed_versions<S: VersionScheme>(
    affected: &AffectedPackage,
) -> Result<Vec<(String, S::Version)>, VersionError> {
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
    for requirement in &affected.unaffected_requirements {
        if requirement.kind == RequirementKind::Patched {
            for floor in S::requirement_floors(&requirement.requirement) {
                let parsed = S::parse_advisory(&floor)?;
                fixed.push((floor, parsed));
            }
        }
    }
    Ok(fixed)
}

/// Evaluates `affected` (prepared as `prepared`) for `installed`.
/// `Ok(None)`: not affected. An advisory version that does not parse is an
/// error: the caller reports it and skips the entry rather than call the
/// package unaffected.
pub(crate) fn evaluate<S: VersionScheme>(
    installed: &Installed<'_, S::Version>,
    affected: &AffectedPackage,
    prepared: &Prepared<S::Version>,
) -> Result<Option<Verdict<S::Version>>, VersionError> {
    let Installed {
        version: installed,
        text: installed_text,
        release_hash: installed_hash,
    } = installed;
    let installed_text: &str = installed_text;
    let mut rule = None;
    // Only versions with the installed release key can equal it; within a
    // hash the order is published order, so the first match (or the first
    // unparseable candidate) is the one a full scan would meet.
    let first = prepared
        .listed
        .partition_point(|(hash, _)| hash < installed_hash);
    let candidates = prepared.listed[first..]
        .iter()
        .take_while(|(hash, _)| hash == installed_hash);
    for &(_, position) in candidates {
        let position = position as usize;
        let Some(listed) = affected.versions.get(position) else {
            continue;
        };
        let equal = listed == installed_text
            || match S::parse_advisory(listed) {
                Ok(version) => version == *installed,
                // Only a version with the installed release key is a
                // candidate, whatever a hash collision says.
                Err(_)
                    if release_key(listed, S::DOTTED_RELEASE)
                        != release_key(installed_text, S::DOTTED_RELEASE) =>
                {
                    false
                }
                Err(error) => return Err(error),
            };
        if equal {
            rule = Some(Rule::Listed(listed));
            break;
        }
    }
    for range in &prepared.ranges {
        let hit = match &range.events {
            RangeEvents::Sorted(events) => {
                in_range_sorted(installed, events.as_ref().map_err(Clone::clone)?)
            }
            RangeEvents::Paired(events) => in_range_paired(installed, events)?,
        };
        if hit
            && rule.is_none()
            && let Some(published) = affected.ranges.get(range.position)
        {
            rule = Some(Rule::Range(published));
        }
    }
    // Distro triage without ranges (an open or ignored CVE): every version
    // of the release is affected.
    if rule.is_none() && prepared.triaged_all_versions {
        rule = Some(Rule::AllVersions);
    }
    // RubySec-style entries: a range from 0 with the patched and unaffected
    // versions carved out by requirement strings.
    let requirements = if prepared.has_requirements {
        affected.unaffected_requirements.as_slice()
    } else {
        &[]
    };
    for requirement in requirements {
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
    let Some(rule) = rule else {
        return Ok(None);
    };
    // Described only now: requirement strings exclude most RubySec
    // entries whose range (from 0) matched.
    let mut rule = match rule {
        Rule::Listed(listed) => format!("version {listed} listed as affected"),
        Rule::Range(range) => describe_range(range),
        Rule::AllVersions => "distro status without version range: all versions".to_owned(),
    };
    let fixed = Arc::clone(prepared.fixed.as_ref().map_err(Clone::clone)?);
    if let Some(note) = &prepared.patched_note {
        rule.push_str(note);
    }
    Ok(Some(Verdict { rule, fixed }))
}

/// The leading numeric release of a version (`v`/`=` prefixes and zero
/// epochs dropped, leading zeros ignored): versions with different keys
/// cannot be equal. `full`: every release group, trailing `.0` groups
/// dropped (PEP 440, where the release is dot-separated numbers);
/// otherwise only the first group, since some orders (rpm) treat any
/// separator alike.
fn release_key(version: &str, full: bool) -> String {
    let mut groups = release_groups(version);
    if !full {
        return groups.next().unwrap_or("0").to_owned();
    }
    let groups: Vec<&str> = groups.collect();
    let significant = groups
        .iter()
        .rposition(|g| *g != "0")
        .map_or(0, |last| last + 1);
    groups[..significant].join(".")
}

/// A hash of [`release_key`], computed without building the key: equal
/// keys give equal hashes.
fn release_hash(version: &str, full: bool) -> u64 {
    // Fixed keys: the hash only has to agree within one process.
    let mut hasher = std::hash::DefaultHasher::new();
    let mut groups = release_groups(version);
    if !full {
        groups.next().unwrap_or("0").hash(&mut hasher);
        return hasher.finish();
    }
    // Trailing "0" groups are dropped: zeros are hashed only once a
    // non-zero group follows them.
    let mut pending_zeros = 0usize;
    for group in groups {
        if group == "0" {
            pending_zeros += 1;
            continue;
        }
        for _ in 0..pending_zeros {
            "0".hash(&mut hasher);
        }
        pending_zeros = 0;
        group.hash(&mut hasher);
    }
    hasher.finish()
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
fn in_range_sorted<V: Ord>(installed: &V, events: &[(EventKind, Option<V>)]) -> bool {
    let mut affected = false;
    for (event, version) in events {
        let Some(version) = version else {
            affected = true;
            continue;
        };
        match event {
            EventKind::Introduced => {
                if installed >= version {
                    affected = true;
                } else {
                    break;
                }
            }
            EventKind::Fixed => {
                if installed >= version {
                    affected = false;
                } else {
                    break;
                }
            }
            EventKind::LastAffected => {
                if installed > version {
                    affected = false;
                } else {
                    break;
                }
            }
            EventKind::Limit => {
                if installed >= version {
                    affected = false;
                }
                break;
            }
        }
    }
    affected
}

/// Published-order walk for orders that must not be sorted: each
/// `introduced` opens an interval that the next `fixed`/`last_affected`
/// closes; an interval left open runs to the limit (or forever).
fn in_range_paired<V: Ord>(
    installed: &V,
    events: &[(EventKind, Option<Result<V, VersionError>>)],
) -> Result<bool, VersionError> {
    fn parsed<V>(version: &Option<Result<V, VersionError>>) -> Result<Option<&V>, VersionError> {
        match version {
            None => Ok(None),
            Some(Ok(version)) => Ok(Some(version)),
            Some(Err(error)) => Err(error.clone()),
        }
    }
    let mut open: Option<bool> = None;
    let mut affected = false;
    for (event, version) in events {
        match event {
            EventKind::Introduced => {
                let from_start = match parsed(version)? {
                    None => true,
                    Some(version) => installed >= version,
                };
                open = Some(from_start);
            }
            EventKind::Fixed => {
                if let Some(started) = open.take() {
                    affected |= started && parsed(version)?.is_some_and(|v| installed < v);
                }
            }
            EventKind::LastAffected => {
                if let Some(started) = open.take() {
                    affected |= started && parsed(version)?.is_some_and(|v| installed <= v);
                }
            }
            EventKind::Limit => {
                if parsed(version)?.is_some_and(|v| installed >= v) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(affected || open == Some(true))
}

/// Whether two versions can be equal, judged from their release keys.
#[cfg(test)]
fn may_be_equal(a: &str, b: &str, full: bool) -> bool {
    release_key(a, full) == release_key(b, full)
}

fn describe_range(range: &AffectedRange) -> String {
    let kind = match range.kind {
        RangeKind::Semver => "SEMVER",
        RangeKind::Ecosystem => "ECOSYSTEM",
        RangeKind::Git => "GIT",
    };
    // Built in one buffer: ranges are described on every match (not kept
    // in the index), so this runs in the matching hot path.
    let capacity = range
        .events
        .iter()
        .map(|event| split(event).1.len() + 16)
        .sum::<usize>();
    let mut description = String::with_capacity(kind.len() + 8 + capacity);
    description.push_str(kind);
    description.push_str(" range: ");
    for (position, event) in range.events.iter().enumerate() {
        if position > 0 {
            description.push_str(", ");
        }
        let (label, version) = match event {
            RangeEvent::Introduced(v) => ("introduced ", v),
            RangeEvent::Fixed(v) => ("fixed ", v),
            RangeEvent::LastAffected(v) => ("last_affected ", v),
            RangeEvent::Limit(v) => ("limit ", v),
        };
        description.push_str(label);
        description.push_str(version);
    }
    description
}

#[cfg(test)]
mod tests {
    use model::{
        AffectedPackage, AffectedRange, DistroStatus, RangeEvent, RangeKind, RequirementKind,
        UnaffectedRequirement,
    };

    use super::{Prepared, may_be_equal};
    use crate::scheme::{self, VersionScheme};

    /// The evaluation as it was before advisory versions were prepared at
    /// index build: parses every advisory version on each call. Kept as
    /// the oracle the prepared evaluation must agree with.
    mod reference {
        use std::cmp::Ordering;

        use model::{AffectedPackage, AffectedRange, RangeEvent, RangeKind, RequirementKind};
        use version::VersionError;

        use crate::range::{Verdict, describe_range, release_groups};
        use crate::scheme::VersionScheme;

        /// Evaluates `affected` for `installed`. `Ok(None)`: not affected.
        /// An advisory version that does not parse is an error: the caller reports
        /// it and skips the entry rather than call the package unaffected.
        pub(super) fn evaluate<S: VersionScheme>(
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
            Ok(Some(Verdict {
                rule,
                fixed: fixed.into(),
            }))
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

        /// Sorted walk: the last event at or below the installed version decides.
        fn in_range_sorted<S: VersionScheme>(
            installed: &S::Version,
            range: &AffectedRange,
        ) -> Result<bool, VersionError> {
            // `None` = introduced "0", below every version.
            let mut events: Vec<(&RangeEvent, Option<S::Version>)> =
                Vec::with_capacity(range.events.len());
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
    }

    fn entry(ranges: &[&str], versions: &[&str]) -> AffectedPackage {
        let ranges = ranges
            .iter()
            .map(|spec| AffectedRange {
                kind: RangeKind::Ecosystem,
                events: spec
                    .split(' ')
                    .filter_map(|event| {
                        let (kind, version) = event.split_once('=')?;
                        let version = version.to_owned();
                        Some(match kind {
                            "i" => RangeEvent::Introduced(version),
                            "f" => RangeEvent::Fixed(version),
                            "la" => RangeEvent::LastAffected(version),
                            _ => RangeEvent::Limit(version),
                        })
                    })
                    .collect(),
            })
            .collect();
        AffectedPackage {
            ranges,
            versions: versions.iter().map(|v| (*v).to_owned()).collect(),
            ..AffectedPackage::default()
        }
    }

    /// What evaluation decided, comparable across both implementations.
    type Outcome = Result<Option<(String, Vec<String>)>, String>;

    /// Evaluates every installed version with the prepared entry and with
    /// the reference, asserts they agree, and returns the outcomes.
    fn agree<S: VersionScheme>(affected: &AffectedPackage, installed: &[&str]) -> Vec<Outcome> {
        let prepared = Prepared::new::<S>(affected);
        let mut outcomes = Vec::new();
        for text in installed {
            let Ok(version) = S::parse_installed(text) else {
                continue;
            };
            let simplify = |result: Result<
                Option<super::Verdict<S::Version>>,
                version::VersionError,
            >|
             -> Outcome {
                result
                    .map(|verdict| {
                        verdict.map(|v| (v.rule, v.fixed.iter().map(|(t, _)| t.clone()).collect()))
                    })
                    .map_err(|error| error.to_string())
            };
            let expected = simplify(reference::evaluate::<S>(&version, text, affected));
            let installed = super::Installed::new::<S>(version, text);
            let got = simplify(super::evaluate::<S>(&installed, affected, &prepared));
            assert_eq!(got, expected, "{text} against {affected:?}");
            outcomes.push(got);
        }
        outcomes
    }

    /// Preparing advisory versions at index build must not change any
    /// verdict, rule, fixed list or error, including which error is met
    /// first and which listed version is reported.
    #[test]
    fn prepared_evaluation_agrees_with_reference() {
        let mut outcomes = Vec::new();
        let pypi_installed = [
            "1.0",
            "1",
            "1.0.0.0",
            "1.0rc1",
            "1.0-rc1",
            "1.01",
            "0!1.0",
            "1.1",
            "1.5",
            "2.0",
            "2.0.post1",
            "2.1",
            "2.2",
            "3.0",
            "1.0+local",
        ];
        for (ranges, versions) in [
            (
                &["i=0 f=1.5", "i=2.0 la=2.1"][..],
                &["1.0", "1.0.0", "1.0rc1", "2.0.post1"][..],
            ),
            (&[], &["1.0+bad local", "1.0", "1.01"]),
            (&[], &["1.0", "1.0+bad local"]),
            (&["i=0 f=not-a-version"], &[]),
            (&["i=1.1 f=1.5 i=1.0 f=1.2"], &["3.0"]),
            (&["i=0 l=2.0"], &[]),
        ] {
            outcomes.extend(agree::<scheme::Pypi>(
                &entry(ranges, versions),
                &pypi_installed,
            ));
        }
        let dpkg_installed = [
            "1:1.9-1",
            "1:2.0-1",
            "2.0-1",
            "0:2.0-1",
            "2.0~rc1-1",
            "3.0-1",
        ];
        for (ranges, versions) in [
            (&["i=0 f=1:2.0-1"][..], &["2.0-1", "1:2.0-1"][..]),
            (&["i=2.0~rc1-1 f=2.0-1"], &[]),
            (&["i=0 f=bad_version!"], &["2.0-1"]),
        ] {
            outcomes.extend(agree::<scheme::Dpkg>(
                &entry(ranges, versions),
                &dpkg_installed,
            ));
        }
        let mut open = entry(&[], &[]);
        open.distro_status = Some(DistroStatus::NotFixed);
        outcomes.extend(agree::<scheme::Dpkg>(&open, &dpkg_installed));
        let maven_installed = ["0.9", "1.0", "1.4", "1.5", "2.0", "2.3", "2.4", "3.0"];
        for ranges in [
            &["i=1.0 f=1.5 i=2.0 la=2.3 l=3.0"][..],
            &["i=1.0 f=1.5 f= la=2.3"],
            &["i=2.0 f=", "i=0 f=1.5"],
        ] {
            outcomes.extend(agree::<scheme::Maven>(
                &entry(ranges, &[]),
                &maven_installed,
            ));
        }
        let semver_installed = ["1.0.0", "1.1.0", "1.2.0-beta", "1.2.0-rc.1", "1.2.0"];
        outcomes.extend(agree::<scheme::Semver>(
            &entry(&["i=1.0.0 f=1.2.0-rc.1"], &["1.2.0-beta"]),
            &semver_installed,
        ));
        let gem_installed = ["0.9", "1.1.4", "1.1.6", "1.2.2", "1.2.3", "2.0"];
        for requirements in [
            &[
                (RequirementKind::Patched, ">= 1.2.3"),
                (RequirementKind::Patched, "~> 1.1.5"),
                (RequirementKind::Unaffected, "< 1.0"),
            ][..],
            &[(RequirementKind::Patched, "bogus ~>")],
        ] {
            let mut gem = entry(&["i=0"], &[]);
            gem.unaffected_requirements = requirements
                .iter()
                .map(|(kind, requirement)| UnaffectedRequirement {
                    kind: *kind,
                    requirement: (*requirement).to_owned(),
                })
                .collect();
            outcomes.extend(agree::<scheme::Gem>(&gem, &gem_installed));
        }
        // The table must exercise all three outcomes, or agreeing proves little.
        assert!(outcomes.iter().any(|o| matches!(o, Ok(Some(_)))));
        assert!(outcomes.iter().any(|o| matches!(o, Ok(None))));
        assert!(outcomes.iter().any(Result::is_err));
    }

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
            ("1.0.2", "1.2", true, false),
            ("10.2", "1.02", true, false),
            ("1.10", "11.0", true, false),
            ("0", "0.0", true, true),
            ("0", "rc1", true, true),
            ("0.0.1", "1", true, false),
            ("2.0-1", "2.5", false, true),
        ];
        for (a, b, full, expected) in table {
            assert_eq!(may_be_equal(a, b, full), expected, "{a} {b}");
            assert_eq!(may_be_equal(b, a, full), expected, "{b} {a}");
            // The index looks listed versions up by this hash of the key.
            assert_eq!(
                super::release_hash(a, full) == super::release_hash(b, full),
                expected,
                "hash {a} {b}"
            );
        }
    }
}
