//! Validity periods over HTTP: `validitySeconds` on a send and `defaultValiditySeconds` on the account; a `sendAt`
//! after the expiry is refused; messages behind an open breaker and messages retrying against a failing Meta
//! (the sandbox's magic numbers) expire, end `failed` with "expired before it could be sent…" and are never sent.

mod common;

use std::time::Duration;

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::EngineConfig;
use whatsapi_core::retry::RetryPolicy;
use whatsapi_core::webhook::WebhookUrlPolicy;
use whatsapi_sandbox::magic::META_DOWN;

const EXPIRED: &str = "expired before it could be sent";

/// A `--sandbox` server whose Meta keeps failing for [`META_DOWN`], with an engine tuned by `engine`.
async fn sandbox_server(engine: EngineConfig) -> TestServer {
    TestServer::start_with(Options {
        sandbox: Some(whatsapi_sandbox::SandboxConfig {
            open_numbers: true,
            meta_down_failures: 1_000,
            ..Default::default()
        }),
        settings: common::sandbox_mode(),
        engine: EngineConfig {
            webhook_urls: WebhookUrlPolicy::development(),
            expiry_interval: Duration::from_millis(100),
            retry: RetryPolicy {
                jitter: 0.0,
                ..RetryPolicy::default()
            },
            ..engine
        },
        ..Options::default()
    })
    .await
}

fn fields(v: &Value) -> Vec<String> {
    v["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|d| d["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

fn timeline(m: &Value) -> Vec<String> {
    m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_owned())
        .collect()
}

/// A `sendAt` later than the expiry is refused with 400 naming `sendAt`; out-of-bounds `validitySeconds` are
/// refused naming it; an accepted send answers its `expiresAt` and shows it on the message.
#[tokio::test]
async fn a_send_at_past_the_expiry_is_refused_and_the_expiry_is_shown() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("validity@example.com").await;
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "sendAt": in_secs(600), "validitySeconds": 60}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(fields(&v), ["sendAt"], "{v}");
    assert!(v["error"].as_str().unwrap().contains("expiry"), "{v}");

    for bad in [
        json!(0),
        json!(2_592_001),
        json!(1.5),
        json!(-3),
        json!("60"),
    ] {
        let (code, v) = s
            .post(
                &key,
                "/send-message",
                json!({"to": "14155552671", "message": "hi", "validitySeconds": bad}),
            )
            .await;
        assert_eq!(code, 400, "{bad}: {v}");
        assert_eq!(fields(&v), ["validitySeconds"], "{bad}: {v}");
    }

    // In a bulk request the item is refused, the others go.
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": [
                {"to": "14155552671", "message": "late", "sendAt": in_secs(600), "validitySeconds": 60},
                {"to": "14155552672", "message": "fine", "validitySeconds": 60}
            ]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["queued"], 1, "{v}");
    assert_eq!(v["data"]["errors"][0]["index"], 0, "{v}");
    assert_eq!(
        v["data"]["errors"][0]["details"][0]["field"], "sendAt",
        "{v}"
    );

    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "sendAt": in_secs(30), "validitySeconds": 600}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let expires: chrono::DateTime<chrono::Utc> =
        v["data"]["expiresAt"].as_str().unwrap().parse().unwrap();
    let ahead = expires - chrono::Utc::now();
    assert!(
        ahead > chrono::Duration::seconds(590) && ahead <= chrono::Duration::seconds(600),
        "{v}"
    );
    let id = v["data"]["id"].as_str().unwrap();
    let (_, m) = s.get(&key, &format!("/messages/{id}")).await;
    assert_eq!(m["data"]["expiresAt"], v["data"]["expiresAt"], "{m}");
    assert_eq!(m["data"]["status"], "scheduled");
    let (_, plain) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    assert_eq!(plain["data"]["expiresAt"], Value::Null, "{plain}");
    s.stop().await;
}

