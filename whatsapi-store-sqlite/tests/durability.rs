//! Durability: a child process inserts messages and prints each acknowledged id; it is killed with SIGKILL in the
//! middle of the stream; every printed id is found after reopening and the file passes `integrity_check`.
//!
//! The child is this same test binary, started again with `WHATSAPI_DURABILITY_CHILD` set to the database path.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{account, at, batch, message};
use whatsapi_core::store::{MessageStore, Store};
use whatsapi_core::{AccountId, MessageId};
use whatsapi_store_sqlite::SqliteStore;

const CHILD_ENV: &str = "WHATSAPI_DURABILITY_CHILD";
const TEST_NAME: &str = "acknowledged_messages_survive_sigkill";

/// The child: 16 concurrent writers insert forever, printing `ACK <account> <id>` after each acknowledgement.
async fn child(path: String) -> ! {
    let sqlite = SqliteStore::open(&path).unwrap();
    let acc = account(&sqlite, "durable@example.com").await;
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    for _ in 0..16 {
        let (store, stdout) = (store.clone(), stdout.clone());
        tokio::spawn(async move {
            loop {
                let m = message(acc.id, at(0));
                let id = m.id;
                store.insert_messages(batch(acc.id, vec![m])).await.unwrap();
                let mut out = stdout.lock().unwrap();
                writeln!(out, "ACK {} {id}", acc.id).unwrap();
                out.flush().unwrap();
            }
        });
    }
    std::future::pending::<()>().await;
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(path).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut acked: Vec<(AccountId, MessageId)> = Vec::new();
    let parse = |line: &str| -> Option<(AccountId, MessageId)> {
        let mut parts = line.strip_prefix("ACK ")?.split(' ');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    // Let it write for a while, then kill it mid-stream.
    while acked.len() < 2000 {
        let line = lines
            .next()
            .expect("the child stopped before it was killed")
            .unwrap();
        acked.extend(parse(&line));
    }
    proc.kill().unwrap(); // SIGKILL
    // Acknowledgements already in the pipe count too.
    for line in lines {
        acked.extend(parse(&line.unwrap()));
    }
    proc.wait().unwrap();

    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    let mut missing = Vec::new();
    for (account, id) in &acked {
        if store.get_message(*account, *id).await.unwrap().is_none() {
            missing.push(*id);
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages were lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    let counts = store.status_counts(acked[0].0).await.unwrap();
    let stored: u64 = counts.values().sum();
    assert!(
        stored >= acked.len() as u64,
        "counters say {stored}, {} were acknowledged",
        acked.len()
    );
}
