//! Inbound messages on an account with two business numbers: each message the sandbox (as Meta) posts to one of
//! them is stored with the number it was sent to (`to`, `toDisplayPhoneNumber`), `GET /inbound?to=` lists one
//! number's messages, and the read receipt and a reply without `from` go out on the number the customer wrote to,
//! with that number's own token (the sandbox refuses a number's id with another number's token).

mod common;

use common::{Options, TestServer};
use serde_json::{Value, json};
use whatsapi_sandbox::{SandboxConfig, SandboxNumber};

const DEFAULT: &str = "1234567890";
const SECOND: &str = "5550002222";
const CUSTOMER: &str = "14155552671";

async fn two_numbers() -> (TestServer, String) {
    let s = TestServer::start_with(Options {
        sandbox: Some(SandboxConfig {
            phone_numbers: vec![
                SandboxNumber::default(),
                SandboxNumber {
                    id: SECOND.into(),
                    display_phone_number: "+1 555-000-2222".into(),
                    verified_name: "Whatsapi Support".into(),
                    access_token: "second-number-token".into(),
                    ..SandboxNumber::default()
                },
            ],
            ..SandboxConfig::default()
        }),
        ..Default::default()
    })
    .await;
    let key = s.sandbox_account("two-numbers@example.com", DEFAULT).await;
    let (code, v) = s
        .post(
            &key,
            "/numbers",
            json!({"whatsappPhoneNumberId": SECOND, "whatsappAccessToken": "second-number-token"}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    (s, key)
}

async fn inbound(s: &TestServer, key: &str, query: &str) -> Value {
    let (code, v) = s.get(key, &format!("/inbound{query}")).await;
    assert_eq!(code, 200, "{query}: {v}");
    v
}

fn wamids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["wamid"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn each_number_keeps_its_messages_and_answers_them_itself() {
    let (s, key) = two_numbers().await;
    let sb = s.sandbox.as_ref().unwrap();
    let customers = sb.customers();
    let to_default = customers
        .write(DEFAULT, CUSTOMER, "to the sales line")
        .await
        .unwrap();
    let to_second = customers
        .write(SECOND, CUSTOMER, "to the support line")
        .await
        .unwrap();

    // Each is stored with the number it was sent to, as Meta's metadata named it.
    let all = inbound(&s, &key, "").await;
    assert_eq!(wamids(&all), [to_second.as_str(), to_default.as_str()]);
    let numbers: Vec<(&Value, &Value)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (&m["to"], &m["toDisplayPhoneNumber"]))
        .collect();
    assert_eq!(
        numbers,
        [
            (&json!(SECOND), &json!("15550002222")),
            (&json!(DEFAULT), &json!("15550001234"))
        ],
        "{all}"
    );
    let second_id = all["data"][0]["id"].as_str().unwrap().to_owned();
    let (code, one) = s.get(&key, &format!("/inbound/{second_id}")).await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["data"]["to"], SECOND);
    assert_eq!(one["data"]["toDisplayPhoneNumber"], "15550002222");

    // Listed by number, alone or with the other filters.
    let on_second = inbound(&s, &key, &format!("?to={SECOND}")).await;
    assert_eq!(wamids(&on_second), [to_second.as_str()]);
    assert_eq!(on_second["pagination"]["total"], 1);
    let on_default = inbound(
        &s,
        &key,
        &format!("?to={DEFAULT}&contact=%2B{CUSTOMER}&type=text"),
    )
    .await;
    assert_eq!(wamids(&on_default), [to_default.as_str()]);
    assert_eq!(
        inbound(&s, &key, "?to=999000999").await["pagination"]["total"],
        0
    );
    for bad in [
        "?to=%2B15550002222",
        "?to=abc",
        &format!("?to={}", "1".repeat(33)),
    ] {
        let (code, v) = s.get(&key, &format!("/inbound{bad}")).await;
        assert_eq!(code, 400, "{bad}: {v}");
        assert_eq!(v["details"][0]["field"], "to", "{bad}: {v}");
    }

    // Read receipts go out on the number that received the message, with its token: by whatsapi's id and by wamid.
    let read = |reference: String| {
        let (s, key) = (&s, &key);
        async move {
            let (code, v) = s
                .post(key, &format!("/inbound/{reference}/read"), json!({}))
                .await;
            assert_eq!(code, 200, "{reference}: {v}");
            let last = sb.reads().last().cloned().unwrap();
            assert_eq!(last.http_status, 200, "{last:?}");
            (last.phone_number_id, last.body["message_id"].clone())
        }
    };
    assert_eq!(
        read(second_id.clone()).await,
        (SECOND.into(), json!(to_second))
    );
    assert_eq!(
        read(to_second.clone()).await,
        (SECOND.into(), json!(to_second))
    );
    assert_eq!(
        read(to_default.clone()).await,
        (DEFAULT.into(), json!(to_default))
    );

    // A reply naming no `from` goes out on the number the customer wrote to, and says so.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": CUSTOMER, "message": "We are on it", "context": {"message_id": to_second}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let reply = v["data"]["id"].as_str().unwrap().to_owned();
    let sent = s
        .wait_status(&key, &reply, &["sent", "delivered", "read"])
        .await;
    assert_eq!(sent["from"], SECOND, "{sent}");
    let out = sb.requests_for(CUSTOMER);
    let last = out.last().unwrap();
    assert_eq!(last.phone_number_id, SECOND);
    assert_eq!(last.body["context"]["message_id"], json!(to_second));
    // On the default number, nothing changes: `from` stays null.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": CUSTOMER, "message": "Sales here", "context": {"message_id": to_default}}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let reply = v["data"]["id"].as_str().unwrap().to_owned();
    let sent = s
        .wait_status(&key, &reply, &["sent", "delivered", "read"])
        .await;
    assert_eq!(sent["from"], Value::Null, "{sent}");
    assert_eq!(
        sb.requests_for(CUSTOMER).last().unwrap().phone_number_id,
        DEFAULT
    );

    // Disconnected, the number keeps its messages but can no longer mark them read.
    let r = s
        .client
        .delete(s.url(&format!("/numbers/{SECOND}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reads = sb.reads().len();
    let (code, v) = s
        .post(&key, &format!("/inbound/{second_id}/read"), json!({}))
        .await;
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("no longer connected"),
        "{v}"
    );
    assert_eq!(sb.reads().len(), reads, "nothing went to Meta");
    assert_eq!(
        wamids(&inbound(&s, &key, &format!("?to={SECOND}")).await),
        [to_second.as_str()]
    );
    s.stop().await;
}

/// Meta's metadata may lack the display number (or write the id as a number): the signed notification is still
/// answered 200 and the message stored, with what was given.
#[tokio::test]
async fn metadata_without_a_display_number_is_taken() {
    let (s, key) = two_numbers().await;
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": 5550002222_u64},
                  "contacts": [{"profile": {"name": "Sarah"}, "wa_id": CUSTOMER}],
                  "messages": [{"from": CUSTOMER, "id": "wamid.NO_DISPLAY", "timestamp": "1711620100",
                                "type": "text", "text": {"body": "hi"}}]}}]}]});
    let raw = serde_json::to_vec(&body).unwrap();
    // With a sandbox, the server verifies Meta's webhooks with the sandbox's app secret.
    let secret = s.sandbox.as_ref().unwrap().config().app_secret.clone();
    let r = s
        .client
        .post(s.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            whatsapi_core::meta::sign(secret.as_bytes(), &raw),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list = inbound(&s, &key, &format!("?to={SECOND}")).await;
    assert_eq!(wamids(&list), ["wamid.NO_DISPLAY"]);
    assert_eq!(list["data"][0]["to"], SECOND);
    assert_eq!(list["data"][0]["toDisplayPhoneNumber"], Value::Null);
    s.stop().await;
}

