//! # whatsapi-store-sqlite
//!
//! The embedded default [`Store`](whatsapi_core::Store) of whatsapi: one SQLite file, durable and fast. It
//! implements core's capability traits for the engine and `whatsapi-saas`'s ([`ProductStore`](whatsapi_saas::ProductStore):
//! customers, billing events, rate windows) for the hosted product; both halves of an account share one row.
//!
//! - **Durable by default**: WAL journaling, `synchronous=FULL`, `busy_timeout`, foreign keys on. A write is
//!   answered only after its transaction committed, so an acknowledged message survives a crash or power loss.
//! - **Group commit**: one writer thread owns the only writing connection; it drains the concurrent write
//!   requests of a bounded queue into one transaction and answers every caller after the single commit. A
//!   request that is refused (a stale attempt, a taken wamid, a duplicate key) fails alone: most run in a
//!   SAVEPOINT of their own, and the hot ones (claims, outcomes, status updates, single sends) check before they
//!   write, with the whole batch rolled back should one of those fail after writing. Reads use a small pool of
//!   separate connections and never wait for the writer; key lookups are answered from a cache that a
//!   trigger-kept counter keeps exact across processes.
//! - **Versioned schema**: migrations are embedded and applied on open (`PRAGMA user_version`); a file from a
//!   newer whatsapi is refused.
//! - **No scans on hot paths**: indexes for every query of the engine and the API, and per-account status
//!   counters maintained in the same transaction as every status change.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use whatsapi_core::testing::{FakeTransport, RecordingSink};
//! use whatsapi_core::{PhoneNumber, SendRequest, WhatsApi};
//! use whatsapi_store_sqlite::SqliteStore;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("whatsapi.db");
//! let api = WhatsApi::builder()
//!     .store(Arc::new(SqliteStore::open(&path)?))
//!     .transport(Arc::new(FakeTransport::new()))
//!     .webhook_sink(Arc::new(RecordingSink::new()))
//!     .build()?;
//! let account = api.create_account("Acme").await?;
//! let to = PhoneNumber::parse("14155552671")?;
//! let queued = api.send(&account, SendRequest::text(to, "hi").dry_run(true)).await?;
//! drop(api);
//!
//! // Answered means on disk: a new store on the same file finds the message.
//! let reopened = SqliteStore::open(&path)?;
//! let api = WhatsApi::builder()
//!     .store(Arc::new(reopened))
//!     .transport(Arc::new(FakeTransport::new()))
//!     .webhook_sink(Arc::new(RecordingSink::new()))
//!     .build()?;
//! assert_eq!(api.get_message(account.id, queued.id).await?.id, queued.id);
//! # Ok(()) }
//! ```

mod accounts;
mod campaigns;
mod codec;
mod contacts;
mod costs;
mod counters;
mod customers;
mod error;
mod housekeeping;
mod idempotency;
mod inbound;
mod keys;
mod limits;
mod messages;
mod numbers;
mod outbox;
mod readers;
mod schema;
mod store;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use whatsapi_core::StoreError;

pub use error::SqliteError;
pub use schema::SCHEMA_VERSION;

use readers::Readers;
use writer::Writer;

/// How a store is opened. `Default` is what production should use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a connection waits for a lock held by another connection before giving up.
    pub busy_timeout: Duration,
    /// Read connections in the pool.
    pub read_connections: usize,
    /// Write requests that may wait for the writer; callers beyond it wait (backpressure).
    pub queue_capacity: usize,
    /// Most write requests committed in one transaction; 1 disables group commit (one transaction per request).
    pub max_batch: usize,
    /// `PRAGMA max_page_count` of the writer: writes that would grow the file beyond it fail with SQLITE_FULL,
    /// exactly as on a full disk. `None` (the default) keeps SQLite's limit. For tests; see
    /// [`SqliteStore::set_max_page_count`].
    pub max_page_count: Option<u32>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
            queue_capacity: 1024,
            max_batch: 512,
            max_page_count: None,
        }
    }
}

