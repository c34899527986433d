//! WhatsApp message templates as Meta lists them (`GET /{waba-id}/message_templates`), and the accept-time check
//! of a template send against them: a send naming a template that is unknown, not approved, or whose parameters
//! do not match the template's placeholders and buttons is refused with the field and the mismatch, instead of
//! failing later with Meta's 132000/132001/132012.
//!
//! Meta's answer is read liberally: an item without a `name` or `language` is skipped, every other field is
//! optional, strings are clipped and the numbers of components and buttons are bounded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::webhook::{EventType, format_time};

use crate::message::{ButtonSubType, Template, TemplateComponent, TemplateParameter};
use crate::send::parameter_type;

/// Most components read of one template (Meta has at most header, body, footer and buttons).
pub const MAX_COMPONENTS: usize = 10;
/// Most buttons read of one template (Meta allows 10).
pub const MAX_BUTTONS: usize = 10;
/// Longest text (body, header, URL) kept of a component.
pub const MAX_TEXT: usize = 4096;
/// Longest name, language, status, category or id kept.
pub const MAX_WORD: usize = 512;
/// Most placeholders read of one text.
pub const MAX_PLACEHOLDERS: usize = 100;

/// One template of a WhatsApp Business Account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTemplate {
    /// Meta's template id.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Language code (`en_US`).
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, … (`UNKNOWN` when Meta gave none).
    pub status: String,
    /// `UTILITY`, `MARKETING` or `AUTHENTICATION`.
    pub category: Option<String>,
    /// `POSITIONAL` (`{{1}}`) or `NAMED` (`{{first_name}}`), when given.
    pub parameter_format: Option<String>,
    /// Header, body, footer and buttons.
    pub components: Vec<TemplateComponentDef>,
}

/// One component of a template as defined at Meta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateComponentDef {
    /// `HEADER`, `BODY`, `FOOTER` or `BUTTONS` (upper case).
    pub kind: String,
    /// A header's format: `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT` or `LOCATION`.
    pub format: Option<String>,
    /// The text, with its placeholders.
    pub text: Option<String>,
    /// The buttons of a `BUTTONS` component.
    pub buttons: Vec<TemplateButtonDef>,
}

/// One button of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateButtonDef {
    /// `QUICK_REPLY`, `URL`, `PHONE_NUMBER`, `COPY_CODE`, `OTP`, `FLOW`, … (upper case).
    pub kind: String,
    /// The label.
    pub text: Option<String>,
    /// A URL button's URL, with a `{{1}}` when its end is given per send.
    pub url: Option<String>,
    /// A phone number button's number.
    pub phone_number: Option<String>,
    /// An OTP button's kind (`COPY_CODE`, `ONE_TAP`, `ZERO_TAP`).
    pub otp_type: Option<String>,
}

/// What a Meta webhook says changed about one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateChange {
    /// Meta's `field` (`message_template_status_update`, `message_template_quality_update`,
    /// `template_category_update`).
    pub field: String,
    /// The template's name.
    pub name: Option<String>,
    /// The template's language.
    pub language: Option<String>,
    /// A status update's new status (`event`: `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, …).
    pub status: Option<String>,
    /// A category update's new category.
    pub category: Option<String>,
    /// Meta's template id (`message_template_id`).
    pub template_id: Option<String>,
    /// A status update's reason (`reason`; Meta's `NONE` is left out), or an `other_info` title.
    pub reason: Option<String>,
    /// A category update's previous category.
    pub previous_category: Option<String>,
    /// The category Meta says is correct, for a category change announced before it happens.
    pub correct_category: Option<String>,
    /// A quality update's previous rating (`previous_quality_score`).
    pub previous_quality: Option<String>,
    /// A quality update's new rating (`new_quality_score`: `GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    pub quality: Option<String>,
    /// When Meta says it happened (the entry's `time`), if it said.
    pub at: Option<DateTime<Utc>>,
}

