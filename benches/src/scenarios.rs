//! The scenarios of `bench-all`, each measured together with its baseline in the same run, so the result is a
//! ratio that survives a noisy machine.
//!
//! Everything runs in one process on loopback: the servers on one Tokio runtime ([`Env::server`], 2 workers),
//! the load generator and the customer's webhook receiver on another ([`Env::load`], 2 workers), as two
//! processes on the same machine would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use whatsapi_core::encryption::{EncryptingStore, EncryptionKey, KeyRing};
use whatsapi_core::graph::{GraphConfig, GraphTransport};
use whatsapi_core::testing::FakeTransport;
use whatsapi_core::webhook::WebhookUrlPolicy;
use whatsapi_core::webhook_http::{HttpSinkConfig, HttpWebhookSink};
use whatsapi_core::{
    Account, EngineConfig, MetaTransport, OutgoingMessage, PhoneNumber, Status, Store, WhatsApi,
};
use whatsapi_core::{MessageContent, MessageId};
use whatsapi_saas::{PlanLimits, PlanTable, Product};
use whatsapi_sandbox::{Sandbox, SandboxConfig, StatusDelays};
use whatsapi_server::HttpSettings;
use whatsapi_store_sqlite::SqliteStore;

use crate::load::{self, LoadReport, LoadSpec, request_fn};

/// Secret of the Meta webhooks (server-wide setting and the sandbox's signing secret).
pub const APP_SECRET: &str = "bench-app-secret";
/// The sandbox's default business number and its token.
pub const PHONE_NUMBER_ID: &str = "1234567890";
/// Token of [`PHONE_NUMBER_ID`] in the sandbox.
pub const ACCESS_TOKEN: &str = "sandbox-token";
/// Body of every `POST /send-message`.
pub const SEND_BODY: &str =
    r#"{"to":"14155552671","message":"Your order #1234 has shipped and will arrive on Tuesday."}"#;
/// What the bare baseline handler answers (the shape of the real 202).
const CANNED_202: &str = r#"{"success":true,"data":{"id":"0198a0f4-0000-7000-8000-000000000000","status":"queued","scheduledFor":null}}"#;

/// The two runtimes: servers on one, load on the other.
#[derive(Debug)]
pub struct Env {
    /// Servers (whatsapi, the bare baseline, the sandbox).
    pub server: Runtime,
    /// The load generator and the customer webhook receiver.
    pub load: Runtime,
}

impl Env {
    /// Two multi-thread runtimes of `workers` threads each.
    pub fn new(workers: usize) -> anyhow::Result<Self> {
        let build = |name: &str| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name(name)
                .enable_all()
                .build()
        };
        Ok(Self {
            server: build("server")?,
            load: build("load")?,
        })
    }
}

/// Sizes of one run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sizes {
    /// Closed-loop workers of the accept scenario.
    pub accept_concurrency: usize,
    /// Most requests of each accept measurement.
    pub accept_requests: u64,
    /// Longest accept measurement.
    pub accept_seconds: f64,
    /// Messages sent through the sandbox (and requests of its baseline).
    pub sandbox_messages: u64,
    /// Messages sent through the fake transport.
    pub fake_messages: u64,
    /// Engine `concurrency` for the dispatch via the sandbox (and workers of its reqwest baseline).
    pub dispatch_concurrency: usize,
    /// Engine `concurrency` for the dispatch via the fake transport (the cost is the store's, per claim and per
    /// commit: more in flight amortises them).
    pub fake_concurrency: usize,
    /// Engine `dispatch_batch`.
    pub dispatch_batch: usize,
    /// Open-loop rate of the end-to-end scenario.
    pub e2e_rate: f64,
    /// Length of the end-to-end scenario.
    pub e2e_seconds: f64,
    /// Messages of the producers scenario (and jobs of its BullMQ baseline).
    pub producer_messages: u64,
    /// Concurrent producers calling `WhatsApi::send` (and adding BullMQ jobs).
    pub producers: usize,
}

