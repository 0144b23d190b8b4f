//! Layer walker tests on real tar streams built here, hostile ones included.

use std::io::{self, Cursor, Read, SeekFrom, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use analyze::{
    AnalysisOutput, Analyzer, AnalyzerError, Compression, FileInput, FileMeta,
    LAYER_LIMIT_EXCEEDED, WalkError, WalkLimits, WalkOptions, default_analyzers, walk_layer,
};
use model::{AnalyzerId, DiffId, Digest, DigestAlgorithm, LayerInventory, Package, PackageKind};
use sha2::Digest as _;

// ---------------------------------------------------------------- tar building

/// Builds a tar stream entry by entry. Headers are written by hand so that
/// hostile names (`../x`, `/abs`) go in unchanged.
struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Layer {
    fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn raw(mut self, kind: tar::EntryType, name: &[u8], link: &[u8], data: &[u8]) -> Layer {
        let mut header = tar::Header::new_ustar();
        let old = header.as_old_mut();
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "use long() for long names"
        );
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_mtime(0);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Layer {
        self.raw(tar::EntryType::Regular, name.as_bytes(), b"", data)
    }

    fn dir(self, name: &str) -> Layer {
        self.raw(tar::EntryType::Directory, name.as_bytes(), b"", b"")
    }

    fn symlink(self, name: &str, target: &str) -> Layer {
        self.raw(
            tar::EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            b"",
        )
    }

    fn hardlink(self, name: &str, target: &str) -> Layer {
        self.raw(
            tar::EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            b"",
        )
    }

    /// A file with a long name, as a GNU long-name entry.
    fn gnu_long(mut self, name: &str, data: &[u8]) -> Layer {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        self.builder.append_data(&mut header, name, data).unwrap();
        self
    }

    /// A file whose name is given by a PAX `path` record.
    fn pax_path(self, name: &[u8], data: &[u8]) -> Layer {
        let mut record = Vec::new();
        let body_len = 1 + b"path=".len() + name.len() + 1;
        let mut len = body_len + 1;
        while len != body_len + len.to_string().len() {
            len = body_len + len.to_string().len();
        }
        record.extend_from_slice(format!("{len} path=").as_bytes());
        record.extend_from_slice(name);
        record.push(b'\n');
        self.raw(tar::EntryType::XHeader, b"PaxHeaders/x", b"", &record)
            .raw(tar::EntryType::Regular, b"placeholder", b"", data)
    }

    fn tar(mut self) -> Vec<u8> {
        self.builder.finish().unwrap();
        self.builder.into_inner().unwrap()
    }
}

fn diff_id_of(tar: &[u8]) -> DiffId {
    DiffId(Digest::from_raw(
        DigestAlgorithm::Sha256,
        &sha2::Sha256::digest(tar),
    ))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_level(data, flate2::Compression::fast())
}

fn gzip_level(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

// ---------------------------------------------------------------- analyzers

/// Reports every wanted file as a package: name = path, version = byte count.
struct Recorder {
    prefix: &'static str,
}

impl Analyzer for Recorder {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("recorder", 1)
    }
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.starts_with(self.prefix)
    }
    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let mut bytes = Vec::new();
        file.body.take(1 << 20).read_to_end(&mut bytes)?;
        out.packages.push(Package::new(
            PackageKind::Npm,
            file.meta.path,
            bytes.len().to_string(),
        ));
        Ok(())
    }
}

/// (path, size, first 8 bytes, last 8 bytes)
type Seen = (String, u64, Vec<u8>, Vec<u8>);

/// Seeks around in big files: reports the last 8 bytes and the first 8.
struct Seeker {
    seen: Mutex<Vec<Seen>>,
}

impl Analyzer for Seeker {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("seeker", 1)
    }
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".bin")
    }
    fn analyze(&self, file: FileInput<'_>, _out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let end = file.body.seek(SeekFrom::End(0))?;
        file.body.seek(SeekFrom::End(-8))?;
        let mut tail = vec![0; 8];
        file.body.read_exact(&mut tail)?;
        file.body.seek(SeekFrom::Start(0))?;
        let mut head = vec![0; 8];
        file.body.read_exact(&mut head)?;
        self.seen
            .lock()
            .unwrap()
            .push((file.meta.path.to_owned(), end, head, tail));
        // Leave the body mid-file: the walker must rewind for the next analyzer.
        file.body.seek(SeekFrom::Start(end / 2))?;
        Ok(())
    }
}

