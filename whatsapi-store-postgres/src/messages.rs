//! Messages: insert, reads, the dispatcher's claim and outcomes, Meta's status updates, manual retry, counters.
//!
//! Every change locks the message row, computes the new state with `status::transition`, and writes the row, its
//! timeline entry, the account's status counters and (for sent/delivered/read/failed, when the account has a
//! webhook) its outbox event inside the caller's transaction. Counter updates are collected in [`Effects`] and
//! written at the end of the transaction in one statement, into one shard of the counters (see
//! [`crate::counters`]) with each table's rows in key order: concurrent transactions of one account rarely meet on
//! a counter row, and when they do they lock in the same order and cannot deadlock on them.
//!
//! Inserting a batch (a send, or a bulk send of up to 1,000 messages) is a single statement, whatever its size,
//! run without a transaction around it: one round trip (see [`insert`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;
use whatsapi_core::idempotency::RETENTION;
use whatsapi_core::message::{Pricing, TimelineEntry};
use whatsapi_core::status::{self, Event, MetaStatus, Transition};
use whatsapi_core::store::support::{
    StatusChange, expect_transition, meta_change, outcome_change, record_meta_status,
    record_outcome_fields, record_pricing, reset_for_retry,
};
use whatsapi_core::store::{
    ClaimLimits, Claimed, FailureInfo, MessageFilter, NewBatch, Outcome, Page, PageRequest,
    StatusApplied, StatusCounts, StatusUpdate,
};
use whatsapi_core::webhook::EventType;
use whatsapi_core::{AccountId, BatchId, Message, MessageId, Recipient, Status, StoreError};

use crate::accounts;
use crate::codec::{count, minus, plus, status, status_code, time, time_opt, ts, ts_opt, u32_of};
use crate::db::Db;
use crate::error::{PostgresError, Result};
use crate::outbox;

const COLUMNS: &str = "m.seq, m.account, a.id, m.id, m.batch_id, m.recipient, m.content, m.status, \
     m.scheduled_for, m.metadata, m.dry_run, m.wamid, m.attempt, m.tries, m.next_attempt_at, m.lease_until, \
     m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.error_message, m.error_code, m.created_at, m.updated_at, \
     m.meta_error, m.pricing, m.recipient_user_id, m.reply_to, m.expires_at, m.from_number";

/// A message with its row numbers.
pub(crate) struct Stored {
    /// Row number of the message.
    pub(crate) seq: i64,
    /// Row number of its account.
    pub(crate) account: i64,
    /// The message.
    pub(crate) message: Message,
}

/// Decodes the columns of [`COLUMNS`] starting at `o`.
fn decode(r: &Row, o: usize) -> Result<Stored> {
    let recipient: String = r.try_get(o + 5)?;
    let user_id: Option<String> = r.try_get(o + 26)?;
    let content: String = r.try_get(o + 6)?;
    let metadata: Option<String> = r.try_get(o + 9)?;
    let batch_id: Option<Uuid> = r.try_get(o + 4)?;
    let message = Message {
        id: MessageId(r.try_get(o + 3)?),
        account_id: AccountId(r.try_get(o + 2)?),
        batch_id: batch_id.map(BatchId),
        to: Recipient::from_stored(&recipient, user_id.as_deref()).ok_or_else(|| {
            PostgresError::Corrupt(format!(
                "recipient {recipient:?} / {user_id:?} is neither a phone number nor a user id"
            ))
        })?,
        content: serde_json::from_str(&content)?,
        reply_to: r.try_get(o + 27)?,
        from: r.try_get(o + 29)?,
        status: status(r.try_get(o + 7)?)?,
        scheduled_for: time_opt(r.try_get(o + 8)?),
        expires_at: time_opt(r.try_get(o + 28)?),
        metadata: metadata.map(|m| serde_json::from_str(&m)).transpose()?,
        dry_run: r.try_get(o + 10)?,
        wamid: r.try_get(o + 11)?,
        attempt: u32_of(r.try_get(o + 12)?),
        tries: u32_of(r.try_get(o + 13)?),
        next_attempt_at: time_opt(r.try_get(o + 14)?),
        lease_until: time_opt(r.try_get(o + 15)?),
        sent_at: time_opt(r.try_get(o + 16)?),
        delivered_at: time_opt(r.try_get(o + 17)?),
        read_at: time_opt(r.try_get(o + 18)?),
        failed_at: time_opt(r.try_get(o + 19)?),
        error_message: r.try_get(o + 20)?,
        error_code: r.try_get(o + 21)?,
        meta_error: r
            .try_get::<_, Option<String>>(o + 24)?
            .map(|e| serde_json::from_str(&e))
            .transpose()?,
        pricing: r
            .try_get::<_, Option<String>>(o + 25)?
            .map(|p| serde_json::from_str(&p))
            .transpose()?,
        created_at: time(r.try_get(o + 22)?),
        updated_at: time(r.try_get(o + 23)?),
        timeline: Vec::new(),
    };
    Ok(Stored {
        seq: r.try_get(o)?,
        account: r.try_get(o + 1)?,
        message,
    })
}

/// How a single-message lookup reads the row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// A plain read.
    None,
    /// Locks the message row until the transaction ends (every write path).
    ForUpdate,
}

async fn query_one(
    db: &dyn Db,
    filter: &str,
    params: crate::db::Params<'_>,
    lock: Lock,
) -> Result<Option<Stored>> {
    let suffix = match lock {
        Lock::None => "",
        Lock::ForUpdate => " FOR UPDATE OF m",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m JOIN accounts a ON a.seq = m.account WHERE {filter}{suffix}"
    );
    let Some(row) = db.opt(&sql, params).await? else {
        return Ok(None);
    };
    let mut stored = decode(&row, 0)?;
    stored.message.timeline = timeline(db, stored.seq).await?;
    Ok(Some(stored))
}

