//! `pg-bulk`: the writes of one busy account on PostgreSQL (issue 20, items 2 and 3), through the `Store` trait, on
//! the database in `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`), in a fresh schema dropped at
//! the end. Three phases, each printed:
//!
//! - **outcomes**: `--writers W` callers (default 8) record `Sent` for `W × --sends S` claimed messages of one
//!   account at once (the dispatcher's outcomes, no wake-up), the case where every transaction of an account
//!   updated its counter rows and its `messages_sent` and held them until its commit; prints messages per second.
//! - **bulk**: one caller inserts `--batches B` batches of `--size N` messages (default 30 × 1,000, a full
//!   `POST /messages/bulk`) to 1,000 different numbers, after two warm-up batches; prints the median, p95 and
//!   best time per batch and messages per second.
//! - **contended**: `--writers W` callers (default 8) each insert `--sends S` single-message batches (default 200,
//!   `POST /messages`, each to its own number) into the same account at once, the case where every writer of an
//!   account met on its counter rows; prints messages per second over the whole run.
//!
//! ```text
//! cargo run --release -p whatsapi-benches --bin pg-bulk -- [--batches B] [--size N] [--writers W] [--sends S]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use whatsapi_core::store::{MessageStore, NewBatch, Outcome, TenantStore};
use whatsapi_core::testing::conformance::{at, message_at, sample_account};
use whatsapi_store_postgres::{PgOptions, PostgresStore};

type Error = Box<dyn std::error::Error>;

#[derive(clap::Parser, Debug)]
#[command(
    about = "Bulk inserts, concurrent sends and concurrent outcomes of one account on PostgreSQL"
)]
struct Args {
    /// Timed bulk batches (after two warm-up batches).
    #[arg(long, default_value_t = 30)]
    batches: usize,
    /// Messages per bulk batch.
    #[arg(long, default_value_t = 1000)]
    size: usize,
    /// Concurrent callers of the outcomes and contended phases.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Outcomes and single-message sends per caller.
    #[arg(long, default_value_t = 200)]
    sends: usize,
}

/// The `p`-quantile of sorted durations.
fn quantile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let Args {
        batches,
        size,
        writers,
        sends,
    } = clap::Parser::parse();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("bench_bulk_{}", std::process::id());
    let options = PgOptions {
        schema: Some(schema.clone()),
        pool_size: writers.max(2),
        ..PgOptions::default()
    };
    let store = Arc::new(PostgresStore::connect_with(&url, options).await?);

    // Outcomes first, while only their messages are due.
    let sender = store.create_account(sample_account()).await?;
    let total = writers * sends;
    for from in (0..total).step_by(1000) {
        let messages = (from..total.min(from + 1000))
            .map(|i| message_at(sender.id, &format!("1415556{:04}", i % 1000), 0))
            .collect();
        store
            .insert_messages(NewBatch {
                account_id: sender.id,
                messages,
                idempotency: None,
            })
            .await?;
    }
    let mut claimed = Vec::with_capacity(total);
    while claimed.len() < total {
        let more = store
            .claim_due(at(60), Duration::from_secs(3600), 1000)
            .await?;
        if more.is_empty() {
            return Err("fewer messages due than inserted".into());
        }
        claimed.extend(more.into_iter().map(|c| (c.message.id, c.message.attempt)));
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (w, mine) in claimed.chunks(sends).enumerate() {
        let (store, mine) = (store.clone(), mine.to_vec());
        tasks.spawn(async move {
            for (i, (id, attempt)) in mine.into_iter().enumerate() {
                let sent = Outcome::Sent {
                    wamid: format!("wamid.bench.{w}.{i}"),
                };
                store.record_outcome(id, attempt, sent, at(61)).await?;
            }
            Ok::<(), whatsapi_core::StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let took = start.elapsed();
    println!(
        "outcomes: {writers} writers x {sends} Sent outcomes of one account: {:.0} messages/s ({:.2} s)",
        total as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
    );

    let account = store.create_account(sample_account()).await?;
    let batch = |n: usize, offset: usize| NewBatch {
        account_id: account.id,
        messages: (0..n)
            .map(|i| {
                let secs = (offset + i) as i64;
                message_at(account.id, &format!("1415555{:04}", i % 1000), secs)
            })
            .collect(),
        idempotency: None,
    };
    for w in 0..2 {
        store.insert_messages(batch(size, w * size)).await?;
    }
    let mut times = Vec::with_capacity(batches);
    for b in 0..batches {
        let next = batch(size, (b + 2) * size);
        let start = Instant::now();
        store.insert_messages(next).await?;
        times.push(start.elapsed());
    }
    times.sort();
    let median = quantile(&times, 0.5);
    println!(
        "bulk: {batches} batches of {size}: median {:.1} ms, p95 {:.1} ms, best {:.1} ms per batch ({:.0} messages/s at the median)",
        median.as_secs_f64() * 1e3,
        quantile(&times, 0.95).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        size as f64 / median.as_secs_f64(),
    );

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let store = store.clone();
        let account = account.id;
        tasks.spawn(async move {
            for s in 0..sends {
                let n = w * sends + s;
                let m = message_at(account, &format!("1415557{:04}", n % 10_000), n as i64);
                store
                    .insert_messages(NewBatch {
                        account_id: account,
                        messages: vec![m],
                        idempotency: None,
                    })
                    .await?;
            }
            Ok::<(), whatsapi_core::StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let took = start.elapsed();
    println!(
        "contended: {writers} writers x {sends} single-message sends to one account: {:.0} messages/s ({:.2} s)",
        (writers * sends) as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
    );

    drop(store);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    Ok(())
}
