//! The agent (`shipshape agent`): watches one cluster and sends its inventory
//! to the server's ingest endpoint, protocol v1 (`docs/agent-protocol.md`).
//!
//! - [`Outbox`] is the pure part: sequence numbers, the bounded queue of
//!   unacknowledged messages, what an answer does to it. Overflow drops the
//!   queued deltas and makes the next message a snapshot, so memory stays
//!   bounded and nothing is lost (the snapshot carries the current state).
//! - [`IngestClient`] POSTs one message and classifies the outcome.
//! - [`run`] drives both from a [`ClusterHandle`]: a snapshot once the
//!   watchers have settled, then a delta on each change (debounced) and every
//!   interval, retries with exponential backoff and jitter, and a graceful stop.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use tokio::time::Instant;
use url::Url;

use crate::collector::ClusterHandle;
use crate::health::Health;
use crate::types::{ClusterInventory, ClusterStatus};
use crate::wire::{AgentMessage, Delta, IngestResponse, MessageBody, PROTOCOL_VERSION, Snapshot};
use crate::{InventoryState, state::Change};

/// The ingest endpoint, relative to the server URL (which may carry a base path).
pub const INGEST_PATH: &str = "api/v1/agents/ingest";

/// The longest `Retry-After` the agent honours; a bigger one is a misconfigured
/// proxy, and waiting longer would only let the queue overflow anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// An answer body larger than this is not an `IngestResponse`.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How much of a rejecting server's answer goes into the error message.
const REJECTION_EXCERPT: usize = 300;

