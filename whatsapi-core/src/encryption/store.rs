//! `EncryptingStore`: a `Store` decorator that keeps account secrets sealed in the wrapped store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{
    Account, AccountId, AccountUpdate, MetaCredentials, NewAccount, WebhookConfig,
};
use crate::endpoints::{EndpointId, EndpointUpdate, WebhookEndpoint};
use crate::numbers::{BusinessNumber, NumberUpdate};
use crate::store::forward::{
    ForwardCampaigns, ForwardContacts, ForwardHousekeeping, ForwardInbound, ForwardLimits,
    ForwardMessages, Wraps,
};
use crate::store::{
    ClaimedEvent, EventClaimLimits, EventNext, NewEvent, OutboxBacklog, OutboxStore, Store,
    StoreError, StoreResult, TenantStore,
};
use crate::webhook::{DeliveryAttempt, EventId};

use super::{EncryptionError, KeyRing};

const ACCESS_TOKEN: &str = "meta_access_token";
const APP_SECRET: &str = "meta_app_secret";
const VERIFY_TOKEN: &str = "meta_verify_token";
const WEBHOOK_SECRET: &str = "webhook_secret";

/// Wraps a [`Store`]: the Meta access token, app secret and verify token and the webhook signing secret are sealed
/// with the [`KeyRing`]'s primary key before they reach the wrapped store, and opened on every account (and
/// claimed webhook event) it returns. Everything else is passed through unchanged.
pub struct EncryptingStore {
    inner: Arc<dyn Store>,
    keys: KeyRing,
}

impl std::fmt::Debug for EncryptingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingStore")
            .field("primary_key", &self.keys.primary().id())
            .finish_non_exhaustive()
    }
}

/// What [`EncryptingStore::reseal_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Accounts looked at.
    pub accounts: u64,
    /// Accounts whose secrets were re-encrypted under the primary key.
    pub resealed: u64,
    /// Accounts whose secrets changed while they were being re-encrypted (left as written; run again).
    pub skipped: u64,
}

/// The context an extra number's access token is sealed under: its account and phone number id, so a token
/// copied to another number's row does not open.
fn number_context(account: AccountId, phone_number_id: &str) -> String {
    context(account, &format!("{ACCESS_TOKEN}:{phone_number_id}"))
}

fn context(account: AccountId, field: &str) -> String {
    format!("{account}:{field}")
}

fn unreadable(account: AccountId, e: EncryptionError) -> StoreError {
    StoreError::Backend(format!("account {account}: {e}"))
}

impl EncryptingStore {
    /// Wraps `inner`, sealing under `keys.primary()` and opening under any key of the ring.
    pub fn new(inner: Arc<dyn Store>, keys: KeyRing) -> Self {
        Self { inner, keys }
    }

    /// The wrapped store (it holds ciphertext).
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    fn seal_credentials(&self, id: AccountId, c: MetaCredentials) -> MetaCredentials {
        // The wrapped store indexes the verify token by its hash: take it from the plaintext, before sealing.
        let verify_token_hash = c
            .verify_token
            .as_deref()
            .map(|t| hex::encode(crate::store::support::verify_token_digest(t)));
        MetaCredentials {
            waba_id: c.waba_id,
            verify_token_hash,
            access_token: self.keys.seal(&c.access_token, &context(id, ACCESS_TOKEN)),
            phone_number_id: c.phone_number_id,
            app_secret: c
                .app_secret
                .map(|s| self.keys.seal(&s, &context(id, APP_SECRET))),
            verify_token: c
                .verify_token
                .map(|s| self.keys.seal(&s, &context(id, VERIFY_TOKEN))),
            throughput_per_second: c.throughput_per_second,
        }
    }

    fn seal_number(&self, mut n: BusinessNumber) -> BusinessNumber {
        n.access_token = n.access_token.map(|t| {
            self.keys
                .seal(&t, &number_context(n.account_id, &n.phone_number_id))
        });
        n
    }

    fn open_number(&self, mut n: BusinessNumber) -> StoreResult<BusinessNumber> {
        if let Some(t) = n.access_token.take() {
            n.access_token = Some(
                self.keys
                    .open(&t, &number_context(n.account_id, &n.phone_number_id))
                    .map_err(|e| unreadable(n.account_id, e))?,
            );
        }
        Ok(n)
    }

