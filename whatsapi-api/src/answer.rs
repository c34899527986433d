//! The answers of a send and a bulk send, and core's field identifiers under the JSON names the API documents.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use whatsapi_core::send::{BulkItemError, FieldError, ValidationErrors, field};
use whatsapi_core::webhook::format_time;
use whatsapi_core::{BulkQueued, Error, Queued, Status};

use crate::parse::ParsedBulk;

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueuedStatus {
    /// Waiting to be sent now.
    Queued,
    /// Waiting for its `sendAt`.
    Scheduled,
}

/// `data` of a `202` answer to `POST /send-message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SendAcceptedView)]
pub struct SendAccepted {
    /// Message id; use it with `GET /messages/{id}`.
    #[schema(example = "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20")]
    pub id: String,
    /// `queued`, or `scheduled` when `sendAt` was given.
    pub status: QueuedStatus,
    /// The `sendAt` time (RFC 3339, UTC), or null.
    #[schema(example = "2026-05-01T09:00:00.000Z")]
    pub scheduled_for: Option<String>,
    /// When the message fails unsent if it has not been handed to Meta by then (RFC 3339, UTC): acceptance plus
    /// `validitySeconds`, or the account's `defaultValiditySeconds`; null when neither is set.
    #[serde(default)]
    #[schema(example = "2026-05-01T09:05:00.000Z")]
    pub expires_at: Option<String>,
}

impl From<&Queued> for SendAccepted {
    fn from(q: &Queued) -> Self {
        Self {
            id: q.id.to_string(),
            status: if q.status == Status::Scheduled {
                QueuedStatus::Scheduled
            } else {
                QueuedStatus::Queued
            },
            scheduled_for: q.scheduled_for.as_ref().map(format_time),
            expires_at: q.expires_at.as_ref().map(format_time),
        }
    }
}

/// One failing field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = FieldErrorView)]
pub struct FieldErrorBody {
    /// Path of the field, e.g. `to` or `messages[2].template.name`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// One refused item of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = BulkItemErrorView)]
pub struct BulkItemErrorBody {
    /// Position in `messages`.
    pub index: usize,
    /// Its failing fields, relative to the item.
    pub details: Vec<FieldErrorBody>,
}

/// `data` of a `202` answer to `POST /messages/bulk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BulkAcceptedView)]
pub struct BulkAccepted {
    /// Filter `GET /messages?batchId=` with it.
    #[schema(example = "0192f7c5-8d3e-7cc1-b0a4-6d1e2f3a4b5c")]
    pub batch_id: String,
    /// Items in the request.
    pub total_messages: usize,
    /// Items queued (or scheduled).
    pub queued: usize,
    /// Items refused.
    pub failed_count: usize,
    /// Why each refused item was refused.
    pub errors: Vec<BulkItemErrorBody>,
}

/// The JSON name of one of core's field identifiers of a send (a path relative to the send): `text` is
/// `message`, `send_at` is `sendAt`; template paths are the same in both.
pub fn json_field(domain: &str) -> String {
    let end = domain.find(['.', '[']).unwrap_or(domain.len());
    let (head, rest) = domain.split_at(end);
    let head = match head {
        field::TEXT => "message",
        field::SEND_AT => "sendAt",
        field::VALIDITY => "validitySeconds",
        field::IDEMPOTENCY_KEY => "idempotencyKey",
        other => other,
    };
    format!("{head}{rest}")
}

fn json_details(details: Vec<FieldError>) -> Vec<FieldError> {
    details
        .into_iter()
        .map(|d| FieldError {
            field: json_field(&d.field),
            message: d.message,
        })
        .collect()
}

/// A send's error with validation failures under their JSON names; other errors unchanged.
pub fn send_error(e: Error) -> Error {
    match e {
        Error::Validation(v) => Error::Validation(ValidationErrors(json_details(v.0))),
        other => other,
    }
}

impl ParsedBulk {
    /// The JSON path of a failure of the bulk request: `items[3].send_at` is `messages[3].sendAt`; the failures
    /// of items this parse rejected already carry JSON names.
    pub fn json_path(&self, domain: &str) -> String {
        let Some(rest) = domain.strip_prefix(field::ITEMS) else {
            return domain.to_owned();
        };
        let Some((index, tail)) = rest
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .and_then(|(i, tail)| Some((i.parse::<usize>().ok()?, tail)))
        else {
            return format!("messages{rest}");
        };
        match tail.strip_prefix('.') {
            Some(f) if self.rejected.contains(&index) => format!("messages[{index}].{f}"),
            Some(f) => format!("messages[{index}].{}", json_field(f)),
            None => format!("messages[{index}]{tail}"),
        }
    }

    /// A bulk send's error with validation failures under their JSON names; other errors unchanged.
    pub fn json_error(&self, e: Error) -> Error {
        match e {
            Error::Validation(v) => Error::Validation(ValidationErrors(
                v.0.into_iter()
                    .map(|d| FieldError {
                        field: self.json_path(&d.field),
                        message: d.message,
                    })
                    .collect(),
            )),
            Error::TooManyItems { max, got } => {
                let mut errs = ValidationErrors::default();
                errs.push("messages", too_many_messages(max, got));
                Error::Validation(errs)
            }
            other => other,
        }
    }

    /// The answer to the bulk request, with each refused item's failures under their JSON names.
    pub fn accepted(&self, q: &BulkQueued) -> BulkAccepted {
        let item = |e: &BulkItemError| BulkItemErrorBody {
            index: e.index,
            details: e
                .details
                .iter()
                .map(|d| FieldErrorBody {
                    field: if self.rejected.contains(&e.index) {
                        d.field.clone()
                    } else {
                        json_field(&d.field)
                    },
                    message: d.message.clone(),
                })
                .collect(),
        };
        BulkAccepted {
            batch_id: q.batch_id.to_string(),
            total_messages: q.total,
            queued: q.queued,
            failed_count: q.failed(),
            errors: q.errors.iter().map(item).collect(),
        }
    }
}

/// The refusal of a bulk body over the account's cap, worded for the API's users (whose cap comes with their plan).
pub(crate) fn too_many_messages(max: usize, got: usize) -> String {
    format!("at most {max} messages per bulk request on this plan, got {got}")
}
