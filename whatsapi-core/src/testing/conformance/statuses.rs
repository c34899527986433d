//! Meta's status updates: monotonic ranks, statuses that arrive before the send is recorded, their caps.

use super::prelude::*;

/// Meta statuses only move forward; duplicates and late ones are ignored; `read` fills `deliveredAt`.
pub async fn meta_statuses_are_monotonic(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sent_message(&*store, account.id, "wamid.M1", 0, at(1)).await;
    let apply = |updates: Vec<StatusUpdate>| {
        let store = store.clone();
        async move {
            ok(
                store
                    .apply_status_updates(&updates, at(100), DEFAULT_MAX_PENDING_STATUSES)
                    .await,
                "apply_status_updates",
            )
        }
    };

    assert_eq!(
        apply(vec![meta_update("wamid.M1", MetaStatus::Delivered, at(5))]).await,
        vec![StatusApplied::Applied(m.id, Status::Delivered)]
    );
    assert_eq!(
        apply(vec![
            meta_update("wamid.M1", MetaStatus::Delivered, at(6)),
            meta_update("wamid.M1", MetaStatus::Sent, at(6)),
        ])
        .await,
        vec![StatusApplied::Ignored(m.id), StatusApplied::Ignored(m.id)],
        "duplicate and late statuses are ignored"
    );
    let d = get(&*store, account.id, m.id).await;
    assert_eq!(
        d.delivered_at,
        Some(at(5)),
        "a duplicate keeps the first time"
    );
    assert_eq!(
        apply(vec![meta_update("wamid.M1", MetaStatus::Read, at(9))]).await,
        vec![StatusApplied::Applied(m.id, Status::Read)]
    );
    assert_eq!(
        apply(vec![
            meta_update("wamid.M1", MetaStatus::Delivered, at(4)),
            StatusUpdate {
                error: Some(failure("late failure", Some(131000))),
                ..meta_update("wamid.M1", MetaStatus::Failed, at(10))
            },
            meta_update("wamid.M1", MetaStatus::Read, at(11)),
        ])
        .await,
        vec![
            StatusApplied::Ignored(m.id),
            StatusApplied::Ignored(m.id),
            StatusApplied::Ignored(m.id)
        ],
        "nothing moves a read message"
    );
    let r = get(&*store, account.id, m.id).await;
    assert_eq!(r.status, Status::Read);
    assert_eq!(
        (r.sent_at, r.delivered_at, r.read_at, r.failed_at),
        (Some(at(1)), Some(at(5)), Some(at(9)), None)
    );
    assert_eq!(r.error_message, None);
    assert_eq!(
        r.timeline
            .iter()
            .map(|e| (e.status, e.at))
            .collect::<Vec<_>>(),
        vec![
            (Status::Queued, at(0)),
            (Status::Sent, at(1)),
            (Status::Delivered, at(5)),
            (Status::Read, at(9)),
        ]
    );

    // Read without delivered sets both.
    let m2 = sent_message(&*store, account.id, "wamid.M2", 20, at(21)).await;
    assert_eq!(
        apply(vec![meta_update("wamid.M2", MetaStatus::Read, at(27))]).await,
        vec![StatusApplied::Applied(m2.id, Status::Read)]
    );
    let r2 = get(&*store, account.id, m2.id).await;
    assert_eq!(
        (r2.delivered_at, r2.read_at),
        (Some(at(27)), Some(at(27))),
        "read without a prior delivered sets deliveredAt"
    );
    assert_eq!(
        apply(vec![meta_update("wamid.M2", MetaStatus::Delivered, at(25))]).await,
        vec![StatusApplied::Ignored(m2.id)],
        "delivered arriving after read"
    );

    // Failed after sent is applied with Meta's error; nothing revives it.
    let m3 = sent_message(&*store, account.id, "wamid.M3", 30, at(31)).await;
    assert_eq!(
        apply(vec![
            StatusUpdate {
                error: Some(failure("Message undeliverable", Some(131026))),
                ..meta_update("wamid.M3", MetaStatus::Failed, at(33))
            },
            meta_update("wamid.M3", MetaStatus::Delivered, at(34)),
        ])
        .await,
        vec![
            StatusApplied::Applied(m3.id, Status::Failed),
            StatusApplied::Ignored(m3.id)
        ]
    );
    let f = get(&*store, account.id, m3.id).await;
    assert_eq!(f.status, Status::Failed);
    assert_eq!(f.failed_at, Some(at(33)));
    assert_eq!(f.error_message.as_deref(), Some("Message undeliverable"));
    assert_eq!(f.error_code, Some(131026));
    assert_eq!(f.delivered_at, None);
    let last = f.timeline.last().expect("timeline");
    assert_eq!((last.status, last.at), (Status::Failed, at(33)));

    // Several updates for one message in one call apply in order.
    let m4 = sent_message(&*store, account.id, "wamid.M4", 40, at(41)).await;
    assert_eq!(
        apply(vec![
            meta_update("wamid.M4", MetaStatus::Delivered, at(42)),
            meta_update("wamid.M4", MetaStatus::Read, at(43)),
        ])
        .await,
        vec![
            StatusApplied::Applied(m4.id, Status::Delivered),
            StatusApplied::Applied(m4.id, Status::Read)
        ]
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Read, 3), (Status::Failed, 1)])
    );
}

