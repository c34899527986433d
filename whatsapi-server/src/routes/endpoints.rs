//! Event subscriptions: several webhook endpoints per account (`/webhooks/endpoints`), each with its own signing
//! secret, event filter, retry schedule and enabled flag, beside the reference webhook of `PUT /auth/me/webhook`
//! (which keeps receiving every event); and re-sending a failed delivery (`POST /webhooks/deliveries/{id}/retry`).
//!
//! Every event is a Standard Webhooks POST of `{"event": type, "timestamp": ..., "data": {...}}`:
//! `message.status_updated` (a message reached sent, delivered, read or failed; in order per message),
//! `message.received` (a customer wrote; once per inbound message, duplicates from Meta are not re-announced),
//! `template.status_updated`, `template.quality_updated` and `template.category_updated` (Meta reported a change
//! of one of your templates; in order per template). An endpoint can be edited with `PATCH`, which is also how one
//! disabled after answering 410 Gone is turned back on.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use whatsapi_core::send::FieldError;
use whatsapi_core::service::EndpointRequest;
use whatsapi_core::webhook::{EventId, format_time};

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{Field, RequestBody, ValidatedJson, ValidatedQuery};
use crate::routes::dashboard::{DeliveriesQuery, DeliveryView};
use crate::state::AppState;
use crate::views::ok;

/// The endpoints and re-sending: every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(endpoint_deliveries))
        .routes(routes!(retry_delivery));
    crate::auth::require_api_key(routes, state)
}

const ENDPOINT_NOT_FOUND: &str = "Webhook endpoint not found.";
const DELIVERY_NOT_FOUND: &str = "Delivery not found.";

/// `POST /webhooks/endpoints` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointBody {
    /// Where events are POSTed (HTTPS in production), signed the Standard Webhooks way with this endpoint's own
    /// secret.
    #[schema(value_type = String, example = "https://yourapp.com/webhooks/whatsapi-status")]
    pub url: Field<String>,
    /// Event types to receive: `message.status_updated`, `message.received`, `template.status_updated`,
    /// `template.quality_updated`, `template.category_updated`. Empty or absent: every type.
    #[schema(value_type = Option<Vec<String>>, example = json!(["message.status_updated"]))]
    pub events: Field<Vec<String>>,
    /// Whether events go here (default true).
    #[schema(value_type = Option<bool>, example = true)]
    pub enabled: Field<bool>,
    /// Seconds to wait before each retry of a failed delivery: at most 7 retries of 1 to 36000 s each (the
    /// Standard Webhooks schedule `[5, 300, 1800, 7200, 18000, 36000, 36000]` is the longest). Absent: one retry
    /// after 5 s, as for the reference webhook. `[]`: no retry.
    #[schema(value_type = Option<Vec<u64>>, example = json!([5, 300, 1800, 7200, 18000, 36000, 36000]))]
    pub retry_schedule: Field<Vec<u64>>,
}

impl RequestBody for EndpointBody {
    /// The request (URL, names and schedule checked by the core).
    type Valid = EndpointRequest;

    fn validate(self) -> Result<EndpointRequest, Vec<FieldError>> {
        let mut details = Vec::new();
        let url = self.url.required("url", &mut details);
        let events = self.events.optional("events", &mut details);
        let enabled = self.enabled.optional("enabled", &mut details);
        let schedule = self.retry_schedule.optional("retrySchedule", &mut details);
        match url {
            Some(url) if details.is_empty() => Ok(EndpointRequest {
                url,
                events: events.unwrap_or_default(),
                enabled: enabled.unwrap_or(true),
                retry_schedule: schedule.map(|s| s.into_iter().map(Duration::from_secs).collect()),
            }),
            _ => Err(details),
        }
    }
}

