//! The OpenAPI document and the router describe exactly the same endpoints.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use serde_json::Value;

/// Every endpoint the server serves (besides `/openapi.json` and `/docs` themselves).
const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/auth/register"),
    ("get", "/templates"),
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
    ("post", "/media"),
    ("get", "/media/{id}"),
    ("post", "/inbound/{id}/read"),
    ("get", "/inbound"),
    ("get", "/inbound/{id}"),
    ("get", "/contacts"),
    ("get", "/contacts/{id}"),
    ("put", "/contacts/{id}/opt-out"),
    ("get", "/auth/me/opt-out-keywords"),
    ("put", "/auth/me/opt-out-keywords"),
    ("get", "/media/{id}/content"),
    ("get", "/analytics/timeseries"),
    ("get", "/analytics/costs"),
    ("get", "/auth/me/webhook/deliveries"),
    ("post", "/webhooks/endpoints"),
    ("get", "/webhooks/endpoints"),
    ("get", "/webhooks/endpoints/{id}"),
    ("delete", "/webhooks/endpoints/{id}"),
    ("patch", "/webhooks/endpoints/{id}"),
    ("get", "/webhooks/endpoints/{id}/deliveries"),
    ("post", "/numbers"),
    ("get", "/numbers"),
    ("get", "/numbers/{phoneNumberId}"),
    ("patch", "/numbers/{phoneNumberId}"),
    ("delete", "/numbers/{phoneNumberId}"),
    ("post", "/webhooks/deliveries/{id}/retry"),
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
    ("post", "/campaigns"),
    ("get", "/campaigns"),
    ("get", "/campaigns/{id}"),
    ("post", "/campaigns/{id}/pause"),
    ("post", "/campaigns/{id}/resume"),
    ("post", "/campaigns/{id}/cancel"),
];

#[tokio::test]
async fn document_and_routes_match() {
    let s = TestServer::start().await;
    let doc = s.openapi().await;
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
            "patch" => s.client.patch(url),
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
        "InboundView",
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
    let doc = s.openapi().await;
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
        ("get", "/analytics/costs", "/analytics/costs".into(), 200),
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

async fn document() -> Value {
    let s = TestServer::start().await;
    let doc = s.openapi().await;
    s.stop().await;
    doc
}

/// Every operation of the document, as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                out.push((method.to_owned(), path.clone(), op));
            }
        }
    }
    out
}

/// A `$ref` to a component, resolved (anything else as it is).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

/// Generated clients name their methods after the operation ids: `sendMessage`, not `send` or `list_`.
#[tokio::test]
async fn operation_ids_read_well_in_a_generated_client() {
    let doc = document().await;
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        // lowerCamelCase verb + noun (`getMessage`); `register` needs no noun.
        assert!(
            id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric())
                && (id.chars().any(|c| c.is_ascii_uppercase()) || id == "register"),
            "{method} {path}: operationId {id} is not a verb-noun lowerCamelCase name"
        );
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
    }
    for (method, path, id) in [
        ("post", "/send-message", "sendMessage"),
        ("post", "/messages/bulk", "sendBulkMessages"),
        ("get", "/messages", "listMessages"),
        ("get", "/messages/{id}", "getMessage"),
        ("post", "/messages/{id}/retry", "retryMessage"),
        ("post", "/auth/register", "register"),
        ("get", "/auth/me", "getMe"),
        ("get", "/analytics/summary", "getAnalyticsSummary"),
        ("put", "/auth/me/webhook", "setWebhook"),
        ("put", "/auth/me/credentials", "setCredentials"),
    ] {
        assert_eq!(
            doc["paths"][path][method]["operationId"], id,
            "{method} {path}"
        );
    }
}

/// A relative server, so "Try it out" and generated clients talk to the server that served the document.
#[tokio::test]
async fn the_document_names_its_server() {
    let doc = document().await;
    let servers = doc["servers"].as_array().expect("servers");
    assert!(!servers.is_empty());
    assert_eq!(servers[0]["url"], "/");
}

