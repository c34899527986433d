//! What messages cost: sends to several countries through the sandbox, priced by a rate card, checked against a
//! table computed by hand; free messages left out, unpriced ones shown, range bounds honoured, another account
//! sees nothing; without a rate card the counts remain; a bad rate card stops the server naming the line.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{Duration, SecondsFormat, Utc};
use common::{APP_SECRET, Options, PHONE_NUMBER_ID, TestServer};
use serde_json::{Value, json};
use whatsapi_core::costs::RateCard;

const CARD: &str = "country,category,price,currency
US,marketing,0.025,USD
CA,marketing,0.025,USD
GB,marketing,0.0529,GBP
GB,utility,0.022,GBP
IN,utility,0.115,INR
*,utility,0.008,USD
";

async fn sandbox_server(card: &str) -> TestServer {
    let mut settings = common::sandbox_mode();
    settings.rate_card = Some(Arc::new(RateCard::from_csv(card.as_bytes()).unwrap()));
    TestServer::start_with(Options {
        sandbox: Some(whatsapi_sandbox::SandboxConfig {
            open_numbers: true,
            service_window: true,
            ..Default::default()
        }),
        settings,
        ..Options::default()
    })
    .await
}

fn template(name: &str) -> Value {
    json!({"name": name, "language": "en_US"})
}

/// Sends and waits until Meta's `delivered` (with its pricing) is applied.
async fn send_delivered(s: &TestServer, key: &str, body: Value) -> Value {
    let (code, v) = s.post(key, "/send-message", body.clone()).await;
    assert_eq!(code, 202, "{body}: {v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(key, &id, &["delivered", "read"]).await
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Rows as `(country, category, messages, unitPrice, currency, cost)`.
fn rows(report: &Value) -> Vec<(String, String, u64, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                s(&r["country"]),
                s(&r["category"]),
                r["messages"].as_u64().unwrap(),
                s(&r["unitPrice"]),
                s(&r["currency"]),
                s(&r["cost"]),
            )
        })
        .collect()
}

fn row(
    country: &str,
    category: &str,
    messages: u64,
    unit: &str,
    currency: &str,
    cost: &str,
) -> (String, String, u64, String, String, String) {
    (
        country.into(),
        category.into(),
        messages,
        unit.into(),
        currency.into(),
        cost.into(),
    )
}

