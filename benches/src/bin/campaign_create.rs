//! `campaign-create`: one `POST /campaigns` of `--recipients N` (default 100,000) through the real HTTP server, on
//! SQLite (a fresh file behind `EncryptingStore`, as `whatsapi serve` opens it) and on PostgreSQL (`DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`, a fresh schema dropped at the end), each with its baseline in
//! the same run: one transaction of plain multi-row `INSERT`s of N rows into a table shaped like `messages` on the
//! same database engine.
//!
//! The campaign is a MARKETING template (`spring_sale`, one body parameter per recipient) from an account with a
//! WABA id, so every recipient is checked against the opt-outs and marketing pauses the way a real campaign is; 1%
//! of the recipients have opted out and are left out. It starts in an hour, so the engine (not started: the router
//! only) would have nothing to send anyway. Each run uses a fresh account (the same numbers), so every run finds
//! the same contacts. `--estimate` also times `"estimate": true` (the checks and the plan, nothing stored), which
//! splits the time between checking and storing.
//!
//! Prints every run and the medians: seconds per campaign, recipients per second, the baseline and the ratio.
//!
//! ```text
//! cargo run --release -p whatsapi-benches --bin campaign-create -- [--recipients N] [--runs R] [--backends sqlite,postgres] [--estimate]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use whatsapi_benches::{bench_schema, database_url, drop_schema, machine};
use whatsapi_core::contacts::{ContactRef, OptOut, OptOutSource};
use whatsapi_core::encryption::{EncryptingStore, EncryptionKey, KeyRing};
use whatsapi_core::templates::{MessageTemplate, TemplateComponentDef};
use whatsapi_core::testing::{FakeTransport, RecordingSink};
use whatsapi_core::{MetaCredentials, PhoneNumber, Store, WhatsApi};
use whatsapi_saas::{Plan, PlanLimits, PlanTable, Product, ProductStore};
use whatsapi_server::HttpSettings;
use whatsapi_store_postgres::{PgOptions, PostgresStore};
use whatsapi_store_sqlite::SqliteStore;

#[derive(clap::Parser, Debug)]
#[command(
    about = "POST /campaigns of N recipients on SQLite and PostgreSQL, with a multi-row INSERT baseline"
)]
struct Args {
    /// Recipients of the campaign.
    #[arg(long, default_value_t = 100_000)]
    recipients: usize,
    /// Timed campaigns per backend (the summary gives medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Backends (comma-separated: sqlite, postgres).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// Also time `"estimate": true` of the same campaign (checked and planned, nothing stored).
    #[arg(long)]
    estimate: bool,
}

/// Rows of one baseline `INSERT` statement.
const BASELINE_CHUNK: usize = 500;

fn number(i: usize) -> String {
    format!("1415{:07}", i)
}

/// The campaign's body: `recipients` rows of about 50 bytes of JSON each.
fn campaign_body(n: usize, estimate: bool) -> String {
    let recipients: Vec<Value> = (0..n)
        .map(|i| json!({"to": number(i), "params": [format!("Customer {i}")]}))
        .collect();
    let start = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    json!({"name": "Spring sale", "template": {"name": "spring_sale", "language": "en_US"},
        "recipients": recipients, "startAt": start, "ratePerSecond": 80, "estimate": estimate})
    .to_string()
}

fn spring_sale() -> MessageTemplate {
    MessageTemplate {
        id: Some("1".into()),
        name: "spring_sale".into(),
        language: "en_US".into(),
        status: "APPROVED".into(),
        category: Some("MARKETING".into()),
        parameter_format: Some("POSITIONAL".into()),
        components: vec![TemplateComponentDef {
            kind: "BODY".into(),
            format: None,
            text: Some("Hi {{1}}, our spring sale starts today.".into()),
            buttons: vec![],
        }],
    }
}

