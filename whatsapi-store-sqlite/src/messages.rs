//! Messages: insert, reads, the dispatcher's claim and outcomes, Meta's status updates, manual retry, counters.
//!
//! Every change loads the row, computes the new state with `status::transition`, and writes the row, its
//! timeline entry, the account's status counters and (for sent/delivered/read/failed, when the account has a
//! webhook) its outbox event on the same connection, inside the caller's transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::message::{Pricing, TimelineEntry};
use whatsapi_core::status::{self, Event, MetaStatus, Transition};
use whatsapi_core::store::support::{
    StatusChange, expect_transition, expirable, expiry_change, meta_change, outcome_change,
    record_expiry, record_meta_status, record_outcome_fields, record_pricing, reset_for_retry,
};
use whatsapi_core::store::{
    ClaimLimits, Claimed, FailureInfo, MessageFilter, NewBatch, Outcome, OutcomeRecord, Page,
    PageRequest, StatusApplied, StatusCounts, StatusUpdate, StoreResult,
};
use whatsapi_core::{AccountId, BatchId, Message, MessageId, Recipient, Status, StoreError};

use crate::accounts;
use crate::codec::{count, plus, status, status_code, time, time_opt, ts, ts_opt, u32_of, uuid};
use crate::counters;
use crate::error::{Result, SqliteError};
use crate::outbox;

const SELECT: &str = "SELECT m.seq, m.account, a.id, m.id, m.batch_id, m.recipient, m.content, m.status, \
     m.scheduled_for, m.metadata, m.dry_run, m.wamid, m.attempt, m.tries, m.next_attempt_at, m.lease_until, \
     m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.error_message, m.error_code, m.created_at, m.updated_at, \
     m.due_at, m.meta_error, m.pricing, m.recipient_user_id, m.reply_to, m.expires_at, m.from_number \
     FROM messages m JOIN accounts a ON a.seq = m.account";

/// A message with its row numbers.
pub(crate) struct Stored {
    /// Row number of the message.
    pub(crate) seq: i64,
    /// Row number of its account.
    pub(crate) account: i64,
    /// The message.
    pub(crate) message: Message,
    /// When it becomes claimable (`None`: settled), as stored.
    due_at: Option<i64>,
}

/// Raw column values, decoded outside rusqlite's closure so decoding errors keep their own type.
struct Raw {
    seq: i64,
    account: i64,
    account_id: Vec<u8>,
    id: Vec<u8>,
    batch_id: Option<Vec<u8>>,
    recipient: String,
    content: String,
    status: i64,
    scheduled_for: Option<i64>,
    metadata: Option<String>,
    dry_run: bool,
    wamid: Option<String>,
    attempt: i64,
    tries: i64,
    next_attempt_at: Option<i64>,
    lease_until: Option<i64>,
    sent_at: Option<i64>,
    delivered_at: Option<i64>,
    read_at: Option<i64>,
    failed_at: Option<i64>,
    error_message: Option<String>,
    error_code: Option<i64>,
    created_at: i64,
    updated_at: i64,
    due_at: Option<i64>,
    meta_error: Option<String>,
    pricing: Option<String>,
    recipient_user_id: Option<String>,
    reply_to: Option<String>,
    expires_at: Option<i64>,
    from_number: Option<String>,
}

fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
        seq: r.get(0)?,
        account: r.get(1)?,
        account_id: r.get(2)?,
        id: r.get(3)?,
        batch_id: r.get(4)?,
        recipient: r.get(5)?,
        content: r.get(6)?,
        status: r.get(7)?,
        scheduled_for: r.get(8)?,
        metadata: r.get(9)?,
        dry_run: r.get(10)?,
        wamid: r.get(11)?,
        attempt: r.get(12)?,
        tries: r.get(13)?,
        next_attempt_at: r.get(14)?,
        lease_until: r.get(15)?,
        sent_at: r.get(16)?,
        delivered_at: r.get(17)?,
        read_at: r.get(18)?,
        failed_at: r.get(19)?,
        error_message: r.get(20)?,
        error_code: r.get(21)?,
        created_at: r.get(22)?,
        updated_at: r.get(23)?,
        due_at: r.get(24)?,
        meta_error: r.get(25)?,
        pricing: r.get(26)?,
        recipient_user_id: r.get(27)?,
        reply_to: r.get(28)?,
        expires_at: r.get(29)?,
        from_number: r.get(30)?,
    })
}