/// Error answers are `{"success": false, ...}`; without an example, viewers made one up with `success: true`.
#[tokio::test]
async fn error_examples_say_success_false() {
    let doc = document().await;
    let error_view = &doc["components"]["schemas"]["ErrorView"];
    assert_eq!(error_view["properties"]["success"]["example"], false);
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        for (status, resp) in op["responses"].as_object().unwrap() {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let Some(content) = resp["content"].get("application/json") else {
                continue;
            };
            if content["schema"]["$ref"] != "#/components/schemas/ErrorView" {
                continue;
            }
            let example = &content["example"];
            assert_eq!(
                example["success"], false,
                "{method} {path} {status}: example {example}"
            );
            assert!(
                example["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{method} {path} {status}: example {example} has an error message"
            );
            if let Some(details) = example.get("details") {
                assert!(
                    details.as_array().is_some_and(|d| d
                        .iter()
                        .all(|f| f["field"].is_string() && f["message"].is_string())),
                    "{method} {path} {status}: details of {example}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} error answers documented");
}

/// `status` is an enum of the lifecycle's eight statuses, wherever a message's status appears.
/// Two views of one name would silently replace each other in the document (utoipa names schemas by type):
/// a message's template (what was sent) and a template listed from Meta (its definition) are both present.
#[tokio::test]
async fn template_views_of_sends_and_of_the_listing_keep_their_own_schemas() {
    let s = TestServer::start().await;
    let doc = s.openapi().await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["MessageView"]["properties"]["template"]["oneOf"][1]["$ref"]
            .as_str()
            .or(schemas["MessageView"]["properties"]["template"]["oneOf"][0]["$ref"].as_str()),
        Some("#/components/schemas/TemplateView")
    );
    assert!(
        schemas["TemplateView"]["properties"]
            .get("placeholders")
            .is_none()
    );
    let listed = &schemas["MetaTemplateComponentView"]["properties"];
    assert!(listed.get("placeholders").is_some(), "{listed}");
    assert!(
        schemas["MetaTemplateView"]["properties"]
            .get("status")
            .is_some()
    );
}

#[tokio::test]
async fn status_is_an_enum() {
    let doc = document().await;
    let status = &doc["components"]["schemas"]["MessageStatus"];
    let values: BTreeSet<&str> = status["enum"]
        .as_array()
        .expect("MessageStatus is an enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = whatsapi_core::Status::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(values, expected);
    let status_ref = "#/components/schemas/MessageStatus";
    let schemas = &doc["components"]["schemas"];
    for view in ["MessageView", "TimelineView"] {
        assert_eq!(
            schemas[view]["properties"]["status"]["$ref"], status_ref,
            "{view}.status"
        );
    }
    // A delivery of an event other than a status change has no status: the enum or null.
    let delivery = &schemas["DeliveryView"]["properties"]["status"];
    let refs: Vec<&Value> = delivery["oneOf"]
        .as_array()
        .expect("DeliveryView.status is one of the enum or null")
        .iter()
        .map(|v| &v["$ref"])
        .collect();
    assert!(refs.contains(&&Value::from(status_ref)), "{delivery}");
    // A send answers with the first statuses of the lifecycle only.
    let queued = resolve(&doc, &schemas["SendAcceptedView"]["properties"]["status"]);
    let queued: BTreeSet<&str> = queued["enum"]
        .as_array()
        .expect("a send's status is an enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(queued, BTreeSet::from(["queued", "scheduled"]));
    let params = doc["paths"]["/messages"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let filter = params.iter().find(|p| p["name"] == "status").unwrap();
    assert_eq!(filter["schema"]["$ref"], status_ref);
}

/// Every operation shows an example: of its request body, or of its answer.
#[tokio::test]
async fn every_operation_has_an_example() {
    let doc = document().await;
    for (method, path, op) in operations(&doc) {
        let has_example = |content: &Value| {
            content.as_object().is_some_and(|c| {
                c.values()
                    .any(|m| m.get("example").is_some() || m.get("examples").is_some())
            })
        };
        let success = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(status, _)| status.starts_with('2'))
            .any(|(_, resp)| has_example(&resp["content"]));
        assert!(success, "{method} {path}: no example of its success answer");
        if let Some(body) = op.get("requestBody") {
            assert!(
                has_example(&body["content"]),
                "{method} {path}: no example of its request body"
            );
        }
    }
}

/// Request bodies are described field by field, and success answers point at named views, so a generated client
/// gets a typed model for each.
#[tokio::test]
async fn bodies_and_answers_are_typed() {
    let doc = document().await;
    for (method, path, op) in operations(&doc) {
        if let Some(body) = op.get("requestBody") {
            // JSON, or the form of an upload.
            let content = &body["content"];
            let media = content
                .get("application/json")
                .unwrap_or(&content["multipart/form-data"]);
            let schema = resolve(&doc, &media["schema"]);
            assert!(
                schema["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty()),
                "{method} {path}: request body without fields: {schema}"
            );
        }
        for (status, resp) in op["responses"].as_object().unwrap() {
            let Some(json) = resp["content"].get("application/json") else {
                continue;
            };
            let schema = &json["schema"];
            let name = schema["$ref"].as_str().unwrap_or_else(|| {
                panic!("{method} {path} {status}: answer is not a named schema: {schema}")
            });
            let resolved = resolve(&doc, schema);
            assert!(
                resolved["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty()),
                "{method} {path} {status}: {name} has no fields"
            );
            // An envelope's data is the view itself, not a copy of it.
            if name.contains("Envelope_") {
                let data = &resolved["properties"]["data"];
                let data = if data["type"] == "array" {
                    &data["items"]
                } else {
                    data
                };
                assert!(
                    data["$ref"].is_string(),
                    "{method} {path} {status}: {name}.data is inlined: {data}"
                );
            }
        }
    }
}

/// Every operation behind an API key documents the key's refusal (401) and the plan's rate limit (429, with
/// `Retry-After`), so a generated client types those answers too.
#[tokio::test]
async fn authenticated_operations_document_401_and_429() {
    let doc = document().await;
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        if op["security"].as_array().is_none_or(|s| s.is_empty()) {
            continue;
        }
        for status in ["401", "429"] {
            assert_eq!(
                op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorView",
                "{method} {path} {status}"
            );
        }
        assert!(
            op["responses"]["429"]["headers"]["Retry-After"].is_object(),
            "{method} {path}: 429 without Retry-After"
        );
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} authenticated operations");
}

/// The documented template example is a send the server takes.
#[tokio::test]
async fn the_template_example_is_accepted() {
    let s = TestServer::start().await;
    let doc = s.openapi().await;
    let example = doc["components"]["schemas"]["TemplateBody"]["example"].clone();
    let kinds: Vec<&str> = example["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["header", "body", "button"]);
    assert_eq!(
        example["components"][0]["parameters"][0]["type"], "image",
        "an image header"
    );
    assert_eq!(example["components"][2]["sub_type"], "url", "a URL button");
    let key = s
        .account_with_credentials("template-example@example.com")
        .await;
    let (status, answer) = s
        .post(
            &key,
            "/send-message",
            serde_json::json!({"to": "14155552671", "template": example, "dry_run": true}),
        )
        .await;
    assert!(status < 300, "{status}: {answer}");
    s.stop().await;
}

/// Two views once shared the name `InboundView`, and one schema silently replaced the other: each endpoint's 200
/// answer must describe what it sends.
#[tokio::test]
async fn views_with_like_names_keep_their_own_schemas() {
    let doc = document().await;
    for (path, method, field) in [
        ("/sandbox/inbound", "post", "windowOpenUntil"),
        ("/inbound/{id}", "get", "receivedAt"),
    ] {
        let data = resolve(
            &doc,
            &resolve(&doc, response_schema(&doc, method, path, 200))["properties"]["data"],
        );
        assert!(
            data["properties"].get(field).is_some(),
            "{method} {path}: {field} missing from {data}"
        );
    }
}
