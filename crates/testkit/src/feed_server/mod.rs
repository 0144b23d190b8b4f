//! A local HTTP server with the public feeds' layout (what `db update`
//! downloads), serving files a test writes under its root, plus an NVD CVE
//! API 2.0 endpoint answering `startIndex` / `resultsPerPage` /
//! `lastModStartDate` / `lastModEndDate` from a list of CVEs. It records
//! every request, can be told to fail, and answers `If-None-Match` with 304.
//!
//! The server runs on its own thread and runtime, so synchronous tests (the
//! CLI's, which run the binary) and async tests use it alike; it stops when
//! the [`FeedServer`] is dropped. [`layout`] writes the files in the public
//! layout from `shared/vulndata`.

// Says why a test did nothing when the shared data is absent.
#![allow(clippy::print_stderr)]

pub mod layout;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const NVD_PATH: &str = "/nvd/rest/json/cves/2.0";
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

pub fn vulndata() -> Option<PathBuf> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vulndata"
    ));
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "skipped: {} is absent (the shared vulnerability data)",
            root.display()
        );
        None
    }
}

#[derive(Debug, Clone)]
pub struct Logged {
    /// Percent-decoded path.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub status: u16,
}

impl Logged {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and `Retry-After`, if given).
    Status(u16, Option<&'static str>),
    /// Announce the whole length, send half, then drop the connection.
    Truncate,
    /// Send the body in pieces without a `Content-Length`.
    NoLength,
    /// Answer only after this long.
    Delay(std::time::Duration),
}

struct Armed {
    path: String,
    times: u32,
    fault: Fault,
}

struct State {
    root: PathBuf,
    log: Mutex<Vec<Logged>>,
    faults: Mutex<Vec<Armed>>,
    nvd: Mutex<Vec<serde_json::Value>>,
}

/// The running server; see the module docs.
pub struct FeedServer {
    /// `http://127.0.0.1:PORT/`, the root of the layout (a `--mirror` base).
    pub base: url::Url,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FeedServer {
    /// Serves the files under `root` (read at each request, so a test may
    /// change them between requests) on an ephemeral port of 127.0.0.1.
    pub fn start(root: &Path) -> FeedServer {
        let std_listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("listener address");
        let state = Arc::new(State {
            root: root.to_owned(),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            nvd: Mutex::new(Vec::new()),
        });
        let serving = state.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("feed server runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
                tokio::select! {
                    () = accept_loop(listener, serving) => {}
                    _ = stopped => {}
                }
            });
            // Open connections end with the runtime.
            runtime.shutdown_background();
        });
        FeedServer {
            base: url::Url::parse(&format!("http://{addr}/")).expect("server URL"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The next `times` requests for `path` fail with `fault`.
    pub fn fail(&self, path: &str, times: u32, fault: Fault) {
        self.state.faults.lock().unwrap().push(Armed {
            path: path.to_owned(),
            times,
            fault,
        });
    }

    pub fn set_nvd(&self, cves: Vec<serde_json::Value>) {
        *self.state.nvd.lock().unwrap() = cves;
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, serving: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let state = serving.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move {
                    let delay = state.delay_for(request.uri().path());
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    Ok::<_, Infallible>(handle(&state, request))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl State {
    /// Consumes an armed delay for `path`, if any.
    fn delay_for(&self, raw_path: &str) -> Option<std::time::Duration> {
        let path = percent_decode(raw_path);
        let mut faults = self.faults.lock().unwrap();
        let armed = faults.iter_mut().find(|armed| {
            armed.path == path && armed.times > 0 && matches!(armed.fault, Fault::Delay(_))
        })?;
        armed.times -= 1;
        match armed.fault {
            Fault::Delay(delay) => Some(delay),
            _ => None,
        }
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

fn status(code: u16) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::from_u16(code).unwrap();
    response
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(state: &State, request: Request<Incoming>) -> Response<Body> {
    let path = percent_decode(request.uri().path());
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let fault = {
        let mut faults = state.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|armed| {
                armed.path == path && armed.times > 0 && !matches!(armed.fault, Fault::Delay(_))
            })
            .map(|armed| {
                armed.times -= 1;
                armed.fault.clone()
            })
    };
    let mut logged = Logged {
        path: path.clone(),
        query: query.clone(),
        headers,
        status: 0,
    };
    let response = respond(state, &path, &query, &logged, fault);
    logged.status = response.status().as_u16();
    state.log.lock().unwrap().push(logged);
    response
}

fn respond(
    state: &State,
    path: &str,
    query: &[(String, String)],
    logged: &Logged,
    fault: Option<Fault>,
) -> Response<Body> {
    if let Some(Fault::Status(code, retry_after)) = &fault {
        let mut response = status(*code);
        if let Some(value) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", value.parse().unwrap());
        }
        return response;
    }
    let bytes = if path == NVD_PATH {
        match nvd_page(state, query) {
            Ok(bytes) => bytes,
            Err(code) => return status(code),
        }
    } else {
        let relative: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if relative.iter().any(|s| *s == ".." || *s == ".") {
            return status(400);
        }
        let file = relative
            .iter()
            .fold(state.root.clone(), |dir, segment| dir.join(segment));
        match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(_) => return status(404),
        }
    };
    let etag = format!("\"{:x}-{:x}\"", bytes.len(), fnv(&bytes));
    if logged.header("if-none-match") == Some(etag.as_str()) {
        return status(304);
    }
    let mut response = match fault {
        Some(Fault::Truncate) => {
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
                Ok(Frame::data(half)),
                Err(std::io::Error::other("connection dropped")),
            ];
            let mut response =
                Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
            response
                .headers_mut()
                .insert("content-length", bytes.len().into());
            response
        }
        Some(Fault::NoLength) => {
            let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = bytes
                .chunks(bytes.len().div_ceil(3).max(1))
                .map(|piece| Ok(Frame::data(Bytes::from(piece.to_vec()))))
                .collect();
            Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed())
        }
        _ => Response::new(full(bytes)),
    };
    response.headers_mut().insert("etag", etag.parse().unwrap());
    response
        .headers_mut()
        .insert("last-modified", LAST_MODIFIED.parse().unwrap());
    response
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3)
    })
}

