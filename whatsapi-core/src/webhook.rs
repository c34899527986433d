//! Customer webhooks: the events we send (their types and data), the `WebhookSink` trait and what a delivery
//! attempt recorded.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::message::{Message, MessageId, Status, uuid_id};

uuid_id!(
    /// Identifies one customer-webhook event; stable across retries (`webhook-id`).
    EventId
);

/// Name of the event announcing a message's new status.
pub const STATUS_UPDATED: &str = "message.status_updated";
/// Name of the event announcing a new inbound message.
pub const MESSAGE_RECEIVED: &str = "message.received";
/// Name of the event announcing a template's new review status.
pub const TEMPLATE_STATUS_UPDATED: &str = "template.status_updated";
/// Name of the event announcing a template's new quality rating.
pub const TEMPLATE_QUALITY_UPDATED: &str = "template.quality_updated";
/// Name of the event announcing a template's new category.
pub const TEMPLATE_CATEGORY_UPDATED: &str = "template.category_updated";

/// The kind of a customer-webhook event (its `event` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventType {
    /// `message.status_updated`: an outbound message reached `sent`, `delivered`, `read` or `failed`.
    StatusUpdated,
    /// `message.received`: a customer wrote (a new inbound message; Meta's duplicates are not announced).
    MessageReceived,
    /// `template.status_updated`: Meta approved, rejected, paused or disabled a template.
    TemplateStatusUpdated,
    /// `template.quality_updated`: a template's quality rating changed.
    TemplateQualityUpdated,
    /// `template.category_updated`: Meta changed (or will change) a template's category.
    TemplateCategoryUpdated,
}

impl EventType {
    /// Every event type, in the order the documentation lists them.
    pub const ALL: [EventType; 5] = [
        EventType::StatusUpdated,
        EventType::MessageReceived,
        EventType::TemplateStatusUpdated,
        EventType::TemplateQualityUpdated,
        EventType::TemplateCategoryUpdated,
    ];

    /// The name as sent in `event` and listed in endpoint filters.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StatusUpdated => STATUS_UPDATED,
            EventType::MessageReceived => MESSAGE_RECEIVED,
            EventType::TemplateStatusUpdated => TEMPLATE_STATUS_UPDATED,
            EventType::TemplateQualityUpdated => TEMPLATE_QUALITY_UPDATED,
            EventType::TemplateCategoryUpdated => TEMPLATE_CATEGORY_UPDATED,
        }
    }

    /// The type with this name, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `data` of an event: a status event's typed shape (its bytes are the reference's), or the JSON object of
/// any other type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventData {
    /// A `message.status_updated` event's data.
    Status(StatusEventData),
    /// The data of every other event type (an object built by whatsapi, bounded).
    Json(serde_json::Value),
}

impl EventData {
    /// The status event's data, for `message.status_updated`.
    pub fn status(&self) -> Option<&StatusEventData> {
        match self {
            EventData::Status(s) => Some(s),
            EventData::Json(_) => None,
        }
    }

    /// The outbound message the event is about (status events only).
    pub fn message_id(&self) -> Option<MessageId> {
        self.status().map(|s| s.message_id)
    }

    /// Reads stored data back as the type it was written for. For store authors.
    pub fn decode(kind: EventType, text: &str) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            EventType::StatusUpdated => EventData::Status(serde_json::from_str(text)?),
            _ => EventData::Json(serde_json::from_str(text)?),
        })
    }

    /// The text stored (and later sent). For store authors.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// The `data` of a `message.status_updated` event, in the reference's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEventData {
    /// Message id.
    pub message_id: MessageId,
    /// New status.
    pub status: Status,
    /// The recipient's phone number; `null` for a user known only by BSUID.
    pub to: Option<String>,
    /// The recipient's business-scoped user id (BSUID), when known; `null` otherwise.
    #[serde(default)]
    pub recipient_user_id: Option<String>,
    /// RFC 3339 or null.
    #[serde(with = "rfc3339_opt")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// RFC 3339 or null.
    #[serde(with = "rfc3339_opt")]
    pub read_at: Option<DateTime<Utc>>,
    /// RFC 3339 or null.
    #[serde(with = "rfc3339_opt")]
    pub failed_at: Option<DateTime<Utc>>,
    /// Why it failed, or null.
    pub error_message: Option<String>,
    /// The caller's metadata, or null.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl StatusEventData {
    /// The event data for a message as it is now.
    pub fn of(message: &Message) -> Self {
        Self {
            message_id: message.id,
            status: message.status,
            to: message.to.to().map(str::to_owned),
            recipient_user_id: message.to.user_id().map(|u| u.as_str().to_owned()),
            delivered_at: message.delivered_at,
            read_at: message.read_at,
            failed_at: message.failed_at,
            error_message: message.error_message.clone(),
            metadata: message.metadata.clone(),
        }
    }
}

/// One event as POSTed to the customer: `{"event": type, "timestamp": ..., "data": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Stable id (the `webhook-id` header), not part of the body.
    #[serde(skip)]
    pub id: Option<EventId>,
    /// The event type's name ([`EventType::as_str`]).
    pub event: String,
    /// When it happened (a status change, the message's arrival, Meta's report of a template change).
    #[serde(with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// What happened.
    pub data: EventData,
}

impl WebhookEvent {
    /// An event of any type.
    pub fn new(id: EventId, kind: EventType, timestamp: DateTime<Utc>, data: EventData) -> Self {
        Self {
            id: Some(id),
            event: kind.as_str().to_owned(),
            timestamp,
            data,
        }
    }

    /// A `message.status_updated` event.
    pub fn status_updated(id: EventId, timestamp: DateTime<Utc>, data: StatusEventData) -> Self {
        Self::new(
            id,
            EventType::StatusUpdated,
            timestamp,
            EventData::Status(data),
        )
    }

