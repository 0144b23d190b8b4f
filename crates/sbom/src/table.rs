//! Human-readable text for a terminal: the image, its layers, its packages
//! grouped by type, the vulnerabilities found (when matched), and the
//! diagnostics.

use std::fmt::Write as _;

use comfy_table::{Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, presets};
use model::{
    Diagnostic, DiagnosticLevel, FixState, ImageInventory, ImageMetadata, Package, PackageKind,
    Severity,
};

use crate::findings::{SEVERITIES, summarise};
use crate::{
    Vulnerabilities, history_for_layer, ordered_packages, short_command, sorted_diagnostics,
};

/// Layer commands longer than this are cut: a `RUN` line can be kilobytes.
const MAX_COMMAND_CHARS: usize = 120;

/// Package paths in the vulnerabilities table are cut to their last this
/// many characters: the end (the nested `node_modules`, the jar inside the
/// jar) is what tells two installs apart.
const MAX_PATH_CHARS: usize = 48;

/// Versions and IDs are shown whole up to this length (they never wrap).
const MAX_VERSION_CHARS: usize = 40;

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// Use ANSI colours and bold; only when writing to a terminal.
    pub color: bool,
    /// Terminal width to fit into; `None` lets lines run as long as needed.
    pub width: Option<u16>,
}

/// Renders the image and its inventory as text.
pub fn render(meta: &ImageMetadata, inventory: &ImageInventory, options: TableOptions) -> String {
    render_with(meta, inventory, None, options)
}

