//! Conversations: one contact per customer an account has talked to, with the 24-hour window, opt-out state and
//! the marketing pause, and the thread of messages in both directions.
//!
//! A contact is keyed by the customer's phone number when one is known, else by their business-scoped user id
//! (BSUID); it also keeps the other identifier once Meta gives it. Stores keep one row per contact, written
//! together with what changes it (a send's insert, an inbound message, an opt-out), so listing conversations
//! reads that table by its activity index instead of scanning messages.
//!
//! Opt-outs come from three places ([`OptOutSource`]): a customer writing one of the account's opt-out keywords
//! (STOP, …; [`OptOutKeywords`]), the account's own API call, and Meta (error 131050 on a failed status, or a
//! `user_preferences` webhook with `stop`). An opted-out contact receives no marketing templates; utility and
//! authentication templates and free-form messages are not blocked. Meta's 131049 (marketing spam limit) pauses
//! marketing templates to the recipient for [`MARKETING_PAUSE`].

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::inbound::{InboundContent, InboundMessage};
use crate::message::{Message, MessageContent, NewMessage, Status};
use crate::phone::PhoneNumber;
use crate::recipient::{Recipient, UserId};

/// How long the customer-service window stays open after the customer's last message.
pub const WINDOW: Duration = Duration::hours(24);
/// How long marketing templates to a recipient are held back after Meta's 131049.
pub const MARKETING_PAUSE: Duration = Duration::hours(24);
/// Thread items answered when the caller names no limit.
pub const DEFAULT_THREAD_LIMIT: u32 = 50;
/// Most thread items answered at once.
pub const MAX_THREAD_LIMIT: u32 = 200;
/// Most keywords in one list of [`OptOutKeywords`].
pub const MAX_KEYWORDS: usize = 50;
/// Most characters of one keyword.
pub const MAX_KEYWORD_CHARS: usize = 32;
/// Most characters kept of a profile name.
pub const PROFILE_NAME_LIMIT: usize = 256;
/// Meta's error code for a recipient who stopped marketing messages.
pub const META_MARKETING_OPT_OUT: i64 = 131050;
/// Meta's error code for a marketing message held back to keep the recipient's experience healthy.
pub const META_MARKETING_LIMIT: i64 = 131049;

/// Who set a contact's opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptOutSource {
    /// The customer wrote an opt-out keyword.
    Keyword,
    /// The account, through its API.
    Api,
    /// Meta: error 131050 or a `user_preferences` stop.
    Meta,
}

impl OptOutSource {
    /// `keyword`, `api` or `meta`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keyword => "keyword",
            Self::Api => "api",
            Self::Meta => "meta",
        }
    }

    /// The source named by [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keyword" => Some(Self::Keyword),
            "api" => Some(Self::Api),
            "meta" => Some(Self::Meta),
            _ => None,
        }
    }
}

/// A contact's opt-out: since when and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptOut {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who asked for it.
    pub source: OptOutSource,
}

/// How a customer is identified: a phone number, a BSUID, or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactRef {
    /// The phone number (E.164 digits).
    pub phone: Option<PhoneNumber>,
    /// The business-scoped user id.
    pub user_id: Option<UserId>,
}

impl ContactRef {
    /// The customer a message goes to.
    pub fn of_recipient(to: &Recipient) -> Self {
        Self {
            phone: to.phone_number().cloned(),
            user_id: to.user_id().cloned(),
        }
    }

    /// A contact id as a client writes it: phone digits (a `+`, spaces and the usual punctuation are dropped) or
    /// a BSUID. `None` when it is neither.
    pub fn parse_id(id: &str) -> Option<Self> {
        let id = id.trim();
        if let Ok(user_id) = UserId::parse(id) {
            return Some(Self {
                phone: None,
                user_id: Some(user_id),
            });
        }
        let formatting = |c: char| matches!(c, '+' | ' ' | '-' | '(' | ')' | '.');
        if !id.chars().all(|c| c.is_ascii_digit() || formatting(c)) {
            return None;
        }
        let digits: String = id.chars().filter(char::is_ascii_digit).collect();
        PhoneNumber::parse(&digits).ok().map(|phone| Self {
            phone: Some(phone),
            user_id: None,
        })
    }

