//! Writes small ELF files byte by byte, so tests can shape exactly the
//! headers a hostile or unusual binary would have.

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHF_WRITE: u64 = 1;
pub const SHF_ALLOC: u64 = 2;

#[derive(Clone, Copy)]
pub enum Class {
    Elf32,
    Elf64,
}

/// Where a section's bytes are.
pub enum SectionData {
    /// Bytes of their own, written after the segments.
    Own(Vec<u8>),
    /// A slice of segment `segment`'s data, as a linker lays sections out.
    InSegment {
        segment: usize,
        offset: u64,
        len: u64,
    },
}

pub struct Section {
    pub name: String,
    pub kind: u32,
    pub flags: u64,
    pub addr: u64,
    pub data: SectionData,
    /// Written as `sh_size` instead of the real length when set.
    pub size_override: Option<u64>,
    /// `sh_link`: for a symbol table, the index of its string table
    /// (sections are numbered from 1, in the order added).
    pub link: u32,
}

pub struct Segment {
    pub vaddr: u64,
    pub flags: u32,
    pub data: Vec<u8>,
}

pub struct ElfBuilder {
    class: Class,
    big_endian: bool,
    segments: Vec<Segment>,
    sections: Vec<Section>,
}

struct Writer {
    buf: Vec<u8>,
    class: Class,
    big_endian: bool,
}

impl Writer {
    fn u16(&mut self, v: u16) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u64(&mut self, v: u64) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    /// An address-sized field.
    fn word(&mut self, v: u64) {
        match self.class {
            Class::Elf32 => self.u32(u32::try_from(v).expect("test value fits ELF32")),
            Class::Elf64 => self.u64(v),
        }
    }
}

impl ElfBuilder {
    pub fn new(class: Class, big_endian: bool) -> ElfBuilder {
        ElfBuilder {
            class,
            big_endian,
            segments: Vec::new(),
            sections: Vec::new(),
        }
    }

    pub fn segment(mut self, vaddr: u64, flags: u32, data: Vec<u8>) -> ElfBuilder {
        self.segments.push(Segment { vaddr, flags, data });
        self
    }

    pub fn section(mut self, section: Section) -> ElfBuilder {
        self.sections.push(section);
        self
    }

    /// A section with bytes of its own.
    pub fn own_section(self, name: &str, addr: u64, data: Vec<u8>) -> ElfBuilder {
        self.section(Section {
            name: name.to_owned(),
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr,
            data: SectionData::Own(data),
            size_override: None,
            link: 0,
        })
    }

    pub fn build(self) -> Vec<u8> {
        let (ehsize, phentsize, shentsize) = match self.class {
            Class::Elf32 => (52u64, 32u64, 40u64),
            Class::Elf64 => (64, 56, 64),
        };
        let align = |n: u64| n.div_ceil(16) * 16;

        // File layout: header, program headers, segment data, own section
        // data, section names, section headers.
        let phoff = ehsize;
        let mut cursor = align(phoff + phentsize * self.segments.len() as u64);
        let mut segment_offsets = Vec::new();
        for segment in &self.segments {
            segment_offsets.push(cursor);
            cursor = align(cursor + segment.data.len() as u64);
        }
        let mut names = vec![0u8];
        let mut name_offsets = Vec::new();
        let mut section_places = Vec::new();
        for section in &self.sections {
            name_offsets.push(names.len() as u32);
            names.extend_from_slice(section.name.as_bytes());
            names.push(0);
            let place = match &section.data {
                SectionData::Own(data) => {
                    let at = cursor;
                    cursor = align(cursor + data.len() as u64);
                    (at, data.len() as u64)
                }
                SectionData::InSegment {
                    segment,
                    offset,
                    len,
                } => (segment_offsets[*segment] + offset, *len),
            };
            section_places.push(place);
        }
        let shstrtab_name = names.len() as u32;
        names.extend_from_slice(b".shstrtab\0");
        let names_offset = cursor;
        cursor = align(cursor + names.len() as u64);
        let has_sections = !self.sections.is_empty();
        let shoff = if has_sections { cursor } else { 0 };
        // Null section, the sections, then .shstrtab.
        let shnum = if has_sections {
            self.sections.len() as u64 + 2
        } else {
            0
        };

        let mut w = Writer {
            buf: Vec::new(),
            class: self.class,
            big_endian: self.big_endian,
        };
        w.buf.extend_from_slice(b"\x7fELF");
        w.buf.push(match self.class {
            Class::Elf32 => 1,
            Class::Elf64 => 2,
        });
        w.buf.push(if self.big_endian { 2 } else { 1 });
        w.buf.push(1);
        w.buf.resize(16, 0);
        w.u16(2); // ET_EXEC
        w.u16(match self.class {
            Class::Elf32 => 8,  // MIPS
            Class::Elf64 => 62, // x86-64
        });
        w.u32(1);
        w.word(0);
        w.word(if self.segments.is_empty() { 0 } else { phoff });
        w.word(shoff);
        w.u32(0);
        w.u16(ehsize as u16);
        w.u16(phentsize as u16);
        w.u16(self.segments.len() as u16);
        w.u16(shentsize as u16);
        w.u16(shnum as u16);
        w.u16(if has_sections { shnum as u16 - 1 } else { 0 });

        for (segment, offset) in self.segments.iter().zip(&segment_offsets) {
            let len = segment.data.len() as u64;
            match self.class {
                Class::Elf32 => {
                    w.u32(1);
                    w.word(*offset);
                    w.word(segment.vaddr);
                    w.word(segment.vaddr);
                    w.word(len);
                    w.word(len);
                    w.u32(segment.flags);
                    w.word(0x1000);
                }
                Class::Elf64 => {
                    w.u32(1);
                    w.u32(segment.flags);
                    w.word(*offset);
                    w.word(segment.vaddr);
                    w.word(segment.vaddr);
                    w.word(len);
                    w.word(len);
                    w.word(0x1000);
                }
            }
        }
        for (segment, offset) in self.segments.iter().zip(&segment_offsets) {
            w.buf.resize(*offset as usize, 0);
            w.buf.extend_from_slice(&segment.data);
        }
        for (section, (offset, _)) in self.sections.iter().zip(&section_places) {
            if let SectionData::Own(data) = &section.data {
                w.buf.resize(*offset as usize, 0);
                w.buf.extend_from_slice(data);
            }
        }
        w.buf.resize(names_offset as usize, 0);
        w.buf.extend_from_slice(&names);
        if has_sections {
            w.buf.resize(shoff as usize, 0);
            let header = |w: &mut Writer,
                          name: u32,
                          kind: u32,
                          flags: u64,
                          addr: u64,
                          offset: u64,
                          size: u64,
                          link: u32| {
                w.u32(name);
                w.u32(kind);
                w.word(flags);
                w.word(addr);
                w.word(offset);
                w.word(size);
                w.u32(link);
                w.u32(0);
                w.word(1);
                w.word(0);
            };
            header(&mut w, 0, 0, 0, 0, 0, 0, 0);
            for ((section, (offset, len)), name) in
                self.sections.iter().zip(&section_places).zip(&name_offsets)
            {
                let size = section.size_override.unwrap_or(*len);
                header(
                    &mut w,
                    *name,
                    section.kind,
                    section.flags,
                    section.addr,
                    *offset,
                    size,
                    section.link,
                );
            }
            header(
                &mut w,
                shstrtab_name,
                SHT_STRTAB,
                0,
                0,
                names_offset,
                names.len() as u64,
                0,
            );
        }
        w.buf
    }
}
