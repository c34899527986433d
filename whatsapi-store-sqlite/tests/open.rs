//! Opening: folders, pragmas, migrations, and the errors a user can act on.

mod common;

use std::time::Duration;

use common::{account, at, batch, message};
use whatsapi_core::store::{MessageStore, OutboxStore, TenantStore};
use whatsapi_store_sqlite::{SCHEMA_VERSION, SqliteError, SqliteOptions, SqliteStore};

fn pragma(path: &std::path::Path, name: &str) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("PRAGMA {name}"), [], |r| {
        r.get::<_, rusqlite::types::Value>(0)
    })
    .map(|v| match v {
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Text(t) => t,
        other => format!("{other:?}"),
    })
    .unwrap()
}

#[tokio::test]
async fn creates_parent_folders_and_a_durable_wal_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/whatsapi.db");
    let store = SqliteStore::open(&path).unwrap();
    let acc = account(&store, "a@example.com").await;
    store
        .insert_messages(batch(acc.id, vec![message(acc.id, at(0))]))
        .await
        .unwrap();
    assert!(path.exists());
    assert_eq!(pragma(&path, "journal_mode"), "wal");
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION.to_string());
    // synchronous, busy_timeout and foreign_keys are per connection: check the store's own settings through
    // their effects instead: a foreign key violation is refused by the writer.
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store
            .list_messages(
                acc.id,
                &Default::default(),
                whatsapi_core::store::PageRequest { page: 1, limit: 10 }
            )
            .await
            .unwrap()
            .total,
        1,
        "reopening keeps the data"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database ".repeat(200)).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, SqliteError::NotADatabase { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not a SQLite database"),
        "{err}"
    );
    // The file is left alone.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("these are my notes")
    );
}

#[test]
fn a_path_that_cannot_be_written_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // Its parent "folder" is a regular file.
    let err = SqliteStore::open(file.join("whatsapi.db")).unwrap_err();
    assert!(matches!(err, SqliteError::CreateDir { .. }), "{err:?}");
    assert!(
        err.to_string().contains("cannot create the folder"),
        "{err}"
    );
    // The path is a folder.
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, SqliteError::Open { .. }), "{err:?}");
}

#[test]
fn a_locked_database_is_refused_after_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    drop(SqliteStore::open(&path).unwrap());
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(100),
        ..SqliteOptions::default()
    };
    let err = SqliteStore::open_with(&path, options).unwrap_err();
    assert!(matches!(err, SqliteError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("locked by another process"),
        "{err}"
    );
    let store_err: whatsapi_core::StoreError = err.into();
    assert!(matches!(
        store_err,
        whatsapi_core::StoreError::Unavailable(_)
    ));
    holder.execute_batch("COMMIT").unwrap();
    assert!(SqliteStore::open(&path).is_ok());
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    match &err {
        SqliteError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("newer"), "{err}");
    assert_eq!(
        pragma(&path, "user_version"),
        (SCHEMA_VERSION + 1).to_string()
    );
}

