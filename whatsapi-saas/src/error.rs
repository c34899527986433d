//! The product's error.

use whatsapi_core::send::ValidationErrors;
use whatsapi_core::store::StoreError;

/// Why a [`Product`](crate::Product) call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is invalid; every failing field is listed.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// The call cannot be served as asked (a plan that cannot be bought, a bad Stripe signature); the text says
    /// why.
    #[error("{0}")]
    Refused(String),
    /// Missing, malformed or unknown API key.
    #[error("{0}")]
    Unauthorized(String),
    /// The account is deactivated.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown account.
    #[error("{0}")]
    NotFound(String),
    /// The email is taken, a concurrent key rotation won, or the account already has a subscription.
    #[error("{0}")]
    Conflict(String),
    /// The feature is not configured (billing without Stripe).
    #[error("{0}")]
    NotConfigured(String),
    /// The payment provider failed or refused.
    #[error("{0}")]
    Upstream(String),
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
