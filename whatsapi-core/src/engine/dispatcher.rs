//! The dispatcher: claims due messages in batches (a lease and an attempt number each), sends them with bounded
//! concurrency, paced per business phone number and gated by the account's circuit breaker, and records the
//! outcomes in batches (see `outcomes`), each fenced by its attempt.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::account::{Account, AccountId, AccountUpdate, CredentialsStatus, MetaCredentials};
use crate::message::Message;
use crate::numbers::BusinessNumber;
use crate::retry::{ErrorClass, RetryPolicy};
use crate::status::MetaStatus;
use crate::store::{ClaimLimits, Claimed, FailureInfo, Outcome, StatusUpdate, StoreError};
use crate::transport::{OutgoingMessage, SendError, SendReceipt};

use super::breaker::{Admission, ProbeClaim, ProbeGuard, ProbeState, Verdict};
use super::outcomes::Recorder;
use super::pacing::Gap;
use super::{Core, StopRx, add, stop_deadline, stopped};

/// Meta's "throughput exceeded" error: the number sent above its throughput.
const THROUGHPUT_EXCEEDED: i64 = 130429;

/// `errorMessage` of a real send whose account has no Meta credentials (they were removed after queueing).
pub(crate) const NO_CREDENTIALS: &str = "no Meta credentials are saved for this account; save the account's Meta credentials, then retry the message";

/// How one claimed message ended in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskEnd {
    /// An outcome was recorded (or the attempt turned out to be stale).
    Finished,
    /// Given back unstarted.
    Released,
}

/// Counts of the dispatcher's work during shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) finished: u64,
    pub(crate) released: u64,
    pub(crate) abandoned: u64,
}

/// Runs the dispatcher until stopped, then lets running sends finish (see [`drain`]) and records the outcomes
/// its batcher still holds before answering the shutdown report.
pub(crate) async fn run(core: Arc<Core>, stop: StopRx) -> Report {
    let (recorder, batcher) = Recorder::start(core.clone());
    let report = dispatch(&core, stop.clone(), &recorder).await;
    drop(recorder);
    // Every send task has ended, so the batcher holds only outcomes already handed over; it ends once they are
    // recorded. Past the stop deadline it is cut off like the sends (their leases take over).
    let deadline = stop_deadline(&stop, core.clock.now());
    let mut batcher = batcher;
    tokio::select! {
        biased;
        ended = &mut batcher => {
            if let Err(e) = ended {
                tracing::error!(error = %e, "the outcome batcher panicked");
            }
        }
        _ = core.clock.sleep_until(deadline) => {
            tracing::warn!("shutdown deadline passed while outcomes were being recorded; those messages are sent again when their lease ends");
            batcher.abort();
        }
    }
    report
}

