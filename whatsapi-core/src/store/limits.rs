//! Limits that hold across every process sharing a store: the send slots of a business phone number (Meta's
//! throughput is the number's, not one replica's) and the compare-and-set of an account's circuit breaker (so
//! concurrent replicas neither lose a failure nor send two probes).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{AccountId, BreakerState};
use crate::numbers::Throttle;

use super::StoreResult;

/// One block of send slots to reserve: `count` slots of `key` (a Meta phone number id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotBlock {
    /// What the slots pace: a Meta phone number id.
    pub key: String,
    /// How many slots, at least one.
    pub count: u32,
}

/// Shared limits: send slots per key and the breaker's compare-and-set.
#[async_trait]
pub trait LimitStore: Send + Sync + 'static {
    /// Reserves, for each block (keys distinct), `count` send slots `interval` apart and answers where each block
    /// starts, in the order of `blocks`; slot `i` of a block is `start + i * interval`. Per key the store keeps
    /// the end of what was reserved (`next_free`): a block starts at `max(next_free, now)` and moves `next_free` to
    /// `start + count * interval`, in one atomic step against every other caller, of this process or another. So
    /// the blocks of one key never overlap, idle time is never banked, and slots reserved but never used only cost
    /// throughput.
    async fn reserve_send_slots(
        &self,
        blocks: &[SlotBlock],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>>;

    /// Whether [`reserve_send_slots`](Self::reserve_send_slots) is shared with other processes (a database many
    /// replicas use). When it is not (the default), the engine paces in its own memory, which is the same thing
    /// without a round trip.
    fn shares_send_slots(&self) -> bool {
        false
    }

    /// The pacing step-down of each key (a Meta phone number id) in the order of `keys`: `None` for a key never
    /// stepped down. Every process sharing the store reads the same.
    async fn throttles(&self, keys: &[String]) -> StoreResult<Vec<Option<Throttle>>>;

    /// Steps the pacing of `key` down once more after Meta's 130429, as [`Throttle::stepped_down`] says with
    /// `quiet` and `min_gap`, atomically against every other caller of this process or another; answers the
    /// throttle now in force.
    async fn step_down_number(
        &self,
        key: &str,
        now: DateTime<Utc>,
        quiet: Duration,
        min_gap: Duration,
    ) -> StoreResult<Throttle>;

    /// Replaces the circuit breaker of account `id` with `new` only if it is still `expected` (compare-and-set),
    /// atomically against every other writer: `Ok(true)` when written; `Ok(false)`, with nothing changed, when the
    /// stored state differs from `expected` (another writer came first: read it again and retry); `NotFound` when
    /// the account does not exist.
    async fn update_breaker(
        &self,
        id: AccountId,
        expected: &BreakerState,
        new: &BreakerState,
    ) -> StoreResult<bool>;
}
