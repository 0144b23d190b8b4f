//! Orchestration. For now: one image from a registry or OCI layout to its
//! inventory ([`scan_image`]), with the shared on-disk [`LayerCache`]. Later:
//! the fleet scan queue, matching and persistence.

mod bridge;
mod cache;
mod scan;

pub use cache::{CacheKey, LayerCache};
pub use scan::{
    AnalyzerSet, LayerOutcome, NoProgress, ScanError, ScanOptions, ScanProgress, ScanReport,
    scan_image,
};
