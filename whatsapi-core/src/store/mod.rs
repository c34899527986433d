//! What the engine keeps, as capability traits: [`TenantStore`], [`MessageStore`], [`OutboxStore`],
//! [`InboundStore`], [`Housekeeping`], [`ContactStore`], [`LimitStore`] and [`CampaignStore`]. [`Store`] is all of them at once, implemented for every type that
//! implements each one; hold it as `Arc<dyn Store>`. (The hosted product's keys, plans, billing events and rate
//! windows are traits of `whatsapi-saas`, which the store crates implement too.)
//!
//! Helpers for store authors (time codecs, the rules of a status change, the conflicts every store answers) live
//! in [`support`]; a wrapper that changes only some capabilities passes the others through with [`forward`].
//!
//! Rules every implementation follows (the conformance suite in `testing::conformance` checks them):
//! - every status change writes the message row, its timeline entry, the per-account status counters and (when the
//!   account has a webhook) its outbox event in **one transaction**;
//! - a claim is a lease with an attempt number; only the holder of the current attempt may record an outcome;
//! - all reads and writes of messages are scoped by account where an account is given.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountId, AccountUpdate, NewAccount};
use crate::contacts::{
    Contact, ContactActivity, ContactFilter, ContactMessages, ContactRef, OptOut, OptOutKeywords,
};
use crate::idempotency::{Decision, Fingerprint, IdempotencyKey, StoredOutcome};
use crate::inbound::{InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound};
use crate::message::{BatchId, Message, MessageId, MetaError, NewMessage, Pricing, Status};
use crate::numbers::{BusinessNumber, NumberUpdate};

mod campaigns;
pub mod forward;
mod limits;
pub mod support;
use crate::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use crate::status::MetaStatus;
use crate::webhook::{DeliveryAttempt, EventData, EventId, EventType, StatusEventData};
pub use campaigns::CampaignStore;
pub use limits::{LimitStore, SlotBlock};

/// Errors of a store. Backends convert their driver errors into these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or belongs to another account).
    #[error("not found")]
    NotFound,
    /// A uniqueness or state precondition failed; the text says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller's attempt is no longer the current one (its lease expired and another worker claimed it).
    #[error("stale attempt: the message was claimed again")]
    Stale,
    /// The store cannot take writes right now (disk full, read-only, locked, pool exhausted); nothing was changed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reports.
    #[error("storage error: {0}")]
    Backend(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Filters of a message listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this bulk batch.
    pub batch_id: Option<BatchId>,
}

/// A page request: `page` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
}

impl PageRequest {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.limit)
    }
}

/// One page of results and the total across pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Matching items in all pages.
    pub total: u64,
}

/// Completes an idempotency reservation in the same transaction as the insert.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyCompletion {
    /// The key.
    pub key: IdempotencyKey,
    /// Fingerprint of the request.
    pub fingerprint: Fingerprint,
    /// The outcome to replay.
    pub response: StoredOutcome,
    /// When the record is forgotten.
    pub expires_at: DateTime<Utc>,
}

/// Messages to insert atomically (one send, or the valid items of a bulk request).
#[derive(Debug, Clone, PartialEq)]
pub struct NewBatch {
    /// Owner of every message.
    pub account_id: AccountId,
    /// The messages; may be empty when only an idempotent outcome is recorded.
    pub messages: Vec<NewMessage>,
    /// The idempotency record to complete with them.
    pub idempotency: Option<IdempotencyCompletion>,
}

/// A message handed to a dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The message as claimed: `status = processing`, `attempt` is the fencing token, `tries` counts this attempt.
    /// Its timeline is left empty.
    pub message: Message,
    /// The claim is valid until then.
    pub lease_until: DateTime<Utc>,
}

/// How one claim shares itself among accounts: round-robin, so one account's backlog never keeps another's due
/// messages out of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Most messages in all.
    pub limit: usize,
    /// Most messages of one account (what its business number may send before the next claim).
    pub per_account: usize,
    /// Accounts left out of this claim (their number has no pacing room now).
    pub skip: Vec<AccountId>,
}

impl ClaimLimits {
    /// Up to `limit` messages, shared round-robin among every account with due work.
    pub fn total(limit: usize) -> Self {
        Self {
            limit,
            per_account: limit,
            skip: Vec::new(),
        }
    }

