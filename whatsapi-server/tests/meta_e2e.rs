//! End to end over real HTTP on loopback: whatsapi server -> Graph transport -> whatsapi-sandbox (Meta) -> signed
//! status webhooks -> server -> signed customer webhooks -> a receiver.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_core::{EngineConfig, RetryPolicy};
use whatsapi_sandbox::{SandboxConfig, StatusDelays, magic};

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(r): State<Received>, headers: HeaderMap, body: String| async move {
                    r.lock().unwrap().push((headers, body));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A server on a sandbox with short delays and a fast retry policy, so every magic number settles quickly.
async fn server() -> TestServer {
    let mut options = Options::default();
    options.sandbox = Some(SandboxConfig {
        open_numbers: true,
        delays: StatusDelays {
            sent: Duration::from_millis(10),
            delivered: Duration::from_millis(30),
            read: Duration::from_millis(60),
        },
        slow_delay: Duration::from_millis(400),
        ..SandboxConfig::default()
    });
    options.engine = EngineConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(50),
            max_delay: Duration::from_millis(400),
            per_recipient_delay: Duration::from_millis(100),
            max_attempts: 6,
            ..RetryPolicy::default()
        },
        // Three 500s in a row would open the breaker at the default threshold; keep it out of the magic-number runs.
        breaker_threshold: 10,
        ..options.engine
    };
    TestServer::start_with(options).await
}

async fn send(s: &TestServer, key: &str, body: Value) -> String {
    let (code, v) = s.post(key, "/send-message", body).await;
    assert_eq!(code, 202, "{v}");
    v["data"]["id"].as_str().unwrap().to_owned()
}

/// The request the sandbox (Meta) received for our message `id` (matched by `biz_opaque_callback_data`).
fn received_by_meta(s: &TestServer, id: &str) -> whatsapi_sandbox::RecordedRequest {
    s.sandbox
        .as_ref()
        .unwrap()
        .sent()
        .into_iter()
        .find(|r| r.body["biz_opaque_callback_data"] == id)
        .expect("the sandbox received the send")
}

#[tokio::test]
async fn a_send_reaches_read_and_the_customer_gets_signed_events_in_order() {
    let s = server().await;
    let key = s.sandbox_account("e2e@example.com", "1234567890").await;
    let (code, v) = s
        .post(&key, "/auth/me/credentials/verify", Value::Null)
        .await;
    assert_eq!(code, 200);
    assert_eq!(v["data"]["valid"], true, "{v}");
    let (hook, received) = receiver().await;
    let r = s
        .client
        .put(s.url("/auth/me/webhook"))
        .bearer_auth(&key)
        .json(&json!({"url": hook}))
        .send()
        .await
        .unwrap();
    let secret = r.json::<Value>().await.unwrap()["data"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();

    let id = send(&s, &key, json!({"to": "14155552671", "template": {"name": "hello_world", "language": "en_US"}, "metadata": {"k": "v"}})).await;
    let m = s.wait_status(&key, &id, &["read"]).await;
    let timeline: Vec<&str> = m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, vec!["queued", "sent", "delivered", "read"]);
    assert!(m["deliveredAt"].is_string() && m["readAt"].is_string());

    // What Meta received is Meta's shape, with our id echoed for correlation.
    let sandbox = s.sandbox.as_ref().unwrap();
    let sent = sandbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body["template"],
        json!({"name": "hello_world", "language": {"code": "en_US"}})
    );
    assert_eq!(sent[0].body["biz_opaque_callback_data"], id.as_str());

    for _ in 0..200 {
        if received.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got = received.lock().unwrap().clone();
    let statuses: Vec<String> = got
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["data"]["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(statuses, vec!["sent", "delivered", "read"]);
    for (h, body) in &got {
        let ts: i64 = h["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        assert!(whatsapi_core::webhook_http::verify(
            &secret,
            h["webhook-id"].to_str().unwrap(),
            ts,
            body.as_bytes(),
            h["webhook-signature"].to_str().unwrap()
        ));
    }
    s.stop().await;
}

