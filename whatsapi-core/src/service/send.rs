//! Accepting sends: validation, the circuit breaker, idempotency, and the atomic insert behind a queued answer.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::engine::add;
use crate::idempotency::{Decision, Fingerprint, IdempotencyKey, RETENTION, StoredOutcome};
use crate::message::{BatchId, MessageContent, MessageId, NewMessage, Status};
use crate::send::{
    BulkItem, BulkItemError, BulkRequest, FieldError, SendRequest, ValidationErrors, field,
};
use crate::store::{IdempotencyCompletion, NewBatch, StoreError};
use crate::webhook::rfc3339_opt;

use super::{Error, WhatsApi};

/// A message accepted for sending: stored, and queued (or scheduled).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Queued {
    /// The message id, to track it.
    pub id: MessageId,
    /// [`Status::Queued`], or [`Status::Scheduled`] for a scheduled send.
    pub status: Status,
    /// The scheduled send time, if any.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When it expires unsent (its validity period, or the account's default, from acceptance); `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// True when this is the kept outcome of an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// A bulk request accepted: its valid items stored and queued, its invalid ones listed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BulkQueued {
    /// The batch the queued messages belong to.
    pub batch_id: BatchId,
    /// Items in the request.
    pub total: usize,
    /// Items queued (or scheduled).
    pub queued: usize,
    /// Why each refused item was refused, by position.
    pub errors: Vec<BulkItemError>,
    /// True when this is the kept outcome of an earlier request with the same idempotency key.
    pub replayed: bool,
}

impl BulkQueued {
    /// Items refused.
    pub fn failed(&self) -> usize {
        self.errors.len()
    }
}

/// How a [`Queued`] outcome is kept for replay (the names of the JSON stored before outcomes were typed, so those
/// records replay too).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeptQueued {
    id: MessageId,
    status: Status,
    #[serde(with = "rfc3339_opt")]
    scheduled_for: Option<DateTime<Utc>>,
    /// Absent from outcomes kept before validity periods existed.
    #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
}

/// How a [`BulkQueued`] outcome is kept for replay.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeptBulk {
    batch_id: BatchId,
    total_messages: usize,
    queued: usize,
    errors: Vec<BulkItemError>,
}

const WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// The extra numbers one request names as `from`, read once each: whether each has a token of its own (`None`:
/// not one of the account's numbers).
#[derive(Default)]
pub(super) struct Senders(std::collections::HashMap<String, Option<bool>>);

impl Senders {
    /// Whether a send of `req` needs the account's default credentials: it is real and does not go out on an
    /// extra number with a token of its own.
    pub(super) fn needs_default_credentials(&self, req: &SendRequest) -> bool {
        !req.is_dry_run()
            && req
                .sender()
                .is_none_or(|f| self.0.get(f).copied().flatten() != Some(true))
    }
}

/// An idempotency reservation held by a running request.
struct Reservation {
    key: IdempotencyKey,
    fingerprint: Fingerprint,
}

enum Begun {
    Fresh(Option<Reservation>),
    Replay(StoredOutcome),
}

impl WhatsApi {
    /// Queues one message. With an idempotency key, the first outcome is kept and returned again (marked
    /// `replayed`) for 24 hours to a repeat of the same request; a different request with the key is
    /// [`Error::IdempotencyConflict`].
    pub async fn send(&self, account: &Account, request: SendRequest) -> Result<Queued, Error> {
        let now = self.clock().now();
        let keyed = request.key().map(|k| (k.clone(), request.fingerprint()));
        match self.begin(account, keyed, now).await? {
            Begun::Replay(stored) => {
                let kept: KeptQueued = unkeep(stored)?;
                Ok(Queued {
                    id: kept.id,
                    status: kept.status,
                    scheduled_for: kept.scheduled_for,
                    expires_at: kept.expires_at,
                    replayed: true,
                })
            }
            Begun::Fresh(reservation) => {
                let result = self.send_fresh(account, request, now, &reservation).await;
                self.settle(account, reservation, result).await
            }
        }
    }