async fn dispatch(core: &Arc<Core>, mut stop: StopRx, recorder: &Recorder) -> Report {
    let mut wake = core.dispatch_wake.subscribe();
    let mut remote = core.store.subscribe_wakeups();
    let permits = Arc::new(Semaphore::new(core.config.concurrency.max(1)));
    let mut tasks: JoinSet<TaskEnd> = JoinSet::new();
    // Tasks that end once a stop was requested belong to the shutdown report, whichever loop reaps them.
    let mut report = Report::default();
    let mut numbers = Numbers::default();
    loop {
        wake.borrow_and_update();
        if stop.borrow().is_some() {
            break;
        }
        while let Some(end) = tasks.try_join_next() {
            report.count(end, &stop);
        }

        let room = permits
            .available_permits()
            .min(core.config.dispatch_batch.max(1));
        // While sends are in flight, claim only once a few permits are free: a claim costs the store about as much
        // as recording an outcome, and claiming one message each time one send ends doubled the store's work.
        let enough = claim_threshold(&core.config);
        let low = room < enough && !tasks.is_empty();
        let mut more = false;
        if room > 0 && !low {
            let now = core.clock.now();
            numbers.refresh(&*core.store, now).await;
            let limits = numbers.limits(&core.pacer, room, now);
            match core
                .store
                .claim_due_with(now, core.config.lease, &limits)
                .await
            {
                Ok(claimed) => {
                    more = claimed.len() == room;
                    if !claimed.is_empty() {
                        tracing::debug!(count = claimed.len(), "claimed due messages");
                        spawn_batch(
                            core,
                            claimed,
                            &permits,
                            &mut tasks,
                            &stop,
                            &mut numbers,
                            recorder,
                        )
                        .await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming due messages failed"),
            }
        }
        if more && permits.available_permits() >= enough {
            continue;
        }

        // Short of room, nothing can be claimed until sends end and free enough permits, which wakes the loop: new
        // API sends need not wake it (under a burst each wake-up was a store read for nothing).
        let low = permits.available_permits() < enough && !tasks.is_empty();
        let until = if low {
            add(core.clock.now(), core.config.idle_poll)
        } else {
            next_wake_at(core).await
        };
        // A number left out for want of pacing room is claimed for again once it has room.
        let until = numbers
            .room_again(&core.pacer, core.clock.now())
            .map_or(until, |r| r.min(until));
        // A send that ends frees a permit, which matters only to a claim that was short of them (the `low`
        // branch); otherwise nothing became claimable, and claiming again would cost the store a read for each
        // paced send of a number that sits out claims.
        loop {
            tokio::select! {
                _ = wake.changed(), if !low => {}
                _ = permits.acquire_many(u32::try_from(enough).unwrap_or(u32::MAX)), if low => {}
                woken = remote_wake(&mut remote) => {
                    if !woken {
                        tracing::warn!("the store's wake-up channel closed; relying on polling");
                        remote = None;
                    }
                }
                _ = core.clock.sleep_until(until) => {}
                _ = stopped(&mut stop) => {}
                Some(end) = tasks.join_next(), if !tasks.is_empty() => {
                    report.count(end, &stop);
                    continue;
                }
            }
            break;
        }
    }
    drain(core, tasks, &stop, report).await
}

impl Report {
    fn count(&mut self, end: Result<TaskEnd, tokio::task::JoinError>, stop: &StopRx) {
        match end {
            Ok(_) if stop.borrow().is_none() => {}
            Ok(TaskEnd::Finished) => self.finished += 1,
            Ok(TaskEnd::Released) => self.released += 1,
            Err(e) => tracing::error!(error = %e, "a send task panicked"),
        }
    }
}

/// Waits for a wake-up from another process sharing the store: `true` when woken (a lagged receiver missed
/// some, which is a wake-up too), `false` when the channel closed. Never resolves without a channel.
async fn remote_wake(remote: &mut Option<tokio::sync::broadcast::Receiver<()>>) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    let Some(rx) = remote.as_mut() else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(()) | Err(RecvError::Lagged(_)) => true,
        Err(RecvError::Closed) => false,
    }
}

/// Free permits worth a claim while sends are in flight: a quarter of the smaller of a claim and the concurrency.
fn claim_threshold(config: &super::EngineConfig) -> usize {
    (config.dispatch_batch.min(config.concurrency) / 4).max(1)
}

/// How far ahead of its pacing slot a message is claimed: a claim takes of one business number at most what it
/// may send in this time, and an account with one number whose reserved slots reach further than half of it
/// sits out claims until they do not. So a backlog is claimed a little at a time, never far ahead of its slots.
/// An account with several numbers is not left out (its other numbers may have room); a message of a number
/// whose slots reach further than this is deferred to its expected slot ([`Outcome::Defer`]), so one number's
/// backlog never holds up the account's other numbers.
pub(crate) const CLAIM_AHEAD: chrono::Duration = chrono::Duration::milliseconds(250);

/// How long the dispatcher trusts what it read of whether an account has business numbers beyond its default.
const NUMBERS_FRESH: chrono::Duration = chrono::Duration::seconds(10);

/// The business numbers of each account claimed for lately, to tell which accounts have no pacing room.
#[derive(Debug, Default)]
struct Numbers {
    /// The numbers each account was claimed for lately.
    busy: HashMap<AccountId, Vec<String>>,
    /// Whether the account has numbers beyond its default one, and when that was read.
    several: HashMap<AccountId, (bool, DateTime<Utc>)>,
    /// The latest time a message of each number was deferred to.
    deferred: HashMap<String, DateTime<Utc>>,
}

/// Numbers remembered per account; an account sending from more in one claim is paced all the same.
const NUMBERS_PER_ACCOUNT: usize = 64;

impl Numbers {
    fn learn(&mut self, account: AccountId, number: &str) {
        let known = self.busy.entry(account).or_default();
        if known.len() < NUMBERS_PER_ACCOUNT && !known.iter().any(|n| n == number) {
            known.push(number.to_owned());
        }
    }

