//! Campaigns: checked once, planned, stored with all their messages; paused, resumed and cancelled.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::account::{Account, AccountId};
use crate::campaign::{
    Campaign, CampaignControl, CampaignId, CampaignProgress, CampaignRecipient, CampaignRequest,
    CampaignState, MAX_NAME_CHARS, MAX_RATE_PER_SECOND, MAX_RECIPIENT_PARAMS, MAX_RECIPIENTS,
    NewCampaign, plan, zone_of_recipient,
};
use crate::costs::{BillableQuery, CostSheet, Country, PricingCategory, RateCard};
use crate::message::{MessageContent, NewMessage};
use crate::send::{FieldError, SendRequest, ValidationErrors};
use crate::store::{Page, PageRequest, StoreError};

use super::messages::MAX_PAGE_LIMIT;
use super::{Error, WhatsApi};

/// Most failing recipients a refused campaign lists (the rest are counted).
pub const MAX_REPORTED_ERRORS: usize = 50;

const CAMPAIGN_NOT_FOUND: &str = "campaign not found";

/// The domain field identifiers campaign validation reports (recipients' fields are `recipients[3].to`, …).
pub mod field {
    /// The name.
    pub const NAME: &str = "name";
    /// The recipients.
    pub const RECIPIENTS: &str = "recipients";
    /// The start time.
    pub const START_AT: &str = "start_at";
    /// The rate.
    pub const RATE_PER_SECOND: &str = "rate_per_second";
    /// The sending number.
    pub const FROM: &str = crate::send::field::FROM;
    /// The validity period of each message.
    pub const VALIDITY: &str = crate::send::field::VALIDITY;
}

/// A recipient left out of a campaign that was created: they opted out, or a marketing pause or the 24-hour
/// window holds them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecipient {
    /// Position in the request.
    pub index: usize,
    /// Why.
    pub detail: FieldError,
}

/// A campaign created: its progress, and who was left out.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CampaignCreated {
    /// The campaign as stored, with its messages' counts.
    pub progress: CampaignProgress,
    /// Recipients left out, by position.
    pub skipped: Vec<SkippedRecipient>,
}

/// What a campaign would send, without creating it (`estimate`).
///
/// Prices are not part of it yet: a rate card turns `by_country` (and the template's category) into money.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CampaignEstimate {
    /// Recipients that would get a message.
    pub recipients: u64,
    /// Those recipients by ISO 3166-1 alpha-2 country of their number's calling code (`unknown` for numbers the
    /// table does not place and for BSUID-only recipients).
    pub by_country: BTreeMap<String, u64>,
    /// Recipients left out, by position.
    pub skipped: Vec<SkippedRecipient>,
    /// When the first message would be due.
    pub first_send_at: Option<DateTime<Utc>>,
    /// When the last message would be due.
    pub last_send_at: Option<DateTime<Utc>>,
    /// The pricing category the messages would be billed in: a template's own category (marketing when the
    /// account's template list does not say), `service` for other content.
    pub category: PricingCategory,
    /// What the messages would cost by country and category, from the operator's rate card (every line unpriced
    /// without one).
    pub cost: CostSheet,
}

/// A campaign checked and planned, not stored yet.
struct Planned {
    campaign: Campaign,
    messages: Vec<NewMessage>,
    time_zones: Vec<(crate::message::MessageId, String)>,
    skipped: Vec<SkippedRecipient>,
    countries: Vec<Option<Country>>,
    /// Whether its sends need the account's default credentials (they are real and do not go out on an extra
    /// number with a token of its own).
    needs_default_credentials: bool,
}

/// The send of one recipient: the campaign's content with the recipient's parameters, from the campaign's number.
/// (The validity period is not part of it: a campaign's counts from each message's planned time, see
/// [`Campaign::validity`].)
fn recipient_request(request: &CampaignRequest, recipient: &CampaignRecipient) -> SendRequest {
    let req = SendRequest::new(
        recipient.to.clone(),
        recipient.params.fill(&request.content),
    )
    .dry_run(request.dry_run);
    match &request.from {
        Some(f) => req.from_number(f.clone()),
        None => req,
    }
}

