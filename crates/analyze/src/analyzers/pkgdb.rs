//! Pieces shared by the OS package database analyzers: bounded line reading
//! for the text databases and a cap on per-file diagnostics.

use std::io::{self, BufRead, Read};

use model::{AnalyzerId, Diagnostic};

/// Longest line the text databases may hold. Real dpkg and apk lines are far
/// shorter (a long `Depends:` is a few KiB); the cap keeps a hostile file with
/// no newline from being buffered whole.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// Most per-record diagnostics kept for one file; the rest are counted in a
/// single summary so that a file of a million broken records does not produce
/// a million diagnostics.
pub(crate) const MAX_RECORD_DIAGNOSTICS: usize = 50;

/// One line of a text database, without its `\n` or `\r\n`.
pub(crate) enum Line {
    Text,
    /// Longer than [`MAX_LINE_BYTES`]; its bytes were discarded.
    TooLong,
}

/// Reads one line into `buf` (cleared first), reading at most
/// [`MAX_LINE_BYTES`] of it into memory. Returns `None` at end of input.
pub(crate) fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
    buf.clear();
    let limit = MAX_LINE_BYTES as u64 + 1;
    let read = Read::take(&mut *reader, limit).read_until(b'\n', buf)?;
    if read == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(Line::Text));
    }
    if buf.len() <= MAX_LINE_BYTES {
        // Last line of the file, without a newline.
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(Line::Text));
    }
    buf.clear();
    skip_rest_of_line(reader)?;
    Ok(Some(Line::TooLong))
}

fn skip_rest_of_line(reader: &mut dyn BufRead) -> io::Result<()> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                reader.consume(newline + 1);
                return Ok(());
            }
            None => {
                let len = available.len();
                reader.consume(len);
            }
        }
    }
}

/// Whether a line separates records: empty or only blanks.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| *b == b' ' || *b == b'\t')
}

/// Collects the per-record diagnostics of one file, up to
/// [`MAX_RECORD_DIAGNOSTICS`], then only counts them.
pub(crate) struct RecordDiagnostics<'a> {
    path: &'a str,
    analyzer: AnalyzerId,
    kept: Vec<Diagnostic>,
    suppressed: u64,
}

/// Code of the warning for one package record that was skipped.
pub(crate) const MALFORMED_RECORD: &str = "malformed-package-record";

impl<'a> RecordDiagnostics<'a> {
    pub(crate) fn new(path: &'a str, analyzer: AnalyzerId) -> RecordDiagnostics<'a> {
        RecordDiagnostics {
            path,
            analyzer,
            kept: Vec::new(),
            suppressed: 0,
        }
    }

    pub(crate) fn push(&mut self, diagnostic: Diagnostic) {
        if self.kept.len() < MAX_RECORD_DIAGNOSTICS {
            let mut diagnostic = diagnostic.with_path(self.path);
            diagnostic.analyzer = Some(self.analyzer.clone());
            self.kept.push(diagnostic);
        } else {
            self.suppressed += 1;
        }
    }

    pub(crate) fn skipped_record(&mut self, message: impl Into<String>) {
        self.push(Diagnostic::warning(MALFORMED_RECORD, message));
    }

    /// Moves the diagnostics into `out`, with a summary of the suppressed ones.
    pub(crate) fn finish(mut self, out: &mut Vec<Diagnostic>) {
        if self.suppressed > 0 {
            let mut summary = Diagnostic::warning(
                "too-many-diagnostics",
                format!(
                    "{} more problems in this file were not listed individually",
                    self.suppressed
                ),
            )
            .with_path(self.path);
            summary.analyzer = Some(self.analyzer);
            self.kept.push(summary);
        }
        out.append(&mut self.kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut reader = io::BufReader::with_capacity(16, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = read_line(&mut reader, &mut buf).unwrap() {
            out.push(match line {
                Line::Text => Some(buf.clone()),
                Line::TooLong => None,
            });
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_line_endings() {
        type Case = (&'static [u8], &'static [Option<&'static [u8]>]);
        let cases: &[Case] = &[
            (b"", &[]),
            (b"a\nb\n", &[Some(b"a"), Some(b"b")]),
            (b"a\r\nb", &[Some(b"a"), Some(b"b")]),
            (b"\n\r\n", &[Some(b""), Some(b"")]),
            (b"x\r", &[Some(b"x")]),
        ];
        for (input, expected) in cases {
            let expected: Vec<Option<Vec<u8>>> =
                expected.iter().map(|l| l.map(|l| l.to_vec())).collect();
            assert_eq!(
                lines(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn overlong_line_is_discarded_and_reading_resumes() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nnext\n");
        assert_eq!(lines(&input), vec![None, Some(b"next".to_vec())]);

        let exactly_max = vec![b'y'; MAX_LINE_BYTES];
        assert_eq!(lines(&exactly_max), vec![Some(exactly_max.clone())]);
    }

    #[test]
    fn diagnostics_are_capped_with_a_summary() {
        let mut diags = RecordDiagnostics::new("p", AnalyzerId::new("t", 1));
        for i in 0..(MAX_RECORD_DIAGNOSTICS + 7) {
            diags.skipped_record(format!("record {i}"));
        }
        let mut out = Vec::new();
        diags.finish(&mut out);
        assert_eq!(out.len(), MAX_RECORD_DIAGNOSTICS + 1);
        let summary = out.last().unwrap();
        assert_eq!(summary.code, "too-many-diagnostics");
        assert!(summary.message.starts_with("7 more"), "{}", summary.message);
        assert!(out.iter().all(|d| d.path.as_deref() == Some("p")));
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::{AnalysisOutput, Analyzer, AnalyzerError, FileMeta};

    pub(crate) fn run(
        analyzer: &dyn Analyzer,
        path: &str,
        bytes: &[u8],
    ) -> Result<AnalysisOutput, AnalyzerError> {
        let meta = FileMeta {
            path,
            size: bytes.len() as u64,
            mode: 0o644,
        };
        assert!(analyzer.wants(&meta), "analyzer does not want {path}");
        crate::analyzer::run_on_bytes(analyzer, path, bytes)
    }

    /// Packages as `name version arch source[=version] [licenses]` and the
    /// diagnostics' messages, for compact table-driven expectations.
    pub(crate) fn summary(out: &AnalysisOutput) -> (Vec<String>, Vec<String>) {
        let packages = out
            .packages
            .iter()
            .map(|p| {
                let mut line = format!(
                    "{} {} {}",
                    p.name,
                    p.version,
                    p.arch.as_deref().unwrap_or("-")
                );
                match &p.source {
                    None => line.push_str(" -"),
                    Some(s) => {
                        line.push(' ');
                        line.push_str(&s.name);
                        if let Some(v) = &s.version {
                            line.push('=');
                            line.push_str(v);
                        }
                    }
                }
                if !p.licenses.is_empty() {
                    line.push_str(&format!(" {:?}", p.licenses));
                }
                if let Some(module) = &p.module {
                    line.push_str(&format!(" module={module}"));
                }
                line
            })
            .collect();
        let messages = out.diagnostics.iter().map(|d| d.message.clone()).collect();
        (packages, messages)
    }
}
