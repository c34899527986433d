//! `/metrics` process and queue figures; `/readyz` fails with the reason when the store or the engine is down.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::WebhookPolicy;
use whatsapi_core::testing::FaultyStore;

fn gauge(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn metrics_show_process_build_and_queue_figures() {
    let s = TestServer::start().await;
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        gauge(&text, "process_resident_memory_bytes") > 1e6,
        "{text}"
    );
    assert!(gauge(&text, "process_cpu_seconds_total") >= 0.0);
    assert!(gauge(&text, "process_open_fds") >= 3.0);
    assert!(
        text.contains(&format!(
            "whatsapi_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert_eq!(gauge(&text, "whatsapi_queue_oldest_due_age_seconds"), 0.0);
    assert_eq!(gauge(&text, "whatsapi_outbox_pending_events"), 0.0);
    assert_eq!(gauge(&text, "whatsapi_outbox_oldest_age_seconds"), 0.0);
    for name in [
        "whatsapi_outbox_pending_events",
        "whatsapi_outbox_oldest_age_seconds",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{text}");
        assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{text}");
    }
    assert_eq!(gauge(&text, "whatsapi_breakers_open"), 0.0);
    assert_eq!(gauge(&text, "whatsapi_engine_running"), 1.0);
    s.stop().await;
}

#[tokio::test]
async fn the_oldest_due_message_ages_while_it_waits() {
    let faulty: Arc<std::sync::OnceLock<Arc<FaultyStore>>> = Arc::default();
    let slot = faulty.clone();
    let s = TestServer::start_with(Options {
        wrap_store: Some(Box::new(move |inner| {
            let f = Arc::new(FaultyStore::new(inner));
            let _ = slot.set(f.clone());
            f
        })),
        ..Options::default()
    })
    .await;
    let key = s.account_with_credentials("aging@example.com").await;
    // The engine cannot claim: the message stays queued.
    faulty.get().unwrap().fail("claim_due", 1_000_000);
    faulty.get().unwrap().fail("claim_due_with", 1_000_000);
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        gauge(&text, "whatsapi_queue_oldest_due_age_seconds") >= 1.0,
        "{text}"
    );
    assert_eq!(gauge(&text, "whatsapi_messages{status=\"queued\"}"), 1.0);
    s.stop().await;
}

/// The customer-webhook backlog: a `sent` event for an endpoint that refuses connections stays pending (and ages)
/// until it is given up after its one retry.
#[tokio::test]
async fn the_outbox_backlog_grows_ages_and_drains() {
    let mut options = Options::default();
    options.engine.webhook = WebhookPolicy {
        retry_delays: vec![Duration::from_secs(2)],
        ..WebhookPolicy::default()
    };
    let s = TestServer::start_with(options).await;
    let metrics = || async {
        let text = s
            .client
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (
            gauge(&text, "whatsapi_outbox_pending_events"),
            gauge(&text, "whatsapi_outbox_oldest_age_seconds"),
        )
    };
    assert_eq!(metrics().await, (0.0, 0.0));

    let key = s.account_with_credentials("backlog@example.com").await;
    // Nothing listens there: every delivery is refused.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        drop(l);
        url
    };
    let r = s
        .client
        .put(s.url("/auth/me/webhook"))
        .bearer_auth(&key)
        .json(&json!({ "url": refused }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    assert_eq!(code, 202, "{v}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut seen_pending, mut oldest_age) = (false, 0.0_f64);
    loop {
        let (pending, age) = metrics().await;
        if pending >= 1.0 {
            seen_pending = true;
            oldest_age = oldest_age.max(age);
        } else if seen_pending {
            assert_eq!(age, 0.0, "no age once nothing waits");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pending {pending} (seen pending: {seen_pending})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        oldest_age >= 1.0,
        "the event waited for its 2 s retry, yet its age peaked at {oldest_age}"
    );
    s.stop().await;
}

#[tokio::test]
async fn readyz_names_an_unreachable_store() {
    let faulty: Arc<std::sync::OnceLock<Arc<FaultyStore>>> = Arc::default();
    let slot = faulty.clone();
    let s = TestServer::start_with(Options {
        wrap_store: Some(Box::new(move |inner| {
            let f = Arc::new(FaultyStore::new(inner));
            let _ = slot.set(f.clone());
            f
        })),
        ..Options::default()
    })
    .await;
    let r = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    faulty.get().unwrap().fail("account", 1);
    let r = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["status"].as_str().unwrap().contains("store unavailable"),
        "{v}"
    );
    s.stop().await;
}

#[tokio::test]
async fn readyz_fails_when_the_engine_is_stopped() {
    let store = Arc::new(whatsapi_core::testing::MemoryStore::new());
    let api = whatsapi_core::WhatsApi::builder()
        .store(store.clone())
        .transport(Arc::new(whatsapi_core::testing::FakeTransport::new()))
        .webhook_sink(Arc::new(whatsapi_core::testing::RecordingSink::new()))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let product = whatsapi_saas::Product::new(
        api.clone(),
        Arc::new(whatsapi_saas::testing::MemoryProductStore::new(store)),
        Default::default(),
    );
    let state = whatsapi_server::app::AppState::new(product, Default::default());
    let server = tokio::spawn(async move {
        axum::serve(listener, whatsapi_server::app::app(state))
            .await
            .unwrap()
    });
    let client = reqwest::Client::new();
    let ready = || async {
        let r = client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    // Not started yet.
    let (code, v) = ready().await;
    assert_eq!(code, 503, "{v}");
    assert!(
        v["status"].as_str().unwrap().contains("engine stopped"),
        "{v}"
    );
    let engine = api.start();
    assert_eq!(ready().await.0, 200);
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    let (code, v) = ready().await;
    assert_eq!(code, 503, "{v}");
    assert!(
        v["status"].as_str().unwrap().contains("engine stopped"),
        "{v}"
    );
    server.abort();
}
