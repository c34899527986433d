//! Campaigns: their rows, and the pause, resume and cancel of their messages (the messages whose batch id is the
//! campaign's id). Writes go through the group-commit writer, each call one request (one transaction).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use whatsapi_core::campaign::{
    Campaign, CampaignControl, CampaignId, HeldMessage, INSERT_CHUNK, NewCampaign, SendWindow,
};
use whatsapi_core::store::support::{cancel_change, record_cancel};
use whatsapi_core::store::{CampaignStore, NewBatch, Page, PageRequest, StatusCounts, StoreResult};
use whatsapi_core::{AccountId, MessageId, Recipient, Status, StoreError};

use crate::SqliteStore;
use crate::accounts;
use crate::codec::{count, status, status_code, time, ts, uuid};
use crate::error::{Result, SqliteError};
use crate::messages;

const SELECT: &str = "SELECT c.id, a.id, c.name, c.content, c.start_at, c.window_from, c.window_to, \
     c.rate_per_second, c.recipients, c.control, c.created_at, c.updated_at, c.from_number, c.validity_secs \
     FROM campaigns c JOIN accounts a ON a.seq = c.account";

/// Raw columns, decoded outside rusqlite's closure.
struct Raw {
    id: Vec<u8>,
    account: Vec<u8>,
    name: String,
    content: String,
    start_at: i64,
    window: (Option<i64>, Option<i64>),
    rate: Option<i64>,
    recipients: i64,
    control: i64,
    created_at: i64,
    updated_at: i64,
    from: Option<String>,
    validity_secs: Option<i64>,
}

fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
        id: r.get(0)?,
        account: r.get(1)?,
        name: r.get(2)?,
        content: r.get(3)?,
        start_at: r.get(4)?,
        window: (r.get(5)?, r.get(6)?),
        rate: r.get(7)?,
        recipients: r.get(8)?,
        control: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        from: r.get(12)?,
        validity_secs: r.get(13)?,
    })
}

fn minutes(t: NaiveTime) -> i64 {
    i64::from(t.hour() * 60 + t.minute())
}

fn time_of(minutes: i64) -> Option<NaiveTime> {
    let m = u32::try_from(minutes).ok()?;
    NaiveTime::from_hms_opt(m / 60, m % 60, 0)
}

impl Raw {
    fn decode(self) -> Result<Campaign> {
        let corrupt = |what: &str| SqliteError::Corrupt(format!("campaign row: {what}"));
        let send_window = match self.window {
            (Some(f), Some(t)) => Some(
                time_of(f)
                    .zip(time_of(t))
                    .and_then(|(f, t)| SendWindow::new(f, t))
                    .ok_or_else(|| corrupt("send window"))?,
            ),
            _ => None,
        };
        Ok(Campaign {
            id: CampaignId(uuid(&self.id)?),
            account_id: AccountId(uuid(&self.account)?),
            name: self.name,
            content: serde_json::from_str(&self.content)?,
            start_at: time(self.start_at),
            send_window,
            rate_per_second: self.rate.and_then(|r| u32::try_from(r).ok()),
            from: self.from,
            validity: self
                .validity_secs
                .and_then(|s| u64::try_from(s).ok())
                .map(std::time::Duration::from_secs),
            recipients: count(self.recipients),
            control: CampaignControl::from_code(self.control).ok_or_else(|| corrupt("control"))?,
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        })
    }
}

fn of_account(conn: &Connection, account: AccountId, id: CampaignId) -> Result<Option<Campaign>> {
    let sql = format!("{SELECT} WHERE c.id = ?1 AND a.id = ?2");
    let row = conn
        .prepare_cached(&sql)?
        .query_row([id.0.as_bytes(), account.0.as_bytes()], raw)
        .optional()?;
    row.map(Raw::decode).transpose()
}

fn require(conn: &Connection, account: AccountId, id: CampaignId) -> Result<Campaign> {
    of_account(conn, account, id)?.ok_or(SqliteError::Store(StoreError::NotFound))
}

