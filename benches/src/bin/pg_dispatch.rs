//! `pg-dispatch`: dispatch throughput of whatsapi on PostgreSQL with one and with two replicas.
//!
//! Each run: a fresh schema, one account with Meta credentials, `--messages N` queued messages (default 3,000,
//! inserted through the `Store` before any engine runs), then `R` replicas (1 or 2) start at once — each a
//! `WhatsApi` with its own `PostgresStore` (own pool and LISTEN connection) and engine on the same schema, sending
//! through one shared instant fake transport, pacing off — and the clock runs until every message is `sent`. Both
//! replica counts alternate in the same process against the same database, `--runs` times each (default 3);
//! prints every run and the median.
//!
//! Baseline of the same run (`sql-loop`): what PostgreSQL itself does for a job queue without whatsapi, on the
//! same database. A fresh table of `N` due rows with a partial index on the due ones; 4 clients, each looping:
//! in one transaction claim 100 due rows (`FOR UPDATE SKIP LOCKED`), complete them with one
//! `UPDATE … WHERE id = ANY($1)` and insert one timeline row each in one statement. Its rows/s, run between the
//! replica runs, is the denominator of the ratios printed.
//!
//! ```text
//! cargo run --release -p whatsapi-benches --bin pg-dispatch -- [--messages N] [--runs R]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use whatsapi_core::account::{AccountUpdate, MetaCredentials};
use whatsapi_core::store::{MessageStore, NewBatch, TenantStore};
use whatsapi_core::testing::{FakeTransport, RecordingSink};
use whatsapi_core::{EngineConfig, Status, WhatsApi};
use whatsapi_store_postgres::{PgOptions, PostgresStore};

type Error = Box<dyn std::error::Error>;

#[derive(clap::Parser, Debug)]
#[command(about = "Dispatch throughput on PostgreSQL with one and two replicas")]
struct Args {
    /// Queued messages per run.
    #[arg(long, default_value_t = 3_000)]
    messages: usize,
    /// Runs of each replica count (1 and 2, alternating).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Batches of outcomes each engine records at once (`EngineConfig::outcome_flushes`).
    #[arg(long, default_value_t = EngineConfig::default().outcome_flushes)]
    outcome_flushes: usize,
    /// Sends in flight per engine (`EngineConfig::concurrency`).
    #[arg(long, default_value_t = EngineConfig::default().concurrency)]
    concurrency: usize,
    /// Messages per claim (`EngineConfig::dispatch_batch`).
    #[arg(long, default_value_t = EngineConfig::default().dispatch_batch)]
    claim: usize,
}

async fn store(url: &str, schema: &str) -> Result<PostgresStore, Error> {
    Ok(PostgresStore::connect_with(
        url,
        PgOptions {
            schema: Some(schema.to_owned()),
            ..PgOptions::default()
        },
    )
    .await?)
}

/// Clients and claim size of the plain SQL loop.
const LOOP_CLIENTS: usize = 4;
const LOOP_BATCH: i64 = 100;

/// The baseline: seconds until `rows` due jobs are all completed by the plain SQL loop.
async fn sql_loop(url: &str, rows: usize) -> Result<Duration, Error> {
    let schema = whatsapi_benches::bench_schema();
    let (setup, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    setup
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.jobs (id bigserial PRIMARY KEY, state smallint NOT NULL DEFAULT 0,
                 due_at timestamptz NOT NULL DEFAULT now(), attempt int NOT NULL DEFAULT 0, body text NOT NULL);
             CREATE INDEX jobs_due ON {schema}.jobs (due_at) WHERE state = 0;
             CREATE TABLE {schema}.timeline (job bigint NOT NULL, state smallint NOT NULL, at timestamptz NOT NULL);"
        ))
        .await?;
    setup
        .execute(
            &format!(
                "INSERT INTO {schema}.jobs (body) SELECT 'Hello from the bench' FROM generate_series(1::bigint, $1::bigint)"
            ),
            &[&(rows as i64)],
        )
        .await?;
    let mut clients = Vec::new();
    for _ in 0..LOOP_CLIENTS {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        clients.push(client);
    }
    let started = Instant::now();
    let workers = clients.into_iter().map(|mut client| {
        let schema = schema.clone();
        tokio::spawn(async move {
            let claim = format!(
                "SELECT id FROM {schema}.jobs WHERE state = 0 AND due_at <= now() ORDER BY due_at \
                 LIMIT $1 FOR UPDATE SKIP LOCKED"
            );
            let complete = format!(
                "UPDATE {schema}.jobs SET state = 1, attempt = attempt + 1 WHERE id = ANY($1)"
            );
            let timeline = format!(
                "INSERT INTO {schema}.timeline (job, state, at) SELECT unnest($1::bigint[]), 1, now()"
            );
            loop {
                let tx = client.transaction().await?;
                let ids: Vec<i64> = tx
                    .query(&claim, &[&LOOP_BATCH])
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                if ids.is_empty() {
                    tx.commit().await?;
                    return Ok::<(), tokio_postgres::Error>(());
                }
                tx.execute(&complete, &[&ids]).await?;
                tx.execute(&timeline, &[&ids]).await?;
                tx.commit().await?;
            }
        })
    });
    for w in workers.collect::<Vec<_>>() {
        w.await??;
    }
    let took = started.elapsed();
    let done: i64 = setup
        .query_one(
            &format!("SELECT count(*) FROM {schema}.jobs WHERE state = 1"),
            &[],
        )
        .await?
        .get(0);
    if done != rows as i64 {
        return Err(format!("the SQL loop completed {done} of {rows} rows").into());
    }
    drop(setup);
    whatsapi_benches::drop_schema(url, &schema).await?;
    Ok(took)
}

