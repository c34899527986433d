//! Checks of single values of a send request. Each answers what is wrong in words meant for the sender.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::time::Duration;

use crate::message::{
    ButtonSubType, MediaParameter, MessageKind, Template, TemplateComponent, TemplateParameter,
};

use super::{SendRules, ValidationErrors};

/// Longest free-form text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Largest metadata object, serialized as JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Longest text parameter of a template, in characters.
pub const MAX_PARAMETER_CHARS: usize = 1024;
/// Longest template name, in bytes.
pub const MAX_TEMPLATE_NAME_BYTES: usize = 512;
/// Highest button position in a template.
pub const MAX_BUTTON_INDEX: u8 = 9;
/// Longest text parameter of a template header, in characters.
pub const MAX_HEADER_PARAMETER_CHARS: usize = 60;
/// Longest coupon code of a copy-code button, in characters.
pub const MAX_COUPON_CODE_CHARS: usize = 15;
/// Parameter types a header takes.
pub const HEADER_PARAMETERS: &[&str] = &["text", "image", "document", "video", "location"];
/// Parameter types a body takes.
pub const BODY_PARAMETERS: &[&str] = &["text", "currency", "date_time"];

/// Parameter types a button of this kind takes.
pub fn button_parameters(sub_type: ButtonSubType) -> &'static [&'static str] {
    match sub_type {
        ButtonSubType::QuickReply => &["payload"],
        ButtonSubType::Url => &["text"],
        ButtonSubType::CopyCode => &["coupon_code"],
        ButtonSubType::Flow => &["action"],
    }
}

/// The type name of a parameter, as Meta spells it.
pub fn parameter_type(p: &TemplateParameter) -> &'static str {
    match p {
        TemplateParameter::Text { .. } => "text",
        TemplateParameter::Currency { .. } => "currency",
        TemplateParameter::DateTime { .. } => "date_time",
        TemplateParameter::Image { .. } => "image",
        TemplateParameter::Document { .. } => "document",
        TemplateParameter::Video { .. } => "video",
        TemplateParameter::Payload { .. } => "payload",
        TemplateParameter::CouponCode { .. } => "coupon_code",
        TemplateParameter::Location { .. } => "location",
        TemplateParameter::Action { .. } => "action",
    }
}

/// The body of a text message: not blank, at most [`MAX_TEXT_CHARS`] characters.
pub fn check_text(s: &str) -> Result<(), String> {
    let chars = s.chars().count();
    if s.trim().is_empty() {
        Err("must not be empty or blank".into())
    } else if chars > MAX_TEXT_CHARS {
        Err(format!(
            "must be at most {MAX_TEXT_CHARS} characters, got {chars}"
        ))
    } else {
        Ok(())
    }
}

fn not_blank(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}

/// A template name as Meta approves them: lowercase letters, digits and underscores.
pub fn check_template_name(s: &str) -> Result<(), String> {
    not_blank(s)?;
    let ok = s.len() <= MAX_TEMPLATE_NAME_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("must be the template's name as approved by Meta: lowercase letters, digits and underscores".into())
    }
}

/// A language code such as `en`, `en_US` or `pt_BR`.
pub fn check_language(s: &str) -> Result<(), String> {
    not_blank(s)?;
    let (lang, region) = match s.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    let ok = (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(())
    } else {
        Err("must be a language code such as en_US or pt_BR".into())
    }
}

/// A text parameter of a template: not blank, at most [`MAX_PARAMETER_CHARS`] characters.
pub fn check_parameter_text(s: &str) -> Result<(), String> {
    not_blank(s)?;
    if s.chars().count() > MAX_PARAMETER_CHARS {
        Err(format!("must be at most {MAX_PARAMETER_CHARS} characters"))
    } else {
        Ok(())
    }
}

/// An ISO 4217 currency code such as `USD`.
pub fn check_currency_code(s: &str) -> Result<(), String> {
    not_blank(s)?;
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("must be an ISO 4217 code such as USD".into())
    }
}

/// A media parameter: a link (http or https) or an uploaded media id. On failure, the sub-field at fault (`link`)
/// or `None` for the media as a whole.
pub fn check_media(m: &MediaParameter) -> Result<(), (Option<&'static str>, String)> {
    match (&m.link, &m.id) {
        (None, None) => Err((
            None,
            "needs link (an https URL) or id (an uploaded media id)".into(),
        )),
        (Some(l), _) if !(l.starts_with("https://") || l.starts_with("http://")) => {
            Err((Some("link"), "must be an http(s) URL".into()))
        }
        _ => Ok(()),
    }
}

