//! `sqlite-scale`: how `SqliteStore` answers with a large database.
//!
//! Builds a file of `--messages N` messages (default 1,000,000) with direct bulk inserts in big transactions
//! (this harness writes the store's tables itself, so it follows the schema of `whatsapi-store-sqlite`), then
//! opens it with `SqliteStore` and times, through the `Store` trait, the calls the engine and the API make:
//! get by id, newest 20, status=failed 50, analytics (status counts), claim of 100 due messages. Each call is
//! repeated `--runs R` times (default 51); the median and p95 are printed. Also prints the file size per message.
//!
//! ```text
//! cargo run --release -p whatsapi-benches --bin sqlite-scale -- [--messages N] [--runs R] [--path FILE]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::params;
use whatsapi_core::store::support::nanos as ns;
use whatsapi_core::store::{MessageFilter, MessageStore, PageRequest};
use whatsapi_core::{AccountId, MessageId, Status};
use whatsapi_store_sqlite::SqliteStore;

type Error = Box<dyn std::error::Error>;

#[derive(clap::Parser, Debug)]
#[command(about = "SqliteStore's queries at a million stored messages")]
struct Args {
    /// Messages to store.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Timed calls of each query, after one warm-up.
    #[arg(long, default_value_t = 51)]
    runs: usize,
    /// Database file to build (default: in a temporary folder, removed at the end).
    #[arg(long)]
    path: Option<PathBuf>,
}

/// Status codes of the schema (see 0001_messages.sql).
fn code(s: Status) -> i64 {
    i64::from(s.code())
}

