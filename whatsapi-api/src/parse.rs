//! `POST /send-message` and `POST /messages/bulk` bodies into [`SendRequest`] / [`BulkRequest`]. Every failing
//! field is reported, with its JSON path (`template.components[0].parameters[1].text`, `messages[3].to`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use whatsapi_core::message::{
    ButtonSubType, CurrencyParameter, DateTimeParameter, FlowAction, MediaParameter,
    MessageContent, MessageKind, Template, TemplateComponent, TemplateParameter,
};

use crate::content::{CONTENT_FIELDS, location, parse_content};
use whatsapi_core::phone::PhoneNumber;
use whatsapi_core::recipient::{Recipient, UserId};
use whatsapi_core::send::{
    BODY_PARAMETERS, BulkRequest, HEADER_PARAMETERS, MAX_VALIDITY, MIN_VALIDITY, SendRequest,
    SendRules, ValidationErrors, button_parameters, check_currency_code, check_from,
    check_language, check_media, check_metadata, check_parameter_text, check_reply_to,
    check_send_at, check_template, check_template_name, check_text, check_validity,
};

/// When a body's `sendAt` is judged against the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Now, with everything else: a past or too distant `sendAt` fails the parse.
    Check,
    /// A `sendAt` that fails only the clock is left to [`WhatsApi::send`](whatsapi_core::WhatsApi::send), which
    /// judges it after looking up the idempotency key, so a repeat of a request that was accepted is answered
    /// with the kept outcome even once its `sendAt` has passed. Reported here only together with other failures.
    Defer,
}

const SEND_FIELDS: &[&str] = &[
    "to",
    "from",
    "recipient",
    "context",
    "message",
    "template",
    "sendAt",
    "validitySeconds",
    "metadata",
    "dry_run",
    "dryRun",
    "type",
];

/// Parses and validates one send body, `sendAt` included.
pub fn parse_send(
    body: &Value,
    now: DateTime<Utc>,
    rules: &SendRules,
) -> Result<SendRequest, ValidationErrors> {
    parse_send_with(body, now, rules, Schedule::Check)
}

/// [`parse_send`], with the schedule check as `schedule` says.
pub fn parse_send_with(
    body: &Value,
    now: DateTime<Utc>,
    rules: &SendRules,
    schedule: Schedule,
) -> Result<SendRequest, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let parsed = parse_item(body, "", now, rules, &mut errs);
    finish(parsed, errs, schedule)
}

/// The request when its only failures are deferred schedule checks.
fn finish(
    parsed: (Option<SendRequest>, usize),
    errs: ValidationErrors,
    schedule: Schedule,
) -> Result<SendRequest, ValidationErrors> {
    let (req, schedule_errors) = parsed;
    let deferrable = schedule == Schedule::Defer && errs.len() == schedule_errors;
    match req {
        Some(req) if errs.is_empty() || deferrable => Ok(req),
        _ => Err(errs),
    }
}

/// A bulk body parsed: the typed request (items that failed to parse are in it as rejected items, in their place)
/// and which positions those are.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedBulk {
    /// The request for [`WhatsApi::send_bulk`](whatsapi_core::WhatsApi::send_bulk).
    pub request: BulkRequest,
    /// Positions of the items this parse rejected (their failures already carry JSON paths).
    pub rejected: BTreeSet<usize>,
}

/// Parses a bulk body `{"messages": [...]}` against `cap`, `sendAt`s included. The request as a whole fails when it
/// is not of that shape, empty, or over the cap; otherwise each item is judged on its own.
pub fn parse_bulk(
    body: &Value,
    now: DateTime<Utc>,
    rules: &SendRules,
    cap: usize,
) -> Result<ParsedBulk, ValidationErrors> {
    parse_bulk_with(body, now, rules, cap, Schedule::Check)
}

