//! `MemoryStore`: a complete `Store` in process memory, for tests and for embedders who need no durability.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountId, AccountUpdate, NewAccount, WebhookConfig};
use crate::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use crate::idempotency::{
    self, Decision, Fingerprint, IN_FLIGHT_LOCK, IdempotencyKey, IdempotencyRecord, RETENTION,
};
use crate::inbound::{
    InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound, received_event_data,
};
use crate::message::{Message, MessageId, Status, TimelineEntry};
use crate::status::{self, Event, Transition};
use crate::store::support::{
    StatusChange, expirable, expiry_change, meta_change, outcome_change, record_expiry,
    record_meta_status, record_outcome_fields, record_pricing, reset_for_retry,
};
use crate::store::{
    ClaimLimits, Claimed, ClaimedEvent, EventClaimLimits, EventNext, Housekeeping, InboundStore,
    MessageFilter, MessageStore, NewBatch, NewEvent, OutboxBacklog, OutboxEvent, OutboxStore,
    Outcome, OutcomeRecord, Page, PageRequest, PurgePolicy, PurgeReport, StatusApplied,
    StatusCounts, StatusUpdate, StoreError, StoreResult, TenantStore, status_stream_key,
    unique_stream_key,
};
use crate::store::{LimitStore, SlotBlock};
use crate::webhook::{DeliveryAttempt, EventData, EventId, EventType, StatusEventData};

mod campaigns;

