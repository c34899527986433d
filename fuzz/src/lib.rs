//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz_targets/`) and the stable runner
//! (`src/bin/stable.rs`). Each takes arbitrary bytes, must never panic, and checks the parser's invariants.

use chrono::{DateTime, Utc};
use whatsapi_core::{PhoneNumber, UserId};
use whatsapi_core::message::MessageContent;
use whatsapi_core::meta;
use whatsapi_core::send::{BulkItem, MAX_TEXT_CHARS, SendRules};

/// A fixed "now" so runs are reproducible.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("valid timestamp")
}

/// `whatsapi_api::parse_send` and `parse_bulk` on arbitrary JSON: no panic; an accepted request is valid (core's
/// own validation agrees), and one accepted with the schedule check deferred fails core's check on `send_at` only.
pub fn parse_send(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let rules = SendRules::default();
    match whatsapi_api::parse_send(&body, now(), &rules) {
        Ok(req) => {
            let to = req.recipient();
            assert!(
                to.phone_number()
                    .is_none_or(|p| PhoneNumber::parse(p.as_str()).is_ok())
                    && to
                        .user_id()
                        .is_none_or(|u| UserId::parse(u.as_str()).is_ok()),
                "accepted recipient must re-parse"
            );
            if let MessageContent::Text { body } = req.content() {
                let n = body.chars().count();
                assert!(
                    (1..=MAX_TEXT_CHARS).contains(&n),
                    "text of {n} characters accepted"
                );
            }
            if let Some(at) = req.scheduled_for() {
                assert!(at > now(), "sendAt in the past accepted");
            }
            if let Err(e) = req.validate(now(), &rules) {
                panic!("accepted at the edge, refused by core: {e}");
            }
        }
        Err(errs) => assert!(!errs.is_empty(), "refusal without a reason"),
    }
    let deferred =
        whatsapi_api::parse_send_with(&body, now(), &rules, whatsapi_api::Schedule::Defer);
    if let Ok(req) = deferred {
        if let Err(e) = req.validate(now(), &rules) {
            assert!(
                e.fields().iter().all(|f| f.field == "send_at"),
                "deferred parse let through more than a schedule failure: {e}"
            );
        }
    }
    if let Ok(bulk) = whatsapi_api::parse_bulk(&body, now(), &rules, 100) {
        assert!(bulk.request.len() <= 100);
        for (i, item) in bulk.request.items().iter().enumerate() {
            let rejected = matches!(item, BulkItem::Rejected(_));
            assert_eq!(rejected, bulk.rejected.contains(&i), "item {i}");
        }
    }
}

/// `meta::parse_webhook` and `meta::verify_signature`: no panic; a body signed with the secret verifies, a
/// different secret or a changed body does not, and any header the input makes up is refused.
pub fn meta_webhook(data: &[u8]) {
    let _ = meta::parse_webhook(data);
    let (secret, body) = data.split_at(data.len().min(16));
    let sig = meta::sign(secret, body);
    assert!(meta::verify_signature(secret, body, &sig));
    assert!(
        !meta::verify_signature(b"another-secret-xyz", body, &sig)
            || secret == b"another-secret-xyz"
    );
    let mut changed = body.to_vec();
    changed.push(b'!');
    assert!(!meta::verify_signature(secret, &changed, &sig));
    // The input as a header: refused unless it is the right signature (it cannot be, barring a collision).
    let fixed = meta::sign(b"fixed-secret", b"fixed body");
    if let Ok(header) = std::str::from_utf8(data)
        && header.trim() != fixed
    {
        assert!(!meta::verify_signature(
            b"fixed-secret",
            b"fixed body",
            header
        ));
    }
}

/// `PhoneNumber::parse` on arbitrary strings: no panic; accepted numbers are 8-15 digits without a leading 0.
pub fn phone(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match PhoneNumber::parse(s) {
        Ok(p) => {
            let d = p.as_str();
            assert_eq!(d, s);
            assert!((8..=15).contains(&d.len()), "{d}");
            assert!(
                d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'),
                "{d}"
            );
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
}

/// Seed inputs for each target (also the libFuzzer corpus, written by `scripts/fuzz.sh`).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let strs: &[&str] = match target {
        "parse_send" => &[
            r#"{"to":"14155552671","message":"hi"}"#,
            r#"{"to":"14155552671","template":{"name":"order_ready","language":"en_US","components":[{"type":"body","parameters":[{"type":"text","text":"Ada"},{"type":"currency","currency":{"fallback_value":"$1","code":"USD","amount_1000":1000}}]},{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"x"}]}]}}"#,
            r#"{"to":"14155552671","template":{"name":"t","language":"en","components":[{"type":"header","parameters":[{"type":"location","location":{"latitude":1,"longitude":2}}]},{"type":"body","parameters":[{"type":"text","parameter_name":"n","text":"A"}]},{"type":"button","sub_type":"flow","index":1,"parameters":[{"type":"action","action":{"flow_token":"t"}}]}]}}"#,
            r#"{"to":"+1 415 555 2671","message":"hi","sendAt":"2025-07-01T00:00:00Z","metadata":{"a":1},"dry_run":true}"#,
            r#"{"messages":[{"to":"14155552671","message":"a"},{"to":"0","message":""}]}"#,
            r#"{"to":"14155552671","template":{"name":"x","language":"en","components":[{"type":"header","parameters":[{"type":"image","image":{"link":"https://e.x/a.png"}},{"type":"date_time","date_time":{"fallback_value":"d"}}]}]}}"#,
        ],
        "meta_webhook" => &[
            r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"123"},"statuses":[{"id":"wamid.1","status":"delivered","timestamp":"1750000000","recipient_id":"14155552671"}]}}]}]}"#,
            r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"statuses":[{"id":"w","status":"failed","timestamp":"1","errors":[{"code":131026,"title":"t","error_data":{"details":"d"}}]}],"messages":[{"from":"1","timestamp":"2"}]}}]}]}"#,
            "sha256=00",
        ],
        _ => &[
            "14155552671",
            "+1 (415) 555-2671",
            "0123",
            "1234567890123456",
            "",
        ],
    };
    strs.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// A fuzz target.
pub type Target = fn(&[u8]);

/// The targets by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("parse_send", parse_send),
    ("meta_webhook", meta_webhook),
    ("phone", phone),
];

#[cfg(test)]
mod tests {
    /// The seeds pass every target's checks (crashes found by fuzzing are added to the seeds).
    #[test]
    fn seeds_pass() {
        for (name, target) in super::TARGETS {
            for seed in super::seeds(name) {
                target(&seed);
            }
        }
    }
}
