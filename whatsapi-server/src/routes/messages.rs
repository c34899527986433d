//! Sending, listing, reading and retrying messages, and the analytics summary.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use whatsapi_api::{BulkAccepted, ParsedBulk, Schedule, SendAccepted};
use whatsapi_core::idempotency::IdempotencyKey;
use whatsapi_core::send::FieldError;
use whatsapi_core::store::{MessageFilter, PageRequest};
use whatsapi_core::{Account, SendRequest, Status};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, MessageIdPath};
use crate::views::{MessageListView, MessageView, PaginationView, SummaryView, ok};

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "Invalid Idempotency-Key header: use 1 to 255 visible ASCII characters, e.g. order-1234-shipped.",
        )
    };
    let s = raw.to_str().map_err(|_| invalid())?;
    IdempotencyKey::parse(s).map(Some).map_err(|_| invalid())
}

/// The JSON body (malformed JSON is answered first) and the `Idempotency-Key` header of a send.
async fn body_and_key(
    req: Request,
    state: &AppState,
) -> Result<(Value, Option<IdempotencyKey>), ApiError> {
    let key = idempotency_key(req.headers());
    let JsonBody(body) = JsonBody::from_request(req, state).await?;
    Ok((body, key?))
}

/// A `POST /send-message` body read by whatsapi-api into a typed request carrying the `Idempotency-Key`. A
/// `sendAt` that only the clock refuses is left to core, which judges it after the key's lookup (so a repeat of an
/// accepted request replays).
pub struct SendBody(pub SendRequest);

impl FromRequest<AppState> for SendBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (body, key) = body_and_key(req, state).await?;
        let now = state.api.clock().now();
        let request =
            whatsapi_api::parse_send_with(&body, now, state.api.send_rules(), Schedule::Defer)
                .map_err(|e| ApiError::validation(e.0))?;
        Ok(SendBody(match key {
            Some(key) => request.idempotency_key(key),
            None => request,
        }))
    }
}

/// A `POST /messages/bulk` body read by whatsapi-api, with the item cap of the account's plan.
pub struct BulkBody {
    /// The typed request and which items the parse refused.
    pub parsed: ParsedBulk,
    /// The most items the account's plan allows in one request.
    pub max_items: usize,
}

impl FromRequest<AppState> for BulkBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let plan = req.extensions().get::<Account>().map(|a| a.plan);
        let (body, key) = body_and_key(req, state).await?;
        let max_items = plan.map_or(0, |p| state.api.plans().effective_bulk_cap(p));
        let now = state.api.clock().now();
        let rules = state.api.send_rules();
        let mut parsed =
            whatsapi_api::parse_bulk_with(&body, now, rules, max_items, Schedule::Defer)
                .map_err(|e| ApiError::validation(e.0))?;
        if let Some(key) = key {
            parsed.request = std::mem::take(&mut parsed.request).idempotency_key(key);
        }
        Ok(BulkBody { parsed, max_items })
    }
}

fn accepted<T: serde::Serialize>(replayed: bool, data: T) -> Response {
    let mut resp = (StatusCode::ACCEPTED, ok(data)).into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    resp
}

/// Queue one message (text or template). Answers 202 at once; delivery is asynchronous.
#[utoipa::path(post, path = "/send-message", tag = "messages", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h instead of sending twice")),
    request_body(content = whatsapi_api::schema::SendMessageBody, description = "`to`, and `message` (text) or `template`; optional `sendAt`, `metadata`, `dry_run`"),
    responses(
        (status = 202, description = "Queued (or scheduled)", body = crate::views::Envelope<SendAccepted>,
            headers(("Idempotency-Replayed" = String, description = "true when this is a replay"))),
        (status = 400, description = "Validation failed; see details", body = crate::views::ErrorView),
        (status = 409, description = "Idempotency-Key reused with another body, or still in flight", body = crate::views::ErrorView),
        (status = 413, description = "Body too large", body = crate::views::ErrorView),
        (status = 429, description = "Rate limit", body = crate::views::ErrorView),
        (status = 503, description = "Sending paused after repeated Meta errors; see Retry-After", body = crate::views::ErrorView),
    ))]
pub async fn send(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    SendBody(request): SendBody,
) -> Result<Response, ApiError> {
    let queued = state
        .api
        .send(&account, request)
        .await
        .map_err(whatsapi_api::send_error)?;
    Ok(accepted(queued.replayed, SendAccepted::from(&queued)))
}

