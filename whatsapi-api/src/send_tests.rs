use super::*;
use crate::answer::json_field;
use serde_json::json;
use whatsapi_core::send::BulkItem;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-28T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn rules() -> SendRules {
    SendRules::default()
}

fn fields(v: Value) -> Vec<String> {
    parse_send(&v, now(), &rules())
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.field)
        .collect()
}

fn message_for(v: Value, field: &str) -> String {
    parse_send(&v, now(), &rules())
        .unwrap_err()
        .0
        .into_iter()
        .find(|e| e.field == field)
        .unwrap_or_else(|| panic!("no error for {field}"))
        .message
}

#[test]
fn reference_examples_parse() {
    let req = parse_send(
        &json!({"to": "14155552671", "message": "Hi Sarah! Your order #1234 has shipped.", "metadata": {"orderId": "1234"}}),
        now(),
        &rules(),
    )
    .unwrap();
    assert_eq!(req.recipient().to(), Some("14155552671"));
    assert_eq!(
        req.content().body(),
        Some("Hi Sarah! Your order #1234 has shipped.")
    );
    assert_eq!(req.caller_metadata().unwrap()["orderId"], "1234");
    assert!(!req.is_dry_run());

    let req = parse_send(
        &json!({"to": "14155552671", "template": {"name": "hello_world", "language": "en_US"}}),
        now(),
        &rules(),
    )
    .unwrap();
    let t = req.content().template().unwrap();
    assert_eq!(
        (t.name.as_str(), t.language.as_str()),
        ("hello_world", "en_US")
    );
    assert!(t.components.is_empty());

    let req = parse_send(
        &json!({"to": "14155552671", "template": {"name": "order_ready", "language": "en_US", "components": [{
            "type": "body", "parameters": [{"type": "text", "text": "Sarah"}, {"type": "text", "text": "#1042"}]}]}}),
        now(),
        &rules(),
    )
    .unwrap();
    assert_eq!(
        req.content().template().unwrap().components,
        vec![TemplateComponent::Body {
            parameters: vec![
                TemplateParameter::text("Sarah"),
                TemplateParameter::text("#1042")
            ]
        }]
    );

    let req = parse_send(
        &json!({"to": "14155552671", "message": "Reminder: your appointment is tomorrow at 9am.", "sendAt": "2026-04-15T08:00:00.000Z"}),
        now(),
        &rules(),
    )
    .unwrap();
    assert_eq!(
        req.scheduled_for().unwrap().to_rfc3339(),
        "2026-04-15T08:00:00+00:00"
    );
}

#[test]
fn every_failing_field_is_reported() {
    let errs = fields(
        json!({"to": "+14155552671", "sendAt": "yesterday", "metadata": [1], "dry_run": "yes"}),
    );
    assert_eq!(errs, vec!["to", "message", "sendAt", "metadata", "dry_run"]);
}

#[test]
fn phone_errors_show_the_accepted_form() {
    let m = message_for(json!({"to": "+14155552671", "message": "hi"}), "to");
    assert!(
        m.contains("14155552671") && !m.contains("+14155552671"),
        "{m}"
    );
    assert!(message_for(json!({"to": 14155552671u64, "message": "hi"}), "to").contains("string"));
    assert!(message_for(json!({"message": "hi"}), "to").contains("required"));
    assert_eq!(
        fields(json!({"to": "1415 555 2671", "message": "hi"})),
        vec!["to"]
    );
}

#[test]
fn text_length_bounds() {
    let ok = "é".repeat(4096);
    assert!(
        parse_send(
            &json!({"to": "14155552671", "message": ok}),
            now(),
            &rules()
        )
        .is_ok()
    );
    let long = "a".repeat(4097);
    assert!(message_for(json!({"to": "14155552671", "message": long}), "message").contains("4096"));
    assert_eq!(
        fields(json!({"to": "14155552671", "message": ""})),
        vec!["message"]
    );
    assert_eq!(
        fields(json!({"to": "14155552671", "message": "   "})),
        vec!["message"]
    );
    assert_eq!(
        fields(json!({"to": "14155552671", "message": 5})),
        vec!["message"]
    );
}