    /// Orders fairly and takes at most `limit`: `candidates` is each account's due messages, oldest due first, in
    /// any order of accounts, as `(account, due, id, item)`. The result is each account's first message (accounts
    /// with the oldest first), then each one's second, and so on. For store authors.
    pub fn round_robin<T>(
        &self,
        mut candidates: Vec<(AccountId, DateTime<Utc>, MessageId, T)>,
    ) -> Vec<T> {
        candidates.sort_by_key(|(account, due, id, _)| (*account, *due, *id));
        let mut ranked: Vec<(usize, DateTime<Utc>, MessageId, T)> =
            Vec::with_capacity(candidates.len());
        let mut previous: Option<AccountId> = None;
        let mut rank = 0;
        for (account, due, id, item) in candidates {
            rank = if previous == Some(account) {
                rank + 1
            } else {
                0
            };
            previous = Some(account);
            if rank < self.per_account {
                ranked.push((rank, due, id, item));
            }
        }
        ranked.sort_by_key(|(rank, due, id, _)| (*rank, *due, *id));
        ranked.truncate(self.limit);
        ranked.into_iter().map(|(_, _, _, item)| item).collect()
    }
}

/// Why a send failed, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureInfo {
    /// Text for `errorMessage`.
    pub message: String,
    /// Meta's error code, if any.
    pub code: Option<i64>,
    /// Meta's error field by field, when Meta reported one (webhook statuses).
    pub meta: Option<MetaError>,
}

/// The outcome of one send attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Meta accepted it.
    Sent {
        /// Meta's message id.
        wamid: String,
    },
    /// Transient failure: try again then.
    Retry {
        /// When.
        next_attempt_at: DateTime<Utc>,
        /// The error.
        error: FailureInfo,
    },
    /// Final failure.
    Failed {
        /// The error.
        error: FailureInfo,
    },
    /// Given back unstarted (shutdown): back to `queued`; the try does not count.
    Release,
    /// Given back unstarted to go out later (its number's pacing slots are taken further ahead than a claim
    /// looks): back to `queued`, due at `until`; the try does not count. Until then it leaves the claims of its
    /// account to the account's other numbers.
    Defer {
        /// When it is due again.
        until: DateTime<Utc>,
    },
}

/// One outcome of a batch given to [`MessageStore::record_outcomes`]: the outcome of attempt `attempt` of message
/// `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRecord {
    /// The message.
    pub id: MessageId,
    /// The attempt whose outcome it is (the fencing token of its claim).
    pub attempt: u32,
    /// What became of the attempt.
    pub outcome: Outcome,
}

/// A status reported by Meta for one wamid.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// The account the webhook was routed to; only its messages are matched.
    pub account_id: Option<AccountId>,
    /// Meta's message id.
    pub wamid: String,
    /// The status.
    pub status: MetaStatus,
    /// Meta's timestamp.
    pub at: DateTime<Utc>,
    /// For `failed`.
    pub error: Option<FailureInfo>,
    /// The per-message pricing the status carried, if any; recorded on the message even when the status itself
    /// changes nothing (a `sent` after the send's own `sent`).
    pub pricing: Option<Pricing>,
}
/// What became of one status update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusApplied {
    /// The message moved to this status.
    Applied(MessageId, Status),
    /// A duplicate or late update; nothing changed.
    Ignored(MessageId),
    /// The wamid is not known yet; the update is kept and applied when the send's outcome is recorded.
    Pending,
}

/// A customer-webhook event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Id, stable across retries.
    pub id: EventId,
    /// Owner.
    pub account_id: AccountId,
    /// What kind of event it is.
    pub event_type: EventType,
    /// When it happened (the body's `timestamp`).
    pub created_at: DateTime<Utc>,
    /// The payload data: [`EventData::Status`] exactly for `message.status_updated`.
    pub data: EventData,
    /// Delivery attempts so far (this claim included).
    pub attempts: u32,
    /// The endpoint it goes to; `None`: the account's reference webhook (`PUT /auth/me/webhook`).
    pub endpoint: Option<EndpointId>,
}

impl OutboxEvent {
    /// The status event's data, for `message.status_updated`.
    pub fn status_data(&self) -> Option<&StatusEventData> {
        self.data.status()
    }

    /// The status a `message.status_updated` event announces.
    pub fn status(&self) -> Option<Status> {
        self.status_data().map(|d| d.status)
    }

    /// The outbound message a status event is about.
    pub fn message_id(&self) -> Option<MessageId> {
        self.data.message_id()
    }

    /// Where the event goes: its queue (events of one stream, such as one message's statuses, to one destination
    /// are delivered in order).
    pub fn destination(&self) -> Destination {
        match self.endpoint {
            Some(e) => Destination::Endpoint(e),
            None => Destination::Webhook(self.account_id),
        }
    }
}

