//! The sandbox's template store: the templates of its WhatsApp Business Account, served at
//! `GET /{version}/{waba_id}/message_templates` with Meta's paging, and the check of a template send against them.
//!
//! | name | language | status | category | takes |
//! | --- | --- | --- | --- | --- |
//! | `hello_world` | `en_US` | APPROVED | UTILITY | nothing |
//! | `order_update` | `en_US` | APPROVED | UTILITY | body `{{1}}` (order number), URL button 0 `{{1}}` (tracking id) |
//! | `order_ready` | `en_US` | APPROVED | UTILITY | body `{{1}}` (name), `{{2}}` (order number): the reference docs' example |
//! | `auth_code` | `en_US` | APPROVED | AUTHENTICATION | body `{{1}}` (the code), OTP button 0 (the code, as sub_type `url`) |
//! | `spring_sale` | `en_US` | PENDING | MARKETING | nothing |
//! | `old_promo` | `en_US` | REJECTED | MARKETING | nothing |
//! | `paused_promo` | `en_US` | PAUSED | MARKETING | nothing |
//! | `disabled_promo` | `en_US` | DISABLED | MARKETING | nothing |
//! | `weekly_deals` | `en_US` | APPROVED | MARKETING | nothing |
//!
//! A send of a template the store knows is checked as Meta does: a language it does not exist in, or a status
//! other than APPROVED, PAUSED or DISABLED, is HTTP 404 with 132001; PAUSED is 132015, DISABLED 132016; another
//! number of header, body or button parameters than the template takes is 132000. A template the store does not
//! know is accepted as before (the sandbox has no console to create templates in, and tests send made-up names);
//! whatsapi itself refuses those at accept time for an account with a WABA id, from this list. The magic numbers'
//! refusals come first, unchanged.

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::error::MetaError;

/// Most templates in one page (`limit`); Meta's default is 25.
pub const MAX_LIMIT: usize = 100;
/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 25;

/// The templates, in Meta's shape.
pub static TEMPLATES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let fixed = |name: &str, id: &str, status: &str, text: &str| {
        json!({"name": name, "language": "en_US", "status": status, "category": "MARKETING", "id": id,
               "parameter_format": "POSITIONAL", "components": [{"type": "BODY", "text": text}]})
    };
    vec![
        json!({"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
               "id": "1192339204654487", "parameter_format": "POSITIONAL", "components": [
                   {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                   {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."},
                   {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}]}),
        json!({"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
               "id": "1192339204654488", "parameter_format": "POSITIONAL", "components": [
                   {"type": "BODY", "text": "Your order {{1}} has shipped.",
                    "example": {"body_text": [["ORD-1042"]]}},
                   {"type": "BUTTONS", "buttons": [
                       {"type": "URL", "text": "Track it", "url": "https://example.com/track/{{1}}",
                        "example": ["https://example.com/track/ORD-1042"]}]}]}),
        json!({"name": "order_ready", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
               "id": "1192339204654494", "parameter_format": "POSITIONAL", "components": [
                   {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is ready!",
                    "example": {"body_text": [["Sarah", "#1042"]]}}]}),
        json!({"name": "auth_code", "language": "en_US", "status": "APPROVED", "category": "AUTHENTICATION",
               "id": "1192339204654489", "parameter_format": "POSITIONAL", "components": [
                   {"type": "BODY", "text": "*{{1}}* is your verification code. For your security, do not share this code.",
                    "add_security_recommendation": true},
                   {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]}),
        fixed(
            "spring_sale",
            "1192339204654490",
            "PENDING",
            "Spring sale: 20% off everything.",
        ),
        fixed("old_promo", "1192339204654491", "REJECTED", "Buy now!!!"),
        fixed(
            "paused_promo",
            "1192339204654492",
            "PAUSED",
            "Our summer collection is here.",
        ),
        fixed(
            "disabled_promo",
            "1192339204654493",
            "DISABLED",
            "Last chance to save.",
        ),
        // The one marketing template that sends, for opt-outs and Meta's marketing limits (131049, 131050).
        fixed(
            "weekly_deals",
            "1192339204654494",
            "APPROVED",
            "This week's deals are in.",
        ),
    ]
});

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// One page of `GET /{waba_id}/message_templates`: `limit` templates after the cursor `after`, with
/// `paging.cursors` and, when more follow, `paging.next` (an absolute URL under `base`).
pub(crate) fn page(
    limit: Option<&str>,
    after: Option<&str>,
    base_url: &str,
    max_page: usize,
) -> Result<Value, MetaError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                MetaError::invalid_parameter(format!(
                    "Param limit must be a number between 1 and {MAX_LIMIT}."
                ))
            })?,
    };
    let start = match after {
        None => 0,
        Some(c) => cursor_index(c)
            .filter(|i| *i <= TEMPLATES.len())
            .ok_or_else(|| MetaError::invalid_parameter("Invalid cursor for param after."))?,
    };
    let end = (start + limit.min(max_page.max(1))).min(TEMPLATES.len());
    let data: Vec<Value> = TEMPLATES[start..end].to_vec();
    let mut paging = json!({"cursors": {"before": cursor(start), "after": cursor(end)}});
    if end < TEMPLATES.len() {
        paging["next"] = json!(format!("{base_url}?limit={limit}&after={}", cursor(end)));
    }
    Ok(json!({"data": data, "paging": paging}))
}

