//! Meta's webhook wire format: payload parsing and the `X-Hub-Signature-256` check.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::message::{MetaError, Pricing};
use crate::status::MetaStatus;
use crate::store::FailureInfo;

/// Most characters kept of a free-text field Meta sends (error messages, details): bounds what a payload stores.
const TEXT_LIMIT: usize = 1024;
/// Most characters kept of a short field (pricing values, titles, ids).
const SHORT_LIMIT: usize = 256;

/// How a change is routed to an account: by the business phone number of its `metadata`, or, for changes that
/// carry none (template and account updates), by the WhatsApp Business Account id of its entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteKey {
    /// `value.metadata.phone_number_id`.
    PhoneNumberId(String),
    /// `entry[].id`, for a change without a phone number id.
    Waba(String),
}

/// One status of one sent message, as Meta writes it (every field optional: an item is checked when converted).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct StatusItem {
    /// The wamid.
    pub id: Option<String>,
    /// `sent`, `delivered`, `read`, `failed`, `played`, or a status of another feature (`deleted`, `warning`, …).
    pub status: Option<String>,
    /// Unix seconds, as a string (a number is accepted too).
    pub timestamp: Option<serde_json::Value>,
    /// The recipient's phone number (may be missing for username users).
    pub recipient_id: Option<String>,
    /// The recipient's business-scoped user id (BSUID).
    pub recipient_user_id: Option<String>,
    /// Echo of what we sent in `biz_opaque_callback_data` (our message id).
    pub biz_opaque_callback_data: Option<String>,
    /// With `failed`.
    pub errors: Vec<WebhookError>,
    /// Per-message pricing.
    pub pricing: Option<PricingItem>,
}

/// `pricing` of a status.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct PricingItem {
    /// `PMP`.
    pub pricing_model: Option<String>,
    /// `marketing`, `utility`, …
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Deprecated.
    pub billable: Option<bool>,
}

/// An error attached to a failed status, or to a change.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct WebhookError {
    /// Meta's code.
    pub code: Option<i64>,
    /// Short title (deprecated by Meta).
    pub title: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// Details.
    pub error_data: Option<ErrorData>,
}

/// `error_data` of an error.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct ErrorData {
    /// Human-readable details.
    pub details: Option<String>,
}

/// A message a customer sent.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct InboundMessage {
    /// The customer's phone number (WhatsApp id); missing for a user who hides it behind a username.
    pub from: Option<String>,
    /// The customer's business-scoped user id (BSUID).
    pub from_user_id: Option<String>,
    /// The parent BSUID, for businesses with several portfolios.
    pub from_parent_user_id: Option<String>,
    /// Its wamid.
    pub id: Option<String>,
    /// Unix seconds, as a string.
    pub timestamp: Option<serde_json::Value>,
    /// `text`, `image`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook payload: {0}")]
pub struct PayloadError(pub String);

/// A status ready to apply, with the business number it came for.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStatus {
    /// Business phone number id (routing).
    pub phone_number_id: Option<String>,
    /// How the change it came in is routed.
    pub route: Option<RouteKey>,
    /// wamid.
    pub wamid: String,
    /// Status.
    pub status: MetaStatus,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// For `failed`: the first error.
    pub error: Option<FailureInfo>,
    /// Our message id echoed back, when present.
    pub callback_data: Option<String>,
    /// The recipient's phone number, when Meta gives it.
    pub recipient_id: Option<String>,
    /// The recipient's BSUID, when Meta gives it.
    pub recipient_user_id: Option<String>,
    /// Per-message pricing, when present.
    pub pricing: Option<Pricing>,
}

/// An inbound message: who wrote when (what opens the 24-hour window) and, when it has a wamid, the whole message.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedInbound {
    /// Business phone number id.
    pub phone_number_id: Option<String>,
    /// The business number as the change's `metadata.display_phone_number` shows it, when given.
    pub display_phone_number: Option<String>,
    /// How the change it came in is routed.
    pub route: Option<RouteKey>,
    /// The customer's phone number, when shown.
    pub wa_id: Option<String>,
    /// The customer's BSUID, when given.
    pub user_id: Option<String>,
    /// When they wrote.
    pub at: DateTime<Utc>,
    /// The message, bounded, when it carries a wamid (it is then stored once per account and wamid).
    pub message: Option<crate::inbound::Inbound>,
}

