//! Accepting sends: validation, the circuit breaker, idempotency, and the atomic insert that a `202` promises.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::Account;
use crate::engine::add;
use crate::idempotency::{Decision, Fingerprint, IdempotencyKey, RETENTION, StoredResponse};
use crate::message::{BatchId, MessageContent, MessageId, NewMessage, Status};
use crate::phone::PhoneNumber;
use crate::send::{self as validate, BulkItemError, FieldError, SendRequest, ValidationErrors};
use crate::store::{IdempotencyCompletion, NewBatch, StoreError};
use crate::webhook::rfc3339_opt;

use super::{Error, WhatsApi};

/// A `202 Accepted` answer, possibly replayed from an earlier request with the same `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted<T> {
    /// HTTP status (202, or the stored status of a replay).
    pub status: u16,
    /// The response data.
    pub data: T,
    /// True when this is the stored answer of an earlier request (`Idempotency-Replayed: true`).
    pub replayed: bool,
}

/// `data` of `POST /send-message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendAccepted {
    /// The message id, to track it.
    pub id: MessageId,
    /// `queued`, or `scheduled` when `sendAt` was given.
    pub status: Status,
    /// The requested send time, or null.
    #[serde(with = "rfc3339_opt")]
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// `data` of `POST /messages/bulk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkAccepted {
    /// Filter `GET /messages?batchId=` with it.
    pub batch_id: BatchId,
    /// Items in the request.
    pub total_messages: usize,
    /// Items queued (or scheduled).
    pub queued: usize,
    /// Items refused.
    pub failed_count: usize,
    /// Why each refused item was refused.
    pub errors: Vec<BulkItemError>,
}

const SEND_PATH: &str = "/send-message";
const BULK_PATH: &str = "/messages/bulk";
const NO_CREDENTIALS: &str = "this account has no Meta credentials; save your Meta credentials first with PUT \
     /auth/me/credentials (or send with \"dry_run\": true to test without them)";
const WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// An idempotency reservation held by a running request.
struct Reservation {
    key: IdempotencyKey,
    fingerprint: Fingerprint,
}

enum Begun {
    Fresh(Option<Reservation>),
    Replay(StoredResponse),
}

