//! The outcome batcher: send tasks hand their outcome over a channel and wait for the answer; one task collects
//! them into batches (at most [`EngineConfig::outcome_batch`], waiting at most [`EngineConfig::outcome_delay`]
//! for more after the first) and records each batch with one [`MessageStore::record_outcomes`] call, so the store
//! commits many outcomes in one transaction.
//!
//! While a batch is being recorded the next one gathers, so under load batches grow by themselves even without a
//! delay; up to [`EngineConfig::outcome_flushes`] batches are recorded at once. A task is answered only once its outcome is committed (or given up on), so a graceful shutdown that
//! waits for its send tasks waits for their outcomes too. The batcher ends when every [`Recorder`] is dropped,
//! after recording what it holds.
//!
//! [`EngineConfig::outcome_batch`]: super::EngineConfig::outcome_batch
//! [`EngineConfig::outcome_delay`]: super::EngineConfig::outcome_delay
//! [`EngineConfig::outcome_flushes`]: super::EngineConfig::outcome_flushes
//! [`MessageStore::record_outcomes`]: crate::store::MessageStore::record_outcomes

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Core;
use crate::message::Message;
use crate::store::{Outcome, OutcomeRecord, StoreError};

/// How often an outcome whose recording failed is tried again before the lease takes over.
const TRIES: usize = 3;

/// An outcome waiting in the batcher, with the way to tell its task it is done.
struct Pending {
    record: OutcomeRecord,
    done: oneshot::Sender<()>,
}

/// Hands outcomes to the batcher; cheap to clone (one per send task).
#[derive(Clone)]
pub(crate) struct Recorder {
    queue: mpsc::UnboundedSender<Pending>,
    core: Arc<Core>,
}

impl Recorder {
    /// Spawns the batcher of `core` on the current runtime: the recorder, and the task that ends once every clone
    /// of it is dropped and what it held is recorded.
    pub(crate) fn start(core: Arc<Core>) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let batcher = tokio::spawn(run(core.clone(), rx));
        (Self { queue, core }, batcher)
    }

    /// Records `outcome` of the message's current attempt and waits until it is committed, found stale (a newer
    /// claim owns the message; dropped) or given up on after storage errors (the lease then takes over).
    pub(crate) async fn record(&self, message: &Message, outcome: Outcome) {
        let (done, answered) = oneshot::channel();
        let pending = Pending {
            record: OutcomeRecord {
                id: message.id,
                attempt: message.attempt,
                outcome,
            },
            done,
        };
        match self.queue.send(pending) {
            Ok(()) => {
                // A dropped sender (the batcher panicked) leaves the outcome to the lease.
                let _ = answered.await;
            }
            // The batcher is gone (it panicked): record this one alone.
            Err(mpsc::error::SendError(pending)) => flush(&self.core, vec![pending]).await,
        }
    }
}

async fn run(core: Arc<Core>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let max = core.config.outcome_batch.max(1);
    let delay = core.config.outcome_delay;
    let flushes = Arc::new(tokio::sync::Semaphore::new(
        core.config.outcome_flushes.max(1),
    ));
    let mut running = tokio::task::JoinSet::new();
    loop {
        // Gather the next batch only once it can be recorded: until then outcomes keep joining the queue.
        let Ok(permit) = flushes.clone().acquire_owned().await else {
            break;
        };
        while running.try_join_next().is_some() {}
        let Some(batch) = collect(&mut queue, max, delay).await else {
            break;
        };
        let core = core.clone();
        running.spawn(async move {
            flush(&core, batch).await;
            drop(permit);
        });
    }
    while running.join_next().await.is_some() {}
}

/// The next batch: what is waiting, up to `max`; when that is less than `max`, whatever else arrives within
/// `delay` of the first (Tokio time). `None` once the queue is closed and empty.
async fn collect<T>(
    queue: &mut mpsc::UnboundedReceiver<T>,
    max: usize,
    delay: Duration,
) -> Option<Vec<T>> {
    let first = queue.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    if batch.len() < max && !delay.is_zero() {
        let until = tokio::time::Instant::now() + delay;
        while batch.len() < max {
            tokio::select! {
                next = queue.recv() => match next {
                    Some(next) => batch.push(next),
                    None => break,
                },
                () = tokio::time::sleep_until(until) => break,
            }
        }
    }
    Some(batch)
}

