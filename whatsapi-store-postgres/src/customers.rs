//! Customers: the product half of an account row (email, plan, key hash, Stripe links) and the external events
//! recorded once.

use tokio_postgres::Row;
use whatsapi_core::{Account, AccountId, StoreError};
use whatsapi_saas::{Customer, CustomerUpdate, KeyHash, NewCustomer};

use crate::accounts::{self, ProductColumns, email_key};
use crate::codec::{time_opt, ts_opt};
use crate::db::Db;
use crate::error::{PostgresError, Result};

const COLUMNS: &str =
    "id, email, plan, key_hash, stripe_customer_id, stripe_subscription_id, billing_event_at";

fn decode(r: &Row) -> Result<Customer> {
    let plan: String = r.try_get(2)?;
    let key_hash: Vec<u8> = r.try_get(3)?;
    Ok(Customer {
        id: AccountId(r.try_get(0)?),
        email: r.try_get(1)?,
        plan: plan.parse().map_err(PostgresError::Corrupt)?,
        key_hash: KeyHash(
            key_hash
                .try_into()
                .map_err(|_| PostgresError::Corrupt("key hash length".into()))?,
        ),
        stripe_customer_id: r.try_get(4)?,
        stripe_subscription_id: r.try_get(5)?,
        billing_event_at: time_opt(r.try_get(6)?),
    })
}

/// Rows without a product half (accounts of the engine alone) are no customers.
async fn one(
    db: &dyn Db,
    filter: &str,
    key: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Option<Customer>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE {filter} AND key_hash IS NOT NULL");
    db.opt(&sql, &[key]).await?.as_ref().map(decode).transpose()
}

/// A customer by account id.
pub(crate) async fn by_id(db: &dyn Db, id: AccountId) -> Result<Option<Customer>> {
    one(db, "id = $1", &id.0).await
}

/// A customer by account id, its row locked until the transaction ends.
async fn by_id_for_update(db: &dyn Db, id: AccountId) -> Result<Option<Customer>> {
    let sql =
        format!("SELECT {COLUMNS} FROM accounts WHERE id = $1 AND key_hash IS NOT NULL FOR UPDATE");
    db.opt(&sql, &[&id.0])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// A customer by key hash.
pub(crate) async fn by_key_hash(db: &dyn Db, hash: &KeyHash) -> Result<Option<Customer>> {
    one(db, "key_hash = $1", &&hash.0[..]).await
}

/// A customer by email, case-insensitively.
pub(crate) async fn by_email(db: &dyn Db, email: &str) -> Result<Option<Customer>> {
    one(db, "email_key = $1", &email_key(email)).await
}

/// Inserts the account row with both halves.
pub(crate) async fn create(db: &dyn Db, new: &NewCustomer) -> Result<Customer> {
    let taken = || {
        PostgresError::Store(StoreError::Conflict(format!(
            "an account with the email {} already exists",
            new.email
        )))
    };
    if db
        .opt(
            "SELECT 1 FROM accounts WHERE email_key = $1",
            &[&email_key(&new.email)],
        )
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let customer = Customer::new(new);
    let account = Account::new(new.account.clone());
    let inserted = accounts::insert(
        db,
        &account,
        Some(ProductColumns {
            email: &customer.email,
            plan: customer.plan.as_str(),
            key_hash: &customer.key_hash.0,
        }),
    )
    .await;
    match inserted {
        Ok(()) => Ok(customer),
        // A concurrent registration with the same email won the race.
        Err(PostgresError::UniqueViolation(what)) if what.contains("email_key") => Err(taken()),
        Err(e) => Err(e),
    }
}

/// Applies one change to the customer's row (locked for the rest of the transaction).
pub(crate) async fn update(db: &dyn Db, id: AccountId, update: CustomerUpdate) -> Result<Customer> {
    let mut customer = by_id_for_update(db, id)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    customer.apply(update);
    let changed = db
        .exec(
            "UPDATE accounts SET plan = $2, stripe_customer_id = $3, stripe_subscription_id = $4, \
             billing_event_at = $5 WHERE id = $1",
            &[
                &customer.id.0,
                &customer.plan.as_str(),
                &customer.stripe_customer_id,
                &customer.stripe_subscription_id,
                &ts_opt(customer.billing_event_at),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(customer)
}

/// Records an external event id; false when it was recorded before (exactly one caller wins).
pub(crate) async fn record_external_event(
    db: &dyn Db,
    source: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    let inserted = db
        .exec(
            "INSERT INTO external_events (source, id, recorded_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&source, &id, &now],
        )
        .await?;
    Ok(inserted == 1)
}

/// Replaces the key hash if the current one is `old`.
pub(crate) async fn rotate_key(
    db: &dyn Db,
    id: AccountId,
    old: &KeyHash,
    new: &KeyHash,
) -> Result<()> {
    let changed = db
        .exec(
            "UPDATE accounts SET key_hash = $3 WHERE id = $1 AND key_hash = $2",
            &[&id.0, &&old.0[..], &&new.0[..]],
        )
        .await?;
    if changed == 1 {
        return Ok(());
    }
    match by_id(db, id).await? {
        None => Err(StoreError::NotFound.into()),
        Some(_) => Err(StoreError::Conflict(
            "the API key was rotated concurrently; the current key is not the one presented".into(),
        )
        .into()),
    }
}
