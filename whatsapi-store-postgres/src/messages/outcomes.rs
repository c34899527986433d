//! Outcomes recorded in batches: one transaction of a few set-based statements for a whole batch, with exactly
//! the effect of recording each outcome on its own, in order.
//!
//! The batch locks all its rows in one statement (in row order, so two batches cannot deadlock on them), takes
//! the advisory locks of its wamids (sorted, as [`lock_wamids`] does for Meta's statuses), reads the owners of
//! those wamids once, then decides every item in memory: fenced by attempt, refused alone when stale, unknown or
//! its wamid belongs to another message (also one recorded by an earlier item). What the accepted items change is
//! computed in memory with the same helpers as the one-by-one path ([`outcome_change`], [`StatusChange::apply`],
//! the pending statuses applied as `apply_meta` applies them) and written with one statement per table: the rows
//! (`UPDATE … FROM unnest`), the timeline, the outbox, the deleted pending statuses; the counters go through
//! [`Effects`] like every other change.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;
use whatsapi_core::message::{Pricing, TimelineEntry};
use whatsapi_core::status::MetaStatus;
use whatsapi_core::store::support::{
    StatusChange, StatusWrite, cancel_change, meta_change, outcome_change, record_cancel,
    record_meta_status, record_outcome_fields, record_pricing,
};
use whatsapi_core::store::{FailureInfo, Outcome, OutcomeRecord, StoreResult};
use whatsapi_core::{MessageId, Status, StoreError};

use super::{COLUMNS, Effects, Stored, decode, lock_wamids};
use crate::codec::{status_code, time, ts, ts_opt};
use crate::db::Db;
use crate::error::{PostgresError, Result};
use crate::outbox::{self, StatusEvent};

/// A status that arrived for a wamid before its send was recorded, as `pending_statuses` keeps it.
struct Early {
    /// Meta's timestamp.
    at: i64,
    /// Row number (order of arrival among equal timestamps).
    seq: i64,
    /// The status.
    meta: MetaStatus,
    /// Meta's error, for `failed`.
    error: Option<FailureInfo>,
    /// The pricing it carried.
    pricing: Option<Pricing>,
}

/// What the accepted items of a batch write, gathered in memory and written one statement per table.
#[derive(Default)]
pub(super) struct Writes {
    /// Rows changed (index into the locked rows), with the time each becomes claimable after its last change.
    pub(super) rows: BTreeMap<usize, Option<DateTime<Utc>>>,
    /// Timeline entries, per message row number in the order written.
    pub(super) timeline: Vec<(i64, TimelineEntry)>,
    /// Outbox events, in the order written.
    pub(super) events: Vec<StatusEvent>,
}

impl Writes {
    /// Notes what one status change of row `r` writes besides the row itself, as `messages::change` does.
    pub(super) async fn note(
        &mut self,
        db: &dyn Db,
        fx: &mut Effects,
        r: usize,
        s: &Stored,
        write: StatusWrite,
    ) -> Result<()> {
        self.rows.insert(r, write.due_at);
        for (status, delta) in write.counter_deltas {
            fx.bump(s.account, status, delta);
        }
        if let Some(entry) = write.timeline {
            self.timeline.push((s.seq, entry));
        }
        if write.announce {
            let destinations = fx.destinations(db, s.account).await?;
            self.events
                .extend(StatusEvent::of(s, s.message.updated_at, &destinations)?);
        }
        Ok(())
    }
}

