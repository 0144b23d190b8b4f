//! One GET with retries, size caps and timeouts, its body streamed into a
//! file, memory or a line consumer.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use tokio::io::AsyncWriteExt;

use crate::config::{FeedsConfig, HttpConfig};
use crate::error::FetchError;
use crate::feed::FeedId;
use crate::progress::FetchProgress;

/// Builds a client with the configured user agent and connect timeout. A
/// rustls crypto provider must be installed as the process default before
/// (`rustls::crypto::ring::default_provider().install_default()`).
pub fn build_client(config: &FeedsConfig) -> Result<Client, FetchError> {
    // reqwest panics without a provider; an error the caller can report is kinder.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        return Err(FetchError::ClientSetup(
            "no rustls crypto provider installed: call rustls::crypto::ring::default_provider().install_default() at start-up".to_owned(),
        ));
    }
    Client::builder()
        .user_agent(config.http.user_agent.clone())
        .connect_timeout(config.http.connect_timeout)
        .build()
        .map_err(|error| FetchError::ClientSetup(error_chain(&error.without_url())))
}

/// A URL as shown in errors and progress: without user name or password.
pub(crate) fn shown(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut clean = url.clone();
    // Only fails for URLs that cannot have user-info, which then has none.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Counters shared by the requests of one fetch.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub bytes: AtomicU64,
}

/// Receives a body line by line (without the line end). Lines longer than
/// [`MAX_LINE`] are handed over cut at that length.
pub(crate) trait LineConsumer: Send {
    /// A retry starts the body again: forget what was seen.
    fn reset(&mut self);
    /// `Break` stops reading the body.
    fn line(&mut self, line: &[u8]) -> ControlFlow<()>;
}

pub(crate) const MAX_LINE: usize = 1024;

pub(crate) enum Sink<'a> {
    File(&'a Path),
    Memory,
    Lines(&'a mut dyn LineConsumer),
}

pub(crate) struct Request<'a> {
    pub url: Url,
    pub headers: HeaderMap,
    pub limit: u64,
    /// Statuses this source uses for rate limiting besides 429 (NVD: 403).
    pub extra_retry_statuses: &'a [u16],
}

#[derive(Debug)]
pub(crate) enum Outcome {
    NotModified,
    Complete(Body),
}

#[derive(Debug, Default)]
pub(crate) struct Body {
    /// The body, for [`Sink::Memory`].
    pub data: Vec<u8>,
    pub bytes: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

pub(crate) struct Fetcher<'a> {
    pub client: &'a Client,
    pub http: &'a HttpConfig,
    pub feed: &'a FeedId,
    pub progress: &'a dyn FetchProgress,
    pub counters: &'a Counters,
}

/// Why one attempt failed, and whether another may succeed.
struct Failure {
    error: FetchError,
    retry: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: FetchError) -> Failure {
        Failure {
            error,
            retry: false,
            retry_after: None,
        }
    }

    fn transient(error: FetchError) -> Failure {
        Failure {
            error,
            retry: true,
            retry_after: None,
        }
    }
}

/// Statuses worth another attempt: rate limiting and server-side trouble.
/// 501 and 505 say the server will never do it.
fn is_retryable_status(status: u16) -> bool {
    status == 429
        || status == 408
        || ((500..600).contains(&status) && status != 501 && status != 505)
}