    fn seal_webhook(&self, id: AccountId, w: WebhookConfig) -> WebhookConfig {
        WebhookConfig {
            url: w.url,
            secret: self.keys.seal(&w.secret, &context(id, WEBHOOK_SECRET)),
        }
    }

    fn endpoint_context(e: &WebhookEndpoint) -> String {
        context(e.account_id, &format!("{WEBHOOK_SECRET}:{}", e.id))
    }

    fn open_endpoint(&self, mut e: WebhookEndpoint) -> StoreResult<WebhookEndpoint> {
        e.secret = self
            .keys
            .open(&e.secret, &Self::endpoint_context(&e))
            .map_err(|err| unreadable(e.account_id, err))?;
        Ok(e)
    }

    fn open_value(&self, id: AccountId, value: &str, field: &str) -> StoreResult<String> {
        self.keys
            .open(value, &context(id, field))
            .map_err(|e| unreadable(id, e))
    }

    fn open_webhook(&self, id: AccountId, w: WebhookConfig) -> StoreResult<WebhookConfig> {
        Ok(WebhookConfig {
            secret: self.open_value(id, &w.secret, WEBHOOK_SECRET)?,
            url: w.url,
        })
    }

    fn open_account(&self, mut a: Account) -> StoreResult<Account> {
        let id = a.id;
        if let Some(c) = a.credentials.take() {
            a.credentials = Some(MetaCredentials {
                access_token: self.open_value(id, &c.access_token, ACCESS_TOKEN)?,
                app_secret: c
                    .app_secret
                    .map(|s| self.open_value(id, &s, APP_SECRET))
                    .transpose()?,
                verify_token: c
                    .verify_token
                    .map(|s| self.open_value(id, &s, VERIFY_TOKEN))
                    .transpose()?,
                phone_number_id: c.phone_number_id,
                waba_id: c.waba_id,
                // An index key of the wrapped store, derived from the sealed token: not shown outside.
                verify_token_hash: None,
                throughput_per_second: c.throughput_per_second,
            });
        }
        if let Some(w) = a.webhook.take() {
            a.webhook = Some(self.open_webhook(id, w)?);
        }
        Ok(a)
    }

    fn open_opt(&self, a: Option<Account>) -> StoreResult<Option<Account>> {
        a.map(|a| self.open_account(a)).transpose()
    }

    /// Whether every secret of the stored (sealed) account is sealed under the primary key.
    fn is_current(&self, raw: &Account) -> bool {
        let creds_ok = raw.credentials.as_ref().is_none_or(|c| {
            // A verify token saved before its hash was kept is resealed to index it.
            (c.verify_token.is_none() || c.verify_token_hash.is_some())
                && self.keys.is_current(&c.access_token)
                && c.app_secret
                    .as_deref()
                    .is_none_or(|s| self.keys.is_current(s))
                && c.verify_token
                    .as_deref()
                    .is_none_or(|s| self.keys.is_current(s))
        });
        let webhook_ok = raw
            .webhook
            .as_ref()
            .is_none_or(|w| self.keys.is_current(&w.secret));
        creds_ok && webhook_ok
    }

    /// Re-encrypts every account's secrets under the primary key (values under a previous key of the ring, and
    /// plaintext stored before encryption was turned on), `batch` accounts at a time. Values already under the
    /// primary key are left alone, so running it again is harmless; an account whose secrets change while it is
    /// being processed is skipped and counted (run it again).
    pub async fn reseal_all(&self, batch: usize) -> StoreResult<ResealReport> {
        let mut report = ResealReport::default();
        let mut after = None;
        loop {
            let page = self.inner.list_accounts(after, batch.max(1)).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for raw in page {
                report.accounts += 1;
                let endpoints_resealed =
                    self.reseal_endpoints(raw.id).await? | self.reseal_numbers(raw.id).await?;
                if self.is_current(&raw) {
                    if endpoints_resealed {
                        report.resealed += 1;
                    }
                    continue;
                }
                let open = self.open_account(raw.clone())?;
                // Write only if nobody changed the secrets since they were read.
                let now = self.inner.account(raw.id).await?;
                let unchanged = now
                    .as_ref()
                    .is_some_and(|n| n.credentials == raw.credentials && n.webhook == raw.webhook);
                if !unchanged {
                    report.skipped += 1;
                    continue;
                }
                if let Some(c) = open.credentials {
                    let sealed = self.seal_credentials(raw.id, c);
                    self.inner
                        .update_account(raw.id, AccountUpdate::ReplaceCredentials(sealed))
                        .await?;
                }
                if let Some(w) = open.webhook {
                    let sealed = self.seal_webhook(raw.id, w);
                    self.inner
                        .update_account(raw.id, AccountUpdate::SetWebhook(sealed))
                        .await?;
                }
                report.resealed += 1;
            }
        }
        Ok(report)
    }
}

