//! `GET /templates`: the account's WhatsApp message templates, read from Meta through the WhatsApp Business
//! Account id of its credentials (cached for ten minutes, read again with `?refresh=true` and after Meta reports a
//! template change).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::send::FieldError;
use whatsapi_core::templates::{MessageTemplate, TemplateButtonDef, TemplateComponentDef};
use whatsapi_core::webhook::format_time;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{FromQuery, QueryParams, ValidatedQuery, field_error};
use crate::state::AppState;
use crate::views::ok;

/// The templates route; it needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    crate::auth::require_api_key(OpenApiRouter::new().routes(routes!(list_templates)), state)
}

/// `GET /templates` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplatesQuery {
    /// Read the list from Meta now instead of the cached one.
    #[param(required = false, default = false, example = true)]
    pub refresh: bool,
}

impl FromQuery for TemplatesQuery {
    fn from_query(query: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        let refresh = match query.get("refresh").map(str::trim) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") | Some("") => true,
            Some(_) => {
                details.push(field_error("refresh", "must be true or false"));
                false
            }
        };
        Self { refresh }
    }
}

/// The account's templates.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateListView {
    /// The WhatsApp Business Account they belong to.
    #[schema(example = "102290129340398")]
    pub whatsapp_business_account_id: String,
    /// The templates, in Meta's order.
    pub templates: Vec<MetaTemplateView>,
    /// When the list was read from Meta (RFC 3339).
    #[schema(example = "2026-03-28T10:00:00Z")]
    pub fetched_at: String,
    /// True when Meta had more templates than are read (2,000) and the rest is left out.
    #[schema(example = false)]
    pub truncated: bool,
    /// Set when Meta could not be read again and this is the list read at `fetchedAt`: Meta's error.
    #[schema(example = json!(null))]
    pub refresh_error: Option<String>,
}

/// One template as Meta defines it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaTemplateView {
    /// Meta's template id.
    #[schema(example = "1192339204654488")]
    pub id: Option<String>,
    /// The name to send (`template.name`).
    #[schema(example = "order_update")]
    pub name: String,
    /// The language to send (`template.language`).
    #[schema(example = "en_US")]
    pub language: String,
    /// `APPROVED` (only these can be sent), `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    #[schema(example = "APPROVED")]
    pub status: String,
    /// `UTILITY`, `MARKETING` or `AUTHENTICATION`.
    #[schema(example = "UTILITY")]
    pub category: Option<String>,
    /// `POSITIONAL` (`{{1}}`) or `NAMED` (`{{first_name}}`).
    #[schema(example = "POSITIONAL")]
    pub parameter_format: Option<String>,
    /// Header, body, footer and buttons, with their placeholders.
    pub components: Vec<MetaTemplateComponentView>,
}

/// One component of a template.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaTemplateComponentView {
    /// `HEADER`, `BODY`, `FOOTER` or `BUTTONS`.
    #[serde(rename = "type")]
    #[schema(example = "BODY")]
    pub kind: String,
    /// A header's format: `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT` or `LOCATION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub format: Option<String>,
    /// The text with its placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Your order {{1}} has shipped.")]
    pub text: Option<String>,
    /// The placeholders of `text`, each taking one parameter of a send, in order.
    #[schema(example = json!(["1"]))]
    pub placeholders: Vec<String>,
    /// The buttons of a `BUTTONS` component; each button's position is the `index` of a send.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<TemplateButtonView>,
}

/// One button of a template.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateButtonView {
    /// `QUICK_REPLY`, `URL`, `PHONE_NUMBER`, `COPY_CODE`, `OTP`, `FLOW`, …
    #[serde(rename = "type")]
    #[schema(example = "URL")]
    pub kind: String,
    /// The label.
    #[schema(example = "Track it")]
    pub text: Option<String>,
    /// A URL button's URL; a `{{1}}` in it is given per send (a `url` button parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://example.com/track/{{1}}")]
    pub url: Option<String>,
    /// A phone number button's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub phone_number: Option<String>,
    /// An OTP button's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub otp_type: Option<String>,
}

fn button_view(b: &TemplateButtonDef) -> TemplateButtonView {
    TemplateButtonView {
        kind: b.kind.clone(),
        text: b.text.clone(),
        url: b.url.clone(),
        phone_number: b.phone_number.clone(),
        otp_type: b.otp_type.clone(),
    }
}

fn component_view(c: &TemplateComponentDef) -> MetaTemplateComponentView {
    MetaTemplateComponentView {
        kind: c.kind.clone(),
        format: c.format.clone(),
        placeholders: c
            .text
            .as_deref()
            .map(whatsapi_core::templates::placeholders)
            .unwrap_or_default(),
        text: c.text.clone(),
        buttons: c.buttons.iter().map(button_view).collect(),
    }
}

fn template_view(t: &MessageTemplate) -> MetaTemplateView {
    MetaTemplateView {
        id: t.id.clone(),
        name: t.name.clone(),
        language: t.language.clone(),
        status: t.status.clone(),
        category: t.category.clone(),
        parameter_format: t.parameter_format.clone(),
        components: t.components.iter().map(component_view).collect(),
    }
}

/// List the WhatsApp message templates of the account's WhatsApp Business Account.
///
/// Read from Meta's `/{waba-id}/message_templates` through the `whatsappBusinessAccountId` of the account's
/// credentials, following Meta's pages, and cached for ten minutes (`refresh=true` reads Meta now; a template
/// status, quality or category webhook from Meta makes the next use read it again). Template sends are checked
/// against this list when they are accepted: an unknown template, one that is not `APPROVED`, or parameters that
/// do not match its placeholders and buttons are refused with 400 and `details`. When Meta cannot be read and
/// nothing is cached, this answers 502 with Meta's error (and sends are accepted unchecked).
#[utoipa::path(get, path = "/templates", tag = "templates", operation_id = "listTemplates", security(("bearer" = [])),
    params(TemplatesQuery),
    responses(
        (status = 200, body = crate::views::Envelope<TemplateListView>, example = json!({"success": true, "data": {
            "whatsappBusinessAccountId": "102290129340398", "fetchedAt": "2026-03-28T10:00:00Z",
            "truncated": false, "refreshError": null, "templates": [{
                "id": "1192339204654488", "name": "order_update", "language": "en_US", "status": "APPROVED",
                "category": "UTILITY", "parameterFormat": "POSITIONAL", "components": [
                    {"type": "BODY", "text": "Your order {{1}} has shipped.", "placeholders": ["1"]},
                    {"type": "BUTTONS", "placeholders": [], "buttons": [
                        {"type": "URL", "text": "Track it", "url": "https://example.com/track/{{1}}"}]}]}]}})),
        (status = 400, description = "The credentials have no WhatsApp Business Account id, Meta refused the saved token or WABA id, or a bad `refresh`", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "this account's credentials have no WhatsApp Business Account id; save it as whatsappBusinessAccountId with PUT /auth/me/credentials to list templates"})),
        (status = 502, description = "Meta could not be read (down or unreachable) and nothing is cached: Meta's error", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "WhatsApp could not list the templates: (#131000) Something went wrong"})),
    ))]
pub async fn list_templates(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<TemplatesQuery>,
) -> Result<Response, ApiError> {
    let list = state.api.templates(&account, q.refresh).await?;
    Ok(ok(TemplateListView {
        whatsapp_business_account_id: list.waba_id.clone(),
        templates: list.templates.iter().map(template_view).collect(),
        fetched_at: format_time(&list.fetched_at),
        truncated: list.truncated,
        refresh_error: list.refresh_error.clone(),
    })
    .into_response())
}