/// [`parse_bulk`], with the schedule checks as `schedule` says.
pub fn parse_bulk_with(
    body: &Value,
    now: DateTime<Utc>,
    rules: &SendRules,
    cap: usize,
    schedule: Schedule,
) -> Result<ParsedBulk, ValidationErrors> {
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
            crate::answer::too_many_messages(cap, items.len()),
        );
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut out = ParsedBulk {
        request: BulkRequest::default(),
        rejected: BTreeSet::new(),
    };
    for (i, item) in items.iter().enumerate() {
        let mut item_errs = ValidationErrors::default();
        let parsed = parse_item(item, "", now, rules, &mut item_errs);
        match finish(parsed, item_errs, schedule) {
            Ok(req) => out.request.push(req),
            Err(e) => {
                out.request.push_rejected(e.0);
                out.rejected.insert(i);
            }
        }
    }
    Ok(out)
}

fn path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One send object; answers the request (when every field parsed) and how many failures are schedule checks.
fn parse_item(
    body: &Value,
    prefix: &str,
    now: DateTime<Utc>,
    rules: &SendRules,
    errs: &mut ValidationErrors,
) -> (Option<SendRequest>, usize) {
    let field_name = if prefix.is_empty() { "body" } else { prefix };
    let Some(obj) = body.as_object() else {
        errs.push(
            field_name,
            format!("must be a JSON object, got {}", type_name(body)),
        );
        return (None, 0);
    };
    for key in obj.keys() {
        if !SEND_FIELDS.contains(&key.as_str()) && !CONTENT_FIELDS.contains(&key.as_str()) {
            errs.push(
                path(prefix, key),
                "unknown field; accepted fields are to, recipient, from, context, message, template, sendAt, \
                 validitySeconds, metadata, dry_run (and, for other message types, type and one of image, video, audio, document, sticker, \
                 interactive, location, contacts, reaction)",
            );
        }
    }

    let to = parse_recipient(obj, prefix, errs);
    let reply_to = parse_context(obj, prefix, errs);

    let content = parse_content_field(obj, prefix, errs);

    let mut schedule_errors = 0;
    let send_at = match obj.get("sendAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let field = path(prefix, "sendAt");
            let t = parse_time(s, &field, errs);
            if let Some(t) = t {
                if let Err(m) = check_send_at(t, now, rules) {
                    errs.push(field, m);
                    schedule_errors += 1;
                }
            }
            t
        }
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

    let validity = parse_validity(
        obj.get("validitySeconds"),
        &path(prefix, "validitySeconds"),
        "counted from now",
        errs,
    );

    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => match check_metadata(m) {
            Ok(()) => Some(m.clone()),
            Err(message) => {
                errs.push(path(prefix, "metadata"), message);
                None
            }
        },
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

    let from = parse_from(obj.get("from"), &path(prefix, "from"), errs);

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

    let (Some(to), Some(content), Some(reply_to)) = (to, content, reply_to) else {
        return (None, schedule_errors);
    };
    if let Some(r) = &reply_to {
        if let Err(m) = check_reply_to(r, &content) {
            errs.push(path(prefix, "context.message_id"), m);
            return (None, schedule_errors);
        }
    }
    let mut req = SendRequest::new(to, content).dry_run(dry_run);
    if let Some(r) = reply_to {
        req = req.reply_to(r);
    }
    if let Some(t) = send_at {
        req = req.send_at(t);
    }
    if let Some(v) = validity {
        req = req.validity(v);
    }
    if let Some(m) = metadata {
        req = req.metadata(m);
    }
    if let Some(f) = from {
        req = req.from_number(f);
    }
    (Some(req), schedule_errors)
}

/// `from`: the business number to send from (a phone number id of the account, checked against the account's
/// numbers when the send is accepted), or absent for the default number.
pub(crate) fn parse_from(
    value: Option<&Value>,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if check_from(s).is_ok() => Some(s.clone()),
        Some(other) => {
            let got = match other {
                Value::String(_) => "another string",
                v => type_name(v),
            };
            let why = check_from("").unwrap_err();
            errs.push(field, format!("{why}, got {got}"));
            None
        }
    }
}

