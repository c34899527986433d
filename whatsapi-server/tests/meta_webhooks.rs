//! Meta's webhooks as Meta really sends them (issue 15): username users (BSUIDs), other fields, routing by WABA,
//! untracked statuses, value-level errors, malformed items among good ones, pricing and error details, the cheap
//! refusals (size, signature, number count), per-account verify tokens, and one account per phone number id.
//! Payloads follow Meta's webhook reference and the fixtures of public client libraries.

mod common;

use std::time::{Duration, Instant};

use common::{APP_SECRET, PHONE_NUMBER_ID, TestServer};
use serde_json::{Value, json};
use whatsapi_core::AccountId;

const BSUID: &str = "US.13491208655302741918";
const WABA: &str = "102290129340398";
const ACCOUNT_SECRET: &str = "acct-app-secret-9f2c";

async fn post_raw(s: &TestServer, raw: Vec<u8>, secret: Option<&str>) -> (u16, Value) {
    let mut req = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        req = req.header(
            "x-hub-signature-256",
            whatsapi_core::meta::sign(secret.as_bytes(), &raw),
        );
    }
    let r = req.body(raw).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn post(s: &TestServer, body: &Value, secret: Option<&str>) -> (u16, Value) {
    post_raw(s, serde_json::to_vec(body).unwrap(), secret).await
}

fn payload(changes: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": changes}]})
}

fn messages_change(pnid: &str, value: Value) -> Value {
    let mut v = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": pnid}});
    v.as_object_mut()
        .unwrap()
        .extend(value.as_object().unwrap().clone());
    json!({"field": "messages", "value": v})
}

fn now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// Registers an account with its own app secret (not the server's), phone number id and optional WABA id.
async fn account_with_own_secret(
    s: &TestServer,
    email: &str,
    pnid: &str,
    waba: Option<&str>,
) -> String {
    let key = s.register(email).await;
    let mut body = json!({"whatsappAccessToken": "EAAown", "whatsappPhoneNumberId": pnid,
                          "whatsappAppSecret": ACCOUNT_SECRET});
    if let Some(w) = waba {
        body["whatsappBusinessAccountId"] = json!(w);
    }
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    key
}

async fn account_id(s: &TestServer, key: &str) -> AccountId {
    let (code, me) = s.get(key, "/auth/me").await;
    assert_eq!(code, 200);
    AccountId(me["data"]["id"].as_str().unwrap().parse().unwrap())
}

