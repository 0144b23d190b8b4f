//! The analyzers. Each is a public unit struct implementing [`crate::Analyzer`];
//! the registry lists them explicitly.

pub mod apk;
pub mod dpkg;
mod pkgdb;
pub mod rpm;

pub use apk::ApkAnalyzer;
pub use dpkg::DpkgAnalyzer;
pub use rpm::RpmAnalyzer;
