//! The 24-hour window, fixed rate-limit windows and the sweeper's purge.

use chrono::{DateTime, Utc};
use whatsapi_core::AccountId;
use whatsapi_core::store::{PurgePolicy, PurgeReport};

use crate::codec::{count, minus, time_opt, ts};
use crate::db::Db;
use crate::error::Result;
use crate::outbox;

/// Keeps the latest time `wa_id` wrote to the account.
pub(crate) async fn record_inbound(
    db: &dyn Db,
    account: AccountId,
    wa_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    db.exec(
        "INSERT INTO inbound (account, wa_id, at) VALUES ($1, $2, $3) \
         ON CONFLICT (account, wa_id) DO UPDATE SET at = GREATEST(inbound.at, excluded.at)",
        &[&account.0, &wa_id, &ts(at)],
    )
    .await?;
    Ok(())
}

/// When `wa_id` last wrote to the account.
pub(crate) async fn last_inbound(
    db: &dyn Db,
    account: AccountId,
    wa_id: &str,
) -> Result<Option<DateTime<Utc>>> {
    let at: Option<i64> = match db
        .opt(
            "SELECT at FROM inbound WHERE account = $1 AND wa_id = $2",
            &[&account.0, &wa_id],
        )
        .await?
    {
        Some(r) => r.try_get(0)?,
        None => None,
    };
    Ok(time_opt(at))
}

/// When each of `wa_ids` last wrote to the account (those that never wrote are missing): one statement over the
/// array of ids.
pub(crate) async fn last_inbounds(
    db: &dyn Db,
    account: AccountId,
    wa_ids: &[String],
) -> Result<std::collections::HashMap<String, DateTime<Utc>>> {
    if wa_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows = db
        .rows(
            "SELECT wa_id, at FROM inbound WHERE account = $1 AND wa_id = ANY($2::text[])",
            &[&account.0, &wa_ids],
        )
        .await?;
    let mut out = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        if let Some(at) = time_opt(r.try_get(1)?) {
            out.insert(r.try_get(0)?, at);
        }
    }
    Ok(out)
}

/// Counts one hit in a window and returns the window's count, in one atomic upsert: concurrent hits from any
/// number of replicas each see a distinct count.
pub(crate) async fn hit_rate_window(
    db: &dyn Db,
    bucket: &str,
    window_start: DateTime<Utc>,
) -> Result<u64> {
    let hits: i64 = db
        .one(
            "INSERT INTO rate_windows (bucket, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_windows.hits + 1 RETURNING hits",
            &[&bucket, &ts(window_start)],
        )
        .await?
        .try_get(0)?;
    Ok(count(hits))
}

/// Removes what the policy says has expired.
pub(crate) async fn purge(
    db: &dyn Db,
    now: DateTime<Utc>,
    policy: PurgePolicy,
) -> Result<PurgeReport> {
    let idempotency_records = db
        .exec(
            "DELETE FROM idempotency WHERE expires_at <= $1",
            &[&ts(now)],
        )
        .await?;
    let events = outbox::purge(db, minus(now, policy.events_older_than)).await?;
    let pending_statuses = db
        .exec(
            "DELETE FROM pending_statuses WHERE received_at <= $1",
            &[&ts(minus(now, policy.pending_statuses_older_than))],
        )
        .await?;
    Ok(PurgeReport {
        idempotency_records,
        events,
        pending_statuses,
    })
}

/// Removes the rate windows that started at or before `cutoff`.
pub(crate) async fn purge_rate_windows(db: &dyn Db, cutoff: DateTime<Utc>) -> Result<u64> {
    db.exec(
        "DELETE FROM rate_windows WHERE window_start <= $1",
        &[&ts(cutoff)],
    )
    .await
}
