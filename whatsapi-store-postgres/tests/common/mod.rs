//! A fresh schema per store on the PostgreSQL of `DATABASE_URL`, so test runs never see each other's rows.
//!
//! Without a reachable server the tests print why they were skipped and pass, except under `CI=true`, where
//! they fail loudly.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use whatsapi_store_postgres::{PgOptions, PostgresStore};

/// Used when `DATABASE_URL` is not set: the server `.ci/run` starts.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Schemas of crashed or failed runs are dropped once they are this old.
const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The database the tests use.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A schema made for one test, dropped by [`TestSchema::drop_schema`].
#[derive(Debug)]
pub struct TestSchema {
    /// The connection string.
    pub url: String,
    /// The schema.
    pub name: String,
}

impl TestSchema {
    /// Removes the schema with everything in it.
    pub async fn drop_schema(self) {
        let client = connect(&self.url)
            .await
            .expect("connect to drop the test schema");
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .await
            .expect("drop the test schema");
    }

    /// The connection string with this schema as the `search_path` (for processes given only a URL).
    pub fn url_with_search_path(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

/// A plain connection (its driver runs in the background).
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Checks once per test binary that the server answers; `false` (after saying why) when it does not and the
/// tests should be skipped. Drops stale test schemas of earlier runs on the way.
pub async fn available() -> bool {
    static CHECKED: OnceCell<Result<(), String>> = OnceCell::const_new();
    let checked = CHECKED
        .get_or_init(|| async {
            let url = database_url();
            let client = connect(&url).await.map_err(|e| {
                let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
                format!(
                    "PostgreSQL at {url} is unreachable: {e}{}",
                    cause.unwrap_or_default()
                )
            })?;
            drop_stale_schemas(&client).await;
            Ok(())
        })
        .await;
    match checked {
        Ok(()) => true,
        Err(why) if in_ci() => panic!("{why} (CI=true: the PostgreSQL tests must run)"),
        Err(why) => {
            eprintln!("skipped: {why}; set DATABASE_URL to run the PostgreSQL tests");
            false
        }
    }
}

async fn drop_stale_schemas(client: &tokio_postgres::Client) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let Ok(rows) = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'wa\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let created = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER.as_secs()) {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

/// A new schema name: `wa_test_<unix seconds>_<random>`.
pub fn schema_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "wa_test_{now}_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

/// A store on a fresh schema, or `None` when PostgreSQL is unavailable outside CI.
pub async fn store_with(options: PgOptions) -> Option<(Arc<PostgresStore>, TestSchema)> {
    if !available().await {
        return None;
    }
    let schema = TestSchema {
        url: database_url(),
        name: schema_name(),
    };
    let store = PostgresStore::connect_with(
        &schema.url,
        PgOptions {
            schema: Some(schema.name.clone()),
            ..options
        },
    )
    .await
    .expect("connect a fresh test schema");
    Some((Arc::new(store), schema))
}

/// A store on a fresh schema with a small pool.
pub async fn store() -> Option<(Arc<PostgresStore>, TestSchema)> {
    store_with(PgOptions {
        pool_size: 4,
        ..PgOptions::default()
    })
    .await
}