/// A message (with its timeline) by id, of any account, locked.
async fn by_id_for_update(db: &dyn Db, id: MessageId) -> Result<Option<Stored>> {
    query_one(db, "m.id = $1", &[&id.0], Lock::ForUpdate).await
}

/// A message (with its timeline) of the account.
pub(crate) async fn of_account(
    db: &dyn Db,
    account: AccountId,
    id: MessageId,
) -> Result<Option<Stored>> {
    query_one(
        db,
        "m.id = $1 AND a.id = $2",
        &[&id.0, &account.0],
        Lock::None,
    )
    .await
}

/// The message with this wamid.
pub(crate) async fn by_wamid(db: &dyn Db, wamid: &str) -> Result<Option<Stored>> {
    query_one(db, "m.wamid = $1", &[&wamid], Lock::None).await
}

/// The message with this wamid, optionally only of one account, locked.
async fn by_wamid_for_update(
    db: &dyn Db,
    wamid: &str,
    account: Option<AccountId>,
) -> Result<Option<Stored>> {
    match account {
        None => query_one(db, "m.wamid = $1", &[&wamid], Lock::ForUpdate).await,
        Some(a) => {
            query_one(
                db,
                "m.wamid = $1 AND a.id = $2",
                &[&wamid, &a.0],
                Lock::ForUpdate,
            )
            .await
        }
    }
}

/// The timeline of a message, oldest first.
async fn timeline(db: &dyn Db, seq: i64) -> Result<Vec<TimelineEntry>> {
    db.rows(
        "SELECT status, at, detail FROM timeline WHERE message = $1 ORDER BY n",
        &[&seq],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(TimelineEntry {
            status: status(r.try_get(0)?)?,
            at: time(r.try_get(1)?),
            detail: r.try_get(2)?,
        })
    })
    .collect()
}

/// What a transaction owes at its end: counter deltas, Meta sends to count, whether to wake the dispatchers of
/// every replica; and which accounts have a webhook (read once per transaction).
#[derive(Default)]
pub(crate) struct Effects {
    counts: BTreeMap<(i64, i16), i64>,
    sent: BTreeMap<i64, i64>,
    /// Per account, where a `message.status_updated` event goes (see [`outbox::destinations`]).
    destinations: HashMap<i64, Vec<Option<i64>>>,
    /// Messages became due now (queued again or inserted): other replicas should look.
    pub(crate) wake: bool,
}

impl Effects {
    fn bump(&mut self, account: i64, s: Status, delta: i64) {
        *self.counts.entry((account, status_code(s))).or_default() += delta;
    }

    /// Counts one message Meta accepted for the account (`messages_sent`).
    fn count_sent(&mut self, account: i64) {
        *self.sent.entry(account).or_default() += 1;
    }

    async fn destinations(&mut self, db: &dyn Db, account: i64) -> Result<Vec<Option<i64>>> {
        if let Some(d) = self.destinations.get(&account) {
            return Ok(d.clone());
        }
        let d = outbox::destinations(db, account, EventType::StatusUpdated).await?;
        self.destinations.insert(account, d.clone());
        Ok(d)
    }

    /// Writes the counters and the sent counts into one shard (see [`crate::counters`]), each table's rows in key
    /// order, in one statement; the caller commits. Answers whether the other replicas should be woken once the
    /// transaction committed (the store's [`crate::listen::Waker`] does it, outside the transaction).
    pub(crate) async fn flush(self, db: &dyn Db) -> Result<bool> {
        let (mut accounts, mut statuses, mut deltas) = (Vec::new(), Vec::new(), Vec::new());
        for ((a, s), d) in self.counts {
            if d != 0 {
                accounts.push(a);
                statuses.push(s);
                deltas.push(d);
            }
        }
        let (mut sent_accounts, mut sent) = (Vec::new(), Vec::new());
        for (a, n) in self.sent {
            if n != 0 {
                sent_accounts.push(a);
                sent.push(n);
            }
        }
        if accounts.is_empty() && sent_accounts.is_empty() {
            return Ok(self.wake);
        }
        db.exec(
            "WITH counts AS ( \
               INSERT INTO status_counts (account, status, shard, n) \
               SELECT a, s, $4::int2, d FROM unnest($1::int8[], $2::int2[], $3::int8[]) AS t(a, s, d) ORDER BY a, s \
               ON CONFLICT (account, status, shard) DO UPDATE SET n = status_counts.n + excluded.n), \
             sent AS ( \
               INSERT INTO sent_counts (account, shard, n) \
               SELECT a, $4::int2, d FROM unnest($5::int8[], $6::int8[]) AS t(a, d) ORDER BY a \
               ON CONFLICT (account, shard) DO UPDATE SET n = sent_counts.n + excluded.n) \
             SELECT 1",
            &[
                &accounts,
                &statuses,
                &deltas,
                &crate::counters::next_shard(),
                &sent_accounts,
                &sent,
            ],
        )
        .await?;
        Ok(self.wake)
    }
}

