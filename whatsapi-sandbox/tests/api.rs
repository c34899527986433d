//! The Graph endpoints over real HTTP: Meta's validation and errors, the verify endpoint, and every magic number.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use whatsapi_core::status::MetaStatus;
use whatsapi_sandbox::magic::{self, HELLO_WORLD};
use whatsapi_sandbox::{Sandbox, SandboxConfig, SandboxNumber, StatusDelays};

async fn plain() -> whatsapi_sandbox::SandboxHandle {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

#[tokio::test]
async fn accepted_send_has_meta_shape() {
    let sb = plain().await;
    let (status, _, a) = post_message(&sb, &text("+1 415 555 2671", "Hi")).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["messaging_product"], "whatsapp");
    assert_eq!(
        a["contacts"],
        json!([{"input": "+1 415 555 2671", "wa_id": "14155552671"}])
    );
    let first = wamid(&a);
    assert!(first.starts_with("wamid."), "{first}");
    assert!(a["messages"][0].get("message_status").is_none());

    let (status, _, b) = post_message(&sb, &template("14155552671", "order_receipt")).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["messages"][0]["message_status"], "accepted");
    assert_ne!(wamid(&b), first);

    let sent = sb.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body, text("+1 415 555 2671", "Hi"));
    assert_eq!(sent[0].wamid.as_deref(), Some(first.as_str()));
    assert_eq!(sb.requests_for("14155552671").len(), 2);
    assert!(sb.requests_for("14155550000").is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn authentication_and_object_errors() {
    let other = SandboxNumber {
        id: "2222222222".into(),
        display_phone_number: "+1 555-000-2222".into(),
        verified_name: "Other".into(),
        access_token: "other-token".into(),
        throughput_level: "HIGH".into(),
        on_business_app: false,
    };
    let sb = Sandbox::start(SandboxConfig {
        phone_numbers: vec![SandboxNumber::default(), other],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let body = text("14155552671", "Hi");

    for token in [None, Some("wrong-token")] {
        let (status, headers, e) = post_message_as(&sb, token, PNID, &body).await;
        assert_eq!(status, 401);
        assert_eq!(code(&e), 190);
        assert_eq!(e["error"]["type"], "OAuthException");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid OAuth access token")
        );
        assert!(e["error"]["fbtrace_id"].is_string());
        assert!(headers.contains_key("www-authenticate"));
    }

    let (status, _, e) = post_message_as(&sb, Some(TOKEN), "999", &body).await;
    assert_eq!((status, code(&e)), (400, 100));
    assert_eq!(e["error"]["error_subcode"], 33);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported post request. Object with ID '999' does not exist")
    );
    // A valid token may not use another business's number.
    let (status, _, e) = post_message_as(&sb, Some("other-token"), PNID, &body).await;
    assert_eq!((status, code(&e)), (400, 100));
    assert_eq!(e["error"]["error_subcode"], 33);
    let (status, _, a) = post_message_as(&sb, Some("other-token"), "2222222222", &body).await;
    assert_eq!(status, 200, "{a}");

    // Nothing was accepted with bad credentials.
    assert_eq!(sb.sent().len(), 1);
    assert_eq!(sb.requests().len(), 5);
    sb.shutdown().await;
}

#[tokio::test]
async fn validation_errors() {
    let sb = plain().await;
    let cases: Vec<(Value, i64, &str)> = vec![
        (
            json!({"to": "14155552671", "type": "text", "text": {"body": "x"}}),
            100,
            "messaging_product",
        ),
        (
            json!({"messaging_product": "sms", "to": "14155552671", "type": "text", "text": {"body": "x"}}),
            100,
            "messaging_product",
        ),
        (
            json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
            131008,
            "to",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "not-a-number", "type": "text", "text": {"body": "x"}}),
            131009,
            "to",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "text", "text": {}}),
            131008,
            "text['body']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "text", "text": {"body": "x".repeat(4097)}}),
            100,
            "4096",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "template",
                   "template": {"language": {"code": "en_US"}}}),
            131008,
            "template['name']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "template",
                   "template": {"name": "t", "language": {}}}),
            131008,
            "template['language']['code']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "template",
                   "template": {"name": "t", "language": "en_US"}}),
            100,
            "{\"code\": \"en_US\"}",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "template",
                   "template": {"name": "t", "language": {"code": "en_US"}, "components": [
                       {"type": "header", "parameters": [{"type": "image", "image": {}}]}]}}),
            131008,
            "['image']['link']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "template",
                   "template": {"name": "t", "language": {"code": "en_US"}, "components": [
                       {"type": "body", "parameters": [{"type": "payload", "payload": "x"}]}]}}),
            131009,
            "body component",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "sms"}),
            100,
            "type",
        ),
    ];
    for (body, expected, detail) in cases {
        let (status, _, e) = post_message(&sb, &body).await;
        assert_eq!(status, 400, "{body} -> {e}");
        assert_eq!(code(&e), expected, "{body} -> {e}");
        assert_eq!(e["error"]["type"], "OAuthException");
        assert_eq!(e["error"]["error_data"]["messaging_product"], "whatsapp");
        let details = e["error"]["error_data"]["details"].as_str().unwrap();
        assert!(
            details.contains(detail),
            "{details:?} should mention {detail:?}"
        );
    }

    // Not JSON at all.
    let resp = reqwest::Client::new()
        .post(format!("{}/v23.0/{PNID}/messages", sb.base_url()))
        .bearer_auth(TOKEN)
        .body("to=14155552671")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(code(&resp.json().await.unwrap()), 100);

    // Not a Graph version.
    let resp = reqwest::Client::new()
        .post(format!("{}/latest/{PNID}/messages", sb.base_url()))
        .bearer_auth(TOKEN)
        .json(&text("14155552671", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(code(&resp.json().await.unwrap()), 2500);

    assert!(sb.sent().is_empty());
    assert_eq!(
        sb.requests_for("14155552671")
            .iter()
            .map(|r| r.http_status)
            .collect::<Vec<_>>(),
        // Ten of the cases and the one with a bad version name this recipient.
        vec![400; 11]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn verify_endpoint() {
    let sb = plain().await;
    let get = |token: Option<&'static str>, pnid: &'static str, fields: &'static str| {
        let mut req = reqwest::Client::new()
            .get(format!("{}/v23.0/{pnid}", sb.base_url()))
            .query(&[("fields", fields)]);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let fields = "verified_name,display_phone_number,quality_rating";
    let (status, v) = get(Some(TOKEN), PNID, fields).await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"verified_name": "Whatsapi Sandbox", "display_phone_number": "+1 555-000-1234",
               "quality_rating": "GREEN", "id": PNID})
    );
    let (status, v) = get(Some("nope"), PNID, fields).await;
    assert_eq!((status, code(&v)), (401, 190));
    let (status, v) = get(None, PNID, fields).await;
    assert_eq!((status, code(&v)), (401, 190));
    let (status, v) = get(Some(TOKEN), "42", fields).await;
    assert_eq!((status, code(&v)), (400, 100));
    assert_eq!(v["error"]["error_subcode"], 33);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported get request")
    );
    let (status, v) = get(Some(TOKEN), PNID, "verified_name,colour").await;
    assert_eq!((status, code(&v)), (400, 100));
    assert!(v["error"]["message"].as_str().unwrap().contains("(colour)"));
    sb.shutdown().await;
}

