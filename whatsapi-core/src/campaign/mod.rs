//! Campaigns: one message (a template with per-recipient parameters, or any content) sent to many recipients,
//! from a start time, at an optional rate and inside an optional daily send window in each recipient's time zone.
//!
//! A campaign's messages are ordinary messages of its account, created with it (status `scheduled`, each due at
//! the time [`plan`] gives it) and linked to it by their batch id (the campaign's id), so they are listed, tracked
//! and announced like every other message. Pausing holds the ones not claimed yet (a send in flight finishes);
//! resuming plans them again from then; cancelling fails them with [`CANCELLED_REASON`].
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use whatsapi_core::campaign::{SendWindow, plan, zone_of_number};
//! use whatsapi_core::PhoneNumber;
//!
//! let window: SendWindow = "09:00-20:00".parse().unwrap();
//! let zone = zone_of_number(&PhoneNumber::parse("447911123456").unwrap());
//! // 22:00 in London is outside the window: the message waits for 09:00 the next morning.
//! let start = Utc.with_ymd_and_hms(2026, 1, 5, 22, 0, 0).unwrap();
//! let due = plan(start, None, Some(&window), &[zone]);
//! assert_eq!(due[0], Utc.with_ymd_and_hms(2026, 1, 6, 9, 0, 0).unwrap());
//! ```

mod schedule;
mod zones;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::Status;
use crate::account::AccountId;
use crate::message::{BatchId, MessageContent, TemplateComponent, TemplateParameter, uuid_id};
use crate::recipient::Recipient;
use crate::store::StatusCounts;

pub use schedule::{next_in_window, plan};
pub use zones::{zone_of_number, zone_of_recipient};

uuid_id!(
    /// Identifies one campaign (UUID v7). Its messages carry it as their batch id.
    CampaignId
);

impl CampaignId {
    /// The batch id its messages carry (`GET /messages?batchId=` lists them).
    pub fn batch(self) -> BatchId {
        BatchId(self.0)
    }
}

/// Most recipients of one campaign.
pub const MAX_RECIPIENTS: usize = 100_000;
/// Longest campaign name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Fastest rate a campaign may ask for, in messages per second (Meta's top throughput tier).
pub const MAX_RATE_PER_SECOND: u32 = 1_000;
/// Most parameters of one recipient.
pub const MAX_RECIPIENT_PARAMS: usize = 20;
/// Longest time-zone name accepted (IANA names are far shorter).
pub const MAX_TIME_ZONE_CHARS: usize = 64;
/// Messages inserted per statement batch when a campaign is created (all in one transaction).
pub const INSERT_CHUNK: usize = 5_000;
/// The `errorMessage` of the messages a cancel ends.
pub const CANCELLED_REASON: &str = "campaign cancelled before this message was sent";

/// A daily send window in local time: messages go out only between `from` (inclusive) and `to` (exclusive) of
/// each recipient's own clock. A window whose `to` is before its `from` spans midnight (`22:00`–`06:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    /// Opening time.
    pub from: NaiveTime,
    /// Closing time.
    pub to: NaiveTime,
}

impl SendWindow {
    /// A window; `None` when `from == to` (an empty window could never send).
    pub fn new(from: NaiveTime, to: NaiveTime) -> Option<Self> {
        (from != to).then_some(Self { from, to })
    }

    /// Parses `"HH:MM"` (24-hour).
    pub fn parse_time(s: &str) -> Option<NaiveTime> {
        let s = s.trim();
        if s.len() != 5 {
            return None;
        }
        NaiveTime::parse_from_str(s, "%H:%M").ok()
    }

    /// Whether a local time of day is inside the window.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.from < self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }

    /// `"HH:MM"` of the opening time.
    pub fn from_str_hm(&self) -> String {
        self.from.format("%H:%M").to_string()
    }

    /// `"HH:MM"` of the closing time.
    pub fn to_str_hm(&self) -> String {
        self.to.format("%H:%M").to_string()
    }
}

impl FromStr for SendWindow {
    type Err = String;