/// Writes every mutable column of the message back, with the time it becomes claimable (`None`: never).
async fn save(db: &dyn Db, s: &Stored, due_at: Option<DateTime<Utc>>) -> Result<()> {
    let m = &s.message;
    db.exec(
        "UPDATE messages SET status = $2, wamid = $3, attempt = $4, tries = $5, next_attempt_at = $6, \
         lease_until = $7, sent_at = $8, delivered_at = $9, read_at = $10, failed_at = $11, error_message = $12, \
         error_code = $13, updated_at = $14, due_at = $15, meta_error = $16, pricing = $17, expires_at = $18 \
         WHERE seq = $1",
        &[
            &s.seq,
            &status_code(m.status),
            &m.wamid,
            &i64::from(m.attempt),
            &i64::from(m.tries),
            &ts_opt(m.next_attempt_at),
            &ts_opt(m.lease_until),
            &ts_opt(m.sent_at),
            &ts_opt(m.delivered_at),
            &ts_opt(m.read_at),
            &ts_opt(m.failed_at),
            &m.error_message,
            &m.error_code,
            &ts(m.updated_at),
            &ts_opt(due_at),
            &m.meta_error.as_ref().map(serde_json::to_string).transpose()?,
            &m.pricing.as_ref().map(serde_json::to_string).transpose()?,
            &ts_opt(m.expires_at),
        ],
    )
    .await?;
    Ok(())
}

async fn add_timeline(db: &dyn Db, s: &mut Stored, entry: TimelineEntry) -> Result<()> {
    // The message row is locked by this transaction, so the next `n` cannot race.
    db.exec(
        "INSERT INTO timeline (message, n, status, at, detail) \
         VALUES ($1, (SELECT COALESCE(MAX(n), 0) + 1 FROM timeline WHERE message = $1), $2, $3, $4)",
        &[&s.seq, &status_code(entry.status), &ts(entry.at), &entry.detail],
    )
    .await?;
    s.message.timeline.push(entry);
    Ok(())
}

/// Writes a status change decided by `status::transition` (after `edit`): the row and what
/// [`StatusChange::apply`] says goes with it (counters, timeline entry, outbox event when the account has a webhook).
async fn change(
    db: &dyn Db,
    fx: &mut Effects,
    s: &mut Stored,
    change: StatusChange,
    edit: impl FnOnce(&mut Message),
) -> Result<()> {
    let write = change.apply(&mut s.message, edit);
    let at = s.message.updated_at;
    save(db, s, write.due_at).await?;
    for (status, delta) in write.counter_deltas {
        fx.bump(s.account, status, delta);
    }
    if let Some(entry) = write.timeline {
        add_timeline(db, s, entry).await?;
    }
    if write.announce {
        let destinations = fx.destinations(db, s.account).await?;
        outbox::emit(db, s, at, &destinations).await?;
    }
    Ok(())
}

/// Serialises, across connections, the writers that match a wamid: a Meta status for it and the send that
/// records it. Whichever comes second sees what the first committed, so an early status is never stranded.
/// The locks are taken in sorted order, in one statement (a function scan yields the array in order), so two
/// writers of overlapping wamids never wait for each other in a cycle.
async fn lock_wamids(db: &dyn Db, wamids: &[&str]) -> Result<()> {
    let mut sorted: Vec<&str> = wamids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.is_empty() {
        return Ok(());
    }
    db.exec(
        "SELECT pg_advisory_xact_lock(hashtextextended('whatsapi:wamid:' || w, 0)) \
         FROM unnest($1::text[]) WITH ORDINALITY AS t(w, o) ORDER BY o",
        &[&sorted],
    )
    .await?;
    Ok(())
}

// ---- insert ----

/// The bulk insert, one statement over arrays (see [`insert`]). `$1` account id; `$2`–`$13` the messages' columns;
/// `$14`–`$16` the recipients (phone, BSUID, latest message); `$17`–`$21` the idempotency completion (key,
/// fingerprint, response, created, expires; the key NULL without one); `$22` the counter shard; `$23` what
/// marks a finished idempotency record; `$24` the messages' expiries. Everything is gated on `ok` (the account exists and the idempotency key held no finished
/// response), so a refused batch writes nothing. The idempotency key's advisory lock is taken (in `lock`) before
/// its row is written, as in [`crate::idempotency`], and `ON CONFLICT DO UPDATE` sees the latest committed record.
/// A BSUID-only recipient joins the conversation already known with that BSUID (the lowest key), as
/// `merge_activities` does; contacts are written in byte order of their keys, like `contacts::record`.
const INSERT_BATCH: &str = "\
WITH acc AS (SELECT seq FROM accounts WHERE id = $1::uuid), \
lock AS ( \
  SELECT pg_advisory_xact_lock(hashtextextended('whatsapi:idempotency:' || $1::uuid::text || ':' || $17::text, 0)) \
  FROM acc WHERE $17::text IS NOT NULL), \
idem AS ( \
  INSERT INTO idempotency AS i (account, key, fingerprint, response_status, response_body, created_at, \
    locked_until, expires_at) \
  SELECT $1::uuid, $17::text, $18::bytea, $23::int8, $19::text, $20::int8, $20::int8, $21::int8 FROM lock \
  ON CONFLICT (account, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
    response_status = excluded.response_status, response_body = excluded.response_body, \
    locked_until = excluded.locked_until, expires_at = excluded.expires_at \
  WHERE i.response_status IS NULL OR i.response_body IS NULL \
  RETURNING 1), \
