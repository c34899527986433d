//! The dashboard's own API (messages over time, webhook delivery attempts, setup facts) and its embedded assets.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::send::FieldError;
use whatsapi_core::service::Bucket;
use whatsapi_core::webhook::format_time;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{FromQuery, QueryParams, ValidatedQuery, field_error};
use crate::state::AppState;
use crate::views::{MessageStatus, ok};

/// The dashboard's API: every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::with_openapi(Schemas::openapi())
        .routes(routes!(timeseries))
        .routes(routes!(deliveries))
        .routes(routes!(setup));
    crate::auth::require_api_key(routes, state)
}

/// Schemas that only a query parameter refers to (parameters do not register theirs).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(BucketName)))]
struct Schemas;

/// The dashboard's page and files (`/app`, `/app/...`), and `/` sending the browser there. Not part of the API
/// document.
pub fn assets<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/app") }),
        )
        .route("/app", axum::routing::get(index))
        .route("/app/", axum::routing::get(index))
        .route("/app/{*path}", axum::routing::get(asset))
}

/// One point of the series.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPointView {
    /// Start of the bucket (RFC 3339 UTC).
    pub start: String,
    /// Messages created in the bucket.
    pub total: u64,
    /// Their current status counts (statuses with none left out).
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub by_status: Map<String, Value>,
}

/// Messages over time.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesView {
    /// `hour` or `day`.
    pub bucket: String,
    /// Oldest first; every bucket of the period, empty ones too.
    pub points: Vec<SeriesPointView>,
}

/// `GET /analytics/timeseries` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Period ending now, in days.
    #[param(required = false, minimum = 1, maximum = 90, default = 7)]
    pub days: u32,
    /// Bucket size; by default `hour` up to 2 days, else `day`.
    #[param(value_type = Option<BucketName>)]
    pub bucket: Bucket,
}

/// Bucket size of a series.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum BucketName {
    /// One point per hour.
    Hour,
    /// One point per day.
    Day,
}

impl FromQuery for SeriesQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        let days = q.number("days", 7, 1..=90, details);
        let bucket = match q.get("bucket") {
            None if days <= 2 => Bucket::Hour,
            None => Bucket::Day,
            Some("hour") => Bucket::Hour,
            Some("day") => Bucket::Day,
            Some(_) => {
                details.push(field_error("bucket", "must be hour or day"));
                Bucket::Day
            }
        };
        Self { days, bucket }
    }
}

/// Messages created per hour or day over the last days, split by their current status (for charts).
#[utoipa::path(get, path = "/analytics/timeseries", tag = "analytics", operation_id = "getAnalyticsTimeseries", security(("bearer" = [])),
    params(SeriesQuery),
    responses(
        (status = 200, body = crate::views::Envelope<SeriesView>, example = json!({"success": true, "data": {"bucket": "day", "points": [
            {"start": "2026-03-27T00:00:00Z", "total": 0, "byStatus": {}},
            {"start": "2026-03-28T00:00:00Z", "total": 3, "byStatus": {"delivered": 2, "failed": 1}}
        ]}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: days: must be a whole number from 1 to 90",
            "details": [{"field": "days", "message": "must be a whole number from 1 to 90"}]})),
    ))]
pub async fn timeseries(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<SeriesQuery>,
) -> Result<Response, ApiError> {
    let span = std::time::Duration::from_secs(u64::from(q.days) * 86_400);
    let points = state.api.message_series(account.id, span, q.bucket).await?;
    Ok(ok(SeriesView {
        bucket: q.bucket.as_str().to_owned(),
        points: points
            .into_iter()
            .map(|p| SeriesPointView {
                start: format_time(&p.start),
                total: p.counts.values().sum(),
                by_status: p
                    .counts
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(s, n)| (s.as_str().to_owned(), Value::from(*n)))
                    .collect(),
            })
            .collect(),
    })
    .into_response())
}

