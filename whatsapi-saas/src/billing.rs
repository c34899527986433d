//! Billing: Stripe Checkout for plan upgrades, the Billing Portal, and Stripe's webhooks applied to plans.

use chrono::{DateTime, Utc};
use serde_json::Value;

use whatsapi_core::AccountId;
use whatsapi_core::store::StoreError;

use crate::customer::{Customer, CustomerUpdate};
use crate::error::Error;
use crate::plan::Plan;
use crate::product::Product;
use crate::stripe::{
    BillingError, CheckoutFor, CheckoutSession, PortalSession, SIGNATURE_TOLERANCE, StripeClient,
    StripeEvent, parse_event, verify_signature,
};

/// The external-event source name under which Stripe's event ids are recorded.
const STRIPE: &str = "stripe";

/// What a Stripe webhook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeWebhookOutcome {
    /// The customer's plan (and Stripe links) were updated.
    Applied {
        /// The account.
        account: AccountId,
        /// Its plan now.
        plan: Plan,
    },
    /// This event id was processed before; nothing changed.
    Duplicate,
    /// The event was recorded but changes nothing; the text says why.
    Ignored(String),
}

/// What a Stripe event does to a customer.
enum Change {
    /// Apply this update to the customer.
    Apply {
        account: AccountId,
        update: CustomerUpdate,
    },
    /// Nothing; the text says why.
    Ignore(&'static str),
}

fn billing_off() -> Error {
    Error::NotConfigured(
        "Billing is not configured on this server: the operator has not set up Stripe (--stripe-secret-key)."
            .into(),
    )
}

fn upstream(e: BillingError) -> Error {
    tracing::warn!(error = %e, "stripe call failed");
    Error::Upstream(format!(
        "The payment provider could not be reached or refused the request: {e}"
    ))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Product {
    fn stripe(&self) -> Result<&StripeClient, Error> {
        self.stripe_client().ok_or_else(billing_off)
    }

    fn sales_hint(&self) -> String {
        match self
            .stripe_client()
            .and_then(|b| b.config().sales_contact.as_deref())
        {
            Some(contact) => format!("contact sales at {contact}"),
            None => "contact the operator of this server".into(),
        }
    }

    /// Starts a Stripe Checkout Session (subscription mode) that upgrades the account to `plan` (`basic` or
    /// `pro`). `enterprise` and unknown plans are `Refused` saying how to reach sales; an account that already
    /// pays for a subscription is a `Conflict` (change plans in the billing portal); without Stripe configuration
    /// it is `NotConfigured`.
    pub async fn checkout(&self, account: &Customer, plan: &str) -> Result<CheckoutSession, Error> {
        let stripe = self.stripe()?;
        let plan = match plan.trim().to_ascii_lowercase().as_str() {
            "basic" => Plan::Basic,
            "pro" => Plan::Pro,
            "enterprise" => {
                return Err(Error::Refused(format!(
                    "Enterprise is a custom, sales-assisted plan and cannot be bought here: {}. \
                     Self-service plans are basic and pro.",
                    self.sales_hint()
                )));
            }
            other => {
                return Err(Error::field(
                    "plan",
                    format!(
                        "unknown plan '{other}': self-service plans are basic and pro; for enterprise or a custom \
                         plan, {}",
                        self.sales_hint()
                    ),
                ));
            }
        };
        if account.stripe_subscription_id.is_some() && account.plan != Plan::Free {
            return Err(Error::Conflict(format!(
                "This account already has a subscription (plan {}). Change or cancel it in the billing portal: \
                 GET /billing/portal.",
                account.plan
            )));
        }
        let session = stripe
            .create_checkout_session(&CheckoutFor {
                account: account.id,
                email: &account.email,
                customer: account.stripe_customer_id.as_deref(),
                plan,
            })
            .await
            .map_err(upstream)?;
        tracing::info!(account_id = %account.id, %plan, session = %session.id, "checkout session created");
        Ok(session)
    }

    /// A Stripe Billing Portal session for the account's Stripe customer. An account without one (never
    /// subscribed) is `Refused`.
    pub async fn billing_portal(&self, account: &Customer) -> Result<PortalSession, Error> {
        let stripe = self.stripe()?;
        let Some(customer) = account.stripe_customer_id.as_deref() else {
            return Err(Error::Refused(
                "This account has no subscription yet: start one with POST /billing/checkout."
                    .into(),
            ));
        };
        stripe
            .create_portal_session(customer)
            .await
            .map_err(upstream)
    }

    /// Applies a Stripe webhook: checks `Stripe-Signature` over the raw body (a bad, missing or stale signature is
    /// `Refused` and changes nothing), processes each event id once, and applies
    /// `checkout.session.completed`, `customer.subscription.updated` and `customer.subscription.deleted` to the
    /// account's plan. An event older than the last one applied to the account is ignored.
    pub async fn apply_stripe_webhook(
        &self,
        raw: &[u8],
        signature: Option<&str>,
    ) -> Result<StripeWebhookOutcome, Error> {
        let stripe = self.stripe()?;
        let secret = stripe.config().webhook_secret.as_deref().ok_or_else(|| {
            Error::NotConfigured(
                "Stripe webhooks are not configured on this server (--stripe-webhook-secret)."
                    .into(),
            )
        })?;
        let now = self.now();
        verify_signature(signature, raw, secret, now, SIGNATURE_TOLERANCE)
            .map_err(|e| Error::Refused(e.to_string()))?;
        let event = parse_event(raw).map_err(Error::Refused)?;
        if !matches!(
            event.kind.as_str(),
            "checkout.session.completed"
                | "customer.subscription.updated"
                | "customer.subscription.deleted"
        ) {
            return Ok(StripeWebhookOutcome::Ignored(format!(
                "event type {} is not used",
                event.kind
            )));
        }
        // The event's id is recorded in the transaction that applies it (or, for an event that changes nothing,
        // on its own): a failure in between cannot mark it processed, so Stripe's retry applies it.
        let outcome = match self.stripe_change(stripe, &event).await? {
            Change::Apply { account, update } => match self
                .store()
                .apply_external_event(STRIPE, &event.id, now, account, update)
                .await
            {
                Ok(Some(updated)) => StripeWebhookOutcome::Applied {
                    account: updated.id,
                    plan: updated.plan,
                },
                Ok(None) => StripeWebhookOutcome::Duplicate,
                // Removed since it was read.
                Err(StoreError::NotFound) => {
                    self.record_ignored(&event, now, "the referenced account does not exist")
                        .await?
                }
                Err(e) => return Err(e.into()),
            },
            Change::Ignore(why) => self.record_ignored(&event, now, why).await?,
        };
        match &outcome {
            StripeWebhookOutcome::Applied { account, plan } => {
                tracing::info!(event = %event.id, kind = %event.kind, account_id = %account, %plan, "billing event applied");
            }
            StripeWebhookOutcome::Ignored(why) => {
                tracing::info!(event = %event.id, kind = %event.kind, reason = %why, "billing event ignored");
            }
            StripeWebhookOutcome::Duplicate => {
                tracing::info!(event = %event.id, "stripe event already processed");
            }
        }
        Ok(outcome)
    }

    /// Records an event that changes nothing; `Duplicate` when it was recorded before.
    async fn record_ignored(
        &self,
        event: &StripeEvent,
        now: DateTime<Utc>,
        why: &str,
    ) -> Result<StripeWebhookOutcome, Error> {
        Ok(
            if self
                .store()
                .record_external_event(STRIPE, &event.id, now)
                .await?
            {
                StripeWebhookOutcome::Ignored(why.to_owned())
            } else {
                StripeWebhookOutcome::Duplicate
            },
        )
    }

    /// What the event changes, read from the account as it is now; nothing is written.
    async fn stripe_change(
        &self,
        stripe: &StripeClient,
        event: &StripeEvent,
    ) -> Result<Change, Error> {
        let o = &event.object;
        let ignored = |why: &'static str| Ok(Change::Ignore(why));
        let account_ref = if event.kind == "checkout.session.completed" {
            str_at(o, &["client_reference_id"])
        } else {
            str_at(o, &["metadata", "whatsapi_account_id"])
        };
        let Some(account_id) = account_ref.and_then(|s| s.parse::<uuid::Uuid>().ok()) else {
            return ignored("no whatsapi account reference in the event");
        };
        let Some(account) = self.store().customer(AccountId(account_id)).await? else {
            return ignored("the referenced account does not exist");
        };
        if account
            .billing_event_at
            .is_some_and(|last| event.created < last)
        {
            return ignored("older than the last billing event applied to the account");
        }
        let customer = str_at(o, &["customer"]).map(str::to_owned);
        if let (Some(ours), Some(theirs)) = (&account.stripe_customer_id, &customer) {
            if ours != theirs {
                return ignored("the event's customer is not the account's Stripe customer");
            }
        }
        let customer = customer.or_else(|| account.stripe_customer_id.clone());
        let (plan, subscription) = match event.kind.as_str() {
            "checkout.session.completed" => {
                if str_at(o, &["mode"]).is_some_and(|m| m != "subscription") {
                    return ignored("not a subscription checkout");
                }
                let subscription = str_at(o, &["subscription"]).map(str::to_owned);
                let paid = !matches!(str_at(o, &["payment_status"]), Some("unpaid"));
                let plan = str_at(o, &["metadata", "plan"])
                    .and_then(|p| p.parse::<Plan>().ok())
                    .filter(|p| matches!(p, Plan::Basic | Plan::Pro));
                match (plan, paid) {
                    (Some(plan), true) => (plan, subscription),
                    // Linked now; the plan follows with customer.subscription.updated once paid.
                    _ => (account.plan, subscription),
                }
            }
            kind => {
                let subscription = str_at(o, &["id"]).map(str::to_owned);
                if let (Some(ours), Some(theirs)) = (&account.stripe_subscription_id, &subscription)
                {
                    if ours != theirs {
                        return ignored("not the account's current subscription");
                    }
                }
                let status = str_at(o, &["status"]).unwrap_or("canceled");
                let ended = kind == "customer.subscription.deleted"
                    || matches!(status, "canceled" | "unpaid" | "incomplete_expired");
                if ended {
                    (Plan::Free, None)
                } else if status == "incomplete" {
                    return ignored("the subscription's first payment is not complete");
                } else {
                    let price = o
                        .pointer("/items/data/0/price/id")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let Some(plan) = stripe.plan_of_price(price) else {
                        return ignored("the subscription's price is not a configured plan price");
                    };
                    (plan, subscription)
                }
            }
        };
        Ok(Change::Apply {
            account: account.id,
            update: CustomerUpdate::ApplyBilling {
                plan,
                customer_id: customer,
                subscription_id: subscription,
                event_at: event.created,
            },
        })
    }
}
