//! Issue 11, item 2: Meta is down (`SandboxHandle::set_outage`: every send answers HTTP 500, 131000).
//!
//! - Short outage: sends are retried, the account's circuit breaker opens (new sends answer 503 with
//!   `Retry-After`), and once Meta is back every message ends `sent` or later and sends are accepted again.
//! - Long outage (2 attempts): messages end `failed` with Meta's error, and `POST /messages/{id}/retry` after the
//!   outage sends them.

mod common;

use std::time::Duration;

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::{EngineConfig, RetryPolicy};
use whatsapi_sandbox::{SandboxConfig, StatusDelays};

const MESSAGES: usize = 5;
const SENT_OR_LATER: &[&str] = &["sent", "delivered", "read"];

async fn server(max_attempts: u32, breaker_threshold: u32) -> TestServer {
    let mut options = Options::default();
    options.sandbox = Some(SandboxConfig {
        open_numbers: true,
        delays: StatusDelays {
            sent: Duration::from_millis(10),
            delivered: Duration::from_millis(20),
            read: Duration::from_millis(30),
        },
        ..SandboxConfig::default()
    });
    options.engine = EngineConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            max_attempts,
            ..RetryPolicy::default()
        },
        breaker_threshold,
        breaker_cooldown: Duration::from_millis(300),
        breaker_max_cooldown: Duration::from_millis(600),
        ..options.engine
    };
    TestServer::start_with(options).await
}

async fn bulk(s: &TestServer, key: &str, prefix: &str) -> Vec<String> {
    let messages: Vec<Value> = (0..MESSAGES)
        .map(|i| json!({"to": "14155552671", "message": format!("{prefix}-{i}")}))
        .collect();
    let (code, v) = s
        .post(key, "/messages/bulk", json!({ "messages": messages }))
        .await;
    assert_eq!((code, &v["data"]["queued"]), (202, &json!(MESSAGES)), "{v}");
    let batch = v["data"]["batchId"].as_str().unwrap();
    let (code, v) = s
        .get(key, &format!("/messages?batchId={batch}&limit=100"))
        .await;
    assert_eq!(code, 200, "{v}");
    let ids: Vec<String> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), MESSAGES, "{v}");
    ids
}

