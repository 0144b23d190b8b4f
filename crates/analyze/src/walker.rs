//! The layer walker: one pass over a compressed layer blob, computing its
//! diffID while feeding wanted files to analyzers.
//!
//! Stack of readers, bottom to top:
//! `source` → [`SourceReader`] (counts compressed bytes, keeps the source's own
//! I/O error) → 256 KiB `BufReader` → decompressor → [`Digesting`] (hashes and
//! counts the tar stream, enforces the byte limits) → `tar::Archive`.
//! Because the layers report what failed through a shared [`Meter`], an error
//! that surfaces from the tar crate can be attributed to the right layer.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use model::{Diagnostic, DiffId, Digest, DigestAlgorithm, LayerInventory, Package};
use sha2::Digest as _;

use crate::analyzer::{AnalysisOutput, Analyzer, FileInput, FileMeta, ReadSeek};
use crate::limits::{WalkLimits, WalkOptions};

/// Diagnostic code of a layer-wide limit that stopped the walk early.
pub const LAYER_LIMIT_EXCEEDED: &str = "layer-limit-exceeded";

const READ_BUFFER: usize = 256 * 1024;
const TAR_BLOCK: u64 = 512;

/// Compression of a layer blob, from its media type, or `Sniff` to detect it
/// from the magic bytes (media types lie: `tar.gzip` vs `tar+gzip`, Docker
/// layers marked uncompressed that are gzip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
    Sniff,
}

