//! Meta's webhook wire format: payload parsing and the `X-Hub-Signature-256` check.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::status::MetaStatus;
use crate::store::FailureInfo;

/// A webhook POST body from Meta.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookPayload {
    /// `whatsapp_business_account`.
    pub object: String,
    /// One entry per WhatsApp Business Account.
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// One WABA's changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entry {
    /// WABA id.
    #[serde(default)]
    pub id: String,
    /// The changes.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Change {
    /// `messages` for statuses and inbound messages.
    #[serde(default)]
    pub field: String,
    /// The content.
    pub value: ChangeValue,
}

/// The content of a `messages` change.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
pub struct ChangeValue {
    /// Which business number this is about; routes the change to an account.
    pub metadata: Option<ChangeMetadata>,
    /// Delivery statuses of messages we sent.
    #[serde(default)]
    pub statuses: Vec<StatusItem>,
    /// Messages customers sent to the business.
    #[serde(default)]
    pub messages: Vec<InboundMessage>,
}

/// The business number of a change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChangeMetadata {
    /// Displayed number.
    #[serde(default)]
    pub display_phone_number: String,
    /// Phone number id.
    pub phone_number_id: String,
}

/// One status of one sent message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatusItem {
    /// The wamid.
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed` (or `played`).
    pub status: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// The recipient.
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// Echo of what we sent in `biz_opaque_callback_data` (our message id).
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
    /// With `failed`.
    #[serde(default)]
    pub errors: Vec<WebhookError>,
}

/// An error attached to a failed status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookError {
    /// Meta's code.
    pub code: i64,
    /// Short title.
    #[serde(default)]
    pub title: Option<String>,
    /// Message.
    #[serde(default)]
    pub message: Option<String>,
    /// Details.
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

/// `error_data` of an error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorData {
    /// Human-readable details.
    #[serde(default)]
    pub details: Option<String>,
}

/// A message a customer sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InboundMessage {
    /// The customer's WhatsApp id.
    pub from: String,
    /// Its wamid.
    #[serde(default)]
    pub id: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// `text`, `image`, …
    #[serde(default, rename = "type")]
    pub kind: String,
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
}

/// An inbound message reduced to what opens the 24-hour window.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedInbound {
    /// Business phone number id.
    pub phone_number_id: Option<String>,
    /// The customer.
    pub wa_id: String,
    /// When they wrote.
    pub at: DateTime<Utc>,
}

/// Everything a payload asks us to apply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedWebhook {
    /// Statuses, in payload order.
    pub statuses: Vec<ParsedStatus>,
    /// Inbound messages, in payload order.
    pub inbound: Vec<ParsedInbound>,
    /// Items skipped (unknown status names, bad timestamps), for logging.
    pub skipped: usize,
}

fn unix_seconds(s: &str) -> Option<DateTime<Utc>> {
    s.trim()
        .parse::<i64>()
        .ok()
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

/// Parses the raw body of a webhook POST.
pub fn parse_webhook(raw: &[u8]) -> Result<ParsedWebhook, PayloadError> {
    let payload: WebhookPayload =
        serde_json::from_slice(raw).map_err(|e| PayloadError(e.to_string()))?;
    if payload.object != "whatsapp_business_account" {
        return Err(PayloadError(format!(
            "object must be whatsapp_business_account, got {:?}",
            payload.object
        )));
    }
    let mut out = ParsedWebhook::default();
    for change in payload.entry.iter().flat_map(|e| e.changes.iter()) {
        let pnid = change
            .value
            .metadata
            .as_ref()
            .map(|m| m.phone_number_id.clone());
        for st in &change.value.statuses {
            let (Some(status), Some(at)) =
                (MetaStatus::parse(&st.status), unix_seconds(&st.timestamp))
            else {
                out.skipped += 1;
                continue;
            };
            let error = st.errors.first().map(|e| {
                let mut message = e
                    .message
                    .clone()
                    .or_else(|| e.title.clone())
                    .unwrap_or_else(|| "failed".to_owned());
                if let Some(d) = e.error_data.as_ref().and_then(|d| d.details.as_deref()) {
                    if !message.contains(d) {
                        message = format!("{message}: {d}");
                    }
                }
                let mut message = format!("(#{}) {message}", e.code);
                if let Some(hint) = crate::transport::explain_code(e.code) {
                    message.push_str(". ");
                    message.push_str(hint);
                }
                FailureInfo {
                    message,
                    code: Some(e.code),
                }
            });
            let error = match (status, error) {
                (MetaStatus::Failed, None) => Some(FailureInfo {
                    message: "Meta reported the message as failed without a reason".to_owned(),
                    code: None,
                }),
                (_, e) => e,
            };
            out.statuses.push(ParsedStatus {
                phone_number_id: pnid.clone(),
                wamid: st.id.clone(),
                status,
                at,
                error,
                callback_data: st.biz_opaque_callback_data.clone(),
            });
        }
        for m in &change.value.messages {
            let Some(at) = unix_seconds(&m.timestamp) else {
                out.skipped += 1;
                continue;
            };
            out.inbound.push(ParsedInbound {
                phone_number_id: pnid.clone(),
                wa_id: m.from.clone(),
                at,
            });
        }
    }
    Ok(out)
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
        assert_eq!(p.skipped, 1);
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
        assert_eq!(p.inbound[0].wa_id, "14155552671");
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_webhook(b"not json").is_err());
        assert!(parse_webhook(br#"{"object": "page", "entry": []}"#).is_err());
        assert!(parse_webhook(br#"{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": 3}]}]}"#).is_err());
        assert_eq!(
            parse_webhook(br#"{"object": "whatsapp_business_account"}"#).unwrap(),
            ParsedWebhook::default()
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