impl WhatsApi {
    /// Creates a campaign: checks it (every failing recipient is reported, up to [`MAX_REPORTED_ERRORS`], under
    /// `recipients[i].…`; nothing is created unless every recipient is valid), leaves out recipients who opted
    /// out or are otherwise held back (listed in `skipped`), plans when each message is due ([`plan`]) and stores
    /// the campaign with all its messages in one transaction.
    pub async fn create_campaign(
        &self,
        account: &Account,
        request: CampaignRequest,
    ) -> Result<CampaignCreated, Error> {
        let planned = self.plan_campaign(account, &request).await?;
        if planned.messages.is_empty() {
            return Err(Error::field(
                field::RECIPIENTS,
                "every recipient was left out (opted out, or held back by a marketing pause or the 24-hour \
                 window); nothing to send",
            ));
        }
        if account.credentials.is_none() && planned.needs_default_credentials {
            return Err(Error::NoCredentials);
        }
        let campaign = planned.campaign.clone();
        self.store()
            .create_campaign(NewCampaign {
                campaign: planned.campaign,
                messages: planned.messages,
                time_zones: planned.time_zones,
            })
            .await?;
        self.core().dispatch_wake.notify();
        tracing::info!(account_id = %account.id, campaign_id = %campaign.id, recipients = campaign.recipients,
            "campaign created");
        let counts = self
            .store()
            .campaign_counts(account.id, campaign.id)
            .await?;
        Ok(CampaignCreated {
            progress: CampaignProgress::new(campaign, counts),
            skipped: planned.skipped,
        })
    }

    /// Checks and plans a campaign like [`create_campaign`](Self::create_campaign) and answers what it would
    /// send, without storing anything.
    pub async fn estimate_campaign(
        &self,
        account: &Account,
        request: &CampaignRequest,
        card: Option<&RateCard>,
    ) -> Result<CampaignEstimate, Error> {
        let planned = self.plan_campaign(account, request).await?;
        let category = match &request.content {
            MessageContent::Template(t) => self
                .template_category(account, t)
                .await
                .and_then(|c| c.to_ascii_lowercase().parse().ok())
                .unwrap_or(PricingCategory::Marketing),
            _ => PricingCategory::Service,
        };
        let cost = crate::costs::estimate(
            card,
            planned.messages.iter().map(|m| m.to.phone_number()),
            category,
        );
        let mut by_country = BTreeMap::new();
        for c in &planned.countries {
            *by_country
                .entry(c.map_or_else(|| "unknown".to_owned(), |c| c.to_string()))
                .or_insert(0u64) += 1;
        }
        let due = planned.messages.iter().filter_map(|m| m.send_at);
        Ok(CampaignEstimate {
            recipients: planned.messages.len() as u64,
            by_country,
            skipped: planned.skipped,
            first_send_at: due.clone().min(),
            last_send_at: due.max(),
            category,
            cost,
        })
    }

    /// What the campaign's messages cost so far: its billable messages (those Meta priced as `regular`) since it
    /// was created, priced by `card`. Takes the campaign as [`campaign`](Self::campaign) read it.
    pub async fn campaign_cost(
        &self,
        campaign: &Campaign,
        card: Option<&RateCard>,
    ) -> Result<CostSheet, Error> {
        let query = BillableQuery {
            from: campaign.created_at,
            to: self.clock().now() + chrono::Duration::seconds(1),
            batch: Some(campaign.id.batch()),
        };
        let tallies = self
            .store()
            .billable_tallies(campaign.account_id, &query)
            .await?;
        Ok(CostSheet::of_tallies(&tallies, card))
    }

