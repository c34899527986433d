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
    assert_eq!(req.to().as_str(), "14155552671");
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
                TemplateParameter::Text {
                    text: "Sarah".into()
                },
                TemplateParameter::Text {
                    text: "#1042".into()
                }
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
