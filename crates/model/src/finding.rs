//! A vulnerability found in one package of an image, as the matchers report it.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{AdvisorySource, DiffId, PackageKind};

/// Severity of a finding: the vendor's word where the source gives one, else
/// derived from the CVSS base score. Ordered from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Negligible,
    Unknown,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Negligible => "negligible",
            Severity::Unknown => "unknown",
        }
    }

    /// The CVSS v3/v4 qualitative rating of a base score.
    pub fn from_cvss_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Negligible
        }
    }

    /// Reads a vendor severity word (Debian urgency, GHSA `MODERATE`, Alpine,
    /// RubySec `criticality`). Debian's `unimportant` and `end-of-life`
    /// triage words are negligible; unknown words give `None`.
    pub fn from_vendor(word: &str) -> Option<Severity> {
        let word = word
            .trim()
            .trim_end_matches('*')
            .trim()
            .to_ascii_lowercase();
        Some(match word.as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" => Severity::Low,
            "negligible" | "unimportant" | "none" => Severity::Negligible,
            _ => return None,
        })
    }
}

/// Whether (and how) the affected package can be fixed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixState {
    /// A fixed version above the installed one exists.
    Fixed,
    /// Affected, no fix published (or the distro has not decided yet).
    NotFixed,
    /// The distro will not fix it, with the reason it gives.
    WontFix(String),
}

/// A CVSS base score and the vector it was computed from (when there is one:
/// some sources publish a bare score).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// `3.1`, `3.0`, `4.0`, `2.0`.
    pub version: String,
    pub base_score: f64,
    pub vector: Option<String>,
}

/// The package a finding is about, copied from the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FindingPackage {
    pub kind: PackageKind,
    pub name: String,
    pub installed_version: String,
    /// The name the advisory data was looked up by (a distro source package,
    /// a PEP 503-normalised PyPI name, …).
    pub matched_name: String,
    pub layer_index: Option<u32>,
    pub layer_diff_id: Option<DiffId>,
    pub path: String,
}

/// One advisory that led to a finding, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FindingEvidence {
    pub source: AdvisorySource,
    pub advisory_id: String,
    /// The ecosystem string of the affected entry that matched (`Debian:12`, `PyPI`).
    pub ecosystem: String,
    /// Name of the matcher (`dpkg`, `pypi`, …).
    pub matcher: String,
    /// The range, listed version or rule that matched, as text.
    pub rule: String,
}

/// A vulnerability in one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The CVE when any merged advisory has one, else an advisory ID.
    pub id: String,
    /// Every other ID of the merged advisories, sorted.
    pub aliases: Vec<String>,
    pub package: FindingPackage,
    /// Every fixed version the matching advisories give, as written.
    pub fixed_versions: Vec<String>,
    /// The smallest fixed version above the installed one.
    pub fixed_version: Option<String>,
    pub state: FixState,
    pub severity: Severity,
    /// The CVSS score findings are ordered by: v3.x when known, else v4.0, else v2.
    pub cvss: Option<CvssScore>,
    pub cvss_v3: Option<CvssScore>,
    pub cvss_v4: Option<CvssScore>,
    /// EPSS probability and percentile (0–1).
    pub epss: Option<(f64, f64)>,
    /// Date the CVE was added to CISA's KEV catalog.
    pub kev_date_added: Option<String>,
    pub title: Option<SharedText>,
    pub description: Option<SharedText>,
    pub references: Vec<SharedText>,
    pub evidence: Vec<FindingEvidence>,
    /// SHA-256 (hex) of the package identity and `id`: stable across data
    /// updates and advisory order.
    pub fingerprint: String,
}

/// Advisory text that many findings repeat (titles, descriptions, reference
/// URLs): held once by the advisory index, so a finding's copy is a
/// reference-count increment rather than a copy of the text. Serialises as
/// a plain string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharedText(Arc<str>);

impl SharedText {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether both hold the very same text allocation: a cheap equality
    /// test where texts were interned (equal texts share one allocation).
    pub fn same_allocation(&self, other: &SharedText) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for SharedText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Hashes and compares as its text, so a set of them can be probed by `&str`.
impl Borrow<str> for SharedText {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SharedText {
    fn from(text: &str) -> SharedText {
        SharedText(Arc::from(text))
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> SharedText {
        SharedText(Arc::from(text))
    }
}

impl PartialEq<str> for SharedText {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl Serialize for SharedText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedText, D::Error> {
        String::deserialize(deserializer).map(SharedText::from)
    }
}