fn set_control(
    conn: &Connection,
    id: CampaignId,
    control: CampaignControl,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached("UPDATE campaigns SET control = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id.0.as_bytes(), i64::from(control.code()), ts(now)])?;
    Ok(())
}

fn create(conn: &Connection, new: NewCampaign) -> Result<()> {
    let c = &new.campaign;
    let account = accounts::require_seq(conn, c.account_id)?;
    conn.prepare_cached(
        "INSERT INTO campaigns (id, account, name, content, start_at, window_from, window_to, rate_per_second, \
         recipients, control, created_at, updated_at, from_number, validity_secs) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        c.id.0.as_bytes(),
        account,
        c.name,
        serde_json::to_string(&c.content)?,
        ts(c.start_at),
        c.send_window.map(|w| minutes(w.from)),
        c.send_window.map(|w| minutes(w.to)),
        c.rate_per_second.map(i64::from),
        i64::try_from(c.recipients).unwrap_or(i64::MAX),
        i64::from(c.control.code()),
        ts(c.created_at),
        ts(c.updated_at),
        c.from,
        c.validity
            .map(|v| i64::try_from(v.as_secs()).unwrap_or(i64::MAX)),
    ])
    .map_err(|e| match SqliteError::from(e) {
        SqliteError::Store(StoreError::Conflict(_)) => {
            SqliteError::Store(StoreError::Conflict(format!("campaign {} already exists", c.id)))
        }
        other => other,
    })?;
    let mut messages = new.messages;
    while !messages.is_empty() {
        let rest = messages.split_off(messages.len().min(INSERT_CHUNK));
        messages::insert(
            conn,
            NewBatch {
                account_id: c.account_id,
                messages,
                idempotency: None,
            },
        )?;
        messages = rest;
    }
    let mut zone = conn.prepare_cached(
        "INSERT INTO campaign_zones (message, time_zone) SELECT seq, ?2 FROM messages WHERE id = ?1",
    )?;
    for (m, z) in &new.time_zones {
        zone.execute(params![m.0.as_bytes(), z])?;
    }
    Ok(())
}

fn list(conn: &Connection, account: AccountId, page: PageRequest) -> Result<Page<Campaign>> {
    let Some(seq) = accounts::seq(conn, account)? else {
        return Ok(Page {
            items: Vec::new(),
            total: 0,
        });
    };
    let sql = format!(
        "{SELECT} WHERE c.account = ?1 ORDER BY c.created_at DESC, c.id DESC LIMIT ?2 OFFSET ?3"
    );
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let raws = conn
        .prepare_cached(&sql)?
        .query_map(params![seq, i64::from(page.limit), offset], raw)?
        .collect::<rusqlite::Result<Vec<Raw>>>()?;
    let items = raws
        .into_iter()
        .map(Raw::decode)
        .collect::<Result<Vec<_>>>()?;
    let total: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM campaigns WHERE account = ?1")?
        .query_row([seq], |r| r.get(0))?;
    Ok(Page {
        items,
        total: count(total),
    })
}

fn counts(conn: &Connection, account: AccountId, id: CampaignId) -> Result<StatusCounts> {
    if of_account(conn, account, id)?.is_none() {
        return Ok(StatusCounts::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*) FROM messages WHERE batch_id = ?1 GROUP BY status",
    )?;
    let rows = stmt
        .query_map([id.0.as_bytes()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(s, n)| Ok((status(s)?, count(n))))
        .collect()
}

/// The codes of the waiting statuses a pause holds (`support::holdable`): queued, scheduled, retrying.
const WAITING: &str = "(0, 1, 3)";

fn pause(conn: &Connection, account: AccountId, id: CampaignId, now: DateTime<Utc>) -> Result<u64> {
    let c = require(conn, account, id)?;
    if c.control != CampaignControl::Active {
        return Err(StoreError::Conflict("the campaign is not active".into()).into());
    }
    set_control(conn, id, CampaignControl::Paused, now)?;
    let n = conn
        .prepare_cached(&format!(
            "UPDATE messages SET due_at = NULL WHERE batch_id = ?1 AND status IN {WAITING}"
        ))?
        .execute([id.0.as_bytes()])?;
    Ok(n as u64)
}

fn held(conn: &Connection, account: AccountId, id: CampaignId) -> Result<Vec<HeldMessage>> {
    if of_account(conn, account, id)?.is_none() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT m.id, m.recipient, m.recipient_user_id, z.time_zone FROM messages m \
         LEFT JOIN campaign_zones z ON z.message = m.seq \
         WHERE m.batch_id = ?1 AND m.status IN {WAITING} AND m.due_at IS NULL ORDER BY m.seq"
    ))?;
    let rows = stmt
        .query_map([id.0.as_bytes()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(m, recipient, user_id, time_zone)| {
            Ok(HeldMessage {
                id: MessageId(uuid(&m)?),
                to: recipient_of(&recipient, user_id.as_deref())?,
                time_zone,
            })
        })
        .collect()
}

