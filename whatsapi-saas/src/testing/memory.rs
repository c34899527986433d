//! `MemoryProductStore`: the product's half of each account in process memory, beside a core store that keeps
//! the engine's half.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use whatsapi_core::AccountId;
use whatsapi_core::store::{Store, StoreError, StoreResult};

use crate::customer::{Customer, CustomerUpdate, NewCustomer};
use crate::key::KeyHash;
use crate::store::{BillingEventStore, CustomerStore, RateWindowStore};

/// The product stores kept in memory behind one mutex; customers are created in the core store given to
/// [`MemoryProductStore::new`] (the engine's half) and here (the product's half). Cloning shares the data.
#[derive(Clone)]
pub struct MemoryProductStore {
    tenants: Arc<dyn Store>,
    state: Arc<Mutex<State>>,
    /// Serialises creations, so the email check and both inserts are one step.
    creating: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for MemoryProductStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryProductStore")
            .field("customers", &self.lock().customers.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    customers: HashMap<AccountId, Customer>,
    /// Lowercased email -> account.
    emails: HashMap<String, AccountId>,
    key_hashes: HashMap<KeyHash, AccountId>,
    /// (source, event id) of processed external events.
    external_events: HashSet<(String, String)>,
    rate_windows: HashMap<(String, DateTime<Utc>), u64>,
}

impl State {
    fn customer_mut(&mut self, id: AccountId) -> StoreResult<&mut Customer> {
        self.customers.get_mut(&id).ok_or(StoreError::NotFound)
    }
}

impl MemoryProductStore {
    /// Empty, creating the engine's half of each account in `tenants`.
    pub fn new(tenants: Arc<dyn Store>) -> Self {
        Self {
            tenants,
            state: Arc::default(),
            creating: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl CustomerStore for MemoryProductStore {
    async fn create_customer(&self, new: NewCustomer) -> StoreResult<Customer> {
        let _creating = self.creating.lock().await;
        {
            let s = self.lock();
            if s.emails.contains_key(&new.email.to_lowercase()) {
                return Err(StoreError::Conflict(format!(
                    "an account with email {} already exists",
                    new.email
                )));
            }
            if s.key_hashes.contains_key(&new.key_hash) {
                return Err(StoreError::Conflict("the API key is already in use".into()));
            }
        }
        let customer = Customer::new(&new);
        self.tenants.create_account(new.account).await?;
        let mut s = self.lock();
        s.emails.insert(customer.email.to_lowercase(), customer.id);
        s.key_hashes.insert(customer.key_hash, customer.id);
        s.customers.insert(customer.id, customer.clone());
        Ok(customer)
    }

    async fn customer(&self, id: AccountId) -> StoreResult<Option<Customer>> {
        Ok(self.lock().customers.get(&id).cloned())
    }

    async fn customer_by_key_hash(&self, hash: &KeyHash) -> StoreResult<Option<Customer>> {
        let s = self.lock();
        Ok(s.key_hashes
            .get(hash)
            .and_then(|id| s.customers.get(id))
            .filter(|c| c.key_hash.ct_eq(hash))
            .cloned())
    }

    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<Customer>> {
        let s = self.lock();
        Ok(s.emails
            .get(&email.trim().to_lowercase())
            .and_then(|id| s.customers.get(id))
            .cloned())
    }

    async fn update_customer(
        &self,
        id: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Customer> {
        let mut s = self.lock();
        let customer = s.customer_mut(id)?;
        customer.apply(update);
        Ok(customer.clone())
    }

    async fn rotate_key(&self, id: AccountId, old: &KeyHash, new: &KeyHash) -> StoreResult<()> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let customer = s.customer_mut(id)?;
        if !customer.key_hash.ct_eq(old) {
            return Err(StoreError::Conflict(
                "the key was rotated concurrently".into(),
            ));
        }
        customer.key_hash = *new;
        s.key_hashes.remove(old);
        s.key_hashes.insert(*new, id);
        Ok(())
    }
}

#[async_trait]
impl BillingEventStore for MemoryProductStore {
    async fn record_external_event(
        &self,
        source: &str,
        id: &str,
        _now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(self
            .lock()
            .external_events
            .insert((source.to_owned(), id.to_owned())))
    }

    async fn apply_external_event(
        &self,
        source: &str,
        id: &str,
        _now: DateTime<Utc>,
        customer: AccountId,
        update: CustomerUpdate,
    ) -> StoreResult<Option<Customer>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let event = (source.to_owned(), id.to_owned());
        if s.external_events.contains(&event) {
            return Ok(None);
        }
        let customer = s.customer_mut(customer)?;
        customer.apply(update);
        let updated = customer.clone();
        s.external_events.insert(event);
        Ok(Some(updated))
    }
}

#[async_trait]
impl RateWindowStore for MemoryProductStore {
    async fn hit_rate_window(&self, bucket: &str, window_start: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock();
        let n = s
            .rate_windows
            .entry((bucket.to_owned(), window_start))
            .or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn purge_rate_windows(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock();
        let before = s.rate_windows.len();
        s.rate_windows.retain(|(_, start), _| *start > cutoff);
        Ok((before - s.rate_windows.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::conformance::ProductStores;
    use whatsapi_core::testing::MemoryStore;

    async fn make() -> ProductStores {
        let tenants: Arc<dyn Store> = Arc::new(MemoryStore::new());
        ProductStores {
            product: Arc::new(MemoryProductStore::new(tenants.clone())),
            tenants,
        }
    }

    crate::product_conformance_tests!(make);
}
