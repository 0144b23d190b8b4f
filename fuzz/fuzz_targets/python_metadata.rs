#![no_main]

use std::io::Cursor;

use analyze::analyzers::python::PythonPackageAnalyzer;
use analyze::{AnalysisOutput, Analyzer, FileInput, FileMeta};
use libfuzzer_sys::fuzz_target;

// Any bytes must give packages, diagnostics or an error, never a panic or an
// unbounded allocation: as a metadata file and as a zipped egg.
fuzz_target!(|data: &[u8]| {
    for path in [
        "usr/lib/python3/site-packages/x-1.0.dist-info/METADATA",
        "usr/lib/python3/site-packages/x-1.0-py3.11.egg",
    ] {
        let mut body = Cursor::new(data);
        let meta = FileMeta {
            path,
            size: data.len() as u64,
            mode: 0o644,
        };
        let mut out = AnalysisOutput::default();
        let _ = PythonPackageAnalyzer.analyze(
            FileInput {
                meta,
                body: &mut body,
            },
            &mut out,
        );
    }
});
