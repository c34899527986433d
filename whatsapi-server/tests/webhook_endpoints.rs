//! Issue 19, item 3: several webhook endpoints per account, each with its own secret, event filter, retry
//! schedule and enabled flag, beside the reference webhook (`PUT /auth/me/webhook`), over real HTTP on loopback.
//! An endpoint that is down gets its events in order once it is back (short configured delays stand in for the
//! hour); a slow one never delays the others; one answering 410 is disabled; a failed delivery is re-sent; the
//! reference webhook works as documented throughout; nothing crosses accounts. Inbound messages (through the
//! sandbox) and Meta's template changes reach the endpoints subscribed to them; an endpoint disabled by a 410 is
//! turned back on with `PATCH`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::webhook_http::verify;

const TIMEOUT: Duration = Duration::from_millis(400);

/// How a receiver answers.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Up,
    Down,
    Gone,
    /// Longer than the delivery timeout.
    Slow,
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Hit {
    id: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn status(&self) -> String {
        self.json()["data"]["status"].as_str().unwrap().to_owned()
    }
}

#[derive(Clone)]
struct Receiver {
    url: String,
    mode: Arc<Mutex<Mode>>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    async fn start(mode: Mode) -> Self {
        let mode = Arc::new(Mutex::new(mode));
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let (m, h) = (mode.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (m, h) = (m.clone(), h.clone());
                async move {
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    h.lock().unwrap().push(Hit {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
                        signature: header("webhook-signature"),
                        body: body.to_vec(),
                    });
                    let mode = *m.lock().unwrap();
                    match mode {
                        Mode::Up => StatusCode::OK,
                        Mode::Down => StatusCode::SERVICE_UNAVAILABLE,
                        Mode::Gone => StatusCode::GONE,
                        Mode::Slow => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            StatusCode::OK
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, mode, hits }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` requests arrived.
    async fn wait(&self, n: usize, what: &str) -> Vec<Hit> {
        for _ in 0..400 {
            let h = self.hits();
            if h.len() >= n {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{what}: never {n} requests: {:?}", self.hits());
    }
}

async fn request(
    s: &TestServer,
    method: reqwest::Method,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s.client.request(method, s.url(path)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Sets the account's reference webhook (`PUT /auth/me/webhook`) and returns its answer's `data`.
async fn set_reference_webhook(s: &TestServer, key: &str, url: &str) -> Value {
    let (code, v) = request(
        s,
        reqwest::Method::PUT,
        key,
        "/auth/me/webhook",
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    v["data"].clone()
}

async fn create(s: &TestServer, key: &str, body: Value) -> Value {
    let (code, v) = s.post(key, "/webhooks/endpoints", body).await;
    assert_eq!(code, 201, "{v}");
    v["data"].clone()
}

async fn send(s: &TestServer, key: &str, text: &str) -> (String, String) {
    let (code, v) = s
        .post(
            key,
            "/send-message",
            json!({"to": "14155552671", "message": text}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let m = s.wait_status(key, &id, &["sent"]).await;
    (id, m["wamid"].as_str().unwrap().to_owned())
}

fn statuses(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(Hit::status).collect()
}

/// Each request is signed with `secret`, and the statuses of one message never go backwards.
fn check(hits: &[Hit], secret: &str, what: &str) {
    for h in hits {
        assert!(
            verify(secret, &h.id, h.timestamp, &h.body, &h.signature),
            "{what}: signed with its own secret: {h:?}"
        );
        assert_eq!(h.json()["event"], "message.status_updated", "{what}");
    }
    let rank = |s: &str| ["sent", "delivered", "read"].iter().position(|x| *x == s);
    let ranks: Vec<_> = hits.iter().map(|h| rank(&h.status())).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "{what}: in order: {:?}",
        statuses(hits)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_endpoints_per_account_with_filters_retries_gone_and_resend() {
    let s = TestServer::start_with(Options {
        webhook_timeout: TIMEOUT,
        ..Options::default()
    })
    .await;
    let key = s.account_with_credentials("hooks@example.com").await;
    let other = s.account_with_credentials("other@example.com").await;

    // The reference webhook, exactly as documented.
    let reference = Receiver::start(Mode::Up).await;
    let v = set_reference_webhook(&s, &key, reference.url.as_str()).await;
    assert_eq!(v["webhookUrl"], reference.url.as_str());
    let reference_secret = v["signingSecret"].as_str().unwrap().to_owned();

    let down = Receiver::start(Mode::Down).await;
    let slow = Receiver::start(Mode::Slow).await;
    let gone = Receiver::start(Mode::Gone).await;
    let inbound_only = Receiver::start(Mode::Up).await;
    let d = create(
        &s,
        &key,
        json!({"url": down.url, "events": ["message.status_updated"], "retrySchedule": [1, 1, 1, 2, 2]}),
    )
    .await;
    assert_eq!(d["enabled"], true);
    assert_eq!(d["retrySchedule"], json!([1, 1, 1, 2, 2]));
    let down_secret = d["signingSecret"].as_str().unwrap().to_owned();
    assert!(down_secret.starts_with("whsec_") && down_secret != reference_secret);
    let sl = create(&s, &key, json!({"url": slow.url, "retrySchedule": []})).await;
    let g = create(&s, &key, json!({"url": gone.url})).await;
    assert_eq!(
        g["retrySchedule"],
        json!([5]),
        "one retry by default, as documented"
    );
    let f = create(
        &s,
        &key,
        json!({"url": inbound_only.url, "events": ["message.received"]}),
    )
    .await;

    // Bad input is refused field by field; unknown event names are named.
    let (code, v) = s
        .post(
            &key,
            "/webhooks/endpoints",
            json!({"url": "ftp://x.example/", "events": ["message.sent"], "retrySchedule": [100000]}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    let fields: Vec<&str> = v["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "events", "retrySchedule"], "{v}");
    assert!(
        v["details"][1]["message"].as_str().unwrap().starts_with(
            "unknown event type \"message.sent\"; known: message.status_updated, message.received"
        ),
        "{v}"
    );
    let (code, v) = s
        .post(
            &key,
            "/webhooks/endpoints",
            json!({"url": down.url, "events": "all"}),
        )
        .await;
    assert_eq!(code, 400, "{v}");

    // Listed without secrets; only to their account.
    let (code, v) = s.get(&key, "/webhooks/endpoints").await;
    assert_eq!(code, 200, "{v}");
    let listed = v["data"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(
        listed.iter().all(|e| e.get("signingSecret").is_none()),
        "{v}"
    );
    assert_eq!(listed[0]["id"], d["id"]);
    let (_, v) = s.get(&other, "/webhooks/endpoints").await;
    assert_eq!(v["data"], json!([]));
    let d_path = format!("/webhooks/endpoints/{}", d["id"].as_str().unwrap());
    let (code, _) = s.get(&other, &d_path).await;
    assert_eq!(code, 404);
    let (code, _) = request(&s, reqwest::Method::DELETE, &other, &d_path, None).await;
    assert_eq!(code, 404);
    let (code, _) = s.get(&other, &format!("{d_path}/deliveries")).await;
    assert_eq!(code, 404);
    let (code, v) = s.get(&key, &d_path).await;
    assert_eq!((code, &v["data"]["url"]), (200, &json!(down.url)), "{v}");
    assert!(v["data"].get("signingSecret").is_none());

    // One message reaches sent, delivered and read while `down` fails, `slow` hangs and `gone` answers 410.
    let (_, wamid) = send(&s, &key, "first").await;
    let now = chrono::Utc::now().timestamp();
    assert_eq!(s.meta_status(&wamid, "delivered", now).await, 200);
    assert_eq!(s.meta_status(&wamid, "read", now + 1).await, 200);
    let got = reference.wait(3, "reference").await;
    assert_eq!(statuses(&got), ["sent", "delivered", "read"]);
    check(&got, &reference_secret, "reference");

    // `down` is tried a few times (always its oldest event first), then comes back.
    let tried = down.wait(2, "down").await;
    assert!(
        tried
            .iter()
            .all(|h| h.status() == "sent" && h.id == tried[0].id),
        "{tried:?}"
    );
    down.set(Mode::Up);
    let mut back = Vec::new();
    for _ in 0..400 {
        back = down.hits();
        if back.last().is_some_and(|h| h.status() == "read") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    check(&back, &down_secret, "down");
    let mut distinct = statuses(&back);
    distinct.dedup();
    assert_eq!(
        distinct,
        ["sent", "delivered", "read"],
        "every event, in order, once back"
    );
    // The receiver counts a hit before the deliverer records the attempt it answered: wait for the record.
    let mut v = Value::Null;
    for _ in 0..80 {
        v = s
            .get(&key, &format!("{d_path}/deliveries?limit=50"))
            .await
            .1;
        if v["data"].as_array().unwrap().len() >= back.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let attempts = v["data"].as_array().unwrap();
    assert_eq!(attempts.len(), back.len(), "{v}");
    assert!(attempts.iter().all(|a| a["url"] == down.url.as_str()));
    assert!(attempts.iter().any(|a| a["httpStatus"] == 503));

    // 410: tried once, then disabled; later events are not sent there.
    let g_hits = gone.wait(1, "gone").await;
    assert_eq!(g_hits.len(), 1);
    let g_path = format!("/webhooks/endpoints/{}", g["id"].as_str().unwrap());
    let mut disabled = Value::Null;
    for _ in 0..200 {
        let (_, v) = s.get(&key, &g_path).await;
        if v["data"]["enabled"] == false {
            disabled = v["data"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        disabled["disabledReason"]
            .as_str()
            .is_some_and(|r| r.contains("410")),
        "{disabled}"
    );

    let (_, v) = s.get(&key, &format!("{g_path}/deliveries")).await;
    assert_eq!(v["data"][0]["httpStatus"], 410, "{v}");
    let gone_evt = v["data"][0]["eventId"].as_str().unwrap().to_owned();
    let (code, v) = s
        .post(
            &key,
            &format!("/webhooks/deliveries/{gone_evt}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(code, 409, "its endpoint is disabled: {v}");

    // The slow endpoint timed out; that never held up the others (they got everything above meanwhile).
    let sl_path = format!("/webhooks/endpoints/{}", sl["id"].as_str().unwrap());
    let mut failed = Vec::new();
    for _ in 0..400 {
        let (_, v) = s.get(&key, &format!("{sl_path}/deliveries")).await;
        failed = v["data"].as_array().unwrap().clone();
        if failed.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(failed.len(), 3, "three events, no retries: {failed:?}");
    assert!(failed.iter().all(|a| {
        a["httpStatus"].is_null()
            && a["error"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains("time")
    }));

    // Re-send one failed delivery: same webhook-id, now answered.
    slow.set(Mode::Up);
    let evt = failed.iter().find(|a| a["status"] == "sent").unwrap()["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let retry_path = format!("/webhooks/deliveries/{evt}/retry");
    let (code, _) = s.post(&other, &retry_path, json!({})).await;
    assert_eq!(code, 404, "another account's delivery");
    let (code, v) = s.post(&key, &retry_path, json!({})).await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"], json!({"eventId": evt, "queued": true}));
    let before = slow.hits().len();
    let resent = slow.wait(before + 1, "re-sent").await;
    let last = resent.last().unwrap();
    assert_eq!(last.id, evt);
    assert_eq!(last.status(), "sent");
    let mut answered = false;
    for _ in 0..200 {
        let (_, v) = s.get(&key, &format!("{sl_path}/deliveries")).await;
        if v["data"][0]["httpStatus"] == 200 {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(answered);
    let (code, v) = s.post(&key, &retry_path, json!({})).await;
    assert_eq!(code, 409, "delivered now: {v}");
    for bad in [
        "evt_nothex",
        "evt_0193c4f27a1e7c3b9a5d3f2e1d0c4b6b",
        "0193c4f2",
    ] {
        let (code, _) = s
            .post(
                &key,
                &format!("/webhooks/deliveries/{bad}/retry"),
                json!({}),
            )
            .await;
        assert_eq!(code, 404, "{bad}");
    }

    // A second message: the disabled endpoint gets nothing; the filter still keeps `inbound_only` out.
    let (_, _) = send(&s, &key, "second").await;
    reference.wait(4, "reference").await;
    down.wait(back.len() + 1, "down").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gone.hits().len(), 1, "disabled");
    assert!(
        inbound_only.hits().is_empty(),
        "subscribed to message.received only"
    );

    // The reference listing is as documented and holds every destination's attempts.
    let (code, v) = s.get(&key, "/auth/me/webhook/deliveries?limit=200").await;
    assert_eq!(code, 200);
    let all = v["data"].as_array().unwrap();
    for a in all {
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "at",
                "durationMs",
                "error",
                "event",
                "eventId",
                "httpStatus",
                "messageId",
                "status",
                "url"
            ]
        );
    }
    assert!(all.iter().any(|a| a["url"] == reference.url.as_str()));
    assert!(all.iter().any(|a| a["url"] == down.url.as_str()));
    let (_, v) = s.get(&other, "/auth/me/webhook/deliveries").await;
    assert_eq!(v["data"], json!([]), "nothing of another account");

    // Deleting an endpoint; the cap of 10.
    let f_path = format!("/webhooks/endpoints/{}", f["id"].as_str().unwrap());
    let (code, v) = request(&s, reqwest::Method::DELETE, &key, &f_path, None).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["deleted"], true);
    let (code, _) = s.get(&key, &f_path).await;
    assert_eq!(code, 404);
    for i in 0..7 {
        create(
            &s,
            &key,
            json!({"url": format!("{}?n={i}", inbound_only.url), "enabled": false}),
        )
        .await;
    }
    let (code, v) = s
        .post(
            &key,
            "/webhooks/endpoints",
            json!({"url": inbound_only.url}),
        )
        .await;
    assert_eq!(code, 409, "{v}");

    // Removing the reference webhook leaves the endpoints working.
    let (code, _) = request(&s, reqwest::Method::DELETE, &key, "/auth/me/webhook", None).await;
    assert_eq!(code, 200);
    let seen = down.hits().len();
    send(&s, &key, "third").await;
    down.wait(seen + 1, "down after the reference webhook was removed")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reference.hits().len(), 4);
    s.stop().await;
}

/// Each request is signed with `secret` and is a `kind` event.
fn check_kind(hits: &[Hit], secret: &str, kind: &str, what: &str) {
    for h in hits {
        assert!(
            verify(secret, &h.id, h.timestamp, &h.body, &h.signature),
            "{what}: signed with its own secret: {h:?}"
        );
        assert_eq!(h.json()["event"], kind, "{what}: {:?}", h.json());
    }
}

async fn patch(s: &TestServer, key: &str, path: &str, body: Value) -> (u16, Value) {
    request(s, reqwest::Method::PATCH, key, path, Some(body)).await
}

fn detail_fields(v: &Value) -> Vec<String> {
    v["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|x| x["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (bounded) until the endpoint at `path` reads `enabled == want`.
async fn wait_enabled(s: &TestServer, key: &str, path: &str, want: bool) -> Value {
    for _ in 0..400 {
        let (_, v) = s.get(key, path).await;
        if v["data"]["enabled"] == want {
            return v["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{path} never had enabled = {want}");
}

/// A customer writing in through the sandbox reaches, signed, the reference webhook and every endpoint taking
/// `message.received`, never one filtered to statuses; an endpoint that is down does not delay the others and
/// gets everything once back; one that answered 410 is turned back on with PATCH (validated field by field) and
/// receives the next events under its original secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_messages_reach_the_endpoints_that_take_them() {
    use whatsapi_sandbox::SandboxConfig;
    const CUSTOMER: &str = "14155552671";
    let s = TestServer::start_with(Options {
        webhook_timeout: TIMEOUT,
        sandbox: Some(SandboxConfig {
            open_numbers: true,
            service_window: true,
            ..Default::default()
        }),
        settings: common::sandbox_mode(),
        ..Options::default()
    })
    .await;
    let key = s.register("inbound-hooks@example.com").await;
    let other = s.register("other-inbound@example.com").await;

    let reference = Receiver::start(Mode::Up).await;
    let v = set_reference_webhook(&s, &key, reference.url.as_str()).await;
    let reference_secret = v["signingSecret"].as_str().unwrap().to_owned();
    let received = Receiver::start(Mode::Up).await;
    let statuses_only = Receiver::start(Mode::Up).await;
    let down = Receiver::start(Mode::Down).await;
    let gone = Receiver::start(Mode::Gone).await;
    let r = create(
        &s,
        &key,
        json!({"url": received.url, "events": ["message.received"]}),
    )
    .await;
    let received_secret = r["signingSecret"].as_str().unwrap().to_owned();
    let so = create(
        &s,
        &key,
        json!({"url": statuses_only.url, "events": ["message.status_updated"]}),
    )
    .await;
    let d = create(
        &s,
        &key,
        json!({"url": down.url, "retrySchedule": [1, 1, 1, 1, 1, 1, 1]}),
    )
    .await;
    let down_secret = d["signingSecret"].as_str().unwrap().to_owned();
    let g = create(
        &s,
        &key,
        json!({"url": gone.url, "events": ["message.received"]}),
    )
    .await;
    let gone_secret = g["signingSecret"].as_str().unwrap().to_owned();

    let write = |text: &'static str| {
        let (s, key) = (&s, &key);
        async move {
            let (code, v) = s
                .post(
                    key,
                    "/sandbox/inbound",
                    json!({"from": CUSTOMER, "text": text}),
                )
                .await;
            assert_eq!(code, 200, "{v}");
            v["data"]["wamid"].as_str().unwrap().to_owned()
        }
    };
    let first = write("Hi, is my order on its way?").await;

    let got = received.wait(1, "received").await;
    check_kind(&got, &received_secret, "message.received", "received");
    let data = &got[0].json()["data"];
    assert_eq!(data["wamid"], first.as_str(), "{data}");
    assert_eq!(data["from"], CUSTOMER, "{data}");
    assert_eq!(data["type"], "text", "{data}");
    let (_, listed) = s.get(&key, "/inbound").await;
    assert_eq!(
        data["id"], listed["data"][0]["id"],
        "the event names the stored message: {listed}"
    );
    // The business number it was sent to, as the listing shows it.
    assert!(data["to"].is_string(), "{data}");
    assert_eq!(data["to"], listed["data"][0]["to"], "{data}");
    assert_eq!(
        data["toDisplayPhoneNumber"], listed["data"][0]["toDisplayPhoneNumber"],
        "{data}"
    );
    assert!(
        serde_json::to_string(&data["content"])
            .unwrap()
            .contains("Hi, is my order on its way?"),
        "{data}"
    );
    let got = reference.wait(1, "reference").await;
    check_kind(&got, &reference_secret, "message.received", "reference");
    assert_eq!(got[0].json()["data"], *data, "the same data everywhere");

    // `down` keeps failing meanwhile; a second message still goes straight to the others.
    down.wait(2, "down fails and is retried").await;
    assert!(down.hits().iter().all(|h| h.id == down.hits()[0].id));
    let second = write("Hello again").await;
    let got = received.wait(2, "received, while down is down").await;
    assert_eq!(got[1].json()["data"]["wamid"], second.as_str());
    reference.wait(2, "reference").await;

    // 410: disabled; PATCH validates like create, then turns it back on.
    gone.wait(1, "gone").await;
    let g_path = format!("/webhooks/endpoints/{}", g["id"].as_str().unwrap());
    let off = wait_enabled(&s, &key, &g_path, false).await;
    assert!(
        off["disabledReason"].as_str().unwrap().contains("410"),
        "{off}"
    );
    let (code, v) = patch(
        &s,
        &key,
        &g_path,
        json!({"url": "ftp://x.example/", "events": ["message.sent"], "retrySchedule": [100000]}),
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(detail_fields(&v), ["url", "events", "retrySchedule"], "{v}");
    // A value of the wrong JSON type is named before anything else is checked.
    let (code, v) = patch(&s, &key, &g_path, json!({"enabled": "yes"})).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(detail_fields(&v), ["enabled"], "{v}");
    let (code, v) = patch(&s, &key, &g_path, json!({})).await;
    assert_eq!(
        (code, detail_fields(&v)),
        (400, vec!["body".to_owned()]),
        "{v}"
    );
    let (code, _) = patch(&s, &other, &g_path, json!({"enabled": true})).await;
    assert_eq!(code, 404, "another account's endpoint");
    let (code, _) = patch(
        &s,
        &key,
        "/webhooks/endpoints/0193c4f2-7a1e-7c3b-9a5d-3f2e1d0c4b6a",
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        wait_enabled(&s, &key, &g_path, false).await["disabledReason"],
        off["disabledReason"],
        "refused changes changed nothing"
    );
    gone.set(Mode::Up);
    let (code, v) = patch(
        &s,
        &key,
        &g_path,
        json!({"enabled": true, "retrySchedule": [1, 2]}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["enabled"], true);
    assert_eq!(v["data"]["disabledReason"], Value::Null);
    assert_eq!(v["data"]["retrySchedule"], json!([1, 2]));
    assert_eq!(v["data"]["events"], json!(["message.received"]));
    assert!(v["data"].get("signingSecret").is_none(), "{v}");

    let third = write("Thanks!").await;
    let back = gone.wait(2, "re-enabled").await;
    assert_eq!(back[1].json()["data"]["wamid"], third.as_str());
    check_kind(
        &back,
        &gone_secret,
        "message.received",
        "re-enabled, same secret",
    );
    received.wait(3, "received").await;
    reference.wait(3, "reference").await;

    // `down` comes back and gets every event it missed.
    down.set(Mode::Up);
    let mut wamids = Vec::new();
    for _ in 0..400 {
        let hits = down.hits();
        wamids = hits
            .iter()
            .map(|h| h.json()["data"]["wamid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        wamids.sort();
        wamids.dedup();
        if wamids.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut expected = vec![first.clone(), second.clone(), third.clone()];
    expected.sort();
    assert_eq!(wamids, expected, "every event once it is back");
    check_kind(&down.hits(), &down_secret, "message.received", "down");

    // The status-only endpoint never got an inbound message.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        statuses_only.hits().is_empty(),
        "{:?}",
        statuses_only.hits()
    );

    // Deliveries of non-message events: the type, and null messageId and status, fields present.
    let r_path = format!(
        "/webhooks/endpoints/{}/deliveries",
        r["id"].as_str().unwrap()
    );
    let (code, v) = s.get(&key, &r_path).await;
    assert_eq!(code, 200, "{v}");
    let attempts = v["data"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{v}");
    for a in attempts {
        assert_eq!(a["event"], "message.received", "{a}");
        assert_eq!(a["httpStatus"], 200, "{a}");
        for field in ["messageId", "status"] {
            assert!(a.get(field).is_some_and(Value::is_null), "{field}: {a}");
        }
    }
    let so_path = format!(
        "/webhooks/endpoints/{}/deliveries",
        so["id"].as_str().unwrap()
    );
    let (_, v) = s.get(&key, &so_path).await;
    assert_eq!(v["data"], json!([]));
    let (_, v) = s.get(&other, "/auth/me/webhook/deliveries").await;
    assert_eq!(v["data"], json!([]), "nothing of another account");
    s.stop().await;
}

/// Meta's template webhooks (status, quality, category) become `template.*` events at the endpoints taking them
/// and the reference webhook, in the order Meta reported them for the template, with camel-case data; an endpoint
/// filtered to statuses gets only its statuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_changes_reach_the_endpoints_that_take_them() {
    const WABA: &str = "102290129340398";
    let s = TestServer::start_with(Options {
        webhook_timeout: TIMEOUT,
        ..Options::default()
    })
    .await;
    let key = s
        .account_with_credentials("templates-hooks@example.com")
        .await;
    let (code, me) = s.get(&key, "/auth/me").await;
    assert_eq!(code, 200);
    let pnid = me["data"]["whatsappPhoneNumberId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(
            &json!({"whatsappAccessToken": "EAAtest", "whatsappPhoneNumberId": pnid,
                      "whatsappBusinessAccountId": WABA}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let reference = Receiver::start(Mode::Up).await;
    set_reference_webhook(&s, &key, reference.url.as_str()).await;
    let templates = Receiver::start(Mode::Up).await;
    let statuses_only = Receiver::start(Mode::Up).await;
    let t = create(
        &s,
        &key,
        json!({"url": templates.url, "events": ["template.status_updated", "template.quality_updated",
                                                "template.category_updated"]}),
    )
    .await;
    let t_secret = t["signingSecret"].as_str().unwrap().to_owned();
    let so = create(
        &s,
        &key,
        json!({"url": statuses_only.url, "events": ["message.status_updated"]}),
    )
    .await;
    let so_secret = so["signingSecret"].as_str().unwrap().to_owned();

    let long = "x".repeat(5000);
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": WABA, "time": 1711620000, "changes": [
            {"field": "message_template_status_update", "value": {
                "event": "REJECTED", "message_template_id": 594425479261596_u64,
                "message_template_name": "order_ready", "message_template_language": "en_US",
                "reason": "INCORRECT_CATEGORY", "unexpected": {"nested": [1, 2]}}},
            {"field": "message_template_quality_update", "value": {
                "previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
                "message_template_id": "594425479261596", "message_template_name": "order_ready",
                "message_template_language": "en_US"}},
            {"field": "template_category_update", "value": {
                "message_template_id": 594425479261596_u64, "message_template_name": long,
                "message_template_language": "en_US", "previous_category": "UTILITY", "new_category": "MARKETING"}}]}]});
    let raw = serde_json::to_vec(&body).unwrap();
    let sig = whatsapi_core::meta::sign(common::APP_SECRET.as_bytes(), &raw);
    let code = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(raw)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(code, 200);

    let got = templates.wait(3, "templates").await;
    let kinds: Vec<String> = got
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "template.status_updated",
            "template.quality_updated",
            "template.category_updated"
        ],
        "in the order Meta reported them"
    );
    for h in &got {
        assert!(verify(&t_secret, &h.id, h.timestamp, &h.body, &h.signature));
        assert_eq!(h.json()["timestamp"], "2024-03-28T10:00:00Z");
    }
    assert_eq!(
        got[0].json()["data"],
        json!({"templateId": "594425479261596", "name": "order_ready", "language": "en_US",
               "status": "REJECTED", "reason": "INCORRECT_CATEGORY", "at": "2024-03-28T10:00:00Z"})
    );
    assert_eq!(
        got[1].json()["data"],
        json!({"templateId": "594425479261596", "name": "order_ready", "language": "en_US",
               "previousQuality": "GREEN", "quality": "YELLOW", "at": "2024-03-28T10:00:00Z"})
    );
    let category = got[2].json()["data"].clone();
    assert_eq!(category["previousCategory"], "UTILITY");
    assert_eq!(category["newCategory"], "MARKETING");
    assert_eq!(category["correctCategory"], Value::Null);
    let name = category["name"].as_str().unwrap();
    assert!(
        name.len() < long.len() && name.len() >= 256,
        "a long name from Meta is cut: {}",
        name.len()
    );
    reference.wait(3, "reference").await;

    // The status-only endpoint got none of them, but does get a status.
    send(&s, &key, "hello").await;
    let hits = statuses_only.wait(1, "statuses only").await;
    check(&hits, &so_secret, "statuses only");
    assert_eq!(hits[0].status(), "sent");
    assert_eq!(
        templates.hits().len(),
        3,
        "no status event at the template endpoint"
    );
    let (_, v) = s.get(&key, "/auth/me/webhook/deliveries?limit=50").await;
    let kinds: std::collections::BTreeSet<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains("template.category_updated") && kinds.contains("message.status_updated"),
        "{v}"
    );
    s.stop().await;
}
