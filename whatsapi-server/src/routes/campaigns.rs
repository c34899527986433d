//! Campaigns: `POST /campaigns` creates one (a JSON body, or a CSV of recipients as a `text/csv` body or a
//! multipart form) or only estimates it (`"estimate": true`); `GET /campaigns` lists them with progress,
//! `GET /campaigns/{id}` shows one with live counts, and `POST /campaigns/{id}/pause|resume|cancel` control it.
//! Each handler calls the `WhatsApi` method of the same name.

mod views;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_api::ParsedCampaign;
use whatsapi_core::campaign::CampaignId;
use whatsapi_core::store::PageRequest;
use whatsapi_saas::{Customer, Plan};

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{FromQuery, NoParameters, QueryParams, ValidatedQuery, field_error};
use crate::state::AppState;
use crate::views::{PaginationView, ok};

pub use views::{
    CampaignCountsView, CampaignCreatedView, CampaignEstimateView, CampaignListView, CampaignView,
    SendWindowView, SkippedView,
};

/// Most bytes of a `POST /campaigns` body, on these routes only (over the server-wide limit when that is smaller):
/// room for [`MAX_RECIPIENTS`](whatsapi_core::campaign::MAX_RECIPIENTS) rows of about 160 bytes each, as JSON, CSV
/// or a form.
pub const CAMPAIGN_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Campaigns; every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let body_limit = state.settings.body_limit.max(CAMPAIGN_BODY_LIMIT);
    let routes = OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit));
    crate::auth::require_api_key(routes, state)
}

const NOT_FOUND: &str = "Campaign not found.";

/// A campaign id from the path; anything that is not a UUID is simply not found.
pub struct CampaignIdPath(pub CampaignId);

impl<S: Send + Sync> FromRequestParts<S> for CampaignIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found(NOT_FOUND))?;
        raw.parse::<CampaignId>()
            .map(CampaignIdPath)
            .map_err(|_| ApiError::not_found(NOT_FOUND))
    }
}

/// `GET /campaigns` query.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Campaigns per page.
    #[param(required = false, minimum = 1, maximum = 200, default = 20)]
    pub limit: u32,
    /// Page, from 1.
    #[param(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: u32,
}

impl FromQuery for PageQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<whatsapi_core::send::FieldError>) -> Self {
        Self {
            limit: q.number("limit", 20, 1..=200, details),
            page: q.number("page", 1, 1..=1_000_000, details),
        }
    }
}

/// Most parts of a campaign form (`campaign` and `recipients`).
const MAX_FORM_PARTS: usize = 4;

/// A `POST /campaigns` body read by whatsapi-api, from JSON, a `text/csv` body (the other fields in the query
/// string), or a multipart form (a `campaign` part of JSON, a `recipients` part of CSV).
pub struct CampaignBody(pub ParsedCampaign);

impl FromRequest<AppState> for CampaignBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let plan = req.extensions().get::<Customer>().map(|c| c.plan);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = if content_type.starts_with("text/csv") {
            let axum::extract::Query(pairs) =
                axum::extract::Query::<HashMap<String, String>>::try_from_uri(req.uri()).map_err(
                    |e| ApiError::bad_request(format!("Could not read the query string: {e}")),
                )?;
            let query = query_fields(&pairs)?;
            let bytes = read_bytes(req, state).await?;
            let rows =
                whatsapi_api::csv_recipients(&bytes).map_err(|e| ApiError::validation(e.0))?;
            let mut obj = query;
            obj.insert("recipients".into(), Value::Array(rows));
            Value::Object(obj)
        } else if content_type.starts_with("multipart/form-data") {
            let boundary = multer::parse_boundary(&content_type)
                .map_err(|_| ApiError::bad_request("The multipart body has no boundary."))?;
            let bytes = read_bytes(req, state).await?;
            form_body(bytes, boundary).await?
        } else {
            crate::extract::parse_json(&read_bytes(req, state).await?)?
        };
        // The plan's cap is checked on the rows as sent, before each of them is read.
        if let (Some(plan), Some(rows)) = (plan, body.get("recipients").and_then(Value::as_array)) {
            let cap = state.product.campaign_cap(plan);
            if rows.len() > cap {
                let larger = state.product.plans().larger_campaigns(plan);
                return Err(ApiError::validation(vec![field_error(
                    "recipients",
                    over_plan_cap(plan, cap, rows.len(), larger),
                )]));
            }
        }
        whatsapi_api::parse_campaign(&body)
            .map(CampaignBody)
            .map_err(|e| ApiError::validation(e.0))
    }
}

