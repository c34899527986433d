//! `POST /campaigns`: the JSON body (or a CSV of recipients) read into core's typed
//! [`CampaignRequest`](whatsapi_core::campaign::CampaignRequest), failures under their JSON names.
//!
//! ```
//! use serde_json::json;
//! let body = json!({
//!     "name": "Spring sale",
//!     "template": {"name": "spring_sale", "language": "en_US"},
//!     "recipients": [{"to": "14155552671", "params": ["Sarah"]}, {"to": "447911123456", "timeZone": "Europe/London"}],
//!     "sendWindow": {"from": "09:00", "to": "20:00"},
//!     "ratePerSecond": 10
//! });
//! let parsed = whatsapi_api::parse_campaign(&body).unwrap();
//! assert_eq!(parsed.request.recipients.len(), 2);
//! assert!(!parsed.estimate);
//!
//! let csv = "to,timeZone,name\n14155552671,,Sarah\n447911123456,Europe/London,Tom\n";
//! let rows = whatsapi_api::csv_recipients(csv.as_bytes()).unwrap();
//! assert_eq!(rows[1]["params"], json!(["Tom"]));
//! ```

use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use whatsapi_core::campaign::{
    CampaignRecipient, CampaignRequest, MAX_RECIPIENT_PARAMS, MAX_RECIPIENTS, MAX_TIME_ZONE_CHARS,
    RecipientParams, SendWindow,
};
use whatsapi_core::send::ValidationErrors;
use whatsapi_core::{Error, service::campaign_field as field};

use crate::content::CONTENT_FIELDS;
use crate::parse::{
    parse_content_field, parse_from, parse_recipient, parse_time, parse_validity, type_name,
};

/// The fields of a campaign body besides the content fields (`message`, `template`, `type`, `image`, …).
const CAMPAIGN_FIELDS: &[&str] = &[
    "name",
    "recipients",
    "startAt",
    "sendWindow",
    "ratePerSecond",
    "from",
    "validitySeconds",
    "dry_run",
    "dryRun",
    "estimate",
    "message",
    "template",
    "type",
];

/// The fields of one recipient.
const RECIPIENT_FIELDS: &[&str] = &["to", "recipient", "params", "timeZone"];

/// Most failing recipients listed (the rest are counted).
const MAX_ROW_ERRORS: usize = 50;

/// A campaign body read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCampaign {
    /// The typed campaign.
    pub request: CampaignRequest,
    /// Only estimate what it would send (`"estimate": true`); create nothing.
    pub estimate: bool,
}

/// Reads a `POST /campaigns` body. Every failing field is reported under its JSON path (`recipients[3].to`,
/// `sendWindow.from`), at most 50 recipients' worth.
pub fn parse_campaign(body: &Value) -> Result<ParsedCampaign, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(obj) = body.as_object() else {
        errs.push(
            "body",
            format!("must be a JSON object, got {}", type_name(body)),
        );
        return Err(errs);
    };
    for key in obj.keys() {
        if !CAMPAIGN_FIELDS.contains(&key.as_str()) && !CONTENT_FIELDS.contains(&key.as_str()) {
            errs.push(
                key.as_str(),
                "unknown field; accepted fields are name, recipients, startAt, sendWindow, ratePerSecond, from, \
                 validitySeconds, dry_run, estimate and the content: message, template (or type and one of image, video, audio, \
                 document, sticker, interactive, location, contacts)",
            );
        }
    }
    let name = match obj.get("name") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => {
            errs.push("name", "required: a name for the campaign");
            None
        }
        Some(other) => {
            errs.push(
                "name",
                format!("must be a string, got {}", type_name(other)),
            );
            None
        }
    };
    let content = parse_content_field(obj, "", &mut errs);
    let start_at = match obj.get("startAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => parse_time(s, "startAt", &mut errs),
        Some(other) => {
            errs.push(
                "startAt",
                format!(
                    "must be an ISO 8601 date-time string such as \"2026-05-01T09:00:00Z\", got {}",
                    type_name(other)
                ),
            );
            None
        }
    };
    let send_window = parse_window(obj.get("sendWindow"), &mut errs);
    let rate_per_second = match obj.get("ratePerSecond") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                errs.push(
                    "ratePerSecond",
                    "must be a whole number of messages per second",
                );
                None
            }
        },
        Some(other) => {
            errs.push(
                "ratePerSecond",
                format!("must be a number, got {}", type_name(other)),
            );
            None
        }
    };
    let from = parse_from(obj.get("from"), "from", &mut errs);
    let validity = parse_validity(
        obj.get("validitySeconds"),
        "validitySeconds",
        "counted from each message's planned send time",
        &mut errs,
    );
    let mut dry_run = false;
    for key in ["dry_run", "dryRun"] {
        dry_run |= boolean(obj, key, &mut errs);
    }
    let estimate = boolean(obj, "estimate", &mut errs);
    let recipients = parse_recipients(obj.get("recipients"), &mut errs);
    match (name, content, recipients) {
        (Some(name), Some(content), Some(recipients)) if errs.is_empty() => Ok(ParsedCampaign {
            request: CampaignRequest {
                start_at,
                send_window,
                rate_per_second,
                from,
                validity,
                dry_run,
                ..CampaignRequest::new(name, content, recipients)
            },
            estimate,
        }),
        _ => Err(errs),
    }
}