    /// The key a new contact gets: the phone number when known, else the BSUID. `None` when neither is.
    pub fn key(&self) -> Option<&str> {
        self.phone
            .as_ref()
            .map(PhoneNumber::as_str)
            .or_else(|| self.user_id.as_ref().map(UserId::as_str))
    }
}

/// Something that happened with a contact: a message sent to it or received from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactActivity {
    /// Who.
    pub who: ContactRef,
    /// The profile name the customer showed (inbound only).
    pub profile_name: Option<String>,
    /// When the message was sent or received.
    pub at: DateTime<Utc>,
    /// Whether the customer wrote (opens the window).
    pub inbound: bool,
}

impl ContactActivity {
    /// The activity of each message of a send, one per recipient (the latest message of each).
    pub fn of_messages(messages: &[NewMessage]) -> Vec<ContactActivity> {
        let mut by_who: BTreeMap<ContactRef, DateTime<Utc>> = BTreeMap::new();
        for m in messages {
            let at = by_who
                .entry(ContactRef::of_recipient(&m.to))
                .or_insert(m.created_at);
            *at = (*at).max(m.created_at);
        }
        by_who
            .into_iter()
            .map(|(who, at)| ContactActivity {
                who,
                profile_name: None,
                at,
                inbound: false,
            })
            .collect()
    }
}

/// What a store does with a batch of activities: one write per contact key, the activities of one key merged.
/// `existing` resolves a BSUID-only activity to the key of a contact already known with that BSUID (a customer
/// first known by phone keeps one conversation). For store authors.
pub fn merge_activities(
    activities: &[ContactActivity],
    existing: impl Fn(&UserId) -> Option<String>,
) -> Vec<(String, MergedActivity)> {
    let mut by_key: BTreeMap<String, MergedActivity> = BTreeMap::new();
    for a in activities {
        let key = match (&a.who.phone, &a.who.user_id) {
            (Some(p), _) => p.as_str().to_owned(),
            (None, Some(u)) => existing(u).unwrap_or_else(|| u.as_str().to_owned()),
            (None, None) => continue,
        };
        let m = by_key.entry(key).or_default();
        m.phone = m.phone.take().or_else(|| a.who.phone.clone());
        m.user_id = a.who.user_id.clone().or(m.user_id.take());
        if let Some(name) = &a.profile_name {
            m.profile_name = Some(crate::inbound::clip(name, PROFILE_NAME_LIMIT));
        }
        m.at = Some(m.at.map_or(a.at, |t| t.max(a.at)));
        if a.inbound {
            m.inbound_at = Some(m.inbound_at.map_or(a.at, |t| t.max(a.at)));
        }
    }
    by_key.into_iter().collect()
}

/// The activities of one contact key merged (see [`merge_activities`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergedActivity {
    /// The phone number, if any activity gave one.
    pub phone: Option<PhoneNumber>,
    /// The BSUID, if any activity gave one.
    pub user_id: Option<UserId>,
    /// The latest profile name given.
    pub profile_name: Option<String>,
    /// The latest message either way.
    pub at: Option<DateTime<Utc>>,
    /// The latest inbound message.
    pub inbound_at: Option<DateTime<Utc>>,
}

/// One conversation of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The account.
    pub account_id: AccountId,
    /// Its key: the phone digits, or the BSUID for a customer known only by it.
    pub id: String,
    /// The phone number, when known.
    pub phone: Option<PhoneNumber>,
    /// The BSUID, when known.
    pub user_id: Option<UserId>,
    /// The customer's WhatsApp profile name, as last seen.
    pub profile_name: Option<String>,
    /// When the customer last wrote.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The latest message either way.
    pub last_message_at: Option<DateTime<Utc>>,
    /// What listings sort on: the latest message, or when the contact was created without one (an opt-out).
    pub activity_at: DateTime<Utc>,
    /// Set while the contact is opted out.
    pub opt_out: Option<OptOut>,
    /// Marketing templates are held back until then (Meta's 131049).
    pub marketing_paused_until: Option<DateTime<Utc>>,
}

