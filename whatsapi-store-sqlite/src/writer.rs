//! Group commit: one OS thread owns the only writing connection. It drains the requests waiting in a bounded
//! queue into one transaction, commits once, and only then answers every caller.
//!
//! A request runs inside its own SAVEPOINT (a failing request is rolled back alone and answered with its error),
//! except the hot ones that check everything before they write (claims, outcomes, status updates; see
//! [`Writer::write_checked`]): a savepoint copies every page the request touches that an earlier request of the
//! batch already changed into its sub-journal, which was a seventh of the writer's instructions when dispatching.
//! Such a request that fails without having changed a row is answered with its error and the batch goes on; one
//! that fails after changing rows (an I/O error, a corrupt row) rolls the whole batch back, and every request of
//! it is told that nothing was saved.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use whatsapi_core::StoreError;

use crate::counters;
use crate::error::{Result, SqliteError};

/// A write request waiting in the queue.
trait WriteJob: Send {
    /// Runs inside the batch transaction; returns how to answer after the commit, and whether the request failed
    /// after changing rows outside a savepoint (the batch must then be rolled back).
    fn run(self: Box<Self>, conn: &Connection) -> (Box<dyn Answer>, Poisoned);
    /// Answers without running (the batch transaction could not start).
    fn refuse(self: Box<Self>, error: StoreError);
}

/// A result waiting for its transaction's commit.
trait Answer: Send {
    /// Sends the result if the commit succeeded, the commit's error otherwise.
    fn send(self: Box<Self>, commit: std::result::Result<(), StoreError>);
    /// Answers after SQLite rolled the whole transaction back: the request's own error if it failed (that is
    /// the cause, e.g. a full disk), `error` otherwise.
    fn rolled_back(self: Box<Self>, error: StoreError);
}

/// Whether a request failed after changing rows it cannot roll back alone.
type Poisoned = bool;

struct Job<T, F> {
    work: F,
    /// Run inside a savepoint of its own.
    guarded: bool,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

struct Done<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (Box<dyn Answer>, Poisoned) {
        let (result, poisoned) = if self.guarded {
            (in_savepoint(conn, self.work), false)
        } else {
            checked(conn, self.work)
        };
        counters::end_request(result.is_ok());
        let answer = Box::new(Done {
            result,
            reply: self.reply,
        });
        (answer, poisoned)
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send + 'static> Answer for Done<T> {
    fn send(self: Box<Self>, commit: std::result::Result<(), StoreError>) {
        let _ = self.reply.send(commit.and(self.result));
    }

    fn rolled_back(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(self.result.and(Err(error)));
    }
}

fn guarded_run<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T, SqliteError> {
    match catch_unwind(AssertUnwindSafe(|| work(conn))) {
        Ok(r) => r,
        Err(_) => Err(SqliteError::Store(StoreError::Backend(
            "a store operation panicked; its changes were rolled back".into(),
        ))),
    }
}

/// Runs a request without a savepoint. When it fails, `total_changes` tells whether it changed a row first.
fn checked<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> (Result<T, StoreError>, Poisoned) {
    let before = conn.total_changes();
    match guarded_run(conn, work) {
        Ok(v) => (Ok(v), false),
        Err(e) => {
            let poisoned = conn.total_changes() != before;
            (Err(e.into()), poisoned)
        }
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T, StoreError> {
    let exec = |sql: &str| -> Result<()> {
        conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    exec("SAVEPOINT request")?;
    match guarded_run(conn, work) {
        Ok(v) => {
            exec("RELEASE request")?;
            Ok(v)
        }
        Err(e) => {
            // SQLite may already have rolled the whole transaction back (disk full, for instance); the batch
            // loop notices that through `is_autocommit`.
            if !conn.is_autocommit() {
                exec("ROLLBACK TO request")?;
                exec("RELEASE request")?;
            }
            Err(e.into())
        }
    }
}

/// The sending side of the writer's queue.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn WriteJob>>,
}

impl Writer {
    /// Starts the writer thread on `conn`. `capacity` bounds the queue (callers wait when it is full);
    /// `max_batch` bounds the requests committed together (1 disables group commit).
    pub(crate) fn start(
        conn: Connection,
        capacity: usize,
        max_batch: usize,
    ) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        std::thread::Builder::new()
            .name("whatsapi-sqlite-writer".into())
            .spawn(move || run(conn, rx, max_batch.max(1)))?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next batch, inside a savepoint of its own; answers after its transaction committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit(work, true).await
    }

    /// Like [`Writer::write`] without the savepoint, for work that makes every check that can refuse it (state,
    /// fencing token, uniqueness) before its first change. If it fails after changing rows anyway, the whole batch
    /// is rolled back and every request of it answered with an error, so nothing half-done is ever committed.
    pub(crate) async fn write_checked<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit(work, false).await
    }

    async fn submit<T, F>(&self, work: F, guarded: bool) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Box::new(Job {
                work,
                guarded,
                reply,
            }))
            .await
            .map_err(|_| StoreError::from(SqliteError::WriterStopped))?;
        answer
            .await
            .map_err(|_| StoreError::from(SqliteError::WriterStopped))?
    }
}

