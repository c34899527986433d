//! The request bodies, field by field, for the OpenAPI document and for clients that build bodies in Rust. The
//! server reads bodies with [`parse_send`](crate::parse_send) / [`parse_bulk`](crate::parse_bulk), which report
//! every failing field; these types say what those functions accept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Body of `POST /send-message`: `to`, and exactly one content field: `message`, `template`, or one named like Meta's
/// message type (`image`, `video`, `audio`, `document`, `sticker`, `interactive`, `location`, `contacts`, `reaction`) holding
/// Meta's object for it. Every type but `template` is free-form: Meta delivers it only within 24 hours of the
/// recipient's last message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"to": "14155552671", "message": "Hi Sarah! Your order #1234 has shipped.", "metadata": {"orderId": "1234"}}))]
pub struct SendMessageBody {
    /// Recipient in E.164 digits only (country code first, no `+`, spaces or dashes).
    /// Required unless `recipient` is given; when both are given, Meta delivers by `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "14155552671", pattern = "^[1-9][0-9]{7,14}$")]
    pub to: Option<String>,
    /// The business-scoped user id (BSUID) of a user who hides their phone number behind a WhatsApp username:
    /// two capital letters (country), a period, then up to 128 letters and digits. Use it instead of `to` when
    /// only the BSUID is known (from an inbound message or status); never put a BSUID in `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "US.13491208655302741918",
        pattern = "^[A-Z]{2}\\.[A-Za-z0-9]{1,128}$"
    )]
    pub recipient: Option<String>,
    /// Send as a reply that quotes an earlier message: `message_id` is its WhatsApp id (wamid, e.g. of an
    /// inbound message) or the whatsapi id of one of your sent messages. Any type but `reaction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextBody>,
    /// Free-form text, 1 to 4096 characters (delivered only within 24 hours of the recipient's last message).
    /// Send this or `template`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 4096)]
    pub message: Option<String>,
    /// A template approved by Meta. Send this or `message`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateBody>,
    /// Send at this time (ISO 8601 with a time zone, in the future, at most 35 days ahead) instead of now.
    #[serde(rename = "sendAt", default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, example = "2026-05-01T09:00:00Z")]
    pub send_at: Option<String>,
    /// How long the message may wait to be sent, in whole seconds from acceptance (1 to 2592000, i.e. 30 days), as
    /// Twilio's `ValidityPeriod`: if it is still queued, scheduled or retrying then (an open circuit breaker,
    /// pacing, retry backoff), it ends `failed` with the `errorMessage` "expired before it could be sent…" and is
    /// never sent. A `sendAt` later than the expiry is refused. Without it the account's
    /// `defaultValiditySeconds` applies, else the message never expires.
    #[serde(
        rename = "validitySeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1, maximum = 2592000, example = 600)]
    pub validity_seconds: Option<u64>,
    /// Your own key/value data (at most 16 KiB of JSON), kept with the message and echoed in its webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Store and track the message without handing it to Meta (no credentials needed). `dryRun` is accepted too.
    #[serde(default, alias = "dryRun", skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The message type as Meta names it (`text` for `message`). Optional; when given it must name the content
    /// field that is present.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageType>,
    /// An image (JPEG or PNG, up to 5 MB) by `link` or uploaded `id`, with an optional `caption` (≤ 1024
    /// characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageBody>,
    /// A video (MP4 or 3GPP, up to 16 MB) by `link` or `id`, with an optional `caption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoBody>,
    /// An audio file or voice message (AAC, AMR, MP3, M4A, OGG/Opus; up to 16 MB) by `link` or `id`; no caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioBody>,
    /// A document (up to 100 MB) by `link` or `id`, with an optional `caption` and the `filename` shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentBody>,
    /// A WebP sticker (100 KB static, 500 KB animated) by `link` or `id`; no caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticker: Option<StickerBody>,
    /// Reply buttons (`button`, 1 to 3), a `list` (up to 10 sections and 10 rows in all) or a `cta_url` button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<InteractiveBody>,
    /// A map pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationBody>,
    /// One or more contact cards, Meta's contact objects (each with `name.formatted_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!([{"name": {"formatted_name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace"},
        "phones": [{"phone": "+14155552671", "type": "CELL", "wa_id": "14155552671"}],
        "emails": [{"email": "ada@example.com", "type": "WORK"}], "org": {"company": "Analytical Engines Ltd"}}]))]
    pub contacts: Option<Vec<ContactBody>>,
    /// An emoji reaction to one of the recipient's messages (by its WhatsApp id); an empty emoji removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<ReactionBody>,
}

