//! Accounts, plans and API keys.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::message::uuid_id;

uuid_id!(
    /// Identifies an account.
    AccountId
);

/// A subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Default for new accounts.
    Free,
    /// Self-service paid plan.
    Basic,
    /// Self-service paid plan.
    Pro,
    /// Sales-assisted plan.
    Enterprise,
}

impl Plan {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Basic => "basic",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The default limits of this plan.
    pub fn default_limits(self) -> PlanLimits {
        let (requests_per_minute, bulk_cap) = match self {
            Plan::Free => (20, 100),
            Plan::Basic => (100, 100),
            Plan::Pro => (500, 1000),
            Plan::Enterprise => (2000, 5000),
        };
        PlanLimits {
            requests_per_minute,
            bulk_cap,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Plan::Free),
            "basic" => Ok(Plan::Basic),
            "pro" => Ok(Plan::Pro),
            "enterprise" => Ok(Plan::Enterprise),
            other => Err(format!(
                "unknown plan '{other}'; expected free, basic, pro or enterprise"
            )),
        }
    }
}

/// What a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// API requests per key per minute.
    pub requests_per_minute: u32,
    /// Most messages in one bulk request.
    pub bulk_cap: usize,
}

/// Limits per plan, with the defaults of the reference and room for overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTable {
    /// Free.
    pub free: PlanLimits,
    /// Basic.
    pub basic: PlanLimits,
    /// Pro.
    pub pro: PlanLimits,
    /// Enterprise.
    pub enterprise: PlanLimits,
    /// Server-wide bulk ceiling (`MAX_BULK_MESSAGES`, default 1000).
    pub max_bulk_messages: usize,
}

impl Default for PlanTable {
    fn default() -> Self {
        Self {
            free: Plan::Free.default_limits(),
            basic: Plan::Basic.default_limits(),
            pro: Plan::Pro.default_limits(),
            enterprise: Plan::Enterprise.default_limits(),
            max_bulk_messages: 1000,
        }
    }
}

impl PlanTable {
    /// The limits of `plan`.
    pub fn limits(&self, plan: Plan) -> PlanLimits {
        match plan {
            Plan::Free => self.free,
            Plan::Basic => self.basic,
            Plan::Pro => self.pro,
            Plan::Enterprise => self.enterprise,
        }
    }

    /// min(plan cap, `MAX_BULK_MESSAGES`).
    pub fn effective_bulk_cap(&self, plan: Plan) -> usize {
        self.limits(plan).bulk_cap.min(self.max_bulk_messages)
    }
}

const KEY_PREFIX: &str = "sk_live_";
const KEY_HEX_LEN: usize = 48;

/// A secret API key, `sk_live_` + 48 lowercase hex characters. Shown once; only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// The SHA-256 of an API key: what the store keeps and looks keys up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

/// Why a string is not an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed API key: expected 'sk_live_' followed by 48 lowercase hexadecimal characters")]
pub struct MalformedKey;

impl ApiKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_HEX_LEN / 2];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
    }

    /// Strictly parses a presented key.
    pub fn parse(s: &str) -> Result<Self, MalformedKey> {
        let hex_part = s.strip_prefix(KEY_PREFIX).ok_or(MalformedKey)?;
        let ok = hex_part.len() == KEY_HEX_LEN
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(MalformedKey)
        }
    }

    /// The key itself, to show the user once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its SHA-256.
    pub fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(sk_live_…)")
    }
}

