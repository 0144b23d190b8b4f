//! The advisory index: affected packages by (ecosystem, normalised name).

use std::collections::{HashMap, HashSet};

use model::{Advisory, CveEnrichment, SharedText};

use crate::scheme::PreparedEntry;
use crate::score::{VectorCache, cache_vector};

/// Where one affected package lives: advisory index, affected-entry index.
#[derive(Debug)]
pub(crate) struct EntryRef {
    pub advisory: u32,
    pub affected: u32,
    /// The entry's range and fixed versions, parsed once at build.
    pub prepared: PreparedEntry,
    /// The distro says this package is not affected.
    pub not_affected: bool,
}

/// An advisory's text, moved out of the advisory at build so findings share
/// it instead of copying it, and the vulnerabilities it is about.
#[derive(Debug)]
pub(crate) struct AdvisoryTexts {
    pub title: Option<SharedText>,
    pub description: Option<SharedText>,
    /// Reference URLs, each once, in published order; interned (see
    /// `AdvisoryIndex::urls`).
    pub references: Vec<SharedText>,
    /// See [`crate::vulnerability_ids`].
    pub vulnerability_ids: Vec<String>,
}

/// Builds an [`AdvisoryIndex`] one record at a time, so that a caller
/// reading records from storage hands each over as it is decoded instead of
/// holding all of them in a vector next to the index being built. Records
/// may come in any order and mix: the index is the same as
/// [`AdvisoryIndex::new`] over the advisories and enrichments in the order
/// each kind was added.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    index: AdvisoryIndex,
}

impl IndexBuilder {
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Room for `additional` more advisories, when the caller knows how
    /// many are coming (spares the growing vector's copies).
    pub fn reserve(&mut self, additional: usize) {
        self.index.advisories.reserve_exact(additional);
        self.index.texts.reserve_exact(additional);
    }

    pub fn add_advisory(&mut self, advisory: Advisory) {
        self.index.insert(advisory);
    }

    pub fn add_enrichment(&mut self, enrichment: CveEnrichment) {
        self.index.add_enrichment(enrichment);
    }

    pub fn finish(self) -> AdvisoryIndex {
        self.index.finish()
    }
}

/// Drops the spare capacity deserialization leaves in an advisory's
/// vectors (they grow by doubling): the index keeps every advisory for
/// its lifetime.
fn shrink(advisory: &mut Advisory) {
    advisory.aliases.shrink_to_fit();
    advisory.upstream.shrink_to_fit();
    advisory.related.shrink_to_fit();
    advisory.severity.shrink_to_fit();
    advisory.affected.shrink_to_fit();
    for affected in &mut advisory.affected {
        affected.versions.shrink_to_fit();
        affected.severity_scores.shrink_to_fit();
        affected.unaffected_requirements.shrink_to_fit();
        affected.ranges.shrink_to_fit();
        for range in &mut affected.ranges {
            range.events.shrink_to_fit();
        }
    }
}

/// All advisories, indexed for matching. Build once, match many images.
#[derive(Debug, Default)]
pub struct AdvisoryIndex {
    advisories: Vec<Advisory>,
    /// Parallel to `advisories`.
    texts: Vec<AdvisoryTexts>,
    /// ecosystem key → normalised package name → entries.
    packages: HashMap<String, HashMap<String, Vec<EntryRef>>>,
    enrichment: HashMap<String, CveEnrichment>,
    /// Enrichment descriptions, moved out of `enrichment` to be shared.
    enrichment_descriptions: HashMap<String, SharedText>,
    /// Every CVSS vector of the data, parsed once.
    vectors: VectorCache,
    /// Reference URLs, interned: one allocation per distinct URL, so
    /// findings merging several advisories dedupe them by pointer.
    urls: HashSet<SharedText>,
    withdrawn: usize,
}

impl AdvisoryIndex {
    /// Builds the index. Withdrawn advisories are dropped; several
    /// enrichment records for one CVE (NVD, EPSS, KEV) are merged.
    pub fn new(
        advisories: impl IntoIterator<Item = Advisory>,
        enrichments: impl IntoIterator<Item = CveEnrichment>,
    ) -> AdvisoryIndex {
        let mut builder = IndexBuilder::new();
        for advisory in advisories {
            builder.add_advisory(advisory);
        }
        for enrichment in enrichments {
            builder.add_enrichment(enrichment);
        }
        builder.finish()
    }

