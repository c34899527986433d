//! When each message of a campaign is due: from the start, at the rate, inside each recipient's window.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::SendWindow;
use crate::store::support::{from_nanos, nanos};

/// The first instant at or after `t` that is inside `window` on the clock of `zone`. A window opening that falls
/// in a daylight-saving gap opens at the first local time after the gap.
pub fn next_in_window(t: DateTime<Utc>, zone: Tz, window: &SendWindow) -> DateTime<Utc> {
    let local = t.with_timezone(&zone);
    let time = local.time();
    if window.contains(time) {
        return t;
    }
    // Outside the window: it opens next today (before today's opening), else tomorrow. A window spanning midnight
    // is left only between its close and its opening, so that is always today.
    let today = local.date_naive();
    let day = if time < window.from {
        today
    } else {
        today.checked_add_days(Days::new(1)).unwrap_or(today)
    };
    localize(day, window.from, zone).max(t)
}

/// `day` at `time` on the clock of `zone`, as an instant: the earlier of an ambiguous time, the end of a gap.
fn localize(day: NaiveDate, time: NaiveTime, zone: Tz) -> DateTime<Utc> {
    let mut at = day.and_time(time);
    // Gaps last an hour (half an hour in a few zones): step forward in quarter hours until a time exists.
    for _ in 0..12 {
        if let Some(t) = zone.from_local_datetime(&at).earliest() {
            return t.with_timezone(&Utc);
        }
        at += chrono::Duration::minutes(15);
    }
    Utc.from_utc_datetime(&at)
}

/// When each of a campaign's messages is due, in recipient order (`zones[i]` is recipient `i`'s time zone).
///
/// Without a rate every message is due at `start`, or at its window's next opening. With a rate the campaign's
/// sends are spread on a grid of slots `1 / rate` seconds apart from `start`; each message takes the first free
/// slot at or after the previous message of its zone that is inside its window. So the campaign never goes faster
/// than its rate, messages of one zone keep their order, and a zone whose window is closed does not hold back
/// the others.
pub fn plan(
    start: DateTime<Utc>,
    rate_per_second: Option<u32>,
    window: Option<&SendWindow>,
    zones: &[Tz],
) -> Vec<DateTime<Utc>> {
    let Some(rate) = rate_per_second.filter(|r| *r > 0) else {
        return zones
            .iter()
            .map(|z| window.map_or(start, |w| next_in_window(start, *z, w)))
            .collect();
    };
    let period = 1_000_000_000i128 / i128::from(rate);
    let origin = i128::from(nanos(start));
    let slot = |k: u64| -> DateTime<Utc> {
        let t = origin + i128::from(k) * period;
        from_nanos(i64::try_from(t).unwrap_or(i64::MAX))
    };
    // The first slot at or after `t`.
    let slot_at = |t: DateTime<Utc>| -> u64 {
        let d = (i128::from(nanos(t)) - origin).max(0);
        u64::try_from((d + period - 1) / period).unwrap_or(u64::MAX)
    };
    let Some(window) = window else {
        return (0..zones.len() as u64).map(slot).collect();
    };
    let mut cursor: HashMap<Tz, u64> = HashMap::new();
    let mut taken: HashSet<u64> = HashSet::with_capacity(zones.len());
    let mut due = Vec::with_capacity(zones.len());
    for zone in zones {
        let mut k = cursor.get(zone).copied().unwrap_or(0);
        loop {
            let t = slot(k);
            let open = next_in_window(t, *zone, window);
            if open != t {
                k = slot_at(open).max(k + 1);
                continue;
            }
            if taken.contains(&k) {
                k += 1;
                continue;
            }
            break;
        }
        taken.insert(k);
        cursor.insert(*zone, k + 1);
        due.push(slot(k));
    }
    due
}
