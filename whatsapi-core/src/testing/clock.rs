use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::clock::{Clock, Sleep};

/// A clock that moves only when told to. Sleepers wake when [`advance`](Self::advance) or [`set`](Self::set)
/// reaches their deadline.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Inner>,
}

struct Inner {
    now: Mutex<DateTime<Utc>>,
    tick: watch::Sender<DateTime<Utc>>,
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ManualClock({})", self.now())
    }
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        let (tick, _) = watch::channel(start);
        Self {
            inner: Arc::new(Inner {
                now: Mutex::new(start),
                tick,
            }),
        }
    }

    /// A clock at 2026-01-01T00:00:00Z.
    pub fn at_epoch() -> Self {
        Self::new(
            DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .expect("valid constant")
                .with_timezone(&Utc),
        )
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.inner.now.lock().unwrap();
        *now += chrono::Duration::from_std(by).expect("duration fits");
        self.inner.tick.send_replace(*now);
    }

    /// Sets the time (may not go backwards).
    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self.inner.now.lock().unwrap();
        assert!(to >= *now, "ManualClock cannot go backwards");
        *now = to;
        self.inner.tick.send_replace(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.inner.now.lock().unwrap()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let mut rx = self.inner.tick.subscribe();
        Box::pin(async move {
            // Resolves when the clock reaches the deadline; a dropped clock ends the wait.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleepers_wake_when_time_reaches_them() {
        let clock = ManualClock::at_epoch();
        let deadline = clock.now() + chrono::Duration::seconds(10);
        let sleeper = tokio::spawn(clock.sleep_until(deadline));
        clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(5));
        tokio::time::timeout(Duration::from_secs(1), sleeper)
            .await
            .unwrap()
            .unwrap();
        // A deadline in the past resolves at once.
        tokio::time::timeout(Duration::from_secs(1), clock.sleep_until(deadline))
            .await
            .unwrap();
    }
}
