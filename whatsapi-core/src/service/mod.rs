//! `WhatsApi`: the in-process facade. An application (or the reference server) builds one from a [`Store`], a
//! [`MetaTransport`], a [`Clock`] and a [`WebhookSink`], starts the engine, calls it, and shuts the engine down.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn whatsapi_core::Store>,
//! #               transport: std::sync::Arc<dyn whatsapi_core::MetaTransport>,
//! #               sink: std::sync::Arc<dyn whatsapi_core::WebhookSink>) -> Result<(), Box<dyn std::error::Error>> {
//! use whatsapi_core::WhatsApi;
//! let api = WhatsApi::builder().store(store).transport(transport).webhook_sink(sink).build()?;
//! let engine = api.start();
//! let account = api.create_account("Acme").await?;
//! let to = whatsapi_core::PhoneNumber::parse("14155552671")?;
//! let request = whatsapi_core::SendRequest::text(to, "hi").dry_run(true);
//! let queued = api.send(&account, request).await?;
//! println!("queued {}", queued.id);
//! engine.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```

mod accounts;
mod campaigns;
mod charts;
mod contacts;
mod costs;
mod endpoints;
mod error;
mod inbound;
mod media;
mod messages;
mod meta;
mod numbers;
mod send;
mod templates;

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::engine::{Core, EngineConfig, EngineHandle};
use crate::send::SendRules;
use crate::store::Store;
use crate::transport::MetaTransport;
use crate::webhook::WebhookSink;

pub use accounts::{CredentialsCheck, DEFAULT_VALIDITY, check_account_name};
pub use campaigns::{
    CampaignCreated, CampaignEstimate, MAX_REPORTED_ERRORS, SkippedRecipient,
    field as campaign_field,
};
pub use charts::{Bucket, SeriesPoint};
pub use contacts::ContactThread;
pub use endpoints::EndpointRequest;
pub use error::Error;
pub use inbound::{INBOUND_CHANNEL_CAPACITY, MAX_MEDIA_DOWNLOAD_BYTES, MediaContent};
pub use media::{MAX_WAMID_LEN, MediaUpload, UploadedMedia, is_wamid};
pub use messages::{MAX_STATUS_FUTURE_SKEW, Summary};
pub use meta::{IngestReport, MAX_ROUTE_KEYS, MetaWebhookAuth};
pub use numbers::AccountNumber;
pub use send::{BulkQueued, Queued};
pub use templates::{
    FETCH_BACKOFF, FETCH_TIMEOUT, MAX_TEMPLATE_PAGES, MAX_TEMPLATES, SEND_FETCH_TIMEOUT,
    TEMPLATE_TTL, TemplateList,
};

pub use crate::engine::stats::StatsSnapshot;

/// The in-process whatsapi: accounts, sending, status tracking and webhooks. Cheap to clone.
#[derive(Clone)]
pub struct WhatsApi {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    send_rules: SendRules,
    /// New inbound messages, for [`WhatsApi::subscribe_inbound`].
    inbound: tokio::sync::broadcast::Sender<crate::inbound::InboundMessage>,
    templates: templates::TemplateCache,
}

impl std::fmt::Debug for WhatsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsApi")
            .field("config", &self.inner.core.config)
            .finish_non_exhaustive()
    }
}

/// Why a [`WhatsApiBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A required part was not given.
    #[error("WhatsApi::builder() needs .{0}(…)")]
    Missing(&'static str),
    /// A configuration value is out of range.
    #[error("invalid engine configuration: {0}")]
    InvalidConfig(String),
}

/// Builds a [`WhatsApi`]. `store`, `transport` and `webhook_sink` are required; the clock defaults to the
/// system clock and the rest to the reference defaults.
#[derive(Default)]
pub struct WhatsApiBuilder {
    store: Option<Arc<dyn Store>>,
    transport: Option<Arc<dyn MetaTransport>>,
    clock: Option<Arc<dyn Clock>>,
    sink: Option<Arc<dyn WebhookSink>>,
    config: Option<EngineConfig>,
    send_rules: Option<SendRules>,
}

impl std::fmt::Debug for WhatsApiBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsApiBuilder").finish_non_exhaustive()
    }
}