impl Sizes {
    /// The sizes `bench-all` uses by default (one run takes about a minute).
    pub fn standard() -> Self {
        Self {
            accept_concurrency: 64,
            accept_requests: 100_000,
            accept_seconds: 5.0,
            sandbox_messages: 10_000,
            fake_messages: 50_000,
            dispatch_concurrency: 64,
            fake_concurrency: 1024,
            dispatch_batch: 256,
            e2e_rate: 1000.0,
            e2e_seconds: 10.0,
            producer_messages: 50_000,
            producers: 64,
        }
    }

    /// A fraction of the standard sizes, for a smoke run.
    pub fn quick() -> Self {
        Self {
            accept_requests: 5_000,
            accept_seconds: 1.0,
            sandbox_messages: 1_000,
            fake_messages: 5_000,
            e2e_seconds: 2.0,
            producer_messages: 5_000,
            ..Self::standard()
        }
    }
}

/// VmRSS of this process in KiB (servers and generator together).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A keep-alive HTTP/1.1 client for the generator, without proxies.
pub fn client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client builds")
}

/// Which Meta the gateway talks to.
#[derive(Debug, Clone)]
pub enum Meta {
    /// The in-process `FakeTransport` (accepts everything at once).
    Fake,
    /// `GraphTransport` over HTTP to a sandbox at this base URL.
    Graph(String),
}

/// How the engine and the HTTP server of a [`Gateway`] start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// `whatsapi_server::run::serve_on`: HTTP server and engine at once, as `whatsapi serve` does.
    ServeOn,
    /// The same router without the engine; the caller starts it with [`WhatsApi::start`] when it wants.
    RouterOnly,
}

/// A whatsapi server on an ephemeral loopback port: SQLite in a temporary directory behind `EncryptingStore` (as
/// `whatsapi serve` runs), one account with Meta credentials and a rate limit raised for the bench (a `PlanTable`
/// override).
pub struct Gateway {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The library behind the server.
    pub api: WhatsApi,
    /// The product over it (registration, keys, plans).
    pub product: Product,
    /// `Bearer` key of the account.
    pub key: String,
    /// The account.
    pub account: Account,
    /// The fake transport (used with [`Meta::Fake`]).
    pub fake: FakeTransport,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("base", &self.base).finish()
    }
}

