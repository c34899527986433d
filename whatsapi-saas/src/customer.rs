//! Customers: the hosted product's half of an account (email, plan, API key, Stripe links). The engine's half
//! ([`Account`]: credentials, webhook, breaker...) lives in core; stores keep both halves of one account together
//! (the same row in SQL).

use chrono::{DateTime, Utc};
use whatsapi_core::account::NewAccount;
use whatsapi_core::{Account, AccountId};

use crate::key::KeyHash;
use crate::plan::Plan;

/// The product's half of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// The account it belongs to.
    pub id: AccountId,
    /// Unique email (compared case-insensitively).
    pub email: String,
    /// Plan.
    pub plan: Plan,
    /// Hash of the current API key.
    pub key_hash: KeyHash,
    /// Stripe customer, once billing linked one.
    pub stripe_customer_id: Option<String>,
    /// Stripe subscription.
    pub stripe_subscription_id: Option<String>,
    /// When the billing event last applied to the customer happened (Stripe's `created`); older events are
    /// ignored.
    pub billing_event_at: Option<DateTime<Utc>>,
}

impl Customer {
    /// The customer a [`NewCustomer`] becomes: no Stripe links yet.
    pub fn new(new: &NewCustomer) -> Self {
        Self {
            id: new.account.id,
            email: new.email.clone(),
            plan: new.plan,
            key_hash: new.key_hash,
            stripe_customer_id: None,
            stripe_subscription_id: None,
            billing_event_at: None,
        }
    }

    /// Applies one change in memory, the way every store applies it (read, apply, write back in one
    /// transaction).
    pub fn apply(&mut self, update: CustomerUpdate) {
        match update {
            CustomerUpdate::SetPlan(p) => self.plan = p,
            CustomerUpdate::SetStripe {
                customer_id,
                subscription_id,
            } => {
                self.stripe_customer_id = customer_id;
                self.stripe_subscription_id = subscription_id;
            }
            CustomerUpdate::ApplyBilling {
                plan,
                customer_id,
                subscription_id,
                event_at,
            } => {
                self.plan = plan;
                self.stripe_customer_id = customer_id;
                self.stripe_subscription_id = subscription_id;
                self.billing_event_at = Some(event_at);
            }
        }
    }
}

/// Both halves of an account: what the engine keeps and what the product keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerAccount {
    /// The engine's half (the tenant the engine sends for).
    pub account: Account,
    /// The product's half.
    pub customer: Customer,
}

/// A new account with its product half, created at once.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    /// The engine's half.
    pub account: NewAccount,
    /// Email (unique, compared case-insensitively).
    pub email: String,
    /// Plan.
    pub plan: Plan,
    /// Hash of its first key.
    pub key_hash: KeyHash,
}

/// One change to a customer.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerUpdate {
    /// Change plan.
    SetPlan(Plan),
    /// Link Stripe objects.
    SetStripe {
        /// Customer.
        customer_id: Option<String>,
        /// Subscription.
        subscription_id: Option<String>,
    },
    /// Apply a billing event: plan and Stripe objects at once, remembering when the event happened.
    ApplyBilling {
        /// The plan the subscription now pays for.
        plan: Plan,
        /// Customer.
        customer_id: Option<String>,
        /// Subscription.
        subscription_id: Option<String>,
        /// When the event happened (stored as [`Customer::billing_event_at`]).
        event_at: DateTime<Utc>,
    },
}
