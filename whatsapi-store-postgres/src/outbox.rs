//! The customer-webhook outbox: events written with their status change, with a new inbound message or on their
//! own (template changes), claimed one per stream and destination, finished.

use std::time::Duration;

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use uuid::Uuid;
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
use whatsapi_core::{AccountId, MessageId, StoreError};

use crate::accounts;
use crate::codec::{count, plus, status, status_code, time, ts, u32_of};
use crate::db::Db;
use crate::error::{PostgresError, Result};
use crate::messages::Stored;

const STATE_WAITING: i16 = 0;
const STATE_DONE: i16 = 1;
const STATE_GAVE_UP: i16 = 2;
/// Why a given-up event cannot be sent again.
const UNREACHABLE: &str =
    "its destination is gone: the endpoint is disabled, or the account has no webhook any more";
/// `next_at` of an event that has not been tried yet: due at once.
const DUE_AT_ONCE: i64 = i64::MIN;

/// Where an event of type `kind` of the account goes: `None` for its reference webhook when it has one, the row
/// number of each of its enabled endpoints subscribed to the event type.
pub(crate) async fn destinations(
    db: &dyn Db,
    account: i64,
    kind: EventType,
) -> Result<Vec<Option<i64>>> {
    let mut out = Vec::new();
    let has_webhook: bool = match db
        .opt(
            "SELECT webhook IS NOT NULL FROM accounts WHERE seq = $1",
            &[&account],
        )
        .await?
    {
        Some(r) => r.try_get(0)?,
        None => false,
    };
    if has_webhook {
        out.push(None);
    }
    for r in db
        .rows(
            "SELECT seq, events FROM webhook_endpoints WHERE account = $1 AND enabled ORDER BY seq",
            &[&account],
        )
        .await?
    {
        let events: String = r.try_get(1)?;
        let events: Vec<String> = serde_json::from_str(&events)?;
        if events.is_empty() || events.iter().any(|e| e == kind.as_str()) {
            out.push(Some(r.try_get::<_, i64>(0)?));
        }
    }
    Ok(out)
}

/// Writes the events announcing the message's current status, one per destination.
pub(crate) async fn emit(
    db: &dyn Db,
    s: &Stored,
    at: DateTime<Utc>,
    destinations: &[Option<i64>],
) -> Result<()> {
    if destinations.is_empty() {
        return Ok(());
    }
    let data = EventData::Status(StatusEventData::of(&s.message)).encode()?;
    let stream = status_stream_key(s.message.id);
    for endpoint in destinations {
        db.exec(
            "INSERT INTO outbox (id, account, event_type, stream, message, status, created_at, data, next_at, \
             endpoint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &EventId::new().0,
                &s.account,
                &EventType::StatusUpdated.as_str(),
                &stream,
                &s.seq,
                &status_code(s.message.status),
                &ts(at),
                &data,
                &DUE_AT_ONCE,
                endpoint,
            ],
        )
        .await?;
    }
    Ok(())
}

/// A status event waiting to be written with others ([`emit_all`]): the message's status as it was at `at`,
/// for one destination.
pub(crate) struct StatusEvent {
    /// The event's id.
    id: Uuid,
    /// Row number of the account.
    account: i64,
    /// The stream: the message's status events.
    stream: String,
    /// Row number of the message.
    message: i64,
    /// The status announced.
    status: i16,
    /// When it changed.
    at: i64,
    /// The payload.
    data: String,
    /// The endpoint (`None`: the reference webhook).
    endpoint: Option<i64>,
}

impl StatusEvent {
    /// The events announcing the message's current status, one per destination, as [`emit`] writes them.
    pub(crate) fn of(
        s: &Stored,
        at: DateTime<Utc>,
        destinations: &[Option<i64>],
    ) -> Result<Vec<StatusEvent>> {
        if destinations.is_empty() {
            return Ok(Vec::new());
        }
        let data = EventData::Status(StatusEventData::of(&s.message)).encode()?;
        let stream = status_stream_key(s.message.id);
        Ok(destinations
            .iter()
            .map(|endpoint| StatusEvent {
                id: EventId::new().0,
                account: s.account,
                stream: stream.clone(),
                message: s.seq,
                status: status_code(s.message.status),
                at: ts(at),
                data: data.clone(),
                endpoint: *endpoint,
            })
            .collect())
    }
}

