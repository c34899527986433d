//! In `--sandbox` mode free-form text needs the customer's 24-hour window, as on Meta; `POST /sandbox/inbound`
//! simulates the customer writing in (a signed Meta webhook to this server), which opens it.

mod common;

use common::{Options, TestServer};
use serde_json::json;

async fn sandbox_server() -> TestServer {
    TestServer::start_with(Options {
        sandbox: Some(whatsapi_sandbox::SandboxConfig {
            open_numbers: true,
            service_window: true,
            ..Default::default()
        }),
        settings: common::sandbox_mode(),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn free_form_text_needs_the_customer_to_write_in_first() {
    let s = sandbox_server().await;
    let key = s.register("window@example.com").await;
    let (code, v) = s.get(&key, "/auth/me").await;
    assert_eq!(code, 200, "{v}");

    // Text to a customer who never wrote: Meta's 131047.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "hello"}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(&key, &id, &["failed"]).await;
    assert!(m.to_string().contains("131047"), "{m}");

    // A template is always allowed.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&key, &id, &["delivered", "read"]).await;

    // Magic numbers keep their behaviour with text.
    let (_, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "15550000004", "message": "hi"}),
        )
        .await;
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&key, &id, &["delivered"]).await;

    // The customer writes in: the emulator posts a signed inbound webhook to this server.
    let (code, v) = s
        .post(
            &key,
            "/sandbox/inbound",
            json!({"from": "+14155552671", "text": "hi"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["from"], "14155552671", "{v}");
    assert!(
        v["data"]["wamid"].as_str().unwrap().starts_with("wamid."),
        "{v}"
    );
    assert!(v["data"]["windowOpenUntil"].is_string(), "{v}");
    let sb = s.sandbox.as_ref().unwrap();
    let inbound = sb
        .webhook_deliveries()
        .into_iter()
        .filter(|d| d.body.contains(r#""from":"14155552671""#) && d.http_status == Some(200))
        .count();
    assert_eq!(inbound, 1, "one inbound webhook was posted");

    // Now free-form text goes through.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "thanks!"}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&key, &id, &["delivered", "read"]).await;
    s.stop().await;
}

#[tokio::test]
async fn sandbox_inbound_validates_and_exists_only_in_sandbox_mode() {
    let s = sandbox_server().await;
    let key = s.register("inbound-bad@example.com").await;
    for (body, fields) in [
        (json!({"from": "abc", "text": "hi"}), vec!["from"]),
        (json!({"from": "14155552671"}), vec!["text"]),
        (
            json!({"from": "14155552671", "text": "hi", "to": "1"}),
            vec!["to"],
        ),
    ] {
        let (code, v) = s.post(&key, "/sandbox/inbound", body).await;
        assert_eq!(code, 400, "{v}");
        let got: Vec<&str> = v["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{v}");
    }
    let r = s
        .client
        .post(s.url("/sandbox/inbound"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.stop().await;

    let s = TestServer::start().await;
    let key = s.account_with_credentials("not-sandbox@example.com").await;
    let (code, v) = s
        .post(
            &key,
            "/sandbox/inbound",
            json!({"from": "14155552671", "text": "hi"}),
        )
        .await;
    assert_eq!(code, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("--sandbox"), "{v}");
    // The route does not exist outside sandbox mode, whatever the body: 404, not a 400 about its fields.
    let (code, v) = s.post(&key, "/sandbox/inbound", json!({"text": 5})).await;
    assert_eq!(code, 404, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn the_magic_number_table_is_in_the_docs_and_llms_txt() {
    let s = TestServer::start().await;
    let doc: serde_json::Value = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let description = doc["info"]["description"].as_str().unwrap().to_owned();
    let llms = s
        .client
        .get(s.url("/llms.txt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [&description, &llms] {
        for b in whatsapi_sandbox::magic::Behaviour::MAGIC {
            assert!(text.contains(b.number().unwrap()), "{b:?} missing");
        }
        assert!(text.contains("/sandbox/inbound") && text.contains("131047"));
    }
    s.stop().await;
}

/// In `--sandbox` mode an account lists its templates out of the box: registration gives it a WABA id of its own
/// (distinct per account), credentials saved without one keep one, and the docs' `order_ready` example is accepted.
#[tokio::test]
async fn sandbox_accounts_have_a_waba_id_and_list_templates() {
    let s = sandbox_server().await;
    let a = s.register("waba-a@example.com").await;
    let b = s.register("waba-b@example.com").await;
    let waba = |v: &serde_json::Value| {
        v["data"]["whatsappBusinessAccountId"]
            .as_str()
            .map(str::to_owned)
    };
    let (_, me_a) = s.get(&a, "/auth/me").await;
    let (_, me_b) = s.get(&b, "/auth/me").await;
    let (wa, wb) = (
        waba(&me_a).expect("a WABA id"),
        waba(&me_b).expect("a WABA id"),
    );
    assert_ne!(wa, wb, "each account has its own WABA id");
    assert!(wa.bytes().all(|c| c.is_ascii_digit()), "{wa}");

    let (code, v) = s.get(&a, "/templates").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["whatsappBusinessAccountId"], wa.as_str());
    let names: Vec<&str> = v["data"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"hello_world") && names.contains(&"order_ready"),
        "{names:?}"
    );

    // Saving credentials without a WABA id (as the guided setup does) keeps one; templates still list.
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&b)
        .json(
            &json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": "1234567899"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let saved: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        saved["data"]["whatsappBusinessAccountId"],
        wb.as_str(),
        "{saved}"
    );
    let (code, v) = s.get(&b, "/templates").await;
    assert_eq!(code, 200, "{v}");

    // The reference docs' template example answers 202; a made-up name is refused at accept time.
    let (code, v) = s
        .post(
            &a,
            "/send-message",
            json!({"to": "14155552671", "template": {"name": "order_ready", "language": "en_US", "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Sarah"}, {"type": "text", "text": "#1042"}]}]}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&a, &id, &["delivered", "read"]).await;
    let (code, v) = s
        .post(
            &a,
            "/send-message",
            json!({"to": "14155552671", "template": {"name": "made_up", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    s.stop().await;
}