/// What a reply quotes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"message_id": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUZCNjRENzg1QjM1NDk3QkQ5RgA="}))]
pub struct ContextBody {
    /// The WhatsApp message id (wamid) or the whatsapi message id of the message replied to.
    #[schema(min_length = 1, max_length = 256)]
    pub message_id: String,
}

macro_rules! media_message_body {
    ($(#[$doc:meta])* $name:ident, $example:tt) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        #[schema(example = json!($example))]
        pub struct $name {
            /// A public http(s) URL Meta downloads the file from. Give this or `id`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub link: Option<String>,
            /// The id of media uploaded to Meta. Give this or `link`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            /// Caption, at most 1024 characters (image, video and document only).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub caption: Option<String>,
            /// File name shown to the recipient (document only).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub filename: Option<String>,
        }
    };
}

media_message_body!(
    /// An image message's object: JPEG or PNG, up to 5 MB, by `link` or `id`, with an optional `caption`.
    ImageBody, {"link": "https://example.com/receipt.png", "caption": "Your receipt"}
);
media_message_body!(
    /// A video message's object: MP4 or 3GPP, up to 16 MB, by `link` or `id`, with an optional `caption`.
    VideoBody, {"id": "1013859600285441", "caption": "How to assemble it"}
);
media_message_body!(
    /// An audio message's object: AAC, AMR, MP3, M4A or OGG (Opus), up to 16 MB, by `link` or `id`; no caption.
    AudioBody, {"link": "https://example.com/voice.ogg"}
);
media_message_body!(
    /// A document message's object: up to 100 MB, by `link` or `id`, with an optional `caption` and `filename`.
    DocumentBody, {"link": "https://example.com/invoice.pdf", "caption": "Invoice #1042", "filename": "invoice-1042.pdf"}
);
media_message_body!(
    /// A sticker message's object: WebP (100 KB static, 500 KB animated), by `link` or `id`; no caption.
    StickerBody, {"id": "798882015472548"}
);

/// Meta's message types, as `type` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// `message`: free-form text.
    Text,
    /// `template`.
    Template,
    /// `image`.
    Image,
    /// `video`.
    Video,
    /// `audio`.
    Audio,
    /// `document`.
    Document,
    /// `sticker`.
    Sticker,
    /// `interactive`.
    Interactive,
    /// `location`.
    Location,
    /// `contacts`.
    Contacts,
    /// `reaction`.
    Reaction,
}

/// An interactive message in Meta's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"type": "button", "header": {"type": "text", "text": "Booking"},
    "body": {"text": "Confirm your booking for Friday 9:00?"}, "footer": {"text": "Reply by 6 pm"},
    "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                           {"type": "reply", "reply": {"id": "no", "title": "No"}}]}}))]
