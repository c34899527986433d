//! Meta's webhooks: signature check, routing by business phone number, and applying what they report.

use std::collections::HashMap;

use crate::account::Account;
use crate::meta::{parse_webhook, verify_signature};
use crate::store::{StatusApplied, StatusUpdate};

use super::{Error, WhatsApi};

/// How a Meta webhook POST is authenticated.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetaWebhookAuth<'a> {
    /// The `X-Hub-Signature-256` header, if present.
    pub signature: Option<&'a str>,
    /// The server-wide app secret, used for numbers whose account saved none.
    pub server_app_secret: Option<&'a str>,
    /// Accept unsigned payloads when no secret is known at all (development only).
    pub allow_unsigned: bool,
}

/// What one webhook POST changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Statuses that moved a message.
    pub applied: usize,
    /// Duplicates and late statuses.
    pub ignored: usize,
    /// Statuses for wamids not stored yet (kept and applied when the send is recorded).
    pub pending: usize,
    /// Inbound customer messages recorded (24-hour window).
    pub inbound: usize,
    /// Items for business numbers no account uses.
    pub unrouted: usize,
}

const BAD_SIGNATURE: &str = "Invalid or missing X-Hub-Signature-256: sign the raw body with the app secret (sha256=<hex HMAC-SHA256>)";

impl WhatsApi {
    /// Applies a Meta webhook POST. The signature is checked over the raw bytes before anything is applied: with
    /// the app secret of the account that owns each business number in the payload, or the server-wide one.
    /// Statuses are applied in one transaction through the monotonic state machine; inbound messages open the
    /// 24-hour window. `Unauthorized` for a bad signature, `BadRequest` for a payload that is not Meta's.
    pub async fn ingest_meta_webhook(
        &self,
        raw: &[u8],
        auth: MetaWebhookAuth<'_>,
    ) -> Result<IngestReport, Error> {
        let verified_by_server = match (auth.signature, auth.server_app_secret) {
            (Some(sig), Some(secret)) => verify_signature(secret.as_bytes(), raw, sig),
            _ => false,
        };
        if auth.signature.is_none() && !auth.allow_unsigned {
            return Err(Error::Unauthorized(BAD_SIGNATURE.into()));
        }
        let parsed = match parse_webhook(raw) {
            Ok(p) => p,
            // Tell a parse error only to a sender that proved it holds a secret.
            Err(e) if verified_by_server || (auth.signature.is_none() && auth.allow_unsigned) => {
                return Err(Error::BadRequest(e.to_string()));
            }
            Err(_) => return Err(Error::Unauthorized(BAD_SIGNATURE.into())),
        };

        let mut accounts: HashMap<String, Option<Account>> = HashMap::new();
        let ids = parsed
            .statuses
            .iter()
            .filter_map(|s| s.phone_number_id.clone())
            .chain(
                parsed
                    .inbound
                    .iter()
                    .filter_map(|m| m.phone_number_id.clone()),
            );
        for id in ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = accounts.entry(id) {
                let account = self.store().account_by_phone_number_id(slot.key()).await?;
                slot.insert(account);
            }
        }

        if !verified_by_server {
            for account in accounts.values().flatten() {
                let secret = account
                    .credentials
                    .as_ref()
                    .and_then(|c| c.app_secret.as_deref());
                let ok = match (secret, auth.signature) {
                    (Some(secret), Some(sig)) => verify_signature(secret.as_bytes(), raw, sig),
                    // No secret anywhere: only in explicit development mode.
                    (None, _) => auth.allow_unsigned && auth.server_app_secret.is_none(),
                    (Some(_), None) => false,
                };
                if !ok {
                    return Err(Error::Unauthorized(BAD_SIGNATURE.into()));
                }
            }
            if accounts.values().all(Option::is_none)
                && auth.signature.is_some()
                && !auth.allow_unsigned
            {
                // Nothing routes to an account, so no secret could vouch for the payload.
                return Err(Error::Unauthorized(BAD_SIGNATURE.into()));
            }
        }

        let routed = |pnid: &Option<String>| {
            pnid.as_ref()
                .and_then(|id| accounts.get(id))
                .and_then(|a| a.as_ref())
                .map(|a| a.id)
        };
        let mut report = IngestReport::default();
        let mut updates = Vec::with_capacity(parsed.statuses.len());
        for s in &parsed.statuses {
            match routed(&s.phone_number_id) {
                Some(account_id) => updates.push(StatusUpdate {
                    account_id: Some(account_id),
                    wamid: s.wamid.clone(),
                    status: s.status,
                    at: s.at,
                    error: s.error.clone(),
                }),
                None => report.unrouted += 1,
            }
        }
        if !updates.is_empty() {
            for applied in self.apply_status_updates(&updates).await? {
                match applied {
                    StatusApplied::Applied(..) => report.applied += 1,
                    StatusApplied::Ignored(_) => report.ignored += 1,
                    StatusApplied::Pending => report.pending += 1,
                }
            }
        }
        for m in &parsed.inbound {
            match routed(&m.phone_number_id) {
                Some(account_id) => {
                    self.record_inbound(account_id, &m.wa_id, m.at).await?;
                    report.inbound += 1;
                }
                None => report.unrouted += 1,
            }
        }
        if parsed.skipped > 0 {
            tracing::info!(
                skipped = parsed.skipped,
                "meta webhook: items of unknown kind skipped"
            );
        }
        Ok(report)
    }
}
