//! A store that fails on request: wraps another and answers chosen calls with an error before they reach it, to
//! test what callers do when the store fails (nothing of the failed call is written, as with a real transaction
//! that rolled back).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountId, AccountUpdate, NewAccount};
use crate::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use crate::idempotency::{Decision, Fingerprint, IdempotencyKey};
use crate::inbound::{InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound};
use crate::message::{Message, MessageId};
use crate::store::{
    ClaimLimits, Claimed, ClaimedEvent, EventClaimLimits, EventNext, Housekeeping, InboundStore,
    MessageFilter, MessageStore, NewBatch, NewEvent, OutboxBacklog, OutboxStore, Outcome,
    OutcomeRecord, Page, PageRequest, PurgePolicy, PurgeReport, StatusApplied, StatusCounts,
    StatusUpdate, Store, StoreError, StoreResult, TenantStore,
};
use crate::webhook::{DeliveryAttempt, EventId};

/// Failures to inject, by method name: the bookkeeping of [`FaultyStore`], for wrappers of other store traits
/// (the product's) to fail the same way.
#[derive(Debug, Default)]
pub struct Faults {
    /// Method name -> failures left.
    left: Mutex<HashMap<&'static str, usize>>,
}

impl Faults {
    /// The next `times` calls of `method` fail.
    pub fn fail(&self, method: &'static str, times: usize) {
        self.lock().insert(method, times);
    }

    /// Failures of `method` still to come.
    pub fn pending(&self, method: &'static str) -> usize {
        self.lock().get(method).copied().unwrap_or(0)
    }

    /// `Unavailable` when a failure of `method` is due (counting it), `Ok` otherwise: call it first in each
    /// wrapped method.
    pub fn check(&self, method: &'static str) -> StoreResult<()> {
        match self.lock().get_mut(method) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(StoreError::Unavailable(format!(
                    "injected fault in {method}"
                )))
            }
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, usize>> {
        self.left.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wraps a store; [`FaultyStore::fail`] makes the next calls of one method fail with
/// [`StoreError::Unavailable`] without reaching the inner store. Every other call is passed through.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Faults,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore").finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// Passes everything to `inner` until told to fail.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            faults: Faults::default(),
        }
    }

    /// The next `times` calls of the store method `method` (its name, e.g. `"update_account"`) fail.
    pub fn fail(&self, method: &'static str, times: usize) {
        self.faults.fail(method, times);
    }

    /// Failures of `method` still to come.
    pub fn pending_faults(&self, method: &'static str) -> usize {
        self.faults.pending(method)
    }

    fn fault(&self, method: &'static str) -> StoreResult<()> {
        self.faults.check(method)
    }
}

#[async_trait]
impl TenantStore for FaultyStore {
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account> {
        self.fault("create_account")?;
        self.inner.create_account(account).await
    }

    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        self.fault("account")?;
        self.inner.account(id).await
    }

    async fn recent_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        self.fault("recent_account")?;
        self.inner.recent_account(id).await
    }

    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>> {
        self.fault("account_by_phone_number_id")?;
        self.inner.account_by_phone_number_id(phone_number_id).await
    }

    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>> {
        self.fault("account_by_waba_id")?;
        self.inner.account_by_waba_id(waba_id).await
    }

    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>> {
        self.fault("account_by_verify_token_hash")?;
        self.inner.account_by_verify_token_hash(hash).await
    }

    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account> {
        self.fault("update_account")?;
        self.inner.update_account(id, update).await
    }

    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        self.fault("list_accounts")?;
        self.inner.list_accounts(after, limit).await
    }

    async fn add_number(
        &self,
        number: crate::numbers::BusinessNumber,
        max_per_account: usize,
    ) -> StoreResult<crate::numbers::BusinessNumber> {
        self.inner.add_number(number, max_per_account).await
    }
    async fn numbers(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<crate::numbers::BusinessNumber>> {
        self.inner.numbers(account).await
    }
    async fn number(
        &self,
        account: AccountId,
        phone_number_id: &str,
    ) -> StoreResult<Option<crate::numbers::BusinessNumber>> {
        self.inner.number(account, phone_number_id).await
    }
    async fn update_number(
        &self,
        account: AccountId,
        phone_number_id: &str,
        update: crate::numbers::NumberUpdate,
    ) -> StoreResult<crate::numbers::BusinessNumber> {
        self.inner
            .update_number(account, phone_number_id, update)
            .await
    }
    async fn delete_number(&self, account: AccountId, phone_number_id: &str) -> StoreResult<()> {
        self.inner.delete_number(account, phone_number_id).await
    }
}