/// Longest ordering key ([`NewEvent::stream`]) kept; a longer one is cut (its events still keep their order).
pub const MAX_STREAM_KEY: usize = 256;

/// An event written on its own (not with a status change): a template change, say.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Its type; never `message.status_updated`, which is written only with its status change.
    pub event_type: EventType,
    /// The `data` object, bounded by whoever built it.
    pub data: serde_json::Value,
    /// Events of the same account and stream (a template's changes, say) reach each destination in the order
    /// written; `None`: no order with any other event.
    pub stream: Option<String>,
    /// When it happened (the body's `timestamp`).
    pub at: DateTime<Utc>,
}

impl NewEvent {
    /// The ordering key as stored: `custom|stream` clipped to [`MAX_STREAM_KEY`] bytes, or one of its own
    /// (from `unique`, the event's id) when the event has no stream. For store authors.
    pub fn stream_key(&self, unique: EventId) -> String {
        match &self.stream {
            Some(s) => {
                let mut key = format!("custom|{s}");
                let mut end = key.len().min(MAX_STREAM_KEY);
                while !key.is_char_boundary(end) {
                    end -= 1;
                }
                key.truncate(end);
                key
            }
            None => unique_stream_key(unique),
        }
    }
}

/// The ordering key of a message's status events. For store authors.
pub fn status_stream_key(message: MessageId) -> String {
    format!("message|{message}")
}

/// The ordering key of an event ordered with no other (a `message.received`). For store authors.
pub fn unique_stream_key(event: EventId) -> String {
    format!("event|{event}")
}

/// One delivery queue: an account's reference webhook or one of its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// The account's reference webhook.
    Webhook(AccountId),
    /// A webhook endpoint.
    Endpoint(EndpointId),
}

/// How one claim of events shares itself among destinations, so one slow endpoint never keeps another's events
/// out of a claim or out of the deliverer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventClaimLimits {
    /// Most events in all.
    pub limit: usize,
    /// Most events of one destination.
    pub per_destination: usize,
    /// Destinations left out of this claim (the deliverer has as many of theirs in flight as it allows).
    pub skip: Vec<Destination>,
}

impl EventClaimLimits {
    /// Up to `limit` events, however they are spread.
    pub fn total(limit: usize) -> Self {
        Self {
            limit,
            per_destination: limit,
            skip: Vec::new(),
        }
    }

    /// Picks from `candidates` (each due event that is the oldest unfinished of its stream and destination, in
    /// the order written): at most `per_destination` of one destination, none of `skip`, at most `limit` in all.
    /// For store authors.
    pub fn pick<T>(&self, candidates: impl IntoIterator<Item = (Destination, T)>) -> Vec<T> {
        let mut taken: std::collections::HashMap<Destination, usize> =
            std::collections::HashMap::new();
        let mut out = Vec::new();
        for (destination, item) in candidates {
            if out.len() >= self.limit {
                break;
            }
            if self.skip.contains(&destination) {
                continue;
            }
            let n = taken.entry(destination).or_insert(0);
            if *n < self.per_destination {
                *n += 1;
                out.push(item);
            }
        }
        out
    }
}

/// An outbox event handed to the deliverer with where to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedEvent {
    /// The event.
    pub event: OutboxEvent,
    /// Where to send it now: the account's reference webhook, or the event's endpoint; `None` when that was
    /// removed or disabled since (the event is then dropped).
    pub target: Option<crate::account::WebhookConfig>,
    /// The endpoint's retry schedule; `None` for the reference webhook (the engine's [`WebhookPolicy`]
    /// schedule applies).
    ///
    /// [`WebhookPolicy`]: crate::engine::WebhookPolicy
    pub retry_schedule: Option<Vec<Duration>>,
}

/// What happens to an event after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventNext {
    /// Delivered (or dropped): remove from the queue.
    Done,
    /// Try again then.
    RetryAt(DateTime<Utc>),
    /// Out of attempts: stop trying (kept as failed).
    GiveUp,
}

/// The customer-webhook events not delivered yet: due, leased or waiting to be retried (neither delivered nor
/// given up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// How many such events there are, over every account.
    pub pending: u64,
    /// The `created_at` of the first of them written (events are delivered in the order written); `None` when
    /// there are none.
    pub oldest: Option<DateTime<Utc>>,
}

/// Counts of messages per status for one account.
pub type StatusCounts = BTreeMap<Status, u64>;

