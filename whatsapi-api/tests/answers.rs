//! Answers of real sends (in-memory store) under the API's JSON names.

use std::sync::Arc;

use serde_json::json;
use whatsapi_api::{
    QueuedStatus, Schedule, SendAccepted, parse_bulk_with, parse_send_with, send_error,
};
use whatsapi_core::testing::{FakeTransport, MemoryStore, RecordingSink};
use whatsapi_core::{Error, SendRules, WhatsApi};

fn api() -> WhatsApi {
    WhatsApi::builder()
        .store(Arc::new(MemoryStore::new()))
        .transport(Arc::new(FakeTransport::new()))
        .webhook_sink(Arc::new(RecordingSink::new()))
        .build()
        .unwrap()
}

fn fields(e: &Error) -> Vec<String> {
    match e {
        Error::Validation(v) => v.fields().iter().map(|f| f.field.clone()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_send_answers_in_the_reference_shape_and_core_failures_get_json_names() {
    let api = api();
    let acc = api.create_account("Acme").await.unwrap();
    let now = api.clock().now();
    let rules = SendRules::default();
    let body = json!({"to": "14155552671", "message": "hi", "dry_run": true, "sendAt": (now + chrono::Duration::hours(1)).to_rfc3339()});
    let req = parse_send_with(&body, now, &rules, Schedule::Defer).unwrap();
    let queued = api.send(&acc, req).await.unwrap();
    let answer = SendAccepted::from(&queued);
    assert_eq!(answer.status, QueuedStatus::Scheduled);
    let v = serde_json::to_value(&answer).unwrap();
    assert_eq!(v["status"], "scheduled");
    assert_eq!(v["id"], queued.id.to_string());
    assert!(v["scheduledFor"].as_str().unwrap().ends_with('Z'), "{v}");

    // A past sendAt, deferred by the parse, is refused by core and named sendAt again.
    let past = json!({"to": "14155552671", "message": "hi", "dry_run": true, "sendAt": "2020-01-01T00:00:00Z"});
    let req = parse_send_with(&past, now, &rules, Schedule::Defer).unwrap();
    let err = send_error(api.send(&acc, req).await.unwrap_err());
    assert_eq!(fields(&err), ["sendAt"]);
}

#[tokio::test]
async fn a_bulk_answer_merges_the_parse_and_core_refusals_in_order() {
    let api = api();
    let acc = api.create_account("Acme").await.unwrap();
    let now = api.clock().now();
    let rules = SendRules::default();
    let body = json!({"messages": [
        {"to": "14155552671", "message": "ok", "dry_run": true},
        {"to": "14155552672", "text": "unknown field", "dry_run": true},
        {"to": "14155552673", "message": "late", "dry_run": true, "sendAt": "2020-01-01T00:00:00Z"},
    ]});
    let mut parsed = parse_bulk_with(&body, now, &rules, 10, Schedule::Defer).unwrap();
    let request = std::mem::take(&mut parsed.request);
    let out = api.send_bulk(&acc, request, 10).await.unwrap();
    let v = serde_json::to_value(parsed.accepted(&out)).unwrap();
    assert_eq!(
        (
            v["totalMessages"].clone(),
            v["queued"].clone(),
            v["failedCount"].clone()
        ),
        (json!(3), json!(1), json!(2))
    );
    assert_eq!(v["errors"][0]["index"], 1);
    assert_eq!(
        v["errors"][0]["details"][0]["field"], "text",
        "the parse's own JSON name"
    );
    assert_eq!(v["errors"][1]["index"], 2);
    assert_eq!(
        v["errors"][1]["details"][0]["field"], "sendAt",
        "core's send_at, renamed"
    );

    // Every item refused: one validation error with JSON paths.
    let body = json!({"messages": [
        {"to": "1", "message": "x"},
        {"to": "14155552673", "message": "late", "dry_run": true, "sendAt": "2020-01-01T00:00:00Z"},
    ]});
    let mut parsed = parse_bulk_with(&body, now, &rules, 10, Schedule::Defer).unwrap();
    let request = std::mem::take(&mut parsed.request);
    let err = parsed.json_error(api.send_bulk(&acc, request, 10).await.unwrap_err());
    assert_eq!(fields(&err), ["messages[0].to", "messages[1].sendAt"]);
}
