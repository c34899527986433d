//! The delivery engine: the dispatcher (claims due messages, sends them, records outcomes in batches), the webhook
//! deliverer (drains the outbox through the [`WebhookSink`]) and the sweeper (fails messages whose validity period
//! ended, purges expired rows).
//!
//! Every time decision reads the [`Clock`] and every wait goes through [`Clock::sleep_until`], so tests drive the
//! engine by hand with `ManualClock`. The one exception is the few milliseconds an outcome waits for others to
//! join its batch ([`EngineConfig::outcome_delay`], on Tokio's clock), which decides nothing but how outcomes are
//! grouped. Work is noticed through wake-ups (a new send, a freed slot, a recorded
//! outcome) and, as a fallback for work created by other replicas, by polling every
//! [`EngineConfig::idle_poll`].

mod breaker;
mod deliverer;
mod dispatcher;
mod outcomes;
mod pacing;
pub mod stats;
mod sweeper;

#[cfg(all(test, feature = "testing"))]
pub(crate) mod harness;
#[cfg(all(test, feature = "testing"))]
mod tests;
#[cfg(all(test, feature = "testing"))]
mod validity_tests;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::retry::RetryPolicy;
use crate::store::{DEFAULT_MAX_PENDING_STATUSES, PurgePolicy, Store};
use crate::transport::MetaTransport;
use crate::webhook::WebhookSink;

pub(crate) use breaker::Breakers;
pub(crate) use pacing::Pacer;

/// How customer webhooks are retried. The reference promises one retry; the schedule is configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Delay before each retry after a failed attempt; its length is the number of retries (default `[5 s]`).
    pub retry_delays: Vec<Duration>,
    /// How long a claimed event is reserved for one deliverer (default 60 s).
    pub lease: Duration,
    /// Most events claimed at once (default 100).
    pub batch: usize,
    /// Most deliveries in flight at once (default 16).
    pub concurrency: usize,
    /// Most deliveries in flight at once to one destination (the reference webhook of an account, or one
    /// endpoint), so a slow one never takes the room of the others (default 4).
    pub per_destination: usize,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            retry_delays: vec![Duration::from_secs(5)],
            lease: Duration::from_secs(60),
            batch: 100,
            concurrency: 16,
            per_destination: 4,
        }
    }
}

