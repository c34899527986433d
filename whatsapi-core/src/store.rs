//! The `Store` trait: everything whatsapi keeps, behind one seam.
//!
//! Rules every implementation follows (the conformance suite in `testing::conformance` checks them):
//! - every status change writes the message row, its timeline entry, the per-account status counters and (when the
//!   account has a webhook) its outbox event in **one transaction**;
//! - a claim is a lease with an attempt number; only the holder of the current attempt may record an outcome;
//! - all reads and writes of messages are scoped by account where an account is given.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountId, AccountUpdate, KeyHash, MetaCredentials, NewAccount};
use crate::idempotency::{Decision, Fingerprint, IdempotencyKey, StoredOutcome};
use crate::message::{BatchId, Message, MessageId, MetaError, NewMessage, Pricing, Status};
use crate::status::{self, Event, MetaStatus, Transition};
use crate::webhook::{DeliveryAttempt, EventId, StatusEventData};

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

/// A time as stores keep it: nanoseconds since the Unix epoch, lossless for `chrono` and ordered like the times.
/// Times outside 1677–2262 are clamped.
pub fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The time of a stored [`nanos`] value.
pub fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// `t + d`, saturating at the latest representable time.
pub fn saturating_add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, saturating at the earliest representable time.
pub fn saturating_sub(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Sets the fields a status reported by Meta changes on a message (its timestamps, or the failure), after the
/// state machine allowed the move. Every store calls it inside the transaction that records the status, so the
/// rule lives in one place: `read` also sets `delivered_at` when it is missing, and later receipts never move an
/// earlier timestamp.
pub fn record_meta_status(
    m: &mut Message,
    meta: MetaStatus,
    at: DateTime<Utc>,
    error: Option<&FailureInfo>,
) {
    m.lease_until = None;
    m.next_attempt_at = None;
    match meta {
        MetaStatus::Sent => {
            m.sent_at.get_or_insert(at);
        }
        MetaStatus::Delivered => {
            m.delivered_at.get_or_insert(at);
        }
        MetaStatus::Read => {
            m.delivered_at.get_or_insert(at);
            m.read_at.get_or_insert(at);
        }
        MetaStatus::Failed => {
            m.failed_at = Some(at);
            m.error_message = Some(error.map_or_else(
                || "Meta reported the message as failed".to_owned(),
                |e| e.message.clone(),
            ));
            m.error_code = error.and_then(|e| e.code);
            m.meta_error = error.and_then(|e| e.meta.clone());
        }
    }
}

/// The `Conflict` every store answers when credentials name a phone number id another account uses. It names the
/// number (the caller sent it) but never the other account.
pub fn phone_number_id_taken(phone_number_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "The phone number id {phone_number_id} is already connected to another account. A phone number id can \
         belong to one account only, so Meta's webhooks for it reach one account: remove the credentials there \
         first (DELETE /auth/me/credentials), or use another number."
    ))
}

/// The `Conflict` every store answers when credentials name a WhatsApp Business Account id another account uses.
pub fn waba_id_taken(waba_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "The WhatsApp Business Account id {waba_id} is already connected to another account. A WABA id can belong \
         to one account only: remove it from the other account's credentials first, or leave \
         whatsappBusinessAccountId out."
    ))
}

/// The SHA-256 of a Meta verify token, as stores index it.
pub fn verify_token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// The key under which a store indexes the verify token of `c`: the hash the credentials carry (set before the
/// token is sealed, see [`MetaCredentials::verify_token_hash`]) or, for plaintext credentials, the hash of the
/// token itself.
pub fn verify_token_hash(c: &MetaCredentials) -> Option<[u8; 32]> {
    match (&c.verify_token_hash, &c.verify_token) {
        (Some(h), _) => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).ok().map(|()| out)
        }
        (None, Some(t)) => Some(verify_token_digest(t)),
        (None, None) => None,
    }
}

/// Records the pricing a status of Meta carried; `true` when it changed the message (the store then writes it).
/// Every store calls it for each matched status update, applied or not.
pub fn record_pricing(m: &mut Message, pricing: Option<&Pricing>) -> bool {
    match pricing {
        Some(p) if m.pricing.as_ref() != Some(p) => {
            m.pricing = Some(p.clone());
            true
        }
        _ => false,
    }
}