impl Raw {
    fn decode(self) -> Result<Stored> {
        let message = Message {
            id: MessageId(uuid(&self.id)?),
            account_id: AccountId(uuid(&self.account_id)?),
            batch_id: self.batch_id.map(|b| uuid(&b).map(BatchId)).transpose()?,
            to: Recipient::from_stored(&self.recipient, self.recipient_user_id.as_deref())
                .ok_or_else(|| {
                    SqliteError::Corrupt(format!(
                        "recipient {:?} / {:?} is neither a phone number nor a user id",
                        self.recipient, self.recipient_user_id
                    ))
                })?,
            content: serde_json::from_str(&self.content)?,
            reply_to: self.reply_to,
            from: self.from_number,
            status: status(self.status)?,
            scheduled_for: time_opt(self.scheduled_for),
            expires_at: time_opt(self.expires_at),
            metadata: self
                .metadata
                .map(|m| serde_json::from_str(&m))
                .transpose()?,
            dry_run: self.dry_run,
            wamid: self.wamid,
            attempt: u32_of(self.attempt),
            tries: u32_of(self.tries),
            next_attempt_at: time_opt(self.next_attempt_at),
            lease_until: time_opt(self.lease_until),
            sent_at: time_opt(self.sent_at),
            delivered_at: time_opt(self.delivered_at),
            read_at: time_opt(self.read_at),
            failed_at: time_opt(self.failed_at),
            error_message: self.error_message,
            error_code: self.error_code,
            meta_error: self
                .meta_error
                .map(|e| serde_json::from_str(&e))
                .transpose()?,
            pricing: self.pricing.map(|p| serde_json::from_str(&p)).transpose()?,
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
            timeline: Vec::new(),
        };
        Ok(Stored {
            seq: self.seq,
            account: self.account,
            message,
            due_at: self.due_at,
        })
    }
}

fn query_one(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Option<Stored>> {
    query(conn, filter, params, true)
}

fn query(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
    with_timeline: bool,
) -> Result<Option<Stored>> {
    let sql = format!("{SELECT} WHERE {filter}");
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params, raw)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let mut stored = row.decode()?;
    if with_timeline {
        stored.message.timeline = timeline(conn, stored.seq)?;
    }
    Ok(Some(stored))
}

/// The messages of a batch (without timelines) whose status is one of `statuses`, in the order inserted.
pub(crate) fn of_batch(
    conn: &Connection,
    batch: BatchId,
    statuses: &[Status],
) -> Result<Vec<Stored>> {
    let codes: Vec<String> = statuses
        .iter()
        .map(|s| status_code(*s).to_string())
        .collect();
    let sql = format!(
        "{SELECT} WHERE m.batch_id = ?1 AND m.status IN ({}) ORDER BY m.seq",
        codes.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let raws = stmt
        .query_map([batch.0.as_bytes()], raw)?
        .collect::<rusqlite::Result<Vec<Raw>>>()?;
    raws.into_iter().map(Raw::decode).collect()
}

/// A message by row number, with its timeline or without.
fn by_seq(conn: &Connection, seq: i64, with_timeline: bool) -> Result<Option<Stored>> {
    query(conn, "m.seq = ?1", [seq], with_timeline)
}

/// A message (with its timeline) by id, of any account.
pub(crate) fn by_id(conn: &Connection, id: MessageId) -> Result<Option<Stored>> {
    query_one(conn, "m.id = ?1", [id.0.as_bytes()])
}

/// A message (with its timeline) of the account.
pub(crate) fn of_account(
    conn: &Connection,
    account: AccountId,
    id: MessageId,
) -> Result<Option<Stored>> {
    query_one(
        conn,
        "m.id = ?1 AND a.id = ?2",
        [id.0.as_bytes(), account.0.as_bytes()],
    )
}

/// The message with this wamid, optionally only of one account.
pub(crate) fn by_wamid(
    conn: &Connection,
    wamid: &str,
    account: Option<AccountId>,
) -> Result<Option<Stored>> {
    match account {
        None => query_one(conn, "m.wamid = ?1", [wamid]),
        Some(a) => query_one(
            conn,
            "m.wamid = ?1 AND a.id = ?2",
            params![wamid, a.0.as_bytes()],
        ),
    }
}

/// The timeline of a message, oldest first.
fn timeline(conn: &Connection, seq: i64) -> Result<Vec<TimelineEntry>> {
    let mut stmt = conn
        .prepare_cached("SELECT status, at, detail FROM timeline WHERE message = ?1 ORDER BY n")?;
    let rows = stmt.query_map([seq], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (s, at, detail) = row?;
        Ok(TimelineEntry {
            status: status(s)?,
            at: time(at),
            detail,
        })
    })
    .collect()
}