/// A change of a field the engine does not act on (template, account, quality updates, calls, …): verified and
/// answered, then logged.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherChange {
    /// Meta's `field`.
    pub field: String,
    /// How it is routed.
    pub route: Option<RouteKey>,
    /// What it says about a template, for the template fields ([`crate::templates::TEMPLATE_FIELDS`]).
    pub template: Option<crate::templates::TemplateChange>,
}

/// One `user_preferences` item: a customer stopped or resumed marketing messages from the business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPreference {
    /// How the change it came in is routed.
    pub route: Option<RouteKey>,
    /// The customer's phone number, when shown.
    pub wa_id: Option<String>,
    /// The customer's BSUID, when given.
    pub user_id: Option<String>,
    /// Meta's `category` (`marketing_messages`), lower case.
    pub category: Option<String>,
    /// Meta's `value` (`stop`, `resume`), lower case.
    pub value: String,
}

/// Reads the items of a `user_preferences` change leniently: an item without a `value` or without any customer
/// identifier is skipped; strings are clipped.
fn convert_preferences(
    value: &serde_json::Value,
    route: Option<&RouteKey>,
    out: &mut ParsedWebhook,
) {
    let Some(items) = value.get("user_preferences").and_then(|p| p.as_array()) else {
        out.skip(|| "user_preferences change without a user_preferences array".to_owned());
        return;
    };
    for item in items {
        let text = |k: &str| clip_opt(item.get(k).and_then(|v| v.as_str()).map(str::trim), 256);
        let (wa_id, user_id) = (text("wa_id"), text("user_id"));
        let Some(value) = text("value").map(|v| v.to_lowercase()) else {
            out.skip(|| "user_preferences item without a value".to_owned());
            continue;
        };
        if wa_id.is_none() && user_id.is_none() {
            out.skip(|| "user_preferences item without wa_id or user_id".to_owned());
            continue;
        }
        out.preferences.push(ParsedPreference {
            route: route.cloned(),
            wa_id,
            user_id,
            category: text("category").map(|c| c.to_lowercase()),
            value,
        });
    }
}

/// Everything a payload asks us to apply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedWebhook {
    /// Statuses, in payload order.
    pub statuses: Vec<ParsedStatus>,
    /// Inbound messages, in payload order.
    pub inbound: Vec<ParsedInbound>,
    /// The routing key of every change, in payload order (one per change, `None` when it names neither a phone
    /// number id nor a WABA).
    pub routes: Vec<Option<RouteKey>>,
    /// Changes of other fields.
    pub other: Vec<OtherChange>,
    /// Marketing preferences customers set (`user_preferences` changes, which are also listed in `other`).
    pub preferences: Vec<ParsedPreference>,
    /// Errors reported at the value level (`changes[].value.errors`), with their route.
    pub value_errors: Vec<(Option<RouteKey>, MetaError)>,
    /// Statuses of kinds the engine does not track (`deleted`, `warning`, call statuses, unknown names).
    pub untracked: usize,
    /// Items skipped because they are malformed (no id, no timestamp, wrong types), for logging.
    pub skipped: usize,
    /// Why the first few items were skipped ([`MAX_SKIP_REASONS`]). Nothing is logged while parsing: the payload
    /// is not verified yet, and a forged one must not be able to fill the log; the caller logs these once the
    /// signature has been checked.
    pub skip_reasons: Vec<String>,
    /// The first few untracked status names ([`MAX_SKIP_REASONS`]), for a debug log after verification.
    pub untracked_names: Vec<String>,
    /// `object` when it is not `whatsapp_business_account` (the payload is then not looked into).
    pub foreign_object: Option<String>,
}

/// How many reasons for skipped items (and untracked status names) a [`ParsedWebhook`] keeps.
pub const MAX_SKIP_REASONS: usize = 5;