pub struct InteractiveBody {
    /// `button`, `list` or `cta_url`.
    #[serde(rename = "type")]
    #[schema(example = "button")]
    pub kind: String,
    /// Optional header: `{"type": "text", "text": …}` (≤ 60 characters), or for `button` and `cta_url` an
    /// `image`, `video` or `document` by `link` or `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({"type": "image", "image": {"link": "https://example.com/banner.png"}}))]
    pub header: Option<Value>,
    /// `{"text": …}`, 1 to 1024 characters.
    pub body: TextObject,
    /// Optional `{"text": …}`, at most 60 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<TextObject>,
    /// For `button`: `{"buttons": [{"type": "reply", "reply": {"id", "title"}}]}` (titles ≤ 20 characters, ids
    /// ≤ 256, both unique). For `list`: `{"button": label, "sections": [{"title", "rows": [{"id", "title",
    /// "description"}]}]}` (a title per section when there are several; row titles ≤ 24, descriptions ≤ 72). For
    /// `cta_url`: `{"name": "cta_url", "parameters": {"display_text", "url"}}`.
    #[schema(value_type = Object, example = json!({"button": "Slots", "sections": [{"title": "Monday", "rows": [
        {"id": "mon-9", "title": "9:00", "description": "Morning"}, {"id": "mon-14", "title": "14:00"}]}]}))]
    pub action: Value,
}

/// `{"text": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextObject {
    /// The text.
    #[schema(example = "Confirm your booking?")]
    pub text: String,
}

/// A location pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"latitude": 37.4847, "longitude": -122.1473, "name": "Head office", "address": "1 Hacker Way, Menlo Park"}))]
pub struct LocationBody {
    /// Degrees, -90 to 90.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: f64,
    /// Degrees, -180 to 180.
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: f64,
    /// Name of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A contact card in Meta's shape: a `name` with `formatted_name` (required, ≤ 1000 characters), and optional
/// `phones`, `emails`, `urls`, `addresses` (each at most 20), `org` and `birthday` (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": {"formatted_name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace"},
    "phones": [{"phone": "+14155552671", "type": "CELL", "wa_id": "14155552671"}],
    "emails": [{"email": "ada@example.com", "type": "WORK"}],
    "urls": [{"url": "https://example.com", "type": "WORK"}],
    "addresses": [{"street": "1 Hacker Way", "city": "Menlo Park", "state": "CA", "zip": "94025",
                   "country": "United States", "country_code": "US", "type": "WORK"}],
    "org": {"company": "Analytical Engines Ltd", "department": "Research", "title": "Engineer"},
    "birthday": "1815-12-10"}))]
pub struct ContactBody {
    /// `{"formatted_name", "first_name", "last_name", "middle_name", "suffix", "prefix"}`; `formatted_name` is
    /// required.
    #[schema(value_type = Object, example = json!({"formatted_name": "Ada Lovelace", "first_name": "Ada"}))]
    pub name: Value,
    /// `[{"phone", "type", "wa_id"}]` (`type`: `CELL`, `MAIN`, `IPHONE`, `HOME` or `WORK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub phones: Option<Vec<Value>>,
    /// `[{"email", "type"}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub emails: Option<Vec<Value>>,
    /// `[{"url", "type"}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub urls: Option<Vec<Value>>,
    /// `[{"street", "city", "state", "zip", "country", "country_code", "type"}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub addresses: Option<Vec<Value>>,
    /// `{"company", "department", "title"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub org: Option<Value>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "1815-12-10")]
    pub birthday: Option<String>,
}

/// A reaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"message_id": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI", "emoji": "\u{1F44D}"}))]
pub struct ReactionBody {
    /// The WhatsApp id (wamid) of the message reacted to.
    pub message_id: String,
    /// One emoji, or empty to remove the reaction.
    pub emoji: String,
}

/// Body of `POST /messages/bulk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"messages": [
    {"to": "14155552671", "message": "Hi Alice"},
    {"to": "14155552672", "template": {"name": "order_ready", "language": "en_US", "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Bob"}, {"type": "text", "text": "#1042"}]}]}}
]}))]
pub struct BulkSendBody {
    /// The messages, each with the fields of a single send; at most the plan's bulk limit.
    #[schema(min_items = 1)]
    pub messages: Vec<SendMessageBody>,
}