fn run(conn: Connection, mut queue: mpsc::Receiver<Box<dyn WriteJob>>, max_batch: usize) {
    while let Some(first) = queue.blocking_recv() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            first.refuse(SqliteError::from(e).into());
            continue;
        }
        counters::begin_batch();
        let mut answers: Vec<Box<dyn Answer>> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let (answer, poisoned) = job.run(&conn);
            answers.push(answer);
            if poisoned && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            if conn.is_autocommit() {
                // The transaction was rolled back (by SQLite, or above): nothing of this batch is on disk.
                let error = StoreError::Unavailable(
                    "the write was rolled back with the rest of its batch after a failure; nothing was saved, \
                     try again"
                        .into(),
                );
                answers.drain(..).for_each(|a| a.rolled_back(error.clone()));
                counters::abandon_batch();
                if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                    drain_refusing(&mut queue, SqliteError::from(e).into());
                    break;
                }
                counters::begin_batch();
            }
            if answers.len() < max_batch {
                next = queue.try_recv().ok();
            }
        }
        if conn.is_autocommit() {
            counters::abandon_batch();
            continue;
        }
        // The counters summed during the batch are written last, in its transaction.
        let commit = counters::flush(&conn)
            .map_err(StoreError::from)
            .and_then(|()| {
                conn.execute_batch("COMMIT")
                    .map_err(|e| StoreError::from(SqliteError::from(e)))
            })
            .inspect_err(|_| {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
            });
        for answer in answers {
            answer.send(commit.clone());
        }
    }
    // All senders are gone: the store was dropped. Closing the connection checkpoints the WAL.
    let _ = conn.close();
}

fn drain_refusing(queue: &mut mpsc::Receiver<Box<dyn WriteJob>>, error: StoreError) {
    while let Ok(job) = queue.try_recv() {
        job.refuse(error.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    type Work = Box<dyn FnOnce(&Connection) -> Result<()> + Send + 'static>;

    fn writer() -> (tempfile::TempDir, Writer, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (k INTEGER PRIMARY KEY);")
            .expect("schema");
        let reader = Connection::open(&path).expect("open reader");
        (dir, Writer::start(conn, 64, 512).expect("writer"), reader)
    }

    fn insert(k: i64) -> impl FnOnce(&Connection) -> Result<()> + Send + 'static {
        move |c| {
            c.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
            Ok(())
        }
    }

    fn keys(reader: &Connection) -> Vec<i64> {
        let mut stmt = reader
            .prepare("SELECT k FROM t ORDER BY k")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    /// Queues `jobs` behind a request that holds the writer, so they all land in one batch with it.
    async fn one_batch(w: &Writer, jobs: Vec<(bool, Work)>) -> Vec<Result<(), StoreError>> {
        let hold = {
            let w = w.clone();
            tokio::spawn(async move {
                w.write(|c| {
                    std::thread::sleep(Duration::from_millis(200));
                    insert(1)(c)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut waiting = vec![hold];
        for (guarded, job) in jobs {
            let w = w.clone();
            waiting.push(tokio::spawn(async move { w.submit(job, guarded).await }));
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut results = Vec::new();
        for t in waiting {
            results.push(t.await.expect("task"));
        }
        results
    }

    fn refusing(after_write: bool) -> Work {
        Box::new(move |c| {
            if after_write {
                insert(3)(c)?;
            }
            Err(SqliteError::Store(StoreError::Conflict("refused".into())))
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checked_request_refused_before_writing_fails_alone() {
        let (_dir, w, reader) = writer();
        let results = one_batch(
            &w,
            vec![
                (false, Box::new(insert(2))),
                (false, refusing(false)),
                (false, Box::new(insert(4))),
            ],
        )
        .await;
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        assert!(matches!(&results[2], Err(StoreError::Conflict(t)) if t == "refused"));
        assert_eq!(keys(&reader), vec![1, 2, 4]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checked_request_failing_after_a_write_rolls_its_batch_back() {
        let (_dir, w, reader) = writer();
        let results = one_batch(
            &w,
            vec![
                (false, Box::new(insert(2))),
                (false, refusing(true)),
                (false, Box::new(insert(4))),
            ],
        )
        .await;
        // The holder and the request before the failure were in the failed batch: told nothing was saved.
        assert!(
            matches!(&results[0], Err(StoreError::Unavailable(_))),
            "{results:?}"
        );
        assert!(
            matches!(&results[1], Err(StoreError::Unavailable(_))),
            "{results:?}"
        );
        assert!(matches!(&results[2], Err(StoreError::Conflict(t)) if t == "refused"));
        // The next request starts a fresh transaction.
        assert!(results[3].is_ok(), "{results:?}");
        assert_eq!(keys(&reader), vec![4]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_guarded_request_failing_after_a_write_fails_alone() {
        let (_dir, w, reader) = writer();
        let results = one_batch(
            &w,
            vec![
                (false, Box::new(insert(2))),
                (true, refusing(true)),
                (false, Box::new(insert(4))),
            ],
        )
        .await;
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        assert!(matches!(&results[2], Err(StoreError::Conflict(t)) if t == "refused"));
        assert_eq!(keys(&reader), vec![1, 2, 4]);
    }
}
