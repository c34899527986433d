//! [`SendRequest`]: one message to one recipient, with its options.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::account::AccountId;
use crate::idempotency::{Fingerprint, IdempotencyKey, RequestKind};
use crate::message::{
    BatchId, ButtonSubType, Contact, FlowAction, Interactive, InteractiveAction, InteractiveHeader,
    Location, MediaParameter, MediaSource, MessageContent, MessageId, MessageKind, NewMessage,
    Reaction, ReplyButton, Template, TemplateComponent, TemplateParameter,
};
use crate::recipient::Recipient;

use super::checks::{
    MAX_BUTTON_ID_CHARS, MAX_BUTTON_TITLE_CHARS, MAX_INTERACTIVE_BODY_CHARS,
    MAX_INTERACTIVE_HEADER_CHARS, MAX_LIST_ROWS, MAX_LIST_SECTIONS, MAX_LIST_TITLE_CHARS,
    MAX_REPLY_BUTTONS, MAX_ROW_DESCRIPTION_CHARS, MAX_ROW_ID_CHARS, check_bounded,
    check_coordinate, check_emoji, check_message_media, check_url,
};
use super::checks::{
    check_metadata, check_send_at, check_send_at_before_expiry, check_template, check_text,
    check_validity,
};
use super::{SendRules, ValidationErrors, field};

/// One message to send: recipient, content (text or template) and options. Build it with [`SendRequest::text`] or
/// [`SendRequest::template`] and the builder methods; [`WhatsApi::send`](crate::WhatsApi::send) validates it.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    to: Recipient,
    content: MessageContent,
    /// The message this one replies to (Meta's `context.message_id`): a wamid, or a whatsapi id resolved when
    /// the send is accepted.
    reply_to: Option<String>,
    /// The business number to send from (a phone number id of the account); `None`: the default number.
    from: Option<String>,
    send_at: Option<DateTime<Utc>>,
    validity: Option<Duration>,
    metadata: Option<Map<String, Value>>,
    dry_run: bool,
    idempotency_key: Option<IdempotencyKey>,
    /// Template components were added to a text message (reported by [`SendRequest::validate`]).
    stray_components: bool,
}

impl SendRequest {
    /// A message with the given content.
    pub fn new(to: impl Into<Recipient>, content: MessageContent) -> Self {
        Self {
            to: to.into(),
            content,
            reply_to: None,
            from: None,
            send_at: None,
            validity: None,
            metadata: None,
            dry_run: false,
            idempotency_key: None,
            stray_components: false,
        }
    }

    /// A free-form text message (only delivered inside the 24-hour customer service window).
    pub fn text(to: impl Into<Recipient>, body: impl Into<String>) -> Self {
        Self::new(to, MessageContent::Text { body: body.into() })
    }

    /// A Meta-approved template by name and language code, without parameters (add them with
    /// [`header_param`](Self::header_param), [`body_params`](Self::body_params),
    /// [`body_parameters`](Self::body_parameters), the button methods, or [`component`](Self::component)).
    ///
    /// ```
    /// use chrono::Utc;
    /// use whatsapi_core::send::SendRules;
    /// use whatsapi_core::{FlowAction, MediaSource, PhoneNumber, SendRequest, TemplateParameter};
    ///
    /// let to = PhoneNumber::parse("14155552671").unwrap();
    /// let r = SendRequest::template(to.clone(), "order_shipped", "en_US")
    ///     .header_param(TemplateParameter::image(MediaSource::id("1013859600285441")))
    ///     .body_parameters([
    ///         TemplateParameter::text("Sarah"),
    ///         TemplateParameter::currency("$12.50", "USD", 12_500),
    ///         TemplateParameter::date_time("May 1, 2026"),
    ///     ])
    ///     .url_button(0, "track/1042")
    ///     .quick_reply_button(1, "STOP")
    ///     .copy_code_button(2, "SAVE10")
    ///     .flow_button(3, FlowAction { flow_token: Some("booking-1042".into()), flow_action_data: None });
    /// assert!(r.validate(Utc::now(), &SendRules::default()).is_ok());
    ///
    /// // Checked as Meta checks it: each button is given once.
    /// let bad = SendRequest::template(to, "order_shipped", "en_US").url_button(0, "a").url_button(0, "b");
    /// let errs = bad.validate(Utc::now(), &SendRules::default()).unwrap_err();
    /// assert_eq!(errs.fields()[0].field, "template.components[1].index");
    /// ```
    pub fn template(
        to: impl Into<Recipient>,
        name: impl Into<String>,
        language: impl Into<String>,
    ) -> Self {
        Self::new(
            to,
            MessageContent::Template(Template {
                name: name.into(),
                language: language.into(),
                components: Vec::new(),
            }),
        )
    }

