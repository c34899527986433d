//! Messages, their identifiers, content and status.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::recipient::Recipient;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A new time-ordered (UUID v7) identifier.
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}
pub(crate) use uuid_id;

uuid_id!(
    /// Identifies one message (UUID v7, so ids sort by creation time).
    MessageId
);
uuid_id!(
    /// Identifies the messages created by one bulk request.
    BatchId
);

/// Where a message is in its lifecycle. See [`crate::status`] for the legal moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted and waiting for the dispatcher.
    Queued,
    /// Waiting for its `sendAt` time.
    Scheduled,
    /// A worker holds it and is calling Meta.
    Processing,
    /// A transient failure; it will be tried again at `next_attempt_at`.
    Retrying,
    /// Meta accepted it.
    Sent,
    /// It reached the recipient's device.
    Delivered,
    /// The recipient opened it.
    Read,
    /// It will not be delivered; `error_message` says why.
    Failed,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::Queued,
        Status::Scheduled,
        Status::Processing,
        Status::Retrying,
        Status::Sent,
        Status::Delivered,
        Status::Read,
        Status::Failed,
    ];

    /// The small code stores keep for it. Stable: stored files and databases depend on it.
    pub fn code(self) -> u8 {
        match self {
            Status::Queued => 0,
            Status::Scheduled => 1,
            Status::Processing => 2,
            Status::Retrying => 3,
            Status::Sent => 4,
            Status::Delivered => 5,
            Status::Read => 6,
            Status::Failed => 7,
        }
    }

    /// The status of a stored code; `None` for a code no status has.
    pub fn from_code(code: i64) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|s| i64::from(s.code()) == code)
    }

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Scheduled => "scheduled",
            Status::Processing => "processing",
            Status::Retrying => "retrying",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Failed => "failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status '{0}'; expected one of queued, scheduled, processing, retrying, sent, delivered, read, failed"
)]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// What is sent: a free-form text, a Meta-approved template, media, an interactive message, a location, contact
/// cards or a reaction. Media, interactive, location, contacts and reaction content keep Meta's object shape (what Meta receives under
/// the field named like the type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MessageContent {
    /// Free-form text (only inside the 24-hour customer service window).
    Text {
        /// 1–4096 characters.
        body: String,
    },
    /// A template approved by Meta.
    Template(Template),
    /// An image (JPEG or PNG, up to 5 MB), with an optional caption.
    Image(MediaParameter),
    /// A video (MP4 or 3GPP, up to 16 MB), with an optional caption.
    Video(MediaParameter),
    /// An audio file or voice message (up to 16 MB); no caption.
    Audio(MediaParameter),
    /// A document (up to 100 MB), with an optional caption and the file name shown to the recipient.
    Document(MediaParameter),
    /// A sticker (WebP; 100 KB static, 500 KB animated); no caption.
    Sticker(MediaParameter),
    /// Reply buttons, a list or a call-to-action URL button.
    Interactive(Interactive),
    /// A map pin.
    Location(Location),
    /// One or more contact cards (Meta's contact objects).
    Contacts(#[serde(with = "contacts_field")] Vec<Contact>),
    /// An emoji reaction to an earlier message (an empty emoji removes the reaction).
    Reaction(Reaction),
}

impl MessageContent {
    /// The text body, when this is a text message.
    pub fn body(&self) -> Option<&str> {
        match self {
            MessageContent::Text { body } => Some(body),
            _ => None,
        }
    }

    /// The template, when this is a template message.
    pub fn template(&self) -> Option<&Template> {
        match self {
            MessageContent::Template(t) => Some(t),
            _ => None,
        }
    }

    /// The media, when this is an image, video, audio, document or sticker message.
    pub fn media(&self) -> Option<&MediaParameter> {
        match self {
            MessageContent::Image(m)
            | MessageContent::Video(m)
            | MessageContent::Audio(m)
            | MessageContent::Document(m)
            | MessageContent::Sticker(m) => Some(m),
            _ => None,
        }
    }