    async fn plan_campaign(
        &self,
        account: &Account,
        request: &CampaignRequest,
    ) -> Result<Planned, Error> {
        let now = self.clock().now();
        check_shape(request, now, self.send_rules())?;
        // Every recipient's send is checked as a single send would be.
        let mut errs = ValidationErrors::default();
        let mut failing = 0usize;
        let mut requests = Vec::with_capacity(request.recipients.len());
        for (i, r) in request.recipients.iter().enumerate() {
            let req = recipient_request(request, r);
            let mut mine = Vec::new();
            if r.params.len() > MAX_RECIPIENT_PARAMS {
                mine.push(FieldError {
                    field: "params".into(),
                    message: format!("at most {MAX_RECIPIENT_PARAMS} parameters per recipient"),
                });
            }
            if !r.params.is_empty() && !matches!(request.content, MessageContent::Template(_)) {
                mine.push(FieldError {
                    field: "params".into(),
                    message: "parameters fill a template; this campaign sends no template".into(),
                });
            }
            if let Err(e) = req.validate(now, self.send_rules()) {
                mine.extend(e.0);
            }
            if !mine.is_empty() {
                failing += 1;
                for e in mine {
                    if errs.len() < MAX_REPORTED_ERRORS {
                        errs.push(format!("{}[{i}].{}", field::RECIPIENTS, e.field), e.message);
                    }
                }
            }
            requests.push(req);
        }
        if failing > 0 {
            if failing > MAX_REPORTED_ERRORS {
                errs.push(
                    field::RECIPIENTS,
                    format!("{failing} recipients are invalid; the first are listed"),
                );
            }
            return Err(Error::Validation(errs));
        }
        // The template and the sending number are the same for every recipient: checked once.
        let mut senders = super::send::Senders::default();
        let mut needs_default_credentials = false;
        if let Some(first) = requests.first() {
            if let Some((f, message)) = self.template_refusal(account, first).await? {
                return Err(Error::field(f, message));
            }
            if let Some(message) = self.sender_refusal(account, first, &mut senders).await? {
                return Err(Error::field(field::FROM, message));
            }
            needs_default_credentials = senders.needs_default_credentials(first);
        }
        // Who is held back, read for all the recipients at once (not a store call per recipient).
        let window = self.window_refusals(account, &requests, now).await?;
        let marketing = self.marketing_refusals(account, &requests, now).await?;
        let mut skipped = Vec::new();
        let mut kept = Vec::with_capacity(requests.len());
        let refusals = window.into_iter().zip(marketing);
        for (i, ((req, r), (window, marketing))) in requests
            .into_iter()
            .zip(&request.recipients)
            .zip(refusals)
            .enumerate()
        {
            let refusal = match window {
                Some(message) => Some(("to", message)),
                None => marketing,
            };
            match refusal {
                Some((f, message)) => skipped.push(SkippedRecipient {
                    index: i,
                    detail: FieldError {
                        field: f.into(),
                        message,
                    },
                }),
                None => kept.push((req, r)),
            }
        }
        let start = request.start_at.map_or(now, |s| s.max(now));
        let zones: Vec<Tz> = kept
            .iter()
            .map(|(_, r)| r.time_zone.unwrap_or_else(|| zone_of_recipient(&r.to)))
            .collect();
        let due = plan(
            start,
            request.rate_per_second,
            request.send_window.as_ref(),
            &zones,
        );
        let id = CampaignId::new();
        let mut messages = Vec::with_capacity(kept.len());
        let mut time_zones = Vec::new();
        let mut countries = Vec::with_capacity(kept.len());
        // A campaign spreads over hours or days: each message's validity counts from its own planned time, so the
        // last ones do not expire before their turn.
        let validity = request.validity.or(account.default_validity);
        for ((req, r), at) in kept.into_iter().zip(due) {
            let mut m = req
                .send_at(at)
                .into_new_message(account.id, Some(id.batch()), now, None);
            m.expires_at = validity.map(|v| crate::store::support::saturating_add(at, v));
            if let Some(z) = r.time_zone {
                time_zones.push((m.id, z.name().to_owned()));
            }
            countries.push(r.to.phone_number().and_then(Country::of));
            messages.push(m);
        }
        let campaign = Campaign {
            id,
            account_id: account.id,
            name: request.name.trim().to_owned(),
            content: request.content.clone(),
            start_at: start,
            send_window: request.send_window,
            rate_per_second: request.rate_per_second,
            from: request.from.clone(),
            validity,
            recipients: messages.len() as u64,
            control: CampaignControl::Active,
            created_at: now,
            updated_at: now,
        };
        Ok(Planned {
            campaign,
            messages,
            time_zones,
            skipped,
            countries,
            needs_default_credentials,
        })
    }

