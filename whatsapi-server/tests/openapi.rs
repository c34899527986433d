//! The OpenAPI document and the router describe exactly the same endpoints.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use serde_json::Value;

/// Every endpoint the server serves (besides `/openapi.json` and `/docs` themselves).
const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/auth/register"),
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
