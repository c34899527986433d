//! Validation of a send's `template` object as Meta does it: 131008 for a missing parameter, 131009 for a value
//! that is not valid, 132000 when a component carries another number of parameters than its kind takes, 132018
//! for body text Meta refuses (new lines, tabs, runs of spaces).

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::error::MetaError;
use crate::validate::Content;

/// Longest text parameter of a header.
const MAX_HEADER_TEXT: usize = 60;
/// Longest coupon code of a copy-code button.
const MAX_COUPON_CODE: usize = 15;

pub(crate) fn template(obj: &Map<String, Value>) -> Result<Content, MetaError> {
    let t = match obj.get("template") {
        None | Some(Value::Null) => {
            return Err(MetaError::missing_parameter(
                "The parameter template is required.",
            ));
        }
        Some(Value::Object(t)) => t,
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param template must be an object.",
            ));
        }
    };
    let name = required_str(t, "template['name']", "name")?;
    let language = match t.get("language") {
        None | Some(Value::Null) => {
            return Err(MetaError::missing_parameter(
                "The parameter template['language'] is required.",
            ));
        }
        Some(Value::Object(l)) => required_str(l, "template['language']['code']", "code")?,
        // The mistake the notes warn about: Meta wants {"code": "en_US"}, not "en_US".
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param template['language'] must be an object like {\"code\": \"en_US\"}.",
            ));
        }
    };
    let parameters = match t.get("components") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(components)) => {
            let mut total = 0;
            let mut indexes = Vec::new();
            for (i, c) in components.iter().enumerate() {
                total += component(i, c, &mut indexes)?;
            }
            total
        }
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param template['components'] must be an array.",
            ));
        }
    };
    Ok(Content::Template {
        name,
        language,
        parameters,
    })
}

/// A non-empty string field; missing or empty is 131008, another JSON type 131009.
fn required_str(obj: &Map<String, Value>, path: &str, key: &str) -> Result<String, MetaError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(MetaError::missing_parameter(
            format!("The parameter {path} is required."),
        )),
        Some(_) => Err(MetaError::invalid_value(format!(
            "Param {path} must be a string."
        ))),
    }
}

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
        Some(_) => Err(MetaError::invalid_value(format!(
            "Param {path} must be an object."
        ))),
    }
}

/// The kind of a component, with what it takes.
enum Kind {
    Header,
    Body,
    /// A button of this `sub_type`, taking exactly one parameter of this type.
    Button {
        sub_type: String,
        takes: &'static str,
    },
}

