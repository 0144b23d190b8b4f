//! A deliberately small tar writer.
//!
//! This crate writes headers itself instead of using the `tar` crate because the
//! readers under test use the `tar` crate: an independent writer catches
//! mistakes that a shared library would hide on both sides, and it lets tests
//! emit names (`../../etc/passwd`, `/abs`) and sizes that `tar` refuses.

/// Tar type flags used by container layers.
pub mod type_flag {
    /// Regular file.
    pub const REGULAR: u8 = b'0';
    /// Hard link to an earlier entry (link target is a path in the layer).
    pub const HARDLINK: u8 = b'1';
    /// Symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// Character device.
    pub const CHAR_DEVICE: u8 = b'3';
    /// Block device.
    pub const BLOCK_DEVICE: u8 = b'4';
    /// Directory.
    pub const DIRECTORY: u8 = b'5';
    /// FIFO.
    pub const FIFO: u8 = b'6';
    /// PAX extended header for the next entry.
    pub const PAX_EXTENDED: u8 = b'x';
    /// PAX global header.
    pub const PAX_GLOBAL: u8 = b'g';
    /// GNU long name for the next entry.
    pub const GNU_LONG_NAME: u8 = b'L';
}

const BLOCK: usize = 512;
const NAME_LEN: usize = 100;

/// One tar entry exactly as it will be written, including hostile variants.
///
/// Build normal entries through [`LayerBuilder`](crate::LayerBuilder); build this
/// directly (and add it with [`LayerBuilder::raw`](crate::LayerBuilder::raw)) when a
/// test needs a header no well-behaved tool would write.
///
/// ```
/// use imagebuild::{RawEntry, type_flag};
/// let escape = RawEntry::file("../../etc/passwd", b"root::0:0::/:/bin/sh\n".to_vec());
/// let absolute = RawEntry::new("/abs/path", type_flag::DIRECTORY).mode(0o700);
/// let liar = RawEntry::file("big", b"short".to_vec()).declared_size(1 << 40);
/// # let _ = (escape, absolute, liar);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub(crate) path: Vec<u8>,
    pub(crate) type_flag: u8,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: u64,
    pub(crate) link_target: Vec<u8>,
    pub(crate) data: Vec<u8>,
    pub(crate) pax_records: Vec<(String, Vec<u8>)>,
    pub(crate) declared_size: Option<u64>,
}

/// Modification time written when a test does not choose one: fixed so that
/// digests are reproducible from run to run.
pub const DEFAULT_MTIME: u64 = 1_700_000_000;

impl RawEntry {
    /// An entry with the given header path bytes (written verbatim) and type flag.
    pub fn new(path: impl Into<Vec<u8>>, type_flag: u8) -> RawEntry {
        let mode = match type_flag {
            type_flag::DIRECTORY => 0o755,
            type_flag::SYMLINK => 0o777,
            _ => 0o644,
        };
        RawEntry {
            path: path.into(),
            type_flag,
            mode,
            uid: 0,
            gid: 0,
            mtime: DEFAULT_MTIME,
            link_target: Vec::new(),
            data: Vec::new(),
            pax_records: Vec::new(),
            declared_size: None,
        }
    }

    /// A regular file with the given header path bytes and content.
    pub fn file(path: impl Into<Vec<u8>>, data: Vec<u8>) -> RawEntry {
        RawEntry::new(path, type_flag::REGULAR).data(data)
    }

    /// Content written after the header (padded to 512 bytes).
    pub fn data(mut self, data: Vec<u8>) -> RawEntry {
        self.data = data;
        self
    }

    /// Permission bits (and, if a test wants, setuid/setgid/sticky bits).
    pub fn mode(mut self, mode: u32) -> RawEntry {
        self.mode = mode;
        self
    }

    /// Numeric owner.
    pub fn owner(mut self, uid: u64, gid: u64) -> RawEntry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Modification time in seconds since the epoch.
    pub fn mtime(mut self, mtime: u64) -> RawEntry {
        self.mtime = mtime;
        self
    }

