//! Inbound messages: `GET /inbound` lists what customers sent (stored once per wamid from Meta's webhooks),
//! `GET /inbound/{id}` reads one, `POST /inbound/{id}/read` marks one read (blue ticks), optionally with a typing
//! indicator.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::inbound::{InboundFilter, InboundId, InboundMessage};
use whatsapi_core::send::FieldError;
use whatsapi_core::store::PageRequest;
use whatsapi_core::webhook::format_time;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{
    FromQuery, NoParameters, QueryParams, ValidatedQuery, field_error, unknown_names,
};
use crate::state::AppState;
use crate::views::{PaginationView, ok};

/// Inbound messages; every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_inbound))
        .routes(routes!(mark_read));
    crate::auth::require_api_key(routes, state)
}

/// `GET /inbound` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboundQuery {
    /// Only messages from this customer: their phone number (digits, an optional leading `+` is dropped) or their
    /// business-scoped user id (BSUID, such as `US.13491208655302741918`).
    #[param(value_type = Option<String>, max_length = 256, example = "14155552671")]
    pub contact: Option<String>,
    /// Only this Meta message type: `text`, `image`, `video`, `audio`, `document`, `sticker`, `location`,
    /// `contacts`, `interactive`, `button`, `reaction`, `order`, `edit`, `revoke`, `system`, `unsupported`, …
    #[param(rename = "type", value_type = Option<String>, max_length = 64, example = "text")]
    pub kind: Option<String>,
    /// Only messages sent to this business number of yours: its `phoneNumberId` (`GET /numbers`, the `to` of each
    /// inbound message). Messages stored before whatsapi recorded the number are not listed by it.
    #[param(value_type = Option<String>, max_length = 32, example = "109876543210987")]
    pub to: Option<String>,
    /// Messages per page.
    #[param(required = false, minimum = 1, maximum = 200, default = 20)]
    pub limit: u32,
    /// Page, from 1.
    #[param(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: u32,
}

impl FromQuery for InboundQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        let contact = q.non_blank("contact").and_then(|c| {
            let c = c.strip_prefix('+').unwrap_or(c);
            if c.chars().count() > 256 || c.chars().any(char::is_control) {
                details.push(field_error(
                    "contact",
                    "must be a phone number or a business-scoped user id of at most 256 characters",
                ));
                None
            } else {
                Some(c.to_owned())
            }
        });
        let kind = q.non_blank("type").and_then(|t| {
            if t.len() <= 64 && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                Some(t.to_owned())
            } else {
                details.push(field_error(
                    "type",
                    "must be a Meta message type such as text, image, interactive or reaction",
                ));
                None
            }
        });
        let to = q
            .non_blank("to")
            .and_then(|n| match whatsapi_core::send::check_from(n) {
                Ok(()) => Some(n.to_owned()),
                Err(why) => {
                    details.push(field_error("to", why));
                    None
                }
            });
        Self {
            contact,
            kind,
            to,
            limit: q.number("limit", 20, 1..=200, details),
            page: q.number("page", 1, 1..=1_000_000, details),
        }
    }
}

