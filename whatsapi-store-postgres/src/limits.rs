//! Limits that hold across replicas: per-number send slots (one upsert per claimed batch) and the breaker's
//! compare-and-set (one conditional update).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use whatsapi_core::account::BreakerState;
use whatsapi_core::store::{LimitStore, SlotBlock, StoreResult};
use whatsapi_core::{AccountId, StoreError};

use crate::PostgresStore;
use crate::codec::{time, ts, ts_opt};
use crate::db::Db;
use crate::db::in_tx;
use crate::error::{PostgresError, Result};

/// Reserves every block in one statement. Keys are upserted in key order, so two replicas reserving for the same
/// numbers lock their rows in the same order and never deadlock.
async fn reserve(
    db: &dyn Db,
    blocks: &[SlotBlock],
    interval: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>> {
    if blocks.is_empty() {
        return Ok(Vec::new());
    }
    let gap = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
    let keys: Vec<&str> = blocks.iter().map(|b| b.key.as_str()).collect();
    let counts: Vec<i64> = blocks.iter().map(|b| i64::from(b.count.max(1))).collect();
    // EXCLUDED.next_free - now is the block's length: the new end is where the block starts plus its length.
    let rows = db
        .rows(
            "INSERT INTO send_slots AS s (key, next_free) \
             SELECT k, $3 + c * $4 FROM unnest($1::text[], $2::int8[]) AS r(k, c) ORDER BY k \
             ON CONFLICT (key) DO UPDATE SET next_free = GREATEST(s.next_free, $3) + (EXCLUDED.next_free - $3) \
             RETURNING key, next_free",
            &[&keys, &counts, &ts(now), &gap],
        )
        .await?;
    let mut ends: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for r in &rows {
        ends.insert(r.try_get(0)?, r.try_get(1)?);
    }
    blocks
        .iter()
        .zip(&counts)
        .map(|(b, count)| {
            let end = ends.get(&b.key).ok_or_else(|| {
                PostgresError::Corrupt(format!("no send slots returned for {}", b.key))
            })?;
            Ok(time(end - count * gap))
        })
        .collect()
}

/// Writes `new` if the row still holds `expected`; tells a missing account from a lost race.
async fn compare_and_set(
    db: &dyn Db,
    id: AccountId,
    expected: &BreakerState,
    new: &BreakerState,
) -> Result<bool> {
    let changed = db
        .exec(
            "UPDATE accounts SET breaker_failures = $6, breaker_open_until = $7, breaker_trips = $8, \
             breaker_probing = $9 \
             WHERE id = $1 AND breaker_failures = $2 AND breaker_open_until IS NOT DISTINCT FROM $3 \
             AND breaker_trips = $4 AND breaker_probing = $5",
            &[
                &id.0,
                &i64::from(expected.consecutive_failures),
                &ts_opt(expected.open_until),
                &i64::from(expected.trips),
                &expected.probing,
                &i64::from(new.consecutive_failures),
                &ts_opt(new.open_until),
                &i64::from(new.trips),
                &new.probing,
            ],
        )
        .await?;
    if changed > 0 {
        return Ok(true);
    }
    match crate::accounts::seq(db, id).await? {
        Some(_) => Ok(false),
        None => Err(StoreError::NotFound.into()),
    }
}

#[async_trait]
impl LimitStore for PostgresStore {
    async fn reserve_send_slots(
        &self,
        blocks: &[SlotBlock],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        Ok(reserve(&self.client().await?, blocks, interval, now).await?)
    }

    async fn throttles(
        &self,
        keys: &[String],
    ) -> StoreResult<Vec<Option<whatsapi_core::numbers::Throttle>>> {
        Ok(crate::numbers::throttles(&self.client().await?, keys).await?)
    }

    async fn step_down_number(
        &self,
        key: &str,
        now: DateTime<Utc>,
        quiet: Duration,
        min_gap: Duration,
    ) -> StoreResult<whatsapi_core::numbers::Throttle> {
        Ok(in_tx!(self, |tx| crate::numbers::step_down(
            tx, key, now, quiet, min_gap
        )
        .await)?)
    }

    /// Always: every replica on the database reserves from the same rows.
    fn shares_send_slots(&self) -> bool {
        true
    }

    async fn update_breaker(
        &self,
        id: AccountId,
        expected: &BreakerState,
        new: &BreakerState,
    ) -> StoreResult<bool> {
        Ok(compare_and_set(&self.client().await?, id, expected, new).await?)
    }
}