/// `validitySeconds`: a whole number of seconds within core's bounds, or absent (`null` counts as absent). `counted`
/// says from when the period runs, for the message of a refusal.
pub(crate) fn parse_validity(
    value: Option<&Value>,
    field: &str,
    counted: &str,
    errs: &mut ValidationErrors,
) -> Option<std::time::Duration> {
    let value = value.filter(|v| !v.is_null())?;
    let checked = value
        .as_u64()
        .map(std::time::Duration::from_secs)
        .ok_or(())
        .and_then(|d| check_validity(d).map(|()| d).map_err(|_| ()));
    match checked {
        Ok(d) => Some(d),
        Err(()) => {
            errs.push(field, validity_message(value, counted));
            None
        }
    }
}

/// Why a `validitySeconds` value is refused, naming what it got.
fn validity_message(value: &Value, counted: &str) -> String {
    let got = match value {
        Value::Number(n) => format!("got {n}"),
        other => format!("got {}", type_name(other)),
    };
    format!(
        "must be a whole number of seconds from {} to {} (30 days): how long the message may wait to be sent, \
         {counted}; {got}",
        MIN_VALIDITY.as_secs(),
        MAX_VALIDITY.as_secs()
    )
}

/// `to` (E.164 digits) and/or `recipient` (a business-scoped user id, for a user behind a username); at least one.
pub(crate) fn parse_recipient(
    obj: &Map<String, Value>,
    prefix: &str,
    errs: &mut ValidationErrors,
) -> Option<Recipient> {
    let before = errs.len();
    let phone = match obj.get("to") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match PhoneNumber::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                // A BSUID in `to` would be dropped by Meta without a word: say where it goes.
                let message = if UserId::parse(s).is_ok() {
                    "this is a business-scoped user id, not a phone number: send it as recipient (to is for \
                     E.164 digits such as 14155552671)"
                        .to_owned()
                } else {
                    e.message().to_owned()
                };
                errs.push(path(prefix, "to"), message);
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
    let user = match obj.get("recipient") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match UserId::parse(s) {
            Ok(u) => Some(u),
            Err(e) => {
                let message = if PhoneNumber::parse(s).is_ok() {
                    "this is a phone number: send it as to; recipient takes a business-scoped user id such as \
                     US.13491208655302741918"
                        .to_owned()
                } else {
                    e.message().to_owned()
                };
                errs.push(path(prefix, "recipient"), message);
                None
            }
        },
        Some(other) => {
            errs.push(
                path(prefix, "recipient"),
                format!(
                    "must be a business-scoped user id string such as \"US.13491208655302741918\", got {}",
                    type_name(other)
                ),
            );
            None
        }
    };
    if errs.len() > before {
        return None;
    }
    let recipient = Recipient::from_parts(phone, user);
    if recipient.is_none() {
        errs.push(
            path(prefix, "to"),
            "required: the recipient in E.164 digits only, e.g. 14155552671 (or, for a user known only by \
             username, their business-scoped user id in recipient)",
        );
    }
    recipient
}

/// Meta's `context: {"message_id": …}` for a reply: `Some(None)` without one, `None` when it is malformed.
fn parse_context(
    obj: &Map<String, Value>,
    prefix: &str,
    errs: &mut ValidationErrors,
) -> Option<Option<String>> {
    let field = path(prefix, "context");
    let shape = "must be an object such as {\"message_id\": \"wamid.…\"}: the WhatsApp or whatsapi id of the \
                 message replied to";
    match obj.get("context") {
        None | Some(Value::Null) => Some(None),
        Some(Value::Object(c)) => {
            for key in c.keys() {
                if key != "message_id" {
                    errs.push(
                        path(&field, key),
                        "unknown field; context takes only message_id",
                    );
                }
            }
            match c.get("message_id") {
                Some(Value::String(id)) if c.len() == 1 => Some(Some(id.clone())),
                Some(Value::String(_)) => None,
                Some(other) => {
                    errs.push(
                        path(&field, "message_id"),
                        format!("must be a string, got {}", type_name(other)),
                    );
                    None
                }
                None => {
                    errs.push(
                        path(&field, "message_id"),
                        format!("required; context {shape}"),
                    );
                    None
                }
            }
        }
        Some(other) => {
            errs.push(field, format!("{shape}, got {}", type_name(other)));
            None
        }
    }
}

