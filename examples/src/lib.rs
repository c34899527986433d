//! Examples of embedding whatsapi in an application (`examples/`), and the helpers they share.
//!
//! | example | shows |
//! | --- | --- |
//! | `sqlite_graph` | a single-tenant app: SQLite store, Graph transport, its own Meta credentials; no API key |
//! | `custom_transport` | a `MetaTransport` of your own (here: print the Graph body, refuse one number) |
//! | `meta_webhook_ingest` | Meta's webhooks in the app's own axum router, moving messages to delivered and read |
//! | `in_process` | the test doubles (`MemoryStore`, `FakeTransport`): no disk, no network |
//! | `webhook_receiver` | a customer endpoint checking whatsapi's Standard Webhooks signatures |
//!
//! `cargo test -p whatsapi-examples` runs each of the first four and checks what it printed.
use std::time::Duration;

use whatsapi_core::{AccountId, Message, MessageId, Status, WhatsApi};

/// Polls the message until it reaches `status` (the engine works in the background); an error if it fails
/// instead or takes longer than `within`.
pub async fn wait_for(
    api: &WhatsApi,
    account: AccountId,
    id: MessageId,
    status: Status,
    within: Duration,
) -> Result<Message, Box<dyn std::error::Error>> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = api.get_message(account, id).await?;
        if message.status == status {
            return Ok(message);
        }
        if message.status == Status::Failed && status != Status::Failed {
            let why = message.error_message.unwrap_or_default();
            return Err(format!("message {id} failed: {why}").into());
        }
        if tokio::time::Instant::now() >= deadline {
            let now = message.status;
            return Err(format!("message {id} is {now}, not {status}, after {within:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints a message's status history, one line per change.
pub fn print_timeline(message: &Message) {
    println!(
        "message {} to {} is {} (wamid {})",
        message.id,
        message.to,
        message.status,
        message.wamid.as_deref().unwrap_or("-")
    );
    for entry in &message.timeline {
        let at = entry.at.format("%H:%M:%S%.3f");
        println!("  {:<10} {at}", entry.status.as_str());
    }
}
