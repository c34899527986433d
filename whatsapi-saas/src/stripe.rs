//! Stripe billing: Checkout and Billing Portal sessions over Stripe's form-encoded REST API, and the check of
//! `Stripe-Signature` on Stripe's webhooks.
//!
//! [`Product::checkout`](crate::Product::checkout), [`Product::billing_portal`](crate::Product::billing_portal)
//! and [`Product::apply_stripe_webhook`](crate::Product::apply_stripe_webhook) use it.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use whatsapi_core::AccountId;

use crate::plan::Plan;

/// How far a `Stripe-Signature` timestamp may be from now (Stripe's default tolerance).
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// The Stripe side of billing. `Debug` redacts the keys.
#[derive(Clone)]
pub struct StripeConfig {
    /// Secret API key (`sk_live_…` / `sk_test_…`).
    pub secret_key: String,
    /// Signing secret of the webhook endpoint (`whsec_…`); without it Stripe's webhooks are refused.
    pub webhook_secret: Option<String>,
    /// Base URL of the API (default `https://api.stripe.com`).
    pub api_base: String,
    /// Price id of the Basic plan.
    pub price_basic: String,
    /// Price id of the Pro plan.
    pub price_pro: String,
    /// Where Checkout returns after payment.
    pub success_url: String,
    /// Where Checkout returns when the customer cancels.
    pub cancel_url: String,
    /// Where the billing portal's return link goes.
    pub portal_return_url: String,
    /// How to reach sales for the Enterprise plan (email or URL), if configured.
    pub sales_contact: Option<String>,
    /// Timeout of one call to Stripe.
    pub timeout: Duration,
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"<redacted>")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("api_base", &self.api_base)
            .field("price_basic", &self.price_basic)
            .field("price_pro", &self.price_pro)
            .field("success_url", &self.success_url)
            .field("cancel_url", &self.cancel_url)
            .field("portal_return_url", &self.portal_return_url)
            .field("sales_contact", &self.sales_contact)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a call to Stripe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for Stripe: {0}")]
    Client(String),
    /// Stripe could not be reached or did not answer in time.
    #[error("Stripe could not be reached: {0}")]
    Network(String),
    /// Stripe answered with an error.
    #[error("Stripe answered {status}: {message}")]
    Stripe {
        /// HTTP status.
        status: u16,
        /// Stripe's `error.message`.
        message: String,
    },
    /// Stripe's answer was not what its API documents.
    #[error("unexpected answer from Stripe: {0}")]
    Malformed(String),
}

/// A Checkout Session: send the customer to `url`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckoutSession {
    /// `cs_…`.
    pub id: String,
    /// The hosted payment page.
    pub url: String,
}

/// A Billing Portal session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PortalSession {
    /// `bps_…`.
    pub id: String,
    /// The portal page.
    pub url: String,
}

/// Who a checkout is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutFor<'a> {
    /// Our account (sent as `client_reference_id` and in metadata).
    pub account: AccountId,
    /// Its email (prefills Checkout when there is no Stripe customer yet).
    pub email: &'a str,
    /// Its Stripe customer, when one is linked already.
    pub customer: Option<&'a str>,
    /// The plan to buy (basic or pro).
    pub plan: Plan,
}

/// A client of Stripe's REST API (one connection pool).
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    config: StripeConfig,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct StripeErrorBody {
    error: StripeErrorDetail,
}

#[derive(Deserialize)]
struct StripeErrorDetail {
    message: Option<String>,
}

impl StripeClient {
    /// A client for `config`.
    pub fn new(config: StripeConfig) -> Result<Self, BillingError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("whatsapi/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BillingError::Client(e.to_string()))?;
        Ok(Self { http, config })
    }

    /// The configuration.
    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    /// The price id of a self-service plan.
    pub fn price_of(&self, plan: Plan) -> Option<&str> {
        match plan {
            Plan::Basic => Some(&self.config.price_basic),
            Plan::Pro => Some(&self.config.price_pro),
            Plan::Free | Plan::Enterprise => None,
        }
    }

    /// The plan a price id pays for.
    pub fn plan_of_price(&self, price: &str) -> Option<Plan> {
        if price == self.config.price_basic {
            Some(Plan::Basic)
        } else if price == self.config.price_pro {
            Some(Plan::Pro)
        } else {
            None
        }
    }

