//! Request extractors that answer in the API's error shape: [`ValidatedJson`] and [`ValidatedQuery`] (in the style
//! of svix-server's), the raw [`JsonBody`] of the send endpoints, [`MessageIdPath`], and the multipart form of a
//! media upload, [`media::MediaForm`].
//!
//! A body is deserialized leniently, each field into a [`Field`] (absent, given, or of the wrong JSON type), and then
//! checked by its [`RequestBody::validate`], so one 400 lists every failing field with the API's own wording
//! instead of serde's first error.

pub mod media;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::Value;
use utoipa::IntoParams;
use whatsapi_core::MessageId;
use whatsapi_core::send::FieldError;

use crate::error::ApiError;

/// A JSON body parsed into `T` and checked field by field; answers 400 with per-field `details` otherwise.
pub struct ValidatedJson<T: RequestBody>(pub T::Valid);

/// A JSON request body: deserialized leniently, then checked into what the handler works with.
pub trait RequestBody: DeserializeOwned {
    /// What the handler receives once every field is valid.
    type Valid;
    /// The detail (field `body`) for a body that is not a JSON object; `None` reads such a body as an object
    /// without fields.
    const NOT_AN_OBJECT: Option<&'static str> = Some("must be a JSON object");
    /// The fields it takes, when other fields are refused; `None` ignores them.
    const FIELDS: Option<&'static [&'static str]> = None;

    /// Checks every field, returning one detail per problem.
    fn validate(self) -> Result<Self::Valid, Vec<FieldError>>;
}

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for ValidatedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        let value = match (value, T::NOT_AN_OBJECT) {
            (Value::Object(map), _) => Value::Object(map),
            (_, Some(message)) => return Err(body_error(message)),
            (_, None) => Value::Object(Default::default()),
        };
        let mut details = Vec::new();
        if let (Some(known), Value::Object(map)) = (T::FIELDS, &value) {
            unknown_names(map.keys(), known, "field", &mut details);
        }
        // Every field is a `Field` (or otherwise total), so an object always deserializes.
        let body: T = serde_json::from_value(value).map_err(|e| body_error(&e.to_string()))?;
        match body.validate() {
            Ok(valid) if details.is_empty() => Ok(ValidatedJson(valid)),
            Ok(_) => Err(ApiError::validation(details)),
            Err(more) => {
                details.extend(more);
                Err(ApiError::validation(details))
            }
        }
    }
}

fn body_error(message: &str) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: "body".to_owned(),
        message: message.to_owned(),
    }])
}

/// A field of a JSON body as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    /// Missing, or `null`.
    Absent,
    /// Of the expected JSON type.
    Given(T),
    /// Of another JSON type.
    WrongType,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through `Option` so that a missing field is `Absent` without `#[serde(default)]` (which would make the
        // OpenAPI schema call every field optional).
        Ok(match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Field::Absent,
            Some(value) => serde_json::from_value(value).map_or(Field::WrongType, Field::Given),
        })
    }
}

/// A JSON type a [`Field`] can expect, named in its detail.
pub trait JsonType {
    /// The detail for a value of another type, e.g. `must be a string`.
    const MUST_BE: &'static str;
}

impl JsonType for String {
    const MUST_BE: &'static str = "must be a string";
}

impl JsonType for bool {
    const MUST_BE: &'static str = "must be a boolean";
}

impl JsonType for Vec<String> {
    const MUST_BE: &'static str = "must be an array of strings";
}

impl JsonType for u64 {
    const MUST_BE: &'static str = "must be a whole number";
}

impl JsonType for Vec<u64> {
    const MUST_BE: &'static str = "must be an array of whole numbers of seconds";
}

impl<T: JsonType> Field<T> {
    /// The value; a detail `required` or `must be a …` when absent or of the wrong type.
    pub fn required(self, name: &str, details: &mut Vec<FieldError>) -> Option<T> {
        if matches!(self, Field::Absent) {
            details.push(field_error(name, "required"));
        }
        self.optional(name, details)
    }

    /// The value when given; a detail `must be a …` when of the wrong type.
    pub fn optional(self, name: &str, details: &mut Vec<FieldError>) -> Option<T> {
        match self {
            Field::Absent => None,
            Field::Given(v) => Some(v),
            Field::WrongType => {
                details.push(field_error(name, T::MUST_BE));
                None
            }
        }
    }
}

/// A per-field error.
pub fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The query string checked into `T`: a parameter `T` does not document is refused (unless
/// [`FromQuery::REFUSE_UNKNOWN`] is false), so a typo or an unsupported filter (`?to=`, `?since=`) is a 400 instead
/// of silently ignored; every bad value is listed in one 400.
pub struct ValidatedQuery<T>(pub T);

/// A query string's typed form. Its [`IntoParams`] (the parameters the OpenAPI document lists) are also the
/// parameters it accepts.
pub trait FromQuery: IntoParams + Sized {
    /// Whether parameters it does not document are refused.
    const REFUSE_UNKNOWN: bool = true;

    /// Reads every parameter, adding one detail per bad value (the returned value is then discarded).
    fn from_query(query: &QueryParams, details: &mut Vec<FieldError>) -> Self;
}

/// The parameters of a query string, by name.
#[derive(Debug, Default)]
pub struct QueryParams(pub HashMap<String, String>);

impl QueryParams {
    /// The raw value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The trimmed value, when given and not blank.
    pub fn non_blank(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|s| !s.is_empty())
    }

    /// A whole number in `range`, `default` when absent; a detail when it is anything else.
    pub fn number(
        &self,
        name: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
        details: &mut Vec<FieldError>,
    ) -> u32 {
        match self.get(name).map(|raw| raw.trim().parse::<u32>()) {
            None => default,
            Some(Ok(n)) if range.contains(&n) => n,
            Some(_) => {
                details.push(field_error(
                    name,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                ));
                default
            }
        }
    }
}

