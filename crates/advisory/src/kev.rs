//! CISA Known Exploited Vulnerabilities catalog
//! (`known_exploited_vulnerabilities.json`): `vulnerabilities[].{cveID,
//! dateAdded, knownRansomwareCampaignUse, …}` → one [`CveEnrichment`] per CVE
//! with `kev_date_added` (and the ransomware note) set. A lone entry object
//! (as CISA's per-entry fixtures are) is read as a one-entry catalog.

use std::path::Path;

use model::CveEnrichment;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::capped_read::{MAX_DOCUMENT_BYTES, read_file_capped};
use crate::{ImportError, ImportReport};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCatalog {
    vulnerabilities: Option<Vec<Box<RawValue>>>,
    #[serde(rename = "cveID")]
    cve_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    date_added: String,
    known_ransomware_campaign_use: Option<String>,
}

/// Reads a KEV catalog file (at most [`MAX_DOCUMENT_BYTES`]) into `sink`.
pub fn import_kev_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(CveEnrichment),
) -> Result<(), ImportError> {
    let bytes = read_file_capped(path, MAX_DOCUMENT_BYTES)?;
    for enrichment in parse_kev(&bytes, &path.display().to_string(), report)? {
        sink(enrichment);
    }
    Ok(())
}

/// Parses the catalog; fails only when it is not a KEV JSON document as a
/// whole, each unreadable entry being skipped and counted.
pub fn parse_kev(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<Vec<CveEnrichment>, ImportError> {
    let malformed = |message: String| ImportError::Malformed {
        what: location.to_owned(),
        format: "CISA KEV JSON",
        message,
    };
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(ImportError::TooLarge {
            what: location.to_owned(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let catalog: RawCatalog =
        serde_json::from_slice(bytes).map_err(|error| malformed(error.to_string()))?;
    let entries: Vec<(String, Result<RawEntry, String>)> =
        match (catalog.vulnerabilities, catalog.cve_id) {
            (Some(list), _) => list
                .iter()
                .enumerate()
                .map(|(index, raw)| {
                    (
                        format!("{location}: vulnerabilities[{index}]"),
                        serde_json::from_str::<RawEntry>(raw.get()).map_err(|e| e.to_string()),
                    )
                })
                .collect(),
            (None, Some(_)) => vec![(
                location.to_owned(),
                serde_json::from_slice::<RawEntry>(bytes).map_err(|e| e.to_string()),
            )],
            (None, None) => {
                return Err(malformed(
                    "neither a vulnerabilities list nor a single entry".to_owned(),
                ));
            }
        };
    let mut out = Vec::with_capacity(entries.len());
    for (entry_location, entry) in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(reason) => {
                report.skip(entry_location, reason);
                continue;
            }
        };
        let cve = entry.cve_id.trim();
        let date_added = entry.date_added.trim();
        if cve.is_empty() || date_added.is_empty() {
            report.skip(entry_location, "entry without cveID or dateAdded");
            continue;
        }
        report.imported += 1;
        out.push(CveEnrichment {
            cve: cve.to_owned(),
            kev_date_added: Some(date_added.to_owned()),
            kev_ransomware_use: entry
                .known_ransomware_campaign_use
                .map(|use_| use_.trim().to_owned())
                .filter(|use_| !use_.is_empty()),
            ..CveEnrichment::default()
        });
    }
    Ok(out)
}

// Expected-value tables spell their row types out where they are read.
#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_table() {
        // (document, (cve, date, ransomware) kept, skipped)
        type Row<'a> = (&'a str, &'a str, Option<&'a str>);
        let table: &[(&str, Result<(Vec<Row<'_>>, u64), ()>)] = &[
            (
                r#"{"title": "t", "count": 2, "vulnerabilities": [
                    {"cveID": "CVE-2025-0108", "dateAdded": "2025-02-18", "knownRansomwareCampaignUse": "Unknown"},
                    {"cveID": "CVE-2021-44228", "dateAdded": "2021-12-10", "knownRansomwareCampaignUse": "Known", "cwes": ["CWE-20"]}]}"#,
                Ok((
                    vec![
                        ("CVE-2025-0108", "2025-02-18", Some("Unknown")),
                        ("CVE-2021-44228", "2021-12-10", Some("Known")),
                    ],
                    0,
                )),
            ),
            (
                r#"{"cveID": "CVE-2025-0108", "dateAdded": "2025-02-18"}"#,
                Ok((vec![("CVE-2025-0108", "2025-02-18", None)], 0)),
            ),
            (
                r#"{"vulnerabilities": [{"cveID": 5}, {"cveID": "CVE-1"}, {"dateAdded": "2020-01-01"}, [], {"cveID": "CVE-2", "dateAdded": "2020-01-01", "knownRansomwareCampaignUse": ""}]}"#,
                Ok((vec![("CVE-2", "2020-01-01", None)], 4)),
            ),
            (r#"{"vulnerabilities": []}"#, Ok((vec![], 0))),
            (r#"{"vulnerabilities": 3}"#, Err(())),
            (r#"{"title": "no entries"}"#, Err(())),
            (r#"[]"#, Err(())),
            (r#""#, Err(())),
        ];
        for (document, expected) in table {
            let mut report = ImportReport::default();
            let got = parse_kev(document.as_bytes(), "kev", &mut report);
            match expected {
                Ok((rows, skipped)) => {
                    let got = got.unwrap_or_else(|e| panic!("{document}: {e}"));
                    let got_rows: Vec<Row<'_>> = got
                        .iter()
                        .map(|e| {
                            (
                                e.cve.as_str(),
                                e.kev_date_added.as_deref().unwrap_or_default(),
                                e.kev_ransomware_use.as_deref(),
                            )
                        })
                        .collect();
                    assert_eq!(&got_rows, rows, "{document}");
                    assert_eq!(report.skipped, *skipped, "{document}");
                    assert!(got.iter().all(|e| e.cvss.is_empty() && e.epss.is_none()));
                }
                Err(()) => assert!(got.is_err(), "{document}"),
            }
        }
    }
}