/// The SQLite store. Cheap to share as `Arc<dyn Store>`; dropping the last handle stops the writer thread after
/// the requests already queued.
pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    keys: keys::KeyCache,
    /// The end of the send slots reserved per key ([`LimitStore`](whatsapi_core::store::LimitStore)): in
    /// memory, since one process serves a file.
    send_slots: limits::SendSlots,
    throttles: limits::Throttles,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates, with its parent folders; new files are 0600 and new folders 0700 on Unix) the database at `path` with the default options, and brings
    /// its schema up to date. Opening is synchronous and needs no runtime; the store's calls need Tokio.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, SqliteError> {
        Self::open_at_version(path.as_ref(), options, SCHEMA_VERSION)
    }

    /// Opens and migrates only up to `version` (tests of the migrations).
    #[doc(hidden)]
    pub fn open_at_version(
        path: &Path,
        options: SqliteOptions,
        version: i64,
    ) -> Result<Self, SqliteError> {
        let path = path.to_owned();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            private::create_dirs(parent).map_err(|source| SqliteError::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        // Created here with mode 0600 before SQLite opens it (an empty file is an empty database): SQLite gives the
        // -wal and -shm files the database file's mode.
        let created = private::create_file(&path);
        let waited = options.busy_timeout;
        let classify = |e: SqliteError| classify(&path, waited, e);
        let mut conn = connect(&path, &options).map_err(classify)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| classify(e.into()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::NoWal { path, mode });
        }
        if created {
            private::restrict_sidecars(&path);
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| classify(e.into()))?;
        // Most requests run in a SAVEPOINT: keep its sub-journal in memory rather than in a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(|e| classify(e.into()))?;
        schema::migrate_to(&mut conn, &path, version).map_err(classify)?;
        if let Some(pages) = options.max_page_count {
            conn.pragma_update(None, "max_page_count", pages)
                .map_err(|e| classify(e.into()))?;
        }

        let read_options = options.clone();
        let open_reader: readers::OpenReader = Arc::new(move |p: &Path| {
            let conn = connect(p, &read_options)?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        });
        let keys = keys::open(&path, |p| open_reader(p));
        let readers =
            Readers::new(path.clone(), options.read_connections, open_reader).map_err(classify)?;
        let writer =
            Writer::start(conn, options.queue_capacity, options.max_batch).map_err(|e| {
                SqliteError::Open {
                    path: path.clone(),
                    source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
                }
            })?;
        Ok(Self {
            writer,
            readers,
            keys,
            send_slots: limits::SendSlots::default(),
            throttles: limits::Throttles::default(),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frees the Idempotency-Keys that requests of a previous process reserved and never finished (it was killed
    /// between the reservation and the commit of the request's result, so nothing was saved for them); answers how
    /// many. Without this, a client retrying such a request after a crash gets 409 "still being processed" until the
    /// reservation's lock ends. Call it when the process that serves this file starts, before it takes requests:
    /// a reservation of a live server on the same file would be freed too.
    pub async fn release_unfinished_idempotency_keys(&self) -> Result<u64, StoreError> {
        self.writer.write(idempotency::release_unfinished).await
    }

    /// Caps the database at `pages` pages (`PRAGMA max_page_count` on the writer), or lifts the cap (`None`);
    /// answers the cap now in force. SQLite never sets it below the file's current size, so `Some(0)` (or any
    /// small value) means "no growth at all": a write that needs a new page then fails with SQLITE_FULL
    /// ([`StoreError::Unavailable`]), as on a full disk, and is rolled back. For tests of a full disk.
    pub async fn set_max_page_count(&self, pages: Option<u32>) -> Result<u64, StoreError> {
        // `PRAGMA max_page_count = 0` only reads it; SQLite clamps a larger value to its compile-time maximum.
        let pages = pages.unwrap_or(u32::MAX - 1).max(1);
        self.writer
            .write(move |conn| {
                Ok(
                    conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                        r.get::<_, i64>(0)
                    })?,
                )
            })
            .await
            .map(|n| u64::try_from(n).unwrap_or(0))
    }
}

/// Files at rest readable by their owner only: the database, its -wal and -shm files (0600), and the folders
/// created for them (0700), like the encryption key file. Existing files and folders keep their modes.
mod private {
    use std::path::Path;

    /// Creates `dir` and its missing parents, 0700 on Unix.
    pub(crate) fn create_dirs(dir: &Path) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)
    }

    /// Creates the empty database file with mode 0600 unless it exists; whether it did. When it cannot (a folder
    /// in its place, no permission), SQLite's own open reports why.
    pub(crate) fn create_file(path: &Path) -> bool {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).is_ok()
    }

    /// Sets the -wal and -shm files of a database created here to 0600, whatever SQLite and the umask made.
    pub(crate) fn restrict_sidecars(path: &Path) {
        #[cfg(unix)]
        for suffix in ["-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let sidecar = std::path::PathBuf::from(name);
            // Belt and braces (SQLite already copied the database's 0600): a failure here changes nothing.
            if sidecar.exists() {
                let _ = std::fs::set_permissions(&sidecar, std::fs::Permissions::from_mode(0o600));
            }
        }
        #[cfg(not(unix))]
        let _ = path;
    }
}

/// A connection with the settings every connection of the store uses.
fn connect(path: &Path, options: &SqliteOptions) -> error::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| SqliteError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(128);
    // Query planner stability guarantee: a cached statement keeps the plan it was prepared with. Without it SQLite
    // recompiles a statement whenever a new value is bound to a parameter its planner looked at (`LIMIT ?2`, and
    // with STAT4 the bounds of a range), so every claim of due messages or of webhook events was parsed and
    // planned again (about 160,000 instructions each, measured with callgrind; see BENCHMARKS.md).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// Turns the errors of opening into the ones a user can act on.
fn classify(path: &Path, waited: Duration, e: SqliteError) -> SqliteError {
    let code = match &e {
        SqliteError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => Some(err.code),
        SqliteError::Open {
            source: rusqlite::Error::SqliteFailure(err, _),
            ..
        } if err.code == ErrorCode::NotADatabase => Some(err.code),
        SqliteError::Busy(_) => Some(ErrorCode::DatabaseBusy),
        _ => None,
    };
    match code {
        Some(ErrorCode::NotADatabase) => SqliteError::NotADatabase {
            path: path.to_owned(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SqliteError::Locked {
            path: path.to_owned(),
            waited,
        },
        _ => e,
    }
}