impl WhatsApi {
    /// Queues one message (`POST /send-message`). `body` is the request JSON; with an `Idempotency-Key` the
    /// first outcome is stored and replayed for 24 hours.
    pub async fn send(
        &self,
        account: &Account,
        body: &Value,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Accepted<SendAccepted>, Error> {
        let now = self.clock().now();
        match self
            .begin(account, idempotency_key, SEND_PATH, body, now)
            .await?
        {
            Begun::Replay(stored) => replay(stored),
            Begun::Fresh(reservation) => {
                let result = self.send_fresh(account, body, now, &reservation).await;
                self.settle(account, reservation, result).await
            }
        }
    }

    /// Queues many messages (`POST /messages/bulk`), at most `max_items` of them (more is a validation error).
    /// Invalid items are reported in `errors` while the valid ones are queued; when no item is valid the whole
    /// request is a validation error.
    pub async fn send_bulk(
        &self,
        account: &Account,
        body: &Value,
        idempotency_key: Option<&IdempotencyKey>,
        max_items: usize,
    ) -> Result<Accepted<BulkAccepted>, Error> {
        let now = self.clock().now();
        match self
            .begin(account, idempotency_key, BULK_PATH, body, now)
            .await?
        {
            Begun::Replay(stored) => replay(stored),
            Begun::Fresh(reservation) => {
                let result = self
                    .bulk_fresh(account, body, now, &reservation, max_items)
                    .await;
                self.settle(account, reservation, result).await
            }
        }
    }

    async fn begin(
        &self,
        account: &Account,
        key: Option<&IdempotencyKey>,
        path: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<Begun, Error> {
        let Some(key) = key else {
            return Ok(Begun::Fresh(None));
        };
        let fingerprint = Fingerprint::of("POST", path, body);
        match self
            .store()
            .idempotency_begin(account.id, key, &fingerprint, now)
            .await?
        {
            Decision::Fresh => Ok(Begun::Fresh(Some(Reservation {
                key: key.clone(),
                fingerprint,
            }))),
            Decision::Replay(stored) => Ok(Begun::Replay(stored)),
            Decision::Conflict => Err(Error::Conflict(
                "Idempotency-Key was already used with a different request body".into(),
            )),
            Decision::InFlight => Err(Error::Conflict(
                "a request with this Idempotency-Key is still being processed".into(),
            )),
        }
    }

    /// Frees the key of a request that failed (validation failures are not stored), and wakes the dispatcher
    /// after a success.
    async fn settle<T>(
        &self,
        account: &Account,
        reservation: Option<Reservation>,
        result: Result<T, Error>,
    ) -> Result<Accepted<T>, Error> {
        match result {
            Ok(data) => {
                self.core().dispatch_wake.notify();
                Ok(Accepted {
                    status: 202,
                    data,
                    replayed: false,
                })
            }
            Err(e) => {
                if let Some(r) = reservation {
                    if let Err(release) = self.store().idempotency_release(account.id, &r.key).await
                    {
                        tracing::warn!(error = %release, "releasing an idempotency key failed; it frees when its lock ends");
                    }
                }
                Err(e)
            }
        }
    }

    async fn send_fresh(
        &self,
        account: &Account,
        body: &Value,
        now: DateTime<Utc>,
        reservation: &Option<Reservation>,
    ) -> Result<SendAccepted, Error> {
        let req = validate::parse_send(body, now, self.send_rules()).map_err(Error::Validation)?;
        if let Some(message) = self.window_refusal(account, &req, now).await? {
            return Err(Error::field("message", message));
        }
        if !req.dry_run && account.credentials.is_none() {
            return Err(Error::BadRequest(NO_CREDENTIALS.into()));
        }
        self.check_breaker(account, now)?;
        let message = new_message(account, None, req, now);
        let data = SendAccepted {
            id: message.id,
            status: message.initial_status(),
            scheduled_for: message.send_at,
        };
        self.insert(account, vec![message], reservation, &data, now)
            .await?;
        tracing::info!(account_id = %account.id, message_id = %data.id, status = %data.status, "message accepted");
        Ok(data)
    }

    async fn bulk_fresh(
        &self,
        account: &Account,
        body: &Value,
        now: DateTime<Utc>,
        reservation: &Option<Reservation>,
        max_items: usize,
    ) -> Result<BulkAccepted, Error> {
        let parsed = validate::parse_bulk(body, now, self.send_rules(), max_items)
            .map_err(Error::Validation)?;
        let total = parsed.valid.len() + parsed.invalid.len();
        let mut invalid = parsed.invalid;
        let mut valid = Vec::with_capacity(parsed.valid.len());
        for (index, req) in parsed.valid {
            match self.window_refusal(account, &req, now).await? {
                Some(message) => invalid.push(BulkItemError {
                    index,
                    details: vec![FieldError {
                        field: "message".into(),
                        message,
                    }],
                }),
                None => valid.push(req),
            }
        }
        invalid.sort_by_key(|e| e.index);
        if valid.is_empty() {
            let mut errs = ValidationErrors::default();
            for item in &invalid {
                for d in &item.details {
                    errs.push(
                        format!("messages[{}].{}", item.index, d.field),
                        d.message.clone(),
                    );
                }
            }
            return Err(Error::Validation(errs));
        }
        if account.credentials.is_none() && valid.iter().any(|r| !r.dry_run) {
            return Err(Error::BadRequest(NO_CREDENTIALS.into()));
        }
        self.check_breaker(account, now)?;
        let batch_id = BatchId::new();
        let messages: Vec<NewMessage> = valid
            .into_iter()
            .map(|req| new_message(account, Some(batch_id), req, now))
            .collect();
        let data = BulkAccepted {
            batch_id,
            total_messages: total,
            queued: messages.len(),
            failed_count: invalid.len(),
            errors: invalid,
        };
        self.insert(account, messages, reservation, &data, now)
            .await?;
        tracing::info!(account_id = %account.id, %batch_id, queued = data.queued, refused = data.failed_count, "bulk accepted");
        Ok(data)
    }

    /// Stores the messages and the idempotent answer in one transaction.
    async fn insert<T: Serialize>(
        &self,
        account: &Account,
        messages: Vec<NewMessage>,
        reservation: &Option<Reservation>,
        data: &T,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let idempotency = match reservation {
            Some(r) => Some(IdempotencyCompletion {
                key: r.key.clone(),
                fingerprint: r.fingerprint,
                response: StoredResponse {
                    status: 202,
                    body: serde_json::to_value(data).map_err(|e| {
                        Error::Store(StoreError::Backend(format!(
                            "serializing the response failed: {e}"
                        )))
                    })?,
                },
                expires_at: add(now, RETENTION),
            }),
            None => None,
        };
        self.store()
            .insert_messages(NewBatch {
                account_id: account.id,
                messages,
                idempotency,
            })
            .await?;
        Ok(())
    }

    /// `Unavailable` while the account's circuit breaker is open.
    fn check_breaker(&self, account: &Account, now: DateTime<Utc>) -> Result<(), Error> {
        let stored = account.breaker.open_until.filter(|t| *t > now);
        let local = self.core().breakers.open_until(account.id, now);
        let Some(until) = stored.max(local) else {
            return Ok(());
        };
        let millis = (until - now).num_milliseconds().max(1);
        let secs = u64::try_from(millis).unwrap_or(u64::MAX).div_ceil(1000);
        Err(Error::Unavailable {
            message: format!(
                "The WhatsApp API has been erroring repeatedly, so sending for this account is paused to protect \
                 it; it resumes automatically in about {secs} s"
            ),
            retry_after_secs: secs,
        })
    }

    /// For accounts in strict 24-hour-window mode: why a free-form text to this recipient would be refused.
    async fn window_refusal(
        &self,
        account: &Account,
        req: &SendRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, Error> {
        if !account.strict_window || !matches!(req.content, MessageContent::Text { .. }) {
            return Ok(None);
        }
        let at = req.send_at.unwrap_or(now);
        let last = self
            .store()
            .last_inbound(account.id, req.to.as_str())
            .await?;
        if last.is_some_and(|t| t + WINDOW > at) {
            return Ok(None);
        }
        Ok(Some(window_message(&req.to)))
    }
}

fn window_message(to: &PhoneNumber) -> String {
    format!(
        "free-form text can only be sent within 24 hours of the recipient's last message, and {to} has not \
         written in that window; send an approved template (the template field) instead"
    )
}

fn new_message(
    account: &Account,
    batch_id: Option<BatchId>,
    req: SendRequest,
    now: DateTime<Utc>,
) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        account_id: account.id,
        batch_id,
        to: req.to,
        content: req.content,
        send_at: req.send_at,
        metadata: req.metadata,
        dry_run: req.dry_run,
        created_at: now,
    }
}

fn replay<T: DeserializeOwned>(stored: StoredResponse) -> Result<Accepted<T>, Error> {
    let data = serde_json::from_value(stored.body).map_err(|e| {
        Error::Store(StoreError::Backend(format!(
            "the stored idempotent response is unreadable: {e}"
        )))
    })?;
    Ok(Accepted {
        status: stored.status,
        data,
        replayed: true,
    })
}