/// What the sweeper may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePolicy {
    /// Finished or abandoned outbox events (by the event's `created_at`) and their attempts older than this.
    pub events_older_than: Duration,
    /// Webhook statuses for unknown wamids received longer ago than this (by when they were received, never by
    /// the timestamp Meta claims, which an outsider chooses).
    pub pending_statuses_older_than: Duration,
}

impl Default for PurgePolicy {
    fn default() -> Self {
        Self {
            events_older_than: Duration::from_secs(7 * 24 * 3600),
            pending_statuses_older_than: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Most statuses for unknown wamids an account keeps by default (see [`MessageStore::apply_status_updates`]).
pub const DEFAULT_MAX_PENDING_STATUSES: usize = 10_000;

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Expired idempotency records.
    pub idempotency_records: u64,
    /// Old outbox events.
    pub events: u64,
    /// Old pending statuses.
    pub pending_statuses: u64,
}

/// Tenants: each account with its Meta credentials, customer webhook and breaker, and the lookups that route Meta's webhooks to it.
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Creates an account: active, without credentials or webhook. `Conflict` when the id exists.
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account>;
    /// An account by id.
    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>>;
    /// An account by id for a lookup made on every request (authentication): a store may answer it from a cache,
    /// provided every change to the account (`active`, credentials, breaker...) shows on the very next call, from
    /// whichever process made it; only `messages_sent` may lag behind. By default [`TenantStore::account`].
    async fn recent_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        self.account(id).await
    }
    /// The account whose credentials use this Meta phone number id, or that connected it as an extra number
    /// (routes Meta's webhooks). A phone number id belongs to at most one account: saving credentials with one
    /// that another account uses (in its credentials or as an extra number) is a `Conflict`
    /// ([`support::phone_number_id_taken`]), and so is saving credentials with one of the account's own extra
    /// numbers ([`support::number_already_connected`]).
    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>>;
    /// The account whose credentials declare this WhatsApp Business Account id (routes Meta's webhooks that name
    /// only the WABA, such as template and account updates). Unique across accounts like the phone number id.
    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>>;
    /// The account whose credentials carry a verify token with this SHA-256 ([`support::verify_token_hash`]); an indexed
    /// lookup, so no list of accounts is loaded and the plaintext is never compared.
    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>>;
    /// Applies one change; `NotFound` when the account does not exist.
    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account>;
    /// Up to `limit` accounts in ascending id order, starting after `after` (exclusive; `None` from the first): a
    /// keyset-paginated walk over every account, for operators and re-encryption.
    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>>;
    /// Connects an extra business number to its account ([`BusinessNumber::account_id`]) and answers it as
    /// stored. `NotFound` when the account does not exist; `Conflict` when the account already has
    /// `max_per_account` extra numbers, or when the phone number id is already connected anywhere: as another
    /// account's default or extra number ([`support::phone_number_id_taken`]) or as this account's
    /// ([`support::number_already_connected`]).
    async fn add_number(
        &self,
        number: BusinessNumber,
        max_per_account: usize,
    ) -> StoreResult<BusinessNumber>;
    /// The account's extra numbers, oldest first (then by phone number id).
    async fn numbers(&self, account: AccountId) -> StoreResult<Vec<BusinessNumber>>;
    /// The account's extra number with this phone number id; `None` for an unknown id, the account's default
    /// number and another account's number.
    async fn number(
        &self,
        account: AccountId,
        phone_number_id: &str,
    ) -> StoreResult<Option<BusinessNumber>>;
    /// Applies one change ([`BusinessNumber::apply`]) to an extra number of the account and answers it as stored.
    /// `NotFound` for an unknown number or another account's.
    async fn update_number(
        &self,
        account: AccountId,
        phone_number_id: &str,
        update: NumberUpdate,
    ) -> StoreResult<BusinessNumber>;
    /// Disconnects an extra number of the account (its messages keep naming it). `NotFound` for an unknown number
    /// or another account's.
    async fn delete_number(&self, account: AccountId, phone_number_id: &str) -> StoreResult<()>;
}

