//! Checks of single values of a send request. Each answers what is wrong in words meant for the sender.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::message::{ButtonSubType, MediaParameter, TemplateParameter};

use super::SendRules;

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
/// Parameter types a header takes.
pub const HEADER_PARAMETERS: &[&str] = &["text", "image", "document", "video"];
/// Parameter types a body takes.
pub const BODY_PARAMETERS: &[&str] = &["text", "currency", "date_time"];

/// Parameter types a button of this kind takes.
pub fn button_parameters(sub_type: ButtonSubType) -> &'static [&'static str] {
    match sub_type {
        ButtonSubType::QuickReply => &["payload", "text"],
        ButtonSubType::Url => &["text"],
        ButtonSubType::CopyCode => &["coupon_code"],
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
