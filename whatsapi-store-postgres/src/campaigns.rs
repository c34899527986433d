//! Campaigns: their rows, and the pause, resume and cancel of their messages (the messages whose batch id is the
//! campaign's id), each one transaction of a few set-based statements.

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::Row;
use uuid::Uuid;
use whatsapi_core::campaign::{
    Campaign, CampaignControl, CampaignId, HeldMessage, INSERT_CHUNK, NewCampaign, SendWindow,
};
use whatsapi_core::store::{CampaignStore, NewBatch, Page, PageRequest, StatusCounts, StoreResult};
use whatsapi_core::{AccountId, MessageId, Recipient, Status, StoreError};

use crate::PostgresStore;
use crate::accounts;
use crate::codec::{count, status, status_code, time, ts};
use crate::db::{Db, in_tx};
use crate::error::{PostgresError, Result};
use crate::messages::{self, Effects};

const SELECT: &str = "SELECT c.id, a.id, c.name, c.content, c.start_at, c.window_from, c.window_to, \
     c.rate_per_second, c.recipients, c.control, c.created_at, c.updated_at, c.from_number, c.validity_secs \
     FROM campaigns c JOIN accounts a ON a.seq = c.account";

fn minutes(t: NaiveTime) -> i32 {
    i32::try_from(t.hour() * 60 + t.minute()).unwrap_or(0)
}

fn time_of(minutes: i32) -> Option<NaiveTime> {
    let m = u32::try_from(minutes).ok()?;
    NaiveTime::from_hms_opt(m / 60, m % 60, 0)
}

fn decode(r: &Row) -> Result<Campaign> {
    let corrupt = |what: &str| PostgresError::Corrupt(format!("campaign row: {what}"));
    let window: (Option<i32>, Option<i32>) = (r.try_get(5)?, r.try_get(6)?);
    let send_window = match window {
        (Some(f), Some(t)) => Some(
            time_of(f)
                .zip(time_of(t))
                .and_then(|(f, t)| SendWindow::new(f, t))
                .ok_or_else(|| corrupt("send window"))?,
        ),
        _ => None,
    };
    let content: String = r.try_get(3)?;
    let rate: Option<i32> = r.try_get(7)?;
    let control: i16 = r.try_get(9)?;
    let validity: Option<i64> = r.try_get(13)?;
    Ok(Campaign {
        id: CampaignId(r.try_get(0)?),
        account_id: AccountId(r.try_get(1)?),
        name: r.try_get(2)?,
        content: serde_json::from_str(&content)?,
        start_at: time(r.try_get(4)?),
        send_window,
        rate_per_second: rate.and_then(|r| u32::try_from(r).ok()),
        from: r.try_get(12)?,
        validity: validity
            .and_then(|s| u64::try_from(s).ok())
            .map(std::time::Duration::from_secs),
        recipients: count(r.try_get(8)?),
        control: CampaignControl::from_code(i64::from(control))
            .ok_or_else(|| corrupt("control"))?,
        created_at: time(r.try_get(10)?),
        updated_at: time(r.try_get(11)?),
    })
}

