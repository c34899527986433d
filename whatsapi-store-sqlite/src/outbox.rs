//! The customer-webhook outbox: events written with their status change, with a new inbound message or on their
//! own (template changes), claimed one per stream and destination, finished.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use whatsapi_core::AccountId;
use whatsapi_core::account::WebhookConfig;
use whatsapi_core::endpoints::{
    EndpointId, EndpointUpdate, WebhookEndpoint, decode_schedule, encode_schedule,
};
use whatsapi_core::inbound::{InboundMessage, received_event_data};
use whatsapi_core::store::{
    ClaimedEvent, Destination, EventClaimLimits, EventNext, NewEvent, OutboxBacklog, OutboxEvent,
    status_stream_key, unique_stream_key,
};
use whatsapi_core::webhook::{DeliveryAttempt, EventData, EventId, EventType, StatusEventData};
use whatsapi_core::{MessageId, StoreError};

use crate::accounts;
use crate::codec::{count, plus, status, status_code, time, ts, u32_of, uuid};
use crate::error::{Result, SqliteError};
use crate::messages::Stored;

const STATE_WAITING: i64 = 0;
const STATE_DONE: i64 = 1;
const STATE_GAVE_UP: i64 = 2;
/// Why a given-up event cannot be sent again.
const UNREACHABLE: &str =
    "its destination is gone: the endpoint is disabled, or the account has no webhook any more";
/// `next_at` of an event that has not been tried yet: due at once.
const DUE_AT_ONCE: i64 = i64::MIN;

/// Writes the events announcing the message's current status: one for the account's reference webhook when it
/// has one, one for each of its enabled endpoints subscribed to `message.status_updated`.
pub(crate) fn emit(conn: &Connection, s: &Stored, at: DateTime<Utc>) -> Result<()> {
    let data = EventData::Status(StatusEventData::of(&s.message)).encode()?;
    write(
        conn,
        s.account,
        &Written {
            event_type: EventType::StatusUpdated,
            data: &data,
            stream: &|_| status_stream_key(s.message.id),
            message: Some((s.seq, status_code(s.message.status))),
            at,
        },
    )?;
    Ok(())
}

/// Writes the `message.received` event of a new inbound message of the account (row `account`).
pub(crate) fn emit_received(conn: &Connection, account: i64, m: &InboundMessage) -> Result<()> {
    let data = serde_json::to_string(&received_event_data(m))?;
    write(
        conn,
        account,
        &Written {
            event_type: EventType::MessageReceived,
            data: &data,
            stream: &unique_stream_key,
            message: None,
            at: m.received_at,
        },
    )?;
    Ok(())
}

/// Writes an event on its own for the account's destinations subscribed to its type.
pub(crate) fn enqueue(conn: &Connection, account: AccountId, event: &NewEvent) -> Result<usize> {
    if event.event_type == EventType::StatusUpdated {
        return Err(SqliteError::Store(StoreError::Conflict(
            "status events are written with their status change".into(),
        )));
    }
    let account = accounts::require_seq(conn, account)?;
    let data = serde_json::to_string(&event.data)?;
    write(
        conn,
        account,
        &Written {
            event_type: event.event_type,
            data: &data,
            stream: &|id| event.stream_key(id),
            message: None,
            at: event.at,
        },
    )
}

/// One event to write to each destination subscribed to its type.
struct Written<'a> {
    event_type: EventType,
    data: &'a str,
    /// The ordering key of the event with this id.
    stream: &'a dyn Fn(EventId) -> String,
    /// A status event's message row and status code.
    message: Option<(i64, i64)>,
    at: DateTime<Utc>,
}

/// Writes the event for the account's reference webhook (when it has one) and each enabled endpoint subscribed
/// to its type; answers how many rows.
fn write(conn: &Connection, account: i64, w: &Written<'_>) -> Result<usize> {
    let mut destinations: Vec<Option<i64>> = Vec::new();
    if accounts::has_webhook(conn, account)? {
        destinations.push(None);
    }
    {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, events FROM webhook_endpoints WHERE account = ?1 AND enabled = 1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([account], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (seq, events) = row?;
            let events: Vec<String> = serde_json::from_str(&events)?;
            if events.is_empty() || events.iter().any(|e| e == w.event_type.as_str()) {
                destinations.push(Some(seq));
            }
        }
    }
    for endpoint in &destinations {
        let id = EventId::new();
        conn.prepare_cached(
            "INSERT INTO outbox (id, account, event_type, stream, message, status, created_at, data, next_at, \
             endpoint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            id.0.as_bytes(),
            account,
            w.event_type.as_str(),
            (w.stream)(id),
            w.message.map(|(seq, _)| seq),
            w.message.map(|(_, st)| st),
            ts(w.at),
            w.data,
            DUE_AT_ONCE,
            endpoint,
        ])?;
    }
    Ok(destinations.len())
}

