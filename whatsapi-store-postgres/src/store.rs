//! The core and product store traits for `PostgresStore`: writes run in a transaction on a pooled connection (deadlocks and
//! serialization failures are run again), reads on a pooled connection.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use whatsapi_core::account::{AccountUpdate, NewAccount};
use whatsapi_core::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use whatsapi_core::idempotency::{Decision, Fingerprint, IdempotencyKey};
use whatsapi_core::inbound::{InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound};
use whatsapi_core::numbers::{BusinessNumber, NumberUpdate};
use whatsapi_core::store::{
    ClaimLimits, Claimed, ClaimedEvent, EventClaimLimits, EventNext, MessageFilter, NewBatch,
    NewEvent, OutboxBacklog, Outcome, OutcomeRecord, Page, PageRequest, PurgePolicy, PurgeReport,
    StatusApplied, StatusCounts, StatusUpdate, StoreResult,
};
use whatsapi_core::store::{Housekeeping, InboundStore, MessageStore, OutboxStore, TenantStore};
use whatsapi_core::webhook::{DeliveryAttempt, EventId};
use whatsapi_core::{Account, AccountId, Message, MessageId};
use whatsapi_saas::{
    BillingEventStore, Customer, CustomerStore, CustomerUpdate, KeyHash, NewCustomer,
    RateWindowStore,
};

use crate::db::in_tx;
use crate::messages::Effects;
use crate::{
    PostgresStore, accounts, customers, housekeeping, idempotency, inbound, messages, outbox,
};

#[async_trait]
impl TenantStore for PostgresStore {
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account> {
        Ok(in_tx!(self, |tx| accounts::create(tx, &account).await)?)
    }

    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        Ok(accounts::by_id(&self.client().await?, id).await?)
    }

    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>> {
        Ok(accounts::by_phone_number_id(&self.client().await?, phone_number_id).await?)
    }

    async fn add_number(
        &self,
        number: BusinessNumber,
        max_per_account: usize,
    ) -> StoreResult<BusinessNumber> {
        Ok(in_tx!(self, |tx| crate::numbers::add(
            tx,
            &number,
            max_per_account
        )
        .await)?)
    }

    async fn numbers(&self, account: AccountId) -> StoreResult<Vec<BusinessNumber>> {
        Ok(crate::numbers::list(&self.client().await?, account).await?)
    }

    async fn number(
        &self,
        account: AccountId,
        phone_number_id: &str,
    ) -> StoreResult<Option<BusinessNumber>> {
        Ok(crate::numbers::get(&self.client().await?, account, phone_number_id, false).await?)
    }

    async fn update_number(
        &self,
        account: AccountId,
        phone_number_id: &str,
        update: NumberUpdate,
    ) -> StoreResult<BusinessNumber> {
        Ok(in_tx!(self, |tx| crate::numbers::update(
            tx,
            account,
            phone_number_id,
            update.clone()
        )
        .await)?)
    }

    async fn delete_number(&self, account: AccountId, phone_number_id: &str) -> StoreResult<()> {
        Ok(crate::numbers::delete(&self.client().await?, account, phone_number_id).await?)
    }

    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>> {
        Ok(accounts::by_waba_id(&self.client().await?, waba_id).await?)
    }

    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>> {
        Ok(accounts::by_verify_token_hash(&self.client().await?, hash).await?)
    }

    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account> {
        Ok(in_tx!(self, |tx| accounts::update(tx, id, update.clone()).await)?)
    }

    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        Ok(accounts::list(&self.client().await?, after, limit).await?)
    }
}

#[async_trait]
impl MessageStore for PostgresStore {
    async fn idempotency_begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision> {
        Ok(in_tx!(self, |tx| idempotency::begin(
            tx,
            account,
            key,
            fingerprint,
            now
        )
        .await)?)
    }