/// Where the bearer token comes from. The file is read before every request,
/// so a rotated Secret (kubelet updates the mounted file) takes effect
/// without a restart.
#[derive(Clone)]
pub enum TokenSource {
    File(PathBuf),
    Value(String),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::File(path) => f.debug_tuple("File").field(path).finish(),
            TokenSource::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

impl TokenSource {
    /// The token, trimmed (files written by `kubectl create secret` end with a newline).
    pub fn read(&self) -> Result<String, AgentError> {
        let token = match self {
            TokenSource::Value(token) => token.trim().to_owned(),
            TokenSource::File(path) => std::fs::read_to_string(path)
                .map_err(|source| AgentError::TokenFile {
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_owned(),
        };
        if token.is_empty() {
            return Err(AgentError::EmptyToken);
        }
        // A header cannot carry control characters; saying so beats a
        // confusing transport error (and the value is never echoed).
        if token.bytes().any(|b| b.is_ascii_control() || b >= 0x80) {
            return Err(AgentError::TokenNotPrintable);
        }
        Ok(token)
    }
}

/// Exponential backoff with jitter, and how many 401/403 answers in a row
/// end the agent.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// 401/403 answers in a row before giving up: more than one, because a
    /// token rotated on both sides reaches the agent's mounted file a little
    /// after the server; few, because a wrong token never heals.
    pub auth_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            auth_attempts: 3,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based): `initial · 2^attempt`
    /// capped at `max`, then a random point in its upper half, so that many
    /// agents restarted together do not retry in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Shipshape server (`https://shipshape.example.com`, a base path is kept).
    pub server: Url,
    pub token: TokenSource,
    /// The cluster's stable name in the messages (`--cluster-name`).
    pub cluster: String,
    /// How often to diff the inventory and send what changed.
    pub interval: Duration,
    /// After a watch event, wait this long for the events that usually follow
    /// (a rollout touches many pods) so they go in one delta.
    pub debounce: Duration,
    /// Unacknowledged messages kept while the server does not answer.
    pub buffer: usize,
    /// Extra trusted CA certificates (PEM) for the server.
    pub ca_pem: Option<Vec<u8>>,
    pub retry: RetryPolicy,
    pub request_timeout: Duration,
    /// How long to wait for the initial lists before the first snapshot.
    pub settle_timeout: Duration,
    /// Marked ready once the server accepts the first snapshot (`/readyz`).
    pub health: Health,
}

impl AgentConfig {
    pub fn new(server: Url, token: TokenSource, cluster: String) -> AgentConfig {
        AgentConfig {
            server,
            token,
            cluster,
            interval: Duration::from_secs(10),
            debounce: Duration::from_secs(1),
            buffer: 64,
            ca_pem: None,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            settle_timeout: Duration::from_secs(120),
            health: Health::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("server URL {url}: {problem}")]
    ServerUrl { url: String, problem: &'static str },
    #[error("reading the agent token from {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the agent token is empty")]
    EmptyToken,
    #[error("the agent token contains characters an HTTP header cannot carry")]
    TokenNotPrintable,
    #[error("CA file: {0}")]
    CaFile(String),
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("encoding message {sequence}: {source}")]
    Encode {
        sequence: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the server at {url} refused the agent's token ({status}, {attempts} times in a row): check the token file and that the server knows this token for cluster {cluster}"
    )]
    Unauthorized {
        url: String,
        status: u16,
        attempts: u32,
        cluster: String,
    },
    #[error("the server at {url} rejected message {sequence} with {status}: {message}")]
    Rejected {
        url: String,
        sequence: u64,
        status: u16,
        message: String,
    },
}

/// The ingest URL for a server URL. Only http(s); user info is refused so
/// that no credential ever sits in a URL (URLs appear in errors and logs).
pub fn ingest_url(server: &Url) -> Result<Url, AgentError> {
    // The URL goes into the error; a password in it must not.
    let mut shown = server.clone();
    let _ = shown.set_password(None);
    let problem = |problem| AgentError::ServerUrl {
        url: shown.as_str().to_owned(),
        problem,
    };
    if !matches!(server.scheme(), "http" | "https") {
        return Err(problem("only http:// and https:// are supported"));
    }
    if !server.username().is_empty() || server.password().is_some() {
        return Err(problem(
            "credentials in the URL are not accepted; use --token-file",
        ));
    }
    if server.host_str().is_none_or(str::is_empty) {
        return Err(problem("no host"));
    }
    if server.query().is_some() || server.fragment().is_some() {
        return Err(problem("no query or fragment expected"));
    }
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(INGEST_PATH)
        .map_err(|_| problem("cannot append the ingest path"))
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Answered(IngestResponse),
    /// Worth retrying: no answer, 408, 429, 5xx, an unreadable answer. The
    /// server's `Retry-After`, when it sent one.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// 401 or 403.
    Unauthorized(u16),
    /// Any other 4xx: the same bytes will never be accepted.
    Rejected {
        status: u16,
        message: String,
    },
}

/// POSTs agent messages to the ingest endpoint.
#[derive(Debug, Clone)]
pub struct IngestClient {
    http: reqwest::Client,
    url: Url,
    token: TokenSource,
}

impl IngestClient {
    /// A rustls crypto provider must be installed as the process default (the
    /// binary installs `ring` at start-up; reqwest panics without one).
    pub fn new(
        server: &Url,
        token: TokenSource,
        ca_pem: Option<&[u8]>,
        request_timeout: Duration,
    ) -> Result<IngestClient, AgentError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(AgentError::Client(
                "no rustls crypto provider installed".to_owned(),
            ));
        }
        let url = ingest_url(server)?;
        // Fail at start-up, not at the first send, when the token is unusable.
        token.read()?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("shipshape-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .timeout(request_timeout)
            // A redirect would resend the bearer token somewhere else.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| AgentError::CaFile(error_chain(&e)))?;
            if certs.is_empty() {
                return Err(AgentError::CaFile("no PEM certificate found".to_owned()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| AgentError::Client(error_chain(&e)))?;
        Ok(IngestClient { http, url, token })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Sends one encoded message.
    pub async fn send(&self, body: Vec<u8>) -> Attempt {
        let token = match self.token.read() {
            Ok(token) => token,
            Err(e) => {
                return Attempt::Retry {
                    reason: e.to_string(),
                    retry_after: None,
                };
            }
        };
        let Ok(mut auth) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return Attempt::Retry {
                reason: AgentError::TokenNotPrintable.to_string(),
                retry_after: None,
            };
        };
        // Sensitive values are left out of hyper's and reqwest's Debug output.
        auth.set_sensitive(true);
        let sent = self
            .http
            .post(self.url.clone())
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("no answer: {}", error_chain(&e)),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let body = match read_capped(&mut response, MAX_ANSWER_BYTES).await {
            Ok(body) => body,
            Err(reason) => {
                return Attempt::Retry {
                    reason: format!("{status}: {reason}"),
                    retry_after,
                };
            }
        };
        classify(status, &body, retry_after)
    }
}

/// Maps a status and answer body to an [`Attempt`].
pub fn classify(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Attempt {
    match status.as_u16() {
        200..=299 => match serde_json::from_slice::<IngestResponse>(body) {
            Ok(answer) => Attempt::Answered(answer),
            Err(e) => Attempt::Retry {
                reason: format!("{status} with an answer that is not an ingest response: {e}"),
                retry_after,
            },
        },
        401 | 403 => Attempt::Unauthorized(status.as_u16()),
        408 | 429 | 500..=599 => Attempt::Retry {
            reason: status.to_string(),
            retry_after,
        },
        code => Attempt::Rejected {
            status: code,
            message: excerpt(body),
        },
    }
}

/// The start of an answer body as printable text, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(REJECTION_EXCERPT)
        .collect();
    if text.chars().count() > REJECTION_EXCERPT {
        out.push('…');
    }
    if out.trim().is_empty() {
        "(no message)".to_owned()
    } else {
        out.trim().to_owned()
    }
}

/// `Retry-After` as delay-seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`]
/// (the registry client's parser, with the agent's cap).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    oci::RetryPolicy {
        max_retry_after: MAX_RETRY_AFTER,
        ..oci::RetryPolicy::default()
    }
    .retry_after(value, now)
}