    /// Reads, for the accounts claimed for lately whose answer is older than [`NUMBERS_FRESH`], whether they have
    /// numbers beyond the default one (one store read per such account).
    async fn refresh(&mut self, store: &dyn crate::store::Store, now: DateTime<Utc>) {
        self.several
            .retain(|a, (_, read)| self.busy.contains_key(a) && *read + NUMBERS_FRESH > now);
        let unknown: Vec<AccountId> = self
            .busy
            .keys()
            .filter(|a| !self.several.contains_key(a))
            .copied()
            .collect();
        for account in unknown {
            // A failed read counts as one number: the account sits out as it always did.
            let several = store
                .numbers(account)
                .await
                .is_ok_and(|numbers| !numbers.is_empty());
            self.several.insert(account, (several, now));
        }
        self.deferred.retain(|_, until| *until > now);
    }

    /// When a message of `number` that its pacing slots cannot take now is due again: after the slots reserved
    /// and the messages deferred before it, one gap each, claimed half a [`CLAIM_AHEAD`] early.
    fn defer(
        &mut self,
        pacer: &super::Pacer,
        number: &str,
        gap: Gap,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let gap = gap.unwrap_or(CLAIM_AHEAD);
        let after = pacer.busy_until(number, now).unwrap_or(now);
        let last = self.deferred.entry(number.to_owned()).or_insert(after);
        *last = (*last).max(after) + gap;
        (*last - CLAIM_AHEAD / 2).max(now)
    }

    /// The limits of a claim of `room` at `now`: of one account at most what its fastest number may send in
    /// [`CLAIM_AHEAD`]; accounts with one number, all of whose numbers claimed for have slots reserved further
    /// ahead than half of it, sit it out.
    fn limits(&mut self, pacer: &super::Pacer, room: usize, now: DateTime<Utc>) -> ClaimLimits {
        let Some(per_account) = pacer.slots_in(CLAIM_AHEAD, pacer.fastest_gap()) else {
            self.busy.clear();
            return ClaimLimits::total(room);
        };
        let half = CLAIM_AHEAD / 2;
        let mut skip = Vec::new();
        // Numbers idle again are forgotten (and accounts left with none); they are learnt again when claimed.
        let several = &self.several;
        self.busy.retain(|account, numbers| {
            numbers.retain(|n| pacer.busy_until(n, now).is_some());
            if numbers.is_empty() {
                return false;
            }
            let one_number = several.get(account).is_none_or(|(s, _)| !*s);
            if one_number
                && numbers
                    .iter()
                    .all(|n| pacer.busy_until(n, now).is_some_and(|b| b > now + half))
            {
                skip.push(*account);
            }
            true
        });
        ClaimLimits {
            limit: room,
            per_account,
            skip,
        }
    }

    /// When the first account that a claim at `now` would leave out has pacing room again.
    fn room_again(&self, pacer: &super::Pacer, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let half = CLAIM_AHEAD / 2;
        self.busy
            .iter()
            .filter(|(account, _)| self.several.get(account).is_none_or(|(s, _)| !*s))
            .map(|(_, numbers)| numbers)
            .filter_map(|numbers| {
                let busy: Option<Vec<DateTime<Utc>>> = numbers
                    .iter()
                    .map(|n| pacer.busy_until(n, now).filter(|b| *b > now + half))
                    .collect();
                busy?.into_iter().min()
            })
            .map(|busy| busy - half)
            .min()
    }
}

/// Who sends a claimed message: the credentials of its number, the number that paces it, and its own rate.
#[derive(Debug, Clone)]
struct Sender {
    creds: MetaCredentials,
    /// The phone number id: the pacing key.
    key: String,
    /// The number's rate; `None`: the engine's default.
    rate: Option<u32>,
}

/// The `errorMessage` of a send from a number the account disconnected after queueing it.
fn number_gone(pnid: &str) -> String {
    format!(
        "the business number {pnid} is no longer connected to this account; connect it again (POST /numbers) and \
         retry the message, or send it from another number"
    )
}

/// The sender of `message` of `account` (its `from` number, else the default one), or the failure its send
/// ends with. `numbers` is the account's extra numbers, loaded only when the message names one.
fn sender_of(
    message: &Message,
    account: &Account,
    numbers: Option<&[BusinessNumber]>,
) -> Result<Sender, String> {
    let default = account.credentials.as_ref();
    match message.from.as_deref() {
        Some(pnid) if default.is_none_or(|c| c.phone_number_id != pnid) => {
            let number = numbers
                .unwrap_or_default()
                .iter()
                .find(|n| n.phone_number_id == pnid)
                .ok_or_else(|| number_gone(pnid))?;
            let creds = number
                .credentials(default)
                .ok_or_else(|| NO_CREDENTIALS.to_owned())?;
            Ok(Sender {
                creds,
                key: pnid.to_owned(),
                rate: number.throughput_per_second,
            })
        }
        _ => {
            let creds = default.cloned().ok_or_else(|| NO_CREDENTIALS.to_owned())?;
            Ok(Sender {
                key: creds.phone_number_id.clone(),
                rate: creds.throughput_per_second,
                creds,
            })
        }
    }
}