/// One inbound message: who sent it, what it answers, and what it says.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundView {
    /// whatsapi's id of the inbound message.
    #[schema(example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")]
    pub id: String,
    /// Meta's wamid (each is stored once, however often Meta delivers it).
    #[schema(example = "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=")]
    pub wamid: String,
    /// Meta's message type (`text`, `image`, `interactive`, `reaction`, `system`, …).
    #[serde(rename = "type")]
    #[schema(example = "text")]
    pub kind: String,
    /// The customer's phone number; `null` for a user who hides it behind a username (see `fromUserId`).
    #[schema(example = "14155552671")]
    pub from: Option<String>,
    /// The customer's business-scoped user id (BSUID), when Meta gives one.
    #[schema(example = json!(null))]
    pub from_user_id: Option<String>,
    /// The customer's WhatsApp profile name.
    #[schema(example = "Sarah")]
    pub profile_name: Option<String>,
    /// The customer's WhatsApp username, when they have one.
    #[schema(example = json!(null))]
    pub username: Option<String>,
    /// Your business number the customer wrote to: its `phoneNumberId` (`GET /numbers`; the default number's
    /// too), which read receipts and replies without `from` go out on. `null` when unknown (messages stored before
    /// whatsapi recorded it).
    #[schema(example = "109876543210987")]
    pub to: Option<String>,
    /// That number as Meta's webhook displays it (digits), when given.
    #[schema(example = "15550109876")]
    pub to_display_phone_number: Option<String>,
    /// When the customer sent it (RFC 3339 UTC).
    #[schema(example = "2026-03-28T10:01:40Z")]
    pub timestamp: String,
    /// When whatsapi first received it (RFC 3339 UTC).
    #[schema(example = "2026-03-28T10:01:41.204Z")]
    pub received_at: String,
    /// Your message it replies to (whatsapi's id), when it answers one of yours.
    #[schema(example = "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20")]
    pub reply_to_message_id: Option<String>,
    /// Meta's `context`: `messageId` (the wamid replied to), `from`, `forwarded`, `frequentlyForwarded`, and
    /// `catalogId`/`productRetailerId` for a question about a product; `null` when none.
    #[schema(value_type = Option<Object>, example = json!({"messageId": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
        "from": "15550001234", "forwarded": false, "frequentlyForwarded": false, "catalogId": null, "productRetailerId": null}))]
    pub context: Option<Value>,
    /// The click-to-WhatsApp ad or post the conversation started from (`sourceUrl`, `sourceType`, `headline`,
    /// `ctwaClid`, …); `null` when none.
    #[schema(value_type = Option<Object>, example = json!(null))]
    pub referral: Option<Value>,
    /// What it says, by `content.type`: `text` {body}; `media` {id, mimeType, sha256, caption, filename, voice,
    /// animated} (download with `GET /media/{id}/content`); `location` {latitude, longitude, name, address, url};
    /// `contacts` {contacts}; `button_reply` {id, title}; `list_reply` {id, title, description}; `flow_reply`
    /// {name, body, responseJson}; `button` {payload, text}; `reaction` {messageId, emoji (null: removed)};
    /// `order` {catalogId, text, items}; `edit` {originalMessageId, message}; `revoke` {originalMessageId};
    /// `system` {systemType, body, waId, userId, previousUserId}; `unsupported` {errors, raw (Meta's object of a
    /// type whatsapi does not know)}.
    #[schema(value_type = Object, example = json!({"type": "text", "body": "Hi, is my order ready?"}))]
    pub content: Value,
}

/// Object keys in camelCase (values untouched), except inside `raw` (Meta's object as it came).
fn camel(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if k == "raw" { v } else { camel(v) };
                    let mut out = String::with_capacity(k.len());
                    let mut upper = false;
                    for c in k.chars() {
                        if c == '_' {
                            upper = true;
                        } else if upper {
                            out.extend(c.to_uppercase());
                            upper = false;
                        } else {
                            out.push(c);
                        }
                    }
                    (out, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel).collect()),
        other => other,
    }
}

/// The content with camelCase field names (its `type` values, such as `button_reply`, stay as they are).
fn content_view(m: &InboundMessage) -> Value {
    camel(serde_json::to_value(&m.message.content).unwrap_or(Value::Null))
}

impl InboundView {
    /// The view of a stored inbound message.
    pub fn of(m: &InboundMessage) -> Self {
        let to_value = |v: Option<Value>| v.filter(|v| !v.is_null()).map(camel);
        Self {
            id: m.id.to_string(),
            wamid: m.message.wamid.clone(),
            kind: m.message.kind.clone(),
            from: m.message.from.clone(),
            from_user_id: m.message.from_user_id.clone(),
            profile_name: m.message.profile_name.clone(),
            username: m.message.username.clone(),
            to: m.to.as_ref().map(|t| t.phone_number_id.clone()),
            to_display_phone_number: m.to.as_ref().and_then(|t| t.display_phone_number.clone()),
            timestamp: format_time(&m.message.timestamp),
            received_at: format_time(&m.received_at),
            reply_to_message_id: m.reply_to_message.map(|id| id.to_string()),
            context: to_value(serde_json::to_value(&m.message.context).ok()),
            referral: to_value(serde_json::to_value(&m.message.referral).ok()),
            content: content_view(m),
        }
    }
}

/// `GET /inbound` answer.
#[derive(Serialize, ToSchema)]
pub struct InboundListView {
    /// Always true.
    pub success: bool,
    /// Newest received first.
    pub data: Vec<InboundView>,
    /// Paging.
    pub pagination: PaginationView,
}

/// What customers sent to your numbers, newest first, by contact, type and business number.
///
/// Every message Meta's webhook delivers is stored once per wamid (Meta delivers at least once), from the first
/// one on, even before your account sent anything, with the business number it was sent to (`to`).
#[utoipa::path(get, path = "/inbound", tag = "inbound", operation_id = "listInbound", security(("bearer" = [])),
    params(InboundQuery),
    responses(
        (status = 200, body = InboundListView, example = json!({"success": true, "data": [{
            "id": "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b",
            "wamid": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=", "type": "interactive",
            "from": "14155552671", "fromUserId": null, "profileName": "Sarah", "username": null,
            "to": "109876543210987", "toDisplayPhoneNumber": "15550109876",
            "timestamp": "2026-03-28T10:01:40Z", "receivedAt": "2026-03-28T10:01:41.204Z",
            "replyToMessageId": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20",
            "context": {"messageId": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", "from": "15550001234",
                "forwarded": false, "frequentlyForwarded": false, "catalogId": null, "productRetailerId": null},
            "referral": null, "content": {"type": "button_reply", "id": "confirm", "title": "Yes, confirm"}}],
            "pagination": {"page": 1, "limit": 20, "total": 1, "totalPages": 1}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: type: must be a Meta message type such as text, image, interactive or reaction",
            "details": [{"field": "type", "message": "must be a Meta message type such as text, image, interactive or reaction"}]})),
    ))]
