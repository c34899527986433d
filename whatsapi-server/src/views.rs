//! JSON shapes of the API (documented in the OpenAPI document).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use whatsapi_core::account::CredentialsStatus;
use whatsapi_core::webhook::format_time;
use whatsapi_core::{Account, Message, MessageContent, Status};

/// `{"success": true, "data": …}`.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always true.
    pub success: bool,
    /// The payload.
    pub data: T,
}

/// Wraps `data` in the success envelope.
pub fn ok<T: Serialize>(data: T) -> axum::Json<Envelope<T>> {
    axum::Json(Envelope {
        success: true,
        data,
    })
}

/// Where a message is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Accepted, waiting for the dispatcher.
    Queued,
    /// Waiting for its `sendAt` time.
    Scheduled,
    /// Being sent to Meta right now.
    Processing,
    /// A transient failure; it will be tried again.
    Retrying,
    /// Meta accepted it.
    Sent,
    /// It reached the recipient's device.
    Delivered,
    /// The recipient opened it.
    Read,
    /// It will not be delivered; `errorMessage` says why.
    Failed,
}

impl From<Status> for MessageStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Queued => Self::Queued,
            Status::Scheduled => Self::Scheduled,
            Status::Processing => Self::Processing,
            Status::Retrying => Self::Retrying,
            Status::Sent => Self::Sent,
            Status::Delivered => Self::Delivered,
            Status::Read => Self::Read,
            Status::Failed => Self::Failed,
        }
    }
}

/// One failing field of a 400.
#[derive(Serialize, ToSchema)]
pub struct FieldErrorView {
    /// Path of the field, e.g. `to` or `messages[2].template.name`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The error shape.
#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    /// Always false.
    #[schema(example = false)]
    pub success: bool,
    /// Human-readable message.
    #[schema(example = "Message not found.")]
    pub error: String,
    /// Per-field failures (400 only).
    #[schema(nullable = false)]
    pub details: Option<Vec<FieldErrorView>>,
    /// The request's id, as in the `X-Request-Id` response header (quote it when asking for help).
    #[serde(rename = "requestId")]
    #[schema(nullable = false)]
    pub request_id: Option<String>,
}

/// A new API key, shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// `sk_live_` + 48 hex characters. Store it now: it is never shown again.
    #[schema(example = "sk_live_a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6")]
    pub api_key: String,
    /// Plan of the account (registration only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "free")]
    pub plan: Option<String>,
}

/// The account (`GET /auth/me`). The API key is never included.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// Account id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// free, basic, pro or enterprise.
    pub plan: String,
    /// Messages Meta accepted (dry runs excluded).
    pub messages_sent: u64,
    /// Whether Meta credentials are saved.
    pub byoc_configured: bool,
    /// Whether the saved credentials were verified with Meta.
    pub credentials_verified: bool,
    /// unverified, verified or invalid (null without credentials).
    pub credentials_status: Option<String>,
    /// Why the credentials are invalid, when they are.
    pub credentials_error: Option<String>,
    /// The saved phone number id.
    pub whatsapp_phone_number_id: Option<String>,
    /// The saved WhatsApp Business Account id (routes Meta's template and account updates), when given.
    pub whatsapp_business_account_id: Option<String>,
    /// Whether an own verify token is saved for Meta's webhook handshake.
    pub whatsapp_verify_token_set: bool,
    /// Where status events are POSTed.
    pub webhook_url: Option<String>,
    /// Free-form text is refused at once outside the 24-hour window.
    pub strict_window: bool,
    /// The validity period, in seconds, of sends that set no `validitySeconds` (null: they never expire); set it
    /// with `defaultValiditySeconds` on `PUT /auth/me/credentials`.
    #[schema(example = 3600)]
    pub default_validity_seconds: Option<u64>,
    /// Requests per minute of the plan.
    pub rate_limit_per_minute: u32,
    /// Most messages per bulk request.
    pub bulk_limit: usize,
    /// Most recipients per campaign (`POST /campaigns`).
    pub campaign_recipient_limit: usize,
    /// Created.
    pub created_at: String,
}

