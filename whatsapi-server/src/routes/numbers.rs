//! Business numbers: an account sends from its default number (the credentials of `PUT /auth/me/credentials`) and
//! from the extra numbers it connects here (`/numbers`), each checked with Meta when connected. A send names the
//! number with `from` (its phone number id); Meta's webhooks for each number reach the account that connected it.
//!
//! Each number is paced at its own rate: Meta's throughput tier read at verification (`STANDARD` 80/s, `HIGH`
//! 1,000/s, 20/s for a number shared with the WhatsApp Business app) or the rate set with `PATCH`; a number without
//! one goes at the server's `--send-rate`. After Meta's 130429 the number's rate is halved on every replica and
//! recovers one step per quiet period (`currentThroughputPerSecond` shows it meanwhile).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::send::FieldError;
use whatsapi_core::service::AccountNumber;
use whatsapi_core::webhook::format_time;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{Field, RequestBody, ValidatedJson};
use crate::state::AppState;
use crate::views::ok;

/// The numbers: every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .routes(routes!(add_number, list_numbers))
        .routes(routes!(get_number, update_number, delete_number));
    crate::auth::require_api_key(routes, state)
}

const NUMBER_NOT_FOUND: &str = "Phone number not found in your account; GET /numbers lists yours.";

/// `POST /numbers` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberBody {
    /// The number's Phone Number ID from Meta (digits, not the phone number itself).
    #[schema(value_type = String, example = "109876543210987")]
    pub whatsapp_phone_number_id: Field<String>,
    /// An access token for this number; absent: your default credentials' token (one system-user token usually
    /// serves every number of a WhatsApp Business Account). Encrypted at rest, never shown again.
    #[schema(value_type = Option<String>, example = "EAAc...")]
    pub whatsapp_access_token: Field<String>,
}

/// A number to connect.
pub struct NewNumber {
    phone_number_id: String,
    access_token: Option<String>,
}

impl RequestBody for NumberBody {
    /// The number and its token (checked by the core).
    type Valid = NewNumber;

    fn validate(self) -> Result<NewNumber, Vec<FieldError>> {
        let mut details = Vec::new();
        let id = self
            .whatsapp_phone_number_id
            .required("whatsappPhoneNumberId", &mut details);
        let token = self
            .whatsapp_access_token
            .optional("whatsappAccessToken", &mut details);
        match id {
            Some(phone_number_id) if details.is_empty() => Ok(NewNumber {
                phone_number_id,
                access_token: token,
            }),
            _ => Err(details),
        }
    }
}

/// `PATCH /numbers/{phoneNumberId}` body: at least one field.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberPatchBody {
    /// The rate this number is paced at, 1 to 1000 messages per second (all replicas together). It lasts until the
    /// number is verified again.
    #[schema(value_type = Option<u32>, example = 40, minimum = 1, maximum = 1000)]
    pub throughput_per_second: Field<u64>,
    /// A new access token for an extra number; `""`: use your default credentials' token again.
    #[schema(value_type = Option<String>, example = "EAAc...")]
    pub whatsapp_access_token: Field<String>,
}

/// What a `PATCH` changes.
pub struct NumberPatch {
    throughput: Option<u32>,
    token: Option<String>,
}

impl RequestBody for NumberPatchBody {
    /// The change.
    type Valid = NumberPatch;

    fn validate(self) -> Result<NumberPatch, Vec<FieldError>> {
        let mut details = Vec::new();
        let throughput = self
            .throughput_per_second
            .optional("throughputPerSecond", &mut details);
        let token = self
            .whatsapp_access_token
            .optional("whatsappAccessToken", &mut details);
        let throughput = match throughput {
            Some(r)
                if (1..=u64::from(whatsapi_core::numbers::MAX_THROUGHPUT_PER_SECOND))
                    .contains(&r) =>
            {
                u32::try_from(r).ok()
            }
            Some(_) => {
                details.push(crate::extract::field_error(
                    "throughputPerSecond",
                    "must be a whole number from 1 to 1000 (messages per second)",
                ));
                None
            }
            None => None,
        };
        if details.is_empty() && throughput.is_none() && token.is_none() {
            details.push(crate::extract::field_error(
                "body",
                "give at least one of throughputPerSecond, whatsappAccessToken",
            ));
        }
        if details.is_empty() {
            Ok(NumberPatch { throughput, token })
        } else {
            Err(details)
        }
    }
}