/// `PATCH /webhooks/endpoints/{id}` body: the fields to change, at least one (the signing secret cannot be
/// changed; delete the endpoint and create another for a new one).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatchBody {
    /// New URL, checked as on creation.
    #[schema(value_type = Option<String>, example = "https://yourapp.com/webhooks/whatsapi-v2")]
    pub url: Field<String>,
    /// New event filter: `message.status_updated`, `message.received`, `template.status_updated`,
    /// `template.quality_updated`, `template.category_updated`; `[]`: every type.
    #[schema(value_type = Option<Vec<String>>, example = json!(["message.received"]))]
    pub events: Field<Vec<String>>,
    /// `true` turns the endpoint (back) on and clears `disabledReason`; `false` turns it off. Events written while
    /// it was off are not delivered later.
    #[schema(value_type = Option<bool>, example = true)]
    pub enabled: Field<bool>,
    /// New retry schedule in seconds, as on creation (at most 7 retries of 1 to 36000 s each).
    #[schema(value_type = Option<Vec<u64>>, example = json!([5, 300, 1800]))]
    pub retry_schedule: Field<Vec<u64>>,
}

impl RequestBody for EndpointPatchBody {
    /// The change (URL, names and schedule checked by the core).
    type Valid = EndpointUpdate;

    fn validate(self) -> Result<EndpointUpdate, Vec<FieldError>> {
        let mut details = Vec::new();
        let update = EndpointUpdate {
            url: self.url.optional("url", &mut details),
            events: self.events.optional("events", &mut details),
            enabled: self.enabled.optional("enabled", &mut details),
            retry_schedule: self
                .retry_schedule
                .optional("retrySchedule", &mut details)
                .map(|s| s.into_iter().map(Duration::from_secs).collect()),
        };
        if details.is_empty() && update == EndpointUpdate::default() {
            details.push(crate::extract::field_error(
                "body",
                "give at least one of url, events, enabled, retrySchedule",
            ));
        }
        if details.is_empty() {
            Ok(update)
        } else {
            Err(details)
        }
    }
}

/// One webhook endpoint. The signing secret is shown only in the answer that created it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// Id.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// Event types delivered here; empty: every type.
    pub events: Vec<String>,
    /// Whether events go here.
    pub enabled: bool,
    /// Why it was turned off (it answered 410 Gone), or null.
    pub disabled_reason: Option<String>,
    /// Seconds before each retry of a failed delivery.
    pub retry_schedule: Vec<u64>,
    /// Created (RFC 3339 UTC).
    pub created_at: String,
    /// `whsec_…` secret to check `webhook-signature` (Standard Webhooks); only when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl EndpointView {
    fn of(e: WebhookEndpoint, show_secret: bool) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url,
            events: e.events,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            retry_schedule: e.retry_schedule.iter().map(Duration::as_secs).collect(),
            created_at: format_time(&e.created_at),
            signing_secret: show_secret.then_some(e.secret),
        }
    }
}

/// An endpoint removed.
#[derive(Serialize, ToSchema)]
pub struct DeletedView {
    /// Its id.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

/// A delivery queued again.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetriedView {
    /// The event (`webhook-id` header, unchanged).
    pub event_id: String,
    /// Always true: it is sent again now, with a fresh retry schedule.
    pub queued: bool,
}

fn endpoint_id(raw: &str) -> Result<EndpointId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(ENDPOINT_NOT_FOUND))
}

fn not_found_as(message: &'static str) -> impl Fn(whatsapi_core::Error) -> ApiError {
    move |e| match e {
        whatsapi_core::Error::NotFound(_) => ApiError::not_found(message),
        other => other.into(),
    }
}

