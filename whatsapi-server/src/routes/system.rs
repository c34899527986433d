//! Health, readiness, metrics, and the agent guide.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::views::HealthView;

/// Health, readiness, metrics and the agent guide (public).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(llms_txt))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "getHealth",
    responses((status = 200, body = HealthView, example = json!({"status": "ok"}))))]
pub async fn healthz() -> Response {
    axum::Json(HealthView {
        status: "ok".into(),
    })
    .into_response()
}

/// Readiness: the store answers and the engine runs; a 503 says which is not so.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "getReadiness",
    responses(
        (status = 200, body = HealthView, example = json!({"status": "ok"})),
        (status = 503, body = HealthView, example = json!({"status": "engine stopped: messages are not being sent"})),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    if let Err(e) = state.api.ready().await {
        reasons.push(format!("store unavailable: {e}"));
    }
    if !state.api.engine_running() {
        reasons.push("engine stopped: messages are not being sent".to_owned());
    }
    if reasons.is_empty() {
        axum::Json(HealthView {
            status: "ok".into(),
        })
        .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(HealthView {
                status: reasons.join("; "),
            }),
        )
            .into_response()
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "getMetrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain",
        example = "# TYPE whatsapi_http_requests_total counter\nwhatsapi_http_requests_total{route=\"/send-message\",method=\"POST\",status=\"202\"} 42\n")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.api).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A guide for coding agents: how to authenticate, send, track and receive webhooks.
#[utoipa::path(get, path = "/llms.txt", tag = "operations", operation_id = "getLlmsTxt",
    responses((status = 200, description = "Markdown", body = String, content_type = "text/plain",
        example = "# whatsapi\n\n> A self-hosted WhatsApp Business messaging gateway. ...\n")))]
pub async fn llms_txt() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        include_str!("../../llms.txt"),
    )
        .into_response()
}
