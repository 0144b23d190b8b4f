//! One image, end to end: resolve → layers (concurrently, bounded) → cache →
//! `apply_layers`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use analyze::{Analyzer, Compression, WalkOptions};
use model::{
    AnalyzerId, Diagnostic, ImageInventory, ImageMetadata, LayerDescriptor, LayerInventory,
    Platform,
};
use oci::{ImageSource, ResolvedImage};
use tokio::task::JoinSet;

use crate::bridge;
use crate::cache::{CacheKey, LayerCache};

/// Chunks in flight between a blob download and its walker. On a fast link the
/// download always outruns decompression, so the channel stays full: with
/// hyper's chunks of up to a few hundred KiB, 64 chunks cost ~15 MiB of RSS per
/// layer for no speed-up (measured with bench/run.sh); 8 keep the pipe busy.
const CHANNEL_CHUNKS: usize = 8;

/// How to scan.
#[derive(Clone)]
pub struct ScanOptions {
    pub platform: Platform,
    /// Layers downloaded and analysed at the same time.
    pub layer_concurrency: usize,
    pub walk: WalkOptions,
    pub cache: Option<LayerCache>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            platform: Platform::linux_amd64(),
            layer_concurrency: 3,
            walk: WalkOptions::default(),
            cache: None,
        }
    }
}

/// Receives progress events; implemented by the CLI's progress bars. Called
/// from several tasks at once.
pub trait ScanProgress: Send + Sync {
    fn resolved(&self, _image: &ImageMetadata) {}
    fn layer_started(&self, _layer: &LayerDescriptor) {}
    fn layer_bytes(&self, _index: u32, _bytes: u64) {}
    fn layer_finished(&self, _index: u32, _from_cache: bool) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl ScanProgress for NoProgress {}

/// How one layer was obtained.
#[derive(Debug, Clone)]
pub struct LayerOutcome {
    pub index: u32,
    pub from_cache: bool,
    pub elapsed: Duration,
}

/// The result of scanning one image.
#[derive(Debug, Clone)]
pub struct ScanReport {
    pub image: ImageMetadata,
    pub inventory: ImageInventory,
    pub analyzers: Vec<AnalyzerId>,
    pub layers: Vec<LayerOutcome>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Source(#[from] oci::OciError),
    #[error("layer {index} ({diff_id}): {source}")]
    Layer {
        index: u32,
        diff_id: model::DiffId,
        #[source]
        source: analyze::WalkError,
    },
    /// A layer task panicked or was cancelled: a bug, not bad input.
    #[error("a layer analysis task failed: {0}")]
    Task(String),
}

/// The analyzers, shared by the blocking walker threads.
pub type AnalyzerSet = Arc<Vec<Box<dyn Analyzer>>>;

/// Scans one image from `source`.
pub async fn scan_image(
    source: Arc<ImageSource>,
    options: &ScanOptions,
    analyzers: AnalyzerSet,
    progress: Arc<dyn ScanProgress>,
) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let resolved = Arc::new(source.resolve(&options.platform).await?);
    progress.resolved(&resolved.metadata);
    let analyzer_ids = analyze::analyzer_ids(&analyzers);

    let mut results: Vec<Option<(LayerInventory, LayerOutcome)>> =
        vec![None; resolved.metadata.layers.len()];
    let semaphore = Arc::new(tokio::sync::Semaphore::new(
        options.layer_concurrency.max(1),
    ));
    let mut tasks = JoinSet::new();
    // Largest layers first: the biggest one is the critical path, so it must
    // not wait behind small ones for a permit.
    let mut by_size = resolved.metadata.layers.clone();
    by_size.sort_by_key(|l| std::cmp::Reverse(l.compressed_size));
    for layer in by_size {
        let job = LayerJob {
            source: source.clone(),
            resolved: resolved.clone(),
            layer,
            analyzers: analyzers.clone(),
            analyzer_ids: analyzer_ids.clone(),
            walk: options.walk.clone(),
            cache: options.cache.clone(),
            progress: progress.clone(),
        };
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            job.run().await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (inventory, outcome) = match joined {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                tasks.abort_all();
                return Err(e);
            }
            Err(e) => {
                tasks.abort_all();
                return Err(ScanError::Task(e.to_string()));
            }
        };
        let index = outcome.index as usize;
        results[index] = Some((inventory, outcome));
    }

