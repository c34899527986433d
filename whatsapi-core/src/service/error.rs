//! The facade's error: one variant per HTTP answer of the reference API.

use crate::send::ValidationErrors;
use crate::store::StoreError;

/// Why a [`WhatsApi`](super::WhatsApi) call failed. Each variant maps to one HTTP status ([`Error::http_status`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// 400: the request is invalid; `details` lists every failing field.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// 400: the request cannot be served as asked (e.g. no Meta credentials for a real send).
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing, malformed or unknown API key.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the account is deactivated.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown id, or one that belongs to another account.
    #[error("{0}")]
    NotFound(String),
    /// 409: idempotency key conflict, or the resource is not in a state that allows the operation.
    #[error("{0}")]
    Conflict(String),
    /// 503 with `Retry-After`: sending for the account is paused by its circuit breaker.
    #[error("{message}")]
    Unavailable {
        /// Human-readable reason.
        message: String,
        /// Seconds until sending resumes (the next probe).
        retry_after_secs: u64,
    },
    /// The store failed: 503 when it is temporarily unavailable, 500 otherwise.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The HTTP status this error answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Validation(_) | Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Unavailable { .. } | Error::Store(StoreError::Unavailable(_)) => 503,
            Error::Store(_) => 500,
        }
    }

    /// A validation error on one field.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errs = ValidationErrors::default();
        errs.push(field, message);
        Error::Validation(errs)
    }
}