#[test]
fn exactly_one_of_message_and_template() {
    assert!(
        message_for(
            json!({"to": "14155552671", "message": "hi", "template": {"name": "hello_world", "language": "en_US"}}),
            "message"
        )
        .contains("not both")
    );
    assert!(message_for(json!({"to": "14155552671"}), "message").contains("required"));
    // null counts as absent
    assert!(
        parse_send(
            &json!({"to": "14155552671", "message": "hi", "template": null}),
            now(),
            &rules()
        )
        .is_ok()
    );
}

#[test]
fn send_at_must_be_future_and_within_the_horizon() {
    let base = json!({"to": "14155552671", "message": "hi"});
    let with = |t: &str| {
        let mut v = base.clone();
        v["sendAt"] = json!(t);
        v
    };
    assert!(message_for(with("2026-03-28T10:00:00Z"), "sendAt").contains("future"));
    assert!(message_for(with("2026-03-27T10:00:00Z"), "sendAt").contains("future"));
    assert!(parse_send(&with("2026-03-28T10:00:01Z"), now(), &rules()).is_ok());
    assert!(
        parse_send(&with("2026-05-02T10:00:00Z"), now(), &rules()).is_ok(),
        "35 days ahead"
    );
    assert!(message_for(with("2026-05-02T10:00:01Z"), "sendAt").contains("35 days"));
    assert!(
        parse_send(&with("2026-03-28T12:30:00+02:00"), now(), &rules()).is_ok(),
        "offsets accepted"
    );
    assert!(message_for(with("2026-03-29T10:00:00"), "sendAt").contains("time zone"));
    assert!(message_for(with("soon"), "sendAt").contains("ISO 8601"));
    let short = SendRules {
        schedule_horizon: std::time::Duration::from_secs(3600),
    };
    assert!(parse_send(&with("2026-03-28T12:00:00Z"), now(), &short).is_err());
}

#[test]
fn metadata_is_an_object_of_at_most_16_kib() {
    let base = |m: Value| json!({"to": "14155552671", "message": "hi", "metadata": m});
    assert!(parse_send(&base(json!({"a": "x".repeat(16_000)})), now(), &rules()).is_ok());
    assert!(message_for(base(json!({"a": "x".repeat(16_400)})), "metadata").contains("16384"));
    assert_eq!(fields(base(json!("string"))), vec!["metadata"]);
    assert!(
        parse_send(&base(Value::Null), now(), &rules())
            .unwrap()
            .caller_metadata()
            .is_none()
    );
}

#[test]
fn dry_run_and_unknown_fields() {
    let r = parse_send(
        &json!({"to": "14155552671", "message": "hi", "dry_run": true}),
        now(),
        &rules(),
    )
    .unwrap();
    assert!(r.is_dry_run());
    let r = parse_send(
        &json!({"to": "14155552671", "message": "hi", "dryRun": true}),
        now(),
        &rules(),
    )
    .unwrap();
    assert!(r.is_dry_run());
    assert_eq!(
        fields(json!({"to": "14155552671", "message": "hi", "sendat": "x"})),
        vec!["sendat"]
    );
    assert_eq!(fields(json!(["not", "an", "object"])), vec!["body"]);
}

#[test]
fn template_rules() {
    let t = |tpl: Value| json!({"to": "14155552671", "template": tpl});
    assert_eq!(
        fields(t(json!({"language": "en_US"}))),
        vec!["template.name"]
    );
    assert_eq!(
        fields(t(json!({"name": "Hello World", "language": "en_US"}))),
        vec!["template.name"]
    );
    assert_eq!(
        fields(t(json!({"name": "hello_world"}))),
        vec!["template.language"]
    );
    assert_eq!(
        fields(t(json!({"name": "hello_world", "language": "english"}))),
        vec!["template.language"]
    );
    assert!(
        parse_send(
            &t(json!({"name": "hello_world", "language": {"code": "pt_BR"}})),
            now(),
            &rules()
        )
        .is_ok()
    );
    assert_eq!(fields(t(json!("hello_world"))), vec!["template"]);
    assert_eq!(
        fields(t(
            json!({"name": "x", "language": "en", "components": [{"type": "footer"}]})
        )),
        vec!["template.components[0].type"]
    );
    assert_eq!(
        fields(t(json!({"name": "x", "language": "en", "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "ok"}, {"type": "text"}, {"type": "image", "image": {"link": "https://x/y.png"}}]}
        ]}))),
        vec![
            "template.components[0].parameters[1].text",
            "template.components[0].parameters[2].type"
        ]
    );
}

