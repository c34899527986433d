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
