//! whatsapi-core's Graph client against the sandbox: what it sends is accepted, and every answer and error is
//! parsed and classified the way the engine relies on.

mod common;

use std::time::Duration;

use common::*;
use whatsapi_core::graph::{GraphConfig, GraphTransport, message_body};
use whatsapi_core::message::{
    ButtonSubType, CurrencyParameter, MediaParameter, TemplateComponent, TemplateParameter,
};
use whatsapi_core::retry::classify;
use whatsapi_core::status::MetaStatus;
use whatsapi_core::{
    ErrorClass, MessageContent, MessageId, MetaCredentials, MetaTransport, OutgoingMessage,
    PhoneNumber, SendError, Template,
};
use whatsapi_sandbox::magic::{self, HELLO_WORLD, HELLO_WORLD_LANGUAGE};
use whatsapi_sandbox::{SandboxConfig, SandboxHandle};

fn transport(sb: &SandboxHandle, timeout: Duration) -> GraphTransport {
    GraphTransport::new(GraphConfig {
        base_url: sb.base_url(),
        timeout,
        // The version the server uses by default.
        ..GraphConfig::default()
    })
    .unwrap()
}

fn creds(token: &str, pnid: &str) -> MetaCredentials {
    MetaCredentials {
        access_token: token.to_owned(),
        phone_number_id: pnid.to_owned(),
        app_secret: Some(SECRET.to_owned()),
        verify_token: None,
        waba_id: None,
        verify_token_hash: None,
        throughput_per_second: None,
    }
}

fn text_to(to: &str) -> OutgoingMessage {
    OutgoingMessage {
        message_id: MessageId::new(),
        to: PhoneNumber::parse(to).unwrap().into(),
        reply_to: None,
        content: MessageContent::Text {
            body: "Your order is ready".into(),
        },
    }
}

fn template_to(to: &str, name: &str, components: Vec<TemplateComponent>) -> OutgoingMessage {
    OutgoingMessage {
        message_id: MessageId::new(),
        to: PhoneNumber::parse(to).unwrap().into(),
        reply_to: None,
        content: MessageContent::Template(Template {
            name: name.into(),
            language: HELLO_WORLD_LANGUAGE.into(),
            components,
        }),
    }
}

fn order_receipt_components() -> Vec<TemplateComponent> {
    vec![
        TemplateComponent::Header {
            parameters: vec![TemplateParameter::Image {
                image: MediaParameter {
                    link: Some("https://example.com/receipt.png".into()),
                    id: None,
                    filename: None,
                    caption: None,
                },
            }],
        },
        TemplateComponent::Body {
            parameters: vec![
                TemplateParameter::text("Sarah"),
                TemplateParameter::Currency {
                    currency: CurrencyParameter {
                        fallback_value: "$12.50".into(),
                        code: "USD".into(),
                        amount_1000: 12_500,
                    },
                },
            ],
        },
        TemplateComponent::Button {
            sub_type: ButtonSubType::QuickReply,
            index: 0,
            parameters: vec![TemplateParameter::Payload {
                payload: "PICKED_UP".into(),
            }],
        },
    ]
}

async fn send_err(t: &GraphTransport, msg: &OutgoingMessage) -> SendError {
    t.send(&creds(TOKEN, PNID), msg).await.unwrap_err()
}

