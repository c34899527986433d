//! The facade's error: what went wrong, in the domain's terms. An edge (the reference server) decides how each is
//! answered.

use std::time::Duration;

use crate::message::Status;
use crate::send::ValidationErrors;
use crate::store::StoreError;

/// Why a [`WhatsApi`](super::WhatsApi) call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is invalid; every failing field is listed.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// A real send needs the account's Meta credentials and it has none (a dry run needs none).
    #[error("the account has no Meta credentials, which a real send needs (a dry run does not)")]
    NoCredentials,
    /// Unknown id, or one that belongs to another account.
    #[error("{0}")]
    NotFound(String),
    /// Sending for the account is paused by its circuit breaker after repeated Meta errors.
    #[error(
        "sending is paused after repeated errors from the WhatsApp API; it resumes in {retry_after:?}"
    )]
    BreakerOpen {
        /// Time until sending resumes (the next probe).
        retry_after: Duration,
    },
    /// Only failed messages can be retried; this one is in `status`.
    #[error("message is {status}; only failed messages can be retried")]
    NotRetryable {
        /// The message's status.
        status: Status,
    },
    /// A bulk request holds more items than the caller allows in one request (checked after the idempotency
    /// lookup, so a replay of an accepted request is answered even if the limit has since gone down).
    #[error("at most {max} items per bulk request, got {got}")]
    TooManyItems {
        /// The most items allowed.
        max: usize,
        /// Items in the request.
        got: usize,
    },
    /// The idempotency key was already used for a different request.
    #[error("the idempotency key was already used with a different request")]
    IdempotencyConflict,
    /// A request with the idempotency key is still being processed.
    #[error("a request with this idempotency key is still being processed")]
    IdempotencyInFlight,
    /// The request cannot be served as asked (an unreadable Meta webhook payload, no credentials to verify, …).
    #[error("{0}")]
    Refused(String),
    /// The caller is not who it claims to be (a Meta webhook without a valid `X-Hub-Signature-256`).
    #[error("{0}")]
    Unauthorized(String),
    /// The resource is not in a state that allows the operation.
    #[error("{0}")]
    Conflict(String),
    /// Meta refused or failed a call made on the caller's behalf (an upload, a read receipt); its code and
    /// message are kept.
    #[error("{0}")]
    Meta(Box<crate::transport::SendError>),
    /// Templates were asked for an account whose credentials name no WhatsApp Business Account id.
    #[error(
        "the account's credentials have no WhatsApp Business Account id, which listing templates needs"
    )]
    NoWabaId,
    /// Meta's template list could not be read and none is cached; Meta's error is kept.
    #[error("the templates could not be read from WhatsApp: {0}")]
    TemplatesUnavailable(Box<crate::transport::SendError>),
    /// An upload is larger than Meta takes for its kind of media.
    #[error("the file is larger than the {limit} bytes WhatsApp takes for {}", kind.as_str())]
    TooLarge {
        /// The kind the file's type belongs to.
        kind: crate::upload::MediaKind,
        /// The kind's limit in bytes.
        limit: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// A validation error on one field.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errs = ValidationErrors::default();
        errs.push(field, message);
        Error::Validation(errs)
    }
}