/// JSON of a small value of ours (never fails: plain structs of strings, numbers and booleans).
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The mutable columns of a message row with their values, as `save` compares and writes them.
type Columns = [(&'static str, rusqlite::types::Value); 16];

fn columns(m: &Message, due_at: Option<i64>) -> Columns {
    use rusqlite::types::Value as V;
    let int = |v: Option<i64>| v.map_or(V::Null, V::Integer);
    let text = |v: &Option<String>| v.clone().map_or(V::Null, V::Text);
    let json = |v: Option<String>| v.map_or(V::Null, V::Text);
    [
        ("status", V::Integer(status_code(m.status))),
        ("wamid", text(&m.wamid)),
        ("attempt", V::Integer(i64::from(m.attempt))),
        ("tries", V::Integer(i64::from(m.tries))),
        ("next_attempt_at", int(ts_opt(m.next_attempt_at))),
        ("lease_until", int(ts_opt(m.lease_until))),
        ("sent_at", int(ts_opt(m.sent_at))),
        ("delivered_at", int(ts_opt(m.delivered_at))),
        ("read_at", int(ts_opt(m.read_at))),
        ("failed_at", int(ts_opt(m.failed_at))),
        ("error_message", text(&m.error_message)),
        ("error_code", int(m.error_code)),
        ("meta_error", json(m.meta_error.as_ref().map(to_json))),
        ("pricing", json(m.pricing.as_ref().map(to_json))),
        ("due_at", int(due_at)),
        ("expires_at", int(ts_opt(m.expires_at))),
    ]
}

/// Writes the columns of the message that differ from `before`, its `updated_at`, and the time it becomes
/// claimable (`None`: never). Only changed columns are named: SQLite rewrites the entries of every index over a
/// column in the SET list, changed or not, and those index writes were most of the cost of a claim or an outcome.
fn save(
    conn: &Connection,
    s: &mut Stored,
    before: Columns,
    due_at: Option<DateTime<Utc>>,
) -> Result<()> {
    use std::fmt::Write as _;

    use rusqlite::types::Value as V;
    let due_at = ts_opt(due_at);
    let after = columns(&s.message, due_at);
    let mut sql = String::from("UPDATE messages SET updated_at = ?2");
    let mut values: Vec<V> = vec![V::Integer(s.seq), V::Integer(ts(s.message.updated_at))];
    for ((column, old), (_, new)) in before.into_iter().zip(after) {
        if old != new {
            values.push(new);
            let _ = write!(sql, ", {column} = ?{}", values.len());
        }
    }
    sql.push_str(" WHERE seq = ?1");
    conn.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(values))?;
    s.due_at = due_at;
    Ok(())
}

fn add_timeline(conn: &Connection, s: &mut Stored, entry: TimelineEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO timeline (message, n, status, at, detail) \
         VALUES (?1, (SELECT COALESCE(MAX(n), 0) + 1 FROM timeline WHERE message = ?1), ?2, ?3, ?4)",
    )?
    .execute(params![s.seq, status_code(entry.status), ts(entry.at), entry.detail])?;
    s.message.timeline.push(entry);
    Ok(())
}

/// Writes a status change decided by `status::transition` (after `edit`): the row and what
/// [`StatusChange::apply`] says goes with it (counters, timeline entry, outbox event when the account has a webhook).
pub(crate) fn change(
    conn: &Connection,
    s: &mut Stored,
    change: StatusChange,
    edit: impl FnOnce(&mut Message),
) -> Result<()> {
    let before = columns(&s.message, s.due_at);
    let write = change.apply(&mut s.message, edit);
    let at = s.message.updated_at;
    save(conn, s, before, write.due_at)?;
    for (status, delta) in write.counter_deltas {
        counters::bump(conn, s.account, status, delta)?;
    }
    if let Some(entry) = write.timeline {
        add_timeline(conn, s, entry)?;
    }
    if write.announce {
        outbox::emit(conn, s, at)?;
    }
    Ok(())
}

