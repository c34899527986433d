//! Helpers for store authors: the time codec every store uses, the rules of a status change (what it writes, which
//! statuses the customer hears about), the edits an outcome or a Meta status makes to a message, and the conflicts
//! every store answers in the same words. Backends call them inside their transactions so each rule is written
//! once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::account::MetaCredentials;
use crate::message::{Message, Pricing, Status, TimelineEntry};
use crate::status::{self, Event, MetaStatus, Transition};

use super::{FailureInfo, Outcome, StoreError, StoreResult};

/// A time as stores keep it: nanoseconds since the Unix epoch, lossless for `chrono` and ordered like the times.
/// Times outside 1677–2262 are clamped.
pub fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The time of a stored [`nanos`] value.
pub fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// `t + d`, saturating at the latest representable time.
pub fn saturating_add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, saturating at the earliest representable time.
pub fn saturating_sub(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Sets the fields a status reported by Meta changes on a message (its timestamps, or the failure), after the
/// state machine allowed the move. Every store calls it inside the transaction that records the status, so the
/// rule lives in one place: `read` also sets `delivered_at` when it is missing, and later receipts never move an
/// earlier timestamp.
pub fn record_meta_status(
    m: &mut Message,
    meta: MetaStatus,
    at: DateTime<Utc>,
    error: Option<&FailureInfo>,
) {
    m.lease_until = None;
    m.next_attempt_at = None;
    match meta {
        MetaStatus::Sent => {
            m.sent_at.get_or_insert(at);
        }
        MetaStatus::Delivered => {
            m.delivered_at.get_or_insert(at);
        }
        MetaStatus::Read => {
            m.delivered_at.get_or_insert(at);
            m.read_at.get_or_insert(at);
        }
        MetaStatus::Failed => {
            m.failed_at = Some(at);
            m.error_message = Some(error.map_or_else(
                || "Meta reported the message as failed".to_owned(),
                |e| e.message.clone(),
            ));
            m.error_code = error.and_then(|e| e.code);
            m.meta_error = error.and_then(|e| e.meta.clone());
        }
    }
}

/// The `Conflict` every store answers when credentials name a phone number id another account uses. It names the
/// number (the caller sent it) but never the other account.
pub fn phone_number_id_taken(phone_number_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "The phone number id {phone_number_id} is already connected to another account. A phone number id can \
         belong to one account only, so Meta's webhooks for it reach one account: remove the credentials from the \
         other account first, or use another number."
    ))
}

/// The `Conflict` every store answers when a phone number id is already connected to the same account: as its
/// default number (adding it as an extra number) or as one of its extra numbers (adding it again, or saving it
/// as the default credentials).
pub fn number_already_connected(phone_number_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "The phone number id {phone_number_id} is already connected to this account. Each number is connected \
         once: as the default number (PUT /auth/me/credentials) or as an extra number (POST /numbers), not both."
    ))
}

/// The `Conflict` every store answers when an account already has as many extra numbers as it may.
pub fn too_many_numbers(max: usize) -> StoreError {
    StoreError::Conflict(format!(
        "This account already has {max} extra phone numbers, the most it may connect: remove one first."
    ))
}

/// The `Conflict` every store answers when credentials name a WhatsApp Business Account id another account uses.
pub fn waba_id_taken(waba_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "The WhatsApp Business Account id {waba_id} is already connected to another account. A WABA id can belong \
         to one account only: remove it from the other account's credentials first, or leave \
         whatsappBusinessAccountId out."
    ))
}

/// The SHA-256 of a Meta verify token, as stores index it.
pub fn verify_token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// The key under which a store indexes the verify token of `c`: the hash the credentials carry (set before the
/// token is sealed, see [`MetaCredentials::verify_token_hash`]) or, for plaintext credentials, the hash of the
/// token itself.
pub fn verify_token_hash(c: &MetaCredentials) -> Option<[u8; 32]> {
    match (&c.verify_token_hash, &c.verify_token) {
        (Some(h), _) => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).ok().map(|()| out)
        }
        (None, Some(t)) => Some(verify_token_digest(t)),
        (None, None) => None,
    }
}

/// Records the pricing a status of Meta carried; `true` when it changed the message (the store then writes it).
/// Every store calls it for each matched status update, applied or not.
pub fn record_pricing(m: &mut Message, pricing: Option<&Pricing>) -> bool {
    match pricing {
        Some(p) if m.pricing.as_ref() != Some(p) => {
            m.pricing = Some(p.clone());
            true
        }
        _ => false,
    }
}

