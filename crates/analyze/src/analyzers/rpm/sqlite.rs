//! A small read-only reader of the SQLite 3 file format, enough to list the
//! rows of one table: rpm keeps its database in SQLite, and linking the C
//! library would clash with the one sqlx brings elsewhere in the workspace.
//!
//! Only the main database file is read. A `-wal` file next to it may hold
//! committed rows not yet checkpointed into the main file; the analyzer sees
//! one file at a time, so those rows are not seen (rpm checkpoints when it
//! closes the database, so images rarely ship a non-empty WAL).
//!
//! The file is hostile: pages are read one at a time on demand, every page
//! number and offset is range-checked, each page is visited at most once (a
//! loop in the b-tree or an overflow chain is an error, not a hang), the tree
//! depth is capped, and a row's payload is capped in size.
//!
//! Reference: <https://www.sqlite.org/fileformat2.html>.

use std::collections::HashSet;
use std::io::{self, SeekFrom};

use crate::ReadSeek;

/// Largest payload (one row) assembled in memory. The biggest rpm headers
/// (kernel-devel, huge file lists) are a few MiB.
pub const MAX_PAYLOAD_BYTES: u64 = 64 << 20;
/// Table b-trees this deep hold more rows than any file could; deeper means a
/// crafted file.
const MAX_TREE_DEPTH: u32 = 40;
/// SQLite's own default limit on columns in a table.
const MAX_COLUMNS: usize = 2000;
const HEADER_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const FILE_HEADER_LEN: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("reading the database failed: {0}")]
    Io(#[from] io::Error),
    #[error("not a SQLite 3 database (bad header magic)")]
    NotSqlite,
    #[error("invalid database header: {0}")]
    BadHeader(String),
    #[error("page {page}: {message}")]
    BadPage { page: u32, message: String },
    #[error("row {rowid}: {message}")]
    BadRow { rowid: i64, message: String },
    #[error("schema: {0}")]
    BadSchema(String),
}

fn bad_page(page: u32, message: impl Into<String>) -> SqliteError {
    SqliteError::BadPage {
        page,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

/// One column value of a row, borrowing the row's payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    /// Raw bytes in the database's text encoding; see [`Database::decode_text`].
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// A row's record: its payload and where each column lies in it.
#[derive(Debug)]
pub struct Record {
    payload: Vec<u8>,
    /// (serial type, offset of the value in `payload`)
    columns: Vec<(u64, usize)>,
}

impl Record {
    fn parse(payload: Vec<u8>) -> Result<Record, String> {
        let (header_len, mut pos) =
            read_varint(&payload, 0).ok_or("record header length is truncated")?;
        let header_len = usize::try_from(header_len)
            .ok()
            .filter(|len| *len <= payload.len() && *len >= pos)
            .ok_or("record header length is out of range")?;
        let mut columns = Vec::new();
        let mut content = header_len;
        while pos < header_len {
            if columns.len() == MAX_COLUMNS {
                return Err(format!("record has more than {MAX_COLUMNS} columns"));
            }
            let (serial_type, next) =
                read_varint(&payload[..header_len], pos).ok_or("record header is truncated")?;
            pos = next;
            let len = serial_type_len(serial_type)
                .ok_or_else(|| format!("reserved serial type {serial_type}"))?;
            columns.push((serial_type, content));
            content = usize::try_from(len)
                .ok()
                .and_then(|len| content.checked_add(len))
                .filter(|end| *end <= payload.len())
                .ok_or("record values run past the payload")?;
        }
        Ok(Record { payload, columns })
    }

    #[cfg(test)]
    pub(crate) fn parse_for_tests(payload: Vec<u8>) -> Record {
        Record::parse(payload).expect("test record is well-formed")
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The value of column `index`; columns past the record's end are NULL,
    /// as SQLite reads rows written before an `ALTER TABLE ADD COLUMN`.
    pub fn value(&self, index: usize) -> Value<'_> {
        let Some(&(serial_type, offset)) = self.columns.get(index) else {
            return Value::Null;
        };
        // Record::parse checked every value lies inside the payload.
        let len = serial_type_len(serial_type).unwrap_or(0) as usize;
        let bytes = &self.payload[offset..offset + len];
        let int = |bytes: &[u8]| {
            // Big-endian two's complement of 1..=8 bytes.
            let mut v: i64 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                -1
            } else {
                0
            };
            for b in bytes {
                v = (v << 8) | i64::from(*b);
            }
            v
        };
        match serial_type {
            0 => Value::Null,
            1..=6 => Value::Integer(int(bytes)),
            7 => Value::Real(f64::from_bits(int(bytes) as u64)),
            8 => Value::Integer(0),
            9 => Value::Integer(1),
            n if n % 2 == 0 => Value::Blob(bytes),
            _ => Value::Text(bytes),
        }
    }
}

/// Byte length of a value of the given serial type; `None` for the reserved types.
fn serial_type_len(serial_type: u64) -> Option<u64> {
    Some(match serial_type {
        0 | 8 | 9 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        4 => 4,
        5 => 6,
        6 | 7 => 8,
        10 | 11 => return None,
        n => (n - 12) / 2,
    })
}

/// SQLite's big-endian varint: 1 to 9 bytes, the ninth contributing 8 bits.
/// Returns the value and the position after it.
fn read_varint(bytes: &[u8], start: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let byte = *bytes.get(start + i)?;
        if i == 8 {
            return Some(((value << 8) | u64::from(byte), start + 9));
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((value, start + i + 1));
        }
    }
    None
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Most problems a [`ScanReport`] keeps; the rest are only counted.
const MAX_PROBLEMS: usize = 100;

/// What a table scan could not read, while still listing the rest.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub rows: u64,
    /// Subtrees and rows that were skipped, with why (the first ones).
    pub problems: Vec<SqliteError>,
    /// Problems beyond those kept in `problems`.
    pub more_problems: u64,
}