    let mut layers = Vec::with_capacity(results.len());
    let mut outcomes = Vec::with_capacity(results.len());
    for (inventory, outcome) in results.into_iter().flatten() {
        layers.push(inventory);
        outcomes.push(outcome);
    }
    let mut image = resolved.metadata.clone();
    for (descriptor, layer) in image.layers.iter_mut().zip(&layers) {
        descriptor.uncompressed_size = Some(layer.stats.uncompressed_bytes);
    }
    let mut inventory = analyze::apply_layers(&layers);
    let mut diagnostics: Vec<Diagnostic> = resolved.warnings.clone();
    diagnostics.append(&mut inventory.diagnostics);
    inventory.diagnostics = diagnostics;

    Ok(ScanReport {
        image,
        inventory,
        analyzers: analyzer_ids,
        layers: outcomes,
        elapsed: started.elapsed(),
    })
}

struct LayerJob {
    source: Arc<ImageSource>,
    resolved: Arc<ResolvedImage>,
    layer: LayerDescriptor,
    analyzers: AnalyzerSet,
    analyzer_ids: Vec<AnalyzerId>,
    walk: WalkOptions,
    cache: Option<LayerCache>,
    progress: Arc<dyn ScanProgress>,
}

impl LayerJob {
    async fn run(self) -> Result<(LayerInventory, LayerOutcome), ScanError> {
        let started = Instant::now();
        let index = self.layer.index;
        let key = CacheKey::new(&self.layer.diff_id, &self.analyzer_ids);
        if let Some(cache) = &self.cache {
            let (cache, key, diff_id) = (cache.clone(), key.clone(), self.layer.diff_id.clone());
            let hit = tokio::task::spawn_blocking(move || cache.get(&key, &diff_id))
                .await
                .ok()
                .flatten();
            if let Some(inventory) = hit {
                self.progress.layer_finished(index, true);
                let outcome = LayerOutcome {
                    index,
                    from_cache: true,
                    elapsed: started.elapsed(),
                };
                return Ok((inventory, outcome));
            }
        }

        self.progress.layer_started(&self.layer);
        let stream = self.source.open_layer(&self.resolved, &self.layer).await?;
        let (tx, reader) = bridge::channel(CHANNEL_CHUNKS);
        let progress = self.progress.clone();
        let pump = tokio::spawn(bridge::pump(stream, tx, move |n| {
            progress.layer_bytes(index, n)
        }));

        // Media types lie (gzip blobs under Docker's uncompressed type, unknown
        // types); analyze's mapping sniffs the magic bytes when unsure.
        let compression = Compression::from_media_type(&self.layer.media_type);
        let diff_id = self.layer.diff_id.clone();
        let analyzers = self.analyzers.clone();
        let walk = self.walk.clone();
        let walked = tokio::task::spawn_blocking(move || {
            let refs: Vec<&dyn Analyzer> = analyzers.iter().map(|a| a.as_ref()).collect();
            analyze::walk_layer(reader, compression, &diff_id, &refs, &walk)
        })
        .await;
        pump.abort();
        let inventory = match walked {
            Ok(Ok(inventory)) => inventory,
            Ok(Err(source)) => {
                return Err(ScanError::Layer {
                    index,
                    diff_id: self.layer.diff_id.clone(),
                    source,
                });
            }
            Err(e) => {
                return Err(ScanError::Task(format!("layer {index}: {e}")));
            }
        };

        // A walk stopped by a limit may not have verified the diffID: such a
        // result is not trusted enough to be filed under it.
        let complete = !inventory
            .diagnostics
            .iter()
            .any(|d| d.code == analyze::LAYER_LIMIT_EXCEEDED);
        if let (Some(cache), true) = (&self.cache, complete)
            && let Err(e) = cache.put(&key, &inventory)
        {
            tracing::warn!(layer = index, error = %e, "could not write the layer cache");
        }
        self.progress.layer_finished(index, false);
        Ok((
            inventory,
            LayerOutcome {
                index,
                from_cache: false,
                elapsed: started.elapsed(),
            },
        ))
    }
}