#[tokio::test]
async fn costs_of_sends_to_several_countries_match_a_hand_computed_table() {
    let s = sandbox_server(CARD).await;
    let key = s.register("costs@example.com").await;
    let start = Utc::now() - Duration::seconds(1);

    // Charged (type `regular`): weekly_deals is a marketing template, hello_world a utility one.
    for to in [
        "14155552671",
        "12125550100",
        "14165550100",
        "447911123456",
        "4915112345678",
    ] {
        send_delivered(
            &s,
            &key,
            json!({"to": to, "template": template("weekly_deals")}),
        )
        .await;
    }
    for to in ["447911123457", "919876543210", "5511987654321"] {
        send_delivered(
            &s,
            &key,
            json!({"to": to, "template": template("hello_world")}),
        )
        .await;
    }
    // Free: the customer writes in, and the replies in the window (text, a utility template) cost nothing.
    let (code, v) = s
        .post(
            &key,
            "/sandbox/inbound",
            json!({"from": "+14155552671", "text": "hi"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let reply = send_delivered(
        &s,
        &key,
        json!({"to": "14155552671", "message": "Happy to help"}),
    )
    .await;
    assert_eq!(reply["pricing"]["type"], "free_customer_service", "{reply}");
    assert_eq!(reply["pricing"]["category"], "service", "{reply}");
    let update = send_delivered(
        &s,
        &key,
        json!({"to": "14155552671", "template": template("hello_world")}),
    )
    .await;
    assert_eq!(
        update["pricing"]["type"], "free_customer_service",
        "{update}"
    );
    assert_eq!(update["pricing"]["category"], "utility", "{update}");
    let end = Utc::now() + Duration::seconds(1);

    let (code, v) = s
        .get(
            &key,
            &format!(
                "/analytics/costs?from={}&to={}",
                rfc3339(start),
                rfc3339(end)
            ),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let report = &v["data"];
    // By hand: US 2 × 0.025 = 0.05 USD; CA 1 × 0.025 USD; GB marketing 0.0529 GBP and utility 0.022 GBP; IN
    // 0.115 INR; BR by the `*` utility row 0.008 USD; DE marketing has no rate.
    assert_eq!(
        rows(report),
        [
            row("BR", "utility", 1, "0.008", "USD", "0.008"),
            row("CA", "marketing", 1, "0.025", "USD", "0.025"),
            row("GB", "marketing", 1, "0.0529", "GBP", "0.0529"),
            row("GB", "utility", 1, "0.022", "GBP", "0.022"),
            row("IN", "utility", 1, "0.115", "INR", "0.115"),
            row("US", "marketing", 2, "0.025", "USD", "0.05"),
        ],
        "{report}"
    );
    assert_eq!(
        report["totals"],
        json!([
            {"currency": "GBP", "messages": 2, "cost": "0.0749", "costMicros": 74_900},
            {"currency": "INR", "messages": 1, "cost": "0.115", "costMicros": 115_000},
            {"currency": "USD", "messages": 4, "cost": "0.083", "costMicros": 83_000},
        ]),
        "{report}"
    );
    assert_eq!(
        report["unpriced"],
        json!([{"country": "DE", "category": "marketing", "messages": 1}]),
        "{report}"
    );
    assert_eq!(
        report["billableMessages"], 8,
        "the two free replies are left out: {report}"
    );
    assert_eq!(report["rateCard"], true);
    assert_eq!(report["from"], rfc3339(start));
    assert_eq!(report["to"], rfc3339(end));

    // Dates count in full: today..today is the same report.
    let today = Utc::now().date_naive().to_string();
    let (code, v) = s
        .get(&key, &format!("/analytics/costs?from={today}&to={today}"))
        .await;
    assert_eq!(code, 200, "{v}");
    if Utc::now().date_naive() == start.date_naive() {
        assert_eq!(v["data"]["totals"], report["totals"], "{v}");
        assert_eq!(v["data"]["billableMessages"], 8, "{v}");
    }
    // The default period (this month so far) holds them too.
    let (_, v) = s.get(&key, "/analytics/costs").await;
    if Utc::now().date_naive().format("%Y-%m").to_string() == start.format("%Y-%m").to_string() {
        assert_eq!(v["data"]["billableMessages"], 8, "{v}");
    }
    // Bounds: a period that ends when the sends began, or starts after they ended, has none.
    for (from, to) in [
        (start - Duration::hours(1), start),
        (end, end + Duration::hours(1)),
    ] {
        let (code, v) = s
            .get(
                &key,
                &format!("/analytics/costs?from={}&to={}", rfc3339(from), rfc3339(to)),
            )
            .await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["data"]["billableMessages"], 0, "{from}..{to}: {v}");
        assert_eq!(v["data"]["rows"], json!([]), "{v}");
        assert_eq!(v["data"]["totals"], json!([]), "{v}");
    }

    // The summary counts every priced message by category and type, free ones included.
    let (code, v) = s.get(&key, "/analytics/summary").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["total"], 10, "{v}");
    assert_eq!(
        v["data"]["byPricingCategory"],
        json!({"marketing": 5, "service": 1, "utility": 4}),
        "{v}"
    );
    assert_eq!(
        v["data"]["byPricingType"],
        json!({"free_customer_service": 2, "regular": 8}),
        "{v}"
    );

    // Another account sees nothing of it.
    let other = s.register("other-costs@example.com").await;
    let (code, v) = s
        .get(
            &other,
            &format!(
                "/analytics/costs?from={}&to={}",
                rfc3339(start),
                rfc3339(end)
            ),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["billableMessages"], 0, "{v}");
    assert_eq!(v["data"]["rows"], json!([]), "{v}");
    assert_eq!(v["data"]["unpriced"], json!([]), "{v}");
    let (_, v) = s.get(&other, "/analytics/summary").await;
    assert_eq!(v["data"]["byPricingCategory"], json!({}), "{v}");
    assert_eq!(v["data"]["byPricingType"], json!({}), "{v}");
    s.stop().await;
}

/// POSTs Meta's `delivered` for `wamid` with a pricing, signed with the test app secret.
async fn delivered_with_pricing(s: &TestServer, wamid: &str, to: &str, category: &str, kind: &str) {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550001234", "phone_number_id": PHONE_NUMBER_ID},
                  "statuses": [{"id": wamid, "status": "delivered", "timestamp": Utc::now().timestamp().to_string(),
                                "recipient_id": to,
                                "pricing": {"billable": kind == "regular", "pricing_model": "PMP",
                                            "category": category, "type": kind}}]}}]}]});
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

