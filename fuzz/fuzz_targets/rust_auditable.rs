//! cargo-auditable data: whole files through the analyzer, and section
//! contents (zlib + JSON) directly.
#![no_main]

use std::io::Cursor;

use analyze::analyzers::rust_binary::{RustBinaryAnalyzer, parse_dep_info};
use analyze::{AnalysisOutput, Analyzer, FileInput, FileMeta};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((mode, data)) = input.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let mut body = Cursor::new(data);
        let mut out = AnalysisOutput::default();
        let meta = FileMeta {
            path: "usr/bin/fuzz",
            size: data.len() as u64,
            mode: 0o755,
        };
        let _ = RustBinaryAnalyzer.analyze(
            FileInput {
                meta,
                body: &mut body,
            },
            &mut out,
        );
    } else {
        let _ = parse_dep_info(data);
    }
});