/// A `Store` kept in memory behind one mutex; every method is one "transaction" (the lock is taken once).
///
/// Cloning shares the data. Nothing survives the process.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    /// Set by [`MemoryStore::with_wakeups`]: raised whenever messages become due, for every engine sharing it.
    wakeups: Option<tokio::sync::broadcast::Sender<()>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("accounts", &state.accounts.len())
            .field("messages", &state.messages.len())
            .field("events", &state.events.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that behaves like a store shared by several replicas: every insert, manual retry and
    /// release raises [`MessageStore::subscribe_wakeups`] for all clones, as PostgreSQL's `NOTIFY` does.
    pub fn with_wakeups() -> Self {
        Self {
            wakeups: Some(tokio::sync::broadcast::channel(16).0),
            ..Self::default()
        }
    }

    fn wake_replicas(&self) {
        if let Some(tx) = &self.wakeups {
            let _ = tx.send(());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (a failing test) must not hide the data from the other tests' asserts.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct State {
    accounts: HashMap<AccountId, Account>,
    messages: HashMap<MessageId, Row>,
    /// Claimable messages by the time they become due: (due, id). Holds exactly the rows with `due_at` set.
    due: BTreeSet<(DateTime<Utc>, MessageId)>,
    wamids: HashMap<String, MessageId>,
    counters: HashMap<AccountId, StatusCounts>,
    idempotency: HashMap<(AccountId, IdempotencyKey), IdempotencyRecord>,
    /// Statuses for wamids not stored yet with when each was received, in arrival order.
    pending_statuses: Vec<(DateTime<Utc>, StatusUpdate)>,
    inbound: HashMap<(AccountId, String), DateTime<Utc>>,
    /// Inbound messages by id, and their ids by account and wamid.
    inbound_messages: BTreeMap<InboundId, InboundMessage>,
    inbound_wamids: HashMap<(AccountId, String), InboundId>,
    events: HashMap<EventId, EventRow>,
    /// Unfinished events in the order they were written.
    unfinished: BTreeMap<u64, EventId>,
    attempts: Vec<(AccountId, DeliveryAttempt)>,
    /// Webhook endpoints in the order created.
    endpoints: Vec<WebhookEndpoint>,
    /// Contacts by account and key, and the accounts' opt-out keywords.
    contacts: HashMap<(AccountId, String), crate::contacts::Contact>,
    opt_out_keywords: HashMap<AccountId, crate::contacts::OptOutKeywords>,
    /// The end of the send slots reserved per key ([`LimitStore::reserve_send_slots`]).
    send_slots: HashMap<String, DateTime<Utc>>,
    /// Extra business numbers in the order connected, and the pacing step-downs per number.
    numbers: Vec<crate::numbers::BusinessNumber>,
    throttles: HashMap<String, crate::numbers::Throttle>,
    next_seq: u64,
    /// Campaigns, and the time zones their recipient rows gave, by message.
    campaigns: HashMap<crate::campaign::CampaignId, crate::campaign::Campaign>,
    campaign_zones: HashMap<MessageId, String>,
}

struct Row {
    message: Message,
    /// When the message becomes claimable: queue time, `send_at`, `next_attempt_at` or lease end.
    due_at: Option<DateTime<Utc>>,
}

struct EventRow {
    seq: u64,
    event: OutboxEvent,
    /// Events of one stream (and destination) go out in order.
    stream: String,
    /// `None`: due at once.
    next_attempt_at: Option<DateTime<Utc>>,
    leased_until: Option<DateTime<Utc>>,
    finished: bool,
    /// Finished by `GiveUp` (may be re-sent).
    gave_up: bool,
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl State {
    /// The account a phone number id is connected to (as default credentials or an extra number), but for
    /// `except`'s credentials, with whether it is an extra number.
    fn number_owner(
        &self,
        phone_number_id: &str,
        except_default_of: Option<AccountId>,
    ) -> Option<AccountId> {
        let default = self.accounts.values().find(|a| {
            Some(a.id) != except_default_of
                && a.credentials
                    .as_ref()
                    .is_some_and(|c| c.phone_number_id == phone_number_id)
        });
        default.map(|a| a.id).or_else(|| {
            self.numbers
                .iter()
                .find(|n| n.phone_number_id == phone_number_id)
                .map(|n| n.account_id)
        })
    }

    fn account_mut(&mut self, id: AccountId) -> StoreResult<&mut Account> {
        self.accounts.get_mut(&id).ok_or(StoreError::NotFound)
    }

    fn bump(&mut self, account: AccountId, status: Status, delta: i64) {
        let counts = self.counters.entry(account).or_default();
        let n = counts.entry(status).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            counts.remove(&status);
        }
    }

    fn set_due(&mut self, id: MessageId, due_at: Option<DateTime<Utc>>) {
        let Some(row) = self.messages.get_mut(&id) else {
            return;
        };
        if let Some(old) = row.due_at.take() {
            self.due.remove(&(old, id));
        }
        row.due_at = due_at;
        if let Some(new) = due_at {
            self.due.insert((new, id));
        }
    }

    /// Writes a status change decided by `status::transition`: the row (after `edit`) and what
    /// [`StatusChange::apply`] says goes with it (timeline entry, counters, due index, outbox event).
    fn change(
        &mut self,
        id: MessageId,
        change: StatusChange,
        edit: impl FnOnce(&mut Message),
    ) -> Message {
        let row = self
            .messages
            .get_mut(&id)
            .expect("caller checked the row exists");
        let msg = &mut row.message;
        let write = change.apply(msg, edit);
        let at = msg.updated_at;
        msg.timeline.extend(write.timeline);
        let after = msg.clone();
        for (status, delta) in write.counter_deltas {
            self.bump(after.account_id, status, delta);
        }
        self.set_due(id, write.due_at);
        if write.announce {
            self.enqueue_event(&after, at);
        }
        after
    }

    fn enqueue_event(&mut self, message: &Message, at: DateTime<Utc>) {
        self.write_event(
            message.account_id,
            EventType::StatusUpdated,
            EventData::Status(StatusEventData::of(message)),
            |_| status_stream_key(message.id),
            at,
        );
    }

    /// Writes one event for each of the account's destinations subscribed to its type; answers how many.
    fn write_event(
        &mut self,
        account: AccountId,
        event_type: EventType,
        data: EventData,
        stream: impl Fn(EventId) -> String,
        at: DateTime<Utc>,
    ) -> usize {
        let has_webhook = self
            .accounts
            .get(&account)
            .is_some_and(|a| a.webhook.is_some());
        let mut destinations: Vec<Option<EndpointId>> = Vec::new();
        if has_webhook {
            destinations.push(None);
        }
        destinations.extend(
            self.endpoints
                .iter()
                .filter(|e| e.account_id == account && e.enabled && e.subscribes(event_type))
                .map(|e| Some(e.id)),
        );
        for endpoint in &destinations {
            self.next_seq += 1;
            let seq = self.next_seq;
            let id = EventId::new();
            self.events.insert(
                id,
                EventRow {
                    seq,
                    event: OutboxEvent {
                        id,
                        account_id: account,
                        event_type,
                        created_at: at,
                        data: data.clone(),
                        attempts: 0,
                        endpoint: *endpoint,
                    },
                    stream: stream(id),
                    next_attempt_at: None,
                    leased_until: None,
                    finished: false,
                    gave_up: false,
                },
            );
            self.unfinished.insert(seq, id);
        }
        destinations.len()
    }

    fn apply_meta(&mut self, id: MessageId, update: &StatusUpdate) -> StatusApplied {
        if let Some(row) = self.messages.get_mut(&id) {
            record_pricing(&mut row.message, update.pricing.as_ref());
        }
        let current = self.messages[&id].message.status;
        let (meta, at) = (update.status, update.at);
        let Some(c) = meta_change(current, meta, at, update.error.as_ref()) else {
            return StatusApplied::Ignored(id);
        };
        let to = c.to;
        let error = update.error.clone();
        self.change(id, c, |m| record_meta_status(m, meta, at, error.as_ref()));
        StatusApplied::Applied(id, to)
    }

    /// Records the outcome of attempt `attempt` of message `id` (see [`MessageStore::record_outcome`]).
    fn record_outcome(
        &mut self,
        id: MessageId,
        attempt: u32,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let row = self.messages.get(&id).ok_or(StoreError::NotFound)?;
        let current = &row.message;
        if current.status != Status::Processing || current.attempt != attempt {
            return Err(StoreError::Stale);
        }
        let (account_id, dry_run) = (current.account_id, current.dry_run);
        if let Outcome::Sent { wamid } = outcome {
            if let Some(other) = self.wamids.get(wamid).filter(|o| **o != id) {
                return Err(StoreError::Conflict(format!(
                    "wamid {wamid} already belongs to message {other}"
                )));
            }
        }
        let change = outcome_change(Status::Processing, outcome, now)?;
        self.change(id, change, |m| record_outcome_fields(m, outcome, now));
        if let Outcome::Sent { wamid } = outcome {
            self.wamids.insert(wamid.clone(), id);
            // rust-version 1.85 has no let chains.
            if let (false, Some(account)) = (dry_run, self.accounts.get_mut(&account_id)) {
                account.messages_sent += 1;
            }
            // Statuses that overtook this commit, oldest first.
            let mut early = Vec::new();
            self.pending_statuses.retain(|(_, u)| {
                let mine = u.wamid == *wamid && u.account_id.is_none_or(|a| a == account_id);
                if mine {
                    early.push(u.clone());
                }
                !mine
            });
            early.sort_by_key(|u| u.at);
            for update in &early {
                self.apply_meta(id, update);
            }
        }
        Ok(())
    }

    /// Inserts a batch, all or nothing (see [`MessageStore::insert_messages`]).
    fn insert_batch(&mut self, batch: NewBatch) -> StoreResult<()> {
        let s = self;
        // Check everything first: nothing is written unless everything can be.
        if !s.accounts.contains_key(&batch.account_id) {
            return Err(StoreError::NotFound);
        }
        let mut ids = HashSet::with_capacity(batch.messages.len());
        for m in &batch.messages {
            if m.account_id != batch.account_id {
                return Err(StoreError::Conflict(format!(
                    "message {} belongs to another account than its batch",
                    m.id
                )));
            }
            if s.messages.contains_key(&m.id) || !ids.insert(m.id) {
                return Err(StoreError::Conflict(format!(
                    "message {} already exists",
                    m.id
                )));
            }
        }
        if let Some(c) = &batch.idempotency {
            let slot = (batch.account_id, c.key.clone());
            if s.idempotency
                .get(&slot)
                .is_some_and(|r| r.response.is_some())
            {
                return Err(StoreError::Conflict(format!(
                    "idempotency key {} already holds a response",
                    c.key.as_str()
                )));
            }
        }

        let activities = crate::contacts::ContactActivity::of_messages(&batch.messages);
        s.record_contacts(batch.account_id, &activities);
        for m in batch.messages {
            let status = m.initial_status();
            let due_at = m.send_at.unwrap_or(m.created_at);
            let message = Message {
                id: m.id,
                account_id: m.account_id,
                batch_id: m.batch_id,
                to: m.to,
                content: m.content,
                reply_to: m.reply_to,
                from: m.from,
                status,
                scheduled_for: m.send_at,
                expires_at: m.expires_at,
                metadata: m.metadata,
                dry_run: m.dry_run,
                wamid: None,
                attempt: 0,
                tries: 0,
                next_attempt_at: None,
                lease_until: None,
                sent_at: None,
                delivered_at: None,
                read_at: None,
                failed_at: None,
                error_message: None,
                error_code: None,
                meta_error: None,
                pricing: None,
                created_at: m.created_at,
                updated_at: m.created_at,
                timeline: vec![TimelineEntry {
                    status,
                    at: m.created_at,
                    detail: None,
                }],
            };
            s.messages.insert(
                message.id,
                Row {
                    message,
                    due_at: None,
                },
            );
            s.set_due(m.id, Some(due_at));
            s.bump(batch.account_id, status, 1);
        }
        if let Some(c) = batch.idempotency {
            let slot = (batch.account_id, c.key.clone());
            let created_at = s
                .idempotency
                .get(&slot)
                .map(|r| r.created_at)
                .unwrap_or(c.expires_at - chrono_duration(RETENTION));
            s.idempotency.insert(
                slot,
                IdempotencyRecord {
                    account_id: batch.account_id,
                    key: c.key,
                    fingerprint: c.fingerprint,
                    response: Some(c.response),
                    created_at,
                    locked_until: created_at,
                    expires_at: c.expires_at,
                },
            );
        }
        Ok(())
    }

    fn get_full(&self, id: MessageId) -> Option<Message> {
        self.messages.get(&id).map(|r| r.message.clone())
    }
}

fn without_timeline(m: &Message) -> Message {
    let mut m = m.clone();
    m.timeline = Vec::new();
    m
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn create_account(&self, new: NewAccount) -> StoreResult<Account> {
        let mut guard = self.lock();
        let s = &mut *guard;
        if s.accounts.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!(
                "account {} already exists",
                new.id
            )));
        }
        let account = Account::new(new);
        s.accounts.insert(account.id, account.clone());
        Ok(account)
    }

    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        Ok(self.lock().accounts.get(&id).cloned())
    }

    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>> {
        let s = self.lock();
        Ok(s.number_owner(phone_number_id, None)
            .and_then(|id| s.accounts.get(&id))
            .cloned())
    }

    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>> {
        let s = self.lock();
        Ok(s.accounts
            .values()
            .find(|a| {
                a.credentials
                    .as_ref()
                    .is_some_and(|c| c.waba_id.as_deref() == Some(waba_id))
            })
            .cloned())
    }

    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>> {
        let s = self.lock();
        Ok(s.accounts
            .values()
            .filter(|a| {
                a.credentials
                    .as_ref()
                    .and_then(crate::store::support::verify_token_hash)
                    .is_some_and(|h| &h == hash)
            })
            .min_by_key(|a| (a.created_at, a.id))
            .cloned())
    }

    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let mut changed = s.account_mut(id)?.clone();
        changed.apply(update);
        // A phone number id and a WABA id belong to one account (the SQL stores enforce it with unique indexes).
        if let Some(c) = &changed.credentials {
            match s.number_owner(&c.phone_number_id, Some(id)) {
                Some(owner) if owner == id => {
                    return Err(crate::store::support::number_already_connected(
                        &c.phone_number_id,
                    ));
                }
                Some(_) => {
                    return Err(crate::store::support::phone_number_id_taken(
                        &c.phone_number_id,
                    ));
                }
                None => {}
            }
            for other in s.accounts.values().filter(|a| a.id != id) {
                let Some(o) = &other.credentials else {
                    continue;
                };
                if o.phone_number_id == c.phone_number_id {
                    return Err(crate::store::support::phone_number_id_taken(
                        &c.phone_number_id,
                    ));
                }
                if let (Some(w), Some(ow)) = (&c.waba_id, &o.waba_id) {
                    if w == ow {
                        return Err(crate::store::support::waba_id_taken(w));
                    }
                }
            }
        }
        let account = s.account_mut(id)?;
        *account = changed;
        Ok(account.clone())
    }

    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        let s = self.lock();
        let mut ids: Vec<AccountId> = s
            .accounts
            .keys()
            .copied()
            .filter(|id| after.is_none_or(|a| *id > a))
            .collect();
        ids.sort_unstable();
        Ok(ids
            .into_iter()
            .take(limit)
            .map(|id| s.accounts[&id].clone())
            .collect())
    }

    async fn add_number(
        &self,
        number: crate::numbers::BusinessNumber,
        max_per_account: usize,
    ) -> StoreResult<crate::numbers::BusinessNumber> {
        let mut s = self.lock();
        s.account_mut(number.account_id)?;
        match s.number_owner(&number.phone_number_id, None) {
            Some(owner) if owner == number.account_id => {
                return Err(crate::store::support::number_already_connected(
                    &number.phone_number_id,
                ));
            }
            Some(_) => {
                return Err(crate::store::support::phone_number_id_taken(
                    &number.phone_number_id,
                ));
            }
            None => {}
        }
        let held = s
            .numbers
            .iter()
            .filter(|n| n.account_id == number.account_id)
            .count();
        if held >= max_per_account {
            return Err(crate::store::support::too_many_numbers(max_per_account));
        }
        s.numbers.push(number.clone());
        Ok(number)
    }

    async fn numbers(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<crate::numbers::BusinessNumber>> {
        let s = self.lock();
        let mut out: Vec<_> = s
            .numbers
            .iter()
            .filter(|n| n.account_id == account)
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (a.created_at, &a.phone_number_id).cmp(&(b.created_at, &b.phone_number_id))
        });
        Ok(out)
    }

    async fn number(
        &self,
        account: AccountId,
        phone_number_id: &str,
    ) -> StoreResult<Option<crate::numbers::BusinessNumber>> {
        Ok(self
            .lock()
            .numbers
            .iter()
            .find(|n| n.account_id == account && n.phone_number_id == phone_number_id)
            .cloned())
    }

    async fn update_number(
        &self,
        account: AccountId,
        phone_number_id: &str,
        update: crate::numbers::NumberUpdate,
    ) -> StoreResult<crate::numbers::BusinessNumber> {
        let mut s = self.lock();
        let n = s
            .numbers
            .iter_mut()
            .find(|n| n.account_id == account && n.phone_number_id == phone_number_id)
            .ok_or(StoreError::NotFound)?;
        n.apply(update);
        Ok(n.clone())
    }

    async fn delete_number(&self, account: AccountId, phone_number_id: &str) -> StoreResult<()> {
        let mut s = self.lock();
        let before = s.numbers.len();
        s.numbers
            .retain(|n| !(n.account_id == account && n.phone_number_id == phone_number_id));
        if s.numbers.len() == before {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn idempotency_begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let slot = (account, key.clone());
        if let Some(decision) = idempotency::decide(s.idempotency.get(&slot), fingerprint, now) {
            return Ok(decision);
        }
        s.idempotency.insert(
            slot,
            IdempotencyRecord {
                account_id: account,
                key: key.clone(),
                fingerprint: *fingerprint,
                response: None,
                created_at: now,
                locked_until: now + chrono_duration(IN_FLIGHT_LOCK),
                expires_at: now + chrono_duration(RETENTION),
            },
        );
        Ok(Decision::Fresh)
    }

    async fn idempotency_release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let slot = (account, key.clone());
        if s.idempotency
            .get(&slot)
            .is_some_and(|r| r.response.is_none())
        {
            s.idempotency.remove(&slot);
        }
        Ok(())
    }

    async fn insert_messages(&self, batch: NewBatch) -> StoreResult<()> {
        self.lock().insert_batch(batch)?;
        self.wake_replicas();
        Ok(())
    }

    async fn get_message(&self, account: AccountId, id: MessageId) -> StoreResult<Option<Message>> {
        let s = self.lock();
        Ok(s.messages
            .get(&id)
            .filter(|r| r.message.account_id == account)
            .map(|r| r.message.clone()))
    }

    async fn list_messages(
        &self,
        account: AccountId,
        filter: &MessageFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        let s = self.lock();
        let mut matching: Vec<&Message> = s
            .messages
            .values()
            .map(|r| &r.message)
            .filter(|m| m.account_id == account)
            .filter(|m| filter.status.is_none_or(|st| m.status == st))
            .filter(|m| filter.batch_id.is_none_or(|b| m.batch_id == Some(b)))
            .collect();
        matching.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        let total = matching.len() as u64;
        let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let items = matching
            .into_iter()
            .skip(offset)
            .take(page.limit as usize)
            .map(without_timeline)
            .collect();
        Ok(Page { items, total })
    }

    async fn message_by_wamid(&self, wamid: &str) -> StoreResult<Option<Message>> {
        let s = self.lock();
        Ok(s.wamids.get(wamid).and_then(|id| s.get_full(*id)))
    }

    async fn claim_due_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &ClaimLimits,
    ) -> StoreResult<Vec<Claimed>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let cap = limits.per_account.min(limits.limit);
        let mut taken: HashMap<AccountId, usize> = HashMap::new();
        let mut candidates = Vec::new();
        if cap > 0 {
            for &(due, id) in &s.due {
                if due > now {
                    break;
                }
                let message = &s.messages[&id].message;
                let account = message.account_id;
                let n = taken.entry(account).or_default();
                if *n >= cap || limits.skip.contains(&account) {
                    continue;
                }
                let runnable = s.accounts.get(&account).is_some_and(|a| {
                    a.active && a.breaker.open_until.is_none_or(|until| until <= now)
                });
                // Decide every move before writing any, so a claim is all or nothing.
                if let (true, Transition::To(to)) =
                    (runnable, status::transition(message.status, Event::Claim))
                {
                    *n += 1;
                    candidates.push((account, due, id, (id, to)));
                }
            }
        }
        let chosen = limits.round_robin(candidates);
        let lease_until = now + chrono_duration(lease);
        let mut claimed = Vec::with_capacity(chosen.len());
        for (id, to) in chosen {
            let message = s.change(
                id,
                StatusChange {
                    to,
                    at: now,
                    timeline: false,
                    detail: None,
                    due_at: Some(lease_until),
                },
                |m| {
                    m.attempt += 1;
                    m.tries += 1;
                    m.lease_until = Some(lease_until);
                    m.next_attempt_at = None;
                },
            );
            claimed.push(Claimed {
                message: without_timeline(&message),
                lease_until,
            });
        }
        Ok(claimed)
    }

    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let s = self.lock();
        let mut best: Option<DateTime<Utc>> = None;
        for &(due, id) in &s.due {
            if best.is_some_and(|b| due >= b) {
                break;
            }
            let account_id = s.messages[&id].message.account_id;
            let Some(account) = s.accounts.get(&account_id).filter(|a| a.active) else {
                continue;
            };
            let effective = account.breaker.open_until.map_or(due, |u| u.max(due));
            best = Some(best.map_or(effective, |b| b.min(effective)));
        }
        Ok(best)
    }

    async fn record_outcome(
        &self,
        id: MessageId,
        attempt: u32,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        let mut guard = self.lock();
        let s = &mut *guard;
        s.record_outcome(id, attempt, &outcome, now)?;
        if outcome == Outcome::Release {
            self.wake_replicas();
        }
        Ok(s.get_full(id).expect("the row exists"))
    }

    async fn record_outcomes(
        &self,
        batch: &[OutcomeRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<StoreResult<()>>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let answers: Vec<StoreResult<()>> = batch
            .iter()
            .map(|item| s.record_outcome(item.id, item.attempt, &item.outcome, now))
            .collect();
        let released = batch
            .iter()
            .zip(&answers)
            .any(|(item, answer)| answer.is_ok() && item.outcome == Outcome::Release);
        if released {
            self.wake_replicas();
        }
        Ok(answers)
    }

    async fn apply_status_updates(
        &self,
        updates: &[StatusUpdate],
        now: DateTime<Utc>,
        max_pending_per_account: usize,
    ) -> StoreResult<Vec<StatusApplied>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let mut results = Vec::with_capacity(updates.len());
        let mut grown = BTreeSet::new();
        for update in updates {
            let found = s.wamids.get(&update.wamid).copied().filter(|id| {
                update
                    .account_id
                    .is_none_or(|a| s.messages[id].message.account_id == a)
            });
            match found {
                Some(id) => results.push(s.apply_meta(id, update)),
                None => {
                    s.pending_statuses.push((now, update.clone()));
                    grown.insert(update.account_id);
                    results.push(StatusApplied::Pending);
                }
            }
        }
        for account in grown {
            let kept = s
                .pending_statuses
                .iter()
                .filter(|(_, u)| u.account_id == account)
                .count();
            let mut excess = kept.saturating_sub(max_pending_per_account);
            if excess > 0 {
                tracing::warn!(
                    account_id = ?account,
                    dropped = excess,
                    "too many statuses for unknown wamids: the earliest received are dropped"
                );
            }
            // Arrival order: the earliest received come first.
            s.pending_statuses.retain(|(_, u)| {
                let drop = excess > 0 && u.account_id == account;
                excess -= usize::from(drop);
                !drop
            });
        }
        Ok(results)
    }

    async fn expire_messages(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        // Every message: a paused campaign's held ones are waiting but in no due index.
        let mut expired: Vec<(DateTime<Utc>, MessageId)> = s
            .messages
            .values()
            .map(|r| &r.message)
            .filter(|m| expirable(m, now))
            .filter_map(|m| Some((m.expires_at?, m.id)))
            .collect();
        expired.sort_unstable();
        expired.truncate(limit);
        let mut failed = Vec::with_capacity(expired.len());
        for (_, id) in expired {
            let change = expiry_change(&s.messages[&id].message, now)?;
            s.change(id, change, |m| record_expiry(m, now));
            failed.push(id);
        }
        Ok(failed)
    }

    async fn retry_message(
        &self,
        account: AccountId,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let current = s
            .messages
            .get(&id)
            .map(|r| &r.message)
            .filter(|m| m.account_id == account)
            .ok_or(StoreError::NotFound)?
            .status;
        let Transition::To(to) = status::transition(current, Event::ManualRetry) else {
            return Err(StoreError::Conflict(format!(
                "message is {current}; only failed messages can be retried"
            )));
        };
        // The old wamid belonged to the failed send; the next send gets its own.
        if let Some(old) = s.messages[&id].message.wamid.clone() {
            s.wamids.remove(&old);
        }
        let message = s.change(
            id,
            StatusChange {
                to,
                at: now,
                timeline: true,
                detail: None,
                due_at: Some(now),
            },
            |m| reset_for_retry(m, now),
        );
        self.wake_replicas();
        Ok(message)
    }

    async fn status_counts(&self, account: AccountId) -> StoreResult<StatusCounts> {
        Ok(self
            .lock()
            .counters
            .get(&account)
            .cloned()
            .unwrap_or_default())
    }

    async fn status_totals(&self) -> StoreResult<StatusCounts> {
        let guard = self.lock();
        let mut totals = StatusCounts::new();
        for counts in guard.counters.values() {
            for (status, n) in counts {
                *totals.entry(*status).or_default() += n;
            }
        }
        Ok(totals)
    }

    async fn message_timeseries(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> StoreResult<Vec<(DateTime<Utc>, StatusCounts)>> {
        let width = i64::try_from(bucket.as_nanos()).unwrap_or(i64::MAX).max(1);
        let guard = self.lock();
        let mut buckets: std::collections::BTreeMap<i64, StatusCounts> =
            std::collections::BTreeMap::new();
        for row in guard.messages.values() {
            let m = &row.message;
            if m.account_id != account || m.created_at < from || m.created_at >= to {
                continue;
            }
            let ns = m.created_at.timestamp_nanos_opt().unwrap_or(0);
            *buckets
                .entry(ns.div_euclid(width) * width)
                .or_default()
                .entry(m.status)
                .or_default() += 1;
        }
        Ok(buckets
            .into_iter()
            .map(|(start, counts)| (DateTime::from_timestamp_nanos(start), counts))
            .collect())
    }

    async fn pricing_counts(&self, account: AccountId) -> StoreResult<crate::costs::PricingCounts> {
        let guard = self.lock();
        let mut counts = crate::costs::PricingCounts::default();
        for row in guard.messages.values() {
            let Some(p) = row
                .message
                .pricing
                .as_ref()
                .filter(|_| row.message.account_id == account)
            else {
                continue;
            };
            if let Some(c) = &p.category {
                *counts.by_category.entry(c.clone()).or_default() += 1;
            }
            if let Some(t) = &p.kind {
                *counts.by_type.entry(t.clone()).or_default() += 1;
            }
        }
        Ok(counts)
    }

    async fn billable_tallies(
        &self,
        account: AccountId,
        query: &crate::costs::BillableQuery,
    ) -> StoreResult<Vec<crate::costs::BillableTally>> {
        let guard = self.lock();
        let mut tallies: std::collections::BTreeMap<(Option<String>, String), u64> =
            std::collections::BTreeMap::new();
        for row in guard.messages.values() {
            let m = &row.message;
            let Some(p) = &m.pricing else { continue };
            let in_range = m
                .sent_at
                .is_some_and(|at| at >= query.from && at < query.to);
            if m.account_id != account
                || !in_range
                || p.kind.as_deref() != Some(crate::costs::BILLABLE_TYPE)
                || query.batch.is_some_and(|b| m.batch_id != Some(b))
            {
                continue;
            }
            let Some(category) = &p.category else {
                continue;
            };
            let prefix = m.to.phone_number().map(|n| {
                n.as_str()
                    .chars()
                    .take(crate::costs::PREFIX_DIGITS)
                    .collect()
            });
            *tallies.entry((prefix, category.clone())).or_default() += 1;
        }
        Ok(tallies
            .into_iter()
            .map(
                |((prefix, category), messages)| crate::costs::BillableTally {
                    prefix,
                    category,
                    messages,
                },
            )
            .collect())
    }

    fn subscribe_wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        self.wakeups
            .as_ref()
            .map(tokio::sync::broadcast::Sender::subscribe)
    }
}

