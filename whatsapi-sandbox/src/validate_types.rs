//! Validation of the message types beside text and template (media, interactive, location, contacts, reaction)
//! and of `context`, with the error codes Meta answers: 131008 for a missing parameter, 131009 for a value out of
//! range or of the wrong kind, 100 for a field the object does not have.

use serde_json::{Map, Value};

use crate::error::MetaError;
use crate::validate::Content;

/// Longest caption of an image, video or document.
const MAX_CAPTION: usize = 1024;
/// Longest body of an interactive message.
const MAX_INTERACTIVE_BODY: usize = 1024;
/// Longest text header or footer of an interactive message.
const MAX_HEADER: usize = 60;
/// Longest title of a reply button, of the list's button and of a CTA button.
const MAX_BUTTON_TITLE: usize = 20;
/// Longest list row or section title.
const MAX_ROW_TITLE: usize = 24;
/// Longest list row description.
const MAX_ROW_DESCRIPTION: usize = 72;

fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, MetaError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(MetaError::missing_parameter(format!(
            "The parameter {path} is required."
        ))),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {path} must be an object."
        ))),
    }
}

fn array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Vec<Value>, MetaError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(MetaError::missing_parameter(format!(
            "The parameter {path} is required."
        ))),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {path} must be an array."
        ))),
    }
}

/// A string of 1..=max characters.
fn text(obj: &Map<String, Value>, key: &str, path: &str, max: usize) -> Result<String, MetaError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > max {
                Err(MetaError::invalid_value(format!(
                    "Param {path} must be at most {max} characters long."
                )))
            } else {
                Ok(s.clone())
            }
        }
        None | Some(Value::Null) | Some(Value::String(_)) => Err(MetaError::missing_parameter(
            format!("The parameter {path} is required."),
        )),
        Some(_) => Err(MetaError::invalid_value(format!(
            "Param {path} must be a string."
        ))),
    }
}

fn optional_text(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    max: usize,
) -> Result<(), MetaError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(_) => text(obj, key, path, max).map(drop),
    }
}

fn only(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), MetaError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(MetaError::invalid_parameter(format!(
            "Param {path}['{k}'] is not a valid parameter."
        ))),
        None => Ok(()),
    }
}

/// A media object at `path`: exactly one of link (http or https) and id; caption and filename where the type has
/// them.
fn media_object(
    m: &Map<String, Value>,
    kind: &str,
    path: &str,
    in_header: bool,
) -> Result<(), MetaError> {
    let caption = !in_header && matches!(kind, "image" | "video" | "document");
    let mut allowed = vec!["link", "id"];
    if caption {
        allowed.push("caption");
    }
    if kind == "document" {
        allowed.push("filename");
    }
    only(m, &allowed, path)?;
    match (m.get("link"), m.get("id")) {
        (Some(_), Some(_)) => {
            return Err(MetaError::invalid_parameter(format!(
                "Param {path} must have either link or id, not both."
            )));
        }
        (Some(Value::String(link)), None) => {
            let rest = link
                .strip_prefix("https://")
                .or_else(|| link.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                return Err(MetaError::invalid_value(format!(
                    "Param {path}['link'] must be a valid http(s) URL."
                )));
            }
        }
        (None, Some(Value::String(id))) if !id.trim().is_empty() => {}
        (Some(_), None) | (None, Some(_)) => {
            return Err(MetaError::invalid_value(format!(
                "Param {path}['link'] or {path}['id'] must be a non-empty string."
            )));
        }
        (None, None) => {
            return Err(MetaError::missing_parameter(format!(
                "The parameter {path}['link'] or {path}['id'] is required."
            )));
        }
    }
    if caption {
        optional_text(m, "caption", &format!("{path}['caption']"), MAX_CAPTION)?;
    }
    if kind == "document" {
        optional_text(m, "filename", &format!("{path}['filename']"), 240)?;
    }
    Ok(())
}

/// `image`, `video`, `audio`, `document` or `sticker`.
pub(crate) fn media(obj: &Map<String, Value>, kind: &str) -> Result<Content, MetaError> {
    let m = object(obj, kind, kind)?;
    media_object(m, kind, kind, false)?;
    Ok(Content::Media {
        kind: kind.to_owned(),
    })
}

