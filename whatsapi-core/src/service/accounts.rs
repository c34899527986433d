//! Accounts: creation, Meta credentials, the customer webhook and strict-window mode.

use base64::Engine as _;
use serde::Serialize;

use crate::account::{
    Account, AccountId, AccountUpdate, CredentialsStatus, MetaCredentials, NewAccount,
    WebhookConfig,
};
use crate::send::ValidationErrors;
use crate::store::StoreError;
use crate::transport::PhoneNumberInfo;
use crate::webhook::{WebhookUrlPolicy, check_url};

use super::{Error, WhatsApi};

/// The result of checking saved Meta credentials against Meta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsCheck {
    /// Meta accepted them.
    pub valid: bool,
    /// What Meta says about the phone number, when valid.
    pub info: Option<PhoneNumberInfo>,
    /// Meta's explanation, when not.
    pub error: Option<String>,
    /// Meta's error code, when not.
    pub code: Option<i64>,
}

const ACCOUNT_NOT_FOUND: &str = "account not found";
const MAX_NAME_CHARS: usize = 200;
const MAX_URL_LEN: usize = 2048;
/// The field a default validity period is reported under.
pub const DEFAULT_VALIDITY: &str = "default_validity";

/// The name of an account, trimmed, or why it is not one (empty, or more than 200 characters).
pub fn check_account_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        Err("required: your name or company name".into())
    } else if chars > MAX_NAME_CHARS {
        Err(format!(
            "must be at most {MAX_NAME_CHARS} characters, got {chars}"
        ))
    } else {
        Ok(name)
    }
}

/// A customer webhook URL: bounded, no whitespace, and allowed by the policy (scheme, host, address).
pub(super) fn check_webhook_url(url: &str, policy: &WebhookUrlPolicy) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    check_url(url, policy)
}

