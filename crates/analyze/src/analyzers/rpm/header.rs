//! RPM header blobs, as rpm stores one per package in its database: a count
//! of index entries, the data length, the 16-byte index entries (tag, type,
//! offset, count; big-endian) and the data store they point into. Every
//! offset is checked against the data store; nothing is allocated from a
//! count read in the blob.

pub const TAG_NAME: u32 = 1000;
pub const TAG_VERSION: u32 = 1001;
pub const TAG_RELEASE: u32 = 1002;
pub const TAG_EPOCH: u32 = 1003;
pub const TAG_LICENSE: u32 = 1014;
pub const TAG_ARCH: u32 = 1022;
pub const TAG_SOURCERPM: u32 = 1044;
/// `name:stream:version:context` of the module a package was built in.
pub const TAG_MODULARITYLABEL: u32 = 5096;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own limits (`hdrblobVerifyInfo`): at most 0xffff index entries and
/// 256 MiB of data.
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA_BYTES: u32 = 0x0fff_ffff;
const ENTRY_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header blob of {0} bytes is too short for its preamble")]
    TooShort(usize),
    #[error("header claims {0} index entries (limit {MAX_ENTRIES})")]
    TooManyEntries(u32),
    #[error("header claims {0} data bytes (limit {MAX_DATA_BYTES})")]
    DataTooLarge(u32),
    #[error("header claims {claimed} bytes but the blob has {actual}")]
    Truncated { claimed: u64, actual: usize },
    #[error("tag {tag}: {message}")]
    BadEntry { tag: u32, message: String },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// A parsed header, borrowing the blob.
pub struct Header<'a> {
    index: &'a [u8],
    data: &'a [u8],
}

