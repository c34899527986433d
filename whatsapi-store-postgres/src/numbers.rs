//! Extra business numbers of accounts, and the shared pacing step-downs of numbers.
//!
//! A phone number id is connected once, across `accounts.phone_number_id` (the default numbers, unique by index)
//! and `business_numbers` (unique by key): a writer of either takes the transaction advisory lock of the phone
//! number id ([`lock_number`]) before it checks the other table, so replicas connecting one number at once are
//! serialised and the second sees the first.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use whatsapi_core::numbers::{BusinessNumber, NumberUpdate, Throttle};
use whatsapi_core::store::support;
use whatsapi_core::{AccountId, StoreError};

use crate::codec::{time, ts};
use crate::db::Db;
use crate::error::{PostgresError, Result};

const COLUMNS: &str = "a.id, n.phone_number_id, n.access_token, n.display_phone_number, n.verified_name, \
     n.quality_rating, n.throughput_level, n.throughput_per_second, n.created_at, n.updated_at";

fn decode(r: &Row) -> Result<BusinessNumber> {
    let rate: Option<i32> = r.try_get(7)?;
    Ok(BusinessNumber {
        account_id: AccountId(r.try_get(0)?),
        phone_number_id: r.try_get(1)?,
        access_token: r.try_get(2)?,
        display_phone_number: r.try_get(3)?,
        verified_name: r.try_get(4)?,
        quality_rating: r.try_get(5)?,
        throughput_level: r.try_get(6)?,
        throughput_per_second: rate.and_then(|r| u32::try_from(r).ok()),
        created_at: time(r.try_get(8)?),
        updated_at: time(r.try_get(9)?),
    })
}

/// Serialises, until the transaction ends, every writer connecting `pnid` (as default or extra number).
pub(crate) async fn lock_number(db: &dyn Db, pnid: &str) -> Result<()> {
    db.rows(
        "SELECT pg_advisory_xact_lock(hashtextextended('whatsapi.number.' || $1, 0))",
        &[&pnid],
    )
    .await?;
    Ok(())
}

/// The conflict of saving `pnid` as the default number of account `seq`, when it is an extra number (the caller
/// holds [`lock_number`]).
pub(crate) async fn check_default(db: &dyn Db, seq: i64, pnid: &str) -> Result<()> {
    let extra = db
        .opt(
            "SELECT account FROM business_numbers WHERE phone_number_id = $1",
            &[&pnid],
        )
        .await?;
    match extra.map(|r| r.try_get::<_, i64>(0)).transpose()? {
        Some(owner) if owner == seq => Err(support::number_already_connected(pnid).into()),
        Some(_) => Err(support::phone_number_id_taken(pnid).into()),
        None => Ok(()),
    }
}

/// Inserts a new extra number after the checks every store makes (in a transaction).
pub(crate) async fn add(db: &dyn Db, n: &BusinessNumber, max: usize) -> Result<BusinessNumber> {
    let seq: i64 = db
        .opt(
            "SELECT seq FROM accounts WHERE id = $1 FOR UPDATE",
            &[&n.account_id.0],
        )
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?
        .try_get(0)?;
    lock_number(db, &n.phone_number_id).await?;
    let owner = db
        .opt(
            "SELECT seq FROM accounts WHERE phone_number_id = $1 \
             UNION ALL SELECT account FROM business_numbers WHERE phone_number_id = $1 LIMIT 1",
            &[&n.phone_number_id],
        )
        .await?;
    match owner.map(|r| r.try_get::<_, i64>(0)).transpose()? {
        Some(o) if o == seq => {
            return Err(support::number_already_connected(&n.phone_number_id).into());
        }
        Some(_) => return Err(support::phone_number_id_taken(&n.phone_number_id).into()),
        None => {}
    }
    // The account's row is locked: its count cannot grow under this check.
    let held: i64 = db
        .one(
            "SELECT count(*) FROM business_numbers WHERE account = $1",
            &[&seq],
        )
        .await?
        .try_get(0)?;
    if usize::try_from(held).unwrap_or(usize::MAX) >= max {
        return Err(support::too_many_numbers(max).into());
    }
    db.exec(
        "INSERT INTO business_numbers (phone_number_id, account, access_token, display_phone_number, verified_name, \
         quality_rating, throughput_level, throughput_per_second, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &n.phone_number_id,
            &seq,
            &n.access_token,
            &n.display_phone_number,
            &n.verified_name,
            &n.quality_rating,
            &n.throughput_level,
            &n.throughput_per_second.map(|r| i32::try_from(r).unwrap_or(i32::MAX)),
            &ts(n.created_at),
            &ts(n.updated_at),
        ],
    )
    .await?;
    Ok(n.clone())
}

