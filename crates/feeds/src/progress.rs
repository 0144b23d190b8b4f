use std::path::Path;
use std::time::Duration;

use crate::feed::FeedId;

/// What a fetch reports while it runs, so the CLI can draw progress bars.
/// The library itself prints nothing. Every method has an empty default.
/// URLs are given without user-info.
pub trait FetchProgress: Send + Sync {
    /// A request is about to be sent.
    fn request(&self, _feed: &FeedId, _url: &str) {}
    /// The response headers arrived; `total` is the announced body length.
    fn response(&self, _feed: &FeedId, _url: &str, _total: Option<u64>) {}
    /// `bytes` more body bytes arrived.
    fn bytes(&self, _feed: &FeedId, _bytes: u64) {}
    /// How many files the fetch expects to write, once it knows.
    fn files_planned(&self, _feed: &FeedId, _files: u64) {}
    /// One file is complete in the staging directory.
    fn file_done(&self, _feed: &FeedId, _path: &Path, _bytes: u64) {}
    /// A failed attempt will be repeated after `wait`.
    fn retry(&self, _feed: &FeedId, _url: &str, _attempt: u32, _wait: Duration, _reason: &str) {}
    /// Pausing for the source's rate limit.
    fn throttled(&self, _feed: &FeedId, _wait: Duration) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl FetchProgress for NoProgress {}