#[tokio::test]
async fn text_and_template_sends_round_trip() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig::default()).await;
    let t = transport(&sb, Duration::from_secs(5));
    let c = creds(TOKEN, PNID);

    let text = text_to("14155552671");
    let receipt = t.send(&c, &text).await.unwrap();
    assert!(receipt.wamid.starts_with("wamid."));
    assert_eq!(receipt.wa_id.as_deref(), Some("14155552671"));

    let tpl = template_to("14155552672", "order_receipt", order_receipt_components());
    let tpl_receipt = t.send(&c, &tpl).await.unwrap();
    assert_ne!(tpl_receipt.wamid, receipt.wamid);

    // The sandbox received exactly what the client builds.
    let sent = sb.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body, message_body(&text));
    assert_eq!(sent[1].body, message_body(&tpl));
    assert_eq!(sent[1].wamid.as_deref(), Some(tpl_receipt.wamid.as_str()));

    // Status webhooks carry our message id back, and core parses them.
    let statuses = rx.wait_statuses(&receipt.wamid, 3).await;
    assert_eq!(
        statuses.iter().map(|s| s.status).collect::<Vec<_>>(),
        [MetaStatus::Sent, MetaStatus::Delivered, MetaStatus::Read]
    );
    let our_id = text.message_id.to_string();
    assert!(
        statuses
            .iter()
            .all(|s| s.callback_data.as_deref() == Some(our_id.as_str()))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn verify_credentials() {
    let sb = whatsapi_sandbox::Sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let t = transport(&sb, Duration::from_secs(5));
    let info = t.verify(&creds(TOKEN, PNID)).await.unwrap();
    assert_eq!(info.id, PNID);
    assert_eq!(info.verified_name, "Whatsapi Sandbox");
    assert_eq!(info.display_phone_number, "+1 555-000-1234");
    assert_eq!(info.quality_rating.as_deref(), Some("GREEN"));
    assert_eq!(info.throughput_level.as_deref(), Some("STANDARD"));
    assert_eq!(info.on_business_app, Some(false));
    assert_eq!(whatsapi_core::numbers::rate_of_throughput(&info), Some(80));

    let e = t.verify(&creds("expired", PNID)).await.unwrap_err();
    assert_eq!((e.http_status, e.code), (Some(401), Some(190)));
    assert_eq!(e.class(), ErrorClass::Credentials);
    assert!(e.fbtrace_id.is_some());

    let e = t.verify(&creds(TOKEN, "987654321")).await.unwrap_err();
    assert_eq!(
        (e.http_status, e.code, e.subcode),
        (Some(400), Some(100), Some(33))
    );
    assert!(e.message.contains("'987654321' does not exist"));
    // A wrong or inaccessible phone number id is a credentials problem.
    assert_eq!(e.class(), ErrorClass::Credentials);
    sb.shutdown().await;
}

#[tokio::test]
async fn errors_parse_and_classify() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig::default()).await;
    let t = transport(&sb, Duration::from_secs(5));

    // Bad token on send: credentials.
    let e = t
        .send(&creds("revoked", PNID), &text_to("14155552671"))
        .await
        .unwrap_err();
    assert_eq!((e.http_status, e.code), (Some(401), Some(190)));
    assert_eq!(e.class(), ErrorClass::Credentials);

    // 131026 never comes synchronously: the send succeeds and the failure arrives by webhook.
    let undeliverable = text_to(magic::UNDELIVERABLE);
    let receipt = t.send(&creds(TOKEN, PNID), &undeliverable).await.unwrap();
    let failed = rx.wait_statuses(&receipt.wamid, 1).await;
    assert_eq!(failed[0].status, MetaStatus::Failed);
    let failure = failed[0].error.as_ref().unwrap();
    assert_eq!(failure.code, Some(131026));
    assert_eq!(classify(None, failure.code), ErrorClass::Permanent);
    assert_eq!(
        failed[0].callback_data,
        Some(undeliverable.message_id.to_string())
    );

    // 130429: transient, and no Retry-After hint.
    for _ in 0..2 {
        let e = send_err(&t, &text_to(magic::THROUGHPUT_LIMIT)).await;
        assert_eq!((e.http_status, e.code), (Some(400), Some(130429)));
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(e.retry_after, None);
        assert!(e.details.is_some());
    }
    t.send(&creds(TOKEN, PNID), &text_to(magic::THROUGHPUT_LIMIT))
        .await
        .unwrap();

    // 131047: permanent, with the template hint; a template goes through.
    let e = send_err(&t, &text_to(magic::OUTSIDE_WINDOW)).await;
    assert_eq!(e.code, Some(131047));
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(e.user_message().contains("send an approved template"));
    t.send(
        &creds(TOKEN, PNID),
        &template_to(magic::OUTSIDE_WINDOW, HELLO_WORLD, vec![]),
    )
    .await
    .unwrap();

    // 131000 on HTTP 500: transient.
    let e = send_err(&t, &text_to(magic::META_DOWN)).await;
    assert_eq!((e.http_status, e.code), (Some(500), Some(131000)));
    assert_eq!(e.class(), ErrorClass::Transient);

    // 131056: retry this recipient later.
    let e = send_err(&t, &text_to(magic::PAIR_RATE_LIMIT)).await;
    assert_eq!(e.code, Some(131056));
    assert_eq!(e.class(), ErrorClass::PerRecipient);

    // 132001: permanent, details name the template.
    let e = send_err(
        &t,
        &template_to(
            magic::TEMPLATE_MISSING,
            "order_receipt",
            order_receipt_components(),
        ),
    )
    .await;
    assert_eq!((e.http_status, e.code), (Some(404), Some(132001)));
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(e.user_message().contains("order_receipt"));
    sb.shutdown().await;
}

