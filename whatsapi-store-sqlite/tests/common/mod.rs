//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use whatsapi_core::account::{NewAccount, WebhookConfig};
use whatsapi_core::store::NewBatch;
use whatsapi_core::store::{Store, TenantStore};
use whatsapi_core::{Account, AccountId, MessageContent, MessageId, NewMessage, PhoneNumber};
use whatsapi_saas::{ApiKey, CustomerStore, NewCustomer, Plan};
use whatsapi_store_sqlite::SqliteStore;

/// 2026-01-01T00:00:00Z plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::seconds(secs)
}

/// A fresh store in its own temporary folder (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("whatsapi.db")).unwrap();
    (dir, Arc::new(store))
}

/// A customer on the pro plan with a fresh key (both halves of the account); answers the engine's half.
pub async fn account(store: &SqliteStore, email: &str) -> Account {
    let customer = store
        .create_customer(NewCustomer {
            account: NewAccount {
                id: AccountId::new(),
                name: "Acme".into(),
                created_at: at(0),
            },
            email: email.into(),
            plan: Plan::Pro,
            key_hash: ApiKey::generate().hash(),
        })
        .await
        .unwrap();
    store.account(customer.id).await.unwrap().unwrap()
}

/// Like [`account`], for a store opened at an older schema version: the account is not read back, since this
/// release's reads name columns (such as `breaker_probing`) that older versions lack. A fresh account is
/// [`Account::new`] in every store.
pub async fn old_account(store: &SqliteStore, email: &str) -> Account {
    let new = NewAccount {
        id: AccountId::new(),
        name: "Acme".into(),
        created_at: at(0),
    };
    store
        .create_customer(NewCustomer {
            account: new.clone(),
            email: email.into(),
            plan: Plan::Pro,
            key_hash: ApiKey::generate().hash(),
        })
        .await
        .unwrap();
    Account::new(new)
}

/// The webhook [`with_webhook`] sets, as its column stores it.
pub fn webhook_json() -> String {
    serde_json::to_string(&WebhookConfig {
        url: "https://example.com/hook".into(),
        secret: "whsec_test".into(),
    })
    .unwrap()
}

pub async fn with_webhook(store: &dyn Store, account: &Account) {
    store
        .update_account(
            account.id,
            whatsapi_core::account::AccountUpdate::SetWebhook(WebhookConfig {
                url: "https://example.com/hook".into(),
                secret: "whsec_test".into(),
            }),
        )
        .await
        .unwrap();
}

pub fn message(account: AccountId, created_at: DateTime<Utc>) -> NewMessage {
    NewMessage {
        from: None,
        id: MessageId::new(),
        account_id: account,
        batch_id: None,
        to: PhoneNumber::parse("14155552671").unwrap().into(),
        reply_to: None,
        content: MessageContent::Text {
            body: "hello".into(),
        },
        send_at: None,
        expires_at: None,
        metadata: None,
        dry_run: false,
        created_at,
    }
}

pub fn batch(account: AccountId, messages: Vec<NewMessage>) -> NewBatch {
    NewBatch {
        account_id: account,
        messages,
        idempotency: None,
    }
}