/// An opaque-looking cursor for a position (Meta's are base64 strings).
fn cursor(index: usize) -> String {
    format!("QVFI{index:08x}")
}

fn cursor_index(c: &str) -> Option<usize> {
    let hex = c.strip_prefix("QVFI").filter(|h| h.len() == 8)?;
    usize::from_str_radix(hex, 16).ok()
}

/// Meta's pricing category (lower case) of a template the store holds.
pub(crate) fn category_of(name: &str) -> Option<&'static str> {
    let t = TEMPLATES.iter().find(|t| str_of(t, "name") == name)?;
    match str_of(t, "category") {
        "MARKETING" => Some("marketing"),
        "UTILITY" => Some("utility"),
        "AUTHENTICATION" => Some("authentication"),
        _ => None,
    }
}

/// Whether the store holds this template as an AUTHENTICATION one.
pub(crate) fn is_authentication(name: &str) -> bool {
    TEMPLATES
        .iter()
        .any(|t| str_of(t, "name") == name && str_of(t, "category") == "AUTHENTICATION")
}

/// Meta's refusal of a template send (`template` already validated for shape) against the store; `None` for a
/// template it does not know, and for one that matches.
pub(crate) fn check(template: &Value) -> Option<MetaError> {
    let name = str_of(template, "name");
    let language = str_of(&template["language"], "code");
    let named: Vec<&Value> = TEMPLATES
        .iter()
        .filter(|t| str_of(t, "name") == name)
        .collect();
    if named.is_empty() {
        return None;
    }
    let Some(def) = named.iter().find(|t| str_of(t, "language") == language) else {
        return Some(MetaError::template_missing(name, language));
    };
    match str_of(def, "status") {
        "APPROVED" => {}
        "PAUSED" => return Some(MetaError::template_paused(name)),
        "DISABLED" => return Some(MetaError::template_disabled(name)),
        _ => return Some(MetaError::template_missing(name, language)),
    }
    let components = def["components"].as_array().cloned().unwrap_or_default();
    let text_of = |kind: &str| {
        components
            .iter()
            .find(|c| str_of(c, "type") == kind)
            .map(|c| str_of(c, "text").matches("{{").count())
    };
    let expected_header = components
        .iter()
        .find(|c| str_of(c, "type") == "HEADER")
        .map_or(0, |h| match str_of(h, "format") {
            "TEXT" | "" => str_of(h, "text").matches("{{").count(),
            _ => 1,
        });
    let expected_body = text_of("BODY").unwrap_or(0);
    let buttons: Vec<&Value> = components
        .iter()
        .filter(|c| str_of(c, "type") == "BUTTONS")
        .flat_map(|c| c["buttons"].as_array().into_iter().flatten())
        .collect();
    let given = template["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let count = |kind: &str| -> usize {
        given
            .iter()
            .filter(|c| str_of(c, "type") == kind)
            .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
            .sum()
    };
    let mismatch = |what: &str, got: usize, want: usize| {
        MetaError::parameter_count_mismatch(format!(
            "{what}: number of localizable_params ({got}) does not match the expected number of params ({want})"
        ))
    };
    if count("header") != expected_header {
        return Some(mismatch("header", count("header"), expected_header));
    }
    if count("body") != expected_body {
        return Some(mismatch("body", count("body"), expected_body));
    }
    for (i, b) in buttons.iter().enumerate() {
        let takes = match str_of(b, "type") {
            "URL" => usize::from(str_of(b, "url").contains("{{")),
            "OTP" | "COPY_CODE" => 1,
            _ => 0,
        };
        let got: usize = given
            .iter()
            .filter(|c| str_of(c, "type") == "button" && button_index(c) == Some(i))
            .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
            .sum();
        let optional = matches!(str_of(b, "type"), "QUICK_REPLY" | "FLOW") && got <= 1;
        if got != takes && !optional {
            return Some(mismatch(&format!("button {i}"), got, takes));
        }
    }
    if let Some(c) = given.iter().find(|c| {
        str_of(c, "type") == "button" && button_index(c).is_none_or(|i| i >= buttons.len())
    }) {
        return Some(MetaError::parameter_count_mismatch(format!(
            "button at index {} does not exist in template {name}",
            c["index"]
        )));
    }
    None
}

