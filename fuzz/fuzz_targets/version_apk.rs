//! apk version strings: parse, Display round trip and total-order laws
//! (see `common/order_laws.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common/order_laws.rs"]
mod order_laws;

fuzz_target!(|data: &[u8]| order_laws::check::<version::ApkVersion>(data));