    /// Adds a template component. On a text message this is a validation error.
    pub fn component(mut self, component: TemplateComponent) -> Self {
        match &mut self.content {
            MessageContent::Template(t) => t.components.push(component),
            _ => self.stray_components = true,
        }
        self
    }

    /// An image (JPEG or PNG) by link or uploaded media id; add a caption with [`caption`](Self::caption).
    ///
    /// ```
    /// use whatsapi_core::{MediaSource, PhoneNumber, SendRequest};
    ///
    /// let to = PhoneNumber::parse("14155552671").unwrap();
    /// let r = SendRequest::image(to, MediaSource::link("https://example.com/a.png")).caption("Your receipt");
    /// assert_eq!(r.content().media().unwrap().caption.as_deref(), Some("Your receipt"));
    /// ```
    pub fn image(to: impl Into<Recipient>, source: MediaSource) -> Self {
        Self::new(to, MessageContent::Image(source.into_media()))
    }

    /// A video (MP4 or 3GPP) by link or uploaded media id.
    pub fn video(to: impl Into<Recipient>, source: MediaSource) -> Self {
        Self::new(to, MessageContent::Video(source.into_media()))
    }

    /// An audio file or voice message by link or uploaded media id.
    pub fn audio(to: impl Into<Recipient>, source: MediaSource) -> Self {
        Self::new(to, MessageContent::Audio(source.into_media()))
    }

    /// A document by link or uploaded media id; name it with [`filename`](Self::filename).
    pub fn document(to: impl Into<Recipient>, source: MediaSource) -> Self {
        Self::new(to, MessageContent::Document(source.into_media()))
    }

    /// A WebP sticker by link or uploaded media id.
    pub fn sticker(to: impl Into<Recipient>, source: MediaSource) -> Self {
        Self::new(to, MessageContent::Sticker(source.into_media()))
    }

    /// An interactive message (buttons, list or call-to-action URL).
    pub fn interactive(to: impl Into<Recipient>, interactive: Interactive) -> Self {
        Self::new(to, MessageContent::Interactive(interactive))
    }

    /// Up to three reply buttons under a body text; each button is `(id, title)`.
    ///
    /// ```
    /// use whatsapi_core::{PhoneNumber, SendRequest};
    ///
    /// let to = PhoneNumber::parse("14155552671").unwrap();
    /// let r = SendRequest::buttons(to, "Confirm your booking?", [("yes", "Yes"), ("no", "No")]).footer("Reply by 6 pm");
    /// assert_eq!(r.content().kind().as_str(), "interactive");
    /// ```
    pub fn buttons<I, S, T>(to: impl Into<Recipient>, body: impl Into<String>, buttons: I) -> Self
    where
        I: IntoIterator<Item = (S, T)>,
        S: Into<String>,
        T: Into<String>,
    {
        let buttons = buttons
            .into_iter()
            .map(|(id, title)| ReplyButton {
                id: id.into(),
                title: title.into(),
            })
            .collect();
        Self::interactive(
            to,
            Interactive {
                header: None,
                body: body.into(),
                footer: None,
                action: InteractiveAction::Button { buttons },
            },
        )
    }

    /// A location pin; name it with [`place`](Self::place).
    pub fn location(to: impl Into<Recipient>, latitude: f64, longitude: f64) -> Self {
        Self::new(
            to,
            MessageContent::Location(Location {
                latitude,
                longitude,
                name: None,
                address: None,
            }),
        )
    }

    /// One or more contact cards.
    pub fn contacts(to: impl Into<Recipient>, contacts: impl IntoIterator<Item = Contact>) -> Self {
        Self::new(to, MessageContent::Contacts(contacts.into_iter().collect()))
    }

    /// A reaction with `emoji` (empty removes it) to the message with this WhatsApp id (wamid), or to one of the
    /// account's own messages by its whatsapi id (replaced by that message's wamid when the send is accepted).
    pub fn reaction(
        to: impl Into<Recipient>,
        message_id: impl Into<String>,
        emoji: impl Into<String>,
    ) -> Self {
        Self::new(
            to,
            MessageContent::Reaction(Reaction {
                message_id: message_id.into(),
                emoji: emoji.into(),
            }),
        )
    }

