//! Conversations: the contacts table, upserted set-based by sends, inbound messages and opt-outs, listed by its
//! activity index; a contact's thread from the message indexes by recipient and sender; the accounts' opt-out
//! keywords.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use whatsapi_core::AccountId;
use whatsapi_core::contacts::{
    Contact, ContactActivity, ContactFilter, ContactMessages, ContactRef, OptOut, OptOutKeywords,
    OptOutSource, merge_activities,
};
use whatsapi_core::store::{Page, PageRequest};
use whatsapi_core::{PhoneNumber, StoreError, UserId};

use crate::codec::{count, time, time_opt, ts, ts_opt};
use crate::db::Db;
use crate::error::{PostgresError, Result};

const COLUMNS: &str = "account, key, phone, user_id, profile_name, last_inbound_at, last_message_at, \
                       activity_at, opted_out_at, opt_out_source, marketing_paused_until";

fn decode(r: &Row) -> Result<Contact> {
    let opted_out_at: Option<i64> = r.try_get(8)?;
    let source: Option<String> = r.try_get(9)?;
    let opt_out = match (opted_out_at, source) {
        (Some(at), Some(source)) => Some(OptOut {
            at: time(at),
            source: OptOutSource::parse(&source)
                .ok_or_else(|| PostgresError::Corrupt(format!("opt-out source {source:?}")))?,
        }),
        _ => None,
    };
    Ok(Contact {
        account_id: AccountId(r.try_get(0)?),
        id: r.try_get(1)?,
        phone: r
            .try_get::<_, Option<String>>(2)?
            .and_then(|p| PhoneNumber::parse(&p).ok()),
        user_id: r
            .try_get::<_, Option<String>>(3)?
            .and_then(|u| UserId::parse(&u).ok()),
        profile_name: r.try_get(4)?,
        last_inbound_at: time_opt(r.try_get(5)?),
        last_message_at: time_opt(r.try_get(6)?),
        activity_at: time(r.try_get(7)?),
        opt_out,
        marketing_paused_until: time_opt(r.try_get(10)?),
    })
}

/// Upserts the contacts of the activities: one lookup of the BSUID-only ones, then one statement.
pub(crate) async fn record(
    db: &dyn Db,
    account: AccountId,
    activities: &[ContactActivity],
) -> Result<()> {
    let bsuid_only: Vec<&str> = activities
        .iter()
        .filter(|a| a.who.phone.is_none())
        .filter_map(|a| a.who.user_id.as_ref().map(UserId::as_str))
        .collect();
    let mut known: HashMap<String, String> = HashMap::new();
    if !bsuid_only.is_empty() {
        for r in db
            .rows(
                "SELECT DISTINCT ON (user_id) user_id, key FROM contacts \
                 WHERE account = $1 AND user_id = ANY($2) ORDER BY user_id, key",
                &[&account.0, &bsuid_only],
            )
            .await?
        {
            known.insert(r.try_get(0)?, r.try_get(1)?);
        }
    }
    let merged = merge_activities(activities, |u| known.get(u.as_str()).cloned());
    let n = merged.len();
    let (mut keys, mut phones, mut users, mut names, mut inbound, mut at) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (key, m) in merged {
        let Some(t) = m.at else { continue };
        keys.push(key);
        phones.push(m.phone.map(|p| p.as_str().to_owned()));
        users.push(m.user_id.map(|u| u.as_str().to_owned()));
        names.push(m.profile_name);
        inbound.push(ts_opt(m.inbound_at));
        at.push(ts(t));
    }
    if keys.is_empty() {
        return Ok(());
    }
    // Keys are sorted (merge_activities), so concurrent batches lock shared rows in the same order.
    db.exec(
        "INSERT INTO contacts AS c (account, key, phone, user_id, profile_name, last_inbound_at, last_message_at, \
         activity_at) \
         SELECT $1, key, phone, user_id, profile_name, inbound_at, at, at \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[]) \
           AS t(key, phone, user_id, profile_name, inbound_at, at) \
         ON CONFLICT (account, key) DO UPDATE SET \
           phone = COALESCE(c.phone, EXCLUDED.phone), \
           user_id = COALESCE(EXCLUDED.user_id, c.user_id), \
           profile_name = COALESCE(EXCLUDED.profile_name, c.profile_name), \
           last_inbound_at = GREATEST(c.last_inbound_at, EXCLUDED.last_inbound_at), \
           last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at), \
           activity_at = GREATEST(c.activity_at, EXCLUDED.activity_at)",
        &[&account.0, &keys, &phones, &users, &names, &inbound, &at],
    )
    .await?;
    Ok(())
}

