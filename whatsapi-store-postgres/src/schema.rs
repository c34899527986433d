//! Versioned migrations, embedded in the crate and applied at connect time.
//!
//! Several replicas may start at once: the migrating connection holds a session advisory lock (keyed on the
//! schema) while it reads `whatsapi_schema_version` and applies what is missing, each migration in its own
//! transaction together with its version row. A database from a newer whatsapi is refused.

use tokio_postgres::Client;

use crate::error::{PostgresError, Result};

/// The migrations, in order: migration `i` (0-based) takes the schema from version `i` to `i + 1`.
/// Never edit a released migration; add a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_billing.sql"),
    include_str!("migrations/0003_meta_routing.sql"),
    include_str!("migrations/0004_bounds.sql"),
    include_str!("migrations/0005_fair_claims.sql"),
    include_str!("migrations/0006_engine_accounts.sql"),
    include_str!("migrations/0007_recipients_replies.sql"),
    include_str!("migrations/0008_inbound.sql"),
    include_str!("migrations/0009_webhook_endpoints.sql"),
    include_str!("migrations/0010_event_types.sql"),
    include_str!("migrations/0011_contacts.sql"),
    include_str!("migrations/0012_counter_shards.sql"),
    include_str!("migrations/0013_shared_limits.sql"),
    include_str!("migrations/0014_numbers.sql"),
    include_str!("migrations/0015_validity.sql"),
    include_str!("migrations/0016_costs.sql"),
    include_str!("migrations/0017_campaigns.sql"),
    include_str!("migrations/0018_campaign_send_options.sql"),
    include_str!("migrations/0019_inbound_number.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema's version (0 when whatsapi never ran in it).
pub(crate) async fn version(client: &Client) -> Result<i64> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('whatsapi_schema_version') IS NOT NULL",
            &[],
        )
        .await?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::int8 FROM whatsapi_schema_version",
            &[],
        )
        .await?
        .try_get(0)?)
}

/// Brings the schema to `target` (at most [`SCHEMA_VERSION`]), or refuses a schema from a newer version. The
/// connection should be a dedicated one: the advisory lock is released when it closes, even after a crash.
pub(crate) async fn migrate_to(client: &mut Client, target: i64) -> Result<()> {
    client
        .execute(
            "SELECT pg_advisory_lock(hashtextextended('whatsapi:migrate:' || current_schema(), 0))",
            &[],
        )
        .await?;
    let result = apply(client, target).await;
    let unlocked = client
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended('whatsapi:migrate:' || current_schema(), 0))",
            &[],
        )
        .await;
    result?;
    unlocked?;
    Ok(())
}

async fn apply(client: &mut Client, target: i64) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS whatsapi_schema_version (\
               version    BIGINT PRIMARY KEY, \
               applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
    let found = version(client).await?;
    if found > SCHEMA_VERSION {
        return Err(PostgresError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let to = i as i64 + 1;
        if to <= found || to > target {
            continue;
        }
        let tx = client.transaction().await?;
        precheck(&tx, to).await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO whatsapi_schema_version (version) VALUES ($1)",
            &[&to],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = to, "applied a whatsapi schema migration");
    }
    Ok(())
}

/// Checks what a migration's constraints need of the existing rows, so a violation is reported in words (what is
/// wrong, how to fix it) instead of as a failed `CREATE UNIQUE INDEX`.
async fn precheck(tx: &tokio_postgres::Transaction<'_>, to: i64) -> Result<()> {
    if to != 3 {
        return Ok(());
    }
    // 0003 makes the phone number id unique across accounts.
    let rows = tx
        .query(
            "SELECT phone_number_id, count(*) FROM accounts WHERE phone_number_id IS NOT NULL \
             GROUP BY phone_number_id HAVING count(*) > 1 ORDER BY phone_number_id",
            &[],
        )
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut list = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get(0)?;
        let n: i64 = r.try_get(1)?;
        list.push(format!("{id} ({n} accounts)"));
    }
    Err(PostgresError::Migration(format!(
        "several accounts use the same Meta phone number id: {}. A phone number id must belong to one account \
         (Meta's webhooks are routed by it). Clear the credentials of all but one account per number (DELETE \
         /auth/me/credentials with that account's key, or UPDATE accounts SET credentials = NULL, \
         phone_number_id = NULL on the extra rows) with the previous version of whatsapi, then start this version \
         again",
        list.join(", ")
    )))
}
