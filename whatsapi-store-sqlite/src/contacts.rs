//! Conversations: the contacts table, upserted by sends, inbound messages and opt-outs, listed by its activity
//! index; a contact's thread from the message indexes by recipient and sender; the accounts' opt-out keywords.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::AccountId;
use whatsapi_core::contacts::{
    Contact, ContactActivity, ContactFilter, ContactMessages, ContactRef, OptOut, OptOutKeywords,
    OptOutSource, merge_activities,
};
use whatsapi_core::inbound::InboundMessage;
use whatsapi_core::store::{Page, PageRequest};
use whatsapi_core::{PhoneNumber, StoreError, UserId};

use crate::codec::{count, time, time_opt, ts, ts_opt};
use crate::error::{Result, SqliteError};

const COLUMNS: &str = "account, key, phone, user_id, profile_name, last_inbound_at, last_message_at, \
                       activity_at, opted_out_at, opt_out_source, marketing_paused_until";

fn decode(r: &Row<'_>) -> Result<Contact> {
    let account: Vec<u8> = r.get(0)?;
    let opted_out_at: Option<i64> = r.get(8)?;
    let source: Option<String> = r.get(9)?;
    let opt_out = match (opted_out_at, source) {
        (Some(at), Some(source)) => Some(OptOut {
            at: time(at),
            source: OptOutSource::parse(&source)
                .ok_or_else(|| SqliteError::Corrupt(format!("opt-out source {source:?}")))?,
        }),
        _ => None,
    };
    Ok(Contact {
        account_id: AccountId(crate::codec::uuid(&account)?),
        id: r.get(1)?,
        phone: r
            .get::<_, Option<String>>(2)?
            .and_then(|p| PhoneNumber::parse(&p).ok()),
        user_id: r
            .get::<_, Option<String>>(3)?
            .and_then(|u| UserId::parse(&u).ok()),
        profile_name: r.get(4)?,
        last_inbound_at: time_opt(r.get(5)?),
        last_message_at: time_opt(r.get(6)?),
        activity_at: time(r.get(7)?),
        opt_out,
        marketing_paused_until: time_opt(r.get(10)?),
    })
}

/// The key of the contact already known with this BSUID.
fn key_of_user(conn: &Connection, account: AccountId, user: &UserId) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT key FROM contacts WHERE account = ?1 AND user_id = ?2 LIMIT 1")?
        .query_row(params![account.0.as_bytes(), user.as_str()], |r| r.get(0))
        .optional()?)
}

/// Upserts the contacts of the activities (in the caller's transaction).
pub(crate) fn record(
    conn: &Connection,
    account: AccountId,
    activities: &[ContactActivity],
) -> Result<()> {
    let mut known = std::collections::HashMap::new();
    for a in activities {
        if let (None, Some(u)) = (&a.who.phone, &a.who.user_id) {
            if let Some(key) = key_of_user(conn, account, u)? {
                known.insert(u.clone(), key);
            }
        }
    }
    let merged = merge_activities(activities, |u| known.get(u).cloned());
    let mut upsert = conn.prepare_cached(
        "INSERT INTO contacts (account, key, phone, user_id, profile_name, last_inbound_at, last_message_at, \
         activity_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
         ON CONFLICT (account, key) DO UPDATE SET \
           phone = COALESCE(contacts.phone, excluded.phone), \
           user_id = COALESCE(excluded.user_id, contacts.user_id), \
           profile_name = COALESCE(excluded.profile_name, contacts.profile_name), \
           last_inbound_at = max(COALESCE(contacts.last_inbound_at, excluded.last_inbound_at), \
                                 COALESCE(excluded.last_inbound_at, contacts.last_inbound_at)), \
           last_message_at = max(COALESCE(contacts.last_message_at, excluded.last_message_at), \
                                 COALESCE(excluded.last_message_at, contacts.last_message_at)), \
           activity_at = max(contacts.activity_at, excluded.activity_at)",
    )?;
    for (key, m) in merged {
        let Some(at) = m.at else { continue };
        upsert.execute(params![
            account.0.as_bytes(),
            key,
            m.phone.as_ref().map(PhoneNumber::as_str),
            m.user_id.as_ref().map(UserId::as_str),
            m.profile_name,
            ts_opt(m.inbound_at),
            ts(at),
        ])?;
    }
    Ok(())
}

/// The account's contact with this key, else with this BSUID.
pub(crate) fn get(conn: &Connection, account: AccountId, id: &str) -> Result<Option<Contact>> {
    let by_key = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM contacts WHERE account = ?1 AND key = ?2"
        ))?
        .query_row(params![account.0.as_bytes(), id], |r| Ok(decode(r)))
        .optional()?
        .transpose()?;
    if by_key.is_some() {
        return Ok(by_key);
    }
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM contacts WHERE account = ?1 AND user_id = ?2 LIMIT 1"
    ))?
    .query_row(params![account.0.as_bytes(), id], |r| Ok(decode(r)))
    .optional()?
    .transpose()
}

/// The contacts of `ids`, each as [`get`] finds it, by the id asked for: one read, at most two index lookups per id
/// on the reader's connection.
pub(crate) fn get_many(
    conn: &Connection,
    account: AccountId,
    ids: &[String],
) -> Result<HashMap<String, Contact>> {
    let mut out = HashMap::new();
    for id in ids {
        if let Some(c) = get(conn, account, id)? {
            out.insert(id.clone(), c);
        }
    }
    Ok(out)
}