/// Records a batch of outcomes in the caller's transaction; one answer per item, in order (see
/// `MessageStore::record_outcomes`).
pub(crate) async fn record_outcomes(
    db: &dyn Db,
    fx: &mut Effects,
    batch: &[OutcomeRecord],
    now: DateTime<Utc>,
) -> Result<Vec<StoreResult<()>>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = batch.iter().map(|item| item.id.0).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m JOIN accounts a ON a.seq = m.account \
         WHERE m.id = ANY($1) ORDER BY m.seq FOR UPDATE OF m"
    );
    let mut rows = db
        .rows(&sql, &[&ids])
        .await?
        .iter()
        .map(|r| decode(r, 0))
        .collect::<Result<Vec<Stored>>>()?;
    let index: HashMap<MessageId, usize> = rows
        .iter()
        .enumerate()
        .map(|(r, s)| (s.message.id, r))
        .collect();

    // Every wamid an item may record (its attempt is current now; an earlier item may still make it stale).
    let wamids: Vec<&str> = batch
        .iter()
        .filter_map(|item| match (&item.outcome, index.get(&item.id)) {
            (Outcome::Sent { wamid }, Some(&r))
                if rows[r].message.status == Status::Processing
                    && rows[r].message.attempt == item.attempt =>
            {
                Some(wamid.as_str())
            }
            _ => None,
        })
        .collect();
    let mut owners: HashMap<String, (i64, Uuid)> = HashMap::new();
    if !wamids.is_empty() {
        lock_wamids(db, &wamids).await?;
        for r in db
            .rows(
                "SELECT wamid, seq, id FROM messages WHERE wamid = ANY($1)",
                &[&wamids],
            )
            .await?
        {
            owners.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
        }
    }

    // Decide every item in order, as one-by-one recording would.
    let mut statuses: Vec<Status> = rows.iter().map(|s| s.message.status).collect();
    let mut current_wamids: Vec<Option<String>> =
        rows.iter().map(|s| s.message.wamid.clone()).collect();
    let mut answers: Vec<StoreResult<()>> = Vec::with_capacity(batch.len());
    let mut accepted: Vec<(usize, usize, StatusChange)> = Vec::new();
    for (i, item) in batch.iter().enumerate() {
        let Some(&r) = index.get(&item.id) else {
            answers.push(Err(StoreError::NotFound));
            continue;
        };
        let seq = rows[r].seq;
        if statuses[r] != Status::Processing || rows[r].message.attempt != item.attempt {
            answers.push(Err(StoreError::Stale));
            continue;
        }
        if let Outcome::Sent { wamid } = &item.outcome {
            if let Some((_, other)) = owners.get(wamid).filter(|(owner, _)| *owner != seq) {
                answers.push(Err(StoreError::Conflict(format!(
                    "wamid {wamid} already belongs to message {other}"
                ))));
                continue;
            }
        }
        let change = match outcome_change(statuses[r], &item.outcome, now) {
            Ok(c) => c,
            Err(e) => {
                answers.push(Err(e));
                continue;
            }
        };
        statuses[r] = change.to;
        if let Outcome::Sent { wamid } = &item.outcome {
            if let Some(old) = current_wamids[r].take() {
                if owners.get(&old).is_some_and(|(owner, _)| *owner == seq) {
                    owners.remove(&old);
                }
            }
            owners.insert(wamid.clone(), (seq, item.id.0));
            current_wamids[r] = Some(wamid.clone());
        }
        answers.push(Ok(()));
        accepted.push((i, r, change));
    }

    // The statuses that overtook the sends of this batch, taken in one statement.
    let (mut sent_wamids, mut sent_accounts) = (Vec::new(), Vec::new());
    for (i, r, _) in &accepted {
        if let Outcome::Sent { wamid } = &batch[*i].outcome {
            sent_wamids.push(wamid.as_str());
            sent_accounts.push(rows[*r].message.account_id.0);
        }
    }
    let mut early = take_pending(db, &sent_wamids, &sent_accounts).await?;

    // Apply the accepted items in order, in memory.
    let mut writes = Writes::default();
    for (i, r, change) in accepted {
        let outcome = &batch[i].outcome;
        let s = &mut rows[r];
        let write = change.apply(&mut s.message, |m| record_outcome_fields(m, outcome, now));
        writes.note(db, fx, r, s, write).await?;
        match outcome {
            Outcome::Sent { wamid } => {
                if !s.message.dry_run {
                    fx.count_sent(s.account);
                }
                for e in early.remove(wamid.as_str()).unwrap_or_default() {
                    apply_early(db, fx, &mut writes, r, s, e).await?;
                }
            }
            // The try never happened; the message is queued again now, for any replica.
            Outcome::Release => fx.wake = true,
            Outcome::Retry { .. } | Outcome::Failed { .. } | Outcome::Defer { .. } => {}
        }
    }

    save_all(db, &rows, &writes.rows).await?;
    add_timelines(db, &writes.timeline).await?;
    outbox::emit_all(db, &writes.events).await?;
    Ok(answers)
}

