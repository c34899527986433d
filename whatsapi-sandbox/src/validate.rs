//! Validation of a `POST /{version}/{phone_number_id}/messages` body, with the error codes Meta uses.

use serde_json::{Map, Value};

use crate::error::MetaError;
use crate::{validate_template, validate_types};

/// Longest `text.body` Meta accepts.
pub(crate) const MAX_TEXT_BODY: usize = 4096;
/// Longest `biz_opaque_callback_data` Meta accepts.
pub(crate) const MAX_CALLBACK_DATA: usize = 512;

/// A send that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SendRequest {
    /// `to` exactly as given, else `recipient` (echoed as `contacts[0].input`).
    pub to: String,
    /// Who the send is for: `to` reduced to digits (the recipient's WhatsApp id) when given, else the BSUID of
    /// `recipient`. The key of the magic counters and of the 24-hour window.
    pub wa_id: String,
    /// `to` reduced to digits, when given (Meta delivers by it when both are given).
    pub phone: Option<String>,
    /// `recipient`: the business-scoped user id of a user behind a username, when given.
    pub user_id: Option<String>,
    /// What is sent.
    pub content: Content,
    /// `biz_opaque_callback_data`, echoed in status webhooks.
    pub callback_data: Option<String>,
    /// `context.message_id`: the message this one replies to.
    pub reply_to: Option<String>,
}

/// The message of a valid send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    /// Free-form text.
    Text,
    /// A template, with the number of parameters it carries.
    Template {
        name: String,
        language: String,
        parameters: usize,
    },
    /// An image, video, audio, document or sticker (by link or media id).
    Media { kind: String },
    /// An interactive message of this `interactive.type` (button, list, cta_url).
    Interactive { kind: String },
    /// A location.
    Location,
    /// Contact cards.
    Contacts,
    /// A reaction to an earlier message.
    Reaction,
}

/// The recipient of a body, when it has a usable one (for recording requests that fail validation): the digits of
/// `to`, else the BSUID in `recipient`.
pub(crate) fn recipient(body: &Value) -> Option<String> {
    body.get("to")
        .and_then(Value::as_str)
        .map(|to| to.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|digits| !digits.is_empty())
        .or_else(|| {
            body.get("recipient")
                .and_then(Value::as_str)
                .filter(|r| is_user_id(r))
                .map(str::to_owned)
        })
}

/// Checks a send body in the order Meta does: product, recipient, type, then the type's object.
pub(crate) fn send_request(body: &Value) -> Result<SendRequest, MetaError> {
    let Some(obj) = body.as_object() else {
        return Err(MetaError::invalid_parameter(
            "The request body must be a JSON object.",
        ));
    };
    match obj.get("messaging_product") {
        None | Some(Value::Null) => {
            return Err(MetaError::invalid_parameter(
                "The parameter messaging_product is required.",
            ));
        }
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(other) => {
            return Err(MetaError::invalid_parameter(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
            )));
        }
    }
    if let Some(rt) = obj.get("recipient_type") {
        if rt.as_str() != Some("individual") {
            return Err(MetaError::invalid_parameter(format!(
                "Param recipient_type must be one of {{INDIVIDUAL}} - got {rt}."
            )));
        }
    }
    // A user behind a username is addressed by BSUID in `recipient`; `to` wins when both are given.
    let user_id = match obj.get("recipient") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if is_user_id(r) => Some(r.clone()),
        Some(Value::String(r)) => {
            return Err(MetaError::invalid_parameter(format!(
                "Param recipient must be a business-scoped user id (country code, a period and up to 128 \
                 alphanumeric characters) - got \"{r}\"."
            )));
        }
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param recipient must be a string.",
            ));
        }
    };
    let to = match obj.get("to") {
        None | Some(Value::Null) => None,
        Some(Value::String(to)) => Some(to.clone()),
        Some(_) => {
            return Err(MetaError::invalid_value("Param to must be a string."));
        }
    };
    let phone = match &to {
        Some(to) => Some(phone_digits(to).ok_or_else(|| {
            MetaError::invalid_value(format!(
                "Param to must be a phone number in international format (8 to 15 digits) - got \"{to}\"."
            ))
        })?),
        None => None,
    };
    let (to, wa_id) = match (to, &phone, &user_id) {
        (Some(to), Some(digits), _) => (to, digits.clone()),
        (None, None, Some(user)) => (user.clone(), user.clone()),
        _ => {
            return Err(MetaError::missing_parameter(
                "The parameter to (or recipient, for a business-scoped user id) is required.",
            ));
        }
    };
    let callback_data = match obj.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_CALLBACK_DATA => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(MetaError::invalid_parameter(format!(
                "Param biz_opaque_callback_data must be at most {MAX_CALLBACK_DATA} characters long."
            )));
        }
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param biz_opaque_callback_data must be a string.",
            ));
        }
    };
    // Meta's documented default type is text.
    let kind = match obj.get("type") {
        None | Some(Value::Null) => "text",
        Some(Value::String(k)) => k.as_str(),
        Some(_) => return Err(MetaError::invalid_parameter("Param type must be a string.")),
    };
    let content = match kind {
        "text" => text(obj)?,
        "template" => validate_template::template(obj)?,
        "image" | "audio" | "document" | "video" | "sticker" => validate_types::media(obj, kind)?,
        "interactive" => validate_types::interactive(obj)?,
        "location" => validate_types::location(obj)?,
        "contacts" => validate_types::contacts(obj)?,
        "reaction" => validate_types::reaction(obj)?,
        other => {
            return Err(MetaError::invalid_parameter(format!(
                "Param type must be one of {{AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, \
                 STICKER, TEMPLATE, TEXT, VIDEO}} - got \"{other}\"."
            )));
        }
    };
    let reply_to = validate_types::context(obj)?;
    Ok(SendRequest {
        to,
        wa_id,
        phone,
        user_id,
        content,
        callback_data,
        reply_to,
    })
}