    fn media_mut(&mut self) -> Option<&mut MediaParameter> {
        match &mut self.content {
            MessageContent::Image(m)
            | MessageContent::Video(m)
            | MessageContent::Audio(m)
            | MessageContent::Document(m)
            | MessageContent::Sticker(m) => Some(m),
            _ => None,
        }
    }

    /// The caption of an image, video or document. Validation refuses a caption on audio and stickers; on content
    /// that is not media this does nothing.
    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        if let Some(m) = self.media_mut() {
            m.caption = Some(caption.into());
        }
        self
    }

    /// The file name shown for a document (validation refuses it on other media).
    pub fn filename(mut self, filename: impl Into<String>) -> Self {
        if let Some(m) = self.media_mut() {
            m.filename = Some(filename.into());
        }
        self
    }

    /// The footer of an interactive message (ignored on other content).
    pub fn footer(mut self, footer: impl Into<String>) -> Self {
        if let MessageContent::Interactive(i) = &mut self.content {
            i.footer = Some(footer.into());
        }
        self
    }

    /// The header of an interactive message (ignored on other content).
    pub fn header(mut self, header: InteractiveHeader) -> Self {
        if let MessageContent::Interactive(i) = &mut self.content {
            i.header = Some(header);
        }
        self
    }

    /// The name and address of a location (ignored on other content).
    pub fn place(mut self, name: impl Into<String>, address: impl Into<String>) -> Self {
        if let MessageContent::Location(l) = &mut self.content {
            l.name = Some(name.into());
            l.address = Some(address.into());
        }
        self
    }

    /// Adds the body component with text parameters (`{{1}}`, `{{2}}`, …).
    pub fn body_params<I, S>(self, texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let parameters = texts.into_iter().map(TemplateParameter::text).collect();
        self.component(TemplateComponent::Body { parameters })
    }

    /// Adds the body component with named text parameters (`{{first_name}}`), each `(name, text)`.
    pub fn named_body_params<I, N, S>(self, texts: I) -> Self
    where
        I: IntoIterator<Item = (N, S)>,
        N: Into<String>,
        S: Into<String>,
    {
        let parameters = texts
            .into_iter()
            .map(|(n, t)| TemplateParameter::named_text(n, t))
            .collect();
        self.component(TemplateComponent::Body { parameters })
    }

    /// Adds the body component with any parameters (text, [`TemplateParameter::currency`],
    /// [`TemplateParameter::date_time`]).
    pub fn body_parameters(self, parameters: impl IntoIterator<Item = TemplateParameter>) -> Self {
        self.component(TemplateComponent::Body {
            parameters: parameters.into_iter().collect(),
        })
    }

    /// Adds the header component with its one parameter: text, [`TemplateParameter::image`] (or video,
    /// document) or [`TemplateParameter::location`].
    pub fn header_param(self, parameter: TemplateParameter) -> Self {
        self.header_params([parameter])
    }

    /// Adds a quick-reply button's payload (returned when the recipient taps it).
    pub fn quick_reply_button(self, index: u8, payload: impl Into<String>) -> Self {
        self.button(
            ButtonSubType::QuickReply,
            index,
            [TemplateParameter::payload(payload)],
        )
    }

    /// Adds a URL button's suffix (appended to the URL approved with the template).
    pub fn url_button(self, index: u8, suffix: impl Into<String>) -> Self {
        self.button(ButtonSubType::Url, index, [TemplateParameter::text(suffix)])
    }

    /// Adds a copy-code button's coupon code.
    pub fn copy_code_button(self, index: u8, code: impl Into<String>) -> Self {
        self.button(
            ButtonSubType::CopyCode,
            index,
            [TemplateParameter::coupon_code(code)],
        )
    }

    /// Adds a flow button's action (its token and the first screen's data).
    pub fn flow_button(self, index: u8, action: FlowAction) -> Self {
        self.button(
            ButtonSubType::Flow,
            index,
            [TemplateParameter::flow_action(action)],
        )
    }

    /// Adds the header component (a text or a media parameter).
    pub fn header_params(self, parameters: impl IntoIterator<Item = TemplateParameter>) -> Self {
        self.component(TemplateComponent::Header {
            parameters: parameters.into_iter().collect(),
        })
    }

    /// Adds the parameters of the button at `index` (0-based).
    pub fn button(
        self,
        sub_type: ButtonSubType,
        index: u8,
        parameters: impl IntoIterator<Item = TemplateParameter>,
    ) -> Self {
        self.component(TemplateComponent::Button {
            sub_type,
            index,
            parameters: parameters.into_iter().collect(),
        })
    }

    /// Sends no earlier than `at` (the message is `scheduled` until then).
    pub fn send_at(mut self, at: DateTime<Utc>) -> Self {
        self.send_at = Some(at);
        self
    }

    /// How long the message may wait to be handed to Meta, counted from its acceptance (as Twilio's
    /// `ValidityPeriod`): still queued, scheduled or retrying when it ends, the message fails with
    /// [`EXPIRED`](crate::message::EXPIRED) instead of going out late. Whole seconds from
    /// [`MIN_VALIDITY`](super::MIN_VALIDITY) to [`MAX_VALIDITY`](super::MAX_VALIDITY); a [`send_at`](Self::send_at)
    /// after the expiry is refused. Without it the account's default applies
    /// ([`Account::default_validity`](crate::Account::default_validity)), else the message never expires.
    ///
    /// ```
    /// use std::time::Duration;
    /// use chrono::Utc;
    /// use whatsapi_core::send::SendRules;
    /// use whatsapi_core::{PhoneNumber, SendRequest};
    ///
    /// let to = PhoneNumber::parse("14155552671").unwrap();
    /// let code = SendRequest::template(to.clone(), "login_code", "en_US").validity(Duration::from_secs(300));
    /// assert!(code.validate(Utc::now(), &SendRules::default()).is_ok());
    ///
    /// // Scheduled after it would expire: refused, naming the schedule.
    /// let late = code.send_at(Utc::now() + chrono::Duration::minutes(10));
    /// let errs = late.validate(Utc::now(), &SendRules::default()).unwrap_err();
    /// assert_eq!(errs.fields()[0].field, "send_at");
    /// ```
    pub fn validity(mut self, validity: Duration) -> Self {
        self.validity = Some(validity);
        self
    }

    /// Caller data kept with the message and echoed in its webhooks.
    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Simulates the send: stored and tracked, never handed to Meta.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// The first outcome is kept for 24 hours and returned again for a repeat of this request with this key.
    pub fn idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// Sends it as a reply to an earlier message, quoted above it in the chat (Meta's `context.message_id`):
    /// a WhatsApp message id (wamid, such as an inbound message's), or one of the account's own messages by its
    /// whatsapi id (replaced by that message's wamid when the send is accepted).
    pub fn reply_to(mut self, message_id: impl Into<String>) -> Self {
        self.reply_to = Some(message_id.into());
        self
    }

    /// Sends it from one of the account's business numbers, named by its Meta phone number id (the default
    /// number's, or one connected with [`WhatsApi::add_number`](crate::WhatsApi::add_number)); without it the
    /// default number sends. An id that is not one of the account's numbers is refused when the send is accepted.
    pub fn from_number(mut self, phone_number_id: impl Into<String>) -> Self {
        self.from = Some(phone_number_id.into());
        self
    }

    /// The business number it is sent from, if named.
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// The recipient.
    pub fn recipient(&self) -> &Recipient {
        &self.to
    }

    /// The message this one replies to, if any.
    pub fn replying_to(&self) -> Option<&str> {
        self.reply_to.as_deref()
    }

    /// The reply target, to resolve a whatsapi id to its wamid before the message is stored.
    pub(crate) fn reply_to_mut(&mut self) -> Option<&mut String> {
        self.reply_to.as_mut()
    }

    /// The message this one answers: the one it replies to, else the one it reacts to.
    pub(crate) fn answered_message(&self) -> Option<&str> {
        match (&self.reply_to, &self.content) {
            (Some(r), _) => Some(r),
            (None, MessageContent::Reaction(r)) => Some(&r.message_id),
            (None, _) => None,
        }
    }

    /// Sets the business number it goes out on (before it is checked and stored).
    pub(crate) fn set_sender(&mut self, phone_number_id: String) {
        self.from = Some(phone_number_id);
    }

    /// What to send.
    pub fn content(&self) -> &MessageContent {
        &self.content
    }

    /// What to send, to resolve references before it is stored (a reaction's whatsapi message id).
    pub(crate) fn content_mut(&mut self) -> &mut MessageContent {
        &mut self.content
    }

    /// The scheduled send time, if any.
    pub fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        self.send_at
    }

    /// The validity period the request sets, if any (the account's default applies otherwise).
    pub fn validity_period(&self) -> Option<Duration> {
        self.validity
    }

    /// The caller's metadata, if any.
    pub fn caller_metadata(&self) -> Option<&Map<String, Value>> {
        self.metadata.as_ref()
    }

    /// Whether this is a simulation.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The idempotency key, if any.
    pub fn key(&self) -> Option<&IdempotencyKey> {
        self.idempotency_key.as_ref()
    }

    /// The message to store for this (valid) request, accepted at `now`: it expires after its own validity period,
    /// else after `default_validity` (the account's), else never.
    pub(crate) fn into_new_message(
        self,
        account_id: AccountId,
        batch_id: Option<BatchId>,
        now: DateTime<Utc>,
        default_validity: Option<Duration>,
    ) -> NewMessage {
        let expires_at = self
            .validity
            .or(default_validity)
            .map(|v| crate::store::support::saturating_add(now, v));
        NewMessage {
            id: MessageId::new(),
            account_id,
            batch_id,
            to: self.to,
            content: self.content,
            reply_to: self.reply_to,
            from: self.from,
            send_at: self.send_at,
            expires_at,
            metadata: self.metadata,
            dry_run: self.dry_run,
            created_at: now,
        }
    }

    /// Checks every value against the domain's rules (`now` and `rules` judge the schedule), reporting all failures
    /// under [`field`] identifiers.
    pub fn validate(&self, now: DateTime<Utc>, rules: &SendRules) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        self.check_into("", now, rules, &mut errs);
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// [`validate`](Self::validate) with every path under `prefix` (`items[3]`), appending to `errs`.
    pub(crate) fn check_into(
        &self,
        prefix: &str,
        now: DateTime<Utc>,
        rules: &SendRules,
        errs: &mut ValidationErrors,
    ) {
        let at = |f: &str| {
            if prefix.is_empty() {
                f.to_owned()
            } else {
                format!("{prefix}.{f}")
            }
        };
        match &self.content {
            MessageContent::Text { body } => {
                if let Err(m) = check_text(body) {
                    errs.push(at(field::TEXT), m);
                }
                if self.stray_components {
                    errs.push(
                        at(field::TEXT),
                        "template components were given for a text message; send a template instead",
                    );
                }
            }
            MessageContent::Template(t) => check_template(t, &at(field::TEMPLATE), errs),
            other => check_content_into(other, prefix, errs),
        }
        if self.stray_components && !matches!(self.content, MessageContent::Text { .. }) {
            errs.push(
                at(self.content.kind().as_str()),
                "template components were given for a message that is not a template",
            );
        }
        if let Some(r) = &self.reply_to {
            if let Err(m) = check_reply_to(r, &self.content) {
                errs.push(at(field::CONTEXT), m);
            }
        }
        if let Some(Err(m)) = self.from.as_deref().map(super::check_from) {
            errs.push(at(field::FROM), m);
        }
        if let Some(t) = self.send_at {
            if let Err(m) = check_send_at(t, now, rules) {
                errs.push(at(field::SEND_AT), m);
            }
        }
        if let Some(v) = self.validity {
            match check_validity(v) {
                Err(m) => errs.push(at(field::VALIDITY), m),
                Ok(()) => {
                    if let Some(t) = self.send_at {
                        let expires_at = crate::store::support::saturating_add(now, v);
                        let how = format!("a validity period of {} s", v.as_secs());
                        if let Err(m) = check_send_at_before_expiry(t, expires_at, &how) {
                            errs.push(at(field::SEND_AT), m);
                        }
                    }
                }
            }
        }
        if let Some(m) = &self.metadata {
            if let Err(m) = check_metadata(m) {
                errs.push(at(field::METADATA), m);
            }
        }
    }

    /// Identifies the request for idempotency: equal requests (whatever the key order of their metadata) have equal
    /// fingerprints; the key itself is not part of it.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(RequestKind::Send, &self.canonical())
    }

    /// The request as canonical JSON (for fingerprints).
    pub(crate) fn canonical(&self) -> Value {
        // A recipient by phone number alone and a send that replies to nothing keep the fingerprint they had
        // before BSUIDs and replies existed.
        let mut v = json!({
            "to": self.to.address(),
            "content": serde_json::to_value(&self.content).unwrap_or(Value::Null),
            "send_at": self.send_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true)),
            "metadata": self.metadata,
            "dry_run": self.dry_run,
            "stray_components": self.stray_components,
        });
        if let Some(u) = self.to.user_id() {
            v["recipient"] = json!(u.as_str());
        }
        if let Some(r) = &self.reply_to {
            v["context"] = json!(r);
        }
        if let Some(d) = self.validity {
            v["validity_nanos"] = json!(d.as_nanos().to_string());
        }
        // Absent when the default number sends, so such requests keep their fingerprint.
        if let Some(f) = &self.from {
            v["from"] = json!(f);
        }
        v
    }
}