#[test]
fn template_media_currency_dates_and_buttons() {
    let tpl = json!({"to": "14155552671", "template": {"name": "receipt", "language": "en_US", "components": [
        {"type": "header", "parameters": [{"type": "document", "document": {"link": "https://x.test/r.pdf", "filename": "r.pdf"}}]},
        {"type": "body", "parameters": [
            {"type": "currency", "currency": {"fallback_value": "$10.99", "code": "USD", "amount_1000": 10990}},
            {"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}}
        ]},
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "YES"}]},
        {"type": "button", "sub_type": "url", "index": 1, "parameters": [{"type": "text", "text": "order/42"}]},
        {"type": "button", "sub_type": "copy_code", "index": 2, "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]}
    ]}});
    let req = parse_send(&tpl, now(), &rules()).unwrap();
    let comps = &req.content().template().unwrap().components;
    assert_eq!(comps.len(), 5);
    assert!(matches!(
        &comps[2],
        TemplateComponent::Button {
            sub_type: ButtonSubType::QuickReply,
            index: 0,
            ..
        }
    ));

    let bad = json!({"to": "14155552671", "template": {"name": "receipt", "language": "en_US", "components": [
        {"type": "header", "parameters": [{"type": "video", "video": {}}]},
        {"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "usd"}}]},
        {"type": "button", "sub_type": "call", "index": 12}
    ]}});
    assert_eq!(
        fields(bad),
        vec![
            "template.components[0].parameters[0].video",
            "template.components[1].parameters[0].currency.code",
            "template.components[1].parameters[0].currency.amount_1000",
            "template.components[2].sub_type",
            "template.components[2].index",
        ]
    );
}

#[test]
fn bulk_shape_cap_and_per_item_errors() {
    let cap = 3;
    let ok = json!({"to": "14155552671", "message": "hi"});
    let bad = json!({"to": "+14155552672", "message": ""});
    let r = parse_bulk(&json!({"messages": [ok, bad, ok]}), now(), &rules(), cap).unwrap();
    assert_eq!(r.rejected.iter().copied().collect::<Vec<_>>(), vec![1]);
    let items = r.request.items();
    assert_eq!(items.len(), 3);
    assert!(matches!(items[0], BulkItem::Send(_)) && matches!(items[2], BulkItem::Send(_)));
    let BulkItem::Rejected(details) = &items[1] else {
        panic!("item 1 is rejected")
    };
    let f: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(f, vec!["to", "message"]);

    let e = parse_bulk(&json!({"messages": [ok, ok, ok, ok]}), now(), &rules(), cap).unwrap_err();
    assert!(e.0[0].message.contains("at most 3"), "{e}");
    let e = parse_bulk(&json!({"messages": []}), now(), &rules(), cap).unwrap_err();
    assert_eq!(e.0[0].field, "messages");
    assert!(parse_bulk(&json!({"messages": "x"}), now(), &rules(), cap).is_err());
    assert!(parse_bulk(&json!({}), now(), &rules(), cap).is_err());
    assert!(parse_bulk(&json!([ok]), now(), &rules(), cap).is_err());
    let e = parse_bulk(&json!({"messages": [ok], "extra": 1}), now(), &rules(), cap).unwrap_err();
    assert_eq!(e.0[0].field, "extra");
}