    async fn idempotency_release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        Ok(idempotency::release(&self.client().await?, account, key).await?)
    }

    async fn insert_messages(&self, batch: NewBatch) -> StoreResult<()> {
        // One statement, atomic by itself: no transaction around it (one round trip). A lost deadlock or
        // serialization conflict wrote nothing and runs it again, as `in_tx!` does.
        let mut attempt = 0usize;
        loop {
            attempt += 1;
            let result: crate::error::Result<()> = async {
                let client = self.client().await?;
                messages::insert(&client, &batch).await
            }
            .await;
            match result {
                Err(e) if e.is_retryable() && attempt < crate::db::TX_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "insert conflict; running it again");
                }
                other => {
                    other?;
                    self.waker.wake(!batch.messages.is_empty());
                    return Ok(());
                }
            }
        }
    }

    async fn get_message(&self, account: AccountId, id: MessageId) -> StoreResult<Option<Message>> {
        let client = self.client().await?;
        Ok(messages::of_account(&client, account, id)
            .await?
            .map(|s| s.message))
    }

    async fn list_messages(
        &self,
        account: AccountId,
        filter: &MessageFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        Ok(messages::list(&self.client().await?, account, filter, page).await?)
    }

    async fn message_by_wamid(&self, wamid: &str) -> StoreResult<Option<Message>> {
        let client = self.client().await?;
        Ok(messages::by_wamid(&client, wamid).await?.map(|s| s.message))
    }

    async fn claim_due_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &ClaimLimits,
    ) -> StoreResult<Vec<Claimed>> {
        if limits.limit == 0 || limits.per_account == 0 {
            return Ok(Vec::new());
        }
        let (claimed, wake) = in_tx!(self, |tx| {
            let mut fx = Effects::default();
            match messages::claim_due(tx, &mut fx, now, lease, limits).await {
                Ok(claimed) => fx.flush(tx).await.map(|wake| (claimed, wake)),
                Err(e) => Err(e),
            }
        })?;
        self.waker.wake(wake);
        Ok(claimed)
    }

    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(messages::next_due_at(&self.client().await?).await?)
    }

    async fn record_outcome(
        &self,
        id: MessageId,
        attempt: u32,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        let (m, wake) = in_tx!(self, |tx| {
            let mut fx = Effects::default();
            match messages::record_outcome(tx, &mut fx, id, attempt, &outcome, now).await {
                Ok(m) => fx.flush(tx).await.map(|wake| (m, wake)),
                Err(e) => Err(e),
            }
        })?;
        self.waker.wake(wake);
        Ok(m)
    }

    async fn record_outcomes(
        &self,
        batch: &[OutcomeRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<StoreResult<()>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (answers, wake) = in_tx!(self, |tx| {
            let mut fx = Effects::default();
            match messages::record_outcomes(tx, &mut fx, batch, now).await {
                Ok(answers) => fx.flush(tx).await.map(|wake| (answers, wake)),
                Err(e) => Err(e),
            }
        })?;
        self.waker.wake(wake);
        Ok(answers)
    }

    async fn apply_status_updates(
        &self,
        updates: &[StatusUpdate],
        now: DateTime<Utc>,
        max_pending_per_account: usize,
    ) -> StoreResult<Vec<StatusApplied>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let (applied, wake) = in_tx!(self, |tx| {
            let mut fx = Effects::default();
            match messages::apply_status_updates(tx, &mut fx, updates, now, max_pending_per_account)
                .await
            {
                Ok(applied) => fx.flush(tx).await.map(|wake| (applied, wake)),
                Err(e) => Err(e),
            }
        })?;
        self.waker.wake(wake);
        Ok(applied)
    }

    async fn expire_messages(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        let (ids, wake) = in_tx!(self, |tx| {
            let mut fx = Effects::default();
            match messages::expire(tx, &mut fx, now, limit).await {
                Ok(ids) => fx.flush(tx).await.map(|wake| (ids, wake)),
                Err(e) => Err(e),
            }
        })?;
        self.waker.wake(wake);
        Ok(ids)
    }

    async fn retry_message(
        &self,
        account: AccountId,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        let (m, wake) = in_tx!(self, |tx| {
            let mut fx = Effects::default();
            match messages::retry(tx, &mut fx, account, id, now).await {
                Ok(m) => fx.flush(tx).await.map(|wake| (m, wake)),
                Err(e) => Err(e),
            }
        })?;
        self.waker.wake(wake);
        Ok(m)
    }

    async fn status_counts(&self, account: AccountId) -> StoreResult<StatusCounts> {
        Ok(messages::status_counts(&self.client().await?, account).await?)
    }

    async fn status_totals(&self) -> StoreResult<StatusCounts> {
        Ok(messages::status_totals(&self.client().await?).await?)
    }

    async fn pricing_counts(
        &self,
        account: AccountId,
    ) -> StoreResult<whatsapi_core::costs::PricingCounts> {
        Ok(crate::costs::pricing_counts(&self.client().await?, account).await?)
    }

    async fn billable_tallies(
        &self,
        account: AccountId,
        query: &whatsapi_core::costs::BillableQuery,
    ) -> StoreResult<Vec<whatsapi_core::costs::BillableTally>> {
        Ok(crate::costs::billable_tallies(&self.client().await?, account, query).await?)
    }

    async fn message_timeseries(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> StoreResult<Vec<(DateTime<Utc>, StatusCounts)>> {
        Ok(messages::timeseries(&self.client().await?, account, from, to, bucket).await?)
    }

    fn subscribe_wakeups(&self) -> Option<broadcast::Receiver<()>> {
        self.wakeups.as_ref().map(broadcast::Sender::subscribe)
    }
}