/// Records a batch: storage errors of the whole call or of single items are tried again up to [`TRIES`] times
/// (then the lease takes over); stale outcomes are dropped; every task is answered. Wakes the deliverer when
/// something was recorded, and the dispatcher when a message was given back.
async fn flush(core: &Core, mut waiting: Vec<Pending>) {
    for i in 1..=TRIES {
        let records: Vec<OutcomeRecord> = waiting.iter().map(|p| p.record.clone()).collect();
        let answers = match core.store.record_outcomes(&records, core.clock.now()).await {
            Ok(answers) => answers,
            Err(e) if i < TRIES => {
                tracing::warn!(error = %e, count = waiting.len(), "recording outcomes failed; trying again");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, count = waiting.len(), "recording outcomes failed; the messages are sent again when their lease ends");
                return;
            }
        };
        if answers.len() != waiting.len() {
            tracing::error!(
                answers = answers.len(),
                outcomes = waiting.len(),
                "the store answered a batch of outcomes with the wrong number of answers; the unanswered are sent again when their lease ends"
            );
        }
        let (mut recorded, mut released) = (false, false);
        let mut again = Vec::new();
        for (p, answer) in waiting.into_iter().zip(answers) {
            let message_id = p.record.id;
            match answer {
                Ok(()) => {
                    recorded = true;
                    released |= p.record.outcome == Outcome::Release;
                    let _ = p.done.send(());
                }
                Err(StoreError::Stale) => {
                    tracing::info!(
                        %message_id,
                        "outcome dropped: the message was claimed again after this lease ended"
                    );
                    let _ = p.done.send(());
                }
                Err(e @ (StoreError::Unavailable(_) | StoreError::Backend(_))) if i < TRIES => {
                    tracing::warn!(%message_id, error = %e, "recording the outcome failed; trying again");
                    again.push(p);
                }
                Err(e) => {
                    tracing::error!(%message_id, error = %e, "recording the outcome failed; the message is sent again when its lease ends");
                    let _ = p.done.send(());
                }
            }
        }
        if recorded {
            core.deliver_wake.notify();
        }
        if released {
            core.dispatch_wake.notify();
        }
        if again.is_empty() {
            return;
        }
        waiting = again;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything waiting goes in one batch, up to the limit; with no delay a batch never waits for more.
    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_what_waits_up_to_its_limit() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(
            collect(&mut rx, 3, Duration::ZERO).await,
            Some(vec![0, 1, 2])
        );
        assert_eq!(collect(&mut rx, 3, Duration::ZERO).await, Some(vec![3, 4]));
        drop(tx);
        assert_eq!(collect(&mut rx, 3, Duration::ZERO).await, None);
    }

    /// With a delay, what arrives within it after the first joins the batch; what arrives later goes in the next;
    /// a closed queue ends the wait at once.
    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_its_delay_for_more() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send(0).unwrap();
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            tx.send(1).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            tx.send(2).unwrap();
        });
        let delay = Duration::from_millis(5);
        assert_eq!(collect(&mut rx, 10, delay).await, Some(vec![0, 1]));
        assert_eq!(collect(&mut rx, 10, delay).await, Some(vec![2]));
        sender.await.unwrap();
        assert_eq!(collect(&mut rx, 10, delay).await, None);
    }

    /// A full batch does not wait for its delay.
    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_at_once() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        let start = tokio::time::Instant::now();
        assert_eq!(
            collect(&mut rx, 2, Duration::from_secs(3600)).await,
            Some(vec![0, 1])
        );
        assert_eq!(
            tokio::time::Instant::now(),
            start,
            "no time passed on the paused clock"
        );
        drop(tx);
    }
}

#[cfg(all(test, feature = "testing"))]
mod store_errors {
    use super::*;
    use crate::account::{AccountId, NewAccount};
    use crate::clock::Clock;
    use crate::message::{MessageContent, MessageId, NewMessage, Status};
    use crate::store::{MessageStore, NewBatch, Store, TenantStore};
    use crate::testing::{FakeTransport, FaultyStore, ManualClock, MemoryStore, RecordingSink};

    /// A core on a store that fails on request, with one claimed message.
    async fn rig() -> (Arc<Core>, Arc<FaultyStore>, Message) {
        let memory = MemoryStore::new();
        let store = Arc::new(FaultyStore::new(Arc::new(memory)));
        let clock = ManualClock::at_epoch();
        let account = AccountId::new();
        store
            .create_account(NewAccount {
                id: account,
                name: "Acme".into(),
                created_at: clock.now(),
            })
            .await
            .unwrap();
        store
            .insert_messages(NewBatch {
                account_id: account,
                messages: vec![NewMessage {
                    from: None,
                    id: MessageId::new(),
                    account_id: account,
                    batch_id: None,
                    to: crate::phone::PhoneNumber::parse("14155550001")
                        .unwrap()
                        .into(),
                    reply_to: None,
                    content: MessageContent::Text { body: "hi".into() },
                    send_at: None,
                    expires_at: None,
                    metadata: None,
                    dry_run: false,
                    created_at: clock.now(),
                }],
                idempotency: None,
            })
            .await
            .unwrap();
        let claimed = store
            .claim_due(clock.now(), Duration::from_secs(60), 1)
            .await
            .unwrap();
        let core = Arc::new(Core::new(
            store.clone() as Arc<dyn Store>,
            Arc::new(FakeTransport::new()),
            Arc::new(clock),
            Arc::new(RecordingSink::new()),
            super::super::EngineConfig::default(),
        ));
        (core, store, claimed[0].message.clone())
    }

    fn sent() -> Outcome {
        Outcome::Sent {
            wamid: "wamid.1".into(),
        }
    }

    async fn status(store: &FaultyStore, m: &Message) -> Status {
        store
            .get_message(m.account_id, m.id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    /// A batch the store fails to record is tried again, and recorded when the store recovers in time.
    #[tokio::test]
    async fn a_failed_batch_is_tried_again() {
        let (core, store, message) = rig().await;
        store.fail("record_outcomes", TRIES - 1);
        let (recorder, batcher) = Recorder::start(core);
        recorder.record(&message, sent()).await;
        assert_eq!(status(&store, &message).await, Status::Sent);
        assert_eq!(store.pending_faults("record_outcomes"), 0);
        drop(recorder);
        batcher.await.unwrap();
    }

    /// A store that keeps failing is given up on after a few tries: the message stays claimed, for its lease to
    /// end, and the task is answered.
    #[tokio::test]
    async fn a_batch_that_keeps_failing_is_left_to_the_lease() {
        let (core, store, message) = rig().await;
        store.fail("record_outcomes", TRIES + 1);
        let (recorder, batcher) = Recorder::start(core);
        recorder.record(&message, sent()).await;
        assert_eq!(status(&store, &message).await, Status::Processing);
        assert_eq!(
            store.pending_faults("record_outcomes"),
            1,
            "tried {TRIES} times"
        );
        drop(recorder);
        batcher.await.unwrap();
    }
}