ok AS (SELECT seq FROM acc WHERE $17::text IS NULL OR EXISTS (SELECT 1 FROM idem)), \
msgs AS ( \
  INSERT INTO messages (id, account, batch_id, recipient, content, status, scheduled_for, metadata, dry_run, \
    created_at, updated_at, due_at, recipient_user_id, reply_to, expires_at, from_number) \
  SELECT t.id, ok.seq, t.batch_id, t.recipient, t.content, t.status, t.scheduled_for, t.metadata, t.dry_run, \
    t.created_at, t.created_at, t.due_at, t.recipient_user_id, t.reply_to, t.expires_at, t.from_number \
  FROM ok CROSS JOIN unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int2[], $7::int8[], $8::text[], \
    $9::bool[], $10::int8[], $11::int8[], $12::text[], $13::text[], $24::int8[], $25::text[]) WITH ORDINALITY \
    AS t(id, batch_id, recipient, content, status, scheduled_for, metadata, dry_run, created_at, due_at, \
    recipient_user_id, reply_to, expires_at, from_number, ord) \
  ORDER BY t.ord \
  RETURNING seq, account, status, created_at), \
tl AS ( \
  INSERT INTO timeline (message, n, status, at, detail) SELECT seq, 1, status, created_at, NULL FROM msgs), \
counts AS ( \
  INSERT INTO status_counts (account, status, shard, n) \
  SELECT account, status, $22::int2, count(*) FROM msgs GROUP BY account, status ORDER BY account, status \
  ON CONFLICT (account, status, shard) DO UPDATE SET n = status_counts.n + excluded.n), \
acts AS ( \
  SELECT a.phone, a.user_id, a.at, a.ord FROM unnest($14::text[], $15::text[], $16::int8[]) WITH ORDINALITY \
    AS a(phone, user_id, at, ord) \
  WHERE a.phone IS NOT NULL OR a.user_id IS NOT NULL), \
keyed AS ( \
  SELECT COALESCE(a.phone, \
      (SELECT min(c.key) FROM contacts c WHERE c.account = $1::uuid AND c.user_id = a.user_id), a.user_id) AS key, \
    a.phone, a.user_id, a.at, a.ord FROM acts a), \
merged AS ( \
  SELECT key, max(phone) AS phone, \
    (array_agg(user_id ORDER BY ord DESC) FILTER (WHERE user_id IS NOT NULL))[1] AS user_id, max(at) AS at \
  FROM keyed GROUP BY key), \
