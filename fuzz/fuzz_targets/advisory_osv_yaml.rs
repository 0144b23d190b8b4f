#![no_main]

use advisory::{ImportReport, parse_osv_yaml};
use libfuzzer_sys::fuzz_target;

// YAML brings anchors, aliases and deep nesting: any bytes must give
// advisories or counted skips in bounded time, never a panic.
fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    let advisories = parse_osv_yaml(data, "fuzz.yaml", &mut report);
    assert_eq!(advisories.len() as u64, report.imported);
});