struct Panicker;

impl Analyzer for Panicker {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("panicker", 1)
    }
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".boom")
    }
    fn analyze(&self, _: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        out.packages
            .push(Package::new(PackageKind::Npm, "half-built", "1"));
        panic!("analyzer bug");
    }
}

struct Failer;

impl Analyzer for Failer {
    fn id(&self) -> AnalyzerId {
        AnalyzerId::new("failer", 2)
    }
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".bad")
    }
    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError> {
        let mut p = Package::new(PackageKind::Npm, "before-error", "1");
        p.evidence.path = format!("{}!/inner", file.meta.path);
        out.packages.push(p);
        Err(AnalyzerError::malformed(
            "bad-format",
            "record 2 is garbage",
        ))
    }
}

// ---------------------------------------------------------------- helpers

const DEBIAN: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";

fn walk_with(
    blob: &[u8],
    compression: Compression,
    diff_id: &DiffId,
    analyzers: &[&dyn Analyzer],
    options: &WalkOptions,
) -> Result<LayerInventory, WalkError> {
    walk_layer(Cursor::new(blob), compression, diff_id, analyzers, options)
}

/// Walks an uncompressed tar with the recorder on `app/` and default analyzers.
fn walk_tar(tar: &[u8], limits: WalkLimits) -> Result<LayerInventory, WalkError> {
    let recorder = Recorder { prefix: "app/" };
    let defaults = default_analyzers();
    let mut analyzers: Vec<&dyn Analyzer> = defaults.iter().map(|a| a.as_ref()).collect();
    analyzers.push(&recorder);
    let options = WalkOptions {
        limits,
        ..WalkOptions::default()
    };
    walk_with(
        tar,
        Compression::Sniff,
        &diff_id_of(tar),
        &analyzers,
        &options,
    )
}