/// When to look for due messages again: when the next one becomes due, at most `idle_poll` from now.
async fn next_wake_at(core: &Core) -> DateTime<Utc> {
    let now = core.clock.now();
    let poll = add(now, core.config.idle_poll);
    match core.store.next_due_at().await {
        // Something due now was not claimable (breaker open, account inactive): polling notices when it is.
        Ok(Some(t)) if t > now => t.min(poll),
        Ok(_) => poll,
        Err(e) => {
            tracing::warn!(error = %e, "reading the next due time failed");
            poll
        }
    }
}

/// Lets running sends finish until the stop deadline; cuts off the rest.
async fn drain(
    core: &Core,
    mut tasks: JoinSet<TaskEnd>,
    stop: &StopRx,
    mut report: Report,
) -> Report {
    let deadline = stop_deadline(stop, core.clock.now());
    loop {
        tokio::select! {
            biased;
            next = tasks.join_next() => match next {
                Some(end) => report.count(end, stop),
                None => break,
            },
            _ = core.clock.sleep_until(deadline) => {
                report.abandoned = tasks.len() as u64;
                if report.abandoned > 0 {
                    tracing::warn!(count = report.abandoned, "shutdown deadline passed: sends cut off, they are claimed again when their lease ends");
                }
                tasks.abort_all();
                break;
            }
        }
    }
    report
}

