//! The load generator: drives an HTTP endpoint with a bounded number of requests for a bounded time, closed-loop
//! (a fixed number of workers, each sending its next request when the previous one is answered) or open-loop (a
//! fixed arrival rate, whatever the answers do), and reports throughput and latency percentiles.
//!
//! In open-loop mode each latency is measured from the instant the request was *scheduled*, not from when it
//! left, so a server that falls behind shows it in the percentiles (no coordinated omission).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

/// One request: gets its index, resolves to `Ok` for an expected answer, `Err(why)` otherwise.
pub type RequestFn =
    Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Wraps a closure returning a future as a [`RequestFn`].
pub fn request_fn<F, Fut>(f: F) -> RequestFn
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move |i| Box::pin(f(i)))
}

/// How much load, and of which kind.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LoadSpec {
    /// Closed loop: the number of workers. Open loop: the most requests in flight (further arrivals wait for a
    /// free slot, and that wait counts in their latency).
    pub concurrency: usize,
    /// Most requests sent (the run stops at whichever bound comes first).
    pub max_requests: u64,
    /// Longest run.
    pub max_duration: Duration,
    /// Open loop at this many requests per second; `None` for closed loop.
    pub rate: Option<f64>,
}

impl LoadSpec {
    /// Closed loop with `concurrency` workers.
    pub fn closed(concurrency: usize, max_requests: u64, max_duration: Duration) -> Self {
        Self {
            concurrency,
            max_requests,
            max_duration,
            rate: None,
        }
    }

    /// Open loop at `rate` requests per second, at most `max_in_flight` at once.
    pub fn open(
        rate: f64,
        max_in_flight: usize,
        max_requests: u64,
        max_duration: Duration,
    ) -> Self {
        Self {
            concurrency: max_in_flight,
            max_requests,
            max_duration,
            rate: Some(rate),
        }
    }
}

/// What a run measured. Times in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: u64,
    /// Answers that were the expected ones.
    pub ok: u64,
    /// Everything else (wrong status, connection error).
    pub errors: u64,
    /// The first error, for diagnosis.
    pub first_error: Option<String>,
    /// From the first request to the last answer.
    pub elapsed_s: f64,
    /// Expected answers per second.
    pub throughput: f64,
    /// The open-loop rate asked for.
    pub offered_rate: Option<f64>,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl LoadReport {
    fn from_samples(
        mut latencies_us: Vec<u64>,
        errors: u64,
        first_error: Option<String>,
        elapsed: Duration,
        rate: Option<f64>,
    ) -> Self {
        latencies_us.sort_unstable();
        let ok = latencies_us.len() as u64;
        let elapsed_s = elapsed.as_secs_f64().max(1e-9);
        Self {
            requests: ok + errors,
            ok,
            errors,
            first_error,
            elapsed_s,
            throughput: ok as f64 / elapsed_s,
            offered_rate: rate,
            p50_ms: percentile_ms(&latencies_us, 0.50),
            p90_ms: percentile_ms(&latencies_us, 0.90),
            p99_ms: percentile_ms(&latencies_us, 0.99),
            max_ms: latencies_us.last().map_or(0.0, |&u| u as f64 / 1000.0),
        }
    }

    /// One line of a table: `label  requests  ok/s  p50  p90  p99  max`.
    pub fn row(&self, label: &str) -> String {
        format!(
            "{label:<34} {:>8} {:>6} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            self.requests,
            self.errors,
            self.throughput,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms
        )
    }

    /// The header of [`row`](Self::row).
    pub fn header() -> String {
        format!(
            "{:<34} {:>8} {:>6} {:>11} {:>8} {:>8} {:>8} {:>8}",
            "run", "requests", "errors", "ok/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        )
    }
}

/// The `q` quantile (nearest rank) of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, result: Result<(), String>, latency: Duration) {
        match result {
            Ok(()) => self.latencies_us.push(latency.as_micros() as u64),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs `spec` against `request` on the current Tokio runtime.
pub async fn run(spec: LoadSpec, request: RequestFn) -> LoadReport {
    match spec.rate {
        None => closed_loop(spec, request).await,
        Some(rate) => open_loop(spec, rate, request).await,
    }
}

async fn closed_loop(spec: LoadSpec, request: RequestFn) -> LoadReport {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + spec.max_duration;
    let workers: Vec<_> = (0..spec.concurrency.max(1))
        .map(|_| {
            let next = next.clone();
            let request = request.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= spec.max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let t0 = Instant::now();
                    let result = request(i).await;
                    tally.add(result, t0.elapsed());
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for w in workers {
        if let Ok(t) = w.await {
            all.merge(t);
        }
    }
    LoadReport::from_samples(
        all.latencies_us,
        all.errors,
        all.first_error,
        start.elapsed(),
        None,
    )
}

async fn open_loop(spec: LoadSpec, rate: f64, request: RequestFn) -> LoadReport {
    let slots = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let start = Instant::now();
    let deadline = start + spec.max_duration;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let mut tasks = tokio::task::JoinSet::new();
    let mut tally = Tally::default();
    for i in 0..spec.max_requests {
        let due = start + interval.mul_f64(i as f64);
        if due >= deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let request = request.clone();
        tasks.spawn(async move {
            let result = request(i).await;
            drop(permit);
            // Measured from the scheduled instant: waiting for a slot or for the timer is part of it.
            (result, due.elapsed())
        });
        // Reap finished tasks as we go so the set stays small.
        while let Some(joined) = tasks.try_join_next() {
            if let Ok((result, latency)) = joined {
                tally.add(result, latency);
            }
        }
    }
    let grace = deadline + Duration::from_secs(10);
    while let Ok(Some(joined)) = tokio::time::timeout_at(grace.into(), tasks.join_next()).await {
        if let Ok((result, latency)) = joined {
            tally.add(result, latency);
        }
    }
    // Still unanswered 10 s after the end: counted as errors (the set aborts them when dropped).
    if !tasks.is_empty() {
        tally.errors += tasks.len() as u64;
        tally
            .first_error
            .get_or_insert_with(|| "no answer within 10 s after the run".to_owned());
    }
    LoadReport::from_samples(
        tally.latencies_us,
        tally.errors,
        tally.first_error,
        start.elapsed(),
        Some(rate),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.5), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&v, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[tokio::test]
    async fn both_modes_stop_at_their_bounds_and_count_errors() {
        let f = request_fn(|i| async move {
            if i % 10 == 0 {
                Err("boom".to_owned())
            } else {
                Ok(())
            }
        });
        let r = run(LoadSpec::closed(4, 100, Duration::from_secs(10)), f.clone()).await;
        assert_eq!((r.requests, r.ok, r.errors), (100, 90, 10));
        assert_eq!(r.first_error.as_deref(), Some("boom"));
        let r = run(LoadSpec::open(10_000.0, 8, 50, Duration::from_secs(10)), f).await;
        assert_eq!((r.requests, r.ok, r.errors), (50, 45, 5));
    }
}