fn codes(inv: &LayerInventory) -> Vec<&str> {
    inv.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

fn names(inv: &LayerInventory) -> Vec<(&str, &str)> {
    inv.packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

// ---------------------------------------------------------------- tests

#[test]
fn every_compression_gives_the_same_inventory() {
    let tar = Layer::new()
        .dir("etc/")
        .file("etc/os-release", DEBIAN)
        .file("app/a.json", b"12345")
        .file("other/ignored", b"not wanted")
        .tar();
    let diff_id = diff_id_of(&tar);
    let recorder = Recorder { prefix: "app/" };
    let defaults = default_analyzers();
    let mut analyzers: Vec<&dyn Analyzer> = defaults.iter().map(|a| a.as_ref()).collect();
    analyzers.push(&recorder);
    let cases = [
        ("plain", tar.clone(), Compression::None),
        ("plain sniffed", tar.clone(), Compression::Sniff),
        ("gzip", gzip(&tar), Compression::Gzip),
        ("gzip sniffed", gzip(&tar), Compression::Sniff),
        ("zstd", zstd(&tar), Compression::Zstd),
        ("zstd sniffed", zstd(&tar), Compression::Sniff),
    ];
    for (name, blob, compression) in cases {
        let inv = walk_with(
            &blob,
            compression,
            &diff_id,
            &analyzers,
            &WalkOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(inv.diff_id, diff_id, "{name}");
        assert_eq!(names(&inv), [("app/a.json", "5")], "{name}");
        let p = &inv.packages[0];
        assert_eq!(p.evidence.path, "app/a.json", "{name}");
        assert_eq!(
            p.evidence.analyzer,
            Some(AnalyzerId::new("recorder", 1)),
            "{name}"
        );
        assert_eq!(inv.os.len(), 1, "{name}");
        assert_eq!(inv.os[0].version_id.as_deref(), Some("12"), "{name}");
        assert_eq!(inv.os[0].path, "etc/os-release", "{name}");
        assert_eq!(
            sorted(inv.analyzed_paths.iter().cloned().collect()),
            ["app/a.json", "etc/os-release"],
            "{name}"
        );
        assert_eq!(inv.stats.entries, 4, "{name}");
        assert_eq!(inv.stats.files_analyzed, 2, "{name}");
        assert_eq!(inv.stats.uncompressed_bytes, tar.len() as u64, "{name}");
        assert!(inv.diagnostics.is_empty(), "{name}: {:?}", inv.diagnostics);
    }
}

#[test]
fn gzip_with_several_members_is_read_whole() {
    let tar = Layer::new()
        .file("app/x", b"abc")
        .file("app/y", b"de")
        .tar();
    let (first, second) = tar.split_at(512 + 512);
    let mut blob = gzip(first);
    blob.extend(gzip(second));
    let inv = walk_with(
        &blob,
        Compression::Gzip,
        &diff_id_of(&tar),
        &[&Recorder { prefix: "app/" }],
        &WalkOptions::default(),
    )
    .unwrap();
    assert_eq!(names(&inv), [("app/x", "3"), ("app/y", "2")]);
}

#[test]
fn entry_paths_are_normalised_or_refused() {
    // (entry name, expected analysed path or the diagnostic code)
    let cases: &[(&[u8], Result<&str, &str>)] = &[
        (b"app/plain", Ok("app/plain")),
        (b"./app/dot-slash", Ok("app/dot-slash")),
        (b"/app/absolute", Ok("app/absolute")),
        (b"app//double/./slash", Ok("app/double/slash")),
        (b"x/../app/climb-back", Ok("app/climb-back")),
        (b"../app/escape", Err("path-escapes-root")),
        (b"app/../../etc/escape", Err("path-escapes-root")),
        (b"/../../app/abs-escape", Err("path-escapes-root")),
        (b"app/\xff\xfe-latin1", Err("non-utf8-path")),
    ];
    for (name, expected) in cases {
        let tar = Layer::new()
            .raw(tar::EntryType::Regular, name, b"", b"x")
            .tar();
        let inv = walk_tar(&tar, WalkLimits::default()).unwrap();
        let shown = String::from_utf8_lossy(name);
        match expected {
            Ok(path) => {
                assert_eq!(names(&inv), [(*path, "1")], "{shown}");
                assert!(inv.diagnostics.is_empty(), "{shown}");
            }
            Err(code) => {
                assert!(
                    inv.packages.is_empty() && inv.analyzed_paths.is_empty(),
                    "{shown}"
                );
                assert_eq!(codes(&inv), [*code], "{shown}");
                assert_eq!(inv.diagnostics[0].path.as_deref(), Some(&*shown), "{shown}");
            }
        }
    }
}

#[test]
fn long_names_nul_bytes_and_path_limit() {
    let long = format!("app/{}/file.json", "d".repeat(150));
    let tar = Layer::new()
        .gnu_long(&long, b"gnu")
        .pax_path(
            format!("app/{}/pax.json", "p".repeat(200)).as_bytes(),
            b"pax!",
        )
        .pax_path(b"app/../../pax-escape", b"x")
        .pax_path(b"app/nul\0byte", b"x")
        .tar();
    let inv = walk_tar(&tar, WalkLimits::default()).unwrap();
    let pax = format!("app/{}/pax.json", "p".repeat(200));
    assert_eq!(
        sorted(names(&inv)),
        sorted(vec![(long.as_str(), "3"), (pax.as_str(), "4")])
    );
    assert_eq!(codes(&inv), ["path-escapes-root", "invalid-path"]);

    let limits = WalkLimits {
        max_path_len: 100,
        ..WalkLimits::default()
    };
    let inv = walk_tar(&tar, limits).unwrap();
    assert!(inv.packages.is_empty());
    assert_eq!(
        codes(&inv),
        [
            "path-too-long",
            "path-too-long",
            "path-escapes-root",
            "invalid-path"
        ]
    );
}

#[test]
fn whiteouts_and_opaque_dirs() {
    let tar = Layer::new()
        .file("app/.wh.gone.json", b"")
        .file(".wh.top-level", b"")
        .file("usr/lib/.wh..wh..opq", b"")
        .file(".wh..wh..opq", b"")
        .file("app/.wh..wh.plnk", b"")
        .file("app/.wh..", b"")
        .raw(tar::EntryType::Directory, b"var/.wh.cache", b"", b"")
        .tar();
    let inv = walk_tar(&tar, WalkLimits::default()).unwrap();
    assert_eq!(
        sorted(inv.whiteouts.iter().map(String::as_str).collect()),
        ["app/gone.json", "top-level", "var/cache"]
    );
    assert_eq!(
        sorted(inv.opaque_dirs.iter().map(String::as_str).collect()),
        ["", "usr/lib"]
    );
    // Markers are never content handed to analyzers.
    assert!(inv.packages.is_empty() && inv.analyzed_paths.is_empty());
    assert_eq!(codes(&inv), ["invalid-whiteout"]);
}

#[test]
fn links_are_not_followed() {
    let tar = Layer::new()
        .symlink("etc/os-release", "../../../../../etc/os-release")
        .symlink("app/escape", "/../../../../etc/shadow")
        .hardlink("app/loop-a", "app/loop-b")
        .hardlink("app/loop-b", "app/loop-a")
        .hardlink("app/self", "app/self")
        .hardlink("unwanted/link", "app/loop-a")
        .raw(tar::EntryType::Fifo, b"app/fifo", b"", b"")
        .raw(tar::EntryType::Char, b"app/char-device", b"", b"")
        .dir("app/dir/")
        .file("usr/lib/os-release", DEBIAN)
        .tar();
    let inv = walk_tar(&tar, WalkLimits::default()).unwrap();
    assert!(inv.packages.is_empty());
    // Links at wanted paths replace lower layers' files: recorded as analysed.
    assert_eq!(
        sorted(inv.analyzed_paths.iter().map(String::as_str).collect()),
        [
            "app/escape",
            "app/loop-a",
            "app/loop-b",
            "app/self",
            "etc/os-release",
            "usr/lib/os-release"
        ]
    );
    assert_eq!(inv.os.len(), 1);
    assert_eq!(inv.os[0].path, "usr/lib/os-release");
    // Links (loops included) are not followed and need no diagnostic.
    assert!(codes(&inv).is_empty(), "{:?}", codes(&inv));
    assert_eq!(inv.stats.files_analyzed, 1);
}

#[test]
fn a_later_entry_for_the_same_path_wins() {
    let tar = Layer::new()
        .file("app/dup", b"first version")
        .file("etc/os-release", b"ID=alpine\n")
        .file("app/dup", b"second")
        .symlink("etc/os-release", "../usr/lib/os-release")
        .tar();
    let inv = walk_tar(&tar, WalkLimits::default()).unwrap();
    assert_eq!(names(&inv), [("app/dup", "6")]);
    assert!(inv.os.is_empty());
}

#[test]
fn big_files_are_spooled_and_seekable() {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let small = b"0123456789abcdef".to_vec();
    let tar = Layer::new()
        .file("data/big.bin", &big)
        .file("data/small.bin", &small)
        .file("data/exact.bin", &big[..64 * 1024])
        .file("data/over.bin", &big[..64 * 1024 + 1])
        .tar();
    let spool_dir = tempfile::tempdir().unwrap();
    let seeker = Seeker {
        seen: Mutex::new(Vec::new()),
    };
    let second = Seeker {
        seen: Mutex::new(Vec::new()),
    };
    let options = WalkOptions {
        spool_threshold: 64 * 1024,
        spool_dir: Some(spool_dir.path().to_owned()),
        ..WalkOptions::default()
    };
    let inv = walk_with(
        &gzip(&tar),
        Compression::Gzip,
        &diff_id_of(&tar),
        &[&seeker, &second],
        &options,
    )
    .unwrap();
    assert_eq!(inv.stats.files_analyzed, 4);
    let expect = |data: &[u8], path: &str| {
        (
            path.to_owned(),
            data.len() as u64,
            data[..8].to_vec(),
            data[data.len() - 8..].to_vec(),
        )
    };
    let expected = vec![
        expect(&big, "data/big.bin"),
        expect(&small, "data/small.bin"),
        expect(&big[..64 * 1024], "data/exact.bin"),
        expect(&big[..64 * 1024 + 1], "data/over.bin"),
    ];
    assert_eq!(*seeker.seen.lock().unwrap(), expected);
    // The second analyzer got a rewound body although the first left it mid-file.
    assert_eq!(*second.seen.lock().unwrap(), expected);
    // Spool files are anonymous: nothing under an entry's name, nothing left.
    assert_eq!(std::fs::read_dir(spool_dir.path()).unwrap().count(), 0);
}

#[test]
fn files_over_the_analysis_limit_are_skipped_with_a_warning() {
    let tar = Layer::new()
        .file("app/huge", &[7; 5000])
        .file("app/fine", &[7; 10])
        .tar();
    let limits = WalkLimits {
        max_analyzed_file_size: 4096,
        ..WalkLimits::default()
    };
    let inv = walk_tar(&tar, limits).unwrap();
    assert_eq!(names(&inv), [("app/fine", "10")]);
    assert_eq!(codes(&inv), ["file-too-large"]);
    assert!(inv.analyzed_paths.contains("app/huge"));
    assert_eq!(inv.stats.files_analyzed, 1);
}

#[test]
fn analyzer_errors_and_panics_become_diagnostics() {
    let tar = Layer::new()
        .file("app/x.boom", b"a")
        .file("app/y.bad", b"b")
        .file("app/z", b"c")
        .tar();
    let recorder = Recorder { prefix: "app/" };
    let inv = walk_with(
        &tar,
        Compression::None,
        &diff_id_of(&tar),
        &[&Panicker, &Failer, &recorder],
        &WalkOptions::default(),
    )
    .unwrap();
    // The panicking analyzer's half-built output is dropped; the failing
    // analyzer's partial packages are kept; the walk went on.
    assert_eq!(
        names(&inv),
        [
            ("app/x.boom", "1"),
            ("before-error", "1"),
            ("app/y.bad", "1"),
            ("app/z", "1")
        ]
    );
    assert_eq!(inv.packages[1].evidence.path, "app/y.bad!/inner");
    assert_eq!(
        inv.packages[1].evidence.analyzer,
        Some(AnalyzerId::new("failer", 2))
    );
    let diags: Vec<_> = inv
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.path.as_deref(),
                d.analyzer.as_ref().map(|a| a.to_string()),
                d.layer_diff_id.clone(),
            )
        })
        .collect();
    let layer = Some(diff_id_of(&tar));
    assert_eq!(
        diags,
        [
            (
                "analyzer-panic",
                Some("app/x.boom"),
                Some("panicker@1".into()),
                layer.clone()
            ),
            (
                "malformed-file",
                Some("app/y.bad"),
                Some("failer@2".into()),
                layer
            ),
        ]
    );
    assert!(inv.diagnostics[0].message.contains("analyzer bug"));
}