impl ScanReport {
    fn note(&mut self, problem: SqliteError) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.more_problems += 1;
        }
    }
}

/// An open database file.
pub struct Database<'a> {
    body: &'a mut dyn ReadSeek,
    page_size: u32,
    usable_size: u32,
    page_count: u32,
    encoding: TextEncoding,
    /// Overflow pages already used by a row of this scan: each belongs to
    /// exactly one row, so seeing one twice means a crafted loop.
    overflow_seen: HashSet<u32>,
}

impl<'a> Database<'a> {
    pub fn open(body: &'a mut dyn ReadSeek) -> Result<Database<'a>, SqliteError> {
        let file_len = body.seek(SeekFrom::End(0))?;
        body.seek(SeekFrom::Start(0))?;
        let mut header = [0u8; FILE_HEADER_LEN];
        if file_len < FILE_HEADER_LEN as u64 {
            return Err(SqliteError::NotSqlite);
        }
        body.read_exact(&mut header)?;
        if &header[..16] != HEADER_MAGIC {
            return Err(SqliteError::NotSqlite);
        }
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65536,
            n if (512..=32768).contains(&n) && n.is_power_of_two() => u32::from(n),
            n => return Err(SqliteError::BadHeader(format!("invalid page size {n}"))),
        };
        let reserved = u32::from(header[20]);
        let usable_size = page_size - reserved;
        if usable_size < 480 {
            return Err(SqliteError::BadHeader(format!(
                "{reserved} reserved bytes leave too little of a {page_size}-byte page"
            )));
        }
        if header[21..24] != [64, 32, 32] {
            return Err(SqliteError::BadHeader(
                "invalid payload fractions".to_owned(),
            ));
        }
        let encoding = match u32::from_be_bytes([header[56], header[57], header[58], header[59]]) {
            // 0: a database with no schema yet, where the encoding is not fixed.
            0 | 1 => TextEncoding::Utf8,
            2 => TextEncoding::Utf16Le,
            3 => TextEncoding::Utf16Be,
            n => {
                return Err(SqliteError::BadHeader(format!("invalid text encoding {n}")));
            }
        };
        // The file's length, not the header's page count, decides which pages
        // exist: the header's count may be stale, and a crafted one may lie.
        let page_count = u32::try_from(file_len / u64::from(page_size)).unwrap_or(u32::MAX);
        Ok(Database {
            body,
            page_size,
            usable_size,
            page_count,
            encoding,
            overflow_seen: HashSet::new(),
        })
    }

    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    /// Decodes a text value written in this database's encoding.
    pub fn decode_text(&self, bytes: &[u8]) -> String {
        let units = |to_u16: fn([u8; 2]) -> u16| {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| to_u16([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        };
        match self.encoding {
            TextEncoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            TextEncoding::Utf16Le => units(u16::from_le_bytes),
            TextEncoding::Utf16Be => units(u16::from_be_bytes),
        }
    }

    fn read_page(&mut self, page: u32, buf: &mut Vec<u8>) -> Result<(), SqliteError> {
        if page == 0 || page > self.page_count {
            return Err(bad_page(
                page,
                format!(
                    "page number out of range (the file has {} pages)",
                    self.page_count
                ),
            ));
        }
        buf.resize(self.page_size as usize, 0);
        let offset = u64::from(page - 1) * u64::from(self.page_size);
        self.body.seek(SeekFrom::Start(offset))?;
        self.body.read_exact(buf)?;
        Ok(())
    }

    /// The root page of table `name` (compared ASCII case-insensitively, as
    /// SQLite compares identifiers), from the schema table on page 1.
    pub fn table_root_page(&mut self, name: &str) -> Result<Option<u32>, SqliteError> {
        let mut found: Option<Result<u32, SqliteError>> = None;
        let report = self.scan_table(1, &mut |db, _rowid, record| {
            if found.is_some() {
                return;
            }
            let text = |value: Value<'_>| match value {
                Value::Text(bytes) => Some(db.decode_text(bytes)),
                _ => None,
            };
            let is_table = text(record.value(0)).is_some_and(|t| t == "table");
            let same_name = text(record.value(1)).is_some_and(|n| n.eq_ignore_ascii_case(name));
            if !(is_table && same_name) {
                return;
            }
            found = Some(match record.value(3) {
                Value::Integer(root) if root >= 1 && root <= i64::from(db.page_count) => {
                    Ok(root as u32)
                }
                other => Err(SqliteError::BadSchema(format!(
                    "table {name} has an invalid root page {other:?}"
                ))),
            });
        })?;
        match found {
            Some(root) => root.map(Some),
            // A damaged schema that did not list the table is not proof that
            // the table does not exist.
            None => match report.problems.into_iter().next() {
                Some(problem) => Err(SqliteError::BadSchema(format!(
                    "the schema could not be read whole: {problem}"
                ))),
                None => Ok(None),
            },
        }
    }

    /// Calls `visit` with every row of the table b-tree rooted at `root`, in
    /// rowid order. A damaged subtree or row is skipped and reported in the
    /// returned [`ScanReport`]; only an unreadable root is an error.
    pub fn scan_table(
        &mut self,
        root: u32,
        visit: &mut dyn FnMut(&Database<'a>, i64, &Record),
    ) -> Result<ScanReport, SqliteError> {
        let mut report = ScanReport::default();
        // Every page ever put on the stack: a page is queued at most once, so
        // the stack and the work stay bounded by the file's page count even
        // when crafted interior pages all point at the same children.
        let mut queued: HashSet<u32> = HashSet::from([root]);
        let mut page_buf = Vec::new();
        let mut stack: Vec<(u32, u32)> = vec![(root, 0)];
        while let Some((page, depth)) = stack.pop() {
            let result = self.scan_page(
                page,
                depth,
                &mut queued,
                &mut page_buf,
                &mut stack,
                visit,
                &mut report,
            );
            if let Err(err) = result {
                // Nothing can be listed without the root; I/O failures are
                // not damage in the file and would repeat on every page.
                if depth == 0 || matches!(err, SqliteError::Io(_)) {
                    return Err(err);
                }
                report.note(err);
            }
        }
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_page(
        &mut self,
        page: u32,
        depth: u32,
        queued: &mut HashSet<u32>,
        page_buf: &mut Vec<u8>,
        stack: &mut Vec<(u32, u32)>,
        visit: &mut dyn FnMut(&Database<'a>, i64, &Record),
        report: &mut ScanReport,
    ) -> Result<(), SqliteError> {
        if depth > MAX_TREE_DEPTH {
            return Err(bad_page(
                page,
                format!("b-tree deeper than {MAX_TREE_DEPTH} levels"),
            ));
        }
        self.read_page(page, page_buf)?;
        let usable = self.usable_size as usize;
        let page_bytes = &page_buf[..usable];
        // Page 1 starts with the 100-byte file header.
        let header_at = if page == 1 { FILE_HEADER_LEN } else { 0 };
        let kind = page_bytes[header_at];
        let interior = match kind {
            0x05 => true,
            0x0d => false,
            other => {
                return Err(bad_page(
                    page,
                    format!("not a table b-tree page (type {other:#04x})"),
                ));
            }
        };
        let cell_count = usize::from(be_u16(page_bytes, header_at + 3).unwrap_or(0));
        let pointers_at = header_at + if interior { 12 } else { 8 };
        let pointers_end = pointers_at + 2 * cell_count;
        if pointers_end > usable {
            return Err(bad_page(
                page,
                format!("{cell_count} cells do not fit in the page"),
            ));
        }
        let mut cell_offsets = Vec::with_capacity(cell_count);
        for i in 0..cell_count {
            let offset = usize::from(be_u16(page_bytes, pointers_at + 2 * i).unwrap_or(0));
            if offset < pointers_end || offset >= usable {
                return Err(bad_page(
                    page,
                    format!("cell offset {offset} is outside the cell area"),
                ));
            }
            cell_offsets.push(offset);
        }
        if interior {
            let right_most = be_u32(page_bytes, header_at + 8).unwrap_or(0);
            let mut children = Vec::with_capacity(cell_count + 1);
            for offset in cell_offsets {
                let child = be_u32(page_bytes, offset).ok_or_else(|| {
                    bad_page(page, format!("cell at offset {offset} runs past the page"))
                })?;
                children.push(child);
            }
            children.push(right_most);
            // Popped in order, so the rows come out in rowid order.
            for child in children.into_iter().rev() {
                if child == 0 || child > self.page_count {
                    report.note(bad_page(
                        child,
                        format!(
                            "page number out of range (the file has {} pages)",
                            self.page_count
                        ),
                    ));
                } else if !queued.insert(child) {
                    report.note(bad_page(
                        child,
                        "page is linked twice in the b-tree (a loop)",
                    ));
                } else {
                    stack.push((child, depth + 1));
                }
            }
            return Ok(());
        }
        for offset in cell_offsets {
            match self.read_leaf_cell(page, page_bytes, offset) {
                Ok((rowid, record)) => {
                    report.rows += 1;
                    visit(self, rowid, &record);
                }
                Err(err @ SqliteError::Io(_)) => return Err(err),
                Err(err) => report.note(err),
            }
        }
        Ok(())
    }

    /// Reads the table-leaf cell at `offset` of `page_bytes` (the usable
    /// part of page `page`), following its overflow chain.
    fn read_leaf_cell(
        &mut self,
        page: u32,
        page_bytes: &[u8],
        offset: usize,
    ) -> Result<(i64, Record), SqliteError> {
        let usable = self.usable_size as usize;
        let out_of_page = || bad_page(page, format!("cell at offset {offset} runs past the page"));
        if offset >= usable {
            return Err(out_of_page());
        }
        let (payload_len, pos) = read_varint(page_bytes, offset).ok_or_else(out_of_page)?;
        let (rowid, pos) = read_varint(page_bytes, pos).ok_or_else(out_of_page)?;
        let rowid = rowid as i64;
        let bad_row = |message: String| SqliteError::BadRow { rowid, message };
        if payload_len > MAX_PAYLOAD_BYTES {
            return Err(bad_row(format!(
                "payload of {payload_len} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
            )));
        }
        let payload_len = payload_len as usize;
        let local_len = local_payload_len(payload_len, usable);
        let local_end = pos + local_len;
        let overflow_end = local_end + if local_len < payload_len { 4 } else { 0 };
        if overflow_end > usable {
            return Err(out_of_page());
        }
        let mut payload = Vec::with_capacity(local_len);
        payload.extend_from_slice(&page_bytes[pos..local_end]);
        if local_len < payload_len {
            let first = be_u32(page_bytes, local_end).unwrap_or(0);
            self.read_overflow(first, payload_len, &mut payload)
                .map_err(|err| match err {
                    SqliteError::Io(_) => err,
                    other => bad_row(format!("overflow chain: {other}")),
                })?;
        }
        let record = Record::parse(payload).map_err(bad_row)?;
        Ok((rowid, record))
    }

    /// Appends the overflow chain starting at `first` to `payload` until it
    /// holds `total` bytes.
    fn read_overflow(
        &mut self,
        first: u32,
        total: usize,
        payload: &mut Vec<u8>,
    ) -> Result<(), SqliteError> {
        let mut next = first;
        let mut buf = Vec::new();
        let per_page = self.usable_size as usize - 4;
        while payload.len() < total {
            if next == 0 {
                return Err(bad_page(
                    first,
                    format!("chain ends after {} of {total} bytes", payload.len()),
                ));
            }
            if !self.overflow_seen.insert(next) {
                return Err(bad_page(next, "overflow page is used twice (a loop)"));
            }
            let page = next;
            self.read_page(page, &mut buf)?;
            next = be_u32(&buf, 0).unwrap_or(0);
            let take = per_page.min(total - payload.len());
            payload.extend_from_slice(&buf[4..4 + take]);
        }
        Ok(())
    }
}

/// How much of a table-leaf payload is stored on the b-tree page itself; the
/// rest goes to overflow pages (file format §1.6).
fn local_payload_len(payload_len: usize, usable: usize) -> usize {
    let max_local = usable - 35;
    if payload_len <= max_local {
        return payload_len;
    }
    let min_local = (usable - 12) * 32 / 255 - 23;
    let candidate = min_local + (payload_len - min_local) % (usable - 4);
    if candidate <= max_local {
        candidate
    } else {
        min_local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        type Case = (&'static [u8], Option<(u64, usize)>);
        let cases: &[Case] = &[
            (&[0x00], Some((0, 1))),
            (&[0x7f], Some((127, 1))),
            (&[0x81, 0x00], Some((128, 2))),
            (&[0x82, 0x2c], Some((300, 2))),
            (&[0xff; 9], Some((u64::MAX, 9))),
            (
                &[0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
                Some((1 << 57 | 1, 9)),
            ),
            (&[0x81], None),
            (&[], None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(read_varint(bytes, 0), *expected, "{bytes:02x?}");
        }
    }

    #[test]
    fn record_values() {
        // header: len 8; types: NULL, int8, int16, zero, one, text(3), blob(2)
        let payload = vec![
            8, 0, 1, 2, 8, 9, 19, 16,   // header
            0xfe, // int8 -2
            0x01, 0x00, // int16 256
            b'a', b'b', b'c', // text
            0xde, 0xad, // blob
        ];
        let record = Record::parse(payload).unwrap();
        let values: Vec<Value<'_>> = (0..8).map(|i| record.value(i)).collect();
        assert_eq!(
            values,
            [
                Value::Null,
                Value::Integer(-2),
                Value::Integer(256),
                Value::Integer(0),
                Value::Integer(1),
                Value::Text(b"abc"),
                Value::Blob(&[0xde, 0xad]),
                Value::Null,
            ]
        );
    }

    #[test]
    fn malformed_records_are_rejected() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "record header length is truncated"),
            (&[5, 0], "record header length is out of range"),
            (&[2, 10], "reserved serial type 10"),
            (&[2, 0x81], "record header is truncated"),
            (&[2, 6, 0, 0], "record values run past the payload"),
            (&[3, 0x81, 0x00], "record values run past the payload"),
            (&[3, 0x8f, 0xff], "record header is truncated"),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                Record::parse(payload.to_vec()).unwrap_err(),
                *expected,
                "{payload:?}"
            );
        }
    }

    #[test]
    fn local_payload_split_matches_sqlite() {
        // usable 512: max local 477, min local 39.
        // 478 would keep 478 bytes, more than the 477 maximum, so it keeps 39.
        let cases = [(0, 0), (477, 477), (478, 39), (3000, 460)];
        for (payload, local) in cases {
            assert_eq!(local_payload_len(payload, 512), local, "{payload}");
        }
        // usable 4096: a 5000-byte payload keeps min_local + remainder.
        let min_local = (4096 - 12) * 32 / 255 - 23;
        assert_eq!(
            local_payload_len(5000, 4096),
            min_local + (5000 - min_local) % 4092
        );
    }

    /// Hand-built databases with 512-byte pages, for the shapes sqlite3
    /// never writes.
    mod crafted {
        use std::io::Cursor;

        use super::super::*;

        const PAGE: usize = 512;

        fn varint(mut v: u64) -> Vec<u8> {
            // Only the 1..=8-byte forms are needed here.
            let mut groups = vec![(v & 0x7f) as u8];
            v >>= 7;
            while v > 0 {
                groups.push(0x80 | (v & 0x7f) as u8);
                v >>= 7;
            }
            groups.reverse();
            groups
        }

        fn text_record(values: &[&str], root: u8) -> Vec<u8> {
            let mut header = Vec::new();
            let mut body = Vec::new();
            for v in values {
                header.extend(varint(13 + 2 * v.len() as u64));
                body.extend_from_slice(v.as_bytes());
            }
            header.push(1);
            body.push(root);
            header.push(0);
            let mut record = varint(header.len() as u64 + 1);
            record.extend(header);
            record.extend(body);
            record
        }

        fn leaf_cell(rowid: u64, payload: &[u8]) -> Vec<u8> {
            let mut cell = varint(payload.len() as u64);
            cell.extend(varint(rowid));
            cell.extend_from_slice(payload);
            cell
        }

        /// Writes a b-tree page header and cells (placed at the page's end).
        fn btree_page(
            page: &mut [u8],
            header_at: usize,
            kind: u8,
            cells: &[Vec<u8>],
            right_most: u32,
        ) {
            page[header_at] = kind;
            page[header_at + 3..header_at + 5].copy_from_slice(&(cells.len() as u16).to_be_bytes());
            let pointers_at = header_at + if kind == 0x05 { 12 } else { 8 };
            if kind == 0x05 {
                page[header_at + 8..header_at + 12].copy_from_slice(&right_most.to_be_bytes());
            }
            let mut end = PAGE;
            for (i, cell) in cells.iter().enumerate() {
                end -= cell.len();
                page[end..end + cell.len()].copy_from_slice(cell);
                let at = pointers_at + 2 * i;
                page[at..at + 2].copy_from_slice(&(end as u16).to_be_bytes());
            }
        }

        /// A database whose page 1 lists table `Packages` at `root`, plus
        /// `extra` zeroed pages for the test to fill.
        fn database(root: u8, extra: usize) -> Vec<u8> {
            let mut db = vec![0u8; PAGE * (1 + extra)];
            db[..16].copy_from_slice(b"SQLite format 3\0");
            db[16..18].copy_from_slice(&(PAGE as u16).to_be_bytes());
            db[18] = 1;
            db[19] = 1;
            db[21..24].copy_from_slice(&[64, 32, 32]);
            db[59] = 1;
            let schema = text_record(&["table", "Packages", "Packages"], root);
            btree_page(&mut db[..PAGE], 100, 0x0d, &[leaf_cell(1, &schema)], 0);
            db
        }

        fn page_mut(db: &mut [u8], number: usize) -> &mut [u8] {
            &mut db[(number - 1) * PAGE..number * PAGE]
        }

        fn scan(db: &[u8]) -> Result<(Vec<i64>, Vec<String>), SqliteError> {
            let mut body = Cursor::new(db);
            let mut database = Database::open(&mut body)?;
            let root = database.table_root_page("Packages")?.expect("table listed");
            let mut rows = Vec::new();
            let report = database.scan_table(root, &mut |_, rowid, _| rows.push(rowid))?;
            Ok((
                rows,
                report.problems.iter().map(|p| p.to_string()).collect(),
            ))
        }

        fn row_payload() -> Vec<u8> {
            vec![2, 0x0e, 0xaa] // one 1-byte blob
        }

        #[test]
        fn well_formed_crafted_database_is_read() {
            let mut db = database(2, 3);
            btree_page(
                page_mut(&mut db, 2),
                0,
                0x05,
                &[[0, 0, 0, 3, 5].to_vec()],
                4,
            );
            btree_page(
                page_mut(&mut db, 3),
                0,
                0x0d,
                &[leaf_cell(5, &row_payload())],
                0,
            );
            btree_page(
                page_mut(&mut db, 4),
                0,
                0x0d,
                &[leaf_cell(9, &row_payload())],
                0,
            );
            assert_eq!(scan(&db).unwrap(), (vec![5, 9], vec![]));
        }

        #[test]
        fn chain_deeper_than_the_limit_is_cut() {
            let depth = MAX_TREE_DEPTH as usize + 5;
            let mut db = database(2, depth + 1);
            for page in 2..2 + depth {
                btree_page(page_mut(&mut db, page), 0, 0x05, &[], page as u32 + 1);
            }
            btree_page(
                page_mut(&mut db, 2 + depth),
                0,
                0x0d,
                &[leaf_cell(1, &row_payload())],
                0,
            );
            let (rows, problems) = scan(&db).unwrap();
            assert_eq!(rows, Vec::<i64>::new());
            assert_eq!(
                problems,
                [format!(
                    "page {}: b-tree deeper than 40 levels",
                    2 + MAX_TREE_DEPTH + 1
                )]
            );
        }

        #[test]
        fn damaged_children_are_skipped_with_a_problem() {
            let mut db = database(2, 4);
            let children: Vec<Vec<u8>> = [3u32, 999, 4]
                .iter()
                .map(|c| {
                    let mut cell = c.to_be_bytes().to_vec();
                    cell.push(1);
                    cell
                })
                .collect();
            btree_page(page_mut(&mut db, 2), 0, 0x05, &children, 5);
            btree_page(
                page_mut(&mut db, 3),
                0,
                0x0d,
                &[leaf_cell(1, &row_payload())],
                0,
            );
            // An index page where a table page belongs.
            btree_page(page_mut(&mut db, 4), 0, 0x0a, &[], 0);
            // A leaf claiming more cells than fit.
            btree_page(page_mut(&mut db, 5), 0, 0x0d, &[], 0);
            page_mut(&mut db, 5)[3..5].copy_from_slice(&0xffffu16.to_be_bytes());
            let (rows, problems) = scan(&db).unwrap();
            assert_eq!(rows, [1]);
            assert_eq!(
                problems,
                [
                    "page 999: page number out of range (the file has 5 pages)",
                    "page 4: not a table b-tree page (type 0x0a)",
                    "page 5: 65535 cells do not fit in the page",
                ]
            );
        }

        #[test]
        fn damaged_rows_are_skipped_with_a_problem() {
            let mut db = database(2, 2);
            let mut absurd = varint(1 << 40);
            absurd.extend(varint(2));
            // 1000-byte payload: 39... bytes local, the rest on page 3, whose
            // chain stops early.
            let mut short_chain = varint(1000);
            short_chain.extend(varint(3));
            let local = local_payload_len(1000, PAGE);
            short_chain.extend(std::iter::repeat_n(0u8, local));
            short_chain.extend(3u32.to_be_bytes());
            let mut cell_past_page = varint(400);
            cell_past_page.extend(varint(4));
            btree_page(
                page_mut(&mut db, 2),
                0,
                0x0d,
                &[
                    leaf_cell(1, &row_payload()),
                    absurd,
                    short_chain,
                    cell_past_page,
                ],
                0,
            );
            let (rows, problems) = scan(&db).unwrap();
            assert_eq!(rows, [1]);
            assert_eq!(
                problems,
                [
                    "row 2: payload of 1099511627776 bytes exceeds the 67108864-byte limit",
                    "row 3: overflow chain: page 3: chain ends after 547 of 1000 bytes",
                    "page 2: cell at offset 451 runs past the page",
                ]
            );
        }

        #[test]
        fn bad_headers_and_schemas_are_errors() {
            let mut bad_page_size = database(2, 1);
            bad_page_size[16..18].copy_from_slice(&1000u16.to_be_bytes());
            let mut bad_encoding = database(2, 1);
            bad_encoding[59] = 9;
            let root_out_of_range = database(100, 1);
            let mut root_not_table = database(2, 1);
            btree_page(page_mut(&mut root_not_table, 2), 0, 0x02, &[], 0);
            let cases: Vec<(Vec<u8>, &str)> = vec![
                (
                    b"not a database".to_vec(),
                    "not a SQLite 3 database (bad header magic)",
                ),
                (
                    bad_page_size,
                    "invalid database header: invalid page size 1000",
                ),
                (
                    bad_encoding,
                    "invalid database header: invalid text encoding 9",
                ),
                (
                    root_out_of_range,
                    "schema: table Packages has an invalid root page Integer(100)",
                ),
                (
                    root_not_table,
                    "page 2: not a table b-tree page (type 0x02)",
                ),
            ];
            for (db, expected) in cases {
                assert_eq!(scan(&db).unwrap_err().to_string(), expected);
            }
        }
    }
}
