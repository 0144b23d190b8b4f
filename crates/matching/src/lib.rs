//! Matching: an image inventory × an [`AdvisoryIndex`] → findings.
//!
//! Pure: no I/O, no network, no store, no async. Each package is routed to
//! exactly one matcher (listed in [`MATCHERS`]) by its kind and, for OS
//! packages, the image's OS release; the matcher looks the package up under
//! its ecosystem and normalised name, evaluates every affected entry with the
//! ecosystem's version order, and merges the advisories that name the same
//! vulnerability into one [`Finding`].

mod index;
mod range;
mod scheme;
mod score;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use model::{
    Advisory, AffectedPackage, Diagnostic, DistroStatus, Finding, FindingEvidence, FindingPackage,
    FixState, ImageInventory, OsFamily, OsInfo, Package, PackageKind, RangeEvent, Severity,
    SharedText,
};
use sha2::{Digest as _, Sha256};
use std::borrow::Cow;
use std::str::FromStr as _;

pub use index::{AdvisoryIndex, IndexBuilder};

pub use index::{ecosystem_key, normalise_name};
use range::{Installed, Prepared, Verdict, evaluate};
use scheme::VersionScheme;

/// The matchers, by name: one per ecosystem family.
pub const MATCHERS: [&str; 9] = [
    "dpkg",
    "apk",
    "rpm",
    "pypi",
    "go",
    "crates.io",
    "npm",
    "maven",
    "rubygems",
];

/// Findings sorted by CVSS score (highest first), severity, then ID, and the
/// diagnostics met on the way (unparseable versions, unknown OS releases).
#[derive(Debug, Default)]
pub struct MatchResult {
    pub findings: Vec<Finding>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Matches every package of `inventory` against `index`.
pub fn match_image(inventory: &ImageInventory, index: &AdvisoryIndex) -> MatchResult {
    let mut run = Run {
        index,
        findings: Vec::new(),
        diagnostics: Vec::new(),
        reported: HashSet::new(),
    };
    let os = inventory.os.as_ref();
    for package in &inventory.packages {
        run.route(os, package);
    }
    MatchResult {
        findings: sorted(run.findings),
        diagnostics: run.diagnostics,
    }
}

/// `findings` in [`compare_findings`] order. Findings are large: a stable
/// sort of positions, then one move each, instead of moving them while
/// sorting (same order, since both sorts are stable).
fn sorted(findings: Vec<Finding>) -> Vec<Finding> {
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by(|&a, &b| compare_findings(&findings[a], &findings[b]));
    let mut slots: Vec<Option<Finding>> = findings.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|position| slots.get_mut(position).and_then(Option::take))
        .collect()
}

fn compare_findings(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    let score = |f: &Finding| f.cvss.as_ref().map(|c| c.base_score);
    score(b)
        .partial_cmp(&score(a))
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a.severity.cmp(&b.severity))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.package.name.cmp(&b.package.name))
        .then_with(|| {
            a.package
                .installed_version
                .cmp(&b.package.installed_version)
        })
        .then_with(|| a.package.path.cmp(&b.package.path))
}

/// Where one package is looked up.
struct Target<'p> {
    matcher: &'static str,
    ecosystem: String,
    name: String,
    version: Cow<'p, str>,
}

struct Run<'i> {
    index: &'i AdvisoryIndex,
    findings: Vec<Finding>,
    diagnostics: Vec<Diagnostic>,
    /// Diagnostic messages already emitted, so one cause is reported once.
    reported: HashSet<String>,
}

