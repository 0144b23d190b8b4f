//! Domain types shared by every Shipshape crate. No I/O, no async.
//!
//! The names follow `ARCHITECTURE.md`: an [`Image`](ImageMetadata) is one
//! per-platform manifest digest; a [`Layer`](LayerDescriptor) is identified by
//! its [`DiffId`]; a [`Package`] always carries [`Evidence`] of where it was found.

mod advisory;
mod digest;
mod finding;
mod image;
mod inventory;
mod package;
mod platform;
mod purl;

pub use advisory::{
    Advisory, AdvisoryReference, AdvisorySource, AffectedPackage, AffectedRange, CveEnrichment,
    DistroStatus, RangeEvent, RangeKind, RequirementKind, SeverityScore, UnaffectedRequirement,
};
pub use digest::{DiffId, Digest, DigestAlgorithm, DigestError};
pub use finding::{
    CvssScore, Finding, FindingEvidence, FindingPackage, FixState, Severity, SharedText,
};
pub use image::{HistoryEntry, ImageConfigSummary, ImageMetadata, LayerDescriptor};
pub use inventory::{
    Diagnostic, DiagnosticLevel, ImageInventory, LayerInventory, LayerStats, OsFamily, OsInfo,
};
pub use package::{AnalyzerId, Evidence, Package, PackageKind, SourcePackage};
pub use platform::{Platform, PlatformError};
pub use purl::PackageUrl;