fn parse_api_date(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A CVE's `lastModified` (`2023-10-18T18:00:24.900`, UTC without a zone).
fn last_modified(cve: &serde_json::Value) -> Option<OffsetDateTime> {
    let text = cve["cve"]["lastModified"].as_str()?;
    parse_api_date(&format!("{text}Z"))
}

/// Mirrors the API: at most 2,000 per page, both dates or none, windows of
/// at most 120 days.
fn nvd_page(state: &State, query: &[(String, String)]) -> Result<Vec<u8>, u16> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let start_index: usize = param("startIndex")
        .unwrap_or("0")
        .parse()
        .map_err(|_| 400u16)?;
    let per_page: usize = param("resultsPerPage")
        .unwrap_or("2000")
        .parse()
        .map_err(|_| 400u16)?;
    if per_page > 2000 {
        return Err(400);
    }
    let window = match (param("lastModStartDate"), param("lastModEndDate")) {
        (None, None) => None,
        (Some(start), Some(end)) => {
            let start = parse_api_date(start).ok_or(400u16)?;
            let end = parse_api_date(end).ok_or(400u16)?;
            if end < start || end - start > time::Duration::days(120) {
                return Err(400);
            }
            Some((start, end))
        }
        _ => return Err(404),
    };
    let cves = state.nvd.lock().unwrap();
    let selected: Vec<&serde_json::Value> = cves
        .iter()
        .filter(|cve| match window {
            None => true,
            Some((start, end)) => last_modified(cve).is_some_and(|at| start <= at && at <= end),
        })
        .collect();
    let page: Vec<&serde_json::Value> = selected
        .iter()
        .skip(start_index)
        .take(per_page)
        .copied()
        .collect();
    let body = serde_json::json!({
        "resultsPerPage": page.len(),
        "startIndex": start_index,
        "totalResults": selected.len(),
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2025-01-01T00:00:00.000",
        "vulnerabilities": page,
    });
    Ok(serde_json::to_vec(&body).unwrap())
}
