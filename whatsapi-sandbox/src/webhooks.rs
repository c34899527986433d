//! The webhook dispatcher: builds Meta's payloads, signs them and posts them with retries.

use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use whatsapi_core::meta;

use crate::config::{SandboxNumber, WebhookRetry};
use crate::magic::PlannedStatus;
use crate::record::WebhookDelivery;

/// The facts of an accepted send that its statuses repeat.
#[derive(Debug, Clone)]
pub(crate) struct AcceptedSend {
    pub wamid: String,
    /// The recipient's phone digits; `None` for a user addressed only by BSUID (Meta then omits `recipient_id`).
    pub recipient_id: Option<String>,
    /// The BSUID the send named, repeated as `recipient_user_id`.
    pub recipient_user_id: Option<String>,
    pub callback_data: Option<String>,
    /// Meta's pricing category: `service` for free-form messages, the template's category for a template
    /// (`marketing`, `utility`, `authentication`).
    pub category: &'static str,
    /// Meta's pricing type: `regular` (charged), or `free_customer_service` for free-form messages and for
    /// utility templates sent inside the customer service window.
    pub pricing_type: &'static str,
    pub accepted_at: DateTime<Utc>,
}

/// Why a webhook could not be posted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookError {
    /// No callback URL is configured.
    #[error("no callback URL is configured")]
    NoCallbackUrl,
    /// Every attempt failed; the last one is attached.
    #[error("the webhook was not accepted after {} attempt(s)", .0.attempt)]
    Rejected(Box<WebhookDelivery>),
    /// The sandbox shut down before it was delivered.
    #[error("the sandbox shut down")]
    ShutDown,
    /// The sandbox has no business number with this id.
    #[error("no sandbox phone number has id {0:?}")]
    UnknownPhoneNumber(String),
}

/// Posts signed webhooks to the callback URL and records every attempt.
#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    http: reqwest::Client,
    app_secret: String,
    waba_id: String,
    retry: WebhookRetry,
    callback_url: Arc<RwLock<Option<String>>>,
    deliveries: Arc<Mutex<Vec<WebhookDelivery>>>,
    shutdown: watch::Receiver<bool>,
}

impl Dispatcher {
    pub fn new(
        app_secret: String,
        waba_id: String,
        retry: WebhookRetry,
        callback_url: Option<String>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(retry.timeout)
            .user_agent("facebookexternalua")
            .build()
            .expect("a reqwest client with a timeout builds");
        Self {
            http,
            app_secret,
            waba_id,
            retry,
            callback_url: Arc::new(RwLock::new(callback_url)),
            deliveries: Arc::default(),
            shutdown,
        }
    }

    pub fn set_callback_url(&self, url: Option<String>) {
        *self.callback_url.write().expect("callback lock") = url;
    }