impl<S: Send + Sync, T: FromQuery> FromRequestParts<S> for ValidatedQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request(format!("Could not read the query string: {rejection}"))
            })?;
        let query = QueryParams(raw);
        let mut details = Vec::new();
        if T::REFUSE_UNKNOWN {
            let known: Vec<String> =
                T::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query))
                    .into_iter()
                    .map(|p| p.name)
                    .collect();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            unknown_query_parameters(&query.0, &known, &mut details);
        }
        let value = T::from_query(&query, &mut details);
        if details.is_empty() {
            Ok(ValidatedQuery(value))
        } else {
            Err(ApiError::validation(details))
        }
    }
}

/// A query string without parameters: any parameter is refused.
#[derive(Debug, Default)]
pub struct NoParameters;

impl IntoParams for NoParameters {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        Vec::new()
    }
}

impl FromQuery for NoParameters {
    fn from_query(_: &QueryParams, _: &mut Vec<FieldError>) -> Self {
        NoParameters
    }
}

/// A JSON body parsed into a `Value` (the send endpoints: validation happens in the core, field by field).
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
    query: &HashMap<String, String>,
    known: &[&str],
    details: &mut Vec<FieldError>,
) {
    unknown_names(query.keys(), known, "query parameter", details);
}

/// Adds a per-field error `unknown {kind}; expected …` for each of `names` that is not one of `known`, in name
/// order (query parameters, or the keys of a JSON body).
pub fn unknown_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
    known: &[&str],
    kind: &str,
    details: &mut Vec<FieldError>,
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
        details.push(FieldError {
            field: name.clone(),
            message: format!("unknown {kind}; {expected}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        name: Field<String>,
        strict_window: Field<bool>,
    }

    #[test]
    fn fields_tell_absent_null_given_and_wrong_type_apart() {
        let b: Body = serde_json::from_str(r#"{"name": "Ann", "strictWindow": "yes"}"#).unwrap();
        assert_eq!(b.name, Field::Given("Ann".to_owned()));
        assert_eq!(b.strict_window, Field::WrongType);
        let b: Body = serde_json::from_str(r#"{"name": null}"#).unwrap();
        assert_eq!(b.name, Field::Absent);
        assert_eq!(b.strict_window, Field::Absent);
        let b: Body = serde_json::from_str(r#"{"name": 7, "strictWindow": true}"#).unwrap();
        assert_eq!(b.name, Field::WrongType);
        assert_eq!(b.strict_window, Field::Given(true));
    }

    #[test]
    fn required_and_optional_fields_explain_themselves() {
        let mut details = Vec::new();
        assert_eq!(Field::<String>::Absent.required("name", &mut details), None);
        assert_eq!(
            Field::<bool>::WrongType.optional("strictWindow", &mut details),
            None
        );
        assert_eq!(Field::<String>::Absent.optional("note", &mut details), None);
        let got: Vec<(&str, &str)> = details
            .iter()
            .map(|d| (d.field.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [("name", "required"), ("strictWindow", "must be a boolean")]
        );
    }

    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    struct Paging {
        #[param(required = false)]
        limit: u32,
        #[param(rename = "batchId")]
        batch: Option<String>,
    }

    impl FromQuery for Paging {
        fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
            Self {
                limit: q.number("limit", 20, 1..=200, details),
                batch: q.non_blank("batchId").map(str::to_owned),
            }
        }
    }

    async fn query<T: FromQuery>(uri: &str) -> Result<T, ApiError> {
        let (mut parts, ()) = Request::builder().uri(uri).body(()).unwrap().into_parts();
        ValidatedQuery::<T>::from_request_parts(&mut parts, &())
            .await
            .map(|ValidatedQuery(q)| q)
    }

    #[tokio::test]
    async fn queries_accept_exactly_their_documented_parameters() {
        let q: Paging = query("/x?limit=5&batchId=%20b1%20").await.unwrap();
        assert_eq!((q.limit, q.batch.as_deref()), (5, Some("b1")));
        let e = query::<Paging>("/x?since=1&limit=0").await.err().unwrap();
        let details: Vec<String> = e
            .details
            .unwrap()
            .into_iter()
            .map(|d| format!("{}: {}", d.field, d.message))
            .collect();
        assert_eq!(
            details,
            [
                "since: unknown query parameter; expected limit, batchId",
                "limit: must be a whole number from 1 to 200"
            ]
        );
        let e = query::<NoParameters>("/x?page=2").await.err().unwrap();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message
                .contains("this endpoint takes no query parameters")
        );
        assert!(query::<NoParameters>("/x").await.is_ok());
    }
}
