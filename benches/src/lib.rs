//! Benchmarks and the load harness of whatsapi.
//!
//! Shared helpers for the benches and harness binaries, the load generator ([`load`]) and the scenarios of
//! `bench-all` ([`scenarios`]).

pub mod load;
pub mod scenarios;

use chrono::Utc;
use whatsapi_core::account::NewAccount;
use whatsapi_core::store::NewBatch;
use whatsapi_core::{AccountId, MessageContent, MessageId, NewMessage, PhoneNumber, Store};

/// Creates an account and returns its id.
pub async fn sample_account(store: &dyn Store) -> AccountId {
    let id = AccountId::new();
    store
        .create_account(NewAccount {
            id,
            name: "Bench".into(),
            created_at: Utc::now(),
        })
        .await
        .expect("create the bench account");
    id
}

/// A short text message created now.
pub fn text_message(account: AccountId) -> NewMessage {
    NewMessage {
        from: None,
        id: MessageId::new(),
        account_id: account,
        batch_id: None,
        to: PhoneNumber::parse("14155552671")
            .expect("valid constant")
            .into(),
        content: MessageContent::Text {
            body: "Your order #1234 has shipped and will arrive on Tuesday.".into(),
        },
        reply_to: None,
        send_at: None,
        expires_at: None,
        metadata: None,
        dry_run: false,
        created_at: Utc::now(),
    }
}

/// A batch of one message (one API send).
pub fn one(account: AccountId, message: NewMessage) -> NewBatch {
    NewBatch {
        account_id: account,
        messages: vec![message],
        idempotency: None,
    }
}

/// The PostgreSQL of the harnesses: `DATABASE_URL`, or the local server of the development machines.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema name for one harness run: `wa_bench_<unix seconds>_<random>`.
pub fn bench_schema() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "wa_bench_{secs}_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

/// Drops a harness schema with everything in it.
pub async fn drop_schema(url: &str, schema: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
}

/// The machine, as the figures report it.
pub fn machine() -> String {
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

/// The `q` quantile (0..=1) of `samples`.
pub fn quantile(samples: &[std::time::Duration], q: f64) -> std::time::Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[((s.len() - 1) as f64 * q).round() as usize]
}
