//! Reading and acting on stored messages: get, list, retry, analytics, Meta's status updates, inbound messages.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::account::AccountId;
use crate::message::{Message, MessageId, Status};
use crate::send::ValidationErrors;
use crate::store::support::saturating_add;
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
    /// Messages per pricing category Meta reported (`marketing`, `utility`, `service`, …); unpriced ones left out.
    pub by_pricing_category: BTreeMap<String, u64>,
    /// Messages per pricing type Meta reported (`regular`, `free_customer_service`, `free_entry_point`).
    pub by_pricing_type: BTreeMap<String, u64>,
}

/// How far ahead of our clock a status's timestamp may be (clock skew between Meta and us). A later one is not
/// believed: it is taken as the time it was received.
pub const MAX_STATUS_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

/// The updates with every timestamp more than [`MAX_STATUS_FUTURE_SKEW`] after `now` set to `now`; borrowed when
/// none is.
pub(crate) fn clamp_future_timestamps(
    updates: &[StatusUpdate],
    now: DateTime<Utc>,
) -> Cow<'_, [StatusUpdate]> {
    let latest = saturating_add(now, MAX_STATUS_FUTURE_SKEW);
    if updates.iter().all(|u| u.at <= latest) {
        return Cow::Borrowed(updates);
    }
    Cow::Owned(
        updates
            .iter()
            .map(|u| StatusUpdate {
                at: if u.at > latest { now } else { u.at },
                ..u.clone()
            })
            .collect(),
    )
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

    /// Queues a `failed` message again; any other status is [`Error::NotRetryable`].
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
                Err(Error::NotRetryable { status })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Delivery statistics of the account.
    pub async fn analytics(&self, account: AccountId) -> Result<Summary, Error> {
        let counts = self.store().status_counts(account).await?;
        let pricing = self.store().pricing_counts(account).await?;
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
            by_pricing_category: pricing.by_category,
            by_pricing_type: pricing.by_type,
        })
    }

    /// Applies statuses reported by Meta's webhooks (monotonically; unknown wamids are kept until their send is
    /// recorded, at most [`EngineConfig::max_pending_statuses_per_account`](crate::EngineConfig) per account) and
    /// wakes the webhook deliverer. A timestamp more than [`MAX_STATUS_FUTURE_SKEW`] ahead of the clock is taken
    /// as now, so no message shows a `deliveredAt` or `readAt` in the future.
    pub async fn apply_status_updates(
        &self,
        updates: &[StatusUpdate],
    ) -> Result<Vec<StatusApplied>, Error> {
        let now = self.clock().now();
        let updates = clamp_future_timestamps(updates, now);
        let applied = self
            .store()
            .apply_status_updates(
                &updates,
                now,
                self.config().max_pending_statuses_per_account,
            )
            .await?;
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::status::MetaStatus;

    fn update(wamid: &str, at: DateTime<Utc>) -> StatusUpdate {
        StatusUpdate {
            account_id: None,
            wamid: wamid.into(),
            status: MetaStatus::Delivered,
            at,
            error: None,
            pricing: None,
        }
    }

    #[test]
    fn timestamps_far_in_the_future_are_taken_as_now() {
        let now = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        let skew = chrono::Duration::from_std(MAX_STATUS_FUTURE_SKEW).unwrap();
        let one_ns = chrono::Duration::nanoseconds(1);
        let updates = [
            update("past", now - chrono::Duration::days(2)),
            update("now", now),
            update("at-the-limit", now + skew),
            update("just-beyond", now + skew + one_ns),
            update("far", now + chrono::Duration::days(365 * 100)),
            update("max", DateTime::<Utc>::MAX_UTC),
        ];
        let clamped = clamp_future_timestamps(&updates, now);
        let ats: Vec<_> = clamped.iter().map(|u| (u.wamid.as_str(), u.at)).collect();
        assert_eq!(
            ats,
            [
                ("past", now - chrono::Duration::days(2)),
                ("now", now),
                ("at-the-limit", now + skew),
                ("just-beyond", now),
                ("far", now),
                ("max", now),
            ]
        );
        // Nothing else changes.
        for (a, b) in updates.iter().zip(clamped.iter()) {
            assert_eq!(
                (&a.wamid, a.status, &a.error),
                (&b.wamid, b.status, &b.error)
            );
        }
    }

    #[test]
    fn plausible_timestamps_are_passed_through_without_a_copy() {
        let now = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        let updates = [
            update("a", now - chrono::Duration::seconds(5)),
            update("b", now + chrono::Duration::seconds(60)),
        ];
        assert!(matches!(
            clamp_future_timestamps(&updates, now),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            clamp_future_timestamps(&[], now),
            Cow::Borrowed(_)
        ));
    }
}
