//! Idempotency records per (account, key): reservation through `idempotency::decide`, completion, release.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use whatsapi_core::AccountId;
use whatsapi_core::StoreError;
use whatsapi_core::idempotency::{
    self, Decision, Fingerprint, IN_FLIGHT_LOCK, IdempotencyKey, IdempotencyRecord, RETENTION,
    StoredOutcome,
};
use whatsapi_core::store::IdempotencyCompletion;

use crate::codec::{minus, plus, time, ts};
use crate::error::{Result, SqliteError};

/// What `response_status` holds for a finished request: the column marks completion (`NULL` while the request
/// runs); the outcome itself is the JSON in `response_body`.
const FINISHED: i64 = 1;

fn record(
    conn: &Connection,
    account: AccountId,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>> {
    type Row = (Vec<u8>, Option<i64>, Option<String>, i64, i64, i64);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT fingerprint, response_status, response_body, created_at, locked_until, expires_at \
             FROM idempotency WHERE account = ?1 AND key = ?2",
        )?
        .query_row(params![account.0.as_bytes(), key.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let Some((fingerprint, status, body, created_at, locked_until, expires_at)) = row else {
        return Ok(None);
    };
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
                .map_err(|_| SqliteError::Corrupt("fingerprint length".into()))?,
        ),
        response,
        created_at: time(created_at),
        locked_until: time(locked_until),
        expires_at: time(expires_at),
    }))
}

/// Decides what to do with a request carrying `key`, reserving the key when it is free.
pub(crate) fn begin(
    conn: &Connection,
    account: AccountId,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    now: DateTime<Utc>,
) -> Result<Decision> {
    let existing = record(conn, account, key)?;
    if let Some(decision) = idempotency::decide(existing.as_ref(), fingerprint, now) {
        return Ok(decision);
    }
    conn.prepare_cached(
        "INSERT INTO idempotency (account, key, fingerprint, response_status, response_body, created_at, \
         locked_until, expires_at) VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5, ?6) \
         ON CONFLICT (account, key) DO UPDATE SET fingerprint = excluded.fingerprint, response_status = NULL, \
         response_body = NULL, created_at = excluded.created_at, locked_until = excluded.locked_until, \
         expires_at = excluded.expires_at",
    )?
    .execute(params![
        account.0.as_bytes(),
        key.as_str(),
        &fingerprint.0[..],
        ts(now),
        ts(plus(now, IN_FLIGHT_LOCK)),
        ts(plus(now, RETENTION)),
    ])?;
    Ok(Decision::Fresh)
}

/// Frees an unfinished reservation.
pub(crate) fn release(conn: &Connection, account: AccountId, key: &IdempotencyKey) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM idempotency WHERE account = ?1 AND key = ?2 AND response_status IS NULL",
    )?
    .execute(params![account.0.as_bytes(), key.as_str()])?;
    Ok(())
}

/// Frees every key still reserved by a request that never finished: what a process that died mid-request left.
/// A reservation and the request's result are separate transactions, and the result (messages and completion)
/// commits as one, so a reservation without a response saved nothing.
pub(crate) fn release_unfinished(conn: &Connection) -> Result<u64> {
    let n = conn
        .prepare_cached("DELETE FROM idempotency WHERE response_status IS NULL")?
        .execute([])?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Stores the response of a finished request; `Conflict` when the key already holds one.
pub(crate) fn complete(
    conn: &Connection,
    account: AccountId,
    done: &IdempotencyCompletion,
) -> Result<()> {
    if let Some(existing) = record(conn, account, &done.key)? {
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
    conn.prepare_cached(
        "INSERT INTO idempotency (account, key, fingerprint, response_status, response_body, created_at, \
         locked_until, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) \
         ON CONFLICT (account, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
         response_status = excluded.response_status, response_body = excluded.response_body, \
         locked_until = excluded.locked_until, expires_at = excluded.expires_at",
    )?
    .execute(params![
        account.0.as_bytes(),
        done.key.as_str(),
        &done.fingerprint.0[..],
        FINISHED,
        serde_json::to_string(&done.response.0)?,
        ts(created_at),
        ts(done.expires_at),
    ])?;
    Ok(())
}
