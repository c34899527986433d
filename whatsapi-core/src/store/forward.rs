//! Pass-through for wrappers: a store that changes some capabilities (encryption of secrets, fault injection)
//! implements those itself and forwards the rest to the store it wraps, by implementing [`Wraps`] and the
//! `Forward*` marker of each capability it leaves unchanged.
//!
//! ```
//! use std::sync::Arc;
//! use whatsapi_core::store::Store;
//! use whatsapi_core::store::forward::*;
//!
//! /// Counts nothing and changes nothing: forwards every capability.
//! struct PassThrough(Arc<dyn Store>);
//!
//! impl Wraps for PassThrough {
//!     fn inner(&self) -> &dyn Store {
//!         &*self.0
//!     }
//! }
//! impl ForwardTenants for PassThrough {}
//! impl ForwardMessages for PassThrough {}
//! impl ForwardInbound for PassThrough {}
//! impl ForwardOutbox for PassThrough {}
//! impl ForwardHousekeeping for PassThrough {}
//! impl ForwardContacts for PassThrough {}
//! impl ForwardLimits for PassThrough {}
//! impl ForwardCampaigns for PassThrough {}
//!
//! # #[cfg(feature = "testing")] {
//! let store: Arc<dyn Store> = Arc::new(PassThrough(Arc::new(whatsapi_core::testing::MemoryStore::new())));
//! # let _ = store; }
//! ```

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountId, AccountUpdate, NewAccount};
use crate::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use crate::idempotency::{Decision, Fingerprint, IdempotencyKey};
use crate::message::{Message, MessageId};
use crate::webhook::{DeliveryAttempt, EventId};

use super::*;

/// A store wrapping another.
pub trait Wraps: Send + Sync + 'static {
    /// The wrapped store, which answers every forwarded call.
    fn inner(&self) -> &dyn Store;
}

/// Passes tenants ([`TenantStore`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardTenants: Wraps {}

/// Passes the message queue ([`MessageStore`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardMessages: Wraps {}

/// Passes inbound windows ([`InboundStore`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardInbound: Wraps {}

/// Passes the outbox ([`OutboxStore`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardOutbox: Wraps {}

/// Passes housekeeping ([`Housekeeping`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardHousekeeping: Wraps {}

/// Passes contacts ([`ContactStore`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardContacts: Wraps {}

/// Passes shared limits ([`LimitStore`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardLimits: Wraps {}

/// Passes campaigns ([`CampaignStore`]) through to [`Wraps::inner`] unchanged.
pub trait ForwardCampaigns: Wraps {}

#[async_trait]
impl<T: ForwardTenants> TenantStore for T {
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account> {
        self.inner().create_account(account).await
    }
    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        self.inner().account(id).await
    }
    async fn recent_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        self.inner().recent_account(id).await
    }
    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>> {
        self.inner()
            .account_by_phone_number_id(phone_number_id)
            .await
    }
    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>> {
        self.inner().account_by_waba_id(waba_id).await
    }
    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>> {
        self.inner().account_by_verify_token_hash(hash).await
    }
    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account> {
        self.inner().update_account(id, update).await
    }
    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        self.inner().list_accounts(after, limit).await
    }
    async fn add_number(
        &self,
        number: crate::numbers::BusinessNumber,
        max_per_account: usize,
    ) -> StoreResult<crate::numbers::BusinessNumber> {
        self.inner().add_number(number, max_per_account).await
    }
    async fn numbers(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<crate::numbers::BusinessNumber>> {
        self.inner().numbers(account).await
    }
    async fn number(
        &self,
        account: AccountId,
        phone_number_id: &str,
    ) -> StoreResult<Option<crate::numbers::BusinessNumber>> {
        self.inner().number(account, phone_number_id).await
    }
    async fn update_number(
        &self,
        account: AccountId,
        phone_number_id: &str,
        update: crate::numbers::NumberUpdate,
    ) -> StoreResult<crate::numbers::BusinessNumber> {
        self.inner()
            .update_number(account, phone_number_id, update)
            .await
    }
    async fn delete_number(&self, account: AccountId, phone_number_id: &str) -> StoreResult<()> {
        self.inner().delete_number(account, phone_number_id).await
    }
}

