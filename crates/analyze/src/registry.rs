//! The explicit list of analyzers: no hidden registration, so what runs (and
//! what the layer cache key covers) is visible here.

use model::AnalyzerId;

use crate::Analyzer;
use crate::analyzers::os_release::OsReleaseAnalyzer;

/// Every analyzer a scan runs, in a fixed order.
pub fn default_analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(OsReleaseAnalyzer)]
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
        assert!(ids.contains(&AnalyzerId::new("os-release", 1)), "{ids:?}");
    }
}
