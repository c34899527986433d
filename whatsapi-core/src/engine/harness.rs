//! A deterministic rig for engine and facade tests: `ManualClock`, `MemoryStore`, `FakeTransport`,
//! `RecordingSink`, and a transport wrapper that notes the simulated time of every send and can hold sends back.
//!
//! Tests run on a paused Tokio runtime (`start_paused = true`). The engine uses no Tokio timers (with the
//! [`config`] of the tests, whose outcomes never wait for a batch to fill), so
//! [`settle`] — a 1 ms Tokio sleep — returns only once every engine task is blocked: it is a quiescence point,
//! not a delay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use tokio::sync::Semaphore;

use crate::account::{Account, MetaCredentials};
use crate::clock::Clock;
use crate::engine::{EngineConfig, EngineHandle};
use crate::message::{Message, MessageId, Status};
use crate::phone::PhoneNumber;
use crate::retry::RetryPolicy;
use crate::send::SendRequest;
use crate::service::WhatsApi;
use crate::testing::{FakeTransport, ManualClock, MemoryStore, RecordingSink};
use crate::transport::{MetaTransport, OutgoingMessage, PhoneNumberInfo, SendError, SendReceipt};

/// One call that reached the transport, at simulated time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) at: DateTime<Utc>,
    pub(crate) to: String,
    pub(crate) phone_number_id: String,
    pub(crate) message_id: MessageId,
}

/// Wraps `FakeTransport`: records each call with the `ManualClock`'s time; when gated, each call waits for a
/// permit (`open_gate`) before it reaches the fake.
#[derive(Clone)]
pub(crate) struct ClockedTransport {
    inner: FakeTransport,
    clock: ManualClock,
    calls: Arc<Mutex<Vec<Call>>>,
    gate: Arc<Mutex<Option<Arc<Semaphore>>>>,
}

#[async_trait]
impl MetaTransport for ClockedTransport {
    async fn send(
        &self,
        creds: &MetaCredentials,
        msg: &OutgoingMessage,
    ) -> Result<SendReceipt, SendError> {
        self.calls.lock().unwrap().push(Call {
            at: self.clock.now(),
            to: msg.to.address().to_owned(),
            phone_number_id: creds.phone_number_id.clone(),
            message_id: msg.message_id,
        });
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            gate.acquire().await.expect("gate open").forget();
        }
        self.inner.send(creds, msg).await
    }

    async fn verify(&self, creds: &MetaCredentials) -> Result<PhoneNumberInfo, SendError> {
        self.inner.verify(creds).await
    }

    async fn upload_media(
        &self,
        creds: &MetaCredentials,
        file: crate::transport::MediaFile,
    ) -> Result<String, SendError> {
        self.inner.upload_media(creds, file).await
    }

    async fn media_info(
        &self,
        creds: &MetaCredentials,
        media_id: &str,
    ) -> Result<crate::transport::MediaInfo, SendError> {
        self.inner.media_info(creds, media_id).await
    }

    async fn download_media(
        &self,
        creds: &MetaCredentials,
        url: &str,
    ) -> Result<crate::transport::MediaDownload, SendError> {
        self.inner.download_media(creds, url).await
    }

    async fn list_templates(
        &self,
        creds: &MetaCredentials,
        waba_id: &str,
        after: Option<&str>,
    ) -> Result<crate::templates::TemplatePage, SendError> {
        self.inner.list_templates(creds, waba_id, after).await
    }

    async fn mark_read(
        &self,
        creds: &MetaCredentials,
        wamid: &str,
        typing_indicator: bool,
    ) -> Result<(), SendError> {
        self.inner.mark_read(creds, wamid, typing_indicator).await
    }
}

pub(crate) struct Harness {
    pub(crate) api: WhatsApi,
    pub(crate) clock: ManualClock,
    pub(crate) fake: FakeTransport,
    pub(crate) sink: RecordingSink,
    pub(crate) store: MemoryStore,
    transport: ClockedTransport,
}

/// The engine configuration of the tests: no jitter, so retry times are exact, and no pacing, so several
/// messages go out without the clock moving (the pacing test sets its own rate). Outcomes are recorded without
/// waiting for others to join their batch: that wait is the engine's only Tokio timer, and [`settle`] relies on
/// there being none.
pub(crate) fn config() -> EngineConfig {
    EngineConfig {
        outcome_delay: Duration::ZERO,
        pace_per_second: 0,
        retry: RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        },
        ..EngineConfig::default()
    }
}