/// An event type as stored.
fn event_type(name: &str) -> Result<EventType> {
    EventType::parse(name)
        .ok_or_else(|| SqliteError::Corrupt(format!("unknown event type {name:?} in the outbox")))
}

/// Claims due events, at most one per stream and destination (its oldest unfinished), shared among
/// destinations as `limits` says, leasing each.
pub(crate) fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: Duration,
    limits: &EventClaimLimits,
) -> Result<Vec<ClaimedEvent>> {
    let now_ts = ts(now);
    type Row = (
        i64,
        Vec<u8>,
        i64,
        String,
        i64,
        String,
        i64,
        Vec<u8>,
        Option<Endpoint>,
    );
    // Each destination yields at most `per_destination` rows, so skipped ones take at most that many each.
    let sql_limit = limits
        .limit
        .saturating_add(limits.skip.len().saturating_mul(limits.per_destination));
    let rows: Vec<Row> = {
        let mut stmt = conn.prepare_cached(
            "SELECT c.seq, c.id, c.account, c.event_type, c.created_at, c.data, c.attempts, a.id, \
                    e.id, e.url, e.secret, e.enabled, e.retry_schedule \
             FROM (SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.account, o.endpoint ORDER BY o.seq) AS rank \
                   FROM outbox o \
                   WHERE o.state = 0 AND o.next_at <= ?1 AND (o.lease_until IS NULL OR o.lease_until <= ?1) \
                   AND o.seq = (SELECT MIN(p.seq) FROM outbox p \
                                WHERE p.account = o.account AND p.stream = o.stream \
                                AND p.endpoint IS o.endpoint AND p.state = 0)) c \
             JOIN accounts a ON a.seq = c.account \
             LEFT JOIN webhook_endpoints e ON e.seq = c.endpoint \
             WHERE c.rank <= ?2 ORDER BY c.seq LIMIT ?3",
        )?;
        let per = i64::try_from(limits.per_destination).unwrap_or(i64::MAX);
        let limit = i64::try_from(sql_limit).unwrap_or(i64::MAX);
        stmt.query_map(params![now_ts, per, limit], |r| {
            let endpoint = match r.get::<_, Option<Vec<u8>>>(8)? {
                Some(id) => Some(Endpoint {
                    id,
                    url: r.get(9)?,
                    secret: r.get(10)?,
                    enabled: r.get(11)?,
                    retry_schedule: r.get(12)?,
                }),
                None => None,
            };
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                endpoint,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut candidates = Vec::with_capacity(rows.len());
    for row in rows {
        let account_id = AccountId(uuid(&row.7)?);
        let destination = match &row.8 {
            Some(e) => Destination::Endpoint(EndpointId(uuid(&e.id)?)),
            None => Destination::Webhook(account_id),
        };
        candidates.push((destination, (row, account_id, destination)));
    }
    let lease_until = ts(plus(now, lease));
    let mut claimed = Vec::new();
    for (row, account_id, destination) in limits.pick(candidates) {
        let (seq, id, account, kind, created_at, data, attempts, _, endpoint) = row;
        let kind = event_type(&kind)?;
        conn.prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, lease_until = ?2 WHERE seq = ?1",
        )?
        .execute(params![seq, lease_until])?;
        let (target, retry_schedule) = match endpoint {
            None => (accounts::webhook(conn, account)?, None),
            Some(e) if e.enabled => (
                Some(WebhookConfig {
                    url: e.url,
                    secret: e.secret,
                }),
                Some(decode_schedule(&e.retry_schedule)?),
            ),
            Some(_) => (None, None),
        };
        claimed.push(ClaimedEvent {
            event: OutboxEvent {
                id: EventId(uuid(&id)?),
                account_id,
                event_type: kind,
                created_at: time(created_at),
                data: EventData::decode(kind, &data)?,
                attempts: u32_of(attempts + 1),
                endpoint: match destination {
                    Destination::Endpoint(e) => Some(e),
                    Destination::Webhook(_) => None,
                },
            },
            target,
            retry_schedule,
        });
    }
    Ok(claimed)
}

/// The endpoint columns of a claimed event.
struct Endpoint {
    id: Vec<u8>,
    url: String,
    secret: String,
    enabled: bool,
    retry_schedule: String,
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
            "INSERT INTO delivery_attempts (event, account, event_type, message, status, url, at, http_status, \
             error, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            a.event_id.0.as_bytes(),
            account,
            a.event_type.as_str(),
            a.message_id.map(|m| m.0.as_bytes().to_vec()),
            a.status.map(status_code),
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
    let mut stmt = conn.prepare_cached(
        "SELECT event, message, status, url, at, http_status, error, duration_ms, event_type FROM delivery_attempts \
         WHERE account = ?1 ORDER BY at DESC, seq DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![account, i64::from(limit)], attempt_row)?;
    rows.map(|r| r?).collect()
}

/// The latest delivery attempts to one endpoint of the account, newest first.
pub(crate) fn endpoint_attempts(
    conn: &Connection,
    account: AccountId,
    endpoint: EndpointId,
    limit: u32,
) -> Result<Vec<DeliveryAttempt>> {
    let Some(endpoint) = endpoint_seq(conn, account, endpoint)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT d.event, d.message, d.status, d.url, d.at, d.http_status, d.error, d.duration_ms, d.event_type \
         FROM outbox o JOIN delivery_attempts d ON d.event = o.id \
         WHERE o.endpoint = ?1 ORDER BY d.at DESC, d.seq DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![endpoint, i64::from(limit)], attempt_row)?;
    rows.map(|r| r?).collect()
}

fn attempt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<DeliveryAttempt>> {
    let event: Vec<u8> = r.get(0)?;
    let message: Option<Vec<u8>> = r.get(1)?;
    let st: Option<i64> = r.get(2)?;
    let kind: String = r.get(8)?;
    let url: String = r.get(3)?;
    let at: i64 = r.get(4)?;
    let http_status: Option<u16> = r.get(5)?;
    let error: Option<String> = r.get(6)?;
    let duration_ms: i64 = r.get(7)?;
    Ok((|| {
        Ok(DeliveryAttempt {
            event_id: EventId(uuid(&event)?),
            event_type: event_type(&kind)?,
            message_id: message.map(|m| uuid(&m).map(MessageId)).transpose()?,
            status: st.map(status).transpose()?,
            url,
            at: time(at),
            http_status,
            error,
            duration_ms: u64::try_from(duration_ms).unwrap_or(0),
        })
    })())
}

/// Re-queues a given-up event of the account, due at `now` with a fresh count of attempts.
pub(crate) fn retry(
    conn: &Connection,
    account: AccountId,
    id: EventId,
    now: DateTime<Utc>,
) -> Result<()> {
    let account = accounts::require_seq(conn, account)?;
    let (state, reachable): (i64, bool) = conn
        .prepare_cached(
            "SELECT o.state, CASE WHEN o.endpoint IS NULL THEN a.webhook IS NOT NULL ELSE e.enabled = 1 END \
             FROM outbox o JOIN accounts a ON a.seq = o.account \
             LEFT JOIN webhook_endpoints e ON e.seq = o.endpoint WHERE o.id = ?1 AND o.account = ?2",
        )?
        .query_row(params![id.0.as_bytes(), account], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or(SqliteError::Store(StoreError::NotFound))?;
    match state {
        STATE_GAVE_UP if !reachable => {
            Err(SqliteError::Store(StoreError::Conflict(UNREACHABLE.into())))
        }
        STATE_WAITING => Err(SqliteError::Store(StoreError::Conflict(
            "the event is still waiting to be delivered".into(),
        ))),
        STATE_DONE => Err(SqliteError::Store(StoreError::Conflict(
            "the event was delivered".into(),
        ))),
        _ => {
            conn.prepare_cached(
                "UPDATE outbox SET state = 0, attempts = 0, next_at = ?2, lease_until = NULL WHERE id = ?1",
            )?
            .execute(params![id.0.as_bytes(), ts(now)])?;
            Ok(())
        }
    }
}

/// The row number of an endpoint of the account.
fn endpoint_seq(conn: &Connection, account: AccountId, id: EndpointId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT e.seq FROM webhook_endpoints e JOIN accounts a ON a.seq = e.account \
             WHERE e.id = ?1 AND a.id = ?2",
        )?
        .query_row(params![id.0.as_bytes(), account.0.as_bytes()], |r| r.get(0))
        .optional()?)
}

/// Saves a new endpoint, at most `max` per account.
pub(crate) fn create_endpoint(conn: &Connection, e: &WebhookEndpoint, max: usize) -> Result<()> {
    let account = accounts::require_seq(conn, e.account_id)?;
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM webhook_endpoints WHERE account = ?1")?
        .query_row([account], |r| r.get(0))?;
    if count(n) >= max as u64 {
        return Err(SqliteError::Store(StoreError::Conflict(format!(
            "an account has at most {max} webhook endpoints"
        ))));
    }
    conn.prepare_cached(
        "INSERT INTO webhook_endpoints (id, account, url, secret, events, enabled, disabled_reason, \
         retry_schedule, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        e.id.0.as_bytes(),
        account,
        e.url,
        e.secret,
        serde_json::to_string(&e.events)?,
        e.enabled,
        e.disabled_reason,
        encode_schedule(&e.retry_schedule),
        ts(e.created_at),
    ])?;
    Ok(())
}

