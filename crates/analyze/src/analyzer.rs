use std::io::{Read, Seek};

use model::{AnalyzerId, Diagnostic, OsInfo, Package};

/// A readable, seekable file body. Small files are served from memory, large
/// ones from a private spool file, so analyzers of archives and binaries can
/// seek without the walker holding them whole in memory.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// What an analyzer knows about a file before reading it.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta<'a> {
    /// Normalised path inside the image: relative, `/`-separated, no `.` or
    /// `..` components, no leading `/` (`usr/lib/os-release`).
    pub path: &'a str,
    /// Size in bytes of the file body.
    pub size: u64,
    /// Unix permission bits from the tar header.
    pub mode: u32,
}

impl FileMeta<'_> {
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }

    /// The last path component.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }
}

/// One file handed to an analyzer.
pub struct FileInput<'a> {
    pub meta: FileMeta<'a>,
    /// Positioned at the start of the body.
    pub body: &'a mut dyn ReadSeek,
}

/// What one analyzer found in one file.
#[derive(Debug, Default)]
pub struct AnalysisOutput {
    /// Packages found. The walker stamps `evidence.analyzer`, and
    /// `evidence.path` when the analyzer left it empty (archive analyzers set
    /// it themselves, e.g. `app.jar!/BOOT-INF/lib/x.jar`).
    pub packages: Vec<Package>,
    pub os: Option<OsInfo>,
    /// Problems that did not stop the analyzer: a malformed record skipped, a
    /// format not supported yet.
    pub diagnostics: Vec<Diagnostic>,
}

/// Errors that stop an analyzer on one file. The walker turns them into a
/// diagnostic on the layer and goes on with the other files.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed {format}: {message}")]
    Malformed {
        format: &'static str,
        message: String,
    },
    #[error("unsupported {format}: {message}")]
    Unsupported {
        format: &'static str,
        message: String,
    },
    #[error("limit exceeded: {0}")]
    Limit(String),
}

impl AnalyzerError {
    pub fn malformed(format: &'static str, message: impl Into<String>) -> AnalyzerError {
        AnalyzerError::Malformed {
            format,
            message: message.into(),
        }
    }

    /// Stable diagnostic code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            AnalyzerError::Io(_) => "analyzer-io",
            AnalyzerError::Malformed { .. } => "malformed-file",
            AnalyzerError::Unsupported { .. } => "unsupported-format",
            AnalyzerError::Limit(_) => "analyzer-limit",
        }
    }
}

/// A file analyzer. Listed explicitly in the analyzer registry; no hidden
/// registration. Implementations must be deterministic: the same bytes give
/// the same output, because results are cached by layer diffID and
/// [`Analyzer::id`].
pub trait Analyzer: Send + Sync {
    /// Name and version; bump the version whenever output for the same bytes changes.
    fn id(&self) -> AnalyzerId;

    /// Whether this analyzer wants the file. Called for every regular file of
    /// a layer, so it must be cheap (path and metadata only).
    fn wants(&self, file: &FileMeta<'_>) -> bool;

    /// Analyses one file. Must bound its own memory use (never read an
    /// unbounded amount from `file.body` into memory).
    fn analyze(&self, file: FileInput<'_>, out: &mut AnalysisOutput) -> Result<(), AnalyzerError>;
}

/// Runs `analyzer` on `bytes` as the file at `path` (mode 0644): the one way
/// analyzer unit tests feed a file.
#[cfg(test)]
pub(crate) fn run_on_bytes(
    analyzer: &dyn Analyzer,
    path: &str,
    bytes: &[u8],
) -> Result<AnalysisOutput, AnalyzerError> {
    let mut body = std::io::Cursor::new(bytes);
    let meta = FileMeta {
        path,
        size: bytes.len() as u64,
        mode: 0o644,
    };
    let mut out = AnalysisOutput::default();
    analyzer.analyze(
        FileInput {
            meta,
            body: &mut body,
        },
        &mut out,
    )?;
    Ok(out)
}
