//! Benchmarks and the load harness of whatsapi.
//!
//! Shared helpers for the benches and harness binaries.

use chrono::Utc;
use whatsapi_core::account::NewAccount;
use whatsapi_core::store::NewBatch;
use whatsapi_core::{
    AccountId, ApiKey, MessageContent, MessageId, NewMessage, PhoneNumber, Plan, Store,
};

/// Creates an account with a unique email and returns its id.
pub async fn sample_account(store: &dyn Store) -> AccountId {
    let id = AccountId::new();
    store
        .create_account(NewAccount {
            id,
            name: "Bench".into(),
            email: format!("bench-{id}@example.com"),
            plan: Plan::Enterprise,
            key_hash: ApiKey::generate().hash(),
            created_at: Utc::now(),
        })
        .await
        .expect("create the bench account");
    id
}

/// A short text message created now.
pub fn text_message(account: AccountId) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        account_id: account,
        batch_id: None,
        to: PhoneNumber::parse("14155552671").expect("valid constant"),
        content: MessageContent::Text {
            body: "Your order #1234 has shipped and will arrive on Tuesday.".into(),
        },
        send_at: None,
        metadata: None,
        dry_run: false,
        created_at: Utc::now(),
    }
}

/// A batch of one message (one API send).
pub fn one(account: AccountId, message: NewMessage) -> NewBatch {
    NewBatch {
        account_id: account,
        messages: vec![message],
        idempotency: None,
    }
}
