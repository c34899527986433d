//! The `MetaTransport` of Meta's WhatsApp Cloud API (Graph API over HTTPS).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::account::MetaCredentials;
use crate::message::{
    Interactive, InteractiveAction, InteractiveHeader, Location, MediaParameter, MessageContent,
    MessageKind, Template, TemplateComponent, TemplateParameter,
};
use crate::templates::{TemplatePage, parse_page};
use crate::transport::{
    MediaDownload, MediaFile, MediaInfo, MetaTransport, OutgoingMessage, PhoneNumberInfo,
    SendError, SendReceipt,
};

/// Longest time one media upload may take (a 100 MB document over a slow link).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// The Graph API version used unless configured (`--meta-api-version`): v25.0, released 18 February 2026; Meta
/// keeps each version available for about two years. The sandbox accepts any `vMAJOR.MINOR`.
pub const DEFAULT_API_VERSION: &str = "v25.0";

/// Where and how to reach the Graph API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// Base URL, default `https://graph.facebook.com`.
    pub base_url: String,
    /// API version, default [`DEFAULT_API_VERSION`].
    pub api_version: String,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            base_url: "https://graph.facebook.com".to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout: Duration::from_secs(15),
        }
    }
}

/// Sends through `POST {base}/{version}/{phone_number_id}/messages`. One client, so connections are reused.
#[derive(Debug, Clone)]
pub struct GraphTransport {
    client: reqwest::Client,
    base: String,
}

impl GraphTransport {
    /// A transport with its own connection pool.
    pub fn new(config: GraphConfig) -> Result<Self, SendError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("whatsapi/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::network(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: format!(
                "{}/{}",
                config.base_url.trim_end_matches('/'),
                config.api_version.trim_matches('/')
            ),
        })
    }

    fn phone_url(&self, creds: &MetaCredentials) -> Result<String, SendError> {
        // The id becomes part of the path: refuse anything that could change the URL.
        if creds.phone_number_id.is_empty()
            || !creds.phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(SendError::meta(400, 100, "phone number id must be numeric"));
        }
        Ok(format!("{}/{}", self.base, creds.phone_number_id))
    }

    /// Whether the access token may be sent to `url` (a media download URL Meta answered): the configured Graph
    /// host itself (the sandbox serves downloads there), or HTTPS on one of Meta's domains.
    fn may_carry_token(&self, url: &str) -> bool {
        let (Ok(target), Ok(base)) = (url::Url::parse(url), url::Url::parse(&self.base)) else {
            return false;
        };
        if target.origin() == base.origin() {
            return true;
        }
        let host = target.host_str().unwrap_or_default().to_ascii_lowercase();
        target.scheme() == "https"
            && ["fbsbx.com", "facebook.com", "fbcdn.net", "whatsapp.net"]
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    }
}

/// The JSON body that marks the inbound message `wamid` read, with a typing indicator when asked.
pub fn read_body(wamid: &str, typing_indicator: bool) -> Value {
    let mut body = json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid});
    if typing_indicator {
        body["typing_indicator"] = json!({"type": "text"});
    }
    body
}

/// Whether `id` can be put in a Graph URL path as a media id (Meta's are digits; letters are let through).
fn valid_media_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Answers the body of a 2xx response, or Meta's error.
async fn answer(resp: reqwest::Response) -> Result<bytes::Bytes, SendError> {
    let status = resp.status().as_u16();
    let hint = retry_after(&resp);
    let bytes = resp.bytes().await.map_err(network_error)?;
    if !(200..300).contains(&status) {
        return Err(parse_error(status, &bytes, hint));
    }
    Ok(bytes)
}

/// [`answer`], refusing a body longer than `max` bytes (read chunk by chunk, never whole first).
async fn bounded_answer(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<bytes::Bytes, SendError> {
    let status = resp.status().as_u16();
    let hint = retry_after(&resp);
    let too_long = || SendError::network(format!("Meta's answer is longer than {max} bytes"));
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(network_error)? {
        if body.len() + chunk.len() > max {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    if !(200..300).contains(&status) {
        return Err(parse_error(status, &body, hint));
    }
    Ok(body.into())
}

/// Templates asked for per page (Meta's default is 25).
const TEMPLATE_PAGE_LIMIT: &str = "100";
/// Longest answer read for one page of templates.
const MAX_TEMPLATE_PAGE_BYTES: usize = 4 * 1024 * 1024;

fn json_answer(bytes: &[u8]) -> Result<Value, SendError> {
    serde_json::from_slice(bytes)
        .map_err(|e| SendError::network(format!("Meta answered with invalid JSON: {e}")))
}

/// Reads `GET /{media_id}`'s answer; `file_size` may come as a number or a string.
fn media_info_of(v: &Value, asked: &str) -> MediaInfo {
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    MediaInfo {
        id: text("id").unwrap_or_else(|| asked.to_owned()),
        url: text("url"),
        mime_type: text("mime_type"),
        sha256: text("sha256"),
        file_size: v["file_size"]
            .as_u64()
            .or_else(|| v["file_size"].as_str().and_then(|s| s.parse().ok())),
    }
}

/// The JSON body Meta expects for one message.
pub fn message_body(msg: &OutgoingMessage) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
    });
    // A user behind a username is addressed by BSUID in `recipient` (Meta ignores a BSUID put in `to`); when the
    // phone number is known too, both go and Meta delivers by `to`.
    if let Some(phone) = msg.to.phone_number() {
        body["to"] = json!(phone.as_str());
    }
    if let Some(user) = msg.to.user_id() {
        body["recipient"] = json!(user.as_str());
    }
    if let Some(reply_to) = &msg.reply_to {
        body["context"] = json!({"message_id": reply_to});
    }
    body["biz_opaque_callback_data"] = json!(msg.message_id.to_string());
    let (kind, object) = content_body(&msg.content);
    body["type"] = json!(kind);
    body[kind] = object;
    body
}