/// A template by name and language, with the parameters of its components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "order_shipped", "language": "en_US", "components": [
    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/parcel.jpg"}}]},
    {"type": "body", "parameters": [
        {"type": "text", "text": "Sarah"},
        {"type": "currency", "currency": {"fallback_value": "$10.99", "code": "USD", "amount_1000": 10990}},
        {"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}}
    ]},
    {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "track/1042"}]}
]}))]
pub struct TemplateBody {
    /// The name as approved by Meta: lowercase letters, digits and underscores.
    #[schema(example = "order_ready", pattern = "^[a-z0-9_]+$", max_length = 512)]
    pub name: String,
    /// Language code such as `en_US` or `pt_BR` (Meta's `{"code": "en_US"}` is accepted too).
    #[schema(example = "en_US")]
    pub language: String,
    /// Parameters per component: at most one header and one body, and any buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentBody>,
}

/// Kind of template component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ComponentType {
    /// The header (one text, media or location parameter).
    Header,
    /// The body (`{{1}}`, `{{2}}`, …).
    Body,
    /// A button (needs `sub_type` and `index`).
    Button,
}

/// Kind of button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ButtonType {
    /// Quick reply: one `payload` parameter.
    QuickReply,
    /// Call-to-action URL: one `text` parameter, the URL's variable suffix.
    Url,
    /// Copy code: one `coupon_code` parameter.
    CopyCode,
    /// Flow: one `action` parameter.
    Flow,
}

/// One component of a template with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComponentBody {
    /// `header`, `body` or `button`.
    #[serde(rename = "type")]
    pub kind: ComponentType,
    /// For buttons: the kind of button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<ButtonType>,
    /// For buttons: its position in the template, 0 to 9 (a number or a numeric string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 9)]
    pub index: Option<u8>,
    /// The parameters, in order. A header takes at most one: text (up to 60 characters), image, document, video
    /// (by https link or uploaded id, no caption) or location; a body takes text, currency and date_time, its text
    /// parameters all named or none; a button exactly one: payload (quick_reply), text (url), coupon_code
    /// (copy_code) or action (flow). Each button index is given once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterBody>,
}

/// Kind of template parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParameterType {
    /// `text`, at most 1024 characters.
    Text,
    /// `currency`.
    Currency,
    /// `date_time`.
    DateTime,
    /// `image` (headers).
    Image,
    /// `document` (headers).
    Document,
    /// `video` (headers).
    Video,
    /// `payload` (quick-reply buttons).
    Payload,
    /// `coupon_code` (copy-code buttons).
    CouponCode,
    /// `location` (headers).
    Location,
    /// `action` (flow buttons).
    Action,
}

/// One parameter; the field named like its `type` holds the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"type": "text", "text": "Sarah"}))]
pub struct ParameterBody {
    /// Which kind of value this is.
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// For `text` in a template with named parameters: the placeholder's name (`first_name` for
    /// `{{first_name}}`); lowercase letters, digits and underscores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "first_name", pattern = "^[a-z0-9_]+$")]
    pub parameter_name: Option<String>,
    /// For `text`: the text, 1 to 1024 characters (60 in a header; no new lines or tabs in a body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub text: Option<String>,
    /// For `payload`: returned in the webhook when the button is tapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// For `coupon_code`: the code copied, at most 15 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_code: Option<String>,
    /// For `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyBody>,
    /// For `date_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_time: Option<DateTimeBody>,
    /// For `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<MediaBody>,
    /// For `document`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<MediaBody>,
    /// For `video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<MediaBody>,
    /// For `location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationBody>,
    /// For `action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<FlowActionBody>,
}

/// What a flow button opens the flow with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"flow_token": "booking-1042", "flow_action_data": {"date": "2026-05-01"}}))]
pub struct FlowActionBody {
    /// Identifies this flow session in the flow's data exchange; Meta uses `unused` when it is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    /// Data for the flow's first screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub flow_action_data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyBody {
    /// Shown when the amount cannot be localised.
    #[schema(example = "$10.99")]
    pub fallback_value: String,
    /// ISO 4217 code.
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    pub code: String,
    /// The amount times 1000.
    #[schema(example = 10990)]
    pub amount_1000: i64,
}