impl Compression {
    fn format_name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None | Compression::Sniff => "tar",
        }
    }

    /// Compression named by a layer media type. Unknown types (and Docker's
    /// uncompressed type, which some tools fill with gzip) are sniffed.
    pub fn from_media_type(media_type: &str) -> Compression {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Compression::Zstd,
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Compression::None,
            _ => Compression::Sniff,
        }
    }

    /// Detects gzip and zstd (including zstd skippable frames); anything else
    /// is taken as a plain tar.
    pub fn sniff(prefix: &[u8]) -> Compression {
        match prefix {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b0, 0x2a, 0x4d, 0x18, ..] if b0 & 0xf0 == 0x50 => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Fatal errors: the layer cannot be trusted at all.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The caller's reader failed (network, or its digest verification).
    #[error("reading the layer blob failed: {0}")]
    Source(#[source] io::Error),
    #[error("corrupt or truncated {format} stream: {source}")]
    Decompress {
        format: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("corrupt or truncated tar stream: {0}")]
    Tar(#[source] io::Error),
    #[error("layer diffID mismatch: expected {expected}, computed {actual}")]
    DiffIdMismatch { expected: DiffId, actual: DiffId },
    /// Writing a large file to the spool directory failed: a problem of this
    /// machine, not of the layer.
    #[error("spooling a large file to disk failed: {0}")]
    Spool(#[source] io::Error),
}

/// Walks one layer blob: decompresses it, verifies its diffID, and hands every
/// regular file some analyzer wants to those analyzers.
///
/// Memory stays bounded (no layer or large file is held whole) and every
/// layer-wide limit in [`WalkLimits`] ends the walk with a partial inventory
/// and a [`LAYER_LIMIT_EXCEEDED`] error diagnostic. A partial inventory's
/// diffID is verified only when the limit hit was not a byte limit (the rest
/// of the stream is then still drained and hashed).
pub fn walk_layer(
    compressed: impl Read,
    compression: Compression,
    expected_diff_id: &DiffId,
    analyzers: &[&dyn Analyzer],
    options: &WalkOptions,
) -> Result<LayerInventory, WalkError> {
    let meter = Rc::new(Meter::default());
    let source = SourceReader {
        inner: compressed,
        meter: Rc::clone(&meter),
    };
    let mut buffered = BufReader::with_capacity(READ_BUFFER, source);
    let (compression, prefix) = match compression {
        Compression::Sniff => {
            let prefix = read_prefix(&mut buffered).map_err(|e| meter.classify(e, "tar"))?;
            (Compression::sniff(&prefix), prefix)
        }
        known => (known, Vec::new()),
    };
    // The sniffed bytes are consumed; put them back in front of the stream.
    let buffered = Cursor::new(prefix).chain(buffered);
    let format = compression.format_name();
    let decompressed: Box<dyn Read + '_> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::Decoder::with_buffer(buffered)
                .map_err(|source| WalkError::Decompress { format, source })?,
        ),
        Compression::None | Compression::Sniff => Box::new(buffered),
    };
    let digesting = Digesting {
        inner: decompressed,
        hasher: LayerHasher::for_algorithm(expected_diff_id.0.algorithm()),
        meter: Rc::clone(&meter),
        limits: options.limits.clone(),
    };

    let mut walk = LayerWalk {
        inventory: LayerInventory::new(expected_diff_id.clone()),
        analyzers,
        limits: &options.limits,
        spool: Spool {
            buffer: Vec::new(),
            file: None,
            options,
        },
        recorded_path_bytes: 0,
        suppressed_diagnostics: 0,
    };

    let mut archive = tar::Archive::new(digesting);
    let flow = walk.walk_entries(&mut archive, &meter);
    let verify = match flow {
        Err(StepError::Spool(e)) => return Err(WalkError::Spool(e)),
        Err(StepError::Stream(e)) => match meter.take_limit() {
            Some(reason) => {
                walk.stop(&reason, false);
                false
            }
            None => return Err(meter.classify(e, format)),
        },
        Ok(Flow::Completed) => true,
        Ok(Flow::Stopped(reason)) => {
            walk.stop(&reason, true);
            true
        }
    };
    walk.inventory.stats.uncompressed_bytes = meter.uncompressed.get();

    if verify {
        let mut digesting = archive.into_inner();
        // Bytes after the end-of-archive marker (record padding) are part of
        // the diffID too.
        if let Err(e) = io::copy(&mut digesting, &mut io::sink()) {
            match meter.take_limit() {
                Some(reason) => walk.stop(&reason, false),
                None => return Err(meter.classify(e, format)),
            }
            walk.inventory.stats.uncompressed_bytes = meter.uncompressed.get();
            return Ok(walk.finish());
        }
        walk.inventory.stats.uncompressed_bytes = meter.uncompressed.get();
        let actual = DiffId(digesting.hasher.finish());
        if &actual != expected_diff_id {
            return Err(WalkError::DiffIdMismatch {
                expected: expected_diff_id.clone(),
                actual,
            });
        }
    }
    Ok(walk.finish())
}

/// Reads the first bytes of the stream for sniffing. Loops because a source
/// may return fewer bytes per read than asked.
fn read_prefix(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(prefix[..filled].to_vec())
}

/// Shared record of what happened below the tar reader.
#[derive(Default)]
struct Meter {
    compressed: Cell<u64>,
    uncompressed: Cell<u64>,
    source_error: RefCell<Option<io::Error>>,
    stream_failed: Cell<bool>,
    limit_hit: RefCell<Option<String>>,
    /// While set, the tar reader may not read past this stream offset: it is
    /// reading extension headers, which it buffers whole.
    header_window_end: Cell<Option<u64>>,
}

impl Meter {
    fn take_limit(&self) -> Option<String> {
        self.limit_hit.borrow_mut().take()
    }

    /// Attributes an error that came up through the reader stack.
    fn classify(&self, error: io::Error, format: &'static str) -> WalkError {
        if let Some(source) = self.source_error.borrow_mut().take() {
            return WalkError::Source(source);
        }
        if self.stream_failed.get() {
            return WalkError::Decompress {
                format,
                source: error,
            };
        }
        WalkError::Tar(error)
    }
}

struct SourceReader<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.meter
                    .compressed
                    .set(self.meter.compressed.get() + n as u64);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let relay = io::Error::new(e.kind(), format!("layer source failed: {e}"));
                self.meter.source_error.borrow_mut().get_or_insert(e);
                Err(relay)
            }
        }
    }
}

enum LayerHasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl LayerHasher {
    fn for_algorithm(algorithm: DigestAlgorithm) -> LayerHasher {
        match algorithm {
            DigestAlgorithm::Sha256 => LayerHasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha512 => LayerHasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            LayerHasher::Sha256(h) => h.update(bytes),
            LayerHasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Digest {
        match self {
            LayerHasher::Sha256(h) => Digest::from_raw(DigestAlgorithm::Sha256, &h.finalize()),
            LayerHasher::Sha512(h) => Digest::from_raw(DigestAlgorithm::Sha512, &h.finalize()),
        }
    }
}

/// Hashes and counts the decompressed stream and enforces the byte limits.
struct Digesting<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: LayerHasher,
    meter: Rc<Meter>,
    limits: WalkLimits,
}

impl Digesting<'_> {
    fn refuse(&self, reason: String) -> io::Error {
        let error = io::Error::other(reason.clone());
        *self.meter.limit_hit.borrow_mut() = Some(reason);
        error
    }
}

