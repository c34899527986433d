//! Inbound messages: what customers send to an account's business number, as first-class data.
//!
//! Meta's webhook delivers each message at least once; [`Inbound`] is one `messages[]` item read leniently
//! (every string an outsider wrote is bounded, an unknown type is kept as [`InboundContent::Unsupported`] with its
//! raw object), and an [`InboundMessage`] is one stored once per account and wamid. An embedding application
//! reads them with [`WhatsApi::list_inbound`](crate::WhatsApi::list_inbound) or receives each new one with
//! [`WhatsApi::subscribe_inbound`](crate::WhatsApi::subscribe_inbound).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::AccountId;
use crate::message::{MessageId, uuid_id};
use crate::recipient::{Recipient, UserId};

uuid_id!(
    /// Identifies one stored inbound message (UUID v7).
    InboundId
);

/// Most characters kept of a message body (Meta's text limit is 4,096).
pub const BODY_LIMIT: usize = 4096;
/// Most characters kept of a caption or a description.
pub const CAPTION_LIMIT: usize = 1024;
/// Most characters kept of a short field (ids, titles, names, MIME types, URLs).
pub const SHORT_LIMIT: usize = 256;
/// Most characters kept of a URL (referral links).
pub const URL_LIMIT: usize = 2048;
/// Most bytes kept of a flow reply's `response_json`, or of an unknown message object.
pub const RAW_LIMIT: usize = 16 * 1024;
/// Most items kept of a list Meta sends (shared contacts, their phones, order items).
pub const LIST_LIMIT: usize = 50;
/// Most characters kept of Meta's `type` name.
pub const KIND_LIMIT: usize = 64;

/// One inbound message as Meta reported it, bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// Meta's wamid of the message (unique per business number; Meta may deliver it more than once).
    pub wamid: String,
    /// Meta's `type`: `text`, `image`, `video`, `audio`, `document`, `sticker`, `location`, `contacts`,
    /// `interactive`, `button`, `reaction`, `order`, `edit`, `revoke`, `system`, `unsupported`, or a name Meta
    /// adds later (then the content is [`InboundContent::Unsupported`] with the raw object).
    pub kind: String,
    /// The sender's phone number (WhatsApp id); missing for a user who hides it behind a username.
    pub from: Option<String>,
    /// The sender's business-scoped user id (BSUID), when Meta gives one.
    pub from_user_id: Option<String>,
    /// The parent BSUID, for businesses with several portfolios.
    pub from_parent_user_id: Option<String>,
    /// The sender's profile name (`contacts[].profile.name`).
    pub profile_name: Option<String>,
    /// The sender's WhatsApp username (`contacts[].username`).
    pub username: Option<String>,
    /// When the customer sent it (Meta's `timestamp`).
    pub timestamp: DateTime<Utc>,
    /// What it answers or quotes.
    pub context: Option<InboundContext>,
    /// The ad or post the customer came from (click-to-WhatsApp).
    pub referral: Option<Referral>,
    /// What it says.
    pub content: InboundContent,
}

impl Inbound {
    /// The sender's BSUID when it is one as Meta issues them (`CC.` and 1–128 more characters); `None` when Meta
    /// gave none or something unusual (still kept as-is in [`from_user_id`](Self::from_user_id)).
    pub fn sender_user_id(&self) -> Option<UserId> {
        self.from_user_id
            .as_deref()
            .and_then(|u| UserId::parse(u).ok())
    }

    /// Where a reply goes: the sender's phone number and/or BSUID, when they parse.
    pub fn reply_recipient(&self) -> Option<Recipient> {
        let phone = self
            .from
            .as_deref()
            .and_then(|p| crate::phone::PhoneNumber::parse(p).ok());
        Recipient::from_parts(phone, self.sender_user_id())
    }

    /// The Meta media id of an image, video, audio, document or sticker (also of an edited media message).
    pub fn media_id(&self) -> Option<&str> {
        self.content.media_id()
    }
}

/// `context` of an inbound message: the message it answers, quotes or was forwarded as.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InboundContext {
    /// The wamid of the message it replies to (ours for a button or list reply).
    pub message_id: Option<String>,
    /// Who sent the message replied to (our business number for replies to us).
    pub from: Option<String>,
    /// Forwarded.
    pub forwarded: bool,
    /// Forwarded many times.
    pub frequently_forwarded: bool,
    /// The catalog of a product the customer asks about.
    pub catalog_id: Option<String>,
    /// The product the customer asks about.
    pub product_retailer_id: Option<String>,
}

/// `referral`: the click-to-WhatsApp ad or post a conversation started from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Referral {
    /// `source_url`.
    pub source_url: Option<String>,
    /// `source_id`.
    pub source_id: Option<String>,
    /// `source_type`: `ad` or `post`.
    pub source_type: Option<String>,
    /// `headline`.
    pub headline: Option<String>,
    /// `body`.
    pub body: Option<String>,
    /// `media_type`: `image` or `video`.
    pub media_type: Option<String>,
    /// `image_url`.
    pub image_url: Option<String>,
    /// `video_url`.
    pub video_url: Option<String>,
    /// `thumbnail_url`.
    pub thumbnail_url: Option<String>,
    /// `ctwa_clid`, the click id.
    pub ctwa_clid: Option<String>,
}

