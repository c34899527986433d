//! A small client of the whatsapi HTTP API for the command line: bearer auth, and patience with 429/503.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where the server is and who we are.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Base URL of the whatsapi server.
    #[arg(long, env = "WHATSAPI_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
    /// API key (sk_live_…).
    #[arg(long, env = "WHATSAPI_KEY", hide_env_values = true)]
    pub api_key: String,
}

/// An answer of the API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body (`Null` when there was none).
    pub body: Value,
    /// `Idempotency-Replayed: true` was set.
    pub replayed: bool,
}

/// Ctrl-C, as seen by a running command: waits stop at once; a request already sent is still answered.
#[derive(Debug, Default)]
pub struct Interrupt {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Interrupt {
    /// Marks the command interrupted and wakes every wait.
    pub fn raise(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether Ctrl-C was pressed.
    pub fn raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, or less when interrupted; says whether the sleep ran to its end.
    pub async fn sleep(&self, d: Duration) -> bool {
        let notified = self.notify.notified();
        if self.raised() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => !self.raised(),
            () = notified => false,
        }
    }

    /// Raises on the first Ctrl-C; the second one exits at once with status 130.
    pub fn on_ctrl_c(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "interrupted: waiting for the answer to the request in flight (Ctrl-C again to quit now)"
                );
                me.raise();
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    }
}

/// The error of a command stopped by Ctrl-C before a request was sent.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// The client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    /// Longest single wait for a rate limit or a paused account.
    pub max_wait: Duration,
    /// Ctrl-C.
    pub interrupt: Arc<Interrupt>,
    /// Where waits are shown ("waiting N s (rate limit)"), counting down; `None` prints one line per wait on
    /// stderr when `show_waits` is set.
    pub bar: Option<ProgressBar>,
    /// Say on stderr when waiting (when no bar is drawn).
    pub show_waits: bool,
}

/// Most times one request is tried again after 429/503 before giving up.
const MAX_RETRIES: u32 = 20;

impl Client {
    /// A client for `args`.
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: args.api_url.trim_end_matches('/').to_owned(),
            key: args.api_key.trim().to_owned(),
            max_wait: Duration::from_secs(120),
            interrupt: Arc::default(),
            bar: None,
            show_waits: true,
        })
    }

    /// Waits `wait` because the server asked to (`why`), counting down on the bar; `Err(Interrupted)` on Ctrl-C.
    async fn pause(&self, wait: Duration, why: &str) -> anyhow::Result<()> {
        let secs = wait.as_secs().max(1);
        let drawn = self.bar.as_ref().filter(|b| !b.is_hidden());
        if drawn.is_none() && self.show_waits {
            eprintln!("waiting {secs} s ({why})");
        }
        let before = drawn.map(|b| b.message());
        for left in (1..=secs).rev() {
            if let Some(b) = drawn {
                b.set_message(format!("waiting {left} s ({why})"));
            }
            if !self.interrupt.sleep(Duration::from_secs(1)).await {
                return Err(Interrupted.into());
            }
        }
        if let (Some(b), Some(m)) = (drawn, before) {
            b.set_message(m);
        }
        Ok(())
    }

    /// Sends a request; waits and tries again on 429 and 503 as their `Retry-After` says, and pauses before the
    /// next request when `X-RateLimit-Remaining` reached 0.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{}", self.base, path);
        for _ in 0..=MAX_RETRIES {
            if self.interrupt.raised() {
                return Err(Interrupted.into());
            }
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.key);
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(k) = idempotency_key {
                req = req.header("idempotency-key", k);
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.base))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let header_u64 = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            let replayed = headers
                .get("idempotency-replayed")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let text = resp.text().await.unwrap_or_default();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                let wait = Duration::from_secs(header_u64("retry-after").unwrap_or(5).max(1))
                    .min(self.max_wait);
                let why = if status == StatusCode::TOO_MANY_REQUESTS {
                    "rate limit"
                } else {
                    "server paused sending"
                };
                self.pause(wait, why).await?;
                continue;
            }
            if header_u64("x-ratelimit-remaining") == Some(0) {
                if let Some(reset) = header_u64("x-ratelimit-reset") {
                    let now = chrono::Utc::now().timestamp().max(0) as u64;
                    let wait =
                        Duration::from_secs(reset.saturating_sub(now).max(1)).min(self.max_wait);
                    let answer = Answer {
                        status,
                        body,
                        replayed,
                    };
                    // The answer is in hand: an interrupted wait still returns it.
                    let _ = self.pause(wait, "rate limit").await;
                    return Ok(answer);
                }
            }
            return Ok(Answer {
                status,
                body,
                replayed,
            });
        }
        bail!("{method} {path}: the server kept answering 429/503; try again later")
    }

    /// Like [`call`](Self::call), but a non-2xx answer is an error carrying the server's message.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let answer = self
            .call(method.clone(), path, body, idempotency_key)
            .await?;
        if !answer.status.is_success() {
            return Err(anyhow!("{method} {path}: {}", describe_error(&answer)));
        }
        Ok(answer)
    }
}

/// `HTTP 400: message (field: why; …)`.
pub fn describe_error(answer: &Answer) -> String {
    let message = answer.body["error"].as_str().unwrap_or("no message");
    let details: Vec<String> = answer.body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["field"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if details.is_empty() {
        format!("HTTP {}: {message}", answer.status.as_u16())
    } else {
        format!(
            "HTTP {}: {message} ({})",
            answer.status.as_u16(),
            details.join("; ")
        )
    }
}
