//! The core and product store traits for `SqliteStore`: writes go through the group-commit writer, reads through
//! the reader pool.

use std::time::Duration;
use whatsapi_core::numbers::{BusinessNumber, NumberUpdate};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use whatsapi_core::account::{AccountUpdate, NewAccount};
use whatsapi_core::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use whatsapi_core::idempotency::{Decision, Fingerprint, IdempotencyKey};
use whatsapi_core::inbound::{InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound};
use whatsapi_core::store::{
    ClaimLimits, Claimed, ClaimedEvent, EventClaimLimits, EventNext, MessageFilter, NewBatch,
    NewEvent, OutboxBacklog, Outcome, OutcomeRecord, Page, PageRequest, PurgePolicy, PurgeReport,
    StatusApplied, StatusCounts, StatusUpdate, StoreResult,
};
use whatsapi_core::store::{Housekeeping, InboundStore, MessageStore, OutboxStore, TenantStore};
use whatsapi_core::webhook::{DeliveryAttempt, EventId};
use whatsapi_core::{Account, AccountId, Message, MessageId, StoreError};
use whatsapi_saas::{
    BillingEventStore, Customer, CustomerStore, CustomerUpdate, KeyHash, NewCustomer,
    RateWindowStore,
};

use crate::error::SqliteError;
use crate::{
    SqliteStore, accounts, customers, housekeeping, idempotency, inbound, messages, outbox,
};

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account> {
        self.writer
            .write(move |c| accounts::create(c, account))
            .await
    }

    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        self.readers.read(move |c| accounts::by_id(c, id)).await
    }

    async fn recent_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        // The counter is read before the account, so an answer cached under it can only be older than a change
        // that moved it (see keys.rs).
        let version = self.keys.version();
        if let Some(account) = version.and_then(|v| self.keys.account(id, v)) {
            return Ok(Some(account));
        }
        let found = self.readers.read(move |c| accounts::by_id(c, id)).await?;
        if let (Some(v), Some(account)) = (version, &found) {
            self.keys.put_account(v, account.clone());
        }
        Ok(found)
    }

    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>> {
        let pnid = phone_number_id.to_owned();
        self.readers
            .read(move |c| match accounts::by_phone_number_id(c, &pnid)? {
                Some(a) => Ok(Some(a)),
                None => match crate::numbers::account_of(c, &pnid)? {
                    Some(id) => accounts::by_id(c, id),
                    None => Ok(None),
                },
            })
            .await
    }

    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>> {
        let waba_id = waba_id.to_owned();
        self.readers
            .read(move |c| accounts::by_waba_id(c, &waba_id))
            .await
    }

    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>> {
        let hash = *hash;
        self.readers
            .read(move |c| accounts::by_verify_token_hash(c, &hash))
            .await
    }

    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account> {
        self.writer
            .write(move |c| {
                let mut account =
                    accounts::by_id(c, id)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
                let sets_number = match &update {
                    AccountUpdate::SetCredentials(n) | AccountUpdate::ReplaceCredentials(n) => {
                        Some(n.phone_number_id.clone())
                    }
                    _ => None,
                };
                account.apply(update);
                if let Some(pnid) = sets_number {
                    crate::numbers::check_default(c, accounts::require_seq(c, id)?, &pnid)?;
                }
                accounts::save(c, &account)?;
                Ok(account)
            })
            .await
    }

    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.readers
            .read(move |c| accounts::list(c, after, limit))
            .await
    }

    async fn add_number(
        &self,
        number: BusinessNumber,
        max_per_account: usize,
    ) -> StoreResult<BusinessNumber> {
        self.writer
            .write(move |c| crate::numbers::add(c, &number, max_per_account))
            .await
    }

    async fn numbers(&self, account: AccountId) -> StoreResult<Vec<BusinessNumber>> {
        self.readers
            .read(move |c| crate::numbers::list(c, account))
            .await
    }

    async fn number(
        &self,
        account: AccountId,
        phone_number_id: &str,
    ) -> StoreResult<Option<BusinessNumber>> {
        let pnid = phone_number_id.to_owned();
        self.readers
            .read(move |c| crate::numbers::get(c, account, &pnid))
            .await
    }

    async fn update_number(
        &self,
        account: AccountId,
        phone_number_id: &str,
        update: NumberUpdate,
    ) -> StoreResult<BusinessNumber> {
        let pnid = phone_number_id.to_owned();
        self.writer
            .write(move |c| crate::numbers::update(c, account, &pnid, update))
            .await
    }

    async fn delete_number(&self, account: AccountId, phone_number_id: &str) -> StoreResult<()> {
        let pnid = phone_number_id.to_owned();
        self.writer
            .write(move |c| crate::numbers::delete(c, account, &pnid))
            .await
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn idempotency_begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision> {
        let (key, fingerprint) = (key.clone(), *fingerprint);
        self.writer
            .write(move |c| idempotency::begin(c, account, &key, &fingerprint, now))
            .await
    }

    async fn idempotency_release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        let key = key.clone();
        self.writer
            .write(move |c| idempotency::release(c, account, &key))
            .await
    }

    async fn insert_messages(&self, batch: NewBatch) -> StoreResult<()> {
        // One message: its only check that can fail after a write is the id's uniqueness, which fails the first
        // INSERT before it changes anything. A bulk insert may fail on its n-th message, so it keeps a savepoint.
        if batch.messages.len() <= 1 {
            self.writer
                .write_checked(move |c| messages::insert(c, batch))
                .await
        } else {
            self.writer.write(move |c| messages::insert(c, batch)).await
        }
    }

    async fn get_message(&self, account: AccountId, id: MessageId) -> StoreResult<Option<Message>> {
        self.readers
            .read(move |c| Ok(messages::of_account(c, account, id)?.map(|s| s.message)))
            .await
    }

    async fn list_messages(
        &self,
        account: AccountId,
        filter: &MessageFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        let filter = filter.clone();
        self.readers
            .read(move |c| messages::list(c, account, &filter, page))
            .await
    }

    async fn message_by_wamid(&self, wamid: &str) -> StoreResult<Option<Message>> {
        let wamid = wamid.to_owned();
        self.readers
            .read(move |c| Ok(messages::by_wamid(c, &wamid, None)?.map(|s| s.message)))
            .await
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
        let limits = limits.clone();
        self.writer
            .write_checked(move |c| messages::claim_due(c, now, lease, &limits))
            .await
    }

    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.readers.read(messages::next_due_at).await
    }

    async fn record_outcome(
        &self,
        id: MessageId,
        attempt: u32,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        self.writer
            .write_checked(move |c| messages::record_outcome(c, id, attempt, outcome, now))
            .await
    }

    async fn record_outcomes(
        &self,
        batch: &[OutcomeRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<StoreResult<()>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // One request of the writer for the whole batch, fenced item by item inside it.
        let batch = batch.to_vec();
        self.writer
            .write_checked(move |c| messages::record_outcomes(c, &batch, now))
            .await
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
        let updates = updates.to_vec();
        self.writer
            .write_checked(move |c| {
                messages::apply_status_updates(c, &updates, now, max_pending_per_account)
            })
            .await
    }

    async fn expire_messages(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        self.writer
            .write(move |c| messages::expire(c, now, limit))
            .await
    }

    async fn retry_message(
        &self,
        account: AccountId,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        self.writer
            .write(move |c| messages::retry(c, account, id, now))
            .await
    }

    async fn status_counts(&self, account: AccountId) -> StoreResult<StatusCounts> {
        self.readers
            .read(move |c| messages::status_counts(c, account))
            .await
    }

    async fn message_timeseries(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Duration,
    ) -> StoreResult<Vec<(DateTime<Utc>, StatusCounts)>> {
        self.readers
            .read(move |c| messages::timeseries(c, account, from, to, bucket))
            .await
    }

    async fn status_totals(&self) -> StoreResult<StatusCounts> {
        self.readers.read(messages::status_totals).await
    }

    async fn pricing_counts(
        &self,
        account: AccountId,
    ) -> StoreResult<whatsapi_core::costs::PricingCounts> {
        self.readers
            .read(move |c| crate::costs::pricing_counts(c, account))
            .await
    }

    async fn billable_tallies(
        &self,
        account: AccountId,
        query: &whatsapi_core::costs::BillableQuery,
    ) -> StoreResult<Vec<whatsapi_core::costs::BillableTally>> {
        let query = *query;
        self.readers
            .read(move |c| crate::costs::billable_tallies(c, account, &query))
            .await
    }
}

