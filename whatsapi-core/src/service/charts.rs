//! What a dashboard shows besides the messages: messages over time, and recent webhook delivery attempts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::account::AccountId;
use crate::store::StatusCounts;
use crate::webhook::DeliveryAttempt;

use super::{Error, WhatsApi};

/// Width of one point of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Bucket {
    /// The width.
    pub fn duration(self) -> Duration {
        match self {
            Bucket::Hour => Duration::from_secs(3600),
            Bucket::Day => Duration::from_secs(86_400),
        }
    }

    /// `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// One point: messages created in `[start, start + bucket)` by current status.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// Start of the bucket.
    pub start: DateTime<Utc>,
    /// Counts per status (empty for a bucket without messages).
    pub counts: StatusCounts,
}

/// Most points one series may have.
pub const MAX_POINTS: u64 = 2000;

impl WhatsApi {
    /// Messages created over the last `span`, per bucket and current status, every bucket present (empty ones
    /// too), oldest first. A `span` of more than [`MAX_POINTS`] buckets is refused.
    pub async fn message_series(
        &self,
        account: AccountId,
        span: Duration,
        bucket: Bucket,
    ) -> Result<Vec<SeriesPoint>, Error> {
        let width = bucket.duration().as_secs() as i64;
        let points = span.as_secs().div_ceil(width as u64).max(1);
        if points > MAX_POINTS {
            return Err(Error::field(
                "days",
                format!("at most {MAX_POINTS} {}s per series", bucket.as_str()),
            ));
        }
        let now = self.clock().now().timestamp();
        // The last bucket is the one containing now; the series ends at its end.
        let end = (now.div_euclid(width) + 1) * width;
        let start = end - points as i64 * width;
        let to_time = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap_or_default();
        let stored = self
            .store()
            .message_timeseries(account, to_time(start), to_time(end), bucket.duration())
            .await?;
        let mut stored = stored.into_iter().peekable();
        let mut out = Vec::with_capacity(points as usize);
        for i in 0..points as i64 {
            let at = to_time(start + i * width);
            let counts = match stored.peek() {
                Some((t, _)) if *t == at => stored.next().map(|(_, c)| c).unwrap_or_default(),
                _ => StatusCounts::new(),
            };
            out.push(SeriesPoint { start: at, counts });
        }
        Ok(out)
    }

    /// The account's latest customer-webhook delivery attempts, newest first (at most 200).
    pub async fn webhook_deliveries(
        &self,
        account: AccountId,
        limit: u32,
    ) -> Result<Vec<DeliveryAttempt>, Error> {
        Ok(self
            .store()
            .delivery_attempts(account, limit.clamp(1, 200))
            .await?)
    }
}