/// Checks one component (`indexes`: the button positions seen so far); answers how many parameters it carries.
fn component(i: usize, c: &Value, indexes: &mut Vec<u8>) -> Result<usize, MetaError> {
    let path = format!("template['components'][{i}]");
    let Some(c) = c.as_object() else {
        return Err(MetaError::invalid_value(format!(
            "Param {path} must be an object."
        )));
    };
    let kind = match required_str(c, &format!("{path}['type']"), "type")?.as_str() {
        "header" => Kind::Header,
        "body" => Kind::Body,
        "button" => {
            let sub_type = required_str(c, &format!("{path}['sub_type']"), "sub_type")?;
            let takes = match sub_type.as_str() {
                "quick_reply" => "payload",
                "url" => "text",
                "copy_code" => "coupon_code",
                "flow" => "action",
                _ => {
                    return Err(MetaError::invalid_value(format!(
                        "Param {path}['sub_type'] must be one of {{QUICK_REPLY, URL, COPY_CODE, FLOW}} - got \"{sub_type}\"."
                    )));
                }
            };
            let index = match c.get("index") {
                None | Some(Value::Null) => {
                    return Err(MetaError::missing_parameter(format!(
                        "The parameter {path}['index'] is required."
                    )));
                }
                Some(Value::String(s)) => s.parse::<u8>().ok().filter(|n| *n < 10),
                Some(Value::Number(n)) => n.as_u64().filter(|n| *n < 10).map(|n| n as u8),
                Some(_) => None,
            };
            let Some(index) = index else {
                return Err(MetaError::invalid_value(format!(
                    "Param {path}['index'] must be a number from 0 to 9."
                )));
            };
            if indexes.contains(&index) {
                return Err(MetaError::invalid_value(format!(
                    "Param {path}['index'] {index} is given for another button too; each button is given once."
                )));
            }
            indexes.push(index);
            Kind::Button { sub_type, takes }
        }
        other => {
            return Err(MetaError::invalid_value(format!(
                "Param {path}['type'] must be one of {{HEADER, BODY, BUTTON}} - got \"{other}\"."
            )));
        }
    };
    let params = match c.get("parameters") {
        None | Some(Value::Null) => {
            return Err(MetaError::missing_parameter(format!(
                "The parameter {path}['parameters'] is required."
            )));
        }
        Some(Value::Array(p)) => p,
        Some(_) => {
            return Err(MetaError::invalid_parameter(format!(
                "Param {path}['parameters'] must be an array."
            )));
        }
    };
    match &kind {
        Kind::Header if params.len() > 1 => {
            return Err(MetaError::parameter_count_mismatch(format!(
                "header: number of parameters ({}) does not match the expected number of params (1)",
                params.len()
            )));
        }
        Kind::Button { sub_type, takes } if params.len() != 1 => {
            return Err(MetaError::parameter_count_mismatch(format!(
                "buttons: a {sub_type} button takes one {takes} parameter, got {}",
                params.len()
            )));
        }
        _ => {}
    }
    let allowed: &[&str] = match &kind {
        Kind::Header => &["text", "image", "document", "video", "location"],
        Kind::Body => &["text", "currency", "date_time"],
        Kind::Button { takes, .. } => std::slice::from_ref(takes),
    };
    let mut named = (0, 0);
    for (j, p) in params.iter().enumerate() {
        let p_path = format!("{path}['parameters'][{j}]");
        if let Some(is_named) = parameter(&p_path, &kind, allowed, p)? {
            if is_named {
                named.0 += 1;
            } else {
                named.1 += 1;
            }
        }
    }
    if named.0 > 0 && named.1 > 0 {
        return Err(MetaError::invalid_value(format!(
            "Param {path}['parameters'] mixes named and positional text parameters; give parameter_name for all of them or none."
        )));
    }
    Ok(params.len())
}

