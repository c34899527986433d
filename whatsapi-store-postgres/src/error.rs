//! Errors of the PostgreSQL store and their mapping into [`StoreError`].

use tokio_postgres::error::SqlState;
use whatsapi_core::StoreError;

/// What can go wrong opening or using a PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The connection string could not be parsed.
    #[error("invalid PostgreSQL connection string: {0}")]
    Config(String),
    /// The schema name given in the options is not a plain identifier.
    #[error(
        "invalid schema name '{0}': use letters, digits and underscores, starting with a letter"
    )]
    SchemaName(String),
    /// The database holds a schema written by a newer whatsapi; using it could damage it.
    #[error(
        "the database has whatsapi schema version {found}, newer than the {supported} this build knows; \
         upgrade whatsapi instead of running an older version against it"
    )]
    NewerSchema {
        /// The version found in `whatsapi_schema_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A migration cannot run on the rows the database holds; the message says what to fix.
    #[error("cannot upgrade the whatsapi schema: {0}")]
    Migration(String),
    /// The server cannot be reached, closed the connection, is shutting down, refuses connections, or is read-only.
    #[error("PostgreSQL is unavailable: {0}")]
    Unavailable(String),
    /// No pooled connection became free in time.
    #[error("no database connection became free within the pool timeout")]
    PoolTimeout,
    /// A unique constraint was violated.
    #[error("already exists: {0}")]
    UniqueViolation(String),
    /// A transaction lost a deadlock or a serialization conflict (retried before it is reported).
    #[error("transaction conflict: {0}")]
    Retryable(String),
    /// A stored value could not be decoded.
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
    /// Any other PostgreSQL error.
    #[error("postgres: {0}")]
    Postgres(tokio_postgres::Error),
    /// A domain outcome (not found, conflict, stale attempt) passed through unchanged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result inside this crate.
pub(crate) type Result<T, E = PostgresError> = std::result::Result<T, E>;

impl PostgresError {
    /// Whether running the transaction again may succeed (deadlock, serialization failure).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, PostgresError::Retryable(_))
    }
}

/// Whether the SQLSTATE means the server cannot take the request right now.
fn unavailable(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    // 08: connection exception, 53: insufficient resources (disk full, too many connections),
    // 57P: operator intervention (shutdown, cannot connect now).
    class == "08"
        || class == "53"
        || code.code().starts_with("57P")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
}

impl From<tokio_postgres::Error> for PostgresError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
                let what = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned());
                PostgresError::UniqueViolation(what)
            }
            Some(code)
                if *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE =>
            {
                PostgresError::Retryable(e.to_string())
            }
            Some(code) if unavailable(code) => PostgresError::Unavailable(e.to_string()),
            Some(_) => PostgresError::Postgres(e),
            // No SQLSTATE: the connection failed or was closed (I/O, refused, timed out).
            None => PostgresError::Unavailable(with_causes(&e)),
        }
    }
}

/// The error with its chain of causes ("error connecting to server: Connection refused (os error 111)").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl From<deadpool_postgres::PoolError> for PostgresError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Timeout(_) => PostgresError::PoolTimeout,
            PoolError::Backend(e) => e.into(),
            other => PostgresError::Unavailable(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for PostgresError {
    fn from(e: serde_json::Error) -> Self {
        PostgresError::Corrupt(e.to_string())
    }
}

impl From<PostgresError> for StoreError {
    fn from(e: PostgresError) -> Self {
        match e {
            PostgresError::Store(inner) => inner,
            PostgresError::UniqueViolation(what) => {
                StoreError::Conflict(format!("already exists: {what}"))
            }
            PostgresError::Unavailable(_)
            | PostgresError::PoolTimeout
            | PostgresError::Retryable(_) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes_that_mean_unavailable() {
        for code in [
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::DISK_FULL,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ] {
            assert!(unavailable(&code), "{code:?}");
        }
        for code in [
            SqlState::UNIQUE_VIOLATION,
            SqlState::SYNTAX_ERROR,
            SqlState::FOREIGN_KEY_VIOLATION,
        ] {
            assert!(!unavailable(&code), "{code:?}");
        }
    }

    #[test]
    fn store_error_mapping() {
        let e: StoreError = PostgresError::PoolTimeout.into();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        let e: StoreError = PostgresError::Unavailable("connection refused".into()).into();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        let e: StoreError = PostgresError::UniqueViolation("duplicate key".into()).into();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        let e: StoreError = PostgresError::Corrupt("status 9".into()).into();
        assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
        let e: StoreError = PostgresError::Store(StoreError::Stale).into();
        assert_eq!(e, StoreError::Stale);
    }
}
