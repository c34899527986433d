//! Prometheus metrics in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use whatsapi_core::WhatsApi;

/// Upper bounds (seconds) of the latency histograms.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A cumulative histogram.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, secs: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Request counters of the HTTP layer.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
}

/// The `method` label of a request: one of the methods HTTP defines, else `other`. The method is chosen by the
/// client, so it must not become a label of its own: every new value would be a new series, kept forever.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Empty counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one request. `route` is the matched route's template (or a fixed word), never the raw path, and
    /// `method` one of [`method_label`]'s answers: a client must not be able to add series.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        self.durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route.to_owned())
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// The exposition text, HTTP counters plus the engine's figures.
    pub async fn render(&self, api: &WhatsApi) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP whatsapi_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE whatsapi_http_requests_total counter\n");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "whatsapi_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP whatsapi_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE whatsapi_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h.render(
                &mut out,
                "whatsapi_http_request_duration_seconds",
                &format!("route=\"{}\"", escape(route)),
            );
        }
        out.push_str("# HELP whatsapi_messages Messages stored, by status (queue depth for queued, scheduled, retrying, processing).\n");
        out.push_str("# TYPE whatsapi_messages gauge\n");
        match api.queue_depth().await {
            Ok(counts) => {
                for st in whatsapi_core::Status::ALL {
                    let n = counts.get(&st).copied().unwrap_or(0);
                    let _ = writeln!(out, "whatsapi_messages{{status=\"{st}\"}} {n}");
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: queue depth unavailable"),
        }
        render_operations(&mut out, api).await;
        render_process(&mut out);
        let stats = api.stats();
        out.push_str("# HELP whatsapi_sends_total Calls to Meta's send API by result (dry runs make no call).\n");
        out.push_str("# TYPE whatsapi_sends_total counter\n");
        for (result, n) in &stats.sends {
            let _ = writeln!(out, "whatsapi_sends_total{{result=\"{result}\"}} {n}");
        }
        out.push_str(
            "# HELP whatsapi_send_duration_seconds Time of one call to Meta's send API.\n",
        );
        out.push_str("# TYPE whatsapi_send_duration_seconds histogram\n");
        for (le, n) in &stats.send_latency_buckets {
            let _ = writeln!(
                out,
                "whatsapi_send_duration_seconds_bucket{{le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "whatsapi_send_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            stats.send_latency_count
        );
        let _ = writeln!(
            out,
            "whatsapi_send_duration_seconds_sum {}",
            stats.send_latency_sum
        );
        let _ = writeln!(
            out,
            "whatsapi_send_duration_seconds_count {}",
            stats.send_latency_count
        );
        out.push_str("# HELP whatsapi_webhook_deliveries_total Customer webhook delivery attempts by result.\n");
        out.push_str("# TYPE whatsapi_webhook_deliveries_total counter\n");
        for (result, n) in &stats.webhooks {
            let _ = writeln!(
                out,
                "whatsapi_webhook_deliveries_total{{result=\"{result}\"}} {n}"
            );
        }
        out
    }
}

/// Build info, the age of the earliest-due message, the customer-webhook backlog, open breakers and whether the
/// engine runs.
async fn render_operations(out: &mut String, api: &WhatsApi) {
    out.push_str("# HELP whatsapi_build_info The running build; the value is always 1.\n");
    out.push_str("# TYPE whatsapi_build_info gauge\n");
    let _ = writeln!(
        out,
        "whatsapi_build_info{{version=\"{}\"}} 1",
        escape(env!("CARGO_PKG_VERSION"))
    );
    match api.oldest_due_age().await {
        Ok(age) => {
            out.push_str("# HELP whatsapi_queue_oldest_due_age_seconds How long the earliest-due message (queued since it was queued, or scheduled, retrying, or with an expired lease) has waited to be sent; 0 when none is due.\n");
            out.push_str("# TYPE whatsapi_queue_oldest_due_age_seconds gauge\n");
            let secs = age.map(|a| a.as_secs_f64()).unwrap_or(0.0);
            let _ = writeln!(out, "whatsapi_queue_oldest_due_age_seconds {secs}");
        }
        Err(e) => tracing::warn!(error = %e, "metrics: oldest due message unavailable"),
    }
    match api.outbox_backlog().await {
        Ok((pending, age)) => {
            out.push_str("# HELP whatsapi_outbox_pending_events Customer webhook events not delivered yet (due, in flight or retrying; neither delivered nor given up).\n");
            out.push_str("# TYPE whatsapi_outbox_pending_events gauge\n");
            let _ = writeln!(out, "whatsapi_outbox_pending_events {pending}");
            out.push_str("# HELP whatsapi_outbox_oldest_age_seconds How long ago the status of the first undelivered customer webhook event changed; 0 when none waits.\n");
            out.push_str("# TYPE whatsapi_outbox_oldest_age_seconds gauge\n");
            let secs = age.map(|a| a.as_secs_f64()).unwrap_or(0.0);
            let _ = writeln!(out, "whatsapi_outbox_oldest_age_seconds {secs}");
        }
        Err(e) => tracing::warn!(error = %e, "metrics: outbox backlog unavailable"),
    }
    out.push_str("# HELP whatsapi_breakers_open Accounts whose circuit breaker is open, as this process knows.\n");
    out.push_str("# TYPE whatsapi_breakers_open gauge\n");
    let _ = writeln!(out, "whatsapi_breakers_open {}", api.open_breakers());
    out.push_str(
        "# HELP whatsapi_engine_running 1 while the engine dispatches messages, else 0.\n",
    );
    out.push_str("# TYPE whatsapi_engine_running gauge\n");
    let _ = writeln!(
        out,
        "whatsapi_engine_running {}",
        u8::from(api.engine_running())
    );
}

/// The process's resident memory, CPU time and open file descriptors, read from `/proc/self` (Linux; elsewhere
/// nothing is written).
fn render_process(out: &mut String) {
    let Some(p) = ProcessStats::read() else {
        return;
    };
    out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
    out.push_str("# TYPE process_resident_memory_bytes gauge\n");
    let _ = writeln!(out, "process_resident_memory_bytes {}", p.rss_bytes);
    out.push_str(
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n",
    );
    out.push_str("# TYPE process_cpu_seconds_total counter\n");
    let _ = writeln!(out, "process_cpu_seconds_total {}", p.cpu_seconds);
    out.push_str("# HELP process_open_fds Number of open file descriptors.\n");
    out.push_str("# TYPE process_open_fds gauge\n");
    let _ = writeln!(out, "process_open_fds {}", p.open_fds);
}

/// Figures of this process from `/proc/self`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// Resident set size.
    pub rss_bytes: u64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux architecture).
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    /// Reads `/proc/self`; `None` where it does not exist.
    pub fn read() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(Self {
            rss_bytes: rss_from_status(&status)?,
            cpu_seconds: cpu_from_stat(&stat)?,
            open_fds,
        })
    }
}

/// `VmRSS:  1234 kB` of `/proc/self/status`, in bytes.
fn rss_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `utime + stime` (fields 14 and 15) of `/proc/self/stat`, in seconds. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn cpu_from_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Counts requests by route template, method and status, and times them. Every label has a bounded set of values
/// (no raw path, no client-chosen method).
pub async fn track(
    State(metrics): State<std::sync::Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics.observe_request(&route, method, resp.status().as_u16(), started.elapsed());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        assert_eq!(
            rss_from_status("Name:\tx\nVmRSS:\t   2048 kB\nThreads: 3\n"),
            Some(2048 * 1024)
        );
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1 1 1";
        assert_eq!(cpu_from_stat(stat), Some(3.0));
        #[cfg(target_os = "linux")]
        {
            let p = ProcessStats::read().unwrap();
            assert!(p.rss_bytes > 1024 * 1024, "{p:?}");
            assert!(p.open_fds >= 3, "{p:?}");
        }
    }
}
