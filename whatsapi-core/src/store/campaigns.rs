//! [`CampaignStore`]: campaigns and the control of their messages.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::AccountId;
use crate::campaign::{Campaign, CampaignId, HeldMessage, NewCampaign};
use crate::message::MessageId;

use super::{Page, PageRequest, StatusCounts, StoreResult};

/// Campaigns: each one's row, and the pause, resume and cancel of its messages (the messages whose batch id is
/// the campaign's id).
///
/// A message is *held* when it belongs to a paused campaign and is waiting (`queued`, `scheduled` or
/// `retrying`, see [`holdable`](super::support::holdable)) with no time at which it becomes due: claims never see
/// it. A message being sent when its campaign pauses finishes its attempt.
#[async_trait]
pub trait CampaignStore: Send + Sync + 'static {
    /// Stores the campaign and its messages (as [`MessageStore::insert_messages`](super::MessageStore::insert_messages)
    /// stores a batch: timelines, counters, contacts) and the recipients' given time zones, all in one
    /// transaction, inserting the messages in chunks of [`INSERT_CHUNK`](crate::campaign::INSERT_CHUNK).
    /// `NotFound` when the account does not exist; `Conflict` when the campaign or a message id exists.
    async fn create_campaign(&self, new: NewCampaign) -> StoreResult<()>;
    /// The account's campaign; `None` for an unknown id or another account's.
    async fn campaign(&self, account: AccountId, id: CampaignId) -> StoreResult<Option<Campaign>>;
    /// The account's campaigns, newest first (then by id, descending), with the total.
    async fn list_campaigns(
        &self,
        account: AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Campaign>>;
    /// The campaign's messages counted by current status (statuses without messages absent). Empty for an
    /// unknown campaign or another account's.
    async fn campaign_counts(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<StatusCounts>;
    /// Pauses an active campaign at `now`: every waiting message of it is held. Answers how many were held.
    /// `NotFound` for an unknown campaign or another account's; `Conflict` unless it is active.
    async fn pause_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The campaign's held messages, in the order they were created, with the time zones their rows gave.
    async fn held_messages(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> StoreResult<Vec<HeldMessage>>;
    /// Resumes a paused campaign at `now`: each held message of `plan` is due again at its time (a scheduled
    /// message's `scheduled_for`, a retrying one's `next_attempt_at`); a held message `plan` leaves out is due at
    /// `now`. No status changes, so no timeline entry or event. Answers how many were released. `NotFound` as
    /// for a pause; `Conflict` unless it is paused.
    async fn resume_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        plan: &[(MessageId, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Cancels a campaign that is not cancelled yet: each waiting message of it (held or not) ends `failed` with
    /// [`CANCELLED_REASON`](crate::campaign::CANCELLED_REASON) ([`cancel_change`](super::support::cancel_change)),
    /// with its timeline entry, counters and outbox events, in one transaction; messages being sent finish.
    /// Answers how many were failed. `NotFound` as for a pause; `Conflict` when it is already cancelled.
    async fn cancel_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
}