/// Why a campaign of `got` recipients is refused on `plan`, and what allows more.
fn over_plan_cap(plan: Plan, cap: usize, got: usize, larger: Option<(Plan, usize)>) -> String {
    let refused = format!("at most {cap} recipients per campaign on the {plan} plan, got {got}");
    match larger {
        Some((higher, more)) => format!(
            "{refused}; a higher plan allows more (the {higher} plan {more}), or split the recipients into \
             several campaigns"
        ),
        None => format!("{refused}; split the recipients into several campaigns"),
    }
}

async fn read_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is too large. Split the recipients into several campaigns.",
            )
        } else {
            ApiError::bad_request(format!("Could not read the request body: {rejection}"))
        }
    })
}

/// The campaign fields of a `text/csv` upload's query string, as the JSON body would hold them:
/// `name`, `message` or `template` with `language`, `startAt`, `sendWindow=09:00-20:00`, `ratePerSecond`, `from`,
/// `validitySeconds`, `dryRun`, `estimate`.
fn query_fields(pairs: &HashMap<String, String>) -> Result<Map<String, Value>, ApiError> {
    let mut obj = Map::new();
    let mut details = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "language" => {}
            "template" => {
                obj.insert(
                    "template".into(),
                    json!({"name": v, "language": pairs.get("language")}),
                );
            }
            "sendWindow" => match v.split_once('-') {
                Some((from, to)) => {
                    obj.insert("sendWindow".into(), json!({"from": from, "to": to}));
                }
                None => details.push(field_error(
                    "sendWindow",
                    "must be HH:MM-HH:MM such as 09:00-20:00",
                )),
            },
            "ratePerSecond" | "validitySeconds" => {
                let n = v.parse::<u64>().map(Value::from).unwrap_or(json!(v));
                obj.insert(k.clone(), n);
            }
            "dryRun" | "dry_run" | "estimate" => {
                let b = match v.as_str() {
                    "true" => json!(true),
                    "false" => json!(false),
                    other => json!(other),
                };
                obj.insert(k.clone(), b);
            }
            _ => {
                obj.insert(k.clone(), json!(v));
            }
        }
    }
    if details.is_empty() {
        Ok(obj)
    } else {
        Err(ApiError::validation(details))
    }
}

