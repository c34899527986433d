//! Registration, the account, Meta credentials, the customer webhook, and key rotation.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::{AccountId, MetaCredentials};

use crate::auth::{CurrentAccount, CurrentCustomer};
use crate::error::ApiError;
use crate::extract::ValidatedJson;
use crate::requests::{CredentialsRequest, NewAccount, RegisterRequest, WebhookRequest};
use crate::state::{AppState, SandboxCredentials, client_ip};
use crate::views::{AccountView, ApiKeyView, CredentialsView, VerifyView, WebhookView, ok};

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

/// `POST /auth/me/credentials/verify` before any were saved.
const NOTHING_TO_VERIFY: &str =
    "no Meta credentials saved; save your Meta credentials first with PUT /auth/me/credentials";

/// Create an account and get its API key (shown once). Limited per client IP.
#[utoipa::path(post, path = "/auth/register", tag = "account", operation_id = "register",
    request_body(content = RegisterRequest, example = json!({"name": "Your Name", "email": "you@example.com"})),
    responses(
        (status = 201, description = "Account created; the key is shown only here", body = crate::views::Envelope<ApiKeyView>,
            example = json!({"success": true, "data": {"apiKey": "sk_live_a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6", "plan": "free"}})),
        (status = 400, description = "Invalid name or email", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Validation failed: email: required", "details": [{"field": "email", "message": "required"}]})),
        (status = 409, description = "Email already registered", body = crate::views::ErrorView),
        (status = 429, description = "Too many registrations from this address", body = crate::views::ErrorView),
    ))]
pub async fn register(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<ValidatedJson<RegisterRequest>, ApiError>,
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
        too_many_registrations(decision.reset_in).into_response()
    };
    // Registration is limited per client address; its answers carry that limit's headers.
    decision.apply(resp.headers_mut());
    resp
}

fn too_many_registrations(reset_in: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too many registrations from this address. Retry after {reset_in} seconds."),
    )
}

async fn create_account(
    state: &AppState,
    body: Result<ValidatedJson<RegisterRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let ValidatedJson(NewAccount { name, email }) = body?;
    let registered = state.product.register(&name, &email).await?;
    let id = registered.account.account.id;
    if let Some(sandbox) = &state.settings.sandbox {
        state
            .api
            .set_credentials(id, sandbox_credentials(sandbox, id))
            .await?;
    }
    let view = ApiKeyView {
        api_key: registered.api_key.expose().to_owned(),
        plan: Some(registered.account.customer.plan.as_str().to_owned()),
    };
    Ok((StatusCode::CREATED, ok(view)).into_response())
}

/// In `--sandbox` mode, the emulator's credentials with a phone number id and a WABA id of the account's own.
fn sandbox_credentials(sandbox: &SandboxCredentials, account: AccountId) -> MetaCredentials {
    MetaCredentials {
        waba_id: Some(SandboxCredentials::waba_id(account)),
        verify_token_hash: None,
        access_token: sandbox.access_token.clone(),
        phone_number_id: SandboxCredentials::phone_number_id(account),
        app_secret: Some(sandbox.app_secret.clone()),
        verify_token: None,
        throughput_per_second: None,
    }
}

/// The account of the key (never the key itself).
#[utoipa::path(get, path = "/auth/me", tag = "account", operation_id = "getMe", security(("bearer" = [])),
    responses(
        (status = 200, body = crate::views::Envelope<AccountView>, example = json!({"success": true, "data": {
            "id": "0193c4f2-1b2a-7d3e-8f40-5a6b7c8d9e0f", "name": "Your Name", "email": "you@example.com",
            "plan": "free", "messagesSent": 42, "byocConfigured": false, "credentialsVerified": false,
            "credentialsStatus": null, "credentialsError": null, "whatsappPhoneNumberId": null,
            "whatsappBusinessAccountId": null, "whatsappVerifyTokenSet": false, "webhookUrl": null,
            "strictWindow": false, "defaultValiditySeconds": null, "rateLimitPerMinute": 20, "bulkLimit": 100, "campaignRecipientLimit": 1000, "createdAt": "2026-03-28T09:55:00Z"}})),
        (status = 401, description = "Missing, malformed or unknown API key", body = crate::views::ErrorView),
    ))]
pub async fn me(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    // Read again: the key lookup may come from the store's cache, where `messagesSent` can lag.
    let me = state.product.me(account.id).await?;
    Ok(ok(AccountView::of(
        &me.account,
        &me.customer,
        state.product.plans(),
    ))
    .into_response())
}