#[tokio::test]
async fn magic_numbers_end_in_their_documented_state() {
    let s = server().await;
    let key = s.sandbox_account("magic@example.com", "1234567890").await;
    let text = |to: &str| json!({"to": to, "message": "hello"});
    let template =
        |to: &str, name: &str| json!({"to": to, "template": {"name": name, "language": "en_US"}});

    let undeliverable = send(&s, &key, text(magic::UNDELIVERABLE)).await;
    let throttled = send(&s, &key, text(magic::THROUGHPUT_LIMIT)).await;
    let outside_window = send(&s, &key, text(magic::OUTSIDE_WINDOW)).await;
    let outside_window_template =
        send(&s, &key, template(magic::OUTSIDE_WINDOW, "hello_world")).await;
    let never_reads = send(&s, &key, text(magic::NEVER_READS)).await;
    let meta_down = send(&s, &key, text(magic::META_DOWN)).await;
    let out_of_order = send(&s, &key, text(magic::OUT_OF_ORDER)).await;
    let pair_limit = send(&s, &key, text(magic::PAIR_RATE_LIMIT)).await;
    let bad_template = send(&s, &key, template(magic::TEMPLATE_MISSING, "order_ready")).await;
    let slow = send(&s, &key, text(magic::SLOW)).await;

    let m = s.wait_status(&key, &undeliverable, &["failed"]).await;
    assert_eq!(m["errorCode"], 131026, "{m}");
    assert!(m["sentAt"].is_string(), "accepted first, failed by webhook");

    let m = s.wait_status(&key, &throttled, &["read"]).await;
    assert_eq!(
        s.sandbox
            .as_ref()
            .unwrap()
            .requests_for(magic::THROUGHPUT_LIMIT)
            .len(),
        3,
        "two 130429 answers, then success"
    );
    assert!(
        m["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["status"] == "retrying")
    );

    let m = s.wait_status(&key, &outside_window, &["failed"]).await;
    assert_eq!(m["errorCode"], 131047);
    let why = m["errorMessage"].as_str().unwrap();
    assert!(
        why.contains("24 hours") && why.contains("template"),
        "{why}"
    );
    s.wait_status(&key, &outside_window_template, &["read"])
        .await;

    s.wait_status(&key, &never_reads, &["delivered"]).await;
    s.wait_status(&key, &meta_down, &["read"]).await;
    let m = s.wait_status(&key, &out_of_order, &["read"]).await;
    assert!(
        m["deliveredAt"].is_string() && m["sentAt"].is_string(),
        "{m}"
    );
    s.wait_status(&key, &pair_limit, &["read"]).await;
    let m = s.wait_status(&key, &bad_template, &["failed"]).await;
    assert_eq!(m["errorCode"], 132001);
    s.wait_status(&key, &slow, &["read"]).await;

    // Never read: still delivered once every other message has been read.
    let (_, m) = s.get(&key, &format!("/messages/{never_reads}")).await;
    assert_eq!(m["data"]["status"], "delivered");
    assert_eq!(m["data"]["readAt"], Value::Null);
    s.stop().await;
}

#[tokio::test]
async fn forged_and_replayed_meta_webhooks_change_nothing() {
    let s = server().await;
    let key = s.sandbox_account("forge@example.com", "1234567890").await;
    let id = send(
        &s,
        &key,
        json!({"to": magic::NEVER_READS, "message": "hello"}),
    )
    .await;
    let before = s.wait_status(&key, &id, &["delivered"]).await;
    let wamid = before["wamid"].as_str().unwrap().to_owned();

    // A forged "read": right shape, wrong secret.
    let forged = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": "1234567890"},
        "statuses": [{"id": wamid, "status": "read", "timestamp": chrono::Utc::now().timestamp().to_string()}]}}]}]});
    let raw = serde_json::to_vec(&forged).unwrap();
    let r = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header(
            "x-hub-signature-256",
            whatsapi_core::meta::sign(b"guessed-secret", &raw),
        )
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "unsigned");

    // A replay of a genuine delivery receipt: accepted, and a no-op.
    let genuine = s
        .sandbox
        .as_ref()
        .unwrap()
        .webhook_deliveries()
        .into_iter()
        .find(|d| d.succeeded() && d.statuses().iter().any(|(_, st)| st == "delivered"))
        .expect("the sandbox delivered a receipt");
    let r = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header("x-hub-signature-256", genuine.signature.clone())
        .body(genuine.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, after) = s.get(&key, &format!("/messages/{id}")).await;
    assert_eq!(after["data"]["status"], "delivered");
    assert_eq!(after["data"]["timeline"], before["timeline"]);
    s.stop().await;
}

