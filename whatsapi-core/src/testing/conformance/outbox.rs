//! The outbox of customer-webhook events: one per announced change, in order per message, backlog, delivery attempts.

use super::prelude::*;

/// A status change on an account with a webhook writes its outbox event with the message's data; without a
/// webhook, and for statuses the customer is not told about, no event is written.
pub async fn status_change_writes_outbox_event(store: Arc<dyn Store>) {
    let hooked = create_account_with_webhook(&*store).await;
    let plain = create_sample_account(&*store).await;

    let silent = sent_message(&*store, plain.id, "wamid.PLAIN", 0, at(1)).await;
    assert!(
        ok(store.claim_events(at(2), LEASE, 100).await, "claim_events").is_empty(),
        "no webhook, no event"
    );
    ok(
        store
            .apply_status_updates(
                &[meta_update("wamid.PLAIN", MetaStatus::Delivered, at(3))],
                at(3),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    assert!(
        ok(store.claim_events(at(4), LEASE, 100).await, "claim_events").is_empty(),
        "no webhook, no event"
    );
    assert_eq!(
        get(&*store, plain.id, silent.id).await.status,
        Status::Delivered
    );

    let sent = sent_message(&*store, hooked.id, "wamid.HOOK", 10, at(11)).await;
    let events = ok(store.claim_events(at(12), LEASE, 100).await, "claim_events");
    assert_eq!(events.len(), 1, "one event for the sent status: {events:?}");
    let e = &events[0];
    assert_eq!(e.event.account_id, hooked.id);
    assert_eq!(e.event.status().unwrap(), Status::Sent);
    assert_eq!(e.event.created_at, at(11));
    assert_eq!(e.event.attempts, 1, "attempts count this claim");
    assert_eq!(
        e.event.data,
        EventData::Status(StatusEventData::of(&sent)),
        "event data is the message as changed"
    );
    assert_eq!(e.target, Some(sample_webhook()));
    ok(
        store.finish_event(e.event.id, None, EventNext::Done).await,
        "finish",
    );

    // Retrying and processing are not announced.
    let r = message_at(hooked.id, "14155552671", 20);
    insert(&*store, hooked.id, vec![r.clone()]).await;
    let c = claim_only(&*store, r.id, at(21)).await;
    ok(
        store
            .record_outcome(
                r.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(50),
                    error: failure("timeout", None),
                },
                at(22),
            )
            .await,
        "Retry",
    );
    assert!(
        ok(store.claim_events(at(23), LEASE, 100).await, "claim_events").is_empty(),
        "queued, processing and retrying are not announced"
    );

    // Read without delivered: the event carries deliveredAt and readAt.
    ok(
        store
            .apply_status_updates(
                &[meta_update("wamid.HOOK", MetaStatus::Read, at(30))],
                at(30),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    let events = ok(store.claim_events(at(31), LEASE, 100).await, "claim_events");
    assert_eq!(events.len(), 1);
    let read = get(&*store, hooked.id, sent.id).await;
    assert_eq!(events[0].event.status().unwrap(), Status::Read);
    assert_eq!(events[0].event.created_at, at(30));
    assert_eq!(
        events[0].event.data,
        EventData::Status(StatusEventData::of(&read))
    );
    assert_eq!(
        events[0].event.status_data().unwrap().delivered_at,
        Some(at(30))
    );
    assert_eq!(events[0].event.status_data().unwrap().read_at, Some(at(30)));
    assert_eq!(
        events[0].event.status_data().unwrap().metadata,
        sent.metadata
    );
    ok(
        store
            .finish_event(events[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );

    // A failure is announced with its error.
    let c = claim_only(&*store, r.id, at(50)).await;
    let failed = ok(
        store
            .record_outcome(
                r.id,
                c.message.attempt,
                Outcome::Failed {
                    error: failure("Template not found", Some(132001)),
                },
                at(51),
            )
            .await,
        "Failed",
    );
    let events = ok(store.claim_events(at(52), LEASE, 100).await, "claim_events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.status().unwrap(), Status::Failed);
    assert_eq!(
        events[0].event.data,
        EventData::Status(StatusEventData::of(&failed))
    );
    assert_eq!(
        events[0]
            .event
            .status_data()
            .unwrap()
            .error_message
            .as_deref(),
        Some("Template not found")
    );
    assert_eq!(
        events[0].event.status_data().unwrap().failed_at,
        Some(at(51))
    );
}

/// Events of one message go out one at a time, in order; events of different messages are independent; leases
/// and `RetryAt` delay an event; `GiveUp` unblocks the next one; the target is the account's current webhook.
pub async fn outbox_orders_events_per_message(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let x = sent_message(&*store, account.id, "wamid.X", 0, at(1)).await;
    ok(
        store
            .apply_status_updates(
                &[
                    meta_update("wamid.X", MetaStatus::Delivered, at(2)),
                    meta_update("wamid.X", MetaStatus::Read, at(3)),
                ],
                at(3),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    let y = sent_message(&*store, account.id, "wamid.Y", 4, at(5)).await;

    let claim = |now: DateTime<Utc>| {
        let store = store.clone();
        async move { ok(store.claim_events(now, LEASE, 100).await, "claim_events") }
    };
    let summary = |events: &[crate::store::ClaimedEvent]| {
        let mut s: Vec<(MessageId, Status)> = events
            .iter()
            .map(|e| (e.event.message_id().unwrap(), e.event.status().unwrap()))
            .collect();
        s.sort();
        s
    };
    let mut expected = vec![(x.id, Status::Sent), (y.id, Status::Sent)];
    expected.sort();

    let first = claim(at(10)).await;
    assert_eq!(
        summary(&first),
        expected,
        "one event per message, the oldest first"
    );
    assert!(
        claim(at(11)).await.is_empty(),
        "a message's next event waits while its first is leased"
    );
    let x_sent = first
        .iter()
        .find(|e| e.event.message_id().unwrap() == x.id)
        .expect("x sent");
    let y_sent = first
        .iter()
        .find(|e| e.event.message_id().unwrap() == y.id)
        .expect("y sent");
    ok(
        store
            .finish_event(
                x_sent.event.id,
                Some(sample_attempt(&x_sent.event, at(12))),
                EventNext::Done,
            )
            .await,
        "finish",
    );
    let second = claim(at(12)).await;
    assert_eq!(
        summary(&second),
        vec![(x.id, Status::Delivered)],
        "x's delivered event goes once its sent event is done; y's lease is still held"
    );
    let x_delivered = second[0].clone();
    assert_eq!(x_delivered.event.attempts, 1);

    ok(
        store
            .finish_event(y_sent.event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert!(
        claim(at(13)).await.is_empty(),
        "y has nothing more; x's delivered is leased"
    );

    ok(
        store
            .finish_event(
                x_delivered.event.id,
                Some(DeliveryAttempt {
                    http_status: Some(500),
                    ..sample_attempt(&x_delivered.event, at(14))
                }),
                EventNext::RetryAt(at(60)),
            )
            .await,
        "finish RetryAt",
    );
    assert!(
        claim(at(59)).await.is_empty(),
        "a retried event waits for its time and blocks the later ones"
    );

    // The target is the account's webhook at claim time.
    let moved = WebhookConfig {
        url: "https://new.example.com/hook".into(),
        ..sample_webhook()
    };
    ok(
        store
            .update_account(account.id, AccountUpdate::SetWebhook(moved.clone()))
            .await,
        "move webhook",
    );
    let retried = claim(at(60)).await;
    assert_eq!(summary(&retried), vec![(x.id, Status::Delivered)]);
    assert_eq!(retried[0].event.id, x_delivered.event.id, "same event id");
    assert_eq!(retried[0].event.attempts, 2);
    assert_eq!(retried[0].target, Some(moved));

    // An expired lease makes the event claimable again.
    assert!(claim(at(89)).await.is_empty());
    let reclaimed = claim(at(90)).await;
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].event.id, x_delivered.event.id);
    assert_eq!(reclaimed[0].event.attempts, 3);

    ok(
        store
            .finish_event(x_delivered.event.id, None, EventNext::GiveUp)
            .await,
        "give up",
    );
    ok(
        store
            .update_account(account.id, AccountUpdate::ClearWebhook)
            .await,
        "clear webhook",
    );
    let last = claim(at(91)).await;
    assert_eq!(
        summary(&last),
        vec![(x.id, Status::Read)],
        "giving up unblocks the next event"
    );
    assert_eq!(last[0].target, None, "the webhook was removed since");
    ok(
        store
            .finish_event(last[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert!(claim(at(1000)).await.is_empty(), "everything finished");

    let limited = create_account_with_webhook(&*store).await;
    for (i, w) in ["wamid.L1", "wamid.L2", "wamid.L3"].iter().enumerate() {
        let i = i as i64;
        sent_message(&*store, limited.id, w, 100 + i * 10, at(101 + i * 10)).await;
    }
    assert_eq!(
        ok(store.claim_events(at(200), LEASE, 2).await, "claim_events").len(),
        2,
        "limit is respected"
    );
    assert_eq!(
        ok(store.claim_events(at(200), LEASE, 2).await, "claim_events").len(),
        1
    );
}

/// The outbox backlog counts the events not finished yet (due, leased or retrying, over every account) and gives
/// the `created_at` of the first written; delivered (`Done`) and abandoned (`GiveUp`) events leave it.
pub async fn outbox_backlog_counts_unfinished_events(store: Arc<dyn Store>) {
    let backlog = |store: Arc<dyn Store>| async move {
        let b = ok(store.outbox_backlog().await, "outbox_backlog");
        (b.pending, b.oldest)
    };
    assert_eq!(backlog(store.clone()).await, (0, None), "no events");

    let plain = create_sample_account(&*store).await;
    sent_message(&*store, plain.id, "wamid.PLAIN", 0, at(0)).await;
    assert_eq!(
        backlog(store.clone()).await,
        (0, None),
        "no webhook, no event"
    );

    let account = create_account_with_webhook(&*store).await;
    let x = sent_message(&*store, account.id, "wamid.X", 0, at(1)).await;
    assert_eq!(backlog(store.clone()).await, (1, Some(at(1))));
    for (n, (status, when)) in [(MetaStatus::Delivered, 2), (MetaStatus::Read, 3)]
        .into_iter()
        .enumerate()
    {
        ok(
            store
                .apply_status_updates(
                    &[meta_update("wamid.X", status, at(when))],
                    at(when),
                    DEFAULT_MAX_PENDING_STATUSES,
                )
                .await,
            "apply",
        );
        assert_eq!(
            backlog(store.clone()).await,
            (n as u64 + 2, Some(at(1))),
            "one more event per status written"
        );
    }
    let other = create_account_with_webhook(&*store).await;
    let y = sent_message(&*store, other.id, "wamid.Y", 4, at(5)).await;
    assert_eq!(
        backlog(store.clone()).await,
        (4, Some(at(1))),
        "counted over every account"
    );

    let claim = |now: DateTime<Utc>| {
        let store = store.clone();
        async move { ok(store.claim_events(now, LEASE, 100).await, "claim_events") }
    };
    let first = claim(at(10)).await;
    assert_eq!(first.len(), 2, "x's sent and y's sent: {first:?}");
    assert_eq!(
        backlog(store.clone()).await,
        (4, Some(at(1))),
        "leased events are still pending"
    );
    let of = |events: &[crate::store::ClaimedEvent], id: MessageId| {
        events
            .iter()
            .find(|e| e.event.message_id().unwrap() == id)
            .map(|e| e.event.id)
            .expect("claimed")
    };
    let (x_sent, y_sent) = (of(&first, x.id), of(&first, y.id));
    ok(
        store.finish_event(x_sent, None, EventNext::Done).await,
        "finish",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (3, Some(at(2))),
        "a delivered event leaves the backlog; the oldest is now x's delivered"
    );
    ok(
        store
            .finish_event(y_sent, None, EventNext::RetryAt(at(60)))
            .await,
        "finish RetryAt",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (3, Some(at(2))),
        "a retrying event is still pending"
    );

    let delivered = claim(at(11)).await;
    assert_eq!(delivered.len(), 1, "x's delivered: {delivered:?}");
    ok(
        store
            .finish_event(delivered[0].event.id, None, EventNext::GiveUp)
            .await,
        "give up",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (2, Some(at(3))),
        "an abandoned event leaves the backlog"
    );
    ok(
        store
            .finish_event(delivered[0].event.id, None, EventNext::RetryAt(at(70)))
            .await,
        "finish a finished event",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (2, Some(at(3))),
        "a finished event stays finished"
    );

    let read = claim(at(12)).await;
    assert_eq!(read.len(), 1, "x's read: {read:?}");
    ok(
        store
            .finish_event(read[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert_eq!(backlog(store.clone()).await, (1, Some(at(5))));

    let retried = claim(at(60)).await;
    assert_eq!(retried.len(), 1, "y's sent, retried: {retried:?}");
    ok(
        store
            .finish_event(retried[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    assert_eq!(
        backlog(store.clone()).await,
        (0, None),
        "everything finished"
    );
}

/// Delivery attempts are recorded per account, newest first, limited; finishing an unknown event is `NotFound`.
pub async fn delivery_attempts_are_recorded(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let other = create_account_with_webhook(&*store).await;
    sent_message(&*store, account.id, "wamid.A1", 0, at(1)).await;
    let events = ok(store.claim_events(at(2), LEASE, 10).await, "claim_events");
    assert_eq!(events.len(), 1);
    let e = events[0].event.clone();
    ok(
        store
            .finish_event(
                e.id,
                Some(DeliveryAttempt {
                    http_status: None,
                    error: Some("connection refused".into()),
                    ..sample_attempt(&e, at(3))
                }),
                EventNext::RetryAt(at(10)),
            )
            .await,
        "finish",
    );
    let again = ok(store.claim_events(at(10), LEASE, 10).await, "claim_events");
    assert_eq!(again.len(), 1);
    ok(
        store
            .finish_event(
                e.id,
                Some(DeliveryAttempt {
                    http_status: Some(503),
                    ..sample_attempt(&e, at(11))
                }),
                EventNext::RetryAt(at(20)),
            )
            .await,
        "finish",
    );
    ok(store.claim_events(at(20), LEASE, 10).await, "claim_events");
    ok(
        store
            .finish_event(e.id, Some(sample_attempt(&e, at(21))), EventNext::Done)
            .await,
        "finish",
    );

    let attempts = ok(store.delivery_attempts(account.id, 10).await, "attempts");
    assert_eq!(
        attempts.iter().map(|a| a.at).collect::<Vec<_>>(),
        vec![at(21), at(11), at(3)],
        "newest first"
    );
    assert_eq!(attempts[0], sample_attempt(&e, at(21)));
    assert_eq!(attempts[1].http_status, Some(503));
    assert_eq!(attempts[2].error.as_deref(), Some("connection refused"));
    assert_eq!(
        ok(store.delivery_attempts(account.id, 2).await, "attempts")
            .iter()
            .map(|a| a.at)
            .collect::<Vec<_>>(),
        vec![at(21), at(11)]
    );
    assert!(
        ok(store.delivery_attempts(other.id, 10).await, "attempts").is_empty(),
        "attempts are per account"
    );
    assert_eq!(
        store
            .finish_event(crate::webhook::EventId::new(), None, EventNext::Done)
            .await,
        Err(StoreError::NotFound)
    );
}
