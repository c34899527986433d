//! How domain values are stored: times as BIGINT nanoseconds (lossless for `chrono`), statuses as SMALLINT codes,
//! structured values as JSON text.

use std::time::Duration;

use chrono::{DateTime, Utc};
use whatsapi_core::Status;

use crate::error::{PostgresError, Result};

/// A time as stored: nanoseconds since the Unix epoch. Times outside 1677–2262 are clamped.
pub(crate) fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// An optional time as stored.
pub(crate) fn ts_opt(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ts)
}

/// A stored time.
pub(crate) fn time(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// An optional stored time.
pub(crate) fn time_opt(n: Option<i64>) -> Option<DateTime<Utc>> {
    n.map(time)
}

/// `t + d`, saturating.
pub(crate) fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, saturating.
pub(crate) fn minus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The stored code of a status.
pub(crate) fn status_code(s: Status) -> i16 {
    match s {
        Status::Queued => 0,
        Status::Scheduled => 1,
        Status::Processing => 2,
        Status::Retrying => 3,
        Status::Sent => 4,
        Status::Delivered => 5,
        Status::Read => 6,
        Status::Failed => 7,
    }
}

/// The status of a stored code.
pub(crate) fn status(code: i16) -> Result<Status> {
    usize::try_from(code)
        .ok()
        .and_then(|i| Status::ALL.get(i).copied())
        .filter(|s| status_code(*s) == code)
        .ok_or_else(|| PostgresError::Corrupt(format!("status code {code}")))
}

/// A non-negative counter as stored.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A `u32` column.
pub(crate) fn u32_of(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_nanosecond() {
        let t = DateTime::parse_from_rfc3339("2026-03-28T10:00:04.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(time(ts(t)), t);
        assert!(ts(t) < ts(t + chrono::Duration::nanoseconds(1)));
    }

    #[test]
    fn status_codes_round_trip_and_unknown_codes_are_corrupt() {
        for s in Status::ALL {
            assert_eq!(status(status_code(s)).unwrap(), s);
        }
        assert!(status(8).is_err());
        assert!(status(-1).is_err());
    }
}
