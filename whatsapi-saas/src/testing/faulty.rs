//! `FaultyProductStore`: the product's counterpart of core's `FaultyStore`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use whatsapi_core::AccountId;
use whatsapi_core::store::StoreResult;
use whatsapi_core::testing::Faults;

use crate::customer::{Customer, CustomerUpdate, NewCustomer};
use crate::key::KeyHash;
use crate::store::{BillingEventStore, CustomerStore, ProductStore, RateWindowStore};

/// Wraps a product store; [`FaultyProductStore::fail`] makes the next calls of one method fail with
/// `StoreError::Unavailable` without reaching the inner store. Every other call is passed through.
pub struct FaultyProductStore {
    inner: Arc<dyn ProductStore>,
    faults: Faults,
}

impl std::fmt::Debug for FaultyProductStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyProductStore").finish_non_exhaustive()
    }
}

impl FaultyProductStore {
    /// Passes everything to `inner` until told to fail.
    pub fn new(inner: Arc<dyn ProductStore>) -> Self {
        Self {
            inner,
            faults: Faults::default(),
        }
    }

    /// The next `times` calls of the store method `method` (its name, e.g. `"apply_external_event"`) fail.
    pub fn fail(&self, method: &'static str, times: usize) {
        self.faults.fail(method, times);
    }

    /// Failures of `method` still to come.
    pub fn pending_faults(&self, method: &'static str) -> usize {
        self.faults.pending(method)
    }
}

#[async_trait]
impl CustomerStore for FaultyProductStore {
    async fn create_customer(&self, customer: NewCustomer) -> StoreResult<Customer> {
        self.faults.check("create_customer")?;
        self.inner.create_customer(customer).await
    }

    async fn customer(&self, id: AccountId) -> StoreResult<Option<Customer>> {
        self.faults.check("customer")?;
        self.inner.customer(id).await
    }

    async fn customer_by_key_hash(&self, hash: &KeyHash) -> StoreResult<Option<Customer>> {
        self.faults.check("customer_by_key_hash")?;
        self.inner.customer_by_key_hash(hash).await
    }

    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<Customer>> {
        self.faults.check("customer_by_email")?;
        self.inner.customer_by_email(email).await
    }

    async fn update_customer(
        &self,
        id: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Customer> {
        self.faults.check("update_customer")?;
        self.inner.update_customer(id, update).await
    }

    async fn rotate_key(&self, id: AccountId, old: &KeyHash, new: &KeyHash) -> StoreResult<()> {
        self.faults.check("rotate_key")?;
        self.inner.rotate_key(id, old, new).await
    }
}

#[async_trait]
impl BillingEventStore for FaultyProductStore {
    async fn record_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.faults.check("record_external_event")?;
        self.inner.record_external_event(source, id, now).await
    }

    async fn apply_external_event(
        &self,
        source: &str,
        id: &str,
        now: DateTime<Utc>,
        customer: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Option<Customer>> {
        self.faults.check("apply_external_event")?;
        self.inner
            .apply_external_event(source, id, now, customer, update)
            .await
    }
}

#[async_trait]
impl RateWindowStore for FaultyProductStore {
    async fn hit_rate_window(&self, bucket: &str, window_start: DateTime<Utc>) -> StoreResult<u64> {
        self.faults.check("hit_rate_window")?;
        self.inner.hit_rate_window(bucket, window_start).await
    }

    async fn purge_rate_windows(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.faults.check("purge_rate_windows")?;
        self.inner.purge_rate_windows(cutoff).await
    }
}