    /// Meta's name of the message type (`text`, `template`, `image`, `interactive`, …), the `type` of the send.
    pub fn kind(&self) -> MessageKind {
        match self {
            MessageContent::Text { .. } => MessageKind::Text,
            MessageContent::Template(_) => MessageKind::Template,
            MessageContent::Image(_) => MessageKind::Image,
            MessageContent::Video(_) => MessageKind::Video,
            MessageContent::Audio(_) => MessageKind::Audio,
            MessageContent::Document(_) => MessageKind::Document,
            MessageContent::Sticker(_) => MessageKind::Sticker,
            MessageContent::Interactive(_) => MessageKind::Interactive,
            MessageContent::Location(_) => MessageKind::Location,
            MessageContent::Contacts(_) => MessageKind::Contacts,
            MessageContent::Reaction(_) => MessageKind::Reaction,
        }
    }
}

/// The type of a message, named as Meta names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Free-form text.
    Text,
    /// A template.
    Template,
    /// An image.
    Image,
    /// A video.
    Video,
    /// An audio file or voice message.
    Audio,
    /// A document.
    Document,
    /// A sticker.
    Sticker,
    /// An interactive message.
    Interactive,
    /// A location.
    Location,
    /// Contact cards.
    Contacts,
    /// A reaction.
    Reaction,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 11] = [
        MessageKind::Text,
        MessageKind::Template,
        MessageKind::Image,
        MessageKind::Video,
        MessageKind::Audio,
        MessageKind::Document,
        MessageKind::Sticker,
        MessageKind::Interactive,
        MessageKind::Location,
        MessageKind::Contacts,
        MessageKind::Reaction,
    ];

    /// Meta's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Template => "template",
            MessageKind::Image => "image",
            MessageKind::Video => "video",
            MessageKind::Audio => "audio",
            MessageKind::Document => "document",
            MessageKind::Sticker => "sticker",
            MessageKind::Interactive => "interactive",
            MessageKind::Location => "location",
            MessageKind::Contacts => "contacts",
            MessageKind::Reaction => "reaction",
        }
    }

    /// The kind of this name; `None` for a name no kind has.
    pub fn parse(name: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether media of this kind may carry a caption (image, video, document).
    pub fn takes_caption(self) -> bool {
        matches!(
            self,
            MessageKind::Image | MessageKind::Video | MessageKind::Document
        )
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a media file comes from: a public link Meta downloads, or the id of a file uploaded to Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A public HTTPS URL.
    Link(String),
    /// A media id from Meta's upload API.
    Id(String),
}

impl MediaSource {
    /// Media at a public URL.
    pub fn link(url: impl Into<String>) -> Self {
        MediaSource::Link(url.into())
    }

    /// Media uploaded to Meta, by its id.
    pub fn id(id: impl Into<String>) -> Self {
        MediaSource::Id(id.into())
    }

    /// The media object with only this source set.
    pub fn into_media(self) -> MediaParameter {
        let (link, id) = match self {
            MediaSource::Link(l) => (Some(l), None),
            MediaSource::Id(i) => (None, Some(i)),
        };
        MediaParameter {
            link,
            id,
            filename: None,
            caption: None,
        }
    }
}

/// An interactive message in Meta's shape: optional header and footer around a body, and an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interactive {
    /// Shown above the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<InteractiveHeader>,
    /// The message text (`body.text`).
    pub body: String,
    /// Small text below the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// What the recipient can tap.
    pub action: InteractiveAction,
}

/// The header of an interactive message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InteractiveHeader {
    /// A line of text.
    Text {
        /// Up to 60 characters.
        text: String,
    },
    /// An image.
    Image {
        /// The media (no caption).
        image: MediaParameter,
    },
    /// A video.
    Video {
        /// The media (no caption).
        video: MediaParameter,
    },
    /// A document.
    Document {
        /// The media (no caption).
        document: MediaParameter,
    },
}

/// What an interactive message offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InteractiveAction {
    /// One to three reply buttons (Meta's `button` type).
    Button {
        /// The buttons, in order.
        buttons: Vec<ReplyButton>,
    },
    /// A menu of rows in sections, opened by a button (Meta's `list` type).
    List {
        /// Label of the button that opens the list (up to 20 characters).
        button: String,
        /// One to ten sections; ten rows in all.
        sections: Vec<ListSection>,
    },
    /// A button that opens a URL (Meta's `cta_url` type).
    CtaUrl {
        /// Label of the button (up to 20 characters).
        display_text: String,
        /// The URL opened.
        url: String,
    },
}

impl InteractiveAction {
    /// Meta's `interactive.type` for this action.
    pub fn kind(&self) -> &'static str {
        match self {
            InteractiveAction::Button { .. } => "button",
            InteractiveAction::List { .. } => "list",
            InteractiveAction::CtaUrl { .. } => "cta_url",
        }
    }
}