async fn spawn_batch(
    core: &Arc<Core>,
    claimed: Vec<Claimed>,
    permits: &Arc<Semaphore>,
    tasks: &mut JoinSet<TaskEnd>,
    stop: &StopRx,
    numbers: &mut Numbers,
    recorder: &Recorder,
) {
    let now = core.clock.now();
    let mut accounts: HashMap<AccountId, Result<Option<Arc<Account>>, StoreError>> = HashMap::new();
    let mut extra: HashMap<AccountId, Result<Vec<BusinessNumber>, StoreError>> = HashMap::new();
    let mut admitted = Vec::with_capacity(claimed.len());
    for claim in claimed {
        let message = claim.message;
        // Expired while it waited: failed without a pacing slot or a place among the sends (its own task, so the
        // failures of a claim are recorded in one batch).
        if message.expired_at(now) {
            let recorder = recorder.clone();
            tasks.spawn(async move {
                let error = expired_error(&message);
                recorder.record(&message, Outcome::Failed { error }).await;
                TaskEnd::Finished
            });
            continue;
        }
        let account_id = message.account_id;
        let loaded = match accounts.get(&account_id) {
            Some(loaded) => loaded.clone(),
            None => {
                let loaded = core
                    .store
                    .account(account_id)
                    .await
                    .map(|a| a.map(Arc::new));
                accounts.insert(account_id, loaded.clone());
                loaded
            }
        };
        let account = match loaded {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, %account_id, "loading the account failed; releasing its message");
                recorder.record(&message, Outcome::Release).await;
                continue;
            }
        };
        // The number it goes out on: its `from` (the account's extra numbers are loaded once per batch, and only
        // for an account whose message names one), else the default.
        let wants_numbers = account.as_ref().is_some_and(|a| {
            message.from.as_deref().is_some_and(|f| {
                a.credentials
                    .as_ref()
                    .is_none_or(|c| c.phone_number_id != f)
            })
        });
        if wants_numbers && !extra.contains_key(&account_id) {
            let loaded = core.store.numbers(account_id).await;
            extra.insert(account_id, loaded);
        }
        let sender = match (&account, extra.get(&account_id)) {
            (Some(_), Some(Err(e))) if wants_numbers => {
                tracing::warn!(error = %e, %account_id, "loading the account's numbers failed; releasing its message");
                recorder.record(&message, Outcome::Release).await;
                continue;
            }
            (Some(a), found) => sender_of(
                &message,
                a,
                found.and_then(|f| f.as_ref().ok()).map(Vec::as_slice),
            ),
            (None, _) => Err("the account no longer exists".to_owned()),
        };
        let admission = match &account {
            Some(a) if !message.dry_run => core.breakers.admit(a.id, &a.breaker, now),
            _ => Admission::Go,
        };
        // Slots are handed out in claim order (oldest due first); a message waiting for a probe takes its slot
        // only once it may go.
        let number = match (&sender, &admission) {
            (Ok(s), Admission::Go | Admission::Probe(_)) if !message.dry_run => Some(s.key.clone()),
            _ => None,
        };
        if let Some(n) = &number {
            numbers.learn(account_id, n);
        }
        admitted.push((message, account, admission, number, sender));
    }
    // Every replica's step-downs of these numbers, at most a second old: one store call for the batch.
    let mut keys: Vec<String> = admitted
        .iter()
        .filter_map(|(_, _, _, n, _)| n.clone())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    core.pacer.refresh_throttles(&*core.store, &keys, now).await;
    // One block of slots per number for the whole batch, each at the number's own rate: one store round trip per
    // distinct rate when pacing is shared. A number whose slots already reach further ahead than a claim looks
    // (another number of its account kept the account in the claims) gives its messages back for later.
    let mut wants: Vec<(String, usize, Gap)> = Vec::new();
    let mut far: Vec<String> = Vec::new();
    for (_, _, _, number, sender) in &admitted {
        let (Some(number), Ok(sender)) = (number, sender) else {
            continue;
        };
        if far.contains(number) {
            continue;
        }
        match wants.iter_mut().find(|(n, _, _)| n == number) {
            Some((_, count, _)) => *count += 1,
            None if core
                .pacer
                .busy_until(number, now)
                .is_some_and(|b| b > now + CLAIM_AHEAD) =>
            {
                far.push(number.clone());
            }
            None => {
                let gap = core.pacer.gap_for(number, sender.rate, now);
                wants.push((number.clone(), 1, gap));
            }
        }
    }
    let mut next_slot: HashMap<String, (DateTime<Utc>, Gap)> = HashMap::new();
    let mut unpaced = false;
    if !wants.is_empty() {
        match core.pacer.reserve_blocks(&*core.store, &wants, now).await {
            Ok(firsts) => {
                next_slot.extend(
                    wants
                        .into_iter()
                        .zip(firsts)
                        .map(|((n, _, gap), first)| (n, (first, gap))),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "reserving send slots failed; releasing the claimed messages");
                unpaced = true;
            }
        }
    }
    for (message, account, admission, number, sender) in admitted {
        let account_id = message.account_id;
        if unpaced && number.is_some() {
            recorder.record(&message, Outcome::Release).await;
            continue;
        }
        if let (Some(n), Ok(s)) = (number.as_ref().filter(|n| far.contains(n)), &sender) {
            let gap = core.pacer.gap_for(n, s.rate, now);
            let until = numbers.defer(&core.pacer, n, gap, now);
            recorder.record(&message, Outcome::Defer { until }).await;
            continue;
        }
        let mut gap = None;
        let slot = number.and_then(|n| {
            let (next, g) = next_slot.get_mut(&n)?;
            let slot = *next;
            gap = *g;
            if let Some(g) = g {
                *next = slot + *g;
            }
            Some(slot)
        });
        // A message that may go now takes its place among the sends in flight at once, so the next claim sees
        // the room it left. One waiting for its pacing slot or for a probe takes a place only when it may go:
        // waiting holds no place another number's message could use.
        let ready = !matches!(admission, Admission::Wait(_)) && slot.is_none_or(|s| s <= now);
        let permit = if ready {
            match permits.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                // Never more claimed than there is room for; waiting is the safe fallback.
                Err(_) => match permits.clone().acquire_owned().await {
                    Ok(p) => Some(p),
                    Err(_) => return,
                },
            }
        } else {
            None
        };
        let span = tracing::info_span!(
            "send",
            message_id = %message.id,
            %account_id,
            attempt = message.attempt,
            tries = message.tries,
            dry_run = message.dry_run,
        );
        let job = SendJob {
            core: core.clone(),
            message,
            account,
            sender,
            slot,
            gap,
            stop: stop.clone(),
            permits: permits.clone(),
            permit,
            recorder: recorder.clone(),
        };
        tasks.spawn(job.run(admission).instrument(span));
    }
}

