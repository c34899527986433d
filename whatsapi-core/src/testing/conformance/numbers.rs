//! Extra business numbers: add, list, get, update, delete, one account per phone number id (across default
//! credentials and extra numbers), routing of Meta's webhooks by them, a message's `from`, and the shared pacing
//! step-downs.

use super::prelude::*;
use crate::numbers::{BusinessNumber, NumberUpdate, Throttle};
use crate::store::support;
use crate::transport::PhoneNumberInfo;

fn info(id: &str, level: &str) -> PhoneNumberInfo {
    PhoneNumberInfo {
        id: id.into(),
        verified_name: format!("Brand {id}"),
        display_phone_number: format!("+1 555 {id}"),
        quality_rating: Some("GREEN".into()),
        throughput_level: Some(level.into()),
        on_business_app: None,
    }
}

/// A verified number `id` of `account`, with its own token when given, connected `secs` after the base time.
pub fn sample_number(
    account: AccountId,
    id: &str,
    token: Option<&str>,
    secs: i64,
) -> BusinessNumber {
    BusinessNumber::verified(
        account,
        &info(id, "STANDARD"),
        token.map(str::to_owned),
        at(secs),
    )
}

/// Numbers are added, listed oldest first, read back, updated and deleted, all scoped by account.
pub async fn numbers_add_list_update_delete(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let first = store
        .add_number(sample_number(a.id, "2001", Some("TOKEN-A"), 5), 10)
        .await
        .unwrap();
    assert_eq!(first.throughput_per_second, Some(80));
    store
        .add_number(sample_number(a.id, "2002", None, 9), 10)
        .await
        .unwrap();
    let listed = store.numbers(a.id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|n| n.phone_number_id.as_str())
            .collect::<Vec<_>>(),
        ["2001", "2002"]
    );
    assert_eq!(listed[0], first, "stored as given");
    assert_eq!(listed[0].access_token.as_deref(), Some("TOKEN-A"));
    assert_eq!(listed[1].access_token, None);
    assert!(store.numbers(b.id).await.unwrap().is_empty());
    assert_eq!(
        store.number(a.id, "2001").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.number(b.id, "2001").await.unwrap(),
        None,
        "another account's"
    );
    assert_eq!(store.number(a.id, "9999").await.unwrap(), None);

    let rated = store
        .update_number(a.id, "2001", NumberUpdate::SetThroughput(Some(7)))
        .await
        .unwrap();
    assert_eq!(rated.throughput_per_second, Some(7));
    let token = store
        .update_number(a.id, "2001", NumberUpdate::SetAccessToken(None))
        .await
        .unwrap();
    assert_eq!(token.access_token, None);
    let verified = store
        .update_number(
            a.id,
            "2001",
            NumberUpdate::Verified {
                info: info("2001", "HIGH"),
                at: at(50),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            verified.throughput_per_second,
            verified.throughput_level.as_deref(),
            verified.updated_at
        ),
        (Some(1000), Some("HIGH"), at(50))
    );
    assert_eq!(store.number(a.id, "2001").await.unwrap(), Some(verified));
    assert_eq!(
        store
            .update_number(b.id, "2001", NumberUpdate::SetThroughput(None))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_number(b.id, "2001").await,
        Err(StoreError::NotFound)
    );
    store.delete_number(a.id, "2001").await.unwrap();
    assert_eq!(
        store.delete_number(a.id, "2001").await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.numbers(a.id).await.unwrap().len(), 1);
    assert_eq!(
        store
            .add_number(sample_number(AccountId::new(), "2009", None, 0), 10)
            .await,
        Err(StoreError::NotFound),
        "no such account"
    );
}

