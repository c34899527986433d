//! Conversations and opt-outs: listing contacts with their window and opt-out state, a contact's thread, the
//! account's opt-out keywords, what inbound messages and Meta's reports change, and the accept-time refusal of
//! marketing templates to contacts who opted out or whom Meta paused.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Error, WhatsApi};
use crate::account::{Account, AccountId};
use crate::contacts::{
    Contact, ContactActivity, ContactFilter, ContactRef, KeywordMatch, MARKETING_PAUSE,
    MAX_THREAD_LIMIT, META_MARKETING_LIMIT, META_MARKETING_OPT_OUT, OptOut, OptOutKeywords,
    OptOutSource, ThreadItem,
};
use crate::inbound::{Inbound, InboundContent};
use crate::message::MessageContent;
use crate::phone::PhoneNumber;
use crate::send::{SendRequest, ValidationErrors, field};
use crate::store::{Page, PageRequest};
use crate::webhook::format_time;

/// A contact with its latest messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactThread {
    /// The contact.
    pub contact: Contact,
    /// Its messages either way, newest first.
    pub thread: Vec<ThreadItem>,
}

/// What a Meta `user_preferences` item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarketingPreference {
    /// `stop`.
    Stop,
    /// `resume`.
    Resume,
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("No contact {id:?} for this account."))
}

/// Who wrote an inbound message, when Meta's identifiers parse.
fn sender(m: &Inbound) -> Option<ContactRef> {
    let who = ContactRef {
        phone: m.from.as_deref().and_then(|p| PhoneNumber::parse(p).ok()),
        user_id: m.sender_user_id(),
    };
    who.key().is_some().then_some(who)
}

impl WhatsApi {
    /// The account's contacts, latest activity first; `filter.opted_out` keeps only opted-out contacts (or only
    /// the others). A contact exists once the account sent to it or heard from it.
    pub async fn contacts(
        &self,
        account: AccountId,
        filter: &ContactFilter,
        page: PageRequest,
    ) -> Result<Page<Contact>, Error> {
        Ok(self.store().list_contacts(account, filter, page).await?)
    }

    /// One contact by its phone number (a `+`, spaces and punctuation are tolerated) or BSUID, with its latest
    /// `limit` messages either way (at most [`MAX_THREAD_LIMIT`]), newest first. Another account's contact is not
    /// found.
    pub async fn contact(
        &self,
        account: AccountId,
        id: &str,
        limit: u32,
    ) -> Result<ContactThread, Error> {
        let who = ContactRef::parse_id(id).ok_or_else(|| not_found(id))?;
        let key = who.key().ok_or_else(|| not_found(id))?;
        let contact = self
            .store()
            .contact(account, key)
            .await?
            .ok_or_else(|| not_found(id))?;
        let limit = limit.clamp(1, MAX_THREAD_LIMIT);
        let messages = self
            .store()
            .contact_messages(account, &contact, limit)
            .await?;
        Ok(ContactThread {
            thread: ThreadItem::merge(&messages, limit as usize),
            contact,
        })
    }

    /// Opts the contact out (`true`) or back in (`false`) on the account's behalf (source `api`), creating it if
    /// the account never talked to it. `Validation` (field `id`) for an id that is neither a phone number nor a
    /// BSUID.
    pub async fn set_opt_out(
        &self,
        account: AccountId,
        id: &str,
        opted_out: bool,
    ) -> Result<Contact, Error> {
        let who = ContactRef::parse_id(id).ok_or_else(|| {
            Error::field(
                "id",
                "must be a phone number (E.164 digits, e.g. 14155552671) or a business-scoped user id",
            )
        })?;
        let now = self.clock().now();
        let opt_out = opted_out.then_some(OptOut {
            at: now,
            source: OptOutSource::Api,
        });
        Ok(self
            .store()
            .set_contact_opt_out(account, &who, opt_out, now)
            .await?)
    }

    /// The account's opt-out keywords (the defaults until it sets its own).
    pub async fn opt_out_keywords(&self, account: AccountId) -> Result<OptOutKeywords, Error> {
        Ok(self
            .store()
            .opt_out_keywords(account)
            .await?
            .unwrap_or_default())
    }

