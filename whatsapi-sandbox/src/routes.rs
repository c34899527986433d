//! The Graph API endpoints: `POST /{version}/{phone_number_id}/messages` and `GET /{version}/{phone_number_id}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use crate::config::SandboxNumber;
use crate::error::MetaError;
use crate::ids;
use crate::magic::{Behaviour, PlannedStatus};
use crate::media::{self, StoredMedia};
use crate::record::RecordedRequest;
use crate::server::Shared;
use crate::validate::{self, Content};
use crate::webhooks::AcceptedSend;

/// Fields of the phone-number node answered when `fields` is not given (Meta's defaults).
const DEFAULT_FIELDS: &str = "verified_name,code_verification_status,display_phone_number,quality_rating,platform_type,throughput,is_on_biz_app";

type QueryParams = Query<HashMap<String, String>>;

/// The router over the shared state.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/{version}/{phone_number_id}/messages",
            post(send).fallback(unknown_path),
        )
        .route(
            "/{version}/{phone_number_id}/media",
            post(upload_media)
                .fallback(unknown_path)
                // Meta's largest file plus the form around it; the default 2 MB bounds every other route.
                .layer(axum::extract::DefaultBodyLimit::max(
                    usize::try_from(whatsapi_core::upload::MAX_MEDIA_BYTES).unwrap_or(usize::MAX)
                        + 64 * 1024,
                )),
        )
        .route(
            "/{version}/{waba_id}/message_templates",
            get(message_templates).fallback(unknown_path),
        )
        .route(
            "/{version}/{phone_number_id}",
            get(phone_number).fallback(unknown_path),
        )
        .route(
            &format!("{}/", media::DOWNLOAD_PATH),
            get(download_media).fallback(unknown_path),
        )
        .fallback(unknown_path)
        .with_state(shared)
}

async fn unknown_path(uri: Uri) -> MetaError {
    MetaError::unknown_path(uri.path())
}

/// The token of `Authorization: Bearer …` (or `OAuth …`), else of the `access_token` query parameter.
fn token<'a>(headers: &'a HeaderMap, query: &'a HashMap<String, String>) -> Option<&'a str> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
                .then(|| token.trim())
        });
    from_header
        .or_else(|| query.get("access_token").map(String::as_str))
        .filter(|t| !t.is_empty())
}

/// Meta's order: version, then token (190), then whether the token may use the object (100/33).
fn authorize(
    shared: &Shared,
    method: &str,
    uri: &Uri,
    version: &str,
    id: &str,
    token: Option<&str>,
) -> Result<SandboxNumber, MetaError> {
    let valid_version = version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        });
    if !valid_version {
        return Err(MetaError::unknown_path(uri.path()));
    }
    let Some(token) = token.filter(|t| shared.config.knows_token(t)) else {
        return Err(MetaError::invalid_token());
    };
    shared
        .config
        .resolve(id, token)
        .ok_or_else(|| MetaError::unknown_object(method, id))
}

async fn send(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body["status"] == "read" {
        return mark_read(&shared, &uri, &version, &id, token(&headers, &query), body);
    }
    let mut record = RecordedRequest {
        phone_number_id: id.clone(),
        to: validate::recipient(&body),
        body: body.clone(),
        http_status: 200,
        wamid: None,
        error_code: None,
        received_at: Utc::now(),
    };
    // Everything up to the answer runs without awaiting, so a client that gives up cannot undo an acceptance.
    match accept(&shared, &uri, &version, &id, token(&headers, &query), &body) {
        Ok(accepted) => {
            record.wamid = Some(accepted.send.wamid.clone());
            // Recorded before its webhooks can go out.
            shared.record(record);
            shared
                .dispatcher
                .schedule(accepted.number, accepted.send, accepted.plan);
            if let Some(delay) = accepted.answer_after {
                tokio::time::sleep(delay).await;
            }
            axum::Json(accepted.answer).into_response()
        }
        Err(e) => {
            record.http_status = e.status.as_u16();
            record.error_code = Some(e.code);
            let slow =
                shared.outage().is_some() && record.to.as_deref() == Some(crate::magic::SLOW);
            shared.record(record);
            // The slow recipient is slow in an outage too, so a test can hold a failing send in flight.
            if slow {
                tokio::time::sleep(shared.config.slow_delay).await;
            }
            e.into_response()
        }
    }
}

/// An accepted send: its answer, and how long to hold it back.
struct Accepted {
    number: SandboxNumber,
    send: AcceptedSend,
    plan: Vec<PlannedStatus>,
    answer: Value,
    answer_after: Option<std::time::Duration>,
}

