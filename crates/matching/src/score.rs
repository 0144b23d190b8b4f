//! CVSS base scores from vectors, and the severity of a finding.

use std::collections::HashMap;
use std::str::FromStr;

use model::{CvssScore, SeverityScore};

/// The v3.x, v4.0 and v2 scores found among `scores` (first valid one of
/// each version wins), plus the vectors that did not parse.
/// What a CVSS vector string parses to, computed once per distinct vector
/// when the index is built (see [`VectorCache`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Vector {
    /// The version the vector names (`None`: one this code does not name),
    /// and its base score.
    Scored(Option<&'static str>, f64),
    /// Parsed, but the score is not a finite number: ignored.
    NotFinite,
    /// Does not parse: reported.
    Invalid,
}

/// Parsed vectors by their trimmed text.
pub(crate) type VectorCache = HashMap<Box<str>, Vector>;

pub(crate) fn parse_vector(text: &str) -> Vector {
    match cvss::Cvss::from_str(text) {
        Ok(parsed) => {
            let version = match parsed {
                cvss::Cvss::CvssV30(_) => Some("3.0"),
                cvss::Cvss::CvssV31(_) => Some("3.1"),
                cvss::Cvss::CvssV40(_) => Some("4.0"),
                cvss::Cvss::CvssV20(_) => Some("2.0"),
                _ => None,
            };
            let score = parsed.score();
            if score.is_finite() {
                Vector::Scored(version, score)
            } else {
                Vector::NotFinite
            }
        }
        Err(_) => Vector::Invalid,
    }
}

/// Adds `score` to `cache` when it is a vector [`Scores::add`] would parse.
pub(crate) fn cache_vector(cache: &mut VectorCache, score: &SeverityScore) {
    let kind = score.kind.to_ascii_uppercase();
    if matches!(kind.as_str(), "CVSS_V3" | "CVSS_V4" | "CVSS_V2") {
        let text = score.score.trim();
        if !cache.contains_key(text) {
            cache.insert(text.into(), parse_vector(text));
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Scores {
    pub v3: Option<CvssScore>,
    pub v4: Option<CvssScore>,
    pub v2: Option<CvssScore>,
    pub invalid: Vec<String>,
}

impl Scores {
    /// `cache`: vectors parsed in advance; others are parsed here.
    pub(crate) fn add(&mut self, score: &SeverityScore, cache: &VectorCache) {
        let kind = score.kind.to_ascii_uppercase();
        let (slot, version) = match kind.as_str() {
            "CVSS_V3" | "CVSS_V3_SCORE" => (&mut self.v3, "3"),
            "CVSS_V4" | "CVSS_V4_SCORE" => (&mut self.v4, "4.0"),
            "CVSS_V2" | "CVSS_V2_SCORE" => (&mut self.v2, "2.0"),
            _ => return,
        };
        if slot.is_some() {
            return;
        }
        if kind.ends_with("_SCORE") {
            match score.score.trim().parse::<f64>() {
                Ok(value) if (0.0..=10.0).contains(&value) => {
                    *slot = Some(CvssScore {
                        version: version.to_owned(),
                        base_score: value,
                        vector: None,
                    });
                }
                _ => self.invalid.push(score.score.clone()),
            }
            return;
        }
        let text = score.score.trim();
        let parsed = cache
            .get(text)
            .copied()
            .unwrap_or_else(|| parse_vector(text));
        match parsed {
            Vector::Scored(parsed_version, score_value) => {
                *slot = Some(CvssScore {
                    version: parsed_version.unwrap_or(version).to_owned(),
                    base_score: score_value,
                    vector: Some(text.to_owned()),
                });
            }
            Vector::NotFinite => {}
            Vector::Invalid => self.invalid.push(score.score.clone()),
        }
    }

    /// The score findings are ranked by: v3.x, else v4.0, else v2.
    pub(crate) fn primary(&self) -> Option<CvssScore> {
        self.v3
            .clone()
            .or_else(|| self.v4.clone())
            .or_else(|| self.v2.clone())
    }
}
