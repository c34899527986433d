//! [`Product`]: registration, API-key authentication and rotation, plans, and the purge of rate windows.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use whatsapi_core::account::NewAccount;
use whatsapi_core::send::ValidationErrors;
use whatsapi_core::service::check_account_name;
use whatsapi_core::store::StoreError;
use whatsapi_core::{AccountId, WhatsApi};

use crate::customer::{CustomerAccount, NewCustomer};
use crate::error::Error;
use crate::key::ApiKey;
use crate::plan::{Plan, PlanLimits, PlanTable};
use crate::store::ProductStore;
use crate::stripe::StripeClient;

const INVALID_KEY: &str =
    "Invalid API key. Expected Authorization: Bearer sk_live_ followed by 48 hex characters";
const ACCOUNT_NOT_FOUND: &str = "account not found";
const MAX_EMAIL_LEN: usize = 254;
/// How long a fixed rate-limit window is kept after it started.
const RATE_WINDOW_KEEP: chrono::Duration = chrono::Duration::hours(1);

/// The answer to a registration: both halves of the new account and its API key, shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The new account.
    pub account: CustomerAccount,
    /// Its key; only the hash is stored.
    pub api_key: ApiKey,
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

/// The hosted product over an engine: customers register, authenticate with their API key, live within their
/// plan's limits and pay through Stripe. Cheap to clone.
#[derive(Clone)]
pub struct Product {
    inner: Arc<Inner>,
}

struct Inner {
    api: WhatsApi,
    store: Arc<dyn ProductStore>,
    plans: PlanTable,
    stripe: Option<StripeClient>,
}

impl std::fmt::Debug for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Product")
            .field("plans", &self.inner.plans)
            .field("stripe", &self.inner.stripe)
            .finish_non_exhaustive()
    }
}

impl Product {
    /// The product over `api`, keeping its half of each account in `store` (the same database as the engine's
    /// store), with the plan limits of `plans` and without billing.
    pub fn new(api: WhatsApi, store: Arc<dyn ProductStore>, plans: PlanTable) -> Self {
        Self {
            inner: Arc::new(Inner {
                api,
                store,
                plans,
                stripe: None,
            }),
        }
    }