#[async_trait]
impl InboundStore for MemoryStore {
    async fn record_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let latest = s.inbound.entry((account, wa_id.to_owned())).or_insert(at);
        *latest = (*latest).max(at);
        Ok(())
    }

    async fn last_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self
            .lock()
            .inbound
            .get(&(account, wa_id.to_owned()))
            .copied())
    }

    async fn last_inbounds(
        &self,
        account: AccountId,
        wa_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, DateTime<Utc>>> {
        let s = self.lock();
        Ok(wa_ids
            .iter()
            .filter_map(|id| Some((id.clone(), *s.inbound.get(&(account, id.clone()))?)))
            .collect())
    }

    async fn insert_inbound(&self, new: NewInbound) -> StoreResult<InboundInsert> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let key = (new.account_id, new.message.wamid.clone());
        if let Some(id) = s.inbound_wamids.get(&key) {
            return Ok(InboundInsert::Duplicate(s.inbound_messages[id].clone()));
        }
        let stored = new.into_stored();
        s.inbound_wamids.insert(key, stored.id);
        s.inbound_messages.insert(stored.id, stored.clone());
        s.write_event(
            stored.account_id,
            EventType::MessageReceived,
            EventData::Json(received_event_data(&stored)),
            unique_stream_key,
            stored.received_at,
        );
        Ok(InboundInsert::Inserted(stored))
    }

    async fn inbound_message(
        &self,
        account: AccountId,
        id: InboundId,
    ) -> StoreResult<Option<InboundMessage>> {
        Ok(self
            .lock()
            .inbound_messages
            .get(&id)
            .filter(|m| m.account_id == account)
            .cloned())
    }

    async fn inbound_by_wamid(
        &self,
        account: AccountId,
        wamid: &str,
    ) -> StoreResult<Option<InboundMessage>> {
        let guard = self.lock();
        Ok(guard
            .inbound_wamids
            .get(&(account, wamid.to_owned()))
            .map(|id| guard.inbound_messages[id].clone()))
    }

    async fn list_inbound(
        &self,
        account: AccountId,
        filter: &InboundFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InboundMessage>> {
        let guard = self.lock();
        let mut all: Vec<&InboundMessage> = guard
            .inbound_messages
            .values()
            .filter(|m| m.account_id == account && filter.matches(m))
            .collect();
        all.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .cloned()
            .collect();
        Ok(Page { items, total })
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn claim_events_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &EventClaimLimits,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let mut seen = HashSet::new();
        let mut candidates = Vec::new();
        for id in s.unfinished.values() {
            let row = &s.events[id];
            // Only the oldest unfinished event of a stream to a destination may go out; later ones wait for it.
            if !seen.insert((row.event.account_id, &row.stream, row.event.endpoint)) {
                continue;
            }
            let due = row.next_attempt_at.is_none_or(|t| t <= now);
            let free = row.leased_until.is_none_or(|t| t <= now);
            if due && free {
                candidates.push((row.event.destination(), *id));
            }
        }
        let chosen = limits.pick(candidates);
        let leased_until = now + chrono_duration(lease);
        let mut claimed = Vec::with_capacity(chosen.len());
        for id in chosen {
            let row = s.events.get_mut(&id).expect("chosen from the index");
            row.leased_until = Some(leased_until);
            row.event.attempts += 1;
            let event = row.event.clone();
            let (target, retry_schedule) = match event.endpoint {
                None => (
                    s.accounts
                        .get(&event.account_id)
                        .and_then(|a| a.webhook.clone()),
                    None,
                ),
                Some(e) => match s.endpoints.iter().find(|x| x.id == e && x.enabled) {
                    Some(x) => (
                        Some(WebhookConfig {
                            url: x.url.clone(),
                            secret: x.secret.clone(),
                        }),
                        Some(x.retry_schedule.clone()),
                    ),
                    None => (None, None),
                },
            };
            claimed.push(ClaimedEvent {
                event,
                target,
                retry_schedule,
            });
        }
        Ok(claimed)
    }

    async fn enqueue_event(&self, account: AccountId, event: NewEvent) -> StoreResult<usize> {
        if event.event_type == EventType::StatusUpdated {
            return Err(StoreError::Conflict(
                "status events are written with their status change".into(),
            ));
        }
        let mut s = self.lock();
        if !s.accounts.contains_key(&account) {
            return Err(StoreError::NotFound);
        }
        Ok(s.write_event(
            account,
            event.event_type,
            EventData::Json(event.data.clone()),
            |id| event.stream_key(id),
            event.at,
        ))
    }

    async fn finish_event(
        &self,
        id: EventId,
        attempt: Option<DeliveryAttempt>,
        next: EventNext,
    ) -> StoreResult<()> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let row = s.events.get_mut(&id).ok_or(StoreError::NotFound)?;
        let (account, seq) = (row.event.account_id, row.seq);
        if !row.finished {
            match next {
                EventNext::Done | EventNext::GiveUp => {
                    row.finished = true;
                    row.gave_up = next == EventNext::GiveUp;
                    row.leased_until = None;
                    s.unfinished.remove(&seq);
                }
                EventNext::RetryAt(t) => {
                    row.leased_until = None;
                    row.next_attempt_at = Some(t);
                }
            }
        }
        if let Some(attempt) = attempt {
            s.attempts.push((account, attempt));
        }
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        let s = self.lock();
        Ok(OutboxBacklog {
            pending: s.unfinished.len() as u64,
            oldest: s
                .unfinished
                .values()
                .next()
                .map(|id| s.events[id].event.created_at),
        })
    }

    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        let s = self.lock();
        let mut mine: Vec<(usize, &DeliveryAttempt)> = s
            .attempts
            .iter()
            .enumerate()
            .filter(|(_, (a, _))| *a == account)
            .map(|(i, (_, d))| (i, d))
            .collect();
        // Newest first; among equal times, the one recorded last.
        mine.sort_by(|(ia, a), (ib, b)| (b.at, ib).cmp(&(a.at, ia)));
        Ok(mine
            .into_iter()
            .take(limit as usize)
            .map(|(_, d)| d.clone())
            .collect())
    }

    async fn retry_event(
        &self,
        account: AccountId,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let row = s
            .events
            .get_mut(&id)
            .filter(|r| r.event.account_id == account)
            .ok_or(StoreError::NotFound)?;
        if !row.finished {
            return Err(StoreError::Conflict(
                "the event is still waiting to be delivered".into(),
            ));
        }
        if !row.gave_up {
            return Err(StoreError::Conflict("the event was delivered".into()));
        }
        let reachable = match row.event.endpoint {
            None => s
                .accounts
                .get(&account)
                .is_some_and(|a| a.webhook.is_some()),
            Some(e) => s.endpoints.iter().any(|x| x.id == e && x.enabled),
        };
        if !reachable {
            return Err(StoreError::Conflict(
                "its destination is gone: the endpoint is disabled, or the account has no webhook any more".into(),
            ));
        }
        row.finished = false;
        row.gave_up = false;
        row.event.attempts = 0;
        row.next_attempt_at = Some(now);
        row.leased_until = None;
        let seq = row.seq;
        s.unfinished.insert(seq, id);
        Ok(())
    }

    async fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max_per_account: usize,
    ) -> StoreResult<WebhookEndpoint> {
        let mut s = self.lock();
        if !s.accounts.contains_key(&endpoint.account_id) {
            return Err(StoreError::NotFound);
        }
        if s.endpoints.iter().any(|e| e.id == endpoint.id) {
            return Err(StoreError::Conflict("endpoint id exists".into()));
        }
        let n = s
            .endpoints
            .iter()
            .filter(|e| e.account_id == endpoint.account_id)
            .count();
        if n >= max_per_account {
            return Err(StoreError::Conflict(format!(
                "an account has at most {max_per_account} webhook endpoints"
            )));
        }
        s.endpoints.push(endpoint.clone());
        Ok(endpoint)
    }

    async fn endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpoint>> {
        let s = self.lock();
        Ok(s.endpoints
            .iter()
            .filter(|e| e.account_id == account)
            .cloned()
            .collect())
    }

    async fn update_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        update: EndpointUpdate,
    ) -> StoreResult<WebhookEndpoint> {
        let mut s = self.lock();
        let e = s
            .endpoints
            .iter_mut()
            .find(|e| e.id == id && e.account_id == account)
            .ok_or(StoreError::NotFound)?;
        update.apply(e);
        Ok(e.clone())
    }

    async fn delete_endpoint(&self, account: AccountId, id: EndpointId) -> StoreResult<()> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let before = s.endpoints.len();
        s.endpoints
            .retain(|e| !(e.id == id && e.account_id == account));
        if s.endpoints.len() == before {
            return Err(StoreError::NotFound);
        }
        let gone: HashSet<EventId> = s
            .events
            .values()
            .filter(|r| r.event.endpoint == Some(id))
            .map(|r| r.event.id)
            .collect();
        for r in s.events.values().filter(|r| gone.contains(&r.event.id)) {
            s.unfinished.remove(&r.seq);
        }
        s.events.retain(|k, _| !gone.contains(k));
        s.attempts.retain(|(_, a)| !gone.contains(&a.event_id));
        Ok(())
    }

    async fn set_endpoint_secret(
        &self,
        account: AccountId,
        id: EndpointId,
        secret: &str,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        let e = s
            .endpoints
            .iter_mut()
            .find(|e| e.id == id && e.account_id == account)
            .ok_or(StoreError::NotFound)?;
        e.secret = secret.to_owned();
        Ok(())
    }

    async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<()> {
        let mut s = self.lock();
        let e = s
            .endpoints
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or(StoreError::NotFound)?;
        e.enabled = false;
        e.disabled_reason = Some(reason.to_owned());
        Ok(())
    }

    async fn endpoint_attempts(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        let s = self.lock();
        let mut mine: Vec<(usize, &DeliveryAttempt)> = s
            .attempts
            .iter()
            .enumerate()
            .filter(|(_, (a, d))| {
                *a == account
                    && s.events
                        .get(&d.event_id)
                        .is_some_and(|r| r.event.endpoint == Some(id))
            })
            .map(|(i, (_, d))| (i, d))
            .collect();
        mine.sort_by(|(ia, a), (ib, b)| (b.at, ib).cmp(&(a.at, ia)));
        Ok(mine
            .into_iter()
            .take(limit as usize)
            .map(|(_, d)| d.clone())
            .collect())
    }
}