/// Writes status events in one statement, in the order given (their streams keep that order).
pub(crate) async fn emit_all(db: &dyn Db, events: &[StatusEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len();
    let (mut ids, mut accounts, mut streams, mut messages) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut statuses, mut ats, mut data, mut endpoints) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for e in events {
        ids.push(e.id);
        accounts.push(e.account);
        streams.push(e.stream.as_str());
        messages.push(e.message);
        statuses.push(e.status);
        ats.push(e.at);
        data.push(e.data.as_str());
        endpoints.push(e.endpoint);
    }
    db.exec(
        "INSERT INTO outbox (id, account, event_type, stream, message, status, created_at, data, next_at, \
         endpoint) \
         SELECT u.id, u.account, $1, u.stream, u.message, u.status, u.at, u.data, $2, u.endpoint \
         FROM unnest($3::uuid[], $4::int8[], $5::text[], $6::int8[], $7::int2[], $8::int8[], $9::text[], \
         $10::int8[]) WITH ORDINALITY AS u(id, account, stream, message, status, at, data, endpoint, ord) \
         ORDER BY u.ord",
        &[
            &EventType::StatusUpdated.as_str(),
            &DUE_AT_ONCE,
            &ids,
            &accounts,
            &streams,
            &messages,
            &statuses,
            &ats,
            &data,
            &endpoints,
        ],
    )
    .await?;
    Ok(())
}

/// Writes an event that is not a status event for each destination of the account (row `account`) subscribed to
/// its type, in one statement; answers how many.
async fn write(
    db: &dyn Db,
    account: i64,
    kind: EventType,
    data: &str,
    stream: &(dyn Fn(EventId) -> String + Sync),
    at: DateTime<Utc>,
) -> Result<usize> {
    let destinations = destinations(db, account, kind).await?;
    if destinations.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(destinations.len());
    let mut streams = Vec::with_capacity(destinations.len());
    for _ in &destinations {
        let id = EventId::new();
        streams.push(stream(id));
        ids.push(id.0);
    }
    db.exec(
        "INSERT INTO outbox (id, account, event_type, stream, created_at, data, next_at, endpoint) \
         SELECT d.id, $1, $2, d.stream, $3, $4, $5, d.endpoint \
         FROM unnest($6::uuid[], $7::text[], $8::bigint[]) AS d (id, stream, endpoint)",
        &[
            &account,
            &kind.as_str(),
            &ts(at),
            &data,
            &DUE_AT_ONCE,
            &ids,
            &streams,
            &destinations,
        ],
    )
    .await?;
    Ok(destinations.len())
}

/// Writes the `message.received` event of a new inbound message.
pub(crate) async fn emit_received(db: &dyn Db, m: &InboundMessage) -> Result<()> {
    let Some(account) = accounts::seq(db, m.account_id).await? else {
        return Ok(());
    };
    let data = serde_json::to_string(&received_event_data(m))?;
    write(
        db,
        account,
        EventType::MessageReceived,
        &data,
        &unique_stream_key,
        m.received_at,
    )
    .await?;
    Ok(())
}

/// Writes an event on its own for the account's destinations subscribed to its type.
pub(crate) async fn enqueue(db: &dyn Db, account: AccountId, event: &NewEvent) -> Result<usize> {
    if event.event_type == EventType::StatusUpdated {
        return Err(PostgresError::Store(StoreError::Conflict(
            "status events are written with their status change".into(),
        )));
    }
    let account = accounts::seq(db, account)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    let data = serde_json::to_string(&event.data)?;
    write(
        db,
        account,
        event.event_type,
        &data,
        &|id| event.stream_key(id),
        event.at,
    )
    .await
}

/// An event type as stored.
fn event_type(name: &str) -> Result<EventType> {
    EventType::parse(name)
        .ok_or_else(|| PostgresError::Corrupt(format!("unknown event type {name:?} in the outbox")))
}

