//! Group commit: one OS thread owns the only writing connection. It drains the requests waiting in a bounded
//! queue into one transaction, runs each inside its own SAVEPOINT (a failing request is rolled back alone and
//! answered with its error), commits once, and only then answers every caller.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use whatsapi_core::StoreError;

use crate::error::{Result, SqliteError};

/// A write request waiting in the queue.
trait WriteJob: Send {
    /// Runs inside the batch transaction (within its own savepoint); returns how to answer after the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer>;
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

struct Job<T, F> {
    work: F,
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
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer> {
        let result = in_savepoint(conn, self.work);
        Box::new(Done {
            result,
            reply: self.reply,
        })
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

fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T, StoreError> {
    let exec = |sql: &str| -> Result<()> {
        conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    exec("SAVEPOINT request")?;
    let result = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
        Ok(r) => r,
        Err(_) => Err(SqliteError::Store(StoreError::Backend(
            "a store operation panicked; its changes were rolled back".into(),
        ))),
    };
    match result {
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

    /// Runs `work` in the next batch; answers after its transaction committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Box::new(Job { work, reply }))
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
        let mut answers: Vec<Box<dyn Answer>> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            answers.push(job.run(&conn));
            if conn.is_autocommit() {
                // SQLite rolled the transaction back: nothing of this batch is on disk.
                let error = StoreError::Unavailable(
                    "the batch transaction was rolled back by SQLite".into(),
                );
                answers.drain(..).for_each(|a| a.rolled_back(error.clone()));
                if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                    drain_refusing(&mut queue, SqliteError::from(e).into());
                    break;
                }
            }
            if answers.len() < max_batch {
                next = queue.try_recv().ok();
            }
        }
        if conn.is_autocommit() {
            continue;
        }
        let commit = conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            StoreError::from(SqliteError::from(e))
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