impl EncryptingStore {
    /// Re-seals under the primary key the access tokens of the account's extra numbers that are not under it
    /// yet; whether any was.
    async fn reseal_numbers(&self, account: AccountId) -> StoreResult<bool> {
        let mut any = false;
        for raw in self.inner.numbers(account).await? {
            if raw
                .access_token
                .as_deref()
                .is_none_or(|t| self.keys.is_current(t))
            {
                continue;
            }
            let open = self.open_number(raw)?;
            self.update_number(
                account,
                &open.phone_number_id,
                NumberUpdate::SetAccessToken(open.access_token),
            )
            .await?;
            any = true;
        }
        Ok(any)
    }

    /// Re-seals under the primary key the signing secrets of the account's webhook endpoints that are not under
    /// it yet; whether any was.
    async fn reseal_endpoints(&self, account: AccountId) -> StoreResult<bool> {
        let mut any = false;
        for raw in self.inner.endpoints(account).await? {
            if self.keys.is_current(&raw.secret) {
                continue;
            }
            let open = self.open_endpoint(raw)?;
            self.set_endpoint_secret(account, open.id, &open.secret)
                .await?;
            any = true;
        }
        Ok(any)
    }

    /// The update with the secrets it carries sealed for the account.
    fn seal_update(&self, id: AccountId, update: AccountUpdate) -> AccountUpdate {
        match update {
            AccountUpdate::SetCredentials(c) => {
                AccountUpdate::SetCredentials(self.seal_credentials(id, c))
            }
            AccountUpdate::ReplaceCredentials(c) => {
                AccountUpdate::ReplaceCredentials(self.seal_credentials(id, c))
            }
            AccountUpdate::SetWebhook(w) => AccountUpdate::SetWebhook(self.seal_webhook(id, w)),
            other => other,
        }
    }
}

/// Messages, inbound windows and housekeeping hold no secrets: they pass through unchanged.
impl Wraps for EncryptingStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
}
impl ForwardMessages for EncryptingStore {}
impl ForwardInbound for EncryptingStore {}
impl ForwardHousekeeping for EncryptingStore {}
impl ForwardContacts for EncryptingStore {}
impl ForwardLimits for EncryptingStore {}
impl ForwardCampaigns for EncryptingStore {}