/// Waits until every task of the runtime is blocked (see the module docs).
pub(crate) async fn settle() {
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub(crate) const PHONE_NUMBER_ID: &str = "1234567890";

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(config())
    }

    pub(crate) fn with_config(config: EngineConfig) -> Self {
        Self::with_store(config, MemoryStore::new())
    }

    pub(crate) fn with_store(config: EngineConfig, store: MemoryStore) -> Self {
        let clock = ManualClock::at_epoch();
        let fake = FakeTransport::new();
        let sink = RecordingSink::new();
        let transport = ClockedTransport {
            inner: fake.clone(),
            clock: clock.clone(),
            calls: Arc::default(),
            gate: Arc::default(),
        };
        let api = WhatsApi::builder()
            .store(Arc::new(store.clone()))
            .transport(Arc::new(transport.clone()))
            .clock(Arc::new(clock.clone()))
            .webhook_sink(Arc::new(sink.clone()))
            .config(config)
            .build()
            .expect("valid configuration");
        Self {
            api,
            clock,
            fake,
            sink,
            store,
            transport,
        }
    }

    pub(crate) fn start(&self) -> EngineHandle {
        self.api.start()
    }

    /// Another replica: a facade of its own (its own engine, pacer and breakers) on the same store, clock,
    /// transport and sink. Share limits with it through a store built `MemoryStore::with_wakeups`.
    pub(crate) fn replica(&self, config: EngineConfig) -> WhatsApi {
        WhatsApi::builder()
            .store(Arc::new(self.store.clone()))
            .transport(Arc::new(self.transport.clone()))
            .clock(Arc::new(self.clock.clone()))
            .webhook_sink(Arc::new(self.sink.clone()))
            .config(config)
            .build()
            .expect("valid configuration")
    }

    /// An account with Meta credentials.
    pub(crate) async fn account(&self) -> Account {
        self.account_on(PHONE_NUMBER_ID).await
    }

    /// An account with Meta credentials for the business number `phone_number_id`.
    pub(crate) async fn account_on(&self, phone_number_id: &str) -> Account {
        let reg = self.api.create_account("Acme").await.unwrap();
        // A phone number id belongs to one account: the first account asking for it gets it, later ones their own.
        let taken = self
            .api
            .store()
            .account_by_phone_number_id(phone_number_id)
            .await
            .unwrap()
            .is_some();
        let phone_number_id = if taken {
            format!("{}", reg.id.0.as_u128() % 10_000_000_000)
        } else {
            phone_number_id.to_owned()
        };
        self.api
            .set_credentials(
                reg.id,
                MetaCredentials {
                    waba_id: None,
                    verify_token_hash: None,
                    access_token: "EAAtoken".into(),
                    phone_number_id,
                    app_secret: None,
                    verify_token: None,
                    throughput_per_second: None,
                },
            )
            .await
            .unwrap()
    }

    /// An account with credentials and a webhook.
    pub(crate) async fn account_with_webhook(&self) -> Account {
        let a = self.account().await;
        self.api
            .set_webhook(a.id, "https://hooks.example/whatsapi")
            .await
            .unwrap();
        self.api.me(a.id).await.unwrap()
    }

    /// Sends a text to `to` and returns the message id.
    pub(crate) async fn send_text(&self, account: &Account, to: &str) -> MessageId {
        self.send(account, SendRequest::text(phone(to), "hello"))
            .await
    }

    pub(crate) async fn send(&self, account: &Account, request: SendRequest) -> MessageId {
        self.api.send(account, request).await.unwrap().id
    }

    pub(crate) async fn message(&self, account: &Account, id: MessageId) -> Message {
        self.api.get_message(account.id, id).await.unwrap()
    }

    pub(crate) async fn status(&self, account: &Account, id: MessageId) -> Status {
        self.message(account, id).await.status
    }

    /// Lets the engine catch up with the present, moves the clock, and lets the engine react.
    pub(crate) async fn advance(&self, by: Duration) {
        settle().await;
        self.clock.advance(by);
        settle().await;
    }

    /// Moves the clock in `step`s up to `total`, letting the engine react after each.
    pub(crate) async fn advance_by_steps(&self, total: Duration, step: Duration) {
        let mut done = Duration::ZERO;
        while done < total {
            self.advance(step).await;
            done += step;
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Seconds since the start of the test clock.
    pub(crate) fn secs(&self, t: DateTime<Utc>) -> f64 {
        (t - ManualClock::at_epoch().now()).num_milliseconds() as f64 / 1000.0
    }

    /// Stores `n` queued texts of `account` straight into the store (no wake-up), created now.
    pub(crate) async fn backlog(&self, account: &Account, n: usize) -> Vec<MessageId> {
        use crate::store::MessageStore;
        let messages: Vec<crate::message::NewMessage> = (0..n)
            .map(|i| crate::message::NewMessage {
                from: None,
                id: MessageId::new(),
                account_id: account.id,
                batch_id: None,
                to: crate::phone::PhoneNumber::parse(&format!("1415{:07}", i % 10_000_000))
                    .expect("valid number")
                    .into(),
                reply_to: None,
                content: crate::message::MessageContent::Text {
                    body: "campaign".into(),
                },
                send_at: None,
                expires_at: None,
                metadata: None,
                dry_run: false,
                created_at: self.now(),
            })
            .collect();
        let ids = messages.iter().map(|m| m.id).collect();
        self.store
            .insert_messages(crate::store::NewBatch {
                account_id: account.id,
                messages,
                idempotency: None,
            })
            .await
            .expect("backlog stored");
        ids
    }

    /// Messages of `account` in `status`, from the store's counters.
    pub(crate) async fn count(&self, account: &Account, status: Status) -> u64 {
        use crate::store::MessageStore;
        self.store
            .status_counts(account.id)
            .await
            .expect("counts")
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.transport.calls.lock().unwrap().clone()
    }

    /// From now on each send waits for a permit.
    pub(crate) fn close_gate(&self) -> Arc<Semaphore> {
        let gate = Arc::new(Semaphore::new(0));
        *self.transport.gate.lock().unwrap() = Some(gate.clone());
        gate
    }
}

/// A phone number for tests.
pub(crate) fn phone(digits: &str) -> PhoneNumber {
    PhoneNumber::parse(digits).unwrap()
}
