//! `pg-scale`: how `PostgresStore` answers with a large database, the PostgreSQL counterpart of `sqlite-scale`.
//!
//! Builds a fresh schema with `--messages N` messages (default 1,000,000) generated server-side in
//! `INSERT … SELECT … FROM generate_series` statements of 100,000 rows (this harness writes the store's tables
//! itself, so it follows the schema of `whatsapi-store-postgres`): the same mix as `sqlite-scale` (account A 90%,
//! B 10%; 60% read, 20% delivered, 10% sent, 5% failed, 4% queued, 1% scheduled; timelines of 1–4 rows; a third
//! with metadata, a fifth in batches), recomputes the counters and `ANALYZE`s. Then it times, through the `Store`
//! trait, the calls the engine and the API make: get by id, newest 20, status=failed 50, analytics (status counts),
//! claim of 100 due messages. Each call is repeated `--runs R` times (default 51) after one warm-up; the median and
//! p95 are printed, with the size of the schema per message. The schema is dropped at the end.
//!
//! ```text
//! cargo run --release -p whatsapi-benches --bin pg-scale -- [--messages N] [--runs R]
//! ```

use std::time::{Duration, Instant};

use chrono::Utc;
use whatsapi_core::store::{MessageFilter, MessageStore, PageRequest};
use whatsapi_core::{AccountId, MessageId, Status};
use whatsapi_store_postgres::{PgOptions, PostgresStore};

type Error = Box<dyn std::error::Error>;

#[derive(clap::Parser, Debug)]
#[command(about = "PostgresStore's queries at a million stored messages")]
struct Args {
    /// Messages to store.
    #[arg(long, default_value_t = 1_000_000)]
    messages: i64,
    /// Timed calls of each query, after one warm-up.
    #[arg(long, default_value_t = 51)]
    runs: usize,
}

/// Writes `n` messages with their timelines and counters, server-side. Returns the time it took.
async fn bulk_load(
    client: &tokio_postgres::Client,
    big: AccountId,
    small: AccountId,
    n: i64,
) -> Result<Duration, Error> {
    let start = Instant::now();
    let seq = |id: AccountId| async move {
        client
            .query_one("SELECT seq FROM accounts WHERE id = $1", &[&id.0])
            .await
            .map(|r| r.get::<_, i64>(0))
    };
    let (big, small) = (seq(big).await?, seq(small).await?);
    let now = Utc::now()
        .timestamp_nanos_opt()
        .ok_or("time out of range")?;
    let first = now - 30 * 86_400 * 1_000_000_000;
    let step = (now - first) / n;
    let sec = 1_000_000_000i64;
    let chunk = 100_000i64;
    let mut from = 0i64;
    while from < n {
        let to = (from + chunk).min(n) - 1;
        // b: the status bucket (i * 7919) % 100, as sqlite-scale: 0-59 read, 60-79 delivered, 80-89 sent,
        // 90-94 failed, 95-98 queued, 99 scheduled. Status codes: 0 queued 1 scheduled 4 sent 5 delivered 6 read
        // 7 failed.
        client
            .execute(
                "INSERT INTO messages (id, account, batch_id, recipient, content, status, scheduled_for, metadata, \
                 dry_run, wamid, attempt, tries, sent_at, delivered_at, read_at, failed_at, error_message, \
                 error_code, created_at, updated_at, due_at) \
                 SELECT gen_random_uuid(), CASE WHEN i % 10 = 0 THEN $3::int8 ELSE $4::int8 END, \
                   CASE WHEN i % 5 = 0 THEN ('00000000-0000-0000-' || lpad(to_hex(i / 500), 16, '0'))::uuid END, \
                   '1415555' || lpad((i % 10000)::text, 4, '0'), \
                   '{\"kind\":\"text\",\"body\":\"Your order #' || i || ' has shipped and will arrive on Tuesday.\"}', \
                   s, CASE WHEN s = 1 THEN $6::int8 + 86400 * $7::int8 END, \
                   CASE WHEN i % 3 = 0 THEN '{\"orderId\":\"' || i || '\"}' END, FALSE, \
                   CASE WHEN s IN (4, 5, 6) THEN 'wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI' || lpad(i::text, 12, '0') END, \
                   (s NOT IN (0, 1))::int, (s NOT IN (0, 1))::int, \
                   CASE WHEN s IN (4, 5, 6) THEN c + $7 END, CASE WHEN s IN (5, 6) THEN c + 3 * $7 END, \
                   CASE WHEN s = 6 THEN c + 60 * $7 END, CASE WHEN s = 7 THEN c + 2 * $7 END, \
                   CASE WHEN s = 7 THEN '(#131026) Message undeliverable' END, CASE WHEN s = 7 THEN 131026 END, \
                   c, c, CASE WHEN s = 0 THEN c WHEN s = 1 THEN $6 + 86400 * $7 END \
                 FROM (SELECT i, $5::int8 + i * $8::int8 AS c, \
                   (CASE WHEN b < 60 THEN 6 WHEN b < 80 THEN 5 WHEN b < 90 THEN 4 WHEN b < 95 THEN 7 \
                         WHEN b < 99 THEN 0 ELSE 1 END)::int2 AS s \
                   FROM (SELECT i, (i * 7919) % 100 AS b FROM generate_series($1::int8, $2::int8) i) g) t",
                &[&from, &to, &small, &big, &first, &now, &sec, &step],
            )
            .await?;
        from = to + 1;
    }
    client
        .batch_execute(
            "INSERT INTO timeline (message, n, status, at) \
               SELECT seq, 1, CASE WHEN status = 1 THEN 1 ELSE 0 END, created_at FROM messages; \
             INSERT INTO timeline (message, n, status, at) \
               SELECT seq, 2, 4, sent_at FROM messages WHERE sent_at IS NOT NULL; \
             INSERT INTO timeline (message, n, status, at) \
               SELECT seq, 3, 5, delivered_at FROM messages WHERE delivered_at IS NOT NULL; \
             INSERT INTO timeline (message, n, status, at) \
               SELECT seq, 4, 6, read_at FROM messages WHERE read_at IS NOT NULL; \
             INSERT INTO timeline (message, n, status, at, detail) \
               SELECT seq, 2, 7, failed_at, error_message FROM messages WHERE failed_at IS NOT NULL; \
             DELETE FROM status_counts; \
             INSERT INTO status_counts (account, status, n) \
               SELECT account, status, COUNT(*) FROM messages GROUP BY 1, 2; \
             ANALYZE;",
        )
        .await?;
    Ok(start.elapsed())
}

