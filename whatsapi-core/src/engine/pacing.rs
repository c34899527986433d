//! Pacing per business phone number: sends are spaced evenly at the configured rate, so no window of one second
//! ever holds more than `rate` sends (Meta answers 130429 above its throughput).
//!
//! Meta's throughput belongs to the number, not to a process: when the store is shared by several replicas
//! ([`LimitStore::shares_send_slots`]), slots are reserved from the store, a block per number for each claimed
//! batch (one round trip, not one per message), so all replicas together keep to the rate. Otherwise this
//! process's memory is the only pacer there is.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::store::{LimitStore, SlotBlock, StoreResult};

/// Hands out send slots per key (the Meta phone number id), `1 / rate` apart.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Gap between two slots; `None` when pacing is off.
    interval: Option<chrono::Duration>,
    /// Slots are reserved from the store, shared with other processes.
    shared: bool,
    /// The end of the slots reserved per key: this process's own, or (when shared) the end of the latest block the
    /// store handed out to it, which tells when the number is busy as far as this process knows.
    next_free: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// Keys kept before idle ones are dropped.
const PRUNE_ABOVE: usize = 1024;

impl Pacer {
    /// `per_second = 0` disables pacing; `shared`: slots come from the store.
    pub(crate) fn new(per_second: u32, shared: bool) -> Self {
        // Rounded up so that `rate` gaps never fit in less than a second.
        let interval = (per_second > 0).then(|| {
            chrono::Duration::nanoseconds(1_000_000_000_u64.div_ceil(u64::from(per_second)) as i64)
        });
        Self {
            interval,
            shared,
            next_free: Mutex::new(HashMap::new()),
        }
    }

    /// The gap between two slots of one key; `None` when pacing is off.
    pub(crate) fn interval(&self) -> Option<chrono::Duration> {
        self.interval
    }

    /// The rate, rounded as the gap is: how many slots fit in `ahead`, at least one (`None` when pacing is off).
    pub(crate) fn slots_in(&self, ahead: chrono::Duration) -> Option<usize> {
        let gap = self.interval?.num_nanoseconds()?.max(1).unsigned_abs();
        let ahead = ahead
            .num_nanoseconds()
            .unwrap_or(i64::MAX)
            .max(0)
            .unsigned_abs();
        Some(
            usize::try_from(ahead.div_ceil(gap))
                .unwrap_or(usize::MAX)
                .max(1),
        )
    }

