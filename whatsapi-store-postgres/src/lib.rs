//! # whatsapi-store-postgres
//!
//! The [`Store`](whatsapi_core::Store) of whatsapi for many server replicas sharing one PostgreSQL database. It
//! implements core's capability traits for the engine and `whatsapi-saas`'s
//! ([`ProductStore`](whatsapi_saas::ProductStore)) for the hosted product; both halves of an account share one row.
//!
//! - **Claims that never collide**: due messages are claimed in one statement,
//!   `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) … RETURNING …`, each with a lease and an attempt
//!   number that fences a worker whose lease ran out. Webhook outbox events are claimed the same way.
//! - **Wake-ups across replicas**: once inserting or re-queueing messages committed, the replica `NOTIFY`s the
//!   schema's channel (one notification at a time, outside the writing transaction, so notifying never serialises
//!   commits); a dedicated connection `LISTEN`s and feeds [`MessageStore::subscribe_wakeups`](whatsapi_core::store::MessageStore::subscribe_wakeups),
//!   so a dispatcher on another replica starts at once instead of at its next poll.
//! - **Limits shared by every replica**: rate-limit windows are one atomic upsert; a number's send slots are
//!   reserved by one upsert per claimed batch, so all replicas together keep to its throughput; the circuit breaker
//!   lives in the account row and changes by compare-and-set, which also lets one replica claim the probe.
//! - **One transaction per change**: the row, its timeline entry, the status counters and the outbox event.
//! - **No hot counter rows**: the status counters and each account's count of messages sent are sharded; a
//!   transaction adds to one shard, readers sum the shards (exact, a few rows per counter).
//! - **Bulk inserts in one round trip**: a batch of messages (with timelines, counters, conversations and its
//!   idempotency record) is one statement over arrays, whatever its size.
//! - **Versioned schema**: embedded migrations applied at connect time under an advisory lock, so replicas may
//!   start together; a schema from a newer whatsapi is refused.
//!
//! The example runs against the database in `DATABASE_URL` (CI sets it; without it the example returns at once), in
//! a schema of its own:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use whatsapi_core::testing::{FakeTransport, RecordingSink};
//! use whatsapi_core::{PhoneNumber, SendRequest, WhatsApi};
//! use whatsapi_store_postgres::{PgOptions, PostgresStore};
//!
//! let Ok(url) = std::env::var("DATABASE_URL") else { return Ok(()) };
//! let schema = format!("doc_example_{}", std::process::id());
//! let options = PgOptions { schema: Some(schema.clone()), ..PgOptions::default() };
//! let store = PostgresStore::connect_with(&url, options).await?;
//! let api = WhatsApi::builder()
//!     .store(Arc::new(store))
//!     .transport(Arc::new(FakeTransport::new()))
//!     .webhook_sink(Arc::new(RecordingSink::new()))
//!     .build()?;
//! let account = api.create_account("Acme").await?;
//! let to = PhoneNumber::parse("14155552671")?;
//! let queued = api.send(&account, SendRequest::text(to, "hi").dry_run(true)).await?;
//! assert_eq!(api.get_message(account.id, queued.id).await?.id, queued.id);
//!
//! // Clean up the example's schema.
//! drop(api);
//! let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
//! tokio::spawn(connection);
//! client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await?;
//! # Ok(()) }
//! ```

mod accounts;
mod campaigns;
mod codec;
mod contacts;
mod costs;
mod counters;
mod customers;
mod db;
mod error;
mod housekeeping;
mod idempotency;
mod inbound;
mod limits;
mod listen;
mod messages;
mod numbers;
mod outbox;
#[cfg(test)]
mod round_trips;
mod schema;
mod store;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

pub use error::PostgresError;
pub use schema::SCHEMA_VERSION;