impl AccountView {
    /// Builds the view.
    pub fn of(
        a: &Account,
        customer: &whatsapi_saas::Customer,
        plans: &whatsapi_saas::PlanTable,
    ) -> Self {
        let (status, error) = match (&a.credentials, &a.credentials_status) {
            (None, _) => (None, None),
            (Some(_), CredentialsStatus::Unverified) => (Some("unverified"), None),
            (Some(_), CredentialsStatus::Verified { .. }) => (Some("verified"), None),
            (Some(_), CredentialsStatus::Invalid { reason, .. }) => {
                (Some("invalid"), Some(reason.clone()))
            }
        };
        Self {
            id: a.id.to_string(),
            name: a.name.clone(),
            email: customer.email.clone(),
            plan: customer.plan.as_str().to_owned(),
            messages_sent: a.messages_sent,
            byoc_configured: a.credentials.is_some(),
            credentials_verified: status == Some("verified"),
            credentials_status: status.map(str::to_owned),
            credentials_error: error,
            whatsapp_phone_number_id: a.credentials.as_ref().map(|c| c.phone_number_id.clone()),
            whatsapp_business_account_id: a.credentials.as_ref().and_then(|c| c.waba_id.clone()),
            whatsapp_verify_token_set: a
                .credentials
                .as_ref()
                .is_some_and(|c| c.verify_token.is_some()),
            webhook_url: a.webhook.as_ref().map(|w| w.url.clone()),
            strict_window: a.strict_window,
            default_validity_seconds: a.default_validity.map(|d| d.as_secs()),
            rate_limit_per_minute: plans.limits(customer.plan).requests_per_minute,
            bulk_limit: plans.effective_bulk_cap(customer.plan),
            campaign_recipient_limit: plans.effective_campaign_cap(customer.plan),
            created_at: format_time(&a.created_at),
        }
    }
}

/// Credentials state after a change.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsView {
    /// Whether credentials are saved.
    pub byoc_configured: bool,
    /// The saved phone number id.
    pub whatsapp_phone_number_id: Option<String>,
    /// The saved WhatsApp Business Account id, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp_business_account_id: Option<String>,
    /// Whether they were verified.
    pub verified: bool,
}

/// Result of `POST /auth/me/credentials/verify`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyView {
    /// Meta accepted the credentials.
    pub valid: bool,
    /// Business name, when valid.
    pub verified_name: Option<String>,
    /// Number as displayed, when valid.
    pub display_phone_number: Option<String>,
    /// GREEN / YELLOW / RED, when known.
    pub quality_rating: Option<String>,
    /// Why they are invalid.
    pub error: Option<String>,
    /// Meta's error code.
    pub error_code: Option<i64>,
}

/// The webhook after a change. The signing secret is shown only when it is set.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// The endpoint, or null when removed.
    pub webhook_url: Option<String>,
    /// `whsec_…` secret to check `webhook-signature` (Standard Webhooks); shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