#[tokio::test]
async fn normal_number_goes_sent_delivered_read() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig::default()).await;
    let (status, _, a) = post_message(&sb, &text("14155552671", "Hi")).await;
    assert_eq!(status, 200);
    let id = wamid(&a);
    let statuses = rx.wait_statuses(&id, 3).await;
    assert_eq!(
        statuses.iter().map(|s| s.status).collect::<Vec<_>>(),
        [MetaStatus::Sent, MetaStatus::Delivered, MetaStatus::Read]
    );
    assert!(
        statuses
            .iter()
            .all(|s| s.callback_data.as_deref() == Some("cb-14155552671")
                && s.phone_number_id.as_deref() == Some(PNID)
                && s.error.is_none())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn undeliverable_fails_in_the_webhook_only() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig::default()).await;
    let (status, _, a) = post_message(&sb, &text(magic::UNDELIVERABLE, "Hi")).await;
    assert_eq!(status, 200, "{a}");
    let id = wamid(&a);
    let statuses = rx.wait_statuses(&id, 1).await;
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].status, MetaStatus::Failed);
    let err = statuses[0].error.as_ref().unwrap();
    assert_eq!(err.code, Some(131026));
    assert!(
        err.message.contains("Message undeliverable"),
        "{}",
        err.message
    );
    assert_eq!(statuses[0].callback_data.as_deref(), Some("cb-15550000001"));
    sb.shutdown().await;
}

