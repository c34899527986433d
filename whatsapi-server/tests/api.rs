//! Replays the reference's request examples against a real server and checks the documented shapes, plus the
//! error cases, rate-limit headers and idempotency behaviour.

mod common;

use std::time::Duration;

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::SendError;
use whatsapi_core::testing::Script;
use whatsapi_saas::PlanLimits;

fn assert_error_shape(v: &Value) {
    assert_eq!(v["success"], false, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
}

#[tokio::test]
async fn register_me_and_key_format() {
    let s = TestServer::start().await;
    let r = s
        .client
        .post(s.url("/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{ "name": "Your Name", "email": "you@example.com" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        r.headers().contains_key("x-ratelimit-limit"),
        "registration reports its per-IP limit"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["success"], true);
    let key = v["data"]["apiKey"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk_live_") && key.len() == 56, "{key}");
    assert!(
        key[8..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(v["data"]["plan"], "free");

    let (code, me) = s.get(&key, "/auth/me").await;
    assert_eq!(code, 200);
    let d = &me["data"];
    assert_eq!(d["name"], "Your Name");
    assert_eq!(d["email"], "you@example.com");
    assert_eq!(d["plan"], "free");
    assert_eq!(d["messagesSent"], 0);
    assert_eq!(d["byocConfigured"], false);
    assert_eq!(d["webhookUrl"], Value::Null);
    assert!(
        !me.to_string().contains(&key),
        "the key is never returned by /auth/me"
    );

    // Duplicate email (any case) -> 409; missing fields -> 400 with details.
    let (code, v) = s
        .post(
            "",
            "/auth/register",
            json!({"name": "Other", "email": "YOU@example.com"}),
        )
        .await;
    assert_eq!(code, 409, "{v}");
    assert_error_shape(&v);
    let (code, v) = s
        .post("", "/auth/register", json!({"name": "No Email"}))
        .await;
    assert_eq!(code, 400);
    assert_eq!(v["details"][0]["field"], "email");
    let (code, v) = s
        .post(
            "",
            "/auth/register",
            json!({"name": "", "email": "not-an-email"}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert!(v["details"].as_array().unwrap().len() >= 2, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn register_is_limited_per_ip() {
    let mut options = Options::default();
    options.settings.register_per_minute = 5;
    let s = TestServer::start_with(options).await;
    for i in 0..5 {
        let (code, v) = s
            .post(
                "",
                "/auth/register",
                json!({"name": "N", "email": format!("u{i}@example.com")}),
            )
            .await;
        assert_eq!(code, 201, "{v}");
    }
    let r = s
        .client
        .post(s.url("/auth/register"))
        .json(&json!({"name": "N", "email": "u9@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_error_shape(&r.json().await.unwrap());
    s.stop().await;
}

#[tokio::test]
async fn authentication_errors() {
    let s = TestServer::start().await;
    let r = s.client.get(s.url("/auth/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_error_shape(&v);
    assert!(
        v["error"].as_str().unwrap().contains("Bearer sk_live_"),
        "{v}"
    );
    for bad in ["Basic abc", "Bearer", "Bearer sk_live_123", "sk_live_abc"] {
        let r = s
            .client
            .get(s.url("/auth/me"))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    let unknown = format!("sk_live_{}", "ab".repeat(24));
    let (code, v) = s.get(&unknown, "/auth/me").await;
    assert_eq!(code, 401);
    assert_error_shape(&v);
    s.stop().await;
}

#[tokio::test]
async fn credentials_save_verify_remove() {
    let s = TestServer::start().await;
    let key = s.register("creds@example.com").await;
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(&json!({ "whatsappAccessToken": "EAAc...", "whatsappPhoneNumberId": "1234567890" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["byocConfigured"], true);
    assert!(
        !me.to_string().contains("EAAc"),
        "the token is never echoed"
    );

    let (code, v) = s
        .post(&key, "/auth/me/credentials/verify", Value::Null)
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["valid"], true);
    assert_eq!(v["data"]["verifiedName"], "Test Business");
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["credentialsVerified"], true);

    s.transport.verify_with(Err(SendError::meta(
        401,
        190,
        "Error validating access token: Session has expired",
    )));
    let (code, v) = s
        .post(&key, "/auth/me/credentials/verify", Value::Null)
        .await;
    assert_eq!(code, 200);
    assert_eq!(v["data"]["valid"], false);
    assert_eq!(v["data"]["errorCode"], 190);

    let r = s
        .client
        .delete(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["byocConfigured"], false);
    let (code, v) = s
        .post(&key, "/auth/me/credentials/verify", Value::Null)
        .await;
    assert_eq!(code, 400, "{v}");

    // Sending without credentials is refused clearly, unless dry_run.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("credentials"), "{v}");
    let (code, _) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "dry_run": true}),
        )
        .await;
    assert_eq!(code, 202);

    let (code, v) = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(&json!({"whatsappPhoneNumberId": 5}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(code, 400);
    let v: Value = v.json().await.unwrap();
    let fields: Vec<&str> = v["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["whatsappAccessToken", "whatsappPhoneNumberId"]);
    s.stop().await;
}

#[tokio::test]
async fn send_track_deliver_with_idempotency() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("send@example.com").await;
    let body = r#"{ "to": "14155552671", "message": "Hi Sarah! Your order #1234 has shipped.", "metadata": { "orderId": "1234" } }"#;
    let send = || {
        s.client
            .post(s.url("/send-message"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .header("idempotency-key", "order-1234-shipped")
            .body(body)
            .send()
    };
    let r = send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers().get("idempotency-replayed").is_none());
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["success"], true);
    assert_eq!(first["data"]["status"], "queued");
    assert_eq!(first["data"]["scheduledFor"], Value::Null);
    let id = first["data"]["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());

    // Replay: same status and body, flagged, nothing sent twice.
    let r = send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["idempotency-replayed"], "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again, first);

    // Same key, another body: 409.
    let r = s
        .client
        .post(s.url("/send-message"))
        .bearer_auth(&key)
        .header("idempotency-key", "order-1234-shipped")
        .json(&json!({"to": "14155552671", "message": "something else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_error_shape(&r.json().await.unwrap());

    // The key is scoped to the account: another account can use it.
    let other = s.account_with_credentials("other@example.com").await;
    let r = s
        .client
        .post(s.url("/send-message"))
        .bearer_auth(&other)
        .header("idempotency-key", "order-1234-shipped")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers().get("idempotency-replayed").is_none());

    let sent = s.wait_status(&key, &id, &["sent"]).await;
    let wamid = sent["wamid"].as_str().unwrap().to_owned();
    assert_eq!(
        s.transport
            .sent()
            .iter()
            .filter(|r| r.message.message_id.to_string() == id)
            .count(),
        1,
        "sent exactly once"
    );
    assert_eq!(
        s.meta_status(&wamid, "delivered", chrono::Utc::now().timestamp())
            .await,
        200
    );
    let m = s.wait_status(&key, &id, &["delivered"]).await;
    assert_eq!(m["id"], id);
    assert_eq!(m["to"], "14155552671");
    assert_eq!(m["body"], "Hi Sarah! Your order #1234 has shipped.");
    assert_eq!(m["metadata"], json!({"orderId": "1234"}));
    for f in ["sentAt", "deliveredAt"] {
        let t = m[f].as_str().unwrap();
        assert!(
            t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "{f}: {t}"
        );
    }
    assert_eq!(m["readAt"], Value::Null);
    assert_eq!(m["failedAt"], Value::Null);
    assert_eq!(m["errorMessage"], Value::Null);
    let statuses: Vec<&str> = m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["queued", "sent", "delivered"]);
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["messagesSent"], 1);
    s.stop().await;
}

#[tokio::test]
async fn templates_bulk_schedule_and_listing() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("bulk@example.com").await;
    let (code, v) = s
        .post(&key, "/send-message", json!({ "to": "14155552671", "template": { "name": "hello_world", "language": "en_US" } }))
        .await;
    assert_eq!(code, 202, "{v}");
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({ "to": "14155552671", "template": { "name": "order_ready", "language": "en_US", "components": [{ "type": "body", "parameters": [ { "type": "text", "text": "Sarah" }, { "type": "text", "text": "#1042" } ] }] } }),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let tpl_id = v["data"]["id"].as_str().unwrap().to_owned();

    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({ "messages": [ { "to": "14155552671", "message": "Hi Alice, your code is 1234" }, { "to": "14155552672", "message": "Hi Bob, your code is 5678" } ] }),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let d = &v["data"];
    assert_eq!(d["totalMessages"], 2);
    assert_eq!(d["queued"], 2);
    assert_eq!(d["failedCount"], 0);
    let batch = d["batchId"].as_str().unwrap().to_owned();

    let send_at = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let (code, v) = s
        .post(&key, "/send-message", json!({ "to": "14155552671", "message": "Reminder: your appointment is tomorrow at 9am.", "sendAt": send_at }))
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["status"], "scheduled");
    let scheduled_for = v["data"]["scheduledFor"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(scheduled_for)
            .unwrap()
            .timestamp(),
        chrono::DateTime::parse_from_rfc3339(&send_at)
            .unwrap()
            .timestamp()
    );

    // Partial bulk: valid items queued, invalid ones reported with their index.
    let (code, v) = s
        .post(&key, "/messages/bulk", json!({"messages": [{"to": "14155552673", "message": "ok"}, {"to": "+1415", "message": ""}]}))
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["queued"], 1);
    assert_eq!(v["data"]["failedCount"], 1);
    assert_eq!(v["data"]["errors"][0]["index"], 1);

    let (code, v) = s.get(&key, &format!("/messages?batchId={batch}")).await;
    assert_eq!(code, 200);
    assert_eq!(v["success"], true);
    assert_eq!(v["pagination"]["total"], 2);
    assert_eq!(v["data"].as_array().unwrap().len(), 2);

    let (code, v) = s.get(&key, "/messages?limit=2&page=1").await;
    assert_eq!(code, 200);
    assert_eq!(
        v["pagination"],
        json!({"page": 1, "limit": 2, "total": 6, "totalPages": 3})
    );
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let (_, v3) = s.get(&key, "/messages?limit=200").await;
    let all: Vec<&str> = v3["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(&all[..2], &ids[..], "newest first");
    assert_eq!(
        *all.last().unwrap(),
        v3["data"].as_array().unwrap().last().unwrap()["id"]
            .as_str()
            .unwrap()
    );

    let (code, v) = s.get(&key, "/messages?status=scheduled").await;
    assert_eq!(code, 200);
    assert_eq!(v["pagination"]["total"], 1);

    let m = s.wait_status(&key, &tpl_id, &["sent"]).await;
    assert_eq!(m["template"]["name"], "order_ready");
    assert_eq!(m["body"], Value::Null);

    for bad in [
        "/messages?status=lost",
        "/messages?limit=0",
        "/messages?limit=100000",
        "/messages?page=-1",
        "/messages?batchId=nope",
    ] {
        let (code, v) = s.get(&key, bad).await;
        assert_eq!(code, 400, "{bad}: {v}");
        assert!(
            v["details"].as_array().is_some_and(|d| !d.is_empty()),
            "{bad}: {v}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn failure_retry_and_analytics() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("fail@example.com").await;
    let mut e = SendError::meta(400, 131026, "Message undeliverable");
    e.details = Some("Recipient is not a WhatsApp user".into());
    s.transport.script("14155550001", [Script::Fail(e)]);
    let (_, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155550001", "message": "hi"}),
        )
        .await;
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(&key, &id, &["failed"]).await;
    assert!(
        m["errorMessage"].as_str().unwrap().contains("131026"),
        "{m}"
    );
    assert!(m["failedAt"].as_str().is_some());
    assert_eq!(m["errorCode"], 131026);
    assert_eq!(
        m["retryable"], false,
        "131026 fails the same way again: {m}"
    );
    let (_, list) = s.get(&key, "/messages?status=failed").await;
    assert_eq!(list["data"][0]["retryable"], false, "{list}");

    // A failure a retry can fix (outside the 24-hour window: the customer may write in) says so.
    let other_key = s.account_with_credentials("fail-window@example.com").await;
    s.transport.script(
        "14155550002",
        [Script::Fail(SendError::meta(
            400,
            131047,
            "Re-engagement message",
        ))],
    );
    let (_, v) = s
        .post(
            &other_key,
            "/send-message",
            json!({"to": "14155550002", "message": "hi"}),
        )
        .await;
    let other = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(&other_key, &other, &["failed"]).await;
    assert_eq!(m["retryable"], true, "{m}");

    // The API still takes a retry of any failed message: `retryable` is advice.
    let (code, v) = s
        .post(&key, &format!("/messages/{id}/retry"), Value::Null)
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["id"], id);
    let m = s.wait_status(&key, &id, &["sent"]).await;
    assert_eq!(m["retryable"], false, "only a failed message is: {m}");
    let (code, v) = s
        .post(&key, &format!("/messages/{id}/retry"), Value::Null)
        .await;
    assert_eq!(code, 409, "only failed messages: {v}");
    assert_error_shape(&v);

    let (code, v) = s.get(&key, "/analytics/summary").await;
    assert_eq!(code, 200);
    assert_eq!(v["data"]["total"], 1);
    assert_eq!(v["data"]["byStatus"], json!({"sent": 1}));
    assert_eq!(v["data"]["deliveryRate"], 0.0);
    assert_eq!(v["data"]["failureRate"], 0.0);
    s.stop().await;
}

#[tokio::test]
async fn tenants_are_isolated_and_unknown_ids_are_404() {
    let s = TestServer::start().await;
    let a = s.account_with_credentials("a@example.com").await;
    let b = s.account_with_credentials("b@example.com").await;
    let (_, v) = s
        .post(
            &a,
            "/send-message",
            json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, v) = s.get(&b, &format!("/messages/{id}")).await;
    assert_eq!(code, 404);
    assert_error_shape(&v);
    let (code, _) = s
        .post(&b, &format!("/messages/{id}/retry"), Value::Null)
        .await;
    assert_eq!(code, 404);
    let (_, v) = s.get(&b, "/messages").await;
    assert_eq!(v["pagination"]["total"], 0);
    let (code, _) = s.get(&a, "/messages/not-a-uuid").await;
    assert_eq!(code, 404);
    let (code, _) = s
        .get(&a, &format!("/messages/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(code, 404);
    s.stop().await;
}

#[tokio::test]
async fn error_shapes_for_bad_requests() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("errors@example.com").await;
    let raw = |body: &'static str| {
        s.client
            .post(s.url("/send-message"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = raw(r#"{"to": "14155552671", "message": "hi",}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("line 1, column"),
        "{v}"
    );
    let r = raw("").await.unwrap();
    assert_eq!(r.status(), 400);

    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "+14155552671", "message": "x".repeat(4097)}),
        )
        .await;
    assert_eq!(code, 400);
    let fields: Vec<&str> = v["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["to", "message"]);
    assert!(
        v["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("14155552671")
    );

    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "sendAt": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(v["details"][0]["field"], "sendAt");

    let r = s
        .client
        .post(s.url("/send-message"))
        .bearer_auth(&key)
        .header("idempotency-key", "has space")
        .json(&json!({"to": "14155552671", "message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let huge =
        json!({"to": "14155552671", "message": "hi", "metadata": {"blob": "x".repeat(300 * 1024)}});
    let (code, v) = s.post(&key, "/send-message", huge).await;
    assert_eq!(code, 413, "{v}");
    assert_error_shape(&v);

    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"to": "14155552671", "message": "hi"}))
        .collect();
    let (code, v) = s
        .post(&key, "/messages/bulk", json!({"messages": too_many}))
        .await;
    assert_eq!(code, 400, "{v}");
    assert!(v["details"][0]["message"].as_str().unwrap().contains("100"));

    let (code, v) = s.get(&key, "/no/such/route").await;
    assert_eq!(code, 404);
    assert_error_shape(&v);
    let r = s
        .client
        .delete(s.url("/send-message"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_error_shape(&r.json().await.unwrap());

    // Billing without Stripe configuration (tests/billing.rs covers it configured).
    for path in ["/billing/portal"] {
        let (code, v) = s.get(&key, path).await;
        assert_eq!(code, 503, "{path}");
        assert_error_shape(&v);
    }
    let (code, _) = s
        .post(&key, "/billing/checkout", json!({"plan": "pro"}))
        .await;
    assert_eq!(code, 503);
    s.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let mut options = Options::default();
    options.plans.free = PlanLimits {
        requests_per_minute: 3,
        bulk_cap: 100,
        ..whatsapi_saas::Plan::Free.default_limits()
    };
    let s = TestServer::start_with(options).await;
    let key = s.register("rl@example.com").await;
    let mut last_reset = 0;
    for expected_remaining in [2, 1, 0] {
        let r = s
            .client
            .get(s.url("/auth/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["x-ratelimit-limit"], "3");
        assert_eq!(
            h["x-ratelimit-remaining"],
            expected_remaining.to_string().as_str()
        );
        last_reset = h["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap();
        assert!(last_reset > chrono::Utc::now().timestamp() - 1);
        assert_eq!(h["ratelimit-policy"], "\"default\";q=3;w=60");
        assert!(
            h["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(&format!("\"default\";r={expected_remaining};t="))
        );
    }
    let r = s
        .client
        .get(s.url("/auth/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert!(
        r.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            >= last_reset
    );
    assert_error_shape(&r.json().await.unwrap());
    s.stop().await;
}

#[tokio::test]
async fn deactivated_accounts_get_403() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("gone@example.com").await;
    let (_, me) = s.get(&key, "/auth/me").await;
    let id: whatsapi_core::AccountId = me["data"]["id"].as_str().unwrap().parse().unwrap();
    s.store
        .update_account(id, whatsapi_core::account::AccountUpdate::SetActive(false))
        .await
        .unwrap();
    let (code, v) = s.get(&key, "/auth/me").await;
    assert_eq!(code, 403);
    assert_error_shape(&v);
    let (code, _) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    assert_eq!(code, 403);
    s.stop().await;
}

#[tokio::test]
async fn rotate_key_invalidates_the_old_one() {
    let s = TestServer::start().await;
    let old = s.register("rotate@example.com").await;
    let (code, v) = s.post(&old, "/auth/me/rotate-key", Value::Null).await;
    assert_eq!(code, 200);
    let new = v["data"]["apiKey"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(s.get(&old, "/auth/me").await.0, 401);
    assert_eq!(s.get(&new, "/auth/me").await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn customer_webhook_receives_signed_events_in_order() {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};

    type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(r): State<Received>, headers: HeaderMap, body: String| async move {
                    r.lock().unwrap().push((headers, body));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let s = TestServer::start().await;
    let key = s.account_with_credentials("hook@example.com").await;
    let r = s
        .client
        .put(s.url("/auth/me/webhook"))
        .bearer_auth(&key)
        .json(&json!({ "url": hook }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let secret = v["data"]["signingSecret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["webhookUrl"], hook);

    let (_, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "metadata": {"orderId": "1234"}}),
        )
        .await;
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(&key, &id, &["sent"]).await;
    let wamid = m["wamid"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(s.meta_status(&wamid, "delivered", now).await, 200);
    assert_eq!(s.meta_status(&wamid, "read", now + 1).await, 200);
    for _ in 0..200 {
        if received.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got = received.lock().unwrap().clone();
    let bodies: Vec<Value> = got
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    let statuses: Vec<&str> = bodies
        .iter()
        .map(|b| b["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["sent", "delivered", "read"]);
    for ((headers, raw), body) in got.iter().zip(&bodies) {
        assert_eq!(body["event"], "message.status_updated");
        assert_eq!(body["data"]["messageId"], id);
        assert_eq!(body["data"]["to"], "14155552671");
        assert_eq!(body["data"]["metadata"], json!({"orderId": "1234"}));
        let wid = headers["webhook-id"].to_str().unwrap();
        let ts: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(whatsapi_core::webhook_http::verify(
            &secret,
            wid,
            ts,
            raw.as_bytes(),
            headers["webhook-signature"].to_str().unwrap()
        ));
    }
    let r = s
        .client
        .delete(s.url("/auth/me/webhook"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["webhookUrl"], Value::Null);
    s.stop().await;
}

#[tokio::test]
async fn meta_webhook_handshake_and_signature() {
    let s = TestServer::start().await;
    let ok = s
        .client
        .get(s.url("/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=test-verify-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = s
        .client
        .get(s.url("/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);

    let body = br#"{"object": "whatsapp_business_account", "entry": []}"#;
    let unsigned = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let forged = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header(
            "x-hub-signature-256",
            whatsapi_core::meta::sign(b"not-the-secret", body),
        )
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let garbage = b"{not json";
    let r = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header(
            "x-hub-signature-256",
            whatsapi_core::meta::sign(common::APP_SECRET.as_bytes(), garbage),
        )
        .body(&garbage[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn operations_endpoints() {
    let s = TestServer::start().await;
    let r = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let key = s.register("ops@example.com").await;
    s.get(&key, "/auth/me").await;
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            "whatsapi_http_requests_total{route=\"/auth/me\",method=\"GET\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("whatsapi_messages{status=\"queued\"}"),
        "{text}"
    );
    assert!(
        text.contains("whatsapi_send_duration_seconds_count"),
        "{text}"
    );
    assert!(text.contains("whatsapi_webhook_deliveries_total"), "{text}");
    let r = s.client.get(s.url("/llms.txt")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("/openapi.json") && text.contains("Authorization: Bearer"));
    let r = s.client.get(s.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("swagger"));
    s.stop().await;
}

#[tokio::test]
async fn dashboard_api_and_assets() {
    let s = TestServer::start().await;
    let key = s.register("dash@example.com").await;
    for _ in 0..3 {
        s.post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hi", "dry_run": true}),
        )
        .await;
    }
    let (code, v) = s
        .get(&key, "/analytics/timeseries?days=2&bucket=hour")
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["bucket"], "hour");
    let points = v["data"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 48);
    let total: u64 = points.iter().map(|p| p["total"].as_u64().unwrap()).sum();
    assert_eq!(total, 3);
    assert!(
        points.last().unwrap()["total"].as_u64().unwrap() >= 1,
        "the current hour is the last point"
    );
    let (code, v) = s.get(&key, "/analytics/timeseries?days=7").await;
    assert_eq!(
        (code, v["data"]["points"].as_array().unwrap().len()),
        (200, 7)
    );
    for bad in [
        "/analytics/timeseries?days=0",
        "/analytics/timeseries?days=91",
        "/analytics/timeseries?bucket=week",
    ] {
        assert_eq!(s.get(&key, bad).await.0, 400, "{bad}");
    }

    let (code, v) = s.get(&key, "/auth/me/setup").await;
    assert_eq!(code, 200);
    assert!(
        v["data"]["callbackUrl"]
            .as_str()
            .unwrap()
            .ends_with("/webhooks/whatsapp")
    );
    assert_eq!(v["data"]["verifyToken"], common::VERIFY_TOKEN);
    assert_eq!(v["data"]["sandbox"], false);

    let (code, v) = s.get(&key, "/auth/me/webhook/deliveries").await;
    assert_eq!((code, v["data"].as_array().map(Vec::len)), (200, Some(0)));

    for (path, mime) in [
        ("/app", "text/html"),
        ("/app/app.js", "text/javascript"),
        ("/app/app.css", "text/css"),
        ("/app/messages", "text/html"),
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(mime),
            "{path}"
        );
    }
    let html = s
        .client
        .get(s.url("/app"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
    s.stop().await;
}