/// Tuning of the engine. Every field has the default of the reference deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Most messages claimed in one round (default 256).
    pub dispatch_batch: usize,
    /// Most sends in flight at once (default 256). Meta answers a send in 100–300 ms, so this many in flight
    /// is what lets one replica keep up with a number of the 1,000/s tier, or with several numbers; pacing still
    /// decides how many of them a number may have.
    pub concurrency: usize,
    /// How long a claim is valid; a worker that dies is replaced after it (default 60 s).
    pub lease: Duration,
    /// Backoff, jitter and attempt budget of transient failures.
    pub retry: RetryPolicy,
    /// Consecutive transient failures of one account that open its circuit breaker (default 5).
    pub breaker_threshold: u32,
    /// Cool-down of the first trip; it doubles on every trip without a success in between (default 30 s).
    pub breaker_cooldown: Duration,
    /// Longest cool-down (default 5 min).
    pub breaker_max_cooldown: Duration,
    /// Sends per second per business phone number; never exceeded (default 80, Meta's default throughput).
    /// `0` disables pacing. A number with a rate of its own (its throughput tier, or set by the account) is paced
    /// at that rate instead.
    pub pace_per_second: u32,
    /// After Meta's 130429 a number's rate is halved; each such quiet period without another gives one halving
    /// back, so the rate recovers step by step (default 60 s).
    pub pace_recovery: Duration,
    /// Customer webhook delivery.
    pub webhook: WebhookPolicy,
    /// Time between two purges of expired rows (default 60 s).
    pub sweep_interval: Duration,
    /// What the sweeper removes.
    pub purge: PurgePolicy,
    /// Time between two passes of the sweeper that fail the messages whose validity period ended while nobody
    /// could claim them (an open breaker, an inactive account); claimed ones are checked right before their send
    /// (default 5 s).
    pub expiry_interval: Duration,
    /// Most messages one expiry pass fails in one store transaction; a pass repeats until fewer are left
    /// (default 500).
    pub expiry_batch: usize,
    /// Most statuses for wamids not stored yet that one account keeps (default
    /// [`DEFAULT_MAX_PENDING_STATUSES`]); beyond it the earliest received are dropped.
    pub max_pending_statuses_per_account: usize,
    /// Longest sleep of an idle loop, to notice work written by other replicas (default 1 s).
    pub idle_poll: Duration,
    /// Which customer webhook URLs are accepted (default: https and public addresses only).
    pub webhook_urls: crate::webhook::WebhookUrlPolicy,
    /// Most send outcomes recorded together in one store call (default 256); `0` counts as 1.
    pub outcome_batch: usize,
    /// How long the first outcome of a batch waits for others to join it, on Tokio's clock (default 2 ms);
    /// `0` records what is waiting at once (outcomes that arrive meanwhile still form the next batch).
    pub outcome_delay: Duration,
    /// Batches of outcomes being recorded at once (default 2; `0` counts as 1). More than one lets a store with
    /// many connections (PostgreSQL) commit one batch while the next is written; each batch is still one
    /// transaction, and one message's outcome is never in two batches.
    pub outcome_flushes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            dispatch_batch: 256,
            concurrency: 256,
            lease: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(300),
            pace_per_second: 80,
            pace_recovery: Duration::from_secs(60),
            webhook: WebhookPolicy::default(),
            sweep_interval: Duration::from_secs(60),
            purge: PurgePolicy::default(),
            expiry_interval: Duration::from_secs(5),
            expiry_batch: 500,
            max_pending_statuses_per_account: DEFAULT_MAX_PENDING_STATUSES,
            idle_poll: Duration::from_secs(1),
            webhook_urls: crate::webhook::WebhookUrlPolicy::default(),
            outcome_batch: 256,
            outcome_delay: Duration::from_millis(2),
            outcome_flushes: 2,
        }
    }
}

/// A wake-up signal that is never lost: a loop that was busy when it was raised sees it on its next wait.
#[derive(Debug)]
pub(crate) struct Wake(watch::Sender<u64>);

impl Wake {
    fn new() -> Self {
        Self(watch::channel(0).0)
    }

    /// Raises the signal.
    pub(crate) fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// What the engine loops and the facade share.
pub(crate) struct Core {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) transport: Arc<dyn MetaTransport>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sink: Arc<dyn WebhookSink>,
    pub(crate) config: EngineConfig,
    pub(crate) breakers: Breakers,
    pub(crate) pacer: Pacer,
    /// Raised when messages may have become due (a send, a retry request).
    pub(crate) dispatch_wake: Wake,
    /// Raised when outbox events may exist (an outcome, an applied status, a finished delivery).
    pub(crate) deliver_wake: Wake,
    /// Counters for metrics.
    pub(crate) stats: stats::EngineStats,
    /// Engines started on this core and not yet stopped (readiness).
    pub(crate) engines: std::sync::atomic::AtomicUsize,
}

