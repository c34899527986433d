//! Every error leaves the server in one shape: `{"success": false, "error": "...", "details": [...],
//! "requestId": "..."}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use whatsapi_core::send::FieldError;
use whatsapi_core::service::Error as CoreError;
use whatsapi_core::store::StoreError;

/// An HTTP error response.
#[derive(Debug)]
pub struct ApiError {
    /// Status code.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// Per-field failures (400 only).
    pub details: Option<Vec<FieldError>>,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    /// Always false.
    success: bool,
    /// What went wrong.
    error: &'a str,
    /// Per-field failures of a 400.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::views::FieldErrorView>>)]
    details: Option<&'a [FieldError]>,
    /// The request's id, as in the `X-Request-Id` header.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 400 with per-field details.
    pub fn validation(details: Vec<FieldError>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("Validation failed: {}: {}", one.field, one.message),
            _ => format!(
                "Validation failed for {} fields; see details",
                details.len()
            ),
        };
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
            details: Some(details),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 naming the expected form.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(v) => ApiError::validation(v.0),
            CoreError::BadRequest(m) => ApiError::bad_request(m),
            CoreError::Unauthorized(m) => ApiError::unauthorized(m),
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            CoreError::NotFound(m) => ApiError::not_found(m),
            CoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            CoreError::Unavailable {
                message,
                retry_after_secs,
            } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
                .retry_after(retry_after_secs.max(1)),
            CoreError::Store(e) => e.into(),
        }
    }
}

impl From<whatsapi_saas::Error> for ApiError {
    fn from(e: whatsapi_saas::Error) -> Self {
        use whatsapi_saas::Error as Product;
        match e {
            Product::Validation(v) => ApiError::validation(v.0),
            Product::BadRequest(m) => ApiError::bad_request(m),
            Product::Unauthorized(m) => ApiError::unauthorized(m),
            Product::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            Product::NotFound(m) => ApiError::not_found(m),
            Product::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            Product::NotConfigured(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            Product::Upstream(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
            Product::Store(e) => e.into(),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Storage is temporarily unavailable; nothing was saved. Try again shortly.",
                )
                .retry_after(5)
            }
            StoreError::NotFound => ApiError::not_found("Not found."),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error; nothing was saved.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            success: false,
            error: &self.message,
            details: self.details.as_deref(),
            request_id: crate::request_id::current(),
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"whatsapi\""),
            );
        }
        resp
    }
}
