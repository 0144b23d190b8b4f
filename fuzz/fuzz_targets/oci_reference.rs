//! Image references, docker configs / pull secrets and WWW-Authenticate
//! headers all come from outside: none may panic, and a parsed reference must
//! survive a Display round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(reference) = text.parse::<oci::Reference>() {
            let again: oci::Reference = reference
                .to_string()
                .parse()
                .expect("Display output must parse");
            assert_eq!(again, reference);
        }
        let _ = oci::parse_challenges(text);
        let _ = oci::Compression::from_media_type(text);
    }
    let _ = oci::parse_docker_config(data, "fuzz");
});