pub(crate) fn interactive(obj: &Map<String, Value>) -> Result<Content, MetaError> {
    let i = object(obj, "interactive", "interactive")?;
    only(
        i,
        &["type", "header", "body", "footer", "action"],
        "interactive",
    )?;
    let kind = text(i, "type", "interactive['type']", 32)?;
    match kind.as_str() {
        "button" | "list" | "cta_url" => {}
        "product"
        | "product_list"
        | "catalog_message"
        | "flow"
        | "location_request_message"
        | "address_message"
        | "voice_call"
        | "call_permission_request" => {
            return Err(MetaError::unsupported_type(&format!("interactive {kind}")));
        }
        other => {
            return Err(MetaError::invalid_value(format!(
                "Param interactive['type'] must be one of {{BUTTON, CTA_URL, LIST, PRODUCT, PRODUCT_LIST, \
                 CATALOG_MESSAGE, FLOW}} - got \"{other}\"."
            )));
        }
    }
    if let Some(h) = i.get("header").filter(|h| !h.is_null()) {
        let Some(h) = h.as_object() else {
            return Err(MetaError::invalid_parameter(
                "Param interactive['header'] must be an object.",
            ));
        };
        let htype = text(h, "type", "interactive['header']['type']", 16)?;
        match htype.as_str() {
            "text" => {
                text(h, "text", "interactive['header']['text']", MAX_HEADER)?;
            }
            "image" | "video" | "document" if kind != "list" => {
                let path = format!("interactive['header']['{htype}']");
                let m = object(h, &htype, &path)?;
                media_object(m, &htype, &path, true)?;
            }
            other => {
                return Err(MetaError::invalid_value(format!(
                    "Param interactive['header']['type'] \"{other}\" is not valid for interactive type {kind}."
                )));
            }
        }
    }
    let body = object(i, "body", "interactive['body']")?;
    text(
        body,
        "text",
        "interactive['body']['text']",
        MAX_INTERACTIVE_BODY,
    )?;
    if let Some(f) = i.get("footer").filter(|f| !f.is_null()) {
        let Some(f) = f.as_object() else {
            return Err(MetaError::invalid_parameter(
                "Param interactive['footer'] must be an object.",
            ));
        };
        text(f, "text", "interactive['footer']['text']", MAX_HEADER)?;
    }
    let action = object(i, "action", "interactive['action']")?;
    match kind.as_str() {
        "button" => buttons(action)?,
        "list" => list(action)?,
        _ => cta_url(action)?,
    }
    Ok(Content::Interactive { kind })
}

fn buttons(action: &Map<String, Value>) -> Result<(), MetaError> {
    let buttons = array(action, "buttons", "interactive['action']['buttons']")?;
    if buttons.is_empty() || buttons.len() > 3 {
        return Err(MetaError::invalid_value(format!(
            "Param interactive['action']['buttons'] must have 1 to 3 buttons - got {}.",
            buttons.len()
        )));
    }
    let (mut ids, mut titles) = (Vec::new(), Vec::new());
    for (n, b) in buttons.iter().enumerate() {
        let path = format!("interactive['action']['buttons'][{n}]");
        let Some(b) = b.as_object() else {
            return Err(MetaError::invalid_parameter(format!(
                "Param {path} must be an object."
            )));
        };
        if text(b, "type", &format!("{path}['type']"), 16)? != "reply" {
            return Err(MetaError::invalid_value(format!(
                "Param {path}['type'] must be one of {{REPLY}}."
            )));
        }
        let reply = object(b, "reply", &format!("{path}['reply']"))?;
        let id = text(reply, "id", &format!("{path}['reply']['id']"), 256)?;
        let title = text(
            reply,
            "title",
            &format!("{path}['reply']['title']"),
            MAX_BUTTON_TITLE,
        )?;
        if ids.contains(&id) || titles.contains(&title) {
            return Err(MetaError::invalid_value(
                "Buttons' ids and titles must be unique within the message.",
            ));
        }
        ids.push(id);
        titles.push(title);
    }
    Ok(())
}

fn list(action: &Map<String, Value>) -> Result<(), MetaError> {
    text(
        action,
        "button",
        "interactive['action']['button']",
        MAX_BUTTON_TITLE,
    )?;
    let sections = array(action, "sections", "interactive['action']['sections']")?;
    if sections.is_empty() || sections.len() > 10 {
        return Err(MetaError::invalid_value(format!(
            "Param interactive['action']['sections'] must have 1 to 10 sections - got {}.",
            sections.len()
        )));
    }
    let mut rows_total = 0;
    let mut ids = Vec::new();
    for (n, s) in sections.iter().enumerate() {
        let path = format!("interactive['action']['sections'][{n}]");
        let Some(s) = s.as_object() else {
            return Err(MetaError::invalid_parameter(format!(
                "Param {path} must be an object."
            )));
        };
        if sections.len() > 1 {
            text(s, "title", &format!("{path}['title']"), MAX_ROW_TITLE)?;
        } else {
            optional_text(s, "title", &format!("{path}['title']"), MAX_ROW_TITLE)?;
        }
        let rows = array(s, "rows", &format!("{path}['rows']"))?;
        for (k, r) in rows.iter().enumerate() {
            let rpath = format!("{path}['rows'][{k}]");
            let Some(r) = r.as_object() else {
                return Err(MetaError::invalid_parameter(format!(
                    "Param {rpath} must be an object."
                )));
            };
            let id = text(r, "id", &format!("{rpath}['id']"), 200)?;
            if ids.contains(&id) {
                return Err(MetaError::invalid_value(
                    "Rows' ids must be unique within the list.",
                ));
            }
            ids.push(id);
            text(r, "title", &format!("{rpath}['title']"), MAX_ROW_TITLE)?;
            optional_text(
                r,
                "description",
                &format!("{rpath}['description']"),
                MAX_ROW_DESCRIPTION,
            )?;
        }
        rows_total += rows.len();
    }
    if rows_total == 0 || rows_total > 10 {
        return Err(MetaError::invalid_value(format!(
            "A list must have 1 to 10 rows in all its sections - got {rows_total}."
        )));
    }
    Ok(())
}