/// Clears what the failed send left on a message that is queued again by hand: its tries, its wamid (the next send
/// gets its own), its timestamps and its error. Every store calls it inside the retry's transaction.
pub fn reset_for_retry(m: &mut Message) {
    m.tries = 0;
    m.wamid = None;
    m.sent_at = None;
    m.delivered_at = None;
    m.read_at = None;
    m.failed_at = None;
    m.error_message = None;
    m.error_code = None;
    m.meta_error = None;
    m.pricing = None;
    m.next_attempt_at = None;
    m.lease_until = None;
}

/// One status change as every store writes it: the message row, its counters, a timeline entry when `timeline`
/// (claims and releases have none), and when it becomes claimable again (`due_at`, `None`: settled).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// The status reached.
    pub to: Status,
    /// When.
    pub at: DateTime<Utc>,
    /// Whether it shows in the timeline.
    pub timeline: bool,
    /// Why, for the timeline.
    pub detail: Option<String>,
    /// When the message is due again; `None` once settled.
    pub due_at: Option<DateTime<Utc>>,
}

/// The status `event` moves a message in `from` to, or the conflict every store answers when the state machine
/// refuses it.
pub fn expect_transition(from: Status, event: Event) -> StoreResult<Status> {
    match status::transition(from, event) {
        Transition::To(s) => Ok(s),
        Transition::Ignore | Transition::Illegal => Err(StoreError::Conflict(format!(
            "{event:?} is not allowed for a {from} message"
        ))),
    }
}

/// The status change recording `outcome` at `now` makes to a message in `from` (a `processing` message whose
/// attempt the store has checked). Every store writes it with [`record_outcome_fields`] as the edit, so the rules
/// of an outcome live in one place.
pub fn outcome_change(
    from: Status,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> StoreResult<StatusChange> {
    let (event, timeline, detail, due_at) = match outcome {
        Outcome::Sent { .. } => (Event::Accepted, true, None, None),
        Outcome::Retry {
            next_attempt_at,
            error,
        } => (
            Event::TransientFailure,
            true,
            Some(error.message.clone()),
            Some(*next_attempt_at),
        ),
        Outcome::Failed { error } => (Event::Failure, true, Some(error.message.clone()), None),
        // The try never happened: the message is queued again, due at once.
        Outcome::Release => (Event::Release, false, None, Some(now)),
    };
    Ok(StatusChange {
        to: expect_transition(from, event)?,
        at: now,
        timeline,
        detail,
        due_at,
    })
}

/// Sets the fields recording `outcome` at `now` changes on a message: the wamid and `sent_at` of a send Meta
/// accepted (clearing the last error), the next attempt and error of a retry, the failure, or one try given back
/// by a release. The lease ends in every case.
pub fn record_outcome_fields(m: &mut Message, outcome: &Outcome, now: DateTime<Utc>) {
    m.lease_until = None;
    match outcome {
        Outcome::Sent { wamid } => {
            m.wamid = Some(wamid.clone());
            m.sent_at = Some(now);
            m.next_attempt_at = None;
            m.error_message = None;
            m.error_code = None;
            m.meta_error = None;
        }
        Outcome::Retry {
            next_attempt_at,
            error,
        } => {
            m.next_attempt_at = Some(*next_attempt_at);
            m.error_message = Some(error.message.clone());
            m.error_code = error.code;
            m.meta_error = error.meta.clone();
        }
        Outcome::Failed { error } => {
            m.failed_at = Some(now);
            m.next_attempt_at = None;
            m.error_message = Some(error.message.clone());
            m.error_code = error.code;
            m.meta_error = error.meta.clone();
        }
        Outcome::Release => m.tries = m.tries.saturating_sub(1),
    }
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
    /// Status the event announces.
    pub status: Status,
    /// When the status changed.
    pub created_at: DateTime<Utc>,
    /// The payload data.
    pub data: StatusEventData,
    /// Delivery attempts so far (this claim included).
    pub attempts: u32,
}

/// An outbox event handed to the deliverer with where to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedEvent {
    /// The event.
    pub event: OutboxEvent,
    /// The account's current webhook, `None` if it was removed since (the event is then dropped).
    pub target: Option<crate::account::WebhookConfig>,
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

/// Most statuses for unknown wamids an account keeps by default (see [`Store::apply_status_updates`]).
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
    /// Old rate-limit windows.
    pub rate_windows: u64,
}

