//! Status and inbound webhooks over real HTTP: signature, shape, batching, retries and the callback URL.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use whatsapi_core::meta;
use whatsapi_core::status::MetaStatus;
use whatsapi_sandbox::{Sandbox, SandboxConfig, StatusDelays, WebhookError, WebhookRetry, magic};

fn quick_retries(max_attempts: u32) -> WebhookRetry {
    WebhookRetry {
        max_attempts,
        initial_backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn status_webhooks_are_signed_and_shaped_like_meta() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig {
        delays: StatusDelays::IMMEDIATE,
        ..SandboxConfig::default()
    })
    .await;
    let (_, _, a) = post_message(&sb, &text("14155552671", "Hi")).await;
    let (_, _, b) = post_message(&sb, &template("14155552672", "order_receipt")).await;
    rx.wait_statuses(&wamid(&a), 3).await;
    rx.wait_statuses(&wamid(&b), 3).await;

    for r in rx.received() {
        let signature = r.signature.as_deref().unwrap();
        assert!(meta::verify_signature(
            SECRET.as_bytes(),
            &r.body,
            signature
        ));
        assert!(!meta::verify_signature(
            b"another-secret",
            &r.body,
            signature
        ));
        meta::parse_webhook(&r.body).unwrap();
    }
    // With every delay at zero, a send's three statuses share one POST, in order.
    assert_eq!(rx.received().len(), 2);
    let first: Value = serde_json::from_slice(&rx.received()[0].body).unwrap();
    assert_eq!(first["object"], "whatsapp_business_account");
    let entry = &first["entry"][0];
    assert_eq!(entry["id"], sb.config().waba_id);
    let change = &entry["changes"][0];
    assert_eq!(change["field"], "messages");
    let value = &change["value"];
    assert_eq!(value["messaging_product"], "whatsapp");
    assert_eq!(value["metadata"]["display_phone_number"], "15550001234");
    assert_eq!(value["metadata"]["phone_number_id"], PNID);
    let statuses = value["statuses"].as_array().unwrap();
    let names: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    let text_first = statuses[0]["recipient_id"] == "14155552671";
    assert_eq!(names, ["sent", "delivered", "read"]);
    let sent = &statuses[0];
    assert!(sent["timestamp"].as_str().unwrap().parse::<i64>().unwrap() > 1_700_000_000);
    assert!(
        sent["biz_opaque_callback_data"]
            .as_str()
            .unwrap()
            .starts_with("cb-")
    );
    assert_eq!(sent["pricing"]["pricing_model"], "PMP");
    // Free-form text is service (free); a template is billable utility.
    let (category, billable) = if text_first {
        ("service", false)
    } else {
        ("utility", true)
    };
    assert_eq!(sent["pricing"]["category"], category);
    assert_eq!(sent["pricing"]["billable"], billable);
    assert_eq!(sent["conversation"]["origin"]["type"], category);
    assert!(statuses[2].get("pricing").is_none());

    // The handle saw the same bodies, signatures and answers.
    let deliveries = sb.webhook_deliveries();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries.iter().all(|d| d.succeeded()
            && d.attempt == 1
            && d.url == rx.url
            && d.http_status == Some(200))
    );
    let all: Vec<(String, String)> = deliveries.iter().flat_map(|d| d.statuses()).collect();
    assert_eq!(all.len(), 6);
    assert!(all.contains(&(wamid(&a), "read".to_owned())));
    sb.shutdown().await;
}

