//! `POST /sandbox/inbound`: in `--sandbox` mode, a customer writes in (opening the 24-hour window): a text, or
//! any message of Meta's (`message`), from a phone number or a business-scoped user id.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::phone::PhoneNumber;
use whatsapi_core::recipient::UserId;
use whatsapi_core::send::FieldError;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{Field, RequestBody, ValidatedJson, field_error};
use crate::state::AppState;
use crate::views::ok;

/// `POST /sandbox/inbound` (API key required; answers 404 unless the server runs with `--sandbox`).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    crate::auth::require_api_key(OpenApiRouter::new().routes(routes!(inbound)), state)
}

/// `POST /sandbox/inbound` body: `from` and either `text` or `message`.
#[derive(Deserialize, ToSchema)]
pub struct InboundRequest {
    /// The customer's WhatsApp number, digits only (an optional leading `+` is dropped), or the business-scoped
    /// user id of a customer behind a username (the webhook then has `from_user_id` and no `from`, as Meta's).
    #[schema(value_type = String, pattern = r"^\s*(\+?[1-9][0-9]{7,14}|[A-Z]{2}\.[A-Za-z0-9]{1,128})\s*$", example = "14155552671")]
    pub from: Field<String>,
    /// What the customer writes, 1 to 4096 characters (a text message).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096, pattern = r"\S", example = "hi")]
    pub text: Field<String>,
    /// Instead of `text`: any message as Meta's webhook carries it, without sender, id and timestamp, e.g.
    /// `{"type": "location", "location": {"latitude": 52.52, "longitude": 13.40}}`, an interactive
    /// `button_reply`, a `reaction`, a `system` message; add `context` to reply to one of your messages.
    #[schema(value_type = Option<Object>, example = json!({"type": "interactive", "interactive": {"type": "button_reply",
        "button_reply": {"id": "yes", "title": "Yes"}}}))]
    pub message: Field<serde_json::Value>,
    /// Your business number the customer writes to: the `phoneNumberId` of one of your numbers (`GET /numbers`);
    /// absent: your default number.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,32}$", example = "109876543210987")]
    pub to: Field<String>,
}

const NOT_A_NUMBER: &str = "must be the Phone Number ID of one of your business numbers (see GET /numbers), or absent for the default number";

/// A customer's message, checked.
pub struct CustomerMessage {
    /// The customer's number (E.164 digits) or BSUID.
    pub from: String,
    /// What they write, for a text.
    pub text: Option<String>,
    /// Meta's message object otherwise.
    pub message: Option<serde_json::Value>,
    /// The business number written to (a phone number id); `None`: the default number.
    pub to: Option<String>,
}

/// Meta's message object, checked: an object whose `type` names a type (the rest is Meta's and passed on).
fn check_message(v: serde_json::Value, details: &mut Vec<FieldError>) -> Option<serde_json::Value> {
    let kind = v
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if !v.is_object()
        || kind.is_empty()
        || kind.len() > 64
        || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        details.push(field_error(
            "message",
            "must be Meta's message object with its type, e.g. {\"type\": \"reaction\", \"reaction\": {\"message_id\": \"wamid…\", \"emoji\": \"👍\"}}",
        ));
        return None;
    }
    Some(v)
}

impl RequestBody for InboundRequest {
    type Valid = CustomerMessage;
    const NOT_AN_OBJECT: Option<&'static str> =
        Some("must be a JSON object with from and text (or message)");
    const FIELDS: Option<&'static [&'static str]> = Some(&["from", "text", "message", "to"]);

    fn validate(self) -> Result<CustomerMessage, Vec<FieldError>> {
        let mut details = Vec::new();
        let from = match self.from {
            // The same rule as a send's `to`; a leading `+` is forgiven here (it is only the emulator's input).
            Field::Given(f) => {
                let f = f.trim();
                match UserId::parse(f) {
                    Ok(user) => Some(user.as_str().to_owned()),
                    Err(_) => PhoneNumber::parse(f.strip_prefix('+').unwrap_or(f))
                        .map(|p| p.as_str().to_owned())
                        .map_err(|e| details.push(field_error("from", e.message())))
                        .ok(),
                }
            }
            Field::Absent | Field::WrongType => {
                details.push(field_error(
                    "from",
                    "is required: the customer's number, e.g. 14155552671",
                ));
                None
            }
        };
        let (text, message) = match (self.text, self.message) {
            (Field::Absent, Field::Given(m)) => (None, check_message(m, &mut details)),
            (Field::Absent, Field::WrongType) => {
                details.push(field_error("message", "must be Meta's message object"));
                (None, None)
            }
            (Field::Given(_) | Field::WrongType, Field::Given(_) | Field::WrongType) => {
                details.push(field_error(
                    "message",
                    "give either text or message, not both",
                ));
                (None, None)
            }
            (Field::Given(t), Field::Absent)
                if !t.trim().is_empty() && t.chars().count() <= 4096 =>
            {
                (Some(t), None)
            }
            _ => {
                details.push(field_error(
                    "text",
                    "is required: a string of 1 to 4096 characters",
                ));
                (None, None)
            }
        };
        let to = match self.to {
            Field::Absent => None,
            Field::Given(n)
                if !n.is_empty() && n.len() <= 32 && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(n)
            }
            Field::Given(_) | Field::WrongType => {
                details.push(field_error("to", NOT_A_NUMBER));
                None
            }
        };
        match (from, text, message) {
            (Some(from), text, message)
                if details.is_empty() && (text.is_some() || message.is_some()) =>
            {
                Ok(CustomerMessage {
                    from,
                    text,
                    message,
                    to,
                })
            }
            _ => Err(details),
        }
    }
}

