//! What to do after a failed send: Meta error classification and the retry policy.

use std::time::Duration;

/// How a send failure is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Try again with backoff (Meta busy, rate limits, 5xx, timeouts).
    Transient,
    /// Too many messages to this recipient: retry this one later, others go on.
    PerRecipient,
    /// Will not succeed: fail with Meta's message.
    Permanent,
    /// The account's Meta credentials are broken: fail and mark them invalid.
    Credentials,
}

/// Classifies a failure by HTTP status and Meta error code. A known code decides; otherwise 5xx, timeouts and
/// network errors (`http_status = None`) are transient and other statuses permanent.
pub fn classify(http_status: Option<u16>, code: Option<i64>) -> ErrorClass {
    if let Some(code) = code {
        match code {
            1 | 2 | 4 | 80007 | 130429 | 131000 | 131016 | 133004 => return ErrorClass::Transient,
            131056 => return ErrorClass::PerRecipient,
            0 | 3 | 10 | 33 | 190 | 200..=299 => return ErrorClass::Credentials,
            100
            | 368
            | 130472
            | 131008
            | 131009
            | 131021
            | 131026
            | 131047
            | 131048
            | 131049
            | 131051
            | 131053
            | 131062
            | 132000..=132999 => return ErrorClass::Permanent,
            _ => {}
        }
    }
    match http_status {
        None => ErrorClass::Transient,
        Some(s) if s >= 500 => ErrorClass::Transient,
        Some(429) => ErrorClass::Transient,
        Some(_) => ErrorClass::Permanent,
    }
}

/// Whether sending a failed message again (`POST /messages/{id}/retry`) can succeed, judged by Meta's error code.
///
/// Transient, per-recipient and credentials failures can (the last once the credentials are fixed); so can 131047
/// (outside the 24-hour customer-service window: it opens when the customer writes in). Other permanent errors
/// (invalid recipient 131026, template errors 132xxx, …) fail the same way every time. A failure without a code
/// (network, retries exhausted) can.
pub fn retry_can_fix(code: Option<i64>) -> bool {
    match classify(None, code) {
        ErrorClass::Permanent => code == Some(131047),
        ErrorClass::Transient | ErrorClass::PerRecipient | ErrorClass::Credentials => true,
    }
}

/// Exponential backoff with jitter, a cap and a maximum number of attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Growth per attempt.
    pub factor: f64,
    /// Longest delay.
    pub max_delay: Duration,
    /// Total attempts, the first included; after the last one a transient failure becomes `failed`.
    pub max_attempts: u32,
    /// Relative jitter: each delay is scaled by a random factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
    /// Smallest delay before retrying a recipient after a pair rate limit (131056).
    pub per_recipient_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            factor: 2.0,
            max_delay: Duration::from_secs(300),
            max_attempts: 10,
            jitter: 0.2,
            per_recipient_delay: Duration::from_secs(6),
        }
    }
}

impl RetryPolicy {
    /// Delay before the next attempt after `tries` attempts failed, or `None` when the budget is spent.
    /// `unit_sample` in `[0, 1)` picks the jitter; `retry_after` (Meta's hint) wins when larger.
    pub fn next_delay(
        &self,
        tries: u32,
        class: ErrorClass,
        retry_after: Option<Duration>,
        unit_sample: f64,
    ) -> Option<Duration> {
        if tries >= self.max_attempts {
            return None;
        }
        let exp = self.factor.powi(tries.saturating_sub(1).min(62) as i32);
        let raw = self.base.as_secs_f64() * exp;
        let capped = raw.min(self.max_delay.as_secs_f64());
        let spread = (unit_sample.clamp(0.0, 1.0) * 2.0 - 1.0) * self.jitter;
        let mut delay = Duration::from_secs_f64((capped * (1.0 + spread)).max(0.0));
        if class == ErrorClass::PerRecipient {
            delay = delay.max(self.per_recipient_delay);
        }
        if let Some(hint) = retry_after {
            delay = delay.max(hint);
        }
        Some(delay)
    }