contact AS ( \
  INSERT INTO contacts AS c (account, key, phone, user_id, profile_name, last_inbound_at, last_message_at, \
    activity_at) \
  SELECT $1::uuid, m.key, m.phone, m.user_id, NULL, NULL, m.at, m.at FROM ok CROSS JOIN merged m \
  ORDER BY m.key COLLATE \"C\" \
  ON CONFLICT (account, key) DO UPDATE SET \
    phone = COALESCE(c.phone, EXCLUDED.phone), \
    user_id = COALESCE(EXCLUDED.user_id, c.user_id), \
    profile_name = COALESCE(EXCLUDED.profile_name, c.profile_name), \
    last_inbound_at = GREATEST(c.last_inbound_at, EXCLUDED.last_inbound_at), \
    last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at), \
    activity_at = GREATEST(c.activity_at, EXCLUDED.activity_at)) \
SELECT EXISTS (SELECT 1 FROM acc), EXISTS (SELECT 1 FROM ok)";

/// Inserts the batch's messages with their first timeline entries, adds them to the status counters (one shard,
/// see [`crate::counters`]), records the activity of their conversations, completes the batch's idempotency
/// record: all in one statement (data-modifying CTEs over arrays),
/// whatever the number of messages. A single statement is atomic on its own, so the store runs it outside an
/// explicit transaction: a `POST /messages/bulk` of 1,000 items is one round trip to PostgreSQL (plus, on the
/// first use of a pooled connection, the one that prepares the statement for it).
pub(crate) async fn insert(db: &dyn Db, batch: &NewBatch) -> Result<()> {
    let n = batch.messages.len();
    let mut ids = Vec::with_capacity(n);
    let mut batch_ids = Vec::with_capacity(n);
    let mut recipients = Vec::with_capacity(n);
    let mut user_ids = Vec::with_capacity(n);
    let mut replies = Vec::with_capacity(n);
    let mut froms = Vec::with_capacity(n);
    let mut contents = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut scheduled = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut dry_runs = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut due = Vec::with_capacity(n);
    let mut expires = Vec::with_capacity(n);
    for m in &batch.messages {
        if m.account_id != batch.account_id {
            return Err(StoreError::Conflict(format!(
                "message {} belongs to another account than its batch",
                m.id
            ))
            .into());
        }
        ids.push(m.id.0);
        batch_ids.push(m.batch_id.map(|b| b.0));
        recipients.push(m.to.address().to_owned());
        user_ids.push(m.to.user_id().map(|u| u.as_str().to_owned()));
        replies.push(m.reply_to.clone());
        froms.push(m.from.clone());
        contents.push(serde_json::to_string(&m.content)?);
        statuses.push(status_code(m.initial_status()));
        scheduled.push(ts_opt(m.send_at));
        metadata.push(m.metadata.as_ref().map(serde_json::to_string).transpose()?);
        dry_runs.push(m.dry_run);
        created.push(ts(m.created_at));
        due.push(ts(m.send_at.unwrap_or(m.created_at)));
        expires.push(ts_opt(m.expires_at));
    }
    // One activity per recipient, in `ContactRef` order (what `merge_activities` iterates).
    let activities = whatsapi_core::contacts::ContactActivity::of_messages(&batch.messages);
    let (mut phones, mut users, mut at) = (Vec::new(), Vec::new(), Vec::new());
    for a in &activities {
        phones.push(a.who.phone.as_ref().map(|p| p.as_str().to_owned()));
        users.push(a.who.user_id.as_ref().map(|u| u.as_str().to_owned()));
        at.push(ts(a.at));
    }
    let done = batch.idempotency.as_ref();
    let key = done.map(|d| d.key.as_str());
    let fingerprint = done.map(|d| &d.fingerprint.0[..]);
    let response = done
        .map(|d| serde_json::to_string(&d.response.0))
        .transpose()?;
    // A completion without a reservation (the caller skipped `begin`) starts its record now.
    let since = done.map(|d| ts(minus(d.expires_at, RETENTION)));
    let key_expires = done.map(|d| ts(d.expires_at));
    let row = db
        .one(
            INSERT_BATCH,
            &[
                &batch.account_id.0,
                &ids,
                &batch_ids,
                &recipients,
                &contents,
                &statuses,
                &scheduled,
                &metadata,
                &dry_runs,
                &created,
                &due,
                &user_ids,
                &replies,
                &phones,
                &users,
                &at,
                &key,
                &fingerprint,
                &response,
                &since,
                &key_expires,
                &crate::counters::next_shard(),
                &crate::idempotency::FINISHED,
                &expires,
                &froms,
            ],
        )
        .await
        .map_err(|e| match e {
            PostgresError::UniqueViolation(what) if what.contains("messages_id_key") => {
                PostgresError::Store(StoreError::Conflict(
                    "a message with one of these ids already exists".into(),
                ))
            }
            other => other,
        })?;
    let (found, ok): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
    if !found {
        return Err(StoreError::NotFound.into());
    }
    if !ok {
        return Err(StoreError::Conflict(format!(
            "the idempotency key '{}' already holds a finished response",
            key.unwrap_or_default()
        ))
        .into());
    }
    Ok(())
}

// ---- reads ----

/// One page of the account's messages, newest first, with the total.
pub(crate) async fn list(
    db: &dyn Db,
    account: AccountId,
    filter: &MessageFilter,
    page: PageRequest,
) -> Result<Page<Message>> {
    let Some(account) = accounts::seq(db, account).await? else {
        return Ok(Page {
            items: Vec::new(),
            total: 0,
        });
    };
    let status_code = filter.status.map(status_code);
    let batch = filter.batch_id.map(|b| b.0);
    let limit = i64::from(page.limit);
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    // One statement per filter shape, so each gets the plan of its own index.
    let status_filter = if status_code.is_some() {
        "m.status = $2"
    } else {
        "$2::int2 IS NULL"
    };
    let batch_filter = if batch.is_some() {
        "m.batch_id = $3"
    } else {
        "$3::uuid IS NULL"
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m JOIN accounts a ON a.seq = m.account \
         WHERE m.account = $1 AND {status_filter} AND {batch_filter} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT $4 OFFSET $5"
    );
    let items = db
        .rows(&sql, &[&account, &status_code, &batch, &limit, &offset])
        .await?
        .iter()
        .map(|r| decode(r, 0).map(|s| s.message))
        .collect::<Result<Vec<_>>>()?;
    let total: i64 = match (status_code, batch) {
        // The counters' shards summed.
        (None, None) => db
            .one(
                "SELECT COALESCE(SUM(n), 0)::int8 FROM status_counts WHERE account = $1",
                &[&account],
            )
            .await?
            .try_get(0)?,
        (Some(s), None) => db
            .one(
                "SELECT COALESCE(SUM(n), 0)::int8 FROM status_counts WHERE account = $1 AND status = $2",
                &[&account, &s],
            )
            .await?
            .try_get(0)?,
        (s, Some(b)) => db
            .one(
                "SELECT COUNT(*) FROM messages m WHERE m.batch_id = $1 AND m.account = $2 \
                 AND ($3::int2 IS NULL OR m.status = $3)",
                &[&b, &account, &s],
            )
            .await?
            .try_get(0)?,
    };
    Ok(Page {
        items,
        total: count(total),
    })
}

fn counts_of(rows: &[Row]) -> Result<StatusCounts> {
    rows.iter()
        .map(|r| Ok((status(r.try_get(0)?)?, count(r.try_get(1)?))))
        .collect()
}

/// Per-status counts of the account, from the counters (their shards summed).
pub(crate) async fn status_counts(db: &dyn Db, account: AccountId) -> Result<StatusCounts> {
    let rows = db
        .rows(
            "SELECT c.status, SUM(c.n)::int8 FROM status_counts c JOIN accounts a ON a.seq = c.account \
             WHERE a.id = $1 GROUP BY c.status HAVING SUM(c.n) > 0",
            &[&account.0],
        )
        .await?;
    counts_of(&rows)
}

/// Messages of the account created in `[from, to)` per time bucket and status (an index range scan of the
/// account's messages by creation time).
pub(crate) async fn timeseries(
    db: &dyn Db,
    account: AccountId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Duration,
) -> Result<Vec<(DateTime<Utc>, StatusCounts)>> {
    let width = i64::try_from(bucket.as_nanos()).unwrap_or(i64::MAX).max(1);
    let rows = db
        .rows(
            "SELECT m.created_at - ((m.created_at % $4) + $4) % $4 AS b, m.status, COUNT(*) FROM messages m \
             WHERE m.account = (SELECT seq FROM accounts WHERE id = $1) \
             AND m.created_at >= $2 AND m.created_at < $3 \
             GROUP BY b, m.status ORDER BY b",
            &[&account.0, &ts(from), &ts(to), &width],
        )
        .await?;
    let mut out: Vec<(DateTime<Utc>, StatusCounts)> = Vec::new();
    for r in &rows {
        let at = time(r.try_get(0)?);
        if out.last().is_none_or(|(t, _)| *t != at) {
            out.push((at, StatusCounts::new()));
        }
        if let Some((_, counts)) = out.last_mut() {
            counts.insert(status(r.try_get(1)?)?, count(r.try_get(2)?));
        }
    }
    Ok(out)
}

/// Per-status counts over every account, from the counters (every shard).
pub(crate) async fn status_totals(db: &dyn Db) -> Result<StatusCounts> {
    let rows = db
        .rows(
            "SELECT status, SUM(n)::int8 FROM status_counts GROUP BY status HAVING SUM(n) > 0",
            &[],
        )
        .await?;
    counts_of(&rows)
}

/// The earliest time something becomes due: min over active accounts of max(its earliest due message, the end of
/// its open breaker).
pub(crate) async fn next_due_at(db: &dyn Db) -> Result<Option<DateTime<Utc>>> {
    // Accounts without an open breaker (or one that ends before the message is due): the first such row of the
    // due index.
    let closed: Option<i64> = match db
        .opt(
            "SELECT m.due_at FROM messages m JOIN accounts a ON a.seq = m.account \
             WHERE m.due_at IS NOT NULL AND a.active \
             AND (a.breaker_open_until IS NULL OR a.breaker_open_until <= m.due_at) \
             ORDER BY m.due_at LIMIT 1",
            &[],
        )
        .await?
    {
        Some(r) => r.try_get(0)?,
        None => None,
    };
    // Accounts with a breaker (few): nothing before it ends.
    let paused: Option<i64> = db
        .one(
            "SELECT MIN(GREATEST(a.breaker_open_until, \
               (SELECT MIN(m.due_at) FROM messages m WHERE m.account = a.seq AND m.due_at IS NOT NULL))) \
             FROM accounts a WHERE a.active AND a.breaker_open_until IS NOT NULL \
             AND EXISTS (SELECT 1 FROM messages m WHERE m.account = a.seq AND m.due_at IS NOT NULL)",
            &[],
        )
        .await?
        .try_get(0)?;
    Ok(time_opt(match (closed, paused) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }))
}