/// One of your business numbers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberView {
    /// Meta's Phone Number ID: what a send names as `from`.
    pub phone_number_id: String,
    /// The default number (your credentials of `PUT /auth/me/credentials`): sends without `from` go out on it.
    pub is_default: bool,
    /// The number as Meta displays it (from verification), or null before the default number is verified.
    pub display_phone_number: Option<String>,
    /// The business name Meta shows, when verified.
    pub verified_name: Option<String>,
    /// Meta's quality rating (GREEN, YELLOW, RED), when known.
    pub quality_rating: Option<String>,
    /// Meta's throughput tier (`STANDARD`, `HIGH`), when known.
    pub throughput_level: Option<String>,
    /// The rate it is paced at in messages per second: its tier's, the one you set, or the server's default
    /// (0: the server does not pace).
    pub throughput_per_second: u32,
    /// `number`: the rate is the number's own (its Meta tier, or the one you set); `default`: the server's.
    pub throughput_source: String,
    /// The rate in force now, lower than `throughputPerSecond` for a while after Meta answered 130429
    /// (throughput exceeded); it recovers step by step.
    pub current_throughput_per_second: u32,
    /// It has an access token of its own (else your default credentials' token is used).
    pub own_access_token: bool,
    /// Connected (RFC 3339 UTC); the account's creation for the default number.
    pub created_at: String,
}

impl NumberView {
    fn of(n: AccountNumber) -> Self {
        let source = if n.throughput_per_second.is_some() {
            "number"
        } else {
            "default"
        };
        Self {
            throughput_source: source.to_owned(),
            current_throughput_per_second: n
                .throttled_to
                .unwrap_or(n.effective_throughput_per_second),
            throughput_per_second: n.effective_throughput_per_second,
            is_default: n.is_default,
            display_phone_number: n.display_phone_number,
            verified_name: n.verified_name,
            quality_rating: n.quality_rating,
            throughput_level: n.throughput_level,
            own_access_token: n.own_access_token,
            created_at: format_time(&n.created_at),
            phone_number_id: n.phone_number_id,
        }
    }
}

/// A number removed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedNumberView {
    /// Its Phone Number ID.
    pub phone_number_id: String,
    /// Always true.
    pub deleted: bool,
}

fn not_found(e: whatsapi_core::Error) -> ApiError {
    match e {
        whatsapi_core::Error::NotFound(_) => ApiError::not_found(NUMBER_NOT_FOUND),
        other => other.into(),
    }
}

/// Connect another business number; it is checked with Meta first (`GET /{phone-number-id}`), which gives its
/// display number, quality rating and throughput tier. At most 50 extra numbers per account.
#[utoipa::path(post, path = "/numbers", tag = "numbers", operation_id = "addNumber", security(("bearer" = [])),
    request_body(content = NumberBody, example = json!({"whatsappPhoneNumberId": "109876543210987"})),
    responses(
        (status = 201, body = crate::views::Envelope<NumberView>, example = json!({"success": true, "data": {
            "phoneNumberId": "109876543210987", "isDefault": false, "displayPhoneNumber": "+1 555-010-9876",
            "verifiedName": "Acme Support", "qualityRating": "GREEN", "throughputLevel": "STANDARD",
            "throughputPerSecond": 80, "throughputSource": "number", "currentThroughputPerSecond": 80,
            "ownAccessToken": false, "createdAt": "2026-03-28T10:00:00Z"}})),
        (status = 400, description = "Invalid id or token, or no token and no default credentials", body = crate::views::ErrorView,
            example = json!({"success": false,
                "error": "Validation failed: whatsappPhoneNumberId: required: the numeric Phone Number ID from Meta (not the phone number itself)",
                "details": [{"field": "whatsappPhoneNumberId", "message": "required: the numeric Phone Number ID from Meta (not the phone number itself)"}]})),
        (status = 409, description = "The number is already connected (to this account or another), or the account has 50", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "The phone number id 109876543210987 is already connected to another account. A phone number id can belong to one account only, so Meta's webhooks for it reach one account: remove the credentials from the other account first, or use another number."})),
        (status = 502, description = "Meta failed the check or could not be reached (when Meta refuses the number or its token: 400)", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "WhatsApp failed the call: (#131000) Something went wrong"})),
    ))]
pub async fn add_number(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedJson(new): ValidatedJson<NumberBody>,
) -> Result<Response, ApiError> {
    let added = state
        .api
        .add_number(&account, &new.phone_number_id, new.access_token.as_deref())
        .await?;
    Ok((StatusCode::CREATED, ok(NumberView::of(added))).into_response())
}

/// Your business numbers: the default one first (when you saved credentials), then the others, oldest first.
#[utoipa::path(get, path = "/numbers", tag = "numbers", operation_id = "listNumbers", security(("bearer" = [])),
    responses((status = 200, body = crate::views::Envelope<Vec<NumberView>>, example = json!({"success": true, "data": [{
        "phoneNumberId": "1234567890", "isDefault": true, "displayPhoneNumber": "+1 555-000-1234",
        "verifiedName": "Acme", "qualityRating": "GREEN", "throughputLevel": null, "throughputPerSecond": 80,
        "throughputSource": "default", "currentThroughputPerSecond": 80, "ownAccessToken": true,
        "createdAt": "2026-03-01T09:00:00Z"}]}))))]