    /// Like [`next_delay`](Self::next_delay) with a random jitter sample.
    pub fn next_delay_random(
        &self,
        tries: u32,
        class: ErrorClass,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        self.next_delay(tries, class, retry_after, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    #[test]
    fn classification_table() {
        let cases: &[(Option<u16>, Option<i64>, ErrorClass)] = &[
            (Some(400), Some(1), Transient),
            (Some(503), Some(2), Transient),
            (Some(400), Some(4), Transient),
            (Some(400), Some(80007), Transient),
            (Some(400), Some(130429), Transient),
            (Some(500), Some(131000), Transient),
            (Some(503), Some(131016), Transient),
            (Some(503), Some(133004), Transient),
            (Some(400), Some(131056), PerRecipient),
            (Some(400), Some(100), Permanent),
            (Some(400), Some(131008), Permanent),
            (Some(400), Some(131009), Permanent),
            (Some(400), Some(131062), Permanent),
            (Some(400), Some(131021), Permanent),
            (Some(400), Some(131026), Permanent),
            (Some(400), Some(131047), Permanent),
            (Some(400), Some(131051), Permanent),
            (Some(400), Some(131053), Permanent),
            (Some(400), Some(368), Permanent),
            (Some(400), Some(132000), Permanent),
            (Some(400), Some(132001), Permanent),
            (Some(400), Some(132018), Permanent),
            (Some(401), Some(0), Credentials),
            (Some(403), Some(3), Credentials),
            (Some(403), Some(10), Credentials),
            (Some(401), Some(190), Credentials),
            (Some(403), Some(200), Credentials),
            (Some(403), Some(299), Credentials),
            (Some(400), Some(33), Credentials),
            // Unknown codes fall back on the HTTP status.
            (Some(400), Some(999_999), Permanent),
            (Some(404), None, Permanent),
            (Some(500), Some(999_999), Transient),
            (Some(502), None, Transient),
            (Some(429), None, Transient),
            // No HTTP status: timeout or connection failure.
            (None, None, Transient),
        ];
        for (status, code, class) in cases {
            assert_eq!(classify(*status, *code), *class, "{status:?} {code:?}");
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(2),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            max_attempts: 6,
            jitter: 0.2,
            per_recipient_delay: Duration::from_secs(6),
        }
    }

    #[test]
    fn backoff_table() {
        let p = policy();
        // unit_sample 0.5 means no jitter.
        let table = [
            (1, Some(2)),
            (2, Some(4)),
            (3, Some(8)),
            (4, Some(16)),
            (5, Some(32)),
            (6, None),
            (7, None),
        ];
        for (tries, secs) in table {
            assert_eq!(
                p.next_delay(tries, Transient, None, 0.5),
                secs.map(Duration::from_secs),
                "after {tries} tries"
            );
        }
        let capped = RetryPolicy {
            max_attempts: 20,
            ..policy()
        };
        assert_eq!(
            capped.next_delay(10, Transient, None, 0.5),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn jitter_bounds() {
        let p = policy();
        assert_eq!(
            p.next_delay(3, Transient, None, 0.0),
            Some(Duration::from_secs_f64(6.4))
        );
        let hi = p
            .next_delay(3, Transient, None, 0.999_999)
            .unwrap()
            .as_secs_f64();
        assert!((9.59..=9.6).contains(&hi), "{hi}");
        for _ in 0..200 {
            let d = p
                .next_delay_random(3, Transient, None)
                .unwrap()
                .as_secs_f64();
            assert!((6.4..=9.6).contains(&d), "{d}");
        }
    }

    #[test]
    fn retry_after_wins_when_larger() {
        let p = policy();
        let hint = Some(Duration::from_secs(30));
        assert_eq!(
            p.next_delay(1, Transient, hint, 0.5),
            Some(Duration::from_secs(30))
        );
        let small = Some(Duration::from_secs(1));
        assert_eq!(
            p.next_delay(3, Transient, small, 0.5),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            p.next_delay(6, Transient, hint, 0.5),
            None,
            "the budget still ends"
        );
    }

    #[test]
    fn per_recipient_waits_at_least_the_pair_interval() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, PerRecipient, None, 0.5),
            Some(Duration::from_secs(6))
        );
        assert_eq!(
            p.next_delay(4, PerRecipient, None, 0.5),
            Some(Duration::from_secs(16))
        );
    }

    #[test]
    fn retry_can_fix_follows_the_classification() {
        for code in [131026, 132001, 132000, 131008, 131051, 368] {
            assert!(!retry_can_fix(Some(code)), "{code}");
        }
        for code in [131047, 131000, 130429, 131056, 190] {
            assert!(retry_can_fix(Some(code)), "{code}");
        }
        assert!(retry_can_fix(None));
    }
}