/// A multipart campaign: a `campaign` part (JSON without `recipients`) and a `recipients` (or `file`) part (CSV).
async fn form_body(bytes: Bytes, boundary: String) -> Result<Value, ApiError> {
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut campaign: Option<Map<String, Value>> = None;
    let mut rows: Option<Vec<Value>> = None;
    let mut parts = 0;
    let unreadable =
        |e: multer::Error| ApiError::bad_request(format!("Unreadable multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        parts += 1;
        if parts > MAX_FORM_PARTS {
            return Err(ApiError::validation(vec![field_error(
                "body",
                "a campaign form has a campaign part and a recipients part",
            )]));
        }
        match field.name() {
            Some("campaign") => {
                let bytes = field.bytes().await.map_err(unreadable)?;
                match crate::extract::parse_json(&bytes)? {
                    Value::Object(o) => campaign = Some(o),
                    _ => {
                        return Err(ApiError::validation(vec![field_error(
                            "campaign",
                            "must be a JSON object with the campaign's fields",
                        )]));
                    }
                }
            }
            Some("recipients" | "file") => {
                let bytes = field.bytes().await.map_err(unreadable)?;
                rows = Some(
                    whatsapi_api::csv_recipients(&bytes).map_err(|e| ApiError::validation(e.0))?,
                );
            }
            other => {
                return Err(ApiError::validation(vec![field_error(
                    other.unwrap_or("body"),
                    "unknown form part; expected campaign (JSON) and recipients (CSV)",
                )]));
            }
        }
    }
    let mut obj = campaign.ok_or_else(|| {
        ApiError::validation(vec![field_error(
            "campaign",
            "required: a part named campaign holding the campaign's JSON fields",
        )])
    })?;
    if let Some(rows) = rows {
        obj.insert("recipients".into(), Value::Array(rows));
    }
    Ok(Value::Object(obj))
}

/// Create a campaign (or, with `"estimate": true`, only say what it would send).
///
/// Every recipient gets the campaign's content; a template's body parameters are filled from each recipient's
/// `params`. Messages are planned from `startAt` (default now) at `ratePerSecond`, each inside `sendWindow` on its
/// recipient's clock (`timeZone` per row, else the zone of the number's country calling code). Nothing is created
/// unless every recipient is valid; recipients who opted out are left out and listed in `skipped`.
///
/// A CSV upload sends the recipients as CSV — a `to` column, an optional `timeZone` column, and the template's
/// parameters as further columns, in order — either as a `text/csv` body (the other fields in the query string:
/// `?name=Spring&template=spring_sale&language=en_US&sendWindow=09:00-20:00&ratePerSecond=10`) or as a
/// multipart form with a `campaign` part (JSON) and a `recipients` part (CSV).
///
/// How many recipients a campaign may hold depends on the account's plan (`campaignRecipientLimit` of
/// `GET /auth/me`): by default free 1,000, basic 10,000, pro 50,000 and enterprise 100,000, the ceiling on every
/// plan. A campaign over the cap is a 400 naming `recipients`, the cap and the plan that allows more; nothing is
/// created. The body may be up to 16 MiB (100,000 rows of about 160 bytes).
#[utoipa::path(post, path = "/campaigns", tag = "campaigns", operation_id = "createCampaign", security(("bearer" = [])),
    request_body(content = whatsapi_api::schema::CampaignBody, description = "`{name, template | message, recipients: [{to | recipient, params?, timeZone?}], startAt?, sendWindow?: {from, to}, ratePerSecond?, from?, validitySeconds?, dry_run?, estimate?}`; or a `text/csv` body (the other fields in the query string), or a multipart form (`campaign` JSON part, `recipients` CSV part)",
        example = json!({"name": "Spring sale", "template": {"name": "spring_sale", "language": "en_US"},
            "recipients": [{"to": "14155552671", "params": ["Sarah"]}, {"to": "447911123456", "params": ["Tom"], "timeZone": "Europe/London"}],
            "sendWindow": {"from": "09:00", "to": "20:00"}, "ratePerSecond": 10})),
    responses(
        (status = 201, description = "Created, its messages planned", body = crate::views::Envelope<CampaignCreatedView>,
            example = json!({"success": true, "data": {"id": "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "name": "Spring sale",
                "state": "scheduled", "type": "template", "template": "spring_sale", "recipients": 2, "settled": 0,
                "progressPercent": 0, "counts": {"queued": 0, "scheduled": 2, "processing": 0, "retrying": 0, "sent": 0,
                "delivered": 0, "read": 0, "failed": 0}, "startAt": "2026-03-28T10:00:00Z",
                "sendWindow": {"from": "09:00", "to": "20:00"}, "ratePerSecond": 10, "from": null, "validitySeconds": null, "cost": null,
                "createdAt": "2026-03-28T10:00:00Z", "updatedAt": "2026-03-28T10:00:00Z", "skipped": []}})),
        (status = 200, description = "`estimate: true`: what it would send; nothing created", body = crate::views::Envelope<CampaignEstimateView>,
            example = json!({"success": true, "data": {"estimate": true, "recipients": 2, "byCountry": {"GB": 1, "US": 1},
                "skipped": [], "firstSendAt": "2026-03-28T10:00:00Z", "lastSendAt": "2026-03-28T13:00:00Z",
                "category": "marketing", "cost": {"messages": 2, "rows": [{"country": "US", "category": "marketing",
                "messages": 1, "unitPrice": "0.025", "currency": "USD", "cost": "0.025", "costMicros": 25000}],
                "totals": [{"currency": "USD", "messages": 1, "cost": "0.025", "costMicros": 25000}],
                "unpriced": [{"country": "GB", "category": "marketing", "messages": 1}]}}})),
        (status = 400, description = "Validation failed (see details), or more recipients than the plan allows", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "Validation failed: recipients[1].to: phone number must contain digits only (E.164 without '+'), e.g. 14155552671",
                "details": [{"field": "recipients[1].to", "message": "phone number must contain digits only (E.164 without '+'), e.g. 14155552671"}]})),
        (status = 413, description = "Body too large", body = crate::views::ErrorView),
    ))]
