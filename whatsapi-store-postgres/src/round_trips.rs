//! How many statements the store's set-based paths send, counted at the [`Db`] seam they all query through. Runs
//! against the PostgreSQL of `DATABASE_URL` (the integration tests' default without it), in a schema of its own;
//! skipped when the server is unreachable, except under `CI=true`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::json;
use tokio_postgres::Row;
use whatsapi_core::idempotency::{
    Decision, Fingerprint, IdempotencyKey, RequestKind, StoredOutcome,
};
use whatsapi_core::store::{
    IdempotencyCompletion, MessageFilter, MessageStore, NewBatch, PageRequest, TenantStore,
};
use whatsapi_core::testing::conformance::{at, message_at, sample_account};
use whatsapi_core::{Recipient, Status, UserId};

use crate::db::{Db, Params};
use crate::error::Result;
use crate::{PgOptions, PostgresStore, messages};

/// A [`Db`] that counts the statements sent through it.
struct Counting<'a> {
    inner: &'a dyn Db,
    statements: AtomicUsize,
}

impl<'a> Counting<'a> {
    /// Counts what goes to `inner`.
    fn new(inner: &'a dyn Db) -> Self {
        Self {
            inner,
            statements: AtomicUsize::new(0),
        }
    }

    /// The statements sent so far.
    fn statements(&self) -> usize {
        self.statements.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Db for Counting<'_> {
    async fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        self.statements.fetch_add(1, Ordering::SeqCst);
        self.inner.rows(sql, params).await
    }

    async fn exec(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        self.statements.fetch_add(1, Ordering::SeqCst);
        self.inner.exec(sql, params).await
    }
}

/// A store on a fresh schema (named like the integration tests' so their clean-up finds it), or `None` when
/// PostgreSQL is unreachable outside CI.
async fn store() -> Option<PostgresStore> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let schema = format!(
        "wa_test_{secs}_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let options = PgOptions {
        pool_size: 2,
        schema: Some(schema),
        listen: false,
        ..PgOptions::default()
    };
    match PostgresStore::connect_with(&url, options).await {
        Ok(store) => Some(store),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("PostgreSQL at {url}: {e} (CI=true: the PostgreSQL tests must run)")
        }
        Err(e) => {
            eprintln!("skipped: PostgreSQL at {url}: {e}");
            None
        }
    }
}

async fn drop_schema(store: PostgresStore) {
    let client = store.client().await.unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA {} CASCADE", store.schema()))
        .await
        .unwrap();
}

/// A `POST /messages/bulk` of 1,000 items (to 100 customers, one of them known only by a BSUID, with an
/// idempotency key) is one statement: messages, timelines, counters, conversations, idempotency record and
/// wake-up. What it stored is all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_insert_of_1000_messages_is_one_statement() {
    let Some(store) = store().await else { return };
    let account = store.create_account(sample_account()).await.unwrap();
    let bsuid = UserId::parse("US.1234567890").unwrap();
    let messages: Vec<_> = (0..1000)
        .map(|i| {
            let mut m = message_at(account.id, &format!("1415555{:04}", i % 99), i);
            if i == 999 {
                m.to = Recipient::from(bsuid.clone());
            }
            m
        })
        .collect();
    let key = IdempotencyKey::parse("bulk-1").unwrap();
    let fingerprint = Fingerprint::of(RequestKind::Send, &json!({ "bulk": 1 }));
    let response = StoredOutcome(json!({ "batch": 1 }));
    let batch = NewBatch {
        account_id: account.id,
        messages,
        idempotency: Some(IdempotencyCompletion {
            key: key.clone(),
            fingerprint,
            response: response.clone(),
            expires_at: at(24 * 3600),
        }),
    };

    let client = store.client().await.unwrap();
    let counting = Counting::new(&client);
    messages::insert(&counting, &batch).await.unwrap();
    assert_eq!(counting.statements(), 1, "one statement for 1,000 messages");

    let page = store
        .list_messages(
            account.id,
            &MessageFilter::default(),
            PageRequest { page: 1, limit: 10 },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1000);
    let counts = store.status_counts(account.id).await.unwrap();
    assert_eq!(counts.get(&Status::Queued), Some(&1000), "{counts:?}");
    let last = batch.messages[999].id;
    let stored = store.get_message(account.id, last).await.unwrap().unwrap();
    assert_eq!(stored.timeline.len(), 1, "first timeline entry");
    assert_eq!(stored.to, Recipient::from(bsuid));
    let timelines: i64 = client
        .query_one("SELECT count(*) FROM timeline", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(timelines, 1000);
    let contacts: i64 = client
        .query_one("SELECT count(*) FROM contacts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(contacts, 100, "99 phone numbers and one BSUID");
    assert_eq!(
        store
            .idempotency_begin(account.id, &key, &fingerprint, at(1))
            .await
            .unwrap(),
        Decision::Replay(response)
    );
    drop(client);
    drop_schema(store).await;
}
