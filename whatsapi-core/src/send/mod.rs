//! Typed send requests, built in Rust and checked once by [`WhatsApi::send`](crate::WhatsApi::send) /
//! [`WhatsApi::send_bulk`](crate::WhatsApi::send_bulk).
//!
//! ```
//! use whatsapi_core::PhoneNumber;
//! use whatsapi_core::send::SendRequest;
//!
//! let to = PhoneNumber::parse("14155552671").unwrap();
//! let hello = SendRequest::text(to.clone(), "Your order has shipped.");
//! let ready = SendRequest::template(to, "order_ready", "en_US").body_params(["Sarah", "#1042"]);
//! assert_eq!(ready.content().template().unwrap().components.len(), 1);
//! # let _ = hello;
//! ```
//!
//! Validation reports **every** failing value, each under a domain field identifier ([`field`]): `text`,
//! `template.components[0].parameters[1].text`, `send_at`, `items[3].to`. Edges that speak another vocabulary
//! (the reference API's JSON names) translate the identifiers; the checks of single values are public
//! (`check_*`) so such an edge can run them while it parses and report in its own words.

mod bulk;
mod checks;
mod request;

pub use bulk::{BulkItem, BulkItemError, BulkRequest};
pub use checks::{
    BODY_PARAMETERS, HEADER_PARAMETERS, MAX_METADATA_BYTES, MAX_PARAMETER_CHARS,
    MAX_TEMPLATE_NAME_BYTES, MAX_TEXT_CHARS, button_parameters, check_currency_code,
    check_language, check_media, check_metadata, check_parameter_text, check_send_at,
    check_template_name, check_text, parameter_type,
};
pub use checks::{
    MAX_BUTTON_ID_CHARS, MAX_BUTTON_TITLE_CHARS, MAX_CAPTION_CHARS, MAX_FILENAME_CHARS,
    MAX_INTERACTIVE_BODY_CHARS, MAX_INTERACTIVE_HEADER_CHARS, MAX_LIST_ROWS, MAX_LIST_SECTIONS,
    MAX_LIST_TITLE_CHARS, MAX_REPLY_BUTTONS, MAX_ROW_DESCRIPTION_CHARS, MAX_ROW_ID_CHARS,
    check_bounded, check_coordinate, check_emoji, check_message_media, check_url, media_extensions,
};
pub use checks::{
    MAX_COUPON_CODE_CHARS, MAX_HEADER_PARAMETER_CHARS, check_body_parameter_text,
    check_header_media, check_parameter_name, check_template,
};
pub use checks::{
    MAX_VALIDITY, MIN_VALIDITY, check_from, check_send_at_before_expiry, check_validity,
};
pub use request::{SendRequest, check_content, check_reply_to};

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The domain field identifiers that validation reports (beside template paths such as
/// `template.components[0].parameters[1].text`, which follow the template's own structure).
pub mod field {
    /// The recipient.
    pub const TO: &str = "to";
    /// The message replied to (Meta's `context.message_id`).
    pub const CONTEXT: &str = "context.message_id";
    /// The body of a text message.
    pub const TEXT: &str = "text";
    /// The template reference (its parts are `template.name`, `template.language`, `template.components…`).
    pub const TEMPLATE: &str = "template";
    /// The scheduled send time.
    pub const SEND_AT: &str = "send_at";
    /// The validity period (whole seconds from acceptance).
    pub const VALIDITY: &str = "validity";
    /// The business number to send from.
    pub const FROM: &str = "from";
    /// The caller's metadata.
    pub const METADATA: &str = "metadata";
    /// An idempotency key where none is accepted (on an item of a bulk request).
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
    /// The items of a bulk request (`items[3].to` for one of an item's fields).
    pub const ITEMS: &str = "items";
}

/// One failing field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Identifier (or path) of the field.
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

/// Every failing field of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Adds a failure.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// No failures.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many failures.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The failures.
    pub fn fields(&self) -> &[FieldError] {
        &self.0
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Limits that depend on configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRules {
    /// How far ahead a send may be scheduled (default 35 days).
    pub schedule_horizon: Duration,
}

impl Default for SendRules {
    fn default() -> Self {
        Self {
            schedule_horizon: Duration::from_secs(35 * 24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests;
