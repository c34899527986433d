//! The per-account circuit breaker.
//!
//! Its state lives in [`Account::breaker`](crate::account::Account::breaker) so every replica sees it; the store's
//! claim skips accounts whose breaker is open. Every change is a compare-and-set
//! ([`LimitStore::update_breaker`](crate::store::LimitStore::update_breaker)) retried on a fresh read, so failures
//! counted by concurrent processes are never lost. A half-open breaker's probe is claimed by compare-and-set too:
//! the claim marks the state `probing` and pushes `open_until` to the end of the probe's lease, so exactly one
//! process sends the probe while every other one's claims skip the account until the verdict (or the lease's end,
//! when the prober died). Here: the transitions (pure functions), the compare-and-set loops, and the in-process part
//! that lets one message of this process go out as the probe candidate while its others wait for the verdict.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::account::{AccountId, BreakerState};
use crate::store::{Store, StoreError, StoreResult};

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
    /// How long a claimed probe keeps the others waiting: past it, the prober is taken for dead and another
    /// probe may be claimed.
    pub(crate) probe_lease: Duration,
}

/// Where a breaker stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Sending normally.
    Closed,
    /// Paused until then.
    Open(DateTime<Utc>),
    /// The cool-down is over and one process claimed the probe; paused for the others until its verdict or
    /// then (the end of the probe's lease).
    Probing(DateTime<Utc>),
    /// The cool-down is over (or a probe's lease ended without a verdict); one probe decides.
    HalfOpen,
}

/// The phase of `state` at `now`.
pub(crate) fn phase(state: &BreakerState, now: DateTime<Utc>) -> Phase {
    match state.open_until {
        None => Phase::Closed,
        Some(until) if until > now && state.probing => Phase::Probing(until),
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
        Phase::Probing(_) | Phase::HalfOpen => trip(cfg, state, now),
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
        probing: false,
    }
}

/// The state of a half-open breaker whose probe was claimed at `now`.
fn probing(cfg: &BreakerConfig, state: BreakerState, now: DateTime<Utc>) -> BreakerState {
    BreakerState {
        open_until: Some(add(now, cfg.probe_lease)),
        probing: true,
        ..state
    }
}

/// What claiming the probe of a half-open breaker found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeClaim {
    /// This process sends the probe.
    Claimed,
    /// The breaker closed meanwhile (another probe succeeded): send normally.
    Closed,
    /// Another process probes, or the breaker opened again: give the message back.
    Refused,
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
}

impl Breakers {
    pub(crate) fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            known: Mutex::new(HashMap::new()),
            probes: Mutex::new(HashMap::new()),
        }
    }

    /// Decides what a message of an account whose stored breaker is `state` may do at `now`: while it is
    /// half-open (or another process probes), one message of this process is the probe candidate, which must still
    /// [`claim_probe`](Self::claim_probe) before it sends, and the others wait for its verdict.
    pub(crate) fn admit(
        &self,
        account: AccountId,
        state: &BreakerState,
        now: DateTime<Utc>,
    ) -> Admission {
        if !matches!(phase(state, now), Phase::HalfOpen | Phase::Probing(_)) {
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

    /// Claims the probe of `account`'s half-open breaker for this process by compare-and-set, so one probe goes
    /// out across every process sharing the store.
    pub(crate) async fn claim_probe(
        &self,
        store: &dyn Store,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> StoreResult<ProbeClaim> {
        loop {
            let current = current(store, account).await?;
            let claim = match phase(&current, now) {
                Phase::Closed => ProbeClaim::Closed,
                Phase::Open(_) | Phase::Probing(_) => ProbeClaim::Refused,
                Phase::HalfOpen => {
                    let next = probing(&self.cfg, current, now);
                    if !store.update_breaker(account, &current, &next).await? {
                        continue;
                    }
                    self.remember(account, next);
                    return Ok(ProbeClaim::Claimed);
                }
            };
            self.remember(account, current);
            return Ok(claim);
        }
    }

    /// Records the verdict of one send of `account`, updating the stored state by compare-and-set when it changes
    /// (read again and retried when another writer came first, so no failure is lost). Returns the new state.
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
        let (current, next) = loop {
            let current = current(store, account).await?;
            let next = match verdict {
                Verdict::Answered => BreakerState::default(),
                Verdict::Transient => after_transient(&self.cfg, current, now),
            };
            if next == current || store.update_breaker(account, &current, &next).await? {
                break (current, next);
            }
        };
        if next != current {
            match (phase(&current, now), phase(&next, now)) {
                (Phase::Open(_), _) => {}
                (_, Phase::Open(until)) => {
                    tracing::warn!(%account, %until, trips = next.trips, "circuit breaker opened: sending paused");
                }
                (Phase::HalfOpen | Phase::Probing(_), Phase::Closed) => {
                    tracing::info!(%account, "circuit breaker closed: probe succeeded");
                }
                _ => {}
            }
        }
        self.remember(account, next);
        Ok(next)
    }

    fn remember(&self, account: AccountId, state: BreakerState) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account, state);
    }
}

