//! Arbitrary bytes as a layer blob: the walker must return (a result or an
//! error) without panicking, hanging or growing without bound.
#![no_main]

use analyze::{Analyzer, Compression, WalkLimits, WalkOptions, default_analyzers, walk_layer};
use libfuzzer_sys::fuzz_target;
use model::{DiffId, Digest, DigestAlgorithm};

fuzz_target!(|data: &[u8]| {
    let analyzers = default_analyzers();
    let analyzers: Vec<&dyn Analyzer> = analyzers.iter().map(|a| a.as_ref()).collect();
    let expected = DiffId(Digest::from_raw(DigestAlgorithm::Sha256, &[0; 32]));
    // Smaller byte limit and spool threshold than the defaults: a fuzz input
    // reaches every limit and the spool path in milliseconds.
    let options = WalkOptions {
        limits: WalkLimits {
            max_uncompressed_bytes: 64 << 20,
            ratio_grace_bytes: 1 << 20,
            ..WalkLimits::default()
        },
        spool_threshold: 4096,
        spool_dir: None,
    };
    let _ = walk_layer(data, Compression::Sniff, &expected, &analyzers, &options);
});
