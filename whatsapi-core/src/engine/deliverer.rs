//! The webhook deliverer: drains the outbox through the [`WebhookSink`](crate::webhook::WebhookSink).
//!
//! The store hands out at most one event per stream and destination at a time (the oldest unfinished), so the
//! events of one stream (a message's statuses, a template's changes) reach each destination in order even when a
//! delivery has to be retried; a `message.received` event is a stream of its own. Each
//! destination (an account's reference webhook, or one endpoint) has at most
//! [`WebhookPolicy::per_destination`](super::WebhookPolicy::per_destination) deliveries in flight and its own
//! retry schedule, so one that is slow or down never holds up another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::store::{ClaimedEvent, Destination, EventClaimLimits, EventNext};
use crate::webhook::{DeliveryAttempt, WebhookEvent, WebhookTarget};

use super::{Core, StopRx, add, stop_deadline, stopped};

pub(crate) async fn run(core: Arc<Core>, mut stop: StopRx) -> u64 {
    let policy = &core.config.webhook;
    let mut wake = core.deliver_wake.subscribe();
    let permits = Arc::new(Semaphore::new(policy.concurrency.max(1)));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let in_flight: InFlight = Arc::default();
    let cap = policy.per_destination.max(1);
    loop {
        wake.borrow_and_update();
        if stop.borrow().is_some() {
            break;
        }
        while tasks.try_join_next().is_some() {}

        let room = permits.available_permits().min(policy.batch.max(1));
        let mut more = false;
        if room > 0 {
            let limits = EventClaimLimits {
                limit: room,
                // One per destination per claim: a destination below its cap never passes it.
                per_destination: 1,
                skip: in_flight
                    .lock()
                    .expect("in-flight map")
                    .iter()
                    .filter(|(_, n)| **n >= cap)
                    .map(|(d, _)| *d)
                    .collect(),
            };
            match core
                .store
                .claim_events_with(core.clock.now(), policy.lease, &limits)
                .await
            {
                Ok(events) => {
                    more = !events.is_empty();
                    for claimed in events {
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            break;
                        };
                        let slot = Slot::take(&in_flight, claimed.event.destination());
                        let span = tracing::info_span!(
                            "webhook",
                            event_id = %claimed.event.id,
                            event_type = %claimed.event.event_type,
                            message_id = claimed.event.message_id().map(tracing::field::display),
                            status = claimed.event.status().map(tracing::field::display),
                            attempt = claimed.event.attempts,
                        );
                        tasks
                            .spawn(deliver(core.clone(), claimed, (permit, slot)).instrument(span));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming webhook events failed"),
            }
        }
        if more && permits.available_permits() > 0 {
            continue;
        }

        // Retries come due without a wake-up; polling picks them up.
        let until = core.after(core.config.idle_poll);
        tokio::select! {
            _ = wake.changed() => {}
            _ = core.clock.sleep_until(until) => {}
            _ = stopped(&mut stop) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }

    let deadline = stop_deadline(&stop, core.clock.now());
    loop {
        tokio::select! {
            biased;
            next = tasks.join_next() => if next.is_none() { return 0 },
            _ = core.clock.sleep_until(deadline) => {
                let abandoned = tasks.len() as u64;
                tasks.abort_all();
                return abandoned;
            }
        }
    }
}

/// Deliveries in flight per destination.
type InFlight = Arc<Mutex<HashMap<Destination, usize>>>;

/// One delivery's place in [`InFlight`], given back when dropped.
struct Slot(InFlight, Destination);

impl Slot {
    fn take(map: &InFlight, destination: Destination) -> Self {
        *map.lock()
            .expect("in-flight map")
            .entry(destination)
            .or_insert(0) += 1;
        Self(map.clone(), destination)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// One attempt for one event, then what happens next is recorded with it.
async fn deliver(core: Arc<Core>, claimed: ClaimedEvent, _held: (OwnedSemaphorePermit, Slot)) {
    let ClaimedEvent {
        event,
        target,
        retry_schedule,
    } = claimed;
    let Some(target) = target else {
        // The account has no webhook (any more), or the endpoint was disabled or removed: nothing to deliver to.
        if let Err(e) = core
            .store
            .finish_event(event.id, None, EventNext::Done)
            .await
        {
            tracing::warn!(error = %e, "dropping an event without a webhook failed");
        }
        core.deliver_wake.notify();
        return;
    };
    let payload = WebhookEvent::new(
        event.id,
        event.event_type,
        event.created_at,
        event.data.clone(),
    );
    let target = WebhookTarget {
        url: target.url,
        secret: target.secret,
    };
    let at = core.clock.now();
    let outcome = core.sink.deliver(&target, &payload).await;
    core.stats.record_webhook(outcome.is_success());
    let now = core.clock.now();
    let gone = event.endpoint.filter(|_| outcome.http_status == Some(410));
    let next = if outcome.is_success() {
        EventNext::Done
    } else if gone.is_some() {
        // 410 Gone: the endpoint asks not to be called again (Standard Webhooks).
        EventNext::GiveUp
    } else {
        // `attempts` counts this one; the n-th failure waits the n-th delay, if the schedule has one.
        let index = usize::try_from(event.attempts.saturating_sub(1)).unwrap_or(usize::MAX);
        let schedule = retry_schedule
            .as_deref()
            .unwrap_or(&core.config.webhook.retry_delays);
        match schedule.get(index) {
            Some(delay) => EventNext::RetryAt(add(now, *delay)),
            None => EventNext::GiveUp,
        }
    };
    if let Some(endpoint) = gone {
        let reason = format!(
            "the endpoint answered 410 Gone at {}",
            crate::webhook::format_time(&now)
        );
        match core.store.disable_endpoint(endpoint, &reason).await {
            Ok(()) => tracing::warn!(%endpoint, "webhook endpoint answered 410 Gone; disabled"),
            Err(e) => {
                tracing::warn!(error = %e, %endpoint, "disabling a gone webhook endpoint failed")
            }
        }
    }
    match next {
        EventNext::Done => tracing::debug!(http_status = ?outcome.http_status, "webhook delivered"),
        EventNext::RetryAt(at) => tracing::info!(
            http_status = ?outcome.http_status,
            error = outcome.error.as_deref().unwrap_or(""),
            retry_at = %at,
            "webhook delivery failed; will retry"
        ),
        EventNext::GiveUp => tracing::warn!(
            http_status = ?outcome.http_status,
            error = outcome.error.as_deref().unwrap_or(""),
            "webhook delivery failed; out of retries"
        ),
    }
    let attempt = DeliveryAttempt {
        event_id: event.id,
        event_type: event.event_type,
        message_id: event.message_id(),
        status: event.status(),
        url: target.url,
        at,
        http_status: outcome.http_status,
        error: outcome.error,
        duration_ms: outcome.duration_ms,
    };
    if let Err(e) = core.store.finish_event(event.id, Some(attempt), next).await {
        tracing::warn!(error = %e, "recording the webhook attempt failed; the event is retried when its lease ends");
    }
    // The stream's next event (if any) may go now.
    core.deliver_wake.notify();
}