/// A reply button: the recipient's tap comes back with its `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    /// Unique among the buttons, up to 256 characters.
    pub id: String,
    /// Label, up to 20 characters.
    pub title: String,
}

/// One section of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    /// Up to 24 characters; required when there are several sections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The rows.
    pub rows: Vec<ListRow>,
}

/// One row of a list: the recipient's choice comes back with its `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    /// Unique in the list, up to 200 characters.
    pub id: String,
    /// Up to 24 characters.
    pub title: String,
    /// Up to 72 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A location pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Degrees, −90 to 90.
    pub latitude: f64,
    /// Degrees, −180 to 180.
    pub longitude: f64,
    /// Name of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// The stored shape of contacts content: `{"kind": "contacts", "contacts": [...]}` (an internally tagged variant
/// cannot hold a bare sequence).
mod contacts_field {
    use super::Contact;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Out<'a> {
        contacts: &'a [Contact],
    }

    #[derive(Deserialize)]
    struct In {
        contacts: Vec<Contact>,
    }

    pub(super) fn serialize<S: Serializer>(c: &[Contact], s: S) -> Result<S::Ok, S::Error> {
        Out { contacts: c }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Contact>, D::Error> {
        In::deserialize(d).map(|i| i.contacts)
    }
}

/// A contact card, in Meta's shape (what Meta receives in the `contacts` array).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    /// The name; `formatted_name` is required.
    pub name: ContactName,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<ContactPhone>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<ContactEmail>,
    /// Web addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<ContactUrl>,
    /// Postal addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<ContactAddress>,
    /// The organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<ContactOrg>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
}

impl Contact {
    /// A contact with this formatted name and nothing else.
    pub fn named(formatted_name: impl Into<String>) -> Self {
        Contact {
            name: ContactName {
                formatted_name: formatted_name.into(),
                ..ContactName::default()
            },
            ..Contact::default()
        }
    }

    /// Adds a phone number (`kind` is Meta's `type`, such as `CELL` or `WORK`).
    pub fn phone(mut self, phone: impl Into<String>, kind: Option<&str>) -> Self {
        self.phones.push(ContactPhone {
            phone: Some(phone.into()),
            kind: kind.map(str::to_owned),
            wa_id: None,
        });
        self
    }
}

/// A contact's name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactName {
    /// The full name as shown; required.
    pub formatted_name: String,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Name suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A contact's phone number.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactPhone {
    /// The number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `CELL`, `MAIN`, `IPHONE`, `HOME` or `WORK`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The WhatsApp id of the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
}

/// A contact's email address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactEmail {
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A contact's web address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactUrl {
    /// The URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A contact's postal address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactAddress {
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ZIP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// ISO country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A contact's organization.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactOrg {
    /// Company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A reaction to an earlier message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The WhatsApp message id (wamid) reacted to. A send may name one of its account's messages by whatsapi id
    /// instead: [`WhatsApi::send`](crate::WhatsApi::send) replaces it with that message's wamid.
    pub message_id: String,
    /// One emoji; empty to remove an earlier reaction.
    pub emoji: String,
}

/// A template reference with its parameters, in the reference API's shape (`language` is a code string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Template name as approved in Meta's console.
    pub name: String,
    /// Language code, e.g. `en_US`.
    pub language: String,
    /// Parameters per component; omitted when the template has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<TemplateComponent>,
}

/// One component of a template with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TemplateComponent {
    /// Header parameters (text or media).
    Header {
        /// The parameters.
        parameters: Vec<TemplateParameter>,
    },
    /// Body parameters (`{{1}}`, `{{2}}`, …).
    Body {
        /// The parameters.
        parameters: Vec<TemplateParameter>,
    },
    /// A button's parameters.
    Button {
        /// Kind of button.
        sub_type: ButtonSubType,
        /// Position of the button in the template, 0-based.
        index: u8,
        /// The parameters.
        #[serde(default)]
        parameters: Vec<TemplateParameter>,
    },
}

/// Kinds of template button that take parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonSubType {
    /// A quick-reply button (payload parameter).
    QuickReply,
    /// A call-to-action URL button (text parameter: the URL suffix).
    Url,
    /// A copy-code button (coupon code parameter).
    CopyCode,
    /// A button that opens a WhatsApp Flow (action parameter).
    Flow,
}