#[async_trait]
impl Housekeeping for MemoryStore {
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        policy: PurgePolicy,
    ) -> StoreResult<PurgeReport> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let mut report = PurgeReport::default();

        let before = s.idempotency.len();
        s.idempotency.retain(|_, r| r.expires_at > now);
        report.idempotency_records = (before - s.idempotency.len()) as u64;

        let events_cutoff = now - chrono_duration(policy.events_older_than);
        let old_events: HashSet<EventId> = s
            .events
            .values()
            .filter(|r| r.finished && r.event.created_at <= events_cutoff)
            .map(|r| r.event.id)
            .collect();
        s.events.retain(|id, _| !old_events.contains(id));
        s.attempts
            .retain(|(_, a)| !old_events.contains(&a.event_id));
        report.events = old_events.len() as u64;

        let pending_cutoff = now - chrono_duration(policy.pending_statuses_older_than);
        let before = s.pending_statuses.len();
        s.pending_statuses
            .retain(|(received_at, _)| *received_at > pending_cutoff);
        report.pending_statuses = (before - s.pending_statuses.len()) as u64;

        Ok(report)
    }
}

impl State {
    fn contact_key_of_user(
        &self,
        account: AccountId,
        user: &crate::recipient::UserId,
    ) -> Option<String> {
        self.contacts
            .values()
            .find(|c| c.account_id == account && c.user_id.as_ref() == Some(user))
            .map(|c| c.id.clone())
    }