impl Read for Digesting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let done = self.meter.uncompressed.get();
        let mut allowed = self.limits.max_uncompressed_bytes.saturating_sub(done);
        let mut over_reason = None;
        if allowed == 0 {
            over_reason = Some(format!(
                "the layer decompresses to more than {} bytes (max_uncompressed_bytes)",
                self.limits.max_uncompressed_bytes
            ));
        }
        if let Some(end) = self.meter.header_window_end.get() {
            let window = end.saturating_sub(done);
            if window == 0 {
                return Err(self.refuse(format!(
                    "tar extension headers longer than {} bytes (max_header_bytes)",
                    self.limits.max_header_bytes
                )));
            }
            allowed = allowed.min(window);
        }
        // At the byte limit, one byte more tells a stream that ends exactly
        // there from one that goes on.
        let want = if over_reason.is_some() {
            1
        } else {
            usize::try_from(allowed)
                .unwrap_or(usize::MAX)
                .min(buf.len())
        };
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.meter.stream_failed.set(true);
                return Err(e);
            }
        };
        if let Some(reason) = over_reason {
            if n == 0 {
                return Ok(0);
            }
            return Err(self.refuse(reason));
        }
        self.hasher.update(&buf[..n]);
        let total = done + n as u64;
        self.meter.uncompressed.set(total);
        if let Some(ratio) = self.limits.max_compression_ratio
            && total > self.limits.ratio_grace_bytes
            && total / self.meter.compressed.get().max(1) > ratio
        {
            return Err(self.refuse(format!(
                "the layer decompresses more than {ratio} times its compressed size \
                 (max_compression_ratio)"
            )));
        }
        Ok(n)
    }
}

enum Flow {
    Completed,
    /// A limit that leaves the stream readable: the rest is drained and hashed.
    Stopped(String),
}

enum StepError {
    /// From the reader stack (source, decompressor, tar, byte limits).
    Stream(io::Error),
    Spool(io::Error),
}

impl From<io::Error> for StepError {
    fn from(e: io::Error) -> Self {
        StepError::Stream(e)
    }
}

struct LayerWalk<'o, 'a> {
    inventory: LayerInventory,
    analyzers: &'a [&'a dyn Analyzer],
    limits: &'o WalkLimits,
    spool: Spool<'o>,
    recorded_path_bytes: u64,
    suppressed_diagnostics: u64,
}