/// A business-scoped user id as Meta issues them: an ISO 3166 alpha-2 code, a period, 1–128 letters and digits.
pub(crate) fn is_user_id(s: &str) -> bool {
    s.split_once('.').is_some_and(|(country, rest)| {
        country.len() == 2
            && country.bytes().all(|b| b.is_ascii_uppercase())
            && (1..=128).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// `+14155552671`, `1 415 555 2671` and `14155552671` all name the same WhatsApp id; letters do not.
fn phone_digits(to: &str) -> Option<String> {
    let rest = to.trim().strip_prefix('+').unwrap_or(to.trim());
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
    {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    (8..=15).contains(&digits.len()).then_some(digits)
}

fn text(obj: &Map<String, Value>) -> Result<Content, MetaError> {
    let text = match obj.get("text") {
        None | Some(Value::Null) => {
            return Err(MetaError::missing_parameter(
                "The parameter text is required.",
            ));
        }
        Some(Value::Object(t)) => t,
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param text must be an object.",
            ));
        }
    };
    let body = match text.get("body") {
        None | Some(Value::Null) => {
            return Err(MetaError::missing_parameter(
                "The parameter text['body'] is required.",
            ));
        }
        Some(Value::String(b)) => b,
        Some(_) => {
            return Err(MetaError::invalid_value(
                "Param text['body'] must be a string.",
            ));
        }
    };
    if body.trim().is_empty() {
        return Err(MetaError::missing_parameter(
            "The parameter text['body'] is required.",
        ));
    }
    if body.chars().count() > MAX_TEXT_BODY {
        return Err(MetaError::invalid_parameter(format!(
            "Param text['body'] must be at most {MAX_TEXT_BODY} characters long."
        )));
    }
    if let Some(p) = text.get("preview_url") {
        if !p.is_boolean() {
            return Err(MetaError::invalid_value(
                "Param text['preview_url'] must be a boolean.",
            ));
        }
    }
    Ok(Content::Text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(body: Value) -> i64 {
        send_request(&body).unwrap_err().code
    }

    #[test]
    fn accepts_text_and_template() {
        let r = send_request(
            &json!({"messaging_product": "whatsapp", "to": "+1 415 555 2671",
            "type": "text", "text": {"body": "Hi"}, "biz_opaque_callback_data": "m1"}),
        )
        .unwrap();
        assert_eq!(r.wa_id, "14155552671");
        assert_eq!(r.to, "+1 415 555 2671");
        assert_eq!(r.content, Content::Text);
        assert_eq!(r.callback_data.as_deref(), Some("m1"));

        let r = send_request(&json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "template",
            "template": {"name": "order_ready", "language": {"code": "en_US"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.test/a.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Sarah"},
                    {"type": "currency", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1000}},
                    {"type": "date_time", "date_time": {"fallback_value": "May 1"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "YES"}]}]}}))
        .unwrap();
        assert_eq!(
            r.content,
            Content::Template {
                name: "order_ready".into(),
                language: "en_US".into(),
                parameters: 5
            }
        );
    }

    #[test]
    fn refuses_like_meta() {
        assert_eq!(
            code(json!({"to": "14155552671", "text": {"body": "x"}})),
            100
        );
        assert_eq!(
            code(json!({"messaging_product": "sms", "to": "14155552671", "text": {"body": "x"}})),
            100
        );
        assert_eq!(
            code(json!({"messaging_product": "whatsapp", "text": {"body": "x"}})),
            131008
        );
        assert_eq!(
            code(json!({"messaging_product": "whatsapp", "to": "call-me", "text": {"body": "x"}})),
            131009
        );
        assert_eq!(
            code(json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "text"})),
            131008
        );
        assert_eq!(
            code(
                json!({"messaging_product": "whatsapp", "to": "14155552671", "text": {"body": "x".repeat(4097)}})
            ),
            100
        );
        assert!(
            send_request(
                &json!({"messaging_product": "whatsapp", "to": "14155552671", "text": {"body": "é".repeat(4096)}})
            )
            .is_ok()
        );
        assert_eq!(
            code(json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "fax"})),
            100
        );
        assert_eq!(
            code(json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "image"})),
            131008
        );
        let tpl = |template: Value| {
            code(
                json!({"messaging_product": "whatsapp", "to": "14155552671", "type": "template", "template": template}),
            )
        };
        assert_eq!(tpl(json!({"language": {"code": "en_US"}})), 131008);
        assert_eq!(tpl(json!({"name": "t"})), 131008);
        assert_eq!(tpl(json!({"name": "t", "language": {}})), 131008);
        assert_eq!(tpl(json!({"name": "t", "language": "en_US"})), 100);
        assert_eq!(
            tpl(
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "footer"}]})
            ),
            131009
        );
        assert_eq!(
            tpl(json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "body"}]})),
            131008
        );
        assert_eq!(
            tpl(
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "body", "parameters": [{"type": "text"}]}]})
            ),
            131008
        );
        assert_eq!(
            tpl(
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "body", "parameters": [{"type": "image", "image": {"link": "https://a"}}]}]})
            ),
            131009
        );
        assert_eq!(
            tpl(
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "header", "parameters": [{"type": "image", "image": {}}]}]})
            ),
            131008
        );
        assert_eq!(
            tpl(
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "button", "sub_type": "quick_reply", "index": "12"}]})
            ),
            131009
        );
        assert_eq!(
            tpl(
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "button", "index": 0}]})
            ),
            131008
        );
        assert_eq!(
            tpl(
                json!({"name": "t", "language": {"code": "en"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "a\nb"}]}]})
            ),
            132018
        );
    }

    fn send(kind: &str, object: Value) -> Value {
        let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "14155552671", "type": kind});
        body[kind] = object;
        body
    }

    #[test]
    fn accepts_every_type_meta_documents() {
        let cases = [
            (
                "image",
                json!({"link": "https://x.test/a.png", "caption": "c"}),
                Content::Media {
                    kind: "image".into(),
                },
            ),
            (
                "video",
                json!({"id": "1013859600285441", "caption": "c"}),
                Content::Media {
                    kind: "video".into(),
                },
            ),
            (
                "audio",
                json!({"id": "1"}),
                Content::Media {
                    kind: "audio".into(),
                },
            ),
            (
                "document",
                json!({"link": "https://x.test/a.pdf", "caption": "c", "filename": "a.pdf"}),
                Content::Media {
                    kind: "document".into(),
                },
            ),
            (
                "sticker",
                json!({"link": "https://x.test/a.webp"}),
                Content::Media {
                    kind: "sticker".into(),
                },
            ),
            (
                "interactive",
                json!({"type": "button", "header": {"type": "image", "image": {"id": "7"}},
                "body": {"text": "Q"}, "footer": {"text": "f"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}),
                Content::Interactive {
                    kind: "button".into(),
                },
            ),
            (
                "interactive",
                json!({"type": "list", "body": {"text": "Q"}, "action": {"button": "Pick",
                "sections": [{"title": "A", "rows": [{"id": "1", "title": "One", "description": "d"}]},
                             {"title": "B", "rows": [{"id": "2", "title": "Two"}]}]}}),
                Content::Interactive {
                    kind: "list".into(),
                },
            ),
            (
                "interactive",
                json!({"type": "cta_url", "body": {"text": "Q"},
                "action": {"name": "cta_url", "parameters": {"display_text": "Go", "url": "https://x.test"}}}),
                Content::Interactive {
                    kind: "cta_url".into(),
                },
            ),
            (
                "location",
                json!({"latitude": 37.48, "longitude": -122.15, "name": "HQ", "address": "1 Way"}),
                Content::Location,
            ),
            (
                "contacts",
                json!([{"name": {"formatted_name": "Sarah Lee"}, "phones": [{"phone": "+1 415", "type": "CELL"}]}]),
                Content::Contacts,
            ),
            (
                "reaction",
                json!({"message_id": "wamid.X", "emoji": "\u{1F44D}"}),
                Content::Reaction,
            ),
            (
                "reaction",
                json!({"message_id": "wamid.X", "emoji": ""}),
                Content::Reaction,
            ),
        ];
        for (kind, object, want) in cases {
            let r = send_request(&send(kind, object.clone()))
                .unwrap_or_else(|e| panic!("{object}: {e:?}"));
            assert_eq!(r.content, want);
        }
        let mut reply = send("image", json!({"id": "1"}));
        reply["context"] = json!({"message_id": "wamid.PREV"});
        assert_eq!(
            send_request(&reply).unwrap().reply_to.as_deref(),
            Some("wamid.PREV")
        );
    }

    #[test]
    fn refuses_the_new_types_like_meta() {
        let long = |n: usize| "x".repeat(n);
        let b =
            |id: &str, title: &str| json!({"type": "reply", "reply": {"id": id, "title": title}});
        let cases = [
            (send("image", json!({})), 131008),
            (
                send("image", json!({"link": "https://x.test/a.png", "id": "1"})),
                100,
            ),
            (send("image", json!({"link": "ftp://x.test/a.png"})), 131009),
            (send("audio", json!({"id": "1", "caption": "c"})), 100),
            (send("image", json!({"id": "1", "filename": "a"})), 100),
            (
                send("image", json!({"id": "1", "caption": long(1025)})),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "button", "body": {"text": "Q"}, "action": {"buttons": []}}),
                ),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "button", "body": {"text": "Q"},
                "action": {"buttons": [b("1", "A"), b("2", "B"), b("3", "C"), b("4", "D")]}}),
                ),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "button", "body": {"text": "Q"},
                "action": {"buttons": [b("1", &long(21))]}}),
                ),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "button", "body": {"text": "Q"},
                "action": {"buttons": [b("1", "A"), b("1", "B")]}}),
                ),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "button", "action": {"buttons": [b("1", "A")]}}),
                ),
                131008,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "list", "body": {"text": "Q"}, "action": {"button": "P",
                "sections": [{"rows": (0..11).map(|i| json!({"id": i.to_string(), "title": "t"})).collect::<Vec<_>>()}]}}),
                ),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "list", "body": {"text": "Q"}, "action": {"button": "P",
                "sections": [{"rows": [{"id": "1", "title": "a"}]}, {"rows": [{"id": "2", "title": "b"}]}]}}),
                ),
                131008,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "list", "header": {"type": "image", "image": {"id": "1"}},
                "body": {"text": "Q"}, "action": {"button": "P", "sections": [{"rows": [{"id": "1", "title": "a"}]}]}}),
                ),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "cta_url", "body": {"text": "Q"},
                "action": {"name": "cta_url", "parameters": {"display_text": "Go", "url": "x.test"}}}),
                ),
                131009,
            ),
            (
                send(
                    "interactive",
                    json!({"type": "flow", "body": {"text": "Q"}, "action": {}}),
                ),
                131051,
            ),
            (send("interactive", json!({"type": "carousel"})), 131009),
            (
                send("location", json!({"latitude": 91, "longitude": 0})),
                131009,
            ),
            (send("location", json!({"longitude": 0})), 131008),
            (send("contacts", json!([])), 131008),
            (send("contacts", json!([{"phones": []}])), 131008),
            (send("reaction", json!({"emoji": "x"})), 131008),
            (send("reaction", json!({"message_id": "wamid.X"})), 131008),
        ];
        for (body, want) in cases {
            assert_eq!(code(body.clone()), want, "{body}");
        }
        let mut reply = send("image", json!({"id": "1"}));
        reply["context"] = json!({});
        assert_eq!(code(reply), 131008);
    }
}