/// One status change.
#[derive(Serialize, ToSchema)]
pub struct TimelineView {
    /// Status reached.
    pub status: MessageStatus,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Why, for retrying and failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a reply quotes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextView {
    /// The WhatsApp message id (wamid) of the message replied to.
    #[schema(example = "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI2RjQ5QkE2")]
    pub message_id: String,
}

/// A message.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// Id.
    pub id: String,
    /// The recipient's phone number; `null` for a user known only by username (see `recipientUserId`).
    #[schema(example = "14155552671")]
    pub to: Option<String>,
    /// The recipient's business-scoped user id (BSUID), when the send named one; `null` otherwise.
    #[schema(example = json!(null))]
    pub recipient_user_id: Option<String>,
    /// The message this one replies to (Meta's `context`): `{"messageId": "wamid…"}`, or `null` for a message
    /// that is not a reply.
    pub context: Option<ContextView>,
    /// Text, for free-form messages.
    pub body: Option<String>,
    /// Template, for template messages.
    #[schema(value_type = Option<TemplateView>)]
    pub template: Option<Value>,
    /// The message type, as Meta names it: `text`, `template`, `image`, `video`, `audio`, `document`, `sticker`,
    /// `interactive`, `location`, `contacts` or `reaction`.
    #[serde(rename = "type")]
    #[schema(example = "image")]
    pub kind: String,
    /// Caption of an image, video or document message.
    pub caption: Option<String>,
    /// The media of an image, video, audio, document or sticker message: its public link or uploaded id.
    pub media: Option<MessageMediaView>,
    /// What an interactive message offers.
    pub interactive: Option<InteractiveSummaryView>,
    /// The formatted names of a contacts message's cards, in order.
    #[schema(example = json!(["Ada Lovelace"]))]
    pub contact_names: Option<Vec<String>>,
    /// For every type but text and template (which `body` and `template` show): the object sent to Meta under the
    /// field named like `type`, e.g. `{"latitude": 37.48, "longitude": -122.15}` for a location.
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// Current status.
    pub status: MessageStatus,
    /// When Meta accepted it.
    pub sent_at: Option<String>,
    /// When it reached the device.
    pub delivered_at: Option<String>,
    /// When it was read.
    pub read_at: Option<String>,
    /// When it failed.
    pub failed_at: Option<String>,
    /// Why it failed (or the last transient error while retrying).
    pub error_message: Option<String>,
    /// Meta's error code, when known.
    pub error_code: Option<i64>,
    /// Meta's error as reported on a failed status, field by field (build on `code` and `details`; Meta
    /// deprecates `title`).
    pub meta_error: Option<MetaErrorView>,
    /// The per-message pricing Meta reported for it.
    pub pricing: Option<PricingView>,
    /// Your metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Status history, oldest first (only on `GET /messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineView>>,
    /// Requested send time.
    pub scheduled_for: Option<String>,
    /// When its validity period ends (`validitySeconds`, or the account's default, from acceptance): a message not
    /// handed to Meta by then fails with the `errorMessage` "expired before it could be sent…". Null: never.
    pub expires_at: Option<String>,
    /// The business number it is sent from (a `phoneNumberId` of `GET /numbers`); null: the default number.
    #[schema(example = json!(null))]
    pub from: Option<String>,
    /// Bulk batch.
    pub batch_id: Option<String>,
    /// Simulated send.
    pub dry_run: bool,
    /// Meta's message id.
    pub wamid: Option<String>,
    /// Created.
    pub created_at: String,
    /// Whether `POST /messages/{id}/retry` can help: the message failed, and not with an error that fails the same
    /// way every time (invalid recipient 131026, template errors 132xxx, …). 131047 counts as retryable: the
    /// customer-service window opens when the customer writes in.
    pub retryable: bool,
}

/// The media of a media message.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageMediaView {
    /// Public URL Meta downloads the file from.
    #[schema(example = "https://example.com/receipt.png")]
    pub link: Option<String>,
    /// Id of media uploaded to Meta.
    pub id: Option<String>,
    /// File name shown for a document.
    pub filename: Option<String>,
}

/// A summary of an interactive message.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractiveSummaryView {
    /// `button` (reply buttons), `list` or `cta_url`.
    #[serde(rename = "type")]
    #[schema(example = "button")]
    pub kind: String,
    /// The body text.
    #[schema(example = "Confirm your booking?")]
    pub body: String,
    /// The titles the recipient can choose from: the reply buttons, the list's rows, or the URL button's label.
    #[schema(example = json!(["Yes", "No"]))]
    pub options: Vec<String>,
    /// The URL a `cta_url` button opens.
    pub url: Option<String>,
}

impl InteractiveSummaryView {
    fn of(i: &whatsapi_core::message::Interactive) -> Self {
        use whatsapi_core::message::InteractiveAction;
        let (options, url) = match &i.action {
            InteractiveAction::Button { buttons } => {
                (buttons.iter().map(|b| b.title.clone()).collect(), None)
            }
            InteractiveAction::List { sections, .. } => (
                sections
                    .iter()
                    .flat_map(|s| s.rows.iter().map(|r| r.title.clone()))
                    .collect(),
                None,
            ),
            InteractiveAction::CtaUrl { display_text, url } => {
                (vec![display_text.clone()], Some(url.clone()))
            }
        };
        Self {
            kind: i.action.kind().to_owned(),
            body: i.body.clone(),
            options,
            url,
        }
    }
}

/// The template of a template message, as it was sent.
#[derive(ToSchema)]
pub struct TemplateView {
    /// Template name as approved in Meta's console.
    #[schema(example = "order_ready")]
    pub name: String,
    /// Language code.
    #[schema(example = "en_US")]
    pub language: String,
    /// Parameters per component; left out when the template has none.
    #[schema(nullable = false)]
    pub components: Option<Vec<TemplateComponentView>>,
}