impl ButtonSubType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ButtonSubType::QuickReply => "quick_reply",
            ButtonSubType::Url => "url",
            ButtonSubType::CopyCode => "copy_code",
            ButtonSubType::Flow => "flow",
        }
    }
}

/// One template parameter, in Meta's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateParameter {
    /// Plain text.
    Text {
        /// The placeholder's name in a template with named parameters (`{{first_name}}`); `None` for positional
        /// ones (`{{1}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
        /// The text.
        text: String,
    },
    /// An amount of money.
    Currency {
        /// The amount.
        currency: CurrencyParameter,
    },
    /// A date/time shown as its fallback value.
    DateTime {
        /// The date/time.
        date_time: DateTimeParameter,
    },
    /// An image header.
    Image {
        /// The media.
        image: MediaParameter,
    },
    /// A document header.
    Document {
        /// The media.
        document: MediaParameter,
    },
    /// A video header.
    Video {
        /// The media.
        video: MediaParameter,
    },
    /// A quick-reply button payload.
    Payload {
        /// The payload returned when the button is tapped.
        payload: String,
    },
    /// A copy-code button's coupon code.
    CouponCode {
        /// The code.
        coupon_code: String,
    },
    /// A location header.
    Location {
        /// The pin.
        location: Location,
    },
    /// A flow button's action.
    Action {
        /// The flow's token and initial data.
        action: FlowAction,
    },
}

impl TemplateParameter {
    /// A positional text parameter (`{{1}}`).
    pub fn text(text: impl Into<String>) -> Self {
        TemplateParameter::Text {
            parameter_name: None,
            text: text.into(),
        }
    }

    /// A named text parameter (`{{first_name}}`).
    pub fn named_text(name: impl Into<String>, text: impl Into<String>) -> Self {
        TemplateParameter::Text {
            parameter_name: Some(name.into()),
            text: text.into(),
        }
    }

    /// An amount of money: `amount_1000` is the amount times 1000 (`12_500` for 12.50), `code` its ISO 4217 code,
    /// `fallback_value` what is shown when WhatsApp cannot format it.
    pub fn currency(
        fallback_value: impl Into<String>,
        code: impl Into<String>,
        amount_1000: i64,
    ) -> Self {
        TemplateParameter::Currency {
            currency: CurrencyParameter {
                fallback_value: fallback_value.into(),
                code: code.into(),
                amount_1000,
            },
        }
    }

    /// A date/time, shown as `fallback_value`.
    pub fn date_time(fallback_value: impl Into<String>) -> Self {
        TemplateParameter::DateTime {
            date_time: DateTimeParameter {
                fallback_value: fallback_value.into(),
            },
        }
    }

    /// An image header.
    pub fn image(source: MediaSource) -> Self {
        TemplateParameter::Image {
            image: source.into_media(),
        }
    }

    /// A video header.
    pub fn video(source: MediaSource) -> Self {
        TemplateParameter::Video {
            video: source.into_media(),
        }
    }

    /// A document header, with the file name shown to the recipient when given.
    pub fn document(source: MediaSource, filename: Option<String>) -> Self {
        let mut document = source.into_media();
        document.filename = filename;
        TemplateParameter::Document { document }
    }

    /// A location header.
    pub fn location(location: Location) -> Self {
        TemplateParameter::Location { location }
    }

    /// A quick-reply button's payload.
    pub fn payload(payload: impl Into<String>) -> Self {
        TemplateParameter::Payload {
            payload: payload.into(),
        }
    }

    /// A copy-code button's coupon code.
    pub fn coupon_code(code: impl Into<String>) -> Self {
        TemplateParameter::CouponCode {
            coupon_code: code.into(),
        }
    }

    /// A flow button's action.
    pub fn flow_action(action: FlowAction) -> Self {
        TemplateParameter::Action { action }
    }
}

/// The action of a flow button: the token the flow's webhooks carry and the data of its first screen.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FlowAction {
    /// Identifies the flow session; Meta uses `unused` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    /// Input for the flow's first screen (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A currency parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrencyParameter {
    /// Shown when localisation fails.
    pub fallback_value: String,
    /// ISO 4217 code.
    pub code: String,
    /// Amount multiplied by 1000.
    pub amount_1000: i64,
}

/// A date-time parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateTimeParameter {
    /// The text shown.
    pub fallback_value: String,
}