/// One claimed message on its way out.
struct SendJob {
    core: Arc<Core>,
    message: Message,
    account: Option<Arc<Account>>,
    /// The number it goes out on, or why it cannot be sent.
    sender: Result<Sender, String>,
    /// Pacing slot reserved at claim time, if any.
    slot: Option<DateTime<Utc>>,
    /// The gap between two slots of its number (its rate, as stepped down), `None` when unpaced.
    gap: Gap,
    stop: StopRx,
    /// The places among the sends in flight.
    permits: Arc<Semaphore>,
    /// This message's place among the sends in flight, taken when it may go; given back as soon as Meta
    /// answered, before the outcome is recorded, so the next sends overlap the store's commit of this one.
    permit: Option<OwnedSemaphorePermit>,
    /// Where the outcome goes (recorded in batches with other sends' outcomes).
    recorder: Recorder,
}

impl SendJob {
    async fn run(mut self, admission: Admission) -> TaskEnd {
        let Some(account) = self.account.clone() else {
            let error = FailureInfo {
                meta: None,
                message: "the account no longer exists".into(),
                code: None,
            };
            return self.finish(Outcome::Failed { error }).await;
        };
        if self.message.dry_run {
            return self.dry_run().await;
        }
        let sender = match self.sender.clone() {
            Ok(s) => s,
            Err(message) => {
                let error = FailureInfo {
                    meta: None,
                    message,
                    code: None,
                };
                return self.finish(Outcome::Failed { error }).await;
            }
        };
        let creds = &sender.creds;

        let probe: Option<ProbeGuard> = match admission {
            Admission::Go => None,
            // The probe is claimed in the store, so one goes out across every replica.
            Admission::Probe(guard) => match self
                .core
                .breakers
                .claim_probe(&*self.core.store, account.id, self.core.clock.now())
                .await
            {
                Ok(ProbeClaim::Claimed) => {
                    tracing::info!("sending as the probe of a half-open circuit breaker");
                    Some(guard)
                }
                Ok(ProbeClaim::Closed) => {
                    guard.finish(true);
                    None
                }
                Ok(ProbeClaim::Refused) => return self.release().await,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming the circuit breaker's probe failed");
                    return self.release().await;
                }
            },
            Admission::Wait(rx) => {
                let go = tokio::select! {
                    go = ProbeState::wait(rx) => go,
                    _ = stopped(&mut self.stop) => false,
                };
                if !go {
                    return self.release().await;
                }
                None
            }
        };

        let mut slot = match self.slot {
            Some(slot) => slot,
            None => match self.reserve_slot(&sender).await {
                Some(slot) => slot,
                None => return self.release().await,
            },
        };
        loop {
            if slot > self.core.clock.now() {
                tokio::select! {
                    _ = self.core.clock.sleep_until(slot) => {}
                    _ = stopped(&mut self.stop) => {}
                }
            }
            let now = self.core.clock.now();
            if self.stop.borrow().is_some()
                || self.core.breakers.open_until(account.id, now).is_some()
            {
                return self.release().await;
            }
            if self.permit.is_some() {
                break;
            }
            if let Ok(p) = self.permits.clone().try_acquire_owned() {
                self.permit = Some(p);
                break;
            }
            let permit = tokio::select! {
                p = self.permits.clone().acquire_owned() => p.ok(),
                _ = stopped(&mut self.stop) => None,
            };
            let Some(permit) = permit else {
                return self.release().await;
            };
            // Waiting for a place let the slot pass: sent now, this message and the ones after it on the same
            // number would bunch up above the rate. It takes the number's next slot instead.
            let now = self.core.clock.now();
            if self.gap.is_some_and(|gap| now > slot + gap) {
                slot = match self.reserve_slot(&sender).await {
                    Some(slot) => slot,
                    None => return self.release().await,
                };
                if slot > now {
                    drop(permit);
                    continue;
                }
            }
            self.permit = Some(permit);
            break;
        }

        // The last moment to notice the validity period ended while the message waited for its slot or a place.
        if self.message.expired_at(self.core.clock.now()) {
            tracing::info!("expired before it could be sent");
            let error = expired_error(&self.message);
            return self.finish(Outcome::Failed { error }).await;
        }