#[async_trait]
impl MessageStore for FaultyStore {
    async fn idempotency_begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision> {
        self.fault("idempotency_begin")?;
        self.inner
            .idempotency_begin(account, key, fingerprint, now)
            .await
    }

    async fn idempotency_release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        self.fault("idempotency_release")?;
        self.inner.idempotency_release(account, key).await
    }

    async fn insert_messages(&self, batch: NewBatch) -> StoreResult<()> {
        self.fault("insert_messages")?;
        self.inner.insert_messages(batch).await
    }

    async fn get_message(&self, account: AccountId, id: MessageId) -> StoreResult<Option<Message>> {
        self.fault("get_message")?;
        self.inner.get_message(account, id).await
    }

    async fn list_messages(
        &self,
        account: AccountId,
        filter: &MessageFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        self.fault("list_messages")?;
        self.inner.list_messages(account, filter, page).await
    }

    async fn message_by_wamid(&self, wamid: &str) -> StoreResult<Option<Message>> {
        self.fault("message_by_wamid")?;
        self.inner.message_by_wamid(wamid).await
    }

    async fn claim_due_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &ClaimLimits,
    ) -> StoreResult<Vec<Claimed>> {
        self.fault("claim_due")?;
        self.inner.claim_due_with(now, lease, limits).await
    }

    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.fault("next_due_at")?;
        self.inner.next_due_at().await
    }

    async fn record_outcome(
        &self,
        id: MessageId,
        attempt: u32,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        self.fault("record_outcome")?;
        self.inner.record_outcome(id, attempt, outcome, now).await
    }

    async fn record_outcomes(
        &self,
        batch: &[OutcomeRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<StoreResult<()>>> {
        self.fault("record_outcomes")?;
        self.inner.record_outcomes(batch, now).await
    }

    async fn apply_status_updates(
        &self,
        updates: &[StatusUpdate],
        now: DateTime<Utc>,
        max_pending_per_account: usize,
    ) -> StoreResult<Vec<StatusApplied>> {
        self.fault("apply_status_updates")?;
        self.inner
            .apply_status_updates(updates, now, max_pending_per_account)
            .await
    }

    async fn expire_messages(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        self.fault("expire_messages")?;
        self.inner.expire_messages(now, limit).await
    }

    async fn retry_message(
        &self,
        account: AccountId,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        self.fault("retry_message")?;
        self.inner.retry_message(account, id, now).await
    }

    async fn status_counts(&self, account: AccountId) -> StoreResult<StatusCounts> {
        self.fault("status_counts")?;
        self.inner.status_counts(account).await
    }

    async fn status_totals(&self) -> StoreResult<StatusCounts> {
        self.fault("status_totals")?;
        self.inner.status_totals().await
    }

    async fn message_timeseries(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> StoreResult<Vec<(DateTime<Utc>, StatusCounts)>> {
        self.fault("message_timeseries")?;
        self.inner
            .message_timeseries(account, from, to, bucket)
            .await
    }

    async fn pricing_counts(&self, account: AccountId) -> StoreResult<crate::costs::PricingCounts> {
        self.fault("pricing_counts")?;
        self.inner.pricing_counts(account).await
    }

    async fn billable_tallies(
        &self,
        account: AccountId,
        query: &crate::costs::BillableQuery,
    ) -> StoreResult<Vec<crate::costs::BillableTally>> {
        self.fault("billable_tallies")?;
        self.inner.billable_tallies(account, query).await
    }

    fn subscribe_wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        self.inner.subscribe_wakeups()
    }
}

#[async_trait]
impl InboundStore for FaultyStore {
    async fn record_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.fault("record_inbound")?;
        self.inner.record_inbound(account, wa_id, at).await
    }

    async fn last_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.fault("last_inbound")?;
        self.inner.last_inbound(account, wa_id).await
    }

    async fn last_inbounds(
        &self,
        account: AccountId,
        wa_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, DateTime<Utc>>> {
        self.fault("last_inbounds")?;
        self.inner.last_inbounds(account, wa_ids).await
    }

    async fn insert_inbound(&self, new: NewInbound) -> StoreResult<InboundInsert> {
        self.fault("insert_inbound")?;
        self.inner.insert_inbound(new).await
    }

    async fn inbound_message(
        &self,
        account: AccountId,
        id: InboundId,
    ) -> StoreResult<Option<InboundMessage>> {
        self.fault("inbound_message")?;
        self.inner.inbound_message(account, id).await
    }

    async fn inbound_by_wamid(
        &self,
        account: AccountId,
        wamid: &str,
    ) -> StoreResult<Option<InboundMessage>> {
        self.fault("inbound_by_wamid")?;
        self.inner.inbound_by_wamid(account, wamid).await
    }

    async fn list_inbound(
        &self,
        account: AccountId,
        filter: &InboundFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InboundMessage>> {
        self.fault("list_inbound")?;
        self.inner.list_inbound(account, filter, page).await
    }
}

#[async_trait]
impl OutboxStore for FaultyStore {
    async fn claim_events_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &EventClaimLimits,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        self.fault("claim_events")?;
        self.inner.claim_events_with(now, lease, limits).await
    }
    async fn enqueue_event(&self, account: AccountId, event: NewEvent) -> StoreResult<usize> {
        self.fault("enqueue_event")?;
        self.inner.enqueue_event(account, event).await
    }
    async fn finish_event(
        &self,
        id: EventId,
        attempt: Option<DeliveryAttempt>,
        next: EventNext,
    ) -> StoreResult<()> {
        self.fault("finish_event")?;
        self.inner.finish_event(id, attempt, next).await
    }
    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        self.fault("outbox_backlog")?;
        self.inner.outbox_backlog().await
    }
    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.fault("delivery_attempts")?;
        self.inner.delivery_attempts(account, limit).await
    }
    async fn retry_event(
        &self,
        account: AccountId,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.fault("retry_event")?;
        self.inner.retry_event(account, id, now).await
    }
    async fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max_per_account: usize,
    ) -> StoreResult<WebhookEndpoint> {
        self.fault("create_endpoint")?;
        self.inner.create_endpoint(endpoint, max_per_account).await
    }
    async fn endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpoint>> {
        self.fault("endpoints")?;
        self.inner.endpoints(account).await
    }
    async fn update_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        update: EndpointUpdate,
    ) -> StoreResult<WebhookEndpoint> {
        self.fault("update_endpoint")?;
        self.inner.update_endpoint(account, id, update).await
    }
    async fn delete_endpoint(&self, account: AccountId, id: EndpointId) -> StoreResult<()> {
        self.fault("delete_endpoint")?;
        self.inner.delete_endpoint(account, id).await
    }
    async fn set_endpoint_secret(
        &self,
        account: AccountId,
        id: EndpointId,
        secret: &str,
    ) -> StoreResult<()> {
        self.fault("set_endpoint_secret")?;
        self.inner.set_endpoint_secret(account, id, secret).await
    }
    async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<()> {
        self.fault("disable_endpoint")?;
        self.inner.disable_endpoint(id, reason).await
    }
    async fn endpoint_attempts(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.fault("endpoint_attempts")?;
        self.inner.endpoint_attempts(account, id, limit).await
    }
}

