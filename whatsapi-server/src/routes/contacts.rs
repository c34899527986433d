//! Conversations: `GET /contacts` lists the customers an account talked to (latest activity first) with their
//! 24-hour window and opt-out state, `GET /contacts/{id}` adds the thread both ways, `PUT /contacts/{id}/opt-out`
//! opts one out or back in, and `GET/PUT /auth/me/opt-out-keywords` read and set the words customers write to
//! opt out. Each handler calls the `WhatsApi` method of the same name.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::contacts::{
    Contact, ContactFilter, DEFAULT_THREAD_LIMIT, Direction, MAX_KEYWORD_CHARS, MAX_KEYWORDS,
    MAX_THREAD_LIMIT, OptOutKeywords, ThreadItem,
};
use whatsapi_core::send::FieldError;
use whatsapi_core::store::PageRequest;
use whatsapi_core::webhook::format_time;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{
    Field, FromQuery, QueryParams, RequestBody, ValidatedJson, ValidatedQuery, field_error,
};
use crate::state::AppState;
use crate::views::{PaginationView, ok};

/// Conversations and opt-outs; every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_contact))
        .routes(routes!(put_opt_out))
        .routes(routes!(get_keywords, put_keywords));
    crate::auth::require_api_key(routes, state)
}

/// The longest contact id read from a path (a BSUID is at most 131 characters).
const MAX_ID_CHARS: usize = 256;

/// One conversation: who, the 24-hour window, and opt-out state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    /// The contact's id: the phone number's digits, or the business-scoped user id (BSUID) of a customer known
    /// only by it.
    #[schema(example = "14155552671")]
    pub id: String,
    /// The phone number (E.164 digits), when known.
    #[schema(example = "14155552671")]
    pub phone: Option<String>,
    /// The business-scoped user id (BSUID), when Meta gave one.
    #[schema(example = json!(null))]
    pub user_id: Option<String>,
    /// The customer's WhatsApp profile name, as last seen.
    #[schema(example = "Sarah")]
    pub profile_name: Option<String>,
    /// When the customer last wrote (RFC 3339 UTC).
    #[schema(example = "2026-03-28T10:01:40Z")]
    pub last_inbound_at: Option<String>,
    /// The latest message either way (RFC 3339 UTC); `null` for a contact created by an opt-out alone.
    #[schema(example = "2026-03-28T10:05:00Z")]
    pub last_message_at: Option<String>,
    /// Whether free-form messages can be sent now (the customer wrote in the last 24 hours).
    #[schema(example = true)]
    pub window_open: bool,
    /// When the 24-hour window closes (or closed); `null` when the customer never wrote.
    #[schema(example = "2026-03-29T10:01:40Z")]
    pub window_expires_at: Option<String>,
    /// Whether the contact opted out: marketing templates to it are refused.
    #[schema(example = false)]
    pub opted_out: bool,
    /// When it opted out.
    #[schema(example = json!(null))]
    pub opted_out_at: Option<String>,
    /// Who opted it out: `keyword` (the customer wrote one), `api` (your call) or `meta` (Meta's 131050 or a
    /// marketing stop the customer set in WhatsApp).
    #[schema(example = json!(null))]
    pub opt_out_source: Option<String>,
    /// Marketing templates are refused until then (Meta answered 131049 for a marketing message); `null` when not
    /// paused.
    #[schema(example = json!(null))]
    pub marketing_paused_until: Option<String>,
}

fn time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(format_time)
}

impl ContactView {
    /// The view of a contact at `now`.
    pub fn of(c: &Contact, now: DateTime<Utc>) -> Self {
        Self {
            id: c.id.clone(),
            phone: c.phone.as_ref().map(|p| p.as_str().to_owned()),
            user_id: c.user_id.as_ref().map(|u| u.as_str().to_owned()),
            profile_name: c.profile_name.clone(),
            last_inbound_at: time(c.last_inbound_at),
            last_message_at: time(c.last_message_at),
            window_open: c.window_open(now),
            window_expires_at: time(c.window_expires_at()),
            opted_out: c.opt_out.is_some(),
            opted_out_at: time(c.opt_out.map(|o| o.at)),
            opt_out_source: c.opt_out.map(|o| o.source.as_str().to_owned()),
            marketing_paused_until: time(c.marketing_paused(now)),
        }
    }
}

