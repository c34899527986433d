//! Outcomes recorded in batches: each item fenced and refused alone, and the state a batch leaves exactly the state
//! of the same outcomes recorded one by one.

use super::prelude::*;

/// What kind of answer an item got (a conflict's text names message ids, which differ between scenarios).
fn kind(answer: &StoreResult<()>) -> &'static str {
    match answer {
        Ok(()) => "ok",
        Err(StoreError::Stale) => "stale",
        Err(StoreError::NotFound) => "not found",
        Err(StoreError::Conflict(_)) => "conflict",
        Err(StoreError::Unavailable(_)) => "unavailable",
        Err(StoreError::Backend(_)) => "backend",
    }
}

/// One account with a webhook, its claimed messages and the batch of outcomes for them; wamids start with
/// `prefix`, so two scenarios live side by side in one store.
struct Scenario {
    account: Account,
    messages: Vec<MessageId>,
    batch: Vec<crate::store::OutcomeRecord>,
}

/// Messages of a scenario, by position in [`Scenario::messages`].
const FRESH_SENT: usize = 0;
const WITH_EARLY: usize = 1;
const STALE: usize = 2;
const DUPLICATE_WAMID: usize = 3;
const OWNED_WAMID: usize = 4;
const RETRIED: usize = 5;
const FAILED: usize = 6;
const RELEASED: usize = 7;
const DRY_RUN: usize = 8;
/// Messages in a scenario besides the one that already owns a wamid.
const MESSAGES: usize = 9;

/// The answers every store gives to [`scenario`]'s batch, item by item.
const ANSWERS: [&str; 12] = [
    "ok",        // FRESH_SENT: Sent
    "ok",        // WITH_EARLY: Sent, its early statuses applied
    "stale",     // STALE: an attempt that is not the current one
    "conflict",  // DUPLICATE_WAMID: the wamid FRESH_SENT recorded earlier in the batch
    "conflict",  // OWNED_WAMID: a wamid another message already had
    "ok",        // RETRIED: Retry
    "ok",        // FAILED: Failed
    "ok",        // RELEASED: Release
    "not found", // an unknown message
    "stale",     // FRESH_SENT again: no longer processing
    "ok",        // DUPLICATE_WAMID, now with a wamid of its own
    "ok",        // DRY_RUN: Sent (not counted as sent by Meta)
];