#[async_trait]
impl Housekeeping for FaultyStore {
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        policy: PurgePolicy,
    ) -> StoreResult<PurgeReport> {
        self.fault("purge_expired")?;
        self.inner.purge_expired(now, policy).await
    }
}

impl crate::store::forward::Wraps for FaultyStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
}

// Contacts are passed through: no test injects their faults yet.
impl crate::store::forward::ForwardContacts for FaultyStore {}
impl crate::store::forward::ForwardCampaigns for FaultyStore {}

#[async_trait]
impl crate::store::LimitStore for FaultyStore {
    async fn reserve_send_slots(
        &self,
        blocks: &[crate::store::SlotBlock],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        self.fault("reserve_send_slots")?;
        self.inner.reserve_send_slots(blocks, interval, now).await
    }

    fn shares_send_slots(&self) -> bool {
        self.inner.shares_send_slots()
    }

    async fn update_breaker(
        &self,
        id: AccountId,
        expected: &crate::account::BreakerState,
        new: &crate::account::BreakerState,
    ) -> StoreResult<bool> {
        self.fault("update_breaker")?;
        self.inner.update_breaker(id, expected, new).await
    }

    async fn throttles(
        &self,
        keys: &[String],
    ) -> StoreResult<Vec<Option<crate::numbers::Throttle>>> {
        self.inner.throttles(keys).await
    }
    async fn step_down_number(
        &self,
        key: &str,
        now: DateTime<Utc>,
        quiet: Duration,
        min_gap: Duration,
    ) -> StoreResult<crate::numbers::Throttle> {
        self.inner.step_down_number(key, now, quiet, min_gap).await
    }
}
