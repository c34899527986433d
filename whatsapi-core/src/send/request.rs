//! [`SendRequest`]: one message to one recipient, with its options.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::account::AccountId;
use crate::idempotency::{Fingerprint, IdempotencyKey, RequestKind};
use crate::message::{
    BatchId, ButtonSubType, MessageContent, MessageId, NewMessage, Template, TemplateComponent,
    TemplateParameter,
};
use crate::phone::PhoneNumber;

use super::checks::{
    BODY_PARAMETERS, HEADER_PARAMETERS, MAX_BUTTON_INDEX, button_parameters, check_currency_code,
    check_language, check_media, check_metadata, check_parameter_text, check_send_at,
    check_template_name, check_text, parameter_type,
};
use super::{SendRules, ValidationErrors, field};

/// One message to send: recipient, content (text or template) and options. Build it with [`SendRequest::text`] or
/// [`SendRequest::template`] and the builder methods; [`WhatsApi::send`](crate::WhatsApi::send) validates it.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    to: PhoneNumber,
    content: MessageContent,
    send_at: Option<DateTime<Utc>>,
    metadata: Option<Map<String, Value>>,
    dry_run: bool,
    idempotency_key: Option<IdempotencyKey>,
    /// Template components were added to a text message (reported by [`SendRequest::validate`]).
    stray_components: bool,
}

impl SendRequest {
    /// A message with the given content.
    pub fn new(to: PhoneNumber, content: MessageContent) -> Self {
        Self {
            to,
            content,
            send_at: None,
            metadata: None,
            dry_run: false,
            idempotency_key: None,
            stray_components: false,
        }
    }

    /// A free-form text message (only delivered inside the 24-hour customer service window).
    pub fn text(to: PhoneNumber, body: impl Into<String>) -> Self {
        Self::new(to, MessageContent::Text { body: body.into() })
    }

    /// A Meta-approved template by name and language code, without parameters (add them with
    /// [`body_params`](Self::body_params), [`header_params`](Self::header_params), [`button`](Self::button) or
    /// [`component`](Self::component)).
    pub fn template(to: PhoneNumber, name: impl Into<String>, language: impl Into<String>) -> Self {
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
            MessageContent::Text { .. } => self.stray_components = true,
        }
        self
    }

    /// Adds the body component with text parameters (`{{1}}`, `{{2}}`, …).
    pub fn body_params<I, S>(self, texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let parameters = texts
            .into_iter()
            .map(|t| TemplateParameter::Text { text: t.into() })
            .collect();
        self.component(TemplateComponent::Body { parameters })
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

    /// The recipient.
    pub fn to(&self) -> &PhoneNumber {
        &self.to
    }

    /// What to send.
    pub fn content(&self) -> &MessageContent {
        &self.content
    }

    /// The scheduled send time, if any.
    pub fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        self.send_at
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

    /// The message to store for this (valid) request.
    pub(crate) fn into_new_message(
        self,
        account_id: AccountId,
        batch_id: Option<BatchId>,
        now: DateTime<Utc>,
    ) -> NewMessage {
        NewMessage {
            id: MessageId::new(),
            account_id,
            batch_id,
            to: self.to,
            content: self.content,
            send_at: self.send_at,
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
        }
        if let Some(t) = self.send_at {
            if let Err(m) = check_send_at(t, now, rules) {
                errs.push(at(field::SEND_AT), m);
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
        json!({
            "to": self.to.as_str(),
            "content": serde_json::to_value(&self.content).unwrap_or(Value::Null),
            "send_at": self.send_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true)),
            "metadata": self.metadata,
            "dry_run": self.dry_run,
            "stray_components": self.stray_components,
        })
    }
}

fn check_template(t: &Template, base: &str, errs: &mut ValidationErrors) {
    if let Err(m) = check_template_name(&t.name) {
        errs.push(format!("{base}.name"), m);
    }
    if let Err(m) = check_language(&t.language) {
        errs.push(format!("{base}.language"), m);
    }
    let (mut headers, mut bodies) = (0, 0);
    for (i, c) in t.components.iter().enumerate() {
        let f = format!("{base}.components[{i}]");
        let (allowed, parameters) = match c {
            TemplateComponent::Header { parameters } => {
                headers += 1;
                (HEADER_PARAMETERS, parameters)
            }
            TemplateComponent::Body { parameters } => {
                bodies += 1;
                (BODY_PARAMETERS, parameters)
            }
            TemplateComponent::Button {
                sub_type,
                index,
                parameters,
            } => {
                if *index > MAX_BUTTON_INDEX {
                    errs.push(
                        format!("{f}.index"),
                        "required: the button's position, 0 to 9",
                    );
                }
                (button_parameters(*sub_type), parameters)
            }
        };
        for (j, p) in parameters.iter().enumerate() {
            check_parameter(p, &format!("{f}.parameters[{j}]"), allowed, errs);
        }
    }
    if headers > 1 || bodies > 1 {
        errs.push(
            format!("{base}.components"),
            "at most one header and one body component",
        );
    }
}

fn check_parameter(p: &TemplateParameter, f: &str, allowed: &[&str], errs: &mut ValidationErrors) {
    let kind = parameter_type(p);
    if !allowed.contains(&kind) {
        errs.push(
            format!("{f}.type"),
            format!(
                "'{kind}' is not allowed here; expected one of {}",
                allowed.join(", ")
            ),
        );
        return;
    }
    let mut text = |sub: &str, r: Result<(), String>| {
        if let Err(m) = r {
            errs.push(format!("{f}.{sub}"), m);
        }
    };
    match p {
        TemplateParameter::Text { text: t } => text("text", check_parameter_text(t)),
        TemplateParameter::Payload { payload } => text("payload", non_empty(payload)),
        TemplateParameter::CouponCode { coupon_code } => {
            text("coupon_code", non_empty(coupon_code))
        }
        TemplateParameter::Currency { currency } => {
            text(
                "currency.fallback_value",
                non_empty(&currency.fallback_value),
            );
            text("currency.code", check_currency_code(&currency.code));
        }
        TemplateParameter::DateTime { date_time } => text(
            "date_time.fallback_value",
            non_empty(&date_time.fallback_value),
        ),
        TemplateParameter::Image { image: m }
        | TemplateParameter::Document { document: m }
        | TemplateParameter::Video { video: m } => {
            if let Err((sub, message)) = check_media(m) {
                let path = match sub {
                    Some(s) => format!("{f}.{kind}.{s}"),
                    None => format!("{f}.{kind}"),
                };
                errs.push(path, message);
            }
        }
    }
}

fn non_empty(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}
