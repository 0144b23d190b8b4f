#![no_main]

use std::io::Cursor;

use analyze::analyzers::npm::NpmPackageAnalyzer;
use analyze::{AnalysisOutput, Analyzer, FileInput, FileMeta};
use libfuzzer_sys::fuzz_target;

// Any bytes must give packages, diagnostics or an error, never a panic or an
// unbounded allocation.
fuzz_target!(|data: &[u8]| {
    let mut body = Cursor::new(data);
    let meta = FileMeta {
        path: "app/node_modules/x/package.json",
        size: data.len() as u64,
        mode: 0o644,
    };
    let mut out = AnalysisOutput::default();
    let _ = NpmPackageAnalyzer.analyze(
        FileInput {
            meta,
            body: &mut body,
        },
        &mut out,
    );
});