/// A recipient as the messages table keeps it: its address, and its BSUID when it has one.
fn recipient_of(address: &str, user_id: Option<&str>) -> Result<Recipient> {
    Recipient::from_stored(address, user_id)
        .ok_or_else(|| SqliteError::Corrupt(format!("recipient {address:?} / {user_id:?}")))
}

fn resume(
    conn: &Connection,
    account: AccountId,
    id: CampaignId,
    plan: &[(MessageId, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<u64> {
    let c = require(conn, account, id)?;
    if c.control != CampaignControl::Paused {
        return Err(StoreError::Conflict("the campaign is not paused".into()).into());
    }
    set_control(conn, id, CampaignControl::Active, now)?;
    let planned: HashMap<MessageId, DateTime<Utc>> = plan.iter().copied().collect();
    let rows = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT seq, id FROM messages WHERE batch_id = ?1 AND status IN {WAITING} AND due_at IS NULL"
        ))?;
        stmt.query_map([id.0.as_bytes()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut update = conn.prepare_cached(
        "UPDATE messages SET due_at = ?2, \
         scheduled_for = CASE WHEN status = ?3 THEN ?2 ELSE scheduled_for END, \
         next_attempt_at = CASE WHEN status = ?4 THEN ?2 ELSE next_attempt_at END WHERE seq = ?1",
    )?;
    for (seq, m) in &rows {
        let at = planned.get(&MessageId(uuid(m)?)).copied().unwrap_or(now);
        update.execute(params![
            seq,
            ts(at),
            status_code(Status::Scheduled),
            status_code(Status::Retrying)
        ])?;
    }
    Ok(rows.len() as u64)
}

fn cancel(
    conn: &Connection,
    account: AccountId,
    id: CampaignId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let c = require(conn, account, id)?;
    if c.control == CampaignControl::Cancelled {
        return Err(StoreError::Conflict("the campaign is already cancelled".into()).into());
    }
    set_control(conn, id, CampaignControl::Cancelled, now)?;
    let waiting = messages::of_batch(
        conn,
        id.batch(),
        &[Status::Queued, Status::Scheduled, Status::Retrying],
    )?;
    let n = waiting.len() as u64;
    for mut s in waiting {
        let change = cancel_change(s.message.status, now)?;
        messages::change(conn, &mut s, change, |m| record_cancel(m, now))?;
    }
    Ok(n)
}

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn create_campaign(&self, new: NewCampaign) -> StoreResult<()> {
        self.writer.write(move |c| create(c, new)).await
    }

    async fn campaign(&self, account: AccountId, id: CampaignId) -> StoreResult<Option<Campaign>> {
        self.readers.read(move |c| of_account(c, account, id)).await
    }

    async fn list_campaigns(
        &self,
        account: AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Campaign>> {
        self.readers.read(move |c| list(c, account, page)).await
    }

    async fn campaign_counts(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<StatusCounts> {
        self.readers.read(move |c| counts(c, account, id)).await
    }

    async fn pause_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.writer.write(move |c| pause(c, account, id, now)).await
    }

    async fn held_messages(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<Vec<HeldMessage>> {
        self.readers.read(move |c| held(c, account, id)).await
    }

    async fn resume_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        plan: &[(MessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let plan = plan.to_vec();
        self.writer
            .write(move |c| resume(c, account, id, &plan, now))
            .await
    }

    async fn cancel_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.writer
            .write(move |c| cancel(c, account, id, now))
            .await
    }
}