// ---- insert ----

/// Inserts the batch's messages, their first timeline entries and counters, and completes its idempotency record.
pub(crate) fn insert(conn: &Connection, batch: NewBatch) -> Result<()> {
    let account = accounts::require_seq(conn, batch.account_id)?;
    if let Some(done) = &batch.idempotency {
        crate::idempotency::complete(conn, batch.account_id, done)?;
    }
    let mut counts: BTreeMap<Status, i64> = BTreeMap::new();
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (id, account, batch_id, recipient, content, status, scheduled_for, metadata, dry_run, \
         created_at, updated_at, due_at, recipient_user_id, reply_to, expires_at, from_number) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    let mut first = conn.prepare_cached(
        "INSERT INTO timeline (message, n, status, at, detail) VALUES (?1, 1, ?2, ?3, NULL)",
    )?;
    for m in &batch.messages {
        if m.account_id != batch.account_id {
            return Err(StoreError::Conflict(format!(
                "message {} belongs to another account than its batch",
                m.id
            ))
            .into());
        }
        let status = m.initial_status();
        let due = m.send_at.unwrap_or(m.created_at);
        insert
            .execute(params![
                m.id.0.as_bytes(),
                account,
                m.batch_id.map(|b| *b.0.as_bytes()),
                m.to.address(),
                serde_json::to_string(&m.content)?,
                status_code(status),
                ts_opt(m.send_at),
                m.metadata.as_ref().map(serde_json::to_string).transpose()?,
                m.dry_run,
                ts(m.created_at),
                ts(due),
                m.to.user_id().map(|u| u.as_str()),
                m.reply_to.as_deref(),
                ts_opt(m.expires_at),
                m.from.as_deref(),
            ])
            .map_err(|e| match SqliteError::from(e) {
                SqliteError::Store(StoreError::Conflict(_)) => SqliteError::Store(
                    StoreError::Conflict(format!("message {} already exists", m.id)),
                ),
                other => other,
            })?;
        first.execute(params![
            conn.last_insert_rowid(),
            status_code(status),
            ts(m.created_at)
        ])?;
        *counts.entry(status).or_default() += 1;
    }
    for (s, n) in counts {
        counters::bump(conn, account, s, n)?;
    }
    let activities = whatsapi_core::contacts::ContactActivity::of_messages(&batch.messages);
    crate::contacts::record(conn, batch.account_id, &activities)?;
    Ok(())
}

// ---- reads ----

/// One page of the account's messages, newest first, with the total.
pub(crate) fn list(
    conn: &Connection,
    account: AccountId,
    filter: &MessageFilter,
    page: PageRequest,
) -> Result<Page<Message>> {
    let Some(account) = accounts::seq(conn, account)? else {
        return Ok(Page {
            items: Vec::new(),
            total: 0,
        });
    };
    let status_code = filter.status.map(status_code);
    let batch = filter.batch_id.map(|b| *b.0.as_bytes());
    // With a batch, its index is the narrow one: `+` keeps the planner off the account index.
    let mut conditions = vec![if batch.is_some() {
        "+m.account = ?1"
    } else {
        "m.account = ?1"
    }];
    if status_code.is_some() {
        conditions.push("m.status = ?2");
    }
    if batch.is_some() {
        conditions.push("m.batch_id = ?3");
    }
    let filter_sql = conditions.join(" AND ");
    let sql = format!(
        "{SELECT} WHERE {filter_sql} ORDER BY m.created_at DESC, m.id DESC LIMIT ?4 OFFSET ?5"
    );
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut bind = |i: usize, v: &dyn rusqlite::ToSql| stmt.raw_bind_parameter(i, v);
    bind(1, &account)?;
    if let Some(s) = &status_code {
        bind(2, s)?;
    }
    if let Some(b) = &batch {
        bind(3, b)?;
    }
    bind(4, &i64::from(page.limit))?;
    bind(5, &offset)?;
    let mut rows = stmt.raw_query();
    let mut raws = Vec::new();
    while let Some(row) = rows.next()? {
        raws.push(raw(row)?);
    }
    let items = raws
        .into_iter()
        .map(|r| r.decode().map(|s| s.message))
        .collect::<Result<Vec<_>>>()?;
    let total = match (status_code, batch) {
        (None, None) => conn
            .prepare_cached("SELECT COALESCE(SUM(n), 0) FROM status_counts WHERE account = ?1")?
            .query_row([account], |r| r.get::<_, i64>(0))?,
        (Some(s), None) => conn
            .prepare_cached(
                "SELECT COALESCE(MAX(n), 0) FROM status_counts WHERE account = ?1 AND status = ?2",
            )?
            .query_row([account, s], |r| r.get::<_, i64>(0))?,
        (s, Some(b)) => conn
            .prepare_cached(
                "SELECT COUNT(*) FROM messages m WHERE m.batch_id = ?1 AND m.account = ?2 \
                 AND (?3 IS NULL OR m.status = ?3)",
            )?
            .query_row(params![b, account, s], |r| r.get::<_, i64>(0))?,
    };
    Ok(Page {
        items,
        total: count(total),
    })
}

