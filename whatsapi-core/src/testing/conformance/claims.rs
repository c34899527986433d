//! The queue: claims and their leases, fairness, fencing by attempt, outcomes, due times.

use super::prelude::*;

/// A claim sets `processing`, bumps attempt and tries, leases, moves counters, and adds no timeline entry.
pub async fn claim_sets_lease_attempt_and_tries(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;
    assert_eq!(c.message.status, Status::Processing);
    assert_eq!((c.message.attempt, c.message.tries), (1, 1));
    assert_eq!(c.lease_until, at(31));
    assert_eq!(c.message.lease_until, Some(at(31)));
    assert_eq!(c.message.account_id, account.id);
    assert_eq!(c.message.to, m.to);
    assert_eq!(c.message.content, m.content);
    assert!(
        ok(store.claim_due(at(2), LEASE, 10).await, "claim_due").is_empty(),
        "a leased message is not claimed again"
    );
    let stored = get(&*store, account.id, m.id).await;
    assert_eq!(stored.status, Status::Processing);
    assert_eq!(stored.attempt, 1);
    assert_eq!(
        stored.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued],
        "processing is not a timeline entry"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Processing, 1)])
    );
    assert!(
        ok(store.claim_due(at(3), LEASE, 0).await, "claim_due").is_empty(),
        "limit 0 claims nothing"
    );
}

/// Claims take the oldest due first (by due time across statuses, then id) and respect `limit`.
pub async fn claim_order_and_limit(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    // A retrying message due at t=2.
    let r = message_at(account.id, "14155552671", 0);
    insert(&*store, account.id, vec![r.clone()]).await;
    let c = claim_only(&*store, r.id, at(0)).await;
    ok(
        store
            .record_outcome(
                r.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(2),
                    error: failure("timeout", None),
                },
                at(0),
            )
            .await,
        "record_outcome(Retry)",
    );
    let q5 = message_at(account.id, "14155552671", 5);
    let q1 = message_at(account.id, "14155552671", 1);
    let q3 = message_at(account.id, "14155552671", 3);
    let s4 = NewMessage {
        send_at: Some(at(4)),
        expires_at: None,
        ..message_at(account.id, "14155552671", 0)
    };
    insert(
        &*store,
        account.id,
        vec![q5.clone(), q1.clone(), q3.clone(), s4.clone()],
    )
    .await;

    let first = ok(store.claim_due(at(10), LEASE, 3).await, "claim_due");
    assert_eq!(
        claim_ids(&first),
        vec![q1.id, r.id, q3.id],
        "oldest due first: queued at 1, retrying due at 2, queued at 3"
    );
    let rest = ok(store.claim_due(at(10), LEASE, 10).await, "claim_due");
    assert_eq!(claim_ids(&rest), vec![s4.id, q5.id]);
    let r_claim = &first[1];
    assert_eq!(
        (r_claim.message.attempt, r_claim.message.tries),
        (2, 2),
        "a retried message counts its second attempt"
    );
}

/// One account's backlog never keeps another account's due message out of a claim: with 1,000 older due
/// messages of A and one newer of B, a claim of 50 takes B's and A's 49 oldest, in order.
pub async fn claim_is_fair_across_accounts(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let backlog: Vec<NewMessage> = (0..1000)
        .map(|i| NewMessage {
            created_at: at(0) + chrono::Duration::milliseconds(i),
            ..sample_message(a.id, "14155552671")
        })
        .collect();
    let a_ids: Vec<MessageId> = backlog.iter().map(|m| m.id).collect();
    insert(&*store, a.id, backlog).await;
    let newer = message_at(b.id, "14155550002", 10);
    insert(&*store, b.id, vec![newer.clone()]).await;

    let claimed = ok(store.claim_due(at(20), LEASE, 50).await, "claim_due");
    let ids = claim_ids(&claimed);
    assert_eq!(ids.len(), 50);
    assert!(
        ids.contains(&newer.id),
        "B's due message is in the claim despite A's backlog"
    );
    let of_a: Vec<MessageId> = ids.iter().copied().filter(|id| *id != newer.id).collect();
    assert_eq!(of_a, a_ids[..49], "A's oldest first");
    let next = ok(store.claim_due(at(20), LEASE, 50).await, "claim_due");
    assert_eq!(claim_ids(&next), a_ids[49..99], "then A's next ones");
}

