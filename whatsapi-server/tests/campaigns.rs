//! Campaigns through the sandbox: paused mid-way and resumed with every recipient getting exactly one message, a
//! send window that excludes now, CSV uploads, cancel, isolation between accounts, a campaign sent from a second
//! business number, and held messages that expire.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{Timelike, Utc};
use common::{Options, TestServer};
use serde_json::{Value, json};

async fn sandbox_server() -> TestServer {
    sandbox_server_with(Options::default().engine).await
}

async fn sandbox_server_with(engine: whatsapi_core::EngineConfig) -> TestServer {
    TestServer::start_with(Options {
        engine,
        sandbox: Some(whatsapi_sandbox::SandboxConfig {
            open_numbers: true,
            ..Default::default()
        }),
        settings: whatsapi_server::HttpSettings {
            body_limit: 1024 * 1024,
            ..common::sandbox_mode()
        },
        ..Options::default()
    })
    .await
}

fn number(i: usize) -> String {
    format!("1415555{i:04}")
}

fn hello_world() -> Value {
    json!({"name": "hello_world", "language": "en_US"})
}

async fn campaign(s: &TestServer, key: &str, id: &str) -> Value {
    let (code, v) = s.get(key, &format!("/campaigns/{id}")).await;
    assert_eq!(code, 200, "{v}");
    v["data"].clone()
}

fn settled(c: &Value) -> u64 {
    let n = |k: &str| c["counts"][k].as_u64().unwrap_or(0);
    n("sent") + n("delivered") + n("read") + n("failed")
}

/// How many accepted sends the sandbox received per recipient.
fn sends_per_recipient(s: &TestServer) -> HashMap<String, usize> {
    let mut per: HashMap<String, usize> = HashMap::new();
    for r in s.sandbox.as_ref().unwrap().sent() {
        if let Some(to) = r.to {
            *per.entry(to).or_default() += 1;
        }
    }
    per
}

