//! The content fields of a send beside `message` and `template`: each named like Meta's message type (`image`,
//! `interactive`, `location`, …) and holding Meta's object for that type. Shapes are checked here (every failing
//! field under its JSON path); the values are then judged by core's [`check_content`], whose paths are the same.

use serde_json::{Map, Value};
use whatsapi_core::message::{
    Contact, ContactAddress, ContactEmail, ContactName, ContactOrg, ContactPhone, ContactUrl,
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
    "contacts",
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
        "contacts" => contacts(v, field, errs).map(MessageContent::Contacts),
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

pub(crate) fn location(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<Location> {
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

const CONTACT_EXAMPLE: &str = "{\"name\": {\"formatted_name\": \"Ada Lovelace\"}, \"phones\": [{\"phone\": \"+14155552671\", \"type\": \"CELL\"}]}";

/// The `contacts` field: an array of Meta's contact objects.
fn contacts(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<Vec<Contact>> {
    let Some(cards) = v.as_array() else {
        errs.push(
            field,
            format!(
                "must be an array of contacts such as [{CONTACT_EXAMPLE}], got {}",
                type_name(v)
            ),
        );
        return None;
    };
    let before = errs.len();
    let out: Vec<Option<Contact>> = cards
        .iter()
        .enumerate()
        .map(|(n, c)| contact(c, &format!("{field}[{n}]"), errs))
        .collect();
    if errs.len() > before {
        return None;
    }
    out.into_iter().collect()
}

/// The optional strings `keys` of an object; `None` when one is of another JSON type.
fn strs<const N: usize>(
    obj: &Map<String, Value>,
    keys: [&str; N],
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<[Option<String>; N]> {
    only(obj, &keys, field, errs);
    let mut bad = false;
    let vals = keys.map(|k| {
        opt_str(obj, k, field, errs).unwrap_or_else(|()| {
            bad = true;
            None
        })
    });
    (!bad).then_some(vals)
}

/// An optional array of objects of optional strings, each parsed by `make`.
fn entries<T, const N: usize>(
    obj: &Map<String, Value>,
    key: &str,
    keys: [&str; N],
    field: &str,
    errs: &mut ValidationErrors,
    make: impl Fn([Option<String>; N]) -> T,
) -> Option<Vec<T>> {
    match obj.get(key) {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(_)) => {}
        Some(other) => {
            errs.push(
                path(field, key),
                format!("must be an array, got {}", type_name(other)),
            );
            return None;
        }
    }
    let items = array(obj, key, field, errs)?;
    let mut out = Vec::with_capacity(items.len());
    let mut bad = false;
    for (i, item) in items.iter().enumerate() {
        let f = format!("{}[{i}]", path(field, key));
        match object(item, &f, "{\"type\": \"WORK\", …}", errs)
            .and_then(|o| strs(o, keys, &f, errs))
        {
            Some(vals) => out.push(make(vals)),
            None => bad = true,
        }
    }
    (!bad).then_some(out)
}

fn contact(v: &Value, field: &str, errs: &mut ValidationErrors) -> Option<Contact> {
    let obj = object(v, field, CONTACT_EXAMPLE, errs)?;
    only(
        obj,
        &[
            "name",
            "phones",
            "emails",
            "urls",
            "addresses",
            "org",
            "birthday",
        ],
        field,
        errs,
    );
    let name_field = path(field, "name");
    let name = match obj.get("name") {
        None | Some(Value::Null) => {
            errs.push(
                name_field.clone(),
                "required: an object with formatted_name",
            );
            None
        }
        Some(n) => object(
            n,
            &name_field,
            "{\"formatted_name\": \"Ada Lovelace\"}",
            errs,
        )
        .and_then(|n| {
            let [formatted, first, last, middle, suffix, prefix] = strs(
                n,
                [
                    "formatted_name",
                    "first_name",
                    "last_name",
                    "middle_name",
                    "suffix",
                    "prefix",
                ],
                &name_field,
                errs,
            )?;
            let Some(formatted) = formatted else {
                errs.push(path(&name_field, "formatted_name"), "required");
                return None;
            };
            Some(ContactName {
                formatted_name: formatted,
                first_name: first,
                last_name: last,
                middle_name: middle,
                suffix,
                prefix,
            })
        }),
    };
    let phones = entries(
        obj,
        "phones",
        ["phone", "type", "wa_id"],
        field,
        errs,
        |[phone, kind, wa_id]| ContactPhone { phone, kind, wa_id },
    );
    let emails = entries(
        obj,
        "emails",
        ["email", "type"],
        field,
        errs,
        |[email, kind]| ContactEmail { email, kind },
    );
    let urls = entries(obj, "urls", ["url", "type"], field, errs, |[url, kind]| {
        ContactUrl { url, kind }
    });
    let addresses = entries(
        obj,
        "addresses",
        [
            "street",
            "city",
            "state",
            "zip",
            "country",
            "country_code",
            "type",
        ],
        field,
        errs,
        |[street, city, state, zip, country, country_code, kind]| ContactAddress {
            street,
            city,
            state,
            zip,
            country,
            country_code,
            kind,
        },
    );
    let org_field = path(field, "org");
    let org = match obj.get("org") {
        None | Some(Value::Null) => Some(None),
        Some(o) => object(o, &org_field, "{\"company\": \"Acme\"}", errs)
            .and_then(|o| strs(o, ["company", "department", "title"], &org_field, errs))
            .map(|[company, department, title]| {
                Some(ContactOrg {
                    company,
                    department,
                    title,
                })
            }),
    };
    let birthday = opt_str(obj, "birthday", field, errs);
    Some(Contact {
        name: name?,
        phones: phones?,
        emails: emails?,
        urls: urls?,
        addresses: addresses?,
        org: org?,
        birthday: birthday.ok()?,
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
