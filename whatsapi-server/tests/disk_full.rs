//! Issue 11, item 4: the database cannot grow (disk full). Root ignores file permissions, so the test caps the
//! SQLite file at its current size (`PRAGMA max_page_count` on the writer, `SqliteStore::set_max_page_count`):
//! a write that needs a new page then fails with SQLITE_FULL, as on a full disk.
//!
//! Every refused request answers 503 with `Retry-After` and says nothing was saved; nothing half-written is left
//! (every 202 is listed and counted, nothing else is); once the cap is lifted, sends (and a refused request
//! retried with its Idempotency-Key) succeed.

mod common;

use common::TestServer;
use serde_json::{Value, json};

/// Most sends tried while the file is capped (the free space of its last pages runs out long before).
const MOST_SENDS: usize = 2_000;

/// The keyed request's text is longer than every filler's, so it needs at least the room the refused filler
/// needed: whatever the page layout, the refusal is not a matter of a shorter row fitting a leftover gap.
const KEYED: &str = "keyed request, longer than the fillers";

async fn send(
    s: &TestServer,
    key: &str,
    text: &str,
    idem: Option<&str>,
) -> (u16, Option<String>, Value) {
    send_body(s, key, json!({"to": "14155552671", "message": text}), idem).await
}

/// A send scheduled an hour ahead: the engine leaves it alone, so nothing it records (a sent message's due
/// entry leaving the index) frees room in the capped file between one request and the next.
async fn send_later(s: &TestServer, key: &str, text: &str) -> (u16, Option<String>, Value) {
    let at = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({"to": "14155552671", "message": text, "sendAt": at});
    send_body(s, key, body, None).await
}

async fn send_body(
    s: &TestServer,
    key: &str,
    body: Value,
    idem: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut r = s
        .client
        .post(s.url("/send-message"))
        .bearer_auth(key)
        .json(&body);
    if let Some(idem) = idem {
        r = r.header("idempotency-key", idem);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, r.json().await.unwrap_or(Value::Null))
}

async fn counts(s: &TestServer, key: &str) -> (u64, u64) {
    let (code, list) = s.get(key, "/messages?limit=1").await;
    assert_eq!(code, 200, "{list}");
    let (code, summary) = s.get(key, "/analytics/summary").await;
    assert_eq!(code, 200, "{summary}");
    (
        list["pagination"]["total"].as_u64().unwrap(),
        summary["data"]["total"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_full_disk_answers_503_saves_nothing_half_and_recovers() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("full@example.com").await;
    for i in 0..3 {
        let (code, _, v) = send(&s, &key, &format!("before-{i}"), None).await;
        assert_eq!(code, 202, "{v}");
        // Sent before the cap: the engine has nothing left to write while the file is full.
        s.wait_status(
            &key,
            v["data"]["id"].as_str().unwrap(),
            &["sent", "delivered", "read"],
        )
        .await;
    }
    assert_eq!(counts(&s, &key).await, (3, 3));

    let cap = s.sqlite.set_max_page_count(Some(0)).await.unwrap();
    let mut accepted = 0u64;
    let mut refused = None;
    for i in 0..MOST_SENDS {
        let (code, retry_after, v) = send_later(&s, &key, &format!("capped-{i:04}")).await;
        match code {
            202 => accepted += 1,
            503 => {
                refused = Some((retry_after, v));
                break;
            }
            other => panic!("send {i} while the disk is full answered {other}: {v}"),
        }
    }
    let (retry_after, v) = refused
        .unwrap_or_else(|| panic!("{MOST_SENDS} sends fitted in the capped file ({cap} pages)"));
    println!(
        "disk_full: file capped at {cap} pages; {accepted} sends fitted in its free space, then 503: {v}"
    );
    assert!(
        retry_after
            .as_deref()
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)),
        "Retry-After: {retry_after:?}"
    );
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Storage is temporarily unavailable") && error.contains("nothing was saved"),
        "{v}"
    );

    // A refused request with an Idempotency-Key, and more refusals: no half-written message, no stale key.
    let (code, _, v) = send(&s, &key, KEYED, Some("disk-full-1")).await;
    assert_eq!(code, 503, "{v}");
    for i in 0..5 {
        let (code, _, v) = send_later(&s, &key, &format!("refuse-{i:04}")).await;
        assert_eq!(code, 503, "{v}");
    }
    // Reads still work, and show exactly the acknowledged messages.
    assert_eq!(counts(&s, &key).await, (3 + accepted, 3 + accepted));

    s.sqlite.set_max_page_count(None).await.unwrap();
    let (code, _, v) = send(&s, &key, KEYED, Some("disk-full-1")).await;
    assert_eq!(
        code, 202,
        "the refused keyed request succeeds once there is room: {v}"
    );
    let keyed = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, _, again) = send(&s, &key, KEYED, Some("disk-full-1")).await;
    assert_eq!(
        (code, again["data"]["id"].as_str()),
        (202, Some(keyed.as_str()))
    );
    let (code, _, v) = send(&s, &key, "after", None).await;
    assert_eq!(code, 202, "{v}");
    let after = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&key, &keyed, &["sent"]).await;
    s.wait_status(&key, &after, &["sent"]).await;
    assert_eq!(counts(&s, &key).await, (5 + accepted, 5 + accepted));
    s.stop().await;
}