fn boolean(obj: &Map<String, Value>, key: &str, errs: &mut ValidationErrors) -> bool {
    match obj.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            errs.push(key, format!("must be a boolean, got {}", type_name(other)));
            false
        }
    }
}

fn parse_window(value: Option<&Value>, errs: &mut ValidationErrors) -> Option<SendWindow> {
    let obj = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Object(o)) => o,
        Some(other) => {
            errs.push(
                "sendWindow",
                format!(
                    "must be an object such as {{\"from\": \"09:00\", \"to\": \"20:00\"}}, got {}",
                    type_name(other)
                ),
            );
            return None;
        }
    };
    for key in obj.keys() {
        if key != "from" && key != "to" {
            errs.push(
                format!("sendWindow.{key}"),
                "unknown field; a window has from and to",
            );
        }
    }
    let mut time = |key: &str| match obj.get(key) {
        Some(Value::String(s)) => {
            let t = SendWindow::parse_time(s);
            if t.is_none() {
                errs.push(
                    format!("sendWindow.{key}"),
                    format!("must be a 24-hour time HH:MM such as \"09:00\", got \"{s}\""),
                );
            }
            t
        }
        _ => {
            errs.push(
                format!("sendWindow.{key}"),
                "required: a 24-hour time HH:MM such as \"09:00\"",
            );
            None
        }
    };
    let (from, to) = (time("from"), time("to"));
    let (from, to) = (from?, to?);
    let window = SendWindow::new(from, to);
    if window.is_none() {
        errs.push(
            "sendWindow",
            "from and to are the same time: the window would never open",
        );
    }
    window
}

fn parse_recipients(
    value: Option<&Value>,
    errs: &mut ValidationErrors,
) -> Option<Vec<CampaignRecipient>> {
    let rows = match value {
        Some(Value::Array(rows)) => rows,
        None | Some(Value::Null) => {
            errs.push(
                field::RECIPIENTS,
                "required: an array of recipients, each {\"to\": \"14155552671\", \"params\": [...], \"timeZone\": ...}",
            );
            return None;
        }
        Some(other) => {
            errs.push(
                field::RECIPIENTS,
                format!("must be an array, got {}", type_name(other)),
            );
            return None;
        }
    };
    if rows.is_empty() {
        errs.push(field::RECIPIENTS, "must contain at least one recipient");
        return None;
    }
    if rows.len() > MAX_RECIPIENTS {
        errs.push(
            field::RECIPIENTS,
            format!(
                "at most {MAX_RECIPIENTS} recipients per campaign, got {}",
                rows.len()
            ),
        );
        return None;
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut failing = 0usize;
    for (i, row) in rows.iter().enumerate() {
        let mut row_errs = ValidationErrors::default();
        let parsed = parse_row(row, &format!("recipients[{i}]"), &mut row_errs);
        if row_errs.is_empty() {
            out.extend(parsed);
        } else {
            failing += 1;
            if failing <= MAX_ROW_ERRORS {
                errs.0.extend(row_errs.0);
            }
        }
    }
    if failing > MAX_ROW_ERRORS {
        errs.push(
            field::RECIPIENTS,
            format!("{failing} recipients are invalid; the first {MAX_ROW_ERRORS} are listed"),
        );
    }
    (failing == 0).then_some(out)
}

fn parse_row(row: &Value, prefix: &str, errs: &mut ValidationErrors) -> Option<CampaignRecipient> {
    let Some(obj) = row.as_object() else {
        errs.push(
            prefix,
            format!(
                "must be an object such as {{\"to\": \"14155552671\"}}, got {}",
                type_name(row)
            ),
        );
        return None;
    };
    for key in obj.keys() {
        if !RECIPIENT_FIELDS.contains(&key.as_str()) {
            errs.push(
                format!("{prefix}.{key}"),
                "unknown field; a recipient has to (or recipient), params and timeZone",
            );
        }
    }
    let to = parse_recipient(obj, prefix, errs);
    let params = match obj.get("params") {
        None | Some(Value::Null) => RecipientParams::None,
        Some(Value::Array(items)) => {
            let mut texts = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => texts.push(s.clone()),
                    other => errs.push(
                        format!("{prefix}.params[{j}]"),
                        format!("must be a string, got {}", type_name(other)),
                    ),
                }
            }
            RecipientParams::Positional(texts)
        }
        Some(Value::Object(named)) => {
            let mut texts = Vec::with_capacity(named.len());
            for (k, v) in named {
                match v {
                    Value::String(s) => texts.push((k.clone(), s.clone())),
                    other => errs.push(
                        format!("{prefix}.params.{k}"),
                        format!("must be a string, got {}", type_name(other)),
                    ),
                }
            }
            RecipientParams::Named(texts)
        }
        Some(other) => {
            errs.push(
                format!("{prefix}.params"),
                format!(
                    "must be an array of texts ({{{{1}}}}, {{{{2}}}}, …) or an object of named texts, got {}",
                    type_name(other)
                ),
            );
            RecipientParams::None
        }
    };
    if params.len() > MAX_RECIPIENT_PARAMS {
        errs.push(
            format!("{prefix}.params"),
            format!("at most {MAX_RECIPIENT_PARAMS} parameters per recipient"),
        );
    }
    let time_zone = match obj.get("timeZone") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => match parse_zone(s) {
            Some(z) => Some(z),
            None => {
                errs.push(
                    format!("{prefix}.timeZone"),
                    format!(
                        "'{}' is not an IANA time zone name such as Europe/London or America/New_York",
                        s.chars().take(MAX_TIME_ZONE_CHARS).collect::<String>()
                    ),
                );
                None
            }
        },
        Some(other) => {
            errs.push(
                format!("{prefix}.timeZone"),
                format!("must be a string, got {}", type_name(other)),
            );
            None
        }
    };
    Some(CampaignRecipient {
        to: to?,
        params,
        time_zone,
    })
}