fn accept(
    shared: &Shared,
    uri: &Uri,
    version: &str,
    id: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<Accepted, MetaError> {
    let number = authorize(shared, "post", uri, version, id, token)?;
    if let Some(status) = shared.outage() {
        return Err(MetaError::outage(status));
    }
    if body.is_null() {
        return Err(MetaError::invalid_parameter(
            "The request body must be a JSON object.",
        ));
    }
    let req = validate::send_request(body)?;
    // A user known only by BSUID behaves like the magic number its id part spells (US.15550000001 is
    // undeliverable like 15550000001), so every magic behaviour can be tried on usernames too.
    let behaviour = match (&req.phone, &req.user_id) {
        (Some(digits), _) => Behaviour::of(digits),
        (None, Some(user)) => Behaviour::of(user.split_once('.').map_or("", |(_, id)| id)),
        (None, None) => Behaviour::Normal,
    };
    if req.phone.is_none() {
        if let Content::Template { name, .. } = &req.content {
            if crate::magic::is_authentication_template(name)
                || crate::templates::is_authentication(name)
            {
                return Err(MetaError::user_id_not_supported());
            }
        }
    }
    let attempt = shared.count_attempt(&req.wa_id);
    let window_open = shared.window_open(id, &req.wa_id);
    if let Some(e) = behaviour.refusal_with(
        attempt,
        &req.content,
        window_open,
        shared.config.meta_down_failures,
        shared.config.service_window,
    ) {
        return Err(e);
    }
    if matches!(req.content, Content::Template { .. }) {
        if let Some(e) = crate::templates::check(&body["template"]) {
            return Err(e);
        }
    }
    let wamid = ids::wamid(&req.wa_id);
    let template = matches!(req.content, Content::Template { .. });
    let (category, pricing_type) = pricing(&req.content, window_open);
    let mut message = json!({ "id": wamid });
    let mut contact = json!({"input": req.to});
    if let Some(digits) = &req.phone {
        contact["wa_id"] = json!(digits);
    }
    if let Some(user) = &req.user_id {
        contact["user_id"] = json!(user);
    }
    if template {
        message["message_status"] = json!("accepted");
    }
    Ok(Accepted {
        answer: json!({
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [message],
        }),
        number: number.clone(),
        send: AcceptedSend {
            wamid,
            recipient_id: req.phone,
            recipient_user_id: req.user_id,
            callback_data: req.callback_data,
            category,
            pricing_type,
            accepted_at: Utc::now(),
        },
        plan: behaviour.plan(shared.config.delays),
        answer_after: (behaviour == Behaviour::Slow).then_some(shared.config.slow_delay),
    })
}

/// Meta's per-message pricing of a send: a free-form message is `service`, free inside the customer service window
/// (the only place it can be sent); a template is charged by its category (a template the store does not know is
/// `utility`, one that looks like an authentication template `authentication`), except a utility template inside
/// the window, which is free since July 2025.
fn pricing(content: &Content, window_open: bool) -> (&'static str, &'static str) {
    let category = match content {
        Content::Template { name, .. } => crate::templates::category_of(name).unwrap_or(
            if crate::magic::is_authentication_template(name) {
                "authentication"
            } else {
                "utility"
            },
        ),
        _ => "service",
    };
    let free = category == "service" || (category == "utility" && window_open);
    (
        category,
        if free {
            "free_customer_service"
        } else {
            "regular"
        },
    )
}

/// `status: read` on the messages endpoint: marks an inbound message read (with a typing indicator when asked).
fn mark_read(
    shared: &Shared,
    uri: &Uri,
    version: &str,
    id: &str,
    token: Option<&str>,
    body: Value,
) -> Response {
    let result = authorize(shared, "post", uri, version, id, token)
        .and_then(|_| match shared.outage() {
            Some(status) => Err(MetaError::outage(status)),
            None => Ok(()),
        })
        .and_then(|()| media::check_read(&shared.media, id, &body));
    let mut record = RecordedRequest {
        phone_number_id: id.to_owned(),
        to: None,
        body,
        http_status: 200,
        wamid: None,
        error_code: None,
        received_at: Utc::now(),
    };
    match result {
        Ok(()) => {
            shared.record_read(record);
            axum::Json(json!({"success": true})).into_response()
        }
        Err(e) => {
            record.http_status = e.status.as_u16();
            record.error_code = Some(e.code);
            shared.record_read(record);
            e.into_response()
        }
    }
}

/// `POST /{version}/{phone_number_id}/media`: Meta's multipart upload.
async fn upload_media(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, MetaError> {
    let number = authorize(
        &shared,
        "post",
        &uri,
        &version,
        &id,
        token(&headers, &query),
    )?;
    if let Some(status) = shared.outage() {
        return Err(MetaError::outage(status));
    }
    let form = form.map_err(|e| {
        MetaError::invalid_parameter(format!("expected a multipart/form-data body: {e}"))
    })?;
    let (declared, bytes, _) = media::read_upload(form).await?;
    let mime = media::check_upload(&declared, &bytes)?;
    let media_id = shared.media.store(StoredMedia {
        phone_number_id: number.id.clone(),
        mime,
        sha256: media::sha256_hex(&bytes),
        bytes,
    });
    Ok((media::UPLOADED, axum::Json(json!({"id": media_id}))).into_response())
}

/// The scheme and host the client reached the sandbox at, for absolute URLs.
fn base_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// The bytes of an uploaded file, with a token that may use the file's number (as Meta's download URL wants).
async fn download_media(
    State(shared): State<Arc<Shared>>,
    Query(query): QueryParams,
    headers: HeaderMap,
) -> Result<Response, MetaError> {
    let mid = query.get("mid").map(String::as_str).unwrap_or_default();
    let Some(token) = token(&headers, &query).filter(|t| shared.config.knows_token(t)) else {
        return Err(MetaError::invalid_token());
    };
    let Some(file) = shared
        .media
        .get(mid)
        .filter(|m| shared.config.resolve(&m.phone_number_id, token).is_some())
    else {
        return Err(MetaError::unknown_object("get", mid));
    };
    Ok(([(header::CONTENT_TYPE, file.mime.clone())], file.bytes).into_response())
}

/// `GET /{version}/{waba_id}/message_templates`: the template store, `limit` at a time after the cursor `after`.
/// The sandbox's WABA id (or, with `open_numbers`, any numeric id) with any token the sandbox knows; an outage
/// fails it as it fails sends.
async fn message_templates(
    State(shared): State<Arc<Shared>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
) -> Result<axum::Json<Value>, MetaError> {
    let valid_version = version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        });
    if !valid_version {
        return Err(MetaError::unknown_path(uri.path()));
    }
    if !token(&headers, &query).is_some_and(|t| shared.config.knows_token(t)) {
        return Err(MetaError::invalid_token());
    }
    let numeric =
        !waba_id.is_empty() && waba_id.len() <= 20 && waba_id.bytes().all(|b| b.is_ascii_digit());
    if waba_id != shared.config.waba_id && !(shared.config.open_numbers && numeric) {
        return Err(MetaError::unknown_object("get", &waba_id));
    }
    if let Some(status) = shared.outage() {
        return Err(MetaError::outage(status));
    }
    let base = format!("{}{}", base_of(&headers), uri.path());
    crate::templates::page(
        query.get("limit").map(String::as_str),
        query.get("after").map(String::as_str),
        &base,
        shared.config.max_template_page,
    )
    .map(axum::Json)
}