impl<'a> LayerWalk<'_, 'a> {
    fn walk_entries(
        &mut self,
        archive: &mut tar::Archive<Digesting<'_>>,
        meter: &Meter,
    ) -> Result<Flow, StepError> {
        let mut entries = archive.entries()?;
        let mut header_start = 0u64;
        loop {
            meter.header_window_end.set(Some(
                header_start.saturating_add(self.limits.max_header_bytes),
            ));
            let next = entries.next();
            meter.header_window_end.set(None);
            let Some(entry) = next else {
                return Ok(Flow::Completed);
            };
            let mut entry = entry?;
            self.inventory.stats.entries += 1;
            if self.inventory.stats.entries > self.limits.max_entries {
                return Ok(Flow::Stopped(format!(
                    "the layer has more than {} entries (max_entries)",
                    self.limits.max_entries
                )));
            }
            // The tar crate skips the rest of this entry's body, then reads
            // the next headers: the window starts where the body ends.
            let stored_size = if entry.header().entry_type().is_gnu_sparse() {
                entry.header().entry_size().unwrap_or(0)
            } else {
                entry.size()
            };
            header_start = entry
                .raw_file_position()
                .saturating_add(stored_size.div_ceil(TAR_BLOCK).saturating_mul(TAR_BLOCK));
            if let Some(reason) = self.visit(&mut entry)? {
                return Ok(Flow::Stopped(reason));
            }
        }
    }

    /// Handles one entry; returns a reason when a layer-wide limit is hit.
    fn visit<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Option<String>, StepError> {
        let raw_path = entry.path_bytes().into_owned();
        let path = match normalize_path(&raw_path, self.limits.max_path_len) {
            Ok(path) => path,
            Err(problem) => {
                let shown = String::from_utf8_lossy(&raw_path).into_owned();
                self.diagnose(
                    Diagnostic::warning(problem.code(), problem.message(self.limits.max_path_len))
                        .with_path(shown),
                );
                return Ok(None);
            }
        };
        if path.is_empty() {
            return Ok(None);
        }
        let (parent, name) = match path.rsplit_once('/') {
            Some((parent, name)) => (parent, name),
            None => ("", path.as_str()),
        };
        if name == ".wh..wh..opq" {
            return Ok(self.record(RecordKind::Opaque, parent.to_owned()));
        }
        if name.starts_with(".wh..wh.") {
            // Other AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): not content.
            return Ok(None);
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                self.diagnose(
                    Diagnostic::warning("invalid-whiteout", "whiteout marker names no file")
                        .with_path(path.clone()),
                );
                return Ok(None);
            }
            let target = if parent.is_empty() {
                hidden.to_owned()
            } else {
                format!("{parent}/{hidden}")
            };
            return Ok(self.record(RecordKind::Whiteout, target));
        }

        let entry_type = entry.header().entry_type();
        let is_file = matches!(
            entry_type,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse
        );
        let is_link = matches!(entry_type, tar::EntryType::Symlink | tar::EntryType::Link);
        if !is_file && !is_link {
            // Directories, devices, FIFOs: nothing an analyzer reads.
            return Ok(None);
        }
        let meta = FileMeta {
            path: &path,
            size: if is_file { entry.size() } else { 0 },
            mode: entry.header().mode().unwrap_or(0),
        };
        let wanting = self.wanting(&meta);
        if wanting.is_empty() {
            return Ok(None);
        }
        if !is_file {
            return Ok(self.visit_link(&path));
        }
        self.forget_earlier_version(&path);
        if let Some(reason) = self.record(RecordKind::Analyzed, path.clone()) {
            return Ok(Some(reason));
        }
        if meta.size > self.limits.max_analyzed_file_size {
            self.diagnose(
                Diagnostic::warning(
                    "file-too-large",
                    format!(
                        "{} bytes is more than the {} analysed per file (max_analyzed_file_size)",
                        meta.size, self.limits.max_analyzed_file_size
                    ),
                )
                .with_path(path.clone()),
            );
            return Ok(None);
        }
        let mut body = self.spool.load(entry, meta.size)?;
        self.inventory.stats.files_analyzed += 1;
        for analyzer in wanting {
            body.seek(SeekFrom::Start(0)).map_err(StepError::Spool)?;
            let outcome = run_analyzer(analyzer, meta, &mut body);
            merge_outcome(
                &mut self.inventory,
                &mut self.suppressed_diagnostics,
                self.limits.max_diagnostics,
                analyzer,
                &path,
                outcome,
            );
        }
        Ok(None)
    }

    /// A symlink or hardlink at a wanted path. It is not followed, but it
    /// replaces whatever a lower layer had at that path, so the path is
    /// recorded as analysed (with no findings). A hardlink's content is its
    /// target's, which is a regular file of this layer or a lower one and is
    /// analysed there: following it would only report the same packages twice
    /// (as Trivy, which also skips link entries). So no diagnostic either: it
    /// would fire on every ordinary image (`gunzip`/`uncompress`, `perl`).
    fn visit_link(&mut self, path: &str) -> Option<String> {
        self.forget_earlier_version(path);
        self.record(RecordKind::Analyzed, path.to_owned())
    }

    fn wanting(&mut self, meta: &FileMeta<'_>) -> Vec<&'a dyn Analyzer> {
        let mut wanting = Vec::new();
        for &analyzer in self.analyzers {
            match catch_unwind(AssertUnwindSafe(|| analyzer.wants(meta))) {
                Ok(true) => wanting.push(analyzer),
                Ok(false) => {}
                Err(panic) => {
                    let mut diagnostic = Diagnostic::error(
                        "analyzer-panic",
                        format!("analyzer panicked in wants(): {}", panic_message(&*panic)),
                    )
                    .with_path(meta.path.to_owned());
                    diagnostic.analyzer = Some(analyzer.id());
                    self.diagnose(diagnostic);
                }
            }
        }
        wanting
    }

    /// A later entry for the same path in one layer overwrites the earlier
    /// one, as extraction would.
    fn forget_earlier_version(&mut self, path: &str) {
        if !self.inventory.analyzed_paths.contains(path) {
            return;
        }
        self.inventory
            .packages
            .retain(|p| file_of_evidence(&p.evidence.path) != path);
        self.inventory.os.retain(|os| os.path != path);
    }

    fn record(&mut self, kind: RecordKind, path: String) -> Option<String> {
        self.recorded_path_bytes += path.len() as u64;
        if self.recorded_path_bytes > self.limits.max_recorded_path_bytes {
            return Some(format!(
                "the layer records more than {} bytes of paths (max_recorded_path_bytes)",
                self.limits.max_recorded_path_bytes
            ));
        }
        let set = match kind {
            RecordKind::Analyzed => &mut self.inventory.analyzed_paths,
            RecordKind::Whiteout => &mut self.inventory.whiteouts,
            RecordKind::Opaque => &mut self.inventory.opaque_dirs,
        };
        set.insert(path);
        None
    }

    fn diagnose(&mut self, diagnostic: Diagnostic) {
        push_diagnostic(
            &mut self.inventory,
            &mut self.suppressed_diagnostics,
            self.limits.max_diagnostics,
            diagnostic,
        );
    }

    fn stop(&mut self, reason: &str, verified: bool) {
        let suffix = if verified {
            ""
        } else {
            "; the layer's diffID could not be verified"
        };
        let diagnostic = Diagnostic::error(
            LAYER_LIMIT_EXCEEDED,
            format!("layer analysis stopped early: {reason}{suffix}"),
        )
        .with_layer(self.inventory.diff_id.clone());
        // Always kept, even over the diagnostic cap: it explains the gap.
        self.inventory.diagnostics.push(diagnostic);
    }

    fn finish(mut self) -> LayerInventory {
        if self.suppressed_diagnostics > 0 {
            let diagnostic = Diagnostic::warning(
                "diagnostics-truncated",
                format!(
                    "{} more diagnostics for this layer were dropped (max_diagnostics)",
                    self.suppressed_diagnostics
                ),
            )
            .with_layer(self.inventory.diff_id.clone());
            self.inventory.diagnostics.push(diagnostic);
        }
        self.inventory
    }
}

