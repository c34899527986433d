//! The 24-hour window, fixed rate-limit windows and the sweeper's purge.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use whatsapi_core::AccountId;
use whatsapi_core::store::{PurgePolicy, PurgeReport};

use crate::codec::{count, minus, time_opt, ts};
use crate::error::Result;
use crate::outbox;

/// Keeps the latest time `wa_id` wrote to the account.
pub(crate) fn record_inbound(
    conn: &Connection,
    account: AccountId,
    wa_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO inbound (account, wa_id, at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, wa_id) DO UPDATE SET at = MAX(at, excluded.at)",
    )?
    .execute(params![account.0.as_bytes(), wa_id, ts(at)])?;
    Ok(())
}

/// When `wa_id` last wrote to the account.
pub(crate) fn last_inbound(
    conn: &Connection,
    account: AccountId,
    wa_id: &str,
) -> Result<Option<DateTime<Utc>>> {
    let at: Option<i64> = conn
        .prepare_cached("SELECT at FROM inbound WHERE account = ?1 AND wa_id = ?2")?
        .query_row(params![account.0.as_bytes(), wa_id], |r| r.get(0))
        .optional()?;
    Ok(time_opt(at))
}

/// When each of `wa_ids` last wrote to the account (those that never wrote are missing): one read, one index
/// lookup per id on the reader's connection.
pub(crate) fn last_inbounds(
    conn: &Connection,
    account: AccountId,
    wa_ids: &[String],
) -> Result<HashMap<String, DateTime<Utc>>> {
    let mut stmt =
        conn.prepare_cached("SELECT at FROM inbound WHERE account = ?1 AND wa_id = ?2")?;
    let mut out = HashMap::new();
    for id in wa_ids {
        let at: Option<i64> = stmt
            .query_row(params![account.0.as_bytes(), id], |r| r.get(0))
            .optional()?;
        if let Some(at) = time_opt(at) {
            out.insert(id.clone(), at);
        }
    }
    Ok(out)
}

/// Counts one hit in a window and returns the window's count.
pub(crate) fn hit_rate_window(
    conn: &Connection,
    bucket: &str,
    window_start: DateTime<Utc>,
) -> Result<u64> {
    let hits: i64 = conn
        .prepare_cached(
            "INSERT INTO rate_windows (bucket, window_start, hits) VALUES (?1, ?2, 1) \
             ON CONFLICT (bucket, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits",
        )?
        .query_row(params![bucket, ts(window_start)], |r| r.get(0))?;
    Ok(count(hits))
}

/// Removes what the policy says has expired.
pub(crate) fn purge(
    conn: &Connection,
    now: DateTime<Utc>,
    policy: PurgePolicy,
) -> Result<PurgeReport> {
    let idempotency_records = conn
        .prepare_cached("DELETE FROM idempotency WHERE expires_at <= ?1")?
        .execute([ts(now)])? as u64;
    let events = outbox::purge(conn, minus(now, policy.events_older_than))?;
    let pending_statuses =
        conn.prepare_cached("DELETE FROM pending_statuses WHERE received_at <= ?1")?
            .execute([ts(minus(now, policy.pending_statuses_older_than))])? as u64;
    Ok(PurgeReport {
        idempotency_records,
        events,
        pending_statuses,
    })
}

/// Removes the rate windows that started at or before `cutoff`.
pub(crate) fn purge_rate_windows(conn: &Connection, cutoff: DateTime<Utc>) -> Result<u64> {
    Ok(conn
        .prepare_cached("DELETE FROM rate_windows WHERE window_start <= ?1")?
        .execute([ts(cutoff)])? as u64)
}