#[tokio::test]
async fn throughput_limit_twice_then_success_per_instance() {
    let sb = plain().await;
    for _ in 0..2 {
        let (status, headers, e) = post_message(&sb, &text(magic::THROUGHPUT_LIMIT, "x")).await;
        assert_eq!((status, code(&e)), (400, 130429), "{e}");
        assert!(!headers.contains_key("retry-after"));
    }
    let (status, _, _) = post_message(&sb, &text(magic::THROUGHPUT_LIMIT, "x")).await;
    assert_eq!(status, 200);
    // Another number is not affected, and another sandbox counts from zero.
    let (status, _, _) = post_message(&sb, &text("14155552671", "x")).await;
    assert_eq!(status, 200);
    let fresh = plain().await;
    let (status, _, e) = post_message(&fresh, &text(magic::THROUGHPUT_LIMIT, "x")).await;
    assert_eq!((status, code(&e)), (400, 130429));
    assert_eq!(
        sb.requests_for(magic::THROUGHPUT_LIMIT)
            .iter()
            .map(|r| r.error_code)
            .collect::<Vec<_>>(),
        [Some(130429), Some(130429), None]
    );
    sb.shutdown().await;
    fresh.shutdown().await;
}

#[tokio::test]
async fn outside_window_refuses_text_until_the_customer_writes() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig::default()).await;
    let (status, _, e) = post_message(&sb, &text(magic::OUTSIDE_WINDOW, "x")).await;
    assert_eq!((status, code(&e)), (400, 131047), "{e}");
    let (status, _, _) = post_message(&sb, &template(magic::OUTSIDE_WINDOW, "order_receipt")).await;
    assert_eq!(status, 200);
    let (status, _, e) = post_message(&sb, &text(magic::OUTSIDE_WINDOW, "x")).await;
    assert_eq!((status, code(&e)), (400, 131047));

    sb.inbound(magic::OUTSIDE_WINDOW, "hello?").await.unwrap();
    rx.wait_until("the inbound message", |r| {
        r.received().iter().any(|p| {
            !whatsapi_core::meta::parse_webhook(&p.body)
                .unwrap()
                .inbound
                .is_empty()
        })
    })
    .await;
    let (status, _, a) = post_message(&sb, &text(magic::OUTSIDE_WINDOW, "x")).await;
    assert_eq!(status, 200, "{a}");
    sb.shutdown().await;
}

#[tokio::test]
async fn never_reads_stops_at_delivered() {
    // With every delay at zero all due statuses share one POST, so a read would be in the same body.
    let (sb, rx) = sandbox_with_receiver(SandboxConfig {
        delays: StatusDelays::IMMEDIATE,
        ..SandboxConfig::default()
    })
    .await;
    let (_, _, a) = post_message(&sb, &text(magic::NEVER_READS, "x")).await;
    let (_, _, b) = post_message(&sb, &text("14155552671", "x")).await;
    let never = rx.wait_statuses(&wamid(&a), 2).await;
    let normal = rx.wait_statuses(&wamid(&b), 3).await;
    assert_eq!(
        never.iter().map(|s| s.status).collect::<Vec<_>>(),
        [MetaStatus::Sent, MetaStatus::Delivered]
    );
    assert_eq!(normal.len(), 3);
    let bodies = rx.received();
    assert_eq!(bodies.len(), 2, "one POST per send");
    sb.shutdown().await;
}