/// Every message type through the server, the Graph client and the sandbox: each reaches `read`, Meta received
/// exactly the documented object, and `GET /messages/:id` shows the content.
#[tokio::test]
async fn every_content_type_reaches_read_with_metas_documented_json() {
    let s = server().await;
    let key = s.sandbox_account("types@example.com", "1234567890").await;
    // (request fields, what Meta must receive under `type`, the type)
    let cases = [
        (
            json!({"image": {"link": "https://example.com/receipt.png", "caption": "Your receipt"}}),
            json!({"link": "https://example.com/receipt.png", "caption": "Your receipt"}),
            "image",
        ),
        (
            json!({"type": "video", "video": {"id": "1013859600285441", "caption": "How to"}}),
            json!({"id": "1013859600285441", "caption": "How to"}),
            "video",
        ),
        (
            json!({"audio": {"link": "https://example.com/voice.ogg"}}),
            json!({"link": "https://example.com/voice.ogg"}),
            "audio",
        ),
        (
            json!({"document": {"link": "https://example.com/invoice.pdf", "caption": "Invoice #1042", "filename": "invoice-1042.pdf"}}),
            json!({"link": "https://example.com/invoice.pdf", "caption": "Invoice #1042", "filename": "invoice-1042.pdf"}),
            "document",
        ),
        (
            json!({"sticker": {"id": "798882015472548"}}),
            json!({"id": "798882015472548"}),
            "sticker",
        ),
        (
            json!({"interactive": {"type": "button", "header": {"type": "text", "text": "Booking"},
                "body": {"text": "Confirm your booking?"}, "footer": {"text": "Reply by 6 pm"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                                       {"type": "reply", "reply": {"id": "no", "title": "No"}}]}}}),
            json!({"type": "button", "header": {"type": "text", "text": "Booking"},
                "body": {"text": "Confirm your booking?"}, "footer": {"text": "Reply by 6 pm"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                                       {"type": "reply", "reply": {"id": "no", "title": "No"}}]}}),
            "interactive",
        ),
        (
            json!({"interactive": {"type": "list", "body": {"text": "Pick a slot"},
                "action": {"button": "Slots", "sections": [
                    {"title": "Monday", "rows": [{"id": "mon-9", "title": "9:00", "description": "Morning"}]},
                    {"title": "Tuesday", "rows": [{"id": "tue-14", "title": "14:00"}]}]}}}),
            json!({"type": "list", "body": {"text": "Pick a slot"},
                "action": {"button": "Slots", "sections": [
                    {"title": "Monday", "rows": [{"id": "mon-9", "title": "9:00", "description": "Morning"}]},
                    {"title": "Tuesday", "rows": [{"id": "tue-14", "title": "14:00"}]}]}}),
            "interactive",
        ),
        (
            json!({"interactive": {"type": "cta_url", "header": {"type": "image", "image": {"link": "https://example.com/banner.png"}},
                "body": {"text": "See the dates"},
                "action": {"name": "cta_url", "parameters": {"display_text": "See Dates", "url": "https://example.com/dates"}}}}),
            json!({"type": "cta_url", "header": {"type": "image", "image": {"link": "https://example.com/banner.png"}},
                "body": {"text": "See the dates"},
                "action": {"name": "cta_url", "parameters": {"display_text": "See Dates", "url": "https://example.com/dates"}}}),
            "interactive",
        ),
        (
            json!({"location": {"latitude": 37.4847, "longitude": -122.1473, "name": "Head office", "address": "1 Hacker Way"}}),
            json!({"latitude": 37.4847, "longitude": -122.1473, "name": "Head office", "address": "1 Hacker Way"}),
            "location",
        ),
        (
            json!({"type": "contacts", "contacts": [
                {"name": {"formatted_name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace"},
                 "phones": [{"phone": "+1 415 555 2671", "type": "CELL", "wa_id": "14155552671"}],
                 "emails": [{"email": "ada@example.com", "type": "WORK"}],
                 "urls": [{"url": "https://example.com", "type": "WORK"}],
                 "addresses": [{"street": "1 Hacker Way", "city": "Menlo Park", "zip": "94025", "country_code": "US", "type": "WORK"}],
                 "org": {"company": "Engines", "title": "Engineer"}, "birthday": "1815-12-10"},
                {"name": {"formatted_name": "Bob <b>"}, "phones": [{"phone": "+447700900123"}]}]}),
            json!([
                {"name": {"formatted_name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace"},
                 "phones": [{"phone": "+1 415 555 2671", "type": "CELL", "wa_id": "14155552671"}],
                 "emails": [{"email": "ada@example.com", "type": "WORK"}],
                 "urls": [{"url": "https://example.com", "type": "WORK"}],
                 "addresses": [{"street": "1 Hacker Way", "city": "Menlo Park", "zip": "94025", "country_code": "US", "type": "WORK"}],
                 "org": {"company": "Engines", "title": "Engineer"}, "birthday": "1815-12-10"},
                {"name": {"formatted_name": "Bob <b>"}, "phones": [{"phone": "+447700900123"}]}]),
            "contacts",
        ),
        (
            json!({"reaction": {"message_id": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI", "emoji": "\u{1F44D}"}}),
            json!({"message_id": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI", "emoji": "\u{1F44D}"}),
            "reaction",
        ),
    ];
    let mut ids = Vec::new();
    for (n, (fields, _, _)) in cases.iter().enumerate() {
        let mut body = json!({"to": format!("1415555{:04}", 2700 + n), "metadata": {"case": n}});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        ids.push(send(&s, &key, body).await);
    }
    for (n, (id, (_, want, kind))) in ids.iter().zip(&cases).enumerate() {
        let m = s.wait_status(&key, id, &["read"]).await;
        let timeline: Vec<&str> = m["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            timeline,
            ["queued", "sent", "delivered", "read"],
            "{kind}: {m}"
        );
        assert_eq!(m["type"], *kind, "{m}");
        let got = received_by_meta(&s, id);
        assert!(got.accepted(), "{:?}", got.body);
        let body = got.body.as_object().unwrap();
        // The envelope, field by field, and nothing else beside the type's object.
        assert_eq!(body["messaging_product"], "whatsapp");
        assert_eq!(body["recipient_type"], "individual");
        assert_eq!(body["to"], format!("1415555{:04}", 2700 + n));
        assert_eq!(body["type"], *kind);
        assert_eq!(body[*kind], *want, "{kind}");
        assert_eq!(body.len(), 6, "{body:?}");
        // The message view shows what was sent.
        if *kind != "text" && *kind != "template" {
            assert_eq!(m["content"], *want, "{m}");
        }
    }
    let image = s.get(&key, &format!("/messages/{}", ids[0])).await.1;
    assert_eq!(image["data"]["caption"], "Your receipt");
    assert_eq!(
        image["data"]["media"]["link"],
        "https://example.com/receipt.png"
    );
    let video = s.get(&key, &format!("/messages/{}", ids[1])).await.1;
    assert_eq!(video["data"]["media"]["id"], "1013859600285441");
    let doc = s.get(&key, &format!("/messages/{}", ids[3])).await.1;
    assert_eq!(doc["data"]["media"]["filename"], "invoice-1042.pdf");
    let buttons = s.get(&key, &format!("/messages/{}", ids[5])).await.1;
    assert_eq!(
        buttons["data"]["interactive"],
        json!({"type": "button", "body": "Confirm your booking?", "options": ["Yes", "No"], "url": null})
    );
    let list = s.get(&key, &format!("/messages/{}", ids[6])).await.1;
    assert_eq!(
        list["data"]["interactive"]["options"],
        json!(["9:00", "14:00"])
    );
    let cta = s.get(&key, &format!("/messages/{}", ids[7])).await.1;
    assert_eq!(
        cta["data"]["interactive"]["url"],
        "https://example.com/dates"
    );
    let cards = s.get(&key, &format!("/messages/{}", ids[9])).await.1;
    assert_eq!(
        cards["data"]["contactNames"],
        json!(["Ada Lovelace", "Bob <b>"])
    );
    assert_eq!(image["data"]["contactNames"], Value::Null);
    // The list shows the same fields; text keeps its shape with the type added.
    let text = send(&s, &key, json!({"to": "14155552699", "message": "hi"})).await;
    let (_, listing) = s.get(&key, "/messages?limit=100").await;
    let rows = listing["data"]["messages"]
        .as_array()
        .or_else(|| listing["data"].as_array())
        .expect("a list");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {listing}"))
            .clone()
    };
    assert_eq!(row(&ids[8])["type"], "location");
    assert_eq!(row(&ids[8])["content"]["name"], "Head office");
    assert_eq!(row(&ids[9])["type"], "contacts");
    assert_eq!(row(&ids[9])["contactNames"][0], "Ada Lovelace");
    assert_eq!(row(&text)["type"], "text");
    assert_eq!(row(&text)["body"], "hi");
    assert_eq!(row(&text)["content"], Value::Null);
    s.stop().await;
}

/// A valid 1×1 PNG, uploaded for a template's image header.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Waits until the message is read, checks its timeline, and answers the body Meta received for it.
async fn read_and_received(s: &TestServer, key: &str, id: &str) -> serde_json::Map<String, Value> {
    let m = s.wait_status(key, id, &["read"]).await;
    let timeline: Vec<&str> = m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, ["queued", "sent", "delivered", "read"], "{m}");
    assert_eq!(m["type"], "template", "{m}");
    let got = received_by_meta(s, id);
    assert!(got.accepted(), "{:?}", got.body);
    got.body.as_object().unwrap().clone()
}

/// A template with every parameter type: an uploaded image header, text, currency and date/time in the body, and
/// URL, quick-reply, copy-code and flow buttons; then a location header. Meta receives exactly its documented JSON
/// and both messages are read.
#[tokio::test]
async fn templates_with_every_parameter_type_reach_meta_as_documented() {
    let s = server().await;
    let key = s
        .sandbox_account("template-types@example.com", "1234567890")
        .await;
    let part = reqwest::multipart::Part::bytes(PNG)
        .file_name("parcel.png")
        .mime_str("image/png")
        .unwrap();
    let upload = s
        .client
        .post(s.url("/media"))
        .bearer_auth(&key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 201);
    let uploaded: Value = upload.json().await.unwrap();
    let media_id = uploaded["data"]["id"].as_str().unwrap().to_owned();

    let components = json!([
        {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]},
        {"type": "body", "parameters": [
            {"type": "text", "text": "Sarah"},
            {"type": "currency", "currency": {"fallback_value": "$12.50", "code": "USD", "amount_1000": 12500}},
            {"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}}
        ]},
        // The reference API takes the index as a number or a string; Meta gets a string.
        {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "track/1042"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "STOP_PROMOS"}]},
        {"type": "button", "sub_type": "copy_code", "index": 2, "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]},
        {"type": "button", "sub_type": "flow", "index": 3, "parameters": [
            {"type": "action", "action": {"flow_token": "booking-1042", "flow_action_data": {"date": "2026-05-01"}}}
        ]}
    ]);
    let id = send(
        &s,
        &key,
        json!({"to": "14155552680", "template": {"name": "order_shipped", "language": "en_US", "components": components}}),
    )
    .await;
    let body = read_and_received(&s, &key, &id).await;
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["recipient_type"], "individual");
    assert_eq!(body["to"], "14155552680");
    assert_eq!(body["type"], "template");
    assert_eq!(body.len(), 6, "{body:?}");
    let t = body["template"].as_object().unwrap();
    assert_eq!(t["name"], "order_shipped");
    assert_eq!(t["language"], json!({"code": "en_US"}));
    assert_eq!(t.len(), 3, "{t:?}");
    let got = t["components"].as_array().unwrap();
    let want = [
        json!({"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]}),
        json!({"type": "body", "parameters": [
            {"type": "text", "text": "Sarah"},
            {"type": "currency", "currency": {"fallback_value": "$12.50", "code": "USD", "amount_1000": 12500}},
            {"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}}
        ]}),
        json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "track/1042"}]}),
        json!({"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "STOP_PROMOS"}]}),
        json!({"type": "button", "sub_type": "copy_code", "index": "2", "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]}),
        json!({"type": "button", "sub_type": "flow", "index": "3", "parameters": [
            {"type": "action", "action": {"flow_token": "booking-1042", "flow_action_data": {"date": "2026-05-01"}}}
        ]}),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }

    let located = send(
        &s,
        &key,
        json!({"to": "14155552681", "template": {"name": "pickup_point", "language": "en", "components": [
            {"type": "header", "parameters": [{"type": "location", "location": {
                "latitude": 37.483307, "longitude": -122.148981, "name": "Depot", "address": "1 Hacker Way"}}]},
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]}
        ]}}),
    )
    .await;
    let body = read_and_received(&s, &key, &located).await;
    assert_eq!(
        body["template"],
        json!({"name": "pickup_point", "language": {"code": "en"}, "components": [
            {"type": "header", "parameters": [{"type": "location", "location": {
                "latitude": 37.483307, "longitude": -122.148981, "name": "Depot", "address": "1 Hacker Way"}}]},
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]}
        ]})
    );

    // Refused before Meta, at the field's path: a caption on a template header.
    let (status, refused) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552682", "template": {"name": "order_shipped", "language": "en_US", "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id, "caption": "x"}}]}
            ]}}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("template.components[0].parameters[0].image.caption"),
        "{refused}"
    );
    s.stop().await;
}

