//! Inbound messages end to end: the sandbox (as Meta) posts signed `messages[]` webhooks of every type to the
//! server, which stores each wamid once; `GET /inbound` pages and filters them, `GET /inbound/{id}` reads one,
//! `GET /media/{id}/content` streams a customer's media from the sandbox with the account's token, and
//! `POST /inbound/{id}/read` takes whatsapi's inbound id. Nothing is visible to another account.

mod common;

use common::{APP_SECRET, Options, TestServer};
use serde_json::{Value, json};
use whatsapi_sandbox::SandboxConfig;

const PNID: &str = "1234567890";
const CUSTOMER: &str = "14155552671";
const BSUID: &str = "US.13491208655302741918";

async fn sandboxed() -> (TestServer, String) {
    let s = TestServer::start_with(Options {
        sandbox: Some(SandboxConfig::default()),
        ..Default::default()
    })
    .await;
    let key = s.sandbox_account("inbound@example.com", PNID).await;
    (s, key)
}

async fn inbound(s: &TestServer, key: &str, query: &str) -> Value {
    let (code, v) = s.get(key, &format!("/inbound{query}")).await;
    assert_eq!(code, 200, "{query}: {v}");
    v
}

fn wamids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["wamid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_inbound_type_is_stored_once_listed_read_and_its_media_downloaded() {
    let (s, key) = sandboxed().await;
    let customers = s.sandbox.as_ref().unwrap().customers();

    // Before the account sent anything, a customer writes in; Meta delivers it twice.
    let first = customers
        .write(PNID, CUSTOMER, "Hi, is my order ready?")
        .await
        .unwrap();
    let again = customers
        .send(
            PNID,
            CUSTOMER,
            &json!({"id": first, "type": "text", "text": {"body": "Hi, is my order ready?"}}),
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    let list = inbound(&s, &key, "").await;
    assert_eq!(
        list["pagination"]["total"], 1,
        "a wamid delivered twice is stored once: {list}"
    );
    let text = &list["data"][0];
    assert_eq!(text["type"], "text");
    assert_eq!(text["from"], CUSTOMER);
    assert_eq!(text["profileName"], "Sandbox Customer");
    assert_eq!(
        text["content"],
        json!({"type": "text", "body": "Hi, is my order ready?"})
    );
    assert_eq!(text["replyToMessageId"], Value::Null);

    // We answer with buttons; the customer taps one, replying in context.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": CUSTOMER, "template": {"name": "hello_world", "language": "en_US"}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let ours = v["data"]["id"].as_str().unwrap().to_owned();
    let sent = s
        .wait_status(&key, &ours, &["sent", "delivered", "read"])
        .await;
    let our_wamid = sent["wamid"].as_str().unwrap().to_owned();
    let tap = customers
        .send(
            PNID,
            CUSTOMER,
            &json!({"context": {"from": PNID, "id": our_wamid}, "type": "button",
            "button": {"payload": "CONFIRM", "text": "Yes, confirm"}}),
        )
        .await
        .unwrap();

    // Every other type Meta sends.
    let png: &[u8] = b"\x89PNG\r\n\x1a\n customer photo bytes";
    let (image, media_id) = customers
        .send_media(
            PNID,
            CUSTOMER,
            "image",
            "image/png",
            png.to_vec(),
            Some("the receipt"),
        )
        .await
        .unwrap();
    let others = [
        json!({"type": "location", "location": {"latitude": 37.483307, "longitude": -122.148384,
            "name": "Meta Headquarters", "address": "1 Hacker Way, Menlo Park, CA 94025"}}),
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Barbara J. Johnson"},
            "phones": [{"phone": "+1 (940) 555-1234", "type": "HOME", "wa_id": "19405551234"}]}]}),
        json!({"context": {"from": PNID, "id": our_wamid}, "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}}),
        json!({"type": "interactive", "interactive": {"type": "list_reply",
            "list_reply": {"id": "express", "title": "Express", "description": "Next day"}}}),
        json!({"type": "interactive", "interactive": {"type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"rating\": \"5\"}"}}}),
        json!({"type": "reaction", "reaction": {"message_id": our_wamid, "emoji": "👍"}}),
        json!({"type": "order", "order": {"catalog_id": "194836987003835", "text": "asap",
            "product_items": [{"product_retailer_id": "sku-1", "quantity": 2, "item_price": 30, "currency": "USD"}]}}),
        json!({"type": "edit", "edit": {"original_message_id": first, "message": {"type": "text", "text": {"body": "Hi (edited)"}}}}),
        json!({"type": "revoke", "revoke": {"original_message_id": first}}),
        json!({"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown",
            "error_data": {"details": "Message type is currently not supported."}}], "unsupported": {"type": "poll"}}),
        json!({"type": "hologram", "hologram": {"depth": 3}}),
        json!({"type": "text", "text": {"body": "I saw your ad"}, "referral": {"source_url": "https://fb.me/ad",
            "source_type": "ad", "headline": "Spring sale", "ctwa_clid": "ARAkLk"}}),
    ];
    let mut other_wamids = Vec::new();
    for message in &others {
        other_wamids.push(customers.send(PNID, CUSTOMER, message).await.unwrap());
    }
    // A customer behind a username, and their BSUID change.
    let hidden = customers
        .send(
            PNID,
            BSUID,
            &json!({"type": "text", "text": {"body": "hello from a username"}}),
        )
        .await
        .unwrap();
    let system = customers
        .send(
            PNID,
            BSUID,
            &json!({"type": "system", "system": {"type": "user_changed_user_id",
            "body": "User changed their id", "previous_user_id": "US.1", "user_id": BSUID}}),
        )
        .await
        .unwrap();

    let all = inbound(&s, &key, "?limit=200").await;
    let total = 3 + others.len() + 2;
    assert_eq!(all["pagination"]["total"], total, "{all}");
    assert_eq!(wamids(&all)[0], system, "newest first");
    let by_wamid = |w: &str| {
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["wamid"] == w)
            .unwrap_or_else(|| panic!("{w} not listed"))
            .clone()
    };
    let tapped = by_wamid(&tap);
    assert_eq!(
        tapped["replyToMessageId"], ours,
        "the reply names our message"
    );
    assert_eq!(tapped["context"]["messageId"], our_wamid);
    assert_eq!(
        tapped["content"],
        json!({"type": "button", "payload": "CONFIRM", "text": "Yes, confirm"})
    );
    let kinds: Vec<Value> = other_wamids
        .iter()
        .map(|w| by_wamid(w)["content"]["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            "location",
            "contacts",
            "button_reply",
            "list_reply",
            "flow_reply",
            "reaction",
            "order",
            "edit",
            "revoke",
            "unsupported",
            "unsupported",
            "text"
        ]
    );
    let list_reply = by_wamid(&other_wamids[3]);
    assert_eq!(list_reply["content"]["description"], "Next day");
    assert_eq!(
        by_wamid(&other_wamids[4])["content"]["responseJson"],
        "{\"rating\": \"5\"}"
    );
    assert_eq!(
        by_wamid(&other_wamids[6])["content"]["items"][0]["productRetailerId"],
        "sku-1"
    );
    assert_eq!(
        by_wamid(&other_wamids[7])["content"]["message"],
        json!({"type": "text", "body": "Hi (edited)"})
    );
    assert_eq!(
        by_wamid(&other_wamids[9])["content"]["errors"][0]["code"],
        131051
    );
    let unknown = by_wamid(&other_wamids[10]);
    assert_eq!(unknown["type"], "hologram");
    assert_eq!(
        unknown["content"]["raw"]["hologram"],
        json!({"depth": 3}),
        "kept raw, as Meta wrote it"
    );
    assert_eq!(
        by_wamid(&other_wamids[11])["referral"]["ctwaClid"],
        "ARAkLk"
    );
    let hidden_view = by_wamid(&hidden);
    assert_eq!(
        (
            hidden_view["from"].clone(),
            hidden_view["fromUserId"].clone()
        ),
        (Value::Null, json!(BSUID))
    );
    let system_view = by_wamid(&system);
    assert_eq!(system_view["content"]["systemType"], "user_changed_user_id");
    assert_eq!(system_view["content"]["previousUserId"], "US.1");

    // Filters and pages.
    let interactive = inbound(&s, &key, "?type=interactive").await;
    assert_eq!(interactive["pagination"]["total"], 3);
    let by_user = inbound(&s, &key, &format!("?contact={BSUID}")).await;
    assert_eq!(wamids(&by_user), [system.clone(), hidden.clone()]);
    let by_phone = inbound(&s, &key, &format!("?contact=%2B{CUSTOMER}&type=text")).await;
    assert_eq!(by_phone["pagination"]["total"], 2, "{by_phone}");
    let page2 = inbound(&s, &key, "?limit=5&page=2").await;
    assert_eq!(wamids(&page2), wamids(&all)[5..10]);
    assert_eq!(
        page2["pagination"],
        json!({"page": 2, "limit": 5, "total": total, "totalPages": total.div_ceil(5)})
    );
    for bad in ["?type=Not-A-Type", "?limit=0", "?from=1"] {
        let (code, v) = s.get(&key, &format!("/inbound{bad}")).await;
        assert_eq!(code, 400, "{bad}: {v}");
    }

    // One message, and its media through the server.
    let image_view = by_wamid(&image);
    let id = image_view["id"].as_str().unwrap().to_owned();
    let (code, one) = s.get(&key, &format!("/inbound/{id}")).await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["data"], image_view);
    assert_eq!(one["data"]["content"]["id"], media_id);
    assert_eq!(one["data"]["content"]["mimeType"], "image/png");
    assert_eq!(one["data"]["content"]["caption"], "the receipt");
    let r = s
        .client
        .get(s.url(&format!("/media/{media_id}/content")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["content-disposition"], "attachment");
    assert_eq!(r.bytes().await.unwrap().as_ref(), png);
    let (code, v) = s.get(&key, "/media/999999999/content").await;
    assert_eq!(code, 404, "{v}");

    // Mark read by whatsapi's inbound id: Meta receives the wamid.
    let (code, v) = s
        .post(&key, &format!("/inbound/{id}/read"), json!({}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["data"],
        json!({"id": image, "read": true, "typingIndicator": false})
    );
    let reads = s.sandbox.as_ref().unwrap().reads();
    assert_eq!(reads.last().unwrap().body["message_id"], image);
    let (code, _) = s
        .post(
            &key,
            "/inbound/00000000-0000-0000-0000-000000000000/read",
            json!({}),
        )
        .await;
    assert_eq!(code, 404);

    // Another account sees none of it.
    let other = s
        .sandbox_account("other-inbound@example.com", "1234567891")
        .await;
    let (code, v) = s.get(&other, &format!("/inbound/{id}")).await;
    assert_eq!(
        (code, v["error"].clone()),
        (404, json!("Inbound message not found."))
    );
    let (code, _) = s
        .post(&other, &format!("/inbound/{id}/read"), json!({}))
        .await;
    assert_eq!(code, 404, "another account's inbound id is not resolved");
    assert_eq!(inbound(&s, &other, "").await["pagination"]["total"], 0);
    let (code, _) = s.get(&key, "/inbound/not-an-id").await;
    assert_eq!(code, 404);
    s.stop().await;
}

/// Meta's payload posted directly (signed with the server's app secret): several messages in one POST, one of
/// them twice, answered 200 and stored once each.
#[tokio::test]
async fn one_webhook_with_repeats_stores_each_wamid_once() {
    let s = TestServer::start().await;
    let key = s
        .account_with_credentials("inbound-direct@example.com")
        .await;
    let msg = |id: &str| {
        json!({"from": CUSTOMER, "id": id, "timestamp": "1711620100", "type": "sticker",
               "sticker": {"mime_type": "image/webp", "sha256": "abc", "id": "5551", "animated": true}})
    };
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001234",
                  "phone_number_id": common::PHONE_NUMBER_ID},
                  "contacts": [{"profile": {"name": "Sarah"}, "wa_id": CUSTOMER}],
                  "messages": [msg("wamid.S1"), msg("wamid.S2"), msg("wamid.S1")]}}]}]});
    for _ in 0..2 {
        let raw = serde_json::to_vec(&body).unwrap();
        let r = s
            .client
            .post(s.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                whatsapi_core::meta::sign(APP_SECRET.as_bytes(), &raw),
            )
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let list = inbound(&s, &key, "?type=sticker").await;
    assert_eq!(wamids(&list).len(), 2, "{list}");
    assert_eq!(list["data"][0]["content"]["animated"], true);
    assert_eq!(list["data"][0]["timestamp"], "2024-03-28T10:01:40Z");
    assert_eq!(list["data"][0]["profileName"], "Sarah");
    s.stop().await;
}