#[async_trait]
impl<T: ForwardMessages> MessageStore for T {
    async fn idempotency_begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision> {
        self.inner()
            .idempotency_begin(account, key, fingerprint, now)
            .await
    }
    async fn idempotency_release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        self.inner().idempotency_release(account, key).await
    }
    async fn insert_messages(&self, batch: NewBatch) -> StoreResult<()> {
        self.inner().insert_messages(batch).await
    }
    async fn get_message(&self, account: AccountId, id: MessageId) -> StoreResult<Option<Message>> {
        self.inner().get_message(account, id).await
    }
    async fn list_messages(
        &self,
        account: AccountId,
        filter: &MessageFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        self.inner().list_messages(account, filter, page).await
    }
    async fn message_by_wamid(&self, wamid: &str) -> StoreResult<Option<Message>> {
        self.inner().message_by_wamid(wamid).await
    }
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<Claimed>> {
        self.inner().claim_due(now, lease, limit).await
    }
    async fn claim_due_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &ClaimLimits,
    ) -> StoreResult<Vec<Claimed>> {
        self.inner().claim_due_with(now, lease, limits).await
    }
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.inner().next_due_at().await
    }
    async fn record_outcome(
        &self,
        id: MessageId,
        attempt: u32,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        self.inner().record_outcome(id, attempt, outcome, now).await
    }
    async fn record_outcomes(
        &self,
        batch: &[OutcomeRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<StoreResult<()>>> {
        self.inner().record_outcomes(batch, now).await
    }
    async fn apply_status_updates(
        &self,
        updates: &[StatusUpdate],
        now: DateTime<Utc>,
        max_pending_per_account: usize,
    ) -> StoreResult<Vec<StatusApplied>> {
        self.inner()
            .apply_status_updates(updates, now, max_pending_per_account)
            .await
    }
    async fn expire_messages(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        self.inner().expire_messages(now, limit).await
    }
    async fn retry_message(
        &self,
        account: AccountId,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        self.inner().retry_message(account, id, now).await
    }
    async fn status_counts(&self, account: AccountId) -> StoreResult<StatusCounts> {
        self.inner().status_counts(account).await
    }
    async fn status_totals(&self) -> StoreResult<StatusCounts> {
        self.inner().status_totals().await
    }
    async fn message_timeseries(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> StoreResult<Vec<(DateTime<Utc>, StatusCounts)>> {
        self.inner()
            .message_timeseries(account, from, to, bucket)
            .await
    }
    async fn pricing_counts(&self, account: AccountId) -> StoreResult<crate::costs::PricingCounts> {
        self.inner().pricing_counts(account).await
    }
    async fn billable_tallies(
        &self,
        account: AccountId,
        query: &crate::costs::BillableQuery,
    ) -> StoreResult<Vec<crate::costs::BillableTally>> {
        self.inner().billable_tallies(account, query).await
    }
    fn subscribe_wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        self.inner().subscribe_wakeups()
    }
}

#[async_trait]
impl<T: ForwardInbound> InboundStore for T {
    async fn record_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner().record_inbound(account, wa_id, at).await
    }
    async fn last_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.inner().last_inbound(account, wa_id).await
    }
    async fn last_inbounds(
        &self,
        account: AccountId,
        wa_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, DateTime<Utc>>> {
        self.inner().last_inbounds(account, wa_ids).await
    }
    async fn insert_inbound(&self, new: NewInbound) -> StoreResult<InboundInsert> {
        self.inner().insert_inbound(new).await
    }
    async fn inbound_message(
        &self,
        account: AccountId,
        id: InboundId,
    ) -> StoreResult<Option<InboundMessage>> {
        self.inner().inbound_message(account, id).await
    }
    async fn inbound_by_wamid(
        &self,
        account: AccountId,
        wamid: &str,
    ) -> StoreResult<Option<InboundMessage>> {
        self.inner().inbound_by_wamid(account, wamid).await
    }
    async fn list_inbound(
        &self,
        account: AccountId,
        filter: &InboundFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InboundMessage>> {
        self.inner().list_inbound(account, filter, page).await
    }
}

#[async_trait]
impl<T: ForwardOutbox> OutboxStore for T {
    async fn claim_events_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &EventClaimLimits,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        self.inner().claim_events_with(now, lease, limits).await
    }
    async fn enqueue_event(&self, account: AccountId, event: NewEvent) -> StoreResult<usize> {
        self.inner().enqueue_event(account, event).await
    }
    async fn finish_event(
        &self,
        id: EventId,
        attempt: Option<DeliveryAttempt>,
        next: EventNext,
    ) -> StoreResult<()> {
        self.inner().finish_event(id, attempt, next).await
    }
    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        self.inner().outbox_backlog().await
    }
    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.inner().delivery_attempts(account, limit).await
    }
    async fn retry_event(
        &self,
        account: AccountId,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner().retry_event(account, id, now).await
    }
    async fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max_per_account: usize,
    ) -> StoreResult<WebhookEndpoint> {
        self.inner()
            .create_endpoint(endpoint, max_per_account)
            .await
    }
    async fn endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpoint>> {
        self.inner().endpoints(account).await
    }
    async fn update_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        update: EndpointUpdate,
    ) -> StoreResult<WebhookEndpoint> {
        self.inner().update_endpoint(account, id, update).await
    }
    async fn delete_endpoint(&self, account: AccountId, id: EndpointId) -> StoreResult<()> {
        self.inner().delete_endpoint(account, id).await
    }
    async fn set_endpoint_secret(
        &self,
        account: AccountId,
        id: EndpointId,
        secret: &str,
    ) -> StoreResult<()> {
        self.inner().set_endpoint_secret(account, id, secret).await
    }
    async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<()> {
        self.inner().disable_endpoint(id, reason).await
    }
    async fn endpoint_attempts(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.inner().endpoint_attempts(account, id, limit).await
    }
}