/// Deletes the pending statuses of these sent wamids (each with the account of its message) and answers them per
/// wamid, oldest first.
async fn take_pending(
    db: &dyn Db,
    wamids: &[&str],
    accounts: &[Uuid],
) -> Result<HashMap<String, Vec<Early>>> {
    let mut out: HashMap<String, Vec<Early>> = HashMap::new();
    if wamids.is_empty() {
        return Ok(out);
    }
    let rows = db
        .rows(
            "DELETE FROM pending_statuses p USING unnest($1::text[], $2::uuid[]) AS t(w, a) \
             WHERE p.wamid = t.w AND (p.account IS NULL OR p.account = t.a) \
             RETURNING p.wamid, p.seq, p.status, p.at, p.error_message, p.error_code, p.meta_error, p.pricing",
            &[&wamids, &accounts],
        )
        .await?;
    for r in &rows {
        let name: String = r.try_get(2)?;
        let meta = MetaStatus::parse(&name)
            .ok_or_else(|| PostgresError::Corrupt(format!("pending status '{name}'")))?;
        let meta_error = r
            .try_get::<_, Option<String>>(6)?
            .map(|e| serde_json::from_str(&e))
            .transpose()?;
        let error = r
            .try_get::<_, Option<String>>(4)?
            .map(|message| -> Result<FailureInfo> {
                Ok(FailureInfo {
                    message,
                    code: r.try_get(5)?,
                    meta: meta_error,
                })
            })
            .transpose()?;
        let pricing = r
            .try_get::<_, Option<String>>(7)?
            .map(|p| serde_json::from_str(&p))
            .transpose()?;
        out.entry(r.try_get(0)?).or_default().push(Early {
            at: r.try_get(3)?,
            seq: r.try_get(1)?,
            meta,
            error,
            pricing,
        });
    }
    for list in out.values_mut() {
        list.sort_by_key(|e| (e.at, e.seq));
    }
    Ok(out)
}

/// Applies a status that arrived early to the message in memory, as `apply_meta` does in the database.
async fn apply_early(
    db: &dyn Db,
    fx: &mut Effects,
    writes: &mut Writes,
    r: usize,
    s: &mut Stored,
    e: Early,
) -> Result<()> {
    // Pricing is kept from any status that carries it, whether or not the status moves the message.
    if record_pricing(&mut s.message, e.pricing.as_ref()) {
        writes.rows.entry(r).or_insert(None);
    }
    let at = time(e.at);
    let Some(c) = meta_change(s.message.status, e.meta, at, e.error.as_ref()) else {
        return Ok(());
    };
    let write = c.apply(&mut s.message, |m| {
        record_meta_status(m, e.meta, at, e.error.as_ref())
    });
    writes.note(db, fx, r, s, write).await
}

/// Writes every mutable column of the changed rows in one statement, each with the time it becomes claimable.
pub(super) async fn save_all(
    db: &dyn Db,
    rows: &[Stored],
    changed: &BTreeMap<usize, Option<DateTime<Utc>>>,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let n = changed.len();
    let mut seqs = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut wamids = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut tries = Vec::with_capacity(n);
    let mut next_attempts = Vec::with_capacity(n);
    let mut leases = Vec::with_capacity(n);
    let mut sent = Vec::with_capacity(n);
    let mut delivered = Vec::with_capacity(n);
    let mut read = Vec::with_capacity(n);
    let mut failed = Vec::with_capacity(n);
    let mut error_messages = Vec::with_capacity(n);
    let mut error_codes = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    let mut due = Vec::with_capacity(n);
    let mut meta_errors = Vec::with_capacity(n);
    let mut pricings = Vec::with_capacity(n);
    let mut expiries = Vec::with_capacity(n);
    for (&r, due_at) in changed {
        let s = &rows[r];
        let m = &s.message;
        seqs.push(s.seq);
        statuses.push(status_code(m.status));
        wamids.push(m.wamid.clone());
        attempts.push(i64::from(m.attempt));
        tries.push(i64::from(m.tries));
        next_attempts.push(ts_opt(m.next_attempt_at));
        leases.push(ts_opt(m.lease_until));
        sent.push(ts_opt(m.sent_at));
        delivered.push(ts_opt(m.delivered_at));
        read.push(ts_opt(m.read_at));
        failed.push(ts_opt(m.failed_at));
        error_messages.push(m.error_message.clone());
        error_codes.push(m.error_code);
        updated.push(ts(m.updated_at));
        due.push(ts_opt(*due_at));
        meta_errors.push(
            m.meta_error
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        );
        pricings.push(m.pricing.as_ref().map(serde_json::to_string).transpose()?);
        expiries.push(ts_opt(m.expires_at));
    }
    db.exec(
        "UPDATE messages m SET status = u.status, wamid = u.wamid, attempt = u.attempt, tries = u.tries, \
         next_attempt_at = u.next_attempt_at, lease_until = u.lease_until, sent_at = u.sent_at, \
         delivered_at = u.delivered_at, read_at = u.read_at, failed_at = u.failed_at, \
         error_message = u.error_message, error_code = u.error_code, updated_at = u.updated_at, due_at = u.due_at, \
         meta_error = u.meta_error, pricing = u.pricing, expires_at = u.expires_at \
         FROM unnest($1::int8[], $2::int2[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], \
         $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::text[], $13::int8[], $14::int8[], $15::int8[], \
         $16::text[], $17::text[], $18::int8[]) \
         AS u(seq, status, wamid, attempt, tries, next_attempt_at, lease_until, sent_at, delivered_at, read_at, \
         failed_at, error_message, error_code, updated_at, due_at, meta_error, pricing, expires_at) \
         WHERE m.seq = u.seq",
        &[
            &seqs,
            &statuses,
            &wamids,
            &attempts,
            &tries,
            &next_attempts,
            &leases,
            &sent,
            &delivered,
            &read,
            &failed,
            &error_messages,
            &error_codes,
            &updated,
            &due,
            &meta_errors,
            &pricings,
            &expiries,
        ],
    )
    .await?;
    Ok(())
}

