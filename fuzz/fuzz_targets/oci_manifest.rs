//! Manifests, indexes and configs are registry-controlled bytes: parsing,
//! platform choice and layer/history pairing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci::manifest::{
    Manifest, pair_history, pair_layers, parse_config, parse_manifest, select_platform,
};

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => (Some(oci::manifest::OCI_INDEX), rest),
        Some((2, rest)) => (Some(oci::manifest::DOCKER_MANIFEST), rest),
        Some((_, rest)) => (Some("application/json"), rest),
        None => (None, data),
    };
    let config = parse_config(body, "fuzz").ok();
    match parse_manifest(body, content_type, "fuzz") {
        Ok(Manifest::Index(index)) => {
            for wanted in [
                "linux/amd64",
                "linux/arm64",
                "linux/arm/v7",
                "windows/amd64",
            ] {
                let _ = select_platform(&index, &wanted.parse().expect("valid platform"), "fuzz");
            }
        }
        Ok(Manifest::Image(manifest)) => {
            if let Some(config) = config {
                if let Ok(layers) = pair_layers(&manifest, &config, "fuzz") {
                    let _ = pair_history(config.history.clone(), layers.len());
                }
            }
        }
        Err(_) => {}
    }
});
