//! Idempotency records per (account, key): reservation through `idempotency::decide`, release. Completion is
//! written by the statement that inserts the request's messages (`messages::insert`), with [`FINISHED`].
//!
//! Every path that reads and then writes a key's record first takes a transaction-scoped advisory lock on the
//! key ([`lock_key`], or the same lock inside the insert's statement), so concurrent requests with one key (on
//! any replica) decide one after the other.

use chrono::{DateTime, Utc};
use whatsapi_core::AccountId;
use whatsapi_core::idempotency::{
    self, Decision, Fingerprint, IN_FLIGHT_LOCK, IdempotencyKey, IdempotencyRecord, RETENTION,
    StoredOutcome,
};

use crate::codec::{plus, time, ts};
use crate::db::Db;
use crate::error::{PostgresError, Result};

/// What `response_status` holds for a finished request: the column marks completion (`NULL` while the request
/// runs); the outcome itself is the JSON in `response_body`.
pub(crate) const FINISHED: i64 = 1;

/// Takes the key's transaction-scoped advisory lock.
async fn lock_key(db: &dyn Db, account: AccountId, key: &IdempotencyKey) -> Result<()> {
    db.exec(
        "SELECT pg_advisory_xact_lock(hashtextextended('whatsapi:idempotency:' || $1 || ':' || $2, 0))",
        &[&account.0.to_string(), &key.as_str()],
    )
    .await?;
    Ok(())
}

async fn record(
    db: &dyn Db,
    account: AccountId,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>> {
    let Some(r) = db
        .opt(
            "SELECT fingerprint, response_status, response_body, created_at, locked_until, expires_at \
             FROM idempotency WHERE account = $1 AND key = $2",
            &[&account.0, &key.as_str()],
        )
        .await?
    else {
        return Ok(None);
    };
    let fingerprint: Vec<u8> = r.try_get(0)?;
    let status: Option<i64> = r.try_get(1)?;
    let body: Option<String> = r.try_get(2)?;
    let response = match (status, body) {
        // `response_status` only marks a finished request (it held an HTTP status before outcomes were typed).
        (Some(_), Some(body)) => Some(StoredOutcome(serde_json::from_str(&body)?)),
        _ => None,
    };
    Ok(Some(IdempotencyRecord {
        account_id: account,
        key: key.clone(),
        fingerprint: Fingerprint(
            fingerprint
                .try_into()
                .map_err(|_| PostgresError::Corrupt("fingerprint length".into()))?,
        ),
        response,
        created_at: time(r.try_get(3)?),
        locked_until: time(r.try_get(4)?),
        expires_at: time(r.try_get(5)?),
    }))
}

/// Decides what to do with a request carrying `key`, reserving the key when it is free.
pub(crate) async fn begin(
    db: &dyn Db,
    account: AccountId,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    now: DateTime<Utc>,
) -> Result<Decision> {
    lock_key(db, account, key).await?;
    let existing = record(db, account, key).await?;
    if let Some(decision) = idempotency::decide(existing.as_ref(), fingerprint, now) {
        return Ok(decision);
    }
    db.exec(
        "INSERT INTO idempotency (account, key, fingerprint, response_status, response_body, created_at, \
         locked_until, expires_at) VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6) \
         ON CONFLICT (account, key) DO UPDATE SET fingerprint = excluded.fingerprint, response_status = NULL, \
         response_body = NULL, created_at = excluded.created_at, locked_until = excluded.locked_until, \
         expires_at = excluded.expires_at",
        &[
            &account.0,
            &key.as_str(),
            &&fingerprint.0[..],
            &ts(now),
            &ts(plus(now, IN_FLIGHT_LOCK)),
            &ts(plus(now, RETENTION)),
        ],
    )
    .await?;
    Ok(Decision::Fresh)
}

/// Frees an unfinished reservation.
pub(crate) async fn release(db: &dyn Db, account: AccountId, key: &IdempotencyKey) -> Result<()> {
    db.exec(
        "DELETE FROM idempotency WHERE account = $1 AND key = $2 AND response_status IS NULL",
        &[&account.0, &key.as_str()],
    )
    .await?;
    Ok(())
}
