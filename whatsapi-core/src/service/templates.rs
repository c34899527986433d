//! The account's WhatsApp templates, read from Meta and kept in memory per process: listed on demand
//! ([`WhatsApi::templates`]), checked against at accept time ([`WhatsApi::template_refusal`]) and refreshed when
//! Meta reports a template change.
//!
//! The cache is keyed by account (and the WABA id it was read for, so a changed id is read afresh), kept for
//! [`TEMPLATE_TTL`]; a template webhook marks it stale so the next use reads it again. When Meta cannot be read,
//! a stale list is used if there is one; with nothing cached, sends are accepted and left to Meta (logged), and
//! no send tries again for [`FETCH_BACKOFF`].

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::account::{Account, AccountId, MetaCredentials};
use crate::message::MessageContent;
use crate::send::SendRequest;
use crate::store::NewEvent;
use crate::templates::{MessageTemplate, TemplateChange, check_send};
use crate::transport::SendError;

use super::{Error, WhatsApi};

/// How long a list read from Meta is used before it is read again.
pub const TEMPLATE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// How long sends leave Meta alone after a failed read with nothing cached.
pub const FETCH_BACKOFF: chrono::Duration = chrono::Duration::seconds(30);
/// Most pages followed in one read.
pub const MAX_TEMPLATE_PAGES: usize = 20;
/// Most templates kept of one account.
pub const MAX_TEMPLATES: usize = 2000;

/// The account's templates as last read from Meta.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TemplateList {
    /// The WhatsApp Business Account they belong to.
    pub waba_id: String,
    /// The templates, in Meta's order.
    pub templates: Arc<[MessageTemplate]>,
    /// When they were read.
    pub fetched_at: DateTime<Utc>,
    /// True when Meta had more than [`MAX_TEMPLATES`] (or [`MAX_TEMPLATE_PAGES`] pages) and the rest was not read.
    pub truncated: bool,
    /// Set when this is an older list because reading Meta again failed: Meta's error.
    pub refresh_error: Option<String>,
}

/// Most template changes kept per account between two uses of its list.
const MAX_PENDING_CHANGES: usize = 100;
/// Longest time one read of every page may take for a listing, or for a send when a stale list is cached.
pub const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest a send waits for a first read of the templates (nothing cached) before it is accepted unchecked
/// and left to Meta: an accept answers in seconds even when Meta is slow.
pub const SEND_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct TemplateCache {
    slots: std::sync::Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Changes reported by Meta's webhooks, applied at the next use of the list.
    pending: std::sync::Mutex<HashMap<AccountId, Vec<TemplateChange>>>,
}

#[derive(Default)]
struct Slot {
    list: Option<Cached>,
    failed_at: Option<DateTime<Utc>>,
}

struct Cached {
    list: TemplateList,
    stale: bool,
}

impl TemplateCache {
    fn slot(&self, account: AccountId) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(account)
            .or_default()
            .clone()
    }
}

/// How a read is wanted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// `GET /templates`: the cache if fresh, else Meta.
    List,
    /// `GET /templates?refresh=true`: Meta.
    Refresh,
    /// A send: the cache if fresh, else Meta unless it failed lately.
    Send,
}

impl WhatsApi {
    /// The account's templates: the cached list while fresh, else (or with `refresh`) read from Meta's
    /// `/{waba-id}/message_templates`, following its pages. [`Error::NoWabaId`] without a WABA id in the
    /// credentials; [`Error::TemplatesUnavailable`] with Meta's error when Meta cannot be read and nothing is
    /// cached (with a cached list, that list is answered with `refresh_error` set).
    pub async fn templates(&self, account: &Account, refresh: bool) -> Result<TemplateList, Error> {
        let (creds, waba) = waba_of(account).ok_or(Error::NoWabaId)?;
        let want = if refresh { Want::Refresh } else { Want::List };
        match self.read_templates(account.id, creds, waba, want).await {
            Ok(Some(list)) => Ok(list),
            Ok(None) => unreachable_none(),
            Err(e) => Err(Error::TemplatesUnavailable(Box::new(e))),
        }
    }

