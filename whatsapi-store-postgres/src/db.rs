//! A small query surface over a pooled client or a transaction (prepared statements are cached per connection),
//! and the transaction runner that retries deadlocks and serialization failures.

use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::Result;

/// Query parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// What the modules query through: a pooled connection or a transaction on one.
#[async_trait]
pub(crate) trait Db: Sync {
    /// Every row.
    async fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>>;
    /// The number of rows changed.
    async fn exec(&self, sql: &str, params: Params<'_>) -> Result<u64>;

    /// At most one row.
    async fn opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    /// Exactly one row.
    async fn one(&self, sql: &str, params: Params<'_>) -> Result<Row> {
        self.opt(sql, params)
            .await?
            .ok_or_else(|| crate::PostgresError::Corrupt(format!("expected one row from: {sql}")))
    }
}

#[async_trait]
impl Db for deadpool_postgres::Client {
    async fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let stmt = self.prepare_cached(sql).await?;
        Ok(self.query(&stmt, params).await?)
    }

    async fn exec(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        let stmt = self.prepare_cached(sql).await?;
        Ok(self.execute(&stmt, params).await?)
    }
}

#[async_trait]
impl Db for deadpool_postgres::Transaction<'_> {
    async fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let stmt = self.prepare_cached(sql).await?;
        Ok(self.query(&stmt, params).await?)
    }

    async fn exec(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        let stmt = self.prepare_cached(sql).await?;
        Ok(self.execute(&stmt, params).await?)
    }
}

/// How often a transaction that lost a deadlock or serialization conflict is run again.
pub(crate) const TX_ATTEMPTS: usize = 5;

/// Runs `$body` (an expression using the transaction `$tx: &Transaction`) in a transaction on a pooled
/// connection and commits it; an error rolls it back. Deadlocks and serialization failures run it again, so the
/// body must not move captured values.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0usize;
        loop {
            attempt += 1;
            let result: $crate::error::Result<_> = async {
                let mut client = $store.client().await?;
                let tx = client.transaction().await?;
                let $tx = &tx;
                match $body {
                    Ok(value) => {
                        tx.commit().await?;
                        Ok(value)
                    }
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }
            .await;
            match result {
                Err(e) if e.is_retryable() && attempt < $crate::db::TX_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "transaction conflict; running it again");
                }
                other => break other,
            }
        }
    }};
}

pub(crate) use in_tx;