async fn read_capped(response: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(format!("answer larger than {limit} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("reading the answer: {}", error_chain(&e))),
        }
    }
}

/// An error and its causes on one line (reqwest's own message alone is "error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The agent's messages not yet acknowledged, in sequence order.
#[derive(Debug)]
pub struct Outbox {
    cluster: String,
    capacity: usize,
    queue: VecDeque<AgentMessage>,
    /// The sequence of the next message built.
    next_sequence: u64,
    /// This process's run id (sequences count within it).
    run: String,
    /// The next message must be a snapshot (start, overflow, the server asked).
    snapshot_due: bool,
    state: InventoryState,
    overflows: u64,
}

impl Outbox {
    /// `capacity` is at least 1: the message being sent must be kept until it is acknowledged.
    pub fn new(cluster: &str, capacity: usize) -> Outbox {
        Outbox {
            cluster: cluster.to_owned(),
            capacity: capacity.max(1),
            queue: VecDeque::new(),
            next_sequence: 1,
            run: crate::wire::new_run_id(),
            snapshot_due: true,
            state: InventoryState::new(),
            overflows: 0,
        }
    }

    /// Folds the current inventory in and queues a delta when something
    /// changed; returns the changes queued. While a snapshot is due nothing
    /// is queued: the snapshot, built when it is sent, carries every change.
    pub fn observe(&mut self, inventory: &ClusterInventory) -> usize {
        if self.snapshot_due {
            return 0;
        }
        let changes: Vec<Change> = self.state.apply(inventory);
        if changes.is_empty() {
            return 0;
        }
        if self.queue.len() >= self.capacity {
            // The state already holds these changes, and the snapshot will be
            // built from a newer inventory: dropping the deltas loses nothing.
            self.queue.clear();
            self.snapshot_due = true;
            self.overflows += 1;
            return 0;
        }
        let count = changes.len();
        let sequence = self.take_sequence();
        self.queue.push_back(AgentMessage {
            run: self.run.clone(),
            version: PROTOCOL_VERSION,
            cluster: self.cluster.clone(),
            sequence,
            body: MessageBody::Delta(Delta {
                follows: sequence - 1,
                changes,
            }),
        });
        count
    }