        let outgoing = OutgoingMessage {
            message_id: self.message.id,
            to: self.message.to.clone(),
            content: self.message.content.clone(),
            reply_to: self.message.reply_to.clone(),
        };
        let started = std::time::Instant::now();
        let result = self.core.transport.send(creds, &outgoing).await;
        drop(self.permit.take());
        self.core.stats.record_send(
            match &result {
                Ok(_) => super::stats::SendResult::Accepted,
                Err(e) if e.class() == crate::retry::ErrorClass::Transient => {
                    super::stats::SendResult::Transient
                }
                Err(_) => super::stats::SendResult::Failed,
            },
            started.elapsed(),
        );
        let now = self.core.clock.now();
        let (outcome, verdict) =
            outcome_of(&result, self.message.tries, &self.core.config.retry, now);
        let outcome = expire_retry(outcome, self.message.expires_at);
        match &outcome {
            Outcome::Sent { wamid } => tracing::info!(%wamid, "sent"),
            Outcome::Retry {
                next_attempt_at,
                error,
            } => {
                tracing::info!(%next_attempt_at, error = %error.message, "send failed; will retry")
            }
            Outcome::Failed { error } => tracing::info!(error = %error.message, "send failed"),
            Outcome::Release | Outcome::Defer { .. } => {}
        }

        if let Err(e) = result.as_ref() {
            if e.code == Some(THROUGHPUT_EXCEEDED) {
                // Meta says the number's throughput was exceeded: pace it slower, on every replica.
                match self
                    .core
                    .pacer
                    .step_down(&*self.core.store, &sender.key, now)
                    .await
                {
                    Ok(t) => tracing::warn!(
                        number = %sender.key,
                        halvings = t.steps,
                        "Meta reported 130429 (throughput exceeded); pacing the number slower"
                    ),
                    Err(se) => {
                        tracing::warn!(error = %se, "recording the number's step-down failed")
                    }
                }
            }
            if e.class() == ErrorClass::Credentials {
                let status = CredentialsStatus::Invalid {
                    reason: e.user_message(),
                    at: now,
                };
                tracing::warn!(account_id = %account.id, "Meta refused the account's credentials; marked invalid");
                if let Err(se) = self
                    .core
                    .store
                    .update_account(account.id, AccountUpdate::SetCredentialsStatus(status))
                    .await
                {
                    tracing::warn!(error = %se, "recording invalid credentials failed");
                }
            }
        }

        let end = self.finish(outcome).await;
        match self
            .core
            .breakers
            .record(
                &*self.core.store,
                account.id,
                verdict,
                &account.breaker,
                now,
            )
            .await
        {
            Ok(state) => {
                if let Some(probe) = probe {
                    probe.finish(state.open_until.is_none());
                }
            }
            Err(e) => tracing::warn!(error = %e, "updating the circuit breaker failed"),
        }
        end
    }

    /// Simulates the send: `sent` with a made-up wamid, then `delivered`, as Meta's webhooks would report.
    async fn dry_run(self) -> TaskEnd {
        self.core.stats.record_dry_run();
        let wamid = format!("wamid.DRYRUN{}", self.message.id.0.simple());
        let end = self
            .finish(Outcome::Sent {
                wamid: wamid.clone(),
            })
            .await;
        let update = StatusUpdate {
            pricing: None,
            account_id: Some(self.message.account_id),
            wamid,
            status: MetaStatus::Delivered,
            at: self.core.clock.now(),
            error: None,
        };
        let applied = self
            .core
            .store
            .apply_status_updates(
                &[update],
                self.core.clock.now(),
                self.core.config.max_pending_statuses_per_account,
            )
            .await;
        if let Err(e) = applied {
            tracing::warn!(error = %e, "recording the simulated delivery failed");
        }
        self.core.deliver_wake.notify();
        end
    }

    /// Reserves one pacing slot of the sender's number now, at its rate as stepped down now; `None` (the message
    /// is given back) when the store failed.
    async fn reserve_slot(&mut self, sender: &Sender) -> Option<DateTime<Utc>> {
        let now = self.core.clock.now();
        self.gap = self.core.pacer.gap_for(&sender.key, sender.rate, now);
        match self
            .core
            .pacer
            .reserve_one(&*self.core.store, &sender.key, self.gap, now)
            .await
        {
            Ok(slot) => Some(slot),
            Err(e) => {
                tracing::warn!(error = %e, "reserving a send slot failed; releasing the message");
                None
            }
        }
    }

    async fn release(self) -> TaskEnd {
        tracing::debug!("released unstarted");
        self.recorder.record(&self.message, Outcome::Release).await;
        TaskEnd::Released
    }

    /// Records the outcome, fenced by the message's attempt (see [`Recorder::record`]).
    async fn finish(&self, outcome: Outcome) -> TaskEnd {
        self.recorder.record(&self.message, outcome).await;
        TaskEnd::Finished
    }
}

/// The failure of a message whose validity period ended before it could be sent.
fn expired_error(message: &Message) -> FailureInfo {
    FailureInfo {
        meta: None,
        message: crate::message::expired_reason(message.expires_at.unwrap_or(message.updated_at)),
        code: None,
    }
}