impl Fetcher<'_> {
    pub async fn get(
        &self,
        request: Request<'_>,
        mut sink: Sink<'_>,
    ) -> Result<Outcome, FetchError> {
        let policy = &self.http.retry;
        let attempts = policy.max_attempts.max(1);
        let url_text = shown(&request.url);
        let mut attempt = 1;
        loop {
            match self.attempt(&request, &url_text, &mut sink, attempt).await {
                Ok(outcome) => return Ok(outcome),
                Err(failure) if failure.retry && attempt < attempts => {
                    let wait = failure
                        .retry_after
                        .unwrap_or_else(|| policy.backoff(attempt));
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    self.progress.retry(
                        self.feed,
                        &url_text,
                        attempt,
                        wait,
                        &failure.error.to_string(),
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    async fn attempt(
        &self,
        request: &Request<'_>,
        url_text: &str,
        sink: &mut Sink<'_>,
        attempt: u32,
    ) -> Result<Outcome, Failure> {
        let timeout = self.http.request_timeout;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.progress.request(self.feed, url_text);
        let send = self
            .client
            .get(request.url.clone())
            .headers(request.headers.clone())
            .send();
        let response = match tokio::time::timeout(timeout, send).await {
            Err(_) => {
                return Err(Failure::transient(FetchError::Timeout {
                    url: url_text.to_owned(),
                    after: timeout,
                    attempts: attempt,
                }));
            }
            Ok(Err(error)) => {
                let retry = !error.is_builder() && !error.is_redirect();
                let failure = FetchError::Transport {
                    url: url_text.to_owned(),
                    message: error_chain(&error.without_url()),
                    attempts: attempt,
                };
                return Err(Failure {
                    retry,
                    error: failure,
                    retry_after: None,
                });
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Outcome::NotModified);
        }
        if !status.is_success() {
            let code = status.as_u16();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| self.http.retry.retry_after(value, SystemTime::now()));
            return Err(Failure {
                error: FetchError::Status {
                    url: url_text.to_owned(),
                    status: code,
                    attempts: attempt,
                },
                retry: is_retryable_status(code) || request.extra_retry_statuses.contains(&code),
                retry_after,
            });
        }
        self.read_body(response, request.limit, url_text, sink, attempt)
            .await
    }

    async fn read_body(
        &self,
        mut response: reqwest::Response,
        limit: u64,
        url_text: &str,
        sink: &mut Sink<'_>,
        attempt: u32,
    ) -> Result<Outcome, Failure> {
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let mut body = Body {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
            ..Body::default()
        };
        let expected = response.content_length();
        let too_large = || {
            Failure::fatal(FetchError::TooLarge {
                url: url_text.to_owned(),
                limit,
            })
        };
        if expected.is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        self.progress.response(self.feed, url_text, expected);

        let mut writer = match sink {
            Sink::File(path) => Some(PartFile::create(path).await.map_err(Failure::fatal)?),
            Sink::Lines(consumer) => {
                consumer.reset();
                None
            }
            Sink::Memory => None,
        };
        let mut pending_line: Vec<u8> = Vec::new();
        let deadline = Instant::now() + self.http.download_timeout;
        let mut stopped_early = false;
        let result: Result<(), Failure> = async {
            loop {
                let now = Instant::now();
                let wait = self
                    .http
                    .request_timeout
                    .min(deadline.saturating_duration_since(now));
                let chunk = match tokio::time::timeout(wait, response.chunk()).await {
                    Err(_) => {
                        return Err(Failure::transient(FetchError::Timeout {
                            url: url_text.to_owned(),
                            after: if Instant::now() >= deadline {
                                self.http.download_timeout
                            } else {
                                self.http.request_timeout
                            },
                            attempts: attempt,
                        }));
                    }
                    Ok(Err(error)) => {
                        let error = match expected {
                            Some(expected) if body.bytes < expected => FetchError::Truncated {
                                url: url_text.to_owned(),
                                expected,
                                received: body.bytes,
                                attempts: attempt,
                            },
                            _ => FetchError::Transport {
                                url: url_text.to_owned(),
                                message: error_chain(&error.without_url()),
                                attempts: attempt,
                            },
                        };
                        return Err(Failure::transient(error));
                    }
                    Ok(Ok(None)) => return Ok(()),
                    Ok(Ok(Some(chunk))) => chunk,
                };
                body.bytes += chunk.len() as u64;
                if body.bytes > limit {
                    return Err(too_large());
                }
                self.counters
                    .bytes
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                self.progress.bytes(self.feed, chunk.len() as u64);
                match sink {
                    Sink::File(_) => {
                        if let Some(file) = writer.as_mut() {
                            file.write(&chunk).await.map_err(Failure::fatal)?;
                        }
                    }
                    Sink::Memory => body.data.extend_from_slice(&chunk),
                    Sink::Lines(consumer) => {
                        if split_lines(&mut pending_line, &chunk, &mut **consumer).is_break() {
                            stopped_early = true;
                            return Ok(());
                        }
                    }
                }
            }
        }
        .await;
        if let Err(failure) = result {
            if let Some(file) = writer {
                file.discard().await;
            }
            return Err(failure);
        }
        if !stopped_early
            && let Some(expected) = expected
            && body.bytes < expected
        {
            if let Some(file) = writer {
                file.discard().await;
            }
            return Err(Failure::transient(FetchError::Truncated {
                url: url_text.to_owned(),
                expected,
                received: body.bytes,
                attempts: attempt,
            }));
        }
        if let Sink::Lines(consumer) = sink
            && !stopped_early
            && !pending_line.is_empty()
        {
            let _ = consumer.line(&pending_line);
        }
        if let Some(file) = writer {
            let path = file.finish().await.map_err(Failure::fatal)?;
            self.progress.file_done(self.feed, &path, body.bytes);
        }
        Ok(Outcome::Complete(body))
    }
}

/// Feeds the complete lines of `chunk` (after what `pending` holds from the
/// previous chunk) to `consumer`; keeps the unfinished rest in `pending`.
fn split_lines(
    pending: &mut Vec<u8>,
    mut chunk: &[u8],
    consumer: &mut dyn LineConsumer,
) -> ControlFlow<()> {
    while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
        let (head, rest) = chunk.split_at(end);
        chunk = &rest[1..];
        let room = MAX_LINE.saturating_sub(pending.len());
        pending.extend_from_slice(&head[..head.len().min(room)]);
        let line = pending.strip_suffix(b"\r").unwrap_or(pending);
        let flow = consumer.line(line);
        pending.clear();
        flow?;
    }
    let room = MAX_LINE.saturating_sub(pending.len());
    pending.extend_from_slice(&chunk[..chunk.len().min(room)]);
    ControlFlow::Continue(())
}

/// A download in progress: `<name>.part` next to the target, renamed into
/// place only when complete, so a half-written file never looks finished.
struct PartFile {
    file: tokio::fs::File,
    part: PathBuf,
    target: PathBuf,
}

impl PartFile {
    async fn create(target: &Path) -> Result<PartFile, FetchError> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".part");
        let part = target.with_file_name(name);
        let file = tokio::fs::File::create(&part)
            .await
            .map_err(|error| FetchError::io(&part, error))?;
        Ok(PartFile {
            file,
            part,
            target: target.to_owned(),
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|error| FetchError::io(&self.part, error))
    }

    async fn finish(mut self) -> Result<PathBuf, FetchError> {
        self.file
            .flush()
            .await
            .map_err(|error| FetchError::io(&self.part, error))?;
        drop(self.file);
        tokio::fs::rename(&self.part, &self.target)
            .await
            .map_err(|error| FetchError::io(&self.target, error))?;
        Ok(self.target)
    }

    async fn discard(self) {
        drop(self.file);
        // Best effort: a leftover .part file is never mistaken for a result.
        let _ = tokio::fs::remove_file(&self.part).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<String>, usize);

    impl LineConsumer for Collect {
        fn reset(&mut self) {
            self.0.clear();
        }
        fn line(&mut self, line: &[u8]) -> ControlFlow<()> {
            self.0.push(String::from_utf8_lossy(line).into_owned());
            if self.0.len() >= self.1 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }

    #[test]
    fn lines_across_chunks() {
        // (chunks, stop after, lines seen, rest pending)
        let long = "x".repeat(MAX_LINE + 10);
        let long_chunks = [long.as_str(), "\nz"];
        let cases: [(&[&str], usize, Vec<String>, &str); 4] = [
            (
                &["a,1\nb,", "2\r\nc"],
                9,
                vec!["a,1".into(), "b,2".into()],
                "c",
            ),
            (&["a\nb\nc\n"], 2, vec!["a".into(), "b".into()], ""),
            (&["\n\n"], 9, vec!["".into(), "".into()], ""),
            (&long_chunks, 9, vec!["x".repeat(MAX_LINE)], "z"),
        ];
        for (chunks, stop, expected, rest) in cases {
            let mut consumer = Collect(Vec::new(), stop);
            let mut pending = Vec::new();
            for chunk in chunks {
                if split_lines(&mut pending, chunk.as_bytes(), &mut consumer).is_break() {
                    break;
                }
            }
            assert_eq!(consumer.0, expected, "{chunks:?}");
            if stop > expected.len() {
                assert_eq!(pending, rest.as_bytes(), "{chunks:?}");
            }
        }
    }

    #[test]
    fn shown_urls_hide_credentials() {
        let url = Url::parse("https://user:pw@mirror.example/osv/").unwrap();
        assert_eq!(shown(&url), "https://mirror.example/osv/");
        let url = Url::parse("https://mirror.example/osv/").unwrap();
        assert_eq!(shown(&url), "https://mirror.example/osv/");
    }
}
