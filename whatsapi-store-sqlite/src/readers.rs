//! A small pool of read connections. In WAL mode readers never wait for the writer: each read runs in its own
//! snapshot on a blocking thread.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;
use whatsapi_core::StoreError;

use crate::error::{Result, SqliteError};

/// Opens one read connection.
pub(crate) type OpenReader = Arc<dyn Fn(&std::path::Path) -> Result<Connection> + Send + Sync>;

/// Read connections, handed out one per read.
pub(crate) struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    path: PathBuf,
    open: OpenReader,
}

impl Readers {
    /// A pool of `size` connections opened with `open`.
    pub(crate) fn new(path: PathBuf, size: usize, open: OpenReader) -> Result<Self> {
        let size = size.max(1);
        let idle = (0..size).map(|_| open(&path)).collect::<Result<Vec<_>>>()?;
        Ok(Self {
            idle: Mutex::new(idle),
            permits: Semaphore::new(size),
            path,
            open,
        })
    }

    /// Runs `work` in one read transaction (a consistent snapshot).
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::from(SqliteError::WriterStopped))?;
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            // A connection was lost to a panicking read; replace it.
            None => (self.open)(&self.path)?,
        };
        let (result, conn) = tokio::task::spawn_blocking(move || {
            let result = snapshot(&conn, work);
            (result, conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a read panicked: {e}")))?;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result.map_err(StoreError::from)
    }
}

fn snapshot<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = work(conn);
    conn.prepare_cached("COMMIT")?.execute([])?;
    result
}