impl Gateway {
    /// Builds and starts one on the current runtime.
    pub async fn start(meta: Meta, engine: EngineConfig, start: Start) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        // As `whatsapi serve` opens it: SQLite behind the encryption of secrets at rest.
        let sqlite = Arc::new(SqliteStore::open(dir.path().join("whatsapi.db"))?);
        let store: Arc<dyn Store> = Arc::new(EncryptingStore::new(
            sqlite.clone(),
            KeyRing::new(EncryptionKey::generate()),
        ));
        let fake = FakeTransport::new();
        let transport: Arc<dyn MetaTransport> = match &meta {
            Meta::Fake => Arc::new(fake.clone()),
            Meta::Graph(base) => Arc::new(
                GraphTransport::new(GraphConfig {
                    base_url: base.clone(),
                    timeout: Duration::from_secs(10),
                    ..GraphConfig::default()
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
        };
        let sink = HttpWebhookSink::new(HttpSinkConfig {
            urls: WebhookUrlPolicy::development(),
            timeout: Duration::from_secs(10),
        })
        .map_err(|e| anyhow::anyhow!(e))?;
        // The bench account must not be throttled: the per-key rate limit is raised for its plan.
        let unthrottled = PlanLimits {
            requests_per_minute: 1_000_000_000,
            bulk_cap: 1000,
            ..whatsapi_saas::Plan::Free.default_limits()
        };
        let plans = PlanTable {
            free: unthrottled,
            ..PlanTable::default()
        };
        let api = WhatsApi::builder()
            .store(store)
            .transport(transport)
            .webhook_sink(Arc::new(sink))
            .config(EngineConfig {
                webhook_urls: WebhookUrlPolicy::development(),
                ..engine
            })
            .build()?;
        let product = Product::new(api.clone(), sqlite, plans);
        let registered = product.register("Bench", "bench@example.com").await?;
        let id = registered.account.account.id;
        api.set_credentials(
            id,
            whatsapi_core::MetaCredentials {
                waba_id: None,
                verify_token_hash: None,
                access_token: ACCESS_TOKEN.into(),
                phone_number_id: PHONE_NUMBER_ID.into(),
                app_secret: None,
                verify_token: None,
                throughput_per_second: None,
            },
        )
        .await?;
        let account = api.me(id).await?;
        let settings = HttpSettings {
            meta_app_secret: Some(APP_SECRET.into()),
            meta_verify_token: Some("bench-verify-token".into()),
            register_per_minute: 1_000_000,
            ..HttpSettings::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = match start {
            Start::ServeOn => {
                let product = product.clone();
                tokio::spawn(async move {
                    if let Err(e) = whatsapi_server::run::serve_on(
                        listener,
                        product,
                        settings,
                        shutdown,
                        Duration::from_secs(2),
                    )
                    .await
                    {
                        eprintln!("server stopped: {e:#}");
                    }
                })
            }
            Start::RouterOnly => {
                let state = whatsapi_server::AppState::new(product.clone(), settings);
                tokio::spawn(async move {
                    let app = whatsapi_server::app(state)
                        .into_make_service_with_connect_info::<SocketAddr>();
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                    {
                        eprintln!("server stopped: {e}");
                    }
                })
            }
        };
        Ok(Self {
            base: format!("http://{addr}"),
            api,
            product,
            key: registered.api_key.expose().to_owned(),
            account,
            fake,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        })
    }

    /// Stops the HTTP server (and the engine, if `serve_on` started it).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }

    /// Writes `count` queued text messages straight into the store, 1,000 per batch.
    pub async fn preload(&self, count: u64) -> anyhow::Result<()> {
        let mut left = count;
        while left > 0 {
            let n = left.min(1000);
            let messages = (0..n)
                .map(|_| crate::text_message(self.account.id))
                .collect();
            self.api
                .store()
                .insert_messages(whatsapi_core::store::NewBatch {
                    account_id: self.account.id,
                    messages,
                    idempotency: None,
                })
                .await?;
            left -= n;
        }
        Ok(())
    }

    /// Messages with this status over the whole store (the store's counters).
    pub async fn count(&self, status: Status) -> anyhow::Result<u64> {
        Ok(self
            .api
            .queue_depth()
            .await?
            .get(&status)
            .copied()
            .unwrap_or(0))
    }
}

/// Starts a bare axum server that answers every `POST /send-message` with a canned `202` (after reading the
/// body): the ceiling of HTTP on this machine with this generator.
pub async fn bare_server() -> anyhow::Result<(String, oneshot::Sender<()>)> {
    let app = axum::Router::new().route(
        "/send-message",
        axum::routing::post(|_body: Bytes| async {
            (
                StatusCode::ACCEPTED,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                CANNED_202,
            )
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((format!("http://{addr}"), stop))
}

/// `POST {base}/send-message` with the bench body; `Ok` on `202`.
fn send_requests(client: reqwest::Client, url: String, key: String) -> load::RequestFn {
    let auth = format!("Bearer {key}");
    request_fn(move |_| {
        let req = client
            .post(&url)
            .header("content-type", "application/json")
            .header("authorization", &auth)
            .body(SEND_BODY);
        async move {
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| e.to_string())?;
            if status == StatusCode::ACCEPTED {
                Ok(())
            } else {
                Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
            }
        }
    })
}

/// Accept: `POST /send-message` on whatsapi against the bare handler.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptFigures {
    /// Bare axum, closed loop.
    pub bare: LoadReport,
    /// whatsapi, closed loop.
    pub server: LoadReport,
    /// whatsapi, open loop at half of `server.throughput`.
    pub server_half_rate: LoadReport,
    /// `server.throughput / bare.throughput`.
    pub ratio: f64,
    /// VmRSS before the load (KiB).
    pub rss_idle_kib: u64,
    /// Highest VmRSS seen during the load (KiB).
    pub rss_load_kib: u64,
}

/// Samples VmRSS every 50 ms until stopped; answers the highest value.
fn rss_sampler() -> (oneshot::Sender<()>, JoinHandle<u64>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut peak = rss_kib();
        // Bounded: stops with the scenario, at the latest after ten minutes.
        for _ in 0..12_000 {
            peak = peak.max(rss_kib());
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        peak.max(rss_kib())
    });
    (stop, task)
}

/// Runs the accept scenario.
pub fn accept(env: &Env, sizes: &Sizes) -> anyhow::Result<AcceptFigures> {
    let (bare_url, bare_stop) = env.server.block_on(bare_server())?;
    // The server as `whatsapi serve` runs it: engine on, default pacing (80/s per number), so the dispatcher
    // works in the background as it would.
    let gateway = env.server.block_on(Gateway::start(
        Meta::Fake,
        EngineConfig::default(),
        Start::ServeOn,
    ))?;
    let duration = Duration::from_secs_f64(sizes.accept_seconds);
    let closed = LoadSpec::closed(sizes.accept_concurrency, sizes.accept_requests, duration);
    let send_url = format!("{}/send-message", gateway.base);
    let key = gateway.key.clone();
    let figures = env.load.block_on(async {
        let client = client(sizes.accept_concurrency * 2);
        // Warm both (connections, page cache, allocator).
        let warm = LoadSpec::closed(8, 500, Duration::from_secs(2));
        load::run(
            warm,
            send_requests(
                client.clone(),
                format!("{bare_url}/send-message"),
                key.clone(),
            ),
        )
        .await;
        load::run(
            warm,
            send_requests(client.clone(), send_url.clone(), key.clone()),
        )
        .await;
        let rss_idle_kib = rss_kib();
        let bare = load::run(
            closed,
            send_requests(
                client.clone(),
                format!("{bare_url}/send-message"),
                key.clone(),
            ),
        )
        .await;
        let (stop_rss, peak) = rss_sampler();
        let server = load::run(
            closed,
            send_requests(client.clone(), send_url.clone(), key.clone()),
        )
        .await;
        let half = (server.throughput / 2.0).max(1.0);
        let open = LoadSpec::open(
            half,
            1024,
            (half * sizes.accept_seconds).ceil() as u64,
            duration,
        );
        let server_half_rate = load::run(open, send_requests(client, send_url, key)).await;
        let _ = stop_rss.send(());
        let rss_load_kib = peak.await.unwrap_or(0);
        AcceptFigures {
            ratio: server.throughput / bare.throughput.max(1e-9),
            bare,
            server,
            server_half_rate,
            rss_idle_kib,
            rss_load_kib,
        }
    });
    let _ = bare_stop.send(());
    env.server.block_on(gateway.stop());
    Ok(figures)
}

/// Dispatch: messages from `queued` to `sent`.
#[derive(Debug, Clone, Serialize)]
pub struct DispatchFigures {
    /// Messages (and baseline requests).
    pub messages: u64,
    /// Plain reqwest loop to the sandbox, requests/s (absent for the fake transport).
    pub baseline_per_s: Option<f64>,
    /// Engine, messages/s from start to the last `sent`.
    pub engine_per_s: f64,
    /// `engine_per_s / baseline_per_s`.
    pub ratio: Option<f64>,
}

/// Starts the engine on the current runtime and waits (bounded) until `count` messages are `sent`; answers
/// messages per second.
async fn drain_queue(
    gateway: &Gateway,
    count: u64,
) -> anyhow::Result<(f64, whatsapi_core::EngineHandle)> {
    let start = Instant::now();
    let engine = gateway.api.start();
    let rate = wait_for_sent(gateway, count, start).await?;
    Ok((rate, engine))
}

/// Waits (at most 120 s after `start`) until the store counts `count` messages `sent`; answers messages per
/// second since `start`.
async fn wait_for_sent(gateway: &Gateway, count: u64, start: Instant) -> anyhow::Result<f64> {
    let limit = start + Duration::from_secs(120);
    loop {
        let sent = gateway.count(Status::Sent).await?;
        if sent >= count {
            return Ok(count as f64 / start.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            Instant::now() < limit,
            "only {sent} of {count} messages sent after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn dispatch_engine_config(sizes: &Sizes, concurrency: usize) -> EngineConfig {
    EngineConfig {
        pace_per_second: 0,
        concurrency,
        dispatch_batch: sizes.dispatch_batch,
        ..EngineConfig::default()
    }
}

/// Runs the dispatch scenario through the sandbox over HTTP.
pub fn dispatch_sandbox(env: &Env, sizes: &Sizes) -> anyhow::Result<DispatchFigures> {
    let sandbox = env.server.block_on(Sandbox::start(SandboxConfig {
        app_secret: APP_SECRET.into(),
        delays: StatusDelays::IMMEDIATE,
        ..SandboxConfig::default()
    }))?;
    let base = sandbox.base_url();
    let n = sizes.sandbox_messages;

    // Baseline: the same Graph requests, posted by a plain reqwest loop with as many workers as the engine has.
    let url = format!("{base}/v23.0/{PHONE_NUMBER_ID}/messages");
    let baseline = env.load.block_on(async {
        let client = client(sizes.dispatch_concurrency * 2);
        let to = PhoneNumber::parse("14155552671").expect("valid constant");
        let f = request_fn(move |_| {
            let body = whatsapi_core::graph::message_body(&OutgoingMessage {
                message_id: MessageId::new(),
                to: to.clone().into(),
                content: MessageContent::Text {
                    body: "Your order #1234 has shipped and will arrive on Tuesday.".into(),
                },
                reply_to: None,
            });
            let req = client.post(&url).bearer_auth(ACCESS_TOKEN).json(&body);
            async move {
                let resp = req.send().await.map_err(|e| e.to_string())?;
                let status = resp.status();
                let body = resp.bytes().await.map_err(|e| e.to_string())?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
                }
            }
        });
        load::run(
            LoadSpec::closed(sizes.dispatch_concurrency, n, Duration::from_secs(120)),
            f,
        )
        .await
    });
    anyhow::ensure!(
        baseline.errors == 0,
        "sandbox baseline errors: {:?}",
        baseline.first_error
    );

    let engine_per_s = env.server.block_on(async {
        let gateway = Gateway::start(
            Meta::Graph(base.clone()),
            dispatch_engine_config(sizes, sizes.dispatch_concurrency),
            Start::RouterOnly,
        )
        .await?;
        gateway.preload(n).await?;
        let (rate, engine) = drain_queue(&gateway, n).await?;
        engine.shutdown(Duration::from_secs(2)).await;
        gateway.stop().await;
        anyhow::Ok(rate)
    })?;
    env.server.block_on(sandbox.shutdown());
    Ok(DispatchFigures {
        messages: n,
        baseline_per_s: Some(baseline.throughput),
        engine_per_s,
        ratio: Some(engine_per_s / baseline.throughput.max(1e-9)),
    })
}

/// Ingest: signed Meta status webhooks, 100 statuses per POST.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    /// POSTs sent.
    pub posts: LoadReport,
    /// Statuses the server reported as applied.
    pub applied: u64,
    /// Applied statuses per second.
    pub statuses_per_s: f64,
}

/// Runs the dispatch scenario through the fake transport, then the ingest scenario on the same server with the
/// wamids it produced.
pub fn dispatch_fake_and_ingest(
    env: &Env,
    sizes: &Sizes,
) -> anyhow::Result<(DispatchFigures, IngestFigures)> {
    let n = sizes.fake_messages;
    let (gateway, engine, engine_per_s) = env.server.block_on(async {
        let gateway = Gateway::start(
            Meta::Fake,
            dispatch_engine_config(sizes, sizes.fake_concurrency),
            Start::RouterOnly,
        )
        .await?;
        gateway.preload(n).await?;
        let (rate, engine) = drain_queue(&gateway, n).await?;
        anyhow::Ok((gateway, engine, rate))
    })?;
    let dispatch = DispatchFigures {
        messages: n,
        baseline_per_s: None,
        engine_per_s,
        ratio: None,
    };

    // Ingest: every wamid the fake gave out becomes `delivered`, 100 per signed POST.
    let wamids: Vec<String> = gateway
        .fake
        .sent()
        .into_iter()
        .filter_map(|r| r.wamid)
        .collect();
    let ts = chrono::Utc::now().timestamp().to_string();
    let bodies: Arc<Vec<(Bytes, String)>> = Arc::new(
        wamids
            .chunks(100)
            .map(|chunk| {
                let statuses: Vec<Value> = chunk
                    .iter()
                    .map(|w| json!({"id": w, "status": "delivered", "timestamp": ts, "recipient_id": "14155552671"}))
                    .collect();
                let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
                    "field": "messages",
                    "value": {"messaging_product": "whatsapp",
                              "metadata": {"display_phone_number": "15550001234", "phone_number_id": PHONE_NUMBER_ID},
                              "statuses": statuses}}]}]});
                let raw = serde_json::to_vec(&body).expect("JSON serializes");
                let sig = whatsapi_core::meta::sign(APP_SECRET.as_bytes(), &raw);
                (Bytes::from(raw), sig)
            })
            .collect(),
    );
    let url = format!("{}/webhooks/whatsapp", gateway.base);
    let applied = Arc::new(AtomicU64::new(0));
    let posts = env.load.block_on({
        let applied = applied.clone();
        let bodies = bodies.clone();
        async move {
            let client = client(8);
            let count = bodies.len() as u64;
            let f = request_fn(move |i| {
                let (raw, sig) = bodies[i as usize].clone();
                let req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sig)
                    .body(raw);
                let applied = applied.clone();
                async move {
                    let resp = req.send().await.map_err(|e| e.to_string())?;
                    let status = resp.status();
                    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
                    if status != StatusCode::OK {
                        return Err(format!("{status}: {v}"));
                    }
                    applied.fetch_add(
                        v["data"]["applied"].as_u64().unwrap_or(0),
                        Ordering::Relaxed,
                    );
                    Ok(())
                }
            });
            load::run(LoadSpec::closed(4, count, Duration::from_secs(120)), f).await
        }
    });
    let applied = applied.load(Ordering::Relaxed);
    env.server.block_on(async {
        engine.shutdown(Duration::from_secs(2)).await;
        gateway.stop().await;
    });
    let ingest = IngestFigures {
        statuses_per_s: applied as f64 / posts.elapsed_s,
        posts,
        applied,
    };
    Ok((dispatch, ingest))
}

