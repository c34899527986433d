//! `pg-dispatch`: dispatch throughput of whatsapi on PostgreSQL with one and with two replicas.
//!
//! Each run: a fresh schema, one account with Meta credentials, `--messages N` queued messages (default 3,000,
//! inserted through the `Store` before any engine runs), then `R` replicas (1 or 2) start at once — each a
//! `WhatsApi` with its own `PostgresStore` (own pool and LISTEN connection) and engine on the same schema, sending
//! through one shared instant fake transport, pacing off — and the clock runs until every message is `sent`. Both
//! replica counts alternate in the same process against the same database, `--runs` times each (default 3);
//! prints every run and the median.
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

/// One run: seconds until `messages` queued messages are all sent by `replicas` engines.
async fn run(url: &str, replicas: usize, messages: usize) -> Result<Duration, Error> {
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
    let Args { messages, runs } = <Args as clap::Parser>::parse();
    let url = whatsapi_benches::database_url();
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for i in 0..runs {
        for replicas in [1, 2] {
            let took = run(&url, replicas, messages).await?;
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
    println!("- {messages} queued messages per run, {runs} runs per replica count, alternating\n");
    println!("| replicas | median msg/s | runs (msg/s) |");
    println!("| ---: | ---: | --- |");
    for (i, t) in times.iter().enumerate() {
        let rates: Vec<String> = t
            .iter()
            .map(|d| format!("{:.0}", messages as f64 / d.as_secs_f64()))
            .collect();
        let median = whatsapi_benches::quantile(t, 0.5);
        println!(
            "| {} | {:.0} | {} |",
            i + 1,
            messages as f64 / median.as_secs_f64(),
            rates.join(", ")
        );
    }
    Ok(())
}
