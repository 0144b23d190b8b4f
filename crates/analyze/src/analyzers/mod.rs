//! The analyzers, one module per file format. Each is a public unit struct
//! implementing [`crate::Analyzer`], listed explicitly in [`crate::default_analyzers`].

pub mod apk;
pub mod dpkg;
mod elf;
pub mod gemspec;
pub mod go_binary;
pub mod java;
mod lang_common;
pub mod npm;
pub mod os_release;
mod pkgdb;
pub mod python;
pub mod rpm;
pub mod rust_binary;

pub use apk::ApkAnalyzer;
pub use dpkg::DpkgAnalyzer;
pub use gemspec::GemspecAnalyzer;
pub use go_binary::GoBinaryAnalyzer;
pub use java::JavaArchiveAnalyzer;
pub use npm::NpmPackageAnalyzer;
pub use os_release::OsReleaseAnalyzer;
pub use python::PythonPackageAnalyzer;
pub use rpm::RpmAnalyzer;
pub use rust_binary::RustBinaryAnalyzer;
