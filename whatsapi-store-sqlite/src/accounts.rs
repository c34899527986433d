//! Accounts: rows, lookups and updates.

use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::account::{
    BreakerState, CredentialsStatus, MetaCredentials, NewAccount, WebhookConfig,
};
use whatsapi_core::{Account, AccountId, StoreError};

use crate::codec::{count, time, time_opt, ts, ts_opt, u32_of, uuid};
use crate::error::{Result, SqliteError};

const COLUMNS: &str = "id, name, active, messages_sent, credentials, credentials_status, webhook, strict_window, \
     breaker_failures, breaker_open_until, breaker_trips, created_at, breaker_probing, default_validity_seconds";

/// The key an email is unique and looked up by: trimmed and lowercased.
pub(crate) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn account_row(r: &Row<'_>) -> rusqlite::Result<Result<Account>> {
    let id: Vec<u8> = r.get(0)?;
    let name: String = r.get(1)?;
    let active: bool = r.get(2)?;
    let messages_sent: i64 = r.get(3)?;
    let credentials: Option<String> = r.get(4)?;
    let credentials_status: String = r.get(5)?;
    let webhook: Option<String> = r.get(6)?;
    let strict_window: bool = r.get(7)?;
    let breaker = (
        r.get::<_, i64>(8)?,
        r.get::<_, Option<i64>>(9)?,
        r.get::<_, i64>(10)?,
    );
    let created_at: i64 = r.get(11)?;
    let probing: bool = r.get(12)?;
    let default_validity: Option<i64> = r.get(13)?;
    Ok((|| {
        Ok(Account {
            id: AccountId(uuid(&id)?),
            name,
            active,
            messages_sent: count(messages_sent),
            credentials: credentials
                .map(|c| serde_json::from_str::<MetaCredentials>(&c))
                .transpose()?,
            credentials_status: serde_json::from_str::<CredentialsStatus>(&credentials_status)?,
            webhook: webhook
                .map(|w| serde_json::from_str::<WebhookConfig>(&w))
                .transpose()?,
            strict_window,
            default_validity: default_validity
                .map(|secs| std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))),
            breaker: BreakerState {
                consecutive_failures: u32_of(breaker.0),
                open_until: time_opt(breaker.1),
                trips: u32_of(breaker.2),
                probing,
            },
            created_at: time(created_at),
        })
    })())
}

fn one(conn: &Connection, filter: &str, key: impl rusqlite::ToSql) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE {filter} LIMIT 1");
    conn.prepare_cached(&sql)?
        .query_row([key], account_row)
        .optional()?
        .transpose()
}

/// An account by id.
pub(crate) fn by_id(conn: &Connection, id: AccountId) -> Result<Option<Account>> {
    one(conn, "id = ?1", id.0.as_bytes())
}

/// The account routing Meta's webhooks for this phone number id (unique).
pub(crate) fn by_phone_number_id(conn: &Connection, pnid: &str) -> Result<Option<Account>> {
    one(
        conn,
        "phone_number_id = ?1 AND phone_number_id IS NOT NULL",
        pnid,
    )
}

/// The account routing Meta's webhooks for this WABA id (unique).
pub(crate) fn by_waba_id(conn: &Connection, waba_id: &str) -> Result<Option<Account>> {
    one(conn, "waba_id = ?1 AND waba_id IS NOT NULL", waba_id)
}

/// The oldest account whose verify token has this SHA-256.
pub(crate) fn by_verify_token_hash(conn: &Connection, hash: &[u8; 32]) -> Result<Option<Account>> {
    one(
        conn,
        "verify_token_hash = ?1 AND verify_token_hash IS NOT NULL ORDER BY created_at, id",
        &hash[..],
    )
}

/// The internal row number of an account.
pub(crate) fn seq(conn: &Connection, id: AccountId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT seq FROM accounts WHERE id = ?1")?
        .query_row([id.0.as_bytes()], |r| r.get(0))
        .optional()?)
}

/// The internal row number of an account, `NotFound` when there is none.
pub(crate) fn require_seq(conn: &Connection, id: AccountId) -> Result<i64> {
    seq(conn, id)?.ok_or(SqliteError::Store(StoreError::NotFound))
}