/// A whatsapi HTTP server (router only, no engine) over `store` on a loopback port.
struct Server {
    base: String,
    product: Product,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(
    store: Arc<dyn Store>,
    product_store: Arc<dyn ProductStore>,
) -> anyhow::Result<Server> {
    let fake = FakeTransport::new();
    fake.templates_with(Ok(vec![vec![spring_sale()]]));
    let api = WhatsApi::builder()
        .store(store)
        .transport(Arc::new(fake))
        .webhook_sink(Arc::new(RecordingSink::new()))
        .build()?;
    let plans = PlanTable {
        free: PlanLimits {
            requests_per_minute: 1_000_000,
            campaign_recipients: whatsapi_core::campaign::MAX_RECIPIENTS,
            ..Plan::Free.default_limits()
        },
        ..PlanTable::default()
    };
    let product = Product::new(api, product_store, plans);
    let settings = HttpSettings {
        register_per_minute: 1_000_000,
        // The bench times the work, however long it takes; the server's default gives up after 30 s.
        request_timeout: Duration::from_secs(600),
        ..HttpSettings::default()
    };
    let state = whatsapi_server::AppState::new(product.clone(), settings);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let app = whatsapi_server::app(state)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Server {
        base: format!("http://{addr}"),
        product,
        stop,
    })
}

/// A fresh account with a WABA id, 1% of the recipients opted out; its id and API key.
async fn account(
    product: &Product,
    run: usize,
    n: usize,
) -> anyhow::Result<(whatsapi_core::AccountId, String)> {
    let registered = product
        .register("Bench", &format!("bench-{run}@example.com"))
        .await?;
    let id = registered.account.account.id;
    let api = product.api();
    api.set_credentials(
        id,
        MetaCredentials {
            waba_id: Some(format!("1022901293{run:05}")),
            verify_token_hash: None,
            access_token: "bench-token".into(),
            phone_number_id: format!("55512{run:05}"),
            app_secret: None,
            verify_token: None,
            throughput_per_second: None,
        },
    )
    .await?;
    let now = Utc::now();
    for i in (0..n).step_by(100) {
        let who = ContactRef {
            phone: Some(PhoneNumber::parse(&number(i))?),
            user_id: None,
        };
        let opt_out = OptOut {
            at: now,
            source: OptOutSource::Api,
        };
        api.store()
            .set_contact_opt_out(id, &who, Some(opt_out), now)
            .await?;
    }
    Ok((id, registered.api_key.expose().to_owned()))
}

/// The reads of the recipients' contacts a campaign's checks make, both ways on the same store: one
/// `ContactStore::contact` call per recipient (the checks before 2026-12-03), and one `contacts_of` of them all.
async fn contact_reads(
    store: &dyn Store,
    account: whatsapi_core::AccountId,
    n: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let ids: Vec<String> = (0..n).map(number).collect();
    let started = Instant::now();
    let mut one_by_one = 0usize;
    for id in &ids {
        one_by_one += usize::from(store.contact(account, id).await?.is_some());
    }
    let single = started.elapsed();
    let started = Instant::now();
    let at_once = store.contacts_of(account, &ids).await?.len();
    let set = started.elapsed();
    anyhow::ensure!(
        one_by_one == at_once,
        "{one_by_one} contacts one by one, {at_once} at once"
    );
    Ok((single, set))
}

/// `POST /campaigns` of `body`; the time to the answer, which must be `expect`.
async fn post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: &str,
    expect: u16,
) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/campaigns"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    let took = started.elapsed();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    anyhow::ensure!(
        status == expect,
        "POST /campaigns answered {status}: {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
    );
    Ok((took, v))
}

