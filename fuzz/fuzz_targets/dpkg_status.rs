#![no_main]

use analyze::analyzers::DpkgAnalyzer;
use analyze::{AnalysisOutput, Analyzer, FileInput, FileMeta};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let meta = FileMeta {
        path: "var/lib/dpkg/status",
        size: data.len() as u64,
        mode: 0o644,
    };
    let mut body = std::io::Cursor::new(data);
    let mut out = AnalysisOutput::default();
    // Errors are fine; panics, hangs and unbounded memory are what this looks for.
    let _ = DpkgAnalyzer.analyze(
        FileInput {
            meta,
            body: &mut body,
        },
        &mut out,
    );
});