impl Run<'_> {
    fn diagnose(&mut self, code: &str, message: String, package: Option<&Package>) {
        if !self.reported.insert(format!("{code}\u{0}{message}")) {
            return;
        }
        let mut diagnostic = Diagnostic::warning(code, message);
        if let Some(package) = package {
            if !package.evidence.path.is_empty() {
                diagnostic = diagnostic.with_path(package.evidence.path.clone());
            }
            if let Some(diff_id) = &package.evidence.layer_diff_id {
                diagnostic = diagnostic.with_layer(diff_id.clone());
            }
        }
        self.diagnostics.push(diagnostic);
    }

    fn route(&mut self, os: Option<&OsInfo>, package: &Package) {
        let target = match target(os, package) {
            Ok(target) => target,
            Err(Unroutable::Os(reason)) => {
                self.diagnose("matching.os-unsupported", reason, None);
                return;
            }
            Err(Unroutable::Package(reason)) => {
                self.diagnose("matching.rpm-module-stream-unknown", reason, Some(package));
                return;
            }
        };
        match package.kind {
            PackageKind::Deb => self.match_package::<scheme::Dpkg>(package, &target),
            PackageKind::Apk => self.match_package::<scheme::Apk>(package, &target),
            PackageKind::Rpm if target.ecosystem.starts_with(RED_HAT_KEY_PREFIX) => {
                let first_new = self.findings.len();
                self.match_package::<scheme::Rpm>(package, &target);
                self.drop_fixed_in_stream(first_new, &target);
            }
            PackageKind::Rpm => self.match_package::<scheme::Rpm>(package, &target),
            PackageKind::Python => self.match_package::<scheme::Pypi>(package, &target),
            PackageKind::GoModule if package.name == "stdlib" => {
                self.match_package::<scheme::GoToolchain>(package, &target)
            }
            PackageKind::GoModule => self.match_package::<scheme::GoModule>(package, &target),
            PackageKind::Cargo => self.match_package::<scheme::Semver>(package, &target),
            PackageKind::Npm => self.match_package::<scheme::Npm>(package, &target),
            PackageKind::Maven => self.match_package::<scheme::Maven>(package, &target),
            PackageKind::Gem => self.match_package::<scheme::Gem>(package, &target),
        }
    }

    /// Red Hat fixes a CVE once per minor-release branch of a stream (a
    /// 9.4 z-stream build `3.9.18-3.el9_4.5`, then 9.5's `3.9.19-8.el9`),
    /// each in its own erratum. A package at or above *any* of the
    /// stream's fixes for a CVE has it fixed (the rule Grype applies to
    /// RHEL): without it, every image kept current on an older minor would
    /// be reported vulnerable by the next minor's erratum. Drops such
    /// findings among those from `first_new` on.
    fn drop_fixed_in_stream(&mut self, first_new: usize, target: &Target<'_>) {
        if self.findings.len() <= first_new {
            return;
        }
        let Ok(installed) = version::RpmVersion::from_str(&target.version) else {
            return;
        };
        let mut fixed_ids: HashSet<&str> = HashSet::new();
        for entry in self.index.lookup(&target.ecosystem, &target.name) {
            let Some((_, texts, affected)) = self.index.advisory(entry) else {
                continue;
            };
            let fixed_here = affected
                .ranges
                .iter()
                .flat_map(|range| &range.events)
                .filter_map(|event| match event {
                    RangeEvent::Fixed(fixed) => version::RpmVersion::from_str(fixed).ok(),
                    _ => None,
                })
                .any(|fixed| installed >= fixed);
            if fixed_here {
                fixed_ids.extend(texts.vulnerability_ids.iter().map(String::as_str));
            }
        }
        if fixed_ids.is_empty() {
            return;
        }
        let mut position = 0;
        self.findings.retain(|finding| {
            position += 1;
            position <= first_new || !fixed_ids.contains(finding.id.as_str())
        });
    }

    fn match_package<S: VersionScheme>(&mut self, package: &Package, target: &Target<'_>) {
        let entries = self.index.lookup(&target.ecosystem, &target.name);
        if entries.is_empty() {
            return;
        }
        let installed = match S::parse_installed(&target.version) {
            Ok(installed) => installed,
            Err(error) => {
                self.diagnose(
                    "matching.unparseable-installed-version",
                    format!(
                        "{} package {}: {error}; not matched",
                        package.kind, package.name
                    ),
                    Some(package),
                );
                return;
            }
        };
        let installed = Installed::new::<S>(installed, &target.version);
        let index = self.index;
        let mut groups: BTreeMap<&str, Group<'_, S::Version>> = BTreeMap::new();
        for entry in entries {
            let Some((advisory, texts, affected)) = index.advisory(entry) else {
                continue;
            };
            if entry.not_affected {
                for id in &texts.vulnerability_ids {
                    groups.entry(id).or_default().suppressed = true;
                }
                continue;
            }
            // Every routed ecosystem is prepared at build; preparing here
            // keeps a routing/preparation mismatch correct, only slower.
            let fallback;
            let prepared = match S::prepared(&entry.prepared) {
                Some(prepared) => prepared,
                None => {
                    fallback = Prepared::new::<S>(affected);
                    &fallback
                }
            };
            let verdict = match evaluate::<S>(&installed, affected, prepared) {
                Ok(Some(verdict)) => verdict,
                Ok(None) => continue,
                Err(error) => {
                    self.diagnose(
                        "matching.unparseable-advisory-version",
                        format!(
                            "advisory {} ({}) for {} package {}: {error}; advisory skipped for this package",
                            advisory.id, affected.ecosystem, package.kind, package.name
                        ),
                        Some(package),
                    );
                    continue;
                }
            };
            let single = texts.vulnerability_ids.len() == 1;
            let verdict = std::rc::Rc::new(verdict);
            for id in &texts.vulnerability_ids {
                groups.entry(id).or_default().hits.push(Hit {
                    advisory,
                    texts,
                    affected,
                    verdict: verdict.clone(),
                    single_vulnerability: single,
                });
            }
        }
        for (id, group) in groups {
            if group.suppressed || group.hits.is_empty() {
                continue;
            }
            let finding = self.build_finding::<S>(
                package,
                target,
                &installed.version,
                id.to_owned(),
                group.hits,
            );
            self.findings.push(finding);
        }
    }

    fn build_finding<S: VersionScheme>(
        &mut self,
        package: &Package,
        target: &Target<'_>,
        installed: &S::Version,
        id: String,
        mut hits: Vec<Hit<'_, S::Version>>,
    ) -> Finding {
        hits.sort_by(|a, b| {
            (&a.advisory.source, &a.advisory.id).cmp(&(&b.advisory.source, &b.advisory.id))
        });
        let mut aliases: BTreeSet<&str> = BTreeSet::new();
        let mut fixed_versions: Vec<String> = Vec::new();
        let mut smallest_fix: Option<(&str, &S::Version)> = None;
        let mut wont_fix = None;
        let mut vendor_severity = None;
        let mut scores = score::Scores::default();
        let mut references: Vec<SharedText> = Vec::new();
        let mut evidence = Vec::new();
        let mut title = None;
        let mut description = None;
        for hit in &hits {
            let advisory = hit.advisory;
            aliases.insert(&advisory.id);
            for alias in advisory.aliases.iter().chain(&advisory.upstream) {
                if hit.single_vulnerability || !is_cve(alias) {
                    aliases.insert(alias);
                }
            }
            for (text, version) in hit.verdict.fixed.iter() {
                if !fixed_versions.contains(text) {
                    fixed_versions.push(text.clone());
                }
                // Pairwise minimum, never a sort (Maven's order is not transitive).
                if version > installed && smallest_fix.is_none_or(|(_, best)| version < best) {
                    smallest_fix = Some((text, version));
                }
            }
            let mut rule = hit.verdict.rule.clone();
            match &hit.affected.distro_status {
                Some(DistroStatus::WontFix(reason)) => {
                    wont_fix.get_or_insert_with(|| reason.clone());
                    rule.push_str(&format!("; distro status: won't fix ({reason})"));
                }
                Some(DistroStatus::Undetermined) => {
                    rule.push_str("; distro status: undetermined");
                }
                Some(DistroStatus::NotFixed) => rule.push_str("; distro status: not fixed"),
                _ => {}
            }
            evidence.push(FindingEvidence {
                source: advisory.source.clone(),
                advisory_id: advisory.id.clone(),
                ecosystem: hit.affected.ecosystem.clone(),
                matcher: target.matcher.to_owned(),
                rule,
            });
            if vendor_severity.is_none() {
                vendor_severity = hit
                    .affected
                    .severity
                    .as_deref()
                    .and_then(Severity::from_vendor);
            }
            for score in &hit.affected.severity_scores {
                scores.add(score, self.index.vectors());
            }
            if title.is_none() {
                title = hit.texts.title.clone();
            }
            if description.is_none() {
                description = hit.texts.description.clone();
            }
            if references.is_empty() {
                // Already unique within one advisory.
                references.extend(hit.texts.references.iter().cloned());
            } else {
                // Interned at build: one allocation per distinct URL.
                for reference in &hit.texts.references {
                    if !references.iter().any(|r| r.same_allocation(reference)) {
                        references.push(reference.clone());
                    }
                }
            }
        }
        if vendor_severity.is_none() {
            vendor_severity = hits.iter().find_map(|h| {
                h.advisory
                    .database_severity
                    .as_deref()
                    .and_then(Severity::from_vendor)
            });
        }
        for hit in &hits {
            for score in &hit.advisory.severity {
                scores.add(score, self.index.vectors());
            }
        }
        let enrichment = self.index.enrichment(&id);
        if let Some(enrichment) = enrichment {
            for score in &enrichment.cvss {
                scores.add(score, self.index.vectors());
            }
            if description.is_none() {
                description = self.index.enrichment_description(&id).cloned();
            }
        }
        for invalid in std::mem::take(&mut scores.invalid) {
            self.diagnose(
                "matching.invalid-cvss",
                format!("{id}: CVSS vector {invalid:?} does not parse; ignored"),
                None,
            );
        }
        aliases.remove(id.as_str());
        let cvss = scores.primary();
        let severity = vendor_severity
            .or_else(|| {
                cvss.as_ref()
                    .map(|c| Severity::from_cvss_score(c.base_score))
            })
            .unwrap_or(Severity::Unknown);
        let fixed_version = smallest_fix.map(|(text, _)| text.to_owned());
        let state = match (&fixed_version, wont_fix) {
            (Some(_), _) => FixState::Fixed,
            (None, Some(reason)) => FixState::WontFix(reason),
            (None, None) => FixState::NotFixed,
        };
        let fingerprint = fingerprint(package, &id);
        Finding {
            aliases: aliases.into_iter().map(str::to_owned).collect(),
            package: FindingPackage {
                kind: package.kind,
                name: package.name.clone(),
                installed_version: package.version.clone(),
                matched_name: target.name.clone(),
                layer_index: package.evidence.layer_index,
                layer_diff_id: package.evidence.layer_diff_id.clone(),
                path: package.evidence.path.clone(),
            },
            fixed_versions,
            fixed_version,
            state,
            severity,
            cvss,
            cvss_v3: scores.v3,
            cvss_v4: scores.v4,
            epss: enrichment.and_then(|e| e.epss),
            kev_date_added: enrichment.and_then(|e| e.kev_date_added.clone()),
            title,
            description,
            references,
            evidence,
            fingerprint,
            id,
        }
    }
}

