//! Send requests as they arrive (JSON), validated once into typed values. Validation reports **every** failing
//! field, with a path (`template.components[0].parameters[1].text`, `messages[3].to`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::message::{
    ButtonSubType, CurrencyParameter, DateTimeParameter, MediaParameter, MessageContent, Template,
    TemplateComponent, TemplateParameter,
};
use crate::phone::PhoneNumber;

/// Longest free-form text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// One failing field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the field in the request body.
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

/// Every failing field of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Adds a failure.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// No failures.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The failures.
    pub fn fields(&self) -> &[FieldError] {
        &self.0
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Limits that depend on configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRules {
    /// How far ahead `sendAt` may be (default 35 days).
    pub schedule_horizon: Duration,
}

impl Default for SendRules {
    fn default() -> Self {
        Self {
            schedule_horizon: Duration::from_secs(35 * 24 * 3600),
        }
    }
}

/// A validated send request.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    /// Recipient.
    pub to: PhoneNumber,
    /// Text or template.
    pub content: MessageContent,
    /// Future send time.
    pub send_at: Option<DateTime<Utc>>,
    /// Caller data.
    pub metadata: Option<Map<String, Value>>,
    /// Simulate.
    pub dry_run: bool,
}

const SEND_FIELDS: &[&str] = &[
    "to", "message", "template", "sendAt", "metadata", "dry_run", "dryRun",
];

/// Validates one send request body.
pub fn parse_send(
    body: &Value,
    now: DateTime<Utc>,
    rules: &SendRules,
) -> Result<SendRequest, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let parsed = parse_send_at(body, "", now, rules, &mut errs);
    match parsed {
        Some(req) if errs.is_empty() => Ok(req),
        _ => Err(errs),
    }
}

fn path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_send_at(
    body: &Value,
    prefix: &str,
    now: DateTime<Utc>,
    rules: &SendRules,
    errs: &mut ValidationErrors,
) -> Option<SendRequest> {
    let field_name = if prefix.is_empty() { "body" } else { prefix };
    let Some(obj) = body.as_object() else {
        errs.push(
            field_name,
            format!("must be a JSON object, got {}", type_name(body)),
        );
        return None;
    };
    for key in obj.keys() {
        if !SEND_FIELDS.contains(&key.as_str()) {
            errs.push(
                path(prefix, key),
                "unknown field; accepted fields are to, message, template, sendAt, metadata, dry_run",
            );
        }
    }

    let to = match obj.get("to") {
        None | Some(Value::Null) => {
            errs.push(
                path(prefix, "to"),
                "required: the recipient in E.164 digits only, e.g. 14155552671",
            );
            None
        }
        Some(Value::String(s)) => match PhoneNumber::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                errs.push(path(prefix, "to"), e.message());
                None
            }
        },
        Some(other) => {
            errs.push(
                path(prefix, "to"),
                format!(
                    "must be a string of digits such as \"14155552671\", got {}",
                    type_name(other)
                ),
            );
            None
        }
    };

    let message = obj.get("message").filter(|v| !v.is_null());
    let template = obj.get("template").filter(|v| !v.is_null());
    let content = match (message, template) {
        (Some(_), Some(_)) => {
            errs.push(
                path(prefix, "message"),
                "send either message (free-form text) or template, not both",
            );
            None
        }
        (None, None) => {
            errs.push(
                path(prefix, "message"),
                "one of message (free-form text) or template (Meta-approved template) is required",
            );
            None
        }
        (Some(m), None) => parse_text(m, &path(prefix, "message"), errs),
        (None, Some(t)) => {
            parse_template(t, &path(prefix, "template"), errs).map(MessageContent::Template)
        }
    };

    let send_at = match obj.get("sendAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => parse_send_at_time(s, &path(prefix, "sendAt"), now, rules, errs),
        Some(other) => {
            errs.push(
                path(prefix, "sendAt"),
                format!(
                    "must be an ISO 8601 date-time string such as \"2026-05-01T09:00:00Z\", got {}",
                    type_name(other)
                ),
            );
            None
        }
    };

    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            let size = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
            if size > MAX_METADATA_BYTES {
                errs.push(
                    path(prefix, "metadata"),
                    format!("must be at most {MAX_METADATA_BYTES} bytes of JSON, got {size}"),
                );
                None
            } else {
                Some(m.clone())
            }
        }
        Some(other) => {
            errs.push(
                path(prefix, "metadata"),
                format!(
                    "must be a JSON object of key/value pairs, got {}",
                    type_name(other)
                ),
            );
            None
        }
    };

    let mut dry_run = false;
    for key in ["dry_run", "dryRun"] {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => dry_run |= *b,
            Some(other) => errs.push(
                path(prefix, key),
                format!("must be a boolean, got {}", type_name(other)),
            ),
        }
    }

    Some(SendRequest {
        to: to?,
        content: content?,
        send_at,
        metadata,
        dry_run,
    })
}

