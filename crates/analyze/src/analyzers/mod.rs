//! File analyzers. Each is a unit struct implementing [`crate::Analyzer`].

mod elf;
pub mod go_binary;
pub mod rust_binary;
