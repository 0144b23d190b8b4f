//! CVSS base scores from vectors, and the severity of a finding.

use std::str::FromStr;

use model::{CvssScore, SeverityScore};

/// The v3.x, v4.0 and v2 scores found among `scores` (first valid one of
/// each version wins), plus the vectors that did not parse.
#[derive(Debug, Default)]
pub(crate) struct Scores {
    pub v3: Option<CvssScore>,
    pub v4: Option<CvssScore>,
    pub v2: Option<CvssScore>,
    pub invalid: Vec<String>,
}

impl Scores {
    pub(crate) fn add(&mut self, score: &SeverityScore) {
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
        match cvss::Cvss::from_str(score.score.trim()) {
            Ok(parsed) => {
                let version = match parsed {
                    cvss::Cvss::CvssV30(_) => "3.0",
                    cvss::Cvss::CvssV31(_) => "3.1",
                    cvss::Cvss::CvssV40(_) => "4.0",
                    cvss::Cvss::CvssV20(_) => "2.0",
                    _ => version,
                };
                let score_value = parsed.score();
                if score_value.is_finite() {
                    *slot = Some(CvssScore {
                        version: version.to_owned(),
                        base_score: score_value,
                        vector: Some(score.score.trim().to_owned()),
                    });
                }
            }
            Err(_) => self.invalid.push(score.score.clone()),
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