/// The baseline rows: what a campaign message row holds, as plain values.
fn baseline_rows(n: usize) -> Vec<(uuid::Uuid, String, String, i64)> {
    let at = Utc::now().timestamp_millis();
    (0..n)
        .map(|i| {
            let content = json!({"type": "template", "template": {"name": "spring_sale", "language": "en_US",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": format!("Customer {i}")}]}]}});
            (uuid::Uuid::now_v7(), number(i), content.to_string(), at + (i as i64) * 12)
        })
        .collect()
}

/// One transaction of multi-row `INSERT`s of `n` rows into a `messages`-like SQLite table (WAL,
/// `synchronous=FULL`, as the store runs), on a fresh file.
fn sqlite_baseline(n: usize) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let mut conn = rusqlite::Connection::open(dir.path().join("baseline.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE messages (id BLOB PRIMARY KEY, account BLOB NOT NULL, batch BLOB, recipient TEXT NOT NULL,
           content TEXT NOT NULL, status TEXT NOT NULL, send_at INTEGER, created_at INTEGER NOT NULL) WITHOUT ROWID;
         CREATE INDEX messages_due ON messages (status, send_at);
         CREATE INDEX messages_batch ON messages (batch, id);",
    )?;
    let rows = baseline_rows(n);
    let account = uuid::Uuid::now_v7();
    let batch = uuid::Uuid::now_v7();
    let created = Utc::now().timestamp_millis();
    let started = Instant::now();
    let tx = conn.transaction()?;
    for chunk in rows.chunks(BASELINE_CHUNK) {
        let values = vec!["(?, ?, ?, ?, ?, 'scheduled', ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO messages (id, account, batch, recipient, content, status, send_at, created_at) VALUES {values}"
        );
        let mut params: Vec<Box<dyn rusqlite::ToSql>> = Vec::with_capacity(chunk.len() * 7);
        for (id, to, content, send_at) in chunk {
            params.push(Box::new(id.as_bytes().to_vec()));
            params.push(Box::new(account.as_bytes().to_vec()));
            params.push(Box::new(batch.as_bytes().to_vec()));
            params.push(Box::new(to.clone()));
            params.push(Box::new(content.clone()));
            params.push(Box::new(*send_at));
            params.push(Box::new(created));
        }
        tx.execute(&sql, rusqlite::params_from_iter(params.iter()))?;
    }
    tx.commit()?;
    Ok(started.elapsed())
}

/// The same on PostgreSQL, in a schema of its own.
async fn postgres_baseline(url: &str, n: usize) -> anyhow::Result<Duration> {
    let schema = bench_schema();
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.messages (id uuid PRIMARY KEY, account uuid NOT NULL, batch uuid,
               recipient text NOT NULL, content jsonb NOT NULL, status text NOT NULL, send_at bigint,
               created_at bigint NOT NULL);
             CREATE INDEX ON {schema}.messages (status, send_at);
             CREATE INDEX ON {schema}.messages (batch, id);"
        ))
        .await?;
    let rows = baseline_rows(n);
    let account = uuid::Uuid::now_v7();
    let batch = uuid::Uuid::now_v7();
    let created = Utc::now().timestamp_millis();
    let started = Instant::now();
    let tx = client.transaction().await?;
    for chunk in rows.chunks(BASELINE_CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let b = r * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}::text::jsonb, 'scheduled', ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO {schema}.messages (id, account, batch, recipient, content, status, send_at, created_at) \
             VALUES {}",
            values.join(", ")
        );
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            Vec::with_capacity(chunk.len() * 7);
        for (id, to, content, send_at) in chunk {
            params.push(id);
            params.push(&account);
            params.push(&batch);
            params.push(to);
            params.push(content);
            params.push(send_at);
            params.push(&created);
        }
        tx.execute(sql.as_str(), &params).await?;
    }
    tx.commit().await?;
    let took = started.elapsed();
    drop_schema(url, &schema).await?;
    Ok(took)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = clap::Parser::parse();
    let n = args.recipients;
    println!(
        "campaign-create: {n} recipients, {} run(s) per backend; {}",
        args.runs,
        machine()
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(900))
        .build()?;
    let body = campaign_body(n, false);
    let estimate_body = campaign_body(n, true);
    println!(
        "body: {} bytes ({} per recipient)",
        body.len(),
        body.len() / n.max(1)
    );
    let url = database_url();
    for backend in &args.backends {
        let mut _dir = None;
        let mut schema = None;
        let (store, product_store): (Arc<dyn Store>, Arc<dyn ProductStore>) = match backend.as_str()
        {
            "sqlite" => {
                let dir = tempfile::tempdir()?;
                let sqlite = Arc::new(SqliteStore::open(dir.path().join("whatsapi.db"))?);
                _dir = Some(dir);
                let store = Arc::new(EncryptingStore::new(
                    sqlite.clone(),
                    KeyRing::new(EncryptionKey::generate()),
                ));
                (store, sqlite)
            }
            "postgres" => {
                let name = bench_schema();
                let options = PgOptions {
                    schema: Some(name.clone()),
                    ..PgOptions::default()
                };
                let pg = Arc::new(
                    PostgresStore::connect_with(&url, options)
                        .await
                        .with_context(|| format!("connect to {url}"))?,
                );
                schema = Some(name);
                let store = Arc::new(EncryptingStore::new(
                    pg.clone(),
                    KeyRing::new(EncryptionKey::generate()),
                ));
                (store, pg)
            }
            other => anyhow::bail!("unknown backend {other}; expected sqlite or postgres"),
        };
        let server = start(store, product_store).await?;
        let (mut created, mut baselines, mut estimates) = (Vec::new(), Vec::new(), Vec::new());
        println!("\n{backend}:");
        for run in 1..=args.runs.max(1) {
            let (id, key) = account(&server.product, run, n).await?;
            let estimated = if args.estimate {
                let (took, v) = post(&client, &server.base, &key, &estimate_body, 200).await?;
                anyhow::ensure!(
                    v["data"]["recipients"] == n - n.div_ceil(100),
                    "{}",
                    v["data"]["recipients"]
                );
                estimates.push(took.as_secs_f64());
                format!(", estimate {:.2} s", took.as_secs_f64())
            } else {
                String::new()
            };
            let (took, v) = post(&client, &server.base, &key, &body, 201).await?;
            let kept = v["data"]["recipients"].as_u64().unwrap_or(0) as usize;
            let skipped = v["data"]["skipped"].as_array().map_or(0, Vec::len);
            anyhow::ensure!(
                kept + skipped == n && skipped == n.div_ceil(100),
                "{kept} created and {skipped} skipped of {n}"
            );
            let baseline = match backend.as_str() {
                "sqlite" => tokio::task::spawn_blocking(move || sqlite_baseline(n)).await??,
                _ => postgres_baseline(&url, n).await?,
            };
            let (secs, base) = (took.as_secs_f64(), baseline.as_secs_f64());
            println!(
                "  run {run}: POST /campaigns {secs:.2} s ({:.0} recipients/s){estimated}; baseline INSERT {base:.2} s \
                 ({:.0} rows/s); ratio {:.1}x",
                n as f64 / secs,
                n as f64 / base,
                secs / base
            );
            created.push(secs);
            baselines.push(base);
            let (single, set) = contact_reads(&**server.product.api().store(), id, n).await?;
            println!(
                "         contact reads of the {n} recipients: one call each {:.2} s, one contacts_of {:.3} s",
                single.as_secs_f64(),
                set.as_secs_f64()
            );
        }
        let (secs, base) = (median(created), median(baselines));
        let estimated = if estimates.is_empty() {
            String::new()
        } else {
            format!(", estimate {:.2} s", median(estimates))
        };
        println!(
            "  median: POST /campaigns {secs:.2} s ({:.0} recipients/s){estimated}; baseline {base:.2} s ({:.0} rows/s); \
             ratio {:.1}x",
            n as f64 / secs,
            n as f64 / base,
            secs / base
        );
        let _ = server.stop.send(());
        drop(server.product);
        if let Some(schema) = schema {
            drop_schema(&url, &schema).await?;
        }
    }
    Ok(())
}