#[test]
fn diagnostics_are_capped() {
    let mut layer = Layer::new();
    for i in 0..50 {
        layer = layer.file(&format!("../escape-{i}"), b"");
    }
    let tar = layer.tar();
    let limits = WalkLimits {
        max_diagnostics: 10,
        ..WalkLimits::default()
    };
    let inv = walk_tar(&tar, limits).unwrap();
    assert_eq!(inv.diagnostics.len(), 11);
    let last = inv.diagnostics.last().unwrap();
    assert_eq!(last.code, "diagnostics-truncated");
    assert!(last.message.starts_with("40 more"), "{}", last.message);
}

#[test]
fn gzip_bomb_stops_at_the_byte_limit() {
    // One member with a header claiming a 2 GiB file, then 32 members of
    // 64 MiB of zeros each: 2 GiB decompressed from about 2 MiB.
    let mut header = tar::Header::new_gnu();
    header.set_path("app/bomb").unwrap();
    header.set_size(2 << 30);
    header.set_mode(0o644);
    header.set_cksum();
    let mut blob = gzip(header.as_bytes());
    let zeros = gzip_level(&vec![0u8; 64 << 20], flate2::Compression::best());
    for _ in 0..32 {
        blob.extend_from_slice(&zeros);
    }
    assert!(blob.len() < 4 << 20, "{}", blob.len());

    let limit = 48 << 20;
    let started = Instant::now();
    let recorder = Recorder { prefix: "app/" };
    let options = WalkOptions {
        limits: WalkLimits {
            max_uncompressed_bytes: limit,
            ..WalkLimits::default()
        },
        ..WalkOptions::default()
    };
    let inv = walk_with(
        &blob,
        Compression::Sniff,
        &diff_id_of(b""),
        &[&recorder],
        &options,
    )
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(codes(&inv), ["file-too-large", LAYER_LIMIT_EXCEEDED]);
    assert!(
        inv.diagnostics[1]
            .message
            .contains("max_uncompressed_bytes")
    );
    assert!(inv.diagnostics[1].message.contains("could not be verified"));
    assert_eq!(inv.stats.uncompressed_bytes, limit);
    assert!(inv.packages.is_empty());
    assert!(peak_rss_bytes() < 1 << 30, "memory must stay bounded");
}