fn parse_text(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<MessageContent> {
    let Some(s) = v.as_str() else {
        errs.push(field, format!("must be a string, got {}", type_name(v)));
        return None;
    };
    let chars = s.chars().count();
    if s.trim().is_empty() {
        errs.push(field, "must not be empty or blank");
        None
    } else if chars > MAX_TEXT_CHARS {
        errs.push(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters, got {chars}"),
        );
        None
    } else {
        Some(MessageContent::Text { body: s.to_owned() })
    }
}

fn parse_send_at_time(
    s: &str,
    field: &str,
    now: DateTime<Utc>,
    rules: &SendRules,
    errs: &mut ValidationErrors,
) -> Option<DateTime<Utc>> {
    let t = match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => {
            let hint = if chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok() {
                "must include a time zone (Z or an offset such as +02:00)"
            } else {
                "must be an ISO 8601 date-time such as \"2026-05-01T09:00:00Z\""
            };
            errs.push(field, hint);
            return None;
        }
    };
    if t <= now {
        errs.push(field, "must be in the future");
        return None;
    }
    let horizon =
        chrono::Duration::from_std(rules.schedule_horizon).unwrap_or(chrono::Duration::MAX);
    if t > now + horizon {
        errs.push(
            field,
            format!(
                "must be at most {} days ahead",
                rules.schedule_horizon.as_secs() / 86_400
            ),
        );
        return None;
    }
    Some(t)
}

fn str_field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) => {
            errs.push(path(field, key), "required");
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errs.push(path(field, key), "must not be empty");
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            errs.push(
                path(field, key),
                format!("must be a string, got {}", type_name(other)),
            );
            None
        }
    }
}

fn valid_template_name(s: &str) -> bool {
    s.len() <= 512
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_language(s: &str) -> bool {
    let (lang, region) = match s.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn parse_template(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<Template> {
    let Some(obj) = v.as_object() else {
        errs.push(
            field,
            format!("must be an object such as {{\"name\": \"hello_world\", \"language\": \"en_US\"}}, got {}", type_name(v)),
        );
        return None;
    };
    for key in obj.keys() {
        if !["name", "language", "components"].contains(&key.as_str()) {
            errs.push(
                path(field, key),
                "unknown field; accepted fields are name, language, components",
            );
        }
    }
    let name = str_field(obj, "name", field, errs).and_then(|n| {
        if valid_template_name(n) {
            Some(n.to_owned())
        } else {
            errs.push(
                path(field, "name"),
                "must be the template's name as approved by Meta: lowercase letters, digits and underscores",
            );
            None
        }
    });
    // The reference takes the code as a string; Meta's own `{"code": "en_US"}` is accepted too.
    let language = match obj.get("language") {
        Some(Value::Object(l)) => str_field(l, "code", &path(field, "language"), errs),
        _ => str_field(obj, "language", field, errs),
    }
    .and_then(|l| {
        if valid_language(l) {
            Some(l.to_owned())
        } else {
            errs.push(
                path(field, "language"),
                "must be a language code such as en_US or pt_BR",
            );
            None
        }
    });
    let components = match obj.get("components") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            let (mut headers, mut bodies) = (0, 0);
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}.components[{i}]");
                match parse_component(item, &f, errs) {
                    Some(c) => {
                        match c {
                            TemplateComponent::Header { .. } => headers += 1,
                            TemplateComponent::Body { .. } => bodies += 1,
                            TemplateComponent::Button { .. } => {}
                        }
                        out.push(c);
                    }
                    None => ok = false,
                }
            }
            if headers > 1 || bodies > 1 {
                errs.push(
                    format!("{field}.components"),
                    "at most one header and one body component",
                );
                ok = false;
            }
            ok.then_some(out)
        }
        Some(other) => {
            errs.push(
                path(field, "components"),
                format!("must be an array, got {}", type_name(other)),
            );
            None
        }
    };
    Some(Template {
        name: name?,
        language: language?,
        components: components?,
    })
}

