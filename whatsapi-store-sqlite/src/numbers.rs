//! Extra business numbers of accounts: rows, and the rule that a phone number id is connected once, across the
//! default credentials (`accounts.phone_number_id`) and this table. The writer is the only writer, so checking
//! both inside its transaction is atomic.

use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::numbers::{BusinessNumber, NumberUpdate};
use whatsapi_core::store::support;
use whatsapi_core::{AccountId, StoreError};

use crate::codec::{time, ts, uuid};
use crate::error::{Result, SqliteError};

const COLUMNS: &str = "a.id, n.phone_number_id, n.access_token, n.display_phone_number, n.verified_name, \
     n.quality_rating, n.throughput_level, n.throughput_per_second, n.created_at, n.updated_at";

fn row(r: &Row<'_>) -> rusqlite::Result<Result<BusinessNumber>> {
    let id: Vec<u8> = r.get(0)?;
    let rate: Option<i64> = r.get(7)?;
    let number = (
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get::<_, i64>(8)?,
        r.get::<_, i64>(9)?,
    );
    Ok(uuid(&id).map(|id| BusinessNumber {
        account_id: AccountId(id),
        phone_number_id: number.0,
        access_token: number.1,
        display_phone_number: number.2,
        verified_name: number.3,
        quality_rating: number.4,
        throughput_level: number.5,
        throughput_per_second: rate.and_then(|r| u32::try_from(r).ok()),
        created_at: time(number.6),
        updated_at: time(number.7),
    }))
}

/// Who holds `pnid` as default or extra number, by account row number.
fn owner(conn: &Connection, pnid: &str) -> Result<Option<i64>> {
    let default: Option<i64> = conn
        .prepare_cached("SELECT seq FROM accounts WHERE phone_number_id = ?1")?
        .query_row([pnid], |r| r.get(0))
        .optional()?;
    if default.is_some() {
        return Ok(default);
    }
    Ok(conn
        .prepare_cached("SELECT account FROM business_numbers WHERE phone_number_id = ?1")?
        .query_row([pnid], |r| r.get(0))
        .optional()?)
}

/// The conflict of saving `pnid` as the default number of account `seq`, when it is an extra number.
pub(crate) fn check_default(conn: &Connection, seq: i64, pnid: &str) -> Result<()> {
    let extra: Option<i64> = conn
        .prepare_cached("SELECT account FROM business_numbers WHERE phone_number_id = ?1")?
        .query_row([pnid], |r| r.get(0))
        .optional()?;
    match extra {
        Some(owner) if owner == seq => Err(support::number_already_connected(pnid).into()),
        Some(_) => Err(support::phone_number_id_taken(pnid).into()),
        None => Ok(()),
    }
}

/// Inserts a new extra number after the checks every store makes.
pub(crate) fn add(conn: &Connection, n: &BusinessNumber, max: usize) -> Result<BusinessNumber> {
    let seq = crate::accounts::require_seq(conn, n.account_id)?;
    match owner(conn, &n.phone_number_id)? {
        Some(o) if o == seq => {
            return Err(support::number_already_connected(&n.phone_number_id).into());
        }
        Some(_) => return Err(support::phone_number_id_taken(&n.phone_number_id).into()),
        None => {}
    }
    let held: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM business_numbers WHERE account = ?1")?
        .query_row([seq], |r| r.get(0))?;
    if usize::try_from(held).unwrap_or(usize::MAX) >= max {
        return Err(support::too_many_numbers(max).into());
    }
    conn.prepare_cached(
        "INSERT INTO business_numbers (phone_number_id, account, access_token, display_phone_number, verified_name, \
         quality_rating, throughput_level, throughput_per_second, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        n.phone_number_id,
        seq,
        n.access_token,
        n.display_phone_number,
        n.verified_name,
        n.quality_rating,
        n.throughput_level,
        n.throughput_per_second.map(i64::from),
        ts(n.created_at),
        ts(n.updated_at),
    ])?;
    Ok(n.clone())
}

/// The account's extra numbers, oldest first.
pub(crate) fn list(conn: &Connection, account: AccountId) -> Result<Vec<BusinessNumber>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM business_numbers n JOIN accounts a ON a.seq = n.account \
         WHERE a.id = ?1 ORDER BY n.created_at, n.phone_number_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([account.0.as_bytes()], row)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

/// One extra number of the account.
pub(crate) fn get(
    conn: &Connection,
    account: AccountId,
    pnid: &str,
) -> Result<Option<BusinessNumber>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM business_numbers n JOIN accounts a ON a.seq = n.account \
         WHERE a.id = ?1 AND n.phone_number_id = ?2"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![account.0.as_bytes(), pnid], row)
        .optional()?
        .transpose()
}

/// Applies one change and writes the row back.
pub(crate) fn update(
    conn: &Connection,
    account: AccountId,
    pnid: &str,
    update: NumberUpdate,
) -> Result<BusinessNumber> {
    let mut n = get(conn, account, pnid)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
    n.apply(update);
    conn.prepare_cached(
        "UPDATE business_numbers SET access_token = ?2, display_phone_number = ?3, verified_name = ?4, \
         quality_rating = ?5, throughput_level = ?6, throughput_per_second = ?7, updated_at = ?8 \
         WHERE phone_number_id = ?1",
    )?
    .execute(params![
        n.phone_number_id,
        n.access_token,
        n.display_phone_number,
        n.verified_name,
        n.quality_rating,
        n.throughput_level,
        n.throughput_per_second.map(i64::from),
        ts(n.updated_at),
    ])?;
    Ok(n)
}

/// Removes an extra number of the account.
pub(crate) fn delete(conn: &Connection, account: AccountId, pnid: &str) -> Result<()> {
    let seq = crate::accounts::require_seq(conn, account)?;
    let removed = conn
        .prepare_cached("DELETE FROM business_numbers WHERE account = ?1 AND phone_number_id = ?2")?
        .execute(params![seq, pnid])?;
    if removed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

/// The account routing an extra number's webhooks, by row number.
pub(crate) fn account_of(conn: &Connection, pnid: &str) -> Result<Option<AccountId>> {
    let id: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT a.id FROM business_numbers n JOIN accounts a ON a.seq = n.account WHERE n.phone_number_id = ?1",
        )?
        .query_row([pnid], |r| r.get(0))
        .optional()?;
    id.map(|b| uuid(&b).map(AccountId)).transpose()
}