#[derive(Clone, Copy)]
enum RecordKind {
    Analyzed,
    Whiteout,
    Opaque,
}

fn push_diagnostic(
    inventory: &mut LayerInventory,
    suppressed: &mut u64,
    max: usize,
    mut diagnostic: Diagnostic,
) {
    if inventory.diagnostics.len() >= max {
        *suppressed += 1;
        return;
    }
    if diagnostic.layer_diff_id.is_none() {
        diagnostic.layer_diff_id = Some(inventory.diff_id.clone());
    }
    inventory.diagnostics.push(diagnostic);
}

enum AnalyzerOutcome {
    Done(AnalysisOutput),
    Failed(AnalysisOutput, crate::AnalyzerError),
    Panicked(String),
}

fn run_analyzer(
    analyzer: &dyn Analyzer,
    meta: FileMeta<'_>,
    body: &mut dyn ReadSeek,
) -> AnalyzerOutcome {
    let mut out = AnalysisOutput::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        analyzer.analyze(FileInput { meta, body }, &mut out)
    }));
    match result {
        Ok(Ok(())) => AnalyzerOutcome::Done(out),
        Ok(Err(error)) => AnalyzerOutcome::Failed(out, error),
        // Output of a panicked analyzer may be half-built: dropped.
        Err(panic) => AnalyzerOutcome::Panicked(panic_message(&*panic)),
    }
}

