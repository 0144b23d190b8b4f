//! Go build info reading: whole files, build info blobs placed in a valid
//! ELF data segment (so the fuzzer need not invent ELF first), and the
//! module info / `-ldflags` text parsers.
#![no_main]

use std::io::Cursor;

use analyze::analyzers::go_binary::{GoBinaryAnalyzer, ModInfo, ldflags_version};
use analyze::{AnalysisOutput, Analyzer, FileInput, FileMeta};
use libfuzzer_sys::fuzz_target;

/// A minimal ELF64 little-endian executable whose only loadable segment is
/// writable, mapped at `vaddr`, and holds `data`.
fn elf_with_data_segment(vaddr: u64, data: &[u8]) -> Vec<u8> {
    let mut elf = Vec::with_capacity(120 + data.len());
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01");
    elf.resize(16, 0);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&0u64.to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // shoff
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    let offset = 128u64;
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&6u32.to_le_bytes()); // R + W
    for word in [
        offset,
        vaddr,
        vaddr,
        data.len() as u64,
        data.len() as u64,
        0x1000,
    ] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.resize(offset as usize, 0);
    elf.extend_from_slice(data);
    elf
}

fn analyze(bytes: &[u8]) {
    let mut body = Cursor::new(bytes);
    let mut out = AnalysisOutput::default();
    let meta = FileMeta {
        path: "usr/bin/fuzz",
        size: bytes.len() as u64,
        mode: 0o755,
    };
    let _ = GoBinaryAnalyzer.analyze(
        FileInput {
            meta,
            body: &mut body,
        },
        &mut out,
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((mode, data)) = input.split_first() else {
        return;
    };
    match mode % 3 {
        0 => analyze(data),
        1 => {
            // The first byte picks the segment address: mostly a normal one,
            // sometimes one near the top of the address space.
            let Some((high, data)) = data.split_first() else {
                return;
            };
            let vaddr = if *high >= 0xf0 {
                u64::MAX - u64::from(*high & 0x0f) * 0x1000
            } else {
                0x50_0000
            };
            analyze(&elf_with_data_segment(vaddr, data))
        }
        _ => {
            let text = String::from_utf8_lossy(data);
            let _ = ModInfo::parse(&text);
            let _ = ldflags_version("example.com/app", &text);
        }
    }
});