/// Checks one parameter; for text parameters, answers whether it is named.
fn parameter(
    path: &str,
    component: &Kind,
    allowed: &[&str],
    p: &Value,
) -> Result<Option<bool>, MetaError> {
    let Some(p) = p.as_object() else {
        return Err(MetaError::invalid_value(format!(
            "Param {path} must be an object."
        )));
    };
    let kind = required_str(p, &format!("{path}['type']"), "type")?;
    let component_name = match component {
        Kind::Header => "header",
        Kind::Body => "body",
        Kind::Button { .. } => "button",
    };
    if !allowed.contains(&kind.as_str()) {
        return Err(MetaError::invalid_value(format!(
            "Param {path}['type'] \"{kind}\" is not valid in this {component_name} component (allowed: {}).",
            allowed.join(", ")
        )));
    }
    match kind.as_str() {
        "text" => {
            let text = required_str(p, &format!("{path}['text']"), "text")?;
            let named = match p.get("parameter_name") {
                None | Some(Value::Null) => false,
                Some(Value::String(n))
                    if !n.is_empty()
                        && n.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
                {
                    true
                }
                Some(_) => {
                    return Err(MetaError::invalid_value(format!(
                        "Param {path}['parameter_name'] must be a name of lowercase letters, digits and underscores."
                    )));
                }
            };
            match component {
                Kind::Header if text.chars().count() > MAX_HEADER_TEXT => {
                    return Err(MetaError::invalid_value(format!(
                        "Param {path}['text'] must be at most {MAX_HEADER_TEXT} characters long."
                    )));
                }
                Kind::Body if text.contains(['\n', '\t']) || text.contains("     ") => {
                    return Err(MetaError {
                        status: StatusCode::BAD_REQUEST,
                        code: 132018,
                        subcode: None,
                        message:
                            "(#132018) There was an issue with the parameters in your template."
                                .to_owned(),
                        details: Some(format!(
                            "Param {path}['text'] cannot have new-line/tab characters or more than 4 consecutive spaces."
                        )),
                    });
                }
                _ => {}
            }
            return Ok(Some(named));
        }
        "image" | "document" | "video" => {
            let media_path = format!("{path}['{kind}']");
            let media = object(p, &kind, &media_path)?;
            match (media.get("link"), media.get("id")) {
                (Some(_), Some(_)) => {
                    return Err(MetaError::invalid_value(format!(
                        "Param {media_path} takes link or id, not both."
                    )));
                }
                (Some(Value::String(link)), None) => {
                    if !(link.starts_with("https://") || link.starts_with("http://")) {
                        return Err(MetaError::invalid_value(format!(
                            "Param {media_path}['link'] must be an http(s) URL."
                        )));
                    }
                }
                (None, Some(Value::String(id))) if !id.trim().is_empty() => {}
                _ => {
                    return Err(MetaError::missing_parameter(format!(
                        "The parameter {media_path}['link'] or {media_path}['id'] is required."
                    )));
                }
            }
        }
        "location" => {
            let l_path = format!("{path}['location']");
            let l = object(p, "location", &l_path)?;
            for (key, max) in [("latitude", 90.0), ("longitude", 180.0)] {
                match l.get(key) {
                    None | Some(Value::Null) => {
                        return Err(MetaError::missing_parameter(format!(
                            "The parameter {l_path}['{key}'] is required."
                        )));
                    }
                    Some(v) => {
                        // Meta's own examples sometimes quote the numbers.
                        let n = match v {
                            Value::Number(n) => n.as_f64(),
                            Value::String(s) => s.trim().parse::<f64>().ok(),
                            _ => None,
                        };
                        if !n.is_some_and(|n| n.is_finite() && (-max..=max).contains(&n)) {
                            return Err(MetaError::invalid_value(format!(
                                "Param {l_path}['{key}'] must be a number from -{max} to {max}."
                            )));
                        }
                    }
                }
            }
        }
        "currency" => {
            let c_path = format!("{path}['currency']");
            let c = object(p, "currency", &c_path)?;
            required_str(c, &format!("{c_path}['fallback_value']"), "fallback_value")?;
            let code = required_str(c, &format!("{c_path}['code']"), "code")?;
            if !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())) {
                return Err(MetaError::invalid_value(format!(
                    "Param {c_path}['code'] must be an ISO 4217 currency code - got \"{code}\"."
                )));
            }
            match c.get("amount_1000") {
                None | Some(Value::Null) => {
                    return Err(MetaError::missing_parameter(format!(
                        "The parameter {c_path}['amount_1000'] is required."
                    )));
                }
                Some(v) if v.is_i64() => {}
                Some(_) => {
                    return Err(MetaError::invalid_value(format!(
                        "Param {c_path}['amount_1000'] must be an integer."
                    )));
                }
            }
        }
        "date_time" => {
            let d_path = format!("{path}['date_time']");
            let d = object(p, "date_time", &d_path)?;
            required_str(d, &format!("{d_path}['fallback_value']"), "fallback_value")?;
        }
        "payload" => {
            required_str(p, &format!("{path}['payload']"), "payload")?;
        }
        "coupon_code" => {
            let code = required_str(p, &format!("{path}['coupon_code']"), "coupon_code")?;
            if code.chars().count() > MAX_COUPON_CODE {
                return Err(MetaError::invalid_value(format!(
                    "Param {path}['coupon_code'] must be at most {MAX_COUPON_CODE} characters long."
                )));
            }
        }
        "action" => {
            let a_path = format!("{path}['action']");
            let a = object(p, "action", &a_path)?;
            if !a.get("flow_token").is_none_or(|t| t.is_string()) {
                return Err(MetaError::invalid_value(format!(
                    "Param {a_path}['flow_token'] must be a string."
                )));
            }
            if !a.get("flow_action_data").is_none_or(Value::is_object) {
                return Err(MetaError::invalid_value(format!(
                    "Param {a_path}['flow_action_data'] must be an object."
                )));
            }
        }
        _ => {}
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(components: Value) -> Result<usize, MetaError> {
        let obj = json!({"template": {"name": "t", "language": {"code": "en"}, "components": components}});
        template(obj.as_object().unwrap()).map(|c| match c {
            Content::Template { parameters, .. } => parameters,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn accepts_every_parameter_type_meta_documents() {
        let n = check(json!([
            {"type": "header", "parameters": [{"type": "image", "image": {"id": "1013859600285441"}}]},
            {"type": "body", "parameters": [
                {"type": "text", "text": "Ana"},
                {"type": "currency", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1000}},
                {"type": "date_time", "date_time": {"fallback_value": "May 1"}}
            ]},
            {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "Y"}]},
            {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "x/1"}]},
            {"type": "button", "sub_type": "copy_code", "index": 2, "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]},
            {"type": "button", "sub_type": "flow", "index": "3", "parameters": [{"type": "action", "action": {"flow_token": "t", "flow_action_data": {"a": 1}}}]}
        ]))
        .unwrap();
        assert_eq!(n, 8);
        for header in [
            json!({"type": "location", "location": {"latitude": "37.4", "longitude": -122.1, "name": "HQ"}}),
            json!({"type": "document", "document": {"link": "https://x.test/a.pdf", "filename": "a.pdf"}}),
            json!({"type": "video", "video": {"link": "http://x.test/a.mp4"}}),
            json!({"type": "text", "text": "h".repeat(60)}),
        ] {
            assert_eq!(
                check(json!([{"type": "header", "parameters": [header]}])).unwrap(),
                1
            );
        }
        assert_eq!(
            check(json!([{"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "order", "text": "42"}
            ]}]))
            .unwrap(),
            2
        );
    }

    #[test]
    fn refuses_with_metas_codes() {
        let button = |sub_type: &str, parameters: Value| json!([{"type": "button", "sub_type": sub_type, "index": 0, "parameters": parameters}]);
        let header = |p: Value| json!([{"type": "header", "parameters": [p]}]);
        let cases = [
            (
                json!([{"type": "header", "parameters": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]),
                132000,
            ),
            (
                header(json!({"type": "text", "text": "h".repeat(61)})),
                131009,
            ),
            (header(json!({"type": "image", "image": {}})), 131008),
            (
                header(
                    json!({"type": "image", "image": {"id": "1", "link": "https://x.test/a.png"}}),
                ),
                131009,
            ),
            (
                header(json!({"type": "image", "image": {"link": "ftp://x.test/a.png"}})),
                131009,
            ),
            (
                header(json!({"type": "location", "location": {"latitude": 91, "longitude": 0}})),
                131009,
            ),
            (
                header(json!({"type": "location", "location": {"longitude": 0}})),
                131008,
            ),
            (header(json!({"type": "payload", "payload": "x"})), 131009),
            (
                json!([{"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "usd", "amount_1000": 1}}]}]),
                131009,
            ),
            (
                json!([{"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1.5}}]}]),
                131009,
            ),
            (
                json!([{"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "USD"}}]}]),
                131008,
            ),
            (
                json!([{"type": "body", "parameters": [{"type": "date_time", "date_time": {}}]}]),
                131008,
            ),
            (
                json!([{"type": "body", "parameters": [
                    {"type": "text", "parameter_name": "a", "text": "x"}, {"type": "text", "text": "y"}
                ]}]),
                131009,
            ),
            (
                json!([{"type": "body", "parameters": [{"type": "text", "text": "a\tb"}]}]),
                132018,
            ),
            (button("quick_reply", json!([])), 132000),
            (
                button(
                    "quick_reply",
                    json!([{"type": "payload", "payload": "a"}, {"type": "payload", "payload": "b"}]),
                ),
                132000,
            ),
            (
                button("quick_reply", json!([{"type": "text", "text": "a"}])),
                131009,
            ),
            (
                button("url", json!([{"type": "payload", "payload": "a"}])),
                131009,
            ),
            (
                button(
                    "copy_code",
                    json!([{"type": "coupon_code", "coupon_code": "A".repeat(16)}]),
                ),
                131009,
            ),
            (
                button(
                    "flow",
                    json!([{"type": "action", "action": {"flow_token": 1}}]),
                ),
                131009,
            ),
            (button("flow", json!([{"type": "action"}])), 131008),
            (
                json!([{"type": "button", "sub_type": "flow", "index": 0}]),
                131008,
            ),
            (
                json!([
                    {"type": "button", "sub_type": "quick_reply", "index": 1, "parameters": [{"type": "payload", "payload": "a"}]},
                    {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "b"}]}
                ]),
                131009,
            ),
        ];
        for (components, want) in cases {
            let e = check(components.clone()).unwrap_err();
            assert_eq!(e.code, want, "{components}: {e:?}");
            assert!(
                e.details.is_some_and(|d| !d.is_empty()),
                "{components}: details"
            );
        }
    }
}
