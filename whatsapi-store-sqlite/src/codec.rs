//! How domain values are stored: times as integer nanoseconds (lossless for `chrono`), ids as 16-byte blobs,
//! statuses as small integers, structured values as JSON text.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use whatsapi_core::Status;

use crate::error::{Result, SqliteError};

pub(crate) use whatsapi_core::store::support::{
    from_nanos as time, nanos as ts, saturating_add as plus, saturating_sub as minus,
};

/// An optional time as stored.
pub(crate) fn ts_opt(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ts)
}

/// An optional stored time.
pub(crate) fn time_opt(n: Option<i64>) -> Option<DateTime<Utc>> {
    n.map(time)
}

/// A UUID from a 16-byte blob.
pub(crate) fn uuid(blob: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(blob).map_err(|e| SqliteError::Corrupt(format!("id: {e}")))
}

/// The stored code of a status.
pub(crate) fn status_code(s: Status) -> i64 {
    i64::from(s.code())
}

/// The status of a stored code.
pub(crate) fn status(code: i64) -> Result<Status> {
    Status::from_code(code).ok_or_else(|| SqliteError::Corrupt(format!("status code {code}")))
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
