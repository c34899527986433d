//! Pacing per business phone number: sends are spaced evenly at the number's rate, so no window of one second
//! ever holds more than `rate` sends (Meta answers 130429 above its throughput).
//!
//! Each number has its own rate: the one set for it ([`BusinessNumber::throughput_per_second`], from Meta's
//! throughput tier or set by the account), else the engine's default ([`EngineConfig::pace_per_second`]). After
//! Meta's 130429 the number's rate is halved ([`Throttle`]), kept in the store so every replica paces the number
//! at the lowered rate, and recovers one halving per quiet period ([`EngineConfig::pace_recovery`]). With the
//! default rate at 0 pacing is off altogether.
//!
//! Meta's throughput belongs to the number, not to a process: when the store is shared by several replicas
//! ([`LimitStore::shares_send_slots`]), slots are reserved from the store, a block per number for each claimed
//! batch (one round trip per distinct rate, not one per message), so all replicas together keep to the rate.
//! Otherwise this process's memory is the only pacer there is.
//!
//! [`BusinessNumber::throughput_per_second`]: crate::numbers::BusinessNumber::throughput_per_second
//! [`EngineConfig::pace_per_second`]: super::EngineConfig::pace_per_second
//! [`EngineConfig::pace_recovery`]: super::EngineConfig::pace_recovery

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::numbers::Throttle;
use crate::store::{LimitStore, SlotBlock, StoreResult};

/// The gap between two slots of one key; `None` when pacing is off.
pub(crate) type Gap = Option<chrono::Duration>;

/// The gap of `per_second` sends a second, rounded up so that `rate` gaps never fit in less than a second.
fn gap_of(per_second: u32) -> Gap {
    (per_second > 0).then(|| {
        chrono::Duration::nanoseconds(1_000_000_000_u64.div_ceil(u64::from(per_second)) as i64)
    })
}

/// How long a throttle read from the store is trusted before it is read again: how late a replica learns of
/// another's step down at most.
const THROTTLE_TTL: chrono::Duration = chrono::Duration::seconds(1);

/// 130429s within this long of a number's last step down are of the same burst and count once.
pub(crate) const STEP_DOWN_GAP: Duration = Duration::from_secs(1);

/// A key's throttle as read from the store (`None`: never stepped down), and when it was read.
type ReadThrottle = (Option<Throttle>, DateTime<Utc>);

/// Hands out send slots per key (the Meta phone number id), `1 / rate` apart.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Gap between two slots of a number without a rate of its own; `None` when pacing is off.
    interval: Gap,
    /// Slots are reserved from the store, shared with other processes.
    shared: bool,
    /// A quiet period that gives one halving back.
    recovery: Duration,
    /// The end of the slots reserved per key: this process's own, or (when shared) the end of the latest block the
    /// store handed out to it, which tells when the number is busy as far as this process knows.
    next_free: Mutex<HashMap<String, DateTime<Utc>>>,
    /// The throttles per key as last read from the store, and when.
    throttles: Mutex<HashMap<String, ReadThrottle>>,
    /// The gap each key was last paced at (to size claims by the fastest number).
    gaps: Mutex<HashMap<String, chrono::Duration>>,
}

/// Keys kept before idle ones are dropped.
const PRUNE_ABOVE: usize = 1024;

impl Pacer {
    /// `per_second = 0` disables pacing; `shared`: slots come from the store.
    #[cfg(test)]
    pub(crate) fn new(per_second: u32, shared: bool) -> Self {
        Self::with_recovery(per_second, shared, Duration::from_secs(60))
    }

    /// [`new`](Self::new) with the quiet period after which a stepped-down number gets one halving back.
    pub(crate) fn with_recovery(per_second: u32, shared: bool, recovery: Duration) -> Self {
        Self {
            interval: gap_of(per_second),
            shared,
            recovery,
            next_free: Mutex::new(HashMap::new()),
            throttles: Mutex::new(HashMap::new()),
            gaps: Mutex::new(HashMap::new()),
        }
    }

    /// The gap between two slots of a number without a rate of its own; `None` when pacing is off.
    #[cfg(test)]
    pub(crate) fn interval(&self) -> Gap {
        self.interval
    }

    /// The gap of number `key` at `now`: its own rate (else the default), halved as its throttle says. `None` when
    /// pacing is off.
    pub(crate) fn gap_for(&self, key: &str, rate: Option<u32>, now: DateTime<Utc>) -> Gap {
        let default = self.interval?;
        let own = rate.filter(|r| *r > 0);
        let throttle = {
            let map = self.throttles.lock().unwrap_or_else(|e| e.into_inner());
            map.get(key).and_then(|(t, _)| *t)
        }
        .filter(|t| t.steps_at(now, self.recovery) > 0);
        let gap = match (own, throttle) {
            (None, None) => default,
            (Some(r), None) => gap_of(r)?,
            (own, Some(t)) => {
                // The default rate, as the default gap says (the gap was rounded up from it).
                let base = own.unwrap_or_else(|| {
                    let ns = default.num_nanoseconds().unwrap_or(i64::MAX).max(1);
                    u32::try_from(1_000_000_000 / ns).unwrap_or(u32::MAX).max(1)
                });
                gap_of(t.rate_at(base, now, self.recovery))?
            }
        };
        let mut gaps = self.gaps.lock().unwrap_or_else(|e| e.into_inner());
        if gaps.len() > PRUNE_ABOVE {
            gaps.clear();
        }
        gaps.insert(key.to_owned(), gap);
        Some(gap)
    }

