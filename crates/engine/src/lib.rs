//! Orchestration: one image from a registry or OCI layout to its inventory
//! ([`scan_image`]) with the shared on-disk [`LayerCache`]; the fleet
//! scanner ([`fleet`]) that drives the store's scan queue; re-matching stored
//! inventories when the advisory database changes ([`rematch`]); and the
//! advisory database update ([`update`]) the CLI and the server share.

mod bridge;
mod cache;
pub mod fleet;
pub mod locate;
pub mod rematch;
mod scan;
mod summary;
pub mod update;

pub use cache::{CacheKey, LayerCache};
pub use scan::{
    AnalyzerSet, LayerOutcome, NoProgress, ScanError, ScanOptions, ScanProgress, ScanReport,
    scan_image,
};
pub use summary::package_summaries;
