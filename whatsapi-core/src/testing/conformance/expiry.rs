//! Validity periods: messages that expire unsent are failed once, with their timeline entry, counters and events;
//! sent messages and live claims are left alone; a late outcome of an expired claim is fenced; a manual retry
//! renews the period; the account's default round-trips.

use super::prelude::*;
use crate::message::{EXPIRED, expired_reason};

/// A queued text of `account` created at `at(created)` that expires at `at(expires)`.
fn expiring(account: AccountId, created: i64, expires: i64) -> NewMessage {
    NewMessage {
        expires_at: Some(at(expires)),
        ..message_at(account, "14155552671", created)
    }
}

async fn expire(store: &dyn Store, now: DateTime<Utc>, limit: usize) -> HashSet<MessageId> {
    ok(store.expire_messages(now, limit).await, "expire_messages")
        .into_iter()
        .collect()
}

/// Every status event waiting, finished as it is claimed: `(message, status)`.
async fn drain_events(store: &dyn Store, now: DateTime<Utc>) -> Vec<(MessageId, Status)> {
    let mut seen = Vec::new();
    loop {
        let events = ok(store.claim_events(now, LEASE, 100).await, "claim_events");
        if events.is_empty() {
            return seen;
        }
        for e in events {
            if let (Some(id), Some(status)) = (e.event.message_id(), e.event.status()) {
                seen.push((id, status));
            }
            ok(
                store.finish_event(e.event.id, None, EventNext::Done).await,
                "finish_event",
            );
        }
    }
}

/// Queued, scheduled and retrying messages whose validity period ended are failed at the sweep that finds them:
/// `failed` with the expiry as error (no Meta code) and timeline detail, the counters moved, one `failed` event
/// each; sent messages, messages not expired yet and messages without a period are left alone, and a second sweep
/// finds nothing and writes no event.
pub async fn expiry_fails_queued_scheduled_and_retrying_once(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let a = account.id;
    let queued = expiring(a, 0, 10);
    let scheduled = NewMessage {
        send_at: Some(at(5)),
        ..expiring(a, 0, 10)
    };
    let retrying = expiring(a, 0, 10);
    let sent = expiring(a, 0, 10);
    let later = expiring(a, 0, 100);
    let never = message_at(a, "14155552671", 0);
    insert(
        &*store,
        a,
        vec![
            queued.clone(),
            scheduled.clone(),
            retrying.clone(),
            sent.clone(),
            later.clone(),
            never.clone(),
        ],
    )
    .await;
    let got = get(&*store, a, scheduled.id).await;
    assert_eq!(got.status, Status::Scheduled);
    assert_eq!(got.expires_at, Some(at(10)), "the expiry round-trips");
    assert_eq!(get(&*store, a, never.id).await.expires_at, None);

    // Claim everything due at 1 s, then let `retrying` fail transiently and `sent` go out.
    let claimed = ok(store.claim_due(at(1), LEASE, 100).await, "claim_due");
    let attempt_of = |id: MessageId| {
        claimed
            .iter()
            .find(|c| c.message.id == id)
            .map(|c| c.message.attempt)
            .unwrap_or_else(|| panic!("message {id} was not claimed at 1 s"))
    };
    let outcomes = [
        (
            retrying.id,
            Outcome::Retry {
                next_attempt_at: at(60),
                error: failure("(#131000) Something went wrong", Some(131000)),
            },
        ),
        (
            sent.id,
            Outcome::Sent {
                wamid: "wamid.EXPIRY_SENT".into(),
            },
        ),
    ];
    for (id, outcome) in outcomes {
        ok(
            store
                .record_outcome(id, attempt_of(id), outcome, at(2))
                .await,
            "record_outcome",
        );
    }
    // The others go back to the queue unstarted.
    for id in [queued.id, later.id, never.id] {
        ok(
            store
                .record_outcome(id, attempt_of(id), Outcome::Release, at(2))
                .await,
            "record_outcome(Release)",
        );
    }
    let before = drain_events(&*store, at(3)).await;
    assert_eq!(
        before,
        vec![(sent.id, Status::Sent)],
        "only the send was announced"
    );

    assert!(
        expire(&*store, at(9), 100).await.is_empty(),
        "nothing expires before its time"
    );
    let failed = expire(&*store, at(10), 100).await;
    let expected: HashSet<MessageId> = [queued.id, scheduled.id, retrying.id].into();
    assert_eq!(
        failed, expected,
        "queued, scheduled and retrying messages expire at their expiry"
    );
    for id in &expected {
        let m = get(&*store, a, *id).await;
        assert_eq!(m.status, Status::Failed, "{id}");
        assert_eq!(m.failed_at, Some(at(10)));
        assert_eq!(m.error_message.as_deref(), Some(&*expired_reason(at(10))));
        assert!(m.error_message.as_deref().unwrap().starts_with(EXPIRED));
        assert_eq!(m.error_code, None, "Meta never saw it: no Meta error code");
        assert_eq!(m.meta_error, None);
        assert_eq!(m.next_attempt_at, None);
        assert_eq!(m.lease_until, None);
        let last = m.timeline.last().expect("a timeline");
        assert_eq!(last.status, Status::Failed);
        assert_eq!(last.at, at(10));
        assert_eq!(last.detail.as_deref(), Some(&*expired_reason(at(10))));
    }
    assert_eq!(get(&*store, a, sent.id).await.status, Status::Sent);
    assert_eq!(get(&*store, a, later.id).await.status, Status::Queued);
    assert_eq!(get(&*store, a, never.id).await.status, Status::Queued);
    assert_eq!(
        nonzero(&ok(store.status_counts(a).await, "status_counts")),
        counts_of(&[(Status::Failed, 3), (Status::Sent, 1), (Status::Queued, 2)]),
        "the counters follow the expiry"
    );
    let mut events = drain_events(&*store, at(11)).await;
    events.sort();
    let mut want: Vec<(MessageId, Status)> =
        expected.iter().map(|id| (*id, Status::Failed)).collect();
    want.sort();
    assert_eq!(events, want, "one failed event per expired message");
    let data = ok(store.claim_events(at(11), LEASE, 10).await, "claim_events");
    assert!(data.is_empty(), "every event was finished: {data:?}");

    // A second sweep (another replica's, say) finds nothing and announces nothing.
    assert!(expire(&*store, at(12), 100).await.is_empty());
    assert!(
        drain_events(&*store, at(13)).await.is_empty(),
        "no double events"
    );
    // An expired message is never claimed again.
    let claimed: HashSet<MessageId> =
        claim_ids(&ok(store.claim_due(at(61), LEASE, 100).await, "claim_due"))
            .into_iter()
            .collect();
    assert_eq!(claimed, [later.id, never.id].into());
}