struct Timing {
    name: &'static str,
    samples: Vec<Duration>,
}

async fn time<F, Fut>(name: &'static str, runs: usize, mut f: F) -> Timing
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f(usize::MAX).await; // one warm-up call, not counted
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let t = Instant::now();
        f(i).await;
        samples.push(t.elapsed());
    }
    Timing { name, samples }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let Args { messages, runs } = <Args as clap::Parser>::parse();
    let url = whatsapi_benches::database_url();
    let schema = whatsapi_benches::bench_schema();
    let store = PostgresStore::connect_with(
        &url,
        PgOptions {
            schema: Some(schema.clone()),
            listen: false,
            ..PgOptions::default()
        },
    )
    .await?;
    let big = whatsapi_benches::sample_account(&store).await;
    let small = whatsapi_benches::sample_account(&store).await;
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "{url}{}options=-c%20search_path%3D{schema}",
            if url.contains('?') { '&' } else { '?' }
        ),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(connection);
    eprintln!("loading {messages} messages into schema {schema}");
    let load = bulk_load(&client, big, small, messages).await?;
    eprintln!("loaded in {load:.1?}");
    let bytes: i64 = client
        .query_one(
            "SELECT SUM(pg_total_relation_size(c.oid))::int8 FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&schema],
        )
        .await?
        .get(0);
    let ids: Vec<MessageId> = client
        .query(
            "SELECT m.id FROM messages m WHERE m.account = (SELECT seq FROM accounts WHERE id = $1) \
             AND m.seq % 997 = 0 LIMIT 2000",
            &[&big.0],
        )
        .await?
        .iter()
        .map(|r| MessageId(r.get(0)))
        .collect();

    let page = |limit| PageRequest { page: 1, limit };
    let failed = MessageFilter {
        status: Some(Status::Failed),
        batch_id: None,
    };
    let store = &store;
    let ids = &ids;
    let mut timings = Vec::new();
    timings.push(
        time("get by id (with timeline)", runs, |i| async move {
            let id = ids[i.min(ids.len() - 1) % ids.len()];
            assert!(store.get_message(big, id).await.unwrap().is_some());
        })
        .await,
    );
    timings.push(
        time("list newest 20", runs, |_| async move {
            let p = store
                .list_messages(big, &MessageFilter::default(), page(20))
                .await
                .unwrap();
            assert_eq!(p.items.len(), 20);
        })
        .await,
    );
    let failed = &failed;
    timings.push(
        time("list status=failed 50", runs, |_| async move {
            let p = store.list_messages(big, failed, page(50)).await.unwrap();
            assert_eq!(p.items.len(), 50);
        })
        .await,
    );
    timings.push(
        time("analytics (status counts)", runs, |_| async move {
            let c = store.status_counts(big).await.unwrap();
            assert!(c.values().sum::<u64>() > 0);
        })
        .await,
    );
    timings.push(
        time("claim 100 due (one commit)", runs, |_| async move {
            let c = store
                .claim_due(Utc::now(), Duration::from_secs(60), 100)
                .await
                .unwrap();
            assert_eq!(c.len(), 100);
        })
        .await,
    );

    let count = |a: AccountId| async move {
        store
            .status_counts(a)
            .await
            .map(|c| c.values().sum::<u64>())
    };
    let (a_count, b_count) = (count(big).await?, count(small).await?);
    println!("## pg-scale\n");
    println!("- machine: {}", whatsapi_benches::machine());
    println!(
        "- messages: {} (account A {a_count}, queried; account B {b_count}); bulk load {load:.1?}",
        a_count + b_count
    );
    println!(
        "- schema size after load: {:.1} MiB = {:.0} bytes per message (tables, timeline rows, indexes, TOAST)",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / messages as f64
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
            whatsapi_benches::quantile(&t.samples, 0.5).as_secs_f64() * 1e3,
            whatsapi_benches::quantile(&t.samples, 0.95).as_secs_f64() * 1e3
        );
    }
    drop(client);
    whatsapi_benches::drop_schema(&url, &schema).await?;
    Ok(())
}