impl ParsedWebhook {
    fn skip(&mut self, reason: impl FnOnce() -> String) {
        self.skipped += 1;
        if self.skip_reasons.len() < MAX_SKIP_REASONS {
            self.skip_reasons.push(reason());
        }
    }

    /// The distinct routing keys of the payload, sorted.
    pub fn route_keys(&self) -> Vec<RouteKey> {
        let set: std::collections::BTreeSet<&RouteKey> = self.routes.iter().flatten().collect();
        set.into_iter().cloned().collect()
    }
}

fn clip(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

fn clip_opt(s: Option<&str>, limit: usize) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| clip(s, limit))
}

fn unix_seconds(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    let t = match v {
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok()?,
        serde_json::Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    DateTime::from_timestamp(t, 0)
}

/// A string Meta may also write as a number (ids).
fn id_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(clip(s.trim(), SHORT_LIMIT)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn meta_error(e: &WebhookError) -> Option<MetaError> {
    Some(MetaError {
        code: e.code?,
        title: clip_opt(e.title.as_deref(), SHORT_LIMIT),
        message: clip_opt(e.message.as_deref(), TEXT_LIMIT),
        details: clip_opt(
            e.error_data.as_ref().and_then(|d| d.details.as_deref()),
            TEXT_LIMIT,
        ),
    })
}

/// `errorMessage` of a failure Meta reported: `(#code) message: details. hint`.
fn failure_info(e: MetaError) -> FailureInfo {
    let mut message = e
        .message
        .clone()
        .or_else(|| e.title.clone())
        .unwrap_or_else(|| "failed".to_owned());
    if let Some(d) = e.details.as_deref() {
        if !message.contains(d) {
            message = format!("{message}: {d}");
        }
    }
    let mut message = format!("(#{}) {message}", e.code);
    if let Some(hint) = crate::transport::explain_code(e.code) {
        crate::transport::append_sentence(&mut message, hint);
    }
    FailureInfo {
        message,
        code: Some(e.code),
        meta: Some(e),
    }
}

fn pricing(p: &PricingItem) -> Option<Pricing> {
    let out = Pricing {
        pricing_model: clip_opt(p.pricing_model.as_deref(), SHORT_LIMIT),
        category: clip_opt(p.category.as_deref(), SHORT_LIMIT),
        kind: clip_opt(p.kind.as_deref(), SHORT_LIMIT),
        billable: p.billable,
    };
    (out != Pricing::default()).then_some(out)
}

/// Converts one item of `statuses[]`: tracked statuses are kept, untracked ones counted, malformed ones skipped.
fn convert_status(
    item: &serde_json::Value,
    pnid: Option<&String>,
    route: Option<&RouteKey>,
    out: &mut ParsedWebhook,
) {
    let st = match StatusItem::deserialize(item) {
        Ok(st) => st,
        Err(e) => {
            out.skip(|| format!("malformed status: {}", clip(&e.to_string(), 200)));
            return;
        }
    };
    let Some(name) = st.status.as_deref() else {
        out.skip(|| "status without a status name".to_owned());
        return;
    };
    let Some(status) = MetaStatus::parse(name) else {
        out.untracked += 1;
        if out.untracked_names.len() < MAX_SKIP_REASONS {
            out.untracked_names.push(clip(name, 64));
        }
        return;
    };
    let (Some(wamid), Some(at)) = (
        st.id.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        st.timestamp.as_ref().and_then(unix_seconds),
    ) else {
        out.skip(|| {
            format!(
                "{} status without an id or a valid timestamp",
                clip(name, 64)
            )
        });
        return;
    };
    let error = st.errors.iter().find_map(meta_error).map(failure_info);
    let error = match (status, error) {
        (MetaStatus::Failed, None) => Some(FailureInfo {
            message: "Meta reported the message as failed without a reason".to_owned(),
            code: None,
            meta: None,
        }),
        (_, e) => e,
    };
    out.statuses.push(ParsedStatus {
        phone_number_id: pnid.cloned(),
        route: route.cloned(),
        wamid: clip(wamid, TEXT_LIMIT),
        status,
        at,
        error,
        callback_data: st.biz_opaque_callback_data,
        recipient_id: clip_opt(st.recipient_id.as_deref(), SHORT_LIMIT),
        recipient_user_id: clip_opt(st.recipient_user_id.as_deref(), SHORT_LIMIT),
        pricing: st.pricing.as_ref().and_then(pricing),
    });
}

fn convert_inbound(
    item: &serde_json::Value,
    pnid: Option<&String>,
    display: Option<&String>,
    route: Option<&RouteKey>,
    contacts: &[serde_json::Value],
    out: &mut ParsedWebhook,
) {
    let m = match InboundMessage::deserialize(item) {
        Ok(m) => m,
        Err(e) => {
            out.skip(|| format!("malformed inbound message: {}", clip(&e.to_string(), 200)));
            return;
        }
    };
    let wa_id = clip_opt(m.from.as_deref(), SHORT_LIMIT);
    let user_id = clip_opt(m.from_user_id.as_deref(), SHORT_LIMIT);
    let at = m.timestamp.as_ref().and_then(unix_seconds);
    let (Some(at), true) = (at, wa_id.is_some() || user_id.is_some()) else {
        out.skip(|| "inbound message without a sender or a valid timestamp".to_owned());
        return;
    };
    let message = crate::inbound::read_message(item, wa_id.clone(), user_id.clone(), at, contacts);
    out.inbound.push(ParsedInbound {
        phone_number_id: pnid.cloned(),
        display_phone_number: display.cloned(),
        route: route.cloned(),
        wa_id,
        user_id,
        at,
        message,
    });
}

/// Parses the raw body of a webhook POST as JSON. `Err` only when it is not a JSON object; what is inside is read
/// leniently by [`extract`].
pub fn parse_json(raw: &[u8]) -> Result<serde_json::Value, PayloadError> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| PayloadError(e.to_string()))?;
    if !v.is_object() {
        return Err(PayloadError("the body must be a JSON object".into()));
    }
    Ok(v)
}