#[async_trait]
impl InboundStore for SqliteStore {
    async fn record_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let wa_id = wa_id.to_owned();
        self.writer
            .write(move |c| housekeeping::record_inbound(c, account, &wa_id, at))
            .await
    }

    async fn last_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let wa_id = wa_id.to_owned();
        self.readers
            .read(move |c| housekeeping::last_inbound(c, account, &wa_id))
            .await
    }

    async fn last_inbounds(
        &self,
        account: AccountId,
        wa_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, DateTime<Utc>>> {
        let wa_ids = wa_ids.to_vec();
        self.readers
            .read(move |c| housekeeping::last_inbounds(c, account, &wa_ids))
            .await
    }

    async fn insert_inbound(&self, new: NewInbound) -> StoreResult<InboundInsert> {
        self.writer.write(move |c| inbound::insert(c, new)).await
    }

    async fn inbound_message(
        &self,
        account: AccountId,
        id: InboundId,
    ) -> StoreResult<Option<InboundMessage>> {
        self.readers
            .read(move |c| inbound::get(c, account, id))
            .await
    }

    async fn inbound_by_wamid(
        &self,
        account: AccountId,
        wamid: &str,
    ) -> StoreResult<Option<InboundMessage>> {
        let wamid = wamid.to_owned();
        self.readers
            .read(move |c| inbound::by_wamid(c, account, &wamid))
            .await
    }

    async fn list_inbound(
        &self,
        account: AccountId,
        filter: &InboundFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InboundMessage>> {
        let filter = filter.clone();
        self.readers
            .read(move |c| inbound::list(c, account, &filter, page))
            .await
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_events_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &EventClaimLimits,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        if limits.limit == 0 || limits.per_destination == 0 {
            return Ok(Vec::new());
        }
        let limits = limits.clone();
        self.writer
            .write_checked(move |c| outbox::claim(c, now, lease, &limits))
            .await
    }

    async fn enqueue_event(&self, account: AccountId, event: NewEvent) -> StoreResult<usize> {
        self.writer
            .write(move |c| outbox::enqueue(c, account, &event))
            .await
    }

    async fn finish_event(
        &self,
        id: EventId,
        attempt: Option<DeliveryAttempt>,
        next: EventNext,
    ) -> StoreResult<()> {
        self.writer
            .write_checked(move |c| outbox::finish(c, id, attempt, next))
            .await
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        self.readers.read(outbox::backlog).await
    }

    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.readers
            .read(move |c| outbox::attempts(c, account, limit))
            .await
    }

    async fn retry_event(
        &self,
        account: AccountId,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.writer
            .write_checked(move |c| outbox::retry(c, account, id, now))
            .await
    }

    async fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max_per_account: usize,
    ) -> StoreResult<WebhookEndpoint> {
        let e = endpoint.clone();
        self.writer
            .write_checked(move |c| outbox::create_endpoint(c, &e, max_per_account))
            .await?;
        Ok(endpoint)
    }

    async fn endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpoint>> {
        self.readers
            .read(move |c| outbox::endpoints(c, account))
            .await
    }

    async fn update_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        update: EndpointUpdate,
    ) -> StoreResult<WebhookEndpoint> {
        self.writer
            .write_checked(move |c| outbox::update_endpoint(c, account, id, &update))
            .await
    }

    async fn delete_endpoint(&self, account: AccountId, id: EndpointId) -> StoreResult<()> {
        self.writer
            .write_checked(move |c| outbox::delete_endpoint(c, account, id))
            .await
    }

    async fn set_endpoint_secret(
        &self,
        account: AccountId,
        id: EndpointId,
        secret: &str,
    ) -> StoreResult<()> {
        let secret = secret.to_owned();
        self.writer
            .write_checked(move |c| outbox::set_endpoint_secret(c, account, id, &secret))
            .await
    }

    async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<()> {
        let reason = reason.to_owned();
        self.writer
            .write_checked(move |c| outbox::disable_endpoint(c, id, &reason))
            .await
    }

    async fn endpoint_attempts(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.readers
            .read(move |c| outbox::endpoint_attempts(c, account, id, limit))
            .await
    }
}

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        policy: PurgePolicy,
    ) -> StoreResult<PurgeReport> {
        self.writer
            .write(move |c| housekeeping::purge(c, now, policy))
            .await
    }
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn create_customer(&self, customer: NewCustomer) -> StoreResult<Customer> {
        self.writer
            .write(move |c| customers::create(c, customer))
            .await
    }

    async fn customer(&self, id: AccountId) -> StoreResult<Option<Customer>> {
        self.readers.read(move |c| customers::by_id(c, id)).await
    }

    async fn customer_by_key_hash(&self, hash: &KeyHash) -> StoreResult<Option<Customer>> {
        // The counter is read before the customer, so an answer cached under it can only be older than a change
        // that moved it (see keys.rs).
        let version = self.keys.version();
        if let Some(customer) = version.and_then(|v| self.keys.get(hash, v)) {
            return Ok(Some(customer));
        }
        let key = *hash;
        let found = self
            .readers
            .read(move |c| customers::by_key_hash(c, &key))
            .await?;
        if let (Some(v), Some(customer)) = (version, &found) {
            self.keys.put(*hash, v, customer.clone());
        }
        Ok(found)
    }

    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<Customer>> {
        let email = email.to_owned();
        self.readers
            .read(move |c| customers::by_email(c, &email))
            .await
    }

    async fn update_customer(
        &self,
        id: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Customer> {
        self.writer
            .write(move |c| {
                let mut customer =
                    customers::by_id(c, id)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
                customer.apply(update);
                customers::save(c, &customer)?;
                Ok(customer)
            })
            .await
    }

    async fn rotate_key(&self, id: AccountId, old: &KeyHash, new: &KeyHash) -> StoreResult<()> {
        let (old, new) = (*old, *new);
        self.writer
            .write(move |c| customers::rotate_key(c, id, &old, &new))
            .await
    }
}

