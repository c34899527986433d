//! Inbound messages: stored once per account and wamid, read by id, listed newest first.

use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::AccountId;
use whatsapi_core::inbound::{
    Inbound, InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound, ReceivingNumber,
};
use whatsapi_core::message::MessageId;
use whatsapi_core::store::{Page, PageRequest};

use crate::codec::{count, time, ts, uuid};
use crate::error::Result;

const COLUMNS: &str =
    "id, account, received_at, reply_to, data, to_phone_number_id, to_display_phone_number";

fn decode(r: &Row<'_>) -> Result<InboundMessage> {
    let id: Vec<u8> = r.get(0)?;
    let account: Vec<u8> = r.get(1)?;
    let reply_to: Option<Vec<u8>> = r.get(3)?;
    let data: String = r.get(4)?;
    let message: Inbound = serde_json::from_str(&data)?;
    let to_id: Option<String> = r.get(5)?;
    let to_display: Option<String> = r.get(6)?;
    Ok(InboundMessage {
        id: InboundId(uuid(&id)?),
        account_id: AccountId(uuid(&account)?),
        received_at: time(r.get(2)?),
        reply_to_message: reply_to.map(|b| uuid(&b).map(MessageId)).transpose()?,
        to: to_id.map(|phone_number_id| ReceivingNumber {
            phone_number_id,
            display_phone_number: to_display,
        }),
        message,
    })
}

/// The account's inbound message with this wamid.
pub(crate) fn by_wamid(
    conn: &Connection,
    account: AccountId,
    wamid: &str,
) -> Result<Option<InboundMessage>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM inbound_messages WHERE account = ?1 AND wamid = ?2"
    ))?;
    let mut rows = stmt.query(params![account.0.as_bytes(), wamid])?;
    rows.next()?.map(decode).transpose()
}

/// Inserts unless the account already has the wamid (the writer serialises writes, so the check and the insert
/// cannot interleave with another insert; the unique index guards it anyway).
pub(crate) fn insert(conn: &Connection, new: NewInbound) -> Result<InboundInsert> {
    let data = serde_json::to_string(&new.message)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO inbound_messages (id, account, wamid, kind, from_phone, from_user_id, received_at, \
             reply_to, data, to_phone_number_id, to_display_phone_number) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (account, wamid) DO NOTHING",
        )?
        .execute(params![
            new.id.0.as_bytes(),
            new.account_id.0.as_bytes(),
            new.message.wamid,
            new.message.kind,
            new.message.from,
            new.message.from_user_id,
            ts(new.received_at),
            new.reply_to_message.map(|m| m.0.as_bytes().to_vec()),
            data,
            new.to.as_ref().map(|t| &t.phone_number_id),
            new.to.as_ref().and_then(|t| t.display_phone_number.as_ref()),
        ])?;
    if inserted == 1 {
        let stored = new.into_stored();
        // Its `message.received` events, in the same transaction.
        if let Some(account) = crate::accounts::seq(conn, stored.account_id)? {
            crate::outbox::emit_received(conn, account, &stored)?;
        }
        return Ok(InboundInsert::Inserted(stored));
    }
    let stored = by_wamid(conn, new.account_id, &new.message.wamid)?.ok_or_else(|| {
        crate::error::SqliteError::Corrupt("an inbound wamid conflicted but is not stored".into())
    })?;
    Ok(InboundInsert::Duplicate(stored))
}

/// The account's inbound message `id`.
pub(crate) fn get(
    conn: &Connection,
    account: AccountId,
    id: InboundId,
) -> Result<Option<InboundMessage>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM inbound_messages WHERE id = ?1 AND account = ?2"
    ))?;
    stmt.query_row(params![id.0.as_bytes(), account.0.as_bytes()], |r| {
        Ok(decode(r))
    })
    .optional()?
    .transpose()
}

/// The account's inbound messages, newest received first.
pub(crate) fn list(
    conn: &Connection,
    account: AccountId,
    filter: &InboundFilter,
    page: PageRequest,
) -> Result<Page<InboundMessage>> {
    let filters = "account = ?1 AND (?2 IS NULL OR from_phone = ?2 OR from_user_id = ?2) \
                   AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR to_phone_number_id = ?4)";
    let limit = i64::from(page.limit);
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM inbound_messages WHERE {filters} \
         ORDER BY received_at DESC, id DESC LIMIT ?5 OFFSET ?6"
    ))?;
    let mut rows = stmt.query(params![
        account.0.as_bytes(),
        filter.contact,
        filter.kind,
        filter.to,
        limit,
        offset,
    ])?;
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        items.push(decode(r)?);
    }
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM inbound_messages WHERE {filters}"
        ))?
        .query_row(
            params![account.0.as_bytes(), filter.contact, filter.kind, filter.to],
            |r| r.get(0),
        )?;
    Ok(Page {
        items,
        total: count(total),
    })
}

/// The account's latest `limit` inbound messages whose `column` (`from_phone` or `from_user_id`) is `value`,
/// newest received first, through the index by sender.
pub(crate) fn from_sender(
    conn: &Connection,
    account: AccountId,
    column: &str,
    value: &str,
    limit: u32,
) -> Result<Vec<InboundMessage>> {
    let column = match column {
        "from_phone" => "from_phone",
        _ => "from_user_id",
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM inbound_messages WHERE account = ?1 AND {column} = ?2 \
         ORDER BY received_at DESC, id DESC LIMIT ?3"
    ))?;
    let mut rows = stmt.query(params![account.0.as_bytes(), value, i64::from(limit)])?;
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        items.push(decode(r)?);
    }
    Ok(items)
}
