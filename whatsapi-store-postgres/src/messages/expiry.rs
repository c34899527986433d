//! Messages whose validity period ended before they could be sent, failed by the sweeper in one transaction of a
//! few set-based statements: the expired rows are locked in one statement (`FOR UPDATE SKIP LOCKED`, so a claim or
//! another replica's sweeper holding a row is never waited for, and a row is either claimed or expired, never
//! both), each failure is computed in memory with the helpers every store uses ([`expiry_change`],
//! [`record_expiry`]), and written with one statement per table as a batch of outcomes is: the rows, the timeline,
//! the outbox; the counters through [`Effects`].

use chrono::{DateTime, Utc};
use whatsapi_core::store::support::{expirable, expiry_change, record_expiry};
use whatsapi_core::{MessageId, Status};

use super::outcomes::{Writes, add_timelines, save_all};
use super::{COLUMNS, Effects, Stored, decode};
use crate::codec::{status_code, ts};
use crate::db::Db;
use crate::error::Result;
use crate::outbox;

/// Fails up to `limit` messages whose validity period ended at `now` and that nobody is sending, earliest expiry
/// first (see `MessageStore::expire_messages`), in the caller's transaction.
pub(crate) async fn expire(
    db: &dyn Db,
    fx: &mut Effects,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<MessageId>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // The partial index `messages_expiry` holds exactly the unsettled rows (status codes 0 to 3, a paused
    // campaign's held ones with them) with an expiry; a processing row is expirable only once its lease (its due
    // time) ended. The literal `status <= 3` lets the planner match the index's predicate.
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m JOIN accounts a ON a.seq = m.account \
         WHERE m.seq IN (SELECT seq FROM messages WHERE expires_at IS NOT NULL AND status <= 3 \
           AND expires_at <= $1 AND (status <> $2 OR due_at <= $1) ORDER BY expires_at, seq LIMIT $3) \
         ORDER BY m.seq FOR UPDATE OF m SKIP LOCKED"
    );
    let mut rows = db
        .rows(&sql, &[&ts(now), &status_code(Status::Processing), &limit])
        .await?
        .iter()
        .map(|r| decode(r, 0))
        .collect::<Result<Vec<Stored>>>()?;
    let mut writes = Writes::default();
    let mut failed = Vec::with_capacity(rows.len());
    for (r, s) in rows.iter_mut().enumerate() {
        // Read under the lock: a row changed since the subquery's snapshot is judged as it is now.
        if !expirable(&s.message, now) {
            continue;
        }
        let change = expiry_change(&s.message, now)?;
        let write = change.apply(&mut s.message, |m| record_expiry(m, now));
        writes.note(db, fx, r, s, write).await?;
        failed.push(s.message.id);
    }
    save_all(db, &rows, &writes.rows).await?;
    add_timelines(db, &writes.timeline).await?;
    outbox::emit_all(db, &writes.events).await?;
    Ok(failed)
}
