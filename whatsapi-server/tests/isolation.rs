//! Isolation between accounts and abuse limits under concurrency. (Forged and replayed Meta webhooks are covered by
//! tests/meta_e2e.rs `forged_and_replayed_meta_webhooks_change_nothing`.)

mod common;

use common::{Options, TestServer};
use serde_json::json;
use whatsapi_core::SendError;
use whatsapi_core::testing::Script;
use whatsapi_saas::{CustomerStore, PlanLimits};

#[tokio::test]
async fn a_foreign_message_is_indistinguishable_from_a_missing_one() {
    let s = TestServer::start().await;
    let a = s.account_with_credentials("owner@example.com").await;
    let b = s.account_with_credentials("snoop@example.com").await;
    // A failed message of A's, so a retry by its owner would succeed (409 vs 404 must not leak either).
    s.transport.script(
        "14155550000",
        [Script::Fail(SendError::meta(
            400,
            131026,
            "Message undeliverable",
        ))],
    );
    let (_, v) = s
        .post(
            &a,
            "/send-message",
            json!({"to": "14155550000", "message": "secret"}),
        )
        .await;
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&a, &id, &["failed"]).await;
    let (code, v) = s
        .post(
            &a,
            "/messages/bulk",
            json!({"messages": [{"to": "14155552671", "message": "batch secret"}]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let batch = v["data"]["batchId"].as_str().unwrap().to_owned();

    let random = uuid::Uuid::now_v7().to_string();
    for (method, suffix) in [("GET", ""), ("POST", "/retry")] {
        let mut answers = Vec::new();
        for target in [&id, &random] {
            let url = s.url(&format!("/messages/{target}{suffix}"));
            let req = if method == "GET" {
                s.client.get(url)
            } else {
                s.client.post(url)
            };
            // The same request id on both, so the bodies (which echo it) can be compared byte for byte.
            let r = req
                .bearer_auth(&b)
                .header("x-request-id", "isolation-probe")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap();
            answers.push((status, body));
        }
        assert_eq!(answers[0].0, 404, "{method} foreign id");
        assert_eq!(
            answers[0], answers[1],
            "{method}{suffix}: a foreign id answers exactly like a random one"
        );
    }
    // B cannot see A's batch by filtering on its id, nor anything by status.
    let (code, v) = s.get(&b, &format!("/messages?batchId={batch}")).await;
    assert_eq!(code, 200);
    assert_eq!(v["pagination"]["total"], 0, "{v}");
    assert_eq!(v["data"], json!([]));
    for status in ["failed", "queued", "processing", "sent"] {
        let (_, v) = s.get(&b, &format!("/messages?status={status}")).await;
        assert_eq!(v["pagination"]["total"], 0, "{status}: {v}");
    }
    let (_, v) = s.get(&b, "/analytics/summary").await;
    assert_eq!(v["data"]["total"], 0, "{v}");
    // A still sees both, and its own retry works (the 404s above were not a broken endpoint).
    let (_, v) = s.get(&a, &format!("/messages?batchId={batch}")).await;
    assert_eq!(v["pagination"]["total"], 1, "{v}");
    let (code, v) = s
        .post(&a, &format!("/messages/{id}/retry"), json!({}))
        .await;
    assert_eq!(code, 202, "{v}");
    s.stop().await;
}

/// Fires `n` requests at once and counts the answers by status.
async fn burst(
    n: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
) -> std::collections::BTreeMap<u16, usize> {
    let mut tasks = tokio::task::JoinSet::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    for i in 0..n {
        let req = make(i);
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            req.send().await.unwrap().status().as_u16()
        });
    }
    let mut counts = std::collections::BTreeMap::new();
    while let Some(status) = tasks.join_next().await {
        *counts.entry(status.unwrap()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn the_per_key_rate_limit_holds_under_a_concurrent_burst() {
    let mut options = Options::default();
    options.plans.free = PlanLimits {
        requests_per_minute: 20,
        bulk_cap: 100,
        ..whatsapi_saas::Plan::Free.default_limits()
    };
    let s = TestServer::start_with(options).await;
    let key = s.account_with_credentials("burst@example.com").await;
    // register + credentials used 1 request of the key (the PUT).
    let counts = burst(50, |i| {
        s.client
            .post(s.url("/send-message"))
            .bearer_auth(&key)
            .json(&json!({"to": "14155552671", "message": format!("burst {i}")}))
    })
    .await;
    println!("50 concurrent sends on a 20/min key: {counts:?}");
    assert_eq!(counts.get(&202), Some(&19), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&31), "{counts:?}");
    assert_eq!(counts.len(), 2, "{counts:?}");
    // Exactly the accepted ones were queued (read from the store: the key itself is spent for this minute).
    let account = s
        .sqlite
        .customer_by_email("burst@example.com")
        .await
        .unwrap()
        .unwrap();
    let page = s
        .store
        .list_messages(
            account.id,
            &whatsapi_core::store::MessageFilter::default(),
            whatsapi_core::store::PageRequest {
                page: 1,
                limit: 200,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 19);
    // Another account is not affected by the first one's exhaustion.
    let other = s.register("bystander@example.com").await;
    let (code, _) = s.get(&other, "/auth/me").await;
    assert_eq!(code, 200);
    s.stop().await;
}

#[tokio::test]
async fn registration_is_limited_per_ip_under_a_concurrent_burst() {
    let mut options = Options::default();
    options.settings.register_per_minute = 5;
    let s = TestServer::start_with(options).await;
    let counts = burst(30, |i| {
        s.client
            .post(s.url("/auth/register"))
            .json(&json!({"name": "Burst", "email": format!("burst{i}@example.com")}))
    })
    .await;
    println!("30 concurrent registrations at 5/min per IP: {counts:?}");
    assert_eq!(counts.get(&201), Some(&5), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&25), "{counts:?}");
    // Exactly five accounts exist.
    let mut found = 0;
    for i in 0..30 {
        if s.sqlite
            .customer_by_email(&format!("burst{i}@example.com"))
            .await
            .unwrap()
            .is_some()
        {
            found += 1;
        }
    }
    assert_eq!(found, 5);
    s.stop().await;
}