fn parse_zone(s: &str) -> Option<Tz> {
    let s = s.trim();
    if s.len() > MAX_TIME_ZONE_CHARS {
        return None;
    }
    s.parse::<Tz>().ok()
}

/// Reads a CSV of recipients (a header row, then one recipient per row) into the JSON rows of
/// `recipients`: the `to` column (or `recipient` for a BSUID), an optional `timeZone` column, and every other
/// column, in order, a positional template parameter (`{{1}}`, `{{2}}`, …). Column names are matched without
/// regard to case; empty cells of `timeZone` are left out. Malformed CSV is a failure naming its line.
pub fn csv_recipients(bytes: &[u8]) -> Result<Vec<Value>, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errs.push("recipients", format!("unreadable CSV header: {e}"));
            return Err(errs);
        }
    };
    let mut to = None;
    let mut recipient = None;
    let mut zone = None;
    let mut params = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        match h.to_ascii_lowercase().as_str() {
            "to" | "phone" => to = Some(i),
            "recipient" => recipient = Some(i),
            "timezone" | "time_zone" => zone = Some(i),
            _ => params.push(i),
        }
    }
    if to.is_none() && recipient.is_none() {
        errs.push(
            "recipients",
            "the CSV needs a to column (E.164 digits) or a recipient column (BSUID) in its header row",
        );
        return Err(errs);
    }
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errs.push("recipients", format!("CSV line {line}: {e}"));
                return Err(errs);
            }
        };
        if rows.len() >= MAX_RECIPIENTS {
            errs.push(
                "recipients",
                format!("at most {MAX_RECIPIENTS} recipients per campaign"),
            );
            return Err(errs);
        }
        let mut row = Map::new();
        let cell = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
        };
        if let Some(v) = cell(to) {
            row.insert("to".into(), v);
        }
        if let Some(v) = cell(recipient) {
            row.insert("recipient".into(), v);
        }
        if let Some(v) = cell(zone) {
            row.insert("timeZone".into(), v);
        }
        if !params.is_empty() {
            let texts: Vec<Value> = params
                .iter()
                .map(|i| json!(record.get(*i).unwrap_or_default()))
                .collect();
            row.insert("params".into(), Value::Array(texts));
        }
        rows.push(Value::Object(row));
    }
    Ok(rows)
}

/// A campaign call's error with core's field identifiers put back into the JSON names: `start_at` is `startAt`,
/// `recipients[3].text` is `recipients[3].message`.
pub fn campaign_error(e: Error) -> Error {
    match e {
        Error::Validation(v) => Error::Validation(ValidationErrors(
            v.0.into_iter()
                .map(|d| whatsapi_core::send::FieldError {
                    field: campaign_json_field(&d.field),
                    message: d.message,
                })
                .collect(),
        )),
        other => other,
    }
}

fn campaign_json_field(domain: &str) -> String {
    match domain {
        field::START_AT => "startAt".into(),
        field::RATE_PER_SECOND => "ratePerSecond".into(),
        other => match other.split_once("].") {
            Some((head, rest)) if head.starts_with("recipients[") => {
                format!("{head}].{}", crate::answer::json_field(rest))
            }
            _ => crate::answer::json_field(other),
        },
    }
}