/// The account's extra numbers, oldest first.
pub(crate) async fn list(db: &dyn Db, account: AccountId) -> Result<Vec<BusinessNumber>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM business_numbers n JOIN accounts a ON a.seq = n.account \
         WHERE a.id = $1 ORDER BY n.created_at, n.phone_number_id"
    );
    db.rows(&sql, &[&account.0])
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// One extra number of the account (`lock`: its row locked until the transaction ends).
pub(crate) async fn get(
    db: &dyn Db,
    account: AccountId,
    pnid: &str,
    lock: bool,
) -> Result<Option<BusinessNumber>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM business_numbers n JOIN accounts a ON a.seq = n.account \
         WHERE a.id = $1 AND n.phone_number_id = $2{}",
        if lock { " FOR UPDATE OF n" } else { "" }
    );
    db.opt(&sql, &[&account.0, &pnid])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Applies one change and writes the row back (in a transaction).
pub(crate) async fn update(
    db: &dyn Db,
    account: AccountId,
    pnid: &str,
    update: NumberUpdate,
) -> Result<BusinessNumber> {
    let mut n = get(db, account, pnid, true)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    n.apply(update);
    db.exec(
        "UPDATE business_numbers SET access_token = $2, display_phone_number = $3, verified_name = $4, \
         quality_rating = $5, throughput_level = $6, throughput_per_second = $7, updated_at = $8 \
         WHERE phone_number_id = $1",
        &[
            &n.phone_number_id,
            &n.access_token,
            &n.display_phone_number,
            &n.verified_name,
            &n.quality_rating,
            &n.throughput_level,
            &n.throughput_per_second.map(|r| i32::try_from(r).unwrap_or(i32::MAX)),
            &ts(n.updated_at),
        ],
    )
    .await?;
    Ok(n)
}

/// Removes an extra number of the account.
pub(crate) async fn delete(db: &dyn Db, account: AccountId, pnid: &str) -> Result<()> {
    let removed = db
        .exec(
            "DELETE FROM business_numbers n USING accounts a \
             WHERE a.seq = n.account AND a.id = $1 AND n.phone_number_id = $2",
            &[&account.0, &pnid],
        )
        .await?;
    if removed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

/// The throttles of `keys`, in their order.
pub(crate) async fn throttles(db: &dyn Db, keys: &[String]) -> Result<Vec<Option<Throttle>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .rows(
            "SELECT key, steps, since FROM number_throttles WHERE key = ANY($1::text[])",
            &[&keys],
        )
        .await?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        let key: String = r.try_get(0)?;
        let steps: i32 = r.try_get(1)?;
        found.insert(
            key,
            Throttle {
                steps: u32::try_from(steps).unwrap_or(0),
                since: time(r.try_get(2)?),
            },
        );
    }
    Ok(keys.iter().map(|k| found.get(k).copied()).collect())
}

/// One more step down of `key` (in a transaction: the row is locked while the new throttle is decided).
pub(crate) async fn step_down(
    db: &dyn Db,
    key: &str,
    now: DateTime<Utc>,
    quiet: Duration,
    min_gap: Duration,
) -> Result<Throttle> {
    // Make sure a row exists to lock, then decide from what it holds.
    db.exec(
        "INSERT INTO number_throttles (key, steps, since) VALUES ($1, 0, $2) ON CONFLICT (key) DO NOTHING",
        &[&key, &i64::MIN],
    )
    .await?;
    let row = db
        .one(
            "SELECT steps, since FROM number_throttles WHERE key = $1 FOR UPDATE",
            &[&key],
        )
        .await?;
    let steps: i32 = row.try_get(0)?;
    let since: i64 = row.try_get(1)?;
    let current = (since != i64::MIN).then(|| Throttle {
        steps: u32::try_from(steps).unwrap_or(0),
        since: time(since),
    });
    let next = Throttle::stepped_down(current, now, quiet, min_gap);
    db.exec(
        "UPDATE number_throttles SET steps = $2, since = $3 WHERE key = $1",
        &[
            &key,
            &i32::try_from(next.steps).unwrap_or(i32::MAX),
            &ts(next.since),
        ],
    )
    .await?;
    Ok(next)
}