/// A sweep fails at most `limit` messages, earliest expiry first, and the next sweep the rest; an inactive
/// account's messages and those behind an open breaker expire too (nobody can claim them).
pub async fn expiry_takes_the_earliest_first_and_reaches_unclaimable_accounts(
    store: Arc<dyn Store>,
) {
    let paused = create_sample_account(&*store).await;
    let tripped = create_sample_account(&*store).await;
    deactivate(&*store, paused.id).await;
    open_breaker(&*store, tripped.id, 0, at(3600)).await;
    let first = expiring(paused.id, 0, 5);
    let second = expiring(tripped.id, 0, 6);
    let third = expiring(paused.id, 0, 7);
    insert(&*store, paused.id, vec![third.clone(), first.clone()]).await;
    insert(&*store, tripped.id, vec![second.clone()]).await;
    assert!(ok(store.claim_due(at(8), LEASE, 100).await, "claim_due").is_empty());

    assert_eq!(
        expire(&*store, at(8), 2).await,
        [first.id, second.id].into(),
        "the two earliest expiries"
    );
    assert_eq!(expire(&*store, at(8), 2).await, [third.id].into());
    assert!(expire(&*store, at(8), 2).await.is_empty());
    for (account, id) in [
        (paused.id, first.id),
        (tripped.id, second.id),
        (paused.id, third.id),
    ] {
        assert_eq!(get(&*store, account, id).await.status, Status::Failed);
    }
}