impl KeyHash {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses lowercase or uppercase hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

/// The customer's own Meta WhatsApp credentials (BYOC).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaCredentials {
    /// Graph API access token.
    pub access_token: String,
    /// Business phone number id.
    pub phone_number_id: String,
    /// App secret used to check `X-Hub-Signature-256` on Meta's webhooks for this number.
    pub app_secret: Option<String>,
    /// Token Meta echoes when verifying the callback URL.
    pub verify_token: Option<String>,
    /// The WhatsApp Business Account id the number belongs to: routes Meta's webhooks that name only the WABA
    /// (template and account updates). Unique across accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
    /// Lowercase hex SHA-256 of `verify_token`, kept beside it so a store can index it even when the token itself
    /// is sealed (the encrypting store sets it before sealing). Leave `None` for plaintext credentials: stores
    /// hash the token ([`crate::store::support::verify_token_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token_hash: Option<String>,
}

impl fmt::Debug for MetaCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaCredentials")
            .field("access_token", &"<redacted>")
            .field("phone_number_id", &self.phone_number_id)
            .field(
                "app_secret",
                &self.app_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "verify_token",
                &self.verify_token.as_ref().map(|_| "<redacted>"),
            )
            .field("waba_id", &self.waba_id)
            .finish_non_exhaustive()
    }
}