/// `claim_due_with`: at most `per_account` of one account, none of the skipped accounts, round-robin (each
/// account's oldest, accounts whose oldest is oldest first, then each one's second); when `limit` is smaller
/// than the number of accounts with due work, those whose oldest is oldest.
pub async fn claim_limits_per_account_skip_and_round_robin(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let c = create_sample_account(&*store).await;
    let of = |account: AccountId, secs: [i64; 3]| -> Vec<NewMessage> {
        secs.iter()
            .map(|s| message_at(account, "14155552671", *s))
            .collect()
    };
    let am = of(a.id, [1, 2, 3]);
    let bm = of(b.id, [4, 5, 6]);
    let cm = vec![message_at(c.id, "14155552671", 0)];
    insert(&*store, a.id, am.clone()).await;
    insert(&*store, b.id, bm.clone()).await;
    insert(&*store, c.id, cm.clone()).await;

    let limits = ClaimLimits {
        limit: 10,
        per_account: 2,
        skip: vec![c.id],
    };
    let first = ok(
        store.claim_due_with(at(10), LEASE, &limits).await,
        "claim_due_with",
    );
    assert_eq!(
        claim_ids(&first),
        vec![am[0].id, bm[0].id, am[1].id, bm[1].id],
        "two of each, round-robin, C left out"
    );
    assert!(first.iter().all(|c| c.message.status == Status::Processing));
    let one = ok(
        store
            .claim_due_with(at(10), LEASE, &ClaimLimits::total(1))
            .await,
        "claim_due_with",
    );
    assert_eq!(
        claim_ids(&one),
        vec![cm[0].id],
        "the account whose oldest is oldest"
    );
    let rest = ok(
        store
            .claim_due_with(at(10), LEASE, &ClaimLimits::total(10))
            .await,
        "claim_due_with",
    );
    assert_eq!(claim_ids(&rest), vec![am[2].id, bm[2].id]);
    let none = ClaimLimits {
        per_account: 0,
        ..ClaimLimits::total(10)
    };
    assert!(
        ok(
            store.claim_due_with(at(10), LEASE, &none).await,
            "claim_due_with"
        )
        .is_empty(),
        "per_account 0 claims nothing"
    );
}

/// A scheduled message is not claimed before its `send_at`.
pub async fn scheduled_not_claimed_before_due(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = NewMessage {
        send_at: Some(at(100)),
        expires_at: None,
        ..sample_message(account.id, "14155552671")
    };
    insert(&*store, account.id, vec![m.clone()]).await;
    assert!(
        ok(store.claim_due(at(99), LEASE, 10).await, "claim_due").is_empty(),
        "claimed a scheduled message before its time"
    );
    let c = claim_only(&*store, m.id, at(100)).await;
    assert_eq!(c.message.scheduled_for, Some(at(100)));
    assert_eq!(c.message.status, Status::Processing);
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Processing, 1)])
    );
}

/// Inactive accounts and accounts with an open breaker are skipped by claims.
pub async fn claim_skips_inactive_accounts_and_open_breakers(store: Arc<dyn Store>) {
    let inactive = create_sample_account(&*store).await;
    let tripped = create_sample_account(&*store).await;
    let healthy = create_sample_account(&*store).await;
    deactivate(&*store, inactive.id).await;
    open_breaker(&*store, tripped.id, 5, at(60)).await;
    let mi = message_at(inactive.id, "14155552671", 0);
    let mt = message_at(tripped.id, "14155552671", 1);
    let mh = message_at(healthy.id, "14155552671", 2);
    insert(&*store, inactive.id, vec![mi.clone()]).await;
    insert(&*store, tripped.id, vec![mt.clone()]).await;
    insert(&*store, healthy.id, vec![mh.clone()]).await;

    let c = claim_only(&*store, mh.id, at(10)).await;
    ok(
        store
            .record_outcome(
                mh.id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.HEALTHY".into(),
                },
                at(11),
            )
            .await,
        "Sent",
    );
    assert!(
        ok(store.claim_due(at(59), LEASE, 10).await, "claim_due").is_empty(),
        "inactive account or open breaker was claimed"
    );
    claim_only(&*store, mt.id, at(60)).await;
    ok(
        store
            .update_account(inactive.id, AccountUpdate::SetActive(true))
            .await,
        "reactivate",
    );
    claim_only(&*store, mi.id, at(61)).await;
}