/// Bulk, scheduling and idempotency apply to the new types as to text.
#[tokio::test]
async fn new_types_go_through_bulk_scheduling_and_idempotency() {
    let s = server().await;
    let key = s
        .sandbox_account("bulk-types@example.com", "1234567890")
        .await;
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": [
                {"to": "14155552680", "image": {"id": "42"}},
                {"to": "14155552681", "location": {"latitude": 200, "longitude": 0}},
                {"to": "14155552682", "interactive": {"type": "button", "body": {"text": "Q"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]}}},
                {"to": "14155552684", "contacts": [{"name": {"formatted_name": "Ada"}}]},
                {"to": "14155552685", "contacts": [{"name": {"first_name": "Ada"}}]},
            ]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["queued"], 3, "{v}");
    let errors = v["data"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{v}");
    assert_eq!(errors[0]["index"], 1);
    assert!(v.to_string().contains("location.latitude"), "{v}");
    assert_eq!(errors[1]["index"], 4);
    assert!(
        v.to_string().contains("contacts[0].name.formatted_name"),
        "{v}"
    );

    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552683", "sticker": {"id": "7"}, "sendAt": later}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["status"], "scheduled", "{v}");

    let keyed = |body: Value| {
        s.client
            .post(s.url("/send-message"))
            .bearer_auth(&key)
            .header("idempotency-key", "react-1")
            .json(&body)
            .send()
    };
    let react =
        json!({"to": "14155552684", "reaction": {"message_id": "wamid.A", "emoji": "\u{2764}"}});
    let first = keyed(react.clone()).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = keyed(react).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"]["id"], first["data"]["id"]);
    // Another emoji under the same key is another request.
    let other =
        keyed(json!({"to": "14155552684", "reaction": {"message_id": "wamid.A", "emoji": ""}}))
            .await
            .unwrap();
    assert_eq!(other.status(), 409, "{:?}", other.text().await);
    s.stop().await;
}