#[async_trait]
impl TenantStore for EncryptingStore {
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account> {
        let created = self.inner.create_account(account).await?;
        self.open_account(created)
    }

    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let a = self.inner.account(id).await?;
        self.open_opt(a)
    }

    async fn recent_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let a = self.inner.recent_account(id).await?;
        self.open_opt(a)
    }

    async fn account_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<Account>> {
        let a = self
            .inner
            .account_by_phone_number_id(phone_number_id)
            .await?;
        self.open_opt(a)
    }

    async fn account_by_waba_id(&self, waba_id: &str) -> StoreResult<Option<Account>> {
        let a = self.inner.account_by_waba_id(waba_id).await?;
        self.open_opt(a)
    }

    async fn account_by_verify_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Account>> {
        let a = self.inner.account_by_verify_token_hash(hash).await?;
        self.open_opt(a)
    }

    async fn update_account(&self, id: AccountId, update: AccountUpdate) -> StoreResult<Account> {
        let update = self.seal_update(id, update);
        let updated = self.inner.update_account(id, update).await?;
        self.open_account(updated)
    }

    async fn list_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        self.inner
            .list_accounts(after, limit)
            .await?
            .into_iter()
            .map(|a| self.open_account(a))
            .collect()
    }

    async fn add_number(
        &self,
        number: BusinessNumber,
        max_per_account: usize,
    ) -> StoreResult<BusinessNumber> {
        let sealed = self.seal_number(number);
        let added = self.inner.add_number(sealed, max_per_account).await?;
        self.open_number(added)
    }

    async fn numbers(&self, account: AccountId) -> StoreResult<Vec<BusinessNumber>> {
        self.inner
            .numbers(account)
            .await?
            .into_iter()
            .map(|n| self.open_number(n))
            .collect()
    }

    async fn number(
        &self,
        account: AccountId,
        phone_number_id: &str,
    ) -> StoreResult<Option<BusinessNumber>> {
        self.inner
            .number(account, phone_number_id)
            .await?
            .map(|n| self.open_number(n))
            .transpose()
    }

    async fn update_number(
        &self,
        account: AccountId,
        phone_number_id: &str,
        update: NumberUpdate,
    ) -> StoreResult<BusinessNumber> {
        let update = match update {
            NumberUpdate::SetAccessToken(Some(t)) => NumberUpdate::SetAccessToken(Some(
                self.keys
                    .seal(&t, &number_context(account, phone_number_id)),
            )),
            other => other,
        };
        let updated = self
            .inner
            .update_number(account, phone_number_id, update)
            .await?;
        self.open_number(updated)
    }

    async fn delete_number(&self, account: AccountId, phone_number_id: &str) -> StoreResult<()> {
        self.inner.delete_number(account, phone_number_id).await
    }
}

#[async_trait]
impl OutboxStore for EncryptingStore {
    async fn claim_events_with(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limits: &EventClaimLimits,
    ) -> StoreResult<Vec<ClaimedEvent>> {
        self.inner
            .claim_events_with(now, lease, limits)
            .await?
            .into_iter()
            .map(|mut claimed| {
                if let Some(mut w) = claimed.target.take() {
                    let account = claimed.event.account_id;
                    claimed.target = Some(match claimed.event.endpoint {
                        None => self.open_webhook(account, w)?,
                        Some(id) => {
                            let field = format!("{WEBHOOK_SECRET}:{id}");
                            w.secret = self.open_value(account, &w.secret, &field)?;
                            w
                        }
                    });
                }
                Ok(claimed)
            })
            .collect()
    }

    async fn enqueue_event(&self, account: AccountId, event: NewEvent) -> StoreResult<usize> {
        self.inner.enqueue_event(account, event).await
    }

    async fn finish_event(
        &self,
        id: EventId,
        attempt: Option<DeliveryAttempt>,
        next: EventNext,
    ) -> StoreResult<()> {
        self.inner.finish_event(id, attempt, next).await
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        self.inner.outbox_backlog().await
    }

    async fn delivery_attempts(
        &self,
        account: AccountId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.inner.delivery_attempts(account, limit).await
    }

    async fn retry_event(
        &self,
        account: AccountId,
        id: EventId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner.retry_event(account, id, now).await
    }

    async fn create_endpoint(
        &self,
        mut endpoint: WebhookEndpoint,
        max_per_account: usize,
    ) -> StoreResult<WebhookEndpoint> {
        let plain = endpoint.secret.clone();
        endpoint.secret = self
            .keys
            .seal(&endpoint.secret, &Self::endpoint_context(&endpoint));
        let mut stored = self
            .inner
            .create_endpoint(endpoint, max_per_account)
            .await?;
        stored.secret = plain;
        Ok(stored)
    }

    async fn endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpoint>> {
        self.inner
            .endpoints(account)
            .await?
            .into_iter()
            .map(|e| self.open_endpoint(e))
            .collect()
    }

    async fn update_endpoint(
        &self,
        account: AccountId,
        id: EndpointId,
        update: EndpointUpdate,
    ) -> StoreResult<WebhookEndpoint> {
        let stored = self.inner.update_endpoint(account, id, update).await?;
        self.open_endpoint(stored)
    }

    async fn delete_endpoint(&self, account: AccountId, id: EndpointId) -> StoreResult<()> {
        self.inner.delete_endpoint(account, id).await
    }