    /// Link target for symlinks and hardlinks (written verbatim).
    pub fn link_target(mut self, target: impl Into<Vec<u8>>) -> RawEntry {
        self.link_target = target.into();
        self
    }

    /// An extra PAX record (`key=value`) written in an extended header before
    /// this entry; e.g. `("size", b"99999999999")` to lie about the size.
    pub fn pax_record(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> RawEntry {
        self.pax_records.push((key.into(), value.into()));
        self
    }

    /// The size written in the header, when it must differ from the real
    /// content length (a truncated or misaligned archive).
    pub fn declared_size(mut self, size: u64) -> RawEntry {
        self.declared_size = Some(size);
        self
    }
}

/// Appends `entry` to `out`: an optional PAX header (for long names or extra
/// records), the ustar header, the data and its padding.
pub(crate) fn write_entry(out: &mut Vec<u8>, entry: &RawEntry) {
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    if entry.path.len() > NAME_LEN {
        pax.push(("path".to_owned(), entry.path.clone()));
    }
    if entry.link_target.len() > NAME_LEN {
        pax.push(("linkpath".to_owned(), entry.link_target.clone()));
    }
    pax.extend(entry.pax_records.iter().cloned());
    if !pax.is_empty() {
        let body = pax_body(&pax);
        let mut name = b"PaxHeaders/".to_vec();
        name.extend_from_slice(&entry.path);
        let header = header_block(
            &name,
            type_flag::PAX_EXTENDED,
            0o644,
            0,
            0,
            entry.mtime,
            b"",
            body.len() as u64,
        );
        out.extend_from_slice(&header);
        push_padded(out, &body);
    }
    let size = entry.declared_size.unwrap_or(entry.data.len() as u64);
    let header = header_block(
        &entry.path,
        entry.type_flag,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.mtime,
        &entry.link_target,
        size,
    );
    out.extend_from_slice(&header);
    push_padded(out, &entry.data);
}

/// The end-of-archive marker: two zero blocks.
pub(crate) fn write_end(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
}

fn push_padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    let rem = data.len() % BLOCK;
    if rem != 0 {
        out.extend(std::iter::repeat_n(0u8, BLOCK - rem));
    }
}

/// PAX records are `"<len> <key>=<value>\n"` where `<len>` counts the whole
/// record including its own digits, so the length is found by fixpoint.
fn pax_body(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        body.extend_from_slice(len.to_string().as_bytes());
        body.push(b' ');
        body.extend_from_slice(key.as_bytes());
        body.push(b'=');
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    body
}

#[allow(clippy::too_many_arguments)]
fn header_block(
    name: &[u8],
    type_flag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: &[u8],
    size: u64,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    copy_truncated(&mut h[0..100], name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = type_flag;
    copy_truncated(&mut h[157..257], link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field read as eight spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let digits = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(digits.as_bytes());
    h
}

fn copy_truncated(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Writes a NUL-terminated octal number; values too large for the field use
/// the GNU base-256 encoding (high bit set), which `tar` readers accept.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    if text.len() <= width {
        field[..width].copy_from_slice(text.as_bytes());
        field[width] = 0;
    } else {
        field.fill(0);
        field[0] = 0x80;
        let bytes = value.to_be_bytes();
        let n = field.len();
        field[n - 8..].copy_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let cases: &[(&str, &[u8], &[u8])] =
            &[("path", b"a", b"9 path=a\n"), ("path", &[b'x'; 92], b"")];
        for (key, value, expected) in cases {
            let body = pax_body(&[((*key).to_owned(), value.to_vec())]);
            let text = String::from_utf8(body.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), body.len(), "{text:?}");
            if !expected.is_empty() {
                assert_eq!(&body, expected);
            }
        }
    }

    #[test]
    fn octal_fields_and_base256_fallback() {
        let mut f = [0u8; 12];
        octal(&mut f, 5);
        assert_eq!(&f, b"00000000005\0");
        octal(&mut f, 1 << 40);
        assert_eq!(f[0], 0x80);
        assert_eq!(u64::from_be_bytes(f[4..].try_into().unwrap()), 1 << 40);
    }
}
