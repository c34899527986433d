//! Behaviour of the SQLite store: the same scenario run against the reference `MemoryStore` gives the same
//! answers, and the group-commit writer isolates a failing request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{account, at, batch, message, store, with_webhook};
use serde_json::json;
use whatsapi_core::account::{AccountUpdate, BreakerState, NewAccount, WebhookConfig};
use whatsapi_core::idempotency::{Fingerprint, IdempotencyKey, RequestKind, StoredOutcome};
use whatsapi_core::status::MetaStatus;
use whatsapi_core::store::{
    DEFAULT_MAX_PENDING_STATUSES, EventNext, FailureInfo, IdempotencyCompletion, MessageFilter,
    MessageStore, NewBatch, Outcome, PageRequest, PurgePolicy, StatusUpdate, TenantStore,
};
use whatsapi_core::testing::MemoryStore;
use whatsapi_core::webhook::DeliveryAttempt;
use whatsapi_core::{AccountId, BatchId, MessageId, Status, Store, StoreError};
use whatsapi_saas::testing::MemoryProductStore;
use whatsapi_saas::testing::conformance::ProductStores;
use whatsapi_saas::{ApiKey, CustomerStore, CustomerUpdate, NewCustomer, Plan};
use whatsapi_store_sqlite::SqliteStore;

/// Everything the scenario creates, fixed up front so both stores receive identical input.
struct Inputs {
    a: NewCustomer,
    b: NewCustomer,
    ids: Vec<MessageId>,
    batch: BatchId,
}

impl Inputs {
    fn new() -> Self {
        let acc = |email: &str| NewCustomer {
            account: NewAccount {
                id: AccountId::new(),
                name: "Acme".into(),
                created_at: at(0),
            },
            email: email.into(),
            plan: Plan::Pro,
            key_hash: ApiKey::generate().hash(),
        };
        Self {
            a: acc("a@example.com"),
            b: acc("b@example.com"),
            ids: (0..6).map(|_| MessageId::new()).collect(),
            batch: BatchId::new(),
        }
    }
}