/// One run: seconds until `messages` queued messages are all sent by `replicas` engines.
async fn run(url: &str, replicas: usize, messages: usize, args: &Args) -> Result<Duration, Error> {
    let schema = whatsapi_benches::bench_schema();
    let setup = store(url, &schema).await?;
    let account = whatsapi_benches::sample_account(&setup).await;
    setup
        .update_account(
            account,
            AccountUpdate::SetCredentials(MetaCredentials {
                waba_id: None,
                verify_token_hash: None,
                access_token: "EAAbench".into(),
                phone_number_id: "1234567890".into(),
                app_secret: None,
                verify_token: None,
                throughput_per_second: None,
            }),
        )
        .await?;
    let mut left = messages;
    while left > 0 {
        let n = left.min(500);
        setup
            .insert_messages(NewBatch {
                account_id: account,
                messages: (0..n)
                    .map(|_| whatsapi_benches::text_message(account))
                    .collect(),
                idempotency: None,
            })
            .await?;
        left -= n;
    }
    let transport = FakeTransport::new();
    let mut apis = Vec::new();
    for _ in 0..replicas {
        let api = WhatsApi::builder()
            .store(Arc::new(store(url, &schema).await?))
            .transport(Arc::new(transport.clone()))
            .webhook_sink(Arc::new(RecordingSink::new()))
            .config(EngineConfig {
                pace_per_second: 0,
                outcome_flushes: args.outcome_flushes,
                concurrency: args.concurrency,
                dispatch_batch: args.claim,
                ..EngineConfig::default()
            })
            .build()?;
        apis.push(api);
    }
    let started = Instant::now();
    let engines: Vec<_> = apis.iter().map(WhatsApi::start).collect();
    loop {
        let counts = setup.status_counts(account).await?;
        if counts.get(&Status::Sent).copied().unwrap_or(0) >= messages as u64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("not all sent after 300 s: {counts:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    for engine in engines {
        engine.shutdown(Duration::from_secs(5)).await;
    }
    drop(apis);
    drop(setup);
    whatsapi_benches::drop_schema(url, &schema).await?;
    Ok(took)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = <Args as clap::Parser>::parse();
    let (messages, runs) = (args.messages, args.runs);
    let url = whatsapi_benches::database_url();
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut baseline = Vec::new();
    // The loop's table is as large as a replica run's queue would be if it were as fast: enough rows for a
    // measurable run.
    let loop_rows = (messages * 20).max(20_000);
    for i in 0..runs {
        let took = sql_loop(&url, loop_rows).await?;
        eprintln!(
            "run {} sql-loop: {loop_rows} in {took:.2?} = {:.0} rows/s",
            i + 1,
            loop_rows as f64 / took.as_secs_f64()
        );
        baseline.push(took);
        for replicas in [1, 2] {
            let took = run(&url, replicas, messages, &args).await?;
            eprintln!(
                "run {} replicas {replicas}: {messages} in {took:.2?} = {:.0} msg/s",
                i + 1,
                messages as f64 / took.as_secs_f64()
            );
            times[replicas - 1].push(took);
        }
    }
    println!("## pg-dispatch\n");
    println!("- machine: {}", whatsapi_benches::machine());
    println!("- {messages} queued messages per run, {runs} runs per replica count, alternating");
    println!(
        "- engine: {} sends in flight, {} per claim, {} outcome batches in flight\n",
        args.concurrency, args.claim, args.outcome_flushes
    );
    let loop_rate = loop_rows as f64 / whatsapi_benches::quantile(&baseline, 0.5).as_secs_f64();
    let loop_runs: Vec<String> = baseline
        .iter()
        .map(|d| format!("{:.0}", loop_rows as f64 / d.as_secs_f64()))
        .collect();
    println!(
        "- baseline: plain SQL loop ({LOOP_CLIENTS} clients, {LOOP_BATCH} rows per claim, {loop_rows} rows): median {loop_rate:.0} rows/s (runs: {})\n",
        loop_runs.join(", ")
    );
    println!(
        "| replicas | median msg/s | runs (msg/s) | ratio to the SQL loop | ratio to 1 replica |"
    );
    println!("| ---: | ---: | --- | ---: | ---: |");
    let one = messages as f64 / whatsapi_benches::quantile(&times[0], 0.5).as_secs_f64();
    for (i, t) in times.iter().enumerate() {
        let rates: Vec<String> = t
            .iter()
            .map(|d| format!("{:.0}", messages as f64 / d.as_secs_f64()))
            .collect();
        let rate = messages as f64 / whatsapi_benches::quantile(t, 0.5).as_secs_f64();
        println!(
            "| {} | {rate:.0} | {} | {:.3} | {:.2} |",
            i + 1,
            rates.join(", "),
            rate / loop_rate,
            rate / one
        );
    }
    Ok(())
}