fn button_index(c: &Value) -> Option<usize> {
    match &c["index"] {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(t: Value) -> Option<i64> {
        check(&t).map(|e| e.code)
    }

    #[test]
    fn pages_follow_cursors_to_the_end() {
        let mut names = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..10 {
            let p = page(
                Some("3"),
                after.as_deref(),
                "http://x/v25.0/1/message_templates",
                100,
            )
            .unwrap();
            names.extend(
                p["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["name"].clone()),
            );
            match p["paging"]["next"].as_str() {
                Some(next) => {
                    assert!(next.contains("limit=3&after="), "{next}");
                    after = p["paging"]["cursors"]["after"].as_str().map(str::to_owned);
                }
                None => break,
            }
        }
        assert_eq!(names.len(), TEMPLATES.len());
        assert_eq!(names[0], "hello_world");
        assert_eq!(page(Some("0"), None, "", 100).unwrap_err().code, 100);
        assert_eq!(page(Some("101"), None, "", 100).unwrap_err().code, 100);
        assert_eq!(page(None, Some("nope"), "", 100).unwrap_err().code, 100);
        assert_eq!(
            page(None, None, "", 100).unwrap()["data"]
                .as_array()
                .unwrap()
                .len(),
            TEMPLATES.len()
        );
        assert_eq!(
            page(None, None, "", 2).unwrap()["data"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn sends_are_checked_against_the_store() {
        let lang = json!({"code": "en_US"});
        assert_eq!(code(json!({"name": "hello_world", "language": lang})), None);
        assert_eq!(code(json!({"name": "made_up", "language": lang})), None);
        assert_eq!(
            code(json!({"name": "hello_world", "language": {"code": "de"}})),
            Some(132001)
        );
        assert_eq!(
            code(json!({"name": "spring_sale", "language": lang})),
            Some(132001)
        );
        assert_eq!(
            code(json!({"name": "old_promo", "language": lang})),
            Some(132001)
        );
        assert_eq!(
            code(json!({"name": "paused_promo", "language": lang})),
            Some(132015)
        );
        assert_eq!(
            code(json!({"name": "disabled_promo", "language": lang})),
            Some(132016)
        );
        // The reference docs' example: two body parameters, no more, no fewer.
        let docs = json!({"type": "body", "parameters": [{"type": "text", "text": "Sarah"}, {"type": "text", "text": "#1042"}]});
        assert_eq!(
            code(json!({"name": "order_ready", "language": lang, "components": [docs]})),
            None
        );
        assert_eq!(
            code(json!({"name": "order_ready", "language": lang})),
            Some(132000)
        );
        let body = json!({"type": "body", "parameters": [{"type": "text", "text": "ORD-1"}]});
        let url = json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "ORD-1"}]});
        assert_eq!(
            code(json!({"name": "order_update", "language": lang, "components": [body, url]})),
            None
        );
        assert_eq!(
            code(json!({"name": "order_update", "language": lang, "components": [body]})),
            Some(132000)
        );
        assert_eq!(
            code(json!({"name": "order_update", "language": lang, "components": [url]})),
            Some(132000)
        );
        let extra = json!({"type": "button", "sub_type": "quick_reply", "index": "3", "parameters": [{"type": "payload", "payload": "x"}]});
        assert_eq!(
            code(
                json!({"name": "order_update", "language": lang, "components": [body, url, extra]})
            ),
            Some(132000)
        );
        assert_eq!(
            code(json!({"name": "auth_code", "language": lang, "components": [body, url]})),
            None
        );
        assert!(is_authentication("auth_code") && !is_authentication("order_update"));
    }
}
