//! Behaviour of `PostgresStore` beyond the conformance suite: migrations when replicas start together, a newer
//! schema refused, upgrades of older schemas, wake-ups across stores, claims, rate windows and counter shards
//! shared by several stores on one schema.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use whatsapi_core::Status;
use whatsapi_core::store::{
    MessageFilter, MessageStore, NewBatch, Outcome, PageRequest, StatusCounts, TenantStore,
};
use whatsapi_core::testing::conformance::{at, create_sample_account, message_at, sent_message};
use whatsapi_saas::testing::conformance::sample_customer;
use whatsapi_saas::{CustomerStore, ProductStore};
use whatsapi_store_postgres::{PgOptions, PostgresError, PostgresStore, SCHEMA_VERSION};

fn options(schema: &str) -> PgOptions {
    PgOptions {
        pool_size: 4,
        schema: Some(schema.to_owned()),
        ..PgOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_migrate_once() {
    if !common::available().await {
        return;
    }
    let name = common::schema_name();
    let url = common::database_url();
    let mut starts = JoinSet::new();
    for _ in 0..6 {
        let (url, options) = (url.clone(), options(&name));
        starts.spawn(async move { PostgresStore::connect_with(&url, options).await });
    }
    let mut stores = Vec::new();
    while let Some(started) = starts.join_next().await {
        stores.push(started.unwrap().expect("every replica starts"));
    }
    assert_eq!(stores[0].schema(), name);
    assert_eq!(stores[0].schema_version().await.unwrap(), SCHEMA_VERSION);
    let client = common::connect(&url).await.unwrap();
    let rows: i64 = client
        .query_one(
            &format!("SELECT COUNT(*) FROM {name}.whatsapi_schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, SCHEMA_VERSION, "each migration applied exactly once");
    drop(stores);
    common::TestSchema { url, name }.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_from_a_newer_whatsapi_is_refused() {
    let Some((store, schema)) = common::store().await else {
        return;
    };
    drop(store);
    let client = common::connect(&schema.url).await.unwrap();
    client
        .execute(
            &format!(
                "INSERT INTO {}.whatsapi_schema_version (version) VALUES ($1)",
                schema.name
            ),
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    let err = PostgresStore::connect_with(&schema.url, options(&schema.name))
        .await
        .expect_err("a newer schema must be refused");
    assert!(
        matches!(err, PostgresError::NewerSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade whatsapi"), "{err}");
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable() {
    let err = PostgresStore::connect_with(
        "postgres://postgres@127.0.0.1:1/none",
        PgOptions {
            connect_timeout: Duration::from_secs(2),
            ..PgOptions::default()
        },
    )
    .await
    .expect_err("nothing listens on port 1");
    assert!(matches!(err, PostgresError::Unavailable(_)), "{err:?}");
    let as_store: whatsapi_core::StoreError = err.into();
    assert!(matches!(
        as_store,
        whatsapi_core::StoreError::Unavailable(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_on_one_replica_wakes_the_others() {
    let Some((a, schema)) = common::store().await else {
        return;
    };
    let b = PostgresStore::connect_with(&schema.url, options(&schema.name))
        .await
        .unwrap();
    let mut woken = a
        .subscribe_wakeups()
        .expect("PostgresStore offers wake-ups");
    let account = create_sample_account(&b).await;
    // The listener raises one wake-up once it listens; when this receiver subscribed before that, wait for it
    // so it is not mistaken for the insert's. Either way the listener listens afterwards.
    let _ = tokio::time::timeout(Duration::from_secs(3), woken.recv()).await;
    while woken.try_recv().is_ok() {}
    b.insert_messages(NewBatch {
        account_id: account.id,
        messages: vec![message_at(account.id, "14155552671", 0)],
        idempotency: None,
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), woken.recv())
        .await
        .expect("an insert on the other replica wakes this one")
        .unwrap();
    drop((a, b));
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claimers_on_several_replicas_never_share() {
    let Some((first, schema)) = common::store().await else {
        return;
    };
    let mut replicas: Vec<Arc<PostgresStore>> = vec![first];
    for _ in 0..2 {
        replicas.push(Arc::new(
            PostgresStore::connect_with(&schema.url, options(&schema.name))
                .await
                .unwrap(),
        ));
    }
    let account = create_sample_account(&*replicas[0]).await;
    let messages: Vec<_> = (0..300)
        .map(|i| message_at(account.id, "14155552671", i % 7))
        .collect();
    let all: HashSet<_> = messages.iter().map(|m| m.id).collect();
    replicas[0]
        .insert_messages(NewBatch {
            account_id: account.id,
            messages,
            idempotency: None,
        })
        .await
        .unwrap();
    let mut claimers = JoinSet::new();
    for i in 0..6 {
        let store = replicas[i % replicas.len()].clone();
        claimers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_due(at(60), Duration::from_secs(30), 7)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    break mine;
                }
                mine.extend(claimed.into_iter().map(|c| c.message.id));
            }
        });
    }
    let mut seen = HashSet::new();
    while let Some(mine) = claimers.join_next().await {
        for id in mine.unwrap() {
            assert!(seen.insert(id), "message {id} was claimed twice");
        }
    }
    assert_eq!(seen, all, "every message claimed exactly once");
    drop(replicas);
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_windows_count_every_hit_of_every_replica() {
    let Some((a, schema)) = common::store().await else {
        return;
    };
    let b = Arc::new(
        PostgresStore::connect_with(&schema.url, options(&schema.name))
            .await
            .unwrap(),
    );
    let mut hits = JoinSet::new();
    for i in 0..200 {
        let store: Arc<dyn ProductStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
        hits.spawn(async move { store.hit_rate_window("key:shared", at(0)).await.unwrap() });
    }
    let mut counts = Vec::new();
    while let Some(n) = hits.join_next().await {
        counts.push(n.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=200).collect::<Vec<u64>>(),
        "each hit saw its own count"
    );
    drop((a, b));
    schema.drop_schema().await;
}

/// Version 3 makes a phone number id unique across accounts. A schema where several accounts share one is not
/// migrated with an obscure index error: the connect fails naming the numbers and the fix, and nothing of version
/// 3 is applied; once fixed as it says, the upgrade goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_phone_number_ids_stop_the_upgrade_with_instructions() {
    if !common::available().await {
        return;
    }
    let name = common::schema_name();
    let url = common::database_url();
    let old = PostgresStore::connect_at_version(&url, options(&name), 2)
        .await
        .unwrap();
    // Version 2 keeps every account with its product half (email, plan, key).
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(old.create_customer(sample_customer()).await.unwrap().id.0);
    }
    drop(old);
    let client = common::connect(&url).await.unwrap();
    // What the old version allowed: three accounts on one number, and one alone on another.
    client
        .execute(
            &format!(
                "UPDATE {name}.accounts SET phone_number_id = '1234567890' WHERE id = ANY($1)"
            ),
            &[&ids[..3].to_vec()],
        )
        .await
        .unwrap();
    client
        .execute(
            &format!("UPDATE {name}.accounts SET phone_number_id = '555' WHERE id = $1"),
            &[&ids[3]],
        )
        .await
        .unwrap();

    let err = PostgresStore::connect_with(&url, options(&name))
        .await
        .expect_err("duplicates must stop the upgrade");
    let text = err.to_string();
    assert!(matches!(err, PostgresError::Migration(_)), "{text}");
    assert!(text.contains("1234567890 (3 accounts)"), "{text}");
    assert!(!text.contains("555"), "only duplicates are listed: {text}");
    assert!(
        text.contains("Clear the credentials of all but one account"),
        "{text}"
    );
    let found: i64 = client
        .query_one(
            &format!("SELECT max(version) FROM {name}.whatsapi_schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(found, 2, "nothing of version 3 was applied");

    // Fixed as the message says: the upgrade goes through and the number routes to the one account left.
    client
        .execute(
            &format!(
                "UPDATE {name}.accounts SET phone_number_id = NULL, credentials = NULL WHERE id = ANY($1)"
            ),
            &[&ids[1..3].to_vec()],
        )
        .await
        .unwrap();
    let store = PostgresStore::connect_with(&url, options(&name))
        .await
        .unwrap();
    assert_eq!(
        store
            .account_by_phone_number_id("1234567890")
            .await
            .unwrap()
            .map(|a| a.id.0),
        Some(ids[0])
    );
    drop(store);
    common::TestSchema { url, name }.drop_schema().await;
}

/// Version 12 shards the status counters and moves `accounts.messages_sent` into `sent_counts`. What an older
/// database counted comes through the upgrade exactly (per account, in the totals, in the listings' totals), and
/// later writes add to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_and_messages_sent_survive_the_upgrade_to_shards() {
    if !common::available().await {
        return;
    }
    let name = common::schema_name();
    let url = common::database_url();
    let old = PostgresStore::connect_at_version(&url, options(&name), 11)
        .await
        .unwrap();
    let a = create_sample_account(&old).await;
    let b = create_sample_account(&old).await;
    drop(old);
    // What version 11 kept: one row per (account, status), and the sent count in the account's row.
    let client = common::connect(&url).await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO {name}.status_counts (account, status, n) \
             SELECT seq, s, n FROM {name}.accounts, (VALUES (0::int2, 3::int8), (4, 5), (6, 2), (7, 1)) v(s, n) \
             WHERE id = '{a}'; \
             INSERT INTO {name}.status_counts (account, status, n) SELECT seq, 0, 7 FROM {name}.accounts \
             WHERE id = '{b}'; \
             UPDATE {name}.accounts SET messages_sent = 8 WHERE id = '{a}'; \
             UPDATE {name}.accounts SET messages_sent = 1 WHERE id = '{b}';",
            a = a.id.0,
            b = b.id.0,
        ))
        .await
        .unwrap();

    let store = PostgresStore::connect_with(&url, options(&name))
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let counts = |pairs: &[(Status, u64)]| pairs.iter().copied().collect::<StatusCounts>();
    assert_eq!(
        store.status_counts(a.id).await.unwrap(),
        counts(&[
            (Status::Queued, 3),
            (Status::Sent, 5),
            (Status::Read, 2),
            (Status::Failed, 1)
        ])
    );
    assert_eq!(
        store.status_counts(b.id).await.unwrap(),
        counts(&[(Status::Queued, 7)])
    );
    assert_eq!(
        store.status_totals().await.unwrap(),
        counts(&[
            (Status::Queued, 10),
            (Status::Sent, 5),
            (Status::Read, 2),
            (Status::Failed, 1)
        ])
    );
    let sent = |id| {
        let store = &store;
        async move { store.account(id).await.unwrap().unwrap().messages_sent }
    };
    assert_eq!((sent(a.id).await, sent(b.id).await), (8, 1));
    let total = |status: Option<Status>| {
        let store = &store;
        async move {
            let filter = MessageFilter {
                status,
                ..MessageFilter::default()
            };
            let page = PageRequest { page: 1, limit: 10 };
            store
                .list_messages(a.id, &filter, page)
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(
        (total(None).await, total(Some(Status::Sent)).await),
        (11, 5)
    );

    // A send after the upgrade: queued, claimed, sent (counted in whichever shards its transactions chose).
    sent_message(&store, a.id, "wamid.after-upgrade", 0, at(1)).await;
    assert_eq!(sent(a.id).await, 9);
    assert_eq!(
        store.status_counts(a.id).await.unwrap(),
        counts(&[
            (Status::Queued, 3),
            (Status::Sent, 6),
            (Status::Read, 2),
            (Status::Failed, 1)
        ])
    );
    assert_eq!(
        (total(None).await, total(Some(Status::Sent)).await),
        (12, 6)
    );
    drop(store);
    common::TestSchema { url, name }.drop_schema().await;
}

/// Concurrent sends of one account on two replicas spread their counter deltas over several shards (so they do not
/// all wait for one row), and the sums stay exact: every message counted once, every send to Meta once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_one_account_use_several_shards_and_add_up() {
    let Some((first, schema)) = common::store().await else {
        return;
    };
    let second = Arc::new(
        PostgresStore::connect_with(&schema.url, options(&schema.name))
            .await
            .unwrap(),
    );
    let replicas = [first, second];
    let account = create_sample_account(&*replicas[0]).await;
    let mut inserts = JoinSet::new();
    for i in 0..40 {
        let store = replicas[i % 2].clone();
        inserts.spawn(async move {
            let messages = (0..5)
                .map(|j| message_at(account.id, "14155552671", (i * 5 + j) as i64))
                .collect();
            store
                .insert_messages(NewBatch {
                    account_id: account.id,
                    messages,
                    idempotency: None,
                })
                .await
                .unwrap();
        });
    }
    while let Some(done) = inserts.join_next().await {
        done.unwrap();
    }
    let claimed = replicas[0]
        .claim_due(at(3600), Duration::from_secs(30), 30)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 30);
    let mut outcomes = JoinSet::new();
    for (i, c) in claimed.into_iter().enumerate() {
        let store = replicas[i % 2].clone();
        outcomes.spawn(async move {
            let sent = Outcome::Sent {
                wamid: format!("wamid.{i}"),
            };
            store
                .record_outcome(c.message.id, c.message.attempt, sent, at(3600))
                .await
                .unwrap();
        });
    }
    while let Some(done) = outcomes.join_next().await {
        done.unwrap();
    }

    let counts = replicas[1].status_counts(account.id).await.unwrap();
    assert_eq!(counts.get(&Status::Queued), Some(&170), "{counts:?}");
    assert_eq!(counts.get(&Status::Sent), Some(&30), "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 200, "{counts:?}");
    let me = replicas[1].account(account.id).await.unwrap().unwrap();
    assert_eq!(me.messages_sent, 30);
    let client = common::connect(&schema.url).await.unwrap();
    for table in ["status_counts", "sent_counts"] {
        let shards: i64 = client
            .query_one(
                &format!("SELECT count(DISTINCT shard) FROM {}.{table}", schema.name),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(shards > 1, "{table}: every write went to one shard");
    }
    drop(replicas);
    schema.drop_schema().await;
}
