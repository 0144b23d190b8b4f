//! The analyzers, one module per file format. Listed in [`crate::default_analyzers`].

pub mod os_release;