/// A date shown as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DateTimeBody {
    /// The text shown.
    #[schema(example = "May 1, 2026")]
    pub fallback_value: String,
}

/// Media by link or by uploaded id: `link` or `id` is required (a media message takes exactly one of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MediaBody {
    /// A public http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A media id from Meta's upload API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// File name shown for documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// The body of `POST /campaigns`: one content (`message`, `template`, or another type's field) for every
/// recipient, a template's body parameters filled per recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Spring sale", "template": {"name": "spring_sale", "language": "en_US"},
    "recipients": [{"to": "14155552671", "params": ["Sarah"]}, {"to": "447911123456", "params": ["Tom"], "timeZone": "Europe/London"}],
    "sendWindow": {"from": "09:00", "to": "20:00"}, "ratePerSecond": 10}))]
pub struct CampaignBody {
    /// A name for people, 1 to 200 characters.
    #[schema(example = "Spring sale", min_length = 1, max_length = 200)]
    pub name: String,
    /// Free-form text for every recipient (only delivered inside each one's 24-hour window). This or `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A template approved by Meta; each recipient's `params` replace its body parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateBody>,
    /// 1 to 100,000 recipients.
    pub recipients: Vec<CampaignRecipientBody>,
    /// The first send time (ISO 8601 with a time zone, at most 35 days ahead); default now.
    #[serde(rename = "startAt", default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, example = "2026-05-01T09:00:00Z")]
    pub start_at: Option<String>,
    /// Send only inside this daily window of each recipient's clock.
    #[serde(
        rename = "sendWindow",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub send_window: Option<SendWindowBody>,
    /// At most this many messages per second (1 to 1,000), spread evenly.
    #[serde(
        rename = "ratePerSecond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1, maximum = 1000, example = 10)]
    pub rate_per_second: Option<u32>,
    /// The business number to send from: the `phoneNumberId` of one of the account's numbers (`GET /numbers`);
    /// default the account's default number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "106540352242922", max_length = 32)]
    pub from: Option<String>,
    /// How long each message may wait, counted from its own planned send time, before it expires unsent (1 to
    /// 2,592,000 seconds); a message still held then (a pause, an open breaker, retries) ends `failed` and is never
    /// sent. Default the account's `defaultValiditySeconds`, else never.
    #[serde(
        rename = "validitySeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1, maximum = 2592000, example = 86400)]
    pub validity_seconds: Option<u64>,
    /// Simulate the sends without calling Meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Only answer what the campaign would send (recipients by country, first and last send time); create
    /// nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<bool>,
}

/// One recipient of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CampaignRecipientBody {
    /// E.164 digits; this or `recipient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "14155552671", pattern = "^[1-9][0-9]{7,14}$")]
    pub to: Option<String>,
    /// A business-scoped user id (BSUID); this or `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The template's body parameters for this recipient: texts for `{{1}}`, `{{2}}`, … (an array), or named
    /// ones (an object), at most 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, example = json!(["Sarah"]))]
    pub params: Option<serde_json::Value>,
    /// The recipient's IANA time zone (`Europe/London`); default: the zone of the number's country calling code.
    #[serde(rename = "timeZone", default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Europe/London")]
    pub time_zone: Option<String>,
}

/// A daily window in local time; `to` before `from` spans midnight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SendWindowBody {
    /// Opening time, `HH:MM` (24-hour).
    #[schema(example = "09:00", pattern = "^[0-2][0-9]:[0-5][0-9]$")]
    pub from: String,
    /// Closing time, `HH:MM` (24-hour).
    #[schema(example = "20:00", pattern = "^[0-2][0-9]:[0-5][0-9]$")]
    pub to: String,
}