#[async_trait]
impl<T: ForwardHousekeeping> Housekeeping for T {
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        policy: PurgePolicy,
    ) -> StoreResult<PurgeReport> {
        self.inner().purge_expired(now, policy).await
    }
}

#[async_trait]
impl<T: ForwardContacts> ContactStore for T {
    async fn record_contact_activity(
        &self,
        account: AccountId,
        activities: &[crate::contacts::ContactActivity],
    ) -> StoreResult<()> {
        self.inner()
            .record_contact_activity(account, activities)
            .await
    }
    async fn contact(
        &self,
        account: AccountId,
        id: &str,
    ) -> StoreResult<Option<crate::contacts::Contact>> {
        self.inner().contact(account, id).await
    }
    async fn contacts_of(
        &self,
        account: AccountId,
        ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, crate::contacts::Contact>> {
        self.inner().contacts_of(account, ids).await
    }
    async fn list_contacts(
        &self,
        account: AccountId,
        filter: &crate::contacts::ContactFilter,
        page: PageRequest,
    ) -> StoreResult<Page<crate::contacts::Contact>> {
        self.inner().list_contacts(account, filter, page).await
    }
    async fn set_contact_opt_out(
        &self,
        account: AccountId,
        who: &crate::contacts::ContactRef,
        opt_out: Option<crate::contacts::OptOut>,
        at: DateTime<Utc>,
    ) -> StoreResult<crate::contacts::Contact> {
        self.inner()
            .set_contact_opt_out(account, who, opt_out, at)
            .await
    }
    async fn pause_contact_marketing(
        &self,
        account: AccountId,
        who: &crate::contacts::ContactRef,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<crate::contacts::Contact> {
        self.inner()
            .pause_contact_marketing(account, who, until, at)
            .await
    }
    async fn contact_messages(
        &self,
        account: AccountId,
        contact: &crate::contacts::Contact,
        limit: u32,
    ) -> StoreResult<crate::contacts::ContactMessages> {
        self.inner().contact_messages(account, contact, limit).await
    }
    async fn opt_out_keywords(
        &self,
        account: AccountId,
    ) -> StoreResult<Option<crate::contacts::OptOutKeywords>> {
        self.inner().opt_out_keywords(account).await
    }
    async fn set_opt_out_keywords(
        &self,
        account: AccountId,
        keywords: &crate::contacts::OptOutKeywords,
    ) -> StoreResult<()> {
        self.inner().set_opt_out_keywords(account, keywords).await
    }
}

#[async_trait]
impl<T: ForwardLimits> LimitStore for T {
    async fn reserve_send_slots(
        &self,
        blocks: &[SlotBlock],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        self.inner().reserve_send_slots(blocks, interval, now).await
    }
    fn shares_send_slots(&self) -> bool {
        self.inner().shares_send_slots()
    }
    async fn update_breaker(
        &self,
        id: AccountId,
        expected: &crate::account::BreakerState,
        new: &crate::account::BreakerState,
    ) -> StoreResult<bool> {
        self.inner().update_breaker(id, expected, new).await
    }
    async fn throttles(
        &self,
        keys: &[String],
    ) -> StoreResult<Vec<Option<crate::numbers::Throttle>>> {
        self.inner().throttles(keys).await
    }
    async fn step_down_number(
        &self,
        key: &str,
        now: DateTime<Utc>,
        quiet: Duration,
        min_gap: Duration,
    ) -> StoreResult<crate::numbers::Throttle> {
        self.inner()
            .step_down_number(key, now, quiet, min_gap)
            .await
    }
}

#[async_trait]
impl<T: ForwardCampaigns> CampaignStore for T {
    async fn create_campaign(&self, new: crate::campaign::NewCampaign) -> StoreResult<()> {
        self.inner().create_campaign(new).await
    }
    async fn campaign(
        &self,
        account: AccountId,
        id: crate::campaign::CampaignId,
    ) -> StoreResult<Option<crate::campaign::Campaign>> {
        self.inner().campaign(account, id).await
    }
    async fn list_campaigns(
        &self,
        account: AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<crate::campaign::Campaign>> {
        self.inner().list_campaigns(account, page).await
    }
    async fn campaign_counts(
        &self,
        account: AccountId,
        id: crate::campaign::CampaignId,
    ) -> StoreResult<StatusCounts> {
        self.inner().campaign_counts(account, id).await
    }
    async fn pause_campaign(
        &self,
        account: AccountId,
        id: crate::campaign::CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.inner().pause_campaign(account, id, now).await
    }
    async fn held_messages(
        &self,
        account: AccountId,
        id: crate::campaign::CampaignId,
    ) -> StoreResult<Vec<crate::campaign::HeldMessage>> {
        self.inner().held_messages(account, id).await
    }
    async fn resume_campaign(
        &self,
        account: AccountId,
        id: crate::campaign::CampaignId,
        plan: &[(MessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.inner().resume_campaign(account, id, plan, now).await
    }
    async fn cancel_campaign(
        &self,
        account: AccountId,
        id: crate::campaign::CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.inner().cancel_campaign(account, id, now).await
    }
}