    fn finish(mut self) -> AdvisoryIndex {
        let index = &mut self;
        for advisory in &index.advisories {
            let affected = advisory.affected.iter().flat_map(|a| &a.severity_scores);
            for score in advisory.severity.iter().chain(affected) {
                cache_vector(&mut index.vectors, score);
            }
        }
        for enrichment in index.enrichment.values() {
            for score in &enrichment.cvss {
                cache_vector(&mut index.vectors, score);
            }
        }
        for (cve, enrichment) in &mut index.enrichment {
            if let Some(description) = enrichment.description.take() {
                index
                    .enrichment_descriptions
                    .insert(cve.clone(), SharedText::from(description));
            }
        }
        index.advisories.shrink_to_fit();
        index.texts.shrink_to_fit();
        self
    }

    fn insert(&mut self, mut advisory: Advisory) {
        if advisory.withdrawn.is_some() {
            self.withdrawn += 1;
            return;
        }
        shrink(&mut advisory);
        let Ok(advisory_position) = u32::try_from(self.advisories.len()) else {
            return;
        };
        for (affected_position, affected) in advisory.affected.iter().enumerate() {
            let Ok(affected_position) = u32::try_from(affected_position) else {
                break;
            };
            let ecosystem = ecosystem_key(&affected.ecosystem);
            let name = normalise_name(&ecosystem, &affected.name);
            let prepared = PreparedEntry::new(&ecosystem, affected);
            let not_affected = affected.distro_status == Some(model::DistroStatus::NotAffected);
            self.packages
                .entry(ecosystem)
                .or_default()
                .entry(name)
                .or_default()
                .push(EntryRef {
                    advisory: advisory_position,
                    affected: affected_position,
                    prepared,
                    not_affected,
                });
        }
        let mut references: Vec<SharedText> = Vec::new();
        for reference in std::mem::take(&mut advisory.references) {
            let url = match self.urls.get(reference.url.as_str()) {
                Some(known) => known.clone(),
                None => {
                    let url = SharedText::from(reference.url);
                    self.urls.insert(url.clone());
                    url
                }
            };
            if !references.iter().any(|known| known.same_allocation(&url)) {
                references.push(url);
            }
        }
        self.texts.push(AdvisoryTexts {
            title: advisory.summary.take().map(SharedText::from),
            description: advisory.details.take().map(SharedText::from),
            references,
            vulnerability_ids: crate::vulnerability_ids(&advisory),
        });
        self.advisories.push(advisory);
    }

    fn add_enrichment(&mut self, enrichment: CveEnrichment) {
        match self.enrichment.get_mut(&enrichment.cve) {
            None => {
                self.enrichment.insert(enrichment.cve.clone(), enrichment);
            }
            Some(known) => {
                known.cvss.extend(enrichment.cvss);
                if known.description.is_none() {
                    known.description = enrichment.description;
                }
                if known.epss.is_none() {
                    known.epss = enrichment.epss;
                }
                if known.kev_date_added.is_none() {
                    known.kev_date_added = enrichment.kev_date_added;
                }
            }
        }
    }

    /// Number of advisories kept (withdrawn ones excluded).
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Number of withdrawn advisories that were dropped.
    pub fn withdrawn(&self) -> usize {
        self.withdrawn
    }

    /// Number of distinct (ecosystem, package) keys.
    pub fn package_keys(&self) -> usize {
        self.packages.values().map(HashMap::len).sum()
    }

    /// A rough count of the heap bytes the index holds (strings, vectors and
    /// hash tables), for capacity planning; not an allocator measurement.
    pub fn approximate_heap_bytes(&self) -> usize {
        let advisories: usize = self.advisories.iter().map(advisory_bytes).sum::<usize>()
            + self.advisories.capacity() * size_of::<Advisory>();
        let table_entry = size_of::<String>() + size_of::<Vec<EntryRef>>() + 8;
        let packages: usize = self
            .packages
            .iter()
            .map(|(ecosystem, names)| {
                ecosystem.capacity()
                    + names.capacity() * table_entry
                    + names
                        .iter()
                        .map(|(name, refs)| {
                            name.capacity() + refs.capacity() * size_of::<EntryRef>()
                        })
                        .sum::<usize>()
            })
            .sum();
        let enrichment: usize = self
            .enrichment
            .values()
            .map(|e| {
                size_of::<CveEnrichment>()
                    + size_of::<String>()
                    + 2 * e.cve.capacity()
                    + e.description.as_ref().map_or(0, String::capacity)
                    + e.kev_date_added.as_ref().map_or(0, String::capacity)
                    + e.cvss
                        .iter()
                        .map(|s| {
                            s.kind.capacity()
                                + s.score.capacity()
                                + size_of::<model::SeverityScore>()
                        })
                        .sum::<usize>()
            })
            .sum();
        let texts: usize = self
            .texts
            .iter()
            .map(|t| {
                size_of::<AdvisoryTexts>()
                    + t.title.as_ref().map_or(0, |s| s.len())
                    + t.description.as_ref().map_or(0, |s| s.len())
                    + t.references
                        .iter()
                        .map(|r| r.len() + size_of::<SharedText>())
                        .sum::<usize>()
                    + strings_bytes(&t.vulnerability_ids)
            })
            .sum::<usize>()
            + self
                .enrichment_descriptions
                .iter()
                .map(|(cve, text)| cve.capacity() + text.len() + size_of::<SharedText>())
                .sum::<usize>();
        advisories + packages + enrichment + texts
    }

