//! Wiring for `whatsapi serve`: store, transport, webhook sink, engine, HTTP server, graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use whatsapi_core::EngineConfig;
use whatsapi_core::WhatsApi;
use whatsapi_core::graph::{GraphConfig, GraphTransport};
use whatsapi_core::webhook::WebhookUrlPolicy;
use whatsapi_core::webhook_http::{HttpSinkConfig, HttpWebhookSink};
use whatsapi_saas::Product;
use whatsapi_sandbox::{Sandbox, SandboxConfig};

use crate::app::app;
use crate::config::{Database, LogFormat, ServeArgs};
use crate::state::{AppState, HttpSettings, SandboxCredentials};

fn init_tracing(args: &ServeArgs) {
    let filter = EnvFilter::try_new(&args.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a log file or a pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// HTTP settings from the command line.
pub fn http_settings(args: &ServeArgs) -> HttpSettings {
    HttpSettings {
        // Replicas on one PostgreSQL database share their limits; a SQLite file has one process.
        shared_rate_limits: matches!(args.store.backend(), Ok(Database::Postgres(_))),
        body_limit: args.body_limit,
        register_per_minute: args.register_per_minute,
        trust_forwarded_for: args.trust_forwarded_for,
        trusted_proxies: args.trusted_proxies.clone(),
        connections: crate::edge::ConnectionLimits {
            header_read_timeout: args.header_read_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections as usize,
        },
        meta_verify_token: args.meta_verify_token.clone(),
        meta_app_secret: args.meta_app_secret.clone(),
        allow_unsigned_meta_webhooks: args.allow_unsigned_meta_webhooks,
        ..HttpSettings::default()
    }
}

/// Runs the server until SIGINT/SIGTERM.
///
/// The configuration is checked, and the address bound, before anything is created (a database, a key file), so
/// a mistake leaves nothing behind.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(&args);
    args.validate().map_err(anyhow::Error::msg)?;
    let rate_card = match &args.rate_card {
        Some(path) => Some(Arc::new(crate::ops::load_rate_card(path)?)),
        None => None,
    };
    let stripe = crate::ops::stripe_client(&args.billing)?;
    let listener = bind(args.listen).await?;
    let sandbox = if args.sandbox {
        let handle = Sandbox::start(SandboxConfig {
            open_numbers: true,
            service_window: true,
            ..SandboxConfig::default()
        })
        .await
        .context("starting the Meta sandbox")?;
        tracing::warn!(
            emulator = %handle.base_url(),
            "sandbox mode: messages go to an in-process emulator of Meta's Cloud API, not to WhatsApp; new \
             accounts get sandbox credentials; recipients 15550000001-15550000009 trigger failures (see \
             whatsapi-sandbox/README.md)"
        );
        Some(handle)
    } else {
        None
    };
    let stores = crate::ops::open_store(&args.store).await?;
    let database = stores.shown;
    let transport = GraphTransport::new(GraphConfig {
        base_url: sandbox
            .as_ref()
            .map(|s| s.base_url())
            .unwrap_or_else(|| args.meta_base_url.clone()),
        api_version: args.meta_api_version.clone(),
        ..GraphConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let urls = if args.webhook_allow_private || args.sandbox {
        WebhookUrlPolicy::development()
    } else {
        WebhookUrlPolicy::default()
    };
    let sink = HttpWebhookSink::new(HttpSinkConfig {
        urls,
        ..HttpSinkConfig::default()
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    let engine_config = EngineConfig {
        pace_per_second: args.send_rate,
        pace_recovery: std::time::Duration::from_secs(args.pace_recovery_secs),
        breaker_threshold: args.breaker_threshold,
        breaker_cooldown: std::time::Duration::from_secs(args.breaker_cooldown_secs),
        breaker_max_cooldown: std::time::Duration::from_secs(args.breaker_cooldown_secs.max(300)),
        lease: args.lease(),
        concurrency: args.send_concurrency as usize,
        outcome_batch: args.outcome_batch as usize,
        outcome_delay: std::time::Duration::from_millis(args.outcome_delay_ms),
        webhook_urls: urls,
        ..EngineConfig::default()
    };
    let api = WhatsApi::builder()
        .store(stores.engine)
        .transport(Arc::new(transport))
        .webhook_sink(Arc::new(sink))
        .config(engine_config)
        .build()
        .context("building the engine")?;
    let mut product = Product::new(api.clone(), stores.product, args.plans());
    if let Some(stripe) = stripe {
        product = product.with_billing(stripe);
    }
    let local = listener.local_addr()?;
    tracing::info!(
        address = %format!("http://{local}"),
        %database,
        "whatsapi listening"
    );
    let mut settings = http_settings(&args);
    settings.rate_card = rate_card;
    if let Some(handle) = &sandbox {
        let host = if local.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], local.port()))
        } else {
            local
        };
        handle.set_callback_url(Some(format!("http://{host}/webhooks/whatsapp")));
        settings.meta_app_secret = Some(handle.config().app_secret.clone());
        settings
            .meta_verify_token
            .get_or_insert_with(|| "sandbox-verify-token".to_owned());
        settings.sandbox = Some(SandboxCredentials {
            access_token: handle.config().phone_numbers[0].access_token.clone(),
            app_secret: handle.config().app_secret.clone(),
            customers: Some(handle.customers()),
        });
    }
    let result = serve_on(listener, product, settings, shutdown_signal(), args.grace()).await;
    if let Some(handle) = sandbox {
        handle.shutdown().await;
    }
    result
}

/// Binds the listening socket, saying plainly why it could not.
async fn bind(address: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the address is already in use (another whatsapi?); choose another with --listen"
                    .to_owned()
            }
            std::io::ErrorKind::AddrNotAvailable => {
                "no network interface of this machine has that address".to_owned()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".to_owned()
            }
            _ => e.to_string(),
        };
        anyhow::anyhow!("cannot listen on {address}: {why}")
    })
}

/// Serves `product` (and the engine under it) on `listener` until `shutdown` resolves, then stops accepting,
/// finishes in-flight requests, and stops the engine within `grace`.
pub async fn serve_on(
    listener: TcpListener,
    product: Product,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> anyhow::Result<()> {
    let engine = product.api().start();
    let purger = tokio::spawn(purge_rate_windows(product.clone()));
    let limits = settings.connections;
    let state = AppState::new(product, settings);
    crate::edge::serve_connections(listener, app(state), limits, shutdown, grace).await;
    purger.abort();
    tracing::info!("HTTP server stopped; stopping the engine");
    let report = engine.shutdown(grace).await;
    tracing::info!(?report, "engine stopped");
    Ok(())
}

/// Removes the rate-limit windows that have ended, as often as the engine's sweeper runs, until aborted.
async fn purge_rate_windows(product: Product) {
    let mut every = tokio::time::interval(product.api().config().sweep_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = product.api().clock().now();
        if let Err(e) = product.purge_rate_windows(now).await {
            tracing::warn!(error = %e, "purging rate-limit windows failed; trying again at the next sweep");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received; shutting down"),
        _ = term => tracing::info!("SIGTERM received; shutting down"),
    }
}
