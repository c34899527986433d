//! Prometheus metrics in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

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