async fn of_account(db: &dyn Db, account: AccountId, id: CampaignId) -> Result<Option<Campaign>> {
    let sql = format!("{SELECT} WHERE c.id = $1 AND a.id = $2");
    db.opt(&sql, &[&id.0, &account.0])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Locks the account's campaign row until the transaction ends and answers its control.
async fn lock(db: &dyn Db, account: AccountId, id: CampaignId) -> Result<CampaignControl> {
    let row = db
        .opt(
            "SELECT c.control FROM campaigns c JOIN accounts a ON a.seq = c.account \
             WHERE c.id = $1 AND a.id = $2 FOR UPDATE OF c",
            &[&id.0, &account.0],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    let code: i16 = row.try_get(0)?;
    CampaignControl::from_code(i64::from(code))
        .ok_or_else(|| PostgresError::Corrupt(format!("campaign {id}: control {code}")))
}

async fn set_control(
    db: &dyn Db,
    id: CampaignId,
    control: CampaignControl,
    now: DateTime<Utc>,
) -> Result<()> {
    db.exec(
        "UPDATE campaigns SET control = $2, updated_at = $3 WHERE id = $1",
        &[&id.0, &i16::from(control.code()), &ts(now)],
    )
    .await?;
    Ok(())
}

/// The codes of the waiting statuses a pause holds (`support::holdable`).
fn waiting() -> Vec<i16> {
    [Status::Queued, Status::Scheduled, Status::Retrying]
        .into_iter()
        .map(status_code)
        .collect()
}

async fn create(db: &dyn Db, new: &NewCampaign, chunks: &[NewBatch]) -> Result<()> {
    let c = &new.campaign;
    let account = accounts::require_seq(db, c.account_id).await?;
    db.exec(
        "INSERT INTO campaigns (id, account, name, content, start_at, window_from, window_to, rate_per_second, \
         recipients, control, created_at, updated_at, from_number, validity_secs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &c.id.0,
            &account,
            &c.name,
            &serde_json::to_string(&c.content)?,
            &ts(c.start_at),
            &c.send_window.map(|w| minutes(w.from)),
            &c.send_window.map(|w| minutes(w.to)),
            &c.rate_per_second.map(|r| i32::try_from(r).unwrap_or(i32::MAX)),
            &i64::try_from(c.recipients).unwrap_or(i64::MAX),
            &i16::from(c.control.code()),
            &ts(c.created_at),
            &ts(c.updated_at),
            &c.from,
            &c.validity
                .map(|v| i64::try_from(v.as_secs()).unwrap_or(i64::MAX)),
        ],
    )
    .await
    .map_err(|e| match e {
        PostgresError::UniqueViolation(what) if what.contains("campaigns_id_key") => {
            PostgresError::Store(StoreError::Conflict(format!("campaign {} already exists", c.id)))
        }
        other => other,
    })?;
    for chunk in chunks {
        messages::insert(db, chunk).await?;
    }
    if !new.time_zones.is_empty() {
        let ids: Vec<Uuid> = new.time_zones.iter().map(|(m, _)| m.0).collect();
        let zones: Vec<&str> = new.time_zones.iter().map(|(_, z)| z.as_str()).collect();
        db.exec(
            "INSERT INTO campaign_zones (message, time_zone) \
             SELECT m.seq, z.tz FROM unnest($1::uuid[], $2::text[]) AS z(id, tz) JOIN messages m ON m.id = z.id",
            &[&ids, &zones],
        )
        .await?;
    }
    Ok(())
}

async fn list(db: &dyn Db, account: AccountId, page: PageRequest) -> Result<Page<Campaign>> {
    let Some(seq) = accounts::seq(db, account).await? else {
        return Ok(Page {
            items: Vec::new(),
            total: 0,
        });
    };
    let sql = format!(
        "{SELECT} WHERE c.account = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT $2 OFFSET $3"
    );
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let items = db
        .rows(&sql, &[&seq, &i64::from(page.limit), &offset])
        .await?
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>>>()?;
    let total: i64 = db
        .one("SELECT count(*) FROM campaigns WHERE account = $1", &[&seq])
        .await?
        .try_get(0)?;
    Ok(Page {
        items,
        total: count(total),
    })
}

async fn counts(db: &dyn Db, account: AccountId, id: CampaignId) -> Result<StatusCounts> {
    if of_account(db, account, id).await?.is_none() {
        return Ok(StatusCounts::new());
    }
    let mut counts = StatusCounts::new();
    for r in db
        .rows(
            "SELECT status, count(*) FROM messages WHERE batch_id = $1 GROUP BY status",
            &[&id.0],
        )
        .await?
    {
        counts.insert(status(r.try_get(0)?)?, count(r.try_get(1)?));
    }
    Ok(counts)
}

async fn pause(db: &dyn Db, account: AccountId, id: CampaignId, now: DateTime<Utc>) -> Result<u64> {
    if lock(db, account, id).await? != CampaignControl::Active {
        return Err(StoreError::Conflict("the campaign is not active".into()).into());
    }
    set_control(db, id, CampaignControl::Paused, now).await?;
    // A row a claim holds is waited for and then re-checked: once claimed it is `processing` and left alone.
    db.exec(
        "UPDATE messages SET due_at = NULL WHERE batch_id = $1 AND status = ANY($2)",
        &[&id.0, &waiting()],
    )
    .await
}

async fn held(db: &dyn Db, account: AccountId, id: CampaignId) -> Result<Vec<HeldMessage>> {
    if of_account(db, account, id).await?.is_none() {
        return Ok(Vec::new());
    }
    let rows = db
        .rows(
            "SELECT m.id, m.recipient, m.recipient_user_id, z.time_zone FROM messages m \
             LEFT JOIN campaign_zones z ON z.message = m.seq \
             WHERE m.batch_id = $1 AND m.status = ANY($2) AND m.due_at IS NULL ORDER BY m.seq",
            &[&id.0, &waiting()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let address: String = r.try_get(1)?;
            let user_id: Option<String> = r.try_get(2)?;
            Ok(HeldMessage {
                id: MessageId(r.try_get(0)?),
                to: Recipient::from_stored(&address, user_id.as_deref()).ok_or_else(|| {
                    PostgresError::Corrupt(format!("recipient {address:?} / {user_id:?}"))
                })?,
                time_zone: r.try_get(3)?,
            })
        })
        .collect()
}

async fn resume(
    db: &dyn Db,
    account: AccountId,
    id: CampaignId,
    plan: &[(MessageId, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<u64> {
    if lock(db, account, id).await? != CampaignControl::Paused {
        return Err(StoreError::Conflict("the campaign is not paused".into()).into());
    }
    set_control(db, id, CampaignControl::Active, now).await?;
    let ids: Vec<Uuid> = plan.iter().map(|(m, _)| m.0).collect();
    let ats: Vec<i64> = plan.iter().map(|(_, t)| ts(*t)).collect();
    let n = db
        .exec(
            "UPDATE messages m SET due_at = COALESCE(p.at, $4), \
               scheduled_for = CASE WHEN m.status = $5 THEN COALESCE(p.at, $4) ELSE m.scheduled_for END, \
               next_attempt_at = CASE WHEN m.status = $6 THEN COALESCE(p.at, $4) ELSE m.next_attempt_at END \
             FROM messages h LEFT JOIN unnest($2::uuid[], $3::int8[]) AS p(id, at) ON p.id = h.id \
             WHERE m.seq = h.seq AND h.batch_id = $1 AND h.status = ANY($7) AND h.due_at IS NULL",
            &[
                &id.0,
                &ids,
                &ats,
                &ts(now),
                &status_code(Status::Scheduled),
                &status_code(Status::Retrying),
                &waiting(),
            ],
        )
        .await?;
    // The caller wakes every replica's dispatcher once this commits.
    Ok(n)
}

async fn cancel(
    db: &dyn Db,
    account: AccountId,
    id: CampaignId,
    now: DateTime<Utc>,
) -> Result<u64> {
    if lock(db, account, id).await? == CampaignControl::Cancelled {
        return Err(StoreError::Conflict("the campaign is already cancelled".into()).into());
    }
    set_control(db, id, CampaignControl::Cancelled, now).await?;
    let mut fx = Effects::default();
    let n = messages::cancel_waiting(db, &mut fx, id.0, now).await?;
    fx.flush(db).await?;
    Ok(n)
}

#[async_trait]
impl CampaignStore for PostgresStore {
    async fn create_campaign(&self, new: NewCampaign) -> StoreResult<()> {
        let chunks: Vec<NewBatch> = new
            .messages
            .chunks(INSERT_CHUNK)
            .map(|c| NewBatch {
                account_id: new.campaign.account_id,
                messages: c.to_vec(),
                idempotency: None,
            })
            .collect();
        in_tx!(self, |tx| create(tx, &new, &chunks).await)?;
        self.waker.wake(true);
        Ok(())
    }

    async fn campaign(&self, account: AccountId, id: CampaignId) -> StoreResult<Option<Campaign>> {
        Ok(of_account(&self.client().await?, account, id).await?)
    }

    async fn list_campaigns(
        &self,
        account: AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Campaign>> {
        Ok(list(&self.client().await?, account, page).await?)
    }

    async fn campaign_counts(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<StatusCounts> {
        Ok(counts(&self.client().await?, account, id).await?)
    }

    async fn pause_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        Ok(in_tx!(self, |tx| pause(tx, account, id, now).await)?)
    }

    async fn held_messages(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<Vec<HeldMessage>> {
        Ok(held(&self.client().await?, account, id).await?)
    }

    async fn resume_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        plan: &[(MessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let n = in_tx!(self, |tx| resume(tx, account, id, plan, now).await)?;
        self.waker.wake(n > 0);
        Ok(n)
    }

    async fn cancel_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        Ok(in_tx!(self, |tx| cancel(tx, account, id, now).await)?)
    }
}
