//! Advisory importers: each source's files in, [`model::Advisory`] (and
//! [`model::CveEnrichment`]) out. Parsing is pure and separate from fetching.
//!
//! Every importer is hostile-input safe: a malformed record is skipped and
//! counted in an [`ImportReport`] with the reason; one bad record or file never
//! aborts an import; sizes are capped.

mod report;

pub use report::{ImportError, ImportReport, SkippedRecord};