/// Longest message id a reply may name (wamids are about 60 characters; this leaves room for their growth).
const MAX_REPLY_TO_CHARS: usize = 256;

/// A reply's target: a message id that is not blank, and content that can be a reply (a reaction already names
/// its message).
pub fn check_reply_to(id: &str, content: &MessageContent) -> Result<(), String> {
    if matches!(content, MessageContent::Reaction(_)) {
        return Err(
            "a reaction cannot be a reply; its reaction.message_id already names the message"
                .into(),
        );
    }
    if id.trim().is_empty() {
        return Err(
            "must be the id of the message replied to: a WhatsApp message id (wamid…) or a whatsapi message id"
                .into(),
        );
    }
    if id.chars().count() > MAX_REPLY_TO_CHARS {
        return Err(format!(
            "at most {MAX_REPLY_TO_CHARS} characters: a WhatsApp message id (wamid…) or a whatsapi message id"
        ));
    }
    Ok(())
}

/// Checks media, interactive, location, contacts and reaction content as Meta does, reporting each failure under its path
/// (`image.caption`, `interactive.action.buttons[1].reply.title`, `location.latitude`, …) below `prefix` (empty,
/// or `items[3]`). Text and templates are checked by [`SendRequest::validate`] with the rest of a request.
pub fn check_content(content: &MessageContent, prefix: &str, errs: &mut ValidationErrors) {
    check_content_into(content, prefix, errs);
}