async fn phone_number(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
) -> Result<axum::Json<Value>, MetaError> {
    // A media id is a node of its own on the same path shape.
    if let Some(file) = shared.media.get(&id) {
        authorize(
            &shared,
            "get",
            &uri,
            &version,
            &file.phone_number_id,
            token(&headers, &query),
        )?;
        // Meta's optional check that the file was uploaded on this number.
        if query
            .get("phone_number_id")
            .is_some_and(|p| *p != file.phone_number_id)
        {
            return Err(MetaError::unknown_object("get", &id));
        }
        return Ok(axum::Json(media::metadata(&id, &file, &base_of(&headers))));
    }
    let number = authorize(&shared, "get", &uri, &version, &id, token(&headers, &query))?;
    let fields = query
        .get("fields")
        .map(String::as_str)
        .unwrap_or(DEFAULT_FIELDS);
    let mut out = serde_json::Map::new();
    for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let value = match field {
            "verified_name" => json!(number.verified_name),
            "display_phone_number" => json!(number.display_phone_number),
            "quality_rating" => json!("GREEN"),
            "code_verification_status" => json!("VERIFIED"),
            "platform_type" => json!("CLOUD_API"),
            "throughput" => json!({"level": number.throughput_level}),
            "is_on_biz_app" => json!(number.on_business_app),
            "name_status" => json!("APPROVED"),
            "id" => json!(number.id),
            other => return Err(MetaError::nonexisting_field(other)),
        };
        out.insert(field.to_owned(), value);
    }
    out.insert("id".to_owned(), json!(number.id));
    Ok(axum::Json(Value::Object(out)))
}

#[cfg(test)]
mod pricing_tests {
    use super::*;

    fn template(name: &str) -> Content {
        Content::Template {
            name: name.into(),
            language: "en_US".into(),
            parameters: 0,
        }
    }

    #[test]
    fn sends_are_priced_as_meta_prices_them() {
        for (content, window_open, want) in [
            (Content::Text, true, ("service", "free_customer_service")),
            (template("weekly_deals"), false, ("marketing", "regular")),
            (template("weekly_deals"), true, ("marketing", "regular")),
            (template("hello_world"), false, ("utility", "regular")),
            (
                template("hello_world"),
                true,
                ("utility", "free_customer_service"),
            ),
            (template("auth_code"), true, ("authentication", "regular")),
            (template("otp_login"), false, ("authentication", "regular")),
            (template("made_up"), false, ("utility", "regular")),
        ] {
            assert_eq!(
                pricing(&content, window_open),
                want,
                "{content:?} window {window_open}"
            );
        }
    }
}