/// Media by public link or by uploaded media id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaParameter {
    /// Public HTTPS link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Media id from Meta's upload API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// File name shown for documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// One status change of a message, as shown in its timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The status reached.
    pub status: Status,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, for `retrying` and `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A validated message ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Its id (assigned before storage so a response can be built in the same transaction).
    pub id: MessageId,
    /// Owner.
    pub account_id: AccountId,
    /// The bulk request it came from.
    pub batch_id: Option<BatchId>,
    /// Recipient: phone number, BSUID or both.
    pub to: Recipient,
    /// What to send.
    pub content: MessageContent,
    /// The wamid of the message this one replies to (Meta's `context.message_id`).
    pub reply_to: Option<String>,
    /// The phone number id of the account's business number it goes out on; `None`: the default number (of the
    /// credentials). See [`crate::numbers`].
    pub from: Option<String>,
    /// Send no earlier than this; `None` sends now.
    pub send_at: Option<DateTime<Utc>>,
    /// The end of its validity period: still unsent then, it fails instead of going out late; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Caller data echoed in webhooks.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Simulate the send without calling Meta.
    pub dry_run: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl NewMessage {
    /// The status a freshly stored message starts in.
    pub fn initial_status(&self) -> Status {
        if self.send_at.is_some() {
            Status::Scheduled
        } else {
            Status::Queued
        }
    }
}

/// The per-message pricing Meta reports on statuses (per-message pricing, since 2025-07-01).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    /// `PMP` (per-message pricing); `CBP` on older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<String>,
    /// `marketing`, `utility`, `authentication`, `service`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Deprecated by Meta, still sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
}

/// An error as Meta reported it (on a failed status), field by field. Meta asks integrators to build on `code`
/// and `details`; `title` is deprecated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaError {
    /// Meta's error code.
    pub code: i64,
    /// Short title (deprecated by Meta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error_data.details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Owner.
    pub account_id: AccountId,
    /// Bulk request it came from.
    pub batch_id: Option<BatchId>,
    /// Recipient: phone number, BSUID or both.
    pub to: Recipient,
    /// What is sent.
    pub content: MessageContent,
    /// The wamid of the message this one replies to, if it is a reply.
    pub reply_to: Option<String>,
    /// The phone number id of the business number it goes out on; `None`: the account's default number.
    pub from: Option<String>,
    /// Current status.
    pub status: Status,
    /// Requested send time, for scheduled messages.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The end of its validity period: if it has not been handed to Meta by then, it fails with [`EXPIRED`]
    /// instead; `None`: it never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Caller data.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Simulated send.
    pub dry_run: bool,
    /// Meta's message id once accepted.
    pub wamid: Option<String>,
    /// Fencing token: number of claims so far; only the holder of the current attempt may record an outcome.
    pub attempt: u32,
    /// Send attempts since the message was (re)queued; drives the retry policy.
    pub tries: u32,
    /// When a `retrying` message is due again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the current claim's lease ends (`processing` only).
    pub lease_until: Option<DateTime<Utc>>,
    /// When Meta accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it reached the device.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was read.
    pub read_at: Option<DateTime<Utc>>,
    /// When it failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// Why it failed, or the last transient error while retrying.
    pub error_message: Option<String>,
    /// Meta's error code, when the failure came from Meta.
    pub error_code: Option<i64>,
    /// Meta's error as reported (code, title, message, details), when a failure carried one.
    pub meta_error: Option<MetaError>,
    /// The pricing Meta last reported for it.
    pub pricing: Option<Pricing>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Status history, oldest first. Filled by `MessageStore::get_message`; empty in listings.
    pub timeline: Vec<TimelineEntry>,
}

/// The start of the `error_message` of a message whose validity period ended before it could be handed to Meta.
pub const EXPIRED: &str = "expired before it could be sent";

/// The `error_message` of a message whose validity period ended at `expires_at` while it waited.
pub fn expired_reason(expires_at: DateTime<Utc>) -> String {
    format!(
        "{EXPIRED}: its validity period ended at {}",
        expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

impl Message {
    /// Whether its validity period has ended at `now`.
    pub fn expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Whether a manual retry can help: the message failed, and not with an error that fails the same way every
    /// time ([`crate::retry::retry_can_fix`]).
    pub fn retryable(&self) -> bool {
        self.status == Status::Failed && crate::retry::retry_can_fix(self.error_code)
    }
}
