//! [`BulkRequest`]: many sends in one request, each item judged on its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::idempotency::{Fingerprint, IdempotencyKey, RequestKind};

use super::{FieldError, SendRequest, SendRules, ValidationErrors, field};

/// One item of a bulk request that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkItemError {
    /// Position of the item in the request.
    pub index: usize,
    /// Its failing fields (identifiers relative to the item).
    pub details: Vec<FieldError>,
}

/// One item of a [`BulkRequest`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Nearly every item is a send, held in one Vec per request: boxing each would cost an allocation per item to shrink
// the rare rejected ones.
#[allow(clippy::large_enum_variant)]
pub enum BulkItem {
    /// A message to send.
    Send(SendRequest),
    /// An item the caller could not turn into a [`SendRequest`] (say, unreadable input at an edge): counted and
    /// reported with its failures like an item that fails validation, in its place.
    Rejected(Vec<FieldError>),
}

/// Many messages in one request. Invalid items are reported while the valid ones are queued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkRequest {
    items: Vec<BulkItem>,
    idempotency_key: Option<IdempotencyKey>,
}

impl BulkRequest {
    /// A request of these sends (their own idempotency keys are refused: the bulk request's key covers them).
    pub fn new(items: impl IntoIterator<Item = SendRequest>) -> Self {
        Self {
            items: items.into_iter().map(BulkItem::Send).collect(),
            idempotency_key: None,
        }
    }

    /// Appends a send.
    pub fn push(&mut self, request: SendRequest) {
        self.items.push(BulkItem::Send(request));
    }

    /// Appends an item that is already known to be invalid, with why.
    pub fn push_rejected(&mut self, details: Vec<FieldError>) {
        self.items.push(BulkItem::Rejected(details));
    }

    /// The first outcome is kept for 24 hours and returned again for a repeat of this request with this key.
    pub fn idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// The items, in order.
    pub fn items(&self) -> &[BulkItem] {
        &self.items
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The idempotency key, if any.
    pub fn key(&self) -> Option<&IdempotencyKey> {
        self.idempotency_key.as_ref()
    }

    pub(crate) fn into_items(self) -> Vec<BulkItem> {
        self.items
    }

    /// Checks the request as a whole: at least one item, at most `max_items`.
    pub fn validate_shape(&self, max_items: usize) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.items.is_empty() {
            errs.push(field::ITEMS, "must contain at least one item");
        } else if self.items.len() > max_items {
            errs.push(
                field::ITEMS,
                format!(
                    "at most {max_items} items per bulk request, got {}",
                    self.items.len()
                ),
            );
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// Checks one send item; failures are relative to the item.
    pub(crate) fn check_item(
        request: &SendRequest,
        now: DateTime<Utc>,
        rules: &SendRules,
    ) -> Vec<FieldError> {
        let mut errs = ValidationErrors::default();
        if request.key().is_some() {
            errs.push(
                field::IDEMPOTENCY_KEY,
                "set the idempotency key on the bulk request, not on its items",
            );
        }
        request.check_into("", now, rules, &mut errs);
        errs.0
    }

    /// Identifies the request for idempotency (the key itself is not part of it).
    pub fn fingerprint(&self) -> Fingerprint {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|item| match item {
                BulkItem::Send(r) => json!({ "send": r.canonical(), "keyed": r.key().is_some() }),
                BulkItem::Rejected(details) => json!({ "rejected": details }),
            })
            .collect();
        Fingerprint::of(RequestKind::Bulk, &Value::Array(items))
    }
}