impl Core {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        transport: Arc<dyn MetaTransport>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn WebhookSink>,
        config: EngineConfig,
    ) -> Self {
        let breakers = Breakers::new(breaker::BreakerConfig {
            threshold: config.breaker_threshold,
            cooldown: config.breaker_cooldown,
            max_cooldown: config.breaker_max_cooldown,
            probe_lease: config.lease,
        });
        let pacer = Pacer::with_recovery(
            config.pace_per_second,
            store.shares_send_slots(),
            config.pace_recovery,
        );
        Self {
            store,
            transport,
            clock,
            sink,
            config,
            breakers,
            pacer,
            dispatch_wake: Wake::new(),
            deliver_wake: Wake::new(),
            stats: stats::EngineStats::default(),
            engines: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `now + d`, saturating far in the future instead of overflowing.
    pub(crate) fn after(&self, d: Duration) -> DateTime<Utc> {
        add(self.clock.now(), d)
    }
}

/// `t + d`, saturating.
pub(crate) use crate::store::support::saturating_add as add;

/// The stop signal: `None` while running, then the deadline for in-flight work.
pub(crate) type StopRx = watch::Receiver<Option<DateTime<Utc>>>;

/// Resolves once a stop was requested (or the handle vanished).
pub(crate) async fn stopped(stop: &mut StopRx) {
    let _ = stop.wait_for(Option::is_some).await;
}

/// The deadline of a requested stop; `now` when none is known.
pub(crate) fn stop_deadline(stop: &StopRx, now: DateTime<Utc>) -> DateTime<Utc> {
    (*stop.borrow()).unwrap_or(now)
}

/// What a graceful shutdown did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Sends that were in flight when shutdown began and finished before the deadline (outcome recorded).
    pub sends_finished: u64,
    /// Claimed messages given back unstarted (back to `queued`, the try not counted).
    pub sends_released: u64,
    /// Sends still running at the deadline; they were cut off and are claimed again once their lease ends.
    pub sends_abandoned: u64,
    /// Webhook deliveries still running at the deadline; they are retried once their lease ends.
    pub deliveries_abandoned: u64,
}

/// The running engine. [`shutdown`](Self::shutdown) stops it gracefully; dropping the handle stops it at once
/// (claimed but unstarted messages are released, running sends are cut off).
pub struct EngineHandle {
    core: Arc<Core>,
    stop: watch::Sender<Option<DateTime<Utc>>>,
    clock: Arc<dyn Clock>,
    dispatcher: Option<JoinHandle<dispatcher::Report>>,
    deliverer: Option<JoinHandle<u64>>,
    sweeper: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("stopping", &self.stop.borrow().is_some())
            .finish()
    }
}

impl EngineHandle {
    /// Spawns the dispatcher, the deliverer and the sweeper on the current Tokio runtime.
    pub(crate) fn start(core: Arc<Core>) -> Self {
        let (stop, stop_rx) = watch::channel(None);
        let dispatcher = tokio::spawn(dispatcher::run(core.clone(), stop_rx.clone()));
        let deliverer = tokio::spawn(deliverer::run(core.clone(), stop_rx.clone()));
        let sweeper = tokio::spawn(sweeper::run(core.clone(), stop_rx));
        core.engines
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tracing::info!("whatsapi engine started");
        Self {
            clock: core.clock.clone(),
            core,
            stop,
            dispatcher: Some(dispatcher),
            deliverer: Some(deliverer),
            sweeper: Some(sweeper),
        }
    }

    /// Stops claiming work, releases claimed messages that were not started yet, and waits up to `deadline`
    /// (measured on the engine's clock) for running sends and webhook deliveries to finish.
    pub fn shutdown(mut self, deadline: Duration) -> impl Future<Output = ShutdownReport> {
        let at = add(self.clock.now(), deadline);
        self.stopping();
        self.stop.send_replace(Some(at));
        let dispatcher = self.dispatcher.take();
        let deliverer = self.deliverer.take();
        let sweeper = self.sweeper.take();
        async move {
            let mut report = ShutdownReport::default();
            if let Some(Ok(d)) = join(dispatcher).await {
                report.sends_finished = d.finished;
                report.sends_released = d.released;
                report.sends_abandoned = d.abandoned;
            }
            if let Some(Ok(abandoned)) = join(deliverer).await {
                report.deliveries_abandoned = abandoned;
            }
            let _ = join(sweeper).await;
            tracing::info!(?report, "whatsapi engine stopped");
            report
        }
    }
}

async fn join<T>(handle: Option<JoinHandle<T>>) -> Option<Result<T, tokio::task::JoinError>> {
    match handle {
        Some(h) => Some(h.await),
        None => None,
    }
}

impl EngineHandle {
    /// Counts this engine out of [`Core::engines`], once, before it is told to stop.
    fn stopping(&self) {
        if self.stop.borrow().is_none() {
            self.core
                .engines
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        if self.stop.borrow().is_none() {
            self.stopping();
            self.stop.send_replace(Some(self.clock.now()));
        }
    }
}