/// Runs one long scenario and logs every answer (event ids, which are random, left out).
async fn scenario(stores: ProductStores, input: &Inputs) -> Vec<String> {
    let ProductStores {
        tenants: store,
        product,
    } = stores;
    let mut log = Vec::new();
    macro_rules! note {
        ($label:expr, $value:expr) => {
            log.push(format!("{}: {:?}", $label, $value))
        };
    }
    let a = product.create_customer(input.a.clone()).await.unwrap();
    let b = product.create_customer(input.b.clone()).await.unwrap();
    note!(
        "dup email",
        product
            .create_customer(NewCustomer {
                account: NewAccount {
                    id: AccountId::new(),
                    ..input.a.account.clone()
                },
                email: "A@Example.com".into(),
                ..input.a.clone()
            })
            .await
            .map(|_| ())
            .map_err(|e| matches!(e, StoreError::Conflict(_)))
    );
    note!(
        "by email",
        product
            .customer_by_email("B@EXAMPLE.COM")
            .await
            .unwrap()
            .map(|x| x.id == b.id)
    );
    let a = store.account(a.id).await.unwrap().unwrap();
    with_webhook(store.as_ref(), &a).await;

    // Idempotent bulk insert into A: two queued, one scheduled, one with metadata and a batch.
    let key = IdempotencyKey::parse("order-1").unwrap();
    let fp = Fingerprint::of(RequestKind::Bulk, &json!({"n": 4}));
    note!(
        "begin",
        store.idempotency_begin(a.id, &key, &fp, at(1)).await
    );
    note!(
        "begin again",
        store.idempotency_begin(a.id, &key, &fp, at(2)).await
    );
    let mut msgs: Vec<_> = (0..4).map(|i| message(a.id, at(1 + i as i64))).collect();
    for (m, id) in msgs.iter_mut().zip(&input.ids) {
        m.id = *id;
        m.batch_id = Some(input.batch);
    }
    msgs[2].send_at = Some(at(100));
    msgs[3].metadata = Some(json!({"orderId": "1234"}).as_object().unwrap().clone());
    let response = StoredOutcome(json!({"batchId": "b1", "queued": 4}));
    let done = IdempotencyCompletion {
        key: key.clone(),
        fingerprint: fp,
        response: response.clone(),
        expires_at: at(1) + chrono::Duration::hours(24),
    };
    note!(
        "insert",
        store
            .insert_messages(NewBatch {
                account_id: a.id,
                messages: msgs,
                idempotency: Some(done.clone())
            })
            .await
    );
    note!(
        "replay",
        store.idempotency_begin(a.id, &key, &fp, at(3)).await
    );
    note!(
        "other body",
        store
            .idempotency_begin(
                a.id,
                &key,
                &Fingerprint::of(RequestKind::Send, &json!(1)),
                at(3)
            )
            .await
    );
    note!(
        "same key other account",
        store.idempotency_begin(b.id, &key, &fp, at(3)).await
    );
    note!(
        "complete twice",
        store
            .insert_messages(NewBatch {
                account_id: a.id,
                messages: vec![],
                idempotency: Some(done)
            })
            .await
            .map_err(|e| matches!(e, StoreError::Conflict(_)))
    );
    let mut mb = message(b.id, at(2));
    mb.id = input.ids[4];
    mb.dry_run = true;
    note!(
        "insert b",
        store.insert_messages(batch(b.id, vec![mb])).await
    );
    note!(
        "unknown account",
        store.insert_messages(batch(AccountId::new(), vec![])).await
    );
    note!("counts a", store.status_counts(a.id).await);
    note!("next due", store.next_due_at().await);

    // Meta reports before the send is recorded.
    let update = |wamid: &str, status, secs, account| StatusUpdate {
        pricing: None,
        account_id: account,
        wamid: wamid.into(),
        status,
        at: at(secs),
        error: None,
    };
    note!(
        "early",
        store
            .apply_status_updates(
                &[update("wamid.1", MetaStatus::Delivered, 6, Some(a.id))],
                at(6),
                DEFAULT_MAX_PENDING_STATUSES
            )
            .await
    );

    // Dispatcher: a paused account is skipped.
    store
        .update_account(
            b.id,
            AccountUpdate::SetBreaker(BreakerState {
                consecutive_failures: 3,
                open_until: Some(at(50)),
                trips: 1,
                probing: false,
            }),
        )
        .await
        .unwrap();
    note!("next due paused", store.next_due_at().await);
    let claimed = store
        .claim_due(at(5), Duration::from_secs(30), 10)
        .await
        .unwrap();
    note!("claim", claimed);
    note!(
        "claim again",
        store.claim_due(at(5), Duration::from_secs(30), 10).await
    );
    let first = &claimed[0].message;
    note!(
        "sent",
        store
            .record_outcome(
                first.id,
                first.attempt,
                Outcome::Sent {
                    wamid: "wamid.1".into()
                },
                at(5)
            )
            .await
    );
    note!(
        "stale",
        store
            .record_outcome(first.id, first.attempt, Outcome::Release, at(5))
            .await
    );
    let second = &claimed[1].message;
    note!(
        "dup wamid",
        store
            .record_outcome(
                second.id,
                second.attempt,
                Outcome::Sent {
                    wamid: "wamid.1".into()
                },
                at(5)
            )
            .await
            .map_err(|e| matches!(e, StoreError::Conflict(_)))
    );
    note!(
        "retry",
        store
            .record_outcome(
                second.id,
                second.attempt,
                Outcome::Retry {
                    next_attempt_at: at(20),
                    error: FailureInfo {
                        meta: None,
                        message: "Meta 131000".into(),
                        code: Some(131000)
                    }
                },
                at(6)
            )
            .await
    );
    let third = &claimed[2].message;
    note!(
        "release",
        store
            .record_outcome(third.id, third.attempt, Outcome::Release, at(6))
            .await
    );
    note!("next due after", store.next_due_at().await);
    // Lease expiry: the released one and the retrying one come back; B resumes once its breaker closed.
    let later = store
        .claim_due(at(60), Duration::from_secs(30), 10)
        .await
        .unwrap();
    note!("claim later", later);
    for c in &later {
        let outcome = if c.message.account_id == b.id {
            Outcome::Sent {
                wamid: "wamid.b".into(),
            }
        } else {
            Outcome::Failed {
                error: FailureInfo {
                    meta: None,
                    message: "Meta 131026".into(),
                    code: Some(131026),
                },
            }
        };
        note!(
            "outcome",
            store
                .record_outcome(c.message.id, c.message.attempt, outcome, at(61))
                .await
        );
    }
    note!(
        "b sent counter",
        store.account(b.id).await.unwrap().map(|x| x.messages_sent)
    );
    note!(
        "a sent counter",
        store.account(a.id).await.unwrap().map(|x| x.messages_sent)
    );

    // Meta's statuses: monotonic, scoped, unknown kept.
    note!(
        "statuses",
        store
            .apply_status_updates(
                &[
                    update("wamid.1", MetaStatus::Read, 70, None),
                    update("wamid.1", MetaStatus::Delivered, 71, None),
                    update("wamid.b", MetaStatus::Delivered, 72, Some(a.id)),
                    StatusUpdate {
                        error: Some(FailureInfo {
                            meta: None,
                            message: "undeliverable".into(),
                            code: Some(131026)
                        }),
                        ..update("wamid.b", MetaStatus::Failed, 73, Some(b.id))
                    },
                ],
                at(73),
                DEFAULT_MAX_PENDING_STATUSES
            )
            .await
    );
    note!("by wamid", store.message_by_wamid("wamid.1").await);

    // Manual retry: scoped, only from failed.
    let failed = later
        .iter()
        .find(|c| c.message.account_id == a.id)
        .map(|c| c.message.id)
        .unwrap();
    note!(
        "retry foreign",
        store.retry_message(b.id, failed, at(80)).await
    );
    note!(
        "retry sent",
        store.retry_message(a.id, input.ids[0], at(80)).await
    );
    note!(
        "retry failed",
        store.retry_message(a.id, failed, at(80)).await
    );
    note!(
        "retry b",
        store.retry_message(b.id, input.ids[4], at(80)).await
    );

    // Listings and counters.
    for (label, filter, page) in [
        (
            "all",
            MessageFilter::default(),
            PageRequest { page: 1, limit: 2 },
        ),
        (
            "all p2",
            MessageFilter::default(),
            PageRequest { page: 2, limit: 2 },
        ),
        (
            "queued",
            MessageFilter {
                status: Some(Status::Queued),
                batch_id: None,
            },
            PageRequest { page: 1, limit: 10 },
        ),
        (
            "batch",
            MessageFilter {
                status: None,
                batch_id: Some(input.batch),
            },
            PageRequest { page: 1, limit: 10 },
        ),
        (
            "batch read",
            MessageFilter {
                status: Some(Status::Read),
                batch_id: Some(input.batch),
            },
            PageRequest { page: 1, limit: 10 },
        ),
    ] {
        note!(label, store.list_messages(a.id, &filter, page).await);
    }
    note!(
        "list b",
        store
            .list_messages(
                b.id,
                &MessageFilter::default(),
                PageRequest { page: 1, limit: 10 }
            )
            .await
    );
    note!("get", store.get_message(a.id, input.ids[0]).await);
    note!("get foreign", store.get_message(b.id, input.ids[0]).await);
    note!("counts a", store.status_counts(a.id).await);
    note!("counts b", store.status_counts(b.id).await);

    // Outbox: one event per message at a time, in the order written.
    let mut rounds = 0;
    loop {
        let events = store
            .claim_events(at(100), Duration::from_secs(10), 10)
            .await
            .unwrap();
        note!(
            "leased",
            store
                .claim_events(at(100), Duration::from_secs(10), 10)
                .await
                .map(|e| e.len())
        );
        if events.is_empty() || rounds > 10 {
            break;
        }
        rounds += 1;
        for e in &events {
            note!(
                "event",
                (
                    e.event.account_id,
                    e.event.status(),
                    e.event.created_at,
                    &e.event.data,
                    e.event.attempts,
                    &e.target
                )
            );
            let next = if rounds == 1 {
                EventNext::RetryAt(at(90))
            } else {
                EventNext::Done
            };
            let attempt = DeliveryAttempt {
                event_id: e.event.id,
                event_type: e.event.event_type,
                message_id: e.event.message_id(),
                status: e.event.status(),
                url: "https://example.com/hook".into(),
                at: at(100 + rounds),
                http_status: Some(500),
                error: None,
                duration_ms: 3,
            };
            store
                .finish_event(e.event.id, Some(attempt), next)
                .await
                .unwrap();
        }
    }
    note!(
        "attempts",
        store.delivery_attempts(a.id, 3).await.map(|v| v
            .into_iter()
            .map(|d| (d.message_id, d.status, d.at, d.http_status))
            .collect::<Vec<_>>())
    );

    // Housekeeping.
    note!(
        "inbound none",
        store.last_inbound(a.id, "14155552671").await
    );
    store
        .record_inbound(a.id, "14155552671", at(9))
        .await
        .unwrap();
    store
        .record_inbound(a.id, "14155552671", at(8))
        .await
        .unwrap();
    note!("inbound", store.last_inbound(a.id, "14155552671").await);
    note!(
        "inbound other account",
        store.last_inbound(b.id, "14155552671").await
    );
    note!("hit", product.hit_rate_window("key:a", at(0)).await);
    note!("hit", product.hit_rate_window("key:a", at(0)).await);
    note!(
        "early purge",
        store.purge_expired(at(120), PurgePolicy::default()).await
    );
    note!(
        "purge",
        store
            .purge_expired(at(30 * 24 * 3600), PurgePolicy::default())
            .await
    );
    note!(
        "replay after purge",
        store
            .idempotency_begin(a.id, &key, &fp, at(30 * 24 * 3600))
            .await
    );
    note!(
        "attempts after purge",
        store.delivery_attempts(a.id, 3).await.map(|v| v.len())
    );
    note!(
        "webhook cleared",
        store
            .update_account(a.id, AccountUpdate::ClearWebhook)
            .await
            .map(|x| x.webhook)
    );
    note!(
        "webhook set",
        store
            .update_account(
                a.id,
                AccountUpdate::SetWebhook(WebhookConfig {
                    url: "https://x".into(),
                    secret: "s".into()
                })
            )
            .await
            .map(|x| x.webhook)
    );
    let new_key = ApiKey::generate().hash();
    note!(
        "rotate",
        product.rotate_key(a.id, &input.a.key_hash, &new_key).await
    );
    note!(
        "rotate stale",
        product
            .rotate_key(a.id, &input.a.key_hash, &new_key)
            .await
            .map_err(|e| matches!(e, StoreError::Conflict(_)))
    );
    note!(
        "rotate unknown",
        product
            .rotate_key(AccountId::new(), &input.a.key_hash, &new_key)
            .await
    );
    note!(
        "by key",
        product
            .customer_by_key_hash(&new_key)
            .await
            .unwrap()
            .map(|x| x.id == a.id)
    );
    note!(
        "by old key",
        product.customer_by_key_hash(&input.a.key_hash).await
    );
    log
}