/// A status for a wamid not stored yet is kept and applied when the send's `Sent` outcome is recorded.
pub async fn early_status_applied_when_sent(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;

    let early = ok(
        store
            .apply_status_updates(
                &[
                    meta_update("wamid.EARLY", MetaStatus::Delivered, at(3)),
                    meta_update("wamid.EARLY", MetaStatus::Read, at(4)),
                ],
                at(4),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(early, vec![StatusApplied::Pending, StatusApplied::Pending]);
    assert_eq!(
        get(&*store, account.id, m.id).await.status,
        Status::Processing,
        "a pending status does not touch the message before its wamid is known"
    );

    let sent = ok(
        store
            .record_outcome(
                m.id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.EARLY".into(),
                },
                at(2),
            )
            .await,
        "record_outcome(Sent)",
    );
    assert_eq!(
        sent.status,
        Status::Read,
        "pending statuses applied with Sent"
    );
    assert_eq!(
        (sent.sent_at, sent.delivered_at, sent.read_at),
        (Some(at(2)), Some(at(3)), Some(at(4)))
    );
    assert_eq!(
        sent.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![
            Status::Queued,
            Status::Sent,
            Status::Delivered,
            Status::Read
        ]
    );
    assert_eq!(
        ok(
            store
                .apply_status_updates(
                    &[meta_update("wamid.EARLY", MetaStatus::Read, at(5))],
                    at(5),
                    DEFAULT_MAX_PENDING_STATUSES
                )
                .await,
            "apply"
        ),
        vec![StatusApplied::Ignored(m.id)],
        "pending statuses are applied once"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Read, 1)])
    );

    // A pending status routed to another account is not applied to this account's message.
    let m2 = message_at(account.id, "14155552671", 10);
    insert(&*store, account.id, vec![m2.clone()]).await;
    let c2 = claim_only(&*store, m2.id, at(11)).await;
    let routed = ok(
        store
            .apply_status_updates(
                &[StatusUpdate {
                    account_id: Some(other.id),
                    ..meta_update("wamid.ROUTED", MetaStatus::Delivered, at(12))
                }],
                at(12),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    assert_eq!(routed, vec![StatusApplied::Pending]);
    let s2 = ok(
        store
            .record_outcome(
                m2.id,
                c2.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.ROUTED".into(),
                },
                at(13),
            )
            .await,
        "record_outcome(Sent)",
    );
    assert_eq!(s2.status, Status::Sent);
    assert_eq!(s2.delivered_at, None);
}