/// Per-status counts of the account, from the counters.
pub(crate) fn status_counts(conn: &Connection, account: AccountId) -> Result<StatusCounts> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.status, c.n FROM status_counts c JOIN accounts a ON a.seq = c.account \
         WHERE a.id = ?1 AND c.n > 0",
    )?;
    let rows = stmt.query_map([account.0.as_bytes()], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    rows.map(|row| {
        let (s, n) = row?;
        Ok((status(s)?, count(n)))
    })
    .collect()
}

/// Messages of the account created in `[from, to)` per time bucket and status (an index range scan).
pub(crate) fn timeseries(
    conn: &Connection,
    account: AccountId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: std::time::Duration,
) -> Result<Vec<(DateTime<Utc>, StatusCounts)>> {
    let width = i64::try_from(bucket.as_nanos()).unwrap_or(i64::MAX).max(1);
    let mut stmt = conn.prepare_cached(
        "SELECT (m.created_at / ?4) * ?4 AS b, m.status, COUNT(*) FROM messages m \
         WHERE m.account = (SELECT seq FROM accounts WHERE id = ?1) AND m.created_at >= ?2 AND m.created_at < ?3 \
         GROUP BY b, m.status ORDER BY b",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![account.0.as_bytes(), ts(from), ts(to), width],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    )?;
    let mut out: Vec<(DateTime<Utc>, StatusCounts)> = Vec::new();
    for row in rows {
        let (b, s, n) = row?;
        let at = time(b);
        if out.last().is_none_or(|(t, _)| *t != at) {
            out.push((at, StatusCounts::new()));
        }
        if let Some((_, counts)) = out.last_mut() {
            counts.insert(status(s)?, count(n));
        }
    }
    Ok(out)
}

/// Per-status counts over every account, from the counters.
pub(crate) fn status_totals(conn: &Connection) -> Result<StatusCounts> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, SUM(n) FROM status_counts GROUP BY status HAVING SUM(n) > 0",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    rows.map(|row| {
        let (s, n) = row?;
        Ok((status(s)?, count(n)))
    })
    .collect()
}

/// The earliest time something becomes due: min over active accounts of max(its earliest due message, the end of
/// its open breaker).
pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    // Accounts without an open breaker (or one that ends before the message is due): the first such row of the
    // due index.
    let closed: Option<i64> = conn
        .prepare_cached(
            "SELECT m.due_at FROM messages m CROSS JOIN accounts a ON a.seq = m.account \
             WHERE m.due_at IS NOT NULL AND a.active = 1 \
             AND (a.breaker_open_until IS NULL OR a.breaker_open_until <= m.due_at) \
             ORDER BY m.due_at LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    // Accounts with a breaker (few): nothing before it ends.
    let paused: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(MAX(a.breaker_open_until, \
               (SELECT MIN(m.due_at) FROM messages m WHERE m.account = a.seq AND m.due_at IS NOT NULL))) \
             FROM accounts a WHERE a.active = 1 AND a.breaker_open_until IS NOT NULL \
             AND EXISTS (SELECT 1 FROM messages m WHERE m.account = a.seq AND m.due_at IS NOT NULL)",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(time_opt(match (closed, paused) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }))
}

// ---- dispatcher ----

