//! Webhook endpoints (event subscriptions): stored per account and bounded, one outbox queue per destination
//! (the reference webhook and each endpoint), filters and the enabled flag honoured, re-sending a given-up event.

use super::prelude::*;

use crate::endpoints::{EndpointId, WebhookEndpoint};
use crate::store::{Destination, EventClaimLimits};
use crate::webhook::STATUS_UPDATED;

fn endpoint(account: AccountId, url: &str, events: &[&str], created: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: EndpointId::new(),
        account_id: account,
        url: url.into(),
        secret: format!("whsec_{url}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        enabled: true,
        disabled_reason: None,
        retry_schedule: vec![Duration::from_secs(5), Duration::from_secs(300)],
        created_at: at(created),
    }
}

/// Where a claimed event goes: its endpoint, target and retry schedule.
type Routed = (
    Option<EndpointId>,
    Option<WebhookConfig>,
    Option<Vec<Duration>>,
);

fn target_of(e: &WebhookEndpoint) -> WebhookConfig {
    WebhookConfig {
        url: e.url.clone(),
        secret: e.secret.clone(),
    }
}

/// Endpoints round-trip, are listed oldest first and only to their account, are capped per account, can be
/// disabled with a reason, have their secret replaced and be deleted (only by their account).
pub async fn endpoints_are_stored_per_account_and_bounded(store: Arc<dyn Store>) {
    let a = create_sample_account(&*store).await;
    let b = create_sample_account(&*store).await;
    let first = endpoint(a.id, "https://a.example/1", &[], 1);
    let mut second = endpoint(a.id, "https://a.example/2", &[STATUS_UPDATED], 2);
    second.enabled = false;
    assert_eq!(
        ok(store.create_endpoint(first.clone(), 2).await, "create"),
        first
    );
    ok(store.create_endpoint(second.clone(), 2).await, "create");
    assert!(
        matches!(
            store
                .create_endpoint(endpoint(a.id, "https://a.example/3", &[], 3), 2)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a third endpoint passes the cap of 2"
    );
    assert_eq!(
        store
            .create_endpoint(endpoint(AccountId::new(), "https://x.example", &[], 3), 2)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        ok(store.endpoints(a.id).await, "endpoints"),
        vec![first.clone(), second.clone()]
    );
    assert!(ok(store.endpoints(b.id).await, "endpoints").is_empty());
    // B's cap is its own.
    ok(
        store
            .create_endpoint(endpoint(b.id, "https://b.example", &[], 4), 2)
            .await,
        "create for b",
    );

    assert_eq!(
        store.delete_endpoint(b.id, first.id).await,
        Err(StoreError::NotFound),
        "another account's endpoint"
    );
    ok(
        store.disable_endpoint(first.id, "answered 410 Gone").await,
        "disable",
    );
    let listed = ok(store.endpoints(a.id).await, "endpoints");
    assert!(!listed[0].enabled);
    assert_eq!(
        listed[0].disabled_reason.as_deref(),
        Some("answered 410 Gone")
    );
    assert_eq!(
        store.disable_endpoint(EndpointId::new(), "x").await,
        Err(StoreError::NotFound)
    );

    assert_eq!(
        store
            .set_endpoint_secret(b.id, second.id, "whsec_stolen")
            .await,
        Err(StoreError::NotFound),
        "another account's endpoint"
    );
    ok(
        store
            .set_endpoint_secret(a.id, second.id, "whsec_resealed")
            .await,
        "set_endpoint_secret",
    );
    let second = WebhookEndpoint {
        secret: "whsec_resealed".into(),
        ..second
    };

    ok(store.delete_endpoint(a.id, first.id).await, "delete");
    assert_eq!(ok(store.endpoints(a.id).await, "endpoints"), vec![second]);
    assert_eq!(
        store.delete_endpoint(a.id, first.id).await,
        Err(StoreError::NotFound)
    );
    // Room again.
    ok(
        store
            .create_endpoint(endpoint(a.id, "https://a.example/4", &[], 5), 2)
            .await,
        "create after delete",
    );
}

/// A status change writes one event per destination: the reference webhook and every enabled endpoint whose
/// filter names `message.status_updated` (an empty filter names every type). Each destination is its own queue:
/// a retry waiting on one keeps later events of the message from that one only. Claims honour
/// `per_destination` and `skip`; a disabled or deleted endpoint's waiting events come without a target.
pub async fn endpoint_events_fan_out_and_queue_per_destination(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let all = endpoint(account.id, "https://all.example/hook", &[], 1);
    let statuses = endpoint(
        account.id,
        "https://statuses.example/hook",
        &["message.received", STATUS_UPDATED],
        1,
    );
    let inbound_only = endpoint(
        account.id,
        "https://in.example/hook",
        &["message.received"],
        1,
    );
    let mut off = endpoint(account.id, "https://off.example/hook", &[], 1);
    off.enabled = false;
    for e in [&all, &statuses, &inbound_only, &off] {
        ok(store.create_endpoint(e.clone(), 10).await, "create");
    }

    let m = sent_message(&*store, account.id, "wamid.FAN", 0, at(2)).await;
    let events = ok(store.claim_events(at(3), LEASE, 100).await, "claim_events");
    let by_dest: Vec<Routed> = events
        .iter()
        .map(|c| (c.event.endpoint, c.target.clone(), c.retry_schedule.clone()))
        .collect();
    assert_eq!(
        events.len(),
        3,
        "reference + two subscribed endpoints: {by_dest:?}"
    );
    for c in &events {
        assert_eq!(c.event.status().unwrap(), Status::Sent);
        assert_eq!(c.event.data, EventData::Status(StatusEventData::of(&m)));
        assert_eq!(c.event.attempts, 1);
    }
    assert!(by_dest.contains(&(None, Some(sample_webhook()), None)));
    assert!(by_dest.contains(&(
        Some(all.id),
        Some(target_of(&all)),
        Some(all.retry_schedule.clone())
    )));
    assert!(by_dest.contains(&(
        Some(statuses.id),
        Some(target_of(&statuses)),
        Some(statuses.retry_schedule.clone())
    )));
    let ids: HashSet<_> = events.iter().map(|c| c.event.id).collect();
    assert_eq!(ids.len(), 3, "each destination's event has its own id");

    // The reference webhook and `statuses` take theirs; `all` fails and waits for its retry.
    for c in &events {
        let next = if c.event.endpoint == Some(all.id) {
            EventNext::RetryAt(at(100))
        } else {
            EventNext::Done
        };
        ok(store.finish_event(c.event.id, None, next).await, "finish");
    }
    ok(
        store
            .apply_status_updates(
                &[meta_update("wamid.FAN", MetaStatus::Delivered, at(10))],
                at(10),
                DEFAULT_MAX_PENDING_STATUSES,
            )
            .await,
        "apply",
    );
    let events = ok(store.claim_events(at(11), LEASE, 100).await, "claim_events");
    let mut got: Vec<(Option<EndpointId>, Status)> = events
        .iter()
        .map(|c| (c.event.endpoint, c.event.status().unwrap()))
        .collect();
    got.sort();
    let mut want = vec![
        (None, Status::Delivered),
        (Some(statuses.id), Status::Delivered),
    ];
    want.sort();
    assert_eq!(
        got, want,
        "`all` still waits on its sent event; the others get delivered"
    );
    for c in &events {
        ok(
            store.finish_event(c.event.id, None, EventNext::Done).await,
            "finish",
        );
    }
    let events = ok(
        store.claim_events(at(100), LEASE, 100).await,
        "claim_events",
    );
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].event.endpoint,
            events[0].event.status().unwrap(),
            events[0].event.attempts
        ),
        (Some(all.id), Status::Sent, 2),
        "the retry comes first, in order"
    );
    ok(
        store
            .finish_event(events[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );
    let events = ok(
        store.claim_events(at(101), LEASE, 100).await,
        "claim_events",
    );
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].event.endpoint, events[0].event.status().unwrap()),
        (Some(all.id), Status::Delivered)
    );
    ok(
        store
            .finish_event(events[0].event.id, None, EventNext::Done)
            .await,
        "finish",
    );

    // Two more messages: a claim takes at most `per_destination` of each destination and none of `skip`.
    sent_message(&*store, account.id, "wamid.P1", 200, at(201)).await;
    sent_message(&*store, account.id, "wamid.P2", 202, at(203)).await;
    let limits = EventClaimLimits {
        limit: 100,
        per_destination: 1,
        skip: vec![Destination::Webhook(account.id)],
    };
    let events = ok(
        store.claim_events_with(at(204), LEASE, &limits).await,
        "claim_events_with",
    );
    let mut dests: Vec<Option<EndpointId>> = events.iter().map(|c| c.event.endpoint).collect();
    dests.sort();
    let mut want = vec![Some(all.id), Some(statuses.id)];
    want.sort();
    assert_eq!(
        dests, want,
        "one per endpoint, none for the skipped webhook"
    );
    assert!(
        events
            .iter()
            .all(|c| c.event.message_id().unwrap() == events[0].event.message_id().unwrap()),
        "the oldest message first"
    );
    let limits = EventClaimLimits {
        limit: 1,
        per_destination: 5,
        skip: vec![],
    };
    let one = ok(
        store.claim_events_with(at(204), LEASE, &limits).await,
        "claim_events_with",
    );
    assert_eq!(one.len(), 1, "limit holds");
    let rest = ok(
        store.claim_events(at(204), LEASE, 100).await,
        "claim_events",
    );
    assert_eq!(
        events.len() + one.len() + rest.len(),
        6,
        "2 messages x 3 destinations, each claimed once"
    );

    // Disabled: its waiting events come without a target, and new changes write none for it.
    ok(store.disable_endpoint(all.id, "gone").await, "disable");
    let later = ok(
        store
            .claim_events(at(204) + chrono::Duration::seconds(120), LEASE, 100)
            .await,
        "claim",
    );
    let all_events: Vec<_> = later
        .iter()
        .filter(|c| c.event.endpoint == Some(all.id))
        .collect();
    assert!(
        !all_events.is_empty(),
        "leases ended: the waiting events are claimed again"
    );
    assert!(
        all_events
            .iter()
            .all(|c| c.target.is_none() && c.retry_schedule.is_none())
    );
    for c in &later {
        ok(
            store.finish_event(c.event.id, None, EventNext::Done).await,
            "finish",
        );
    }
    sent_message(&*store, account.id, "wamid.P3", 400, at(401)).await;
    let events = ok(
        store.claim_events(at(402), LEASE, 100).await,
        "claim_events",
    );
    let mut dests: Vec<Option<EndpointId>> = events.iter().map(|c| c.event.endpoint).collect();
    dests.sort();
    let mut want = vec![None, Some(statuses.id)];
    want.sort();
    assert_eq!(dests, want);

    // Deleted: its events go with it.
    ok(
        store.delete_endpoint(account.id, statuses.id).await,
        "delete",
    );
    let again = ok(
        store
            .claim_events(at(402) + chrono::Duration::seconds(120), LEASE, 100)
            .await,
        "claim",
    );
    assert!(
        again.iter().all(|c| c.event.endpoint != Some(statuses.id)),
        "{again:?}"
    );
}