/// One component of a template with its parameters.
#[derive(ToSchema)]
pub struct TemplateComponentView {
    /// `header`, `body` or `button`.
    #[schema(rename = "type", example = "body")]
    pub kind: String,
    /// Buttons only: `quick_reply`, `url`, `copy_code` or `flow`.
    #[schema(nullable = false)]
    pub sub_type: Option<String>,
    /// Buttons only: position of the button, from 0.
    #[schema(nullable = false)]
    pub index: Option<u8>,
    /// The parameters, in Meta's shape (`{"type": "text", "text": "Sarah"}`, `{"type": "currency", ...}`, ...).
    pub parameters: Vec<TemplateParameterView>,
}

/// One template parameter, in Meta's shape: its `type` and the field of that name.
#[derive(ToSchema)]
pub struct TemplateParameterView {
    /// `text`, `currency`, `date_time`, `image`, `document`, `video`, `location`, `payload`, `coupon_code` or
    /// `action`.
    #[schema(rename = "type", example = "text")]
    pub kind: String,
    /// For named `text` parameters: the placeholder's name.
    #[schema(nullable = false, example = "first_name")]
    pub parameter_name: Option<String>,
    /// For `text`.
    #[schema(nullable = false, example = "Sarah")]
    pub text: Option<String>,
    /// For `payload` (quick-reply buttons).
    #[schema(nullable = false)]
    pub payload: Option<String>,
    /// For `coupon_code` (copy-code buttons).
    #[schema(nullable = false)]
    pub coupon_code: Option<String>,
    /// For `currency`: `fallback_value`, `code`, `amount_1000`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub currency: Option<Value>,
    /// For `date_time`: `fallback_value`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub date_time: Option<Value>,
    /// For `image`: `link` or `id`, and `caption`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub image: Option<Value>,
    /// For `document`: `link` or `id`, `filename`, `caption`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub document: Option<Value>,
    /// For `video`: `link` or `id`, and `caption`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub video: Option<Value>,
    /// For `location` (headers): `latitude`, `longitude`, `name`, `address`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub location: Option<Value>,
    /// For `action` (flow buttons): `flow_token`, `flow_action_data`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub action: Option<Value>,
}

/// An error Meta reported on a failed status.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaErrorView {
    /// Meta's error code.
    #[schema(example = 131026)]
    pub code: i64,
    /// Short title (deprecated by Meta).
    pub title: Option<String>,
    /// Meta's message.
    pub message: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
}

/// Meta's per-message pricing.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingView {
    /// `PMP` (per-message pricing).
    #[schema(example = "PMP")]
    pub pricing_model: Option<String>,
    /// `marketing`, `utility`, `authentication`, `service`, …
    #[schema(example = "marketing")]
    pub category: Option<String>,
    /// `regular`, `free_customer_service` or `free_entry_point`.
    #[serde(rename = "type")]
    #[schema(example = "regular")]
    pub kind: Option<String>,
    /// Deprecated by Meta.
    pub billable: Option<bool>,
}

fn ts(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.as_ref().map(format_time)
}

