//! The per-account circuit breaker.
//!
//! Its state lives in [`Account::breaker`](crate::account::Account::breaker) so every replica sees it; the store's
//! claim skips accounts whose breaker is open. Here: the transitions (pure functions) and the in-process part —
//! serialising this process's read-modify-write of the state, and letting exactly one message of a half-open
//! account go out as the probe while the others wait for its verdict.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::account::{AccountId, AccountUpdate, BreakerState};
use crate::store::{Store, StoreResult};

use super::add;

/// Thresholds of the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BreakerConfig {
    /// Consecutive transient failures that open it.
    pub(crate) threshold: u32,
    /// Cool-down of the first trip.
    pub(crate) cooldown: Duration,
    /// Longest cool-down.
    pub(crate) max_cooldown: Duration,
}

/// Where a breaker stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Sending normally.
    Closed,
    /// Paused until then.
    Open(DateTime<Utc>),
    /// The cool-down is over; one probe decides.
    HalfOpen,
}

/// The phase of `state` at `now`.
pub(crate) fn phase(state: &BreakerState, now: DateTime<Utc>) -> Phase {
    match state.open_until {
        None => Phase::Closed,
        Some(until) if until > now => Phase::Open(until),
        Some(_) => Phase::HalfOpen,
    }
}

/// Cool-down of a trip after `trips` earlier trips without a success: `cooldown * 2^trips`, capped.
pub(crate) fn cooldown(cfg: &BreakerConfig, trips: u32) -> Duration {
    let factor = 2u32.saturating_pow(trips.min(31));
    cfg.cooldown.saturating_mul(factor).min(cfg.max_cooldown)
}

/// The state after a transient failure at `now`.
pub(crate) fn after_transient(
    cfg: &BreakerConfig,
    state: BreakerState,
    now: DateTime<Utc>,
) -> BreakerState {
    match phase(&state, now) {
        // Failures of sends that started before the trip do not extend it.
        Phase::Open(_) => state,
        // The probe failed: open again, longer.
        Phase::HalfOpen => trip(cfg, state, now),
        Phase::Closed => {
            let failures = state.consecutive_failures.saturating_add(1);
            if failures >= cfg.threshold.max(1) {
                trip(cfg, state, now)
            } else {
                BreakerState {
                    consecutive_failures: failures,
                    ..state
                }
            }
        }
    }
}

fn trip(cfg: &BreakerConfig, state: BreakerState, now: DateTime<Utc>) -> BreakerState {
    BreakerState {
        consecutive_failures: 0,
        open_until: Some(add(now, cooldown(cfg, state.trips))),
        trips: state.trips.saturating_add(1),
    }
}

/// How a send attempt went, as far as the breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Meta answered (accepted, or refused this message for a reason of its own): the API is healthy.
    Answered,
    /// Meta was unavailable, overloaded or rate limiting.
    Transient,
}

/// What a claimed message of an account may do.
pub(crate) enum Admission {
    /// Send.
    Go,
    /// Send as the probe of a half-open breaker; report the verdict through the guard.
    Probe(ProbeGuard),
    /// Another message is probing: wait for its verdict.
    Wait(watch::Receiver<ProbeState>),
}

/// The verdict of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeState {
    /// Still running.
    Running,
    /// It succeeded: the breaker is closed, send.
    Closed,
    /// It failed or never ran: give the message back.
    Failed,
}

impl ProbeState {
    /// Waits for the probe's verdict: true when the waiter may send.
    pub(crate) async fn wait(mut rx: watch::Receiver<ProbeState>) -> bool {
        match rx.wait_for(|s| *s != ProbeState::Running).await {
            Ok(s) => *s == ProbeState::Closed,
            Err(_) => false,
        }
    }
}

/// Held by the probe; reports `Failed` to the waiters unless told otherwise (a probe that was released or cut off
/// decided nothing).
pub(crate) struct ProbeGuard {
    tx: watch::Sender<ProbeState>,
}

impl ProbeGuard {
    /// Reports the verdict to the waiters.
    pub(crate) fn finish(self, closed: bool) {
        let state = if closed {
            ProbeState::Closed
        } else {
            ProbeState::Failed
        };
        self.tx.send_replace(state);
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if *self.tx.borrow() == ProbeState::Running {
            self.tx.send_replace(ProbeState::Failed);
        }
    }
}

/// The in-process side of the breakers of every account.
pub(crate) struct Breakers {
    cfg: BreakerConfig,
    /// The latest state this process read or wrote, per account.
    known: Mutex<HashMap<AccountId, BreakerState>>,
    /// Probes in flight.
    probes: Mutex<HashMap<AccountId, watch::Sender<ProbeState>>>,
    /// Serialises read-modify-write of breaker states in this process.
    write: tokio::sync::Mutex<()>,
}