/// An expired lease is claimed again with a new attempt; the old attempt can no longer record an outcome.
pub async fn expired_lease_is_reclaimed_and_stale_attempt_fenced(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let first = claim_only(&*store, m.id, at(0)).await;
    assert!(
        ok(store.claim_due(at(29), LEASE, 10).await, "claim_due").is_empty(),
        "re-claimed before the lease ended"
    );
    let second = claim_only(&*store, m.id, at(30)).await;
    assert_eq!(second.message.attempt, first.message.attempt + 1);
    assert_eq!(second.message.tries, 2, "the lost attempt counts as a try");
    assert_eq!(second.lease_until, at(60));

    let stale = store
        .record_outcome(
            m.id,
            first.message.attempt,
            Outcome::Sent {
                wamid: "wamid.OLD".into(),
            },
            at(31),
        )
        .await;
    assert_eq!(
        stale,
        Err(StoreError::Stale),
        "the old attempt must be fenced"
    );
    let stale = store
        .record_outcome(
            m.id,
            first.message.attempt,
            Outcome::Failed {
                error: failure("late", None),
            },
            at(31),
        )
        .await;
    assert_eq!(stale, Err(StoreError::Stale));
    assert_eq!(
        ok(store.message_by_wamid("wamid.OLD").await, "by wamid"),
        None
    );

    let sent = ok(
        store
            .record_outcome(
                m.id,
                second.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.NEW".into(),
                },
                at(32),
            )
            .await,
        "record_outcome by the current attempt",
    );
    assert_eq!(sent.status, Status::Sent);
    assert_eq!(
        store
            .record_outcome(
                m.id,
                second.message.attempt,
                Outcome::Sent {
                    wamid: "wamid.NEW".into()
                },
                at(33)
            )
            .await,
        Err(StoreError::Stale),
        "an outcome is recorded once"
    );
    assert!(
        ok(store.claim_due(at(1000), LEASE, 10).await, "claim_due").is_empty(),
        "a sent message is never claimed"
    );
    let unknown = store
        .record_outcome(MessageId::new(), 1, Outcome::Release, at(34))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound | StoreError::Stale)),
        "unknown message: {unknown:?}"
    );
}

/// Eight concurrent claimers over 200 messages: every message is claimed exactly once.
pub async fn concurrent_claimers_never_share(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let messages: Vec<NewMessage> = (0..200)
        .map(|i| message_at(account.id, "14155552671", i % 50))
        .collect();
    let all: HashSet<MessageId> = messages.iter().map(|m| m.id).collect();
    insert(&*store, account.id, messages).await;

    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = ok(store.claim_due(at(100), LEASE, 7).await, "claim_due");
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|c| {
                    assert_eq!(c.message.attempt, 1, "claimed twice: {}", c.message.id);
                    c.message.id
                }));
                tokio::task::yield_now().await;
            }
        });
    }
    let mut seen = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        for id in joined.expect("claimer panicked") {
            assert!(seen.insert(id), "message {id} was claimed by two claimers");
        }
    }
    assert_eq!(seen, all, "every due message is claimed");
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Processing, 200)])
    );
}

/// `Sent` stores the wamid and `sent_at`, adds a timeline entry and counts the send (dry runs excluded).
pub async fn sent_outcome(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let real = message_at(account.id, "14155552671", 0);
    let dry = NewMessage {
        dry_run: true,
        ..message_at(account.id, "14155552672", 1)
    };
    insert(&*store, account.id, vec![real.clone(), dry.clone()]).await;
    let claimed = ok(store.claim_due(at(2), LEASE, 10).await, "claim_due");
    assert_eq!(claim_ids(&claimed), vec![real.id, dry.id]);
    for (c, wamid) in claimed.iter().zip(["wamid.REAL", "wamid.DRY"]) {
        let m = ok(
            store
                .record_outcome(
                    c.message.id,
                    c.message.attempt,
                    Outcome::Sent {
                        wamid: wamid.into(),
                    },
                    at(3),
                )
                .await,
            "record_outcome(Sent)",
        );
        assert_eq!(m.status, Status::Sent);
        assert_eq!(m.wamid.as_deref(), Some(wamid));
        assert_eq!(m.sent_at, Some(at(3)));
        assert_eq!(m.lease_until, None);
        assert_eq!(
            m.timeline
                .iter()
                .map(|e| (e.status, e.at))
                .collect::<Vec<_>>(),
            vec![(Status::Queued, m.created_at), (Status::Sent, at(3))],
            "record_outcome returns the message with its timeline"
        );
        assert_eq!(get(&*store, account.id, m.id).await, m);
        let by_wamid = ok(store.message_by_wamid(wamid).await, "message_by_wamid");
        assert_eq!(by_wamid.map(|x| x.id), Some(m.id));
    }
    assert_eq!(
        ok(store.message_by_wamid("wamid.NONE").await, "by wamid"),
        None
    );
    let account = ok(store.account(account.id).await, "account").expect("exists");
    assert_eq!(account.messages_sent, 1, "dry runs are not counted as sent");
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Sent, 2)])
    );
}