/// Add a webhook endpoint; returns its signing secret once. At most 10 per account.
#[utoipa::path(post, path = "/webhooks/endpoints", tag = "webhooks", operation_id = "createWebhookEndpoint", security(("bearer" = [])),
    request_body(content = EndpointBody, example = json!({"url": "https://yourapp.com/webhooks/whatsapi-status",
        "events": ["message.status_updated"], "retrySchedule": [5, 300, 1800, 7200, 18000, 36000, 36000]})),
    responses(
        (status = 201, body = crate::views::Envelope<EndpointView>, example = json!({"success": true, "data": {
            "id": "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a", "url": "https://yourapp.com/webhooks/whatsapi-status",
            "events": ["message.status_updated"], "enabled": true, "disabledReason": null,
            "retrySchedule": [5, 300, 1800, 7200, 18000, 36000, 36000], "createdAt": "2026-03-28T10:00:00Z",
            "signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})),
        (status = 400, description = "Invalid URL, unknown event type or schedule", body = crate::views::ErrorView,
            example = json!({"success": false,
                "error": "Validation failed: events: unknown event type \"message.sent\"; known: message.status_updated, message.received, template.status_updated, template.quality_updated, template.category_updated",
                "details": [{"field": "events", "message": "unknown event type \"message.sent\"; known: message.status_updated, message.received, template.status_updated, template.quality_updated, template.category_updated"}]})),
        (status = 409, description = "The account already has 10 endpoints", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "an account has at most 10 webhook endpoints"})),
    ))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedJson(request): ValidatedJson<EndpointBody>,
) -> Result<Response, ApiError> {
    let created = state
        .api
        .create_webhook_endpoint(account.id, request)
        .await?;
    Ok((StatusCode::CREATED, ok(EndpointView::of(created, true))).into_response())
}

/// Your webhook endpoints, oldest first (secrets are not shown).
#[utoipa::path(get, path = "/webhooks/endpoints", tag = "webhooks", operation_id = "listWebhookEndpoints", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<Vec<EndpointView>>, example = json!({"success": true, "data": [{
        "id": "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a", "url": "https://yourapp.com/webhooks/whatsapi-status",
        "events": ["message.status_updated"], "enabled": false,
        "disabledReason": "the endpoint answered 410 Gone at 2026-03-28T11:00:00Z",
        "retrySchedule": [5], "createdAt": "2026-03-28T10:00:00Z"}]}))))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    let all = state.api.webhook_endpoints(account.id).await?;
    Ok(ok(all
        .into_iter()
        .map(|e| EndpointView::of(e, false))
        .collect::<Vec<_>>())
    .into_response())
}

/// One of your webhook endpoints (its secret is not shown).
#[utoipa::path(get, path = "/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "getWebhookEndpoint", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id", example = "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a")),
    responses(
        (status = 200, body = crate::views::Envelope<EndpointView>, example = json!({"success": true, "data": {
            "id": "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a", "url": "https://yourapp.com/webhooks/whatsapi-status",
            "events": [], "enabled": true, "disabledReason": null, "retrySchedule": [5],
            "createdAt": "2026-03-28T10:00:00Z"}})),
        (status = 404, description = "No such endpoint on your account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Webhook endpoint not found."})),
    ))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = state
        .api
        .webhook_endpoint(account.id, endpoint_id(&id)?)
        .await
        .map_err(not_found_as(ENDPOINT_NOT_FOUND))?;
    Ok(ok(EndpointView::of(found, false)).into_response())
}

/// Change a webhook endpoint's URL, event filter, enabled flag or retry schedule; `{"enabled": true}` turns on an
/// endpoint that was disabled (for instance after it answered 410 Gone) and clears its `disabledReason`. The
/// signing secret stays the same and is not shown.
#[utoipa::path(patch, path = "/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "updateWebhookEndpoint", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id", example = "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a")),
    request_body(content = EndpointPatchBody, example = json!({"enabled": true})),
    responses(
        (status = 200, body = crate::views::Envelope<EndpointView>, example = json!({"success": true, "data": {
            "id": "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a", "url": "https://yourapp.com/webhooks/whatsapi-status",
            "events": ["message.status_updated"], "enabled": true, "disabledReason": null, "retrySchedule": [5],
            "createdAt": "2026-03-28T10:00:00Z"}})),
        (status = 400, description = "Invalid URL, unknown event type or schedule, or nothing to change", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Validation failed: retrySchedule: at most 7 retries",
                "details": [{"field": "retrySchedule", "message": "at most 7 retries"}]})),
        (status = 404, description = "No such endpoint on your account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Webhook endpoint not found."})),
    ))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
    ValidatedJson(update): ValidatedJson<EndpointPatchBody>,
) -> Result<Response, ApiError> {
    let updated = state
        .api
        .update_webhook_endpoint(account.id, endpoint_id(&id)?, update)
        .await
        .map_err(not_found_as(ENDPOINT_NOT_FOUND))?;
    Ok(ok(EndpointView::of(updated, false)).into_response())
}