impl Contact {
    /// When the 24-hour window closes (or closed); `None` when the customer never wrote.
    pub fn window_expires_at(&self) -> Option<DateTime<Utc>> {
        self.last_inbound_at.map(|t| t + WINDOW)
    }

    /// Whether free-form messages may be sent at `now`.
    pub fn window_open(&self, now: DateTime<Utc>) -> bool {
        self.window_expires_at().is_some_and(|t| t > now)
    }

    /// Whether marketing is paused at `now`.
    pub fn marketing_paused(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.marketing_paused_until.filter(|t| *t > now)
    }

    /// How the contact is identified.
    pub fn who(&self) -> ContactRef {
        ContactRef {
            phone: self.phone.clone(),
            user_id: self.user_id.clone(),
        }
    }
}

/// Filters of a contact listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactFilter {
    /// Only opted-out contacts (`true`) or only the others (`false`).
    pub opted_out: Option<bool>,
}

impl ContactFilter {
    /// Whether `c` passes.
    pub fn matches(&self, c: &Contact) -> bool {
        self.opted_out.is_none_or(|o| o == c.opt_out.is_some())
    }
}

/// A contact's latest messages as a store reads them, each list newest first and at most the limit asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactMessages {
    /// Messages the account sent (timelines left empty).
    pub outbound: Vec<Message>,
    /// Messages the customer sent.
    pub inbound: Vec<InboundMessage>,
}

/// Which way a thread item went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The account sent it.
    Outbound,
    /// The customer sent it.
    Inbound,
}

/// One message of a conversation, either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadItem {
    /// Which way.
    pub direction: Direction,
    /// whatsapi's id of the message (outbound) or of the stored inbound message.
    pub id: String,
    /// The message type (`text`, `template`, `image`, … for outbound; Meta's `type` for inbound).
    pub kind: String,
    /// The text body, a caption, or a template's name.
    pub text: Option<String>,
    /// The outbound message's status.
    pub status: Option<Status>,
    /// When it was sent (queued) or received.
    pub at: DateTime<Utc>,
    /// An inbound message the customer edited afterwards: when (its `text` is then the latest edit's).
    pub edited_at: Option<DateTime<Utc>>,
    /// An inbound message the customer deleted afterwards: when (its `text` is then `None`).
    pub revoked_at: Option<DateTime<Utc>>,
    /// The account's business number of the message (its phone number id): the one an outbound message goes out
    /// on (`None`: the default number), the one an inbound message was sent to (`None`: unknown).
    pub business_number: Option<String>,
}

impl ThreadItem {
    /// An outbound message as a thread item.
    pub fn outbound(m: &Message) -> Self {
        let text = match &m.content {
            MessageContent::Text { body } => Some(body.clone()),
            MessageContent::Template(t) => Some(t.name.clone()),
            MessageContent::Image(p)
            | MessageContent::Video(p)
            | MessageContent::Document(p)
            | MessageContent::Audio(p)
            | MessageContent::Sticker(p) => p.caption.clone(),
            MessageContent::Interactive(i) => Some(i.body.clone()),
            MessageContent::Reaction(r) => Some(r.emoji.clone()).filter(|e| !e.is_empty()),
            MessageContent::Location(_) | MessageContent::Contacts(_) => None,
        };
        Self {
            direction: Direction::Outbound,
            id: m.id.to_string(),
            kind: m.content.kind().as_str().to_owned(),
            text,
            status: Some(m.status),
            at: m.created_at,
            edited_at: None,
            revoked_at: None,
            business_number: m.from.clone(),
        }
    }

    /// An inbound message as a thread item.
    pub fn inbound(m: &InboundMessage) -> Self {
        Self {
            direction: Direction::Inbound,
            id: m.id.to_string(),
            kind: m.message.kind.clone(),
            text: inbound_text(&m.message.content),
            status: None,
            at: m.received_at,
            edited_at: None,
            revoked_at: None,
            business_number: m.to.as_ref().map(|t| t.phone_number_id.clone()),
        }
    }

