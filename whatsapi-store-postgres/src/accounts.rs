//! Accounts: rows, lookups and updates.

use tokio_postgres::Row;
use whatsapi_core::account::{
    AccountUpdate, BreakerState, CredentialsStatus, MetaCredentials, NewAccount, WebhookConfig,
};
use whatsapi_core::{Account, AccountId, StoreError};

use crate::codec::{count, time, time_opt, ts, ts_opt, u32_of};
use crate::db::Db;
use crate::error::{PostgresError, Result};

/// `messages_sent` is the sum of the account's shards of `sent_counts` (see [`crate::counters`]).
const COLUMNS: &str = "id, name, active, \
     (SELECT COALESCE(SUM(s.n), 0)::int8 FROM sent_counts s WHERE s.account = accounts.seq), \
     credentials, credentials_status, webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips, \
     created_at, breaker_probing, default_validity_seconds";

/// The key an email is unique and looked up by: trimmed and lowercased.
pub(crate) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn decode(r: &Row) -> Result<Account> {
    let credentials: Option<String> = r.try_get(4)?;
    let credentials_status: String = r.try_get(5)?;
    let webhook: Option<String> = r.try_get(6)?;
    Ok(Account {
        id: AccountId(r.try_get(0)?),
        name: r.try_get(1)?,
        active: r.try_get(2)?,
        messages_sent: count(r.try_get(3)?),
        credentials: credentials
            .map(|c| serde_json::from_str::<MetaCredentials>(&c))
            .transpose()?,
        credentials_status: serde_json::from_str::<CredentialsStatus>(&credentials_status)?,
        webhook: webhook
            .map(|w| serde_json::from_str::<WebhookConfig>(&w))
            .transpose()?,
        strict_window: r.try_get(7)?,
        default_validity: r
            .try_get::<_, Option<i64>>(13)?
            .map(|secs| std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))),
        breaker: BreakerState {
            consecutive_failures: u32_of(r.try_get(8)?),
            open_until: time_opt(r.try_get(9)?),
            trips: u32_of(r.try_get(10)?),
            probing: r.try_get(12)?,
        },
        created_at: time(r.try_get(11)?),
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

/// The account routing Meta's webhooks for this phone number id (unique).
pub(crate) async fn by_phone_number_id(db: &dyn Db, pnid: &str) -> Result<Option<Account>> {
    // The default number's account, else the account that connected it as an extra number.
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE phone_number_id = $1 \
         UNION ALL SELECT {COLUMNS} FROM accounts \
         WHERE seq = (SELECT account FROM business_numbers WHERE phone_number_id = $1) LIMIT 1"
    );
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

/// Inserts a new account (without a product half: email, plan and key hash stay NULL).
pub(crate) async fn create(db: &dyn Db, new: &NewAccount) -> Result<Account> {
    let account = Account::new(new.clone());
    insert(db, &account, None).await?;
    Ok(account)
}

/// The product half of a row being inserted.
pub(crate) struct ProductColumns<'a> {
    pub(crate) email: &'a str,
    pub(crate) plan: &'a str,
    pub(crate) key_hash: &'a [u8],
}

/// Inserts `account` as new, with the product half when given (the product's customers).
pub(crate) async fn insert(
    db: &dyn Db,
    account: &Account,
    product: Option<ProductColumns<'_>>,
) -> Result<()> {
    db.exec(
        "INSERT INTO accounts (id, name, email, email_key, plan, key_hash, active, credentials_status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8)",
        &[
            &account.id.0,
            &account.name,
            &product.as_ref().map(|p| p.email),
            &product.as_ref().map(|p| email_key(p.email)),
            &product.as_ref().map(|p| p.plan),
            &product.as_ref().map(|p| p.key_hash),
            &serde_json::to_string(&account.credentials_status)?,
            &ts(account.created_at),
        ],
    )
    .await
    .map_err(|e| match e {
        PostgresError::UniqueViolation(what) if what.contains("accounts_id_key") || what.contains("accounts_pkey") => {
            PostgresError::Store(StoreError::Conflict(format!(
                "account {} already exists",
                account.id
            )))
        }
        other => other,
    })?;
    Ok(())
}

/// Applies one change to the account's row (locked for the rest of the transaction).
pub(crate) async fn update(db: &dyn Db, id: AccountId, update: AccountUpdate) -> Result<Account> {
    let mut account = by_id_for_update(db, id)
        .await?
        .ok_or(PostgresError::Store(StoreError::NotFound))?;
    let sets_number = match &update {
        AccountUpdate::SetCredentials(c) | AccountUpdate::ReplaceCredentials(c) => {
            Some(c.phone_number_id.clone())
        }
        _ => None,
    };
    account.apply(update);
    if let Some(pnid) = sets_number {
        crate::numbers::lock_number(db, &pnid).await?;
        crate::numbers::check_default(db, require_seq(db, id).await?, &pnid).await?;
    }
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
            "UPDATE accounts SET active = $2, credentials = $3, phone_number_id = $4, credentials_status = $5, \
             webhook = $6, strict_window = $7, breaker_failures = $8, breaker_open_until = $9, breaker_trips = $10, \
             waba_id = $11, verify_token_hash = $12, breaker_probing = $13, default_validity_seconds = $14 \
             WHERE id = $1",
            &[
                &account.id.0,
                &account.active,
                &credentials,
                &account.credentials.as_ref().map(|c| c.phone_number_id.as_str()),
                &serde_json::to_string(&account.credentials_status)?,
                &webhook,
                &account.strict_window,
                &i64::from(account.breaker.consecutive_failures),
                &ts_opt(account.breaker.open_until),
                &i64::from(account.breaker.trips),
                &account.credentials.as_ref().and_then(|c| c.waba_id.as_deref()),
                &account
                    .credentials
                    .as_ref()
                    .and_then(whatsapi_core::store::support::verify_token_hash)
                    .map(|h| h.to_vec()),
                &account.breaker.probing,
                &account
                    .default_validity
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
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
