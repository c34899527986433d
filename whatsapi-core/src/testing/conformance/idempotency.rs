//! Idempotency keys: decisions, conflicts, concurrent first requests.

use super::prelude::*;

/// `idempotency_begin` answers Fresh, InFlight, Conflict and Replay as `idempotency::decide` says, per account.
pub async fn idempotency_decisions(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let k = key("order-1234");
    let begin = |acct: AccountId, k: IdempotencyKey, fp: Fingerprint, now: DateTime<Utc>| {
        let store = store.clone();
        async move {
            ok(
                store.idempotency_begin(acct, &k, &fp, now).await,
                "idempotency_begin",
            )
        }
    };

    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(0)).await,
        Decision::Fresh
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(1)).await,
        Decision::InFlight
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(2), at(1)).await,
        Decision::Conflict
    );
    assert_eq!(
        begin(other.id, k.clone(), fingerprint(2), at(1)).await,
        Decision::Fresh,
        "keys are scoped per account"
    );

    ok(
        store.idempotency_release(account.id, &k).await,
        "idempotency_release",
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(2)).await,
        Decision::Fresh,
        "a released key is free"
    );

    let m = sample_message(account.id, "14155552671");
    ok(
        store
            .insert_messages(NewBatch {
                account_id: account.id,
                messages: vec![m.clone()],
                idempotency: Some(IdempotencyCompletion {
                    key: k.clone(),
                    fingerprint: fingerprint(1),
                    response: response(1),
                    expires_at: at(2) + chrono::Duration::hours(24),
                }),
            })
            .await,
        "insert_messages with completion",
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(3600)).await,
        Decision::Replay(response(1))
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(2), at(3600)).await,
        Decision::Conflict
    );
    ok(
        store.idempotency_release(account.id, &k).await,
        "idempotency_release",
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(3601)).await,
        Decision::Replay(response(1)),
        "release never drops a finished record"
    );
    assert_eq!(
        begin(account.id, k.clone(), fingerprint(1), at(2 + 24 * 3600)).await,
        Decision::Fresh,
        "an expired record frees the key"
    );

    // A reservation whose request died frees the key after the in-flight lock.
    let k2 = key("abandoned");
    assert_eq!(
        begin(account.id, k2.clone(), fingerprint(7), at(0)).await,
        Decision::Fresh
    );
    assert_eq!(
        begin(account.id, k2.clone(), fingerprint(7), at(59)).await,
        Decision::InFlight
    );
    assert_eq!(
        begin(account.id, k2.clone(), fingerprint(7), at(61)).await,
        Decision::Fresh
    );

    ok(
        store
            .idempotency_release(account.id, &key("never-used"))
            .await,
        "releasing an unknown key is a no-op",
    );
}

/// Completing a key that already holds a response is a `Conflict` and stores nothing.
pub async fn insert_conflicts_on_finished_key(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let k = key("bulk-7");
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &k, &fingerprint(1), at(0))
                .await,
            "begin"
        ),
        Decision::Fresh
    );
    let completion = IdempotencyCompletion {
        key: k.clone(),
        fingerprint: fingerprint(1),
        response: response(1),
        expires_at: at(24 * 3600),
    };
    let first = sample_message(account.id, "14155552671");
    ok(
        store
            .insert_messages(NewBatch {
                account_id: account.id,
                messages: vec![first.clone()],
                idempotency: Some(completion.clone()),
            })
            .await,
        "first insert",
    );
    let second = sample_message(account.id, "14155552671");
    let result = store
        .insert_messages(NewBatch {
            account_id: account.id,
            messages: vec![second.clone()],
            idempotency: Some(IdempotencyCompletion {
                response: response(2),
                ..completion
            }),
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "a finished key must refuse a second completion, got {result:?}"
    );
    assert_eq!(
        ok(store.get_message(account.id, second.id).await, "get"),
        None
    );
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &k, &fingerprint(1), at(10))
                .await,
            "begin"
        ),
        Decision::Replay(response(1)),
        "the first response stays"
    );
}

/// Eight concurrent `idempotency_begin` calls with one key: exactly one `Fresh`, the rest `InFlight`.
pub async fn concurrent_idempotency_begin_gives_one_fresh(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .idempotency_begin(account.id, &key("race"), &fingerprint(1), at(0))
                .await
        });
    }
    let mut fresh = 0;
    while let Some(joined) = tasks.join_next().await {
        match ok(joined.expect("task panicked"), "idempotency_begin") {
            Decision::Fresh => fresh += 1,
            Decision::InFlight => {}
            other => panic!("concurrent begin with one body answered {other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one concurrent begin is Fresh");
}

/// Eight concurrent inserts completing one key: exactly one set of messages is stored.
pub async fn concurrent_inserts_with_one_key_create_one_set(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        let messages: Vec<NewMessage> = (0..3)
            .map(|i| message_at(account.id, "14155552671", n * 10 + i))
            .collect();
        tasks.spawn(async move {
            let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
            let result = store
                .insert_messages(NewBatch {
                    account_id: account.id,
                    messages,
                    idempotency: Some(IdempotencyCompletion {
                        key: key("same-key"),
                        fingerprint: fingerprint(1),
                        response: response(n),
                        expires_at: at(24 * 3600),
                    }),
                })
                .await;
            (ids, n, result)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (ids, n, result) = joined.expect("task panicked");
        match result {
            Ok(()) => winners.push((ids, n)),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("concurrent insert: unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent insert wins");
    let (ids, n) = winners.remove(0);
    let mut stored: Vec<MessageId> = all_messages(&*store, account.id)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    stored.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(stored, expected, "only the winner's messages are stored");
    assert_eq!(
        ok(
            store
                .idempotency_begin(account.id, &key("same-key"), &fingerprint(1), at(5))
                .await,
            "begin"
        ),
        Decision::Replay(response(n))
    );
    assert_eq!(
        nonzero(&ok(store.status_counts(account.id).await, "counts")),
        counts_of(&[(Status::Queued, 3)])
    );
}
