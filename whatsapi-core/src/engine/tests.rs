//! Engine paths, driven by hand with `ManualClock` on a paused runtime (see `harness`).

use std::time::Duration;

use serde_json::json;

use super::harness::{Harness, config, phone, settle};
use super::{EngineConfig, ShutdownReport, WebhookPolicy};
use crate::account::{AccountUpdate, BreakerState, CredentialsStatus, MetaCredentials};
use crate::message::Status;
use crate::retry::RetryPolicy;
use crate::send::{BulkRequest, SendRequest};
use crate::service::Error;
use crate::status::MetaStatus;
use crate::store::{
    FailureInfo, MessageFilter, Outcome, PageRequest, PurgePolicy, StatusUpdate, StoreError,
};
use crate::store::{MessageStore, OutboxStore, TenantStore};
use crate::testing::Script;
use crate::transport::SendError;
use crate::webhook::STATUS_UPDATED;

const SEC: Duration = Duration::from_secs(1);

fn timeline(m: &crate::message::Message) -> Vec<Status> {
    m.timeline.iter().map(|e| e.status).collect()
}

fn overloaded() -> Script {
    Script::Fail(SendError::meta(503, 131016, "Service overloaded"))
}

#[tokio::test(start_paused = true)]
async fn a_new_send_wakes_the_dispatcher_without_time_passing() {
    let h = Harness::new();
    let _engine = h.start();
    settle().await;
    let acc = h.account().await;
    let id = h.send_text(&acc, "14155552671").await;
    settle().await;
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Sent);
    assert_eq!(m.wamid.as_deref(), Some("wamid.FAKE000000000000"));
    assert_eq!(timeline(&m), [Status::Queued, Status::Sent]);
    assert_eq!(h.secs(h.now()), 0.0, "no clock movement was needed");
    assert_eq!(h.api.me(acc.id).await.unwrap().messages_sent, 1);
    let calls = h.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].phone_number_id, super::harness::PHONE_NUMBER_ID);
}

/// A message written by another replica (straight into the shared store, so no in-process wake-up) is sent
/// at once when the store raises wake-ups, and only at the next poll when it does not.
#[tokio::test(start_paused = true)]
async fn wakeups_from_the_store_start_the_dispatcher_before_its_poll() {
    for store_wakes in [false, true] {
        let store = if store_wakes {
            crate::testing::MemoryStore::with_wakeups()
        } else {
            crate::testing::MemoryStore::new()
        };
        let h = Harness::with_store(
            EngineConfig {
                idle_poll: Duration::from_secs(3600),
                ..config()
            },
            store,
        );
        let acc = h.account().await;
        let _engine = h.start();
        settle().await;
        let message = crate::message::NewMessage {
            from: None,
            id: crate::message::MessageId::new(),
            account_id: acc.id,
            batch_id: None,
            to: crate::phone::PhoneNumber::parse("14155552671")
                .unwrap()
                .into(),
            reply_to: None,
            content: crate::message::MessageContent::Text {
                body: "from another replica".into(),
            },
            send_at: None,
            expires_at: None,
            metadata: None,
            dry_run: false,
            created_at: h.now(),
        };
        let id = message.id;
        h.store
            .insert_messages(crate::store::NewBatch {
                account_id: acc.id,
                messages: vec![message],
                idempotency: None,
            })
            .await
            .unwrap();
        settle().await;
        let expected = if store_wakes {
            Status::Sent
        } else {
            Status::Queued
        };
        assert_eq!(
            h.status(&acc, id).await,
            expected,
            "store wake-ups: {store_wakes}"
        );
        // Either way the poll finds it.
        h.advance(Duration::from_secs(3600)).await;
        assert_eq!(h.status(&acc, id).await, Status::Sent);
    }
}