/// How a store connects. `Default` suits one server replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most pooled connections.
    pub pool_size: usize,
    /// How long a call waits for a free pooled connection before it fails as unavailable.
    pub pool_timeout: Duration,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// Schema to use (created if missing) instead of the connection's `search_path`: letters, digits and
    /// underscores. Lets several independent whatsapi installations (or test runs) share one database.
    pub schema: Option<String>,
    /// Keep a dedicated connection that `LISTEN`s for wake-ups from other replicas.
    pub listen: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            pool_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            schema: None,
            listen: true,
        }
    }
}

/// The PostgreSQL store. Share it as `Arc<dyn Store>`; dropping it closes its connections.
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    waker: listen::Waker,
    wakeups: Option<broadcast::Sender<()>>,
    listener: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

/// Whether `name` is a plain identifier that needs no quoting.
fn plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

impl PostgresStore {
    /// Connects with the default options and brings the schema up to date. `url` is a libpq connection string
    /// (`postgres://user@host:5432/db`, with `?options=-c%20search_path%3Dname` to pick a schema).
    pub async fn connect(url: &str) -> Result<Self, PostgresError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self, PostgresError> {
        Self::connect_at_version(url, options, SCHEMA_VERSION).await
    }

    /// Connects and migrates only up to `version` (tests of the migrations).
    #[doc(hidden)]
    pub async fn connect_at_version(
        url: &str,
        options: PgOptions,
        version: i64,
    ) -> Result<Self, PostgresError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| PostgresError::Config(e.to_string()))?;
        config.connect_timeout(options.connect_timeout);
        if let Some(schema) = &options.schema {
            if !plain_identifier(schema) {
                return Err(PostgresError::SchemaName(schema.clone()));
            }
            let (client, connection) = config.connect(NoTls).await?;
            let driver = tokio::spawn(connection);
            match client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(PostgresError::from)
            {
                // Another replica created it at the same moment.
                Ok(()) | Err(PostgresError::UniqueViolation(_)) => {}
                Err(e) => return Err(e),
            }
            drop(client);
            let _ = driver.await;
            let extra = format!("-c search_path={schema}");
            let merged = match config.get_options() {
                Some(existing) if !existing.is_empty() => format!("{existing} {extra}"),
                _ => extra,
            };
            config.options(merged);
        }

        // Migrate on a dedicated connection: its advisory lock dies with it.
        let (mut client, connection) = config.connect(NoTls).await?;
        let driver = tokio::spawn(connection);
        let schema: Option<String> = client
            .query_one("SELECT current_schema()::text", &[])
            .await?
            .try_get(0)?;
        let Some(schema) = schema else {
            return Err(PostgresError::Config(
                "the connection's search_path names no existing schema; create it or set PgOptions::schema"
                    .into(),
            ));
        };
        schema::migrate_to(&mut client, version).await?;
        drop(client);
        let _ = driver.await;

        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .wait_timeout(Some(options.pool_timeout))
            .create_timeout(Some(options.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| PostgresError::Config(e.to_string()))?;

        let channel = listen::channel(&schema);
        let (wakeups, listener) = if options.listen {
            let (tx, _) = broadcast::channel(16);
            let task = tokio::spawn(listen::run(config, channel.clone(), tx.clone()));
            (Some(tx), Some(task))
        } else {
            (None, None)
        };
        let waker = listen::Waker::new(pool.clone(), channel, wakeups.clone());
        Ok(Self {
            pool,
            schema,
            waker,
            wakeups,
            listener,
        })
    }

    /// The schema the store's tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema version of the database (tests and operators).
    pub async fn schema_version(&self) -> Result<i64, PostgresError> {
        let client = self.pool.get().await?;
        schema::version(&client).await
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, PostgresError> {
        Ok(self.pool.get().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        assert!(plain_identifier("wa_test_0193"));
        assert!(plain_identifier("_x"));
        assert!(!plain_identifier(""));
        assert!(!plain_identifier("1abc"));
        assert!(!plain_identifier("a;DROP"));
        assert!(!plain_identifier("a b"));
        assert!(!plain_identifier(&"a".repeat(64)));
    }
}
