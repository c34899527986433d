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

/// A real send without Meta credentials: where to save them, and the way to test without them.
const NO_CREDENTIALS: &str = "this account has no Meta credentials; save your Meta credentials first with PUT \
     /auth/me/credentials (or send with \"dry_run\": true to test without them)";

/// Templates asked for without a WABA id in the credentials.
const NO_WABA_ID: &str = "this account's credentials have no WhatsApp Business Account id; save it as \
     whatsappBusinessAccountId with PUT /auth/me/credentials to list templates";

/// Whole seconds to wait, rounded up, at least 1.
fn whole_seconds(d: std::time::Duration) -> u64 {
    let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
    millis.div_ceil(1000)
}

/// A call made to Meta on the caller's behalf failed: Meta's refusal of the request (a 4xx with a code) is the
/// caller's 400 with Meta's code and message; Meta's own failure, a timeout or throttling is a 502 (with
/// `Retry-After` when Meta gave one); a transport that lacks the call answers 501.
fn meta_call_error(e: &whatsapi_core::SendError) -> ApiError {
    use whatsapi_core::ErrorClass;
    match (e.http_status, e.code) {
        (Some(501), None) => ApiError::new(StatusCode::NOT_IMPLEMENTED, e.user_message()),
        (Some(s), Some(_)) if s < 500 && e.class() != ErrorClass::Transient => {
            ApiError::bad_request(format!("WhatsApp refused the call: {}", e.user_message()))
        }
        _ => {
            let err = ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("WhatsApp failed the call: {}", e.user_message()),
            );
            match e.retry_after {
                Some(d) => err.retry_after(whole_seconds(d)),
                None => err,
            }
        }
    }
}

/// Core's errors as the reference API answers them: the status code, and the words and hints of this server
/// (URLs, header names) that core does not know.
impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(v) => ApiError::validation(v.0),
            CoreError::NoCredentials => ApiError::bad_request(NO_CREDENTIALS),
            CoreError::Refused(m) => ApiError::bad_request(m),
            CoreError::Unauthorized(m) => ApiError::unauthorized(m),
            CoreError::NotFound(m) => ApiError::not_found(m),
            e @ CoreError::TooManyItems { .. } => ApiError::bad_request(e.to_string()),
            CoreError::NotRetryable { status } => ApiError::new(
                StatusCode::CONFLICT,
                format!("message is {status}; only failed messages can be retried"),
            ),
            CoreError::IdempotencyConflict => ApiError::new(
                StatusCode::CONFLICT,
                "Idempotency-Key was already used with a different request body",
            ),
            CoreError::IdempotencyInFlight => ApiError::new(
                StatusCode::CONFLICT,
                "a request with this Idempotency-Key is still being processed",
            ),
            CoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            CoreError::BreakerOpen { retry_after } => {
                let secs = whole_seconds(retry_after);
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "The WhatsApp API has been erroring repeatedly, so sending for this account is paused to \
                         protect it; it resumes automatically in about {secs} s"
                    ),
                )
                .retry_after(secs)
            }
            e @ CoreError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            CoreError::Meta(e) => meta_call_error(&e),
            CoreError::NoWabaId => ApiError::bad_request(NO_WABA_ID),
            CoreError::TemplatesUnavailable(e) => {
                // Meta refusing the saved token or WABA id (a 4xx other than 429) is this account's setup to fix,
                // not a failure of Meta's: 400. Meta down or unreachable: 502.
                let refused = e
                    .http_status
                    .is_some_and(|s| (400..500).contains(&s) && s != 429);
                let err = if refused {
                    ApiError::bad_request(format!(
                        "Meta refused to list the templates with this account's credentials: {}; check the \
                         access token and whatsappBusinessAccountId with PUT /auth/me/credentials",
                        e.user_message()
                    ))
                } else {
                    ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        format!(
                            "WhatsApp could not list the templates: {}",
                            e.user_message()
                        ),
                    )
                };
                match e.retry_after {
                    Some(d) => err.retry_after(whole_seconds(d)),
                    None => err,
                }
            }
            CoreError::Store(e) => e.into(),
            other => {
                tracing::error!(error = %other, "unmapped core error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
            }
        }
    }
}

impl From<whatsapi_saas::Error> for ApiError {
    fn from(e: whatsapi_saas::Error) -> Self {
        use whatsapi_saas::Error as Product;
        match e {
            Product::Validation(v) => ApiError::validation(v.0),
            Product::Refused(m) => ApiError::bad_request(m),
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

/// Logs a request refused because storage is unavailable: the first at once, then at most one line every
/// [`UNAVAILABLE_LOG_EVERY`] seconds with how many were refused in between, so clients retrying through an
/// outage of the database cannot flood the log.
fn unavailable_logged(reason: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SILENCED: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + UNAVAILABLE_LOG_EVERY
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let refused_since = SILENCED.swap(0, Ordering::Relaxed);
        tracing::error!(%reason, refused_since, "storage unavailable; requests are refused with 503");
    } else {
        SILENCED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Seconds between two log lines about requests refused for unavailable storage.
const UNAVAILABLE_LOG_EVERY: u64 = 5;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => {
                unavailable_logged(&reason);
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