struct Hit<'a, V> {
    advisory: &'a Advisory,
    texts: &'a index::AdvisoryTexts,
    affected: &'a AffectedPackage,
    verdict: std::rc::Rc<Verdict<V>>,
    /// The advisory names one vulnerability (so all its aliases are aliases
    /// of this finding), not several CVEs fixed together (a DSA, an erratum).
    single_vulnerability: bool,
}

struct Group<'a, V> {
    hits: Vec<Hit<'a, V>>,
    suppressed: bool,
}

impl<V> Default for Group<'_, V> {
    fn default() -> Self {
        Group {
            hits: Vec::new(),
            suppressed: false,
        }
    }
}

fn is_cve(id: &str) -> bool {
    id.starts_with("CVE-")
}

/// The vulnerabilities an advisory is about: its CVEs (an erratum or DSA
/// fixing several is one per CVE, so it merges with each CVE's own records);
/// without a CVE, the smallest of its IDs, so records that alias each other
/// (GHSA ↔ PYSEC) agree on one.
pub(crate) fn vulnerability_ids(advisory: &Advisory) -> Vec<String> {
    let cves: BTreeSet<&String> = std::iter::once(&advisory.id)
        .chain(&advisory.aliases)
        .chain(&advisory.upstream)
        .filter(|id| is_cve(id))
        .collect();
    if cves.is_empty() {
        let smallest = std::iter::once(&advisory.id)
            .chain(&advisory.aliases)
            .min()
            .unwrap_or(&advisory.id);
        vec![smallest.clone()]
    } else {
        cves.into_iter().cloned().collect()
    }
}