    /// `POST /v1/checkout/sessions` in subscription mode for one seat of the plan's price.
    pub async fn create_checkout_session(
        &self,
        who: &CheckoutFor<'_>,
    ) -> Result<CheckoutSession, BillingError> {
        let price = self.price_of(who.plan).ok_or_else(|| {
            BillingError::Malformed(format!("no price for the {} plan", who.plan))
        })?;
        let account = who.account.to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("mode", "subscription"),
            ("line_items[0][price]", price),
            ("line_items[0][quantity]", "1"),
            ("success_url", &self.config.success_url),
            ("cancel_url", &self.config.cancel_url),
            ("client_reference_id", &account),
            ("metadata[whatsapi_account_id]", &account),
            ("metadata[plan]", who.plan.as_str()),
            ("subscription_data[metadata][whatsapi_account_id]", &account),
            ("subscription_data[metadata][plan]", who.plan.as_str()),
        ];
        match who.customer {
            Some(customer) => form.push(("customer", customer)),
            None => form.push(("customer_email", who.email)),
        }
        self.post("/v1/checkout/sessions", &form).await
    }

    /// `POST /v1/billing_portal/sessions` for a customer.
    pub async fn create_portal_session(
        &self,
        customer: &str,
    ) -> Result<PortalSession, BillingError> {
        let form = [
            ("customer", customer),
            ("return_url", self.config.portal_return_url.as_str()),
        ];
        self.post("/v1/billing_portal/sessions", &form).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, BillingError> {
        let url = format!("{}{path}", self.config.api_base.trim_end_matches('/'));
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.config.secret_key)
            .form(form)
            .send()
            .await
            .map_err(|e| BillingError::Network(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| BillingError::Network(e.without_url().to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<StripeErrorBody>(&body)
                .ok()
                .and_then(|b| b.error.message)
                .unwrap_or_else(|| "no error message".into());
            return Err(BillingError::Stripe {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|e| BillingError::Malformed(e.to_string()))
    }
}

/// Why a `Stripe-Signature` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header.
    #[error("missing Stripe-Signature header")]
    Missing,
    /// Not `t=<unix>,v1=<hex>[,v1=<hex>…]`.
    #[error("malformed Stripe-Signature header: expected t=<unix time>,v1=<hex HMAC-SHA256>")]
    Malformed,
    /// No `v1` signature matches.
    #[error("no v1 signature in Stripe-Signature matches the payload and the endpoint secret")]
    Mismatch,
    /// The timestamp is outside the tolerance.
    #[error(
        "Stripe-Signature timestamp is {0} seconds away from now (at most 300 allowed); a replayed event?"
    )]
    Stale(i64),
}

/// Checks `Stripe-Signature: t=…,v1=…` (several `v1` allowed) over the exact raw body: HMAC-SHA256 with the
/// endpoint secret of `"{t}.{body}"`, compared in constant time, with `t` within `tolerance` of `now`.
pub fn verify_signature(
    header: Option<&str>,
    raw_body: &[u8],
    secret: &str,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed);
        };
        match k {
            "t" => timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {} // v0 and future schemes are ignored, as Stripe's libraries do
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    let ok = signatures
        .iter()
        .any(|sig| mac.clone().verify_slice(sig).is_ok());
    if !ok {
        return Err(SignatureError::Mismatch);
    }
    let age = now.timestamp() - t;
    let limit = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age.abs() > limit {
        return Err(SignatureError::Stale(age));
    }
    Ok(())
}

/// The `Stripe-Signature` Stripe would send for `raw_body` at `t` (for tests and local tooling).
pub fn sign(secret: &str, t: i64, raw_body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The parts of a Stripe event whatsapi reads.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    /// `evt_…`, unique per event (repeats of one event share it).
    pub id: String,
    /// E.g. `checkout.session.completed`.
    pub kind: String,
    /// When the event happened.
    pub created: DateTime<Utc>,
    /// `data.object`.
    pub object: serde_json::Value,
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: serde_json::Value,
}

/// Parses an event body (after its signature was checked).
pub fn parse_event(raw: &[u8]) -> Result<StripeEvent, String> {
    let e: RawEvent = serde_json::from_slice(raw)
        .map_err(|e| format!("not a Stripe event (id, type, created, data.object): {e}"))?;
    let created = DateTime::from_timestamp(e.created, 0)
        .ok_or_else(|| format!("created {} is not a time", e.created))?;
    Ok(StripeEvent {
        id: e.id,
        kind: e.kind,
        created,
        object: e.data.object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn signatures() {
        let body = br#"{"id":"evt_1"}"#;
        let t = now().timestamp();
        let good = sign(SECRET, t, body);
        let check =
            |h: Option<&str>, b: &[u8]| verify_signature(h, b, SECRET, now(), SIGNATURE_TOLERANCE);
        assert_eq!(check(Some(&good), body), Ok(()));
        assert_eq!(check(None, body), Err(SignatureError::Missing));
        assert_eq!(
            check(Some("nonsense"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check(Some(&format!("t={t}")), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check(Some(&good), br#"{"id":"evt_2"}"#),
            Err(SignatureError::Mismatch)
        );
        let other = sign("whsec_other", t, body);
        assert_eq!(check(Some(&other), body), Err(SignatureError::Mismatch));
        // Several v1 entries (secret rotation): one matching is enough.
        let v1_other = other.split_once(",v1=").unwrap().1;
        let both = format!("{good},v1={v1_other},v0=abcd");
        assert_eq!(check(Some(&both), body), Ok(()));
        let both = format!("t={t},v1={v1_other},{}", good.split_once(',').unwrap().1);
        assert_eq!(check(Some(&both), body), Ok(()));
        // Stale: more than five minutes old, or from the future.
        let old = sign(SECRET, t - 301, body);
        assert_eq!(check(Some(&old), body), Err(SignatureError::Stale(301)));
        let edge = sign(SECRET, t - 300, body);
        assert_eq!(check(Some(&edge), body), Ok(()));
        let future = sign(SECRET, t + 400, body);
        assert_eq!(check(Some(&future), body), Err(SignatureError::Stale(-400)));
        // The timestamp is signed: changing it breaks the signature.
        let moved = good.replacen(&format!("t={t}"), &format!("t={}", t - 1), 1);
        assert_eq!(check(Some(&moved), body), Err(SignatureError::Mismatch));
    }

    #[test]
    fn events_parse() {
        let raw = br#"{"id":"evt_9","object":"event","type":"customer.subscription.deleted","created":1800000000,
            "data":{"object":{"id":"sub_1","customer":"cus_1"}}}"#;
        let e = parse_event(raw).unwrap();
        assert_eq!(e.id, "evt_9");
        assert_eq!(e.kind, "customer.subscription.deleted");
        assert_eq!(e.created, now());
        assert_eq!(e.object["customer"], "cus_1");
        assert!(parse_event(b"{}").is_err());
    }
}