/// Claims due messages of active accounts whose breaker is closed, shared round-robin among accounts (see
/// `MessageStore::claim_due_with`). Two steps, each cheap however long one account's backlog is: the accounts with due
/// work (a skip scan of `messages_due_by_account`, one probe per account with due rows), then up to
/// `per_account` oldest due rows of each.
pub(crate) fn claim_due(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: Duration,
    limits: &ClaimLimits,
) -> Result<Vec<Claimed>> {
    let cap = limits.per_account.min(limits.limit);
    if cap == 0 {
        return Ok(Vec::new());
    }
    let accounts: Vec<(i64, Vec<u8>)> = {
        let mut stmt = conn.prepare_cached(
            "WITH RECURSIVE acc(account) AS ( \
               SELECT (SELECT account FROM messages WHERE due_at IS NOT NULL ORDER BY account LIMIT 1) \
               UNION ALL \
               SELECT (SELECT m.account FROM messages m WHERE m.due_at IS NOT NULL AND m.account > acc.account \
                       ORDER BY m.account LIMIT 1) \
               FROM acc WHERE acc.account IS NOT NULL), \
             heads(account, head) AS ( \
               SELECT account, (SELECT m.due_at FROM messages m WHERE m.account = acc.account \
                                AND m.due_at IS NOT NULL ORDER BY m.due_at LIMIT 1) \
               FROM acc WHERE account IS NOT NULL) \
             SELECT a.seq, a.id FROM heads h CROSS JOIN accounts a ON a.seq = h.account \
             WHERE h.head <= ?1 AND a.active = 1 \
             AND (a.breaker_open_until IS NULL OR a.breaker_open_until <= ?1) \
             ORDER BY h.head, a.seq",
        )?;
        stmt.query_map(params![ts(now)], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut candidates = Vec::new();
    let mut picked = 0;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, due_at, id FROM messages WHERE account = ?1 AND due_at <= ?2 \
             ORDER BY due_at, id LIMIT ?3",
        )?;
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        for (account_seq, account_id) in accounts {
            // More accounts than `limit` cannot all be in one claim: those whose oldest is oldest are.
            if picked == limits.limit {
                break;
            }
            let account = AccountId(uuid(&account_id)?);
            if limits.skip.contains(&account) {
                continue;
            }
            picked += 1;
            let rows = stmt.query_map(params![account_seq, ts(now), cap], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?;
            for row in rows {
                let (seq, due, id) = row?;
                candidates.push((account, time(due), MessageId(uuid(&id)?), seq));
            }
        }
    }
    let seqs = limits.round_robin(candidates);
    let lease_until = plus(now, lease);
    let mut claimed = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let Some(mut s) = by_seq(conn, seq, false)? else {
            continue;
        };
        let to = expect_transition(s.message.status, Event::Claim)?;
        change(
            conn,
            &mut s,
            StatusChange {
                to,
                at: now,
                timeline: false,
                detail: None,
                due_at: Some(lease_until),
            },
            |m| {
                m.attempt += 1;
                m.tries += 1;
                m.lease_until = Some(lease_until);
                m.next_attempt_at = None;
            },
        )?;
        claimed.push(Claimed {
            message: s.message,
            lease_until,
        });
    }
    Ok(claimed)
}

