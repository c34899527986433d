//! Meta's webhook: the subscription handshake and delivery receipts / inbound messages.

use axum::body::Bytes;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::send::FieldError;
use whatsapi_core::service::MetaWebhookAuth;

use crate::error::ApiError;
use crate::extract::{FromQuery, QueryParams, ValidatedQuery};
use crate::state::AppState;
use crate::views::ok;

/// Most bytes of one webhook POST from Meta (Meta's payloads are up to a few MB), on this route only (the router
/// sets it with `DefaultBodyLimit` on this route, over the server-wide limit).
pub const META_BODY_LIMIT: usize = 3 * 1024 * 1024;

/// Meta's webhook (public: checked with the verify token and `X-Hub-Signature-256`), with its own body cap over the
/// server-wide one.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify, receive))
        .layer(axum::extract::DefaultBodyLimit::max(META_BODY_LIMIT))
}

/// The query of Meta's subscription check. Missing parameters fail the check (403) rather than the request (400),
/// and parameters Meta may add are ignored.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    /// `subscribe`.
    #[param(rename = "hub.mode", value_type = String, required = true, example = "subscribe")]
    pub mode: Option<String>,
    /// The verify token set in Meta's console: the server's, or an account's own `whatsappVerifyToken`.
    #[param(
        rename = "hub.verify_token",
        required = true,
        example = "my-verify-token"
    )]
    pub verify_token: String,
    /// Echoed back on success.
    #[param(rename = "hub.challenge", required = true, example = "1158201444")]
    pub challenge: String,
}

impl FromQuery for Handshake {
    const REFUSE_UNKNOWN: bool = false;

    fn from_query(q: &QueryParams, _: &mut Vec<FieldError>) -> Self {
        Self {
            mode: q.get("hub.mode").map(str::to_owned),
            verify_token: q.get("hub.verify_token").unwrap_or_default().to_owned(),
            challenge: q.get("hub.challenge").unwrap_or_default().to_owned(),
        }
    }
}

/// Meta's subscription check: answers `hub.challenge` when the verify token matches the server's verify token
/// (`--meta-verify-token`) or the `whatsappVerifyToken` an account saved with `PUT /auth/me/credentials`.
#[utoipa::path(get, path = "/webhooks/whatsapp", tag = "meta", operation_id = "verifyMetaWebhook",
    params(Handshake),
    responses(
        (status = 200, description = "The challenge, as plain text", body = String, content_type = "text/plain", example = "1158201444"),
        (status = 403, description = "Wrong mode or token", body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Verification failed: hub.mode must be subscribe and hub.verify_token must match."})),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    ValidatedQuery(q): ValidatedQuery<Handshake>,
) -> Result<Response, ApiError> {
    let token_matches = state
        .api
        .meta_verify_token_matches(&q.verify_token, state.settings.meta_verify_token.as_deref());
    if q.mode.as_deref() == Some("subscribe") && token_matches.await? {
        return Ok((
            StatusCode::OK,
            [("content-type", "text/plain")],
            q.challenge,
        )
            .into_response());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "Verification failed: hub.mode must be subscribe and hub.verify_token must match.",
    ))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Request body is too large: webhook payloads are accepted up to {} MB.",
            META_BODY_LIMIT / (1024 * 1024)
        ),
    )
}

/// What one Meta webhook POST did, item by item.
#[derive(Serialize, ToSchema)]
pub struct IngestReportView {
    /// Statuses that moved a message.
    pub applied: usize,
    /// Duplicates and late statuses.
    pub ignored: usize,
    /// Statuses for messages not stored yet (applied when they are).
    pub pending: usize,
    /// Inbound customer messages recorded.
    pub inbound: usize,
    /// Changes of fields the engine does not act on (template, account and quality updates, calls, ...).
    pub other: usize,
    /// Statuses of kinds the engine does not track.
    pub untracked: usize,
    /// Malformed items skipped.
    pub skipped: usize,
    /// Items for business numbers no account uses.
    pub unrouted: usize,
}

/// Meta's webhook notification (`object` `whatsapp_business_account`). Only the fields this server reads are
/// listed; others are accepted and ignored.
#[derive(ToSchema)]
pub struct MetaNotification {
    /// `whatsapp_business_account`.
    #[schema(example = "whatsapp_business_account")]
    pub object: String,
    /// One entry per WhatsApp Business Account.
    pub entry: Vec<MetaEntry>,
}

/// One WhatsApp Business Account's changes.
#[derive(ToSchema)]
pub struct MetaEntry {
    /// The WABA id.
    #[schema(example = "102290129340398")]
    pub id: String,
    /// Its changes.
    pub changes: Vec<MetaChange>,
}

/// One change: a field and its value.
#[derive(ToSchema)]
pub struct MetaChange {
    /// `messages` carries statuses and inbound messages; other fields are acknowledged.
    #[schema(example = "messages")]
    pub field: String,
    /// The change.
    pub value: MetaChangeValue,
}

