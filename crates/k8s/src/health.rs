//! The agent's health endpoints for the kubelet's probes, on their own small
//! listener (`shipshape agent --health-listen`):
//!
//! - `GET /healthz` — 200 while the agent runs (liveness);
//! - `GET /readyz` — 503 until the server has accepted the first snapshot,
//!   then 200 (readiness). It stays 200 when the server is away later: the
//!   agent buffers and retries, and nothing routes traffic to it, so a
//!   flapping readiness would only be noise.
//!
//! Anything else is 404 (405 for other methods than GET and HEAD). Request
//! bodies are never read; connections are few (at most
//! [`MAX_CONNECTIONS`]) and must send their headers within
//! [`HEADER_TIMEOUT`], so a stray client cannot hold the agent's memory.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Probes come from one kubelet; a few spare connections are plenty.
pub const MAX_CONNECTIONS: usize = 16;
/// A probe sends its request at once.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this long, whatever it does.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the health endpoints report; cloned into the agent loop, which marks
/// it ready.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    /// Whether the server has accepted a snapshot.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }
}

/// The answer to one request: status and a short text body.
pub fn respond(health: &Health, method: &Method, path: &str) -> (StatusCode, &'static str) {
    let known = matches!(path, "/healthz" | "/readyz");
    if !known {
        return (StatusCode::NOT_FOUND, "not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n");
    }
    match path {
        "/readyz" if !health.is_ready() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no snapshot accepted by the server yet\n",
        ),
        _ => (StatusCode::OK, "ok\n"),
    }
}

/// Serves the endpoints on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, health: Health, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and the like: wait a little instead of spinning.
                tracing::warn!("health endpoint: accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the limit the connection is simply closed.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (status, text) = respond(&health, request.method(), request.uri().path());
                let body = if request.method() == Method::HEAD {
                    Bytes::new()
                } else {
                    Bytes::from_static(text.as_bytes())
                };
                let mut response = Response::new(Full::new(body));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let not_ready = Health::new();
        let ready = Health::new();
        ready.mark_ready();
        // (health, method, path, status)
        let cases = [
            (&not_ready, Method::GET, "/healthz", 200),
            (&not_ready, Method::GET, "/readyz", 503),
            (&ready, Method::GET, "/readyz", 200),
            (&ready, Method::HEAD, "/readyz", 200),
            (&ready, Method::HEAD, "/healthz", 200),
            (&ready, Method::POST, "/healthz", 405),
            (&ready, Method::GET, "/", 404),
            (&ready, Method::GET, "/healthz/", 404),
            (&ready, Method::DELETE, "/metrics", 404),
        ];
        for (health, method, path, status) in cases {
            assert_eq!(
                respond(health, &method, path).0.as_u16(),
                status,
                "{method} {path}"
            );
        }
    }
}
