//! Helpers shared by the integration tests: a webhook receiver on loopback and send helpers.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use whatsapi_core::meta::{self, ParsedStatus};
use whatsapi_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

/// Generous bound for waits; tests never assert on durations.
pub const WAIT: Duration = Duration::from_secs(10);
pub const TOKEN: &str = "sandbox-token";
pub const PNID: &str = "1234567890";
pub const SECRET: &str = "sandbox-app-secret";

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Vec<u8>,
    pub signature: Option<String>,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    fail_first: AtomicU32,
}

/// A webhook endpoint that records what it gets and answers 500 to the first `fail_first` POSTs.
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::failing(0).await
    }

    pub async fn failing(fail_first: u32) -> Self {
        let state = Arc::new(ReceiverState {
            fail_first: AtomicU32::new(fail_first),
            ..ReceiverState::default()
        });
        let app = Router::new()
            .route("/webhook", post(receive))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    /// Every POST answered 2xx, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Every status of every accepted POST, parsed by whatsapi-core, in arrival order.
    pub fn statuses(&self) -> Vec<ParsedStatus> {
        self.received()
            .iter()
            .flat_map(|r| meta::parse_webhook(&r.body).unwrap().statuses)
            .collect()
    }

    /// The statuses of one wamid, in arrival order.
    pub fn statuses_of(&self, wamid: &str) -> Vec<ParsedStatus> {
        self.statuses()
            .into_iter()
            .filter(|s| s.wamid == wamid)
            .collect()
    }

    /// Polls until `done` holds for the received POSTs; panics after [`WAIT`].
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Receiver) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; received: {:?}",
                self.received()
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `wamid` has `n` statuses, and returns them.
    pub async fn wait_statuses(&self, wamid: &str, n: usize) -> Vec<ParsedStatus> {
        self.wait_until(&format!("{n} statuses of {wamid}"), |r| {
            r.statuses_of(wamid).len() >= n
        })
        .await;
        self.statuses_of(wamid)
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let failing = state
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    state.received.lock().unwrap().push(Received {
        body: body.to_vec(),
        signature: headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    StatusCode::OK
}

/// A sandbox whose callback URL is a fresh receiver.
pub async fn sandbox_with_receiver(config: SandboxConfig) -> (SandboxHandle, Receiver) {
    let receiver = Receiver::start().await;
    let sandbox = Sandbox::start(SandboxConfig {
        callback_url: Some(receiver.url.clone()),
        ..config
    })
    .await
    .unwrap();
    (sandbox, receiver)
}

/// POSTs `body` to the messages endpoint of the default number with the default token.
pub async fn post_message(sandbox: &SandboxHandle, body: &Value) -> (u16, HeaderMap, Value) {
    post_message_as(sandbox, Some(TOKEN), PNID, body).await
}

/// POSTs `body` to `…/{pnid}/messages` with an optional bearer token.
pub async fn post_message_as(
    sandbox: &SandboxHandle,
    token: Option<&str>,
    pnid: &str,
    body: &Value,
) -> (u16, HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v23.0/{pnid}/messages", sandbox.base_url()))
        .json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let json = resp.json::<Value>().await.unwrap();
    (status, headers, json)
}

pub fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
           "text": {"preview_url": false, "body": body}, "biz_opaque_callback_data": format!("cb-{to}")})
}

pub fn template(to: &str, name: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": name, "language": {"code": "en_US"}}, "biz_opaque_callback_data": format!("cb-{to}")})
}

/// `messages[0].id` of a 200 answer.
pub fn wamid(answer: &Value) -> String {
    answer["messages"][0]["id"].as_str().unwrap().to_owned()
}

/// `error.code` of an error answer.
pub fn code(answer: &Value) -> i64 {
    answer["error"]["code"].as_i64().unwrap()
}