/// In `--sandbox` mode, `POST /sandbox/inbound` takes `to`: which of the account's numbers the customer writes to.
#[tokio::test]
async fn the_sandbox_customer_writes_to_the_number_asked_for() {
    let s = TestServer::start_with(Options {
        sandbox: Some(SandboxConfig {
            open_numbers: true,
            ..SandboxConfig::default()
        }),
        settings: common::sandbox_mode(),
        ..Options::default()
    })
    .await;
    let key = s.register("sandbox-two-numbers@example.com").await;
    let extra = "5551230077";
    let (code, v) = s
        .post(&key, "/numbers", json!({"whatsappPhoneNumberId": extra}))
        .await;
    assert_eq!(code, 201, "{v}");
    let (code, v) = s
        .post(
            &key,
            "/sandbox/inbound",
            json!({"from": CUSTOMER, "text": "to the extra number", "to": extra}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["phoneNumberId"], extra, "{v}");
    let wamid = v["data"]["wamid"].as_str().unwrap().to_owned();
    let (code, v) = s
        .post(
            &key,
            "/sandbox/inbound",
            json!({"from": CUSTOMER, "text": "to the default number"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let default = v["data"]["phoneNumberId"].as_str().unwrap().to_owned();
    assert_ne!(default, extra);
    let listed = inbound(&s, &key, &format!("?to={extra}")).await;
    assert_eq!(wamids(&listed), [wamid.as_str()]);
    assert_eq!(
        inbound(&s, &key, &format!("?to={default}")).await["pagination"]["total"],
        1
    );
    // Only the account's own numbers; anything else names the field.
    let other = s.register("sandbox-other@example.com").await;
    let (_, v) = s.get(&other, "/numbers").await;
    let theirs = v["data"][0]["phoneNumberId"].as_str().unwrap().to_owned();
    for bad in [json!("999000999"), json!("+1555"), json!(12), json!(theirs)] {
        let (code, v) = s
            .post(
                &key,
                "/sandbox/inbound",
                json!({"from": CUSTOMER, "text": "hi", "to": bad}),
            )
            .await;
        assert_eq!(code, 400, "{bad}: {v}");
        assert_eq!(v["details"][0]["field"], "to", "{bad}: {v}");
    }
    s.stop().await;
}
