//! The JSON shapes of campaigns.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;
use whatsapi_core::campaign::CampaignProgress;
use whatsapi_core::service::{CampaignEstimate, SkippedRecipient};
use whatsapi_core::webhook::format_time;
use whatsapi_core::{MessageContent, Status};

use crate::views::PaginationView;

/// A daily send window in each recipient's local time.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendWindowView {
    /// Opening time, `HH:MM`.
    #[schema(example = "09:00")]
    pub from: String,
    /// Closing time, `HH:MM` (before `from`: the window spans midnight).
    #[schema(example = "20:00")]
    pub to: String,
}

/// A campaign's messages by current status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct CampaignCountsView {
    /// Waiting for the dispatcher.
    pub queued: u64,
    /// Waiting for their planned time (or held by a pause).
    pub scheduled: u64,
    /// Being sent.
    pub processing: u64,
    /// Failed transiently; tried again.
    pub retrying: u64,
    /// Accepted by Meta.
    pub sent: u64,
    /// On the device.
    pub delivered: u64,
    /// Opened.
    pub read: u64,
    /// Will not be delivered (a cancel fails the rest).
    pub failed: u64,
}

/// A campaign with its live progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignView {
    /// The campaign id; its messages carry it as their `batchId` (`GET /messages?batchId=`).
    #[schema(example = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")]
    pub id: String,
    /// The name.
    #[schema(example = "Spring sale")]
    pub name: String,
    /// `scheduled` (nothing sent yet), `running`, `paused`, `completed` or `cancelled`.
    #[schema(example = "running")]
    pub state: String,
    /// The message type every recipient gets (`template`, `text`, …).
    #[serde(rename = "type")]
    #[schema(example = "template")]
    pub kind: String,
    /// The template's name, for a template campaign.
    #[schema(example = "spring_sale")]
    pub template: Option<String>,
    /// Messages created with it.
    #[schema(example = 2)]
    pub recipients: u64,
    /// Messages settled so far (sent, delivered, read or failed).
    #[schema(example = 1)]
    pub settled: u64,
    /// `settled` as a percentage of `recipients`, rounded down.
    #[schema(example = 50)]
    pub progress_percent: u64,
    /// Its messages by status, live.
    pub counts: CampaignCountsView,
    /// The first send time (RFC 3339 UTC).
    #[schema(example = "2026-03-28T10:00:00Z")]
    pub start_at: String,
    /// The daily window, if any.
    pub send_window: Option<SendWindowView>,
    /// The rate, if any, in messages per second.
    #[schema(example = 10)]
    pub rate_per_second: Option<u32>,
    /// The business number its messages go out on (a phone number id of `GET /numbers`); `null`: the default number.
    #[schema(example = json!(null))]
    pub from: Option<String>,
    /// Each message's validity period in seconds, counted from its planned send time (the campaign's
    /// `validitySeconds`, else the account's `defaultValiditySeconds`); `null`: its messages never expire.
    #[schema(example = 3600)]
    pub validity_seconds: Option<u64>,
    /// What it cost so far (its messages Meta billed as `regular`, priced by the server's `--rate-card`): shown by
    /// `GET /campaigns/{id}`; `null` in lists and in the answers of pause, resume and cancel.
    pub cost: Option<crate::routes::costs::CostSheetView>,
    /// When it was created.
    #[schema(example = "2026-03-28T10:00:00Z")]
    pub created_at: String,
    /// The last pause, resume or cancel.
    #[schema(example = "2026-03-28T10:00:00Z")]
    pub updated_at: String,
}