/// Renders the image, its inventory and, when given, the vulnerabilities
/// found in it (in the findings' order) and matching's diagnostics.
pub fn render_with(
    meta: &ImageMetadata,
    inventory: &ImageInventory,
    vulnerabilities: Option<&Vulnerabilities<'_>>,
    options: TableOptions,
) -> String {
    let mut out = String::new();
    let heading = |out: &mut String, text: &str| {
        if options.color {
            let _ = writeln!(out, "\x1b[1m{text}\x1b[0m");
        } else {
            let _ = writeln!(out, "{text}");
        }
    };

    let mut summary: Vec<(&str, String)> = vec![
        ("Image", clean(&meta.reference)),
        ("Digest", meta.manifest_digest.to_string()),
    ];
    if let Some(index) = &meta.index_digest {
        summary.push(("Index", index.to_string()));
    }
    summary.push(("Platform", meta.platform.to_string()));
    let os = inventory.os.as_ref().map(|os| {
        os.pretty_name
            .clone()
            .unwrap_or_else(|| match &os.version_id {
                Some(v) => format!("{} {v}", os.id),
                None => os.id.clone(),
            })
    });
    summary.push(("OS", clean(os.as_deref().unwrap_or("unknown"))));
    if let Some(created) = &meta.config.created {
        summary.push(("Created", clean(created)));
    }
    summary.push((
        "Size",
        format!(
            "{} compressed, {} layers",
            human_size(meta.compressed_size()),
            meta.layers.len()
        ),
    ));
    for (key, value) in summary {
        let _ = writeln!(out, "{key:<9} {value}");
    }

    out.push('\n');
    heading(&mut out, "Layers");
    let mut layers = new_table(options);
    layers.set_header(header(options, &["#", "Size", "Diff ID", "Created by"]));
    for layer in &meta.layers {
        let command = history_for_layer(meta, layer.index)
            .and_then(|h| h.created_by.as_deref())
            .map(|c| truncate(&clean(&short_command(c)), MAX_COMMAND_CHARS))
            .unwrap_or_default();
        layers.add_row(vec![
            Cell::new(layer.index),
            Cell::new(human_size(layer.compressed_size)),
            Cell::new(layer.diff_id.0.short()),
            Cell::new(command),
        ]);
    }
    let _ = writeln!(out, "{layers}");

    let packages = ordered_packages(inventory);
    out.push('\n');
    heading(&mut out, &format!("Packages ({})", packages.len()));
    for kind in PackageKind::ALL {
        let of_kind: Vec<&Package> = packages
            .iter()
            .copied()
            .filter(|p| p.kind == kind)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        heading(&mut out, &format!("{kind} ({})", of_kind.len()));
        let mut table = new_table(options);
        let mut columns = vec!["Name", "Version", "Layer"];
        // OS packages all come from one database file: the path says nothing.
        if !kind.is_os() {
            columns.push("Path");
        }
        table.set_header(header(options, &columns));
        for pkg in of_kind {
            let layer = pkg
                .evidence
                .layer_index
                .map_or_else(|| "?".to_owned(), |i| i.to_string());
            let mut row = vec![
                Cell::new(clean(&pkg.name)),
                Cell::new(clean(&pkg.version)),
                Cell::new(layer),
            ];
            if !kind.is_os() {
                row.push(Cell::new(clean(&pkg.evidence.path)));
            }
            table.add_row(row);
        }
        let _ = writeln!(out, "{table}");
    }

    if let Some(vulnerabilities) = vulnerabilities {
        out.push('\n');
        render_vulnerabilities(&mut out, vulnerabilities, options);
    }

    let mut all_diagnostics: Vec<Diagnostic> = inventory.diagnostics.clone();
    if let Some(vulnerabilities) = vulnerabilities {
        all_diagnostics.extend_from_slice(vulnerabilities.diagnostics);
    }
    let diagnostics = sorted_diagnostics(&all_diagnostics);
    if !diagnostics.is_empty() {
        out.push('\n');
        heading(&mut out, &format!("Diagnostics ({})", diagnostics.len()));
        let mut table = new_table(options);
        table.set_header(header(options, &["Level", "Code", "Message", "Where"]));
        for d in diagnostics {
            let (level, color) = match d.level {
                DiagnosticLevel::Warning => ("warning", Color::Yellow),
                DiagnosticLevel::Error => ("error", Color::Red),
            };
            let mut level = Cell::new(level);
            if options.color {
                level = level.fg(color);
            }
            let place = [
                d.layer_diff_id
                    .as_ref()
                    .map(|l| format!("layer {}", l.0.short())),
                d.path.as_deref().map(clean),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            table.add_row(vec![
                level,
                Cell::new(clean(&d.code)),
                Cell::new(clean(&d.message)),
                Cell::new(place),
            ]);
        }
        let _ = writeln!(out, "{table}");
    }
    out
}

fn render_vulnerabilities(
    out: &mut String,
    vulnerabilities: &Vulnerabilities<'_>,
    options: TableOptions,
) {
    let findings = vulnerabilities.findings;
    let title = format!("Vulnerabilities ({})", findings.len());
    if options.color {
        let _ = writeln!(out, "\x1b[1m{title}\x1b[0m");
    } else {
        let _ = writeln!(out, "{title}");
    }
    if let Some(database) = vulnerabilities.database {
        let _ = writeln!(
            out,
            "Database  version {}, updated {}",
            clean(&database.version),
            clean(&database.updated_at)
        );
    }
    if !findings.is_empty() {
        let mut table = new_table(options);
        table.set_header(header(
            options,
            &[
                "ID",
                "Severity",
                "CVSS",
                "Package",
                "Installed",
                "Fixed in",
                "Layer",
                "Path",
            ],
        ));
        for finding in findings {
            let mut severity = Cell::new(finding.severity.as_str());
            if options.color {
                severity = severity.fg(severity_color(finding.severity));
            }
            let cvss = finding
                .cvss
                .as_ref()
                .map_or_else(String::new, |c| format!("{:.1}", c.base_score));
            let fixed = match (&finding.state, &finding.fixed_version) {
                (_, Some(fixed)) => truncate(&clean(fixed), MAX_VERSION_CHARS),
                (FixState::WontFix(_), None) => "won't fix".to_owned(),
                _ => "no fix".to_owned(),
            };
            let layer = finding
                .package
                .layer_index
                .map_or_else(|| "?".to_owned(), |i| i.to_string());
            // OS packages all come from one database file: the path says nothing.
            let path = if finding.package.kind.is_os() {
                String::new()
            } else {
                truncate_start(&clean(&finding.package.path), MAX_PATH_CHARS)
            };
            table.add_row(vec![
                Cell::new(truncate(&clean(&finding.id), MAX_VERSION_CHARS)),
                severity,
                Cell::new(cvss),
                Cell::new(clean(&finding.package.name)),
                Cell::new(truncate(
                    &clean(&finding.package.installed_version),
                    MAX_VERSION_CHARS,
                )),
                Cell::new(fixed),
                Cell::new(layer),
                Cell::new(path),
            ]);
        }
        // IDs, severities, scores and versions are read whole; names and
        // paths wrap instead.
        for column in [0, 1, 2, 4, 5, 6] {
            if let Some(column) = table.column_mut(column) {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
        let _ = writeln!(out, "{table}");
    }
    let summary = summarise(findings);
    let by_severity: Vec<String> = SEVERITIES
        .iter()
        .zip(summary.by_severity)
        .filter(|(_, count)| *count > 0)
        .map(|(severity, count)| format!("{count} {}", severity.as_str()))
        .collect();
    if summary.total == 0 {
        let _ = writeln!(out, "No vulnerabilities found.");
    } else {
        let _ = writeln!(
            out,
            "{} vulnerabilities: {}; {} fixable, {} without a fix, {} won't be fixed.",
            summary.total,
            by_severity.join(", "),
            summary.fixed,
            summary.not_fixed,
            summary.wont_fix
        );
    }
}

fn severity_color(severity: Severity) -> Color {
    match severity {
        Severity::Critical => Color::Magenta,
        Severity::High => Color::Red,
        Severity::Medium => Color::Yellow,
        Severity::Low => Color::Blue,
        Severity::Negligible | Severity::Unknown => Color::Grey,
    }
}

fn new_table(options: TableOptions) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    if options.color {
        table.enforce_styling();
    } else {
        // Also keeps comfy-table from probing the terminal: output depends
        // on the options only.
        table.force_no_tty();
    }
    if let Some(width) = options.width {
        table.set_width(width);
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table
}

fn header(options: TableOptions, names: &[&str]) -> Vec<Cell> {
    names
        .iter()
        .map(|n| {
            let cell = Cell::new(n);
            if options.color {
                cell.add_attribute(Attribute::Bold)
            } else {
                cell
            }
        })
        .collect()
}

/// Image content is hostile: control characters (escape sequences, carriage
/// returns) in names or paths must not reach the terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Keeps the end of `s`.
fn truncate_start(s: &str, max_chars: usize) -> String {
    let count = s.chars().count();
    if count <= max_chars {
        return s.to_owned();
    }
    let mut cut = String::from("…");
    cut.extend(s.chars().skip(count - max_chars.saturating_sub(1)));
    cut
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases = [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1.0 kB"),
            (29_123_456, "29.1 MB"),
            (u64::MAX, "18446744.1 TB"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(human_size(bytes), expected, "{bytes}");
        }
    }

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(clean("a\x1b[31mb\r\nc"), "a\u{fffd}[31mb\u{fffd}\u{fffd}c");
        assert_eq!(clean("plain ü"), "plain ü");
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcd", 4), "abcd");
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate_start("abcdef", 4), "…def");
        assert_eq!(truncate_start("abcd", 4), "abcd");
        assert_eq!(truncate_start("ééééé", 3), "…éé");
        assert_eq!(truncate_start("abc", 1), "…");
    }
}
