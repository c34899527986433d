//! Idempotency records per (account, key): reservation through `idempotency::decide`, completion, release.
//!
//! Every path that reads and then writes a key's record first takes a transaction-scoped advisory lock on the
//! key, so concurrent requests with one key (on any replica) decide one after the other.

use chrono::{DateTime, Utc};
use whatsapi_core::idempotency::{
    self, Decision, Fingerprint, IN_FLIGHT_LOCK, IdempotencyKey, IdempotencyRecord, RETENTION,
    StoredOutcome,
};
use whatsapi_core::store::IdempotencyCompletion;
use whatsapi_core::{AccountId, StoreError};

use crate::codec::{minus, plus, time, ts};
use crate::db::Db;
use crate::error::{PostgresError, Result};

/// What `response_status` holds for a finished request: the column marks completion (`NULL` while the request
/// runs); the outcome itself is the JSON in `response_body`.
const FINISHED: i64 = 1;

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

/// Stores the response of a finished request; `Conflict` when the key already holds one.
pub(crate) async fn complete(
    db: &dyn Db,
    account: AccountId,
    done: &IdempotencyCompletion,
) -> Result<()> {
    lock_key(db, account, &done.key).await?;
    if let Some(existing) = record(db, account, &done.key).await? {
        if existing.response.is_some() {
            return Err(StoreError::Conflict(format!(
                "the idempotency key '{}' already holds a finished response",
                done.key.as_str()
            ))
            .into());
        }
    }
    // A completion without a reservation (the caller skipped `begin`) starts its record now.
    let created_at = minus(done.expires_at, RETENTION);
    db.exec(
        "INSERT INTO idempotency (account, key, fingerprint, response_status, response_body, created_at, \
         locked_until, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) \
         ON CONFLICT (account, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
         response_status = excluded.response_status, response_body = excluded.response_body, \
         locked_until = excluded.locked_until, expires_at = excluded.expires_at",
        &[
            &account.0,
            &done.key.as_str(),
            &&done.fingerprint.0[..],
            &FINISHED,
            &serde_json::to_string(&done.response.0)?,
            &ts(created_at),
            &ts(done.expires_at),
        ],
    )
    .await?;
    Ok(())
}