    pub(crate) fn lookup(&self, ecosystem: &str, name: &str) -> &[EntryRef] {
        self.packages
            .get(ecosystem)
            .and_then(|names| names.get(name))
            .map_or(&[], Vec::as_slice)
    }

    pub(crate) fn advisory(
        &self,
        entry: &EntryRef,
    ) -> Option<(&Advisory, &AdvisoryTexts, &model::AffectedPackage)> {
        let advisory = self.advisories.get(entry.advisory as usize)?;
        let texts = self.texts.get(entry.advisory as usize)?;
        let affected = advisory.affected.get(entry.affected as usize)?;
        Some((advisory, texts, affected))
    }

    pub(crate) fn vectors(&self) -> &VectorCache {
        &self.vectors
    }

    pub(crate) fn enrichment_description(&self, cve: &str) -> Option<&SharedText> {
        self.enrichment_descriptions.get(cve)
    }

    pub(crate) fn enrichment(&self, cve: &str) -> Option<&CveEnrichment> {
        self.enrichment.get(cve)
    }
}

fn strings_bytes<'a>(values: impl IntoIterator<Item = &'a String>) -> usize {
    values
        .into_iter()
        .map(|s| s.capacity() + size_of::<String>())
        .sum()
}

fn option_bytes(value: &Option<String>) -> usize {
    value.as_ref().map_or(0, String::capacity)
}

fn advisory_bytes(a: &Advisory) -> usize {
    let scores = |s: &[model::SeverityScore]| -> usize {
        s.iter()
            .map(|s| s.kind.capacity() + s.score.capacity() + size_of::<model::SeverityScore>())
            .sum()
    };
    let affected: usize = a
        .affected
        .iter()
        .map(|p| {
            size_of::<model::AffectedPackage>()
                + p.ecosystem.capacity()
                + p.name.capacity()
                + option_bytes(&p.purl)
                + option_bytes(&p.severity)
                + strings_bytes(&p.versions)
                + scores(&p.severity_scores)
                + p.ranges
                    .iter()
                    .map(|r| {
                        size_of::<model::AffectedRange>()
                            + r.events
                                .iter()
                                .map(|e| {
                                    size_of::<model::RangeEvent>()
                                        + match e {
                                            model::RangeEvent::Introduced(v)
                                            | model::RangeEvent::Fixed(v)
                                            | model::RangeEvent::LastAffected(v)
                                            | model::RangeEvent::Limit(v) => v.capacity(),
                                        }
                                })
                                .sum::<usize>()
                    })
                    .sum::<usize>()
                + p.unaffected_requirements
                    .iter()
                    .map(|r| r.requirement.capacity() + size_of::<model::UnaffectedRequirement>())
                    .sum::<usize>()
        })
        .sum();
    a.id.capacity()
        + strings_bytes(&a.aliases)
        + strings_bytes(&a.upstream)
        + strings_bytes(&a.related)
        + option_bytes(&a.summary)
        + option_bytes(&a.details)
        + option_bytes(&a.published)
        + option_bytes(&a.modified)
        + option_bytes(&a.database_severity)
        + scores(&a.severity)
        + affected
        + a.references
            .iter()
            .map(|r| r.kind.capacity() + r.url.capacity() + size_of::<model::AdvisoryReference>())
            .sum::<usize>()
}

/// The key an ecosystem string is indexed under: lowercase, and Ubuntu's
/// `:LTS` suffix dropped so `Ubuntu:22.04:LTS` and `Ubuntu:22.04` meet.
pub fn ecosystem_key(ecosystem: &str) -> String {
    let mut key = ecosystem.trim().to_ascii_lowercase();
    if key.starts_with("ubuntu:")
        && let Some(stripped) = key.strip_suffix(":lts")
    {
        key = stripped.to_owned();
    }
    key
}

/// Package names as each ecosystem compares them.
pub fn normalise_name(ecosystem_key: &str, name: &str) -> String {
    match ecosystem_key {
        "pypi" => pep503(name),
        // crates.io treats `-` and `_` as the same name, case-insensitively.
        "crates.io" => name.to_ascii_lowercase().replace('_', "-"),
        _ => name.to_owned(),
    }
}

/// PEP 503: lowercase, runs of `-`, `_`, `.` become one `-`.
pub(crate) fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            in_separator = true;
        } else {
            if in_separator && !out.is_empty() {
                out.push('-');
            }
            in_separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}