    /// The same product with Stripe billing (without it the billing calls answer [`Error::NotConfigured`]).
    pub fn with_billing(self, stripe: StripeClient) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                api: inner.api.clone(),
                store: inner.store.clone(),
                plans: inner.plans.clone(),
                stripe: Some(stripe),
            }),
        }
    }

    /// The engine.
    pub fn api(&self) -> &WhatsApi {
        &self.inner.api
    }

    /// The product's store.
    pub fn store(&self) -> &Arc<dyn ProductStore> {
        &self.inner.store
    }

    /// The plan limits.
    pub fn plans(&self) -> &PlanTable {
        &self.inner.plans
    }

    /// The limits of `plan`.
    pub fn limits(&self, plan: Plan) -> PlanLimits {
        self.inner.plans.limits(plan)
    }

    /// Most messages one bulk request of a customer on `plan` may hold.
    pub fn bulk_cap(&self, plan: Plan) -> usize {
        self.inner.plans.effective_bulk_cap(plan)
    }

    /// Most recipients one campaign of a customer on `plan` may hold.
    pub fn campaign_cap(&self, plan: Plan) -> usize {
        self.inner.plans.effective_campaign_cap(plan)
    }

    pub(crate) fn stripe_client(&self) -> Option<&StripeClient> {
        self.inner.stripe.as_ref()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.api.clock().now()
    }

    /// Creates an account on the free plan and returns it with its API key (shown once). The name is trimmed
    /// and must have 1–200 characters; the email must look like one (at most 254 characters). A taken email
    /// (case-insensitive) is a `Conflict`.
    pub async fn register(&self, name: &str, email: &str) -> Result<Registered, Error> {
        let email = email.trim();
        let mut errs = ValidationErrors::default();
        let name = match check_account_name(name) {
            Ok(name) => name,
            Err(m) => {
                errs.push("name", m);
                ""
            }
        };
        if email.is_empty() {
            errs.push("email", "required: the email address of the account");
        } else if email.len() > MAX_EMAIL_LEN {
            errs.push(
                "email",
                format!("must be at most {MAX_EMAIL_LEN} characters"),
            );
        } else if !plausible_email(email) {
            errs.push("email", "must be an email address such as you@example.com");
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        let api_key = ApiKey::generate();
        let new = NewCustomer {
            account: NewAccount {
                id: AccountId::new(),
                name: name.to_owned(),
                created_at: self.now(),
            },
            email: email.to_owned(),
            plan: Plan::Free,
            key_hash: api_key.hash(),
        };
        let customer = match self.inner.store.create_customer(new).await {
            Ok(c) => c,
            Err(StoreError::Conflict(_)) => {
                return Err(Error::Conflict(
                    "an account with this email already exists".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let account = self.both(customer).await?;
        tracing::info!(account_id = %account.account.id, "account registered");
        Ok(Registered { account, api_key })
    }

    /// The account of a presented API key. Malformed or unknown keys are `Unauthorized`; a deactivated
    /// account is `Forbidden`.
    pub async fn authenticate(&self, presented_key: &str) -> Result<CustomerAccount, Error> {
        let key =
            ApiKey::parse(presented_key).map_err(|_| Error::Unauthorized(INVALID_KEY.into()))?;
        let customer = self
            .inner
            .store
            .customer_by_key_hash(&key.hash())
            .await?
            .filter(|c| c.key_hash.ct_eq(&key.hash()))
            .ok_or_else(|| Error::Unauthorized(INVALID_KEY.into()))?;
        let Some(account) = self.inner.api.store().recent_account(customer.id).await? else {
            return Err(Error::Unauthorized(INVALID_KEY.into()));
        };
        if !account.active {
            return Err(Error::Forbidden("account deactivated".into()));
        }
        Ok(CustomerAccount { account, customer })
    }

    /// Both halves of an account as stored now.
    pub async fn me(&self, id: AccountId) -> Result<CustomerAccount, Error> {
        let customer = self
            .inner
            .store
            .customer(id)
            .await?
            .ok_or_else(|| Error::NotFound(ACCOUNT_NOT_FOUND.into()))?;
        self.both(customer).await
    }

    async fn both(&self, customer: crate::Customer) -> Result<CustomerAccount, Error> {
        let account = self
            .inner
            .api
            .store()
            .account(customer.id)
            .await?
            .ok_or_else(|| Error::NotFound(ACCOUNT_NOT_FOUND.into()))?;
        Ok(CustomerAccount { account, customer })
    }

    /// Replaces the account's API key; the old one stops working at once. A concurrent rotation that won is a
    /// `Conflict`.
    pub async fn rotate_key(&self, customer: &crate::Customer) -> Result<ApiKey, Error> {
        let key = ApiKey::generate();
        match self
            .inner
            .store
            .rotate_key(customer.id, &customer.key_hash, &key.hash())
            .await
        {
            Ok(()) => {
                tracing::info!(account_id = %customer.id, "API key rotated");
                Ok(key)
            }
            Err(StoreError::Conflict(_)) => Err(Error::Conflict(
                "the API key was already rotated by another request; use the newest key".into(),
            )),
            Err(StoreError::NotFound) => Err(Error::NotFound(ACCOUNT_NOT_FOUND.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the rate-limit windows that started an hour or more before `now` (run it as often as the engine's
    /// sweeper runs); answers how many.
    pub async fn purge_rate_windows(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        Ok(self
            .inner
            .store
            .purge_rate_windows(now - RATE_WINDOW_KEEP)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@mail.example.com"] {
            assert!(plausible_email(good), "{good}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@b..co", "a@.co",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }
}