/// Meta's `type` of a message with this content and the object Meta takes under the field of that name (what
/// [`message_body`] puts beside the envelope): `("image", {"link": …, "caption": …})`, `("text", {"body": …})`, ….
pub fn content_body(content: &MessageContent) -> (&'static str, Value) {
    let kind = content.kind();
    let object = match content {
        MessageContent::Text { body: text } => json!({
            "preview_url": text.contains("https://") || text.contains("http://"),
            "body": text,
        }),
        MessageContent::Template(t) => template_body(t),
        MessageContent::Image(m)
        | MessageContent::Video(m)
        | MessageContent::Audio(m)
        | MessageContent::Document(m)
        | MessageContent::Sticker(m) => {
            media_body(m, kind.takes_caption(), kind == MessageKind::Document)
        }
        MessageContent::Interactive(i) => interactive_body(i),
        MessageContent::Location(l) => location_body(l),
        MessageContent::Contacts(c) => json!(c),
        MessageContent::Reaction(r) => json!({"message_id": r.message_id, "emoji": r.emoji}),
    };
    (kind.as_str(), object)
}

/// A media object as Meta takes it: `id` when the media was uploaded, else `link`; `caption` and `filename` only
/// where the type has them.
fn media_body(m: &MediaParameter, caption: bool, filename: bool) -> Value {
    let mut o = match (&m.id, &m.link) {
        (Some(id), _) => json!({"id": id}),
        (None, Some(link)) => json!({"link": link}),
        (None, None) => json!({}),
    };
    if caption {
        if let Some(c) = &m.caption {
            o["caption"] = json!(c);
        }
    }
    if filename {
        if let Some(f) = &m.filename {
            o["filename"] = json!(f);
        }
    }
    o
}

fn interactive_body(i: &Interactive) -> Value {
    let action = match &i.action {
        InteractiveAction::Button { buttons } => json!({
            "buttons": buttons
                .iter()
                .map(|b| json!({"type": "reply", "reply": {"id": b.id, "title": b.title}}))
                .collect::<Vec<_>>(),
        }),
        InteractiveAction::List { button, sections } => json!({
            "button": button,
            "sections": sections
                .iter()
                .map(|s| {
                    let mut o = json!({"rows": s.rows.iter().map(|r| {
                        let mut row = json!({"id": r.id, "title": r.title});
                        if let Some(d) = &r.description {
                            row["description"] = json!(d);
                        }
                        row
                    }).collect::<Vec<_>>()});
                    if let Some(t) = &s.title {
                        o["title"] = json!(t);
                    }
                    o
                })
                .collect::<Vec<_>>(),
        }),
        InteractiveAction::CtaUrl { display_text, url } => json!({
            "name": "cta_url",
            "parameters": {"display_text": display_text, "url": url},
        }),
    };
    let mut o = json!({"type": i.action.kind(), "body": {"text": i.body}, "action": action});
    if let Some(h) = &i.header {
        o["header"] = match h {
            InteractiveHeader::Text { text } => json!({"type": "text", "text": text}),
            InteractiveHeader::Image { image } => {
                json!({"type": "image", "image": media_body(image, false, false)})
            }
            InteractiveHeader::Video { video } => {
                json!({"type": "video", "video": media_body(video, false, false)})
            }
            InteractiveHeader::Document { document } => {
                json!({"type": "document", "document": media_body(document, false, true)})
            }
        };
    }
    if let Some(f) = &i.footer {
        o["footer"] = json!({"text": f});
    }
    o
}