/// Persistent state of whatsapi. Object-safe: hold it as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- accounts ----

    /// Creates an account. `Conflict` when the email (case-insensitive) is taken.
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account>;
    /// The account whose current key has this hash. Runs on every API request, so a store may answer it from a
    /// cache, provided every change to the account (its key, `active`, plan, credentials, breaker...) shows on the
    /// very next call, from whichever process made it; only `messages_sent` may lag behind.
    async fn account_by_key_hash(&self, hash: &KeyHash) -> StoreResult<Option<Account>>;
    /// An account by id.
    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>>;
    /// An account by email (case-insensitive), for operators.
    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>>;
    /// The account whose credentials use this Meta phone number id (routes Meta's webhooks). A phone number id
    /// belongs to at most one account: saving credentials with one another account uses is a `Conflict`.
    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>>;
    /// The account whose credentials declare this WhatsApp Business Account id (routes Meta's webhooks that name
    /// only the WABA, such as template and account updates). Unique across accounts like the phone number id.
    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>>;
    /// The account whose credentials carry a verify token with this SHA-256 ([`verify_token_hash`]); an indexed
    /// lookup, so no list of accounts is loaded and the plaintext is never compared.
    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>>;
    /// Applies one change; `NotFound` when the account does not exist.
    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account>;
    /// Replaces the key hash if the current one is `old`; `Conflict` otherwise (a concurrent rotation won).
    async fn rotate_key(&self, id: AccountId, old: &KeyHash, new: &KeyHash) -> StoreResult<()>;
    /// Up to `limit` accounts in ascending id order, starting after `after` (exclusive; `None` from the first): a
    /// keyset-paginated walk over every account, for operators and re-encryption.
    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>>;

    // ---- external events ----

    /// Records that event `id` from `source` (e.g. `stripe`) was processed, durably, for an event that changes
    /// nothing (one that does goes through [`Store::apply_external_event`]). Answers `true` the first time and
    /// `false` for a repeat, so an event delivered twice is handled once (even by two replicas at once).
    async fn record_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Applies `update` to `account` and records event `id` from `source` in **one transaction**, so an event is
    /// never recorded without its change: the updated account, or `None` when the event was recorded before (then
    /// nothing changes). `NotFound` when the account does not exist; a failure records nothing, so the sender's
    /// retry of the event is applied.
    async fn apply_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
        account: AccountId,
        update: AccountUpdate,
    ) -> StoreResult<Option<Account>>;

    // ---- idempotency ----

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

    // ---- messages ----

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
    /// Re-queues a `failed` message of the account (`tries` reset; the failed send's wamid, timestamps and error
    /// cleared; a `queued` timeline entry at `now`). `NotFound`, or `Conflict` naming its status.
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

    // ---- 24-hour window ----

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

    // ---- customer webhook outbox ----

    /// Claims up to `limit` events whose time has come, at most one per message (the oldest unfinished, in the order
    /// written; a message whose oldest unfinished event is leased or not due yields nothing), each leased until
    /// `now + lease` with `attempts` counting this claim. Events are written only for `sent`, `delivered`, `read`
    /// and `failed`, and only when the account has a webhook at that moment.
    async fn claim_events(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<ClaimedEvent>>;
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
    /// The account's latest delivery attempts, newest first.
    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>>;

    // ---- limits and housekeeping ----

    /// Counts one hit in the fixed window `bucket`/`window_start` and returns the count including it.
    async fn hit_rate_window(&self, bucket: &str, window_start: DateTime<Utc>) -> StoreResult<u64>;
    /// Removes expired idempotency records (`expires_at <= now`), old finished outbox events, old pending statuses
    /// and rate windows that started at least an hour before `now`.
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        policy: PurgePolicy,
    ) -> StoreResult<PurgeReport>;

    // ---- wake-ups across processes ----

    /// Wake-ups raised when another process sharing this store made messages due (a send on another replica);
    /// the dispatcher listens to them besides its own in-process signal, so it does not wait for its next poll.
    /// A lagged receiver counts as woken. `None` (the default): the store is not shared, polling suffices.
    fn subscribe_wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        None
    }
}