#[test]
fn zstd_bomb_stops_at_the_ratio_limit() {
    let mut tar = Layer::new().tar();
    let header_only = tar.len();
    tar.resize(header_only + (256 << 20), 0);
    let blob = zstd(&tar);
    let options = WalkOptions {
        limits: WalkLimits {
            max_compression_ratio: Some(1000),
            ratio_grace_bytes: 1 << 20,
            ..WalkLimits::default()
        },
        ..WalkOptions::default()
    };
    let inv = walk_with(&blob, Compression::Zstd, &diff_id_of(&tar), &[], &options).unwrap();
    assert_eq!(codes(&inv), [LAYER_LIMIT_EXCEEDED]);
    assert!(inv.diagnostics[0].message.contains("max_compression_ratio"));
    assert!(inv.stats.uncompressed_bytes < 64 << 20);

    // Without the guard the same stream is a valid (if silly) layer.
    let inv = walk_with(
        &blob,
        Compression::Zstd,
        &diff_id_of(&tar),
        &[],
        &WalkOptions::default(),
    )
    .unwrap();
    assert!(inv.diagnostics.is_empty());
}

#[test]
fn tar_bomb_stops_at_the_entry_limit_but_still_verifies() {
    let mut layer = Layer::new();
    for i in 0..3000 {
        layer = layer.file(&format!("app/{i}"), b"");
    }
    let tar = layer.tar();
    let limits = WalkLimits {
        max_entries: 1000,
        ..WalkLimits::default()
    };
    let inv = walk_tar(&tar, limits.clone()).unwrap();
    assert_eq!(codes(&inv), [LAYER_LIMIT_EXCEEDED]);
    assert!(inv.diagnostics[0].message.contains("max_entries"));
    assert!(!inv.diagnostics[0].message.contains("could not be verified"));
    assert_eq!(inv.packages.len(), 1000);
    assert_eq!(inv.stats.uncompressed_bytes, tar.len() as u64);

    // The rest is still hashed: a wrong diffID is caught.
    let options = WalkOptions {
        limits,
        ..WalkOptions::default()
    };
    let err = walk_with(
        &tar,
        Compression::None,
        &diff_id_of(b"other"),
        &[],
        &options,
    )
    .unwrap_err();
    assert!(matches!(err, WalkError::DiffIdMismatch { .. }), "{err}");
}

