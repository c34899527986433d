//! Event subscriptions: an account's customer webhook endpoints besides the reference webhook
//! (`PUT /auth/me/webhook`). Each endpoint has its own URL, signing secret, event filter, retry schedule and
//! enabled flag; every event is delivered to the reference webhook and to each enabled endpoint whose filter
//! names it (an empty filter names every type), through the outbox, one queue per endpoint.
//!
//! Event types and their order of delivery at one destination:
//! - `message.status_updated`: a message's events arrive in the order its status changed (a retried delivery holds
//!   back that message's later events, never another message's);
//! - `message.received`: one event per new inbound message (Meta's duplicate deliveries of a wamid announce
//!   nothing), in no particular order relative to each other;
//! - `template.status_updated`, `template.quality_updated`, `template.category_updated`: one event per change
//!   Meta reports, in the order reported for one template (by Meta's template id, else its name and language).
//!
//! An endpoint can be edited (`url`, `events`, `enabled`, retry schedule) but its secret never changes; turning
//! an endpoint disabled by a 410 Gone back on clears the reason, and events written while it was off are not
//! replayed (given-up ones can be re-sent one by one).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::account::AccountId;
use crate::message::uuid_id;

uuid_id!(
    /// Identifies a webhook endpoint.
    EndpointId
);

/// Event types an endpoint may subscribe to (the names of [`EventType::ALL`](crate::webhook::EventType::ALL)).
pub const EVENT_TYPES: &[&str] = &[
    crate::webhook::STATUS_UPDATED,
    crate::webhook::MESSAGE_RECEIVED,
    crate::webhook::TEMPLATE_STATUS_UPDATED,
    crate::webhook::TEMPLATE_QUALITY_UPDATED,
    crate::webhook::TEMPLATE_CATEGORY_UPDATED,
];

/// Most endpoints one account may have.
pub const MAX_ENDPOINTS_PER_ACCOUNT: usize = 10;

/// The Standard Webhooks retry schedule after the first attempt (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): the
/// longest schedule an endpoint may have, at most [`MAX_RETRIES`] delays of at most [`MAX_RETRY_DELAY`] each.
pub const STANDARD_RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Most retries of one event to one endpoint.
pub const MAX_RETRIES: usize = STANDARD_RETRY_SCHEDULE.len();

/// Longest wait before one retry.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(10 * 3600);

/// An endpoint's schedule when none is given: as the reference documents for its webhook, one retry after 5 s.
pub fn default_retry_schedule() -> Vec<Duration> {
    vec![STANDARD_RETRY_SCHEDULE[0]]
}

/// Why an event filter is refused, if it is: every name must be one of [`EVENT_TYPES`], without repeats.
pub fn check_event_filter(events: &[String]) -> Result<(), String> {
    if events.len() > EVENT_TYPES.len() {
        return Err(format!("at most {} event types", EVENT_TYPES.len()));
    }
    for (i, e) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&e.as_str()) {
            let shown: String = e.chars().take(64).collect();
            return Err(format!(
                "unknown event type {shown:?}; known: {}",
                EVENT_TYPES.join(", ")
            ));
        }
        if events[..i].contains(e) {
            return Err(format!("{e} is listed twice"));
        }
    }
    Ok(())
}

/// Why a retry schedule is refused, if it is: at most [`MAX_RETRIES`] delays, each from 1 s to
/// [`MAX_RETRY_DELAY`].
pub fn check_retry_schedule(delays: &[Duration]) -> Result<(), String> {
    if delays.len() > MAX_RETRIES {
        return Err(format!("at most {MAX_RETRIES} retries"));
    }
    if delays
        .iter()
        .any(|d| *d < Duration::from_secs(1) || *d > MAX_RETRY_DELAY)
    {
        return Err(format!(
            "each delay must be from 1 to {} seconds",
            MAX_RETRY_DELAY.as_secs()
        ));
    }
    Ok(())
}

/// A change to an endpoint; `None` leaves a field as it is. The secret cannot be changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointUpdate {
    /// New URL (checked by the caller like a new endpoint's).
    pub url: Option<String>,
    /// New event filter (empty: every type).
    pub events: Option<Vec<String>>,
    /// On or off; either way the reason of an earlier automatic disabling is cleared.
    pub enabled: Option<bool>,
    /// New retry schedule.
    pub retry_schedule: Option<Vec<Duration>>,
}