    /// Both lists merged newest first (ties: inbound after outbound, then by id), at most `limit`.
    ///
    /// An edit or revoke whose original message is among `messages.inbound` is folded into it, as WhatsApp
    /// shows it: the original takes the latest edit's text and `edited_at`, or loses its text and gets
    /// `revoked_at` (a revoke wins over edits); the edit or revoke is then not listed on its own. One whose
    /// original is older than the messages read stays listed as it came.
    pub fn merge(messages: &ContactMessages, limit: usize) -> Vec<ThreadItem> {
        // Original wamid -> (the latest edit, the revoke), from the inbound messages read.
        let mut changes: BTreeMap<&str, (Option<&InboundMessage>, Option<&InboundMessage>)> =
            BTreeMap::new();
        for m in &messages.inbound {
            match &m.message.content {
                InboundContent::Edit {
                    original_message_id: Some(original),
                    ..
                } => {
                    let entry = &mut changes.entry(original.as_str()).or_default().0;
                    if entry.is_none_or(|e| (e.received_at, &e.id) < (m.received_at, &m.id)) {
                        *entry = Some(m);
                    }
                }
                InboundContent::Revoke {
                    original_message_id: Some(original),
                } => {
                    let entry = &mut changes.entry(original.as_str()).or_default().1;
                    if entry.is_none() {
                        *entry = Some(m);
                    }
                }
                _ => {}
            }
        }
        let present: std::collections::HashSet<&str> = messages
            .inbound
            .iter()
            .map(|m| m.message.wamid.as_str())
            .collect();
        let folded = |m: &InboundMessage| match &m.message.content {
            InboundContent::Edit {
                original_message_id: Some(o),
                ..
            }
            | InboundContent::Revoke {
                original_message_id: Some(o),
            } => present.contains(o.as_str()),
            _ => false,
        };
        let inbound = messages.inbound.iter().filter(|m| !folded(m)).map(|m| {
            let mut item = Self::inbound(m);
            if let Some((edit, revoke)) = changes.get(m.message.wamid.as_str()) {
                if let Some(r) = revoke {
                    item.text = None;
                    item.revoked_at = Some(r.received_at);
                } else if let Some(e) = edit {
                    item.text = inbound_text(&e.message.content);
                    item.edited_at = Some(e.received_at);
                }
            }
            item
        });
        let mut items: Vec<ThreadItem> = messages
            .outbound
            .iter()
            .map(Self::outbound)
            .chain(inbound)
            .collect();
        items.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        items.truncate(limit);
        items
    }
}

/// The words of an inbound message that could be a keyword: a text's body, a template button's text.
fn inbound_text(c: &InboundContent) -> Option<String> {
    match c {
        InboundContent::Text { body } => Some(body.clone()),
        InboundContent::Media(m) => m.caption.clone(),
        InboundContent::ButtonReply { title, .. } | InboundContent::ListReply { title, .. } => {
            title.clone()
        }
        InboundContent::Button { text, .. } => text.clone(),
        InboundContent::Reaction { emoji, .. } => emoji.clone(),
        InboundContent::Edit { message, .. } => inbound_text(message),
        InboundContent::Location { name, .. } => name.clone(),
        InboundContent::Order { text, .. } => text.clone(),
        InboundContent::System { body, .. } => body.clone(),
        _ => None,
    }
}

/// The words an account's customers write to opt out and back in, compared with the whole trimmed text of an
/// inbound text message, case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutKeywords {
    /// Opt out (default STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT).
    pub opt_out: Vec<String>,
    /// Opt back in (default START, UNSTOP).
    pub opt_in: Vec<String>,
}

impl Default for OptOutKeywords {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        Self {
            opt_out: words(&["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]),
            opt_in: words(&["START", "UNSTOP"]),
        }
    }
}

/// What a message's text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordMatch {
    /// An opt-out keyword.
    OptOut,
    /// An opt-in keyword.
    OptIn,
}

fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

