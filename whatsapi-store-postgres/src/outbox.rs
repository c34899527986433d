//! The customer-webhook outbox: events written with their status change, claimed one per message, finished.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use whatsapi_core::store::{ClaimedEvent, EventNext, OutboxBacklog, OutboxEvent};
use whatsapi_core::webhook::{DeliveryAttempt, EventId, StatusEventData};
use whatsapi_core::{AccountId, MessageId, StoreError};

use crate::accounts;
use crate::codec::{count, plus, status, status_code, time, ts, u32_of};
use crate::db::Db;
use crate::error::{PostgresError, Result};
use crate::messages::Stored;

const STATE_WAITING: i16 = 0;
const STATE_DONE: i16 = 1;
const STATE_GAVE_UP: i16 = 2;
/// `next_at` of an event that has not been tried yet: due at once.
const DUE_AT_ONCE: i64 = i64::MIN;

/// Writes the event announcing the message's current status.
pub(crate) async fn emit(db: &dyn Db, s: &Stored, at: DateTime<Utc>) -> Result<()> {
    let data = StatusEventData::of(&s.message);
    db.exec(
        "INSERT INTO outbox (id, account, message, status, created_at, data, next_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &EventId::new().0,
            &s.account,
            &s.seq,
            &status_code(s.message.status),
            &ts(at),
            &serde_json::to_string(&data)?,
            &DUE_AT_ONCE,
        ],
    )
    .await?;
    Ok(())
}

/// Claims up to `limit` due events, at most one per message (its oldest unfinished), leasing each, in one
/// statement; events another deliverer is claiming are skipped.
pub(crate) async fn claim(
    db: &dyn Db,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<ClaimedEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db
        .rows(
            "UPDATE outbox o SET attempts = o.attempts + 1, lease_until = $3 \
             FROM accounts a \
             WHERE a.seq = o.account AND o.seq IN ( \
               SELECT e.seq FROM outbox e \
               WHERE e.state = 0 AND e.next_at <= $1 AND (e.lease_until IS NULL OR e.lease_until <= $1) \
               AND e.seq = (SELECT MIN(p.seq) FROM outbox p WHERE p.message = e.message AND p.state = 0) \
               ORDER BY e.seq LIMIT $2 \
               FOR UPDATE OF e SKIP LOCKED) \
             RETURNING o.seq, o.id, a.id, o.status, o.created_at, o.data, o.attempts, a.webhook",
            &[&ts(now), &limit, &ts(plus(now, lease))],
        )
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for r in &rows {
        let seq: i64 = r.try_get(0)?;
        let data: String = r.try_get(5)?;
        let webhook: Option<String> = r.try_get(7)?;
        let event = OutboxEvent {
            id: EventId(r.try_get(1)?),
            account_id: AccountId(r.try_get(2)?),
            status: status(r.try_get(3)?)?,
            created_at: time(r.try_get(4)?),
            data: serde_json::from_str(&data)?,
            attempts: u32_of(r.try_get(6)?),
        };
        let target = webhook.map(|w| serde_json::from_str(&w)).transpose()?;
        claimed.push((seq, ClaimedEvent { event, target }));
    }
    // In the order written.
    claimed.sort_by_key(|(seq, _)| *seq);
    Ok(claimed.into_iter().map(|(_, c)| c).collect())
}

/// Records a delivery attempt and what happens next to the event.
pub(crate) async fn finish(
    db: &dyn Db,
    id: EventId,
    attempt: Option<&DeliveryAttempt>,
    next: EventNext,
) -> Result<()> {
    let row = db
        .opt(
            "SELECT seq, account, state FROM outbox WHERE id = $1 FOR UPDATE",
            &[&id.0],
        )
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    let (seq, account, state): (i64, i64, i16) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if let Some(a) = attempt {
        db.exec(
            "INSERT INTO delivery_attempts (event, account, message, status, url, at, http_status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &a.event_id.0,
                &account,
                &a.message_id.0,
                &status_code(a.status),
                &a.url,
                &ts(a.at),
                &a.http_status.map(i32::from),
                &a.error,
                &i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    }
    if state != STATE_WAITING {
        // A finished event stays finished.
        return Ok(());
    }
    let (state, next_at): (i16, Option<i64>) = match next {
        EventNext::Done => (STATE_DONE, None),
        EventNext::GiveUp => (STATE_GAVE_UP, None),
        EventNext::RetryAt(at) => (STATE_WAITING, Some(ts(at))),
    };
    db.exec(
        "UPDATE outbox SET state = $2, next_at = COALESCE($3, next_at), lease_until = NULL WHERE seq = $1",
        &[&seq, &state, &next_at],
    )
    .await?;
    Ok(())
}

/// The waiting events: their count from the waiting index, and the `created_at` of the first written.
pub(crate) async fn backlog(db: &dyn Db) -> Result<OutboxBacklog> {
    let row = db
        .one(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 0), \
             (SELECT created_at FROM outbox WHERE state = 0 ORDER BY seq LIMIT 1)",
            &[],
        )
        .await?;
    let pending: i64 = row.try_get(0)?;
    let oldest: Option<i64> = row.try_get(1)?;
    Ok(OutboxBacklog {
        pending: count(pending),
        oldest: oldest.map(time),
    })
}

/// The account's latest delivery attempts, newest first.
pub(crate) async fn attempts(
    db: &dyn Db,
    account: AccountId,
    limit: u32,
) -> Result<Vec<DeliveryAttempt>> {
    let Some(account) = accounts::seq(db, account).await? else {
        return Ok(Vec::new());
    };
    db.rows(
        "SELECT event, message, status, url, at, http_status, error, duration_ms FROM delivery_attempts \
         WHERE account = $1 ORDER BY at DESC, seq DESC LIMIT $2",
        &[&account, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        let http_status: Option<i32> = r.try_get(5)?;
        Ok(DeliveryAttempt {
            event_id: EventId(r.try_get::<_, Uuid>(0)?),
            message_id: MessageId(r.try_get(1)?),
            status: status(r.try_get(2)?)?,
            url: r.try_get(3)?,
            at: time(r.try_get(4)?),
            http_status: http_status.and_then(|s| u16::try_from(s).ok()),
            error: r.try_get(6)?,
            duration_ms: u64::try_from(r.try_get::<_, i64>(7)?).unwrap_or(0),
        })
    })
    .collect()
}

/// Removes finished or abandoned events created before `cutoff`, with their attempts; returns how many events.
pub(crate) async fn purge(db: &dyn Db, cutoff: DateTime<Utc>) -> Result<u64> {
    let cutoff = ts(cutoff);
    db.exec(
        "DELETE FROM delivery_attempts WHERE event IN \
         (SELECT id FROM outbox WHERE state <> 0 AND created_at <= $1)",
        &[&cutoff],
    )
    .await?;
    db.exec(
        "DELETE FROM outbox WHERE state <> 0 AND created_at <= $1",
        &[&cutoff],
    )
    .await
}