    async fn set_endpoint_secret(
        &self,
        account: AccountId,
        id: EndpointId,
        secret: &str,
    ) -> StoreResult<()> {
        let sealed = self
            .keys
            .seal(secret, &context(account, &format!("{WEBHOOK_SECRET}:{id}")));
        self.inner.set_endpoint_secret(account, id, &sealed).await
    }

    async fn disable_endpoint(&self, id: EndpointId, reason: &str) -> StoreResult<()> {
        self.inner.disable_endpoint(id, reason).await
    }

    async fn endpoint_attempts(
        &self,
        account: AccountId,
        id: EndpointId,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        self.inner.endpoint_attempts(account, id, limit).await
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::encryption::EncryptionKey;
    use crate::testing::MemoryStore;
    use crate::testing::conformance::{create_sample_account, sample_credentials};

    fn creds() -> MetaCredentials {
        MetaCredentials {
            waba_id: None,
            verify_token_hash: None,
            access_token: "EAAtoken-plain".into(),
            phone_number_id: "1234567890".into(),
            app_secret: Some("app-secret-plain".into()),
            verify_token: Some("verify-plain".into()),
            throughput_per_second: None,
        }
    }

    fn webhook() -> WebhookConfig {
        WebhookConfig {
            url: "https://example.com/hook".into(),
            secret: "whsec_plain".into(),
        }
    }

    fn raw_text(a: &Account) -> String {
        format!(
            "{:?} {:?} {:?}",
            a.credentials
                .as_ref()
                .map(|c| (&c.access_token, &c.app_secret, &c.verify_token)),
            a.webhook.as_ref().map(|w| &w.secret),
            a.credentials.as_ref().map(|c| &c.phone_number_id),
        )
    }

    #[tokio::test]
    async fn secrets_are_sealed_inside_and_plain_outside() {
        let inner = Arc::new(MemoryStore::new());
        let store = EncryptingStore::new(inner.clone(), KeyRing::new(EncryptionKey::generate()));
        let account = create_sample_account(&store).await;
        let updated = store
            .update_account(account.id, AccountUpdate::SetCredentials(creds()))
            .await
            .unwrap();
        assert_eq!(updated.credentials, Some(creds()));
        store
            .update_account(account.id, AccountUpdate::SetWebhook(webhook()))
            .await
            .unwrap();
        let raw = inner.account(account.id).await.unwrap().unwrap();
        let text = raw_text(&raw);
        for plain in [
            "EAAtoken-plain",
            "app-secret-plain",
            "verify-plain",
            "whsec_plain",
        ] {
            assert!(!text.contains(plain), "{plain} stored in the clear: {text}");
        }
        assert!(text.contains("1234567890"), "the routing id stays plain");
        assert_eq!(
            raw.webhook.as_ref().unwrap().url,
            "https://example.com/hook"
        );

        let read = store.account(account.id).await.unwrap().unwrap();
        assert_eq!(read.credentials, Some(creds()));
        assert_eq!(read.webhook, Some(webhook()));
        let by_pn = store
            .account_by_phone_number_id("1234567890")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_pn.credentials, Some(creds()));
        let listed = store.list_accounts(None, 10).await.unwrap();
        assert_eq!(listed[0].webhook, Some(webhook()));
    }

    #[tokio::test]
    async fn a_numbers_own_token_is_sealed_inside_and_resealed_under_a_new_key() {
        use crate::testing::conformance::sample_number;
        let inner = Arc::new(MemoryStore::new());
        let old = EncryptionKey::generate();
        let store = EncryptingStore::new(inner.clone(), KeyRing::new(old.clone()));
        let account = create_sample_account(&store).await;
        let added = store
            .add_number(sample_number(account.id, "777", Some("NUMBER-TOKEN"), 0), 5)
            .await
            .unwrap();
        assert_eq!(added.access_token.as_deref(), Some("NUMBER-TOKEN"));
        let raw = inner.number(account.id, "777").await.unwrap().unwrap();
        let sealed = raw.access_token.clone().unwrap();
        assert!(!sealed.contains("NUMBER-TOKEN"), "{sealed}");
        assert_eq!(
            store.numbers(account.id).await.unwrap()[0]
                .access_token
                .as_deref(),
            Some("NUMBER-TOKEN")
        );
        let replaced = store
            .update_number(
                account.id,
                "777",
                NumberUpdate::SetAccessToken(Some("NEW-TOKEN".into())),
            )
            .await
            .unwrap();
        assert_eq!(replaced.access_token.as_deref(), Some("NEW-TOKEN"));
        let raw = inner.number(account.id, "777").await.unwrap().unwrap();
        assert!(!raw.access_token.unwrap().contains("NEW-TOKEN"));

        let new = EncryptionKey::generate();
        let after =
            EncryptingStore::new(inner.clone(), KeyRing::new(new.clone()).with_previous(old));
        after.reseal_all(10).await.unwrap();
        let only_new = EncryptingStore::new(inner.clone(), KeyRing::new(new));
        assert_eq!(
            only_new
                .number(account.id, "777")
                .await
                .unwrap()
                .unwrap()
                .access_token
                .as_deref(),
            Some("NEW-TOKEN"),
            "resealed under the new key"
        );
    }