/// The message queue: idempotent inserts, claims with leases, outcomes, Meta's statuses, retries and the per-status counters.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Looks the key up and, when it is free, reserves it for this request (answering `Fresh`).
    async fn idempotency_begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision>;
    /// Drops an unfinished reservation (the request failed before doing anything), freeing the key.
    async fn idempotency_release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> StoreResult<()>;
    /// Inserts the messages (status `queued`, or `scheduled` with a `send_at`) with their first timeline entry,
    /// counters, and the completed idempotency record, all or nothing. `Conflict` when the key already holds a
    /// finished response or a message id exists; `NotFound` when the account does not exist.
    async fn insert_messages(&self, batch: NewBatch) -> StoreResult<()>;
    /// A message of the account with its timeline; `None` for unknown ids and other accounts' messages.
    async fn get_message(&self, account: AccountId, id: MessageId) -> StoreResult<Option<Message>>;
    /// Messages of the account, newest first, with the total count (timelines left empty).
    async fn list_messages(
        &self,
        account: AccountId,
        filter: &MessageFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Message>>;
    /// The message with this wamid.
    async fn message_by_wamid(&self, wamid: &str) -> StoreResult<Option<Message>>;
    /// Claims up to `limit` due messages, shared round-robin among accounts: [`claim_due_with`](Self::claim_due_with)
    /// with [`ClaimLimits::total`].
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<Claimed>> {
        self.claim_due_with(now, lease, &ClaimLimits::total(limit))
            .await
    }
    /// Claims up to `limits.limit` due messages: `queued`, `scheduled` with `send_at <= now`, `retrying` with
    /// `next_attempt_at <= now`, and `processing` whose lease ended. Skips inactive accounts, accounts whose
    /// breaker is open at `now` and the accounts of `limits.skip`. Each claimed message gets `processing`,
    /// `attempt + 1`, `tries + 1` and a lease. Two concurrent claimers never receive the same message.
    ///
    /// Fair: at most `limits.per_account` of one account, and round-robin among accounts, so one account's
    /// backlog never keeps another's due messages out. Within an account oldest due first: by the time each
    /// became due (when it was queued, its `send_at`, its `next_attempt_at`, its lease end), then by id. The
    /// result is each account's oldest (accounts whose oldest is oldest first), then each one's second, and so on
    /// (see [`ClaimLimits::round_robin`]); only accounts with something due at `now` take part, and when more than
    /// `limit` have, those whose oldest is oldest.
    async fn claim_due_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &ClaimLimits,
    ) -> StoreResult<Vec<Claimed>>;
    /// The earliest time something becomes due (scheduled, retrying, or a lease ending), to sleep until then.
    /// Queued messages are due since they were queued. Inactive accounts are ignored; an account whose breaker is
    /// open contributes nothing earlier than its `open_until`.
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Records the outcome of attempt `attempt`. `Stale` unless the message is `processing` with that attempt.
    /// `Sent` also applies any pending statuses of its wamid in the same transaction; `Conflict` when the wamid
    /// belongs to another message. Outcomes that reach `sent` or `failed` write an outbox event.
    async fn record_outcome(
        &self,
        id: MessageId,
        attempt: u32,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Message>;
    /// Records a batch of outcomes at `now`, in order, with exactly the effect of one
    /// [`record_outcome`](Self::record_outcome) per item: one answer per item, in the same order. An item is
    /// refused alone (`Stale`, `NotFound`, `Conflict` for a wamid of another message, including one recorded by an
    /// earlier item of the batch) while the others apply; `Err` for the whole call means nothing was recorded.
    ///
    /// A store applies the batch in one transaction with set-based statements where it can; the default records
    /// the items one by one (each in its own transaction), which gives the same answers and state.
    async fn record_outcomes(
        &self,
        batch: &[OutcomeRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<StoreResult<()>>> {
        let mut answers = Vec::with_capacity(batch.len());
        for item in batch {
            answers.push(
                self.record_outcome(item.id, item.attempt, item.outcome.clone(), now)
                    .await
                    .map(|_| ()),
            );
        }
        Ok(answers)
    }
    /// Applies Meta's statuses in one transaction, monotonically; unknown wamids are kept as pending, received at
    /// `now` (their age for [`PurgePolicy::pending_statuses_older_than`] counts from it, not from Meta's `at`). Each
    /// applied status gets a timeline entry and an outbox event at the update's `at`. An account keeps at most
    /// `max_pending_per_account` pending statuses (updates without an account share one such limit): beyond it the
    /// earliest received are dropped, as the latest are the likeliest to match a send being committed.
    async fn apply_status_updates(
        &self,
        updates: &[StatusUpdate],
        now: DateTime<Utc>,
        max_pending_per_account: usize,
    ) -> StoreResult<Vec<StatusApplied>>;
    /// Fails, in one transaction, up to `limit` messages (earliest expiry first) whose validity period ended at or
    /// before `now` and that nobody is sending ([`support::expirable`]): queued, scheduled, retrying (a backoff,
    /// an open breaker, an inactive account), and processing whose lease ended. Each is written as every status
    /// change is ([`support::expiry_change`] with [`support::record_expiry`]): the row, a `failed` timeline entry,
    /// the counters and its outbox events. A claimed message whose lease is live is left to its holder (the
    /// dispatcher checks the expiry before sending); once failed, that holder's outcome is `Stale`. Answers the
    /// messages it failed; a second call finds none of them again.
    async fn expire_messages(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>>;
    /// Re-queues a `failed` message of the account (`tries` reset; the failed send's wamid, timestamps and error
    /// cleared; a `queued` timeline entry at `now`; a message with a validity period gets a fresh one of the same
    /// length from `now`, see [`support::reset_for_retry`]). `NotFound`, or `Conflict` naming its status.
    async fn retry_message(
        &self,
        account: AccountId,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> StoreResult<Message>;
    /// Per-status counts for the account, kept up to date by every change (no table scan). Statuses without
    /// messages may be absent or zero.
    async fn status_counts(&self, account: AccountId) -> StoreResult<StatusCounts>;
    /// Per-status counts over every account (queue depth for metrics), from the same counters.
    async fn status_totals(&self) -> StoreResult<StatusCounts>;
    /// The account's messages created in `[from, to)`, counted per time bucket (aligned to multiples of `bucket`
    /// since the Unix epoch) and current status, oldest bucket first; empty buckets are left out. For charts: a
    /// range scan of the account's messages by creation time, not of the whole table.
    async fn message_timeseries(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> StoreResult<Vec<(DateTime<Utc>, StatusCounts)>>;
    /// The account's messages counted by the `category` and by the `type` of the pricing Meta last reported for
    /// them ([`Message::pricing`]); messages without pricing, or without that field, are left out. An index scan
    /// of the account's priced messages.
    async fn pricing_counts(&self, account: AccountId) -> StoreResult<crate::costs::PricingCounts>;
    /// The account's billable messages (pricing type [`costs::BILLABLE_TYPE`](crate::costs::BILLABLE_TYPE)) that
    /// Meta accepted (`sent_at`) in `[query.from, query.to)`, of `query.batch` when given, counted per pricing
    /// category and the first [`PREFIX_DIGITS`](crate::costs::PREFIX_DIGITS) digits of the recipient's phone
    /// number (`None` for a recipient known only by a username); sorted. An index range scan of the account's
    /// billable messages by `sent_at`.
    async fn billable_tallies(
        &self,
        account: AccountId,
        query: &crate::costs::BillableQuery,
    ) -> StoreResult<Vec<crate::costs::BillableTally>>;
    /// Wake-ups raised when another process sharing this store made messages due (a send on another replica);
    /// the dispatcher listens to them besides its own in-process signal, so it does not wait for its next poll.
    /// A lagged receiver counts as woken. `None` (the default): the store is not shared, polling suffices.
    fn subscribe_wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        None
    }
}

/// What customers send: the 24-hour customer-service window (when each recipient last wrote in) and the inbound
/// messages themselves, once per account and wamid.
#[async_trait]
pub trait InboundStore: Send + Sync + 'static {
    /// Records that `wa_id` wrote to the account at `at` (keeps the latest).
    async fn record_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// When `wa_id` last wrote to the account.
    async fn last_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
    ) -> StoreResult<Option<DateTime<Utc>>>;
    /// When each of `wa_ids` last wrote to the account, as [`last_inbound`](Self::last_inbound) answers it one by
    /// one; ids that never wrote are missing from the map. In a few set-based reads whatever the number of ids
    /// (a campaign's checks), not one per id.
    async fn last_inbounds(
        &self,
        account: AccountId,
        wa_ids: &[String],
    ) -> StoreResult<HashMap<String, DateTime<Utc>>>;
    /// Stores an inbound message once per account and wamid (Meta delivers at least once): `Inserted` when the
    /// account did not have the wamid yet, else `Duplicate` with the message stored first, unchanged. Of
    /// concurrent inserts of one wamid exactly one is `Inserted`. Another account may hold the same wamid.
    /// An insert writes, in the same transaction, a `message.received` event
    /// ([`received_event_data`](crate::inbound::received_event_data)) for the account's reference webhook and
    /// each enabled endpoint subscribed to it; a duplicate writes nothing.
    async fn insert_inbound(&self, new: NewInbound) -> StoreResult<InboundInsert>;
    /// The account's inbound message `id` (`None` for another account's).
    async fn inbound_message(
        &self,
        account: AccountId,
        id: InboundId,
    ) -> StoreResult<Option<InboundMessage>>;
    /// The account's inbound message with this wamid (`None` when the account has none, even if another account
    /// has one).
    async fn inbound_by_wamid(
        &self,
        account: AccountId,
        wamid: &str,
    ) -> StoreResult<Option<InboundMessage>>;
    /// The account's inbound messages matching `filter`, newest received first (then by id, descending), with
    /// the total that match.
    async fn list_inbound(
        &self,
        account: AccountId,
        filter: &InboundFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InboundMessage>>;
}

/// The customer-webhook outbox: events written with their status change, claimed and finished by the deliverer;
/// and the account's webhook endpoints they go to.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Claims up to `limit` due events: [`claim_events_with`](Self::claim_events_with) with
    /// [`EventClaimLimits::total`].
    async fn claim_events(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        self.claim_events_with(now, lease, &EventClaimLimits::total(limit))
            .await
    }
    /// Claims events whose time has come, at most one per stream and destination (the oldest unfinished of the
    /// two, in the order written; a stream whose oldest unfinished event to a destination is leased or not due
    /// yields nothing for that destination), each leased until `now + lease` with `attempts` counting this claim,
    /// shared among destinations as [`EventClaimLimits::pick`] says. A stream is one message's status events,
    /// or the events of one [`NewEvent::stream`]; a `message.received` event is a stream of its own.
    ///
    /// Every event is written once for the account's reference webhook, when it has one at that moment, and once
    /// for each of its enabled endpoints subscribed to the type: status events for `sent`, `delivered`, `read` and
    /// `failed` with the status change, `message.received` by [`InboundStore::insert_inbound`] with a new inbound
    /// message, and the others by [`enqueue_event`](Self::enqueue_event).
    async fn claim_events_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &EventClaimLimits,
    ) -> StoreResult<Vec<ClaimedEvent>>;
    /// Writes an event that goes with no other change (template changes) for each of the account's destinations
    /// subscribed to its type, in one transaction; answers how many were written (0 when none subscribes).
    /// `NotFound` when the account does not exist; `Conflict` for `message.status_updated`, which is written only
    /// with its status change.
    async fn enqueue_event(&self, account: AccountId, event: NewEvent) -> StoreResult<usize>;
    /// Records one delivery attempt (if any was made) and what happens next to the event. `NotFound` for an unknown
    /// event; a finished event stays finished.
    async fn finish_event(
        &self,
        id: EventId,
        attempt: Option<DeliveryAttempt>,
        next: EventNext,
    ) -> StoreResult<()>;
    /// The events not finished yet (neither `Done` nor `GiveUp`), over every account, for metrics: a count over
    /// the index of waiting events, not a table scan.
    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog>;
    /// The account's latest delivery attempts (to every destination), newest first.
    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>>;
    /// Re-queues an event of the account that was given up: due at `now`, with a fresh count of attempts (it is
    /// again the oldest unfinished of its stream and destination, so later events there wait for it).
    /// `NotFound` for an unknown event or another account's; `Conflict` when it is still waiting, was delivered,
    /// or its destination is gone (the endpoint is disabled, or the account has no reference webhook any more).
    async fn retry_event(
        &self,
        account: AccountId,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Saves a new endpoint. `Conflict` when the account already has `max_per_account` endpoints or the id
    /// exists; `NotFound` when the account does not exist.
    async fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max_per_account: usize,
    ) -> StoreResult<WebhookEndpoint>;
    /// The account's endpoints, oldest first.
    async fn endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Changes an endpoint of the account as [`EndpointUpdate::apply`] says (the secret stays) and answers it as
    /// stored. Events already written keep their destination; a re-enabled endpoint gets the events written from
    /// then on. `NotFound` for an unknown endpoint or another account's.
    async fn update_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        update: EndpointUpdate,
    ) -> StoreResult<WebhookEndpoint>;
    /// Removes an endpoint of the account with its events and their attempts. `NotFound` for an unknown
    /// endpoint or another account's.
    async fn delete_endpoint(&self, account: AccountId, id: EndpointId) -> StoreResult<()>;
    /// Replaces the stored signing secret of an endpoint of the account (re-encryption under a new key).
    /// `NotFound` for an unknown endpoint or another account's.
    async fn set_endpoint_secret(
        &self,
        account: AccountId,
        id: EndpointId,
        secret: &str,
    ) -> StoreResult<()>;
    /// Turns an endpoint off (the deliverer does when it answers 410 Gone), saying why; its waiting events are
    /// then dropped as they are claimed. `NotFound` for an unknown endpoint.
    async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<()>;
    /// The latest delivery attempts to one endpoint of the account, newest first; empty for an unknown
    /// endpoint or another account's.
    async fn endpoint_attempts(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>>;
}

/// Removal of what has expired, for the sweeper.
#[async_trait]
pub trait Housekeeping: Send + Sync + 'static {
    /// Removes expired idempotency records (`expires_at <= now`), old finished outbox events and old pending
    /// statuses.
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        policy: PurgePolicy,
    ) -> StoreResult<PurgeReport>;
}

