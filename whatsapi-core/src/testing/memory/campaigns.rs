//! The memory store's campaigns.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State};
use crate::account::AccountId;
use crate::campaign::{Campaign, CampaignControl, CampaignId, HeldMessage, NewCampaign};
use crate::message::{Message, MessageId};
use crate::store::support::{cancel_change, holdable, record_cancel, record_resume};
use crate::store::{CampaignStore, Page, PageRequest, StatusCounts, StoreError, StoreResult};

impl State {
    fn campaign_mut(&mut self, account: AccountId, id: CampaignId) -> StoreResult<&mut Campaign> {
        self.campaigns
            .get_mut(&id)
            .filter(|c| c.account_id == account)
            .ok_or(StoreError::NotFound)
    }

    /// The campaign's messages, in the order they were created.
    fn campaign_messages(&self, id: CampaignId) -> Vec<&Message> {
        let batch = Some(id.batch());
        let mut ms: Vec<&Message> = self
            .messages
            .values()
            .map(|r| &r.message)
            .filter(|m| m.batch_id == batch)
            .collect();
        ms.sort_by_key(|m| (m.created_at, m.id));
        ms
    }

    /// The campaign's held messages: waiting, and due at no time.
    fn held(&self, id: CampaignId) -> Vec<MessageId> {
        self.campaign_messages(id)
            .into_iter()
            .filter(|m| holdable(m.status) && self.messages[&m.id].due_at.is_none())
            .map(|m| m.id)
            .collect()
    }
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn create_campaign(&self, new: NewCampaign) -> StoreResult<()> {
        let mut s = self.lock();
        if !s.accounts.contains_key(&new.campaign.account_id) {
            return Err(StoreError::NotFound);
        }
        if s.campaigns.contains_key(&new.campaign.id) {
            return Err(StoreError::Conflict(format!(
                "campaign {} already exists",
                new.campaign.id
            )));
        }
        s.insert_batch(crate::store::NewBatch {
            account_id: new.campaign.account_id,
            messages: new.messages,
            idempotency: None,
        })?;
        s.campaign_zones.extend(new.time_zones);
        s.campaigns.insert(new.campaign.id, new.campaign);
        drop(s);
        self.wake_replicas();
        Ok(())
    }

    async fn campaign(&self, account: AccountId, id: CampaignId) -> StoreResult<Option<Campaign>> {
        let s = self.lock();
        Ok(s.campaigns
            .get(&id)
            .filter(|c| c.account_id == account)
            .cloned())
    }

    async fn list_campaigns(
        &self,
        account: AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Campaign>> {
        let s = self.lock();
        let mut matching: Vec<&Campaign> = s
            .campaigns
            .values()
            .filter(|c| c.account_id == account)
            .collect();
        matching.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
        let total = matching.len() as u64;
        let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let items = matching
            .into_iter()
            .skip(offset)
            .take(page.limit as usize)
            .cloned()
            .collect();
        Ok(Page { items, total })
    }

    async fn campaign_counts(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<StatusCounts> {
        let s = self.lock();
        let mut counts = StatusCounts::new();
        if s.campaigns
            .get(&id)
            .is_some_and(|c| c.account_id == account)
        {
            for m in s.campaign_messages(id) {
                *counts.entry(m.status).or_default() += 1;
            }
        }
        Ok(counts)
    }

    async fn pause_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let campaign = s.campaign_mut(account, id)?;
        if campaign.control != CampaignControl::Active {
            return Err(StoreError::Conflict("the campaign is not active".into()));
        }
        campaign.control = CampaignControl::Paused;
        campaign.updated_at = now;
        let waiting: Vec<MessageId> = s
            .campaign_messages(id)
            .into_iter()
            .filter(|m| holdable(m.status))
            .map(|m| m.id)
            .collect();
        for m in &waiting {
            s.set_due(*m, None);
        }
        Ok(waiting.len() as u64)
    }

    async fn held_messages(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<Vec<HeldMessage>> {
        let s = self.lock();
        if s.campaigns.get(&id).is_none_or(|c| c.account_id != account) {
            return Ok(Vec::new());
        }
        Ok(s.held(id)
            .into_iter()
            .map(|m| HeldMessage {
                id: m,
                to: s.messages[&m].message.to.clone(),
                time_zone: s.campaign_zones.get(&m).cloned(),
            })
            .collect())
    }

    async fn resume_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        plan: &[(MessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let campaign = s.campaign_mut(account, id)?;
        if campaign.control != CampaignControl::Paused {
            return Err(StoreError::Conflict("the campaign is not paused".into()));
        }
        campaign.control = CampaignControl::Active;
        campaign.updated_at = now;
        let planned: std::collections::HashMap<MessageId, DateTime<Utc>> =
            plan.iter().copied().collect();
        let held = s.held(id);
        for m in &held {
            let at = planned.get(m).copied().unwrap_or(now);
            if let Some(row) = s.messages.get_mut(m) {
                record_resume(&mut row.message, at);
            }
            s.set_due(*m, Some(at));
        }
        drop(guard);
        self.wake_replicas();
        Ok(held.len() as u64)
    }

    async fn cancel_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let campaign = s.campaign_mut(account, id)?;
        if campaign.control == CampaignControl::Cancelled {
            return Err(StoreError::Conflict(
                "the campaign is already cancelled".into(),
            ));
        }
        campaign.control = CampaignControl::Cancelled;
        campaign.updated_at = now;
        let waiting: Vec<(MessageId, crate::message::Status)> = s
            .campaign_messages(id)
            .into_iter()
            .filter(|m| holdable(m.status))
            .map(|m| (m.id, m.status))
            .collect();
        for (m, status) in &waiting {
            let change = cancel_change(*status, now)?;
            s.change(*m, change, |msg| record_cancel(msg, now));
        }
        Ok(waiting.len() as u64)
    }
}
