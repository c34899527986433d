//! Housekeeping: the purge of expired rows.

use super::prelude::*;

/// `purge_expired` removes exactly what the policy says and reports the counts.
pub async fn purge_removes_only_expired(store: Arc<dyn Store>) {
    let policy = PurgePolicy::default();
    let week = chrono::Duration::from_std(policy.events_older_than).expect("fits");
    // Old things are at least 10 s past the cutoff, recent ones an hour inside it: no boundary cases.
    let now = base_time() + week + chrono::Duration::seconds(20);
    let hour = chrono::Duration::hours(1);
    let account = create_account_with_webhook(&*store).await;

    // Idempotency: one record expired, one alive.
    let expired_key = key("expired");
    ok(
        store
            .insert_messages(NewBatch {
                account_id: account.id,
                messages: Vec::new(),
                idempotency: Some(IdempotencyCompletion {
                    key: expired_key.clone(),
                    fingerprint: fingerprint(1),
                    response: response(1),
                    expires_at: at(100),
                }),
            })
            .await,
        "completion only",
    );
    let live_key = key("live");
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &live_key, &fingerprint(2), now - hour)
                .await,
            "begin"
        ),
        Decision::Fresh
    );

    // Outbox: an old finished event (with an attempt), an old unfinished one, a recent finished one.
    sent_message(&*store, account.id, "wamid.P1", 0, at(0)).await;
    let e1 = ok(store.claim_events(at(1), LEASE, 10).await, "claim_events");
    assert_eq!(e1.len(), 1);
    ok(
        store
            .finish_event(
                e1[0].event.id,
                Some(sample_attempt(&e1[0].event, at(2))),
                EventNext::Done,
            )
            .await,
        "finish",
    );
    let unfinished = sent_message(&*store, account.id, "wamid.P2", 3, at(3)).await;
    let recent = sent_message(&*store, account.id, "wamid.P3", 4, now - hour).await;
    let claimed = ok(
        store.claim_events(now - hour, LEASE, 10).await,
        "claim_events",
    );
    let recent_event = claimed
        .iter()
        .find(|e| e.event.message_id().unwrap() == recent.id)
        .expect("recent event");
    ok(
        store
            .finish_event(
                recent_event.event.id,
                Some(sample_attempt(&recent_event.event, now - hour)),
                EventNext::Done,
            )
            .await,
        "finish",
    );
    let unfinished_event = claimed
        .iter()
        .find(|e| e.event.message_id().unwrap() == unfinished.id)
        .expect("unfinished event")
        .event
        .id;
    ok(
        store
            .finish_event(unfinished_event, None, EventNext::RetryAt(now))
            .await,
        "retry later",
    );

    // Pending statuses: one received long ago, one recently.
    ok(
        store
            .apply_status_updates(
                &[meta_update(
                    "wamid.OLDPENDING",
                    MetaStatus::Delivered,
                    at(0),
                )],
                at(0),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    ok(
        store
            .apply_status_updates(
                &[meta_update(
                    "wamid.NEWPENDING",
                    MetaStatus::Delivered,
                    now - hour,
                )],
                now - hour,
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );

    let report = ok(store.purge_expired(now, policy).await, "purge_expired");
    assert_eq!(report.idempotency_records, 1, "{report:?}");
    assert_eq!(report.events, 1, "{report:?}");
    assert_eq!(report.pending_statuses, 1, "{report:?}");
    let again = ok(store.purge_expired(now, policy).await, "purge_expired");
    assert_eq!(again, Default::default(), "a second purge finds nothing");

    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &expired_key, &fingerprint(1), now)
                .await,
            "begin"
        ),
        Decision::Fresh,
        "the expired key is free"
    );
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &live_key, &fingerprint(3), now)
                .await,
            "begin"
        ),
        Decision::Conflict,
        "the live record is kept"
    );
    let attempts = ok(store.delivery_attempts(account.id, 10).await, "attempts");
    assert_eq!(
        attempts.iter().map(|a| a.at).collect::<Vec<_>>(),
        vec![now - hour],
        "attempts of purged events go with them"
    );
    let remaining = ok(store.claim_events(now, LEASE, 10).await, "claim_events");
    assert_eq!(
        remaining.iter().map(|e| e.event.id).collect::<Vec<_>>(),
        vec![unfinished_event],
        "unfinished events are never purged"
    );

    // The recent pending status is still applied; the purged one is gone.
    let old = sent_message(&*store, account.id, "wamid.OLDPENDING", 10, now).await;
    assert_eq!(old.status, Status::Sent, "the purged status is not applied");
    let new = sent_message(&*store, account.id, "wamid.NEWPENDING", 11, now).await;
    assert_eq!(new.status, Status::Delivered, "the kept status is applied");
}
