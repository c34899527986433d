//! Authentication: `Authorization: Bearer sk_live_…` checked by [`authenticate`] (a middleware, so the per-account
//! rate limit and its headers cover every answer of an authenticated route, extractor rejections included), and the
//! account handed to handlers by the [`CurrentAccount`] extractor (the engine's half) and [`CurrentCustomer`] (the
//! product's half: plan, key, Stripe links).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use whatsapi_core::Account;
use whatsapi_saas::{Customer, CustomerAccount};

use crate::error::ApiError;
use crate::state::AppState;

/// The account whose API key authenticated the request.
///
/// Only on routes behind [`require_api_key`]; elsewhere it answers 401 as a missing key would.
#[derive(Debug, Clone)]
pub struct CurrentAccount(pub Account);

impl<S: Send + Sync> FromRequestParts<S> for CurrentAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Account>()
            .cloned()
            .map(CurrentAccount)
            .ok_or_else(|| {
                ApiError::unauthorized(format!("Missing Authorization header. {BEARER_HELP}"))
            })
    }
}

/// The product's half of the account whose API key authenticated the request (its plan, key and Stripe links).
///
/// Only on routes behind [`require_api_key`]; elsewhere it answers 401 as a missing key would.
#[derive(Debug, Clone)]
pub struct CurrentCustomer(pub Customer);

impl<S: Send + Sync> FromRequestParts<S> for CurrentCustomer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Customer>()
            .cloned()
            .map(CurrentCustomer)
            .ok_or_else(|| {
                ApiError::unauthorized(format!("Missing Authorization header. {BEARER_HELP}"))
            })
    }
}

/// Puts every route of `router` behind [`authenticate`].
pub fn require_api_key(
    router: OpenApiRouter<AppState>,
    state: &AppState,
) -> OpenApiRouter<AppState> {
    router.route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
}

const BEARER_HELP: &str = "Send your API key as 'Authorization: Bearer sk_live_...' (sk_live_ followed by 48 hex characters).";

/// Authenticates `Authorization: Bearer sk_live_…`, applies the rate limit, and puts the account (the engine's
/// `Account` and the product's `Customer`) in the request's extensions. Every authenticated response carries the
/// rate-limit headers.
///
/// The limit counts per account (an account has one key at a time), so rotating the key does not start a fresh
/// window.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let presented = match bearer(req.headers()) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let CustomerAccount { account, customer } = match state.product.authenticate(&presented).await {
        Ok(a) => a,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let limit = state.product.limits(customer.plan).requests_per_minute;
    let decision = state
        .limiter
        .hit(&rate_bucket(&account), limit, state.api.clock().now())
        .await;
    if !decision.allowed {
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Rate limit of {limit} requests per minute exceeded. Retry after {} seconds.",
                decision.reset_in
            ),
        )
        .into_response();
        decision.apply(resp.headers_mut());
        return resp;
    }
    req.extensions_mut().insert(account);
    req.extensions_mut().insert(customer);
    let mut resp = next.run(req).await;
    decision.apply(resp.headers_mut());
    resp
}

/// The rate-limit bucket of an account's requests: its id, so a rotated key shares the old key's window.
pub fn rate_bucket(account: &whatsapi_core::Account) -> String {
    format!("account:{}", account.id.0)
}

fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(format!(
            "Missing Authorization header. {BEARER_HELP}"
        )));
    };
    let value = value.to_str().map_err(|_| {
        ApiError::unauthorized(format!("Malformed Authorization header. {BEARER_HELP}"))
    })?;
    let mut parts = value.trim().splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some(scheme), Some(token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::unauthorized(format!(
            "Malformed Authorization header. {BEARER_HELP}"
        ))),
    }
}