    pub fn callback_url(&self) -> Option<String> {
        self.callback_url.read().expect("callback lock").clone()
    }

    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.deliveries.lock().expect("deliveries lock").clone()
    }

    /// Posts the statuses of an accepted send in the background, in plan order; statuses due together share
    /// one POST. The callback URL is read when each POST is due, so it may be set after the send.
    pub fn schedule(&self, number: SandboxNumber, send: AcceptedSend, plan: Vec<PlannedStatus>) {
        let this = self.clone();
        let start = Instant::now();
        tokio::spawn(async move {
            let mut rest = plan.as_slice();
            while let Some(first) = rest.first() {
                if !this.sleep_until(start + first.due).await {
                    return;
                }
                let now = Instant::now();
                let batch = rest
                    .iter()
                    .take_while(|p| start + p.due <= now)
                    .count()
                    .max(1);
                let (due, later) = rest.split_at(batch);
                rest = later;
                if this.callback_url.read().expect("callback lock").is_none() {
                    // Nobody to tell: skip building and signing a payload that would be dropped.
                    tracing::debug!(wamid = %send.wamid, "no callback URL: statuses dropped");
                    continue;
                }
                let statuses: Vec<Value> = due.iter().map(|p| status_item(&send, p)).collect();
                let body = payload(&this.waba_id, &number, json!({ "statuses": statuses }));
                match this.post(&body).await {
                    Ok(_) | Err(WebhookError::Rejected(_)) => {}
                    Err(WebhookError::NoCallbackUrl) => {
                        tracing::debug!(wamid = %send.wamid, "no callback URL: statuses dropped");
                    }
                    Err(WebhookError::ShutDown | WebhookError::UnknownPhoneNumber(_)) => return,
                }
            }
        });
    }

    /// Posts a customer's message to the business number and waits for the outcome. `message` is Meta's message
    /// object without its sender, id and timestamp (`{"type": "image", "image": {…}}`, with `context` or
    /// `referral` when wanted); those are filled in (a `timestamp` or `from_parent_user_id` already in it is
    /// kept).
    pub async fn inbound_message(
        &self,
        number: &SandboxNumber,
        from: &str,
        message: &Value,
        wamid: &str,
    ) -> Result<WebhookDelivery, WebhookError> {
        // A customer behind a username shows only their BSUID: Meta leaves out `from` and `wa_id` then.
        let (contact, mut out) = if crate::validate::is_user_id(from) {
            (
                json!({"profile": {"name": "Sandbox Customer"}, "user_id": from}),
                json!({"from_user_id": from}),
            )
        } else {
            (
                json!({"profile": {"name": "Sandbox Customer"}, "wa_id": from}),
                json!({"from": from}),
            )
        };
        if let Some(fields) = message.as_object() {
            for (k, v) in fields {
                if !matches!(k.as_str(), "from" | "from_user_id" | "id") {
                    out[k] = v.clone();
                }
            }
        }
        out["id"] = json!(wamid);
        if out.get("timestamp").is_none() {
            out["timestamp"] = json!(Utc::now().timestamp().to_string());
        }
        let value = json!({"contacts": [contact], "messages": [out]});
        self.post(&payload(&self.waba_id, number, value)).await
    }

    /// Signs and posts one body, retrying with doubling backoff until a 2xx or the last attempt.
    async fn post(&self, body: &Value) -> Result<WebhookDelivery, WebhookError> {
        let raw = body.to_string();
        let signature = meta::sign(self.app_secret.as_bytes(), raw.as_bytes());
        let mut backoff = self.retry.initial_backoff;
        let attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(url) = self.callback_url() else {
                return Err(WebhookError::NoCallbackUrl);
            };
            let result = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Hub-Signature-256", &signature)
                .body(raw.clone())
                .send()
                .await;
            let (http_status, error) = match result {
                Ok(resp) => (Some(resp.status().as_u16()), None),
                Err(e) => (None, Some(e.without_url().to_string())),
            };
            let delivery = WebhookDelivery {
                url,
                attempt,
                body: raw.clone(),
                signature: signature.clone(),
                http_status,
                error,
                at: Utc::now(),
            };
            self.deliveries
                .lock()
                .expect("deliveries lock")
                .push(delivery.clone());
            if delivery.succeeded() {
                return Ok(delivery);
            }
            tracing::debug!(attempt, status = ?delivery.http_status, error = ?delivery.error, "webhook POST failed");
            if attempt >= attempts {
                return Err(WebhookError::Rejected(Box::new(delivery)));
            }
            if !self.sleep_until(Instant::now() + backoff).await {
                return Err(WebhookError::ShutDown);
            }
            backoff = backoff.saturating_mul(2);
        }
    }

    /// Sleeps until `deadline`; `false` when the sandbox shuts down first.
    async fn sleep_until(&self, deadline: Instant) -> bool {
        let mut shutdown = self.shutdown.clone();
        if *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => true,
            _ = shutdown.changed() => false,
        }
    }
}

