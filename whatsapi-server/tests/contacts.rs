//! Conversations and opt-outs through the sandbox (issue 19, items 2 and 4): sends and inbound messages build a
//! contact's thread; opt-out keywords, `PUT /contacts/{id}/opt-out`, Meta's 131050 and `user_preferences` opt a
//! contact out of marketing templates (utility ones still go); 131049 pauses marketing for 24 hours; everything is
//! per account.

mod common;

use std::time::Duration;

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_sandbox::{SandboxConfig, StatusDelays};

const WABA: &str = "102290129340398";
const PNID: &str = "1234567891";

async fn server() -> TestServer {
    TestServer::start_with(Options {
        sandbox: Some(SandboxConfig {
            open_numbers: true,
            delays: StatusDelays {
                sent: Duration::from_millis(10),
                delivered: Duration::from_millis(20),
                read: Duration::from_millis(30),
            },
            ..SandboxConfig::default()
        }),
        // `--sandbox` mode: `POST /sandbox/inbound` plays the customer.
        settings: common::sandbox_mode(),
        ..Options::default()
    })
    .await
}

/// An account on the sandbox whose credentials name the WABA (so template categories are known).
async fn waba_account(s: &TestServer, email: &str) -> String {
    let key = s.register(email).await;
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(
            &json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": PNID,
                      "whatsappBusinessAccountId": WABA}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    key
}