/// The one content field of a send (`message`, `template` or a field named like Meta's type), checked against
/// `type` when that is given.
pub(crate) fn parse_content_field(
    obj: &Map<String, Value>,
    prefix: &str,
    errs: &mut ValidationErrors,
) -> Option<MessageContent> {
    let given: Vec<&str> = ["message", "template"]
        .iter()
        .chain(CONTENT_FIELDS)
        .copied()
        .filter(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    // `type` names the content the way Meta does: `text` for `message`.
    let declared = match obj.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => match MessageKind::parse(t) {
            Some(k) => Some(k),
            None => {
                errs.push(
                    path(prefix, "type"),
                    format!(
                        "unknown message type '{t}'; expected one of text, template, {}",
                        CONTENT_FIELDS.join(", ")
                    ),
                );
                return None;
            }
        },
        Some(other) => {
            errs.push(
                path(prefix, "type"),
                format!(
                    "must be a string such as \"image\", got {}",
                    type_name(other)
                ),
            );
            return None;
        }
    };
    let field_of = |k: MessageKind| match k {
        MessageKind::Text => "message",
        other => other.as_str(),
    };
    match given.as_slice() {
        ["message", "template"] => {
            errs.push(
                path(prefix, "message"),
                "send either message (free-form text) or template, not both",
            );
            return None;
        }
        [] => {
            match declared {
                Some(k) if k != MessageKind::Text && k != MessageKind::Template => errs.push(
                    path(prefix, field_of(k)),
                    format!("required: type is {k}, so the {k} object must be given"),
                ),
                _ => errs.push(
                    path(prefix, "message"),
                    "one of message (free-form text) or template (Meta-approved template) is required",
                ),
            }
            return None;
        }
        [_] => {}
        [first, rest @ ..] => {
            for extra in rest {
                errs.push(
                    path(prefix, extra),
                    format!(
                        "send exactly one content field (message, template or one of {}); {first} is given too",
                        CONTENT_FIELDS.join(", ")
                    ),
                );
            }
            return None;
        }
    }
    let name = given[0];
    if let Some(k) = declared {
        if field_of(k) != name {
            errs.push(
                path(prefix, "type"),
                format!("is {k} but the content given is {name}; type must name the content field's type"),
            );
            return None;
        }
    }
    let field = path(prefix, name);
    let value = &obj[name];
    match name {
        "message" => parse_text(value, &field, errs),
        "template" => parse_template(value, &field, errs).map(MessageContent::Template),
        other => parse_content(other, value, prefix, &field, errs),
    }
}

fn parse_text(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<MessageContent> {
    let Some(s) = v.as_str() else {
        errs.push(field, format!("must be a string, got {}", type_name(v)));
        return None;
    };
    match check_text(s) {
        Ok(()) => Some(MessageContent::Text { body: s.to_owned() }),
        Err(m) => {
            errs.push(field, m);
            None
        }
    }
}

pub(crate) fn parse_time(
    s: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            let hint = if chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok() {
                "must include a time zone (Z or an offset such as +02:00)"
            } else {
                "must be an ISO 8601 date-time such as \"2026-05-01T09:00:00Z\""
            };
            errs.push(field, hint);
            None
        }
    }
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

