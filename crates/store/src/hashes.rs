//! Content hashes of an image's findings and package summaries: what lets a
//! findings write compare instead of rewriting. Computed from the values
//! alone (no store), so a re-match computes them on its matching threads.

use model::Finding;
use sha2::{Digest as _, Sha256};

use crate::{PackageSummary, Result, StoreError};

/// Hashes of one image's findings and packages (SHA-256 of their JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingsHashes {
    /// Per finding, in the order given: the first 8 bytes of the SHA-256 of
    /// its JSON body, as stored in `finding.content_hash`.
    pub(crate) per_finding: Vec<i64>,
    /// Order-independent hash of the set of (fingerprint, content hash).
    pub(crate) findings: Vec<u8>,
    pub(crate) packages: Vec<u8>,
}

impl FindingsHashes {
    /// The hashes of exactly these findings and packages.
    pub fn of(findings: &[Finding], packages: &[PackageSummary]) -> Result<FindingsHashes> {
        let mut json = Vec::new();
        let per_finding = findings
            .iter()
            .map(|finding| {
                json.clear();
                serde_json::to_writer(&mut json, finding).map_err(|e| StoreError::Encode {
                    what: "finding",
                    message: e.to_string(),
                })?;
                Ok(content_hash(&json))
            })
            .collect::<Result<Vec<i64>>>()?;
        let mut keys: Vec<(&str, i64)> = findings
            .iter()
            .map(|f| f.fingerprint.as_str())
            .zip(per_finding.iter().copied())
            .collect();
        // Sorted, so the same findings in another order hash the same.
        keys.sort_unstable();
        let mut hasher = Sha256::new();
        for (fingerprint, hash) in keys {
            // Length-prefixed: no two sets feed the hasher the same bytes.
            hasher.update((fingerprint.len() as u64).to_be_bytes());
            hasher.update(fingerprint.as_bytes());
            hasher.update(hash.to_be_bytes());
        }
        json.clear();
        serde_json::to_writer(&mut json, packages).map_err(|e| StoreError::Encode {
            what: "package summaries",
            message: e.to_string(),
        })?;
        Ok(FindingsHashes {
            per_finding,
            findings: hasher.finalize().to_vec(),
            packages: Sha256::digest(&json).to_vec(),
        })
    }

    /// Findings hashed.
    pub fn len(&self) -> usize {
        self.per_finding.len()
    }

    pub fn is_empty(&self) -> bool {
        self.per_finding.is_empty()
    }
}

/// The first 8 bytes of the SHA-256 of a finding's JSON body.
fn content_hash(json: &[u8]) -> i64 {
    let digest = Sha256::digest(json);
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(head)
}

#[cfg(test)]
mod tests {
    use super::FindingsHashes;
    use crate::fixtures::{finding, package_summaries};
    use model::Severity;

    /// (case, findings of the second set relative to [a, b], equal?).
    #[test]
    fn hashes_table() {
        let a = finding("CVE-1", Severity::High, Some(7.0), ("a", "1"), 0, None);
        let b = finding("CVE-2", Severity::Low, None, ("b", "1"), 0, Some("2"));
        let mut b_rescored = b.clone();
        b_rescored.epss = Some((0.1, 0.5));
        let base = FindingsHashes::of(&[a.clone(), b.clone()], &[]).unwrap();
        let table: Vec<(&str, Vec<model::Finding>, bool)> = vec![
            ("same", vec![a.clone(), b.clone()], true),
            ("other order", vec![b.clone(), a.clone()], true),
            ("one gone", vec![a.clone()], false),
            ("content changed", vec![a.clone(), b_rescored], false),
            ("none", vec![], false),
        ];
        for (case, findings, equal) in table {
            let got = FindingsHashes::of(&findings, &[]).unwrap();
            assert_eq!(got.findings == base.findings, equal, "{case}");
            assert_eq!(got.len(), findings.len(), "{case}");
        }
        let packages = package_summaries(std::slice::from_ref(&a));
        assert_ne!(
            FindingsHashes::of(std::slice::from_ref(&a), &packages)
                .unwrap()
                .packages,
            FindingsHashes::of(&[a], &[]).unwrap().packages
        );
    }
}
