//! What the product keeps, as capability traits beside core's: [`CustomerStore`] (the product half of each
//! account: email, plan, API key, Stripe links), [`BillingEventStore`] (external events recorded once) and
//! [`RateWindowStore`] (the per-plan request counters). [`ProductStore`] is all three, implemented for every type
//! that implements each; the store crates implement them next to core's traits.
//!
//! The product half holds no secret (the key is a hash), so it needs no encrypting wrapper: a server hands core
//! the encrypting store and the product the store itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use whatsapi_core::AccountId;
use whatsapi_core::store::StoreResult;

use crate::customer::{Customer, CustomerUpdate, NewCustomer};
use crate::key::KeyHash;

/// The product half of each account.
#[async_trait]
pub trait CustomerStore: Send + Sync + 'static {
    /// Creates the account and its product half in one transaction. `Conflict` when the email
    /// (case-insensitive) is taken; then nothing is created.
    async fn create_customer(&self, customer: NewCustomer) -> StoreResult<Customer>;
    /// The customer of an account; `None` for unknown ids and for accounts created without a product half.
    async fn customer(&self, id: AccountId) -> StoreResult<Option<Customer>>;
    /// The customer whose current key has this hash. Runs on every API request, so a store may answer it from a
    /// cache, provided every change to the customer (its key, plan...) shows on the very next call, from
    /// whichever process made it.
    async fn customer_by_key_hash(&self, hash: &KeyHash) -> StoreResult<Option<Customer>>;
    /// A customer by email (case-insensitive), for operators.
    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<Customer>>;
    /// Applies one change; `NotFound` when the customer does not exist.
    async fn update_customer(&self, id: AccountId, update: CustomerUpdate)
    -> StoreResult<Customer>;
    /// Replaces the key hash if the current one is `old`; `Conflict` otherwise (a concurrent rotation won),
    /// `NotFound` for an unknown customer.
    async fn rotate_key(&self, id: AccountId, old: &KeyHash, new: &KeyHash) -> StoreResult<()>;
}

/// External events (billing webhooks) processed once.
#[async_trait]
pub trait BillingEventStore: Send + Sync + 'static {
    /// Records that event `id` from `source` (e.g. `stripe`) was processed, durably, for an event that changes
    /// nothing (one that does goes through [`BillingEventStore::apply_external_event`]). Answers `true` the first
    /// time and `false` for a repeat, so an event delivered twice is handled once (even by two replicas at once).
    async fn record_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Applies `update` to `customer` and records event `id` from `source` in **one transaction**, so an event is
    /// never recorded without its change: the updated customer, or `None` when the event was recorded before
    /// (then nothing changes). `NotFound` when the customer does not exist; a failure records nothing, so the
    /// sender's retry of the event is applied.
    async fn apply_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
        customer: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Option<Customer>>;
}

/// Fixed-window request counters shared by every process (the plans' rate limits).
#[async_trait]
pub trait RateWindowStore: Send + Sync + 'static {
    /// Counts one hit in the fixed window `bucket`/`window_start` and returns the count including it.
    async fn hit_rate_window(&self, bucket: &str, window_start: DateTime<Utc>) -> StoreResult<u64>;
    /// Removes the windows that started at or before `cutoff`; answers how many.
    async fn purge_rate_windows(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
}

/// Everything the product keeps: every product capability at once. Implemented for each type that implements
/// all of them; object-safe, so hold it as `Arc<dyn ProductStore>`.
pub trait ProductStore: CustomerStore + BillingEventStore + RateWindowStore {}

impl<T> ProductStore for T where T: CustomerStore + BillingEventStore + RateWindowStore {}