/// The account's endpoints, oldest first.
pub(crate) fn endpoints(conn: &Connection, account: AccountId) -> Result<Vec<WebhookEndpoint>> {
    let Some(seq) = accounts::seq(conn, account)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, url, secret, events, enabled, disabled_reason, retry_schedule, created_at \
         FROM webhook_endpoints WHERE account = ?1 ORDER BY seq",
    )?;
    type Row = (
        Vec<u8>,
        String,
        String,
        String,
        bool,
        Option<String>,
        String,
        i64,
    );
    let rows: Vec<Row> = stmt
        .query_map([seq], |r| {
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
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(
            |(id, url, secret, events, enabled, disabled_reason, schedule, created_at)| {
                Ok(WebhookEndpoint {
                    id: EndpointId(uuid(&id)?),
                    account_id: account,
                    url,
                    secret,
                    events: serde_json::from_str(&events)?,
                    enabled,
                    disabled_reason,
                    retry_schedule: decode_schedule(&schedule)?,
                    created_at: time(created_at),
                })
            },
        )
        .collect()
}

/// Changes an endpoint of the account and answers it as stored.
pub(crate) fn update_endpoint(
    conn: &Connection,
    account: AccountId,
    id: EndpointId,
    update: &EndpointUpdate,
) -> Result<WebhookEndpoint> {
    let mut e = endpoints(conn, account)?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(SqliteError::Store(StoreError::NotFound))?;
    update.apply(&mut e);
    conn.prepare_cached(
        "UPDATE webhook_endpoints SET url = ?2, events = ?3, enabled = ?4, disabled_reason = ?5, \
         retry_schedule = ?6 WHERE id = ?1",
    )?
    .execute(params![
        id.0.as_bytes(),
        e.url,
        serde_json::to_string(&e.events)?,
        e.enabled,
        e.disabled_reason,
        encode_schedule(&e.retry_schedule),
    ])?;
    Ok(e)
}

/// Removes an endpoint of the account with its events and their attempts.
pub(crate) fn delete_endpoint(conn: &Connection, account: AccountId, id: EndpointId) -> Result<()> {
    let seq = endpoint_seq(conn, account, id)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
    conn.prepare_cached(
        "DELETE FROM delivery_attempts WHERE event IN (SELECT id FROM outbox WHERE endpoint = ?1)",
    )?
    .execute([seq])?;
    conn.prepare_cached("DELETE FROM outbox WHERE endpoint = ?1")?
        .execute([seq])?;
    conn.prepare_cached("DELETE FROM webhook_endpoints WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

/// Replaces an endpoint's stored secret.
pub(crate) fn set_endpoint_secret(
    conn: &Connection,
    account: AccountId,
    id: EndpointId,
    secret: &str,
) -> Result<()> {
    let seq = endpoint_seq(conn, account, id)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
    conn.prepare_cached("UPDATE webhook_endpoints SET secret = ?2 WHERE seq = ?1")?
        .execute(params![seq, secret])?;
    Ok(())
}

/// Turns an endpoint off, saying why.
pub(crate) fn disable_endpoint(conn: &Connection, id: EndpointId, reason: &str) -> Result<()> {
    let n = conn
        .prepare_cached(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2 WHERE id = ?1",
        )?
        .execute(params![id.0.as_bytes(), reason])?;
    if n == 0 {
        return Err(SqliteError::Store(StoreError::NotFound));
    }
    Ok(())
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