/// End to end: from the `202` to the customer webhook reporting `delivered`.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEndFigures {
    /// The sends (open loop).
    pub sends: LoadReport,
    /// Messages whose `delivered` webhook arrived.
    pub delivered: u64,
    /// Median time from 202 to the `delivered` webhook.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Highest VmRSS seen (KiB).
    pub rss_load_kib: u64,
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// The customer's webhook receiver: records when `delivered` arrived for each message id.
async fn receiver(arrivals: Arrivals) -> anyhow::Result<(String, oneshot::Sender<()>)> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let now = Instant::now();
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    if v["data"]["status"] == "delivered" {
                        if let Some(id) = v["data"]["messageId"].as_str() {
                            arrivals
                                .lock()
                                .expect("arrivals lock")
                                .insert(id.to_owned(), now);
                        }
                    }
                }
                StatusCode::OK
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((format!("http://{addr}/hook"), stop))
}

/// Runs the end-to-end scenario: open loop at `sizes.e2e_rate`, sandbox with `sent` and `delivered` at once.
pub fn end_to_end(env: &Env, sizes: &Sizes) -> anyhow::Result<EndToEndFigures> {
    let arrivals: Arrivals = Arc::default();
    let accepted: Arrivals = Arc::default();
    let (hook_url, hook_stop) = env.load.block_on(receiver(arrivals.clone()))?;
    let (sandbox, gateway) = env.server.block_on(async {
        let sandbox = Sandbox::start(SandboxConfig {
            app_secret: APP_SECRET.into(),
            // `sent` and `delivered` at once, in one webhook; `read` much later (after the run).
            delays: StatusDelays {
                sent: Duration::ZERO,
                delivered: Duration::ZERO,
                read: Duration::from_secs(3600),
            },
            ..SandboxConfig::default()
        })
        .await?;
        let gateway = Gateway::start(
            Meta::Graph(sandbox.base_url()),
            EngineConfig {
                pace_per_second: 0,
                concurrency: 64,
                ..EngineConfig::default()
            },
            Start::ServeOn,
        )
        .await?;
        sandbox.set_callback_url(Some(format!("{}/webhooks/whatsapp", gateway.base)));
        gateway
            .api
            .set_webhook(gateway.account.id, &hook_url)
            .await?;
        anyhow::Ok((sandbox, gateway))
    })?;
    let send_url = format!("{}/send-message", gateway.base);
    let auth = format!("Bearer {}", gateway.key);
    let total = (sizes.e2e_rate * sizes.e2e_seconds).ceil() as u64;
    let (sends, rss_load_kib) = env.load.block_on({
        let accepted = accepted.clone();
        let arrivals = arrivals.clone();
        async move {
            let client = client(256);
            let (stop_rss, peak) = rss_sampler();
            let f = request_fn(move |_| {
                let req = client
                    .post(&send_url)
                    .header("content-type", "application/json")
                    .header("authorization", &auth)
                    .body(SEND_BODY);
                let accepted = accepted.clone();
                async move {
                    let resp = req.send().await.map_err(|e| e.to_string())?;
                    let status = resp.status();
                    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
                    let at = Instant::now();
                    if status != StatusCode::ACCEPTED {
                        return Err(format!("{status}: {v}"));
                    }
                    let id = v["data"]["id"]
                        .as_str()
                        .context("no id")
                        .map_err(|e| e.to_string())?;
                    accepted
                        .lock()
                        .expect("accepted lock")
                        .insert(id.to_owned(), at);
                    Ok(())
                }
            });
            let spec = LoadSpec::open(
                sizes.e2e_rate,
                1024,
                total,
                Duration::from_secs_f64(sizes.e2e_seconds),
            );
            let sends = load::run(spec, f).await;
            // Wait (bounded) for the last deliveries.
            let limit = Instant::now() + Duration::from_secs(30);
            while arrivals.lock().expect("arrivals lock").len() < sends.ok as usize
                && Instant::now() < limit
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = stop_rss.send(());
            (sends, peak.await.unwrap_or(0))
        }
    });
    let mut latencies: Vec<u64> = {
        let accepted = accepted.lock().expect("accepted lock");
        let arrivals = arrivals.lock().expect("arrivals lock");
        accepted
            .iter()
            .filter_map(|(id, at)| {
                arrivals
                    .get(id)
                    .map(|d| d.saturating_duration_since(*at).as_micros() as u64)
            })
            .collect()
    };
    latencies.sort_unstable();
    let _ = hook_stop.send(());
    env.server.block_on(async {
        gateway.stop().await;
        sandbox.shutdown().await;
    });
    Ok(EndToEndFigures {
        sends,
        delivered: latencies.len() as u64,
        p50_ms: load::percentile_ms(&latencies, 0.50),
        p99_ms: load::percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |&u| u as f64 / 1000.0),
        rss_load_kib,
    })
}