/// Claims due events, at most one per stream and destination (its oldest unfinished), at most
/// `per_destination` of one destination and none of the skipped ones, leasing each, in one statement.
pub(crate) async fn claim(
    db: &dyn Db,
    now: DateTime<Utc>,
    lease: Duration,
    limits: &EventClaimLimits,
) -> Result<Vec<ClaimedEvent>> {
    let limit = i64::try_from(limits.limit).unwrap_or(i64::MAX);
    let per = i64::try_from(limits.per_destination).unwrap_or(i64::MAX);
    let mut skip_accounts: Vec<Uuid> = Vec::new();
    let mut skip_endpoints: Vec<Uuid> = Vec::new();
    for d in &limits.skip {
        match d {
            Destination::Webhook(a) => skip_accounts.push(a.0),
            Destination::Endpoint(e) => skip_endpoints.push(e.0),
        }
    }
    // The conditions on `o` are checked again on each row once locked, so two claimers never lease one event.
    let rows = db
        .rows(
            "UPDATE outbox o SET attempts = o.attempts + 1, lease_until = $4 \
             FROM accounts a \
             WHERE a.seq = o.account AND o.state = 0 AND (o.lease_until IS NULL OR o.lease_until <= $1) \
             AND o.seq IN ( \
               SELECT c.seq FROM ( \
                 SELECT e.seq, ROW_NUMBER() OVER (PARTITION BY e.account, e.endpoint ORDER BY e.seq) AS rank \
                 FROM outbox e \
                 WHERE e.state = 0 AND e.next_at <= $1 AND (e.lease_until IS NULL OR e.lease_until <= $1) \
                 AND e.seq = (SELECT MIN(p.seq) FROM outbox p WHERE p.account = e.account \
                              AND p.stream = e.stream \
                              AND COALESCE(p.endpoint, 0) = COALESCE(e.endpoint, 0) AND p.state = 0) \
                 AND NOT (e.endpoint IS NULL AND e.account IN (SELECT seq FROM accounts WHERE id = ANY($5))) \
                 AND NOT (e.endpoint IS NOT NULL \
                          AND e.endpoint IN (SELECT seq FROM webhook_endpoints WHERE id = ANY($6)))) c \
               WHERE c.rank <= $2 ORDER BY c.seq LIMIT $3) \
             RETURNING o.seq, o.id, a.id, o.event_type, o.created_at, o.data, o.attempts, a.webhook, o.endpoint",
            &[
                &ts(now),
                &per,
                &limit,
                &ts(plus(now, lease)),
                &skip_accounts,
                &skip_endpoints,
            ],
        )
        .await?;
    let endpoint_seqs: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.try_get::<_, Option<i64>>(8).ok().flatten())
        .collect();
    let mut endpoints: HashMap<i64, (Uuid, String, String, bool, String)> = HashMap::new();
    if !endpoint_seqs.is_empty() {
        for r in db
            .rows(
                "SELECT seq, id, url, secret, enabled, retry_schedule FROM webhook_endpoints \
                 WHERE seq = ANY($1)",
                &[&endpoint_seqs],
            )
            .await?
        {
            endpoints.insert(
                r.try_get(0)?,
                (
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                ),
            );
        }
    }
    let mut claimed = Vec::with_capacity(rows.len());
    for r in &rows {
        let seq: i64 = r.try_get(0)?;
        let data: String = r.try_get(5)?;
        let webhook: Option<String> = r.try_get(7)?;
        let endpoint: Option<i64> = r.try_get(8)?;
        let found = endpoint.and_then(|e| endpoints.get(&e));
        let kind = event_type(&r.try_get::<_, String>(3)?)?;
        let (target, retry_schedule) = match (endpoint, found) {
            (None, _) => (webhook.map(|w| serde_json::from_str(&w)).transpose()?, None),
            (Some(_), Some((_, url, secret, true, schedule))) => (
                Some(WebhookConfig {
                    url: url.clone(),
                    secret: secret.clone(),
                }),
                Some(decode_schedule(schedule)?),
            ),
            (Some(_), _) => (None, None),
        };
        let event = OutboxEvent {
            id: EventId(r.try_get(1)?),
            account_id: AccountId(r.try_get(2)?),
            event_type: kind,
            created_at: time(r.try_get(4)?),
            data: EventData::decode(kind, &data)?,
            attempts: u32_of(r.try_get(6)?),
            endpoint: found.map(|(id, ..)| EndpointId(*id)),
        };
        claimed.push((
            seq,
            ClaimedEvent {
                event,
                target,
                retry_schedule,
            },
        ));
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
            "INSERT INTO delivery_attempts (event, account, event_type, message, status, url, at, http_status, \
             error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &a.event_id.0,
                &account,
                &a.event_type.as_str(),
                &a.message_id.map(|m| m.0),
                &a.status.map(status_code),
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
        "SELECT event, message, status, url, at, http_status, error, duration_ms, event_type FROM delivery_attempts \
         WHERE account = $1 ORDER BY at DESC, seq DESC LIMIT $2",
        &[&account, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(attempt_row)
    .collect()
}

/// The latest delivery attempts to one endpoint of the account, newest first.
pub(crate) async fn endpoint_attempts(
    db: &dyn Db,
    account: AccountId,
    endpoint: EndpointId,
    limit: u32,
) -> Result<Vec<DeliveryAttempt>> {
    let Some(endpoint) = endpoint_seq(db, account, endpoint).await? else {
        return Ok(Vec::new());
    };
    db.rows(
        "SELECT d.event, d.message, d.status, d.url, d.at, d.http_status, d.error, d.duration_ms, d.event_type \
         FROM outbox o JOIN delivery_attempts d ON d.event = o.id \
         WHERE o.endpoint = $1 ORDER BY d.at DESC, d.seq DESC LIMIT $2",
        &[&endpoint, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(attempt_row)
    .collect()
}

fn attempt_row(r: &tokio_postgres::Row) -> Result<DeliveryAttempt> {
    let http_status: Option<i32> = r.try_get(5)?;
    Ok(DeliveryAttempt {
        event_id: EventId(r.try_get::<_, Uuid>(0)?),
        event_type: event_type(&r.try_get::<_, String>(8)?)?,
        message_id: r.try_get::<_, Option<Uuid>>(1)?.map(MessageId),
        status: r.try_get::<_, Option<i16>>(2)?.map(status).transpose()?,
        url: r.try_get(3)?,
        at: time(r.try_get(4)?),
        http_status: http_status.and_then(|s| u16::try_from(s).ok()),
        error: r.try_get(6)?,
        duration_ms: u64::try_from(r.try_get::<_, i64>(7)?).unwrap_or(0),
    })
}

/// Re-queues a given-up event of the account, due at `now` with a fresh count of attempts.
pub(crate) async fn retry(
    db: &dyn Db,
    account: AccountId,
    id: EventId,
    now: DateTime<Utc>,
) -> Result<()> {
    let row = db
        .opt(
            "SELECT o.state, CASE WHEN o.endpoint IS NULL THEN a.webhook IS NOT NULL ELSE e.enabled END \
             FROM outbox o JOIN accounts a ON a.seq = o.account \
             LEFT JOIN webhook_endpoints e ON e.seq = o.endpoint \
             WHERE o.id = $1 AND a.id = $2 FOR UPDATE OF o",
            &[&id.0, &account.0],
        )
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    let (state, reachable): (i16, bool) = (row.try_get(0)?, row.try_get(1)?);
    match state {
        STATE_GAVE_UP if !reachable => Err(PostgresError::Store(StoreError::Conflict(
            UNREACHABLE.into(),
        ))),
        STATE_WAITING => Err(PostgresError::Store(StoreError::Conflict(
            "the event is still waiting to be delivered".into(),
        ))),
        STATE_DONE => Err(PostgresError::Store(StoreError::Conflict(
            "the event was delivered".into(),
        ))),
        _ => {
            db.exec(
                "UPDATE outbox SET state = 0, attempts = 0, next_at = $2, lease_until = NULL WHERE id = $1",
                &[&id.0, &ts(now)],
            )
            .await?;
            Ok(())
        }
    }
}

/// The row number of an endpoint of the account.
async fn endpoint_seq(db: &dyn Db, account: AccountId, id: EndpointId) -> Result<Option<i64>> {
    match db
        .opt(
            "SELECT e.seq FROM webhook_endpoints e JOIN accounts a ON a.seq = e.account \
             WHERE e.id = $1 AND a.id = $2",
            &[&id.0, &account.0],
        )
        .await?
    {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}

/// Saves a new endpoint, at most `max` per account (the account row is locked, so concurrent creations count
/// each other).
pub(crate) async fn create_endpoint(db: &dyn Db, e: &WebhookEndpoint, max: usize) -> Result<()> {
    let account: i64 = db
        .opt(
            "SELECT seq FROM accounts WHERE id = $1 FOR UPDATE",
            &[&e.account_id.0],
        )
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?
        .try_get(0)?;
    let n: i64 = db
        .one(
            "SELECT COUNT(*) FROM webhook_endpoints WHERE account = $1",
            &[&account],
        )
        .await?
        .try_get(0)?;
    if count(n) >= max as u64 {
        return Err(PostgresError::Store(StoreError::Conflict(format!(
            "an account has at most {max} webhook endpoints"
        ))));
    }
    db.exec(
        "INSERT INTO webhook_endpoints (id, account, url, secret, events, enabled, disabled_reason, \
         retry_schedule, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &e.id.0,
            &account,
            &e.url,
            &e.secret,
            &serde_json::to_string(&e.events)?,
            &e.enabled,
            &e.disabled_reason,
            &encode_schedule(&e.retry_schedule),
            &ts(e.created_at),
        ],
    )
    .await?;
    Ok(())
}

/// The account's endpoints, oldest first.
pub(crate) async fn endpoints(db: &dyn Db, account: AccountId) -> Result<Vec<WebhookEndpoint>> {
    db.rows(
        "SELECT e.id, e.url, e.secret, e.events, e.enabled, e.disabled_reason, e.retry_schedule, e.created_at \
         FROM webhook_endpoints e JOIN accounts a ON a.seq = e.account WHERE a.id = $1 ORDER BY e.seq",
        &[&account.0],
    )
    .await?
    .iter()
    .map(|r| {
        let events: String = r.try_get(3)?;
        let schedule: String = r.try_get(6)?;
        Ok(WebhookEndpoint {
            id: EndpointId(r.try_get(0)?),
            account_id: account,
            url: r.try_get(1)?,
            secret: r.try_get(2)?,
            events: serde_json::from_str(&events)?,
            enabled: r.try_get(4)?,
            disabled_reason: r.try_get(5)?,
            retry_schedule: decode_schedule(&schedule)?,
            created_at: time(r.try_get(7)?),
        })
    })
    .collect()
}

/// Changes an endpoint of the account (its row locked) and answers it as stored.
pub(crate) async fn update_endpoint(
    db: &dyn Db,
    account: AccountId,
    id: EndpointId,
    update: &EndpointUpdate,
) -> Result<WebhookEndpoint> {
    let seq = endpoint_seq(db, account, id)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    db.opt(
        "SELECT seq FROM webhook_endpoints WHERE seq = $1 FOR UPDATE",
        &[&seq],
    )
    .await?;
    let mut e = endpoints(db, account)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    update.apply(&mut e);
    db.exec(
        "UPDATE webhook_endpoints SET url = $2, events = $3, enabled = $4, disabled_reason = $5, \
         retry_schedule = $6 WHERE seq = $1",
        &[
            &seq,
            &e.url,
            &serde_json::to_string(&e.events)?,
            &e.enabled,
            &e.disabled_reason,
            &encode_schedule(&e.retry_schedule),
        ],
    )
    .await?;
    Ok(e)
}

/// Removes an endpoint of the account with its events and their attempts.
pub(crate) async fn delete_endpoint(db: &dyn Db, account: AccountId, id: EndpointId) -> Result<()> {
    let seq = endpoint_seq(db, account, id)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    db.exec(
        "DELETE FROM delivery_attempts WHERE event IN (SELECT id FROM outbox WHERE endpoint = $1)",
        &[&seq],
    )
    .await?;
    db.exec("DELETE FROM outbox WHERE endpoint = $1", &[&seq])
        .await?;
    db.exec("DELETE FROM webhook_endpoints WHERE seq = $1", &[&seq])
        .await?;
    Ok(())
}

/// Replaces an endpoint's stored secret.
pub(crate) async fn set_endpoint_secret(
    db: &dyn Db,
    account: AccountId,
    id: EndpointId,
    secret: &str,
) -> Result<()> {
    let n = db
        .exec(
            "UPDATE webhook_endpoints e SET secret = $3 FROM accounts a \
             WHERE a.seq = e.account AND a.id = $1 AND e.id = $2",
            &[&account.0, &id.0, &secret],
        )
        .await?;
    if n == 0 {
        return Err(PostgresError::Store(StoreError::NotFound));
    }
    Ok(())
}

/// Turns an endpoint off, saying why.
pub(crate) async fn disable_endpoint(db: &dyn Db, id: EndpointId, reason: &str) -> Result<()> {
    let n = db
        .exec(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2 WHERE id = $1",
            &[&id.0, &reason],
        )
        .await?;
    if n == 0 {
        return Err(PostgresError::Store(StoreError::NotFound));
    }
    Ok(())
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
