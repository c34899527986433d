//! Billing: Stripe Checkout, the Billing Portal, and Stripe's webhooks.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::service::StripeWebhookOutcome;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::ValidatedJson;
use crate::requests::CheckoutRequest;
use crate::state::AppState;
use crate::views::{BillingSessionView, StripeWebhookView, ok};

/// Checkout and the portal (API key required) and Stripe's webhook (signed by Stripe instead).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let authenticated = OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(portal));
    OpenApiRouter::new()
        .routes(routes!(stripe_webhook))
        .merge(crate::auth::require_api_key(authenticated, state))
}

/// Start a Stripe Checkout session for a plan upgrade; redirect the user to `data.url`.
#[utoipa::path(post, path = "/billing/checkout", tag = "billing", security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses(
        (status = 200, description = "Checkout session created", body = crate::views::Envelope<BillingSessionView>),
        (status = 400, description = "Not a self-service plan (enterprise: contact sales) or invalid body", body = crate::views::ErrorView),
        (status = 409, description = "The account already has a subscription: use the billing portal", body = crate::views::ErrorView),
        (status = 502, description = "Stripe failed or refused", body = crate::views::ErrorView),
        (status = 503, description = "Billing is not configured on this server", body = crate::views::ErrorView),
    ))]
pub async fn checkout(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedJson(plan): ValidatedJson<CheckoutRequest>,
) -> Result<Response, ApiError> {
    let session = state.api.checkout(&account, &plan).await?;
    Ok(ok(BillingSessionView {
        url: session.url,
        id: session.id,
    })
    .into_response())
}

/// Open the Stripe billing portal (subscriptions, invoices, cancellation); redirect the user to `data.url`.
#[utoipa::path(get, path = "/billing/portal", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Portal session created", body = crate::views::Envelope<BillingSessionView>),
        (status = 400, description = "No subscription yet: use POST /billing/checkout", body = crate::views::ErrorView),
        (status = 502, description = "Stripe failed or refused", body = crate::views::ErrorView),
        (status = 503, description = "Billing is not configured on this server", body = crate::views::ErrorView),
    ))]
pub async fn portal(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    let session = state.api.billing_portal(&account).await?;
    Ok(ok(BillingSessionView {
        url: session.url,
        id: session.id,
    })
    .into_response())
}

/// Stripe's webhook: `checkout.session.completed`, `customer.subscription.updated` and
/// `customer.subscription.deleted` change the account's plan. Checked with `Stripe-Signature`; each event id is
/// applied once.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "billing",
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256 of \"{t}.{raw body}\" with the endpoint secret>")),
    request_body(content = Object, description = "A Stripe event"),
    responses(
        (status = 200, description = "Applied, a repeat, or ignored", body = crate::views::Envelope<StripeWebhookView>),
        (status = 400, description = "Missing, wrong or stale signature, or not an event; nothing changed", body = crate::views::ErrorView),
        (status = 503, description = "Billing is not configured on this server", body = crate::views::ErrorView),
    ))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let view = match state.api.apply_stripe_webhook(&body, signature).await? {
        StripeWebhookOutcome::Applied { plan, .. } => StripeWebhookView {
            result: "applied".into(),
            plan: Some(plan.as_str().into()),
            reason: None,
        },
        StripeWebhookOutcome::Duplicate => StripeWebhookView {
            result: "duplicate".into(),
            plan: None,
            reason: None,
        },
        StripeWebhookOutcome::Ignored(reason) => StripeWebhookView {
            result: "ignored".into(),
            plan: None,
            reason: Some(reason),
        },
    };
    Ok(ok(view).into_response())
}
