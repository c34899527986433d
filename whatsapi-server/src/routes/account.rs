//! Registration, the account, Meta credentials, the customer webhook, and key rotation.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::MetaCredentials;
use whatsapi_core::send::FieldError;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::{AppState, SandboxCredentials, client_ip};
use crate::views::{
    AccountView, ApiKeyView, CredentialsRequest, CredentialsView, RegisterRequest, VerifyView,
    WebhookRequest, WebhookView, ok,
};

/// Registration (public) and the account's own settings (API key required).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let authenticated = OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(put_credentials, delete_credentials))
        .routes(routes!(verify_credentials))
        .routes(routes!(put_webhook, delete_webhook))
        .routes(routes!(rotate_key));
    OpenApiRouter::new()
        .routes(routes!(register))
        .merge(crate::auth::require_api_key(authenticated, state))
}

/// Reads a string field, collecting a detail when it is missing or of the wrong type.
fn string_field(
    body: &Value,
    name: &str,
    required: bool,
    details: &mut Vec<FieldError>,
) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => {
            if required {
                details.push(FieldError {
                    field: name.to_owned(),
                    message: "required".to_owned(),
                });
            }
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            details.push(FieldError {
                field: name.to_owned(),
                message: "must be a string".to_owned(),
            });
            None
        }
    }
}

fn require_object(body: &Value) -> Result<(), ApiError> {
    if body.is_object() {
        Ok(())
    } else {
        Err(ApiError::validation(vec![FieldError {
            field: "body".to_owned(),
            message: "must be a JSON object".to_owned(),
        }]))
    }
}

/// Create an account and get its API key (shown once). Limited per client IP.
#[utoipa::path(post, path = "/auth/register", tag = "account",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; the key is shown only here", body = crate::views::Envelope<ApiKeyView>),
        (status = 400, description = "Invalid name or email", body = crate::views::ErrorView),
        (status = 409, description = "Email already registered", body = crate::views::ErrorView),
        (status = 429, description = "Too many registrations from this address", body = crate::views::ErrorView),
    ))]
pub async fn register(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Response {
    let ip = client_ip(&headers, Some(&peer), &state.settings);
    let decision = state
        .limiter
        .hit(
            &format!("register:{ip}"),
            state.settings.register_per_minute,
            state.api.clock().now(),
        )
        .await;
    let mut resp = if decision.allowed {
        create_account(&state, body)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    } else {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many registrations from this address. Retry after {} seconds.",
                decision.reset_in
            ),
        )
        .into_response()
    };
    // Registration is limited per client address; its answers carry that limit's headers.
    decision.apply(resp.headers_mut());
    resp
}

async fn create_account(
    state: &AppState,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let JsonBody(body) = body?;
    require_object(&body)?;
    let mut details = Vec::new();
    let name = string_field(&body, "name", true, &mut details);
    let email = string_field(&body, "email", true, &mut details);
    let (Some(name), Some(email)) = (name, email) else {
        return Err(ApiError::validation(details));
    };
    let registered = state.api.register(&name, &email).await?;
    if let Some(sandbox) = &state.settings.sandbox {
        state
            .api
            .set_credentials(
                registered.account.id,
                MetaCredentials {
                    waba_id: None,
                    verify_token_hash: None,
                    access_token: sandbox.access_token.clone(),
                    phone_number_id: SandboxCredentials::phone_number_id(registered.account.id),
                    app_secret: Some(sandbox.app_secret.clone()),
                    verify_token: None,
                },
            )
            .await?;
    }
    let view = ApiKeyView {
        api_key: registered.api_key.expose().to_owned(),
        plan: Some(registered.account.plan.as_str().to_owned()),
    };
    Ok((StatusCode::CREATED, ok(view)).into_response())
}

/// The account of the key (never the key itself).
#[utoipa::path(get, path = "/auth/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<AccountView>), (status = 401, body = crate::views::ErrorView)))]
pub async fn me(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    // Read again: the key lookup may come from the store's cache, where `messagesSent` can lag.
    let account = state.api.me(account.id).await?;
    Ok(ok(AccountView::of(&account, state.api.plans())).into_response())
}

/// Save your Meta access token and phone number id (BYOC).
#[utoipa::path(put, path = "/auth/me/credentials", tag = "account", security(("bearer" = [])),
    request_body = CredentialsRequest,
    responses(
        (status = 200, body = crate::views::Envelope<CredentialsView>),
        (status = 400, body = crate::views::ErrorView),
        (status = 409, description = "The phone number id (or WABA id) is already connected to another account", body = crate::views::ErrorView),
    ))]
