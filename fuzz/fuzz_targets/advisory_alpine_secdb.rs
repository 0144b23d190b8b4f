#![no_main]

use advisory::{ImportReport, parse_alpine_secdb};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    // Both the JSON and the YAML path: the first byte picks one.
    if let Ok(advisories) = parse_alpine_secdb(data, "fuzz", &mut report) {
        assert_eq!(report.imported, advisories.len() as u64);
    }
});
