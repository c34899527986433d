//! Accounts: rows, lookups and updates.

use tokio_postgres::Row;
use whatsapi_core::account::{
    AccountUpdate, BreakerState, CredentialsStatus, MetaCredentials, NewAccount, WebhookConfig,
};
use whatsapi_core::{Account, AccountId, KeyHash, StoreError};

use crate::codec::{count, time, time_opt, ts, ts_opt, u32_of};
use crate::db::Db;
use crate::error::{PostgresError, Result};

const COLUMNS: &str = "id, name, email, plan, key_hash, active, messages_sent, credentials, credentials_status, \
     webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips, stripe_customer_id, \
     stripe_subscription_id, created_at, billing_event_at";

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn decode(r: &Row) -> Result<Account> {
    let plan: String = r.try_get(3)?;
    let key_hash: Vec<u8> = r.try_get(4)?;
    let credentials: Option<String> = r.try_get(7)?;
    let credentials_status: String = r.try_get(8)?;
    let webhook: Option<String> = r.try_get(9)?;
    Ok(Account {
        id: AccountId(r.try_get(0)?),
        name: r.try_get(1)?,
        email: r.try_get(2)?,
        plan: plan.parse().map_err(PostgresError::Corrupt)?,
        key_hash: KeyHash(
            key_hash
                .try_into()
                .map_err(|_| PostgresError::Corrupt("key hash length".into()))?,
        ),
        active: r.try_get(5)?,
        messages_sent: count(r.try_get(6)?),
        credentials: credentials
            .map(|c| serde_json::from_str::<MetaCredentials>(&c))
            .transpose()?,
        credentials_status: serde_json::from_str::<CredentialsStatus>(&credentials_status)?,
        webhook: webhook
            .map(|w| serde_json::from_str::<WebhookConfig>(&w))
            .transpose()?,
        strict_window: r.try_get(10)?,
        breaker: BreakerState {
            consecutive_failures: u32_of(r.try_get(11)?),
            open_until: time_opt(r.try_get(12)?),
            trips: u32_of(r.try_get(13)?),
        },
        stripe_customer_id: r.try_get(14)?,
        stripe_subscription_id: r.try_get(15)?,
        created_at: time(r.try_get(16)?),
        billing_event_at: time_opt(r.try_get(17)?),
    })
}

/// An account by id.
pub(crate) async fn by_id(db: &dyn Db, id: AccountId) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
    db.opt(&sql, &[&id.0])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// An account by id, its row locked until the transaction ends.
async fn by_id_for_update(db: &dyn Db, id: AccountId) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1 FOR UPDATE");
    db.opt(&sql, &[&id.0])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// An account by key hash.
pub(crate) async fn by_key_hash(db: &dyn Db, hash: &KeyHash) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE key_hash = $1");
    db.opt(&sql, &[&&hash.0[..]])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// An account by email, case-insensitively.
pub(crate) async fn by_email(db: &dyn Db, email: &str) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE email_key = $1");
    db.opt(&sql, &[&email_key(email)])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// The account routing Meta's webhooks for this phone number id (unique).
pub(crate) async fn by_phone_number_id(db: &dyn Db, pnid: &str) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE phone_number_id = $1 LIMIT 1");
    db.opt(&sql, &[&pnid])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// The account routing Meta's webhooks for this WABA id (unique).
pub(crate) async fn by_waba_id(db: &dyn Db, waba_id: &str) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE waba_id = $1 LIMIT 1");
    db.opt(&sql, &[&waba_id])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// The oldest account whose verify token has this SHA-256.
pub(crate) async fn by_verify_token_hash(db: &dyn Db, hash: &[u8; 32]) -> Result<Option<Account>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE verify_token_hash = $1 ORDER BY created_at, id LIMIT 1"
    );
    db.opt(&sql, &[&&hash[..]])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Turns a unique-index violation of the routing columns into the conflict every store answers.
fn routing_conflict(e: PostgresError, account: &Account) -> PostgresError {
    let (PostgresError::UniqueViolation(text), Some(c)) = (&e, &account.credentials) else {
        return e;
    };
    if text.contains("accounts_phone_number_id_unique") {
        return whatsapi_core::store::support::phone_number_id_taken(&c.phone_number_id).into();
    }
    match (&c.waba_id, text.contains("accounts_waba_id_unique")) {
        (Some(w), true) => whatsapi_core::store::support::waba_id_taken(w).into(),
        _ => e,
    }
}

