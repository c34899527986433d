//! A single-tenant application: whatsapi in-process with the SQLite store, the Graph API transport and the
//! app's own Meta credentials. No accounts API, no API key, no plan: the app creates its one tenant on first
//! start and finds it again by its phone number id afterwards.
//!
//! ```sh
//! cargo run -p whatsapi-examples --example sqlite_graph                # against the Meta emulator on loopback
//! cargo run -p whatsapi-examples --example sqlite_graph -- ./app.db    # keep the database in ./app.db
//! # real Meta: set WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_TEST_RECIPIENT (digits only)
//! ```

use std::sync::Arc;
use std::time::Duration;

use whatsapi_core::graph::{GraphConfig, GraphTransport};
use whatsapi_core::webhook_http::{HttpSinkConfig, HttpWebhookSink};
use whatsapi_core::{Account, MetaCredentials, PhoneNumber, SendRequest, Status, WhatsApi};
use whatsapi_examples::{print_timeline, wait_for};
use whatsapi_sandbox::{Sandbox, SandboxConfig};
use whatsapi_store_sqlite::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Where Meta is: the real Graph API when credentials are in the environment, else the emulator.
    let (graph, credentials, recipient, _emulator) = match std::env::var("WHATSAPP_ACCESS_TOKEN") {
        Ok(token) => {
            let credentials =
                MetaCredentials::new(token, std::env::var("WHATSAPP_PHONE_NUMBER_ID")?);
            (
                GraphConfig::default(),
                credentials,
                std::env::var("WHATSAPP_TEST_RECIPIENT")?,
                None,
            )
        }
        Err(_) => {
            let emulator = Sandbox::start(SandboxConfig::default()).await?;
            let number = &emulator.config().phone_numbers[0];
            let credentials = MetaCredentials::new(number.access_token.clone(), number.id.clone());
            let graph = GraphConfig {
                base_url: emulator.base_url(),
                ..GraphConfig::default()
            };
            (graph, credentials, "14155552671".to_owned(), Some(emulator))
        }
    };

    // The durable queue: one SQLite file (a temporary one unless a path is given).
    let dir = std::env::temp_dir().join(format!("whatsapi-example-{}", std::process::id()));
    let path = match std::env::args().nth(1) {
        Some(path) => path.into(),
        None => {
            std::fs::create_dir_all(&dir)?;
            dir.join("app.db")
        }
    };
    let api = WhatsApi::builder()
        .store(Arc::new(SqliteStore::open(&path)?))
        .transport(Arc::new(GraphTransport::new(graph)?))
        .webhook_sink(Arc::new(HttpWebhookSink::new(HttpSinkConfig::default())?))
        .build()?;
    let engine = api.start();

    let tenant = tenant(&api, credentials).await?;
    let to = PhoneNumber::parse(&recipient)?;
    let text = api
        .send(
            &tenant,
            SendRequest::text(to.clone(), "Your table for two is ready."),
        )
        .await?;
    let template = api
        .send(
            &tenant,
            SendRequest::template(to, "order_ready", "en_US").body_params(["Sarah", "#1042"]),
        )
        .await?;
    println!("database {}", path.display());
    for queued in [text, template] {
        println!("queued {} ({})", queued.id, queued.status);
        let sent = wait_for(
            &api,
            tenant.id,
            queued.id,
            Status::Sent,
            Duration::from_secs(10),
        )
        .await?;
        print_timeline(&sent);
    }

    let report = engine.shutdown(Duration::from_secs(5)).await;
    println!("engine stopped: {report:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The app's one tenant: found by its business phone number, or created with the credentials on first start.
async fn tenant(
    api: &WhatsApi,
    credentials: MetaCredentials,
) -> Result<Account, Box<dyn std::error::Error>> {
    if let Some(existing) = api
        .store()
        .account_by_phone_number_id(&credentials.phone_number_id)
        .await?
    {
        return Ok(existing);
    }
    let created = api.create_account("My shop").await?;
    Ok(api.set_credentials(created.id, credentials).await?)
}
