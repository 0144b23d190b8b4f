#![no_main]

use advisory::{ImportReport, parse_rubysec};
use libfuzzer_sys::fuzz_target;

// Any bytes must give an advisory or a counted skip, never a panic.
fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    let advisories = parse_rubysec(data, "gems/fuzz/CVE-2000-1.yml", &mut report);
    assert_eq!(advisories.len() as u64, report.imported);
    assert_eq!(advisories.len() as u64 + report.skipped, 1);
});
