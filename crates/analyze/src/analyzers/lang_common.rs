//! Small helpers shared by the language analyzers.

use std::io::{BufRead, Read};

use crate::AnalyzerError;

/// Reads the whole of `reader` into memory, refusing more than `cap` bytes so
/// a hostile file cannot make us allocate without bound.
pub(crate) fn read_capped(
    reader: &mut dyn Read,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>, AnalyzerError> {
    let mut buf = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(AnalyzerError::Limit(format!(
            "{what} is larger than {cap} bytes"
        )));
    }
    Ok(buf)
}

/// Keeps the first occurrence of each value, in order, in linear time (hostile
/// files can list hundreds of thousands of licenses).
pub(crate) fn dedup_in_order(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// Iterates over the lines of a line-oriented text file without ever holding
/// more than `budget` bytes: the budget covers all lines together, so one huge
/// line or a very long file both stop at the same bound.
pub(crate) struct BoundedLines<R> {
    reader: R,
    remaining: u64,
    exhausted_budget: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    pub(crate) fn new(reader: R, budget: u64) -> BoundedLines<R> {
        BoundedLines {
            reader,
            remaining: budget,
            exhausted_budget: false,
            buf: Vec::new(),
        }
    }

    /// Whether reading stopped because the budget ran out rather than at the
    /// end of the file.
    pub(crate) fn hit_limit(&self) -> bool {
        self.exhausted_budget
    }

    /// The next line without its terminator (`\n`, `\r\n`), decoded lossily:
    /// metadata files are meant to be UTF-8 but stray Latin-1 bytes are common
    /// and must not lose the whole record.
    pub(crate) fn next_line(&mut self) -> Result<Option<String>, AnalyzerError> {
        if self.remaining == 0 {
            // A file exactly as long as the budget has not overflowed it: only
            // flag the limit when there is more to read.
            if !self.exhausted_budget && !self.reader.fill_buf()?.is_empty() {
                self.exhausted_budget = true;
            }
            return Ok(None);
        }
        self.buf.clear();
        let read = (&mut self.reader)
            .take(self.remaining)
            .read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.remaining -= read as u64;
        let mut line: &[u8] = &self.buf;
        if line.last() == Some(&b'\n') {
            line = &line[..line.len() - 1];
        } else if self.remaining == 0 {
            // The budget cut this line short: it is not a whole line.
            self.exhausted_budget = true;
            return Ok(None);
        }
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        Ok(Some(String::from_utf8_lossy(line).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str, budget: u64) -> (Vec<String>, bool) {
        let mut it = BoundedLines::new(input.as_bytes(), budget);
        let mut out = Vec::new();
        while let Some(l) = it.next_line().unwrap() {
            out.push(l);
        }
        (out, it.hit_limit())
    }

    #[test]
    fn bounded_lines_table() {
        let cases: &[(&str, u64, &[&str], bool)] = &[
            ("a\nb\n", 100, &["a", "b"], false),
            ("a\r\nb", 100, &["a", "b"], false),
            ("a\nb\n", 4, &["a", "b"], false),
            ("a\nbcdef\n", 4, &["a"], true),
            ("abcdef", 3, &[], true),
            ("", 10, &[], false),
        ];
        for (input, budget, want, limited) in cases {
            let (got, hit) = lines(input, *budget);
            assert_eq!(got, *want, "input {input:?} budget {budget}");
            assert_eq!(hit, *limited, "limit flag for {input:?} budget {budget}");
        }
    }

    #[test]
    fn dedup_keeps_first_occurrences_in_order() {
        let input = ["b", "a", "b", "c", "a"].map(String::from);
        assert_eq!(dedup_in_order(input), ["b", "a", "c"]);
    }

    #[test]
    fn read_capped_refuses_oversized_input() {
        assert_eq!(read_capped(&mut &b"abc"[..], 3, "x").unwrap(), b"abc");
        assert!(matches!(
            read_capped(&mut &b"abcd"[..], 3, "x"),
            Err(AnalyzerError::Limit(_))
        ));
    }
}