/// The internal row number of an account.
pub(crate) async fn seq(db: &dyn Db, id: AccountId) -> Result<Option<i64>> {
    Ok(db
        .opt("SELECT seq FROM accounts WHERE id = $1", &[&id.0])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?)
}

/// The internal row number of an account, `NotFound` when there is none.
pub(crate) async fn require_seq(db: &dyn Db, id: AccountId) -> Result<i64> {
    seq(db, id)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))
}

/// Inserts a new account.
pub(crate) async fn create(db: &dyn Db, new: &NewAccount) -> Result<Account> {
    let key = email_key(&new.email);
    let taken = || {
        PostgresError::Store(StoreError::Conflict(format!(
            "an account with the email {} already exists",
            new.email
        )))
    };
    if db
        .opt("SELECT 1 FROM accounts WHERE email_key = $1", &[&key])
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let account = Account {
        id: new.id,
        name: new.name.clone(),
        email: new.email.clone(),
        plan: new.plan,
        key_hash: new.key_hash,
        active: true,
        messages_sent: 0,
        credentials: None,
        credentials_status: CredentialsStatus::Unverified,
        webhook: None,
        strict_window: false,
        breaker: BreakerState::default(),
        stripe_customer_id: None,
        stripe_subscription_id: None,
        created_at: new.created_at,
        billing_event_at: None,
    };
    let inserted = db
        .exec(
            "INSERT INTO accounts (id, name, email, email_key, plan, key_hash, active, credentials_status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8)",
            &[
                &account.id.0,
                &account.name,
                &account.email,
                &key,
                &account.plan.as_str(),
                &&account.key_hash.0[..],
                &serde_json::to_string(&account.credentials_status)?,
                &ts(account.created_at),
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok(account),
        // A concurrent registration with the same email won the race.
        Err(PostgresError::UniqueViolation(what)) if what.contains("email_key") => Err(taken()),
        Err(e) => Err(e),
    }
}

/// Applies one change to the account's row (locked for the rest of the transaction).
pub(crate) async fn update(db: &dyn Db, id: AccountId, update: AccountUpdate) -> Result<Account> {
    let mut account = by_id_for_update(db, id)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    account.apply(update);
    save(db, &account).await?;
    Ok(account)
}

/// Writes every mutable field of `account` back.
async fn save(db: &dyn Db, account: &Account) -> Result<()> {
    let credentials = account
        .credentials
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let webhook = account
        .webhook
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let changed = db
        .exec(
            "UPDATE accounts SET plan = $2, active = $3, credentials = $4, phone_number_id = $5, \
             credentials_status = $6, webhook = $7, strict_window = $8, breaker_failures = $9, \
             breaker_open_until = $10, breaker_trips = $11, stripe_customer_id = $12, stripe_subscription_id = $13, \
             billing_event_at = $14, waba_id = $15, verify_token_hash = $16 WHERE id = $1",
            &[
                &account.id.0,
                &account.plan.as_str(),
                &account.active,
                &credentials,
                &account.credentials.as_ref().map(|c| c.phone_number_id.as_str()),
                &serde_json::to_string(&account.credentials_status)?,
                &webhook,
                &account.strict_window,
                &i64::from(account.breaker.consecutive_failures),
                &ts_opt(account.breaker.open_until),
                &i64::from(account.breaker.trips),
                &account.stripe_customer_id,
                &account.stripe_subscription_id,
                &ts_opt(account.billing_event_at),
                &account.credentials.as_ref().and_then(|c| c.waba_id.as_deref()),
                &account
                    .credentials
                    .as_ref()
                    .and_then(whatsapi_core::store::support::verify_token_hash)
                    .map(|h| h.to_vec()),
            ],
        )
        .await
        .map_err(|e| routing_conflict(e, account))?;
    if changed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

/// Accounts in id order after `after` (exclusive), at most `limit`.
pub(crate) async fn list(
    db: &dyn Db,
    after: Option<AccountId>,
    limit: usize,
) -> Result<Vec<Account>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match after {
        Some(after) => {
            let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2");
            db.rows(&sql, &[&after.0, &limit]).await?
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM accounts ORDER BY id LIMIT $1");
            db.rows(&sql, &[&limit]).await?
        }
    };
    rows.iter().map(decode).collect()
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
    match seq(db, id).await? {
        None => Err(StoreError::NotFound.into()),
        Some(_) => Err(StoreError::Conflict(
            "the API key was rotated concurrently; the current key is not the one presented".into(),
        )
        .into()),
    }
}