impl MessageView {
    /// Builds the view; `with_timeline` for the single-message endpoint.
    pub fn of(m: &Message, with_timeline: bool) -> Self {
        Self {
            id: m.id.to_string(),
            to: m.to.to().map(str::to_owned),
            recipient_user_id: m.to.user_id().map(|u| u.as_str().to_owned()),
            context: m.reply_to.as_ref().map(|id| ContextView {
                message_id: id.clone(),
            }),
            body: m.content.body().map(str::to_owned),
            template: m
                .content
                .template()
                .and_then(|t| serde_json::to_value(t).ok()),
            kind: m.content.kind().as_str().to_owned(),
            caption: m.content.media().and_then(|x| x.caption.clone()),
            media: m.content.media().map(|x| MessageMediaView {
                link: x.link.clone(),
                id: x.id.clone(),
                filename: x.filename.clone(),
            }),
            contact_names: match &m.content {
                MessageContent::Contacts(c) => {
                    Some(c.iter().map(|c| c.name.formatted_name.clone()).collect())
                }
                _ => None,
            },
            interactive: match &m.content {
                MessageContent::Interactive(i) => Some(InteractiveSummaryView::of(i)),
                _ => None,
            },
            content: match &m.content {
                MessageContent::Text { .. } | MessageContent::Template(_) => None,
                other => Some(whatsapi_core::graph::content_body(other).1),
            },
            status: m.status.into(),
            sent_at: ts(m.sent_at),
            delivered_at: ts(m.delivered_at),
            read_at: ts(m.read_at),
            failed_at: ts(m.failed_at),
            error_message: m.error_message.clone(),
            error_code: m.error_code,
            retryable: m.retryable(),
            meta_error: m.meta_error.as_ref().map(|e| MetaErrorView {
                code: e.code,
                title: e.title.clone(),
                message: e.message.clone(),
                details: e.details.clone(),
            }),
            pricing: m.pricing.as_ref().map(|p| PricingView {
                pricing_model: p.pricing_model.clone(),
                category: p.category.clone(),
                kind: p.kind.clone(),
                billable: p.billable,
            }),
            metadata: m.metadata.clone(),
            timeline: with_timeline.then(|| {
                m.timeline
                    .iter()
                    .map(|e| TimelineView {
                        status: e.status.into(),
                        at: format_time(&e.at),
                        detail: e.detail.clone(),
                    })
                    .collect()
            }),
            scheduled_for: ts(m.scheduled_for),
            expires_at: ts(m.expires_at),
            from: m.from.clone(),
            batch_id: m.batch_id.map(|b| b.to_string()),
            dry_run: m.dry_run,
            wamid: m.wamid.clone(),
            created_at: format_time(&m.created_at),
        }
    }
}

/// Pagination of a listing.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaginationView {
    /// Page number, from 1.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
    /// Matching items in all pages.
    pub total: u64,
    /// Pages.
    pub total_pages: u64,
}

impl PaginationView {
    /// The paging of one page of `total` matching items.
    pub fn of(page: whatsapi_core::store::PageRequest, total: u64) -> Self {
        Self {
            page: page.page,
            limit: page.limit,
            total,
            total_pages: total.div_ceil(u64::from(page.limit.max(1))),
        }
    }
}

/// `GET /messages` answer.
#[derive(Serialize, ToSchema)]
pub struct MessageListView {
    /// Always true.
    pub success: bool,
    /// Newest first.
    pub data: Vec<MessageView>,
    /// Paging.
    pub pagination: PaginationView,
}

/// Delivery statistics.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryView {
    /// Messages in all statuses.
    pub total: u64,
    /// Count per status (statuses with no messages are left out).
    #[schema(value_type = BTreeMap<String, u64>, example = json!({"delivered": 980, "failed": 52, "sent": 10}))]
    pub by_status: Map<String, Value>,
    /// (delivered + read) / total, two decimals.
    pub delivery_rate: f64,
    /// failed / total, two decimals.
    pub failure_rate: f64,
    /// Messages per pricing category Meta reported on their latest status (`marketing`, `utility`,
    /// `authentication`, `service`, …); messages Meta has not priced yet are left out.
    #[schema(example = json!({"marketing": 700, "utility": 250, "service": 40}))]
    pub by_pricing_category: BTreeMap<String, u64>,
    /// Messages per pricing type Meta reported: `regular` (charged), `free_customer_service`, `free_entry_point`.
    #[schema(example = json!({"regular": 950, "free_customer_service": 40}))]
    pub by_pricing_type: BTreeMap<String, u64>,
}

/// Liveness/readiness answer.
#[derive(Serialize, ToSchema)]
pub struct HealthView {
    /// ok, or what is wrong.
    pub status: String,
}

/// A Stripe page to send the customer to.
#[derive(Serialize, ToSchema)]
pub struct BillingSessionView {
    /// Redirect the customer here.
    #[schema(example = "https://checkout.stripe.com/c/pay/cs_test_a1b2c3")]
    pub url: String,
    /// Stripe's session id.
    #[schema(example = "cs_test_a1b2c3")]
    pub id: String,
}

/// What a Stripe webhook did.
#[derive(Serialize, ToSchema)]
pub struct StripeWebhookView {
    /// `applied`, `duplicate` (this event id was processed before) or `ignored`.
    pub result: String,
    /// The account's plan after an applied event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Why an event was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
