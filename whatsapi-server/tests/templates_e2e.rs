//! Templates through the sandbox (issue 19, item 5): `GET /templates` reads the WABA's templates from the sandbox's
//! store over Meta's paging; template sends are checked against them at accept time; 400 without a WABA id, 502
//! when Meta fails and nothing is cached (sends then go unchecked).

mod common;

use std::time::Duration;

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_sandbox::{SandboxConfig, StatusDelays};

const WABA: &str = "102290129340398";

async fn server() -> TestServer {
    let options = Options {
        sandbox: Some(SandboxConfig {
            open_numbers: true,
            // Two templates a page, so listing follows several pages.
            max_template_page: 2,
            delays: StatusDelays {
                sent: Duration::from_millis(10),
                delivered: Duration::from_millis(20),
                read: Duration::from_millis(30),
            },
            ..SandboxConfig::default()
        }),
        ..Options::default()
    };
    TestServer::start_with(options).await
}

/// An account on the sandbox whose credentials name the WABA `waba`.
async fn waba_account(s: &TestServer, email: &str, phone_number_id: &str, waba: &str) -> String {
    let key = s.register(email).await;
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(&json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": phone_number_id,
                      "whatsappBusinessAccountId": waba}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    key
}

fn details(v: &Value) -> Vec<(String, String)> {
    v["details"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["field"].as_str().unwrap_or_default().to_owned(),
                d["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn templates_are_listed_over_pages_and_sends_checked_against_them() {
    let s = server().await;

    // Without a WABA id: 400 naming the field to save; sends of any template work as before.
    let plain = s.sandbox_account("plain@example.com", "1234567890").await;
    let (code, v) = s.get(&plain, "/templates").await;
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("whatsappBusinessAccountId"),
        "{v}"
    );
    let (code, v) = s
        .post(
            &plain,
            "/send-message",
            json!({"to": "14155552671", "template": {"name": "made_up", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");

    let key = waba_account(&s, "waba@example.com", "1234567891", WABA).await;
    let (code, v) = s.get(&key, "/templates").await;
    assert_eq!(code, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["whatsappBusinessAccountId"], WABA);
    let names: Vec<&str> = d["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // Eight templates at two a page: every page was followed.
    assert_eq!(
        names,
        [
            "hello_world",
            "order_update",
            "order_ready",
            "auth_code",
            "spring_sale",
            "old_promo",
            "paused_promo",
            "disabled_promo",
            "weekly_deals"
        ]
    );
    let order = &d["templates"][1];
    assert_eq!(
        (&order["status"], &order["category"], &order["language"]),
        (&json!("APPROVED"), &json!("UTILITY"), &json!("en_US")),
        "{order}"
    );
    assert_eq!(order["components"][0]["placeholders"], json!(["1"]));
    assert_eq!(order["components"][1]["buttons"][0]["type"], "URL");
    assert_eq!(d["templates"][4]["status"], "PENDING");
    let (code, v) = s.get(&key, "/templates?refresh=yes").await;
    assert_eq!(code, 400, "{v}");
    let (code, _) = s.get(&key, "/templates?refresh=true").await;
    assert_eq!(code, 200);

    // Refused at accept time, each with the field and the mismatch.
    let refused = |body: Value| {
        let s = &s;
        let key = &key;
        async move {
            let (code, v) = s.post(key, "/send-message", body).await;
            assert_eq!(code, 400, "{v}");
            details(&v)
        }
    };
    let d =
        refused(json!({"to": "14155552671", "template": {"name": "made_up", "language": "en_US"}}))
            .await;
    assert_eq!(d[0].0, "template.name", "{d:?}");
    assert!(d[0].1.contains("no template named \"made_up\""), "{d:?}");
    let d = refused(
        json!({"to": "14155552671", "template": {"name": "spring_sale", "language": "en_US"}}),
    )
    .await;
    assert!(d[0].1.contains("PENDING"), "{d:?}");
    let d = refused(
        json!({"to": "14155552671", "template": {"name": "hello_world", "language": "pt_BR"}}),
    )
    .await;
    assert_eq!(d[0].0, "template.language", "{d:?}");
    let d = refused(
        json!({"to": "14155552671", "template": {"name": "order_update", "language": "en_US",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "ORD-1"}]}]}}),
    )
    .await;
    assert_eq!(d[0].0, "template.components", "{d:?}");
    assert!(d[0].1.contains("button 0"), "{d:?}");
    let d = refused(
        json!({"to": "14155552671", "template": {"name": "order_update", "language": "en_US"}}),
    )
    .await;
    assert!(d[0].1.contains("1 placeholder in its body"), "{d:?}");

    // A matching send is accepted and delivered; so is hello_world.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "template": {"name": "order_update", "language": "en_US", "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "ORD-1"}]},
                {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "ORD-1"}]}]}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(&key, &id, &["read"]).await;
    assert_eq!(m["status"], "read", "{m}");
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");

    // In bulk, the mismatched item is listed and the rest queued.
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": [
                {"to": "14155552671", "template": {"name": "hello_world", "language": "en_US"}},
                {"to": "14155552672", "template": {"name": "paused_promo", "language": "en_US"}}]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["queued"], 1, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn when_meta_fails_and_nothing_is_cached_listing_is_502_and_sends_go_unchecked() {
    let s = server().await;
    let key = waba_account(&s, "down@example.com", "1234567892", WABA).await;
    let sandbox = s.sandbox.as_ref().unwrap();
    sandbox.set_outage(Some(503));
    let (code, v) = s.get(&key, "/templates").await;
    assert_eq!(code, 502, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("Service temporarily unavailable"),
        "{v}"
    );
    // Left to Meta: accepted now (and the sandbox, which does not know the name, takes it once it is back).
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "template": {"name": "made_up", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    sandbox.set_outage(None);
    let (code, v) = s.get(&key, "/templates").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["data"]["templates"].as_array().unwrap().len(),
        whatsapi_sandbox::templates::TEMPLATES.len()
    );
    s.stop().await;
}

/// Meta refusing the saved token is the account's setup to fix: 400 with Meta's words, not a 502.
#[tokio::test]
async fn a_token_meta_refuses_is_a_400_naming_the_credentials() {
    let s = server().await;
    let key = s.register("badtoken@example.com").await;
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(&json!({"whatsappAccessToken": "not-a-token-meta-knows", "whatsappPhoneNumberId": "1234567893",
                      "whatsappBusinessAccountId": WABA}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (code, v) = s.get(&key, "/templates").await;
    assert_eq!(code, 400, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("(#190)") && error.contains("PUT /auth/me/credentials"),
        "{v}"
    );
    s.stop().await;
}
