//! Billing: Stripe Checkout, the Billing Portal, and Stripe's webhooks.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_saas::StripeWebhookOutcome;

use crate::auth::CurrentCustomer;
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
#[utoipa::path(post, path = "/billing/checkout", tag = "billing", operation_id = "createCheckoutSession", security(("bearer" = [])),
    request_body(content = CheckoutRequest, example = json!({"plan": "pro"})),
    responses(
        (status = 200, description = "Checkout session created", body = crate::views::Envelope<BillingSessionView>,
            example = json!({"success": true, "data": {"url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3", "id": "cs_test_a1b2c3"}})),
        (status = 400, description = "Not a self-service plan (enterprise: contact sales) or invalid body", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Validation failed: plan: required: basic or pro",
                "details": [{"field": "plan", "message": "required: basic or pro"}]})),
        (status = 409, description = "The account already has a subscription: use the billing portal", body = crate::views::ErrorView),
        (status = 502, description = "Stripe failed or refused", body = crate::views::ErrorView),
        (status = 503, description = "Billing is not configured on this server", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Billing is not configured on this server: the operator has not set up Stripe (--stripe-secret-key)."})),
    ))]
pub async fn checkout(
    State(state): State<AppState>,
    CurrentCustomer(customer): CurrentCustomer,
    ValidatedJson(plan): ValidatedJson<CheckoutRequest>,
) -> Result<Response, ApiError> {
    let session = state.product.checkout(&customer, &plan).await?;
    Ok(ok(BillingSessionView {
        url: session.url,
        id: session.id,
    })
    .into_response())
}

/// Open the Stripe billing portal (subscriptions, invoices, cancellation); redirect the user to `data.url`.
#[utoipa::path(get, path = "/billing/portal", tag = "billing", operation_id = "getBillingPortal", security(("bearer" = [])),
    responses(
        (status = 200, description = "Portal session created", body = crate::views::Envelope<BillingSessionView>,
            example = json!({"success": true, "data": {"url": "https://billing.stripe.com/p/session/bps_a1b2c3", "id": "bps_a1b2c3"}})),
        (status = 400, description = "No subscription yet: use POST /billing/checkout", body = crate::views::ErrorView),
        (status = 502, description = "Stripe failed or refused", body = crate::views::ErrorView),
        (status = 503, description = "Billing is not configured on this server", body = crate::views::ErrorView),
    ))]
pub async fn portal(
    State(state): State<AppState>,
    CurrentCustomer(customer): CurrentCustomer,
) -> Result<Response, ApiError> {
    let session = state.product.billing_portal(&customer).await?;
    Ok(ok(BillingSessionView {
        url: session.url,
        id: session.id,
    })
    .into_response())
}

/// A Stripe event, as Stripe posts it (only the fields this server reads are listed).
#[derive(ToSchema)]
pub struct StripeEvent {
    /// Event id; each is applied once.
    #[schema(example = "evt_1PqR2sT3uV4wX5yZ")]
    pub id: String,
    /// `checkout.session.completed`, `customer.subscription.updated`, `customer.subscription.deleted`; others are
    /// acknowledged and ignored.
    #[schema(rename = "type", example = "checkout.session.completed")]
    pub kind: String,
    /// Unix time the event was created.
    #[schema(nullable = false)]
    pub created: Option<i64>,
    /// The event's object.
    pub data: StripeEventData,
}

/// `data` of a Stripe event.
#[derive(ToSchema)]
pub struct StripeEventData {
    /// The checkout session or subscription the event is about, in Stripe's shape.
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// Stripe's webhook: `checkout.session.completed`, `customer.subscription.updated` and
/// `customer.subscription.deleted` change the account's plan. Checked with `Stripe-Signature`; each event id is
/// applied once.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "billing", operation_id = "receiveStripeWebhook",
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256 of \"{t}.{raw body}\" with the endpoint secret>",
        example = "t=1774692004,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")),
    request_body(content = StripeEvent, description = "A Stripe event", example = json!({
        "id": "evt_1PqR2sT3uV4wX5yZ", "type": "customer.subscription.updated", "created": 1774692004,
        "data": {"object": {"id": "sub_1PqR2sT3uV4wX5yZ", "customer": "cus_Q1w2E3r4T5y6", "status": "active",
            "items": {"data": [{"price": {"id": "price_pro_monthly"}}]}}}})),
    responses(
        (status = 200, description = "Applied, a repeat, or ignored", body = crate::views::Envelope<StripeWebhookView>,
            example = json!({"success": true, "data": {"result": "applied", "plan": "pro"}})),
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
    let view = match state.product.apply_stripe_webhook(&body, signature).await? {
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
