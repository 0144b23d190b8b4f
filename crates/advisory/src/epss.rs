//! EPSS scores (`epss_scores-current.csv.gz`, gzip or plain):
//!
//! ```text
//! #model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000
//! cve,epss,percentile
//! CVE-1999-0001,0.00383,0.73075
//! ```
//!
//! Streamed line by line: the real file has hundreds of thousands of rows, and
//! each becomes a [`CveEnrichment`] with only `epss` set as it is read.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use model::CveEnrichment;

use crate::capped_read::{LimitedReader, open};
use crate::{ImportError, ImportReport};

/// Decompressed size at most read (the real file is about 10 MB).
pub const MAX_EPSS_BYTES: u64 = 1024 * 1024 * 1024;
/// Longest line considered; real ones are about 30 bytes.
const MAX_LINE_BYTES: usize = 4096;

/// What the file's comment line says about the scores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpssMetadata {
    pub model_version: Option<String>,
    pub score_date: Option<String>,
}

/// Opens an EPSS CSV file (gzip or plain) and streams its scores into `sink`.
pub fn import_epss_file(
    path: &Path,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(CveEnrichment),
) -> Result<EpssMetadata, ImportError> {
    let file = open(path)?;
    read_epss(file, &path.display().to_string(), report, sink)
}

/// Parses EPSS CSV held in memory (gzip or plain).
pub fn parse_epss(
    bytes: &[u8],
    location: &str,
    report: &mut ImportReport,
) -> Result<(EpssMetadata, Vec<CveEnrichment>), ImportError> {
    let mut scores = Vec::new();
    let metadata = read_epss(bytes, location, report, &mut |score| scores.push(score))?;
    Ok((metadata, scores))
}

/// Streams EPSS CSV (gzip-compressed or plain, told apart by the gzip magic
/// bytes) into `sink`. Fails when the input cannot be read, is over
/// [`MAX_EPSS_BYTES`] decompressed, or lacks the `cve,epss,percentile` header;
/// bad rows are skipped and counted.
pub fn read_epss(
    reader: impl Read,
    location: &str,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(CveEnrichment),
) -> Result<EpssMetadata, ImportError> {
    read_epss_limited(reader, location, report, sink, MAX_EPSS_BYTES)
}

fn read_epss_limited(
    reader: impl Read,
    location: &str,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(CveEnrichment),
    limit: u64,
) -> Result<EpssMetadata, ImportError> {
    let io_error = |source| ImportError::Io {
        what: location.to_owned(),
        source,
    };
    let mut buffered = BufReader::new(reader);
    let gzip = buffered
        .fill_buf()
        .map_err(io_error)?
        .starts_with(&[0x1f, 0x8b]);
    let decoded: Box<dyn Read> = if gzip {
        Box::new(GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut limited = LimitedReader::new(decoded, limit);
    let result = read_lines(BufReader::new(&mut limited), location, report, sink);
    if limited.hit_limit() {
        return Err(ImportError::TooLarge {
            what: location.to_owned(),
            limit,
        });
    }
    result
}

struct Columns {
    cve: usize,
    epss: usize,
    percentile: usize,
}

fn read_lines(
    mut reader: impl BufRead,
    location: &str,
    report: &mut ImportReport,
    sink: &mut dyn FnMut(CveEnrichment),
) -> Result<EpssMetadata, ImportError> {
    let mut metadata = EpssMetadata::default();
    let mut columns: Option<Columns> = None;
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let complete =
            read_bounded_line(&mut reader, &mut line).map_err(|source| ImportError::Io {
                what: location.to_owned(),
                source,
            })?;
        let Some(complete) = complete else { break };
        number += 1;
        let line_location = || format!("{location}:{number}");
        if !complete {
            report.skip(
                line_location(),
                format!("line longer than {MAX_LINE_BYTES} bytes"),
            );
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if let Some(comment) = text.strip_prefix('#') {
            if columns.is_none() {
                metadata = parse_comment(comment);
            }
            continue;
        }
        let Some(columns) = columns.as_ref() else {
            columns = Some(parse_header(text).ok_or_else(|| ImportError::Malformed {
                what: location.to_owned(),
                format: "EPSS CSV",
                message: format!("expected the header cve,epss,percentile, found {text:?}"),
            })?);
            continue;
        };
        match parse_row(text, columns) {
            Ok(enrichment) => {
                report.imported += 1;
                sink(enrichment);
            }
            Err(reason) => report.skip(line_location(), reason),
        }
    }
    if columns.is_none() {
        return Err(ImportError::Malformed {
            what: location.to_owned(),
            format: "EPSS CSV",
            message: "no cve,epss,percentile header".to_owned(),
        });
    }
    Ok(metadata)
}

/// Reads one line into `line` (without its newline), keeping at most
/// [`MAX_LINE_BYTES`]: `None` at the end of input, `Some(false)` when the line
/// was longer (the rest of it is consumed and dropped).
fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let mut complete = true;
    let mut any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(complete));
        }
        any = true;
        let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], true),
            None => (available, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        if chunk.len() > room {
            complete = false;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let consumed = chunk.len() + usize::from(found_newline);
        reader.consume(consumed);
        if found_newline {
            return Ok(Some(complete));
        }
    }
}

/// `model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000`
fn parse_comment(comment: &str) -> EpssMetadata {
    let mut metadata = EpssMetadata::default();
    for part in comment.split(',') {
        if let Some((key, value)) = part.split_once(':') {
            let value = value.trim().to_owned();
            match key.trim() {
                "model_version" => metadata.model_version = Some(value),
                "score_date" => metadata.score_date = Some(value),
                _ => {}
            }
        }
    }
    metadata
}