    #[tokio::test]
    async fn a_sealed_value_moved_to_another_account_does_not_open() {
        let inner = Arc::new(MemoryStore::new());
        let store = EncryptingStore::new(inner.clone(), KeyRing::new(EncryptionKey::generate()));
        let a = create_sample_account(&store).await;
        let b = create_sample_account(&store).await;
        store
            .update_account(a.id, AccountUpdate::SetWebhook(webhook()))
            .await
            .unwrap();
        let stolen = inner.account(a.id).await.unwrap().unwrap().webhook.unwrap();
        inner
            .update_account(b.id, AccountUpdate::SetWebhook(stolen))
            .await
            .unwrap();
        assert!(matches!(
            store.account(b.id).await,
            Err(StoreError::Backend(m)) if m.contains("does not decrypt")
        ));
    }

    #[tokio::test]
    async fn reseal_moves_everything_to_the_new_key_and_keeps_status() {
        let inner = Arc::new(MemoryStore::new());
        let old = EncryptionKey::generate();
        let new = EncryptionKey::generate();
        let before = EncryptingStore::new(inner.clone(), KeyRing::new(old.clone()));
        let mut ids = Vec::new();
        // A phone number id belongs to one account: each gets its own.
        let creds_of = |i: usize| MetaCredentials {
            phone_number_id: format!("12345678{i}"),
            ..creds()
        };
        for i in 0..5 {
            let a = create_sample_account(&before).await;
            before
                .update_account(a.id, AccountUpdate::SetCredentials(creds_of(i)))
                .await
                .unwrap();
            before
                .update_account(a.id, AccountUpdate::SetWebhook(webhook()))
                .await
                .unwrap();
            ids.push(a.id);
        }
        let status = crate::account::CredentialsStatus::Invalid {
            reason: "expired".into(),
            at: chrono::Utc::now(),
        };
        before
            .update_account(ids[0], AccountUpdate::SetCredentialsStatus(status.clone()))
            .await
            .unwrap();
        // One account saved before encryption was turned on: plaintext in the store.
        let legacy = create_sample_account(&*inner).await;
        inner
            .update_account(
                legacy.id,
                AccountUpdate::SetCredentials(sample_credentials("555")),
            )
            .await
            .unwrap();

        let rotating = EncryptingStore::new(
            inner.clone(),
            KeyRing::new(new.clone()).with_previous(old.clone()),
        );
        let report = rotating.reseal_all(2).await.unwrap();
        assert_eq!(report.accounts, 6);
        assert_eq!(report.resealed, 6);
        assert_eq!(report.skipped, 0);
        let again = rotating.reseal_all(2).await.unwrap();
        assert_eq!(again.resealed, 0, "a second run finds nothing to do");

        let after = EncryptingStore::new(inner.clone(), KeyRing::new(new.clone()));
        for (i, id) in ids.iter().enumerate() {
            let a = after.account(*id).await.unwrap().unwrap();
            assert_eq!(a.credentials, Some(creds_of(i)));
            assert_eq!(a.webhook, Some(webhook()));
        }
        assert_eq!(
            after
                .account(ids[0])
                .await
                .unwrap()
                .unwrap()
                .credentials_status,
            status,
            "re-encryption keeps the verification status"
        );
        assert_eq!(
            after.account(legacy.id).await.unwrap().unwrap().credentials,
            Some(sample_credentials("555"))
        );
        let raw = inner.account(legacy.id).await.unwrap().unwrap();
        assert!(raw.credentials.unwrap().access_token.starts_with("enc:v1:"));
        let old_only = EncryptingStore::new(inner, KeyRing::new(old));
        assert!(matches!(
            old_only.account(ids[1]).await,
            Err(StoreError::Backend(m)) if m.contains("not configured")
        ));
    }