/// The value of a `messages` change.
#[derive(ToSchema)]
pub struct MetaChangeValue {
    /// `whatsapp`.
    #[schema(nullable = false, example = "whatsapp")]
    pub messaging_product: Option<String>,
    /// The business number the change is about; routes it to its account.
    #[schema(nullable = false)]
    pub metadata: Option<MetaNumber>,
    /// Status updates of sent messages.
    #[schema(nullable = false)]
    pub statuses: Option<Vec<MetaStatusUpdate>>,
    /// Messages customers sent (opening their 24-hour window), in Meta's shape.
    #[schema(value_type = Option<Vec<Object>>, nullable = false)]
    pub messages: Option<Vec<serde_json::Value>>,
}

/// A business number.
#[derive(ToSchema)]
pub struct MetaNumber {
    /// As displayed.
    #[schema(nullable = false, example = "15550783881")]
    pub display_phone_number: Option<String>,
    /// Its phone number id.
    #[schema(example = "106540352242922")]
    pub phone_number_id: String,
}

/// A status update of a sent message.
#[derive(ToSchema)]
pub struct MetaStatusUpdate {
    /// The message's wamid.
    #[schema(example = "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTYA")]
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed` (others are recorded as untracked).
    #[schema(example = "delivered")]
    pub status: String,
    /// Unix time, as a string.
    #[schema(example = "1774692004")]
    pub timestamp: String,
    /// The customer.
    #[schema(nullable = false, example = "14155552671")]
    pub recipient_id: Option<String>,
    /// Why it failed (`code`, `title`, `message`, `error_data.details`).
    #[schema(value_type = Option<Vec<Object>>, nullable = false)]
    pub errors: Option<Vec<serde_json::Value>>,
    /// Pricing of the message (`pricing_model`, `category`, `type`).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub pricing: Option<serde_json::Value>,
}

/// Everything Meta's webhooks report (statuses, inbound messages, template and account updates, calls, …),
/// checked with `X-Hub-Signature-256`. Every well-formed, correctly signed notification answers 200: statuses and
/// inbound messages are applied, other fields and unknown items are acknowledged and ignored, a malformed item is
/// skipped without losing the others.
#[utoipa::path(post, path = "/webhooks/whatsapp", tag = "meta", operation_id = "receiveMetaWebhook",
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=HMAC of the raw body with the app secret",
        example = "sha256=3f1c9a7e2b8d4c6f0a5e9b1d7c3f8a2e6b4d0c9f5a1e7b3d8c2f6a0e4b9d5c1f")),
    request_body(content = MetaNotification, description = "Meta's webhook payload, at most 3 MB", example = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTYA", "status": "delivered",
                "timestamp": "1774692004", "recipient_id": "14155552671"}]}}]}]})),
    responses(
        (status = 200, description = "Verified; applied what the engine tracks", body = crate::views::Envelope<IngestReportView>,
            example = json!({"success": true, "data": {"applied": 1, "ignored": 0, "pending": 0, "inbound": 0,
                "other": 0, "untracked": 0, "skipped": 0, "unrouted": 0}})),
        (status = 400, description = "A signed body that is not JSON, or one naming more than 100 business numbers", body = crate::views::ErrorView),
        (status = 401, description = "Missing or wrong signature; nothing applied", body = crate::views::ErrorView),
        (status = 413, description = "Body larger than 3 MB", body = crate::views::ErrorView),
    ))]
pub async fn receive(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (body, signature) = signed_body(&state, req).await?;
    let auth = MetaWebhookAuth {
        signature: signature.as_deref(),
        server_app_secret: state.settings.meta_app_secret.as_deref(),
        allow_unsigned: state.settings.allow_unsigned_meta_webhooks,
    };
    let r = state.api.ingest_meta_webhook(&body, auth).await?;
    Ok(ok(IngestReportView {
        applied: r.applied,
        ignored: r.ignored,
        pending: r.pending,
        inbound: r.inbound,
        other: r.other,
        untracked: r.untracked,
        skipped: r.skipped,
        unrouted: r.unrouted,
    })
    .into_response())
}

/// The raw body and its `X-Hub-Signature-256`. Cheap refusals first: a declared size over the cap, then a missing
/// signature, before the body is read.
async fn signed_body(state: &AppState, req: Request) -> Result<(Bytes, Option<String>), ApiError> {
    let headers: &HeaderMap = req.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > META_BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if signature.is_none() && !state.settings.allow_unsigned_meta_webhooks {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Missing X-Hub-Signature-256: sign the raw body with the app secret (sha256=<hex HMAC-SHA256>)",
        ));
    }
    let body = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("Could not read the request body: {rejection}"))
        }
    })?;
    Ok((body, signature))
}
