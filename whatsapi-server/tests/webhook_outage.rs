//! Issue 11, item 3: customer webhook endpoints that are down (connection refused), slow (past the delivery
//! timeout) or failing (HTTP 500). Every attempt is recorded in `GET /auth/me/webhook/deliveries` with the
//! endpoint's status or the error; each event is tried 1 + retries times and then given up; meanwhile another
//! account's healthy endpoint receives its events.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::{EngineConfig, WebhookPolicy};

/// Messages (hence `sent` events) per failing account.
const EVENTS: usize = 5;
const RETRIES: usize = 2;
const TIMEOUT: Duration = Duration::from_millis(400);

type Hits = Arc<Mutex<Vec<Instant>>>;

/// A receiver on loopback: `handler` decides the answer; every request is counted.
async fn receiver(answer: StatusCode, delay: Duration) -> (String, Hits) {
    let hits: Hits = Arc::default();
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let h = h.clone();
            async move {
                h.lock().unwrap().push(Instant::now());
                tokio::time::sleep(delay).await;
                answer
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// A URL on loopback with nothing listening (bound, then released).
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    drop(l);
    url
}

async fn account(s: &TestServer, email: &str, hook: &str) -> String {
    let key = s.account_with_credentials(email).await;
    let r = s
        .client
        .put(s.url("/auth/me/webhook"))
        .bearer_auth(&key)
        .json(&json!({ "url": hook }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{email}");
    key
}

async fn send(s: &TestServer, key: &str, i: usize) -> String {
    let (code, v) = s
        .post(
            key,
            "/send-message",
            json!({"to": "14155552671", "message": format!("m{i}")}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    v["data"]["id"].as_str().unwrap().to_owned()
}

async fn deliveries(s: &TestServer, key: &str) -> Vec<Value> {
    let (code, v) = s.get(key, "/auth/me/webhook/deliveries?limit=200").await;
    assert_eq!(code, 200, "{v}");
    v["data"].as_array().unwrap().clone()
}

/// Waits (bounded) until `key` has `n` recorded attempts.
async fn wait_attempts(s: &TestServer, key: &str, n: usize, what: &str) -> Vec<Value> {
    for _ in 0..400 {
        let d = deliveries(s, key).await;
        if d.len() >= n {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: never {n} attempts: {:?}", deliveries(s, key).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_endpoints_are_retried_recorded_and_do_not_hold_up_others() {
    let mut options = Options {
        webhook_timeout: TIMEOUT,
        ..Options::default()
    };
    options.engine = EngineConfig {
        webhook: WebhookPolicy {
            retry_delays: vec![Duration::from_millis(100); RETRIES],
            ..WebhookPolicy::default()
        },
        ..options.engine
    };
    let s = TestServer::start_with(options).await;

    let (slow_url, slow_hits) = receiver(StatusCode::OK, Duration::from_secs(30)).await;
    let (error_url, error_hits) = receiver(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    let (healthy_url, healthy_hits) = receiver(StatusCode::OK, Duration::ZERO).await;
    let down = account(&s, "down@example.com", &refused_url()).await;
    let slow = account(&s, "slow@example.com", &slow_url).await;
    let error = account(&s, "error@example.com", &error_url).await;
    let healthy = account(&s, "healthy@example.com", &healthy_url).await;

    let started = Instant::now();
    for i in 0..EVENTS {
        for key in [&down, &slow, &error] {
            send(&s, key, i).await;
        }
    }
    // While those fail (the slow ones hold a delivery slot for the whole timeout), the healthy account sends.
    let healthy_sent = Instant::now();
    let id = send(&s, &healthy, 0).await;
    s.wait_status(&healthy, &id, &["sent"]).await;
    let d = wait_attempts(&s, &healthy, 1, "healthy").await;
    let healthy_latency = healthy_hits.lock().unwrap()[0] - healthy_sent;
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0]["httpStatus"].as_u64(), &d[0]["error"]),
        (Some(200), &Value::Null),
        "{d:?}"
    );
    let slow_attempts_by_then = slow_hits.lock().unwrap().len();

    let attempts = EVENTS * (1 + RETRIES);
    let mut figures = Vec::new();
    for (name, key) in [("refused", &down), ("slow", &slow), ("500", &error)] {
        let d = wait_attempts(&s, key, attempts, name).await;
        let mut per_event: HashMap<&str, usize> = HashMap::new();
        for a in &d {
            *per_event.entry(a["eventId"].as_str().unwrap()).or_default() += 1;
            assert_eq!(a["status"], "sent", "{a}");
            match name {
                "refused" => {
                    assert!(a["httpStatus"].is_null(), "{a}");
                    assert!(a["error"].as_str().is_some_and(|e| !e.is_empty()), "{a}");
                }
                "slow" => {
                    assert!(a["httpStatus"].is_null(), "{a}");
                    let e = a["error"].as_str().unwrap_or_default().to_lowercase();
                    assert!(e.contains("time"), "a timeout is reported: {a}");
                }
                _ => assert_eq!(a["httpStatus"], 500, "{a}"),
            }
        }
        assert_eq!(per_event.len(), EVENTS, "{name}: {d:?}");
        assert!(
            per_event.values().all(|n| *n == 1 + RETRIES),
            "{name}: every event tried 1 + {RETRIES} times: {per_event:?}"
        );
        figures.push(format!("{name}: {} attempts, e.g. {}", d.len(), d[0]));
    }
    let all_done = started.elapsed();
    // Out of retries: no further attempt.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (name, key) in [("refused", &down), ("slow", &slow), ("500", &error)] {
        assert_eq!(deliveries(&s, key).await.len(), attempts, "{name} gave up");
    }
    assert_eq!(error_hits.lock().unwrap().len(), attempts);
    assert_eq!(slow_hits.lock().unwrap().len(), attempts);
    println!(
        "webhook_outage: {EVENTS} events x 3 failing endpoints, {RETRIES} retries, {TIMEOUT:?} timeout; every \
         failing event tried {} times; the healthy endpoint got its event {healthy_latency:?} after its send \
         (the slow endpoint had received {slow_attempts_by_then} of its {attempts} attempts by then); all \
         failures recorded after {all_done:?}\n{}",
        1 + RETRIES,
        figures.join("\n")
    );
    s.stop().await;
}