/// Caller metadata: at most [`MAX_METADATA_BYTES`] of JSON.
pub fn check_metadata(m: &Map<String, Value>) -> Result<(), String> {
    let size = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        Err(format!(
            "must be at most {MAX_METADATA_BYTES} bytes of JSON, got {size}"
        ))
    } else {
        Ok(())
    }
}

/// A scheduled send time: after `now`, within the rules' horizon.
pub fn check_send_at(
    t: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &SendRules,
) -> Result<(), String> {
    if t <= now {
        return Err("must be in the future".into());
    }
    let horizon =
        chrono::Duration::from_std(rules.schedule_horizon).unwrap_or(chrono::Duration::MAX);
    if t > now + horizon {
        return Err(format!(
            "must be at most {} days ahead",
            rules.schedule_horizon.as_secs() / 86_400
        ));
    }
    Ok(())
}

/// Shortest validity period of a send: one second, as Twilio's `ValidityPeriod`.
pub const MIN_VALIDITY: Duration = Duration::from_secs(1);
/// Longest validity period of a send: 30 days, the longest time-to-live Meta accepts for a template (marketing
/// templates take 12 hours to 30 days). Longer than Twilio's 10 hours because a send may be scheduled (up to the
/// schedule horizon) or wait in a paused campaign, and the period counts from acceptance.
pub const MAX_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why `from` cannot name a business number: a Meta phone number id is 1 to 32 digits.
pub fn check_from(from: &str) -> Result<(), &'static str> {
    if from.is_empty() || from.len() > 32 || !from.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "must be the numeric Phone Number ID of one of your business numbers (see GET /numbers)",
        );
    }
    Ok(())
}

/// A validity period: whole seconds from [`MIN_VALIDITY`] to [`MAX_VALIDITY`].
pub fn check_validity(d: Duration) -> Result<(), String> {
    if d.subsec_nanos() != 0 || d < MIN_VALIDITY || d > MAX_VALIDITY {
        return Err(format!(
            "must be a whole number of seconds from {} to {} (30 days)",
            MIN_VALIDITY.as_secs(),
            MAX_VALIDITY.as_secs()
        ));
    }
    Ok(())
}

/// A scheduled send time that its validity period allows: no later than the moment the message expires
/// (`expires_at`, counted from acceptance); `how` says where the period came from, for the message.
pub fn check_send_at_before_expiry(
    send_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    how: &str,
) -> Result<(), String> {
    if send_at > expires_at {
        return Err(format!(
            "is later than the message's expiry at {} ({how}, counted from now): a message cannot be scheduled \
             after it expires; send it earlier or give a longer validity period",
            expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ));
    }
    Ok(())
}

/// Longest caption of an image, video or document, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Longest file name of a document, in characters.
pub const MAX_FILENAME_CHARS: usize = 240;
/// Longest body of an interactive message, in characters.
pub const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;
/// Longest text header or footer of an interactive message, in characters.
pub const MAX_INTERACTIVE_HEADER_CHARS: usize = 60;
/// Most reply buttons in one message.
pub const MAX_REPLY_BUTTONS: usize = 3;
/// Longest reply button title, in characters.
pub const MAX_BUTTON_TITLE_CHARS: usize = 20;
/// Longest reply button id, in characters.
pub const MAX_BUTTON_ID_CHARS: usize = 256;
/// Most rows of a list, all sections together.
pub const MAX_LIST_ROWS: usize = 10;
/// Most sections of a list.
pub const MAX_LIST_SECTIONS: usize = 10;
/// Longest list section or row title, in characters.
pub const MAX_LIST_TITLE_CHARS: usize = 24;
/// Longest list row description, in characters.
pub const MAX_ROW_DESCRIPTION_CHARS: usize = 72;
/// Longest list row id, in characters.
pub const MAX_ROW_ID_CHARS: usize = 200;

/// Text of at most `max` characters that is not blank.
pub fn check_bounded(s: &str, max: usize) -> Result<(), String> {
    not_blank(s)?;
    let n = s.chars().count();
    if n > max {
        Err(format!("must be at most {max} characters, got {n}"))
    } else {
        Ok(())
    }
}