impl TemplateChange {
    /// The customer-webhook event announcing the change: its type, its `data` (timestamps at `at`, or `now` when
    /// Meta gave none) and its ordering key (the template: its id, else its name and language). `None` for a
    /// field that is not a template change.
    pub fn event(&self, now: DateTime<Utc>) -> Option<(EventType, Value, String)> {
        let at = format_time(&self.at.unwrap_or(now));
        let common = json!({
            "templateId": self.template_id,
            "name": self.name,
            "language": self.language,
        });
        let mut data = match common {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let kind = match self.field.as_str() {
            "message_template_status_update" => {
                data.insert("status".into(), json!(self.status));
                data.insert("reason".into(), json!(self.reason));
                EventType::TemplateStatusUpdated
            }
            "message_template_quality_update" => {
                data.insert("previousQuality".into(), json!(self.previous_quality));
                data.insert("quality".into(), json!(self.quality));
                EventType::TemplateQualityUpdated
            }
            "template_category_update" => {
                data.insert("previousCategory".into(), json!(self.previous_category));
                data.insert("newCategory".into(), json!(self.category));
                data.insert("correctCategory".into(), json!(self.correct_category));
                EventType::TemplateCategoryUpdated
            }
            _ => return None,
        };
        data.insert("at".into(), json!(at));
        let stream = match (&self.template_id, &self.name, &self.language) {
            (Some(id), _, _) => format!("template|{id}"),
            (None, name, language) => format!(
                "template|{}|{}",
                name.as_deref().unwrap_or_default(),
                language.as_deref().unwrap_or_default()
            ),
        };
        Some((kind, Value::Object(data), stream))
    }
}

/// The fields of Meta's webhooks that report a template change.
pub const TEMPLATE_FIELDS: [&str; 3] = [
    "message_template_status_update",
    "message_template_quality_update",
    "template_category_update",
];

/// The template change a webhook change of `field` reports, if it is one of [`TEMPLATE_FIELDS`]:
/// `{event, message_template_id, message_template_name, message_template_language, reason, previous_category,
/// new_category, correct_category, previous_quality_score, new_quality_score}`, every one optional, strings clipped
/// (its `at` is the entry's, set by the caller).
pub fn template_change(field: &str, value: &Value) -> Option<TemplateChange> {
    if !TEMPLATE_FIELDS.contains(&field) {
        return None;
    }
    let only = |f: &str, key: &str| {
        if field == f { upper(&value[key]) } else { None }
    };
    let reason = if field == "message_template_status_update" {
        word(&value["reason"], MAX_WORD)
            .filter(|r| !r.eq_ignore_ascii_case("none"))
            .or_else(|| word(&value["other_info"]["title"], MAX_WORD))
    } else {
        None
    };
    Some(TemplateChange {
        template_id: word(&value["message_template_id"], MAX_WORD),
        reason,
        previous_category: only("template_category_update", "previous_category"),
        correct_category: only("template_category_update", "correct_category"),
        previous_quality: only("message_template_quality_update", "previous_quality_score"),
        quality: only("message_template_quality_update", "new_quality_score"),
        at: None,
        field: field.to_owned(),
        name: word(&value["message_template_name"], MAX_WORD),
        language: word(&value["message_template_language"], MAX_WORD),
        status: if field == "message_template_status_update" {
            upper(&value["event"])
        } else {
            None
        },
        category: if field == "template_category_update" {
            upper(&value["new_category"])
        } else {
            None
        },
    })
}

/// One page of Meta's list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplatePage {
    /// The templates of the page.
    pub templates: Vec<MessageTemplate>,
    /// The cursor of the next page (`paging.cursors.after`), only when Meta says there is one (`paging.next`).
    pub after: Option<String>,
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn word(v: &Value, max: usize) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(clip(s, max)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn upper(v: &Value) -> Option<String> {
    word(v, MAX_WORD).map(|s| s.to_ascii_uppercase())
}

/// Reads one page of `GET /{waba-id}/message_templates`:
/// `{data: [{name, language, status, category, id, components}], paging: {cursors: {after}, next}}`.
pub fn parse_page(v: &Value) -> TemplatePage {
    let templates = v["data"]
        .as_array()
        .map(|items| items.iter().filter_map(parse_template).collect())
        .unwrap_or_default();
    let after = v["paging"]["next"]
        .as_str()
        .filter(|n| !n.is_empty())
        .and_then(|_| v["paging"]["cursors"]["after"].as_str())
        .filter(|a| !a.is_empty())
        .map(|a| clip(a, MAX_TEXT));
    TemplatePage { templates, after }
}

/// One template of Meta's list; `None` without a name or language.
pub fn parse_template(v: &Value) -> Option<MessageTemplate> {
    let name = word(&v["name"], MAX_WORD)?;
    let language = word(&v["language"], MAX_WORD)?;
    let components = v["components"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c.is_object())
                .take(MAX_COMPONENTS)
                .map(parse_component)
                .collect()
        })
        .unwrap_or_default();
    Some(MessageTemplate {
        id: word(&v["id"], MAX_WORD),
        name,
        language,
        status: upper(&v["status"]).unwrap_or_else(|| "UNKNOWN".to_owned()),
        category: upper(&v["category"]),
        parameter_format: upper(&v["parameter_format"]),
        components,
    })
}