// ---- dispatcher ----

/// Claims due messages of active accounts whose breaker is closed, shared round-robin among accounts (see
/// `MessageStore::claim_due_with`), in one statement: the accounts with due work (a skip scan of
/// `messages_due_by_account_id`, one probe per account with due rows; those whose oldest is oldest), then up to
/// `per_account` oldest due rows of each, taken round-robin. Rows another claimer holds are skipped
/// (`FOR UPDATE SKIP LOCKED`), never waited for. Only rows that round-robin can reach are locked: each account's
/// due rows are counted first (index only, at most `per_account`) to find the round `r` that fills the claim,
/// and each account locks at most `r`, so a claim locks at most `limit + accounts - 1` rows.
pub(crate) async fn claim_due(
    db: &dyn Db,
    fx: &mut Effects,
    now: DateTime<Utc>,
    lease: Duration,
    limits: &ClaimLimits,
) -> Result<Vec<Claimed>> {
    let lease_until = plus(now, lease);
    let limit = i64::try_from(limits.limit).unwrap_or(i64::MAX);
    let cap = i64::try_from(limits.per_account.min(limits.limit)).unwrap_or(i64::MAX);
    let skip: Vec<Uuid> = limits.skip.iter().map(|a| a.0).collect();
    let sql = format!(
        "WITH RECURSIVE acc AS ( \
           (SELECT m.account FROM messages m WHERE m.due_at IS NOT NULL ORDER BY m.account LIMIT 1) \
           UNION ALL \
           SELECT (SELECT m.account FROM messages m WHERE m.due_at IS NOT NULL AND m.account > acc.account \
                   ORDER BY m.account LIMIT 1) \
           FROM acc WHERE acc.account IS NOT NULL), \
         heads AS ( \
           SELECT a.seq AS account FROM acc JOIN accounts a ON a.seq = acc.account \
           CROSS JOIN LATERAL (SELECT m.due_at AS head FROM messages m \
             WHERE m.account = acc.account AND m.due_at IS NOT NULL ORDER BY m.due_at LIMIT 1) h \
           WHERE h.head <= $1 AND a.active \
           AND (a.breaker_open_until IS NULL OR a.breaker_open_until <= $1) \
           AND a.id <> ALL($5::uuid[]) \
           ORDER BY h.head, a.seq LIMIT $2), \
         counted AS ( \
           SELECT heads.account, n.n FROM heads CROSS JOIN LATERAL (SELECT count(*) AS n FROM ( \
             SELECT 1 FROM messages m WHERE m.account = heads.account AND m.due_at <= $1 LIMIT $6) t) n), \
         cut AS ( \
           SELECT COALESCE(MIN(r), $6) AS r FROM generate_series(1::int8, $6) r \
           WHERE (SELECT SUM(LEAST(n, r)) FROM counted) >= $2), \
         picked AS ( \
           SELECT c.seq, c.old_status, c.old_due, c.id, \
             row_number() OVER (PARTITION BY counted.account ORDER BY c.old_due, c.id) AS rank \
           FROM counted CROSS JOIN cut CROSS JOIN LATERAL ( \
             SELECT m.seq, m.status AS old_status, m.due_at AS old_due, m.id FROM messages m \
             WHERE m.account = counted.account AND m.due_at <= $1 \
             ORDER BY m.due_at, m.id LIMIT LEAST(counted.n, cut.r) \
             FOR UPDATE OF m SKIP LOCKED) c), \
         due AS (SELECT seq, old_status, old_due, rank FROM picked ORDER BY rank, old_due, id LIMIT $2) \
         UPDATE messages m SET status = $4, attempt = m.attempt + 1, tries = m.tries + 1, lease_until = $3, \
           next_attempt_at = NULL, updated_at = $1, due_at = $3 \
         FROM due, accounts a \
         WHERE m.seq = due.seq AND a.seq = m.account \
         RETURNING due.old_status, due.old_due, due.rank, {COLUMNS}"
    );
    let rows = db
        .rows(
            &sql,
            &[
                &ts(now),
                &limit,
                &ts(lease_until),
                &status_code(Status::Processing),
                &skip,
                &cap,
            ],
        )
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for r in &rows {
        let old = status(r.try_get(0)?)?;
        let old_due: i64 = r.try_get(1)?;
        let rank: i64 = r.try_get(2)?;
        let s = decode(r, 3)?;
        // Only queued, scheduled, retrying and processing rows have a due time; each may be claimed.
        let to = expect_transition(old, Event::Claim)?;
        if to != Status::Processing {
            return Err(PostgresError::Corrupt(format!(
                "a claim of a {old} message led to {to}"
            )));
        }
        if old != to {
            fx.bump(s.account, old, -1);
            fx.bump(s.account, to, 1);
        }
        claimed.push(((rank, old_due), s.message));
    }
    // RETURNING has no order: round-robin, each account's oldest due first, ties by id.
    claimed.sort_by_key(|(key, m)| (*key, m.id.0));
    Ok(claimed
        .into_iter()
        .map(|(_, message)| Claimed {
            message,
            lease_until,
        })
        .collect())
}