/// Pending statuses age from when they were received, not from Meta's `at` (which whoever posts the webhook
/// chooses): one received long ago is purged even though its `at` lies in the future, one received recently is
/// kept (and applied once its send is recorded) even though its `at` is older than the cutoff.
pub async fn pending_statuses_expire_by_receipt(store: Arc<dyn Store>) {
    let policy = PurgePolicy::default();
    let keep = chrono::Duration::from_std(policy.pending_statuses_older_than).expect("fits");
    let now = base_time() + keep + chrono::Duration::hours(1);
    let account = create_sample_account(&*store).await;
    let routed = |wamid: &str, when| StatusUpdate {
        account_id: Some(account.id),
        ..meta_update(wamid, MetaStatus::Delivered, when)
    };
    let far_future = now + chrono::Duration::days(3650);
    let applied = ok(
        store
            .apply_status_updates(
                &[routed("wamid.RECEIVED_LONG_AGO", far_future)],
                at(0),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(applied, vec![StatusApplied::Pending]);
    let applied = ok(
        store
            .apply_status_updates(
                &[routed("wamid.RECEIVED_LATELY", at(0))],
                now - chrono::Duration::minutes(5),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );
    assert_eq!(applied, vec![StatusApplied::Pending]);

    let report = ok(store.purge_expired(now, policy).await, "purge_expired");
    assert_eq!(
        report.pending_statuses, 1,
        "only the status received before the cutoff goes: {report:?}"
    );

    let late = sent_message(&*store, account.id, "wamid.RECEIVED_LATELY", 1, now).await;
    assert_eq!(
        late.status,
        Status::Delivered,
        "the recently received status was kept although Meta's time is old"
    );
    let early = sent_message(&*store, account.id, "wamid.RECEIVED_LONG_AGO", 2, now).await;
    assert_eq!(
        early.status,
        Status::Sent,
        "the status received long ago was purged although Meta's time is in the future"
    );
}

/// An account keeps at most `max_pending_per_account` pending statuses; beyond it the earliest received are
/// dropped (the latest are the likeliest to match a send being committed). Other accounts are not affected.
pub async fn pending_statuses_capped_per_account(store: Arc<dyn Store>) {
    const CAP: usize = 3;
    let flooded = create_sample_account(&*store).await;
    let quiet = create_sample_account(&*store).await;
    let routed = |account: AccountId, wamid: String| StatusUpdate {
        account_id: Some(account),
        ..meta_update(&wamid, MetaStatus::Delivered, at(1))
    };
    let apply = |updates: Vec<StatusUpdate>, now| {
        let store = store.clone();
        async move {
            ok(
                store.apply_status_updates(&updates, now, CAP).await,
                "apply_status_updates",
            )
        }
    };
    let wamid = |i: usize| format!("wamid.FLOOD{i}");
    // Two for the quiet account, then five for the flooded one over two webhooks (more than the cap in one).
    let quiet_pending = apply(
        vec![
            routed(quiet.id, "wamid.QUIET0".into()),
            routed(quiet.id, "wamid.QUIET1".into()),
        ],
        at(1),
    )
    .await;
    assert_eq!(quiet_pending, vec![StatusApplied::Pending; 2]);
    apply(
        (0..2).map(|i| routed(flooded.id, wamid(i))).collect(),
        at(2),
    )
    .await;
    let flood = apply(
        (2..6).map(|i| routed(flooded.id, wamid(i))).collect(),
        at(3),
    )
    .await;
    assert_eq!(
        flood,
        vec![StatusApplied::Pending; 4],
        "beyond the cap statuses are still accepted"
    );

    let mut kept = Vec::new();
    for i in 0..6 {
        let m = sent_message(&*store, flooded.id, &wamid(i), i as i64, at(100)).await;
        if m.status == Status::Delivered {
            kept.push(i);
        }
    }
    assert_eq!(
        kept,
        vec![3, 4, 5],
        "the {CAP} latest received are kept, the earliest dropped"
    );
    for (i, w) in ["wamid.QUIET0", "wamid.QUIET1"].into_iter().enumerate() {
        let m = sent_message(&*store, quiet.id, w, 10 + i as i64, at(100)).await;
        assert_eq!(
            m.status,
            Status::Delivered,
            "another account's flood drops nothing of this one's"
        );
    }
}
