//! Fixed one-minute windows per bucket (an API key, or a client IP for registration), and the headers that
//! report them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use whatsapi_saas::ProductStore;

const WINDOW_SECS: i64 = 60;

/// The state of a bucket after one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests per window.
    pub limit: u32,
    /// Requests left in this window.
    pub remaining: u32,
    /// Unix time when the window ends.
    pub reset_unix: i64,
    /// Seconds until the window ends (at least 1).
    pub reset_in: u64,
}

impl RateDecision {
    /// Adds `X-RateLimit-*` and the IETF `RateLimit` / `RateLimit-Policy` fields; `Retry-After` when refused.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset_unix));
        if let Ok(v) =
            HeaderValue::from_str(&format!("\"default\";q={};w={WINDOW_SECS}", self.limit))
        {
            headers.insert("ratelimit-policy", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!(
            "\"default\";r={};t={}",
            self.remaining, self.reset_in
        )) {
            headers.insert("ratelimit", v);
        }
        if !self.allowed {
            headers.insert("retry-after", HeaderValue::from(self.reset_in));
        }
    }
}

/// The fixed window holding `now`: (its start, Unix seconds of now).
fn window_of(now: DateTime<Utc>) -> (i64, i64) {
    let ts = now.timestamp();
    (ts - ts.rem_euclid(WINDOW_SECS), ts)
}

/// The decision after the `count`-th request of the window starting at `window`.
fn decide(count: u64, limit: u32, window: i64, ts: i64) -> RateDecision {
    let reset_unix = window + WINDOW_SECS;
    let used = u32::try_from(count).unwrap_or(u32::MAX);
    RateDecision {
        allowed: used <= limit,
        limit,
        remaining: limit.saturating_sub(used),
        reset_unix,
        reset_in: (reset_unix - ts).max(1) as u64,
    }
}

/// In-process fixed-window counters: fast, and right for one process.
#[derive(Debug, Default)]
pub struct LocalWindows {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl LocalWindows {
    /// Counts one request in `bucket` (refused requests count too, so hammering does not reset anything).
    pub fn hit(&self, bucket: &str, limit: u32, now: DateTime<Utc>) -> RateDecision {
        let (window, ts) = window_of(now);
        let count = {
            let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 100_000 {
                map.retain(|_, (w, _)| *w == window);
            }
            let entry = map.entry(bucket.to_owned()).or_insert((window, 0));
            if entry.0 != window {
                *entry = (window, 0);
            }
            entry.1 = entry.1.saturating_add(1);
            entry.1
        };
        decide(u64::from(count), limit, window, ts)
    }
}

/// Fixed one-minute windows per bucket: in process (one server on SQLite), or in the store, shared by every
/// replica on the same database (PostgreSQL), so replicas together never allow more than the limit.
pub enum RateLimiter {
    /// Counters of this process.
    Local(LocalWindows),
    /// Counters in the store (`RateWindowStore::hit_rate_window`: one atomic upsert per request). When the store cannot
    /// answer, this process's own counters decide, so an outage of the database does not lift every limit.
    Shared {
        /// Where the windows are counted.
        store: Arc<dyn ProductStore>,
        /// Used while the store is unavailable.
        fallback: LocalWindows,
    },
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateLimiter::Local(_) => f.write_str("RateLimiter::Local"),
            RateLimiter::Shared { .. } => f.write_str("RateLimiter::Shared"),
        }
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    /// A limiter with in-process counters and no history.
    pub fn new() -> Self {
        RateLimiter::Local(LocalWindows::default())
    }

    /// A limiter whose counters live in `store`, shared with every process using the same store.
    pub fn shared(store: Arc<dyn ProductStore>) -> Self {
        RateLimiter::Shared {
            store,
            fallback: LocalWindows::default(),
        }
    }

    /// Counts one request in `bucket` (refused requests count too, so hammering does not reset anything).
    pub async fn hit(&self, bucket: &str, limit: u32, now: DateTime<Utc>) -> RateDecision {
        match self {
            RateLimiter::Local(windows) => windows.hit(bucket, limit, now),
            RateLimiter::Shared { store, fallback } => {
                let (window, ts) = window_of(now);
                let start = DateTime::from_timestamp(window, 0).unwrap_or(now);
                match store.hit_rate_window(bucket, start).await {
                    Ok(count) => decide(count, limit, window, ts),
                    Err(e) => {
                        tracing::warn!(error = %e, bucket, "shared rate limit unavailable; counting in this process");
                        fallback.hit(bucket, limit, now)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[tokio::test]
    async fn counts_within_a_window_and_resets_after() {
        let l = RateLimiter::new();
        let t = 1_711_619_160; // a minute boundary
        for i in 1..=3 {
            let d = l.hit("k", 3, at(t + 10)).await;
            assert!(d.allowed);
            assert_eq!(d.remaining, 3 - i);
            assert_eq!(d.reset_unix, t + 60);
            assert_eq!(d.reset_in, 50);
        }
        let d = l.hit("k", 3, at(t + 59)).await;
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_in, 1);
        assert!(
            l.hit("other", 3, at(t + 59)).await.allowed,
            "buckets are independent"
        );
        let d = l.hit("k", 3, at(t + 60)).await;
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);
    }

    #[tokio::test]
    async fn headers() {
        let l = RateLimiter::new();
        let mut h = HeaderMap::new();
        let d = l.hit("k", 1, at(1_711_619_175)).await;
        d.apply(&mut h);
        assert_eq!(h["x-ratelimit-limit"], "1");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h["x-ratelimit-reset"], "1711619220");
        assert_eq!(h["ratelimit-policy"], "\"default\";q=1;w=60");
        assert_eq!(h["ratelimit"], "\"default\";r=0;t=45");
        assert!(h.get("retry-after").is_none());
        let mut h = HeaderMap::new();
        l.hit("k", 1, at(1_711_619_175)).await.apply(&mut h);
        assert_eq!(h["retry-after"], "45");
    }

    #[tokio::test]
    async fn shared_limiters_count_together() {
        let store: Arc<dyn ProductStore> =
            Arc::new(whatsapi_saas::testing::MemoryProductStore::new(Arc::new(
                whatsapi_core::testing::MemoryStore::new(),
            )));
        let (a, b) = (
            RateLimiter::shared(store.clone()),
            RateLimiter::shared(store),
        );
        let t = 1_711_619_160;
        let mut allowed = 0;
        for i in 0..10 {
            let l = if i % 2 == 0 { &a } else { &b };
            if l.hit("k", 4, at(t + 5)).await.allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 4, "two replicas together allow the limit once");
        let d = b.hit("k", 4, at(t + 60)).await;
        assert!(d.allowed, "a new window starts fresh");
        assert_eq!(d.remaining, 3);
        // Local limiters do not share: each would allow 4.
        let (c, d) = (RateLimiter::new(), RateLimiter::new());
        let mut allowed = 0;
        for i in 0..10 {
            let l = if i % 2 == 0 { &c } else { &d };
            if l.hit("k", 4, at(t + 5)).await.allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 8);
    }
}