/// The first message of a bulk request meets a Meta that is down and opens the account's breaker (one failure
/// trips it); the others wait queued behind it (one send per second, so they were not claimed yet) and expire:
/// `failed` with the expiry as `errorMessage` and no `errorCode`, never sent to Meta.
#[tokio::test]
async fn queued_messages_behind_an_open_breaker_expire() {
    let s = sandbox_server(EngineConfig {
        breaker_threshold: 1,
        breaker_cooldown: Duration::from_secs(60),
        pace_per_second: 1,
        ..EngineConfig::default()
    })
    .await;
    let key = s.register("breaker-expiry@example.com").await;
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": [
                {"to": META_DOWN, "message": "trips the breaker"},
                {"to": "14155550101", "message": "waits", "validitySeconds": 2},
                {"to": "14155550102", "message": "waits too", "validitySeconds": 2}
            ]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let batch = v["data"]["batchId"].as_str().unwrap().to_owned();
    let (_, list) = s.get(&key, &format!("/messages?batchId={batch}")).await;
    let ids: Vec<(String, String)> = list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|m| {
            (
                m["to"].as_str().unwrap().to_owned(),
                m["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let id_of = |to: &str| ids.iter().find(|(t, _)| t == to).unwrap().1.clone();

    let tripper = s.wait_status(&key, &id_of(META_DOWN), &["retrying"]).await;
    assert!(
        tripper["errorMessage"].as_str().unwrap().contains("131000"),
        "{tripper}"
    );
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["success"], true);
    for to in ["14155550101", "14155550102"] {
        let m = s.wait_status(&key, &id_of(to), &["failed"]).await;
        let error = m["errorMessage"].as_str().unwrap();
        assert!(error.starts_with(EXPIRED), "{m}");
        assert_eq!(m["errorCode"], Value::Null, "{m}");
        assert_eq!(timeline(&m), ["queued", "failed"], "never claimed: {m}");
        assert!(m["expiresAt"].is_string(), "{m}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sb = s.sandbox.as_ref().unwrap();
    for to in ["14155550101", "14155550102"] {
        assert!(sb.requests_for(to).is_empty(), "{to} was sent to Meta");
    }
    s.stop().await;
}

/// A message to the sandbox's number whose Meta is down retries (at 2 s); the attempt after that would come at
/// 6 s, after its expiry at 3 s, so it fails at once saying why, and Meta never sees it again.
#[tokio::test]
async fn a_retrying_message_expires_and_is_never_sent_afterwards() {
    let s = sandbox_server(EngineConfig {
        breaker_threshold: 100,
        ..EngineConfig::default()
    })
    .await;
    let key = s.register("retry-expiry@example.com").await;
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": META_DOWN, "message": "your code is 1234", "validitySeconds": 3}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let retrying = s.wait_status(&key, &id, &["retrying"]).await;
    assert!(
        retrying["errorMessage"]
            .as_str()
            .unwrap()
            .contains("131000")
    );
    let mut failed = Value::Null;
    for _ in 0..100 {
        let (_, m) = s.get(&key, &format!("/messages/{id}")).await;
        if m["data"]["status"] == "failed" {
            failed = m["data"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = failed["errorMessage"]
        .as_str()
        .unwrap_or_else(|| panic!("never failed: {failed}"));
    assert!(error.starts_with(EXPIRED), "{failed}");
    assert!(error.contains("131000"), "names the last error: {failed}");
    assert_eq!(failed["errorCode"], Value::Null, "{failed}");
    assert_eq!(
        timeline(&failed),
        ["queued", "retrying", "failed"],
        "{failed}"
    );

    let sb = s.sandbox.as_ref().unwrap();
    let tries = sb.requests_for(META_DOWN).len();
    assert_eq!(tries, 2, "tried at 0 s and 2 s");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        sb.requests_for(META_DOWN).len(),
        tries,
        "never sent afterwards"
    );
    let (_, m) = s.get(&key, &format!("/messages/{id}")).await;
    assert_eq!(m["data"]["status"], "failed");
    s.stop().await;
}

/// `defaultValiditySeconds` on `PUT /auth/me/credentials` is shown by `GET /auth/me` and applies to sends that
/// set no `validitySeconds`: their `expiresAt`, the refusal of a later `sendAt`, and their expiry; `0` removes it.
#[tokio::test]
async fn the_account_default_applies() {
    let s = sandbox_server(EngineConfig {
        breaker_threshold: 100,
        ..EngineConfig::default()
    })
    .await;
    let key = s.register("default-validity@example.com").await;
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["defaultValiditySeconds"], Value::Null, "{me}");
    let pnid = me["data"]["whatsappPhoneNumberId"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = |body: Value| {
        s.client
            .put(s.url("/auth/me/credentials"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let creds = |extra: Value| {
        let mut body =
            json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": pnid});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for bad in [json!(-1), json!("60"), json!(2_592_001)] {
        let r = put(creds(json!({"defaultValiditySeconds": bad})))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(fields(&v), ["defaultValiditySeconds"], "{bad}: {v}");
    }
    let r = put(creds(json!({"defaultValiditySeconds": 1})))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["defaultValiditySeconds"], 1, "{me}");

    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "sendAt": in_secs(30)}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(fields(&v), ["sendAt"], "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("default validity period"),
        "{v}"
    );
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "sendAt": in_secs(30), "validitySeconds": 60}),
        )
        .await;
    assert_eq!(code, 202, "its own period wins: {v}");

    // Meta is down for this number: the retry at 2 s would come after the default's expiry at 1 s.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": META_DOWN, "message": "hi"}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert!(v["data"]["expiresAt"].is_string(), "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(&key, &id, &["failed"]).await;
    assert!(
        m["errorMessage"].as_str().unwrap().starts_with(EXPIRED),
        "{m}"
    );

    let r = put(creds(json!({"defaultValiditySeconds": 0})))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["defaultValiditySeconds"], Value::Null, "{me}");
    let (_, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    assert_eq!(v["data"]["expiresAt"], Value::Null, "{v}");
    s.stop().await;
}