/// An http(s) URL without spaces.
pub fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.chars().any(char::is_whitespace) => Ok(()),
        _ => Err("must be an http(s) URL".into()),
    }
}

/// File extensions Meta accepts for media of this kind, lowercase; `None` when the kind is not media.
pub fn media_extensions(kind: MessageKind) -> Option<&'static [&'static str]> {
    Some(match kind {
        MessageKind::Image => &["jpg", "jpeg", "png"],
        MessageKind::Video => &["mp4", "3gp", "3gpp"],
        MessageKind::Audio => &["aac", "amr", "mp3", "m4a", "ogg", "opus"],
        MessageKind::Document => &[
            "txt", "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "csv",
        ],
        MessageKind::Sticker => &["webp"],
        _ => return None,
    })
}

/// Checks a media message's object (`kind` is image, video, audio, document or sticker): exactly one of link and
/// id, a link that is an http(s) URL, a caption only where Meta shows one, a file name only on documents. Each
/// failure names its sub-field (`link`, `caption`, …) or `None` for the object as a whole.
pub fn check_message_media(
    kind: MessageKind,
    m: &MediaParameter,
) -> Vec<(Option<&'static str>, String)> {
    let mut out = Vec::new();
    match (&m.link, &m.id) {
        (None, None) => out.push((
            None,
            "needs link (a public https URL) or id (an uploaded media id)".to_owned(),
        )),
        (Some(_), Some(_)) => out.push((None, "give link or id, not both".to_owned())),
        (Some(l), None) => {
            if let Err(e) = check_url(l) {
                out.push((Some("link"), e));
            } else if let Some(ext) = link_extension(l) {
                let allowed = media_extensions(kind).unwrap_or(&[]);
                // A link without a recognisable extension is left to Meta (it reads the Content-Type).
                if is_known_media_extension(&ext) && !allowed.contains(&ext.as_str()) {
                    out.push((
                        Some("link"),
                        format!(
                            "a .{ext} file cannot be sent as {kind}; {kind} accepts {}",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        (None, Some(id)) => {
            if id.trim().is_empty() || id.chars().any(char::is_whitespace) {
                out.push((
                    Some("id"),
                    "must be the id Meta gave the uploaded media".to_owned(),
                ));
            }
        }
    }
    if let Some(c) = &m.caption {
        if !kind.takes_caption() {
            out.push((
                Some("caption"),
                format!("{kind} messages have no caption; only image, video and document do"),
            ));
        } else if let Err(e) = check_bounded(c, MAX_CAPTION_CHARS) {
            out.push((Some("caption"), e));
        }
    }
    if let Some(f) = &m.filename {
        if kind != MessageKind::Document {
            out.push((
                Some("filename"),
                "only documents have a file name".to_owned(),
            ));
        } else if let Err(e) = check_bounded(f, MAX_FILENAME_CHARS) {
            out.push((Some("filename"), e));
        }
    }
    out
}

fn link_extension(link: &str) -> Option<String> {
    let path = link.split(['?', '#']).next()?;
    let after_host = path.splitn(4, '/').nth(3)?;
    let last = after_host.rsplit('/').next()?;
    let (_, ext) = last.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

fn is_known_media_extension(ext: &str) -> bool {
    [
        MessageKind::Image,
        MessageKind::Video,
        MessageKind::Audio,
        MessageKind::Document,
        MessageKind::Sticker,
    ]
    .into_iter()
    .filter_map(media_extensions)
    .any(|list| list.contains(&ext))
}

/// A latitude (−90 to 90) or, with `max` 180, a longitude.
pub fn check_coordinate(v: f64, max: f64) -> Result<(), String> {
    if v.is_finite() && (-max..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!("must be a number from -{max} to {max}"))
    }
}

/// A reaction's emoji: empty (removes the reaction) or one emoji: a few characters, not plain ASCII text (keycaps
/// such as `1️⃣` start with an ASCII digit, so only text without any non-ASCII character is refused).
pub fn check_emoji(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if s.is_empty() {
        return Ok(());
    }
    if n > 10 || s.is_ascii() || s.chars().any(char::is_whitespace) {
        Err("must be a single emoji, or empty to remove the reaction".into())
    } else {
        Ok(())
    }
}

/// Checks a template as Meta does, reporting each failure under its path below `base` (`template`,
/// `items[3].template`): name and language; at most one header and one body; a header of at most one parameter
/// (text of at most [`MAX_HEADER_PARAMETER_CHARS`], one https or uploaded image, video or document without caption,
/// or a location); body parameters of text, currency and date/time, named all or none; buttons at distinct
/// positions 0 to 9, each with exactly the one parameter its kind takes.
pub fn check_template(t: &Template, base: &str, errs: &mut ValidationErrors) {
    if let Err(m) = check_template_name(&t.name) {
        errs.push(format!("{base}.name"), m);
    }
    if let Err(m) = check_language(&t.language) {
        errs.push(format!("{base}.language"), m);
    }
    let (mut headers, mut bodies) = (0, 0);
    let mut indexes: Vec<u8> = Vec::new();
    for (i, c) in t.components.iter().enumerate() {
        let f = format!("{base}.components[{i}]");
        match c {
            TemplateComponent::Header { parameters } => {
                headers += 1;
                if parameters.len() > 1 {
                    errs.push(
                        format!("{f}.parameters"),
                        format!(
                            "a header takes at most one parameter (text, media or location), got {}",
                            parameters.len()
                        ),
                    );
                }
                check_parameters(parameters, &f, HEADER_PARAMETERS, Place::Header, errs);
            }
            TemplateComponent::Body { parameters } => {
                bodies += 1;
                check_parameters(parameters, &f, BODY_PARAMETERS, Place::Body, errs);
                check_names(parameters, &f, errs);
            }
            TemplateComponent::Button {
                sub_type,
                index,
                parameters,
            } => {
                if *index > MAX_BUTTON_INDEX {
                    errs.push(
                        format!("{f}.index"),
                        format!("must be the button's position, 0 to {MAX_BUTTON_INDEX}"),
                    );
                } else if indexes.contains(index) {
                    errs.push(
                        format!("{f}.index"),
                        format!("another button component already has index {index}; each button is given once"),
                    );
                }
                indexes.push(*index);
                let allowed = button_parameters(*sub_type);
                if parameters.len() != 1 {
                    errs.push(
                        format!("{f}.parameters"),
                        format!(
                            "a {} button takes exactly one {} parameter, got {}",
                            sub_type.as_str(),
                            allowed.join(" or "),
                            parameters.len()
                        ),
                    );
                }
                check_parameters(parameters, &f, allowed, Place::Button, errs);
            }
        }
    }
    if headers > 1 || bodies > 1 {
        errs.push(
            format!("{base}.components"),
            "at most one header and one body component",
        );
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Header,
    Body,
    Button,
}

fn check_parameters(
    parameters: &[TemplateParameter],
    component: &str,
    allowed: &[&str],
    place: Place,
    errs: &mut ValidationErrors,
) {
    for (j, p) in parameters.iter().enumerate() {
        check_template_parameter(
            p,
            &format!("{component}.parameters[{j}]"),
            allowed,
            place,
            errs,
        );
    }
}

/// Body text parameters are named all or none, each name unique.
fn check_names(parameters: &[TemplateParameter], component: &str, errs: &mut ValidationErrors) {
    let texts: Vec<(usize, Option<&String>)> = parameters
        .iter()
        .enumerate()
        .filter_map(|(j, p)| match p {
            TemplateParameter::Text { parameter_name, .. } => Some((j, parameter_name.as_ref())),
            _ => None,
        })
        .collect();
    let named = texts.iter().filter(|(_, n)| n.is_some()).count();
    if named > 0 && named < texts.len() {
        for (j, _) in texts.iter().filter(|(_, n)| n.is_none()) {
            errs.push(
                format!("{component}.parameters[{j}].parameter_name"),
                "required: the other text parameters are named, so every one must be (named and positional parameters cannot be mixed)",
            );
        }
    }
    for (k, (j, name)) in texts.iter().enumerate() {
        if let Some(n) = name {
            if texts[..k].iter().any(|(_, o)| o == &Some(*n)) {
                errs.push(
                    format!("{component}.parameters[{j}].parameter_name"),
                    format!("'{n}' is given twice; each named parameter is given once"),
                );
            }
        }
    }
}

/// A named parameter's name as Meta takes it: lowercase letters, digits and underscores.
pub fn check_parameter_name(s: &str) -> Result<(), String> {
    not_blank(s)?;
    if s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(())
    } else {
        Err("must be the placeholder's name as in the template: lowercase letters, digits and underscores".into())
    }
}

/// A body text parameter as Meta takes it: no new lines or tabs, no more than four spaces in a row.
pub fn check_body_parameter_text(s: &str) -> Result<(), String> {
    check_parameter_text(s)?;
    if s.contains(['\n', '\t']) || s.contains("     ") {
        Err("must not contain new lines, tabs or more than four spaces in a row (Meta refuses them in body parameters)".into())
    } else {
        Ok(())
    }
}

fn check_template_parameter(
    p: &TemplateParameter,
    f: &str,
    allowed: &[&str],
    place: Place,
    errs: &mut ValidationErrors,
) {
    let kind = parameter_type(p);
    if !allowed.contains(&kind) {
        errs.push(
            format!("{f}.type"),
            format!(
                "'{kind}' is not allowed here; expected {}",
                allowed.join(", ")
            ),
        );
        return;
    }
    let mut push = |sub: &str, r: Result<(), String>| {
        if let Err(m) = r {
            errs.push(format!("{f}.{sub}"), m);
        }
    };
    match p {
        TemplateParameter::Text {
            parameter_name,
            text,
        } => {
            if let Some(n) = parameter_name {
                push("parameter_name", check_parameter_name(n));
            }
            push(
                "text",
                match place {
                    Place::Header => check_bounded(text, MAX_HEADER_PARAMETER_CHARS),
                    Place::Body => check_body_parameter_text(text),
                    // A URL button's suffix is appended to the template's URL.
                    Place::Button => check_parameter_text(text).and_then(|()| {
                        if text.chars().any(char::is_whitespace) {
                            Err("must be a URL suffix without spaces".into())
                        } else {
                            Ok(())
                        }
                    }),
                },
            );
        }
        TemplateParameter::Payload { payload } => push("payload", not_blank(payload)),
        TemplateParameter::CouponCode { coupon_code } => push(
            "coupon_code",
            check_bounded(coupon_code, MAX_COUPON_CODE_CHARS),
        ),
        TemplateParameter::Currency { currency } => {
            push(
                "currency.fallback_value",
                not_blank(&currency.fallback_value),
            );
            push("currency.code", check_currency_code(&currency.code));
        }
        TemplateParameter::DateTime { date_time } => push(
            "date_time.fallback_value",
            not_blank(&date_time.fallback_value),
        ),
        TemplateParameter::Image { image: m }
        | TemplateParameter::Document { document: m }
        | TemplateParameter::Video { video: m } => {
            for (sub, message) in check_header_media(kind, m) {
                let path = match sub {
                    Some(s) => format!("{f}.{kind}.{s}"),
                    None => format!("{f}.{kind}"),
                };
                errs.push(path, message);
            }
        }
        TemplateParameter::Location { location } => {
            push(
                "location.latitude",
                check_coordinate(location.latitude, 90.0),
            );
            push(
                "location.longitude",
                check_coordinate(location.longitude, 180.0),
            );
        }
        TemplateParameter::Action { action } => {
            if let Some(t) = &action.flow_token {
                push("action.flow_token", not_blank(t));
            }
        }
    }
}

/// A template header's media: exactly one of an https link and an uploaded media id, no caption (a template has
/// its own text), a file name only on documents.
pub fn check_header_media(kind: &str, m: &MediaParameter) -> Vec<(Option<&'static str>, String)> {
    let mut out = Vec::new();
    match (&m.link, &m.id) {
        (None, None) => out.push((
            None,
            "needs link (a public https URL) or id (an uploaded media id)".to_owned(),
        )),
        (Some(_), Some(_)) => out.push((None, "give link or id, not both".to_owned())),
        (Some(l), None) => {
            if !l.starts_with("https://") || check_url(l).is_err() {
                out.push((Some("link"), "must be a public https URL".to_owned()));
            }
        }
        (None, Some(id)) => {
            if id.trim().is_empty() || id.chars().any(char::is_whitespace) {
                out.push((
                    Some("id"),
                    "must be the id Meta gave the uploaded media".to_owned(),
                ));
            }
        }
    }
    if m.caption.is_some() {
        out.push((
            Some("caption"),
            "a template header has no caption; the template's body carries the text".to_owned(),
        ));
    }
    if let Some(f) = &m.filename {
        if kind != "document" {
            out.push((
                Some("filename"),
                "only documents have a file name".to_owned(),
            ));
        } else if let Err(e) = check_bounded(f, MAX_FILENAME_CHARS) {
            out.push((Some("filename"), e));
        }
    }
    out
}