    fn record_contacts(
        &mut self,
        account: AccountId,
        activities: &[crate::contacts::ContactActivity],
    ) {
        let merged =
            crate::contacts::merge_activities(activities, |u| self.contact_key_of_user(account, u));
        for (key, m) in merged {
            let Some(at) = m.at else { continue };
            let c = self.contact_entry(account, &key, at);
            c.phone = c.phone.take().or(m.phone);
            c.user_id = m.user_id.or(c.user_id.take());
            if m.profile_name.is_some() {
                c.profile_name = m.profile_name;
            }
            c.last_message_at = c.last_message_at.max(Some(at));
            c.last_inbound_at = c.last_inbound_at.max(m.inbound_at);
            c.activity_at = c.activity_at.max(at);
        }
    }

    /// The contact of `key`, created (without messages, with `activity_at = at`) when missing.
    fn contact_entry(
        &mut self,
        account: AccountId,
        key: &str,
        at: DateTime<Utc>,
    ) -> &mut crate::contacts::Contact {
        let who = crate::contacts::ContactRef::parse_id(key);
        self.contacts
            .entry((account, key.to_owned()))
            .or_insert_with(|| crate::contacts::Contact {
                account_id: account,
                id: key.to_owned(),
                phone: who.as_ref().and_then(|w| w.phone.clone()),
                user_id: who.and_then(|w| w.user_id),
                profile_name: None,
                last_inbound_at: None,
                last_message_at: None,
                activity_at: at,
                opt_out: None,
                marketing_paused_until: None,
            })
    }

