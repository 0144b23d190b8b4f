//! Reading inputs with a size limit, so a hostile or corrupt file cannot make
//! an import hold unbounded memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::ImportError;

/// Largest JSON/YAML/text file read whole into memory.
pub const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads all of `reader`, failing with [`ImportError::TooLarge`] beyond `limit`.
pub fn read_capped(reader: impl Read, what: &str, limit: u64) -> Result<Vec<u8>, ImportError> {
    let mut buffer = Vec::new();
    // One byte over the limit tells "exactly at the limit" from "beyond it".
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buffer)
        .map_err(|source| ImportError::Io {
            what: what.to_owned(),
            source,
        })?;
    if buffer.len() as u64 > limit {
        return Err(ImportError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(buffer)
}

/// Reads a file whole, up to `limit` bytes.
pub fn read_file_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ImportError> {
    let what = path.display().to_string();
    let file = open(path)?;
    read_capped(file, &what, limit)
}

pub fn open(path: &Path) -> Result<File, ImportError> {
    File::open(path).map_err(|source| ImportError::Io {
        what: path.display().to_string(),
        source,
    })
}

/// A reader that stops after `limit` bytes and remembers that it did, so a
/// streaming parser's "unexpected end of input" can be reported as the size
/// limit it really is.
pub struct LimitedReader<R> {
    inner: R,
    remaining: u64,
    hit_limit: bool,
}

impl<R: Read> LimitedReader<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        LimitedReader {
            inner,
            remaining: limit,
            hit_limit: false,
        }
    }

    pub fn hit_limit(&self) -> bool {
        self.hit_limit
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Only a limit if there was more to read.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.hit_limit = true;
            }
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_accepts_the_limit_and_refuses_beyond() {
        let table: [(&[u8], u64, bool); 4] = [
            (b"", 0, true),
            (b"abc", 3, true),
            (b"abcd", 3, false),
            (b"abc", 100, true),
        ];
        for (input, limit, ok) in table {
            let result = read_capped(input, "t", limit);
            assert_eq!(result.is_ok(), ok, "{input:?} limit {limit}");
            if let Err(error) = result {
                assert!(matches!(error, ImportError::TooLarge { limit: l, .. } if l == limit));
            }
        }
    }

    #[test]
    fn limited_reader_notices_only_real_overflow() {
        let mut exact = LimitedReader::new(&b"abc"[..], 3);
        let mut out = Vec::new();
        exact.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert!(!exact.hit_limit());

        let mut over = LimitedReader::new(&b"abcd"[..], 3);
        let mut out = Vec::new();
        over.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert!(over.hit_limit());
    }
}