#[async_trait]
impl BillingEventStore for SqliteStore {
    async fn record_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (source, id) = (source.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                customers::record_external_event(c, &source, &id, crate::codec::ts(now))
            })
            .await
    }

    async fn apply_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
        customer: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Option<Customer>> {
        let (source, id) = (source.to_owned(), id.to_owned());
        // `write` runs in a savepoint of its own: a failure after the event's row rolls it back too.
        self.writer
            .write(move |c| {
                if !customers::record_external_event(c, &source, &id, crate::codec::ts(now))? {
                    return Ok(None);
                }
                let mut stored = customers::by_id(c, customer)?
                    .ok_or(SqliteError::Store(StoreError::NotFound))?;
                stored.apply(update);
                customers::save(c, &stored)?;
                Ok(Some(stored))
            })
            .await
    }
}

#[async_trait]
impl RateWindowStore for SqliteStore {
    async fn hit_rate_window(&self, bucket: &str, window_start: DateTime<Utc>) -> StoreResult<u64> {
        let bucket = bucket.to_owned();
        self.writer
            .write(move |c| housekeeping::hit_rate_window(c, &bucket, window_start))
            .await
    }

    async fn purge_rate_windows(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.writer
            .write(move |c| housekeeping::purge_rate_windows(c, cutoff))
            .await
    }
}