/// Records the outcome of attempt `attempt` of message `id`.
pub(crate) fn record_outcome(
    conn: &Connection,
    id: MessageId,
    attempt: u32,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<Message> {
    let mut s = by_id(conn, id)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
    if s.message.status != Status::Processing || s.message.attempt != attempt {
        return Err(StoreError::Stale.into());
    }
    if let Outcome::Sent { wamid } = &outcome {
        let owner: Option<Vec<u8>> = conn
            .prepare_cached("SELECT id FROM messages WHERE wamid = ?1 AND seq <> ?2")?
            .query_row(params![wamid, s.seq], |r| r.get(0))
            .optional()?;
        if let Some(other) = owner {
            return Err(StoreError::Conflict(format!(
                "wamid {wamid} already belongs to message {}",
                uuid(&other)?
            ))
            .into());
        }
    }
    let c = outcome_change(s.message.status, &outcome, now)?;
    change(conn, &mut s, c, |m| record_outcome_fields(m, &outcome, now))?;
    if let Outcome::Sent { wamid } = &outcome {
        if !s.message.dry_run {
            counters::count_sent(conn, s.account)?;
        }
        apply_pending(conn, &mut s, wamid)?;
    }
    Ok(s.message)
}

/// Records a batch of outcomes in order, each as [`record_outcome`] does, in the writer's transaction: an item
/// refused before it changed anything (stale, unknown, its wamid taken) is answered alone and the others go on;
/// any other failure fails the whole batch (the writer then rolls its transaction back).
pub(crate) fn record_outcomes(
    conn: &Connection,
    batch: &[OutcomeRecord],
    now: DateTime<Utc>,
) -> Result<Vec<StoreResult<()>>> {
    let mut answers = Vec::with_capacity(batch.len());
    for item in batch {
        let before = conn.total_changes();
        match record_outcome(conn, item.id, item.attempt, item.outcome.clone(), now) {
            Ok(_) => answers.push(Ok(())),
            Err(SqliteError::Store(e)) if conn.total_changes() == before => answers.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(answers)
}

/// Applies the statuses that arrived for `wamid` before its send was recorded, oldest first.
fn apply_pending(conn: &Connection, s: &mut Stored, wamid: &str) -> Result<()> {
    type Row = (
        i64,
        String,
        i64,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let pending: Vec<Row> = {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, status, at, error_message, error_code, meta_error, pricing FROM pending_statuses \
             WHERE wamid = ?1 AND (account IS NULL OR account = ?2) ORDER BY at, seq",
        )?;
        stmt.query_map(params![wamid, s.message.account_id.0.as_bytes()], |r| {
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
    for (seq, name, at, error_message, error_code, meta_error, pricing) in pending {
        let meta = MetaStatus::parse(&name)
            .ok_or_else(|| SqliteError::Corrupt(format!("pending status '{name}'")))?;
        let meta_error = meta_error.map(|e| serde_json::from_str(&e)).transpose()?;
        let error = error_message.map(|message| FailureInfo {
            message,
            code: error_code,
            meta: meta_error,
        });
        let pricing: Option<Pricing> = pricing.map(|p| serde_json::from_str(&p)).transpose()?;
        apply_meta(conn, s, meta, time(at), error.as_ref(), pricing.as_ref())?;
        conn.prepare_cached("DELETE FROM pending_statuses WHERE seq = ?1")?
            .execute([seq])?;
    }
    Ok(())
}

// ---- Meta's statuses ----

fn apply_meta(
    conn: &Connection,
    s: &mut Stored,
    meta: MetaStatus,
    at: DateTime<Utc>,
    error: Option<&FailureInfo>,
    pricing: Option<&Pricing>,
) -> Result<StatusApplied> {
    // Pricing is kept from any status that carries it, whether or not the status moves the message.
    if record_pricing(&mut s.message, pricing) {
        conn.prepare_cached("UPDATE messages SET pricing = ?2 WHERE seq = ?1")?
            .execute(params![s.seq, s.message.pricing.as_ref().map(to_json)])?;
    }
    let Some(c) = meta_change(s.message.status, meta, at, error) else {
        return Ok(StatusApplied::Ignored(s.message.id));
    };
    let to = c.to;
    change(conn, s, c, |m| record_meta_status(m, meta, at, error))?;
    Ok(StatusApplied::Applied(s.message.id, to))
}

/// Applies Meta's statuses in order; unknown wamids are kept for later.
pub(crate) fn apply_status_updates(
    conn: &Connection,
    updates: &[StatusUpdate],
    now: DateTime<Utc>,
    max_pending_per_account: usize,
) -> Result<Vec<StatusApplied>> {
    let mut results = Vec::with_capacity(updates.len());
    let mut grown = BTreeSet::new();
    for u in updates {
        match by_wamid(conn, &u.wamid, u.account_id)? {
            Some(mut s) => results.push(apply_meta(
                conn,
                &mut s,
                u.status,
                u.at,
                u.error.as_ref(),
                u.pricing.as_ref(),
            )?),
            None => {
                conn.prepare_cached(
                    "INSERT INTO pending_statuses \
                     (account, wamid, status, at, error_message, error_code, received_at, meta_error, pricing) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    u.account_id.map(|a| *a.0.as_bytes()),
                    u.wamid,
                    u.status.status().as_str(),
                    ts(u.at),
                    u.error.as_ref().map(|e| e.message.as_str()),
                    u.error.as_ref().and_then(|e| e.code),
                    ts(now),
                    u.error.as_ref().and_then(|e| e.meta.as_ref()).map(to_json),
                    u.pricing.as_ref().map(to_json),
                ])?;
                grown.insert(u.account_id);
                results.push(StatusApplied::Pending);
            }
        }
    }
    for account in grown {
        cap_pending(conn, account, max_pending_per_account)?;
    }
    Ok(results)
}

/// Drops the account's earliest received pending statuses beyond the `max` latest (`IS` also matches the rows
/// without an account, which share one limit).
fn cap_pending(conn: &Connection, account: Option<AccountId>, max: usize) -> Result<()> {
    let account = account.map(|a| *a.0.as_bytes());
    let dropped = conn
        .prepare_cached(
            "DELETE FROM pending_statuses WHERE account IS ?1 AND seq <= \
             (SELECT seq FROM pending_statuses WHERE account IS ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        )?
        .execute(params![account, i64::try_from(max).unwrap_or(i64::MAX)])?;
    if dropped > 0 {
        tracing::warn!(
            account_id = ?account.map(uuid::Uuid::from_bytes),
            dropped,
            "too many statuses for unknown wamids: the earliest received are dropped"
        );
    }
    Ok(())
}

/// Re-queues a failed message of the account; the failed send's wamid, timestamps and error are cleared.
pub(crate) fn retry(
    conn: &Connection,
    account: AccountId,
    id: MessageId,
    now: DateTime<Utc>,
) -> Result<Message> {
    let mut s = of_account(conn, account, id)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
    let current = s.message.status;
    let Transition::To(to) = status::transition(current, Event::ManualRetry) else {
        return Err(StoreError::Conflict(format!(
            "message is {current}; only failed messages can be retried"
        ))
        .into());
    };
    change(
        conn,
        &mut s,
        StatusChange {
            to,
            at: now,
            timeline: true,
            detail: None,
            due_at: Some(now),
        },
        |m| reset_for_retry(m, now),
    )?;
    Ok(s.message)
}

/// Fails up to `limit` messages whose validity period ended at `now` and that nobody is sending, earliest expiry
/// first, each written as every status change is (see `MessageStore::expire_messages`); in the caller's
/// transaction, one row at a time as every change of this store (one process, no round trips).
pub(crate) fn expire(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<MessageId>> {
    let seqs: Vec<i64> = {
        let mut stmt = conn.prepare_cached(
            // `messages_expiry` holds the unsettled rows (status codes 0 to 3, a paused campaign's held ones with
            // them) that have an expiry.
            "SELECT seq FROM messages WHERE expires_at IS NOT NULL AND status <= 3 AND expires_at <= ?1 \
             AND (status <> ?2 OR due_at <= ?1) ORDER BY expires_at, seq LIMIT ?3",
        )?;
        stmt.query_map(
            params![
                ts(now),
                status_code(Status::Processing),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut failed = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let Some(mut s) = by_seq(conn, seq, false)? else {
            continue;
        };
        if !expirable(&s.message, now) {
            continue;
        }
        let c = expiry_change(&s.message, now)?;
        change(conn, &mut s, c, |m| record_expiry(m, now))?;
        failed.push(s.message.id);
    }
    Ok(failed)
}

/// The account's latest `limit` messages to this phone number or BSUID (as the address or as the recipient's
/// user id), newest first, without timelines: one index range per identifier, merged.
pub(crate) fn of_contact(
    conn: &Connection,
    account: AccountId,
    phone: Option<&str>,
    user_id: Option<&str>,
    limit: u32,
) -> Result<Vec<Message>> {
    let Some(account) = accounts::seq(conn, account)? else {
        return Ok(Vec::new());
    };
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    let mut read = |column: &str, value: &str| -> Result<()> {
        let sql = format!(
            "{SELECT} WHERE m.account = ?1 AND m.{column} = ?2 ORDER BY m.created_at DESC, m.id DESC LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![account, value, i64::from(limit)])?;
        while let Some(row) = rows.next()? {
            let m = raw(row)?.decode()?.message;
            if seen.insert(m.id) {
                found.push(m);
            }
        }
        Ok(())
    };
    if let Some(p) = phone {
        read("recipient", p)?;
    }
    if let Some(u) = user_id {
        read("recipient", u)?;
        read("recipient_user_id", u)?;
    }
    found.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
    found.truncate(limit as usize);
    Ok(found)
}