    fn take_sequence(&mut self) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        sequence
    }

    /// The message to send now, if any: the oldest unacknowledged one, or a
    /// snapshot of `current()` when one is due.
    pub fn next(&mut self, current: impl FnOnce() -> ClusterInventory) -> Option<&AgentMessage> {
        if self.snapshot_due && self.queue.is_empty() {
            let inventory = current();
            // The snapshot is the new baseline: its differences from the
            // state are in the snapshot itself, not in a delta.
            self.state.apply(&inventory);
            let sequence = self.take_sequence();
            self.queue.push_back(AgentMessage {
                run: self.run.clone(),
                version: PROTOCOL_VERSION,
                cluster: self.cluster.clone(),
                sequence,
                body: MessageBody::Snapshot(Snapshot { inventory }),
            });
            self.snapshot_due = false;
        }
        self.queue.front()
    }

    /// Applies the server's answer to message `sent`. Returns false when the
    /// answer makes no sense for it (then a snapshot is due).
    pub fn answer(&mut self, sent: u64, answer: &IngestResponse) -> bool {
        match answer {
            IngestResponse::Accepted { sequence } if *sequence >= sent => {
                while self.queue.front().is_some_and(|m| m.sequence <= *sequence) {
                    self.queue.pop_front();
                }
                true
            }
            IngestResponse::Accepted { .. } => {
                self.resnapshot();
                false
            }
            IngestResponse::Resnapshot { .. } => {
                self.resnapshot();
                true
            }
        }
    }

    fn resnapshot(&mut self) {
        self.queue.clear();
        self.snapshot_due = true;
    }

    /// The inventory is known to equal the last one observed, at `at`:
    /// advance the images' `last_seen` without assembling a snapshot (see
    /// [`InventoryState::touch`]).
    pub fn touch(&mut self, at: time::OffsetDateTime) {
        if !self.snapshot_due {
            self.state.touch(&self.cluster, at);
        }
    }

    /// Whether there is something to send.
    pub fn has_work(&self) -> bool {
        self.snapshot_due || !self.queue.is_empty()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn snapshot_due(&self) -> bool {
        self.snapshot_due
    }

    /// How many times the queue overflowed.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }
}

/// What an agent run did, for the final log line and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub acknowledged: u64,
    pub snapshots: u64,
    pub retries: u64,
    pub overflows: u64,
}

type InFlight<'a> = Pin<Box<dyn Future<Output = Attempt> + Send + 'a>>;

