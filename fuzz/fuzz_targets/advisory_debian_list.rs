#![no_main]

use advisory::{ImportReport, parse_debian_advisory_list};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    let advisories = parse_debian_advisory_list(data, "fuzz", &mut report);
    assert_eq!(report.imported, advisories.len() as u64);
});
