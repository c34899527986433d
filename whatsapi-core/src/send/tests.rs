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
                TemplateParameter::Text {
                    text: "Sarah".into()
                },
                TemplateParameter::Text {
                    text: "#1042".into()
                },
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
            [TemplateParameter::Text {
                text: "a".repeat(1025),
            }],
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
