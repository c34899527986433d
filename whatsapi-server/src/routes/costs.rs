//! `GET /analytics/costs`: what the account's billable messages of a period cost, by country and category, at the
//! rates of the operator's rate card (`--rate-card`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use whatsapi_core::BatchId;
use whatsapi_core::costs::{Amount, BillableQuery, CostSheet};
use whatsapi_core::send::FieldError;
use whatsapi_core::webhook::format_time;

use crate::auth::CurrentAccount;
use crate::error::ApiError;
use crate::extract::{FromQuery, QueryParams, ValidatedQuery, field_error};
use crate::state::AppState;
use crate::views::ok;

/// Longest `from` or `to` accepted.
const MAX_TIME_LEN: usize = 64;

/// The cost report: every route needs an API key.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    crate::auth::require_api_key(OpenApiRouter::new().routes(routes!(costs)), state)
}

/// `GET /analytics/costs` query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CostsQuery {
    /// Start of the period, inclusive: an RFC 3339 date (`2026-11-01`, midnight UTC) or date-time
    /// (`2026-11-01T09:00:00+01:00`). Default: the first day of the current month (UTC).
    #[param(value_type = Option<String>, example = "2026-11-01")]
    pub from: Option<DateTime<Utc>>,
    /// End of the period: a date counts in full (`2026-11-30` runs to midnight after it), a date-time is
    /// exclusive. Default: now. At most 366 days after `from`.
    #[param(value_type = Option<String>, example = "2026-11-30")]
    pub to: Option<DateTime<Utc>>,
    /// Only the messages of this bulk request (its `batchId`).
    #[param(rename = "batchId", value_type = Option<String>, format = Uuid)]
    pub batch_id: Option<BatchId>,
}

/// Which end of the period a date is.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Start,
    Finish,
}

/// An RFC 3339 date (its start, or for `to` the start of the next day) or date-time.
fn instant(raw: &str, end: End) -> Option<DateTime<Utc>> {
    if raw.len() > MAX_TIME_LEN {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let day = match end {
        End::Start => day,
        End::Finish => day.succ_opt()?,
    };
    Some(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0)?))
}

impl FromQuery for CostsQuery {
    fn from_query(q: &QueryParams, details: &mut Vec<FieldError>) -> Self {
        let mut time = |name: &str, end: End| {
            let raw = q.non_blank(name)?;
            let t = instant(raw, end);
            if t.is_none() {
                details.push(field_error(
                    name,
                    "must be an RFC 3339 date (2026-11-01) or date-time (2026-11-01T09:00:00Z)",
                ));
            }
            t
        };
        let from = time("from", End::Start);
        let to = time("to", End::Finish);
        let batch_id = q.non_blank("batchId").and_then(|s| match s.parse() {
            Ok(batch) => Some(batch),
            Err(_) => {
                details.push(field_error(
                    "batchId",
                    "must be the batchId returned by POST /messages/bulk",
                ));
                None
            }
        });
        Self { from, to, batch_id }
    }
}

/// Billable messages of one country and category with their price.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostRowView {
    /// The recipients' country (ISO 3166-1 alpha-2, from the number's calling code).
    #[schema(example = "US")]
    pub country: String,
    /// Meta's pricing category.
    #[schema(example = "marketing")]
    pub category: String,
    /// Billable messages.
    pub messages: u64,
    /// The rate card's price of one, as an exact decimal string.
    #[schema(example = "0.025")]
    pub unit_price: String,
    /// ISO 4217.
    #[schema(example = "USD")]
    pub currency: String,
    /// `messages × unitPrice`, exact decimal string.
    #[schema(example = "0.175")]
    pub cost: String,
    /// The cost in millionths of the currency unit.
    pub cost_micros: u64,
}

/// The sum of the rows of one currency.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostTotalView {
    /// ISO 4217.
    pub currency: String,
    /// Billable messages priced in it.
    pub messages: u64,
    /// Exact decimal string.
    pub cost: String,
    /// In millionths of the currency unit.
    pub cost_micros: u64,
}

/// Billable messages the rate card has no price for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnpricedRowView {
    /// The recipients' country; null for recipients known only by a username, or a calling code of no country.
    pub country: Option<String>,
    /// Meta's pricing category.
    pub category: String,
    /// Billable messages.
    pub messages: u64,
}

/// What the period's billable messages cost.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostReportView {
    /// Start of the period, inclusive (RFC 3339 UTC).
    pub from: String,
    /// End of the period, exclusive (RFC 3339 UTC).
    pub to: String,
    /// Whether the server has a rate card; without one every billable message is in `unpriced`.
    pub rate_card: bool,
    /// Billable messages (Meta's pricing type `regular`) accepted by Meta in the period, priced or not.
    pub billable_messages: u64,
    /// Priced rows, by country then category.
    pub rows: Vec<CostRowView>,
    /// Totals per currency.
    pub totals: Vec<CostTotalView>,
    /// Billable messages without a rate, by country (unknown first) then category.
    pub unpriced: Vec<UnpricedRowView>,
}

/// A [`CostSheet`] in the API's shape: the rows, totals and unpriced lines of a cost report, or of an estimate
/// (`whatsapi_core::costs::estimate`) for a planned send.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSheetView {
    /// Messages in all lines, priced or not.
    pub messages: u64,
    /// Priced rows, by country then category.
    pub rows: Vec<CostRowView>,
    /// Totals per currency.
    pub totals: Vec<CostTotalView>,
    /// Messages without a rate, by country (unknown first) then category.
    pub unpriced: Vec<UnpricedRowView>,
}

