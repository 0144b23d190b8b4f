//! The analyzers, one module per file format. Each is a public unit struct
//! implementing [`crate::Analyzer`], listed explicitly in [`crate::default_analyzers`].

pub mod apk;
pub mod dpkg;
pub mod os_release;
mod pkgdb;
pub mod rpm;

pub use apk::ApkAnalyzer;
pub use dpkg::DpkgAnalyzer;
pub use os_release::OsReleaseAnalyzer;
pub use rpm::RpmAnalyzer;