fn parse_header(text: &str) -> Option<Columns> {
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    let find = |wanted: &str| names.iter().position(|n| n.eq_ignore_ascii_case(wanted));
    Some(Columns {
        cve: find("cve")?,
        epss: find("epss")?,
        percentile: find("percentile")?,
    })
}

fn parse_row(text: &str, columns: &Columns) -> Result<CveEnrichment, String> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let field = |index: usize, name: &str| {
        fields
            .get(index)
            .copied()
            .ok_or_else(|| format!("row without a {name} column: {text:?}"))
    };
    let cve = field(columns.cve, "cve")?;
    if cve.is_empty() {
        return Err(format!("row without a CVE: {text:?}"));
    }
    let probability = |index: usize, name: &str| -> Result<f64, String> {
        let value = field(index, name)?;
        match value.parse::<f64>() {
            Ok(number) if (0.0..=1.0).contains(&number) => Ok(number),
            _ => Err(format!("{name} {value:?} is not a number between 0 and 1")),
        }
    };
    let epss = probability(columns.epss, "epss")?;
    let percentile = probability(columns.percentile, "percentile")?;
    Ok(CveEnrichment {
        cve: cve.to_owned(),
        epss: Some((epss, percentile)),
        ..CveEnrichment::default()
    })
}

// Expected-value tables spell their row types out where they are read.
#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    const SAMPLE: &str = "#model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000\n\
cve,epss,percentile\n\
CVE-1999-0001,0.00383,0.73075\n\
CVE-1999-0005,0.91963,0.99214\n";

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_read_the_same() {
        for input in [SAMPLE.as_bytes().to_vec(), gzip(SAMPLE.as_bytes())] {
            let mut report = ImportReport::default();
            let (metadata, scores) = parse_epss(&input, "e", &mut report).unwrap();
            assert_eq!(metadata.model_version.as_deref(), Some("v2023.03.01"));
            assert_eq!(
                metadata.score_date.as_deref(),
                Some("2025-02-20T00:00:00+0000")
            );
            let got: Vec<(&str, Option<(f64, f64)>)> =
                scores.iter().map(|s| (s.cve.as_str(), s.epss)).collect();
            assert_eq!(
                got,
                [
                    ("CVE-1999-0001", Some((0.00383, 0.73075))),
                    ("CVE-1999-0005", Some((0.91963, 0.99214)))
                ]
            );
            assert_eq!(report.imported, 2);
        }
    }

    #[test]
    fn rows_table() {
        // (input after the header, scores kept, skipped)
        let long = format!("CVE-1,{}\n", "1".repeat(MAX_LINE_BYTES * 3));
        let table: Vec<(String, usize, u64)> = vec![
            ("CVE-1,0.1,0.2\r\nCVE-2,0.3,0.4".to_owned(), 2, 0),
            ("CVE-1,0.1\n".to_owned(), 0, 1),
            (",0.1,0.2\n".to_owned(), 0, 1),
            ("CVE-1,1.5,0.2\n".to_owned(), 0, 1),
            ("CVE-1,-0.1,0.2\n".to_owned(), 0, 1),
            ("CVE-1,NaN,0.2\n".to_owned(), 0, 1),
            ("CVE-1,abc,0.2\n".to_owned(), 0, 1),
            ("\n\n# late comment\nCVE-1,0,1\n".to_owned(), 1, 0),
            (format!("{long}CVE-2,0.1,0.1\n"), 1, 1),
            ("CVE-1,0.1,0.2\n\u{fffd}\u{0},x,y\n".to_owned(), 1, 1),
        ];
        for (rows, kept, skipped) in table {
            let input = format!("cve,epss,percentile\n{rows}");
            let mut report = ImportReport::default();
            let (metadata, scores) = parse_epss(input.as_bytes(), "e", &mut report).unwrap();
            assert_eq!(metadata, EpssMetadata::default());
            assert_eq!(scores.len(), kept, "{rows:.80}");
            assert_eq!(report.skipped, skipped, "{rows:.80}: {report:?}");
        }
    }

    #[test]
    fn header_in_another_column_order() {
        let mut report = ImportReport::default();
        let (_, scores) =
            parse_epss(b"percentile,cve,epss\n0.9,CVE-1,0.1\n", "e", &mut report).unwrap();
        assert_eq!(scores[0].cve, "CVE-1");
        assert_eq!(scores[0].epss, Some((0.1, 0.9)));
    }

    #[test]
    fn decompression_is_bounded() {
        let mut big = String::from("cve,epss,percentile\n");
        for i in 0..100_000 {
            big.push_str(&format!("CVE-2024-{i},0.1,0.2\n"));
        }
        let compressed = gzip(big.as_bytes());
        let mut report = ImportReport::default();
        let mut rows = 0;
        let result = read_epss_limited(
            &compressed[..],
            "bomb",
            &mut report,
            &mut |_| rows += 1,
            64 * 1024,
        );
        assert!(
            matches!(result, Err(ImportError::TooLarge { limit: 65536, .. })),
            "{result:?}"
        );
        assert!(rows > 0 && rows < 100_000);
    }

    #[test]
    fn whole_input_failures() {
        let table: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"#model_version:v1\n".to_vec(),
            b"invalid,header,format\nCVE-1,0.1,0.2\n".to_vec(),
            // A gzip header with a broken stream behind it.
            vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff],
        ];
        for input in table {
            let mut report = ImportReport::default();
            assert!(parse_epss(&input, "e", &mut report).is_err(), "{input:?}");
        }
    }
}
