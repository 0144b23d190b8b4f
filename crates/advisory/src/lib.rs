//! Advisory importers: each source's files in, [`model::Advisory`] (and
//! [`model::CveEnrichment`]) out. Parsing is pure and separate from fetching.
//!
//! Every importer is hostile-input safe: a malformed record is skipped and
//! counted in an [`ImportReport`] with the reason; one bad record or file never
//! aborts an import; sizes are capped.

pub mod alpine_secdb;
mod capped_read;
pub mod debian_list;
pub mod debian_release;
pub mod debian_tracker;
pub mod detect;
pub mod epss;
mod file_walk;
mod input;
pub mod kev;
pub mod nvd;
mod osv;
pub mod redhat_csaf;
mod report;
mod rubysec;

pub use alpine_secdb::{import_alpine_secdb_dir, import_alpine_secdb_file, parse_alpine_secdb};
pub use capped_read::MAX_DOCUMENT_BYTES;
pub use debian_list::{
    import_debian_advisory_list_file, import_debian_advisory_lists_dir, parse_debian_advisory_list,
    read_debian_advisory_list,
};
pub use debian_tracker::{import_debian_tracker_file, parse_debian_tracker, read_debian_tracker};
pub use epss::{EpssMetadata, import_epss_file, parse_epss, read_epss};
pub use input::{MAX_FILE_BYTES, ZipLimits};
pub use kev::{import_kev_file, parse_kev};
pub use nvd::{import_nvd_dir, import_nvd_page_file, parse_nvd_page};
pub use osv::{
    import_osv_dir, import_osv_zip, import_osv_zip_file, parse_osv, parse_osv_json, parse_osv_yaml,
};
pub use redhat_csaf::{
    import_redhat_csaf_archive, import_redhat_csaf_dir, import_redhat_csaf_file, parse_redhat_csaf,
    read_redhat_csaf_archive,
};
pub use report::{ImportError, ImportReport, SkippedRecord};
pub use rubysec::{import_rubysec_dir, parse_rubysec};