/// A media file a customer sent; its bytes are fetched with the media id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InboundMedia {
    /// Meta's media id (download with [`WhatsApi::media_content`](crate::WhatsApi::media_content)).
    pub id: Option<String>,
    /// The MIME type.
    pub mime_type: Option<String>,
    /// SHA-256 of the file as Meta gives it.
    pub sha256: Option<String>,
    /// Caption (image, video, document).
    pub caption: Option<String>,
    /// File name (document).
    pub filename: Option<String>,
    /// A voice note (audio).
    pub voice: Option<bool>,
    /// An animated sticker.
    pub animated: Option<bool>,
}

/// One contact card a customer shared.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SharedContact {
    /// `name.formatted_name`.
    pub name: Option<String>,
    /// Phone numbers.
    pub phones: Vec<SharedPhone>,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// `org.company`.
    pub company: Option<String>,
}

/// A phone number of a shared contact.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SharedPhone {
    /// The number as written.
    pub phone: Option<String>,
    /// Its WhatsApp id, when it is on WhatsApp.
    pub wa_id: Option<String>,
    /// `HOME`, `WORK`, `CELL`, …
    pub kind: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrderItem {
    /// `product_retailer_id`.
    pub product_retailer_id: Option<String>,
    /// `quantity`.
    pub quantity: Option<f64>,
    /// `item_price`.
    pub item_price: Option<f64>,
    /// `currency`.
    pub currency: Option<String>,
}

/// An error Meta attached to an `unsupported` message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InboundError {
    /// Meta's code (131051: unsupported message type).
    pub code: Option<i64>,
    /// Title.
    pub title: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
}

/// What an inbound message says, by type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundContent {
    /// `text`.
    Text {
        /// The text.
        body: String,
    },
    /// `image`, `video`, `audio`, `document` or `sticker` (the kind is [`Inbound::kind`]).
    Media(InboundMedia),
    /// `location`.
    Location {
        /// Latitude.
        latitude: Option<f64>,
        /// Longitude.
        longitude: Option<f64>,
        /// Place name.
        name: Option<String>,
        /// Address.
        address: Option<String>,
        /// URL of the place.
        url: Option<String>,
    },
    /// `contacts`.
    Contacts {
        /// The cards.
        contacts: Vec<SharedContact>,
    },
    /// `interactive` with `button_reply`: a reply button of ours was tapped.
    ButtonReply {
        /// The button's id, as we sent it.
        id: String,
        /// Its title.
        title: Option<String>,
    },
    /// `interactive` with `list_reply`: a row of our list was chosen.
    ListReply {
        /// The row's id, as we sent it.
        id: String,
        /// Its title.
        title: Option<String>,
        /// Its description.
        description: Option<String>,
    },
    /// `interactive` with `nfm_reply`: a flow was completed.
    FlowReply {
        /// `name` (`flow`, `address_message`).
        name: Option<String>,
        /// `body` (`Sent`).
        body: Option<String>,
        /// `response_json`: the flow's answers as a JSON string (at most [`RAW_LIMIT`] bytes kept).
        response_json: Option<String>,
    },
    /// `button`: a quick-reply button of a template was tapped.
    Button {
        /// The payload we set on the button.
        payload: Option<String>,
        /// The button's text.
        text: Option<String>,
    },
    /// `reaction`: an emoji on a message (none: the reaction was removed).
    Reaction {
        /// The wamid reacted to.
        message_id: Option<String>,
        /// The emoji; `None` when removed.
        emoji: Option<String>,
    },
    /// `order`: a cart sent from a catalog.
    Order {
        /// `catalog_id`.
        catalog_id: Option<String>,
        /// The customer's note.
        text: Option<String>,
        /// The lines.
        items: Vec<OrderItem>,
    },
    /// `edit`: the customer edited an earlier message.
    Edit {
        /// The wamid of the message edited.
        original_message_id: Option<String>,
        /// The new content.
        message: Box<InboundContent>,
    },
    /// `revoke`: the customer deleted an earlier message.
    Revoke {
        /// The wamid of the message deleted.
        original_message_id: Option<String>,
    },
    /// `system`: the customer changed number (`user_changed_number`) or BSUID (`user_changed_user_id`).
    System {
        /// `system.type`.
        system_type: Option<String>,
        /// The text Meta writes about the change.
        body: Option<String>,
        /// The new phone number (`wa_id`).
        wa_id: Option<String>,
        /// The new BSUID (`user_id`).
        user_id: Option<String>,
        /// The previous BSUID (`previous_user_id`).
        previous_user_id: Option<String>,
    },
    /// `unsupported`, or a type this version does not know: Meta's errors and, for an unknown type, its raw
    /// object (when no larger than [`RAW_LIMIT`] bytes).
    Unsupported {
        /// Errors Meta attached.
        errors: Vec<InboundError>,
        /// The raw message object of an unknown type.
        raw: Option<Value>,
    },
}

