//! Errors of the SQLite store and their mapping into [`StoreError`].

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::ErrorCode;
use whatsapi_core::StoreError;

/// What can go wrong opening or using a SQLite store.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// The folder that should hold the database file could not be created.
    #[error("cannot create the folder {path} for the database: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file could not be opened or created (missing permission, a folder in its place, …).
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The file exists but is not a SQLite database (or is encrypted or damaged beyond its header).
    #[error("{path} is not a SQLite database")]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// Another connection (usually another process) holds the database lock.
    #[error("the database {path} is locked by another process (waited {waited:?})")]
    Locked {
        /// The file.
        path: PathBuf,
        /// How long we waited (`busy_timeout`).
        waited: Duration,
    },
    /// The file was written by a newer version of whatsapi; opening it could damage it.
    #[error(
        "the database {path} has schema version {found}, newer than the {supported} this build of whatsapi knows; \
         upgrade whatsapi instead of opening the file with an older version"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A migration cannot run on the rows the file holds; the message says what to fix.
    #[error("cannot upgrade the database {path}: {message}")]
    Migration {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The database could not be switched to WAL (a read-only or network file system, for instance).
    #[error("the database {path} cannot use WAL journaling (journal_mode is '{mode}')")]
    NoWal {
        /// The file.
        path: PathBuf,
        /// The mode SQLite kept.
        mode: String,
    },
    /// The disk (or the file system quota) is full.
    #[error("the disk holding the database is full")]
    DiskFull,
    /// The database or its folder cannot be written.
    #[error("the database is read-only: {0}")]
    ReadOnly(String),
    /// The lock could not be taken within `busy_timeout`.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// The writer thread has stopped (the store is shutting down or the thread died).
    #[error("the database writer has stopped")]
    WriterStopped,
    /// A stored value could not be decoded.
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
    /// Any other SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// A domain outcome (not found, conflict, stale attempt) passed through unchanged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result inside this crate.
pub(crate) type Result<T, E = SqliteError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for SqliteError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(err, msg) => {
                let text = msg.clone().unwrap_or_else(|| err.to_string());
                match err.code {
                    ErrorCode::DiskFull => SqliteError::DiskFull,
                    ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
                        SqliteError::ReadOnly(text)
                    }
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => SqliteError::Busy(text),
                    // SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
                    ErrorCode::ConstraintViolation if matches!(err.extended_code, 2067 | 1555) => {
                        SqliteError::Store(StoreError::Conflict(format!("already exists: {text}")))
                    }
                    _ => SqliteError::Sqlite(e),
                }
            }
            _ => SqliteError::Sqlite(e),
        }
    }
}

impl From<serde_json::Error> for SqliteError {
    fn from(e: serde_json::Error) -> Self {
        SqliteError::Corrupt(e.to_string())
    }
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Store(inner) => inner,
            SqliteError::DiskFull
            | SqliteError::ReadOnly(_)
            | SqliteError::Busy(_)
            | SqliteError::Locked { .. }
            | SqliteError::WriterStopped => StoreError::Unavailable(e.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32, extended: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error {
                code: rusqlite::ffi::Error::new(code).code,
                extended_code: extended,
            },
            None,
        )
    }

    #[test]
    fn resource_errors_are_unavailable() {
        for (code, ext) in [(13, 13), (8, 8), (5, 5), (6, 6)] {
            let e: StoreError = SqliteError::from(failure(code, ext)).into();
            assert!(matches!(e, StoreError::Unavailable(_)), "{code}: {e:?}");
        }
        let e: StoreError = SqliteError::WriterStopped.into();
        assert!(matches!(e, StoreError::Unavailable(_)));
    }

    #[test]
    fn unique_violations_are_conflicts_and_the_rest_backend() {
        let e: StoreError = SqliteError::from(failure(19, 2067)).into();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        // A foreign key violation is a bug, not a conflict.
        let e: StoreError = SqliteError::from(failure(19, 787)).into();
        assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
        let e: StoreError = SqliteError::Store(StoreError::Stale).into();
        assert_eq!(e, StoreError::Stale);
    }
}