pub async fn create(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    CampaignBody(parsed): CampaignBody,
) -> Result<Response, ApiError> {
    if parsed.estimate {
        let estimate = state
            .api
            .estimate_campaign(
                &account,
                &parsed.request,
                state.settings.rate_card.as_deref(),
            )
            .await
            .map_err(whatsapi_api::campaign_error)?;
        return Ok(ok(CampaignEstimateView::of(&estimate)).into_response());
    }
    let created = state
        .api
        .create_campaign(&account, parsed.request)
        .await
        .map_err(whatsapi_api::campaign_error)?;
    Ok((
        StatusCode::CREATED,
        ok(CampaignCreatedView::of(&created.progress, &created.skipped)),
    )
        .into_response())
}

/// Your campaigns, newest first, each with its progress.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns", operation_id = "listCampaigns", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = CampaignListView, example = json!({"success": true, "data": [{"id": "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b",
            "name": "Spring sale", "state": "running", "type": "template", "template": "spring_sale", "recipients": 2,
            "settled": 1, "progressPercent": 50, "counts": {"queued": 0, "scheduled": 1, "processing": 0, "retrying": 0,
            "sent": 0, "delivered": 1, "read": 0, "failed": 0}, "startAt": "2026-03-28T10:00:00Z",
            "sendWindow": null, "ratePerSecond": null, "from": null, "validitySeconds": null, "cost": null, "createdAt": "2026-03-28T10:00:00Z",
            "updatedAt": "2026-03-28T10:00:00Z"}], "pagination": {"page": 1, "limit": 20, "total": 1, "totalPages": 1}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: limit: must be between 1 and 200", "details": [{"field": "limit", "message": "must be between 1 and 200"}]})),
    ))]
pub async fn list(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let page = PageRequest {
        page: q.page,
        limit: q.limit,
    };
    let result = state.api.list_campaigns(account.id, page).await?;
    Ok(axum::Json(CampaignListView {
        success: true,
        data: result.items.iter().map(CampaignView::of).collect(),
        pagination: PaginationView::of(page, result.total),
    })
    .into_response())
}

fn not_found(e: whatsapi_core::Error) -> ApiError {
    match e {
        whatsapi_core::Error::NotFound(_) => ApiError::not_found(NOT_FOUND),
        other => other.into(),
    }
}