#[tokio::test]
async fn meta_down_answers_500_then_recovers() {
    let sb = plain().await;
    assert_eq!(sb.config().meta_down_failures, 3);
    for _ in 0..3 {
        let (status, _, e) = post_message(&sb, &text(magic::META_DOWN, "x")).await;
        assert_eq!((status, code(&e)), (500, 131000), "{e}");
    }
    let (status, _, _) = post_message(&sb, &text(magic::META_DOWN, "x")).await;
    assert_eq!(status, 200);

    let one = Sandbox::start(SandboxConfig {
        meta_down_failures: 1,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (status, _, _) = post_message(&one, &text(magic::META_DOWN, "x")).await;
    assert_eq!(status, 500);
    let (status, _, _) = post_message(&one, &text(magic::META_DOWN, "x")).await;
    assert_eq!(status, 200);
    sb.shutdown().await;
    one.shutdown().await;
}

#[tokio::test]
async fn out_of_order_posts_read_delivered_sent() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig::default()).await;
    let (_, _, a) = post_message(&sb, &text(magic::OUT_OF_ORDER, "x")).await;
    let statuses = rx.wait_statuses(&wamid(&a), 3).await;
    assert_eq!(
        statuses.iter().map(|s| s.status).collect::<Vec<_>>(),
        [MetaStatus::Read, MetaStatus::Delivered, MetaStatus::Sent]
    );
    // Each carries when it really happened.
    assert!(statuses[2].at <= statuses[1].at && statuses[1].at <= statuses[0].at);
    sb.shutdown().await;
}

#[tokio::test]
async fn pair_rate_limit_once_then_success() {
    let sb = plain().await;
    let (status, _, e) = post_message(&sb, &text(magic::PAIR_RATE_LIMIT, "x")).await;
    assert_eq!((status, code(&e)), (400, 131056), "{e}");
    let (status, _, _) = post_message(&sb, &text(magic::PAIR_RATE_LIMIT, "x")).await;
    assert_eq!(status, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn template_missing_except_hello_world() {
    let sb = plain().await;
    let (status, _, e) =
        post_message(&sb, &template(magic::TEMPLATE_MISSING, "order_receipt")).await;
    assert_eq!((status, code(&e)), (404, 132001), "{e}");
    assert!(
        e["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("order_receipt")
    );
    let (status, _, _) = post_message(&sb, &template(magic::TEMPLATE_MISSING, HELLO_WORLD)).await;
    assert_eq!(status, 200);
    let (status, _, _) = post_message(&sb, &text(magic::TEMPLATE_MISSING, "x")).await;
    assert_eq!(status, 200);
    // hello_world exists for everyone, in en_US only, without parameters.
    let mut de = template("14155552671", HELLO_WORLD);
    de["template"]["language"]["code"] = json!("de");
    let (status, _, e) = post_message(&sb, &de).await;
    assert_eq!((status, code(&e)), (404, 132001));
    let mut with_params = template("14155552671", HELLO_WORLD);
    with_params["template"]["components"] =
        json!([{"type": "body", "parameters": [{"type": "text", "text": "x"}]}]);
    let (status, _, e) = post_message(&sb, &with_params).await;
    assert_eq!((status, code(&e)), (400, 132000));
    sb.shutdown().await;
}

#[tokio::test]
async fn slow_number_accepts_at_once_and_answers_late() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig {
        slow_delay: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = impatient
        .post(format!("{}/v23.0/{PNID}/messages", sb.base_url()))
        .bearer_auth(TOKEN)
        .json(&text(magic::SLOW, "x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Like Meta after a timeout: the message went out anyway.
    let deadline = tokio::time::Instant::now() + WAIT;
    while sb.requests_for(magic::SLOW).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = sb.requests_for(magic::SLOW);
    assert_eq!(sent.len(), 1);
    let id = sent[0].wamid.clone().unwrap();
    rx.wait_statuses(&id, 3).await;

    let (status, _, a) = post_message(&sb, &text(magic::SLOW, "y")).await;
    assert_eq!(status, 200);
    assert_ne!(wamid(&a), id);
    sb.shutdown().await;
}

#[tokio::test]
async fn an_outage_answers_every_send_with_its_status_until_lifted() {
    let sb = plain().await;
    sb.set_outage(Some(500));
    let (status, _, v) = post_message(&sb, &text("14155552671", "Hi")).await;
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["error"]["code"], 131000, "{v}");
    sb.set_outage(Some(503));
    let (status, _, v) = post_message(&sb, &template("14155552671", HELLO_WORLD)).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], 2, "{v}");
    // Recorded, but not accepted: no wamid, no webhooks.
    assert_eq!(sb.requests().len(), 2);
    assert!(sb.sent().is_empty());
    sb.set_outage(None);
    let (status, _, v) = post_message(&sb, &text("14155552671", "Hi")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(sb.sent().len(), 1);
    sb.shutdown().await;
}
