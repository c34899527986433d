use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::idempotency::IdempotencyKey;
use crate::message::{
    ButtonSubType, MediaParameter, MessageContent, TemplateComponent, TemplateParameter,
};
use crate::phone::PhoneNumber;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-28T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn to() -> PhoneNumber {
    PhoneNumber::parse("14155552671").unwrap()
}

fn fields(r: &SendRequest) -> Vec<String> {
    match r.validate(now(), &SendRules::default()) {
        Ok(()) => Vec::new(),
        Err(e) => e.0.into_iter().map(|f| f.field).collect(),
    }
}

#[test]
fn builders_make_the_content_they_name() {
    let r = SendRequest::template(to(), "order_ready", "en_US").body_params(["Sarah", "#1042"]);
    let t = r.content().template().unwrap();
    assert_eq!(
        (t.name.as_str(), t.language.as_str()),
        ("order_ready", "en_US")
    );
    assert_eq!(
        t.components,
        [TemplateComponent::Body {
            parameters: vec![
                TemplateParameter::text("Sarah"),
                TemplateParameter::text("#1042"),
            ]
        }]
    );
    assert!(fields(&r).is_empty());
    let r = SendRequest::text(to(), "hi")
        .dry_run(true)
        .send_at(now() + chrono::Duration::hours(1))
        .metadata(json!({"orderId": "1"}).as_object().unwrap().clone())
        .idempotency_key(IdempotencyKey::parse("k").unwrap());
    assert_eq!(r.content(), &MessageContent::Text { body: "hi".into() });
    assert!(r.is_dry_run() && r.key().is_some() && r.caller_metadata().is_some());
    assert_eq!(r.scheduled_for(), Some(now() + chrono::Duration::hours(1)));
    assert!(fields(&r).is_empty());
}

#[test]
fn every_failing_value_is_reported_under_its_domain_name() {
    assert_eq!(fields(&SendRequest::text(to(), " ")), ["text"]);
    assert_eq!(fields(&SendRequest::text(to(), "a".repeat(4097))), ["text"]);
    assert!(fields(&SendRequest::text(to(), "é".repeat(4096))).is_empty());
    assert_eq!(
        fields(&SendRequest::text(to(), "hi").send_at(now())),
        ["send_at"]
    );
    let far = now() + chrono::Duration::days(35) + chrono::Duration::seconds(1);
    let e = SendRequest::text(to(), "hi")
        .send_at(far)
        .validate(now(), &SendRules::default())
        .unwrap_err();
    assert_eq!(e.0[0].message, "must be at most 35 days ahead");
    let big = json!({"a": "x".repeat(16_400)})
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(
        fields(&SendRequest::text(to(), "hi").metadata(big)),
        ["metadata"]
    );

    let bad = SendRequest::template(to(), "Receipt", "english")
        .header_params([TemplateParameter::Video {
            video: MediaParameter {
                link: None,
                id: None,
                filename: None,
                caption: None,
            },
        }])
        .header_params([TemplateParameter::Payload {
            payload: "x".into(),
        }])
        .button(
            ButtonSubType::Url,
            12,
            [TemplateParameter::text("a".repeat(1025))],
        );
    assert_eq!(
        fields(&bad),
        [
            "template.name",
            "template.language",
            "template.components[0].parameters[0].video",
            "template.components[1].parameters[0].type",
            "template.components[2].index",
            "template.components[2].parameters[0].text",
            "template.components",
        ]
    );
}