/// Remove a webhook endpoint, with its waiting events and its delivery history.
#[utoipa::path(delete, path = "/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "deleteWebhookEndpoint", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id", example = "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a")),
    responses(
        (status = 200, body = crate::views::Envelope<DeletedView>, example = json!({"success": true, "data": {
            "id": "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a", "deleted": true}})),
        (status = 404, description = "No such endpoint on your account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Webhook endpoint not found."})),
    ))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = endpoint_id(&id)?;
    state
        .api
        .delete_webhook_endpoint(account.id, id)
        .await
        .map_err(not_found_as(ENDPOINT_NOT_FOUND))?;
    Ok(ok(DeletedView {
        id: id.to_string(),
        deleted: true,
    })
    .into_response())
}

/// An endpoint's latest delivery attempts, newest first.
#[utoipa::path(get, path = "/webhooks/endpoints/{id}/deliveries", tag = "webhooks", operation_id = "listWebhookEndpointDeliveries", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id", example = "0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a"), DeliveriesQuery),
    responses(
        (status = 200, body = crate::views::Envelope<Vec<DeliveryView>>, example = json!({"success": true, "data": [{
            "eventId": "evt_0193c4f27a1e7c3b9a5d3f2e1d0c4b6b", "event": "message.status_updated",
            "messageId": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20",
            "status": "delivered", "url": "https://yourapp.com/webhooks/whatsapi-status", "at": "2026-03-28T10:00:04Z",
            "httpStatus": 503, "error": null, "durationMs": 41}]})),
        (status = 404, description = "No such endpoint on your account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Webhook endpoint not found."})),
    ))]
pub async fn endpoint_deliveries(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
    ValidatedQuery(q): ValidatedQuery<DeliveriesQuery>,
) -> Result<Response, ApiError> {
    let attempts = state
        .api
        .webhook_endpoint_deliveries(account.id, endpoint_id(&id)?, q.limit)
        .await
        .map_err(not_found_as(ENDPOINT_NOT_FOUND))?;
    Ok(ok(attempts
        .into_iter()
        .map(DeliveryView::of)
        .collect::<Vec<_>>())
    .into_response())
}

/// Send a failed delivery again (its retries ran out, or its endpoint answered 410): the event, with the same
/// `webhook-id`, is due at once with a fresh retry schedule. `id` is an `eventId` of the delivery listings.
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/retry", tag = "webhooks", operation_id = "retryWebhookDelivery", security(("bearer" = [])),
    params(("id" = String, Path, description = "The eventId of a failed delivery", example = "evt_0193c4f27a1e7c3b9a5d3f2e1d0c4b6b")),
    responses(
        (status = 202, body = crate::views::Envelope<RetriedView>, example = json!({"success": true, "data": {
            "eventId": "evt_0193c4f27a1e7c3b9a5d3f2e1d0c4b6b", "queued": true}})),
        (status = 404, description = "No such event on your account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Delivery not found."})),
        (status = 409, description = "The event was delivered, is still being tried, or its endpoint is disabled", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "the event was delivered"})),
    ))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event = id
        .strip_prefix("evt_")
        .filter(|hex| hex.len() == 32)
        .and_then(|hex| hex.parse().ok())
        .map(EventId)
        .ok_or_else(|| ApiError::not_found(DELIVERY_NOT_FOUND))?;
    state
        .api
        .retry_webhook_delivery(account.id, event)
        .await
        .map_err(not_found_as(DELIVERY_NOT_FOUND))?;
    Ok((
        StatusCode::ACCEPTED,
        ok(RetriedView {
            event_id: format!("evt_{}", event.0.simple()),
            queued: true,
        }),
    )
        .into_response())
}
