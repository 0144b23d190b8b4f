//! Regenerates `deploy/kubernetes/agent.yaml` from the Helm chart, so the
//! plain manifest and the chart are written once (`tests/deploy.rs` fails
//! when they differ):
//!
//! ```sh
//! cargo run -p testkit --example render-agent-manifest > deploy/kubernetes/agent.yaml
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line generator

use std::process::ExitCode;

use testkit::chart::{Release, render_chart};
use testkit::kube::repo_root;

/// The release the plain manifest is rendered as.
const RELEASE_NAME: &str = "shipshape-agent";
const NAMESPACE: &str = "shipshape";

fn main() -> ExitCode {
    let release = Release {
        name: RELEASE_NAME.into(),
        namespace: NAMESPACE.into(),
    };
    let files = match render_chart(&repo_root().join("deploy/helm/shipshape-agent"), &release) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("render-agent-manifest: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("# Shipshape agent: plain manifest, rendered from deploy/helm/shipshape-agent");
    println!("# (release {RELEASE_NAME}, namespace {NAMESPACE}) by");
    println!(
        "#   cargo run -p testkit --example render-agent-manifest > deploy/kubernetes/agent.yaml"
    );
    println!("# Edit the chart, not this file: a test fails when the two differ.");
    println!("# Before applying, set the server URL, the cluster name and the ingest token below.");
    println!("---");
    println!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}");
    for (name, text) in files {
        println!(
            "---\n# Source: shipshape-agent/templates/{name}\n{}",
            text.trim_end()
        );
    }
    ExitCode::SUCCESS
}
