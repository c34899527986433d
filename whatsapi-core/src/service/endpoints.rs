//! Event subscriptions: the account's webhook endpoints, their delivery attempts, and re-sending a failed
//! delivery.

use std::time::Duration;

use crate::account::AccountId;
use crate::endpoints::{
    EndpointId, EndpointUpdate, MAX_ENDPOINTS_PER_ACCOUNT, WebhookEndpoint, check_event_filter,
    check_retry_schedule, default_retry_schedule,
};
use crate::send::ValidationErrors;
use crate::store::StoreError;
use crate::webhook::{DeliveryAttempt, EventId};

use super::accounts::{check_webhook_url, new_webhook_secret};
use super::{Error, WhatsApi};

const ENDPOINT_NOT_FOUND: &str = "webhook endpoint not found";
const DELIVERY_NOT_FOUND: &str = "delivery not found";

/// A new endpoint as the customer asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRequest {
    /// Where events go (checked like the reference webhook's URL).
    pub url: String,
    /// Event types to receive; empty: every type.
    pub events: Vec<String>,
    /// Whether it receives events from now on.
    pub enabled: bool,
    /// Delays of the retries after a failed attempt; `None`: one retry after 5 s, as the reference documents.
    pub retry_schedule: Option<Vec<Duration>>,
}

impl WhatsApi {
    /// Adds a webhook endpoint to the account, with a new signing secret (returned here, and never again by
    /// [`WhatsApi::webhook_endpoints`]'s callers' views). At most [`MAX_ENDPOINTS_PER_ACCOUNT`].
    pub async fn create_webhook_endpoint(
        &self,
        account: AccountId,
        request: EndpointRequest,
    ) -> Result<WebhookEndpoint, Error> {
        let url = request.url.trim();
        let mut errs = ValidationErrors::default();
        if let Err(m) = check_webhook_url(url, &self.config().webhook_urls) {
            errs.push("url", m);
        }
        if let Err(m) = check_event_filter(&request.events) {
            errs.push("events", m);
        }
        if let Some(schedule) = &request.retry_schedule
            && let Err(m) = check_retry_schedule(schedule)
        {
            errs.push("retrySchedule", m);
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        let endpoint = WebhookEndpoint {
            id: EndpointId::new(),
            account_id: account,
            url: url.to_owned(),
            secret: new_webhook_secret(),
            events: request.events,
            enabled: request.enabled,
            disabled_reason: None,
            retry_schedule: request
                .retry_schedule
                .unwrap_or_else(default_retry_schedule),
            created_at: self.clock().now(),
        };
        match self
            .store()
            .create_endpoint(endpoint, MAX_ENDPOINTS_PER_ACCOUNT)
            .await
        {
            Ok(e) => Ok(e),
            Err(StoreError::NotFound) => Err(Error::NotFound("account not found".into())),
            Err(StoreError::Conflict(m)) => Err(Error::Conflict(m)),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes an endpoint of the account: any of its URL, event filter, enabled flag and retry schedule, each
    /// checked as for a new endpoint (a `Validation` error names every field refused, and nothing is changed).
    /// Turning it on (or off) clears the reason it was disabled for; the secret stays as it is.
    pub async fn update_webhook_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        mut update: EndpointUpdate,
    ) -> Result<WebhookEndpoint, Error> {
        let mut errs = ValidationErrors::default();
        if let Some(url) = &mut update.url {
            *url = url.trim().to_owned();
            if let Err(m) = check_webhook_url(url, &self.config().webhook_urls) {
                errs.push("url", m);
            }
        }
        if let Some(events) = &update.events
            && let Err(m) = check_event_filter(events)
        {
            errs.push("events", m);
        }
        if let Some(schedule) = &update.retry_schedule
            && let Err(m) = check_retry_schedule(schedule)
        {
            errs.push("retrySchedule", m);
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        match self.store().update_endpoint(account, id, update).await {
            Ok(e) => Ok(e),
            Err(StoreError::NotFound) => Err(Error::NotFound(ENDPOINT_NOT_FOUND.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// The account's webhook endpoints, oldest first.
    pub async fn webhook_endpoints(
        &self,
        account: AccountId,
    ) -> Result<Vec<WebhookEndpoint>, Error> {
        Ok(self.store().endpoints(account).await?)
    }

    /// One endpoint of the account.
    pub async fn webhook_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
    ) -> Result<WebhookEndpoint, Error> {
        self.webhook_endpoints(account)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::NotFound(ENDPOINT_NOT_FOUND.into()))
    }

    /// Removes an endpoint of the account, with its waiting events and its delivery attempts.
    pub async fn delete_webhook_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
    ) -> Result<(), Error> {
        match self.store().delete_endpoint(account, id).await {
            Err(StoreError::NotFound) => Err(Error::NotFound(ENDPOINT_NOT_FOUND.into())),
            other => Ok(other?),
        }
    }

    /// The latest delivery attempts to one endpoint of the account, newest first (1–200).
    pub async fn webhook_endpoint_deliveries(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> Result<Vec<DeliveryAttempt>, Error> {
        self.webhook_endpoint(account, id).await?;
        Ok(self
            .store()
            .endpoint_attempts(account, id, limit.clamp(1, 200))
            .await?)
    }

    /// Sends again an event of the account whose delivery failed for good (its retries ran out, or its
    /// endpoint answered 410): it is due at once with a fresh retry schedule.
    pub async fn retry_webhook_delivery(
        &self,
        account: AccountId,
        id: EventId,
    ) -> Result<(), Error> {
        let now = self.clock().now();
        match self.store().retry_event(account, id, now).await {
            Ok(()) => {
                self.core().deliver_wake.notify();
                Ok(())
            }
            Err(StoreError::NotFound) => Err(Error::NotFound(DELIVERY_NOT_FOUND.into())),
            Err(StoreError::Conflict(m)) => Err(Error::Conflict(m)),
            Err(e) => Err(e.into()),
        }
    }
}
