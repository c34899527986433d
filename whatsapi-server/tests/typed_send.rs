//! The typed send path seen over HTTP: request bodies described field by field in the OpenAPI document, and an
//! idempotent repeat of a scheduled send replayed after its time passed (the schedule is judged after the key).

mod common;

use common::TestServer;
use serde_json::{Value, json};

fn schema<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let name = reference["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("a $ref, got {reference}"))
        .trim_start_matches("#/components/schemas/");
    &doc["components"]["schemas"][name]
}

#[tokio::test]
async fn send_and_bulk_bodies_are_described_field_by_field() {
    let s = TestServer::start().await;
    let doc = s.openapi().await;
    let body_of = |path: &str| {
        &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    };
    let send = schema(&doc, body_of("/send-message"));
    let props = send["properties"].as_object().expect("properties");
    for field in [
        "to",
        "recipient",
        "context",
        "message",
        "template",
        "sendAt",
        "metadata",
        "dry_run",
    ] {
        assert!(props.contains_key(field), "{field} in {send}");
    }
    // `to`, or `recipient` for a user known only by BSUID: neither is required alone, and each says so.
    assert_eq!(send["required"], Value::Null, "{send}");
    assert!(
        props["to"]["description"]
            .as_str()
            .unwrap()
            .contains("Required unless `recipient` is given"),
        "{}",
        props["to"]
    );
    // Each content type is documented with an example of Meta's object for it.
    for (field, key) in [
        ("image", "link"),
        ("video", "id"),
        ("audio", "link"),
        ("document", "filename"),
        ("sticker", "id"),
        ("interactive", "action"),
        ("location", "latitude"),
        ("reaction", "emoji"),
    ] {
        let schema = schema(&doc, &props[field]["oneOf"][1]);
        assert!(
            !schema["example"][key].is_null(),
            "{field} has an example with {key}: {schema}"
        );
    }
    assert!(props.contains_key("type"), "{send}");
    let template = schema(&doc, &props["template"]["oneOf"][1]);
    assert!(
        template["properties"]["components"].is_object(),
        "{template}"
    );

    let bulk = schema(&doc, body_of("/messages/bulk"));
    assert_eq!(bulk["properties"]["messages"]["type"], "array", "{bulk}");

    let accepted = &doc["components"]["schemas"]["SendAcceptedView"];
    let status = schema(&doc, &accepted["properties"]["status"]);
    assert_eq!(status["enum"], json!(["queued", "scheduled"]), "{accepted}");
    let types = &doc["components"]["schemas"]["ComponentType"]["enum"];
    assert_eq!(types, &json!(["header", "body", "button"]));
    s.stop().await;
}

#[tokio::test]
async fn a_repeat_of_a_scheduled_send_replays_once_its_time_has_passed() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("later@example.com").await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let body = json!({"to": "14155552671", "message": "soon", "sendAt": at.to_rfc3339()});
    let send = || {
        s.client
            .post(s.url("/send-message"))
            .bearer_auth(&key)
            .header("idempotency-key", "reminder-7")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["data"]["status"], "scheduled");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let again = send().await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"], first["data"]);

    // Without the key the same body is judged now, and its time has passed.
    let (code, v) = s.post(&key, "/send-message", body.clone()).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "sendAt", "{v}");
    assert_eq!(v["details"][0]["message"], "must be in the future", "{v}");
    s.stop().await;
}