/// An entry's `time`: Unix seconds as a number or a string of digits.
fn entry_time(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    let secs = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) if s.len() <= 20 => s.parse().ok(),
        _ => None,
    }?;
    DateTime::from_timestamp(secs, 0)
}

/// Reads everything a payload reports, item by item: a malformed item is skipped (and counted), never the whole
/// payload. Be liberal in what you accept from Meta.
pub fn extract(v: &serde_json::Value) -> ParsedWebhook {
    let mut out = ParsedWebhook::default();
    let object = v.get("object").and_then(|o| o.as_str()).unwrap_or_default();
    if object != "whatsapp_business_account" {
        out.foreign_object = Some(clip(object, 64));
        return out;
    }
    let empty = Vec::new();
    let entries = v.get("entry").and_then(|e| e.as_array()).unwrap_or(&empty);
    for entry in entries {
        let waba = entry.get("id").and_then(id_of);
        let entry_time = entry.get("time").and_then(entry_time);
        let changes = entry
            .get("changes")
            .and_then(|c| c.as_array())
            .unwrap_or(&empty);
        for change in changes {
            let field = change
                .get("field")
                .and_then(|f| f.as_str())
                .unwrap_or("messages");
            let value = change.get("value");
            let metadata = value.and_then(|v| v.get("metadata"));
            let pnid = metadata
                .and_then(|m| m.get("phone_number_id"))
                .and_then(id_of);
            let route = match (&pnid, &waba) {
                (Some(p), _) => Some(RouteKey::PhoneNumberId(p.clone())),
                (None, Some(w)) => Some(RouteKey::Waba(w.clone())),
                (None, None) => None,
            };
            out.routes.push(route.clone());
            let Some(value) = value.filter(|v| v.is_object()) else {
                out.skip(|| format!("{} change without a value object", clip(field, 64)));
                continue;
            };
            if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
                for e in errors {
                    match WebhookError::deserialize(e)
                        .ok()
                        .as_ref()
                        .and_then(meta_error)
                    {
                        Some(e) => out.value_errors.push((route.clone(), e)),
                        None => out.skip(|| "malformed value-level error".to_owned()),
                    }
                }
            }
            if field == "user_preferences" {
                convert_preferences(value, route.as_ref(), &mut out);
            }
            if field != "messages" {
                out.other.push(OtherChange {
                    field: clip(field, 64),
                    template: crate::templates::template_change(field, value).map(|mut t| {
                        t.at = entry_time;
                        t
                    }),
                    route,
                });
                continue;
            }
            if let Some(statuses) = value.get("statuses").and_then(|s| s.as_array()) {
                for item in statuses {
                    convert_status(item, pnid.as_ref(), route.as_ref(), &mut out);
                }
            }
            if let Some(messages) = value.get("messages").and_then(|s| s.as_array()) {
                let contacts = value
                    .get("contacts")
                    .and_then(|c| c.as_array())
                    .map_or(&[][..], Vec::as_slice);
                let display = metadata
                    .and_then(|m| m.get("display_phone_number"))
                    .and_then(id_of);
                for item in messages {
                    convert_inbound(
                        item,
                        pnid.as_ref(),
                        display.as_ref(),
                        route.as_ref(),
                        contacts,
                        &mut out,
                    );
                }
            }
        }
    }
    out
}

