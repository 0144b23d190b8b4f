use std::path::PathBuf;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Bounds on what one layer may cost. Layers come from registries we do not
/// control, so every dimension a hostile tar can blow up is capped here.
///
/// Limits marked *layer-wide* stop the walk when exceeded: the walker returns
/// the partial [`model::LayerInventory`] with an error diagnostic
/// [`LAYER_LIMIT_EXCEEDED`](crate::LAYER_LIMIT_EXCEEDED) instead of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkLimits {
    /// Layer-wide: bytes of decompressed tar stream read (20 GiB). Stops
    /// decompression bombs; also bounds the time a layer can take.
    pub max_uncompressed_bytes: u64,
    /// Layer-wide: tar entries, extension headers not counted (2,000,000).
    pub max_entries: u64,
    /// Layer-wide: decompressed/compressed byte ratio (10,000), only checked
    /// once `ratio_grace_bytes` have been decompressed. Deflate cannot exceed
    /// about 1,032:1, so this only catches zstd bombs early; `None` disables it.
    pub max_compression_ratio: Option<u64>,
    /// Decompressed bytes before the ratio guard applies (1 GiB), so small
    /// layers of highly compressible data pass.
    pub ratio_grace_bytes: u64,
    /// Layer-wide: bytes of tar extension headers (PAX records, GNU long
    /// names) in front of one entry (1 MiB). The tar crate reads these into
    /// memory whole, so without this bound one header could exhaust memory.
    pub max_header_bytes: u64,
    /// Layer-wide: total bytes of paths kept in the inventory (whiteouts,
    /// opaque dirs, analysed paths; 256 MiB).
    pub max_recorded_path_bytes: u64,
    /// Per file: files bigger than this are not handed to analyzers (1 GiB);
    /// they get a warning diagnostic `file-too-large`.
    pub max_analyzed_file_size: u64,
    /// Per entry: longer normalised paths are skipped with `path-too-long` (4,096 bytes).
    pub max_path_len: usize,
    /// Diagnostics kept per layer (1,000); the rest are counted in one
    /// `diagnostics-truncated` warning so a tar bomb of bad entries stays small.
    pub max_diagnostics: usize,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_uncompressed_bytes: 20 * GIB,
            max_entries: 2_000_000,
            max_compression_ratio: Some(10_000),
            ratio_grace_bytes: GIB,
            max_header_bytes: MIB,
            max_recorded_path_bytes: 256 * MIB,
            max_analyzed_file_size: GIB,
            max_path_len: 4096,
            max_diagnostics: 1000,
        }
    }
}

/// How the walker runs: limits, and where large files are spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkOptions {
    pub limits: WalkLimits,
    /// Wanted files up to this size are held in memory (8 MiB); bigger ones are
    /// copied to an anonymous temporary file so analyzers can seek in them.
    pub spool_threshold: u64,
    /// Directory for spool files; `None` uses the system temporary directory.
    /// Spool files are anonymous (unlinked at creation): nothing is ever
    /// written under an entry's name.
    pub spool_dir: Option<PathBuf>,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            limits: WalkLimits::default(),
            spool_threshold: 8 * MIB,
            spool_dir: None,
        }
    }
}
