//! Several business numbers per account: `POST /numbers` (verified with the sandbox), sends `from` each number
//! going out on that number, Meta's status and inbound webhooks of each number landing on the right account and
//! message, another account neither seeing nor using them, per-number rates, and the step-down after 130429.
//!
//! The test on two replicas sharing PostgreSQL is in `replicas.rs`.

mod common;

use std::time::Duration;

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::EngineConfig;
use whatsapi_core::webhook::WebhookUrlPolicy;

async fn sandbox_server(engine: EngineConfig) -> TestServer {
    TestServer::start_with(Options {
        sandbox: Some(whatsapi_sandbox::SandboxConfig {
            open_numbers: true,
            delays: whatsapi_sandbox::StatusDelays {
                sent: Duration::ZERO,
                delivered: Duration::from_millis(10),
                read: Duration::from_millis(10),
            },
            ..Default::default()
        }),
        settings: common::sandbox_mode(),
        engine,
        ..Options::default()
    })
    .await
}

fn engine() -> EngineConfig {
    EngineConfig {
        webhook_urls: WebhookUrlPolicy::development(),
        ..EngineConfig::default()
    }
}

async fn patch(s: &TestServer, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = s
        .client
        .patch(s.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn delete(s: &TestServer, key: &str, path: &str) -> (u16, Value) {
    let r = s
        .client
        .delete(s.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn hello(to: &str) -> Value {
    json!({"to": to, "template": {"name": "hello_world", "language": "en_US"}})
}

/// The account's default phone number id.
async fn default_number(s: &TestServer, key: &str) -> String {
    let (code, v) = s.get(key, "/numbers").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"][0]["isDefault"], true, "{v}");
    v["data"][0]["phoneNumberId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_numbers_send_and_receive_on_the_right_account() {
    let s = sandbox_server(engine()).await;
    let sb = s.sandbox.as_ref().unwrap();
    let a = s.register("numbers-a@example.com").await;
    let b = s.register("numbers-b@example.com").await;
    let a_default = default_number(&s, &a).await;

    // A second number, on the default credentials' token; the sandbox verifies it (ids ending 1000 are HIGH).
    let extra = "5551231000";
    let (code, v) = s
        .post(&a, "/numbers", json!({"whatsappPhoneNumberId": extra}))
        .await;
    assert_eq!(code, 201, "{v}");
    let n = &v["data"];
    assert_eq!(n["phoneNumberId"], extra);
    assert_eq!(n["isDefault"], false);
    assert_eq!(n["displayPhoneNumber"], "+1 555-013-1000", "{v}");
    assert_eq!(n["qualityRating"], "GREEN");
    assert_eq!(n["throughputLevel"], "HIGH");
    assert_eq!(n["throughputPerSecond"], 1000);
    assert_eq!(n["currentThroughputPerSecond"], 1000);
    assert_eq!(n["ownAccessToken"], false);

    let (code, v) = s.get(&a, "/numbers").await;
    assert_eq!(code, 200, "{v}");
    let listed: Vec<(&str, bool)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["phoneNumberId"].as_str().unwrap(),
                n["isDefault"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(a_default.as_str(), true), (extra, false)]);
    let (code, v) = s.get(&a, &format!("/numbers/{extra}")).await;
    assert_eq!(
        (code, v["data"]["phoneNumberId"].as_str()),
        (200, Some(extra)),
        "{v}"
    );
    let (code, v) = s.get(&a, &format!("/numbers/{a_default}")).await;
    assert_eq!(
        (code, v["data"]["isDefault"].as_bool()),
        (200, Some(true)),
        "{v}"
    );

    // Connected once: again, or as another account's number, is a conflict.
    let (code, v) = s
        .post(&a, "/numbers", json!({"whatsappPhoneNumberId": extra}))
        .await;
    assert_eq!(code, 409, "{v}");
    let (code, v) = s
        .post(&b, "/numbers", json!({"whatsappPhoneNumberId": extra}))
        .await;
    assert_eq!(code, 409, "{v}");
    let (code, v) = s
        .post(&b, "/numbers", json!({"whatsappPhoneNumberId": a_default}))
        .await;
    assert_eq!(code, 409, "{v}");
    // Bounded, typed inputs.
    let (code, v) = s
        .post(
            &a,
            "/numbers",
            json!({"whatsappPhoneNumberId": "+1 555 123"}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "whatsappPhoneNumberId", "{v}");
    let (code, v) = s
        .post(
            &a,
            "/numbers",
            json!({"whatsappPhoneNumberId": "1".repeat(33)}),
        )
        .await;
    assert_eq!(code, 400, "{v}");

    // One send from each number: each reaches the sandbox on its own number.
    let (code, v) = s
        .post(
            &a,
            "/send-message",
            json!({"from": extra, "to": "14155550111",
            "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let from_extra = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, v) = s.post(&a, "/send-message", hello("14155550112")).await;
    assert_eq!(code, 202, "{v}");
    let from_default = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, v) = s
        .post(
            &a,
            "/send-message",
            json!({"from": a_default, "to": "14155550113",
            "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let named_default = v["data"]["id"].as_str().unwrap().to_owned();
    // Statuses come back through Meta's webhooks of each number: read means they were routed to this account and
    // matched to the message.
    for id in [&from_extra, &from_default, &named_default] {
        s.wait_status(&a, id, &["read"]).await;
    }
    let on = |to: &str| {
        sb.requests_for(to)
            .into_iter()
            .map(|r| r.phone_number_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(on("14155550111"), [extra]);
    assert_eq!(on("14155550112"), [a_default.as_str()]);
    assert_eq!(on("14155550113"), [a_default.as_str()]);
    // The message says which number it went from; null for the default.
    let (_, v) = s.get(&a, &format!("/messages/{from_extra}")).await;
    assert_eq!(v["data"]["from"], extra, "{v}");
    let (_, v) = s.get(&a, &format!("/messages/{from_default}")).await;
    assert_eq!(v["data"]["from"], serde_json::Value::Null, "{v}");

    // Bulk items may name the number too; an unknown one refuses that item, naming the field.
    let (code, v) = s
        .post(
            &a,
            "/messages/bulk",
            json!({"messages": [
                {"from": extra, "to": "14155550114", "template": {"name": "hello_world", "language": "en_US"}},
                {"from": "999000999", "to": "14155550115", "template": {"name": "hello_world", "language": "en_US"}},
            ]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["queued"], 1, "{v}");
    assert!(v.to_string().contains("from"), "{v}");

    // An inbound message to the extra number lands on this account (and not on the other).
    let wamid = sb
        .inbound_to(extra, "14155550111", "hello there")
        .await
        .unwrap();
    let mut found = Value::Null;
    for _ in 0..200 {
        let (_, v) = s.get(&a, "/inbound").await;
        if v.to_string().contains(&wamid) {
            found = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(found.to_string().contains("hello there"), "{found}");
    let (_, v) = s.get(&b, "/inbound").await;
    assert!(!v.to_string().contains(&wamid), "{v}");

    // The other account can neither see nor use A's numbers.
    for path in [format!("/numbers/{extra}"), format!("/numbers/{a_default}")] {
        let (code, v) = s.get(&b, &path).await;
        assert_eq!(code, 404, "{v}");
        let (code, v) = patch(&s, &b, &path, json!({"throughputPerSecond": 5})).await;
        assert_eq!(code, 404, "{v}");
        let (code, v) = delete(&s, &b, &path).await;
        assert_eq!(code, 404, "{v}");
    }
    let (_, v) = s.get(&b, "/numbers").await;
    assert!(!v.to_string().contains(extra), "{v}");
    let (code, v) = s
        .post(
            &b,
            "/send-message",
            json!({"from": extra, "to": "14155550116",
            "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "from", "{v}");
    let (code, v) = s
        .post(
            &a,
            "/send-message",
            json!({"from": 12, "to": "14155550116", "message": "x"}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "from", "{v}");

    // Rates: set within bounds, refused outside them.
    let (code, v) = patch(
        &s,
        &a,
        &format!("/numbers/{extra}"),
        json!({"throughputPerSecond": 40}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["throughputPerSecond"], 40);
    assert_eq!(v["data"]["throughputSource"], "number");
    let (code, v) = patch(
        &s,
        &a,
        &format!("/numbers/{a_default}"),
        json!({"throughputPerSecond": 30}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["throughputPerSecond"], 30);
    let (_, v) = s.get(&a, &format!("/numbers/{a_default}")).await;
    assert_eq!(v["data"]["throughputPerSecond"], 30, "{v}");
    for bad in [
        json!({"throughputPerSecond": 0}),
        json!({"throughputPerSecond": 1001}),
        json!({"throughputPerSecond": "fast"}),
        json!({}),
    ] {
        let (code, v) = patch(&s, &a, &format!("/numbers/{extra}"), bad.clone()).await;
        assert_eq!(code, 400, "{bad}: {v}");
    }
    // The default credentials keep working as before (the reference's PUT), and the default number cannot be
    // removed here.
    let (code, v) = delete(&s, &a, &format!("/numbers/{a_default}")).await;
    assert_eq!(code, 409, "{v}");

    // Disconnected, the number is gone for sends (refused at accept time) and its webhooks.
    let (code, v) = delete(&s, &a, &format!("/numbers/{extra}")).await;
    assert_eq!(
        (code, v["data"]["deleted"].as_bool()),
        (200, Some(true)),
        "{v}"
    );
    let (code, v) = s.get(&a, &format!("/numbers/{extra}")).await;
    assert_eq!(code, 404, "{v}");
    let (code, v) = s
        .post(
            &a,
            "/send-message",
            json!({"from": extra, "to": "14155550117",
            "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    // Another account may connect it now.
    let (code, v) = s
        .post(&b, "/numbers", json!({"whatsappPhoneNumberId": extra}))
        .await;
    assert_eq!(code, 201, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn tiers_set_each_numbers_rate_and_130429_steps_it_down_until_it_recovers() {
    let s = sandbox_server(EngineConfig {
        pace_recovery: Duration::from_secs(2),
        ..engine()
    })
    .await;
    let a = s.register("tiers@example.com").await;
    let default = default_number(&s, &a).await;
    // A number shared with the WhatsApp Business app: 20/s.
    let (code, v) = s
        .post(
            &a,
            "/numbers",
            json!({"whatsappPhoneNumberId": "5552220020"}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["throughputPerSecond"], 20, "{v}");
    // Verified, the default number takes its tier (STANDARD: 80/s).
    let (code, v) = s.post(&a, "/auth/me/credentials/verify", json!({})).await;
    assert_eq!(
        (code, v["data"]["valid"].as_bool()),
        (200, Some(true)),
        "{v}"
    );
    let (_, v) = s.get(&a, &format!("/numbers/{default}")).await;
    assert_eq!(v["data"]["throughputPerSecond"], 80, "{v}");
    assert_eq!(v["data"]["throughputSource"], "number", "{v}");
    assert!(v["data"]["displayPhoneNumber"].is_string(), "{v}");

    // The sandbox answers 130429 twice to this recipient (the engine retries; the third send succeeds): each
    // halves the number's rate, and the rate comes back one step per quiet period.
    let (code, v) = s
        .post(
            &a,
            "/send-message",
            json!({"from": "5552220020", "to": whatsapi_sandbox::magic::THROUGHPUT_LIMIT,
            "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let mut lowest = 20;
    let mut sent = false;
    for _ in 0..400 {
        let (_, v) = s.get(&a, "/numbers/5552220020").await;
        let now = v["data"]["currentThroughputPerSecond"].as_u64().unwrap();
        lowest = lowest.min(now);
        let (_, m) = s.get(&a, &format!("/messages/{id}")).await;
        sent |= ["sent", "delivered", "read"]
            .contains(&m["data"]["status"].as_str().unwrap_or_default());
        if sent && lowest < 20 && now == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(sent, "the message was sent after the two 130429s");
    assert!(
        lowest <= 10,
        "the number was stepped down (lowest {lowest}/s)"
    );
    let (_, v) = s.get(&a, "/numbers/5552220020").await;
    assert_eq!(
        v["data"]["currentThroughputPerSecond"], 20,
        "recovered: {v}"
    );
    // The other numbers were never slowed.
    let (_, v) = s.get(&a, &format!("/numbers/{default}")).await;
    assert_eq!(v["data"]["currentThroughputPerSecond"], 80, "{v}");
    s.stop().await;
}

/// A slow number's backlog does not hold up the account's other number: with 60 messages waiting on a 2/s default
/// number (queued first, so they are the account's oldest), 30 messages on a 1,000/s number still go out at once,
/// and the slow number keeps to its rate.
#[tokio::test]
async fn a_slow_numbers_backlog_does_not_hold_up_another_number_of_the_account() {
    let s = sandbox_server(engine()).await;
    let sb = s.sandbox.as_ref().unwrap();
    let key = s.register("numbers-backlog@example.com").await;
    let slow = default_number(&s, &key).await;
    let fast = "5551232000";
    let (code, v) = s
        .post(&key, "/numbers", json!({"whatsappPhoneNumberId": fast}))
        .await;
    assert_eq!(code, 201, "{v}");
    let (code, v) = patch(
        &s,
        &key,
        &format!("/numbers/{slow}"),
        json!({"throughputPerSecond": 2}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let (code, v) = patch(
        &s,
        &key,
        &format!("/numbers/{fast}"),
        json!({"throughputPerSecond": 1000}),
    )
    .await;
    assert_eq!(code, 200, "{v}");

    let batch = |n: usize, from: Option<&str>, to: &str| -> Vec<Value> {
        (0..n)
            .map(|_| {
                let mut m = hello(to);
                if let Some(f) = from {
                    m["from"] = json!(f);
                }
                m
            })
            .collect()
    };
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": batch(60, None, "14155550300")}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let started = std::time::Instant::now();
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": batch(30, Some(fast), "14155550301")}),
        )
        .await;
    assert_eq!(code, 202, "{v}");

    // Behind the backlog the fast number's messages would wait for the slow number's 60 (30 s at 2/s): they
    // must all be out before half of those are.
    let deadline = started + Duration::from_secs(60);
    loop {
        let on_fast = sb.requests_for("14155550301").len();
        if on_fast >= 30 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {on_fast} of 30 messages of the fast number went out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fast_took = started.elapsed();
    let on_slow = sb.requests_for("14155550300").len();
    println!(
        "fast number: 30 sends in {} ms; slow number meanwhile: {on_slow}",
        fast_took.as_millis()
    );
    assert!(
        on_slow < 30,
        "the fast number's 30 messages waited for {on_slow} of the slow number's ({fast_took:?})"
    );
    for r in sb.requests_for("14155550301") {
        assert_eq!(r.phone_number_id, fast);
    }
}