impl CampaignView {
    /// The view of a campaign's progress.
    pub fn of(p: &CampaignProgress) -> Self {
        let c = &p.campaign;
        let n = |s: Status| p.counts.get(&s).copied().unwrap_or(0);
        let settled = p.settled();
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            state: p.state.as_str().to_owned(),
            kind: c.content.kind().as_str().to_owned(),
            template: match &c.content {
                MessageContent::Template(t) => Some(t.name.clone()),
                _ => None,
            },
            recipients: c.recipients,
            settled,
            progress_percent: (settled * 100).checked_div(c.recipients).unwrap_or(100),
            counts: CampaignCountsView {
                queued: n(Status::Queued),
                scheduled: n(Status::Scheduled),
                processing: n(Status::Processing),
                retrying: n(Status::Retrying),
                sent: n(Status::Sent),
                delivered: n(Status::Delivered),
                read: n(Status::Read),
                failed: n(Status::Failed),
            },
            start_at: format_time(&c.start_at),
            send_window: c.send_window.map(|w| SendWindowView {
                from: w.from_str_hm(),
                to: w.to_str_hm(),
            }),
            rate_per_second: c.rate_per_second,
            from: c.from.clone(),
            validity_seconds: c.validity.map(|v| v.as_secs()),
            cost: None,
            created_at: format_time(&c.created_at),
            updated_at: format_time(&c.updated_at),
        }
    }
}

/// A recipient left out of a created campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedView {
    /// Position in `recipients` (for a CSV, data row `index`, line `index + 2`).
    #[schema(example = 3)]
    pub index: usize,
    /// The field.
    #[schema(example = "template")]
    pub field: String,
    /// Why.
    #[schema(example = "the recipient opted out of marketing messages")]
    pub message: String,
}

impl SkippedView {
    fn of(s: &SkippedRecipient) -> Self {
        Self {
            index: s.index,
            field: s.detail.field.clone(),
            message: s.detail.message.clone(),
        }
    }
}

/// A campaign created.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignCreatedView {
    /// The campaign.
    #[serde(flatten)]
    pub campaign: CampaignView,
    /// Recipients left out (opted out, or held back by a marketing pause or the 24-hour window).
    pub skipped: Vec<SkippedView>,
}

impl CampaignCreatedView {
    /// The view of a creation.
    pub fn of(p: &CampaignProgress, skipped: &[SkippedRecipient]) -> Self {
        Self {
            campaign: CampaignView::of(p),
            skipped: skipped.iter().map(SkippedView::of).collect(),
        }
    }
}

/// What a campaign would send (`"estimate": true`); nothing is created.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignEstimateView {
    /// Always true.
    #[schema(example = true)]
    pub estimate: bool,
    /// Recipients that would get a message.
    #[schema(example = 2)]
    pub recipients: u64,
    /// Those recipients by country (ISO 3166-1 alpha-2 of their number's calling code; `unknown` when not
    /// known).
    #[schema(example = json!({"US": 1, "GB": 1}))]
    pub by_country: BTreeMap<String, u64>,
    /// Recipients that would be left out.
    pub skipped: Vec<SkippedView>,
    /// When the first message would be due.
    #[schema(example = "2026-03-28T10:00:00Z")]
    pub first_send_at: Option<String>,
    /// When the last message would be due.
    #[schema(example = "2026-03-28T10:00:01Z")]
    pub last_send_at: Option<String>,
    /// The pricing category the messages would be billed in (a template's category; `service` otherwise).
    #[schema(example = "marketing")]
    pub category: String,
    /// What they would cost by country and category, priced by the server's `--rate-card` (every line
    /// unpriced without one).
    pub cost: crate::routes::costs::CostSheetView,
}

impl CampaignEstimateView {
    /// The view of an estimate.
    pub fn of(e: &CampaignEstimate) -> Self {
        Self {
            estimate: true,
            recipients: e.recipients,
            by_country: e.by_country.clone(),
            skipped: e.skipped.iter().map(SkippedView::of).collect(),
            first_send_at: e.first_send_at.as_ref().map(format_time),
            last_send_at: e.last_send_at.as_ref().map(format_time),
            category: e.category.as_str().to_owned(),
            cost: crate::routes::costs::CostSheetView::of(&e.cost),
        }
    }
}

/// `GET /campaigns` answer.
#[derive(Serialize, ToSchema)]
pub struct CampaignListView {
    /// Always true.
    pub success: bool,
    /// Newest first.
    pub data: Vec<CampaignView>,
    /// Paging.
    pub pagination: PaginationView,
}