    /// The next free slot of `key` if it is after `now` (slots up to it are reserved); `None` when `key` could
    /// send at `now`.
    pub(crate) fn busy_until(&self, key: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.interval?;
        let map = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).copied().filter(|next| *next > now)
    }

    /// Reserves the next slot for `key` at or after `now` and returns its time; the caller sends no earlier.
    #[cfg(test)]
    pub(crate) fn reserve(&self, key: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        self.reserve_here(key, 1, now)
    }

    /// Reserves `count` consecutive slots of `key` in this process's memory; returns the first.
    fn reserve_here(&self, key: &str, count: usize, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(interval) = self.interval else {
            return now;
        };
        let mut map = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, next| *next > now);
        }
        let next = map.entry(key.to_owned()).or_insert(now);
        let slot = (*next).max(now);
        *next = slot + interval * i32::try_from(count).unwrap_or(i32::MAX);
        slot
    }

    /// Reserves `count` consecutive slots for each `(key, count)` of `wants` (keys distinct) and returns the first
    /// slot of each block, in order; slot `i` of a block is `first + i * interval`. From the store when it is
    /// shared, in one call for all keys; otherwise from this process's memory (never failing).
    pub(crate) async fn reserve_blocks(
        &self,
        store: &dyn LimitStore,
        wants: &[(String, usize)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let Some(interval) = self.interval else {
            return Ok(vec![now; wants.len()]);
        };
        if !self.shared {
            return Ok(wants
                .iter()
                .map(|(key, count)| self.reserve_here(key, *count, now))
                .collect());
        }
        let blocks: Vec<SlotBlock> = wants
            .iter()
            .map(|(key, count)| SlotBlock {
                key: key.clone(),
                count: u32::try_from(*count).unwrap_or(u32::MAX).max(1),
            })
            .collect();
        let gap = interval.to_std().unwrap_or_default();
        let starts = store.reserve_send_slots(&blocks, gap, now).await?;
        let mut map = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, next| *next > now);
        }
        for (block, start) in blocks.iter().zip(&starts) {
            let end = *start + interval * i32::try_from(block.count).unwrap_or(i32::MAX);
            let next = map.entry(block.key.clone()).or_insert(end);
            *next = (*next).max(end);
        }
        Ok(starts)
    }

    /// Reserves one slot of `key` (see [`reserve_blocks`](Self::reserve_blocks)).
    pub(crate) async fn reserve_one(
        &self,
        store: &dyn LimitStore,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DateTime<Utc>> {
        let starts = self
            .reserve_blocks(store, &[(key.to_owned(), 1)], now)
            .await?;
        Ok(starts.first().copied().unwrap_or(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn slots_are_spaced_per_key_and_never_exceed_the_rate_in_any_second() {
        let p = Pacer::new(80, false);
        let slots: Vec<_> = (0..400).map(|_| p.reserve("A", t0())).collect();
        assert_eq!(slots[0], t0());
        assert_eq!(slots[1] - slots[0], chrono::Duration::microseconds(12_500));
        // Any window [s, s + 1 s) starting at a slot holds at most 80 slots.
        for (i, s) in slots.iter().enumerate() {
            let inside = slots[i..]
                .iter()
                .take_while(|x| **x < *s + chrono::Duration::seconds(1))
                .count();
            assert!(inside <= 80, "{inside} slots in the second after slot {i}");
        }
        // Another number is not slowed by the first.
        assert_eq!(p.reserve("B", t0()), t0());
        // Idle time is not banked: after a pause the next slot is now, not in the past.
        let later = t0() + chrono::Duration::seconds(60);
        assert_eq!(p.reserve("A", later), later);
        assert_eq!(
            p.reserve("A", later),
            later + chrono::Duration::microseconds(12_500)
        );
    }

    #[test]
    fn busy_until_reports_reserved_slots_and_slots_in_counts_them() {
        let p = Pacer::new(80, false);
        assert_eq!(p.busy_until("A", t0()), None);
        for _ in 0..3 {
            p.reserve("A", t0());
        }
        let next = t0() + chrono::Duration::microseconds(37_500);
        assert_eq!(p.busy_until("A", t0()), Some(next));
        assert_eq!(p.busy_until("A", next), None, "free again at its next slot");
        assert_eq!(p.busy_until("B", t0()), None);
        assert_eq!(p.slots_in(chrono::Duration::milliseconds(250)), Some(20));
        assert_eq!(
            Pacer::new(1, false).slots_in(chrono::Duration::milliseconds(250)),
            Some(1)
        );
        assert_eq!(
            Pacer::new(0, false).slots_in(chrono::Duration::milliseconds(250)),
            None
        );
        assert_eq!(Pacer::new(0, false).busy_until("A", t0()), None);
    }

    #[test]
    fn odd_rates_round_the_gap_up_and_zero_disables() {
        let p = Pacer::new(3, false);
        let a = p.reserve("A", t0());
        let b = p.reserve("A", t0());
        let c = p.reserve("A", t0());
        let d = p.reserve("A", t0());
        assert!(d - a >= chrono::Duration::seconds(1), "{:?}", d - a);
        assert!(b > a && c > b);
        let off = Pacer::new(0, false);
        assert_eq!(off.reserve("A", t0()), t0());
        assert_eq!(off.reserve("A", t0()), t0());
    }

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn shared_blocks_of_two_processes_never_overlap() {
        let store = crate::testing::MemoryStore::with_wakeups();
        let (a, b) = (Pacer::new(80, true), Pacer::new(80, true));
        let gap = chrono::Duration::microseconds(12_500);
        let first = a
            .reserve_blocks(&store, &[("N".into(), 20), ("M".into(), 1)], t0())
            .await
            .unwrap();
        assert_eq!(first, [t0(), t0()]);
        // The other process's block starts where the first ends, and each knows how busy the number is.
        let second = b.reserve_one(&store, "N", t0()).await.unwrap();
        assert_eq!(second, t0() + gap * 20);
        assert_eq!(a.busy_until("N", t0()), Some(t0() + gap * 20));
        assert_eq!(b.busy_until("N", t0()), Some(t0() + gap * 21));
        // Off: every slot is now, and the store is not asked.
        let off = Pacer::new(0, true);
        assert_eq!(
            off.reserve_blocks(&store, &[("N".into(), 5)], t0())
                .await
                .unwrap(),
            [t0()]
        );
        assert_eq!(
            b.reserve_one(&store, "N", t0()).await.unwrap(),
            t0() + gap * 21
        );
    }

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn blocks_in_memory_are_contiguous_like_single_slots() {
        let p = Pacer::new(80, false);
        let store = crate::testing::MemoryStore::new();
        let firsts = p
            .reserve_blocks(&store, &[("A".into(), 3), ("B".into(), 2)], t0())
            .await
            .unwrap();
        assert_eq!(firsts, [t0(), t0()]);
        assert_eq!(
            p.reserve("A", t0()),
            t0() + chrono::Duration::microseconds(37_500)
        );
        assert_eq!(
            store
                .reserve_send_slots(
                    &[SlotBlock {
                        key: "A".into(),
                        count: 1
                    }],
                    std::time::Duration::from_millis(1),
                    t0()
                )
                .await
                .unwrap(),
            [t0()],
            "an unshared store is not used"
        );
    }
}