impl EndpointUpdate {
    /// Applies the change to an endpoint as stored. For store authors.
    pub fn apply(&self, e: &mut WebhookEndpoint) {
        if let Some(url) = &self.url {
            e.url.clone_from(url);
        }
        if let Some(events) = &self.events {
            e.events.clone_from(events);
        }
        if let Some(enabled) = self.enabled {
            e.enabled = enabled;
            e.disabled_reason = None;
        }
        if let Some(schedule) = &self.retry_schedule {
            e.retry_schedule.clone_from(schedule);
        }
    }
}

/// A webhook endpoint as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Id.
    pub id: EndpointId,
    /// Owner.
    pub account_id: AccountId,
    /// Where events go.
    pub url: String,
    /// `whsec_…` signing secret (Standard Webhooks); shown to the customer once, when created.
    pub secret: String,
    /// Event types delivered here; empty: every type.
    pub events: Vec<String>,
    /// False: nothing is delivered here (set by the customer, or when the endpoint answered 410 Gone).
    pub enabled: bool,
    /// Why it was disabled by the deliverer, if it was.
    pub disabled_reason: Option<String>,
    /// Delay before each retry after a failed attempt; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// Whether events of this type go to this endpoint (when it is enabled).
    pub fn subscribes(&self, event: crate::webhook::EventType) -> bool {
        self.subscribes_to(event.as_str())
    }

    /// Whether events of the type named `event` go to this endpoint (when it is enabled).
    pub fn subscribes_to(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("retry_schedule", &self.retry_schedule)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Encodes a retry schedule for storage: a JSON array of milliseconds.
pub fn encode_schedule(delays: &[Duration]) -> String {
    let ms: Vec<u64> = delays
        .iter()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .collect();
    serde_json::to_string(&ms).expect("numbers encode")
}

/// Decodes [`encode_schedule`]'s text.
pub fn decode_schedule(text: &str) -> Result<Vec<Duration>, serde_json::Error> {
    let ms: Vec<u64> = serde_json::from_str(text)?;
    Ok(ms.into_iter().map(Duration::from_millis).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_known_names_only() {
        assert!(check_event_filter(&[]).is_ok());
        assert!(check_event_filter(&["message.status_updated".into()]).is_ok());
        let e = check_event_filter(&["message.sent".into()]).unwrap_err();
        assert!(e.contains("unknown event type \"message.sent\""), "{e}");
        assert!(e.contains("message.received"), "{e}");
        assert!(
            check_event_filter(&["message.received".into(), "message.received".into()]).is_err()
        );
    }

    #[test]
    fn schedules_are_bounded() {
        assert!(check_retry_schedule(&[]).is_ok());
        assert!(check_retry_schedule(&STANDARD_RETRY_SCHEDULE).is_ok());
        let mut long = STANDARD_RETRY_SCHEDULE.to_vec();
        long.push(Duration::from_secs(5));
        assert!(check_retry_schedule(&long).is_err());
        assert!(check_retry_schedule(&[Duration::from_secs(36_001)]).is_err());
        assert!(check_retry_schedule(&[Duration::ZERO]).is_err());
        let s = encode_schedule(&STANDARD_RETRY_SCHEDULE);
        assert_eq!(
            decode_schedule(&s).unwrap(),
            STANDARD_RETRY_SCHEDULE.to_vec()
        );
    }

    #[test]
    fn empty_filter_means_every_event() {
        let mut e = WebhookEndpoint {
            id: EndpointId::new(),
            account_id: AccountId::new(),
            url: "https://example.com".into(),
            secret: "whsec_x".into(),
            events: vec![],
            enabled: true,
            disabled_reason: None,
            retry_schedule: default_retry_schedule(),
            created_at: Utc::now(),
        };
        assert!(e.subscribes_to("message.received"));
        e.events = vec!["message.received".into()];
        assert!(!e.subscribes_to(crate::webhook::STATUS_UPDATED));
        assert!(!format!("{e:?}").contains("whsec_x"));
    }
}
