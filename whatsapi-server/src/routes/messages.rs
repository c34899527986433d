//! Sending, listing, reading and retrying messages, and the analytics summary.

use axum::Extension;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_api::{BulkAccepted, ParsedBulk, Schedule, SendAccepted};
use whatsapi_core::idempotency::IdempotencyKey;
use whatsapi_core::store::{MessageFilter, PageRequest};
use whatsapi_core::{Account, SendRequest};
use whatsapi_saas::Customer;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{JsonBody, MessageIdPath, NoParameters, ValidatedQuery};
use crate::requests::ListQuery;
use crate::state::AppState;
use crate::views::{MessageListView, MessageView, PaginationView, SummaryView, ok};

/// Sending, listing, reading and retrying messages, and the summary; every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(bulk))
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(retry))
        .routes(routes!(analytics));
    crate::auth::require_api_key(routes, state)
}

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
        let plan = req.extensions().get::<Customer>().map(|c| c.plan);
        let (body, key) = body_and_key(req, state).await?;
        let max_items = plan.map_or(0, |p| state.product.bulk_cap(p));
        let now = state.api.clock().now();
        let rules = state.api.send_rules();
        // The plan's cap is checked by core after the idempotency lookup, so a retry of a chunk accepted before the
        // plan went down replays instead of failing; here only the server-wide ceiling bounds the parse.
        let ceiling = state.product.plans().max_bulk_messages;
        let mut parsed = whatsapi_api::parse_bulk_with(&body, now, rules, ceiling, Schedule::Defer)
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
    request_body(content = whatsapi_api::schema::SendMessageBody, description = "`to` (or `recipient`, a BSUID), and one content field: `message` (text), `template` or a field named like Meta's type; optional `context` (reply), `sendAt`, `validitySeconds` (how long it may wait to be sent; a `sendAt` after that expiry is a 400 naming `sendAt`), `metadata`, `dry_run`"),
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

/// Your messages, newest first, with filters and pagination.
#[utoipa::path(get, path = "/messages", tag = "messages", operation_id = "listMessages", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = MessageListView, example = json!({"success": true, "data": [{
            "id": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20", "to": "14155552671",
            "body": "Hi Sarah! Your order #1234 has shipped.", "template": null, "status": "delivered",
            "sentAt": "2026-03-28T10:00:01Z", "deliveredAt": "2026-03-28T10:00:04Z", "readAt": null, "failedAt": null,
            "errorMessage": null, "errorCode": null, "metaError": null, "pricing": null, "metadata": {"orderId": "1234"},
            "scheduledFor": null, "expiresAt": null, "batchId": null, "dryRun": false, "wamid": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTYA",
            "createdAt": "2026-03-28T10:00:00Z", "retryable": false}],
            "pagination": {"page": 1, "limit": 20, "total": 1, "totalPages": 1}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: to: unknown query parameter; expected status, batchId, limit, page",
            "details": [{"field": "to", "message": "unknown query parameter; expected status, batchId, limit, page"}]})),
    ))]
pub async fn list(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = MessageFilter {
        status: q.status,
        batch_id: q.batch_id,
    };
    let page = PageRequest {
        page: q.page,
        limit: q.limit,
    };
    let result = state.api.list_messages(account.id, filter, page).await?;
    Ok(axum::Json(MessageListView {
        success: true,
        data: result
            .items
            .iter()
            .map(|m| MessageView::of(m, false))
            .collect(),
        pagination: PaginationView::of(page, result.total),
    })
    .into_response())
}

/// One message with its full status timeline.
#[utoipa::path(get, path = "/messages/{id}", tag = "messages", operation_id = "getMessage", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id from the send response", example = "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20")),
    responses(
        (status = 200, body = crate::views::Envelope<MessageView>, example = json!({"success": true, "data": {
            "id": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20", "to": "14155552671",
            "body": "Hi Sarah! Your order #1234 has shipped.", "template": null, "type": "text", "caption": null,
            "media": null, "interactive": null, "content": null, "status": "delivered",
            "sentAt": "2026-03-28T10:00:01Z", "deliveredAt": "2026-03-28T10:00:04Z", "readAt": null, "failedAt": null,
            "errorMessage": null, "errorCode": null, "metaError": null, "pricing": null, "metadata": {"orderId": "1234"},
            "timeline": [
                {"status": "queued", "at": "2026-03-28T10:00:00Z"},
                {"status": "sent", "at": "2026-03-28T10:00:01Z"},
                {"status": "delivered", "at": "2026-03-28T10:00:04Z"}
            ],
            "scheduledFor": null, "expiresAt": null, "batchId": null, "dryRun": false, "wamid": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTYA",
            "createdAt": "2026-03-28T10:00:00Z", "retryable": false}})),
        (status = 404, body = crate::views::ErrorView),
    ))]
pub async fn get(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    MessageIdPath(id): MessageIdPath,
) -> Result<Response, ApiError> {
    let message = state.api.get_message(account.id, id).await?;
    Ok(ok(MessageView::of(&message, true)).into_response())
}

/// Queue a failed message again.
#[utoipa::path(post, path = "/messages/{id}/retry", tag = "messages", operation_id = "retryMessage", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id", example = "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20")),
    responses(
        (status = 202, description = "Queued again", body = crate::views::Envelope<MessageView>, example = json!({"success": true, "data": {
            "id": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20", "to": "14155552671",
            "body": "Hi Sarah! Your order #1234 has shipped.", "template": null, "status": "queued",
            "sentAt": null, "deliveredAt": null, "readAt": null, "failedAt": null, "errorMessage": null, "errorCode": null,
            "metaError": null, "pricing": null, "metadata": {"orderId": "1234"},
            "timeline": [
                {"status": "queued", "at": "2026-03-28T10:00:00Z"},
                {"status": "failed", "at": "2026-03-28T10:00:02Z", "detail": "(#131047) Re-engagement message"},
                {"status": "queued", "at": "2026-03-28T11:30:00Z"}
            ],
            "scheduledFor": null, "expiresAt": null, "batchId": null, "dryRun": false, "wamid": null,
            "createdAt": "2026-03-28T10:00:00Z", "retryable": false}})),
        (status = 404, body = crate::views::ErrorView),
        (status = 409, description = "Only failed messages can be retried", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "message is delivered; only failed messages can be retried"})),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    MessageIdPath(id): MessageIdPath,
) -> Result<Response, ApiError> {
    let message = state.api.retry(account.id, id).await?;
    Ok((StatusCode::ACCEPTED, ok(MessageView::of(&message, true))).into_response())
}

fn two_decimals(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Delivery statistics of your account.
#[utoipa::path(get, path = "/analytics/summary", tag = "analytics", operation_id = "getAnalyticsSummary", security(("bearer" = [])),
    responses(
        (status = 200, body = crate::views::Envelope<SummaryView>, example = json!({"success": true, "data": {
            "total": 1042, "byStatus": {"delivered": 980, "failed": 52, "sent": 10}, "deliveryRate": 0.94, "failureRate": 0.05,
            "byPricingCategory": {"marketing": 700, "utility": 250, "service": 40},
            "byPricingType": {"regular": 950, "free_customer_service": 40}}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: since: unknown query parameter; this endpoint takes no query parameters",
            "details": [{"field": "since", "message": "unknown query parameter; this endpoint takes no query parameters"}]})),
    ))]
pub async fn analytics(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(NoParameters): ValidatedQuery<NoParameters>,
) -> Result<Response, ApiError> {
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
        by_pricing_category: s.by_pricing_category,
        by_pricing_type: s.by_pricing_type,
    })
    .into_response())
}