/// SHA-256 over the package identity (kind, name, version, arch, path) and
/// the vulnerability ID, fields separated by NUL.
fn fingerprint(package: &Package, id: &str) -> String {
    let mut hasher = Sha256::new();
    for field in [
        package.kind.as_str(),
        &package.name,
        &package.version,
        package.arch.as_deref().unwrap_or(""),
        &package.evidence.path,
        id,
    ] {
        hasher.update(field.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    // `hex::encode` goes through a char iterator; this is one allocation.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(digest.len() * 2);
    for byte in digest {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Where `package` is looked up: the one routing decision, shared by
/// matching and [`lookup_keys`] so a database can load exactly what matching
/// will ask for. `Err` says why an OS package cannot be routed.
/// Why a package cannot be looked up.
enum Unroutable {
    /// No advisory mapping for the image's OS release (one diagnostic per image).
    Os(String),
    /// This package cannot be compared with the data (a diagnostic naming it).
    Package(String),
}

fn target<'p>(os: Option<&OsInfo>, package: &'p Package) -> Result<Target<'p>, Unroutable> {
    let source_name = package.source.as_ref().map(|s| s.name.as_str());
    let source_version = package.source.as_ref().and_then(|s| s.version.as_deref());
    let (matcher, ecosystem, name, version) = match package.kind {
        PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => {
            let mut ecosystem = os_ecosystem(os, package.kind).map_err(Unroutable::Os)?;
            let (matcher, name, version): (_, _, Cow<'p, str>) = match package.kind {
                // Debian and Alpine publish advisories per source package
                // (apk "origin"), fixed in source versions.
                PackageKind::Deb => (
                    "dpkg",
                    source_name.unwrap_or(&package.name),
                    source_version.unwrap_or(&package.version).into(),
                ),
                PackageKind::Apk => (
                    "apk",
                    source_name.unwrap_or(&package.name),
                    source_version.unwrap_or(&package.version).into(),
                ),
                // Red Hat publishes fixes per source RPM.
                _ if ecosystem.starts_with(RED_HAT_KEY_PREFIX) => {
                    let (name, version) = red_hat_source(package).map_err(Unroutable::Package)?;
                    ecosystem = red_hat_ecosystem(ecosystem, package);
                    ("rpm", name, version.into())
                }
                // AlmaLinux/Rocky OSV name binary packages (`qatzip-libs`).
                _ => (
                    "rpm",
                    package.name.as_str(),
                    package.version.as_str().into(),
                ),
            };
            (matcher, ecosystem, name, version)
        }
        kind => {
            let (matcher, ecosystem) = match kind {
                PackageKind::Python => ("pypi", "pypi"),
                PackageKind::GoModule => ("go", "go"),
                PackageKind::Cargo => ("crates.io", "crates.io"),
                PackageKind::Npm => ("npm", "npm"),
                PackageKind::Maven => ("maven", "maven"),
                _ => ("rubygems", "rubygems"),
            };
            (
                matcher,
                ecosystem.to_owned(),
                package.name.as_str(),
                package.version.as_str().into(),
            )
        }
    };
    Ok(Target {
        matcher,
        name: normalise_name(&ecosystem, name),
        ecosystem,
        version,
    })
}

/// The version that fixes every finding of one package: the greatest of
/// their fixed versions (each finding's `fixed_version`, the smallest fix
/// above the installed version), compared in the order of the scheme the
/// package is matched with — the same one matching used to choose them.
/// `None` when no version is given. Pairwise maximum, never a sort
/// (Maven's order is not transitive). A version that does not parse in the
/// scheme is an error naming it (matching only reports parsed versions, so
/// it means the findings did not come from this package's matcher).
pub fn fix_all_version<'v>(
    kind: PackageKind,
    name: &str,
    fixed_versions: impl IntoIterator<Item = &'v str>,
) -> Result<Option<String>, version::VersionError> {
    let versions = fixed_versions.into_iter();
    match kind {
        PackageKind::Deb => greatest::<scheme::Dpkg>(versions),
        PackageKind::Apk => greatest::<scheme::Apk>(versions),
        PackageKind::Rpm => greatest::<scheme::Rpm>(versions),
        PackageKind::Python => greatest::<scheme::Pypi>(versions),
        PackageKind::GoModule if name == "stdlib" => greatest::<scheme::GoToolchain>(versions),
        PackageKind::GoModule => greatest::<scheme::GoModule>(versions),
        PackageKind::Cargo => greatest::<scheme::Semver>(versions),
        PackageKind::Npm => greatest::<scheme::Npm>(versions),
        PackageKind::Maven => greatest::<scheme::Maven>(versions),
        PackageKind::Gem => greatest::<scheme::Gem>(versions),
    }
}

fn greatest<'v, S: VersionScheme>(
    versions: impl Iterator<Item = &'v str>,
) -> Result<Option<String>, version::VersionError> {
    let mut best: Option<(&str, S::Version)> = None;
    for text in versions {
        let parsed = S::parse_advisory(text)?;
        if best.as_ref().is_none_or(|(_, current)| parsed > *current) {
            best = Some((text, parsed));
        }
    }
    Ok(best.map(|(text, _)| text.to_owned()))
}