#[test]
fn fingerprints_follow_the_request_not_the_key_nor_the_metadata_order() {
    let m1 = serde_json::from_str(r#"{"a": 1, "b": 2}"#).unwrap();
    let m2 = serde_json::from_str(r#"{"b": 2, "a": 1}"#).unwrap();
    let a = SendRequest::text(to(), "hi").metadata(m1);
    let b = SendRequest::text(to(), "hi")
        .metadata(m2)
        .idempotency_key(IdempotencyKey::parse("k").unwrap());
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_ne!(
        a.fingerprint(),
        SendRequest::text(to(), "hi!").fingerprint()
    );
    assert_ne!(a.fingerprint(), a.clone().dry_run(true).fingerprint());
    let bulk = BulkRequest::new([a.clone()]);
    assert_ne!(
        bulk.fingerprint(),
        a.fingerprint(),
        "the kind is part of it"
    );
    let mut with_rejected = bulk.clone();
    with_rejected.push_rejected(vec![FieldError {
        field: "to".into(),
        message: "required".into(),
    }]);
    assert_ne!(bulk.fingerprint(), with_rejected.fingerprint());
}

#[test]
fn bulk_shape_is_bounded_by_the_callers_cap() {
    let one = || SendRequest::text(to(), "hi");
    assert!(BulkRequest::new([one(), one()]).validate_shape(2).is_ok());
    let e = BulkRequest::new([one(), one(), one()])
        .validate_shape(2)
        .unwrap_err();
    assert_eq!(e.0[0].message, "at most 2 items per bulk request, got 3");
    assert_eq!(
        BulkRequest::default().validate_shape(2).unwrap_err().0[0].field,
        "items"
    );
}

mod content_types {
    use super::*;
    use crate::message::{
        Contact, ContactPhone, Interactive, InteractiveAction, InteractiveHeader, ListRow,
        ListSection, MediaSource,
    };

    fn link(url: &str) -> MediaSource {
        MediaSource::link(url)
    }

    fn list(rows_per_section: &[usize], titled: bool) -> SendRequest {
        let mut n = 0;
        let sections = rows_per_section
            .iter()
            .map(|&rows| ListSection {
                title: titled.then(|| "Section".to_owned()),
                rows: (0..rows)
                    .map(|_| {
                        n += 1;
                        ListRow {
                            id: format!("r{n}"),
                            title: format!("Row {n}"),
                            description: None,
                        }
                    })
                    .collect(),
            })
            .collect();
        SendRequest::interactive(
            to(),
            Interactive {
                header: None,
                body: "Pick one".into(),
                footer: None,
                action: InteractiveAction::List {
                    button: "Options".into(),
                    sections,
                },
            },
        )
    }

    #[test]
    fn valid_requests_of_every_type_pass() {
        let ok = [
            SendRequest::image(to(), link("https://example.com/a.jpg")).caption("Receipt"),
            SendRequest::video(to(), MediaSource::id("1013859600285441")).caption("Demo"),
            SendRequest::audio(to(), link("https://example.com/voice.ogg")),
            SendRequest::document(to(), link("https://example.com/invoice.pdf"))
                .caption("Your invoice")
                .filename("invoice-1042.pdf"),
            SendRequest::sticker(to(), link("https://example.com/s.webp")),
            // No extension: left to Meta, which reads the Content-Type.
            SendRequest::image(to(), link("https://example.com/render?id=4")),
            SendRequest::buttons(
                to(),
                "Confirm?",
                [("yes", "Yes"), ("no", "No"), ("later", "Later")],
            )
            .footer("Reply by 6 pm")
            .header(InteractiveHeader::Text {
                text: "Booking".into(),
            }),
            list(&[5, 5], true),
            list(&[3], false),
            SendRequest::interactive(
                to(),
                Interactive {
                    header: Some(InteractiveHeader::Image {
                        image: MediaSource::id("9").into_media(),
                    }),
                    body: "See the dates".into(),
                    footer: None,
                    action: InteractiveAction::CtaUrl {
                        display_text: "See Dates".into(),
                        url: "https://example.com/dates".into(),
                    },
                },
            ),
            SendRequest::location(to(), -33.8688, 151.2093).place("Office", "1 George St"),
            SendRequest::contacts(
                to(),
                [
                    Contact::named("Ada Lovelace").phone("+14155552671", Some("CELL")),
                    Contact {
                        birthday: Some("1815-12-10".into()),
                        ..Contact::named("Bob")
                    },
                ],
            ),
            SendRequest::reaction(to(), "wamid.HBgL", "\u{1F44D}"),
            SendRequest::reaction(to(), "wamid.HBgL", ""),
            SendRequest::reaction(to(), "wamid.HBgL", "1\u{FE0F}\u{20E3}"),
            SendRequest::reaction(to(), "wamid.HBgL", "\u{1F44D}\u{1F3FD}"),
        ];
        for r in ok {
            assert_eq!(fields(&r), Vec::<String>::new(), "{r:?}");
        }
    }

    #[test]
    fn each_broken_value_is_reported_at_its_field() {
        let long = |n: usize| "x".repeat(n);
        let mut both = link("https://example.com/a.png").into_media();
        both.id = Some("7".into());
        let mut neither = both.clone();
        neither.link = None;
        neither.id = None;
        let cases: Vec<(SendRequest, &[&str])> = vec![
            (
                SendRequest::new(to(), MessageContent::Image(both)),
                &["image"],
            ),
            (
                SendRequest::new(to(), MessageContent::Video(neither)),
                &["video"],
            ),
            (
                SendRequest::image(to(), link("ftp://example.com/a.png")),
                &["image.link"],
            ),
            (
                SendRequest::image(to(), link("https://example.com/a.pdf")),
                &["image.link"],
            ),
            (
                SendRequest::sticker(to(), link("https://example.com/a.png")),
                &["sticker.link"],
            ),
            (
                SendRequest::image(to(), MediaSource::id("has space")),
                &["image.id"],
            ),
            (
                SendRequest::image(to(), link("https://example.com/a.png")).caption(long(1025)),
                &["image.caption"],
            ),
            (
                SendRequest::audio(to(), link("https://example.com/a.mp3")).caption("hi"),
                &["audio.caption"],
            ),
            (
                SendRequest::sticker(to(), link("https://example.com/a.webp")).caption("hi"),
                &["sticker.caption"],
            ),
            (
                SendRequest::image(to(), link("https://example.com/a.png")).filename("a.png"),
                &["image.filename"],
            ),
            (
                SendRequest::buttons(to(), "", [("a", "A")]),
                &["interactive.body.text"],
            ),
            (
                SendRequest::buttons(to(), "Q", Vec::<(String, String)>::new()),
                &["interactive.action.buttons"],
            ),
            (
                SendRequest::buttons(to(), "Q", [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]),
                &["interactive.action.buttons"],
            ),
            (
                SendRequest::buttons(to(), "Q", [("a", long(21))]),
                &["interactive.action.buttons[0].reply.title"],
            ),
            (
                SendRequest::buttons(to(), "Q", [("a", "A"), ("a", "A")]),
                &[
                    "interactive.action.buttons[1].reply.id",
                    "interactive.action.buttons[1].reply.title",
                ],
            ),
            (
                SendRequest::buttons(to(), "Q", [("a", "A")]).footer(long(61)),
                &["interactive.footer.text"],
            ),
            (list(&[6, 5], true), &["interactive.action.sections"]),
            (list(&[], true), &["interactive.action.sections"]),
            (
                list(&[2, 2], false),
                &[
                    "interactive.action.sections[0].title",
                    "interactive.action.sections[1].title",
                ],
            ),
            (
                list(&[2], false).header(InteractiveHeader::Image {
                    image: MediaSource::id("9").into_media(),
                }),
                &["interactive.header.type"],
            ),
            (
                SendRequest::location(to(), 91.0, 0.0),
                &["location.latitude"],
            ),
            (
                SendRequest::location(to(), 0.0, f64::NAN),
                &["location.longitude"],
            ),
            (
                SendRequest::contacts(to(), Vec::<Contact>::new()),
                &["contacts"],
            ),
            (
                SendRequest::contacts(
                    to(),
                    [
                        Contact::named("Ada"),
                        Contact::named(" ").phone("x".repeat(1001), None),
                    ],
                ),
                &[
                    "contacts[1].name.formatted_name",
                    "contacts[1].phones[0].phone",
                ],
            ),
            (
                SendRequest::contacts(
                    to(),
                    [Contact {
                        birthday: Some("10/12/1815".into()),
                        phones: vec![ContactPhone::default(); 21],
                        ..Contact::named("Ada")
                    }],
                ),
                &["contacts[0].phones", "contacts[0].birthday"],
            ),
            (
                SendRequest::contacts(to(), vec![Contact::named("A"); 258]),
                &["contacts"],
            ),
            (
                SendRequest::reaction(to(), " ", "\u{1F44D}"),
                &["reaction.message_id"],
            ),
            (
                SendRequest::reaction(to(), "wamid.X", "ok"),
                &["reaction.emoji"],
            ),
            (
                SendRequest::reaction(to(), "wamid.X", "1"),
                &["reaction.emoji"],
            ),
            (
                SendRequest::reaction(to(), "wamid.X", "\u{1F44D} \u{1F44D}"),
                &["reaction.emoji"],
            ),
            (
                SendRequest::image(to(), link("https://example.com/a.png")).body_params(["x"]),
                &["image"],
            ),
        ];
        for (r, want) in cases {
            assert_eq!(fields(&r), want.to_vec(), "{r:?}");
        }
    }

    #[test]
    fn fingerprints_cover_the_new_content() {
        let a = SendRequest::image(to(), link("https://example.com/a.png"));
        let b = a.clone().caption("x");
        let c = SendRequest::video(to(), link("https://example.com/a.png"));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        let x = SendRequest::buttons(to(), "Q", [("a", "A")]);
        let y = SendRequest::buttons(to(), "Q", [("a", "B")]);
        assert_ne!(x.fingerprint(), y.fingerprint());
        let r1 = SendRequest::reaction(to(), "wamid.1", "\u{1F44D}");
        let r2 = SendRequest::reaction(to(), "wamid.1", "");
        assert_ne!(r1.fingerprint(), r2.fingerprint());
        let c1 = SendRequest::contacts(to(), [Contact::named("Ada").phone("1", None)]);
        let c2 = SendRequest::contacts(to(), [Contact::named("Ada").phone("2", None)]);
        let c3 = SendRequest::contacts(to(), [Contact::named("Ada"), Contact::named("Bob")]);
        assert_ne!(c1.fingerprint(), c2.fingerprint());
        assert_ne!(c1.fingerprint(), c3.fingerprint());
        assert_eq!(c1.fingerprint(), c1.clone().fingerprint());
    }

    #[test]
    fn content_round_trips_through_its_stored_json() {
        for r in [
            SendRequest::document(to(), link("https://example.com/a.pdf"))
                .caption("c")
                .filename("a.pdf"),
            list(&[2, 1], true),
            SendRequest::location(to(), 1.5, 2.5).place("n", "a"),
            SendRequest::contacts(to(), [Contact::named("Ada").phone("+1", Some("CELL"))]),
            SendRequest::reaction(to(), "wamid.1", "\u{1F44D}"),
        ] {
            let json = serde_json::to_string(r.content()).unwrap();
            let back: MessageContent = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, r.content());
        }
        // The stored shape of the older kinds does not change.
        assert_eq!(
            serde_json::to_value(MessageContent::Text { body: "hi".into() }).unwrap(),
            json!({"kind": "text", "body": "hi"})
        );
        assert_eq!(
            serde_json::to_value(MessageContent::Contacts(vec![Contact::named("Ada")])).unwrap(),
            json!({"kind": "contacts", "contacts": [{"name": {"formatted_name": "Ada"}}]})
        );
    }
}

#[test]
fn template_parameters_of_every_type_validate_as_meta_does() {
    use crate::message::{FlowAction, Location, MediaSource};
    let ok = SendRequest::template(to(), "order_ready", "en_US")
        .header_param(TemplateParameter::image(MediaSource::id(
            "1013859600285441",
        )))
        .body_parameters([
            TemplateParameter::text("Ana"),
            TemplateParameter::currency("$12.50", "USD", 12_500),
            TemplateParameter::date_time("May 1, 2026"),
        ])
        .url_button(0, "order/42")
        .quick_reply_button(1, "STOP")
        .copy_code_button(2, "SAVE10")
        .flow_button(3, FlowAction::default());
    assert_eq!(fields(&ok), Vec::<String>::new());
    let located = SendRequest::template(to(), "pickup", "en").header_param(
        TemplateParameter::location(Location {
            latitude: 37.48,
            longitude: -122.14,
            name: None,
            address: None,
        }),
    );
    assert_eq!(fields(&located), Vec::<String>::new());

    let mut captioned = MediaSource::link("http://x.test/a.png").into_media();
    captioned.caption = Some("hi".into());
    let bad = SendRequest::template(to(), "t", "en")
        .header_params([
            TemplateParameter::Image { image: captioned },
            TemplateParameter::text("x"),
        ])
        .body_parameters([
            TemplateParameter::named_text("first_name", "Ana"),
            TemplateParameter::text("line\nbreak"),
            TemplateParameter::currency("$1", "usd", 1000),
        ])
        .button(ButtonSubType::QuickReply, 0, [])
        .copy_code_button(0, "SIXTEEN_CHARS_XX")
        .button(ButtonSubType::Flow, 10, [TemplateParameter::payload("x")]);
    assert_eq!(
        fields(&bad),
        [
            "template.components[0].parameters",
            "template.components[0].parameters[0].image.link",
            "template.components[0].parameters[0].image.caption",
            "template.components[1].parameters[1].text",
            "template.components[1].parameters[2].currency.code",
            "template.components[1].parameters[1].parameter_name",
            "template.components[2].parameters",
            "template.components[3].index",
            "template.components[3].parameters[0].coupon_code",
            "template.components[4].index",
            "template.components[4].parameters[0].type",
        ]
    );
    let long_header = SendRequest::template(to(), "t", "en")
        .header_param(TemplateParameter::text("h".repeat(61)))
        .header_param(TemplateParameter::location(Location {
            latitude: 91.0,
            longitude: 181.0,
            name: None,
            address: None,
        }));
    assert_eq!(
        fields(&long_header),
        [
            "template.components[0].parameters[0].text",
            "template.components[1].parameters[0].location.latitude",
            "template.components[1].parameters[0].location.longitude",
            "template.components",
        ]
    );
}

#[test]
fn stored_templates_without_the_new_fields_still_read() {
    let stored = json!({"name": "order_ready", "language": "en_US", "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Sarah"}]},
        {"type": "button", "sub_type": "url", "index": 0}
    ]});
    let t: crate::message::Template = serde_json::from_value(stored).unwrap();
    assert_eq!(
        t.components[0],
        TemplateComponent::Body {
            parameters: vec![TemplateParameter::text("Sarah")]
        }
    );
    let round = serde_json::to_value(&t).unwrap();
    assert_eq!(
        round["components"][0]["parameters"][0],
        json!({"type": "text", "text": "Sarah"})
    );
}