impl CostSheetView {
    /// The view of a sheet.
    pub fn of(sheet: &CostSheet) -> Self {
        let mut per_currency: BTreeMap<String, u64> = BTreeMap::new();
        for l in &sheet.lines {
            *per_currency.entry(l.rate.currency.to_string()).or_default() += l.messages;
        }
        let money = |a: Amount| (a.to_string(), a.micros());
        Self {
            messages: sheet.messages(),
            rows: sheet
                .lines
                .iter()
                .map(|l| CostRowView {
                    country: l.country.to_string(),
                    category: l.category.clone(),
                    messages: l.messages,
                    unit_price: l.rate.price.to_string(),
                    currency: l.rate.currency.to_string(),
                    cost: money(l.cost).0,
                    cost_micros: money(l.cost).1,
                })
                .collect(),
            totals: sheet
                .totals
                .iter()
                .map(|(c, a)| CostTotalView {
                    currency: c.to_string(),
                    messages: per_currency.get(c.as_str()).copied().unwrap_or(0),
                    cost: money(*a).0,
                    cost_micros: money(*a).1,
                })
                .collect(),
            unpriced: sheet
                .unpriced
                .iter()
                .map(|u| UnpricedRowView {
                    country: u.country.map(|c| c.to_string()),
                    category: u.category.clone(),
                    messages: u.messages,
                })
                .collect(),
        }
    }
}

impl CostReportView {
    fn of(sheet: &CostSheet, from: DateTime<Utc>, to: DateTime<Utc>, rate_card: bool) -> Self {
        let sheet = CostSheetView::of(sheet);
        Self {
            from: format_time(&from),
            to: format_time(&to),
            rate_card,
            billable_messages: sheet.messages,
            rows: sheet.rows,
            totals: sheet.totals,
            unpriced: sheet.unpriced,
        }
    }
}

/// What your billable messages cost, by the recipients' country and Meta's pricing category.
///
/// Counts the messages whose latest pricing from Meta is of type `regular` (free customer-service and entry-point
/// messages are not charged) by the time Meta accepted them (`sentAt`), and prices them with the server's rate
/// card. Messages the card has no rate for are listed under `unpriced`.
#[utoipa::path(get, path = "/analytics/costs", tag = "analytics", operation_id = "getAnalyticsCosts", security(("bearer" = [])),
    params(CostsQuery),
    responses(
        (status = 200, body = crate::views::Envelope<CostReportView>, example = json!({"success": true, "data": {
            "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "rateCard": true, "billableMessages": 10,
            "rows": [
                {"country": "GB", "category": "utility", "messages": 2, "unitPrice": "0.022", "currency": "GBP",
                 "cost": "0.044", "costMicros": 44000},
                {"country": "US", "category": "marketing", "messages": 7, "unitPrice": "0.025", "currency": "USD",
                 "cost": "0.175", "costMicros": 175000}],
            "totals": [
                {"currency": "GBP", "messages": 2, "cost": "0.044", "costMicros": 44000},
                {"currency": "USD", "messages": 7, "cost": "0.175", "costMicros": 175000}],
            "unpriced": [{"country": "DE", "category": "marketing", "messages": 1}]}})),
        (status = 400, body = crate::views::ErrorView, example = json!({"success": false,
            "error": "Validation failed: to: must be after from",
            "details": [{"field": "to", "message": "must be after from"}]})),
    ))]
pub async fn costs(
    State(state): State<AppState>,
    CurrentAccount(account): CurrentAccount,
    ValidatedQuery(q): ValidatedQuery<CostsQuery>,
) -> Result<Response, ApiError> {
    let now = state.api.clock().now();
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or_else(|| {
        let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0));
        first.map_or(now, |d| Utc.from_utc_datetime(&d))
    });
    let card = state.settings.rate_card.as_deref();
    let query = BillableQuery {
        from,
        to,
        batch: q.batch_id,
    };
    let sheet = state.api.cost_report(account.id, query, card).await?;
    Ok(ok(CostReportView::of(&sheet, from, to, card.is_some())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_date_times_are_read_as_rfc_3339() {
        let t = |s: &str| format_time(&instant(s, End::Start).unwrap());
        assert_eq!(t("2026-11-01"), "2026-11-01T00:00:00Z");
        assert_eq!(t("2026-11-01T09:30:00+01:00"), "2026-11-01T08:30:00Z");
        assert_eq!(t("2026-11-01T09:30:00Z"), "2026-11-01T09:30:00Z");
        let end = |s: &str| format_time(&instant(s, End::Finish).unwrap());
        assert_eq!(
            end("2026-11-30"),
            "2026-12-01T00:00:00Z",
            "a date counts in full"
        );
        assert_eq!(end("2026-12-31"), "2027-01-01T00:00:00Z");
        assert_eq!(end("2026-11-30T12:00:00Z"), "2026-11-30T12:00:00Z");
        for bad in [
            "2026-13-01",
            "yesterday",
            "2026-11-01T25:00:00Z",
            "1700000000",
            "2026-11-01 09:00",
        ] {
            assert_eq!(instant(bad, End::Start), None, "{bad}");
        }
        assert_eq!(instant(&"9".repeat(100), End::Start), None);
    }
}