#[test]
fn huge_extension_headers_are_refused() {
    let mut tar = Vec::new();
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_size(4 << 20);
    header.set_cksum();
    tar.extend_from_slice(header.as_bytes());
    tar.resize(tar.len() + (4 << 20), b'a');
    tar.extend(Layer::new().file("app/after", b"x").tar());
    let limits = WalkLimits {
        max_header_bytes: 1 << 20,
        ..WalkLimits::default()
    };
    let inv = walk_tar(&tar, limits).unwrap();
    assert_eq!(codes(&inv), [LAYER_LIMIT_EXCEEDED]);
    assert!(inv.diagnostics[0].message.contains("max_header_bytes"));

    // Within the default limit the same archive is fine: skipped bodies do
    // not count as header bytes.
    let mut big_body = Layer::new().file("unwanted", &vec![1u8; 3 << 20]).tar();
    big_body.truncate(big_body.len() - 1024);
    let tar = [big_body, Layer::new().file("app/after", b"x").tar()].concat();
    let limits = WalkLimits {
        max_header_bytes: 4096,
        ..WalkLimits::default()
    };
    let inv = walk_tar(&tar, limits).unwrap();
    assert_eq!(names(&inv), [("app/after", "1")]);
}

#[test]
fn recorded_paths_are_bounded() {
    let mut layer = Layer::new();
    for i in 0..100 {
        layer = layer.file(&format!("dir/.wh.file-{i:04}"), b"");
    }
    let tar = layer.tar();
    let limits = WalkLimits {
        max_recorded_path_bytes: 500,
        ..WalkLimits::default()
    };
    let inv = walk_tar(&tar, limits).unwrap();
    assert_eq!(codes(&inv), [LAYER_LIMIT_EXCEEDED]);
    assert_eq!(inv.whiteouts.len(), 500 / "dir/file-0000".len());
}

