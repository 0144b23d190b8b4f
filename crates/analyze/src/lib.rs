//! Layer analysis. Pure: this crate never touches the network or a store; it
//! takes a layer's bytes and returns what is inside.
//!
//! Each [`Analyzer`] declares which files it wants ([`Analyzer::wants`]) and
//! turns one file into packages (or OS facts). The layer walker feeds every
//! wanted file of a layer to its analyzers and builds a
//! [`model::LayerInventory`]; `apply_layers` folds the layers of an image into
//! a [`model::ImageInventory`].

mod analyzer;
pub mod analyzers;

pub use analyzer::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta, ReadSeek};