    /// For a template send from an account with a WABA id: why Meta would refuse it (unknown template, no such
    /// translation, not approved, parameters that do not match), as the field and the mismatch. `None` when it
    /// matches, for other content, and when the templates cannot be read (the send is then left to Meta).
    pub(crate) async fn template_refusal(
        &self,
        account: &Account,
        req: &SendRequest,
    ) -> Result<Option<(&'static str, String)>, Error> {
        let MessageContent::Template(t) = req.content() else {
            return Ok(None);
        };
        let Some((creds, waba)) = waba_of(account) else {
            return Ok(None);
        };
        match self
            .read_templates(account.id, creds, waba, Want::Send)
            .await
        {
            Ok(Some(list)) => Ok(check_send(&list.templates, t)),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!(account_id = %account.id, error = %e, template = %t.name,
                    "templates cannot be read from Meta; the send is accepted unchecked and left to Meta");
                Ok(None)
            }
        }
    }

    /// The category (`MARKETING`, `UTILITY`, `AUTHENTICATION`) of the template `t` names, from the account's
    /// template list (cached like [`template_refusal`](Self::template_refusal)'s); `None` without a WABA id, when
    /// the list cannot be read, or when the template is not in it.
    pub(crate) async fn template_category(
        &self,
        account: &Account,
        t: &crate::message::Template,
    ) -> Option<String> {
        let (creds, waba) = waba_of(account)?;
        let list = self
            .read_templates(account.id, creds, waba, Want::Send)
            .await
            .ok()
            .flatten()?;
        list.templates
            .iter()
            .find(|x| x.name == t.name && x.language == t.language)
            .and_then(|x| x.category.clone())
    }

    /// Notes a template change Meta reported for the account, without waiting for a read in progress: at the
    /// next use the cached template takes its new status or category and the list is read from Meta again.
    pub(crate) fn template_changed(&self, account: AccountId, change: &TemplateChange) {
        let mut pending = self
            .inner
            .templates
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changes = pending.entry(account).or_default();
        // Beyond the bound the details are dropped; the list is read again all the same.
        if changes.len() < MAX_PENDING_CHANGES {
            changes.push(change.clone());
        }
        tracing::info!(%account, field = %change.field, template = change.name.as_deref().unwrap_or_default(),
            language = change.language.as_deref().unwrap_or_default(),
            status = change.status.as_deref().unwrap_or_default(),
            "template change noted; the list is read again at its next use");
    }

    /// Writes the `template.*` event of a change Meta reported to the account's destinations subscribed to it
    /// (ordered per template). A failure is returned so Meta delivers the webhook again.
    pub(crate) async fn announce_template_change(
        &self,
        account: AccountId,
        change: &TemplateChange,
    ) -> Result<(), Error> {
        let Some((event_type, data, stream)) = change.event(self.clock().now()) else {
            return Ok(());
        };
        let event = NewEvent {
            event_type,
            data,
            stream: Some(stream),
            at: change.at.unwrap_or_else(|| self.clock().now()),
        };
        if self.store().enqueue_event(account, event).await? > 0 {
            self.core().deliver_wake.notify();
        }
        Ok(())
    }

    /// Applies the changes noted for the account to its cached list, marking it stale.
    fn apply_pending(&self, account: AccountId, cached: &mut Cached) {
        let changes = self
            .inner
            .templates
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&account);
        let Some(changes) = changes else { return };
        cached.stale = true;
        let mut templates = cached.list.templates.to_vec();
        for change in &changes {
            let (Some(name), Some(language)) = (&change.name, &change.language) else {
                continue;
            };
            for t in templates
                .iter_mut()
                .filter(|t| &t.name == name && &t.language == language)
            {
                if let Some(status) = &change.status {
                    t.status.clone_from(status);
                }
                if let Some(category) = &change.category {
                    t.category = Some(category.clone());
                }
            }
        }
        cached.list.templates = templates.into();
    }

    /// The cached list or Meta's; `Ok(None)` only for a send that skips Meta after a recent failure.
    async fn read_templates(
        &self,
        account: AccountId,
        creds: &MetaCredentials,
        waba: &str,
        want: Want,
    ) -> Result<Option<TemplateList>, SendError> {
        let slot = self.inner.templates.slot(account);
        let mut slot = slot.lock().await;
        let now = self.clock().now();
        if slot.list.as_ref().is_some_and(|c| c.list.waba_id != waba) {
            slot.list = None;
            slot.failed_at = None;
        }
        match slot.list.as_mut() {
            Some(cached) => self.apply_pending(account, cached),
            // Nothing cached: the next read is fresh anyway.
            None => {
                self.inner
                    .templates
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&account);
            }
        }
        if let Some(c) = &slot.list {
            if want != Want::Refresh && !c.stale && c.list.fetched_at + TEMPLATE_TTL > now {
                return Ok(Some(c.list.clone()));
            }
        }
        if want == Want::Send
            && slot.list.is_none()
            && slot.failed_at.is_some_and(|at| at + FETCH_BACKOFF > now)
        {
            return Ok(None);
        }
        let limit = if want == Want::Send && slot.list.is_none() {
            SEND_FETCH_TIMEOUT
        } else {
            FETCH_TIMEOUT
        };
        let fetched = tokio::time::timeout(limit, self.fetch_templates(creds, waba))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::network(format!(
                    "reading the templates took longer than {} s",
                    limit.as_secs()
                )))
            });
        match fetched {
            Ok((templates, truncated)) => {
                let list = TemplateList {
                    waba_id: waba.to_owned(),
                    templates: templates.into(),
                    fetched_at: now,
                    truncated,
                    refresh_error: None,
                };
                slot.list = Some(Cached {
                    list: list.clone(),
                    stale: false,
                });
                slot.failed_at = None;
                Ok(Some(list))
            }
            Err(e) => {
                slot.failed_at = Some(now);
                match &mut slot.list {
                    Some(c) => {
                        tracing::warn!(%account, error = %e, "reading templates from Meta failed; the list read at {} is used", c.list.fetched_at);
                        // Used until the next try; a send tries again after the backoff, not at once.
                        c.list.fetched_at = now - TEMPLATE_TTL + FETCH_BACKOFF;
                        let mut list = c.list.clone();
                        list.refresh_error = Some(e.user_message());
                        Ok(Some(list))
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// Reads every page (bounded by [`MAX_TEMPLATE_PAGES`] and [`MAX_TEMPLATES`]); answers the templates and
    /// whether some were left unread.
    async fn fetch_templates(
        &self,
        creds: &MetaCredentials,
        waba: &str,
    ) -> Result<(Vec<MessageTemplate>, bool), SendError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_TEMPLATE_PAGES {
            let page = self
                .core()
                .transport
                .list_templates(creds, waba, after.as_deref())
                .await?;
            for t in page.templates {
                if out.len() == MAX_TEMPLATES {
                    return Ok((out, true));
                }
                out.push(t);
            }
            match page.after {
                // A cursor that does not move would loop: stop there.
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => return Ok((out, false)),
            }
        }
        Ok((out, true))
    }
}

/// A list read is `Some` unless a send skipped Meta; [`WhatsApi::templates`] never asks as a send.
fn unreachable_none() -> Result<TemplateList, Error> {
    Err(Error::TemplatesUnavailable(Box::new(SendError::network(
        "templates could not be read",
    ))))
}

fn waba_of(account: &Account) -> Option<(&MetaCredentials, &str)> {
    let creds = account.credentials.as_ref()?;
    let waba = creds.waba_id.as_deref().filter(|w| !w.is_empty())?;
    Some((creds, waba))
}