#[tokio::test]
async fn an_old_file_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    // A file written by the first release: schema version 1 (no webhook outbox yet), with data in it.
    let old = SqliteStore::open_at_version(&path, SqliteOptions::default(), 1).unwrap();
    let acc = common::old_account(&old, "a@example.com").await;
    let m = message(acc.id, at(0));
    drop(old);
    assert_eq!(pragma(&path, "user_version"), "1");
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The message as the first release wrote it (today's insert names columns that release did not have).
    let created = at(0).timestamp_nanos_opt().unwrap();
    conn.execute(
        "INSERT INTO messages (id, account, recipient, content, status, dry_run, created_at, updated_at, due_at) \
         SELECT ?1, seq, '14155552671', ?2, 0, 0, ?3, ?3, ?3 FROM accounts WHERE id = ?4",
        rusqlite::params![
            m.id.0.as_bytes(),
            serde_json::to_string(&m.content).unwrap(),
            created,
            acc.id.0.as_bytes()
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO timeline (message, n, status, at, detail) SELECT seq, 1, 0, ?1, NULL FROM messages",
        [created],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO status_counts (account, status, n) SELECT seq, 0, 1 FROM accounts",
        [],
    )
    .unwrap();
    let outbox: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outbox, 0);
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION.to_string());
    let got = store.get_message(acc.id, m.id).await.unwrap().unwrap();
    assert_eq!(got.created_at, m.created_at);
    assert_eq!((got.to, got.content, got.reply_to), (m.to, m.content, None));
    // The new tables work.
    let claimed = store
        .claim_due(at(1), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .claim_events(at(1), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Outbox events written before webhook endpoints existed (no `endpoint` column) go to the account's reference
/// webhook after the upgrade, and new status changes fan out to the endpoints added since.
#[tokio::test]
async fn waiting_events_keep_going_to_the_reference_webhook_after_the_endpoints_upgrade() {
    use whatsapi_core::endpoints::{EndpointId, WebhookEndpoint};
    use whatsapi_core::store::Outcome;
    use whatsapi_core::webhook::StatusEventData;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    // Version 10: before 0011 added webhook endpoints.
    let before = 10;
    let old = SqliteStore::open_at_version(&path, SqliteOptions::default(), before).unwrap();
    let acc = common::old_account(&old, "a@example.com").await;
    drop(old);
    // The webhook as the previous release stored it (this release's update reads columns version 10 lacks).
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE accounts SET webhook = ?1 WHERE id = ?2",
            rusqlite::params![common::webhook_json(), acc.id.0.as_bytes()],
        )
        .unwrap();
    // The message is written by this release's store (whose sends keep tables version 10 lacks) in a copy of
    // the database, then copied back row for row: the tables of messages are the same in both versions.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let current = SqliteStore::open(&copy).unwrap();
    let m = message(acc.id, at(0));
    current
        .insert_messages(batch(acc.id, vec![m.clone()]))
        .await
        .unwrap();
    let stored = current.get_message(acc.id, m.id).await.unwrap().unwrap();
    drop(current);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The columns version 10 has (later releases added some, such as the number a message is sent from).
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('messages')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let columns = columns.join(", ");
    conn.execute_batch(&format!(
        "ATTACH '{}' AS cur; INSERT INTO messages ({columns}) SELECT {columns} FROM cur.messages; \
         INSERT INTO timeline SELECT * FROM cur.timeline; \
         INSERT OR REPLACE INTO status_counts SELECT * FROM cur.status_counts; DETACH cur;",
        copy.display()
    ))
    .unwrap();
    // The event as the previous release wrote it.
    conn.execute(
        "INSERT INTO outbox (id, account, message, status, created_at, data, next_at) \
         SELECT x'0193c4f27a1e7c3b9a5d3f2e1d0c4b6a', account, seq, 3, 0, ?1, -9223372036854775808 FROM messages",
        [serde_json::to_string(&StatusEventData::of(&stored)).unwrap()],
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION.to_string());
    let endpoint = WebhookEndpoint {
        id: EndpointId::new(),
        account_id: acc.id,
        url: "https://example.com/endpoint".into(),
        secret: "whsec_endpoint".into(),
        events: vec![],
        enabled: true,
        disabled_reason: None,
        retry_schedule: vec![Duration::from_secs(5)],
        created_at: at(1),
    };
    store.create_endpoint(endpoint.clone(), 10).await.unwrap();
    let events = store
        .claim_events(at(2), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.endpoint, None);
    assert_eq!(
        events[0].target.as_ref().unwrap().url,
        "https://example.com/hook"
    );
    assert_eq!(events[0].retry_schedule, None);

    // A change made now goes to both.
    let c = store
        .claim_due(at(3), Duration::from_secs(30), 10)
        .await
        .unwrap();
    store
        .record_outcome(
            m.id,
            c[0].message.attempt,
            Outcome::Sent {
                wamid: "wamid.UP".into(),
            },
            at(3),
        )
        .await
        .unwrap();
    let events = store
        .claim_events(at(40), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let mut to: Vec<Option<EndpointId>> = events.iter().map(|e| e.event.endpoint).collect();
    to.sort();
    assert_eq!(
        to,
        [None, Some(endpoint.id)],
        "the old event's lease ended; the new one to the endpoint"
    );
}

/// Pending statuses kept before `received_at` existed count as received at their own time, or at the upgrade when
/// that lies in the future (so a far-future timestamp does not keep them forever).
#[test]
fn pending_statuses_get_a_received_time_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    // Version 6 (0006_bounds.sql) adds received_at: a file of version 5 is the one before it.
    drop(SqliteStore::open_at_version(&path, SqliteOptions::default(), 5).unwrap());
    const NANOS: i64 = 1_000_000_000;
    let (past, future) = (1_000_000_000 * NANOS, 4_000_000_000 * NANOS);
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (wamid, at) in [("wamid.PAST", past), ("wamid.FUTURE", future)] {
        conn.execute(
            "INSERT INTO pending_statuses (account, wamid, status, at) VALUES (NULL, ?1, 'delivered', ?2)",
            rusqlite::params![wamid, at],
        )
        .unwrap();
    }
    drop(conn);
    let before = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    drop(SqliteStore::open(&path).unwrap());
    let after = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let received = |wamid: &str| -> i64 {
        conn.query_row(
            "SELECT received_at FROM pending_statuses WHERE wamid = ?1",
            [wamid],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(received("wamid.PAST"), past);
    let future_received = received("wamid.FUTURE");
    // julianday() has millisecond precision.
    assert!(
        (before - NANOS..=after + NANOS).contains(&future_received),
        "{before} <= {future_received} <= {after}"
    );
}

/// Version 5 makes a phone number id unique across accounts; a file where several accounts share one is not
/// migrated half-way or with an obscure index error: the open fails naming the numbers and how to fix them.
#[tokio::test]
async fn duplicate_phone_number_ids_stop_the_upgrade_with_instructions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    let old = SqliteStore::open_at_version(&path, SqliteOptions::default(), 4).unwrap();
    for i in 0..4 {
        common::old_account(&old, &format!("dup{i}@example.com")).await;
    }
    drop(old);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // What the old version allowed: three accounts on one number, and one alone on another.
    conn.execute_batch(
        "UPDATE accounts SET phone_number_id = '1234567890', credentials = '{}' WHERE seq IN (1, 2, 3);
         UPDATE accounts SET phone_number_id = '555' WHERE seq = 4;",
    )
    .unwrap();
    drop(conn);

    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, SqliteError::Migration { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("1234567890 (3 accounts)"), "{text}");
    assert!(!text.contains("555"), "only duplicates are listed: {text}");
    assert!(
        text.contains("Clear the credentials of all but one account"),
        "{text}"
    );
    assert_eq!(pragma(&path, "user_version"), "4", "nothing was migrated");

    // Fixed as the message says: the upgrade goes through and the number routes to the one account left.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "UPDATE accounts SET phone_number_id = NULL, credentials = NULL WHERE seq IN (2, 3);",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION.to_string());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let unique: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'accounts_phone_number_id_unique'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unique, 1);
    drop(conn);
    drop(store);
}

#[test]
fn every_query_uses_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join(" | ")
    };
    let cases = [
        (
            "claim",
            "SELECT m.seq FROM messages m CROSS JOIN accounts a ON a.seq = m.account WHERE m.due_at <= 1 \
             AND a.active = 1 AND (a.breaker_open_until IS NULL OR a.breaker_open_until <= 1) \
             ORDER BY m.due_at, m.id LIMIT 100",
            "messages_due",
        ),
        (
            "newest first",
            "SELECT * FROM messages m WHERE m.account = 1 ORDER BY m.created_at DESC, m.id DESC LIMIT 20",
            "messages_by_account",
        ),
        (
            "by status",
            "SELECT * FROM messages m WHERE m.account = 1 AND m.status = 7 ORDER BY m.created_at DESC, m.id DESC LIMIT 50",
            "messages_by_account_status",
        ),
        (
            "by batch",
            "SELECT * FROM messages m WHERE +m.account = 1 AND m.batch_id = x'00' ORDER BY m.created_at DESC, m.id DESC LIMIT 50",
            "messages_by_batch",
        ),
        (
            "wamid",
            "SELECT * FROM messages WHERE wamid = 'w'",
            "sqlite_autoindex_messages_2",
        ),
        (
            "idempotency",
            "SELECT * FROM idempotency WHERE account = x'00' AND key = 'k'",
            "PRIMARY KEY",
        ),
        (
            "idempotency expiry",
            "DELETE FROM idempotency WHERE expires_at <= 5",
            "idempotency_by_expiry",
        ),
        (
            "outbox",
            "SELECT o.seq FROM outbox o WHERE o.state = 0 AND o.next_at <= 5 AND (o.lease_until IS NULL OR o.lease_until <= 5) \
             AND o.seq = (SELECT MIN(p.seq) FROM outbox p WHERE p.account = o.account AND p.stream = o.stream \
             AND p.state = 0) ORDER BY o.seq LIMIT 10",
            "outbox_waiting",
        ),
        (
            "outbox backlog",
            "SELECT COUNT(*) FROM outbox WHERE state = 0",
            "COVERING INDEX outbox_waiting",
        ),
        (
            "outbox oldest",
            "SELECT created_at FROM outbox WHERE state = 0 ORDER BY seq LIMIT 1",
            "outbox_waiting",
        ),
        (
            "outbox per destination",
            "SELECT o.seq FROM outbox o WHERE o.state = 0 AND o.next_at <= 5 AND (o.lease_until IS NULL OR o.lease_until <= 5) \
             AND o.seq = (SELECT MIN(p.seq) FROM outbox p WHERE p.account = o.account AND p.stream = o.stream \
             AND p.endpoint IS o.endpoint AND p.state = 0) ORDER BY o.seq LIMIT 10",
            "outbox_waiting_by_stream",
        ),
        (
            "endpoint attempts",
            "SELECT d.event FROM outbox o JOIN delivery_attempts d ON d.event = o.id WHERE o.endpoint = 1 \
             ORDER BY d.at DESC, d.seq DESC LIMIT 20",
            "outbox_by_endpoint",
        ),
        (
            "endpoints of an account",
            "SELECT id FROM webhook_endpoints WHERE account = 1 AND enabled = 1 ORDER BY seq",
            "webhook_endpoints_by_account",
        ),
        (
            "counters",
            "SELECT status, n FROM status_counts WHERE account = 1",
            "PRIMARY KEY",
        ),
        (
            "pending cap",
            "DELETE FROM pending_statuses WHERE account IS x'00' AND seq <= \
             (SELECT seq FROM pending_statuses WHERE account IS x'00' ORDER BY seq DESC LIMIT 1 OFFSET 5)",
            "pending_statuses_by_account",
        ),
        (
            "pending cap without an account",
            "SELECT seq FROM pending_statuses WHERE account IS NULL ORDER BY seq DESC LIMIT 1 OFFSET 5",
            "pending_statuses_by_account",
        ),
        (
            "pending expiry",
            "DELETE FROM pending_statuses WHERE received_at <= 5",
            "pending_statuses_by_received",
        ),
    ];
    for (name, sql, index) in cases {
        let p = plan(sql);
        println!("{name}: {p}");
        assert!(p.contains(index), "{name}: {p}");
        assert!(
            !p.contains("SCAN m ") && !p.starts_with("SCAN m"),
            "{name} scans messages: {p}"
        );
    }
}