fn check_content_into(content: &MessageContent, prefix: &str, errs: &mut ValidationErrors) {
    let at = |f: &str| {
        if prefix.is_empty() {
            f.to_owned()
        } else {
            format!("{prefix}.{f}")
        }
    };
    match content {
        MessageContent::Text { .. } | MessageContent::Template(_) => {}
        MessageContent::Image(m)
        | MessageContent::Video(m)
        | MessageContent::Audio(m)
        | MessageContent::Document(m)
        | MessageContent::Sticker(m) => {
            let kind = content.kind();
            for (sub, message) in check_message_media(kind, m) {
                let f = match sub {
                    Some(s) => format!("{kind}.{s}"),
                    None => kind.as_str().to_owned(),
                };
                errs.push(at(&f), message);
            }
        }
        MessageContent::Interactive(i) => check_interactive(i, &at("interactive"), errs),
        MessageContent::Location(l) => check_location(l, &at("location"), errs),
        MessageContent::Contacts(c) => check_contacts(c, &at("contacts"), errs),
        MessageContent::Reaction(r) => {
            if r.message_id.trim().is_empty() {
                errs.push(
                    at("reaction.message_id"),
                    "required: the WhatsApp id (wamid) or the whatsapi id of the message reacted to",
                );
            }
            if let Err(m) = check_emoji(&r.emoji) {
                errs.push(at("reaction.emoji"), m);
            }
        }
    }
}

