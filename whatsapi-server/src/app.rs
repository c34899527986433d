//! The application: the routers of [`crate::routes`] composed with the OpenAPI document, fallbacks and layers.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::routes::{
    account, billing, campaigns, contacts, costs, dashboard, endpoints, inbound, media, messages,
    meta, numbers, sandbox, system, templates,
};

pub use crate::state::{AppState, HttpSettings, SandboxCredentials};

/// The API routes with their OpenAPI description.
pub fn api_router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(account::router(&state))
        .merge(messages::router(&state))
        .merge(media::router(&state))
        .merge(templates::router(&state))
        .merge(inbound::router(&state))
        .merge(contacts::router(&state))
        .merge(campaigns::router(&state))
        .merge(dashboard::router(&state))
        .merge(costs::router(&state))
        .merge(endpoints::router(&state))
        .merge(numbers::router(&state))
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
        .layer(middleware::from_fn_with_state(
            settings.request_timeout,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(crate::edge::security_headers))
        .layer(middleware::from_fn(crate::request_id::layer))
}

/// Longest time a media upload (`POST /media`, up to 100 MB streamed through to Meta) may take.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Answers 503 (no body) when a request takes longer than `limit`; a media upload gets [`UPLOAD_TIMEOUT`] or
/// `limit`, whichever is longer, since 100 MB on a slow link takes minutes.
async fn timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    let limit = if req.method() == Method::POST && req.uri().path() == "/media" {
        limit.max(UPLOAD_TIMEOUT)
    } else {
        limit
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
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