/// The account's contacts, latest activity first.
pub(crate) fn list(
    conn: &Connection,
    account: AccountId,
    filter: &ContactFilter,
    page: PageRequest,
) -> Result<Page<Contact>> {
    let condition = match filter.opted_out {
        None => "account = ?1",
        Some(true) => "account = ?1 AND opted_out_at IS NOT NULL",
        Some(false) => "account = ?1 AND opted_out_at IS NULL",
    };
    let limit = i64::from(page.limit);
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM contacts WHERE {condition} \
         ORDER BY activity_at DESC, key DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let mut rows = stmt.query(params![account.0.as_bytes(), limit, offset])?;
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        items.push(decode(r)?);
    }
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM contacts WHERE {condition}"))?
        .query_row(params![account.0.as_bytes()], |r| r.get(0))?;
    Ok(Page {
        items,
        total: count(total),
    })
}

/// The key a write about `who` goes to, the row created (without messages) when missing and the identifiers
/// filled in.
fn ensure(
    conn: &Connection,
    account: AccountId,
    who: &ContactRef,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let key = match (&who.phone, &who.user_id) {
        (Some(p), _) => p.as_str().to_owned(),
        (None, Some(u)) => key_of_user(conn, account, u)?.unwrap_or_else(|| u.as_str().to_owned()),
        (None, None) => {
            return Err(
                StoreError::Conflict("a contact needs a phone number or a user id".into()).into(),
            );
        }
    };
    conn.prepare_cached(
        "INSERT INTO contacts (account, key, phone, user_id, activity_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (account, key) DO UPDATE SET \
           phone = COALESCE(contacts.phone, excluded.phone), \
           user_id = COALESCE(excluded.user_id, contacts.user_id)",
    )?
    .execute(params![
        account.0.as_bytes(),
        key,
        who.phone.as_ref().map(PhoneNumber::as_str),
        who.user_id.as_ref().map(UserId::as_str),
        ts(at),
    ])?;
    Ok(key)
}

fn reread(conn: &Connection, account: AccountId, key: &str) -> Result<Contact> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM contacts WHERE account = ?1 AND key = ?2"
    ))?
    .query_row(params![account.0.as_bytes(), key], |r| Ok(decode(r)))?
}

/// Sets or clears the contact's opt-out.
pub(crate) fn set_opt_out(
    conn: &Connection,
    account: AccountId,
    who: &ContactRef,
    opt_out: Option<OptOut>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Contact> {
    let key = ensure(conn, account, who, at)?;
    conn.prepare_cached(
        "UPDATE contacts SET opted_out_at = ?3, opt_out_source = ?4 WHERE account = ?1 AND key = ?2",
    )?
    .execute(params![
        account.0.as_bytes(),
        key,
        opt_out.map(|o| ts(o.at)),
        opt_out.map(|o| o.source.as_str()),
    ])?;
    reread(conn, account, &key)
}

/// Holds marketing back until `until` (never earlier than already held).
pub(crate) fn pause(
    conn: &Connection,
    account: AccountId,
    who: &ContactRef,
    until: chrono::DateTime<chrono::Utc>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Contact> {
    let key = ensure(conn, account, who, at)?;
    conn.prepare_cached(
        "UPDATE contacts SET marketing_paused_until = max(COALESCE(marketing_paused_until, ?3), ?3) \
         WHERE account = ?1 AND key = ?2",
    )?
    .execute(params![account.0.as_bytes(), key, ts(until)])?;
    reread(conn, account, &key)
}

/// The contact's latest messages each way.
pub(crate) fn messages(
    conn: &Connection,
    account: AccountId,
    contact: &Contact,
    limit: u32,
) -> Result<ContactMessages> {
    let phone = contact.phone.as_ref().map(PhoneNumber::as_str);
    let user = contact.user_id.as_ref().map(UserId::as_str);
    let outbound = crate::messages::of_contact(conn, account, phone, user, limit)?;
    let mut inbound: Vec<InboundMessage> = Vec::new();
    for (column, value) in [("from_phone", phone), ("from_user_id", user)] {
        let Some(value) = value else { continue };
        for m in crate::inbound::from_sender(conn, account, column, value, limit)? {
            if !inbound.iter().any(|x| x.id == m.id) {
                inbound.push(m);
            }
        }
    }
    inbound.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
    inbound.truncate(limit as usize);
    Ok(ContactMessages { outbound, inbound })
}

/// The account's opt-out keywords, if it set any.
pub(crate) fn keywords(conn: &Connection, account: AccountId) -> Result<Option<OptOutKeywords>> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT opt_out, opt_in FROM opt_out_keywords WHERE account = ?1")?
        .query_row(params![account.0.as_bytes()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    row.map(|(out, inn)| {
        Ok(OptOutKeywords {
            opt_out: serde_json::from_str(&out)?,
            opt_in: serde_json::from_str(&inn)?,
        })
    })
    .transpose()
}

/// Replaces the account's opt-out keywords.
pub(crate) fn set_keywords(
    conn: &Connection,
    account: AccountId,
    keywords: &OptOutKeywords,
) -> Result<()> {
    crate::accounts::require_seq(conn, account)?;
    conn.prepare_cached(
        "INSERT INTO opt_out_keywords (account, opt_out, opt_in) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account) DO UPDATE SET opt_out = excluded.opt_out, opt_in = excluded.opt_in",
    )?
    .execute(params![
        account.0.as_bytes(),
        serde_json::to_string(&keywords.opt_out)?,
        serde_json::to_string(&keywords.opt_in)?,
    ])?;
    Ok(())
}
