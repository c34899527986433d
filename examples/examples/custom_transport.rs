//! A custom `MetaTransport`: the seam where whatsapi meets Meta. This one does not call Meta; it prints the
//! Graph API body each message would get and answers like Meta would, refusing one recipient the way Meta
//! refuses an undeliverable number (131026). The engine treats it like the real transport: the message for the
//! refused number ends `failed` with the reason, and nothing is retried that Meta would not accept on retry.
//! Useful as a starting point for a transport that goes through a proxy, records traffic, or fans out to
//! several providers. Storage is SQLite, as in a real application.
//!
//! ```sh
//! cargo run -p whatsapi-examples --example custom_transport
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use whatsapi_core::transport::{OutgoingMessage, PhoneNumberInfo, SendError, SendReceipt};
use whatsapi_core::webhook_http::{HttpSinkConfig, HttpWebhookSink};
use whatsapi_core::{MetaCredentials, MetaTransport, PhoneNumber, SendRequest, Status, WhatsApi};
use whatsapi_examples::{print_timeline, wait_for};
use whatsapi_store_sqlite::SqliteStore;

/// Prints what would go to Meta and makes up message ids.
struct PrintingTransport {
    sent: AtomicU64,
    unreachable: PhoneNumber,
}

#[async_trait::async_trait]
impl MetaTransport for PrintingTransport {
    async fn send(
        &self,
        creds: &MetaCredentials,
        msg: &OutgoingMessage,
    ) -> Result<SendReceipt, SendError> {
        let body = whatsapi_core::graph::message_body(msg);
        println!("POST /{}/messages {body}", creds.phone_number_id);
        if msg.to.phone_number() == Some(&self.unreachable) {
            return Err(SendError::meta(400, 131026, "Message undeliverable"));
        }
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(SendReceipt {
            wamid: format!("wamid.printed.{n}"),
            wa_id: Some(msg.to.to_string()),
        })
    }

    async fn verify(&self, creds: &MetaCredentials) -> Result<PhoneNumberInfo, SendError> {
        Ok(PhoneNumberInfo {
            id: creds.phone_number_id.clone(),
            verified_name: "Printing transport".into(),
            display_phone_number: "+1 555-000-0000".into(),
            quality_rating: None,
            throughput_level: None,
            on_business_app: None,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("whatsapi-transport-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let transport = PrintingTransport {
        sent: AtomicU64::new(0),
        unreachable: PhoneNumber::parse("14155550000")?,
    };
    let api = WhatsApi::builder()
        .store(Arc::new(SqliteStore::open(dir.join("app.db"))?))
        .transport(Arc::new(transport))
        .webhook_sink(Arc::new(HttpWebhookSink::new(HttpSinkConfig::default())?))
        .build()?;
    let engine = api.start();

    let tenant = api.create_account("Printing shop").await?;
    let tenant = api
        .set_credentials(tenant.id, MetaCredentials::new("token", "1234567890"))
        .await?;
    let check = api.verify_credentials(tenant.id).await?;
    println!("credentials check: {check:?}");

    let ok = api
        .send(
            &tenant,
            SendRequest::text(PhoneNumber::parse("14155552671")?, "Printed, not sent."),
        )
        .await?;
    let refused = api
        .send(
            &tenant,
            SendRequest::text(PhoneNumber::parse("14155550000")?, "Nobody gets this."),
        )
        .await?;
    let within = Duration::from_secs(10);
    print_timeline(&wait_for(&api, tenant.id, ok.id, Status::Sent, within).await?);
    let failed = wait_for(&api, tenant.id, refused.id, Status::Failed, within).await?;
    print_timeline(&failed);
    println!(
        "failed: {} (retryable: {})",
        failed.error_message.as_deref().unwrap_or("-"),
        failed.retryable()
    );

    engine.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