mod expiry;
mod outcomes;
pub(crate) use expiry::expire;
pub(crate) use outcomes::{cancel_waiting, record_outcomes};

/// Records the outcome of attempt `attempt` of message `id`.
pub(crate) async fn record_outcome(
    db: &dyn Db,
    fx: &mut Effects,
    id: MessageId,
    attempt: u32,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<Message> {
    let mut s = by_id_for_update(db, id)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    if s.message.status != Status::Processing || s.message.attempt != attempt {
        return Err(StoreError::Stale.into());
    }
    if let Outcome::Sent { wamid } = outcome {
        lock_wamids(db, &[wamid]).await?;
        let owner = db
            .opt(
                "SELECT id FROM messages WHERE wamid = $1 AND seq <> $2",
                &[wamid, &s.seq],
            )
            .await?;
        if let Some(other) = owner {
            let other: Uuid = other.try_get(0)?;
            return Err(StoreError::Conflict(format!(
                "wamid {wamid} already belongs to message {other}"
            ))
            .into());
        }
    }
    let c = outcome_change(s.message.status, outcome, now)?;
    change(db, fx, &mut s, c, |m| {
        record_outcome_fields(m, outcome, now)
    })
    .await?;
    match outcome {
        Outcome::Sent { wamid } => {
            if !s.message.dry_run {
                fx.count_sent(s.account);
            }
            apply_pending(db, fx, &mut s, wamid).await?;
        }
        // The try never happened; the message is queued again now, for any replica.
        Outcome::Release => fx.wake = true,
        Outcome::Retry { .. } | Outcome::Failed { .. } | Outcome::Defer { .. } => {}
    }
    Ok(s.message)
}

/// Applies the statuses that arrived for `wamid` before its send was recorded, oldest first.
async fn apply_pending(db: &dyn Db, fx: &mut Effects, s: &mut Stored, wamid: &str) -> Result<()> {
    let pending = db
        .rows(
            "DELETE FROM pending_statuses WHERE wamid = $1 AND (account IS NULL OR account = $2) \
             RETURNING seq, status, at, error_message, error_code, meta_error, pricing",
            &[&wamid, &s.message.account_id.0],
        )
        .await?;
    let mut pending = pending
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<_, i64>(2)?,
                r.try_get::<_, i64>(0)?,
                r.try_get::<_, String>(1)?,
                r.try_get::<_, Option<String>>(3)?,
                r.try_get::<_, Option<i64>>(4)?,
                r.try_get::<_, Option<String>>(5)?,
                r.try_get::<_, Option<String>>(6)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    pending.sort_by_key(|p| (p.0, p.1));
    for (at, _, name, error_message, error_code, meta_error, pricing) in pending {
        let meta = MetaStatus::parse(&name)
            .ok_or_else(|| PostgresError::Corrupt(format!("pending status '{name}'")))?;
        let meta_error = meta_error.map(|e| serde_json::from_str(&e)).transpose()?;
        let error = error_message.map(|message| FailureInfo {
            message,
            code: error_code,
            meta: meta_error,
        });
        let pricing: Option<Pricing> = pricing.map(|p| serde_json::from_str(&p)).transpose()?;
        apply_meta(db, fx, s, meta, time(at), error.as_ref(), pricing.as_ref()).await?;
    }
    Ok(())
}

// ---- Meta's statuses ----

async fn apply_meta(
    db: &dyn Db,
    fx: &mut Effects,
    s: &mut Stored,
    meta: MetaStatus,
    at: DateTime<Utc>,
    error: Option<&FailureInfo>,
    pricing: Option<&Pricing>,
) -> Result<StatusApplied> {
    // Pricing is kept from any status that carries it, whether or not the status moves the message.
    if record_pricing(&mut s.message, pricing) {
        db.exec(
            "UPDATE messages SET pricing = $2 WHERE seq = $1",
            &[
                &s.seq,
                &s.message
                    .pricing
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
            ],
        )
        .await?;
    }
    let Some(c) = meta_change(s.message.status, meta, at, error) else {
        return Ok(StatusApplied::Ignored(s.message.id));
    };
    let to = c.to;
    change(db, fx, s, c, |m| record_meta_status(m, meta, at, error)).await?;
    Ok(StatusApplied::Applied(s.message.id, to))
}

/// Applies Meta's statuses in order; unknown wamids are kept for later.
pub(crate) async fn apply_status_updates(
    db: &dyn Db,
    fx: &mut Effects,
    updates: &[StatusUpdate],
    now: DateTime<Utc>,
    max_pending_per_account: usize,
) -> Result<Vec<StatusApplied>> {
    let wamids: Vec<&str> = updates.iter().map(|u| u.wamid.as_str()).collect();
    lock_wamids(db, &wamids).await?;
    let mut results = Vec::with_capacity(updates.len());
    let mut grown = BTreeSet::new();
    for u in updates {
        match by_wamid_for_update(db, &u.wamid, u.account_id).await? {
            Some(mut s) => results.push(
                apply_meta(
                    db,
                    fx,
                    &mut s,
                    u.status,
                    u.at,
                    u.error.as_ref(),
                    u.pricing.as_ref(),
                )
                .await?,
            ),
            None => {
                db.exec(
                    "INSERT INTO pending_statuses \
                     (account, wamid, status, at, error_message, error_code, received_at, meta_error, pricing) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &u.account_id.map(|a| a.0),
                        &u.wamid,
                        &u.status.status().as_str(),
                        &ts(u.at),
                        &u.error.as_ref().map(|e| e.message.as_str()),
                        &u.error.as_ref().and_then(|e| e.code),
                        &ts(now),
                        &u.error
                            .as_ref()
                            .and_then(|e| e.meta.as_ref())
                            .map(serde_json::to_string)
                            .transpose()?,
                        &u.pricing.as_ref().map(serde_json::to_string).transpose()?,
                    ],
                )
                .await?;
                grown.insert(u.account_id);
                results.push(StatusApplied::Pending);
            }
        }
    }
    for account in grown {
        cap_pending(db, account, max_pending_per_account).await?;
    }
    Ok(results)
}

