use std::collections::BTreeMap;
use std::fmt;

/// Records kept with their reasons at most; beyond that only counted.
const MAX_KEPT_SKIPS: usize = 200;

/// Why an importer could not read a whole input (a file, an archive). Bad
/// *records* inside an input are not errors: they go to [`ImportReport`].
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not valid {format}: {message}")]
    Malformed {
        what: String,
        format: &'static str,
        message: String,
    },
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
}

/// One record an importer skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// File (and entry) it came from, and the record ID when known.
    pub location: String,
    pub reason: String,
}

impl fmt::Display for SkippedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

/// What an import did: records read, records skipped (with reasons, the first
/// ones kept in full), and ecosystems seen that no matcher knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    pub skipped: u64,
    /// The first skipped records with their reasons.
    pub skipped_records: Vec<SkippedRecord>,
    /// Ecosystem strings seen, with how many affected packages used each.
    pub ecosystems: BTreeMap<String, u64>,
}

impl ImportReport {
    pub fn skip(&mut self, location: impl Into<String>, reason: impl Into<String>) {
        self.skipped += 1;
        if self.skipped_records.len() < MAX_KEPT_SKIPS {
            self.skipped_records.push(SkippedRecord {
                location: location.into(),
                reason: reason.into(),
            });
        }
    }

    pub fn count_ecosystem(&mut self, ecosystem: &str) {
        *self.ecosystems.entry(ecosystem.to_owned()).or_default() += 1;
    }

    /// Adds another report's counts into this one.
    pub fn merge(&mut self, other: ImportReport) {
        self.imported += other.imported;
        self.skipped += other.skipped;
        for record in other.skipped_records {
            if self.skipped_records.len() < MAX_KEPT_SKIPS {
                self.skipped_records.push(record);
            }
        }
        for (ecosystem, n) in other.ecosystems {
            *self.ecosystems.entry(ecosystem).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_counted_beyond_the_kept_ones() {
        let mut report = ImportReport::default();
        for i in 0..(MAX_KEPT_SKIPS + 5) {
            report.skip(format!("f{i}"), "bad");
        }
        assert_eq!(report.skipped, (MAX_KEPT_SKIPS + 5) as u64);
        assert_eq!(report.skipped_records.len(), MAX_KEPT_SKIPS);

        let mut other = ImportReport {
            imported: 3,
            ..ImportReport::default()
        };
        other.count_ecosystem("PyPI");
        report.count_ecosystem("PyPI");
        report.merge(other);
        assert_eq!(report.imported, 3);
        assert_eq!(report.ecosystems["PyPI"], 2);
    }
}