fn cta_url(action: &Map<String, Value>) -> Result<(), MetaError> {
    if text(action, "name", "interactive['action']['name']", 16)? != "cta_url" {
        return Err(MetaError::invalid_value(
            "Param interactive['action']['name'] must be cta_url.",
        ));
    }
    let p = object(action, "parameters", "interactive['action']['parameters']")?;
    text(
        p,
        "display_text",
        "interactive['action']['parameters']['display_text']",
        MAX_BUTTON_TITLE,
    )?;
    let url = text(p, "url", "interactive['action']['parameters']['url']", 2000)?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(MetaError::invalid_value(
            "Param interactive['action']['parameters']['url'] must be a valid URL.",
        ));
    }
    Ok(())
}

fn coordinate(l: &Map<String, Value>, key: &str, max: f64) -> Result<(), MetaError> {
    let path = format!("location['{key}']");
    let v = match l.get(key) {
        None | Some(Value::Null) => {
            return Err(MetaError::missing_parameter(format!(
                "The parameter {path} is required."
            )));
        }
        Some(Value::Number(n)) => n.as_f64(),
        // Meta's own examples sometimes quote the numbers.
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match v {
        Some(v) if v.is_finite() && (-max..=max).contains(&v) => Ok(()),
        _ => Err(MetaError::invalid_value(format!(
            "Param {path} must be a number from -{max} to {max}."
        ))),
    }
}

pub(crate) fn location(obj: &Map<String, Value>) -> Result<Content, MetaError> {
    let l = object(obj, "location", "location")?;
    only(l, &["latitude", "longitude", "name", "address"], "location")?;
    coordinate(l, "latitude", 90.0)?;
    coordinate(l, "longitude", 180.0)?;
    optional_text(l, "name", "location['name']", 1000)?;
    optional_text(l, "address", "location['address']", 1000)?;
    Ok(Content::Location)
}

pub(crate) fn contacts(obj: &Map<String, Value>) -> Result<Content, MetaError> {
    let cards = array(obj, "contacts", "contacts")?;
    if cards.is_empty() {
        return Err(MetaError::missing_parameter(
            "The parameter contacts must have at least one contact.",
        ));
    }
    for (n, c) in cards.iter().enumerate() {
        let path = format!("contacts[{n}]");
        let Some(c) = c.as_object() else {
            return Err(MetaError::invalid_parameter(format!(
                "Param {path} must be an object."
            )));
        };
        let name = object(c, "name", &format!("{path}['name']"))?;
        text(
            name,
            "formatted_name",
            &format!("{path}['name']['formatted_name']"),
            1000,
        )?;
    }
    Ok(Content::Contacts)
}

pub(crate) fn reaction(obj: &Map<String, Value>) -> Result<Content, MetaError> {
    let r = object(obj, "reaction", "reaction")?;
    text(r, "message_id", "reaction['message_id']", 512)?;
    match r.get("emoji") {
        None | Some(Value::Null) => Err(MetaError::missing_parameter(
            "The parameter reaction['emoji'] is required.",
        )),
        Some(Value::String(e)) if e.chars().count() <= 10 => Ok(Content::Reaction),
        Some(_) => Err(MetaError::invalid_value(
            "Param reaction['emoji'] must be a single emoji (or empty to remove the reaction).",
        )),
    }
}

/// `context`, when given: `{"message_id": "wamid…"}`.
pub(crate) fn context(obj: &Map<String, Value>) -> Result<Option<String>, MetaError> {
    match obj.get("context") {
        None | Some(Value::Null) => Ok(None),
        Some(_) => {
            let c = object(obj, "context", "context")?;
            text(c, "message_id", "context['message_id']", 512).map(Some)
        }
    }
}
