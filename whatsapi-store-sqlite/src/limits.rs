//! Limits: the breaker's compare-and-set runs on the writer (one writer, so it is atomic against every other write
//! of the file); send slots and pacing step-downs are kept in this process's memory: a SQLite file is served by one process, so there is
//! no other replica to share them with, and a table would cost a write per claimed batch for nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use whatsapi_core::account::BreakerState;
use whatsapi_core::numbers::Throttle;
use whatsapi_core::store::{LimitStore, SlotBlock, StoreResult};
use whatsapi_core::{AccountId, StoreError};

use crate::SqliteStore;
use crate::codec::ts_opt;
use crate::error::{Result, SqliteError};

/// The end of the send slots reserved per key.
#[derive(Debug, Default)]
pub(crate) struct SendSlots(Mutex<HashMap<String, DateTime<Utc>>>);

/// Keys kept before idle ones are dropped.
const PRUNE_ABOVE: usize = 1024;

impl SendSlots {
    fn reserve(
        &self,
        blocks: &[SlotBlock],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, next| *next > now);
        }
        blocks
            .iter()
            .map(|b| {
                let next = map.entry(b.key.clone()).or_insert(now);
                let start = (*next).max(now);
                *next = whatsapi_core::store::support::saturating_add(
                    start,
                    interval.saturating_mul(b.count.max(1)),
                );
                start
            })
            .collect()
    }
}

/// The pacing step-downs per key, in this process's memory for the reason send slots are: one process serves the
/// file (a restart forgets them, and the rate starts from the number's own again).
#[derive(Debug, Default)]
pub(crate) struct Throttles(Mutex<HashMap<String, Throttle>>);

impl Throttles {
    fn get(&self, keys: &[String]) -> Vec<Option<Throttle>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().map(|k| map.get(k).copied()).collect()
    }

    fn step_down(&self, key: &str, now: DateTime<Utc>, quiet: Duration, gap: Duration) -> Throttle {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_ABOVE {
            // Throttles fully recovered say nothing any more.
            map.retain(|_, t| t.steps_at(now, quiet) > 0);
        }
        let next = Throttle::stepped_down(map.get(key).copied(), now, quiet, gap);
        map.insert(key.to_owned(), next);
        next
    }
}

/// Writes `new` if the row still holds `expected`; tells a missing account from a lost race.
fn compare_and_set(
    conn: &Connection,
    id: AccountId,
    expected: &BreakerState,
    new: &BreakerState,
) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE accounts SET breaker_failures = ?6, breaker_open_until = ?7, breaker_trips = ?8, \
             breaker_probing = ?9 \
             WHERE id = ?1 AND breaker_failures = ?2 AND breaker_open_until IS ?3 AND breaker_trips = ?4 \
             AND breaker_probing = ?5",
        )?
        .execute(params![
            id.0.as_bytes(),
            i64::from(expected.consecutive_failures),
            ts_opt(expected.open_until),
            i64::from(expected.trips),
            expected.probing,
            i64::from(new.consecutive_failures),
            ts_opt(new.open_until),
            i64::from(new.trips),
            new.probing,
        ])?;
    if changed > 0 {
        return Ok(true);
    }
    match crate::accounts::by_id(conn, id)? {
        Some(_) => Ok(false),
        None => Err(SqliteError::Store(StoreError::NotFound)),
    }
}

#[async_trait]
impl LimitStore for SqliteStore {
    async fn reserve_send_slots(
        &self,
        blocks: &[SlotBlock],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        Ok(self.send_slots.reserve(blocks, interval, now))
    }

    async fn throttles(&self, keys: &[String]) -> StoreResult<Vec<Option<Throttle>>> {
        Ok(self.throttles.get(keys))
    }

    async fn step_down_number(
        &self,
        key: &str,
        now: DateTime<Utc>,
        quiet: Duration,
        min_gap: Duration,
    ) -> StoreResult<Throttle> {
        Ok(self.throttles.step_down(key, now, quiet, min_gap))
    }

    async fn update_breaker(
        &self,
        id: AccountId,
        expected: &BreakerState,
        new: &BreakerState,
    ) -> StoreResult<bool> {
        let (expected, new) = (*expected, *new);
        self.writer
            .write(move |c| compare_and_set(c, id, &expected, &new))
            .await
    }
}