/// In-process producers: an embedding application's tasks calling `send` while the engine runs.
#[derive(Debug, Clone, Serialize)]
pub struct ProducerFigures {
    /// Messages sent.
    pub messages: u64,
    /// Concurrent producers.
    pub producers: usize,
    /// whatsapi: messages per second from the first `send` to the last `sent` recorded.
    pub engine_per_s: f64,
    /// BullMQ on Redis (AOF `appendfsync always`), jobs per second from the first add to the last completion;
    /// absent when Node.js or redis-server is missing (see `baseline_note`).
    pub bullmq_per_s: Option<f64>,
    /// `engine_per_s / bullmq_per_s`.
    pub ratio: Option<f64>,
    /// Why there is no baseline, or what it ran.
    pub baseline_note: String,
}

/// Runs the producers scenario: `sizes.producers` tasks of this process call [`WhatsApi::send`] (each awaiting
/// its durable insert) for `sizes.producer_messages` messages in all while the engine sends them through the
/// fake transport; then the same workload on BullMQ.
pub fn producers(env: &Env, sizes: &Sizes) -> anyhow::Result<ProducerFigures> {
    let n = sizes.producer_messages;
    let p = sizes.producers.max(1);
    let engine_per_s = env.server.block_on(async {
        let gateway = Gateway::start(
            Meta::Fake,
            dispatch_engine_config(sizes, sizes.fake_concurrency),
            Start::RouterOnly,
        )
        .await?;
        let engine = gateway.api.start();
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..p {
            let api = gateway.api.clone();
            let account = gateway.account.clone();
            let count = n / p as u64 + u64::from((w as u64) < n % p as u64);
            tasks.spawn(async move {
                let to = PhoneNumber::parse("14155552671").expect("valid constant");
                for _ in 0..count {
                    api.send(
                        &account,
                        whatsapi_core::SendRequest::text(
                            to.clone(),
                            "Your order #1234 has shipped and will arrive on Tuesday.",
                        ),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("send: {e}"))?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        let rate = wait_for_sent(&gateway, n, start).await?;
        engine.shutdown(Duration::from_secs(2)).await;
        gateway.stop().await;
        anyhow::Ok(rate)
    })?;
    let (bullmq_per_s, baseline_note) = match bullmq(n, p) {
        Ok(rate) => (
            Some(rate),
            format!("BullMQ {p} producers, worker concurrency 64, Redis AOF always"),
        ),
        Err(e) => (None, format!("no BullMQ baseline: {e:#}")),
    };
    Ok(ProducerFigures {
        messages: n,
        producers: p,
        engine_per_s,
        bullmq_per_s,
        ratio: bullmq_per_s.map(|b| engine_per_s / b.max(1e-9)),
        baseline_note,
    })
}

/// A `redis-server` of its own on a free port, with every write fsynced before it is acknowledged
/// (`appendonly yes`, `appendfsync always`), as durable as whatsapi's `synchronous=FULL`; stopped when dropped.
struct Redis {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("redis-server (Debian's redis-server package)")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            port,
            child,
            _dir: dir,
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `benches/bullmq/producers.mjs` on a fresh Redis: jobs per second.
fn bullmq(jobs: u64, producers: usize) -> anyhow::Result<f64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bullmq");
    if !dir.join("node_modules/bullmq").is_dir() {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .context("npm (Node.js) for the BullMQ baseline")?
            .success();
        anyhow::ensure!(ok, "npm ci in {} failed", dir.display());
    }
    let redis = Redis::start()?;
    let out = std::process::Command::new("node")
        .arg("producers.mjs")
        .current_dir(&dir)
        .env("REDIS_PORT", redis.port.to_string())
        .env("JOBS", jobs.to_string())
        .env("PRODUCERS", producers.to_string())
        .env("CONCURRENCY", "64")
        .output()
        .context("node (Node.js) for the BullMQ baseline")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "producers.mjs failed: {}",
        stderr.lines().take(3).collect::<Vec<_>>().join(" / ")
    );
    let v: Value = serde_json::from_slice(&out.stdout).context("producers.mjs output")?;
    v["per_s"].as_f64().context("per_s in producers.mjs output")
}
