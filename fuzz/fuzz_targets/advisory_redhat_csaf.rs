#![no_main]

use advisory::{ImportReport, ZipLimits, parse_redhat_csaf, read_redhat_csaf_archive};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut report = ImportReport::default();
    if let Ok(advisory) = parse_redhat_csaf(data, "fuzz", &mut report) {
        assert_eq!(report.imported, u64::from(advisory.is_some()));
        for affected in advisory.iter().flat_map(|a| &a.affected) {
            assert!(affected.ecosystem.starts_with("Red Hat:"));
        }
    }
    // The same bytes as a tar.zst archive, with small bounds.
    let limits = ZipLimits {
        max_entries: 64,
        max_entry_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
    };
    let mut report = ImportReport::default();
    let _ = read_redhat_csaf_archive(data, "fuzz.tar.zst", &limits, &mut report, &mut |_| {});
});