/// Writes `n` messages for the two accounts (90% / 10%) with a realistic mix of statuses, their timelines, and
/// recomputes the counters. Returns the time it took.
fn bulk_load(
    path: &std::path::Path,
    big: AccountId,
    small: AccountId,
    n: u64,
) -> Result<Duration, Error> {
    let start = Instant::now();
    let mut conn = rusqlite::Connection::open(path)?;
    // Loading speed only: the store itself always runs with synchronous=FULL.
    conn.pragma_update(None, "synchronous", "OFF")?;
    let seq_of = |conn: &rusqlite::Connection, id: AccountId| -> rusqlite::Result<i64> {
        conn.query_row(
            "SELECT seq FROM accounts WHERE id = ?1",
            [id.0.as_bytes()],
            |r| r.get(0),
        )
    };
    let (big_seq, small_seq) = (seq_of(&conn, big)?, seq_of(&conn, small)?);
    let now = Utc::now();
    let first = now - chrono::Duration::days(30);
    let step_ns = (ns(now) - ns(first)) / n as i64;
    let chunk = 100_000;
    let mut i = 0u64;
    while i < n {
        let tx = conn.transaction()?;
        {
            let mut msg = tx.prepare(
                "INSERT INTO messages (id, account, batch_id, recipient, content, status, scheduled_for, metadata, \
                 dry_run, wamid, attempt, tries, sent_at, delivered_at, read_at, failed_at, error_message, \
                 error_code, created_at, updated_at, due_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )?;
            let mut tl = tx.prepare(
                "INSERT INTO timeline (message, n, status, at, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let end = (i + chunk).min(n);
            while i < end {
                let created = ns(first) + i as i64 * step_ns;
                let account = if i % 10 == 0 { small_seq } else { big_seq };
                // A deterministic spread: 60% read, 20% delivered, 10% sent, 5% failed, 4% queued, 1% scheduled.
                let bucket = (i.wrapping_mul(7919)) % 100;
                let status = match bucket {
                    0..=59 => Status::Read,
                    60..=79 => Status::Delivered,
                    80..=89 => Status::Sent,
                    90..=94 => Status::Failed,
                    95..=98 => Status::Queued,
                    _ => Status::Scheduled,
                };
                let sec = 1_000_000_000i64;
                let sent = matches!(status, Status::Sent | Status::Delivered | Status::Read);
                let sent_at = sent.then_some(created + sec);
                let delivered_at =
                    matches!(status, Status::Delivered | Status::Read).then_some(created + 3 * sec);
                let read_at = (status == Status::Read).then_some(created + 60 * sec);
                let failed_at = (status == Status::Failed).then_some(created + 2 * sec);
                let scheduled_for = (status == Status::Scheduled).then_some(ns(now) + 86_400 * sec);
                let due_at = match status {
                    Status::Queued => Some(created),
                    Status::Scheduled => scheduled_for,
                    _ => None,
                };
                let batch = (i % 5 == 0).then(|| {
                    let mut b = [0u8; 16];
                    b[8..].copy_from_slice(&(i / 500).to_be_bytes());
                    b
                });
                let metadata = (i % 3 == 0).then(|| format!("{{\"orderId\":\"{i}\"}}"));
                let body = format!(
                    "{{\"kind\":\"text\",\"body\":\"Your order #{i} has shipped and will arrive on Tuesday.\"}}"
                );
                let tries = i64::from(status != Status::Queued && status != Status::Scheduled);
                msg.execute(params![
                    MessageId::new().0.as_bytes(),
                    account,
                    batch,
                    format!("1415555{:04}", i % 10_000),
                    body,
                    code(status),
                    scheduled_for,
                    metadata,
                    sent.then(|| format!("wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI{i:012}")),
                    tries,
                    sent_at,
                    delivered_at,
                    read_at,
                    failed_at,
                    failed_at.map(|_| "(#131026) Message undeliverable"),
                    failed_at.map(|_| 131026),
                    created,
                    read_at
                        .or(delivered_at)
                        .or(sent_at)
                        .or(failed_at)
                        .unwrap_or(created),
                    due_at,
                ])?;
                let seq = tx.last_insert_rowid();
                let first_status = if status == Status::Scheduled {
                    Status::Scheduled
                } else {
                    Status::Queued
                };
                let mut entries = vec![(first_status, created, None)];
                for (s, at) in [
                    (Status::Sent, sent_at),
                    (Status::Delivered, delivered_at),
                    (Status::Read, read_at),
                ] {
                    if let Some(at) = at {
                        entries.push((s, at, None));
                    }
                }
                if let Some(at) = failed_at {
                    entries.push((Status::Failed, at, Some("(#131026) Message undeliverable")));
                }
                for (k, (s, at, detail)) in entries.into_iter().enumerate() {
                    tl.execute(params![seq, k as i64 + 1, code(s), at, detail])?;
                }
                i += 1;
            }
        }
        tx.commit()?;
    }
    conn.execute_batch(
        "DELETE FROM status_counts; \
         INSERT INTO status_counts (account, status, n) SELECT account, status, COUNT(*) FROM messages GROUP BY 1, 2;",
    )?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(start.elapsed())
}

struct Timing {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Timing {
    fn stat(&self, q: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        s[((s.len() - 1) as f64 * q).round() as usize]
    }
}

fn time<F: FnMut(usize)>(name: &'static str, runs: usize, mut f: F) -> Timing {
    f(usize::MAX); // one warm-up call, not counted
    let samples = (0..runs)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    Timing { name, samples }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores (available_parallelism), {cpu}")
}

fn main() -> Result<(), Error> {
    let args = <Args as clap::Parser>::parse();
    let dir = tempfile::tempdir()?;
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| dir.path().join("scale.db"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let (big, small) = rt.block_on(async {
        let store = SqliteStore::open(&path)?;
        let big = whatsapi_benches::sample_account(&store).await;
        let small = whatsapi_benches::sample_account(&store).await;
        Ok::<_, Error>((big, small))
    })?;
    eprintln!("loading {} messages into {}", args.messages, path.display());
    let load = bulk_load(&path, big, small, args.messages)?;
    let db_bytes = std::fs::metadata(&path)?.len();
    eprintln!("loaded in {load:.1?}");

    let store = SqliteStore::open(&path)?;
    let ids: Vec<MessageId> = {
        let conn = rusqlite::Connection::open(&path)?;
        let mut stmt = conn.prepare(
            "SELECT m.id FROM messages m WHERE m.account = (SELECT seq FROM accounts WHERE id = ?1) \
             AND m.seq % 997 = 0 LIMIT 2000",
        )?;
        stmt.query_map([big.0.as_bytes()], |r| r.get::<_, Vec<u8>>(0))?
            .map(|b| Ok(MessageId(uuid::Uuid::from_slice(&b?)?)))
            .collect::<Result<_, Error>>()?
    };
    let runs = args.runs;
    let page = |limit| PageRequest { page: 1, limit };
    let mut timings = Vec::new();
    timings.push(time("get by id (with timeline)", runs, |i| {
        let id = ids[i.min(ids.len() - 1) % ids.len()];
        let m = rt.block_on(store.get_message(big, id)).unwrap();
        assert!(m.is_some());
    }));
    timings.push(time("list newest 20", runs, |_| {
        let p = rt
            .block_on(store.list_messages(big, &MessageFilter::default(), page(20)))
            .unwrap();
        assert_eq!(p.items.len(), 20);
    }));
    let failed = MessageFilter {
        status: Some(Status::Failed),
        batch_id: None,
    };
    timings.push(time("list status=failed 50", runs, |_| {
        let p = rt
            .block_on(store.list_messages(big, &failed, page(50)))
            .unwrap();
        assert_eq!(p.items.len(), 50);
    }));
    timings.push(time("analytics (status counts)", runs, |_| {
        let c = rt.block_on(store.status_counts(big)).unwrap();
        assert!(c.values().sum::<u64>() > 0);
    }));
    timings.push(time("claim 100 due (one commit)", runs, |_| {
        let c = rt
            .block_on(store.claim_due(Utc::now(), Duration::from_secs(60), 100))
            .unwrap();
        assert_eq!(c.len(), 100);
    }));

    let count = |a: AccountId| -> Result<u64, Error> {
        Ok(rt.block_on(store.status_counts(a))?.values().sum::<u64>())
    };
    let (a_count, b_count) = (count(big)?, count(small)?);
    println!("## sqlite-scale\n");
    println!("- machine: {}", machine());
    println!(
        "- messages: {} (account A {a_count}, queried; account B {b_count}); bulk load {load:.1?}",
        a_count + b_count
    );
    println!(
        "- file size after load: {:.1} MiB = {:.0} bytes per message (timeline rows and indexes included)",
        db_bytes as f64 / (1024.0 * 1024.0),
        db_bytes as f64 / args.messages as f64
    );
    println!(
        "- each call repeated {runs} times after one warm-up call, through the `Store` trait\n"
    );
    println!("| call | median | p95 |");
    println!("| --- | ---: | ---: |");
    for t in &timings {
        println!(
            "| {} | {:.3} ms | {:.3} ms |",
            t.name,
            t.stat(0.5).as_secs_f64() * 1e3,
            t.stat(0.95).as_secs_f64() * 1e3
        );
    }
    drop(store);
    Ok(())
}