pub async fn list_numbers(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
) -> Result<Response, ApiError> {
    let all = state.api.numbers(&account).await?;
    Ok(ok(all.into_iter().map(NumberView::of).collect::<Vec<_>>()).into_response())
}

/// One of your business numbers (the default one too).
#[utoipa::path(get, path = "/numbers/{phoneNumberId}", tag = "numbers", operation_id = "getNumber", security(("bearer" = [])),
    params(("phoneNumberId" = String, Path, description = "Meta's Phone Number ID", example = "109876543210987")),
    responses(
        (status = 200, body = crate::views::Envelope<NumberView>, example = json!({"success": true, "data": {
            "phoneNumberId": "109876543210987", "isDefault": false, "displayPhoneNumber": "+1 555-010-9876",
            "verifiedName": "Acme Support", "qualityRating": "GREEN", "throughputLevel": "STANDARD",
            "throughputPerSecond": 40, "throughputSource": "number", "currentThroughputPerSecond": 20,
            "ownAccessToken": false, "createdAt": "2026-03-28T10:00:00Z"}})),
        (status = 404, description = "Not one of your numbers", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Phone number not found in your account; GET /numbers lists yours."})),
    ))]
pub async fn get_number(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = state.api.number(&account, &id).await.map_err(not_found)?;
    Ok(ok(NumberView::of(found)).into_response())
}

/// Set a number's pacing rate (`throughputPerSecond`, 1–1000; until it is verified again) or an extra number's
/// access token.
#[utoipa::path(patch, path = "/numbers/{phoneNumberId}", tag = "numbers", operation_id = "updateNumber", security(("bearer" = [])),
    params(("phoneNumberId" = String, Path, description = "Meta's Phone Number ID", example = "109876543210987")),
    request_body(content = NumberPatchBody, example = json!({"throughputPerSecond": 40})),
    responses(
        (status = 200, body = crate::views::Envelope<NumberView>, example = json!({"success": true, "data": {
            "phoneNumberId": "109876543210987", "isDefault": false, "displayPhoneNumber": "+1 555-010-9876",
            "verifiedName": "Acme Support", "qualityRating": "GREEN", "throughputLevel": "STANDARD",
            "throughputPerSecond": 40, "throughputSource": "number", "currentThroughputPerSecond": 20,
            "ownAccessToken": false, "createdAt": "2026-03-28T10:00:00Z"}})),
        (status = 400, description = "Rate out of range, invalid token, or nothing to change", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Validation failed: throughputPerSecond: must be a whole number from 1 to 1000 (messages per second)",
                "details": [{"field": "throughputPerSecond", "message": "must be a whole number from 1 to 1000 (messages per second)"}]})),
        (status = 404, description = "Not one of your numbers", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Phone number not found in your account; GET /numbers lists yours."})),
    ))]
pub async fn update_number(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
    ValidatedJson(patch): ValidatedJson<NumberPatchBody>,
) -> Result<Response, ApiError> {
    // Unknown numbers are a 404 before anything is checked against them.
    let mut current = state.api.number(&account, &id).await.map_err(not_found)?;
    if let Some(token) = &patch.token {
        let token = Some(token.as_str()).filter(|t| !t.is_empty());
        current = state
            .api
            .set_number_token(&account, &id, token)
            .await
            .map_err(not_found)?;
    }
    if let Some(rate) = patch.throughput {
        current = state
            .api
            .set_number_throughput(&account, &id, Some(rate))
            .await
            .map_err(not_found)?;
    }
    Ok(ok(NumberView::of(current)).into_response())
}

/// Disconnect an extra number (its messages stay; Meta's webhooks for it are no longer accepted for you). The
/// default number goes with `DELETE /auth/me/credentials`.
#[utoipa::path(delete, path = "/numbers/{phoneNumberId}", tag = "numbers", operation_id = "deleteNumber", security(("bearer" = [])),
    params(("phoneNumberId" = String, Path, description = "Meta's Phone Number ID", example = "109876543210987")),
    responses(
        (status = 200, body = crate::views::Envelope<DeletedNumberView>, example = json!({"success": true, "data": {
            "phoneNumberId": "109876543210987", "deleted": true}})),
        (status = 404, description = "Not one of your numbers", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Phone number not found in your account; GET /numbers lists yours."})),
        (status = 409, description = "It is your default number", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "this is the account's default number: remove it with DELETE /auth/me/credentials"})),
    ))]
pub async fn delete_number(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .api
        .remove_number(&account, &id)
        .await
        .map_err(not_found)?;
    Ok(ok(DeletedNumberView {
        phone_number_id: id,
        deleted: true,
    })
    .into_response())
}
