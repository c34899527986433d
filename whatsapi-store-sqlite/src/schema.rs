//! Versioned migrations, embedded in the crate and applied on open. `PRAGMA user_version` holds the version.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{Result, SqliteError};

/// The migrations, in order: migration `i` (0-based) takes the schema from version `i` to `i + 1`.
/// Never edit a released migration; add a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_messages.sql"),
    include_str!("migrations/0002_webhooks.sql"),
    include_str!("migrations/0003_accounts_billing.sql"),
    include_str!("migrations/0004_auth_version.sql"),
    // Fair claims; numbered 0007 as 0005 and 0006 land concurrently: keep it after them when merging.
    include_str!("migrations/0007_fair_claims.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The file's schema version.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the schema to `target` (at most [`SCHEMA_VERSION`]) in one immediate transaction, or refuses a file
/// from a newer version.
pub(crate) fn migrate_to(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
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
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", to)?;
    }
    tx.commit()?;
    Ok(())
}
