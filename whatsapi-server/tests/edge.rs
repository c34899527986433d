//! The HTTP edge: rate limits across key rotations, bounded metric labels.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Options, TestServer};
use serde_json::Value;
use whatsapi_core::account::PlanLimits;

/// Waits until at least `margin` seconds are left in the current one-minute rate window, so a phase that counts
/// against a limit does not straddle two windows.
async fn wait_for_room_in_window(margin: u64) {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if 60 - second < margin {
        tokio::time::sleep(Duration::from_secs(60 - second)).await;
    }
}

/// Three rounds of "two requests, then rotate the key" on a plan of 10 per minute, then three requests with the
/// fourth key: the windows of all four keys are one, so 10 requests pass in all, not 12.
async fn rotations_do_not_reset_the_window(shared: bool) {
    let mut options = Options::default();
    options.plans.free = PlanLimits {
        requests_per_minute: 10,
        bulk_cap: 100,
    };
    options.settings.shared_rate_limits = shared;
    let s = TestServer::start_with(options).await;
    wait_for_room_in_window(15).await;
    let mut key = s.register("rotate@example.com").await;
    for round in 0..3 {
        for _ in 0..2 {
            let (code, v) = s.get(&key, "/auth/me").await;
            assert_eq!(code, 200, "round {round}: {v}");
        }
        let (code, v) = s.post(&key, "/auth/me/rotate-key", Value::Null).await;
        assert_eq!(code, 200, "round {round}: {v}");
        key = v["data"]["apiKey"].as_str().unwrap().to_owned();
    }
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(s.get(&key, "/auth/me").await.0);
    }
    assert_eq!(
        codes,
        [200, 429, 429],
        "9 requests before, 10 allowed in all across 3 key rotations (shared: {shared})"
    );
    s.stop().await;
}

#[tokio::test]
async fn rotating_the_key_does_not_reset_the_rate_limit() {
    rotations_do_not_reset_the_window(false).await;
}

#[tokio::test]
async fn rotating_the_key_does_not_reset_the_shared_rate_limit() {
    rotations_do_not_reset_the_window(true).await;
}

#[tokio::test]
async fn metric_labels_stay_bounded_whatever_clients_send() {
    let s = TestServer::start().await;
    let baseline = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .len();
    for i in 0..40 {
        // A method of 4 KB, different each time, on a known route and on random paths.
        let junk = format!("X{i:04}{}", "Q".repeat(4096));
        let method = reqwest::Method::from_bytes(junk.as_bytes()).unwrap();
        for path in [
            "/auth/me".to_owned(),
            format!("/no/such/{i}/{}", "p".repeat(2000)),
        ] {
            let r = s
                .client
                .request(method.clone(), s.url(&path))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_client_error(), "{}", r.status());
        }
        // The console routes on the client: any path under /app is its page, counted under the route's template.
        let r = s
            .client
            .get(s.url(&format!("/app/{i}-{}", "a".repeat(2000))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("QQQQ") && !text.contains("pppp") && !text.contains("aaaa"));
    assert!(
        text.contains("method=\"other\""),
        "unknown methods are counted as other"
    );
    for line in text.lines().filter(|l| l.contains("method=\"")) {
        let method = line
            .split("method=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            [
                "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"
            ]
            .contains(&method),
            "{line}"
        );
    }
    assert!(
        text.len() < baseline + 16 * 1024,
        "/metrics grew from {baseline} to {} bytes",
        text.len()
    );
    s.stop().await;
}
