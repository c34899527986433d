//! Meta's webhooks: signature check, routing by business phone number (or WABA), and applying what they report.
//!
//! The order is chosen so that a sender without the secret costs as little as possible: no signature at all is
//! refused before the body is read; the JSON is parsed once; the distinct routing keys are bounded
//! ([`MAX_ROUTE_KEYS`]) before any lookup; each key is looked up once and each distinct secret checked once; only
//! then is anything applied.

use std::collections::HashMap;

use crate::account::{Account, AccountId};
use crate::contacts::{ContactRef, META_MARKETING_LIMIT, META_MARKETING_OPT_OUT};
use crate::inbound::{InboundInsert, ReceivingNumber};
use crate::meta::{RouteKey, extract, parse_json, verify_signature};
use crate::store::{StatusApplied, StatusUpdate};

use super::contacts::MarketingPreference;
use super::{Error, WhatsApi};

/// Most distinct routing keys (phone number ids, plus WABA ids of changes without one) in one webhook POST. Meta
/// batches the changes of one app; a payload naming more numbers than this is not one of Meta's.
pub const MAX_ROUTE_KEYS: usize = 100;

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
    /// Inbound customer messages recorded (24-hour window); each with a wamid is stored once.
    pub inbound: usize,
    /// Inbound messages already stored (Meta delivered them again).
    pub duplicates: usize,
    /// Items for business numbers (or WABAs) no account uses.
    pub unrouted: usize,
    /// Changes of fields the engine does not act on (template, account and quality updates, calls, …): verified,
    /// logged, and otherwise ignored.
    pub other: usize,
    /// Statuses of kinds the engine does not track (`deleted`, `warning`, call statuses, unknown names).
    pub untracked: usize,
    /// Malformed items skipped.
    pub skipped: usize,
}

const BAD_SIGNATURE: &str = "Invalid or missing X-Hub-Signature-256: sign the raw body with the app secret (sha256=<hex HMAC-SHA256>)";

fn key_label(key: &RouteKey) -> (&'static str, &str) {
    match key {
        RouteKey::PhoneNumberId(id) => ("phone_number_id", id),
        RouteKey::Waba(id) => ("waba_id", id),
    }
}