/// One message of a thread.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThreadItemView {
    /// `outbound` (you sent it) or `inbound` (the customer did).
    #[schema(example = "inbound")]
    pub direction: String,
    /// whatsapi's id of the message (`GET /messages/{id}`) or of the inbound message (`GET /inbound/{id}`).
    #[schema(example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")]
    pub id: String,
    /// The message type: `text`, `template`, `image`, … (for inbound ones Meta's `type`).
    #[serde(rename = "type")]
    #[schema(example = "text")]
    pub kind: String,
    /// The text, a caption, or a template's name.
    #[schema(example = "Is my order ready?")]
    pub text: Option<String>,
    /// The outbound message's status; `null` for inbound ones.
    #[schema(example = json!(null))]
    pub status: Option<String>,
    /// When it was sent (accepted) or received (RFC 3339 UTC).
    #[schema(example = "2026-03-28T10:01:41.204Z")]
    pub at: String,
    /// An inbound message the customer edited afterwards: when the latest edit arrived; `text` is then the
    /// edited text (the edit itself is not listed separately).
    #[schema(example = json!(null))]
    pub edited_at: Option<String>,
    /// An inbound message the customer deleted afterwards: when; `text` is then `null`.
    #[schema(example = json!(null))]
    pub revoked_at: Option<String>,
    /// Your business number of the message (its `phoneNumberId`, `GET /numbers`): the one an inbound message was
    /// sent to (`null`: unknown), the one an outbound message goes out on (`null`: the default number).
    #[schema(example = "109876543210987")]
    pub business_number: Option<String>,
}

impl ThreadItemView {
    fn of(t: &ThreadItem) -> Self {
        Self {
            direction: match t.direction {
                Direction::Outbound => "outbound",
                Direction::Inbound => "inbound",
            }
            .to_owned(),
            id: t.id.clone(),
            kind: t.kind.clone(),
            text: t.text.clone(),
            status: t.status.map(|s| s.as_str().to_owned()),
            at: format_time(&t.at),
            edited_at: t.edited_at.as_ref().map(format_time),
            revoked_at: t.revoked_at.as_ref().map(format_time),
            business_number: t.business_number.clone(),
        }
    }
}

/// A contact with its thread.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetailView {
    /// The contact.
    #[serde(flatten)]
    pub contact: ContactView,
    /// Its latest messages both ways, newest first.
    pub thread: Vec<ThreadItemView>,
}

/// `GET /contacts` answer.
#[derive(Serialize, ToSchema)]
pub struct ContactListView {
    /// Always true.
    pub success: bool,
    /// Latest activity first.
    pub data: Vec<ContactView>,
    /// Paging.
    pub pagination: PaginationView,
}

/// `GET /contacts` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactsQuery {
    /// Only opted-out contacts (`true`) or only the others (`false`).
    #[param(rename = "optedOut", value_type = Option<bool>, example = false)]
    pub opted_out: Option<bool>,
    /// Contacts per page.
    #[param(required = false, minimum = 1, maximum = 200, default = 20)]
    pub limit: u32,
    /// Page, from 1.
    #[param(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: u32,
}

impl FromQuery for ContactsQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        let opted_out = match q.non_blank("optedOut") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                details.push(field_error("optedOut", "must be true or false"));
                None
            }
        };
        Self {
            opted_out,
            limit: q.number("limit", 20, 1..=200, details),
            page: q.number("page", 1, 1..=1_000_000, details),
        }
    }
}

/// `GET /contacts/{id}` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// Thread items (both ways together).
    #[param(required = false, minimum = 1, maximum = 200, default = 50)]
    pub limit: u32,
}

impl FromQuery for ThreadQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        Self {
            limit: q.number("limit", DEFAULT_THREAD_LIMIT, 1..=MAX_THREAD_LIMIT, details),
        }
    }
}

/// Your conversations: every customer you sent to or heard from, latest activity first.
///
/// A contact exists from the first message either way (inbound before any send included). `windowOpen` says
/// whether free-form messages can be sent now; `optedOut` whether marketing templates are refused.
#[utoipa::path(get, path = "/contacts", tag = "contacts", operation_id = "listContacts", security(("bearer" = [])),
    params(ContactsQuery),
    responses(
        (status = 200, body = ContactListView, example = json!({"success": true, "data": [{
            "id": "14155552671", "phone": "14155552671", "userId": null, "profileName": "Sarah",
            "lastInboundAt": "2026-03-28T10:01:40Z", "lastMessageAt": "2026-03-28T10:05:00Z",
            "windowOpen": true, "windowExpiresAt": "2026-03-29T10:01:40Z",
            "optedOut": false, "optedOutAt": null, "optOutSource": null, "marketingPausedUntil": null}],
            "pagination": {"page": 1, "limit": 20, "total": 1, "totalPages": 1}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: optedOut: must be true or false",
            "details": [{"field": "optedOut", "message": "must be true or false"}]})),
    ))]