impl InboundContent {
    /// The media id of a media message (or of an edit that replaced one).
    pub fn media_id(&self) -> Option<&str> {
        match self {
            Self::Media(m) => m.id.as_deref(),
            Self::Edit { message, .. } => message.media_id(),
            _ => None,
        }
    }
}

/// The business number an inbound message was sent to, as the `metadata` of Meta's webhook names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivingNumber {
    /// Meta's phone number id (`metadata.phone_number_id`): the account's default number or one of its extra
    /// numbers when the message arrived, the number a reply or a read receipt goes out on.
    pub phone_number_id: String,
    /// The number as the webhook displays it (`metadata.display_phone_number`, usually digits), when given.
    pub display_phone_number: Option<String>,
}

/// An inbound message as stored: once per account and wamid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// whatsapi's id.
    pub id: InboundId,
    /// The account whose number received it.
    pub account_id: AccountId,
    /// When whatsapi first received it.
    pub received_at: DateTime<Utc>,
    /// Our message it replies to (`context.message_id` resolved within the account), when it is one of ours.
    pub reply_to_message: Option<MessageId>,
    /// The account's number the customer wrote to; `None` when unknown (stored before whatsapi recorded it, or
    /// a webhook whose `metadata` named no phone number id).
    #[serde(default)]
    pub to: Option<ReceivingNumber>,
    /// What Meta reported.
    pub message: Inbound,
}

/// An inbound message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInbound {
    /// Its id, if it is new.
    pub id: InboundId,
    /// The account.
    pub account_id: AccountId,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// Our message it replies to.
    pub reply_to_message: Option<MessageId>,
    /// The account's number it was sent to, when Meta named it.
    pub to: Option<ReceivingNumber>,
    /// What Meta reported.
    pub message: Inbound,
}

impl NewInbound {
    /// The stored form (what the store answers for a new message).
    pub fn into_stored(self) -> InboundMessage {
        InboundMessage {
            id: self.id,
            account_id: self.account_id,
            received_at: self.received_at,
            reply_to_message: self.reply_to_message,
            to: self.to,
            message: self.message,
        }
    }
}

/// Filters of an inbound listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundFilter {
    /// Only messages from this contact: a phone number (matched against `from`) or a BSUID (against
    /// `from_user_id`).
    pub contact: Option<String>,
    /// Only this Meta `type`.
    pub kind: Option<String>,
    /// Only messages sent to this business number (its phone number id); messages whose number is unknown never
    /// match.
    pub to: Option<String>,
}

impl InboundFilter {
    /// Whether `m` passes (what every store implements, for the memory store and tests).
    pub fn matches(&self, m: &InboundMessage) -> bool {
        let (to, m) = (m.to.as_ref(), &m.message);
        self.contact
            .as_deref()
            .is_none_or(|c| m.from.as_deref() == Some(c) || m.from_user_id.as_deref() == Some(c))
            && self.kind.as_deref().is_none_or(|k| m.kind == k)
            && self
                .to
                .as_deref()
                .is_none_or(|n| to.is_some_and(|t| t.phone_number_id == n))
    }
}

/// What storing an inbound message did.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundInsert {
    /// It was new and is stored.
    Inserted(InboundMessage),
    /// The account already had this wamid: the stored one, unchanged.
    Duplicate(InboundMessage),
}

impl InboundInsert {
    /// The stored message, new or not.
    pub fn message(&self) -> &InboundMessage {
        match self {
            Self::Inserted(m) | Self::Duplicate(m) => m,
        }
    }
}

// ---- Reading Meta's message objects -------------------------------------------------------------------------

pub(crate) fn clip(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// A trimmed, non-empty string field, clipped.
fn text(v: Option<&Value>, limit: usize) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| clip(s, limit))
}

/// A string field kept as written (not trimmed: message bodies), clipped; empty is `None`.
fn body(v: Option<&Value>, limit: usize) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| clip(s, limit))
}

/// An id Meta may write as a string or a number.
fn id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        other => text(Some(other), SHORT_LIMIT),
    }
}

