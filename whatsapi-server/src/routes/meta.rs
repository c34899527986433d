//! Meta's webhook: the subscription handshake and delivery receipts / inbound messages.

use axum::body::Bytes;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::send::FieldError;
use whatsapi_core::service::MetaWebhookAuth;

use crate::error::ApiError;
use crate::extract::{FromQuery, QueryParams, ValidatedQuery};
use crate::state::AppState;

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
#[utoipa::path(get, path = "/webhooks/whatsapp", tag = "meta",
    params(Handshake),
    responses(
        (status = 200, description = "The challenge, as plain text", body = String, content_type = "text/plain"),
        (status = 403, description = "Wrong mode or token", body = crate::views::ErrorView),
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

/// Everything Meta's webhooks report (statuses, inbound messages, template and account updates, calls, …),
/// checked with `X-Hub-Signature-256`. Every well-formed, correctly signed notification answers 200: statuses and
/// inbound messages are applied, other fields and unknown items are acknowledged and ignored, a malformed item is
/// skipped without losing the others.
#[utoipa::path(post, path = "/webhooks/whatsapp", tag = "meta",
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=HMAC of the raw body with the app secret")),
    request_body(content = Object, description = "Meta's webhook payload (object whatsapp_business_account), at most 3 MB"),
    responses(
        (status = 200, description = "Verified; applied what the engine tracks"),
        (status = 400, description = "A signed body that is not JSON, or one naming more than 100 business numbers", body = crate::views::ErrorView),
        (status = 401, description = "Missing or wrong signature; nothing applied", body = crate::views::ErrorView),
        (status = 413, description = "Body larger than 3 MB", body = crate::views::ErrorView),
    ))]
pub async fn receive(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let headers: &HeaderMap = req.headers();
    // Cheap refusals first: a declared size over the cap, then a missing signature, before the body is read.
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
    let body = Bytes::from_request(req, &state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(format!("Could not read the request body: {rejection}"))
            }
        })?;
    let auth = MetaWebhookAuth {
        signature: signature.as_deref(),
        server_app_secret: state.settings.meta_app_secret.as_deref(),
        allow_unsigned: state.settings.allow_unsigned_meta_webhooks,
    };
    let report = state.api.ingest_meta_webhook(&body, auth).await?;
    Ok(axum::Json(json!({
        "success": true,
        "data": {"applied": report.applied, "ignored": report.ignored, "pending": report.pending, "inbound": report.inbound,
                 "other": report.other, "untracked": report.untracked, "skipped": report.skipped, "unrouted": report.unrouted}
    }))
    .into_response())
}