/// The account's contact with this key, else with this BSUID.
pub(crate) async fn get(db: &dyn Db, account: AccountId, id: &str) -> Result<Option<Contact>> {
    db.opt(
        &format!(
            "SELECT {COLUMNS} FROM contacts WHERE account = $1 AND (key = $2 OR user_id = $2) \
             ORDER BY key = $2 DESC, key LIMIT 1"
        ),
        &[&account.0, &id],
    )
    .await?
    .as_ref()
    .map(decode)
    .transpose()
}

/// The contacts of `ids`, each as [`get`] finds it (by key, else the smallest key with the id as BSUID), by the id
/// asked for: one statement over the array of ids, through the key and the BSUID indexes.
pub(crate) async fn get_many(
    db: &dyn Db,
    account: AccountId,
    ids: &[String],
) -> Result<HashMap<String, Contact>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = db
        .rows(
            &format!(
                "SELECT DISTINCT ON (asked) {COLUMNS}, asked FROM ( \
                   SELECT c.*, t.asked, true AS by_key FROM unnest($2::text[]) AS t(asked) \
                     JOIN contacts c ON c.account = $1 AND c.key = t.asked \
                   UNION ALL \
                   SELECT c.*, t.asked, false AS by_key FROM unnest($2::text[]) AS t(asked) \
                     JOIN contacts c ON c.account = $1 AND c.user_id = t.asked \
                 ) found ORDER BY asked, by_key DESC, key"
            ),
            &[&account.0, &ids],
        )
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        out.insert(r.try_get(11)?, decode(r)?);
    }
    Ok(out)
}

/// The account's contacts, latest activity first.
pub(crate) async fn list(
    db: &dyn Db,
    account: AccountId,
    filter: &ContactFilter,
    page: PageRequest,
) -> Result<Page<Contact>> {
    let condition = match filter.opted_out {
        None => "account = $1",
        Some(true) => "account = $1 AND opted_out_at IS NOT NULL",
        Some(false) => "account = $1 AND opted_out_at IS NULL",
    };
    let limit = i64::from(page.limit);
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let items = db
        .rows(
            &format!(
                "SELECT {COLUMNS} FROM contacts WHERE {condition} \
                 ORDER BY activity_at DESC, key DESC LIMIT $2 OFFSET $3"
            ),
            &[&account.0, &limit, &offset],
        )
        .await?
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>>>()?;
    let total: i64 = db
        .one(
            &format!("SELECT count(*) FROM contacts WHERE {condition}"),
            &[&account.0],
        )
        .await?
        .try_get(0)?;
    Ok(Page {
        items,
        total: count(total),
    })
}

/// The key a write about `who` goes to, the row created (without messages) when missing and the identifiers
/// filled in.
async fn ensure(
    db: &dyn Db,
    account: AccountId,
    who: &ContactRef,
    at: DateTime<Utc>,
) -> Result<String> {
    let key = match (&who.phone, &who.user_id) {
        (Some(p), _) => p.as_str().to_owned(),
        (None, Some(u)) => db
            .opt(
                "SELECT key FROM contacts WHERE account = $1 AND user_id = $2 ORDER BY key LIMIT 1",
                &[&account.0, &u.as_str()],
            )
            .await?
            .map(|r| r.try_get::<_, String>(0))
            .transpose()?
            .unwrap_or_else(|| u.as_str().to_owned()),
        (None, None) => {
            return Err(PostgresError::Store(StoreError::Conflict(
                "a contact needs a phone number or a user id".into(),
            )));
        }
    };
    db.exec(
        "INSERT INTO contacts AS c (account, key, phone, user_id, activity_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account, key) DO UPDATE SET \
           phone = COALESCE(c.phone, EXCLUDED.phone), \
           user_id = COALESCE(EXCLUDED.user_id, c.user_id)",
        &[
            &account.0,
            &key,
            &who.phone.as_ref().map(PhoneNumber::as_str),
            &who.user_id.as_ref().map(UserId::as_str),
            &ts(at),
        ],
    )
    .await?;
    Ok(key)
}