pub async fn list(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<ContactsQuery>,
) -> Result<Response, ApiError> {
    let filter = ContactFilter {
        opted_out: q.opted_out,
    };
    let page = PageRequest {
        page: q.page,
        limit: q.limit,
    };
    let result = state.api.contacts(account.id, &filter, page).await?;
    let now = state.api.clock().now();
    Ok(axum::Json(ContactListView {
        success: true,
        data: result
            .items
            .iter()
            .map(|c| ContactView::of(c, now))
            .collect(),
        pagination: PaginationView::of(page, result.total),
    })
    .into_response())
}

const CONTACT_NOT_FOUND: &str = "Contact not found.";

fn not_found(e: whatsapi_core::Error) -> ApiError {
    match e {
        whatsapi_core::Error::NotFound(_) => ApiError::not_found(CONTACT_NOT_FOUND),
        other => other.into(),
    }
}

/// One conversation with its thread: your messages and the customer's, newest first.
#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", operation_id = "getContact", security(("bearer" = [])),
    params(("id" = String, Path, description = "The phone number (digits; a leading `+` and spaces are tolerated) or the BSUID",
        example = "14155552671"), ThreadQuery),
    responses(
        (status = 200, body = crate::views::Envelope<ContactDetailView>, example = json!({"success": true, "data": {
            "id": "14155552671", "phone": "14155552671", "userId": null, "profileName": "Sarah",
            "lastInboundAt": "2026-03-28T10:01:40Z", "lastMessageAt": "2026-03-28T10:05:00Z",
            "windowOpen": true, "windowExpiresAt": "2026-03-29T10:01:40Z",
            "optedOut": false, "optedOutAt": null, "optOutSource": null, "marketingPausedUntil": null,
            "thread": [
                {"direction": "outbound", "id": "9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20", "type": "text",
                 "text": "Yes, it ships today.", "status": "delivered", "at": "2026-03-28T10:05:00Z",
                 "editedAt": null, "revokedAt": null, "businessNumber": "109876543210987"},
                {"direction": "inbound", "id": "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "type": "text",
                 "text": "Is my order ready?", "status": null, "at": "2026-03-28T10:01:41.204Z",
                 "editedAt": null, "revokedAt": null, "businessNumber": "109876543210987"}]}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: limit: must be a whole number from 1 to 200",
            "details": [{"field": "limit", "message": "must be a whole number from 1 to 200"}]})),
        (status = 404, description = "No such contact for this account", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Contact not found."})),
    ))]
pub async fn get_contact(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
    ValidatedQuery(q): ValidatedQuery<ThreadQuery>,
) -> Result<Response, ApiError> {
    if id.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::not_found(CONTACT_NOT_FOUND));
    }
    let found = state
        .api
        .contact(account.id, &id, q.limit)
        .await
        .map_err(not_found)?;
    let now = state.api.clock().now();
    Ok(ok(ContactDetailView {
        contact: ContactView::of(&found.contact, now),
        thread: found.thread.iter().map(ThreadItemView::of).collect(),
    })
    .into_response())
}

/// `PUT /contacts/{id}/opt-out` body.
#[derive(Deserialize, ToSchema)]
pub struct OptOutRequest {
    /// `true` opts the contact out (marketing templates to it are refused), `false` opts it back in.
    #[serde(rename = "optedOut")]
    #[schema(value_type = bool, example = true)]
    pub opted_out: Field<bool>,
}

impl RequestBody for OptOutRequest {
    type Valid = bool;
    const FIELDS: Option<&'static [&'static str]> = Some(&["optedOut"]);

    fn validate(self) -> Result<bool, Vec<FieldError>> {
        let mut details = Vec::new();
        self.opted_out
            .required("optedOut", &mut details)
            .ok_or(details)
    }
}

/// Opt a contact out of marketing templates, or back in.
///
/// Creates the contact when you never talked to it (so a number can be opted out before the first send). The
/// source of an opt-out set here is `api`.
#[utoipa::path(put, path = "/contacts/{id}/opt-out", tag = "contacts", operation_id = "setContactOptOut", security(("bearer" = [])),
    params(("id" = String, Path, description = "The phone number (digits; a leading `+` and spaces are tolerated) or the BSUID",
        example = "14155552671")),
    request_body(content = OptOutRequest, example = json!({"optedOut": true})),
    responses(
        (status = 200, body = crate::views::Envelope<ContactView>, example = json!({"success": true, "data": {
            "id": "14155552671", "phone": "14155552671", "userId": null, "profileName": "Sarah",
            "lastInboundAt": "2026-03-28T10:01:40Z", "lastMessageAt": "2026-03-28T10:05:00Z",
            "windowOpen": true, "windowExpiresAt": "2026-03-29T10:01:40Z",
            "optedOut": true, "optedOutAt": "2026-03-28T11:00:00Z", "optOutSource": "api", "marketingPausedUntil": null}})),
        (status = 400, description = "A bad body, or an id that is neither a phone number nor a BSUID", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Validation failed: optedOut: must be a boolean",
                "details": [{"field": "optedOut", "message": "must be a boolean"}]})),
    ))]