/// A template as Meta takes it: `language` as `{"code": …}`, button `index` as a string, each parameter in its
/// documented shape (header media without caption; a file name on documents only).
fn template_body(t: &Template) -> Value {
    let mut out = json!({"name": t.name, "language": {"code": t.language}});
    if !t.components.is_empty() {
        let params = |ps: &[TemplateParameter]| ps.iter().map(parameter_body).collect::<Vec<_>>();
        let components: Vec<Value> = t
            .components
            .iter()
            .map(|c| match c {
                TemplateComponent::Header { parameters } => {
                    json!({"type": "header", "parameters": params(parameters)})
                }
                TemplateComponent::Body { parameters } => {
                    json!({"type": "body", "parameters": params(parameters)})
                }
                TemplateComponent::Button {
                    sub_type,
                    index,
                    parameters,
                } => json!({
                    "type": "button",
                    "sub_type": sub_type.as_str(),
                    "index": index.to_string(),
                    "parameters": params(parameters),
                }),
            })
            .collect();
        out["components"] = Value::Array(components);
    }
    out
}

fn parameter_body(p: &TemplateParameter) -> Value {
    match p {
        TemplateParameter::Text {
            parameter_name,
            text,
        } => {
            let mut o = json!({"type": "text", "text": text});
            if let Some(n) = parameter_name {
                o["parameter_name"] = json!(n);
            }
            o
        }
        TemplateParameter::Currency { currency } => json!({"type": "currency", "currency": {
            "fallback_value": currency.fallback_value,
            "code": currency.code,
            "amount_1000": currency.amount_1000,
        }}),
        TemplateParameter::DateTime { date_time } => json!({"type": "date_time", "date_time": {
            "fallback_value": date_time.fallback_value,
        }}),
        TemplateParameter::Image { image } => {
            json!({"type": "image", "image": media_body(image, false, false)})
        }
        TemplateParameter::Video { video } => {
            json!({"type": "video", "video": media_body(video, false, false)})
        }
        TemplateParameter::Document { document } => {
            json!({"type": "document", "document": media_body(document, false, true)})
        }
        TemplateParameter::Location { location } => {
            json!({"type": "location", "location": location_body(location)})
        }
        TemplateParameter::Payload { payload } => json!({"type": "payload", "payload": payload}),
        TemplateParameter::CouponCode { coupon_code } => {
            json!({"type": "coupon_code", "coupon_code": coupon_code})
        }
        TemplateParameter::Action { action } => {
            let mut a = json!({});
            if let Some(t) = &action.flow_token {
                a["flow_token"] = json!(t);
            }
            if let Some(d) = &action.flow_action_data {
                a["flow_action_data"] = Value::Object(d.clone());
            }
            json!({"type": "action", "action": a})
        }
    }
}

fn location_body(l: &Location) -> Value {
    let mut o = json!({"latitude": l.latitude, "longitude": l.longitude});
    if let Some(n) = &l.name {
        o["name"] = json!(n);
    }
    if let Some(a) = &l.address {
        o["address"] = json!(a);
    }
    o
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Parses Meta's error body `{error: {message, type, code, error_subcode, error_data.details, fbtrace_id}}`.
pub fn parse_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> SendError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let message = e["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("Meta answered HTTP {status}")
        } else {
            format!(
                "Meta answered HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            )
        }
    });
    SendError {
        http_status: Some(status),
        code: e["code"].as_i64(),
        subcode: e["error_subcode"].as_i64(),
        message,
        details: e["error_data"]["details"].as_str().map(str::to_owned),
        fbtrace_id: e["fbtrace_id"].as_str().map(str::to_owned),
        retry_after,
    }
}

fn network_error(e: reqwest::Error) -> SendError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    SendError::network(format!("Meta Graph API {kind}: {}", e.without_url()))
}

