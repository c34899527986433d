use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-28T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn reference_example_parses() {
    let req = parse_send(
        &json!({"to": "14155552671", "message": "Hi Sarah! Your order #1234 has shipped.", "metadata": {"orderId": "1234"}}),
        now(),
        &SendRules::default(),
    )
    .unwrap();
    assert_eq!(req.to.as_str(), "14155552671");
    assert_eq!(
        req.content.body(),
        Some("Hi Sarah! Your order #1234 has shipped.")
    );
}