    /// The key a write about `who` goes to (see [`crate::contacts::merge_activities`]).
    fn contact_key(
        &self,
        account: AccountId,
        who: &crate::contacts::ContactRef,
    ) -> StoreResult<String> {
        match (&who.phone, &who.user_id) {
            (Some(p), _) => Ok(p.as_str().to_owned()),
            (None, Some(u)) => Ok(self
                .contact_key_of_user(account, u)
                .unwrap_or_else(|| u.as_str().to_owned())),
            (None, None) => Err(StoreError::Conflict(
                "a contact needs a phone number or a user id".into(),
            )),
        }
    }

    /// The contact a write about `who` changes, created when missing, with the identifiers filled in.
    fn contact_for_write(
        &mut self,
        account: AccountId,
        who: &crate::contacts::ContactRef,
        at: DateTime<Utc>,
    ) -> StoreResult<&mut crate::contacts::Contact> {
        let key = self.contact_key(account, who)?;
        let c = self.contact_entry(account, &key, at);
        c.phone = c.phone.take().or_else(|| who.phone.clone());
        c.user_id = who.user_id.clone().or(c.user_id.take());
        Ok(c)
    }
}

#[async_trait]
impl LimitStore for MemoryStore {
    async fn reserve_send_slots(
        &self,
        blocks: &[SlotBlock],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let mut s = self.lock();
        Ok(blocks
            .iter()
            .map(|b| {
                let next = s.send_slots.entry(b.key.clone()).or_insert(now);
                let start = (*next).max(now);
                *next = start + chrono_duration(interval.saturating_mul(b.count));
                start
            })
            .collect())
    }