    /// Replaces the account's opt-out keywords, checked by [`OptOutKeywords::new`] (`Validation` naming each bad
    /// keyword).
    pub async fn set_opt_out_keywords(
        &self,
        account: AccountId,
        opt_out: Vec<String>,
        opt_in: Vec<String>,
    ) -> Result<OptOutKeywords, Error> {
        let keywords = OptOutKeywords::new(opt_out, opt_in).map_err(|errors| {
            let mut errs = ValidationErrors::default();
            for (f, m) in errors {
                errs.push(f, m);
            }
            Error::Validation(errs)
        })?;
        self.store()
            .set_opt_out_keywords(account, &keywords)
            .await?;
        Ok(keywords)
    }

    /// Records that a customer wrote (the contact's last inbound time and profile name).
    pub(crate) async fn contact_wrote(
        &self,
        account: AccountId,
        who: ContactRef,
        profile_name: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        if who.key().is_none() {
            return Ok(());
        }
        // A timestamp ahead of the clock would hold the window open: the contact never wrote later than now.
        let at = at.min(self.clock().now());
        let activity = ContactActivity {
            who,
            profile_name,
            at,
            inbound: true,
        };
        Ok(self
            .store()
            .record_contact_activity(account, &[activity])
            .await?)
    }

    /// What a newly stored inbound message changes about its contact: its activity, and an opt-out or opt-in
    /// when its whole text is one of the account's keywords.
    pub(crate) async fn note_inbound_contact(
        &self,
        account: AccountId,
        m: &Inbound,
    ) -> Result<(), Error> {
        let Some(who) = sender(m) else {
            return Ok(());
        };
        self.contact_wrote(account, who.clone(), m.profile_name.clone(), m.timestamp)
            .await?;
        let InboundContent::Text { body } = &m.content else {
            return Ok(());
        };
        let now = self.clock().now();
        match self.opt_out_keywords(account).await?.classify(body) {
            Some(KeywordMatch::OptOut) => {
                let opt_out = OptOut {
                    at: now,
                    source: OptOutSource::Keyword,
                };
                self.store()
                    .set_contact_opt_out(account, &who, Some(opt_out), now)
                    .await?;
                tracing::info!(account_id = %account, "contact opted out by keyword");
            }
            Some(KeywordMatch::OptIn) => {
                self.store()
                    .set_contact_opt_out(account, &who, None, now)
                    .await?;
                tracing::info!(account_id = %account, "contact opted back in by keyword");
            }
            None => {}
        }
        Ok(())
    }