impl OptOutKeywords {
    /// The lists trimmed and checked: at most [`MAX_KEYWORDS`] each, each keyword 1–[`MAX_KEYWORD_CHARS`]
    /// characters without control characters, no keyword twice or in both lists. Errors name the field (`optOut[2]`).
    pub fn new(opt_out: Vec<String>, opt_in: Vec<String>) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut check = |name: &str, list: Vec<String>| -> Vec<String> {
            if list.len() > MAX_KEYWORDS {
                errors.push((
                    name.to_owned(),
                    format!("at most {MAX_KEYWORDS} keywords, got {}", list.len()),
                ));
                return Vec::new();
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, word) in list.into_iter().enumerate() {
                let field = format!("{name}[{i}]");
                let word = word.trim().to_owned();
                let chars = word.chars().count();
                if chars == 0 || chars > MAX_KEYWORD_CHARS {
                    errors.push((
                        field,
                        format!("must be 1 to {MAX_KEYWORD_CHARS} characters"),
                    ));
                } else if word.chars().any(char::is_control) {
                    errors.push((field, "must not contain control characters".to_owned()));
                } else if let Some(first) = seen.insert(fold(&word), field.clone()) {
                    errors.push((field, format!("{word:?} is already listed as {first}")));
                } else {
                    out.push(word);
                }
            }
            out
        };
        let opt_out = check("optOut", opt_out);
        let opt_in = check("optIn", opt_in);
        if errors.is_empty() {
            Ok(Self { opt_out, opt_in })
        } else {
            Err(errors)
        }
    }

    /// Whether `text` (the whole message, trimmed) is one of the keywords.
    pub fn classify(&self, text: &str) -> Option<KeywordMatch> {
        let text = fold(text);
        if text.is_empty() || text.chars().count() > MAX_KEYWORD_CHARS {
            return None;
        }
        if self.opt_out.iter().any(|w| fold(w) == text) {
            Some(KeywordMatch::OptOut)
        } else if self.opt_in.iter().any(|w| fold(w) == text) {
            Some(KeywordMatch::OptIn)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_with_formatting_or_as_bsuids() {
        let p = ContactRef::parse_id("+1 415 555 2671").unwrap();
        assert_eq!(p.key(), Some("14155552671"));
        let u = ContactRef::parse_id("US.13491208655302741918").unwrap();
        assert_eq!(u.key(), Some("US.13491208655302741918"));
        assert!(ContactRef::parse_id("hello").is_none());
        assert!(ContactRef::parse_id("").is_none());
        assert!(ContactRef::parse_id("+0123").is_none());
    }

    #[test]
    fn keywords_match_the_whole_trimmed_text_case_insensitively() {
        let k = OptOutKeywords::default();
        assert_eq!(k.classify("STOP "), Some(KeywordMatch::OptOut));
        assert_eq!(k.classify("  stop"), Some(KeywordMatch::OptOut));
        assert_eq!(k.classify("Unsubscribe"), Some(KeywordMatch::OptOut));
        assert_eq!(k.classify("start"), Some(KeywordMatch::OptIn));
        assert_eq!(k.classify("please stop"), None);
        assert_eq!(k.classify("stopp"), None);
        assert_eq!(k.classify(""), None);
    }

    fn inbound_at(wamid: &str, secs: i64, content: InboundContent) -> InboundMessage {
        let at = DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
        InboundMessage {
            id: crate::inbound::InboundId::new(),
            account_id: AccountId::new(),
            received_at: at,
            reply_to_message: None,
            to: None,
            message: crate::inbound::Inbound {
                wamid: wamid.into(),
                kind: match &content {
                    InboundContent::Edit { .. } => "edit",
                    InboundContent::Revoke { .. } => "revoke",
                    _ => "text",
                }
                .into(),
                from: Some("14155552671".into()),
                from_user_id: None,
                from_parent_user_id: None,
                profile_name: None,
                username: None,
                timestamp: at,
                context: None,
                referral: None,
                content,
            },
        }
    }

    fn text(body: &str) -> InboundContent {
        InboundContent::Text { body: body.into() }
    }

    fn edit(of: &str, body: &str) -> InboundContent {
        InboundContent::Edit {
            original_message_id: Some(of.into()),
            message: Box::new(text(body)),
        }
    }

    #[test]
    fn edits_and_revokes_fold_into_the_message_they_change() {
        let revoke = |of: &str| InboundContent::Revoke {
            original_message_id: Some(of.into()),
        };
        // Newest first, as the stores read them.
        let inbound = vec![
            inbound_at("wamid.R", 60, revoke("wamid.B")),
            inbound_at("wamid.E2", 50, edit("wamid.A", "see you at 6")),
            inbound_at("wamid.EB", 45, edit("wamid.B", "oops")),
            inbound_at("wamid.E1", 40, edit("wamid.A", "see you at 5")),
            inbound_at("wamid.X", 35, edit("wamid.OLD", "not read")),
            inbound_at("wamid.B", 20, text("wrong chat")),
            inbound_at("wamid.A", 10, text("see you at 4")),
        ];
        let ids: BTreeMap<String, String> = inbound
            .iter()
            .map(|m| (m.id.to_string(), m.message.wamid.clone()))
            .collect();
        let thread = ThreadItem::merge(
            &ContactMessages {
                outbound: vec![],
                inbound,
            },
            10,
        );
        let shown: Vec<(&str, Option<&str>, bool, bool)> = thread
            .iter()
            .map(|t| {
                (
                    ids[&t.id].as_str(),
                    t.text.as_deref(),
                    t.edited_at.is_some(),
                    t.revoked_at.is_some(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("wamid.X", Some("not read"), false, false),
                ("wamid.B", None, false, true),
                ("wamid.A", Some("see you at 6"), true, false),
            ],
            "the latest edit's text, a revoke wins, an edit of a message not read stays as it came"
        );
        let a = thread.iter().find(|t| ids[&t.id] == "wamid.A").unwrap();
        assert_eq!(a.edited_at.unwrap().timestamp(), 1_700_000_050);
        assert_eq!(a.at.timestamp(), 1_700_000_010, "keeps its place");
    }

    #[test]
    fn keyword_lists_are_bounded_and_disjoint() {
        let ok = OptOutKeywords::new(vec![" Arrêt ".into()], vec!["GO".into()]).unwrap();
        assert_eq!(ok.opt_out, ["Arrêt"]);
        assert_eq!(ok.classify("ARRÊT"), Some(KeywordMatch::OptOut));
        let errs = OptOutKeywords::new(
            vec!["STOP".into(), "".into(), "x".repeat(33)],
            vec!["stop".into()],
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["optOut[1]", "optOut[2]", "optIn[0]"]);
        let too_many = OptOutKeywords::new((0..51).map(|i| format!("w{i}")).collect(), vec![]);
        assert_eq!(too_many.unwrap_err()[0].0, "optOut");
    }

    #[test]
    fn activities_merge_by_key_and_bsuids_find_their_phone_contact() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let u = UserId::parse("US.1234567890").unwrap();
        let p = PhoneNumber::parse("14155552671").unwrap();
        let acts = [
            ContactActivity {
                who: ContactRef {
                    phone: None,
                    user_id: Some(u.clone()),
                },
                profile_name: Some("Sarah".into()),
                at: t0,
                inbound: true,
            },
            ContactActivity {
                who: ContactRef {
                    phone: Some(p.clone()),
                    user_id: None,
                },
                profile_name: None,
                at: t0 + Duration::seconds(5),
                inbound: false,
            },
        ];
        let merged = merge_activities(&acts, |_| Some("14155552671".into()));
        assert_eq!(merged.len(), 1);
        let (key, m) = &merged[0];
        assert_eq!(key, "14155552671");
        assert_eq!((m.phone.as_ref(), m.user_id.as_ref()), (Some(&p), Some(&u)));
        assert_eq!(m.at, Some(t0 + Duration::seconds(5)));
        assert_eq!(m.inbound_at, Some(t0));
        assert_eq!(m.profile_name.as_deref(), Some("Sarah"));
        let apart = merge_activities(&acts, |_| None);
        assert_eq!(apart.len(), 2);
    }
}