fn parse_component(c: &Value) -> TemplateComponentDef {
    TemplateComponentDef {
        kind: upper(&c["type"]).unwrap_or_default(),
        format: upper(&c["format"]),
        text: word(&c["text"], MAX_TEXT),
        buttons: c["buttons"]
            .as_array()
            .map(|bs| {
                bs.iter()
                    .filter(|b| b.is_object())
                    .take(MAX_BUTTONS)
                    .map(|b| TemplateButtonDef {
                        kind: upper(&b["type"]).unwrap_or_default(),
                        text: word(&b["text"], MAX_TEXT),
                        url: word(&b["url"], MAX_TEXT),
                        phone_number: word(&b["phone_number"], MAX_WORD),
                        otp_type: upper(&b["otp_type"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The distinct placeholders of a text (`{{1}}`, `{{first_name}}`), in order of first appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !out.iter().any(|n| n == name)
        {
            if out.len() == MAX_PLACEHOLDERS {
                break;
            }
            out.push(name.to_owned());
        }
        rest = &after[end + 2..];
    }
    out
}

impl MessageTemplate {
    fn component(&self, kind: &str) -> Option<&TemplateComponentDef> {
        self.components.iter().find(|c| c.kind == kind)
    }

    /// The buttons, in order (their 0-based position is the `index` of a send).
    pub fn buttons(&self) -> impl Iterator<Item = &TemplateButtonDef> {
        self.components
            .iter()
            .filter(|c| c.kind == "BUTTONS")
            .flat_map(|c| c.buttons.iter())
    }

    /// The body's placeholders.
    pub fn body_placeholders(&self) -> Vec<String> {
        self.component("BODY")
            .and_then(|c| c.text.as_deref())
            .map(placeholders)
            .unwrap_or_default()
    }
}

/// What one button of a template takes in a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ButtonNeed {
    /// Exactly one parameter of this sub type.
    Required(ButtonSubType),
    /// At most one parameter of this sub type.
    Optional(ButtonSubType),
    /// Nothing: the button is fixed.
    Fixed,
}

fn need_of(b: &TemplateButtonDef) -> ButtonNeed {
    match b.kind.as_str() {
        "URL"
            if b.url
                .as_deref()
                .is_some_and(|u| !placeholders(u).is_empty()) =>
        {
            ButtonNeed::Required(ButtonSubType::Url)
        }
        // An authentication template's code button: the code goes as a `url` button parameter.
        "OTP" => ButtonNeed::Required(ButtonSubType::Url),
        "COPY_CODE" => ButtonNeed::Required(ButtonSubType::CopyCode),
        "QUICK_REPLY" => ButtonNeed::Optional(ButtonSubType::QuickReply),
        "FLOW" => ButtonNeed::Optional(ButtonSubType::Flow),
        _ => ButtonNeed::Fixed,
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn braces(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{{{{{n}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a template mismatch is reported.
pub mod field {
    /// The template's name (unknown, not approved).
    pub const NAME: &str = "template.name";
    /// The template's language (no such translation).
    pub const LANGUAGE: &str = "template.language";
    /// The template's parameters (count, names, types, buttons).
    pub const COMPONENTS: &str = "template.components";
}

/// Why this template send would be refused by Meta, given the account's templates: the field and the mismatch.
/// `None` when the send matches an approved template.
pub fn check_send(templates: &[MessageTemplate], t: &Template) -> Option<(&'static str, String)> {
    let named: Vec<&MessageTemplate> = templates.iter().filter(|x| x.name == t.name).collect();
    if named.is_empty() {
        return Some((
            field::NAME,
            format!(
                "the WhatsApp Business Account has no template named \"{}\" ({} known); create it in WhatsApp \
                 Manager or check the name against the account's template list",
                t.name,
                plural(templates.len(), "template")
            ),
        ));
    }
    let Some(def) = named.iter().find(|x| x.language == t.language) else {
        let mut languages: Vec<&str> = named.iter().map(|x| x.language.as_str()).collect();
        languages.sort_unstable();
        return Some((
            field::LANGUAGE,
            format!(
                "template \"{}\" has no \"{}\" translation; it exists in {}",
                t.name,
                t.language,
                languages.join(", ")
            ),
        ));
    };
    if def.status != "APPROVED" {
        let why = match def.status.as_str() {
            "PENDING" | "IN_APPEAL" => "it is still under review",
            "REJECTED" => "Meta rejected it",
            "PAUSED" => "Meta paused it after negative feedback from recipients",
            "DISABLED" => "Meta disabled it",
            _ => "only approved templates can be sent",
        };
        return Some((
            field::NAME,
            format!(
                "template \"{}\" ({}) is {}, not APPROVED: {why}",
                t.name, t.language, def.status
            ),
        ));
    }
    check_parameters(def, t).map(|m| (field::COMPONENTS, m))
}

fn check_parameters(def: &MessageTemplate, t: &Template) -> Option<String> {
    let name = &t.name;
    let mut header: Vec<&TemplateParameter> = Vec::new();
    let mut body: Vec<&TemplateParameter> = Vec::new();
    let mut buttons: Vec<(ButtonSubType, u8, usize)> = Vec::new();
    for c in &t.components {
        match c {
            TemplateComponent::Header { parameters } => header.extend(parameters),
            TemplateComponent::Body { parameters } => body.extend(parameters),
            TemplateComponent::Button {
                sub_type,
                index,
                parameters,
            } => buttons.push((*sub_type, *index, parameters.len())),
        }
    }

    // Header: a text header takes one text parameter per placeholder, a media or location header one parameter
    // of its format.
    let hdef = def.component("HEADER");
    let format = hdef
        .and_then(|h| h.format.as_deref())
        .unwrap_or("TEXT")
        .to_ascii_lowercase();
    let expected_header = match hdef {
        None => 0,
        Some(h) if format == "text" => h.text.as_deref().map_or(0, |s| placeholders(s).len()),
        Some(_) => 1,
    };
    if header.len() != expected_header {
        let what = match hdef {
            None => "has no header".to_owned(),
            Some(_) if format == "text" => {
                format!(
                    "has a text header with {}",
                    plural(expected_header, "placeholder")
                )
            }
            Some(_) => format!("has a {format} header, which takes one {format} parameter"),
        };
        return Some(format!(
            "template \"{name}\" {what}, but {} given",
            given(header.len())
        ));
    }
    if let Some(p) = header.first() {
        let ty = parameter_type(p);
        if ty != format {
            return Some(format!(
                "template \"{name}\" has a {format} header, but a {ty} header parameter was given"
            ));
        }
    }

    // Body: one parameter per placeholder; with named placeholders, the names must match.
    let expected = def.body_placeholders();
    if body.len() != expected.len() {
        let what = if expected.is_empty() {
            "has no placeholders in its body".to_owned()
        } else {
            format!(
                "has {} in its body ({})",
                plural(expected.len(), "placeholder"),
                braces(&expected)
            )
        };
        return Some(format!(
            "template \"{name}\" {what}, but {} given",
            given(body.len())
        ));
    }
    let named = def.parameter_format.as_deref() == Some("NAMED")
        || expected
            .iter()
            .any(|p| !p.bytes().all(|b| b.is_ascii_digit()));
    if named {
        for p in &body {
            let given_name = match p {
                TemplateParameter::Text { parameter_name, .. } => parameter_name.as_deref(),
                _ => None,
            };
            match given_name {
                Some(n) if expected.iter().any(|e| e == n) => {}
                Some(n) => {
                    return Some(format!(
                        "template \"{name}\" has no body placeholder {{{{{n}}}}}; its placeholders are {}",
                        braces(&expected)
                    ));
                }
                None => {
                    return Some(format!(
                        "template \"{name}\" has named body placeholders ({}): give each text parameter its \
                         parameter_name",
                        braces(&expected)
                    ));
                }
            }
        }
    }

    // Buttons: each given button must exist at its index and be of its kind; each button that needs a
    // parameter must be given one.
    let defs: Vec<&TemplateButtonDef> = def.buttons().collect();
    for &(sub_type, index, count) in &buttons {
        let Some(b) = defs.get(usize::from(index)) else {
            return Some(format!(
                "template \"{name}\" has {}; there is no button at index {index}",
                plural(defs.len(), "button")
            ));
        };
        match need_of(b) {
            ButtonNeed::Required(want) | ButtonNeed::Optional(want) if want != sub_type => {
                return Some(format!(
                    "button {index} of template \"{name}\" is a {} button, which takes sub_type {}, not {}",
                    b.kind,
                    want.as_str(),
                    sub_type.as_str()
                ));
            }
            ButtonNeed::Required(_) if count != 1 => {
                return Some(format!(
                    "button {index} of template \"{name}\" ({}) takes one parameter, but {} given",
                    b.kind,
                    given(count)
                ));
            }
            ButtonNeed::Optional(_) if count > 1 => {
                return Some(format!(
                    "button {index} of template \"{name}\" ({}) takes at most one parameter, but {} given",
                    b.kind,
                    given(count)
                ));
            }
            ButtonNeed::Fixed => {
                return Some(format!(
                    "button {index} of template \"{name}\" ({}) is fixed in the template and takes no parameter",
                    b.kind
                ));
            }
            _ => {}
        }
    }
    for (index, b) in defs.iter().enumerate() {
        if let ButtonNeed::Required(want) = need_of(b) {
            if !buttons.iter().any(|&(_, i, _)| usize::from(i) == index) {
                return Some(format!(
                    "button {index} of template \"{name}\" ({}) needs a parameter: add a button component \
                     with sub_type {} and index {index}",
                    b.kind,
                    want.as_str()
                ));
            }
        }
    }
    None
}

fn given(n: usize) -> String {
    match n {
        0 => "none was".to_owned(),
        1 => "1 was".to_owned(),
        n => format!("{n} were"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta_list() -> Value {
        json!({"data": [
            {"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1",
             "components": [{"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                            {"type": "BODY", "text": "Welcome and congratulations!!"},
                            {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}]},
            {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": 2,
             "components": [{"type": "BODY", "text": "Your order {{1}} ships on {{2}}. Order {{1}}."},
                            {"type": "BUTTONS", "buttons": [
                                {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"},
                                {"type": "QUICK_REPLY", "text": "Stop"}]}]},
            {"name": "auth_code", "language": "en_US", "status": "APPROVED", "category": "AUTHENTICATION",
             "components": [{"type": "BODY", "text": "*{{1}}* is your verification code."},
                            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]},
            {"name": "welcome", "language": "en_US", "status": "APPROVED", "parameter_format": "NAMED",
             "components": [{"type": "header", "format": "image"},
                            {"type": "BODY", "text": "Hi {{first_name}}"}]},
            {"name": "promo", "language": "de", "status": "PENDING", "components": []},
            {"language": "en_US", "status": "APPROVED"},
            "garbage"
        ], "paging": {"cursors": {"before": "QVFIU0", "after": "QVFIU1"},
                      "next": "https://graph.facebook.com/v25.0/1/message_templates?after=QVFIU1"}})
    }

    fn list() -> Vec<MessageTemplate> {
        parse_page(&meta_list()).templates
    }

    #[test]
    fn a_page_is_read_liberally_with_its_cursor() {
        let page = parse_page(&meta_list());
        assert_eq!(page.templates.len(), 5, "items without a name are skipped");
        assert_eq!(page.after.as_deref(), Some("QVFIU1"));
        let order = &page.templates[1];
        assert_eq!(order.id.as_deref(), Some("2"));
        assert_eq!(order.category.as_deref(), Some("UTILITY"));
        assert_eq!(order.body_placeholders(), ["1", "2"]);
        assert_eq!(order.buttons().count(), 2);
        assert_eq!(page.templates[3].components[0].kind, "HEADER");
        assert_eq!(
            page.templates[3].components[0].format.as_deref(),
            Some("IMAGE")
        );
        // The last page: a cursor without `next` is no next page.
        let last = parse_page(&json!({"data": [], "paging": {"cursors": {"after": "X"}}}));
        assert_eq!(last.after, None);
        assert_eq!(parse_page(&json!({"error": "x"})), TemplatePage::default());
    }

    #[test]
    fn placeholders_are_distinct_and_bounded() {
        assert_eq!(placeholders("{{1}} and {{ 2 }} and {{1}}"), ["1", "2"]);
        assert_eq!(
            placeholders("{{first_name}}, {{}} {{a b}} {{x"),
            ["first_name"]
        );
        let many: String = (0..500).map(|i| format!("{{{{{i}}}}}")).collect();
        assert_eq!(placeholders(&many).len(), MAX_PLACEHOLDERS);
    }

    fn tpl(name: &str, language: &str, components: Vec<TemplateComponent>) -> Template {
        Template {
            name: name.into(),
            language: language.into(),
            components,
        }
    }

    fn body(n: usize) -> TemplateComponent {
        TemplateComponent::Body {
            parameters: (0..n)
                .map(|i| TemplateParameter::text(i.to_string()))
                .collect(),
        }
    }

    fn button(sub_type: ButtonSubType, index: u8, n: usize) -> TemplateComponent {
        TemplateComponent::Button {
            sub_type,
            index,
            parameters: (0..n).map(|_| TemplateParameter::text("x")).collect(),
        }
    }

    #[test]
    fn unknown_untranslated_and_unapproved_templates_are_named() {
        let l = list();
        let (f, m) = check_send(&l, &tpl("nope", "en_US", vec![])).unwrap();
        assert_eq!(f, field::NAME);
        assert!(m.contains("no template named \"nope\""), "{m}");
        let (f, m) = check_send(&l, &tpl("hello_world", "de", vec![])).unwrap();
        assert_eq!(f, field::LANGUAGE);
        assert!(m.contains("exists in en_US"), "{m}");
        let (f, m) = check_send(&l, &tpl("promo", "de", vec![])).unwrap();
        assert_eq!(f, field::NAME);
        assert!(m.contains("PENDING"), "{m}");
        assert_eq!(check_send(&l, &tpl("hello_world", "en_US", vec![])), None);
    }

    #[test]
    fn parameters_must_match_placeholders_and_buttons() {
        let l = list();
        let good = vec![body(2), button(ButtonSubType::Url, 0, 1)];
        assert_eq!(check_send(&l, &tpl("order_update", "en_US", good)), None);
        let with_reply = vec![
            body(2),
            button(ButtonSubType::Url, 0, 1),
            TemplateComponent::Button {
                sub_type: ButtonSubType::QuickReply,
                index: 1,
                parameters: vec![TemplateParameter::Payload {
                    payload: "STOP".into(),
                }],
            },
        ];
        assert_eq!(
            check_send(&l, &tpl("order_update", "en_US", with_reply)),
            None
        );
        let msg = |c| check_send(&l, &tpl("order_update", "en_US", c)).unwrap();
        let (f, m) = msg(vec![body(1), button(ButtonSubType::Url, 0, 1)]);
        assert_eq!(f, field::COMPONENTS);
        assert!(
            m.contains("2 placeholders in its body ({{1}}, {{2}}), but 1 was given"),
            "{m}"
        );
        let (_, m) = msg(vec![body(2)]);
        assert!(m.contains("button 0") && m.contains("sub_type url"), "{m}");
        let (_, m) = msg(vec![body(2), button(ButtonSubType::CopyCode, 0, 1)]);
        assert!(m.contains("not copy_code"), "{m}");
        let (_, m) = msg(vec![
            body(2),
            button(ButtonSubType::Url, 0, 1),
            button(ButtonSubType::Url, 5, 1),
        ]);
        assert!(m.contains("no button at index 5"), "{m}");
        let (_, m) = check_send(&l, &tpl("hello_world", "en_US", vec![body(1)])).unwrap();
        assert!(m.contains("no placeholders"), "{m}");
        let header = TemplateComponent::Header {
            parameters: vec![TemplateParameter::text("x")],
        };
        let (_, m) = check_send(&l, &tpl("hello_world", "en_US", vec![header])).unwrap();
        assert!(m.contains("text header with 0 placeholders"), "{m}");
        // Authentication: the code in the body and in the OTP button (sub_type url).
        let auth = vec![body(1), button(ButtonSubType::Url, 0, 1)];
        assert_eq!(check_send(&l, &tpl("auth_code", "en_US", auth)), None);
        assert!(check_send(&l, &tpl("auth_code", "en_US", vec![body(1)])).is_some());
    }

    #[test]
    fn named_placeholders_and_media_headers() {
        let l = list();
        let image = TemplateComponent::Header {
            parameters: vec![TemplateParameter::Image {
                image: crate::message::MediaParameter {
                    link: Some("https://example.com/a.png".into()),
                    id: None,
                    filename: None,
                    caption: None,
                },
            }],
        };
        let named = TemplateComponent::Body {
            parameters: vec![TemplateParameter::named_text("first_name", "Ana")],
        };
        assert_eq!(
            check_send(
                &l,
                &tpl("welcome", "en_US", vec![image.clone(), named.clone()])
            ),
            None
        );
        let (_, m) = check_send(&l, &tpl("welcome", "en_US", vec![named.clone()])).unwrap();
        assert!(m.contains("image header"), "{m}");
        let (_, m) =
            check_send(&l, &tpl("welcome", "en_US", vec![image.clone(), body(1)])).unwrap();
        assert!(m.contains("parameter_name"), "{m}");
        let wrong = TemplateComponent::Body {
            parameters: vec![TemplateParameter::named_text("last_name", "Ana")],
        };
        let (_, m) = check_send(&l, &tpl("welcome", "en_US", vec![image, wrong])).unwrap();
        assert!(m.contains("no body placeholder {{last_name}}"), "{m}");
    }
}
