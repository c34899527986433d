//! The OpenAPI document and the router describe exactly the same endpoints.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use serde_json::Value;

/// Every endpoint the server serves (besides `/openapi.json` and `/docs` themselves).
const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/auth/register"),
    ("post", "/sandbox/inbound"),
    ("get", "/auth/me"),
    ("put", "/auth/me/credentials"),
    ("delete", "/auth/me/credentials"),
    ("post", "/auth/me/credentials/verify"),
    ("put", "/auth/me/webhook"),
    ("delete", "/auth/me/webhook"),
    ("post", "/auth/me/rotate-key"),
    ("post", "/send-message"),
    ("post", "/messages/bulk"),
    ("get", "/messages"),
    ("get", "/messages/{id}"),
    ("post", "/messages/{id}/retry"),
    ("get", "/analytics/summary"),
    ("get", "/analytics/timeseries"),
    ("get", "/auth/me/webhook/deliveries"),
    ("get", "/auth/me/setup"),
    ("get", "/webhooks/whatsapp"),
    ("post", "/webhooks/whatsapp"),
    ("post", "/billing/checkout"),
    ("get", "/billing/portal"),
    ("post", "/webhooks/stripe"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/llms.txt"),
];

#[tokio::test]
async fn document_and_routes_match() {
    let s = TestServer::start().await;
    let doc: Value = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                documented.insert((method.to_owned(), path.clone()));
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} has responses"
                );
                assert!(
                    op["summary"].is_string() || op["description"].is_string(),
                    "{method} {path} is described"
                );
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&expected).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "documented operations the test does not know: {unknown:?}"
    );

    // Every documented operation is really routed: no fallback 404 ("No such endpoint") and no 405.
    for (method, path) in &documented {
        let url = s.url(&path.replace("{id}", "00000000-0000-0000-0000-000000000000"));
        let req = match method.as_str() {
            "get" => s.client.get(url),
            "post" => s.client.post(url),
            "put" => s.client.put(url),
            "delete" => s.client.delete(url),
            other => panic!("unexpected method {other}"),
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !(status == 404 && body.contains("No such endpoint")),
            "{method} {path} is documented but not routed"
        );
    }

    // Request and response schemas are there.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "MessageView",
        "SendAcceptedView",
        "BulkAcceptedView",
        "AccountView",
        "ErrorView",
        "SummaryView",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    s.stop().await;
}

/// The schema a documented response points at, with `$ref`s to components resolved (one level).
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

/// Found by schemathesis (scripts/schemathesis.sh): success responses were documented as the bare view while the
/// server wraps them in `{"success": true, "data": …}`. Real answers must have exactly the documented top-level
/// fields (all required ones, nothing undocumented).
#[tokio::test]
async fn success_responses_match_their_documented_top_level_shape() {
    let s = TestServer::start().await;
    let doc: Value = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = s.account_with_credentials("shape@example.com").await;
    let (_, sent) = s
        .post(
            &key,
            "/send-message",
            serde_json::json!({"to": "14155552671", "message": "hi"}),
        )
        .await;
    let id = sent["data"]["id"].as_str().unwrap().to_owned();
    let calls: Vec<(&str, &str, String, u16)> = vec![
        ("get", "/auth/me", "/auth/me".into(), 200),
        ("get", "/messages/{id}", format!("/messages/{id}"), 200),
        ("get", "/messages", "/messages".into(), 200),
        (
            "get",
            "/analytics/summary",
            "/analytics/summary".into(),
            200,
        ),
        (
            "get",
            "/analytics/timeseries",
            "/analytics/timeseries".into(),
            200,
        ),
        (
            "get",
            "/auth/me/webhook/deliveries",
            "/auth/me/webhook/deliveries".into(),
            200,
        ),
        ("get", "/auth/me/setup", "/auth/me/setup".into(), 200),
        (
            "post",
            "/auth/me/credentials/verify",
            "/auth/me/credentials/verify".into(),
            200,
        ),
        ("post", "/send-message", "/send-message".into(), 202),
        ("delete", "/auth/me/webhook", "/auth/me/webhook".into(), 200),
        (
            "delete",
            "/auth/me/credentials",
            "/auth/me/credentials".into(),
            200,
        ),
        ("get", "/healthz", "/healthz".into(), 200),
    ];
    for (method, path, url, status) in calls {
        let req = match method {
            "get" => s.client.get(s.url(&url)),
            "post" if path == "/send-message" => s
                .client
                .post(s.url(&url))
                .json(&serde_json::json!({"to": "14155552671", "message": "shape"})),
            "post" => s.client.post(s.url(&url)),
            _ => s.client.delete(s.url(&url)),
        };
        let r = req.bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {url}");
        let body: Value = r.json().await.unwrap();
        let schema = response_schema(&doc, method, path, status);
        let props = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: schema without properties: {schema}"));
        let actual = body.as_object().unwrap();
        for required in schema["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap();
            assert!(
                actual.contains_key(required),
                "{method} {path}: documented required field {required} missing from {body}"
            );
        }
        for field in actual.keys() {
            assert!(
                props.contains_key(field),
                "{method} {path}: field {field} is not documented ({schema})"
            );
        }
    }
    s.stop().await;
}
