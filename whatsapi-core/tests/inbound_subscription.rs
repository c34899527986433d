//! An embedding application receives its customers' messages without HTTP: it subscribes to inbound messages and
//! answers each one in context, in a task of its own. Duplicates Meta delivers reach it once.

use std::sync::Arc;
use std::time::Duration;

use whatsapi_core::service::MetaWebhookAuth;
use whatsapi_core::testing::{FakeTransport, MemoryStore, RecordingSink};
use whatsapi_core::{InboundContent, MetaCredentials, SendRequest, WhatsApi};

fn webhook(wamid: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001234", "phone_number_id": "1234567890"},
            "contacts": [{"profile": {"name": "Sarah"}, "wa_id": "14155552671"}],
            "messages": [{"from": "14155552671", "id": wamid, "timestamp": "1711620100", "type": "text",
                          "text": {"body": text}}]}}]}]}))
    .unwrap()
}

#[tokio::test]
async fn an_app_answers_each_inbound_message_once_in_context() {
    let transport = Arc::new(FakeTransport::new());
    let api = WhatsApi::builder()
        .store(Arc::new(MemoryStore::new()))
        .transport(transport.clone())
        .webhook_sink(Arc::new(RecordingSink::new()))
        .build()
        .unwrap();
    let engine = api.start();
    let account = api.create_account("Acme").await.unwrap();
    let account = api
        .set_credentials(account.id, MetaCredentials::new("EAAG", "1234567890"))
        .await
        .unwrap();

    // The app's responder: a reply to every text, quoting it.
    let mut inbound = api.subscribe_inbound();
    let responder = {
        let api = api.clone();
        let account = account.clone();
        tokio::spawn(async move {
            let mut answered = Vec::new();
            while let Ok(m) = inbound.recv().await {
                let InboundContent::Text { body } = &m.message.content else {
                    continue;
                };
                let to = m.message.reply_recipient().expect("a sender to answer");
                let reply = SendRequest::text(to, format!("You said: {body}"))
                    .reply_to(m.message.wamid.clone());
                api.send(&account, reply).await.expect("reply queued");
                answered.push(m.message.wamid.clone());
                if answered.len() == 2 {
                    return answered;
                }
            }
            answered
        })
    };

    let dev = MetaWebhookAuth {
        allow_unsigned: true,
        ..MetaWebhookAuth::default()
    };
    for (wamid, text) in [
        ("wamid.A", "hi"),
        ("wamid.A", "hi"),
        ("wamid.B", "where is my order?"),
    ] {
        api.ingest_meta_webhook(&webhook(wamid, text), dev)
            .await
            .unwrap();
    }
    let answered = tokio::time::timeout(Duration::from_secs(5), responder)
        .await
        .expect("the responder answered both")
        .unwrap();
    assert_eq!(
        answered,
        ["wamid.A", "wamid.B"],
        "the repeat of wamid.A reached the app once"
    );

    // Both replies reach Meta quoting the customer's message.
    let mut sent = Vec::new();
    for _ in 0..200 {
        sent = transport.sent();
        if sent.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut quoted: Vec<_> = sent
        .iter()
        .map(|m| m.message.reply_to.clone().unwrap())
        .collect();
    quoted.sort();
    assert_eq!(quoted, ["wamid.A", "wamid.B"]);
    engine.shutdown(Duration::from_secs(5)).await;
}