impl Breakers {
    pub(crate) fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            known: Mutex::new(HashMap::new()),
            probes: Mutex::new(HashMap::new()),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// Decides what a message of an account whose stored breaker is `state` may do at `now`.
    pub(crate) fn admit(
        &self,
        account: AccountId,
        state: &BreakerState,
        now: DateTime<Utc>,
    ) -> Admission {
        if phase(state, now) != Phase::HalfOpen {
            return Admission::Go;
        }
        let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = probes.get(&account) {
            if *tx.borrow() == ProbeState::Running {
                return Admission::Wait(tx.subscribe());
            }
        }
        let (tx, _) = watch::channel(ProbeState::Running);
        probes.insert(account, tx.clone());
        Admission::Probe(ProbeGuard { tx })
    }

    /// How many accounts' breakers are open at `now`, as far as this process knows.
    pub(crate) fn open_count(&self, now: DateTime<Utc>) -> usize {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .values()
            .filter(|s| matches!(phase(s, now), Phase::Open(_)))
            .count()
    }

    /// When the breaker of `account` is open at `now` as far as this process knows, its end.
    pub(crate) fn open_until(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match known.get(&account).map(|s| phase(s, now)) {
            Some(Phase::Open(until)) => Some(until),
            _ => None,
        }
    }

    /// Records the verdict of one send of `account`, updating the stored state when it changes. Returns the new
    /// state.
    pub(crate) async fn record(
        &self,
        store: &dyn Store,
        account: AccountId,
        verdict: Verdict,
        loaded: &BreakerState,
        now: DateTime<Utc>,
    ) -> StoreResult<BreakerState> {
        let known = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account)
            .copied();
        // The common case needs no store round trip: a healthy answer for an account whose breaker is at rest.
        if verdict == Verdict::Answered
            && *loaded == BreakerState::default()
            && known.is_none_or(|k| k == BreakerState::default())
        {
            return Ok(BreakerState::default());
        }
        let _serial = self.write.lock().await;
        let current = match store.account(account).await? {
            Some(a) => a.breaker,
            None => return Err(crate::store::StoreError::NotFound),
        };
        let next = match verdict {
            Verdict::Answered => BreakerState::default(),
            Verdict::Transient => after_transient(&self.cfg, current, now),
        };
        if next != current {
            store
                .update_account(account, AccountUpdate::SetBreaker(next))
                .await?;
            match (phase(&current, now), phase(&next, now)) {
                (Phase::Open(_), _) => {}
                (_, Phase::Open(until)) => {
                    tracing::warn!(%account, %until, trips = next.trips, "circuit breaker opened: sending paused");
                }
                (Phase::HalfOpen, Phase::Closed) => {
                    tracing::info!(%account, "circuit breaker closed: probe succeeded");
                }
                _ => {}
            }
        }
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account, next);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            threshold: 3,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(300),
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::seconds(secs)
    }

    #[test]
    fn cooldown_doubles_up_to_the_cap() {
        let secs: Vec<u64> = (0..7).map(|n| cooldown(&cfg(), n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(cooldown(&cfg(), u32::MAX).as_secs(), 300);
    }

    #[test]
    fn opens_after_threshold_probes_and_reopens_longer() {
        let c = cfg();
        let mut s = BreakerState::default();
        for i in 1..3 {
            s = after_transient(&c, s, t(0));
            assert_eq!(s.consecutive_failures, i);
            assert_eq!(phase(&s, t(0)), Phase::Closed);
        }
        s = after_transient(&c, s, t(0));
        assert_eq!(phase(&s, t(0)), Phase::Open(t(30)));
        assert_eq!(s.trips, 1);
        // Failures of sends already in flight do not extend it.
        assert_eq!(after_transient(&c, s, t(10)), s);
        assert_eq!(phase(&s, t(30)), Phase::HalfOpen);
        // The probe fails: open for twice as long.
        let s2 = after_transient(&c, s, t(31));
        assert_eq!(phase(&s2, t(31)), Phase::Open(t(91)));
        assert_eq!(s2.trips, 2);
    }

    #[test]
    fn one_probe_at_a_time() {
        let b = Breakers::new(cfg());
        let a = AccountId::new();
        let half_open = BreakerState {
            consecutive_failures: 0,
            open_until: Some(t(30)),
            trips: 1,
        };
        assert!(matches!(
            b.admit(a, &BreakerState::default(), t(40)),
            Admission::Go
        ));
        let Admission::Probe(guard) = b.admit(a, &half_open, t(40)) else {
            panic!("first message is the probe")
        };
        let Admission::Wait(rx) = b.admit(a, &half_open, t(40)) else {
            panic!("second message waits")
        };
        guard.finish(true);
        assert_eq!(*rx.borrow(), ProbeState::Closed);
        // A dropped probe (released, cut off) lets the waiters go back to the queue.
        let Admission::Probe(guard) = b.admit(a, &half_open, t(40)) else {
            panic!("after a verdict a new probe may start")
        };
        let Admission::Wait(rx) = b.admit(a, &half_open, t(40)) else {
            panic!()
        };
        drop(guard);
        assert_eq!(*rx.borrow(), ProbeState::Failed);
    }
}
