//! Customers: the product half of an account row (email, plan, key hash, Stripe links) and the external events
//! recorded once.

use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::{Account, AccountId, StoreError};
use whatsapi_saas::{Customer, KeyHash, NewCustomer};

use crate::accounts::{self, ProductColumns, email_key};
use crate::codec::{time_opt, ts_opt, uuid};
use crate::error::{Result, SqliteError};

const COLUMNS: &str =
    "id, email, plan, key_hash, stripe_customer_id, stripe_subscription_id, billing_event_at";

fn customer_row(r: &Row<'_>) -> rusqlite::Result<Result<Customer>> {
    let id: Vec<u8> = r.get(0)?;
    let email: String = r.get(1)?;
    let plan: String = r.get(2)?;
    let key_hash: Vec<u8> = r.get(3)?;
    let stripe_customer_id: Option<String> = r.get(4)?;
    let stripe_subscription_id: Option<String> = r.get(5)?;
    let billing_event_at: Option<i64> = r.get(6)?;
    Ok((|| {
        Ok(Customer {
            id: AccountId(uuid(&id)?),
            email,
            plan: plan.parse().map_err(SqliteError::Corrupt)?,
            key_hash: KeyHash(
                key_hash
                    .try_into()
                    .map_err(|_| SqliteError::Corrupt("key hash length".into()))?,
            ),
            stripe_customer_id,
            stripe_subscription_id,
            billing_event_at: time_opt(billing_event_at),
        })
    })())
}

/// Rows without a product half (accounts of the engine alone) are no customers.
fn one(conn: &Connection, filter: &str, key: impl rusqlite::ToSql) -> Result<Option<Customer>> {
    let sql =
        format!("SELECT {COLUMNS} FROM accounts WHERE {filter} AND key_hash IS NOT NULL LIMIT 1");
    conn.prepare_cached(&sql)?
        .query_row([key], customer_row)
        .optional()?
        .transpose()
}

/// A customer by account id.
pub(crate) fn by_id(conn: &Connection, id: AccountId) -> Result<Option<Customer>> {
    one(conn, "id = ?1", id.0.as_bytes())
}

/// A customer by key hash.
pub(crate) fn by_key_hash(conn: &Connection, hash: &KeyHash) -> Result<Option<Customer>> {
    one(conn, "key_hash = ?1", &hash.0[..])
}

/// A customer by email, case-insensitively.
pub(crate) fn by_email(conn: &Connection, email: &str) -> Result<Option<Customer>> {
    one(conn, "email_key = ?1", email_key(email))
}

/// Inserts the account row with both halves.
pub(crate) fn create(conn: &Connection, new: NewCustomer) -> Result<Customer> {
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM accounts WHERE email_key = ?1)")?
        .query_row([email_key(&new.email)], |r| r.get(0))?;
    if taken {
        return Err(StoreError::Conflict(format!(
            "an account with the email {} already exists",
            new.email
        ))
        .into());
    }
    let customer = Customer::new(&new);
    let account = Account::new(new.account);
    accounts::insert(
        conn,
        &account,
        Some(ProductColumns {
            email: &customer.email,
            plan: customer.plan.as_str(),
            key_hash: &customer.key_hash.0,
        }),
    )?;
    Ok(customer)
}

/// Writes the mutable product fields of `customer` back; `NotFound` when there is no such customer.
pub(crate) fn save(conn: &Connection, customer: &Customer) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE accounts SET plan = ?2, stripe_customer_id = ?3, stripe_subscription_id = ?4, \
             billing_event_at = ?5 WHERE id = ?1 AND key_hash IS NOT NULL",
        )?
        .execute(params![
            customer.id.0.as_bytes(),
            customer.plan.as_str(),
            customer.stripe_customer_id,
            customer.stripe_subscription_id,
            ts_opt(customer.billing_event_at),
        ])?;
    if changed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

/// Records an external event; `false` when it was recorded before.
pub(crate) fn record_external_event(
    conn: &Connection,
    source: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO external_events (source, id, recorded_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (source, id) DO NOTHING",
        )?
        .execute(params![source, id, now])?;
    Ok(inserted == 1)
}

/// Replaces the key hash if the current one is `old`.
pub(crate) fn rotate_key(
    conn: &Connection,
    id: AccountId,
    old: &KeyHash,
    new: &KeyHash,
) -> Result<()> {
    let changed = conn
        .prepare_cached("UPDATE accounts SET key_hash = ?3 WHERE id = ?1 AND key_hash = ?2")?
        .execute(params![id.0.as_bytes(), &old.0[..], &new.0[..]])?;
    if changed == 1 {
        return Ok(());
    }
    match by_id(conn, id)? {
        None => Err(StoreError::NotFound.into()),
        Some(_) => Err(StoreError::Conflict(
            "the API key was rotated concurrently; the current key is not the one presented".into(),
        )
        .into()),
    }
}