/// A number Meta may write as a number or a string.
fn number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn flag(v: Option<&Value>) -> Option<bool> {
    v.and_then(Value::as_bool)
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The raw object when its JSON is small enough to keep.
fn bounded_raw(v: &Value) -> Option<Value> {
    let len = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
    (len <= RAW_LIMIT).then(|| v.clone())
}

const MEDIA_KINDS: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

fn media(v: Option<&Value>) -> InboundMedia {
    let Some(v) = v else {
        return InboundMedia::default();
    };
    InboundMedia {
        id: id(v.get("id")),
        mime_type: text(v.get("mime_type"), SHORT_LIMIT),
        sha256: text(v.get("sha256"), SHORT_LIMIT),
        caption: body(v.get("caption"), CAPTION_LIMIT),
        filename: text(v.get("filename"), SHORT_LIMIT),
        voice: flag(v.get("voice")),
        animated: flag(v.get("animated")),
    }
}

fn contacts(v: Option<&Value>) -> Vec<SharedContact> {
    array(v)
        .iter()
        .take(LIST_LIMIT)
        .map(|c| SharedContact {
            name: text(
                c.get("name")
                    .and_then(|n| n.get("formatted_name").or_else(|| n.get("first_name"))),
                SHORT_LIMIT,
            ),
            phones: array(c.get("phones"))
                .iter()
                .take(LIST_LIMIT)
                .map(|p| SharedPhone {
                    phone: text(p.get("phone"), SHORT_LIMIT),
                    wa_id: text(p.get("wa_id"), SHORT_LIMIT),
                    kind: text(p.get("type"), SHORT_LIMIT),
                })
                .collect(),
            emails: array(c.get("emails"))
                .iter()
                .take(LIST_LIMIT)
                .filter_map(|e| text(e.get("email"), SHORT_LIMIT))
                .collect(),
            company: text(c.get("org").and_then(|o| o.get("company")), SHORT_LIMIT),
        })
        .collect()
}

fn errors(v: Option<&Value>) -> Vec<InboundError> {
    array(v)
        .iter()
        .take(5)
        .map(|e| InboundError {
            code: e.get("code").and_then(Value::as_i64),
            title: text(e.get("title"), SHORT_LIMIT),
            message: text(e.get("message"), CAPTION_LIMIT),
            details: text(
                e.get("error_data").and_then(|d| d.get("details")),
                CAPTION_LIMIT,
            ),
        })
        .collect()
}

fn unknown(item: &Value) -> InboundContent {
    InboundContent::Unsupported {
        errors: errors(item.get("errors")),
        raw: bounded_raw(item),
    }
}

/// The content of a message object of type `kind`. `nested` is true inside an edit (no further edits).
fn content(kind: &str, item: &Value, nested: bool) -> InboundContent {
    let part = item.get(kind);
    match kind {
        "text" => match body(part.and_then(|t| t.get("body")), BODY_LIMIT) {
            Some(body) => InboundContent::Text { body },
            None => unknown(item),
        },
        k if MEDIA_KINDS.contains(&k) => InboundContent::Media(media(part)),
        "location" => {
            let p = part.unwrap_or(&Value::Null);
            InboundContent::Location {
                latitude: number(p.get("latitude")),
                longitude: number(p.get("longitude")),
                name: text(p.get("name"), SHORT_LIMIT),
                address: text(p.get("address"), CAPTION_LIMIT),
                url: text(p.get("url"), URL_LIMIT),
            }
        }
        "contacts" => InboundContent::Contacts {
            contacts: contacts(part),
        },
        "interactive" => {
            let p = part.unwrap_or(&Value::Null);
            let sub = p.get("type").and_then(Value::as_str).unwrap_or_default();
            let reply = p.get(sub);
            match (sub, reply) {
                ("button_reply", Some(r)) => match id(r.get("id")) {
                    Some(id) => InboundContent::ButtonReply {
                        id,
                        title: text(r.get("title"), SHORT_LIMIT),
                    },
                    None => unknown(item),
                },
                ("list_reply", Some(r)) => match id(r.get("id")) {
                    Some(id) => InboundContent::ListReply {
                        id,
                        title: text(r.get("title"), SHORT_LIMIT),
                        description: text(r.get("description"), CAPTION_LIMIT),
                    },
                    None => unknown(item),
                },
                ("nfm_reply", Some(r)) => InboundContent::FlowReply {
                    name: text(r.get("name"), SHORT_LIMIT),
                    body: text(r.get("body"), CAPTION_LIMIT),
                    response_json: r
                        .get("response_json")
                        .and_then(Value::as_str)
                        .filter(|s| s.len() <= RAW_LIMIT)
                        .map(str::to_owned),
                },
                _ => unknown(item),
            }
        }
        "button" => InboundContent::Button {
            payload: body(part.and_then(|b| b.get("payload")), CAPTION_LIMIT),
            text: body(part.and_then(|b| b.get("text")), SHORT_LIMIT),
        },
        "reaction" => InboundContent::Reaction {
            message_id: text(part.and_then(|r| r.get("message_id")), SHORT_LIMIT),
            emoji: text(part.and_then(|r| r.get("emoji")), 32),
        },
        "order" => {
            let p = part.unwrap_or(&Value::Null);
            InboundContent::Order {
                catalog_id: id(p.get("catalog_id")),
                text: body(p.get("text"), CAPTION_LIMIT),
                items: array(p.get("product_items"))
                    .iter()
                    .take(LIST_LIMIT)
                    .map(|i| OrderItem {
                        product_retailer_id: id(i.get("product_retailer_id")),
                        quantity: number(i.get("quantity")),
                        item_price: number(i.get("item_price")),
                        currency: text(i.get("currency"), 16),
                    })
                    .collect(),
            }
        }
        "edit" if !nested => {
            let p = part.unwrap_or(&Value::Null);
            let inner = p.get("message").unwrap_or(&Value::Null);
            let inner_kind = inner
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unsupported");
            InboundContent::Edit {
                original_message_id: text(p.get("original_message_id"), SHORT_LIMIT),
                message: Box::new(content(inner_kind, inner, true)),
            }
        }
        "revoke" => InboundContent::Revoke {
            original_message_id: text(part.and_then(|r| r.get("original_message_id")), SHORT_LIMIT),
        },
        "system" => {
            let p = part.unwrap_or(&Value::Null);
            InboundContent::System {
                system_type: text(p.get("type"), KIND_LIMIT),
                body: text(p.get("body"), CAPTION_LIMIT),
                wa_id: text(p.get("wa_id").or_else(|| p.get("new_wa_id")), SHORT_LIMIT),
                user_id: text(p.get("user_id"), SHORT_LIMIT),
                previous_user_id: text(p.get("previous_user_id"), SHORT_LIMIT),
            }
        }
        "unsupported" => InboundContent::Unsupported {
            errors: errors(item.get("errors")),
            raw: None,
        },
        _ => unknown(item),
    }
}

fn context(v: Option<&Value>) -> Option<InboundContext> {
    let v = v.filter(|v| v.is_object())?;
    let product = v.get("referred_product");
    let ctx = InboundContext {
        message_id: text(v.get("id"), SHORT_LIMIT),
        from: text(v.get("from"), SHORT_LIMIT),
        forwarded: flag(v.get("forwarded")).unwrap_or(false),
        frequently_forwarded: flag(v.get("frequently_forwarded")).unwrap_or(false),
        catalog_id: id(product.and_then(|p| p.get("catalog_id"))),
        product_retailer_id: id(product.and_then(|p| p.get("product_retailer_id"))),
    };
    (ctx != InboundContext::default()).then_some(ctx)
}

fn referral(v: Option<&Value>) -> Option<Referral> {
    let v = v.filter(|v| v.is_object())?;
    let r = Referral {
        source_url: text(v.get("source_url"), URL_LIMIT),
        source_id: id(v.get("source_id")),
        source_type: text(v.get("source_type"), KIND_LIMIT),
        headline: text(v.get("headline"), CAPTION_LIMIT),
        body: text(v.get("body"), CAPTION_LIMIT),
        media_type: text(v.get("media_type"), KIND_LIMIT),
        image_url: text(v.get("image_url"), URL_LIMIT),
        video_url: text(v.get("video_url"), URL_LIMIT),
        thumbnail_url: text(v.get("thumbnail_url"), URL_LIMIT),
        ctwa_clid: text(v.get("ctwa_clid"), SHORT_LIMIT),
    };
    (r != Referral::default()).then_some(r)
}

/// Who a `contacts[]` entry of the same change describes: `(profile name, username)` of the entry whose `wa_id`
/// or `user_id` is the sender's (or the only entry when there is one).
pub(crate) fn sender_profile(
    contacts: &[Value],
    from: Option<&str>,
    user_id: Option<&str>,
) -> (Option<String>, Option<String>) {
    let matches = |c: &&Value| {
        let wa = c.get("wa_id").and_then(Value::as_str);
        let user = c.get("user_id").and_then(Value::as_str);
        (from.is_some() && wa == from) || (user_id.is_some() && user == user_id)
    };
    let found = contacts
        .iter()
        .find(matches)
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    let Some(c) = found else {
        return (None, None);
    };
    (
        text(c.get("profile").and_then(|p| p.get("name")), SHORT_LIMIT),
        text(c.get("username"), SHORT_LIMIT),
    )
}

/// Reads one `messages[]` item: `None` when it has no wamid, no sender or no valid timestamp. `from` and
/// `from_user_id` are read by the caller (they also open the 24-hour window) and passed in, bounded.
pub(crate) fn read_message(
    item: &Value,
    from: Option<String>,
    from_user_id: Option<String>,
    timestamp: DateTime<Utc>,
    contacts: &[Value],
) -> Option<Inbound> {
    let wamid = text(item.get("id"), crate::service::MAX_WAMID_LEN)?;
    let kind_raw = item
        .get("type")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .unwrap_or("unsupported");
    let kind = clip(kind_raw, KIND_LIMIT);
    let (profile_name, username) =
        sender_profile(contacts, from.as_deref(), from_user_id.as_deref());
    Some(Inbound {
        content: content(&kind, item, false),
        wamid,
        kind,
        from,
        from_user_id,
        from_parent_user_id: text(item.get("from_parent_user_id"), SHORT_LIMIT),
        profile_name,
        username,
        timestamp,
        context: context(item.get("context")),
        referral: referral(item.get("referral")),
    })
}

/// The `data` of a `message.received` event: the stored message as JSON (camel case), as the store writes it with
/// the message. Its parts are bounded by the parsing of Meta's webhook. `to` is the phone number id of the
/// business number the customer wrote to and `toDisplayPhoneNumber` the number as Meta displays it (both null when
/// unknown), as `GET /inbound` shows them.
pub fn received_event_data(m: &InboundMessage) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "wamid": m.message.wamid,
        "type": m.message.kind,
        "from": m.message.from,
        "fromUserId": m.message.from_user_id,
        "profileName": m.message.profile_name,
        "username": m.message.username,
        "timestamp": m.message.timestamp,
        "receivedAt": m.received_at,
        "replyToMessageId": m.reply_to_message,
        "to": m.to.as_ref().map(|t| &t.phone_number_id),
        "toDisplayPhoneNumber": m.to.as_ref().and_then(|t| t.display_phone_number.as_ref()),
        "context": m.message.context,
        "referral": m.message.referral,
        "content": m.message.content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::parse_webhook;

    /// Meta's webhook with `messages` as written in its reference, one of each type.
    fn webhook(messages: &str, contacts: &str) -> Vec<Inbound> {
        let raw = format!(
            r#"{{"object": "whatsapp_business_account", "entry": [{{"id": "102290129340398", "changes": [{{
              "field": "messages", "value": {{"messaging_product": "whatsapp",
              "metadata": {{"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}},
              "contacts": [{contacts}], "messages": [{messages}]}}}}]}}]}}"#
        );
        let parsed = parse_webhook(raw.as_bytes()).unwrap();
        assert_eq!(parsed.skipped, 0, "{:?}", parsed.skip_reasons);
        parsed
            .inbound
            .into_iter()
            .filter_map(|p| p.message)
            .collect()
    }

    const SARAH: &str = r#"{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}"#;

    fn one(message: &str) -> Inbound {
        let mut all = webhook(message, SARAH);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn text_with_sender_profile_and_context() {
        let m = one(
            r#"{"context": {"from": "15550783881", "id": "wamid.OURS"}, "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"}}"#,
        );
        assert_eq!(m.kind, "text");
        assert_eq!(m.from.as_deref(), Some("16505551234"));
        assert_eq!(m.profile_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(m.timestamp.timestamp(), 1749416383);
        assert_eq!(
            m.content,
            InboundContent::Text {
                body: "Does it come in another color?".into()
            }
        );
        let ctx = m.context.clone().unwrap();
        assert_eq!(ctx.message_id.as_deref(), Some("wamid.OURS"));
        assert_eq!(ctx.from.as_deref(), Some("15550783881"));
        assert!(m.reply_recipient().is_some());
    }

    #[test]
    fn media_of_every_kind_keeps_the_media_id() {
        let all = webhook(
            r#"{"from": "16505551234", "id": "wamid.I", "timestamp": "1744344496", "type": "image",
                "image": {"caption": "Pic", "mime_type": "image/jpeg", "sha256": "SGgZ…=", "id": "1003383421387256"}},
               {"from": "16505551234", "id": "wamid.V", "timestamp": "1744344496", "type": "video",
                "video": {"mime_type": "video/mp4", "sha256": "x", "id": "1166846181421424"}},
               {"from": "16505551234", "id": "wamid.A", "timestamp": "1744344496", "type": "audio",
                "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "y", "id": "1003383421387257", "voice": true}},
               {"from": "16505551234", "id": "wamid.D", "timestamp": "1744344496", "type": "document",
                "document": {"caption": "Receipt", "filename": "receipt.pdf", "mime_type": "application/pdf",
                             "sha256": "z", "id": "1003383421387258"}},
               {"from": "16505551234", "id": "wamid.S", "timestamp": "1744344496", "type": "sticker",
                "sticker": {"mime_type": "image/webp", "sha256": "w", "id": 1003383421387259, "animated": false}}"#,
            SARAH,
        );
        let kinds: Vec<_> = all
            .iter()
            .map(|m| (m.kind.as_str(), m.media_id()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("image", Some("1003383421387256")),
                ("video", Some("1166846181421424")),
                ("audio", Some("1003383421387257")),
                ("document", Some("1003383421387258")),
                ("sticker", Some("1003383421387259")),
            ]
        );
        let InboundContent::Media(doc) = &all[3].content else {
            panic!("{:?}", all[3].content)
        };
        assert_eq!(doc.filename.as_deref(), Some("receipt.pdf"));
        assert_eq!(doc.caption.as_deref(), Some("Receipt"));
        let InboundContent::Media(audio) = &all[2].content else {
            panic!()
        };
        assert_eq!(audio.voice, Some(true));
    }

    #[test]
    fn location_contacts_and_order() {
        let all = webhook(
            r#"{"from": "16505551234", "id": "wamid.L", "timestamp": "1744344496", "type": "location",
                "location": {"address": "1 Hacker Way, Menlo Park, CA 94025", "latitude": 37.483307,
                             "longitude": -122.148384, "name": "Meta Headquarters", "url": "https://meta.com"}},
               {"from": "16505551234", "id": "wamid.C", "timestamp": "1744344496", "type": "contacts",
                "contacts": [{"name": {"first_name": "Barbara", "formatted_name": "Barbara J. Johnson"},
                  "org": {"company": "Lucky Shrub"}, "emails": [{"email": "bjohnson@luckyshrub.com", "type": "WORK"}],
                  "phones": [{"phone": "+1 (940) 555-1234", "type": "HOME", "wa_id": "19405551234"}]}]},
               {"from": "16505551234", "id": "wamid.O", "timestamp": "1744344496", "type": "order",
                "order": {"catalog_id": "194836987003835", "text": "Thanks",
                  "product_items": [{"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30, "currency": "USD"}]}}"#,
            SARAH,
        );
        assert_eq!(
            all[0].content,
            InboundContent::Location {
                latitude: Some(37.483307),
                longitude: Some(-122.148384),
                name: Some("Meta Headquarters".into()),
                address: Some("1 Hacker Way, Menlo Park, CA 94025".into()),
                url: Some("https://meta.com".into()),
            }
        );
        let InboundContent::Contacts { contacts } = &all[1].content else {
            panic!()
        };
        assert_eq!(contacts[0].name.as_deref(), Some("Barbara J. Johnson"));
        assert_eq!(contacts[0].phones[0].wa_id.as_deref(), Some("19405551234"));
        assert_eq!(contacts[0].emails, ["bjohnson@luckyshrub.com"]);
        assert_eq!(contacts[0].company.as_deref(), Some("Lucky Shrub"));
        let InboundContent::Order {
            catalog_id, items, ..
        } = &all[2].content
        else {
            panic!()
        };
        assert_eq!(catalog_id.as_deref(), Some("194836987003835"));
        assert_eq!(items[0].quantity, Some(2.0));
        assert_eq!(items[0].currency.as_deref(), Some("USD"));
    }

    #[test]
    fn interactive_replies_template_buttons_and_reactions() {
        let all = webhook(
            r#"{"context": {"from": "15550783881", "id": "wamid.BTN"}, "from": "16505551234", "id": "wamid.B1",
                "timestamp": "1744344496", "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "change-button", "title": "Change"}}},
               {"from": "16505551234", "id": "wamid.B2", "timestamp": "1744344496", "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {"id": "priority_express", "title": "Express Shipping",
                                "description": "Next Day to 2 Days"}}},
               {"from": "16505551234", "id": "wamid.B3", "timestamp": "1744344496", "type": "interactive",
                "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                                "response_json": "{\"flow_token\": \"AQAAAAACS5FpgQ_cAAAAAD0QI3s.\", \"rating\": \"5\"}"}}},
               {"context": {"from": "15550783881", "id": "wamid.TPL"}, "from": "16505551234", "id": "wamid.B4",
                "timestamp": "1744344496", "type": "button", "button": {"payload": "Unsubscribe", "text": "Unsubscribe"}},
               {"from": "16505551234", "id": "wamid.R1", "timestamp": "1744344496", "type": "reaction",
                "reaction": {"message_id": "wamid.OURS", "emoji": "\uD83D\uDE00"}},
               {"from": "16505551234", "id": "wamid.R2", "timestamp": "1744344496", "type": "reaction",
                "reaction": {"message_id": "wamid.OURS"}},
               {"from": "16505551234", "id": "wamid.B5", "timestamp": "1744344496", "type": "interactive",
                "interactive": {"type": "carousel_swipe"}}"#,
            SARAH,
        );
        assert_eq!(
            all[0].content,
            InboundContent::ButtonReply {
                id: "change-button".into(),
                title: Some("Change".into())
            }
        );
        assert_eq!(
            all[1].content,
            InboundContent::ListReply {
                id: "priority_express".into(),
                title: Some("Express Shipping".into()),
                description: Some("Next Day to 2 Days".into())
            }
        );
        let InboundContent::FlowReply { response_json, .. } = &all[2].content else {
            panic!()
        };
        assert!(
            response_json
                .as_deref()
                .unwrap()
                .contains("\"rating\": \"5\"")
        );
        assert_eq!(
            all[3].content,
            InboundContent::Button {
                payload: Some("Unsubscribe".into()),
                text: Some("Unsubscribe".into())
            }
        );
        assert_eq!(
            all[4].content,
            InboundContent::Reaction {
                message_id: Some("wamid.OURS".into()),
                emoji: Some("😀".into())
            }
        );
        assert_eq!(
            all[5].content,
            InboundContent::Reaction {
                message_id: Some("wamid.OURS".into()),
                emoji: None
            },
            "a removed reaction has no emoji"
        );
        assert!(matches!(
            &all[6].content,
            InboundContent::Unsupported { raw: Some(_), .. }
        ));
    }

    #[test]
    fn referral_edit_revoke_system_and_unsupported() {
        let all = webhook(
            r#"{"referral": {"source_url": "https://fb.me/3cr4Wqqkk", "source_id": "120226305854810726",
                  "source_type": "ad", "headline": "Chat with us", "body": "Free shipping", "media_type": "image",
                  "image_url": "https://scontent.xx.fbcdn.net/v/t45.1", "ctwa_clid": "Afe6rrE"},
                "from": "16505551234", "id": "wamid.REF", "timestamp": "1744344496", "type": "text",
                "text": {"body": "Can I get more info?"}},
               {"from": "16505551234", "id": "wamid.E", "timestamp": "1744344496", "type": "edit",
                "edit": {"original_message_id": "wamid.ORIG", "message": {"context": {"id": "wamid.ORIG"},
                  "type": "image", "image": {"caption": "new caption", "id": "771", "mime_type": "image/jpeg"}}}},
               {"from": "16505551234", "id": "wamid.RV", "timestamp": "1744344496", "type": "revoke",
                "revoke": {"original_message_id": "wamid.ORIG"}},
               {"from_user_id": "US.13491208655302741918", "id": "wamid.SYS", "timestamp": "1744344496",
                "type": "system", "system": {"body": "User A changed from US.1 to US.13491208655302741918",
                  "type": "user_changed_user_id", "previous_user_id": "US.1", "user_id": "US.13491208655302741918"}},
               {"from": "16505551234", "id": "wamid.U", "timestamp": "1744344496", "type": "unsupported",
                "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                            "error_data": {"details": "Message type is currently not supported."}}],
                "unsupported": {"type": "edit"}}"#,
            SARAH,
        );
        let r = all[0].referral.as_ref().unwrap();
        assert_eq!(r.source_type.as_deref(), Some("ad"));
        assert_eq!(r.ctwa_clid.as_deref(), Some("Afe6rrE"));
        assert_eq!(all[1].media_id(), Some("771"));
        let InboundContent::Edit {
            original_message_id,
            message,
        } = &all[1].content
        else {
            panic!()
        };
        assert_eq!(original_message_id.as_deref(), Some("wamid.ORIG"));
        assert!(
            matches!(&**message, InboundContent::Media(m) if m.caption.as_deref() == Some("new caption"))
        );
        assert_eq!(
            all[2].content,
            InboundContent::Revoke {
                original_message_id: Some("wamid.ORIG".into())
            }
        );
        assert_eq!(all[3].from, None);
        assert_eq!(
            all[3].sender_user_id().unwrap().as_str(),
            "US.13491208655302741918"
        );
        let InboundContent::System {
            system_type,
            previous_user_id,
            user_id,
            ..
        } = &all[3].content
        else {
            panic!()
        };
        assert_eq!(system_type.as_deref(), Some("user_changed_user_id"));
        assert_eq!(previous_user_id.as_deref(), Some("US.1"));
        assert_eq!(user_id.as_deref(), Some("US.13491208655302741918"));
        let InboundContent::Unsupported { errors, raw } = &all[4].content else {
            panic!()
        };
        assert_eq!(errors[0].code, Some(131051));
        assert_eq!(
            errors[0].details.as_deref(),
            Some("Message type is currently not supported.")
        );
        assert_eq!(*raw, None);
    }

    #[test]
    fn bsuid_senders_take_their_username_and_profile_from_contacts() {
        let all = webhook(
            r#"{"from_user_id": "US.13491208655302741918", "from_parent_user_id": "US.ENT.1", "id": "wamid.X1",
                "timestamp": "1744344496", "type": "text", "text": {"body": "hi"}},
               {"from": "16505551234", "id": "wamid.X2", "timestamp": "1744344496", "type": "text", "text": {"body": "yo"}}"#,
            r#"{"profile": {"name": "Sarah"}, "user_id": "US.13491208655302741918", "username": "sarah"},
               {"profile": {"name": "Sheena"}, "wa_id": "16505551234"}"#,
        );
        assert_eq!(all[0].profile_name.as_deref(), Some("Sarah"));
        assert_eq!(all[0].username.as_deref(), Some("sarah"));
        assert_eq!(all[0].from_parent_user_id.as_deref(), Some("US.ENT.1"));
        assert!(all[0].reply_recipient().unwrap().phone_number().is_none());
        assert_eq!(all[1].profile_name.as_deref(), Some("Sheena"));
        assert_eq!(all[1].username, None);
    }

    #[test]
    fn outsider_strings_and_lists_are_bounded() {
        let long = "x".repeat(20_000);
        let many: Vec<String> = (0..500)
            .map(|i| format!(r#"{{"name": {{"formatted_name": "c{i}"}}, "phones": []}}"#))
            .collect();
        let all = webhook(
            &format!(
                r#"{{"from": "16505551234", "id": "wamid.LONG", "timestamp": "1744344496", "type": "text",
                     "text": {{"body": "{long}"}}}},
                   {{"from": "16505551234", "id": "wamid.MANY", "timestamp": "1744344496", "type": "contacts",
                     "contacts": [{}]}},
                   {{"from": "16505551234", "id": "wamid.BIG", "timestamp": "1744344496", "type": "{long}",
                     "blob": "{long}"}},
                   {{"from": "16505551234", "timestamp": "1744344496", "type": "text", "text": {{"body": "no id"}}}}"#,
                many.join(",")
            ),
            &format!(r#"{{"profile": {{"name": "{long}"}}, "wa_id": "16505551234"}}"#),
        );
        assert_eq!(
            all.len(),
            3,
            "a message without a wamid opens the window but is not stored"
        );
        let InboundContent::Text { body } = &all[0].content else {
            panic!()
        };
        assert_eq!(body.chars().count(), BODY_LIMIT);
        assert_eq!(all[0].profile_name.as_ref().unwrap().len(), SHORT_LIMIT);
        let InboundContent::Contacts { contacts } = &all[1].content else {
            panic!()
        };
        assert_eq!(contacts.len(), LIST_LIMIT);
        assert_eq!(all[2].kind.len(), KIND_LIMIT);
        assert_eq!(
            all[2].content,
            InboundContent::Unsupported {
                errors: Vec::new(),
                raw: None
            },
            "an unknown type too large to keep raw"
        );
    }
}