/// Queue many messages in one request; each item is validated on its own.
#[utoipa::path(post, path = "/messages/bulk", tag = "messages", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    request_body(content = whatsapi_api::schema::BulkSendBody, description = "`{\"messages\": [...]}`, each item like a single send"),
    responses(
        (status = 202, body = crate::views::Envelope<BulkAccepted>),
        (status = 400, description = "Not a list, empty, over the plan's cap, or every item invalid", body = crate::views::ErrorView),
        (status = 409, body = crate::views::ErrorView),
        (status = 413, body = crate::views::ErrorView),
        (status = 503, body = crate::views::ErrorView),
    ))]
pub async fn bulk(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    BulkBody {
        mut parsed,
        max_items,
    }: BulkBody,
) -> Result<Response, ApiError> {
    let request = std::mem::take(&mut parsed.request);
    let out = state
        .api
        .send_bulk(&account, request, max_items)
        .await
        .map_err(|e| parsed.json_error(e))?;
    Ok(accepted(out.replayed, parsed.accepted(&out)))
}

fn parse_number(
    q: &HashMap<String, String>,
    name: &str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
    details: &mut Vec<FieldError>,
) -> u32 {
    match q.get(name) {
        None => default,
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                details.push(FieldError {
                    field: name.to_owned(),
                    message: format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                });
                default
            }
        },
    }
}

/// Your messages, newest first, with filters and pagination.
#[utoipa::path(get, path = "/messages", tag = "messages", security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "queued, scheduled, processing, retrying, sent, delivered, read or failed"),
        ("batchId" = Option<String>, Query, description = "Only messages of this bulk request"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 20"),
        ("page" = Option<u32>, Query, description = "From 1, default 1"),
    ),
    responses((status = 200, body = MessageListView), (status = 400, body = crate::views::ErrorView)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut details = Vec::new();
    crate::extract::unknown_query_parameters(
        &q,
        &["status", "batchId", "limit", "page"],
        &mut details,
    );
    let status = match q.get("status").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<Status>() {
            Ok(st) => Some(st),
            Err(e) => {
                details.push(FieldError {
                    field: "status".into(),
                    message: e.to_string(),
                });
                None
            }
        },
    };
    let batch_id = match q.get("batchId").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse() {
            Ok(b) => Some(b),
            Err(_) => {
                details.push(FieldError {
                    field: "batchId".into(),
                    message: "must be the batchId returned by POST /messages/bulk".into(),
                });
                None
            }
        },
    };
    let limit = parse_number(&q, "limit", 20, 1..=200, &mut details);
    let page = parse_number(&q, "page", 1, 1..=1_000_000, &mut details);
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    let result = state
        .api
        .list_messages(
            account.id,
            MessageFilter { status, batch_id },
            PageRequest { page, limit },
        )
        .await?;
    let total_pages = result.total.div_ceil(u64::from(limit));
    Ok(axum::Json(MessageListView {
        success: true,
        data: result
            .items
            .iter()
            .map(|m| MessageView::of(m, false))
            .collect(),
        pagination: PaginationView {
            page,
            limit,
            total: result.total,
            total_pages,
        },
    })
    .into_response())
}

/// One message with its full status timeline.
#[utoipa::path(get, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id from the send response")),
    responses((status = 200, body = crate::views::Envelope<MessageView>), (status = 404, body = crate::views::ErrorView)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    MessageIdPath(id): MessageIdPath,
) -> Result<Response, ApiError> {
    let message = state.api.get_message(account.id, id).await?;
    Ok(ok(MessageView::of(&message, true)).into_response())
}

/// Queue a failed message again.
#[utoipa::path(post, path = "/messages/{id}/retry", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 202, description = "Queued again", body = crate::views::Envelope<MessageView>),
        (status = 404, body = crate::views::ErrorView),
        (status = 409, description = "Only failed messages can be retried", body = crate::views::ErrorView),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    MessageIdPath(id): MessageIdPath,
) -> Result<Response, ApiError> {
    let message = state.api.retry(account.id, id).await?;
    Ok((StatusCode::ACCEPTED, ok(MessageView::of(&message, true))).into_response())
}

fn two_decimals(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Delivery statistics of your account.
#[utoipa::path(get, path = "/analytics/summary", tag = "analytics", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<SummaryView>), (status = 400, body = crate::views::ErrorView)))]
pub async fn analytics(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut details = Vec::new();
    crate::extract::unknown_query_parameters(&q, &[], &mut details);
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    let s = state.api.analytics(account.id).await?;
    let by_status: Map<String, Value> = s
        .by_status
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(st, n)| (st.as_str().to_owned(), Value::from(*n)))
        .collect();
    Ok(ok(SummaryView {
        total: s.total,
        by_status,
        delivery_rate: two_decimals(s.delivery_rate),
        failure_rate: two_decimals(s.failure_rate),
    })
    .into_response())
}