#[tokio::test]
async fn answers_like_the_reference_memory_store() {
    let input = Inputs::new();
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let expected = scenario(
        ProductStores {
            product: Arc::new(MemoryProductStore::new(memory.clone())),
            tenants: memory,
        },
        &input,
    )
    .await;
    let (_dir, sqlite) = store();
    let actual = scenario(
        ProductStores {
            tenants: sqlite.clone(),
            product: sqlite,
        },
        &input,
    )
    .await;
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(a, e, "step {i} differs");
    }
    assert_eq!(actual.len(), expected.len());
}

#[tokio::test]
async fn a_failing_request_in_a_batch_fails_alone() {
    let (_dir, store) = store();
    let acc = account(store.as_ref(), "a@example.com").await;
    let existing = message(acc.id, at(0));
    store
        .insert_messages(batch(acc.id, vec![existing.clone()]))
        .await
        .unwrap();
    // 64 concurrent callers; one of them repeats an existing id, so its SAVEPOINT is rolled back alone.
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        let m = if i == 17 {
            existing.clone()
        } else {
            message(acc.id, at(1))
        };
        tasks.push(tokio::spawn(async move {
            (
                m.id,
                store.insert_messages(batch(m.account_id, vec![m])).await,
            )
        }));
    }
    let mut failures = 0;
    for t in tasks {
        let (id, result) = t.await.unwrap();
        match result {
            Ok(()) => assert!(store.get_message(acc.id, id).await.unwrap().is_some()),
            Err(StoreError::Conflict(text)) => {
                assert!(text.contains(&id.to_string()), "{text}");
                failures += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(failures, 1);
    assert_eq!(
        store
            .status_counts(acc.id)
            .await
            .unwrap()
            .get(&Status::Queued),
        Some(&64)
    );
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_message() {
    let (_dir, store) = store();
    let acc = account(store.as_ref(), "a@example.com").await;
    let msgs: Vec<_> = (0..200).map(|i| message(acc.id, at(i))).collect();
    store.insert_messages(batch(acc.id, msgs)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_due(at(500), Duration::from_secs(60), 30)
                .await
                .unwrap()
        }));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tasks {
        for c in t.await.unwrap() {
            assert!(seen.insert(c.message.id), "claimed twice: {}", c.message.id);
        }
    }
    assert_eq!(seen.len(), 200);
    assert_eq!(
        store
            .status_counts(acc.id)
            .await
            .unwrap()
            .get(&Status::Processing),
        Some(&200)
    );
}

/// The lookups of every request (the customer by key hash, then its account) are answered from a cache (keys.rs);
/// every change, by this store or by another connection to the same file (the operator commands), must show on the
/// very next lookup.
#[tokio::test]
async fn key_lookups_see_every_change_at_once_even_from_another_process() {
    let (dir, store) = store();
    let acc = account(store.as_ref(), "a@example.com").await;
    let found = |s: Arc<SqliteStore>, h| async move { s.customer_by_key_hash(&h).await.unwrap() };
    let old = store.customer(acc.id).await.unwrap().unwrap().key_hash;
    // Twice: the second answer comes from the cache.
    for _ in 0..2 {
        assert_eq!(found(store.clone(), old).await.map(|a| a.id), Some(acc.id));
    }

    // A rotation through this store.
    let new = ApiKey::generate().hash();
    store.rotate_key(acc.id, &old, &new).await.unwrap();
    assert!(found(store.clone(), old).await.is_none());
    assert_eq!(found(store.clone(), new).await.map(|a| a.id), Some(acc.id));
    assert_eq!(found(store.clone(), new).await.map(|a| a.id), Some(acc.id));

    let recent = |s: Arc<SqliteStore>| async move { s.recent_account(acc.id).await.unwrap() };
    for _ in 0..2 {
        assert_eq!(recent(store.clone()).await.map(|a| a.active), Some(true));
    }

    // Another process opening the same file (as `whatsapi account deactivate` does while the server runs).
    let other = SqliteStore::open(dir.path().join("whatsapi.db")).unwrap();
    other
        .update_account(acc.id, AccountUpdate::SetActive(false))
        .await
        .unwrap();
    assert_eq!(recent(store.clone()).await.map(|a| a.active), Some(false));
    other
        .update_customer(acc.id, CustomerUpdate::SetPlan(Plan::Basic))
        .await
        .unwrap();
    assert_eq!(
        found(store.clone(), new).await.map(|a| a.plan),
        Some(Plan::Basic)
    );
    let newer = ApiKey::generate().hash();
    other.rotate_key(acc.id, &new, &newer).await.unwrap();
    assert!(found(store.clone(), new).await.is_none());
    assert_eq!(
        found(store.clone(), newer).await.map(|a| a.id),
        Some(acc.id)
    );

    // The breaker, which a send checks on the looked-up account, is no less fresh.
    let open = BreakerState {
        consecutive_failures: 5,
        open_until: Some(at(60)),
        trips: 1,
        probing: false,
    };
    store
        .update_account(acc.id, AccountUpdate::SetBreaker(open))
        .await
        .unwrap();
    assert_eq!(recent(store.clone()).await.map(|a| a.breaker), Some(open));
}

/// Every column of `accounts` but the `messages_sent` statistic moves the counter the key cache relies on.
#[test]
fn the_key_cache_counter_covers_every_account_column() {
    let (_dir, store) = store();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let trigger: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'accounts_update_auth'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let listed = trigger
        .split_once("UPDATE OF")
        .and_then(|(_, rest)| rest.split_once("ON accounts"))
        .map(|(cols, _)| {
            cols.split(',')
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('accounts')")
        .unwrap();
    let columns: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for c in columns.iter().filter(|c| *c != "messages_sent") {
        assert!(
            listed.contains(c),
            "accounts.{c} is missing from accounts_update_auth"
        );
    }
}