/// Clears what the failed send left on a message that is queued again by hand at `now`: its tries, its wamid (the
/// next send gets its own), its timestamps and its error. A message with a validity period gets a fresh one of the
/// same length, counted from `now` (a retry is a new acceptance). Every store calls it inside the retry's
/// transaction.
pub fn reset_for_retry(m: &mut Message, now: DateTime<Utc>) {
    if let Some(expires_at) = m.expires_at {
        let validity = (expires_at - m.created_at).max(chrono::Duration::zero());
        m.expires_at = Some(
            now.checked_add_signed(validity)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        );
    }
    m.tries = 0;
    m.wamid = None;
    m.sent_at = None;
    m.delivered_at = None;
    m.read_at = None;
    m.failed_at = None;
    m.error_message = None;
    m.error_code = None;
    m.meta_error = None;
    m.pricing = None;
    m.next_attempt_at = None;
    m.lease_until = None;
}

/// One status change as every store writes it: the message row, its counters, a timeline entry when `timeline`
/// (claims and releases have none), and when it becomes claimable again (`due_at`, `None`: settled).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// The status reached.
    pub to: Status,
    /// When.
    pub at: DateTime<Utc>,
    /// Whether it shows in the timeline.
    pub timeline: bool,
    /// Why, for the timeline.
    pub detail: Option<String>,
    /// When the message is due again; `None` once settled.
    pub due_at: Option<DateTime<Utc>>,
}

/// Everything a [`StatusChange`] writes besides the message row, as [`StatusChange::apply`] describes it; the store
/// persists exactly this, in the transaction that saves the row.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusWrite {
    /// The entry to append to the message's timeline (`None` for claims and releases).
    pub timeline: Option<TimelineEntry>,
    /// Changes of the per-account status counters: the status left `-1`, the status reached `+1`; empty when the
    /// status stays the same.
    pub counter_deltas: Vec<(Status, i64)>,
    /// Whether the customer is told: the store writes an outbox event for the message as it is now, at the
    /// change's time, when the account has a webhook.
    pub announce: bool,
    /// When the message becomes claimable again (`None`: settled).
    pub due_at: Option<DateTime<Utc>>,
}

impl StatusChange {
    /// Applies the change to `m`, after `edit` (the fields of an outcome or of a Meta status): sets its status and
    /// `updated_at`, and answers what else the store writes. This is the one place that decides the counters, the
    /// timeline entry and which statuses announce a webhook event.
    pub fn apply(self, m: &mut Message, edit: impl FnOnce(&mut Message)) -> StatusWrite {
        let from = m.status;
        edit(m);
        m.status = self.to;
        m.updated_at = self.at;
        StatusWrite {
            timeline: self.timeline.then_some(TimelineEntry {
                status: self.to,
                at: self.at,
                detail: self.detail,
            }),
            counter_deltas: if from == self.to {
                Vec::new()
            } else {
                vec![(from, -1), (self.to, 1)]
            },
            announce: status::announces(self.to),
            due_at: self.due_at,
        }
    }
}

/// The status `event` moves a message in `from` to, or the conflict every store answers when the state machine
/// refuses it.
pub fn expect_transition(from: Status, event: Event) -> StoreResult<Status> {
    match status::transition(from, event) {
        Transition::To(s) => Ok(s),
        Transition::Ignore | Transition::Illegal => Err(StoreError::Conflict(format!(
            "{event:?} is not allowed for a {from} message"
        ))),
    }
}