/// Appends the entries to their messages' timelines in one statement: each message's entries get the numbers
/// after its last one, in the order given (the rows are locked by this transaction, so the numbers cannot race).
pub(super) async fn add_timelines(db: &dyn Db, entries: &[(i64, TimelineEntry)]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut nth: HashMap<i64, i64> = HashMap::new();
    let (mut messages, mut ks, mut statuses, mut ats, mut details) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (message, entry) in entries {
        let k = nth.entry(*message).or_default();
        *k += 1;
        messages.push(*message);
        ks.push(*k);
        statuses.push(status_code(entry.status));
        ats.push(ts(entry.at));
        details.push(entry.detail.clone());
    }
    db.exec(
        "INSERT INTO timeline (message, n, status, at, detail) \
         SELECT u.m, (SELECT COALESCE(MAX(t.n), 0) FROM timeline t WHERE t.message = u.m) + u.k, u.s, u.t, u.d \
         FROM unnest($1::int8[], $2::int8[], $3::int2[], $4::int8[], $5::text[]) AS u(m, k, s, t, d)",
        &[&messages, &ks, &statuses, &ats, &details],
    )
    .await?;
    Ok(())
}

/// Fails every waiting message (`queued`, `scheduled`, `retrying`) of the batch (a cancelled campaign's) at
/// `now`, as one set-based write: the rows locked in row order, each change decided in memory with
/// [`cancel_change`] and [`record_cancel`], then one statement per table as for a batch of outcomes. Answers how
/// many were failed.
pub(crate) async fn cancel_waiting(
    db: &dyn Db,
    fx: &mut Effects,
    batch: Uuid,
    now: DateTime<Utc>,
) -> Result<u64> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m JOIN accounts a ON a.seq = m.account \
         WHERE m.batch_id = $1 AND m.status = ANY($2) ORDER BY m.seq FOR UPDATE OF m"
    );
    let waiting: Vec<i16> = [Status::Queued, Status::Scheduled, Status::Retrying]
        .into_iter()
        .map(status_code)
        .collect();
    let mut rows = db
        .rows(&sql, &[&batch, &waiting])
        .await?
        .iter()
        .map(|r| decode(r, 0))
        .collect::<Result<Vec<Stored>>>()?;
    let mut writes = Writes::default();
    for (r, s) in rows.iter_mut().enumerate() {
        let change = cancel_change(s.message.status, now)?;
        let write = change.apply(&mut s.message, |m| record_cancel(m, now));
        writes.note(db, fx, r, s, write).await?;
    }
    save_all(db, &rows, &writes.rows).await?;
    add_timelines(db, &writes.timeline).await?;
    outbox::emit_all(db, &writes.events).await?;
    Ok(rows.len() as u64)
}
