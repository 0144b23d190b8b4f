#![no_main]

use advisory::{ImportReport, parse_kev};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    if let Ok(entries) = parse_kev(data, "fuzz", &mut report) {
        assert_eq!(report.imported, entries.len() as u64);
    }
});