#[test]
fn a_deferred_schedule_is_left_to_core_unless_something_else_fails() {
    let past = json!({"to": "14155552671", "message": "hi", "sendAt": "2026-03-28T09:00:00Z"});
    assert!(parse_send(&past, now(), &rules()).is_err());
    let req = parse_send_with(&past, now(), &rules(), Schedule::Defer).unwrap();
    assert_eq!(
        req.validate(now(), &rules()).unwrap_err().0[0].field,
        "send_at"
    );
    let also_bad = json!({"to": "1", "message": "hi", "sendAt": "2026-03-28T09:00:00Z"});
    let e = parse_send_with(&also_bad, now(), &rules(), Schedule::Defer).unwrap_err();
    assert_eq!(
        e.0.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
        ["to", "sendAt"]
    );
    let bulk = json!({"messages": [past, also_bad]});
    let r = parse_bulk_with(&bulk, now(), &rules(), 10, Schedule::Defer).unwrap();
    assert_eq!(r.rejected.iter().copied().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn core_identifiers_get_their_json_names() {
    assert_eq!(json_field("text"), "message");
    assert_eq!(json_field("send_at"), "sendAt");
    assert_eq!(
        json_field("template.components[0].parameters[1].text"),
        "template.components[0].parameters[1].text"
    );
    let body = json!({"messages": [
        {"to": "14155552671", "message": "hi"},
        {"to": "14155552671", "text": "hi"}
    ]});
    let r = parse_bulk(&body, now(), &rules(), 10).unwrap();
    assert_eq!(r.json_path("items[0].text"), "messages[0].message");
    assert_eq!(r.json_path("items[0].send_at"), "messages[0].sendAt");
    assert_eq!(
        r.json_path("items[1].text"),
        "messages[1].text",
        "already a JSON name"
    );
    assert_eq!(r.json_path("items"), "messages");
}

mod content_types {
    use super::*;
    use whatsapi_core::message::{InteractiveAction, InteractiveHeader, MessageKind};

    fn ok(v: Value) -> MessageContent {
        match parse_send(&v, now(), &rules()) {
            Ok(r) => r.content().clone(),
            Err(e) => panic!("{v}: {e}"),
        }
    }

    fn with(content: Value) -> Value {
        let mut body = json!({"to": "14155552671"});
        for (k, v) in content.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }

    #[test]
    fn each_type_parses_from_metas_object() {
        let c = ok(with(
            json!({"image": {"link": "https://example.com/a.png", "caption": "Receipt"}}),
        ));
        assert_eq!(c.kind(), MessageKind::Image);
        let m = c.media().unwrap();
        assert_eq!(
            (m.link.as_deref(), m.id.as_deref(), m.caption.as_deref()),
            (Some("https://example.com/a.png"), None, Some("Receipt"))
        );
        let c = ok(with(json!({"type": "document",
            "document": {"id": "1013859600285441", "filename": "invoice.pdf", "caption": "Invoice"}})));
        assert_eq!(c.media().unwrap().filename.as_deref(), Some("invoice.pdf"));
        for kind in ["video", "audio", "sticker"] {
            let ext = match kind {
                "video" => "mp4",
                "audio" => "ogg",
                _ => "webp",
            };
            let c = ok(with(
                json!({kind: {"link": format!("https://example.com/f.{ext}")}}),
            ));
            assert_eq!(c.kind().as_str(), kind);
        }
        let c = ok(with(json!({"interactive": {"type": "button",
            "header": {"type": "text", "text": "Booking"},
            "body": {"text": "Confirm?"}, "footer": {"text": "Reply by 6 pm"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                                   {"type": "reply", "reply": {"id": "no", "title": "No"}}]}}})));
        let MessageContent::Interactive(i) = c else {
            panic!()
        };
        assert_eq!(
            i.header,
            Some(InteractiveHeader::Text {
                text: "Booking".into()
            })
        );
        assert_eq!(
            (i.body.as_str(), i.footer.as_deref()),
            ("Confirm?", Some("Reply by 6 pm"))
        );
        let InteractiveAction::Button { buttons } = i.action else {
            panic!()
        };
        assert_eq!(buttons[1].title, "No");
        let c = ok(with(
            json!({"interactive": {"type": "list", "body": {"text": "Pick"},
            "action": {"button": "Slots", "sections": [{"title": "Mon", "rows": [
                {"id": "m9", "title": "9:00", "description": "Morning"}]}]}}}),
        ));
        let MessageContent::Interactive(i) = c else {
            panic!()
        };
        let InteractiveAction::List { button, sections } = i.action else {
            panic!()
        };
        assert_eq!(
            (button.as_str(), sections[0].rows[0].description.as_deref()),
            ("Slots", Some("Morning"))
        );
        let c = ok(with(
            json!({"interactive": {"type": "cta_url", "body": {"text": "Dates"},
            "header": {"type": "image", "image": {"id": "77"}},
            "action": {"name": "cta_url", "parameters": {"display_text": "See Dates", "url": "https://example.com/d"}}}}),
        ));
        let MessageContent::Interactive(i) = c else {
            panic!()
        };
        assert!(
            matches!(i.action, InteractiveAction::CtaUrl { ref url, .. } if url == "https://example.com/d")
        );
        let c = ok(with(
            json!({"location": {"latitude": 37.48, "longitude": "-122.15", "name": "HQ"}}),
        ));
        let MessageContent::Location(l) = c else {
            panic!()
        };
        assert_eq!(
            (l.latitude, l.longitude, l.name.as_deref(), l.address),
            (37.48, -122.15, Some("HQ"), None)
        );
        let c = ok(with(json!({"type": "contacts", "contacts": [
            {"name": {"formatted_name": "Ada Lovelace", "first_name": "Ada"},
             "phones": [{"phone": "+14155552671", "type": "CELL", "wa_id": "14155552671"}],
             "emails": [{"email": "ada@example.com"}], "urls": [{"url": "https://example.com", "type": "WORK"}],
             "addresses": [{"city": "London", "country_code": "GB"}], "org": {"company": "Engines"},
             "birthday": "1815-12-10"},
            {"name": {"formatted_name": "Bob"}}]})));
        let MessageContent::Contacts(cards) = c else {
            panic!()
        };
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].name.first_name.as_deref(), Some("Ada"));
        assert_eq!(cards[0].phones[0].kind.as_deref(), Some("CELL"));
        assert_eq!(cards[0].addresses[0].country_code.as_deref(), Some("GB"));
        assert_eq!(
            cards[0].org.as_ref().and_then(|o| o.company.as_deref()),
            Some("Engines")
        );
        assert_eq!(cards[1].name.formatted_name, "Bob");
        let c = ok(with(
            json!({"type": "reaction", "reaction": {"message_id": "wamid.HBgL", "emoji": "👍"}}),
        ));
        assert!(matches!(c, MessageContent::Reaction(ref r) if r.emoji == "👍"));
        // `type` agrees with the reference's own fields too.
        assert_eq!(
            ok(with(json!({"type": "text", "message": "hi"}))).kind(),
            MessageKind::Text
        );
    }

    #[test]
    fn failures_are_reported_per_field() {
        let cases: Vec<(Value, &[&str])> = vec![
            (
                json!({"image": {"link": "https://example.com/a.png", "id": "1"}}),
                &["image"],
            ),
            (json!({"image": {}}), &["image"]),
            (json!({"image": "https://example.com/a.png"}), &["image"]),
            (json!({"image": {"link": 5}}), &["image.link"]),
            (
                json!({"image": {"link": "https://example.com/a.png", "filename": "a.png"}}),
                &["image.filename"],
            ),
            (
                json!({"audio": {"link": "https://example.com/a.mp3", "caption": "x"}}),
                &["audio.caption"],
            ),
            (
                json!({"sticker": {"link": "https://example.com/a.jpg"}}),
                &["sticker.link"],
            ),
            (
                json!({"image": {"link": "https://example.com/a.png"}, "message": "hi"}),
                &["image"],
            ),
            (
                json!({"image": {"link": "https://example.com/a.png"}, "video": {"id": "1"}}),
                &["video"],
            ),
            (
                json!({"type": "video", "image": {"link": "https://example.com/a.png"}}),
                &["type"],
            ),
            (json!({"type": "fax", "message": "hi"}), &["type"]),
            (json!({"type": 3, "message": "hi"}), &["type"]),
            (json!({"type": "image"}), &["image"]),
            (json!({"type": "template", "message": "hi"}), &["type"]),
            (
                json!({"interactive": {"type": "button", "body": {"text": "Q"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "A"}}, {"type": "reply", "reply": {"id": "2", "title": "B"}},
                {"type": "reply", "reply": {"id": "3", "title": "C"}}, {"type": "reply", "reply": {"id": "4", "title": "D"}}]}}}),
                &["interactive.action.buttons"],
            ),
            (
                json!({"interactive": {"type": "button", "body": {"text": "Q"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "A title longer than twenty"}}]}}}),
                &["interactive.action.buttons[0].reply.title"],
            ),
            (
                json!({"interactive": {"type": "button", "body": {"text": "Q"}, "action": {"buttons": [
                {"type": "url", "reply": {"id": "1"}}]}}}),
                &[
                    "interactive.action.buttons[0].type",
                    "interactive.action.buttons[0].reply.title",
                ],
            ),
            (
                json!({"interactive": {"type": "product", "body": {"text": "Q"}, "action": {}}}),
                &["interactive.type"],
            ),
            (
                json!({"interactive": {"type": "button", "action": {"buttons": []}}}),
                &["interactive.body"],
            ),
            (
                json!({"interactive": {"type": "list", "body": {"text": "Q"}, "action": {"button": "B", "sections": [
                {"rows": [{"id": "a", "title": "A"}]}, {"rows": [{"id": "b", "title": "B"}]}]}}}),
                &[
                    "interactive.action.sections[0].title",
                    "interactive.action.sections[1].title",
                ],
            ),
            (
                json!({"interactive": {"type": "cta_url", "body": {"text": "Q"},
                "action": {"name": "cta_url", "parameters": {"display_text": "Go", "url": "example.com"}}}}),
                &["interactive.action.parameters.url"],
            ),
            (
                json!({"location": {"latitude": 95, "longitude": 0}}),
                &["location.latitude"],
            ),
            (
                json!({"location": {"latitude": "north", "longitude": 0}}),
                &["location.latitude"],
            ),
            (
                json!({"location": {"longitude": 0}}),
                &["location.latitude"],
            ),
            (json!({"contacts": []}), &["contacts"]),
            (
                json!({"contacts": {"name": {"formatted_name": "A"}}}),
                &["contacts"],
            ),
            (
                json!({"type": "location", "contacts": [{"name": {"formatted_name": "A"}}]}),
                &["type"],
            ),
            (
                json!({"contacts": [{"name": {"formatted_name": "A"}}, {"name": {"first_name": "B"}}]}),
                &["contacts[1].name.formatted_name"],
            ),
            (json!({"contacts": [{"phones": []}]}), &["contacts[0].name"]),
            (
                json!({"contacts": [{"name": {"formatted_name": "A"}, "phones": [{"phone": 5}], "nickname": "x"}]}),
                &["contacts[0].nickname", "contacts[0].phones[0].phone"],
            ),
            (
                json!({"contacts": [{"name": {"formatted_name": " "}, "birthday": "soon"}]}),
                &["contacts[0].name.formatted_name", "contacts[0].birthday"],
            ),
            (
                json!({"reaction": {"emoji": "👍"}}),
                &["reaction.message_id"],
            ),
            (
                json!({"reaction": {"message_id": "wamid.1", "emoji": "yes"}}),
                &["reaction.emoji"],
            ),
            (
                json!({"reaction": {"message_id": "wamid.1", "emoji": "👍", "extra": 1}}),
                &["reaction.extra"],
            ),
        ];
        for (content, want) in cases {
            let body = with(content.clone());
            assert_eq!(fields(body), want.to_vec(), "{content}");
        }
    }

    #[test]
    fn the_references_texts_are_unchanged() {
        let both = json!({"to": "14155552671", "message": "hi", "template": {"name": "t", "language": "en"}});
        assert_eq!(
            message_for(both, "message"),
            "send either message (free-form text) or template, not both"
        );
        assert_eq!(
            message_for(json!({"to": "14155552671"}), "message"),
            "one of message (free-form text) or template (Meta-approved template) is required"
        );
    }

    #[test]
    fn bulk_items_take_the_new_types() {
        let body = json!({"messages": [
            {"to": "14155552671", "image": {"link": "https://example.com/a.png"}},
            {"to": "14155552671", "location": {"latitude": 100, "longitude": 0}},
        ]});
        let parsed = parse_bulk(&body, now(), &rules(), 100).unwrap();
        assert_eq!(parsed.rejected.iter().copied().collect::<Vec<_>>(), [1]);
        let BulkItem::Rejected(details) = &parsed.request.items()[1] else {
            panic!()
        };
        assert_eq!(details[0].field, "location.latitude");
        assert_eq!(json_field(&details[0].field), "location.latitude");
    }
}

