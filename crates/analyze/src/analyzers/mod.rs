//! File analyzers for language package ecosystems. Each is a unit struct
//! implementing [`crate::Analyzer`]; the registry lists them explicitly.

pub mod gemspec;
pub mod java;
mod lang_common;
pub mod npm;
pub mod python;