    /// Shared when built [`with_wakeups`](MemoryStore::with_wakeups), like a store of several replicas: the
    /// engines on its clones then pace through it.
    fn shares_send_slots(&self) -> bool {
        self.wakeups.is_some()
    }

    async fn update_breaker(
        &self,
        id: AccountId,
        expected: &crate::account::BreakerState,
        new: &crate::account::BreakerState,
    ) -> StoreResult<bool> {
        let mut s = self.lock();
        let account = s.account_mut(id)?;
        if account.breaker != *expected {
            return Ok(false);
        }
        account.breaker = *new;
        Ok(true)
    }

    async fn throttles(
        &self,
        keys: &[String],
    ) -> StoreResult<Vec<Option<crate::numbers::Throttle>>> {
        let s = self.lock();
        Ok(keys.iter().map(|k| s.throttles.get(k).copied()).collect())
    }

    async fn step_down_number(
        &self,
        key: &str,
        now: DateTime<Utc>,
        quiet: Duration,
        min_gap: Duration,
    ) -> StoreResult<crate::numbers::Throttle> {
        let mut s = self.lock();
        let current = s.throttles.get(key).copied();
        let next = crate::numbers::Throttle::stepped_down(current, now, quiet, min_gap);
        s.throttles.insert(key.to_owned(), next);
        Ok(next)
    }
}