#[test]
fn every_template_parameter_type_parses() {
    let tpl = json!({"to": "14155552671", "template": {"name": "receipt", "language": "en_US", "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "1013859600285441"}}]},
        {"type": "body", "parameters": [
            {"type": "text", "parameter_name": "first_name", "text": "Ana"},
            {"type": "currency", "currency": {"fallback_value": "$10.99", "code": "USD", "amount_1000": 10990}},
            {"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}}
        ]},
        {"type": "button", "sub_type": "flow", "index": "3", "parameters": [
            {"type": "action", "action": {"flow_token": "tok", "flow_action_data": {"order": 42}}}
        ]}
    ]}});
    let req = parse_send(&tpl, now(), &rules()).unwrap();
    let comps = &req.content().template().unwrap().components;
    assert_eq!(
        comps[1],
        TemplateComponent::Body {
            parameters: vec![
                TemplateParameter::named_text("first_name", "Ana"),
                TemplateParameter::currency("$10.99", "USD", 10_990),
                TemplateParameter::date_time("May 1, 2026"),
            ]
        }
    );
    let TemplateComponent::Button {
        sub_type: ButtonSubType::Flow,
        index: 3,
        parameters,
    } = &comps[2]
    else {
        panic!("a flow button: {:?}", comps[2])
    };
    let TemplateParameter::Action { action } = &parameters[0] else {
        panic!("an action parameter")
    };
    assert_eq!(action.flow_token.as_deref(), Some("tok"));
    assert_eq!(action.flow_action_data.as_ref().unwrap()["order"], 42);

    let located = json!({"to": "14155552671", "template": {"name": "pickup", "language": "en", "components": [
        {"type": "header", "parameters": [{"type": "location", "location": {"latitude": "37.48", "longitude": -122.14, "name": "Depot"}}]}
    ]}});
    let req = parse_send(&located, now(), &rules()).unwrap();
    let TemplateComponent::Header { parameters } = &req.content().template().unwrap().components[0]
    else {
        panic!("a header")
    };
    let TemplateParameter::Location { location } = &parameters[0] else {
        panic!("a location")
    };
    assert_eq!(
        (
            location.latitude,
            location.longitude,
            location.name.as_deref()
        ),
        (37.48, -122.14, Some("Depot"))
    );
}