#[tokio::test]
async fn without_a_rate_card_billable_messages_are_counted_unpriced() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("no-card@example.com").await;
    let mut wamids = Vec::new();
    for to in ["4915112345678", "4915112345679", "14155552671"] {
        let (code, v) = s
            .post(&key, "/send-message", json!({"to": to, "message": "hi"}))
            .await;
        assert_eq!(code, 202, "{v}");
        let m = s
            .wait_status(&key, v["data"]["id"].as_str().unwrap(), &["sent"])
            .await;
        wamids.push((m["wamid"].as_str().unwrap().to_owned(), to));
    }
    delivered_with_pricing(&s, &wamids[0].0, wamids[0].1, "marketing", "regular").await;
    delivered_with_pricing(&s, &wamids[1].0, wamids[1].1, "marketing", "regular").await;
    delivered_with_pricing(
        &s,
        &wamids[2].0,
        wamids[2].1,
        "service",
        "free_customer_service",
    )
    .await;

    let (code, v) = s.get(&key, "/analytics/costs").await;
    assert_eq!(code, 200, "{v}");
    let report = &v["data"];
    assert_eq!(report["rateCard"], false, "{report}");
    assert_eq!(report["rows"], json!([]), "{report}");
    assert_eq!(report["totals"], json!([]), "{report}");
    assert_eq!(
        report["unpriced"],
        json!([{"country": "DE", "category": "marketing", "messages": 2}]),
        "{report}"
    );
    assert_eq!(report["billableMessages"], 2, "{report}");
    let (_, v) = s.get(&key, "/analytics/summary").await;
    assert_eq!(
        v["data"]["byPricingType"],
        json!({"free_customer_service": 1, "regular": 2}),
        "{v}"
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_periods_are_400_naming_the_parameter() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("bad-costs@example.com").await;
    for (query, field, words) in [
        ("from=yesterday", "from", "RFC 3339"),
        ("to=2026-13-01", "to", "RFC 3339"),
        ("from=2026-11-01T25:00:00Z", "from", "RFC 3339"),
        ("from=2026-11-10&to=2026-11-01", "to", "after from"),
        (
            "from=2026-11-01T10:00:00Z&to=2026-11-01T10:00:00Z",
            "to",
            "after from",
        ),
        ("from=2025-01-01&to=2026-11-01", "to", "at most 366 days"),
        ("since=2026-11-01", "since", "unknown query parameter"),
        ("batchId=nope", "batchId", "batchId"),
    ] {
        let (code, v) = s.get(&key, &format!("/analytics/costs?{query}")).await;
        assert_eq!(code, 400, "{query}: {v}");
        assert_eq!(v["success"], false, "{v}");
        let details = v["details"].as_array().unwrap();
        assert!(
            details
                .iter()
                .any(|d| d["field"] == field && d["message"].as_str().unwrap().contains(words)),
            "{query}: {v}"
        );
    }
    let long = "9".repeat(5_000);
    let (code, v) = s.get(&key, &format!("/analytics/costs?from={long}")).await;
    assert_eq!(code, 400, "{v}");
    let (code, _) = s.get("sk_live_nope", "/analytics/costs").await;
    assert_eq!(code, 401);
    s.stop().await;
}

#[test]
fn the_example_rate_card_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rate-card.csv");
    let card = whatsapi_server::ops::load_rate_card(&path).unwrap();
    assert!(card.len() >= 10);
}

/// Starts the server in an empty folder with `card` as its rate card, as an operator would; it must refuse to start.
/// Answers what it printed on stderr and whether it created its data folder.
fn refused_start(dir: &std::path::Path, card: &str) -> (String, bool) {
    let path = dir.join("rates.csv");
    std::fs::write(&path, card).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_whatsapi"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database",
            "data/whatsapi.db",
            "--rate-card",
        ])
        .arg(&path)
        .current_dir(dir)
        .env("WHATSAPI_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("WHATSAPI_ENCRYPTION_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server started with {card:?}");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        dir.join("data").exists(),
    )
}

#[test]
fn a_bad_rate_card_stops_the_server_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let (stderr, created) = refused_start(
        dir.path(),
        "country,category,price,currency\nUS,marketing,0.025,USD\nUS,promotion,0.01,USD\n",
    );
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    for words in ["rates.csv", "line 3", "unknown category \"promotion\""] {
        assert!(line.contains(words), "{words} missing from: {line}");
    }
    assert!(!created, "nothing created before the card is read");

    let (stderr, _) = refused_start(
        dir.path(),
        "country,category,price,currency\nUS,marketing,0.025,USD\nUS,marketing,0.03,USD\n",
    );
    assert!(
        stderr.contains("line 3: a second row for US and marketing"),
        "{stderr}"
    );
}