#[async_trait]
impl crate::store::ContactStore for MemoryStore {
    async fn record_contact_activity(
        &self,
        account: AccountId,
        activities: &[crate::contacts::ContactActivity],
    ) -> StoreResult<()> {
        self.lock().record_contacts(account, activities);
        Ok(())
    }

    async fn contact(
        &self,
        account: AccountId,
        id: &str,
    ) -> StoreResult<Option<crate::contacts::Contact>> {
        let s = self.lock();
        if let Some(c) = s.contacts.get(&(account, id.to_owned())) {
            return Ok(Some(c.clone()));
        }
        Ok(s.contacts
            .values()
            .find(|c| {
                c.account_id == account && c.user_id.as_ref().is_some_and(|u| u.as_str() == id)
            })
            .cloned())
    }

    async fn contacts_of(
        &self,
        account: AccountId,
        ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, crate::contacts::Contact>> {
        let s = self.lock();
        // The BSUIDs of the account's contacts, the first of each as `contact` finds it.
        let mut by_user = std::collections::HashMap::new();
        for c in s.contacts.values().filter(|c| c.account_id == account) {
            if let Some(u) = &c.user_id {
                by_user.entry(u.as_str()).or_insert(c);
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| {
                let c = s
                    .contacts
                    .get(&(account, id.clone()))
                    .or_else(|| by_user.get(id.as_str()).copied())?;
                Some((id.clone(), c.clone()))
            })
            .collect())
    }

    async fn list_contacts(
        &self,
        account: AccountId,
        filter: &crate::contacts::ContactFilter,
        page: PageRequest,
    ) -> StoreResult<Page<crate::contacts::Contact>> {
        let s = self.lock();
        let mut all: Vec<&crate::contacts::Contact> = s
            .contacts
            .values()
            .filter(|c| c.account_id == account && filter.matches(c))
            .collect();
        all.sort_by(|a, b| {
            b.activity_at
                .cmp(&a.activity_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .cloned()
            .collect();
        Ok(Page { items, total })
    }

    async fn set_contact_opt_out(
        &self,
        account: AccountId,
        who: &crate::contacts::ContactRef,
        opt_out: Option<crate::contacts::OptOut>,
        at: DateTime<Utc>,
    ) -> StoreResult<crate::contacts::Contact> {
        let mut s = self.lock();
        let c = s.contact_for_write(account, who, at)?;
        c.opt_out = opt_out;
        Ok(c.clone())
    }

    async fn pause_contact_marketing(
        &self,
        account: AccountId,
        who: &crate::contacts::ContactRef,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<crate::contacts::Contact> {
        let mut s = self.lock();
        let c = s.contact_for_write(account, who, at)?;
        c.marketing_paused_until = c.marketing_paused_until.max(Some(until));
        Ok(c.clone())
    }

    async fn contact_messages(
        &self,
        account: AccountId,
        contact: &crate::contacts::Contact,
        limit: u32,
    ) -> StoreResult<crate::contacts::ContactMessages> {
        let s = self.lock();
        let phone = contact.phone.as_ref().map(|p| p.as_str());
        let user = contact.user_id.as_ref().map(|u| u.as_str());
        let mut outbound: Vec<Message> = s
            .messages
            .values()
            .map(|r| &r.message)
            .filter(|m| {
                m.account_id == account
                    && ((phone.is_some() && m.to.to() == phone)
                        || (user.is_some() && m.to.user_id().map(|u| u.as_str()) == user))
            })
            .map(|m| Message {
                timeline: Vec::new(),
                ..m.clone()
            })
            .collect();
        outbound.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        outbound.truncate(limit as usize);
        let mut inbound: Vec<InboundMessage> = s
            .inbound_messages
            .values()
            .filter(|m| {
                m.account_id == account
                    && ((phone.is_some() && m.message.from.as_deref() == phone)
                        || (user.is_some() && m.message.from_user_id.as_deref() == user))
            })
            .cloned()
            .collect();
        inbound.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
        inbound.truncate(limit as usize);
        Ok(crate::contacts::ContactMessages { outbound, inbound })
    }

    async fn opt_out_keywords(
        &self,
        account: AccountId,
    ) -> StoreResult<Option<crate::contacts::OptOutKeywords>> {
        Ok(self.lock().opt_out_keywords.get(&account).cloned())
    }

    async fn set_opt_out_keywords(
        &self,
        account: AccountId,
        keywords: &crate::contacts::OptOutKeywords,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        if !s.accounts.contains_key(&account) {
            return Err(StoreError::NotFound);
        }
        s.opt_out_keywords.insert(account, keywords.clone());
        Ok(())
    }
}
