//! The message state machine: every legal move in one place.
//!
//! Engine outcomes move a message through `queued/scheduled/retrying -> processing -> sent|retrying|failed`.
//! Meta's status webhooks only move forward (`sent < delivered < read`); anything else is a no-op, so duplicated
//! and out-of-order webhooks can never move a status back.

use crate::message::Status;

/// Something that happens to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A dispatcher claims the message (due now, or its previous lease expired).
    Claim,
    /// Meta accepted the send.
    Accepted,
    /// The send failed transiently and will be tried again.
    TransientFailure,
    /// The send failed for good (permanent error, credentials, or attempts exhausted).
    Failure,
    /// The claim was given back unstarted (graceful shutdown).
    Release,
    /// Meta reported a status in a webhook.
    Meta(MetaStatus),
    /// The user asked to send a failed message again.
    ManualRetry,
    /// Its validity period ended while it waited (queued, scheduled, retrying, or claimed by a worker whose
    /// lease ended; the store checks the lease).
    Expire,
    /// The message's campaign was cancelled before it was claimed.
    Cancel,
}

/// A status reported by Meta's webhooks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MetaStatus {
    /// On Meta's servers.
    Sent,
    /// On the device.
    Delivered,
    /// Opened.
    Read,
    /// Not delivered.
    Failed,
}

impl MetaStatus {
    /// Parses Meta's status names; `played` (voice) counts as `read`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => MetaStatus::Sent,
            "delivered" => MetaStatus::Delivered,
            "read" | "played" => MetaStatus::Read,
            "failed" => MetaStatus::Failed,
            _ => return None,
        })
    }

    /// The message status this corresponds to.
    pub fn status(self) -> Status {
        match self {
            MetaStatus::Sent => Status::Sent,
            MetaStatus::Delivered => Status::Delivered,
            MetaStatus::Read => Status::Read,
            MetaStatus::Failed => Status::Failed,
        }
    }
}

/// The result of applying an event to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The message moves to this status.
    To(Status),
    /// Nothing changes (a duplicate or a late webhook).
    Ignore,
    /// The event is not allowed in this status.
    Illegal,
}

/// Rank of the statuses Meta reports after acceptance; higher never moves back to lower.
fn delivery_rank(s: Status) -> Option<u8> {
    match s {
        Status::Sent => Some(1),
        Status::Delivered => Some(2),
        Status::Read => Some(3),
        _ => None,
    }
}

/// Applies `event` to a message in `status`.
pub fn transition(status: Status, event: Event) -> Transition {
    use Status::*;
    use Transition::*;
    match (status, event) {
        // Processing is claimable again only when its lease expired; the store checks the lease.
        (Queued | Scheduled | Retrying | Processing, Event::Claim) => To(Processing),
        (_, Event::Claim) => Illegal,

        (Processing, Event::Accepted) => To(Sent),
        (Processing, Event::TransientFailure) => To(Retrying),
        (Processing, Event::Failure) => To(Failed),
        (Processing, Event::Release) => To(Queued),
        (_, Event::Accepted | Event::TransientFailure | Event::Failure | Event::Release) => Illegal,

        (Failed, Event::ManualRetry) => To(Queued),
        (_, Event::ManualRetry) => Illegal,

        (Queued | Scheduled | Retrying | Processing, Event::Expire) => To(Failed),
        (Queued | Scheduled | Retrying, Event::Cancel) => To(Failed),
        (_, Event::Expire) => Illegal,
        (_, Event::Cancel) => Illegal,

        (status, Event::Meta(meta)) => meta_transition(status, meta),
    }
}

fn meta_transition(status: Status, meta: MetaStatus) -> Transition {
    use Status::*;
    use Transition::*;
    match (status, meta) {
        // Without a wamid Meta cannot talk about these.
        (Queued | Scheduled | Retrying, _) => Illegal,
        // The webhook overtook the recording of the send's outcome.
        (Processing, meta) => To(meta.status()),
        // Failed is final until a manual retry; late receipts of other devices do not revive it.
        (Failed, _) => Ignore,
        (Sent, MetaStatus::Failed) => To(Failed),
        (Delivered | Read, MetaStatus::Failed) => Ignore,
        (current, meta) => {
            let (from, to) = (delivery_rank(current), delivery_rank(meta.status()));
            match (from, to) {
                (Some(f), Some(t)) if t > f => To(meta.status()),
                _ => Ignore,
            }
        }
    }
}

/// Whether reaching `status` tells the customer: the statuses an outbox event announces (when the account has a
/// webhook). Stores learn it from [`crate::store::support::StatusWrite::announce`].
pub fn announces(status: Status) -> bool {
    matches!(
        status,
        Status::Sent | Status::Delivered | Status::Read | Status::Failed
    )
}

/// Whether the status is final for the engine (no more sending will happen).
pub fn is_settled(status: Status) -> bool {
    matches!(
        status,
        Status::Sent | Status::Delivered | Status::Read | Status::Failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;
    use Transition::*;

    fn events() -> Vec<Event> {
        vec![
            Event::Claim,
            Event::Accepted,
            Event::TransientFailure,
            Event::Failure,
            Event::Release,
            Event::Meta(MetaStatus::Sent),
            Event::Meta(MetaStatus::Delivered),
            Event::Meta(MetaStatus::Read),
            Event::Meta(MetaStatus::Failed),
            Event::ManualRetry,
            Event::Cancel,
        ]
    }

    /// The whole table: one row per status, one column per event in the order of `events()`.
    #[test]
    fn every_status_event_pair() {
        let x = Illegal;
        let i = Ignore;
        let table: [(Status, [Transition; 11]); 8] = [
            //            Claim            Accepted    Transient       Failure     Release     M:sent      M:delivered     M:read      M:failed    Retry  Cancel
            (
                Queued,
                [To(Processing), x, x, x, x, x, x, x, x, x, To(Failed)],
            ),
            (
                Scheduled,
                [To(Processing), x, x, x, x, x, x, x, x, x, To(Failed)],
            ),
            (
                Processing,
                [
                    To(Processing),
                    To(Sent),
                    To(Retrying),
                    To(Failed),
                    To(Queued),
                    To(Sent),
                    To(Delivered),
                    To(Read),
                    To(Failed),
                    x,
                    x,
                ],
            ),
            (
                Retrying,
                [To(Processing), x, x, x, x, x, x, x, x, x, To(Failed)],
            ),
            (
                Sent,
                [x, x, x, x, x, i, To(Delivered), To(Read), To(Failed), x, x],
            ),
            (Delivered, [x, x, x, x, x, i, i, To(Read), i, x, x]),
            (Read, [x, x, x, x, x, i, i, i, i, x, x]),
            (Failed, [x, x, x, x, x, i, i, i, i, To(Queued), x]),
        ];
        for (status, row) in table {
            for (event, expected) in events().into_iter().zip(row) {
                assert_eq!(
                    transition(status, event),
                    expected,
                    "{status:?} + {event:?}"
                );
            }
        }
    }

    #[test]
    fn meta_updates_never_move_back() {
        for from in Status::ALL {
            for meta in [MetaStatus::Sent, MetaStatus::Delivered, MetaStatus::Read] {
                if let To(to) = transition(from, Event::Meta(meta)) {
                    if let (Some(a), Some(b)) = (delivery_rank(from), delivery_rank(to)) {
                        assert!(b > a, "{from:?} -> {to:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn meta_status_names() {
        assert_eq!(MetaStatus::parse("played"), Some(MetaStatus::Read));
        assert_eq!(MetaStatus::parse("deleted"), None);
    }
}
