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

/// Decodes one body, reusing `buffer` for the decompressed JSON.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], buffer: &mut Vec<u8>) -> Result<T, String> {
    buffer.clear();
    let decoder = zstd::stream::read::Decoder::new(body).map_err(|e| e.to_string())?;
    decoder
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(buffer)
        .map_err(|e| format!("corrupt compressed body: {e}"))?;
    if buffer.len() as u64 > MAX_BODY_BYTES {
        return Err(format!("body decompresses beyond {MAX_BODY_BYTES} bytes"));
    }
    serde_json::from_slice(buffer).map_err(|e| format!("undecodable body: {e}"))
}