/// The stored breaker of `account`.
async fn current(store: &dyn Store, account: AccountId) -> StoreResult<BreakerState> {
    match store.account(account).await? {
        Some(a) => Ok(a.breaker),
        None => Err(StoreError::NotFound),
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
            probe_lease: Duration::from_secs(60),
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
            probing: false,
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

    #[test]
    fn a_claimed_probe_pauses_the_others_until_its_verdict_or_lease_end() {
        let c = cfg();
        let tripped = after_transient(
            &c,
            BreakerState {
                consecutive_failures: 2,
                ..BreakerState::default()
            },
            t(0),
        );
        assert_eq!(phase(&tripped, t(30)), Phase::HalfOpen);
        let claimed = probing(&c, tripped, t(30));
        assert_eq!(phase(&claimed, t(30)), Phase::Probing(t(90)));
        assert_eq!(claimed.cooling_until(t(30)), None, "new sends are queued");
        assert_eq!(phase(&claimed, t(90)), Phase::HalfOpen, "lease over");
        // The probe failed: open again, longer, and no longer probing.
        let reopened = after_transient(&c, claimed, t(31));
        assert_eq!(phase(&reopened, t(31)), Phase::Open(t(91)));
        assert!(!reopened.probing);
        assert_eq!(reopened.trips, 2);
    }

    #[cfg(feature = "testing")]
    mod shared {
        use super::*;
        use crate::account::NewAccount;
        use crate::store::TenantStore;
        use crate::testing::MemoryStore;

        async fn store_with_account(breaker: BreakerState) -> (MemoryStore, AccountId) {
            let store = MemoryStore::new();
            let a = store
                .create_account(NewAccount {
                    id: AccountId::new(),
                    name: "a".into(),
                    created_at: t(0),
                })
                .await
                .unwrap();
            store
                .update_account(a.id, crate::account::AccountUpdate::SetBreaker(breaker))
                .await
                .unwrap();
            (store, a.id)
        }

        /// Another process's write, made between a reader's read and its compare-and-set.
        type CutIn = Box<dyn FnOnce(BreakerState) -> BreakerState + Send>;

        /// A store where another process writes the breaker once, right before this process's first
        /// compare-and-set: the interleaving that loses an update under read-modify-write.
        struct Interloper {
            inner: MemoryStore,
            cut_in: Mutex<Option<CutIn>>,
        }

        impl crate::store::forward::Wraps for Interloper {
            fn inner(&self) -> &dyn Store {
                &self.inner
            }
        }
        impl crate::store::forward::ForwardTenants for Interloper {}
        impl crate::store::forward::ForwardMessages for Interloper {}
        impl crate::store::forward::ForwardInbound for Interloper {}
        impl crate::store::forward::ForwardOutbox for Interloper {}
        impl crate::store::forward::ForwardHousekeeping for Interloper {}
        impl crate::store::forward::ForwardContacts for Interloper {}
        impl crate::store::forward::ForwardCampaigns for Interloper {}

        #[async_trait::async_trait]
        impl crate::store::LimitStore for Interloper {
            async fn reserve_send_slots(
                &self,
                blocks: &[crate::store::SlotBlock],
                interval: Duration,
                now: DateTime<Utc>,
            ) -> StoreResult<Vec<DateTime<Utc>>> {
                self.inner.reserve_send_slots(blocks, interval, now).await
            }

            async fn update_breaker(
                &self,
                id: AccountId,
                expected: &BreakerState,
                new: &BreakerState,
            ) -> StoreResult<bool> {
                let cut_in = self.cut_in.lock().unwrap().take();
                if let Some(write) = cut_in {
                    let theirs = self.inner.account(id).await?.unwrap().breaker;
                    assert!(
                        self.inner
                            .update_breaker(id, &theirs, &write(theirs))
                            .await?
                    );
                }
                self.inner.update_breaker(id, expected, new).await
            }
            async fn throttles(
                &self,
                keys: &[String],
            ) -> StoreResult<Vec<Option<crate::numbers::Throttle>>> {
                self.inner.throttles(keys).await
            }
            async fn step_down_number(
                &self,
                key: &str,
                now: DateTime<Utc>,
                quiet: Duration,
                min_gap: Duration,
            ) -> StoreResult<crate::numbers::Throttle> {
                self.inner.step_down_number(key, now, quiet, min_gap).await
            }
        }

        fn interloper(store: MemoryStore, write: CutIn) -> Interloper {
            Interloper {
                inner: store,
                cut_in: Mutex::new(Some(write)),
            }
        }

        #[tokio::test]
        async fn a_failure_counted_by_another_process_meanwhile_is_not_lost() {
            let (store, id) = store_with_account(BreakerState::default()).await;
            let store = interloper(
                store,
                Box::new(|s| BreakerState {
                    consecutive_failures: s.consecutive_failures + 1,
                    ..s
                }),
            );
            let state = Breakers::new(cfg())
                .record(
                    &store,
                    id,
                    Verdict::Transient,
                    &BreakerState::default(),
                    t(1),
                )
                .await
                .unwrap();
            assert_eq!(state.consecutive_failures, 2, "theirs and ours");
            let stored = store.account(id).await.unwrap().unwrap().breaker;
            assert_eq!(stored, state);
            // The third opens it: the threshold is reached exactly.
            let state = Breakers::new(cfg())
                .record(
                    &store,
                    id,
                    Verdict::Transient,
                    &BreakerState::default(),
                    t(2),
                )
                .await
                .unwrap();
            assert_eq!(phase(&state, t(2)), Phase::Open(t(32)));
        }

        #[tokio::test]
        async fn a_probe_claimed_by_another_process_meanwhile_refuses_ours() {
            let half_open = BreakerState {
                open_until: Some(t(30)),
                trips: 1,
                ..BreakerState::default()
            };
            let (store, id) = store_with_account(half_open).await;
            let store = interloper(store, Box::new(|s| probing(&cfg(), s, t(40))));
            assert_eq!(
                Breakers::new(cfg())
                    .claim_probe(&store, id, t(40))
                    .await
                    .unwrap(),
                ProbeClaim::Refused
            );
        }

        #[tokio::test]
        async fn one_process_claims_the_probe() {
            let half_open = BreakerState {
                open_until: Some(t(30)),
                trips: 1,
                ..BreakerState::default()
            };
            let (store, id) = store_with_account(half_open).await;
            let (a, b) = (Breakers::new(cfg()), Breakers::new(cfg()));
            assert_eq!(
                a.claim_probe(&store, id, t(40)).await.unwrap(),
                ProbeClaim::Claimed
            );
            assert_eq!(
                b.claim_probe(&store, id, t(41)).await.unwrap(),
                ProbeClaim::Refused,
                "the other process waits for the verdict"
            );
            // The prober died: after the lease another process may probe.
            assert_eq!(
                b.claim_probe(&store, id, t(100)).await.unwrap(),
                ProbeClaim::Claimed
            );
            // Its probe succeeded: closed for everyone.
            let state = b
                .record(&store, id, Verdict::Answered, &half_open, t(101))
                .await
                .unwrap();
            assert_eq!(state, BreakerState::default());
            assert_eq!(
                a.claim_probe(&store, id, t(102)).await.unwrap(),
                ProbeClaim::Closed
            );
        }
    }
}
