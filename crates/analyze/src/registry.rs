//! The explicit list of analyzers: no hidden registration, so what runs (and
//! what the layer cache key covers) is visible here.

use model::AnalyzerId;

use crate::Analyzer;
use crate::analyzers::{
    ApkAnalyzer, DpkgAnalyzer, GemspecAnalyzer, GoBinaryAnalyzer, JavaArchiveAnalyzer,
    NpmPackageAnalyzer, OsReleaseAnalyzer, PythonPackageAnalyzer, RpmAnalyzer, RustBinaryAnalyzer,
};

/// Every analyzer a scan runs, in a fixed order.
pub fn default_analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        // Operating system and its package databases.
        Box::new(OsReleaseAnalyzer),
        Box::new(DpkgAnalyzer),
        Box::new(ApkAnalyzer),
        Box::new(RpmAnalyzer),
        // Language packages.
        Box::new(PythonPackageAnalyzer),
        Box::new(NpmPackageAnalyzer),
        Box::new(GemspecAnalyzer),
        Box::new(JavaArchiveAnalyzer),
        // Compiled binaries.
        Box::new(GoBinaryAnalyzer),
        Box::new(RustBinaryAnalyzer),
    ]
}

/// Sorted names and versions of `analyzers`: part of the layer cache key, so
/// a new or bumped analyzer invalidates cached layer results.
pub fn analyzer_ids(analyzers: &[Box<dyn Analyzer>]) -> Vec<AnalyzerId> {
    let mut ids: Vec<AnalyzerId> = analyzers.iter().map(|a| a.id()).collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sorted_and_unique() {
        let analyzers = default_analyzers();
        let ids = analyzer_ids(&analyzers);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(
            ids.len(),
            analyzers.len(),
            "analyzer names must be unique: {ids:?}"
        );
        for name in [
            "os-release",
            "dpkg",
            "apk",
            "rpm",
            "python-metadata",
            "npm-package-json",
            "gemspec",
            "java-archive",
            "go-binary",
            "rust-binary",
        ] {
            assert!(
                ids.iter().any(|id| id.name == name),
                "{name} missing from {ids:?}"
            );
        }
    }
}