#[async_trait]
impl MetaTransport for GraphTransport {
    async fn send(
        &self,
        creds: &MetaCredentials,
        msg: &OutgoingMessage,
    ) -> Result<SendReceipt, SendError> {
        let url = format!("{}/messages", self.phone_url(creds)?);
        let resp = self
            .client
            .post(url)
            .bearer_auth(&creds.access_token)
            .json(&message_body(msg))
            .send()
            .await
            .map_err(network_error)?;
        let status = resp.status().as_u16();
        let hint = retry_after(&resp);
        let bytes = resp.bytes().await.map_err(network_error)?;
        if !(200..300).contains(&status) {
            return Err(parse_error(status, &bytes, hint));
        }
        // Only the two ids are read; the rest of the answer is skipped without building a JSON tree.
        let answer: SendAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| SendError::network(format!("Meta answered with invalid JSON: {e}")))?;
        let wamid = answer
            .messages
            .into_iter()
            .next()
            .and_then(|m| m.id)
            .ok_or_else(|| SendError::network("Meta's answer has no messages[0].id".to_owned()))?;
        Ok(SendReceipt {
            wamid,
            wa_id: answer.contacts.into_iter().next().and_then(|c| c.wa_id),
        })
    }

    async fn verify(&self, creds: &MetaCredentials) -> Result<PhoneNumberInfo, SendError> {
        let url = self.phone_url(creds)?;
        let resp = self
            .client
            .get(url)
            .query(&[(
                "fields",
                "verified_name,display_phone_number,quality_rating,throughput,is_on_biz_app",
            )])
            .bearer_auth(&creds.access_token)
            .send()
            .await
            .map_err(network_error)?;
        let status = resp.status().as_u16();
        let hint = retry_after(&resp);
        let bytes = resp.bytes().await.map_err(network_error)?;
        if !(200..300).contains(&status) {
            return Err(parse_error(status, &bytes, hint));
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| SendError::network(format!("Meta answered with invalid JSON: {e}")))?;
        Ok(PhoneNumberInfo {
            id: v["id"]
                .as_str()
                .unwrap_or(&creds.phone_number_id)
                .to_owned(),
            verified_name: v["verified_name"].as_str().unwrap_or_default().to_owned(),
            display_phone_number: v["display_phone_number"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            quality_rating: v["quality_rating"].as_str().map(str::to_owned),
            throughput_level: v["throughput"]["level"].as_str().map(str::to_owned),
            on_business_app: v["is_on_biz_app"].as_bool(),
        })
    }

    async fn upload_media(
        &self,
        creds: &MetaCredentials,
        file: MediaFile,
    ) -> Result<String, SendError> {
        let url = format!("{}/media", self.phone_url(creds)?);
        let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(file.body))
            .file_name(file.filename)
            .mime_str(&file.mime)
            .map_err(|e| SendError::meta(400, 100, format!("invalid MIME type: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", file.mime)
            .part("file", part);
        let resp = self
            .client
            .post(url)
            .bearer_auth(&creds.access_token)
            .timeout(UPLOAD_TIMEOUT)
            .multipart(form)
            .send()
            .await
            .map_err(network_error)?;
        let v = json_answer(&answer(resp).await?)?;
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SendError::network("Meta's upload answer has no id".to_owned()))
    }

    async fn media_info(
        &self,
        creds: &MetaCredentials,
        media_id: &str,
    ) -> Result<MediaInfo, SendError> {
        if !valid_media_id(media_id) {
            return Err(SendError::meta(400, 100, "media id must be alphanumeric"));
        }
        let resp = self
            .client
            .get(format!("{}/{media_id}", self.base))
            .query(&[("phone_number_id", creds.phone_number_id.as_str())])
            .bearer_auth(&creds.access_token)
            .send()
            .await
            .map_err(network_error)?;
        Ok(media_info_of(&json_answer(&answer(resp).await?)?, media_id))
    }

    async fn download_media(
        &self,
        creds: &MetaCredentials,
        url: &str,
    ) -> Result<MediaDownload, SendError> {
        use futures_util::TryStreamExt as _;
        if !self.may_carry_token(url) {
            return Err(SendError::network(
                "Meta's media URL is not on a Meta host; the access token is not sent there"
                    .to_owned(),
            ));
        }
        let resp = self
            .client
            .get(url)
            .bearer_auth(&creds.access_token)
            .timeout(UPLOAD_TIMEOUT)
            .send()
            .await
            .map_err(network_error)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(answer(resp).await.err().unwrap_or_else(|| {
                SendError::network(format!("Meta answered HTTP {status} for the media"))
            }));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        let content_length = resp.content_length();
        let body = resp
            .bytes_stream()
            .map_err(|e| std::io::Error::other(network_error(e).message));
        Ok(MediaDownload {
            content_type,
            content_length,
            body: Box::pin(body),
        })
    }

    async fn list_templates(
        &self,
        creds: &MetaCredentials,
        waba_id: &str,
        after: Option<&str>,
    ) -> Result<TemplatePage, SendError> {
        // The id becomes part of the path and the cursor a query value: refuse anything else.
        if waba_id.is_empty() || waba_id.len() > 32 || !waba_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(SendError::meta(
                400,
                100,
                "WhatsApp Business Account id must be numeric",
            ));
        }
        let mut query = vec![
            (
                "fields",
                "name,language,status,category,id,components,parameter_format",
            ),
            ("limit", TEMPLATE_PAGE_LIMIT),
        ];
        if let Some(a) = after {
            query.push(("after", a));
        }
        let resp = self
            .client
            .get(format!("{}/{waba_id}/message_templates", self.base))
            .query(&query)
            .bearer_auth(&creds.access_token)
            .send()
            .await
            .map_err(network_error)?;
        let bytes = bounded_answer(resp, MAX_TEMPLATE_PAGE_BYTES).await?;
        Ok(parse_page(&json_answer(&bytes)?))
    }

    async fn mark_read(
        &self,
        creds: &MetaCredentials,
        wamid: &str,
        typing_indicator: bool,
    ) -> Result<(), SendError> {
        let url = format!("{}/messages", self.phone_url(creds)?);
        let resp = self
            .client
            .post(url)
            .bearer_auth(&creds.access_token)
            .json(&read_body(wamid, typing_indicator))
            .send()
            .await
            .map_err(network_error)?;
        answer(resp).await.map(drop)
    }
}

