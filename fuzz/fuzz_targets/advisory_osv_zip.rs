#![no_main]

use std::io::Cursor;

use advisory::{ImportReport, ZipLimits, import_osv_zip};
use libfuzzer_sys::fuzz_target;

// A hostile archive must give advisories, counted skips or an error, within
// the limits: small ones here so a bomb shows as an error, not an OOM.
fuzz_target!(|data: &[u8]| {
    let limits = ZipLimits {
        max_entries: 1_000,
        max_entry_bytes: 1 << 20,
        max_total_bytes: 8 << 20,
    };
    let mut report = ImportReport::default();
    let mut count = 0u64;
    let _ = import_osv_zip(
        Cursor::new(data),
        "fuzz.zip",
        &limits,
        &mut report,
        &mut |_| count += 1,
    );
    assert_eq!(count, report.imported);
});
