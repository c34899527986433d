//! Time, behind a trait so tests can drive it by hand.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

/// A boxed future that sleeps.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of "now" for every rule that depends on time (scheduling, retries, leases, idempotency expiry).
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once `now()` has reached `deadline`. It may resolve early (callers re-check the time), never late
    /// by more than the clock's own resolution.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}