/// A given-up event of the account can be queued again, due at once with a fresh count of attempts; nothing
/// else can. Attempts are listed per endpoint as well as per account.
pub async fn given_up_events_can_be_resent(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let other = create_account_with_webhook(&*store).await;
    let e = endpoint(account.id, "https://e.example/hook", &[], 1);
    ok(store.create_endpoint(e.clone(), 10).await, "create");
    sent_message(&*store, account.id, "wamid.R", 0, at(2)).await;
    let events = ok(store.claim_events(at(3), LEASE, 100).await, "claim_events");
    assert_eq!(events.len(), 2);
    let (to_e, to_ref): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|c| c.event.endpoint == Some(e.id));
    let (to_e, to_ref) = (&to_e[0].event, &to_ref[0].event);

    let mut failed = sample_attempt(to_e, at(3));
    failed.url = e.url.clone();
    failed.http_status = Some(500);
    ok(
        store
            .finish_event(to_e.id, Some(failed.clone()), EventNext::GiveUp)
            .await,
        "give up",
    );
    let delivered = sample_attempt(to_ref, at(4));
    ok(
        store
            .finish_event(to_ref.id, Some(delivered.clone()), EventNext::Done)
            .await,
        "done",
    );
    assert_eq!(
        ok(
            store.endpoint_attempts(account.id, e.id, 10).await,
            "endpoint_attempts"
        ),
        vec![failed.clone()]
    );
    assert!(
        ok(
            store.endpoint_attempts(other.id, e.id, 10).await,
            "endpoint_attempts"
        )
        .is_empty(),
        "another account sees nothing of it"
    );
    assert_eq!(
        ok(
            store.delivery_attempts(account.id, 10).await,
            "delivery_attempts"
        ),
        vec![delivered, failed],
        "the account's listing holds every destination's, newest first"
    );

    assert_eq!(
        store.retry_event(other.id, to_e.id, at(5)).await,
        Err(StoreError::NotFound),
        "another account's event"
    );
    assert!(matches!(
        store.retry_event(account.id, to_ref.id, at(5)).await,
        Err(StoreError::Conflict(_))
    ));
    ok(store.retry_event(account.id, to_e.id, at(5)).await, "retry");
    assert!(
        matches!(
            store.retry_event(account.id, to_e.id, at(5)).await,
            Err(StoreError::Conflict(_))
        ),
        "waiting again"
    );
    assert!(
        ok(store.claim_events(at(4), LEASE, 100).await, "claim").is_empty(),
        "due at 5"
    );
    let again = ok(store.claim_events(at(5), LEASE, 100).await, "claim");
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].event.id, to_e.id,
        "the same event (same webhook-id)"
    );
    assert_eq!(again[0].event.attempts, 1, "a fresh count");
    assert_eq!(again[0].target, Some(target_of(&e)));
    ok(
        store.finish_event(to_e.id, None, EventNext::Done).await,
        "finish",
    );
    assert_eq!(
        store.retry_event(account.id, EventId::new(), at(6)).await,
        Err(StoreError::NotFound)
    );

    // A given-up event of an endpoint turned off since: nothing to send it to.
    let e2 = endpoint(account.id, "https://e2.example/hook", &[], 8);
    ok(store.create_endpoint(e2.clone(), 10).await, "create");
    sent_message(&*store, account.id, "wamid.R2", 10, at(11)).await;
    let c = ok(store.claim_events(at(12), LEASE, 100).await, "claim");
    let to_e2 = &c
        .iter()
        .find(|x| x.event.endpoint == Some(e2.id))
        .unwrap()
        .event;
    ok(
        store.finish_event(to_e2.id, None, EventNext::GiveUp).await,
        "give up",
    );
    ok(store.disable_endpoint(e2.id, "gone").await, "disable");
    assert!(
        matches!(
            store.retry_event(account.id, to_e2.id, at(13)).await,
            Err(StoreError::Conflict(_))
        ),
        "a disabled endpoint's event is not queued again"
    );

    // Deleting the endpoint removes its attempts.
    ok(store.delete_endpoint(account.id, e.id).await, "delete");
    assert_eq!(
        ok(
            store.delivery_attempts(account.id, 10).await,
            "delivery_attempts"
        )
        .len(),
        1
    );
}
