//! Just enough ELF for the binary analyzers: the section and segment tables,
//! and bounded reads of the bytes behind them.
//!
//! Binaries can be hundreds of megabytes and are often spooled to disk by the
//! walker, so nothing here reads a whole file: the headers are parsed with
//! `object`'s low-level ELF types over a [`ReadCache`] (which only ever holds
//! the ranges asked for), and every later read is capped by the caller.

use std::collections::BTreeMap;
use std::io::{self, SeekFrom};

use object::elf;
use object::read::ReadCache;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::{Endianness, ReadRef};

use crate::{AnalyzerError, ReadSeek};

const FORMAT: &str = "ELF";

/// `e_shnum`/`e_phnum` can be extended through section 0 to 2^32 entries; a
/// real executable has a few dozen, and the tables are read into memory.
const MAX_TABLE_ENTRIES: u32 = 65_535;

/// Section names live in `.shstrtab`, a few hundred bytes in practice.
const MAX_SECTION_NAMES_BYTES: u64 = 1 << 20;

/// Symbol and string tables of unstripped binaries run to tens of MB; they
/// are streamed in chunks of this size rather than read whole.
const TABLE_CHUNK_BYTES: u64 = 256 * 1024;

/// Symbol names longer than this are not looked at.
const MAX_SYMBOL_NAME_BYTES: usize = 4096;