/// `str_field`, then a domain check on the value.
fn checked_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
    check: fn(&str) -> Result<(), String>,
    errs: &mut ValidationErrors,
) -> Option<&'a str> {
    let s = str_field(obj, key, field, errs)?;
    match check(s) {
        Ok(()) => Some(s),
        Err(m) => {
            errs.push(path(field, key), m);
            None
        }
    }
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
    let name = checked_str(obj, "name", field, check_template_name, errs);
    // The reference takes the code as a string; Meta's own `{"code": "en_US"}` is accepted too.
    let language = match obj.get("language") {
        Some(Value::Object(l)) => {
            let f = path(field, "language");
            str_field(l, "code", &f, errs).and_then(|code| match check_language(code) {
                Ok(()) => Some(code),
                Err(m) => {
                    errs.push(f, m);
                    None
                }
            })
        }
        _ => checked_str(obj, "language", field, check_language, errs),
    };
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
    let template = Template {
        name: name?.to_owned(),
        language: language?.to_owned(),
        components: components?,
    };
    // The shapes are right; now Meta's rules across parameters (counts, header limits, named parameters, button
    // positions), the same checks `SendRequest::validate` makes.
    let mut rules = ValidationErrors::default();
    check_template(&template, field, &mut rules);
    if rules.is_empty() {
        Some(template)
    } else {
        errs.0.extend(rules.0);
        None
    }
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
            parameters: params(errs, HEADER_PARAMETERS)?,
        }),
        "body" => Some(TemplateComponent::Body {
            parameters: params(errs, BODY_PARAMETERS)?,
        }),
        "button" => {
            let sub_type = match obj.get("sub_type").and_then(Value::as_str) {
                Some("quick_reply") => Some(ButtonSubType::QuickReply),
                Some("url") => Some(ButtonSubType::Url),
                Some("copy_code") => Some(ButtonSubType::CopyCode),
                Some("flow") => Some(ButtonSubType::Flow),
                _ => {
                    errs.push(
                        path(field, "sub_type"),
                        "required: one of quick_reply, url, copy_code, flow",
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
                Some(s) => button_parameters(s),
                None => &["payload", "text", "coupon_code", "action"],
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
    match check_media(&media) {
        Ok(()) => Some(media),
        Err((sub, message)) => {
            errs.push(sub.map_or(f.clone(), |s| path(&f, s)), message);
            None
        }
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
            let parameter_name = match obj.get("parameter_name") {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(n)) => Ok(Some(n.clone())),
                Some(other) => {
                    errs.push(
                        path(field, "parameter_name"),
                        format!(
                            "must be the placeholder's name as a string, got {}",
                            type_name(other)
                        ),
                    );
                    Err(())
                }
            };
            let text = checked_str(obj, "text", field, check_parameter_text, errs);
            Some(TemplateParameter::Text {
                parameter_name: parameter_name.ok()?,
                text: text?.to_owned(),
            })
        }
        "location" => {
            let f = path(field, "location");
            match obj.get("location") {
                None | Some(Value::Null) => {
                    errs.push(f, "required: {latitude, longitude, name?, address?}");
                    None
                }
                Some(l) => Some(TemplateParameter::Location {
                    location: location(l, &f, errs)?,
                }),
            }
        }
        "action" => Some(TemplateParameter::Action {
            action: parse_flow_action(obj, field, errs)?,
        }),
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
            let code = checked_str(c, "code", &f, check_currency_code, errs);
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

/// A flow button's `action`: `flow_token` (a string) and `flow_action_data` (an object), both optional.
fn parse_flow_action(
    obj: &Map<String, Value>,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<FlowAction> {
    let f = path(field, "action");
    let Some(a) = obj.get("action").and_then(Value::as_object) else {
        errs.push(
            f,
            "required: an object with flow_token (a string) and flow_action_data (an object), both optional",
        );
        return None;
    };
    let mut ok = true;
    for key in a.keys() {
        if !["flow_token", "flow_action_data"].contains(&key.as_str()) {
            errs.push(
                path(&f, key),
                "unknown field; accepted fields are flow_token, flow_action_data",
            );
            ok = false;
        }
    }
    let flow_token = match a.get("flow_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(other) => {
            errs.push(
                path(&f, "flow_token"),
                format!("must be a string, got {}", type_name(other)),
            );
            ok = false;
            None
        }
    };
    let flow_action_data = match a.get("flow_action_data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(d)) => Some(d.clone()),
        Some(other) => {
            errs.push(
                path(&f, "flow_action_data"),
                format!(
                    "must be an object (the flow's first screen data), got {}",
                    type_name(other)
                ),
            );
            ok = false;
            None
        }
    };
    ok.then_some(FlowAction {
        flow_token,
        flow_action_data,
    })
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