/// Save your Meta access token and phone number id (BYOC).
#[utoipa::path(put, path = "/auth/me/credentials", tag = "account", operation_id = "setCredentials", security(("bearer" = [])),
    request_body(content = CredentialsRequest,
        example = json!({"whatsappAccessToken": "EAAc...", "whatsappPhoneNumberId": "1234567890"})),
    responses(
        (status = 200, body = crate::views::Envelope<CredentialsView>,
            example = json!({"success": true, "data": {"byocConfigured": true, "whatsappPhoneNumberId": "1234567890", "verified": false}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: whatsappPhoneNumberId: must be the numeric phone number id from Meta Business Manager (not the phone number)",
            "details": [{"field": "whatsappPhoneNumberId", "message": "must be the numeric phone number id from Meta Business Manager (not the phone number)"}]})),
        (status = 409, description = "The phone number id (or WABA id) is already connected to another account", body = crate::views::ErrorView),
    ))]
pub async fn put_credentials(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedJson(mut update): ValidatedJson<CredentialsRequest>,
) -> Result<Response, ApiError> {
    // In sandbox mode, credentials saved without a WABA id keep the account's own, so templates list out of the box.
    if state.settings.sandbox.is_some() && update.credentials.waba_id.is_none() {
        update.credentials.waba_id = Some(SandboxCredentials::waba_id(account.id));
    }
    let updated = state
        .api
        .set_credentials(account.id, update.credentials)
        .await
        .map_err(with_removal_hint)?;
    let updated = match update.strict_window {
        Some(strict) => state.api.set_strict_window(account.id, strict).await?,
        None => updated,
    };
    let updated = match update.default_validity {
        Some(validity) => state.api.set_default_validity(account.id, validity).await?,
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

/// A phone number id or WABA id taken by another account: core says so; the API adds how the other account frees it.
fn with_removal_hint(e: whatsapi_core::Error) -> ApiError {
    match e {
        whatsapi_core::Error::Store(whatsapi_core::StoreError::Conflict(m)) => ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("{m} (The other account frees it with DELETE /auth/me/credentials.)"),
        ),
        other => other.into(),
    }
}

/// Remove your Meta credentials.
#[utoipa::path(delete, path = "/auth/me/credentials", tag = "account", operation_id = "deleteCredentials", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<CredentialsView>,
        example = json!({"success": true, "data": {"byocConfigured": false, "whatsappPhoneNumberId": null, "verified": false}}))))]
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
#[utoipa::path(post, path = "/auth/me/credentials/verify", tag = "account", operation_id = "verifyCredentials", security(("bearer" = [])),
    responses(
        (status = 200, description = "Result of the check (valid true or false)", body = crate::views::Envelope<VerifyView>,
            example = json!({"success": true, "data": {"valid": true, "verifiedName": "Acme Shop", "displayPhoneNumber": "+1 415-555-2671",
                "qualityRating": "GREEN", "error": null, "errorCode": null}})),
        (status = 400, description = "No credentials saved", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "no Meta credentials saved; save your Meta credentials first with PUT /auth/me/credentials"})),
    ))]
pub async fn verify_credentials(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    let check = state
        .api
        .verify_credentials(account.id)
        .await
        .map_err(|e| match e {
            whatsapi_core::Error::NoCredentials => ApiError::bad_request(NOTHING_TO_VERIFY),
            other => other.into(),
        })?;
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
#[utoipa::path(put, path = "/auth/me/webhook", tag = "webhooks", operation_id = "setWebhook", security(("bearer" = [])),
    request_body(content = WebhookRequest, example = json!({"url": "https://yourapp.com/webhooks/whatsapi"})),
    responses(
        (status = 200, body = crate::views::Envelope<WebhookView>, example = json!({"success": true, "data": {
            "webhookUrl": "https://yourapp.com/webhooks/whatsapi", "signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})),
        (status = 400, body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Validation failed: url: required", "details": [{"field": "url", "message": "required"}]})),
    ))]
pub async fn put_webhook(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedJson(url): ValidatedJson<WebhookRequest>,
) -> Result<Response, ApiError> {
    let config = state.api.set_webhook(account.id, &url).await?;
    Ok(ok(WebhookView {
        webhook_url: Some(config.url),
        signing_secret: Some(config.secret),
    })
    .into_response())
}

/// Stop sending status events.
#[utoipa::path(delete, path = "/auth/me/webhook", tag = "webhooks", operation_id = "deleteWebhook", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<WebhookView>,
        example = json!({"success": true, "data": {"webhookUrl": null}}))))]
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
#[utoipa::path(post, path = "/auth/me/rotate-key", tag = "account", operation_id = "rotateKey", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<ApiKeyView>,
        example = json!({"success": true, "data": {"apiKey": "sk_live_f6e5d4c3b2a1f6e5d4c3b2a1f6e5d4c3b2a1f6e5d4c3b2a1"}}))))]
pub async fn rotate_key(
    State(state): State<AppState>,
    CurrentCustomer(customer): CurrentCustomer,
) -> Result<Response, ApiError> {
    let key = state.product.rotate_key(&customer).await?;
    Ok(ok(ApiKeyView {
        api_key: key.expose().to_owned(),
        plan: None,
    })
    .into_response())
}
