//! Inbound messages: stored once per account and wamid, read by id, listed newest first.

use tokio_postgres::Row;
use whatsapi_core::AccountId;
use whatsapi_core::inbound::{
    Inbound, InboundFilter, InboundId, InboundInsert, InboundMessage, NewInbound, ReceivingNumber,
};
use whatsapi_core::message::MessageId;
use whatsapi_core::store::{Page, PageRequest};

use crate::codec::{count, time, ts};
use crate::db::Db;
use crate::error::{PostgresError, Result};

const COLUMNS: &str =
    "id, account, received_at, reply_to, data, to_phone_number_id, to_display_phone_number";

fn decode(r: &Row) -> Result<InboundMessage> {
    let data: String = r.try_get(4)?;
    let message: Inbound = serde_json::from_str(&data)?;
    let to_display: Option<String> = r.try_get(6)?;
    Ok(InboundMessage {
        id: InboundId(r.try_get(0)?),
        account_id: AccountId(r.try_get(1)?),
        received_at: time(r.try_get(2)?),
        reply_to_message: r.try_get::<_, Option<uuid::Uuid>>(3)?.map(MessageId),
        to: r
            .try_get::<_, Option<String>>(5)?
            .map(|phone_number_id| ReceivingNumber {
                phone_number_id,
                display_phone_number: to_display,
            }),
        message,
    })
}

/// Inserts unless the account already has the wamid: one statement, so of concurrent inserts (on any replica)
/// exactly one inserts and the others read the row it wrote.
pub(crate) async fn insert(db: &dyn Db, new: &NewInbound) -> Result<InboundInsert> {
    let data = serde_json::to_string(&new.message)?;
    let reply_to = new.reply_to_message.map(|m| m.0);
    let inserted = db
        .exec(
            "INSERT INTO inbound_messages (id, account, wamid, kind, from_phone, from_user_id, received_at, \
             reply_to, data, to_phone_number_id, to_display_phone_number) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (account, wamid) DO NOTHING",
            &[
                &new.id.0,
                &new.account_id.0,
                &new.message.wamid,
                &new.message.kind,
                &new.message.from,
                &new.message.from_user_id,
                &ts(new.received_at),
                &reply_to,
                &data,
                &new.to.as_ref().map(|t| t.phone_number_id.as_str()),
                &new.to.as_ref().and_then(|t| t.display_phone_number.as_deref()),
            ],
        )
        .await?;
    if inserted == 1 {
        let stored = new.clone().into_stored();
        // Its `message.received` events, in the same transaction.
        crate::outbox::emit_received(db, &stored).await?;
        return Ok(InboundInsert::Inserted(stored));
    }
    // The conflicting insert has committed (ON CONFLICT waits for it), so the row is visible now.
    let stored = by_wamid(db, new.account_id, &new.message.wamid)
        .await?
        .ok_or_else(|| {
            PostgresError::Corrupt("an inbound wamid conflicted but is not stored".into())
        })?;
    Ok(InboundInsert::Duplicate(stored))
}

/// The account's inbound message with this wamid.
pub(crate) async fn by_wamid(
    db: &dyn Db,
    account: AccountId,
    wamid: &str,
) -> Result<Option<InboundMessage>> {
    db.opt(
        &format!("SELECT {COLUMNS} FROM inbound_messages WHERE account = $1 AND wamid = $2"),
        &[&account.0, &wamid],
    )
    .await?
    .as_ref()
    .map(decode)
    .transpose()
}

/// The account's inbound message `id`.
pub(crate) async fn get(
    db: &dyn Db,
    account: AccountId,
    id: InboundId,
) -> Result<Option<InboundMessage>> {
    db.opt(
        &format!("SELECT {COLUMNS} FROM inbound_messages WHERE id = $1 AND account = $2"),
        &[&id.0, &account.0],
    )
    .await?
    .as_ref()
    .map(decode)
    .transpose()
}

/// The account's inbound messages, newest received first.
pub(crate) async fn list(
    db: &dyn Db,
    account: AccountId,
    filter: &InboundFilter,
    page: PageRequest,
) -> Result<Page<InboundMessage>> {
    let filters = "account = $1 AND ($2::text IS NULL OR from_phone = $2 OR from_user_id = $2) \
                   AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR to_phone_number_id = $4)";
    let limit = i64::from(page.limit);
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let items = db
        .rows(
            &format!(
                "SELECT {COLUMNS} FROM inbound_messages WHERE {filters} \
                 ORDER BY received_at DESC, id DESC LIMIT $5 OFFSET $6"
            ),
            &[
                &account.0,
                &filter.contact,
                &filter.kind,
                &filter.to,
                &limit,
                &offset,
            ],
        )
        .await?
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>>>()?;
    let total: i64 = db
        .one(
            &format!("SELECT count(*) FROM inbound_messages WHERE {filters}"),
            &[&account.0, &filter.contact, &filter.kind, &filter.to],
        )
        .await?
        .try_get(0)?;
    Ok(Page {
        items,
        total: count(total),
    })
}

/// The account's latest `limit` inbound messages from this phone number or BSUID, newest received first: one
/// index range per identifier in one statement.
pub(crate) async fn from_contact(
    db: &dyn Db,
    account: AccountId,
    phone: Option<&str>,
    user_id: Option<&str>,
    limit: u32,
) -> Result<Vec<InboundMessage>> {
    let limit = i64::from(limit);
    db.rows(
        &format!(
            "SELECT {COLUMNS} FROM inbound_messages WHERE id IN ( \
               (SELECT id FROM inbound_messages WHERE account = $1 AND from_phone = $2 \
                ORDER BY received_at DESC, id DESC LIMIT $4) \
               UNION (SELECT id FROM inbound_messages WHERE account = $1 AND from_user_id = $3 \
                ORDER BY received_at DESC, id DESC LIMIT $4)) \
             ORDER BY received_at DESC, id DESC LIMIT $4"
        ),
        &[&account.0, &phone, &user_id, &limit],
    )
    .await?
    .iter()
    .map(decode)
    .collect()
}