/// Builds a scenario at times from `at(0)` to `at(4)`: claims its messages at `at(1)` (nothing else may be due in
/// the store then), keeps early statuses for one of its wamids, and writes the batch (nothing recorded yet).
async fn scenario(store: &dyn Store, prefix: &str) -> Scenario {
    let account = create_account_with_webhook(store).await;
    let w = |name: &str| format!("{prefix}.{name}");
    // A message that already owns a wamid (sent at `at(0)`) and its events delivered.
    sent_message(store, account.id, &w("OWNED"), 0, at(0)).await;
    drain_events(store, at(0)).await;

    let mut news: Vec<NewMessage> = (0..MESSAGES)
        .map(|_| message_at(account.id, "14155552671", 0))
        .collect();
    news[DRY_RUN].dry_run = true;
    let messages: Vec<MessageId> = news.iter().map(|m| m.id).collect();
    insert(store, account.id, news).await;
    let claimed = ok(store.claim_due(at(1), LEASE, 100).await, "claim_due");
    assert_eq!(
        claimed.len(),
        MESSAGES,
        "every message of the scenario is claimed"
    );
    let attempt = |i: usize| {
        claimed
            .iter()
            .find(|c| c.message.id == messages[i])
            .map(|c| c.message.attempt)
            .expect("claimed")
    };
    // Meta's statuses overtook the send of WITH_EARLY: one for its account, one routed to another account.
    let elsewhere = create_sample_account(store).await;
    ok(
        store
            .apply_status_updates(
                &[
                    StatusUpdate {
                        account_id: Some(account.id),
                        ..meta_update(&w("EARLY"), MetaStatus::Delivered, at(3))
                    },
                    StatusUpdate {
                        account_id: Some(account.id),
                        ..meta_update(&w("EARLY"), MetaStatus::Read, at(4))
                    },
                    StatusUpdate {
                        account_id: Some(elsewhere.id),
                        ..meta_update(&w("EARLY"), MetaStatus::Failed, at(4))
                    },
                ],
                at(2),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply_status_updates",
    );

    let item = |i: usize, outcome: Outcome| crate::store::OutcomeRecord {
        id: messages[i],
        attempt: attempt(i),
        outcome,
    };
    let sent = |name: &str| Outcome::Sent { wamid: w(name) };
    let batch = vec![
        item(FRESH_SENT, sent("FRESH")),
        item(WITH_EARLY, sent("EARLY")),
        crate::store::OutcomeRecord {
            attempt: attempt(STALE) + 1,
            ..item(STALE, sent("STALE"))
        },
        item(DUPLICATE_WAMID, sent("FRESH")),
        item(OWNED_WAMID, sent("OWNED")),
        item(
            RETRIED,
            Outcome::Retry {
                next_attempt_at: at(100),
                error: failure("timeout", Some(131000)),
            },
        ),
        item(
            FAILED,
            Outcome::Failed {
                error: failure("invalid recipient", Some(131026)),
            },
        ),
        item(RELEASED, Outcome::Release),
        crate::store::OutcomeRecord {
            id: MessageId::new(),
            attempt: 1,
            outcome: sent("UNKNOWN"),
        },
        item(
            FRESH_SENT,
            Outcome::Failed {
                error: failure("late", None),
            },
        ),
        item(DUPLICATE_WAMID, sent("OWN")),
        item(DRY_RUN, sent("DRY")),
    ];
    Scenario {
        account,
        messages,
        batch,
    }
}

/// Claims and finishes every due event, answering each message's events in order as (status, data).
async fn drain_events(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> std::collections::BTreeMap<MessageId, Vec<(Status, EventData, DateTime<Utc>)>> {
    let mut out: std::collections::BTreeMap<MessageId, Vec<_>> = Default::default();
    loop {
        let events = ok(store.claim_events(now, LEASE, 1000).await, "claim_events");
        if events.is_empty() {
            return out;
        }
        for e in events {
            let id = e.event.message_id().expect("a status event");
            let status = e.event.status().expect("a status event");
            out.entry(id)
                .or_default()
                .push((status, e.event.data.clone(), e.event.created_at));
            ok(
                store.finish_event(e.event.id, None, EventNext::Done).await,
                "finish_event",
            );
        }
    }
}

/// The message as the other scenario should have it: its ids and wamid prefix swapped for this one's.
fn as_in(mut m: Message, id: MessageId, account: AccountId, from: &str, to: &str) -> Message {
    m.id = id;
    m.account_id = account;
    m.wamid = m.wamid.map(|w| w.replacen(from, to, 1));
    m
}

/// A batch of outcomes answers each item alone — a stale attempt, an unknown message, a wamid recorded by an
/// earlier item of the batch or owned by another message are refused, the rest apply — and leaves exactly the
/// state of the same outcomes recorded one by one: messages, timelines (early statuses applied in order),
/// counters, messages sent, outbox events and what is due again.
pub async fn batch_outcomes_match_one_by_one(store: Arc<dyn Store>) {
    let batched = scenario(&*store, "wamid.B").await;
    let single = scenario(&*store, "wamid.S").await;

    let answers = ok(
        store.record_outcomes(&batched.batch, at(2)).await,
        "record_outcomes",
    );
    assert_eq!(
        answers.iter().map(kind).collect::<Vec<_>>(),
        ANSWERS,
        "answers of the batch, item by item: {answers:?}"
    );
    let mut one_by_one = Vec::new();
    for item in &single.batch {
        one_by_one.push(
            store
                .record_outcome(item.id, item.attempt, item.outcome.clone(), at(2))
                .await
                .map(|_| ()),
        );
    }
    assert_eq!(
        one_by_one.iter().map(kind).collect::<Vec<_>>(),
        ANSWERS,
        "answers one by one: {one_by_one:?}"
    );

    // What the batch did, checked on its own.
    let m = |i: usize| get(&*store, batched.account.id, batched.messages[i]);
    let early = m(WITH_EARLY).await;
    assert_eq!(
        early.status,
        Status::Read,
        "early statuses applied with Sent"
    );
    assert_eq!(
        early.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        [
            Status::Queued,
            Status::Sent,
            Status::Delivered,
            Status::Read
        ]
    );
    assert_eq!(
        (early.sent_at, early.delivered_at, early.read_at),
        (Some(at(2)), Some(at(3)), Some(at(4)))
    );
    let fresh = m(FRESH_SENT).await;
    assert_eq!(
        (fresh.status, fresh.wamid.as_deref()),
        (Status::Sent, Some("wamid.B.FRESH")),
        "the later stale item did not touch it"
    );
    let duplicate = m(DUPLICATE_WAMID).await;
    assert_eq!(
        (duplicate.status, duplicate.wamid.as_deref()),
        (Status::Sent, Some("wamid.B.OWN")),
        "refused once for a taken wamid, then recorded with its own"
    );
    assert_eq!(m(STALE).await.status, Status::Processing);
    assert_eq!(m(OWNED_WAMID).await.status, Status::Processing);
    let retried = m(RETRIED).await;
    assert_eq!(
        (
            retried.status,
            retried.next_attempt_at,
            retried.error_code,
            retried.lease_until
        ),
        (Status::Retrying, Some(at(100)), Some(131000), None)
    );
    let failed = m(FAILED).await;
    assert_eq!(
        (
            failed.status,
            failed.failed_at,
            failed.error_message.as_deref()
        ),
        (Status::Failed, Some(at(2)), Some("invalid recipient"))
    );
    let released = m(RELEASED).await;
    assert_eq!(
        (released.status, released.tries),
        (Status::Queued, 0),
        "a release gives its try back"
    );
    assert_eq!(
        ok(store.message_by_wamid("wamid.B.FRESH").await, "by wamid").map(|m| m.id),
        Some(batched.messages[FRESH_SENT])
    );

    // The same state as one by one.
    for i in 0..MESSAGES {
        let b = get(&*store, batched.account.id, batched.messages[i]).await;
        let s = get(&*store, single.account.id, single.messages[i]).await;
        assert_eq!(
            as_in(s, b.id, b.account_id, "wamid.S", "wamid.B"),
            b,
            "message {i} differs between the batch and one-by-one recording"
        );
    }
    assert_eq!(
        nonzero(&ok(store.status_counts(batched.account.id).await, "counts")),
        nonzero(&ok(store.status_counts(single.account.id).await, "counts")),
        "status counters"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(batched.account.id).await, "counts")),
        counts_of(&[
            (Status::Sent, 4),
            (Status::Read, 1),
            (Status::Processing, 2),
            (Status::Retrying, 1),
            (Status::Failed, 1),
            (Status::Queued, 1),
        ])
    );
    let sent_count = |a: AccountId| {
        let store = store.clone();
        async move {
            ok(store.account(a).await, "account")
                .expect("exists")
                .messages_sent
        }
    };
    assert_eq!(
        sent_count(batched.account.id).await,
        sent_count(single.account.id).await,
        "messages sent"
    );
    assert_eq!(
        sent_count(batched.account.id).await,
        4,
        "the owner, FRESH, EARLY and OWN were sent by Meta; the dry run was not"
    );

    let events = drain_events(&*store, at(5)).await;
    for i in 0..MESSAGES {
        let (b, s) = (batched.messages[i], single.messages[i]);
        let of = |id: MessageId| -> Vec<(Status, DateTime<Utc>)> {
            events
                .get(&id)
                .map(|v| v.iter().map(|(st, _, t)| (*st, *t)).collect())
                .unwrap_or_default()
        };
        assert_eq!(of(b), of(s), "events of message {i}");
        let data = |id: MessageId, other: MessageId| -> Vec<EventData> {
            events
                .get(&id)
                .map(|v| {
                    v.iter()
                        .map(|(_, d, _)| match d.clone() {
                            EventData::Status(mut st) => {
                                st.message_id = other;
                                EventData::Status(st)
                            }
                            other => other,
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(data(s, b), data(b, b), "event data of message {i}");
    }
    let statuses = |id: MessageId| -> Vec<Status> {
        events
            .get(&id)
            .map(|v| v.iter().map(|(st, _, _)| *st).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        statuses(batched.messages[WITH_EARLY]),
        [Status::Sent, Status::Delivered, Status::Read],
        "one event per announced change, in order"
    );
    assert_eq!(statuses(batched.messages[FAILED]), [Status::Failed]);
    assert!(statuses(batched.messages[RETRIED]).is_empty());

    // What is due again: the released message now, the retried one at its time; in both scenarios.
    let due_now = claim_ids(&ok(store.claim_due(at(6), LEASE, 100).await, "claim_due"));
    let expected: HashSet<MessageId> = [
        batched.messages[RELEASED],
        single.messages[RELEASED],
        // Their leases (from the claim at `at(1)`) have not ended yet.
    ]
    .into_iter()
    .collect();
    assert_eq!(due_now.into_iter().collect::<HashSet<_>>(), expected);
    let due_later = claim_ids(&ok(store.claim_due(at(100), LEASE, 100).await, "claim_due"));
    let expected: HashSet<MessageId> = [
        batched.messages[RETRIED],
        single.messages[RETRIED],
        // Claimed at `at(6)`, their lease has ended.
        batched.messages[RELEASED],
        single.messages[RELEASED],
        batched.messages[STALE],
        single.messages[STALE],
        batched.messages[OWNED_WAMID],
        single.messages[OWNED_WAMID],
    ]
    .into_iter()
    .collect();
    assert_eq!(
        due_later.into_iter().collect::<HashSet<_>>(),
        expected,
        "retried at its time; the refused ones and the released ones when their lease ends"
    );
}

/// An empty batch answers nothing; a batch whose items are all refused changes nothing; the same message twice
/// in a batch with its current attempt is recorded once (the second item is stale).
pub async fn batch_outcomes_edge_cases(store: Arc<dyn Store>) {
    assert!(
        ok(store.record_outcomes(&[], at(0)).await, "empty batch").is_empty(),
        "an empty batch answers nothing"
    );
    let account = create_sample_account(&*store).await;
    let m = message_at(account.id, "14155552671", 0);
    insert(&*store, account.id, vec![m.clone()]).await;
    let c = claim_only(&*store, m.id, at(1)).await;
    let before = get(&*store, account.id, m.id).await;
    let refused = ok(
        store
            .record_outcomes(
                &[
                    crate::store::OutcomeRecord {
                        id: m.id,
                        attempt: c.message.attempt + 1,
                        outcome: Outcome::Release,
                    },
                    crate::store::OutcomeRecord {
                        id: MessageId::new(),
                        attempt: 1,
                        outcome: Outcome::Release,
                    },
                ],
                at(2),
            )
            .await,
        "record_outcomes",
    );
    assert_eq!(
        refused.iter().map(kind).collect::<Vec<_>>(),
        ["stale", "not found"]
    );
    assert_eq!(
        get(&*store, account.id, m.id).await,
        before,
        "refused items change nothing"
    );

    // The same message twice with its current attempt: the first applies, the second is stale.
    let answers = ok(
        store
            .record_outcomes(
                &[
                    crate::store::OutcomeRecord {
                        id: m.id,
                        attempt: c.message.attempt,
                        outcome: Outcome::Sent {
                            wamid: "wamid.TWICE".into(),
                        },
                    },
                    crate::store::OutcomeRecord {
                        id: m.id,
                        attempt: c.message.attempt,
                        outcome: Outcome::Sent {
                            wamid: "wamid.TWICE".into(),
                        },
                    },
                ],
                at(3),
            )
            .await,
        "record_outcomes",
    );
    assert_eq!(
        answers.iter().map(kind).collect::<Vec<_>>(),
        ["ok", "stale"]
    );
    let sent = get(&*store, account.id, m.id).await;
    assert_eq!(
        sent.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        [Status::Queued, Status::Sent],
        "recorded once"
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Sent, 1)])
    );
}
