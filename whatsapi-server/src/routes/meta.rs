//! Meta's webhook: the subscription handshake and delivery receipts / inbound messages.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq as _;
use whatsapi_core::service::MetaWebhookAuth;

use crate::app::AppState;
use crate::error::ApiError;

/// Meta's subscription check: answers `hub.challenge` when the verify token matches.
#[utoipa::path(get, path = "/webhooks/whatsapp", tag = "meta",
    params(
        ("hub.mode" = String, Query, description = "subscribe"),
        ("hub.verify_token" = String, Query, description = "The verify token set in Meta's console"),
        ("hub.challenge" = String, Query, description = "Echoed back on success"),
    ),
    responses(
        (status = 200, description = "The challenge, as plain text", body = String, content_type = "text/plain"),
        (status = 403, description = "Wrong mode or token", body = crate::views::ErrorView),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mode = q.get("hub.mode").map(String::as_str);
    let token = q
        .get("hub.verify_token")
        .map(String::as_str)
        .unwrap_or_default();
    let challenge = q.get("hub.challenge").cloned().unwrap_or_default();
    let expected = state
        .settings
        .meta_verify_token
        .as_deref()
        .unwrap_or_default();
    let matches = !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()));
    if mode == Some("subscribe") && matches {
        return (StatusCode::OK, [("content-type", "text/plain")], challenge).into_response();
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "Verification failed: hub.mode must be subscribe and hub.verify_token must match.",
    )
    .into_response()
}

/// Delivery statuses and inbound messages from Meta, checked with `X-Hub-Signature-256`.
#[utoipa::path(post, path = "/webhooks/whatsapp", tag = "meta",
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=HMAC of the raw body with the app secret")),
    request_body(content = Object, description = "Meta's webhook payload (object whatsapp_business_account)"),
    responses(
        (status = 200, description = "Applied"),
        (status = 400, description = "Not a WhatsApp webhook payload", body = crate::views::ErrorView),
        (status = 401, description = "Missing or wrong signature; nothing applied", body = crate::views::ErrorView),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let auth = MetaWebhookAuth {
        signature,
        server_app_secret: state.settings.meta_app_secret.as_deref(),
        allow_unsigned: state.settings.allow_unsigned_meta_webhooks,
    };
    let report = state.api.ingest_meta_webhook(&body, auth).await?;
    Ok(axum::Json(json!({
        "success": true,
        "data": {"applied": report.applied, "ignored": report.ignored, "pending": report.pending, "inbound": report.inbound}
    }))
    .into_response())
}
