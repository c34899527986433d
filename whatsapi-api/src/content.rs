//! The content fields of a send beside `message` and `template`: each named like Meta's message type (`image`,
//! `interactive`, `location`, …) and holding Meta's object for that type. Shapes are checked here (every failing
//! field under its JSON path); the values are then judged by core's [`check_content`], whose paths are the same.

use serde_json::{Map, Value};
use whatsapi_core::message::{
    Interactive, InteractiveAction, InteractiveHeader, ListRow, ListSection, Location,
    MediaParameter, MessageContent, MessageKind, Reaction, ReplyButton,
};
use whatsapi_core::send::{ValidationErrors, check_content};

use crate::parse::type_name;

/// The content fields other than `message` and `template`, in the order they are reported.
pub(crate) const CONTENT_FIELDS: &[&str] = &[
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "interactive",
    "location",
    "reaction",
];

fn path(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// Parses the object of the content field `name` (one of [`CONTENT_FIELDS`]) found at `field`. `prefix` is the
/// path of the send itself (empty, or a bulk item's).
pub(crate) fn parse_content(
    name: &str,
    v: &Value,
    prefix: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<MessageContent> {
    let before = errs.len();
    let content = match name {
        "image" => media(v, MessageKind::Image, field, errs).map(MessageContent::Image),
        "video" => media(v, MessageKind::Video, field, errs).map(MessageContent::Video),
        "audio" => media(v, MessageKind::Audio, field, errs).map(MessageContent::Audio),
        "document" => media(v, MessageKind::Document, field, errs).map(MessageContent::Document),
        "sticker" => media(v, MessageKind::Sticker, field, errs).map(MessageContent::Sticker),
        "interactive" => interactive(v, field, errs).map(MessageContent::Interactive),
        "location" => location(v, field, errs).map(MessageContent::Location),
        "reaction" => reaction(v, field, errs).map(MessageContent::Reaction),
        _ => None,
    }?;
    if errs.len() > before {
        return None;
    }
    check_content(&content, prefix, errs);
    (errs.len() == before).then_some(content)
}

fn object<'a>(
    v: &'a Value,
    field: &str,
    example: &str,
    errs: &mut ValidationErrors,
) -> Option<&'a Map<String, Value>> {
    match v.as_object() {
        Some(o) => Some(o),
        None => {
            errs.push(
                field,
                format!("must be an object such as {example}, got {}", type_name(v)),
            );
            None
        }
    }
}

fn only(obj: &Map<String, Value>, allowed: &[&str], field: &str, errs: &mut ValidationErrors) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            errs.push(
                path(field, key),
                format!("unknown field; accepted fields are {}", allowed.join(", ")),
            );
        }
    }
}

/// A string that may be absent; `Err` when present with another JSON type.
fn opt_str(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Result<Option<String>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => {
            errs.push(
                path(field, key),
                format!("must be a string, got {}", type_name(other)),
            );
            Err(())
        }
    }
}