#[tokio::test]
async fn a_campaign_paused_mid_way_and_resumed_sends_each_recipient_exactly_once() {
    let s = sandbox_server().await;
    let key = s.register("campaign-pause@example.com").await;
    let recipients: Vec<Value> = (0..24).map(|i| json!({"to": number(i)})).collect();
    let (code, v) = s
        .post(
            &key,
            "/campaigns",
            json!({"name": "Spring sale", "template": hello_world(), "recipients": recipients, "ratePerSecond": 8}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["data"]["recipients"], 24, "{v}");

    // Let a few go out, then pause.
    for _ in 0..400 {
        if settled(&campaign(&s, &key, &id).await) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (code, v) = s
        .post(&key, &format!("/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["state"], "paused", "{v}");
    let (code, v) = s
        .post(&key, &format!("/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(code, 409, "a paused campaign cannot pause again: {v}");

    // A send in flight may finish; after that nothing goes out while paused.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let during = sends_per_recipient(&s).values().sum::<usize>();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = sends_per_recipient(&s).values().sum::<usize>();
    assert_eq!(
        during, after,
        "nothing is sent while the campaign is paused"
    );
    assert!(after < 24, "paused mid-way: {after} of 24 sent");
    let c = campaign(&s, &key, &id).await;
    assert_eq!(c["state"], "paused");
    assert!(c["counts"]["scheduled"].as_u64().unwrap() > 0, "{c}");

    let (code, v) = s
        .post(&key, &format!("/campaigns/{id}/resume"), json!({}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_ne!(v["data"]["state"], "paused", "{v}");
    let (code, _) = s
        .post(&key, &format!("/campaigns/{id}/resume"), json!({}))
        .await;
    assert_eq!(code, 409, "a running campaign cannot resume");

    let mut done = Value::Null;
    for _ in 0..1000 {
        done = campaign(&s, &key, &id).await;
        if done["state"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["settled"], 24, "{done}");
    assert_eq!(done["progressPercent"], 100, "{done}");
    assert_eq!(done["counts"]["failed"], 0, "{done}");
    let per = sends_per_recipient(&s);
    for i in 0..24 {
        assert_eq!(
            per.get(&number(i)).copied(),
            Some(1),
            "{} got exactly one message: {per:?}",
            number(i)
        );
    }
    // Its messages are listed by the campaign id as their batch id.
    let (code, v) = s
        .get(&key, &format!("/messages?batchId={id}&limit=100"))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["pagination"]["total"], 24, "{v}");
    let (_, v) = s.get(&key, "/campaigns").await;
    assert_eq!(v["pagination"]["total"], 1, "{v}");
    assert_eq!(v["data"][0]["id"], id.as_str(), "{v}");
}

/// A window `HH:MM` times around `now + hours`, in UTC.
fn hm(hours: u32) -> String {
    let h = (Utc::now().hour() + hours) % 24;
    format!("{h:02}:00")
}

#[tokio::test]
async fn a_window_that_excludes_now_holds_the_messages_and_cancel_fails_them() {
    let s = sandbox_server().await;
    let key = s.register("campaign-window@example.com").await;
    let body = json!({
        "name": "Night shift",
        "template": hello_world(),
        "recipients": [
            {"to": number(100), "timeZone": "UTC"},
            {"to": number(101), "timeZone": "Etc/UTC"},
            {"to": "447911123456", "timeZone": "UTC"}
        ],
        "sendWindow": {"from": hm(2), "to": hm(3)},
    });
    let mut estimate = body.clone();
    estimate["estimate"] = json!(true);
    let (code, v) = s.post(&key, "/campaigns", estimate).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["estimate"], true, "{v}");
    assert_eq!(v["data"]["recipients"], 3, "{v}");
    assert_eq!(v["data"]["byCountry"], json!({"US": 2, "GB": 1}), "{v}");
    // Without a rate card every recipient is priced as unpriced, in the template's own category.
    let category = v["data"]["category"].as_str().unwrap().to_owned();
    assert!(["utility", "marketing"].contains(&category.as_str()), "{v}");
    assert_eq!(v["data"]["cost"]["messages"], 3, "{v}");
    assert_eq!(v["data"]["cost"]["totals"], json!([]), "{v}");
    assert_eq!(
        v["data"]["cost"]["unpriced"],
        json!([
            {"country": "GB", "category": category, "messages": 1},
            {"country": "US", "category": category, "messages": 2}
        ]),
        "{v}"
    );
    let (_, v) = s.get(&key, "/campaigns").await;
    assert_eq!(
        v["pagination"]["total"], 0,
        "an estimate creates nothing: {v}"
    );

    let (code, v) = s.post(&key, "/campaigns", body).await;
    assert_eq!(code, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["data"]["state"], "scheduled", "{v}");
    let (_, one) = s.get(&key, &format!("/campaigns/{id}")).await;
    assert_eq!(
        one["data"]["cost"],
        json!({"messages": 0, "rows": [], "totals": [], "unpriced": []}),
        "nothing is billed before anything is sent: {one}"
    );
    assert_eq!(v["data"]["sendWindow"]["from"], hm(2), "{v}");
    let (_, list) = s.get(&key, &format!("/messages?batchId={id}")).await;
    let opening = Utc::now() + chrono::Duration::minutes(55);
    for m in list["data"].as_array().unwrap() {
        let at: chrono::DateTime<Utc> = m["scheduledFor"].as_str().unwrap().parse().unwrap();
        assert!(at > opening, "due at the window's opening, not now: {m}");
        assert_eq!(at.minute(), 0, "{m}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sends_per_recipient(&s).is_empty(),
        "nothing goes out before the window opens"
    );

    let (code, v) = s
        .post(&key, &format!("/campaigns/{id}/cancel"), json!({}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["state"], "cancelled", "{v}");
    assert_eq!(v["data"]["counts"]["failed"], 3, "{v}");
    let first = list["data"][0]["id"].as_str().unwrap();
    let (_, m) = s.get(&key, &format!("/messages/{first}")).await;
    assert_eq!(m["data"]["status"], "failed", "{m}");
    assert_eq!(
        m["data"]["errorMessage"], "campaign cancelled before this message was sent",
        "{m}"
    );
    for verb in ["cancel", "pause", "resume"] {
        let (code, v) = s
            .post(&key, &format!("/campaigns/{id}/{verb}"), json!({}))
            .await;
        assert_eq!(code, 409, "{verb} of a cancelled campaign: {v}");
        assert_eq!(v["success"], false, "{v}");
    }
}

#[tokio::test]
async fn campaigns_from_csv_fill_each_recipients_parameters() {
    let s = sandbox_server().await;
    let key = s.register("campaign-csv@example.com").await;
    let start = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let csv = format!(
        "to,timeZone,first_name,order\n{},Europe/London,Sarah,#1042\n{},,Tom,#1043\n",
        number(200),
        number(201)
    );
    let r = s
        .client
        .post(s.url("/campaigns"))
        .bearer_auth(&key)
        .query(&[
            ("name", "Order ready"),
            ("template", "order_ready"),
            ("language", "en_US"),
            ("startAt", start.as_str()),
            ("ratePerSecond", "2"),
        ])
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["recipients"], 2, "{v}");
    assert_eq!(v["data"]["template"], "order_ready", "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let (_, list) = s.get(&key, &format!("/messages?batchId={id}")).await;
    let mut bodies: Vec<String> = Vec::new();
    for m in list["data"].as_array().unwrap() {
        let mid = m["id"].as_str().unwrap();
        let (_, full) = s.get(&key, &format!("/messages/{mid}")).await;
        bodies.push(full["data"].to_string());
    }
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Sarah") && b.contains("#1042") && b.contains(&number(200))),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Tom") && b.contains("#1043") && b.contains(&number(201))),
        "{bodies:?}"
    );

    // The same as a multipart form.
    let form = reqwest::multipart::Form::new()
        .text(
            "campaign",
            json!({"name": "Form", "template": hello_world(), "startAt": start}).to_string(),
        )
        .text(
            "recipients",
            format!("to\n{}\n{}\n", number(300), number(301)),
        );
    let r = s
        .client
        .post(s.url("/campaigns"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["recipients"], 2, "{v}");

    // A bad row names itself; nothing is created.
    let r = s
        .client
        .post(s.url("/campaigns?name=Bad&template=hello_world&language=en_US"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(format!("to\n{}\n+1 415 555\n", number(400)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["details"][0]["field"], "recipients[1].to", "{v}");
    let (_, v) = s.get(&key, "/campaigns").await;
    assert_eq!(v["pagination"]["total"], 2, "{v}");
}

#[tokio::test]
async fn campaigns_are_validated_and_private_to_their_account() {
    let s = sandbox_server().await;
    let key = s.register("campaign-owner@example.com").await;
    let other = s.register("campaign-other@example.com").await;

    let (code, v) = s
        .post(
            &key,
            "/campaigns",
            json!({"template": hello_world(), "recipients": [{"to": "14155"}], "sendWindow": {"from": "9am", "to": "20:00"},
                   "ratePerSecond": 0, "colour": "red"}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    let fields: Vec<&str> = v["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    for f in ["name", "sendWindow.from", "recipients[0].to", "colour"] {
        assert!(fields.contains(&f), "{f} is named: {v}");
    }
    let (code, v) = s
        .post(
            &key,
            "/campaigns",
            json!({"name": "Too fast", "template": hello_world(), "recipients": [{"to": number(1)}], "ratePerSecond": 5000}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "ratePerSecond", "{v}");
    let (code, v) = s
        .post(
            &key,
            "/campaigns",
            json!({"name": "Text with params", "message": "hi", "recipients": [{"to": number(1), "params": ["x"]}]}),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "recipients[0].params", "{v}");

    let start = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (code, v) = s
        .post(
            &key,
            "/campaigns",
            json!({"name": "Mine", "template": hello_world(), "recipients": [{"to": number(2)}], "startAt": start}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, _) = s.get(&other, &format!("/campaigns/{id}")).await;
    assert_eq!(code, 404, "another account's campaign is not found");
    for verb in ["pause", "resume", "cancel"] {
        let (code, v) = s
            .post(&other, &format!("/campaigns/{id}/{verb}"), json!({}))
            .await;
        assert_eq!(code, 404, "{verb}: {v}");
    }
    let (_, v) = s.get(&other, "/campaigns").await;
    assert_eq!(v["pagination"]["total"], 0, "{v}");
    let (code, _) = s.get(&key, "/campaigns/not-a-uuid").await;
    assert_eq!(code, 404);
    let c = campaign(&s, &key, &id).await;
    assert_eq!(
        c["state"], "scheduled",
        "untouched by the other account: {c}"
    );
}

/// Polls the campaign until `done` holds for it (at most `secs` seconds); answers it as last seen.
async fn wait_campaign(
    s: &TestServer,
    key: &str,
    id: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let c = campaign(s, key, id).await;
        if done(&c) || std::time::Instant::now() > deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_campaign_goes_out_on_its_number_and_its_held_messages_expire() {
    let s = sandbox_server_with(whatsapi_core::EngineConfig {
        expiry_interval: Duration::from_millis(100),
        ..Options::default().engine
    })
    .await;
    let sb = s.sandbox.as_ref().unwrap();
    let key = s.register("campaign-from@example.com").await;
    let extra = "5551239000";
    let (code, v) = s
        .post(&key, "/numbers", json!({"whatsappPhoneNumberId": extra}))
        .await;
    assert_eq!(code, 201, "{v}");

    // A number the account does not have, and an out-of-range validity, are refused naming the field; nothing is
    // created.
    let body = |extra_fields: Value| {
        let mut b = json!({"name": "From test", "template": hello_world(),
            "recipients": [{"to": number(700)}, {"to": number(701)}, {"to": number(702)}]});
        b.as_object_mut()
            .unwrap()
            .extend(extra_fields.as_object().unwrap().clone());
        b
    };
    let (code, v) = s
        .post(&key, "/campaigns", body(json!({"from": "5551238888"})))
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "from", "{v}");
    for bad in [json!(0), json!(2_592_001), json!("60")] {
        let (code, v) = s
            .post(&key, "/campaigns", body(json!({"validitySeconds": bad})))
            .await;
        assert_eq!(code, 400, "{v}");
        assert_eq!(v["details"][0]["field"], "validitySeconds", "{v}");
    }
    let (code, v) = s
        .post(&key, "/campaigns", body(json!({"from": "+1 555"})))
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["details"][0]["field"], "from", "{v}");
    let (_, v) = s.get(&key, "/campaigns").await;
    assert_eq!(
        v["pagination"]["total"], 0,
        "refused campaigns are not created: {v}"
    );

    // From the second number, with a validity period: every message goes out on that number and expires an hour
    // after its own planned time.
    let (code, v) = s
        .post(
            &key,
            "/campaigns",
            body(json!({"from": extra, "validitySeconds": 3600})),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["from"], extra, "{v}");
    assert_eq!(v["data"]["validitySeconds"], 3600, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let done = wait_campaign(&s, &key, &id, 20, |c| c["state"] == "completed").await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["counts"]["failed"], 0, "{done}");
    for i in 700..703 {
        let on: Vec<String> = sb
            .requests_for(&number(i))
            .into_iter()
            .map(|r| r.phone_number_id)
            .collect();
        assert_eq!(
            on,
            [extra],
            "{} was sent from the campaign's number",
            number(i)
        );
    }
    let (_, v) = s
        .get(&key, &format!("/messages?batchId={id}&limit=10"))
        .await;
    for m in v["data"].as_array().unwrap() {
        assert_eq!(m["from"], extra, "{m}");
        let expires =
            chrono::DateTime::parse_from_rfc3339(m["expiresAt"].as_str().unwrap()).unwrap();
        let created =
            chrono::DateTime::parse_from_rfc3339(m["createdAt"].as_str().unwrap()).unwrap();
        let after = (expires - created).num_seconds();
        assert!(
            (3599..=3601).contains(&after),
            "an hour after its planned time (now): {m}"
        );
    }

    // Paused before its first message is due, with a validity of one second: every held message expires unsent,
    // failed with the reason, and a resume releases nothing.
    let (code, v) = s
        .post(
            &key,
            "/campaigns",
            json!({"name": "Held", "template": hello_world(), "ratePerSecond": 1, "validitySeconds": 1,
                "startAt": (Utc::now() + chrono::Duration::seconds(3)).to_rfc3339(),
                "recipients": [{"to": number(710)}, {"to": number(711)}, {"to": number(712)}]}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let held = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, v) = s
        .post(&key, &format!("/campaigns/{held}/pause"), json!({}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["data"]["counts"]["scheduled"], 3,
        "all three are held: {v}"
    );
    let c = wait_campaign(&s, &key, &held, 20, |c| c["counts"]["failed"] == 3).await;
    assert_eq!(c["counts"]["failed"], 3, "the held messages expired: {c}");
    assert_eq!(c["state"], "paused", "{c}");
    let (_, v) = s
        .get(&key, &format!("/messages?batchId={held}&limit=10"))
        .await;
    for m in v["data"].as_array().unwrap() {
        assert_eq!(m["status"], "failed", "{m}");
        assert!(
            m["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .contains("expired before it could be sent"),
            "{m}"
        );
    }
    let (code, v) = s
        .post(&key, &format!("/campaigns/{held}/resume"), json!({}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["data"]["state"], "completed",
        "nothing was left to send: {v}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 710..713 {
        assert!(
            sb.requests_for(&number(i)).is_empty(),
            "{} was never sent: it expired first",
            number(i)
        );
    }
}

/// A text campaign of `n` recipients starting in an hour (a dry run: the account has no Meta credentials).
fn text_campaign(n: usize) -> Value {
    let recipients: Vec<Value> = (0..n).map(|i| json!({"to": number(i)})).collect();
    let start = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    json!({"name": "Big", "message": "Our spring sale starts today.", "recipients": recipients, "startAt": start,
        "dry_run": true})
}

async fn total_campaigns(s: &TestServer, key: &str) -> u64 {
    let (code, v) = s.get(key, "/campaigns").await;
    assert_eq!(code, 200, "{v}");
    v["pagination"]["total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_campaign_over_the_plans_cap_is_refused_and_at_the_cap_created() {
    let s = TestServer::start().await;
    let key = s.register("campaign-cap@example.com").await;
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["plan"], "free", "{me}");
    assert_eq!(me["data"]["campaignRecipientLimit"], 1000, "{me}");

    let (code, v) = s.post(&key, "/campaigns", text_campaign(1001)).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["success"], false, "{v}");
    assert_eq!(v["details"][0]["field"], "recipients", "{v}");
    let message = v["details"][0]["message"].as_str().unwrap();
    for part in [
        "at most 1000 recipients",
        "free plan",
        "got 1001",
        "higher plan",
        "basic plan 10000",
    ] {
        assert!(message.contains(part), "{part:?} in {message:?}");
    }
    assert_eq!(total_campaigns(&s, &key).await, 0, "nothing created");
    let (_, messages) = s.get(&key, "/messages").await;
    assert_eq!(messages["pagination"]["total"], 0, "{messages}");

    let (code, v) = s.post(&key, "/campaigns", text_campaign(1000)).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["recipients"], 1000, "{v}");
    assert_eq!(total_campaigns(&s, &key).await, 1);
}

#[tokio::test]
async fn the_operator_sets_each_plans_campaign_cap() {
    let cli = whatsapi_server::config::Cli::parse_args([
        "whatsapi",
        "--plan-rpm",
        "free=100000",
        "--plan-campaign-recipients",
        "free=5",
    ])
    .unwrap();
    let whatsapi_server::config::Command::Serve(args) = cli.command else {
        panic!("not serve")
    };
    let s = TestServer::start_with(Options {
        plans: args.plans(),
        ..Options::default()
    })
    .await;
    let key = s.register("campaign-override@example.com").await;
    let (_, me) = s.get(&key, "/auth/me").await;
    assert_eq!(me["data"]["campaignRecipientLimit"], 5, "{me}");
    let (code, v) = s.post(&key, "/campaigns", text_campaign(6)).await;
    assert_eq!(code, 400, "{v}");
    assert!(
        v["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("at most 5 recipients per campaign on the free plan, got 6"),
        "{v}"
    );
    let (code, v) = s.post(&key, "/campaigns", text_campaign(5)).await;
    assert_eq!(code, 201, "{v}");
}

#[tokio::test]
async fn a_campaign_body_of_100000_rows_is_read_but_a_larger_one_is_not() {
    // The server-wide limit of the test server is 256 KiB; campaigns have their own.
    let s = TestServer::start().await;
    let key = s.register("campaign-body@example.com").await;
    let rows: Vec<Value> = (0..100_000)
        .map(|i| json!({"to": number(i % 10_000), "params": [format!("Customer number {i:06}"), "Spring sale 2027"], "timeZone": "Europe/London"}))
        .collect();
    let body = json!({"name": "Huge", "template": hello_world(), "recipients": rows}).to_string();
    assert!(
        body.len() > 9_000_000,
        "about 100 bytes per row: {}",
        body.len()
    );
    let r = s
        .client
        .post(s.url("/campaigns"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "read, then refused by the free plan's cap");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["details"][0]["field"], "recipients", "{v}");

    let csv = format!(
        "to,name\n{}",
        "14155550000,Sarah Connor the customer\n".repeat(500_000)
    );
    assert!(csv.len() > whatsapi_server::routes::campaigns::CAMPAIGN_BODY_LIMIT);
    let r = s
        .client
        .post(s.url("/campaigns?name=Huge&template=hello_world&language=en_US"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(total_campaigns(&s, &key).await, 0);
}