    /// What a failed status with Meta's error `code` for a message to `who` changes: 131050 opts the contact out
    /// of marketing (source `meta`), 131049 pauses marketing to it for [`MARKETING_PAUSE`].
    pub(crate) async fn note_failed_contact(
        &self,
        account: AccountId,
        who: &ContactRef,
        code: i64,
    ) -> Result<(), Error> {
        let now = self.clock().now();
        match code {
            META_MARKETING_OPT_OUT => {
                let opt_out = OptOut {
                    at: now,
                    source: OptOutSource::Meta,
                };
                self.store()
                    .set_contact_opt_out(account, who, Some(opt_out), now)
                    .await?;
            }
            META_MARKETING_LIMIT => {
                self.store()
                    .pause_contact_marketing(account, who, now + MARKETING_PAUSE, now)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A `user_preferences` change: `stop` opts the contact out of marketing (source `meta`); `resume` undoes an
    /// opt-out Meta set (one the customer or the account set stays).
    pub(crate) async fn note_marketing_preference(
        &self,
        account: AccountId,
        who: &ContactRef,
        preference: MarketingPreference,
    ) -> Result<(), Error> {
        let now = self.clock().now();
        match preference {
            MarketingPreference::Stop => {
                let opt_out = OptOut {
                    at: now,
                    source: OptOutSource::Meta,
                };
                self.store()
                    .set_contact_opt_out(account, who, Some(opt_out), now)
                    .await?;
            }
            MarketingPreference::Resume => {
                let Some(key) = who.key() else { return Ok(()) };
                let current = self.store().contact(account, key).await?;
                if current
                    .and_then(|c| c.opt_out)
                    .is_some_and(|o| o.source == OptOutSource::Meta)
                {
                    self.store()
                        .set_contact_opt_out(account, who, None, now)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Why a marketing template send to this recipient is refused now: the contact opted out, or Meta paused
    /// marketing to it (131049) until a time after the send's. `None` for every other send, and when the
    /// template's category cannot be read (the send is then left to Meta).
    pub(crate) async fn marketing_refusal(
        &self,
        account: &Account,
        req: &SendRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<(&'static str, String)>, Error> {
        let MessageContent::Template(t) = req.content() else {
            return Ok(None);
        };
        let Some(category) = self.template_category(account, t).await else {
            return Ok(None);
        };
        if !category.eq_ignore_ascii_case("MARKETING") {
            return Ok(None);
        }
        let to = req.recipient();
        let who = ContactRef::of_recipient(to);
        let Some(key) = who.key() else {
            return Ok(None);
        };
        let mut contact = self.store().contact(account.id, key).await?;
        if contact.is_none() {
            if let Some(user) = to.user_id() {
                contact = self.store().contact(account.id, user.as_str()).await?;
            }
        }
        Ok(contact.and_then(|c| marketing_verdict(req, t, &c, now)))
    }

    /// [`marketing_refusal`](Self::marketing_refusal) of many sends at once (a campaign's), in order: each
    /// template's category is read once, and the contacts of all the recipients of marketing templates in one
    /// store call.
    pub(crate) async fn marketing_refusals(
        &self,
        account: &Account,
        reqs: &[SendRequest],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<(&'static str, String)>>, Error> {
        let mut marketing: HashMap<(String, String), bool> = HashMap::new();
        let mut checked = Vec::with_capacity(reqs.len());
        for req in reqs {
            let is_marketing = match req.content() {
                MessageContent::Template(t) => {
                    let named = (t.name.clone(), t.language.clone());
                    match marketing.get(&named) {
                        Some(m) => *m,
                        None => {
                            let m = self
                                .template_category(account, t)
                                .await
                                .is_some_and(|c| c.eq_ignore_ascii_case("MARKETING"));
                            marketing.insert(named, m);
                            m
                        }
                    }
                }
                _ => false,
            };
            checked.push(is_marketing);
        }
        // The key of each recipient, and its BSUID for when no contact has that key.
        let ids: Vec<String> = reqs
            .iter()
            .zip(&checked)
            .filter(|(_, m)| **m)
            .flat_map(|(req, _)| {
                let to = req.recipient();
                let key = ContactRef::of_recipient(to).key().map(str::to_owned);
                key.into_iter()
                    .chain(to.user_id().map(|u| u.as_str().to_owned()))
            })
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        let contacts = if ids.is_empty() {
            HashMap::new()
        } else {
            self.store().contacts_of(account.id, &ids).await?
        };
        Ok(reqs
            .iter()
            .zip(checked)
            .map(|(req, is_marketing)| {
                let MessageContent::Template(t) = req.content() else {
                    return None;
                };
                if !is_marketing {
                    return None;
                }
                let to = req.recipient();
                let key = ContactRef::of_recipient(to).key()?.to_owned();
                let contact = contacts
                    .get(&key)
                    .or_else(|| to.user_id().and_then(|u| contacts.get(u.as_str())))?;
                marketing_verdict(req, t, contact, now)
            })
            .collect())
    }
}

/// Why a marketing template send to `contact` is refused: it opted out, or Meta paused marketing to it until after
/// the send's time.
fn marketing_verdict(
    req: &SendRequest,
    t: &crate::message::Template,
    contact: &Contact,
    now: DateTime<Utc>,
) -> Option<(&'static str, String)> {
    let to = req.recipient();
    if let Some(o) = &contact.opt_out {
        return Some((
            field::TEMPLATE,
            format!(
                "{to} opted out of marketing messages ({} at {}); \"{}\" is a MARKETING template and is not sent \
                 to it. Utility and authentication templates are still sent",
                o.source.as_str(),
                format_time(&o.at),
                t.name
            ),
        ));
    }
    let at = req.scheduled_for().unwrap_or(now);
    let until = contact.marketing_paused_until.filter(|u| *u > at)?;
    Some((
        field::TEMPLATE,
        format!(
            "WhatsApp limited marketing messages to {to} (error 131049); \"{}\" is a MARKETING template and may \
             be sent to it again from {}",
            t.name,
            format_time(&until)
        ),
    ))
}
