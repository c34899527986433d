//! Nothing secret leaks: after a full flow (register, credentials with token + app secret + verify token, webhook,
//! sends, Meta status webhooks, customer webhook deliveries, key rotation, billing), neither the database files nor
//! the logs (captured at debug level) contain an API key, access token, app secret, verify token, webhook secret or
//! Stripe key.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use common::stripe::{FakeStripe, STRIPE_KEY, WEBHOOK_SECRET, stripe_client};
use common::{Options, PHONE_NUMBER_ID, TestServer};
use serde_json::{Value, json};
use whatsapi_core::encryption::EncryptionKey;

const ACCESS_TOKEN: &str = "EAAsecretAccessToken0123456789";
const ACCOUNT_APP_SECRET: &str = "account-app-secret-5f4dcc3b5aa765d6";
const ACCOUNT_VERIFY_TOKEN: &str = "account-verify-token-8c6976e5b541";

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

type Deliveries = Arc<Mutex<Vec<String>>>;

async fn customer_endpoint() -> (String, Deliveries) {
    let received: Deliveries = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|State(r): State<Deliveries>, body: String| async move {
                r.lock().unwrap().push(body);
                "ok"
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn meta_status_signed_by_account(s: &TestServer, wamid: &str, status: &str) {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550001234", "phone_number_id": PHONE_NUMBER_ID},
                  "statuses": [{"id": wamid, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(),
                                "recipient_id": "14155552671"}]}}]}]});
    let raw = serde_json::to_vec(&body).unwrap();
    let r = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            whatsapi_core::meta::sign(ACCOUNT_APP_SECRET.as_bytes(), &raw),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_database_files_or_the_logs() {
    let logs = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish(),
    )
    .unwrap();

    let fake = FakeStripe::default();
    let stripe_base = fake.start().await;
    let encryption_key = EncryptionKey::generate();
    let s = TestServer::start_with(Options {
        billing: Some(stripe_client(&stripe_base)),
        encryption_key: Some(encryption_key.clone()),
        ..Options::default()
    })
    .await;
    let (hook_url, deliveries) = customer_endpoint().await;

    let first_key = s.register("secrets@example.com").await;
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&first_key)
        .json(&json!({"whatsappAccessToken": ACCESS_TOKEN, "whatsappPhoneNumberId": PHONE_NUMBER_ID,
                      "whatsappAppSecret": ACCOUNT_APP_SECRET, "whatsappVerifyToken": ACCOUNT_VERIFY_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .put(s.url("/auth/me/webhook"))
        .bearer_auth(&first_key)
        .json(&json!({"url": hook_url}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let webhook_secret = v["data"]["signingSecret"].as_str().unwrap().to_owned();
    assert!(webhook_secret.starts_with("whsec_"));
    // An event subscription of its own, with its own secret (sealed at rest too).
    let (code, v) = s
        .post(
            &first_key,
            "/webhooks/endpoints",
            json!({"url": hook_url, "events": ["message.status_updated"]}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let endpoint_secret = v["data"]["signingSecret"].as_str().unwrap().to_owned();
    assert!(endpoint_secret.starts_with("whsec_"));

    let (code, v) = s
        .post(
            &first_key,
            "/send-message",
            json!({"to": "14155552671", "message": "hello"}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let sent = s.wait_status(&first_key, &id, &["sent"]).await;
    let wamid = sent["wamid"]
        .as_str()
        .or_else(|| sent["whatsappMessageId"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| s.transport.accepted()[0].wamid.clone().unwrap());
    meta_status_signed_by_account(&s, &wamid, "delivered").await;
    meta_status_signed_by_account(&s, &wamid, "read").await;
    s.wait_status(&first_key, &id, &["read"]).await;
    for _ in 0..200 {
        if deliveries.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        deliveries.lock().unwrap().len() >= 3,
        "sent, delivered and read reach the customer webhook"
    );
    let (code, _) = s
        .post(&first_key, "/auth/me/credentials/verify", Value::Null)
        .await;
    assert_eq!(code, 200);

    // A wrong key, a rotation, and billing with the new key.
    let unknown_key = format!("sk_live_{}", "ab".repeat(24));
    assert_eq!(s.get(&unknown_key, "/auth/me").await.0, 401);
    let (code, v) = s.post(&first_key, "/auth/me/rotate-key", Value::Null).await;
    assert_eq!(code, 200);
    let second_key = v["data"]["apiKey"].as_str().unwrap().to_owned();
    let (_, me) = s.get(&second_key, "/auth/me").await;
    let account_id = me["data"]["id"].as_str().unwrap().to_owned();
    let (code, v) = s
        .post(&second_key, "/billing/checkout", json!({"plan": "pro"}))
        .await;
    assert_eq!(code, 200, "{v}");
    let event = serde_json::to_vec(
        &json!({"id": "evt_secret_flow", "type": "checkout.session.completed",
        "created": chrono::Utc::now().timestamp(), "data": {"object": {"mode": "subscription",
        "client_reference_id": account_id, "customer": "cus_S", "subscription": "sub_S",
        "metadata": {"plan": "pro"}}}}),
    )
    .unwrap();
    let r = s
        .client
        .post(s.url("/webhooks/stripe"))
        .header(
            "stripe-signature",
            whatsapi_saas::stripe::sign(WEBHOOK_SECRET, chrono::Utc::now().timestamp(), &event),
        )
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, _) = s.get(&second_key, "/billing/portal").await;
    assert_eq!(code, 200);

    let secrets = [
        ("first API key", first_key.clone()),
        ("rotated API key", second_key.clone()),
        ("presented unknown API key", unknown_key),
        ("Meta access token", ACCESS_TOKEN.to_owned()),
        ("Meta app secret", ACCOUNT_APP_SECRET.to_owned()),
        ("Meta verify token", ACCOUNT_VERIFY_TOKEN.to_owned()),
        ("webhook signing secret", webhook_secret.clone()),
        (
            "webhook signing secret (base64 part)",
            webhook_secret.trim_start_matches("whsec_").to_owned(),
        ),
        ("endpoint signing secret", endpoint_secret.clone()),
        (
            "endpoint signing secret (base64 part)",
            endpoint_secret.trim_start_matches("whsec_").to_owned(),
        ),
        ("Stripe secret key", STRIPE_KEY.to_owned()),
        ("Stripe webhook secret", WEBHOOK_SECRET.to_owned()),
        ("encryption key", encryption_key.to_base64()),
    ];

    // The database files while the server runs (WAL not checkpointed yet) and after it stopped.
    let db_path = s.db_path.clone();
    let scan_files = |when: &str| {
        let mut scanned = 0;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db_path.as_os_str().to_owned();
            name.push(suffix);
            let Ok(bytes) = std::fs::read(&name) else {
                continue;
            };
            scanned += bytes.len();
            for (what, secret) in &secrets {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{what} found in {} ({when})",
                    std::path::Path::new(&name).display()
                );
            }
        }
        scanned
    };
    assert!(scan_files("running") > 0);
    let all: Vec<u8> = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut name = s.db_path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::read(name).ok()
        })
        .flatten()
        .collect();
    assert!(
        all.windows(b"secrets@example.com".len())
            .any(|w| w == b"secrets@example.com"),
        "the scan reads the stored data (the email is there in the clear)"
    );
    assert!(
        all.windows(b"enc:v1:".len()).any(|w| w == b"enc:v1:"),
        "sealed values are stored"
    );
    // Keep the folder past the server's end to scan the files it leaves.
    let mut s = s;
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    s.stop().await;
    assert!(scan_files("stopped") > 0);
    drop(dir);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("account registered"),
        "the logs were captured:\n{text}"
    );
    assert!(text.contains("API key rotated"));
    assert!(text.contains("DEBUG"), "debug level is on");
    for (what, secret) in &secrets {
        assert!(!text.contains(secret.as_str()), "{what} logged:\n{text}");
    }
}
