//! A response cache for the read-only report endpoints. Under 20 concurrent
//! clients on two cores, a 40 ms query cannot answer in under 100 ms by CPU
//! alone; most report traffic repeats a few views (the overview, a cluster,
//! a team's labels) while the data changes only when the store commits.
//!
//! An answer is kept under (the caller's role, the request's path and query
//! string) together with the store's [`store::Store::data_generation`] read
//! *before* the handler ran: an entry is served only while the generation is
//! still the same, so a write committed after (or during) the query makes
//! it unreachable, and the first lookup at a new generation drops every
//! entry. Entries also age out after `max_age`, because answers depend on
//! the clock too (an exception whose expiry passes lapses without a write
//! until housekeeping records it). The cache is bounded in bytes and evicts
//! the oldest entries first.
//!
//! Only successful answers with a known, complete body are kept, and only
//! for callers the report allows (viewer and above, never agents): a hit is
//! an answer the handler already gave to a caller of the same role, and the
//! cached routes' answers depend on the role at most, never on who asks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use store::{Role, Store};

use crate::AppState;
use crate::auth::Principal;

/// Response header saying whether an answer came from the cache (`hit`) or
/// was computed (`miss`); load tests and operators read it.
pub const CACHE_HEADER: &str = "x-shipshape-cache";

/// What a cached answer is keyed by besides the generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    role: Role,
    /// Path and raw query string exactly as sent: two spellings of one
    /// filter are two entries, which costs memory, never correctness.
    target: String,
}

struct Entry {
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
}

impl Entry {
    fn cost(&self, key: &Key) -> usize {
        // Headers and bookkeeping, roughly; the body dominates.
        self.body.len() + key.target.len() + 256
    }
}

struct Inner {
    /// The generation the entries were computed at.
    generation: u64,
    entries: HashMap<Key, Entry>,
    /// Insertion order, for eviction (oldest first).
    order: VecDeque<Key>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// Bounds of the response cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Total bytes of kept answers (bodies plus a small overhead each).
    pub max_bytes: usize,
    /// How long an answer may be served at all.
    pub max_age: Duration,
}

/// Hit and miss counts since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub bytes: usize,
}

pub struct ResponseCache {
    limits: CacheLimits,
    inner: Mutex<Inner>,
    /// One gate per key being computed: concurrent misses of one view wait
    /// for the first computation instead of all running the same query (a
    /// popular view expiring under load would otherwise be computed by
    /// every connection at once).
    computing: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl ResponseCache {
    pub fn new(limits: CacheLimits) -> ResponseCache {
        ResponseCache {
            limits,
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                hits: 0,
                misses: 0,
            }),
            computing: Mutex::new(HashMap::new()),
        }
    }

    fn gate(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        self.computing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Drops `key`'s gate once nobody else holds it (the map's and our
    /// reference are the last two; the map lock keeps others from cloning
    /// it meanwhile).
    fn release(&self, key: &Key, gate: Arc<tokio::sync::Mutex<()>>) {
        let mut computing = self
            .computing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if Arc::strong_count(&gate) <= 2 {
            computing.remove(key);
        }
    }

    /// The largest single answer kept: an eighth of the budget, so one
    /// export-sized answer cannot flush everything else.
    fn max_entry_bytes(&self) -> usize {
        self.limits.max_bytes / 8
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            hits: inner.hits,
            misses: inner.misses,
            entries: inner.entries.len(),
            bytes: inner.bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every
        // mutation below completes or does not start); keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &Key, generation: u64) -> Option<(HeaderMap, Bytes)> {
        let mut inner = self.lock();
        if inner.generation != generation {
            inner.reset(generation);
        }
        let fresh = inner
            .entries
            .get(key)
            .map(|entry| entry.stored.elapsed() <= self.limits.max_age);
        match fresh {
            Some(true) => {
                inner.hits += 1;
                let entry = inner.entries.get(key)?;
                Some((entry.headers.clone(), entry.body.clone()))
            }
            Some(false) => {
                inner.remove(key);
                inner.misses += 1;
                None
            }
            None => {
                inner.misses += 1;
                None
            }
        }
    }

    /// Keeps `body` for `key` if it was computed at the current generation.
    fn put(&self, key: Key, generation: u64, current: u64, headers: HeaderMap, body: Bytes) {
        if generation != current || body.len() > self.max_entry_bytes() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != current {
            inner.reset(current);
        }
        inner.remove(&key);
        let entry = Entry {
            headers,
            body,
            stored: Instant::now(),
        };
        let cost = entry.cost(&key);
        while inner.bytes + cost > self.limits.max_bytes {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.entries.remove(&oldest) {
                inner.bytes -= old.cost(&oldest);
            }
        }
        inner.bytes += cost;
        inner.order.push_back(key.clone());
        inner.entries.insert(key, entry);
    }
}

impl Inner {
    fn reset(&mut self, generation: u64) {
        self.generation = generation;
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= old.cost(key);
            // Replaced or expired keys are rare next to evictions; a linear
            // scan of the order keeps the queue exact.
            self.order.retain(|k| k != key);
        }
    }
}

