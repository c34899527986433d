//! Checks of single values of a send request. Each answers what is wrong in words meant for the sender.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::message::{ButtonSubType, MediaParameter, MessageKind, TemplateParameter};

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