impl WhatsApiBuilder {
    /// Where everything is kept.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The way out to Meta.
    pub fn transport(mut self, transport: Arc<dyn MetaTransport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The source of time (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The way out to customers' webhook endpoints.
    pub fn webhook_sink(mut self, sink: Arc<dyn WebhookSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Engine tuning (default [`EngineConfig::default`]).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Send validation limits (default [`SendRules::default`]).
    pub fn send_rules(mut self, rules: SendRules) -> Self {
        self.send_rules = Some(rules);
        self
    }

    /// Checks the configuration and builds.
    pub fn build(self) -> Result<WhatsApi, BuildError> {
        let store = self.store.ok_or(BuildError::Missing("store"))?;
        let transport = self.transport.ok_or(BuildError::Missing("transport"))?;
        let sink = self.sink.ok_or(BuildError::Missing("webhook_sink"))?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let config = self.config.unwrap_or_default();
        validate_config(&config)?;
        let core = Core::new(store, transport, clock, sink, config);
        Ok(WhatsApi {
            inner: Arc::new(Inner {
                core: Arc::new(core),
                send_rules: self.send_rules.unwrap_or_default(),
                inbound: inbound::channel(),
                templates: templates::TemplateCache::default(),
            }),
        })
    }
}

fn validate_config(c: &EngineConfig) -> Result<(), BuildError> {
    let positive = [
        ("dispatch_batch", c.dispatch_batch > 0),
        ("concurrency", c.concurrency > 0),
        ("lease", !c.lease.is_zero()),
        ("idle_poll", !c.idle_poll.is_zero()),
        ("sweep_interval", !c.sweep_interval.is_zero()),
        ("expiry_interval", !c.expiry_interval.is_zero()),
        ("expiry_batch", c.expiry_batch > 0),
        ("webhook.batch", c.webhook.batch > 0),
        ("webhook.concurrency", c.webhook.concurrency > 0),
        ("webhook.lease", !c.webhook.lease.is_zero()),
        ("retry.max_attempts", c.retry.max_attempts > 0),
        ("breaker_threshold", c.breaker_threshold > 0),
        (
            "max_pending_statuses_per_account",
            c.max_pending_statuses_per_account > 0,
        ),
    ];
    for (name, ok) in positive {
        if !ok {
            return Err(BuildError::InvalidConfig(format!(
                "{name} must be greater than zero"
            )));
        }
    }
    if c.breaker_max_cooldown < c.breaker_cooldown {
        return Err(BuildError::InvalidConfig(
            "breaker_max_cooldown must be at least breaker_cooldown".into(),
        ));
    }
    Ok(())
}

impl WhatsApi {
    /// A builder.
    pub fn builder() -> WhatsApiBuilder {
        WhatsApiBuilder::default()
    }

    /// Starts the dispatcher, the webhook deliverer and the sweeper on the current Tokio runtime. Call once per
    /// process; the returned handle stops them.
    pub fn start(&self) -> EngineHandle {
        EngineHandle::start(self.inner.core.clone())
    }

    /// The engine configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.core.config
    }

    /// The send validation limits.
    pub fn send_rules(&self) -> &SendRules {
        &self.inner.send_rules
    }

    /// The clock every decision reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.core.clock
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.core.store
    }

    fn core(&self) -> &Core {
        &self.inner.core
    }

    /// Whether the store answers (readiness).
    pub async fn ready(&self) -> Result<(), Error> {
        self.store()
            .account(crate::account::AccountId(uuid::Uuid::nil()))
            .await?;
        Ok(())
    }

    /// Messages per status over every account (queue depth for metrics).
    pub async fn queue_depth(&self) -> Result<crate::store::StatusCounts, Error> {
        Ok(self.store().status_totals().await?)
    }

    /// Whether an engine started by [`WhatsApi::start`] runs (not yet told to stop).
    pub fn engine_running(&self) -> bool {
        self.core()
            .engines
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    }

    /// How many accounts' circuit breakers are open now, as far as this process knows (its engine read or wrote
    /// them).
    pub fn open_breakers(&self) -> usize {
        self.core().breakers.open_count(self.clock().now())
    }

    /// How long the earliest-due message has been waiting to be sent (zero when nothing is due yet): a queued
    /// message is due since it was queued. `None` when nothing waits.
    pub async fn oldest_due_age(&self) -> Result<Option<std::time::Duration>, Error> {
        let now = self.clock().now();
        Ok(self
            .store()
            .next_due_at()
            .await?
            .map(|at| (now - at).to_std().unwrap_or_default()))
    }

    /// The customer-webhook events not delivered yet (due, leased or retrying; not delivered nor given up) and how
    /// long the first of them written has waited since its status changed (zero if that lies ahead). `None` when
    /// nothing waits.
    pub async fn outbox_backlog(&self) -> Result<(u64, Option<std::time::Duration>), Error> {
        let now = self.clock().now();
        let backlog = self.store().outbox_backlog().await?;
        Ok((
            backlog.pending,
            backlog
                .oldest
                .map(|at| (now - at).to_std().unwrap_or_default()),
        ))
    }

    /// The engine's counters: sends by result with their latency, webhook deliveries by result.
    pub fn stats(&self) -> StatsSnapshot {
        self.core().stats.snapshot()
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests;