/// A required string (may be empty: core judges the value).
fn req_str(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<String> {
    match opt_str(obj, key, field, errs) {
        Ok(Some(s)) => Some(s),
        Ok(None) => {
            errs.push(path(field, key), "required");
            None
        }
        Err(()) => None,
    }
}

fn media(
    v: &Value,
    kind: MessageKind,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<MediaParameter> {
    let obj = object(
        v,
        field,
        "{\"link\": \"https://example.com/file\"} or {\"id\": \"MEDIA_ID\"}",
        errs,
    )?;
    let allowed: &[&str] = match kind {
        MessageKind::Document => &["link", "id", "caption", "filename"],
        k if k.takes_caption() => &["link", "id", "caption"],
        _ => &["link", "id"],
    };
    only(obj, allowed, field, errs);
    let link = opt_str(obj, "link", field, errs);
    let id = opt_str(obj, "id", field, errs);
    let caption = opt_str(obj, "caption", field, errs);
    let filename = opt_str(obj, "filename", field, errs);
    Some(MediaParameter {
        link: link.ok()?,
        id: id.ok()?,
        caption: caption.ok()?,
        filename: filename.ok()?,
    })
}

/// `{"text": "…"}` at `field`.
fn text_object(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<String> {
    let obj = object(v, field, "{\"text\": \"…\"}", errs)?;
    only(obj, &["text"], field, errs);
    req_str(obj, "text", field, errs)
}

fn interactive(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<Interactive> {
    let obj = object(
        v,
        field,
        "{\"type\": \"button\", \"body\": {\"text\": \"…\"}, \"action\": {…}}",
        errs,
    )?;
    only(
        obj,
        &["type", "header", "body", "footer", "action"],
        field,
        errs,
    );
    let kind = req_str(obj, "type", field, errs);
    let kind = match kind.as_deref() {
        Some(k @ ("button" | "list" | "cta_url")) => Some(k.to_owned()),
        Some(other) => {
            errs.push(
                path(field, "type"),
                format!("'{other}' is not supported; expected one of button, list, cta_url"),
            );
            None
        }
        None => None,
    };
    let header = match obj.get("header") {
        None | Some(Value::Null) => Some(None),
        Some(h) => header(h, &path(field, "header"), errs).map(Some),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => {
            errs.push(path(field, "body"), "required: {\"text\": \"…\"}");
            None
        }
        Some(b) => text_object(b, &path(field, "body"), errs),
    };
    let footer = match obj.get("footer") {
        None | Some(Value::Null) => Some(None),
        Some(f) => text_object(f, &path(field, "footer"), errs).map(Some),
    };
    let action_field = path(field, "action");
    let action = match (obj.get("action"), kind.as_deref()) {
        (None | Some(Value::Null), _) => {
            errs.push(action_field, "required: what the recipient can tap");
            None
        }
        (Some(_), None) => None,
        (Some(a), Some(k)) => action(k, a, &action_field, errs),
    };
    Some(Interactive {
        header: header?,
        body: body?,
        footer: footer?,
        action: action?,
    })
}

fn header(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<InteractiveHeader> {
    let obj = object(v, field, "{\"type\": \"text\", \"text\": \"…\"}", errs)?;
    let kind = req_str(obj, "type", field, errs)?;
    let media_of = |k: MessageKind, errs: &mut ValidationErrors| {
        only(obj, &["type", k.as_str()], field, errs);
        match obj.get(k.as_str()) {
            None | Some(Value::Null) => {
                errs.push(
                    path(field, k.as_str()),
                    "required: {\"link\": …} or {\"id\": …}",
                );
                None
            }
            Some(m) => media(m, k, &path(field, k.as_str()), errs),
        }
    };
    match kind.as_str() {
        "text" => {
            only(obj, &["type", "text"], field, errs);
            req_str(obj, "text", field, errs).map(|text| InteractiveHeader::Text { text })
        }
        "image" => {
            media_of(MessageKind::Image, errs).map(|image| InteractiveHeader::Image { image })
        }
        "video" => {
            media_of(MessageKind::Video, errs).map(|video| InteractiveHeader::Video { video })
        }
        "document" => media_of(MessageKind::Document, errs)
            .map(|document| InteractiveHeader::Document { document }),
        other => {
            errs.push(
                path(field, "type"),
                format!(
                    "'{other}' is not a header type; expected one of text, image, video, document"
                ),
            );
            None
        }
    }
}

fn array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<&'a Vec<Value>> {
    match obj.get(key) {
        Some(Value::Array(a)) => Some(a),
        None | Some(Value::Null) => {
            errs.push(path(field, key), "required: an array");
            None
        }
        Some(other) => {
            errs.push(
                path(field, key),
                format!("must be an array, got {}", type_name(other)),
            );
            None
        }
    }
}

fn action(
    kind: &str,
    v: &Value,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<InteractiveAction> {
    let obj = object(v, field, "{\"buttons\": […]}", errs)?;
    match kind {
        "button" => {
            only(obj, &["buttons"], field, errs);
            let items = array(obj, "buttons", field, errs)?;
            let mut buttons = Vec::new();
            let mut ok = true;
            for (i, b) in items.iter().enumerate() {
                let f = format!("{field}.buttons[{i}]");
                match reply_button(b, &f, errs) {
                    Some(b) => buttons.push(b),
                    None => ok = false,
                }
            }
            ok.then_some(InteractiveAction::Button { buttons })
        }
        "list" => {
            only(obj, &["button", "sections"], field, errs);
            let button = req_str(obj, "button", field, errs);
            let items = array(obj, "sections", field, errs)?;
            let mut sections = Vec::new();
            let mut ok = true;
            for (i, s) in items.iter().enumerate() {
                match section(s, &format!("{field}.sections[{i}]"), errs) {
                    Some(s) => sections.push(s),
                    None => ok = false,
                }
            }
            let button = button?;
            ok.then_some(InteractiveAction::List { button, sections })
        }
        _ => {
            only(obj, &["name", "parameters"], field, errs);
            match opt_str(obj, "name", field, errs) {
                Ok(None) => {}
                Ok(Some(n)) if n == "cta_url" => {}
                Ok(Some(_)) => {
                    errs.push(path(field, "name"), "must be cta_url");
                    return None;
                }
                Err(()) => return None,
            }
            let pf = path(field, "parameters");
            let p = match obj.get("parameters") {
                None | Some(Value::Null) => {
                    errs.push(
                        &pf,
                        "required: {\"display_text\": \"…\", \"url\": \"https://…\"}",
                    );
                    return None;
                }
                Some(p) => object(
                    p,
                    &pf,
                    "{\"display_text\": \"…\", \"url\": \"https://…\"}",
                    errs,
                )?,
            };
            only(p, &["display_text", "url"], &pf, errs);
            let display_text = req_str(p, "display_text", &pf, errs);
            let url = req_str(p, "url", &pf, errs);
            Some(InteractiveAction::CtaUrl {
                display_text: display_text?,
                url: url?,
            })
        }
    }
}

fn reply_button(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<ReplyButton> {
    let obj = object(
        v,
        field,
        "{\"type\": \"reply\", \"reply\": {\"id\": \"yes\", \"title\": \"Yes\"}}",
        errs,
    )?;
    only(obj, &["type", "reply"], field, errs);
    match opt_str(obj, "type", field, errs) {
        Ok(None) => {}
        Ok(Some(t)) if t == "reply" => {}
        Ok(Some(_)) => errs.push(path(field, "type"), "must be reply"),
        Err(()) => {}
    }
    let rf = path(field, "reply");
    let reply = match obj.get("reply") {
        None | Some(Value::Null) => {
            errs.push(&rf, "required: {\"id\": \"…\", \"title\": \"…\"}");
            return None;
        }
        Some(r) => object(r, &rf, "{\"id\": \"yes\", \"title\": \"Yes\"}", errs)?,
    };
    only(reply, &["id", "title"], &rf, errs);
    let id = req_str(reply, "id", &rf, errs);
    let title = req_str(reply, "title", &rf, errs);
    Some(ReplyButton {
        id: id?,
        title: title?,
    })
}

fn section(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<ListSection> {
    let obj = object(v, field, "{\"title\": \"…\", \"rows\": […]}", errs)?;
    only(obj, &["title", "rows"], field, errs);
    let title = opt_str(obj, "title", field, errs);
    let items = array(obj, "rows", field, errs)?;
    let mut rows = Vec::new();
    let mut ok = true;
    for (i, r) in items.iter().enumerate() {
        let f = format!("{field}.rows[{i}]");
        let Some(row) = object(r, &f, "{\"id\": \"…\", \"title\": \"…\"}", errs) else {
            ok = false;
            continue;
        };
        only(row, &["id", "title", "description"], &f, errs);
        let id = req_str(row, "id", &f, errs);
        let title = req_str(row, "title", &f, errs);
        let description = opt_str(row, "description", &f, errs);
        match (id, title, description) {
            (Some(id), Some(title), Ok(description)) => rows.push(ListRow {
                id,
                title,
                description,
            }),
            _ => ok = false,
        }
    }
    let title = title.ok()?;
    ok.then_some(ListSection { title, rows })
}

/// A coordinate as a JSON number (or, liberally, a numeric string).
fn coordinate(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<f64> {
    match obj.get(key) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            s.trim().parse().ok()
        }
        None | Some(Value::Null) => {
            errs.push(path(field, key), "required: degrees as a number");
            None
        }
        Some(other) => {
            errs.push(
                path(field, key),
                format!("must be a number of degrees, got {}", type_name(other)),
            );
            None
        }
    }
}

fn location(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<Location> {
    let obj = object(
        v,
        field,
        "{\"latitude\": 37.48, \"longitude\": -122.15}",
        errs,
    )?;
    only(
        obj,
        &["latitude", "longitude", "name", "address"],
        field,
        errs,
    );
    let latitude = coordinate(obj, "latitude", field, errs);
    let longitude = coordinate(obj, "longitude", field, errs);
    let name = opt_str(obj, "name", field, errs);
    let address = opt_str(obj, "address", field, errs);
    Some(Location {
        latitude: latitude?,
        longitude: longitude?,
        name: name.ok()?,
        address: address.ok()?,
    })
}

fn reaction(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<Reaction> {
    let obj = object(
        v,
        field,
        "{\"message_id\": \"wamid.…\", \"emoji\": \"👍\"}",
        errs,
    )?;
    only(obj, &["message_id", "emoji"], field, errs);
    let message_id = req_str(obj, "message_id", field, errs);
    let emoji = req_str(obj, "emoji", field, errs);
    Some(Reaction {
        message_id: message_id?,
        emoji: emoji?,
    })
}
