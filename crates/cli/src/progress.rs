//! Progress display for a terminal: one bar per layer with its bytes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use engine::ScanProgress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::{ImageMetadata, LayerDescriptor};

pub struct TerminalProgress {
    multi: MultiProgress,
    header: ProgressBar,
    bars: Mutex<HashMap<u32, ProgressBar>>,
}

impl TerminalProgress {
    pub fn new(what: &str) -> TerminalProgress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        header.set_message(format!("resolving {what}"));
        header.enable_steady_tick(Duration::from_millis(120));
        TerminalProgress {
            multi,
            header,
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub fn finish(&self) {
        self.header.finish_and_clear();
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
        }
        let _ = self.multi.clear();
    }
}

impl ScanProgress for TerminalProgress {
    fn resolved(&self, image: &ImageMetadata) {
        self.header.set_message(format!(
            "{} {} ({} layers, {})",
            image.repository,
            image.manifest_digest.short(),
            image.layers.len(),
            indicatif::HumanBytes(image.compressed_size())
        ));
    }

    fn layer_started(&self, layer: &LayerDescriptor) {
        let bar = self.multi.add(ProgressBar::new(layer.compressed_size));
        bar.set_style(
            ProgressStyle::with_template(
                "  layer {prefix:>3} {bar:30.cyan/blue} {bytes:>10}/{total_bytes:<10} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(layer.index.to_string());
        bar.set_message(layer.diff_id.0.short().to_owned());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(layer.index, bar);
        }
    }

    fn layer_bytes(&self, index: u32, bytes: u64) {
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(&index)
        {
            bar.inc(bytes);
        }
    }

    fn layer_finished(&self, index: u32, from_cache: bool) {
        if from_cache {
            return;
        }
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(&index)
        {
            bar.finish_with_message("analysed");
        }
    }
}
