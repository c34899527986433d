//! The HTTP edge: rate limits across key rotations, bounded metric labels, security headers, the client address
//! behind proxies, and connection timeouts.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Options, TestServer};
use serde_json::Value;
use whatsapi_saas::PlanLimits;

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
        ..whatsapi_saas::Plan::Free.default_limits()
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

#[tokio::test]
async fn security_headers_on_pages_and_api_answers() {
    let s = TestServer::start().await;
    for path in [
        "/app",
        "/app/app.js",
        "/docs/",
        "/docs/swagger-initializer.js",
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    // Answers that carry a key or a secret must not be stored by any cache; so must no API answer.
    let r = s
        .client
        .post(s.url("/auth/register"))
        .json(&serde_json::json!({"name": "H", "email": "headers@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let key = r.json::<Value>().await.unwrap()["data"]["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = [
        s.client
            .put(s.url("/auth/me/webhook"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"url": "http://127.0.0.1:9/hook"})),
        s.client.get(s.url("/auth/me")).bearer_auth(&key),
        s.client.get(s.url("/auth/me")),
        s.client.get(s.url("/no/such/endpoint")),
        s.client
            .post(s.url("/auth/me/rotate-key"))
            .bearer_auth(&key),
    ];
    for req in answers {
        let r = req.send().await.unwrap();
        let what = format!("{} {}", r.status(), r.url());
        assert_eq!(r.headers()["cache-control"], "no-store", "{what}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{what}");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{what}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn spoofed_forwarded_for_entries_do_not_escape_the_registration_limit() {
    let mut options = Options::default();
    options.settings.register_per_minute = 5;
    options.settings.trust_forwarded_for = true;
    let s = TestServer::start_with(options).await;
    wait_for_room_in_window(15).await;
    // The proxy (loopback, trusted) appended the client's real address; everything left of it is the client's.
    let mut allowed = 0;
    for i in 0..12 {
        let r = s
            .client
            .post(s.url("/auth/register"))
            .header("x-forwarded-for", format!("198.51.100.{i}, 203.0.113.7"))
            .json(&serde_json::json!({"name": "Spoof", "email": format!("spoof{i}@example.com")}))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => allowed += 1,
            429 => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(allowed, 5, "12 spoofed registrations, one client");
    // Another client behind the same proxy has its own window.
    let r = s
        .client
        .post(s.url("/auth/register"))
        .header("x-forwarded-for", "203.0.113.8")
        .json(&serde_json::json!({"name": "Other", "email": "other@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.stop().await;
}

mod slow_clients {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use whatsapi_server::edge::ConnectionLimits;

    use super::common::{Options, TestServer};

    async fn server(limits: ConnectionLimits) -> TestServer {
        let mut options = Options::default();
        options.settings.connections = limits;
        TestServer::start_with(options).await
    }

    fn addr(s: &TestServer) -> String {
        s.base.trim_start_matches("http://").to_owned()
    }

    /// Reads until the server closes the connection; what it sent and when it closed (None: still open at
    /// `within`).
    async fn until_closed(conn: &mut TcpStream, within: Duration) -> (Vec<u8>, Option<Duration>) {
        let started = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = within.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, conn.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (got, Some(started.elapsed())),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => return (got, None),
            }
        }
    }

    #[tokio::test]
    async fn trickled_headers_are_cut_off_at_the_header_read_timeout() {
        let s = server(ConnectionLimits {
            header_read_timeout: Duration::from_millis(600),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
        })
        .await;
        let started = Instant::now();
        let mut conns = Vec::new();
        for _ in 0..50 {
            let mut c = TcpStream::connect(addr(&s)).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            conns.push(c);
        }
        // Keep trickling a header byte now and then, as slowloris does: bytes keep moving, headers never end.
        let trickle = async {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                for c in conns.iter_mut() {
                    let _ = c.write_all(b"X").await;
                }
            }
        };
        trickle.await;
        let mut closed = 0;
        for c in conns.iter_mut() {
            let (sent, at) = until_closed(c, Duration::from_secs(1)).await;
            let sent = String::from_utf8_lossy(&sent);
            assert!(
                sent.is_empty() || sent.starts_with("HTTP/1.1 408"),
                "no answer to a request that never ended: {sent}"
            );
            if at.is_some() {
                closed += 1;
            }
        }
        assert_eq!(
            closed,
            50,
            "all 50 slow connections closed after {:?}",
            started.elapsed()
        );
        // The server still answers.
        let r = s.client.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        s.stop().await;
    }

    #[tokio::test]
    async fn silent_and_idle_keep_alive_connections_are_closed() {
        let s = server(ConnectionLimits {
            header_read_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
        })
        .await;
        // Connects and sends nothing.
        let mut silent = TcpStream::connect(addr(&s)).await.unwrap();
        let (_, at) = until_closed(&mut silent, Duration::from_secs(3)).await;
        let at = at.expect("a silent connection is closed");
        assert!(at >= Duration::from_millis(400), "{at:?}");
        // Sends part of the HTTP/2 preface, byte by byte.
        let mut h2 = TcpStream::connect(addr(&s)).await.unwrap();
        let started = Instant::now();
        for b in b"PRI * HTTP/2.0\r\n".iter() {
            if h2.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (_, at) = until_closed(&mut h2, Duration::from_secs(3)).await;
        assert!(at.is_some() && started.elapsed() < Duration::from_secs(3));
        // One whole request, then silence on the kept-alive connection.
        let mut kept = TcpStream::connect(addr(&s)).await.unwrap();
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (sent, at) = until_closed(&mut kept, Duration::from_secs(3)).await;
        assert!(String::from_utf8_lossy(&sent).starts_with("HTTP/1.1 200"));
        assert!(at.is_some(), "an idle keep-alive connection is closed");
        s.stop().await;
    }

    #[tokio::test]
    async fn no_byte_for_the_idle_timeout_closes_a_connection() {
        let s = server(ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_millis(700),
            max_connections: 1024,
        })
        .await;
        let mut c = TcpStream::connect(addr(&s)).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let (_, at) = until_closed(&mut c, Duration::from_secs(5)).await;
        let at = at.expect("closed when idle");
        assert!(
            at >= Duration::from_millis(600) && at < Duration::from_secs(3),
            "{at:?}"
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_a_free_slot() {
        let s = server(ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_connections: 2,
        })
        .await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(addr(&s)).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
            held.push(c);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut third = TcpStream::connect(addr(&s)).await.unwrap();
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (sent, at) = until_closed(&mut third, Duration::from_millis(500)).await;
        assert!(
            sent.is_empty() && at.is_none(),
            "the third waits while two are open"
        );
        drop(held.pop());
        let (sent, at) = until_closed(&mut third, Duration::from_secs(3)).await;
        assert!(
            String::from_utf8_lossy(&sent).starts_with("HTTP/1.1 200"),
            "{sent:?}"
        );
        assert!(at.is_some());
        drop(held);
        s.stop().await;
    }
}
