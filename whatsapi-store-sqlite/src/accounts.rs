//! Accounts: rows, lookups and updates.

use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::account::{
    BreakerState, CredentialsStatus, MetaCredentials, NewAccount, WebhookConfig,
};
use whatsapi_core::{Account, AccountId, KeyHash, StoreError};

use crate::codec::{count, time, time_opt, ts, ts_opt, u32_of, uuid};
use crate::error::{Result, SqliteError};

const COLUMNS: &str = "id, name, email, plan, key_hash, active, messages_sent, credentials, credentials_status, \
     webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips, stripe_customer_id, \
     stripe_subscription_id, created_at, billing_event_at";

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn account_row(r: &Row<'_>) -> rusqlite::Result<Result<Account>> {
    let id: Vec<u8> = r.get(0)?;
    let plan: String = r.get(3)?;
    let key_hash: Vec<u8> = r.get(4)?;
    let credentials: Option<String> = r.get(7)?;
    let credentials_status: String = r.get(8)?;
    let webhook: Option<String> = r.get(9)?;
    let name: String = r.get(1)?;
    let email: String = r.get(2)?;
    let active: bool = r.get(5)?;
    let messages_sent: i64 = r.get(6)?;
    let strict_window: bool = r.get(10)?;
    let breaker = (
        r.get::<_, i64>(11)?,
        r.get::<_, Option<i64>>(12)?,
        r.get::<_, i64>(13)?,
    );
    let stripe_customer_id: Option<String> = r.get(14)?;
    let stripe_subscription_id: Option<String> = r.get(15)?;
    let created_at: i64 = r.get(16)?;
    let billing_event_at: Option<i64> = r.get(17)?;
    Ok((|| {
        Ok(Account {
            id: AccountId(uuid(&id)?),
            name,
            email,
            plan: plan.parse().map_err(SqliteError::Corrupt)?,
            key_hash: KeyHash(
                key_hash
                    .try_into()
                    .map_err(|_| SqliteError::Corrupt("key hash length".into()))?,
            ),
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
            breaker: BreakerState {
                consecutive_failures: u32_of(breaker.0),
                open_until: time_opt(breaker.1),
                trips: u32_of(breaker.2),
            },
            stripe_customer_id,
            stripe_subscription_id,
            billing_event_at: time_opt(billing_event_at),
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

/// An account by key hash.
pub(crate) fn by_key_hash(conn: &Connection, hash: &KeyHash) -> Result<Option<Account>> {
    one(conn, "key_hash = ?1", &hash.0[..])
}

/// An account by email, case-insensitively.
pub(crate) fn by_email(conn: &Connection, email: &str) -> Result<Option<Account>> {
    one(conn, "email_key = ?1", email_key(email))
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

/// Inserts a new account.
pub(crate) fn create(conn: &Connection, new: NewAccount) -> Result<Account> {
    let key = email_key(&new.email);
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM accounts WHERE email_key = ?1)")?
        .query_row([&key], |r| r.get(0))?;
    if taken {
        return Err(StoreError::Conflict(format!(
            "an account with the email {} already exists",
            new.email
        ))
        .into());
    }
    let account = Account {
        id: new.id,
        name: new.name,
        email: new.email,
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
        billing_event_at: None,
        created_at: new.created_at,
    };
    conn.prepare_cached(
        "INSERT INTO accounts (id, name, email, email_key, plan, key_hash, active, credentials_status, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)",
    )?
    .execute(params![
        account.id.0.as_bytes(),
        account.name,
        account.email,
        key,
        account.plan.as_str(),
        &account.key_hash.0[..],
        serde_json::to_string(&account.credentials_status)?,
        ts(account.created_at),
    ])?;
    Ok(account)
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
            "UPDATE accounts SET plan = ?2, active = ?3, credentials = ?4, phone_number_id = ?5, \
             credentials_status = ?6, webhook = ?7, strict_window = ?8, breaker_failures = ?9, \
             breaker_open_until = ?10, breaker_trips = ?11, stripe_customer_id = ?12, stripe_subscription_id = ?13, \
             billing_event_at = ?14, waba_id = ?15, verify_token_hash = ?16 WHERE id = ?1",
        )?
        .execute(params![
            account.id.0.as_bytes(),
            account.plan.as_str(),
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
            account.stripe_customer_id,
            account.stripe_subscription_id,
            ts_opt(account.billing_event_at),
            account.credentials.as_ref().and_then(|c| c.waba_id.as_deref()),
            account
                .credentials
                .as_ref()
                .and_then(whatsapi_core::store::support::verify_token_hash)
                .map(|h| h.to_vec()),
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
    match seq(conn, id)? {
        None => Err(StoreError::NotFound.into()),
        Some(_) => Err(StoreError::Conflict(
            "the API key was rotated concurrently; the current key is not the one presented".into(),
        )
        .into()),
    }
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