/// The status change recording `outcome` at `now` makes to a message in `from` (a `processing` message whose
/// attempt the store has checked). Every store writes it with [`record_outcome_fields`] as the edit, so the rules
/// of an outcome live in one place.
pub fn outcome_change(
    from: Status,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> StoreResult<StatusChange> {
    let (event, timeline, detail, due_at) = match outcome {
        Outcome::Sent { .. } => (Event::Accepted, true, None, None),
        Outcome::Retry {
            next_attempt_at,
            error,
        } => (
            Event::TransientFailure,
            true,
            Some(error.message.clone()),
            Some(*next_attempt_at),
        ),
        Outcome::Failed { error } => (Event::Failure, true, Some(error.message.clone()), None),
        // The try never happened: the message is queued again, due at once.
        Outcome::Release => (Event::Release, false, None, Some(now)),
        // Not yet: queued again, due when its number has room.
        Outcome::Defer { until } => (Event::Release, false, None, Some(*until)),
    };
    Ok(StatusChange {
        to: expect_transition(from, event)?,
        at: now,
        timeline,
        detail,
        due_at,
    })
}

/// Whether the store fails `m` as expired at `now` ([`MessageStore::expire_messages`]): its validity period has
/// ended and nobody is sending it (queued, scheduled, retrying, or processing under a lease that ended). For store
/// authors.
///
/// [`MessageStore::expire_messages`]: super::MessageStore::expire_messages
pub fn expirable(m: &Message, now: DateTime<Utc>) -> bool {
    m.expired_at(now)
        && match m.status {
            Status::Queued | Status::Scheduled | Status::Retrying => true,
            Status::Processing => m.lease_until.is_none_or(|t| t <= now),
            _ => false,
        }
}

/// The status change that fails an [`expirable`] message at `now`: `failed`, with the expiry as its timeline detail
/// and an event like every failure. Every store writes it with [`record_expiry`] as the edit.
pub fn expiry_change(m: &Message, now: DateTime<Utc>) -> StoreResult<StatusChange> {
    Ok(StatusChange {
        to: expect_transition(m.status, Event::Expire)?,
        at: now,
        timeline: true,
        detail: Some(expiry_reason(m, now)),
        due_at: None,
    })
}

fn expiry_reason(m: &Message, now: DateTime<Utc>) -> String {
    crate::message::expired_reason(m.expires_at.unwrap_or(now))
}

/// Sets the fields of a message failed by its expiry at `now`: failed then, with the expiry as its error and no
/// Meta error (Meta never saw it); the lease and the next attempt end.
pub fn record_expiry(m: &mut Message, now: DateTime<Utc>) {
    m.error_message = Some(expiry_reason(m, now));
    m.failed_at = Some(now);
    m.error_code = None;
    m.meta_error = None;
    m.next_attempt_at = None;
    m.lease_until = None;
}

/// The status change Meta's `meta` at `at` makes to a message in `from`, or `None` when the state machine ignores
/// it (a late or repeated receipt). Every store writes it with [`record_meta_status`] as the edit, so a Meta
/// status's timeline entry (with the failure's message as its detail) is decided in one place.
pub fn meta_change(
    from: Status,
    meta: MetaStatus,
    at: DateTime<Utc>,
    error: Option<&FailureInfo>,
) -> Option<StatusChange> {
    let Transition::To(to) = status::transition(from, Event::Meta(meta)) else {
        return None;
    };
    let detail = match meta {
        MetaStatus::Failed => error.map(|e| e.message.clone()),
        _ => None,
    };
    Some(StatusChange {
        to,
        at,
        timeline: true,
        detail,
        due_at: None,
    })
}

/// Sets the fields recording `outcome` at `now` changes on a message: the wamid and `sent_at` of a send Meta
/// accepted (clearing the last error), the next attempt and error of a retry, the failure, or one try given back
/// by a release. The lease ends in every case.
pub fn record_outcome_fields(m: &mut Message, outcome: &Outcome, now: DateTime<Utc>) {
    m.lease_until = None;
    match outcome {
        Outcome::Sent { wamid } => {
            m.wamid = Some(wamid.clone());
            m.sent_at = Some(now);
            m.next_attempt_at = None;
            m.error_message = None;
            m.error_code = None;
            m.meta_error = None;
        }
        Outcome::Retry {
            next_attempt_at,
            error,
        } => {
            m.next_attempt_at = Some(*next_attempt_at);
            m.error_message = Some(error.message.clone());
            m.error_code = error.code;
            m.meta_error = error.meta.clone();
        }
        Outcome::Failed { error } => {
            m.failed_at = Some(now);
            m.next_attempt_at = None;
            m.error_message = Some(error.message.clone());
            m.error_code = error.code;
            m.meta_error = error.meta.clone();
        }
        Outcome::Release | Outcome::Defer { .. } => m.tries = m.tries.saturating_sub(1),
    }
}

/// The status change a campaign's cancel makes to one of its messages not claimed yet (`queued`, `scheduled` or
/// `retrying`): `failed` at `now`, with the reason in the timeline. Every store writes it with
/// [`record_cancel`] as the edit.
pub fn cancel_change(from: Status, now: DateTime<Utc>) -> StoreResult<StatusChange> {
    Ok(StatusChange {
        to: expect_transition(from, Event::Cancel)?,
        at: now,
        timeline: true,
        detail: Some(crate::campaign::CANCELLED_REASON.to_owned()),
        due_at: None,
    })
}

/// Sets what a cancel records on a message: when it failed and why.
pub fn record_cancel(m: &mut Message, now: DateTime<Utc>) {
    m.failed_at = Some(now);
    m.error_message = Some(crate::campaign::CANCELLED_REASON.to_owned());
    m.error_code = None;
    m.meta_error = None;
    m.next_attempt_at = None;
    m.lease_until = None;
}

/// Whether a message of a paused campaign is held by the pause: it is waiting (`queued`, `scheduled` or
/// `retrying`), not being sent.
pub fn holdable(status: Status) -> bool {
    matches!(
        status,
        Status::Queued | Status::Scheduled | Status::Retrying
    )
}

/// The fields a resume sets on a held message due again at `at`: a scheduled message's send time, a retrying
/// one's next attempt.
pub fn record_resume(m: &mut Message, at: DateTime<Utc>) {
    match m.status {
        Status::Scheduled => m.scheduled_for = Some(at),
        Status::Retrying => m.next_attempt_at = Some(at),
        _ => {}
    }
}
