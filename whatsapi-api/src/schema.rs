//! The request bodies, field by field, for the OpenAPI document and for clients that build bodies in Rust. The
//! server reads bodies with [`parse_send`](crate::parse_send) / [`parse_bulk`](crate::parse_bulk), which report
//! every failing field; these types say what those functions accept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Body of `POST /send-message`: `to`, and either `message` or `template`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"to": "14155552671", "message": "Hi Sarah! Your order #1234 has shipped.", "metadata": {"orderId": "1234"}}))]
pub struct SendMessageBody {
    /// Recipient in E.164 digits only (country code first, no `+`, spaces or dashes).
    #[schema(example = "14155552671", pattern = "^[1-9][0-9]{6,14}$")]
    pub to: String,
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
    /// Your own key/value data (at most 16 KiB of JSON), kept with the message and echoed in its webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Store and track the message without handing it to Meta (no credentials needed). `dryRun` is accepted too.
    #[serde(default, alias = "dryRun", skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
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
    /// The header (text or media parameter).
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
    /// Quick reply: a `payload` (or `text`) parameter.
    QuickReply,
    /// Call-to-action URL: a `text` parameter, the URL's variable suffix.
    Url,
    /// Copy code: a `coupon_code` parameter.
    CopyCode,
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
    /// The parameters, in order. Headers take text, image, document or video; bodies text, currency or
    /// date_time; buttons payload, text or coupon_code.
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
}

/// One parameter; the field named like its `type` holds the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"type": "text", "text": "Sarah"}))]
pub struct ParameterBody {
    /// Which kind of value this is.
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// For `text`: the text, 1 to 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub text: Option<String>,
    /// For `payload`: returned in the webhook when the button is tapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// For `coupon_code`: the code copied.
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

/// Media by link or by uploaded id: `link` or `id` is required.
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