#[tokio::test(start_paused = true)]
async fn transient_failures_retry_on_the_policy_schedule_then_fail_with_the_last_error() {
    let h = Harness::with_config(EngineConfig {
        retry: RetryPolicy {
            max_attempts: 4,
            jitter: 0.0,
            ..RetryPolicy::default()
        },
        breaker_threshold: 100,
        ..config()
    });
    let _engine = h.start();
    let acc = h.account().await;
    h.fake.default_for("14155552671", overloaded());
    let id = h.send_text(&acc, "14155552671").await;
    settle().await;
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Retrying);
    assert_eq!(m.next_attempt_at.map(|t| h.secs(t)), Some(2.0));
    assert_eq!(
        m.error_message.as_deref(),
        Some("(#131016) Service overloaded")
    );

    h.advance_by_steps(Duration::from_secs(20), SEC).await;
    let times: Vec<f64> = h.calls().iter().map(|c| h.secs(c.at)).collect();
    assert_eq!(
        times,
        [0.0, 2.0, 6.0, 14.0],
        "base 2 s doubling, 4 attempts"
    );
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Failed);
    assert_eq!(
        m.error_message.as_deref(),
        Some("(#131016) Service overloaded")
    );
    assert_eq!(m.error_code, Some(131016));
    assert_eq!(m.failed_at.map(|t| h.secs(t)), Some(14.0));
    assert_eq!(
        timeline(&m),
        [
            Status::Queued,
            Status::Retrying,
            Status::Retrying,
            Status::Retrying,
            Status::Failed
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_from_meta_is_honoured() {
    let h = Harness::new();
    let _engine = h.start();
    let acc = h.account().await;
    let mut limited = SendError::meta(429, 130429, "Rate limit hit");
    limited.retry_after = Some(Duration::from_secs(30));
    h.fake.script("14155552671", [Script::Fail(limited)]);
    let id = h.send_text(&acc, "14155552671").await;
    h.advance_by_steps(Duration::from_secs(31), SEC).await;
    let times: Vec<f64> = h.calls().iter().map(|c| h.secs(c.at)).collect();
    assert_eq!(times, [0.0, 30.0]);
    assert_eq!(h.status(&acc, id).await, Status::Sent);
}

#[tokio::test(start_paused = true)]
async fn a_pair_rate_limit_delays_that_recipient_only() {
    let h = Harness::new();
    let _engine = h.start();
    let acc = h.account().await;
    h.fake.script(
        "14155550001",
        [Script::Fail(SendError::meta(
            400,
            131056,
            "Pair rate limit hit",
        ))],
    );
    let busy = h.send_text(&acc, "14155550001").await;
    let other = h.send_text(&acc, "14155550002").await;
    let third = h.send_text(&acc, "14155550003").await;
    settle().await;
    assert_eq!(h.status(&acc, busy).await, Status::Retrying);
    assert_eq!(h.status(&acc, other).await, Status::Sent);
    assert_eq!(h.status(&acc, third).await, Status::Sent);
    let m = h.message(&acc, busy).await;
    assert_eq!(
        m.next_attempt_at.map(|t| h.secs(t)),
        Some(6.0),
        "at least the pair interval"
    );
    h.advance_by_steps(Duration::from_secs(6), SEC).await;
    assert_eq!(h.status(&acc, busy).await, Status::Sent);
    assert_eq!(
        h.api.me(acc.id).await.unwrap().breaker,
        BreakerState::default(),
        "a busy recipient says nothing about Meta's health"
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_fails_with_metas_message() {
    let h = Harness::new();
    let _engine = h.start();
    let acc = h.account().await;
    let mut undeliverable = SendError::meta(400, 131026, "Message undeliverable");
    undeliverable.details = Some("Recipient is not a WhatsApp user".into());
    h.fake
        .script("14155552671", [Script::Fail(undeliverable.clone())]);
    let id = h.send_text(&acc, "14155552671").await;
    h.advance_by_steps(Duration::from_secs(10), SEC).await;
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Failed);
    assert_eq!(m.error_message, Some(undeliverable.user_message()));
    assert_eq!(
        m.error_message.as_deref(),
        Some("(#131026) Message undeliverable: Recipient is not a WhatsApp user")
    );
    assert_eq!(h.calls().len(), 1, "never retried");

    // A failed message can be retried by hand; the transport now accepts.
    let again = h.api.retry(acc.id, id).await.unwrap();
    assert_eq!(again.status, Status::Queued);
    settle().await;
    assert_eq!(h.status(&acc, id).await, Status::Sent);
    let err = h.api.retry(acc.id, id).await.unwrap_err();
    assert_eq!(
        err,
        Error::NotRetryable {
            status: Status::Sent
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_credentials_error_fails_and_marks_the_credentials_invalid() {
    let h = Harness::new();
    let _engine = h.start();
    let acc = h.account().await;
    h.fake.script(
        "14155552671",
        [Script::Fail(SendError::meta(
            401,
            190,
            "Error validating access token",
        ))],
    );
    let id = h.send_text(&acc, "14155552671").await;
    settle().await;
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Failed);
    assert_eq!(m.error_code, Some(190));
    match h.api.me(acc.id).await.unwrap().credentials_status {
        CredentialsStatus::Invalid { reason, .. } => {
            assert_eq!(reason, "(#190) Error validating access token")
        }
        other => panic!("expected invalid credentials, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn dry_runs_simulate_sent_and_delivered_without_meta_or_credentials() {
    let h = Harness::new();
    let _engine = h.start();
    let reg = h.api.create_account("Dry").await.unwrap();
    h.api
        .set_webhook(reg.id, "https://hooks.example/x")
        .await
        .unwrap();
    let acc = h.api.me(reg.id).await.unwrap();
    assert!(acc.credentials.is_none());

    // A real send without credentials is refused up front, not queued to fail later.
    let err = h
        .api
        .send(&acc, SendRequest::text(phone("14155552671"), "hi"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::NoCredentials);

    let id = h
        .send(
            &acc,
            SendRequest::text(phone("14155552671"), "hi").dry_run(true),
        )
        .await;
    settle().await;
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Delivered);
    assert!(m.dry_run);
    assert!(
        m.wamid.as_deref().unwrap().starts_with("wamid.DRYRUN"),
        "{:?}",
        m.wamid
    );
    assert_eq!(
        timeline(&m),
        [Status::Queued, Status::Sent, Status::Delivered]
    );
    assert!(h.calls().is_empty(), "Meta is never called");
    assert_eq!(h.api.me(acc.id).await.unwrap().messages_sent, 0);
    let statuses: Vec<Status> = h
        .sink
        .events()
        .iter()
        .map(|e| e.status_data().unwrap().status)
        .collect();
    assert_eq!(
        statuses,
        [Status::Sent, Status::Delivered],
        "webhooks fire like a real send"
    );
}

#[tokio::test(start_paused = true)]
async fn scheduled_messages_go_out_at_send_at_not_before() {
    let h = Harness::new();
    let _engine = h.start();
    let acc = h.account().await;
    let send_at = h.now() + chrono::Duration::milliseconds(10_500);
    let accepted = h
        .api
        .send(
            &acc,
            SendRequest::text(phone("14155552671"), "later").send_at(send_at),
        )
        .await
        .unwrap();
    assert_eq!(accepted.status, Status::Scheduled);
    assert_eq!(accepted.scheduled_for, Some(send_at));
    h.advance_by_steps(Duration::from_secs(10), Duration::from_millis(250))
        .await;
    assert!(h.calls().is_empty(), "nothing before sendAt");
    assert_eq!(h.status(&acc, accepted.id).await, Status::Scheduled);
    h.advance_by_steps(Duration::from_secs(1), Duration::from_millis(250))
        .await;
    let calls = h.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].at >= send_at && calls[0].at < send_at + chrono::Duration::seconds(1));
    assert_eq!(h.status(&acc, accepted.id).await, Status::Sent);
}

#[tokio::test(start_paused = true)]
async fn pacing_never_exceeds_the_rate_of_a_phone_number() {
    let h = Harness::with_config(EngineConfig {
        pace_per_second: 5,
        ..config()
    });
    let _engine = h.start();
    let acc = h.account().await;
    let messages = (0..20).map(|i| SendRequest::text(phone(&format!("1415555{i:04}")), "hi"));
    let bulk = h
        .api
        .send_bulk(&acc, BulkRequest::new(messages), 100)
        .await
        .unwrap();
    assert_eq!(bulk.queued, 20);

    // A second business number is paced on its own.
    let other = h.api.create_account("Other").await.unwrap();
    let other = h
        .api
        .set_credentials(
            other.id,
            MetaCredentials {
                waba_id: None,
                verify_token_hash: None,
                access_token: "EAAother".into(),
                phone_number_id: "999".into(),
                app_secret: None,
                verify_token: None,
                throughput_per_second: None,
            },
        )
        .await
        .unwrap();
    for i in 0..3 {
        h.send_text(&other, &format!("1415666{i:04}")).await;
    }

    h.advance_by_steps(Duration::from_secs(5), Duration::from_millis(50))
        .await;
    let calls = h.calls();
    let ours: Vec<f64> = calls
        .iter()
        .filter(|c| c.phone_number_id == super::harness::PHONE_NUMBER_ID)
        .map(|c| h.secs(c.at))
        .collect();
    assert_eq!(ours.len(), 20);
    for (i, t) in ours.iter().enumerate() {
        let in_window = ours.iter().filter(|x| **x >= *t && **x < t + 1.0).count();
        assert!(
            in_window <= 5,
            "{in_window} sends in the second after {t} (#{i})"
        );
    }
    let expected: Vec<f64> = (0..20).map(|i| f64::from(i * 200) / 1000.0).collect();
    assert_eq!(ours, expected, "evenly spaced at the rate, no slower");
    let theirs: Vec<f64> = calls
        .iter()
        .filter(|c| c.phone_number_id == "999")
        .map(|c| h.secs(c.at))
        .collect();
    assert_eq!(
        theirs,
        [0.0, 0.2, 0.4],
        "not queued behind the other number"
    );
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_pauses_sending_probes_once_and_closes() {
    let h = Harness::with_config(EngineConfig {
        breaker_threshold: 3,
        ..config()
    });
    let _engine = h.start();
    let acc = h.account().await;
    h.fake.default_all(overloaded());
    let ids = [
        h.send_text(&acc, "14155550001").await,
        h.send_text(&acc, "14155550002").await,
        h.send_text(&acc, "14155550003").await,
    ];
    settle().await;
    assert_eq!(h.calls().len(), 3);
    let acc = h.api.me(acc.id).await.unwrap();
    assert_eq!(acc.breaker.open_until.map(|t| h.secs(t)), Some(30.0));
    assert_eq!(acc.breaker.trips, 1);

    // While open, new sends are refused with the time until the probe.
    h.advance(Duration::from_secs(10)).await;
    let err = h
        .api
        .send(&acc, SendRequest::text(phone("14155552671"), "hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BreakerOpen {
            retry_after: Duration::from_secs(20)
        }
    );
    let bulk = h
        .api
        .send_bulk(
            &acc,
            BulkRequest::new([SendRequest::text(phone("14155552671"), "hi")]),
            100,
        )
        .await;
    assert!(matches!(bulk, Err(Error::BreakerOpen { .. })));

    // Retries came due at 2 s but nothing is sent while the breaker is open.
    h.advance_by_steps(Duration::from_secs(19), SEC).await;
    assert_eq!(h.calls().len(), 3);

    // At 30 s exactly one message probes; it fails, so the breaker opens again for twice as long.
    h.advance(SEC).await;
    assert_eq!(h.calls().len(), 4, "one probe");
    let acc = h.api.me(acc.id).await.unwrap();
    assert_eq!(acc.breaker.open_until.map(|t| h.secs(t)), Some(90.0));
    assert_eq!(acc.breaker.trips, 2);
    h.advance_by_steps(Duration::from_secs(59), SEC).await;
    assert_eq!(h.calls().len(), 4);

    // Meta recovers: the next probe succeeds, closes the breaker, and the rest follow.
    h.fake.default_all(Script::Accept);
    h.advance(SEC).await;
    assert_eq!(h.calls().len(), 7);
    for id in ids {
        assert_eq!(h.status(&acc, id).await, Status::Sent);
    }
    let acc = h.api.me(acc.id).await.unwrap();
    assert_eq!(acc.breaker, BreakerState::default());
    h.api
        .send(&acc, SendRequest::text(phone("14155552671"), "hi"))
        .await
        .unwrap();
}

/// Two replicas on one shared store pace a number together: the rate is the number's, not each replica's.
#[tokio::test(start_paused = true)]
async fn two_replicas_on_a_shared_store_keep_to_the_rate_of_a_number_together() {
    let cfg = EngineConfig {
        pace_per_second: 5,
        ..config()
    };
    let h = Harness::with_store(cfg.clone(), crate::testing::MemoryStore::with_wakeups());
    let other = h.replica(cfg);
    let _a = h.start();
    let _b = other.start();
    let acc = h.account().await;
    let messages = (0..20).map(|i| SendRequest::text(phone(&format!("1415555{i:04}")), "hi"));
    h.api
        .send_bulk(&acc, BulkRequest::new(messages), 100)
        .await
        .unwrap();
    h.advance_by_steps(Duration::from_secs(6), Duration::from_millis(50))
        .await;
    let sends: Vec<f64> = h.calls().iter().map(|c| h.secs(c.at)).collect();
    assert_eq!(sends.len(), 20);
    for (i, t) in sends.iter().enumerate() {
        let in_window = sends.iter().filter(|x| **x >= *t && **x < t + 1.0).count();
        assert!(
            in_window <= 5,
            "{in_window} sends in the second after {t} (#{i}): {sends:?}"
        );
    }
    // Not slower than one replica alone would be (20 sends at 5/s end by 4 s), save a slot or two.
    assert!(sends.iter().all(|t| *t < 4.5), "{sends:?}");
}

/// Two replicas see the same failures and the same half-open breaker: the failures of both add up to the
/// threshold, and one probe goes out between them.
#[tokio::test(start_paused = true)]
async fn two_replicas_count_failures_together_and_send_one_probe() {
    // One send in flight per replica, so each replica holds a message of its own when the breaker is half-open.
    let cfg = EngineConfig {
        breaker_threshold: 4,
        concurrency: 1,
        dispatch_batch: 1,
        ..config()
    };
    let h = Harness::with_store(cfg.clone(), crate::testing::MemoryStore::with_wakeups());
    let other = h.replica(cfg);
    let acc = h.account().await;
    h.fake.default_all(overloaded());
    let gate = h.close_gate();
    let _a = h.start();
    let _b = other.start();
    for i in 0..4 {
        h.send_text(&acc, &format!("141555500{i:02}")).await;
    }
    settle().await;
    assert_eq!(h.calls().len(), 2, "one send in flight on each replica");
    gate.add_permits(100);
    settle().await;
    assert_eq!(h.calls().len(), 4);
    let breaker = h.api.me(acc.id).await.unwrap().breaker;
    assert_eq!(
        (breaker.trips, breaker.open_until.map(|t| h.secs(t))),
        (1, Some(30.0)),
        "four failures, four counted: {breaker:?}"
    );
    // From 30 s both replicas find messages due again; one of them probes, held in flight here while the other
    // polls a few times: it waits for the verdict instead of probing too.
    let gate = h.close_gate();
    h.advance_by_steps(Duration::from_secs(34), SEC).await;
    assert_eq!(h.calls().len(), 5, "one probe across both replicas");
    let breaker = h.api.me(acc.id).await.unwrap().breaker;
    assert!(breaker.probing, "{breaker:?}");
    gate.add_permits(100);
    settle().await;
    assert_eq!(h.calls().len(), 5);
    let breaker = h.api.me(acc.id).await.unwrap().breaker;
    assert_eq!(breaker.trips, 2, "the probe failed: open again");
    assert!(!breaker.probing);
    assert_eq!(breaker.open_until.map(|t| h.secs(t)), Some(94.0));
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_claimed_again_and_the_stale_worker_is_fenced() {
    let h = Harness::new();
    let acc = h.account().await;
    let crashed = h.send_text(&acc, "14155550001").await;
    // A worker claims it and dies.
    let claimed = h
        .store
        .claim_due(h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].message.attempt, 1);

    let _engine = h.start();
    h.advance_by_steps(Duration::from_secs(59), SEC).await;
    assert!(h.calls().is_empty(), "the lease still holds");
    h.advance(SEC).await;
    assert_eq!(h.calls().len(), 1);
    let m = h.message(&acc, crashed).await;
    assert_eq!((m.status, m.attempt), (Status::Sent, 2));

    // The old worker wakes up and tries to record its attempt: refused.
    let stale = h
        .store
        .record_outcome(
            crashed,
            1,
            Outcome::Failed {
                error: FailureInfo {
                    meta: None,
                    message: "late".into(),
                    code: None,
                },
            },
            h.now(),
        )
        .await;
    assert_eq!(stale, Err(StoreError::Stale));
    assert_eq!(h.status(&acc, crashed).await, Status::Sent);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_send_past_its_lease_cannot_overwrite_the_newer_attempt() {
    let h = Harness::new();
    let _engine = h.start();
    let acc = h.account().await;
    let gate = h.close_gate();
    let id = h.send_text(&acc, "14155550001").await;
    settle().await;
    assert_eq!(h.calls().len(), 1, "attempt 1 is stuck inside Meta's call");
    h.advance(Duration::from_secs(61)).await;
    assert_eq!(h.calls().len(), 2, "attempt 2 after the lease ended");

    // Attempt 1 returns first (wamid.FAKE…0): its outcome is stale and dropped.
    gate.add_permits(1);
    settle().await;
    assert_eq!(h.status(&acc, id).await, Status::Processing);
    gate.add_permits(1);
    settle().await;
    let m = h.message(&acc, id).await;
    assert_eq!(m.status, Status::Sent);
    assert_eq!(m.attempt, 2);
    assert_eq!(m.wamid.as_deref(), Some("wamid.FAKE000000000001"));
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_finishes_running_sends_and_releases_the_rest() {
    // At 8/s a claim takes two messages of the number (what it sends in 250 ms): the first goes to Meta, the
    // second waits for its slot 125 ms later, and the third is not claimed before the number has room.
    let h = Harness::with_config(EngineConfig {
        pace_per_second: 8,
        ..config()
    });
    let engine = h.start();
    let acc = h.account().await;
    let gate = h.close_gate();
    let ids = [
        h.send_text(&acc, "14155550001").await,
        h.send_text(&acc, "14155550002").await,
        h.send_text(&acc, "14155550003").await,
    ];
    settle().await;
    assert_eq!(
        h.calls().len(),
        1,
        "one in Meta's call, one waiting for its pacing slot"
    );
    assert_eq!(
        futures_statuses(&h, &acc, &ids).await,
        [Status::Processing, Status::Processing, Status::Queued],
        "the third is not claimed ahead of its slot"
    );

    let shutdown = tokio::spawn(engine.shutdown(Duration::from_secs(30)));
    settle().await;
    assert!(!shutdown.is_finished(), "waits for the running send");
    let statuses: Vec<Status> = futures_statuses(&h, &acc, &ids).await;
    assert_eq!(
        statuses,
        [Status::Processing, Status::Queued, Status::Queued]
    );
    gate.add_permits(1);
    settle().await;
    let report = shutdown.await.unwrap();
    assert_eq!(
        report,
        ShutdownReport {
            sends_finished: 1,
            sends_released: 1,
            sends_abandoned: 0,
            deliveries_abandoned: 0,
        }
    );
    let statuses: Vec<Status> = futures_statuses(&h, &acc, &ids).await;
    assert_eq!(statuses, [Status::Sent, Status::Queued, Status::Queued]);
    let released = h.message(&acc, ids[1]).await;
    assert_eq!(released.tries, 0, "a released try does not count");

    // Nothing is lost: the next engine sends the released messages.
    gate.add_permits(10);
    let _engine = h.start();
    h.advance_by_steps(Duration::from_secs(5), SEC).await;
    let statuses: Vec<Status> = futures_statuses(&h, &acc, &ids).await;
    assert_eq!(statuses, [Status::Sent; 3]);
}

#[tokio::test(start_paused = true)]
async fn outcomes_waiting_for_their_batch_are_recorded_before_shutdown_reports() {
    // Outcomes wait an hour (of Tokio's paused time) for others to join their batch: the sends are done, their
    // outcomes are not recorded yet when shutdown begins.
    let h = Harness::with_config(EngineConfig {
        outcome_delay: Duration::from_secs(3600),
        ..config()
    });
    let engine = h.start();
    let acc = h.account().await;
    let ids = [
        h.send_text(&acc, "14155550001").await,
        h.send_text(&acc, "14155550002").await,
        h.send_text(&acc, "14155550003").await,
    ];
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(h.calls().len(), 3, "every send reached Meta");
    assert_eq!(
        futures_statuses(&h, &acc, &ids).await,
        [Status::Processing; 3],
        "their outcomes wait in the batch"
    );
    let report = engine.shutdown(Duration::from_secs(30)).await;
    assert_eq!(
        report.sends_finished, 3,
        "each send ends once its outcome is recorded"
    );
    assert_eq!(futures_statuses(&h, &acc, &ids).await, [Status::Sent; 3]);
    assert_eq!(
        h.store
            .account(acc.id)
            .await
            .unwrap()
            .unwrap()
            .messages_sent,
        3
    );
}

async fn futures_statuses(
    h: &Harness,
    acc: &crate::account::Account,
    ids: &[crate::message::MessageId],
) -> Vec<Status> {
    let mut out = Vec::new();
    for id in ids {
        out.push(h.status(acc, *id).await);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_send_stuck_past_the_shutdown_deadline_is_cut_off_and_sent_again_later() {
    let h = Harness::new();
    let engine = h.start();
    let acc = h.account().await;
    let gate = h.close_gate();
    let id = h.send_text(&acc, "14155550001").await;
    settle().await;
    let shutdown = tokio::spawn(engine.shutdown(Duration::from_secs(5)));
    settle().await;
    h.advance(Duration::from_secs(5)).await;
    let report = shutdown.await.unwrap();
    assert_eq!(report.sends_abandoned, 1);
    assert_eq!(h.status(&acc, id).await, Status::Processing);

    gate.add_permits(10);
    let _engine = h.start();
    h.advance_by_steps(Duration::from_secs(60), SEC).await;
    assert_eq!(h.status(&acc, id).await, Status::Sent);
    assert_eq!(
        h.calls().len(),
        2,
        "at least once: the cut-off call may have reached Meta"
    );
}

#[tokio::test(start_paused = true)]
async fn webhook_events_of_a_message_arrive_in_status_order_with_one_retry() {
    let h = Harness::new();
    let _engine = h.start();
    let acc = h.account_with_webhook().await;
    h.sink.answer_with([Err("connection refused".to_string())]);
    let id = h
        .send(
            &acc,
            SendRequest::text(phone("14155552671"), "hi")
                .metadata(json!({"orderId": "1234"}).as_object().unwrap().clone()),
        )
        .await;
    settle().await;
    let wamid = h.message(&acc, id).await.wamid.unwrap();
    let delivered_at = h.now() + chrono::Duration::seconds(1);
    let applied = h
        .api
        .apply_status_updates(&[StatusUpdate {
            pricing: None,
            account_id: Some(acc.id),
            wamid,
            status: MetaStatus::Delivered,
            at: delivered_at,
            error: None,
        }])
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    settle().await;
    assert_eq!(
        h.sink.events().len(),
        1,
        "delivered waits for sent to get through"
    );

    h.advance_by_steps(Duration::from_secs(4), SEC).await;
    assert_eq!(h.sink.events().len(), 1, "the retry comes after 5 s");
    h.advance(SEC).await;
    let events = h.sink.events();
    let statuses: Vec<Status> = events
        .iter()
        .map(|e| e.status_data().unwrap().status)
        .collect();
    assert_eq!(statuses, [Status::Sent, Status::Sent, Status::Delivered]);
    assert_eq!(events[0].id, events[1].id, "a retry keeps the event id");
    let delivered = &events[2];
    assert_eq!(delivered.event, STATUS_UPDATED);
    assert_eq!(delivered.timestamp, delivered_at);
    assert_eq!(delivered.status_data().unwrap().message_id, id);
    assert_eq!(
        delivered.status_data().unwrap().delivered_at,
        Some(delivered_at)
    );
    assert_eq!(
        delivered.status_data().unwrap().metadata.as_ref().unwrap()["orderId"],
        "1234"
    );
    let (target, _) = &h.sink.deliveries()[0];
    assert_eq!(target.url, "https://hooks.example/whatsapi");
    assert!(target.secret.starts_with("whsec_"));

    let attempts = h.store.delivery_attempts(acc.id, 10).await.unwrap();
    let summary: Vec<(Status, Option<u16>, Option<&str>, f64)> = attempts
        .iter()
        .map(|a| {
            (
                a.status.unwrap(),
                a.http_status,
                a.error.as_deref(),
                h.secs(a.at),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Status::Delivered, Some(200), None, 5.0),
            (Status::Sent, Some(200), None, 5.0),
            (Status::Sent, None, Some("connection refused"), 0.0),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_webhook_that_keeps_failing_is_given_up_and_a_removed_one_drops_events() {
    let h = Harness::with_config(EngineConfig {
        webhook: WebhookPolicy {
            retry_delays: vec![Duration::from_secs(5), Duration::from_secs(10)],
            ..WebhookPolicy::default()
        },
        ..config()
    });
    let _engine = h.start();
    let acc = h.account_with_webhook().await;
    h.sink.answer_with([Ok(500), Ok(502), Ok(503)]);
    h.send_text(&acc, "14155550001").await;
    h.advance_by_steps(Duration::from_secs(20), SEC).await;
    let times: Vec<f64> = h
        .store
        .delivery_attempts(acc.id, 10)
        .await
        .unwrap()
        .iter()
        .rev()
        .map(|a| h.secs(a.at))
        .collect();
    assert_eq!(
        times,
        [0.0, 5.0, 15.0],
        "first try and the two configured retries, then no more"
    );

    // Events written while a webhook existed are dropped without an attempt once it is removed.
    h.sink.answer_with([Err("timeout".to_string())]);
    h.send_text(&acc, "14155550002").await;
    settle().await;
    assert_eq!(h.sink.events().len(), 4);
    h.api.remove_webhook(acc.id).await.unwrap();
    h.advance_by_steps(Duration::from_secs(10), SEC).await;
    assert_eq!(h.sink.events().len(), 4);
    assert_eq!(
        h.store.delivery_attempts(acc.id, 10).await.unwrap().len(),
        4
    );
    // And with no webhook nothing is queued at all.
    h.send_text(&acc, "14155550003").await;
    h.advance_by_steps(Duration::from_secs(10), SEC).await;
    assert_eq!(h.sink.events().len(), 4);
    let leftover = h
        .store
        .claim_events(h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(leftover.is_empty(), "{leftover:?}");
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_purges_old_rows_on_its_interval() {
    let h = Harness::with_config(EngineConfig {
        sweep_interval: Duration::from_secs(60),
        purge: PurgePolicy {
            events_older_than: Duration::from_secs(3600),
            pending_statuses_older_than: Duration::from_secs(3600),
        },
        ..config()
    });
    let _engine = h.start();
    let acc = h.account_with_webhook().await;
    h.send_text(&acc, "14155550001").await;
    settle().await;
    assert_eq!(
        h.store.delivery_attempts(acc.id, 10).await.unwrap().len(),
        1
    );
    h.advance_by_steps(Duration::from_secs(3540), Duration::from_secs(60))
        .await;
    assert_eq!(
        h.store.delivery_attempts(acc.id, 10).await.unwrap().len(),
        1,
        "not old enough yet"
    );
    h.advance_by_steps(Duration::from_secs(120), Duration::from_secs(60))
        .await;
    assert!(
        h.store
            .delivery_attempts(acc.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn messages_of_a_deactivated_account_wait_and_list_filters_work() {
    let h = Harness::new();
    let acc = h.account().await;
    let a = h.send_text(&acc, "14155550001").await;
    h.store
        .update_account(acc.id, AccountUpdate::SetActive(false))
        .await
        .unwrap();
    let _engine = h.start();
    h.advance_by_steps(Duration::from_secs(3), SEC).await;
    assert_eq!(h.status(&acc, a).await, Status::Queued);
    assert!(h.calls().is_empty());
    h.store
        .update_account(acc.id, AccountUpdate::SetActive(true))
        .await
        .unwrap();
    h.advance(SEC).await;
    assert_eq!(
        h.status(&acc, a).await,
        Status::Sent,
        "polling notices work it was not woken for"
    );
    let page = h
        .api
        .list_messages(
            acc.id,
            MessageFilter {
                status: Some(Status::Sent),
                batch_id: None,
            },
            PageRequest { page: 1, limit: 20 },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
}

/// Sends of each message, by the simulated time of their first transport call.
fn sent_at(h: &Harness, ids: &[crate::message::MessageId]) -> Vec<Option<f64>> {
    let calls = h.calls();
    ids.iter()
        .map(|id| {
            calls
                .iter()
                .find(|c| c.message_id == *id)
                .map(|c| h.secs(c.at))
        })
        .collect()
}

/// Tenant A's campaign of 5,000 queued messages, paced at 80/s on its number, takes a minute to go out; tenant
/// B's sends on its own number meanwhile go out at once, not behind A's backlog, and A keeps its full rate.
#[tokio::test(start_paused = true)]
async fn one_tenants_backlog_never_delays_another_tenants_sends() {
    let h = Harness::with_config(EngineConfig {
        pace_per_second: 80,
        ..config()
    });
    let a = h.account_on("111").await;
    let b = h.account_on("222").await;
    h.backlog(&a, 5_000).await;
    let _engine = h.start();
    h.advance_by_steps(Duration::from_millis(500), Duration::from_millis(50))
        .await;

    let mut ours = Vec::new();
    let mut sent_after = Vec::new();
    for i in 0..20 {
        let asked = h.secs(h.now());
        let id = h.send_text(&b, &format!("1415666{i:04}")).await;
        ours.push(id);
        h.advance_by_steps(Duration::from_millis(200), Duration::from_millis(50))
            .await;
        let at = sent_at(&h, &[id])[0].unwrap_or(f64::INFINITY);
        sent_after.push(at - asked);
    }
    for id in &ours {
        assert_eq!(h.status(&b, *id).await, Status::Sent);
    }
    assert!(
        sent_after.iter().all(|d| *d < 0.05),
        "B's sends waited (s): {sent_after:?}"
    );
    let queued = h.count(&a, Status::Queued).await;
    assert!(queued > 4_000, "A's backlog is still there: {queued}");

    // A went on at its rate, never above it.
    let theirs: Vec<f64> = h
        .calls()
        .iter()
        .filter(|c| c.phone_number_id == "111")
        .map(|c| h.secs(c.at))
        .collect();
    let elapsed = h.secs(h.now());
    assert!(
        theirs.len() as f64 >= 80.0 * elapsed - 2.0,
        "{} sends of A in {elapsed} s",
        theirs.len()
    );
    for (i, t) in theirs.iter().enumerate() {
        let in_window = theirs[i..].iter().take_while(|x| **x < t + 1.0).count();
        assert!(
            in_window <= 80,
            "{in_window} sends of A in the second after {t}"
        );
    }
}

/// Messages waiting for their number's pacing slot hold no place among the sends in flight: with room for 4
/// sends and three numbers each with a backlog at its rate, a fourth number's sends still go out at once, and
/// each backlogged number keeps its own rate.
#[tokio::test(start_paused = true)]
async fn numbers_at_their_rate_never_block_one_that_is_not() {
    let h = Harness::with_config(EngineConfig {
        pace_per_second: 80,
        concurrency: 4,
        ..config()
    });
    let busy = [
        h.account_on("111").await,
        h.account_on("333").await,
        h.account_on("444").await,
    ];
    for acc in &busy {
        h.backlog(acc, 1_000).await;
    }
    let b = h.account_on("222").await;
    let _engine = h.start();
    h.advance_by_steps(Duration::from_millis(300), Duration::from_millis(50))
        .await;

    let mut ours = Vec::new();
    for i in 0..20 {
        ours.push(h.send_text(&b, &format!("1415666{i:04}")).await);
    }
    settle().await;
    let start = h.secs(h.now());
    h.advance_by_steps(Duration::from_secs(2), Duration::from_millis(50))
        .await;
    let waits: Vec<f64> = sent_at(&h, &ours)
        .iter()
        .map(|t| t.map_or(f64::INFINITY, |t| t - start))
        .collect();
    // B's own number spaces its 20 sends over 0.24 s; the clock moves in 50 ms steps.
    assert!(
        waits.iter().all(|w| *w < 0.3),
        "B's 20 sends, seconds after they were asked for: {waits:?}"
    );
    let elapsed = h.secs(h.now());
    for (acc, number) in busy.iter().zip(["111", "333", "444"]) {
        let n = h
            .calls()
            .iter()
            .filter(|c| c.phone_number_id == number)
            .count();
        assert!(
            n as f64 >= 80.0 * elapsed - 2.0 && n as f64 <= 80.0 * elapsed + 1.0,
            "number {number}: {n} sends in {elapsed} s"
        );
        assert!(h.count(acc, Status::Queued).await > 700);
    }
}

// ---- webhook endpoints (event subscriptions) ----

mod endpoints {
    use super::*;
    use crate::endpoints::{STANDARD_RETRY_SCHEDULE, WebhookEndpoint};
    use crate::service::EndpointRequest;
    use crate::webhook::WebhookEvent;

    async fn endpoint(
        h: &Harness,
        account: &crate::account::Account,
        url: &str,
        events: &[&str],
        schedule: Option<Vec<Duration>>,
    ) -> WebhookEndpoint {
        h.api
            .create_webhook_endpoint(
                account.id,
                EndpointRequest {
                    url: url.into(),
                    events: events.iter().map(|e| (*e).to_owned()).collect(),
                    enabled: true,
                    retry_schedule: schedule,
                },
            )
            .await
            .unwrap()
    }

    fn statuses(events: &[WebhookEvent]) -> Vec<Status> {
        events
            .iter()
            .map(|e| e.status_data().unwrap().status)
            .collect()
    }

    async fn deliver_and_read(
        h: &Harness,
        account: &crate::account::Account,
        id: crate::message::MessageId,
    ) {
        let wamid = h.message(account, id).await.wamid.unwrap();
        for (status, secs) in [(MetaStatus::Delivered, 1), (MetaStatus::Read, 2)] {
            h.api
                .apply_status_updates(&[StatusUpdate {
                    pricing: None,
                    account_id: None,
                    wamid: wamid.clone(),
                    status,
                    at: h.now() + chrono::Duration::seconds(secs),
                    error: None,
                }])
                .await
                .unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_down_for_an_hour_gets_its_events_in_order_once_back() {
        let h = Harness::new();
        let _engine = h.start();
        let acc = h.account_with_webhook().await;
        let down = "https://down.example/hook";
        let healthy = "https://healthy.example/hook";
        let e = endpoint(&h, &acc, down, &[], Some(STANDARD_RETRY_SCHEDULE.to_vec())).await;
        endpoint(&h, &acc, healthy, &[STATUS_UPDATED], None).await;
        h.sink.answer_url(down, Err("connection refused".into()));

        let id = h.send_text(&acc, "14155552671").await;
        settle().await;
        deliver_and_read(&h, &acc, id).await;
        settle().await;
        let all = [Status::Sent, Status::Delivered, Status::Read];
        assert_eq!(statuses(&h.sink.events_to(healthy)), all, "not held up");
        assert_eq!(
            statuses(&h.sink.events_to("https://hooks.example/whatsapi")),
            all,
            "the reference webhook gets every event as before"
        );

        // Down for an hour: tried at once, then 5 s, 5 min and 30 min after each failure (the clock moves by the
        // minute here, so the 5 s retry goes at 60 s), always the sent event first.
        h.advance_by_steps(Duration::from_secs(3600), Duration::from_secs(60))
            .await;
        let tried = h.sink.events_to(down);
        assert_eq!(statuses(&tried), [Status::Sent; 4], "{tried:?}");
        let times: Vec<f64> = h
            .api
            .webhook_endpoint_deliveries(acc.id, e.id, 50)
            .await
            .unwrap()
            .iter()
            .rev()
            .map(|a| h.secs(a.at))
            .collect();
        assert_eq!(times, [0.0, 60.0, 360.0, 2160.0]);

        // Back: the next retry (2 h after the last) takes the sent event, then the rest follow in order.
        h.sink.clear_url(down);
        h.advance_by_steps(Duration::from_secs(5700), Duration::from_secs(60))
            .await;
        assert_eq!(h.sink.events_to(down).len(), 4, "not before the 2 h retry");
        h.advance_by_steps(Duration::from_secs(120), Duration::from_secs(60))
            .await;
        let got = h.sink.events_to(down);
        assert_eq!(
            statuses(&got),
            [
                Status::Sent,
                Status::Sent,
                Status::Sent,
                Status::Sent,
                Status::Sent,
                Status::Delivered,
                Status::Read
            ]
        );
        assert!(
            got[..5].iter().all(|e| e.id == got[0].id),
            "one event, retried"
        );
        let attempts = h
            .api
            .webhook_endpoint_deliveries(acc.id, e.id, 50)
            .await
            .unwrap();
        assert_eq!(attempts.len(), 7);
        let times: Vec<f64> = attempts.iter().rev().map(|a| h.secs(a.at)).collect();
        assert_eq!(
            times,
            [0.0, 60.0, 360.0, 2160.0, 9360.0, 9360.0, 9360.0],
            "the retry 2 h after the last failure goes through, the later events right after it"
        );
        assert_eq!(
            h.sink.events_to(healthy).len(),
            3,
            "nothing twice elsewhere"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_endpoint_never_delays_another() {
        let h = Harness::with_config(EngineConfig {
            webhook: WebhookPolicy {
                concurrency: 4,
                per_destination: 2,
                ..WebhookPolicy::default()
            },
            ..config()
        });
        let _engine = h.start();
        let acc = h.account().await;
        let slow = "https://slow.example/hook";
        let fast = "https://fast.example/hook";
        endpoint(&h, &acc, slow, &[], None).await;
        endpoint(&h, &acc, fast, &[], None).await;
        h.sink.pause_url(slow);
        for i in 0..6 {
            h.send_text(&acc, &format!("1415555000{i}")).await;
        }
        h.advance_by_steps(Duration::from_secs(5), SEC).await;
        assert_eq!(
            h.sink.events_to(fast).len(),
            6,
            "every event reached the fast endpoint while the slow one hangs"
        );
        assert!(h.sink.events_to(slow).is_empty());
        h.sink.resume_url(slow);
        h.advance_by_steps(Duration::from_secs(5), SEC).await;
        assert_eq!(h.sink.events_to(slow).len(), 6);
        assert_eq!(h.sink.events_to(fast).len(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_gone_endpoint_is_disabled_and_a_failed_delivery_can_be_resent() {
        let h = Harness::new();
        let _engine = h.start();
        let acc = h.account().await;
        let gone = "https://gone.example/hook";
        let flaky = "https://flaky.example/hook";
        let g = endpoint(&h, &acc, gone, &[], None).await;
        let f = endpoint(&h, &acc, flaky, &[], Some(vec![])).await;
        h.sink.answer_url(gone, Ok(410));
        h.sink.answer_url(flaky, Ok(500));
        h.send_text(&acc, "14155550001").await;
        h.advance_by_steps(Duration::from_secs(30), SEC).await;
        assert_eq!(h.sink.events_to(gone).len(), 1, "410: not retried");
        assert_eq!(h.sink.events_to(flaky).len(), 1, "no retries configured");
        let listed = h.api.webhook_endpoints(acc.id).await.unwrap();
        let g_now = listed.iter().find(|e| e.id == g.id).unwrap();
        assert!(!g_now.enabled);
        assert!(g_now.disabled_reason.as_deref().unwrap().contains("410"));
        assert!(listed.iter().find(|e| e.id == f.id).unwrap().enabled);

        // Disabled: later events are not written for it.
        h.sink.clear_url(flaky);
        h.send_text(&acc, "14155550002").await;
        h.advance_by_steps(Duration::from_secs(5), SEC).await;
        assert_eq!(h.sink.events_to(gone).len(), 1);
        assert_eq!(h.sink.events_to(flaky).len(), 2);

        // The failed delivery is sent again with its id; a delivered one or an unknown id is refused.
        let failed = &h
            .api
            .webhook_endpoint_deliveries(acc.id, f.id, 50)
            .await
            .unwrap()[1];
        assert_eq!(failed.http_status, Some(500));
        h.api
            .retry_webhook_delivery(acc.id, failed.event_id)
            .await
            .unwrap();
        settle().await;
        let to_flaky = h.sink.events_to(flaky);
        assert_eq!(to_flaky.len(), 3);
        assert_eq!(to_flaky[2].id, Some(failed.event_id));
        assert!(matches!(
            h.api.retry_webhook_delivery(acc.id, failed.event_id).await,
            Err(Error::Conflict(_))
        ));
        let other = h.account().await;
        assert!(matches!(
            h.api
                .retry_webhook_delivery(other.id, failed.event_id)
                .await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn endpoint_requests_are_checked() {
        let h = Harness::new();
        let acc = h.account().await;
        let bad = h
            .api
            .create_webhook_endpoint(
                acc.id,
                EndpointRequest {
                    url: "http://127.0.0.1/hook".into(),
                    events: vec!["message.sent".into()],
                    enabled: true,
                    retry_schedule: Some(vec![Duration::from_secs(40_000)]),
                },
            )
            .await;
        let Err(Error::Validation(errs)) = bad else {
            panic!("{bad:?}")
        };
        let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "events", "retrySchedule"]);
        for i in 0..crate::endpoints::MAX_ENDPOINTS_PER_ACCOUNT {
            endpoint(&h, &acc, &format!("https://e{i}.example/hook"), &[], None).await;
        }
        let over = h
            .api
            .create_webhook_endpoint(
                acc.id,
                EndpointRequest {
                    url: "https://one-more.example/hook".into(),
                    events: vec![],
                    enabled: true,
                    retry_schedule: None,
                },
            )
            .await;
        assert!(matches!(over, Err(Error::Conflict(_))), "{over:?}");
    }
}