fn parse_component(
    v: &Value,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<TemplateComponent> {
    let Some(obj) = v.as_object() else {
        errs.push(field, format!("must be an object, got {}", type_name(v)));
        return None;
    };
    let kind = str_field(obj, "type", field, errs)?;
    let params = |errs: &mut ValidationErrors,
                  allowed: &[&str]|
     -> Option<Vec<TemplateParameter>> {
        match obj.get("parameters") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match parse_parameter(item, &format!("{field}.parameters[{i}]"), allowed, errs)
                    {
                        Some(p) => out.push(p),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Some(other) => {
                errs.push(
                    path(field, "parameters"),
                    format!("must be an array, got {}", type_name(other)),
                );
                None
            }
        }
    };
    match kind {
        "header" => Some(TemplateComponent::Header {
            parameters: params(errs, &["text", "image", "document", "video"])?,
        }),
        "body" => Some(TemplateComponent::Body {
            parameters: params(errs, &["text", "currency", "date_time"])?,
        }),
        "button" => {
            let sub_type = match obj.get("sub_type").and_then(Value::as_str) {
                Some("quick_reply") => Some(ButtonSubType::QuickReply),
                Some("url") => Some(ButtonSubType::Url),
                Some("copy_code") => Some(ButtonSubType::CopyCode),
                _ => {
                    errs.push(
                        path(field, "sub_type"),
                        "required: one of quick_reply, url, copy_code",
                    );
                    None
                }
            };
            let index = match obj.get("index") {
                Some(Value::Number(n)) => n.as_u64().filter(|i| *i <= 9).map(|i| i as u8),
                Some(Value::String(s)) => s.parse::<u8>().ok().filter(|i| *i <= 9),
                _ => None,
            };
            if index.is_none() {
                errs.push(
                    path(field, "index"),
                    "required: the button's position, 0 to 9",
                );
            }
            let allowed: &[&str] = match sub_type {
                Some(ButtonSubType::QuickReply) => &["payload", "text"],
                Some(ButtonSubType::Url) => &["text"],
                Some(ButtonSubType::CopyCode) => &["coupon_code"],
                None => &["payload", "text", "coupon_code"],
            };
            let parameters = params(errs, allowed);
            Some(TemplateComponent::Button {
                sub_type: sub_type?,
                index: index?,
                parameters: parameters?,
            })
        }
        _ => {
            errs.push(path(field, "type"), "must be one of header, body, button");
            None
        }
    }
}

fn parse_media(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<MediaParameter> {
    let f = path(field, key);
    let Some(m) = obj.get(key).and_then(Value::as_object) else {
        errs.push(&f, "required: an object with link (https URL) or id");
        return None;
    };
    let get = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    let media = MediaParameter {
        link: get("link"),
        id: get("id"),
        filename: get("filename"),
        caption: get("caption"),
    };
    match (&media.link, &media.id) {
        (None, None) => {
            errs.push(&f, "needs link (an https URL) or id (an uploaded media id)");
            None
        }
        (Some(l), _) if !(l.starts_with("https://") || l.starts_with("http://")) => {
            errs.push(path(&f, "link"), "must be an http(s) URL");
            None
        }
        _ => Some(media),
    }
}

fn parse_parameter(
    v: &Value,
    field: &str,
    allowed: &[&str],
    errs: &mut ValidationErrors,
) -> Option<TemplateParameter> {
    let Some(obj) = v.as_object() else {
        errs.push(field, format!("must be an object, got {}", type_name(v)));
        return None;
    };
    let kind = str_field(obj, "type", field, errs)?;
    if !allowed.contains(&kind) {
        errs.push(
            path(field, "type"),
            format!(
                "'{kind}' is not allowed here; expected one of {}",
                allowed.join(", ")
            ),
        );
        return None;
    }
    match kind {
        "text" => {
            let text = str_field(obj, "text", field, errs)?;
            if text.chars().count() > 1024 {
                errs.push(path(field, "text"), "must be at most 1024 characters");
                return None;
            }
            Some(TemplateParameter::Text {
                text: text.to_owned(),
            })
        }
        "payload" => Some(TemplateParameter::Payload {
            payload: str_field(obj, "payload", field, errs)?.to_owned(),
        }),
        "coupon_code" => Some(TemplateParameter::CouponCode {
            coupon_code: str_field(obj, "coupon_code", field, errs)?.to_owned(),
        }),
        "currency" => {
            let f = path(field, "currency");
            let Some(c) = obj.get("currency").and_then(Value::as_object) else {
                errs.push(f, "required: {fallback_value, code, amount_1000}");
                return None;
            };
            let fallback = str_field(c, "fallback_value", &f, errs);
            let code = str_field(c, "code", &f, errs).and_then(|code| {
                if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
                    Some(code)
                } else {
                    errs.push(path(&f, "code"), "must be an ISO 4217 code such as USD");
                    None
                }
            });
            let amount = c.get("amount_1000").and_then(Value::as_i64);
            if amount.is_none() {
                errs.push(
                    path(&f, "amount_1000"),
                    "required: the amount times 1000, as an integer",
                );
            }
            Some(TemplateParameter::Currency {
                currency: CurrencyParameter {
                    fallback_value: fallback?.to_owned(),
                    code: code?.to_owned(),
                    amount_1000: amount?,
                },
            })
        }
        "date_time" => {
            let f = path(field, "date_time");
            let Some(d) = obj.get("date_time").and_then(Value::as_object) else {
                errs.push(f, "required: {fallback_value}");
                return None;
            };
            Some(TemplateParameter::DateTime {
                date_time: DateTimeParameter {
                    fallback_value: str_field(d, "fallback_value", &f, errs)?.to_owned(),
                },
            })
        }
        "image" => Some(TemplateParameter::Image {
            image: parse_media(obj, "image", field, errs)?,
        }),
        "document" => Some(TemplateParameter::Document {
            document: parse_media(obj, "document", field, errs)?,
        }),
        "video" => Some(TemplateParameter::Video {
            video: parse_media(obj, "video", field, errs)?,
        }),
        _ => {
            errs.push(
                path(field, "type"),
                format!("unknown parameter type '{kind}'"),
            );
            None
        }
    }
}

/// One item of a bulk request that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkItemError {
    /// Position in `messages`.
    pub index: usize,
    /// Its failing fields (paths relative to the item).
    pub details: Vec<FieldError>,
}