/// A reaction may name the message it reacts to by whatsapi id: Meta gets that message's wamid. Another
/// account's id, an unknown id, or a message without a wamid yet is refused at `reaction.message_id`.
#[tokio::test]
async fn a_reaction_by_whatsapi_id_reaches_meta_as_the_wamid() {
    let s = server().await;
    let key = s.sandbox_account("react@example.com", "1234567890").await;
    let other = s
        .sandbox_account("react-other@example.com", "1234567891")
        .await;
    let first = send(
        &s,
        &key,
        json!({"to": "14155552690", "message": "Your table is ready"}),
    )
    .await;
    let wamid = s
        .wait_status(&key, &first, &["sent", "delivered", "read"])
        .await["wamid"]
        .as_str()
        .unwrap()
        .to_owned();
    let reaction = send(
        &s,
        &key,
        json!({"to": "14155552690", "reaction": {"message_id": first, "emoji": "\u{1F44D}"}}),
    )
    .await;
    s.wait_status(&key, &reaction, &["read"]).await;
    let got = received_by_meta(&s, &reaction);
    assert_eq!(
        got.body["reaction"],
        json!({"message_id": wamid, "emoji": "\u{1F44D}"})
    );

    // Tenant-scoped: the other account cannot name this account's message.
    let (code, v) = s
        .post(
            &other,
            "/send-message",
            json!({"to": "14155552690", "reaction": {"message_id": first, "emoji": "\u{1F44D}"}}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "reaction.message_id", "{v}");
    assert!(
        v["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no message"),
        "{v}"
    );

    // Not sent yet: no wamid to react to.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let scheduled = send(
        &s,
        &key,
        json!({"to": "14155552691", "message": "later", "sendAt": later}),
    )
    .await;
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": [
                {"to": "14155552691", "reaction": {"message_id": scheduled, "emoji": "\u{2764}"}},
                {"to": "14155552691", "reaction": {"message_id": "wamid.GIVEN", "emoji": "\u{2764}"}},
            ]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["queued"], 1, "{v}");
    let error = &v["data"]["errors"][0];
    assert_eq!(error["index"], 0, "{v}");
    assert_eq!(error["details"][0]["field"], "reaction.message_id", "{v}");
    assert!(
        error["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no WhatsApp id yet"),
        "{v}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_username_recipient_is_sent_by_bsuid_and_its_events_carry_both_ids() {
    const USER: &str = "US.13491208655302741918";
    let s = server().await;
    let key = s.sandbox_account("bsuid@example.com", "1234567890").await;
    let (hook, received) = receiver().await;
    let r = s
        .client
        .put(s.url("/auth/me/webhook"))
        .bearer_auth(&key)
        .json(&json!({"url": hook}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Only the BSUID: Meta gets it in `recipient` and no `to`; views and events say `to: null`.
    let by_user = send(
        &s,
        &key,
        json!({"recipient": USER, "message": "Your order is ready"}),
    )
    .await;
    let m = s.wait_status(&key, &by_user, &["read"]).await;
    assert_eq!(m["to"], Value::Null, "{m}");
    assert_eq!(m["recipientUserId"], USER, "{m}");
    let body_of = |id: &str| received_by_meta(&s, id).body;
    let got = body_of(&by_user);
    assert_eq!(got["recipient"], USER);
    assert!(got.get("to").is_none(), "{got}");
    assert_eq!(got["recipient_type"], "individual");
    assert_eq!(got["text"]["body"], "Your order is ready");

    // Both: both reach Meta (which delivers by `to`), both are kept.
    let both = send(
        &s,
        &key,
        json!({"to": "14155552671", "recipient": USER, "template": {"name": "hello_world", "language": "en_US"}}),
    )
    .await;
    let m = s.wait_status(&key, &both, &["read"]).await;
    assert_eq!(
        (&m["to"], &m["recipientUserId"]),
        (&json!("14155552671"), &json!(USER))
    );
    let got = body_of(&both);
    assert_eq!(
        (&got["to"], &got["recipient"]),
        (&json!("14155552671"), &json!(USER))
    );

    // Customer events carry `to` (null when unknown) and `recipientUserId` for every status.
    let mut events = Vec::new();
    for _ in 0..200 {
        events = received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap())
            .collect::<Vec<_>>();
        if events.len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let of = |id: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["data"]["messageId"] == id)
            .map(|e| e["data"].clone())
            .collect()
    };
    let user_events = of(&by_user);
    assert_eq!(user_events.len(), 3, "{events:?}");
    for d in &user_events {
        assert_eq!(
            (&d["to"], &d["recipientUserId"]),
            (&Value::Null, &json!(USER)),
            "{d}"
        );
    }
    for d in of(&both) {
        assert_eq!(
            (&d["to"], &d["recipientUserId"]),
            (&json!("14155552671"), &json!(USER)),
            "{d}"
        );
    }

    // Meta refuses an authentication template for a user known only by BSUID (131062): failed at once, with
    // what to do instead, and no retry.
    let auth = send(
        &s,
        &key,
        json!({"recipient": USER, "template": {"name": "auth_code", "language": "en_US"}}),
    )
    .await;
    let m = s.wait_status(&key, &auth, &["failed"]).await;
    assert_eq!(m["errorCode"], 131062, "{m}");
    let why = m["errorMessage"].as_str().unwrap();
    assert!(
        why.contains("username") && why.contains("phone number"),
        "{why}"
    );
    assert_eq!(m["retryable"], false, "{m}");
    let statuses: Vec<&str> = m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "failed"], "{m}");

    // A BSUID-only user behaves like the magic number its id spells.
    let undeliverable = send(
        &s,
        &key,
        json!({"recipient": "US.15550000001", "message": "hi"}),
    )
    .await;
    let m = s.wait_status(&key, &undeliverable, &["failed"]).await;
    assert_eq!(m["errorCode"], 131026, "{m}");

    // Bulk takes `recipient` per item.
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": [{"recipient": USER, "message": "a"}, {"to": "14155552672", "message": "b"}]}),
        )
        .await;
    assert_eq!((code, &v["data"]["queued"]), (202, &json!(2)), "{v}");
    s.stop().await;
}