/// A phone number id belongs to one account, whether it is a default number or an extra one; an account holds at
/// most `max_per_account` extra numbers; and Meta's webhooks for an extra number route to its account.
pub async fn numbers_are_unique_across_accounts_and_route_webhooks(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    store
        .update_account(
            a.id,
            AccountUpdate::SetCredentials(sample_credentials("3000")),
        )
        .await
        .unwrap();
    store
        .add_number(sample_number(a.id, "3001", None, 0), 2)
        .await
        .unwrap();
    // Another account can take neither the default nor the extra number, as extra or as default.
    for id in ["3000", "3001"] {
        assert_eq!(
            store.add_number(sample_number(b.id, id, None, 1), 2).await,
            Err(support::phone_number_id_taken(id))
        );
        assert_eq!(
            store
                .update_account(b.id, AccountUpdate::SetCredentials(sample_credentials(id)))
                .await
                .map(|_| ()),
            Err(support::phone_number_id_taken(id))
        );
    }
    // The account itself connects each number once.
    for id in ["3000", "3001"] {
        assert_eq!(
            store.add_number(sample_number(a.id, id, None, 1), 2).await,
            Err(support::number_already_connected(id))
        );
    }
    assert_eq!(
        store
            .update_account(
                a.id,
                AccountUpdate::SetCredentials(sample_credentials("3001"))
            )
            .await
            .map(|_| ()),
        Err(support::number_already_connected("3001"))
    );
    // Saving the same default credentials again is no conflict.
    store
        .update_account(
            a.id,
            AccountUpdate::SetCredentials(sample_credentials("3000")),
        )
        .await
        .unwrap();
    store
        .add_number(sample_number(a.id, "3002", None, 2), 2)
        .await
        .unwrap();
    assert_eq!(
        store
            .add_number(sample_number(a.id, "3003", None, 3), 2)
            .await,
        Err(support::too_many_numbers(2))
    );

    let route = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .account_by_phone_number_id(id)
                .await
                .unwrap()
                .map(|acc| acc.id)
        }
    };
    assert_eq!(route("3000").await, Some(a.id));
    assert_eq!(route("3001").await, Some(a.id));
    assert_eq!(route("3003").await, None);
    // Deleted, the number routes nowhere and another account may connect it.
    store.delete_number(a.id, "3001").await.unwrap();
    assert_eq!(route("3001").await, None);
    store
        .add_number(sample_number(b.id, "3001", None, 4), 2)
        .await
        .unwrap();
    assert_eq!(route("3001").await, Some(b.id));
}

/// A message keeps the number it is sent from, through reads, lists and claims.
pub async fn messages_keep_their_from_number(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let mut from = sample_message(a.id, "14155550101");
    from.from = Some("4001".into());
    let default = sample_message(a.id, "14155550102");
    let (from_id, default_id) = (from.id, default.id);
    insert(&*store, a.id, vec![from, default]).await;
    let got = store.get_message(a.id, from_id).await.unwrap().unwrap();
    assert_eq!(got.from.as_deref(), Some("4001"));
    let got = store.get_message(a.id, default_id).await.unwrap().unwrap();
    assert_eq!(got.from, None);
    let page = store
        .list_messages(
            a.id,
            &MessageFilter::default(),
            PageRequest { page: 1, limit: 10 },
        )
        .await
        .unwrap();
    assert!(
        page.items
            .iter()
            .any(|m| m.id == from_id && m.from.as_deref() == Some("4001"))
    );
    let claimed = store.claim_due(at(100), LEASE, 10).await.unwrap();
    let c = claimed.iter().find(|c| c.message.id == from_id).unwrap();
    assert_eq!(c.message.from.as_deref(), Some("4001"));
}

/// A number's pacing steps down once per burst of 130429 and recovers one step per quiet period; every caller
/// sees the same throttle.
pub async fn number_throttles_step_down_and_recover(store: Arc<dyn Store>) {
    let quiet = Duration::from_secs(60);
    let gap = Duration::from_secs(1);
    let keys = vec!["5001".to_owned(), "5002".to_owned()];
    assert_eq!(store.throttles(&keys).await.unwrap(), [None, None]);
    let first = store
        .step_down_number("5001", at(0), quiet, gap)
        .await
        .unwrap();
    assert_eq!(
        first,
        Throttle {
            steps: 1,
            since: at(0)
        }
    );
    // Concurrent 130429s of one burst count once.
    let mut set = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        set.spawn(async move { store.step_down_number("5001", at(0), quiet, gap).await });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap(), first);
    }
    let second = store
        .step_down_number("5001", at(5), quiet, gap)
        .await
        .unwrap();
    assert_eq!(
        second,
        Throttle {
            steps: 2,
            since: at(5)
        }
    );
    assert_eq!(
        store.throttles(&keys).await.unwrap(),
        [Some(second), None],
        "another number is not slowed"
    );
    // After one quiet period one step is back; a new 130429 steps down from there.
    let later = store
        .step_down_number("5001", at(5 + 61), quiet, gap)
        .await
        .unwrap();
    assert_eq!(
        later,
        Throttle {
            steps: 2,
            since: at(66)
        }
    );
    assert_eq!(later.rate_at(80, at(66 + 121), quiet), 80);
}
