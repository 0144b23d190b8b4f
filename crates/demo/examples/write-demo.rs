//! Writes the demo set (OCI layout + advisory files) into a directory, so the
//! pieces of `serve --demo` can be tried with the CLI alone:
//!
//! ```sh
//! cargo run -p demo --example write-demo -- /tmp/shipshape-fleet
//! shipshape --data-dir /tmp/shipshape-fleet/data db import /tmp/shipshape-fleet/advisories
//! shipshape --data-dir /tmp/shipshape-fleet/data scan --oci-layout /tmp/shipshape-fleet/images:checkout-api-2.4.1
//! ```

#![allow(clippy::print_stderr)] // a command-line example: stderr is its interface

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write-demo OUT_DIR");
        return ExitCode::from(2);
    };
    match demo::build(&out, time::OffsetDateTime::now_utc()) {
        Ok(set) => {
            for image in &set.images {
                eprintln!(
                    "{}:{}  {}  {}  ({})",
                    set.layout.display(),
                    image.ref_name,
                    image.platform,
                    image.manifest_digest,
                    image.reference()
                );
            }
            let workloads: usize = set.clusters.iter().map(|c| c.workloads.len()).sum();
            eprintln!(
                "{} advisory files in {}; {} clusters, {workloads} workloads",
                set.advisory_files.len(),
                out.join("advisories").display(),
                set.clusters.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