    /// `"09:00-20:00"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("expected HH:MM-HH:MM, got '{s}'"))?;
        let from = Self::parse_time(a).ok_or_else(|| format!("'{a}' is not a time HH:MM"))?;
        let to = Self::parse_time(b).ok_or_else(|| format!("'{b}' is not a time HH:MM"))?;
        Self::new(from, to).ok_or_else(|| "the window opens and closes at the same time".to_owned())
    }
}

/// The parameters one recipient fills into the campaign's template body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RecipientParams {
    /// None: the campaign's content is sent as given.
    #[default]
    None,
    /// Positional body parameters `{{1}}`, `{{2}}`, …
    Positional(Vec<String>),
    /// Named body parameters `{{first_name}}`, each `(name, text)`.
    Named(Vec<(String, String)>),
}

impl RecipientParams {
    /// How many parameters.
    pub fn len(&self) -> usize {
        match self {
            RecipientParams::None => 0,
            RecipientParams::Positional(p) => p.len(),
            RecipientParams::Named(p) => p.len(),
        }
    }

    /// No parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The content this recipient gets: for a template, its body parameters replaced by these (other content, and
    /// a recipient without parameters, as given).
    pub fn fill(&self, content: &MessageContent) -> MessageContent {
        let mut content = content.clone();
        let parameters: Vec<TemplateParameter> = match self {
            RecipientParams::None => return content,
            RecipientParams::Positional(p) => p.iter().map(TemplateParameter::text).collect(),
            RecipientParams::Named(p) => p
                .iter()
                .map(|(n, t)| TemplateParameter::named_text(n, t))
                .collect(),
        };
        if let MessageContent::Template(t) = &mut content {
            t.components
                .retain(|c| !matches!(c, TemplateComponent::Body { .. }));
            t.components.push(TemplateComponent::Body { parameters });
        }
        content
    }
}

/// One recipient of a new campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRecipient {
    /// Who.
    pub to: Recipient,
    /// What they fill into the template.
    pub params: RecipientParams,
    /// Their time zone; `None`: derived from the phone number's country calling code ([`zone_of_recipient`]).
    pub time_zone: Option<Tz>,
}

/// A campaign to create (checked by [`WhatsApi::create_campaign`](crate::WhatsApi::create_campaign)).
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRequest {
    /// A name for people.
    pub name: String,
    /// What every recipient gets (a template's body parameters are filled per recipient).
    pub content: MessageContent,
    /// Who.
    pub recipients: Vec<CampaignRecipient>,
    /// Send no earlier than this; `None`: now.
    pub start_at: Option<DateTime<Utc>>,
    /// Only inside this daily window of each recipient's clock.
    pub send_window: Option<SendWindow>,
    /// At most this many messages per second, spread evenly; `None`: as fast as the number's pacing allows.
    pub rate_per_second: Option<u32>,
    /// Send from this business number of the account (its Meta phone number id); `None`: the default number.
    pub from: Option<String>,
    /// How long each message may wait past its planned send time before it expires unsent ([`Campaign::validity`]);
    /// `None`: the account's default validity, else never.
    pub validity: Option<Duration>,
    /// Simulate the sends without calling Meta.
    pub dry_run: bool,
}

impl CampaignRequest {
    /// A campaign of `content` to `recipients`, starting now, unpaced, without a window.
    pub fn new(
        name: impl Into<String>,
        content: MessageContent,
        recipients: Vec<CampaignRecipient>,
    ) -> Self {
        Self {
            name: name.into(),
            content,
            recipients,
            start_at: None,
            send_window: None,
            rate_per_second: None,
            from: None,
            validity: None,
            dry_run: false,
        }
    }
}

/// What a store keeps of a campaign's control: whether its messages may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignControl {
    /// Its messages go out as planned.
    Active,
    /// Its unclaimed messages are held.
    Paused,
    /// Its unsent messages were failed.
    Cancelled,
}

impl CampaignControl {
    /// The code stores keep. Stable.
    pub fn code(self) -> u8 {
        match self {
            CampaignControl::Active => 0,
            CampaignControl::Paused => 1,
            CampaignControl::Cancelled => 2,
        }
    }

    /// The control of a stored code.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => CampaignControl::Active,
            1 => CampaignControl::Paused,
            2 => CampaignControl::Cancelled,
            _ => return None,
        })
    }
}

