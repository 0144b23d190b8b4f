#![no_main]

use advisory::{ImportReport, parse_osv_json};
use libfuzzer_sys::fuzz_target;

// Any bytes must give advisories or counted skips, never a panic; every
// advisory returned is counted as imported.
fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    let advisories = parse_osv_json(data, "fuzz.json", &mut report);
    assert_eq!(advisories.len() as u64, report.imported);
});
