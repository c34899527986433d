//! Pacing per business phone number: sends are spaced evenly at the configured rate, so no window of one second
//! ever holds more than `rate` sends (Meta answers 130429 above its throughput).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Hands out send slots per key (the Meta phone number id), `1 / rate` apart.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Gap between two slots; `None` when pacing is off.
    interval: Option<chrono::Duration>,
    next_free: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// Keys kept before idle ones are dropped.
const PRUNE_ABOVE: usize = 1024;

impl Pacer {
    /// `per_second = 0` disables pacing.
    pub(crate) fn new(per_second: u32) -> Self {
        // Rounded up so that `rate` gaps never fit in less than a second.
        let interval = (per_second > 0).then(|| {
            chrono::Duration::nanoseconds(1_000_000_000_u64.div_ceil(u64::from(per_second)) as i64)
        });
        Self {
            interval,
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
    pub(crate) fn reserve(&self, key: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(interval) = self.interval else {
            return now;
        };
        let mut map = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, next| *next > now);
        }
        let next = map.entry(key.to_owned()).or_insert(now);
        let slot = (*next).max(now);
        *next = slot + interval;
        slot
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
        let p = Pacer::new(80);
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
        let p = Pacer::new(80);
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
            Pacer::new(1).slots_in(chrono::Duration::milliseconds(250)),
            Some(1)
        );
        assert_eq!(
            Pacer::new(0).slots_in(chrono::Duration::milliseconds(250)),
            None
        );
        assert_eq!(Pacer::new(0).busy_until("A", t0()), None);
    }

    #[test]
    fn odd_rates_round_the_gap_up_and_zero_disables() {
        let p = Pacer::new(3);
        let a = p.reserve("A", t0());
        let b = p.reserve("A", t0());
        let c = p.reserve("A", t0());
        let d = p.reserve("A", t0());
        assert!(d - a >= chrono::Duration::seconds(1), "{:?}", d - a);
        assert!(b > a && c > b);
        let off = Pacer::new(0);
        assert_eq!(off.reserve("A", t0()), t0());
        assert_eq!(off.reserve("A", t0()), t0());
    }
}