/// `{object, entry: [{id, changes: [{field: "messages", value: {messaging_product, metadata, …}}]}]}`.
fn payload(waba_id: &str, number: &SandboxNumber, fields: Value) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": number.display_digits(),
            "phone_number_id": number.id,
        },
    });
    if let (Some(value), Value::Object(fields)) = (value.as_object_mut(), fields) {
        value.extend(fields);
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}],
    })
}

/// One item of `statuses[]`, shaped like Meta's.
fn status_item(send: &AcceptedSend, planned: &PlannedStatus) -> Value {
    let happened = send.accepted_at
        + chrono::Duration::from_std(planned.happened).unwrap_or(chrono::Duration::zero());
    let mut item = json!({
        "id": send.wamid,
        "status": planned.status,
        "timestamp": happened.timestamp().to_string(),
    });
    if let Some(phone) = &send.recipient_id {
        item["recipient_id"] = json!(phone);
    }
    if let Some(user) = &send.recipient_user_id {
        item["recipient_user_id"] = json!(user);
    }
    if let Some(data) = &send.callback_data {
        item["biz_opaque_callback_data"] = json!(data);
    }
    match (&planned.error, planned.status) {
        (Some(e), _) => {
            item["errors"] = json!([{
                "code": e.code,
                "title": e.title,
                "message": e.title,
                "error_data": {"details": e.details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }]);
        }
        (None, "sent" | "delivered") => {
            let billable = send.pricing_type == "regular";
            item["conversation"] = json!({
                "id": conversation_id(&send.wamid),
                "expiration_timestamp": (send.accepted_at + chrono::Duration::hours(24)).timestamp().to_string(),
                "origin": {"type": send.category},
            });
            item["pricing"] = json!({
                "billable": billable,
                "pricing_model": "PMP",
                "category": send.category,
                "type": send.pricing_type,
            });
        }
        (None, _) => {}
    }
    item
}

/// A stable conversation id per message, so `sent` and `delivered` agree.
fn conversation_id(wamid: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    wamid.hash(&mut h);
    format!("{:016x}{:016x}", h.finish(), h.finish().rotate_left(17))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StatusDelays;
    use crate::magic::Behaviour;

    fn send() -> AcceptedSend {
        AcceptedSend {
            wamid: "wamid.X".into(),
            recipient_id: Some("14155552671".into()),
            recipient_user_id: None,
            callback_data: Some("our-id".into()),
            category: "utility",
            pricing_type: "regular",
            accepted_at: DateTime::from_timestamp(1_711_620_000, 0).unwrap(),
        }
    }

    #[test]
    fn payload_parses_with_core() {
        let plan = Behaviour::Undeliverable.plan(StatusDelays::default());
        let mut statuses: Vec<Value> = Behaviour::Normal
            .plan(StatusDelays::default())
            .iter()
            .map(|p| status_item(&send(), p))
            .collect();
        statuses.push(status_item(&send(), &plan[0]));
        let body = payload(
            "WABA",
            &SandboxNumber::default(),
            json!({ "statuses": statuses }),
        );
        assert_eq!(
            body["entry"][0]["changes"][0]["value"]["metadata"]["display_phone_number"],
            "15550001234"
        );
        let parsed = meta::parse_webhook(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.skipped, 0);
        assert_eq!(parsed.statuses.len(), 4);
        assert!(
            parsed
                .statuses
                .iter()
                .all(|s| s.callback_data.as_deref() == Some("our-id")
                    && s.phone_number_id.as_deref() == Some("1234567890"))
        );
        assert_eq!(
            parsed.statuses[3].error.as_ref().unwrap().code,
            Some(131026)
        );
        assert_eq!(parsed.statuses[0].at.timestamp(), 1_711_620_000);
        let sent = &body["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(sent["pricing"]["category"], "utility");
        assert_eq!(sent["conversation"]["origin"]["type"], "utility");
        assert_eq!(
            sent["conversation"]["id"],
            body["entry"][0]["changes"][0]["value"]["statuses"][1]["conversation"]["id"]
        );
    }
}