impl WhatsApi {
    /// Applies a Meta webhook POST. The signature is checked over the raw bytes before anything is applied: with
    /// the server-wide app secret, or with the app secret of every account the payload routes to (by each
    /// change's `metadata.phone_number_id`, or the entry's WABA id for changes without one). Statuses are applied
    /// in one transaction through the monotonic state machine; inbound messages open the 24-hour window; every
    /// other well-formed item is answered and ignored. `Unauthorized` for a missing or bad signature (and for a
    /// body that is not JSON unless the server secret signed it, so nothing leaks to a sender without a secret);
    /// `Refused` for a signed body that is not JSON, or one naming more than [`MAX_ROUTE_KEYS`] numbers.
    pub async fn ingest_meta_webhook(
        &self,
        raw: &[u8],
        auth: MetaWebhookAuth<'_>,
    ) -> Result<IngestReport, Error> {
        if auth.signature.is_none() && !auth.allow_unsigned {
            return Err(Error::Unauthorized(BAD_SIGNATURE.into()));
        }
        let verified_by_server = match (auth.signature, auth.server_app_secret) {
            (Some(sig), Some(secret)) => verify_signature(secret.as_bytes(), raw, sig),
            _ => false,
        };
        // Development mode without any signature: trusted like the server secret.
        let unsigned_dev = auth.signature.is_none() && auth.allow_unsigned;
        let trusted = verified_by_server || unsigned_dev;

        let value = match parse_json(raw) {
            Ok(v) => v,
            // Tell a parse error only to a sender that proved it holds a secret.
            Err(e) if trusted => return Err(Error::Refused(e.to_string())),
            Err(_) => return Err(Error::Unauthorized(BAD_SIGNATURE.into())),
        };
        let parsed = extract(&value);
        drop(value);

        if let Some(object) = &parsed.foreign_object {
            if !trusted {
                // No routing key: no account secret could vouch for it.
                return Err(Error::Unauthorized(BAD_SIGNATURE.into()));
            }
            tracing::info!(object = %object, "meta webhook: object other than whatsapp_business_account ignored");
            return Ok(IngestReport::default());
        }

        let keys = parsed.route_keys();
        if keys.len() > MAX_ROUTE_KEYS {
            return Err(Error::Refused(format!(
                "The payload names {} distinct business phone numbers or WhatsApp Business Accounts; at most {MAX_ROUTE_KEYS} are accepted in one POST.",
                keys.len()
            )));
        }

        let mut accounts: HashMap<RouteKey, Account> = HashMap::with_capacity(keys.len());
        for key in keys {
            let account = match &key {
                RouteKey::PhoneNumberId(id) => self.store().account_by_phone_number_id(id).await?,
                RouteKey::Waba(id) => self.store().account_by_waba_id(id).await?,
            };
            if let Some(account) = account {
                accounts.insert(key, account);
            }
        }

        if !verified_by_server {
            if accounts.is_empty() && !auth.allow_unsigned {
                // Nothing routes to an account, so no secret could vouch for the payload.
                return Err(Error::Unauthorized(BAD_SIGNATURE.into()));
            }
            // Every routed account must be covered by its own secret; each distinct secret is checked once.
            let mut checked: HashMap<&str, bool> = HashMap::new();
            for account in accounts.values() {
                let secret = account
                    .credentials
                    .as_ref()
                    .and_then(|c| c.app_secret.as_deref());
                let ok = match (secret, auth.signature) {
                    (Some(secret), Some(sig)) => *checked
                        .entry(secret)
                        .or_insert_with(|| verify_signature(secret.as_bytes(), raw, sig)),
                    // No secret anywhere: only in explicit development mode.
                    (None, _) => auth.allow_unsigned && auth.server_app_secret.is_none(),
                    (Some(_), None) => false,
                };
                if !ok {
                    return Err(Error::Unauthorized(BAD_SIGNATURE.into()));
                }
            }
        }

        let routed = |key: &Option<RouteKey>| -> Option<AccountId> {
            key.as_ref().and_then(|k| accounts.get(k)).map(|a| a.id)
        };
        let mut report = IngestReport {
            untracked: parsed.untracked,
            skipped: parsed.skipped,
            ..IngestReport::default()
        };
        let mut updates = Vec::with_capacity(parsed.statuses.len());
        for s in &parsed.statuses {
            match routed(&s.route) {
                Some(account_id) => updates.push(StatusUpdate {
                    account_id: Some(account_id),
                    wamid: s.wamid.clone(),
                    status: s.status,
                    at: s.at,
                    error: s.error.clone(),
                    pricing: s.pricing.clone(),
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
        self.note_failed_statuses(&parsed.statuses, &routed).await?;
        for m in &parsed.inbound {
            let Some(account_id) = routed(&m.route) else {
                report.unrouted += 1;
                continue;
            };
            // The window is kept by phone number for users who show it, and by BSUID (a key that never looks
            // like a phone number) for users behind a username, so both can be checked later.
            if let Some(wa_id) = &m.wa_id {
                self.record_inbound(account_id, wa_id, m.at).await?;
            }
            if let Some(user_id) = &m.user_id {
                self.record_inbound(account_id, user_id, m.at).await?;
            }
            report.inbound += 1;
            match &m.message {
                Some(message) => {
                    // The number it was sent to: the change's phone number id (the one it was routed by).
                    let to = m
                        .phone_number_id
                        .clone()
                        .map(|phone_number_id| ReceivingNumber {
                            phone_number_id,
                            display_phone_number: m.display_phone_number.clone(),
                        });
                    if let InboundInsert::Duplicate(_) =
                        self.store_inbound(account_id, to, message.clone()).await?
                    {
                        report.duplicates += 1;
                    }
                }
                // Without a wamid nothing is stored, but the customer did write.
                None => {
                    let who = contact_ref(m.wa_id.as_deref(), m.user_id.as_deref());
                    self.contact_wrote(account_id, who, None, m.at).await?;
                }
            }
        }
        for p in &parsed.preferences {
            let Some(account_id) = routed(&p.route) else {
                continue;
            };
            let preference = match p.value.as_str() {
                "stop" => MarketingPreference::Stop,
                "resume" => MarketingPreference::Resume,
                other => {
                    tracing::debug!(value = other, "meta webhook: user preference not acted on");
                    continue;
                }
            };
            // Only marketing preferences exist today; one without a category is read as one.
            if p.category
                .as_deref()
                .is_some_and(|c| c != "marketing_messages")
            {
                continue;
            }
            let who = contact_ref(p.wa_id.as_deref(), p.user_id.as_deref());
            if who.key().is_some() {
                self.note_marketing_preference(account_id, &who, preference)
                    .await?;
            }
        }
        for change in &parsed.other {
            match change.route.as_ref().filter(|k| accounts.contains_key(*k)) {
                Some(key) => {
                    if let (Some(change), Some(account)) = (&change.template, accounts.get(key)) {
                        self.template_changed(account.id, change);
                        self.announce_template_change(account.id, change).await?;
                    }
                    let (kind, id) = key_label(key);
                    tracing::debug!(field = %change.field, kind, id, "meta webhook: change of a field not acted on, ignored");
                    report.other += 1;
                }
                None => report.unrouted += 1,
            }
        }
        for (key, e) in &parsed.value_errors {
            let (kind, id) = key.as_ref().map_or(("none", ""), key_label);
            tracing::info!(
                kind,
                id,
                code = e.code,
                title = e.title.as_deref().unwrap_or_default(),
                details = e.details.as_deref().unwrap_or_default(),
                "meta webhook: error reported for a change"
            );
        }
        if report.untracked > 0 {
            tracing::debug!(
                untracked = report.untracked,
                statuses = ?parsed.untracked_names,
                "meta webhook: statuses not tracked ignored"
            );
        }
        if report.skipped > 0 {
            // Logged only now that the payload is verified, once per POST whatever it holds.
            tracing::warn!(
                skipped = report.skipped,
                first = ?parsed.skip_reasons,
                "meta webhook: malformed items skipped; the rest was applied"
            );
        }
        Ok(report)
    }
}

/// A customer as Meta names them, when the identifiers parse.
fn contact_ref(wa_id: Option<&str>, user_id: Option<&str>) -> ContactRef {
    ContactRef {
        phone: wa_id.and_then(|p| crate::phone::PhoneNumber::parse(p).ok()),
        user_id: user_id.and_then(|u| crate::recipient::UserId::parse(u).ok()),
    }
}

impl WhatsApi {
    /// Failed statuses with Meta's marketing codes (131050, 131049) change the recipient's contact: the
    /// recipient is the stored message's (scoped to the routed account), else the one the status names.
    async fn note_failed_statuses(
        &self,
        statuses: &[crate::meta::ParsedStatus],
        routed: &impl Fn(&Option<RouteKey>) -> Option<AccountId>,
    ) -> Result<(), Error> {
        for s in statuses {
            let Some(code) = s.error.as_ref().and_then(|e| e.code) else {
                continue;
            };
            if code != META_MARKETING_OPT_OUT && code != META_MARKETING_LIMIT {
                continue;
            }
            let Some(account_id) = routed(&s.route) else {
                continue;
            };
            let stored = self
                .store()
                .message_by_wamid(&s.wamid)
                .await?
                .filter(|m| m.account_id == account_id);
            let who = match stored {
                Some(m) => ContactRef::of_recipient(&m.to),
                None => contact_ref(s.recipient_id.as_deref(), s.recipient_user_id.as_deref()),
            };
            if who.key().is_some() {
                self.note_failed_contact(account_id, &who, code).await?;
            }
        }
        Ok(())
    }

    /// Whether `token` is a verify token Meta may present on `GET /webhooks/whatsapp`: the server's own
    /// (`server_token`, compared in constant time) or the `verify_token` of an active account's credentials
    /// (found by its SHA-256 in an index, so neither a list of accounts nor a plaintext comparison is involved).
    pub async fn meta_verify_token_matches(
        &self,
        token: &str,
        server_token: Option<&str>,
    ) -> Result<bool, Error> {
        use subtle::ConstantTimeEq as _;
        if token.is_empty() {
            return Ok(false);
        }
        if server_token
            .filter(|t| !t.is_empty())
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())))
        {
            return Ok(true);
        }
        let hash = crate::store::support::verify_token_digest(token);
        Ok(self
            .store()
            .account_by_verify_token_hash(&hash)
            .await?
            .is_some_and(|a| a.active))
    }
}
