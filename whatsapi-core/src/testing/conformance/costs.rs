//! What messages cost: counts by Meta's pricing, and the billable messages of a period by recipient prefix and
//! category.

use super::prelude::*;
use crate::costs::{BillableQuery, BillableTally, PricingCounts};
use crate::message::Pricing;
use crate::recipient::{Recipient, UserId};

fn priced(category: &str, kind: &str) -> Pricing {
    Pricing {
        pricing_model: Some("PMP".into()),
        category: Some(category.into()),
        kind: Some(kind.into()),
        billable: Some(kind == "regular"),
    }
}

/// Inserts a message of `account` to `to` (in `batch`), sends it at `at(sent)` as `wamid`, then applies a
/// `delivered` status at `at(sent + 1)` carrying `pricing`.
async fn priced_message(
    store: &dyn Store,
    account: AccountId,
    to: Recipient,
    batch: Option<BatchId>,
    wamid: &str,
    sent: i64,
    pricing: Pricing,
) -> MessageId {
    let m = NewMessage {
        to,
        batch_id: batch,
        ..message_at(account, "14155552671", sent - 1)
    };
    let id = m.id;
    insert(store, account, vec![m]).await;
    let c = claim_only(store, id, at(sent)).await;
    let wamid = wamid.to_owned();
    ok(
        store
            .record_outcome(
                id,
                c.message.attempt,
                Outcome::Sent {
                    wamid: wamid.clone(),
                },
                at(sent),
            )
            .await,
        "record_outcome(Sent)",
    );
    let update = StatusUpdate {
        account_id: Some(account),
        pricing: Some(pricing),
        ..meta_update(&wamid, MetaStatus::Delivered, at(sent + 1))
    };
    ok(
        store
            .apply_status_updates(&[update], at(sent + 1), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply_status_updates",
    );
    id
}

fn phone(digits: &str) -> Recipient {
    PhoneNumber::parse(digits).unwrap().into()
}

fn tally(prefix: Option<&str>, category: &str, messages: u64) -> BillableTally {
    BillableTally {
        prefix: prefix.map(str::to_owned),
        category: category.into(),
        messages,
    }
}

/// The latest pricing of each message is counted by category and type; billable (`regular`) messages are tallied
/// by the first four digits of the recipient's number and the category, by the time Meta accepted them in
/// `[from, to)`, of one batch when asked, and only the account's.
pub async fn pricing_is_counted_and_billable_messages_tallied(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let stranger = ok(
        store
            .create_account(NewAccount {
                name: "Stranger".into(),
                ..sample_account()
            })
            .await,
        "create_account",
    );
    let s = &*store;
    let batch = BatchId::new();
    let a = account.id;
    priced_message(
        s,
        a,
        phone("14155552671"),
        Some(batch),
        "wamid.C1",
        10,
        priced("marketing", "regular"),
    )
    .await;
    priced_message(
        s,
        a,
        phone("12125550100"),
        None,
        "wamid.C2",
        20,
        priced("marketing", "regular"),
    )
    .await;
    priced_message(
        s,
        a,
        phone("447911123456"),
        Some(batch),
        "wamid.C3",
        30,
        priced("utility", "regular"),
    )
    .await;
    priced_message(
        s,
        a,
        phone("14155552672"),
        None,
        "wamid.C4",
        40,
        priced("service", "free_customer_service"),
    )
    .await;
    let user = Recipient::user(UserId::parse("US.13491208655302741918").unwrap());
    priced_message(
        s,
        a,
        user,
        None,
        "wamid.C5",
        50,
        priced("marketing", "regular"),
    )
    .await;
    // Billable when sent, free by its latest status: not billable.
    let free = priced_message(
        s,
        a,
        phone("14155552673"),
        None,
        "wamid.C6",
        60,
        priced("marketing", "regular"),
    )
    .await;
    let update = StatusUpdate {
        account_id: Some(a),
        pricing: Some(priced("marketing", "free_entry_point")),
        ..meta_update("wamid.C6", MetaStatus::Read, at(62))
    };
    ok(
        store
            .apply_status_updates(&[update], at(62), DEFAULT_MAX_PENDING_STATUSES)
            .await,
        "apply_status_updates(read)",
    );
    assert_eq!(
        get(s, a, free).await.pricing,
        Some(priced("marketing", "free_entry_point"))
    );
    // Sent at the end of the range: outside it.
    priced_message(
        s,
        a,
        phone("919876543210"),
        None,
        "wamid.C7",
        100,
        priced("marketing", "regular"),
    )
    .await;
    // Sent but never priced.
    sent_message(s, a, "wamid.C8", 110, at(111)).await;
    priced_message(
        s,
        stranger.id,
        phone("14155552671"),
        None,
        "wamid.C9",
        10,
        priced("marketing", "regular"),
    )
    .await;

    let counts = ok(store.pricing_counts(a).await, "pricing_counts");
    let map = |pairs: &[(&str, u64)]| pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    assert_eq!(
        counts,
        PricingCounts {
            by_category: map(&[("marketing", 5), ("service", 1), ("utility", 1)]),
            by_type: map(&[
                ("free_customer_service", 1),
                ("free_entry_point", 1),
                ("regular", 5)
            ]),
        }
    );

    let query = |from: i64, to: i64, batch: Option<BatchId>| BillableQuery {
        from: at(from),
        to: at(to),
        batch,
    };
    let tallies = ok(
        store.billable_tallies(a, &query(0, 100, None)).await,
        "billable_tallies",
    );
    assert_eq!(
        tallies,
        [
            tally(None, "marketing", 1),
            tally(Some("1212"), "marketing", 1),
            tally(Some("1415"), "marketing", 1),
            tally(Some("4479"), "utility", 1),
        ]
    );
    let all = ok(
        store.billable_tallies(a, &query(0, 101, None)).await,
        "billable_tallies",
    );
    assert_eq!(
        all.len(),
        5,
        "the message sent at `to - 1s` counts: {all:?}"
    );
    assert_eq!(all[4], tally(Some("9198"), "marketing", 1));
    let bounded = ok(
        store.billable_tallies(a, &query(10, 30, None)).await,
        "billable_tallies",
    );
    assert_eq!(
        bounded,
        [
            tally(Some("1212"), "marketing", 1),
            tally(Some("1415"), "marketing", 1)
        ],
        "from is inclusive, to exclusive"
    );
    let of_batch = ok(
        store.billable_tallies(a, &query(0, 100, Some(batch))).await,
        "billable_tallies",
    );
    assert_eq!(
        of_batch,
        [
            tally(Some("1415"), "marketing", 1),
            tally(Some("4479"), "utility", 1)
        ]
    );

    let theirs = ok(
        store
            .billable_tallies(stranger.id, &query(0, 100, None))
            .await,
        "billable_tallies",
    );
    assert_eq!(theirs, [tally(Some("1415"), "marketing", 1)]);
    let theirs = ok(store.pricing_counts(stranger.id).await, "pricing_counts");
    assert_eq!(theirs.by_type, map(&[("regular", 1)]));
    let nobody = ok(
        store.pricing_counts(AccountId::new()).await,
        "pricing_counts",
    );
    assert_eq!(nobody, PricingCounts::default());
}