/// A bulk request after validation: the valid items (with their index) and the failures.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Valid items with their position.
    pub valid: Vec<(usize, SendRequest)>,
    /// Invalid items.
    pub invalid: Vec<BulkItemError>,
}

/// Validates a bulk body `{"messages": [...]}` against `cap`. The request as a whole fails when it is not of that
/// shape, empty, or over the cap; otherwise each item is judged on its own.
pub fn parse_bulk(
    body: &Value,
    now: DateTime<Utc>,
    rules: &SendRules,
    cap: usize,
) -> Result<BulkRequest, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(obj) = body.as_object() else {
        errs.push(
            "body",
            format!(
                "must be a JSON object with a messages array, got {}",
                type_name(body)
            ),
        );
        return Err(errs);
    };
    for key in obj.keys() {
        if key != "messages" {
            errs.push(key.as_str(), "unknown field; the body takes only messages");
        }
    }
    let items = match obj.get("messages") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            errs.push(
                "messages",
                "required: an array of messages, each with the fields of a single send",
            );
            return Err(errs);
        }
        Some(other) => {
            errs.push(
                "messages",
                format!("must be an array, got {}", type_name(other)),
            );
            return Err(errs);
        }
    };
    if items.is_empty() {
        errs.push("messages", "must contain at least one message");
    } else if items.len() > cap {
        errs.push(
            "messages",
            format!(
                "at most {cap} messages per bulk request on this plan, got {}",
                items.len()
            ),
        );
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut out = BulkRequest {
        valid: Vec::with_capacity(items.len()),
        invalid: Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        let mut item_errs = ValidationErrors::default();
        match parse_send_at(item, "", now, rules, &mut item_errs) {
            Some(req) if item_errs.is_empty() => out.valid.push((i, req)),
            _ => out.invalid.push(BulkItemError {
                index: i,
                details: item_errs.0,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
