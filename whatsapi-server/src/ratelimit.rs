//! Fixed one-minute windows per bucket (an API key, or a client IP for registration), and the headers that
//! report them.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

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

/// In-process fixed-window counters.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// A limiter with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request in `bucket` (refused requests count too, so hammering does not reset anything).
    pub fn hit(&self, bucket: &str, limit: u32, now: DateTime<Utc>) -> RateDecision {
        let ts = now.timestamp();
        let window = ts - ts.rem_euclid(WINDOW_SECS);
        let reset_unix = window + WINDOW_SECS;
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
        RateDecision {
            allowed: count <= limit,
            limit,
            remaining: limit.saturating_sub(count),
            reset_unix,
            reset_in: (reset_unix - ts).max(1) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn counts_within_a_window_and_resets_after() {
        let l = RateLimiter::new();
        let t = 1_711_619_160; // a minute boundary
        for i in 1..=3 {
            let d = l.hit("k", 3, at(t + 10));
            assert!(d.allowed);
            assert_eq!(d.remaining, 3 - i);
            assert_eq!(d.reset_unix, t + 60);
            assert_eq!(d.reset_in, 50);
        }
        let d = l.hit("k", 3, at(t + 59));
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_in, 1);
        assert!(
            l.hit("other", 3, at(t + 59)).allowed,
            "buckets are independent"
        );
        let d = l.hit("k", 3, at(t + 60));
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);
    }

    #[test]
    fn headers() {
        let l = RateLimiter::new();
        let mut h = HeaderMap::new();
        let d = l.hit("k", 1, at(1_711_619_175));
        d.apply(&mut h);
        assert_eq!(h["x-ratelimit-limit"], "1");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h["x-ratelimit-reset"], "1711619220");
        assert_eq!(h["ratelimit-policy"], "\"default\";q=1;w=60");
        assert_eq!(h["ratelimit"], "\"default\";r=0;t=45");
        assert!(h.get("retry-after").is_none());
        let mut h = HeaderMap::new();
        l.hit("k", 1, at(1_711_619_175)).apply(&mut h);
        assert_eq!(h["retry-after"], "45");
    }
}
