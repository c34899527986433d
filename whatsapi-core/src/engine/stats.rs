//! Counters of the engine's work, for metrics: sends by result with their latency, webhook deliveries by result.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the send latency histogram.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Lock-free counters, updated by the dispatcher and the deliverer.
#[derive(Debug, Default)]
pub struct EngineStats {
    sends_accepted: AtomicU64,
    sends_transient: AtomicU64,
    sends_failed: AtomicU64,
    sends_dry_run: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    webhooks_delivered: AtomicU64,
    webhooks_failed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Sends by result: `accepted`, `transient_error`, `failed`, `dry_run`.
    pub sends: Vec<(&'static str, u64)>,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`].
    pub send_latency_buckets: Vec<(f64, u64)>,
    /// Calls to Meta measured.
    pub send_latency_count: u64,
    /// Their total duration in seconds.
    pub send_latency_sum: f64,
    /// Webhook deliveries by result: `delivered`, `failed`.
    pub webhooks: Vec<(&'static str, u64)>,
}

/// How a send ended, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendResult {
    Accepted,
    Transient,
    Failed,
}

impl EngineStats {
    pub(crate) fn record_send(&self, result: SendResult, took: Duration) {
        let counter = match result {
            SendResult::Accepted => &self.sends_accepted,
            SendResult::Transient => &self.sends_transient,
            SendResult::Failed => &self.sends_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            took.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    pub(crate) fn record_dry_run(&self) {
        self.sends_dry_run.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_webhook(&self, delivered: bool) {
        if delivered {
            self.webhooks_delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.webhooks_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            sends: vec![
                ("accepted", get(&self.sends_accepted)),
                ("transient_error", get(&self.sends_transient)),
                ("failed", get(&self.sends_failed)),
                ("dry_run", get(&self.sends_dry_run)),
            ],
            send_latency_buckets: LATENCY_BUCKETS
                .iter()
                .zip(self.latency_buckets.iter())
                .map(|(le, c)| (*le, get(c)))
                .collect(),
            send_latency_count: get(&self.latency_count),
            send_latency_sum: get(&self.latency_sum_micros) as f64 / 1e6,
            webhooks: vec![
                ("delivered", get(&self.webhooks_delivered)),
                ("failed", get(&self.webhooks_failed)),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let s = EngineStats::default();
        s.record_send(SendResult::Accepted, Duration::from_millis(20));
        s.record_send(SendResult::Failed, Duration::from_millis(700));
        s.record_dry_run();
        s.record_webhook(true);
        s.record_webhook(false);
        s.record_webhook(false);
        let snap = s.snapshot();
        assert_eq!(
            snap.sends,
            vec![
                ("accepted", 1),
                ("transient_error", 0),
                ("failed", 1),
                ("dry_run", 1)
            ]
        );
        assert_eq!(snap.send_latency_count, 2);
        assert!((snap.send_latency_sum - 0.72).abs() < 1e-9);
        let at = |le: f64| {
            snap.send_latency_buckets
                .iter()
                .find(|(b, _)| *b == le)
                .unwrap()
                .1
        };
        assert_eq!(at(0.01), 0);
        assert_eq!(at(0.025), 1);
        assert_eq!(at(1.0), 2);
        assert_eq!(snap.webhooks, vec![("delivered", 1), ("failed", 2)]);
    }
}
