//! Shared limits: send slots per key and the breaker's compare-and-set.

use super::prelude::*;
use crate::store::SlotBlock;

fn block(key: &str, count: u32) -> SlotBlock {
    SlotBlock {
        key: key.into(),
        count,
    }
}

/// Concurrent reservations of one key get disjoint, contiguous blocks; keys are paced apart; idle time is not
/// banked; several keys in one call are answered in order.
pub async fn send_slot_reservations_never_overlap(store: Arc<dyn Store>) {
    let gap = Duration::from_millis(50);
    let step = chrono::Duration::milliseconds(50);
    let now = at(10);
    let mut tasks = JoinSet::new();
    for i in 0..16u32 {
        let store = store.clone();
        let count = 1 + i % 4;
        tasks.spawn(async move {
            let starts = ok(
                store
                    .reserve_send_slots(&[block("A", count)], gap, now)
                    .await,
                "reserve_send_slots",
            );
            assert_eq!(starts.len(), 1, "one start per block");
            (starts[0], count)
        });
    }
    let mut blocks = Vec::new();
    while let Some(b) = tasks.join_next().await {
        blocks.push(b.expect("task"));
    }
    blocks.sort();
    assert_eq!(blocks[0].0, now, "the first block starts now");
    for pair in blocks.windows(2) {
        let ((start, count), (next, _)) = (pair[0], pair[1]);
        assert_eq!(
            next,
            start + step * i32::try_from(count).expect("small"),
            "blocks are disjoint and contiguous: {blocks:?}"
        );
    }
    let total: u32 = blocks.iter().map(|(_, c)| c).sum();
    let end = now + step * i32::try_from(total).expect("small");

    // Another key is not slowed by the first; the first continues where its last block ended.
    let both = ok(
        store
            .reserve_send_slots(&[block("B", 2), block("A", 1)], gap, now)
            .await,
        "reserve two keys",
    );
    assert_eq!(both, [now, end], "in the order asked");

    // After a pause the next block starts at the new now, not in the past.
    let later = end + chrono::Duration::seconds(60);
    let again = ok(
        store.reserve_send_slots(&[block("A", 3)], gap, later).await,
        "after a pause",
    );
    assert_eq!(again, [later]);
    let next = ok(
        store.reserve_send_slots(&[block("A", 1)], gap, later).await,
        "after the block",
    );
    assert_eq!(next, [later + step * 3]);
    assert_eq!(
        ok(store.reserve_send_slots(&[], gap, later).await, "nothing"),
        Vec::<DateTime<Utc>>::new()
    );
}

async fn breaker_of(store: &dyn Store, id: AccountId) -> BreakerState {
    ok(store.account(id).await, "account")
        .expect("exists")
        .breaker
}

/// `update_breaker` writes only over the expected state: a stale expectation fails and changes nothing, an unknown
/// account is `NotFound`, and concurrent compare-and-set loops lose no increment.
pub async fn breaker_compare_and_set(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let id = account.id;
    let one = BreakerState {
        consecutive_failures: 1,
        ..BreakerState::default()
    };
    assert!(ok(
        store
            .update_breaker(account.id, &BreakerState::default(), &one)
            .await,
        "update_breaker"
    ));
    assert_eq!(breaker_of(&*store, id).await, one);
    let probing = BreakerState {
        consecutive_failures: 0,
        open_until: Some(at(90)),
        trips: 2,
        probing: true,
    };
    assert!(
        !ok(
            store
                .update_breaker(account.id, &BreakerState::default(), &probing)
                .await,
            "stale"
        ),
        "a stale expected state fails"
    );
    assert_eq!(breaker_of(&*store, id).await, one, "and changes nothing");
    assert!(ok(
        store.update_breaker(account.id, &one, &probing).await,
        "probe claimed"
    ));
    assert_eq!(
        breaker_of(&*store, id).await,
        probing,
        "every field is kept"
    );
    assert!(
        !ok(
            store
                .update_breaker(
                    account.id,
                    &BreakerState {
                        probing: false,
                        ..probing
                    },
                    &BreakerState::default(),
                )
                .await,
            "differs in probing only"
        ),
        "the probing marker is compared too"
    );
    assert!(ok(
        store
            .update_breaker(account.id, &probing, &BreakerState::default())
            .await,
        "reset"
    ));
    assert_eq!(
        store
            .update_breaker(AccountId::new(), &BreakerState::default(), &one)
            .await,
        Err(StoreError::NotFound)
    );

    // Concurrent read-then-compare-and-set loops: every increment lands.
    let mut tasks = JoinSet::new();
    for _ in 0..12 {
        let store = store.clone();
        tasks.spawn(async move {
            loop {
                let current = breaker_of(&*store, id).await;
                let next = BreakerState {
                    consecutive_failures: current.consecutive_failures + 1,
                    ..current
                };
                if ok(
                    store.update_breaker(account.id, &current, &next).await,
                    "increment",
                ) {
                    break;
                }
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.expect("task");
    }
    assert_eq!(breaker_of(&*store, id).await.consecutive_failures, 12);
}