async fn in_flight(slot: &mut Option<(u64, InFlight<'_>)>) -> Attempt {
    match slot {
        Some((_, future)) => future.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs the agent until `shutdown` completes (then it finishes the request in
/// flight and returns `Ok`) or a fatal answer (401/403 repeatedly, another 4xx).
pub async fn run(
    handle: &mut ClusterHandle,
    client: &IngestClient,
    config: &AgentConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, AgentError> {
    tokio::pin!(shutdown);
    let url = client.url().to_string();
    let listing = Instant::now();
    tokio::select! {
        () = &mut shutdown => return Ok(RunSummary::default()),
        settled = handle.wait_settled(config.settle_timeout) => if settled {
            tracing::info!(cluster = %config.cluster, pods = handle.progress().pods, elapsed = ?listing.elapsed(), "initial lists done");
        } else {
            tracing::warn!(cluster = %config.cluster, status = ?handle.status(), "the initial lists did not finish in time; sending what is known");
        }
    }

    // A watch channel that closed would make `changed` return at once, forever.
    const WATCH_WAIT: Duration = Duration::from_secs(3600);
    let mut outbox = Outbox::new(&config.cluster, config.buffer);
    let mut summary = RunSummary::default();
    let mut ticker = tokio::time::interval_at(Instant::now() + config.interval, config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut debounce: Option<Instant> = None;
    let mut send_after = Instant::now();
    let mut failures: u32 = 0;
    let mut auth_failures: u32 = 0;
    let mut watch_open = true;
    let mut sent_snapshot_sequence: Option<u64> = None;
    let mut sending: Option<(u64, InFlight<'_>)> = None;
    let mut observed = Observed::default();

    loop {
        let building = Instant::now();
        if sending.is_none()
            && Instant::now() >= send_after
            && let Some(message) = outbox.next(|| handle.snapshot())
        {
            let (kind, changes) = match &message.body {
                MessageBody::Snapshot(s) => ("snapshot", s.inventory.workloads.len()),
                MessageBody::Delta(d) => ("delta", d.changes.len()),
            };
            let sequence = message.sequence;
            let body = serde_json::to_vec(message)
                .map_err(|source| AgentError::Encode { sequence, source })?;
            tracing::debug!(sequence, kind, items = changes, bytes = body.len(), built = ?building.elapsed(), url = %url, "sending");
            if kind == "snapshot" {
                summary.snapshots += 1;
                sent_snapshot_sequence = Some(sequence);
            }
            sending = Some((sequence, Box::pin(client.send(body))));
        }
        let retry_wait = (sending.is_none() && outbox.has_work() && send_after > Instant::now())
            .then_some(send_after);
        let waiting_since = Instant::now();

        tokio::select! {
            biased;
            () = &mut shutdown => {
                if let Some((sequence, future)) = sending.take() {
                    tracing::debug!(sequence, "shutting down: finishing the request in flight");
                    let _ = tokio::time::timeout(config.request_timeout, future).await;
                }
                summary.overflows = outbox.overflows();
                return Ok(summary);
            }
            attempt = in_flight(&mut sending) => {
                let sequence = sending.take().map_or(0, |(s, _)| s);
                match attempt {
                    Attempt::Answered(answer) => {
                        auth_failures = 0;
                        let sent_snapshot = sent_snapshot_sequence == Some(sequence);
                        if let IngestResponse::Resnapshot { reason } = &answer {
                            tracing::info!(sequence, reason = %reason, "the server asked for a snapshot");
                        } else {
                            summary.acknowledged += 1;
                            tracing::debug!(sequence, queued = outbox.queued().saturating_sub(1), "acknowledged");
                        }
                        let sensible = outbox.answer(sequence, &answer);
                        // The first message is always a snapshot, so any
                        // accepted message means one was accepted.
                        if sensible && matches!(answer, IngestResponse::Accepted { .. }) {
                            config.health.mark_ready();
                        }
                        if !sensible {
                            tracing::warn!(sequence, answer = ?answer, "the server acknowledged another message than the one sent; sending a snapshot");
                        }
                        // A server that refuses even a snapshot (or answers
                        // nonsense) is not helped by a tight loop of snapshots.
                        let stuck = !sensible
                            || (sent_snapshot && matches!(answer, IngestResponse::Resnapshot { .. }));
                        if stuck {
                            let delay = config.retry.delay(failures);
                            failures = failures.saturating_add(1);
                            send_after = Instant::now() + delay;
                        } else {
                            failures = 0;
                            send_after = Instant::now();
                        }
                    }
                    Attempt::Retry { reason, retry_after } => {
                        let delay = retry_after.unwrap_or_else(|| config.retry.delay(failures));
                        failures = failures.saturating_add(1);
                        summary.retries += 1;
                        send_after = Instant::now() + delay;
                        tracing::warn!(sequence, url = %url, retry_in = ?delay, queued = outbox.queued(), "sending failed: {reason}");
                    }
                    Attempt::Unauthorized(status) => {
                        auth_failures += 1;
                        if auth_failures >= config.retry.auth_attempts.max(1) {
                            return Err(AgentError::Unauthorized {
                                url,
                                status,
                                attempts: auth_failures,
                                cluster: config.cluster.clone(),
                            });
                        }
                        let delay = config.retry.delay(failures);
                        failures = failures.saturating_add(1);
                        summary.retries += 1;
                        send_after = Instant::now() + delay;
                        tracing::warn!(sequence, url = %url, status, retry_in = ?delay, "the server refused the agent's token");
                    }
                    Attempt::Rejected { status, message } => {
                        return Err(AgentError::Rejected { url, sequence, status, message });
                    }
                }
            }
            () = sleep_until_opt(retry_wait) => {}
            changed = handle.changed(WATCH_WAIT), if watch_open => {
                if changed {
                    debounce.get_or_insert_with(|| Instant::now() + config.debounce);
                } else if waiting_since.elapsed() < WATCH_WAIT {
                    tracing::warn!("the collector stopped reporting changes; sending every interval only");
                    watch_open = false;
                }
            }
            () = sleep_until_opt(debounce) => {
                debounce = None;
                observe(&mut outbox, handle, &mut observed);
            }
            _ = ticker.tick() => observe(&mut outbox, handle, &mut observed),
        }
    }
}

/// What the last observed inventory was made of.
#[derive(Default)]
struct Observed {
    generation: Option<u64>,
    status: Option<ClusterStatus>,
}

/// Diffs the inventory into the outbox — unless neither the collector's
/// store nor the cluster status moved since the last time: assembling and
/// diffing 10,000 pods costs about 0.2 s of CPU (debug build) and a few
/// dozen MiB of allocations every interval, for nothing (bench/kube/README.md);
/// then the images are only touched.
fn observe(outbox: &mut Outbox, handle: &ClusterHandle, observed: &mut Observed) {
    // Read before the snapshot: a change racing with it moves the
    // generation again, so the next tick looks again.
    let generation = handle.generation();
    let status = handle.status();
    if observed.generation == Some(generation) && observed.status.as_ref() == Some(&status) {
        if status.pods_complete() {
            outbox.touch(time::OffsetDateTime::now_utc());
        }
        return;
    }
    observed.generation = Some(generation);
    observed.status = Some(status);
    let overflows = outbox.overflows();
    let queued = outbox.observe(&handle.snapshot());
    if outbox.overflows() > overflows {
        tracing::warn!(
            "the server has not acknowledged {} messages; dropping the queued deltas, a snapshot follows",
            outbox.queued().max(1)
        );
    } else if queued > 0 {
        tracing::debug!(changes = queued, queued = outbox.queued(), "queued a delta");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ContainerImage, Workload};
    use model::Digest;
    use time::OffsetDateTime;

    fn inventory(running: &[(&str, char)], at: i64) -> ClusterInventory {
        let mut inventory: ClusterInventory = serde_json::from_value(serde_json::json!({
            "cluster": "c", "collected_at": "2026-01-01T00:00:00Z", "status": {"state": "ok"},
            "namespaces": [], "workloads": [], "diagnostics": []
        }))
        .expect("inventory");
        inventory.collected_at = OffsetDateTime::from_unix_timestamp(at).expect("time");
        for (name, hex) in running {
            let container: ContainerImage = serde_json::from_value(serde_json::json!({
                "pod": name, "container": "app", "container_type": "regular",
                "image_ref": "nginx:1", "normalized_ref": "docker.io/library/nginx:1",
                "image_id": "", "digest": format!("sha256:{}", hex.to_string().repeat(64)),
                "digest_kind": "manifest", "digest_is_index": null, "node": null, "platform": null,
                "running": true, "state": "running", "pods": 1, "running_pods": 1,
                "pod_labels": {}, "pull_secrets": []
            }))
            .expect("container");
            let workload: Workload = serde_json::from_value(serde_json::json!({
                "namespace": "ns", "kind": "Pod", "name": name, "uid": name, "labels": {},
                "created": null, "containers": [container]
            }))
            .expect("workload");
            inventory.workloads.push(workload);
        }
        inventory
    }

    fn kinds(outbox: &Outbox) -> Vec<String> {
        outbox
            .queue
            .iter()
            .map(|m| match &m.body {
                MessageBody::Snapshot(_) => format!("s{}", m.sequence),
                MessageBody::Delta(d) => format!("d{}/{}", m.sequence, d.follows),
            })
            .collect()
    }

    /// Steps: `o:<pods>` observe an inventory with these pods (name = digest
    /// char), `n` take the next message, `a<seq>` accepted, `r` resnapshot
    /// answer to the head.
    #[test]
    fn outbox_sequences_overflow_and_answers() {
        // name, capacity, steps, queue after, snapshot due after
        type Case<'a> = (&'a str, usize, &'a [&'a str], &'a [&'a str], bool);
        let cases: &[Case<'_>] = &[
            // name, capacity, steps, queue after, snapshot due after
            ("fresh outbox owes a snapshot", 4, &[], &[], true),
            ("no delta before the snapshot", 4, &["o:a"], &[], true),
            ("snapshot first", 4, &["n"], &["s1"], false),
            ("acknowledged snapshot", 4, &["n", "a1"], &[], false),
            (
                "deltas follow",
                4,
                &["n", "a1", "o:a", "o:ab", "o:b"],
                &["d2/1", "d3/2", "d4/3"],
                false,
            ),
            (
                "no change, no delta",
                4,
                &["n", "a1", "o:", "o:"],
                &[],
                false,
            ),
            (
                "queued behind the snapshot",
                4,
                &["n", "o:a", "o:ab"],
                &["s1", "d2/1", "d3/2"],
                false,
            ),
            (
                "ack covers several",
                4,
                &["n", "o:a", "o:ab", "a2"],
                &["d3/2"],
                false,
            ),
            (
                "ack beyond the head",
                4,
                &["n", "o:a", "o:ab", "a3"],
                &[],
                false,
            ),
            (
                "overflow drops deltas",
                2,
                &["n", "o:a", "o:ab", "o:b"],
                &[],
                true,
            ),
            (
                "after overflow a snapshot with the next sequence",
                2,
                &["n", "o:a", "o:ab", "o:b", "n"],
                &["s3"],
                false,
            ),
            ("resnapshot answer", 4, &["n", "a1", "o:a", "r"], &[], true),
            (
                "resnapshot then snapshot",
                4,
                &["n", "a1", "o:a", "r", "n", "o:a"],
                &["s3"],
                false,
            ),
            (
                "ack of an older message forces a snapshot",
                4,
                &["n", "a1", "o:a", "a1"],
                &[],
                true,
            ),
        ];
        for (name, capacity, steps, queue, due) in cases {
            let mut outbox = Outbox::new("c", *capacity);
            let mut now = 0;
            let mut current = inventory(&[], now);
            let mut head = 0;
            for step in *steps {
                now += 10;
                if let Some(pods) = step.strip_prefix("o:") {
                    let pods: Vec<(String, char)> =
                        pods.chars().map(|c| (c.to_string(), c)).collect();
                    let refs: Vec<(&str, char)> =
                        pods.iter().map(|(n, c)| (n.as_str(), *c)).collect();
                    current = inventory(&refs, now);
                    outbox.observe(&current);
                } else if *step == "n" {
                    head = outbox.next(|| current.clone()).map_or(0, |m| m.sequence);
                } else if *step == "r" {
                    outbox.answer(
                        head,
                        &IngestResponse::Resnapshot {
                            reason: "gap".into(),
                        },
                    );
                } else if let Some(seq) = step.strip_prefix('a') {
                    let sequence = seq.parse().expect("sequence");
                    let sent = outbox.queue.front().map_or(sequence, |m| m.sequence);
                    outbox.answer(sent, &IngestResponse::Accepted { sequence });
                }
            }
            assert_eq!(kinds(&outbox), *queue, "{name}");
            assert_eq!(outbox.snapshot_due(), *due, "{name}");
        }
    }

    #[test]
    fn overflowed_snapshot_carries_the_current_state() {
        let mut outbox = Outbox::new("c", 1);
        outbox.next(|| inventory(&[], 0));
        outbox.observe(&inventory(&[("a", 'a')], 10));
        assert_eq!(outbox.overflows(), 1);
        outbox.observe(&inventory(&[("a", 'a'), ("b", 'b')], 20));
        let message = outbox
            .next(|| inventory(&[("b", 'b')], 30))
            .expect("a snapshot")
            .clone();
        let MessageBody::Snapshot(snapshot) = message.body else {
            panic!("expected a snapshot, got {message:?}");
        };
        let names: Vec<&str> = snapshot
            .inventory
            .workloads
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        assert_eq!(names, ["b"]);
        assert_eq!(message.sequence, 2);
        // The state continues from the snapshot: `a` stopped, a delta says so.
        outbox.answer(2, &IngestResponse::Accepted { sequence: 2 });
        assert_eq!(outbox.observe(&inventory(&[], 40)), 1);
        let digest: Digest = format!("sha256:{}", "b".repeat(64))
            .parse()
            .expect("digest");
        let Some(MessageBody::Delta(delta)) =
            outbox.next(|| inventory(&[], 50)).map(|m| m.body.clone())
        else {
            panic!("expected a delta");
        };
        assert!(
            matches!(&delta.changes[..], [Change::NoLongerRunning { key, .. }] if key.digest == digest),
            "{delta:?}"
        );
    }

    #[test]
    fn classify_answers() {
        let accepted = br#"{"result":"accepted","sequence":3}"#;
        let cases: &[(u16, &[u8], Attempt)] = &[
            (
                200,
                accepted,
                Attempt::Answered(IngestResponse::Accepted { sequence: 3 }),
            ),
            (
                200,
                br#"{"result":"resnapshot","reason":"gap"}"#,
                Attempt::Answered(IngestResponse::Resnapshot {
                    reason: "gap".into(),
                }),
            ),
            (401, b"", Attempt::Unauthorized(401)),
            (403, b"no", Attempt::Unauthorized(403)),
            (
                400,
                b"unsupported\nversion",
                Attempt::Rejected {
                    status: 400,
                    message: "unsupported version".into(),
                },
            ),
            (
                404,
                b"",
                Attempt::Rejected {
                    status: 404,
                    message: "(no message)".into(),
                },
            ),
        ];
        for (status, body, expected) in cases {
            let status = StatusCode::from_u16(*status).expect("status");
            assert_eq!(&classify(status, body, None), expected, "{status}");
        }
        for status in [408, 429, 500, 502, 503] {
            let got = classify(
                StatusCode::from_u16(status).expect("status"),
                b"",
                Some(Duration::from_secs(2)),
            );
            assert!(
                matches!(got, Attempt::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(2)),
                "{status}: {got:?}"
            );
        }
        assert!(matches!(
            classify(StatusCode::OK, b"<html>", None),
            Attempt::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_values() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").expect("date");
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("7", Some(7)),
            (" 12 ", Some(12)),
            ("99999999", Some(600)),
            ("Wed, 21 Oct 2015 07:28:30 GMT", Some(30)),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(0)),
            ("-1", None),
            ("soon", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                expected.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_capped() {
        let policy = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            auth_attempts: 3,
        };
        for (attempt, full_ms) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (4, 1600),
            (5, 2000),
            (40, 2000),
        ] {
            for _ in 0..50 {
                let d = policy.delay(attempt).as_millis();
                assert!(
                    (full_ms / 2..=full_ms).contains(&d),
                    "attempt {attempt}: {d} ms not in [{}, {full_ms}]",
                    full_ms / 2
                );
            }
        }
    }

    #[test]
    fn server_urls() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://s.example",
                Some("https://s.example/api/v1/agents/ingest"),
            ),
            (
                "http://127.0.0.1:8080/",
                Some("http://127.0.0.1:8080/api/v1/agents/ingest"),
            ),
            (
                "https://s.example/shipshape",
                Some("https://s.example/shipshape/api/v1/agents/ingest"),
            ),
            (
                "https://s.example/shipshape/",
                Some("https://s.example/shipshape/api/v1/agents/ingest"),
            ),
            ("https://user:secret@s.example", None),
            ("https://s.example/?token=x", None),
            ("ftp://s.example", None),
            ("file:///etc/passwd", None),
        ];
        for (server, expected) in cases {
            let url = Url::parse(server).expect("url");
            let got = ingest_url(&url).ok().map(|u| u.to_string());
            assert_eq!(got.as_deref(), *expected, "{server}");
        }
        let err = ingest_url(&Url::parse("https://user:hunter2@s.example").expect("url"))
            .expect_err("refused");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("credentials"),
            "{shown}"
        );
    }

    #[test]
    fn token_sources() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("tok-123\n", Ok("tok-123")),
            ("  tok \r\n", Ok("tok")),
            ("\n", Err("empty")),
            ("a\u{7}b", Err("cannot carry")),
            ("tök", Err("cannot carry")),
        ];
        for (i, (content, expected)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("t{i}"));
            std::fs::write(&path, content).expect("write");
            let got = TokenSource::File(path).read();
            match (got, expected) {
                (Ok(t), Ok(e)) => assert_eq!(t, *e),
                (Err(err), Err(e)) => assert!(err.to_string().contains(e), "{err}"),
                (got, _) => panic!("{content:?}: {got:?}"),
            }
        }
        let missing = TokenSource::File(dir.path().join("absent")).read();
        assert!(matches!(missing, Err(AgentError::TokenFile { .. })));
        let shown = format!("{:?}", TokenSource::Value("s3cr3t-token".into()));
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
