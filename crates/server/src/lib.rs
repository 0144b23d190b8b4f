//! The report server (issue #5): `router(state)` is the whole HTTP surface —
//! the REST API under `/api/v1`, the agent ingest endpoint, login sessions,
//! health and metrics — over any [`store::Store`]. The web UI (issue #6)
//! renders from the same store queries.
//!
//! Tests drive the router directly (`tower::ServiceExt::oneshot`); the binary
//! serves it with [`serve`].

pub mod api;
pub mod auth;
pub mod cache;
pub mod error;
pub mod exports;
pub mod metrics;
pub mod secret;
pub mod session;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use store::Store;
use time::OffsetDateTime;

pub use error::ApiError;

/// Settings the router needs (the binary reads them from flags, env and the
/// config file).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a browser session lasts.
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (serve behind TLS).
    pub secure_cookies: bool,
    /// The largest agent message accepted (a 10,000-pod snapshot is a few MB).
    pub max_ingest_bytes: usize,
    /// Bytes of report answers kept by the response cache (`cache.rs`); 0
    /// turns it off.
    pub response_cache_bytes: usize,
    /// How long a cached answer may be served even without a write (answers
    /// also depend on the clock: an exception whose expiry passes leaves its
    /// items excepted until then; `serve`'s housekeeping records lapses every
    /// minute anyway, which is a write).
    pub response_cache_max_age: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            max_ingest_bytes: 64 * 1024 * 1024,
            response_cache_bytes: 64 * 1024 * 1024,
            response_cache_max_age: Duration::from_secs(60),
        }
    }
}

/// Where the current time comes from: the system clock, or a fixed one in tests.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

pub struct AppState<S> {
    pub store: Arc<S>,
    pub settings: Settings,
    pub metrics: metrics::Metrics,
    /// `None` when `settings.response_cache_bytes` is 0.
    pub cache: Option<cache::ResponseCache>,
    /// Failed passwords, shared by the API's and the web UI's login and by
    /// password changes.
    pub(crate) login_limiter: session::LoginLimiter,
    clock: Clock,
    ready: AtomicBool,
}

impl<S: Store> AppState<S> {
    pub fn new(store: Arc<S>, settings: Settings) -> AppState<S> {
        AppState::with_clock(store, settings, Arc::new(OffsetDateTime::now_utc))
    }

    pub fn with_clock(store: Arc<S>, settings: Settings, clock: Clock) -> AppState<S> {
        let cache = (settings.response_cache_bytes > 0).then(|| {
            cache::ResponseCache::new(cache::CacheLimits {
                max_bytes: settings.response_cache_bytes,
                max_age: settings.response_cache_max_age,
            })
        });
        AppState {
            store,
            cache,
            login_limiter: session::LoginLimiter::default(),
            settings,
            metrics: metrics::Metrics::default(),
            clock,
            ready: AtomicBool::new(false),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// `/readyz` answers 200 from now on (set once start-up work is done).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The whole HTTP surface: the web UI's pages in front of the REST API.
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    web::routes(state.clone(), api::routes(state))
}

/// Serves `router` on `listen` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listen: SocketAddr,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds first (so the caller can print the real address of port 0), then serves.
pub async fn bind(listen: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await
}