/// The parts of a successful send's answer that are used.
#[derive(serde::Deserialize)]
struct SendAnswer {
    #[serde(default, deserialize_with = "null_as_empty")]
    messages: Vec<AnswerId>,
    #[serde(default, deserialize_with = "null_as_empty")]
    contacts: Vec<AnswerContact>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(serde::Deserialize)]
struct AnswerId {
    id: Option<String>,
}

#[derive(serde::Deserialize)]
struct AnswerContact {
    wa_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{
        ButtonSubType, Contact, ContactName, ContactOrg, ContactPhone, FlowAction, ListRow,
        ListSection, MediaSource, MessageId, Reaction, ReplyButton,
    };
    use crate::phone::PhoneNumber;

    #[test]
    fn a_send_answer_gives_the_wamid_and_wa_id() {
        let ok = br#"{"messaging_product":"whatsapp","contacts":[{"input":"+14155552671","wa_id":"14155552671"}],
            "messages":[{"id":"wamid.HBgL","message_status":"accepted"}]}"#;
        let a: SendAnswer = serde_json::from_slice(ok).unwrap();
        assert_eq!(a.messages[0].id.as_deref(), Some("wamid.HBgL"));
        assert_eq!(a.contacts[0].wa_id.as_deref(), Some("14155552671"));
        for partial in [
            &br#"{"messages":null}"#[..],
            br#"{}"#,
            br#"{"messages":[{}]}"#,
        ] {
            let a: SendAnswer = serde_json::from_slice(partial).unwrap();
            assert!(a.messages.into_iter().next().and_then(|m| m.id).is_none());
        }
    }

    #[test]
    fn text_body() {
        let id = MessageId::new();
        let msg = OutgoingMessage {
            message_id: id,
            to: PhoneNumber::parse("14155552671").unwrap().into(),
            reply_to: None,
            content: MessageContent::Text { body: "Hi".into() },
        };
        assert_eq!(
            message_body(&msg),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155552671",
                   "type": "text", "text": {"preview_url": false, "body": "Hi"},
                   "biz_opaque_callback_data": id.to_string()})
        );
    }

    #[test]
    fn a_username_recipient_goes_in_recipient_and_a_reply_carries_its_context() {
        use crate::recipient::{Recipient, UserId};
        let user = UserId::parse("US.13491208655302741918").unwrap();
        let phone = PhoneNumber::parse("14155552671").unwrap();
        let body = |to: Recipient, reply_to: Option<&str>| {
            message_body(&OutgoingMessage {
                message_id: MessageId::new(),
                to,
                content: MessageContent::Text { body: "Hi".into() },
                reply_to: reply_to.map(str::to_owned),
            })
        };
        let only_user = body(Recipient::user(user.clone()), None);
        assert_eq!(only_user["recipient"], "US.13491208655302741918");
        assert!(only_user.get("to").is_none(), "{only_user}");
        assert!(only_user.get("context").is_none(), "{only_user}");
        let both = body(
            Recipient::both(phone, user),
            Some("wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI"),
        );
        assert_eq!(both["to"], "14155552671");
        assert_eq!(both["recipient"], "US.13491208655302741918");
        assert_eq!(
            both["context"],
            json!({"message_id": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI"})
        );
    }

    #[test]
    fn template_body_matches_meta() {
        let msg = OutgoingMessage {
            message_id: MessageId::new(),
            to: PhoneNumber::parse("14155552671").unwrap().into(),
            reply_to: None,
            content: MessageContent::Template(Template {
                name: "order_ready".into(),
                language: "en_US".into(),
                components: vec![
                    TemplateComponent::Header {
                        parameters: vec![TemplateParameter::Image {
                            image: MediaParameter {
                                link: Some("https://example.com/a.png".into()),
                                id: None,
                                filename: None,
                                caption: None,
                            },
                        }],
                    },
                    TemplateComponent::Body {
                        parameters: vec![TemplateParameter::text("Sarah")],
                    },
                    TemplateComponent::Button {
                        sub_type: ButtonSubType::QuickReply,
                        index: 0,
                        parameters: vec![TemplateParameter::Payload {
                            payload: "YES".into(),
                        }],
                    },
                ],
            }),
        };
        let b = message_body(&msg);
        assert_eq!(b["type"], "template");
        assert_eq!(
            b["template"],
            json!({"name": "order_ready", "language": {"code": "en_US"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/a.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Sarah"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "YES"}]}
            ]})
        );
    }

    fn template_of(components: Vec<TemplateComponent>) -> Value {
        let b = body_of(MessageContent::Template(Template {
            name: "receipt".into(),
            language: "en_US".into(),
            components,
        }));
        assert_eq!(b["type"], "template");
        assert_eq!(b["template"]["name"], "receipt");
        assert_eq!(b["template"]["language"], json!({"code": "en_US"}));
        b["template"]["components"].clone()
    }

    #[test]
    fn every_template_parameter_matches_meta() {
        let mut doc = MediaSource::id("1013859600285441").into_media();
        doc.filename = Some("receipt.pdf".into());
        let mut data = serde_json::Map::new();
        data.insert("order".into(), json!("42"));
        let c = template_of(vec![
            TemplateComponent::Header {
                parameters: vec![TemplateParameter::Document { document: doc }],
            },
            TemplateComponent::Body {
                parameters: vec![
                    TemplateParameter::named_text("first_name", "Ana"),
                    TemplateParameter::currency("$12.50", "USD", 12_500),
                    TemplateParameter::date_time("May 1, 2026"),
                ],
            },
            TemplateComponent::Button {
                sub_type: ButtonSubType::Url,
                index: 0,
                parameters: vec![TemplateParameter::text("order/42")],
            },
            TemplateComponent::Button {
                sub_type: ButtonSubType::QuickReply,
                index: 1,
                parameters: vec![TemplateParameter::payload("STOP")],
            },
            TemplateComponent::Button {
                sub_type: ButtonSubType::CopyCode,
                index: 2,
                parameters: vec![TemplateParameter::coupon_code("SAVE10")],
            },
            TemplateComponent::Button {
                sub_type: ButtonSubType::Flow,
                index: 3,
                parameters: vec![TemplateParameter::flow_action(FlowAction {
                    flow_token: Some("tok-1".into()),
                    flow_action_data: Some(data),
                })],
            },
        ]);
        assert_eq!(c.as_array().unwrap().len(), 6);
        assert_eq!(c[0]["type"], "header");
        assert_eq!(
            c[0]["parameters"],
            json!([{"type": "document", "document": {"id": "1013859600285441", "filename": "receipt.pdf"}}])
        );
        assert_eq!(c[1]["type"], "body");
        assert_eq!(
            c[1]["parameters"][0],
            json!({"type": "text", "parameter_name": "first_name", "text": "Ana"})
        );
        assert_eq!(
            c[1]["parameters"][1],
            json!({"type": "currency", "currency": {"fallback_value": "$12.50", "code": "USD", "amount_1000": 12500}})
        );
        assert_eq!(
            c[1]["parameters"][2],
            json!({"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}})
        );
        let buttons = [
            ("url", "0", json!({"type": "text", "text": "order/42"})),
            (
                "quick_reply",
                "1",
                json!({"type": "payload", "payload": "STOP"}),
            ),
            (
                "copy_code",
                "2",
                json!({"type": "coupon_code", "coupon_code": "SAVE10"}),
            ),
            (
                "flow",
                "3",
                json!({"type": "action", "action": {"flow_token": "tok-1", "flow_action_data": {"order": "42"}}}),
            ),
        ];
        for (n, (sub_type, index, parameter)) in buttons.into_iter().enumerate() {
            let b = &c[n + 2];
            assert_eq!(b["type"], "button");
            assert_eq!(b["sub_type"], sub_type);
            assert_eq!(b["index"], index, "the index is a string");
            assert_eq!(b["parameters"], json!([parameter]));
            assert_eq!(b.as_object().unwrap().len(), 4);
        }
    }

    #[test]
    fn template_headers_match_meta() {
        let header = |p: TemplateParameter| {
            template_of(vec![TemplateComponent::Header {
                parameters: vec![p],
            }])[0]["parameters"][0]
                .clone()
        };
        assert_eq!(
            header(TemplateParameter::location(Location {
                latitude: 37.483307,
                longitude: -122.148981,
                name: Some("Pablo Morales".into()),
                address: Some("1 Hacker Way, Menlo Park, CA 94025".into()),
            })),
            json!({"type": "location", "location": {"latitude": 37.483307, "longitude": -122.148981,
                "name": "Pablo Morales", "address": "1 Hacker Way, Menlo Park, CA 94025"}})
        );
        assert_eq!(
            header(TemplateParameter::image(MediaSource::link(
                "https://example.com/a.png"
            ))),
            json!({"type": "image", "image": {"link": "https://example.com/a.png"}})
        );
        assert_eq!(
            header(TemplateParameter::video(MediaSource::id("77"))),
            json!({"type": "video", "video": {"id": "77"}})
        );
        // A file name belongs to documents only, and no header carries a caption.
        let mut img = media(Some("https://example.com/a.png"), None);
        img.filename = Some("a.png".into());
        img.caption = Some("ignored".into());
        assert_eq!(
            header(TemplateParameter::Image { image: img }),
            json!({"type": "image", "image": {"link": "https://example.com/a.png"}})
        );
        assert_eq!(
            header(TemplateParameter::text("Order #42")),
            json!({"type": "text", "text": "Order #42"})
        );
        let empty_flow = template_of(vec![TemplateComponent::Button {
            sub_type: ButtonSubType::Flow,
            index: 0,
            parameters: vec![TemplateParameter::flow_action(FlowAction::default())],
        }]);
        assert_eq!(
            empty_flow[0]["parameters"],
            json!([{"type": "action", "action": {}}])
        );
    }

    fn body_of(content: MessageContent) -> Value {
        let id = MessageId::new();
        let b = message_body(&OutgoingMessage {
            message_id: id,
            to: PhoneNumber::parse("14155552671").unwrap().into(),
            reply_to: None,
            content,
        });
        assert_eq!(b["messaging_product"], "whatsapp");
        assert_eq!(b["recipient_type"], "individual");
        assert_eq!(b["to"], "14155552671");
        assert_eq!(b["biz_opaque_callback_data"], id.to_string());
        b
    }

    fn media(link: Option<&str>, id: Option<&str>) -> MediaParameter {
        MediaParameter {
            link: link.map(str::to_owned),
            id: id.map(str::to_owned),
            filename: None,
            caption: None,
        }
    }

    #[test]
    fn media_bodies_match_meta() {
        let mut img = media(Some("https://example.com/a.png"), None);
        img.caption = Some("Receipt".into());
        let b = body_of(MessageContent::Image(img));
        assert_eq!(b["type"], "image");
        assert_eq!(
            b["image"],
            json!({"link": "https://example.com/a.png", "caption": "Receipt"})
        );

        let mut doc = media(None, Some("1013859600285441"));
        doc.caption = Some("Invoice".into());
        doc.filename = Some("invoice.pdf".into());
        let b = body_of(MessageContent::Document(doc));
        assert_eq!(b["type"], "document");
        assert_eq!(
            b["document"],
            json!({"id": "1013859600285441", "caption": "Invoice", "filename": "invoice.pdf"})
        );

        // Audio and stickers carry no caption or file name, even if one slipped through.
        let mut audio = media(None, Some("42"));
        audio.caption = Some("x".into());
        audio.filename = Some("x.ogg".into());
        let b = body_of(MessageContent::Audio(audio));
        assert_eq!(
            (b["type"].clone(), b["audio"].clone()),
            (json!("audio"), json!({"id": "42"}))
        );
        let b = body_of(MessageContent::Sticker(media(
            Some("https://example.com/s.webp"),
            None,
        )));
        assert_eq!(b["sticker"], json!({"link": "https://example.com/s.webp"}));
        let b = body_of(MessageContent::Video(media(
            Some("https://example.com/v.mp4"),
            None,
        )));
        assert_eq!(b["video"], json!({"link": "https://example.com/v.mp4"}));
        assert_eq!(b.as_object().unwrap().len(), 6, "{b}");
    }

    #[test]
    fn interactive_bodies_match_meta() {
        let b = body_of(MessageContent::Interactive(Interactive {
            header: Some(InteractiveHeader::Text {
                text: "Booking".into(),
            }),
            body: "Confirm?".into(),
            footer: Some("Reply by 6 pm".into()),
            action: InteractiveAction::Button {
                buttons: vec![
                    ReplyButton {
                        id: "yes".into(),
                        title: "Yes".into(),
                    },
                    ReplyButton {
                        id: "no".into(),
                        title: "No".into(),
                    },
                ],
            },
        }));
        assert_eq!(b["type"], "interactive");
        assert_eq!(
            b["interactive"],
            json!({"type": "button", "header": {"type": "text", "text": "Booking"},
                   "body": {"text": "Confirm?"}, "footer": {"text": "Reply by 6 pm"},
                   "action": {"buttons": [
                       {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                       {"type": "reply", "reply": {"id": "no", "title": "No"}}]}})
        );

        let b = body_of(MessageContent::Interactive(Interactive {
            header: None,
            body: "Pick a slot".into(),
            footer: None,
            action: InteractiveAction::List {
                button: "Slots".into(),
                sections: vec![ListSection {
                    title: Some("Monday".into()),
                    rows: vec![
                        ListRow {
                            id: "mon-9".into(),
                            title: "9:00".into(),
                            description: Some("Morning".into()),
                        },
                        ListRow {
                            id: "mon-14".into(),
                            title: "14:00".into(),
                            description: None,
                        },
                    ],
                }],
            },
        }));
        assert_eq!(
            b["interactive"],
            json!({"type": "list", "body": {"text": "Pick a slot"},
                   "action": {"button": "Slots", "sections": [{"title": "Monday", "rows": [
                       {"id": "mon-9", "title": "9:00", "description": "Morning"},
                       {"id": "mon-14", "title": "14:00"}]}]}})
        );

        let b = body_of(MessageContent::Interactive(Interactive {
            header: Some(InteractiveHeader::Image {
                image: media(None, Some("77")),
            }),
            body: "See the dates".into(),
            footer: None,
            action: InteractiveAction::CtaUrl {
                display_text: "See Dates".into(),
                url: "https://example.com/dates".into(),
            },
        }));
        assert_eq!(
            b["interactive"],
            json!({"type": "cta_url", "header": {"type": "image", "image": {"id": "77"}},
                   "body": {"text": "See the dates"},
                   "action": {"name": "cta_url", "parameters": {"display_text": "See Dates", "url": "https://example.com/dates"}}})
        );
    }

    #[test]
    fn contacts_body_matches_meta() {
        let b = body_of(MessageContent::Contacts(vec![
            Contact {
                name: ContactName {
                    formatted_name: "Ada Lovelace".into(),
                    first_name: Some("Ada".into()),
                    ..ContactName::default()
                },
                phones: vec![ContactPhone {
                    phone: Some("+14155552671".into()),
                    kind: Some("CELL".into()),
                    wa_id: Some("14155552671".into()),
                }],
                org: Some(ContactOrg {
                    company: Some("Acme".into()),
                    ..ContactOrg::default()
                }),
                birthday: Some("1815-12-10".into()),
                ..Contact::default()
            },
            Contact::named("Bob"),
        ]));
        assert_eq!(b["type"], "contacts");
        assert_eq!(
            b["contacts"],
            json!([
                {"name": {"formatted_name": "Ada Lovelace", "first_name": "Ada"},
                 "phones": [{"phone": "+14155552671", "type": "CELL", "wa_id": "14155552671"}],
                 "org": {"company": "Acme"}, "birthday": "1815-12-10"},
                {"name": {"formatted_name": "Bob"}}
            ])
        );
    }

    #[test]
    fn location_and_reaction_bodies_match_meta() {
        let b = body_of(MessageContent::Location(Location {
            latitude: 37.4847,
            longitude: -122.1473,
            name: Some("Head office".into()),
            address: Some("1 Hacker Way".into()),
        }));
        assert_eq!(b["type"], "location");
        assert_eq!(
            b["location"],
            json!({"latitude": 37.4847, "longitude": -122.1473, "name": "Head office", "address": "1 Hacker Way"})
        );
        let b = body_of(MessageContent::Location(Location {
            latitude: 0.5,
            longitude: 1.0,
            name: None,
            address: None,
        }));
        assert_eq!(b["location"], json!({"latitude": 0.5, "longitude": 1.0}));

        let b = body_of(MessageContent::Reaction(Reaction {
            message_id: "wamid.HBgL".into(),
            emoji: "\u{1F44D}".into(),
        }));
        assert_eq!(b["type"], "reaction");
        assert_eq!(
            b["reaction"],
            json!({"message_id": "wamid.HBgL", "emoji": "\u{1F44D}"})
        );
    }

    #[test]
    fn read_body_matches_meta() {
        assert_eq!(
            read_body("wamid.X", false),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"})
        );
        assert_eq!(
            read_body("wamid.X", true),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X",
                   "typing_indicator": {"type": "text"}})
        );
    }

    #[test]
    fn the_token_goes_only_to_meta_or_the_configured_graph_host() {
        let meta = GraphTransport::new(GraphConfig::default()).unwrap();
        for ok in [
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
            "https://graph.facebook.com/v25.0/1",
            "https://scontent.xx.fbcdn.net/v/t45.1",
        ] {
            assert!(meta.may_carry_token(ok), "{ok}");
        }
        for refused in [
            "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
            "https://evil.example/fbsbx.com",
            "https://fbsbx.com.evil.example/x",
            "https://evilfbsbx.com/x",
            "not a url",
        ] {
            assert!(!meta.may_carry_token(refused), "{refused}");
        }
        let sandbox = GraphTransport::new(GraphConfig {
            base_url: "http://127.0.0.1:4010".into(),
            ..GraphConfig::default()
        })
        .unwrap();
        assert!(
            sandbox.may_carry_token("http://127.0.0.1:4010/whatsapp_business/attachments/?mid=7")
        );
        assert!(!sandbox.may_carry_token("http://127.0.0.1:4011/x"));
    }

    #[test]
    fn media_info_is_read_liberally() {
        let v = json!({"messaging_product": "whatsapp", "url": "https://x/y", "mime_type": "image/png",
                       "sha256": "ab", "file_size": "303833", "id": "123"});
        let info = media_info_of(&v, "123");
        assert_eq!(info.file_size, Some(303_833));
        assert_eq!(info.url.as_deref(), Some("https://x/y"));
        assert_eq!(media_info_of(&json!({}), "9").id, "9");
        assert!(!valid_media_id("1/../2") && valid_media_id("1234"));
    }

    #[test]
    fn error_body() {
        let body = br#"{"error": {"message": "(#131030) Recipient phone number not in allowed list", "type": "OAuthException",
           "code": 131030, "error_subcode": 2494010, "error_data": {"messaging_product": "whatsapp", "details": "Add it"},
           "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let e = parse_error(400, body, None);
        assert_eq!(e.code, Some(131030));
        assert_eq!(e.subcode, Some(2494010));
        assert_eq!(e.details.as_deref(), Some("Add it"));
        assert_eq!(e.fbtrace_id.as_deref(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
        let e = parse_error(
            502,
            b"<html>bad gateway</html>",
            Some(Duration::from_secs(3)),
        );
        assert_eq!(e.code, None);
        assert_eq!(e.class(), crate::retry::ErrorClass::Transient);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    }
}
