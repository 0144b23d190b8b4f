//! Stored bodies (findings, SBOMs, image metadata): serde JSON compressed
//! with zstd, as in `vulndb`. JSON because the model types use
//! `skip_serializing_if`, which non-self-describing formats cannot read back.

use std::io::Read;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// zstd level 3: the vulndb bench's size/speed balance.
const LEVEL: i32 = 3;

/// A body never decompresses beyond this: a corrupt or hostile row must not
/// exhaust memory. SBOMs of big images are a few MiB of JSON.
const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;

/// One compression context reused for a whole write.
pub(crate) struct Encoder {
    compressor: zstd::bulk::Compressor<'static>,
    json: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new() -> Result<Encoder, StoreError> {
        Ok(Encoder {
            compressor: zstd::bulk::Compressor::new(LEVEL).map_err(|e| StoreError::Encode {
                what: "zstd context",
                message: e.to_string(),
            })?,
            json: Vec::new(),
        })
    }

    pub(crate) fn encode(
        &mut self,
        what: &'static str,
        value: &impl Serialize,
    ) -> Result<Vec<u8>, StoreError> {
        let error = |message: String| StoreError::Encode { what, message };
        self.json.clear();
        serde_json::to_writer(&mut self.json, value).map_err(|e| error(e.to_string()))?;
        self.compressor
            .compress(&self.json)
            .map_err(|e| error(e.to_string()))
    }
}

/// One decompression context and buffer reused for many rows.
pub(crate) struct Decoder {
    context: zstd::bulk::Decompressor<'static>,
    buffer: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new() -> Result<Decoder, StoreError> {
        Ok(Decoder {
            context: zstd::bulk::Decompressor::new()
                .map_err(|e| StoreError::decode("zstd context", e))?,
            buffer: Vec::new(),
        })
    }

    pub(crate) fn decode<T: DeserializeOwned>(
        &mut self,
        what: &'static str,
        body: &[u8],
    ) -> Result<T, StoreError> {
        self.buffer.clear();
        match zstd::zstd_safe::get_frame_content_size(body) {
            Ok(Some(size)) if size > MAX_BODY_BYTES => {
                return Err(StoreError::decode(
                    what,
                    format!("body decompresses beyond {MAX_BODY_BYTES} bytes"),
                ));
            }
            Ok(Some(size)) => {
                let size = usize::try_from(size).map_err(|e| StoreError::decode(what, e))?;
                self.buffer.reserve(size);
                self.context
                    .decompress_to_buffer(body, &mut self.buffer)
                    .map_err(|e| {
                        StoreError::decode(what, format!("corrupt compressed body: {e}"))
                    })?;
            }
            _ => {
                let decoder = zstd::stream::read::Decoder::new(body)
                    .map_err(|e| StoreError::decode(what, e))?;
                decoder
                    .take(MAX_BODY_BYTES + 1)
                    .read_to_end(&mut self.buffer)
                    .map_err(|e| {
                        StoreError::decode(what, format!("corrupt compressed body: {e}"))
                    })?;
                if self.buffer.len() as u64 > MAX_BODY_BYTES {
                    return Err(StoreError::decode(
                        what,
                        format!("body decompresses beyond {MAX_BODY_BYTES} bytes"),
                    ));
                }
            }
        }
        serde_json::from_slice(&self.buffer).map_err(|e| StoreError::decode(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::{Decoder, Encoder};

    /// The decoded value, or the start of the error message.
    type Expected = Result<Vec<String>, &'static str>;

    /// (case, body, expected).
    #[test]
    fn decode_table() {
        let value = vec!["CVE-2024-1".to_owned()];
        let encoded = Encoder::new().unwrap().encode("test", &value).unwrap();
        let mut huge = vec![0x28, 0xb5, 0x2f, 0xfd, 0b1110_0000];
        huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let table: [(&str, Vec<u8>, Expected); 4] = [
            ("round trip", encoded.clone(), Ok(value.clone())),
            (
                "size beyond the cap",
                huge,
                Err("stored test is unreadable: body decompresses beyond"),
            ),
            (
                "truncated",
                vec![0x28, 0xb5, 0x2f, 0xfd, 0x00],
                Err("stored test is unreadable: corrupt"),
            ),
            (
                "not zstd",
                b"plain".to_vec(),
                Err("stored test is unreadable"),
            ),
        ];
        let mut decoder = Decoder::new().unwrap();
        for (case, body, expected) in table {
            let got = decoder.decode::<Vec<String>>("test", &body);
            match expected {
                Ok(v) => assert_eq!(got.unwrap(), v, "{case}"),
                Err(start) => {
                    let message = got.expect_err(case).to_string();
                    assert!(message.starts_with(start), "{case}: {message}");
                }
            }
        }
    }
}
