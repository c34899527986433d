//! Request ids on every response and in error bodies, `WWW-Authenticate` on 401s.

mod common;

use common::TestServer;

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on {} {}", r.status(), r.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_errors_repeat_it() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("rid@example.com").await;

    // Made up when the client sends none: a UUIDv7, a new one each time.
    let r = s.client.get(s.url("/healthz")).send().await.unwrap();
    let first = request_id(&r);
    let uuid: uuid::Uuid = first.parse().expect("a UUID");
    assert_eq!(uuid.get_version_num(), 7, "{first}");
    let r = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_ne!(request_id(&r), first);

    // A well-formed id of the client's is echoed, on success and on errors, and the error body repeats it.
    let mine = "client-chosen_id.42:abc";
    let r = s
        .client
        .get(s.url("/messages"))
        .bearer_auth(&key)
        .header("x-request-id", mine)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(request_id(&r), mine);
    let r = s
        .client
        .get(s.url("/no-such-thing"))
        .header("x-request-id", mine)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(request_id(&r), mine);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["requestId"], mine, "{v}");
    assert_eq!(v["success"], false, "{v}");
    assert!(v["error"].is_string(), "{v}");

    // Ill-formed ones (too long, with spaces or non-ASCII) are replaced.
    for bad in [
        "a".repeat(129),
        "two words".to_owned(),
        "caf\u{e9}".to_owned(),
    ] {
        let r = s
            .client
            .get(s.url("/messages?status=bogus"))
            .bearer_auth(&key)
            .header("x-request-id", bad.as_bytes())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let id = request_id(&r);
        assert_ne!(id, bad);
        assert!(id.parse::<uuid::Uuid>().is_ok(), "{id}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["requestId"], id, "{v}");
        assert_eq!(v["details"][0]["field"], "status", "{v}");
    }
    let r = s
        .client
        .get(s.url("/healthz"))
        .header("x-request-id", "a".repeat(128))
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&r), "a".repeat(128));
    s.stop().await;
}

#[tokio::test]
async fn unauthorized_answers_name_the_bearer_scheme() {
    let s = TestServer::start().await;
    for auth in [
        None,
        Some("Basic Zm9vOmJhcg=="),
        Some("Bearer sk_live_wrong"),
    ] {
        let mut req = s.client.get(s.url("/auth/me"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let www = r
            .headers()
            .get("www-authenticate")
            .unwrap_or_else(|| panic!("no WWW-Authenticate for {auth:?}"))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(www.starts_with("Bearer"), "{www}");
        let id = request_id(&r);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["requestId"], id, "{v}");
    }
    s.stop().await;
}