#[test]
fn bad_template_parameters_are_refused_at_their_path() {
    let send = |components: Value| json!({"to": "14155552671", "template": {"name": "t", "language": "en", "components": components}});
    let img =
        |image: Value| json!({"type": "header", "parameters": [{"type": "image", "image": image}]});
    let button = |sub_type: &str, index: Value, parameters: Value| json!({"type": "button", "sub_type": sub_type, "index": index, "parameters": parameters});
    let p = "template.components[0]";
    let cases: Vec<(Value, String, &str)> = vec![
        (
            json!([{"type": "header", "parameters": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]),
            format!("{p}.parameters"),
            "a header takes at most one parameter",
        ),
        (
            json!([{"type": "header", "parameters": [{"type": "text", "text": "h".repeat(61)}]}]),
            format!("{p}.parameters[0].text"),
            "at most 60 characters",
        ),
        (
            json!([img(json!({"link": "http://x.test/a.png"}))]),
            format!("{p}.parameters[0].image.link"),
            "https",
        ),
        (
            json!([img(json!({"link": "https://x.test/a.png", "id": "9"}))]),
            format!("{p}.parameters[0].image"),
            "not both",
        ),
        (
            json!([img(json!({"id": "9", "caption": "hi"}))]),
            format!("{p}.parameters[0].image.caption"),
            "no caption",
        ),
        (
            json!([img(json!({"id": "9", "filename": "a.png"}))]),
            format!("{p}.parameters[0].image.filename"),
            "only documents",
        ),
        (
            json!([{"type": "header", "parameters": [{"type": "location", "location": {"latitude": 95, "longitude": 0}}]}]),
            format!("{p}.parameters[0].location.latitude"),
            "-90 to 90",
        ),
        (
            json!([{"type": "header", "parameters": [{"type": "location", "location": {"latitude": 0, "longitude": -181}}]}]),
            format!("{p}.parameters[0].location.longitude"),
            "-180 to 180",
        ),
        (
            json!([{"type": "header", "parameters": [{"type": "location"}]}]),
            format!("{p}.parameters[0].location"),
            "required",
        ),
        (
            json!([{"type": "body", "parameters": [{"type": "location", "location": {"latitude": 0, "longitude": 0}}]}]),
            format!("{p}.parameters[0].type"),
            "not allowed here",
        ),
        (
            json!([{"type": "body", "parameters": [{"type": "text", "text": "two\nlines"}]}]),
            format!("{p}.parameters[0].text"),
            "new lines",
        ),
        (
            json!([{"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "US", "amount_1000": 1000}}]}]),
            format!("{p}.parameters[0].currency.code"),
            "ISO 4217",
        ),
        (
            json!([{"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1.5}}]}]),
            format!("{p}.parameters[0].currency.amount_1000"),
            "integer",
        ),
        (
            json!([{"type": "body", "parameters": [{"type": "date_time", "date_time": {}}]}]),
            format!("{p}.parameters[0].date_time.fallback_value"),
            "required",
        ),
        (
            json!([{"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "text": "Bo"}
            ]}]),
            format!("{p}.parameters[1].parameter_name"),
            "cannot be mixed",
        ),
        (
            json!([{"type": "body", "parameters": [
                {"type": "text", "parameter_name": "name", "text": "Ana"},
                {"type": "text", "parameter_name": "name", "text": "Bo"}
            ]}]),
            format!("{p}.parameters[1].parameter_name"),
            "given twice",
        ),
        (
            json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "First Name", "text": "Ana"}]}]),
            format!("{p}.parameters[0].parameter_name"),
            "lowercase letters",
        ),
        (
            json!([button("quick_reply", json!(0), json!([]))]),
            format!("{p}.parameters"),
            "a quick_reply button takes exactly one payload parameter, got 0",
        ),
        (
            json!([button(
                "quick_reply",
                json!(0),
                json!([{"type": "text", "text": "x"}])
            )]),
            format!("{p}.parameters[0].type"),
            "not allowed here",
        ),
        (
            json!([button(
                "url",
                json!(0),
                json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
            )]),
            format!("{p}.parameters"),
            "a url button takes exactly one text parameter, got 2",
        ),
        (
            json!([button(
                "url",
                json!(0),
                json!([{"type": "text", "text": "a b"}])
            )]),
            format!("{p}.parameters[0].text"),
            "without spaces",
        ),
        (
            json!([button(
                "copy_code",
                json!(0),
                json!([{"type": "coupon_code", "coupon_code": "A".repeat(16)}])
            )]),
            format!("{p}.parameters[0].coupon_code"),
            "at most 15 characters",
        ),
        (
            json!([button(
                "flow",
                json!(0),
                json!([{"type": "payload", "payload": "x"}])
            )]),
            format!("{p}.parameters[0].type"),
            "expected one of action",
        ),
        (
            json!([button(
                "flow",
                json!(0),
                json!([{"type": "action", "action": {"flow_action_data": "x"}}])
            )]),
            format!("{p}.parameters[0].action.flow_action_data"),
            "must be an object",
        ),
        (
            json!([button(
                "flow",
                json!(0),
                json!([{"type": "action", "action": {"flow_token": 7}}])
            )]),
            format!("{p}.parameters[0].action.flow_token"),
            "must be a string",
        ),
        (
            json!([button(
                "flow",
                json!(10),
                json!([{"type": "action", "action": {}}])
            )]),
            format!("{p}.index"),
            "0 to 9",
        ),
        (
            json!([
                button(
                    "quick_reply",
                    json!(1),
                    json!([{"type": "payload", "payload": "a"}])
                ),
                button(
                    "quick_reply",
                    json!("1"),
                    json!([{"type": "payload", "payload": "b"}])
                )
            ]),
            "template.components[1].index".to_owned(),
            "already has index 1",
        ),
    ];
    for (components, field, needle) in cases {
        let body = send(components.clone());
        let errs = parse_send(&body, now(), &rules()).unwrap_err();
        let e = errs
            .0
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error at {field} for {components}: {errs:?}"));
        assert!(
            e.message.contains(needle),
            "{field}: {:?} does not say {needle:?}",
            e.message
        );
        assert_eq!(errs.0.len(), 1, "one failure for {components}: {errs:?}");
    }
}