fn push_err(errs: &mut ValidationErrors, f: String, r: Result<(), String>) {
    if let Err(m) = r {
        errs.push(f, m);
    }
}

fn check_interactive(i: &Interactive, base: &str, errs: &mut ValidationErrors) {
    match &i.header {
        None => {}
        Some(InteractiveHeader::Text { text }) => push_err(
            errs,
            format!("{base}.header.text"),
            check_bounded(text, MAX_INTERACTIVE_HEADER_CHARS),
        ),
        Some(
            h @ (InteractiveHeader::Image { .. }
            | InteractiveHeader::Video { .. }
            | InteractiveHeader::Document { .. }),
        ) => {
            let (kind, m) = match h {
                InteractiveHeader::Image { image } => (MessageKind::Image, image),
                InteractiveHeader::Video { video } => (MessageKind::Video, video),
                InteractiveHeader::Document { document } => (MessageKind::Document, document),
                InteractiveHeader::Text { .. } => unreachable!("matched above"),
            };
            if !matches!(
                i.action,
                InteractiveAction::Button { .. } | InteractiveAction::CtaUrl { .. }
            ) {
                errs.push(
                    format!("{base}.header.type"),
                    "a list's header can only be text",
                );
            }
            for (sub, message) in check_message_media(kind, m) {
                let f = match sub {
                    Some(s) => format!("{base}.header.{kind}.{s}"),
                    None => format!("{base}.header.{kind}"),
                };
                errs.push(f, message);
            }
        }
    }
    push_err(
        errs,
        format!("{base}.body.text"),
        check_bounded(&i.body, MAX_INTERACTIVE_BODY_CHARS),
    );
    if let Some(f) = &i.footer {
        push_err(
            errs,
            format!("{base}.footer.text"),
            check_bounded(f, MAX_INTERACTIVE_HEADER_CHARS),
        );
    }
    let action = format!("{base}.action");
    match &i.action {
        InteractiveAction::Button { buttons } => {
            if buttons.is_empty() || buttons.len() > MAX_REPLY_BUTTONS {
                errs.push(
                    format!("{action}.buttons"),
                    format!(
                        "must hold 1 to {MAX_REPLY_BUTTONS} reply buttons, got {}",
                        buttons.len()
                    ),
                );
            }
            for (n, b) in buttons.iter().enumerate() {
                let f = format!("{action}.buttons[{n}].reply");
                push_err(
                    errs,
                    format!("{f}.id"),
                    check_bounded(&b.id, MAX_BUTTON_ID_CHARS),
                );
                push_err(
                    errs,
                    format!("{f}.title"),
                    check_bounded(&b.title, MAX_BUTTON_TITLE_CHARS),
                );
                if buttons[..n].iter().any(|o| o.id == b.id) {
                    errs.push(format!("{f}.id"), "must differ from the other buttons' ids");
                }
                if buttons[..n].iter().any(|o| o.title == b.title) {
                    errs.push(
                        format!("{f}.title"),
                        "must differ from the other buttons' titles",
                    );
                }
            }
        }
        InteractiveAction::List { button, sections } => {
            push_err(
                errs,
                format!("{action}.button"),
                check_bounded(button, MAX_BUTTON_TITLE_CHARS),
            );
            let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
            if sections.is_empty() || sections.len() > MAX_LIST_SECTIONS {
                errs.push(
                    format!("{action}.sections"),
                    format!(
                        "must hold 1 to {MAX_LIST_SECTIONS} sections, got {}",
                        sections.len()
                    ),
                );
            } else if rows == 0 || rows > MAX_LIST_ROWS {
                errs.push(
                    format!("{action}.sections"),
                    format!("must hold 1 to {MAX_LIST_ROWS} rows in all, got {rows}"),
                );
            }
            let mut seen: Vec<&str> = Vec::new();
            for (n, s) in sections.iter().enumerate() {
                let f = format!("{action}.sections[{n}]");
                match &s.title {
                    Some(t) => push_err(
                        errs,
                        format!("{f}.title"),
                        check_bounded(t, MAX_LIST_TITLE_CHARS),
                    ),
                    None if sections.len() > 1 => errs.push(
                        format!("{f}.title"),
                        "required when a list has several sections",
                    ),
                    None => {}
                }
                if s.rows.is_empty() {
                    errs.push(format!("{f}.rows"), "must hold at least one row");
                }
                for (k, r) in s.rows.iter().enumerate() {
                    let rf = format!("{f}.rows[{k}]");
                    push_err(
                        errs,
                        format!("{rf}.id"),
                        check_bounded(&r.id, MAX_ROW_ID_CHARS),
                    );
                    if seen.contains(&r.id.as_str()) {
                        errs.push(format!("{rf}.id"), "must differ from the other rows' ids");
                    }
                    seen.push(&r.id);
                    push_err(
                        errs,
                        format!("{rf}.title"),
                        check_bounded(&r.title, MAX_LIST_TITLE_CHARS),
                    );
                    if let Some(d) = &r.description {
                        push_err(
                            errs,
                            format!("{rf}.description"),
                            check_bounded(d, MAX_ROW_DESCRIPTION_CHARS),
                        );
                    }
                }
            }
        }
        InteractiveAction::CtaUrl { display_text, url } => {
            let f = format!("{action}.parameters");
            push_err(
                errs,
                format!("{f}.display_text"),
                check_bounded(display_text, MAX_BUTTON_TITLE_CHARS),
            );
            push_err(errs, format!("{f}.url"), check_url(url));
        }
    }
}