/// `POST /sandbox/inbound` takes any message type (`message`) and BSUID senders besides texts, and the message
/// lands in `GET /inbound`.
#[tokio::test]
async fn the_sandbox_control_route_sends_any_type() {
    let s = TestServer::start_with(Options {
        sandbox: Some(SandboxConfig {
            open_numbers: true,
            service_window: true,
            ..Default::default()
        }),
        settings: common::sandbox_mode(),
        ..Options::default()
    })
    .await;
    let key = s.register("control@example.com").await;
    let (code, v) = s
        .post(
            &key,
            "/sandbox/inbound",
            json!({"from": CUSTOMER, "text": "hi"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (v["data"]["type"].clone(), v["data"]["text"].clone()),
        (json!("text"), json!("hi"))
    );
    let (code, v) = s
        .post(&key, "/sandbox/inbound", json!({"from": BSUID,
            "message": {"type": "location", "location": {"latitude": 52.52, "longitude": 13.405, "name": "Berlin"}}}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (v["data"]["type"].clone(), v["data"]["text"].clone()),
        (json!("location"), Value::Null)
    );
    let wamid = v["data"]["wamid"].as_str().unwrap().to_owned();
    let list = inbound(&s, &key, &format!("?contact={BSUID}")).await;
    assert_eq!(wamids(&list), [wamid]);
    assert_eq!(list["data"][0]["content"]["name"], "Berlin");
    assert_eq!(list["data"][0]["content"]["latitude"], 52.52);
    for (body, field) in [
        (
            json!({"from": CUSTOMER, "text": "hi", "message": {"type": "text", "text": {"body": "x"}}}),
            "message",
        ),
        (
            json!({"from": CUSTOMER, "message": {"location": {}}}),
            "message",
        ),
        (json!({"from": CUSTOMER, "message": "hello"}), "message"),
        (json!({"from": "US.", "text": "hi"}), "from"),
    ] {
        let (code, v) = s.post(&key, "/sandbox/inbound", body.clone()).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert_eq!(v["details"][0]["field"], field, "{body}: {v}");
    }
    s.stop().await;
}