pub async fn list(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<InboundQuery>,
) -> Result<Response, ApiError> {
    let filter = InboundFilter {
        contact: q.contact,
        kind: q.kind,
        to: q.to,
    };
    let page = PageRequest {
        page: q.page,
        limit: q.limit,
    };
    let result = state.api.list_inbound(account.id, &filter, page).await?;
    Ok(axum::Json(InboundListView {
        success: true,
        data: result.items.iter().map(InboundView::of).collect(),
        pagination: PaginationView::of(page, result.total),
    })
    .into_response())
}

const INBOUND_NOT_FOUND: &str = "Inbound message not found.";

/// One inbound message.
#[utoipa::path(get, path = "/inbound/{id}", tag = "inbound", operation_id = "getInbound", security(("bearer" = [])),
    params(("id" = String, Path, description = "whatsapi's id of the inbound message", example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")),
    responses(
        (status = 200, body = crate::views::Envelope<InboundView>, example = json!({"success": true, "data": {
            "id": "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b",
            "wamid": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=", "type": "image",
            "from": "14155552671", "fromUserId": null, "profileName": "Sarah", "username": null,
            "to": "109876543210987", "toDisplayPhoneNumber": "15550109876",
            "timestamp": "2026-03-28T10:01:40Z", "receivedAt": "2026-03-28T10:01:41.204Z", "replyToMessageId": null,
            "context": null, "referral": null,
            "content": {"type": "media", "id": "1037543291543636", "mimeType": "image/jpeg",
                "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "caption": "The receipt",
                "filename": null, "voice": null, "animated": null}}})),
        (status = 404, description = "No such inbound message for this account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Inbound message not found."})),
    ))]
pub async fn get_inbound(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
    ValidatedQuery(NoParameters): ValidatedQuery<NoParameters>,
) -> Result<Response, ApiError> {
    let id: InboundId = id
        .parse()
        .map_err(|_| ApiError::not_found(INBOUND_NOT_FOUND))?;
    let m = state
        .api
        .get_inbound(account.id, id)
        .await
        .map_err(|e| match e {
            whatsapi_core::Error::NotFound(_) => ApiError::not_found(INBOUND_NOT_FOUND),
            other => other.into(),
        })?;
    Ok(ok(InboundView::of(&m)).into_response())
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
/// `{id}` is the inbound message's wamid, as the messages webhook gave it, or whatsapi's id of the stored inbound
/// message (`GET /inbound`; another account's is not found). Meta marks it and every earlier message of the
/// conversation read. The call goes out on the business number the customer wrote to (its `to`, with that
/// number's token); a number you disconnected since is refused (400), connect it again first.
#[utoipa::path(post, path = "/inbound/{id}/read", tag = "inbound", operation_id = "markInboundRead", security(("bearer" = [])),
    params(("id" = String, Path, description = "The inbound message's wamid, or whatsapi's inbound id",
        example = "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=")),
    request_body(content = MarkReadBody, description = "Optional (an empty body is `{}`); `{\"typingIndicator\": true}` also shows a typing indicator",
        example = json!({"typingIndicator": true})),
    responses(
        (status = 200, body = crate::views::Envelope<MarkedReadView>, example = json!({"success": true, "data": {
            "id": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdCOEM5RDBFMUYyQTNCNEM1RAA=", "read": true, "typingIndicator": true}})),
        (status = 400, description = "Neither a wamid nor an inbound id, a bad body, no credentials, the number it was sent to is no longer connected, or Meta refused it", body = crate::views::ErrorView,
            example = json!({"success": false,
                "error": "Validation failed: id: expected the wamid of an inbound message (wamid.…) or whatsapi's inbound id",
                "details": [{"field": "id", "message": "expected the wamid of an inbound message (wamid.…) or whatsapi's inbound id"}]})),
        (status = 404, description = "No inbound message with this id for this account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Inbound message not found."})),
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
    let wamid = state
        .api
        .mark_read(account.id, &id, typing)
        .await
        .map_err(|e| match e {
            whatsapi_core::Error::NotFound(_) => ApiError::not_found(INBOUND_NOT_FOUND),
            other => other.into(),
        })?;
    Ok((
        StatusCode::OK,
        ok(MarkedReadView {
            id: wamid,
            read: true,
            typing_indicator: typing,
        }),
    )
        .into_response())
}