/// Whether the body starts with the ELF magic. Leaves the body rewound.
pub(crate) fn has_elf_magic(body: &mut dyn ReadSeek) -> io::Result<bool> {
    body.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    let mut filled = 0;
    while filled < magic.len() {
        let n = body.read(&mut magic[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    body.seek(SeekFrom::Start(0))?;
    Ok(filled == magic.len() && magic == elf::ELFMAG)
}

#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub name: Vec<u8>,
    pub kind: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
}

impl Section {
    /// `SHT_NOBITS` sections (`.bss`) occupy memory but no file bytes.
    pub fn has_file_bytes(&self) -> bool {
        self.kind != elf::SHT_NOBITS.0
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub kind: u32,
    pub flags: u32,
    pub vaddr: u64,
    pub offset: u64,
    pub file_size: u64,
    pub mem_size: u64,
}

impl Segment {
    pub fn is_load(&self) -> bool {
        self.kind == elf::PT_LOAD.0
    }
}

/// One symbol of `.symtab`, as far as the analyzers need it.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub name: Vec<u8>,
    pub value: u64,
    pub size: u64,
    pub section_index: usize,
}

/// The tables of one ELF file; the body stays with the caller.
#[derive(Debug)]
pub(crate) struct ElfFile {
    pub big_endian: bool,
    pub is_64: bool,
    pub sections: Vec<Section>,
    pub segments: Vec<Segment>,
    file_size: u64,
}

fn malformed(message: impl Into<String>) -> AnalyzerError {
    AnalyzerError::malformed(FORMAT, message)
}

fn object_error(context: &str, err: object::Error) -> AnalyzerError {
    malformed(format!("{context}: {err}"))
}

impl ElfFile {
    /// Parses the ELF header and its section and program header tables.
    /// The caller has checked the magic.
    pub fn parse(body: &mut dyn ReadSeek) -> Result<ElfFile, AnalyzerError> {
        let file_size = body.seek(SeekFrom::End(0))?;
        body.seek(SeekFrom::Start(0))?;
        let mut ident = [0u8; 16];
        // 52 bytes is the ELF32 header, the smallest there is.
        if file_size < 52 {
            return Err(malformed(format!(
                "{file_size}-byte file is shorter than an ELF header"
            )));
        }
        read_exact_at(body, 0, &mut ident)?;
        let cache = ReadCache::new(&mut *body);
        // Byte 4 of the ident is the class: 32- or 64-bit.
        let parsed = match elf::FileClass(ident[4]) {
            elf::ELFCLASS64 => parse_tables::<elf::FileHeader64<Endianness>>(&cache),
            elf::ELFCLASS32 => parse_tables::<elf::FileHeader32<Endianness>>(&cache),
            other => Err(malformed(format!("unknown ELF class {}", other.0))),
        };
        drop(cache);
        let (big_endian, is_64, sections, segments) = parsed?;
        Ok(ElfFile {
            big_endian,
            is_64,
            sections,
            segments,
            file_size,
        })
    }

    /// The first section with this name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name.as_bytes())
    }

    /// The file bytes of a section, refusing sections larger than `max_len`.
    pub fn read_section(
        &self,
        body: &mut dyn ReadSeek,
        section: &Section,
        max_len: u64,
    ) -> Result<Vec<u8>, AnalyzerError> {
        if !section.has_file_bytes() {
            return Ok(Vec::new());
        }
        if section.size > max_len {
            return Err(AnalyzerError::Limit(format!(
                "section {} is {} bytes, more than the {max_len} bytes allowed",
                String::from_utf8_lossy(&section.name),
                section.size
            )));
        }
        self.read_file_range(body, section.offset, section.size)
    }

    /// Reads `len` bytes at `offset`, failing when the range leaves the file.
    pub fn read_file_range(
        &self,
        body: &mut dyn ReadSeek,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, AnalyzerError> {
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= self.file_size)
            .ok_or_else(|| {
                malformed(format!(
                    "range {offset:#x}+{len:#x} lies outside the {}-byte file",
                    self.file_size
                ))
            })?;
        let len = usize::try_from(end - offset)
            .map_err(|_| AnalyzerError::Limit(format!("read of {len} bytes")))?;
        let mut buf = vec![0u8; len];
        read_exact_at(body, offset, &mut buf)?;
        Ok(buf)
    }

    /// Reads up to `max_len` bytes at virtual address `addr`, as a loader
    /// would map them: through the `PT_LOAD` segments, or, for files without
    /// program headers, through the allocated sections. The result is shorter
    /// than `max_len` when the mapping ends first; `None` when `addr` is not
    /// backed by file bytes.
    pub fn read_at_address(
        &self,
        body: &mut dyn ReadSeek,
        addr: u64,
        max_len: u64,
    ) -> Result<Option<Vec<u8>>, AnalyzerError> {
        let Some((offset, available)) = self.map_address(addr) else {
            return Ok(None);
        };
        let len = available.min(max_len);
        self.read_file_range(body, offset, len).map(Some)
    }

    /// File offset and the number of file bytes available from there.
    fn map_address(&self, addr: u64) -> Option<(u64, u64)> {
        let loads = self.segments.iter().filter(|s| s.is_load());
        let mut mapped = false;
        for segment in loads {
            mapped = true;
            if let Some(hit) = map_range(addr, segment.vaddr, segment.offset, segment.file_size) {
                return Some(hit);
            }
        }
        if mapped {
            return None;
        }
        self.sections
            .iter()
            .filter(|s| s.flags & elf::SHF_ALLOC.0 != 0 && s.has_file_bytes())
            .find_map(|s| map_range(addr, s.addr, s.offset, s.size))
    }

    /// The symbols of `.symtab` whose names satisfy `wanted`, or nothing for
    /// a stripped binary. `wanted` must also hold for any name that ends with
    /// a wanted name, because linkers may point a symbol into the tail of a
    /// longer string. Both tables are streamed, so memory stays at one chunk
    /// plus the wanted names, whatever the size of the binary.
    pub fn symbols_named(
        &self,
        body: &mut dyn ReadSeek,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<Symbol>, AnalyzerError> {
        let Some(symtab) = self.sections.iter().find(|s| s.kind == elf::SHT_SYMTAB.0) else {
            return Ok(Vec::new());
        };
        let strtab = usize::try_from(symtab.link)
            .ok()
            .and_then(|i| self.sections.get(i))
            .ok_or_else(|| malformed("symbol table links to a missing string table"))?;
        let names = self.wanted_strings(body, strtab, &wanted)?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let entry = if self.is_64 {
            std::mem::size_of::<elf::Sym64<Endianness>>()
        } else {
            std::mem::size_of::<elf::Sym32<Endianness>>()
        } as u64;
        let entries_per_chunk = TABLE_CHUNK_BYTES / entry;
        let count = symtab.size / entry;
        let mut out = Vec::new();
        let mut index = 0;
        while index < count {
            let n = entries_per_chunk.min(count - index);
            let at = symtab.offset.saturating_add(index * entry);
            let chunk = self.read_file_range(body, at, n * entry)?;
            let endian = self.endian();
            let decoded = if self.is_64 {
                decode_symbols::<elf::Sym64<Endianness>>(&chunk, endian)?
            } else {
                decode_symbols::<elf::Sym32<Endianness>>(&chunk, endian)?
            };
            for (name_offset, value, size, section_index) in decoded {
                // The string holding this name starts at or before it.
                let Some((start, string)) = names.range(..=name_offset).next_back() else {
                    continue;
                };
                let Some(name) = usize::try_from(name_offset - start)
                    .ok()
                    .and_then(|skip| string.get(skip..))
                else {
                    continue;
                };
                if wanted(name) {
                    out.push(Symbol {
                        name: name.to_vec(),
                        value,
                        size,
                        section_index,
                    });
                }
            }
            index += n;
        }
        Ok(out)
    }

    /// Start offset and bytes of every NUL-terminated string of a string
    /// table that satisfies `wanted`, read chunk by chunk.
    fn wanted_strings(
        &self,
        body: &mut dyn ReadSeek,
        strtab: &Section,
        wanted: &impl Fn(&[u8]) -> bool,
    ) -> Result<BTreeMap<u64, Vec<u8>>, AnalyzerError> {
        let mut found = BTreeMap::new();
        let mut current: Vec<u8> = Vec::new();
        let mut current_start = 0u64;
        let mut too_long = false;
        let mut offset = 0u64;
        while offset < strtab.size {
            let n = TABLE_CHUNK_BYTES.min(strtab.size - offset);
            let chunk = self.read_file_range(body, strtab.offset.saturating_add(offset), n)?;
            for (i, byte) in chunk.iter().enumerate() {
                if *byte == 0 {
                    if !too_long && wanted(&current) {
                        found.insert(current_start, std::mem::take(&mut current));
                    }
                    current.clear();
                    too_long = false;
                    current_start = offset + i as u64 + 1;
                } else if current.len() < MAX_SYMBOL_NAME_BYTES {
                    current.push(*byte);
                } else {
                    too_long = true;
                }
            }
            offset += n;
        }
        Ok(found)
    }

    fn endian(&self) -> Endianness {
        if self.big_endian {
            Endianness::Big
        } else {
            Endianness::Little
        }
    }
}

fn map_range(addr: u64, start: u64, offset: u64, size: u64) -> Option<(u64, u64)> {
    let delta = addr.checked_sub(start)?;
    if delta >= size {
        return None;
    }
    Some((offset.checked_add(delta)?, size - delta))
}

/// `(name offset, value, size, section index)` of each whole entry.
fn decode_symbols<S: Sym<Endian = Endianness>>(
    table: &[u8],
    endian: Endianness,
) -> Result<Vec<(u64, u64, u64, usize)>, AnalyzerError> {
    let count = table.len() / std::mem::size_of::<S>();
    let symbols: &[S] = table
        .read_slice_at(0, count)
        .map_err(|()| malformed("symbol table entries are misaligned"))?;
    Ok(symbols
        .iter()
        .map(|sym| {
            (
                u64::from(sym.st_name(endian)),
                sym.st_value(endian).into(),
                sym.st_size(endian).into(),
                sym.st_shndx(endian).index().map_or(0, usize::from),
            )
        })
        .collect())
}

type Tables = (bool, bool, Vec<Section>, Vec<Segment>);

fn parse_tables<Elf>(cache: &ReadCache<&mut dyn ReadSeek>) -> Result<Tables, AnalyzerError>
where
    Elf: FileHeader<Endian = Endianness>,
{
    let header = Elf::parse(cache).map_err(|e| object_error("ELF header", e))?;
    let endian = header.endian().map_err(|e| object_error("ELF header", e))?;

    let phnum = header
        .phnum(endian, cache)
        .map_err(|e| object_error("program headers", e))?;
    let shnum = header
        .shnum(endian, cache)
        .map_err(|e| object_error("section headers", e))?;
    if phnum > MAX_TABLE_ENTRIES || shnum > MAX_TABLE_ENTRIES {
        return Err(AnalyzerError::Limit(format!(
            "ELF declares {phnum} program headers and {shnum} sections"
        )));
    }

    let segments = header
        .program_headers(endian, cache)
        .map_err(|e| object_error("program headers", e))?
        .iter()
        .map(|ph| Segment {
            kind: ph.p_type(endian).0,
            flags: ph.p_flags(endian).0,
            vaddr: ph.p_vaddr(endian).into(),
            offset: ph.p_offset(endian).into(),
            file_size: ph.p_filesz(endian).into(),
            mem_size: ph.p_memsz(endian).into(),
        })
        .collect();

    let headers = header
        .section_headers(endian, cache)
        .map_err(|e| object_error("section headers", e))?;
    let names: &[u8] = if headers.is_empty() {
        &[]
    } else {
        section_names::<Elf>(header, endian, cache, headers)?
    };
    let sections = headers
        .iter()
        .map(|sh| {
            let start = usize::try_from(sh.sh_name(endian)).unwrap_or(usize::MAX);
            let name = names
                .get(start..)
                .map(|rest| rest.split(|b| *b == 0).next().unwrap_or(rest))
                .unwrap_or_default();
            Section {
                name: name.to_vec(),
                kind: sh.sh_type(endian).0,
                flags: sh.sh_flags(endian).0,
                addr: sh.sh_addr(endian).into(),
                offset: sh.sh_offset(endian).into(),
                size: sh.sh_size(endian).into(),
                link: sh.sh_link(endian),
            }
        })
        .collect();

    Ok((
        endian == Endianness::Big,
        Elf::is_type_64_sized(),
        sections,
        segments,
    ))
}

/// The bytes of `.shstrtab`; empty when the file names no string table, so
/// that sections simply have no names rather than failing the file.
fn section_names<'data, Elf>(
    header: &Elf,
    endian: Endianness,
    cache: &'data ReadCache<&mut dyn ReadSeek>,
    headers: &[Elf::SectionHeader],
) -> Result<&'data [u8], AnalyzerError>
where
    Elf: FileHeader<Endian = Endianness>,
{
    let Ok(index) = header.shstrndx(endian, cache) else {
        return Ok(&[]);
    };
    let strtab = usize::try_from(index)
        .ok()
        .and_then(|i| headers.get(i))
        .ok_or_else(|| malformed(format!("section name table index {index} is out of range")))?;
    let size: u64 = strtab.sh_size(endian).into();
    if size > MAX_SECTION_NAMES_BYTES {
        return Err(AnalyzerError::Limit(format!(
            "section name table of {size} bytes"
        )));
    }
    cache
        .read_bytes_at(strtab.sh_offset(endian).into(), size)
        .map_err(|()| malformed("section name table lies outside the file"))
}

fn read_exact_at(body: &mut dyn ReadSeek, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    body.seek(SeekFrom::Start(offset))?;
    body.read_exact(buf)
}
