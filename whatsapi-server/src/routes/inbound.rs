//! Inbound messages: `POST /inbound/{id}/read` marks one read (blue ticks), optionally with a typing indicator.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{field_error, unknown_names};
use crate::state::AppState;
use crate::views::ok;

/// Inbound messages; every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    crate::auth::require_api_key(OpenApiRouter::new().routes(routes!(mark_read)), state)
}

/// The optional body of `POST /inbound/{id}/read`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"typingIndicator": true}))]
pub struct MarkReadBody {
    /// Also show the customer a typing indicator (until your reply, 25 seconds at most). Default false.
    #[serde(rename = "typingIndicator")]
    pub typing_indicator: Option<bool>,
}

/// The answer of `POST /inbound/{id}/read`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkedReadView {
    /// The inbound message's wamid.
    #[schema(example = "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=")]
    pub id: String,
    /// Always true once Meta accepted the call.
    #[schema(example = true)]
    pub read: bool,
    /// Whether a typing indicator was asked for.
    #[schema(example = true)]
    pub typing_indicator: bool,
}

/// `typingIndicator` from an optional JSON body (empty means false).
fn typing_indicator(body: &[u8]) -> Result<bool, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::validation(vec![field_error(
            "body",
            "must be empty or a JSON object such as {\"typingIndicator\": true}",
        )]));
    };
    let mut details = Vec::new();
    unknown_names(map.keys(), &["typingIndicator"], "field", &mut details);
    let value = match map.get("typingIndicator") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            details.push(field_error("typingIndicator", "must be a boolean"));
            false
        }
    };
    if details.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::validation(details))
    }
}

/// Mark an inbound message read, optionally showing a typing indicator.
///
/// `{id}` is the inbound message's wamid, as the messages webhook gave it (whatsapi's own inbound ids arrive with
/// stored inbound messages). Meta marks it and every earlier message of the conversation read.
#[utoipa::path(post, path = "/inbound/{id}/read", tag = "inbound", operation_id = "markInboundRead", security(("bearer" = [])),
    params(("id" = String, Path, description = "The inbound message's wamid",
        example = "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=")),
    request_body(content = MarkReadBody, description = "Optional (an empty body is `{}`); `{\"typingIndicator\": true}` also shows a typing indicator",
        example = json!({"typingIndicator": true})),
    responses(
        (status = 200, body = crate::views::Envelope<MarkedReadView>, example = json!({"success": true, "data": {
            "id": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=", "read": true, "typingIndicator": true}})),
        (status = 400, description = "Not a wamid, a bad body, no credentials, or Meta refused it", body = crate::views::ErrorView,
            example = json!({"success": false,
                "error": "Validation failed: id: expected the wamid of an inbound message (wamid.…), as the messages webhook gave it",
                "details": [{"field": "id", "message": "expected the wamid of an inbound message (wamid.…), as the messages webhook gave it"}]})),
        (status = 502, description = "Meta failed the call", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "WhatsApp failed the call: Meta answered HTTP 500"})),
    ))]
pub async fn mark_read(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let typing = typing_indicator(&body)?;
    state.api.mark_read(account.id, &id, typing).await?;
    Ok((
        StatusCode::OK,
        ok(MarkedReadView {
            id,
            read: true,
            typing_indicator: typing,
        }),
    )
        .into_response())
}
