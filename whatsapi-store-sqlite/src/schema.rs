//! Versioned migrations, embedded in the crate and applied on open. `PRAGMA user_version` holds the version.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use crate::error::{Result, SqliteError};

/// The migrations, in order: migration `i` (0-based) takes the schema from version `i` to `i + 1`.
/// Never edit a released migration; add a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_messages.sql"),
    include_str!("migrations/0002_webhooks.sql"),
    include_str!("migrations/0003_accounts_billing.sql"),
    include_str!("migrations/0004_auth_version.sql"),
    include_str!("migrations/0005_meta_routing.sql"),
    include_str!("migrations/0006_bounds.sql"),
    include_str!("migrations/0007_fair_claims.sql"),
    include_str!("migrations/0008_engine_accounts.sql"),
    include_str!("migrations/0009_recipients_replies.sql"),
    include_str!("migrations/0010_inbound.sql"),
    include_str!("migrations/0011_webhook_endpoints.sql"),
    include_str!("migrations/0012_event_types.sql"),
    include_str!("migrations/0013_contacts.sql"),
    include_str!("migrations/0014_breaker_probe.sql"),
    include_str!("migrations/0015_numbers.sql"),
    include_str!("migrations/0016_validity.sql"),
    include_str!("migrations/0017_costs.sql"),
    include_str!("migrations/0018_campaigns.sql"),
    include_str!("migrations/0019_campaign_send_options.sql"),
    include_str!("migrations/0020_inbound_number.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The file's schema version.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the schema to `target` (at most [`SCHEMA_VERSION`]) in one immediate transaction, or refuses a file
/// from a newer version. Foreign keys are off while the migrations run (a migration may rebuild a table others
/// point at, SQLite's way to change a column) and checked before the transaction commits.
pub(crate) fn migrate_to(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", false)?;
    let migrated = migrate_without_foreign_keys(conn, path, target);
    conn.pragma_update(None, "foreign_keys", true)?;
    migrated
}

fn migrate_without_foreign_keys(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(SqliteError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let to = i as i64 + 1;
        if to <= found || to > target {
            continue;
        }
        precheck(&tx, path, to)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", to)?;
    }
    let broken: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()?;
    if let Some(table) = broken {
        return Err(SqliteError::Migration {
            path: path.to_owned(),
            message: format!("a migration left rows of {table} pointing at rows that do not exist"),
        });
    }
    tx.commit()?;
    Ok(())
}

/// Checks what a migration's constraints need of the existing rows, so a violation is reported in words (what is
/// wrong, how to fix it) instead of as a failed `CREATE UNIQUE INDEX`.
fn precheck(conn: &Connection, path: &Path, to: i64) -> Result<()> {
    if to != 5 {
        return Ok(());
    }
    // 0005 makes the phone number id unique across accounts.
    let mut stmt = conn.prepare(
        "SELECT phone_number_id, count(*) FROM accounts WHERE phone_number_id IS NOT NULL \
         GROUP BY phone_number_id HAVING count(*) > 1 ORDER BY phone_number_id",
    )?;
    let dups: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if dups.is_empty() {
        return Ok(());
    }
    let list = dups
        .iter()
        .map(|(id, n)| format!("{id} ({n} accounts)"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(SqliteError::Migration {
        path: path.to_owned(),
        message: format!(
            "several accounts use the same Meta phone number id: {list}. A phone number id must belong to one \
             account (Meta's webhooks are routed by it). Clear the credentials of all but one account per number \
             (DELETE /auth/me/credentials with that account's key, or set credentials = NULL, phone_number_id = \
             NULL on the extra rows of the accounts table) with the previous version of whatsapi, then start this \
             version again"
        ),
    })
}