/// Parses the raw body of a webhook POST: [`parse_json`] then [`extract`].
pub fn parse_webhook(raw: &[u8]) -> Result<ParsedWebhook, PayloadError> {
    Ok(extract(&parse_json(raw)?))
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` over the exact raw body, in constant time.
pub fn verify_signature(app_secret: &[u8], raw_body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret) else {
        return false;
    };
    mac.update(raw_body);
    mac.verify_slice(&expected).is_ok()
}

/// The header value Meta would send for `raw_body` (for tests and the sandbox).
pub fn sign(app_secret: &[u8], raw_body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).expect("HMAC takes any key length");
    mac.update(raw_body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"object": "whatsapp_business_account",
 "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": {
   "messaging_product": "whatsapp",
   "metadata": {"display_phone_number": "15550001234", "phone_number_id": "1234567890"},
   "statuses": [{"id": "wamid.A", "status": "delivered", "timestamp": "1711620004",
                 "recipient_id": "14155552671", "biz_opaque_callback_data": "our-message-id"},
                {"id": "wamid.B", "status": "failed", "timestamp": "1711620005", "recipient_id": "14155552672",
                 "errors": [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                             "error_data": {"details": "Recipient is not on WhatsApp"}}]},
                {"id": "wamid.C", "status": "deleted", "timestamp": "1711620006"}],
   "contacts": [{"profile": {"name": "Sarah"}, "wa_id": "14155552671"}],
   "messages": [{"from": "14155552671", "id": "wamid.IN", "timestamp": "1711620100", "type": "text",
                 "text": {"body": "Hi!"}}]}}]}]}"#;

    #[test]
    fn parses_statuses_and_inbound() {
        let p = parse_webhook(PAYLOAD.as_bytes()).unwrap();
        assert_eq!(p.statuses.len(), 2);
        assert_eq!((p.skipped, p.untracked), (0, 1), "deleted is not tracked");
        let a = &p.statuses[0];
        assert_eq!(a.wamid, "wamid.A");
        assert_eq!(a.status, MetaStatus::Delivered);
        assert_eq!(a.at.timestamp(), 1711620004);
        assert_eq!(a.phone_number_id.as_deref(), Some("1234567890"));
        assert_eq!(a.callback_data.as_deref(), Some("our-message-id"));
        let b = &p.statuses[1];
        let err = b.error.as_ref().unwrap();
        assert_eq!(err.code, Some(131026));
        assert_eq!(
            err.message,
            "(#131026) Message undeliverable: Recipient is not on WhatsApp"
        );
        assert_eq!(p.inbound.len(), 1);
        assert_eq!(p.inbound[0].wa_id.as_deref(), Some("14155552671"));
        assert_eq!(p.inbound[0].phone_number_id.as_deref(), Some("1234567890"));
        assert_eq!(
            p.inbound[0].display_phone_number.as_deref(),
            Some("15550001234")
        );
    }

    #[test]
    fn inbound_metadata_may_lack_fields() {
        let inbound = |metadata: &str| {
            let raw = format!(
                r#"{{"object": "whatsapp_business_account", "entry": [{{"id": "WABA_ID", "changes": [{{
                  "field": "messages", "value": {{{metadata}
                  "messages": [{{"from": "14155552671", "id": "wamid.IN", "timestamp": "1711620100",
                                 "type": "text", "text": {{"body": "Hi!"}}}}]}}}}]}}]}}"#
            );
            let p = parse_webhook(raw.as_bytes()).unwrap();
            assert_eq!((p.inbound.len(), p.skipped), (1, 0), "{metadata}");
            let m = p.inbound.into_iter().next().unwrap();
            (m.phone_number_id, m.display_phone_number, m.route)
        };
        assert_eq!(
            inbound(r#""metadata": {"phone_number_id": 1234567890},"#),
            (
                Some("1234567890".into()),
                None,
                Some(RouteKey::PhoneNumberId("1234567890".into()))
            ),
            "no display number, an id written as a number"
        );
        assert_eq!(
            inbound(r#""metadata": {"display_phone_number": "15550001234"},"#),
            (
                None,
                Some("15550001234".into()),
                Some(RouteKey::Waba("WABA_ID".into()))
            ),
            "no phone number id: routed by the WABA"
        );
        assert_eq!(
            inbound(r#""metadata": "odd","#),
            (None, None, Some(RouteKey::Waba("WABA_ID".into())))
        );
        assert_eq!(
            inbound(""),
            (None, None, Some(RouteKey::Waba("WABA_ID".into())))
        );
    }

    #[test]
    fn refuses_only_what_is_not_json() {
        assert!(parse_webhook(b"not json").is_err());
        assert!(parse_webhook(b"[1, 2]").is_err());
        // Another object is read as nothing to apply (the caller decides whether the sender is trusted).
        let page = parse_webhook(br#"{"object": "page", "entry": []}"#).unwrap();
        assert_eq!(page.foreign_object.as_deref(), Some("page"));
        // A change whose value is not an object is skipped, not fatal.
        let p = parse_webhook(
            br#"{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": 3}]}]}"#,
        )
        .unwrap();
        assert_eq!((p.skipped, p.statuses.len()), (1, 0));
        assert_eq!(
            parse_webhook(br#"{"object": "whatsapp_business_account"}"#).unwrap(),
            ParsedWebhook::default()
        );
    }

    #[test]
    fn one_malformed_item_does_not_sink_the_others() {
        let raw = br#"{"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
          "value": {"metadata": {"phone_number_id": "1"}, "statuses": [
            {"id": "wamid.1", "status": "sent", "timestamp": "1711620004"},
            {"id": 42, "status": ["x"], "timestamp": {}},
            {"status": "delivered", "timestamp": "1711620005"},
            {"id": "wamid.3", "status": "read", "timestamp": 1711620006},
            {"id": "wamid.4", "status": "deleted", "timestamp": "1711620007"},
            {"id": "wamid.5", "status": "played", "timestamp": "1711620008"}]}}]}]}"#;
        let p = parse_webhook(raw).unwrap();
        let ids: Vec<_> = p
            .statuses
            .iter()
            .map(|s| (s.wamid.as_str(), s.status))
            .collect();
        assert_eq!(
            ids,
            [
                ("wamid.1", MetaStatus::Sent),
                ("wamid.3", MetaStatus::Read),
                ("wamid.5", MetaStatus::Read)
            ]
        );
        assert_eq!((p.skipped, p.untracked), (2, 1));
    }

    #[test]
    fn username_users_other_fields_and_waba_routes() {
        let raw = br#"{"object": "whatsapp_business_account", "entry": [
          {"id": "102290129340398", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
              "metadata": {"display_phone_number": "15550001234", "phone_number_id": "1234567890"},
              "contacts": [{"profile": {"name": "Sarah"}, "user_id": "US.13491208655302741918", "username": "sarah"}],
              "messages": [{"from_user_id": "US.13491208655302741918", "from_parent_user_id": "US.ENT.1",
                            "id": "wamid.IN", "timestamp": "1711620100", "type": "text", "text": {"body": "Hi"}}],
              "statuses": [{"id": "wamid.S", "status": "failed", "timestamp": "1711620004",
                            "recipient_user_id": "US.13491208655302741918",
                            "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"},
                            "errors": [{"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                                        "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                                        "error_data": {"details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."}}]}],
              "errors": [{"code": 131000, "title": "Something went wrong", "message": "Something went wrong",
                          "error_data": {"details": "Unknown error"}}]}},
            {"field": "message_template_status_update", "value": {"event": "APPROVED",
              "message_template_id": 594425479261596, "message_template_name": "order_ready",
              "message_template_language": "en_US", "reason": "NONE"}}]}]}"#;
        let p = parse_webhook(raw).unwrap();
        assert_eq!(p.inbound.len(), 1);
        assert_eq!(p.inbound[0].wa_id, None);
        assert_eq!(
            p.inbound[0].user_id.as_deref(),
            Some("US.13491208655302741918")
        );
        let s = &p.statuses[0];
        assert_eq!(s.recipient_id, None);
        assert_eq!(
            s.recipient_user_id.as_deref(),
            Some("US.13491208655302741918")
        );
        let pricing = s.pricing.as_ref().unwrap();
        assert_eq!(
            (
                pricing.pricing_model.as_deref(),
                pricing.category.as_deref(),
                pricing.kind.as_deref(),
                pricing.billable
            ),
            (Some("PMP"), Some("marketing"), Some("regular"), Some(true))
        );
        let meta = s.error.as_ref().unwrap().meta.as_ref().unwrap();
        assert_eq!(meta.code, 131049);
        assert!(meta.details.as_deref().unwrap().starts_with("In order to"));
        assert_eq!(p.value_errors.len(), 1);
        assert_eq!(p.value_errors[0].1.code, 131000);
        assert_eq!(p.other.len(), 1);
        assert_eq!(p.other[0].field, "message_template_status_update");
        assert_eq!(
            p.other[0].route,
            Some(RouteKey::Waba("102290129340398".into()))
        );
        assert_eq!(
            p.route_keys(),
            [
                RouteKey::PhoneNumberId("1234567890".into()),
                RouteKey::Waba("102290129340398".into())
            ]
        );
    }

    #[test]
    fn skipped_items_are_counted_but_only_a_few_reasons_kept() {
        let bad: Vec<String> = (0..1000)
            .map(|i| format!(r#"{{"id": "wamid.{i}", "status": {i}}}"#))
            .collect();
        let raw = format!(
            r#"{{"object": "whatsapp_business_account", "entry": [{{"id": "W", "changes": [{{"field": "messages",
              "value": {{"metadata": {{"phone_number_id": "1"}}, "statuses": [{}]}}}}]}}]}}"#,
            bad.join(",")
        );
        let p = parse_webhook(raw.as_bytes()).unwrap();
        assert_eq!(p.skipped, 1000);
        assert_eq!(p.skip_reasons.len(), MAX_SKIP_REASONS);
        assert!(
            p.skip_reasons[0].starts_with("malformed status"),
            "{:?}",
            p.skip_reasons
        );
    }

    #[test]
    fn signatures() {
        let body = PAYLOAD.as_bytes();
        let header = sign(b"app-secret", body);
        assert!(verify_signature(b"app-secret", body, &header));
        assert!(!verify_signature(b"other-secret", body, &header));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(!verify_signature(b"app-secret", &tampered, &header));
        assert!(!verify_signature(
            b"app-secret",
            body,
            header.trim_start_matches("sha256=")
        ));
        assert!(!verify_signature(b"app-secret", body, "sha256=zz"));
        assert!(!verify_signature(b"app-secret", body, ""));
    }
}