/// What the emulator sent.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxInboundView {
    /// The customer (WhatsApp id).
    pub from: String,
    /// The message type sent (`text` for a text).
    #[serde(rename = "type")]
    pub kind: String,
    /// What they wrote, for a text; `null` for a `message`.
    pub text: Option<String>,
    /// The inbound message's wamid, as in the webhook.
    pub wamid: String,
    /// Your business number the customer wrote to (your account's phone number id).
    pub phone_number_id: String,
    /// Free-form text to this customer is allowed until then (RFC 3339 UTC).
    pub window_open_until: String,
}

/// Sandbox mode only: simulate a customer writing to your number. The emulator posts a signed Meta inbound-message
/// webhook (`entry[].changes[].value.messages[]`, `X-Hub-Signature-256`) to this server exactly as Meta would; this
/// opens the customer's 24-hour window, so free-form `message` text to them no longer fails with 131047. Send
/// `text`, or any type with `message` (Meta's message object: media, location, interactive replies, reactions,
/// `system`, …); `from` may be a BSUID for a customer behind a username; `to` picks which of your numbers they
/// write to (default: the default number). The message appears in `GET /inbound`.
#[utoipa::path(post, path = "/sandbox/inbound", tag = "sandbox", operation_id = "simulateInboundMessage", security(("bearer" = [])),
    request_body(content = InboundRequest, example = json!({"from": "14155552671", "text": "Hi, is my order ready?"})),
    responses(
        (status = 200, description = "The webhook was sent and accepted", body = crate::views::Envelope<SandboxInboundView>,
            example = json!({"success": true, "data": {"from": "14155552671", "type": "text", "text": "Hi, is my order ready?",
                "wamid": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUI0RjE2QzE5RDc0OEQ1QkE2NQA=", "phoneNumberId": "900000000000042",
                "windowOpenUntil": "2026-03-29T10:00:00Z"}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: text: is required: a string of 1 to 4096 characters",
            "details": [{"field": "text", "message": "is required: a string of 1 to 4096 characters"}]})),
        (status = 404, description = "The server is not in sandbox mode", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "POST /sandbox/inbound exists only when the server runs with --sandbox."})),
        (status = 409, description = "Set your credentials first", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Set your WhatsApp credentials first (PUT /auth/me/credentials, or the console's guided setup)."})),
        (status = 502, description = "The webhook was not accepted", body = crate::views::ErrorView),
    ))]
pub async fn inbound(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    body: Result<ValidatedJson<InboundRequest>, ApiError>,
) -> Result<Response, ApiError> {
    // Outside sandbox mode the route does not exist, whatever the body.
    let customers = sandbox_customers(&state)?;
    let ValidatedJson(CustomerMessage {
        from,
        text,
        message,
        to,
    }) = body?;
    let phone_number_id = match to {
        // One of the account's numbers, so the webhook comes back to this account.
        Some(to) => match state.api.number(&account, &to).await {
            Ok(n) => n.phone_number_id,
            Err(whatsapi_core::Error::NotFound(_)) => {
                return Err(ApiError::validation(vec![field_error("to", NOT_A_NUMBER)]));
            }
            Err(e) => return Err(e.into()),
        },
        None => business_number(&account)?,
    };
    let message = message.unwrap_or_else(
        || serde_json::json!({"type": "text", "text": {"body": text.clone().unwrap_or_default()}}),
    );
    let kind = message["type"].as_str().unwrap_or("text").to_owned();
    let wamid = customers
        .send(&phone_number_id, &from, &message)
        .await
        .map_err(not_delivered)?;
    let until = state.api.clock().now()
        + chrono::TimeDelta::from_std(customers.service_window()).unwrap_or_default();
    tracing::info!(%wamid, %phone_number_id, "sandbox: customer wrote in");
    let window_open_until = whatsapi_core::webhook::format_time(&until);
    Ok(ok(SandboxInboundView {
        from,
        kind,
        text,
        wamid,
        phone_number_id,
        window_open_until,
    })
    .into_response())
}

/// The account's business number, which the simulated customer writes to.
fn business_number(account: &whatsapi_core::Account) -> Result<String, ApiError> {
    match &account.credentials {
        Some(credentials) => Ok(credentials.phone_number_id.clone()),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "Set your WhatsApp credentials first (PUT /auth/me/credentials, or the console's guided setup).",
        )),
    }
}

fn not_delivered(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        format!("The sandbox could not deliver the inbound webhook: {e}"),
    )
}

fn sandbox_customers(state: &AppState) -> Result<whatsapi_sandbox::Customers, ApiError> {
    state
        .settings
        .sandbox
        .as_ref()
        .and_then(|s| s.customers.clone())
        .ok_or_else(|| {
            ApiError::not_found(
                "POST /sandbox/inbound exists only when the server runs with --sandbox.",
            )
        })
}
