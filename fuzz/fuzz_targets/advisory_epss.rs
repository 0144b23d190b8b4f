#![no_main]

use advisory::{ImportReport, parse_epss};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    // Plain CSV and, when the input starts with the gzip magic, the decoder.
    if let Ok((_, scores)) = parse_epss(data, "fuzz", &mut report) {
        assert_eq!(report.imported, scores.len() as u64);
    }
});