/// What is known about the saved credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum CredentialsStatus {
    /// Saved but not checked yet.
    Unverified,
    /// Meta answered for this number.
    Verified {
        /// The business name Meta shows.
        verified_name: String,
        /// The number as Meta displays it.
        display_phone_number: String,
        /// Meta's quality rating, when given.
        quality_rating: Option<String>,
        /// When verified.
        at: DateTime<Utc>,
    },
    /// Meta refused them (on verify, or a send failed with a credentials error).
    Invalid {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Where customer webhooks go.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConfig {
    /// The customer's URL.
    pub url: String,
    /// `whsec_…` signing secret (Standard Webhooks).
    pub secret: String,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Per-account circuit breaker state, kept in the store so every replica sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BreakerState {
    /// Transient failures in a row.
    pub consecutive_failures: u32,
    /// Open (sending paused) until this time; after it one probe is allowed.
    pub open_until: Option<DateTime<Utc>>,
    /// How many times it opened in a row without a success; drives the growing cool-down.
    pub trips: u32,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Name or company.
    pub name: String,
    /// Unique email.
    pub email: String,
    /// Plan.
    pub plan: Plan,
    /// Hash of the current API key.
    pub key_hash: KeyHash,
    /// False once an operator deactivated it.
    pub active: bool,
    /// Messages Meta accepted (dry runs excluded).
    pub messages_sent: u64,
    /// Meta credentials, when configured.
    pub credentials: Option<MetaCredentials>,
    /// What is known about them.
    pub credentials_status: CredentialsStatus,
    /// Customer webhook.
    pub webhook: Option<WebhookConfig>,
    /// Refuse free-form text outside a known-open 24 h window.
    pub strict_window: bool,
    /// Circuit breaker.
    pub breaker: BreakerState,
    /// Stripe customer, once billing linked one.
    pub stripe_customer_id: Option<String>,
    /// Stripe subscription.
    pub stripe_subscription_id: Option<String>,
    /// When the billing event last applied to the account happened (Stripe's `created`); older events are ignored.
    pub billing_event_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// Applies one change in memory, the way every store applies it (stores read, apply, and write back in one
    /// transaction).
    pub fn apply(&mut self, update: AccountUpdate) {
        match update {
            AccountUpdate::SetCredentials(c) => {
                self.credentials = Some(c);
                self.credentials_status = CredentialsStatus::Unverified;
            }
            AccountUpdate::ReplaceCredentials(c) => self.credentials = Some(c),
            AccountUpdate::ClearCredentials => {
                self.credentials = None;
                self.credentials_status = CredentialsStatus::Unverified;
            }
            AccountUpdate::SetCredentialsStatus(s) => self.credentials_status = s,
            AccountUpdate::SetWebhook(w) => self.webhook = Some(w),
            AccountUpdate::ClearWebhook => self.webhook = None,
            AccountUpdate::SetPlan(p) => self.plan = p,
            AccountUpdate::SetActive(a) => self.active = a,
            AccountUpdate::SetStrictWindow(s) => self.strict_window = s,
            AccountUpdate::SetBreaker(b) => self.breaker = b,
            AccountUpdate::SetStripe {
                customer_id,
                subscription_id,
            } => {
                self.stripe_customer_id = customer_id;
                self.stripe_subscription_id = subscription_id;
            }
            AccountUpdate::ApplyBilling {
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

/// A new account to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAccount {
    /// Id.
    pub id: AccountId,
    /// Name.
    pub name: String,
    /// Email (unique, compared case-insensitively).
    pub email: String,
    /// Plan.
    pub plan: Plan,
    /// Hash of its first key.
    pub key_hash: KeyHash,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// One change to an account.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountUpdate {
    /// Save credentials (status becomes unverified).
    SetCredentials(MetaCredentials),
    /// Replace the stored credentials without touching their status (re-encryption under a new key).
    ReplaceCredentials(MetaCredentials),
    /// Remove credentials.
    ClearCredentials,
    /// Record the result of a verification or a credentials failure.
    SetCredentialsStatus(CredentialsStatus),
    /// Save the webhook target.
    SetWebhook(WebhookConfig),
    /// Remove the webhook target.
    ClearWebhook,
    /// Change plan.
    SetPlan(Plan),
    /// Activate or deactivate.
    SetActive(bool),
    /// Strict 24-hour window mode.
    SetStrictWindow(bool),
    /// Circuit breaker state.
    SetBreaker(BreakerState),
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
        /// When the event happened (stored as [`Account::billing_event_at`]).
        event_at: DateTime<Utc>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("sk_live_"));
        assert_eq!(a.expose().len(), 8 + 48);
        assert_eq!(ApiKey::parse(a.expose()).unwrap(), a);
        assert_eq!(a.hash(), ApiKey::parse(a.expose()).unwrap().hash());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn strict_parse() {
        let good = format!("sk_live_{}", "a1".repeat(24));
        assert!(ApiKey::parse(&good).is_ok());
        for bad in [
            "".to_string(),
            "sk_live_".to_string(),
            format!("sk_test_{}", "a1".repeat(24)),
            format!("sk_live_{}", "A1".repeat(24)),
            format!("sk_live_{}", "a1".repeat(23)),
            format!("sk_live_{}0", "a1".repeat(24)),
            format!("sk_live_{}", "g1".repeat(24)),
            format!(" {good}"),
        ] {
            assert!(ApiKey::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_is_sha256_of_the_key() {
        let k = ApiKey::parse(&format!("sk_live_{}", "0".repeat(48))).unwrap();
        assert_eq!(
            k.hash().to_hex(),
            hex::encode(Sha256::digest(k.expose().as_bytes()))
        );
        assert_eq!(KeyHash::from_hex(&k.hash().to_hex()), Some(k.hash()));
        assert!(k.hash().ct_eq(&k.hash()));
        assert!(!format!("{k:?}").contains("000000"));
    }

    #[test]
    fn plans() {
        let t = PlanTable::default();
        let rpm: Vec<u32> = [Plan::Free, Plan::Basic, Plan::Pro, Plan::Enterprise]
            .iter()
            .map(|p| t.limits(*p).requests_per_minute)
            .collect();
        assert_eq!(rpm, [20, 100, 500, 2000]);
        assert_eq!(t.effective_bulk_cap(Plan::Free), 100);
        assert_eq!(t.effective_bulk_cap(Plan::Pro), 1000);
        assert_eq!(
            t.effective_bulk_cap(Plan::Enterprise),
            1000,
            "MAX_BULK_MESSAGES caps it"
        );
        let t = PlanTable {
            max_bulk_messages: 50,
            ..PlanTable::default()
        };
        assert_eq!(t.effective_bulk_cap(Plan::Basic), 50);
        assert_eq!("pro".parse::<Plan>(), Ok(Plan::Pro));
        assert!("gold".parse::<Plan>().is_err());
    }
}