/// Inserts a new account (without a product half: email, plan and key hash stay NULL).
pub(crate) fn create(conn: &Connection, new: NewAccount) -> Result<Account> {
    let account = Account::new(new);
    insert(conn, &account, None)?;
    Ok(account)
}

/// The product half of a row being inserted.
pub(crate) struct ProductColumns<'a> {
    pub(crate) email: &'a str,
    pub(crate) plan: &'a str,
    pub(crate) key_hash: &'a [u8],
}

/// Inserts `account` as new, with the product half when given (the product's customers).
pub(crate) fn insert(
    conn: &Connection,
    account: &Account,
    product: Option<ProductColumns<'_>>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO accounts (id, name, email, email_key, plan, key_hash, active, credentials_status, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)",
    )?
    .execute(params![
        account.id.0.as_bytes(),
        account.name,
        product.as_ref().map(|p| p.email),
        product.as_ref().map(|p| email_key(p.email)),
        product.as_ref().map(|p| p.plan),
        product.as_ref().map(|p| p.key_hash),
        serde_json::to_string(&account.credentials_status)?,
        ts(account.created_at),
    ])
    .map_err(|e| match SqliteError::from(e) {
        SqliteError::Store(StoreError::Conflict(_)) if product.is_none() => SqliteError::Store(
            StoreError::Conflict(format!("account {} already exists", account.id)),
        ),
        other => other,
    })?;
    Ok(())
}

/// Turns a unique-index violation of the routing columns into the conflict every store answers.
fn routing_conflict(e: SqliteError, account: &Account) -> SqliteError {
    let (SqliteError::Store(StoreError::Conflict(text)), Some(c)) = (&e, &account.credentials)
    else {
        return e;
    };
    if text.contains("accounts.phone_number_id") {
        return whatsapi_core::store::support::phone_number_id_taken(&c.phone_number_id).into();
    }
    match (&c.waba_id, text.contains("accounts.waba_id")) {
        (Some(w), true) => whatsapi_core::store::support::waba_id_taken(w).into(),
        _ => e,
    }
}

/// Writes every mutable field of `account` back. `Conflict` when its phone number id or WABA id is another
/// account's.
pub(crate) fn save(conn: &Connection, account: &Account) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE accounts SET active = ?2, credentials = ?3, phone_number_id = ?4, credentials_status = ?5, \
             webhook = ?6, strict_window = ?7, breaker_failures = ?8, breaker_open_until = ?9, breaker_trips = ?10, \
             waba_id = ?11, verify_token_hash = ?12, breaker_probing = ?13, default_validity_seconds = ?14 \
             WHERE id = ?1",
        )?
        .execute(params![
            account.id.0.as_bytes(),
            account.active,
            account
                .credentials
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            account.credentials.as_ref().map(|c| c.phone_number_id.as_str()),
            serde_json::to_string(&account.credentials_status)?,
            account
                .webhook
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            account.strict_window,
            i64::from(account.breaker.consecutive_failures),
            ts_opt(account.breaker.open_until),
            i64::from(account.breaker.trips),
            account.credentials.as_ref().and_then(|c| c.waba_id.as_deref()),
            account
                .credentials
                .as_ref()
                .and_then(whatsapi_core::store::support::verify_token_hash)
                .map(|h| h.to_vec()),
            account.breaker.probing,
            account
                .default_validity
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        ])
        .map_err(|e| routing_conflict(e.into(), account))?;
    if changed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

/// Up to `limit` accounts after `after`, ascending by id (the blob order of UUID v7 bytes is the id order).
pub(crate) fn list(
    conn: &Connection,
    after: Option<AccountId>,
    limit: usize,
) -> Result<Vec<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2");
    let after: Vec<u8> = after.map(|a| a.0.as_bytes().to_vec()).unwrap_or_default();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![after, limit], account_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

/// Whether the account (by row number) has a customer webhook right now.
pub(crate) fn has_webhook(conn: &Connection, account: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT webhook IS NOT NULL FROM accounts WHERE seq = ?1")?
        .query_row([account], |r| r.get(0))
        .optional()?
        .unwrap_or(false))
}

/// The account's current webhook (by row number).
pub(crate) fn webhook(conn: &Connection, account: i64) -> Result<Option<WebhookConfig>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT webhook FROM accounts WHERE seq = ?1")?
        .query_row([account], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}
