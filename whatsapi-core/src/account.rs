//! Accounts (the tenants of the engine): each with its Meta credentials, its customer webhook, its strict-window
//! setting and its circuit breaker. Registration, API keys, plans and billing are the hosted product's
//! (`whatsapi-saas`), not the engine's: an embedding app creates an account with
//! [`WhatsApi::create_account`](crate::WhatsApi::create_account), saves its credentials, and sends.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::message::uuid_id;

uuid_id!(
    /// Identifies an account.
    AccountId
);

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
    /// The pacing rate of the default number in messages per second: set from Meta's `throughput.level` when the
    /// credentials are verified, or by the account; `None`: the engine's default rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_per_second: Option<u32>,
}

impl MetaCredentials {
    /// Credentials to send from one business number: its Graph API access token and phone number id. Set
    /// `app_secret` (to check the signature of Meta's webhooks for the number), `verify_token` and `waba_id` on
    /// the result when the app receives Meta's webhooks.
    pub fn new(access_token: impl Into<String>, phone_number_id: impl Into<String>) -> Self {
        Self {
            access_token: access_token.into(),
            phone_number_id: phone_number_id.into(),
            app_secret: None,
            verify_token: None,
            waba_id: None,
            verify_token_hash: None,
            throughput_per_second: None,
        }
    }
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
    /// A probe of the half-open breaker is in flight: one process claimed it (by compare-and-set) and
    /// `open_until` is then the end of that probe's lease, so every other process keeps waiting for its verdict
    /// (or for the lease to end, when the prober died). Absent from state written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probing: bool,
}

impl BreakerState {
    /// The end of the cool-down when the breaker is open at `now` and no probe is deciding; `None` when it is
    /// closed, half-open, or a probe is in flight (new sends are queued then: the probe's verdict comes soon).
    pub fn cooling_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.open_until.filter(|t| *t > now && !self.probing)
    }
}

/// An account as stored: one tenant of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Name or company.
    pub name: String,
    /// False once an operator deactivated it: nothing of it is sent.
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
    /// The validity period of the account's sends that set none (see
    /// [`SendRequest::validity`](crate::SendRequest::validity)); `None`: they never expire.
    pub default_validity: Option<std::time::Duration>,
    /// Circuit breaker.
    pub breaker: BreakerState,
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
            AccountUpdate::SetActive(a) => self.active = a,
            AccountUpdate::SetStrictWindow(s) => self.strict_window = s,
            AccountUpdate::SetDefaultValidity(v) => self.default_validity = v,
            AccountUpdate::SetBreaker(b) => self.breaker = b,
        }
    }

    /// The account a [`NewAccount`] becomes: active, no credentials, no webhook, nothing sent.
    pub fn new(new: NewAccount) -> Self {
        Self {
            id: new.id,
            name: new.name,
            active: true,
            messages_sent: 0,
            credentials: None,
            credentials_status: CredentialsStatus::Unverified,
            webhook: None,
            strict_window: false,
            default_validity: None,
            breaker: BreakerState::default(),
            created_at: new.created_at,
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
    /// Activate or deactivate.
    SetActive(bool),
    /// Strict 24-hour window mode.
    SetStrictWindow(bool),
    /// The validity period of sends that set none (`None`: they never expire); stores keep whole seconds.
    SetDefaultValidity(Option<std::time::Duration>),
    /// Circuit breaker state.
    SetBreaker(BreakerState),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_state_written_before_probing_existed_still_reads() {
        let old = r#"{"consecutive_failures":2,"open_until":null,"trips":1}"#;
        let state: BreakerState = serde_json::from_str(old).unwrap();
        assert_eq!(
            state,
            BreakerState {
                consecutive_failures: 2,
                open_until: None,
                trips: 1,
                probing: false,
            }
        );
        // Not probing is written as before; probing round-trips.
        assert_eq!(serde_json::to_string(&state).unwrap(), old);
        let probing = BreakerState {
            probing: true,
            ..state
        };
        let text = serde_json::to_string(&probing).unwrap();
        assert_eq!(
            serde_json::from_str::<BreakerState>(&text).unwrap(),
            probing
        );
    }
}
