use std::path::PathBuf;
use std::time::Duration;

use crate::feed::FeedIdError;

/// Why a fetch failed. URLs are shown without user-info and no error ever
/// carries the NVD API key (it travels in a header, never in a URL).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    InvalidFeed(#[from] FeedIdError),
    #[error("cannot set up the HTTP client: {0}")]
    ClientSetup(String),
    #[error("invalid URL for {what}: {message}")]
    InvalidUrl { what: String, message: String },
    #[error("{url}: {message} (after {attempts} attempt(s))")]
    Transport {
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("{url}: HTTP status {status} (after {attempts} attempt(s))")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
    },
    #[error("{url}: no complete answer within {after:?} (after {attempts} attempt(s))")]
    Timeout {
        url: String,
        after: Duration,
        attempts: u32,
    },
    #[error("{url}: larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: body cut short: {received} of {expected} bytes (after {attempts} attempt(s))")]
    Truncated {
        url: String,
        expected: u64,
        received: u64,
        attempts: u32,
    },
    #[error("{url}: unexpected content: {message}")]
    Malformed { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FetchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> FetchError {
        FetchError::Io {
            path: path.into(),
            source,
        }
    }

    /// The HTTP status, when the server answered with an unwanted one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