/// Drops the account's earliest received pending statuses beyond the `max` latest (the rows without an account
/// share one limit). Concurrent transactions may each leave up to their own inserts over it; the next one trims.
async fn cap_pending(db: &dyn Db, account: Option<AccountId>, max: usize) -> Result<()> {
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let dropped = match account {
        Some(a) => {
            db.exec(
                "DELETE FROM pending_statuses WHERE account = $1 AND seq <= \
                 (SELECT seq FROM pending_statuses WHERE account = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)",
                &[&a.0, &max],
            )
            .await?
        }
        None => {
            db.exec(
                "DELETE FROM pending_statuses WHERE account IS NULL AND seq <= \
                 (SELECT seq FROM pending_statuses WHERE account IS NULL ORDER BY seq DESC OFFSET $1 LIMIT 1)",
                &[&max],
            )
            .await?
        }
    };
    if dropped > 0 {
        tracing::warn!(
            account_id = ?account,
            dropped,
            "too many statuses for unknown wamids: the earliest received are dropped"
        );
    }
    Ok(())
}

/// Re-queues a failed message of the account; the failed send's wamid, timestamps and error are cleared.
pub(crate) async fn retry(
    db: &dyn Db,
    fx: &mut Effects,
    account: AccountId,
    id: MessageId,
    now: DateTime<Utc>,
) -> Result<Message> {
    let mut s = query_one(
        db,
        "m.id = $1 AND a.id = $2",
        &[&id.0, &account.0],
        Lock::ForUpdate,
    )
    .await?
    .ok_or(PostgresError::Store(StoreError::NotFound))?;
    let current = s.message.status;
    let Transition::To(to) = status::transition(current, Event::ManualRetry) else {
        return Err(StoreError::Conflict(format!(
            "message is {current}; only failed messages can be retried"
        ))
        .into());
    };
    let c = StatusChange {
        to,
        at: now,
        timeline: true,
        detail: None,
        due_at: Some(now),
    };
    change(db, fx, &mut s, c, |m| reset_for_retry(m, now)).await?;
    fx.wake = true;
    Ok(s.message)
}

/// The account's latest `limit` messages to this phone number or BSUID (as the address or as the recipient's
/// user id), newest first, without timelines: one index range per identifier in one statement.
pub(crate) async fn of_contact(
    db: &dyn Db,
    account: AccountId,
    phone: Option<&str>,
    user_id: Option<&str>,
    limit: u32,
) -> Result<Vec<Message>> {
    let Some(account) = accounts::seq(db, account).await? else {
        return Ok(Vec::new());
    };
    let limit = i64::from(limit);
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m JOIN accounts a ON a.seq = m.account WHERE m.id IN ( \
           (SELECT id FROM messages WHERE account = $1 AND recipient = $2 ORDER BY created_at DESC, id DESC LIMIT $4) \
           UNION (SELECT id FROM messages WHERE account = $1 AND recipient = $3 ORDER BY created_at DESC, id DESC LIMIT $4) \
           UNION (SELECT id FROM messages WHERE account = $1 AND recipient_user_id = $3 \
                  ORDER BY created_at DESC, id DESC LIMIT $4)) \
         ORDER BY m.created_at DESC, m.id DESC LIMIT $4"
    );
    db.rows(&sql, &[&account, &phone, &user_id, &limit])
        .await?
        .iter()
        .map(|r| decode(r, 0).map(|s| s.message))
        .collect()
}
