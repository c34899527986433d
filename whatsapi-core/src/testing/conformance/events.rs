//! Event types beyond status updates: `message.received` written with a new inbound message (once per wamid,
//! routed by the endpoints' filters), events written on their own (`template.*`) in order per stream, endpoints
//! edited and re-enabled, and delivery attempts of events that are about no outbound message.

use super::prelude::*;

use crate::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use crate::inbound::{InboundContent, InboundInsert, received_event_data};
use crate::store::{ClaimedEvent, NewEvent};
use crate::webhook::{EventType, MESSAGE_RECEIVED, STATUS_UPDATED, TEMPLATE_STATUS_UPDATED};

use super::inbound::sample_inbound;

fn endpoint(account: AccountId, url: &str, events: &[&str]) -> WebhookEndpoint {
    WebhookEndpoint {
        id: EndpointId::new(),
        account_id: account,
        url: url.into(),
        secret: format!("whsec_{url}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        enabled: true,
        disabled_reason: None,
        retry_schedule: vec![Duration::from_secs(5)],
        created_at: at(0),
    }
}

fn text(body: &str) -> InboundContent {
    InboundContent::Text { body: body.into() }
}

/// Every due event at `when`, finishing none.
async fn claim_all(store: &dyn Store, when: DateTime<Utc>) -> Vec<ClaimedEvent> {
    ok(store.claim_events(when, LEASE, 100).await, "claim_events")
}

fn template_event(stream: Option<&str>, status: &str, when: i64) -> NewEvent {
    NewEvent {
        event_type: EventType::TemplateStatusUpdated,
        data: json!({"templateId": stream, "name": "order_update", "language": "en_US", "status": status}),
        stream: stream.map(str::to_owned),
        at: at(when),
    }
}

/// A new inbound message writes one `message.received` event for the reference webhook and each enabled endpoint
/// whose filter takes it, with the stored message as data; of concurrent inserts of one wamid only the one that
/// inserted writes events, and a later duplicate writes none. An account without destinations gets none.
pub async fn received_events_once_per_wamid_by_filter(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let every = endpoint(account.id, "https://a.example/every", &[]);
    let statuses = endpoint(account.id, "https://a.example/statuses", &[STATUS_UPDATED]);
    let received = endpoint(
        account.id,
        "https://a.example/received",
        &[MESSAGE_RECEIVED],
    );
    let mut off = endpoint(account.id, "https://a.example/off", &[]);
    off.enabled = false;
    for e in [&every, &statuses, &received, &off] {
        ok(
            store.create_endpoint(e.clone(), 10).await,
            "create_endpoint",
        );
    }
    let quiet = create_sample_account(&*store).await;

    let mut set = JoinSet::new();
    for i in 0..6 {
        let store = store.clone();
        let account = account.id;
        set.spawn(async move {
            let new = sample_inbound(
                account,
                "wamid.IN1",
                "14155552671",
                "text",
                text(&format!("try {i}")),
                at(10),
            );
            ok(store.insert_inbound(new).await, "insert_inbound")
        });
    }
    let mut stored = Vec::new();
    while let Some(r) = set.join_next().await {
        if let InboundInsert::Inserted(m) = r.expect("insert task") {
            stored.push(m);
        }
    }
    assert_eq!(stored.len(), 1, "one concurrent insert of a wamid is new");
    let stored = &stored[0];
    ok(
        store
            .insert_inbound(sample_inbound(
                quiet.id,
                "wamid.IN1",
                "14155552671",
                "text",
                text("hi"),
                at(10),
            ))
            .await,
        "insert_inbound",
    );

    let events = claim_all(&*store, at(11)).await;
    let mut routed: Vec<Option<EndpointId>> = events.iter().map(|c| c.event.endpoint).collect();
    routed.sort();
    let mut expected = vec![None, Some(every.id), Some(received.id)];
    expected.sort();
    assert_eq!(
        routed, expected,
        "one message.received per destination taking it: the webhook, the unfiltered and the received-only endpoint"
    );
    for c in &events {
        assert_eq!(c.event.account_id, account.id);
        assert_eq!(c.event.event_type, EventType::MessageReceived);
        assert_eq!(c.event.created_at, at(10), "the event is timed at receipt");
        assert_eq!(
            c.event.data,
            EventData::Json(received_event_data(stored)),
            "the data is the stored message"
        );
        assert_eq!(c.event.message_id(), None);
        assert_eq!(c.event.status(), None);
    }
    for c in &events {
        ok(
            store.finish_event(c.event.id, None, EventNext::Done).await,
            "finish_event",
        );
    }

    let dup = ok(
        store
            .insert_inbound(sample_inbound(
                account.id,
                "wamid.IN1",
                "14155552671",
                "text",
                text("again"),
                at(20),
            ))
            .await,
        "insert_inbound",
    );
    assert!(matches!(dup, InboundInsert::Duplicate(_)));
    assert!(
        claim_all(&*store, at(21)).await.is_empty(),
        "a duplicate wamid writes no event"
    );
    let backlog = ok(store.outbox_backlog().await, "outbox_backlog");
    assert_eq!(
        backlog.pending, 0,
        "nothing waits: the quiet account got no event"
    );
}

/// `message.received` events are ordered with no other: a second inbound message's event goes out while the
/// first one's waits for a retry.
pub async fn received_events_are_not_held_back_by_each_other(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    for (i, wamid) in ["wamid.A", "wamid.B"].into_iter().enumerate() {
        ok(
            store
                .insert_inbound(sample_inbound(
                    account.id,
                    wamid,
                    "14155552671",
                    "text",
                    text(wamid),
                    at(i as i64),
                ))
                .await,
            "insert_inbound",
        );
    }
    let first = ok(store.claim_events(at(5), LEASE, 1).await, "claim_events");
    assert_eq!(first.len(), 1);
    ok(
        store
            .finish_event(first[0].event.id, None, EventNext::RetryAt(at(100)))
            .await,
        "finish_event",
    );
    let next = claim_all(&*store, at(6)).await;
    assert_eq!(
        next.len(),
        1,
        "the other inbound message's event is not held back"
    );
    assert_ne!(next[0].event.id, first[0].event.id);
}

/// An event written on its own goes to each destination taking its type, in order within its stream (a later
/// change of one template waits for the earlier one) and unordered without a stream; a status event cannot be
/// written this way, nor an event of an unknown account.
pub async fn events_written_on_their_own_keep_their_stream_order(store: Arc<dyn Store>) {
    let account = create_account_with_webhook(&*store).await;
    let templates = endpoint(
        account.id,
        "https://a.example/t",
        &[TEMPLATE_STATUS_UPDATED],
    );
    let statuses = endpoint(account.id, "https://a.example/s", &[STATUS_UPDATED]);
    ok(
        store.create_endpoint(templates.clone(), 10).await,
        "create_endpoint",
    );
    ok(
        store.create_endpoint(statuses.clone(), 10).await,
        "create_endpoint",
    );

    let written = ok(
        store
            .enqueue_event(account.id, template_event(Some("111"), "PENDING", 1))
            .await,
        "enqueue_event",
    );
    assert_eq!(
        written, 2,
        "the webhook and the template endpoint; not the status-only one"
    );
    ok(
        store
            .enqueue_event(account.id, template_event(Some("111"), "APPROVED", 2))
            .await,
        "enqueue_event",
    );
    ok(
        store
            .enqueue_event(account.id, template_event(Some("222"), "REJECTED", 3))
            .await,
        "enqueue_event",
    );
    ok(
        store
            .enqueue_event(account.id, template_event(None, "PAUSED", 4))
            .await,
        "enqueue_event",
    );
    ok(
        store
            .enqueue_event(account.id, template_event(None, "DISABLED", 5))
            .await,
        "enqueue_event",
    );

    let first = claim_all(&*store, at(10)).await;
    let mut seen: Vec<(Option<EndpointId>, String)> = first
        .iter()
        .map(|c| {
            let EventData::Json(d) = &c.event.data else {
                panic!("a template event's data is JSON: {:?}", c.event.data)
            };
            assert_eq!(c.event.event_type, EventType::TemplateStatusUpdated);
            (
                c.event.endpoint,
                d["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = Vec::new();
    for dest in [None, Some(templates.id)] {
        for s in ["PENDING", "REJECTED", "PAUSED", "DISABLED"] {
            expected.push((dest, s.to_owned()));
        }
    }
    expected.sort();
    assert_eq!(
        seen, expected,
        "per destination: the first of template 111, template 222, and both events without a stream"
    );
    let pending = first
        .iter()
        .find(|c| {
            c.event.endpoint.is_none()
                && matches!(&c.event.data, EventData::Json(d) if d["status"] == "PENDING")
        })
        .expect("PENDING to the webhook");
    assert_eq!(pending.event.created_at, at(1));
    for c in &first {
        ok(
            store.finish_event(c.event.id, None, EventNext::Done).await,
            "finish_event",
        );
    }
    let second = claim_all(&*store, at(11)).await;
    assert_eq!(
        second.len(),
        2,
        "APPROVED follows PENDING at both destinations"
    );
    assert!(
        second
            .iter()
            .all(|c| matches!(&c.event.data, EventData::Json(d) if d["status"] == "APPROVED"))
    );

    let status = NewEvent {
        event_type: EventType::StatusUpdated,
        ..template_event(None, "X", 1)
    };
    assert!(
        matches!(
            store.enqueue_event(account.id, status).await,
            Err(StoreError::Conflict(_))
        ),
        "status events are written only with their status change"
    );
    assert!(matches!(
        store
            .enqueue_event(AccountId::new(), template_event(None, "X", 1))
            .await,
        Err(StoreError::NotFound)
    ));
    let bare = create_sample_account(&*store).await;
    assert_eq!(
        ok(
            store
                .enqueue_event(bare.id, template_event(Some("9"), "X", 1))
                .await,
            "enqueue_event"
        ),
        0,
        "an account without destinations gets nothing"
    );
}

/// An endpoint's URL, filter, enabled flag and schedule can be changed (the secret stays); turning it on clears
/// the reason it was disabled for, and it receives the events written from then on. Only its account may change it.
pub async fn endpoints_are_updated_and_reenabled(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let other = create_sample_account(&*store).await;
    let e = endpoint(account.id, "https://a.example/hook", &[STATUS_UPDATED]);
    ok(
        store.create_endpoint(e.clone(), 10).await,
        "create_endpoint",
    );
    ok(
        store.disable_endpoint(e.id, "answered 410 Gone").await,
        "disable_endpoint",
    );
    ok(
        store
            .insert_inbound(sample_inbound(
                account.id,
                "wamid.OFF",
                "14155552671",
                "text",
                text("while off"),
                at(1),
            ))
            .await,
        "insert_inbound",
    );

    let update = EndpointUpdate {
        url: Some("https://a.example/v2".into()),
        events: Some(vec![MESSAGE_RECEIVED.into()]),
        enabled: Some(true),
        retry_schedule: Some(vec![Duration::from_secs(7), Duration::from_secs(70)]),
    };
    let changed = ok(
        store
            .update_endpoint(account.id, e.id, update.clone())
            .await,
        "update_endpoint",
    );
    let expected = WebhookEndpoint {
        url: "https://a.example/v2".into(),
        events: vec![MESSAGE_RECEIVED.into()],
        enabled: true,
        disabled_reason: None,
        retry_schedule: vec![Duration::from_secs(7), Duration::from_secs(70)],
        ..e.clone()
    };
    assert_eq!(
        changed, expected,
        "every field given changes; the secret stays"
    );
    assert_eq!(
        ok(store.endpoints(account.id).await, "endpoints"),
        vec![expected.clone()],
        "the change is stored"
    );
    assert!(
        claim_all(&*store, at(2)).await.is_empty(),
        "what was written while it was off is not delivered"
    );

    ok(
        store
            .insert_inbound(sample_inbound(
                account.id,
                "wamid.ON",
                "14155552671",
                "text",
                text("now"),
                at(3),
            ))
            .await,
        "insert_inbound",
    );
    let events = claim_all(&*store, at(4)).await;
    assert_eq!(events.len(), 1, "re-enabled, it receives new events");
    assert_eq!(events[0].event.endpoint, Some(e.id));
    assert_eq!(
        events[0].target,
        Some(WebhookConfig {
            url: "https://a.example/v2".into(),
            secret: e.secret.clone(),
        })
    );
    assert_eq!(
        events[0].retry_schedule,
        Some(vec![Duration::from_secs(7), Duration::from_secs(70)])
    );

    let off = ok(
        store
            .update_endpoint(
                account.id,
                e.id,
                EndpointUpdate {
                    enabled: Some(false),
                    ..EndpointUpdate::default()
                },
            )
            .await,
        "update_endpoint",
    );
    assert!(!off.enabled);
    assert_eq!(off.url, "https://a.example/v2", "fields not given stay");
    assert!(matches!(
        store.update_endpoint(other.id, e.id, update.clone()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_endpoint(account.id, EndpointId::new(), update)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !ok(store.endpoints(account.id).await, "endpoints")[0].enabled,
        "another account's attempt changed nothing"
    );
}

/// A delivery attempt of an event about no outbound message is recorded with its type and without a message or
/// status, in the account's and the endpoint's listings.
pub async fn delivery_attempts_of_other_event_types(store: Arc<dyn Store>) {
    let account = create_sample_account(&*store).await;
    let e = endpoint(account.id, "https://a.example/hook", &[]);
    ok(
        store.create_endpoint(e.clone(), 10).await,
        "create_endpoint",
    );
    ok(
        store
            .insert_inbound(sample_inbound(
                account.id,
                "wamid.X",
                "14155552671",
                "text",
                text("x"),
                at(1),
            ))
            .await,
        "insert_inbound",
    );
    let events = claim_all(&*store, at(2)).await;
    assert_eq!(events.len(), 1);
    let attempt = DeliveryAttempt {
        http_status: Some(500),
        ..sample_attempt(&events[0].event, at(3))
    };
    assert_eq!(attempt.event_type, EventType::MessageReceived);
    ok(
        store
            .finish_event(
                events[0].event.id,
                Some(attempt.clone()),
                EventNext::RetryAt(at(10)),
            )
            .await,
        "finish_event",
    );
    let listed = ok(
        store.delivery_attempts(account.id, 10).await,
        "delivery_attempts",
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].event_type, EventType::MessageReceived);
    assert_eq!(listed[0].message_id, None);
    assert_eq!(listed[0].status, None);
    assert_eq!(listed[0], attempt);
    assert_eq!(
        ok(
            store.endpoint_attempts(account.id, e.id, 10).await,
            "endpoint_attempts"
        ),
        vec![attempt]
    );
}
