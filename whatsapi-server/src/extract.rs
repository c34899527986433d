//! Request extractors that answer in the API's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::Value;
use whatsapi_core::MessageId;

use crate::error::ApiError;

/// A JSON body parsed into a `Value` (validation happens in the core, field by field).
/// Malformed JSON is a 400 that says where it broke; a body over the limit is a 413.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body is too large. Split bulk sends into several requests.",
                )
            } else {
                ApiError::bad_request(format!("Could not read the request body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body, explaining where it broke.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "Request body is empty; send a JSON object with Content-Type: application/json.",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "the JSON ends too early",
            serde_json::error::Category::Syntax => "invalid JSON syntax",
            serde_json::error::Category::Data => "invalid JSON data",
            serde_json::error::Category::Io => "the body could not be read",
        };
        ApiError::bad_request(format!(
            "Malformed JSON body: {what} at line {}, column {} ({e}).",
            e.line(),
            e.column()
        ))
    })
}

/// A message id from the path; anything that is not a UUID is simply not found.
pub struct MessageIdPath(pub MessageId);

impl<S: Send + Sync> FromRequestParts<S> for MessageIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found("Message not found."))?;
        raw.parse::<MessageId>()
            .map(MessageIdPath)
            .map_err(|_| ApiError::not_found("Message not found."))
    }
}

/// Adds a per-field error for each query parameter of `query` that is not one of `known` (in name order), so a
/// typo or an unsupported filter (`?to=`, `?since=`) is refused instead of silently ignored.
pub fn unknown_query_parameters(
    query: &std::collections::HashMap<String, String>,
    known: &[&str],
    details: &mut Vec<whatsapi_core::send::FieldError>,
) {
    unknown_names(query.keys(), known, "query parameter", details);
}

/// Adds a per-field error `unknown {kind}; expected …` for each of `names` that is not one of `known`, in name
/// order (query parameters, or the keys of a JSON body).
pub fn unknown_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
    known: &[&str],
    kind: &str,
    details: &mut Vec<whatsapi_core::send::FieldError>,
) {
    let mut unknown: Vec<&String> = names
        .into_iter()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    unknown.sort();
    let expected = if known.is_empty() {
        format!("this endpoint takes no {kind}s")
    } else {
        format!("expected {}", known.join(", "))
    };
    for name in unknown {
        details.push(whatsapi_core::send::FieldError {
            field: name.clone(),
            message: format!("unknown {kind}; {expected}"),
        });
    }
}