const ONE_EXAMPLE: fn() -> Value = || {
    json!({"success": true, "data": {"id": "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "name": "Spring sale",
        "state": "paused", "type": "template", "template": "spring_sale", "recipients": 2, "settled": 1,
        "progressPercent": 50, "counts": {"queued": 0, "scheduled": 1, "processing": 0, "retrying": 0, "sent": 1,
        "delivered": 0, "read": 0, "failed": 0}, "startAt": "2026-03-28T10:00:00Z", "sendWindow": null,
        "ratePerSecond": 1, "from": null, "validitySeconds": 3600, "cost": null, "createdAt": "2026-03-28T10:00:00Z", "updatedAt": "2026-03-28T10:00:05Z"}})
};

/// One campaign with the live counts of its messages by status.
#[utoipa::path(get, path = "/campaigns/{id}", tag = "campaigns", operation_id = "getCampaign", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id", example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")),
    responses(
        (status = 200, body = crate::views::Envelope<CampaignView>, example = ONE_EXAMPLE),
        (status = 404, body = crate::views::ErrorView),
    ))]
pub async fn get(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    CampaignIdPath(id): CampaignIdPath,
    ValidatedQuery(NoParameters): ValidatedQuery<NoParameters>,
) -> Result<Response, ApiError> {
    let progress = state
        .api
        .campaign(account.id, id)
        .await
        .map_err(not_found)?;
    let cost = state
        .api
        .campaign_cost(&progress.campaign, state.settings.rate_card.as_deref())
        .await?;
    let mut view = CampaignView::of(&progress);
    view.cost = Some(super::costs::CostSheetView::of(&cost));
    Ok(ok(view).into_response())
}

/// Pause a scheduled or running campaign: its messages not yet being sent are held (one being sent finishes).
#[utoipa::path(post, path = "/campaigns/{id}/pause", tag = "campaigns", operation_id = "pauseCampaign", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id", example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")),
    responses(
        (status = 200, body = crate::views::Envelope<CampaignView>, example = ONE_EXAMPLE),
        (status = 404, body = crate::views::ErrorView),
        (status = 409, description = "Paused, completed or cancelled already", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "a paused campaign cannot pause", "details": []})),
    ))]
pub async fn pause(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    CampaignIdPath(id): CampaignIdPath,
) -> Result<Response, ApiError> {
    let progress = state
        .api
        .pause_campaign(account.id, id)
        .await
        .map_err(not_found)?;
    Ok(ok(CampaignView::of(&progress)).into_response())
}

/// Resume a paused campaign: its held messages are planned again from now, at its rate, inside each window.
#[utoipa::path(post, path = "/campaigns/{id}/resume", tag = "campaigns", operation_id = "resumeCampaign", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id", example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")),
    responses(
        (status = 200, body = crate::views::Envelope<CampaignView>, example = ONE_EXAMPLE),
        (status = 404, body = crate::views::ErrorView),
        (status = 409, description = "Not paused", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "a running campaign cannot resume", "details": []})),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    CampaignIdPath(id): CampaignIdPath,
) -> Result<Response, ApiError> {
    let progress = state
        .api
        .resume_campaign(account.id, id)
        .await
        .map_err(not_found)?;
    Ok(ok(CampaignView::of(&progress)).into_response())
}

/// Cancel a campaign: its messages not yet being sent end `failed` ("campaign cancelled before this message was
/// sent"), each with its `message.status_updated` webhook event.
#[utoipa::path(post, path = "/campaigns/{id}/cancel", tag = "campaigns", operation_id = "cancelCampaign", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id", example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")),
    responses(
        (status = 200, body = crate::views::Envelope<CampaignView>, example = ONE_EXAMPLE),
        (status = 404, body = crate::views::ErrorView),
        (status = 409, description = "Completed or cancelled already", body = crate::views::ErrorView,
            example = json!({"success": false, "error": "a cancelled campaign cannot cancel", "details": []})),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    CampaignIdPath(id): CampaignIdPath,
) -> Result<Response, ApiError> {
    let progress = state
        .api
        .cancel_campaign(account.id, id)
        .await
        .map_err(not_found)?;
    Ok(ok(CampaignView::of(&progress)).into_response())
}