    /// Queues many messages; `max_items` is the most the caller allows in one request. Invalid items are listed
    /// in `errors` while the valid ones are queued; when no item is valid the whole request is a validation error
    /// (paths `items[i].…`).
    pub async fn send_bulk(
        &self,
        account: &Account,
        request: BulkRequest,
        max_items: usize,
    ) -> Result<BulkQueued, Error> {
        let now = self.clock().now();
        let keyed = request.key().map(|k| (k.clone(), request.fingerprint()));
        match self.begin(account, keyed, now).await? {
            Begun::Replay(stored) => {
                let kept: KeptBulk = unkeep(stored)?;
                Ok(BulkQueued {
                    batch_id: kept.batch_id,
                    total: kept.total_messages,
                    queued: kept.queued,
                    errors: kept.errors,
                    replayed: true,
                })
            }
            Begun::Fresh(reservation) => {
                let result = self
                    .bulk_fresh(account, request, max_items, now, &reservation)
                    .await;
                self.settle(account, reservation, result).await
            }
        }
    }

    /// Looks up (and reserves) the request's key and fingerprint, if it has a key.
    async fn begin(
        &self,
        account: &Account,
        keyed: Option<(IdempotencyKey, Fingerprint)>,
        now: DateTime<Utc>,
    ) -> Result<Begun, Error> {
        let Some((key, fingerprint)) = keyed else {
            return Ok(Begun::Fresh(None));
        };
        match self
            .store()
            .idempotency_begin(account.id, &key, &fingerprint, now)
            .await?
        {
            Decision::Fresh => Ok(Begun::Fresh(Some(Reservation { key, fingerprint }))),
            Decision::Replay(stored) => Ok(Begun::Replay(stored)),
            Decision::Conflict => Err(Error::IdempotencyConflict),
            Decision::InFlight => Err(Error::IdempotencyInFlight),
        }
    }