/// Every (ecosystem key, normalised name) that matching `inventory` looks
/// up, as [`ecosystem_key`] and [`normalise_name`] spell them: the advisories
/// an image can match are exactly those with an affected package under one
/// of these keys.
pub fn lookup_keys(inventory: &ImageInventory) -> BTreeSet<(String, String)> {
    let os = inventory.os.as_ref();
    inventory
        .packages
        .iter()
        .filter_map(|package| target(os, package).ok())
        .map(|target| (target.ecosystem, target.name))
        .collect()
}

/// Whether some matcher looks packages up under this ecosystem (as an
/// advisory writes it: `Debian:12`, `PyPI`, `Alpine:v3.19`). Advisories of
/// other ecosystems are kept, but no image matches them. Mirrors the keys
/// [`os_ecosystem`] and [`target`] produce.
pub fn routes_ecosystem(ecosystem: &str) -> bool {
    let key = ecosystem_key(ecosystem);
    let numbered = |prefix: &str| {
        key.strip_prefix(prefix).is_some_and(|release| {
            !release.is_empty() && release.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
    };
    matches!(
        key.as_str(),
        "pypi" | "go" | "crates.io" | "npm" | "maven" | "rubygems" | "wolfi" | "chainguard"
    ) || numbered("debian:")
        || numbered("ubuntu:")
        || numbered("alpine:v")
        || numbered("almalinux:")
        || numbered("rocky linux:")
        || numbered(RED_HAT_KEY_PREFIX)
        || red_hat_module_stream(&key)
}

/// `red hat:8/ruby:2.7`: a mainline release's module stream, the key
/// [`red_hat_ecosystem`] gives a modular package.
fn red_hat_module_stream(key: &str) -> bool {
    let Some((release, module)) = key
        .strip_prefix(RED_HAT_KEY_PREFIX)
        .and_then(|rest| rest.split_once('/'))
    else {
        return false;
    };
    let numbered = !release.is_empty() && release.chars().all(|c| c.is_ascii_digit());
    let stream = module
        .split_once(':')
        .is_some_and(|(name, stream)| !name.is_empty() && !stream.is_empty());
    numbered && stream
}

/// Index key prefix of Red Hat's own data (`Red Hat:9`, see
/// `advisory::redhat_csaf`).
const RED_HAT_KEY_PREFIX: &str = "red hat:";

/// The source RPM name and `[epoch:]version-release` a Red Hat advisory
/// names for `package`. The source version comes from the `SOURCERPM` file
/// name, which carries no epoch; source and binaries are one build, so the
/// binary's epoch is the source's. A package built in a module stream
/// (`.module+el8…` in its release) is only comparable with its own stream's
/// fixes: with its stream known (`Package::module`, from MODULARITYLABEL)
/// it is looked up under the stream's key (see [`red_hat_ecosystem`]);
/// without it, it is not matched, and the diagnostic names it.
fn red_hat_source(package: &Package) -> Result<(&str, String), String> {
    let (name, version) = match &package.source {
        Some(source) => (
            source.name.as_str(),
            source.version.as_deref().unwrap_or(&package.version),
        ),
        None => (package.name.as_str(), package.version.as_str()),
    };
    let modular = |v: &str| v.contains(".module+el") || v.contains(".module_el");
    if package.module.is_none() && (modular(version) || modular(&package.version)) {
        return Err(format!(
            "rpm package {} {} is built in a module stream, but its rpm header names no stream (MODULARITYLABEL); not matched against Red Hat data",
            package.name, package.version
        ));
    }
    let epoch = package
        .version
        .split_once(':')
        .map(|(epoch, _)| epoch)
        .filter(|epoch| !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()));
    let version = match epoch {
        Some(epoch) if !version.contains(':') => format!("{epoch}:{version}"),
        _ => version.to_owned(),
    };
    Ok((name, version))
}

/// A modular build's key: the release's key with the stream appended
/// (`red hat:8/ruby:2.7`), as `advisory::redhat_csaf` writes module
/// streams, so a stream's build is only compared with its own stream's
/// fixes. Mainline packages keep the release's key.
fn red_hat_ecosystem(release_key: String, package: &Package) -> String {
    match &package.module {
        Some(module) => ecosystem_key(&format!("{release_key}/{module}")),
        None => release_key,
    }
}

/// The index's ecosystem key for OS packages of this image.
fn os_ecosystem(os: Option<&OsInfo>, kind: PackageKind) -> Result<String, String> {
    let Some(os) = os else {
        return Err(format!(
            "{kind} packages found but the image's OS release is unknown; not matched"
        ));
    };
    let version = os.version_id.as_deref().unwrap_or("").trim();
    let mut parts = version.split('.');
    let major = parts.next().filter(|m| !m.is_empty());
    let minor = parts.next();
    let unsupported = || {
        format!(
            "no advisory mapping for {kind} packages on {} {}; not matched",
            os.id, version
        )
    };
    let ecosystem = match (&os.family, kind) {
        (OsFamily::Debian, PackageKind::Deb) => {
            let major = major
                .map(str::to_owned)
                .or_else(|| debian_release(os.codename.as_deref()?).map(str::to_owned))
                .ok_or_else(unsupported)?;
            format!("Debian:{major}")
        }
        (OsFamily::Ubuntu, PackageKind::Deb) if !version.is_empty() => format!("Ubuntu:{version}"),
        (OsFamily::Alpine, PackageKind::Apk) => match (major, minor) {
            (Some(major), Some(minor)) => format!("Alpine:v{major}.{minor}"),
            _ => return Err(unsupported()),
        },
        (OsFamily::Wolfi, PackageKind::Apk) => "Wolfi".to_owned(),
        (OsFamily::Chainguard, PackageKind::Apk) => "Chainguard".to_owned(),
        (OsFamily::AlmaLinux, PackageKind::Rpm) => {
            format!("AlmaLinux:{}", major.ok_or_else(unsupported)?)
        }
        // RHEL, CentOS (Stream) and UBI: Red Hat's data for the major release.
        (OsFamily::RedHat | OsFamily::CentOS, PackageKind::Rpm) => {
            format!("Red Hat:{}", major.ok_or_else(unsupported)?)
        }
        (OsFamily::Rocky, PackageKind::Rpm) => {
            format!("Rocky Linux:{}", major.ok_or_else(unsupported)?)
        }
        _ => return Err(unsupported()),
    };
    Ok(ecosystem_key(&ecosystem))
}

/// Releases whose os-release lacks `VERSION_ID` (testing, sid) but names a codename.
fn debian_release(codename: &str) -> Option<&'static str> {
    Some(match codename {
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        _ => return None,
    })
}

#[cfg(test)]
mod redhat_tests;
#[cfg(test)]
mod tests;