#[tokio::test]
async fn failed_posts_are_retried_with_the_same_signed_body() {
    let rx = Receiver::failing(2).await;
    let sb = Sandbox::start(SandboxConfig {
        callback_url: Some(rx.url.clone()),
        delays: StatusDelays::IMMEDIATE,
        webhook_retry: quick_retries(5),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (_, _, a) = post_message(&sb, &text("14155552671", "Hi")).await;
    rx.wait_statuses(&wamid(&a), 3).await;
    let deliveries = sb
        .wait_for_webhooks(WAIT, |d| d.iter().any(|d| d.succeeded()))
        .await
        .unwrap();
    assert_eq!(
        deliveries
            .iter()
            .map(|d| (d.attempt, d.http_status))
            .collect::<Vec<_>>(),
        [(1, Some(500)), (2, Some(500)), (3, Some(200))]
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.body == deliveries[0].body && d.signature == deliveries[0].signature)
    );
    assert_eq!(rx.received().len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn unreachable_callback_is_retried_then_given_up() {
    // A port that was free a moment ago: connections are refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/webhook", l.local_addr().unwrap())
    };
    let sb = Sandbox::start(SandboxConfig {
        callback_url: Some(closed.clone()),
        delays: StatusDelays::IMMEDIATE,
        webhook_retry: quick_retries(3),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (status, _, _) = post_message(&sb, &text(magic::UNDELIVERABLE, "Hi")).await;
    assert_eq!(status, 200);
    let deliveries = sb.wait_for_webhooks(WAIT, |d| d.len() >= 3).await.unwrap();
    assert_eq!(
        deliveries.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(deliveries.iter().all(|d| d.http_status.is_none()
        && d.error.is_some()
        && !d.succeeded()
        && d.url == closed));
    assert_eq!(
        deliveries[0].statuses()[0].1,
        "failed",
        "the 131026 status was the one attempted"
    );

    // Inbound messages report the final failure.
    match sb.inbound("14155552671", "Hi").await {
        Err(WebhookError::Rejected(last)) => {
            assert_eq!(last.attempt, 3);
            assert!(last.error.is_some());
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn callback_url_can_be_set_after_start() {
    let sb = Sandbox::start(SandboxConfig {
        delays: StatusDelays::IMMEDIATE,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(sb.callback_url(), None);
    assert_eq!(
        sb.inbound("14155552671", "Hi").await,
        Err(WebhookError::NoCallbackUrl)
    );
    let rx = Receiver::start().await;
    sb.set_callback_url(Some(rx.url.clone()));
    assert_eq!(sb.callback_url().as_deref(), Some(rx.url.as_str()));
    let (_, _, a) = post_message(&sb, &text("14155552671", "Hi")).await;
    let statuses = rx.wait_statuses(&wamid(&a), 3).await;
    assert_eq!(statuses[2].status, MetaStatus::Read);
    sb.shutdown().await;
}

#[tokio::test]
async fn inbound_message_is_a_signed_messages_webhook() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig::default()).await;
    let wamid = sb.inbound("+1 415 555 2671", "Hi there").await.unwrap();
    assert!(wamid.starts_with("wamid."));
    let received = rx.received();
    assert_eq!(received.len(), 1, "delivered before inbound() returned");
    let body = &received[0].body;
    assert!(meta::verify_signature(
        SECRET.as_bytes(),
        body,
        received[0].signature.as_deref().unwrap()
    ));
    let parsed = meta::parse_webhook(body).unwrap();
    assert!(parsed.statuses.is_empty());
    assert_eq!(parsed.inbound.len(), 1);
    assert_eq!(parsed.inbound[0].wa_id.as_deref(), Some("14155552671"));
    assert_eq!(parsed.inbound[0].phone_number_id.as_deref(), Some(PNID));

    let json: Value = serde_json::from_slice(body).unwrap();
    let value = &json["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messages"][0]["id"], wamid);
    assert_eq!(value["messages"][0]["text"]["body"], "Hi there");
    assert_eq!(value["messages"][0]["type"], "text");
    assert_eq!(value["contacts"][0]["wa_id"], "14155552671");
    assert!(value["contacts"][0]["profile"]["name"].is_string());
    assert_eq!(sb.webhook_deliveries()[0].values("messages").len(), 1);

    assert!(matches!(
        sb.inbound_to("999", "14155552671", "Hi").await,
        Err(WebhookError::UnknownPhoneNumber(id)) if id == "999"
    ));
    sb.shutdown().await;
}
