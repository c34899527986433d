//! The OpenAPI document: its frame (info, security scheme), filled with the paths of the routers, served at
//! `/openapi.json` and rendered at `/docs`.

use std::sync::Arc;

use axum::Router;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;

/// The OpenAPI document's frame; paths are collected from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "whatsapi",
        description = "WhatsApp Business messaging gateway: send text and template messages through Meta's \
                       WhatsApp Cloud API, track their delivery, and receive status webhooks.\n\n\
                       **Message types**: besides `message` (text) and `template`, a send may carry exactly one of \
                       `image`, `video`, `audio`, `document`, `sticker` (by `link` or uploaded `id`), `interactive` \
                       (reply `button`s, `list`, `cta_url`), `location`, `contacts` or `reaction`, each holding Meta's object for \
                       that type; `type` is optional and must agree. All but templates need the 24-hour window.\n\n\
                       **Business numbers**: besides the default number of `PUT /auth/me/credentials`, an account \
                       connects more with `POST /numbers`; a send (or a bulk item) names one with `from` (its Phone \
                       Number ID; an unknown one is a 400 naming `from`), Meta's webhooks for each number reach its \
                       account, each inbound message says which number it was sent to (`to`; `GET /inbound?to=`), \
                       read receipts and replies or reactions to it without `from` go out on that number, \
                       and each number is paced at its own rate (its Meta throughput tier: `STANDARD` 80/s, \
                       `HIGH` 1,000/s, 20/s for numbers shared with the WhatsApp Business app; or `PATCH \
                       /numbers/{id}`), halved after a 130429 and recovering step by step.\n\n\
                       **Statuses**: `queued` or `scheduled` → `processing` → `sent` → `delivered` → `read`, or \
                       `retrying` / `failed`. Meta reports `played` once the recipient listens to a voice message; it \
                       comes after `read` and is recorded as `read` (setting `readAt` if no `read` came first), so a \
                       played voice message ends in `read`.\n\n\
                       **Sandbox mode** (`whatsapi --sandbox`): messages go to an emulator of Meta's Cloud API. As on \
                       Meta, free-form text to a customer who has not written in during the last 24 hours fails with \
                       131047; templates always work; `POST /sandbox/inbound` simulates the customer writing in. \
                       Magic recipients:\n\n\
                       | recipient | behaviour |\n|---|---|\n\
                       | 15550000001 | accepted, then `failed` with 131026 |\n\
                       | 15550000002 | first 2 sends: HTTP 400, 130429; then success |\n\
                       | 15550000003 | text: 131047 until it writes in; templates succeed |\n\
                       | 15550000004 | sent, delivered, never read |\n\
                       | 15550000005 | first 3 sends: HTTP 500, 131000; then success |\n\
                       | 15550000006 | statuses arrive read, delivered, sent |\n\
                       | 15550000007 | first send: HTTP 400, 131056; then success |\n\
                       | 15550000008 | templates other than hello_world/en_US: 132001 |\n\
                       | 15550000009 | answered after 2 s |\n\
                       | any other | sent, delivered, read; text needs the 24-hour window |",
        version = env!("CARGO_PKG_VERSION")
    ),
    servers((url = "/", description = "This server (the document is served by the server it describes)")),
    modifiers(&SecurityAddon),
    components(schemas(crate::views::ErrorView, crate::views::FieldErrorView))
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_live_ + 48 hex characters")
                    .build(),
            ),
        );
    }
}

/// Completes the document once the routers' paths are in it (modifiers of [`ApiDoc`] run before that).
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::Modify as _;
    SendOperations.modify(doc);
    AuthenticationErrors.modify(doc);
    ErrorExamples.modify(doc);
    reference_envelope_data(doc);
    optional_body(doc, "/inbound/{id}/read");
}

/// Marks the request body of `POST {path}` optional (utoipa marks every named body required).
fn optional_body(doc: &mut utoipa::openapi::OpenApi, path: &str) {
    if let Some(body) = doc
        .paths
        .paths
        .get_mut(path)
        .and_then(|p| p.post.as_mut())
        .and_then(|op| op.request_body.as_mut())
    {
        body.required = Some(utoipa::openapi::Required::False);
    }
}