/// Conversations: one row per customer an account sent to or heard from, with its opt-out state, and the
/// account's opt-out keywords.
///
/// [`MessageStore::insert_messages`] records the activity of every message's recipient
/// ([`ContactActivity::of_messages`]) in its own transaction, so a contact exists as soon as a send to it is
/// accepted; inbound messages are recorded with [`record_contact_activity`](Self::record_contact_activity).
/// Contact writes resolve who they are about the same way ([`merge_activities`]): a phone number is the key; an
/// identifier that is only a BSUID goes to the contact already known with that BSUID, else to a contact keyed by it.
///
/// [`ContactActivity::of_messages`]: crate::contacts::ContactActivity::of_messages
/// [`merge_activities`]: crate::contacts::merge_activities
#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// Creates or updates the contacts of these activities: phone and BSUID filled in when given, the profile name
    /// replaced when given, `last_message_at` (and for inbound ones `last_inbound_at`) and `activity_at` moved
    /// forward only. One transaction.
    async fn record_contact_activity(
        &self,
        account: AccountId,
        activities: &[ContactActivity],
    ) -> StoreResult<()>;
    /// The account's contact with this key, else the one with this BSUID; `None` for an unknown id and another
    /// account's contact.
    async fn contact(&self, account: AccountId, id: &str) -> StoreResult<Option<Contact>>;
    /// The contacts of these ids, each as [`contact`](Self::contact) answers it (the contact with this key, else
    /// one with this BSUID), keyed by the id asked for; ids without a contact are missing from the map. In a few
    /// set-based reads whatever the number of ids (a campaign's checks), not one per id.
    async fn contacts_of(
        &self,
        account: AccountId,
        ids: &[String],
    ) -> StoreResult<HashMap<String, Contact>>;
    /// The account's contacts matching `filter`, latest activity first (then by key, descending), with the total.
    async fn list_contacts(
        &self,
        account: AccountId,
        filter: &ContactFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Contact>>;
    /// Sets (`Some`) or clears (`None`) the opt-out of the contact, creating it (with `activity_at = at`) when
    /// it does not exist yet; answers the contact as changed.
    async fn set_contact_opt_out(
        &self,
        account: AccountId,
        who: &ContactRef,
        opt_out: Option<OptOut>,
        at: DateTime<Utc>,
    ) -> StoreResult<Contact>;
    /// Holds marketing to the contact back until `until` (never earlier than a pause already set), creating the
    /// contact (with `activity_at = at`) when needed; answers the contact as changed.
    async fn pause_contact_marketing(
        &self,
        account: AccountId,
        who: &ContactRef,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<Contact>;
    /// The contact's latest `limit` messages each way, newest first: outbound ones sent to its phone number or
    /// BSUID, inbound ones from either; read through indexes by recipient and sender, not a scan.
    async fn contact_messages(
        &self,
        account: AccountId,
        contact: &Contact,
        limit: u32,
    ) -> StoreResult<ContactMessages>;
    /// The account's opt-out keywords; `None` when it never set any (the defaults apply).
    async fn opt_out_keywords(&self, account: AccountId) -> StoreResult<Option<OptOutKeywords>>;
    /// Replaces the account's opt-out keywords.
    async fn set_opt_out_keywords(
        &self,
        account: AccountId,
        keywords: &OptOutKeywords,
    ) -> StoreResult<()>;
}

/// Everything whatsapi keeps: every capability at once. Implemented for each type that implements all of them;
/// object-safe, so hold it as `Arc<dyn Store>`.
pub trait Store:
    TenantStore
    + MessageStore
    + InboundStore
    + OutboxStore
    + Housekeeping
    + ContactStore
    + LimitStore
    + CampaignStore
{
}

impl<T> Store for T where
    T: TenantStore
        + MessageStore
        + InboundStore
        + OutboxStore
        + Housekeeping
        + ContactStore
        + LimitStore
        + CampaignStore
{
}
