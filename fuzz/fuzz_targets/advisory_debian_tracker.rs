#![no_main]

use advisory::{ImportReport, read_debian_tracker};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    let mut advisories = 0usize;
    // Errors are fine; panics, hangs and unbounded memory are what this looks for.
    let _ = read_debian_tracker(data, "fuzz", &mut report, &mut |_| advisories += 1);
    assert_eq!(report.imported, advisories as u64);
});