/// utoipa inlines the `data` of each `Envelope<T>`, so a generated client gets a copy of every view per envelope
/// (`EnvelopeAccountViewData` beside `AccountView`). Where the inlined schema (or an array's items) is exactly a
/// named component, it becomes a reference to it.
fn reference_envelope_data(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    use utoipa::openapi::{Ref, RefOr};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let named: Vec<(String, Value)> = components
        .schemas
        .iter()
        .filter(|(name, _)| !name.starts_with("Envelope_"))
        .filter_map(|(name, schema)| Some((name.clone(), serde_json::to_value(schema).ok()?)))
        .collect();
    let as_ref = |schema: &RefOr<Schema>| -> Option<RefOr<Schema>> {
        let value = serde_json::to_value(schema).ok()?;
        let (name, _) = named.iter().find(|(_, v)| *v == value)?;
        Some(RefOr::Ref(Ref::from_schema_name(name.as_str())))
    };
    for (name, schema) in components.schemas.iter_mut() {
        let RefOr::T(Schema::Object(envelope)) = schema else {
            continue;
        };
        let Some(data) = envelope
            .properties
            .get_mut("data")
            .filter(|_| name.starts_with("Envelope_"))
        else {
            continue;
        };
        if let Some(reference) = as_ref(data) {
            *data = reference;
        } else if let RefOr::T(Schema::Array(array)) = data {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                if let Some(reference) = as_ref(items) {
                    **items = reference;
                }
            }
        }
    }
}

/// `/openapi.json` and the Swagger UI at `/docs`, serving `doc`.
pub fn docs_router<S: Clone + Send + Sync + 'static>(doc: utoipa::openapi::OpenApi) -> Router<S> {
    let doc = Arc::new(doc);
    let json = doc.clone();
    Router::new()
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = json.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .url("/docs/openapi.json", doc.as_ref().clone()),
        )
}

/// The operation ids and examples of `POST /send-message` and `POST /messages/bulk`, where their annotations give
/// none (their request bodies are described where they are parsed). An annotation that sets them wins.
struct SendOperations;

impl utoipa::Modify for SendOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let send = openapi
            .paths
            .paths
            .get_mut("/send-message")
            .and_then(|p| p.post.as_mut());
        if let Some(op) = send {
            describe(op, "sendMessage", send_example(), accepted_example());
        }
        let bulk = openapi
            .paths
            .paths
            .get_mut("/messages/bulk")
            .and_then(|p| p.post.as_mut());
        if let Some(op) = bulk {
            describe(
                op,
                "sendBulkMessages",
                bulk_example(),
                bulk_accepted_example(),
            );
        }
    }
}

fn describe(op: &mut Operation, id: &str, request: Value, answer: Value) {
    if op
        .operation_id
        .as_deref()
        .is_none_or(|current| !current.contains(char::is_uppercase))
    {
        op.operation_id = Some(id.to_owned());
    }
    if let Some(body) = op.request_body.as_mut() {
        for content in body.content.values_mut() {
            if content.example.is_none() && content.examples.is_empty() {
                content.example = Some(request.clone());
            }
        }
    }
    if let Some(utoipa::openapi::RefOr::T(resp)) = op.responses.responses.get_mut("202") {
        for content in resp.content.values_mut() {
            if content.example.is_none() && content.examples.is_empty() {
                content.example = Some(answer.clone());
            }
        }
    }
}

fn send_example() -> Value {
    json!({
        "to": "14155552671",
        "template": {
            "name": "order_ready",
            "language": "en_US",
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "Sarah"},
                {"type": "text", "text": "#1042"}
            ]}]
        },
        "metadata": {"orderId": "1234"}
    })
}

fn accepted_example() -> Value {
    json!({"success": true, "data": {
        "id": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20",
        "status": "queued",
        "scheduledFor": null,
        "expiresAt": null
    }})
}