#[async_trait]
impl InboundStore for PostgresStore {
    async fn record_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        Ok(housekeeping::record_inbound(&self.client().await?, account, wa_id, at).await?)
    }

    async fn last_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(housekeeping::last_inbound(&self.client().await?, account, wa_id).await?)
    }

    async fn last_inbounds(
        &self,
        account: AccountId,
        wa_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, DateTime<Utc>>> {
        Ok(housekeeping::last_inbounds(&self.client().await?, account, wa_ids).await?)
    }

    async fn insert_inbound(&self, new: NewInbound) -> StoreResult<InboundInsert> {
        Ok(in_tx!(self, |tx| inbound::insert(tx, &new).await)?)
    }

    async fn inbound_message(
        &self,
        account: AccountId,
        id: InboundId,
    ) -> StoreResult<Option<InboundMessage>> {
        Ok(inbound::get(&self.client().await?, account, id).await?)
    }

    async fn inbound_by_wamid(
        &self,
        account: AccountId,
        wamid: &str,
    ) -> StoreResult<Option<InboundMessage>> {
        Ok(inbound::by_wamid(&self.client().await?, account, wamid).await?)
    }

    async fn list_inbound(
        &self,
        account: AccountId,
        filter: &InboundFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InboundMessage>> {
        Ok(inbound::list(&self.client().await?, account, filter, page).await?)
    }
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn claim_events_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &EventClaimLimits,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        if limits.limit == 0 || limits.per_destination == 0 {
            return Ok(Vec::new());
        }
        Ok(outbox::claim(&self.client().await?, now, lease, limits).await?)
    }

    async fn finish_event(
        &self,
        id: EventId,
        attempt: Option<DeliveryAttempt>,
        next: EventNext,
    ) -> StoreResult<()> {
        Ok(in_tx!(self, |tx| outbox::finish(
            tx,
            id,
            attempt.as_ref(),
            next
        )
        .await)?)
    }

    async fn enqueue_event(&self, account: AccountId, event: NewEvent) -> StoreResult<usize> {
        Ok(in_tx!(self, |tx| outbox::enqueue(tx, account, &event).await)?)
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        Ok(outbox::backlog(&self.client().await?).await?)
    }

    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        Ok(outbox::attempts(&self.client().await?, account, limit).await?)
    }

    async fn retry_event(
        &self,
        account: AccountId,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        Ok(in_tx!(self, |tx| outbox::retry(tx, account, id, now).await)?)
    }

    async fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max_per_account: usize,
    ) -> StoreResult<WebhookEndpoint> {
        in_tx!(self, |tx| outbox::create_endpoint(
            tx,
            &endpoint,
            max_per_account
        )
        .await)?;
        Ok(endpoint)
    }

    async fn endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpoint>> {
        Ok(outbox::endpoints(&self.client().await?, account).await?)
    }

    async fn update_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        update: EndpointUpdate,
    ) -> StoreResult<WebhookEndpoint> {
        Ok(in_tx!(self, |tx| outbox::update_endpoint(
            tx, account, id, &update
        )
        .await)?)
    }

    async fn delete_endpoint(&self, account: AccountId, id: EndpointId) -> StoreResult<()> {
        Ok(in_tx!(self, |tx| outbox::delete_endpoint(tx, account, id).await)?)
    }

    async fn set_endpoint_secret(
        &self,
        account: AccountId,
        id: EndpointId,
        secret: &str,
    ) -> StoreResult<()> {
        Ok(outbox::set_endpoint_secret(&self.client().await?, account, id, secret).await?)
    }

    async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<()> {
        Ok(outbox::disable_endpoint(&self.client().await?, id, reason).await?)
    }

    async fn endpoint_attempts(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        Ok(outbox::endpoint_attempts(&self.client().await?, account, id, limit).await?)
    }
}

#[async_trait]
impl Housekeeping for PostgresStore {
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        policy: PurgePolicy,
    ) -> StoreResult<PurgeReport> {
        Ok(in_tx!(self, |tx| housekeeping::purge(tx, now, policy).await)?)
    }
}

#[async_trait]
impl CustomerStore for PostgresStore {
    async fn create_customer(&self, customer: NewCustomer) -> StoreResult<Customer> {
        Ok(in_tx!(self, |tx| customers::create(tx, &customer).await)?)
    }

    async fn customer(&self, id: AccountId) -> StoreResult<Option<Customer>> {
        Ok(customers::by_id(&self.client().await?, id).await?)
    }