/// Middleware on the cacheable GET routes (inside `auth::authenticate`, so
/// the principal is known).
pub async fn cached<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(cache) = state.cache.as_ref() else {
        return next.run(request).await;
    };
    let role = match request.extensions().get::<Principal>() {
        Some(principal)
            if request.method() == Method::GET && principal.require(Role::Viewer).is_ok() =>
        {
            principal.role
        }
        // Refusals and other methods go to the handler, which answers them.
        _ => return next.run(request).await,
    };
    let key = Key {
        role,
        target: request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |pq| pq.as_str().to_owned(),
        ),
    };
    if let Some(hit) = cache.get(&key, state.store.data_generation()) {
        return hit_response(hit);
    }
    let gate = cache.gate(&key);
    let response = {
        let _computing = gate.lock().await;
        // Whoever held the gate may have just stored the answer.
        let generation = state.store.data_generation();
        match cache.get(&key, generation) {
            Some(hit) => hit_response(hit),
            None => compute(cache, &state, key.clone(), generation, request, next).await,
        }
    };
    cache.release(&key, gate);
    response
}

fn hit_response((headers, body): (HeaderMap, Bytes)) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    response
        .headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static("hit"));
    response
}

/// Runs the handler and keeps a successful, complete answer computed at
/// `generation`.
async fn compute<S: Store>(
    cache: &ResponseCache,
    state: &AppState<S>,
    key: Key,
    generation: u64,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let complete_and_small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| usize::try_from(n).is_ok_and(|n| n <= cache.max_entry_bytes()));
    if response.status() != StatusCode::OK || !complete_and_small {
        return with_miss_header(response);
    }
    let (mut parts, body) = response.into_parts();
    match axum::body::to_bytes(body, cache.max_entry_bytes()).await {
        Ok(bytes) => {
            cache.put(
                key,
                generation,
                state.store.data_generation(),
                parts.headers.clone(),
                bytes.clone(),
            );
            parts
                .headers
                .insert(CACHE_HEADER, HeaderValue::from_static("miss"));
            Response::from_parts(parts, Body::from(bytes))
        }
        // A body that fails while being read is the handler's error; the
        // size was checked, so this is a broken stream: answer 500.
        Err(e) => {
            tracing::warn!(error = %e, "could not read an answer to cache it");
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

fn with_miss_header(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static("miss"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, target: &str) -> Key {
        Key {
            role,
            target: target.to_owned(),
        }
    }

    fn limits(max_bytes: usize) -> CacheLimits {
        CacheLimits {
            max_bytes,
            max_age: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_entry_is_served_only_at_its_generation() {
        let cache = ResponseCache::new(limits(1 << 20));
        let k = key(Role::Viewer, "/api/v1/statistics");
        cache.put(k.clone(), 3, 3, HeaderMap::new(), Bytes::from_static(b"a"));
        assert_eq!(
            cache.get(&k, 3).map(|(_, b)| b),
            Some(Bytes::from_static(b"a"))
        );
        assert!(cache.get(&k, 4).is_none());
        // Back at the old generation the entry is gone for good.
        assert!(cache.get(&k, 3).is_none());
    }

    #[test]
    fn an_answer_computed_across_a_write_is_not_kept() {
        let cache = ResponseCache::new(limits(1 << 20));
        let k = key(Role::Viewer, "/api/v1/statistics");
        // Generation 3 read before the handler, 4 after it: the answer may
        // predate the write.
        cache.put(k.clone(), 3, 4, HeaderMap::new(), Bytes::from_static(b"a"));
        assert!(cache.get(&k, 3).is_none());
        assert!(cache.get(&k, 4).is_none());
    }

    #[test]
    fn roles_and_targets_are_separate_entries() {
        let cache = ResponseCache::new(limits(1 << 20));
        cache.put(
            key(Role::Admin, "/a"),
            1,
            1,
            HeaderMap::new(),
            Bytes::from_static(b"admin"),
        );
        assert!(cache.get(&key(Role::Viewer, "/a"), 1).is_none());
        assert!(cache.get(&key(Role::Admin, "/a?x=1"), 1).is_none());
        assert!(cache.get(&key(Role::Admin, "/a"), 1).is_some());
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest_and_refuses_giants() {
        let overhead = key(Role::Viewer, "/0").target.len() + 256;
        let cache = ResponseCache::new(limits(8 * (1000 + overhead)));
        for i in 0..10 {
            cache.put(
                key(Role::Viewer, &format!("/{i}")),
                1,
                1,
                HeaderMap::new(),
                Bytes::from(vec![b'x'; 1000]),
            );
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 8);
        assert!(stats.bytes <= 8 * (1000 + overhead));
        assert!(cache.get(&key(Role::Viewer, "/0"), 1).is_none());
        assert!(cache.get(&key(Role::Viewer, "/1"), 1).is_none());
        assert!(cache.get(&key(Role::Viewer, "/9"), 1).is_some());
        // More than an eighth of the budget is never kept.
        cache.put(
            key(Role::Viewer, "/big"),
            1,
            1,
            HeaderMap::new(),
            Bytes::from(vec![b'x'; 1001 + overhead]),
        );
        assert!(cache.get(&key(Role::Viewer, "/big"), 1).is_none());
    }

    #[test]
    fn old_entries_age_out() {
        let cache = ResponseCache::new(CacheLimits {
            max_bytes: 1 << 20,
            max_age: Duration::ZERO,
        });
        let k = key(Role::Viewer, "/a");
        cache.put(k.clone(), 1, 1, HeaderMap::new(), Bytes::from_static(b"a"));
        std::thread::sleep(Duration::from_millis(2));
        assert!(cache.get(&k, 1).is_none());
        assert_eq!(cache.stats().entries, 0);
    }
}
