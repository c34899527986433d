//! Embedding whatsapi in-process: build a `WhatsApi`, start its engine, send a text and a template, and print
//! each message's timeline once it is delivered.
//!
//! Run with `cargo run -p whatsapi-examples --example in_process`.
//!
//! To stay self-contained (no Meta account, no disk) this uses the `testing` doubles: `MemoryStore` keeps
//! everything in memory and `FakeTransport` plays Meta's Cloud API. A real application builds the same facade
//! with the SQLite store (`whatsapi-store-sqlite`) and the Graph API transport, and Meta's status webhooks
//! (`POST /webhooks/whatsapp`) feed `apply_status_updates` — simulated here.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use whatsapi_core::status::MetaStatus;
use whatsapi_core::store::StatusUpdate;
use whatsapi_core::testing::{FakeTransport, MemoryStore, RecordingSink};
use whatsapi_core::{
    AccountId, Message, MessageId, MetaCredentials, PhoneNumber, SendRequest, Status, WhatsApi,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api = WhatsApi::builder()
        .store(Arc::new(MemoryStore::new()))
        .transport(Arc::new(FakeTransport::new()))
        .webhook_sink(Arc::new(RecordingSink::new()))
        .build()?;
    let engine = api.start();

    // An embedding app needs no registration, API key or plan: an account and its Meta credentials.
    let created = api.create_account("Acme Ltd").await?;
    println!("created account {}", created.id);
    let account = api
        .set_credentials(
            created.id,
            MetaCredentials::new("EAAc-example-token", "1234567890"),
        )
        .await?;

    let mut order = serde_json::Map::new();
    order.insert("orderId".into(), json!("1234"));
    let text = api
        .send(
            &account,
            SendRequest::text(
                PhoneNumber::parse("14155552671")?,
                "Hi Sarah! Your order #1234 has shipped.",
            )
            .metadata(order),
        )
        .await?;
    let template = api
        .send(
            &account,
            SendRequest::template(PhoneNumber::parse("14155552672")?, "order_ready", "en_US")
                .body_params(["Sarah", "#1042"]),
        )
        .await?;
    println!("accepted: {} ({})", text.id, text.status);
    println!("accepted: {} ({})", template.id, template.status);

    for id in [text.id, template.id] {
        let sent = wait_for(&api, account.id, id, Status::Sent).await?;
        // Meta reports delivery through its webhook; this is what the server does with it.
        api.apply_status_updates(&[StatusUpdate {
            pricing: None,
            account_id: Some(account.id),
            wamid: sent.wamid.clone().unwrap_or_default(),
            status: MetaStatus::Delivered,
            at: api.clock().now(),
            error: None,
        }])
        .await?;
        let delivered = wait_for(&api, account.id, id, Status::Delivered).await?;
        println!(
            "\nmessage {} to {} is {} (wamid {})",
            delivered.id,
            delivered.to,
            delivered.status,
            delivered.wamid.as_deref().unwrap_or("-")
        );
        for entry in &delivered.timeline {
            println!(
                "  {:<10} {}",
                entry.status.as_str(),
                entry.at.format("%Y-%m-%dT%H:%M:%S%.3fZ")
            );
        }
    }

    let summary = api.analytics(account.id).await?;
    println!("\nanalytics: {}", serde_json::to_string(&summary)?);
    let report = engine.shutdown(Duration::from_secs(5)).await;
    println!("engine stopped: {report:?}");
    Ok(())
}

/// Polls the message until it reaches `status` (the engine works in the background).
async fn wait_for(
    api: &WhatsApi,
    account: AccountId,
    id: MessageId,
    status: Status,
) -> Result<Message, Box<dyn std::error::Error>> {
    for _ in 0..500 {
        let message = api.get_message(account, id).await?;
        if message.status == status {
            return Ok(message);
        }
        if message.status == Status::Failed {
            return Err(format!(
                "message {id} failed: {}",
                message.error_message.unwrap_or_default()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("message {id} did not reach {status} within 5 s").into())
}