/// `Retry` makes the message `retrying` until `next_attempt_at`; `Failed` is final with the error stored.
pub async fn retry_and_failed_outcomes(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;
    let r = ok(
        store
            .record_outcome(
                m.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(100),
                    error: failure("Meta timed out", Some(131000)),
                },
                at(2),
            )
            .await,
        "record_outcome(Retry)",
    );
    assert_eq!(r.status, Status::Retrying);
    assert_eq!(r.next_attempt_at, Some(at(100)));
    assert_eq!(r.lease_until, None);
    assert_eq!(r.error_message.as_deref(), Some("Meta timed out"));
    assert_eq!(r.error_code, Some(131000));
    let last = r.timeline.last().expect("timeline");
    assert_eq!(
        (last.status, last.at, last.detail.as_deref()),
        (Status::Retrying, at(2), Some("Meta timed out"))
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Retrying, 1)])
    );
    assert!(
        ok(store.claim_due(at(99), LEASE, 10).await, "claim_due").is_empty(),
        "a retrying message is not due before next_attempt_at"
    );
    let c2 = claim_only(&*store, m.id, at(100)).await;
    assert_eq!((c2.message.attempt, c2.message.tries), (2, 2));

    let f = ok(
        store
            .record_outcome(
                m.id,
                c2.message.attempt,
                Outcome::Failed {
                    error: failure("Recipient is not a WhatsApp user", Some(131026)),
                },
                at(101),
            )
            .await,
        "record_outcome(Failed)",
    );
    assert_eq!(f.status, Status::Failed);
    assert_eq!(f.failed_at, Some(at(101)));
    assert_eq!(
        f.error_message.as_deref(),
        Some("Recipient is not a WhatsApp user")
    );
    assert_eq!(f.error_code, Some(131026));
    let last = f.timeline.last().expect("timeline");
    assert_eq!(
        (last.status, last.at, last.detail.as_deref()),
        (
            Status::Failed,
            at(101),
            Some("Recipient is not a WhatsApp user")
        )
    );
    assert_eq!(
        f.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued, Status::Retrying, Status::Failed]
    );
    assert!(
        ok(store.claim_due(at(10_000), LEASE, 10).await, "claim_due").is_empty(),
        "a failed message is never claimed"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Failed, 1)])
    );
}

/// `Release` puts the message back in the queue without counting the try or touching the timeline.
pub async fn release_returns_to_queue(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let m = sample_message(account.id, "14155552671");
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;
    let r = ok(
        store
            .record_outcome(m.id, c.message.attempt, Outcome::Release, at(2))
            .await,
        "record_outcome(Release)",
    );
    assert_eq!(r.status, Status::Queued);
    assert_eq!(r.tries, 0, "a released try does not count");
    assert_eq!(r.lease_until, None);
    assert_eq!(
        r.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued]
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Queued, 1)])
    );
    let again = claim_only(&*store, m.id, at(3)).await;
    assert_eq!((again.message.attempt, again.message.tries), (2, 1));
}

/// `Defer` puts the message back in the queue, due at its time: not claimed before it, and claimed after the
/// account's messages that were due earlier; the try does not count and the timeline is untouched.
pub async fn defer_queues_until_its_time(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let slow = message_at(account.id, "14155552671", 0);
    let other = message_at(account.id, "14155552672", 5);
    insert(&*store, account.id, vec![slow.clone()]).await;
    let c = claim_only(&*store, slow.id, at(1)).await;
    insert(&*store, account.id, vec![other.clone()]).await;
    let r = ok(
        store
            .record_outcome(
                slow.id,
                c.message.attempt,
                Outcome::Defer { until: at(20) },
                at(6),
            )
            .await,
        "record_outcome(Defer)",
    );
    assert_eq!(r.status, Status::Queued);
    assert_eq!(r.tries, 0, "a deferred try does not count");
    assert_eq!(r.lease_until, None);
    assert_eq!(
        r.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![Status::Queued]
    );
    claim_only(&*store, other.id, at(7)).await;
    assert!(
        ok(store.claim_due(at(19), LEASE, 10).await, "claim_due").is_empty(),
        "not claimed before its time"
    );
    let again = claim_only(&*store, slow.id, at(20)).await;
    assert_eq!((again.message.attempt, again.message.tries), (2, 1));
}

