//! Meta's webhooks in an application's own axum router: the app serves `GET /whatsapp/webhook` (Meta's
//! subscription handshake) and `POST /whatsapp/webhook` (notifications) beside its own routes, and hands each
//! notification to `WhatsApi::ingest_meta_webhook`, which checks `X-Hub-Signature-256` over the raw body, routes
//! each change to its tenant by phone number id, moves messages through sent → delivered → read, and records
//! what customers write (opening the 24-hour window).
//!
//! Self-contained: Meta is whatsapi's emulator on loopback, which answers sends and then posts signed status
//! webhooks to this router, as Meta does.
//!
//! ```sh
//! cargo run -p whatsapi-examples --example meta_webhook_ingest
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde::Deserialize;
use whatsapi_core::graph::{GraphConfig, GraphTransport};
use whatsapi_core::service::MetaWebhookAuth;
use whatsapi_core::webhook_http::{HttpSinkConfig, HttpWebhookSink};
use whatsapi_core::{Error, MetaCredentials, PhoneNumber, SendRequest, Status, WhatsApi};
use whatsapi_examples::{print_timeline, wait_for};
use whatsapi_sandbox::{Sandbox, SandboxConfig};
use whatsapi_store_sqlite::SqliteStore;

const VERIFY_TOKEN: &str = "my-verify-token";

/// Meta's handshake: `hub.mode=subscribe`, the verify token you typed in the app dashboard, and a challenge to echo.
#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: String,
    #[serde(rename = "hub.verify_token")]
    verify_token: String,
    #[serde(rename = "hub.challenge")]
    challenge: String,
}

async fn handshake(
    State(api): State<WhatsApi>,
    Query(q): Query<Handshake>,
) -> Result<String, StatusCode> {
    let known = api
        .meta_verify_token_matches(&q.verify_token, None)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    if q.mode == "subscribe" && known {
        Ok(q.challenge)
    } else {
        Err(StatusCode::FORBIDDEN)
    }
}

async fn notification(State(api): State<WhatsApi>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let auth = MetaWebhookAuth {
        signature: headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok()),
        ..MetaWebhookAuth::default()
    };
    match api.ingest_meta_webhook(&body, auth).await {
        Ok(report) => {
            println!("webhook: {report:?}");
            StatusCode::OK
        }
        Err(Error::Unauthorized(_)) => StatusCode::UNAUTHORIZED,
        Err(Error::Refused(_)) => StatusCode::BAD_REQUEST,
        // The store failed: answer 5xx so Meta delivers the notification again later.
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Sandbox::start(SandboxConfig::default()).await?;
    let number = emulator.config().phone_numbers[0].clone();
    let dir = std::env::temp_dir().join(format!("whatsapi-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let api = WhatsApi::builder()
        .store(Arc::new(SqliteStore::open(dir.join("app.db"))?))
        .transport(Arc::new(GraphTransport::new(GraphConfig {
            base_url: emulator.base_url(),
            ..GraphConfig::default()
        })?))
        .webhook_sink(Arc::new(HttpWebhookSink::new(HttpSinkConfig::default())?))
        .build()?;
    let engine = api.start();

    // The app's router: its own routes, and Meta's webhook beside them.
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/whatsapp/webhook", get(handshake).post(notification))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/whatsapp/webhook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut credentials = MetaCredentials::new(number.access_token.clone(), number.id.clone());
    credentials.app_secret = Some(emulator.config().app_secret.clone());
    credentials.verify_token = Some(VERIFY_TOKEN.into());
    let tenant = api.create_account("Webhook shop").await?;
    let tenant = api.set_credentials(tenant.id, credentials).await?;

    // What Meta does when you subscribe the callback URL in the app dashboard.
    let challenge = reqwest::get(format!(
        "{url}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    ))
    .await?
    .text()
    .await?;
    println!("handshake answered {challenge}");
    emulator.set_callback_url(Some(url));

    // A customer writes in; then the business answers and Meta reports sent, delivered and read.
    emulator
        .inbound("14155552671", "Is my order ready?")
        .await?;
    let queued = api
        .send(
            &tenant,
            SendRequest::text(
                PhoneNumber::parse("14155552671")?,
                "Yes, pick it up any time today.",
            ),
        )
        .await?;
    let read = wait_for(
        &api,
        tenant.id,
        queued.id,
        Status::Read,
        Duration::from_secs(15),
    )
    .await?;
    print_timeline(&read);

    engine.shutdown(Duration::from_secs(5)).await;
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
