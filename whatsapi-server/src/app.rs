//! The application: the routers of [`crate::routes`] composed with the OpenAPI document, fallbacks and layers.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::routes::{account, billing, dashboard, inbound, media, messages, meta, sandbox, system};

pub use crate::state::{AppState, HttpSettings, SandboxCredentials};

/// The API routes with their OpenAPI description.
pub fn api_router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(account::router(&state))
        .merge(messages::router(&state))
        .merge(media::router(&state))
        .merge(inbound::router(&state))
        .merge(dashboard::router(&state))
        .merge(billing::router(&state))
        .merge(sandbox::router(&state))
        .merge(meta::router())
        .merge(system::router())
        .split_for_parts();
    crate::openapi::complete(&mut doc);
    (router.with_state(state), doc)
}

/// The whole application: API routes, `/openapi.json`, `/docs`, the dashboard, fallbacks and layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let metrics = state.metrics.clone();
    let (router, doc) = api_router(state);
    router
        .merge(crate::openapi::docs_router(doc))
        .merge(dashboard::assets())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(crate::edge::security_headers))
        .layer(middleware::from_fn(crate::request_id::layer))
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such endpoint. See /docs or /openapi.json for the API.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed on this endpoint. See /docs for the methods it takes.",
    )
}
