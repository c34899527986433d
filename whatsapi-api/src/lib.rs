//! # whatsapi-api
//!
//! The reference API's JSON at the edge of [`whatsapi_core`]: the bodies of `POST /send-message` and
//! `POST /messages/bulk` parsed into core's typed [`SendRequest`](whatsapi_core::SendRequest) /
//! [`BulkRequest`](whatsapi_core::BulkRequest), every failing field reported under the JSON name the API documents;
//! the `202` answers built from core's [`Queued`](whatsapi_core::Queued) / [`BulkQueued`](whatsapi_core::BulkQueued);
//! and [`utoipa`] schemas of both, field by field.
//!
//! ```
//! use serde_json::json;
//! use whatsapi_core::SendRules;
//!
//! let body = json!({
//!     "to": "14155552671",
//!     "template": {"name": "order_ready", "language": "en_US", "components": [
//!         {"type": "body", "parameters": [{"type": "text", "text": "Sarah"}, {"type": "text", "text": "#1042"}]}
//!     ]}
//! });
//! let request = whatsapi_api::parse_send(&body, chrono::Utc::now(), &SendRules::default()).unwrap();
//! assert_eq!(request.recipient().to(), Some("14155552671"));
//! assert_eq!(request.content().template().unwrap().name, "order_ready");
//!
//! // Failures name the JSON fields.
//! let errors = whatsapi_api::parse_send(&json!({"to": "+1 415"}), chrono::Utc::now(), &SendRules::default())
//!     .unwrap_err();
//! let fields: Vec<&str> = errors.fields().iter().map(|f| f.field.as_str()).collect();
//! assert_eq!(fields, ["to", "message"]);
//! ```
//!
//! Core speaks domain identifiers (`text`, `send_at`, `items[3].to`); [`send_error`] and
//! [`ParsedBulk::json_error`] / [`ParsedBulk::accepted`] put its answers back into the API's names.

#![warn(missing_docs)]

mod answer;
mod campaign;
mod content;
mod parse;
pub mod schema;

pub use answer::{
    BulkAccepted, BulkItemErrorBody, FieldErrorBody, QueuedStatus, SendAccepted, json_field,
    send_error,
};
pub use campaign::{ParsedCampaign, campaign_error, csv_recipients, parse_campaign};
pub use parse::{ParsedBulk, Schedule, parse_bulk, parse_bulk_with, parse_send, parse_send_with};
