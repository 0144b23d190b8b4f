//! An agent ingest receiver on 127.0.0.1 for the agent's tests, until issue
//! #5's server replaces it. It applies protocol v1 faithfully: bearer token,
//! `k8s::wire::decode` (400 on an unknown version or a malformed body),
//! `k8s::wire::check_sequence` per cluster (apply, acknowledge a duplicate
//! again, ask for a resnapshot on a gap), and rebuilds each cluster's set of
//! running images from the snapshot and the deltas, as a server would.
//!
//! It records every request and can be told to fail: a status (503, 429 with
//! `Retry-After`, 401), a closed connection before or after applying, a
//! resnapshot demand, or to be "down" (503) until told otherwise. Like the
//! feed server it runs on its own thread and runtime and stops when dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s::agent::INGEST_PATH;
use k8s::state::{Change, ImageKey};
use k8s::wire::{self, AgentMessage, IngestResponse, MessageBody, SequenceCheck};

/// A fault for the next requests to the ingest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestFault {
    /// Answer with this status (and `Retry-After`, if given) without reading the message.
    Status(u16, Option<&'static str>),
    /// Drop the connection without an answer, before applying.
    Close,
    /// Apply the message, then drop the connection (the agent must retry; the
    /// retry is a duplicate).
    ApplyThenClose,
    /// Answer `resnapshot` to a message that would have applied.
    Resnapshot,
}

/// What the receiver did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Asked for a resnapshot (a gap, or a [`IngestFault::Resnapshot`]).
    Resnapshot,
    /// Answered with a fault status or dropped the connection.
    Faulted(IngestFault),
    Unauthorized,
    /// 400: undecodable or unsupported version.
    BadRequest(String),
    /// Another path or method.
    NotFound,
}

#[derive(Debug, Clone)]
pub struct Received {
    /// The decoded message (None when it could not be decoded or was not read).
    pub message: Option<AgentMessage>,
    pub outcome: Outcome,
    /// Whether an `Authorization` header came at all (its value is not kept).
    pub had_authorization: bool,
}

impl Received {
    /// `s<seq>` or `d<seq>/<follows>`, for compact assertions.
    pub fn label(&self) -> String {
        match &self.message {
            Some(m) => match &m.body {
                MessageBody::Snapshot(_) => format!("s{}", m.sequence),
                MessageBody::Delta(d) => format!("d{}/{}", m.sequence, d.follows),
            },
            None => "-".to_owned(),
        }
    }
}

/// A cluster as the receiver rebuilt it.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// The agent run and sequence of the last applied message.
    pub last_applied: Option<(String, u64)>,
    /// Images running now: from the snapshot, then `appeared` / `running_again` /
    /// `no_longer_running`.
    pub running: BTreeSet<ImageKey>,
    /// Every image ever reported, running or not (history is never deleted).
    pub seen: BTreeSet<ImageKey>,
    pub drifts: Vec<Change>,
    pub snapshots: u64,
}

#[derive(Default)]
struct State {
    token: String,
    faults: Vec<(u32, IngestFault)>,
    down: bool,
    log: Vec<Received>,
    clusters: BTreeMap<String, ClusterView>,
}

pub struct IngestServer {
    /// `http://127.0.0.1:PORT/`: the agent's `--server`.
    pub base: url::Url,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IngestServer {
    /// Starts a receiver that accepts `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> IngestServer {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            ..State::default()
        }));
        let serving = state.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("ingest runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    () = accept_loop(listener, serving) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_background();
        });
        IngestServer {
            base: url::Url::parse(&format!("http://{addr}/")).expect("url"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `times` requests to the ingest path meet `fault`.
    pub fn fail_next(&self, times: u32, fault: IngestFault) {
        self.lock().faults.push((times, fault));
    }

    /// While down, every ingest request gets 503 (nothing is applied).
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.lock().log.clone()
    }

    /// Labels of the applied messages, in order.
    pub fn applied(&self) -> Vec<String> {
        self.lock()
            .log
            .iter()
            .filter(|r| r.outcome == Outcome::Applied)
            .map(Received::label)
            .collect()
    }

    pub fn cluster(&self, name: &str) -> Option<ClusterView> {
        self.lock().clusters.get(name).cloned()
    }
}

impl Drop for IngestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { handle(&state, request).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Returning an error makes hyper drop the connection without an answer.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by the test")
    }
}

impl std::error::Error for CloseConnection {}

