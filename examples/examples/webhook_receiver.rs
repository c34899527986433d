//! A customer endpoint for whatsapi's status webhooks that checks every signature (Standard Webhooks).
//!
//! ```sh
//! WHATSAPI_WEBHOOK_SECRET=whsec_... cargo run -p whatsapi-examples --example webhook_receiver
//! # then: PUT /auth/me/webhook {"url": "http://127.0.0.1:9000/webhooks/whatsapi"} (the server needs
//! # --webhook-allow-private or --sandbox to post to a local address)
//! ```

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use whatsapi_core::webhook_http::verify;

/// Receivers refuse timestamps further than this from their own clock (replay protection).
const TOLERANCE_SECS: i64 = 5 * 60;

async fn receive(State(secret): State<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let Ok(ts) = timestamp.parse::<i64>() else {
        return StatusCode::BAD_REQUEST;
    };
    if (chrono::Utc::now().timestamp() - ts).abs() > TOLERANCE_SECS {
        eprintln!("refused {id}: timestamp too far from now");
        return StatusCode::UNAUTHORIZED;
    }
    if !verify(&secret, id, ts, &body, signature) {
        eprintln!("refused {id}: bad signature");
        return StatusCode::UNAUTHORIZED;
    }
    let event: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return StatusCode::BAD_REQUEST,
    };
    let data = &event["data"];
    println!(
        "{} {} message {} to {} is {}{}",
        event["timestamp"].as_str().unwrap_or_default(),
        id,
        data["messageId"].as_str().unwrap_or_default(),
        data["to"].as_str().unwrap_or_default(),
        data["status"].as_str().unwrap_or_default(),
        data["errorMessage"]
            .as_str()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
    );
    StatusCode::OK
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let secret = std::env::var("WHATSAPI_WEBHOOK_SECRET").expect(
        "set WHATSAPI_WEBHOOK_SECRET to the signingSecret returned by PUT /auth/me/webhook",
    );
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:9000".to_owned());
    let app = axum::Router::new()
        .route("/webhooks/whatsapi", post(receive))
        .with_state(secret);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{listen}/webhooks/whatsapi");
    axum::serve(listener, app).await
}