    /// The shortest gap of the numbers paced lately (the default's when none is faster): how many sends of one
    /// number a claim may take at most.
    pub(crate) fn fastest_gap(&self) -> Gap {
        let default = self.interval?;
        let gaps = self.gaps.lock().unwrap_or_else(|e| e.into_inner());
        Some(gaps.values().copied().fold(default, chrono::Duration::min))
    }

    /// Reads the throttles of `keys` that were not read in the last second from the store (one call); a store
    /// error keeps what is known.
    pub(crate) async fn refresh_throttles(
        &self,
        store: &dyn LimitStore,
        keys: &[String],
        now: DateTime<Utc>,
    ) {
        if self.interval.is_none() {
            return;
        }
        let stale: Vec<String> = {
            let map = self.throttles.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter()
                .filter(|k| {
                    map.get(*k)
                        .is_none_or(|(_, read)| now - *read >= THROTTLE_TTL || *read > now)
                })
                .cloned()
                .collect()
        };
        if stale.is_empty() {
            return;
        }
        match store.throttles(&stale).await {
            Ok(found) => {
                let mut map = self.throttles.lock().unwrap_or_else(|e| e.into_inner());
                if map.len() > PRUNE_ABOVE {
                    map.retain(|_, (t, _)| t.is_some_and(|t| t.steps_at(now, self.recovery) > 0));
                }
                for (key, t) in stale.into_iter().zip(found) {
                    map.insert(key, (t, now));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the pacing step-downs failed; using what is known")
            }
        }
    }

    /// Steps the pacing of `key` down after Meta's 130429, in the store (every replica follows within a second)
    /// and here at once.
    pub(crate) async fn step_down(
        &self,
        store: &dyn LimitStore,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Throttle> {
        let t = store
            .step_down_number(key, now, self.recovery, STEP_DOWN_GAP)
            .await?;
        let mut map = self.throttles.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key.to_owned(), (Some(t), now));
        Ok(t)
    }

    /// How many slots `gap` apart fit in `ahead`, at least one (`None` when pacing is off).
    pub(crate) fn slots_in(&self, ahead: chrono::Duration, gap: Gap) -> Option<usize> {
        let gap = gap?.num_nanoseconds()?.max(1).unsigned_abs();
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

    /// Reserves the next slot for `key` at or after `now` at the default rate and returns its time.
    #[cfg(test)]
    pub(crate) fn reserve(&self, key: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        self.reserve_here(key, 1, self.interval, now)
    }

    /// Reserves `count` consecutive slots of `key`, `gap` apart, in this process's memory; returns the first.
    fn reserve_here(&self, key: &str, count: usize, gap: Gap, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(interval) = gap else {
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

    /// Reserves `count` consecutive slots `gap` apart for each `(key, count, gap)` of `wants` (keys distinct) and
    /// returns the first slot of each block, in order; slot `i` of a block is `first + i * gap`. From the store
    /// when it is shared, one call per distinct gap; otherwise from this process's memory (never failing).
    pub(crate) async fn reserve_blocks(
        &self,
        store: &dyn LimitStore,
        wants: &[(String, usize, Gap)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        if self.interval.is_none() {
            return Ok(vec![now; wants.len()]);
        }
        if !self.shared {
            return Ok(wants
                .iter()
                .map(|(key, count, gap)| self.reserve_here(key, *count, *gap, now))
                .collect());
        }
        let mut starts = vec![now; wants.len()];
        let mut distinct: Vec<chrono::Duration> = wants.iter().filter_map(|(_, _, g)| *g).collect();
        distinct.sort_unstable();
        distinct.dedup();
        for interval in distinct {
            let (at, blocks): (Vec<usize>, Vec<SlotBlock>) = wants
                .iter()
                .enumerate()
                .filter(|(_, (_, _, g))| *g == Some(interval))
                .map(|(i, (key, count, _))| {
                    (
                        i,
                        SlotBlock {
                            key: key.clone(),
                            count: u32::try_from(*count).unwrap_or(u32::MAX).max(1),
                        },
                    )
                })
                .unzip();
            let got = store
                .reserve_send_slots(&blocks, interval.to_std().unwrap_or_default(), now)
                .await?;
            let mut map = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() > PRUNE_ABOVE {
                map.retain(|_, next| *next > now);
            }
            for ((i, block), start) in at.into_iter().zip(&blocks).zip(got) {
                let end = start + interval * i32::try_from(block.count).unwrap_or(i32::MAX);
                let next = map.entry(block.key.clone()).or_insert(end);
                *next = (*next).max(end);
                starts[i] = start;
            }
        }
        Ok(starts)
    }

    /// Reserves one slot of `key`, `gap` after the previous (see [`reserve_blocks`](Self::reserve_blocks)).
    pub(crate) async fn reserve_one(
        &self,
        store: &dyn LimitStore,
        key: &str,
        gap: Gap,
        now: DateTime<Utc>,
    ) -> StoreResult<DateTime<Utc>> {
        let starts = self
            .reserve_blocks(store, &[(key.to_owned(), 1, gap)], now)
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
        assert_eq!(
            p.slots_in(chrono::Duration::milliseconds(250), p.interval()),
            Some(20)
        );
        assert_eq!(
            Pacer::new(1, false).slots_in(
                chrono::Duration::milliseconds(250),
                Pacer::new(1, false).interval()
            ),
            Some(1)
        );
        assert_eq!(
            Pacer::new(0, false).slots_in(chrono::Duration::milliseconds(250), None),
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
            .reserve_blocks(
                &store,
                &[
                    ("N".into(), 20, a.interval()),
                    ("M".into(), 1, a.interval()),
                ],
                t0(),
            )
            .await
            .unwrap();
        assert_eq!(first, [t0(), t0()]);
        // The other process's block starts where the first ends, and each knows how busy the number is.
        let second = b
            .reserve_one(&store, "N", b.interval(), t0())
            .await
            .unwrap();
        assert_eq!(second, t0() + gap * 20);
        assert_eq!(a.busy_until("N", t0()), Some(t0() + gap * 20));
        assert_eq!(b.busy_until("N", t0()), Some(t0() + gap * 21));
        // Off: every slot is now, and the store is not asked.
        let off = Pacer::new(0, true);
        assert_eq!(
            off.reserve_blocks(&store, &[("N".into(), 5, None)], t0())
                .await
                .unwrap(),
            [t0()]
        );
        assert_eq!(
            b.reserve_one(&store, "N", b.interval(), t0())
                .await
                .unwrap(),
            t0() + gap * 21
        );
    }

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn blocks_in_memory_are_contiguous_like_single_slots() {
        let p = Pacer::new(80, false);
        let store = crate::testing::MemoryStore::new();
        let firsts = p
            .reserve_blocks(
                &store,
                &[("A".into(), 3, p.interval()), ("B".into(), 2, p.interval())],
                t0(),
            )
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

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn each_number_keeps_its_own_rate_and_a_step_down_halves_it_until_it_recovers() {
        let store = crate::testing::MemoryStore::with_wakeups();
        let p = Pacer::with_recovery(80, true, Duration::from_secs(10));
        let other = Pacer::with_recovery(80, true, Duration::from_secs(10));
        assert_eq!(
            p.gap_for("A", None, t0()),
            Some(chrono::Duration::microseconds(12_500))
        );
        assert_eq!(
            p.gap_for("B", Some(1000), t0()),
            Some(chrono::Duration::milliseconds(1))
        );
        assert_eq!(
            p.gap_for("C", Some(20), t0()),
            Some(chrono::Duration::milliseconds(50))
        );
        assert_eq!(p.fastest_gap(), Some(chrono::Duration::milliseconds(1)));
        // Blocks of different rates in one call: each spaced at its own gap.
        let wants = [
            ("B".to_owned(), 10, Some(chrono::Duration::milliseconds(1))),
            ("C".to_owned(), 2, Some(chrono::Duration::milliseconds(50))),
        ];
        assert_eq!(
            p.reserve_blocks(&store, &wants, t0()).await.unwrap(),
            [t0(), t0()]
        );
        assert_eq!(
            p.busy_until("B", t0()),
            Some(t0() + chrono::Duration::milliseconds(10))
        );
        assert_eq!(
            p.busy_until("C", t0()),
            Some(t0() + chrono::Duration::milliseconds(100))
        );
        // A 130429 on B halves its rate here, and another replica learns it from the store.
        p.step_down(&store, "B", t0()).await.unwrap();
        assert_eq!(
            p.gap_for("B", Some(1000), t0()),
            Some(chrono::Duration::milliseconds(2))
        );
        other
            .refresh_throttles(&store, &["B".into(), "C".into()], t0())
            .await;
        assert_eq!(
            other.gap_for("B", Some(1000), t0()),
            Some(chrono::Duration::milliseconds(2))
        );
        assert_eq!(
            other.gap_for("C", Some(20), t0()),
            Some(chrono::Duration::milliseconds(50))
        );
        // A number without a rate of its own is halved from the default.
        p.step_down(&store, "A", t0()).await.unwrap();
        assert_eq!(
            p.gap_for("A", None, t0()),
            Some(chrono::Duration::milliseconds(25))
        );
        // One quiet period later the rate is whole again.
        let later = t0() + chrono::Duration::seconds(10);
        assert_eq!(
            p.gap_for("B", Some(1000), later),
            Some(chrono::Duration::milliseconds(1))
        );
        // Pacing off: no number is paced, whatever its rate.
        let off = Pacer::new(0, true);
        assert_eq!(off.gap_for("B", Some(1000), t0()), None);
    }
}