#[test]
fn corrupt_and_mismatched_streams_are_fatal() {
    let tar = Layer::new()
        .file("app/a", &[5; 10_000])
        .file("app/b", b"b")
        .tar();
    let diff_id = diff_id_of(&tar);
    let gz = gzip(&tar);
    let zs = zstd(&tar);
    let mut bad_crc = gz.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0xff;
    let mut flipped = tar.clone();
    flipped[600] ^= 0x01;
    let mut bad_checksum = tar.clone();
    bad_checksum[0] = b'X';

    type Check = fn(&WalkError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Compression, Check)> = vec![
        (
            "truncated gzip",
            gz[..gz.len() / 2].to_vec(),
            Compression::Gzip,
            |e| matches!(e, WalkError::Decompress { format: "gzip", .. }),
        ),
        ("gzip trailer corrupt", bad_crc, Compression::Sniff, |e| {
            matches!(e, WalkError::Decompress { format: "gzip", .. })
        }),
        ("not gzip at all", tar.clone(), Compression::Gzip, |e| {
            matches!(e, WalkError::Decompress { format: "gzip", .. })
        }),
        (
            "truncated zstd",
            zs[..zs.len() - 10].to_vec(),
            Compression::Zstd,
            |e| matches!(e, WalkError::Decompress { format: "zstd", .. }),
        ),
        (
            "truncated tar mid-body",
            tar[..2000].to_vec(),
            Compression::None,
            |e| matches!(e, WalkError::Tar(_)),
        ),
        (
            "bad header checksum",
            bad_checksum,
            Compression::None,
            |e| matches!(e, WalkError::Tar(_)),
        ),
        (
            "truncated at a header boundary",
            tar[..512 * 21].to_vec(),
            Compression::None,
            |e| matches!(e, WalkError::DiffIdMismatch { .. }),
        ),
        (
            "one bit flipped in a body",
            flipped,
            Compression::None,
            |e| matches!(e, WalkError::DiffIdMismatch { .. }),
        ),
    ];
    for (name, blob, compression, check) in cases {
        let err =
            walk_with(&blob, compression, &diff_id, &[], &WalkOptions::default()).expect_err(name);
        assert!(check(&err), "{name}: got {err:?}");
        assert!(!err.to_string().is_empty());
    }
    let other = diff_id_of(b"x");
    let err = walk_with(&gz, Compression::Gzip, &other, &[], &WalkOptions::default()).unwrap_err();
    match err {
        WalkError::DiffIdMismatch { expected, actual } => {
            assert_eq!(expected, other);
            assert_eq!(actual, diff_id);
        }
        other => panic!("{other:?}"),
    }
}

/// Fails after `good` bytes, as a digest-verifying reader does.
struct FailingSource {
    data: Cursor<Vec<u8>>,
    good: u64,
}

impl Read for FailingSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.position() >= self.good {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "blob digest mismatch",
            ));
        }
        let room = (self.good - self.data.position()) as usize;
        let n = buf.len().min(room);
        self.data.read(&mut buf[..n])
    }
}

#[test]
fn source_errors_surface_as_source() {
    let tar = Layer::new().file("app/a", &[1; 100_000]).tar();
    let gz = gzip(&tar);
    let cases = [
        ("gzip, early", gz.clone(), 0, Compression::Sniff),
        (
            "gzip, mid-stream",
            gz.clone(),
            gz.len() as u64 / 2,
            Compression::Gzip,
        ),
        (
            "gzip, at the very end",
            gz.clone(),
            gz.len() as u64,
            Compression::Gzip,
        ),
        ("zstd, mid-stream", zstd(&tar), 20, Compression::Zstd),
        ("plain, mid-body", tar.clone(), 5000, Compression::None),
    ];
    for (name, blob, good, compression) in cases {
        let source = FailingSource {
            data: Cursor::new(blob),
            good,
        };
        let err = walk_layer(
            source,
            compression,
            &diff_id_of(&tar),
            &[],
            &WalkOptions::default(),
        )
        .expect_err(name);
        match err {
            WalkError::Source(e) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{name}");
                assert_eq!(e.to_string(), "blob digest mismatch", "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn empty_blob_is_an_empty_layer() {
    let inv = walk_with(
        b"",
        Compression::Sniff,
        &diff_id_of(b""),
        &[],
        &WalkOptions::default(),
    )
    .unwrap();
    assert_eq!(inv.stats.entries, 0);
}

#[test]
fn sha512_diff_ids_are_verified() {
    let tar = Layer::new().file("app/a", b"x").tar();
    let diff_id = DiffId(Digest::from_raw(
        DigestAlgorithm::Sha512,
        &sha2::Sha512::digest(&tar),
    ));
    let inv = walk_with(
        &tar,
        Compression::None,
        &diff_id,
        &[],
        &WalkOptions::default(),
    )
    .unwrap();
    assert_eq!(inv.diff_id, diff_id);
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
