#![no_main]

use advisory::{ImportReport, parse_nvd_page};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    if let Ok(enrichments) = parse_nvd_page(data, "fuzz", &mut report) {
        assert_eq!(report.imported, enrichments.len() as u64);
    }
});