impl<'a> Header<'a> {
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, HeaderError> {
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(blob.get(at..at + 4)?.try_into().ok()?))
        };
        let (Some(entries), Some(data_len)) = (word(0), word(4)) else {
            return Err(HeaderError::TooShort(blob.len()));
        };
        if entries > MAX_ENTRIES {
            return Err(HeaderError::TooManyEntries(entries));
        }
        if data_len > MAX_DATA_BYTES {
            return Err(HeaderError::DataTooLarge(data_len));
        }
        let index_len = entries as usize * ENTRY_LEN;
        let claimed = 8 + index_len as u64 + u64::from(data_len);
        if claimed > blob.len() as u64 {
            return Err(HeaderError::Truncated {
                claimed,
                actual: blob.len(),
            });
        }
        let index = &blob[8..8 + index_len];
        let data = &blob[8 + index_len..8 + index_len + data_len as usize];
        Ok(Header { index, data })
    }

    fn entry(&self, tag: u32) -> Option<Entry> {
        self.index.chunks_exact(ENTRY_LEN).find_map(|raw| {
            let word =
                |at: usize| u32::from_be_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
            (word(0) == tag).then(|| Entry {
                tag,
                kind: word(4),
                offset: word(8),
                count: word(12),
            })
        })
    }

    fn bad(entry: &Entry, message: impl Into<String>) -> HeaderError {
        HeaderError::BadEntry {
            tag: entry.tag,
            message: message.into(),
        }
    }

    /// The bytes of the NUL-terminated string at the entry's offset.
    fn c_string(&self, entry: &Entry) -> Result<&'a [u8], HeaderError> {
        let start = entry.offset as usize;
        let rest = self
            .data
            .get(start..)
            .ok_or_else(|| Self::bad(entry, format!("offset {start} is past the data store")))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Self::bad(entry, "string is not NUL-terminated"))?;
        Ok(&rest[..end])
    }

    /// A string tag's raw bytes (the first string of an array or
    /// translation table); `None` when the tag is absent.
    pub fn string_bytes(&self, tag: u32) -> Result<Option<&'a [u8]>, HeaderError> {
        let Some(entry) = self.entry(tag) else {
            return Ok(None);
        };
        match entry.kind {
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING if entry.count >= 1 => {
                self.c_string(&entry).map(Some)
            }
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING => {
                Err(Self::bad(&entry, "empty string array"))
            }
            other => Err(Self::bad(
                &entry,
                format!("type {other} where a string was expected"),
            )),
        }
    }

    /// A string tag as UTF-8; `None` when the tag is absent.
    pub fn string(&self, tag: u32) -> Result<Option<&'a str>, HeaderError> {
        match self.string_bytes(tag)? {
            None => Ok(None),
            Some(bytes) => {
                std::str::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| HeaderError::BadEntry {
                        tag,
                        message: "string is not valid UTF-8".to_owned(),
                    })
            }
        }
    }

    /// The first value of an INT32 tag; `None` when the tag is absent.
    pub fn int32(&self, tag: u32) -> Result<Option<u32>, HeaderError> {
        let Some(entry) = self.entry(tag) else {
            return Ok(None);
        };
        if entry.kind != TYPE_INT32 {
            return Err(Self::bad(
                &entry,
                format!("type {} where INT32 was expected", entry.kind),
            ));
        }
        if entry.count == 0 {
            return Err(Self::bad(&entry, "empty INT32 array"));
        }
        let at = entry.offset as usize;
        let bytes = self
            .data
            .get(at..at.saturating_add(4))
            .ok_or_else(|| Self::bad(&entry, format!("offset {at} is past the data store")))?;
        Ok(Some(u32::from_be_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3],
        ])))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    /// Builds header blobs for tests: entries are (tag, type, offset, count)
    /// over a data store given as bytes.
    pub(crate) struct Builder {
        entries: Vec<[u32; 4]>,
        data: Vec<u8>,
    }

    impl Builder {
        pub(crate) fn new() -> Builder {
            Builder {
                entries: Vec::new(),
                data: Vec::new(),
            }
        }

        pub(crate) fn string(mut self, tag: u32, value: &str) -> Builder {
            let offset = self.data.len() as u32;
            self.data.extend_from_slice(value.as_bytes());
            self.data.push(0);
            self.entries.push([tag, super::TYPE_STRING, offset, 1]);
            self
        }

        pub(crate) fn int32(mut self, tag: u32, value: u32) -> Builder {
            while !self.data.len().is_multiple_of(4) {
                self.data.push(0);
            }
            let offset = self.data.len() as u32;
            self.data.extend_from_slice(&value.to_be_bytes());
            self.entries.push([tag, super::TYPE_INT32, offset, 1]);
            self
        }

        pub(crate) fn raw_entry(mut self, entry: [u32; 4]) -> Builder {
            self.entries.push(entry);
            self
        }

        pub(crate) fn build(self) -> Vec<u8> {
            let mut blob = Vec::new();
            blob.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
            blob.extend_from_slice(&(self.data.len() as u32).to_be_bytes());
            for entry in &self.entries {
                for word in entry {
                    blob.extend_from_slice(&word.to_be_bytes());
                }
            }
            blob.extend_from_slice(&self.data);
            blob
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Builder;
    use super::*;

    #[test]
    fn reads_strings_and_ints() {
        let blob = Builder::new()
            .string(TAG_NAME, "bash")
            .int32(TAG_EPOCH, 7)
            .string(TAG_VERSION, "5.2.26")
            .build();
        let header = Header::parse(&blob).unwrap();
        assert_eq!(header.string(TAG_NAME).unwrap(), Some("bash"));
        assert_eq!(header.string(TAG_VERSION).unwrap(), Some("5.2.26"));
        assert_eq!(header.int32(TAG_EPOCH).unwrap(), Some(7));
        assert_eq!(header.string(TAG_RELEASE).unwrap(), None);
        assert_eq!(header.int32(TAG_ARCH).unwrap(), None);
    }

    #[test]
    fn rejects_hostile_preambles() {
        let mut huge_entries = Vec::new();
        huge_entries.extend_from_slice(&u32::MAX.to_be_bytes());
        huge_entries.extend_from_slice(&0u32.to_be_bytes());
        let mut huge_data = Vec::new();
        huge_data.extend_from_slice(&1u32.to_be_bytes());
        huge_data.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut truncated = Builder::new().string(TAG_NAME, "bash").build();
        truncated.pop();
        let cases: &[(&[u8], HeaderError)] = &[
            (&[], HeaderError::TooShort(0)),
            (&[0, 0, 0, 1, 0, 0], HeaderError::TooShort(6)),
            (&huge_entries, HeaderError::TooManyEntries(u32::MAX)),
            (&huge_data, HeaderError::DataTooLarge(u32::MAX)),
            (
                &[0, 0, 0, 2, 0, 0, 0, 0],
                HeaderError::Truncated {
                    claimed: 40,
                    actual: 8,
                },
            ),
            (
                &truncated,
                HeaderError::Truncated {
                    claimed: 29,
                    actual: 28,
                },
            ),
        ];
        for (blob, expected) in cases {
            assert_eq!(
                Header::parse(blob).err().as_ref(),
                Some(expected),
                "{blob:?}"
            );
        }
    }

    #[test]
    fn rejects_hostile_entries() {
        let bad = |tag, message: &str| HeaderError::BadEntry {
            tag,
            message: message.to_owned(),
        };
        let cases = [
            (
                Builder::new()
                    .raw_entry([TAG_NAME, TYPE_STRING, 1 << 30, 1])
                    .build(),
                bad(TAG_NAME, "offset 1073741824 is past the data store"),
            ),
            (
                Builder::new()
                    .raw_entry([TAG_NAME, TYPE_STRING, 0, 1])
                    .int32(TAG_EPOCH, 0x4142_4344)
                    .build(),
                bad(TAG_NAME, "string is not NUL-terminated"),
            ),
            (
                Builder::new()
                    .raw_entry([TAG_NAME, TYPE_INT32, 0, 1])
                    .build(),
                bad(TAG_NAME, "type 4 where a string was expected"),
            ),
            (
                Builder::new()
                    .raw_entry([TAG_NAME, TYPE_STRING_ARRAY, 0, 0])
                    .build(),
                bad(TAG_NAME, "empty string array"),
            ),
        ];
        for (blob, expected) in cases {
            let header = Header::parse(&blob).unwrap();
            assert_eq!(header.string(TAG_NAME).err(), Some(expected));
        }
        let blob = Builder::new()
            .raw_entry([TAG_EPOCH, TYPE_INT32, u32::MAX, 1])
            .build();
        assert_eq!(
            Header::parse(&blob).unwrap().int32(TAG_EPOCH).err(),
            Some(bad(TAG_EPOCH, "offset 4294967295 is past the data store"))
        );
        let blob = Builder::new()
            .raw_entry([TAG_EPOCH, TYPE_STRING, 0, 1])
            .build();
        assert_eq!(
            Header::parse(&blob).unwrap().int32(TAG_EPOCH).err(),
            Some(bad(TAG_EPOCH, "type 6 where INT32 was expected"))
        );
        let blob = Builder::new()
            .raw_entry([TAG_NAME, TYPE_STRING, 0, 1])
            .build();
        let mut with_latin1 = blob.clone();
        with_latin1.extend_from_slice(&[0xe9, 0]);
        with_latin1[7] = 2;
        assert_eq!(
            Header::parse(&with_latin1).unwrap().string(TAG_NAME).err(),
            Some(bad(TAG_NAME, "string is not valid UTF-8"))
        );
    }
}