#[tokio::test]
async fn a_reply_quotes_its_message_by_wamid_at_meta() {
    let s = server().await;
    let key = s.sandbox_account("reply@example.com", "1234567890").await;
    let first = send(
        &s,
        &key,
        json!({"to": "14155552671", "message": "Your table is ready"}),
    )
    .await;
    let wamid = s
        .wait_status(&key, &first, &["sent", "delivered", "read"])
        .await["wamid"]
        .as_str()
        .unwrap()
        .to_owned();
    // By whatsapi id: resolved to the wamid when accepted.
    let reply = send(
        &s,
        &key,
        json!({"to": "14155552671", "message": "It is at the window", "context": {"message_id": first}}),
    )
    .await;
    let m = s.wait_status(&key, &reply, &["read"]).await;
    assert_eq!(m["context"], json!({"messageId": wamid}), "{m}");
    // By wamid (an inbound message's, say): kept as given; any type may be a reply.
    let image = send(
        &s,
        &key,
        json!({"to": "14155552671", "image": {"link": "https://example.com/map.png"},
               "context": {"message_id": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUZC"}}),
    )
    .await;
    s.wait_status(&key, &image, &["read"]).await;
    let body_of = |id: &str| received_by_meta(&s, id).body;
    assert_eq!(body_of(&reply)["context"], json!({"message_id": wamid}));
    assert_eq!(
        body_of(&image)["context"],
        json!({"message_id": "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUZC"})
    );
    assert!(body_of(&first).get("context").is_none());
    s.stop().await;
}

#[tokio::test]
async fn recipients_and_replies_are_validated_field_by_field() {
    let s = server().await;
    let key = s
        .sandbox_account("bad-bsuid@example.com", "1234567890")
        .await;
    for (body, field, needle) in [
        (
            json!({"to": "US.13491208655302741918", "message": "x"}),
            "to",
            "recipient",
        ),
        (
            json!({"recipient": "14155552671", "message": "x"}),
            "recipient",
            "send it as to",
        ),
        (
            json!({"recipient": "us.1349", "message": "x"}),
            "recipient",
            "US.13491208655302741918",
        ),
        (
            json!({"recipient": 42, "message": "x"}),
            "recipient",
            "string",
        ),
        (json!({"message": "x"}), "to", "recipient"),
        (
            json!({"to": "14155552671", "message": "x", "context": "wamid.X"}),
            "context",
            "message_id",
        ),
        (
            json!({"to": "14155552671", "message": "x", "context": {}}),
            "context.message_id",
            "required",
        ),
        (
            json!({"to": "14155552671", "message": "x", "context": {"message_id": " "}}),
            "context.message_id",
            "id of the message",
        ),
        (
            json!({"to": "14155552671", "message": "x", "context": {"message_id": "wamid.X", "from": "y"}}),
            "context.from",
            "unknown",
        ),
        (
            json!({"to": "14155552671", "reaction": {"message_id": "wamid.X", "emoji": "\u{1F44D}"},
                "context": {"message_id": "wamid.Y"}}),
            "context.message_id",
            "reaction",
        ),
    ] {
        let (code, v) = s.post(&key, "/send-message", body.clone()).await;
        assert_eq!(code, 400, "{body}: {v}");
        let d = v["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["field"] == field)
            .unwrap_or_else(|| panic!("{body}: no {field} in {v}"));
        assert!(
            d["message"].as_str().unwrap().contains(needle),
            "{body}: {d}"
        );
    }
    s.stop().await;
}
