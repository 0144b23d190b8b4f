//! Row bodies: serde JSON compressed with zstd. JSON because the model types
//! use `skip_serializing_if`, which non-self-describing formats cannot read
//! back; zstd level 3 cuts the JSON about sevenfold (see the bench).

use std::io::Read;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// zstd level for bodies: see `benches/vulndb.rs` for size vs speed.
pub(crate) const LEVEL: i32 = 3;

/// A body never decompresses beyond this (a hostile or corrupt row must not
/// exhaust memory); the importers cap input files at the same size.
const MAX_BODY_BYTES: u64 = advisory::MAX_FILE_BYTES;

pub(crate) struct Encoder {
    compressor: zstd::bulk::Compressor<'static>,
    json: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new() -> Result<Encoder, String> {
        Ok(Encoder {
            compressor: zstd::bulk::Compressor::new(LEVEL).map_err(|e| e.to_string())?,
            json: Vec::new(),
        })
    }

    pub(crate) fn encode(&mut self, value: &impl Serialize) -> Result<Vec<u8>, String> {
        self.json.clear();
        serde_json::to_writer(&mut self.json, value).map_err(|e| e.to_string())?;
        self.compressor
            .compress(&self.json)
            .map_err(|e| e.to_string())
    }
}

/// Decodes bodies with one zstd context and one buffer for all of them:
/// creating a context per row took a sixth of a full index load.
pub(crate) struct Decoder {
    context: zstd::bulk::Decompressor<'static>,
    buffer: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new() -> Result<Decoder, String> {
        Ok(Decoder {
            context: zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?,
            buffer: Vec::new(),
        })
    }

    pub(crate) fn decode<T: DeserializeOwned>(&mut self, body: &[u8]) -> Result<T, String> {
        self.buffer.clear();
        // Our bodies record their size (one frame from the bulk encoder):
        // decompress in one call into a buffer of that size. A frame that
        // lies about it fails ("destination buffer is too small").
        match zstd::zstd_safe::get_frame_content_size(body) {
            Ok(Some(size)) if size > MAX_BODY_BYTES => {
                return Err(format!("body decompresses beyond {MAX_BODY_BYTES} bytes"));
            }
            Ok(Some(size)) => {
                let size = usize::try_from(size).map_err(|e| e.to_string())?;
                self.buffer.reserve(size);
                self.context
                    .decompress_to_buffer(body, &mut self.buffer)
                    .map_err(|e| format!("corrupt compressed body: {e}"))?;
            }
            _ => decode_stream(body, &mut self.buffer)?,
        }
        serde_json::from_slice(&self.buffer).map_err(|e| format!("undecodable body: {e}"))
    }
}

/// Bodies whose frame does not record its size: streamed, capped.
fn decode_stream(body: &[u8], buffer: &mut Vec<u8>) -> Result<(), String> {
    let decoder = zstd::stream::read::Decoder::new(body).map_err(|e| e.to_string())?;
    decoder
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(buffer)
        .map_err(|e| format!("corrupt compressed body: {e}"))?;
    if buffer.len() as u64 > MAX_BODY_BYTES {
        return Err(format!("body decompresses beyond {MAX_BODY_BYTES} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{Decoder, Encoder};

    fn streamed(json: &[u8]) -> Vec<u8> {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.write_all(json).unwrap();
        encoder.finish().unwrap()
    }

    /// A decoded value, or the start of the error message.
    type Expected = Result<Vec<String>, &'static str>;

    /// (case, body, expected).
    #[test]
    fn decode_table() {
        let value = vec!["CVE-2024-1".to_owned(), "GHSA-x".to_owned()];
        let encoded = Encoder::new().unwrap().encode(&value).unwrap();
        let mut lying = encoded.clone();
        // Single-segment frame, one-byte content size right after the
        // descriptor: claim 1 byte of content.
        assert_eq!(lying[4] & 0b1110_0000, 0b0010_0000, "{lying:?}");
        lying[5] = 1;
        let mut huge = vec![0x28, 0xb5, 0x2f, 0xfd, 0b1110_0000];
        huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let not_json = Encoder::new().unwrap().encode(&"x").unwrap();
        let table: [(&str, Vec<u8>, Expected); 7] = [
            ("bulk frame", encoded.clone(), Ok(value.clone())),
            (
                "frame without its size",
                streamed(br#"["CVE-2024-1","GHSA-x"]"#),
                Ok(value.clone()),
            ),
            ("size too small", lying, Err("corrupt compressed body")),
            ("size beyond the cap", huge, Err("body decompresses beyond")),
            (
                "truncated",
                vec![0x28, 0xb5, 0x2f, 0xfd, 0x00],
                Err("corrupt"),
            ),
            ("not the type", not_json, Err("undecodable body")),
            // The reused context recovers from the errors before.
            ("bulk frame again", encoded, Ok(value.clone())),
        ];
        let mut decoder = Decoder::new().unwrap();
        for (case, body, expected) in table {
            let got = decoder.decode::<Vec<String>>(&body);
            match expected {
                Ok(value) => assert_eq!(got, Ok(value), "{case}"),
                Err(start) => {
                    let error = got.expect_err(case);
                    assert!(error.starts_with(start), "{case}: {error}");
                }
            }
        }
    }
}
