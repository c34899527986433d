//! What the sandbox remembers for tests to inspect: the sends it answered and the webhooks it posted.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One `POST …/messages` the sandbox answered, accepted or refused (credentials errors included).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The phone number id of the path.
    pub phone_number_id: String,
    /// The recipient's digits, when the body had a `to` string.
    pub to: Option<String>,
    /// The JSON body as received (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The HTTP status answered.
    pub http_status: u16,
    /// The wamid of an accepted send.
    pub wamid: Option<String>,
    /// Meta's error code of a refused send.
    pub error_code: Option<i64>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

impl RecordedRequest {
    /// Whether Meta accepted it (HTTP 200 with a wamid).
    pub fn accepted(&self) -> bool {
        self.wamid.is_some()
    }
}

/// One webhook POST attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// Where it went.
    pub url: String,
    /// 1 for the first try, then 2, 3, … for retries of the same body.
    pub attempt: u32,
    /// The exact raw body that was signed.
    pub body: String,
    /// The `X-Hub-Signature-256` header sent.
    pub signature: String,
    /// The answer's HTTP status; `None` when the POST failed before an answer.
    pub http_status: Option<u16>,
    /// Why the POST failed before an answer.
    pub error: Option<String>,
    /// When it was posted.
    pub at: DateTime<Utc>,
}

impl WebhookDelivery {
    /// Whether the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.http_status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `(wamid, status)` of every status in the body, in order.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.values("statuses")
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap_or_default().to_owned(),
                    s["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Every item of `entry[].changes[].value.<field>` (`statuses`, `messages`, `contacts`).
    pub fn values(&self, field: &str) -> Vec<Value> {
        let json = self.json();
        json["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| e["changes"].as_array().into_iter().flatten())
            .flat_map(|c| c["value"][field].as_array().into_iter().flatten())
            .cloned()
            .collect()
    }
}