async fn put(s: &TestServer, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = s
        .client
        .put(s.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn customer_writes(s: &TestServer, key: &str, from: &str, text: &str) {
    let (code, v) = s
        .post(key, "/sandbox/inbound", json!({"from": from, "text": text}))
        .await;
    assert_eq!(code, 200, "{v}");
}

/// The contact, once `done` holds for it (the inbound webhook and the statuses arrive asynchronously).
async fn contact_when(s: &TestServer, key: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (code, v) = s.get(key, &format!("/contacts/{id}")).await;
        if code == 200 && done(&v["data"]) {
            return v["data"].clone();
        }
        last = v;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("contact {id} never got there: {last}");
}

fn template(name: &str) -> Value {
    json!({"name": name, "language": "en_US"})
}

/// A template whose body takes one parameter and whose button 0 takes the same one (order_update, auth_code).
fn with_code(name: &str, code: &str) -> Value {
    json!({"name": name, "language": "en_US", "components": [
        {"type": "body", "parameters": [{"type": "text", "text": code}]},
        {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": code}]}]})
}

async fn send_template(s: &TestServer, key: &str, to: &str, name: &str) -> (u16, Value) {
    s.post(
        key,
        "/send-message",
        json!({"to": to, "template": template(name)}),
    )
    .await
}

/// Sends the marketing template and waits until Meta accepted it; its wamid.
async fn sent_marketing(s: &TestServer, key: &str, to: &str) -> String {
    let (code, v) = send_template(s, key, to, "weekly_deals").await;
    assert_eq!(code, 202, "{v}");
    let m = s
        .wait_status(
            key,
            v["data"]["id"].as_str().unwrap(),
            &["sent", "delivered", "read"],
        )
        .await;
    m["wamid"].as_str().unwrap().to_owned()
}

/// POSTs a Meta webhook change for the sandbox account's number, signed with the app secret the server checks
/// (the sandbox's).
async fn meta_webhook(s: &TestServer, field: &str, value: Value) {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001234", "phone_number_id": PNID});
    let body = json!({"object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": field, "value": value}]}]});
    let raw = serde_json::to_vec(&body).unwrap();
    let r = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            whatsapi_core::meta::sign(app_secret(s).as_bytes(), &raw),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn app_secret(s: &TestServer) -> String {
    s.sandbox
        .as_ref()
        .expect("a sandbox")
        .config()
        .app_secret
        .clone()
}

async fn failed_status(s: &TestServer, wamid: &str, to: &str, code: i64) {
    let ts = chrono::Utc::now().timestamp().to_string();
    meta_webhook(
        s,
        "messages",
        json!({"statuses": [{"id": wamid, "status": "failed", "timestamp": ts, "recipient_id": to,
            "errors": [{"code": code, "title": "Meta refused a marketing message",
                        "message": "Meta refused a marketing message",
                        "error_data": {"details": "marketing"}}]}]}),
    )
    .await;
}

fn error_text(v: &Value) -> String {
    v["details"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn sends_and_inbound_build_threads_and_keywords_opt_out() {
    let s = server().await;
    let key = waba_account(&s, "contacts@example.com").await;

    // Inbound before the account's first send creates the contact.
    customer_writes(&s, &key, "14155550123", "Hello there").await;
    let c = contact_when(&s, &key, "14155550123", |c| c["lastInboundAt"].is_string()).await;
    assert_eq!(c["phone"], "14155550123");
    assert_eq!(c["profileName"], "Sandbox Customer");
    assert_eq!(c["windowOpen"], true);
    assert!(c["windowExpiresAt"].is_string());
    assert_eq!(
        (&c["optedOut"], &c["optOutSource"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(c["thread"].as_array().unwrap().len(), 1);

    // A send, then the customer's answer: the thread holds both, newest first.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "Your order shipped"}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let sent_id = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, c) = s.get(&key, "/contacts/14155552671").await;
    assert_eq!(code, 200, "the send created the contact: {c}");
    assert_eq!(c["data"]["lastInboundAt"], Value::Null);
    assert_eq!(c["data"]["windowOpen"], false);
    s.wait_status(&key, &sent_id, &["read"]).await;
    customer_writes(&s, &key, "14155552671", "Is it on its way?").await;
    let c = contact_when(&s, &key, "14155552671", |c| {
        c["thread"].as_array().is_some_and(|t| t.len() == 2)
    })
    .await;
    let thread = c["thread"].as_array().unwrap();
    assert_eq!(
        (
            &thread[0]["direction"],
            &thread[0]["type"],
            &thread[0]["text"],
            &thread[0]["status"]
        ),
        (
            &json!("inbound"),
            &json!("text"),
            &json!("Is it on its way?"),
            &Value::Null
        )
    );
    assert_eq!(
        (
            &thread[1]["direction"],
            &thread[1]["id"],
            &thread[1]["text"],
            &thread[1]["status"]
        ),
        (
            &json!("outbound"),
            &json!(sent_id),
            &json!("Your order shipped"),
            &json!("read")
        )
    );
    assert!(thread[0]["at"].as_str().unwrap() >= thread[1]["at"].as_str().unwrap());
    assert_eq!(c["windowOpen"], true);
    // `+`, spaces and a limit.
    let (code, v) = s
        .get(&key, "/contacts/%2B1%20415%20555%202671?limit=1")
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["id"], "14155552671");
    assert_eq!(v["data"]["thread"].as_array().unwrap().len(), 1);
    let (code, v) = s.get(&key, "/contacts/14155552671?limit=201").await;
    assert_eq!(code, 400, "{v}");

    // Listing: latest activity first, filtered by opt-out.
    let (code, v) = s.get(&key, "/contacts").await;
    assert_eq!(code, 200, "{v}");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["14155552671", "14155550123"]);
    assert_eq!(v["pagination"]["total"], 2);
    let (code, v) = s.get(&key, "/contacts?page=2&limit=1").await;
    assert_eq!(code, 200);
    assert_eq!(v["data"][0]["id"], "14155550123");
    assert_eq!(v["pagination"]["totalPages"], 2);
    let (code, v) = s.get(&key, "/contacts?optedOut=maybe").await;
    assert_eq!(
        (code, v["details"][0]["field"].as_str()),
        (400, Some("optedOut")),
        "{v}"
    );

    // "STOP " opts out: marketing refused at accept time, utility and free-form still go.
    customer_writes(&s, &key, "14155552671", "STOP ").await;
    let c = contact_when(&s, &key, "14155552671", |c| c["optedOut"] == true).await;
    assert_eq!(c["optOutSource"], "keyword");
    assert!(c["optedOutAt"].is_string());
    let (code, v) = send_template(&s, &key, "14155552671", "weekly_deals").await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "template");
    assert!(error_text(&v).contains("opted out"), "{v}");
    let (code, v) = send_template(&s, &key, "14155552671", "hello_world").await;
    assert_eq!(code, 202, "utility goes through: {v}");
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "Noted, no more offers."}),
        )
        .await;
    assert_eq!(code, 202, "free-form goes through: {v}");
    let (code, v) = s.get(&key, "/contacts?optedOut=true").await;
    assert_eq!(code, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["id"], "14155552671");
    let (_, v) = s.get(&key, "/contacts?optedOut=false").await;
    assert_eq!(v["data"][0]["id"], "14155550123");

    // A longer text that merely contains the word is no keyword; "start" opts back in.
    customer_writes(&s, &key, "14155550123", "please do not stop").await;
    customer_writes(&s, &key, "14155552671", "start").await;
    contact_when(&s, &key, "14155552671", |c| c["optedOut"] == false).await;
    let (code, v) = send_template(&s, &key, "14155552671", "weekly_deals").await;
    assert_eq!(code, 202, "{v}");
    let c = contact_when(&s, &key, "14155550123", |c| {
        c["thread"].as_array().is_some_and(|t| t.len() == 2)
    })
    .await;
    assert_eq!(c["optedOut"], false);

    // The account's own keywords replace the defaults.
    let (code, v) = put(
        &s,
        &key,
        "/auth/me/opt-out-keywords",
        json!({"optOut": ["ARRET"], "optIn": ["GO"]}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"], json!({"optOut": ["ARRET"], "optIn": ["GO"]}));
    let (_, v) = s.get(&key, "/auth/me/opt-out-keywords").await;
    assert_eq!(v["data"]["optOut"], json!(["ARRET"]));
    customer_writes(&s, &key, "14155550123", "stop").await;
    customer_writes(&s, &key, "14155550123", "arret").await;
    let c = contact_when(&s, &key, "14155550123", |c| c["optedOut"] == true).await;
    let texts: Vec<&str> = c["thread"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert_eq!(
        texts[0], "arret",
        "opted out by the account's own keyword, after the plain stop: {c}"
    );
    for bad in [
        json!({"optOut": (0..51).map(|i| format!("W{i}")).collect::<Vec<_>>(), "optIn": []}),
        json!({"optOut": ["x".repeat(33)], "optIn": []}),
        json!({"optOut": ["STOP"], "optIn": ["stop"]}),
        json!({"optOut": ["STOP"]}),
        json!({"optOut": "STOP", "optIn": []}),
        json!({"optOut": [], "optIn": [], "extra": 1}),
    ] {
        let (code, v) = put(&s, &key, "/auth/me/opt-out-keywords", bad.clone()).await;
        assert_eq!(code, 400, "{bad}: {v}");
        assert!(
            v["details"].as_array().is_some_and(|d| !d.is_empty()),
            "{v}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn api_and_meta_opt_outs_pause_marketing_per_account() {
    let s = server().await;
    let key = waba_account(&s, "optouts@example.com").await;
    let other = s.sandbox_account("other@example.com", "1234567892").await;

    // PUT opt-out: creates the contact, source api; a bad body is a 400 with details.
    let (code, v) = put(
        &s,
        &key,
        "/contacts/+14155550300/opt-out",
        json!({"optedOut": true}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (
            &v["data"]["id"],
            &v["data"]["optedOut"],
            &v["data"]["optOutSource"]
        ),
        (&json!("14155550300"), &json!(true), &json!("api"))
    );
    assert_eq!(v["data"]["lastMessageAt"], Value::Null);
    let (code, v) = send_template(&s, &key, "14155550300", "weekly_deals").await;
    assert_eq!(code, 400, "{v}");
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155550300", "template": with_code("auth_code", "123456")}),
        )
        .await;
    assert_eq!(code, 202, "authentication goes through: {v}");
    for bad in [
        json!({"optedOut": "yes"}),
        json!({}),
        json!({"optedOut": true, "x": 1}),
        json!([true]),
    ] {
        let (code, v) = put(&s, &key, "/contacts/14155550300/opt-out", bad.clone()).await;
        assert_eq!(code, 400, "{bad}: {v}");
        assert!(
            v["details"].as_array().is_some_and(|d| !d.is_empty()),
            "{v}"
        );
    }
    let (code, v) = put(
        &s,
        &key,
        "/contacts/not-a-number/opt-out",
        json!({"optedOut": true}),
    )
    .await;
    assert_eq!(
        (code, v["details"][0]["field"].as_str()),
        (400, Some("id")),
        "{v}"
    );
    let (code, v) = put(
        &s,
        &key,
        "/contacts/14155550300/opt-out",
        json!({"optedOut": false}),
    )
    .await;
    assert_eq!((code, &v["data"]["optedOut"]), (200, &json!(false)), "{v}");
    let (code, v) = send_template(&s, &key, "14155550300", "weekly_deals").await;
    assert_eq!(code, 202, "{v}");

    // Meta's 131050 on a failed status: opted out by Meta.
    let wamid = sent_marketing(&s, &key, "14155550301").await;
    failed_status(&s, &wamid, "14155550301", 131050).await;
    let c = contact_when(&s, &key, "14155550301", |c| c["optedOut"] == true).await;
    assert_eq!(c["optOutSource"], "meta");
    let (code, v) = send_template(&s, &key, "14155550301", "weekly_deals").await;
    assert_eq!(code, 400, "{v}");
    let (code, _) = send_template(&s, &key, "14155550301", "hello_world").await;
    assert_eq!(code, 202);

    // user_preferences stop (for a number never written to), then resume.
    let prefs = |value: &str| {
        json!({"contacts": [{"profile": {"name": "Pat"}, "wa_id": "14155550302"}],
            "user_preferences": [{"wa_id": "14155550302", "detail": "User requested to stop marketing messages",
                "category": "marketing_messages", "value": value,
                "timestamp": chrono::Utc::now().timestamp(), "unknown_field": {"kept": "ignored"}}]})
    };
    meta_webhook(&s, "user_preferences", prefs("stop")).await;
    let c = contact_when(&s, &key, "14155550302", |c| c["optedOut"] == true).await;
    assert_eq!(c["optOutSource"], "meta");
    assert_eq!(
        send_template(&s, &key, "14155550302", "weekly_deals")
            .await
            .0,
        400
    );
    meta_webhook(&s, "user_preferences", prefs("resume")).await;
    contact_when(&s, &key, "14155550302", |c| c["optedOut"] == false).await;
    assert_eq!(
        send_template(&s, &key, "14155550302", "weekly_deals")
            .await
            .0,
        202
    );
    // Liberal in what it accepts: odd items are answered 200 and ignored.
    meta_webhook(
        &s,
        "user_preferences",
        json!({"user_preferences": [{"value": "stop"}, {"wa_id": 5}, "x"]}),
    )
    .await;
    meta_webhook(&s, "user_preferences", json!({"user_preferences": "stop"})).await;

    // 131049: marketing paused for 24 hours, with when it may go again; utility goes.
    let wamid = sent_marketing(&s, &key, "14155550303").await;
    failed_status(&s, &wamid, "14155550303", 131049).await;
    let c = contact_when(&s, &key, "14155550303", |c| {
        c["marketingPausedUntil"].is_string()
    })
    .await;
    assert_eq!(c["optedOut"], false);
    let until =
        chrono::DateTime::parse_from_rfc3339(c["marketingPausedUntil"].as_str().unwrap()).unwrap();
    let minutes = (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((23 * 60..=24 * 60).contains(&minutes), "{c}");
    let (code, v) = send_template(&s, &key, "14155550303", "weekly_deals").await;
    assert_eq!(code, 400, "{v}");
    assert!(
        error_text(&v).contains(c["marketingPausedUntil"].as_str().unwrap()),
        "{v}"
    );
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155550303", "template": with_code("order_update", "ORD-1")}),
        )
        .await;
    assert_eq!(code, 202, "utility goes through: {v}");
    assert_eq!(
        send_template(&s, &key, "14155550303", "hello_world")
            .await
            .0,
        202
    );

    // Another account sees none of it, and its own opt-out is its own.
    let (code, v) = s.get(&other, "/contacts").await;
    assert_eq!(
        (code, v["data"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
    let (code, _) = s.get(&other, "/contacts/14155550301").await;
    assert_eq!(code, 404);
    let (code, v) = put(
        &s,
        &other,
        "/contacts/14155550301/opt-out",
        json!({"optedOut": false}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let (_, v) = s.get(&key, "/contacts/14155550301").await;
    assert_eq!(
        v["data"]["optedOut"], true,
        "the other account's call changed nothing here"
    );
    let (code, v) = s.get(&key, "/contacts/14155559999").await;
    assert_eq!(
        (code, v["error"].as_str()),
        (404, Some("Contact not found."))
    );
    let (code, _) = s.get(&key, "/contacts/hello").await;
    assert_eq!(code, 404);
    s.stop().await;
}