/// One delivery attempt of an event to your webhook or an endpoint.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The event (`webhook-id` header).
    pub event_id: String,
    /// The event type: `message.status_updated`, `message.received`, `template.status_updated`,
    /// `template.quality_updated` or `template.category_updated`.
    #[schema(example = "message.status_updated")]
    pub event: String,
    /// The message of a `message.status_updated` event; null for other event types.
    pub message_id: Option<String>,
    /// The status a `message.status_updated` event announced; null for other event types.
    pub status: Option<MessageStatus>,
    /// Where it was sent.
    pub url: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Your endpoint's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// `GET /auth/me/webhook/deliveries` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Attempts to return.
    #[param(required = false, minimum = 1, maximum = 200, default = 20)]
    pub limit: u32,
}

impl FromQuery for DeliveriesQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        Self {
            limit: q.number("limit", 20, 1..=200, details),
        }
    }
}

/// Your webhook's latest delivery attempts, newest first.
#[utoipa::path(get, path = "/auth/me/webhook/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries", security(("bearer" = [])),
    params(DeliveriesQuery),
    responses(
        (status = 200, body = crate::views::Envelope<Vec<DeliveryView>>, example = json!({"success": true, "data": [{
            "eventId": "evt_0193c4f27a1e7c3b9a5d3f2e1d0c4b6a", "event": "message.status_updated",
            "messageId": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20",
            "status": "delivered", "url": "https://yourapp.com/webhooks/whatsapi", "at": "2026-03-28T10:00:04Z",
            "httpStatus": 200, "error": null, "durationMs": 87},
            {"eventId": "evt_0193c4f27a1e7c3b9a5d3f2e1d0c4b6c", "event": "message.received", "messageId": null,
            "status": null, "url": "https://yourapp.com/webhooks/whatsapi", "at": "2026-03-28T10:00:02Z",
            "httpStatus": 200, "error": null, "durationMs": 64}]})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: limit: must be a whole number from 1 to 200",
            "details": [{"field": "limit", "message": "must be a whole number from 1 to 200"}]})),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<DeliveriesQuery>,
) -> Result<Response, ApiError> {
    let attempts = state.api.webhook_deliveries(account.id, q.limit).await?;
    Ok(ok(attempts
        .into_iter()
        .map(DeliveryView::of)
        .collect::<Vec<_>>())
    .into_response())
}

impl DeliveryView {
    /// The view of a recorded attempt.
    pub fn of(a: whatsapi_core::webhook::DeliveryAttempt) -> Self {
        DeliveryView {
            event_id: format!("evt_{}", a.event_id.0.simple()),
            event: a.event_type.as_str().to_owned(),
            message_id: a.message_id.map(|m| m.to_string()),
            status: a.status.map(Into::into),
            url: a.url,
            at: format_time(&a.at),
            http_status: a.http_status,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// What to paste into Meta's console, and whether this server talks to the sandbox.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetupView {
    /// Meta's webhook callback URL for this server.
    pub callback_url: String,
    /// The verify token Meta must send (null when the server has none configured).
    pub verify_token: Option<String>,
    /// Messages go to the in-process emulator, not to WhatsApp.
    pub sandbox: bool,
}

/// Facts for the guided setup: callback URL, verify token, sandbox mode.
#[utoipa::path(get, path = "/auth/me/setup", tag = "account", operation_id = "getSetup", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<SetupView>, example = json!({"success": true, "data": {
        "callbackUrl": "https://whatsapi.example.com/webhooks/whatsapp", "verifyToken": "my-verify-token", "sandbox": false}}))))]
pub async fn setup(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|_| state.settings.trust_forwarded_for)
        .unwrap_or("http");
    ok(SetupView {
        callback_url: format!("{scheme}://{host}/webhooks/whatsapp"),
        verify_token: state.settings.meta_verify_token.clone(),
        sandbox: state.settings.sandbox.is_some(),
    })
    .into_response()
}

/// The dashboard's files, built into the binary.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
];

/// `GET /app`: the dashboard page.
pub async fn index() -> Response {
    serve_asset("index.html")
}

/// `GET /app/{file}`: a file of the dashboard; other paths get the page (it routes on the client).
pub async fn asset(Path(name): Path<String>) -> Response {
    serve_asset(&name)
}

fn serve_asset(name: &str) -> Response {
    let (_, mime, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or(&ASSETS[0]);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, *mime),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *body,
    )
        .into_response()
}
