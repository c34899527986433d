//! Customer webhooks: the event we send, the `WebhookSink` trait and what a delivery attempt recorded.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::message::{Message, MessageId, Status, uuid_id};

uuid_id!(
    /// Identifies one customer-webhook event; stable across retries (`webhook-id`).
    EventId
);

/// Name of the only event type.
pub const STATUS_UPDATED: &str = "message.status_updated";

/// The `data` of a `message.status_updated` event, in the reference's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEventData {
    /// Message id.
    pub message_id: MessageId,
    /// New status.
    pub status: Status,
    /// Recipient.
    pub to: String,
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
            to: message.to.as_str().to_owned(),
            delivered_at: message.delivered_at,
            read_at: message.read_at,
            failed_at: message.failed_at,
            error_message: message.error_message.clone(),
            metadata: message.metadata.clone(),
        }
    }
}

/// One event as POSTed to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// Stable id (the `webhook-id` header), not part of the body.
    #[serde(skip)]
    pub id: Option<EventId>,
    /// Always `message.status_updated`.
    pub event: String,
    /// When the status changed.
    #[serde(with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// The message's state.
    pub data: StatusEventData,
}

impl StatusEvent {
    /// A `message.status_updated` event.
    pub fn status_updated(id: EventId, timestamp: DateTime<Utc>, data: StatusEventData) -> Self {
        Self {
            id: Some(id),
            event: STATUS_UPDATED.to_owned(),
            timestamp,
            data,
        }
    }
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
    async fn deliver(&self, target: &WebhookTarget, event: &StatusEvent) -> DeliveryOutcome;
}

/// A recorded delivery attempt (for the dashboard and for support).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The event.
    pub event_id: EventId,
    /// Its message.
    pub message_id: MessageId,
    /// The status the event announced.
    pub status: Status,
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
    fn payload_has_the_reference_shape() {
        let t = DateTime::parse_from_rfc3339("2026-03-28T10:00:04Z")
            .unwrap()
            .with_timezone(&Utc);
        let id: MessageId = "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20".parse().unwrap();
        let mut meta = serde_json::Map::new();
        meta.insert("orderId".into(), json!("1234"));
        let ev = StatusEvent::status_updated(
            EventId::new(),
            t,
            StatusEventData {
                message_id: id,
                status: Status::Delivered,
                to: "14155552671".into(),
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
