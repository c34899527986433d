//! Reading and acting on stored messages: get, list, retry, analytics, Meta's status updates, inbound messages.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::account::AccountId;
use crate::message::{Message, MessageId, Status};
use crate::send::ValidationErrors;
use crate::store::{MessageFilter, Page, PageRequest, StatusApplied, StatusUpdate, StoreError};

use super::{Error, WhatsApi};

/// `GET /analytics/summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// All messages of the account.
    pub total: u64,
    /// Count per status; statuses with no message are left out.
    pub by_status: BTreeMap<Status, u64>,
    /// (delivered + read) / total; 0 when there are none.
    pub delivery_rate: f64,
    /// failed / total; 0 when there are none.
    pub failure_rate: f64,
}

const MESSAGE_NOT_FOUND: &str = "message not found";
/// Largest page.
pub const MAX_PAGE_LIMIT: u32 = 200;

impl WhatsApi {
    /// A message of the account with its timeline; unknown ids and other accounts' ids are `NotFound`.
    pub async fn get_message(&self, account: AccountId, id: MessageId) -> Result<Message, Error> {
        self.store()
            .get_message(account, id)
            .await?
            .ok_or_else(|| Error::NotFound(MESSAGE_NOT_FOUND.into()))
    }

    /// A page of the account's messages, newest first, with the total. `page >= 1`, `limit` 1–200.
    pub async fn list_messages(
        &self,
        account: AccountId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Page<Message>, Error> {
        let mut errs = ValidationErrors::default();
        if page.page < 1 {
            errs.push("page", "must be 1 or more");
        }
        if !(1..=MAX_PAGE_LIMIT).contains(&page.limit) {
            errs.push("limit", format!("must be between 1 and {MAX_PAGE_LIMIT}"));
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        Ok(self.store().list_messages(account, &filter, page).await?)
    }

    /// Queues a `failed` message again; any other status is a `Conflict`.
    pub async fn retry(&self, account: AccountId, id: MessageId) -> Result<Message, Error> {
        match self
            .store()
            .retry_message(account, id, self.clock().now())
            .await
        {
            Ok(message) => {
                self.core().dispatch_wake.notify();
                self.core().deliver_wake.notify();
                tracing::info!(%account, message_id = %id, "failed message queued again");
                Ok(message)
            }
            Err(StoreError::NotFound) => Err(Error::NotFound(MESSAGE_NOT_FOUND.into())),
            Err(StoreError::Conflict(detail)) => {
                let status = self.get_message(account, id).await?.status;
                if status == Status::Failed {
                    // A concurrent retry won the race.
                    return Err(Error::Conflict(format!(
                        "the message could not be retried: {detail}"
                    )));
                }
                Err(Error::Conflict(format!(
                    "message is {status}; only failed messages can be retried"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Delivery statistics of the account.
    pub async fn analytics(&self, account: AccountId) -> Result<Summary, Error> {
        let counts = self.store().status_counts(account).await?;
        let by_status: BTreeMap<Status, u64> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
        let total: u64 = by_status.values().sum();
        let count = |s: Status| by_status.get(&s).copied().unwrap_or(0);
        let rate = |n: u64| {
            if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            }
        };
        Ok(Summary {
            total,
            delivery_rate: rate(count(Status::Delivered) + count(Status::Read)),
            failure_rate: rate(count(Status::Failed)),
            by_status,
        })
    }

    /// Applies statuses reported by Meta's webhooks (monotonically; unknown wamids are kept until their send is
    /// recorded) and wakes the webhook deliverer.
    pub async fn apply_status_updates(
        &self,
        updates: &[StatusUpdate],
    ) -> Result<Vec<StatusApplied>, Error> {
        let applied = self.store().apply_status_updates(updates).await?;
        self.core().deliver_wake.notify();
        Ok(applied)
    }

    /// Records that `wa_id` wrote to the account at `at` (opens the 24-hour customer service window).
    pub async fn record_inbound(
        &self,
        account: AccountId,
        wa_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        Ok(self.store().record_inbound(account, wa_id, at).await?)
    }
}