pub async fn put_opt_out(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
    ValidatedJson(opted_out): ValidatedJson<OptOutRequest>,
) -> Result<Response, ApiError> {
    if id.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::validation(vec![field_error(
            "id",
            "must be a phone number or a business-scoped user id",
        )]));
    }
    let contact = state.api.set_opt_out(account.id, &id, opted_out).await?;
    let now = state.api.clock().now();
    Ok(ok(ContactView::of(&contact, now)).into_response())
}

/// The account's opt-out keywords.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOutKeywordsView {
    /// An inbound text that is exactly one of these (trimmed, any case) opts its sender out.
    #[schema(example = json!(["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]))]
    pub opt_out: Vec<String>,
    /// An inbound text that is exactly one of these opts its sender back in.
    #[schema(example = json!(["START", "UNSTOP"]))]
    pub opt_in: Vec<String>,
}

impl OptOutKeywordsView {
    fn of(k: OptOutKeywords) -> Self {
        Self {
            opt_out: k.opt_out,
            opt_in: k.opt_in,
        }
    }
}

/// `PUT /auth/me/opt-out-keywords` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOutKeywordsRequest {
    /// At most 50 keywords of at most 32 characters each.
    #[schema(value_type = Vec<String>, example = json!(["STOP", "ARRÊT"]))]
    pub opt_out: Field<Vec<String>>,
    /// At most 50 keywords of at most 32 characters each; none may also be an opt-out keyword.
    #[schema(value_type = Vec<String>, example = json!(["START"]))]
    pub opt_in: Field<Vec<String>>,
}

impl RequestBody for OptOutKeywordsRequest {
    type Valid = (Vec<String>, Vec<String>);
    const FIELDS: Option<&'static [&'static str]> = Some(&["optOut", "optIn"]);

    fn validate(self) -> Result<Self::Valid, Vec<FieldError>> {
        let mut details = Vec::new();
        let out = self.opt_out.required("optOut", &mut details);
        let inn = self.opt_in.required("optIn", &mut details);
        // Bounded here too, before the core looks at each keyword.
        for (name, list) in [("optOut", &out), ("optIn", &inn)] {
            if list.as_ref().is_some_and(|l| l.len() > MAX_KEYWORDS) {
                details.push(field_error(
                    name,
                    format!(
                        "at most {MAX_KEYWORDS} keywords of at most {MAX_KEYWORD_CHARS} characters"
                    ),
                ));
            }
        }
        match (out, inn) {
            (Some(out), Some(inn)) if details.is_empty() => Ok((out, inn)),
            _ => Err(details),
        }
    }
}

/// The words your customers write to opt out of marketing templates and back in.
#[utoipa::path(get, path = "/auth/me/opt-out-keywords", tag = "contacts", operation_id = "getOptOutKeywords", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<OptOutKeywordsView>, example = json!({"success": true, "data": {
        "optOut": ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"], "optIn": ["START", "UNSTOP"]}}))))]
pub async fn get_keywords(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    let k = state.api.opt_out_keywords(account.id).await?;
    Ok(ok(OptOutKeywordsView::of(k)).into_response())
}

/// Replace your opt-out keywords.
///
/// An inbound text whose whole trimmed body equals one of `optOut` (any case) opts its sender out; one of `optIn`
/// opts them back in. Empty lists turn keyword handling off.
#[utoipa::path(put, path = "/auth/me/opt-out-keywords", tag = "contacts", operation_id = "setOptOutKeywords", security(("bearer" = [])),
    request_body(content = OptOutKeywordsRequest, example = json!({"optOut": ["STOP", "ARRÊT"], "optIn": ["START"]})),
    responses(
        (status = 200, body = crate::views::Envelope<OptOutKeywordsView>, example = json!({"success": true, "data": {
            "optOut": ["STOP", "ARRÊT"], "optIn": ["START"]}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: optIn[0]: \"stop\" is already listed as optOut[0]",
            "details": [{"field": "optIn[0]", "message": "\"stop\" is already listed as optOut[0]"}]})),
    ))]
pub async fn put_keywords(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedJson((out, inn)): ValidatedJson<OptOutKeywordsRequest>,
) -> Result<Response, ApiError> {
    let k = state.api.set_opt_out_keywords(account.id, out, inn).await?;
    Ok(ok(OptOutKeywordsView::of(k)).into_response())
}