fn bulk_example() -> Value {
    json!({"messages": [
        {"to": "14155552671", "message": "Hi Alice, your code is 1234"},
        {"to": "14155552672", "message": "Hi Bob, your code is 5678"}
    ]})
}

fn bulk_accepted_example() -> Value {
    json!({"success": true, "data": {
        "batchId": "a3f9c2d1-5b7e-4c1a-9f3d-2e8b6a4c0d17",
        "totalMessages": 2,
        "queued": 2,
        "failedCount": 0,
        "errors": []
    }})
}

/// The answers [`crate::auth::authenticate`] gives on every operation that needs an API key: 401 and 429, where
/// the operation does not describe them itself.
struct AuthenticationErrors;

impl utoipa::Modify for AuthenticationErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorView")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                let needs_key = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if !needs_key {
                    continue;
                }
                let responses = &mut op.responses.responses;
                for (status, description) in [
                    ("401", "Missing, malformed or unknown API key"),
                    (
                        "429",
                        "The plan's requests per minute are used up; see Retry-After",
                    ),
                ] {
                    let missing = match responses.get(status) {
                        None => true,
                        Some(utoipa::openapi::RefOr::T(r)) => r.content.is_empty(),
                        Some(_) => false,
                    };
                    if missing {
                        responses.insert(status.to_owned(), error(description).into());
                    }
                }
                if let Some(utoipa::openapi::RefOr::T(limited)) = responses.get_mut("429") {
                    limited
                        .headers
                        .entry("Retry-After".to_owned())
                        .or_insert_with(retry_after);
                }
            }
        }
    }
}

fn retry_after() -> utoipa::openapi::header::Header {
    use utoipa::openapi::schema::{Object, Type};
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Object::with_type(Type::Integer))
        .description(Some("Seconds until the window resets"))
        .build()
}

/// An example for every error answer that has none: `{"success": false, ...}` with a message this server really
/// gives for that status. Without one, viewers and generators invent the schema's first value (`success: true`).
struct ErrorExamples;

impl utoipa::Modify for ErrorExamples {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for (status, resp) in op.responses.responses.iter_mut() {
                    let (utoipa::openapi::RefOr::T(resp), Some(example)) =
                        (resp, error_example(status))
                    else {
                        continue;
                    };
                    if let Some(content) = resp.content.get_mut("application/json") {
                        if content.example.is_none() && content.examples.is_empty() {
                            content.example = Some(example);
                        }
                    }
                }
            }
        }
    }
}

/// The example error of a status code (4xx and 5xx).
pub fn error_example(status: &str) -> Option<Value> {
    let (error, details) = match status {
        "400" => (
            "Validation failed for 2 fields; see details",
            json!([
                {"field": "to", "message": "phone number must contain digits only (E.164 without '+'), e.g. 14155552671"},
                {"field": "sendAt", "message": "must be a time in the future, e.g. 2026-05-01T09:00:00Z"}
            ]),
        ),
        "401" => (
            "Missing Authorization header. Send your API key as 'Authorization: Bearer sk_live_...' (sk_live_ \
             followed by 48 hex characters).",
            Value::Null,
        ),
        "403" => ("account deactivated", Value::Null),
        "404" => ("Message not found.", Value::Null),
        "409" => (
            "Idempotency-Key was already used with a different request body",
            Value::Null,
        ),
        "413" => (
            "Request body is too large. Split bulk sends into several requests.",
            Value::Null,
        ),
        "429" => (
            "Rate limit of 20 requests per minute exceeded. Retry after 45 seconds.",
            Value::Null,
        ),
        "502" => (
            "The payment provider could not be reached or refused the request: timed out",
            Value::Null,
        ),
        "503" => (
            "Storage is temporarily unavailable; nothing was saved. Try again shortly.",
            Value::Null,
        ),
        _ => return None,
    };
    let mut body = json!({"success": false, "error": error});
    if !details.is_null() {
        body["details"] = details;
    }
    body["requestId"] = json!("0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a");
    Some(body)
}
