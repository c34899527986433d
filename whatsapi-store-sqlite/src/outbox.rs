//! The customer-webhook outbox: events written with their status change, claimed one per message, finished.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use whatsapi_core::AccountId;
use whatsapi_core::store::{ClaimedEvent, EventNext, OutboxBacklog, OutboxEvent};
use whatsapi_core::webhook::{DeliveryAttempt, EventId, StatusEventData};
use whatsapi_core::{MessageId, StoreError};

use crate::accounts;
use crate::codec::{count, plus, status, status_code, time, ts, u32_of, uuid};
use crate::error::{Result, SqliteError};
use crate::messages::Stored;

const STATE_WAITING: i64 = 0;
const STATE_DONE: i64 = 1;
const STATE_GAVE_UP: i64 = 2;
/// `next_at` of an event that has not been tried yet: due at once.
const DUE_AT_ONCE: i64 = i64::MIN;

/// Writes the event announcing the message's current status.
pub(crate) fn emit(conn: &Connection, s: &Stored, at: DateTime<Utc>) -> Result<()> {
    let data = StatusEventData::of(&s.message);
    conn.prepare_cached(
        "INSERT INTO outbox (id, account, message, status, created_at, data, next_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        EventId::new().0.as_bytes(),
        s.account,
        s.seq,
        status_code(s.message.status),
        ts(at),
        serde_json::to_string(&data)?,
        DUE_AT_ONCE,
    ])?;
    Ok(())
}

/// Claims up to `limit` due events, at most one per message (its oldest unfinished), leasing each.
pub(crate) fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<ClaimedEvent>> {
    let now_ts = ts(now);
    type Row = (i64, Vec<u8>, i64, i64, i64, String, i64);
    let rows: Vec<Row> = {
        let mut stmt = conn.prepare_cached(
            "SELECT o.seq, o.id, o.account, o.status, o.created_at, o.data, o.attempts FROM outbox o \
             WHERE o.state = 0 AND o.next_at <= ?1 AND (o.lease_until IS NULL OR o.lease_until <= ?1) \
             AND o.seq = (SELECT MIN(p.seq) FROM outbox p WHERE p.message = o.message AND p.state = 0) \
             ORDER BY o.seq LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        stmt.query_map(params![now_ts, limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let lease_until = ts(plus(now, lease));
    let mut claimed = Vec::with_capacity(rows.len());
    for (seq, id, account, st, created_at, data, attempts) in rows {
        conn.prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, lease_until = ?2 WHERE seq = ?1",
        )?
        .execute(params![seq, lease_until])?;
        let account_id: Vec<u8> = conn
            .prepare_cached("SELECT id FROM accounts WHERE seq = ?1")?
            .query_row([account], |r| r.get(0))?;
        claimed.push(ClaimedEvent {
            event: OutboxEvent {
                id: EventId(uuid(&id)?),
                account_id: AccountId(uuid(&account_id)?),
                status: status(st)?,
                created_at: time(created_at),
                data: serde_json::from_str(&data)?,
                attempts: u32_of(attempts + 1),
            },
            target: accounts::webhook(conn, account)?,
        });
    }
    Ok(claimed)
}

/// Records a delivery attempt and what happens next to the event.
pub(crate) fn finish(
    conn: &Connection,
    id: EventId,
    attempt: Option<DeliveryAttempt>,
    next: EventNext,
) -> Result<()> {
    let (seq, account, state): (i64, i64, i64) = conn
        .prepare_cached("SELECT seq, account, state FROM outbox WHERE id = ?1")?
        .query_row([id.0.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or(SqliteError::Store(StoreError::NotFound))?;
    if let Some(a) = attempt {
        conn.prepare_cached(
            "INSERT INTO delivery_attempts (event, account, message, status, url, at, http_status, error, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            a.event_id.0.as_bytes(),
            account,
            a.message_id.0.as_bytes(),
            status_code(a.status),
            a.url,
            ts(a.at),
            a.http_status,
            a.error,
            i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
        ])?;
    }
    if state != STATE_WAITING {
        // A finished event stays finished.
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "UPDATE outbox SET state = ?2, next_at = COALESCE(?3, next_at), lease_until = NULL WHERE seq = ?1",
    )?;
    match next {
        EventNext::Done => stmt.execute(params![seq, STATE_DONE, None::<i64>])?,
        EventNext::GiveUp => stmt.execute(params![seq, STATE_GAVE_UP, None::<i64>])?,
        EventNext::RetryAt(at) => stmt.execute(params![seq, STATE_WAITING, ts(at)])?,
    };
    Ok(())
}

/// The waiting events: their count from the waiting index, and the `created_at` of the first written.
pub(crate) fn backlog(conn: &Connection) -> Result<OutboxBacklog> {
    let pending: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM outbox WHERE state = 0")?
        .query_row([], |r| r.get(0))?;
    let oldest: Option<i64> = conn
        .prepare_cached("SELECT created_at FROM outbox WHERE state = 0 ORDER BY seq LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(OutboxBacklog {
        pending: count(pending),
        oldest: oldest.map(time),
    })
}

/// The account's latest delivery attempts, newest first.
pub(crate) fn attempts(
    conn: &Connection,
    account: AccountId,
    limit: u32,
) -> Result<Vec<DeliveryAttempt>> {
    let Some(account) = accounts::seq(conn, account)? else {
        return Ok(Vec::new());
    };
    type Row = (
        Vec<u8>,
        Vec<u8>,
        i64,
        String,
        i64,
        Option<u16>,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = {
        let mut stmt = conn.prepare_cached(
            "SELECT event, message, status, url, at, http_status, error, duration_ms FROM delivery_attempts \
             WHERE account = ?1 ORDER BY at DESC, seq DESC LIMIT ?2",
        )?;
        stmt.query_map(params![account, i64::from(limit)], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    rows.into_iter()
        .map(
            |(event, message, st, url, at, http_status, error, duration_ms)| {
                Ok(DeliveryAttempt {
                    event_id: EventId(uuid(&event)?),
                    message_id: MessageId(uuid(&message)?),
                    status: status(st)?,
                    url,
                    at: time(at),
                    http_status,
                    error,
                    duration_ms: u64::try_from(duration_ms).unwrap_or(0),
                })
            },
        )
        .collect()
}

/// Removes finished or abandoned events created before `cutoff`, with their attempts; returns how many events.
pub(crate) fn purge(conn: &Connection, cutoff: DateTime<Utc>) -> Result<u64> {
    let cutoff = ts(cutoff);
    conn.prepare_cached(
        "DELETE FROM delivery_attempts WHERE event IN \
         (SELECT id FROM outbox WHERE state <> 0 AND created_at <= ?1)",
    )?
    .execute([cutoff])?;
    let n = conn
        .prepare_cached("DELETE FROM outbox WHERE state <> 0 AND created_at <= ?1")?
        .execute([cutoff])?;
    Ok(n as u64)
}
