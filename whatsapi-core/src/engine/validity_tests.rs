//! Validity periods through the engine, with the fake transport and the manual clock: a retry due after the expiry
//! fails at once, messages nobody can claim (open breaker) expire at the sweeper's pass, a claim waiting for its
//! pacing slot expires before its send, and the account's default applies to sends that set none.

use std::time::Duration;

use super::EngineConfig;
use super::harness::{Harness, config, phone, settle};
use crate::message::{EXPIRED, MessageContent, MessageId, NewMessage, Status};
use crate::send::{BulkRequest, SendRequest, field};
use crate::service::Error;
use crate::store::{MessageStore, NewBatch};
use crate::testing::Script;
use crate::transport::SendError;

const SEC: Duration = Duration::from_secs(1);

fn overloaded() -> Script {
    Script::Fail(SendError::meta(503, 131016, "Service overloaded"))
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A transient failure whose next attempt would come after the expiry fails the message at once (no Meta code,
/// the last error quoted), announces it, and the message is never sent again.
#[tokio::test(start_paused = true)]
async fn a_retry_due_after_the_expiry_fails_at_once_and_is_never_sent_again() {
    let h = Harness::with_config(EngineConfig {
        breaker_threshold: 100,
        ..config()
    });
    let _engine = h.start();
    let acc = h.account_with_webhook().await;
    h.fake.default_for("14155550001", overloaded());
    let queued = h
        .api
        .send(
            &acc,
            SendRequest::text(phone("14155550001"), "your code is 1234").validity(5 * SEC),
        )
        .await
        .unwrap();
    assert_eq!(queued.expires_at, Some(h.now() + secs(5)));
    settle().await;
    // First try at 0 s: the retry at 2 s is within the period.
    let m = h.message(&acc, queued.id).await;
    assert_eq!(m.status, Status::Retrying);
    assert_eq!(m.next_attempt_at.map(|t| h.secs(t)), Some(2.0));

    // Second try at 2 s: the next one (4 s later, at 6 s) would come after the expiry at 5 s.
    h.advance(2 * SEC).await;
    let m = h.message(&acc, queued.id).await;
    assert_eq!(m.status, Status::Failed, "{m:?}");
    assert_eq!(m.failed_at.map(|t| h.secs(t)), Some(2.0), "failed at once");
    let error = m.error_message.clone().unwrap();
    assert!(error.starts_with(EXPIRED), "{error}");
    assert!(
        error.contains("Service overloaded"),
        "names the last error: {error}"
    );
    assert_eq!(m.error_code, None, "no Meta error code");
    assert_eq!(h.calls().len(), 2);

    h.advance_by_steps(Duration::from_secs(60), 5 * SEC).await;
    assert_eq!(h.calls().len(), 2, "never sent afterwards");
    let failed: Vec<_> = h
        .sink
        .events()
        .into_iter()
        .filter_map(|e| e.status_data().cloned())
        .filter(|d| d.message_id == queued.id)
        .collect();
    assert_eq!(failed.len(), 1, "one event: {failed:?}");
    assert_eq!(failed[0].status, Status::Failed);
    assert!(
        failed[0]
            .error_message
            .as_deref()
            .unwrap()
            .starts_with(EXPIRED)
    );
}

/// Behind an open breaker nothing is claimed: a retrying message and a queued one (accepted by another replica
/// before the breaker opened) expire at the sweeper's pass after their expiry, and are not sent once the breaker
/// closes.
#[tokio::test(start_paused = true)]
async fn messages_behind_an_open_breaker_expire_at_the_sweep() {
    let h = Harness::with_config(EngineConfig {
        breaker_threshold: 1,
        breaker_cooldown: Duration::from_secs(30),
        expiry_interval: SEC,
        ..config()
    });
    let _engine = h.start();
    let acc = h.account().await;
    h.fake.default_for("14155550001", overloaded());
    let retrying = h
        .api
        .send(
            &acc,
            SendRequest::text(phone("14155550001"), "hi").validity(10 * SEC),
        )
        .await
        .unwrap()
        .id;
    settle().await;
    assert_eq!(h.status(&acc, retrying).await, Status::Retrying);
    let open_until = h.api.me(acc.id).await.unwrap().breaker.open_until;
    assert_eq!(
        open_until.map(|t| h.secs(t)),
        Some(30.0),
        "the breaker opened"
    );

    let queued = NewMessage {
        id: MessageId::new(),
        account_id: acc.id,
        batch_id: None,
        to: phone("14155550002").into(),
        reply_to: None,
        from: None,
        content: MessageContent::Text { body: "hi".into() },
        send_at: None,
        expires_at: Some(h.now() + secs(8)),
        metadata: None,
        dry_run: false,
        created_at: h.now(),
    };
    let queued_id = queued.id;
    h.store
        .insert_messages(NewBatch {
            account_id: acc.id,
            messages: vec![queued],
            idempotency: None,
        })
        .await
        .unwrap();

    h.advance_by_steps(7 * SEC, SEC).await;
    assert_eq!(h.status(&acc, queued_id).await, Status::Queued);
    assert_eq!(h.status(&acc, retrying).await, Status::Retrying);
    h.advance(SEC).await;
    let q = h.message(&acc, queued_id).await;
    assert_eq!(q.status, Status::Failed, "expired at 8 s");
    assert_eq!(q.failed_at.map(|t| h.secs(t)), Some(8.0));
    assert!(q.error_message.as_deref().unwrap().starts_with(EXPIRED));
    h.advance_by_steps(2 * SEC, SEC).await;
    let r = h.message(&acc, retrying).await;
    assert_eq!(r.status, Status::Failed, "expired at 10 s");
    assert_eq!(r.failed_at.map(|t| h.secs(t)), Some(10.0));
    assert_eq!(r.error_code, None);
    assert!(r.error_message.as_deref().unwrap().starts_with(EXPIRED));
    assert_eq!(h.count(&acc, Status::Failed).await, 2);

    h.advance_by_steps(Duration::from_secs(60), 5 * SEC).await;
    assert_eq!(h.calls().len(), 1, "only the first try ever reached Meta");
}

/// A message claimed while it waits for its number's pacing slot expires when the slot comes after its expiry:
/// failed without a send, and the next message of the number goes out.
#[tokio::test(start_paused = true)]
async fn a_message_waiting_for_its_pacing_slot_expires_unsent() {
    let h = Harness::with_config(EngineConfig {
        pace_per_second: 1,
        ..config()
    });
    let _engine = h.start();
    let acc = h.account().await;
    let first = h.send_text(&acc, "14155550001").await;
    let short = h
        .send(
            &acc,
            SendRequest::text(phone("14155550002"), "hi").validity(SEC),
        )
        .await;
    let last = h
        .send(
            &acc,
            SendRequest::text(phone("14155550003"), "hi").validity(60 * SEC),
        )
        .await;
    h.advance_by_steps(5 * SEC, Duration::from_millis(250))
        .await;
    assert_eq!(h.status(&acc, first).await, Status::Sent);
    assert_eq!(h.status(&acc, last).await, Status::Sent);
    let m = h.message(&acc, short).await;
    assert_eq!(m.status, Status::Failed);
    assert!(m.error_message.as_deref().unwrap().starts_with(EXPIRED));
    let to: Vec<String> = h.calls().into_iter().map(|c| c.to).collect();
    assert_eq!(
        to,
        ["14155550001", "14155550003"],
        "the expired one never went out"
    );
}

/// The account's default validity period applies to sends that set none (a send's own wins), and a `send_at`
/// after the expiry is refused naming `send_at`, in a single send and in a bulk item alike.
#[tokio::test(start_paused = true)]
async fn the_account_default_applies_and_a_late_send_at_is_refused() {
    let h = Harness::new();
    let acc = h.account().await;
    for bad in [
        Duration::ZERO,
        Duration::from_millis(1500),
        31 * 24 * 3600 * SEC,
    ] {
        let err = h
            .api
            .set_default_validity(acc.id, Some(bad))
            .await
            .unwrap_err();
        let Error::Validation(v) = err else {
            panic!("{bad:?}: {err:?}")
        };
        assert_eq!(v.fields()[0].field, crate::service::DEFAULT_VALIDITY);
    }
    let acc = h
        .api
        .set_default_validity(acc.id, Some(60 * SEC))
        .await
        .unwrap();
    assert_eq!(acc.default_validity, Some(60 * SEC));

    let plain = h
        .api
        .send(&acc, SendRequest::text(phone("14155552671"), "hi"))
        .await
        .unwrap();
    assert_eq!(plain.expires_at, Some(h.now() + secs(60)));
    let own = h
        .api
        .send(
            &acc,
            SendRequest::text(phone("14155552671"), "hi").validity(300 * SEC),
        )
        .await
        .unwrap();
    assert_eq!(own.expires_at, Some(h.now() + secs(300)), "its own wins");
    assert_eq!(
        h.message(&acc, own.id).await.expires_at,
        own.expires_at,
        "stored as answered"
    );

    let late = SendRequest::text(phone("14155552671"), "hi").send_at(h.now() + secs(120));
    let err = h.api.send(&acc, late.clone()).await.unwrap_err();
    let Error::Validation(v) = err else {
        panic!("{err:?}")
    };
    assert_eq!(v.fields()[0].field, field::SEND_AT);
    assert!(
        v.fields()[0]
            .message
            .contains("default validity period of 60 s"),
        "{v}"
    );
    let own_late = late.clone().validity(90 * SEC);
    let Error::Validation(v) = h.api.send(&acc, own_late).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(v.fields()[0].field, field::SEND_AT);
    assert!(
        v.fields()[0].message.contains("validity period of 90 s"),
        "{v}"
    );
    let scheduled = h
        .api
        .send(&acc, late.clone().validity(300 * SEC))
        .await
        .unwrap();
    assert_eq!(scheduled.status, Status::Scheduled);

    let bulk = h
        .api
        .send_bulk(
            &acc,
            BulkRequest::new([late, SendRequest::text(phone("14155552671"), "hi")]),
            100,
        )
        .await
        .unwrap();
    assert_eq!(bulk.queued, 1);
    assert_eq!(bulk.errors.len(), 1);
    assert_eq!(bulk.errors[0].index, 0);
    assert_eq!(bulk.errors[0].details[0].field, field::SEND_AT);

    // Cleared: sends never expire again.
    let acc = h.api.set_default_validity(acc.id, None).await.unwrap();
    let plain = h
        .api
        .send(&acc, SendRequest::text(phone("14155552671"), "hi"))
        .await
        .unwrap();
    assert_eq!(plain.expires_at, None);
}
