#![no_main]

use std::path::Path;

use advisory::detect::{SNIFF_BYTES, sniff};
use libfuzzer_sys::fuzz_target;

// Format detection reads the first bytes of every file under an import
// path, whatever they are: it must never panic, and never look past
// SNIFF_BYTES (a longer input sniffs as its prefix does).
fuzz_target!(|data: &[u8]| {
    for name in ["feed.json", "advisory.yaml", "list", "scores.csv.gz"] {
        let path = Path::new(name);
        let format = sniff(path, data);
        if data.len() > SNIFF_BYTES {
            assert_eq!(format, sniff(path, &data[..SNIFF_BYTES]));
        }
    }
});