    /// Frees the key of a request that failed (validation failures are not kept), and wakes the dispatcher
    /// after a success.
    async fn settle<T>(
        &self,
        account: &Account,
        reservation: Option<Reservation>,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        match result {
            Ok(data) => {
                self.core().dispatch_wake.notify();
                Ok(data)
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
        mut request: SendRequest,
        now: DateTime<Utc>,
        reservation: &Option<Reservation>,
    ) -> Result<Queued, Error> {
        request
            .validate(now, self.send_rules())
            .map_err(Error::Validation)?;
        if let Some(message) = default_expiry_refusal(account, &request, now) {
            return Err(Error::field(field::SEND_AT, message));
        }
        let mut senders = Senders::default();
        self.reply_on_receiving_number(account, &mut request)
            .await?;
        if let Some(message) = self.sender_refusal(account, &request, &mut senders).await? {
            return Err(Error::field(field::FROM, message));
        }
        if let Some((field, message)) = self.resolve_references(account, &mut request).await? {
            return Err(Error::field(field, message));
        }
        if let Some(message) = self.window_refusal(account, &request, now).await? {
            return Err(Error::field(window_field(&request), message));
        }
        if let Some((field, message)) = self.template_refusal(account, &request).await? {
            return Err(Error::field(field, message));
        }
        if let Some((field, message)) = self.marketing_refusal(account, &request, now).await? {
            return Err(Error::field(field, message));
        }
        if account.credentials.is_none() && senders.needs_default_credentials(&request) {
            return Err(Error::NoCredentials);
        }
        self.check_breaker(account, now)?;
        let message = new_message(account, None, request, now);
        let kept = KeptQueued {
            id: message.id,
            status: message.initial_status(),
            scheduled_for: message.send_at,
            expires_at: message.expires_at,
        };
        self.insert(account, vec![message], reservation, &kept, now)
            .await?;
        tracing::info!(account_id = %account.id, message_id = %kept.id, status = %kept.status, "message accepted");
        Ok(Queued {
            id: kept.id,
            status: kept.status,
            scheduled_for: kept.scheduled_for,
            expires_at: kept.expires_at,
            replayed: false,
        })
    }

    async fn bulk_fresh(
        &self,
        account: &Account,
        request: BulkRequest,
        max_items: usize,
        now: DateTime<Utc>,
        reservation: &Option<Reservation>,
    ) -> Result<BulkQueued, Error> {
        if request.len() > max_items {
            return Err(Error::TooManyItems {
                max: max_items,
                got: request.len(),
            });
        }
        request
            .validate_shape(max_items)
            .map_err(Error::Validation)?;
        let items = request.into_items();
        let total = items.len();
        let mut invalid = Vec::new();
        let mut valid = Vec::with_capacity(total);
        let mut senders = Senders::default();
        for (index, item) in items.into_iter().enumerate() {
            let mut req = match item {
                BulkItem::Send(req) => req,
                BulkItem::Rejected(details) => {
                    invalid.push(BulkItemError { index, details });
                    continue;
                }
            };
            let mut details = BulkRequest::check_item(&req, now, self.send_rules());
            if details.is_empty() {
                if let Some(message) = default_expiry_refusal(account, &req, now) {
                    details.push(FieldError {
                        field: field::SEND_AT.into(),
                        message,
                    });
                }
            }
            if !details.is_empty() {
                invalid.push(BulkItemError { index, details });
                continue;
            }
            self.reply_on_receiving_number(account, &mut req).await?;
            if let Some(message) = self.sender_refusal(account, &req, &mut senders).await? {
                invalid.push(BulkItemError {
                    index,
                    details: vec![FieldError {
                        field: field::FROM.into(),
                        message,
                    }],
                });
                continue;
            }
            if let Some((field, message)) = self.resolve_references(account, &mut req).await? {
                invalid.push(BulkItemError {
                    index,
                    details: vec![FieldError {
                        field: field.into(),
                        message,
                    }],
                });
                continue;
            }
            if let Some(message) = self.window_refusal(account, &req, now).await? {
                invalid.push(BulkItemError {
                    index,
                    details: vec![FieldError {
                        field: window_field(&req).into(),
                        message,
                    }],
                });
                continue;
            }
            let refusal = match self.template_refusal(account, &req).await? {
                Some(refusal) => Some(refusal),
                None => self.marketing_refusal(account, &req, now).await?,
            };
            match refusal {
                Some((field, message)) => invalid.push(BulkItemError {
                    index,
                    details: vec![FieldError {
                        field: field.into(),
                        message,
                    }],
                }),
                None => valid.push(req),
            }
        }
        if valid.is_empty() {
            let mut errs = ValidationErrors::default();
            for item in &invalid {
                for d in &item.details {
                    errs.push(
                        format!("{}[{}].{}", field::ITEMS, item.index, d.field),
                        d.message.clone(),
                    );
                }
            }
            return Err(Error::Validation(errs));
        }
        if account.credentials.is_none()
            && valid.iter().any(|r| senders.needs_default_credentials(r))
        {
            return Err(Error::NoCredentials);
        }
        self.check_breaker(account, now)?;
        let batch_id = BatchId::new();
        let messages: Vec<NewMessage> = valid
            .into_iter()
            .map(|req| new_message(account, Some(batch_id), req, now))
            .collect();
        let kept = KeptBulk {
            batch_id,
            total_messages: total,
            queued: messages.len(),
            errors: invalid,
        };
        self.insert(account, messages, reservation, &kept, now)
            .await?;
        tracing::info!(account_id = %account.id, %batch_id, queued = kept.queued, refused = kept.errors.len(), "bulk accepted");
        Ok(BulkQueued {
            batch_id,
            total,
            queued: kept.queued,
            errors: kept.errors,
            replayed: false,
        })
    }

    /// Stores the messages and the kept outcome in one transaction.
    async fn insert<T: Serialize>(
        &self,
        account: &Account,
        messages: Vec<NewMessage>,
        reservation: &Option<Reservation>,
        kept: &T,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let idempotency = match reservation {
            Some(r) => Some(IdempotencyCompletion {
                key: r.key.clone(),
                fingerprint: r.fingerprint,
                response: StoredOutcome(serde_json::to_value(kept).map_err(|e| {
                    Error::Store(StoreError::Backend(format!(
                        "serializing the outcome failed: {e}"
                    )))
                })?),
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

    /// [`Error::BreakerOpen`] while the account's circuit breaker is open.
    fn check_breaker(&self, account: &Account, now: DateTime<Utc>) -> Result<(), Error> {
        let stored = account.breaker.cooling_until(now);
        let local = self.core().breakers.open_until(account.id, now);
        let Some(until) = stored.max(local) else {
            return Ok(());
        };
        let millis = (until - now).num_milliseconds().max(1);
        Err(Error::BreakerOpen {
            retry_after: Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX)),
        })
    }

    /// A reply to (or a reaction to) a customer's message that names no `from` goes out on the business number the
    /// customer wrote to, when that is one of the account's extra numbers still connected: the customer sees the
    /// answer in the conversation they started, and Meta finds the message answered. Otherwise (the default number,
    /// a number unknown or disconnected since, a wamid whatsapi did not store) the send is left as it is.
    async fn reply_on_receiving_number(
        &self,
        account: &Account,
        req: &mut SendRequest,
    ) -> Result<(), Error> {
        if req.sender().is_some() {
            return Ok(());
        }
        let Some(wamid) = req.answered_message().filter(|w| super::is_wamid(w)) else {
            return Ok(());
        };
        let Some(to) = self
            .store()
            .inbound_by_wamid(account.id, wamid)
            .await?
            .and_then(|m| m.to)
        else {
            return Ok(());
        };
        let is_default = account
            .credentials
            .as_ref()
            .is_some_and(|c| c.phone_number_id == to.phone_number_id);
        if !is_default
            && self
                .store()
                .number(account.id, &to.phone_number_id)
                .await?
                .is_some()
        {
            req.set_sender(to.phone_number_id);
        }
        Ok(())
    }

    /// Why the send cannot go out on its `from` number: it is neither the default number nor one of the account's
    /// extra numbers (another account's number is as unknown as one that does not exist).
    pub(super) async fn sender_refusal(
        &self,
        account: &Account,
        req: &SendRequest,
        senders: &mut Senders,
    ) -> Result<Option<String>, Error> {
        let Some(pnid) = req.sender() else {
            return Ok(None);
        };
        if account
            .credentials
            .as_ref()
            .is_some_and(|c| c.phone_number_id == pnid)
        {
            return Ok(None);
        }
        let known = match senders.0.get(pnid) {
            Some(known) => *known,
            None => {
                let found = self.store().number(account.id, pnid).await?;
                let known = found.map(|n| n.access_token.is_some());
                senders.0.insert(pnid.to_owned(), known);
                known
            }
        };
        Ok(known.is_none().then(|| {
            format!(
                "{pnid} is not one of this account's business numbers: give the phoneNumberId of a number \
                 listed by GET /numbers, or leave from out to send from the default number"
            )
        }))
    }

    /// A reaction, and a reply, may name the message they refer to by the whatsapi id of one of this account's
    /// messages: that id is replaced by the message's wamid. Answers the field and why the send cannot go when the
    /// id is another account's or unknown, or the message has no wamid yet. A wamid (anything that is not a whatsapi
    /// id) is left as given.
    async fn resolve_references(
        &self,
        account: &Account,
        req: &mut SendRequest,
    ) -> Result<Option<(&'static str, String)>, Error> {
        if let MessageContent::Reaction(r) = req.content_mut() {
            if let Some(why) = self.wamid_of(account, &mut r.message_id, "react").await? {
                return Ok(Some((REACTION_MESSAGE_ID, why)));
            }
        }
        if let Some(reply_to) = req.reply_to_mut() {
            if let Some(why) = self.wamid_of(account, reply_to, "reply").await? {
                return Ok(Some((field::CONTEXT, why)));
            }
        }
        Ok(None)
    }

    /// Replaces `id` by the wamid of the account's message when it is a whatsapi id; why not, when that fails.
    async fn wamid_of(
        &self,
        account: &Account,
        id: &mut String,
        verb: &str,
    ) -> Result<Option<String>, Error> {
        let Ok(message_id) = id.trim().parse::<MessageId>() else {
            return Ok(None);
        };
        // Scoped to the account: another account's message is as unknown as a message that does not exist.
        let Some(target) = self.store().get_message(account.id, message_id).await? else {
            return Ok(Some(format!(
                "no message {message_id} in this account; give the id of one of your messages or a WhatsApp \
                 message id (wamid…)"
            )));
        };
        match target.wamid {
            Some(wamid) => {
                *id = wamid;
                Ok(None)
            }
            None => Ok(Some(format!(
                "message {message_id} has no WhatsApp id yet (it is {}); {verb} once it has been sent",
                target.status
            ))),
        }
    }

    /// For accounts in strict 24-hour-window mode: why a free-form message (anything but a template: text, media,
    /// interactive, location, contacts, reaction) to this recipient would be refused.
    pub(super) async fn window_refusal(
        &self,
        account: &Account,
        req: &SendRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, Error> {
        if !account.strict_window || matches!(req.content(), MessageContent::Template(_)) {
            return Ok(None);
        }
        let mut last = None;
        for key in window_keys(req) {
            last = last.max(self.store().last_inbound(account.id, key).await?);
        }
        Ok(window_verdict(req, now, last))
    }

    /// [`window_refusal`](Self::window_refusal) of many sends at once (a campaign's), in order: the last inbound
    /// messages of all their recipients are read in one store call.
    pub(super) async fn window_refusals(
        &self,
        account: &Account,
        reqs: &[SendRequest],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<String>>, Error> {
        let checked = |req: &SendRequest| {
            account.strict_window && !matches!(req.content(), MessageContent::Template(_))
        };
        let keys: Vec<String> = reqs
            .iter()
            .filter(|r| checked(r))
            .flat_map(window_keys)
            .map(str::to_owned)
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        let known = if keys.is_empty() {
            Default::default()
        } else {
            self.store().last_inbounds(account.id, &keys).await?
        };
        Ok(reqs
            .iter()
            .map(|req| {
                if !checked(req) {
                    return None;
                }
                let last = window_keys(req).filter_map(|k| known.get(k).copied()).max();
                window_verdict(req, now, last)
            })
            .collect())
    }
}

/// The ids the recipient's inbound messages are recorded under: the phone number and the BSUID, whichever Meta
/// gave; a recipient known by both is inside the window if either says so.
fn window_keys(req: &SendRequest) -> impl Iterator<Item = &str> {
    let to = req.recipient();
    [to.to(), to.user_id().map(|u| u.as_str())]
        .into_iter()
        .flatten()
}

/// Why a free-form send whose recipient last wrote at `last` is refused.
fn window_verdict(
    req: &SendRequest,
    now: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
) -> Option<String> {
    let at = req.scheduled_for().unwrap_or(now);
    if last.is_some_and(|t| t + WINDOW > at) {
        None
    } else {
        Some(window_message(req))
    }
}

/// Where a reaction's unresolvable message id is reported.
const REACTION_MESSAGE_ID: &str = "reaction.message_id";

/// Where a window refusal is reported: the content field of the request (`text` for a text message).
fn window_field(req: &SendRequest) -> &'static str {
    match req.content() {
        MessageContent::Text { .. } => field::TEXT,
        other => other.kind().as_str(),
    }
}

fn window_message(req: &SendRequest) -> String {
    let to = req.recipient();
    match req.content() {
        MessageContent::Text { .. } => format!(
            "free-form text can only be sent within 24 hours of the recipient's last message, and {to} has not \
             written in that window; send an approved template (the template field) instead"
        ),
        other => format!(
            "a {} message is free-form: it can only be sent within 24 hours of the recipient's last message, and \
             {to} has not written in that window; send an approved template (the template field) instead",
            other.kind()
        ),
    }
}

fn new_message(
    account: &Account,
    batch_id: Option<BatchId>,
    req: SendRequest,
    now: DateTime<Utc>,
) -> NewMessage {
    req.into_new_message(account.id, batch_id, now, account.default_validity)
}

/// Why a send scheduled after the expiry the account's default validity period gives it is refused (a send with a
/// validity period of its own is judged by its validation).
fn default_expiry_refusal(
    account: &Account,
    req: &SendRequest,
    now: DateTime<Utc>,
) -> Option<String> {
    let (None, Some(validity), Some(send_at)) = (
        req.validity_period(),
        account.default_validity,
        req.scheduled_for(),
    ) else {
        return None;
    };
    let expires_at = add(now, validity);
    let how = format!(
        "the account's default validity period of {} s",
        validity.as_secs()
    );
    crate::send::check_send_at_before_expiry(send_at, expires_at, &how).err()
}

fn unkeep<T: serde::de::DeserializeOwned>(stored: StoredOutcome) -> Result<T, Error> {
    serde_json::from_value(stored.0).map_err(|e| {
        Error::Store(StoreError::Backend(format!(
            "the kept idempotent outcome is unreadable: {e}"
        )))
    })
}