/// Sends a text and waits until Meta accepted it; returns (message id, wamid).
async fn sent(s: &TestServer, key: &str, to: &str) -> (String, String) {
    let (code, v) = s
        .post(key, "/send-message", json!({"to": to, "message": "Hi"}))
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(key, &id, &["sent"]).await;
    (id, m["wamid"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_username_user_without_from_is_accepted_and_its_status_applied() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("bsuid@example.com").await;
    let account = account_id(&s, &key).await;
    let (id, wamid) = sent(&s, &key, "14155552671").await;
    let ts = now();
    let body = payload(vec![messages_change(
        PHONE_NUMBER_ID,
        json!({
            "contacts": [{"profile": {"name": "Sarah"}, "user_id": BSUID, "username": "sarah.k"},
                         {"profile": {"name": "Ann"}, "wa_id": "14155550100", "user_id": "US.99887766554433221100"}],
            "messages": [
                {"from_user_id": BSUID, "from_parent_user_id": "US.ENT.11815799212886844830",
                 "id": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUY2QkE1QTNDQTU1M0Q2QzNDQQA=",
                 "timestamp": ts, "type": "text", "text": {"body": "Where is my order?"}},
                {"from": "14155550100", "from_user_id": "US.99887766554433221100",
                 "id": "wamid.HBgLMTQxNTU1NTAxMDAVAgASGBQzQUZGNkQ2NDlEODc0QTdCRTE5MAA=",
                 "timestamp": ts, "type": "text", "text": {"body": "Hello"}}],
            "statuses": [{"id": wamid, "status": "delivered", "timestamp": ts,
                          "recipient_user_id": BSUID,
                          "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}}]
        }),
    )]);
    let (code, v) = post(&s, &body, Some(APP_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["inbound"], 2, "{v}");
    assert_eq!(v["data"]["applied"], 1, "{v}");
    s.wait_status(&key, &id, &["delivered"]).await;
    // The window is kept by BSUID for the username user and by phone number for the other.
    let by_bsuid = s.store.last_inbound(account, BSUID).await.unwrap();
    assert!(by_bsuid.is_some(), "BSUID inbound recorded");
    assert!(
        s.store
            .last_inbound(account, "14155550100")
            .await
            .unwrap()
            .is_some(),
        "phone inbound recorded by phone number"
    );
    s.stop().await;
}

#[tokio::test]
async fn template_and_account_updates_route_by_waba_and_are_checked_with_the_accounts_secret() {
    let s = TestServer::start().await;
    let key = account_with_own_secret(&s, "waba@example.com", "1029384756", Some(WABA)).await;
    let (code, me) = s.get(&key, "/auth/me").await;
    assert_eq!(code, 200);
    assert_eq!(me["data"]["whatsappBusinessAccountId"], WABA, "{me}");
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": WABA, "time": 1711620000, "changes": [
            {"field": "message_template_status_update", "value": {
                "event": "APPROVED", "message_template_id": 594425479261596_u64,
                "message_template_name": "order_ready", "message_template_language": "en_US", "reason": "NONE"}},
            {"field": "message_template_quality_update", "value": {
                "previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
                "message_template_id": 594425479261596_u64, "message_template_name": "order_ready",
                "message_template_language": "en_US"}},
            {"field": "template_category_update", "value": {
                "message_template_id": 594425479261596_u64, "message_template_name": "order_ready",
                "message_template_language": "en_US", "previous_category": "UTILITY", "new_category": "MARKETING"}},
            {"field": "account_update", "value": {
                "phone_number": "15550001234", "event": "ACCOUNT_UPDATE",
                "waba_info": {"waba_id": WABA, "owner_business_id": "1234567890123"}}}]}]});
    // Signed with the account's app secret, not the server's: verified through the WABA id.
    let (code, v) = post(&s, &body, Some(ACCOUNT_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["other"], 4, "{v}");
    // Any other secret is refused.
    let (code, _) = post(&s, &body, Some("someone-elses-secret")).await;
    assert_eq!(code, 401);
    // A WABA nobody declared cannot be vouched for by an account's secret.
    let mut stranger = body.clone();
    stranger["entry"][0]["id"] = json!("999999999999999");
    let (code, _) = post(&s, &stranger, Some(ACCOUNT_SECRET)).await;
    assert_eq!(code, 401);
    // The server's secret vouches for any payload; an unowned WABA is unrouted and ignored.
    let (code, v) = post(&s, &stranger, Some(APP_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["unrouted"], 4, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn calls_preferences_echoes_history_and_value_errors_are_answered_200() {
    let s = TestServer::start().await;
    let pnid = "1029384757";
    let _key = account_with_own_secret(&s, "fields@example.com", pnid, None).await;
    let meta = json!({"display_phone_number": "15550001234", "phone_number_id": pnid});
    let ts = now();
    let body = payload(vec![
        json!({"field": "calls", "value": {"messaging_product": "whatsapp", "metadata": meta,
            "contacts": [{"profile": {"name": "Sarah"}, "wa_id": "14155552671"}],
            "calls": [{"id": "wacid.HBgLMTQxNTU1NTI2NzEVAgASGCA4QkQ5", "from": "14155552671", "to": "15550001234",
                       "event": "connect", "timestamp": ts, "direction": "USER_INITIATED",
                       "session": {"sdp_type": "offer", "sdp": "v=0"}}]}}),
        json!({"field": "calls", "value": {"messaging_product": "whatsapp", "metadata": meta,
            "statuses": [{"id": "wacid.HBgLMTQxNTU1NTI2NzEVAgASGCA4QkQ5", "timestamp": ts, "type": "call",
                          "status": "RINGING", "recipient_id": "14155552671"}]}}),
        json!({"field": "user_preferences", "value": {"messaging_product": "whatsapp", "metadata": meta,
            "contacts": [{"profile": {"name": "Sarah"}, "wa_id": "14155552671"}],
            "user_preferences": [{"wa_id": "14155552671", "detail": "User requested to stop marketing messages",
                                  "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}]}}),
        json!({"field": "smb_message_echoes", "value": {"messaging_product": "whatsapp", "metadata": meta,
            "message_echoes": [{"from": "15550001234", "to": "14155552671", "id": "wamid.ECHO1",
                                "timestamp": ts, "type": "text", "text": {"body": "Sent from the app"}}]}}),
        json!({"field": "history", "value": {"messaging_product": "whatsapp", "metadata": meta,
            "history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 55}, "threads": []}]}}),
        json!({"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": meta,
            "errors": [{"code": 131000, "title": "Something went wrong", "message": "Something went wrong",
                        "error_data": {"details": "Unable to process the message"}}]}}),
    ]);
    let (code, v) = post(&s, &body, Some(ACCOUNT_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["other"], 5, "{v}");
    assert_eq!(v["data"]["unrouted"], 0, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn played_counts_as_read_and_untracked_statuses_are_ignored() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("played@example.com").await;
    let (id, wamid) = sent(&s, &key, "14155552671").await;
    let ts = now();
    let body = payload(vec![messages_change(
        PHONE_NUMBER_ID,
        json!({"statuses": [
            {"id": wamid, "status": "played", "timestamp": ts, "recipient_id": "14155552671"},
            {"id": "wamid.DELETED1", "status": "deleted", "timestamp": ts, "recipient_id": "14155552671"},
            {"id": "wamid.WARN1", "status": "warning", "timestamp": ts, "recipient_id": "14155552671",
             "errors": [{"code": 131060, "title": "Item unavailable"}]},
            {"id": "wamid.NEW1", "status": "some_future_status", "timestamp": ts, "recipient_id": "14155552671"}]}),
    )]);
    let (code, v) = post(&s, &body, Some(APP_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["untracked"], 3, "{v}");
    let m = s.wait_status(&key, &id, &["read"]).await;
    assert!(
        m["readAt"].is_string() && m["deliveredAt"].is_string(),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_malformed_status_does_not_sink_the_good_ones() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("mixed@example.com").await;
    let (a, wa) = sent(&s, &key, "14155552671").await;
    let (b, wb) = sent(&s, &key, "14155552672").await;
    let ts = now();
    let body = payload(vec![messages_change(
        PHONE_NUMBER_ID,
        json!({"statuses": [
            {"id": wa, "status": "delivered", "timestamp": ts, "recipient_id": "14155552671"},
            {"id": 12345, "status": ["delivered"], "timestamp": {"bad": true}},
            {"status": "read", "timestamp": ts},
            {"id": wb, "status": "read", "timestamp": ts, "recipient_id": "14155552672"}],
         "messages": [{"id": "wamid.NOSENDER", "timestamp": ts, "type": "text", "text": {"body": "?"}}]}),
    )]);
    let (code, v) = post(&s, &body, Some(APP_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["applied"], 2, "{v}");
    assert_eq!(v["data"]["skipped"], 3, "{v}");
    s.wait_status(&key, &a, &["delivered"]).await;
    s.wait_status(&key, &b, &["read"]).await;
    s.stop().await;
}

#[tokio::test]
async fn pricing_and_meta_error_details_show_on_the_message() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("pricing@example.com").await;
    let (a, wa) = sent(&s, &key, "14155552671").await;
    let (b, wb) = sent(&s, &key, "14155552672").await;
    let ts = now();
    let body = payload(vec![messages_change(
        PHONE_NUMBER_ID,
        json!({"statuses": [
            {"id": wa, "status": "sent", "timestamp": ts, "recipient_id": "14155552671",
             "biz_opaque_callback_data": a,
             "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}},
            {"id": wb, "status": "failed", "timestamp": ts, "recipient_id": "14155552672",
             "errors": [{"code": 131049,
                         "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                         "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                         "error_data": {"details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
                         "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]}]}),
    )]);
    let (code, v) = post(&s, &body, Some(APP_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    let (_, m) = s.get(&key, &format!("/messages/{a}")).await;
    assert_eq!(
        m["data"]["pricing"],
        json!({"pricingModel": "PMP", "category": "marketing", "type": "regular", "billable": true}),
        "{m}"
    );
    let m = s.wait_status(&key, &b, &["failed"]).await;
    assert_eq!(m["errorCode"], 131049, "{m}");
    assert_eq!(m["metaError"]["code"], 131049, "{m}");
    assert_eq!(
        m["metaError"]["details"],
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."
    );
    assert_eq!(
        m["metaError"]["title"],
        "This message was not delivered to maintain healthy ecosystem engagement."
    );
    assert!(m["metaError"]["message"].is_string(), "{m}");
    s.stop().await;
}

#[tokio::test]
async fn cheap_refusals_size_signature_and_number_count() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("limits@example.com").await;
    let (id, wamid) = sent(&s, &key, "14155552671").await;

    // 8 MB unsigned, and 8 MB wrongly signed: 413 in the API's error shape.
    let big = vec![b' '; 8 * 1024 * 1024];
    for secret in [None, Some("wrong")] {
        let (code, v) = post_raw(&s, big.clone(), secret).await;
        assert_eq!(code, 413, "{v}");
        assert_eq!(v["success"], false, "{v}");
    }
    // Unsigned and small: 401 at once, also for something that is not JSON.
    let (code, v) = post_raw(&s, b"{not json".to_vec(), None).await;
    assert_eq!((code, v["success"].clone()), (401, json!(false)));

    // A genuine batch of 2.5 MB (over the server-wide 256 KB limit of the test server) is taken on this route.
    let ts = now();
    let filler: Vec<Value> = (0..9000)
        .map(|i| {
            json!({"id": format!("wamid.UNKNOWN{i:06}"), "status": "deleted", "timestamp": ts,
                        "recipient_id": "14155552671", "note": "x".repeat(220)})
        })
        .collect();
    let mut statuses = vec![
        json!({"id": wamid, "status": "delivered", "timestamp": ts, "recipient_id": "14155552671"}),
    ];
    statuses.extend(filler);
    let batch = payload(vec![messages_change(
        PHONE_NUMBER_ID,
        json!({"statuses": statuses}),
    )]);
    let raw = serde_json::to_vec(&batch).unwrap();
    assert!(
        raw.len() > 2 * 1024 * 1024 && raw.len() < 3 * 1024 * 1024,
        "{}",
        raw.len()
    );
    let (code, v) = post_raw(&s, raw, Some(APP_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    s.wait_status(&key, &id, &["delivered"]).await;

    // More than 100 distinct numbers: 400 before any lookup, whoever signed it.
    let many = |n: usize| {
        payload(
            (0..n)
                .map(|i| messages_change(&format!("77{i:08}"), json!({"statuses": []})))
                .collect(),
        )
    };
    let (code, v) = post(&s, &many(101), Some(APP_SECRET)).await;
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("100"), "{v}");
    let (code, _) = post(&s, &many(100), Some(APP_SECRET)).await;
    assert_eq!(code, 200);
    // 40,000 numbers (compact changes, 2.3 MB) with a wrong signature: refused quickly, without 40,000 lookups.
    let compact = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes":
        (0..40_000).map(|i| json!({"value": {"metadata": {"phone_number_id": format!("7{i:09}")}}})).collect::<Vec<_>>()}]});
    let started = Instant::now();
    let (code, _) = post(&s, &compact, Some("wrong")).await;
    assert_eq!(code, 400);
    assert!(started.elapsed() < Duration::from_secs(20));
    s.stop().await;
}

#[tokio::test]
async fn a_signed_payload_of_another_object_is_acknowledged_and_unsigned_garbage_refused() {
    let s = TestServer::start().await;
    let page = json!({"object": "page", "entry": [{"id": "1", "time": 1, "messaging": []}]});
    let (code, v) = post(&s, &page, Some(APP_SECRET)).await;
    assert_eq!(code, 200, "{v}");
    let (code, _) = post(&s, &page, Some("wrong")).await;
    assert_eq!(code, 401);
    let (code, _) = post_raw(&s, b"[1,2,3]".to_vec(), Some("wrong")).await;
    assert_eq!(
        code, 401,
        "no parse error is told to a sender without a secret"
    );
    let (code, _) = post_raw(&s, b"[1,2,3]".to_vec(), Some(APP_SECRET)).await;
    assert_eq!(code, 400);
    s.stop().await;
}

#[tokio::test]
async fn an_accounts_own_verify_token_answers_the_handshake() {
    let s = TestServer::start().await;
    let key = s.register("verify@example.com").await;
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(
            &json!({"whatsappAccessToken": "EAAv", "whatsappPhoneNumberId": "1122334455",
                      "whatsappVerifyToken": "acct-verify-7d1e"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let handshake = |token: &str| {
        s.client
            .get(s.url(&format!(
                "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}"
            )))
            .send()
    };
    let r = handshake("acct-verify-7d1e").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "1158201444");
    // The server's token keeps working; anything else does not.
    assert_eq!(handshake(common::VERIFY_TOKEN).await.unwrap().status(), 200);
    assert_eq!(handshake("acct-verify-7d1").await.unwrap().status(), 403);
    assert_eq!(handshake("").await.unwrap().status(), 403);
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["whatsappVerifyTokenSet"], true, "{me}");
    // Removed with the credentials.
    let r = s
        .client
        .delete(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(handshake("acct-verify-7d1e").await.unwrap().status(), 403);
    s.stop().await;
}

#[tokio::test]
async fn a_phone_number_id_or_waba_id_belongs_to_one_account() {
    let s = TestServer::start().await;
    let first = account_with_own_secret(&s, "first@example.com", "5566778899", Some(WABA)).await;
    let second = s.register("second@example.com").await;
    let put = |body: Value| {
        s.client
            .put(s.url("/auth/me/credentials"))
            .bearer_auth(&second)
            .json(&body)
            .send()
    };
    let r = put(json!({"whatsappAccessToken": "EAAx", "whatsappPhoneNumberId": "5566778899"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"].as_str().unwrap();
    assert_eq!(v["success"], false);
    assert!(msg.contains("5566778899"), "{msg}");
    assert!(!msg.contains("first@example.com"), "{msg}");
    let r = put(
        json!({"whatsappAccessToken": "EAAx", "whatsappPhoneNumberId": "5566778800",
                       "whatsappBusinessAccountId": WABA}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains(WABA), "{v}");
    let r = put(json!({"whatsappAccessToken": "EAAx", "whatsappPhoneNumberId": "5566778800"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The webhooks of the number still reach the first account only.
    let (_, me) = s.get(&first, "/auth/me").await;
    assert_eq!(me["data"]["whatsappPhoneNumberId"], "5566778899");
    s.stop().await;
}