/// Where a campaign is, as its owner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignState {
    /// Active, and nothing has gone out yet (its start, or every recipient's window, is still ahead).
    Scheduled,
    /// Active, with messages sent and messages still to send.
    Running,
    /// Held by its owner.
    Paused,
    /// Every message settled (sent, delivered, read or failed).
    Completed,
    /// Cancelled by its owner.
    Cancelled,
}

impl CampaignState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    /// The state of a campaign with this control and these counts of its messages by status.
    pub fn of(control: CampaignControl, counts: &StatusCounts) -> Self {
        let n = |s: Status| counts.get(&s).copied().unwrap_or(0);
        match control {
            CampaignControl::Cancelled => CampaignState::Cancelled,
            CampaignControl::Paused => CampaignState::Paused,
            CampaignControl::Active => {
                let unsettled = n(Status::Queued)
                    + n(Status::Scheduled)
                    + n(Status::Processing)
                    + n(Status::Retrying);
                let touched: u64 = counts
                    .iter()
                    .filter(|(s, _)| **s != Status::Scheduled)
                    .map(|(_, c)| *c)
                    .sum();
                if unsettled == 0 {
                    CampaignState::Completed
                } else if touched == 0 {
                    CampaignState::Scheduled
                } else {
                    CampaignState::Running
                }
            }
        }
    }
}

impl fmt::Display for CampaignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Id.
    pub id: CampaignId,
    /// Owner.
    pub account_id: AccountId,
    /// Name.
    pub name: String,
    /// What every recipient gets (before its parameters are filled in).
    pub content: MessageContent,
    /// The first send time.
    pub start_at: DateTime<Utc>,
    /// The daily window, if any.
    pub send_window: Option<SendWindow>,
    /// The rate, if any.
    pub rate_per_second: Option<u32>,
    /// The business number its messages go out on (a phone number id of the account); `None`: the default number.
    pub from: Option<String>,
    /// Each message's validity period, counted from the time it was planned to go out (not from the campaign's
    /// creation, so its last messages do not expire before their turn): a message still waiting then (held by a
    /// pause, an open breaker, pacing, retries) fails as expired and is never sent. `None`: never.
    pub validity: Option<Duration>,
    /// Messages created with it.
    pub recipients: u64,
    /// Whether its messages may go out.
    pub control: CampaignControl,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last pause, resume or cancel.
    pub updated_at: DateTime<Utc>,
}

/// A campaign with the live counts of its messages by status.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignProgress {
    /// The campaign.
    pub campaign: Campaign,
    /// Its messages by current status.
    pub counts: StatusCounts,
    /// Where it is.
    pub state: CampaignState,
}

impl CampaignProgress {
    /// Progress of a campaign with these counts.
    pub fn new(campaign: Campaign, counts: StatusCounts) -> Self {
        let state = CampaignState::of(campaign.control, &counts);
        Self {
            campaign,
            counts,
            state,
        }
    }

    /// Messages that left (or settled): every status but queued, scheduled, processing and retrying.
    pub fn settled(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(s, _)| {
                !matches!(
                    s,
                    Status::Queued | Status::Scheduled | Status::Processing | Status::Retrying
                )
            })
            .map(|(_, n)| *n)
            .sum()
    }
}

/// A message of a campaign that a pause holds, as a resume plans it again.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldMessage {
    /// The message.
    pub id: crate::message::MessageId,
    /// Its recipient (for the zone when none was given).
    pub to: Recipient,
    /// The time zone its recipient row gave, if any (an IANA name).
    pub time_zone: Option<String>,
}

/// A campaign to store with its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    /// The campaign (control `Active`).
    pub campaign: Campaign,
    /// Its messages, in recipient order: each `scheduled` (a `send_at`), batch id [`CampaignId::batch`].
    pub messages: Vec<crate::message::NewMessage>,
    /// The time zones the recipient rows gave, by message (kept for a resume's planning).
    pub time_zones: Vec<(crate::message::MessageId, String)>,
}

/// What a resume sets: each held message due again at its time.
pub type Replan = Vec<(crate::message::MessageId, DateTime<Utc>)>;

#[cfg(test)]
mod tests;