/// `whsec_` + base64 of 32 bytes from the operating system's CSPRNG (Standard Webhooks).
pub(super) fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl WhatsApi {
    /// Creates an account (a tenant of the engine) called `name`: trimmed, 1–200 characters. It can save Meta
    /// credentials and send at once; nothing else (no key, no plan) is needed.
    pub async fn create_account(&self, name: &str) -> Result<Account, Error> {
        let name = check_account_name(name).map_err(|m| Error::field("name", m))?;
        let new = NewAccount {
            id: AccountId::new(),
            name: name.to_owned(),
            created_at: self.clock().now(),
        };
        let account = self.store().create_account(new).await?;
        tracing::info!(account_id = %account.id, "account created");
        Ok(account)
    }

    /// The account as stored now.
    pub async fn me(&self, account: AccountId) -> Result<Account, Error> {
        self.store()
            .account(account)
            .await?
            .ok_or_else(|| Error::NotFound(ACCOUNT_NOT_FOUND.into()))
    }

    /// Saves the account's Meta credentials (status becomes unverified).
    pub async fn set_credentials(
        &self,
        account: AccountId,
        creds: MetaCredentials,
    ) -> Result<Account, Error> {
        let mut errs = ValidationErrors::default();
        let token = creds.access_token.trim();
        if token.is_empty() {
            errs.push(
                "whatsappAccessToken",
                "required: the access token from Meta Business Manager",
            );
        } else if token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            // It travels in an `Authorization` header: visible ASCII only (Meta's tokens are letters and digits).
            errs.push(
                "whatsappAccessToken",
                "must be a single token of at most 4096 visible ASCII characters, without spaces",
            );
        }
        let id = creds.phone_number_id.trim();
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
            errs.push(
                "whatsappPhoneNumberId",
                "required: the numeric Phone Number ID from Meta (not the phone number itself)",
            );
        }
        let waba_id = creds
            .waba_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if waba_id.is_some_and(|w| w.len() > 32 || !w.bytes().all(|b| b.is_ascii_digit())) {
            errs.push(
                "whatsappBusinessAccountId",
                "must be the numeric WhatsApp Business Account ID from Meta Business Manager",
            );
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        let creds = MetaCredentials {
            access_token: token.to_owned(),
            phone_number_id: id.to_owned(),
            app_secret: creds.app_secret.filter(|s| !s.trim().is_empty()),
            verify_token: creds.verify_token.filter(|s| !s.trim().is_empty()),
            waba_id: waba_id.map(str::to_owned),
            // Derived from the token by the store (or the encrypting store, before it seals the token).
            verify_token_hash: None,
            throughput_per_second: None,
        };
        self.update(account, AccountUpdate::SetCredentials(creds))
            .await
    }

    /// Removes the account's Meta credentials.
    pub async fn remove_credentials(&self, account: AccountId) -> Result<Account, Error> {
        self.update(account, AccountUpdate::ClearCredentials).await
    }

    /// Asks Meta about the saved credentials and records the answer (`verified`, or `invalid` when Meta refuses
    /// them; a network failure or Meta outage changes nothing). No saved credentials is [`Error::NoCredentials`].
    pub async fn verify_credentials(&self, account: AccountId) -> Result<CredentialsCheck, Error> {
        let acc = self.me(account).await?;
        let Some(creds) = acc.credentials else {
            return Err(Error::NoCredentials);
        };
        let now = self.clock().now();
        match self.core().transport.verify(&creds).await {
            Ok(info) => {
                let status = CredentialsStatus::Verified {
                    verified_name: info.verified_name.clone(),
                    display_phone_number: info.display_phone_number.clone(),
                    quality_rating: info.quality_rating.clone(),
                    at: now,
                };
                self.update(account, AccountUpdate::SetCredentialsStatus(status))
                    .await?;
                // The number's throughput tier paces it from now on.
                self.record_default_tier(account, &info).await?;
                Ok(CredentialsCheck {
                    valid: true,
                    info: Some(info),
                    error: None,
                    code: None,
                })
            }
            Err(e) => {
                let message = e.user_message();
                if e.class() != crate::retry::ErrorClass::Transient {
                    let status = CredentialsStatus::Invalid {
                        reason: message.clone(),
                        at: now,
                    };
                    self.update(account, AccountUpdate::SetCredentialsStatus(status))
                        .await?;
                }
                Ok(CredentialsCheck {
                    valid: false,
                    info: None,
                    error: Some(message),
                    code: e.code,
                })
            }
        }
    }

    /// Saves the customer webhook URL with a new signing secret (returned here, once; every call makes a new
    /// one). The URL must be an absolute http(s) URL.
    pub async fn set_webhook(&self, account: AccountId, url: &str) -> Result<WebhookConfig, Error> {
        let url = url.trim();
        check_webhook_url(url, &self.config().webhook_urls).map_err(|m| Error::field("url", m))?;
        let config = WebhookConfig {
            url: url.to_owned(),
            secret: new_webhook_secret(),
        };
        self.update(account, AccountUpdate::SetWebhook(config.clone()))
            .await?;
        Ok(config)
    }

    /// Turns strict 24-hour-window mode on or off: when on, free-form text to a recipient who has not written in
    /// the last 24 hours is refused at once instead of failing at Meta with 131047.
    pub async fn set_strict_window(
        &self,
        account: AccountId,
        strict: bool,
    ) -> Result<Account, Error> {
        self.update(account, AccountUpdate::SetStrictWindow(strict))
            .await
    }

    /// Sets (`Some`) or clears (`None`) the validity period of the account's sends that set none of their own
    /// ([`SendRequest::validity`](crate::SendRequest::validity)): whole seconds within the same bounds. It applies
    /// to sends accepted from then on.
    pub async fn set_default_validity(
        &self,
        account: AccountId,
        validity: Option<std::time::Duration>,
    ) -> Result<Account, Error> {
        if let Some(v) = validity {
            crate::send::check_validity(v).map_err(|m| Error::field(DEFAULT_VALIDITY, m))?;
        }
        self.update(account, AccountUpdate::SetDefaultValidity(validity))
            .await
    }

    /// Removes the customer webhook; pending events are dropped.
    pub async fn remove_webhook(&self, account: AccountId) -> Result<(), Error> {
        self.update(account, AccountUpdate::ClearWebhook).await?;
        Ok(())
    }

    async fn update(&self, account: AccountId, update: AccountUpdate) -> Result<Account, Error> {
        match self.store().update_account(account, update).await {
            Ok(a) => Ok(a),
            Err(StoreError::NotFound) => Err(Error::NotFound(ACCOUNT_NOT_FOUND.into())),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        let dev = WebhookUrlPolicy::development();
        let strict = WebhookUrlPolicy::default();
        assert!(check_webhook_url("https://yourapp.com/hook", &strict).is_ok());
        for refused in [
            "http://yourapp.com/hook",
            "https://localhost/x",
            "https://10.0.0.1/x",
            "https://[::1]/x",
        ] {
            assert!(check_webhook_url(refused, &strict).is_err(), "{refused}");
        }
        for good in [
            "https://yourapp.com/webhooks/whatsapi",
            "http://localhost:8080/hook",
            "https://[::1]:9/x",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert_eq!(check_webhook_url(good, &dev), Ok(()), "{good}");
        }
        for bad in [
            "ftp://x.com",
            "yourapp.com/hook",
            "https://",
            "https:///path",
            "https://user:pw@x.com/",
            "https://x.com/a b",
            "https://:80/",
        ] {
            assert!(check_webhook_url(bad, &dev).is_err(), "{bad}");
        }
        let long = format!("https://x.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_webhook_url(&long, &dev).is_err());
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let a = new_webhook_secret();
        let b = new_webhook_secret();
        assert_ne!(a, b);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(raw.len(), 32);
    }
}