fn merge_outcome(
    inventory: &mut LayerInventory,
    suppressed: &mut u64,
    max_diagnostics: usize,
    analyzer: &dyn Analyzer,
    path: &str,
    outcome: AnalyzerOutcome,
) {
    let id = analyzer.id();
    let (out, failure) = match outcome {
        AnalyzerOutcome::Done(out) => (out, None),
        AnalyzerOutcome::Failed(out, error) => {
            let diagnostic = Diagnostic::error(error.code(), error.to_string());
            (out, Some(diagnostic))
        }
        AnalyzerOutcome::Panicked(message) => (
            AnalysisOutput::default(),
            Some(Diagnostic::error(
                "analyzer-panic",
                format!("analyzer panicked: {message}"),
            )),
        ),
    };
    // Packages found before an analyzer error are real (a database read up
    // to a corrupt record): kept, next to the error diagnostic.
    for mut package in out.packages {
        stamp_package(&mut package, &id, path);
        inventory.packages.push(package);
    }
    if let Some(mut os) = out.os {
        if os.path.is_empty() {
            os.path = path.to_owned();
        }
        inventory.os.push(os);
    }
    for diagnostic in out.diagnostics.into_iter().chain(failure) {
        let mut diagnostic = diagnostic;
        if diagnostic.path.is_none() {
            diagnostic.path = Some(path.to_owned());
        }
        if diagnostic.analyzer.is_none() {
            diagnostic.analyzer = Some(id.clone());
        }
        push_diagnostic(inventory, suppressed, max_diagnostics, diagnostic);
    }
}

fn stamp_package(package: &mut Package, id: &model::AnalyzerId, path: &str) {
    package.evidence.analyzer = Some(id.clone());
    if package.evidence.path.is_empty() {
        package.evidence.path = path.to_owned();
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// The file a package's evidence path points into: `app.jar!/lib/x.jar` → `app.jar`.
pub(crate) fn file_of_evidence(path: &str) -> &str {
    path.split_once("!/").map_or(path, |(file, _)| file)
}

/// Holds the body of one wanted file where analyzers can seek in it.
struct Spool<'o> {
    buffer: Vec<u8>,
    /// One anonymous file reused for every large file of the layer.
    file: Option<File>,
    options: &'o WalkOptions,
}

enum Body<'s> {
    Memory(Cursor<&'s [u8]>),
    Disk(&'s mut File),
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Memory(c) => c.read(buf),
            Body::Disk(f) => f.read(buf),
        }
    }
}

impl Seek for Body<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Body::Memory(c) => c.seek(pos),
            Body::Disk(f) => f.seek(pos),
        }
    }
}

impl Spool<'_> {
    fn load<R: Read>(&mut self, entry: &mut R, size: u64) -> Result<Body<'_>, StepError> {
        let threshold = self.options.spool_threshold;
        self.buffer.clear();
        if size <= threshold {
            // The header size is a claim: never trust it for more than the threshold.
            self.buffer
                .reserve(usize::try_from(size).unwrap_or(0).min(64 * 1024 * 1024));
            entry
                .by_ref()
                .take(threshold + 1)
                .read_to_end(&mut self.buffer)?;
            if self.buffer.len() as u64 <= threshold {
                return Ok(Body::Memory(Cursor::new(&self.buffer)));
            }
        }
        let file = match &mut self.file {
            Some(file) => file,
            slot => {
                let created = match &self.options.spool_dir {
                    Some(dir) => tempfile::tempfile_in(dir),
                    None => tempfile::tempfile(),
                }
                .map_err(StepError::Spool)?;
                slot.insert(created)
            }
        };
        file.set_len(0).map_err(StepError::Spool)?;
        file.seek(SeekFrom::Start(0)).map_err(StepError::Spool)?;
        file.write_all(&self.buffer).map_err(StepError::Spool)?;
        self.buffer.clear();
        copy_to_spool(entry, file, &mut self.buffer)?;
        self.buffer.clear();
        file.seek(SeekFrom::Start(0)).map_err(StepError::Spool)?;
        Ok(Body::Disk(file))
    }
}

/// Like `io::copy`, but keeps read errors (the layer) apart from write
/// errors (the spool disk).
fn copy_to_spool<R: Read>(
    entry: &mut R,
    file: &mut File,
    scratch: &mut Vec<u8>,
) -> Result<(), StepError> {
    scratch.resize(READ_BUFFER, 0);
    loop {
        let n = match entry.read(scratch) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StepError::Stream(e)),
        };
        file.write_all(&scratch[..n]).map_err(StepError::Spool)?;
    }
}

/// Why an entry path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathProblem {
    EscapesRoot,
    NulByte,
    TooLong,
    NotUtf8,
}

