//! NVD API 2.0 CVE pages
//! (`https://services.nvd.nist.gov/rest/json/cves/2.0?startIndex=…`):
//! `vulnerabilities[].cve{id, descriptions[], metrics{cvssMetricV40,
//! cvssMetricV31, cvssMetricV30, cvssMetricV2}[]{source, type, cvssData{vectorString}}}`
//! → one [`CveEnrichment`] per CVE with its CVSS vectors and English description.
//!
//! Vector order: primary (NVD's own assessment, `type: Primary`) before
//! secondary (CNA) ones; within each, newest CVSS version first (4.0, 3.1,
//! 3.0, 2). Kinds are named as OSV names them: `CVSS_V4`, `CVSS_V3` (3.0 and
//! 3.1 alike; the vector's `CVSS:3.x/` prefix tells them apart), `CVSS_V2`.

use std::path::Path;

use model::{CveEnrichment, SeverityScore};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::capped_read::{MAX_DOCUMENT_BYTES, read_file_capped};
use crate::file_walk::{files_under, has_extension};
use crate::{ImportError, ImportReport};

/// `vulnerabilities` is required: a document without it is not a page.
#[derive(Debug, Deserialize)]
struct RawPage {
    vulnerabilities: Vec<Box<RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawItem {
    cve: RawCve,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawCve {
    id: String,
    descriptions: Vec<RawDescription>,
    metrics: RawMetrics,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawDescription {
    lang: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawMetrics {
    #[serde(rename = "cvssMetricV40")]
    v40: Vec<RawMetric>,
    #[serde(rename = "cvssMetricV31")]
    v31: Vec<RawMetric>,
    #[serde(rename = "cvssMetricV30")]
    v30: Vec<RawMetric>,
    #[serde(rename = "cvssMetricV2")]
    v2: Vec<RawMetric>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawMetric {
    #[serde(rename = "type")]
    kind: String,
    cvss_data: RawCvssData,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawCvssData {
    vector_string: String,
}

/// Reads one NVD page file (at most [`MAX_DOCUMENT_BYTES`]) into `sink`.
pub fn import_nvd_page_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(CveEnrichment),
) -> Result<(), ImportError> {
    let bytes = read_file_capped(path, MAX_DOCUMENT_BYTES)?;
    for enrichment in parse_nvd_page(&bytes, &path.display().to_string(), report)? {
        sink(enrichment);
    }
    Ok(())
}

/// Imports every `.json` page under `root`; a page that cannot be read as a
/// whole is counted in `report` and the walk goes on.
pub fn import_nvd_dir(
    root: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(CveEnrichment),
) -> Result<(), ImportError> {
    let wanted = |path: &Path| has_extension(path, &["json"]);
    for file in files_under(root, report, &wanted)? {
        if let Err(error) = import_nvd_page_file(&file, report, sink) {
            report.skip(file.display().to_string(), error.to_string());
        }
    }
    Ok(())
}

/// Parses one API 2.0 page. Fails only when the page as a whole is not JSON of
/// that shape; each unreadable CVE is skipped and counted.
pub fn parse_nvd_page(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<Vec<CveEnrichment>, ImportError> {
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(ImportError::TooLarge {
            what: location.to_owned(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let page: RawPage = serde_json::from_slice(bytes).map_err(|error| ImportError::Malformed {
        what: location.to_owned(),
        format: "NVD API 2.0 JSON",
        message: error.to_string(),
    })?;
    let mut out = Vec::with_capacity(page.vulnerabilities.len());
    for (index, raw) in page.vulnerabilities.iter().enumerate() {
        let item_location = format!("{location}: vulnerabilities[{index}]");
        let item: RawItem = match serde_json::from_str(raw.get()) {
            Ok(item) => item,
            Err(error) => {
                report.skip(item_location, error.to_string());
                continue;
            }
        };
        match convert(item.cve) {
            Some(enrichment) => {
                report.imported += 1;
                out.push(enrichment);
            }
            None => report.skip(item_location, "CVE without an id"),
        }
    }
    Ok(out)
}

fn convert(cve: RawCve) -> Option<CveEnrichment> {
    let id = cve.id.trim();
    if id.is_empty() {
        return None;
    }
    let description = cve
        .descriptions
        .into_iter()
        .find(|d| d.lang.eq_ignore_ascii_case("en") && !d.value.trim().is_empty())
        .map(|d| d.value);
    Some(CveEnrichment {
        cve: id.to_owned(),
        cvss: ordered_vectors(cve.metrics),
        description,
        ..CveEnrichment::default()
    })
}

fn ordered_vectors(metrics: RawMetrics) -> Vec<SeverityScore> {
    let by_version = [
        ("CVSS_V4", metrics.v40),
        ("CVSS_V3", metrics.v31),
        ("CVSS_V3", metrics.v30),
        ("CVSS_V2", metrics.v2),
    ];
    let mut primary = Vec::new();
    let mut secondary = Vec::new();
    for (kind, list) in by_version {
        for metric in list {
            let vector = metric.cvss_data.vector_string.trim();
            if vector.is_empty() {
                continue;
            }
            let score = SeverityScore {
                kind: kind.to_owned(),
                score: vector.to_owned(),
            };
            let target = if metric.kind.eq_ignore_ascii_case("primary") {
                &mut primary
            } else {
                &mut secondary
            };
            if !target.contains(&score) {
                target.push(score);
            }
        }
    }
    // The same vector from NVD and a CNA is listed once, as NVD's.
    secondary.retain(|score| !primary.contains(score));
    primary.extend(secondary);
    primary
}

// Expected-value tables spell their row types out where they are read.
#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    fn metric(kind: &str, vector: &str) -> String {
        format!(
            r#"{{"source": "s", "type": "{kind}", "cvssData": {{"vectorString": "{vector}"}}}}"#
        )
    }

    #[test]
    fn vectors_primary_first_then_newest_version() {
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let v31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
        let v31b = "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
        let v30 = "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
        let v2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P";
        // (metrics object, expected (kind, vector) order)
        let table: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                format!(
                    r#"{{"cvssMetricV2": [{}], "cvssMetricV31": [{}, {}], "cvssMetricV40": [{}]}}"#,
                    metric("Primary", v2),
                    metric("Secondary", v31b),
                    metric("Primary", v31),
                    metric("Secondary", v4)
                ),
                vec![
                    ("CVSS_V3", v31),
                    ("CVSS_V2", v2),
                    ("CVSS_V4", v4),
                    ("CVSS_V3", v31b),
                ],
            ),
            (
                format!(
                    r#"{{"cvssMetricV30": [{}], "cvssMetricV31": [{}, {}]}}"#,
                    metric("Primary", v30),
                    metric("Secondary", v31),
                    metric("Primary", v31)
                ),
                vec![("CVSS_V3", v31), ("CVSS_V3", v30)],
            ),
            (
                format!(r#"{{"cvssMetricV2": [{}]}}"#, metric("Primary", "")),
                vec![],
            ),
            (r#"{}"#.to_owned(), vec![]),
        ];
        for (metrics, expected) in table {
            let page = format!(
                r#"{{"vulnerabilities": [{{"cve": {{"id": "CVE-2024-1", "metrics": {metrics}}}}}]}}"#
            );
            let mut report = ImportReport::default();
            let got = parse_nvd_page(page.as_bytes(), "p", &mut report).unwrap();
            let got: Vec<(&str, &str)> = got[0]
                .cvss
                .iter()
                .map(|s| (s.kind.as_str(), s.score.as_str()))
                .collect();
            assert_eq!(got, expected, "{metrics}");
        }
    }

    #[test]
    fn records_and_pages_table() {
        // (page, enrichments, skipped, first description)
        let table: &[(&str, Result<(usize, u64, Option<&str>), ()>)] = &[
            (
                r#"{"vulnerabilities": [{"cve": {"id": "CVE-1", "descriptions": [{"lang": "es", "value": "hola"}, {"lang": "en", "value": "hello"}]}}]}"#,
                Ok((1, 0, Some("hello"))),
            ),
            (
                r#"{"vulnerabilities": [{"cve": {"id": "CVE-1", "descriptions": [{"lang": "es", "value": "hola"}]}}]}"#,
                Ok((1, 0, None)),
            ),
            (
                r#"{"vulnerabilities": [{"cve": {"id": 5}}, {"cve": {"id": ""}}, {"cve": {"id": "CVE-2"}}, 3]}"#,
                Ok((1, 3, None)),
            ),
            (
                r#"{"resultsPerPage": 0, "vulnerabilities": []}"#,
                Ok((0, 0, None)),
            ),
            (r#"{}"#, Err(())),
            (r#"{"vulnerabilities": {}}"#, Err(())),
            (r#"[]"#, Err(())),
            (r#"{"#, Err(())),
        ];
        for (page, expected) in table {
            let mut report = ImportReport::default();
            let got = parse_nvd_page(page.as_bytes(), "p", &mut report);
            match expected {
                Ok((count, skipped, description)) => {
                    let got = got.unwrap_or_else(|e| panic!("{page}: {e}"));
                    assert_eq!(got.len(), *count, "{page}");
                    assert_eq!(report.skipped, *skipped, "{page}");
                    assert_eq!(report.imported, *count as u64, "{page}");
                    if let Some(first) = got.first() {
                        assert_eq!(first.description.as_deref(), *description, "{page}");
                    }
                }
                Err(()) => assert!(matches!(got, Err(ImportError::Malformed { .. })), "{page}"),
            }
        }
    }
}