#[tokio::test]
async fn slow_answer_times_out_but_the_message_was_sent() {
    let (sb, rx) = sandbox_with_receiver(SandboxConfig {
        slow_delay: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await;
    let t = transport(&sb, Duration::from_millis(100));
    let msg = text_to(magic::SLOW);
    let e = t.send(&creds(TOKEN, PNID), &msg).await.unwrap_err();
    assert_eq!(e.http_status, None);
    assert!(e.message.contains("timed out"), "{}", e.message);
    assert_eq!(e.class(), ErrorClass::Transient);
    // The engine must expect this: the status webhooks of the "failed" send still arrive.
    rx.wait_until("statuses of the timed-out send", |r| {
        r.statuses()
            .iter()
            .any(|s| s.callback_data == Some(msg.message_id.to_string()))
    })
    .await;
    sb.shutdown().await;
}

#[tokio::test]
async fn templates_are_listed_page_by_page_with_metas_errors() {
    let sb = whatsapi_sandbox::Sandbox::start(SandboxConfig {
        max_template_page: 3,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let t = transport(&sb, Duration::from_secs(5));
    let c = creds(TOKEN, PNID);
    let waba = sb.config().waba_id.clone();
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = t.list_templates(&c, &waba, after.as_deref()).await.unwrap();
        pages += 1;
        names.extend(page.templates.iter().map(|t| t.name.clone()));
        match page.after {
            Some(a) => after = Some(a),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), whatsapi_sandbox::templates::TEMPLATES.len());
    assert_eq!(names[0], HELLO_WORLD);
    // A wrong token is 190, another WABA 100 (unknown object), a bad cursor 100; a non-numeric id never leaves.
    let e = t
        .list_templates(&creds("wrong", PNID), &waba, None)
        .await
        .unwrap_err();
    assert_eq!(e.code, Some(190), "{e:?}");
    let e = t.list_templates(&c, "999", None).await.unwrap_err();
    assert_eq!((e.http_status, e.code), (Some(400), Some(100)), "{e:?}");
    let e = t
        .list_templates(&c, &waba, Some("bogus"))
        .await
        .unwrap_err();
    assert_eq!(e.code, Some(100), "{e:?}");
    let e = t.list_templates(&c, "../me", None).await.unwrap_err();
    assert!(e.message.contains("numeric"), "{e:?}");
    sb.shutdown().await;
}

/// With `open_numbers` (as whatsapi's `--sandbox` runs it, where each account has a WABA id of its own), any
/// numeric WABA id lists the store, the reference docs' `order_ready` among it; a wrong token is still 190.
#[tokio::test]
async fn open_numbers_report_each_throughput_tier() {
    let sb = whatsapi_sandbox::Sandbox::start(SandboxConfig {
        open_numbers: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let t = transport(&sb, Duration::from_secs(5));
    let rate = |info: &whatsapi_core::transport::PhoneNumberInfo| {
        whatsapi_core::numbers::rate_of_throughput(info)
    };
    let standard = t.verify(&creds(TOKEN, "4444444")).await.unwrap();
    assert_eq!(
        (standard.throughput_level.as_deref(), rate(&standard)),
        (Some("STANDARD"), Some(80))
    );
    let high = t.verify(&creds(TOKEN, "4441000")).await.unwrap();
    assert_eq!(
        (high.throughput_level.as_deref(), rate(&high)),
        (Some("HIGH"), Some(1000))
    );
    let shared = t.verify(&creds(TOKEN, "4440020")).await.unwrap();
    assert_eq!(
        (shared.on_business_app, rate(&shared)),
        (Some(true), Some(20))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn open_numbers_list_templates_for_any_numeric_waba() {
    let sb = whatsapi_sandbox::Sandbox::start(SandboxConfig {
        open_numbers: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let t = transport(&sb, Duration::from_secs(5));
    let c = creds(TOKEN, PNID);
    let page = t.list_templates(&c, "812345678901234", None).await.unwrap();
    let ready = page
        .templates
        .iter()
        .find(|t| t.name == "order_ready")
        .expect("order_ready is in the store");
    assert_eq!(ready.language, "en_US");
    let e = t
        .list_templates(&creds("wrong", PNID), "812345678901234", None)
        .await
        .unwrap_err();
    assert_eq!(e.code, Some(190), "{e:?}");
    sb.shutdown().await;
}