/// A retry that would come due after the message expires fails at once instead, saying why and what the last
/// attempt met; other outcomes are left as they are.
fn expire_retry(outcome: Outcome, expires_at: Option<DateTime<Utc>>) -> Outcome {
    match (outcome, expires_at) {
        (
            Outcome::Retry {
                next_attempt_at,
                error,
            },
            Some(expires_at),
        ) if next_attempt_at > expires_at => Outcome::Failed {
            error: FailureInfo {
                meta: None,
                code: None,
                message: format!(
                    "{}: its validity period ends at {}, before the next attempt could be made (the last attempt \
                     failed: {})",
                    crate::message::EXPIRED,
                    expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    error.message
                ),
            },
        },
        (outcome, _) => outcome,
    }
}

/// Maps a transport result to the stored outcome and the breaker's verdict.
fn outcome_of(
    result: &Result<SendReceipt, SendError>,
    tries: u32,
    policy: &RetryPolicy,
    now: DateTime<Utc>,
) -> (Outcome, Verdict) {
    let e = match result {
        Ok(receipt) => {
            return (
                Outcome::Sent {
                    wamid: receipt.wamid.clone(),
                },
                Verdict::Answered,
            );
        }
        Err(e) => e,
    };
    let error = FailureInfo {
        meta: None,
        message: e.user_message(),
        code: e.code,
    };
    let class = e.class();
    let verdict = if class == ErrorClass::Transient {
        Verdict::Transient
    } else {
        Verdict::Answered
    };
    let outcome = match class {
        ErrorClass::Transient | ErrorClass::PerRecipient => {
            match policy.next_delay_random(tries, class, e.retry_after) {
                Some(delay) => Outcome::Retry {
                    next_attempt_at: add(now, delay),
                    error,
                },
                None => Outcome::Failed { error },
            }
        }
        ErrorClass::Permanent | ErrorClass::Credentials => Outcome::Failed { error },
    };
    (outcome, verdict)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            jitter: 0.0,
            max_attempts: 3,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn outcomes_by_error_class() {
        let ok = Ok(SendReceipt {
            wamid: "wamid.X".into(),
            wa_id: None,
        });
        assert_eq!(
            outcome_of(&ok, 1, &policy(), now()),
            (
                Outcome::Sent {
                    wamid: "wamid.X".into()
                },
                Verdict::Answered
            )
        );

        let busy = Err(SendError::meta(503, 131016, "Service overloaded"));
        let (o, v) = outcome_of(&busy, 1, &policy(), now());
        assert_eq!(v, Verdict::Transient);
        assert_eq!(
            o,
            Outcome::Retry {
                next_attempt_at: now() + chrono::Duration::seconds(2),
                error: FailureInfo {
                    meta: None,
                    message: "(#131016) Service overloaded".into(),
                    code: Some(131016)
                }
            }
        );
        let (o, _) = outcome_of(&busy, 3, &policy(), now());
        assert!(matches!(o, Outcome::Failed { .. }), "budget spent: {o:?}");

        let mut hinted = SendError::meta(429, 130429, "Rate limit hit");
        hinted.retry_after = Some(Duration::from_secs(40));
        let (o, _) = outcome_of(&Err(hinted), 1, &policy(), now());
        assert!(
            matches!(o, Outcome::Retry { next_attempt_at, .. } if next_attempt_at == now() + chrono::Duration::seconds(40))
        );

        let pair = Err(SendError::meta(400, 131056, "Pair rate limit hit"));
        let (o, v) = outcome_of(&pair, 1, &policy(), now());
        assert_eq!(
            v,
            Verdict::Answered,
            "one busy recipient says nothing about Meta"
        );
        assert!(
            matches!(o, Outcome::Retry { next_attempt_at, .. } if next_attempt_at == now() + chrono::Duration::seconds(6))
        );

        let perm = Err(SendError::meta(400, 131026, "Message undeliverable"));
        assert_eq!(
            outcome_of(&perm, 1, &policy(), now()),
            (
                Outcome::Failed {
                    error: FailureInfo {
                        meta: None,
                        message: "(#131026) Message undeliverable".into(),
                        code: Some(131026)
                    }
                },
                Verdict::Answered
            )
        );
        let creds = Err(SendError::meta(401, 190, "Error validating access token"));
        let (o, _) = outcome_of(&creds, 1, &policy(), now());
        assert!(matches!(o, Outcome::Failed { .. }));
    }
}
