//! The counters every change keeps: messages per account and status (`status_counts`) and messages Meta accepted
//! per account (`accounts.messages_sent`).
//!
//! On the writer thread, inside a batch transaction, changes are summed in memory and written once per counter
//! just before the commit: dispatching one message moves two counters twice, and four upserts per message were a
//! fifth of the writer's work. Nothing reads these counters inside the writer's transaction, and the sums reach
//! the database in the same transaction as the changes they count, so readers never see the difference. A request
//! that fails (and is rolled back) drops its own sums. Anywhere else the change is written at once.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::{Connection, params};
use whatsapi_core::Status;

use crate::codec::status_code;
use crate::error::Result;

/// Sums waiting for the commit of the writer's transaction.
#[derive(Default)]
struct Pending {
    /// Whether this thread is the writer inside a batch transaction.
    deferring: bool,
    /// Sums of the requests that succeeded so far in this transaction.
    batch: Sums,
    /// Sums of the request running now.
    request: Sums,
}

#[derive(Default)]
struct Sums {
    /// (account row, status code) → change of `status_counts.n`.
    status: HashMap<(i64, i64), i64>,
    /// Account row → change of `messages_sent`.
    sent: HashMap<i64, i64>,
}

impl Sums {
    fn merge_into(&mut self, into: &mut Sums) {
        for (k, d) in self.status.drain() {
            *into.status.entry(k).or_default() += d;
        }
        for (k, d) in self.sent.drain() {
            *into.sent.entry(k).or_default() += d;
        }
    }

    fn clear(&mut self) {
        self.status.clear();
        self.sent.clear();
    }
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::default();
}

/// Adds `delta` to the account's counter of `status`.
pub(crate) fn bump(conn: &Connection, account: i64, status: Status, delta: i64) -> Result<()> {
    let code = status_code(status);
    if defer(|sums| *sums.status.entry((account, code)).or_default() += delta) {
        Ok(())
    } else {
        write_status(conn, account, code, delta)
    }
}

/// Counts one message Meta accepted for the account.
pub(crate) fn count_sent(conn: &Connection, account: i64) -> Result<()> {
    if defer(|sums| *sums.sent.entry(account).or_default() += 1) {
        Ok(())
    } else {
        write_sent(conn, account, 1)
    }
}

/// Adds to the running request's sums when this thread is deferring; answers whether it was.
fn defer(add: impl FnOnce(&mut Sums)) -> bool {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.deferring {
            add(&mut p.request);
        }
        p.deferring
    })
}

fn write_status(conn: &Connection, account: i64, code: i64, delta: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO status_counts (account, status, n) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, status) DO UPDATE SET n = n + excluded.n",
    )?
    .execute(params![account, code, delta])?;
    Ok(())
}

fn write_sent(conn: &Connection, account: i64, delta: i64) -> Result<()> {
    conn.prepare_cached("UPDATE accounts SET messages_sent = messages_sent + ?2 WHERE seq = ?1")?
        .execute(params![account, delta])?;
    Ok(())
}

/// The writer began a batch transaction: from now on, sum instead of writing.
pub(crate) fn begin_batch() {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.deferring = true;
        p.batch.clear();
        p.request.clear();
    });
}

/// The request that just ran succeeded (its sums join the batch's) or failed and was rolled back (they are
/// dropped).
pub(crate) fn end_request(succeeded: bool) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let p = &mut *p;
        if succeeded {
            p.request.merge_into(&mut p.batch);
        } else {
            p.request.clear();
        }
    });
}

/// Writes the batch's sums, just before its commit. Stops deferring, whatever happens next.
pub(crate) fn flush(conn: &Connection) -> Result<()> {
    let sums = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.deferring = false;
        p.request.clear();
        std::mem::take(&mut p.batch)
    });
    // A stable order keeps the writes deterministic.
    let mut status: Vec<_> = sums.status.into_iter().filter(|(_, d)| *d != 0).collect();
    status.sort_unstable();
    for ((account, code), delta) in status {
        write_status(conn, account, code, delta)?;
    }
    let mut sent: Vec<_> = sums.sent.into_iter().filter(|(_, d)| *d != 0).collect();
    sent.sort_unstable();
    for (account, delta) in sent {
        write_sent(conn, account, delta)?;
    }
    Ok(())
}

/// The batch was rolled back: its sums are gone with it. Stops deferring.
pub(crate) fn abandon_batch() {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.deferring = false;
        p.batch.clear();
        p.request.clear();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().expect("open");
        c.execute_batch(
            "CREATE TABLE status_counts (account INTEGER, status INTEGER, n INTEGER, PRIMARY KEY (account, status));
             CREATE TABLE accounts (seq INTEGER PRIMARY KEY, messages_sent INTEGER NOT NULL DEFAULT 0);
             INSERT INTO accounts (seq) VALUES (1), (2);",
        )
        .expect("schema");
        c
    }

    fn n(c: &Connection, account: i64, s: Status) -> Option<i64> {
        c.query_row(
            "SELECT n FROM status_counts WHERE account = ?1 AND status = ?2",
            params![account, status_code(s)],
            |r| r.get(0),
        )
        .ok()
    }

    fn sent(c: &Connection, account: i64) -> i64 {
        c.query_row(
            "SELECT messages_sent FROM accounts WHERE seq = ?1",
            [account],
            |r| r.get(0),
        )
        .expect("account")
    }

    #[test]
    fn outside_a_batch_changes_are_written_at_once() {
        let c = conn();
        bump(&c, 1, Status::Queued, 2).expect("bump");
        count_sent(&c, 1).expect("sent");
        assert_eq!(n(&c, 1, Status::Queued), Some(2));
        assert_eq!(sent(&c, 1), 1);
    }

    #[test]
    fn a_batch_writes_the_sums_of_its_successful_requests_at_flush() {
        let c = conn();
        begin_batch();
        // A request that succeeds: one message claimed and sent.
        bump(&c, 1, Status::Queued, -1).expect("bump");
        bump(&c, 1, Status::Processing, 1).expect("bump");
        bump(&c, 1, Status::Processing, -1).expect("bump");
        bump(&c, 1, Status::Sent, 1).expect("bump");
        count_sent(&c, 1).expect("sent");
        end_request(true);
        // A request that fails: its sums are dropped.
        bump(&c, 2, Status::Sent, 7).expect("bump");
        count_sent(&c, 2).expect("sent");
        end_request(false);
        // Nothing is written before the flush.
        assert_eq!(n(&c, 1, Status::Sent), None);
        assert_eq!(sent(&c, 1), 0);
        flush(&c).expect("flush");
        assert_eq!(n(&c, 1, Status::Queued), Some(-1));
        assert_eq!(n(&c, 1, Status::Sent), Some(1));
        // A net change of zero writes nothing.
        assert_eq!(n(&c, 1, Status::Processing), None);
        assert_eq!(n(&c, 2, Status::Sent), None);
        assert_eq!((sent(&c, 1), sent(&c, 2)), (1, 0));
        // After the flush, changes are written at once again.
        bump(&c, 2, Status::Read, 1).expect("bump");
        assert_eq!(n(&c, 2, Status::Read), Some(1));
    }

    #[test]
    fn an_abandoned_batch_writes_nothing() {
        let c = conn();
        begin_batch();
        bump(&c, 1, Status::Queued, 3).expect("bump");
        end_request(true);
        abandon_batch();
        flush(&c).expect("flush");
        assert_eq!(n(&c, 1, Status::Queued), None);
    }
}
