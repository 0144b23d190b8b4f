//! Shipshape's output formats, written from an image's metadata and inventory:
//!
//! - [`cyclonedx`]: CycloneDX 1.5 JSON,
//! - [`spdx`]: SPDX 2.3 JSON,
//! - [`report`]: Shipshape's own JSON report (`schemaVersion: 1`),
//! - [`table`]: human text for a terminal,
//! - [`sarif`]: SARIF 2.1.0, for the findings alone (code-scanning tools).
//!
//! The SBOM writers take the findings side of a scan as an
//! `Option<&`[`Vulnerabilities`]`>`: `None` writes the SBOM exactly as
//! before, `Some` adds the vulnerabilities (and their summary) to it.
//!
//! Every writer takes the timestamp as an argument (RFC 3339, UTC:
//! `2024-05-06T07:08:09Z`, as both SBOM schemas require) and orders everything
//! deterministically, so the same scan always produces the same bytes.
//! Each format owns its serde types: the domain model is never serialized
//! directly, so it can change without changing a wire format.

pub mod cyclonedx;
mod findings;
mod licenses;
pub mod report;
pub mod sarif;
pub mod spdx;
pub mod table;

use model::{Diagnostic, Finding, HistoryEntry, ImageInventory, ImageMetadata, Package};

/// The tool that produced a document, as recorded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// The tool's home page; SARIF viewers link to it.
    pub information_uri: Option<String>,
}

impl ToolInfo {
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> ToolInfo {
        ToolInfo {
            name: name.into(),
            version: version.into(),
            information_uri: None,
        }
    }

    pub fn with_information_uri(mut self, uri: impl Into<String>) -> ToolInfo {
        self.information_uri = Some(uri.into());
        self
    }
}

/// The findings side of a scan: what matching found in the inventory the
/// writer is also given, and against which data.
#[derive(Debug, Clone, Copy)]
pub struct Vulnerabilities<'a> {
    /// In the order to report them: `matching::match_image` already sorts
    /// them by CVSS score, severity and ID, and the writers keep that order.
    pub findings: &'a [Finding],
    /// What matching reported on the way (unparseable versions, unsupported
    /// OS releases): the findings may be incomplete where these say so.
    pub diagnostics: &'a [Diagnostic],
    /// The advisory database matched against, when known.
    pub database: Option<&'a DatabaseInfo>,
}

/// Which advisory data a scan was matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// The database's own version (schema or content version, as the store names it).
    pub version: String,
    /// When its data was last updated (RFC 3339, UTC).
    pub updated_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("cannot serialize the document to JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Packages in a total, input-order-independent order.
fn ordered_packages(inventory: &ImageInventory) -> Vec<&Package> {
    let mut packages: Vec<&Package> = inventory.packages.iter().collect();
    packages.sort();
    packages
}

/// Diagnostics errors first (they say the result may be incomplete), then in
/// their total order.
fn ordered_diagnostics(inventory: &ImageInventory) -> Vec<&Diagnostic> {
    sorted_diagnostics(&inventory.diagnostics)
}

fn sorted_diagnostics(diagnostics: &[Diagnostic]) -> Vec<&Diagnostic> {
    let mut diagnostics: Vec<&Diagnostic> = diagnostics.iter().collect();
    diagnostics.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.cmp(b)));
    diagnostics
}

/// The history entry that produced layer `index`, if the history pairs one.
fn history_for_layer(meta: &ImageMetadata, index: u32) -> Option<&HistoryEntry> {
    meta.history.iter().find(|h| h.layer_index == Some(index))
}

/// A UUID derived from the image's manifest digest, so that documents about
/// the same image get the same serial number. The digest is already a
/// uniformly distributed hash: its first 128 bits become a version 8
/// ("custom", RFC 9562) UUID.
fn image_uuid(meta: &ImageMetadata) -> String {
    let mut hex: Vec<u8> = meta.manifest_digest.hex().bytes().take(32).collect();
    // A checked digest has at least 64 hex digits; pad defensively anyway.
    hex.resize(32, b'0');
    hex[12] = b'8';
    let variant = match hex[16] {
        d @ b'0'..=b'9' => d - b'0',
        d => d.wrapping_sub(b'a').wrapping_add(10),
    };
    hex[16] = b"89ab"[usize::from(variant & 0x3)];
    let hex = String::from_utf8_lossy(&hex);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The `created_by` of a history entry without the shell boilerplate the
/// builders add (`/bin/sh -c #(nop) `, BuildKit's `RUN /bin/sh -c … # buildkit`),
/// whitespace collapsed.
fn short_command(created_by: &str) -> String {
    const SHELL: &str = "/bin/sh -c ";
    let mut command = created_by.trim();
    command = command
        .strip_suffix("# buildkit")
        .unwrap_or(command)
        .trim_end();
    let mut prefix = "";
    if let Some(rest) = command.strip_prefix("/bin/sh -c #(nop)") {
        command = rest;
    } else if let Some(rest) = command.strip_prefix(SHELL) {
        // The legacy builder wrote RUN steps as the bare shell command.
        prefix = "RUN ";
        command = rest;
    } else if let Some(rest) = command.strip_prefix("RUN ") {
        prefix = "RUN ";
        // `RUN |N ARG=… /bin/sh -c cmd`: build args before the shell.
        let rest = match rest.strip_prefix('|') {
            Some(args) => args.find(SHELL).map_or(rest, |i| &args[i..]),
            None => rest,
        };
        command = rest.strip_prefix(SHELL).unwrap_or(rest);
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    format!("{prefix}{}", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_commands() {
        let cases = [
            ("/bin/sh -c #(nop) ADD file:abc in / ", "ADD file:abc in /"),
            ("/bin/sh -c #(nop)  CMD [\"bash\"]", "CMD [\"bash\"]"),
            (
                "/bin/sh -c apt-get update &&     apt-get install -y curl",
                "RUN apt-get update && apt-get install -y curl",
            ),
            (
                "RUN /bin/sh -c pip install flask # buildkit",
                "RUN pip install flask",
            ),
            (
                "RUN |1 VERSION=1.2 /bin/sh -c make install # buildkit",
                "RUN make install",
            ),
            ("RUN |1 odd", "RUN |1 odd"),
            ("COPY /app /app # buildkit", "COPY /app /app"),
            ("ENV A=1", "ENV A=1"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(short_command(input), expected, "{input}");
        }
    }
}