/// One `POST /send-message`: status, `Retry-After`, body.
async fn send_one(s: &TestServer, key: &str, text: &str) -> (u16, Option<String>, Value) {
    let r = s
        .client
        .post(s.url("/send-message"))
        .bearer_auth(key)
        .json(&json!({"to": "14155552671", "message": text}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, r.json().await.unwrap_or(Value::Null))
}

/// The most 500s one message got (by our id, echoed as `biz_opaque_callback_data`).
fn max_failures_of_one_message(s: &TestServer) -> usize {
    let mut per_message: std::collections::HashMap<String, usize> = Default::default();
    for r in s.sandbox.as_ref().unwrap().requests() {
        if r.http_status == 500 {
            *per_message
                .entry(r.body["biz_opaque_callback_data"].to_string())
                .or_default() += 1;
        }
    }
    per_message.into_values().max().unwrap_or(0)
}

fn failed_attempts(s: &TestServer) -> usize {
    let sb = s.sandbox.as_ref().unwrap();
    sb.requests()
        .iter()
        .filter(|r| r.http_status == 500)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_outage_opens_the_breaker_and_everything_is_sent_after_it() {
    let s = server(100, 3).await;
    let key = s.sandbox_account("short@example.com", "1234567890").await;
    let sb = s.sandbox.as_ref().unwrap();
    sb.set_outage(Some(500));
    let mut ids = bulk(&s, &key, "outage").await;

    // Retries hit the outage until the breaker opens; then new sends are refused with Retry-After.
    let mut refusal = None;
    for i in 0..400 {
        match send_one(&s, &key, &format!("probe-{i}")).await {
            (202, _, v) => ids.push(v["data"]["id"].as_str().unwrap().to_owned()),
            (503, retry_after, v) => {
                refusal = Some((retry_after, v));
                break;
            }
            (code, _, v) => panic!("{code}: {v}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (retry_after, v) = refusal.expect("the breaker never opened");
    assert!(
        retry_after
            .as_deref()
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)),
        "Retry-After: {retry_after:?}"
    );
    assert!(v["error"].as_str().unwrap().contains("paused"), "{v}");
    let failed_during = failed_attempts(&s);
    assert!(
        failed_during >= 3,
        "the breaker opened after 3 failures: {failed_during}"
    );
    // The outage goes on past a cool-down or two: the same messages are retried (and fail again).
    let mut retried = 0;
    for _ in 0..400 {
        retried = max_failures_of_one_message(&s);
        if retried >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(retried >= 2, "no message was retried during the outage");
    let failed_during_outage = failed_attempts(&s);
    for id in &ids {
        let (_, m) = s.get(&key, &format!("/messages/{id}")).await;
        assert!(
            ["queued", "processing", "retrying"].contains(&m["data"]["status"].as_str().unwrap()),
            "still pending during the outage: {m}"
        );
    }

    sb.set_outage(None);
    for id in &ids {
        s.wait_status(&key, id, SENT_OR_LATER).await;
    }
    // The breaker closed: sends are accepted again.
    let mut accepted_after = None;
    for i in 0..400 {
        match send_one(&s, &key, &format!("after-{i}")).await {
            (202, _, v) => {
                accepted_after = Some(v["data"]["id"].as_str().unwrap().to_owned());
                break;
            }
            (503, _, _) => tokio::time::sleep(Duration::from_millis(25)).await,
            (code, _, v) => panic!("{code}: {v}"),
        }
    }
    let after = accepted_after.expect("sends were never accepted again");
    s.wait_status(&key, &after, SENT_OR_LATER).await;
    let total_failed = failed_attempts(&s);
    let sent = sb.sent().len();
    println!(
        "meta_outage (short): {} messages accepted before the breaker opened; {failed_during} sends answered \
         500 before the first 503 (Retry-After {}), {failed_during_outage} while the outage lasted (one message \
         tried {retried} times), {total_failed} in all; after the outage {sent} sends \
         accepted by Meta, every message sent or later",
        ids.len(),
        retry_after.unwrap()
    );
    assert_eq!(sent, ids.len() + 1, "each message sent exactly once");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_fails_messages_with_a_reason_and_retry_sends_them() {
    // A breaker threshold out of reach, to see the attempt budget alone.
    let s = server(2, 1_000).await;
    let key = s.sandbox_account("long@example.com", "1234567890").await;
    let sb = s.sandbox.as_ref().unwrap();
    sb.set_outage(Some(500));
    let ids = bulk(&s, &key, "long").await;
    let mut reasons = Vec::new();
    for id in &ids {
        let m = s.wait_status(&key, id, &["failed"]).await;
        let reason = m["errorMessage"].as_str().unwrap_or_default().to_owned();
        assert!(
            reason.contains("Something went wrong") || reason.contains("131000"),
            "{m}"
        );
        assert!(m["failedAt"].is_string(), "{m}");
        reasons.push(reason);
    }
    assert_eq!(failed_attempts(&s), MESSAGES * 2, "2 attempts per message");
    assert!(sb.sent().is_empty());

    sb.set_outage(None);
    for id in &ids {
        let (code, v) = s
            .post(&key, &format!("/messages/{id}/retry"), Value::Null)
            .await;
        assert_eq!(code, 202, "{v}");
    }
    for id in &ids {
        s.wait_status(&key, id, SENT_OR_LATER).await;
    }
    assert_eq!(sb.sent().len(), MESSAGES);
    println!(
        "meta_outage (long): {MESSAGES} messages failed after 2 attempts each with errorMessage {:?}; retried \
         after the outage, all sent",
        reasons[0]
    );
    s.stop().await;
}