/// A claim whose lease is live is left to its holder, who records its outcome as usual (it may be calling Meta);
/// a claim whose lease ended is expired like a queued message, and the late outcome of that attempt is `Stale`:
/// the message stays failed, its wamid is not recorded and nothing is announced.
pub async fn expiry_respects_live_claims_and_fences_late_outcomes(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let a = account.id;
    let held = expiring(a, 0, 10);
    let abandoned = expiring(a, 1, 10);
    insert(&*store, a, vec![held.clone()]).await;
    let held_claim = claim_only(&*store, held.id, at(0)).await;
    insert(&*store, a, vec![abandoned.clone()]).await;
    let abandoned_claim = claim_only(&*store, abandoned.id, at(1)).await;
    assert_eq!(abandoned_claim.lease_until, at(31));

    // At 20 s both leases are live: nothing is expired under its holder.
    assert!(expire(&*store, at(20), 100).await.is_empty());
    ok(
        store
            .record_outcome(
                held.id,
                held_claim.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.HELD".into(),
                },
                at(21),
            )
            .await,
        "the holder of a live claim records its outcome",
    );
    assert_eq!(get(&*store, a, held.id).await.status, Status::Sent);

    // The other lease ends at 31 s: then nobody holds it.
    assert!(expire(&*store, at(30), 100).await.is_empty());
    assert_eq!(expire(&*store, at(31), 100).await, [abandoned.id].into());
    let late = store
        .record_outcome(
            abandoned.id,
            abandoned_claim.message.attempt,
            Outcome::Sent {
                wamid: "wamid.LATE".into(),
            },
            at(32),
        )
        .await;
    assert_eq!(
        late.err(),
        Some(StoreError::Stale),
        "the late outcome is fenced"
    );
    let m = get(&*store, a, abandoned.id).await;
    assert_eq!(m.status, Status::Failed);
    assert_eq!(m.wamid, None);
    assert!(
        ok(
            store.message_by_wamid("wamid.LATE").await,
            "message_by_wamid"
        )
        .is_none(),
        "the fenced wamid was not recorded"
    );
    let mut events = drain_events(&*store, at(33)).await;
    events.sort();
    let mut want = vec![(held.id, Status::Sent), (abandoned.id, Status::Failed)];
    want.sort();
    assert_eq!(events, want, "one event each, none for the fenced outcome");
    assert_eq!(
        nonzero(&ok(store.status_counts(a).await, "status_counts")),
        counts_of(&[(Status::Sent, 1), (Status::Failed, 1)])
    );
}

/// A manual retry of an expired message queues it with a fresh validity period of the same length from the retry;
/// a message without a period stays without one.
pub async fn retry_renews_the_validity_period(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let a = account.id;
    let m = expiring(a, 0, 10);
    let plain = message_at(a, "14155552671", 0);
    insert(&*store, a, vec![m.clone(), plain.clone()]).await;
    assert_eq!(expire(&*store, at(10), 100).await, [m.id].into());
    let retried = ok(store.retry_message(a, m.id, at(100)).await, "retry_message");
    assert_eq!(retried.status, Status::Queued);
    assert_eq!(
        retried.expires_at,
        Some(at(110)),
        "ten seconds from the retry"
    );
    assert_eq!(get(&*store, a, m.id).await.expires_at, Some(at(110)));
    assert!(expire(&*store, at(109), 100).await.is_empty());
    let claimed = ok(store.claim_due(at(105), LEASE, 100).await, "claim_due");
    let expiries: HashSet<(MessageId, Option<DateTime<Utc>>)> = claimed
        .iter()
        .map(|c| (c.message.id, c.message.expires_at))
        .collect();
    assert_eq!(
        expiries,
        [(m.id, Some(at(110))), (plain.id, None)].into(),
        "a claim carries the expiry"
    );
}

/// The account's default validity period is kept in whole seconds, shown at once by `recent_account`, and cleared.
pub async fn default_validity_round_trips(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    assert_eq!(account.default_validity, None);
    let five_minutes = Duration::from_secs(300);
    let updated = ok(
        store
            .update_account(
                account.id,
                AccountUpdate::SetDefaultValidity(Some(five_minutes)),
            )
            .await,
        "update_account(SetDefaultValidity)",
    );
    assert_eq!(updated.default_validity, Some(five_minutes));
    for read in [
        ok(store.account(account.id).await, "account"),
        ok(store.recent_account(account.id).await, "recent_account"),
    ] {
        assert_eq!(read.expect("exists").default_validity, Some(five_minutes));
    }
    ok(
        store
            .update_account(account.id, AccountUpdate::SetDefaultValidity(None))
            .await,
        "clear",
    );
    let read = ok(store.recent_account(account.id).await, "recent_account").expect("exists");
    assert_eq!(read.default_validity, None);
}