/// At most this many contact cards in one message.
pub const MAX_CONTACTS: usize = 257;
/// At most this many phones, emails, URLs or addresses on one card.
pub const MAX_CONTACT_ENTRIES: usize = 20;
const MAX_CONTACT_FIELD_CHARS: usize = 1000;

fn check_contacts(cards: &[Contact], base: &str, errs: &mut ValidationErrors) {
    if cards.is_empty() {
        errs.push(base, "must hold at least one contact");
        return;
    }
    if cards.len() > MAX_CONTACTS {
        errs.push(base, format!("at most {MAX_CONTACTS} contacts"));
    }
    let opt = |errs: &mut ValidationErrors, f: String, v: &Option<String>| {
        if let Some(v) = v {
            push_err(errs, f, check_bounded(v, MAX_CONTACT_FIELD_CHARS));
        }
    };
    for (n, c) in cards.iter().enumerate() {
        let p = format!("{base}[{n}]");
        push_err(
            errs,
            format!("{p}.name.formatted_name"),
            check_bounded(&c.name.formatted_name, MAX_CONTACT_FIELD_CHARS),
        );
        for (k, v) in [
            ("first_name", &c.name.first_name),
            ("last_name", &c.name.last_name),
            ("middle_name", &c.name.middle_name),
            ("suffix", &c.name.suffix),
            ("prefix", &c.name.prefix),
        ] {
            opt(errs, format!("{p}.name.{k}"), v);
        }
        for (k, len) in [
            ("phones", c.phones.len()),
            ("emails", c.emails.len()),
            ("urls", c.urls.len()),
            ("addresses", c.addresses.len()),
        ] {
            if len > MAX_CONTACT_ENTRIES {
                errs.push(format!("{p}.{k}"), format!("at most {MAX_CONTACT_ENTRIES}"));
            }
        }
        for (i, ph) in c.phones.iter().enumerate() {
            opt(errs, format!("{p}.phones[{i}].phone"), &ph.phone);
            opt(errs, format!("{p}.phones[{i}].type"), &ph.kind);
            opt(errs, format!("{p}.phones[{i}].wa_id"), &ph.wa_id);
        }
        for (i, e) in c.emails.iter().enumerate() {
            opt(errs, format!("{p}.emails[{i}].email"), &e.email);
            opt(errs, format!("{p}.emails[{i}].type"), &e.kind);
        }
        for (i, u) in c.urls.iter().enumerate() {
            opt(errs, format!("{p}.urls[{i}].url"), &u.url);
            opt(errs, format!("{p}.urls[{i}].type"), &u.kind);
        }
        for (i, a) in c.addresses.iter().enumerate() {
            for (k, v) in [
                ("street", &a.street),
                ("city", &a.city),
                ("state", &a.state),
                ("zip", &a.zip),
                ("country", &a.country),
                ("country_code", &a.country_code),
                ("type", &a.kind),
            ] {
                opt(errs, format!("{p}.addresses[{i}].{k}"), v);
            }
        }
        if let Some(o) = &c.org {
            opt(errs, format!("{p}.org.company"), &o.company);
            opt(errs, format!("{p}.org.department"), &o.department);
            opt(errs, format!("{p}.org.title"), &o.title);
        }
        if let Some(b) = &c.birthday {
            let ok = b.len() == 10
                && b.bytes().enumerate().all(|(i, ch)| {
                    if i == 4 || i == 7 {
                        ch == b'-'
                    } else {
                        ch.is_ascii_digit()
                    }
                });
            if !ok {
                errs.push(format!("{p}.birthday"), "must be a date YYYY-MM-DD");
            }
        }
    }
}

fn check_location(l: &Location, base: &str, errs: &mut ValidationErrors) {
    push_err(
        errs,
        format!("{base}.latitude"),
        check_coordinate(l.latitude, 90.0),
    );
    push_err(
        errs,
        format!("{base}.longitude"),
        check_coordinate(l.longitude, 180.0),
    );
    if let Some(n) = &l.name {
        push_err(errs, format!("{base}.name"), check_bounded(n, 1000));
    }
    if let Some(a) = &l.address {
        push_err(errs, format!("{base}.address"), check_bounded(a, 1000));
    }
}