impl PathProblem {
    fn code(self) -> &'static str {
        match self {
            PathProblem::EscapesRoot => "path-escapes-root",
            PathProblem::NulByte => "invalid-path",
            PathProblem::TooLong => "path-too-long",
            PathProblem::NotUtf8 => "non-utf8-path",
        }
    }

    fn message(self, max_len: usize) -> String {
        match self {
            PathProblem::EscapesRoot => "entry path climbs above the image root; skipped".into(),
            PathProblem::NulByte => "entry path contains a NUL byte; skipped".into(),
            PathProblem::TooLong => {
                format!("entry path is longer than {max_len} bytes (max_path_len); skipped")
            }
            PathProblem::NotUtf8 => "entry path is not UTF-8; skipped".into(),
        }
    }
}

/// Normalises a tar entry path to the form analyzers see: relative,
/// `/`-separated, without `.`, `..` or empty components. `""` is the root.
pub(crate) fn normalize_path(raw: &[u8], max_len: usize) -> Result<String, PathProblem> {
    if raw.contains(&0) {
        return Err(PathProblem::NulByte);
    }
    let text = std::str::from_utf8(raw).map_err(|_| PathProblem::NotUtf8)?;
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathProblem::EscapesRoot);
                }
            }
            other => parts.push(other),
        }
    }
    let path = parts.join("/");
    if path.len() > max_len {
        return Err(PathProblem::TooLong);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_normalisation() {
        let cases: &[(&[u8], Result<&str, PathProblem>)] = &[
            (b"etc/os-release", Ok("etc/os-release")),
            (b"./etc/os-release", Ok("etc/os-release")),
            (b"/etc/os-release", Ok("etc/os-release")),
            (b"etc/", Ok("etc")),
            (b"./", Ok("")),
            (b"/", Ok("")),
            (b"a/./b//c/", Ok("a/b/c")),
            (b"a/b/../c", Ok("a/c")),
            (b"a/..", Ok("")),
            (b"..", Err(PathProblem::EscapesRoot)),
            (b"../etc/passwd", Err(PathProblem::EscapesRoot)),
            (b"/../etc/passwd", Err(PathProblem::EscapesRoot)),
            (b"a/../../b", Err(PathProblem::EscapesRoot)),
            (b"a\0b", Err(PathProblem::NulByte)),
            (b"caf\xe9", Err(PathProblem::NotUtf8)),
            (b"...", Ok("...")),
            (b"a/.../b", Ok("a/.../b")),
            (b"0123456789abcdef", Ok("0123456789abcdef")),
            (b"0123456789abcdefg", Err(PathProblem::TooLong)),
            (b"./0123456789abcdef/", Ok("0123456789abcdef")),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                normalize_path(raw, 16).as_deref().map_err(|e| *e),
                expected.as_ref().map(|s| *s).map_err(|e| *e),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn sniffing() {
        let cases: &[(&[u8], Compression)] = &[
            (&[0x1f, 0x8b, 0x08, 0x00], Compression::Gzip),
            (&[0x1f, 0x8b], Compression::Gzip),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
            (&[0x50, 0x2a, 0x4d, 0x18], Compression::Zstd),
            (&[0x5f, 0x2a, 0x4d, 0x18], Compression::Zstd),
            (&[0x60, 0x2a, 0x4d, 0x18], Compression::None),
            (&[0x28, 0xb5, 0x2f], Compression::None),
            (b"etc/", Compression::None),
            (&[0x1f], Compression::None),
            (&[], Compression::None),
        ];
        for (prefix, expected) in cases {
            assert_eq!(Compression::sniff(prefix), *expected, "{prefix:02x?}");
        }
    }

    #[test]
    fn media_types() {
        let cases = [
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                Compression::Zstd,
            ),
            ("application/vnd.oci.image.layer.v1.tar", Compression::None),
            (
                "application/vnd.docker.image.rootfs.diff.tar",
                Compression::Sniff,
            ),
            ("application/octet-stream", Compression::Sniff),
        ];
        for (media_type, expected) in cases {
            assert_eq!(
                Compression::from_media_type(media_type),
                expected,
                "{media_type}"
            );
        }
    }

    #[test]
    fn evidence_file() {
        let cases = [
            ("app.jar", "app.jar"),
            ("app.jar!/BOOT-INF/lib/x.jar", "app.jar"),
            ("a/b.war!/c.jar!/META-INF/x", "a/b.war"),
        ];
        for (path, expected) in cases {
            assert_eq!(file_of_evidence(path), expected);
        }
    }
}