fn answer(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

fn json_answer(response: &IngestResponse) -> Response<Full<Bytes>> {
    let mut r = answer(200, serde_json::to_string(response).unwrap_or_default());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle(
    state: &Mutex<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let path_ok = request.uri().path() == format!("/{INGEST_PATH}");
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let record = |message: Option<AgentMessage>, outcome: Outcome| {
        lock().log.push(Received {
            message,
            outcome,
            had_authorization: authorization.is_some(),
        });
    };
    if !path_ok || request.method() != hyper::Method::POST {
        record(None, Outcome::NotFound);
        return Ok(answer(404, "not found".into()));
    }
    let expected = format!("Bearer {}", lock().token);
    if authorization.as_deref() != Some(expected.as_str()) {
        record(None, Outcome::Unauthorized);
        return Ok(answer(401, "unknown agent token".into()));
    }
    let fault = {
        let mut s = lock();
        if s.down {
            Some(IngestFault::Status(503, None))
        } else if let Some((times, fault)) = s.faults.first_mut() {
            let fault = fault.clone();
            *times -= 1;
            if *times == 0 {
                s.faults.remove(0);
            }
            Some(fault)
        } else {
            None
        }
    };
    match &fault {
        Some(IngestFault::Status(status, retry_after)) => {
            record(
                None,
                Outcome::Faulted(fault.clone().unwrap_or(IngestFault::Close)),
            );
            let mut response = answer(*status, "injected fault".into());
            if let Some(value) = retry_after {
                response.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static(value),
                );
            }
            return Ok(response);
        }
        Some(IngestFault::Close) => {
            record(None, Outcome::Faulted(IngestFault::Close));
            return Err(CloseConnection);
        }
        _ => {}
    }
    let Ok(body) = request.into_body().collect().await else {
        return Err(CloseConnection);
    };
    let message = match wire::decode(&body.to_bytes()) {
        Ok(m) => m,
        Err(e) => {
            record(None, Outcome::BadRequest(e.to_string()));
            return Ok(answer(400, e.to_string()));
        }
    };
    let mut s = lock();
    let last = s
        .clusters
        .get(&message.cluster)
        .and_then(|c| c.last_applied.clone());
    let check = wire::check_sequence(
        last.as_ref().map(|(run, sequence)| wire::Applied {
            run,
            sequence: *sequence,
        }),
        &message,
    );
    let (outcome, response) = match (check, &fault) {
        (SequenceCheck::Duplicate, _) => (
            Outcome::Duplicate,
            IngestResponse::Accepted {
                sequence: message.sequence,
            },
        ),
        (SequenceCheck::Gap, _) => (
            Outcome::Resnapshot,
            IngestResponse::Resnapshot {
                reason: format!(
                    "delta {} does not follow the last applied message {last:?}",
                    message.sequence
                ),
            },
        ),
        (SequenceCheck::Apply, Some(IngestFault::Resnapshot)) => (
            Outcome::Resnapshot,
            IngestResponse::Resnapshot {
                reason: "the server lost its state".into(),
            },
        ),
        (SequenceCheck::Apply, _) => {
            let view = s.clusters.entry(message.cluster.clone()).or_default();
            apply(view, &message);
            (
                Outcome::Applied,
                IngestResponse::Accepted {
                    sequence: message.sequence,
                },
            )
        }
    };
    s.log.push(Received {
        message: Some(message),
        outcome: outcome.clone(),
        had_authorization: true,
    });
    drop(s);
    if fault == Some(IngestFault::ApplyThenClose) && outcome == Outcome::Applied {
        return Err(CloseConnection);
    }
    Ok(json_answer(&response))
}

fn apply(view: &mut ClusterView, message: &AgentMessage) {
    view.last_applied = Some((message.run.clone(), message.sequence));
    match &message.body {
        MessageBody::Snapshot(snapshot) => {
            view.snapshots += 1;
            let inventory = &snapshot.inventory;
            // Absence in an incomplete snapshot says nothing (as in InventoryState).
            if !inventory.status.pods_complete() {
                return;
            }
            view.running.clear();
            for workload in &inventory.workloads {
                for c in &workload.containers {
                    let Some(digest) = &c.digest else { continue };
                    let key = ImageKey {
                        cluster: inventory.cluster.clone(),
                        workload: workload.key(),
                        container: c.container.clone(),
                        digest: digest.clone(),
                    };
                    view.seen.insert(key.clone());
                    if c.running {
                        view.running.insert(key);
                    }
                }
            }
        }
        MessageBody::Delta(delta) => {
            for change in &delta.changes {
                match change {
                    Change::Appeared { key, record } => {
                        view.seen.insert(key.clone());
                        if record.running {
                            view.running.insert(key.clone());
                        }
                    }
                    Change::RunningAgain { key, .. } => {
                        view.running.insert(key.clone());
                    }
                    Change::NoLongerRunning { key, .. } => {
                        view.running.remove(key);
                    }
                    Change::TagDrift { .. } => view.drifts.push(change.clone()),
                    Change::ClusterStatus { .. } => {}
                }
            }
        }
    }
}

impl std::fmt::Debug for IngestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestServer")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}