    /// The status event's data, for `message.status_updated`.
    pub fn status_data(&self) -> Option<&StatusEventData> {
        self.data.status()
    }
}

/// Which customer webhook URLs are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookUrlPolicy {
    /// Refuse plain `http://` URLs.
    pub require_https: bool,
    /// Allow loopback, private, link-local and other non-public targets (development and tests only).
    pub allow_private_targets: bool,
}

impl Default for WebhookUrlPolicy {
    fn default() -> Self {
        Self {
            require_https: true,
            allow_private_targets: false,
        }
    }
}

impl WebhookUrlPolicy {
    /// Plain http and any address: for development and tests on one machine.
    pub fn development() -> Self {
        Self {
            require_https: false,
            allow_private_targets: true,
        }
    }
}

/// Whether an address is a public unicast address a webhook may go to.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b)) // NAT64: maps to IPv4
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240)
}

/// Checks a customer webhook URL against the policy: absolute http(s) with a host, no credentials, https when
/// required, and no literal non-public address unless allowed. Names are checked again when connecting.
pub fn check_url(url: &str, policy: &WebhookUrlPolicy) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| {
        format!("must be an absolute URL ({e}), e.g. https://yourapp.com/webhooks/whatsapi")
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" if !policy.require_https => {}
        "http" => return Err("must use https".to_owned()),
        other => return Err(format!("scheme {other} is not supported; use https")),
    }
    // The URL parser forgives `https:///path`; a user who typed that meant something else.
    let authority_missing = url
        .split_once("://")
        .is_none_or(|(_, rest)| rest.is_empty() || rest.starts_with('/'));
    let host = parsed
        .host()
        .filter(|_| !authority_missing)
        .ok_or("must include a host name")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    if !policy.allow_private_targets {
        let literal = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(d)
                if d.eq_ignore_ascii_case("localhost")
                    || d.to_ascii_lowercase().ends_with(".localhost") =>
            {
                return Err("must not point at this machine (localhost)".to_owned());
            }
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal.filter(|ip| !is_public_ip(*ip)) {
            return Err(format!("{ip} is not a public address"));
        }
    }
    Ok(())
}

/// Where and how to sign.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The customer's URL.
    pub url: String,
    /// `whsec_…` secret.
    pub secret: String,
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What one delivery attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// HTTP status of the answer, if any.
    pub http_status: Option<u16>,
    /// Why it failed (timeout, refused target, connection error), if it did.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

impl DeliveryOutcome {
    /// Any 2xx is success.
    pub fn is_success(&self) -> bool {
        self.error.is_none() && matches!(self.http_status, Some(200..=299))
    }
}

/// The way out to the customer's endpoint.
#[async_trait]
pub trait WebhookSink: Send + Sync + 'static {
    /// Delivers one event; never panics, reports failures in the outcome.
    async fn deliver(&self, target: &WebhookTarget, event: &WebhookEvent) -> DeliveryOutcome;
}

/// A recorded delivery attempt (for the dashboard and for support).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The event.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: EventType,
    /// Its message (status events only).
    pub message_id: Option<MessageId>,
    /// The status the event announced (status events only).
    pub status: Option<Status>,
    /// Where it went.
    pub url: String,
    /// When.
    pub at: DateTime<Utc>,
    /// HTTP status, if any.
    pub http_status: Option<u16>,
    /// Error, if any.
    pub error: Option<String>,
    /// Duration in milliseconds.
    pub duration_ms: u64,
}

/// RFC 3339 UTC with second precision and `Z`, as every timestamp of the API.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for `Option<DateTime<Utc>>` as an RFC 3339 string or null.
pub(crate) mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_time(t)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn address_classes() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
            "192.0.2.1",
            "198.18.0.1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "100.128.0.1"] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn url_policy() {
        let strict = WebhookUrlPolicy::default();
        assert!(check_url("https://example.com/hook", &strict).is_ok());
        assert!(check_url("http://example.com/hook", &strict).is_err());
        assert!(check_url("https://127.0.0.1/hook", &strict).is_err());
        assert!(check_url("https://[::1]/hook", &strict).is_err());
        assert!(check_url("https://localhost/hook", &strict).is_err());
        assert!(check_url("https://user:pw@example.com/", &strict).is_err());
        assert!(check_url("ftp://example.com/", &strict).is_err());
        let dev = WebhookUrlPolicy::development();
        assert!(check_url("http://127.0.0.1:9000/hook", &dev).is_ok());
    }

    #[test]
    fn payload_has_the_reference_shape() {
        let t = DateTime::parse_from_rfc3339("2026-03-28T10:00:04Z")
            .unwrap()
            .with_timezone(&Utc);
        let id: MessageId = "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20".parse().unwrap();
        let mut meta = serde_json::Map::new();
        meta.insert("orderId".into(), json!("1234"));
        let ev = WebhookEvent::status_updated(
            EventId::new(),
            t,
            StatusEventData {
                message_id: id,
                status: Status::Delivered,
                to: Some("14155552671".into()),
                recipient_user_id: None,
                delivered_at: Some(t),
                read_at: None,
                failed_at: None,
                error_message: None,
                metadata: Some(meta),
            },
        );
        assert_eq!(
            serde_json::to_value(&ev).unwrap(),
            json!({
                "event": "message.status_updated",
                "timestamp": "2026-03-28T10:00:04Z",
                "data": {
                    "messageId": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20",
                    "status": "delivered",
                    "to": "14155552671",
                    "recipientUserId": null,
                    "deliveredAt": "2026-03-28T10:00:04Z",
                    "readAt": null,
                    "failedAt": null,
                    "errorMessage": null,
                    "metadata": {"orderId": "1234"}
                }
            })
        );
    }
}