    async fn customer_by_key_hash(&self, hash: &KeyHash) -> StoreResult<Option<Customer>> {
        Ok(customers::by_key_hash(&self.client().await?, hash).await?)
    }

    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<Customer>> {
        Ok(customers::by_email(&self.client().await?, email).await?)
    }

    async fn update_customer(
        &self,
        id: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Customer> {
        Ok(in_tx!(self, |tx| customers::update(
            tx,
            id,
            update.clone()
        )
        .await)?)
    }

    async fn rotate_key(&self, id: AccountId, old: &KeyHash, new: &KeyHash) -> StoreResult<()> {
        Ok(in_tx!(self, |tx| customers::rotate_key(tx, id, old, new).await)?)
    }
}

#[async_trait]
impl BillingEventStore for PostgresStore {
    async fn record_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(customers::record_external_event(
            &self.client().await?,
            source,
            id,
            crate::codec::ts(now),
        )
        .await?)
    }

    async fn apply_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
        customer: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Option<Customer>> {
        // A concurrent transaction recording the same event waits on its key and then finds it recorded.
        Ok(in_tx!(self, |tx| {
            match customers::record_external_event(tx, source, id, crate::codec::ts(now)).await {
                Ok(true) => customers::update(tx, customer, update.clone())
                    .await
                    .map(Some),
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            }
        })?)
    }
}

#[async_trait]
impl RateWindowStore for PostgresStore {
    async fn hit_rate_window(&self, bucket: &str, window_start: DateTime<Utc>) -> StoreResult<u64> {
        Ok(housekeeping::hit_rate_window(&self.client().await?, bucket, window_start).await?)
    }

    async fn purge_rate_windows(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        Ok(housekeeping::purge_rate_windows(&self.client().await?, cutoff).await?)
    }
}

#[async_trait]
impl whatsapi_core::store::ContactStore for PostgresStore {
    async fn record_contact_activity(
        &self,
        account: AccountId,
        activities: &[whatsapi_core::contacts::ContactActivity],
    ) -> StoreResult<()> {
        Ok(in_tx!(self, |tx| crate::contacts::record(
            tx, account, activities
        )
        .await)?)
    }

    async fn contact(
        &self,
        account: AccountId,
        id: &str,
    ) -> StoreResult<Option<whatsapi_core::contacts::Contact>> {
        Ok(crate::contacts::get(&self.client().await?, account, id).await?)
    }

    async fn contacts_of(
        &self,
        account: AccountId,
        ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, whatsapi_core::contacts::Contact>> {
        Ok(crate::contacts::get_many(&self.client().await?, account, ids).await?)
    }

    async fn list_contacts(
        &self,
        account: AccountId,
        filter: &whatsapi_core::contacts::ContactFilter,
        page: PageRequest,
    ) -> StoreResult<Page<whatsapi_core::contacts::Contact>> {
        Ok(crate::contacts::list(&self.client().await?, account, filter, page).await?)
    }

    async fn set_contact_opt_out(
        &self,
        account: AccountId,
        who: &whatsapi_core::contacts::ContactRef,
        opt_out: Option<whatsapi_core::contacts::OptOut>,
        at: DateTime<Utc>,
    ) -> StoreResult<whatsapi_core::contacts::Contact> {
        Ok(in_tx!(self, |tx| crate::contacts::set_opt_out(
            tx, account, who, opt_out, at
        )
        .await)?)
    }

    async fn pause_contact_marketing(
        &self,
        account: AccountId,
        who: &whatsapi_core::contacts::ContactRef,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<whatsapi_core::contacts::Contact> {
        Ok(in_tx!(self, |tx| crate::contacts::pause(
            tx, account, who, until, at
        )
        .await)?)
    }

    async fn contact_messages(
        &self,
        account: AccountId,
        contact: &whatsapi_core::contacts::Contact,
        limit: u32,
    ) -> StoreResult<whatsapi_core::contacts::ContactMessages> {
        Ok(crate::contacts::messages(&self.client().await?, account, contact, limit).await?)
    }

    async fn opt_out_keywords(
        &self,
        account: AccountId,
    ) -> StoreResult<Option<whatsapi_core::contacts::OptOutKeywords>> {
        Ok(crate::contacts::keywords(&self.client().await?, account).await?)
    }

    async fn set_opt_out_keywords(
        &self,
        account: AccountId,
        keywords: &whatsapi_core::contacts::OptOutKeywords,
    ) -> StoreResult<()> {
        Ok(crate::contacts::set_keywords(&self.client().await?, account, keywords).await?)
    }
}