#[tokio::test]
async fn a_page_cap_fails_writes_as_a_full_disk_until_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    let options = SqliteOptions {
        max_page_count: Some(1),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path, options).unwrap();
    // The cap is clamped to the file's size: the first writes fill its free space, then SQLITE_FULL.
    let mut error = None;
    for i in 0..1_000 {
        let result = store
            .create_account(whatsapi_core::account::NewAccount {
                id: whatsapi_core::AccountId::new(),
                name: format!("Acme {i}"),
                created_at: at(0),
            })
            .await;
        if let Err(e) = result {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("the capped file never filled up");
    assert!(
        matches!(error, whatsapi_core::StoreError::Unavailable(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("full"), "{error}");
    assert!(store.set_max_page_count(None).await.unwrap() > 1_000_000);
    account(&store, "after@example.com").await;
}

#[cfg(unix)]
#[tokio::test]
async fn new_files_and_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("data/nested/whatsapi.db");
    let store = SqliteStore::open(&path).unwrap();
    let acc = account(&store, "private@example.com").await;
    store
        .insert_messages(batch(acc.id, vec![message(acc.id, at(0))]))
        .await
        .unwrap();
    for name in ["whatsapi.db", "whatsapi.db-wal", "whatsapi.db-shm"] {
        let file = path.with_file_name(name);
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&dir.path().join("data/nested")), 0o700);
    assert_eq!(mode(dir.path()), 0o755, "an existing folder keeps its mode");
    drop(store);
    // An existing database keeps its mode.
    let shared = dir.path().join("shared.db");
    std::fs::File::create(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    drop(SqliteStore::open(&shared).unwrap());
    assert_eq!(mode(&shared), 0o640);
}

/// A process killed between reserving an Idempotency-Key and committing its request's result leaves a reservation
/// that saved nothing. The next server on the file frees it, so the client's retry is taken instead of answered 409
/// "still being processed" for the whole lock.
#[tokio::test]
async fn the_next_server_frees_keys_a_killed_one_left_reserved() {
    use whatsapi_core::idempotency::{Decision, Fingerprint, IdempotencyKey};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whatsapi.db");
    let store = SqliteStore::open(&path).unwrap();
    let acc = account(&store, "a@example.com").await;
    let key = IdempotencyKey::parse("crash-1").unwrap();
    let fp = Fingerprint::of(
        whatsapi_core::idempotency::RequestKind::Send,
        &serde_json::json!({"to": "1"}),
    );
    let now = chrono::Utc::now();
    assert_eq!(
        store
            .idempotency_begin(acc.id, &key, &fp, now)
            .await
            .unwrap(),
        Decision::Fresh
    );
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store
            .idempotency_begin(acc.id, &key, &fp, now)
            .await
            .unwrap(),
        Decision::InFlight,
        "opening alone frees nothing (operator commands open the file beside a live server)"
    );
    assert_eq!(
        store.release_unfinished_idempotency_keys().await.unwrap(),
        1
    );
    assert_eq!(
        store
            .idempotency_begin(acc.id, &key, &fp, now)
            .await
            .unwrap(),
        Decision::Fresh
    );
    assert_eq!(
        store.release_unfinished_idempotency_keys().await.unwrap(),
        1
    );
}
