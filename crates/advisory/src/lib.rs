//! Advisory importers: each source's files in, [`model::Advisory`] (and
//! [`model::CveEnrichment`]) out. Parsing is pure and separate from fetching.
//!
//! Every importer is hostile-input safe: a malformed record is skipped and
//! counted in an [`ImportReport`] with the reason; one bad record or file never
//! aborts an import; sizes are capped.

mod input;
mod osv;
mod report;
mod rubysec;

pub use input::{MAX_FILE_BYTES, ZipLimits};
pub use osv::{
    import_osv_dir, import_osv_zip, import_osv_zip_file, parse_osv, parse_osv_json, parse_osv_yaml,
};
pub use report::{ImportError, ImportReport, SkippedRecord};
pub use rubysec::{import_rubysec_dir, parse_rubysec};