/// A wamid belongs to one message: recording it for a second one is a `Conflict` that changes nothing.
pub async fn wamid_is_unique(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let a = message_at(account.id, "14155552671", 0);
    let b = message_at(account.id, "14155552672", 1);
    insert(&*store, account.id, vec![a.clone(), b.clone()]).await;
    let claimed = ok(store.claim_due(at(2), LEASE, 10).await, "claim_due");
    assert_eq!(claim_ids(&claimed), vec![a.id, b.id]);
    ok(
        store
            .record_outcome(
                a.id,
                claimed[0].message.attempt,
                Outcome::Sent {
                    wamid: "wamid.SAME".into(),
                },
                at(3),
            )
            .await,
        "first Sent",
    );
    let dup = store
        .record_outcome(
            b.id,
            claimed[1].message.attempt,
            Outcome::Sent {
                wamid: "wamid.SAME".into(),
            },
            at(3),
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "a reused wamid must be a Conflict, got {dup:?}"
    );
    assert_eq!(
        get(&*store, account.id, b.id).await.status,
        Status::Processing
    );
    assert_eq!(
        ok(store.message_by_wamid("wamid.SAME").await, "by wamid").map(|m| m.id),
        Some(a.id)
    );
    ok(
        store
            .record_outcome(
                b.id,
                claimed[1].message.attempt,
                Outcome::Sent {
                    wamid: "wamid.OTHER".into(),
                },
                at(4),
            )
            .await,
        "Sent with its own wamid",
    );
}

/// `next_due_at` reports the earliest due time, ignoring inactive accounts and open breakers until they close.
pub async fn next_due_at_tracks_the_earliest_due(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let next = || {
        let store = store.clone();
        async move { ok(store.next_due_at().await, "next_due_at") }
    };
    assert_eq!(next().await, None, "nothing stored");
    let late = NewMessage {
        send_at: Some(at(100)),
        expires_at: None,
        ..message_at(account.id, "14155552671", 0)
    };
    insert(&*store, account.id, vec![late.clone()]).await;
    assert_eq!(next().await, Some(at(100)));
    let early = NewMessage {
        send_at: Some(at(50)),
        expires_at: None,
        ..message_at(account.id, "14155552671", 1)
    };
    insert(&*store, account.id, vec![early.clone()]).await;
    assert_eq!(next().await, Some(at(50)));

    let c = claim_only(&*store, early.id, at(50)).await;
    assert_eq!(
        next().await,
        Some(at(80)),
        "the lease end of a processing message"
    );
    ok(
        store
            .record_outcome(
                early.id,
                c.message.attempt,
                Outcome::Retry {
                    next_attempt_at: at(90),
                    error: failure("timeout", None),
                },
                at(51),
            )
            .await,
        "Retry",
    );
    assert_eq!(
        next().await,
        Some(at(90)),
        "a retrying message's next attempt"
    );

    let queued = message_at(account.id, "14155552671", 10);
    insert(&*store, account.id, vec![queued.clone()]).await;
    assert_eq!(
        next().await,
        Some(at(10)),
        "a queued message is due since it was queued"
    );

    ok(
        store
            .update_account(
                account.id,
                AccountUpdate::SetBreaker(BreakerState {
                    consecutive_failures: 3,
                    open_until: Some(at(95)),
                    trips: 1,
                    probing: false,
                }),
            )
            .await,
        "open breaker",
    );
    assert_eq!(
        next().await,
        Some(at(95)),
        "nothing before the breaker closes"
    );
    ok(
        store
            .update_account(account.id, AccountUpdate::SetActive(false))
            .await,
        "deactivate",
    );
    assert_eq!(next().await, None, "an inactive account has nothing due");
    ok(
        store
            .update_account(account.id, AccountUpdate::SetActive(true))
            .await,
        "activate",
    );
    ok(
        store
            .update_account(
                account.id,
                AccountUpdate::SetBreaker(BreakerState::default()),
            )
            .await,
        "close breaker",
    );
    claim_only(&*store, queued.id, at(11)).await;
    assert_eq!(next().await, Some(at(41)));
    let all = ok(store.claim_due(at(1000), LEASE, 10).await, "claim_due");
    assert_eq!(all.len(), 3);
    for c in all {
        ok(
            store
                .record_outcome(
                    c.message.id,
                    c.message.attempt,
                    Outcome::Failed {
                        error: failure("done", None),
                    },
                    at(1000),
                )
                .await,
            "Failed",
        );
    }
    assert_eq!(next().await, None, "settled messages are never due");
}