    /// The account's campaign with live counts; unknown ids and other accounts' are `NotFound`.
    pub async fn campaign(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> Result<CampaignProgress, Error> {
        let campaign = self
            .store()
            .campaign(account, id)
            .await?
            .ok_or_else(|| Error::NotFound(CAMPAIGN_NOT_FOUND.into()))?;
        let counts = self.store().campaign_counts(account, id).await?;
        Ok(CampaignProgress::new(campaign, counts))
    }

    /// A page of the account's campaigns, newest first, each with live counts. `page >= 1`, `limit` 1–200.
    pub async fn list_campaigns(
        &self,
        account: AccountId,
        page: PageRequest,
    ) -> Result<Page<CampaignProgress>, Error> {
        let mut errs = ValidationErrors::default();
        if page.page < 1 {
            errs.push("page", "must be 1 or more");
        }
        if !(1..=MAX_PAGE_LIMIT).contains(&page.limit) {
            errs.push("limit", format!("must be between 1 and {MAX_PAGE_LIMIT}"));
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        let listed = self.store().list_campaigns(account, page).await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for c in listed.items {
            let counts = self.store().campaign_counts(account, c.id).await?;
            items.push(CampaignProgress::new(c, counts));
        }
        Ok(Page {
            items,
            total: listed.total,
        })
    }

    /// Pauses a scheduled or running campaign: its messages not claimed yet are held (a send in flight finishes).
    /// [`Error::Conflict`] for a paused, completed or cancelled one.
    pub async fn pause_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> Result<CampaignProgress, Error> {
        let current = self.campaign(account, id).await?;
        if !matches!(
            current.state,
            CampaignState::Scheduled | CampaignState::Running
        ) {
            return Err(illegal("pause", current.state));
        }
        let now = self.clock().now();
        let held = self
            .store()
            .pause_campaign(account, id, now)
            .await
            .map_err(|e| transition_error(e, "pause"))?;
        tracing::info!(%account, campaign_id = %id, held, "campaign paused");
        self.campaign(account, id).await
    }

    /// Resumes a paused campaign: its held messages are planned again from now (or its start, if later), at its
    /// rate and inside each recipient's window. [`Error::Conflict`] unless it is paused.
    pub async fn resume_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> Result<CampaignProgress, Error> {
        let current = self.campaign(account, id).await?;
        if current.state != CampaignState::Paused {
            return Err(illegal("resume", current.state));
        }
        let now = self.clock().now();
        let held = self.store().held_messages(account, id).await?;
        let zones: Vec<Tz> = held
            .iter()
            .map(|h| {
                h.time_zone
                    .as_deref()
                    .and_then(|z| z.parse::<Tz>().ok())
                    .unwrap_or_else(|| zone_of_recipient(&h.to))
            })
            .collect();
        let c = &current.campaign;
        let due = plan(
            now.max(c.start_at),
            c.rate_per_second,
            c.send_window.as_ref(),
            &zones,
        );
        let replan: Vec<_> = held.iter().map(|h| h.id).zip(due).collect();
        let released = self
            .store()
            .resume_campaign(account, id, &replan, now)
            .await
            .map_err(|e| transition_error(e, "resume"))?;
        self.core().dispatch_wake.notify();
        tracing::info!(%account, campaign_id = %id, released, "campaign resumed");
        self.campaign(account, id).await
    }

    /// Cancels a campaign that is neither completed nor cancelled: its messages not claimed yet end `failed`
    /// (with their timeline entries and webhook events). [`Error::Conflict`] otherwise.
    pub async fn cancel_campaign(
        &self,
        account: AccountId,
        id: CampaignId,
    ) -> Result<CampaignProgress, Error> {
        let current = self.campaign(account, id).await?;
        if matches!(
            current.state,
            CampaignState::Completed | CampaignState::Cancelled
        ) {
            return Err(illegal("cancel", current.state));
        }
        let now = self.clock().now();
        let failed = self
            .store()
            .cancel_campaign(account, id, now)
            .await
            .map_err(|e| transition_error(e, "cancel"))?;
        self.core().deliver_wake.notify();
        tracing::info!(%account, campaign_id = %id, failed, "campaign cancelled");
        self.campaign(account, id).await
    }
}

fn illegal(verb: &str, state: CampaignState) -> Error {
    Error::Conflict(format!("a {state} campaign cannot {verb}"))
}

fn transition_error(e: StoreError, verb: &str) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound(CAMPAIGN_NOT_FOUND.into()),
        StoreError::Conflict(detail) => {
            Error::Conflict(format!("the campaign could not {verb}: {detail}"))
        }
        other => Error::Store(other),
    }
}

/// The checks of the campaign as a whole: name, number of recipients, rate, start.
fn check_shape(
    request: &CampaignRequest,
    now: DateTime<Utc>,
    rules: &crate::send::SendRules,
) -> Result<(), Error> {
    let mut errs = ValidationErrors::default();
    let name = request.name.trim();
    if name.is_empty() {
        errs.push(field::NAME, "must not be empty");
    } else if name.chars().count() > MAX_NAME_CHARS {
        errs.push(field::NAME, format!("at most {MAX_NAME_CHARS} characters"));
    }
    if request.recipients.is_empty() {
        errs.push(field::RECIPIENTS, "must contain at least one recipient");
    } else if request.recipients.len() > MAX_RECIPIENTS {
        errs.push(
            field::RECIPIENTS,
            format!(
                "at most {MAX_RECIPIENTS} recipients per campaign, got {}",
                request.recipients.len()
            ),
        );
    }
    if let Some(rate) = request.rate_per_second {
        if !(1..=MAX_RATE_PER_SECOND).contains(&rate) {
            errs.push(
                field::RATE_PER_SECOND,
                format!("must be between 1 and {MAX_RATE_PER_SECOND} messages per second"),
            );
        }
    }
    if let Some(Err(m)) = request.from.as_deref().map(crate::send::check_from) {
        errs.push(field::FROM, m);
    }
    if let Some(v) = request.validity {
        if let Err(m) = crate::send::check_validity(v) {
            errs.push(field::VALIDITY, m);
        }
    }
    if let Some(start) = request.start_at {
        let horizon = crate::store::support::saturating_add(now, rules.schedule_horizon);
        if start > horizon {
            errs.push(
                field::START_AT,
                format!(
                    "must be at most {} days ahead",
                    rules.schedule_horizon.as_secs() / 86_400
                ),
            );
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errs))
    }
}