#[async_trait]
impl whatsapi_core::store::ContactStore for SqliteStore {
    async fn record_contact_activity(
        &self,
        account: AccountId,
        activities: &[whatsapi_core::contacts::ContactActivity],
    ) -> StoreResult<()> {
        let activities = activities.to_vec();
        self.writer
            .write(move |c| crate::contacts::record(c, account, &activities))
            .await
    }

    async fn contact(
        &self,
        account: AccountId,
        id: &str,
    ) -> StoreResult<Option<whatsapi_core::contacts::Contact>> {
        let id = id.to_owned();
        self.readers
            .read(move |c| crate::contacts::get(c, account, &id))
            .await
    }

    async fn contacts_of(
        &self,
        account: AccountId,
        ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, whatsapi_core::contacts::Contact>> {
        let ids = ids.to_vec();
        self.readers
            .read(move |c| crate::contacts::get_many(c, account, &ids))
            .await
    }

    async fn list_contacts(
        &self,
        account: AccountId,
        filter: &whatsapi_core::contacts::ContactFilter,
        page: PageRequest,
    ) -> StoreResult<Page<whatsapi_core::contacts::Contact>> {
        let filter = *filter;
        self.readers
            .read(move |c| crate::contacts::list(c, account, &filter, page))
            .await
    }

    async fn set_contact_opt_out(
        &self,
        account: AccountId,
        who: &whatsapi_core::contacts::ContactRef,
        opt_out: Option<whatsapi_core::contacts::OptOut>,
        at: DateTime<Utc>,
    ) -> StoreResult<whatsapi_core::contacts::Contact> {
        let who = who.clone();
        self.writer
            .write(move |c| crate::contacts::set_opt_out(c, account, &who, opt_out, at))
            .await
    }

    async fn pause_contact_marketing(
        &self,
        account: AccountId,
        who: &whatsapi_core::contacts::ContactRef,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<whatsapi_core::contacts::Contact> {
        let who = who.clone();
        self.writer
            .write(move |c| crate::contacts::pause(c, account, &who, until, at))
            .await
    }

    async fn contact_messages(
        &self,
        account: AccountId,
        contact: &whatsapi_core::contacts::Contact,
        limit: u32,
    ) -> StoreResult<whatsapi_core::contacts::ContactMessages> {
        let contact = contact.clone();
        self.readers
            .read(move |c| crate::contacts::messages(c, account, &contact, limit))
            .await
    }

    async fn opt_out_keywords(
        &self,
        account: AccountId,
    ) -> StoreResult<Option<whatsapi_core::contacts::OptOutKeywords>> {
        self.readers
            .read(move |c| crate::contacts::keywords(c, account))
            .await
    }

    async fn set_opt_out_keywords(
        &self,
        account: AccountId,
        keywords: &whatsapi_core::contacts::OptOutKeywords,
    ) -> StoreResult<()> {
        let keywords = keywords.clone();
        self.writer
            .write(move |c| crate::contacts::set_keywords(c, account, &keywords))
            .await
    }
}