pub async fn put_credentials(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    require_object(&body)?;
    let mut details = Vec::new();
    let token = string_field(&body, "whatsappAccessToken", true, &mut details);
    let phone_id = string_field(&body, "whatsappPhoneNumberId", true, &mut details);
    let app_secret = string_field(&body, "whatsappAppSecret", false, &mut details);
    let verify_token = string_field(&body, "whatsappVerifyToken", false, &mut details);
    let waba_id = string_field(&body, "whatsappBusinessAccountId", false, &mut details);
    let strict_window = match body.get("strictWindow") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            details.push(FieldError {
                field: "strictWindow".into(),
                message: "must be a boolean".into(),
            });
            None
        }
    };
    // The same rule as the core's, so a request with several bad fields hears about all of them at once.
    if token.as_deref().is_some_and(|t| {
        let t = t.trim();
        t.is_empty() || t.len() > 4096 || t.chars().any(char::is_whitespace)
    }) {
        details.push(FieldError {
            field: "whatsappAccessToken".into(),
            message: "must be a single token of at most 4096 characters without spaces".into(),
        });
    }
    if let Some(p) = phone_id.as_deref() {
        if p.is_empty() || p.len() > 32 || !p.bytes().all(|b| b.is_ascii_digit()) {
            details.push(FieldError {
                field: "whatsappPhoneNumberId".into(),
                message: "must be the numeric phone number id from Meta Business Manager (not the phone number)"
                    .into(),
            });
        }
    }
    if let Some(w) = waba_id.as_deref().filter(|w| !w.is_empty()) {
        if w.len() > 32 || !w.bytes().all(|b| b.is_ascii_digit()) {
            details.push(FieldError {
                field: "whatsappBusinessAccountId".into(),
                message:
                    "must be the numeric WhatsApp Business Account ID from Meta Business Manager"
                        .into(),
            });
        }
    }
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    let (Some(access_token), Some(phone_number_id)) = (token, phone_id) else {
        return Err(ApiError::validation(details));
    };
    let updated = state
        .api
        .set_credentials(
            account.id,
            MetaCredentials {
                access_token: access_token.trim().to_owned(),
                phone_number_id,
                app_secret: app_secret.filter(|s| !s.is_empty()),
                verify_token: verify_token.filter(|s| !s.is_empty()),
                waba_id: waba_id.filter(|s| !s.is_empty()),
                verify_token_hash: None,
            },
        )
        .await?;
    let updated = match strict_window {
        Some(strict) => state.api.set_strict_window(account.id, strict).await?,
        None => updated,
    };
    Ok(ok(CredentialsView {
        byoc_configured: updated.credentials.is_some(),
        whatsapp_phone_number_id: updated
            .credentials
            .as_ref()
            .map(|c| c.phone_number_id.clone()),
        whatsapp_business_account_id: updated.credentials.as_ref().and_then(|c| c.waba_id.clone()),
        verified: false,
    })
    .into_response())
}

/// Remove your Meta credentials.
#[utoipa::path(delete, path = "/auth/me/credentials", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<CredentialsView>)))]
pub async fn delete_credentials(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    state.api.remove_credentials(account.id).await?;
    Ok(ok(CredentialsView {
        byoc_configured: false,
        whatsapp_phone_number_id: None,
        whatsapp_business_account_id: None,
        verified: false,
    })
    .into_response())
}

/// Check the saved credentials with Meta.
#[utoipa::path(post, path = "/auth/me/credentials/verify", tag = "account", security(("bearer" = [])),
    responses(
        (status = 200, description = "Result of the check (valid true or false)", body = crate::views::Envelope<VerifyView>),
        (status = 400, description = "No credentials saved", body = crate::views::ErrorView),
    ))]
pub async fn verify_credentials(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    let check = state.api.verify_credentials(account.id).await?;
    Ok(ok(VerifyView {
        valid: check.valid,
        verified_name: check.info.as_ref().map(|i| i.verified_name.clone()),
        display_phone_number: check.info.as_ref().map(|i| i.display_phone_number.clone()),
        quality_rating: check.info.as_ref().and_then(|i| i.quality_rating.clone()),
        error: check.error,
        error_code: check.code,
    })
    .into_response())
}

/// Set the URL that receives status events; returns the signing secret once.
#[utoipa::path(put, path = "/auth/me/webhook", tag = "webhooks", security(("bearer" = [])),
    request_body = WebhookRequest,
    responses((status = 200, body = crate::views::Envelope<WebhookView>), (status = 400, body = crate::views::ErrorView)))]
pub async fn put_webhook(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    require_object(&body)?;
    let mut details = Vec::new();
    let Some(url) = string_field(&body, "url", true, &mut details) else {
        return Err(ApiError::validation(details));
    };
    let config = state.api.set_webhook(account.id, &url).await?;
    Ok(ok(WebhookView {
        webhook_url: Some(config.url),
        signing_secret: Some(config.secret),
    })
    .into_response())
}

/// Stop sending status events.
#[utoipa::path(delete, path = "/auth/me/webhook", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<WebhookView>)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    state.api.remove_webhook(account.id).await?;
    Ok(ok(WebhookView {
        webhook_url: None,
        signing_secret: None,
    })
    .into_response())
}

/// Replace the API key; the old one stops working at once.
#[utoipa::path(post, path = "/auth/me/rotate-key", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<ApiKeyView>)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    let key = state.api.rotate_key(&account).await?;
    Ok(ok(ApiKeyView {
        api_key: key.expose().to_owned(),
        plan: None,
    })
    .into_response())
}