    #[tokio::test]
    async fn claimed_webhook_targets_are_opened() {
        use crate::testing::conformance::{at, sent_message};
        let inner = Arc::new(MemoryStore::new());
        let store = EncryptingStore::new(inner, KeyRing::new(EncryptionKey::generate()));
        let a = create_sample_account(&store).await;
        store
            .update_account(a.id, AccountUpdate::SetWebhook(webhook()))
            .await
            .unwrap();
        sent_message(&store, a.id, "wamid.enc", 0, at(1)).await;
        let events = store
            .claim_events(at(2), Duration::from_secs(30), 10)
            .await
            .unwrap();
        assert!(!events.is_empty());
        assert_eq!(events[0].target, Some(webhook()));
    }

    #[tokio::test]
    async fn endpoint_secrets_are_sealed_at_rest_and_bound_to_their_endpoint() {
        use crate::endpoints::{EndpointId, WebhookEndpoint};
        use crate::testing::conformance::{at, sent_message};
        let inner = Arc::new(MemoryStore::new());
        let store = EncryptingStore::new(inner.clone(), KeyRing::new(EncryptionKey::generate()));
        let a = create_sample_account(&store).await;
        let endpoint = WebhookEndpoint {
            id: EndpointId::new(),
            account_id: a.id,
            url: "https://hooks.example/e".into(),
            secret: "whsec_endpoint-plain".into(),
            events: vec![],
            enabled: true,
            disabled_reason: None,
            retry_schedule: vec![Duration::from_secs(5)],
            created_at: at(0),
        };
        assert_eq!(
            store.create_endpoint(endpoint.clone(), 10).await.unwrap(),
            endpoint,
            "the caller gets the plaintext back"
        );
        let raw = inner.endpoints(a.id).await.unwrap();
        assert_ne!(raw[0].secret, endpoint.secret);
        assert!(!raw[0].secret.contains("endpoint-plain"));
        assert_eq!(store.endpoints(a.id).await.unwrap(), vec![endpoint.clone()]);

        sent_message(&store, a.id, "wamid.enc", 0, at(1)).await;
        let events = store
            .claim_events(at(2), Duration::from_secs(30), 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].target.as_ref().unwrap().secret, endpoint.secret);

        // A sealed secret copied onto another endpoint does not open there.
        let mut copy = raw[0].clone();
        copy.id = EndpointId::new();
        inner.create_endpoint(copy, 10).await.unwrap();
        assert!(store.endpoints(a.id).await.is_err());
    }

    #[tokio::test]
    async fn reseal_moves_endpoint_secrets_to_the_new_key() {
        use crate::endpoints::{EndpointId, WebhookEndpoint};
        let inner = Arc::new(MemoryStore::new());
        let old = EncryptionKey::generate();
        let new = EncryptionKey::generate();
        let before = EncryptingStore::new(inner.clone(), KeyRing::new(old.clone()));
        let a = create_sample_account(&before).await;
        let endpoint = WebhookEndpoint {
            id: EndpointId::new(),
            account_id: a.id,
            url: "https://hooks.example/e".into(),
            secret: "whsec_rotate-me".into(),
            events: vec![],
            enabled: true,
            disabled_reason: None,
            retry_schedule: vec![],
            created_at: chrono::Utc::now(),
        };
        before.create_endpoint(endpoint.clone(), 10).await.unwrap();
        let rotating =
            EncryptingStore::new(inner.clone(), KeyRing::new(new.clone()).with_previous(old));
        let report = rotating.reseal_all(10).await.unwrap();
        assert_eq!((report.accounts, report.resealed), (1, 1));
        assert_eq!(rotating.reseal_all(10).await.unwrap().resealed, 0);
        let after = EncryptingStore::new(inner.clone(), KeyRing::new(new));
        assert_eq!(after.endpoints(a.id).await.unwrap(), vec![endpoint]);
    }
}