/// Sets or clears the contact's opt-out.
pub(crate) async fn set_opt_out(
    db: &dyn Db,
    account: AccountId,
    who: &ContactRef,
    opt_out: Option<OptOut>,
    at: DateTime<Utc>,
) -> Result<Contact> {
    let key = ensure(db, account, who, at).await?;
    let row = db
        .one(
            &format!(
                "UPDATE contacts SET opted_out_at = $3, opt_out_source = $4 WHERE account = $1 AND key = $2 \
                 RETURNING {COLUMNS}"
            ),
            &[
                &account.0,
                &key,
                &opt_out.map(|o| ts(o.at)),
                &opt_out.map(|o| o.source.as_str()),
            ],
        )
        .await?;
    decode(&row)
}

/// Holds marketing back until `until` (never earlier than already held).
pub(crate) async fn pause(
    db: &dyn Db,
    account: AccountId,
    who: &ContactRef,
    until: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<Contact> {
    let key = ensure(db, account, who, at).await?;
    let row = db
        .one(
            &format!(
                "UPDATE contacts SET marketing_paused_until = GREATEST(marketing_paused_until, $3) \
                 WHERE account = $1 AND key = $2 RETURNING {COLUMNS}"
            ),
            &[&account.0, &key, &ts(until)],
        )
        .await?;
    decode(&row)
}

/// The contact's latest messages each way.
pub(crate) async fn messages(
    db: &dyn Db,
    account: AccountId,
    contact: &Contact,
    limit: u32,
) -> Result<ContactMessages> {
    let phone = contact.phone.as_ref().map(PhoneNumber::as_str);
    let user = contact.user_id.as_ref().map(UserId::as_str);
    Ok(ContactMessages {
        outbound: crate::messages::of_contact(db, account, phone, user, limit).await?,
        inbound: crate::inbound::from_contact(db, account, phone, user, limit).await?,
    })
}

/// The account's opt-out keywords, if it set any.
pub(crate) async fn keywords(db: &dyn Db, account: AccountId) -> Result<Option<OptOutKeywords>> {
    let Some(r) = db
        .opt(
            "SELECT opt_out, opt_in FROM opt_out_keywords WHERE account = $1",
            &[&account.0],
        )
        .await?
    else {
        return Ok(None);
    };
    let (out, inn): (String, String) = (r.try_get(0)?, r.try_get(1)?);
    Ok(Some(OptOutKeywords {
        opt_out: serde_json::from_str(&out)?,
        opt_in: serde_json::from_str(&inn)?,
    }))
}

/// Replaces the account's opt-out keywords.
pub(crate) async fn set_keywords(
    db: &dyn Db,
    account: AccountId,
    keywords: &OptOutKeywords,
) -> Result<()> {
    crate::accounts::require_seq(db, account).await?;
    db.exec(
        "INSERT INTO opt_out_keywords (account, opt_out, opt_in) VALUES ($1, $2, $3) \
         ON CONFLICT (account) DO UPDATE SET opt_out = EXCLUDED.opt_out, opt_in = EXCLUDED.opt_in",
        &[
            &account.0,
            &serde_json::to_string(&keywords.opt_out)?,
            &serde_json::to_string(&keywords.opt_in)?,
        ],
    )
    .await?;
    Ok(())
}
